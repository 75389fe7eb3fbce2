/*
 * loop.c - the built-in event loop: epoll for fds, one timerfd for a heap
 * of timers, one signalfd for signals, pidfds for children, and the exec
 * state machine driven through its fds.
 *
 * Every readiness source is an fd in one epoll set, so the loop itself is
 * an fd (herd_loop_fd) that nests in any other loop, and an idle loop
 * sleeps in epoll_wait without waking up.
 *
 * Watchers are heap records found by fd through a small hash (never an
 * fd-indexed array). A watcher removed during a dispatch batch is only
 * marked dead and freed after the batch, since a later event of the same
 * batch may still point at it.
 *
 * The timer heap is in looptimer.c, herd_loop_exec in loopexec.c, the
 * child-io watches in loopchild.c, ref/unref in loopref.c; loop.h holds
 * what they share.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

/* ---- fd -> watcher --------------------------------------------- */

static size_t bucket_of(const herd_loop_t *l, int fd) {
  return ((size_t)(unsigned)fd * 2654435761u) & (l->nbuckets - 1);
}

static struct watcher *find(const herd_loop_t *l, int fd) {
  for (struct watcher *w = l->buckets[bucket_of(l, fd)]; w; w = w->next)
    if (w->fd == fd)
      return w;
  return NULL;
}

struct watcher *herd__loop_find(const herd_loop_t *l, int fd) {
  struct watcher *w = find(l, fd);
  return w && !w->dead ? w : NULL;
}

static int grow(herd_loop_t *l) {
  size_t n = l->nbuckets * 2;
  struct watcher **nb = calloc(n, sizeof *nb);
  if (!nb)
    return -ENOMEM;
  struct watcher **old = l->buckets;
  size_t oldn = l->nbuckets;
  l->buckets = nb;
  l->nbuckets = n;
  for (size_t i = 0; i < oldn; i++) {
    struct watcher *w = old[i];
    while (w) {
      struct watcher *next = w->next;
      size_t b = bucket_of(l, w->fd);
      w->next = nb[b];
      nb[b] = w;
      w = next;
    }
  }
  free(old);
  return 0;
}

int herd__loop_watch(herd_loop_t *l, int fd, uint32_t events, int kind,
                     struct watcher **out) {
  if (fd < 0)
    return -EBADF;
  if (find(l, fd))
    return -EEXIST;
  struct watcher *w = calloc(1, sizeof *w);
  if (!w)
    return -ENOMEM;
  w->fd = fd;
  w->kind = kind;
  w->events = events;
  struct epoll_event ev = {.events = events, .data.ptr = w};
  if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    int err = -errno;
    free(w);
    return err;
  }
  size_t b = bucket_of(l, fd);
  w->next = l->buckets[b];
  l->buckets[b] = w;
  if (kind != W_TIMER && kind != W_SIGNAL)
    l->nwatch++;
  /* Keep chains short; a failed grow only costs speed. */
  if (l->nwatch > l->nbuckets)
    (void)grow(l);
  *out = w;
  return 0;
}

int herd__loop_unwatch(herd_loop_t *l, int fd) {
  size_t b = bucket_of(l, fd);
  for (struct watcher **pp = &l->buckets[b]; *pp; pp = &(*pp)->next) {
    struct watcher *w = *pp;
    if (w->fd != fd)
      continue;
    *pp = w->next;
    int r = 0;
    /* The fd may be closed already (EBADF): it left the set with it. */
    if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 && errno != EBADF &&
        errno != ENOENT)
      r = -errno;
    if (w->kind != W_TIMER && w->kind != W_SIGNAL) {
      l->nwatch--;
      if (w->unref)
        l->nunref--;
    }
    if (w->kind == W_CHAN) {
      if (w->cprev)
        w->cprev->cnext = w->cnext;
      else
        l->chans = w->cnext;
      if (w->cnext)
        w->cnext->cprev = w->cprev;
    }
    w->dead = 1;
    w->next = l->dead;
    l->dead = w;
    return r;
  }
  return -ENOENT;
}

static void reap_dead(herd_loop_t *l) {
  while (l->dead) {
    struct watcher *w = l->dead;
    l->dead = w->next;
    free(w);
  }
}

/* ---- signals --------------------------------------------------- */

