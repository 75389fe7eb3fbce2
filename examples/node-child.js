'use strict';
// node-child.js - the Node.js child of node-child.c: a plain Node script
// that talks to its C parent only through process.send() and
// process.on('message'), as it would to a Node parent after fork().
//
//   a message M            is answered {got: M, type, ...} (for a string,
//                          its length in UTF-16 units and in characters)
//   a message + a handle   the handle is a net.Server (a listening TCP
//                          socket made by the C parent): answered
//                          {server: true, port}, then the first connection
//                          gets "hello from node\n" and the server closes
//
// When the parent closes the channel ('disconnect'), nothing is left to
// do and node exits 0 by itself.

process.on('message', (msg, handle) => {
  if (handle !== undefined) {
    handle.once('connection', (socket) => {
      socket.end('hello from node\n');
      handle.close(); // one connection only
    });
    // A parent that leaves early must not keep us waiting for a client.
    process.once('disconnect', () => {
      if (handle.listening) handle.close();
    });
    process.send({ got: msg, server: handle.listening,
      port: handle.address().port });
    return;
  }
  const answer = { got: msg, type: Array.isArray(msg) ? 'array' : typeof msg };
  if (typeof msg === 'string') {
    answer.length = msg.length; // UTF-16 code units, as JavaScript counts
    answer.chars = [...msg].length; // code points
  }
  process.send(answer);
});
