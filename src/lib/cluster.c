/*
 * cluster.c - the master: a pool of workers sharing listening sockets,
 * restarted when they die, reloaded slot by slot, stopped gracefully.
 * The herd program and herd_cluster_run users share this one engine.
 *
 * State: one slot per worker position. A slot has its current worker and,
 * while it is being reloaded or replaced, a successor. Every event comes
 * from one loop: signalfd (CHLD, TERM, INT, QUIT, HUP, TTIN, TTOU, USR1),
 * the notify socket, worker output pipes, timers. An idle master sleeps
 * in epoll_wait.
 *
 * Children are reaped with waitpid(-1) on SIGCHLD (the master owns all
 * its children, and as PID 1 it must reap orphans too); pidfds are kept
 * to signal workers without ever hitting a recycled pid.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "linux/os.h"

#define LINE_MAX_OUT 16384
#define BACKOFF_BASE_MS 100
#define BACKOFF_CAP_MS 30000
#define RR_MAX_QUEUED 4096 /* bytes: about 60 handed connections */
#define HANDOFF_TIMEOUT_MS 3000 /* a handed connection not taken by then */
#define LISTEN_STALL_MS 3000 /* a listen queue never empty this long: told */
#define DRAIN_POLL_MS 20      /* reuseport scale-down: look at the queue */
#define DRAIN_GRACE_MS 500    /* ... for at least this long, for handshakes
                                 begun before it stopped being chosen */

/* The accept-queue watch of one listening socket (listenq.c). */
struct lqw {
  herd_cluster_t *c;
  int slot;            /* reuseport: the slot whose socket it is, else -1 */
  int addr;            /* index in the listen list */
  struct herd__lq *q;
};

enum wstate { W_STARTING, W_READY, W_STOPPING };

struct outbuf {
  int fd;
  size_t len;
  char *data; /* LINE_MAX_OUT bytes while a partial line waits, else NULL:
                 an idle worker costs the master no line buffer */
};

struct worker {
  herd_cluster_t *c;
  int slot;
  pid_t pid;
  int pidfd;
  int state;
  int alive;
  int retiring;
  int killed;
  uint64_t started_ms;
  herd_timer_t ready_timer;
  herd_timer_t kill_timer;
  struct outbuf out[2]; /* stdout, stderr pipes (fd -1 if none) */
  herd_chan_t *chan;    /* --ipc: our end of the worker's channel */
  herd_timer_t handoff_timer; /* roundrobin: connections handed, unanswered */
  uint64_t handoff_acks; /* the channel's ACK count when it was armed */
  int deaf;             /* it did not take them: none more for it */
  uint64_t stop_asked_ms; /* a stop waiting for handed connections */
  const char *stop_why;
  const char *replace_why; /* why it is being replaced (successor first) */
  struct worker *next;
};

/* A process a worker left behind (it daemonized: setsid and fork, so
 * the worker's process group kill did not reach it) that came back to
 * us, the child subreaper. Not supervised: told about, and ended at the
 * stop. */
struct orphan {
  herd_cluster_t *c;
  pid_t pid;
  int pidfd;
  int slot;
  herd_timer_t kill_timer;
  struct orphan *next;
};

struct slot {
  int active;
  struct worker *cur;
  struct worker *succ;
  int fails;            /* early deaths in a row */
  int parked;
  herd_timer_t restart_timer;
  uint64_t *starts;     /* ring of restart times, max_restarts long */
  int nstarts, starts_head;
  int *rp_fds;          /* reuseport: this slot's sockets */
  struct lqw *rp_lq;    /* and their accept-queue watches */
  int steered_off;      /* reuseport, scaled down: no more new connections
                           for its sockets (until they are closed) */
  uint64_t drain_since;
  herd_timer_t drain_timer; /* until its sockets' queues are empty */
  herd_cluster_t *c;
  int id;
  int restart_now;      /* herd_cluster_restart: start anew on exit */
  int fresh;            /* scale_to: activated, its worker not started */
  uint64_t retry_at_ms; /* when restart_timer fires */
  unsigned nspawns;     /* workers started in this slot */
  int has_exit;         /* the last exit of a worker of this slot: */
  int exit_code, exit_sig;
  const char *exit_cause;
};

struct herd_cluster {
  herd_cluster_opts_t o;
  int (*worker_main)(void *);
  void *arg;
  herd_loop_t *loop;
  int nlisten;
  herd_addr_t *addrs;   /* what to bind (reuseport binds per slot) */
  int *fds;             /* shared sockets */
  struct lqw *lq;       /* their accept-queue watches (not roundrobin) */
  int **rp_order;       /* reuseport: per address, the slots whose
                           sockets are in its group, in the kernel's order */
  int *rp_n;
  int migrates;         /* the kernel moves a closed listener's queue */
  char (*texts)[128];   /* the addresses as text, for what we say */
  int own_fds;          /* we bound them (close them at the end) */
  int notify_fd;
  char notify_name[108];
  struct slot **slots;  /* each allocated alone: timers inside must not move */
  int nslots;           /* allocated */
  int started;          /* the first workers are up: failures back off */
  int want;             /* active slots wanted */
  struct worker *workers;
  int shutting_down;
  int graceful;
  int kills;            /* workers SIGKILLed at stop */
  int reloading;
  int reload_cursor;
  struct worker *reload_wait; /* the successor the reload waits for */
  int reload_again;
  int all_ready_sent;
  int done;
  int out_paused;       /* herd_cluster_pause_output */
  herd_timer_t drain_timer; /* at the end: the last output, bounded */
  int chld_saved;
  struct sigaction old_chld;
  uint64_t stop_ms;     /* when the first stop request came */
  int stop_sig;
  int rr_next;          /* roundrobin: the slot to try first */
  int rr_paused;        /* roundrobin: accepting is off, no worker free */
  uint64_t notify_said_ms; /* when a foreign notify message was last told */
  struct orphan *orphans; /* processes left behind, alive */
  int subreaper_was;      /* PR_GET_CHILD_SUBREAPER before us */
  herd_timer_t rr_timer;
  herd_cluster_stats_t st; /* counters (workers/reloading/stopping are
                              filled in by herd_cluster_stats) */
};

static void emit(herd_cluster_t *c, int type, int slot, pid_t pid, int code,
                 int sig, uint64_t delay, uint64_t uptime, const char *text) {
  if (!c->o.on_event)
    return;
  herd_event_t ev = {type, slot, pid, code, sig, delay, uptime, text};
  c->o.on_event(&ev, c->o.data);
}

static int start_worker(herd_cluster_t *c, int slot, int successor);
static void schedule_restart(herd_cluster_t *c, struct slot *s, uint64_t uptime);
static void reload_next(herd_cluster_t *c);
static void check_done(herd_cluster_t *c);
static void rr_resume(herd_cluster_t *c);
struct orphan;
static void orphan_stop(herd_cluster_t *c, struct orphan *o);

/* ---- output --------------------------------------------------- */

static void out_emit(herd_cluster_t *c, struct worker *w, int stream,
                     const char *p, size_t n) {
  if (c->o.on_output)
    c->o.on_output(w->slot, w->pid, stream, p, n, c->o.data);
}

static void worker_free_if_done(herd_cluster_t *c, struct worker *w);

/* Pass on the whole lines of p[0..n) and keep the rest in b (a line
 * longer than LINE_MAX_OUT goes in pieces; a rest that cannot be kept
 * for want of memory is passed on as it is). */
static void out_lines(struct worker *w, int stream, struct outbuf *b,
                      char *p, size_t n) {
  char *start = p, *end = p + n, *nl;
  while ((nl = memchr(start, '\n', (size_t)(end - start)))) {
    out_emit(w->c, w, stream, start, (size_t)(nl - start));
    start = nl + 1;
  }
  size_t rest = (size_t)(end - start);
  if (rest == LINE_MAX_OUT) {
    out_emit(w->c, w, stream, start, rest);
    rest = 0;
  }
  if (rest && !b->data && !(b->data = malloc(LINE_MAX_OUT))) {
    out_emit(w->c, w, stream, start, rest); /* cut, rather than lost */
    rest = 0;
  }
  if (rest)
    memmove(b->data, start, rest);
  b->len = rest;
  if (!rest) {
    free(b->data);
    b->data = NULL;
  }
}

static void out_cb(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  (void)events;
  struct worker *w = data;
  int i = w->out[0].fd == fd ? 0 : 1;
  struct outbuf *b = &w->out[i];
  char tmp[LINE_MAX_OUT];
  ssize_t n = 0;
  /* A few reads per wakeup (a fast writer fills a big pipe), bounded so
   * that one worker's flood cannot hold up the loop. Whole lines are
   * read into tmp; only a partial line's rest is kept in b. */
  for (int round = 0; round < 16; round++) {
    char *into = b->data ? b->data + b->len : tmp;
    size_t room = b->data ? LINE_MAX_OUT - b->len : sizeof tmp;
    n = herd__read(fd, into, room);
    if (n <= 0)
      break;
    if (b->data)
      out_lines(w, i + 1, b, b->data, b->len + (size_t)n);
    else
      out_lines(w, i + 1, b, tmp, (size_t)n);
    if (w->c->out_paused)
      return; /* the consumer asked for a pause from out_emit */
  }
  if (n > 0 || n == -EAGAIN)
    return;
  /* EOF or error: flush the partial line, stop watching. */
  if (b->len)
    out_emit(w->c, w, i + 1, b->data, b->len);
  b->len = 0;
  free(b->data);
  b->data = NULL;
  (void)herd_loop_del(loop, fd);
  herd__closep(&b->fd);
  worker_free_if_done(w->c, w);
}

/* ---- workers -------------------------------------------------- */

/* --ipc: the master reads what workers send (so they never block on a
 * full channel) and answers Node's handle protocol; messages themselves
 * are not acted on yet. */
