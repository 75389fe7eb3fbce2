/*
 * opts.c - fuzz app_set, the one parser of every option of herd run and
 * herd start and of every config key: the input is KEY=VALUE pairs
 * separated by NUL bytes, applied in turn to one app, then app_finish.
 * No crash, no leak, no UB (float-cast-overflow included: durations and
 * sizes go through doubles); a refusal is one printable line; after
 * every call each value is in its documented range (docs/herd.md,
 * Options): workers 0 (auto) or 1..HERD_MAX_WORKERS, durations 0..INT_MAX ms, a
 * signal 1..NSIG-1, max-restarts 1..1000000, log-keep 0..1000, sizes up
 * to 10^18 bytes (max-memory not 0), addresses that parse, "K=V"
 * environment entries, a name that is one.
 */
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cli.h"
#include "cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_ranges(const struct app *a, uint64_t max_memory_was, int finished) {
  const herd_cluster_opts_t *o = &a->o;
  if (o->workers < 0 || o->workers > HERD_MAX_WORKERS)
    abort();
  if (o->balance != HERD_BALANCE_SHARED && o->balance != HERD_BALANCE_REUSEPORT &&
      o->balance != HERD_BALANCE_ROUNDROBIN)
    abort();
  /* unset until app_finish chooses (by --node-cluster) */
  if (o->ready != HERD_READY_IMMEDIATE && o->ready != HERD_READY_NOTIFY &&
      o->ready != HERD_READY_DELAY && o->ready != HERD_READY_LISTENING &&
      o->ready != HERD_READY_IPC && (finished || o->ready != READY_UNSET))
    abort();
  /* what the engine refuses, app_finish refuses first */
  if (finished && (((o->flags & HERD_CLUSTER_NODE) && o->balance == HERD_BALANCE_REUSEPORT) ||
                   (o->ready == HERD_READY_LISTENING && !(o->flags & HERD_CLUSTER_NODE)) ||
                   (o->ready == HERD_READY_IPC && !(o->flags & HERD_CLUSTER_IPC)) ||
                   ((o->flags & HERD_CLUSTER_STICKY) && (!(o->flags & HERD_CLUSTER_NODE) ||
                                                         o->balance != HERD_BALANCE_ROUNDROBIN))))
    abort();
  if (o->ready_delay_ms < 0 || o->ready_timeout_ms < 0 || o->kill_timeout_ms < 0 ||
      o->restart_window_ms < 0 || o->min_uptime_ms < 0 || o->cooldown_ms < 0)
    abort();
  if (o->stop_signal < 0 || o->stop_signal >= NSIG)
    abort();
  if (o->max_restarts < 0 || o->max_restarts > 1000000)
    abort();
  if (o->flags & ~(unsigned)(HERD_CLUSTER_IPC | HERD_CLUSTER_NODE | HERD_CLUSTER_STICKY))
    abort();
  if (a->log_keep < 0 || a->log_keep > 1000)
    abort();
  if (a->log_max_size > 1000000000000000000ull || a->max_memory > 1000000000000000000ull)
    abort();
  /* a max-memory of 0 is refused: the value stays what it was */
  if (!a->max_memory && max_memory_was)
    abort();
  if (a->log_files != 0 && a->log_files != 1)
    abort();
  if (a->nlisten < 0 || a->nlisten > MAX_LISTEN || a->listen[a->nlisten])
    abort();
  for (int i = 0; i < a->nlisten; i++) {
    herd_addr_t ad;
    if (herd_addr_parse(a->listen[i], &ad) < 0)
      abort();
  }
  if (a->nenv < 0 || a->nenv > MAX_ENV)
    abort();
  for (int i = 0; i < a->nenv; i++) {
    const char *eq = strchr(a->env[i], '=');
    if (!eq || eq == a->env[i])
      abort();
  }
  if (a->name && (!app_name_ok(a->name) || !strcmp(a->name, "all")))
    abort();
  if (a->o.spawn.cwd && !a->o.spawn.cwd[0])
    abort();
  if (a->metrics) {
    herd_addr_t ad;
    if (herd_addr_parse(a->metrics, &ad) < 0 || ad.family == AF_UNIX)
      abort();
  }
}

/* --watch, --watch-ignore, --watch-delay, --cron-restart: counts in
 * range, lists ended, a kept cron line one that parses; after
 * app_finish, absolute watch paths. */
static void check_watch(const struct app *a, int finished) {
  if (a->nwatch < 0 || a->nwatch > MAX_WATCH || a->watch[a->nwatch] ||
      a->nwatch_ignore < 0 || a->nwatch_ignore > MAX_WATCH ||
      a->watch_ignore[a->nwatch_ignore] || a->watch_delay_ms < 0)
    abort();
  for (int i = 0; i < a->nwatch; i++)
    if (!a->watch[i][0] || (finished && a->watch[i][0] != '/'))
      abort();
  struct cron c;
  char e[200];
  if (a->cron_restart && cron_parse(a->cron_restart, &c, e, sizeof e) < 0)
    abort();
}

static void check_err(const char *err, size_t cap) {
  size_t n = strnlen(err, cap);
  if (n == 0 || n == cap)
    abort();
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)err[i] < 0x20 || err[i] == 0x7f)
      abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* a copy with a NUL at the end: each pair is then a C string */
  char *s = malloc(size + 1);
  if (!s)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  struct app a;
  app_init(&a);
  char err[256];
  for (char *p = s; p < s + size; p += strlen(p) + 1) {
    char *eq = strchr(p, '=');
    const char *key = p, *val = "";
    if (eq) {
      *eq = '\0';
      val = eq + 1;
    }
    uint64_t mm = a.max_memory;
    memset(err, 'x', sizeof err);
    if (app_set(&a, key, val, err, sizeof err) < 0)
      check_err(err, sizeof err);
    check_ranges(&a, mm, 0);
    check_watch(&a, 0);
    if (eq)
      *eq = '=';
  }
  /* what herd does before it starts: the defaults, user, cwd, paths */
  char *argv[] = {"/bin/true", NULL};
  a.cmd = argv;
  memset(err, 'x', sizeof err);
  uint64_t mm = a.max_memory;
  if (app_finish(&a, err, sizeof err) < 0) {
    check_err(err, sizeof err);
  } else {
    check_ranges(&a, mm, 1);
    check_watch(&a, 1);
    if (a.cwd[0] != '/' || strcmp(a.o.spawn.cwd, a.cwd))
      abort();
  }
  app_free(&a);
  free(s);
  return 0;
}
