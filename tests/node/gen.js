'use strict';
// gen.js - the message contents of the channel tests, generated the same
// way as gen_text()/msg_size() in tests/channel_test.c, so each side can
// check the other's messages byte for byte.

// Tokens and the bytes each takes in JSON.stringify's output (UTF-8, with
// the escapes JSON.stringify writes: \n \" \\ \u0000 \t; U+2028 raw).
const TOKS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', ' ', '/',
  '\u00e9', '\u{1F600}', '\u2028', '\n', '"', '\\', '\u0000', '\t'];
const LENS = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 4, 3, 2, 2, 2, 6, 2];

// Direction 0: C sends it; 1: the other side (Node here) sends it.
function seed(dir, seq) {
  return (seq * 2 + dir) >>> 0;
}

// A string whose JSON encoding (without the quotes) is exactly n bytes.
function text(sd, n) {
  let st = (Math.imul(sd, 2654435761) + 1) >>> 0;
  const parts = [];
  let pos = 0;
  while (pos < n) {
    st = (Math.imul(st, 1103515245) + 12345) >>> 0;
    const k = (st >>> 16) % TOKS.length;
    if (pos + LENS[k] <= n) {
      parts.push(TOKS[k]);
      pos += LENS[k];
    } else {
      parts.push('x');
      pos++;
    }
  }
  return parts.join('');
}

// Mixed sizes: 1 B to 64 KiB.
function size(seq) {
  if (seq % 1000 === 0) return 1;
  if (seq % 1000 === 999) return 65536;
  if (seq % 100 === 42) return 16384 + (seq * 131) % 16384;
  if (seq % 10 === 3) return 1024 + (seq * 7) % 3000;
  return 1 + (seq * 37) % 200;
}

const BIG_SEQ = 1000000;
const BIG_SIZE = 10 * 1024 * 1024;

function msg(dir, seq) {
  return { seq, s: text(seed(dir, seq), size(seq)) };
}

function big(dir) {
  return { big: 1, s: text(seed(dir, BIG_SEQ), BIG_SIZE) };
}

module.exports = { seed, text, size, msg, big, BIG_SEQ, BIG_SIZE };
