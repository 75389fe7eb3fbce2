/*
 * daemon.c - herd_daemonize and pid files.
 *
 * herd_daemonize is the classic double fork (Stevens, APUE 13.3; what
 * daemon(3) does without its second fork): fork, setsid in the child
 * (a new session with no controlling terminal), fork again and let the
 * session leader exit, so the daemon is no session leader and can never
 * acquire a terminal by opening one. Everything that can fail for a
 * reason the caller should hear about is done before the first fork
 * (opening the log files and /dev/null) or reported back over a pipe
 * (setsid, the second fork, chdir, dup2), so a failure returns -errno in
 * the caller with no daemon left behind.
 *
 * Pid files are held with two locks on one open file: an flock(2), which
 * is what the header promises, what flock(1) and other tools see, and
 * what decides between two herd_pidfile_opens; and an open file
 * description lock (F_OFD_SETLK), taken once the pid is written, which
 * exists so that herd_pidfile_check can ask "is it held?" with
 * F_OFD_GETLK without taking any lock. flock has no test call: a checker
 * would have to take LOCK_SH for a moment, and a herd_pidfile_open
 * racing with that moment would wrongly fail with -EBUSY (the test
 * pidfile_check_never_makes_open_fail catches exactly that). Both locks
 * belong to the open file description, so both follow the fd across
 * fork (the daemon keeps the lock its starter took) and both go when its
 * last fd is closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "linux/os.h"

/* ---- herd_daemonize ------------------------------------------------- */

#define DAEMON_FLAGS                                                       \
  (HERD_DAEMON_NOCHDIR | HERD_DAEMON_KEEP_UMASK | HERD_DAEMON_STATUS_PIPE)

/* What the daemon (or the intermediate, when it fails) tells the caller
 * over the report pipe: the daemon's pid and 0, or a pid and an errno.
 * 8 bytes, below PIPE_BUF: one atomic write. */
struct report {
  int32_t pid;
  int32_t err;
};

/* Move an fd that landed on 0, 1 or 2 (the caller had closed them) above
 * them, so the dup2s onto 0-2 in the daemon never clobber a source. */
static int lift(int *fd) {
  if (*fd < 0 || *fd > 2)
    return 0;
  int nfd = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
  if (nfd < 0)
    return -errno;
  herd__close(*fd);
  *fd = nfd;
  return 0;
}

/* O_NOCTTY: the caller may be a session leader without a terminal (a
 * master started with setsid); opening a tty as a log must not make it
 * the caller's controlling terminal. */
static int open_log(const char *path) {
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
                0640);
  if (fd < 0)
    return -errno;
  int r = lift(&fd);
  if (r < 0) {
    herd__close(fd);
    return r;
  }
  return fd;
}

static int pipe_lifted(int p[2]) {
  if (pipe2(p, O_CLOEXEC) < 0)
    return -errno;
  int r = lift(&p[0]);
  if (r == 0)
    r = lift(&p[1]);
  if (r < 0) {
    herd__closep(&p[0]);
    herd__closep(&p[1]);
  }
  return r;
}

/* In the intermediate and in the daemon before herd_daemonize returns:
 * the caller may have threads, so only async-signal-safe calls. If the
 * caller is gone the write fails (or SIGPIPE ends us): either way this
 * process dies, as it should. */
__attribute__((noreturn)) static void report_fail(int fd, int err) {
  struct report m = {(int32_t)getpid(), (int32_t)err};
  (void)herd__write_all(fd, &m, sizeof m);
  _exit(127);
}

/* ECHILD (SIGCHLD ignored, or a handler's waitpid(-1) got there first)
 * means it is reaped already. */
static int reap(pid_t pid) {
  int r = herd__waitpid(pid, NULL);
  return r == -ECHILD ? 0 : r;
}

