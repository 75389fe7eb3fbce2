/*
 * ctl.c - the control commands: status, list, stop, reload, restart,
 * scale. Each finds the app's master by HERD_HOME/NAME.sock and speaks
 * the JSON-lines protocol of docs/control.md.
 *
 * Exit status: 0 done; 1 the app is not there, not running, refused or
 * failed (one line says which); 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "jsonr.h"

/* How long a reply may take: 5 s, or HERD_CTL_TIMEOUT (a duration in ms,
 * for slow machines and for tests). */
static int reply_timeout_ms(void) {
  const char *v = getenv("HERD_CTL_TIMEOUT");
  char *end;
  long ms = v && *v ? strtol(v, &end, 10) : 0;
  return v && *v && !*end && ms > 0 && ms <= 3600000 ? (int)ms : 5000;
}
#define REPLY_TIMEOUT_MS reply_timeout_ms()

/* "5 s", "300 ms": the timeout in what we say */
static const char *timeout_text(void) {
  static char b[32];
  int ms = REPLY_TIMEOUT_MS;
  if (ms % 1000)
    snprintf(b, sizeof b, "%d ms", ms);
  else
    snprintf(b, sizeof b, "%d s", ms / 1000);
  return b;
}
/* After its last line a stopping master closes its log files and exits:
 * herd stop waits this long at most for that, then says it has not. */
#define STOP_EXIT_TIMEOUT_MS 10000

static const char *const usage_status =
    "Usage: herd status [NAME|all] [--json]\n"
    "\n"
    "Show an app's workers (every app's, without NAME or with all): slot, pid, state\n"
    "(starting, ready, stopping; +starting for a successor; backoff or\n"
    "parked with the time to the next try; waiting: none to start, during\n"
    "a stop), uptime, restarts (RST), CPU%, RSS and the last exit of the\n"
    "slot; then what each slot's last dead worker said (slot N said: ...).\n"
    "\n"
    "      --json     the masters' replies as JSON (an array without NAME)\n"
    "  -h, --help     show this help\n"
    "\n"
    "Exit status: 0 online (every worker ready); 3 degraded (some not ready:\n"
    "starting, backing off) or stopping; 4 errored (a slot is parked: it\n"
    "crash-looped); 1 the app could not be asked (not running...); 2 bad\n"
    "usage. Several apps: 1 if any could not be asked, else the worst.\n"
    "Colour only on a terminal; NO_COLOR turns it off.\n";

static const char *const usage_list =
    "Usage: herd list [--json]\n"
    "\n"
    "Every app of this user on this machine (found by its socket or pid\n"
    "file in HERD_HOME), one line each: online (every worker ready);\n"
    "degraded (some not ready: starting, backing off); errored (a slot is\n"
    "parked: it crash-looped); stopping; stale (its master is gone); denied\n"
    "(another user's); busy (it does not answer now: no reply within 5 s,\n"
    "or too many control connections); not-herd (a socket that is not\n"
    "herd's). Colour only on a terminal; NO_COLOR turns it off.\n"
    "\n"
    "      --json     one JSON array\n";

static const char *const usage_stop =
    "Usage: herd stop [--graceful] NAME|all\n"
    "\n"
    "Stop an app: its workers get the stop signal (SIGKILL after the kill\n"
    "timeout; with --graceful, no kill timeout), then the master exits.\n"
    "Returns once the master has exited (at most 10 s after its last reply).\n";

static const char *const usage_reload =
    "Usage: herd reload NAME|all\n"
    "\n"
    "Rolling reload with zero downtime: slot by slot, a new worker starts,\n"
    "and the old one stops once the new one is ready. Returns when the\n"
    "reload is done (exit 0) or has failed (exit 1, the old workers of the\n"
    "slots not reached yet keep running).\n";

static const char *const usage_restart =
    "Usage: herd restart NAME|all\n"
    "\n"
    "Hard restart: every worker is stopped now and a new one started in\n"
    "its slot as soon as it has exited (requests may fail meanwhile: use\n"
    "reload for zero downtime). Returns when all are ready again.\n";

static const char *const usage_scale =
    "Usage: herd scale NAME N|+N|-N\n"
    "\n"
    "Run N workers (1..4096), or N more or fewer. Growing returns once the\n"
    "new workers are ready.\n";

static int use_colour(void) {
  const char *nc = getenv("NO_COLOR");
  const char *term = getenv("TERM");
  return isatty(1) && !(nc && *nc) && !(term && !strcmp(term, "dumb"));
}

