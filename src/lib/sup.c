/*
 * sup.c - the supervisor's state machine: what happens to a worker, a
 * slot and the cluster when something happens. Three levels, each with
 * its states named (sup.h) and every change of state made here, by the
 * functions below; the tables say which event moves what where.
 *
 * A worker (enum wstate):
 *
 *   event \ state   STARTING        READY          HANDOFF     STOPPING   KILLING
 *   ready           READY (1)       -              -           -          -
 *   ready timeout   KILLING         -              -           -          -
 *   stop(why)       STOPPING        HANDOFF (2)    -           -          -
 *                                   or STOPPING
 *   queue flushed   -               -              STOPPING    -          -
 *   kill timeout    -               -              STOPPING(3) KILLING    -
 *   second stop     KILLING         KILLING        KILLING     KILLING    -
 *   retire          (4)             (4)            -           -          -
 *   disconnect      (6)             (6)            -           -          -
 *   exit            EXITED (5)      EXITED         EXITED      EXITED     EXITED
 *
 *   (1) settle time, delay or READY=1 by mode; the slot hears it.
 *   (2) connections handed to it (roundrobin) still in our queue go
 *       first: they would be lost otherwise.
 *   (3) at most the kill timeout waiting for them.
 *   (4) it said STOPPING=1 (or retired): its successor starts now.
 *   (5) exit reason: killed, stopped (asked), disconnected, retired,
 *       exited (0), or crashed; the slot hears it, with "early" if it
 *       had not been ready or lived less than min_uptime (never for a
 *       disconnected one: its slot starts a new worker at once).
 *   (6) herd_cluster_disconnect (supop.c): its channel closed (Node: the
 *       disconnect message), no signal; the state stays, marked disc (a
 *       stop later acts as on any worker).
 *
 * A slot (enum sstate):
 *
 *   event \ state   OFF        RUNNING         REPLACING       BACKOFF/PARKED  RESTART     DRAINING     RETIRING   WAITING
 *   scale up        RUNNING    -               -               -               -           RUNNING (6)  RESTART    -
 *   scale down      -          RETIRING or     RETIRING        OFF             RETIRING    -            -          OFF
 *                              DRAINING (7)
 *   successor       -          REPLACING       -               -               -           -            -          -
 *   succ. ready     -          -               RUNNING (8)     -               -           -            -          -
 *   worker exits    -          RUNNING (9)     RUNNING (10)    -               RUNNING     RETIRING     OFF (11)   -
 *                              or BACKOFF/PARKED
 *   timer           -          -               -               RUNNING         -           RETIRING(12) -          -
 *   restart         -          RESTART         RESTART         RUNNING         -           -            -          -
 *   stop            -          (stops workers: then WAITING or OFF)
 *
 *   (6) its worker still runs: it stays. (7) reuseport: the group stops
 *   choosing its sockets first (reuseport.c). (8) the old worker stops
 *   (reload, retired or replaced). (9) a crash restarts at once, an early
 *   death backs off or parks. (10) the successor became the worker (the
 *   old one retired or died), or back to the old one (the successor
 *   died). (11) its sockets are closed. (12) the queue is empty (or the
 *   kill timeout passed): its worker stops.
 *
 * The cluster (enum cstate; its transitions are supop.c's): STARTING
 * -(first workers up)-> RUNNING
 * -(reload)-> RELOADING -(every slot done, or one failed)-> RUNNING;
 * any -(stop)-> STOPPING -(every worker gone)-> DRAINING -(pipes read
 * to their end, or OUTPUT_DRAIN_MS)-> DONE.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "linux/os.h"
#include "sup.h"

/* ---- events --------------------------------------------------- */

void sup__emit(herd_cluster_t *c, int type, int reason, int slot, pid_t pid,
               int code, int sig, uint64_t delay, uint64_t uptime, const char *text) {
  if (!c->o.on_event)
    return;
  herd_event_t ev = {.type = type, .reason = reason, .slot = slot, .pid = pid,
                     .code = code, .sig = sig, .delay_ms = delay, .uptime_ms = uptime,
                     .text = text};
  c->o.on_event(c, &ev, c->o.data);
}