/* What herd_daemonize opens before it forks, and hands down. */
struct plan {
  int devnull, out, errf; /* out, errf: -1 if not asked for */
  int fd1, fd2;           /* what becomes the daemon's 1 and 2 */
  int rep[2];             /* the report: pid and errno */
  int stp[2];             /* HERD_DAEMON_STATUS_PIPE's, or -1 */
  int want_status, set_umask;
  mode_t mask;
  const char *dir;        /* NULL: stay */
  sigset_t old;           /* the caller's signal mask */
};

static void plan_close(struct plan *p) {
  herd__closep(&p->devnull);
  herd__closep(&p->out);
  herd__closep(&p->errf);
  for (int i = 0; i < 2; i++) {
    herd__closep(&p->rep[i]);
    herd__closep(&p->stp[i]);
  }
}

/* Everything that can fail on the caller's account, before the fork:
 * /dev/null, the log files, the pipes. 0 or -errno (p to be closed). */
static int plan_open(struct plan *p, const herd_daemon_opts_t *opts) {
  p->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (p->devnull < 0)
    return -errno;
  int err = lift(&p->devnull);
  if (err < 0)
    return err;
  if (opts->stdout_path && (p->out = open_log(opts->stdout_path)) < 0)
    return p->out;
  /* The same path twice: one open file, like 2>&1. */
  if (opts->stderr_path &&
      !(opts->stdout_path && strcmp(opts->stdout_path, opts->stderr_path) == 0) &&
      (p->errf = open_log(opts->stderr_path)) < 0)
    return p->errf;
  p->fd1 = p->out >= 0 ? p->out : p->devnull;
  p->fd2 = p->errf >= 0 ? p->errf : opts->stderr_path ? p->out : p->devnull;
  err = pipe_lifted(p->rep);
  if (err == 0 && p->want_status)
    err = pipe_lifted(p->stp);
  return err;
}

/* The child of the fork: the intermediate makes a new session and the
 * daemon, and exits; the daemon sets itself up and returns 0 (with
 * *status_fd). Only async-signal-safe calls: the caller may have
 * threads. */
static int in_child(struct plan *p, int *status_fd) {
  if (setsid() < 0)
    report_fail(p->rep[1], errno);
  pid_t self = getpid();
  pid_t d = fork();
  if (d < 0)
    report_fail(p->rep[1], errno);
  if (d > 0)
    _exit(0);

  /* The daemon. Its parent, the session leader, is exiting; wait for
   * that, so that from the moment herd_daemonize returns, getppid() is
   * init (or the nearest subreaper), never the dying intermediate. A
   * pidfd polls readable once the process is a zombie, and the kernel
   * re-parents its children before it makes it one. The caller reaps it
   * only after our report, so the pid cannot have been reused; it is
   * gone already (ESRCH) only if the caller ignores SIGCHLD. */
  int pfd = herd__os_pidfd_open(self);
  if (pfd >= 0) {
    struct pollfd pp = {.fd = pfd, .events = POLLIN};
    while (poll(&pp, 1, -1) < 0)
      if (errno != EINTR)
        report_fail(p->rep[1], errno);
    herd__close(pfd);
  } else if (pfd != -ESRCH) {
    /* No pidfds here (valgrind, a seccomp filter): the intermediate is
     * between its fork and its _exit, so yield until the kernel has
     * moved us. */
    while (getppid() == self)
      (void)sched_yield();
  }
  if (p->set_umask)
    umask(p->mask);
  if (p->dir && chdir(p->dir) < 0)
    report_fail(p->rep[1], errno);
  if (dup2(p->devnull, 0) < 0 || dup2(p->fd1, 1) < 0 || dup2(p->fd2, 2) < 0)
    report_fail(p->rep[1], errno);
  herd__close(p->devnull);
  herd__close(p->out);
  herd__close(p->errf);
  herd__close(p->rep[0]);
  herd__close(p->stp[0]);
  if (sigprocmask(SIG_SETMASK, &p->old, NULL) < 0)
    report_fail(p->rep[1], errno);
  struct report m = {(int32_t)getpid(), 0};
  /* A write that fails means the caller is gone (killed while it
   * waited): nobody knows this daemon's pid, so it must not run. */
  if (herd__write_all(p->rep[1], &m, sizeof m) < 0)
    _exit(127);
  herd__close(p->rep[1]);
  if (p->want_status)
    *status_fd = p->stp[1];
  return 0;
}

