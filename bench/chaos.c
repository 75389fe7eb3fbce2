/*
 * chaos.c - herd's chaos test: does `herd run` lose a connection while
 * its workers crash, reload and scale?
 *
 *   chaos [--mode shared|reuseport|roundrobin|all] [--secs N] [--warmup N]
 *         [--workers N] [--conns N] [--keepalive N] [--herd PATH] [--worker PATH]
 *         [--seed S] [--prefill-mb N] [--series N] [--rss-bar KB]
 *         [--evidence N]
 *
 * For each mode: `herd run -n chaos-MODE -w 4 --balance MODE -l
 * 127.0.0.1:0 --min-uptime 0 --max-restarts 1000000 --kill-timeout 5s --
 * hello-http` in a HERD_HOME of its own, its stdout (the workers' lines) to
 * a file there, its event lines (stderr) read and kept. Then:
 *
 *  - load: --conns client threads on 127.0.0.1, one connection each, back
 *    to back: --keepalive of them (default half) keep theirs alive, the
 *    others make a new connection per request ("Connection: close").
 *    Each asks GET /pid (the worker's pid and slot, checked against its
 *    X-Worker header) with a 2 s deadline, and each request ends as ok,
 *    refused, reset (ECONNRESET, EPIPE, EOF before the whole response),
 *    timeout, non-2xx, malformed or a client error (the client's own
 *    trouble: ephemeral ports, fds);
 *  - driver: every 0.2-0.6 s (seeded), one of: SIGKILL a random child of
 *    the master, SIGHUP (reload), SIGTTIN / SIGTTOU (between 2 and 6
 *    workers), GET /log?n=200..2000 (a worker prints that many lines);
 *  - sampler: every second the master's VmRSS and open fds, and its
 *    children in state Z (seen in two samples in a row: not reaped);
 *  - the run: start; the warm-up (below); back to 4 workers, quiet; the
 *    start sample; --secs s of chaos; back to 4 workers, quiet; the end
 *    sample; SIGTERM, herd must exit 0 within 15 s.
 *
 * A timeout is caught alive: before its socket is closed, sock_diag says
 * how the kernel sees the server side (state, unread bytes) and which
 * herd process holds it - the master, a worker (by slot), nobody, or
 * nobody yet (a listen queue) - for the first PROBES_PER_RUN of a run.
 *
 * Resets. A SIGKILLed worker takes its connections with it: those resets
 * are expected, the others are herd losing a connection. A reset is
 * explained only by a SIGKILL this program sent (herd's own SIGKILL at a
 * kill timeout explains nothing):
 *  - pid: a keep-alive connection last answered by pid P (the /pid body)
 *    fails after the driver SIGKILLed P - it was that worker's;
 *  - in flight: a new connection whose request began before a SIGKILL (at
 *    most when the kill() returned) and failed after it, within 500 ms of
 *    herd's "exited" line for that pid (the kernel resets a dead process's
 *    sockets at once);
 *  - after the kill: a new connection begun after the SIGKILL but before
 *    herd logged the exit (+20 ms: its stamps are to the ms). Roundrobin:
 *    the master hands connections to a worker until it has seen it die,
 *    and one sent to a dead worker's channel dies with it (docs/herd.md,
 *    Round robin). Shared and reuseport: kill() returns before its target
 *    is dead - a worker preempted inside accept4() on a loaded machine
 *    finishes the call when it next runs, and dies with the connection on
 *    its way back to user space (seen: one in 22 M requests, begun 1.8 ms
 *    after the kill returned, on a machine at load 4).
 * Bound: a kill may explain at most the connections its worker could hold
 * at that moment: the keep-alive connections it had answered last plus
 * every client that had no keep-alive connection (each has at most one
 * new connection in flight); a kill charged with more fails the run.
 *
 * RSS. The heap grows to the master's busiest moment (most workers, a
 * reload of them all) and keeps it: the warm-up first reaches it (6
 * workers reloaded twice with kills in the middle: high_water), then runs
 * --warmup seconds of the full chaos. Both samples are taken quiet (4
 * workers ready, no reload, no worker stopping, the load paused), so that
 * the fds count the same things. The report gives the growth, its slope
 * against kills and worker starts, and the mappings whose RSS moved
 * (/proc/PID/smaps). --prefill-mb N first sends N MiB of worker lines
 * through herd (/log): herd run's 8 MiB output queue (src/cli/logw.c)
 * used to be a ring touched page by page as lines went through it (about
 * 320 bytes of event lines per killed worker), so that a prefill of 12
 * makes it resident and tells that growth from any other.
 *
 * Exit: 0 every mode met the bar, 1 one did not (or could not run),
 * 2 bad usage. Every loop has a deadline; all traffic is to 127.0.0.1;
 * herd is stopped by its pid (and gets SIGKILL if this program dies);
 * workers are signalled through pidfds after checking they are still the
 * master's children.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "herd.h"

#define REQ_DEADLINE_MS 2000
#define START_TIMEOUT_MS 15000
#define QUIET_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS 15000 /* herd's --kill-timeout 5s, and some */
#define PAUSE_TIMEOUT_MS (REQ_DEADLINE_MS + 3000)
#define SCALE_MIN 2
#define SCALE_MAX 6
#define KILL_STAMP_SLACK_US 20000 /* herd's event stamps are to the ms */
#define RESET_AFTER_EXIT_US 500000
#define FAILS_PER_CLIENT 4096
#define PROBES_PER_RUN 10
#define MAX_CHILDREN 256
#define LOG_LINE_BYTES 118 /* a /log line as it sits in herd's queue */

enum { M_SHARED, M_REUSEPORT, M_RR, M_N };
static const char *const mode_names[M_N] = {"shared", "reuseport", "roundrobin"};

/* How a request ended. */
enum { RQ_OK, RQ_REFUSED, RQ_RESET, RQ_TIMEOUT, RQ_NON2XX, RQ_BAD, RQ_ERROR, RQ_N };
static const char *const cls_names[RQ_N] = {"ok",      "refused",   "reset",
                                           "timeout", "non-2xx",   "malformed",
                                           "client error"};
/* Where it was when it failed. */
enum { PH_CONNECT, PH_SEND, PH_WAIT, PH_PARTIAL };
static const char *const phase_names[] = {"connecting", "sending",
                                          "waiting for the response",
                                          "in the middle of the response"};
/* Why a reset is explained. */
enum { EX_NONE, EX_PID, EX_INFLIGHT, EX_HANDED, EX_OVER };

/* Driver actions. */
enum { A_KILL, A_HUP, A_TTIN, A_TTOU, A_LOG, A_N };
static const char *const act_names[A_N] = {"kill", "reload", "scale up",
                                           "scale down", "log burst"};
enum { P_WARMUP, P_SETTLE, P_MAIN };

/* herd's event lines. */
enum {
  EV_OTHER, EV_LISTEN, EV_ALL_READY, EV_STARTED, EV_READY, EV_EXITED,
  EV_STOPPING, EV_KILLED, EV_RELOAD, EV_SCALED, EV_SHUTDOWN, EV_RESTART
};
enum { EXIT_DIED = 1, EXIT_STOPPED, EXIT_OTHER };

struct opts {
  int modes[M_N], nmodes;
  int secs, warmup, workers, conns, keepalive, prefill_mb, series, rss_bar_kb, evidence;
  unsigned long long seed;
  char herd[PATH_MAX], worker[PATH_MAX];
};

struct ev {
  int64_t t;  /* herd's stamp, wall clock, us */
  int type;
  int slot, pid, n; /* n: worker count, or EXIT_* */
  long up;          /* EV_EXITED: the worker's uptime, ms */
  char *text; /* after "herd[NAME]: " (or the whole line) */
};

struct action {
  int64_t t, t_done; /* wall us: before the kill() and after it */
  int type, phase;
  int pid, rc, lines;
  int held; /* A_KILL: connections the worker could hold (see the top) */
  /* filled after the run */
  int slot, exit_kind;
  long up;
  int64_t exit_t, ready_t;
  int charged;
};

struct fail {
  int64_t start, end; /* wall us */
  int client, keep, fresh, cls, phase, err, status;
  unsigned got;      /* response bytes received */
  int last_pid;      /* keep-alive: the worker that answered last */
  int last_slot;
  unsigned conn_reqs; /* requests answered on this connection before */
  unsigned short lport;
  char *probe;       /* timeouts: the kernel's view of the connection */
  int how, kill;     /* attribution: EX_*, action index */
};

/* One mapping of the master (/proc/PID/smaps), to say where RSS went. */
struct map {
  unsigned long start, end;
  long rss_kb;
  char name[64];
};
#define MAX_MAPS 512

struct sample {
  int64_t t;
  long rss_kb;
  int fds, children;
  unsigned long long requests;
};

struct run;

struct client {
  struct run *r;
  int id, keep, fd;
  int last_pid, last_slot;
  unsigned conn_reqs;
  unsigned short lport;
  _Atomic int cur_pid; /* the driver's view: the keep-alive worker, or 0 */
  _Atomic unsigned long long total;
  unsigned long long n[RQ_N];
  struct fail *fails;
  size_t nfails;
  unsigned long long fails_dropped;
  pthread_t th;
  int started;
};

struct run {
  const struct opts *o;
  int mode;
  char name[32], home[128], home_env[160];
  herd_child_t herd;
  int herd_live;
  int64_t t0; /* wall us at the spawn */
  uint64_t rng;

  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct ev *evs;
  size_t nev, evcap, ev_dropped;
  int port, all_ready, scaled_seq, cur_workers, eof;
  pthread_t reader;
  int reader_started;
  _Atomic int reader_stop;

  struct action *acts;
  size_t nact, actcap;
  int want; /* the worker count the driver asked for */

  struct client *clients;
  _Atomic int load_stop, load_pause, probes;
  int paused;

  struct sample *samples;
  size_t nsamp, sampcap;
  pthread_t sampler;
  int sampler_started;
  _Atomic int sampler_stop;
  int zombies, zpids[16], nz;
  int64_t zt[16];
  int prevz[MAX_CHILDREN], nprevz;

  /* results */
  long rss_ready, rss_prefill, rss_start, rss_end, rss_max;
  int fds_ready, fds_start, fds_end;
  struct map *maps_start, *maps_end;
  int nmaps_start, nmaps_end;
  int quiet_start, quiet_end;
  int64_t t_start, t_end, t_load0, t_load1; /* wall us */
  char status_json[8192];
  int herd_status; /* exit status, -1 unknown */
  char herd_why[256];
  char setup_err[256];
  unsigned long long log_lines, prefill_lines;
  long long out_lines; /* lines in herd's stdout at the end, or -1 */
  int log_fail;
};

static volatile sig_atomic_t interrupted;

/* ---- small helpers ------------------------------------------------- */

static int64_t wall_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms) {
  if (ms <= 0)
    return;
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
  (void)nanosleep(&ts, NULL); /* an interruption only shortens a pause */
}

static uint64_t rnd(struct run *r) {
  /* xorshift64* */
  uint64_t x = r->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  r->rng = x;
  return x * 2685821657736338717ull;
}

static void close_fd(int *fd) {
  if (*fd >= 0)
    (void)close(*fd); /* never retried */
  *fd = -1;
}

