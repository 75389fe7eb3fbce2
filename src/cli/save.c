/*
 * save.c - herd save [FILE]: the running apps of HERD_HOME, each as its
 * master describes itself (the `config` control request: confout.c),
 * written as one config file (HERD_HOME/dump.toml by default, as PM2's
 * ~/.pm2/dump.pm2); herd resurrect [FILE]: every app of it started that
 * is not running. The file is an ordinary config file: herd start -c,
 * herd run -c and herd startup systemd read it too.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "ctl.h"
#include "eco.h"

static const char usage_save[] =
    "Usage: herd save [FILE]\n"
    "\n"
    "Write the apps running in HERD_HOME, with their options, as a config\n"
    "file: FILE, or HERD_HOME/dump.toml. Each app is asked for its settings:\n"
    "the command, the working directory, the number of workers it runs now,\n"
    "every option that is not the default, and the environment its workers\n"
    "get (the --env entries and the variables herd was started with, but\n"
    "herd's own). The file is replaced atomically, mode 0600, and only when\n"
    "every app answered. herd resurrect starts them again; herd start -c and\n"
    "herd startup systemd read it as any config file.\n";

static const char usage_resurrect[] =
    "Usage: herd resurrect [FILE]\n"
    "\n"
    "Start every app of the file herd save wrote (FILE, or\n"
    "HERD_HOME/dump.toml) as herd start -c FILE does; an app that is\n"
    "running already is left as it is (and said so). Exit 0 when every app\n"
    "of the file runs, 1 when one could not be started, 2 when there is no\n"
    "such file or it has an error.\n";

int saved_path(char *buf, size_t n, const char *home) {
  return home_path(buf, n, home, "dump", ".toml");
}

/* FILE or none, -h; 0 with *file (NULL: none), or the exit status. */
static int one_operand(int argc, char **argv, const char *usage, const char **file) {
  static const struct option lo[] = {{"help", no_argument, NULL, 'h'},
                                     {NULL, 0, NULL, 0}};
  int ch;
  optind = 1;
  /* save or resurrect: as it was called */
  const char *cmd = strncmp(prog_name, "herd ", 5) ? "save" : prog_name + 5;
  while ((ch = cli_getopt(cmd, argc, argv, "h", lo)) != -1) {
    if (ch == 'h') {
      fputs(usage, stdout);
      return 0;
    }
    return 2; /* said by cli_getopt */
  }
  if (argc - optind > 1) {
    fprintf(stderr, "%s: unexpected '%s' (one FILE at most)\n", prog_name,
            argv[optind + 1]);
    return 2;
  }
  *file = optind < argc ? argv[optind] : NULL;
  return -1;
}

/* all of [text, text+len) to fd: 0, or -1 with errno set */
static int write_all(int fd, const char *text, size_t len) {
  while (len) {
    ssize_t k = write(fd, text, len);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0) {
      if (k == 0)
        errno = EIO;
      return -1;
    }
    text += k;
    len -= (size_t)k;
  }
  return 0;
}

/* text to path, atomically: path.new written, synced, renamed over
 * path, the directory synced. 0, or -1 having said why. */
static int write_atomic(const char *path, const char *text, size_t len) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s.new", path) >= (int)sizeof tmp) {
    fprintf(stderr, "%s: %s: path too long\n", prog_name, path);
    return -1;
  }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    fprintf(stderr, "%s: %s: %s\n", prog_name, tmp, strerror(errno));
    return -1;
  }
  int e = 0;
  /* (a file of ours left there once by a wider umask: 0600 all the same) */
  if (fchmod(fd, 0600) < 0 || write_all(fd, text, len) < 0 || fsync(fd) < 0)
    e = errno ? errno : EIO;
  if (close(fd) < 0 && !e)
    e = errno;
  if (!e && rename(tmp, path) < 0)
    e = errno;
  if (e) {
    fprintf(stderr, "%s: %s: %s\n", prog_name, path, strerror(e));
    (void)unlink(tmp);
    return -1;
  }
  /* the rename itself, on the disk */
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash)
    *(slash == dir ? slash + 1 : slash) = '\0';
  int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)fsync(dfd);
    (void)close(dfd);
  }
  return 0;
}

/* Each app of home that answers, its table appended to w (names in
 * said, for the message). The number of apps, or -1 having said why. */
static int ask_all(const char *home, struct jw *w, struct jw *said) {
  char **names = NULL;
  int n = home_apps(home, &names);
  if (n < 0) {
    if (n == -ENOENT)
      return 0;
    fprintf(stderr, "%s: %s: %s\n", prog_name, home, strerror(-n));
    return -1;
  }
  int k = 0, rc = 0;
  for (int i = 0; i < n && !rc; i++) {
    herd_val_t *v = NULL;
    /* a stale socket is an app that is not running: not saved */
    if (ctl__ask(home, names[i], "{\"cmd\":\"config\"}", 0, &v, NULL, 1) < 0)
      continue;
    const char *text = jstr(jget(v, "config"), NULL);
    if (ctl__failed_reply(names[i], v)) {
      rc = -1;
    } else if (!text || strlen(text) != jstrlen(jget(v, "config"))) {
      fprintf(stderr, "%s: %s: not a herd reply: no \"config\" text\n", prog_name,
              names[i]);
      rc = -1;
    } else {
      jw_printf(w, "\n%s", text);
      jw_printf(said, "%s%s", k++ ? ", " : "", names[i]);
    }
    herd_val_free(v);
  }
  home_apps_free(names, n);
  return rc < 0 ? -1 : k;
}

