'use strict';
// classify-child.js - how Node's child side reads what arrives on its
// channel, for tests/channel_test.c (chan_node_differential_reading),
// which writes tricky lines to it and reads the same lines with libherd.
//
// The parent writes a line (maybe with an fd), then
// {"probe":"done","i":N}; this child answers {"done":N,"events":[...]}:
// every event Node emitted for the line, in order:
//   {"ev":"message","json":JSON.stringify(m) or null,"undef":m===undefined,
//    "handle":the handle's class name or null}
//   {"ev":"internal","cmd":m.cmd if a string, else null}
// The answer waits for setImmediate: the message inside a NODE_HANDLE
// line is emitted a tick after the line itself.
// {"probe":"canon","i":K,"v":V} is answered {"canon":K,"json":
// JSON.stringify(V)} (the parent compares libherd's texts so), and
// {"probe":"end"} disconnects.
const events = [];

// Runs before Node's own handler. Node asserts that an ACK or NACK
// answers a handle it sent, and this child sends none: make Node believe
// it waits for one, so a line Node reads as an ACK does not end the
// probe (its classification, made before, is what is compared).
process.prependListener('internalMessage', (m, h) => {
  events.push({ ev: 'internal', cmd: typeof m.cmd === 'string' ? m.cmd : null });
  if ((m.cmd === 'NODE_HANDLE_ACK' || m.cmd === 'NODE_HANDLE_NACK') &&
      !Array.isArray(process._handleQueue))
    process._handleQueue = [];
  // a handle that came with an internal message inside a NODE_HANDLE
  if (h && m.cmd !== 'NODE_HANDLE' && typeof h.destroy === 'function')
    h.destroy();
});

process.on('message', (m, h) => {
  const probe = m !== null && typeof m === 'object' ? m.probe : undefined;
  if (probe === 'done') {
    setImmediate(() => process.send({ done: m.i, events: events.splice(0) }));
    return;
  }
  if (probe === 'canon') {
    process.send({ canon: m.i, json: JSON.stringify(m.v) });
    return;
  }
  if (probe === 'end') {
    process.disconnect();
    return;
  }
  events.push({
    ev: 'message',
    json: m === undefined ? null : JSON.stringify(m),
    undef: m === undefined,
    handle: h ? h.constructor.name : null,
  });
  if (h) h.destroy();
});
