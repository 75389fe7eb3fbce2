/*
 * topdata.c - herd top's figures: each app's status, asked of its master
 * on the control socket once a second (the request `herd status --json`
 * makes), checked as herd status checks it, and the history of each
 * worker's CPU and RSS and of each app's restarts, kept on this side.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "top.h"

/* Push x as the newest of the n samples of v (cap TOP_HIST). */
static void push(double *v, int *n, double x) {
  if (*n == TOP_HIST) {
    memmove(v, v + 1, (TOP_HIST - 1) * sizeof *v);
    (*n)--;
  }
  v[(*n)++] = x;
}

const struct top_hist *top_hist_of(const struct top *t, pid_t pid) {
  for (int i = 0; i < t->nhist; i++)
    if (t->hist[i].pid == pid)
      return &t->hist[i];
  return NULL;
}

static void hist_add(struct top *t, pid_t pid, double cpu, double rss) {
  struct top_hist *h = (struct top_hist *)top_hist_of(t, pid);
  if (!h) {
    struct top_hist *nh = realloc(t->hist, (size_t)(t->nhist + 1) * sizeof *nh);
    if (!nh)
      return; /* no history for it: its graphs stay empty */
    t->hist = nh;
    h = &t->hist[t->nhist++];
    h->pid = pid;
    h->n = 0;
  }
  h->seen = 1;
  int n = h->n; /* one count for both series */
  push(h->cpu, &n, cpu);
  n = h->n;
  push(h->rss, &n, rss);
  h->n = n;
}

/* Forget the workers that were not in this refresh's replies. */
static void hist_prune(struct top *t) {
  int k = 0;
  for (int i = 0; i < t->nhist; i++)
    if (t->hist[i].seen) {
      if (k != i)
        t->hist[k] = t->hist[i];
      t->hist[k++].seen = 0;
    }
  t->nhist = k;
}

/* A worker's state as herd status shows it. */
static void worker_state(struct top_worker *w, const herd_val_t *v, long long retry) {
  const char *state = jstr(jget(v, "state"), "?");
  char raw[16];
  if (retry > 0)
    snprintf(raw, sizeof raw, "%s", !strcmp(state, "parked") ? "parked" : "backoff");
  else
    snprintf(raw, sizeof raw, "%s%.10s", jbool(jget(v, "successor"), 0) ? "+" : "",
             state);
  cli_printable(w->state, sizeof w->state, raw, strlen(raw));
}

/* The status reply v into a; 0, or -1 with a->err set (a number out of
 * its range: not a herd reply). */
static int read_status(struct top_app *a, const herd_val_t *v) {
  struct rd r = {""};
  const char *state = jstr(jget(v, "state"), "online");
  cli_printable(a->state, sizeof a->state, state, strnlen(state, 12));
  a->pid = (pid_t)rd_int(&r, jget(v, "pid"), "pid", 0, INT_MAX);
  a->wanted = rd_int(&r, jget(v, "workers_wanted"), "workers_wanted", 0, INT_MAX);
  a->ready = rd_int(&r, jget(v, "workers_ready"), "workers_ready", 0, INT_MAX);
  a->uptime_ms = rd_int(&r, jget(v, "uptime_ms"), "uptime_ms", 0, LLONG_MAX);
  a->reloading = jbool(jget(v, "reloading"), 0);
  a->stopping = jbool(jget(v, "stopping"), 0);
  long long rst = rd_int(&r, jget(jget(v, "counters"), "restarts"), "counters.restarts",
                         0, LLONG_MAX);
  const herd_val_t *ws = jget(v, "workers");
  size_t n = jlen(ws);
  if (n > 2 * HERD_MAX_WORKERS)
    n = 2 * HERD_MAX_WORKERS; /* a slot has two rows at most */
  struct top_worker *w = n ? calloc(n, sizeof *w) : NULL;
  if (n && !w) {
    snprintf(a->err, sizeof a->err, "%s", strerror(ENOMEM));
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    const herd_val_t *x = jat(ws, i);
    w[i].slot = (int)rd_int(&r, jget(x, "slot"), "workers[].slot", 0, INT_MAX);
    w[i].pid = (pid_t)rd_int(&r, jget(x, "pid"), "workers[].pid", 0, INT_MAX);
    w[i].uptime_ms =
        rd_int(&r, jget(x, "uptime_ms"), "workers[].uptime_ms", 0, LLONG_MAX);
    w[i].restarts = rd_int(&r, jget(x, "restarts"), "workers[].restarts", 0, UINT_MAX);
    w[i].rss = (double)rd_int(&r, jget(x, "rss"), "workers[].rss", 0, LLONG_MAX);
    double cpu = jnum(jget(x, "cpu"), 0);
    w[i].cpu = cpu >= 0 && cpu < 1e7 ? cpu : 0;
    worker_state(&w[i], x, rd_int(&r, jget(x, "retry_ms"), "workers[].retry_ms", 0,
                                  LLONG_MAX));
  }
  if (r.bad[0]) {
    free(w);
    snprintf(a->err, sizeof a->err, "not a herd reply: %s", r.bad);
    return -1;
  }
  free(a->w);
  a->w = w;
  a->nw = (int)n;
  /* restarts since the last refresh (a new master starts at 0 again) */
  push(a->rst, &a->nrst, a->have_restarts && rst >= a->restarts
                             ? (double)(rst - a->restarts) : 0);
  a->restarts = rst;
  a->have_restarts = 1;
  return 0;
}

