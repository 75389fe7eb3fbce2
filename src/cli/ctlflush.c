/*
 * ctlflush.c - herd flush NAME|all: empty an app's log files while it
 * writes them (PM2's flush). The master's log writer thread replaces
 * NAME-out.log and NAME-err.log with empty files between two whole
 * lines and deletes their rotated files (logw.c's empty_log); the reply
 * comes once it has.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static const char usage_flush[] =
    "Usage: herd flush NAME|all\n"
    "\n"
    "Empty the workers' log files of NAME (of every app with all):\n"
    "NAME-out.log and NAME-err.log are replaced by empty files between two\n"
    "whole lines while the workers go on writing, and their rotated files\n"
    "(.1, .2, ...) are deleted. NAME-herd.log, the master's own, is kept.\n"
    "With all, a herd run app without --log-files (it has no log files) is\n"
    "skipped.\n"
    "\n"
    "  -h, --help     show this help\n";

int cmd_flush(int argc, char **argv) {
  if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
    fputs(usage_flush, stdout);
    return 0;
  }
  if (argc != 2 || argv[1][0] == '-') {
    if (argc == 2) {
      static const char *const own[] = {"help"};
      cli_unknown("flush", "option", argv[1], "--",
                  argv[1][1] == '-' ? cli_nearest(argv[1] + 2, own, 1) : NULL);
      return 2;
    }
    usage_error("flush", "give NAME or all");
    return 2;
  }
  if (!app_name_ok(argv[1])) {
    fprintf(stderr, "%s: '%s' is not an app name\n", prog_name, argv[1]);
    return 2;
  }
  char home[PATH_MAX];
  if (cli_home(home, sizeof home) < 0)
    return 1;
  return ctl__each_app(home, argv[1], "{\"cmd\":\"flush\"}", "flushed");
}
