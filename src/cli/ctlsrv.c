/*
 * ctlsrv.c - the control server: HERD_HOME/NAME.sock (mode 0600, the
 * peer's uid checked with SO_PEERCRED: ours or root's), JSON lines, one
 * request, one reply (a pending line first for what takes time); the
 * requests decoded by ctlreq.c. See docs/control.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "jval.h"
#include "master.h"

void reply(struct conn *cn, const char *json, size_t len) {
  if (!cn->ch)
    return;
  if (cn->eof) {
    /* the client shut its side: the channel takes that for the end,
     * but the socket can still carry our answer */
    char *line = malloc(len + 1);
    if (line) {
      memcpy(line, json, len);
      line[len] = '\n';
      (void)!send(herd_chan_fd(cn->ch), line, len + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      free(line);
    }
    return;
  }
  (void)herd_chan_send(cn->ch, json, len, -1);
  (void)herd_chan_flush(cn->ch);
}

static void reply_error(struct conn *cn, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  struct jw w;
  jw_init(&w);
  jw_raw(&w, "{\"ok\":false,\"error\":", 20);
  jw_str(&w, msg, strlen(msg));
  jw_raw(&w, "}", 1);
  if (!w.err)
    reply(cn, w.buf, w.len);
  jw_free(&w);
}

static void reply_ok(struct conn *cn, const char *extra) {
  char buf[256];
  int n = snprintf(buf, sizeof buf, "{\"ok\":true%s%s}", extra ? "," : "",
                   extra ? extra : "");
  reply(cn, buf, (size_t)n);
}

static void answer_one(struct master *m, struct conn *cn) {
  herd_cluster_stats_t st;
  herd_cluster_stats(m->c, &st);
  char extra[64];
  snprintf(extra, sizeof extra, "\"workers\":%d", st.workers);
  reply_ok(cn, extra);
}

/* Answer every connection waiting for kind (ok, or the error). */
void answer_waiters(struct master *m, int kind, const char *error) {
  for (struct conn *cn = m->conns; cn; cn = cn->next) {
    if (cn->wait != kind)
      continue;
    if (kind == WAIT_RELOAD && !error && m->reload_dones < cn->wait_target)
      continue;
    cn->wait = WAIT_NONE;
    if (error)
      reply_error(cn, "%s", error);
    else
      answer_one(m, cn);
    if (cn->eof)
      cn->wait = -1; /* answered: freed below */
  }
  for (struct conn *cn = m->conns, *next; cn; cn = next) {
    next = cn->next;
    if (cn->eof && cn->wait == -1)
      conn_free(m, cn);
  }
}

void conn_free(struct master *m, struct conn *cn) {
  for (struct conn **pp = &m->conns; *pp; pp = &(*pp)->next)
    if (*pp == cn) {
      *pp = cn->next;
      break;
    }
  if (cn->ch) {
    if (m->loop) /* NULL once the engine has freed it, with its watchers */
      (void)herd_loop_chan_stop(m->loop, cn->ch);
    herd_chan_close(cn->ch);
  }
  m->nconns--;
  free(cn);
}

/* Why the app's state refuses a steering request now (answered at once,
 * in one line, before any pending reply), or NULL. */
static const char *refusal(struct master *m, int cmd) {
  if (!ctl_cmd_steers(cmd))
    return NULL;
  herd_cluster_stats_t st;
  herd_cluster_stats(m->c, &st);
  if (st.stopping)
    return "stopping";
  if (cmd == CTL_RESTART && st.reloading)
    return "a reload is running";
  /* the new master starts with the options and scale of the moment */
  if (upgrade_running(m))
    return "an upgrade is running";
  return NULL;
}

/* ---- the commands: one handler each (names and which steer: ctlreq.c) */

static void do_ping(struct master *m, struct conn *cn, const struct ctl_req *rq) {
  (void)m;
  (void)rq;
  char extra[128];
  snprintf(extra, sizeof extra, "\"pid\":%d,\"version\":\"%s\"", (int)getpid(),
           HERD_VERSION_STRING);
  reply_ok(cn, extra);
}

