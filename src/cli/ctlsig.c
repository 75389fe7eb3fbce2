/*
 * ctlsig.c - herd signal NAME|all SIG [--slot N]: a signal to the running
 * workers of an app (of slot N only), as PM2's sendSignal. The master
 * sends it (kill(2) on the workers it has not reaped: ctlsrv.c's
 * do_signal), so a pid it no longer owns is never signalled.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "opts.h"

static const char usage_signal[] =
    "Usage: herd signal NAME|all SIG [--slot N]\n"
    "\n"
    "Send the signal SIG (USR1, SIGUSR1 or a number) to every running worker\n"
    "of NAME, or to slot N's only with --slot. The master sends it to the\n"
    "workers it runs, never to a pid that is no longer one of them. Prints\n"
    "how many workers got it; exits 1 if none runs (in that slot).\n";

int cmd_signal(int argc, char **argv) {
  static const struct option lo[] = {{"slot", required_argument, NULL, 's'},
                                     {"help", no_argument, NULL, 'h'},
                                     {NULL, 0, NULL, 0}};
  long slot = -1;
  int ch;
  optind = 1;
  while ((ch = cli_getopt("signal", argc, argv, "s:h", lo)) != -1) {
    if (ch == '?')
      return 2; /* said by cli_getopt */
    if (ch == 'h') {
      fputs(usage_signal, stdout);
      return 0;
    }
    if (cli_slot_arg(optarg, &slot) < 0)
      return 2; /* said by cli_slot_arg */
  }
  if (argc - optind != 2) {
    usage_error("signal", "give NAME (or all) and SIG");
    return 2;
  }
  const char *target = argv[optind], *signame = argv[optind + 1];
  if (!app_name_ok(target)) {
    fprintf(stderr, "%s: '%s' is not an app name\n", prog_name, target);
    return 2;
  }
  int sig = opt_signal(signame);
  if (sig < 0) {
    fprintf(stderr, "%s: unknown signal '%.40s' (TERM, SIGUSR1, 10, ...)\n", prog_name,
            signame);
    return 2;
  }
  char home[PATH_MAX];
  if (cli_home(home, sizeof home) < 0)
    return 1;
  char req[96];
  int n = snprintf(req, sizeof req, "{\"cmd\":\"signal\",\"sig\":%d", sig);
  if (slot >= 0)
    n += snprintf(req + n, sizeof req - (size_t)n, ",\"slot\":%ld", slot);
  snprintf(req + n, sizeof req - (size_t)n, "}");
  return ctl__each_app(home, target, req, "signalled");
}