static const char *const reason_names[] = {
    [HERD_REASON_NONE] = "none",
    [HERD_REASON_STOPPED] = "stopped",
    [HERD_REASON_KILLED] = "killed",
    [HERD_REASON_CRASHED] = "crashed",
    [HERD_REASON_EXITED] = "exited",
    [HERD_REASON_RETIRED] = "retired",
    [HERD_REASON_SHUTDOWN] = "shutdown",
    [HERD_REASON_GRACEFUL] = "graceful",
    [HERD_REASON_RELOAD] = "reload",
    [HERD_REASON_RESTART] = "restart",
    [HERD_REASON_SCALE_DOWN] = "scale down",
    [HERD_REASON_REPLACED] = "replaced",
    [HERD_REASON_HANDOFF] = "handoff",
    [HERD_REASON_SUCCESSOR] = "successor",
    [HERD_REASON_SPAWN_FAILED] = "spawn failed",
    [HERD_REASON_READY_TIMEOUT] = "ready timeout",
    [HERD_REASON_HAND_FAILED] = "hand failed",
    [HERD_REASON_BIND_FAILED] = "bind failed",
    [HERD_REASON_STEER_FAILED] = "steer failed",
    [HERD_REASON_RELOAD_BEGIN] = "reload begin",
    [HERD_REASON_RELOAD_DONE] = "reload done",
    [HERD_REASON_RELOAD_FAILED] = "reload failed",
    [HERD_REASON_NOTIFY_FOREIGN] = "notify foreign",
    [HERD_REASON_LEFT_BEHIND] = "left behind",
    [HERD_REASON_LISTEN_STALL] = "listen stall",
    [HERD_REASON_LISTEN_SERVED] = "listen served",
    [HERD_REASON_HANDOFF_FAILED] = "handoff failed",
    [HERD_REASON_REOPEN] = "reopen",
    [HERD_REASON_IGNORED] = "ignored",
    [HERD_REASON_ACCEPT_FAILED] = "accept failed",
    [HERD_REASON_ACCEPT_RESUMED] = "accept resumed",
    [HERD_REASON_NODE_SOCKET] = "node socket",
    [HERD_REASON_NODE_BAD_MESSAGE] = "node bad message",
    [HERD_REASON_NODE_REFUSED] = "node refused",
    [HERD_REASON_DISCONNECTED] = "disconnected",
};

const char *herd_reason_name(int reason) {
  if (reason < 0 || (size_t)reason >= sizeof reason_names / sizeof reason_names[0] ||
      !reason_names[reason])
    return "?";
  return reason_names[reason];
}

/* ---- helpers ---------------------------------------------------- */

int sup__public_state(const struct slot *s, const struct worker *w) {
  if (w) {
    if (w->disc && w->state != W_EXITED)
      return HERD_WORKER_STOPPING; /* disconnected: on its way out */
    if (w->state == W_STARTING)
      return HERD_WORKER_STARTING;
    if (w->state == W_READY && s->state != S_DRAINING)
      return HERD_WORKER_READY;
    return HERD_WORKER_STOPPING; /* handing off, stopping, killing, or
                                    draining before it stops */
  }
  if (s->state == S_BACKOFF)
    return HERD_WORKER_BACKOFF;
  if (s->state == S_PARKED)
    return HERD_WORKER_PARKED;
  return HERD_WORKER_WAITING;
}

/* Every active slot has a ready worker. Asked at each worker's
 * readiness: the look starts at the slot found not ready last time and
 * goes round, so that N workers getting ready one by one cost O(N) in
 * all, not O(N^2). */
static int all_ready(herd_cluster_t *c) {
  int n = c->nslots, start = c->ready_hint < n ? c->ready_hint : 0;
  for (int k = 0; k < n; k++) {
    int i = (start + k) % n;
    struct slot *s = c->slots[i];
    if (s->active && (!s->cur || s->cur->state != W_READY)) {
      c->ready_hint = i;
      return 0;
    }
  }
  return 1;
}

