'use strict';
// json-diff.js - JSON.parse and JSON.stringify in Node, for
// tests/jsonnode_test.c. stdin: one item per line, in hex; one answer
// line per item on stdout.
//   parse:     the item is a text's bytes, decoded from UTF-8 as Node
//              decodes bytes (ill-formed sequences become U+FFFD) and
//              given to JSON.parse: "0" if it throws, else "1 " and
//              v8.serialize(value) in hex.
//   stringify: the item is v8.serialize bytes: JSON.stringify of
//              v8.deserialize(them): "S" and the text, "U" for
//              undefined, "E " and the error's name if it throws.
//   quote:     the item is bytes: JSON.stringify(buf.toString('utf8')).
const v8 = require('v8');
const mode = process.argv[2];
const lines = require('fs').readFileSync(0, 'latin1').split('\n');
if (lines[lines.length - 1] === '') lines.pop();
const out = [];
for (const h of lines) {
  const buf = Buffer.from(h, 'hex');
  if (mode === 'parse') {
    let v;
    try {
      v = JSON.parse(buf.toString('utf8'));
    } catch (e) {
      out.push('0');
      continue;
    }
    out.push('1 ' + v8.serialize(v).toString('hex'));
  } else if (mode === 'stringify') {
    let s;
    try {
      s = JSON.stringify(v8.deserialize(buf));
    } catch (e) {
      out.push('E ' + e.name);
      continue;
    }
    out.push(s === undefined ? 'U' : 'S' + s);
  } else if (mode === 'quote') {
    out.push(JSON.stringify(buf.toString('utf8')));
  } else {
    throw new Error('mode: parse, stringify or quote');
  }
}
process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
