/*
 * loop.h - the event loop's parts, shared by its files. Not installed.
 *
 *   loop.c       the watchers (fd -> watcher), signals, fds, children,
 *                channels, and the loop itself: new, free, dispatch, run
 *   looptimer.c  the timers: a min-heap behind one timerfd
 *   loopexec.c   herd_loop_exec: the exec state machine driven through
 *                the loop's fds and a timer
 *   loopchild.c  herd_loop_child_io: a child with its output pipes, and
 *                Node's 'close' (after the exit and every pipe's end)
 *   loopref.c    ref/unref: which watches keep herd_loop_run going
 */
#ifndef HERD_LOOP_H
#define HERD_LOOP_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

enum wkind { W_IO, W_TIMER, W_SIGNAL, W_CHILD, W_EXEC, W_CHAN, W_CIO };

struct exec_rec;
struct child_guard;
struct cio_rec;

struct watcher {
  int fd;
  int kind;
  int dead;
  uint32_t events;
  herd_io_cb cb;
  void *data;
  herd_child_t *child;   /* W_CHILD */
  herd_child_cb child_cb;
  struct child_guard *guard; /* W_CHILD: its timeout and abort, or NULL */
  struct exec_rec *exec; /* W_EXEC */
  herd_chan_t *chan;     /* W_CHAN */
  herd_chan_cb chan_cb;
  int batch;             /* W_CHAN: messages per turn, 0 = CHAN_BATCH */
  size_t max_out;        /* W_CHAN: no reading while more is queued out */
  struct watcher *cprev, *cnext; /* the loop's list of channels */
  struct watcher *next;  /* hash chain, or the dead list */
  int unref;             /* herd_loop_*_ref(.., 0): run does not wait for it */
  struct cio_rec *cio;   /* W_CIO, or a W_CHAN of a child-io watch */
  int stream;            /* W_CIO: 0 the pidfd, 1 or 2 that output pipe */
};

struct herd_loop {
  int epfd;
  int tfd;
  int sfd;
  int stopped;
  struct watcher **buckets;
  size_t nbuckets;
  size_t nwatch;       /* live watchers of every kind but the internal ones */
  struct watcher *dead;
  herd_timer_t **heap; /* min-heap on due_ms */
  size_t nheap, capheap;
  uint64_t armed;      /* due_ms the timerfd is set for, 0 = disarmed */
  sigset_t sigs;       /* signals delivered through sfd */
  sigset_t blocked_by_us;
  herd_signal_cb sigcb[_NSIG];
  void *sigdata[_NSIG];
  int nsigs;
  struct exec_rec *execs;
  struct watcher *chans;
  size_t nunref;        /* of the nwatch, those unref'd */
  size_t nunref_timers; /* of the queued timers, those unref'd */
  sigset_t sig_unref;   /* of the signals, those unref'd */
  int nsig_unref;
  struct cio_rec *cios;     /* child-io watches, and those ended in this */
  struct cio_rec *cio_dead; /* batch (freed after it) */
  char *iobuf;              /* child-io reads, HERD__IOBUF bytes */
};

#define HERD__IOBUF 65536

/* loop.c: watch fd (events) as a watcher of kind (enum wkind) in *out;
 * -EBADF, -EEXIST (watched already), -ENOMEM or epoll_ctl's -errno.
 * unwatch: the fd leaves the set and its watcher is marked dead (freed
 * after the dispatch batch); -ENOENT if not watched. */
int herd__loop_watch(herd_loop_t *l, int fd, uint32_t events, int kind,
                     struct watcher **out);
int herd__loop_unwatch(herd_loop_t *l, int fd);
/* loop.c: the live watcher of fd, or NULL. */
struct watcher *herd__loop_find(const herd_loop_t *l, int fd);

/* looptimer.c: run the timers that are due (the timerfd fired). Returns
 * how many ran, or -errno. */
int herd__loop_run_timers(herd_loop_t *l);

/* loopexec.c: one step of an exec whose fd or timer fired (its callback
 * runs when it ends); and, at herd_loop_free, every exec still running
 * ended without its callback (herd_exec_free kills and reaps it). */
void herd__loop_exec_step(herd_loop_t *l, struct exec_rec *e);
void herd__loop_execs_free(herd_loop_t *l);

/* loopchild.c: an event on a child-io watch's pidfd or pipe; after the
 * batch, the records of the watches that ended are freed; at
 * herd_loop_free, all of them (the pipes stay in child->stdio). */
void herd__loop_cio_event(herd_loop_t *l, struct watcher *w);
/* A watched child's timeout and abort (loop.c): made with the watch,
 * freed when it ends, dropped by herd_loop_free, ref'd with the child. */
int herd__loop_guard_new(herd_loop_t *l, herd_child_t *c, struct child_guard **out);
void herd__loop_guard_free(herd_loop_t *l, struct child_guard *g);
void herd__loop_guard_drop(herd_loop_t *l, struct child_guard *g);
void herd__loop_guard_ref(herd_loop_t *l, struct child_guard *g, int ref);
void herd__loop_cio_guard_ref(herd_loop_t *l, struct cio_rec *c, int ref);
void herd__loop_cios_reap(herd_loop_t *l);
void herd__loop_cios_free(herd_loop_t *l);

/* loopref.c: does anything referenced keep herd_loop_run going? */
int herd__loop_alive(const herd_loop_t *l);

#endif
