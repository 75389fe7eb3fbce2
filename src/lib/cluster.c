/*
 * cluster.c - the master: a pool of workers sharing listening sockets,
 * restarted when they die, reloaded slot by slot, stopped gracefully.
 * The herd program and herd_cluster_run users share this one engine.
 * This file is its public face: set-up, the loop, teardown, steering and
 * the views (workers, stats); the rest is in the files sup.h lists, the
 * state machine in sup.c.
 *
 * Every event comes from one loop: signalfd (CHLD, TERM, INT, QUIT, HUP,
 * TTIN, TTOU, USR1), the notify socket, worker output pipes and
 * channels, the listening sockets (roundrobin accepts; otherwise only the
 * accept-queue watch), timers. An idle master sleeps in epoll_wait.
 *
 * Children are reaped with waitpid(-1) on SIGCHLD (the master owns all
 * its children, and as PID 1 or the child subreaper it must reap orphans
 * too); pidfds are kept to signal workers without ever hitting a recycled
 * pid.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "linux/os.h"
#include "sup.h"

void herd_cluster_opts_init(herd_cluster_opts_t *opts) {
  static const herd_cluster_opts_t init = HERD_CLUSTER_OPTS_INIT;
  *opts = init;
}

/* ---- events from the kernel ------------------------------------------ */

static void reap_all(herd_cluster_t *c) {
  for (;;) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    /* Look first, reap after: while a worker is an unreaped zombie its
     * pid - its process group's id - cannot be reused, so what it left
     * running in its group (as systemd's KillMode=mixed) can be killed
     * without any chance of hitting a stranger. */
    if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
      if (errno == EINTR)
        continue;
      break; /* ECHILD: no children */
    }
    if (si.si_pid == 0)
      break; /* none left to reap now */
    pid_t pid = si.si_pid;
    struct worker *w = sup__find_pid(c, pid);
    if (w)
      (void)kill(-pid, SIGKILL);
    int status = 0;
    (void)herd__waitpid(pid, &status);
    struct orphan *o = w ? NULL : wio__find_orphan(c, pid);
    if (o) {
      /* what it started comes back to us now */
      wio__exited(c, o->slot, 0);
      wio__orphan_free(c, o);
    }
    if (w) {
      wio__exited(c, w->slot, pid);
      sup__worker_exited(c, w, status);
    }
    /* else: an orphan re-parented to us (PID 1, subreaper): reaped. */
  }
  /* stopping: what they left is stopped with the rest, now */
  if (c->state >= C_STOPPING)
    wio__look_now(c);
  sup__check_done(c);
}

static void signal_cb(herd_loop_t *loop, int sig, pid_t from, void *data) {
  (void)loop;
  (void)from;
  herd_cluster_t *c = data;
  switch (sig) {
  case SIGCHLD:
    reap_all(c);
    break;
  case SIGHUP:
    sup__reload(c);
    break;
  case SIGTTIN:
    sup__scale(c, c->want + 1);
    break;
  case SIGTTOU:
    sup__scale(c, c->want - 1); /* never below one: stop the app for none */
    break;
  case SIGUSR1:
    sup__emit(c, HERD_EV_SIGNAL, HERD_REASON_REOPEN, -1, 0, 0, sig, 0, 0, NULL);
    break;
  case SIGUSR2:
  case SIGWINCH:
  case SIGALRM:
    /* Not ours to act on, but not worth dying for either. */
    sup__emit(c, HERD_EV_SIGNAL, HERD_REASON_IGNORED, -1, 0, 0, sig, 0, 0, NULL);
    break;
  case SIGQUIT:
    sup__shutdown(c, 1, sig);
    break;
  default: /* TERM, INT */
    sup__shutdown(c, 0, sig);
    break;
  }
}

/* ---- set-up ---------------------------------------------------------- */

static int online_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

/* The spawn options that belong to one child's life, not to a slot's
 * workers: the cluster reaps and kills its workers itself. */