static void chan_cb(herd_loop_t *loop, herd_chan_t *ch, int err,
                    herd_chan_msg_t *msg, void *data) {
  (void)loop;
  (void)ch;
  struct worker *w = data;
  if (msg && msg->fd >= 0)
    herd__close(msg->fd);
  if (err == 0 || err == HERD_EFRAME || err == HERD_ETOOLONG)
    return;
  /* The end: the loop no longer watches it. */
  herd_chan_close(w->chan);
  w->chan = NULL;
}

static struct worker *find_pid(herd_cluster_t *c, pid_t pid) {
  for (struct worker *w = c->workers; w; w = w->next)
    if (w->pid == pid && w->alive)
      return w;
  return NULL;
}

static void worker_free_if_done(herd_cluster_t *c, struct worker *w) {
  if (w->alive || w->out[0].fd >= 0 || w->out[1].fd >= 0)
    return;
  if (w->chan) {
    (void)herd_loop_chan_stop(c->loop, w->chan);
    herd_chan_close(w->chan);
  }
  for (struct worker **pp = &c->workers; *pp; pp = &(*pp)->next)
    if (*pp == w) {
      *pp = w->next;
      break;
    }
  free(w);
  check_done(c);
}

/* SIGKILL to the worker's process group (it leads one), so what it
 * started dies with it; unreaped, so the group id is still its own. */
static void kill_hard(struct worker *w) {
  if (kill(-w->pid, SIGKILL) < 0)
    (void)herd__os_pidfd_kill(w->pidfd, SIGKILL);
}

static void kill_timer_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct worker *w = data;
  if (!w->alive)
    return;
  w->killed = 1;
  if (w->c->shutting_down)
    w->c->kills++; /* what the stop had to kill (herd_cluster_run's 1) */
  kill_hard(w);
  emit(w->c, HERD_EV_KILLED, w->slot, w->pid, 0, SIGKILL, 0, 0, NULL);
}

static void send_stop(herd_cluster_t *c, struct worker *w, const char *why) {
  int sig = c->o.stop_signal ? c->o.stop_signal : SIGTERM;
  (void)herd__os_pidfd_kill(w->pidfd, sig);
  emit(c, HERD_EV_STOPPING, w->slot, w->pid, 0, sig, 0, 0, why);
  if (!(c->shutting_down && c->graceful))
    (void)herd_loop_timer_start(c->loop, &w->kill_timer,
                                (uint64_t)(c->o.kill_timeout_ms
                                               ? c->o.kill_timeout_ms
                                               : 5000),
                                kill_timer_cb, w);
}

/* Connections handed to a worker (roundrobin) that are still in our
 * queue must reach it before it is told to stop - it serves what it has
 * received, but what never left here would be lost. */
static void handoff_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct worker *w = data;
  herd_cluster_t *c = w->c;
  if (!w->alive)
    return;
  ssize_t q = w->chan ? herd_chan_flush(w->chan) : 0;
  if (q > 0 && herd__now_ms() - w->stop_asked_ms <
                   (uint64_t)(c->o.kill_timeout_ms ? c->o.kill_timeout_ms : 5000)) {
    (void)herd_loop_timer_start(c->loop, &w->ready_timer, 1, handoff_cb, w);
    return;
  }
  send_stop(c, w, w->stop_why);
}

static void stop_worker(herd_cluster_t *c, struct worker *w, const char *why) {
  if (!w || !w->alive || w->state == W_STOPPING)
    return;
  w->state = W_STOPPING; /* no more connections for it from here on */
  herd_loop_timer_stop(c->loop, &w->ready_timer);
  if (w->chan && herd_chan_flush(w->chan) > 0) {
    w->stop_asked_ms = herd__now_ms();
    w->stop_why = why;
    (void)herd_loop_timer_start(c->loop, &w->ready_timer, 1, handoff_cb, w);
    return;
  }
  send_stop(c, w, why);
}

static int all_ready(herd_cluster_t *c) {
  for (int i = 0; i < c->nslots; i++) {
    struct slot *s = c->slots[i];
    if (s->active && (!s->cur || s->cur->state != W_READY))
      return 0;
  }
  return 1;
}

static void became_ready(herd_cluster_t *c, struct worker *w) {
  if (w->state != W_STARTING)
    return;
  w->state = W_READY;
  herd_loop_timer_stop(c->loop, &w->ready_timer);
  emit(c, HERD_EV_READY, w->slot, w->pid, 0, 0, 0,
       herd__now_ms() - w->started_ms, NULL);
  struct slot *s = c->slots[w->slot];
  if (s->succ == w) {
    /* A successor: it takes over, the old one goes. */
    struct worker *old = s->cur;
    s->cur = w;
    s->succ = NULL;
    stop_worker(c, old, !old ? NULL
                        : old->replace_why ? old->replace_why
                        : old->retiring ? "retired" : "reload");
  }
  if (c->reloading && c->reload_wait == w) {
    /* The slot is done (also when its old worker died meanwhile and
     * this one was promoted already): on to the next. */
    c->reload_wait = NULL;
    c->reload_cursor++;
    reload_next(c);
  }
  rr_resume(c);
  if (!c->shutting_down && !c->reloading && !c->all_ready_sent &&
      all_ready(c)) {
    c->all_ready_sent = 1;
    emit(c, HERD_EV_ALL_READY, -1, 0, c->want, 0, 0, 0, NULL);
  }
}

static void ready_timer_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct worker *w = data;
  herd_cluster_t *c = w->c;
  if (!w->alive || w->state != W_STARTING)
    return;
  if (c->o.ready != HERD_READY_NOTIFY) {
    became_ready(c, w); /* alive after the delay, or the settle time */
    return;
  }
  /* Not ready in time: a failed start. */
  emit(c, HERD_EV_ERROR, w->slot, w->pid, -ETIMEDOUT, 0, 0, 0,
       "not ready within the ready timeout");
  w->killed = 1;
  kill_hard(w);
}

static void restart_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct slot *s = data;
  herd_cluster_t *c = s->c;
  s->parked = 0;
  if (s->active && !s->cur && !c->shutting_down)
    start_worker(c, s->id, 0);
}

/* How many listening fds a worker gets: none in roundrobin mode, where
 * the master accepts. */
static int worker_nfds(herd_cluster_t *c) {
  return c->o.balance == HERD_BALANCE_ROUNDROBIN ? 0 : c->nlisten;
}

/* Where fds 3.. of a worker of this slot come from. */
static const int *slot_fds(herd_cluster_t *c, int slot) {
  if (c->o.balance == HERD_BALANCE_REUSEPORT && c->slots[slot]->rp_fds)
    return c->slots[slot]->rp_fds;
  return c->fds;
}

/* Nobody accepts on a socket (or does again, after that was told). */
static void lq_said(void *data, int fd, int queued, int ms) {
  (void)fd;
  struct lqw *x = data;
  herd_cluster_t *c = x->c;
  char text[512];
  if (queued > 0) {
    c->st.listen_stalls++;
    snprintf(text, sizeof text,
             "%s: %d connection%s waited %d s in the listen queue and no worker "
             "took %s: do the workers accept on the socket they inherit (fd %d, "
             "LISTEN_FDS)? A worker that binds a port of its own leaves it unserved",
             c->texts[x->addr], queued, queued == 1 ? " has" : "s have", ms / 1000,
             queued == 1 ? "it" : "them", 3 + x->addr);
  } else {
    snprintf(text, sizeof text, "%s: the listen queue is served again (after %d s)",
             c->texts[x->addr], ms / 1000);
  }
  emit(c, HERD_EV_NOTICE, x->slot, 0, queued, 0, 0, 0, text);
}

/* Watch the accept queues of n sockets (TCP listeners only; others are
 * left unwatched). */
static struct lqw *lq_watch(herd_cluster_t *c, const int *fds, int n, int slot) {
  struct lqw *v = calloc((size_t)n, sizeof *v);
  for (int i = 0; v && i < n; i++) {
    v[i] = (struct lqw){.c = c, .slot = slot, .addr = i};
    if (fds[i] >= 0)
      (void)herd__lq_new(&v[i].q, c->loop, fds[i], LISTEN_STALL_MS, lq_said, &v[i]);
  }
  return v;
}

static void lq_unwatch(struct lqw *v, int n) {
  for (int i = 0; v && i < n; i++)
    herd__lq_free(v[i].q);
  free(v);
}

/* The SO_REUSEPORT group of address i chooses among the sockets of the
 * slots not steered off (reuseport.c). */
static void rp_steer(herd_cluster_t *c, int i) {
  int n = c->rp_n[i], nskip = 0, fd = -1;
  int *skip = n ? malloc((size_t)n * sizeof *skip) : NULL;
  if (n && !skip)
    return;
  for (int k = 0; k < n; k++) {
    struct slot *s = c->slots[c->rp_order[i][k]];
    if (s->steered_off)
      skip[nskip++] = k; /* ascending */
    else if (fd < 0)
      fd = s->rp_fds[i];
  }
  if (fd < 0 && n)
    fd = c->slots[c->rp_order[i][0]]->rp_fds[i];
  int r = fd >= 0 ? herd__rp_steer(fd, n, skip, nskip) : 0;
  free(skip);
  if (r < 0)
    emit(c, HERD_EV_ERROR, -1, 0, r, 0, 0, 0,
         "cannot steer the reuseport group away from a slot being scaled down "
         "(its queued connections may be reset when it closes)");
}

static void rp_steer_all(herd_cluster_t *c) {
  if (c->rp_order && !c->migrates)
    for (int i = 0; i < c->nlisten; i++)
      rp_steer(c, i);
}

static void rp_joined(herd_cluster_t *c, struct slot *s) {
  for (int i = 0; c->rp_order && i < c->nlisten; i++)
    c->rp_order[i][c->rp_n[i]++] = s->id;
}

/* Its sockets are closed: the kernel puts the group's last socket where
 * each was. */
