/*
 * ctl.c - the control commands: status, list, stop, reload, restart,
 * scale. Each finds the app's master by HERD_HOME/NAME.sock and speaks
 * the JSON-lines protocol of docs/control.md.
 *
 * This file asks a master (ask: one request, a pending reply's result,
 * a stop waited out) and runs stop, reload, restart and scale; status
 * and list, which show what masters say, are in ctlshow.c; ctl.h holds
 * what the two share.
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

#include "ctl.h"

/* How long a reply may take: 5 s, or HERD_CTL_TIMEOUT (a duration in ms,
 * for slow machines and for tests). */
int ctl__reply_timeout_ms(void) {
  const char *v = getenv("HERD_CTL_TIMEOUT");
  char *end;
  long ms = v && *v ? strtol(v, &end, 10) : 0;
  return v && *v && !*end && ms > 0 && ms <= 3600000 ? (int)ms : 5000;
}

/* "5 s", "300 ms": the timeout in what we say */
const char *ctl__timeout_text(void) {
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

static const char *const usage_stop =
    "Usage: herd stop [--graceful] NAME|all\n"
    "\n"
    "Stop an app: its workers get the stop signal (SIGKILL after the kill\n"
    "timeout; with --graceful, no kill timeout), then the master exits.\n"
    "Returns once the master has exited (at most 10 s after its last reply).\n";

static const char *const usage_reload =
    "Usage: herd reload [--env K=V]... [--update-env] NAME|all\n"
    "\n"
    "Rolling reload with zero downtime: slot by slot, a new worker starts,\n"
    "and the old one stops once the new one is ready. Returns when the\n"
    "reload is done (exit 0) or has failed (exit 1, the old workers of the\n"
    "slots not reached yet keep running).\n"
    "\n"
    "  --env K=V      set K in the workers' environment (repeatable), over\n"
    "                 the app's own settings; kept for later restarts\n"
    "  --update-env   this shell's environment in place of the one herd\n"
    "                 started with (the app's settings still win over it)\n";

static const char *const usage_restart =
    "Usage: herd restart NAME|all\n"
    "\n"
    "Hard restart: every worker is stopped now and a new one started in\n"
    "its slot as soon as it has exited (requests may fail meanwhile: use\n"
    "reload for zero downtime). Returns when all are ready again.\n";

#define STR_(x) #x
#define STR(x) STR_(x)
static const char *const usage_scale =
    "Usage: herd scale NAME N|+N|-N\n"
    "\n"
    "Run N workers (1.." STR(HERD_MAX_WORKERS) "), or N more or fewer. Growing returns once the\n"
    "new workers are ready.\n";

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
static herd_val_t *stop_last_line(herd_chan_t *ch, int pfd) {
  for (;;) {
    /* what is in already (it may have come with the pending reply) */
    char *last = NULL;
    int r = ctl_read_line(ch, &last, 0);
    if (r != -ETIMEDOUT) {
      herd_val_t *lv = r == 0 ? jparse(last, strlen(last)) : NULL;
      free(last);
      if (lv && !jis_obj(lv)) {
        herd_val_free(lv);
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
      herd_val_t *lv = r == 0 ? jparse(last, strlen(last)) : NULL;
      free(last);
      return lv && jis_obj(lv) ? lv : (herd_val_free(lv), NULL);
    }
    if (p[0].revents) {
      /* the line comes whole once it begins */
      r = ctl_read_line(ch, &last, REPLY_TIMEOUT_MS);
      herd_val_t *lv = r == 0 ? jparse(last, strlen(last)) : NULL;
      free(last);
      return lv && jis_obj(lv) ? lv : (herd_val_free(lv), NULL);
    }
  }
}

/* One request to NAME's master. Returns 0 with the parsed reply in *out
 * (ok or not); -1 having printed why not (unless quiet: an app that is
 * not there, not herd's, not answering); -2 having printed why, even if
 * quiet (a stop the master accepted but did not finish). */
int ctl__ask(const char *home, const char *name, const char *req, int flags,
             herd_val_t **out, char **raw, int quiet) {
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
  herd_val_t *v = r == 0 ? jparse(line, strlen(line)) : NULL;
  if (!v || !jis_obj(v) || !jget(v, "ok")) {
    if (!quiet) {
      if (r == -ETIMEDOUT)
        fprintf(stderr, "%s: %s: no reply within %s (the master may be busy, and "
                "may still carry the request out; or %s/%s.sock is not herd's)\n",
                prog_name, name, ctl__timeout_text(), home, name);
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
  const char *pending = jstr(jget(v, "pending"), NULL);
  int stopping = pending && !strcmp(pending, "stop");
  if (pending && jbool(jget(v, "ok"), 0) && !stopping) {
    herd_val_free(v);
    free(line);
    line = NULL;
    r = ctl_read_line(ch, &line, -1);
    v = r == 0 ? jparse(line, strlen(line)) : NULL;
    if (!v) {
      if (!quiet)
        fprintf(stderr, "%s: %s: the master went away before it answered\n",
                prog_name, name);
      goto fail;
    }
  }
  if (stopping && jbool(jget(v, "ok"), 0)) {
    /* The master's own pid, as it says, must be one (it is not what is
     * waited for: see peer_pidfd). */
    struct rd rdr = {""};
    (void)rd_int(&rdr, jget(v, "pid"), "pid", 1, INT_MAX);
    if (rdr.bad[0]) {
      if (!quiet)
        bad_reply(name, &rdr);
      goto fail;
    }
    /* The master's last word (were workers killed?) comes once its
     * workers are gone; then wait until it has exited. */
    herd_val_t *lv = stop_last_line(ch, pfd);
    if (lv) {
      herd_val_free(v);
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
  herd_val_free(v);
  free(line);
  if (pfd >= 0)
    (void)close(pfd);
  herd_chan_close(ch);
  return rc;
}

int ctl__failed_reply(const char *name, herd_val_t *v) {
  if (jbool(jget(v, "ok"), 0))
    return 0;
  fprintf(stderr, "%s: %s: %s\n", prog_name, name,
          jstr(jget(v, "error"), "refused"));
  return 1;
}

/* ---- stop, reload, restart, scale --------------------------------- */

int ctl__each_app(const char *home, const char *target, const char *req,
                  const char *verb) {
  char **names = NULL;
  char *one[1];
  int n = home_targets(home, target, one, &names);
  if (n < 0)
    return 1;
  int rc = 0, done = 0;
  for (int i = 0; i < n; i++) {
    herd_val_t *v = NULL;
    /* with "all", stale sockets are skipped quietly: nothing to do */
    int quiet = names != one;
    int r = ctl__ask(home, names[i], req, !strcmp(verb, "stopped") ? ASK_STOP : 0, &v, NULL,
                quiet);
    if (r < 0) {
      if (!quiet || r == -2)
        rc = 1;
      continue;
    }
    struct rd rdr = {""};
    const char *num = !strcmp(verb, "sent") || !strcmp(verb, "signalled") ? verb
                                                                           : "workers";
    /* flush all: an app of herd run without --log-files has none */
    if (quiet && !strcmp(verb, "flushed") && !jbool(jget(v, "ok"), 0) &&
        !strncmp(jstr(jget(v, "error"), ""), "no log files", 12)) {
      herd_val_free(v);
      continue;
    }
    long long w = rd_int(&rdr, jget(v, num), num, 0, INT_MAX);
    if (ctl__failed_reply(names[i], v))
      rc = 1;
    else if (rdr.bad[0]) {
      bad_reply(names[i], &rdr);
      rc = 1;
    } else {
      done++;
      if (!strcmp(verb, "stopped") && jbool(jget(v, "killed"), 0)) {
        printf("%s: stopped (master exited); workers that did not stop within "
               "the kill timeout were killed\n", names[i]);
        rc = 1;
      } else if (!strcmp(verb, "stopped"))
        printf("%s: stopped (master exited)\n", names[i]);
      else if (!strcmp(verb, "scaled"))
        printf("%s: scaled to %lld worker%s\n", names[i], w, w == 1 ? "" : "s");
      else if (!strcmp(verb, "sent"))
        printf("%s: sent to %lld worker%s\n", names[i], w, w == 1 ? "" : "s");
      else if (!strcmp(verb, "signalled"))
        printf("%s: signalled %lld worker%s\n", names[i], w, w == 1 ? "" : "s");
      else if (!strcmp(verb, "flushed"))
        printf("%s: log files flushed\n", names[i]);
      else
        printf("%s: %s, %lld worker%s ready\n", names[i], verb, w, w == 1 ? "" : "s");
    }
    herd_val_free(v);
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
    return ctl__cmd_status(argc, argv);
  if (!strcmp(cmd, "list"))
    return ctl__cmd_list(argc, argv);
  if (!strcmp(cmd, "reload"))
    return cmd_reload(argc, argv, usage_reload);
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
  /* --graceful is stop's only */
  const struct option *own = lo + (strcmp(cmd, "stop") ? 1 : 0);
  while ((ch = cli_getopt(cmd, argc, argv, "h", own)) != -1) {
    if (ch == 'h') {
      fputs(usage, stdout);
      return 0;
    }
    if (ch != 'g')
      return 2; /* said by cli_getopt */
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
    usage_error(cmd, "%s", want == 1 ? "give one NAME, or all" : "give NAME and N, +N or -N");
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
    return ctl__each_app(home, target,
                    graceful ? "{\"cmd\":\"stop\",\"graceful\":true}"
                             : "{\"cmd\":\"stop\"}", "stopped");
  if (!strcmp(cmd, "reload"))
    return ctl__each_app(home, target, "{\"cmd\":\"reload\"}", "reloaded");
  if (!strcmp(cmd, "restart"))
    return ctl__each_app(home, target, "{\"cmd\":\"restart\"}", "restarted");
  /* scale */
  if (!strcmp(target, "all")) {
    fprintf(stderr, "%s: scale takes one app, not all\n", prog_name);
    return 2;
  }
  const char *n = ops[1];
  char *end;
  errno = 0;
  long v = strtol(n, &end, 10);
  if (errno || end == n || *end ||
      (n[0] != '+' && n[0] != '-' && (v < 1 || v > HERD_MAX_WORKERS)) ||
      v < -HERD_MAX_WORKERS || v > HERD_MAX_WORKERS) {
    fprintf(stderr, "%s: '%s' is not N (1..%d), +N or -N\n", prog_name, n,
            HERD_MAX_WORKERS);
    return 2;
  }
  if (n[0] == '+' || n[0] == '-')
    snprintf(req, sizeof req, "{\"cmd\":\"scale\",\"add\":%ld}", v);
  else
    snprintf(req, sizeof req, "{\"cmd\":\"scale\",\"workers\":%ld}", v);
  return ctl__each_app(home, target, req, "scaled");
}
