/*
 * startup.c - herd startup systemd: a template unit, herd-BASE@.service
 * (named after the config file, herd save's by default), that
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
    "Usage: herd startup systemd [-c FILE] [--user]\n"
    "\n"
    "Print a systemd template unit, herd-BASE@.service (BASE: the config\n"
    "file's name without its extension; herd@.service for herd.conf or\n"
    "herd.toml), that runs each app of the config file FILE in the\n"
    "foreground (herd run -c FILE NAME) with Type=notify, a synchronous\n"
    "rolling reload (ExecReload=herd reload) and KillMode=mixed, and the\n"
    "commands that install and enable it. Without -c, the apps herd save\n"
    "saved (HERD_HOME/dump.toml: herd-dump@.service). With --user, a unit\n"
    "for `systemctl --user` instead of the system's.\n";

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

/* The unit's name before "@.service", after the config file: "herd-"
 * and its base name without the extension, each byte a unit name may
 * not hold written \xNN (as systemd-escape); "herd" for herd.conf (the
 * name of the units of herd before 0.3). 0, or -1 (too long a name). */
static int unit_prefix(const char *path, char *buf, size_t n) {
  const char *b = strrchr(path, '/');
  b = b ? b + 1 : path;
  const char *dot = strrchr(b, '.');
  size_t len = dot && dot != b ? (size_t)(dot - b) : strlen(b);
  if (len == 4 && !strncmp(b, "herd", 4)) {
    snprintf(buf, n, "herd");
    return 0;
  }
  size_t k = (size_t)snprintf(buf, n, "herd-");
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)b[i];
    if (k + 5 >= n)
      return -1;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        c == '_' || c == '-' || c == ':' || (c == '.' && i))
      buf[k++] = (char)c;
    else
      k += (size_t)snprintf(buf + k, n - k, "\\x%02x", c);
  }
  buf[k] = '\0';
  /* systemd: 255 bytes at most, "@NAME.service" included */
  return k + 1 + NAME_MAX_LEN + 8 > 255 ? -1 : 0;
}

/* What the unit's text is made of: its name before "@.service", the
 * config file's path as it is, as a shell word, a unit's word and a
 * unit's text, herd's path as a unit's word; --user. */
struct unit {
  const char *name, *conf, *conf_sh, *conf_u, *self_u, *conf_t;
  int user;
};

/* The comments at the top: what it is, how to install it. */
static void print_comments(const struct unit *u, const struct app *apps, int napps) {
  char file[PATH_MAX], word[2 * PATH_MAX];
  printf("# %s@.service: each app of %s as a systemd service.\n", u->name, u->conf);
  printf("# Made by `herd startup systemd -c %s%s`. Install and enable:\n", u->conf_sh,
         u->user ? " --user" : "");
  if (u->user) {
    snprintf(file, sizeof file, "%s@.service", u->name);
    printf("#   mkdir -p ~/.config/systemd/user\n");
    printf("#   herd startup systemd -c %s --user > ~/.config/systemd/user/%s\n",
           u->conf_sh, shell_word(file, word, sizeof word));
    printf("#   systemctl --user daemon-reload\n#   systemctl --user enable --now");
  } else {
    snprintf(file, sizeof file, "/etc/systemd/system/%s@.service", u->name);
    printf("#   herd startup systemd -c %s > %s\n", u->conf_sh,
           shell_word(file, word, sizeof word));
    printf("#   systemctl daemon-reload\n#   systemctl enable --now");
  }
  for (int i = 0; i < napps; i++) {
    snprintf(file, sizeof file, "%s@%s", u->name, apps[i].name);
    printf(" %s", shell_word(file, word, sizeof word));
  }
  snprintf(file, sizeof file, "%s@NAME", u->name);
  shell_word(file, word, sizeof word);
  printf("\n#%s", u->user ? "   (and `loginctl enable-linger $USER` to start them "
                            "at boot, before you log in)\n#" : "");
  if (u->user)
    printf("   then: herd status NAME, herd reload NAME, journalctl --user -u %s\n", word);
  else
    printf("   then: HERD_HOME=/run/herd herd status NAME (the units' HERD_HOME),\n"
           "#         journalctl -u %s\n", word);
}

/* The unit itself. */
static void print_unit(const struct unit *u, int kill_ms) {
  printf("\n[Unit]\nDescription=herd app %%i (%s)\n", u->conf_t);
  if (!u->user)
    printf("After=network-online.target\nWants=network-online.target\n");
  printf("\n[Service]\n");
  printf("# herd tells systemd READY=1 once every worker is ready, RELOADING=1\n"
         "# during a rolling reload and STOPPING=1 when it stops, and STATUS=\n"
         "# when the workers change (\"2/2 workers ready, 0 restarts\").\n");
  printf("Type=notify\nNotifyAccess=main\n");
  /* the user's units where `herd status` looks by default (~/.herd);
   * the system's in /run, as system services keep such files */
  printf("Environment=HERD_HOME=%s\n", u->user ? "%h/.herd" : "/run/herd");
  printf("ExecStart=%s run -c %s %%i\n", u->self_u, u->conf_u);
  printf("# a rolling reload that returns when it is done (or has failed)\n");
  printf("ExecReload=%s reload %%i\n", u->self_u);
  printf("# SIGTERM to herd alone: it stops its workers gracefully; whatever\n"
         "# is left after TimeoutStopSec gets SIGKILL.\n");
  printf("KillMode=mixed\nKillSignal=SIGTERM\nTimeoutStopSec=%d\n", kill_ms / 1000 + 10);
  printf("Restart=on-failure\nRestartSec=1\n");
  printf("\n[Install]\nWantedBy=%s\n", u->user ? "default.target" : "multi-user.target");
}

/* No -c: the file herd save writes, said on stderr; NULL with nothing
 * saved, said too. */
static const char *saved_config(char *buf, size_t n) {
  char home[PATH_MAX];
  if (home_dir(home, sizeof home) < 0 || saved_path(buf, n, home) < 0 ||
      access(buf, F_OK) < 0) {
    fprintf(stderr, "%s: systemd: give the config file (-c FILE); no apps are saved "
            "(herd save writes %s)\n", prog_name, buf[0] ? buf : "HERD_HOME/dump.toml");
    return NULL;
  }
  fprintf(stderr, "%s: the apps herd save saved: %s\n", prog_name, buf);
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
  char saved[PATH_MAX] = "";
  if (!config && !(config = saved_config(saved, sizeof saved)))
    return 2;
  char abs_conf[PATH_MAX], self[PATH_MAX], err[600], unit[300];
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
  if (unit_prefix(abs_conf, unit, sizeof unit) < 0) {
    fprintf(stderr, "%s: %s: too long a name for a unit's (rename the file)\n",
            prog_name, abs_conf);
    return 2;
  }
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
  struct unit u = {unit, abs_conf, conf_sh, conf_u, self_u, conf_t, user};
  print_comments(&u, apps, napps);
  print_unit(&u, kill_ms);
  for (int i = 0; i < napps; i++)
    app_free(&apps[i]);
  free(apps);
  app_conf_free(conf);
  return 0;
}