void sup__maybe_all_ready(herd_cluster_t *c) {
  if ((c->state == C_RUNNING || c->state == C_STARTING) && !c->all_ready_sent &&
      all_ready(c)) {
    c->all_ready_sent = 1;
    sup__emit(c, HERD_EV_ALL_READY, 0, -1, 0, c->want, 0, 0, 0, NULL);
  }
}

/* ---- a worker's transitions --------------------------------------- */

/* SIGKILL to the worker's process group (it leads one), so what it
 * started dies with it; unreaped, so the group id is still its own. */
static void kill_hard(struct worker *w) {
  if (kill(-w->pid, SIGKILL) < 0)
    (void)herd__os_pidfd_kill(w->pidfd, SIGKILL);
}

void sup__to_killing(herd_cluster_t *c, struct worker *w, int reason) {
  if (!sup__alive(w) || w->state == W_KILLING)
    return;
  w->state = W_KILLING;
  herd_loop_timer_stop(c->loop, &w->ready_timer);
  herd_loop_timer_stop(c->loop, &w->kill_timer);
  if (c->state >= C_STOPPING && w->stop_reason)
    c->kills++; /* what the stop had to kill (herd_cluster_run's 1) */
  kill_hard(w);
  sup__emit(c, HERD_EV_KILLED, reason, w->slot, w->pid, 0, SIGKILL, 0, 0, NULL);
}

static void kill_timer_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct worker *w = data;
  sup__to_killing(w->c, w, HERD_REASON_KILLED);
}

/* A Node worker told to disconnect that has not by half the kill
 * timeout (a WebSocket server waits for its connections): the stop
 * signal now, while there is time to act on it. */
static void disconnect_late_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct worker *w = data;
  if (w->state == W_STOPPING && w->node_sig_due) {
    w->node_sig_due = 0;
    (void)herd__os_pidfd_kill(w->pidfd, w->c->o.stop_signal);
  }
}

/* A Node cluster worker is asked as Node's primary asks it, with the
 * disconnect message: it closes its servers, finishes its requests and
 * disconnects; the stop signal follows then (wio.c), for what else keeps
 * it running, or at half the kill timeout if it has not disconnected.
 * sig 0 in the event says so. */
static void to_stopping(herd_cluster_t *c, struct worker *w) {
  w->state = W_STOPPING;
  herd_loop_timer_stop(c->loop, &w->ready_timer);
  int sig = c->o.stop_signal, timed = !(c->state >= C_STOPPING && c->graceful);
  if (node__on(c) && !w->node_disc && node__disconnect(c, w) == 0) {
    w->node_sig_due = 1;
    sig = 0;
    if (timed) /* (ready_timer: no use for it from W_STOPPING on) */
      (void)herd_loop_timer_start(c->loop, &w->ready_timer,
                                  (uint64_t)sup__kill_timeout(c) / 2, disconnect_late_cb, w);
  } else {
    (void)herd__os_pidfd_kill(w->pidfd, sig);
  }
  sup__emit(c, HERD_EV_STOPPING, w->stop_reason, w->slot, w->pid, 0, sig,
            0, 0, w->stop_reason == HERD_REASON_REPLACED ? w->replace_text : NULL);
  if (timed)
    (void)herd_loop_timer_start(c->loop, &w->kill_timer, (uint64_t)sup__kill_timeout(c),
                                kill_timer_cb, w);
}

/* W_HANDOFF: its queue, flushed yet? (at most the kill timeout) */
static void handoff_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct worker *w = data;
  herd_cluster_t *c = w->c;
  if (w->state != W_HANDOFF)
    return;
  ssize_t q = w->chan ? herd_chan_flush(w->chan) : 0;
  if (q > 0 && herd__now_ms() - w->handoff_since < (uint64_t)sup__kill_timeout(c)) {
    (void)herd_loop_timer_start(c->loop, &w->ready_timer, 1, handoff_cb, w);
    return;
  }
  to_stopping(c, w);
}

