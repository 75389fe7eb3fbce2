/*
 * fork-compute: the cure for blocking-compute - the long computation runs
 * in a forked child, and the server's loop stays free.
 *
 * One herd_loop drives it all: the listening socket, the connections,
 * SIGINT/SIGTERM, and the message channel to a child made with
 * herd_fork_fn (Node's child_process.fork, with a C function for the
 * script). GET / answers "ok" at once. GET /compute sends
 * {"id":N,"n":COUNT} to the child, which adds up 0 + 1 + ... + (COUNT-1)
 * with blocking-compute's loop and replies {"id":N,"sum":S}; the server
 * then answers "Sum is S". Meanwhile it goes on serving: several /compute
 * requests can be in flight (the child takes them in turn, the id says
 * which connection a reply is for), and / is answered at once.
 *
 *   PORT=3000 build/examples/fork-compute
 *   curl localhost:3000/compute & curl localhost:3000/   # "ok" at once
 *
 * If the child dies (try `kill <its pid>`, printed at start), the requests
 * it had are answered 503, a new child is forked, and serving goes on.
 * SIGINT or SIGTERM: the server closes the channel, reaps the child and
 * exits 0. COMPUTE_N (default 3e9), PORT (default 3000) and socket
 * activation (LISTEN_FDS) work as for blocking-compute.
 */
#include <herd.h>

#include <inttypes.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "ex_compute.h"
#include "ex_http.h"

#define PROG "fork-compute"
#define MAX_CONNS 64
#define RESPAWN_MIN_MS 1000 /* a child that died younger is replaced later */
#define STOP_WAIT_MS 2000   /* per step of the child's stop */

struct conn {
  ex_conn_t http;
  uint64_t job;             /* the /compute id it waits for, 0 = none */
  struct conn *prev, *next;
};

static struct {
  herd_loop_t *loop;
  int lfd;
  int accepting;            /* lfd is watched for EPOLLIN */
  struct conn *conns;
  int nconns;
  uint64_t n;               /* COMPUTE_N */
  uint64_t next_id;
  herd_child_t child;
  int child_running;        /* forked and not reaped yet */
  herd_chan_t *chan;        /* NULL while there is no child to talk to */
  int inflight;             /* jobs sent to the child and not replied */
  int64_t child_started;
  herd_timer_t respawn;
  int failed;               /* stop with exit status 1 */
} srv = { .lfd = -1 };

static void start_child(void);

/* ---- connections ------------------------------------------------- */

static void conn_close(struct conn *c) {
  int rc = herd_loop_del(srv.loop, c->http.fd);

  /* Watched fds leave the loop before they are closed (docs/loop.md). */
  if (rc < 0)
    fprintf(stderr, PROG ": herd_loop_del: %s\n", herd_strerror(rc));
  if (close(c->http.fd) < 0)
    fprintf(stderr, PROG ": close: %s\n", strerror(errno));
  if (c->prev)
    c->prev->next = c->next;
  else
    srv.conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  free(c);
  srv.nconns--;
  /* Below MAX_CONNS again: accept again. */
  if (!srv.accepting && srv.lfd >= 0) {
    if ((rc = herd_loop_mod(srv.loop, srv.lfd, EPOLLIN)) == 0)
      srv.accepting = 1;
    else
      fprintf(stderr, PROG ": herd_loop_mod: %s\n", herd_strerror(rc));
  }
}

/* After the connection's requests were handled (keep: what ex_conn_*
 * returned): close it, or watch its input unless an answer is due first. */
static void conn_update(struct conn *c, int keep) {
  int rc;

  if (!keep) {
    conn_close(c);
    return;
  }
  /* Events 0 while waiting: epoll still reports a hang-up or an error. */
  rc = herd_loop_mod(srv.loop, c->http.fd, c->http.waiting ? 0 : EPOLLIN);
  if (rc < 0) {
    fprintf(stderr, PROG ": herd_loop_mod: %s\n", herd_strerror(rc));
    conn_close(c);
  }
}

