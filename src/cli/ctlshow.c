/*
 * ctlshow.c - herd status and herd list: an app's workers (or each
 * app's), and one line for every app in HERD_HOME, asked of their masters
 * through ctl.c and shown as a table (colour on a terminal) or as JSON.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

static const char *const usage_status =
    "Usage: herd status [NAME|all] [--json]\n"
    "\n"
    "Show an app's workers (every app's, without NAME or with all): slot,\n"
    "pid, state (starting, ready, stopping; +starting for a successor;\n"
    "backoff or parked with the time to the next try; waiting: none to\n"
    "start, during a stop), uptime, restarts (RST), CPU%, RSS and the last\n"
    "exit of the slot; then what each slot's last dead worker said (slot N\n"
    "said: ...).\n"
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
    "Usage: herd list [--json|--names]\n"
    "\n"
    "Every app of this user on this machine (found by its socket or pid\n"
    "file in HERD_HOME), one line each: online (every worker ready);\n"
    "degraded (some not ready: starting, backing off); errored (a slot is\n"
    "parked: it crash-looped); stopping; stale (its master is gone); denied\n"
    "(another user's); busy (it does not answer now: no reply within 5 s,\n"
    "or too many control connections); not-herd (a socket that is not\n"
    "herd's). Colour only on a terminal; NO_COLOR turns it off.\n"
    "\n"
    "      --json     one JSON array\n"
    "      --names    the names of the running apps, one a line, asking no\n"
    "                 master (for scripts and shell completion)\n"
    "  -h, --help     show this help\n";

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

void ctl__human_ms(char *buf, size_t n, uint64_t ms) {
  human_ms(buf, n, ms);
}

void ctl__human_bytes(char *buf, size_t n, double b) {
  human_bytes(buf, n, b);
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
/* The app's first line: the master. Its uptime and memory are "?"
 * where the master could not read /proc (then a line says why). */
static void print_master(const herd_val_t *v, int colour, FILE *out, struct rd *r,
                         const char *proc_err) {
  const char *name = jstr(jget(v, "name"), "?");
  char up[16] = "?", rss[16] = "?";
  long long up_ms = rd_int(r, jget(v, "uptime_ms"), "uptime_ms", 0, LLONG_MAX);
  long long rss_b = rd_int(r, jget(v, "rss"), "rss", 0, LLONG_MAX);
  if (!proc_err) {
    human_ms(up, sizeof up, (uint64_t)up_ms);
    human_bytes(rss, sizeof rss, (double)rss_b);
  }
  const herd_val_t *ws = jget(v, "workers");
  int ready = 0;
  for (size_t i = 0; i < jlen(ws); i++)
    if (!strcmp(jstr(jget(jat(ws, i), "state"), ""), "ready") &&
        !jbool(jget(jat(ws, i), "successor"), 0))
      ready++;
  long long wanted = rd_int(r, jget(v, "workers_wanted"), "workers_wanted", 0, INT_MAX);
  fprintf(out, "%s%s%s  master pid %lld, up %s, %s, %d/%lld worker%s ready%s%s\n",
          colour ? "\033[1m" : "", name, colour ? "\033[0m" : "",
          rd_int(r, jget(v, "pid"), "pid", 0, INT_MAX), up, rss, ready, wanted,
          wanted == 1 ? "" : "s",
          jbool(jget(v, "reloading"), 0) ? ", reloading" : "",
          jbool(jget(v, "stopping"), 0) ? ", stopping" : "");
  if (proc_err) {
    char safe[200];
    cli_printable(safe, sizeof safe, proc_err, strlen(proc_err));
    fprintf(out, "  no /proc (%s): memory, CPU and the master's uptime not known\n", safe);
  }
}

