/*
 * live.c - changing a running app's options without downtime, the
 * master's side (docs/control.md: "update", and "reload" with "env" or
 * "update_env"). The new options become a whole new app (app_set's
 * checks, app_finish), compared with the running one: what the master
 * cannot change while it runs is refused by name, with nothing changed;
 * the rest goes to the engine (herd_cluster_update) and the reload that
 * follows (ctlsrv.c's) starts every worker anew with it. The new app
 * stays the master's for later restarts, and for the next change.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jval.h"
#include "master.h"
#include "opts.h"

/* What the running master holds for good: the sockets it bound (and
 * their balance, the channels' and Node's protocol, the notify socket
 * made for the user), the metrics endpoint, the log writer. Their
 * names, into buf ("" if none differs). */
static void fixed_changes(const struct app *o, const struct app *n, char *buf,
                          size_t len) {
  char *p = buf;
  size_t left = len;
  buf[0] = '\0';
#define SAY(name)                                                             \
  do {                                                                        \
    int k_ = snprintf(p, left, "%s%s", p == buf ? "" : ", ", name);           \
    if (k_ > 0 && (size_t)k_ < left) {                                        \
      p += k_;                                                                \
      left -= (size_t)k_;                                                     \
    }                                                                         \
  } while (0)
  int same = o->nlisten == n->nlisten;
  for (int i = 0; same && i < o->nlisten; i++)
    same = !strcmp(o->listen[i], n->listen[i]);
  if (!same)
    SAY("listen");
  if (o->o.balance != n->o.balance)
    SAY("balance");
  static const struct {
    unsigned bit;
    const char *name;
  } flags[] = {{HERD_CLUSTER_NODE, "node-cluster"},
               {HERD_CLUSTER_IPC, "ipc"},
               {HERD_CLUSTER_STICKY, "sticky"}};
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
    if ((o->o.flags & flags[i].bit) != (n->o.flags & flags[i].bit))
      SAY(flags[i].name);
  const unsigned ids = HERD_SPAWN_SETUID | HERD_SPAWN_SETGID;
  if ((o->o.spawn.flags & ids) != (n->o.spawn.flags & ids) ||
      ((o->o.spawn.flags & ids) &&
       (o->o.spawn.uid != n->o.spawn.uid || o->o.spawn.gid != n->o.spawn.gid)))
    SAY("user");
  if ((o->metrics == NULL) != (n->metrics == NULL) ||
      (o->metrics && strcmp(o->metrics, n->metrics)))
    SAY("metrics");
  if (o->log_max_size != n->log_max_size)
    SAY("log-max-size");
  if (o->log_keep != n->log_keep)
    SAY("log-keep");
  if (o->log_files != n->log_files)
    SAY("log-files");
  /* the log writer takes these once, at the start */
  if (o->log_format != n->log_format)
    SAY("log-format");
  if ((o->log_date_format == NULL) != (n->log_date_format == NULL) ||
      (o->log_date_format && strcmp(o->log_date_format, n->log_date_format)))
    SAY("log-date-format");
#undef SAY
}

/* The base of the workers' environment (herd reload --update-env: the
 * caller's environment, over herd's own). */
struct base {
  char **kv;
  int n;
};

static void base_free(struct base *b) {
  for (int i = 0; i < b->n; i++)
    free(b->kv[i]);
  free(b->kv);
  b->kv = NULL;
  b->n = 0;
}

/* The workers' environment: the base under the app's variables. */
static int spawn_env(const struct base *base, struct app *a) {
  if (!base->n)
    return 0;
  size_t n = (size_t)base->n + (size_t)a->nenv;
  const char **env = calloc(n + 1, sizeof *env);
  if (!env)
    return -1;
  size_t k = 0;
  for (int i = 0; i < base->n; i++) {
    const char *b = base->kv[i];
    size_t kl = (size_t)(strchr(b, '=') - b) + 1;
    int over = 0;
    for (int j = 0; j < a->nenv && !over; j++)
      over = !strncmp(a->env[j], b, kl);
    if (!over)
      env[k++] = b;
  }
  for (int j = 0; j < a->nenv; j++)
    env[k++] = a->env[j];
  free(a->spawn_env);
  a->spawn_env = env;
  a->o.spawn.env = env;
  a->o.spawn.env_mode = HERD_ENV_ADD;
  return 0;
}

/* n (finished; taken) in place of the running app, on base, or -1 with
 * err and nothing changed. */
