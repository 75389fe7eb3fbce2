/*
 * watch.c - --watch: a rolling reload when files change, for
 * development (PM2's watch). One inotify fd (IN_CLOEXEC | IN_NONBLOCK)
 * with a watch per directory: the trees under the --watch paths, new
 * directories added as they appear (IN_CREATE or IN_MOVED_TO with
 * IN_ISDIR; their contents scanned, as files may be in them already).
 * A file given as a --watch path is watched through its directory (an
 * editor's save by rename would take a watch on the file itself away).
 *
 * Not watched: node_modules, .git, HERD_HOME (the app's own log files
 * are there), --watch-ignore's globs. A change (re)arms one timer:
 * the reload comes --watch-delay after the last change of a burst; a
 * change during a reload asks for one more, which the engine runs after
 * it (herd_cluster_reload: several count as one). A queue overflow
 * (IN_Q_OVERFLOW) lost changes: the trees are scanned again and the
 * reload comes anyway. Nothing is armed while nothing changes.
 */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "master.h"
#include "opts.h"

#define WATCH_MASK                                                                         \
  (IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_DELETE | IN_MOVED_FROM |        \
   IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)
#define WATCH_MAX_DEPTH 64 /* a tree deeper than this (a bind-mount loop) */
#define WATCH_READS 16     /* reads of the queue per loop turn */

struct wdir {
  int wd;
  char *path; /* absolute */
  int files;  /* the directory of --watch files: those only count (else
                 everything in it, and it is part of a tree) */
};

struct watch {
  struct master *m;
  int fd;
  struct wdir *dirs; /* sorted by wd: the kernel hands them out rising */
  size_t n, cap;
  herd_timer_t timer;
  char first[PATH_MAX]; /* the first change since the last reload */
  unsigned changes;
  int overflow;         /* changes were lost since the last reload */
  int full_said;        /* out of watches: said once */
  char home[PATH_MAX];  /* HERD_HOME, symbolic links resolved ("": none) */
};

/* ---- the options ----------------------------------------------------- */

int watch_check_path(const char *val, char *err, size_t n) {
  return *val ? 0 : app_fail(err, n, "watch: an empty path");
}

int watch_check_glob(const char *val, char *err, size_t n) {
  return *val ? 0 : app_fail(err, n, "watch-ignore: an empty pattern");
}

/* The paths on the heap, not in the frame: every app_finish ends here,
 * and two PATH_MAX arrays took the stack 8 KB deeper (its pages stay
 * resident in the master) for the few that --watch. */
int watch_finish(struct app *a, char *err, size_t errlen) {
  if (!a->nwatch)
    return 0;
  char *abs = malloc(2 * (size_t)PATH_MAX), *real = abs + PATH_MAX;
  if (!abs)
    return app_fail(err, errlen, "out of memory");
  int r = 0;
  for (int i = 0; i < a->nwatch && r == 0; i++) {
    const char *p = a->watch[i];
    int k = p[0] == '/' ? snprintf(abs, PATH_MAX, "%s", p)
                        : snprintf(abs, PATH_MAX, "%s/%s", a->cwd, p);
    const char *kept;
    if (k < 0 || k >= PATH_MAX)
      r = app_fail(err, errlen, "watch: %s: path too long", p);
    else if (!realpath(abs, real))
      r = app_fail(err, errlen, "watch: %s: %s", abs, strerror(errno));
    else if (!(kept = app_keep(a, real)))
      r = app_fail(err, errlen, "out of memory");
    else
      a->watch[i] = kept;
  }
  free(abs);
  return r;
}

/* ---- what is watched ------------------------------------------------- */

/* path (absolute; name its last component) is no reason to reload, nor
 * to descend into. */
static int ignored(struct watch *w, const char *path, const char *name) {
  struct app *a = w->m->a;
  if (!strcmp(name, "node_modules") || !strcmp(name, ".git"))
    return 1;
  size_t hl = strlen(w->home);
  if (hl && !strncmp(path, w->home, hl) && (path[hl] == '/' || !path[hl]))
    return 1;
  size_t cl = strlen(a->cwd);
  const char *rel = !strncmp(path, a->cwd, cl) && path[cl] == '/' ? path + cl + 1 : path;
  for (int i = 0; i < a->nwatch_ignore; i++) {
    const char *g = a->watch_ignore[i];
    if (!strchr(g, '/') ? fnmatch(g, name, 0) == 0
                        : fnmatch(g, g[0] == '/' ? path : rel, FNM_PATHNAME) == 0)
      return 1;
  }
  return 0;
}

