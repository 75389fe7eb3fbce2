/*
 * master.c - the master of one app, for `herd run` (foreground) and
 * `herd start` (a daemon): libherd's cluster engine plus what an
 * operator drives it with.
 *
 * - The control socket HERD_HOME/NAME.sock (mode 0600, the peer's uid
 *   checked with SO_PEERCRED: ours or root's): JSON lines, one request,
 *   one reply (see docs/control.md).
 * - The pid file HERD_HOME/NAME.pid, locked for as long as we live.
 * - Worker output to HERD_HOME/logs/NAME-{out,err}.log through the log
 *   writer (start), or to our own stdout/stderr (run).
 * - --max-memory: a once-a-second look at the workers' RSS, a graceful
 *   replacement for one over the limit.
 * - --metrics: a Prometheus text endpoint.
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "master.h"

static int on_init(herd_cluster_t *c, void *data) {
  struct master *m = data;
  m->c = c;
  m->loop = herd_cluster_loop(c);
  int r;
  if (m->ctl_fd >= 0 &&
      (r = herd_loop_add(m->loop, m->ctl_fd, EPOLLIN, accept_cb, m)) < 0)
    return r;
  if (m->metrics_fd >= 0 &&
      (r = herd_loop_add(m->loop, m->metrics_fd, EPOLLIN, metrics_accept, m)) < 0)
    return r;
  if (out_writer(m) &&
      (r = herd_loop_add(m->loop, logw_event_fd(out_writer(m)), EPOLLIN, log_low_cb,
                         m)) < 0)
    return r;
  if (m->a->max_memory)
    (void)herd_loop_timer_start(m->loop, &m->mem_timer, MEM_CHECK_MS, mem_check, m);
  if (m->ctl_fd >= 0 && !m->upin) /* upgradein.c: once the names are ours */
    home_watch(m);
  if (m->upin && (r = upin_watch(m)) < 0)
    return r;
  watch_start(m);
  cron_start(m);
  return 0;
}

/* The master's state at rest: no fds yet but the spare, and herd run's
 * terminal writer. */
/* The fd table grown now to hold the workers' fds (3 each, and some),
 * before a thread shares it: grown later, each growth waits for an RCU
 * grace period (milliseconds; a start of 64 workers took 2.5x as long
 * when the table started small). Within RLIMIT_NOFILE; a table never
 * shrinks, so this is its size anyway once the workers run. */
static void fdtable_reserve(int fd, int workers) {
  struct rlimit rl;
  long want = 64 + 4L * (workers > 0 ? workers : sysconf(_SC_NPROCESSORS_ONLN));
  if (fd < 0 || getrlimit(RLIMIT_NOFILE, &rl) < 0)
    return;
  if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)want >= rl.rlim_cur)
    want = (long)rl.rlim_cur - 1;
  int hi = want > 64 ? fcntl(fd, F_DUPFD_CLOEXEC, (int)want) : -1;
  if (hi >= 0)
    (void)close(hi);
}

/* struct master's paths before they are set: never freed */
static char no_path[] = "";

int master_path_set(char **dst, const char *src) {
  char *c = strdup(src);
  if (!c)
    return -ENOMEM;
  if (*dst != no_path)
    free(*dst);
  *dst = c;
  return 0;
}

/* Entry i stays the i-th address said (upgrade.c indexes them as the
 * sockets): once one could not be added, none is (cap_listen_text -1). */
char *master_listen_text_add(struct master *m) {
  if (m->cap_listen_text < 0 || m->nlisten_text >= MAX_LISTEN)
    return NULL;
  if (m->nlisten_text == m->cap_listen_text) {
    int cap = m->cap_listen_text ? 2 * m->cap_listen_text : 2;
    if (cap > MAX_LISTEN)
      cap = MAX_LISTEN;
    void *t = realloc(m->listen_text, (size_t)cap * sizeof m->listen_text[0]);
    if (!t) {
      m->cap_listen_text = -1;
      return NULL;
    }
    m->listen_text = t;
    m->cap_listen_text = cap;
  }
  char *e = m->listen_text[m->nlisten_text++];
  e[0] = '\0';
  return e;
}

