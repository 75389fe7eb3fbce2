/*
 * rr.c - round robin (HERD_BALANCE_ROUNDROBIN): the master accepts, and
 * hands each connection to the next ready worker over its channel as a
 * Node handle ({"cmd":"NODE_HANDLE","type":"net.Socket","msg":
 * "herd:connection"} with the fd), as Node's cluster primary does. Only
 * what a worker can take now is accepted: the rest waits in the kernel's
 * queue, where it is safe. A worker that takes none of what it was handed
 * in HANDOFF_TIMEOUT_MS does not read its channel: its queue goes to the
 * others, and it is replaced.
 */
#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "sup.h"

/* The next ready worker, in slot order from rr_next, that can take a
 * handle now (its channel is not backed up). The turn moves on only once
 * a connection has really been given (rr_next is set by rr_give). */
static struct worker *rr_pick(herd_cluster_t *c) {
  for (int k = 0; k < c->nslots; k++) {
    int i = (c->rr_next + k) % c->nslots;
    struct slot *s = c->slots[i];
    struct worker *w = s->active ? s->cur : NULL;
    /* A few handles may wait for the ACK of the one before; a worker
     * with more queued is not reading its channel: skip it. */
    if (w && w->state == W_READY && w->chan && !w->deaf && !w->disc &&
        !herd__chan_gone(w->chan) && herd_chan_queued(w->chan) < RR_MAX_QUEUED)
      return w;
  }
  return NULL;
}

void rr__resume(herd_cluster_t *c) {
  if (!c->rr_paused)
    return;
  c->rr_paused = 0;
  herd_loop_timer_stop(c->loop, &c->rr_timer);
  for (int i = 0; i < c->nlisten; i++)
    (void)herd_loop_mod(c->loop, c->fds[i], EPOLLIN);
}

static void rr_timer_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  rr__resume(data);
}

/* No worker can take a connection, or we cannot take one: stop watching
 * the sockets (the connections wait in the kernel's queue) until a
 * worker becomes ready, or for ms, when backed-up channels may have
 * drained, or fds have been freed. */
static void rr_pause(herd_cluster_t *c, int ms) {
  if (c->rr_paused)
    return;
  c->rr_paused = 1;
  for (int i = 0; i < c->nlisten; i++)
    (void)herd_loop_mod(c->loop, c->fds[i], 0);
  (void)herd_loop_timer_start(c->loop, &c->rr_timer, (uint64_t)ms, rr_timer_cb, c);
}

/* Which of our sockets fd is (for the notices' text). */
static int listen_index(const herd_cluster_t *c, int fd) {
  for (int i = 0; i < c->nlisten; i++)
    if (c->fds[i] == fd)
      return i;
  return 0;
}

static void handoff_check(herd_loop_t *loop, herd_timer_t *t, void *data);

/* Hand one connection (taken: the channel sends its own duplicate, ours
 * is closed here) to a worker, and watch that it is taken. One that
 * cannot go to w (its channel broke: it died, and its exit is not read
 * yet) goes to the next worker; closed only when nobody can take it. */
static int rr_give(herd_cluster_t *c, struct worker *w, int conn) {
  c->rr_next = (w->slot + 1) % c->nslots;
  int r = herd_chan_send(w->chan, "\"herd:connection\"", 17, conn);
  wio__chan_used(w);
  if (r < 0) {
    sup__emit(c, HERD_EV_ERROR, HERD_REASON_HAND_FAILED, w->slot, w->pid, r, 0, 0, 0, NULL);
    struct worker *o = rr_pick(c); /* not w: its channel is gone or full */
    if (o && o != w)
      return rr_give(c, o, conn);
    herd__close(conn);
    c->st.rr_dropped++;
    return r;
  }
  herd__close(conn);
  /* Written now rather than at the loop's flush: a channel that has just
   * broken says so here, while what was queued for it can still go to
   * the others. */
  if (herd_chan_flush(w->chan) < 0 && herd__chan_gone(w->chan)) {
    rr__rehand(c, w);
    return 0;
  }
  if (!w->handoff_timer.heap_index) {
    w->handoff_acks = herd__chan_acks(w->chan);
    (void)herd_loop_timer_start(c->loop, &w->handoff_timer, HANDOFF_TIMEOUT_MS,
                                handoff_check, w);
  }
  return 0;
}

