/*
 * upgrade.c - herd upgrade NAME (and SIGUSR2 to a daemon master): the
 * old master's side of replacing itself with the herd binary on disk,
 * as nginx's binary upgrade does, without a refused connection.
 *
 * The old master spawns BINARY __upgrade with its listening sockets (and
 * --metrics') at fds 4.., one end of a socketpair at fd 3, and in
 * HERD_UPGRADE the app's settings (optjson.c's JSON, the one the update
 * request carries), the scale, the addresses. Then, on the socketpair,
 * one line each way at a time:
 *
 *   new: {"hello":"herd","version":"X.Y.Z","pid":P}  within HELLO_MS
 *   old: start          (or no: another major version)
 *   new: the start report (events.c), once its workers are ready
 *   old: go
 *   new: done           (its control socket and pid file renamed into
 *                        place: NAME is the new master's from here)
 *
 * after which the old master stops its workers as a stop does and exits,
 * leaving the names to the new one. Anything else - no hello (not herd),
 * another major version, an exit, a failed report, a step over its
 * deadline - and the old master says why in one line, tells the new one
 * "no" (it stops: SIGTERM, SIGKILL after the kill timeout; one that
 * never said hello is killed at once), and goes on serving as before.
 * The new master's side is upgradein.c.
 */
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "jval.h"
#include "master.h"
#include "opts.h"

extern char **environ;

#define HELLO_MS 5000     /* a herd says hello at once */
#define TAKEOVER_MS 5000  /* two renames */
#define START_EXTRA_MS 10000 /* beyond the ready timeout */

enum { UP_NONE, UP_HELLO, UP_STARTING, UP_TAKEOVER, UP_ENDING, UP_DONE };

struct upgrade {
  int state;
  herd_child_t child; /* the new master (reaped by the engine: its pidfd
                         only tells us it has exited) */
  int fd;             /* our end of the socketpair */
  char buf[16384];
  size_t len;
  herd_timer_t timer;
  char binary[PATH_MAX];
  int sigusr2;        /* started by SIGUSR2: nobody waits for the reply */
  int handed[MAX_LISTEN]; /* our sockets the new master got */
  char why[700];          /* a failure, told to the waiting clients once
                           * the failed master has exited: until then an
                           * upgrade is still running */
};

/* herd upgrade -c FILE: the new app, and what of ours it takes: hand[k],
 * our socket at the new app's listen[at[k]]; keep_metrics: our metrics
 * socket. Without a file, everything as it is. */
struct plan {
  struct app *n;          /* the file's app, finished (owned), or NULL */
  const char *conf;
  int nhand;
  int hand[MAX_LISTEN], at[MAX_LISTEN];
  int keep_metrics;
};

int upgrade_running(const struct master *m) {
  return m->up && m->up->state != UP_NONE;
}

/* Reply to the clients waiting for the upgrade: json, or error. */
static void answer(struct master *m, const char *json, const char *error) {
  for (struct conn *cn = m->conns, *next; cn; cn = next) {
    next = cn->next;
    if (cn->wait != WAIT_UPGRADE)
      continue;
    cn->wait = WAIT_NONE;
    if (error) {
      struct jw w;
      jw_init(&w);
      jw_raw(&w, "{\"ok\":false,\"error\":", 20);
      jw_str(&w, error, strlen(error));
      jw_raw(&w, "}", 1);
      if (!w.err)
        reply(cn, w.buf, w.len);
      jw_free(&w);
    } else {
      reply(cn, json, strlen(json));
    }
    if (cn->eof)
      conn_free(m, cn);
  }
}

static void close_chan(struct master *m) {
  struct upgrade *u = m->up;
  if (u->fd < 0)
    return;
  (void)herd_loop_del(m->loop, u->fd);
  (void)close(u->fd);
  u->fd = -1;
}

static void kill_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct master *m = data;
  (void)herd_child_kill(&m->up->child, SIGKILL, 0);
}

/* The upgrade failed: why said (log, waiting clients), the new master
 * told and ended; we go on. */
static void fail(struct master *m, const char *why) {
  struct upgrade *u = m->up;
  char line[700];
  say(line, sizeof line, "upgrade to %s failed: %s; this master (pid %d) goes on "
      "serving", u->binary, why, (int)getpid());
  logf_(m, "%s", line);
  snprintf(u->why, sizeof u->why, "%s", line); /* answered in exited_cb */
  if (u->fd >= 0)
    (void)!send(u->fd, "no\n", 3, MSG_NOSIGNAL | MSG_DONTWAIT);
  close_chan(m);
  herd_loop_timer_stop(m->loop, &u->timer);
  if (u->state == UP_HELLO) { /* not herd, or not talking: nothing to stop */
    (void)herd_child_kill(&u->child, SIGKILL, 0);
  } else {
    (void)herd_child_kill(&u->child, SIGTERM, 0);
    (void)herd_loop_timer_start(m->loop, &u->timer,
                                (uint64_t)m->a->o.kill_timeout_ms + 2000, kill_cb, m);
  }
  u->state = UP_ENDING;
}

