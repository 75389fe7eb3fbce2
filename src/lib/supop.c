/*
 * supop.c - the cluster's own transitions (the last table of sup.c): a
 * rolling reload slot by slot, restart, scale up and down (a reuseport
 * slot drains first), stop (a second request kills), and the end once
 * every worker and what it wrote is gone. The workers' and slots'
 * transitions these set off are sup.c's.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "linux/os.h"
#include "sup.h"

void sup__reload_next(herd_cluster_t *c) {
  while (c->reload_cursor < c->nslots) {
    struct slot *s = c->slots[c->reload_cursor];
    if (s->active && sup__alive(s->cur) && !s->succ && !sup__stopping(s->cur) &&
        s->state != S_RESTART) {
      if (sup__start_worker(c, c->reload_cursor, 1) < 0)
        return; /* start_worker reported the failed reload */
      if (!s->succ) {
        /* ready at once (no settle time): slot_on_ready has promoted it
         * already, before we knew to wait for it */
        c->reload_cursor++;
        continue;
      }
      c->reload_wait = s->succ;
      return; /* continues when the successor is ready */
    }
    c->reload_cursor++;
  }
  c->state = C_RUNNING;
  c->st.reloads++;
  sup__emit(c, HERD_EV_RELOAD, HERD_REASON_RELOAD_DONE, -1, 0, 0, 0, 0, 0, NULL);
  sup__maybe_all_ready(c);
  if (c->reload_again) {
    c->reload_again = 0;
    c->all_ready_sent = 0; /* this one ends with its own ALL_READY too */
    sup__reload(c);
  }
}

void sup__reload(herd_cluster_t *c) {
  if (c->state >= C_STOPPING)
    return;
  if (c->state == C_RELOADING) {
    c->reload_again = 1;
    return;
  }
  c->state = C_RELOADING;
  c->reload_cursor = 0;
  c->all_ready_sent = 0;
  sup__emit(c, HERD_EV_RELOAD, HERD_REASON_RELOAD_BEGIN, -1, 0, 0, 0, 0, 0, NULL);
  sup__reload_next(c);
}

int sup__restart(herd_cluster_t *c) {
  c->all_ready_sent = 0;
  for (int i = 0; i < c->nslots; i++) {
    struct slot *s = c->slots[i];
    if (!s->active)
      continue;
    s->fails = 0;
    s->nstarts = 0;
    if (sup__alive(s->cur) && !sup__stopping(s->cur)) {
      s->state = S_RESTART;
      sup__worker_stop(c, s->succ, HERD_REASON_RESTART);
      sup__worker_stop(c, s->cur, HERD_REASON_RESTART);
    } else if (!s->cur && !s->succ) {
      /* backing off or parked: start now */
      herd_loop_timer_stop(c->loop, &s->restart_timer);
      (void)sup__start_worker(c, i, 0);
    } else if (s->cur) {
      s->state = S_RESTART; /* already stopping: a fresh one when it exits */
    }
  }
  return 0;
}

/* Node's worker.disconnect(): its channel ends (a Node worker is told
 * first, as Node's primary tells it), and it leaves by itself. No signal
 * and no timer: sup.c's table, (6); its exit restarts the slot at once
 * (slot_on_exit). */
int sup__disconnect(herd_cluster_t *c, int slot) {
  int err;
  struct worker *w = sup__steerable(c, slot, &err);
  if (!w)
    return err;
  if (w->disc)
    return -EALREADY;
  if (!w->chan || herd__chan_gone(w->chan))
    return -ENOTCONN;
  if (node__on(c)) {
    int r = node__leave(c, w);
    if (r < 0)
      return r == -EPIPE ? -ENOTCONN : r;
    w->disc = 1;
  } else {
    /* Marked first: round robin picks it no more. What was handed and
     * not sent yet goes to the others; the rest of the queue gets one
     * try, then the end. */
    w->disc = 1;
    if (c->o.balance == HERD_BALANCE_ROUNDROBIN) {
      rr__rehand(c, w);
      rr__stop_timers(c, w);
    }
    (void)herd_chan_flush(w->chan);
    (void)herd_loop_chan_stop(c->loop, w->chan);
    herd_chan_close(w->chan);
    w->chan = NULL;
  }
  sup__emit(c, HERD_EV_STOPPING, HERD_REASON_DISCONNECTED, w->slot, w->pid, 0, 0, 0, 0,
            NULL);
  return 0;
}