static void master_paths_free(struct master *m) {
  char **p[] = {&m->home, &m->sock_path, &m->out_path, &m->err_path,
                &m->herd_path, &m->pid_path, &m->self_exe};
  for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
    if (*p[i] != no_path)
      free(*p[i]);
    *p[i] = no_path;
  }
}

static void master_init(struct master *m, struct app *a, int daemon,
                        int status_fd) {
  memset(m, 0, sizeof *m);
  m->home = m->sock_path = m->out_path = m->err_path = m->herd_path =
      m->pid_path = m->self_exe = no_path;
  m->a = a;
  m->daemon = daemon;
  m->status_fd = status_fd;
  m->ctl_fd = -1;
  m->ino_fd = -1;
  m->wd_home = m->wd_logs = -1;
  m->metrics_fd = -1;
  /* a fd in reserve, for when there are none left (ctlsrv.c) */
  m->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  fdtable_reserve(m->spare_fd, a->o.workers);
  /* herd run: its output through a thread of its own, so that a reader
   * that stalls (a paused terminal, a pipe nobody drains) never stops
   * the loop (without one, the lines are written directly) */
  if (!daemon)
    (void)logw_open_term(&m->tw, a->name, 8u << 20);
  m->upin = upin_get();
  /* SIGUSR2's binary: the path we were started from, read now (once the
   * file is replaced, the link says "(deleted)"); re-resolved by the
   * exec then, so a package's new binary at that path is the one run */
  /* out of memory: "" as for a link we could not read (upgrade.c). On
   * the heap, not in the frame: master_main's (into which this is
   * inlined) holds the master's whole life, and every call under it
   * would run that much deeper into the stack (whose pages stay) */
  char *exe = malloc(PATH_MAX);
  if (exe) {
    ssize_t n = readlink("/proc/self/exe", exe, PATH_MAX - 1);
    exe[n > 0 ? n : 0] = '\0';
    (void)master_path_set(&m->self_exe, exe);
    free(exe);
  }
}

/* HERD_HOME made ready, and its files' paths set in m, built in buf (n
 * bytes; PATH_MAX). 0; 1 if there is no usable home (err says why); -1
 * with err set. */
static int home_paths(struct master *m, char *buf, size_t n, char *err, size_t errlen) {
  buf[0] = '\0';
  int bad = home_setup(buf, n, err, errlen) < 0;
  /* failed too: the path tried (--watch leaves it out, watch.c) */
  if (master_path_set(&m->home, buf) < 0 && !bad) {
    say(err, errlen, "HERD_HOME %s: out of memory", buf);
    return -1;
  }
  if (bad)
    return 1;
  static const char *const suffix[] = {".pid", ".sock", "-out.log", "-err.log",
                                       "-herd.log"};
  char **dst[] = {&m->pid_path, &m->sock_path, &m->out_path, &m->err_path,
                  &m->herd_path};
  for (size_t i = 0; i < sizeof dst / sizeof dst[0]; i++) {
    if (home_path(buf, n, m->home, m->a->name, suffix[i]) < 0) {
      say(err, errlen, "HERD_HOME %s: path too long", m->home);
      return -1;
    }
    if (master_path_set(dst[i], buf) < 0) {
      say(err, errlen, "%s: out of memory", buf);
      return -1;
    }
  }
  return 0;
}

/* HERD_HOME's files: the paths, the pid file (*pidfile: the one the
 * daemon opened, or the one opened here), the control socket, the log
 * files. In the foreground a missing or unwritable home costs the
 * control socket only; a daemon cannot do without it. 0, or -1 with
 * err set. */