static void do_status(struct master *m, struct conn *cn, const struct ctl_req *rq) {
  (void)rq;
  struct jw w;
  jw_init(&w);
  status_json(m, &w);
  if (w.err)
    reply_error(cn, "out of memory");
  else
    reply(cn, w.buf, w.len);
  jw_free(&w);
}

static void do_reload(struct master *m, struct conn *cn, const struct ctl_req *rq) {
  /* update, and reload with env: the options first (live.c) */
  char err[600];
  if (rq->arg_err[0] || live_update(m, rq, err, sizeof err) < 0) {
    reply_error(cn, "%s", rq->arg_err[0] ? rq->arg_err : err);
    return;
  }
  /* Waiting before the call: with immediate readiness the reload may be
   * over (or failed) by the time it returns. This one is the next to
   * begin, now or after the running one. */
  cn->wait = WAIT_RELOAD;
  cn->wait_target = m->reload_begins + 1;
  reply_ok(cn, "\"pending\":\"reload\"");
  int r = herd_cluster_reload(m->c);
  if (r < 0) {
    cn->wait = WAIT_NONE;
    reply_error(cn, "cannot reload: %s", r == -ECANCELED ? "stopping" : herd_strerror(r));
  }
}

static void do_restart(struct master *m, struct conn *cn, const struct ctl_req *rq) {
  (void)rq;
  cn->wait = WAIT_READY;
  reply_ok(cn, "\"pending\":\"restart\"");
  int r = herd_cluster_restart(m->c);
  if (r < 0) {
    cn->wait = WAIT_NONE;
    reply_error(cn, "cannot restart: %s",
                r == -EBUSY ? "a reload is running" : r == -ECANCELED
                ? "stopping" : herd_strerror(r));
  }
}

static void do_scale(struct master *m, struct conn *cn, const struct ctl_req *rq) {
  herd_cluster_stats_t st;
  herd_cluster_stats(m->c, &st);
  long long want = rq->has_workers ? rq->workers : st.workers + rq->add;
  if (rq->arg_err[0]) {
    reply_error(cn, "%s", rq->arg_err);
    return;
  }
  if (want < 1 || want > HERD_MAX_WORKERS) {
    reply_error(cn, "scale: %d %+lld would make %lld workers (1..%d)", st.workers,
                rq->add, want, HERD_MAX_WORKERS);
    return;
  }
  /* growing: the answer is the all-ready event (maybe inside the call,
   * with immediate readiness), so wait before calling */
  int grow = (int)want > st.workers;
  if (grow) {
    cn->wait = WAIT_READY;
    reply_ok(cn, "\"pending\":\"scale\"");
  }
  int r = herd_cluster_scale(m->c, (int)want);
  if (r < 0) {
    cn->wait = WAIT_NONE;
    reply_error(cn, "cannot scale: %s", r == -ECANCELED ? "stopping"
                                                        : herd_strerror(r));
  } else if (!grow) {
    answer_one(m, cn);
  }
}

static void do_stop(struct master *m, struct conn *cn, const struct ctl_req *rq) {
  char extra[64];
  snprintf(extra, sizeof extra, "\"pending\":\"stop\",\"pid\":%d", (int)getpid());
  reply_ok(cn, extra);
  cn->wait = WAIT_STOP; /* the last word comes when the workers are gone */
  logf_(m, "stop requested%s by the control socket", rq->graceful ? " (graceful)" : "");
  herd_cluster_stop(m->c, rq->graceful);
}

static void do_reopen(struct master *m, struct conn *cn, const struct ctl_req *rq) {
  (void)rq;
  if (!m->lw) {
    reply_error(cn, "no log files to reopen: this app writes to its terminal "
                    "(herd run)");
    return;
  }
  reopen_logs(m);
  reply_ok(cn, NULL);
}

/* herd flush: answered once the writer thread has emptied the files.
 * It does so between two batches, so this polls its counter (every
 * FLUSH_POLL_MS, only while a flush is pending) rather than wait for it:
 * the loop never waits for the disk. */
#define FLUSH_POLL_MS 10