static int spawn_ok(const herd_spawn_opts_t *s) {
  return !s->shell && !s->timeout_ms && !s->kill_signal && !s->abort &&
         !(s->flags & (HERD_SPAWN_KILL_GROUP | HERD_FORK_ADVANCED));
}

static int opts_ok(const herd_cluster_opts_t *o, int (*worker_main)(void *)) {
  return o && o->abi == sizeof(herd_cluster_opts_t) && spawn_ok(&o->spawn) &&
         (worker_main || (o->file && o->argv)) && o->workers >= 0 &&
         o->workers <= HERD_MAX_WORKERS && o->ready_delay_ms >= 0 && o->settle_ms >= 0 &&
         o->ready_timeout_ms >= 0 && o->kill_timeout_ms >= 0 && o->max_restarts >= 1 &&
         o->restart_window_ms >= 0 && o->min_uptime_ms >= 0 && o->cooldown_ms >= 0 &&
         o->stop_signal > 0 && o->stop_signal < _NSIG &&
         o->balance >= HERD_BALANCE_SHARED && o->balance <= HERD_BALANCE_ROUNDROBIN &&
         o->ready >= HERD_READY_IMMEDIATE && o->ready <= HERD_READY_IPC &&
         /* Node's listen() asks for one socket, not one per slot; and
          * "listening" is a Node worker's message */
         !((o->flags & HERD_CLUSTER_NODE) && o->balance == HERD_BALANCE_REUSEPORT) &&
         !((o->flags & HERD_CLUSTER_STICKY) &&
           (!(o->flags & HERD_CLUSTER_NODE) || o->balance != HERD_BALANCE_ROUNDROBIN)) &&
         !(o->ready == HERD_READY_LISTENING && !(o->flags & HERD_CLUSTER_NODE)) &&
         !(o->nlisten_fds && o->listen && o->listen[0]) &&
         /* sockets we did not bind cannot be multiplied */
         !(o->nlisten_fds && o->balance == HERD_BALANCE_REUSEPORT);
}

/* Sockets given by the caller (systemd's): as they are, named for what
 * we say of them. */
static int take_sockets(herd_cluster_t *c) {
  c->nlisten = (int)c->o.nlisten_fds;
  c->fds = malloc((size_t)c->nlisten * sizeof *c->fds);
  c->texts = calloc((size_t)c->nlisten, sizeof *c->texts);
  if (!c->fds || !c->texts)
    return -ENOMEM;
  memcpy(c->fds, c->o.listen_fds, (size_t)c->nlisten * sizeof *c->fds);
  for (int i = 0; i < c->nlisten; i++) {
    herd_addr_t a;
    memset(&a, 0, sizeof a);
    a.len = sizeof a.ss;
    if (getsockname(c->fds[i], (struct sockaddr *)&a.ss, &a.len) == 0 &&
        (a.ss.ss_family == AF_INET || a.ss.ss_family == AF_INET6)) {
      a.family = a.ss.ss_family;
      herd__addr_format(&a);
      memcpy(c->texts[i], a.text, sizeof c->texts[i]);
    } else {
      snprintf(c->texts[i], sizeof c->texts[i], "the inherited socket %d", i);
    }
  }
  return 0;
}

