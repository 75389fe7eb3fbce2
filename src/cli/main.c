/*
 * main.c - the herd program: `herd run` runs any server as a pool of
 * workers sharing its listening sockets (libherd's cluster engine), and
 * prints one line per event. See herd(1).
 *
 * Exit status: 0 clean stop; 1 failure (a one-line message says what);
 * 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "herd.h"

#define MAX_LISTEN 64
#define MAX_ENV 256

static const char *prog_name = "herd";

struct cli {
  const char *name;
  int quiet;
  int errors; /* error lines printed (so the exit needs no other) */
  const char *listen[MAX_LISTEN + 1];
  int nlisten;
  const char *env[MAX_ENV + 1];
  int nenv;
};

static void die_usage(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die_usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", prog_name);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nTry 'herd run --help'.\n");
  exit(2);
}

static const char usage_main[] =
    "Usage: herd COMMAND [OPTIONS]\n"
    "\n"
    "Run any server as a pool of worker processes sharing its listening\n"
    "sockets: restarted when they crash, reloaded with zero failed requests,\n"
    "stopped gracefully.\n"
    "\n"
    "Commands:\n"
    "  run [OPTIONS] -- CMD [ARGS...]   run a pool in the foreground\n"
    "  help [COMMAND]                   show help\n"
    "\n"
    "Options:\n"
    "  -h, --help       show this help\n"
    "  -V, --version    show the version\n"
    "\n"
    "See herd(1).\n";

static const char usage_run[] =
    "Usage: herd run [OPTIONS] -- CMD [ARGS...]\n"
    "\n"
    "Bind the listening sockets, start CMD as N workers that share them\n"
    "(fds 3.. with LISTEN_FDS/LISTEN_PID, as systemd's socket activation),\n"
    "restart the ones that die, and stay in the foreground.\n"
    "\n"
    "  -w, --workers N|auto     number of workers (auto: online CPUs) [auto]\n"
    "  -l, --listen ADDR        HOST:PORT, :PORT, [::1]:PORT or\n"
    "                           unix:PATH[,mode=0660]; repeatable; port 0\n"
    "                           picks a free port (the real one is printed)\n"
    "  -n, --name NAME          name in logs [CMD's base name]\n"
    "      --balance MODE       shared: every worker accepts on one socket;\n"
    "                           reuseport: one SO_REUSEPORT socket per\n"
    "                           worker slot; roundrobin: herd accepts and\n"
    "                           hands each connection to the next worker\n"
    "                           over its channel (implies --ipc) [shared]\n"
    "      --ready MODE         immediate | notify (READY=1 on NOTIFY_SOCKET)\n"
    "                           | a duration after start [immediate]\n"
    "      --ready-timeout T    a worker not ready by then is killed [60s]\n"
    "      --kill-timeout T     stop signal, then SIGKILL after T [5s]\n"
    "      --stop-signal SIG    signal that asks a worker to stop [TERM]\n"
    "      --max-restarts N     restarts of one slot within the window\n"
    "                           before it is parked [10]\n"
    "      --restart-window T   [60s]\n"
    "      --restart-cooldown T a parked slot is retried after T [60s]\n"
    "      --min-uptime T       a worker dying sooner backs off [1s]\n"
    "      --cwd DIR            working directory of the workers\n"
    "      --env K=V            add to the workers' environment; repeatable\n"
    "      --user USER[:GROUP]  run the workers as USER (herd as root)\n"
    "      --ipc                give workers a Node.js-format message\n"
    "                           channel (NODE_CHANNEL_FD)\n"
    "  -q, --quiet              no event lines; workers' output is passed\n"
    "                           through unprefixed\n"
    "  -h, --help               show this help\n"
    "\n"
    "Durations: 500ms, 5s, 2m, or a number of milliseconds.\n"
    "Signals: HUP reload, TTIN/TTOU add/remove a worker, USR1 reopen logs,\n"
    "TERM/INT stop, QUIT stop gracefully (no kill timeout).\n"
    "Workers get HERD_WORKER_ID (their slot, 0..N-1) and NOTIFY_SOCKET.\n";