int herd_loop_signal(herd_loop_t *l, int sig, herd_signal_cb cb, void *data) {
  if (!l || sig <= 0 || sig >= _NSIG || sig == SIGKILL || sig == SIGSTOP)
    return -EINVAL;
  int had = sigismember(&l->sigs, sig);
  if (!cb) {
    if (!had)
      return 0;
    sigdelset(&l->sigs, sig);
    l->sigcb[sig] = NULL;
    l->nsigs--;
    if (sigismember(&l->sig_unref, sig)) {
      sigdelset(&l->sig_unref, sig);
      l->nsig_unref--;
    }
    if (signalfd(l->sfd, &l->sigs, SFD_NONBLOCK | SFD_CLOEXEC) < 0)
      return -errno;
    if (sigismember(&l->blocked_by_us, sig)) {
      sigset_t one;
      sigemptyset(&one);
      sigaddset(&one, sig);
      sigdelset(&l->blocked_by_us, sig);
      int e = pthread_sigmask(SIG_UNBLOCK, &one, NULL);
      if (e)
        return -e;
    }
    return 0;
  }
  l->sigcb[sig] = cb;
  l->sigdata[sig] = data;
  if (had)
    return 0;
  sigset_t one, old;
  sigemptyset(&one);
  sigaddset(&one, sig);
  int e = pthread_sigmask(SIG_BLOCK, &one, &old);
  if (e)
    return -e;
  if (!sigismember(&old, sig))
    sigaddset(&l->blocked_by_us, sig);
  sigaddset(&l->sigs, sig);
  int fd = signalfd(l->sfd, &l->sigs, SFD_NONBLOCK | SFD_CLOEXEC);
  int r = fd < 0 ? -errno : 0;
  if (r == 0 && l->sfd < 0) {
    struct watcher *w;
    r = herd__loop_watch(l, fd, EPOLLIN, W_SIGNAL, &w);
    if (r < 0)
      herd__close(fd);
    else
      l->sfd = fd;
  }
  if (r < 0) {
    /* Undo: the signal is neither ours nor blocked by us any more. */
    sigdelset(&l->sigs, sig);
    l->sigcb[sig] = NULL;
    if (sigismember(&l->blocked_by_us, sig)) {
      sigdelset(&l->blocked_by_us, sig);
      (void)pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    }
    return r;
  }
  l->nsigs++;
  return 0;
}

static int run_signals(herd_loop_t *l) {
  int ran = 0;
  for (;;) {
    struct signalfd_siginfo si;
    ssize_t n = herd__read(l->sfd, &si, sizeof si);
    if (n == -EAGAIN)
      return ran;
    if (n < 0)
      return (int)n;
    if (n != sizeof si)
      return -EIO;
    int sig = (int)si.ssi_signo;
    if (sig > 0 && sig < _NSIG && l->sigcb[sig]) {
      l->sigcb[sig](l, sig, (pid_t)si.ssi_pid, l->sigdata[sig]);
      ran++;
    }
  }
}

/* ---- fds and children ------------------------------------------ */

int herd_loop_add(herd_loop_t *l, int fd, uint32_t events, herd_io_cb cb,
                  void *data) {
  if (!l || !cb)
    return -EINVAL;
  struct watcher *w;
  int r = herd__loop_watch(l, fd, events, W_IO, &w);
  if (r < 0)
    return r;
  w->cb = cb;
  w->data = data;
  return 0;
}

int herd_loop_mod(herd_loop_t *l, int fd, uint32_t events) {
  if (!l)
    return -EINVAL;
  struct watcher *w = find(l, fd);
  if (!w || w->kind != W_IO)
    return -ENOENT;
  if (w->events == events)
    return 0;
  struct epoll_event ev = {.events = events, .data.ptr = w};
  if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
    return -errno;
  w->events = events;
  return 0;
}

int herd_loop_del(herd_loop_t *l, int fd) {
  if (!l)
    return -EINVAL;
  struct watcher *w = find(l, fd);
  if (!w || w->kind != W_IO)
    return -ENOENT;
  return herd__loop_unwatch(l, fd);
}

/* A watched child's opts.timeout_ms and opts.abort: a timer, and a copy
 * of the abort's fd (the loop watches each fd once, and one abort may
 * cancel many children of one loop). Both go once the child has been
 * sent its kill signal, or at the end of the watch. */
struct child_guard {
  herd_child_t *child;
  herd_timer_t timer;
  int afd; /* watched copy of the abort's fd, or -1 */
};

void herd__loop_guard_free(herd_loop_t *l, struct child_guard *g) {
  if (!g)
    return;
  herd_loop_timer_stop(l, &g->timer);
  if (g->afd >= 0) {
    (void)herd_loop_del(l, g->afd);
    herd__closep(&g->afd);
  }
  free(g);
}

/* The timer or the abort's fd: the child gets its kill signal (once;
 * herd__child_enforce clears both), and what watched them goes. */