void sup__worker_stop(herd_cluster_t *c, struct worker *w, int reason) {
  if (!w || (w->state != W_STARTING && w->state != W_READY))
    return;
  w->stop_reason = reason;
  herd_loop_timer_stop(c->loop, &w->ready_timer);
  if (w->state == W_READY && w->chan && herd_chan_flush(w->chan) > 0) {
    /* no more connections for it from here on; those handed go first */
    w->state = W_HANDOFF;
    w->handoff_since = herd__now_ms();
    (void)herd_loop_timer_start(c->loop, &w->ready_timer, 1, handoff_cb, w);
  } else {
    to_stopping(c, w);
  }
  rp__steer_all(c); /* reuseport: a slot whose worker stops serves no more */
}

static void slot_on_ready(herd_cluster_t *c, struct slot *s, struct worker *w);

void sup__worker_ready(herd_cluster_t *c, struct worker *w) {
  if (w->state != W_STARTING)
    return;
  w->state = W_READY;
  w->was_ready = 1;
  herd_loop_timer_stop(c->loop, &w->ready_timer);
  sup__emit(c, HERD_EV_READY, 0, w->slot, w->pid, 0, 0, 0,
            herd__now_ms() - w->started_ms, NULL);
  slot_on_ready(c, c->slots[w->slot], w);
  if (node__on(c))
    node__kick(c); /* its sockets may wait for a worker */
}

static void ready_timer_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct worker *w = data;
  herd_cluster_t *c = w->c;
  if (w->state != W_STARTING)
    return;
  if (c->o.ready == HERD_READY_IMMEDIATE || c->o.ready == HERD_READY_DELAY) {
    sup__worker_ready(c, w); /* alive after the delay, or the settle time */
    return;
  }
  /* Not ready in time: a failed start. */
  sup__to_killing(c, w, HERD_REASON_READY_TIMEOUT);
}

void sup__worker_free_if_done(herd_cluster_t *c, struct worker *w) {
  if (w->state != W_EXITED || w->out[0].fd >= 0 || w->out[1].fd >= 0)
    return;
  if (w->chan) {
    if (node__on(c))
      node__chan_gone(c, w); /* what it never answered, to the others */
    (void)herd_loop_chan_stop(c->loop, w->chan);
    herd_chan_close(w->chan);
  }
  if (w->prev)
    w->prev->next = w->next;
  else
    c->workers = w->next;
  if (w->next)
    w->next->prev = w->prev;
  node__worker_free(w);
  free(w->replace_text);
  free(w);
  sup__check_done(c);
}

/* ---- a slot's transitions ------------------------------------------ */

static void restart_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct slot *s = data;
  herd_cluster_t *c = s->c;
  if (s->active && !s->cur && c->state < C_STOPPING)
    (void)sup__start_worker(c, s->id, 0);
}