/* Read a small file into buf (NUL-terminated). Returns the length or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t n) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  size_t got = 0;
  while (got < n - 1) {
    ssize_t k = read(fd, buf + got, n - 1 - got);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0) {
      int e = errno;
      close_fd(&fd);
      return -e;
    }
    if (k == 0)
      break;
    got += (size_t)k;
  }
  buf[got] = '\0';
  close_fd(&fd);
  return (ssize_t)got;
}

/* State letter and parent of a process; 0 or -errno. */
static int proc_state(int pid, char *state, int *ppid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  ssize_t n = read_small(path, buf, sizeof buf);
  if (n < 0)
    return (int)n;
  char *p = strrchr(buf, ')');
  if (!p || sscanf(p + 1, " %c %d", state, ppid) != 2)
    return -EINVAL;
  return 0;
}

/* The master's children (every thread's), or -errno. */
static int list_children(int master, int *pids, int max) {
  char path[96];
  snprintf(path, sizeof path, "/proc/%d/task", master);
  DIR *d = opendir(path); /* glibc opens it O_CLOEXEC */
  if (!d)
    return -errno;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < max) {
    if (e->d_name[0] == '.')
      continue;
    char cpath[320], buf[4096];
    snprintf(cpath, sizeof cpath, "/proc/%d/task/%s/children", master, e->d_name);
    if (read_small(cpath, buf, sizeof buf) < 0)
      continue; /* the thread ended meanwhile */
    for (char *p = buf, *end; n < max; p = end) {
      long v = strtol(p, &end, 10);
      if (end == p)
        break;
      pids[n++] = (int)v;
    }
  }
  if (closedir(d) < 0)
    return -errno;
  return n;
}

static long proc_rss_kb(int pid) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  if (read_small(path, buf, sizeof buf) < 0)
    return -1;
  const char *p = strstr(buf, "\nVmRSS:");
  return p ? strtol(p + 7, NULL, 10) : -1;
}

static int proc_fds(int pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd", pid);
  DIR *d = opendir(path);
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.')
      n++;
  if (closedir(d) < 0)
    return -1;
  return n;
}

/* The master's mappings with their RSS; the count, or -1. */
static int proc_maps(int pid, struct map *maps, int max) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/smaps", pid);
  FILE *f = fopen(path, "re");
  if (!f)
    return -1;
  char line[512];
  int n = -1;
  while (fgets(line, sizeof line, f)) {
    unsigned long a, b;
    long kb;
    int off = 0;
    if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &a, &b, &off) == 2 && off > 0) {
      if (n + 1 >= max)
        break;
      n++;
      maps[n].start = a;
      maps[n].end = b;
      maps[n].rss_kb = 0;
      char *nl = strchr(line + off, '\n');
      if (nl)
        *nl = '\0';
      snprintf(maps[n].name, sizeof maps[n].name, "%s", line[off] ? line + off : "[anon]");
    } else if (n >= 0 && sscanf(line, "Rss: %ld kB", &kb) == 1) {
      maps[n].rss_kb = kb;
    }
  }
  if (fclose(f) != 0)
    return -1;
  return n + 1;
}

static double rel_s(const struct run *r, int64_t t) {
  return (double)(t - r->t0) / 1e6;
}

/* ---- herd's event lines -------------------------------------------- */

static int64_t parse_stamp(const char *s) {
  struct tm tm;
  int ms;
  memset(&tm, 0, sizeof tm);
  if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon,
             &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  time_t t = timegm(&tm);
  if (t == (time_t)-1)
    return -1;
  return (int64_t)t * 1000000 + (int64_t)ms * 1000;
}

/* Parse one line and keep it. Called with r->mu held. */
static void ev_add(struct run *r, const char *line) {
  if (r->nev == r->evcap) {
    size_t cap = r->evcap ? r->evcap * 2 : 1024;
    if (cap > 4000000) { /* a runaway herd: count, do not grow */
      r->ev_dropped++;
      return;
    }
    struct ev *n = realloc(r->evs, cap * sizeof *n);
    if (!n) {
      r->ev_dropped++;
      return;
    }
    r->evs = n;
    r->evcap = cap;
  }
  struct ev e = {.t = wall_us(), .type = EV_OTHER, .slot = -1, .pid = 0, .n = 0};
  const char *text = line;
  const char *tag = strstr(line, " herd[");
  if (tag) {
    int64_t t = parse_stamp(line);
    const char *colon = strstr(tag, "]: ");
    if (t > 0 && colon) {
      e.t = t + 500; /* the stamp is truncated to the ms: its middle */
      text = colon + 3;
    }
  }
  /* sscanf counts the conversions made, not the text matched after the
   * last one: each pattern ends in %n, which is set only when all of it
   * matched (M resets it). */
  int a, b, c, k;
#define M(...) (k = 0, sscanf(text, __VA_ARGS__), k > 0)
  if (M("listening on 127.0.0.1:%d%n", &a, &k)) {
    e.type = EV_LISTEN;
    if (!r->port)
      r->port = a;
  } else if (M("all %d workers ready%n", &a, &k) ||
             (a = 1, M("1 worker ready%n", &k))) { /* the one of -w 1 */
    e.type = EV_ALL_READY;
    e.n = a;
    r->all_ready++;
  } else if (M("worker %d started, pid %d%n", &a, &b, &k)) {
    e.type = EV_STARTED;
    e.slot = a;
    e.pid = b;
  } else if (M("worker %d ready, pid %d, after %d ms%n", &a, &b, &c, &k)) {
    e.type = EV_READY;
    e.slot = a;
    e.pid = b;
  } else if (M("worker %d exited, pid %d,%n", &a, &b, &k)) {
    e.type = EV_EXITED;
    e.slot = a;
    e.pid = b;
    e.n = strstr(text, ", died, ") ? EXIT_DIED
          : strstr(text, ", stopped, ") ? EXIT_STOPPED : EXIT_OTHER;
    const char *up = strstr(text, ", up ");
    e.up = up ? strtol(up + 5, NULL, 10) : -1;
  } else if (M("worker %d stopping, pid %d,%n", &a, &b, &k)) {
    e.type = EV_STOPPING;
    e.slot = a;
    e.pid = b;
  } else if (M("worker %d, pid %d, did not stop in time%n", &a, &b, &k)) {
    e.type = EV_KILLED;
    e.slot = a;
    e.pid = b;
  } else if (M("worker %d restarting%n", &a, &k)) {
    e.type = EV_RESTART;
    e.slot = a;
  } else if (!strncmp(text, "reload ", 7)) {
    e.type = EV_RELOAD;
  } else if (M("scaled to %d worker%n", &a, &k)) { /* "workers" but for 1 */
    e.type = EV_SCALED;
    e.n = a;
    r->cur_workers = a;
    r->scaled_seq++;
  } else if (!strncmp(text, "stop", 4)) {
    e.type = EV_SHUTDOWN;
  }
#undef M
  e.text = strdup(text);
  if (!e.text) {
    r->ev_dropped++;
    return;
  }
  r->evs[r->nev++] = e;
}

static void *reader_main(void *arg) {
  struct run *r = arg;
  static __thread char buf[65536];
  size_t len = 0;
  int fd = r->herd.stdio[2];
  while (!atomic_load(&r->reader_stop)) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, 100);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      break;
    if (n == 0)
      continue;
    ssize_t k = read(fd, buf + len, sizeof buf - 1 - len);
    if (k < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (k <= 0)
      break; /* EOF: herd is gone */
    len += (size_t)k;
    pthread_mutex_lock(&r->mu);
    char *s = buf;
    for (char *nl; (nl = memchr(s, '\n', (size_t)(buf + len - s))); s = nl + 1) {
      *nl = '\0';
      ev_add(r, s);
    }
    len = (size_t)(buf + len - s);
    memmove(buf, s, len);
    if (len == sizeof buf - 1) { /* an endless line: take it in pieces */
      buf[len] = '\0';
      ev_add(r, buf);
      len = 0;
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
  }
  pthread_mutex_lock(&r->mu);
  r->eof = 1;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

/* Wait (r->mu held) until *v reaches at least want, herd's stderr ends,
 * or the deadline. Returns 1 when *v got there. */
static int wait_int(struct run *r, const int *v, int want, int64_t deadline_ms) {
  while (*v < want && !r->eof && !interrupted) {
    int64_t left = deadline_ms - mono_ms();
    if (left <= 0)
      return 0;
    if (left > 100)
      left = 100;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += (long)(left % 1000) * 1000000;
    ts.tv_sec += left / 1000 + ts.tv_nsec / 1000000000;
    ts.tv_nsec %= 1000000000;
    (void)pthread_cond_timedwait(&r->cv, &r->mu, &ts);
  }
  return *v >= want;
}

/* The slot of pid (its last "started" line), or -1. r->mu held. */
static int slot_of(const struct run *r, int pid) {
  for (size_t i = r->nev; i-- > 0;)
    if ((r->evs[i].type == EV_STARTED || r->evs[i].type == EV_READY) &&
        r->evs[i].pid == pid)
      return r->evs[i].slot;
  return -1;
}

/* ---- HTTP client --------------------------------------------------- */

struct resp {
  int status, slot, close;
  char body[256];
};

/* A connection to 127.0.0.1:port in *fdp. Returns RQ_OK, or the class
 * of the failure; a connect that timed out is left in *fdp, for a look
 * at it before it is closed. */
static int tcp_connect(int port, int64_t dl, struct fail *f, int *fdp) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    f->err = errno;
    return RQ_ERROR;
  }
  int one = 1;
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
  int e = rc < 0 ? errno : 0;
  struct sockaddr_in la;
  socklen_t ll = sizeof la;
  if (getsockname(fd, (struct sockaddr *)&la, &ll) == 0)
    f->lport = ntohs(la.sin_port); /* bound by connect(), even in progress */
  if (rc < 0 && e == EINPROGRESS) {
    for (;;) {
      int64_t left = dl - mono_ms();
      if (left <= 0) {
        *fdp = fd;
        return RQ_TIMEOUT;
      }
      struct pollfd p = {.fd = fd, .events = POLLOUT};
      int n = poll(&p, 1, (int)left);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0) {
        e = errno;
        break;
      }
      if (n == 0)
        continue;
      socklen_t len = sizeof e;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
        e = errno;
      break;
    }
  }
  if (e) {
    f->err = e;
    close_fd(&fd);
    return e == ECONNREFUSED ? RQ_REFUSED
           : e == ECONNRESET ? RQ_RESET
           : e == ETIMEDOUT  ? RQ_TIMEOUT
                             : RQ_ERROR;
  }
  *fdp = fd;
  return RQ_OK;
}

static const char *hdr(const char *h, const char *end, const char *name) {
  size_t n = strlen(name);
  for (const char *p = h; p && p < end; p = strstr(p, "\r\n")) {
    if (*p == '\r')
      p += 2;
    if (!strncasecmp(p, name, n))
      return p + n;
  }
  return NULL;
}

/* One request on *fdp (a new connection when -1, left open in *fdp).
 * Returns R_*; f gets the phase, errno, bytes; rp the response. */
