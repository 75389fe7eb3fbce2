/*
 * spawnchild.c - herd_spawn's child, from the clone to the exec: it
 * follows the plan the parent built (spawn.c), in the order each step
 * below justifies, and reports a failure as {stage, errno} through the
 * CLOEXEC error pipe.
 *
 * On the vfork path the child shares the parent's memory and runs on a
 * borrowed stack (spawn.c says why): raw system calls only, no libc
 * function that keeps state or may go through a PLT slot, nothing
 * written that the parent reads. Everything in this file keeps to that.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "linux/os.h"
#include "spawn.h"

extern char **environ;

/* Where the child failed (for debugging: only errno reaches the caller). */
enum stage {
  STAGE_UNSHARE = 1,
  STAGE_SETSID,
  STAGE_SETPGID,
  STAGE_PDEATHSIG,
  STAGE_SETGROUPS,
  STAGE_SETGID,
  STAGE_SETUID,
  STAGE_CHDIR,
  STAGE_DUP,
  STAGE_CLOEXEC,
  STAGE_SIGMASK,
  STAGE_EXEC
};

/* ---- the child: raw system calls only ---------------------------- */

/* libc's wrappers may keep state (setuid broadcasts to every thread of
 * the parent, sigaction may be intercepted by sanitizers); in a child that
 * shares the parent's memory only the raw calls are safe. errno is the
 * parent thread's, which is asleep and does not read it. */
#define SYS(...) syscall(__VA_ARGS__)

/* The child runs on a borrowed stack, which AddressSanitizer's stack
 * bookkeeping (e.g. before a noreturn call) does not know: keep its
 * instrumentation out of the child's functions. */
#if defined(__has_attribute)
#if __has_attribute(no_sanitize_address)
#define CHILD_FN __attribute__((no_sanitize_address))
#endif
#endif
#ifndef CHILD_FN
#define CHILD_FN
#endif

CHILD_FN __attribute__((noreturn)) static void child_fail(const struct plan *p,
                                                 int stage) {
  int msg[2] = {stage, errno};
  const char *b = (const char *)msg;
  size_t left = sizeof msg;
  while (left > 0) {
    long n = SYS(SYS_write, p->errfd, b, left);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    b += n;
    left -= (size_t)n;
  }
  SYS(SYS_exit_group, 127);
  __builtin_unreachable();
}

/* Mark [lo, hi] close-on-exec (hi may be ~0u). */
/* Where an old kernel's walk of the fd table ends: the soft
 * RLIMIT_NOFILE (INT_MAX for none). */
CHILD_FN static int child_fd_top(unsigned *top) {
  struct rlimit rl;
  if (SYS(SYS_getrlimit, RLIMIT_NOFILE, &rl) < 0)
    return -1;
  *top = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT_MAX ? INT_MAX
                                                               : (unsigned)rl.rlim_cur;
  return 0;
}

CHILD_FN static int child_cloexec_range(unsigned lo, unsigned hi) {
  if (lo > hi)
    return 0;
  if (herd__os_cloexec_range(lo, hi) == 0)
    return 0;
  /* Old kernel: walk the table up to the soft limit. */
  unsigned top;
  if (child_fd_top(&top) < 0)
    return -1;
  if (hi >= top)
    hi = top - 1;
  for (unsigned fd = lo; fd <= hi && fd < top; fd++) {
    long fl = SYS(SYS_fcntl, fd, F_GETFD);
    if (fl >= 0 && !(fl & FD_CLOEXEC))
      SYS(SYS_fcntl, fd, F_SETFD, fl | FD_CLOEXEC);
  }
  return 0;
}

/* The fds [lo, hi] go: close-on-exec for an exec, closed now for a
 * function child (herd__spawn_fn) but for the error pipe. */