static void rp_left(herd_cluster_t *c, struct slot *s) {
  for (int i = 0; c->rp_order && i < c->nlisten; i++)
    for (int k = 0; k < c->rp_n[i]; k++)
      if (c->rp_order[i][k] == s->id) {
        c->rp_order[i][k] = c->rp_order[i][--c->rp_n[i]];
        break;
      }
}

static int open_reuseport(herd_cluster_t *c, struct slot *s) {
  if (c->o.balance != HERD_BALANCE_REUSEPORT || s->rp_fds || c->nlisten == 0)
    return 0;
  s->rp_fds = malloc((size_t)c->nlisten * sizeof *s->rp_fds);
  if (!s->rp_fds)
    return -ENOMEM;
  for (int i = 0; i < c->nlisten; i++) {
    /* The socket bound at start (which fixed the port) is the first
     * slot's: a member of the group that nobody accepted on would
     * strand the connections the kernel hashes to it. */
    if (c->fds[i] >= 0) {
      s->rp_fds[i] = c->fds[i];
      c->fds[i] = -1;
      continue;
    }
    int fd = herd_listen_open(&c->addrs[i], 0, HERD_LISTEN_REUSEPORT, NULL);
    if (fd < 0) {
      while (i-- > 0)
        herd__close(s->rp_fds[i]);
      free(s->rp_fds);
      s->rp_fds = NULL;
      return fd;
    }
    s->rp_fds[i] = fd;
  }
  s->rp_lq = lq_watch(c, s->rp_fds, c->nlisten, s->id);
  rp_joined(c, s);
  return 0;
}

static void close_reuseport(struct slot *s, int n) {
  if (!s->rp_fds)
    return;
  herd_cluster_t *c = s->c;
  lq_unwatch(s->rp_lq, n);
  s->rp_lq = NULL;
  herd_loop_timer_stop(c->loop, &s->drain_timer);
  for (int i = 0; i < n; i++)
    herd__close(s->rp_fds[i]);
  rp_left(c, s);
  if (s->steered_off) {
    s->steered_off = 0;
    rp_steer_all(c);
  }
  free(s->rp_fds);
  s->rp_fds = NULL;
}

struct fork_ctx {
  herd_cluster_t *c;
  int slot;
  const int *fds;
  int out[2]; /* write ends, -1 = inherit */
  int chan;   /* the worker's end of its channel, or -1 */
  sigset_t mask;
};

/* In the forked worker (herd_cluster_run with worker_main): never
 * returns. The master's fds (loop, signalfd, notify socket) are closed. */
static int fork_worker(void *p) {
  struct fork_ctx *f = p;
  herd_cluster_t *c = f->c;
  for (int sig = 1; sig < _NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP)
      (void)signal(sig, SIG_DFL);
  sigset_t empty;
  sigemptyset(&empty);
  (void)sigprocmask(SIG_SETMASK, &empty, NULL);
  (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
  (void)setpgid(0, 0);
  if (c->o.spawn.flags & HERD_SPAWN_UMASK)
    umask((mode_t)c->o.spawn.umask);
  for (int i = 0; i < 2; i++)
    if (f->out[i] >= 0 && dup2(f->out[i], i + 1) < 0)
      _exit(127);
  /* Lift the sockets above their targets, then put them at 3.. */
  int nfds = worker_nfds(c);
  int base = 3 + nfds + 64;
  for (int i = 0; i < nfds; i++)
    if (dup3(f->fds[i], base + i, O_CLOEXEC) < 0)
      _exit(127);
  if (f->chan >= 0 && dup3(f->chan, base + nfds, O_CLOEXEC) < 0)
    _exit(127);
  for (int i = 0; i < nfds; i++)
    if (dup3(base + i, 3 + i, 0) < 0)
      _exit(127);
  int top = 3 + nfds;
  char buf[32];
  if (f->chan >= 0) {
    if (dup3(base + nfds, top, 0) < 0)
      _exit(127);
    snprintf(buf, sizeof buf, "%d", top);
    setenv("NODE_CHANNEL_FD", buf, 1);
    setenv("NODE_CHANNEL_SERIALIZATION_MODE", "json", 1);
    top++;
  }
  if (close_range((unsigned)top, ~0u, 0) < 0) {
    /* an old kernel: close what the soft limit allows, one by one */
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = top; fd < (max > 0 ? max : 1024); fd++)
      (void)close((int)fd);
  }
  snprintf(buf, sizeof buf, "%d", nfds);
  setenv("LISTEN_FDS", buf, 1);
  snprintf(buf, sizeof buf, "%d", (int)getpid());
  setenv("LISTEN_PID", buf, 1);
  snprintf(buf, sizeof buf, "%d", f->slot);
  setenv("HERD_WORKER_ID", buf, 1);
  {
    char names[16 * 12] = "";
    size_t nl = 0;
    for (int i = 0; i < nfds && nl + 12 < sizeof names; i++)
      nl += (size_t)snprintf(names + nl, sizeof names - nl, "%slisten%d",
                             i ? ":" : "", i);
    setenv("LISTEN_FDNAMES", names, 1);
  }
  setenv("NOTIFY_SOCKET", c->notify_name, 1);
  int r = c->worker_main(c->arg);
  fflush(NULL);
  _exit(r & 0xff);
}

static int spawn_exec(herd_cluster_t *c, int slot, const int *fds, int out[2],
                      pid_t *pid, int *pidfd, herd_chan_t **chan) {
  /* env: the caller's, plus the protocol's variables */
  size_t nuser = 0;
  if (c->o.spawn.env_mode != HERD_ENV_INHERIT)
    for (const char *const *e = c->o.spawn.env; e && *e; e++)
      nuser++;
  const char **env = calloc(nuser + 8, sizeof *env);
  herd_fdmap_t *map = calloc((size_t)c->nlisten + 1, sizeof *map);
  char *names = malloc((size_t)c->nlisten * 12 + 32);
  if (!env || !map || !names) {
    free(env);
    free(map);
    free(names);
    return -ENOMEM;
  }
  char vfds[32], vid[32], vnotify[160];
  size_t k = 0;
  static const char *const ours[] = {"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
                                     "NOTIFY_SOCKET", "HERD_WORKER_ID", NULL};
  for (size_t i = 0; i < nuser; i++) {
    /* The protocol's variables are herd's to set: a caller's entry
     * (with or without a value) would come first and win. */
    const char *e = c->o.spawn.env[i];
    int skip = 0;
    for (const char *const *v = ours; *v && !skip; v++) {
      size_t n = strlen(*v);
      skip = !strncmp(e, *v, n) && (e[n] == '=' || e[n] == '\0');
    }
    if (!skip)
      env[k++] = e;
  }
  int nfds = worker_nfds(c);
  snprintf(vfds, sizeof vfds, "LISTEN_FDS=%d", nfds);
  snprintf(vid, sizeof vid, "HERD_WORKER_ID=%d", slot);
  snprintf(vnotify, sizeof vnotify, "NOTIFY_SOCKET=%s", c->notify_name);
  size_t nl = (size_t)snprintf(names, 32, "LISTEN_FDNAMES=");
  for (int i = 0; i < nfds; i++)
    nl += (size_t)snprintf(names + nl, 12, "%slisten%d", i ? ":" : "", i);
  env[k++] = vfds;
  env[k++] = vid;
  env[k++] = vnotify;
  env[k++] = nfds ? names : "LISTEN_FDNAMES";
  env[k] = NULL;
  for (int i = 0; i < nfds; i++)
    map[i] = (herd_fdmap_t){fds[i], 3 + i};

  herd_spawn_opts_t so = c->o.spawn;
  so.env = env;
  so.env_mode = so.env_mode == HERD_ENV_REPLACE ? HERD_ENV_REPLACE : HERD_ENV_ADD;
  so.fds = map;
  so.nfds = (size_t)nfds;
  so.flags |= HERD_SPAWN_LISTEN_PID;
  /* Its own process group: a terminal's Ctrl-C reaches the master only
   * (which stops the workers gracefully), and SIGKILL at the kill timeout
   * reaches what the worker started. */
  if (!(so.flags & HERD_SPAWN_SETSID))
    so.flags |= HERD_SPAWN_SETPGID;
  so.pdeathsig = SIGKILL;
  so.stdio[0].kind = HERD_STDIO_IGNORE;
  for (int i = 0; i < 2; i++) {
    if (out[i] >= 0)
      so.stdio[i + 1] = (herd_stdio_t){HERD_STDIO_FD, out[i]};
  }
  herd_child_t child;
  int r;
  if (c->o.flags & HERD_CLUSTER_IPC)
    r = herd_fork(&child, chan, c->o.file, c->o.argv, &so);
  else
    r = herd_spawn(&child, c->o.file, c->o.argv, &so);
  free(env);
  free(map);
  free(names);
  if (r < 0)
    return r;
  *pid = child.pid;
  *pidfd = child.pidfd;
  return 0;
}