static int exchange(int *fdp, int port, const char *req, size_t reqlen,
                    int64_t dl, struct resp *rp, struct fail *f) {
  memset(rp, 0, sizeof *rp);
  rp->slot = -1;
  f->phase = PH_CONNECT;
  if (*fdp < 0) {
    int c = tcp_connect(port, dl, f, fdp);
    if (c != RQ_OK)
      return c;
  }
  f->phase = PH_SEND;
  ssize_t s;
  do
    s = send(*fdp, req, reqlen, MSG_NOSIGNAL);
  while (s < 0 && errno == EINTR);
  if (s != (ssize_t)reqlen) {
    f->err = s < 0 ? errno : EIO;
    return f->err == EPIPE || f->err == ECONNRESET ? RQ_RESET : RQ_ERROR;
  }
  f->phase = PH_WAIT;
  char buf[2048];
  size_t got = 0, need = 0;
  for (;;) {
    if (need && got >= need)
      break;
    int64_t left = dl - mono_ms();
    if (left <= 0)
      return RQ_TIMEOUT;
    struct pollfd p = {.fd = *fdp, .events = POLLIN};
    int n = poll(&p, 1, (int)left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      f->err = errno;
      return RQ_ERROR;
    }
    if (n == 0)
      continue;
    ssize_t k = recv(*fdp, buf + got, sizeof buf - 1 - got, 0);
    if (k < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (k <= 0) {
      f->err = k < 0 ? errno : 0; /* 0: EOF */
      return RQ_RESET;
    }
    got += (size_t)k;
    f->got = (unsigned)got;
    f->phase = PH_PARTIAL;
    buf[got] = '\0';
    if (need)
      continue;
    char *hend = strstr(buf, "\r\n\r\n");
    if (!hend) {
      if (got == sizeof buf - 1)
        return RQ_BAD;
      continue;
    }
    if (strncmp(buf, "HTTP/1.", 7) != 0)
      return RQ_BAD;
    rp->status = atoi(buf + 9);
    const char *cl = hdr(buf, hend, "Content-Length:");
    if (!cl)
      return RQ_BAD;
    long blen = strtol(cl, NULL, 10);
    if (blen < 0 || (size_t)blen >= sizeof rp->body)
      return RQ_BAD;
    const char *xw = hdr(buf, hend, "X-Worker:");
    if (xw)
      rp->slot = atoi(xw);
    const char *cn = hdr(buf, hend, "Connection:");
    while (cn && *cn == ' ')
      cn++;
    rp->close = cn && !strncasecmp(cn, "close", 5);
    need = (size_t)(hend + 4 - buf) + (size_t)blen;
  }
  if (got != need)
    return RQ_BAD; /* bytes after the response: nothing was asked */
  size_t hl = need - (size_t)(strstr(buf, "\r\n\r\n") + 4 - buf);
  memcpy(rp->body, buf + need - hl, hl);
  rp->body[hl] = '\0';
  return rp->status >= 200 && rp->status < 300 ? RQ_OK : RQ_NON2XX;
}

/* A one-off request on a new connection (driver, prefill). */
static int http_once(int port, const char *path, int timeout_ms, struct resp *rp) {
  char req[256];
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
  struct fail f;
  memset(&f, 0, sizeof f);
  int fd = -1;
  int c = exchange(&fd, port, req, (size_t)n, mono_ms() + timeout_ms, rp, &f);
  close_fd(&fd);
  return c;
}

/* ---- the kernel's view of a stuck connection (sock_diag) ----------- */

static const char *tcp_state(int s) {
  static const char *const n[] = {"?", "ESTABLISHED", "SYN_SENT", "SYN_RECV",
                                  "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
                                  "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING",
                                  "NEW_SYN_RECV"};
  return s >= 0 && s < 13 ? n[s] : "?";
}

/* Who holds socket inode ino: the master, workers (by slot), nobody. */
static void holders(struct run *r, unsigned ino, char *out, size_t n) {
  int pids[MAX_CHILDREN + 1];
  int master = r->herd.pid;
  int k = list_children(master, pids + 1, MAX_CHILDREN);
  if (k < 0)
    k = 0;
  pids[0] = master;
  char want[48];
  snprintf(want, sizeof want, "socket:[%u]", ino);
  size_t used = 0;
  out[0] = '\0';
  for (int i = 0; i <= k; i++) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", pids[i]);
    DIR *d = opendir(path);
    if (!d)
      continue;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d))) {
      char lp[300], tgt[64];
      snprintf(lp, sizeof lp, "/proc/%d/fd/%s", pids[i], e->d_name);
      ssize_t l = readlink(lp, tgt, sizeof tgt - 1);
      if (l > 0) {
        tgt[l] = '\0';
        found = !strcmp(tgt, want);
      }
    }
    (void)closedir(d);
    if (!found || used + 48 > n)
      continue;
    if (i == 0) {
      used += (size_t)snprintf(out + used, n - used, "%smaster", used ? ", " : "");
    } else {
      pthread_mutex_lock(&r->mu);
      int slot = slot_of(r, pids[i]);
      pthread_mutex_unlock(&r->mu);
      used += (size_t)snprintf(out + used, n - used, "%sworker slot %d pid %d",
                               used ? ", " : "", slot, pids[i]);
    }
  }
  if (!used)
    snprintf(out, n, "no herd process");
}

/* One sock_diag request; calls back per socket. Returns 0 or -errno. */
static int diag(struct run *r, int dump, unsigned short lport, char *out,
                size_t n, size_t *used) {
  int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (nl < 0)
    return -errno;
  struct {
    struct nlmsghdr nlh;
    struct inet_diag_req_v2 req;
  } m;
  memset(&m, 0, sizeof m);
  m.nlh.nlmsg_len = sizeof m;
  m.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  m.nlh.nlmsg_flags = NLM_F_REQUEST | (dump ? NLM_F_DUMP : 0);
  m.req.sdiag_family = AF_INET;
  m.req.sdiag_protocol = IPPROTO_TCP;
  m.req.idiag_states = dump ? 1u << 10 /* LISTEN */ : ~0u;
  if (!dump) {
    m.req.id.idiag_sport = htons((uint16_t)r->port);
    m.req.id.idiag_dport = htons(lport);
    m.req.id.idiag_src[0] = htonl(INADDR_LOOPBACK);
    m.req.id.idiag_dst[0] = htonl(INADDR_LOOPBACK);
    m.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
    m.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  }
  int err = 0;
  if (send(nl, &m, sizeof m, 0) < 0) {
    err = -errno;
    close_fd(&nl);
    return err;
  }
  static __thread char buf[32768];
  int64_t dl = mono_ms() + 1000;
  int done = 0;
  while (!done && mono_ms() < dl) {
    struct pollfd p = {.fd = nl, .events = POLLIN};
    if (poll(&p, 1, 200) <= 0)
      continue;
    ssize_t k = recv(nl, buf, sizeof buf, 0);
    if (k <= 0)
      break;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)k);
         h = NLMSG_NEXT(h, k)) {
      if (h->nlmsg_type == NLMSG_DONE) {
        done = 1;
        break;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *e = NLMSG_DATA(h);
        err = e->error;
        done = 1;
        break;
      }
      struct inet_diag_msg *d = NLMSG_DATA(h);
      if (dump && ntohs(d->id.idiag_sport) != r->port)
        continue;
      char who[256];
      holders(r, d->idiag_inode, who, sizeof who);
      if (*used + 64 >= n)
        continue;
      if (dump)
        *used += (size_t)snprintf(out + *used, n - *used,
                                  "; listener inode %u: %u queued, held by %s",
                                  d->idiag_inode, d->idiag_rqueue,
                                  d->idiag_inode ? who : "-");
      else
        *used += (size_t)snprintf(
            out + *used, n - *used,
            "server side %s, %u bytes unread, %u unsent, %s", tcp_state(d->idiag_state),
            d->idiag_rqueue, d->idiag_wqueue,
            d->idiag_inode ? "held by " : "not accepted yet (in a listen queue)");
      if (!dump && d->idiag_inode && *used < n)
        *used += (size_t)snprintf(out + *used, n - *used, "%s (inode %u)", who,
                                  d->idiag_inode);
      if (!dump)
        done = 1;
    }
  }
  close_fd(&nl);
  return err;
}

static char *probe_conn(struct run *r, unsigned short lport) {
  char out[1536];
  size_t used = 0;
  out[0] = '\0';
  int e = diag(r, 0, lport, out, sizeof out, &used);
  if (e < 0 && used + 64 < sizeof out)
    used += (size_t)snprintf(out + used, sizeof out - used,
                             "server side of port %u: not found (%s)", lport, strerror(-e));
  (void)diag(r, 1, lport, out, sizeof out, &used);
  return strdup(out);
}

/* ---- load ---------------------------------------------------------- */

static void conn_drop(struct client *c) {
  close_fd(&c->fd);
  c->last_pid = 0;
  c->last_slot = -1;
  c->conn_reqs = 0;
  atomic_store(&c->cur_pid, 0);
}

static void client_pause(struct client *c) {
  struct run *r = c->r;
  pthread_mutex_lock(&r->mu);
  r->paused++;
  pthread_cond_broadcast(&r->cv);
  int64_t dl = mono_ms() + QUIET_TIMEOUT_MS + PAUSE_TIMEOUT_MS;
  while (atomic_load(&r->load_pause) && !atomic_load(&r->load_stop) && mono_ms() < dl) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += 50000000;
    ts.tv_sec += ts.tv_nsec / 1000000000;
    ts.tv_nsec %= 1000000000;
    (void)pthread_cond_timedwait(&r->cv, &r->mu, &ts);
  }
  r->paused--;
  pthread_mutex_unlock(&r->mu);
}

static void *client_main(void *arg) {
  struct client *c = arg;
  struct run *r = c->r;
  char req[160];
  int rl = snprintf(req, sizeof req,
                    "GET /pid HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: herd-chaos\r\n%s\r\n",
                    c->keep ? "" : "Connection: close\r\n");
  while (!atomic_load(&r->load_stop)) {
    if (atomic_load(&r->load_pause)) {
      client_pause(c);
      continue;
    }
    struct fail f;
    memset(&f, 0, sizeof f);
    f.client = c->id;
    f.keep = c->keep;
    f.fresh = c->fd < 0;
    f.last_pid = c->last_pid;
    f.last_slot = c->last_slot;
    f.conn_reqs = c->conn_reqs;
    f.lport = f.fresh ? 0 : c->lport;
    f.kill = -1;
    f.start = wall_us();
    struct resp rp;
    int cls = exchange(&c->fd, r->port, req, (size_t)rl,
                       mono_ms() + REQ_DEADLINE_MS, &rp, &f);
    f.end = wall_us();
    if (f.fresh && f.lport)
      c->lport = f.lport;
    int pid = 0, slot = -1;
    if (cls == RQ_OK && (sscanf(rp.body, "%d %d", &pid, &slot) != 2 ||
                        slot != rp.slot || pid <= 0))
      cls = RQ_BAD;
    c->n[cls]++;
    atomic_fetch_add(&c->total, 1);
    if (cls == RQ_OK) {
      if (c->keep && !rp.close) {
        c->last_pid = pid;
        c->last_slot = slot;
        c->conn_reqs++;
        atomic_store(&c->cur_pid, pid);
      } else {
        conn_drop(c);
      }
      continue;
    }
    f.cls = cls;
    f.status = rp.status;
    if (cls == RQ_TIMEOUT && f.lport && atomic_fetch_add(&r->probes, 1) < PROBES_PER_RUN)
      f.probe = probe_conn(r, f.lport); /* before the close: the live state */
    if (c->nfails < FAILS_PER_CLIENT)
      c->fails[c->nfails++] = f;
    else {
      c->fails_dropped++;
      free(f.probe);
    }
    conn_drop(c);
  }
  conn_drop(c);
  return NULL;
}

