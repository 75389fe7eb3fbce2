/* os.h - the raw system calls of spawning (clone with CLONE_VFORK and
 * CLONE_PIDFD, close_range, pidfds), wrapped so that the vfork child's
 * code calls no libc. libherd is a Linux library: the loop (epoll,
 * timerfd, signalfd), the cluster (pidfds, PR_SET_CHILD_SUBREAPER,
 * SO_REUSEPORT steering with BPF), proc.c (/proc) and others use Linux
 * interfaces directly; this seam is not a porting layer. */
#ifndef HERD_OS_H
#define HERD_OS_H

#include <sys/types.h>

/* Start a child running fn(arg) and return its pid and a CLOEXEC pidfd.
 * fast != 0: a vfork-style clone sharing the parent's memory (the caller
 * sleeps until the child execs or exits; fn must follow the rules in
 * spawn.c). fast == 0: fork(). All signals are blocked in the calling
 * thread around the call. Returns 0 or -errno (no child is left on
 * failure). */
int herd__os_launch(int (*fn)(void *), void *arg, int fast, pid_t *pid,
                    int *pidfd);

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
