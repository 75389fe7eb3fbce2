/*
 * main.c - the herd program's commands: run (a pool in the foreground),
 * start (the same as a daemon), the control commands (ctl.c), logs
 * (logs.c) and startup. See herd(1).
 *
 * Exit status: 0 done; 1 failure (a one-line message says what); 2 bad
 * usage or a bad config file.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "eco.h"
#include "jval.h"
#include "jw.h"
#include "opts.h"

#define START_REPORT_MAX (1u << 20) /* the start report: its line at most */



static const char usage_main[] =
    "Usage: herd COMMAND [OPTIONS]\n"
    "\n"
    "Run any server as a pool of worker processes sharing its listening\n"
    "sockets: restarted when they crash, reloaded with zero failed requests,\n"
    "stopped gracefully; in the foreground or as a daemon driven from any\n"
    "shell.\n"
    "\n"
    "Commands:\n"
    "  run [OPTIONS] -- CMD [ARGS...]     run a pool in the foreground\n"
    "  run -c FILE NAME                   ... an app of a config file\n"
    "  start [OPTIONS] -- CMD [ARGS...]   the same as a daemon; returns once\n"
    "                                     the workers are ready\n"
    "  start -c FILE [NAME...]            every app of a config file (one that\n"
    "                                     runs: its new options, reloaded)\n"
    "  start ecosystem.config.js [--env NAME] [NAME...]\n"
    "                                     a PM2 ecosystem file's apps\n"
    "  status [NAME|all] [--json]         workers: pid, state, uptime, CPU, RSS\n"
    "  list [--json|--names]              every app of this user\n"
    "  describe NAME [--json] [--show-env]\n"
    "                                     everything in effect for an app, each\n"
    "                                     option's origin (alias: show)\n"
    "  top [NAME|all]                     a live view: workers, CPU, memory; keys\n"
    "                                     reload, restart, scale, stop\n"
    "  logs [NAME] [-f] [-n N] [--err|--out|--herd]\n"
    "       [--raw|--json] [--since T]    print or follow the logs\n"
    "  logs --reopen NAME|all             reopen the log files (logrotate)\n"
    "  reload NAME|all [--env K=V]        rolling reload, zero downtime\n"
    "  restart NAME|all                   stop every worker, start anew\n"
    "  scale NAME N|+N|-N                 change the number of workers\n"
    "  stop [--graceful] NAME|all         stop; returns once it has exited\n"
    "  send NAME|all [--slot N] JSON      a message to the workers' channel\n"
    "  signal NAME|all SIG [--slot N]     a signal to the workers (of slot N)\n"
    "  flush NAME|all                     empty the workers' log files\n"
    "  ping NAME|all                      does its master answer? how fast\n"
    "  completion bash|zsh|fish           a shell completion script\n"
    "  upgrade NAME [--binary PATH]       replace the master with the herd on\n"
    "                                     disk, no connection refused\n"
    "  startup systemd [-c FILE] [--user] print a systemd unit for the apps\n"
    "  save [FILE]                        write the running apps as a config file\n"
    "  resurrect [FILE]                   start the apps saved (those not running)\n"
    "  help [COMMAND]                     show help\n"
    "\n"
    "Options:\n"
    "  -h, --help         show this help\n"
    "  -v, -V, --version  show the version\n"
    "\n"
    "Apps are found by name in HERD_HOME (~/.herd by default). See herd(1).\n";

static const char usage_run_head[] =
    "Usage: herd run [OPTIONS] -- CMD [ARGS...]\n"
    "       herd run -c FILE [--env NAME] NAME\n"
    "       herd run ecosystem.config.js [--env NAME] NAME\n"
    "\n"
    "Bind the listening sockets, start CMD as N workers that share them\n"
    "(fds 3.. with LISTEN_FDS/LISTEN_PID, as systemd's socket activation),\n"
    "restart the ones that die, and stay in the foreground. The control\n"
    "commands (status, reload, scale, stop...) work on it by its name.\n"
    "\n"
    "A CMD that is a .js, .mjs or .cjs script (herd start -i max app.js) is\n"
    "run as `node SCRIPT` with --node-cluster, named after the script (app):\n"
    "an unmodified Node app's listen() is served by every worker.\n"
    "\n";

