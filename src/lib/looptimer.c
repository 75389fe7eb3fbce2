/*
 * looptimer.c - the loop's timers: a min-heap on the due time behind one
 * timerfd (CLOCK_MONOTONIC, absolute), which is re-set only when the
 * earliest due time changes. herd_timer_t is the caller's storage: the
 * heap holds pointers, and a timer knows its place (heap_index, 0 when
 * idle), so stopping one is O(log n).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>

#include "loop.h"

static void heap_swap(herd_loop_t *l, size_t a, size_t b) {
  herd_timer_t *t = l->heap[a];
  l->heap[a] = l->heap[b];
  l->heap[b] = t;
  l->heap[a]->heap_index = a + 1;
  l->heap[b]->heap_index = b + 1;
}

static void heap_up(herd_loop_t *l, size_t i) {
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (l->heap[p]->due_ms <= l->heap[i]->due_ms)
      break;
    heap_swap(l, p, i);
    i = p;
  }
}

static void heap_down(herd_loop_t *l, size_t i) {
  for (;;) {
    size_t a = 2 * i + 1, b = a + 1, m = i;
    if (a < l->nheap && l->heap[a]->due_ms < l->heap[m]->due_ms)
      m = a;
    if (b < l->nheap && l->heap[b]->due_ms < l->heap[m]->due_ms)
      m = b;
    if (m == i)
      return;
    heap_swap(l, m, i);
    i = m;
  }
}

static void heap_remove(herd_loop_t *l, herd_timer_t *t) {
  size_t i = t->heap_index - 1;
  t->heap_index = 0;
  l->nheap--;
  if (t->unref)
    l->nunref_timers--;
  if (i == l->nheap)
    return;
  l->heap[i] = l->heap[l->nheap];
  l->heap[i]->heap_index = i + 1;
  heap_up(l, i);
  heap_down(l, i);
}

/* Point the timerfd at the earliest timer (only when that changed). */
static int arm(herd_loop_t *l) {
  uint64_t due = l->nheap ? l->heap[0]->due_ms : 0;
  if (due == l->armed)
    return 0;
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  if (due) {
    its.it_value.tv_sec = (time_t)(due / 1000);
    its.it_value.tv_nsec = (long)(due % 1000) * 1000000L;
  }
  if (timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
    return -errno;
  l->armed = due;
  return 0;
}

int herd_loop_timer_start(herd_loop_t *l, herd_timer_t *t, uint64_t ms,
                          herd_timer_cb cb, void *data) {
  if (!l || !t || !cb)
    return -EINVAL;
  if (t->heap_index)
    heap_remove(l, t);
  if (l->nheap == l->capheap) {
    size_t n = l->capheap ? l->capheap * 2 : 16;
    herd_timer_t **nh = realloc(l->heap, n * sizeof *nh);
    if (!nh)
      return -ENOMEM;
    l->heap = nh;
    l->capheap = n;
  }
  /* herd__now_ms is CLOCK_MONOTONIC, the timerfd's clock. A due time of
   * 0 would mean "disarmed", so the earliest is 1. */
  uint64_t now = herd__now_ms();
  t->due_ms = ms > UINT64_MAX - now ? UINT64_MAX : now + ms; /* never wraps */
  if (t->due_ms == 0)
    t->due_ms = 1;
  t->cb = cb;
  t->data = data;
  l->heap[l->nheap] = t;
  t->heap_index = ++l->nheap;
  if (t->unref)
    l->nunref_timers++;
  heap_up(l, l->nheap - 1);
  return arm(l);
}

void herd_loop_timer_stop(herd_loop_t *l, herd_timer_t *t) {
  if (!l || !t || !t->heap_index)
    return;
  heap_remove(l, t);
  (void)arm(l);
}

int herd__loop_run_timers(herd_loop_t *l) {
  uint64_t exp;
  /* Consume the expiry count; EAGAIN when a rearm raced with it. */
  ssize_t n = herd__read(l->tfd, &exp, sizeof exp);
  if (n < 0 && n != -EAGAIN)
    return (int)n;
  l->armed = 0;
  uint64_t now = herd__now_ms();
  int ran = 0;
  while (l->nheap && l->heap[0]->due_ms <= now) {
    herd_timer_t *t = l->heap[0];
    heap_remove(l, t);
    t->cb(l, t, t->data);
    ran++;
  }
  int r = arm(l);
  return r < 0 ? r : ran;
}