static int route(const ex_req_t *req, char *body, size_t cap, void *data) {
  struct conn *c = data;
  char msg[96];
  int rc;

  if (strcmp(req->path, "/") == 0) {
    printf("GET / -> ok\n");
    snprintf(body, cap, "ok\n");
    return 200;
  }
  if (strcmp(req->path, "/compute") != 0) {
    printf("GET %s -> 404\n", req->path);
    snprintf(body, cap, "not found\n");
    return 404;
  }
  if (srv.chan == NULL) {
    printf("GET /compute -> 503: no compute child right now\n");
    snprintf(body, cap, "no compute child right now, try again\n");
    return 503;
  }
  c->job = ++srv.next_id;
  snprintf(msg, sizeof msg, "{\"id\":%" PRIu64 ",\"n\":%" PRIu64 "}", c->job,
           srv.n);
  /* Queued now, written at the end of this loop iteration. */
  rc = herd_chan_send(srv.chan, msg, strlen(msg), -1);
  if (rc < 0) {
    printf("GET /compute -> 503: send to the child: %s\n", herd_strerror(rc));
    c->job = 0;
    snprintf(body, cap, "compute child unreachable\n");
    return 503;
  }
  srv.inflight++;
  printf("GET /compute: job %" PRIu64 " sent to child %d (%d in flight)\n",
         c->job, (int)srv.child.pid, srv.inflight);
  return EX_HTTP_LATER;
}

/* Answer the request c waits for, then go on with what it sent since. */
static void conn_answer(struct conn *c, int status, const char *body) {
  c->job = 0;
  conn_update(c, ex_conn_answer(&c->http, status, body, route, c));
}

static void on_conn(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  struct conn *c = data;

  (void)loop;
  (void)fd;
  /* Not reading while an answer is due: only a hang-up or an error can
   * come, and the client is gone. Its job's reply will find no one. */
  if (c->http.waiting) {
    if (events & (EPOLLHUP | EPOLLERR))
      conn_close(c);
    return;
  }
  conn_update(c, ex_conn_readable(&c->http, route, c));
}

static void on_listen(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  (void)events;
  (void)data;
  while (srv.nconns < MAX_CONNS) {
    int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), rc;
    struct conn *c;

    if (cfd < 0) {
      /* EAGAIN: nothing (left) to accept; ECONNABORTED: the client left
       * already; anything else (EMFILE...) is worth a line. */
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
          errno != ECONNABORTED)
        fprintf(stderr, PROG ": accept: %s\n", strerror(errno));
      return;
    }
    if ((c = malloc(sizeof *c)) == NULL) {
      fprintf(stderr, PROG ": out of memory\n");
      (void)close(cfd);
      return;
    }
    ex_conn_init(&c->http, cfd);
    c->job = 0;
    if ((rc = herd_loop_add(loop, cfd, EPOLLIN, on_conn, c)) < 0) {
      fprintf(stderr, PROG ": herd_loop_add: %s\n", herd_strerror(rc));
      (void)close(cfd);
      free(c);
      return;
    }
    c->prev = NULL;
    c->next = srv.conns;
    if (srv.conns)
      srv.conns->prev = c;
    srv.conns = c;
    srv.nconns++;
  }
  /* At MAX_CONNS, stop accepting: new clients wait in the backlog. */
  if (herd_loop_mod(loop, fd, 0) == 0)
    srv.accepting = 0;
}

/* ---- the child ---------------------------------------------------- */

/*
 * The child: a forked copy of this process, running this function with
 * its end of the channel. It is a copy of everything, fds included: it
 * closes the server's listening socket and connections, or they would
 * stay open as long as it lives (a closed connection would send no FIN,
 * the port would stay bound after the server exits). The loop's own fds
 * (epoll, signalfd) are left alone: the child never uses that loop.
 */