static const char usage_start_head[] =
    "Usage: herd start [OPTIONS] -- CMD [ARGS...]\n"
    "       herd start -c FILE [--env NAME] [NAME...]\n"
    "       herd start ecosystem.config.js [--env NAME] [NAME...]\n"
    "\n"
    "Start an app's master as a daemon (its workers' output goes to\n"
    "HERD_HOME/logs/NAME-out.log and NAME-err.log) and return once every\n"
    "worker is ready: exit 0 and a summary line, or 1 and the reason, with\n"
    "nothing left running. The daemon keeps your umask, and so do its\n"
    "workers unless --umask.\n"
    "\n"
    "A PM2 ecosystem file (*.config.js, .cjs, .mjs, *.json) is read by node and\n"
    "its apps started with the options that map (docs/pm2.md); each option that\n"
    "does not is named on stderr. --env NAME selects its env_NAME.\n"
    "\n"    "With -c FILE (or an ecosystem file), an app that runs already gets the\n"
    "file's options with a rolling reload (what cannot change while it runs\n"
    "is refused, exit 2). --env NAME selects a herd config's env_NAME too.\n"
    "\n"
    "A CMD that is a .js, .mjs or .cjs script (herd start -i max app.js) is\n"
    "run as `node SCRIPT` with --node-cluster, named after the script (app):\n"
    "an unmodified Node app's listen() is served by every worker.\n"
    "\n";

/* after the options (opt_help) */
static const char usage_tail[] =
    "\n"
    "Durations: 500ms, 1.5s, 2m, 1h, or a number of milliseconds. Sizes: bytes,\n"
    "or with K, M, G (powers of 1024).\n"
    "Signals to the master: HUP reload, TTIN/TTOU add/remove a worker, USR1\n"
    "reopen logs, TERM/INT stop, QUIT stop gracefully (no kill timeout), USR2\n"
    "upgrade the daemon to the herd binary on disk (herd upgrade).\n"
    "Workers get HERD_WORKER_ID (their slot, 0..N-1) and NOTIFY_SOCKET.\n";

/* ---- option parsing (run, start) --------------------------------- */

struct parsed {
  struct app *apps; /* one from the command line, or a config file's */
  int napps;
  void *conf;
  const char *config;
  const char *env_name; /* --env NAME: env_NAME of a PM2 ecosystem file */
  int named; /* NAMEs given after -c FILE */
};

static void parsed_free(struct parsed *p) {
  for (int i = 0; i < p->napps; i++)
    app_free(&p->apps[i]);
  free(p->apps);
  app_conf_free(p->conf);
}

/* Without NAMEs, a PM2 app with autostart: false is left out, saying so
 * (PM2 lists it stopped; herd keeps no list: name it to start it). */
static void unnamed_autostart(struct parsed *p) {
  int k = 0;
  for (int i = 0; i < p->napps; i++) {
    if (!p->apps[i].no_autostart) {
      if (k != i)
        p->apps[k] = p->apps[i];
      k++;
      continue;
    }
    fprintf(stderr, "%s: %s: app '%s': autostart is false: not started (name it: herd "
            "start %s %s)\n", prog_name, p->config, p->apps[i].name, p->config,
            p->apps[i].name);
    app_free(&p->apps[i]);
  }
  p->napps = k;
}

/* getopt_long over argv from optind: the options into p->apps[0] (counted
 * in *nopts), -c, -q, --env NAME into p. Returns -1 when they are read,
 * else the exit status (help: 0 with *done). */
static int read_options(const char *cmd, int argc, char **argv, const char *shortopts,
                        const struct option *lo, struct parsed *p, int *nopts,
                        int *quiet, int *done) {
  char err[600];
  int ch;
  struct app *a = &p->apps[0];
  while ((ch = cli_getopt(cmd, argc, argv, shortopts, lo)) != -1) {
    const struct opt *o = opt_of_getopt(ch);
    if (!o)
      return 2; /* said by cli_getopt */
    if (o->where == OPT_CMDLINE) { /* the caller's: -c, -q, -h */
      if (!strcmp(o->name, "config")) {
        p->config = optarg;
      } else if (!strcmp(o->name, "quiet")) {
        *quiet = 1;
      } else {
        fputs(!strcmp(cmd, "start") ? usage_start_head : usage_run_head, stdout);
        opt_help(stdout);
        fputs(usage_tail, stdout);
        *done = 1;
        return 0;
      }
      continue;
    }
    if (!strcmp(o->name, "env") && !strchr(optarg, '=')) {
      /* --env production: PM2's, for env_production of an ecosystem file */
      if (p->env_name) {
        usage_error(cmd, "--env %s: one environment only (--env %s was given)",
                    optarg, p->env_name);
        return 2;
      }
      p->env_name = optarg;
      continue;
    }
    (*nopts)++;
    if (app_set(a, o->name, optarg ? optarg : "true", err, sizeof err) < 0) {
      usage_error(cmd, "--%s", err);
      return 2;
    }
  }
  return -1;
}

