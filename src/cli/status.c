/*
 * status.c - what the master says of itself: the status reply (status
 * --json), the app's state in one word (online, degraded, errored,
 * stopping) and --max-memory's once-a-second look at the workers' RSS.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "master.h"

static const char *app_state(struct master *m, int *nready);

/* The workers' CPU use: samples kept from one status to the next, by
 * pid, sorted (bsearch: a status of 4096 workers looked each one up in
 * a list). Each status makes the new set from the old: the samples of
 * pids that are no longer workers go with it. */
static int cpu_cmp(const void *a, const void *b) {
  pid_t x = ((const struct cpu_sample *)a)->pid, y = ((const struct cpu_sample *)b)->pid;
  return (x > y) - (x < y);
}

static double cpu_pct(struct master *m, struct cpu_sample *out, pid_t pid,
                      const herd_proc_stat_t *ps) {
  uint64_t cpu = ps->utime_ms + ps->stime_ms, now = herd_now_ms();
  struct cpu_sample key = {.pid = pid};
  const struct cpu_sample *s =
      m->ncpu ? bsearch(&key, m->cpu, m->ncpu, sizeof *m->cpu, cpu_cmp) : NULL;
  if (!s) {
    /* first look: the average over its life so far, as ps does */
    *out = (struct cpu_sample){.pid = pid, .cpu_ms = cpu, .at_ms = now,
                               .pct = ps->uptime_ms > 0
                                          ? 100.0 * (double)cpu / (double)ps->uptime_ms
                                          : 0};
    return out->pct;
  }
  /* later: over the time since the last look (if long enough to mean
   * something; else the last figure) */
  *out = *s;
  if (now - s->at_ms >= 200)
    *out = (struct cpu_sample){.pid = pid, .cpu_ms = cpu, .at_ms = now,
                               .pct = 100.0 * (double)(cpu - s->cpu_ms) /
                                      (double)(now - s->at_ms)};
  return out->pct;
}

/* The samples taken by this status (n of them) replace the old ones. */
static void cpu_keep(struct master *m, struct cpu_sample *fresh, size_t n) {
  if (!fresh)
    return; /* out of memory: the old ones stay */
  qsort(fresh, n, sizeof *fresh, cpu_cmp);
  free(m->cpu);
  m->cpu = fresh;
  m->ncpu = n;
  m->cap_cpu = n;
}

static const char *state_name(int s) {
  switch (s) {
  case HERD_WORKER_STARTING: return "starting";
  case HERD_WORKER_READY: return "ready";
  case HERD_WORKER_STOPPING: return "stopping";
  case HERD_WORKER_BACKOFF: return "backing off";
  case HERD_WORKER_PARKED: return "parked";
  default: return "waiting";
  }
}

static const char *balance_name(int b) {
  return b == HERD_BALANCE_REUSEPORT ? "reuseport"
         : b == HERD_BALANCE_ROUNDROBIN ? "roundrobin" : "shared";
}

herd_worker_info_t *get_rows(struct master *m, int *n) {
  int cap = 64;
  for (;;) {
    herd_worker_info_t *rows = calloc((size_t)cap, sizeof *rows);
    if (!rows) {
      *n = 0;
      return NULL;
    }
    int k = herd_cluster_workers(m->c, rows, cap);
    if (k <= cap) {
      *n = k;
      return rows;
    }
    free(rows);
    cap = k;
  }
}