/* A slot's worker died: when does its replacement start? */
static void schedule_restart(herd_cluster_t *c, struct slot *s, uint64_t uptime) {
  uint64_t now = herd__now_ms();
  int max_r = c->o.max_restarts, window = c->o.restart_window_ms;
  if (uptime >= (uint64_t)c->o.min_uptime_ms) {
    /* It ran long enough: a crash, not a crash loop. Replace it now and
     * forget the early deaths before it (as PM2's unstable restarts). */
    s->fails = 0;
    s->nstarts = 0;
    c->st.restarts++;
    sup__emit(c, HERD_EV_RESTART, 0, s->id, 0, 0, 0, 0, 0, NULL);
    (void)sup__start_worker(c, s->id, 0);
    return;
  }
  /* An early death. Too many within the window: park the slot. */
  if (!s->starts)
    s->starts = calloc((size_t)max_r, sizeof *s->starts);
  int recent = 0;
  for (int i = 0; s->starts && i < s->nstarts; i++)
    if (now - s->starts[i] < (uint64_t)window)
      recent++;
  if (recent >= max_r) {
    s->state = S_PARKED;
    s->nstarts = 0;
    s->fails = 0;
    c->st.parked++;
    s->retry_at_ms = now + (uint64_t)c->o.cooldown_ms;
    sup__emit(c, HERD_EV_PARKED, 0, s->id, 0, recent + 1, 0, (uint64_t)c->o.cooldown_ms,
              0, NULL);
    (void)herd_loop_timer_start(c->loop, &s->restart_timer, (uint64_t)c->o.cooldown_ms,
                                restart_cb, s);
    return;
  }
  if (s->starts) {
    if (s->nstarts < max_r)
      s->starts[s->nstarts++] = now;
    else {
      s->starts[s->starts_head] = now;
      s->starts_head = (s->starts_head + 1) % max_r;
    }
  }
  /* Exponential backoff, capped so that max_restarts early deaths still
   * fit in the window: a crash loop is parked (and reported), not just
   * slowed down forever. */
  uint64_t cap = (uint64_t)window / (2u * (uint64_t)max_r);
  if (cap > BACKOFF_CAP_MS)
    cap = BACKOFF_CAP_MS;
  if (cap < BACKOFF_BASE_MS)
    cap = BACKOFF_BASE_MS;
  s->fails++;
  uint64_t delay = (uint64_t)BACKOFF_BASE_MS << (s->fails > 9 ? 9 : s->fails - 1);
  if (delay > cap)
    delay = cap;
  c->st.restarts++;
  s->state = S_BACKOFF;
  s->retry_at_ms = now + delay;
  sup__emit(c, HERD_EV_RESTART, 0, s->id, 0, 0, 0, delay, 0, NULL);
  (void)herd_loop_timer_start(c->loop, &s->restart_timer, delay, restart_cb, s);
}


static void slot_on_ready(herd_cluster_t *c, struct slot *s, struct worker *w) {
  if (s->succ == w) {
    /* A successor: it takes over, the old one goes. */
    struct worker *old = s->cur;
    s->cur = w;
    s->succ = NULL;
    if (s->state == S_REPLACING)
      s->state = S_RUNNING;
    if (old)
      sup__worker_stop(c, old, old->replace_reason ? old->replace_reason
                               : old->retiring    ? HERD_REASON_RETIRED
                                                  : HERD_REASON_RELOAD);
  }
  if (c->state == C_RELOADING && c->reload_wait == w) {
    /* The slot is done (also when its old worker died meanwhile and
     * this one was promoted already): on to the next. */
    c->reload_wait = NULL;
    c->reload_cursor++;
    sup__reload_next(c);
  }
  rr__resume(c);
  rp__steer_all(c); /* reuseport: the slot serves (again) */
  sup__maybe_all_ready(c);
}

/* What is left of an inactive slot when its workers are gone. */
void sup__slot_emptied(herd_cluster_t *c, struct slot *s) {
  if (s->cur || s->succ)
    return;
  if (!s->active) {
    rp__close(c, s);
    s->state = S_OFF;
  } else if (s->state != S_BACKOFF && s->state != S_PARKED) {
    s->state = S_WAITING;
  }
}

static void slot_on_exit(herd_cluster_t *c, struct slot *s, struct worker *w,
                         uint64_t uptime) {
  int was_cur = s->cur == w, was_succ = s->succ == w;
  if (was_cur)
    s->cur = NULL;
  if (was_succ)
    s->succ = NULL;
  if (c->state == C_RELOADING && c->reload_wait == w) {
    c->reload_wait = NULL;
    if (!s->active) {
      /* its slot was scaled away meanwhile: the reload goes on */
      c->reload_cursor++;
      sup__reload_next(c);
    } else {
      c->st.reloads_failed++;
      c->state = C_RUNNING;
      c->reload_again = 0;
      sup__emit(c, HERD_EV_RELOAD, HERD_REASON_RELOAD_FAILED, -1, 0, 0, 0, 0, 0, NULL);
    }
  }
  if (c->state < C_STOPPING && s->active) {
    if (was_succ) {
      /* A successor that died before taking over: its slot still has
       * the old worker, unless that one is gone too. */
      if (s->cur)
        s->state = S_RUNNING;
      else
        schedule_restart(c, s, uptime);
    } else if (was_cur && s->state == S_RESTART) {
      /* stopped for a restart: a fresh one now, no backoff */
      c->st.restarts++;
      sup__emit(c, HERD_EV_RESTART, 0, s->id, 0, 0, 0, 0, 0, NULL);
      (void)sup__start_worker(c, s->id, 0);
    } else if (was_cur && !w->stop_reason) {
      if (s->succ) {
        /* It retired (or died) while its successor starts: promote now
         * so the successor's readiness needs no old worker. */
        s->cur = s->succ;
        s->succ = NULL;
        s->state = S_RUNNING;
      } else if (w->disc) {
        /* it left when asked to: a fresh one now, no early death */
        c->st.restarts++;
        sup__emit(c, HERD_EV_RESTART, 0, s->id, 0, 0, 0, 0, 0, NULL);
        (void)sup__start_worker(c, s->id, 0);
      } else {
        schedule_restart(c, s, uptime);
      }
    }
  }
  sup__slot_emptied(c, s);
  rp__steer_all(c); /* reuseport: a slot without a ready worker serves no more */
}