int sup__grow_slots(herd_cluster_t *c, int n) {
  if (n <= c->nslots)
    return 0;
  struct slot **ns = realloc(c->slots, (size_t)n * sizeof *ns);
  if (!ns)
    return -ENOMEM;
  c->slots = ns;
  while (c->nslots < n) {
    struct slot *s = calloc(1, sizeof *s);
    if (!s)
      return -ENOMEM;
    s->c = c;
    s->id = c->nslots;
    s->state = S_OFF;
    c->slots[c->nslots++] = s;
  }
  return 0;
}

/* A scaled-down reuseport slot: its worker goes once its sockets' queues
 * have emptied (and stayed so past handshakes begun before it stopped
 * being chosen), or at the kill timeout at the latest. */
static void drain_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct slot *s = data;
  herd_cluster_t *c = s->c;
  if (s->state != S_DRAINING)
    return;
  uint64_t waited = herd__now_ms() - s->drain_since;
  int serving = s->cur && (s->cur->state == W_READY || s->cur->state == W_STARTING);
  if (serving && (rp__queued(s) > 0 || waited < DRAIN_GRACE_MS) &&
      waited < (uint64_t)sup__kill_timeout(c)) {
    (void)herd_loop_timer_start(c->loop, &s->drain_timer, DRAIN_POLL_MS, drain_cb, s);
    return;
  }
  sup__slot_drained(c, s);
}

void sup__slot_drained(herd_cluster_t *c, struct slot *s) {
  s->state = S_RETIRING;
  sup__worker_stop(c, s->succ, HERD_REASON_SCALE_DOWN);
  sup__worker_stop(c, s->cur, HERD_REASON_SCALE_DOWN);
  sup__slot_emptied(c, s);
}

/* Run n workers: start slots up to n, stop the highest above it. */
void sup__scale(herd_cluster_t *c, int n) {
  if (c->state >= C_STOPPING || n < 1 || n > HERD_MAX_WORKERS || n == c->want)
    return;
  if (sup__grow_slots(c, n) < 0)
    return;
  int old = c->want;
  c->want = n;
  sup__emit(c, HERD_EV_SCALE, 0, -1, 0, c->want, 0, 0, 0, NULL);
  if (n > old) {
    c->all_ready_sent = 0;
    /* Fill the lowest free slots: ids stay 0..n-1. All of them are
     * active before the first starts, so that a worker ready at once
     * does not make the pool look all ready before the others exist. */
    int fresh[HERD_MAX_WORKERS], nfresh = 0, resteer = 0;
    for (int id = 0; id < c->nslots && nfresh < n - old; id++) {
      struct slot *s = c->slots[id];
      if (s->active)
        continue;
      s->active = 1;
      s->fails = 0;
      s->nstarts = 0;
      fresh[nfresh++] = id;
    }
    for (int k = 0; k < nfresh; k++) {
      struct slot *s = c->slots[fresh[k]];
      if (s->steered_off) { /* chosen again */
        s->steered_off = 0;
        resteer = 1;
      }
      if (s->state == S_DRAINING) { /* scaled down, not stopped yet: stays */
        herd_loop_timer_stop(c->loop, &s->drain_timer);
        s->state = S_RUNNING;
      } else if (!s->cur && !s->succ) {
        (void)sup__start_worker(c, fresh[k], 0);
      } else if (s->cur && sup__stopping(s->cur)) {
        s->state = S_RESTART; /* scaled down, not gone yet: anew once it is */
      }
    }
    if (resteer)
      rp__steer_all(c);
    return;
  }
  for (int id = c->nslots - 1, removed = 0; id >= 0 && removed < old - n; id--) {
    struct slot *s = c->slots[id];
    if (!s->active)
      continue;
    s->active = 0;
    removed++;
    herd_loop_timer_stop(c->loop, &s->restart_timer);
    /* a worker not ready yet counts: its socket has been in the group,
     * taking its share, since the slot started (one scaled down inside
     * its settle time had its queue reset) */
    if (s->rp_fds && !c->migrates && s->cur &&
        (s->cur->state == W_READY || s->cur->state == W_STARTING)) {
      /* reuseport: its socket is closed when its worker is gone, and the
       * kernel resets what is in its queue then. New connections go to
       * the others from now on; its worker stops once it has taken what
       * was queued. */
      s->state = S_DRAINING;
      s->steered_off = 1;
      s->drain_since = herd__now_ms();
      rp__steer_all(c);
      (void)herd_loop_timer_start(c->loop, &s->drain_timer, DRAIN_POLL_MS, drain_cb, s);
      continue;
    }
    sup__slot_drained(c, s);
  }
}