/* Pause the clients between requests; 1 once all are. */
static int load_pause(struct run *r) {
  atomic_store(&r->load_pause, 1);
  int64_t dl = mono_ms() + PAUSE_TIMEOUT_MS;
  pthread_mutex_lock(&r->mu);
  int ok = wait_int(r, &r->paused, r->o->conns, dl);
  pthread_mutex_unlock(&r->mu);
  return ok;
}

static void load_resume(struct run *r) {
  pthread_mutex_lock(&r->mu);
  atomic_store(&r->load_pause, 0);
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

static unsigned long long requests_so_far(const struct run *r) {
  unsigned long long n = 0;
  for (int i = 0; i < r->o->conns; i++)
    n += atomic_load(&r->clients[i].total);
  return n;
}

/* ---- sampler ------------------------------------------------------- */

static void *sampler_main(void *arg) {
  struct run *r = arg;
  int64_t next = mono_ms();
  while (!atomic_load(&r->sampler_stop)) {
    int64_t now = mono_ms();
    if (now < next) {
      sleep_ms(next - now < 100 ? next - now : 100);
      continue;
    }
    next += 1000;
    struct sample s = {.t = wall_us()};
    s.rss_kb = proc_rss_kb(r->herd.pid);
    s.fds = proc_fds(r->herd.pid);
    s.requests = requests_so_far(r);
    int kids[MAX_CHILDREN], z[MAX_CHILDREN], nz = 0;
    int k = list_children(r->herd.pid, kids, MAX_CHILDREN);
    s.children = k;
    for (int i = 0; i < k; i++) {
      char st;
      int pp;
      if (proc_state(kids[i], &st, &pp) == 0 && st == 'Z')
        z[nz++] = kids[i];
    }
    pthread_mutex_lock(&r->mu);
    /* A zombie in two samples in a row: herd did not reap it for ~1 s. */
    for (int i = 0; i < nz; i++) {
      int before = 0, counted = 0;
      for (int j = 0; j < r->nprevz; j++)
        before |= r->prevz[j] == z[i];
      for (int j = 0; j < r->nz; j++)
        counted |= r->zpids[j] == z[i];
      if (before && !counted) {
        r->zombies++;
        if (r->nz < 16) {
          r->zpids[r->nz] = z[i];
          r->zt[r->nz++] = s.t;
        }
      }
    }
    memcpy(r->prevz, z, (size_t)nz * sizeof z[0]);
    r->nprevz = nz;
    if (r->nsamp == r->sampcap) {
      size_t cap = r->sampcap ? r->sampcap * 2 : 256;
      struct sample *ns = realloc(r->samples, cap * sizeof *ns);
      if (ns) {
        r->samples = ns;
        r->sampcap = cap;
      }
    }
    if (r->nsamp < r->sampcap)
      r->samples[r->nsamp++] = s;
    if (s.rss_kb > r->rss_max)
      r->rss_max = s.rss_kb;
    pthread_mutex_unlock(&r->mu);
  }
  return NULL;
}

/* ---- driver -------------------------------------------------------- */

static struct action *act_new(struct run *r, int type, int phase) {
  if (r->nact == r->actcap) {
    size_t cap = r->actcap ? r->actcap * 2 : 256;
    struct action *n = realloc(r->acts, cap * sizeof *n);
    if (!n)
      return NULL;
    r->acts = n;
    r->actcap = cap;
  }
  struct action *a = &r->acts[r->nact++];
  memset(a, 0, sizeof *a);
  a->type = type;
  a->phase = phase;
  a->slot = -1;
  a->t = wall_us();
  return a;
}

/* A signal to the master: SIGHUP, SIGTTIN or SIGTTOU. */
static void act_signal(struct run *r, int type, int phase) {
  static const int sigs[A_N] = {[A_HUP] = SIGHUP, [A_TTIN] = SIGTTIN, [A_TTOU] = SIGTTOU};
  if (!sigs[type])
    return;
  struct action *a = act_new(r, type, phase);
  if (!a)
    return;
  a->pid = r->herd.pid;
  a->rc = herd_child_kill(&r->herd, sigs[type], 0);
  a->t_done = wall_us();
  if (a->rc == 0 && type == A_TTIN)
    r->want++;
  if (a->rc == 0 && type == A_TTOU)
    r->want--;
}

/* SIGKILL one of the master's children, chosen at random. */
static void act_kill(struct run *r, int phase) {
  int kids[MAX_CHILDREN], live[MAX_CHILDREN], n = 0;
  int k = list_children(r->herd.pid, kids, MAX_CHILDREN);
  for (int i = 0; i < k; i++) {
    char st;
    int pp;
    if (proc_state(kids[i], &st, &pp) == 0 && st != 'Z' && pp == r->herd.pid)
      live[n++] = kids[i];
  }
  if (!n)
    return;
  int pid = live[rnd(r) % (uint64_t)n];
  /* Through a pidfd, after checking that this is still the master's
   * child: a pid read from /proc may have been reaped and reused. */
  int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pfd < 0)
    return;
  char st;
  int pp;
  if (proc_state(pid, &st, &pp) < 0 || st == 'Z' || pp != r->herd.pid) {
    close_fd(&pfd);
    return;
  }
  struct action *a = act_new(r, A_KILL, phase);
  if (!a) {
    close_fd(&pfd);
    return;
  }
  a->pid = pid;
  /* The connections this worker could hold: the keep-alive ones it
   * answered last, and one new connection per client that has no
   * keep-alive connection open. */
  for (int i = 0; i < r->o->conns; i++) {
    int cp = atomic_load(&r->clients[i].cur_pid);
    a->held += cp == pid || cp == 0;
  }
  a->rc = (int)syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0) < 0 ? -errno : 0;
  a->t_done = wall_us();
  close_fd(&pfd);
}

static void act_log(struct run *r, int phase) {
  struct action *a = act_new(r, A_LOG, phase);
  if (!a)
    return;
  a->lines = 200 + (int)(rnd(r) % 1801);
  char path[64];
  snprintf(path, sizeof path, "/log?n=%d", a->lines);
  struct resp rp;
  int c = http_once(r->port, path, REQ_DEADLINE_MS, &rp);
  a->t_done = wall_us();
  a->rc = c == RQ_OK ? 0 : -c;
  if (c == RQ_OK)
    r->log_lines += (unsigned long long)a->lines;
  else
    r->log_fail++;
}

static void drive(struct run *r, int secs, int phase) {
  int64_t until = mono_ms() + (int64_t)secs * 1000;
  while (!interrupted) {
    int64_t gap = 200 + (int64_t)(rnd(r) % 401);
    int64_t left = until - mono_ms();
    if (left <= 0)
      break;
    sleep_ms(gap < left ? gap : left);
    if (mono_ms() >= until || interrupted)
      break;
    pthread_mutex_lock(&r->mu);
    int eof = r->eof;
    pthread_mutex_unlock(&r->mu);
    if (eof)
      break; /* herd is gone */
    unsigned w = (unsigned)(rnd(r) % 100);
    if (w < 40) {
      act_kill(r, phase);
    } else if (w < 55) {
      act_signal(r, A_HUP, phase);
    } else if (w < 85) {
      int up = w < 70;
      if (up && r->want >= SCALE_MAX)
        up = 0;
      else if (!up && r->want <= SCALE_MIN)
        up = 1;
      act_signal(r, up ? A_TTIN : A_TTOU, phase);
    } else {
      act_log(r, phase);
    }
  }
}

/* The heap's high-water mark, at once: the most workers (6), a reload of
 * them all, kills in the middle of a reload, a log burst; then the count
 * back. The master's heap grows to what its busiest moment needs and
 * keeps it (malloc does not give back memory below live chunks): without
 * this, a random warm-up that happens never to reach 6 workers and
 * reload them leaves a step of 100-300 kB for the measured part to find,
 * which is not a leak. */
static void high_water(struct run *r) {
  int64_t dl = mono_ms() + QUIET_TIMEOUT_MS;
  while (r->want < SCALE_MAX && mono_ms() < dl && !interrupted) {
    pthread_mutex_lock(&r->mu);
    int seq = r->scaled_seq;
    pthread_mutex_unlock(&r->mu);
    act_signal(r, A_TTIN, P_WARMUP);
    pthread_mutex_lock(&r->mu);
    (void)wait_int(r, &r->scaled_seq, seq + 1, mono_ms() + 2000);
    pthread_mutex_unlock(&r->mu);
  }
  for (int round = 0; round < 2 && !interrupted; round++) {
    act_signal(r, A_HUP, P_WARMUP);
    for (int i = 0; i < SCALE_MAX + 2 && !interrupted; i++) {
      sleep_ms(round ? 5 : 60);
      act_kill(r, P_WARMUP);
    }
    act_log(r, P_WARMUP);
    sleep_ms(200);
  }
}

/* ---- quiet points -------------------------------------------------- */

static int count_str(const char *s, const char *needle) {
  int n = 0;
  for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
    n++;
  return n;
}

/* `herd status NAME --json`: 1 when W workers are ready, none starting,
 * stopping or replacing, no reload, no stop; the JSON in r->status_json. */
static int herd_quiet_now(struct run *r) {
  char *argv[] = {(char *)r->o->herd, "status", r->name, "--json", NULL};
  const char *env[] = {r->home_env, NULL};
  herd_exec_opts_t xo = HERD_EXEC_OPTS_INIT;
  xo.spawn.env_mode = HERD_ENV_ADD;
  xo.spawn.env = env;
  xo.timeout_ms = 5000;
  herd_exec_result_t res;
  if (herd_exec_file(r->o->herd, argv, &xo, &res) < 0)
    return 0;
  int ok = res.reason == HERD_EXEC_EXITED && res.exit_code == 0 && res.out;
  if (ok) {
    snprintf(r->status_json, sizeof r->status_json, "%s", res.out);
    char want[48];
    snprintf(want, sizeof want, "\"workers_wanted\":%d,", r->o->workers);
    ok = strstr(res.out, want) && strstr(res.out, "\"reloading\":false") &&
         strstr(res.out, "\"stopping\":false") && !strstr(res.out, "\"successor\":true") &&
         count_str(res.out, "\"slot\":") == r->o->workers &&
         count_str(res.out, "\"state\":\"ready\"") == r->o->workers;
  }
  herd_exec_result_free(&res);
  if (!ok)
    return 0;
  /* and the kernel agrees: W children, none a zombie */
  int kids[MAX_CHILDREN];
  int k = list_children(r->herd.pid, kids, MAX_CHILDREN);
  if (k != r->o->workers)
    return 0;
  for (int i = 0; i < k; i++) {
    char st;
    int pp;
    if (proc_state(kids[i], &st, &pp) < 0 || st == 'Z')
      return 0;
  }
  return 1;
}

/* Back to -w workers (one signal at a time: signals of one kind merge),
 * then wait until herd is quiet. 1 on success. */
