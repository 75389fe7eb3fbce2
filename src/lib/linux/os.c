/* os.c - Linux: clone/fork with a pidfd, close_range, pidfd signals. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../internal.h"
#include "os.h"

/* glibc's <unistd.h> has it (2.34+), musl's does not: the kernel's value
 * (linux/close_range.h, a header musl-gcc does not see) */
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif

/* The vfork child's stack. The parent is asleep until the child execs
 * or exits, so a buffer in this frame is free for it; 32 KiB holds the
 * PATH search buffer (PATH_MAX) and the sanitizers' larger frames. */
#define CHILD_STACK 32768

static int launch_fast(int (*fn)(void *), void *arg, int share_fds, pid_t *pid,
                       int *pidfd) {
  _Alignas(64) char stack[CHILD_STACK];
  int fd = -1;
  /* CLONE_PIDFD puts the new pidfd (CLOEXEC) into the parent_tid slot. */
  pid_t r = clone(fn, stack + sizeof stack,
                  CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD |
                      (share_fds ? CLONE_FILES : 0),
                  arg, &fd);
  if (r < 0)
    return -errno;
  *pid = r;
  *pidfd = fd;
  return 0;
}

static int launch_fork(int (*fn)(void *), void *arg, pid_t *pid,
                       int *pidfd) {
  pid_t r = fork();
  if (r < 0)
    return -errno;
  if (r == 0)
    _exit(fn(arg)); /* fn never returns */
  int fd = herd__os_pidfd_open(r);
  if (fd < 0) {
    /* Without a pidfd we cannot hand the child out safely. */
    int err = fd;
    (void)kill(r, SIGKILL);
    herd_child_t tmp = {.pid = r, .pidfd = -1};
    (void)herd__reap(&tmp, 0);
    return err;
  }
  *pid = r;
  *pidfd = fd;
  return 0;
}

int herd__os_launch(int (*fn)(void *), void *arg, int how, pid_t *pid,
                    int *pidfd) {
  sigset_t all, old;
  sigfillset(&all);
  int e = pthread_sigmask(SIG_SETMASK, &all, &old);
  if (e != 0)
    return -e;
  int r = how == HERD__LAUNCH_FORK
              ? launch_fork(fn, arg, pid, pidfd)
              : launch_fast(fn, arg, how == HERD__LAUNCH_VFORK_FDS, pid, pidfd);
  e = pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (e != 0 && r == 0) {
    /* Cannot happen with a mask we just read back; never leave a child. */
    (void)herd__os_pidfd_kill(*pidfd, SIGKILL);
    herd_child_t tmp = {.pid = *pid, .pidfd = *pidfd};
    (void)herd__reap(&tmp, 0);
    herd__closep(pidfd);
    return -e;
  }
  return r;
}

int herd__os_cloexec_range(unsigned lo, unsigned hi) {
  return (int)syscall(SYS_close_range, lo, hi, CLOSE_RANGE_CLOEXEC);
}

int herd__os_close_range(unsigned lo, unsigned hi) {
  return (int)syscall(SYS_close_range, lo, hi, 0);
}

static int unshare_known; /* 0: not probed; 1: yes; -1: no */

int herd__os_unshare_ok(void) {
  int k = __atomic_load_n(&unshare_known, __ATOMIC_RELAXED);
  if (k == 0) {
    /* A range that ends before it starts: EINVAL from a kernel that
     * knows the call and its flag, before it looks at either; ENOSYS
     * (before 5.9) or EPERM (a seccomp filter) otherwise. Nothing is
     * unshared or closed. */
    int saved = errno;
    long r = syscall(SYS_close_range, 1u, 0u, CLOSE_RANGE_UNSHARE);
    k = r < 0 && errno == EINVAL ? 1 : -1;
    errno = saved;
    /* valgrind runs only the clones of fork, vfork and threads, and
     * ends the program at any other; its preload says it is there */
    const char *pre = getenv("LD_PRELOAD");
    if (pre && strstr(pre, "vgpreload"))
      k = -1;
    __atomic_store_n(&unshare_known, k, __ATOMIC_RELAXED);
  }
  return k > 0;
}

void herd__os_unshare_off(void) {
  __atomic_store_n(&unshare_known, -1, __ATOMIC_RELAXED);
}

int herd__os_unshare_fds(unsigned top) {
  /* The kernel copies only the fds below top when the range to close
   * runs past the last open one (fs/file.c, __close_range). */
  if (syscall(SYS_close_range, top, ~0u, CLOSE_RANGE_UNSHARE) == 0)
    return 0;
  return syscall(SYS_unshare, CLONE_FILES) == 0 ? 0 : -1;
}

int herd__os_pidfd_kill(int pidfd, int sig) {
  if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
    return -errno;
  return 0;
}

int herd__os_pidfd_open(pid_t pid) {
  long fd = syscall(SYS_pidfd_open, pid, 0);
  return fd < 0 ? -errno : (int)fd;
}