/* The caller, after the fork: the report comes from the daemon once it
 * is set up, or from whichever of the two failed; EOF without one: both
 * died (killed) mid-way. The daemon's pid, or -errno. */
static pid_t await_report(struct plan *p, pid_t mid, int mask_err) {
  struct report m = {0, 0};
  size_t got = 0;
  int err = 0;
  while (got < sizeof m) {
    ssize_t n = herd__read(p->rep[0], (char *)&m + got, sizeof m - got);
    if (n <= 0) {
      if (n < 0)
        err = (int)n;
      break;
    }
    got += (size_t)n;
  }
  herd__closep(&p->rep[0]);
  int r = reap(mid);
  if (err == 0 && got != sizeof m)
    err = -EIO;
  if (err == 0 && m.err != 0)
    err = m.err > 0 ? -m.err : -EIO;
  if (err == 0 && m.pid <= 0)
    err = -EIO;
  if (err == 0 && r < 0)
    err = r;
  if (err == 0 && mask_err != 0)
    err = -mask_err;
  /* A daemon that announced itself but whose start we cannot finish
   * cleanly (the only cases: the reap or the mask restore failed) is
   * stopped, so that "nothing started" holds. */
  if (err < 0 && got == sizeof m && m.err == 0 && m.pid > 0)
    (void)kill(m.pid, SIGKILL);
  return err < 0 ? err : (pid_t)m.pid;
}

pid_t herd_daemonize(const herd_daemon_opts_t *opts, int *status_fd) {
  static const herd_daemon_opts_t defaults;
  if (!opts)
    opts = &defaults;
  if ((opts->flags & ~DAEMON_FLAGS) || (opts->umask & ~0777u))
    return -EINVAL;
  struct plan p = {.devnull = -1, .out = -1, .errf = -1, .rep = {-1, -1},
                   .stp = {-1, -1}};
  p.want_status = (opts->flags & HERD_DAEMON_STATUS_PIPE) != 0;
  if (p.want_status && !status_fd)
    return -EINVAL;
  if (p.want_status)
    *status_fd = -1;
  p.set_umask = !(opts->flags & HERD_DAEMON_KEEP_UMASK);
  p.mask = opts->umask ? (mode_t)opts->umask : 027;
  if (!(opts->flags & HERD_DAEMON_NOCHDIR))
    p.dir = opts->dir ? opts->dir : "/";

  int err = plan_open(&p, opts);
  if (err < 0)
    goto fail;
  /* No handler of the caller may run in the intermediate, which only
   * forks and exits; the daemon gets the caller's mask back. */
  sigset_t all;
  sigfillset(&all);
  int e = pthread_sigmask(SIG_SETMASK, &all, &p.old);
  if (e != 0) {
    err = -e;
    goto fail;
  }
  pid_t mid = fork();
  if (mid < 0) {
    err = -errno;
    (void)pthread_sigmask(SIG_SETMASK, &p.old, NULL);
    goto fail;
  }
  if (mid == 0)
    return in_child(&p, status_fd);

  /* The caller. */
  e = pthread_sigmask(SIG_SETMASK, &p.old, NULL);
  herd__closep(&p.rep[1]);
  herd__closep(&p.stp[1]);
  herd__closep(&p.devnull);
  herd__closep(&p.out);
  herd__closep(&p.errf);
  pid_t pid = await_report(&p, mid, e);
  if (pid < 0) {
    err = pid;
    goto fail;
  }
  if (p.want_status) {
    *status_fd = p.stp[0];
    p.stp[0] = -1;
  }
  return pid;

fail:
  plan_close(&p);
  return err;
}