static int start_worker(herd_cluster_t *c, int slot, int successor) {
  struct slot *s = c->slots[slot];
  struct worker *w = calloc(1, sizeof *w);
  int pipes[2][2] = {{-1, -1}, {-1, -1}};
  int r = 0;
  if (!w) {
    r = -ENOMEM;
    goto fail;
  }
  w->c = c;
  w->slot = slot;
  w->pidfd = -1;
  w->out[0].fd = w->out[1].fd = -1;
  if ((r = open_reuseport(c, s)) < 0)
    goto fail;
  int out[2] = {-1, -1};
  if (c->o.flags & HERD_CLUSTER_PIPE_OUTPUT) {
    for (int i = 0; i < 2; i++) {
      if (pipe2(pipes[i], O_CLOEXEC) < 0) {
        r = -errno;
        goto fail;
      }
      /* A bigger pipe (as much as an unprivileged process may ask for,
       * 1 MiB by default): a worker that writes fast switches out less
       * often, and the master reads more per wakeup. A refusal only
       * costs speed. */
      (void)fcntl(pipes[i][0], F_SETPIPE_SZ, 1 << 20);
      out[i] = pipes[i][1];
    }
  }
  const int *fds = slot_fds(c, slot);
  if (c->worker_main) {
    int sv[2] = {-1, -1};
    if ((c->o.flags & HERD_CLUSTER_IPC) &&
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
      r = -errno;
      goto fail;
    }
    struct fork_ctx f = {.c = c, .slot = slot, .fds = fds,
                         .out = {out[0], out[1]}, .chan = sv[1]};
    fflush(NULL);
    r = herd__os_launch(fork_worker, &f, 0, &w->pid, &w->pidfd);
    herd__close(sv[1]);
    if (r == 0 && sv[0] >= 0 && herd_chan_open(&w->chan, sv[0], NULL) < 0)
      w->chan = NULL; /* it was closed: the worker sees its channel end */
    else if (r < 0)
      herd__close(sv[0]);
  } else {
    r = spawn_exec(c, slot, fds, out, &w->pid, &w->pidfd, &w->chan);
  }
  if (r < 0)
    goto fail;
  for (int i = 0; i < 2; i++) {
    herd__closep(&pipes[i][1]);
    if (pipes[i][0] >= 0) {
      w->out[i].fd = pipes[i][0];
      pipes[i][0] = -1;
      (void)herd__set_nonblock(w->out[i].fd, 1);
      if (herd_loop_add(c->loop, w->out[i].fd, c->out_paused ? 0 : EPOLLIN,
                        out_cb, w) < 0)
        herd__closep(&w->out[i].fd);
    }
  }
  if (w->chan && herd_loop_chan(c->loop, w->chan, chan_cb, w) < 0) {
    herd_chan_close(w->chan);
    w->chan = NULL;
  }
  w->alive = 1;
  w->state = W_STARTING;
  w->started_ms = herd__now_ms();
  c->st.spawns++;
  s->nspawns++;
  w->next = c->workers;
  c->workers = w;
  if (successor)
    s->succ = w;
  else
    s->cur = w;
  emit(c, HERD_EV_STARTED, slot, w->pid, 0, 0, 0, 0,
       successor ? "successor" : NULL);
  switch (c->o.ready) {
  case HERD_READY_NOTIFY:
    (void)herd_loop_timer_start(c->loop, &w->ready_timer,
                                (uint64_t)(c->o.ready_timeout_ms
                                               ? c->o.ready_timeout_ms
                                               : 60000),
                                ready_timer_cb, w);
    break;
  case HERD_READY_DELAY:
    (void)herd_loop_timer_start(c->loop, &w->ready_timer,
                                (uint64_t)c->o.ready_delay_ms, ready_timer_cb,
                                w);
    break;
  default:
    if (c->o.settle_ms < 0)
      became_ready(c, w);
    else
      (void)herd_loop_timer_start(c->loop, &w->ready_timer,
                                  (uint64_t)(c->o.settle_ms ? c->o.settle_ms
                                                            : HERD_SETTLE_MS_DEFAULT),
                                  ready_timer_cb, w);
    break;
  }
  return 0;
fail:
  for (int i = 0; i < 2; i++) {
    herd__close(pipes[i][0]);
    herd__close(pipes[i][1]);
  }
  free(w);
  c->st.spawn_failures++;
  emit(c, HERD_EV_ERROR, slot, 0, r, 0, 0, 0, "could not start a worker");
  if (!c->started)
    return r; /* at start-up: the caller gives up */
  /* An early death (uptime 0): the same backoff, counted in the restart
   * window, so a slot whose program is gone is parked in the end */
  if (!successor && !c->shutting_down) {
    schedule_restart(c, s, 0);
  } else if (successor && c->reloading) {
    c->st.reloads_failed++;
    emit(c, HERD_EV_RELOAD, -1, 0, r, 0, 0, 0, "failed: keeping the old workers");
    c->reloading = 0;
    c->reload_again = 0;
  }
  return r;
}

/* A slot's worker died: decide when its replacement starts. */
static void schedule_restart(herd_cluster_t *c, struct slot *s, uint64_t uptime) {
  int min_up = c->o.min_uptime_ms ? c->o.min_uptime_ms : 1000;
  int max_r = c->o.max_restarts ? c->o.max_restarts : 10;
  int window = c->o.restart_window_ms ? c->o.restart_window_ms : 60000;
  uint64_t now = herd__now_ms();
  if (uptime >= (uint64_t)min_up) {
    /* It ran long enough: a crash, not a crash loop. Replace it now and
     * forget the early deaths before it (as PM2's unstable restarts). */
    s->fails = 0;
    s->nstarts = 0;
    c->st.restarts++;
    emit(c, HERD_EV_RESTART, s->id, 0, 0, 0, 0, 0, NULL);
    start_worker(c, s->id, 0);
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
    s->parked = 1;
    s->nstarts = 0;
    s->fails = 0;
    uint64_t cool = (uint64_t)(c->o.cooldown_ms ? c->o.cooldown_ms : 60000);
    c->st.parked++;
    s->retry_at_ms = now + cool;
    emit(c, HERD_EV_PARKED, s->id, 0, recent + 1, 0, cool, 0, NULL);
    (void)herd_loop_timer_start(c->loop, &s->restart_timer, cool, restart_cb, s);
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
  s->retry_at_ms = now + delay;
  emit(c, HERD_EV_RESTART, s->id, 0, 0, 0, delay, 0, NULL);
  (void)herd_loop_timer_start(c->loop, &s->restart_timer, delay, restart_cb, s);
}

static void worker_exited(herd_cluster_t *c, struct worker *w, int status) {
  w->alive = 0;
  herd_loop_timer_stop(c->loop, &w->handoff_timer);
  herd_loop_timer_stop(c->loop, &w->ready_timer);
  herd_loop_timer_stop(c->loop, &w->kill_timer);
  herd__closep(&w->pidfd);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  uint64_t uptime = herd__now_ms() - w->started_ms;
  emit(c, HERD_EV_EXITED, w->slot, w->pid, code, sig, 0, uptime,
       w->state == W_STOPPING ? "stopped" : w->retiring ? "retired" : "died");
  struct slot *s = c->slots[w->slot];
  const char *cause;
  if (w->killed) {
    cause = "killed";
    c->st.exits_killed++;
  } else if (w->state == W_STOPPING) {
    cause = "stopped";
    c->st.exits_stopped++;
  } else if (w->retiring) {
    cause = "retired";
    c->st.exits_retired++;
  } else if (code == 0) {
    cause = "exited";
    c->st.exits_clean++;
  } else {
    cause = "crashed";
    c->st.exits_crashed++;
  }
  s->has_exit = 1;
  s->exit_code = code;
  s->exit_sig = sig;
  s->exit_cause = cause;
  int was_cur = s->cur == w, was_succ = s->succ == w;
  if (was_cur)
    s->cur = NULL;
  if (was_succ)
    s->succ = NULL;
  if (c->reloading && c->reload_wait == w) {
    c->reload_wait = NULL;
    if (c->shutting_down) {
      c->reloading = 0; /* the stop ends the reload: nothing failed */
      c->reload_again = 0;
    } else if (!s->active) {
      /* its slot was scaled away meanwhile: the reload goes on */
      c->reload_cursor++;
      reload_next(c);
    } else {
      c->st.reloads_failed++;
      emit(c, HERD_EV_RELOAD, -1, 0, 0, 0, 0, 0,
           "failed: a new worker exited before it was ready; keeping the "
           "old workers of the slots not reloaded yet");
      c->reloading = 0;
      c->reload_again = 0;
    }
  }
  /* A worker that never became ready is an early death whatever its
   * uptime (one killed at the ready timeout was restarted at once, for
   * ever, when the timeout was longer than min_uptime). */
  if (w->state == W_STARTING)
    uptime = 0;
  if (!c->shutting_down && s->active) {
    if (was_succ) {
      /* A successor that died before taking over: its slot still has
       * the old worker, unless that one is gone too. */
      if (!s->cur)
        schedule_restart(c, s, uptime);
    } else if (was_cur && s->restart_now) {
      /* herd_cluster_restart stopped it: a fresh one now, no backoff. */
      s->restart_now = 0;
      c->st.restarts++;
      emit(c, HERD_EV_RESTART, s->id, 0, 0, 0, 0, 0, NULL);
      start_worker(c, s->id, 0);
    } else if (was_cur && w->state != W_STOPPING) {
      if (s->succ) {
        /* It retired (or died) while its successor starts: promote now
         * so the successor's readiness needs no old worker. */
        s->cur = s->succ;
        s->succ = NULL;
      } else {
        schedule_restart(c, s, uptime);
      }
    }
  }
  if (!s->active && !s->cur && !s->succ)
    close_reuseport(s, c->nlisten);
  worker_free_if_done(c, w);
  check_done(c);
}

/* ---- roundrobin: the master accepts ------------------------------ */

/* The next ready worker, in slot order from rr_next, that can take a
 * handle now (its channel is not backed up). The turn moves on only once
 * a connection has really been given (rr_next is set by the caller). */
static struct worker *rr_pick(herd_cluster_t *c) {
  for (int k = 0; k < c->nslots; k++) {
    int i = (c->rr_next + k) % c->nslots;
    struct slot *s = c->slots[i];
    struct worker *w = s->active ? s->cur : NULL;
    /* A few handles may wait for the ACK of the one before; a worker
     * with more queued is not reading its channel: skip it. */
    if (w && w->alive && w->state == W_READY && w->chan && !w->deaf &&
        herd_chan_queued(w->chan) < RR_MAX_QUEUED)
      return w;
  }
  return NULL;
}

static void rr_resume(herd_cluster_t *c) {
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
  rr_resume(data);
}

/* No worker can take a connection: stop watching the sockets (the
 * connections wait in the kernel's queue) until one becomes ready, or
 * shortly, when backed-up channels may have drained. */
static void rr_pause(herd_cluster_t *c) {
  if (c->rr_paused)
    return;
  c->rr_paused = 1;
  for (int i = 0; i < c->nlisten; i++)
    (void)herd_loop_mod(c->loop, c->fds[i], 0);
  (void)herd_loop_timer_start(c->loop, &c->rr_timer, 10, rr_timer_cb, c);
}

static void handoff_check(herd_loop_t *loop, herd_timer_t *t, void *data);

/* Hand one connection (taken: closed here, the channel sends its own
 * duplicate) to a worker; watch that it is taken. */
static int rr_give(herd_cluster_t *c, struct worker *w, int conn) {
  c->rr_next = (w->slot + 1) % c->nslots;
  int r = herd_chan_send(w->chan, "\"herd:connection\"", 17, conn);
  herd__close(conn);
  if (r < 0) {
    c->st.rr_dropped++;
    emit(c, HERD_EV_ERROR, w->slot, w->pid, r, 0, 0, 0,
         "could not hand a connection to the worker");
    return r;
  }
  if (!w->handoff_timer.heap_index) {
    w->handoff_acks = herd__chan_acks(w->chan);
    (void)herd_loop_timer_start(c->loop, &w->handoff_timer, HANDOFF_TIMEOUT_MS,
                                handoff_check, w);
  }
  return 0;
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
  if (!w->alive || !w->chan || herd__chan_handles_out(w->chan) == 0)
    return;
  uint64_t acks = herd__chan_acks(w->chan);
  if (acks != w->handoff_acks || w->state == W_STOPPING) {
    w->handoff_acks = acks; /* it reads: look again later */
    (void)herd_loop_timer_start(c->loop, &w->handoff_timer, HANDOFF_TIMEOUT_MS,
                                handoff_check, w);
    return;
  }
  w->deaf = 1;
  c->st.handoff_failures++;
  emit(c, HERD_EV_NOTICE, w->slot, w->pid, 0, 0, 0, 0,
       "took none of the connections handed to it over its channel "
       "(NODE_CHANNEL_FD) in 3 s: --balance roundrobin needs workers that "
       "read it (Node.js, or libherd's herd_chan): replacing it");
  int fds[64], n;
  while ((n = herd__chan_take_handles(w->chan, fds, 64)) > 0)
    for (int i = 0; i < n; i++) {
      struct worker *o = rr_pick(c);
      if (o)
        (void)rr_give(c, o, fds[i]);
      else {
        c->st.rr_dropped++; /* nobody to take it: closed, not left hanging */
        herd__close(fds[i]);
      }
    }
  struct slot *s = c->slots[w->slot];
  if (s->cur == w && !s->succ && !w->retiring && !w->replace_why && !c->shutting_down) {
    w->replace_why = "took no handed connection";
    if (start_worker(c, w->slot, 1) < 0)
      w->replace_why = NULL;
  }
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
      rr_pause(c);
      return;
    }
    int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0)
      return; /* EAGAIN: none left */
    (void)rr_give(c, w, conn);
  }
}