void rr__rehand(herd_cluster_t *c, struct worker *w) {
  int fds[64], n;
  while (w->chan && (n = herd__chan_take_handles(w->chan, fds, 64)) > 0)
    for (int i = 0; i < n; i++) {
      struct worker *o = rr_pick(c);
      if (o && o != w)
        (void)rr_give(c, o, fds[i]);
      else {
        c->st.rr_dropped++; /* nobody to take it: closed, not left hanging */
        herd__close(fds[i]);
      }
    }
}

/* A worker that has answered no handed connection for HANDOFF_TIMEOUT_MS
 * does not read its channel (a program that knows nothing of it: every
 * connection handed to it would hang): what waits in our queue goes to
 * the others, and it is replaced - when it exits, what it was handed
 * closes instead of hanging. One that answers, however late, is fine. */
static void handoff_check(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct worker *w = data;
  herd_cluster_t *c = w->c;
  if (w->state == W_EXITED || !w->chan || herd__chan_handles_out(w->chan) == 0)
    return;
  uint64_t acks = herd__chan_acks(w->chan);
  if (acks != w->handoff_acks || w->state != W_READY) {
    w->handoff_acks = acks; /* it reads (or it stops anyway): look later */
    (void)herd_loop_timer_start(c->loop, &w->handoff_timer, HANDOFF_TIMEOUT_MS,
                                handoff_check, w);
    return;
  }
  rr__deaf(c, w);
}

void rr__deaf(herd_cluster_t *c, struct worker *w) {
  w->deaf = 1;
  c->st.handoff_failures++;
  sup__emit(c, HERD_EV_NOTICE, HERD_REASON_HANDOFF_FAILED, w->slot, w->pid, 0, 0,
            HANDOFF_TIMEOUT_MS, 0, NULL);
  if (node__on(c))
    node__rr_rehand(c, w);
  else
    rr__rehand(c, w);
  (void)sup__replace(c, w->slot, HERD_REASON_HANDOFF, NULL);
}

static void rr_accept_cb(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  (void)loop;
  (void)events;
  herd_cluster_t *c = data;
  /* Take only what a worker can take now: the rest waits in the kernel's
   * queue, where it is safe, until the next turn. */
  for (int n = 0; n < 64; n++) {
    struct worker *w = rr_pick(c);
    if (!w) {
      rr_pause(c, 10);
      return;
    }
    int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0) {
      int e = errno;
      if (e == EINTR || e == ECONNABORTED || e == EPROTO)
        continue; /* that one connection */
      if (e == EAGAIN)
        return; /* none left */
      /* out of fds (EMFILE, ENFILE) or memory: the socket would stay
       * readable and the loop spin; the connections wait in the queue
       * while we cannot take them, and we look again shortly */
      if (!c->accept_short) {
        c->accept_short = 1;
        sup__emit(c, HERD_EV_NOTICE, HERD_REASON_ACCEPT_FAILED, -1, 0, -e, 0,
                  RR_SHORT_RETRY_MS, 0, c->texts[listen_index(c, fd)]);
      }
      rr_pause(c, RR_SHORT_RETRY_MS);
      return;
    }
    if (c->accept_short) {
      c->accept_short = 0;
      sup__emit(c, HERD_EV_NOTICE, HERD_REASON_ACCEPT_RESUMED, -1, 0, 0, 0, 0, 0,
                c->texts[listen_index(c, fd)]);
    }
    (void)rr_give(c, w, conn);
  }
}

int rr__watch(herd_cluster_t *c) {
  /* The master accepts. The fds are ours alone here (workers get none),
   * so non-blocking is safe to set. */
  for (int i = 0; i < c->nlisten; i++) {
    int r;
    if ((r = herd__set_nonblock(c->fds[i], 1)) < 0 ||
        (r = herd_loop_add(c->loop, c->fds[i], EPOLLIN, rr_accept_cb, c)) < 0)
      return r;
  }
  return 0;
}

void rr__stop_timers(herd_cluster_t *c, struct worker *w) {
  herd_loop_timer_stop(c->loop, &w->handoff_timer);
}