static void human_ms(char *buf, size_t n, uint64_t ms) {
  uint64_t s = ms / 1000;
  if (s < 60)
    snprintf(buf, n, "%llus", (unsigned long long)s);
  else if (s < 3600)
    snprintf(buf, n, "%llum", (unsigned long long)(s / 60));
  else if (s < 86400)
    snprintf(buf, n, "%lluh", (unsigned long long)(s / 3600));
  else
    snprintf(buf, n, "%llud", (unsigned long long)(s / 86400));
}

static void human_bytes(char *buf, size_t n, double b) {
  if (b < 1024)
    snprintf(buf, n, "%.0fB", b);
  else if (b < 1024 * 1024)
    snprintf(buf, n, "%.1fK", b / 1024);
  else if (b < 1024.0 * 1024 * 1024)
    snprintf(buf, n, "%.1fM", b / 1048576);
  else
    snprintf(buf, n, "%.1fG", b / 1073741824);
}

/* A reply's numbers as integers, each in its range: a double cast to
 * an integer type out of range is undefined behaviour (a pid of 1e10), so
 * such a number makes the reply a protocol error, and the first one is
 * remembered for the message. Absent numbers read as 0. */
struct rd {
  char bad[160];
};

static long long rd_int(struct rd *r, const jv *v, const char *what,
                        long long min, long long max) {
  long long x = 0;
  if (jv_int(v, min, max, &x) < 0 && !r->bad[0])
    snprintf(r->bad, sizeof r->bad, "\"%s\" is %.17g, not a whole number in %lld..%lld",
             what, jv_num(v, 0), min, max);
  return x;
}

static void bad_reply(const char *name, const struct rd *r) {
  fprintf(stderr, "%s: %s: not a herd reply: %s\n", prog_name, name, r->bad);
}

enum { ASK_STOP = 1 };

/* The pid of the process at the other end of the control connection
 * (SO_PEERCRED: the master that listens), as a pidfd: what herd stop
 * waits for, whatever pid a reply names. Taken before the request is
 * sent: had the master died and its pid been reused in between, the
 * request would get no reply, and nothing would be waited for. -1 if
 * the pid is not known (a master in another pid namespace) or pidfds are
 * not there. */
static int peer_pidfd(int fd, pid_t *pid) {
  struct ucred uc;
  socklen_t len = sizeof uc;
  *pid = 0;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0 || uc.pid <= 0)
    return -1;
  *pid = uc.pid;
  return (int)syscall(SYS_pidfd_open, uc.pid, 0);
}

/* Wait at most timeout_ms for fd to be readable (a pidfd: its process
 * has exited; a socket: data or its end). 1, 0 at the timeout, -errno. */
static int wait_readable(int fd, int timeout_ms) {
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &t);
    long spent = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
    if (spent >= timeout_ms)
      return 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, timeout_ms - (int)spent);
    if (r < 0 && errno == EINTR)
      continue;
    return r < 0 ? -errno : r > 0;
  }
}

/* A stop's last line ({"ok":true,"stopped":true,...}), waited for until
 * it comes, the connection ends, or the master (pfd, if known) has
 * exited: a master gone whose socket another process holds open does
 * not keep herd stop waiting. NULL if there was none. */
