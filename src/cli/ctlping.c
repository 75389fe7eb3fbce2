/*
 * ctlping.c - herd ping NAME|all: is the app's master there and
 * answering? One {"cmd":"ping"} each (docs/control.md), timed from the
 * connection to the reply: "web: master pid 3552 answered in 0.3 ms".
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

static const char usage_ping[] =
    "Usage: herd ping NAME|all\n"
    "\n"
    "Ask the app's master whether it answers, and say how long it took\n"
    "(its control socket, the connection and a ping request's round trip):\n"
    "  web: master pid 3552 answered in 0.3 ms\n"
    "Exit status: 0 it answered (every app, with all); 1 it did not (not\n"
    "running, no reply within 5 s: one line says which); 2 bad usage.\n"
    "\n"
    "  -h, --help     show this help\n";

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1000.0 + (double)t.tv_nsec / 1e6;
}

/* One app pinged: 0 it answered, 1 it did not (said). */
static int ping_one(const char *home, const char *name) {
  herd_val_t *v = NULL;
  double t0 = now_ms();
  if (ctl__ask(home, name, "{\"cmd\":\"ping\"}", 0, &v, NULL, 0) < 0)
    return 1;
  double ms = now_ms() - t0;
  struct rd r = {""};
  long long pid = rd_int(&r, jget(v, "pid"), "pid", 1, INT_MAX);
  int rc = 0;
  if (ctl__failed_reply(name, v)) {
    rc = 1;
  } else if (r.bad[0]) {
    bad_reply(name, &r);
    rc = 1;
  } else {
    printf("%s: master pid %lld answered in %.*f ms\n", name, pid, ms < 10 ? 1 : 0, ms);
  }
  herd_val_free(v);
  return rc;
}

int cmd_ping(int argc, char **argv) {
  static const struct option lo[] = {{"help", no_argument, NULL, 'h'},
                                     {NULL, 0, NULL, 0}};
  int ch;
  optind = 1;
  while ((ch = cli_getopt("ping", argc, argv, "h", lo)) != -1) {
    if (ch != 'h')
      return 2; /* said by cli_getopt */
    fputs(usage_ping, stdout);
    return 0;
  }
  if (argc - optind != 1) {
    usage_error("ping", "give one NAME, or all");
    return 2;
  }
  const char *target = argv[optind];
  if (!app_name_ok(target)) {
    fprintf(stderr, "%s: '%s' is not an app name\n", prog_name, target);
    return 2;
  }
  char home[PATH_MAX];
  if (cli_home(home, sizeof home) < 0)
    return 1;
  char **names = NULL;
  char *one[1];
  int n = home_targets(home, target, one, &names);
  if (n < 0)
    return 1;
  int rc = 0;
  for (int i = 0; i < n; i++)
    rc |= ping_one(home, names[i]);
  if (names != one) {
    if (!n)
      printf("no apps in %s\n", home);
    home_apps_free(names, n);
  }
  return rc;
}
