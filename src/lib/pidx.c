/*
 * pidx.c - the running workers by pid: a chained hash table, so that
 * what looks a worker up by pid (each reap, each notify datagram, each
 * process found after an exit) costs the same with 4096 workers as with
 * one. A worker is in it from its launch to its reap (W_EXITED: its pid
 * may be a new process's by then).
 */
#include <stdlib.h>

#include "sup.h"

#define PIDX_MIN 64

static size_t bucket(const herd_cluster_t *c, pid_t pid) {
  return ((size_t)(unsigned)pid * 2654435761u) & (c->npidx - 1);
}

/* Twice the buckets once there are as many workers as buckets, filled
 * from the list of workers (w, being added, is not in it yet). Out of
 * memory, the chains just get longer. */
static void grow(herd_cluster_t *c) {
  size_t n = c->npidx ? c->npidx * 2 : PIDX_MIN;
  struct worker **nb = calloc(n, sizeof *nb);
  if (!nb)
    return;
  free(c->pidx);
  c->pidx = nb;
  c->npidx = n;
  for (struct worker *w = c->workers; w; w = w->next)
    if (w->state != W_EXITED) {
      size_t b = bucket(c, w->pid);
      w->pnext = nb[b];
      nb[b] = w;
    }
}

/* w: launched, not in c->workers yet */
void sup__pid_add(herd_cluster_t *c, struct worker *w) {
  if (c->npidx <= c->nrunning)
    grow(c);
  c->nrunning++;
  if (!c->pidx)
    return; /* sup__find_pid falls back to the list */
  size_t b = bucket(c, w->pid);
  w->pnext = c->pidx[b];
  c->pidx[b] = w;
}

void sup__pid_del(herd_cluster_t *c, struct worker *w) {
  c->nrunning--;
  if (!c->pidx)
    return;
  for (struct worker **pp = &c->pidx[bucket(c, w->pid)]; *pp; pp = &(*pp)->pnext)
    if (*pp == w) {
      *pp = w->pnext;
      break;
    }
  w->pnext = NULL;
}

struct worker *sup__find_pid(herd_cluster_t *c, pid_t pid) {
  if (!c->pidx) {
    for (struct worker *w = c->workers; w; w = w->next)
      if (w->pid == pid && w->state != W_EXITED)
        return w;
    return NULL;
  }
  for (struct worker *w = c->pidx[bucket(c, pid)]; w; w = w->pnext)
    if (w->pid == pid)
      return w;
  return NULL;
}

void sup__pid_free(herd_cluster_t *c) {
  free(c->pidx);
  c->pidx = NULL;
  c->npidx = 0;
}