CHILD_FN static int child_fds_go(const struct plan *p, unsigned lo, unsigned hi) {
  if (!p->fn)
    return child_cloexec_range(lo, hi);
  unsigned e = (unsigned)p->errfd;
  if (lo <= e && e <= hi) {
    if (e > lo && child_fds_go(p, lo, e - 1) < 0)
      return -1;
    return e < hi ? child_fds_go(p, e + 1, hi) : 0;
  }
  if (lo > hi || herd__os_close_range(lo, hi) == 0)
    return 0;
  /* Old kernel: close what the soft limit allows, one by one. */
  unsigned top;
  if (child_fd_top(&top) < 0)
    return -1;
  for (unsigned fd = lo; fd <= hi && fd < top; fd++)
    SYS(SYS_close, fd);
  return 0;
}

/* String helpers of our own: a libc call from the child could go through
 * a lazily bound PLT slot or a sanitizer's interceptor. volatile keeps the
 * compiler from turning the loops back into library calls. */
CHILD_FN static size_t c_strlen(const char *s) {
  const volatile char *p = s;
  while (*p)
    p++;
  return (size_t)(p - s);
}

CHILD_FN static const char *c_colon(const char *s) {
  const volatile char *p = s;
  while (*p && *p != ':')
    p++;
  return *p ? (const char *)p : NULL;
}

CHILD_FN static void c_copy(char *dst, const char *src, size_t n) {
  volatile char *d = dst;
  for (size_t i = 0; i < n; i++)
    d[i] = src[i];
}

CHILD_FN static void child_exec(const struct plan *p) {
  if (!p->search) {
    SYS(SYS_execve, p->file, p->argv, p->envp);
    return;
  }
  /* execvp's search, without malloc: a buffer on the child's stack. */
  char buf[PATH_MAX];
  size_t flen = c_strlen(p->file);
  int saw_eacces = 0;
  const char *s = p->path;
  for (;;) {
    const char *e = c_colon(s);
    size_t dlen = e ? (size_t)(e - s) : c_strlen(s);
    if (dlen + 1 + flen + 1 <= sizeof buf) {
      size_t n = 0;
      if (dlen == 0) {
        buf[n++] = '.'; /* an empty entry means the cwd */
      } else {
        c_copy(buf, s, dlen);
        n = dlen;
      }
      buf[n++] = '/';
      c_copy(buf + n, p->file, flen + 1);
      SYS(SYS_execve, buf, p->argv, p->envp);
      switch (errno) {
      case EACCES:
        saw_eacces = 1;
        break;
      case ENOENT:
      case ENOTDIR:
      case ESTALE:
      case ENODEV:
      case ETIMEDOUT:
      case ELOOP:
      case ENAMETOOLONG:
        break;
      default:
        return; /* a real error: report it */
      }
    }
    if (!e)
      break;
    s = e + 1;
  }
  errno = saw_eacces ? EACCES : ENOENT;
}