static void print_status(const herd_val_t *v, int colour, FILE *out, struct rd *r) {
  const char *proc_err = jstr(jget(v, "proc_error"), NULL);
  print_master(v, colour, out, r, proc_err);
  const herd_val_t *ws = jget(v, "workers");
  const herd_val_t *ls = jget(v, "listen");
  if (jlen(ls)) {
    fprintf(out, "  listen");
    for (size_t i = 0; i < jlen(ls); i++)
      fprintf(out, " %s", jstr(jat(ls, i), "?"));
    fprintf(out, " (%s)\n", jstr(jget(v, "balance"), "?"));
  }
  const herd_val_t *logs = jget(v, "logs");
  if (jis_obj(logs)) {
    const herd_val_t *dr = jget(logs, "dropped");
    /* each below 2^63: their sum fits an unsigned 64-bit integer */
    unsigned long long d =
        (unsigned long long)rd_int(r, jat(dr, 0), "logs.dropped", 0, LLONG_MAX) +
        (unsigned long long)rd_int(r, jat(dr, 1), "logs.dropped", 0, LLONG_MAX);
    const char *le = jstr(jget(logs, "error"), NULL);
    fprintf(out, "  logs %s%s%llu line%s dropped%s\n",
            jstr(jget(logs, "out"), "?"), d > 0 && colour ? ", \033[31m" : ", ",
            d, d == 1 ? "" : "s", d > 0 && colour ? "\033[0m" : "");
    if (le)
      fprintf(out, "  last log error: %s\n", le);
  }
  fprintf(out, "  %-4s %-7s %-11s %6s %4s %6s %7s  %s\n", "SLOT", "PID", "STATE",
          "UPTIME", "RST", "CPU", "RSS", "LAST EXIT");
  for (size_t i = 0; i < jlen(ws); i++) {
    const herd_val_t *w = jat(ws, i);
    const char *state = jstr(jget(w, "state"), "?");
    long long pid = rd_int(r, jget(w, "pid"), "workers[].pid", 0, INT_MAX);
    char pids[24] = "-", wup[16] = "-", wrss[16] = "-", cpu[16] = "-",
         st[32], last[64] = "-";
    if (pid > 0) {
      snprintf(pids, sizeof pids, "%lld", pid);
      human_ms(wup, sizeof wup,
               (uint64_t)rd_int(r, jget(w, "uptime_ms"), "workers[].uptime_ms", 0,
                                LLONG_MAX));
      long long b = rd_int(r, jget(w, "rss"), "workers[].rss", 0, LLONG_MAX);
      if (!proc_err) { /* else "-": not known */
        human_bytes(wrss, sizeof wrss, (double)b);
        snprintf(cpu, sizeof cpu, "%.1f%%", jnum(jget(w, "cpu"), 0));
      }
    }
    long long retry = rd_int(r, jget(w, "retry_ms"), "workers[].retry_ms", 0, LLONG_MAX);
    if (retry > 0) {
      /* the time to the next try, in the STATE column ("parked 58s"):
       * in LAST EXIT it made the row longer than 80 columns */
      char in[16];
      human_ms(in, sizeof in, (uint64_t)retry + 999);
      snprintf(st, sizeof st, "%s %s", !strcmp(state, "parked") ? "parked" : "backoff",
               in);
    } else
      snprintf(st, sizeof st, "%s%s", jbool(jget(w, "successor"), 0) ? "+" : "",
               state);
    const herd_val_t *le = jget(w, "last_exit");
    if (jis_obj(le)) {
      int sig = (int)rd_int(r, jget(le, "signal"), "last_exit.signal", 0, INT_MAX);
      const char *ab = sig ? sig_abbrev(sig) : NULL;
      if (sig)
        snprintf(last, sizeof last, "%s, SIG%s", jstr(jget(le, "cause"), "?"),
                 ab ? ab : "?");
      else
        snprintf(last, sizeof last, "%s, code %lld", jstr(jget(le, "cause"), "?"),
                 rd_int(r, jget(le, "code"), "last_exit.code", INT_MIN, INT_MAX));
    }
    const char *c0 = "", *c1 = "";
    if (colour) {
      c1 = "\033[0m";
      c0 = !strcmp(state, "ready") ? "\033[32m"
           : !strcmp(state, "starting") || !strcmp(state, "stopping") ? "\033[33m"
           : "\033[31m";
    }
    fprintf(out, "  %-4lld %-7s %s%-11s%s %6s %4lld %6s %7s  %s\n",
            rd_int(r, jget(w, "slot"), "workers[].slot", 0, INT_MAX), pids, c0, st, c1,
            wup, rd_int(r, jget(w, "restarts"), "workers[].restarts", 0, UINT_MAX),
            cpu, wrss, last);
  }
  /* what the slots' last dead workers said, once per slot, in 80 columns */
  long long shown = -1;
  for (size_t i = 0; i < jlen(ws); i++) {
    const herd_val_t *w = jat(ws, i);
    long long slot = rd_int(r, jget(w, "slot"), "workers[].slot", 0, INT_MAX);
    const char *why = jstr(jget(jget(w, "last_exit"), "line"), NULL);
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

int ctl__cmd_status(int argc, char **argv) {
  static const struct option lo[] = {{"json", no_argument, NULL, 'j'},
                                     {"help", no_argument, NULL, 'h'},
                                     {NULL, 0, NULL, 0}};
  int json = 0, ch;
  optind = 1;
  while ((ch = cli_getopt("status", argc, argv, "h", lo)) != -1) {
    if (ch == 'j')
      json = 1;
    else if (ch == 'h') {
      fputs(usage_status, stdout);
      return 0;
    } else {
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
    herd_val_t *v = NULL;
    char *raw = NULL;
    int quiet = json && optind == argc;
    if (ctl__ask(home, names[i], "{\"cmd\":\"status\"}", 0, &v, &raw, quiet) < 0) {
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
    int refused = ctl__failed_reply(names[i], v);
    if (refused) {
      rc = 1;
    } else {
      int code = state_exit(jstr(jget(v, "state"), "online"));
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
    herd_val_free(v);
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
static long long ready_of(const herd_val_t *v) {
  long long n;
  if (jint(jget(v, "workers_ready"), 0, INT_MAX, &n) == 0)
    return n;
  const herd_val_t *ws = jget(v, "workers");
  n = 0;
  for (size_t k = 0; k < jlen(ws); k++)
    n += !strcmp(jstr(jget(jat(ws, k), "state"), ""), "ready") &&
         !jbool(jget(jat(ws, k), "successor"), 0);
  return n;
}

/* One app's line of herd list (or its JSON object, after a comma unless
 * it is the first): its master asked for its status, or why not. */
static void list_app(const char *home, const char *name, int first, int nw,
                     int colour, int json) {
  char err[PATH_MAX + 128];
  herd_chan_t *ch;
  int cr = ctl_connect(home, name, &ch, err, sizeof err);
  herd_val_t *v = NULL;
  const char *state = "stale", *why = NULL;
  char why_buf[200];
  char *line = NULL;
  long long pid = 0, wanted = 0, up_ms = 0;
  int live = 0; /* a status reply came */
  if (cr == 0) {
    int r = ctl_request(ch, "{\"cmd\":\"status\"}", &line, REPLY_TIMEOUT_MS);
    if (r == 0)
      v = jparse(line, strlen(line));
    herd_chan_close(ch);
    struct rd rdr = {""};
    if (v && jis_obj(v) && jbool(jget(v, "ok"), 0)) {
      pid = rd_int(&rdr, jget(v, "pid"), "pid", 0, INT_MAX);
      wanted = rd_int(&rdr, jget(v, "workers_wanted"), "workers_wanted", 0, INT_MAX);
      up_ms = rd_int(&rdr, jget(v, "uptime_ms"), "uptime_ms", 0, LLONG_MAX);
    }
    if (rdr.bad[0]) {
      state = "not-herd";
      snprintf(why_buf, sizeof why_buf, "(not a herd reply: %s)", rdr.bad);
      why = why_buf;
    } else if (v && jis_obj(v) && jbool(jget(v, "ok"), 0)) {
      /* online, degraded, errored or stopping (a master before 0.2
       * said none: then online) */
      state = jstr(jget(v, "state"), "online");
      if (strcmp(state, "online") && strcmp(state, "degraded") &&
          strcmp(state, "errored") && strcmp(state, "stopping"))
        state = "online";
      live = 1;
    } else if (v && jis_obj(v) && jget(v, "ok")) {
      state = "busy"; /* herd's refusal: too many control connections */
      why = jstr(jget(v, "error"), NULL);
    } else if (r == -ETIMEDOUT) {
      state = "busy";
      snprintf(why_buf, sizeof why_buf, "no reply within %s", ctl__timeout_text());
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
    jw_str(&w, name, strlen(name));
    printf("%s{\"name\":%s,\"status\":\"%s\"", first ? "" : ",", w.buf ? w.buf : "\"\"",
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
    const herd_val_t *ls = jget(v, "listen");
    size_t k = 0;
    for (size_t j = 0; j < jlen(ls) && k + 64 < sizeof addrs; j++)
      k += (size_t)snprintf(addrs + k, sizeof addrs - k, "%s%s", j ? " " : "",
                            jstr(jat(ls, j), ""));
    printf("%-*s %s%-9s%s %7lld %9s %6s  %s\n", nw, name,
           colour ? state_colour(state) : "", state, colour ? "\033[0m" : "", pid,
           wk, up, addrs);
  } else {
    printf("%-*s %s%-9s%s %7s %9s %6s  %s\n", nw, name,
           colour ? state_colour(state) : "", state, colour ? "\033[0m" : "", "-",
           "-", "-",
           !strcmp(state, "stale") ? "(its master is gone; `herd start` "
                                     "takes the name over)"
           : !strcmp(state, "denied") ? "(permission denied)"
           : why ? why
           : !strcmp(state, "busy") ? "(busy)"
                                    : "(not a herd control socket)");
  }
  herd_val_free(v);
  free(line);
}

/* herd list --names: the apps whose master holds its pid file's lock */
static int list_names(const char *home) {
  char **names;
  int n = home_apps(home, &names);
  if (n < 0) {
    fprintf(stderr, "%s: %s: %s\n", prog_name, home, strerror(-n));
    return 1;
  }
  for (int i = 0; i < n; i++) {
    char pid[PATH_MAX];
    if (home_path(pid, sizeof pid, home, names[i], ".pid") == 0 &&
        herd_pidfile_check(pid) > 0)
      printf("%s\n", names[i]);
  }
  home_apps_free(names, n);
  return 0;
}

int ctl__cmd_list(int argc, char **argv) {
  static const struct option lo[] = {{"json", no_argument, NULL, 'j'},
                                     {"names", no_argument, NULL, 'N'},
                                     {"help", no_argument, NULL, 'h'},
                                     {NULL, 0, NULL, 0}};
  int json = 0, names_only = 0, opt;
  optind = 1;
  while ((opt = cli_getopt("list", argc, argv, "h", lo)) != -1) {
    if (opt == 'j') {
      json = 1;
    } else if (opt == 'N') {
      names_only = 1;
    } else if (opt == 'h') {
      fputs(usage_list, stdout);
      return 0;
    } else {
      return 2;
    }
  }
  if (optind < argc) {
    usage_error("list", "unexpected '%s'", argv[optind]);
    return 2;
  }
  char home[PATH_MAX];
  if (cli_home(home, sizeof home) < 0)
    return 1;
  if (names_only)
    return list_names(home);
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
    printf("%-*s %-9s %7s %9s %6s  %s\n", nw, "NAME", "STATUS", "PID", "WORKERS",
           "UPTIME", "LISTEN");
  for (int i = 0; i < n; i++)
    list_app(home, names[i], i == 0, nw, colour, json);
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