static int compute_child(herd_chan_t *ch, void *arg) {
  sigset_t term;
  int rc;

  (void)arg;
  if (srv.lfd >= 0)
    (void)close(srv.lfd);
  for (struct conn *c = srv.conns; c != NULL; c = c->next)
    (void)close(c->http.fd);
  /* The mask came from the server, whose loop blocks SIGINT and SIGTERM.
   * SIGTERM is let through, so `kill PID` ends a child that misbehaves.
   * SIGINT stays blocked: Ctrl-C reaches the terminal's whole process
   * group, and the child should stop when the server closes the channel,
   * not on its own in the middle of a request. */
  if (sigemptyset(&term) < 0 || sigaddset(&term, SIGTERM) < 0 ||
      sigprocmask(SIG_UNBLOCK, &term, NULL) < 0)
    fprintf(stderr, PROG " child: sigprocmask: %s\n", strerror(errno));
  (void)herd_title_set(PROG " child"); /* what ps shows */

  for (;;) {
    herd_chan_msg_t m;
    uint64_t id, n, sum;
    char reply[96];
    int64_t t0;

    /* recv_wait flushes what is queued before it waits: the reply to the
     * previous job leaves here. */
    rc = herd_chan_recv_wait(ch, &m, -1);
    if (rc == HERD_EPEERGONE)
      return 0; /* the server closed the channel: done */
    if (rc == HERD_EFRAME || rc == HERD_ETOOLONG) {
      fprintf(stderr, PROG " child: a bad message: %s\n", herd_strerror(rc));
      continue;
    }
    if (rc < 0) {
      fprintf(stderr, PROG " child: herd_chan_recv_wait: %s\n",
              herd_strerror(rc));
      return 1;
    }
    if (m.fd >= 0)
      (void)close(m.fd); /* no handles expected; received fds are ours */
    if (!ex_json_u64(m.json, m.len, "id", &id) ||
        !ex_json_u64(m.json, m.len, "n", &n) || n > EX_COMPUTE_MAX_N) {
      fprintf(stderr, PROG " child: not a job: %.*s\n", (int)m.len, m.json);
      continue;
    }
    t0 = ex_now_ms();
    sum = ex_sum_below(n);
    printf(PROG " child %d: job %" PRIu64 ": %" PRIu64 " numbers added in"
           " %" PRId64 " ms\n", (int)getpid(), id, n, ex_now_ms() - t0);
    snprintf(reply, sizeof reply, "{\"id\":%" PRIu64 ",\"sum\":%" PRIu64 "}",
             id, sum);
    rc = herd_chan_send(ch, reply, strlen(reply), -1);
    if (rc == -EPIPE)
      return 0; /* the server is gone */
    if (rc < 0) {
      fprintf(stderr, PROG " child: herd_chan_send: %s\n", herd_strerror(rc));
      return 1;
    }
  }
}

/* Answer every request that waits for the child with 503. */
static void fail_pending(const char *why) {
  struct conn *c = srv.conns, *next;

  for (; c != NULL; c = next) {
    next = c->next; /* c may be closed below */
    if (c->job != 0) {
      printf("job %" PRIu64 " -> 503\n", c->job);
      conn_answer(c, 503, why);
    }
  }
}

static void describe_exit(const herd_child_t *child, char *out, size_t cap) {
  if (child->term_signal > 0)
    snprintf(out, cap, "was killed by %s", strsignal(child->term_signal));
  else
    snprintf(out, cap, "exited with status %d", child->exit_code);
}

static void on_respawn(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  (void)data;
  start_child();
}

/* A new child, once the old one is reaped and its channel closed: at once,
 * or after a pause if it lived less than RESPAWN_MIN_MS (a child that
 * dies at start must not make us fork in a tight loop). */
static void maybe_respawn(void) {
  int64_t age = ex_now_ms() - srv.child_started;
  int rc;

  if (srv.chan != NULL || srv.child_running)
    return;
  if (age >= RESPAWN_MIN_MS) {
    start_child();
    return;
  }
  printf(PROG ": a new child in %" PRId64 " ms\n", RESPAWN_MIN_MS - age);
  rc = herd_loop_timer_start(srv.loop, &srv.respawn,
                             (uint64_t)(RESPAWN_MIN_MS - age), on_respawn,
                             NULL);
  if (rc < 0) {
    fprintf(stderr, PROG ": herd_loop_timer_start: %s\n", herd_strerror(rc));
    srv.failed = 1;
    herd_loop_stop(srv.loop);
  }
}