/* The file as herd reads it, read back before it is written: what
 * cannot be started again is not saved. 0, or -1 having said why. */
static int check_readable(const char *file, const char *text, size_t len) {
  struct app *apps;
  char err[600];
  int n = app_parse_config(file, "/", text, len, &apps, err, sizeof err);
  if (n < 0) {
    fprintf(stderr, "%s: the apps' settings do not read back as a config file "
            "(nothing saved): %s\n", prog_name, err);
    return -1;
  }
  for (int i = 0; i < n; i++)
    app_free(&apps[i]);
  free(apps);
  return 0;
}

int cmd_save(int argc, char **argv) {
  const char *file;
  int r = one_operand(argc, argv, usage_save, &file);
  if (r >= 0)
    return r;
  char home[PATH_MAX], def[PATH_MAX];
  if (cli_home(home, sizeof home) < 0)
    return 1;
  if (!file) {
    if (saved_path(def, sizeof def, home) < 0) {
      fprintf(stderr, "%s: HERD_HOME %s: path too long\n", prog_name, home);
      return 1;
    }
    file = def;
  } else if (eco_file_kind(file) != ECO_NONE) {
    fprintf(stderr, "%s: %s: herd would read that name as a PM2 ecosystem file; "
            "herd save writes a herd config file (FILE.toml)\n", prog_name, file);
    return 2;
  }
  struct jw w, said;
  jw_init(&w);
  jw_init(&said);
  char ts[40];
  iso_stamp(ts, sizeof ts);
  jw_printf(&w, "# The apps that ran in %s at %s (herd save).\n"
            "# herd resurrect starts them; herd start -c reads this file too.\n",
            home, ts);
  int n = ask_all(home, &w, &said);
  int rc = 1;
  if (n == 0)
    fprintf(stderr, "%s: no app is running in %s: nothing saved\n", prog_name, home);
  if (n <= 0)
    goto out;
  if (w.err || said.err) {
    fprintf(stderr, "%s: out of memory\n", prog_name);
    goto out;
  }
  if (w.len > CONF_MAX_FILE) {
    fprintf(stderr, "%s: the apps' settings make %zu bytes, more than a config "
            "file may hold (1 MiB): nothing saved\n", prog_name, w.len);
    goto out;
  }
  if (check_readable(file, w.buf, w.len) < 0 || write_atomic(file, w.buf, w.len) < 0)
    goto out;
  printf("saved %s to %s\n", said.buf, file);
  rc = 0;
out:
  jw_free(&w);
  jw_free(&said);
  return rc;
}

int cmd_resurrect(int argc, char **argv) {
  const char *file;
  int r = one_operand(argc, argv, usage_resurrect, &file);
  if (r >= 0)
    return r;
  char home[PATH_MAX], def[PATH_MAX], err[PATH_MAX + 600];
  if (home_setup(home, sizeof home, err, sizeof err) < 0) {
    fprintf(stderr, "%s: %s\n", prog_name, err);
    return 1;
  }
  if (!file) {
    if (saved_path(def, sizeof def, home) < 0) {
      fprintf(stderr, "%s: HERD_HOME %s: path too long\n", prog_name, home);
      return 1;
    }
    if (access(def, F_OK) < 0 && errno == ENOENT) {
      fprintf(stderr, "%s: nothing saved: no %s (herd save writes it)\n", prog_name,
              def);
      return 2;
    }
    file = def;
  }
  struct app *apps;
  int n = app_load_config_env(file, NULL, &apps, err, sizeof err);
  if (n < 0) {
    fprintf(stderr, "%s: %s\n", prog_name, err);
    return 2;
  }
  /* herd start -c FILE NAME... for the apps not running: its start,
   * its messages, its exit status */
  char **av = calloc((size_t)n + 5, sizeof *av);
  int k = 0;
  if (av) {
    av[k++] = "herd";
    av[k++] = "start";
    av[k++] = "-c";
    av[k++] = (char *)file;
  }
  for (int i = 0; av && i < n; i++) {
    char pid_path[PATH_MAX];
    pid_t holder = 0;
    if (home_path(pid_path, sizeof pid_path, home, apps[i].name, ".pid") == 0)
      holder = herd_pidfile_check(pid_path);
    if (holder > 0)
      printf("%s: running already (master pid %d): left as it is\n", apps[i].name,
             (int)holder);
    else if (!(av[k++] = strdup(apps[i].name)))
      break;
  }
  for (int i = 0; i < n; i++)
    app_free(&apps[i]);
  free(apps);
  int rc = av && (k == 4 || av[k - 1]) ? 0 : 1;
  if (rc)
    fprintf(stderr, "%s: out of memory\n", prog_name);
  if (!rc && k > 4) {
    fflush(NULL);
    execv("/proc/self/exe", av);
    fprintf(stderr, "%s: cannot run herd start: /proc/self/exe: %s\n", prog_name,
            strerror(errno));
    rc = 1;
  }
  for (int i = 4; av && i < k; i++)
    free(av[i]);
  free(av);
  return rc;
}