static jv *stop_last_line(herd_chan_t *ch, int pfd) {
  for (;;) {
    /* what is in already (it may have come with the pending reply) */
    char *last = NULL;
    int r = ctl_read_line(ch, &last, 0);
    if (r != -ETIMEDOUT) {
      jv *lv = r == 0 ? jv_parse(last, strlen(last)) : NULL;
      free(last);
      if (lv && jv_type(lv) != JV_OBJ) {
        jv_free(lv);
        lv = NULL;
      }
      return lv;
    }
    struct pollfd p[2] = {{.fd = herd_chan_fd(ch), .events = POLLIN},
                          {.fd = pfd, .events = POLLIN}};
    r = poll(p, pfd >= 0 ? 2 : 1, -1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return NULL;
    if (pfd >= 0 && p[1].revents && !p[0].revents) {
      /* a master gone left what it wrote in the socket */
      r = ctl_read_line(ch, &last, 0);
      jv *lv = r == 0 ? jv_parse(last, strlen(last)) : NULL;
      free(last);
      return lv && jv_type(lv) == JV_OBJ ? lv : (jv_free(lv), NULL);
    }
    if (p[0].revents) {
      /* the line comes whole once it begins */
      r = ctl_read_line(ch, &last, REPLY_TIMEOUT_MS);
      jv *lv = r == 0 ? jv_parse(last, strlen(last)) : NULL;
      free(last);
      return lv && jv_type(lv) == JV_OBJ ? lv : (jv_free(lv), NULL);
    }
  }
}

/* One request to NAME's master. Returns 0 with the parsed reply in *out
 * (ok or not); -1 having printed why not (unless quiet: an app that is
 * not there, not herd's, not answering); -2 having printed why, even if
 * quiet (a stop the master accepted but did not finish). */
static int ask(const char *home, const char *name, const char *req, int flags,
               jv **out, char **raw, int quiet) {
  char err[PATH_MAX + 128];
  herd_chan_t *ch;
  if (ctl_connect(home, name, &ch, err, sizeof err) < 0) {
    if (!quiet)
      fprintf(stderr, "%s: %s\n", prog_name, err);
    return -1;
  }
  pid_t peer = 0;
  int pfd = flags & ASK_STOP ? peer_pidfd(herd_chan_fd(ch), &peer) : -1;
  int rc = -1;
  char *line = NULL;
  int r = ctl_request(ch, req, &line, REPLY_TIMEOUT_MS);
  jv *v = r == 0 ? jv_parse(line, strlen(line)) : NULL;
  if (!v || jv_type(v) != JV_OBJ || !jv_get(v, "ok")) {
    if (!quiet) {
      if (r == -ETIMEDOUT)
        fprintf(stderr, "%s: %s: no reply within %s (the master may be busy, and "
                "may still carry the request out; or %s/%s.sock is not herd's)\n",
                prog_name, name, timeout_text(), home, name);
      else if (r == 0 || r == -EPROTO)
        fprintf(stderr, "%s: %s: %s/%s.sock is not a herd control socket (%s)\n",
                prog_name, name, home, name,
                r == -EPROTO ? "it closed the connection in the middle of a line"
                             : "not a herd reply");
      else if (r == -ECONNRESET)
        fprintf(stderr, "%s: %s: the master closed the connection without a "
                "reply (it is stopping, or %s/%s.sock is not herd's)\n",
                prog_name, name, home, name);
      else
        fprintf(stderr, "%s: %s: %s\n", prog_name, name, strerror(-r));
    }
    goto fail;
  }
  /* A pending reply: the result follows when the work is done. */
  const char *pending = jv_str(jv_get(v, "pending"), NULL);
  int stopping = pending && !strcmp(pending, "stop");
  if (pending && jv_bool(jv_get(v, "ok"), 0) && !stopping) {
    jv_free(v);
    free(line);
    line = NULL;
    r = ctl_read_line(ch, &line, -1);
    v = r == 0 ? jv_parse(line, strlen(line)) : NULL;
    if (!v) {
      if (!quiet)
        fprintf(stderr, "%s: %s: the master went away before it answered\n",
                prog_name, name);
      goto fail;
    }
  }
  if (stopping && jv_bool(jv_get(v, "ok"), 0)) {
    /* The master's own pid, as it says, must be one (it is not what is
     * waited for: see peer_pidfd). */
    struct rd rdr = {""};
    (void)rd_int(&rdr, jv_get(v, "pid"), "pid", 1, INT_MAX);
    if (rdr.bad[0]) {
      if (!quiet)
        bad_reply(name, &rdr);
      goto fail;
    }
    /* The master's last word (were workers killed?) comes once its
     * workers are gone; then wait until it has exited. */
    jv *lv = stop_last_line(ch, pfd);
    if (lv) {
      jv_free(v);
      v = lv;
    }
    int gone = pfd >= 0 ? wait_readable(pfd, STOP_EXIT_TIMEOUT_MS) > 0
                        : wait_readable(herd_chan_fd(ch), STOP_EXIT_TIMEOUT_MS) > 0;
    if (!gone) {
      if (peer > 0)
        fprintf(stderr, "%s: %s: the master (pid %d) stopped its workers but has not "
                "exited within %d s\n", prog_name, name, (int)peer,
                STOP_EXIT_TIMEOUT_MS / 1000);
      else
        fprintf(stderr, "%s: %s: the master stopped its workers but has not closed "
                "its control connection within %d s\n", prog_name, name,
                STOP_EXIT_TIMEOUT_MS / 1000);
      rc = -2;
      goto fail;
    }
  }
  if (pfd >= 0)
    (void)close(pfd);
  herd_chan_close(ch);
  *out = v;
  if (raw)
    *raw = line;
  else
    free(line);
  return 0;
fail:
  jv_free(v);
  free(line);
  if (pfd >= 0)
    (void)close(pfd);
  herd_chan_close(ch);
  return rc;
}

static int failed_reply(const char *name, jv *v) {
  if (jv_bool(jv_get(v, "ok"), 0))
    return 0;
  fprintf(stderr, "%s: %s: %s\n", prog_name, name,
          jv_str(jv_get(v, "error"), "refused"));
  return 1;
}

/* ---- status ------------------------------------------------------- */

/* status's exit status for an app's state (see usage_status): as
 * `systemctl is-active`, non-zero when it is not all there */
static int state_exit(const char *state) {
  if (!strcmp(state, "errored"))
    return 4;
  if (!strcmp(state, "degraded") || !strcmp(state, "stopping"))
    return 3;
  return 0;
}

/* The colour of an app's or a worker's state on a terminal. */
static const char *state_colour(const char *state) {
  if (!strcmp(state, "online") || !strcmp(state, "ready"))
    return "\033[32m";
  if (!strcmp(state, "degraded") || !strcmp(state, "stopping") ||
      !strcmp(state, "starting") || !strcmp(state, "busy"))
    return "\033[33m";
  return "\033[31m";
}

/* The text of one app's status, to out; r says if a number was out of
 * its range (then the text is not to be shown). */
static void print_status(const jv *v, int colour, FILE *out, struct rd *r) {
  const char *name = jv_str(jv_get(v, "name"), "?");
  char up[16], rss[16];
  human_ms(up, sizeof up, (uint64_t)rd_int(r, jv_get(v, "uptime_ms"), "uptime_ms", 0, LLONG_MAX));
  human_bytes(rss, sizeof rss, (double)rd_int(r, jv_get(v, "rss"), "rss", 0, LLONG_MAX));
  const jv *ws = jv_get(v, "workers");
  int ready = 0;
  for (size_t i = 0; i < jv_len(ws); i++)
    if (!strcmp(jv_str(jv_get(jv_at(ws, i), "state"), ""), "ready") &&
        !jv_bool(jv_get(jv_at(ws, i), "successor"), 0))
      ready++;
  fprintf(out, "%s%s%s  master pid %lld, up %s, %s, %d/%lld workers ready%s%s\n",
          colour ? "\033[1m" : "", name, colour ? "\033[0m" : "",
          rd_int(r, jv_get(v, "pid"), "pid", 0, INT_MAX), up, rss, ready,
          rd_int(r, jv_get(v, "workers_wanted"), "workers_wanted", 0, INT_MAX),
          jv_bool(jv_get(v, "reloading"), 0) ? ", reloading" : "",
          jv_bool(jv_get(v, "stopping"), 0) ? ", stopping" : "");
  const jv *ls = jv_get(v, "listen");
  if (jv_len(ls)) {
    fprintf(out, "  listen");
    for (size_t i = 0; i < jv_len(ls); i++)
      fprintf(out, " %s", jv_str(jv_at(ls, i), "?"));
    fprintf(out, " (%s)\n", jv_str(jv_get(v, "balance"), "?"));
  }
  const jv *logs = jv_get(v, "logs");
  if (jv_type(logs) == JV_OBJ) {
    const jv *dr = jv_get(logs, "dropped");
    /* each below 2^63: their sum fits an unsigned 64-bit integer */
    unsigned long long d =
        (unsigned long long)rd_int(r, jv_at(dr, 0), "logs.dropped", 0, LLONG_MAX) +
        (unsigned long long)rd_int(r, jv_at(dr, 1), "logs.dropped", 0, LLONG_MAX);
    const char *le = jv_str(jv_get(logs, "error"), NULL);
    fprintf(out, "  logs %s%s%llu lines dropped%s%s\n",
            jv_str(jv_get(logs, "out"), "?"), d > 0 && colour ? ", \033[31m" : ", ",
            d, d > 0 && colour ? "\033[0m" : "", "");
    if (le)
      fprintf(out, "  last log error: %s\n", le);
  }
  fprintf(out, "  %-4s %-7s %-11s %6s %4s %6s %7s  %s\n", "SLOT", "PID", "STATE",
          "UPTIME", "RST", "CPU", "RSS", "LAST EXIT");
  for (size_t i = 0; i < jv_len(ws); i++) {
    const jv *w = jv_at(ws, i);
    const char *state = jv_str(jv_get(w, "state"), "?");
    long long pid = rd_int(r, jv_get(w, "pid"), "workers[].pid", 0, INT_MAX);
    char pids[24] = "-", wup[16] = "-", wrss[16] = "-", cpu[16] = "-",
         st[32], last[64] = "-";
    if (pid > 0) {
      snprintf(pids, sizeof pids, "%lld", pid);
      human_ms(wup, sizeof wup,
               (uint64_t)rd_int(r, jv_get(w, "uptime_ms"), "workers[].uptime_ms", 0,
                                LLONG_MAX));
      human_bytes(wrss, sizeof wrss,
                  (double)rd_int(r, jv_get(w, "rss"), "workers[].rss", 0, LLONG_MAX));
      snprintf(cpu, sizeof cpu, "%.1f%%", jv_num(jv_get(w, "cpu"), 0));
    }
    long long retry = rd_int(r, jv_get(w, "retry_ms"), "workers[].retry_ms", 0, LLONG_MAX);
    if (retry > 0)
      snprintf(st, sizeof st, "%s", !strcmp(state, "parked") ? "parked" : "backoff");
    else
      snprintf(st, sizeof st, "%s%s", jv_bool(jv_get(w, "successor"), 0) ? "+" : "",
               state);
    const jv *le = jv_get(w, "last_exit");
    if (jv_type(le) == JV_OBJ) {
      int sig = (int)rd_int(r, jv_get(le, "signal"), "last_exit.signal", 0, INT_MAX);
      const char *ab = sig ? sigabbrev_np(sig) : NULL;
      if (sig)
        snprintf(last, sizeof last, "%s, SIG%s", jv_str(jv_get(le, "cause"), "?"),
                 ab ? ab : "?");
      else
        snprintf(last, sizeof last, "%s, code %lld", jv_str(jv_get(le, "cause"), "?"),
                 rd_int(r, jv_get(le, "code"), "last_exit.code", INT_MIN, INT_MAX));
    }
    if (retry > 0) {
      char in[16];
      human_ms(in, sizeof in, (uint64_t)retry + 999);
      int had = jv_type(le) == JV_OBJ; /* else last is "-" */
      size_t k = had ? strlen(last) : 0;
      snprintf(last + k, sizeof last - k, "%sretry in %s", had ? "; " : "", in);
    }
    const char *c0 = "", *c1 = "";
    if (colour) {
      c1 = "\033[0m";
      c0 = !strcmp(state, "ready") ? "\033[32m"
           : !strcmp(state, "starting") || !strcmp(state, "stopping") ? "\033[33m"
           : "\033[31m";
    }
    fprintf(out, "  %-4lld %-7s %s%-11s%s %6s %4lld %6s %7s  %s\n",
            rd_int(r, jv_get(w, "slot"), "workers[].slot", 0, INT_MAX), pids, c0, st, c1,
            wup, rd_int(r, jv_get(w, "restarts"), "workers[].restarts", 0, UINT_MAX),
            cpu, wrss, last);
  }
  /* what the slots' last dead workers said, once per slot, in 80 columns */
  long long shown = -1;
  for (size_t i = 0; i < jv_len(ws); i++) {
    const jv *w = jv_at(ws, i);
    long long slot = rd_int(r, jv_get(w, "slot"), "workers[].slot", 0, INT_MAX);
    const char *why = jv_str(jv_get(jv_get(w, "last_exit"), "line"), NULL);
    if (!why || slot == shown)
      continue;
    shown = slot;
    char safe[200];
    cli_printable(safe, sizeof safe, why, strlen(why));
    int room = 80 - 2 - (int)snprintf(NULL, 0, "slot %lld said: ", slot);
    int len = (int)strlen(safe);
    fprintf(out, "  slot %lld said: %.*s%s\n", slot, len > room ? room - 3 : len, safe,
            len > room ? "..." : "");
  }
}

static int cmd_status(int argc, char **argv) {
  static const struct option lo[] = {{"json", no_argument, NULL, 'j'},
                                     {"help", no_argument, NULL, 'h'},
                                     {NULL, 0, NULL, 0}};
  int json = 0, ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
    if (ch == 'j')
      json = 1;
    else if (ch == 'h') {
      fputs(usage_status, stdout);
      return 0;
    } else {
      fputs(usage_status, stderr);
      return 2;
    }
  }
  if (argc - optind > 1) {
    fprintf(stderr, "%s: one NAME at most\n", prog_name);
    return 2;
  }
  if (optind < argc && !strcmp(argv[optind], "all"))
    optind++; /* as the other commands: all = every app */
  char home[PATH_MAX];
  if (cli_home(home, sizeof home) < 0)
    return 1;
  char **names = NULL;
  char *one[1];
  if (optind < argc && !app_name_ok(argv[optind])) {
    fprintf(stderr, "%s: '%s' is not an app name\n", prog_name, argv[optind]);
    return 2;
  }
  int n = home_targets(home, optind < argc ? argv[optind] : NULL, one, &names);
  if (n < 0)
    return 1;
  int colour = !json && use_colour();
  int rc = 0, worst = 0; /* rc: 1 if an app could not be asked */
  if (json && optind == argc)
    printf("[");
  for (int i = 0; i < n; i++) {
    jv *v = NULL;
    char *raw = NULL;
    int quiet = json && optind == argc;
    if (ask(home, names[i], "{\"cmd\":\"status\"}", 0, &v, &raw, quiet) < 0) {
      rc = 1;
      if (quiet) {
        printf("%s{\"name\":", i ? "," : "");
        struct jw w;
        jw_init(&w);
        jw_str(&w, names[i], strlen(names[i]));
        printf("%s,\"ok\":false,\"error\":\"not running\"}", w.buf ? w.buf : "\"\"");
        jw_free(&w);
      }
      continue;
    }
    int refused = failed_reply(names[i], v);
    if (refused) {
      rc = 1;
    } else {
      int code = state_exit(jv_str(jv_get(v, "state"), "online"));
      if (code > worst)
        worst = code;
    }
    if (refused)
      ;
    else if (json)
      printf("%s%s%s", optind == argc && i ? "," : "", raw,
             optind == argc ? "" : "\n");
    else {
      /* whole or not at all: a number out of range spoils the reply */
      char *text = NULL;
      size_t tlen = 0;
      FILE *m = open_memstream(&text, &tlen);
      struct rd r = {""};
      if (m) {
        print_status(v, colour, m, &r);
        if (fclose(m) != 0) {
          free(text);
          text = NULL;
        }
      }
      if (r.bad[0]) {
        bad_reply(names[i], &r);
        rc = 1;
      } else if (!m || !text) {
        fprintf(stderr, "%s: %s: %s\n", prog_name, names[i], strerror(ENOMEM));
        rc = 1;
      } else {
        if (i)
          printf("\n");
        fputs(text, stdout);
      }
      free(text);
    }
    jv_free(v);
    free(raw);
  }
  if (json && optind == argc)
    printf("]\n");
  else if (n == 0)
    printf("no apps in %s\n", home);
  if (names != one)
    home_apps_free(names, n);
  return rc ? rc : worst;
}

