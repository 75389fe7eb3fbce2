/*
 * master.c - the master of one app, for `herd run` (foreground) and
 * `herd start` (a daemon): libherd's cluster engine plus what an
 * operator drives it with.
 *
 * - The control socket HERD_HOME/NAME.sock (mode 0600, the peer's uid
 *   checked with SO_PEERCRED: ours or root's): JSON lines, one request,
 *   one reply (see docs/control.md).
 * - The pid file HERD_HOME/NAME.pid, locked for as long as we live.
 * - Worker output to HERD_HOME/logs/NAME-{out,err}.log through the log
 *   writer (start), or to our own stdout/stderr (run).
 * - --max-memory: a once-a-second look at the workers' RSS, a graceful
 *   replacement for one over the limit.
 * - --metrics: a Prometheus text endpoint.
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

#include "cli.h"
#include "jsonr.h"

#define MAX_CONNS 64
#define CTL_BATCH 4                /* requests of one client per loop turn */
#define CTL_MAX_UNREAD (64u << 10) /* replies a client leaves unread before
                                      we stop reading its requests */
#define CTL_MAX_QUEUED (16u << 20) /* and the most we keep for it at all */
#define MEM_CHECK_MS 1000
#define METRICS_MAX_REQ 8192
#define METRICS_TIMEOUT_MS 5000
#define LOG_PAUSE_FILL 50     /* % of the log queue: stop reading workers */
#define LOG_STALL_MS 1000     /* a writer behind for longer: drop lines */
#define RESTORE_DELAY_MS 100  /* HERD_HOME's files: put back this long after
                                 the last removal seen */
enum { GONE_HOME = 1, GONE_LOGS = 2, GONE_SOCK = 4, GONE_PID = 8 };

enum wait_kind { WAIT_NONE, WAIT_RELOAD, WAIT_READY, WAIT_STOP };

struct conn {
  struct master *m;
  herd_chan_t *ch;
  int wait;
  uint64_t wait_target; /* WAIT_RELOAD: reply once this many are done */
  int eof;              /* the client has shut its side: close once
                           the reply it waits for is sent */
  uint64_t last_ms;     /* connected, or its last request */
  struct conn *next;
};

struct mconn { /* a metrics (HTTP) connection */
  struct master *m;
  int fd;
  char req[METRICS_MAX_REQ];
  size_t rlen;
  char *out;
  size_t olen, off;
  herd_timer_t timer;
  struct mconn *next;
};

struct slot_note {
  pid_t pid;          /* the worker whose stderr cur sums up */
  struct why cur;
  pid_t exit_pid;     /* the slot's last worker to exit, if it died */
  struct why exit;    /* why it died (its lines may come after the exit) */
  char error[96];     /* an engine error about it */
};

struct cpu_sample {
  pid_t pid;
  uint64_t cpu_ms, at_ms;
  double pct;
};

struct master {
  struct app *a;
  herd_cluster_t *c;
  herd_loop_t *loop;
  int daemon;
  int status_fd;          /* start: "OK ..." / "ERR ..." to the starter */
  int reported;           /* the first all-ready (or failure) was told */
  int errors;             /* error events */
  char first_error[512];
  char home[PATH_MAX];
  char sock_path[PATH_MAX], out_path[PATH_MAX], err_path[PATH_MAX],
      herd_path[PATH_MAX];
  int ctl_fd;
  herd_pidfile_t *pf;     /* HERD_HOME/NAME.pid, locked */
  char pid_path[PATH_MAX];
  int ino_fd;             /* inotify: HERD_HOME's files put back if removed */
  int wd_home, wd_logs;
  int lost_name;          /* another master holds NAME now: stop restoring */
  int gone;               /* GONE_*: what to put back when restore_timer fires */
  herd_timer_t restore_timer;
  int nconns;
  struct conn *conns;
  struct logw *lw;
  herd_timer_t commit_timer, stall_timer;
  int commit_armed, out_paused, dropping;
  struct logw *tw; /* herd run: its stdout and stderr, through a thread */
  int metrics_fd;
  struct mconn *mconns;
  herd_timer_t mem_timer;
  uint64_t reload_begins, reload_dones; /* dones: ended, failed too */
  int sd_ready;           /* what our own supervisor (NOTIFY_SOCKET) last
                             heard: 1 READY=1, 0 not yet or RELOADING=1 */
  uint64_t mem_replaced;
  char listen_text[MAX_LISTEN][128];
  int nlisten_text;
  struct slot_note *notes;   /* per slot, for start failures */
  int nnotes;
  char start_fail[256];       /* a worker died at start: why (told once
                                 its last output has been read) */
  int start_fail_slot;
  char metrics_addr[128];
  struct cpu_sample *cpu;
  size_t ncpu, cap_cpu;
};

/* snprintf for messages, where cutting a long path short is fine */
static void say(char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *buf, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, n, fmt, ap);
  va_end(ap);
}

struct master;
static struct slot_note *note_of(struct master *m, int slot);

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void reopen_own_log(struct master *m);
static void arm_commit(struct master *m);

/* A whole line ('\n' included) to the master's stderr: through herd
 * run's writer thread once there is one, else written directly. */
static void put_line(struct master *m, const char *line, size_t n) {
  if (m->tw) {
    logw_raw(m->tw, 2, line, n);
    arm_commit(m);
  } else {
    (void)!write(2, line, n);
  }
}

/* One line of the master's own log, "TIME herd[NAME]: MSG", on stderr:
 * NAME-herd.log under herd start, which rotates like the workers' logs
 * (--log-max-size, --log-keep) when the line would make it too large. */
static void own_line(struct master *m, const char *msg) {
  char ts[40], line[1280];
  iso_stamp(ts, sizeof ts);
  int n = snprintf(line, sizeof line, "%s herd[%s]: %s\n", ts, m->a->name, msg);
  if (n < 0)
    return;
  if ((size_t)n >= sizeof line) {
    n = (int)sizeof line - 1;
    line[n - 1] = '\n';
  }
  /* herd start's stderr is NAME-herd.log (herd run's goes to put_line's
   * thread, never rotated) */
  struct stat st;
  if (m->daemon && m->herd_path[0] && m->a->log_max_size && fstat(2, &st) == 0 &&
      S_ISREG(st.st_mode) && st.st_size > 0 &&
      (uint64_t)st.st_size + (uint64_t)n > m->a->log_max_size &&
      log_shift(m->herd_path, m->a->log_keep) == 0)
    reopen_own_log(m); /* if the shift fails, the old file grows instead */
  put_line(m, line, (size_t)n);
}

/* A line of herd run's own on its stderr, as it is (through the writer
 * thread once there is one). */
static void plain_line(struct master *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void plain_line(struct master *m, const char *fmt, ...) {
  char line[1280];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n > sizeof line - 2)
    n = (int)sizeof line - 2;
  line[n++] = '\n';
  line[n] = '\0';
  put_line(m, line, (size_t)n);
}

