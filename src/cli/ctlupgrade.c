/*
 * ctlupgrade.c - herd upgrade NAME [--binary PATH]: the app's master
 * replaced by the herd binary on disk (or PATH) without a refused
 * connection (upgrade.c, upgradein.c: the masters' sides). Returns once
 * the new master holds the name and the old one has exited.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

#define OLD_GONE_MS 10000 /* after its last reply: its files, its exit */

static const char usage_upgrade[] =
    "Usage: herd upgrade NAME [--binary PATH]\n"
    "\n"
    "Replace NAME's master (a herd start daemon) with the herd binary it was\n"
    "started from as it is on disk now (or PATH), as nginx's binary upgrade:\n"
    "the new master inherits the listening sockets, starts its workers, and\n"
    "once they are ready takes the control socket and the pid file; the old\n"
    "master then stops its workers and exits. No connection is refused.\n"
    "If the new one is not herd, is another major version, exits or is not\n"
    "ready in time, the old master goes on serving, and this says why (exit\n"
    "1). SIGUSR2 to the master does the same with its own binary.\n";

/* One line, as every bad usage: exit 2. */
static int usage(const char *fmt, const char *arg) {
  fprintf(stderr, "herd upgrade: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, ". See 'herd upgrade --help'.\n");
  return 2;
}

/* Wait (bounded) for the old master's exit. */
static void old_gone(pid_t pid) {
  int pfd = herd_pidfd_open(pid);
  if (pfd < 0)
    return;
  (void)herd_fd_wait(pfd, OLD_GONE_MS);
  (void)close(pfd);
}

int cmd_upgrade(int argc, char **argv) {
  static const struct option lo[] = {{"binary", required_argument, NULL, 'b'},
                                     {"help", no_argument, NULL, 'h'},
                                     {NULL, 0, NULL, 0}};
  const char *name = NULL, *bin = NULL;
  int ch;
  optind = 1;
  while ((ch = cli_getopt("upgrade", argc, argv, "b:h", lo)) != -1) {
    if (ch == '?')
      return 2; /* said by cli_getopt */
    if (ch == 'h') {
      fputs(usage_upgrade, stdout);
      return 0;
    }
    bin = optarg;
  }
  for (int i = optind; i < argc; i++) {
    if (name)
      return usage("one NAME only ('%s' is another)", argv[i]);
    name = argv[i];
  }
  if (!name)
    return usage("give the NAME of the app%s", "");
  if (!app_name_ok(name))
    return usage("'%s' is not an app name", name);
  char path[PATH_MAX];
  if (bin && (!realpath(bin, path) || access(path, X_OK) < 0)) {
    fprintf(stderr, "%s: --binary %s: %s\n", prog_name, bin, strerror(errno));
    return 2;
  }
  char home[PATH_MAX];
  if (cli_home(home, sizeof home) < 0)
    return 1;
  struct jw w;
  jw_init(&w);
  jw_raw(&w, "{\"cmd\":\"upgrade\"", 16);
  if (bin) {
    jw_raw(&w, ",\"binary\":", 10);
    jw_str(&w, path, strlen(path));
  }
  jw_raw(&w, "}", 1);
  jw_raw(&w, "", 1);
  herd_val_t *v = NULL;
  int r = w.err ? -1 : ctl__ask(home, name, w.buf, 0, &v, NULL, 0);
  jw_free(&w);
  if (r < 0)
    return 1;
  if (ctl__failed_reply(name, v)) {
    herd_val_free(v);
    return 1;
  }
  struct rd rdr = {""};
  pid_t pid = (pid_t)rd_int(&rdr, jget(v, "pid"), "pid", 1, INT_MAX);
  pid_t old = (pid_t)rd_int(&rdr, jget(v, "old"), "old", 1, INT_MAX);
  herd_val_free(v);
  if (rdr.bad[0]) {
    bad_reply(name, &rdr);
    return 1;
  }
  old_gone(old);
  printf("%s: upgraded: master pid %d (was %d)\n", name, (int)pid, (int)old);
  return 0;
}
