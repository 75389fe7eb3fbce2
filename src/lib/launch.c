/*
 * launch.c - starting a worker: its environment and fd plan, the same
 * for a program exec'd (herd_spawn) and for worker_main in a forked copy
 * of the master (herd__spawn_fn, spawn.c's plan without the exec). One
 * plan, so the two cannot drift (the forked path once cut LISTEN_FDNAMES
 * short at 22 sockets):
 *
 *   fds 3..3+n-1   the listening sockets (none in roundrobin mode)
 *   fd 3+n         the channel, with HERD_CLUSTER_IPC (roundrobin too)
 *   stdin          /dev/null (exec'd) or the master's (forked)
 *   stdout/stderr  pipes to the master (HERD_CLUSTER_PIPE_OUTPUT)
 *   env            the slot's (worker_env), the caller's (spawn.env)
 *                  but for the names the slot's has, then LISTEN_FDS, LISTEN_PID (the
 *                  worker's own), LISTEN_FDNAMES (listen0:listen1:...),
 *                  NOTIFY_SOCKET, HERD_WORKER_ID; NODE_CHANNEL_FD and
 *                  NODE_CHANNEL_SERIALIZATION_MODE=json with a channel
 *   group          its own process group (the master's Ctrl-C stays the
 *                  master's; SIGKILL at the kill timeout takes what it
 *                  started), PR_SET_PDEATHSIG=SIGKILL
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sup.h"

/* How many listening fds a worker gets: none in roundrobin mode, where
 * the master accepts. */
static int worker_nfds(const herd_cluster_t *c) {
  return c->o.balance == HERD_BALANCE_ROUNDROBIN ? 0 : c->nlisten;
}

/* Where fds 3.. of a worker of this slot come from. */
static const int *slot_fds(const herd_cluster_t *c, int slot) {
  if (c->o.balance == HERD_BALANCE_REUSEPORT && c->slots[slot]->rp_fds)
    return c->slots[slot]->rp_fds;
  return c->fds;
}

/* The protocol's variables are herd's to set: a caller's entry (with or
 * without a value) would come first and win. */
static int ours(const char *e) {
  static const char *const names[] = {"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
                                      "NOTIFY_SOCKET", "HERD_WORKER_ID", "NODE_CHANNEL_FD",
                                      "NODE_CHANNEL_SERIALIZATION_MODE", "NODE_UNIQUE_ID",
                                      "NODE_APP_INSTANCE", NULL};
  for (const char *const *v = names; *v; v++) {
    size_t n = strlen(*v);
    if (!strncmp(e, *v, n) && (e[n] == '=' || e[n] == '\0'))
      return 1;
  }
  return 0;
}

/* Does entry e ("K=V" or "K") name a variable that one of set has? */
static int named_in(const char *e, const char *const *set) {
  size_t n = strcspn(e, "=");
  for (; set && *set; set++)
    if (!strncmp(*set, e, n) && ((*set)[n] == '=' || (*set)[n] == '\0'))
      return 1;
  return 0;
}

/* The caller's entries for this worker, in env from k on: the slot's
 * (worker_env) first, then spawn.env's but those the slot's override,
 * none of herd's own (launch__worker adds them after), none without a
 * name. Returns the new k. */
static size_t user_env(const herd_cluster_t *c, const char *const *slot_env, const char **env,
                       size_t k) {
  int replace = c->o.spawn.env_mode == HERD_ENV_REPLACE;
  for (const char *const *e = slot_env; e && *e; e++)
    if (**e && **e != '=' && !ours(*e) && (!replace || strchr(*e, '=')))
      env[k++] = *e; /* (an unset in a replaced environment: nothing) */
  if (c->o.spawn.env_mode == HERD_ENV_INHERIT)
    return k;
  for (const char *const *e = c->o.spawn.env; e && *e; e++)
    if (!ours(*e) && !named_in(*e, slot_env))
      env[k++] = *e;
  return k;
}

/* herd's own variables of a worker, in env from k on (their texts in v
 * and names, which must live until the spawn). Returns the new k. */
struct own_vars {
  char fds[32], id[32], notify[160], chan[40], inst[40], node[40];
};

static size_t own_env(herd_cluster_t *c, struct worker *w, struct own_vars *v, char *names,
                      size_t nameslen, int ipc, const char **env, size_t k) {
  int nfds = worker_nfds(c);
  /* an unset ("K") means something only over an inherited environment;
   * a replaced one would hand it to execve as it is */
  int replace = c->o.spawn.env_mode == HERD_ENV_REPLACE;
  snprintf(v->fds, sizeof v->fds, "LISTEN_FDS=%d", nfds);
  snprintf(v->id, sizeof v->id, "HERD_WORKER_ID=%d", w->slot);
  snprintf(v->notify, sizeof v->notify, "NOTIFY_SOCKET=%s", c->notify_name);
  size_t nl = (size_t)snprintf(names, nameslen, "LISTEN_FDNAMES=");
  for (int i = 0; i < nfds; i++)
    nl += (size_t)snprintf(names + nl, nameslen - nl, "%slisten%d", i ? ":" : "", i);
  snprintf(v->inst, sizeof v->inst, "NODE_APP_INSTANCE=%d", w->slot);
  env[k++] = v->fds;
  env[k++] = v->id;
  env[k++] = v->inst; /* PM2's name for the slot (the config package reads it) */
  if (node__on(c)) {
    /* Node's cluster.worker.id: this worker's, never given twice */
    w->node_id = ++c->node_ids;
    snprintf(v->node, sizeof v->node, "NODE_UNIQUE_ID=%u", w->node_id);
    env[k++] = v->node;
  } else if (!replace) {
    env[k++] = "NODE_UNIQUE_ID"; /* a cluster worker's master is not one */
  }
  env[k++] = v->notify;
  if (nfds)
    env[k++] = names;
  else if (!replace)
    env[k++] = "LISTEN_FDNAMES"; /* none: unset */
  if (ipc) {
    snprintf(v->chan, sizeof v->chan, "NODE_CHANNEL_FD=%d", 3 + nfds);
    env[k++] = v->chan;
    env[k++] = "NODE_CHANNEL_SERIALIZATION_MODE=json";
  } else if (!replace) {
    env[k++] = "NODE_CHANNEL_FD"; /* a master's own channel is not theirs */
    env[k++] = "NODE_CHANNEL_SERIALIZATION_MODE";
  }
  return k;
}