/* *x and *y exchanged a piece at a time: a struct app (14 KB) as a
 * temporary made parse_app's frame 17 KB, and every call under it (the
 * options' checks, app_finish) that much deeper into the stack, whose
 * pages stay resident: the master's stack 4 pages more for a swap that
 * only herd run -c FILE NAME does. */
static void app_swap(struct app *x, struct app *y) {
  unsigned char t[256], *p = (unsigned char *)x, *q = (unsigned char *)y;
  for (size_t off = 0; off < sizeof *x; off += sizeof t) {
    size_t n = sizeof *x - off < sizeof t ? sizeof *x - off : sizeof t;
    memcpy(t, p + off, n);
    memcpy(p + off, q + off, n);
    memcpy(q + off, t, n);
  }
}

/* Returns 0, or the exit status (help: 0 via *done; errors: 2). */
static int parse_app(const char *cmd, int argc, char **argv, struct parsed *p,
                     int *done) {
  struct option lo[OPT_MAX + 1];
  char shortopts[2 * OPT_MAX + 2];
  opt_getopt(lo, shortopts);
  memset(p, 0, sizeof *p);
  *done = 0;
  struct app *a = calloc(1, sizeof *a);
  if (!a) {
    fprintf(stderr, "%s: out of memory\n", prog_name);
    return 1;
  }
  app_init(a);
  a->from.kind = ORIGIN_CMDLINE; /* what app_set records for each option */
  p->apps = a;
  p->napps = 1;
  int nopts = 0, quiet = 0;
  char err[600];
  optind = 1;
  int r = read_options(cmd, argc, argv, shortopts, lo, p, &nopts, &quiet, done);
  if (r >= 0)
    return r;
  /* herd start ecosystem.config.js [--env NAME] [NAME...]: PM2's way, as
   * -c FILE. Options may follow the file, as in PM2's command lines:
   * read from there on with getopt's permutation (no '+'), which moves
   * the NAMEs after them; argv[base] stands for the program meanwhile. */
  if (!p->config && optind < argc && eco_file_kind(argv[optind]) != ECO_NONE) {
    int base = optind;
    char *file = argv[base];
    p->config = file;
    argv[base] = argv[0];
    optind = 0; /* glibc: a scan of its own, from argv[base + 1] */
    r = read_options(cmd, argc - base, argv + base, shortopts + 1, lo, p, &nopts, &quiet,
                     done);
    argv[base] = file;
    if (r >= 0)
      return r;
    if (p->config != file) {
      usage_error(cmd, "-c %s: %s is the config file already", p->config, file);
      return 2;
    }
    optind += base;
  }
  if (!p->config && p->env_name) {
    usage_error(cmd, "--env: '%s' is not K=V (a name alone selects env_%s of a "
                "herd config file or a PM2 ecosystem file: -c FILE)", p->env_name, p->env_name);
    return 2;
  }
  if (p->config) {
    if (nopts) {
      usage_error(cmd, "%s: the options come from the config file; give "
                  "none on the command line%s", p->config, eco_file_kind(p->config) ?
                  " (--env NAME aside: env_NAME)" : "");
      return 2;
    }
    struct app *as;
    int n = app_load_config_env(p->config, p->env_name, &as, err, sizeof err);
    if (n < 0) {
      fprintf(stderr, "%s: %s\n", prog_name, err);
      return 2;
    }
    app_free(a);
    free(a);
    p->apps = as;
    p->napps = n;
    /* NAME...: only those */
    if (optind < argc) {
      int k = 0; /* as[0..k) are the ones named so far */
      p->named = argc - optind;
      for (int i = optind; i < argc; i++) {
        int found = -1;
        for (int j = 0; j < n; j++)
          if (!strcmp(as[j].name, argv[i]))
            found = j;
        if (found < 0) {
          fprintf(stderr, "%s: %s has no app named '%s'\n", prog_name,
                  p->config, argv[i]);
          return 2;
        }
        if (found < k) {
          fprintf(stderr, "%s: the app '%s' is named twice\n", prog_name, argv[i]);
          return 2;
        }
        if (found != k)
          app_swap(&as[k], &as[found]);
        k++;
      }
      for (int j = k; j < n; j++)
        app_free(&as[j]);
      p->napps = k;
    } else {
      unnamed_autostart(p);
      if (!p->napps) {
        fprintf(stderr, "%s: %s: every app has autostart: false (name the ones to "
                "start)\n", prog_name, p->config);
        return 2;
      }
    }
    for (int i = 0; i < p->napps; i++) {
      p->apps[i].quiet = quiet;
      if (quiet)
        app_origin_set(&p->apps[i], "quiet", &(struct origin){ORIGIN_CMDLINE, 0, NULL, NULL});
    }
    return 0;
  }
  if (optind >= argc) {
    usage_error(cmd, "no command given (herd %s [OPTIONS] -- CMD [ARGS...])", cmd);
    return 2;
  }
  a->cmd = argv + optind;
  a->cmd_from = a->from;
  a->quiet = quiet;
  if (quiet)
    app_origin_set(a, "quiet", &a->from);
  if (app_env_files(a, NULL, err, sizeof err) < 0) {
    fprintf(stderr, "%s: %s\n", prog_name, err);
    return 2;
  }
  if (app_finish(a, err, sizeof err) < 0) {
    usage_error(cmd, "%s", err);
    return 2;
  }
  return 0;
}