static void guard_check(herd_loop_t *l, struct child_guard *g) {
  /* A child that has exited is not signalled, as Node's exit clears its
   * timer: reap it here; its pidfd stays readable, so run_child still
   * reports it in this turn or the next. */
  if (herd__reap(g->child, WNOHANG) == 0)
    herd__child_enforce(g->child);
  if (!g->child->deadline_ms)
    herd_loop_timer_stop(l, &g->timer);
  if (!g->child->abort && g->afd >= 0) {
    (void)herd_loop_del(l, g->afd);
    herd__closep(&g->afd);
  }
}

static void guard_timer_cb(herd_loop_t *l, herd_timer_t *t, void *data) {
  (void)t;
  guard_check(l, data);
}

static void guard_abort_cb(herd_loop_t *l, int fd, uint32_t events, void *data) {
  (void)fd;
  (void)events;
  guard_check(l, data);
}

int herd__loop_guard_new(herd_loop_t *l, herd_child_t *c, struct child_guard **out) {
  *out = NULL;
  if (c->reaped || (!c->deadline_ms && !c->abort))
    return 0;
  struct child_guard *g = calloc(1, sizeof *g);
  if (!g)
    return -ENOMEM;
  g->child = c;
  g->afd = -1;
  int r = 0;
  if (c->deadline_ms)
    r = herd_loop_timer_start(l, &g->timer,
                              (uint64_t)herd_child_timeout(c), guard_timer_cb, g);
  if (r == 0 && c->abort) {
    g->afd = fcntl(herd_abort_fd(c->abort), F_DUPFD_CLOEXEC, 3);
    if (g->afd < 0)
      r = -errno;
    else if ((r = herd_loop_add(l, g->afd, EPOLLIN, guard_abort_cb, g)) < 0)
      herd__closep(&g->afd);
  }
  if (r < 0) {
    herd__loop_guard_free(l, g);
    return r;
  }
  *out = g;
  return 0;
}

/* The guard follows its child's ref: an unreferenced child's timeout
 * or abort does not keep the loop running either. */
void herd__loop_guard_ref(herd_loop_t *l, struct child_guard *g, int ref) {
  if (!g)
    return;
  (void)herd_loop_timer_ref(l, &g->timer, ref);
  if (g->afd >= 0)
    (void)herd_loop_fd_ref(l, g->afd, ref);
}

/* herd_loop_free's: the timer leaves the heap and the fd copy is closed;
 * the copy's own watcher is freed by the loop's walk. */
void herd__loop_guard_drop(herd_loop_t *l, struct child_guard *g) {
  if (!g)
    return;
  herd_loop_timer_stop(l, &g->timer);
  herd__close(g->afd);
  free(g);
}

int herd_loop_child(herd_loop_t *l, herd_child_t *child, herd_child_cb cb,
                    void *data) {
  if (!l || !child || !cb || child->pid <= 0)
    return -EINVAL;
  if (child->pidfd < 0)
    return -EBADF;
  struct watcher *w;
  int r = herd__loop_watch(l, child->pidfd, EPOLLIN, W_CHILD, &w);
  if (r < 0)
    return r;
  w->child = child;
  w->child_cb = cb;
  w->data = data;
  r = herd__loop_guard_new(l, child, &w->guard);
  if (r < 0)
    (void)herd__loop_unwatch(l, child->pidfd);
  return r;
}

int herd_loop_child_stop(herd_loop_t *l, herd_child_t *child) {
  if (!l || !child || child->pidfd < 0)
    return -EINVAL;
  struct watcher *w = find(l, child->pidfd);
  if (!w || w->kind != W_CHILD || w->child != child)
    return -ENOENT;
  herd__loop_guard_free(l, w->guard);
  w->guard = NULL;
  return herd__loop_unwatch(l, w->fd);
}

static void run_child(herd_loop_t *l, struct watcher *w) {
  int r = herd__reap(w->child, WNOHANG);
  if (r == 0)
    return; /* spurious */
  herd_child_t *c = w->child;
  herd_child_cb cb = w->child_cb;
  void *data = w->data;
  herd__loop_guard_free(l, w->guard);
  w->guard = NULL;
  (void)herd__loop_unwatch(l, w->fd);
  if (r < 0) {
    /* ECHILD: someone else reaped it (SIGCHLD set to SIG_IGN, or a
     * waitpid(-1) elsewhere); report it as gone with no status. */
    c->reaped = 1;
    c->exit_code = -1;
    c->term_signal = 0;
  }
  cb(l, c, data);
}

/* ---- channels -------------------------------------------------- */