static void flush_poll(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)t;
  struct master *m = data;
  m->flush_armed = 0;
  uint64_t done = logw_flushed(m->lw);
  int pending = 0;
  for (struct conn *cn = m->conns, *next; cn; cn = next) {
    next = cn->next;
    if (cn->wait != WAIT_FLUSH)
      continue;
    if (cn->wait_target > done) {
      pending = 1;
      continue;
    }
    cn->wait = WAIT_NONE;
    reply_ok(cn, NULL);
    if (cn->eof)
      conn_free(m, cn);
  }
  if (pending) {
    m->flush_armed = 1;
    (void)herd_loop_timer_start(loop, &m->flush_timer, FLUSH_POLL_MS, flush_poll, m);
  }
}

static void do_flush(struct master *m, struct conn *cn, const struct ctl_req *rq) {
  (void)rq;
  if (!m->lw) {
    reply_error(cn, "no log files to flush: this app writes to its terminal "
                    "(herd run)");
    return;
  }
  cn->wait = WAIT_FLUSH;
  cn->wait_target = logw_flush(m->lw);
  logf_(m, "flushing the log files (requested)");
  if (!m->flush_armed) {
    m->flush_armed = 1;
    (void)herd_loop_timer_start(m->loop, &m->flush_timer, FLUSH_POLL_MS, flush_poll, m);
  }
}

/* A message to the workers' channels: "msg" written again as JSON (one
 * line, whatever its spacing was). */
static void do_send(struct master *m, struct conn *cn, const struct ctl_req *rq) {
  herd_val_t *req = jparse(rq->json, rq->len);
  char *text = NULL;
  size_t n = 0;
  int r = req ? herd_json_stringify(jget(req, "msg"), &text, &n) : -ENOMEM;
  herd_val_free(req);
  if (r == 0)
    r = herd_cluster_send(m->c, (int)rq->slot, text, n);
  free(text);
  if (r >= 0) {
    char extra[32];
    snprintf(extra, sizeof extra, "\"sent\":%d", r);
    reply_ok(cn, extra);
  } else if (r == -ENOTCONN) {
    reply_error(cn, "send: the workers have no channel (start the app with --ipc or "
                    "--node-cluster)");
  } else if (r == -ENOENT) {
    reply_error(cn, "send: slot %lld has no running worker", rq->slot);
  } else if (r == -EINVAL) {
    reply_error(cn, "send: an object whose \"cmd\" starts with NODE_ is Node's own "
                    "(its workers would not see it)");
  } else {
    reply_error(cn, "send: %s", herd_strerror(r));
  }
}

/* The app as a config file's table (confout.c): its options, the scale
 * it runs at now, and the environment its workers get from us. */
static void do_config(struct master *m, struct conn *cn, const struct ctl_req *rq) {
  (void)rq;
  extern char **environ;
  herd_cluster_stats_t st;
  herd_cluster_stats(m->c, &st);
  const char **env = NULL;
  char err[256];
  struct jw t, w;
  jw_init(&t);
  jw_init(&w);
  if (app_saved_env(m->a, environ, &env, err, sizeof err) < 0 ||
      app_toml(m->a, st.workers, env, &t, err, sizeof err) < 0) {
    reply_error(cn, "config: %s", err);
  } else {
    jw_raw(&w, "{\"ok\":true,\"name\":", 18);
    jw_str(&w, m->a->name, strlen(m->a->name));
    jw_raw(&w, ",\"config\":", 10);
    jw_str(&w, t.buf, t.len);
    jw_raw(&w, "}", 1);
    if (w.err || t.err)
      reply_error(cn, "out of memory");
    else
      reply(cn, w.buf, w.len);
  }
  free(env);
  jw_free(&t);
  jw_free(&w);
}

/* Everything in effect (descjson.c); secret-looking env values masked
 * unless asked: the socket is the owner's (and root's), who can read
 * the workers' environment in /proc anyway; the mask keeps them off a
 * screen or a pasted report by default, it guards no access. */