static void on_chan(herd_loop_t *loop, herd_chan_t *ch, int err,
                    herd_chan_msg_t *msg, void *data) {
  uint64_t id, sum;
  char body[64];
  struct conn *c;

  (void)loop;
  (void)data;
  if (err == HERD_EFRAME || err == HERD_ETOOLONG) {
    fprintf(stderr, PROG ": a bad message from the child: %s\n",
            herd_strerror(err));
    return;
  }
  if (err < 0) {
    /* The end of the channel: the child died or closed it. The loop has
     * stopped watching it; it is ours to close. */
    printf(PROG ": channel to child %d: %s\n", (int)srv.child.pid,
           herd_strerror(err));
    herd_chan_close(ch);
    srv.chan = NULL;
    srv.inflight = 0;
    fail_pending("the compute child died, try again\n");
    /* A child without a channel is of no use (ours only closes it by
     * exiting, so this is for a stuck one). */
    if (srv.child_running)
      (void)herd_child_kill(&srv.child, SIGKILL, 0);
    maybe_respawn();
    return;
  }
  if (msg->fd >= 0)
    (void)close(msg->fd); /* received fds are ours; none expected */
  if (!ex_json_u64(msg->json, msg->len, "id", &id) ||
      !ex_json_u64(msg->json, msg->len, "sum", &sum)) {
    fprintf(stderr, PROG ": not a reply: %.*s\n", (int)msg->len, msg->json);
    return;
  }
  srv.inflight--;
  for (c = srv.conns; c != NULL && c->job != id; c = c->next)
    ;
  if (c == NULL) {
    printf("job %" PRIu64 ": its client has gone\n", id);
    return;
  }
  printf("job %" PRIu64 " -> Sum is %" PRIu64 "\n", id, sum);
  snprintf(body, sizeof body, "Sum is %" PRIu64 "\n", sum);
  conn_answer(c, 200, body);
}

static void on_child_exit(herd_loop_t *loop, herd_child_t *child,
                          void *data) {
  char how[64];

  (void)loop;
  (void)data;
  describe_exit(child, how, sizeof how);
  printf(PROG ": child %d %s\n", (int)child->pid, how);
  srv.child_running = 0;
  herd_child_close(child); /* reaped, watch over: allowed here */
  maybe_respawn();
}

static void start_child(void) {
  int rc;

  srv.child_started = ex_now_ms();
  rc = herd_fork_fn(&srv.child, &srv.chan, compute_child, NULL);
  if (rc < 0) {
    fprintf(stderr, PROG ": herd_fork_fn: %s\n", herd_strerror(rc));
    srv.chan = NULL;
    maybe_respawn(); /* tries again in RESPAWN_MIN_MS */
    return;
  }
  srv.child_running = 1;
  if ((rc = herd_loop_chan(srv.loop, srv.chan, on_chan, NULL)) < 0 ||
      (rc = herd_loop_child(srv.loop, &srv.child, on_child_exit, NULL)) < 0) {
    fprintf(stderr, PROG ": watching the child: %s\n", herd_strerror(rc));
    srv.failed = 1;
    herd_loop_stop(srv.loop);
    return;
  }
  printf(PROG ": child %d does the sums\n", (int)srv.child.pid);
}

/* ---- stopping ----------------------------------------------------- */

static void on_signal(herd_loop_t *loop, int sig, pid_t from, void *data) {
  (void)from;
  (void)data;
  printf(PROG ": %s, stopping\n", strsignal(sig));
  herd_loop_stop(loop);
}

/* The child sees the end of the channel (Node's 'disconnect'). */
static void close_chan(void) {
  if (srv.chan == NULL)
    return;
  (void)herd_loop_chan_stop(srv.loop, srv.chan); /* watched until closed */
  herd_chan_close(srv.chan);
  srv.chan = NULL;
}

/* Stop the child: closing the channel is the polite way, an idle child
 * sees the end and exits 0. One busy with a sum nobody will read gets
 * SIGTERM at once; any other gets it after STOP_WAIT_MS; SIGKILL comes
 * STOP_WAIT_MS later. Returns 0 once the child is reaped in time, -1 if
 * it had to be killed. */
