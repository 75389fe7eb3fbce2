/*
 * listenq.c - is anybody accepting? A listening socket whose accept queue
 * stays non-empty for seconds has no worker taking its connections (a
 * worker that binds a port of its own instead of using fd 3, a server
 * told to listen elsewhere): the clients hang while status says all is
 * ready. The master watches the queue's length (TCP_INFO gives it for a
 * listener) without costing an idle master a wakeup: it is woken by the
 * first connection that arrives, looks, and looks again only while the
 * queue is not empty; after a quiet look it waits a second before it
 * lets the next arrival wake it (a busy server costs it a wakeup a
 * second at most).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "sup.h"

#define REARM_MS 1000 /* after a look at an empty queue */
#define CHECK_MS 500  /* while it is not empty */
#define AFTER_MS 5000 /* once told: look less often */

struct herd__lq {
  herd_loop_t *loop;
  int fd;
  int stall_ms;
  herd_timer_t timer;
  uint64_t since; /* first seen non-empty (0: empty at the last look) */
  int told;
  herd__lq_cb cb;
  void *data;
};

static int queued(int fd) {
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  memset(&ti, 0, sizeof ti);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
      ti.tcpi_state != TCP_LISTEN)
    return -1;
  return (int)ti.tcpi_unacked; /* a listener's: its accept queue */
}

static void arm(herd_loop_t *loop, herd_timer_t *t, void *data);

static void look(struct herd__lq *q) {
  int n = queued(q->fd);
  uint64_t now = herd__now_ms();
  if (n <= 0) {
    if (q->told)
      q->cb(q->data, q->fd, 0, (int)(now - q->since));
    q->since = 0;
    q->told = 0;
    (void)herd_loop_timer_start(q->loop, &q->timer, REARM_MS, arm, q);
    return;
  }
  if (!q->since)
    q->since = now;
  if (!q->told && now - q->since >= (uint64_t)q->stall_ms) {
    q->told = 1;
    q->cb(q->data, q->fd, n, (int)(now - q->since));
  }
  (void)herd_loop_timer_start(q->loop, &q->timer, q->told ? AFTER_MS : CHECK_MS, arm, q);
}

static void arrived(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  (void)events;
  struct herd__lq *q = data;
  (void)herd_loop_mod(loop, fd, 0); /* no more wakeups until we ask */
  look(q);
}

/* The timer: look again while the queue was not empty, else let the next
 * arrival wake us. */
static void arm(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)t;
  struct herd__lq *q = data;
  if (q->since)
    look(q);
  else
    (void)herd_loop_mod(loop, q->fd, EPOLLIN);
}

int herd__lq_new(struct herd__lq **out, herd_loop_t *loop, int fd, int stall_ms,
                 herd__lq_cb cb, void *data) {
  *out = NULL;
  if (queued(fd) < 0)
    return -ENOTSUP; /* not a TCP listener: its queue cannot be seen */
  struct herd__lq *q = calloc(1, sizeof *q);
  if (!q)
    return -ENOMEM;
  *q = (struct herd__lq){.loop = loop, .fd = fd, .stall_ms = stall_ms, .cb = cb,
                         .data = data};
  int r = herd_loop_add(loop, fd, EPOLLIN, arrived, q);
  if (r < 0) {
    free(q);
    return r;
  }
  *out = q;
  return 0;
}

void herd__lq_free(struct herd__lq *q) {
  if (!q)
    return;
  herd_loop_timer_stop(q->loop, &q->timer);
  (void)herd_loop_del(q->loop, q->fd);
  free(q);
}

/* ---- the cluster's watches ---------------------------------------- */

/* Nobody accepts on a socket (or does again, after that was told). */
static void lq_said(void *data, int fd, int queued, int ms) {
  (void)fd;
  struct lqw *x = data;
  herd_cluster_t *c = x->c;
  if (queued > 0)
    c->st.listen_stalls++;
  sup__emit(c, HERD_EV_NOTICE, queued > 0 ? HERD_REASON_LISTEN_STALL : HERD_REASON_LISTEN_SERVED,
            x->slot, 0, queued, x->addr, (uint64_t)ms, 0, c->texts[x->addr]);
}

struct lqw *lq__watch(herd_cluster_t *c, const int *fds, int n, int slot) {
  struct lqw *v = calloc((size_t)n, sizeof *v);
  for (int i = 0; v && i < n; i++) {
    v[i] = (struct lqw){.c = c, .slot = slot, .addr = i};
    if (fds[i] >= 0)
      (void)herd__lq_new(&v[i].q, c->loop, fds[i], LISTEN_STALL_MS, lq_said, &v[i]);
  }
  return v;
}

void lq__unwatch(struct lqw *v, int n) {
  for (int i = 0; v && i < n; i++)
    herd__lq_free(v[i].q);
  free(v);
}