static int home_open(struct master *m, herd_pidfile_t **pidfile, char *err,
                     size_t errlen) {
  struct app *a = m->a;
  /* the paths are built on the heap, not in a PATH_MAX array here: this
   * is inlined into master_main, whose frame holds the master's whole
   * life (see master_init) */
  char *buf = malloc(PATH_MAX);
  if (!buf) {
    say(err, errlen, "HERD_HOME: out of memory");
    return -1;
  }
  int r = home_paths(m, buf, PATH_MAX, err, errlen);
  free(buf);
  if (r < 0)
    return -1;
  if (r > 0) {
    if (m->daemon)
      return -1;
    notice(m, "no control socket: %s", err);
    err[0] = '\0';
    return 0;
  }
  if (m->upin && upin_paths(m, err, errlen) < 0)
    return -1;
  /* after upin_paths, which gives herd upgrade's new master paths of its
   * own (and frees the ones it replaces) */
  const char *pid_path = m->pid_path;
  if (!*pidfile) {
    pid_t holder = 0;
    r = herd_pidfile_open(pidfile, pid_path, &holder);
    if (r == -EBUSY) {
      say(err, errlen, "app '%s' is already running (master pid %d); "
               "stop it first or pick another --name", a->name, (int)holder);
      return -1;
    }
    if (r < 0) {
      say(err, errlen, "%s: %s", pid_path, herd_strerror(r));
      return -1;
    }
  } else if ((r = herd_pidfile_write(*pidfile)) < 0) {
    say(err, errlen, "%s: %s", pid_path, herd_strerror(r));
    return -1;
  }
  if ((r = open_control(m, 1)) < 0) {
    say(err, errlen, "control socket %s: %s", m->sock_path, herd_strerror(r));
    return -1;
  }
  m->ctl_fd = r;
  m->pf = *pidfile;
  if ((m->daemon || a->log_files) &&
      (r = logw_open(&m->lw, m->out_path, m->err_path, a->log_max_size,
                     a->log_keep, 8u << 20)) < 0) {
    say(err, errlen, "logs %s: %s", m->out_path, herd_strerror(r));
    return -1;
  }
  if (m->lw && (r = logw_format(m->lw, a->log_format, a->log_date_format, a->name)) < 0) {
    say(err, errlen, "logs: %s", herd_strerror(r));
    return -1;
  }
  return 0;
}

/* --metrics: its listening socket, said in a line. 0, or -1 with err
 * set. */
static int metrics_open(struct master *m, char *err, size_t errlen) {
  struct app *a = m->a;
  herd_addr_t ad;
  herd_addr_t bound;
  int r;
  if (!a->metrics)
    return 0;
  if (m->upin && m->upin->metrics_fd >= 0) { /* the old master's */
    m->metrics_fd = m->upin->metrics_fd;
    m->upin->metrics_fd = -1; /* ours to close now */
    say(m->metrics_addr, sizeof m->metrics_addr, "%s", m->upin->metrics);
    if (fcntl(m->metrics_fd, F_SETFL, O_NONBLOCK) < 0) {
      say(err, errlen, "--metrics: %s", strerror(errno));
      return -1;
    }
    return 0;
  }
  if ((r = herd_addr_parse(a->metrics, &ad)) < 0 ||
      (r = herd_listen_open(&ad, 64, 0, &bound)) < 0) {
    say(err, errlen, "--metrics %s: %s", a->metrics, herd_strerror(r));
    return -1;
  }
  m->metrics_fd = r;
  say(m->metrics_addr, sizeof m->metrics_addr, "%s", bound.text);
  char msg[160];
  say(msg, sizeof msg, "metrics on http://%s/metrics", bound.text);
  own_line(m, msg);
  if (fcntl(r, F_SETFL, O_NONBLOCK) < 0) {
    say(err, errlen, "--metrics: %s", strerror(errno));
    return -1;
  }
  return 0;
}

/* The engine's sockets: systemd's (socket activation), numbered into
 * act_fds (MAX_LISTEN, the caller's: the engine reads it while it
 * runs), or --listen's. 0, or -1 with err set. */