/* Addresses to bind. */
static int bind_sockets(herd_cluster_t *c, int nspec) {
  c->nlisten = nspec;
  c->addrs = calloc((size_t)nspec, sizeof *c->addrs);
  c->fds = malloc((size_t)nspec * sizeof *c->fds);
  c->texts = calloc((size_t)nspec, sizeof *c->texts);
  if (!c->addrs || !c->fds || !c->texts)
    return -ENOMEM;
  for (int i = 0; i < nspec; i++)
    c->fds[i] = -1;
  c->own_fds = 1;
  for (int i = 0; i < nspec; i++) {
    herd_addr_t a;
    int r = herd_addr_parse(c->o.listen[i], &a);
    if (r < 0) {
      sup__emit(c, HERD_EV_ERROR, HERD_REASON_BIND_FAILED, -1, 0, r, 0, 0, 0,
                c->o.listen[i]);
      return r;
    }
    if (a.family == AF_UNIX && c->o.balance == HERD_BALANCE_REUSEPORT) {
      /* reuseport balancing needs TCP addresses */
      sup__emit(c, HERD_EV_ERROR, HERD_REASON_BIND_FAILED, -1, 0, -EAFNOSUPPORT, 0, 0, 0,
                a.text);
      return -EINVAL;
    }
    unsigned fl = c->o.balance == HERD_BALANCE_REUSEPORT ? HERD_LISTEN_REUSEPORT : 0;
    r = herd_listen_open(&a, 0, fl, &c->addrs[i]);
    if (r < 0) {
      sup__emit(c, HERD_EV_ERROR, HERD_REASON_BIND_FAILED, -1, 0, r, 0, 0, 0, a.text);
      return r;
    }
    c->fds[i] = r;
    memcpy(c->texts[i], c->addrs[i].text, sizeof c->texts[i]);
    sup__emit(c, HERD_EV_LISTEN, 0, -1, 0, 0, 0, 0, 0, c->addrs[i].text);
  }
  return 0;
}

