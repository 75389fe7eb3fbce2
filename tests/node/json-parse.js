'use strict';
// json-parse.js - JSON.parse's verdict on texts, for tests/json_test.c
// (json_grammar_matches_node): stdin holds one text per line, in hex;
// each is decoded from UTF-8 as Node's channel decodes what it reads
// (StringDecoder: ill-formed bytes become U+FFFD), then given to
// JSON.parse. Prints one character per text, '1' accepted, '0' refused,
// then a newline.
const hex = require('fs').readFileSync(0, 'latin1').split('\n');
if (hex[hex.length - 1] === '') hex.pop();
let out = '';
for (const h of hex) {
  const text = Buffer.from(h, 'hex').toString('utf8');
  try {
    JSON.parse(text);
    out += '1';
  } catch (e) {
    out += '0';
  }
}
process.stdout.write(out + '\n');