int herd_loop_chan(herd_loop_t *l, herd_chan_t *ch, herd_chan_cb cb,
                   void *data) {
  if (!l || !ch || !cb)
    return -EINVAL;
  struct watcher *w;
  int r = herd__loop_watch(l, herd_chan_fd(ch), herd_chan_events(ch), W_CHAN,
                           &w);
  if (r < 0)
    return r;
  w->chan = ch;
  w->chan_cb = cb;
  w->data = data;
  w->cnext = l->chans;
  if (l->chans)
    l->chans->cprev = w;
  l->chans = w;
  return 0;
}

int herd_loop_chan_stop(herd_loop_t *l, herd_chan_t *ch) {
  if (!l || !ch)
    return -EINVAL;
  struct watcher *w = find(l, herd_chan_fd(ch));
  if (!w || w->kind != W_CHAN || w->chan != ch)
    return -ENOENT;
  if (w->cio)
    return -EBUSY; /* a child-io watch's: herd_loop_child_io_stop */
  return herd__loop_unwatch(l, w->fd);
}

/* May the channel be read now? Not while the peer leaves more than
 * max_out of our replies unread (herd_loop_chan_limit) - unless it is
 * gone, when reading finds the end. */
static int chan_readable(const struct watcher *w) {
  return !w->max_out || herd_chan_queued(w->chan) <= w->max_out ||
         herd__chan_gone(w->chan);
}

static void chan_update(herd_loop_t *l, struct watcher *w) {
  uint32_t ev = herd_chan_events(w->chan);
  if (!chan_readable(w))
    ev &= ~(uint32_t)EPOLLIN;
  if (ev == w->events)
    return;
  struct epoll_event e = {.events = ev, .data.ptr = w};
  if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &e) == 0)
    w->events = ev;
}

/* Messages per wakeup before other fds get their turn. */
#define CHAN_BATCH 4096

static void run_chan(herd_loop_t *l, struct watcher *w, uint32_t events) {
  herd_chan_t *ch = w->chan;
  if (events & EPOLLOUT)
    (void)herd_chan_flush(ch); /* a gone peer shows as EOF on read */
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    int batch = w->batch ? w->batch : CHAN_BATCH;
    for (int i = 0; i < batch && !w->dead && chan_readable(w); i++) {
      herd_chan_msg_t msg;
      int r = herd_chan_recv(ch, &msg);
      if (r == 0)
        break;
      if (r == 1) {
        w->chan_cb(l, ch, 0, &msg, w->data);
        continue;
      }
      if (r == HERD_EFRAME || r == HERD_ETOOLONG) {
        w->chan_cb(l, ch, r, NULL, w->data);
        continue;
      }
      /* The end: the peer is gone or the socket failed. */
      herd_chan_cb cb = w->chan_cb;
      void *data = w->data;
      (void)herd__loop_unwatch(l, w->fd);
      cb(l, ch, r, NULL, data);
      return;
    }
  }
  if (!w->dead)
    chan_update(l, w);
}

int herd_loop_chan_limit(herd_loop_t *l, herd_chan_t *ch, int batch,
                         size_t max_out) {
  if (!l || !ch || batch < 0)
    return -EINVAL;
  struct watcher *w = find(l, herd_chan_fd(ch));
  if (!w || w->kind != W_CHAN || w->chan != ch || w->dead)
    return -ENOENT;
  w->batch = batch;
  w->max_out = max_out;
  chan_update(l, w);
  return 0;
}

/* End of an iteration: what the callbacks queued leaves now, batched. */
/* Returns 1 when a channel went from above HERD_CHAN_HIGH_WATER (send
 * said "slow down") to at or below it: Node's 'drain'. */
static int flush_chans(herd_loop_t *l) {
  int drained = 0;
  for (struct watcher *w = l->chans; w; w = w->cnext) {
    size_t q = herd_chan_queued(w->chan);
    if (q) {
      (void)herd_chan_flush(w->chan);
      drained |= q > HERD_CHAN_HIGH_WATER &&
                 herd_chan_queued(w->chan) <= HERD_CHAN_HIGH_WATER;
    }
    chan_update(l, w);
  }
  return drained;
}

/* Messages already in a channel's buffer (more than one batch came in a
 * read, or herd_chan_flush_wait buffered them) make no socket event:
 * the loop must not sleep while any wait. */
static int chans_pending(herd_loop_t *l) {
  for (struct watcher *w = l->chans; w; w = w->cnext)
    if (herd__chan_pending(w->chan) && chan_readable(w))
      return 1;
  return 0;
}

