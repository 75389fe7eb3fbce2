/*
 * compute-worker: a C child process for a Node.js parent, on Node's own
 * IPC channel - the other half of node-offload.js.
 *
 * Node starts it with spawn(file, [], {stdio: [0, 1, 2, 'ipc']}) and talks
 * to it with child.send() and child.on('message'); here the channel is
 * herd_chan_from_env (NODE_CHANNEL_FD). Each message {"id":N,"n":COUNT}
 * is answered with {"id":N,"sum":"S"}, S = 0 + 1 + ... + (COUNT-1) added
 * with blocking-compute's loop. The sum travels as a string: above 2^53 a
 * JavaScript number would round it (3e9 gives 4499999998500000000). A
 * message it cannot use is answered {"id":N,"error":"..."} if it has an
 * id. It takes one job at a time, with the blocking herd_chan_recv_wait:
 * it has nothing else to do, so it needs no loop.
 *
 *   node examples/node-offload.js      # starts build/examples/compute-worker
 *
 * It exits 0 when the channel closes (child.disconnect(), or the Node
 * process ends), 1 on an error, 2 without a channel (started by hand).
 */
#include <herd.h>

#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>

#include "ex_compute.h"

#define PROG "compute-worker"

int main(void) {
  herd_chan_t *ch;
  int rc;

  setvbuf(stdout, NULL, _IOLBF, 0);
  rc = herd_chan_from_env(&ch, NULL);
  if (rc == -ENOENT) {
    fprintf(stderr, PROG ": no IPC channel (NODE_CHANNEL_FD): start me from"
            " Node with stdio [0, 1, 2, 'ipc'], as examples/node-offload.js"
            " does\n");
    return 2;
  }
  if (rc < 0) {
    fprintf(stderr, PROG ": herd_chan_from_env: %s\n", herd_strerror(rc));
    return 1;
  }
  /* Ctrl-C in a terminal reaches the whole process group, Node and us.
   * The parent decides when we stop, by closing the channel: a sum being
   * added when it does is finished, its reply dropped. */
  if (signal(SIGINT, SIG_IGN) == SIG_ERR)
    fprintf(stderr, PROG ": signal: %s\n", strerror(errno));

  for (;;) {
    herd_chan_msg_t m;
    uint64_t id, n, sum;
    char reply[128];
    int64_t t0;

    /* recv_wait flushes what is queued before it waits: the reply to the
     * previous job leaves here. */
    rc = herd_chan_recv_wait(ch, &m, -1);
    if (rc == HERD_EPEERGONE)
      break; /* Node closed the channel: done */
    if (rc == HERD_EFRAME || rc == HERD_ETOOLONG) {
      fprintf(stderr, PROG ": a bad message: %s\n", herd_strerror(rc));
      continue;
    }
    if (rc < 0) {
      fprintf(stderr, PROG ": herd_chan_recv_wait: %s\n", herd_strerror(rc));
      herd_chan_close(ch);
      return 1;
    }
    if (m.fd >= 0)
      (void)close(m.fd); /* a handle we did not ask for: ours to close */
    if (!ex_json_u64(m.json, m.len, "id", &id)) {
      fprintf(stderr, PROG ": no id, ignored: %.*s\n", (int)m.len, m.json);
      continue;
    }
    if (!ex_json_u64(m.json, m.len, "n", &n) || n > EX_COMPUTE_MAX_N) {
      snprintf(reply, sizeof reply, "{\"id\":%" PRIu64 ",\"error\":\"n must"
               " be a whole number from 0 to 6e9\"}", id);
    } else {
      t0 = ex_now_ms();
      sum = ex_sum_below(n);
      printf(PROG " %d: job %" PRIu64 ": %" PRIu64 " numbers added in %"
             PRId64 " ms\n", (int)getpid(), id, n, ex_now_ms() - t0);
      snprintf(reply, sizeof reply,
               "{\"id\":%" PRIu64 ",\"sum\":\"%" PRIu64 "\"}", id, sum);
    }
    rc = herd_chan_send(ch, reply, strlen(reply), -1);
    if (rc == -EPIPE)
      break; /* Node went away while we added */
    if (rc < 0) {
      fprintf(stderr, PROG ": herd_chan_send: %s\n", herd_strerror(rc));
      herd_chan_close(ch);
      return 1;
    }
  }
  herd_chan_close(ch);
  return 0;
}