static int cmd_run(int argc, char **argv) {
  struct parsed p;
  int done;
  int r = parse_app("run", argc, argv, &p, &done);
  if (r || done) {
    parsed_free(&p);
    return r;
  }
  if (p.config && p.napps != 1) {
    if (p.named)
      fprintf(stderr, "%s: -c: name one app to run, not %d\n", prog_name, p.named);
    else
      fprintf(stderr, "%s: -c: name the one app to run (%s has %d)\n", prog_name,
              p.config, p.napps);
    parsed_free(&p);
    return 2;
  }
  r = master_main(&p.apps[0], 0, -1, NULL);
  parsed_free(&p);
  return r;
}

/* ---- start ------------------------------------------------------- */

/* Wait (bounded) until pid has exited: a failed start leaves nothing. */
static void wait_gone(pid_t pid, int ms) {
  int pfd = herd_pidfd_open(pid);
  if (pfd < 0)
    return;
  (void)herd_fd_wait(pfd, ms);
  (void)close(pfd);
}

/* "herd: started NAME: N workers ready (pids ...) on ADDR..., master pid
 * P[, metrics on ADDR]" from the master's start report. */
static void print_started(const herd_val_t *r) {
  long long workers = 0, master = 0;
  (void)jint(jget(r, "workers"), 0, HERD_MAX_WORKERS, &workers);
  (void)jint(jget(r, "master"), 0, INT_MAX, &master);
  printf("herd: started %s: %lld worker%s ready (pids", jstr(jget(r, "name"), "?"),
         workers, workers == 1 ? "" : "s");
  const herd_val_t *pids = jget(r, "pids"), *ls = jget(r, "listen");
  for (size_t i = 0; i < jlen(pids); i++) {
    long long p = 0;
    (void)jint(jat(pids, i), 0, INT_MAX, &p);
    printf(" %lld", p);
  }
  printf(")");
  for (size_t i = 0; i < jlen(ls); i++)
    printf("%s%s", i ? " " : " on ", jstr(jat(ls, i), "?"));
  printf(", master pid %lld", master);
  const char *metrics = jstr(jget(r, "metrics"), NULL);
  if (metrics)
    printf(", metrics on %s", metrics);
  printf("\n");
}

