/*
 * echo-child: a C child of a Node.js parent that sends every message it
 * receives straight back, in whichever serialization the parent chose:
 *
 *   const { spawn } = require('child_process');
 *   const c = spawn('build/examples/echo-child', [],
 *     { stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
 *       serialization: 'advanced' });      // or 'json', the default
 *   c.on('message', (m) => console.log('back:', m));
 *   c.send({ when: new Date(), tags: new Set(['a']), data: Buffer.from('hi') });
 *
 * herd_chan_from_env opens the channel named by NODE_CHANNEL_FD, in the
 * mode of NODE_CHANNEL_SERIALIZATION_MODE. In 'advanced' mode each
 * message is a V8 value (msg.val) and goes back with herd_chan_send_val,
 * so a Map, a Date, a BigInt or a cycle returns as it came; in 'json'
 * mode the JSON text goes back as it is. A handle (a socket) that comes
 * with a message goes back with it. The channel's JSON rendering is not
 * needed here (HERD_CHAN_NO_JSON).
 *
 * It exits 0 when the parent disconnects, 1 with a message on stderr if
 * there is no channel or it fails.
 */
#include <herd.h>

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#define PROG "echo-child"

static int echo(herd_chan_t *ch, const herd_chan_msg_t *m) {
  if (herd_chan_mode(ch) == HERD_CHAN_MODE_ADVANCED)
    return herd_chan_send_val(ch, m->val, m->fd);
  return herd_chan_send(ch, m->json, m->len, m->fd);
}

int main(void) {
  herd_chan_t *ch;
  herd_chan_opts_t o = {.flags = HERD_CHAN_NO_JSON};
  int r = herd_chan_from_env(&ch, &o);
  if (r < 0) {
    fprintf(stderr, PROG ": no channel from a Node parent: %s\n",
            herd_strerror(r));
    return 1;
  }
  for (;;) {
    /* Read no faster than the parent takes our answers back. */
    if (herd_chan_queued(ch) > HERD_CHAN_HIGH_WATER &&
        (r = herd_chan_flush_wait(ch, -1)) < 0)
      break;
    herd_chan_msg_t m;
    r = herd_chan_recv_wait(ch, &m, -1);
    if (r == HERD_EFRAME || r == HERD_ETOOLONG) {
      fprintf(stderr, PROG ": a message skipped: %s\n", herd_strerror(r));
      continue;
    }
    if (r != 1)
      break;
    r = echo(ch, &m);
    if (m.fd >= 0)
      close(m.fd); /* herd_chan_send* sent a duplicate */
    if (r < 0)
      break;
  }
  int ok = r == HERD_EPEERGONE || r == -EPIPE;
  if (!ok)
    fprintf(stderr, PROG ": %s\n", herd_strerror(r));
  /* What is still queued goes before we leave, as a Node child's would
   * (a parent that is gone ends the wait at once). */
  (void)herd_chan_flush_wait(ch, 5000);
  herd_chan_close(ch);
  return ok ? 0 : 1;
}