static struct wdir *dir_of(struct watch *w, int wd) {
  size_t lo = 0, hi = w->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (w->dirs[mid].wd == wd)
      return &w->dirs[mid];
    if (w->dirs[mid].wd < wd)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

/* A watch on dir (files: for the --watch files in it only). 1 if it is
 * new or was for files only, 0 if it was watched already (a tree is
 * descended all the same: an overflow's scan looks for new directories
 * there), -1 if not watched (said, if it matters). */
static int add_one(struct watch *w, const char *dir, int files) {
  uint32_t mask = WATCH_MASK | IN_ONLYDIR | (files ? 0 : IN_DONT_FOLLOW);
  int wd = inotify_add_watch(w->fd, dir, mask);
  if (wd < 0) {
    if (errno == ENOSPC && !w->full_said) {
      w->full_said = 1;
      notice(w->m, "watch: out of inotify watches (sysctl fs.inotify.max_user_watches): "
             "%s and what comes after it are not watched", dir);
    } else if (errno != ENOENT && errno != ENOTDIR && errno != ENOSPC) {
      notice(w->m, "watch: %s: %s", dir, strerror(errno));
    }
    return -1;
  }
  struct wdir *old = dir_of(w, wd);
  if (old) { /* a tree's directory is more than a files' one */
    int widened = old->files && !files;
    old->files = old->files && files;
    return widened;
  }
  if (w->n == w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 64;
    struct wdir *d = realloc(w->dirs, cap * sizeof *d);
    if (!d) {
      (void)inotify_rm_watch(w->fd, wd);
      return -1;
    }
    w->dirs = d;
    w->cap = cap;
  }
  char *p = strdup(dir);
  if (!p) {
    (void)inotify_rm_watch(w->fd, wd);
    return -1;
  }
  /* wds rise, but for one the kernel gives again after a wrap */
  size_t at = w->n;
  while (at > 0 && w->dirs[at - 1].wd > wd)
    at--;
  memmove(&w->dirs[at + 1], &w->dirs[at], (w->n - at) * sizeof *w->dirs);
  w->dirs[at] = (struct wdir){wd, p, files};
  w->n++;
  return 1;
}

static void drop(struct watch *w, struct wdir *d) {
  free(d->path);
  size_t at = (size_t)(d - w->dirs);
  memmove(d, d + 1, (w->n - at - 1) * sizeof *d);
  w->n--;
}

/* The tree at path (PATH_MAX bytes, extended and given back as it
 * was): a watch per directory not ignored. */
static void add_tree(struct watch *w, char *path, int depth) {
  if (add_one(w, path, 0) < 0 || depth >= WATCH_MAX_DEPTH)
    return;
  DIR *d = opendir(path); /* O_CLOEXEC: glibc's opendir */
  if (!d)
    return;
  size_t len = strlen(path);
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
      continue;
    if (len + 1 + strlen(e->d_name) >= PATH_MAX)
      continue;
    snprintf(path + len, PATH_MAX - len, "/%s", e->d_name);
    struct stat st;
    int is_dir = e->d_type == DT_DIR ||
                 (e->d_type == DT_UNKNOWN && lstat(path, &st) == 0 && S_ISDIR(st.st_mode));
    if (is_dir && !ignored(w, path, e->d_name))
      add_tree(w, path, depth + 1);
    path[len] = '\0';
  }
  (void)closedir(d);
}

/* Every --watch path: a directory's tree, or a file through its
 * directory. Again after an overflow (what is watched stays). */
static void add_roots(struct watch *w) {
  struct app *a = w->m->a;
  for (int i = 0; i < a->nwatch; i++) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", a->watch[i]);
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode)) {
      char *slash = strrchr(path, '/');
      *slash = '\0';
      (void)add_one(w, slash == path ? "/" : path, 1);
    } else {
      add_tree(w, path, 0);
    }
  }
}