void sup__shutdown(herd_cluster_t *c, int graceful, int sig) {
  if (c->state >= C_STOPPING && sig == c->stop_sig && herd__now_ms() - c->stop_ms < 1000)
    return; /* the same request delivered twice (GNU timeout does) */
  if (c->state >= C_STOPPING) {
    /* A second request: no more waiting. */
    for (struct worker *w = c->workers; w; w = w->next)
      if (sup__alive(w)) {
        if (!w->stop_reason)
          w->stop_reason = HERD_REASON_SHUTDOWN;
        sup__to_killing(c, w, HERD_REASON_KILLED);
      }
    for (struct orphan *o = c->orphans; o; o = o->next)
      (void)herd__os_pidfd_kill(o->pidfd, SIGKILL);
    return;
  }
  if (c->state == C_RELOADING)
    c->reload_wait = NULL; /* the stop ends the reload: nothing failed */
  c->reload_again = 0;
  c->state = C_STOPPING;
  c->graceful = graceful;
  c->stop_ms = herd__now_ms();
  c->stop_sig = sig;
  sup__emit(c, HERD_EV_SHUTDOWN, graceful ? HERD_REASON_GRACEFUL : HERD_REASON_SHUTDOWN,
            -1, 0, 0, sig, 0, 0, NULL);
  for (int i = 0; i < c->nslots; i++) {
    struct slot *s = c->slots[i];
    herd_loop_timer_stop(c->loop, &s->restart_timer);
    herd_loop_timer_stop(c->loop, &s->drain_timer);
    if (s->active && !s->cur && !s->succ)
      s->state = S_WAITING;
  }
  for (struct worker *w = c->workers; w; w = w->next)
    sup__worker_stop(c, w, HERD_REASON_SHUTDOWN);
  for (struct orphan *o = c->orphans; o; o = o->next)
    wio__orphan_stop(c, o);
  wio__look_now(c); /* a look due after recent exits: now (stops what it finds) */
  sup__check_done(c);
}

static void output_timer_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)t;
  herd_cluster_t *c = data;
  c->state = C_DONE;
  herd_loop_stop(loop);
}

void sup__check_done(herd_cluster_t *c) {
  if (c->state < C_STOPPING || c->state == C_DONE)
    return;
  if (c->orphans || c->look.any)
    return; /* left behind by workers: they go before we do */
  int pipes = 0;
  for (struct worker *w = c->workers; w; w = w->next) {
    if (sup__alive(w))
      return;
    pipes |= w->out[0].fd >= 0 || w->out[1].fd >= 0;
  }
  if (pipes) {
    /* Every worker is gone, but what they wrote last may still be in
     * their pipes: read it to the end - for a while only, as something
     * they started (and that left their process group) may hold a pipe
     * open for ever. */
    if (c->state != C_DRAINING) {
      c->state = C_DRAINING;
      wio__resume_output(c);
      (void)herd_loop_timer_start(c->loop, &c->output_timer, OUTPUT_DRAIN_MS,
                                  output_timer_cb, c);
    }
    return;
  }
  herd_loop_timer_stop(c->loop, &c->output_timer);
  c->state = C_DONE;
  herd_loop_stop(c->loop);
}