static long parse_duration(const char *opt, const char *s) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || !(v >= 0)) /* !(>= 0) also refuses NaN */
    die_usage("%s: '%s' is not a duration (500ms, 5s, 2m)", opt, s);
  double ms;
  if (!*end || !strcmp(end, "ms"))
    ms = v;
  else if (!strcmp(end, "s"))
    ms = v * 1000;
  else if (!strcmp(end, "m"))
    ms = v * 60000;
  else
    die_usage("%s: '%s' is not a duration (500ms, 5s, 2m)", opt, s);
  if (ms > INT_MAX)
    die_usage("%s: '%s' is too long", opt, s);
  return (long)ms;
}

static long parse_count(const char *opt, const char *s, long min, long max) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end)
    die_usage("%s: '%s' is not a number", opt, s);
  if (v < min || v > max)
    die_usage("%s: %ld is out of range (%ld..%ld)", opt, v, min, max);
  return v;
}

static const struct {
  const char *name;
  int sig;
} signames[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT},
                {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
                {"TERM", SIGTERM}, {"CONT", SIGCONT}, {"STOP", SIGSTOP},
                {"WINCH", SIGWINCH}, {"ALRM", SIGALRM}, {"PWR", SIGPWR}};

static int parse_signal(const char *s) {
  if (!strncasecmp(s, "SIG", 3))
    s += 3;
  for (size_t i = 0; i < sizeof signames / sizeof signames[0]; i++)
    if (!strcasecmp(s, signames[i].name))
      return signames[i].sig;
  char *end;
  long v = strtol(s, &end, 10);
  if (*s && !*end && v > 0 && v < NSIG)
    return (int)v;
  die_usage("--stop-signal: unknown signal '%s'", s);
}

static void stamp(char *buf, size_t n) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + k, n - k, ".%03dZ", (int)(tv.tv_usec / 1000));
}

static void on_event(const herd_event_t *ev, void *data) {
  struct cli *cli = data;
  char what[512];
  switch (ev->type) {
  case HERD_EV_LISTEN:
    /* Always said, even quiet: with port 0 it is how you learn the port. */
    fprintf(stderr, "herd[%s]: listening on %s\n", cli->name, ev->text);
    return;
  case HERD_EV_ERROR: {
    char ts[40];
    stamp(ts, sizeof ts);
    char who[64] = "";
    if (ev->slot >= 0)
      snprintf(who, sizeof who, "worker %d: ", ev->slot);
    fprintf(stderr, "%s herd[%s]: %s%s%s%s\n", ts, cli->name, who,
            ev->text ? ev->text : "", ev->text ? ": " : "",
            herd_strerror(ev->code));
    cli->errors++;
    return;
  }
  case HERD_EV_ALL_READY:
    (void)herd_notify("READY=1"); /* to systemd, if it runs us */
    snprintf(what, sizeof what, "all %d workers ready", ev->code);
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
             "worker %d crashed %d times in the restart window: parked, "
             "retried in %llu ms", ev->slot, ev->code,
             (unsigned long long)ev->delay_ms);
    break;
  case HERD_EV_STOPPING:
    snprintf(what, sizeof what, "worker %d stopping, pid %d, SIG%s (%s)",
             ev->slot, (int)ev->pid, sigabbrev_np(ev->sig) ? sigabbrev_np(ev->sig) : "?",
             ev->text ? ev->text : "");
    break;
  case HERD_EV_KILLED:
    snprintf(what, sizeof what, "worker %d, pid %d, did not stop in time: SIGKILL",
             ev->slot, (int)ev->pid);
    break;
  case HERD_EV_RETIRE:
    snprintf(what, sizeof what, "worker %d, pid %d, retires: %s", ev->slot,
             (int)ev->pid,
             ev->code ? "starting its successor"
                      : "it is replaced when it exits");
    break;
  case HERD_EV_STATUS:
    snprintf(what, sizeof what, "worker %d status: %s", ev->slot, ev->text);
    break;
  case HERD_EV_RELOAD:
    if (!strcmp(ev->text, "begin")) {
      /* systemd's Type=notify-reload wants the time with it */
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      char msg[96];
      snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
               (unsigned long long)now.tv_sec * 1000000ull +
                   (unsigned long long)now.tv_nsec / 1000u);
      (void)herd_notify(msg);
    } else {
      (void)herd_notify("READY=1"); /* done, or failed: we serve either way */
    }
    snprintf(what, sizeof what, "reload %s", ev->text);
    break;
  case HERD_EV_SCALE:
    snprintf(what, sizeof what, "scaled to %d workers", ev->code);
    break;
  case HERD_EV_SHUTDOWN:
    (void)herd_notify("STOPPING=1");
    snprintf(what, sizeof what, "%s on SIG%s", ev->text,
             sigabbrev_np(ev->sig) ? sigabbrev_np(ev->sig) : "?");
    break;
  case HERD_EV_SIGNAL:
    snprintf(what, sizeof what, "SIG%s: %s",
             sigabbrev_np(ev->sig) ? sigabbrev_np(ev->sig) : "?", ev->text);
    break;
  default:
    return;
  }
  if (cli->quiet)
    return;
  char ts[40];
  stamp(ts, sizeof ts);
  fprintf(stderr, "%s herd[%s]: %s\n", ts, cli->name, what);
}