static int start_one(struct app *a, const char *home) {
  char pid_path[PATH_MAX], herd_log[PATH_MAX];
  if (home_path(pid_path, sizeof pid_path, home, a->name, ".pid") < 0 ||
      home_path(herd_log, sizeof herd_log, home, a->name, "-herd.log") < 0 ||
      strlen(home) + strlen(a->name) + 7 > 107) {
    fprintf(stderr, "%s: %s: HERD_HOME %s is too long a path for a control "
            "socket\n", prog_name, a->name, home);
    return 1;
  }
  herd_pidfile_t *pf = NULL;
  pid_t holder = 0;
  int r = herd_pidfile_open(&pf, pid_path, &holder);
  if (r == -EBUSY && a->conf_path) /* start -c FILE: PM2's startOrReload */
    return start_update(a, home);
  if (r == -EBUSY) {
    fprintf(stderr, "%s: app '%s' is already running (master pid %d); stop it "
            "first or pick another --name\n", prog_name, a->name, (int)holder);
    return 1;
  }
  if (r < 0) {
    fprintf(stderr, "%s: %s: %s\n", prog_name, pid_path, herd_strerror(r));
    return 1;
  }
  /* the caller's umask, kept: the workers get it, as under herd run
   * (they got the daemon's 027: files -rw-r-----), unless --umask */
  herd_daemon_opts_t d = {.flags = HERD_DAEMON_STATUS_PIPE | HERD_DAEMON_KEEP_UMASK,
                          .stdout_path = herd_log,
                          .stderr_path = herd_log};
  int sfd = -1;
  fflush(NULL);
  pid_t pid = herd_daemonize(&d, &sfd);
  if (pid < 0) {
    fprintf(stderr, "%s: %s: cannot start the daemon: %s\n", prog_name, a->name,
            herd_strerror(pid));
    herd_pidfile_close(pf, 1);
    return 1;
  }
  if (pid == 0) {
    /* the daemon: the master, until it stops */
    prog_name = "herd";
    exit(master_main(a, 1, sfd, pf));
  }
  /* The daemon holds the lock now (the same open file): our copy goes
   * without unlocking it. */
  herd_pidfile_close(pf, 0);
  /* the start report: one JSON line (events.c), as long as the pids of
   * the workers make it (4096 of them: 30 KiB) */
  size_t len = 0, cap = 16384;
  char *buf = malloc(cap);
  while (buf) {
    if (len + 1 == cap) {
      char *nb = cap < START_REPORT_MAX ? realloc(buf, cap * 2) : NULL;
      if (!nb)
        break;
      buf = nb;
      cap *= 2;
    }
    ssize_t n = read(sfd, buf + len, cap - 1 - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    int whole = memchr(buf + len, '\n', (size_t)n) != NULL;
    len += (size_t)n;
    if (whole)
      break;
  }
  (void)close(sfd);
  if (buf)
    buf[len] = '\0';
  char *nl = buf ? strchr(buf, '\n') : NULL;
  if (nl)
    *nl = '\0';
  herd_val_t *rep = buf ? jparse(buf, strlen(buf)) : NULL;
  free(buf);
  if (rep && jbool(jget(rep, "ok"), 0)) {
    print_started(rep);
    herd_val_free(rep);
    return 0;
  }
  /* Failed: make sure it is gone before saying so. */
  wait_gone(pid, a->o.kill_timeout_ms + 2000);
  const char *why = rep ? jstr(jget(rep, "error"), NULL) : NULL;
  if (why)
    fprintf(stderr, "%s: %s: %s\n", prog_name, a->name, why);
  else
    fprintf(stderr, "%s: %s: the master died during start-up; see %s\n",
            prog_name, a->name, herd_log);
  herd_val_free(rep);
  return 1;
}

/* What the caller left open without close-on-exec (a shell's saved
 * fds, a CI runner's or ssh's pipes) must not live on in the daemons we
 * start: a reader of such a pipe would wait for its end for as long as
 * they run (daemon(7): close every fd but 0-2). Kept: the sockets of a
 * socket activation meant for us (LISTEN_PID, LISTEN_FDS). */
static void close_inherited(void) {
  int from = 3;
  const char *lp = getenv("LISTEN_PID"), *lf = getenv("LISTEN_FDS");
  if (lp && lf && atol(lp) == (long)getpid() && atoi(lf) > 0 && atoi(lf) < 4096)
    from += atoi(lf);
  if (syscall(SYS_close_range, (unsigned)from, ~0u, 0) == 0)
    return;
  long max = sysconf(_SC_OPEN_MAX); /* an old kernel: one by one */
  for (long fd = from; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
    (void)close((int)fd);
}

static int cmd_start(int argc, char **argv) {
  struct parsed p;
  close_inherited();
  int done;
  int r = parse_app("start", argc, argv, &p, &done);
  if (r || done) {
    parsed_free(&p);
    return r;
  }
  char home[PATH_MAX];
  char herr[PATH_MAX + 128];
  if ((r = home_setup(home, sizeof home, herr, sizeof herr)) < 0) {
    fprintf(stderr, "%s: %s\n", prog_name, herr);
    parsed_free(&p);
    return 1;
  }
  /* The masters run in "/": they must find the same (absolute) home */
  if (setenv("HERD_HOME", home, 1) < 0) {
    fprintf(stderr, "%s: HERD_HOME: %s\n", prog_name, strerror(errno));
    parsed_free(&p);
    return 1;
  }
  for (int i = 0; i < p.napps; i++)
    for (int j = 0; j < i; j++)
      if (!strcmp(p.apps[i].name, p.apps[j].name)) {
        fprintf(stderr, "%s: two apps named '%s'\n", prog_name, p.apps[i].name);
        parsed_free(&p);
        return 2;
      }
  int rc = 0;
  for (int i = 0; i < p.napps; i++) {
    int one = start_one(&p.apps[i], home);
    if (one > rc)
      rc = one;
  }
  parsed_free(&p);
  return rc;
}

static int cmd_completion(int argc, char **argv);

/* The commands: each gets its own argv (argv[0] its name). Their names
 * are what herd suggests for a mistyped one, and what the completion
 * scripts offer. */
static const struct {
  const char *name;
  int (*fn)(int argc, char **argv);
  int ctl; /* the control commands: cmd_ctl(name, ...) */
} commands[] = {
    {"run", cmd_run, 0},       {"start", cmd_start, 0},  {"status", NULL, 1},
    {"list", NULL, 1},         {"stop", NULL, 1},        {"reload", NULL, 1},
    {"restart", NULL, 1},      {"scale", NULL, 1},       {"logs", cmd_logs, 0},
    {"startup", cmd_startup, 0}, {"send", cmd_send, 0},
    {"save", cmd_save, 0},     {"resurrect", cmd_resurrect, 0},
    {"describe", cmd_describe, 0}, {"show", cmd_describe, 0},
    {"top", cmd_top, 0},
    {"signal", cmd_signal, 0},   {"flush", cmd_flush, 0},
    {"ping", cmd_ping, 0},       {"completion", cmd_completion, 0},
    {"upgrade", cmd_upgrade, 0}, {"__upgrade", cmd_upgrade_master, 0},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* The commands' names, and help (not the internal ones, "__upgrade":
 * neither completed nor suggested): at most NCOMMANDS + 1 entries. */
static size_t command_names(const char *names[NCOMMANDS + 1]) {
  size_t n = 0;
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strncmp(commands[i].name, "__", 2))
      names[n++] = commands[i].name;
  names[n++] = "help";
  return n;
}

static int cmd_completion(int argc, char **argv) {
  const char *names[NCOMMANDS + 1];
  size_t n = command_names(names);
  return complete_main(argc, argv, names, n);
}

int main(int argc, char **argv) {
  /* Started with stdin, stdout or stderr closed: /dev/null there, so no
   * file or socket of ours lands on 0..2 (to get our printf, or be
   * replaced by the daemon's redirections). Not CLOEXEC: they are stdio. */
  for (int fd = 0; fd < 3; fd++)
    if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
        open("/dev/null", O_RDWR) != fd)
      return 1; /* nowhere to say it */
  if (argc < 2) {
    fputs(usage_main, stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
    fputs(usage_main, stdout);
    return 0;
  }
  if (!strcmp(cmd, "-V") || !strcmp(cmd, "-v") || !strcmp(cmd, "--version")) {
    printf("herd %s\n", HERD_VERSION_STRING);
    return 0;
  }
  if (!strcmp(cmd, "help")) {
    if (argc > 2 && strcmp(argv[2], "help")) {
      /* "herd help CMD" is "herd CMD --help" */
      static char *hv[4];
      hv[0] = argv[0];
      hv[1] = argv[2];
      hv[2] = "--help";
      hv[3] = NULL;
      argv = hv;
      argc = 3;
      cmd = argv[1];
    } else {
      fputs(usage_main, stdout);
      return 0;
    }
  }
  static char name[64];
  snprintf(name, sizeof name, "herd %s", cmd);
  prog_name = name;
  argv[1] = name; /* getopt's messages begin with it */
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (!strcmp(cmd, commands[i].name))
      return commands[i].ctl ? cmd_ctl(cmd, argc - 1, argv + 1)
                             : commands[i].fn(argc - 1, argv + 1);
  prog_name = "herd";
  const char *names[NCOMMANDS + 1];
  size_t n = command_names(names);
  if (cmd[0] == '-' && cmd[1] == '-') {
    static const char *const top[] = {"help", "version"};
    cli_unknown(NULL, "option", cmd, "--", cli_nearest(cmd + 2, top, 2));
  } else {
    cli_unknown(NULL, cmd[0] == '-' ? "option" : "command", cmd, "",
                cmd[0] == '-' ? NULL : cli_nearest(cmd, names, n));
  }
  return 2;
}