/* own_line, unless --quiet */
static void logf_(struct master *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void logf_(struct master *m, const char *fmt, ...) {
  if (m->a->quiet)
    return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  own_line(m, msg);
}

/* The notes of a slot, grown on demand (NULL if out of memory). */
static struct slot_note *note_of(struct master *m, int slot) {
  if (slot < 0 || slot >= 4096)
    return NULL;
  if (slot >= m->nnotes) {
    int n = slot + 8;
    struct slot_note *nn = realloc(m->notes, (size_t)n * sizeof *nn);
    if (!nn)
      return NULL;
    memset(nn + m->nnotes, 0, (size_t)(n - m->nnotes) * sizeof *nn);
    m->notes = nn;
    m->nnotes = n;
  }
  return &m->notes[slot];
}

/* ---- replies ------------------------------------------------------- */

static void reply(struct conn *cn, const char *json, size_t len) {
  if (!cn->ch)
    return;
  if (cn->eof) {
    /* the client shut its side: the channel takes that for the end,
     * but the socket can still carry our answer */
    char *line = malloc(len + 1);
    if (line) {
      memcpy(line, json, len);
      line[len] = '\n';
      (void)!send(herd_chan_fd(cn->ch), line, len + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      free(line);
    }
    return;
  }
  (void)herd_chan_send(cn->ch, json, len, -1);
  (void)herd_chan_flush(cn->ch);
}

static void reply_error(struct conn *cn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void reply_error(struct conn *cn, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  struct jw w;
  jw_init(&w);
  jw_raw(&w, "{\"ok\":false,\"error\":", 20);
  jw_str(&w, msg, strlen(msg));
  jw_raw(&w, "}", 1);
  if (!w.err)
    reply(cn, w.buf, w.len);
  jw_free(&w);
}

static void reply_ok(struct conn *cn, const char *extra) {
  char buf[256];
  int n = snprintf(buf, sizeof buf, "{\"ok\":true%s%s}", extra ? "," : "",
                   extra ? extra : "");
  reply(cn, buf, (size_t)n);
}

static void answer_one(struct master *m, struct conn *cn) {
  herd_cluster_stats_t st;
  herd_cluster_stats(m->c, &st);
  char extra[64];
  snprintf(extra, sizeof extra, "\"workers\":%d", st.workers);
  reply_ok(cn, extra);
}

static void conn_free(struct master *m, struct conn *cn);

/* Answer every connection waiting for kind (ok, or the error). */
static void answer_waiters(struct master *m, int kind, const char *error) {
  for (struct conn *cn = m->conns; cn; cn = cn->next) {
    if (cn->wait != kind)
      continue;
    if (kind == WAIT_RELOAD && !error && m->reload_dones < cn->wait_target)
      continue;
    cn->wait = WAIT_NONE;
    if (error)
      reply_error(cn, "%s", error);
    else
      answer_one(m, cn);
    if (cn->eof)
      cn->wait = -1; /* answered: freed below */
  }
  for (struct conn *cn = m->conns, *next; cn; cn = next) {
    next = cn->next;
    if (cn->eof && cn->wait == -1)
      conn_free(m, cn);
  }
}

/* Reopen the log files (after logrotate moved them): the workers' in the
 * writer thread, the master's own (its stdout and stderr) here. */
static void reopen_own_log(struct master *m) {
  if (!m->daemon)
    return;
  int fd = open(m->herd_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0)
    return; /* the old file it is, then */
  (void)dup2(fd, 1);
  (void)dup2(fd, 2);
  (void)close(fd);
}

static void reopen_logs(struct master *m) {
  if (m->lw) /* herd run without --log-files has none */
    logw_reopen(m->lw);
  reopen_own_log(m);
}

/* ---- status ------------------------------------------------------- */

static double cpu_pct(struct master *m, pid_t pid, const herd_proc_stat_t *ps) {
  uint64_t cpu = ps->utime_ms + ps->stime_ms, now = now_ms();
  struct cpu_sample *s = NULL;
  for (size_t i = 0; i < m->ncpu; i++)
    if (m->cpu[i].pid == pid)
      s = &m->cpu[i];
  if (!s) {
    if (m->ncpu == m->cap_cpu) {
      size_t nc = m->cap_cpu ? m->cap_cpu * 2 : 16;
      struct cpu_sample *n = realloc(m->cpu, nc * sizeof *n);
      if (!n)
        return 0;
      m->cpu = n;
      m->cap_cpu = nc;
    }
    s = &m->cpu[m->ncpu++];
    /* first look: the average over its life so far, as ps does */
    s->pid = pid;
    s->cpu_ms = cpu;
    s->at_ms = now;
    s->pct = ps->uptime_ms > 0 ? 100.0 * (double)cpu / (double)ps->uptime_ms : 0;
    return s->pct;
  }
  /* later: over the time since the last look (if long enough to mean
   * something; else the last figure) */
  if (now - s->at_ms >= 200) {
    s->pct = 100.0 * (double)(cpu - s->cpu_ms) / (double)(now - s->at_ms);
    s->cpu_ms = cpu;
    s->at_ms = now;
  }
  return s->pct;
}

/* Forget the samples of pids that are no longer workers. */
static void cpu_prune(struct master *m, const herd_worker_info_t *rows, int n) {
  size_t k = 0;
  for (size_t i = 0; i < m->ncpu; i++) {
    int live = 0;
    for (int j = 0; j < n && !live; j++)
      live = rows[j].pid == m->cpu[i].pid;
    if (live)
      m->cpu[k++] = m->cpu[i];
  }
  m->ncpu = k;
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

static herd_worker_info_t *get_rows(struct master *m, int *n) {
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

static const char *app_state(struct master *m, int *nready);

static void status_json(struct master *m, struct jw *w) {
  herd_cluster_stats_t st;
  herd_cluster_stats(m->c, &st);
  herd_proc_stat_t self;
  if (herd_proc_stat(0, &self) < 0)
    memset(&self, 0, sizeof self);
  jw_raw(w, "{\"ok\":true,\"name\":", 18);
  jw_str(w, m->a->name, strlen(m->a->name));
  jw_printf(w, ",\"pid\":%d,\"version\":\"%s\",\"mode\":\"%s\",\"uptime_ms\":%lld",
            (int)getpid(), HERD_VERSION_STRING, m->daemon ? "start" : "run",
            (long long)(self.uptime_ms > 0 ? self.uptime_ms : 0));
  jw_printf(w, ",\"rss\":%llu", (unsigned long long)self.rss_bytes);
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
  jw_raw(w, ",\"workers\":[", 12);
  for (int i = 0; i < n; i++) {
    herd_worker_info_t *r = &rows[i];
    herd_proc_stat_t ps;
    int have = r->pid > 0 && herd_proc_stat(r->pid, &ps) == 0;
    jw_printf(w, "%s{\"slot\":%d,\"pid\":%d,\"state\":\"%s\",\"successor\":%s,"
              "\"uptime_ms\":%llu,\"retry_ms\":%llu,\"restarts\":%u,"
              "\"cpu\":%.1f,\"rss\":%llu,\"last_exit\":",
              i ? "," : "", r->slot, (int)r->pid, state_name(r->state),
              r->successor ? "true" : "false",
              (unsigned long long)(r->pid ? r->uptime_ms : 0),
              (unsigned long long)r->retry_ms, r->restarts,
              have ? cpu_pct(m, r->pid, &ps) : 0.0,
              (unsigned long long)(have ? ps.rss_bytes : 0));
    if (r->exited) {
      jw_printf(w, "{\"code\":%d,\"signal\":%d,\"cause\":\"%s\"",
                r->exit_code, r->exit_signal, r->exit_cause);
      struct slot_note *sn = r->slot < m->nnotes ? &m->notes[r->slot] : NULL;
      if (sn && sn->exit_pid && sn->exit.line[0]) {
        jw_raw(w, ",\"line\":", 8);
        jw_str(w, sn->exit.line, strlen(sn->exit.line));
      }
      jw_raw(w, "}}", 2);
    } else
      jw_raw(w, "null}", 5);
  }
  jw_raw(w, "]}", 2);
  cpu_prune(m, rows, n);
  free(rows);
}

/* The app's state in one word, as `herd list` shows it: "stopping";
 * "errored" (a slot is parked: it crash-looped); "online" (every slot has
 * a ready worker); else "degraded" (some starting, backing off or
 * waiting). *ready gets the number of slots with a ready worker. why: a
 * line for /readyz. Returns 1 when online. */
static int app_readiness(struct master *m, int *nready, char *why, size_t whylen) {
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
      k += (size_t)snprintf(why + k, whylen - k, ": %d of %d workers ready", ready,
                            st.workers);
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

static void conn_free(struct master *m, struct conn *cn) {
  for (struct conn **pp = &m->conns; *pp; pp = &(*pp)->next)
    if (*pp == cn) {
      *pp = cn->next;
      break;
    }
  if (cn->ch) {
    if (m->loop) /* NULL once the engine has freed it, with its watchers */
      (void)herd_loop_chan_stop(m->loop, cn->ch);
    herd_chan_close(cn->ch);
  }
  m->nconns--;
  free(cn);
}

/* Why the app's state refuses a steering request now (answered at once,
 * in one line, before any pending reply), or NULL. */
static const char *refusal(struct master *m, int cmd) {
  if (!ctl_cmd_steers(cmd))
    return NULL;
  herd_cluster_stats_t st;
  herd_cluster_stats(m->c, &st);
  if (st.stopping)
    return "stopping";
  if (cmd == CTL_RESTART && st.reloading)
    return "a reload is running";
  return NULL;
}

static void do_request(struct master *m, struct conn *cn, const char *json,
                       size_t len) {
  struct ctl_req rq;
  const char *refused;
  if (ctl_decode(json, len, &rq) < 0) {
    reply_error(cn, "%s", rq.err);
    return;
  }
  if (cn->wait != WAIT_NONE) {
    reply_error(cn, "one request at a time: the last one is still running");
    return;
  }
  if ((refused = refusal(m, rq.cmd))) {
    reply_error(cn, "cannot %s: %s", rq.name, refused);
    return;
  }
  switch (rq.cmd) {
  case CTL_PING: {
    char extra[128];
    snprintf(extra, sizeof extra, "\"pid\":%d,\"version\":\"%s\"", (int)getpid(),
             HERD_VERSION_STRING);
    reply_ok(cn, extra);
    break;
  }
  case CTL_STATUS: {
    struct jw w;
    jw_init(&w);
    status_json(m, &w);
    if (w.err)
      reply_error(cn, "out of memory");
    else
      reply(cn, w.buf, w.len);
    jw_free(&w);
    break;
  }
  case CTL_RELOAD: {
    /* Waiting before the call: with immediate readiness the reload may
     * be over (or failed) by the time it returns. This one is the next
     * to begin, now or after the running one. */
    cn->wait = WAIT_RELOAD;
    cn->wait_target = m->reload_begins + 1;
    reply_ok(cn, "\"pending\":\"reload\"");
    int r = herd_cluster_reload(m->c);
    if (r < 0) {
      cn->wait = WAIT_NONE;
      reply_error(cn, "cannot reload: %s", r == -ECANCELED ? "stopping" : herd_strerror(r));
    }
    break;
  }
  case CTL_RESTART: {
    cn->wait = WAIT_READY;
    reply_ok(cn, "\"pending\":\"restart\"");
    int r = herd_cluster_restart(m->c);
    if (r < 0) {
      cn->wait = WAIT_NONE;
      reply_error(cn, "cannot restart: %s",
                  r == -EBUSY ? "a reload is running" : r == -ECANCELED
                  ? "stopping" : herd_strerror(r));
    }
    break;
  }
  case CTL_SCALE: {
    herd_cluster_stats_t st;
    herd_cluster_stats(m->c, &st);
    long long want = rq.has_workers ? rq.workers : st.workers + rq.add;
    if (rq.arg_err[0]) {
      reply_error(cn, "%s", rq.arg_err);
      break;
    }
    if (want < 1 || want > HERD_MAX_WORKERS) {
      reply_error(cn, "scale: %d %+lld would make %lld workers (1..%d)", st.workers,
                  rq.add, want, HERD_MAX_WORKERS);
      break;
    }
    /* growing: the answer is the all-ready event (maybe inside the
     * call, with immediate readiness), so wait before calling */
    int grow = (int)want > st.workers;
    if (grow) {
      cn->wait = WAIT_READY;
      reply_ok(cn, "\"pending\":\"scale\"");
    }
    int r = herd_cluster_scale(m->c, (int)want);
    if (r < 0) {
      cn->wait = WAIT_NONE;
      reply_error(cn, "cannot scale: %s", r == -ECANCELED ? "stopping"
                                                          : herd_strerror(r));
    } else if (!grow) {
      answer_one(m, cn);
    }
    break;
  }
  case CTL_STOP: {
    char extra[64];
    snprintf(extra, sizeof extra, "\"pending\":\"stop\",\"pid\":%d", (int)getpid());
    reply_ok(cn, extra);
    cn->wait = WAIT_STOP; /* the last word comes when the workers are gone */
    logf_(m, "stop requested%s by the control socket",
          rq.graceful ? " (graceful)" : "");
    herd_cluster_stop(m->c, rq.graceful);
    break;
  }
  case CTL_REOPEN:
    if (!m->lw) {
      reply_error(cn, "no log files to reopen: this app writes to its "
                      "terminal (herd run)");
    } else {
      reopen_logs(m);
      reply_ok(cn, NULL);
    }
    break;
  }
}

static void conn_cb(herd_loop_t *loop, herd_chan_t *ch, int err,
                    herd_chan_msg_t *msg, void *data) {
  (void)loop;
  (void)ch;
  struct conn *cn = data;
  struct master *m = cn->m;
  if (msg && msg->fd >= 0) {
    (void)close(msg->fd); /* fds are not part of this protocol */
    msg->fd = -1;
  }
  if (err == 0 && msg) {
    cn->last_ms = now_ms();
    do_request(m, cn, msg->json, msg->len);
    return;
  }
  if (err == HERD_EFRAME) {
    reply_error(cn, "malformed request: not a line of JSON");
    return;
  }
  if (err == HERD_EPEERGONE && cn->wait != WAIT_NONE) {
    /* shut for writing (echo ... | socat): the reply it waits for still
     * goes out when it is ready */
    cn->eof = 1;
    return;
  }
  if (err == HERD_ETOOLONG) {
    reply_error(cn, "request too long (more than %d bytes)", CTL_MAX_REQUEST);
    /* the rest of it is not worth reading */
  } else if (err == HERD_ESERIAL) {
    reply_error(cn, "malformed request: not JSON lines");
  }
  conn_free(m, cn);
}

static void accept_cb(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  (void)events;
  struct master *m = data;
  for (int k = 0; k < 16; k++) {
    int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (cfd < 0)
      return;
    struct ucred cr;
    socklen_t cl = sizeof cr;
    const char *refuse = NULL;
    char why[160];
    if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0) {
      refuse = "cannot tell who you are (SO_PEERCRED)";
    } else if (cr.uid != geteuid() && cr.uid != 0) {
      snprintf(why, sizeof why, "permission denied: uid %d may not drive "
               "this app (owner uid %d)", (int)cr.uid, (int)geteuid());
      refuse = why;
    } else if (m->nconns >= MAX_CONNS) {
      /* the oldest idle one goes (forgotten clients, a stopped `herd
       * reload` after its reply...), so that a full table never locks
       * out the operator; refused only when every one waits for work */
      struct conn *old = NULL;
      for (struct conn *c = m->conns; c; c = c->next)
        if (c->wait == WAIT_NONE && (!old || c->last_ms <= old->last_ms))
          old = c; /* the list is newest first: <= ends at the oldest of a tie */
      if (old)
        conn_free(m, old);
      else
        refuse = "too many control connections (each waits for a reply)";
    }
    if (refuse) {
      char line[256];
      int n = snprintf(line, sizeof line, "{\"ok\":false,\"error\":\"%s\"}\n",
                       refuse);
      (void)!send(cfd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
      (void)close(cfd);
      continue;
    }
    struct conn *cn = calloc(1, sizeof *cn);
    herd_chan_opts_t co = {.max_message = CTL_MAX_REQUEST, .max_queued = CTL_MAX_QUEUED,
                           .flags = HERD_CHAN_PLAIN};
    if (!cn || herd_chan_open(&cn->ch, cfd, &co) < 0) {
      free(cn); /* herd_chan_open closed cfd */
      if (!cn)
        (void)close(cfd);
      continue;
    }
    cn->m = m;
    cn->last_ms = now_ms();
    /* A client is served a few requests per turn, and not at all while
     * it leaves our replies unread: a flood of pipelined requests from
     * a client that never reads them stalled the master for 30 s (and
     * the app's round-robin traffic with it). */
    if (herd_loop_chan(loop, cn->ch, conn_cb, cn) < 0 ||
        herd_loop_chan_limit(loop, cn->ch, CTL_BATCH, CTL_MAX_UNREAD) < 0) {
      (void)herd_loop_chan_stop(loop, cn->ch);
      herd_chan_close(cn->ch);
      free(cn);
      continue;
    }
    cn->next = m->conns;
    m->conns = cn;
    m->nconns++;
  }
}

/* The control socket at sock_path: its fd, or -errno. replace: remove
 * what is there first (we hold the pid file's lock: a socket there is a
 * dead master's); else a file there is -EADDRINUSE. */
static int open_control(struct master *m, int replace) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(m->sock_path) >= sizeof sa.sun_path)
    return -ENAMETOOLONG;
  memcpy(sa.sun_path, m->sock_path, strlen(m->sock_path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -errno;
  if (replace && unlink(m->sock_path) < 0 && errno != ENOENT) {
    int e = -errno;
    (void)close(fd);
    return e;
  }
  mode_t old = umask(0177); /* born 0600: no window with a wider mode */
  int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
  int e = errno;
  umask(old);
  if (r < 0 || chmod(m->sock_path, 0600) < 0 || listen(fd, 64) < 0) {
    e = r < 0 ? e : errno;
    (void)close(fd);
    return -e;
  }
  return fd;
}

/* ---- HERD_HOME's files, put back -------------------------------- */

/* HERD_HOME may lose our files under us: logind removes
 * $XDG_RUNTIME_DIR when the last session ends (where 0.1 kept them), a
 * cleaner sweeps /tmp, someone runs rm. Without them `herd list` cannot
 * see us and a new `herd start` of the name would run a second master.
 * inotify tells us (no timer: an idle master stays asleep): the pid
 * file first - if another master has taken the name meanwhile it is
 * theirs, and so is the socket path - then the socket, then the logs. */
static void home_watch(struct master *m);

static void restore_pid(struct master *m) {
  if (herd_pidfile_check(m->pid_path) == getpid())
    return; /* ours, there: nothing was lost */
  herd_pidfile_t *npf = NULL;
  pid_t holder = 0;
  int r = herd_pidfile_open(&npf, m->pid_path, &holder);
  if (r == -EBUSY) {
    m->lost_name = 1;
    logf_(m, "%s was removed, and master pid %d holds the name '%s' now: this master "
          "goes on, unreachable by name (stop it by pid)", m->pid_path, (int)holder,
          m->a->name);
    return;
  }
  if (r < 0) {
    logf_(m, "%s was removed and cannot be made again: %s", m->pid_path,
          herd_strerror(r));
    return;
  }
  herd_pidfile_close(m->pf, 0); /* its file is gone: nothing to remove */
  m->pf = npf;
  logf_(m, "%s was removed: put back", m->pid_path);
}

static void restore_sock(struct master *m) {
  if (m->lost_name)
    return;
  /* never removing what is there: a file there now is not ours to take
   * (and our own unlink would be news again, for ever) */
  int fd = open_control(m, 0);
  if (fd == -EADDRINUSE)
    return;
  if (fd < 0) {
    logf_(m, "%s was removed and cannot be made again: %s", m->sock_path,
          herd_strerror(fd));
    return;
  }
  if (herd_loop_add(m->loop, fd, EPOLLIN, accept_cb, m) < 0) {
    (void)close(fd);
    return;
  }
  (void)herd_loop_del(m->loop, m->ctl_fd);
  (void)close(m->ctl_fd);
  m->ctl_fd = fd;
  logf_(m, "%s was removed: put back", m->sock_path);
}

static void restore_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct master *m = data;
  int gone = m->gone;
  m->gone = 0;
  if (m->lost_name)
    return;
  /* a directory's own removal is told late, or never while something
   * holds it: look at what is there */
  char logs[PATH_MAX + 8];
  snprintf(logs, sizeof logs, "%s/logs", m->home);
  struct stat st;
  if (stat(m->home, &st) < 0)
    gone |= GONE_HOME;
  if (stat(logs, &st) < 0)
    gone |= GONE_LOGS;
  if (gone & (GONE_HOME | GONE_LOGS)) {
    int r = home_ensure(m->home);
    if (r < 0) {
      logf_(m, "HERD_HOME %s was removed and cannot be made again: %s", m->home,
            herd_strerror(r));
      return;
    }
    home_watch(m);
    if (gone & GONE_HOME) {
      logf_(m, "HERD_HOME %s was removed: made again", m->home);
      gone |= GONE_SOCK | GONE_PID;
    }
    reopen_logs(m); /* the files we wrote went with it */
  }
  if ((gone & GONE_PID) ||
      ((gone & GONE_SOCK) && herd_pidfile_check(m->pid_path) != getpid()))
    restore_pid(m);
  if (gone & (GONE_SOCK | GONE_PID))
    restore_sock(m);
}

static void home_event(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  (void)loop;
  (void)events;
  struct master *m = data;
  char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
  char sock_name[NAME_MAX_LEN + 8], pid_name[NAME_MAX_LEN + 8];
  snprintf(sock_name, sizeof sock_name, "%s.sock", m->a->name);
  snprintf(pid_name, sizeof pid_name, "%s.pid", m->a->name);
  int home_gone = 0, logs_gone = 0, sock = 0, pid = 0;
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) {
    for (char *p = buf; p < buf + n;) {
      const struct inotify_event *e = (const struct inotify_event *)(void *)p;
      p += sizeof *e + e->len;
      /* a directory's own removal may be told late (once its inode
       * goes), after we made it again: the events of a watch replaced
       * since are old news */
      if (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
        if (e->wd == m->wd_home)
          home_gone = 1;
        else if (e->wd == m->wd_logs)
          logs_gone = 1;
      } else if (e->wd == m->wd_home && e->len) {
        sock |= !strcmp(e->name, sock_name);
        pid |= !strcmp(e->name, pid_name);
      }
    }
  }
  if (m->lost_name || m->c == NULL)
    return;
  m->gone |= (home_gone ? GONE_HOME : 0) | (logs_gone ? GONE_LOGS : 0) |
             (sock ? GONE_SOCK : 0) | (pid ? GONE_PID : 0);
  /* put back once the remover is done (an rm -rf still at work would
   * find the directory not empty and fail, and remove what we made) */
  if (m->gone)
    (void)herd_loop_timer_start(m->loop, &m->restore_timer, RESTORE_DELAY_MS,
                                restore_cb, m);
}

static void home_watch(struct master *m) {
  if (m->ino_fd < 0) {
    m->ino_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (m->ino_fd < 0 || herd_loop_add(m->loop, m->ino_fd, EPOLLIN, home_event, m) < 0) {
      if (m->ino_fd >= 0)
        (void)close(m->ino_fd);
      m->ino_fd = -1;
      return; /* not watched: it only costs the putting back */
    }
  }
  char logs[PATH_MAX + 8];
  snprintf(logs, sizeof logs, "%s/logs", m->home);
  m->wd_home = inotify_add_watch(m->ino_fd, m->home,
                                 IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF |
                                     IN_MOVE_SELF | IN_ONLYDIR);
  m->wd_logs = inotify_add_watch(m->ino_fd, logs,
                                 IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR);
}

/* ---- metrics ----------------------------------------------------- */

static void mconn_free(struct master *m, struct mconn *mc) {
  for (struct mconn **pp = &m->mconns; *pp; pp = &(*pp)->next)
    if (*pp == mc) {
      *pp = mc->next;
      break;
    }
  if (m->loop) {
    herd_loop_timer_stop(m->loop, &mc->timer);
    (void)herd_loop_del(m->loop, mc->fd);
  }
  /* What the client sent that we did not read (the rest of a request
   * too large) would turn our close into a reset, which can destroy the
   * answer before the client reads it: read it away first (a bounded
   * amount, without waiting) */
  char sink[4096];
  for (int i = 0; i < 16 && recv(mc->fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++)
    ;
  (void)close(mc->fd);
  free(mc->out);
  free(mc);
}

static void label(struct jw *w, const char *name) {
  /* Prometheus label values escape \ " and newline */
  for (const char *p = name; *p; p++) {
    if (*p == '\\' || *p == '"')
      jw_raw(w, "\\", 1);
    if (*p == '\n') {
      jw_raw(w, "\\n", 2);
      continue;
    }
    jw_raw(w, p, 1);
  }
}

static void metric_head(struct jw *w, const char *name, const char *type,
                        const char *help) {
  jw_printf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metric(struct jw *w, const char *m_name, const char *app,
                   const char *labels, double v) {
  jw_printf(w, "%s{app=\"", m_name);
  label(w, app);
  jw_printf(w, "\"%s%s} %.15g\n", labels ? "," : "", labels ? labels : "", v);
}

static void metrics_text(struct master *m, struct jw *w) {
  const char *app = m->a->name;
  herd_cluster_stats_t st;
  herd_cluster_stats(m->c, &st);
  int n;
  herd_worker_info_t *rows = get_rows(m, &n);
  char l[128];
  metric_head(w, "herd_workers", "gauge", "Workers wanted (the scale).");
  metric(w, "herd_workers", app, NULL, st.workers);
  metric_head(w, "herd_worker_state", "gauge",
              "1 for the state each worker slot is in.");
  static const char *const states[] = {"starting", "ready", "stopping",
                                       "backing off", "parked", "waiting"};
  for (int i = 0; i < n; i++)
    for (int s = 0; s < 6; s++) {
      snprintf(l, sizeof l, "slot=\"%d\",pid=\"%d\",state=\"%s\"", rows[i].slot,
               (int)rows[i].pid, states[s]);
      metric(w, "herd_worker_state", app, l, rows[i].state == s);
    }
  /* one family at a time, each in one group (the text format's rule);
   * per slot once, per worker for its process figures */
  metric_head(w, "herd_worker_restarts_total", "counter",
              "Workers started in the slot after its first.");
  for (int i = 0; i < n; i++) {
    if (i && rows[i].slot == rows[i - 1].slot)
      continue;
    snprintf(l, sizeof l, "slot=\"%d\"", rows[i].slot);
    metric(w, "herd_worker_restarts_total", app, l, rows[i].restarts);
  }
  herd_proc_stat_t *ps = calloc((size_t)n + 1, sizeof *ps);
  int *have = calloc((size_t)n + 1, sizeof *have);
  for (int i = 0; ps && have && i < n; i++)
    have[i] = rows[i].pid > 0 && herd_proc_stat(rows[i].pid, &ps[i]) == 0;
  static const struct {
    const char *name, *type, *help;
  } fam[] = {{"herd_worker_rss_bytes", "gauge", "Resident memory of the worker."},
             {"herd_worker_cpu_seconds_total", "counter",
              "CPU time (user + system) of the worker."},
             {"herd_worker_uptime_seconds", "gauge", "Since the worker started."}};
  for (int f = 0; ps && have && f < 3; f++) {
    metric_head(w, fam[f].name, fam[f].type, fam[f].help);
    for (int i = 0; i < n; i++) {
      if (!have[i])
        continue;
      snprintf(l, sizeof l, "slot=\"%d\",pid=\"%d\"", rows[i].slot, (int)rows[i].pid);
      double v = f == 0 ? (double)ps[i].rss_bytes
                 : f == 1 ? (double)(ps[i].utime_ms + ps[i].stime_ms) / 1000.0
                          : (double)rows[i].uptime_ms / 1000.0;
      metric(w, fam[f].name, app, l, v);
    }
  }
  free(ps);
  free(have);
  free(rows);
  metric_head(w, "herd_spawns_total", "counter", "Workers started.");
  metric(w, "herd_spawns_total", app, NULL, (double)st.spawns);
  metric_head(w, "herd_spawn_failures_total", "counter",
              "Workers that could not be started.");
  metric(w, "herd_spawn_failures_total", app, NULL, (double)st.spawn_failures);
  metric_head(w, "herd_worker_exits_total", "counter", "Worker exits by cause.");
  metric(w, "herd_worker_exits_total", app, "cause=\"stopped\"", (double)st.exits_stopped);
  metric(w, "herd_worker_exits_total", app, "cause=\"killed\"", (double)st.exits_killed);
  metric(w, "herd_worker_exits_total", app, "cause=\"crashed\"", (double)st.exits_crashed);
  metric(w, "herd_worker_exits_total", app, "cause=\"exited\"", (double)st.exits_clean);
  metric(w, "herd_worker_exits_total", app, "cause=\"retired\"", (double)st.exits_retired);
  metric_head(w, "herd_restarts_total", "counter", "Slots restarted after a worker died.");
  metric(w, "herd_restarts_total", app, NULL, (double)st.restarts);
  metric_head(w, "herd_reloads_total", "counter", "Rolling reloads by result.");
  metric(w, "herd_reloads_total", app, "result=\"done\"", (double)st.reloads);
  metric(w, "herd_reloads_total", app, "result=\"failed\"", (double)st.reloads_failed);
  metric_head(w, "herd_roundrobin_dropped_total", "counter",
              "Connections the master accepted but no worker could take.");
  metric(w, "herd_roundrobin_dropped_total", app, NULL, (double)st.rr_dropped);
  metric_head(w, "herd_max_memory_replaced_total", "counter",
              "Workers replaced for going over --max-memory.");
  metric(w, "herd_max_memory_replaced_total", app, NULL, (double)m->mem_replaced);
  metric_head(w, "herd_notify_ignored_total", "counter",
              "NOTIFY_SOCKET messages from processes that are not a worker nor run by one.");
  metric(w, "herd_notify_ignored_total", app, NULL, (double)st.notify_ignored);
  metric_head(w, "herd_left_behind_total", "counter",
              "Processes a worker left behind (it daemonized) that came back to herd.");
  metric(w, "herd_left_behind_total", app, NULL, (double)st.left_behind);
  metric_head(w, "herd_listen_stalls_total", "counter",
              "Times a listen queue stayed non-empty for 3 s (no worker accepted).");
  metric(w, "herd_listen_stalls_total", app, NULL, (double)st.listen_stalls);
  metric_head(w, "herd_handoff_failures_total", "counter",
              "Workers replaced for taking no connection handed to them (roundrobin).");
  metric(w, "herd_handoff_failures_total", app, NULL, (double)st.handoff_failures);
  if (m->lw) {
    struct logw_stats ls;
    logw_stats(m->lw, &ls);
    metric_head(w, "herd_log_lines_total", "counter", "Worker lines written to the logs.");
    metric(w, "herd_log_lines_total", app, "stream=\"out\"", (double)ls.lines[0]);
    metric(w, "herd_log_lines_total", app, "stream=\"err\"", (double)ls.lines[1]);
    metric_head(w, "herd_log_dropped_lines_total", "counter",
                "Worker lines lost (the disk was slow or full).");
    metric(w, "herd_log_dropped_lines_total", app, "stream=\"out\"", (double)ls.dropped[0]);
    metric(w, "herd_log_dropped_lines_total", app, "stream=\"err\"", (double)ls.dropped[1]);
  }
  herd_proc_stat_t self;
  if (herd_proc_stat(0, &self) == 0) {
    metric_head(w, "herd_master_rss_bytes", "gauge", "Resident memory of the master.");
    metric(w, "herd_master_rss_bytes", app, NULL, (double)self.rss_bytes);
  }
}

static void mconn_io(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  (void)loop;
  (void)events;
  struct mconn *mc = data;
  struct master *m = mc->m;
  if (!mc->out) {
    ssize_t n = read(fd, mc->req + mc->rlen, sizeof mc->req - 1 - mc->rlen);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      return;
    if (n <= 0) {
      mconn_free(m, mc);
      return;
    }
    mc->rlen += (size_t)n;
    mc->req[mc->rlen] = '\0';
    if (!strstr(mc->req, "\r\n\r\n") && !strstr(mc->req, "\n\n") &&
        mc->rlen < sizeof mc->req - 1)
      return; /* more to come (a full buffer is answered: too large) */
    int complete = strstr(mc->req, "\r\n\r\n") || strstr(mc->req, "\n\n");
    struct jw body, w;
    jw_init(&body);
    jw_init(&w);
    const char *status = "200 OK", *extra = "";
    /* "METHOD SP PATH[?QUERY] SP VERSION" */
    const char *sp = strchr(mc->req, ' ');
    size_t mlen = sp ? (size_t)(sp - mc->req) : 0;
    const char *path = sp ? sp + 1 : "";
    size_t plen = strcspn(path, " ?\r\n");
    int head = mlen == 4 && !memcmp(mc->req, "HEAD", 4);
#define IS_PATH(lit) (plen == sizeof lit - 1 && !memcmp(path, lit, plen))
    if (!complete) {
      status = "431 Request Header Fields Too Large";
      jw_printf(&body, "a request of at most %d bytes\n", METRICS_MAX_REQ - 1);
    } else if (!(mlen == 3 && !memcmp(mc->req, "GET", 3)) && !head) {
      status = "405 Method Not Allowed";
      extra = "Allow: GET, HEAD\r\n";
      jw_raw(&body, "only GET and HEAD\n", 18);
    } else if (IS_PATH("/metrics")) {
      metrics_text(m, &body);
    } else if (IS_PATH("/healthz")) {
      /* liveness: this answer comes from the master's own loop */
      jw_raw(&body, "ok\n", 3);
    } else if (IS_PATH("/readyz")) {
      char why[256];
      if (!app_readiness(m, NULL, why, sizeof why))
        status = "503 Service Unavailable";
      jw_printf(&body, "%s\n", why);
    } else {
      status = "404 Not Found";
      jw_raw(&body, "not found: /metrics, /healthz or /readyz\n", 41);
    }
#undef IS_PATH
    jw_printf(&w, "HTTP/1.1 %s\r\nContent-Type: text/plain; version=0.0.4; "
              "charset=utf-8\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
              status, body.len, extra);
    if (!head)
      jw_raw(&w, body.buf ? body.buf : "", body.len);
    jw_free(&body);
    if (w.err) {
      jw_free(&w);
      mconn_free(m, mc);
      return;
    }
    mc->out = w.buf;
    mc->olen = w.len;
    (void)herd_loop_mod(m->loop, fd, EPOLLOUT);
  }
  while (mc->off < mc->olen) {
    ssize_t n = send(fd, mc->out + mc->off, mc->olen - mc->off,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      return;
    if (n <= 0)
      break;
    mc->off += (size_t)n;
  }
  mconn_free(m, mc);
}

static void mconn_timeout(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct mconn *mc = data;
  mconn_free(mc->m, mc);
}

static void metrics_accept(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  (void)events;
  struct master *m = data;
  for (int k = 0; k < 16; k++) {
    int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (cfd < 0)
      return;
    int live = 0;
    for (struct mconn *x = m->mconns; x; x = x->next)
      live++;
    struct mconn *mc = live < MAX_CONNS ? calloc(1, sizeof *mc) : NULL;
    if (!mc) {
      (void)close(cfd);
      continue;
    }
    mc->m = m;
    mc->fd = cfd;
    if (herd_loop_add(loop, cfd, EPOLLIN, mconn_io, mc) < 0) {
      (void)close(cfd);
      free(mc);
      continue;
    }
    mc->next = m->mconns;
    m->mconns = mc;
    (void)herd_loop_timer_start(loop, &mc->timer, METRICS_TIMEOUT_MS,
                                mconn_timeout, mc);
  }
}

/* ---- --max-memory ------------------------------------------------- */

static void mem_check(herd_loop_t *loop, herd_timer_t *t, void *data) {
  struct master *m = data;
  int n;
  herd_worker_info_t *rows = get_rows(m, &n);
  for (int i = 0; i < n; i++) {
    herd_worker_info_t *r = &rows[i];
    herd_proc_stat_t ps;
    if (r->pid <= 0 || r->state != HERD_WORKER_READY || r->successor ||
        herd_proc_stat(r->pid, &ps) < 0 || ps.rss_bytes <= m->a->max_memory)
      continue;
    int replacing = 0; /* its successor is starting already */
    for (int j = 0; j < n; j++)
      replacing |= rows[j].slot == r->slot && rows[j].successor;
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

static void tell_starter(struct master *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void tell_starter(struct master *m, const char *fmt, ...) {
  m->reported = 1;
  if (m->status_fd < 0)
    return; /* not a daemon, or told already */
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0)
    n = 0;
  if ((size_t)n > sizeof buf - 2)
    n = (int)sizeof buf - 2;
  buf[n++] = '\n';
  (void)!write(m->status_fd, buf, (size_t)n);
  (void)close(m->status_fd);
  m->status_fd = -1;
}

static void started_ok(struct master *m) {
  char pids[1024] = "";
  size_t k = 0;
  int n;
  herd_worker_info_t *rows = get_rows(m, &n);
  for (int i = 0; i < n && k + 16 < sizeof pids; i++)
    if (rows[i].pid > 0)
      k += (size_t)snprintf(pids + k, sizeof pids - k, "%s%d", k ? " " : "",
                            (int)rows[i].pid);
  free(rows);
  char addrs[1024] = "";
  k = 0;
  for (int i = 0; i < m->nlisten_text && k + 130 < sizeof addrs; i++)
    k += (size_t)snprintf(addrs + k, sizeof addrs - k, "%s%s", i ? " " : "",
                          m->listen_text[i]);
  herd_cluster_stats_t st;
  herd_cluster_stats(m->c, &st);
  tell_starter(m, "OK %s: %d worker%s ready (pids %s)%s%s, master pid %d%s%s",
               m->a->name, st.workers, st.workers == 1 ? "" : "s", pids,
               k ? " on " : "", addrs, (int)getpid(),
               m->metrics_addr[0] ? ", metrics on " : "", m->metrics_addr);
}

static void on_event(const herd_event_t *ev, void *data) {
  struct master *m = data;
  char what[640];
  const char *sig = ev->sig ? sigabbrev_np(ev->sig) : NULL;
  switch (ev->type) {
  case HERD_EV_LISTEN:
    if (m->nlisten_text < MAX_LISTEN)
      snprintf(m->listen_text[m->nlisten_text++], sizeof m->listen_text[0],
               "%s", ev->text);
    /* Always said, even quiet: with port 0 it is how you learn the port. */
    say(what, sizeof what, "listening on %s", ev->text);
    own_line(m, what);
    return;
  case HERD_EV_NOTICE:
    if (ev->slot >= 0)
      snprintf(what, sizeof what, "worker %d, pid %d: %s", ev->slot, (int)ev->pid,
               ev->text);
    else if (ev->pid > 0)
      snprintf(what, sizeof what, "pid %d: %s", (int)ev->pid, ev->text);
    else
      snprintf(what, sizeof what, "%s", ev->text);
    own_line(m, what); /* said even when quiet: something is wrong */
    return;
  case HERD_EV_ERROR: {
    char who[64] = "";
    if (ev->slot >= 0)
      snprintf(who, sizeof who, "worker %d: ", ev->slot);
    if (ev->code == -ETIMEDOUT && ev->slot >= 0) /* a timeout, not a network error */
      snprintf(what, sizeof what, "%s%s (--ready-timeout %d ms): killed", who,
               ev->text ? ev->text : "not ready in time",
               m->a->o.ready_timeout_ms ? m->a->o.ready_timeout_ms : 60000);
    else
      snprintf(what, sizeof what, "%s%s%s%s", who, ev->text ? ev->text : "",
               ev->text ? ": " : "", herd_strerror(ev->code));
    own_line(m, what);
    struct slot_note *sn = ev->text ? note_of(m, ev->slot) : NULL;
    if (sn)
      say(sn->error, sizeof sn->error, "%s", ev->text);
    if (!m->errors++)
      say(m->first_error, sizeof m->first_error, "%s", what);
    /* as a worker that dies: a restart or scale-up waiting for all
     * ready hears it now (the slot backs off, and is parked in the end) */
    if (ev->slot >= 0 && ev->text && !strcmp(ev->text, "could not start a worker"))
      answer_waiters(m, WAIT_READY, what);
    return;
  }
  case HERD_EV_ALL_READY:
    if (!m->sd_ready) /* to systemd, if it runs us; once per change */
      (void)herd_notify("READY=1");
    m->sd_ready = 1;
    snprintf(what, sizeof what, "all %d workers ready", ev->code);
    if (!m->reported)
      started_ok(m);
    answer_waiters(m, WAIT_READY, NULL);
    break;
  case HERD_EV_STARTED:
    snprintf(what, sizeof what, "worker %d started, pid %d%s", ev->slot,
             (int)ev->pid, ev->text ? " (successor)" : "");
    break;
  case HERD_EV_READY:
    snprintf(what, sizeof what, "worker %d ready, pid %d, after %llu ms",
             ev->slot, (int)ev->pid, (unsigned long long)ev->uptime_ms);
    break;
  case HERD_EV_EXITED:
    if (ev->sig)
      snprintf(what, sizeof what,
               "worker %d exited, pid %d, killed by signal %d (%s), %s, up %llu ms",
               ev->slot, (int)ev->pid, ev->sig, strsignal(ev->sig), ev->text,
               (unsigned long long)ev->uptime_ms);
    else
      snprintf(what, sizeof what,
               "worker %d exited, pid %d, code %d, %s, up %llu ms", ev->slot,
               (int)ev->pid, ev->code, ev->text,
               (unsigned long long)ev->uptime_ms);
    {
      /* why it died: what it said so far, and what is still in its pipe */
      struct slot_note *sn = note_of(m, ev->slot);
      if (sn && !strcmp(ev->text, "died")) {
        sn->exit_pid = ev->pid;
        if (sn->pid == ev->pid)
          sn->exit = sn->cur;
        else
          memset(&sn->exit, 0, sizeof sn->exit);
      } else if (sn) {
        sn->exit_pid = 0; /* asked to stop: no reason to tell */
        memset(&sn->exit, 0, sizeof sn->exit);
      }
    }
    if (!strcmp(ev->text, "died")) {
      /* a restart or a scale-up waiting for all-ready will not get it
       * from a worker that dies: say so now rather than after the
       * restarts are exhausted */
      char e[160];
      if (ev->sig)
        say(e, sizeof e, "worker %d was killed by SIG%s", ev->slot, sig ? sig : "?");
      else
        say(e, sizeof e, "worker %d exited with code %d", ev->slot, ev->code);
      answer_waiters(m, WAIT_READY, e);
    }
    if (!m->reported && !m->start_fail[0] && strcmp(ev->text, "stopped")) {
      /* At start-up, a worker that dies before all are ready fails the
       * start, and nothing is left running. The starter hears why once
       * the worker's last output has been read (at the end). */
      struct slot_note *sn = note_of(m, ev->slot);
      const char *se = sn ? sn->error : "";
      if (*se)
        say(m->start_fail, sizeof m->start_fail, "worker %d: %s", ev->slot,
            !strcmp(se, "not ready within the ready timeout") ? "not ready within "
            "the ready timeout (--ready-timeout)" : se);
      else if (ev->sig)
        say(m->start_fail, sizeof m->start_fail,
            "worker %d was killed by SIG%s before it was ready", ev->slot,
            sig ? sig : "?");
      else
        say(m->start_fail, sizeof m->start_fail,
            "worker %d exited with code %d before it was ready", ev->slot, ev->code);
      m->start_fail_slot = ev->slot;
      if (!m->errors++)
        say(m->first_error, sizeof m->first_error, "%s", m->start_fail);
      m->reported = 1; /* no "OK" after this */
      if (m->daemon)
        herd_cluster_stop(m->c, 0);
      else
        m->start_fail[0] = '\0'; /* the foreground goes on: restarts */
    }
    break;
  case HERD_EV_RESTART:
    if (ev->delay_ms)
      snprintf(what, sizeof what, "worker %d restarting in %llu ms (backing off)",
               ev->slot, (unsigned long long)ev->delay_ms);
    else
      snprintf(what, sizeof what, "worker %d restarting", ev->slot);
    break;
  case HERD_EV_PARKED:
    snprintf(what, sizeof what,
             "worker %d died early %d times in the restart window: parked, "
             "retried in %llu ms", ev->slot, ev->code,
             (unsigned long long)ev->delay_ms);
    answer_waiters(m, WAIT_READY, what);
    break;
  case HERD_EV_STOPPING:
    snprintf(what, sizeof what, "worker %d stopping, pid %d, SIG%s (%s)",
             ev->slot, (int)ev->pid, sig ? sig : "?", ev->text ? ev->text : "");
    break;
  case HERD_EV_KILLED:
    snprintf(what, sizeof what, "worker %d, pid %d, did not stop in time: SIGKILL",
             ev->slot, (int)ev->pid);
    break;
  case HERD_EV_RETIRE:
    snprintf(what, sizeof what, "worker %d, pid %d, retires: %s", ev->slot,
             (int)ev->pid,
             ev->code ? "starting its successor" : "it is replaced when it exits");
    break;
  case HERD_EV_STATUS:
  {
    /* the worker's words in our line: nothing a terminal acts on */
    char text[400];
    cli_printable(text, sizeof text, ev->text, strlen(ev->text));
    snprintf(what, sizeof what, "worker %d status: %s", ev->slot, text);
  }
    break;
  case HERD_EV_RELOAD:
    if (!strcmp(ev->text, "begin")) {
      m->reload_begins++;
      /* systemd's Type=notify-reload wants the time with it */
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      char msg[96];
      snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
               (unsigned long long)now.tv_sec * 1000000ull +
                   (unsigned long long)now.tv_nsec / 1000u);
      (void)herd_notify(msg);
      m->sd_ready = 0;
    } else {
      if (!m->sd_ready) /* done, or failed: we serve either way */
        (void)herd_notify("READY=1");
      m->sd_ready = 1;
      if (!strcmp(ev->text, "done")) {
        m->reload_dones++;
        answer_waiters(m, WAIT_RELOAD, NULL);
      } else {
        m->reload_dones++; /* ended: reload_begins and _dones stay paired */
        char e[600];
        say(e, sizeof e, "reload %s", ev->text);
        answer_waiters(m, WAIT_RELOAD, e);
      }
    }
    snprintf(what, sizeof what, "reload %s", ev->text);
    break;
  case HERD_EV_SCALE:
    snprintf(what, sizeof what, "scaled to %d workers", ev->code);
    break;
  case HERD_EV_SHUTDOWN:
    (void)herd_notify("STOPPING=1");
    if (ev->sig)
      snprintf(what, sizeof what, "%s on SIG%s", ev->text, sig ? sig : "?");
    else
      snprintf(what, sizeof what, "%s (requested)", ev->text);
    answer_waiters(m, WAIT_READY, "the app is stopping");
    answer_waiters(m, WAIT_RELOAD, "the app is stopping");
    break;
  case HERD_EV_SIGNAL:
    if (ev->sig == SIGUSR1 && m->lw) {
      reopen_logs(m);
    }
    snprintf(what, sizeof what, "SIG%s: %s", sig ? sig : "?",
             ev->sig == SIGUSR1 && !m->lw ? "no log files to reopen" : ev->text);
    break;
  default:
    return;
  }
  logf_(m, "%s", what);
}

/* The log queue: staged lines go to the writer once per loop turn. A
 * writer that falls behind (the CPU busy elsewhere, a burst) first costs
 * the workers a wait: their output is not read until it has caught up,
 * as a terminal or PM2 would make them wait. But a disk that is slow or
 * full must never block them for long: after LOG_STALL_MS the pipes are
 * read again and lines that do not fit are dropped (and counted) until
 * the writer has caught up. */
static void log_resume(struct master *m) {
  if (!m->out_paused)
    return;
  m->out_paused = 0;
  herd_loop_timer_stop(m->loop, &m->stall_timer);
  (void)herd_cluster_pause_output(m->c, 0);
}

static void log_stall_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct master *m = data;
  if (!m->out_paused)
    return;
  m->dropping = 1;
  log_resume(m);
  logf_(m, "the log writer is more than %d ms behind (a slow or full disk, or "
        "output nobody reads?): worker lines are dropped until it catches up",
        LOG_STALL_MS);
}

/* The writer of the workers' lines: the log files, else the terminal. */
static struct logw *out_writer(struct master *m) {
  return m->lw ? m->lw : m->tw;
}

static void log_commit_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)t;
  struct master *m = data;
  m->commit_armed = 0;
  struct logw *w = out_writer(m);
  if (m->tw && m->tw != w)
    (void)logw_commit(m->tw); /* herd run --log-files: its own lines */
  if (!w)
    return;
  int fill = logw_commit(w);
  if (fill >= LOG_PAUSE_FILL && !m->out_paused && !m->dropping && m->c) {
    m->out_paused = 1;
    (void)herd_cluster_pause_output(m->c, 1);
    (void)herd_loop_timer_start(loop, &m->stall_timer, LOG_STALL_MS,
                                log_stall_cb, m);
    logw_want_low(w);
  }
}

/* Commit the staged lines at the end of this loop turn (at once when
 * there is no loop yet, or any more). */
static void arm_commit(struct master *m) {
  if (m->loop) {
    if (!m->commit_armed) {
      m->commit_armed = 1;
      (void)herd_loop_timer_start(m->loop, &m->commit_timer, 0, log_commit_cb, m);
    }
  } else {
    if (m->tw)
      (void)logw_commit(m->tw);
    if (m->lw)
      (void)logw_commit(m->lw);
  }
}

static void log_low_cb(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  (void)loop;
  (void)events;
  struct master *m = data;
  uint64_t v;
  (void)!read(fd, &v, sizeof v);
  log_resume(m);
  if (m->dropping) {
    m->dropping = 0;
    logf_(m, "the log writer has caught up: no more lines dropped");
  }
}

static void on_output(int slot, pid_t pid, int stream, const char *line,
                      size_t len, void *data) {
  struct master *m = data;
  struct slot_note *sn;
  if (stream == 2 && (sn = note_of(m, slot))) {
    if (pid == sn->exit_pid) {
      why_add(&sn->exit, line, len); /* the dead one's last words */
    } else {
      if (pid != sn->pid) {
        sn->pid = pid;
        memset(&sn->cur, 0, sizeof sn->cur);
      }
      why_add(&sn->cur, line, len);
    }
  }
  struct logw *w = out_writer(m);
  if (w) {
    logw_line(w, stream, slot, line, len);
    if (!m->commit_armed && m->loop) {
      m->commit_armed = 1;
      (void)herd_loop_timer_start(m->loop, &m->commit_timer, 0, log_commit_cb, m);
    }
    return;
  }
  FILE *f = stream == 2 ? stderr : stdout;
  fprintf(f, "[%s:%d] %.*s\n", m->a->name, slot, (int)len, line);
  fflush(f);
}

static int on_init(herd_cluster_t *c, void *data) {
  struct master *m = data;
  m->c = c;
  m->loop = herd_cluster_loop(c);
  int r;
  if (m->ctl_fd >= 0 &&
      (r = herd_loop_add(m->loop, m->ctl_fd, EPOLLIN, accept_cb, m)) < 0)
    return r;
  if (m->metrics_fd >= 0 &&
      (r = herd_loop_add(m->loop, m->metrics_fd, EPOLLIN, metrics_accept, m)) < 0)
    return r;
  if (out_writer(m) &&
      (r = herd_loop_add(m->loop, logw_event_fd(out_writer(m)), EPOLLIN, log_low_cb,
                         m)) < 0)
    return r;
  if (m->a->max_memory)
    (void)herd_loop_timer_start(m->loop, &m->mem_timer, MEM_CHECK_MS, mem_check, m);
  if (m->ctl_fd >= 0)
    home_watch(m);
  return 0;
}

int master_main(struct app *a, int daemon, int status_fd,
                herd_pidfile_t *pidfile) {
  struct master mm, *m = &mm;
  memset(m, 0, sizeof *m);
  m->a = a;
  m->daemon = daemon;
  m->status_fd = status_fd;
  m->ctl_fd = -1;
  m->ino_fd = -1;
  m->wd_home = m->wd_logs = -1;
  m->metrics_fd = -1;
  int code = 1;
  int r = 0, logged = 0;
  char err[600] = "";
  /* herd run: its output through a thread of its own, so that a reader
   * that stalls (a paused terminal, a pipe nobody drains) never stops
   * the loop (without one, the lines are written directly) */
  if (!daemon)
    (void)logw_open_term(&m->tw, a->name, 8u << 20);

  /* Control: HERD_HOME. In the foreground a missing or unwritable home
   * costs the control socket only; a daemon cannot do without it. */
  int have_home = home_setup(m->home, sizeof m->home, err, sizeof err) == 0;
  if (!have_home) {
    if (daemon)
      goto fail;
    logf_(m, "no control socket: %s", err);
    err[0] = '\0';
  }
  if (have_home) {
    char *pid_path = m->pid_path;
    if (home_path(pid_path, sizeof m->pid_path, m->home, a->name, ".pid") < 0 ||
        home_path(m->sock_path, sizeof m->sock_path, m->home, a->name, ".sock") < 0 ||
        home_path(m->out_path, sizeof m->out_path, m->home, a->name, "-out.log") < 0 ||
        home_path(m->err_path, sizeof m->err_path, m->home, a->name, "-err.log") < 0 ||
        home_path(m->herd_path, sizeof m->herd_path, m->home, a->name, "-herd.log") < 0) {
      say(err, sizeof err, "HERD_HOME %s: path too long", m->home);
      goto fail;
    }
    if (!pidfile) {
      pid_t holder = 0;
      r = herd_pidfile_open(&pidfile, pid_path, &holder);
      if (r == -EBUSY) {
        say(err, sizeof err, "app '%s' is already running (master pid %d); "
                 "stop it first or pick another --name", a->name, (int)holder);
        goto fail;
      }
      if (r < 0) {
        say(err, sizeof err, "%s: %s", pid_path, herd_strerror(r));
        goto fail;
      }
    } else if ((r = herd_pidfile_write(pidfile)) < 0) {
      say(err, sizeof err, "%s: %s", pid_path, herd_strerror(r));
      goto fail;
    }
    if ((r = open_control(m, 1)) < 0) {
      say(err, sizeof err, "control socket %s: %s", m->sock_path,
               herd_strerror(r));
      goto fail;
    }
    m->ctl_fd = r;
    m->pf = pidfile;
    if ((daemon || a->log_files) &&
        (r = logw_open(&m->lw, m->out_path, m->err_path, a->log_max_size,
                       a->log_keep, 8u << 20)) < 0) {
      say(err, sizeof err, "logs %s: %s", m->out_path, herd_strerror(r));
      goto fail;
    }
  }
  if (a->metrics) {
    herd_addr_t ad;
    herd_addr_t bound;
    if ((r = herd_addr_parse(a->metrics, &ad)) < 0 ||
        (r = herd_listen_open(&ad, 64, 0, &bound)) < 0) {
      say(err, sizeof err, "--metrics %s: %s", a->metrics, herd_strerror(r));
      goto fail;
    }
    m->metrics_fd = r;
    say(m->metrics_addr, sizeof m->metrics_addr, "%s", bound.text);
    char msg[160];
    say(msg, sizeof msg, "metrics on http://%s/metrics", bound.text);
    own_line(m, msg);
    if (fcntl(r, F_SETFL, O_NONBLOCK) < 0) {
      say(err, sizeof err, "--metrics: %s", strerror(errno));
      goto fail;
    }
  }

  /* Started by systemd's socket activation: use its sockets. */
  int act_fds[MAX_LISTEN];
  int nact = herd_listen_fds(1);
  if (nact < 0) {
    say(err, sizeof err, "LISTEN_FDS: %s", herd_strerror(nact));
    goto fail;
  }
  if (nact > 0) {
    if (nact > MAX_LISTEN) {
      say(err, sizeof err, "LISTEN_FDS: at most %d sockets", MAX_LISTEN);
      goto fail;
    }
    if (a->o.balance == HERD_BALANCE_REUSEPORT) {
      say(err, sizeof err, "--balance reuseport needs sockets herd binds "
               "itself, not inherited ones");
      goto fail;
    }
    if (a->nlisten)
      plain_line(m, "herd[%s]: socket activation: using the %d inherited "
                 "sockets, not --listen", a->name, nact);
    for (int i = 0; i < nact; i++)
      act_fds[i] = 3 + i;
    a->o.listen_fds = act_fds;
    a->o.nlisten_fds = (size_t)nact;
    a->o.listen = NULL;
  } else {
    a->o.listen = a->listen;
  }
  a->o.on_event = on_event;
  a->o.on_init = on_init;
  a->o.data = m;
  if (!a->quiet || m->lw) {
    a->o.flags |= HERD_CLUSTER_PIPE_OUTPUT;
    a->o.on_output = on_output;
  }
  /* A closed stdout (herd run | head) must not kill the master, nor a
   * log over RLIMIT_FSIZE (the write fails with EFBIG instead). Workers
   * start with default dispositions whatever ours are. */
  signal(SIGPIPE, SIG_IGN);
  signal(SIGXFSZ, SIG_IGN);

  r = herd_cluster_run(&a->o, NULL, NULL);
  m->loop = NULL;
  m->c = NULL;
  if (r < 0) {
    /* The engine said what failed in an error line. */
    if (!m->errors) {
      say(err, sizeof err, "%s", herd_strerror(r));
    } else {
      say(err, sizeof err, "%s", m->first_error);
      logged = 1; /* in the log already, as the event it was */
    }
    goto fail;
  }
  if (m->start_fail[0]) {
    int sl = m->start_fail_slot;
    struct slot_note *sn = note_of(m, sl);
    const char *last = sn ? sn->exit.line : "";
    say(err, sizeof err, "%s%s%s", m->start_fail, *last ? ": " : "", last);
    tell_starter(m, "ERR %s", err);
    code = 1;
  } else if (!m->reported && m->errors) {
    say(err, sizeof err, "%s", m->first_error);
    tell_starter(m, "ERR %s", err);
    code = 1;
  } else if (r > 0) {
    plain_line(m, "%s: stopped, but some workers had to be killed after "
               "the kill timeout", prog_name);
    code = 1;
  } else {
    logf_(m, "stopped");
    code = m->errors && !m->reported ? 1 : 0;
  }
  if (!m->reported)
    tell_starter(m, "ERR stopped before the workers were ready");
  goto out;
fail:
  if (err[0]) {
    if (!daemon || status_fd < 0)
      plain_line(m, "%s: %s", prog_name, err);
    else if (!logged) {
      char ts[40];
      iso_stamp(ts, sizeof ts);
      fprintf(stderr, "%s herd[%s]: %s\n", ts, a->name, err);
    }
    tell_starter(m, "ERR %s", err);
  }
  code = 1;
out:
  for (struct conn *cn = m->conns; cn; cn = cn->next)
    if (cn->wait == WAIT_STOP && cn->ch) {
      char last[96];
      int n = snprintf(last, sizeof last, "{\"ok\":true,\"stopped\":true,"
                       "\"killed\":%s}", code == 1 && r > 0 ? "true" : "false");
      reply(cn, last, (size_t)n);
    }
  while (m->conns)
    conn_free(m, m->conns);
  while (m->mconns)
    mconn_free(m, m->mconns);
  if (m->ino_fd >= 0) {
    (void)close(m->ino_fd); /* our own removals below are no news */
    m->ino_fd = -1;
  }
  if (m->ctl_fd >= 0) {
    (void)close(m->ctl_fd);
    if (!m->lost_name) /* else the path is the other master's */
      (void)unlink(m->sock_path);
  }
  if (m->metrics_fd >= 0)
    (void)close(m->metrics_fd);
  logw_close(m->lw);
  /* what is left for the terminal, for a second at most: a reader that
   * stalls must not keep a stopped master alive */
  m->loop = NULL;
  (void)logw_close_within(m->tw, 1000);
  m->tw = NULL;
  free(m->cpu);
  free(m->notes);
  if (m->status_fd >= 0)
    (void)close(m->status_fd);
  herd_pidfile_close(m->pf ? m->pf : pidfile, !m->lost_name);
  return code;
}