/* ---- reload, scale, shutdown ------------------------------------ */

static void reload_next(herd_cluster_t *c) {
  while (c->reload_cursor < c->nslots) {
    struct slot *s = c->slots[c->reload_cursor];
    if (s->active && s->cur && s->cur->alive && !s->succ &&
        s->cur->state != W_STOPPING) {
      if (start_worker(c, c->reload_cursor, 1) < 0)
        return; /* start_worker reported the failed reload */
      if (!s->succ) {
        /* ready at once (--ready immediate): became_ready has promoted
         * it already, before we knew to wait for it */
        c->reload_cursor++;
        continue;
      }
      c->reload_wait = s->succ;
      return; /* continues when the successor is ready */
    }
    c->reload_cursor++;
  }
  c->reloading = 0;
  c->st.reloads++;
  emit(c, HERD_EV_RELOAD, -1, 0, 0, 0, 0, 0, "done");
  if (!c->all_ready_sent && all_ready(c)) {
    c->all_ready_sent = 1;
    emit(c, HERD_EV_ALL_READY, -1, 0, c->want, 0, 0, 0, NULL);
  }
  if (c->reload_again) {
    c->reload_again = 0;
    c->reloading = 1;
    c->reload_cursor = 0;
    c->all_ready_sent = 0; /* this one ends with its own ALL_READY too */
    emit(c, HERD_EV_RELOAD, -1, 0, 0, 0, 0, 0, "begin");
    reload_next(c);
  }
}

static void reload(herd_cluster_t *c) {
  if (c->shutting_down)
    return;
  if (c->reloading) {
    c->reload_again = 1;
    return;
  }
  c->reloading = 1;
  c->reload_cursor = 0;
  c->all_ready_sent = 0;
  emit(c, HERD_EV_RELOAD, -1, 0, 0, 0, 0, 0, "begin");
  reload_next(c);
}

static int grow_slots(herd_cluster_t *c, int n) {
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
    c->slots[c->nslots++] = s;
  }
  return 0;
}

/* A scaled-down reuseport slot: its worker goes once its sockets' queues
 * have emptied (and stayed so past handshakes begun before it stopped
 * being chosen), or at the kill timeout at the latest. */
static int rp_queued(int fd) {
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  memset(&ti, 0, sizeof ti);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
    return 0;
  return (int)ti.tcpi_unacked; /* a listener's accept queue */
}

static void drain_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct slot *s = data;
  herd_cluster_t *c = s->c;
  if (!s->steered_off || s->active)
    return;
  int queued = 0;
  for (int i = 0; s->rp_fds && i < c->nlisten; i++)
    queued += rp_queued(s->rp_fds[i]);
  uint64_t waited = herd__now_ms() - s->drain_since;
  uint64_t limit = (uint64_t)(c->o.kill_timeout_ms ? c->o.kill_timeout_ms : 5000);
  int alive = s->cur && s->cur->alive && s->cur->state != W_STOPPING;
  if (alive && (queued > 0 || waited < DRAIN_GRACE_MS) && waited < limit) {
    (void)herd_loop_timer_start(c->loop, &s->drain_timer, DRAIN_POLL_MS, drain_cb, s);
    return;
  }
  stop_worker(c, s->succ, "scale down");
  stop_worker(c, s->cur, "scale down");
  if (!s->cur && !s->succ)
    close_reuseport(s, c->nlisten);
}

/* Run n workers: start slots up to n, stop the highest above it. */
static void scale_to(herd_cluster_t *c, int n) {
  if (c->shutting_down || n < 1 || n > HERD_MAX_WORKERS || n == c->want)
    return;
  if (grow_slots(c, n) < 0)
    return;
  int old = c->want;
  c->want = n;
  emit(c, HERD_EV_SCALE, -1, 0, c->want, 0, 0, 0, NULL);
  if (n > old) {
    c->all_ready_sent = 0;
    /* Fill the lowest free slots: ids stay 0..n-1. All of them are
     * active before the first starts, so that a worker ready at once
     * does not make the pool look all ready before the others exist. */
    int resteer = 0;
    for (int id = 0, added = 0; id < c->nslots && added < n - old; id++) {
      struct slot *s = c->slots[id];
      if (s->active)
        continue;
      if (s->steered_off) { /* scaled down, still draining: it stays */
        s->steered_off = 0;
        herd_loop_timer_stop(c->loop, &s->drain_timer);
        resteer = 1;
      }
      s->active = 1;
      s->fresh = 1;
      s->fails = 0;
      s->nstarts = 0;
      added++;
    }
    if (resteer)
      rp_steer_all(c);
    for (int id = 0; id < c->nslots; id++) {
      struct slot *s = c->slots[id];
      if (!s->fresh)
        continue;
      s->fresh = 0;
      if (!s->cur && !s->succ)
        start_worker(c, id, 0);
      else if (s->cur && s->cur->state == W_STOPPING)
        s->restart_now = 1; /* scaled down, not gone yet: anew once it is */
    }
    return;
  }
  for (int id = c->nslots - 1, removed = 0; id >= 0 && removed < old - n; id--) {
    struct slot *s = c->slots[id];
    if (!s->active)
      continue;
    s->active = 0;
    s->restart_now = 0;
    removed++;
    herd_loop_timer_stop(c->loop, &s->restart_timer);
    if (s->rp_fds && !c->migrates && s->cur && s->cur->alive &&
        s->cur->state != W_STOPPING) {
      /* reuseport: its socket is closed when its worker is gone, and the
       * kernel resets what is in its queue then. New connections go to
       * the others from now on; its worker stops once it has taken what
       * was queued. */
      s->steered_off = 1;
      s->drain_since = herd__now_ms();
      rp_steer_all(c);
      (void)herd_loop_timer_start(c->loop, &s->drain_timer, DRAIN_POLL_MS, drain_cb, s);
      continue;
    }
    stop_worker(c, s->succ, "scale down");
    stop_worker(c, s->cur, "scale down");
    if (!s->cur && !s->succ)
      close_reuseport(s, c->nlisten);
  }
}

static void shutdown_all(herd_cluster_t *c, int graceful, int sig) {
  if (c->shutting_down && sig == c->stop_sig &&
      herd__now_ms() - c->stop_ms < 1000)
    return; /* the same request delivered twice (GNU timeout does) */
  if (c->shutting_down) {
    /* A second request: no more waiting. */
    for (struct worker *w = c->workers; w; w = w->next)
      if (w->alive && !w->killed) {
        w->killed = 1;
        c->kills++;
        kill_hard(w);
        emit(c, HERD_EV_KILLED, w->slot, w->pid, 0, SIGKILL, 0, 0, NULL);
      }
    for (struct orphan *o = c->orphans; o; o = o->next)
      (void)herd__os_pidfd_kill(o->pidfd, SIGKILL);
    return;
  }
  c->shutting_down = 1;
  c->graceful = graceful;
  c->stop_ms = herd__now_ms();
  c->stop_sig = sig;
  emit(c, HERD_EV_SHUTDOWN, -1, 0, 0, sig, 0, 0, graceful ? "graceful" : "stop");
  for (int i = 0; i < c->nslots; i++)
    herd_loop_timer_stop(c->loop, &c->slots[i]->restart_timer);
  for (struct worker *w = c->workers; w; w = w->next)
    if (w->alive)
      stop_worker(c, w, "shutdown");
  for (struct orphan *o = c->orphans; o; o = o->next)
    orphan_stop(c, o);
  check_done(c);
}