static int apply(struct master *m, struct app *n, const struct base *base, char *err,
                 size_t errlen) {
  struct app *o = m->a;
  char fixed[200];
  fixed_changes(o, n, fixed, sizeof fixed);
  if (fixed[0]) {
    app_free(n);
    free(n);
    return app_fail(err, errlen, "cannot change %s while the app runs (stop and "
                    "start it for that): nothing was changed", fixed);
  }
  /* the master's own parts of the engine's options */
  n->quiet = o->quiet;
  n->o.on_event = o->o.on_event;
  n->o.on_output = o->o.on_output;
  n->o.on_init = o->o.on_init;
  n->o.data = o->o.data;
  n->o.flags |= o->o.flags & HERD_CLUSTER_PIPE_OUTPUT;
  int r = spawn_env(base, n) < 0 ? -ENOMEM : herd_cluster_update(m->c, &n->o);
  if (r < 0) {
    app_free(n);
    free(n);
    return app_fail(err, errlen, "cannot apply the options: %s", herd_strerror(r));
  }
  if (n->max_memory && !o->max_memory)
    (void)herd_loop_timer_start(m->loop, &m->mem_timer, MEM_CHECK_MS, mem_check, m);
  else if (!n->max_memory && o->max_memory)
    (void)herd_loop_timer_stop(m->loop, &m->mem_timer);
  herd_cluster_stats_t st;
  herd_cluster_stats(m->c, &st);
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int want = n->o.workers ? n->o.workers : cpus > 0 ? (int)cpus : 1;
  if (want > HERD_MAX_WORKERS)
    want = HERD_MAX_WORKERS;
  if (want != st.workers)
    (void)herd_cluster_scale(m->c, want);
  m->a = n;
  /* --watch and --cron-restart as the new options say (their paths,
   * globs and line are read at start: built again; a pending change
   * needs no reload of its own, the update's follows) */
  if (o->nwatch || n->nwatch) {
    watch_stop(m);
    watch_start(m);
  }
  if (o->cron_restart || n->cron_restart) {
    cron_stop(m);
    cron_start(m);
  }
  if (m->live_app) {
    app_free(m->live_app);
    free(m->live_app);
  }
  m->live_app = n;
  return 0;
}

/* The running app's settings, again, as a new app to change. */
static struct app *copy_app(struct master *m, char *err, size_t errlen) {
  struct app *n = malloc(sizeof *n);
  struct jw w;
  jw_init(&w);
  app_settings_json(m->a, &w);
  herd_val_t *v = w.err ? NULL : jparse(w.buf, w.len);
  jw_free(&w);
  if (n)
    app_init(n);
  if (!n || !v || app_from_settings(n, v, err, errlen) < 0) {
    if (!n || !v)
      app_fail(err, errlen, "out of memory");
    herd_val_free(v);
    if (n)
      app_free(n);
    free(n);
    return NULL;
  }
  herd_val_free(v);
  return n;
}

/* --update-env: the caller's environment, as a new base. */
static int new_base(struct base *b, const herd_val_t *ue, char *err, size_t errlen) {
  size_t n = jlen(ue);
  b->n = 0;
  if (!(b->kv = calloc(n + 1, sizeof *b->kv)))
    return app_fail(err, errlen, "out of memory");
  for (size_t i = 0; i < n; i++) {
    if (!(b->kv[i] = strdup(jstr(jat(ue, i), "")))) {
      base_free(b);
      return app_fail(err, errlen, "out of memory");
    }
    b->n++;
  }
  return 0;
}

int live_update(struct master *m, const struct ctl_req *rq, char *err, size_t errlen) {
  herd_val_t *req = rq->json ? jparse(rq->json, rq->len) : NULL;
  const herd_val_t *env = jget(req, "env"), *ue = jget(req, "update_env");
  if (rq->cmd == CTL_RELOAD && !env && !ue) {
    herd_val_free(req);
    return 0; /* a plain reload */
  }
  struct app *n = NULL;
  char e[512];
  int rc = -1;
  if (!req) {
    app_fail(err, errlen, "out of memory");
    goto out;
  }
  if (rq->cmd == CTL_UPDATE) {
    if (!(n = malloc(sizeof *n))) {
      app_fail(err, errlen, "out of memory");
      goto out;
    }
    app_init(n);
    if (app_from_settings(n, jget(req, "app"), err, errlen) < 0)
      goto out;
  } else if (!(n = copy_app(m, err, errlen))) {
    goto out;
  }
  for (size_t i = 0; i < jlen(env); i++)
    if (app_set(n, "env", jstr(jat(env, i), ""), e, sizeof e) < 0) {
      app_fail(err, errlen, "reload: %s", e);
      goto out;
    }
  if (app_finish(n, e, sizeof e) < 0) {
    app_fail(err, errlen, "%s: %s", rq->name, e);
    goto out;
  }
  struct base cur = {m->live_base, m->live_nbase}, nb = {NULL, 0};
  if (ue && new_base(&nb, ue, err, errlen) < 0)
    goto out;
  rc = apply(m, n, ue ? &nb : &cur, err, errlen);
  n = NULL;
  if (rc < 0) {
    base_free(&nb);
    goto out;
  }
  if (ue) {
    base_free(&cur);
    m->live_base = nb.kv;
    m->live_nbase = nb.n;
  }
  logf_(m, "%s from the control socket: a rolling reload follows",
        rq->cmd == CTL_UPDATE ? "new options" : "a new environment");
out:
  if (n) {
    app_free(n);
    free(n);
  }
  herd_val_free(req);
  return rc;
}

void live_free(struct master *m) {
  struct base b = {m->live_base, m->live_nbase};
  base_free(&b);
  m->live_base = NULL;
  m->live_nbase = 0;
  if (m->live_app) {
    app_free(m->live_app);
    free(m->live_app);
    m->live_app = NULL;
  }
}
