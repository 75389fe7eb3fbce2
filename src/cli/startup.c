/*
 * startup.c - herd startup systemd: a template unit, herd@.service, that
 * runs each app of a config file (or PM2 ecosystem file) in the
 * foreground under systemd, and the commands that install it.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char usage_startup[] =
    "Usage: herd startup systemd -c FILE [--user]\n"
    "\n"
    "Print a systemd template unit, herd@.service, that runs each app of\n"
    "the config file FILE in the foreground (herd run -c FILE NAME) with\n"
    "Type=notify, a synchronous rolling reload (ExecReload=herd reload) and\n"
    "KillMode=mixed, and the commands that install and enable it. With\n"
    "--user, a unit for `systemctl --user` instead of the system's.\n";

/* Does s need no quoting, in a unit or a shell? */
static int bare_word(const char *s) {
  return *s && !s[strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                            "0123456789/._-+:@,=")];
}

/* s as one word of a unit's command line (systemd.service(5)): quoted
 * when it has to be, with % and $ doubled (specifiers, variables). */
static const char *unit_word(const char *s, char *buf, size_t n) {
  if (bare_word(s)) {
    snprintf(buf, n, "%s", s);
    return buf;
  }
  size_t k = 0;
  buf[k++] = '"';
  for (; *s && k + 4 < n; s++) {
    if (*s == '"' || *s == '\\')
      buf[k++] = '\\';
    else if (*s == '%' || *s == '$')
      buf[k++] = *s;
    buf[k++] = *s;
  }
  buf[k++] = '"';
  buf[k] = '\0';
  return buf;
}

/* s with % doubled (a unit's Description=) */
static const char *unit_text(const char *s, char *buf, size_t n) {
  size_t k = 0;
  for (; *s && k + 3 < n; s++) {
    if (*s == '%')
      buf[k++] = '%';
    buf[k++] = *s;
  }
  buf[k] = '\0';
  return buf;
}

/* s as one shell word (for the comments' commands) */
static const char *shell_word(const char *s, char *buf, size_t n) {
  if (bare_word(s)) {
    snprintf(buf, n, "%s", s);
    return buf;
  }
  size_t k = 0;
  buf[k++] = '\'';
  for (; *s && k + 6 < n; s++) {
    if (*s == '\'') {
      memcpy(buf + k, "'\\''", 4);
      k += 4;
    } else {
      buf[k++] = *s;
    }
  }
  buf[k++] = '\'';
  buf[k] = '\0';
  return buf;
}