static int settle(struct run *r) {
  int64_t dl = mono_ms() + QUIET_TIMEOUT_MS;
  while (mono_ms() < dl && !interrupted) {
    pthread_mutex_lock(&r->mu);
    int cur = r->cur_workers, seq = r->scaled_seq, eof = r->eof;
    pthread_mutex_unlock(&r->mu);
    if (eof)
      return 0;
    if (cur == r->o->workers)
      break;
    act_signal(r, cur < r->o->workers ? A_TTIN : A_TTOU, P_SETTLE);
    pthread_mutex_lock(&r->mu);
    (void)wait_int(r, &r->scaled_seq, seq + 1, mono_ms() + 2000);
    pthread_mutex_unlock(&r->mu);
  }
  r->want = r->o->workers;
  while (mono_ms() < dl && !interrupted) {
    if (herd_quiet_now(r))
      return 1;
    sleep_ms(100);
  }
  return 0;
}

/* At a quiet point, with the load paused: RSS, fds and the mappings. */
static int quiet_sample(struct run *r, long *rss, int *fds, struct map **maps, int *nmaps) {
  if (!settle(r))
    return 0;
  int paused = load_pause(r);
  /* the master gives back the buffers of output and channels that have
   * been idle for OUT_IDLE_MS (2 s, src/lib/sup.h) at its next sweep:
   * sampled after that, both samples hold what the master keeps, not
   * what the load had in flight at the moment it paused */
  sleep_ms(2 * 2000 + 200);
  *rss = proc_rss_kb(r->herd.pid);
  *fds = proc_fds(r->herd.pid);
  *maps = calloc(MAX_MAPS, sizeof **maps);
  *nmaps = *maps ? proc_maps(r->herd.pid, *maps, MAX_MAPS) : -1;
  load_resume(r);
  return paused && *rss > 0 && *fds > 0;
}

/* ---- the run of one mode ------------------------------------------- */

/* Lines in DIR/NAME, or -1. */
static long long count_lines(const char *dir, const char *name) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  static char buf[1 << 16];
  long long n = 0;
  for (;;) {
    ssize_t k = read(fd, buf, sizeof buf);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0) {
      if (k < 0)
        n = -1;
      break;
    }
    for (char *p = buf; (p = memchr(p, '\n', (size_t)(buf + k - p))); p++)
      n++;
  }
  close_fd(&fd);
  return n;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  (void)remove(path);
  return 0;
}

static int start_herd(struct run *r) {
  const struct opts *o = r->o;
  char w[16];
  snprintf(w, sizeof w, "%d", o->workers);
  char *argv[] = {(char *)o->herd, "run", "-n", r->name, "-w", w, "--balance",
                  (char *)mode_names[r->mode], "-l", "127.0.0.1:0",
                  "--min-uptime", "0", "--max-restarts", "1000000",
                  "--kill-timeout", "5s", "--", (char *)o->worker, NULL};
  const char *env[] = {r->home_env, NULL};
  herd_spawn_opts_t so = {0};
  so.env_mode = HERD_ENV_ADD;
  so.env = env;
  so.stdio[0].kind = HERD_STDIO_IGNORE;
  /* the workers' lines: herd's queue, then a file, as `herd run > app.log` */
  char out[sizeof r->home + 16];
  snprintf(out, sizeof out, "%s/stdout.log", r->home);
  int ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (ofd < 0) {
    snprintf(r->setup_err, sizeof r->setup_err, "%s: %s", out, strerror(errno));
    return 0;
  }
  so.stdio[1].kind = HERD_STDIO_FD;
  so.stdio[1].fd = ofd;
  so.stdio[2].kind = HERD_STDIO_PIPE;
  so.pdeathsig = SIGKILL; /* this program dies: herd too, and its workers with it */
  r->t0 = wall_us();
  int e = herd_spawn(&r->herd, o->herd, argv, &so);
  close_fd(&ofd);
  if (e < 0) {
    snprintf(r->setup_err, sizeof r->setup_err, "cannot start %.160s: %s", o->herd,
             herd_strerror(e));
    return 0;
  }
  r->herd_live = 1;
  if (pthread_create(&r->reader, NULL, reader_main, r) != 0) {
    snprintf(r->setup_err, sizeof r->setup_err, "pthread_create failed");
    return 0;
  }
  r->reader_started = 1;
  int64_t dl = mono_ms() + START_TIMEOUT_MS;
  pthread_mutex_lock(&r->mu);
  int ok = wait_int(r, &r->port, 1, dl) && wait_int(r, &r->all_ready, 1, dl);
  pthread_mutex_unlock(&r->mu);
  if (!ok)
    snprintf(r->setup_err, sizeof r->setup_err,
             "herd did not say %s within %d s", r->port ? "\"all 4 workers ready\""
             : "\"listening on 127.0.0.1:PORT\"", START_TIMEOUT_MS / 1000);
  return ok;
}

/* Fill herd's output queue once: prefill_mb MiB of worker lines. */
static void prefill(struct run *r) {
  unsigned long long want = (unsigned long long)r->o->prefill_mb * 1048576ull / LOG_LINE_BYTES;
  int64_t dl = mono_ms() + 60000;
  while (r->prefill_lines < want && mono_ms() < dl && !interrupted) {
    unsigned long long n = want - r->prefill_lines;
    if (n > 10000)
      n = 10000;
    char path[64];
    snprintf(path, sizeof path, "/log?n=%llu", n);
    struct resp rp;
    if (http_once(r->port, path, 10000, &rp) != RQ_OK) {
      fprintf(stderr, "chaos: %s: GET %s failed (status %d): no prefill\n",
              mode_names[r->mode], path, rp.status);
      break;
    }
    r->prefill_lines += n;
  }
}

static void stop_herd(struct run *r) {
  if (!r->herd_live)
    return;
  int e = herd_child_kill(&r->herd, SIGTERM, 0);
  int64_t t = mono_ms();
  int w = e == 0 ? herd_child_wait(&r->herd, STOP_TIMEOUT_MS) : -ESRCH;
  if (w == -ETIMEDOUT) {
    snprintf(r->herd_why, sizeof r->herd_why,
             "still running %d s after SIGTERM: SIGKILLed", STOP_TIMEOUT_MS / 1000);
    (void)herd_child_kill(&r->herd, SIGKILL, 0);
    (void)herd_child_wait(&r->herd, 5000);
  } else if (w < 0 && e < 0) {
    (void)herd_child_wait(&r->herd, 5000); /* it had exited already */
    snprintf(r->herd_why, sizeof r->herd_why, "had exited before the SIGTERM");
  }
  r->herd_status = herd_child_status(&r->herd);
  if (!r->herd_why[0] && r->herd_status != 0)
    snprintf(r->herd_why, sizeof r->herd_why, "exit status %d", r->herd_status);
  else if (!r->herd_why[0])
    snprintf(r->herd_why, sizeof r->herd_why, "exited 0, %lld ms after SIGTERM",
             (long long)(mono_ms() - t));
  /* the rest of its stderr, then the reader ends */
  if (r->reader_started) {
    pthread_mutex_lock(&r->mu);
    int dummy = 0;
    (void)wait_int(r, &dummy, 1, mono_ms() + 2000); /* until EOF or 2 s */
    pthread_mutex_unlock(&r->mu);
    atomic_store(&r->reader_stop, 1);
    pthread_join(r->reader, NULL);
    r->reader_started = 0;
  }
  herd_child_close(&r->herd);
  r->herd_live = 0;
}

static void start_threads(struct run *r) {
  r->t_load0 = wall_us();
  if (pthread_create(&r->sampler, NULL, sampler_main, r) == 0)
    r->sampler_started = 1;
  for (int i = 0; i < r->o->conns; i++) {
    struct client *c = &r->clients[i];
    if (pthread_create(&c->th, NULL, client_main, c) == 0)
      c->started = 1;
  }
}

static void stop_threads(struct run *r) {
  atomic_store(&r->load_stop, 1);
  load_resume(r);
  for (int i = 0; i < r->o->conns; i++)
    if (r->clients[i].started) {
      pthread_join(r->clients[i].th, NULL);
      r->clients[i].started = 0;
    }
  if (r->t_load0 && !r->t_load1)
    r->t_load1 = wall_us();
  atomic_store(&r->sampler_stop, 1);
  if (r->sampler_started) {
    pthread_join(r->sampler, NULL);
    r->sampler_started = 0;
  }
}

/* ---- after the run: attribution, restarts -------------------------- */

static const struct ev *exit_of(const struct run *r, int pid, int64_t after) {
  for (size_t i = 0; i < r->nev; i++)
    if (r->evs[i].type == EV_EXITED && r->evs[i].pid == pid &&
        r->evs[i].t >= after - KILL_STAMP_SLACK_US)
      return &r->evs[i];
  return NULL;
}

static void analyse_kills(struct run *r) {
  for (size_t i = 0; i < r->nact; i++) {
    struct action *a = &r->acts[i];
    if (a->type != A_KILL)
      continue;
    a->slot = slot_of(r, a->pid);
    const struct ev *x = exit_of(r, a->pid, a->t);
    if (!x)
      continue;
    a->exit_t = x->t;
    a->exit_kind = x->n;
    a->up = x->up;
    if (x->n != EXIT_DIED)
      continue; /* killed while stopping: nothing to restart */
    for (const struct ev *e = x + 1; e < r->evs + r->nev; e++) {
      if (e->type == EV_SCALED && e->n <= x->slot)
        break; /* the slot was scaled away meanwhile */
      if (e->type == EV_READY && e->slot == x->slot) {
        a->ready_t = e->t;
        break;
      }
    }
  }
}

static void attribute(struct run *r, struct fail *f) {
  f->how = EX_NONE;
  f->kill = -1;
  if (f->cls != RQ_RESET)
    return;
  for (size_t i = r->nact; i-- > 0;) {
    const struct action *a = &r->acts[i];
    if (a->type != A_KILL || a->rc != 0 || a->t > f->end)
      continue;
    int64_t exit_t = a->exit_t ? a->exit_t : a->t + 1000000;
    if (!f->fresh && f->last_pid == a->pid) {
      f->how = EX_PID;
    } else if (f->fresh && f->end <= exit_t + RESET_AFTER_EXIT_US) {
      if (f->start <= a->t_done)
        f->how = EX_INFLIGHT;
      else if (f->start <= exit_t + KILL_STAMP_SLACK_US)
        f->how = EX_HANDED;
    }
    if (f->how != EX_NONE) {
      f->kill = (int)i;
      return;
    }
  }
}

/* ---- report -------------------------------------------------------- */

struct tl {
  int64_t t, key;
  char text[320];
};

static int tl_cmp(const void *a, const void *b) {
  const struct tl *x = a, *y = b;
  return x->key < y->key ? -1 : x->key > y->key;
}

static void act_text(const struct run *r, const struct action *a, char *out, size_t n) {
  switch (a->type) {
  case A_KILL:
    snprintf(out, n, "chaos: SIGKILL worker pid %d (slot %d)%s", a->pid, a->slot,
             a->rc ? " - failed" : "");
    break;
  case A_LOG:
    snprintf(out, n, "chaos: GET /log?n=%d%s", a->lines, a->rc ? " - failed" : "");
    break;
  default:
    snprintf(out, n, "chaos: SIG%s to the master%s",
             a->type == A_HUP ? "HUP" : a->type == A_TTIN ? "TTIN" : "TTOU",
             a->rc ? " - failed" : "");
  }
  (void)r;
}