void status_json(struct master *m, struct jw *w) {
  herd_cluster_stats_t st;
  herd_cluster_stats(m->c, &st);
  herd_proc_stat_t self;
  int proc_err = herd_proc_stat(0, &self);
  if (proc_err < 0)
    memset(&self, 0, sizeof self);
  jw_raw(w, "{\"ok\":true,\"name\":", 18);
  jw_str(w, m->a->name, strlen(m->a->name));
  jw_printf(w, ",\"pid\":%d,\"version\":\"%s\",\"mode\":\"%s\",\"uptime_ms\":%lld",
            (int)getpid(), HERD_VERSION_STRING, m->daemon ? "start" : "run",
            (long long)(self.uptime_ms > 0 ? self.uptime_ms : 0));
  jw_printf(w, ",\"rss\":%llu", (unsigned long long)self.rss_bytes);
  /* no /proc (a chroot, a container without it): the uptimes, memory
   * and CPU above and below are 0 for not known, and this says why */
  if (proc_err < 0) {
    char why[160];
    int wl = snprintf(why, sizeof why, "/proc/self/stat: %s", herd_strerror(proc_err));
    jw_raw(w, ",\"proc_error\":", 14);
    jw_str(w, why, (size_t)wl < sizeof why ? (size_t)wl : sizeof why - 1);
  } else
    jw_raw(w, ",\"proc_error\":null", 18);
  jw_raw(w, ",\"cmd\":[", 8);
  for (int i = 0; m->a->cmd[i]; i++) {
    if (i)
      jw_raw(w, ",", 1);
    jw_str(w, m->a->cmd[i], strlen(m->a->cmd[i]));
  }
  jw_raw(w, "],\"cwd\":", 8);
  jw_str(w, m->a->cwd, strlen(m->a->cwd));
  jw_raw(w, ",\"listen\":[", 11);
  for (int i = 0; i < m->nlisten_text; i++) {
    if (i)
      jw_raw(w, ",", 1);
    jw_str(w, m->listen_text[i], strlen(m->listen_text[i]));
  }
  jw_raw(w, "],\"metrics\":", 12);
  if (m->metrics_addr[0])
    jw_str(w, m->metrics_addr, strlen(m->metrics_addr));
  else
    jw_raw(w, "null", 4);
  int nready = 0;
  const char *state = app_state(m, &nready);
  jw_printf(w, ",\"state\":\"%s\",\"workers_ready\":%d", state, nready);
  jw_printf(w, ",\"balance\":\"%s\",\"workers_wanted\":%d,\"reloading\":%s,"
            "\"stopping\":%s,\"max_memory\":%llu",
            balance_name(m->a->o.balance), st.workers,
            st.reloading ? "true" : "false", st.stopping ? "true" : "false",
            (unsigned long long)m->a->max_memory);
  if (m->lw) {
    struct logw_stats ls;
    logw_stats(m->lw, &ls);
    jw_raw(w, ",\"logs\":{\"out\":", 15);
    jw_str(w, m->out_path, strlen(m->out_path));
    jw_raw(w, ",\"err\":", 7);
    jw_str(w, m->err_path, strlen(m->err_path));
    jw_raw(w, ",\"herd\":", 8);
    if (m->daemon) /* herd run's events go to its stderr */
      jw_str(w, m->herd_path, strlen(m->herd_path));
    else
      jw_raw(w, "null", 4);
    jw_printf(w, ",\"lines\":[%llu,%llu],\"dropped\":[%llu,%llu],\"rotations\":%llu,"
              "\"error\":",
              (unsigned long long)ls.lines[0], (unsigned long long)ls.lines[1],
              (unsigned long long)ls.dropped[0], (unsigned long long)ls.dropped[1],
              (unsigned long long)ls.rotations);
    if (ls.last_error) {
      const char *e = strerror(ls.last_error);
      jw_str(w, e, strlen(e));
    } else {
      jw_raw(w, "null", 4);
    }
    jw_raw(w, "}", 1);
  } else {
    jw_raw(w, ",\"logs\":null", 12);
  }
  jw_printf(w, ",\"counters\":{\"spawns\":%llu,\"spawn_failures\":%llu,"
            "\"exits_stopped\":%llu,\"exits_killed\":%llu,\"exits_crashed\":%llu,"
            "\"exits_clean\":%llu,\"exits_retired\":%llu,\"restarts\":%llu,"
            "\"reloads\":%llu,\"reloads_failed\":%llu,\"parked\":%llu,"
            "\"roundrobin_dropped\":%llu,\"max_memory_replaced\":%llu,"
            "\"notify_ignored\":%llu,\"left_behind\":%llu,\"listen_stalls\":%llu,"
            "\"handoff_failures\":%llu}",
            (unsigned long long)st.spawns, (unsigned long long)st.spawn_failures,
            (unsigned long long)st.exits_stopped, (unsigned long long)st.exits_killed,
            (unsigned long long)st.exits_crashed, (unsigned long long)st.exits_clean,
            (unsigned long long)st.exits_retired, (unsigned long long)st.restarts,
            (unsigned long long)st.reloads, (unsigned long long)st.reloads_failed,
            (unsigned long long)st.parked, (unsigned long long)st.rr_dropped,
            (unsigned long long)m->mem_replaced,
            (unsigned long long)st.notify_ignored,
            (unsigned long long)st.left_behind,
            (unsigned long long)st.listen_stalls,
            (unsigned long long)st.handoff_failures);
  int n;
  herd_worker_info_t *rows = get_rows(m, &n);
  struct cpu_sample *fresh = malloc(((size_t)n + 1) * sizeof *fresh), spare;
  size_t nfresh = 0;
  jw_raw(w, ",\"workers\":[", 12);
  for (int i = 0; i < n; i++) {
    herd_worker_info_t *r = &rows[i];
    herd_proc_stat_t ps;
    int have = r->pid > 0 && herd_proc_stat(r->pid, &ps) == 0;
    double pct = have ? cpu_pct(m, fresh ? &fresh[nfresh++] : &spare, r->pid, &ps) : 0.0;
    jw_printf(w, "%s{\"slot\":%d,\"pid\":%d,\"state\":\"%s\",\"successor\":%s,"
              "\"uptime_ms\":%llu,\"retry_ms\":%llu,\"restarts\":%u,"
              "\"cpu\":%.1f,\"rss\":%llu,\"last_exit\":",
              i ? "," : "", r->slot, (int)r->pid, state_name(r->state),
              r->successor ? "true" : "false",
              (unsigned long long)(r->pid ? r->uptime_ms : 0),
              (unsigned long long)r->retry_ms, r->restarts,
              pct,
              (unsigned long long)(have ? ps.rss_bytes : 0));
    if (r->exited) {
      jw_printf(w, "{\"code\":%d,\"signal\":%d,\"cause\":\"%s\"",
                r->exit_code, r->exit_signal, herd_reason_name(r->exit_reason));
      struct slot_note *sn = note_peek(m, r->slot);
      if (sn && sn->exit_pid && sn->exit.line[0]) {
        jw_raw(w, ",\"line\":", 8);
        jw_str(w, sn->exit.line, strlen(sn->exit.line));
      }
      jw_raw(w, "}}", 2);
    } else
      jw_raw(w, "null}", 5);
  }
  jw_raw(w, "]}", 2);
  cpu_keep(m, fresh, nfresh);
  free(rows);
}