static void do_describe(struct master *m, struct conn *cn, const struct ctl_req *rq) {
  struct jw w;
  jw_init(&w);
  describe_json(m, &w, rq->show_env);
  if (w.err)
    reply_error(cn, "out of memory");
  else
    reply(cn, w.buf, w.len);
  jw_free(&w);
}

/* A signal to the running workers (of one slot): herd_cluster_workers'
 * rows name only workers not reaped yet, and this runs on the loop that
 * reaps, so no pid here can have been reused (an exited one not reaped
 * yet is a zombie: kill(2) reaches nothing and succeeds). */
static void do_signal(struct master *m, struct conn *cn, const struct ctl_req *rq) {
  if (rq->arg_err[0]) {
    reply_error(cn, "%s", rq->arg_err);
    return;
  }
  int n = 0, sent = 0, err = 0;
  herd_worker_info_t *rows = get_rows(m, &n);
  const char *name = sig_abbrev(rq->sig);
  if (!rows) {
    reply_error(cn, "signal: out of memory");
    return;
  }
  for (int i = 0; i < n; i++) {
    if (rows[i].pid <= 0 || (rq->slot >= 0 && rows[i].slot != rq->slot))
      continue;
    if (kill(rows[i].pid, rq->sig) < 0) {
      err = errno;
      continue;
    }
    sent++;
    logf_(m, "worker %d signalled, pid %d, SIG%s (requested)", rows[i].slot,
          (int)rows[i].pid, name ? name : "?");
  }
  free(rows);
  if (sent) {
    char extra[32];
    snprintf(extra, sizeof extra, "\"signalled\":%d", sent);
    reply_ok(cn, extra);
  } else if (err) {
    reply_error(cn, "signal: %s", strerror(err));
  } else if (rq->slot >= 0) {
    reply_error(cn, "signal: slot %lld has no running worker", rq->slot);
  } else {
    reply_error(cn, "signal: no worker is running");
  }
}

/* herd upgrade: the answer comes once the new master has taken over, or
 * has failed (upgrade.c) */
static void do_upgrade(struct master *m, struct conn *cn, const struct ctl_req *rq) {
  char err[700];
  herd_val_t *req = rq->arg_err[0] ? NULL : jparse(rq->json, rq->len);
  if (rq->arg_err[0] || upgrade_start(m, jstr(jget(req, "binary"), NULL), 0,
                                      jget(req, "app"), jstr(jget(req, "conf"), NULL),
                                      err, sizeof err) < 0)
    reply_error(cn, "%s", rq->arg_err[0] ? rq->arg_err : err);
  else {
    char extra[64];
    snprintf(extra, sizeof extra, "\"pending\":\"upgrade\",\"pid\":%d", (int)getpid());
    reply_ok(cn, extra);
    cn->wait = WAIT_UPGRADE;
  }
  herd_val_free(req);
}

typedef void handler_fn(struct master *m, struct conn *cn, const struct ctl_req *rq);
static handler_fn *const handlers[CTL_NCMDS] = {
    [CTL_PING] = do_ping,       [CTL_STATUS] = do_status, [CTL_RELOAD] = do_reload,
    [CTL_RESTART] = do_restart, [CTL_SCALE] = do_scale,   [CTL_STOP] = do_stop,
    [CTL_REOPEN] = do_reopen,   [CTL_SEND] = do_send,
    [CTL_CONFIG] = do_config,   [CTL_DESCRIBE] = do_describe,
    [CTL_UPDATE] = do_reload,
    [CTL_SIGNAL] = do_signal,   [CTL_FLUSH] = do_flush,
    [CTL_UPGRADE] = do_upgrade,
};

static void do_request(struct master *m, struct conn *cn, const char *json,
                       size_t len) {
  struct ctl_req rq;
  const char *refused;
  if (ctl_decode(json, len, &rq) < 0) {
    reply_error(cn, "%s", rq.err);
    return;
  }
  if (cn->wait != WAIT_NONE) {
    reply_error(cn, "one request at a time: the last one is still running");
    return;
  }
  if ((refused = refusal(m, rq.cmd))) {
    reply_error(cn, "cannot %s: %s", rq.name, refused);
    return;
  }
  handlers[rq.cmd](m, cn, &rq);
}

