/*
 * homewatch.c - HERD_HOME's files of this master (NAME.sock, NAME.pid,
 * logs/), put back when they are removed under it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "master.h"

/* HERD_HOME may lose our files under us: logind removes
 * $XDG_RUNTIME_DIR when the last session ends (where 0.1 kept them), a
 * cleaner sweeps /tmp, someone runs rm. Without them `herd list` cannot
 * see us and a new `herd start` of the name would run a second master.
 * inotify tells us (no timer: an idle master stays asleep): the pid
 * file first - if another master has taken the name meanwhile it is
 * theirs, and so is the socket path - then the socket, then the logs. */
void home_watch(struct master *m);

static void restore_pid(struct master *m) {
  if (herd_pidfile_check(m->pid_path) == getpid())
    return; /* ours, there: nothing was lost */
  herd_pidfile_t *npf = NULL;
  pid_t holder = 0;
  int r = herd_pidfile_open(&npf, m->pid_path, &holder);
  if (r == -EBUSY) {
    m->lost_name = 1;
    notice(m, "%s was removed, and master pid %d holds the name '%s' now: this master "
          "goes on, unreachable by name (stop it by pid)", m->pid_path, (int)holder,
          m->a->name);
    return;
  }
  if (r < 0) {
    notice(m, "%s was removed and cannot be made again: %s", m->pid_path,
          herd_strerror(r));
    return;
  }
  herd_pidfile_close(m->pf, 0); /* its file is gone: nothing to remove */
  m->pf = npf;
  logf_(m, "%s was removed: put back", m->pid_path);
}

static void restore_sock(struct master *m) {
  if (m->lost_name)
    return;
  /* never removing what is there: a file there now is not ours to take
   * (and our own unlink would be news again, for ever) */
  int fd = open_control(m, 0);
  if (fd == -EADDRINUSE)
    return;
  if (fd < 0) {
    notice(m, "%s was removed and cannot be made again: %s", m->sock_path,
          herd_strerror(fd));
    return;
  }
  if (herd_loop_add(m->loop, fd, EPOLLIN, accept_cb, m) < 0) {
    (void)close(fd);
    return;
  }
  (void)herd_loop_del(m->loop, m->ctl_fd);
  (void)close(m->ctl_fd);
  m->ctl_fd = fd;
  logf_(m, "%s was removed: put back", m->sock_path);
}

static void restore_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct master *m = data;
  int gone = m->gone;
  m->gone = 0;
  if (m->lost_name)
    return;
  /* a directory's own removal is told late, or never while something
   * holds it: look at what is there */
  char logs[PATH_MAX + 8];
  snprintf(logs, sizeof logs, "%s/logs", m->home);
  struct stat st;
  if (stat(m->home, &st) < 0)
    gone |= GONE_HOME;
  if (stat(logs, &st) < 0)
    gone |= GONE_LOGS;
  if (gone & (GONE_HOME | GONE_LOGS)) {
    int r = home_ensure(m->home);
    if (r < 0) {
      notice(m, "HERD_HOME %s was removed and cannot be made again: %s", m->home,
            herd_strerror(r));
      return;
    }
    home_watch(m);
    reopen_logs(m); /* the files we wrote went with it (before a line that
                       would go into the removed one) */
    if (gone & GONE_HOME) {
      notice(m, "HERD_HOME %s was removed: made again", m->home);
      gone |= GONE_SOCK | GONE_PID;
    }
  }
  if ((gone & GONE_PID) ||
      ((gone & GONE_SOCK) && herd_pidfile_check(m->pid_path) != getpid()))
    restore_pid(m);
  if (gone & (GONE_SOCK | GONE_PID))
    restore_sock(m);
}

static void home_event(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  (void)loop;
  (void)events;
  struct master *m = data;
  char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
  char sock_name[NAME_MAX_LEN + 8], pid_name[NAME_MAX_LEN + 8];
  snprintf(sock_name, sizeof sock_name, "%s.sock", m->a->name);
  snprintf(pid_name, sizeof pid_name, "%s.pid", m->a->name);
  int home_gone = 0, logs_gone = 0, sock = 0, pid = 0;
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) {
    for (char *p = buf; p < buf + n;) {
      const struct inotify_event *e = (const struct inotify_event *)(void *)p;
      p += sizeof *e + e->len;
      /* a directory's own removal may be told late (once its inode
       * goes), after we made it again: the events of a watch replaced
       * since are old news */
      if (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
        if (e->wd == m->wd_home)
          home_gone = 1;
        else if (e->wd == m->wd_logs)
          logs_gone = 1;
      } else if (e->wd == m->wd_home && e->len) {
        sock |= !strcmp(e->name, sock_name);
        pid |= !strcmp(e->name, pid_name);
      }
    }
  }
  if (m->lost_name || m->c == NULL)
    return;
  m->gone |= (home_gone ? GONE_HOME : 0) | (logs_gone ? GONE_LOGS : 0) |
             (sock ? GONE_SOCK : 0) | (pid ? GONE_PID : 0);
  /* put back once the remover is done (an rm -rf still at work would
   * find the directory not empty and fail, and remove what we made) */
  if (m->gone)
    (void)herd_loop_timer_start(m->loop, &m->restore_timer, RESTORE_DELAY_MS,
                                restore_cb, m);
}

void home_watch(struct master *m) {
  if (m->ino_fd < 0) {
    m->ino_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (m->ino_fd < 0 || herd_loop_add(m->loop, m->ino_fd, EPOLLIN, home_event, m) < 0) {
      if (m->ino_fd >= 0)
        (void)close(m->ino_fd);
      m->ino_fd = -1;
      return; /* not watched: it only costs the putting back */
    }
  }
  char logs[PATH_MAX + 8];
  snprintf(logs, sizeof logs, "%s/logs", m->home);
  m->wd_home = inotify_add_watch(m->ino_fd, m->home,
                                 IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF |
                                     IN_MOVE_SELF | IN_ONLYDIR);
  m->wd_logs = inotify_add_watch(m->ino_fd, logs,
                                 IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR);
}

/* ---- metrics ----------------------------------------------------- */