static void timeout_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct master *m = data;
  struct upgrade *u = m->up;
  fail(m, u->state == UP_HELLO
              ? "no answer in 5 s: not herd, or a herd without upgrade"
          : u->state == UP_STARTING ? "its workers were not ready in time"
                                    : "it did not take over the control socket in 5 s");
}

/* The new master has exited (the engine reaps it). */
static void exited_cb(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  (void)events;
  struct master *m = data;
  struct upgrade *u = m->up;
  (void)herd_loop_del(loop, fd);
  if (u->state == UP_HELLO)
    fail(m, "it exited without answering as herd (not herd, a herd without upgrade, "
         "or it crashed: see the log)");
  else if (u->state == UP_STARTING || u->state == UP_TAKEOVER)
    fail(m, "the new master exited before it was ready (see the log)");
  herd_loop_timer_stop(loop, &u->timer);
  (void)close(u->child.pidfd);
  u->child.pidfd = -1;
  if (u->state != UP_DONE)
    u->state = UP_NONE;
  if (u->why[0]) {
    /* over now: a client told at once may try again at once */
    answer(m, NULL, u->why);
    u->why[0] = '\0';
  }
}

static int major_of(const char *v) {
  return (int)strtol(v, NULL, 10);
}

/* One line from the new master, in the state it was expected. */
static void on_line(struct master *m, char *line) {
  struct upgrade *u = m->up;
  herd_val_t *v = jparse(line, strlen(line));
  char why[600];
  if (u->state == UP_HELLO) {
    const char *ver = jstr(jget(v, "version"), NULL);
    if (!ver || strcmp(jstr(jget(v, "hello"), ""), "herd")) {
      fail(m, "it is not herd (its first words were not herd's)");
    } else if (major_of(ver) != HERD_VERSION_MAJOR) {
      say(why, sizeof why, "it is herd %s, another major version than this "
          "master's %s", ver, HERD_VERSION_STRING);
      fail(m, why);
    } else if (send(u->fd, "start\n", 6, MSG_NOSIGNAL) != 6) {
      fail(m, "it went away");
    } else {
      u->state = UP_STARTING;
      logf_(m, "upgrade: pid %d is herd %s: starting its workers", (int)u->child.pid, ver);
      (void)herd_loop_timer_start(m->loop, &u->timer, (uint64_t)m->a->o.ready_timeout_ms +
                                  START_EXTRA_MS, timeout_cb, m);
    }
  } else if (u->state == UP_STARTING) {
    if (!jbool(jget(v, "ok"), 0)) {
      say(why, sizeof why, "the new master: %s", jstr(jget(v, "error"), "failed"));
      fail(m, why);
    } else if (send(u->fd, "go\n", 3, MSG_NOSIGNAL) != 3) {
      fail(m, "it went away");
    } else {
      u->state = UP_TAKEOVER;
      (void)herd_loop_timer_start(m->loop, &u->timer, TAKEOVER_MS, timeout_cb, m);
    }
  } else if (u->state == UP_TAKEOVER && !strcmp(line, "done")) {
    herd_loop_timer_stop(m->loop, &u->timer);
    close_chan(m);
    u->state = UP_DONE;
    m->lost_name = 1; /* the socket and pid file paths are the new master's */
    herd_cluster_keep_paths(m->c); /* and so are --listen's Unix sockets */
    for (int i = 0; i < m->nlisten_text; i++) /* but those it dropped: ours */
      if (!u->handed[i] && !strncmp(m->listen_text[i], "unix:", 5))
        (void)unlink(m->listen_text[i] + 5);
    if (m->ctl_fd >= 0) {
      (void)herd_loop_del(m->loop, m->ctl_fd);
      (void)close(m->ctl_fd);
      m->ctl_fd = -1;
    }
    char ok[96];
    snprintf(ok, sizeof ok, "{\"ok\":true,\"pid\":%d,\"old\":%d}", (int)u->child.pid,
             (int)getpid());
    answer(m, ok, NULL);
    logf_(m, "upgrade: master pid %d took over; stopping the old workers",
          (int)u->child.pid);
    (void)herd_cluster_stop(m->c, 0);
  }
  herd_val_free(v);
}