/* ---- list ---------------------------------------------------------- */

/* Slots with a ready worker: the master's count, or (a master before
 * 0.2) the ready workers that are not successors. */
static long long ready_of(const jv *v) {
  long long n;
  if (jv_int(jv_get(v, "workers_ready"), 0, INT_MAX, &n) == 1)
    return n;
  const jv *ws = jv_get(v, "workers");
  n = 0;
  for (size_t k = 0; k < jv_len(ws); k++)
    n += !strcmp(jv_str(jv_get(jv_at(ws, k), "state"), ""), "ready") &&
         !jv_bool(jv_get(jv_at(ws, k), "successor"), 0);
  return n;
}

static int cmd_list(int argc, char **argv) {
  static const struct option lo[] = {{"json", no_argument, NULL, 'j'},
                                     {"help", no_argument, NULL, 'h'},
                                     {NULL, 0, NULL, 0}};
  int json = 0, opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
    if (opt == 'j') {
      json = 1;
    } else if (opt == 'h') {
      fputs(usage_list, stdout);
      return 0;
    } else {
      fputs(usage_list, stderr);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "%s: unexpected '%s'\n", prog_name, argv[optind]);
    fputs(usage_list, stderr);
    return 2;
  }
  char home[PATH_MAX];
  if (cli_home(home, sizeof home) < 0)
    return 1;
  char **names;
  int n = home_apps(home, &names);
  if (n < 0) {
    fprintf(stderr, "%s: %s: %s\n", prog_name, home, strerror(-n));
    return 1;
  }
  int colour = !json && use_colour();
  int nw = 20; /* the NAME column: as wide as the longest name */
  for (int i = 0; i < n; i++)
    if ((int)strlen(names[i]) > nw)
      nw = (int)strlen(names[i]);
  if (json)
    printf("[");
  else if (n)
    printf("%-*s %-9s %7s %7s %6s  %s\n", nw, "NAME", "STATUS", "PID", "WORKERS",
           "UPTIME", "LISTEN");
  for (int i = 0; i < n; i++) {
    char err[PATH_MAX + 128];
    herd_chan_t *ch;
    int cr = ctl_connect(home, names[i], &ch, err, sizeof err);
    jv *v = NULL;
    const char *state = "stale", *why = NULL;
    char why_buf[200];
    char *line = NULL;
    long long pid = 0, wanted = 0, up_ms = 0;
    int live = 0; /* a status reply came */
    if (cr == 0) {
      int r = ctl_request(ch, "{\"cmd\":\"status\"}", &line, REPLY_TIMEOUT_MS);
      if (r == 0)
        v = jv_parse(line, strlen(line));
      herd_chan_close(ch);
      struct rd rdr = {""};
      if (v && jv_type(v) == JV_OBJ && jv_bool(jv_get(v, "ok"), 0)) {
        pid = rd_int(&rdr, jv_get(v, "pid"), "pid", 0, INT_MAX);
        wanted = rd_int(&rdr, jv_get(v, "workers_wanted"), "workers_wanted", 0, INT_MAX);
        up_ms = rd_int(&rdr, jv_get(v, "uptime_ms"), "uptime_ms", 0, LLONG_MAX);
      }
      if (rdr.bad[0]) {
        state = "not-herd";
        snprintf(why_buf, sizeof why_buf, "(not a herd reply: %s)", rdr.bad);
        why = why_buf;
      } else if (v && jv_type(v) == JV_OBJ && jv_bool(jv_get(v, "ok"), 0)) {
        /* online, degraded, errored or stopping (a master before 0.2
         * said none: then online) */
        state = jv_str(jv_get(v, "state"), "online");
        if (strcmp(state, "online") && strcmp(state, "degraded") &&
            strcmp(state, "errored") && strcmp(state, "stopping"))
          state = "online";
        live = 1;
      } else if (v && jv_type(v) == JV_OBJ && jv_get(v, "ok")) {
        state = "busy"; /* herd's refusal: too many control connections */
        why = jv_str(jv_get(v, "error"), NULL);
      } else if (r == -ETIMEDOUT) {
        state = "busy";
        snprintf(why_buf, sizeof why_buf, "no reply within %s", timeout_text());
        why = why_buf;
      } else {
        state = "not-herd";
      }
    } else if (cr == -EACCES || cr == -EPERM) {
      state = "denied";
    }
    if (json) {
      struct jw w;
      jw_init(&w);
      jw_str(&w, names[i], strlen(names[i]));
      printf("%s{\"name\":%s,\"status\":\"%s\"", i ? "," : "", w.buf ? w.buf : "\"\"",
             state);
      jw_free(&w);
      if (live)
        printf(",\"pid\":%lld,\"workers\":%lld,\"workers_ready\":%lld,"
               "\"uptime_ms\":%lld", pid, wanted, ready_of(v), up_ms);
      printf("}");
    } else if (live) {
      char up[16], wk[48], addrs[256] = "";
      human_ms(up, sizeof up, (uint64_t)up_ms);
      snprintf(wk, sizeof wk, "%lld/%lld", ready_of(v), wanted);
      const jv *ls = jv_get(v, "listen");
      size_t k = 0;
      for (size_t j = 0; j < jv_len(ls) && k + 64 < sizeof addrs; j++)
        k += (size_t)snprintf(addrs + k, sizeof addrs - k, "%s%s", j ? " " : "",
                              jv_str(jv_at(ls, j), ""));
      printf("%-*s %s%-9s%s %7lld %7s %6s  %s\n", nw, names[i],
             colour ? state_colour(state) : "", state, colour ? "\033[0m" : "", pid,
             wk, up, addrs);
    } else {
      printf("%-*s %s%-9s%s %7s %7s %6s  %s\n", nw, names[i],
             colour ? state_colour(state) : "", state, colour ? "\033[0m" : "", "-",
             "-", "-",
             !strcmp(state, "stale") ? "(its master is gone; `herd start` "
                                       "takes the name over)"
             : !strcmp(state, "denied") ? "(permission denied)"
             : why ? why
             : !strcmp(state, "busy") ? "(busy)"
                                      : "(not a herd control socket)");
    }
    jv_free(v);
    free(line);
  }
  if (json)
    printf("]\n");
  else if (!n)
    printf("no apps in %s\n", home);
  home_apps_free(names, n);
  /* herd 0.1 kept its apps in $XDG_RUNTIME_DIR/herd: say where masters
   * started by it may still be found */
  char old[PATH_MAX];
  char **on;
  int k;
  if (!json && home_legacy(old, sizeof old) && strcmp(old, home) &&
      (k = home_apps(old, &on)) > 0) {
    fprintf(stderr, "%s: note: %d app%s in %s, herd 0.1's default HERD_HOME: "
            "HERD_HOME=%s herd list\n", prog_name, k, k == 1 ? "" : "s", old, old);
    home_apps_free(on, k);
  }
  return 0;
}