int launch__worker(herd_cluster_t *c, struct worker *w) {
  int nfds = worker_nfds(c);
  const int *fds = slot_fds(c, w->slot);
  int ipc = (c->o.flags & HERD_CLUSTER_IPC) != 0;
  int pipes[2][2] = {{-1, -1}, {-1, -1}}, sv[2] = {-1, -1};
  /* borrowed until this start is over */
  const char *const *slot_env = c->o.worker_env ? c->o.worker_env(c, w->slot, c->o.data) : NULL;
  size_t nuser = 0;
  for (const char *const *e = slot_env; e && *e; e++)
    nuser++;
  if (c->o.spawn.env_mode != HERD_ENV_INHERIT)
    for (const char *const *e = c->o.spawn.env; e && *e; e++)
      nuser++;
  const char **env = calloc(nuser + 10, sizeof *env);
  herd_fdmap_t *map = calloc((size_t)nfds + 1, sizeof *map);
  size_t nameslen = sizeof "LISTEN_FDNAMES=" + (size_t)nfds * 16;
  char *names = malloc(nameslen);
  int r = 0;
  if (!env || !map || !names) {
    r = -ENOMEM;
    goto out;
  }
  if (c->o.flags & HERD_CLUSTER_PIPE_OUTPUT) {
    for (int i = 0; i < 2; i++) {
      if (pipe2(pipes[i], O_CLOEXEC) < 0) {
        r = -errno;
        goto out;
      }
      /* A bigger pipe (as much as an unprivileged process may ask for,
       * 1 MiB by default): a worker that writes fast switches out less
       * often, and the master reads more per wakeup. A refusal only
       * costs speed. */
      (void)fcntl(pipes[i][0], F_SETPIPE_SZ, 1 << 20);
    }
  }
  if (ipc && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
    r = -errno;
    goto out;
  }
  struct own_vars v;
  size_t k = user_env(c, slot_env, env, 0);
  k = own_env(c, w, &v, names, nameslen, ipc, env, k);
  env[k] = NULL;
  for (int i = 0; i < nfds; i++)
    map[i] = (herd_fdmap_t){fds[i], 3 + i};
  if (ipc)
    map[nfds] = (herd_fdmap_t){sv[1], 3 + nfds};

  herd_spawn_opts_t so = c->o.spawn;
  so.env = env;
  so.env_mode = so.env_mode == HERD_ENV_REPLACE ? HERD_ENV_REPLACE : HERD_ENV_ADD;
  so.fds = map;
  so.nfds = (size_t)nfds + (size_t)ipc;
  so.flags |= HERD_SPAWN_LISTEN_PID;
  if (!(so.flags & HERD_SPAWN_SETSID))
    so.flags |= HERD_SPAWN_SETPGID;
  so.pdeathsig = SIGKILL;
  so.stdio[0].kind = c->worker_main ? HERD_STDIO_INHERIT : HERD_STDIO_IGNORE;
  for (int i = 0; i < 2; i++)
    so.stdio[i + 1] = pipes[i][1] >= 0 ? (herd_stdio_t){HERD_STDIO_FD, pipes[i][1]}
                                       : (herd_stdio_t){HERD_STDIO_INHERIT, 0};
  herd_child_t child;
  if (c->worker_main) {
    fflush(NULL); /* what is buffered would be written twice */
    r = herd__spawn_fn(&child, c->worker_main, c->arg, &so);
  } else {
    r = herd_spawn(&child, c->o.file, c->o.argv, &so);
  }
  if (r < 0)
    goto out;
  /* What the master keeps of a worker goes high (herd__fd_high): the
   * numbers below stay free for the next spawn, whose child then copies
   * a few fds, not three per worker. */
  w->pid = child.pid;
  w->pidfd = herd__fd_high(child.pidfd);
  for (int i = 0; i < 2; i++) {
    w->out[i].fd = herd__fd_high(pipes[i][0]);
    pipes[i][0] = -1;
  }
  if (ipc) {
    int fd = herd__fd_high(sv[0]);
    sv[0] = -1;
    if (herd_chan_open(&w->chan, fd, NULL) < 0)
      w->chan = NULL; /* it was closed: the worker sees its channel end */
  }
out:
  for (int i = 0; i < 2; i++) {
    herd__close(pipes[i][0]);
    herd__close(pipes[i][1]);
    herd__close(sv[i]);
  }
  free(env);
  free(map);
  free(names);
  return r;
}