static void chan_cb(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  (void)loop;
  (void)events;
  struct master *m = data;
  struct upgrade *u = m->up;
  ssize_t n = read(fd, u->buf + u->len, sizeof u->buf - 1 - u->len);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0) {
    /* its exit is told by its pidfd; a closed end alone is a failure */
    close_chan(m);
    if (u->state == UP_HELLO)
      fail(m, "it ended without answering as herd (not herd, a herd without upgrade, "
           "or it crashed at start: see the log)");
    else if (u->state != UP_ENDING && u->state != UP_DONE)
      fail(m, "the new master ended before it was ready (see the log)");
    return;
  }
  u->len += (size_t)n;
  u->buf[u->len] = '\0';
  char *nl;
  while (u->fd >= 0 && (nl = strchr(u->buf, '\n'))) {
    *nl = '\0';
    on_line(m, u->buf);
    size_t used = (size_t)(nl + 1 - u->buf);
    memmove(u->buf, nl + 1, u->len - used + 1);
    u->len -= used;
  }
  if (u->fd >= 0 && u->len == sizeof u->buf - 1)
    fail(m, "it said too much");
}

/* HERD_UPGRADE's value: the settings and what the new master needs
 * besides. 0, or -1 (out of memory). */
static int upgrade_json(struct master *m, const struct plan *p, struct jw *w) {
  herd_cluster_stats_t st;
  herd_cluster_stats(m->c, &st);
  const struct app *a = p->n ? p->n : m->a;
  jw_raw(w, "HERD_UPGRADE={\"version\":", 24);
  jw_str(w, HERD_VERSION_STRING, strlen(HERD_VERSION_STRING));
  jw_printf(w, ",\"old\":%d,\"nlisten\":%d", (int)getpid(), p->nhand);
  if (!p->n) /* the scale as it is now (a file's workers count instead) */
    jw_printf(w, ",\"workers\":%d", st.workers);
  jw_raw(w, ",\"home\":", 8);
  jw_str(w, m->home, strlen(m->home));
  jw_raw(w, ",\"cwd\":", 7);
  jw_str(w, a->cwd, strlen(a->cwd));
  jw_raw(w, ",\"conf\":", 8);
  const char *conf = p->n ? p->conf : m->a->conf_path;
  if (conf)
    jw_str(w, conf, strlen(conf));
  else
    jw_raw(w, "null", 4);
  jw_raw(w, ",\"listen\":[", 11);
  for (int k = 0; k < p->nhand; k++) {
    int i = p->hand[k];
    const char *t = i < m->nlisten_text ? m->listen_text[i] : "";
    jw_raw(w, k ? "," : "", k ? 1 : 0);
    jw_str(w, t, strlen(t));
  }
  jw_raw(w, "]", 1);
  if (p->n) { /* where each goes in the file's listen; the rest: bound anew */
    jw_raw(w, ",\"at\":[", 7);
    for (int k = 0; k < p->nhand; k++)
      jw_printf(w, "%s%d", k ? "," : "", p->at[k]);
    jw_raw(w, "]", 1);
  }
  jw_raw(w, ",\"metrics\":", 11);
  if (p->keep_metrics)
    jw_str(w, m->metrics_addr, strlen(m->metrics_addr));
  else
    jw_raw(w, "null", 4);
  jw_raw(w, ",\"app\":", 7);
  app_settings_json(a, w);
  jw_raw(w, "}", 1);
  return w->err ? -1 : 0;
}

/* Our socket fd is bound to spec's address (as bound: a port 0 is never
 * the same, a name such as localhost as the address it stands for). */
static int same_addr(int fd, const char *spec) {
  herd_addr_t want;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (herd_addr_parse(spec, &want) < 0 ||
      getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
      ss.ss_family != want.ss.ss_family)
    return 0;
  if (ss.ss_family == AF_UNIX)
    return !strcmp(((struct sockaddr_un *)&ss)->sun_path,
                   ((struct sockaddr_un *)&want.ss)->sun_path);
  if (ss.ss_family == AF_INET) {
    const struct sockaddr_in *h = (void *)&ss, *w = (void *)&want.ss;
    return w->sin_port && h->sin_port == w->sin_port &&
           h->sin_addr.s_addr == w->sin_addr.s_addr;
  }
  if (ss.ss_family == AF_INET6) {
    const struct sockaddr_in6 *h = (void *)&ss, *w = (void *)&want.ss;
    return w->sin6_port && h->sin6_port == w->sin6_port &&
           !memcmp(&h->sin6_addr, &w->sin6_addr, sizeof h->sin6_addr);
  }
  return 0;
}