CHILD_FN int herd__spawn_child(void *arg) {
  const struct plan *p = arg;

  /* Dispositions first, while every signal is still blocked: a handler
   * of the parent must never run on the child's stack. */
  struct {
    void *handler;
    unsigned long flags;
    void *restorer;
    uint64_t mask;
  } dfl = {0}; /* SIG_DFL == 0; layout of the kernel's struct sigaction */
  for (int sig = 1; sig < _NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP)
      continue;
    SYS(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
  }
  /* A table of our own before any fd is touched: until now the parent's
   * other threads share it. */
  if (p->fdtop && herd__os_unshare_fds(p->fdtop) < 0)
    child_fail(p, STAGE_UNSHARE);

  if ((p->flags & HERD_SPAWN_SETSID) && SYS(SYS_setsid) < 0)
    child_fail(p, STAGE_SETSID);
  if ((p->flags & HERD_SPAWN_SETPGID) && !(p->flags & HERD_SPAWN_SETSID) &&
      SYS(SYS_setpgid, 0, 0) < 0)
    child_fail(p, STAGE_SETPGID);
  /* The cwd before the uid change, as libuv: a directory only the parent
   * may enter is still a valid cwd. */
  if (p->cwd && SYS(SYS_chdir, p->cwd) < 0)
    child_fail(p, STAGE_CHDIR);
  if (p->flags & HERD_SPAWN_UMASK)
    (void)SYS(SYS_umask, p->umask); /* cannot fail */
  if (p->flags & (HERD_SPAWN_SETUID | HERD_SPAWN_SETGID)) {
    /* Drop supplementary groups when we may (root); an unprivileged
     * caller keeps them, as setgroups would fail with EPERM. */
    if (SYS(SYS_geteuid) == 0) {
      gid_t g = p->gid;
      if (SYS(SYS_setgroups, (p->flags & HERD_SPAWN_SETGID) ? 1 : 0, &g) < 0)
        child_fail(p, STAGE_SETGROUPS);
    }
    if ((p->flags & HERD_SPAWN_SETGID) && SYS(SYS_setgid, p->gid) < 0)
      child_fail(p, STAGE_SETGID);
    if ((p->flags & HERD_SPAWN_SETUID) && SYS(SYS_setuid, p->uid) < 0)
      child_fail(p, STAGE_SETUID);
  }
  /* After the uid change: the kernel clears the parent-death signal
   * when the credentials change. */
  if (p->pdeathsig) {
    if (SYS(SYS_prctl, PR_SET_PDEATHSIG, p->pdeathsig, 0, 0, 0) < 0)
      child_fail(p, STAGE_PDEATHSIG);
    /* The parent may have died before the prctl: then no signal comes. */
    if (SYS(SYS_getppid) != p->parent) {
      errno = ESRCH;
      child_fail(p, STAGE_PDEATHSIG);
    }
  }
  if (p->lift) {
    /* Some source is another pair's target: lift every source above
     * every target first, so that no dup can clobber a source a later
     * pair still needs. The copies are CLOEXEC and vanish at exec. */
    for (int i = 0; i < p->npairs; i++) {
      long fd = SYS(SYS_fcntl, p->pairs[i].src, F_DUPFD_CLOEXEC, p->tmpbase);
      if (fd < 0)
        child_fail(p, STAGE_DUP);
      p->pairs[i].tmp = (int)fd;
    }
  }
  for (int i = 0; i < p->npairs; i++) {
    int src = p->lift ? p->pairs[i].tmp : p->pairs[i].src;
    int dst = p->pairs[i].dst;
    long r = src == dst ? SYS(SYS_fcntl, dst, F_SETFD, 0) /* keep it open */
                        : SYS(SYS_dup3, src, dst, 0); /* dup3: no CLOEXEC */
    if (r < 0)
      child_fail(p, STAGE_DUP);
  }
  /* Everything else, CLOEXEC or not, closes at exec - or now, for a
   * function that runs without one (all but the error pipe, which goes
   * last: it says that the set-up went well). */
  unsigned lo = 0;
  for (int i = 0; i < p->npairs; i++) {
    unsigned d = (unsigned)p->pairs[i].dst;
    if (d > lo && child_fds_go(p, lo, d - 1) < 0)
      child_fail(p, STAGE_CLOEXEC);
    lo = d + 1;
  }
  if (child_fds_go(p, lo, ~0u) < 0)
    child_fail(p, STAGE_CLOEXEC);

  if (p->lpid) {
    /* Only the child knows its pid: write it into its own env entry
     * (a buffer reserved for this child; the parent never reads it). */
    char digits[16];
    int n = 0;
    for (long v = SYS(SYS_getpid); v > 0 && n < 16; v /= 10)
      digits[n++] = (char)('0' + v % 10);
    char *d = p->lpid + 11; /* after "LISTEN_PID=" */
    while (n > 0)
      *d++ = digits[--n];
    *d = '\0';
  }

  uint64_t empty = 0;
  if (SYS(SYS_rt_sigprocmask, SIG_SETMASK, &empty, NULL, sizeof empty) < 0)
    child_fail(p, STAGE_SIGMASK);

  if (p->fn) {
    /* A forked copy (never the vfork path): from here it is a process
     * of its own, running the caller's function */
    environ = (char **)p->envp;
    SYS(SYS_close, p->errfd); /* EOF: the set-up went well */
    int r = p->fn(p->fn_arg);
    fflush(NULL);
    SYS(SYS_exit_group, r & 0xff);
  }
  child_exec(p);
  child_fail(p, STAGE_EXEC);
}
