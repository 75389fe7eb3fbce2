/*
 * loopchild.c - herd_loop_child_io: a child watched together with its
 * output pipes, for Node's three events of a ChildProcess: 'data' (a
 * read of stdout or stderr), 'exit' (reaped) and 'close'.
 *
 * Node counts, in lib/internal/child_process.js, the closes a child
 * needs (_closesNeeded): one for the exit, one per piped stdio stream
 * but stdin, one for an IPC channel; maybeClose emits 'close' when the
 * last of them came. So 'close' waits for a grandchild that holds a
 * pipe open after the child exited. Here the same count is kept as the
 * watch's fds still open: the pidfd until the reap, each pipe until its
 * end, when the loop closes it, and the channel (opts->chan) until its
 * end. The channel is watched as herd_loop_chan watches one, its
 * callback wrapped to count the end; the caller closes it.
 *
 * Node's parent-side child.disconnect() closes the channel without
 * counting it, and 'close' never comes (Node 20). Here the channel can
 * only end from the peer's side (herd_loop_chan_stop on it is -EBUSY),
 * so close always comes once the child and its descendants let go.
 *
 * One read per event and pipe, of at most HERD__IOBUF bytes (libuv's
 * 64 KiB), into one buffer per loop: a pipe that never stops cannot
 * starve the others. A record whose watch ends (close, or stop) stays
 * until the end of the batch, as the loop's watchers do: the callback
 * that ended it may still be running above us.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "loop.h"

struct cio_rec {
  herd_child_t *child;
  herd_child_io_opts_t opts;
  void *data;
  int fds[3]; /* watched: [0] the pidfd, [1] [2] the pipes; -1 = ended */
  int chan_open; /* opts.chan is watched and has not ended */
  struct child_guard *guard; /* the child's timeout and abort, until its exit */
  int dead;
  struct cio_rec *prev, *next; /* l->cios, or l->cio_dead (next only) */
};

/* The watch is over: its fds leave the loop, its record goes after the
 * batch. Pipes not at their end stay open, the caller's again. */
static void cio_end(herd_loop_t *l, struct cio_rec *c) {
  herd__loop_guard_free(l, c->guard);
  c->guard = NULL;
  for (int i = 0; i < 3; i++)
    if (c->fds[i] >= 0) {
      (void)herd__loop_unwatch(l, c->fds[i]);
      c->fds[i] = -1;
    }
  if (c->chan_open) {
    struct watcher *w = herd__loop_find(l, herd_chan_fd(c->opts.chan));
    if (w && w->cio == c)
      (void)herd__loop_unwatch(l, w->fd);
    c->chan_open = 0;
  }
  c->dead = 1;
  if (c->prev)
    c->prev->next = c->next;
  else
    l->cios = c->next;
  if (c->next)
    c->next->prev = c->prev;
  c->prev = NULL;
  c->next = l->cio_dead;
  l->cio_dead = c;
}

/* Node's maybeClose: the last of the exit, the pipes' ends and the
 * channel's end. */
static void maybe_close(herd_loop_t *l, struct cio_rec *c) {
  if (c->dead || c->fds[0] >= 0 || c->fds[1] >= 0 || c->fds[2] >= 0 ||
      c->chan_open)
    return;
  herd_child_cb cb = c->opts.on_close;
  cio_end(l, c);
  if (cb)
    cb(l, c->child, c->data);
}

static void on_pidfd(herd_loop_t *l, struct cio_rec *c) {
  herd_child_t *child = c->child;
  int r = herd__reap(child, WNOHANG);
  if (r == 0)
    return; /* spurious */
  (void)herd__loop_unwatch(l, c->fds[0]);
  c->fds[0] = -1;
  herd__loop_guard_free(l, c->guard);
  c->guard = NULL;
  if (r < 0) {
    /* Reaped elsewhere (ECHILD) or unwaitable: gone, with no status. */
    child->reaped = 1;
    child->exit_code = -1;
    child->term_signal = 0;
  }
  if (c->opts.on_exit)
    c->opts.on_exit(l, child, c->data);
  maybe_close(l, c);
}