/* The plan for the app the request gives (NULL: the running one, all
 * its sockets): 0, or -1 with err, nothing started. */
static int plan_make(struct master *m, const herd_val_t *app, const char *conf,
                     struct plan *p, char *err, size_t errlen) {
  const int *fds;
  int nfd = herd_cluster_listen_fds(m->c, &fds);
  memset(p, 0, sizeof *p);
  p->conf = conf;
  if (!app) {
    for (int i = 0; i < nfd && i < MAX_LISTEN; i++)
      p->hand[p->nhand++] = i;
    p->keep_metrics = m->metrics_fd >= 0;
    return 0;
  }
  char e[512], fixed[200];
  if (!(p->n = malloc(sizeof *p->n)))
    return app_fail(err, errlen, "cannot upgrade: out of memory");
  app_init(p->n);
  if (app_from_settings(p->n, app, e, sizeof e) < 0 || app_finish(p->n, e, sizeof e) < 0)
    return app_fail(err, errlen, "cannot upgrade: %s", e);
  if (strcmp(p->n->name, m->a->name))
    return app_fail(err, errlen, "cannot upgrade: the file's app is '%s', not '%s'",
                    p->n->name, m->a->name);
  live_fixed(m->a, p->n, 1, fixed, sizeof fixed);
  if (fixed[0])
    return app_fail(err, errlen, "cannot upgrade: cannot change %s with an upgrade "
                    "(stop and start the app for that): nothing was changed", fixed);
  int used[MAX_LISTEN] = {0};
  for (int i = 0; i < p->n->nlisten; i++)
    for (int j = 0; j < nfd && j < MAX_LISTEN; j++)
      if (!used[j] && same_addr(fds[j], p->n->listen[i])) {
        used[j] = 1;
        p->hand[p->nhand] = j;
        p->at[p->nhand++] = i;
        break;
      }
  p->keep_metrics = m->metrics_fd >= 0 && p->n->metrics &&
                    same_addr(m->metrics_fd, p->n->metrics);
  return 0;
}

static void plan_free(struct plan *p) {
  if (p->n) {
    app_free(p->n);
    free(p->n);
  }
  p->n = NULL;
}

/* What refuses an upgrade now, or NULL. */
static const char *refusal(struct master *m) {
  herd_cluster_stats_t st;
  herd_cluster_stats(m->c, &st);
  if (!m->daemon)
    return "this master runs in the foreground (herd run): restart it instead";
  if (upgrade_running(m))
    return "an upgrade is running";
  if (st.stopping)
    return "stopping";
  if (st.reloading)
    return "a reload is running";
  if (m->a->o.balance == HERD_BALANCE_REUSEPORT)
    return "--balance reuseport: its per-slot sockets cannot be handed over";
  if (m->a->o.flags & HERD_CLUSTER_NODE)
    return "--node-cluster: the sockets its workers asked for cannot be handed over";
  return NULL;
}

/* The new master started: fds 3 (the channel), 4.. (the sockets), its
 * environment ours (or --update-env's) with HERD_UPGRADE and HERD_HOME. */
static int spawn_new(struct master *m, const struct plan *p, int chan,
                     const char *envvar, char *err, size_t errlen) {
  struct upgrade *u = m->up;
  const int *fds;
  (void)herd_cluster_listen_fds(m->c, &fds);
  herd_fdmap_t map[MAX_LISTEN + 2];
  size_t k = 0;
  map[k++] = (herd_fdmap_t){chan, 3};
  for (int i = 0; i < p->nhand; i++, k++)
    map[k] = (herd_fdmap_t){fds[p->hand[i]], 4 + (int)k - 1};
  if (p->keep_metrics) {
    map[k] = (herd_fdmap_t){m->metrics_fd, 3 + (int)k};
    k++;
  }
  char homevar[PATH_MAX + 16];
  snprintf(homevar, sizeof homevar, "HERD_HOME=%s", m->home);
  const char *add[] = {envvar, homevar, NULL};
  const char **env = add;
  int mode = HERD_ENV_ADD;
  if (m->live_base) { /* reload --update-env's environment, kept */
    if (!(env = calloc((size_t)m->live_nbase + 3, sizeof *env)))
      return app_fail(err, errlen, "out of memory");
    int j = 0;
    for (int i = 0; i < m->live_nbase; i++)
      if (strncmp(m->live_base[i], "HERD_UPGRADE=", 13) &&
          strncmp(m->live_base[i], "HERD_HOME=", 10))
        env[j++] = m->live_base[i];
    env[j++] = envvar;
    env[j++] = homevar;
    mode = HERD_ENV_REPLACE;
  }
  herd_spawn_opts_t so = {.env_mode = mode, .env = env, .fds = map, .nfds = k,
                          .flags = HERD_SPAWN_NOPATH};
  char *argv[] = {u->binary, "__upgrade", NULL};
  int r = herd_spawn(&u->child, u->binary, argv, &so);
  if (env != add)
    free(env);
  if (r < 0)
    return app_fail(err, errlen, "%s: %s", u->binary, herd_strerror(r));
  return 0;
}