/* ---- pid files ------------------------------------------------------ */

struct herd_pidfile {
  int fd;
  char *path;
};

/* Opening and locking a path that is then unlinked or replaced (a
 * holder's close with remove, an admin's rm) is retried this often. */
#define PIDFILE_TRIES 10

/* The whole file, for the OFD lock and its test. l_pid must be 0. */
static struct flock whole_file(short type) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  return fl;
}

/* The pid on the file's first line: > 0, 0 if there is no complete,
 * well-formed line (empty, garbage), or -errno. */
static pid_t read_pid(int fd) {
  char buf[32];
  ssize_t n;
  for (;;) {
    n = pread(fd, buf, sizeof buf - 1, 0);
    if (n >= 0)
      break;
    if (errno != EINTR)
      return -errno;
  }
  long v = 0;
  ssize_t i = 0;
  for (; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) {
    v = v * 10 + (buf[i] - '0');
    if (v > INT32_MAX)
      return 0;
  }
  if (i == 0 || i == n || buf[i] != '\n' || v <= 0)
    return 0;
  return (pid_t)v;
}

/* Write "PID\n" over the file, in place. First the new line at offset 0,
 * then cut the rest: a reader sees the old content or a first line that
 * is the new pid (followed by leftovers until the truncate); an existing
 * file is never empty in between. Not write + rename as STYLE.md says for status files: the
 * locks belong to the open file, and a new file renamed over the path
 * would be an unlocked one, taken at once by the next herd_pidfile_open.
 * No fsync: after a crash the file is stale whatever it says. */
static int write_pid(int fd) {
  char buf[24];
  int len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
  size_t done = 0;
  while (done < (size_t)len) {
    ssize_t n = pwrite(fd, buf + done, (size_t)len - done, (off_t)done);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    done += (size_t)n;
  }
  for (;;) {
    if (ftruncate(fd, (off_t)len) == 0)
      return 0;
    if (errno != EINTR)
      return -errno;
  }
}

/* Is fd still the file at path? 1 yes, 0 no (removed or replaced after
 * our open), or -errno. */
static int still_at(int fd, const char *path) {
  struct stat a, b;
  if (fstat(fd, &a) < 0)
    return -errno;
  if (stat(path, &b) < 0)
    return errno == ENOENT ? 0 : -errno;
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* The flock, without waiting: 0, -EBUSY if someone holds it, or
 * -errno. This is the lock that decides who owns the file. */
static int lock_flock(int fd) {
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
      return 0;
    if (errno == EWOULDBLOCK)
      return -EBUSY;
    if (errno != EINTR)
      return -errno;
  }
}

/* The OFD lock, taken last, once our pid is in the file: the moment
 * herd_pidfile_check sees the file held is a moment its content is the
 * holder's pid (else a check racing a newcomer would read an empty file
 * or half a number). Locks go at close in the kernel OFD first, then
 * flock, so while we hold the flock no herd process can hold this one:
 * only a foreign fcntl/lockf user can, and it counts as a holder. */
static int lock_ofd(int fd) {
  struct flock fl = whole_file(F_WRLCK);
  for (;;) {
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
      return 0;
    if (errno == EAGAIN || errno == EACCES)
      return -EBUSY;
    if (errno != EINTR)
      return -errno;
  }
}

/* path made absolute with the cwd of now: herd_daemonize changes the
 * cwd to "/", and close with remove must still find the file. If the
 * cwd is gone (getcwd fails), the relative path is all there is. */
static char *abs_path(const char *path) {
  if (path[0] == '/')
    return strdup(path);
  char *cwd = getcwd(NULL, 0);
  if (!cwd)
    return strdup(path);
  size_t n = strlen(cwd) + 1 + strlen(path) + 1;
  char *p = malloc(n);
  if (p)
    snprintf(p, n, "%s/%s", cwd, path);
  free(cwd);
  return p;
}