/* herd's events and the driver's actions from..to, at most max lines,
 * those nearest to `at` preferred. */
static void timeline(const struct run *r, int64_t from, int64_t to, int64_t at, int max) {
  size_t cap = 0, n = 0;
  for (size_t i = 0; i < r->nev; i++)
    cap += r->evs[i].t >= from && r->evs[i].t <= to;
  for (size_t i = 0; i < r->nact; i++)
    cap += r->acts[i].t >= from && r->acts[i].t <= to;
  struct tl *v = calloc(cap + 1, sizeof *v);
  if (!v)
    return;
  for (size_t i = 0; i < r->nev; i++)
    if (r->evs[i].t >= from && r->evs[i].t <= to) {
      /* sorted as late as its truncated stamp allows: what herd did in
       * the same millisecond as a signal of ours came after it */
      v[n].t = r->evs[i].t;
      v[n].key = r->evs[i].t + 499;
      snprintf(v[n++].text, sizeof v[0].text, "herd:  %s", r->evs[i].text);
    }
  for (size_t i = 0; i < r->nact; i++)
    if (r->acts[i].t >= from && r->acts[i].t <= to) {
      v[n].t = v[n].key = r->acts[i].t;
      act_text(r, &r->acts[i], v[n++].text, sizeof v[0].text);
    }
  qsort(v, n, sizeof *v, tl_cmp);
  size_t lo = 0, hi = n;
  while (hi - lo > (size_t)max) { /* drop the entry farthest from `at` */
    if (at - v[lo].t > v[hi - 1].t - at)
      lo++;
    else
      hi--;
  }
  if (lo)
    printf("        ... %zu earlier\n", lo);
  for (size_t i = lo; i < hi; i++)
    printf("        %+9.3f %s\n", rel_s(r, v[i].t), v[i].text);
  if (hi < n)
    printf("        ... %zu later\n", n - hi);
  free(v);
}

/* The driver's last action at or before t. */
static const struct action *last_action(const struct run *r, int64_t t) {
  for (size_t i = r->nact; i-- > 0;)
    if (r->acts[i].t <= t)
      return &r->acts[i];
  return NULL;
}

static void print_fail(const struct run *r, const struct fail *f) {
  char err[64] = "";
  if (f->cls == RQ_RESET || f->cls == RQ_ERROR || f->cls == RQ_REFUSED)
    snprintf(err, sizeof err, ", %s", f->err ? strerror(f->err) : "EOF");
  if (f->cls == RQ_NON2XX)
    snprintf(err, sizeof err, ", status %d", f->status);
  printf("      %s at %+.3f s after %.1f ms (client %d, %s, %s connection%s, %s%s, "
         "%u bytes in)",
         cls_names[f->cls], rel_s(r, f->start), (double)(f->end - f->start) / 1000.0,
         f->client, f->keep ? "keep-alive" : "new per request",
         f->fresh ? "a new" : "a reused", "", phase_names[f->phase], err, f->got);
  if (!f->fresh)
    printf("; the connection had %u answers, the last from pid %d (slot %d)", f->conn_reqs,
           f->last_pid, f->last_slot);
  if (f->lport)
    printf("; client port %u", f->lport);
  printf("\n");
  if (!f->fresh && f->last_pid) {
    const struct ev *x = exit_of(r, f->last_pid, 0);
    if (x)
      printf("        pid %d: %+.3f %s\n", f->last_pid, rel_s(r, x->t), x->text);
    else
      printf("        pid %d: no exit line: it was still running\n", f->last_pid);
  }
  if (f->probe)
    printf("        kernel at the timeout: %s\n", f->probe);
  timeline(r, f->start - 1000000, f->end + 100000, f->start, 16);
}

struct tally {
  unsigned long long n[RQ_N], total;
  unsigned long long unexplained, ex_pid, ex_inflight, ex_handed, ex_over;
  unsigned long long dropped;
};