void sup__worker_exited(herd_cluster_t *c, struct worker *w, int status) {
  enum wstate was = w->state;
  sup__pid_del(c, w);
  w->state = W_EXITED;
  herd_loop_timer_stop(c->loop, &w->ready_timer);
  herd_loop_timer_stop(c->loop, &w->kill_timer);
  rr__stop_timers(c, w);
  herd__closep(&w->pidfd);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  uint64_t uptime = herd__now_ms() - w->started_ms;
  if (was == W_KILLING) {
    w->exit_reason = HERD_REASON_KILLED;
    c->st.exits_killed++;
  } else if (w->stop_reason) {
    w->exit_reason = HERD_REASON_STOPPED;
    c->st.exits_stopped++;
  } else if (w->disc) {
    w->exit_reason = HERD_REASON_DISCONNECTED; /* whatever its code */
    c->st.exits_disconnected++;
  } else if (w->retiring) {
    w->exit_reason = HERD_REASON_RETIRED;
    c->st.exits_retired++;
  } else if (code == 0) {
    w->exit_reason = HERD_REASON_EXITED;
    c->st.exits_clean++;
  } else {
    w->exit_reason = HERD_REASON_CRASHED;
    c->st.exits_crashed++;
  }
  sup__emit(c, HERD_EV_EXITED, w->exit_reason, w->slot, w->pid, code, sig, 0, uptime,
            NULL);
  struct slot *s = c->slots[w->slot];
  s->has_exit = 1;
  s->exit_code = code;
  s->exit_sig = sig;
  s->exit_reason = w->exit_reason;
  /* A worker that never became ready is an early death whatever its
   * uptime (one killed at the ready timeout was restarted at once, for
   * ever, when the timeout was longer than min_uptime). */
  if (!w->was_ready)
    uptime = 0;
  slot_on_exit(c, s, w, uptime);
  sup__worker_free_if_done(c, w);
  sup__check_done(c);
}

void sup__worker_retire(herd_cluster_t *c, struct worker *w) {
  if (sup__stopping(w) || w->retiring || c->state >= C_STOPPING)
    return;
  /* It is going away by itself: start its successor now. */
  w->retiring = 1;
  struct slot *s = c->slots[w->slot];
  int early = herd__now_ms() - w->started_ms < (uint64_t)c->o.min_uptime_ms;
  int now = s->cur == w && !s->succ && s->active && !early;
  /* One that retires as soon as it starts is a crash loop in disguise:
   * its successor comes after it exits, with backoff. */
  sup__emit(c, HERD_EV_RETIRE, HERD_REASON_RETIRED, w->slot, w->pid, now, 0, 0, 0, NULL);
  if (now)
    (void)sup__start_worker(c, w->slot, 1);
}

