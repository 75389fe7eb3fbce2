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
#include "opts.h"

#define OLD_GONE_MS 10000 /* after its last reply: its files, its exit */

static const char usage_upgrade[] =
    "Usage: herd upgrade NAME [--binary PATH] [-c FILE]\n"
    "\n"
    "Replace NAME's master (a herd start daemon) with the herd binary it was\n"
    "started from as it is on disk now (or PATH), as nginx's binary upgrade:\n"
    "the new master inherits the listening sockets, starts its workers, and\n"
    "once they are ready takes the control socket and the pid file; the old\n"
    "master then stops its workers and exits. No connection is refused.\n"
    "If the new one is not herd, is another major version, exits or is not\n"
    "ready in time, the old master goes on serving, and this says why (exit\n"
    "1). SIGUSR2 to the master does the same with its own binary.\n"
    "\n"
    "  -c, --config FILE  the new master runs NAME as FILE says now: what\n"
    "                     herd start -c may change, and listen and metrics\n"
    "                     (it gets the sockets bound to addresses FILE keeps,\n"
    "                     binds the new ones, and the old master's others\n"
    "                     close with it; a port 0 is always a new socket).\n"
    "                     A bad FILE: exit 2; an address it cannot bind:\n"
    "                     exit 1, the old master serving on.\n";

/* One line, as every bad usage: exit 2. */
static int usage(const char *fmt, const char *arg) {
  fprintf(stderr, "herd upgrade: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, ". See 'herd upgrade --help'.\n");
  return 2;
}

/* -c FILE: NAME's settings as FILE has them, read as herd start -c
 * reads it, into w; 0, or 2 having said why. *conf: FILE, absolute. */
static int file_app(const char *file, const char *name, struct jw *w, char *conf) {
  char err[600];
  struct app *as = NULL;
  int n = app_load_config_env(file, NULL, &as, err, sizeof err);
  if (n < 0) {
    fprintf(stderr, "%s: %s\n", prog_name, err);
    return 2;
  }
  int found = -1;
  for (int i = 0; i < n; i++)
    if (!strcmp(as[i].name, name))
      found = i;
  int rc = 0;
  if (found < 0) {
    fprintf(stderr, "%s: %s has no app named '%s'\n", prog_name, file, name);
    rc = 2;
  } else if (!realpath(file, conf)) {
    fprintf(stderr, "%s: %s: %s\n", prog_name, file, strerror(errno));
    rc = 2;
  } else {
    jw_raw(w, ",\"app\":", 7);
    app_settings_json(&as[found], w);
    jw_raw(w, ",\"conf\":", 8);
    jw_str(w, conf, strlen(conf));
  }
  for (int i = 0; i < n; i++)
    app_free(&as[i]);
  free(as);
  return rc;
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
                                     {"config", required_argument, NULL, 'c'},
                                     {"help", no_argument, NULL, 'h'},
                                     {NULL, 0, NULL, 0}};
  const char *name = NULL, *bin = NULL, *file = NULL;
  int ch;
  optind = 1;
  while ((ch = cli_getopt("upgrade", argc, argv, "b:c:h", lo)) != -1) {
    if (ch == '?')
      return 2; /* said by cli_getopt */
    if (ch == 'h') {
      fputs(usage_upgrade, stdout);
      return 0;
    }
    if (ch == 'c')
      file = optarg;
    else
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
  char conf[PATH_MAX];
  int bad = file ? file_app(file, name, &w, conf) : 0;
  jw_raw(&w, "}", 1);
  jw_raw(&w, "", 1);
  if (!bad && (w.err || w.len > CTL_MAX_REQUEST)) {
    fprintf(stderr, "%s: %s: %s\n", prog_name, name, w.err ? "out of memory" :
            "its options are too long for a control request");
    bad = 1;
  }
  herd_val_t *v = NULL;
  int r = bad ? -1 : ctl__ask(home, name, w.buf, 0, &v, NULL, 0);
  jw_free(&w);
  if (bad)
    return bad;
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