static void on_pipe(herd_loop_t *l, struct cio_rec *c, int stream) {
  int fd = c->fds[stream];
  ssize_t n = herd__read(fd, l->iobuf, HERD__IOBUF);
  if (n == -EAGAIN)
    return;
  if (n > 0) {
    if (c->opts.on_data)
      c->opts.on_data(l, c->child, stream, l->iobuf, (size_t)n, c->data);
    return;
  }
  /* EOF, or an error (Node: the stream's 'error', then its 'close'):
   * the end of this stream either way. */
  (void)herd__loop_unwatch(l, fd);
  herd__close(fd);
  c->fds[stream] = -1;
  c->child->stdio[stream] = -1;
  maybe_close(l, c);
}

/* The channel's callback: the caller's, then the count at its end (the
 * loop stopped watching it: every err but those two, as run_chan). */
static void on_chan(herd_loop_t *l, herd_chan_t *ch, int err,
                    herd_chan_msg_t *msg, void *data) {
  struct cio_rec *c = data;
  c->opts.on_message(l, ch, err, msg, c->data);
  if (err < 0 && err != HERD_EFRAME && err != HERD_ETOOLONG &&
      c->chan_open) {
    c->chan_open = 0;
    maybe_close(l, c);
  }
}

void herd__loop_cio_guard_ref(herd_loop_t *l, struct cio_rec *c, int ref) {
  herd__loop_guard_ref(l, c->guard, ref);
}

void herd__loop_cio_event(herd_loop_t *l, struct watcher *w) {
  if (w->stream == 0)
    on_pidfd(l, w->cio);
  else
    on_pipe(l, w->cio, w->stream);
}

int herd_loop_child_io(herd_loop_t *l, herd_child_t *child,
                       const herd_child_io_opts_t *opts, void *data) {
  if (!l || !child || !opts || child->pid <= 0 ||
      (opts->chan && !opts->on_message))
    return -EINVAL;
  if (child->pidfd < 0)
    return -EBADF;
  int fds[3] = {child->pidfd, child->stdio[1], child->stdio[2]};
  /* Refuse before changing anything (O_NONBLOCK below). */
  for (int i = 0; i < 3; i++)
    if (fds[i] >= 0 && herd__loop_find(l, fds[i]))
      return -EEXIST;
  if (fds[1] >= 0 && fds[1] == fds[2])
    return -EEXIST;
  if (opts->chan && herd__loop_find(l, herd_chan_fd(opts->chan)))
    return -EEXIST;
  if (!l->iobuf && !(l->iobuf = malloc(HERD__IOBUF)))
    return -ENOMEM;
  struct cio_rec *c = calloc(1, sizeof *c);
  if (!c)
    return -ENOMEM;
  c->child = child;
  c->opts = *opts;
  c->data = data;
  c->fds[0] = c->fds[1] = c->fds[2] = -1;
  c->next = l->cios;
  if (l->cios)
    l->cios->prev = c;
  l->cios = c;
  int r = 0;
  for (int i = 0; i < 3 && r == 0; i++) {
    if (fds[i] < 0)
      continue;
    /* A read must never block the loop. */
    if (i > 0 && (r = herd__set_nonblock(fds[i], 1)) < 0)
      break;
    struct watcher *w;
    r = herd__loop_watch(l, fds[i], EPOLLIN, W_CIO, &w);
    if (r < 0)
      break;
    w->cio = c;
    w->stream = i;
    c->fds[i] = fds[i];
  }
  if (r == 0 && opts->chan &&
      (r = herd_loop_chan(l, opts->chan, on_chan, c)) == 0) {
    herd__loop_find(l, herd_chan_fd(opts->chan))->cio = c;
    c->chan_open = 1;
  }
  if (r == 0 && c->fds[0] >= 0)
    r = herd__loop_guard_new(l, child, &c->guard);
  if (r < 0)
    cio_end(l, c); /* freed after the next batch, or by herd_loop_free */
  return r;
}

int herd_loop_child_io_stop(herd_loop_t *l, herd_child_t *child) {
  if (!l || !child)
    return -EINVAL;
  for (struct cio_rec *c = l->cios; c; c = c->next)
    if (c->child == child) {
      cio_end(l, c);
      return 0;
    }
  return -ENOENT;
}

void herd__loop_cios_reap(herd_loop_t *l) {
  while (l->cio_dead) {
    struct cio_rec *c = l->cio_dead;
    l->cio_dead = c->next;
    free(c);
  }
}

void herd__loop_cios_free(herd_loop_t *l) {
  while (l->cios) {
    struct cio_rec *c = l->cios;
    l->cios = c->next;
    herd__loop_guard_drop(l, c->guard);
    free(c);
  }
  herd__loop_cios_reap(l);
}