static int stop_child(void) {
  char how[64];
  int rc;

  close_chan();
  if (!srv.child_running)
    return 0;
  (void)herd_loop_child_stop(srv.loop, &srv.child);
  if (srv.inflight > 0)
    (void)herd_child_kill(&srv.child, SIGTERM, 0);
  rc = herd_child_wait(&srv.child, STOP_WAIT_MS);
  if (rc == -ETIMEDOUT) {
    (void)herd_child_kill(&srv.child, SIGTERM, 0);
    rc = herd_child_wait(&srv.child, STOP_WAIT_MS);
  }
  if (rc < 0)
    fprintf(stderr, PROG ": waiting for child %d: %s; killing it\n",
            (int)srv.child.pid, herd_strerror(rc));
  herd_child_close(&srv.child); /* SIGKILL and reap if still running */
  srv.child_running = 0;
  describe_exit(&srv.child, how, sizeof how);
  printf(PROG ": child %d %s\n", (int)srv.child.pid, how);
  return rc < 0 ? -1 : 0;
}

int main(int argc, char **argv) {
  char where[128];
  int rc, status = 0;

  /* One line per event, even into a pipe or a log file. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  /* So the child can show as "fork-compute child" in ps. */
  if ((rc = herd_title_init(argc, argv)) < 0)
    fprintf(stderr, PROG ": herd_title_init: %s\n", herd_strerror(rc));
  if (ex_compute_n(PROG, &srv.n) < 0)
    return 1;
  if ((rc = herd_loop_new(&srv.loop)) < 0) {
    fprintf(stderr, PROG ": herd_loop_new: %s\n", herd_strerror(rc));
    return 1;
  }
  /* Before the first fork: the child starts with them blocked too. */
  if ((rc = herd_loop_signal(srv.loop, SIGINT, on_signal, NULL)) < 0 ||
      (rc = herd_loop_signal(srv.loop, SIGTERM, on_signal, NULL)) < 0) {
    fprintf(stderr, PROG ": herd_loop_signal: %s\n", herd_strerror(rc));
    herd_loop_free(srv.loop);
    return 1;
  }
  if ((srv.lfd = ex_listen(PROG, 3000)) < 0) {
    herd_loop_free(srv.loop);
    return 1;
  }
  if ((rc = herd_loop_add(srv.loop, srv.lfd, EPOLLIN, on_listen, NULL)) < 0) {
    fprintf(stderr, PROG ": herd_loop_add: %s\n", herd_strerror(rc));
    (void)close(srv.lfd);
    herd_loop_free(srv.loop);
    return 1;
  }
  srv.accepting = 1;
  ex_sock_name(srv.lfd, where, sizeof where);
  printf(PROG ": pid %d serving %s: GET / and GET /compute (n = %" PRIu64
         ")\n", (int)getpid(), where, srv.n);
  start_child();
  /* No first child: something is badly wrong (herd_loop_run would forget
   * a stop requested before it runs). */
  if (srv.failed || !srv.child_running)
    srv.failed = 1;
  else if ((rc = herd_loop_run(srv.loop)) < 0) {
    fprintf(stderr, PROG ": herd_loop_run: %s\n", herd_strerror(rc));
    srv.failed = 1;
  }

  /* The channel goes first, so requests still waiting (and pipelined
   * ones behind them) get a 503 rather than a closed connection. */
  close_chan();
  fail_pending("the server is stopping\n");
  while (srv.conns != NULL)
    conn_close(srv.conns);
  if (herd_loop_del(srv.loop, srv.lfd) < 0 || close(srv.lfd) < 0) {
    fprintf(stderr, PROG ": closing the listening socket failed\n");
    status = 1;
  }
  srv.lfd = -1;
  herd_loop_timer_stop(srv.loop, &srv.respawn);
  if (stop_child() < 0)
    status = 1;
  /* Last: it unblocks SIGINT and SIGTERM again. */
  herd_loop_free(srv.loop);
  return srv.failed ? 1 : status;
}
