/*
 * loopref.c - ref and unref, as libuv's handles have them: herd_loop_run
 * goes on while something referenced is left. A watch is referenced
 * when it starts; an unreferenced one still fires, but only while
 * something else keeps the loop running.
 *
 * Counting, not scanning: the loop keeps how many of its watches,
 * queued timers and signals are unreferenced, and each place that adds
 * or removes one of them (herd__loop_unwatch, the timer heap, the NULL
 * herd_loop_signal) keeps its count right, so herd__loop_alive is three
 * comparisons per turn.
 */
#include <errno.h>
#include <signal.h>

#include "loop.h"

int herd__loop_alive(const herd_loop_t *l) {
  return l->nwatch > l->nunref || l->nheap > l->nunref_timers ||
         l->nsigs > l->nsig_unref;
}

static int set_ref(herd_loop_t *l, struct watcher *w, int ref) {
  int unref = !ref;
  if (w->unref != unref) {
    w->unref = unref;
    if (unref)
      l->nunref++;
    else
      l->nunref--;
  }
  return 0;
}

int herd_loop_fd_ref(herd_loop_t *l, int fd, int ref) {
  if (!l)
    return -EINVAL;
  struct watcher *w = herd__loop_find(l, fd);
  /* An fd of herd_loop_add, or an output pipe of a child-io watch (as
   * Node's child.stdout.unref()); not the fds the loop keeps itself. */
  if (!w || !(w->kind == W_IO || (w->kind == W_CIO && w->stream > 0)))
    return -ENOENT;
  return set_ref(l, w, ref);
}

int herd_loop_child_ref(herd_loop_t *l, herd_child_t *child, int ref) {
  if (!l || !child)
    return -EINVAL;
  struct watcher *w = herd__loop_find(l, child->pidfd);
  if (w && w->kind == W_CHILD && w->child == child) {
    herd__loop_guard_ref(l, w->guard, ref);
    return set_ref(l, w, ref);
  }
  /* A child-io watch: only its pidfd, as Node's child.unref() leaves the
   * stdio streams referenced. */
  if (w && w->kind == W_CIO && w->stream == 0) {
    herd__loop_cio_guard_ref(l, w->cio, ref);
    return set_ref(l, w, ref);
  }
  return -ENOENT;
}

int herd_loop_chan_ref(herd_loop_t *l, herd_chan_t *ch, int ref) {
  if (!l || !ch)
    return -EINVAL;
  struct watcher *w = herd__loop_find(l, herd_chan_fd(ch));
  if (!w || w->kind != W_CHAN || w->chan != ch)
    return -ENOENT;
  return set_ref(l, w, ref);
}

int herd_loop_timer_ref(herd_loop_t *l, herd_timer_t *t, int ref) {
  if (!l || !t)
    return -EINVAL;
  int unref = !ref;
  if (t->unref == unref)
    return 0;
  t->unref = unref;
  /* An idle timer keeps the flag for its next start (uv_unref too). */
  if (t->heap_index) {
    if (unref)
      l->nunref_timers++;
    else
      l->nunref_timers--;
  }
  return 0;
}

int herd_loop_signal_ref(herd_loop_t *l, int sig, int ref) {
  if (!l || sig <= 0 || sig >= _NSIG)
    return -EINVAL;
  if (!sigismember(&l->sigs, sig))
    return -ENOENT;
  int unref = sigismember(&l->sig_unref, sig);
  if (!ref && !unref) {
    sigaddset(&l->sig_unref, sig);
    l->nsig_unref++;
  } else if (ref && unref) {
    sigdelset(&l->sig_unref, sig);
    l->nsig_unref--;
  }
  return 0;
}