/* The app's state in one word, as `herd list` shows it: "stopping";
 * "errored" (a slot is parked: it crash-looped); "online" (every slot has
 * a ready worker); else "degraded" (some starting, backing off or
 * waiting). *ready gets the number of slots with a ready worker. why: a
 * line for /readyz. Returns 1 when online. */
int app_readiness(struct master *m, int *nready, char *why, size_t whylen) {
  herd_cluster_stats_t st;
  herd_cluster_stats(m->c, &st);
  int n, ready = 0, parked = 0, backoff = 0, slot = -1, slot_ready = 0;
  herd_worker_info_t *rows = get_rows(m, &n);
  for (int i = 0; i <= n; i++) {
    if (i == n || rows[i].slot != slot) { /* a slot's rows are together */
      ready += slot_ready;
      if (i == n)
        break;
      slot = rows[i].slot;
      slot_ready = 0;
    }
    slot_ready |= rows[i].state == HERD_WORKER_READY;
    parked += rows[i].state == HERD_WORKER_PARKED;
    backoff += rows[i].state == HERD_WORKER_BACKOFF;
  }
  free(rows);
  if (nready)
    *nready = ready;
  const char *state = st.stopping ? "stopping"
                      : parked    ? "errored"
                      : ready >= st.workers ? "online" : "degraded";
  if (why) {
    size_t k = (size_t)snprintf(why, whylen, "%s", state);
    if (!st.stopping && k < whylen)
      k += (size_t)snprintf(why + k, whylen - k, ": %d of %d worker%s ready", ready,
                            st.workers, st.workers == 1 ? "" : "s");
    if (!st.stopping && parked && k < whylen)
      k += (size_t)snprintf(why + k, whylen - k, ", %d %s parked (crash loop)",
                            parked, parked == 1 ? "slot" : "slots");
    if (!st.stopping && backoff && k < whylen)
      (void)snprintf(why + k, whylen - k, ", %d backing off", backoff);
  }
  return !strcmp(state, "online");
}

static const char *app_state(struct master *m, int *nready) {
  herd_cluster_stats_t st;
  herd_cluster_stats(m->c, &st);
  char why[256];
  if (app_readiness(m, nready, why, sizeof why))
    return "online";
  return st.stopping ? "stopping" : !strncmp(why, "errored", 7) ? "errored" : "degraded";
}

/* ---- control requests ------------------------------------------- */

void mem_check(herd_loop_t *loop, herd_timer_t *t, void *data) {
  struct master *m = data;
  int n;
  herd_worker_info_t *rows = get_rows(m, &n);
  for (int i = 0; i < n; i++) {
    herd_worker_info_t *r = &rows[i];
    herd_proc_stat_t ps;
    if (r->pid <= 0 || r->state != HERD_WORKER_READY || r->successor ||
        herd_proc_stat(r->pid, &ps) < 0 || ps.rss_bytes <= m->a->max_memory)
      continue;
    int replacing = 0; /* its successor is starting already (a slot's
                          rows are together, the current worker first) */
    for (int j = i + 1; j < n && rows[j].slot == r->slot; j++)
      replacing |= rows[j].successor;
    if (replacing)
      continue;
    logf_(m, "worker %d, pid %d, uses %.1f MiB, over --max-memory %.1f MiB: "
          "replacing it", r->slot, (int)r->pid, (double)ps.rss_bytes / 1048576.0,
          (double)m->a->max_memory / 1048576.0);
    int e = herd_cluster_replace(m->c, r->slot, "max memory");
    if (e == 0)
      m->mem_replaced++;
    else
      logf_(m, "worker %d: cannot replace it: %s", r->slot, herd_strerror(e));
  }
  free(rows);
  (void)herd_loop_timer_start(loop, t, MEM_CHECK_MS, mem_check, m);
}

/* ---- engine callbacks --------------------------------------------- */
