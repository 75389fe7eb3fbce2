/*
 * fork.c - children with a message channel: herd_fork (any program, as
 * Node's child_process.fork) and herd_fork_fn (a function in a forked
 * copy of this process).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"
#include "linux/os.h"

int herd_fork(herd_child_t *child, herd_chan_t **chan, const char *file,
              char *const argv[], const herd_spawn_opts_t *opts) {
  static const herd_spawn_opts_t defaults;
  if (!child || !chan)
    return -EINVAL;
  *chan = NULL;
  if (!opts)
    opts = &defaults;
  if (opts->nfds > 1024 || (opts->nfds && !opts->fds))
    return -EINVAL;

  /* The channel's number in the child: 3, or the first one free. */
  int cfd = 3;
  for (int again = 1; again;) {
    again = 0;
    for (size_t i = 0; i < opts->nfds; i++)
      if (opts->fds[i].child_fd == cfd) {
        cfd++;
        again = 1;
      }
  }
  char fdvar[40];
  snprintf(fdvar, sizeof fdvar, "NODE_CHANNEL_FD=%d", cfd);

  size_t nenv = 0;
  if (opts->env_mode != HERD_ENV_INHERIT)
    for (const char *const *e = opts->env; e && *e; e++)
      nenv++;
  const char **env = calloc(nenv + 3, sizeof *env);
  herd_fdmap_t *fds = calloc(opts->nfds + 1, sizeof *fds);
  int sv[2] = {-1, -1};
  int r = 0;
  if (!env || !fds) {
    r = -ENOMEM;
    goto out;
  }
  size_t k = 0;
  for (size_t i = 0; i < nenv; i++) {
    /* The channel's own variables are ours to set: a caller's (say,
     * copied from our own environment) would come first and win. */
    const char *e = opts->env[i];
    if (!strncmp(e, "NODE_CHANNEL_FD=", 16) || !strcmp(e, "NODE_CHANNEL_FD") ||
        !strncmp(e, "NODE_CHANNEL_SERIALIZATION_MODE=", 32) ||
        !strcmp(e, "NODE_CHANNEL_SERIALIZATION_MODE"))
      continue;
    env[k++] = e;
  }
  env[k] = fdvar;
  int advanced = (opts->flags & HERD_FORK_ADVANCED) != 0;
  env[k + 1] = advanced ? "NODE_CHANNEL_SERIALIZATION_MODE=advanced"
                        : "NODE_CHANNEL_SERIALIZATION_MODE=json";
  if (opts->nfds)
    memcpy(fds, opts->fds, opts->nfds * sizeof *fds);
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
    r = -errno;
    goto out;
  }
  fds[opts->nfds] = (herd_fdmap_t){sv[1], cfd};

  herd_spawn_opts_t o = *opts;
  o.env = env;
  o.env_mode = opts->env_mode == HERD_ENV_INHERIT ? HERD_ENV_ADD : opts->env_mode;
  o.fds = fds;
  o.nfds = opts->nfds + 1;
  o.flags &= ~HERD_FORK_ADVANCED; /* ours, not herd_spawn's */
  r = herd_spawn(child, file, argv, &o);
  herd__closep(&sv[1]);
  if (r < 0)
    goto out;
  herd_chan_opts_t co = {.flags = advanced ? HERD_CHAN_ADVANCED : 0};
  r = herd_chan_open(chan, sv[0], &co);
  sv[0] = -1; /* taken */
  if (r < 0)
    herd_child_close(child); /* kills and reaps: no child without a channel */
out:
  herd__close(sv[0]);
  herd__close(sv[1]);
  free(env);
  free(fds);
  return r;
}

struct fork_fn_arg {
  int (*fn)(herd_chan_t *, void *);
  void *arg;
  int keep;  /* the child's end */
  int drop;  /* the parent's end */
  sigset_t mask;
};

/* In the forked child: never returns. */
static int fork_fn_child(void *p) {
  struct fork_fn_arg *a = p;
  /* A fresh signal mask: the parent's loop blocks the signals it reads
   * through signalfd, and a child that kept them blocked could not be
   * stopped with herd_child_kill(SIGTERM). */
  sigemptyset(&a->mask);
  (void)pthread_sigmask(SIG_SETMASK, &a->mask, NULL);
  herd__close(a->drop);
  herd_chan_t *ch = NULL;
  int status = 127;
  if (herd_chan_open(&ch, a->keep, NULL) == 0) {
    status = a->fn(ch, a->arg) & 0xff;
    /* As a Node child that ends naturally: queued messages go out first
     * (a peer that is gone ends the wait with EPIPE). */
    (void)herd_chan_flush_wait(ch, -1);
    herd_chan_close(ch);
  }
  fflush(NULL);
  _exit(status);
}

int herd_fork_fn(herd_child_t *child, herd_chan_t **chan,
                 int (*fn)(herd_chan_t *ch, void *arg), void *arg) {
  if (!child || !chan || !fn)
    return -EINVAL;
  *chan = NULL;
  memset(child, 0, sizeof *child);
  child->pid = -1;
  child->pidfd = -1;
  child->stdio[0] = child->stdio[1] = child->stdio[2] = -1;
  child->exit_code = -1;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    return -errno;
  struct fork_fn_arg a = {.fn = fn, .arg = arg, .keep = sv[1], .drop = sv[0]};
  fflush(NULL); /* or buffered output would be written twice */
  int r = herd__os_launch(fork_fn_child, &a, HERD__LAUNCH_FORK, &child->pid, &child->pidfd);
  herd__close(sv[1]);
  if (r < 0) {
    herd__close(sv[0]);
    return r;
  }
  r = herd_chan_open(chan, sv[0], NULL);
  if (r < 0)
    herd_child_close(child);
  return r;
}