static int listen_plan(struct master *m, int *act_fds, char *err,
                       size_t errlen) {
  struct app *a = m->a;
  if (m->upin && m->upin->remap) /* herd upgrade -c: some bound anew */
    return upin_listen(m, act_fds, err, errlen);
  if (m->upin) { /* herd upgrade: the old master's sockets */
    for (int i = 0; i < m->upin->nlisten; i++) {
      act_fds[i] = m->upin->fds[i];
      if (!m->upin->listen[i][0])
        continue;
      char *t = master_listen_text_add(m);
      if (t)
        say(t, sizeof m->listen_text[0], "%s", m->upin->listen[i]);
      char msg[200];
      say(msg, sizeof msg, "listening on %s (from master pid %d)", m->upin->listen[i],
          (int)m->upin->old);
      own_line(m, msg);
    }
    a->o.listen_fds = m->upin->nlisten ? act_fds : NULL;
    a->o.nlisten_fds = (size_t)m->upin->nlisten;
    a->o.listen = NULL;
    return 0;
  }
  int nact = herd_listen_fds(1);
  if (nact < 0) {
    say(err, errlen, "LISTEN_FDS: %s", herd_strerror(nact));
    return -1;
  }
  if (nact == 0) {
    a->o.listen = a->listen;
    return 0;
  }
  if (nact > MAX_LISTEN) {
    say(err, errlen, "LISTEN_FDS: at most %d sockets", MAX_LISTEN);
    return -1;
  }
  if (a->o.balance == HERD_BALANCE_REUSEPORT) {
    say(err, errlen, "--balance reuseport needs sockets herd binds "
             "itself, not inherited ones");
    return -1;
  }
  if (a->nlisten)
    plain_line(m, "herd[%s]: socket activation: using the %d inherited "
               "socket%s, not --listen", a->name, nact, nact == 1 ? "" : "s");
  for (int i = 0; i < nact; i++)
    act_fds[i] = 3 + i;
  a->o.listen_fds = act_fds;
  a->o.nlisten_fds = (size_t)nact;
  a->o.listen = NULL;
  return 0;
}

/* The engine's callbacks into the master, and the workers' output piped
 * to us unless nothing would read it. */
static void engine_wire(struct master *m) {
  struct app *a = m->a;
  a->o.on_event = on_event;
  a->o.on_init = on_init;
  a->o.data = m;
  if (!a->quiet || m->lw) {
    a->o.flags |= HERD_CLUSTER_PIPE_OUTPUT;
    a->o.on_output = on_output;
  }
}

/* The master's signals: the ones it ignores, the ones the engine reads. */
static void signals_take(void) {
  /* A closed stdout (herd run | head) must not kill the master, nor a
   * log over RLIMIT_FSIZE (the write fails with EFBIG instead). Workers
   * start with default dispositions whatever ours are. */
  signal(SIGPIPE, SIG_IGN);
  signal(SIGXFSZ, SIG_IGN);
  /* The engine reads these signals while it runs, and gives the mask it
   * found back when it returns: blocked from here to our exit, one that
   * comes while the master writes out its last lines and removes its
   * files (up to a second for a terminal) is not fatal (SIGUSR2 ended it
   * with 140 and left its pid file behind). Workers start with an empty
   * mask whatever ours is. */
  sigset_t handled;
  sigemptyset(&handled);
  static const int sigs[] = {SIGTERM, SIGINT,  SIGQUIT,  SIGHUP,  SIGTTIN, SIGTTOU,
                             SIGUSR1, SIGUSR2, SIGWINCH, SIGALRM, SIGCHLD};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    sigaddset(&handled, sigs[i]);
  (void)sigprocmask(SIG_BLOCK, &handled, NULL);
}

/* The engine failed (r < 0): what failed, into err. 1 if it is in the
 * log already, as the error event it was. */
static int run_failed(struct master *m, int r, char *err, size_t errlen) {
  /* The engine said what failed in an error line. */
  if (!m->errors) {
    say(err, errlen, "%s", herd_strerror(r));
    return 0;
  }
  say(err, errlen, "%s", m->first_error);
  return 1;
}

/* The engine ran and stopped (r >= 0): the end told (to the starter, to
 * the log). The exit code. */
static int run_report(struct master *m, int r, char *err, size_t errlen) {
  int code;
  if (m->start_fail[0]) {
    int sl = m->start_fail_slot;
    struct slot_note *sn = note_of(m, sl);
    const char *last = sn ? sn->exit.line : "";
    say(err, errlen, "%s%s%s", m->start_fail, *last ? ": " : "", last);
    tell_starter_failed(m, err);
    code = 1;
  } else if (!m->reported && m->errors) {
    say(err, errlen, "%s", m->first_error);
    tell_starter_failed(m, err);
    code = 1;
  } else if (r > 0) {
    plain_line(m, "%s: stopped, but some workers had to be killed after "
               "the kill timeout", prog_name);
    code = 1;
  } else {
    logf_(m, "stopped");
    code = m->errors && !m->reported ? 1 : 0;
  }
  if (!m->reported)
    tell_starter_failed(m, "stopped before the workers were ready");
  return code;
}