/* Judge one mode; returns 1 when it met the bar, else why gets why. */
static int report(struct run *r, char *why, size_t whyn) {
  const struct opts *o = r->o;
  struct tally t;
  memset(&t, 0, sizeof t);
  analyse_kills(r);
  /* attribute, then enforce the per-kill bound */
  for (int i = 0; i < o->conns; i++) {
    struct client *c = &r->clients[i];
    for (int k = 0; k < RQ_N; k++)
      t.n[k] += c->n[k];
    t.dropped += c->fails_dropped;
    for (size_t j = 0; j < c->nfails; j++) {
      struct fail *f = &c->fails[j];
      attribute(r, f);
      if (f->how == EX_PID || f->how == EX_INFLIGHT) {
        struct action *a = &r->acts[f->kill];
        if (++a->charged > a->held)
          f->how = EX_OVER;
      }
    }
  }
  for (int k = 0; k < RQ_N; k++)
    t.total += t.n[k];
  int max_per_kill = 0, max_held = 0;
  int kills = 0, acts[A_N] = {0}, acts_failed = 0;
  for (size_t i = 0; i < r->nact; i++) {
    const struct action *a = &r->acts[i];
    if (a->rc)
      acts_failed++;
    else
      acts[a->type]++;
    if (a->type == A_KILL && !a->rc) {
      kills++;
      if (a->charged > max_per_kill)
        max_per_kill = a->charged;
      if (a->held > max_held)
        max_held = a->held;
    }
  }
  for (int i = 0; i < o->conns; i++)
    for (size_t j = 0; j < r->clients[i].nfails; j++) {
      const struct fail *f = &r->clients[i].fails[j];
      if (f->cls != RQ_RESET)
        continue;
      t.ex_pid += f->how == EX_PID;
      t.ex_inflight += f->how == EX_INFLIGHT;
      t.ex_handed += f->how == EX_HANDED;
      t.ex_over += f->how == EX_OVER;
      t.unexplained += f->how == EX_NONE || f->how == EX_OVER;
    }
  /* restarts */
  int64_t longest = -1, lsum = 0;
  int measured = 0, unmeasured = 0;
  const struct action *la = NULL;
  for (size_t i = 0; i < r->nact; i++) {
    const struct action *a = &r->acts[i];
    if (a->type != A_KILL || a->rc || a->exit_kind != EXIT_DIED)
      continue;
    if (!a->ready_t) {
      unmeasured++;
      continue;
    }
    int64_t d = a->ready_t - a->exit_t;
    measured++;
    lsum += d;
    if (d > longest) {
      longest = d;
      la = a;
    }
  }
  /* herd's own kills at the kill timeout, and its unknown lines */
  int herd_kills = 0, others = 0;
  for (size_t i = 0; i < r->nev; i++) {
    herd_kills += r->evs[i].type == EV_KILLED;
    others += r->evs[i].type == EV_OTHER;
  }
  double secs = r->t_load1 > r->t_load0 ? (double)(r->t_load1 - r->t_load0) / 1e6 : 0;

  printf("\n== %s: herd run -w %d --balance %s; %d s of chaos after a %d s warm-up; "
         "%d connections (%d new per request, %d keep-alive)\n",
         mode_names[r->mode], o->workers, mode_names[r->mode], o->secs, o->warmup, o->conns,
         o->conns - o->keepalive, o->keepalive);
  if (r->setup_err[0])
    printf("   setup      FAILED: %s\n", r->setup_err);
  printf("   requests   %llu (%.0f/s over %.1f s)\n", t.total, secs > 0 ? (double)t.total / secs : 0.0, secs);
  printf("   ok         %llu\n", t.n[RQ_OK]);
  printf("   refused    %llu\n", t.n[RQ_REFUSED]);
  printf("   reset      %llu: explained %llu (keep-alive of a killed pid %llu, in flight at "
         "a kill %llu",
         t.n[RQ_RESET], t.ex_pid + t.ex_inflight + t.ex_handed, t.ex_pid, t.ex_inflight);
  if (r->mode == M_RR)
    printf(", begun after a kill but before herd logged the exit %llu", t.ex_handed);
  printf("), unexplained %llu%s\n", t.unexplained,
         t.ex_over ? " (those over the bound included)" : "");
  printf("              per kill at most %d explained (bound: the connections the worker "
         "could hold, at most %d at any kill here, %d clients)%s\n",
         max_per_kill, max_held, o->conns, t.ex_over ? "; OVER THE BOUND" : "");
  printf("   timeout    %llu\n", t.n[RQ_TIMEOUT]);
  printf("   non-2xx    %llu (malformed %llu)\n", t.n[RQ_NON2XX], t.n[RQ_BAD]);
  if (t.n[RQ_ERROR])
    printf("   client err %llu (the client's own: see below)\n", t.n[RQ_ERROR]);
  printf("   driver     %d kills, %d reloads, %d scale ups, %d scale downs, %d log bursts "
         "(%llu lines; %d failed), %d actions failed; herd SIGKILLed %d at its kill timeout\n",
         acts[A_KILL], acts[A_HUP], acts[A_TTIN], acts[A_TTOU], acts[A_LOG], r->log_lines,
         r->log_fail, acts_failed, herd_kills);
  printf("   logs       %lld worker lines in herd's stdout (a file), %llu asked for (the "
         "prefill and the bursts that answered)\n",
         r->out_lines, r->prefill_lines + r->log_lines);
  if (measured)
    printf("   restart    longest %lld ms (slot %d, pid %d killed at %+.3f s, up %ld ms%s), "
           "mean %.1f ms, %d measured\n",
           (long long)(longest / 1000), la->slot, la->pid, rel_s(r, la->t), la->up,
           la->up < 1 ? ": an early death, which herd backs off by design (--min-uptime 0 "
                        "is 1 ms)" : "",
           (double)lsum / measured / 1000.0, measured);
  if (unmeasured)
    printf("              %d killed slot%s never had a ready worker again (slot scaled "
           "away first, or never restarted)\n", unmeasured, unmeasured == 1 ? "" : "s");
  long growth = r->rss_end - r->rss_start;
  double per_kill = kills ? (double)growth * 1024.0 / kills : 0;
  if (r->rss_start > r->rss_max)
    r->rss_max = r->rss_start;
  if (r->rss_end > r->rss_max)
    r->rss_max = r->rss_end;
  printf("   master RSS %ld kB at ready, %ld kB after the prefill (%llu lines), %ld kB at "
         "the start, %ld kB at the end: %+ld kB (%.0f bytes per kill), max %ld kB\n",
         r->rss_ready, r->rss_prefill, r->prefill_lines, r->rss_start, r->rss_end, growth,
         per_kill, r->rss_max);
  /* RSS against kills, and against worker starts (herd's "started"
   * lines: a kill, a reload or a scale-up each start workers), over the
   * measured part: least squares */
  {
    double sx[2] = {0, 0}, sy = 0, sxx[2] = {0, 0}, sxy[2] = {0, 0};
    int m = 0, k = 0, st = 0, st0 = -1;
    size_t ai = 0, ei = 0;
    for (size_t i = 0; i < r->nsamp; i++) {
      const struct sample *s = &r->samples[i];
      while (ai < r->nact && r->acts[ai].t <= s->t) {
        k += r->acts[ai].type == A_KILL && !r->acts[ai].rc;
        ai++;
      }
      while (ei < r->nev && r->evs[ei].t <= s->t)
        st += r->evs[ei++].type == EV_STARTED;
      if (s->t < r->t_start || s->t > r->t_end || s->rss_kb <= 0)
        continue;
      if (st0 < 0)
        st0 = st;
      double x[2] = {k, st}, y = (double)s->rss_kb * 1024.0;
      sy += y;
      for (int j = 0; j < 2; j++) {
        sx[j] += x[j];
        sxx[j] += x[j] * x[j];
        sxy[j] += x[j] * y;
      }
      m++;
    }
    double den[2] = {m * sxx[0] - sx[0] * sx[0], m * sxx[1] - sx[1] * sx[1]};
    if (m > 2 && den[0] > 0 && den[1] > 0)
      printf("              slope over %d samples (least squares): %.0f bytes per kill, "
             "%.0f bytes per worker start (%d starts)\n",
             m, (m * sxy[0] - sx[0] * sy) / den[0], (m * sxy[1] - sx[1] * sy) / den[1],
             st - st0);
  }
  /* what went through herd's output queue meanwhile (its ring's pages
   * are touched as lines go through) */
  {
    unsigned long long ev_bytes = 0, log_bytes = 0;
    for (size_t i = 0; i < r->nev; i++)
      if (r->evs[i].t >= r->t_start && r->evs[i].t <= r->t_end)
        ev_bytes += strlen(r->evs[i].text) + 32 + strlen(r->name);
    for (size_t i = 0; i < r->nact; i++)
      if (r->acts[i].type == A_LOG && !r->acts[i].rc && r->acts[i].t >= r->t_start &&
          r->acts[i].t <= r->t_end)
        log_bytes += (unsigned long long)r->acts[i].lines * LOG_LINE_BYTES;
    printf("              meanwhile herd's output took about %llu kB of event lines (%.0f "
           "bytes per kill) and %llu kB of worker lines\n",
           ev_bytes / 1024, kills ? (double)ev_bytes / kills : 0.0, log_bytes / 1024);
  }
  /* where it went: the mappings whose RSS changed between the samples */
  if (r->nmaps_start > 0 && r->nmaps_end > 0) {
    int shown = 0;
    for (int i = 0; i < r->nmaps_end; i++) {
      const struct map *e = &r->maps_end[i];
      long before = 0;
      int found = 0;
      for (int j = 0; j < r->nmaps_start; j++)
        if (r->maps_start[j].start == e->start) {
          before = r->maps_start[j].rss_kb;
          found = 1;
        }
      if (e->rss_kb == before)
        continue;
      printf("%s %s %lx-%lx (%lu kB) %ld -> %ld kB%s", shown++ ? "," : "              RSS moved in:",
             e->name, e->start, e->end, (e->end - e->start) / 1024, before, e->rss_kb,
             found ? "" : " (new)");
    }
    for (int j = 0; j < r->nmaps_start; j++) {
      int found = 0;
      for (int i = 0; i < r->nmaps_end; i++)
        found |= r->maps_end[i].start == r->maps_start[j].start;
      if (!found && r->maps_start[j].rss_kb)
        printf("%s %s %lx (gone) %ld kB", shown++ ? "," : "              RSS moved in:",
               r->maps_start[j].name, r->maps_start[j].start, r->maps_start[j].rss_kb);
    }
    if (shown)
      printf("\n");
  }
  printf("   master fds %d at ready, %d at the start, %d at the end\n", r->fds_ready,
         r->fds_start, r->fds_end);
  printf("   zombies    %d", r->zombies);
  for (int i = 0; i < r->nz; i++)
    printf("%s pid %d at %+.3f s", i ? "," : ":", r->zpids[i], rel_s(r, r->zt[i]));
  printf("\n   herd stop  %s\n", r->herd_why);
  const char *rd = strstr(r->status_json, "\"roundrobin_dropped\":");
  if (rd)
    printf("   herd says  roundrobin_dropped %ld, restarts %ld (herd status --json at the end)\n",
           strtol(rd + 21, NULL, 10),
           strstr(r->status_json, "\"restarts\":")
               ? strtol(strstr(r->status_json, "\"restarts\":") + 11, NULL, 10) : -1L);
  if (t.dropped || r->ev_dropped)
    printf("   (records dropped: %llu failures, %zu event lines)\n", t.dropped, r->ev_dropped);

  if (o->series && r->nsamp) {
    printf("   series (every %d s): time, master RSS kB, fds, children, requests\n", o->series);
    int64_t next = r->samples[0].t;
    for (size_t i = 0; i < r->nsamp; i++) {
      const struct sample *s = &r->samples[i];
      if (s->t < next && i + 1 < r->nsamp)
        continue;
      next = s->t + (int64_t)o->series * 1000000 - 500000;
      printf("      %+8.1f s %7ld kB %4d fds %3d children %12llu requests\n", rel_s(r, s->t),
             s->rss_kb, s->fds, s->children, s->requests);
    }
  }

  /* herd's lines the parser does not know (error lines, worker stderr) */
  if (others) {
    printf("   other herd lines: %d; by kind (digits as #):\n", others);
    char seen[5][160];
    int cnt[5] = {0}, ns = 0, more = 0;
    for (size_t i = 0; i < r->nev; i++) {
      if (r->evs[i].type != EV_OTHER)
        continue;
      char k[160];
      size_t j = 0;
      for (const char *p = r->evs[i].text; *p && j < sizeof k - 1; p++)
        k[j++] = *p >= '0' && *p <= '9' ? '#' : *p;
      k[j] = '\0';
      int f = -1;
      for (int s = 0; s < ns; s++)
        if (!strcmp(seen[s], k))
          f = s;
      if (f < 0 && ns < 5) {
        f = ns++;
        snprintf(seen[f], sizeof seen[f], "%s", k);
      }
      if (f >= 0)
        cnt[f]++;
      else
        more++;
    }
    for (int s = 0; s < ns; s++)
      printf("      %5d x %s\n", cnt[s], seen[s]);
    if (more)
      printf("      %5d others\n", more);
  }

  /* evidence: unexplained failures, by class */
  static const int bad[] = {RQ_TIMEOUT, RQ_RESET, RQ_REFUSED, RQ_NON2XX, RQ_BAD, RQ_ERROR};
  for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
    int cls = bad[b], n = 0;
    int by[A_N + 1] = {0};
    int64_t age_sum[A_N + 1] = {0};
    int fresh = 0, phase[4] = {0};
    for (int i = 0; i < o->conns; i++)
      for (size_t j = 0; j < r->clients[i].nfails; j++) {
        const struct fail *f = &r->clients[i].fails[j];
        if (f->cls != cls || (cls == RQ_RESET && f->how != EX_NONE && f->how != EX_OVER))
          continue;
        n++;
        fresh += f->fresh;
        phase[f->phase]++;
        /* a timeout is stuck from its start: what came before that; a
         * reset or refusal happens at its end: what came before that */
        const struct action *a = last_action(r, cls == RQ_TIMEOUT ? f->start : f->end);
        int k = a ? a->type : A_N;
        by[k]++;
        if (a)
          age_sum[k] += a->t - f->start;
      }
    if (!n)
      continue;
    printf("   %s%s: %d (%d on new connections; %d connecting, %d sending, %d waiting, %d "
           "partial)\n",
           cls == RQ_RESET ? "unexplained " : "", cls_names[cls], n, fresh, phase[0], phase[1],
           phase[2], phase[3]);
    printf("      the driver's last action before each %s:",
           cls == RQ_TIMEOUT ? "began" : "failed");
    for (int k = 0; k <= A_N; k++) {
      if (!by[k])
        continue;
      double ms = (double)age_sum[k] / by[k] / 1000.0;
      if (k == A_N)
        printf(" none %d", by[k]);
      else
        printf(" %s %d (on average %.1f ms %s the request began)", act_names[k], by[k],
               ms < 0 ? -ms : ms, ms < 0 ? "before" : "after");
    }
    printf("\n");
    int shown = 0;
    for (int i = 0; i < o->conns && shown < o->evidence; i++)
      for (size_t j = 0; j < r->clients[i].nfails && shown < o->evidence; j++) {
        const struct fail *f = &r->clients[i].fails[j];
        if (f->cls != cls || (cls == RQ_RESET && f->how != EX_NONE && f->how != EX_OVER))
          continue;
        print_fail(r, f);
        shown++;
      }
    /* the rest, one line each, for timeouts: every one is worth a look */
    if (cls == RQ_TIMEOUT) {
      int line = 0;
      for (int i = 0; i < o->conns; i++)
        for (size_t j = 0; j < r->clients[i].nfails; j++) {
          const struct fail *f = &r->clients[i].fails[j];
          if (f->cls != cls)
            continue;
          if (line++ < shown)
            continue;
          if (line > 60) {
            continue;
          }
          const struct action *a = last_action(r, f->start);
          char at[160] = "none";
          if (a)
            act_text(r, a, at, sizeof at);
          printf("      timeout at %+.3f s (client %d, %s, %s), began %.1f ms after: %s\n",
                 rel_s(r, f->start), f->client, f->fresh ? "new" : "reused",
                 phase_names[f->phase], a ? (double)(f->start - a->t) / 1000.0 : 0.0, at);
        }
      if (line > 60)
        printf("      ... %d more\n", line - 60);
    }
  }

  /* the bar */
  size_t wl = 0;
  why[0] = '\0';
#define MISS(...)                                                                  \
  do {                                                                             \
    if (wl + 64 < whyn)                                                            \
      wl += (size_t)snprintf(why + wl, whyn - wl, "%s", wl ? "; " : "");           \
    if (wl + 64 < whyn)                                                            \
      wl += (size_t)snprintf(why + wl, whyn - wl, __VA_ARGS__);                    \
  } while (0)
  if (r->setup_err[0])
    MISS("setup failed");
  if (interrupted)
    MISS("interrupted");
  if (t.n[RQ_REFUSED])
    MISS("%llu refused", t.n[RQ_REFUSED]);
  if (t.n[RQ_TIMEOUT])
    MISS("%llu timeouts", t.n[RQ_TIMEOUT]);
  if (t.n[RQ_NON2XX] || t.n[RQ_BAD])
    MISS("%llu non-2xx or malformed", t.n[RQ_NON2XX] + t.n[RQ_BAD]);
  if (t.unexplained)
    MISS("%llu unexplained resets", t.unexplained);
  if (t.n[RQ_ERROR])
    MISS("%llu client errors", t.n[RQ_ERROR]);
  if (!r->quiet_start || !r->quiet_end)
    MISS("herd was not quiet (4 ready workers, no reload) at the %s sample",
         !r->quiet_start ? "start" : "end");
  else if (r->fds_start != r->fds_end)
    MISS("master fds %d -> %d", r->fds_start, r->fds_end);
  if (r->quiet_start && r->quiet_end && o->rss_bar_kb && growth > o->rss_bar_kb)
    MISS("master RSS +%ld kB (bar %d kB)", growth, o->rss_bar_kb);
  if (r->zombies)
    MISS("%d zombies", r->zombies);
  if (r->herd_status != 0)
    MISS("herd stop: %s", r->herd_why);
  if (t.total == 0)
    MISS("no request was made");
#undef MISS
  printf("   bar        no refused, timeout, non-2xx, unexplained reset; fds equal; RSS "
         "within %d kB%s; no zombie; herd exits 0\n",
         o->rss_bar_kb, o->rss_bar_kb ? "" : " (off)");
  printf("RESULT %s: %s%s%s\n", mode_names[r->mode], wl ? "FAIL (" : "PASS", why, wl ? ")" : "");
  fflush(stdout);
  return wl == 0;
}