int herd_pidfile_open(herd_pidfile_t **out, const char *path, pid_t *holder) {
  struct herd_pidfile *pf = NULL;
  int fd = -1;
  int err = 0;

  if (holder)
    *holder = 0;
  if (!out)
    return -EINVAL;
  *out = NULL;
  if (!path || !*path)
    return -EINVAL;
  pf = calloc(1, sizeof *pf);
  if (!pf)
    return -ENOMEM;
  pf->fd = -1;
  pf->path = abs_path(path);
  if (!pf->path) {
    err = -ENOMEM;
    goto fail;
  }
  for (int tries = 0;; tries++) {
    if (tries == PIDFILE_TRIES) {
      err = -EAGAIN; /* replaced under us again and again */
      goto fail;
    }
    fd = open(pf->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0) {
      err = -errno;
      goto fail;
    }
    if (fd < 3) {
      /* 0..2 were closed: herd_daemonize would put /dev/null or a log
       * there, closing the file and its lock. Above them it is safe. */
      int hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);
      err = hi < 0 ? -errno : 0;
      herd__closep(&fd);
      if (err < 0)
        goto fail;
      fd = hi;
    }
    err = lock_flock(fd);
    if (err == -EBUSY && holder) {
      pid_t p = read_pid(fd);
      *holder = p > 0 ? p : 0;
    }
    if (err < 0)
      goto fail;
    /* The file we locked may have been unlinked between our open and
     * our lock (its holder closed it with remove): a lock on an orphan
     * would hold nothing. Then open the path anew. */
    err = still_at(fd, pf->path);
    if (err < 0)
      goto fail;
    if (err == 1)
      break;
    herd__closep(&fd);
  }
  err = write_pid(fd);
  if (err == 0)
    err = lock_ofd(fd);
  if (err < 0)
    goto fail;
  pf->fd = fd;
  *out = pf;
  return 0;

fail:
  /* Closing drops any lock we took: this fd was never shared. */
  herd__close(fd);
  if (pf)
    free(pf->path);
  free(pf);
  return err;
}

int herd_pidfile_write(herd_pidfile_t *pf) {
  if (!pf || pf->fd < 0)
    return -EINVAL;
  return write_pid(pf->fd);
}

void herd_pidfile_close(herd_pidfile_t *pf, int remove) {
  if (!pf)
    return;
  /* Unlink while we hold the lock, and only if the path is still our
   * file: someone may have removed it and a newcomer created and locked
   * another one, which is not ours to delete. */
  if (remove && still_at(pf->fd, pf->path) == 1)
    (void)unlink(pf->path);
  /* No LOCK_UN / F_UNLCK: both locks belong to the open file, which a
   * forked daemon shares; an explicit unlock here would unlock it for
   * the daemon too. Closing our fd lets them go with the last fd. */
  herd__close(pf->fd);
  free(pf->path);
  free(pf);
}

pid_t herd_pidfile_check(const char *path) {
  if (!path || !*path)
    return -EINVAL;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return errno == ENOENT ? 0 : -errno;
  /* A test, not a lock: nothing a concurrent herd_pidfile_open could
   * trip over (see the top of this file). */
  struct flock fl = whole_file(F_RDLCK);
  pid_t r;
  if (fcntl(fd, F_OFD_GETLK, &fl) < 0) {
    r = -errno;
  } else if (fl.l_type == F_UNLCK) {
    r = 0; /* absent holder: a stale file */
  } else {
    /* Held: the holder wrote its pid before it took this lock. */
    r = read_pid(fd);
    if (r == 0) {
      struct stat st;
      r = fstat(fd, &st) == 0 && st.st_size == 0 ? -EAGAIN : -EIO;
    }
  }
  herd__close(fd);
  return r;
}
