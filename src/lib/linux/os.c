/* os.c - Linux: clone/fork with a pidfd, close_range, pidfd signals. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
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

/* The vfork child's stack. The parent is asleep until the child execs
 * or exits, so a buffer in this frame is free for it; 32 KiB holds the
 * PATH search buffer (PATH_MAX) and the sanitizers' larger frames. */
#define CHILD_STACK 32768

static int launch_fast(int (*fn)(void *), void *arg, pid_t *pid,
                       int *pidfd) {
  _Alignas(64) char stack[CHILD_STACK];
  int fd = -1;
  /* CLONE_PIDFD puts the new pidfd (CLOEXEC) into the parent_tid slot. */
  pid_t r = clone(fn, stack + sizeof stack,
                  CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, arg, &fd);
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

int herd__os_launch(int (*fn)(void *), void *arg, int fast, pid_t *pid,
                    int *pidfd) {
  sigset_t all, old;
  sigfillset(&all);
  int e = pthread_sigmask(SIG_SETMASK, &all, &old);
  if (e != 0)
    return -e;
  int r = fast ? launch_fast(fn, arg, pid, pidfd)
               : launch_fork(fn, arg, pid, pidfd);
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

int herd__os_pidfd_kill(int pidfd, int sig) {
  if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
    return -errno;
  return 0;
}

int herd__os_pidfd_open(pid_t pid) {
  long fd = syscall(SYS_pidfd_open, pid, 0);
  return fd < 0 ? -errno : (int)fd;
}