static void run_free(struct run *r) {
  for (size_t i = 0; i < r->nev; i++)
    free(r->evs[i].text);
  free(r->evs);
  free(r->acts);
  free(r->samples);
  free(r->maps_start);
  free(r->maps_end);
  if (r->clients) {
    for (int i = 0; i < r->o->conns; i++) {
      for (size_t j = 0; j < r->clients[i].nfails; j++)
        free(r->clients[i].fails[j].probe);
      free(r->clients[i].fails);
    }
    free(r->clients);
  }
  pthread_cond_destroy(&r->cv);
  pthread_mutex_destroy(&r->mu);
}

/* One mode, start to report. Returns 1 when it met the bar; *summary
 * gets why not. */
static int run_mode(const struct opts *o, int mode, char *summary, size_t sn) {
  struct run *r = calloc(1, sizeof *r);
  if (!r) {
    snprintf(summary, sn, "out of memory");
    return 0;
  }
  r->o = o;
  r->mode = mode;
  r->herd_status = -1;
  r->cur_workers = r->want = o->workers;
  r->rng = (o->seed + 1) * 0x9E3779B97F4A7C15ull + (uint64_t)mode * 0xBF58476D1CE4E5B9ull;
  if (!r->rng)
    r->rng = 1;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&r->cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&r->mu, NULL);
  snprintf(r->name, sizeof r->name, "chaos-%s", mode_names[mode]);
  const char *tmp = getenv("TMPDIR");
  if (!tmp || !*tmp || strlen(tmp) > 60)
    tmp = "/tmp";
  snprintf(r->home, sizeof r->home, "%s/herd-chaos.XXXXXX", tmp);
  r->clients = calloc((size_t)o->conns, sizeof *r->clients);
  if (!r->clients || !mkdtemp(r->home)) {
    snprintf(r->setup_err, sizeof r->setup_err, "setup: %s", strerror(errno));
    r->home[0] = '\0';
    goto fail;
  }
  snprintf(r->home_env, sizeof r->home_env, "HERD_HOME=%s", r->home);
  for (int i = 0; i < o->conns; i++) {
    struct client *c = &r->clients[i];
    c->r = r;
    c->id = i;
    /* spread: with 16 and 8 keep-alive, every other one */
    c->keep = (i + 1) * o->keepalive / o->conns > i * o->keepalive / o->conns;
    c->fd = -1;
    c->last_slot = -1;
    c->fails = calloc(FAILS_PER_CLIENT, sizeof *c->fails);
    if (!c->fails) {
      snprintf(r->setup_err, sizeof r->setup_err, "out of memory");
      goto fail;
    }
  }
  fprintf(stderr, "chaos: %s: starting herd (HERD_HOME %s)\n", mode_names[mode], r->home);
  if (!start_herd(r))
    goto fail;
  r->rss_ready = proc_rss_kb(r->herd.pid);
  r->fds_ready = proc_fds(r->herd.pid);
  fprintf(stderr, "chaos: %s: port %d, master pid %d; prefill %d MiB\n", mode_names[mode],
          r->port, (int)r->herd.pid, o->prefill_mb);
  prefill(r);
  r->rss_prefill = proc_rss_kb(r->herd.pid);
  start_threads(r);
  fprintf(stderr, "chaos: %s: warm-up: the high-water mark, then %d s\n", mode_names[mode],
          o->warmup);
  high_water(r);
  drive(r, o->warmup, P_WARMUP);
  r->quiet_start = quiet_sample(r, &r->rss_start, &r->fds_start, &r->maps_start,
                                &r->nmaps_start);
  r->t_start = wall_us();
  fprintf(stderr, "chaos: %s: start sample %ld kB, %d fds%s; chaos for %d s\n",
          mode_names[mode], r->rss_start, r->fds_start, r->quiet_start ? "" : " (NOT quiet)",
          o->secs);
  drive(r, o->secs, P_MAIN);
  r->quiet_end = quiet_sample(r, &r->rss_end, &r->fds_end, &r->maps_end, &r->nmaps_end);
  r->t_end = wall_us();
  fprintf(stderr, "chaos: %s: end sample %ld kB, %d fds%s; stopping herd\n", mode_names[mode],
          r->rss_end, r->fds_end, r->quiet_end ? "" : " (NOT quiet)");
fail:
  stop_threads(r);
  stop_herd(r);
  if (r->home[0]) {
    r->out_lines = count_lines(r->home, "stdout.log");
    (void)nftw(r->home, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  }
  char why[512];
  int pass = report(r, why, sizeof why);
  snprintf(summary, sn, "%s %s%s%s%s", mode_names[mode], pass ? "PASS" : "FAIL",
           pass ? "" : " (", why, pass ? "" : ")");
  run_free(r);
  free(r);
  return pass;
}

/* ---- main ---------------------------------------------------------- */

static void on_signal(int sig) {
  (void)sig;
  interrupted = 1;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: chaos [--mode shared|reuseport|roundrobin|all] [--secs N] [--warmup N]\n"
          "             [--workers N] [--conns N] [--keepalive N] [--herd PATH] [--worker PATH]\n"
          "             [--seed S] [--prefill-mb N] [--series N] [--rss-bar KB] [--evidence N]\n"
          "  --mode      the --balance mode(s) to run (default all)\n"
          "  --secs      seconds of chaos per mode after the warm-up (default 60)\n"
          "  --warmup    seconds of chaos before the start sample (default 3)\n"
          "  --workers   herd run -w, 2 to 6 (default 4)\n"
          "  --conns     client connections (default 16)\n"
          "  --keepalive how many of them are keep-alive, the others new per request\n"
          "              (default: half)\n"
          "  --herd, --worker  the programs (default: next to this one, ../herd and\n"
          "              ../examples/hello-http)\n"
          "  --seed      the driver's random seed (default: from the clock; printed)\n"
          "  --prefill-mb  MiB of worker lines through herd's output queue before the\n"
          "              start sample (default 0; 12 makes herd's 8 MiB output ring resident)\n"
          "  --series    print the master's RSS and fds every N s (default 0: no)\n"
          "  --rss-bar   the allowed RSS growth, kB (default 64; 0: report only)\n"
          "  --evidence  failures shown in full per class (default 3)\n"
          "exit: 0 every mode met the bar, 1 not, 2 bad usage\n");
}

static int num(const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi)
    return 0;
  *out = v;
  return 1;
}

static int parse(int argc, char **argv, struct opts *o) {
  memset(o, 0, sizeof *o);
  o->secs = 60;
  o->warmup = 3;
  o->workers = 4;
  o->conns = 16;
  o->keepalive = -1;
  o->prefill_mb = 0;
  o->rss_bar_kb = 64;
  o->evidence = 3;
  o->seed = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 16);
  const char *mode = "all";
  char self[PATH_MAX - 64]; /* room for the suffixes below */
  ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
  if (sl < 0)
    sl = 0;
  self[sl] = '\0';
  char *slash = strrchr(self, '/');
  if (slash)
    *slash = '\0';
  snprintf(o->herd, sizeof o->herd, "%s/../herd", self);
  snprintf(o->worker, sizeof o->worker, "%s/../examples/hello-http", self);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      exit(0);
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "chaos: %s: %s\n", a, strncmp(a, "--", 2) ? "unknown argument" : "needs a value");
      return 0;
    }
    const char *v = argv[++i];
    long n;
    if (!strcmp(a, "--mode"))
      mode = v;
    else if (!strcmp(a, "--secs") && num(v, 1, 86400, &n))
      o->secs = (int)n;
    else if (!strcmp(a, "--warmup") && num(v, 0, 3600, &n))
      o->warmup = (int)n;
    else if (!strcmp(a, "--workers") && num(v, SCALE_MIN, SCALE_MAX, &n))
      o->workers = (int)n;
    else if (!strcmp(a, "--conns") && num(v, 2, 512, &n))
      o->conns = (int)n;
    else if (!strcmp(a, "--keepalive") && num(v, 0, 512, &n))
      o->keepalive = (int)n;
    else if (!strcmp(a, "--prefill-mb") && num(v, 0, 1024, &n))
      o->prefill_mb = (int)n;
    else if (!strcmp(a, "--series") && num(v, 0, 86400, &n))
      o->series = (int)n;
    else if (!strcmp(a, "--rss-bar") && num(v, 0, 1 << 20, &n))
      o->rss_bar_kb = (int)n;
    else if (!strcmp(a, "--evidence") && num(v, 0, 1000, &n))
      o->evidence = (int)n;
    else if (!strcmp(a, "--seed")) {
      char *end;
      errno = 0;
      o->seed = strtoull(v, &end, 10);
      if (errno || end == v || *end) {
        fprintf(stderr, "chaos: --seed: not a number: %s\n", v);
        return 0;
      }
    } else if (!strcmp(a, "--herd") && strlen(v) < sizeof o->herd)
      snprintf(o->herd, sizeof o->herd, "%s", v);
    else if (!strcmp(a, "--worker") && strlen(v) < sizeof o->worker)
      snprintf(o->worker, sizeof o->worker, "%s", v);
    else {
      fprintf(stderr, "chaos: bad option or value: %s %s\n", a, v);
      return 0;
    }
  }
  if (o->keepalive < 0)
    o->keepalive = o->conns / 2;
  if (o->keepalive > o->conns) {
    fprintf(stderr, "chaos: --keepalive %d: more than --conns %d\n", o->keepalive, o->conns);
    return 0;
  }
  if (!strcmp(mode, "all")) {
    for (int m = 0; m < M_N; m++)
      o->modes[o->nmodes++] = m;
  } else {
    for (int m = 0; m < M_N; m++)
      if (!strcmp(mode, mode_names[m]))
        o->modes[o->nmodes++] = m;
    if (!o->nmodes) {
      fprintf(stderr, "chaos: --mode: shared, reuseport, roundrobin or all, not %s\n", mode);
      return 0;
    }
  }
  if (access(o->herd, X_OK) < 0 || access(o->worker, X_OK) < 0) {
    fprintf(stderr, "chaos: cannot run %s or %s (make; or --herd, --worker)\n", o->herd,
            o->worker);
    return 0;
  }
  return 1;
}

int main(int argc, char **argv) {
  struct opts o;
  if (!parse(argc, argv, &o)) {
    usage(stderr);
    return 2;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0) {
    perror("chaos: sigaction");
    return 1;
  }
  sa.sa_handler = SIG_IGN;
  (void)sigaction(SIGPIPE, &sa, NULL);
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("chaos: herd %s, worker %s, seed %llu, %d s per mode (+%d s warm-up), "
         "%d workers, %d connections\n",
         o.herd, o.worker, o.seed, o.secs, o.warmup, o.workers, o.conns);
  char sums[M_N][640];
  int all = 1, ran = 0;
  for (; ran < o.nmodes && !interrupted; ran++)
    all &= run_mode(&o, o.modes[ran], sums[ran], sizeof sums[ran]);
  printf("\nchaos (seed %llu):", o.seed);
  for (int i = 0; i < ran; i++)
    printf("%s %s", i ? ";" : "", sums[i]);
  if (ran < o.nmodes)
    printf("; interrupted");
  printf("\n");
  return all && !interrupted ? 0 : 1;
}