/* A failure, err, told: on the terminal or stderr (the daemon's log),
 * unless logged there already (herd run said it twice: as the event
 * line, then as "herd run: ..."), and to the starter. daemon and
 * status_fd: as master_main was given them (m->status_fd is -1 once the
 * starter was told). */
static void fail_report(struct master *m, int daemon, int status_fd,
                        const char *err, int logged) {
  if (!err[0])
    return;
  if ((!daemon || status_fd < 0) && !logged)
    plain_line(m, "%s: %s", prog_name, err);
  else if (!logged) {
    char ts[40];
    iso_stamp(ts, sizeof ts);
    fprintf(stderr, "%s herd[%s]: %s\n", ts, m->a->name, err);
  }
  tell_starter_failed(m, err);
}

/* Everything master_init and the set-up opened, closed, in this order:
 * the last replies (killed: the stop had to kill workers), the
 * connections, the files in HERD_HOME, the logs, the pid file
 * (pidfile: master_main's, if m->pf was never set). */
static void teardown(struct master *m, int killed, herd_pidfile_t *pidfile) {
  for (struct conn *cn = m->conns; cn; cn = cn->next)
    if (cn->wait == WAIT_STOP && cn->ch) {
      char last[96];
      int n = snprintf(last, sizeof last, "{\"ok\":true,\"stopped\":true,"
                       "\"killed\":%s}", killed ? "true" : "false");
      reply(cn, last, (size_t)n);
    }
  while (m->conns)
    conn_free(m, m->conns);
  while (m->mconns)
    mconn_free(m, m->mconns);
  watch_stop(m);
  cron_stop(m);
  if (m->ino_fd >= 0) {
    (void)close(m->ino_fd); /* our own removals below are no news */
    m->ino_fd = -1;
  }
  if (m->ctl_fd >= 0) {
    (void)close(m->ctl_fd);
    if (!m->lost_name) /* else the path is the other master's */
      (void)unlink(m->sock_path);
  }
  if (m->metrics_fd >= 0)
    (void)close(m->metrics_fd);
  if (m->spare_fd >= 0)
    (void)close(m->spare_fd);
  logw_close(m->lw);
  /* what is left for the terminal, for a second at most: a reader that
   * stalls must not keep a stopped master alive */
  m->loop = NULL;
  (void)logw_close_within(m->tw, 1000);
  m->tw = NULL;
  free(m->cpu);
  for (int i = 0; i < m->nnotes; i++)
    free(m->notes[i]);
  free(m->notes);
  if (m->status_fd >= 0)
    (void)close(m->status_fd);
  if (m->upin)
    upin_end(m);
  herd_pidfile_close(m->pf ? m->pf : pidfile, !m->lost_name);
}

/* One app's master, as a sequence of steps: set-up (each step may fail,
 * with err said once by fail_report), the engine's run, the end told,
 * teardown (always, of whatever the set-up got to). */
int master_main(struct app *a, int daemon, int status_fd,
                herd_pidfile_t *pidfile) {
  struct master mm, *m = &mm;
  int act_fds[MAX_LISTEN]; /* the engine reads them while it runs */
  int code = 1;
  int r = 0, logged = 0;
  char err[600] = "";
  master_init(m, a, daemon, status_fd);
  if (home_open(m, &pidfile, err, sizeof err) < 0 ||
      metrics_open(m, err, sizeof err) < 0 ||
      listen_plan(m, act_fds, err, sizeof err) < 0)
    goto fail;
  engine_wire(m);
  signals_take();

  r = herd_cluster_run(&a->o, NULL, NULL);
  m->loop = NULL;
  m->c = NULL;
  if (r < 0) {
    logged = run_failed(m, r, err, sizeof err);
    goto fail;
  }
  code = run_report(m, r, err, sizeof err);
  goto out;
fail:
  fail_report(m, daemon, status_fd, err, logged);
  code = 1;
out:
  /* r: the run's result, 0 if it never ran */
  teardown(m, code == 1 && r > 0, pidfile);
  upgrade_free(m);
  live_free(m);
  master_paths_free(m);
  free(m->listen_text);
  return code;
}