/* ---- stop, reload, restart, scale --------------------------------- */

static int each_app(const char *home, const char *target, const char *req,
                    const char *verb) {
  char **names = NULL;
  char *one[1];
  int n = home_targets(home, target, one, &names);
  if (n < 0)
    return 1;
  int rc = 0, done = 0;
  for (int i = 0; i < n; i++) {
    jv *v = NULL;
    /* with "all", stale sockets are skipped quietly: nothing to do */
    int quiet = names != one;
    int r = ask(home, names[i], req, !strcmp(verb, "stopped") ? ASK_STOP : 0, &v, NULL,
                quiet);
    if (r < 0) {
      if (!quiet || r == -2)
        rc = 1;
      continue;
    }
    struct rd rdr = {""};
    long long w = rd_int(&rdr, jv_get(v, "workers"), "workers", 0, INT_MAX);
    if (failed_reply(names[i], v))
      rc = 1;
    else if (rdr.bad[0]) {
      bad_reply(names[i], &rdr);
      rc = 1;
    } else {
      done++;
      if (!strcmp(verb, "stopped") && jv_bool(jv_get(v, "killed"), 0)) {
        printf("%s: stopped (master exited); workers that did not stop within "
               "the kill timeout were killed\n", names[i]);
        rc = 1;
      } else if (!strcmp(verb, "stopped"))
        printf("%s: stopped (master exited)\n", names[i]);
      else if (!strcmp(verb, "scaled"))
        printf("%s: scaled to %lld worker%s\n", names[i], w, w == 1 ? "" : "s");
      else
        printf("%s: %s, %lld worker%s ready\n", names[i], verb, w, w == 1 ? "" : "s");
    }
    jv_free(v);
  }
  if (names != one) {
    if (!n)
      printf("no apps in %s\n", home);
    home_apps_free(names, n);
  }
  return rc;
}