struct worker *sup__steerable(herd_cluster_t *c, int slot, int *err) {
  *err = -ECANCELED;
  if (c->state >= C_STOPPING)
    return NULL;
  *err = -ENOENT;
  if (slot < 0 || slot >= c->nslots)
    return NULL;
  struct slot *s = c->slots[slot];
  struct worker *w = s->cur;
  if (!s->active || !sup__alive(w) || sup__stopping(w) || s->state == S_RESTART)
    return NULL;
  return w;
}

int sup__replace(herd_cluster_t *c, int slot, int reason, const char *text) {
  int err;
  struct worker *w = sup__steerable(c, slot, &err);
  if (!w)
    return err;
  struct slot *s = c->slots[slot];
  if (s->succ || w->retiring || w->replace_reason)
    return -EBUSY;
  if (text && !(w->replace_text = strdup(text)))
    return -ENOMEM;
  w->replace_reason = reason;
  int r = sup__start_worker(c, slot, 1);
  if (r < 0) {
    w->replace_reason = 0;
    free(w->replace_text);
    w->replace_text = NULL;
  }
  return r < 0 ? r : 0;
}

/* ---- starting a worker ---------------------------------------------- */

int sup__start_worker(herd_cluster_t *c, int slot, int successor) {
  struct slot *s = c->slots[slot];
  /* An event callback just before this call (RESTART, RELOAD begin) may
   * have stopped the cluster - and, with no worker left, ended it: no
   * worker may start after that, to be left unreaped. */
  if (c->state >= C_STOPPING)
    return -ECANCELED;
  struct worker *w = calloc(1, sizeof *w);
  int r = w ? rp__open(c, s) : -ENOMEM;
  if (r == 0) {
    w->c = c;
    w->slot = slot;
    w->pidfd = -1;
    w->out[0].fd = w->out[1].fd = -1;
    r = launch__worker(c, w);
  }
  if (r < 0) {
    free(w);
    c->st.spawn_failures++;
    sup__emit(c, HERD_EV_ERROR, HERD_REASON_SPAWN_FAILED, slot, 0, r, 0, 0, 0, NULL);
    if (c->state == C_STARTING)
      return r; /* at start-up: the caller gives up */
    /* An early death (uptime 0): the same backoff, counted in the
     * restart window, so a slot whose program is gone is parked in the
     * end */
    if (!successor && c->state < C_STOPPING) {
      schedule_restart(c, s, 0);
    } else if (successor && c->state == C_RELOADING) {
      c->st.reloads_failed++;
      c->state = C_RUNNING;
      c->reload_again = 0;
      sup__emit(c, HERD_EV_RELOAD, HERD_REASON_RELOAD_FAILED, -1, 0, r, 0, 0, 0, NULL);
    }
    return r;
  }
  wio__watch_output(c, w);
  wio__watch_chan(c, w);
  w->state = W_STARTING;
  w->started_ms = herd__now_ms();
  c->st.spawns++;
  s->nspawns++;
  sup__pid_add(c, w);
  w->next = c->workers;
  if (w->next)
    w->next->prev = w;
  c->workers = w;
  if (successor) {
    s->succ = w;
    s->state = S_REPLACING;
  } else {
    s->cur = w;
    s->state = S_RUNNING;
  }
  sup__emit(c, HERD_EV_STARTED, successor ? HERD_REASON_SUCCESSOR : 0, slot, w->pid, 0, 0,
            0, 0, NULL);
  switch (c->o.ready) {
  case HERD_READY_NOTIFY:
  case HERD_READY_LISTENING:
  case HERD_READY_IPC:
    (void)herd_loop_timer_start(c->loop, &w->ready_timer, (uint64_t)c->o.ready_timeout_ms,
                                ready_timer_cb, w);
    break;
  case HERD_READY_DELAY:
    (void)herd_loop_timer_start(c->loop, &w->ready_timer, (uint64_t)c->o.ready_delay_ms,
                                ready_timer_cb, w);
    break;
  default:
    if (c->o.settle_ms <= 0)
      sup__worker_ready(c, w);
    else
      (void)herd_loop_timer_start(c->loop, &w->ready_timer, (uint64_t)c->o.settle_ms,
                                  ready_timer_cb, w);
    break;
  }
  return 0;
}