static void drain_timer_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)t;
  herd_cluster_t *c = data;
  c->done = 1;
  herd_loop_stop(loop);
}

static void check_done(herd_cluster_t *c) {
  if (!c->shutting_down)
    return;
  if (c->orphans)
    return; /* left behind by workers: they go before we do */
  int pipes = 0;
  for (struct worker *w = c->workers; w; w = w->next) {
    if (w->alive)
      return;
    pipes |= w->out[0].fd >= 0 || w->out[1].fd >= 0;
  }
  if (pipes) {
    /* Every worker is gone, but what they wrote last may still be in
     * their pipes: read it to the end - for a while only, as something
     * they started (and that left their process group) may hold a pipe
     * open for ever. */
    if (c->out_paused) {
      c->out_paused = 0;
      for (struct worker *w = c->workers; w; w = w->next)
        for (int i = 0; i < 2; i++)
          if (w->out[i].fd >= 0)
            (void)herd_loop_mod(c->loop, w->out[i].fd, EPOLLIN);
    }
    if (!c->drain_timer.heap_index)
      (void)herd_loop_timer_start(c->loop, &c->drain_timer, 1000,
                                  drain_timer_cb, c);
    return;
  }
  herd_loop_timer_stop(c->loop, &c->drain_timer);
  c->done = 1;
  herd_loop_stop(c->loop);
}

/* ---- processes left behind ------------------------------------- */

static struct orphan *find_orphan(herd_cluster_t *c, pid_t pid) {
  for (struct orphan *o = c->orphans; o; o = o->next)
    if (o->pid == pid)
      return o;
  return NULL;
}

static void orphan_free(herd_cluster_t *c, struct orphan *o) {
  for (struct orphan **pp = &c->orphans; *pp; pp = &(*pp)->next)
    if (*pp == o) {
      *pp = o->next;
      break;
    }
  herd_loop_timer_stop(c->loop, &o->kill_timer);
  herd__close(o->pidfd);
  free(o);
}

static void orphan_kill_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct orphan *o = data;
  (void)herd__os_pidfd_kill(o->pidfd, SIGKILL);
}

/* Ask one to stop as a worker would be (stop signal, SIGKILL after the
 * kill timeout; a graceful stop waits). */
static void orphan_stop(herd_cluster_t *c, struct orphan *o) {
  (void)herd__os_pidfd_kill(o->pidfd, c->o.stop_signal ? c->o.stop_signal : SIGTERM);
  if (!(c->shutting_down && c->graceful))
    (void)herd_loop_timer_start(c->loop, &o->kill_timer,
                                (uint64_t)(c->o.kill_timeout_ms ? c->o.kill_timeout_ms
                                                                : 5000),
                                orphan_kill_cb, o);
}

/* After worker PID of SLOT exited: the children of ours that are not
 * workers came back to us from it. What it left in its own process group
 * was killed with it and is not news (it may not have died yet: SIGKILL
 * is not instant); nor is what is dead already. */
static void find_orphans(herd_cluster_t *c, int slot, pid_t wpid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
  FILE *f = fopen(path, "re");
  if (!f)
    return;
  int pid;
  while (fscanf(f, "%d", &pid) == 1) {
    herd_proc_stat_t ps;
    if (find_pid(c, pid) || find_orphan(c, pid) || herd_proc_stat(pid, &ps) < 0 ||
        ps.pgrp == wpid || ps.state == 'Z' || ps.state == 'X')
      continue;
    int pfd = herd__os_pidfd_open(pid);
    struct orphan *o = pfd >= 0 ? calloc(1, sizeof *o) : NULL;
    if (!o) {
      herd__close(pfd);
      continue;
    }
    *o = (struct orphan){.c = c, .pid = pid, .pidfd = pfd, .slot = slot,
                         .next = c->orphans};
    c->orphans = o;
    c->st.left_behind++;
    emit(c, HERD_EV_NOTICE, slot, pid, 0, 0, 0, 0,
         "a worker left this process behind (does the program daemonize "
         "itself? run it in the foreground): it is not supervised, and "
         "herd ends it when it stops");
    if (c->shutting_down)
      orphan_stop(c, o);
  }
  fclose(f);
}

/* ---- events ----------------------------------------------------- */

static void reap_all(herd_cluster_t *c) {
  for (;;) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    /* Look first, reap after: while a worker is an unreaped zombie its
     * pid - its process group's id - cannot be reused, so what it left
     * running in its group (as systemd's KillMode=mixed) can be killed
     * without any chance of hitting a stranger. */
    if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
      if (errno == EINTR)
        continue;
      return; /* ECHILD: no children */
    }
    if (si.si_pid == 0)
      return; /* none left to reap now */
    pid_t pid = si.si_pid;
    struct worker *w = find_pid(c, pid);
    if (w)
      (void)kill(-pid, SIGKILL);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
      ;
    struct orphan *o = w ? NULL : find_orphan(c, pid);
    if (o)
      orphan_free(c, o);
    if (w) {
      int slot = w->slot;
      worker_exited(c, w, status);
      find_orphans(c, slot, pid);
    }
    /* else: an orphan re-parented to us (PID 1, subreaper): reaped. */
    check_done(c);
  }
}

static void signal_cb(herd_loop_t *loop, int sig, pid_t from, void *data) {
  (void)loop;
  (void)from;
  herd_cluster_t *c = data;
  switch (sig) {
  case SIGCHLD:
    reap_all(c);
    break;
  case SIGHUP:
    reload(c);
    break;
  case SIGTTIN:
    scale_to(c, c->want + 1);
    break;
  case SIGTTOU:
    scale_to(c, c->want - 1); /* never below one: stop the app for none */
    break;
  case SIGUSR1:
    emit(c, HERD_EV_SIGNAL, -1, 0, 0, sig, 0, 0, "reopen logs");
    break;
  case SIGUSR2:
  case SIGWINCH:
  case SIGALRM:
    /* Not ours to act on, but not worth dying for either. */
    emit(c, HERD_EV_SIGNAL, -1, 0, 0, sig, 0, 0, "ignored");
    break;
  case SIGQUIT:
    shutdown_all(c, 1, sig);
    break;
  default: /* TERM, INT */
    shutdown_all(c, 0, sig);
    break;
  }
}

/* Who speaks for which worker on the notify socket: the worker itself,
 * or a process of its own tree that is still running when the message
 * is read (systemd's NotifyAccess=all, kept to the worker's descendants:
 * `sh -c 'systemd-notify --ready; exec server'` works under --user,
 * where systemd-notify cannot name its parent's pid; systemd-notify
 * waits, through BARRIER=1, until the message has been read). A pid
 * that is gone or belongs to no worker speaks for nobody. */
static struct worker *notify_sender(herd_cluster_t *c, pid_t pid) {
  struct worker *w = find_pid(c, pid);
  for (int depth = 0; !w && pid > 1 && depth < 32; depth++) {
    herd_proc_stat_t ps;
    if (herd_proc_stat(pid, &ps) < 0 || ps.state == 'Z' || ps.ppid == getpid())
      return NULL;
    pid = ps.ppid;
    w = find_pid(c, pid);
  }
  return w;
}

/* A message nobody may send was dropped: say so, but at most once a
 * minute (a flood costs a counter, not a log line per datagram). */
static void notify_foreign(herd_cluster_t *c, pid_t pid) {
  uint64_t now = herd__now_ms();
  c->st.notify_ignored++;
  if (c->notify_said_ms && now - c->notify_said_ms < 60000)
    return;
  c->notify_said_ms = now;
  emit(c, HERD_EV_NOTICE, -1, pid, 0, 0, 0, 0,
       "a NOTIFY_SOCKET message from this process was ignored: it is "
       "neither a worker nor running under one (a helper that exits before "
       "herd reads its message cannot be told apart: send from the worker, "
       "or wait as systemd-notify does)");
}

static void notify_cb(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  (void)loop;
  (void)events;
  herd_cluster_t *c = data;
  for (int round = 0; round < 64; round++) {
    char buf[HERD__NOTIFY_MAX + 1];
    union {
      char b[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(8 * sizeof(int))];
      struct cmsghdr align;
    } u;
    struct iovec iov = {buf, sizeof buf - 1};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = u.b, .msg_controllen = sizeof u.b};
    ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0)
      return;
    buf[n] = '\0';
    pid_t pid = 0;
    int fds[8], nfds = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
      if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS) {
        struct ucred cr;
        memcpy(&cr, CMSG_DATA(cm), sizeof cr);
        pid = cr.pid;
      } else if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
          int rfd;
          memcpy(&rfd, CMSG_DATA(cm) + i * sizeof(int), sizeof rfd);
          if (nfds < 8)
            fds[nfds++] = rfd;
          else
            herd__close(rfd);
        }
      }
    }
    /* fds are not part of what we act on, but closing them is the
     * answer to BARRIER=1 (its sender waits for it): only once the
     * sender has been looked at, while it still runs */
    struct worker *w = notify_sender(c, pid);
    for (int i = 0; i < nfds; i++)
      herd__close(fds[i]);
    struct herd__notify nm;
    herd__notify_parse(buf, (size_t)n, &nm);
    int ready = nm.ready, stopping = nm.stopping, retire = nm.retire;
    if (!w) {
      if (nm.ready || nm.stopping || nm.retire || nm.other || nm.status)
        notify_foreign(c, pid);
      continue;
    }
    if (nm.status)
      emit(c, HERD_EV_STATUS, w->slot, w->pid, 0, 0, 0, 0, nm.status);
    if (ready && c->o.ready == HERD_READY_NOTIFY)
      became_ready(c, w);
    if ((stopping || retire) && w->state != W_STOPPING && !w->retiring &&
        !c->shutting_down) {
      /* It is going away by itself: start its successor now. */
      w->retiring = 1;
      struct slot *s = c->slots[w->slot];
      int min_up = c->o.min_uptime_ms ? c->o.min_uptime_ms : 1000;
      int early = herd__now_ms() - w->started_ms < (uint64_t)min_up;
      int now = s->cur == w && !s->succ && s->active && !early;
      /* One that retires as soon as it starts is a crash loop in
       * disguise: its successor comes after it exits, with backoff. */
      emit(c, HERD_EV_RETIRE, w->slot, w->pid, now, 0, 0, 0, NULL);
      if (now)
        start_worker(c, w->slot, 1);
    }
  }
}

