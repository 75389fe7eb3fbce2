/*
 * loopexec.c - herd_loop_exec: an exec (exec.c) run by the loop. The
 * exec says which fds it waits on and for how long (herd_exec_fds,
 * herd_exec_timeout); after each step the loop's watched set and timer
 * are made to match, and when it ends the record goes and the callback
 * gets the result.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"

#define EXEC_FDS HERD_EXEC_FDS_MAX

struct exec_rec {
  herd_exec_t *x;
  herd_exec_cb cb;
  void *data;
  herd_timer_t timer;
  int fds[EXEC_FDS]; /* registered, -1 = free slot */
  struct exec_rec *prev, *next;
};

static void exec_timer_cb(herd_loop_t *l, herd_timer_t *t, void *data) {
  (void)t;
  herd__loop_exec_step(l, data);
}

static void exec_unlink(herd_loop_t *l, struct exec_rec *e) {
  for (int i = 0; i < EXEC_FDS; i++)
    if (e->fds[i] >= 0) {
      (void)herd__loop_unwatch(l, e->fds[i]);
      e->fds[i] = -1;
    }
  herd_loop_timer_stop(l, &e->timer);
  if (e->prev)
    e->prev->next = e->next;
  else
    l->execs = e->next;
  if (e->next)
    e->next->prev = e->prev;
  l->nwatch--; /* the exec itself */
}

/* Make the watched set match what the exec wants now. */
static int exec_sync(herd_loop_t *l, struct exec_rec *e) {
  int fds[EXEC_FDS];
  short ev[EXEC_FDS];
  int n = herd_exec_fds(e->x, fds, ev, EXEC_FDS);
  for (int i = 0; i < EXEC_FDS; i++) {
    if (e->fds[i] < 0)
      continue;
    int keep = 0;
    for (int j = 0; j < n; j++)
      keep |= fds[j] == e->fds[i];
    if (!keep) {
      /* The exec closed it already: herd__loop_unwatch tolerates that. */
      (void)herd__loop_unwatch(l, e->fds[i]);
      e->fds[i] = -1;
    }
  }
  for (int j = 0; j < n; j++) {
    int have = 0;
    for (int i = 0; i < EXEC_FDS; i++)
      have |= e->fds[i] == fds[j];
    if (have)
      continue;
    struct watcher *w;
    int r = herd__loop_watch(l, fds[j], (uint32_t)ev[j], W_EXEC, &w);
    if (r < 0)
      return r;
    w->exec = e;
    for (int i = 0; i < EXEC_FDS; i++)
      if (e->fds[i] < 0) {
        e->fds[i] = fds[j];
        break;
      }
  }
  int ms = herd_exec_timeout(e->x);
  if (ms < 0) {
    herd_loop_timer_stop(l, &e->timer);
    return 0;
  }
  return herd_loop_timer_start(l, &e->timer, (uint64_t)ms, exec_timer_cb, e);
}

void herd__loop_exec_step(herd_loop_t *l, struct exec_rec *e) {
  int r = herd_exec_step(e->x);
  if (r == 0) {
    r = exec_sync(l, e);
    if (r == 0)
      return;
    /* Cannot watch it any more: end it (killed and reaped by free). */
  }
  herd_exec_result_t res;
  memset(&res, 0, sizeof res);
  if (r == 1)
    r = herd_exec_take(e->x, &res);
  exec_unlink(l, e);
  herd_exec_free(e->x);
  herd_exec_cb cb = e->cb;
  void *data = e->data;
  free(e);
  cb(l, r < 0 ? r : 0, r < 0 ? NULL : &res, data);
}

int herd_loop_exec(herd_loop_t *l, const char *file, char *const argv[],
                   int shell, const herd_exec_opts_t *opts, herd_exec_cb cb,
                   void *data) {
  if (!l || !cb)
    return -EINVAL;
  struct exec_rec *e = calloc(1, sizeof *e);
  if (!e)
    return -ENOMEM;
  for (int i = 0; i < EXEC_FDS; i++)
    e->fds[i] = -1;
  int r = herd_exec_start(&e->x, file, argv, shell, opts);
  if (r < 0) {
    free(e);
    return r;
  }
  e->cb = cb;
  e->data = data;
  e->next = l->execs;
  if (l->execs)
    l->execs->prev = e;
  l->execs = e;
  l->nwatch++;
  r = exec_sync(l, e);
  if (r < 0) {
    exec_unlink(l, e);
    herd_exec_free(e->x);
    free(e);
    return r;
  }
  return 0;
}

void herd__loop_execs_free(herd_loop_t *l) {
  while (l->execs) {
    struct exec_rec *e = l->execs;
    exec_unlink(l, e);
    herd_exec_free(e->x);
    free(e);
  }
}