int upgrade_start(struct master *m, const char *binary, int sigusr2,
                  const herd_val_t *app, const char *conf, char *err, size_t errlen) {
  const char *no = refusal(m);
  if (no)
    return app_fail(err, errlen, "cannot upgrade: %s", no);
  if (!m->up && !(m->up = calloc(1, sizeof *m->up)))
    return app_fail(err, errlen, "out of memory");
  struct upgrade *u = m->up;
  u->fd = -1;
  u->len = 0;
  u->sigusr2 = sigusr2;
  if (!binary || !*binary)
    binary = m->self_exe;
  if (snprintf(u->binary, sizeof u->binary, "%s", binary) >= (int)sizeof u->binary ||
      binary[0] != '/')
    return app_fail(err, errlen, "cannot upgrade: %s: not an absolute path", binary);
  if (access(u->binary, X_OK) < 0)
    return app_fail(err, errlen, "cannot upgrade: %s: %s", u->binary, strerror(errno));
  struct plan p = {0};
  struct jw w;
  jw_init(&w);
  int sp[2] = {-1, -1};
  int rc = -1;
  if (plan_make(m, app, conf, &p, err, errlen) < 0)
    goto out;
  memset(u->handed, 0, sizeof u->handed);
  for (int k = 0; k < p.nhand; k++)
    u->handed[p.hand[k]] = 1;
  if (upgrade_json(m, &p, &w) < 0 ||
      socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
    app_fail(err, errlen, "cannot upgrade: %s", w.err ? "out of memory" : strerror(errno));
    goto out;
  }
  jw_raw(&w, "", 1); /* the NUL */
  if (w.err || spawn_new(m, &p, sp[1], w.buf, err, errlen) < 0) {
    if (w.err)
      app_fail(err, errlen, "cannot upgrade: out of memory");
    goto out;
  }
  (void)close(sp[1]);
  sp[1] = -1;
  u->fd = sp[0];
  sp[0] = -1;
  if (fcntl(u->fd, F_SETFL, O_NONBLOCK) < 0 ||
      herd_loop_add(m->loop, u->fd, EPOLLIN, chan_cb, m) < 0 ||
      herd_loop_add(m->loop, u->child.pidfd, EPOLLIN, exited_cb, m) < 0) {
    /* (the loop's own failure: nothing was said to the child yet) */
    (void)herd_loop_del(m->loop, u->fd);
    (void)close(u->fd);
    u->fd = -1;
    herd_child_close(&u->child);
    app_fail(err, errlen, "cannot upgrade: %s", strerror(errno));
    goto out;
  }
  u->state = UP_HELLO;
  u->why[0] = '\0';
  (void)herd_loop_timer_start(m->loop, &u->timer, HELLO_MS, timeout_cb, m);
  logf_(m, "upgrade: starting %s as the new master, pid %d%s%s%s", u->binary,
        (int)u->child.pid, sigusr2 ? " (SIGUSR2)" : "", conf ? ", with the options of " : "",
        conf ? conf : "");
  rc = 0;
out:
  plan_free(&p);
  if (sp[0] >= 0)
    (void)close(sp[0]);
  if (sp[1] >= 0)
    (void)close(sp[1]);
  jw_free(&w);
  return rc;
}

void upgrade_free(struct master *m) {
  struct upgrade *u = m->up;
  if (!u)
    return;
  if (u->why[0])
    answer(m, NULL, u->why); /* we stop before the failed one has exited */
  if (u->fd >= 0)
    (void)close(u->fd);
  /* A new master still starting when we stop goes with us (it never took
   * the names): it stops its workers and removes its files (one that
   * never said hello is killed); one that took over lives on. */
  if (u->child.pidfd >= 0 && u->state != UP_DONE && u->state != UP_NONE)
    (void)herd_child_kill(&u->child, u->state == UP_HELLO ? SIGKILL : SIGTERM, 0);
  if (u->child.pidfd >= 0 && u->state != UP_NONE)
    (void)close(u->child.pidfd);
  free(u);
  m->up = NULL;
}