static int setup(herd_cluster_t *c) {
  int r = 0, nspec = 0;
  for (const char *const *l = c->o.listen; l && *l; l++)
    nspec++;
  if (c->o.nlisten_fds)
    r = take_sockets(c);
  else if (nspec)
    r = bind_sockets(c, nspec);
  if (r < 0)
    return r;
  /* Inherited SIG_IGN for SIGCHLD would make the kernel reap workers
   * behind our back: the default, for as long as we run. */
  struct sigaction dfl = {.sa_handler = SIG_DFL};
  if (sigaction(SIGCHLD, &dfl, &c->old_chld) < 0)
    return -errno;
  c->chld_saved = 1;
  /* What a worker leaves behind when it daemonizes comes back to us,
   * not to init: told about, and ended at the stop */
  if (prctl(PR_GET_CHILD_SUBREAPER, &c->subreaper_was) < 0)
    c->subreaper_was = 0;
  if (!c->subreaper_was && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
    return -errno;
  if ((r = herd_loop_new(&c->loop)) < 0)
    return r;
  static const int sigs[] = {SIGCHLD, SIGTERM, SIGINT,   SIGQUIT, SIGHUP, SIGTTIN,
                             SIGTTOU, SIGUSR1, SIGUSR2, SIGWINCH, SIGALRM};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if ((r = herd_loop_signal(c->loop, sigs[i], signal_cb, c)) < 0)
      return r;
  if ((r = wio__open_notify(c)) < 0)
    return r;
  /* (Node's cluster: the sockets workers ask for are watched by node.c) */
  if (c->o.balance == HERD_BALANCE_ROUNDROBIN && !node__on(c) && (r = rr__watch(c)) < 0)
    return r;
  if (c->o.balance == HERD_BALANCE_REUSEPORT && c->nlisten) {
    c->migrates = herd__rp_migrates();
    c->rp_order = calloc((size_t)c->nlisten, sizeof *c->rp_order);
    c->rp_n = calloc((size_t)c->nlisten, sizeof *c->rp_n);
    if (!c->rp_order || !c->rp_n)
      return -ENOMEM;
    for (int i = 0; i < c->nlisten; i++)
      if (!(c->rp_order[i] = calloc(HERD_MAX_WORKERS, sizeof **c->rp_order)))
        return -ENOMEM;
  }
  /* Is anybody accepting? (roundrobin: we do; reuseport: per slot) */
  if (c->o.balance == HERD_BALANCE_SHARED && c->nlisten)
    c->lq = lq__watch(c, c->fds, c->nlisten, -1);
  return 0;
}

static void teardown(herd_cluster_t *c, int failed) {
  /* Could not start (or the loop failed): leave nothing running. After
   * a clean end no worker is left; were one, it would not outlive us
   * unreaped either. */
  for (struct worker *w = c->workers; w; w = w->next)
    if (w->state != W_EXITED) {
      (void)herd__os_pidfd_kill(w->pidfd, SIGKILL);
      (void)herd__waitpid(w->pid, NULL);
      w->state = W_EXITED;
    }
  while (c->orphans) {
    struct orphan *o = c->orphans;
    if (failed) {
      (void)herd__os_pidfd_kill(o->pidfd, SIGKILL);
      (void)herd__waitpid(o->pid, NULL);
    }
    wio__orphan_free(c, o);
  }
  if (!c->subreaper_was)
    (void)prctl(PR_SET_CHILD_SUBREAPER, 0);
  while (c->workers) {
    struct worker *w = c->workers;
    c->workers = w->next;
    for (int i = 0; i < 2; i++) {
      herd__close(w->out[i].fd);
      free(w->out[i].data);
    }
    herd__close(w->pidfd);
    herd_chan_close(w->chan);
    node__worker_free(w);
    free(w->replace_text);
    free(w);
  }
  for (int i = 0; i < c->nslots; i++) {
    rp__close(c, c->slots[i]);
    free(c->slots[i]->starts);
    free(c->slots[i]);
  }
  sup__pid_free(c);
  lq__unwatch(c->lq, c->nlisten);
  wio__close_notify(c);
  node__free(c);
  herd_loop_free(c->loop);
  if (c->chld_saved)
    (void)sigaction(SIGCHLD, &c->old_chld, NULL);
  if (c->own_fds)
    for (int i = 0; i < c->nlisten; i++) {
      herd__close(c->fds[i]);
      if (c->addrs && c->addrs[i].family == AF_UNIX && !c->keep_paths)
        (void)unlink(((struct sockaddr_un *)&c->addrs[i].ss)->sun_path);
    }
  for (int i = 0; c->rp_order && i < c->nlisten; i++)
    free(c->rp_order[i]);
  free(c->rp_order);
  free(c->rp_n);
  free(c->fds);
  free(c->texts);
  free(c->addrs);
  free(c->slots);
  free(c);
}

int herd_cluster_run(const herd_cluster_opts_t *opts, int (*worker_main)(void *arg),
                     void *arg) {
  if (!opts_ok(opts, worker_main))
    return -EINVAL;
  herd_cluster_t *c = calloc(1, sizeof *c);
  if (!c)
    return -ENOMEM;
  c->o = *opts;
  if (c->o.balance == HERD_BALANCE_ROUNDROBIN || node__on(c))
    c->o.flags |= HERD_CLUSTER_IPC;
  c->worker_main = worker_main;
  c->arg = arg;
  c->notify_fd = -1;
  c->state = C_STARTING;
  int r = setup(c);
  if (r < 0)
    goto out;
  /* The count first: on_init may scale it (before anything starts, a
   * steering call only changes what will start; see herd.h) */
  c->want = opts->workers ? opts->workers : online_cpus();
  if (c->o.on_init && (r = c->o.on_init(c, c->o.data)) < 0)
    goto out;
  if ((r = sup__grow_slots(c, c->want)) < 0)
    goto out;
  for (int i = 0; i < c->want; i++)
    c->slots[i]->active = 1;
  /* A program that cannot start at all is an error now, not a restart
   * loop: start the first worker and look at what happened. Stopped
   * from on_init: none starts. */
  for (int i = 0; i < c->want && c->state < C_STOPPING; i++)
    if ((r = sup__start_worker(c, i, 0)) < 0)
      goto out;
  if (c->state == C_STARTING)
    c->state = C_RUNNING;
  int failed = 0;
  while (c->state != C_DONE && !failed) {
    r = herd_loop_run_once(c->loop, -1);
    if (r < 0 && r != -EINTR)
      failed = r; /* said, and everything killed, as a failed start */
  }
  r = failed ? failed : c->kills ? 1 : 0;
out:
  teardown(c, r < 0);
  return r;
}

/* ---- steering from the loop ----------------------------------------- */

herd_loop_t *herd_cluster_loop(herd_cluster_t *c) {
  return c->loop;
}

int herd_cluster_reload(herd_cluster_t *c) {
  if (c->state >= C_STOPPING)
    return -ECANCELED;
  if (c->state == C_STARTING)
    return 0; /* from on_init: the workers about to start are new anyway */
  int queued = c->state == C_RELOADING;
  sup__reload(c);
  return queued ? 1 : 0;
}

int herd_cluster_update(herd_cluster_t *c, const herd_cluster_opts_t *opts) {
  if (!c || !opts || opts->abi != sizeof(herd_cluster_opts_t) || !spawn_ok(&opts->spawn))
    return -EINVAL;
  if (c->state >= C_STOPPING)
    return -ECANCELED;
  /* The rest stays the cluster's: the sockets were bound for its
   * balance, the notify socket made for its user, the channels for its
   * flags. */
  const unsigned ids = HERD_SPAWN_SETUID | HERD_SPAWN_SETGID;
  herd_cluster_opts_t o = c->o;
  o.file = opts->file;
  o.argv = opts->argv;
  o.spawn = opts->spawn;
  o.spawn.uid = c->o.spawn.uid;
  o.spawn.gid = c->o.spawn.gid;
  o.spawn.flags = (opts->spawn.flags & ~ids) | (c->o.spawn.flags & ids);
  o.ready = opts->ready;
  o.ready_delay_ms = opts->ready_delay_ms;
  o.settle_ms = opts->settle_ms;
  o.ready_timeout_ms = opts->ready_timeout_ms;
  o.kill_timeout_ms = opts->kill_timeout_ms;
  o.stop_signal = opts->stop_signal;
  o.max_restarts = opts->max_restarts;
  o.restart_window_ms = opts->restart_window_ms;
  o.min_uptime_ms = opts->min_uptime_ms;
  o.cooldown_ms = opts->cooldown_ms;
  if ((!c->worker_main && (!o.file || !o.argv)) || o.ready_delay_ms < 0 ||
      o.settle_ms < 0 || o.ready_timeout_ms < 0 || o.kill_timeout_ms < 0 ||
      o.max_restarts < 1 || o.restart_window_ms < 0 || o.min_uptime_ms < 0 ||
      o.cooldown_ms < 0 || o.stop_signal <= 0 || o.stop_signal >= _NSIG ||
      o.ready < HERD_READY_IMMEDIATE || o.ready > HERD_READY_IPC ||
      (o.ready == HERD_READY_LISTENING && !(o.flags & HERD_CLUSTER_NODE)) ||
      (o.ready == HERD_READY_IPC && !(o.flags & HERD_CLUSTER_IPC)) ||
      (o.spawn.flags & HERD_SPAWN_UMASK && (o.spawn.umask & ~0777u)))
    return -EINVAL;
  /* the early deaths counted so far are in rings max_restarts long */
  for (int i = 0; o.max_restarts != c->o.max_restarts && i < c->nslots; i++) {
    struct slot *s = c->slots[i];
    free(s->starts);
    s->starts = NULL;
    s->nstarts = s->starts_head = 0;
  }
  c->o = o;
  return 0;
}

int herd_cluster_restart(herd_cluster_t *c) {
  if (c->state >= C_STOPPING)
    return -ECANCELED;
  if (c->state == C_STARTING)
    return 0; /* from on_init: nothing runs yet */
  if (c->state == C_RELOADING)
    return -EBUSY;
  return sup__restart(c);
}

int herd_cluster_replace(herd_cluster_t *c, int slot, const char *why) {
  if (c->state == C_STARTING)
    return -ENOENT;
  return sup__replace(c, slot, HERD_REASON_REPLACED, why);
}

int herd_cluster_disconnect(herd_cluster_t *c, int slot) {
  if (c->state == C_STARTING && !c->workers)
    return -ENOENT; /* from on_init: none started yet */
  return sup__disconnect(c, slot);
}

int herd_cluster_scale(herd_cluster_t *c, int workers) {
  if (workers < 1 || workers > HERD_MAX_WORKERS)
    return -EINVAL;
  if (c->state >= C_STOPPING)
    return -ECANCELED;
  if (c->state == C_STARTING) {
    c->want = workers; /* from on_init: how many will start */
    return 0;
  }
  if (sup__grow_slots(c, workers) < 0)
    return -ENOMEM;
  sup__scale(c, workers);
  return 0;
}

int herd_cluster_stop(herd_cluster_t *c, int graceful) {
  /* A second call is a second request, never a signal delivered twice:
   * what is left is killed at once. */
  if (c->state >= C_STOPPING)
    c->stop_sig = -1;
  sup__shutdown(c, graceful, 0);
  return 0;
}

int herd_cluster_pause_output(herd_cluster_t *c, int pause) {
  pause = !!pause;
  if (c->out_paused != pause)
    wio__pause_output(c, pause);
  return 0;
}

/* ---- views -------------------------------------------------------------- */

static void fill_row(herd_worker_info_t *r, const struct slot *s, const struct worker *w,
                     uint64_t now) {
  memset(r, 0, sizeof *r);
  r->slot = s->id;
  r->state = sup__public_state(s, w);
  if (w) {
    r->pid = w->pid;
    r->successor = w == s->succ;
    r->uptime_ms = now - w->started_ms;
  } else if ((s->state == S_BACKOFF || s->state == S_PARKED) && s->retry_at_ms > now) {
    r->retry_ms = s->retry_at_ms - now;
  }
  /* the slot's history goes on every row of it */
  r->restarts = s->nspawns > 1 ? s->nspawns - 1 : 0;
  r->exited = s->has_exit;
  r->exit_code = s->exit_code;
  r->exit_signal = s->exit_sig;
  r->exit_reason = s->exit_reason;
}

/* In slot order; in a slot the current worker, its successor, then old
 * ones still stopping (newest first). Two passes over the workers, one
 * over the slots (s->view_at counts a slot's old ones, then is where the
 * next goes): a status of 4096 workers looked through them all per slot. */
int herd_cluster_workers(herd_cluster_t *c, herd_worker_info_t *rows, int max) {
  uint64_t now = herd__now_ms();
  for (int i = 0; i < c->nslots; i++)
    c->slots[i]->view_at = 0;
  for (struct worker *w = c->workers; w; w = w->next) {
    struct slot *s = c->slots[w->slot];
    if (w->state != W_EXITED && w != s->cur && w != s->succ)
      s->view_at++;
  }
  int n = 0;
  for (int i = 0; i < c->nslots; i++) {
    struct slot *s = c->slots[i];
    int old = s->view_at, any = old > 0;
    const struct worker *two[2] = {s->cur, s->succ};
    for (int k = 0; k < 2; k++)
      if (sup__alive(two[k])) {
        if (n < max)
          fill_row(&rows[n], s, two[k], now);
        n++;
        any = 1;
      }
    s->view_at = n;
    n += old;
    if (s->active && !any) {
      if (n < max)
        fill_row(&rows[n], s, NULL, now);
      n++;
    }
  }
  for (struct worker *w = c->workers; w; w = w->next) {
    struct slot *s = c->slots[w->slot];
    if (w->state != W_EXITED && w != s->cur && w != s->succ && s->view_at < max)
      fill_row(&rows[s->view_at++], s, w, now);
  }
  return n;
}

void herd_cluster_stats(herd_cluster_t *c, herd_cluster_stats_t *st) {
  *st = c->st;
  st->workers = c->want;
  st->reloading = c->state == C_RELOADING;
  st->stopping = c->state >= C_STOPPING;
}

int herd_cluster_listen_fds(herd_cluster_t *c, const int **fds) {
  *fds = c->fds;
  return c->nlisten;
}

void herd_cluster_keep_paths(herd_cluster_t *c) {
  c->keep_paths = 1;
}