int cmd_ctl(const char *cmd, int argc, char **argv) {
  if (!strcmp(cmd, "status"))
    return cmd_status(argc, argv);
  if (!strcmp(cmd, "list"))
    return cmd_list(argc, argv);
  const char *usage = !strcmp(cmd, "stop")      ? usage_stop
                      : !strcmp(cmd, "reload")  ? usage_reload
                      : !strcmp(cmd, "restart") ? usage_restart
                                                : usage_scale;
  static const struct option lo[] = {{"graceful", no_argument, NULL, 'g'},
                                     {"help", no_argument, NULL, 'h'},
                                     {NULL, 0, NULL, 0}};
  int graceful = 0, ch;
  /* Options before or after the operands, as getopt permutes them; but
   * scale's "-2" is an operand: such a word is hidden from getopt behind
   * a marker of its own (no '-'), and put back once it is done. */
  static char marker[3][2] = {"\x1f", "\x1f", "\x1f"};
  char *hidden[3];
  int nhidden = 0;
  for (int i = 1; i < argc && strcmp(argv[i], "--") && nhidden < 3; i++)
    if (!strcmp(cmd, "scale") && argv[i][0] == '-' && argv[i][1] &&
        strspn(argv[i] + 1, "0123456789") == strlen(argv[i] + 1)) {
      hidden[nhidden] = argv[i];
      argv[i] = marker[nhidden++];
    }
  optind = 1;
  while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
    if (ch == 'h') {
      fputs(usage, stdout);
      return 0;
    }
    if (ch != 'g' || strcmp(cmd, "stop")) {
      if (ch == 'g')
        fprintf(stderr, "%s: unknown option '--graceful'\n", prog_name);
      fputs(usage, stderr);
      return 2;
    }
    graceful = 1;
  }
  const char *ops[3];
  int nargs = 0;
  for (int i = optind; i < argc; i++) {
    const char *s = argv[i];
    for (int k = 0; k < nhidden; k++)
      if (s == marker[k])
        s = hidden[k];
    if (nargs < 3)
      ops[nargs] = s;
    nargs++;
  }
  int want = strcmp(cmd, "scale") ? 1 : 2;
  if (nargs != want) {
    fprintf(stderr, "%s: %s\n", prog_name,
            want == 1 ? "give one NAME, or all" : "give NAME and N, +N or -N");
    fputs(usage, stderr);
    return 2;
  }
  const char *target = ops[0];
  if (!app_name_ok(target)) {
    fprintf(stderr, "%s: '%s' is not an app name\n", prog_name, target);
    return 2;
  }
  char home[PATH_MAX];
  if (cli_home(home, sizeof home) < 0)
    return 1;
  char req[128];
  if (!strcmp(cmd, "stop"))
    return each_app(home, target,
                    graceful ? "{\"cmd\":\"stop\",\"graceful\":true}"
                             : "{\"cmd\":\"stop\"}", "stopped");
  if (!strcmp(cmd, "reload"))
    return each_app(home, target, "{\"cmd\":\"reload\"}", "reloaded");
  if (!strcmp(cmd, "restart"))
    return each_app(home, target, "{\"cmd\":\"restart\"}", "restarted");
  /* scale */
  if (!strcmp(target, "all")) {
    fprintf(stderr, "%s: scale takes one app, not all\n", prog_name);
    return 2;
  }
  const char *n = ops[1];
  char *end;
  errno = 0;
  long v = strtol(n, &end, 10);
  if (errno || end == n || *end || (n[0] != '+' && n[0] != '-' && (v < 1 || v > 4096)) ||
      v < -4096 || v > 4096) {
    fprintf(stderr, "%s: '%s' is not N (1..4096), +N or -N\n", prog_name, n);
    return 2;
  }
  if (n[0] == '+' || n[0] == '-')
    snprintf(req, sizeof req, "{\"cmd\":\"scale\",\"add\":%ld}", v);
  else
    snprintf(req, sizeof req, "{\"cmd\":\"scale\",\"workers\":%ld}", v);
  return each_app(home, target, req, "scaled");
}