/* The notify socket: a file that every sd_notify client can reach (some
 * take only paths: Ruby's sd_notify, used by puma), in a directory of
 * its own - under $TMPDIR, else /tmp - that only we may list; the
 * abstract namespace where no such directory can be made (an empty
 * root). Workers of another uid (--user) need to reach it: then the
 * directory is 0711 and the socket 0666, which lets any local process
 * send to it, as to the abstract socket before: what counts is the
 * sender's pid (notify_sender). */
static int bind_notify_path(herd_cluster_t *c, int fd, const char *base) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  char dir[sizeof sa.sun_path];
  int n = snprintf(dir, sizeof dir, "%s/herd-%d-XXXXXX", base, (int)getpid());
  if (n < 0 || (size_t)n + sizeof "/notify" > sizeof sa.sun_path)
    return -ENAMETOOLONG;
  if (!mkdtemp(dir))
    return -errno;
  memcpy(sa.sun_path, dir, (size_t)n);
  memcpy(sa.sun_path + n, "/notify", sizeof "/notify");
  int other_uid = (c->o.spawn.flags & HERD_SPAWN_SETUID) && c->o.spawn.uid != geteuid();
  if ((other_uid && chmod(dir, 0711) < 0) ||
      bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
      chmod(sa.sun_path, other_uid ? 0666 : 0600) < 0) {
    int e = -errno;
    (void)unlink(sa.sun_path);
    (void)rmdir(dir);
    return e;
  }
  memcpy(c->notify_name, sa.sun_path, sizeof sa.sun_path);
  return 0;
}

static void unlink_notify(herd_cluster_t *c) {
  if (c->notify_name[0] != '/')
    return;
  (void)unlink(c->notify_name);
  char *slash = strrchr(c->notify_name, '/');
  *slash = '\0';
  (void)rmdir(c->notify_name);
  c->notify_name[0] = '\0';
}

static int open_notify(herd_cluster_t *c) {
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -errno;
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0) {
    int e = -errno;
    herd__close(fd);
    return e;
  }
  const char *tmp = getenv("TMPDIR");
  if ((!tmp || tmp[0] != '/' || bind_notify_path(c, fd, tmp) < 0) &&
      bind_notify_path(c, fd, "/tmp") < 0) {
    /* Abstract namespace: nothing on disk, reachable by path-only
     * clients never (the last resort) */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int n = snprintf(c->notify_name, sizeof c->notify_name,
                     "@herd/%d/%08lx/notify", (int)getpid(),
                     (unsigned long)(herd__now_ms() & 0xffffffffu));
    memcpy(sa.sun_path, c->notify_name, (size_t)n);
    sa.sun_path[0] = '\0';
    if (bind(fd, (struct sockaddr *)&sa,
             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n)) < 0) {
      int e = -errno;
      herd__close(fd);
      return e;
    }
  }
  c->notify_fd = fd;
  return 0;
}

static int online_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

int herd_cluster_run(const herd_cluster_opts_t *opts,
                     int (*worker_main)(void *arg), void *arg) {
  if (!opts || (!worker_main && (!opts->file || !opts->argv)))
    return -EINVAL;
  if (opts->workers < 0 || opts->workers > HERD_MAX_WORKERS || opts->ready_delay_ms < 0 ||
      opts->ready_timeout_ms < 0 || opts->kill_timeout_ms < 0 ||
      opts->max_restarts < 0 || opts->restart_window_ms < 0 ||
      opts->min_uptime_ms < 0 || opts->cooldown_ms < 0 ||
      opts->stop_signal < 0 || opts->stop_signal >= _NSIG ||
      opts->balance < HERD_BALANCE_SHARED ||
      opts->balance > HERD_BALANCE_ROUNDROBIN ||
      opts->ready < HERD_READY_IMMEDIATE || opts->ready > HERD_READY_DELAY)
    return -EINVAL;
  herd_cluster_t *c = calloc(1, sizeof *c);
  if (!c)
    return -ENOMEM;
  c->o = *opts;
  if (c->o.balance == HERD_BALANCE_ROUNDROBIN)
    c->o.flags |= HERD_CLUSTER_IPC;
  c->worker_main = worker_main;
  c->arg = arg;
  c->notify_fd = -1;
  int r = 0;
  int nspec = 0;
  for (const char *const *l = opts->listen; l && *l; l++)
    nspec++;
  if (opts->nlisten_fds && nspec) {
    r = -EINVAL; /* either given sockets or addresses to bind */
    goto out;
  }
  if (opts->nlisten_fds) {
    if (opts->balance == HERD_BALANCE_REUSEPORT) {
      r = -EINVAL; /* sockets we did not bind cannot be multiplied */
      goto out;
    }
    c->nlisten = (int)opts->nlisten_fds;
    c->fds = malloc((size_t)c->nlisten * sizeof *c->fds);
    if (!c->fds) {
      r = -ENOMEM;
      goto out;
    }
    memcpy(c->fds, opts->listen_fds, (size_t)c->nlisten * sizeof *c->fds);
    c->texts = calloc((size_t)c->nlisten, sizeof *c->texts);
    if (!c->texts) {
      r = -ENOMEM;
      goto out;
    }
    for (int i = 0; i < c->nlisten; i++) { /* for what we say of them */
      herd_addr_t a;
      memset(&a, 0, sizeof a);
      a.len = sizeof a.ss;
      if (getsockname(c->fds[i], (struct sockaddr *)&a.ss, &a.len) == 0 &&
          (a.ss.ss_family == AF_INET || a.ss.ss_family == AF_INET6)) {
        a.family = a.ss.ss_family;
        herd__addr_format(&a);
        memcpy(c->texts[i], a.text, sizeof c->texts[i]);
      } else {
        snprintf(c->texts[i], sizeof c->texts[i], "the inherited socket %d", i);
      }
    }
  } else if (nspec) {
    c->nlisten = nspec;
    c->addrs = calloc((size_t)nspec, sizeof *c->addrs);
    c->fds = malloc((size_t)nspec * sizeof *c->fds);
    c->texts = calloc((size_t)nspec, sizeof *c->texts);
    if (!c->addrs || !c->fds || !c->texts) {
      r = -ENOMEM;
      goto out;
    }
    for (int i = 0; i < nspec; i++)
      c->fds[i] = -1;
    c->own_fds = 1;
    for (int i = 0; i < nspec; i++) {
      herd_addr_t a;
      if ((r = herd_addr_parse(opts->listen[i], &a)) < 0) {
        emit(c, HERD_EV_ERROR, -1, 0, r, 0, 0, 0, opts->listen[i]);
        goto out;
      }
      if (a.family == AF_UNIX && opts->balance == HERD_BALANCE_REUSEPORT) {
        r = -EINVAL;
        emit(c, HERD_EV_ERROR, -1, 0, r, 0, 0, 0,
             "reuseport balancing needs TCP addresses, not unix:");
        goto out;
      }
      unsigned fl = opts->balance == HERD_BALANCE_REUSEPORT ? HERD_LISTEN_REUSEPORT : 0;
      r = herd_listen_open(&a, 0, fl, &c->addrs[i]);
      if (r < 0) {
        emit(c, HERD_EV_ERROR, -1, 0, r, 0, 0, 0, a.text);
        goto out;
      }
      c->fds[i] = r;
      r = 0;
      memcpy(c->texts[i], c->addrs[i].text, sizeof c->texts[i]);
      emit(c, HERD_EV_LISTEN, -1, 0, 0, 0, 0, 0, c->addrs[i].text);
    }
  }
  if ((r = open_notify(c)) < 0)
    goto out;
  /* Inherited SIG_IGN for SIGCHLD would make the kernel reap workers
   * behind our back: the default, for as long as we run. */
  struct sigaction dfl = {.sa_handler = SIG_DFL}, old_chld;
  if (sigaction(SIGCHLD, &dfl, &old_chld) < 0) {
    r = -errno;
    goto out;
  }
  c->chld_saved = 1;
  c->old_chld = old_chld;
  /* What a worker leaves behind when it daemonizes comes back to us,
   * not to init: told about, and ended at the stop */
  if (prctl(PR_GET_CHILD_SUBREAPER, &c->subreaper_was) < 0)
    c->subreaper_was = 0;
  if (!c->subreaper_was && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
    r = -errno;
    goto out;
  }
  if ((r = herd_loop_new(&c->loop)) < 0)
    goto out;
  static const int sigs[] = {SIGCHLD, SIGTERM, SIGINT,  SIGQUIT,
                             SIGHUP,  SIGTTIN, SIGTTOU, SIGUSR1,
                             SIGUSR2, SIGWINCH, SIGALRM};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if ((r = herd_loop_signal(c->loop, sigs[i], signal_cb, c)) < 0)
      goto out;
  if ((r = herd_loop_add(c->loop, c->notify_fd, EPOLLIN, notify_cb, c)) < 0)
    goto out;
  if (c->o.balance == HERD_BALANCE_ROUNDROBIN) {
    /* The master accepts. The fds are ours alone here (workers get
     * none), so non-blocking is safe to set. */
    for (int i = 0; i < c->nlisten; i++) {
      if ((r = herd__set_nonblock(c->fds[i], 1)) < 0 ||
          (r = herd_loop_add(c->loop, c->fds[i], EPOLLIN, rr_accept_cb, c)) < 0)
        goto out;
    }
  }
  if (c->o.balance == HERD_BALANCE_REUSEPORT && c->nlisten) {
    c->migrates = herd__rp_migrates();
    c->rp_order = calloc((size_t)c->nlisten, sizeof *c->rp_order);
    c->rp_n = calloc((size_t)c->nlisten, sizeof *c->rp_n);
    for (int i = 0; c->rp_order && i < c->nlisten; i++)
      if (!(c->rp_order[i] = calloc(HERD_MAX_WORKERS, sizeof **c->rp_order)))
        r = -ENOMEM;
    if (!c->rp_order || !c->rp_n || r < 0) {
      r = -ENOMEM;
      goto out;
    }
  }
  /* Is anybody accepting? (roundrobin: we do; reuseport: per slot) */
  if (c->o.balance == HERD_BALANCE_SHARED && c->nlisten)
    c->lq = lq_watch(c, c->fds, c->nlisten, -1);
  /* The count first: on_init may scale it (before anything starts, a
   * steering call only changes what will start; see herd.h) */
  c->want = opts->workers ? opts->workers : online_cpus();
  if (c->o.on_init && (r = c->o.on_init(c, c->o.data)) < 0)
    goto out;
  if ((r = grow_slots(c, c->want)) < 0)
    goto out;
  for (int i = 0; i < c->want; i++)
    c->slots[i]->active = 1;

  /* A program that cannot start at all is an error now, not a restart
   * loop: start the first worker and look at what happened. Stopped
   * from on_init: none starts. */
  for (int i = 0; i < c->want && !c->shutting_down; i++)
    if ((r = start_worker(c, i, 0)) < 0)
      goto out;
  c->started = 1;

  while (!c->done) {
    r = herd_loop_run_once(c->loop, -1);
    if (r < 0 && r != -EINTR)
      break;
    r = 0;
  }
  r = c->kills ? 1 : 0;
out:
  if (r < 0) {
    /* Could not start (or the loop failed): leave nothing running. */
    for (struct worker *w = c->workers; w; w = w->next)
      if (w->alive) {
        (void)herd__os_pidfd_kill(w->pidfd, SIGKILL);
        int st;
        while (waitpid(w->pid, &st, 0) < 0 && errno == EINTR)
          ;
        w->alive = 0;
      }
  }
  while (c->orphans) {
    struct orphan *o = c->orphans;
    if (r < 0) { /* could not start: nothing is left running */
      (void)herd__os_pidfd_kill(o->pidfd, SIGKILL);
      (void)waitpid(o->pid, NULL, 0);
    }
    orphan_free(c, o);
  }
  if (!c->subreaper_was)
    (void)prctl(PR_SET_CHILD_SUBREAPER, 0);
  while (c->workers) {
    struct worker *w = c->workers;
    c->workers = w->next;
    for (int i = 0; i < 2; i++) {
      herd__close(w->out[i].fd);
      free(w->out[i].data);
    }
    herd__close(w->pidfd);
    herd_chan_close(w->chan);
    free(w);
  }
  for (int i = 0; i < c->nslots; i++) {
    close_reuseport(c->slots[i], c->nlisten);
    free(c->slots[i]->starts);
    free(c->slots[i]);
  }
  lq_unwatch(c->lq, c->nlisten);
  herd_loop_free(c->loop);
  if (c->chld_saved)
    (void)sigaction(SIGCHLD, &c->old_chld, NULL);
  herd__close(c->notify_fd);
  unlink_notify(c);
  if (c->own_fds)
    for (int i = 0; i < c->nlisten; i++) {
      herd__close(c->fds[i]);
      if (c->addrs && c->addrs[i].family == AF_UNIX)
        (void)unlink(((struct sockaddr_un *)&c->addrs[i].ss)->sun_path);
    }
  for (int i = 0; c->rp_order && i < c->nlisten; i++)
    free(c->rp_order[i]);
  free(c->rp_order);
  free(c->rp_n);
  free(c->fds);
  free(c->texts);
  free(c->addrs);
  free(c->slots);
  free(c);
  return r;
}

