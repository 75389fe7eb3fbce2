/*
 * home.c - HERD_HOME (default ~/.herd): per app NAME.sock (control),
 * NAME.pid (locked by the master) and logs/NAME-{out,err,herd}.log. The
 * client's end of the control socket is ctlconn.c's.
 *
 * Not $XDG_RUNTIME_DIR/herd any more: logind removes that directory when
 * the user's last session ends, under masters that keep running (then
 * `herd list` saw no apps, `herd stop` no such app, and a new start met
 * EADDRINUSE). A master also puts its socket and pid file back if they
 * are removed (homewatch.c, inotify).
 */
#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* buf (n bytes), a relative path, made absolute from our directory.
 * Its buffers on the heap: PATH_MAX arrays in home_dir's frame put every
 * call under it 8 KB deeper into the stack, for a case that is rare
 * (the master's stack pages stay resident). */
static int home_absolute(char *buf, size_t n) {
  char *cwd = malloc(PATH_MAX);
  if (!cwd)
    return -ENOMEM;
  int r = 0;
  if (!getcwd(cwd, PATH_MAX)) {
    r = -errno;
  } else {
    size_t cl = strlen(cwd), bl = strlen(buf);
    if (cl + 1 + bl >= n || cl + 1 + bl >= PATH_MAX) {
      r = -ENAMETOOLONG;
    } else {
      memmove(buf + cl + 1, buf, bl + 1);
      memcpy(buf, cwd, cl);
      buf[cl] = '/';
    }
  }
  free(cwd);
  return r;
}

int home_dir(char *buf, size_t n) {
  const char *h = getenv("HERD_HOME");
  int k;
  if (h && *h) {
    k = snprintf(buf, n, "%s", h);
  } else {
    h = getenv("HOME");
    if (!h || !*h) {
      struct passwd *pw = getpwuid(geteuid());
      h = pw ? pw->pw_dir : NULL;
    }
    if (!h)
      return -ENOENT;
    k = snprintf(buf, n, "%s/.herd", h);
  }
  if (k < 0 || (size_t)k >= n)
    return -ENAMETOOLONG;
  /* a daemon's directory is "/": make a relative HERD_HOME absolute */
  return buf[0] != '/' ? home_absolute(buf, n) : 0;
}

int home_check(const char *home, char *why, size_t n) {
  struct stat st;
  if (stat(home, &st) < 0) /* a link to it is fine: what counts is the directory */
    return errno == ENOENT ? 0 : -errno; /* made (0700) when needed */
  if (!S_ISDIR(st.st_mode)) {
    snprintf(why, n, "HERD_HOME %s is not a directory", home);
    return -ENOTDIR;
  }
  if (st.st_uid != geteuid()) {
    /* its sockets and pid files would be another user's to replace */
    snprintf(why, n, "HERD_HOME %s belongs to uid %d, not to you (uid %d)", home,
             (int)st.st_uid, (int)geteuid());
    return -EPERM;
  }
  if (st.st_mode & 022) {
    snprintf(why, n, "HERD_HOME %s is writable by others (mode %03o): chmod 700 it",
             home, (unsigned)(st.st_mode & 0777));
    return -EPERM;
  }
  return 0;
}

int cli_home(char *buf, size_t n) {
  int r = home_dir(buf, n);
  if (r < 0) {
    fprintf(stderr, "%s: HERD_HOME: %s\n", prog_name, strerror(-r));
    return r;
  }
  char why[PATH_MAX + 96];
  if ((r = home_check(buf, why, sizeof why)) < 0) {
    if (r == -EPERM || r == -ENOTDIR)
      fprintf(stderr, "%s: %s\n", prog_name, why);
    else
      fprintf(stderr, "%s: HERD_HOME %s: %s\n", prog_name, buf, strerror(-r));
  }
  return r;
}

int home_legacy(char *buf, size_t n) {
  const char *x = getenv("XDG_RUNTIME_DIR");
  if (getenv("HERD_HOME") || !x || !*x)
    return 0;
  int k = snprintf(buf, n, "%s/herd", x);
  if (k < 0 || (size_t)k >= n)
    return 0;
  struct stat st;
  return lstat(buf, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid();
}

/* The names of files, of log tags and of systemd instances: 1-64 of
 * A-Z a-z 0-9 . _ -, not starting with . or - (as in config files). */
int app_name_ok(const char *s) {
  size_t n = strlen(s);
  return n >= 1 && n <= NAME_MAX_LEN && s[0] != '.' && s[0] != '-' &&
         strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* No PATH_MAX arrays in the frame (see home_absolute): the master calls
 * it at start, and again when HERD_HOME is removed under it. */
int home_ensure(const char *home) {
  if (mkdir(home, 0700) < 0 && errno != EEXIST)
    return -errno;
  int r = home_check(home, NULL, 0); /* the reason is not said here */
  if (r < 0)
    return r;
  if (access(home, W_OK | X_OK) < 0)
    return -errno;
  size_t hl = strlen(home);
  if (hl + sizeof "/logs" > PATH_MAX)
    return -ENAMETOOLONG;
  char *logs = malloc(hl + sizeof "/logs");
  if (!logs)
    return -ENOMEM;
  memcpy(logs, home, hl);
  memcpy(logs + hl, "/logs", sizeof "/logs");
  r = mkdir(logs, 0700) < 0 && errno != EEXIST ? -errno : 0;
  free(logs);
  return r;
}

int home_setup(char *home, size_t n, char *err, size_t errlen) {
  int r = home_dir(home, n);
  if (r < 0) {
    snprintf(err, errlen, "HERD_HOME %s: %s", r == -ENOENT && !home[0] ? "(no HOME)"
             : home, strerror(-r));
    return r;
  }
  if ((r = home_check(home, err, errlen)) < 0) {
    if (r != -EPERM && r != -ENOTDIR)
      snprintf(err, errlen, "HERD_HOME %s: %s", home, strerror(-r));
    return r;
  }
  if ((r = home_ensure(home)) < 0)
    snprintf(err, errlen, "HERD_HOME %s: %s", home, strerror(-r));
  return r;
}

int home_path(char *buf, size_t n, const char *home, const char *name,
              const char *suffix) {
  int k;
  if (suffix[0] == '-')
    k = snprintf(buf, n, "%s/logs/%s%s", home, name, suffix);
  else
    k = snprintf(buf, n, "%s/%s%s", home, name, suffix);
  return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int home_apps(const char *home, char ***names) {
  *names = NULL;
  DIR *d = opendir(home);
  if (!d)
    return errno == ENOENT ? 0 : -errno;
  char **v = NULL;
  int n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    size_t base;
    if (l > 5 && !strcmp(e->d_name + l - 5, ".sock"))
      base = l - 5;
    else if (l > 4 && !strcmp(e->d_name + l - 4, ".pid"))
      base = l - 4;
    else
      continue;
    int dup = 0;
    for (int i = 0; i < n && !dup; i++)
      dup = strlen(v[i]) == base && !strncmp(v[i], e->d_name, base);
    if (dup)
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      char **nv = realloc(v, (size_t)cap * sizeof *nv);
      if (!nv)
        goto nomem;
      v = nv;
    }
    if (!(v[n] = strndup(e->d_name, base)))
      goto nomem;
    n++;
  }
  closedir(d);
  if (n)
    qsort(v, (size_t)n, sizeof *v, cmp_str);
  *names = v;
  return n;
nomem:
  closedir(d);
  home_apps_free(v, n);
  return -ENOMEM;
}

int home_targets(const char *home, const char *target, char *one[1], char ***names) {
  if (target && strcmp(target, "all")) {
    one[0] = (char *)target;
    *names = one;
    return 1;
  }
  int n = home_apps(home, names);
  if (n < 0)
    fprintf(stderr, "%s: %s: %s\n", prog_name, home, strerror(-n));
  return n < 0 ? -1 : n;
}

void home_apps_free(char **names, int n) {
  for (int i = 0; i < n; i++)
    free(names[i]);
  free(names);
}