int cmd_startup(int argc, char **argv) {
  static const struct option lo[] = {{"config", required_argument, NULL, 'c'},
                                     {"user", no_argument, NULL, 'u'},
                                     {"help", no_argument, NULL, 'h'},
                                     {NULL, 0, NULL, 0}};
  const char *config = NULL;
  int user = 0, ch;
  optind = 1;
  while ((ch = cli_getopt("startup", argc, argv, "c:h", lo)) != -1) {
    if (ch == 'c') {
      config = optarg;
    } else if (ch == 'u') {
      user = 1;
    } else if (ch == 'h') {
      fputs(usage_startup, stdout);
      return 0;
    } else {
      return 2; /* said by cli_getopt */
    }
  }
  if (optind == argc || strcmp(argv[optind], "systemd")) {
    usage_error("startup", "only 'systemd' is known");
    return 2;
  }
  if (optind + 1 < argc) {
    usage_error("startup", "unexpected '%s'", argv[optind + 1]);
    return 2;
  }
  if (!config) {
    usage_error("startup", "systemd: give the config file (-c FILE)");
    return 2;
  }
  char abs_conf[PATH_MAX], self[PATH_MAX], err[600];
  if (!realpath(config, abs_conf)) {
    fprintf(stderr, "%s: %s: %s\n", prog_name, config, strerror(errno));
    return 2; /* as herd start -c with a missing file */
  }
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    fprintf(stderr, "%s: /proc/self/exe: %s\n", prog_name, strerror(errno));
    return 1;
  }
  self[n] = '\0';
  if (strpbrk(abs_conf, "\n\r") || strpbrk(self, "\n\r")) {
    fprintf(stderr, "%s: %s: a path with a line break cannot go in a unit file\n",
            prog_name, strpbrk(self, "\n\r") ? self : abs_conf);
    return 2;
  }
  /* the paths as the unit and the comments' shell commands need them */
  char conf_u[2 * PATH_MAX + 3], self_u[2 * PATH_MAX + 3], conf_t[2 * PATH_MAX + 1],
      conf_sh[4 * PATH_MAX + 3];
  unit_word(abs_conf, conf_u, sizeof conf_u);
  unit_word(self, self_u, sizeof self_u);
  unit_text(abs_conf, conf_t, sizeof conf_t);
  shell_word(abs_conf, conf_sh, sizeof conf_sh);
  struct app *apps;
  void *conf;
  int napps = app_load_config(abs_conf, &apps, &conf, err, sizeof err);
  if (napps < 0) {
    fprintf(stderr, "%s: %s\n", prog_name, err);
    return 2;
  }
  int kill_ms = 0;
  for (int i = 0; i < napps; i++) {
    int k = apps[i].o.kill_timeout_ms;
    if (k > kill_ms)
      kill_ms = k;
  }
  printf("# herd@.service: each app of %s as a systemd service.\n", abs_conf);
  printf("# Made by `herd startup systemd -c %s%s`. Install and enable:\n",
         conf_sh, user ? " --user" : "");
  if (user) {
    printf("#   mkdir -p ~/.config/systemd/user\n");
    printf("#   herd startup systemd -c %s --user > ~/.config/systemd/user/herd@.service\n",
           conf_sh);
    printf("#   systemctl --user daemon-reload\n#   systemctl --user enable --now");
  } else {
    printf("#   herd startup systemd -c %s > /etc/systemd/system/herd@.service\n",
           conf_sh);
    printf("#   systemctl daemon-reload\n#   systemctl enable --now");
  }
  for (int i = 0; i < napps; i++)
    printf(" herd@%s", apps[i].name);
  printf("\n#%s", user ? "   (and `loginctl enable-linger $USER` to start them "
                         "at boot, before you log in)\n#" : "");
  if (user)
    printf("   then: herd status NAME, herd reload NAME, journalctl --user -u herd@NAME\n");
  else
    printf("   then: HERD_HOME=/run/herd herd status NAME (the units' HERD_HOME),\n"
           "#         journalctl -u herd@NAME\n");
  printf("\n[Unit]\nDescription=herd app %%i (%s)\n", conf_t);
  if (!user)
    printf("After=network-online.target\nWants=network-online.target\n");
  printf("\n[Service]\n");
  printf("# herd tells systemd READY=1 once every worker is ready, RELOADING=1\n"
         "# during a rolling reload and STOPPING=1 when it stops.\n");
  printf("Type=notify\nNotifyAccess=main\n");
  /* the user's units where `herd status` looks by default (~/.herd);
   * the system's in /run, as system services keep such files */
  printf("Environment=HERD_HOME=%s\n", user ? "%h/.herd" : "/run/herd");
  printf("ExecStart=%s run -c %s %%i\n", self_u, conf_u);
  printf("# a rolling reload that returns when it is done (or has failed)\n");
  printf("ExecReload=%s reload %%i\n", self_u);
  printf("# SIGTERM to herd alone: it stops its workers gracefully; whatever\n"
         "# is left after TimeoutStopSec gets SIGKILL.\n");
  printf("KillMode=mixed\nKillSignal=SIGTERM\nTimeoutStopSec=%d\n",
         kill_ms / 1000 + 10);
  printf("Restart=on-failure\nRestartSec=1\n");
  printf("\n[Install]\nWantedBy=%s\n", user ? "default.target" : "multi-user.target");
  for (int i = 0; i < napps; i++)
    app_free(&apps[i]);
  free(apps);
  app_conf_free(conf);
  return 0;
}