static void on_output(int slot, pid_t pid, int stream, const char *line,
                      size_t len, void *data) {
  (void)pid;
  struct cli *cli = data;
  FILE *f = stream == 2 ? stderr : stdout;
  fprintf(f, "[%s:%d] %.*s\n", cli->name, slot, (int)len, line);
  fflush(f);
}

static int resolve_user(const char *spec, uid_t *uid, gid_t *gid) {
  char user[256];
  snprintf(user, sizeof user, "%s", spec);
  char *group = strchr(user, ':');
  if (group)
    *group++ = '\0';
  struct passwd *pw = getpwnam(user);
  if (!pw) {
    char *end;
    long v = strtol(user, &end, 10);
    if (*user && !*end && v >= 0)
      pw = getpwuid((uid_t)v);
  }
  if (!pw) {
    fprintf(stderr, "%s: --user: no such user '%s'\n", prog_name, user);
    return -1;
  }
  *uid = pw->pw_uid;
  *gid = pw->pw_gid;
  if (group) {
    struct group *gr = getgrnam(group);
    if (!gr) {
      fprintf(stderr, "%s: --user: no such group '%s'\n", prog_name, group);
      return -1;
    }
    *gid = gr->gr_gid;
  }
  return 0;
}

static int cmd_run(int argc, char **argv) {
  static const struct option longopts[] = {
      {"workers", required_argument, NULL, 'w'},
      {"listen", required_argument, NULL, 'l'},
      {"name", required_argument, NULL, 'n'},
      {"balance", required_argument, NULL, 'B'},
      {"ready", required_argument, NULL, 'R'},
      {"ready-timeout", required_argument, NULL, 'T'},
      {"kill-timeout", required_argument, NULL, 'K'},
      {"stop-signal", required_argument, NULL, 'S'},
      {"max-restarts", required_argument, NULL, 'M'},
      {"restart-window", required_argument, NULL, 'W'},
      {"restart-cooldown", required_argument, NULL, 'C'},
      {"min-uptime", required_argument, NULL, 'U'},
      {"cwd", required_argument, NULL, 'c'},
      {"env", required_argument, NULL, 'e'},
      {"user", required_argument, NULL, 'u'},
      {"ipc", no_argument, NULL, 'I'},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  struct cli cli;
  memset(&cli, 0, sizeof cli);
  herd_cluster_opts_t o;
  memset(&o, 0, sizeof o);
  const char *user = NULL;
  optind = 1;
  int ch;
  /* '+': options end at the command, so its own options are its own. */
  while ((ch = getopt_long(argc, argv, "+w:l:n:qh", longopts, NULL)) != -1) {
    switch (ch) {
    case 'w':
      o.workers = !strcmp(optarg, "auto")
                      ? 0
                      : (int)parse_count("--workers", optarg, 1, 1024);
      break;
    case 'l':
      if (cli.nlisten == MAX_LISTEN)
        die_usage("--listen: at most %d addresses", MAX_LISTEN);
      herd_addr_t a;
      int r = herd_addr_parse(optarg, &a);
      if (r < 0)
        die_usage("--listen: '%s' is not an address (HOST:PORT, :PORT, "
                  "[::1]:PORT, unix:PATH): %s", optarg, herd_strerror(r));
      cli.listen[cli.nlisten++] = optarg;
      break;
    case 'n':
      if (!*optarg || strlen(optarg) > 64 || strpbrk(optarg, "/ \t\n"))
        die_usage("--name: '%s' must be 1-64 characters, no '/' or spaces",
                  optarg);
      cli.name = optarg;
      break;
    case 'B':
      if (!strcmp(optarg, "shared"))
        o.balance = HERD_BALANCE_SHARED;
      else if (!strcmp(optarg, "reuseport"))
        o.balance = HERD_BALANCE_REUSEPORT;
      else if (!strcmp(optarg, "roundrobin"))
        o.balance = HERD_BALANCE_ROUNDROBIN;
      else
        die_usage("--balance: '%s' is not one of shared, reuseport, roundrobin",
                  optarg);
      break;
    case 'R':
      if (!strcmp(optarg, "immediate"))
        o.ready = HERD_READY_IMMEDIATE;
      else if (!strcmp(optarg, "notify"))
        o.ready = HERD_READY_NOTIFY;
      else {
        o.ready = HERD_READY_DELAY;
        o.ready_delay_ms = (int)parse_duration("--ready", optarg);
      }
      break;
    case 'T':
      o.ready_timeout_ms = (int)parse_duration("--ready-timeout", optarg);
      if (!o.ready_timeout_ms)
        die_usage("--ready-timeout: must be more than 0");
      break;
    case 'K':
      o.kill_timeout_ms = (int)parse_duration("--kill-timeout", optarg);
      if (!o.kill_timeout_ms)
        o.kill_timeout_ms = 1; /* "0": kill at once */
      break;
    case 'S':
      o.stop_signal = parse_signal(optarg);
      break;
    case 'M':
      o.max_restarts = (int)parse_count("--max-restarts", optarg, 1, 1000000);
      break;
    case 'W':
      o.restart_window_ms = (int)parse_duration("--restart-window", optarg);
      if (!o.restart_window_ms)
        die_usage("--restart-window: must be more than 0");
      break;
    case 'C':
      o.cooldown_ms = (int)parse_duration("--restart-cooldown", optarg);
      if (!o.cooldown_ms)
        die_usage("--restart-cooldown: must be more than 0");
      break;
    case 'U':
      o.min_uptime_ms = (int)parse_duration("--min-uptime", optarg);
      if (!o.min_uptime_ms)
        o.min_uptime_ms = 1; /* "0": no worker counts as dying early */
      break;
    case 'c':
      o.spawn.cwd = optarg;
      break;
    case 'e':
      if (!strchr(optarg, '=') || optarg[0] == '=')
        die_usage("--env: '%s' is not K=V", optarg);
      if (cli.nenv == MAX_ENV)
        die_usage("--env: at most %d", MAX_ENV);
      cli.env[cli.nenv++] = optarg;
      break;
    case 'u':
      user = optarg;
      break;
    case 'I':
      o.flags |= HERD_CLUSTER_IPC;
      break;
    case 'q':
      cli.quiet = 1;
      break;
    case 'h':
      fputs(usage_run, stdout);
      return 0;
    default:
      fprintf(stderr, "Try 'herd run --help'.\n");
      return 2;
    }
  }
  if (optind >= argc)
    die_usage("no command given (herd run [OPTIONS] -- CMD [ARGS...])");
  char **cmd = argv + optind;
  if (!cli.name) {
    const char *b = strrchr(cmd[0], '/');
    cli.name = b ? b + 1 : cmd[0];
  }
  if (user) {
    uid_t uid;
    gid_t gid;
    if (resolve_user(user, &uid, &gid) < 0)
      return 2;
    if (geteuid() != 0 && uid != geteuid()) {
      fprintf(stderr, "%s: --user %s: only root may run workers as another user\n",
              prog_name, user);
      return 1;
    }
    o.spawn.uid = uid;
    o.spawn.gid = gid;
    o.spawn.flags |= HERD_SPAWN_SETUID | HERD_SPAWN_SETGID;
  }
  cli.env[cli.nenv] = NULL;
  if (cli.nenv) {
    o.spawn.env = cli.env;
    o.spawn.env_mode = HERD_ENV_ADD;
  }

  /* Started by systemd's socket activation: use its sockets. */
  int nact = herd_listen_fds(1);
  int act_fds[MAX_LISTEN];
  if (nact < 0) {
    fprintf(stderr, "%s: LISTEN_FDS: %s\n", prog_name, herd_strerror(nact));
    return 1;
  }
  if (nact > 0) {
    if (nact > MAX_LISTEN) {
      fprintf(stderr, "%s: LISTEN_FDS: at most %d sockets\n", prog_name, MAX_LISTEN);
      return 1;
    }
    if (cli.nlisten)
      fprintf(stderr, "herd[%s]: socket activation: using the %d inherited "
              "sockets, not --listen\n", cli.name, nact);
    for (int i = 0; i < nact; i++)
      act_fds[i] = 3 + i;
    o.listen_fds = act_fds;
    o.nlisten_fds = (size_t)nact;
    if (o.balance == HERD_BALANCE_REUSEPORT) {
      fprintf(stderr, "%s: --balance reuseport needs sockets herd binds itself, "
              "not inherited ones\n", prog_name);
      return 1;
    }
  } else {
    cli.listen[cli.nlisten] = NULL;
    o.listen = cli.listen;
  }

  o.file = cmd[0];
  o.argv = cmd;
  o.on_event = on_event;
  o.data = &cli;
  if (!cli.quiet) {
    o.flags |= HERD_CLUSTER_PIPE_OUTPUT;
    o.on_output = on_output;
  }
  /* A closed stdout (herd run | head) must not kill the master. Workers
   * start with default dispositions whatever ours are. */
  signal(SIGPIPE, SIG_IGN);

  int r = herd_cluster_run(&o, NULL, NULL);
  if (r < 0) {
    /* The engine said what failed (an address, the first worker) in an
     * error line; one more only if it could not. */
    if (!cli.errors)
      fprintf(stderr, "%s: %s\n", prog_name, herd_strerror(r));
    return 1;
  }
  if (r > 0) {
    fprintf(stderr, "%s: stopped, but some workers had to be killed after "
            "the kill timeout\n", prog_name);
    return 1;
  }
  if (!cli.quiet) {
    char ts[40];
    stamp(ts, sizeof ts);
    fprintf(stderr, "%s herd[%s]: stopped\n", ts, cli.name);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage_main, stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
    fputs(usage_main, stdout);
    return 0;
  }
  if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
    printf("herd %s\n", HERD_VERSION_STRING);
    return 0;
  }
  if (!strcmp(cmd, "help")) {
    if (argc > 2 && !strcmp(argv[2], "run"))
      fputs(usage_run, stdout);
    else
      fputs(usage_main, stdout);
    return 0;
  }
  if (!strcmp(cmd, "run")) {
    prog_name = "herd run";
    return cmd_run(argc - 1, argv + 1);
  }
  fprintf(stderr, "herd: unknown command '%s'\n", cmd);
  fputs(usage_main, stderr);
  return 2;
}
