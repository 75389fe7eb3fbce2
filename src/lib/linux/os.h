/* os.h - the raw system calls of spawning (clone with CLONE_VFORK and
 * CLONE_PIDFD, close_range, pidfds), wrapped so that the vfork child's
 * code calls no libc. libherd is a Linux library: the loop (epoll,
 * timerfd, signalfd), the cluster (pidfds, PR_SET_CHILD_SUBREAPER,
 * SO_REUSEPORT steering with BPF), proc.c (/proc) and others use Linux
 * interfaces directly; this seam is not a porting layer. */
#ifndef HERD_OS_H
#define HERD_OS_H

#include <sys/types.h>

/* How herd__os_launch starts a child. */
enum {
  HERD__LAUNCH_FORK,  /* fork() */
  HERD__LAUNCH_VFORK, /* a vfork-style clone sharing the parent's memory:
                       * the caller sleeps until the child execs or exits;
                       * fn must follow the rules in spawnchild.c */
  HERD__LAUNCH_VFORK_FDS /* ... and the parent's fd table too, until the
                          * child's herd__os_unshare_fds, which must come
                          * before it touches any fd */
};

/* Start a child running fn(arg), the HERD__LAUNCH_ way how, and return
 * its pid and a CLOEXEC pidfd. All signals are blocked in the calling
 * thread around the call. Returns 0 or -errno (no child is left on
 * failure). */
int herd__os_launch(int (*fn)(void *), void *arg, int how, pid_t *pid,
                    int *pidfd);

/* Whether HERD__LAUNCH_VFORK_FDS may be used: this kernel (and any
 * seccomp filter over us) has close_range(CLOSE_RANGE_UNSHARE), and we
 * do not run under valgrind, which ends a program at a clone it does not
 * know; probed once: 1 or 0. herd__os_unshare_off: not any more (the
 * clone was refused: an emulator's, say). */
int herd__os_unshare_ok(void);
void herd__os_unshare_off(void);

/* In a child started with HERD__LAUNCH_VFORK_FDS: a fd table of its own
 * with only the fds below top (a copy of top entries, where a clone
 * copies every open fd of the parent's: thousands, for a master of
 * thousands of workers). Falls back to a copy of the whole table. Raw
 * system calls. Returns 0, or -1 with errno set. */
int herd__os_unshare_fds(unsigned top);

/* Mark fds [lo, hi] close-on-exec. Raw system call, safe in a vfork
 * child. Returns 0, or -1 with errno set (ENOSYS/EINVAL on old kernels). */
int herd__os_cloexec_range(unsigned lo, unsigned hi);

/* Close fds [lo, hi] (close_range). Raw system call. Returns 0, or -1
 * with errno set (ENOSYS on old kernels). */
int herd__os_close_range(unsigned lo, unsigned hi);

/* Send sig through a pidfd. Returns 0 or -errno. */
int herd__os_pidfd_kill(int pidfd, int sig);

/* Open a pidfd (CLOEXEC) for a child of ours. Returns the fd or -errno. */
int herd__os_pidfd_open(pid_t pid);

#endif