static void conn_cb(herd_loop_t *loop, herd_chan_t *ch, int err,
                    herd_chan_msg_t *msg, void *data) {
  (void)loop;
  (void)ch;
  struct conn *cn = data;
  struct master *m = cn->m;
  if (msg && msg->fd >= 0) {
    (void)close(msg->fd); /* fds are not part of this protocol */
    msg->fd = -1;
  }
  if (err == 0 && msg) {
    cn->last_ms = herd_now_ms();
    do_request(m, cn, msg->json, msg->len);
    return;
  }
  if (err == HERD_EFRAME) {
    reply_error(cn, "malformed request: not a line of JSON");
    return;
  }
  if (err == HERD_EPEERGONE && cn->wait != WAIT_NONE) {
    /* shut for writing (echo ... | socat): the reply it waits for still
     * goes out when it is ready */
    cn->eof = 1;
    return;
  }
  if (err == HERD_ETOOLONG) {
    reply_error(cn, "request too long (more than %d bytes)", CTL_MAX_REQUEST);
    /* the rest of it is not worth reading */
  } else if (err == HERD_ESERIAL) {
    reply_error(cn, "malformed request: not JSON lines");
  }
  conn_free(m, cn);
}

static void short_timer_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)t;
  struct master *m = data;
  if (m->spare_fd < 0)
    m->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (m->ctl_fd >= 0)
    (void)herd_loop_mod(loop, m->ctl_fd, EPOLLIN);
  if (m->metrics_fd >= 0)
    (void)herd_loop_mod(loop, m->metrics_fd, EPOLLIN);
}

int accept_failed(struct master *m, int fd, int err, const char *what,
                  const char *reply) {
  if (err == -EINTR || err == -ECONNABORTED || err == -EPROTO)
    return 1; /* that one connection: the next may be fine */
  if (err != -EMFILE && err != -ENFILE && err != -ENOBUFS && err != -ENOMEM)
    return 0; /* -EAGAIN: none left */
  if (!m->fd_short) {
    m->fd_short = 1;
    logf_(m, "%s: cannot take a connection: %s (each is answered so and closed "
          "until there are fds again)", what, herd_strerror(err));
  }
  if (m->spare_fd >= 0) {
    (void)close(m->spare_fd);
    int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (cfd >= 0) {
      (void)!send(cfd, reply, strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT);
      (void)close(cfd);
    }
    m->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (cfd >= 0 && m->spare_fd >= 0)
      return 1;
  }
  /* no spare (the system is out of files, or another thread took the
   * one ours made room for): stop watching both sockets for a moment */
  (void)herd_loop_mod(m->loop, m->ctl_fd, 0);
  if (m->metrics_fd >= 0)
    (void)herd_loop_mod(m->loop, m->metrics_fd, 0);
  (void)herd_loop_timer_start(m->loop, &m->short_timer, 250, short_timer_cb, m);
  return 0;
}

void accept_ok(struct master *m, const char *what) {
  if (!m->fd_short)
    return;
  m->fd_short = 0;
  logf_(m, "%s: taking connections again", what);
}

