'use strict';
// custom-child.js - sends internal-looking messages around normal ones,
// then disconnects. Node's rule (isInternal): an object whose cmd is a
// string longer than 5 starting with NODE_ is internal, never a 'message'.
process.send({ cmd: 'NODE_CUSTOM', x: 1 });
process.send({ n: 1 });
process.send({ cmd: 'NODE_CLUSTER', act: 'online', seq: 0 });
process.send({ cmd: 'NODE_' }); // too short: a normal message
process.send({ n: 2 }, () => process.disconnect());