/* ---- changes ----------------------------------------------------------- */

static void fire(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct watch *w = data;
  const char *cwd = w->m->a->cwd;
  size_t cl = strlen(cwd);
  const char *f = !strncmp(w->first, cwd, cl) && w->first[cl] == '/' ? w->first + cl + 1
                                                                     : w->first;
  if (w->overflow)
    logf_(w->m, "watch: inotify's queue overflowed (changes lost): reload");
  else
    logf_(w->m, "watch: %s changed (%u event%s): reload", f, w->changes,
          w->changes == 1 ? "" : "s");
  /* a reload running: one more after it */
  if (herd_cluster_reload(w->m->c) < 0)
    logf_(w->m, "watch: no reload: the app is stopping");
  w->changes = 0;
  w->overflow = 0;
  w->first[0] = '\0';
}

static void changed(struct watch *w, const char *path) {
  if (!w->changes++)
    snprintf(w->first, sizeof w->first, "%s", path);
  (void)herd_loop_timer_start(w->m->loop, &w->timer, (uint64_t)w->m->a->watch_delay_ms,
                              fire, w);
}

static int watched_file(struct watch *w, const char *path) {
  for (int i = 0; i < w->m->a->nwatch; i++)
    if (!strcmp(w->m->a->watch[i], path))
      return 1;
  return 0;
}

static void event(struct watch *w, const struct inotify_event *ev) {
  if (ev->mask & IN_Q_OVERFLOW) {
    w->overflow = 1;
    add_roots(w);
    changed(w, "");
    return;
  }
  struct wdir *d = dir_of(w, ev->wd);
  if (!d)
    return;
  if (ev->mask & IN_IGNORED) { /* its directory is gone */
    drop(w, d);
    return;
  }
  if (!ev->len)
    return; /* the directory's own events: its parent tells them */
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/%s", strcmp(d->path, "/") ? d->path : "", ev->name) >=
      (int)sizeof path)
    return;
  if ((d->files && !watched_file(w, path)) || ignored(w, path, ev->name))
    return;
  if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)) && !d->files)
    add_tree(w, path, 0);
  changed(w, path);
}

static void on_ino(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  (void)loop;
  (void)events;
  struct watch *w = data;
  char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
  for (int i = 0; i < WATCH_READS; i++) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return; /* EAGAIN: all read */
    for (char *p = buf; p < buf + n;) {
      const struct inotify_event *ev = (const struct inotify_event *)p;
      event(w, ev);
      p += sizeof *ev + ev->len;
    }
  }
}

/* ---- the master's ------------------------------------------------------ */

void watch_start(struct master *m) {
  struct app *a = m->a;
  if (!a->nwatch)
    return;
  struct watch *w = calloc(1, sizeof *w);
  if (!w) {
    notice(m, "watch: out of memory: not watching");
    return;
  }
  w->m = m;
  w->fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  int r = w->fd < 0 ? -errno : herd_loop_add(m->loop, w->fd, EPOLLIN, on_ino, w);
  if (r < 0) {
    notice(m, "watch: inotify: %s: not watching", herd_strerror(r));
    if (w->fd >= 0)
      (void)close(w->fd);
    free(w);
    return;
  }
  m->watch = w;
  /* compared with the watched paths, which are real ones */
  if (m->home[0] && !realpath(m->home, w->home))
    snprintf(w->home, sizeof w->home, "%s", m->home);
  add_roots(w);
  logf_(m, "watch: %zu director%s watched (%s%s); a change reloads after %d ms", w->n,
        w->n == 1 ? "y" : "ies", a->watch[0], a->nwatch > 1 ? ", ..." : "",
        a->watch_delay_ms);
}

void watch_stop(struct master *m) {
  struct watch *w = m->watch;
  if (!w)
    return;
  if (m->loop) {
    herd_loop_timer_stop(m->loop, &w->timer);
    (void)herd_loop_del(m->loop, w->fd);
  }
  (void)close(w->fd);
  for (size_t i = 0; i < w->n; i++)
    free(w->dirs[i].path);
  free(w->dirs);
  free(w);
  m->watch = NULL;
}