void accept_cb(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  (void)events;
  struct master *m = data;
  for (int k = 0; k < 16; k++) {
    int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (cfd < 0) {
      if (accept_failed(m, fd, -errno, "control socket",
                        "{\"ok\":false,\"error\":\"the master is out of file "
                        "descriptors (Too many open files)\"}\n"))
        continue;
      return;
    }
    accept_ok(m, "control socket");
    struct ucred cr;
    socklen_t cl = sizeof cr;
    const char *refuse = NULL;
    char why[160];
    if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0) {
      refuse = "cannot tell who you are (SO_PEERCRED)";
    } else if (cr.uid != geteuid() && cr.uid != 0) {
      snprintf(why, sizeof why, "permission denied: uid %d may not drive "
               "this app (owner uid %d)", (int)cr.uid, (int)geteuid());
      refuse = why;
    } else if (m->nconns >= MAX_CONNS) {
      /* the oldest idle one goes (forgotten clients, a stopped `herd
       * reload` after its reply...), so that a full table never locks
       * out the operator; refused only when every one waits for work */
      struct conn *old = NULL;
      for (struct conn *c = m->conns; c; c = c->next)
        if (c->wait == WAIT_NONE && (!old || c->last_ms <= old->last_ms))
          old = c; /* the list is newest first: <= ends at the oldest of a tie */
      if (old)
        conn_free(m, old);
      else
        refuse = "too many control connections (each waits for a reply)";
    }
    if (refuse) {
      char line[256];
      int n = snprintf(line, sizeof line, "{\"ok\":false,\"error\":\"%s\"}\n",
                       refuse);
      (void)!send(cfd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
      (void)close(cfd);
      continue;
    }
    struct conn *cn = calloc(1, sizeof *cn);
    herd_chan_opts_t co = {.max_message = CTL_MAX_REQUEST, .max_queued = CTL_MAX_QUEUED,
                           .flags = HERD_CHAN_PLAIN};
    if (!cn || herd_chan_open(&cn->ch, cfd, &co) < 0) {
      free(cn); /* herd_chan_open closed cfd */
      if (!cn)
        (void)close(cfd);
      continue;
    }
    cn->m = m;
    cn->last_ms = herd_now_ms();
    /* A client is served a few requests per turn, and not at all while
     * it leaves our replies unread: a flood of pipelined requests from
     * a client that never reads them stalled the master for 30 s (and
     * the app's round-robin traffic with it). */
    if (herd_loop_chan(loop, cn->ch, conn_cb, cn) < 0 ||
        herd_loop_chan_limit(loop, cn->ch, CTL_BATCH, CTL_MAX_UNREAD) < 0) {
      (void)herd_loop_chan_stop(loop, cn->ch);
      herd_chan_close(cn->ch);
      free(cn);
      continue;
    }
    cn->next = m->conns;
    m->conns = cn;
    m->nconns++;
  }
}

/* Bind and listen at path, born 0600 (no window with a wider mode). */
static int bind_listen(int fd, const char *path) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memcpy(sa.sun_path, path, strlen(path) + 1);
  mode_t old = umask(0177);
  int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
  int e = errno;
  umask(old);
  if (r < 0)
    return -e;
  if (chmod(path, 0600) < 0 || listen(fd, 64) < 0) {
    e = -errno;
    (void)unlink(path);
    return e;
  }
  return 0;
}

/* The control socket at sock_path: its fd, or -errno. replace: what is
 * there goes (we hold the pid file's lock: a socket there is a dead
 * master's); else a file there is -EADDRINUSE. The socket is bound and
 * listening under a name of its own first and then moved to sock_path,
 * so that a client never finds the path before it accepts (bound there
 * directly, `herd list` between the bind and the listen took the master
 * for a dead one). */
int open_control(struct master *m, int replace) {
  struct sockaddr_un sa;
  char tmp[sizeof sa.sun_path];
  size_t n = strlen(m->sock_path);
  if (n >= sizeof sa.sun_path)
    return -ENAMETOOLONG;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -errno;
  int r = snprintf(tmp, sizeof tmp, "%s.%d", m->sock_path, (int)getpid());
  if (r < 0 || (size_t)r >= sizeof tmp) {
    /* no room for a second name: bound in place */
    if (replace && unlink(m->sock_path) < 0 && errno != ENOENT)
      r = -errno;
    else
      r = bind_listen(fd, m->sock_path);
  } else {
    (void)unlink(tmp); /* a name of ours, left by a crash of this pid */
    r = bind_listen(fd, tmp);
    if (r == 0) {
      /* link: atomic and refuses an existing path; rename replaces */
      if (replace ? rename(tmp, m->sock_path) < 0 : link(tmp, m->sock_path) < 0)
        r = errno == EEXIST ? -EADDRINUSE : -errno;
      (void)unlink(tmp);
    }
  }
  if (r < 0) {
    (void)close(fd);
    return r;
  }
  return fd;
}

/* ---- HERD_HOME's files, put back -------------------------------- */
