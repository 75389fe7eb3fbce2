/*
 * blocking-compute: a long computation in the event loop blocks everyone.
 *
 * A single-threaded HTTP server: one poll() loop, like Node's event loop.
 * GET / answers "ok" at once. GET /compute adds up 0 + 1 + ... + (N-1)
 * (N = $COMPUTE_N, default 3e9) right in the loop, then answers
 * "Sum is S". While it adds, the loop reads nothing: a request to / waits
 * until the sum is done, and so does Ctrl-C.
 *
 *   PORT=3000 build/examples/blocking-compute
 *   curl localhost:3000/compute & curl localhost:3000/   # the second waits
 *
 * Under socket activation (LISTEN_FDS, as herd starts workers) it serves
 * fd 3. SIGINT or SIGTERM: it stops and exits 0. fork-compute shows the
 * cure: do the work in a child process, so the loop stays free.
 */
#include <inttypes.h>
#include <stdint.h>
#include <time.h>

#include "ex_compute.h"
#include "ex_http.h"

#define PROG "blocking-compute"
#define MAX_CONNS 64

static ex_conn_t conns[MAX_CONNS];
static int nconns;



static int route(const ex_req_t *req, char *body, size_t cap, void *data) {
  uint64_t n = *(const uint64_t *)data, sum;
  int64_t t0;

  if (strcmp(req->path, "/") == 0) {
    printf("GET / -> ok\n");
    snprintf(body, cap, "ok\n");
    return 200;
  }
  if (strcmp(req->path, "/compute") == 0) {
    printf("GET /compute: adding up %" PRIu64 " numbers; the loop is"
           " blocked until done\n", n);
    t0 = ex_now_ms();
    sum = ex_sum_below(n);
    printf("GET /compute: done in %" PRId64 " ms\n", ex_now_ms() - t0);
    snprintf(body, cap, "Sum is %" PRIu64 "\n", sum);
    return 200;
  }
  printf("GET %s -> 404\n", req->path);
  snprintf(body, cap, "not found\n");
  return 404;
}


static void accept_all(int lfd) {
  while (nconns < MAX_CONNS) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (fd < 0) {
      /* EAGAIN: nothing (left) to accept; ECONNABORTED: the client left
       * already; anything else (EMFILE...) is worth a line. */
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
          errno != ECONNABORTED)
        fprintf(stderr, PROG ": accept: %s\n", strerror(errno));
      return;
    }
    conns[nconns].fd = fd;
    conns[nconns].len = 0;
    nconns++;
  }
}

int main(void) {
  struct pollfd pfds[2 + MAX_CONNS];
  struct signalfd_siginfo si;
  char where[128];
  uint64_t n;
  int lfd, sfd;

  /* One line per event, even into a pipe or a log file. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (ex_compute_n(PROG, &n) < 0 || (sfd = ex_stop_signals(PROG)) < 0)
    return 1;
  if ((lfd = ex_listen(PROG, 3000)) < 0)
    return 1;
  ex_sock_name(lfd, where, sizeof where);
  printf(PROG ": pid %d serving %s: GET / and GET /compute\n",
         (int)getpid(), where);

  for (;;) {
    int npfds = 0, base, rc;

    pfds[npfds++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
    /* At MAX_CONNS, stop accepting: new clients wait in the backlog. */
    if (nconns < MAX_CONNS)
      pfds[npfds++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
    base = npfds;
    for (int i = 0; i < nconns; i++)
      pfds[npfds++] = (struct pollfd){ .fd = conns[i].fd, .events = POLLIN };

    rc = poll(pfds, (nfds_t)npfds, -1);
    if (rc < 0 && errno == EINTR)
      continue;
    if (rc < 0) {
      fprintf(stderr, PROG ": poll: %s\n", strerror(errno));
      return 1;
    }
    if (pfds[0].revents & POLLIN)
      break;
    /* Backwards: a closed connection's slot gets the last connection,
     * which has been looked at already. */
    for (int j = npfds - 1; j >= base; j--) {
      ex_conn_t *c = &conns[j - base];

      if (pfds[j].revents == 0 || ex_conn_readable(c, route, &n))
        continue;
      if (close(c->fd) < 0)
        fprintf(stderr, PROG ": close: %s\n", strerror(errno));
      *c = conns[--nconns];
    }
    if (base == 2 && (pfds[1].revents & POLLIN))
      accept_all(lfd);
  }

  if (read(sfd, &si, sizeof si) != (ssize_t)sizeof si) {
    fprintf(stderr, PROG ": read signalfd: %s\n", strerror(errno));
    return 1;
  }
  printf(PROG ": %s, stopping\n", strsignal((int)si.ssi_signo));
  for (int i = 0; i < nconns; i++)
    (void)close(conns[i].fd); /* we exit anyway; nothing to report */
  if (close(lfd) < 0 || close(sfd) < 0) {
    fprintf(stderr, PROG ": close: %s\n", strerror(errno));
    return 1;
  }
  return 0;
}