static int run_pending_chans(herd_loop_t *l) {
  int ran = 0;
  for (struct watcher *w = l->chans, *next; w; w = next) {
    next = w->cnext; /* run_chan may unlink w (its end) */
    if (!w->dead && herd__chan_pending(w->chan) && chan_readable(w)) {
      run_chan(l, w, EPOLLIN);
      ran++;
    }
  }
  return ran;
}

/* ---- the loop -------------------------------------------------- */

int herd_loop_new(herd_loop_t **out) {
  if (!out)
    return -EINVAL;
  *out = NULL;
  herd_loop_t *l = calloc(1, sizeof *l);
  if (!l)
    return -ENOMEM;
  l->epfd = l->tfd = l->sfd = -1;
  sigemptyset(&l->sigs);
  sigemptyset(&l->blocked_by_us);
  sigemptyset(&l->sig_unref);
  int r = 0;
  l->nbuckets = 16;
  l->buckets = calloc(l->nbuckets, sizeof *l->buckets);
  if (!l->buckets) {
    r = -ENOMEM;
    goto fail;
  }
  l->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (l->epfd < 0) {
    r = -errno;
    goto fail;
  }
  l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (l->tfd < 0) {
    r = -errno;
    goto fail;
  }
  struct watcher *w;
  r = herd__loop_watch(l, l->tfd, EPOLLIN, W_TIMER, &w);
  if (r < 0)
    goto fail;
  *out = l;
  return 0;
fail:
  herd_loop_free(l);
  return r;
}

void herd_loop_free(herd_loop_t *l) {
  if (!l)
    return;
  herd__loop_execs_free(l);
  herd__loop_cios_free(l);
  for (size_t i = 0; l->buckets && i < l->nbuckets; i++) {
    struct watcher *w = l->buckets[i];
    while (w) {
      struct watcher *next = w->next;
      if (w->kind == W_CHILD)
        herd__loop_guard_drop(l, w->guard);
      free(w);
      w = next;
    }
  }
  reap_dead(l);
  free(l->buckets);
  for (size_t i = 0; i < l->nheap; i++)
    l->heap[i]->heap_index = 0;
  free(l->heap);
  free(l->iobuf);
  herd__close(l->sfd);
  herd__close(l->tfd);
  herd__close(l->epfd);
  /* Signals we blocked go back, now that nothing reads them. */
  (void)pthread_sigmask(SIG_UNBLOCK, &l->blocked_by_us, NULL);
  free(l);
}

int herd_loop_fd(const herd_loop_t *l) {
  return l ? l->epfd : -EINVAL;
}

int herd_loop_run_once(herd_loop_t *l, int timeout_ms) {
  if (!l || timeout_ms < -1)
    return -EINVAL;
  /* What was sent outside a callback since the last turn goes out now,
   * or the wait below could outlast a reply that needs it. If that
   * drains a channel its sender had to slow down for, this turn does not
   * sleep: the caller may have more to send (no event would say so). */
  if (flush_chans(l) || chans_pending(l))
    timeout_ms = 0;
  struct epoll_event evs[64];
  int n = epoll_wait(l->epfd, evs, 64, timeout_ms);
  if (n < 0)
    return errno == EINTR ? 0 : -errno;
  int ran = 0;
  int err = 0;
  for (int i = 0; i < n; i++) {
    struct watcher *w = evs[i].data.ptr;
    if (w->dead)
      continue;
    int r = 0;
    switch (w->kind) {
    case W_IO:
      w->cb(l, w->fd, evs[i].events, w->data);
      r = 1;
      break;
    case W_TIMER:
      r = herd__loop_run_timers(l);
      break;
    case W_SIGNAL:
      r = run_signals(l);
      break;
    case W_CHILD:
      run_child(l, w);
      r = 1;
      break;
    case W_EXEC:
      herd__loop_exec_step(l, w->exec);
      r = 1;
      break;
    case W_CHAN:
      run_chan(l, w, evs[i].events);
      r = 1;
      break;
    case W_CIO:
      herd__loop_cio_event(l, w);
      r = 1;
      break;
    }
    if (r < 0 && !err)
      err = r;
    else if (r > 0)
      ran += r;
  }
  ran += run_pending_chans(l);
  (void)flush_chans(l);
  reap_dead(l);
  herd__loop_cios_reap(l);
  return err ? err : ran;
}

int herd_loop_run(herd_loop_t *l) {
  if (!l)
    return -EINVAL;
  l->stopped = 0;
  while (!l->stopped && herd__loop_alive(l)) {
    int r = herd_loop_run_once(l, -1);
    if (r < 0)
      return r;
  }
  return 0;
}

void herd_loop_stop(herd_loop_t *l) {
  if (l)
    l->stopped = 1;
}