/* ---- steering from the loop ------------------------------------- */

herd_loop_t *herd_cluster_loop(herd_cluster_t *c) { return c->loop; }

int herd_cluster_reload(herd_cluster_t *c) {
  if (c->shutting_down)
    return -ECANCELED;
  if (!c->started)
    return 0; /* from on_init: the workers about to start are new anyway */
  int queued = c->reloading;
  reload(c);
  return queued ? 1 : 0;
}

int herd_cluster_restart(herd_cluster_t *c) {
  if (c->shutting_down)
    return -ECANCELED;
  if (!c->started)
    return 0; /* from on_init: nothing runs yet */
  if (c->reloading)
    return -EBUSY;
  c->all_ready_sent = 0;
  for (int i = 0; i < c->nslots; i++) {
    struct slot *s = c->slots[i];
    if (!s->active)
      continue;
    s->fails = 0;
    s->nstarts = 0;
    if (s->cur && s->cur->alive && s->cur->state != W_STOPPING) {
      s->restart_now = 1;
      stop_worker(c, s->succ, "restart");
      stop_worker(c, s->cur, "restart");
    } else if (!s->cur && !s->succ) {
      /* backing off or parked: start now */
      herd_loop_timer_stop(c->loop, &s->restart_timer);
      s->parked = 0;
      start_worker(c, i, 0);
    } else if (s->cur) {
      s->restart_now = 1; /* already stopping: a fresh one when it exits */
    }
  }
  return 0;
}

int herd_cluster_replace(herd_cluster_t *c, int slot, const char *why) {
  if (c->shutting_down)
    return -ECANCELED;
  if (slot < 0 || slot >= c->nslots)
    return -ENOENT;
  struct slot *s = c->slots[slot];
  struct worker *w = s->cur;
  if (!s->active || !w || !w->alive || w->state == W_STOPPING)
    return -ENOENT;
  if (s->succ || w->retiring || w->replace_why)
    return -EBUSY;
  w->replace_why = why ? why : "replaced";
  int r = start_worker(c, slot, 1);
  if (r < 0)
    w->replace_why = NULL;
  return r < 0 ? r : 0;
}

int herd_cluster_scale(herd_cluster_t *c, int workers) {
  if (workers < 1 || workers > HERD_MAX_WORKERS)
    return -EINVAL;
  if (c->shutting_down)
    return -ECANCELED;
  if (!c->started) {
    c->want = workers; /* from on_init: how many will start */
    return 0;
  }
  if (grow_slots(c, workers) < 0)
    return -ENOMEM;
  scale_to(c, workers);
  return 0;
}

int herd_cluster_stop(herd_cluster_t *c, int graceful) {
  /* A second call is a second request, never a signal delivered twice:
   * what is left is killed at once. */
  if (c->shutting_down)
    c->stop_sig = -1;
  shutdown_all(c, graceful, 0);
  return 0;
}

int herd_cluster_workers(herd_cluster_t *c, herd_worker_info_t *rows, int max) {
  int n = 0;
  uint64_t now = herd__now_ms();
  for (int i = 0; i < c->nslots; i++) {
    struct slot *s = c->slots[i];
    int any = 0;
    /* the current worker first, then its successor, then old ones
     * still stopping */
    for (int pass = 0; pass < 3; pass++)
      for (struct worker *w = c->workers; w; w = w->next) {
        if (w->slot != i || !w->alive)
          continue;
        int is = pass == 0 ? w == s->cur : pass == 1 ? w == s->succ
                                                     : w != s->cur && w != s->succ;
        if (!is)
          continue;
        any = any || w == s->cur;
        if (n < max) {
          herd_worker_info_t *r = &rows[n];
          memset(r, 0, sizeof *r);
          r->slot = i;
          r->pid = w->pid;
          r->state = w->state == W_STARTING  ? HERD_WORKER_STARTING
                     : w->state == W_READY   ? HERD_WORKER_READY
                                             : HERD_WORKER_STOPPING;
          r->successor = w == s->succ;
          r->uptime_ms = now - w->started_ms;
        }
        n++;
      }
    if (s->active && !any && !s->succ) {
      if (n < max) {
        herd_worker_info_t *r = &rows[n];
        memset(r, 0, sizeof *r);
        r->slot = i;
        int timer = s->restart_timer.heap_index != 0;
        r->state = !timer ? HERD_WORKER_WAITING
                   : s->parked ? HERD_WORKER_PARKED : HERD_WORKER_BACKOFF;
        r->retry_ms = timer && s->retry_at_ms > now ? s->retry_at_ms - now : 0;
      }
      n++;
    }
    /* the slot's history goes on every row of it */
    for (int k = (n < max ? n : max) - 1; k >= 0 && rows[k].slot == i; k--) {
      rows[k].restarts = s->nspawns > 1 ? s->nspawns - 1 : 0;
      rows[k].exited = s->has_exit;
      rows[k].exit_code = s->exit_code;
      rows[k].exit_signal = s->exit_sig;
      rows[k].exit_cause = s->exit_cause;
    }
  }
  return n;
}

void herd_cluster_stats(herd_cluster_t *c, herd_cluster_stats_t *st) {
  *st = c->st;
  st->workers = c->want;
  st->reloading = c->reloading;
  st->stopping = c->shutting_down;
}

int herd_cluster_pause_output(herd_cluster_t *c, int pause) {
  pause = !!pause;
  if (c->out_paused == pause)
    return 0;
  c->out_paused = pause;
  for (struct worker *w = c->workers; w; w = w->next)
    for (int i = 0; i < 2; i++)
      if (w->out[i].fd >= 0)
        (void)herd_loop_mod(c->loop, w->out[i].fd, pause ? 0 : EPOLLIN);
  return 0;
}