/* Ask a's master for its status, as herd list does (ctlshow.c), within
 * TOP_ASK_MS: the view must not stop for a master that is busy. */
static void ask_app(struct top *t, struct top_app *a) {
  herd_chan_t *ch;
  char *line = NULL;
  herd_val_t *v = NULL;
  a->live = 0;
  int r = ctl_connect(t->home, a->name, &ch, a->err, sizeof a->err);
  a->err_named = r < 0;
  if (r == 0) {
    int tmo = REPLY_TIMEOUT_MS < TOP_ASK_MS ? REPLY_TIMEOUT_MS : TOP_ASK_MS;
    r = ctl_request(ch, "{\"cmd\":\"status\"}", &line, tmo);
    herd_chan_close(ch);
    if (r == 0)
      v = jparse(line, strlen(line));
    if (v && jis_obj(v) && jbool(jget(v, "ok"), 0))
      a->live = read_status(a, v) == 0;
    else if (v && jis_obj(v) && jget(v, "ok"))
      snprintf(a->err, sizeof a->err, "refused: %.200s", jstr(jget(v, "error"), "?"));
    else if (r == -ETIMEDOUT)
      snprintf(a->err, sizeof a->err, "busy: no reply within %d ms", tmo);
    else if (r == -ECONNRESET)
      snprintf(a->err, sizeof a->err, "the master closed the connection without a "
               "reply (it is stopping?)");
    else
      snprintf(a->err, sizeof a->err, "%s/%s.sock is not a herd control socket",
               t->home, a->name);
  }
  if (!a->live) {
    free(a->w);
    a->w = NULL;
    a->nw = 0;
    a->have_restarts = 0;
  }
  herd_val_free(v);
  free(line);
}

/* The apps to show now: NAME, or HERD_HOME's (each keeps its history by
 * its name). */
static void sync_apps(struct top *t) {
  char **names = NULL;
  char *one[1] = {(char *)t->only};
  int n = 1;
  if (!t->only) {
    n = home_apps(t->home, &names);
    if (n < 0) {
      snprintf(t->home_err, sizeof t->home_err, "%s", strerror(-n));
      return; /* the apps of the last look stay */
    }
    t->home_err[0] = '\0';
  } else {
    names = one;
  }
  struct top_app *na = n ? calloc((size_t)n, sizeof *na) : NULL;
  if (n && !na) {
    snprintf(t->home_err, sizeof t->home_err, "%s", strerror(ENOMEM));
    if (names != one)
      home_apps_free(names, n);
    return;
  }
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < t->napps; k++)
      if (t->apps[k].name[0] && !strcmp(t->apps[k].name, names[i])) {
        na[i] = t->apps[k];
        t->apps[k].name[0] = '\0';
        t->apps[k].w = NULL;
        break;
      }
    snprintf(na[i].name, sizeof na[i].name, "%s", names[i]);
  }
  for (int k = 0; k < t->napps; k++)
    free(t->apps[k].w);
  free(t->apps);
  t->apps = na;
  t->napps = n;
  if (names != one)
    home_apps_free(names, n);
}

void top_refresh(struct top *t) {
  sync_apps(t);
  for (int i = 0; i < t->napps; i++) {
    struct top_app *a = &t->apps[i];
    ask_app(t, a);
    for (int k = 0; k < a->nw; k++)
      if (a->w[k].pid > 0)
        hist_add(t, a->w[k].pid, a->w[k].cpu, a->w[k].rss);
  }
  hist_prune(t);
  /* the selection stays on its app; else on the same line */
  int found = -1;
  for (int i = 0; i < t->napps && found < 0; i++)
    if (!strcmp(t->apps[i].name, t->selname))
      found = i;
  if (found >= 0)
    t->sel = found;
  if (t->sel >= t->napps)
    t->sel = t->napps - 1;
  if (t->sel < 0)
    t->sel = 0;
  if (t->napps)
    snprintf(t->selname, sizeof t->selname, "%s", t->apps[t->sel].name);
}

void top_free(struct top *t) {
  for (int k = 0; k < t->napps; k++)
    free(t->apps[k].w);
  free(t->apps);
  free(t->hist);
  t->apps = NULL;
  t->hist = NULL;
  t->napps = t->nhist = 0;
}
