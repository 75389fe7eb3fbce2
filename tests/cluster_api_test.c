/*
 * cluster_api_test.c - steering a running cluster from its own loop:
 * on_init, herd_cluster_workers/stats/replace/scale/restart/reload/stop.
 * The workers are forked functions that wait for their stop signal.
 */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

static int idle_worker(void *arg) {
  (void)arg;
  for (;;)
    pause(); /* until the stop signal (default: terminate) */
  return 0;
}

static int crash_worker(void *arg) {
  (void)arg;
  return 3;
}

struct api {
  herd_cluster_t *c;
  herd_timer_t t;
  int step;
  int inits;
  pid_t slot0;
};

static int count_rows(herd_cluster_t *c, int state, herd_worker_info_t *rows,
                      int n) {
  int k = 0;
  for (int i = 0; i < n; i++)
    k += rows[i].state == state;
  (void)c;
  return k;
}

static void api_step(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct api *s = data;
  herd_worker_info_t rows[16];
  herd_cluster_stats_t st;
  herd_cluster_stats(s->c, &st);
  int n = herd_cluster_workers(s->c, rows, 16);
  switch (s->step++) {
  case 0:
    CHECK_EQ(n, 2);
    CHECK_EQ(count_rows(s->c, HERD_WORKER_READY, rows, n), 2);
    CHECK_EQ(rows[0].slot, 0);
    CHECK_EQ(rows[1].slot, 1);
    CHECK(rows[0].pid > 0 && rows[1].pid > 0 && rows[0].pid != rows[1].pid);
    CHECK_EQ(rows[0].restarts, 0);
    CHECK_EQ(rows[0].exited, 0);
    CHECK_EQ(st.workers, 2);
    CHECK_EQ(st.spawns, 2);
    /* a graceful replacement: ready at once (immediate), the old one
     * stops */
    s->slot0 = rows[0].pid;
    CHECK_EQ(herd_cluster_replace(s->c, 0, "test"), 0);
    n = herd_cluster_workers(s->c, rows, 16);
    CHECK_EQ(n, 3); /* slot 0's new worker, its old one stopping, slot 1 */
    CHECK(rows[0].slot == 0 && rows[0].pid != s->slot0 &&
          rows[0].state == HERD_WORKER_READY);
    CHECK(rows[1].slot == 0 && rows[1].pid == s->slot0 &&
          rows[1].state == HERD_WORKER_STOPPING);
    CHECK_EQ(rows[0].restarts, 1);
    CHECK_EQ(herd_cluster_replace(s->c, 7, NULL), -ENOENT);
    CHECK_EQ(herd_cluster_scale(s->c, 0), -EINVAL);
    CHECK_EQ(herd_cluster_scale(s->c, 5000), -EINVAL);
    /* 3 workers: the new one is ready at once, so ALL_READY comes again */
    CHECK_EQ(herd_cluster_scale(s->c, 3), 0);
    break;
  case 1:
    CHECK_EQ(st.workers, 3);
    CHECK_EQ(n - count_rows(s->c, HERD_WORKER_STOPPING, rows, n), 3);
    CHECK_EQ(herd_cluster_restart(s->c), 0);
    break;
  case 2:
    /* every slot restarted once, none of it counted as a crash */
    CHECK_EQ(count_rows(s->c, HERD_WORKER_READY, rows, n), 3);
    for (int i = 0; i < n; i++)
      if (rows[i].state == HERD_WORKER_READY) {
        CHECK(rows[i].restarts >= 1);
        CHECK_EQ(rows[i].exited, 1);
        CHECK_EQ(rows[i].exit_reason, HERD_REASON_STOPPED);
        CHECK_EQ(rows[i].exit_signal, SIGTERM);
      }
    CHECK_EQ(st.exits_crashed, 0);
    CHECK(st.exits_stopped >= 4);
    CHECK_EQ(st.restarts, 3);
    CHECK_EQ(herd_cluster_reload(s->c), 0);
    break;
  case 3:
    CHECK_EQ(st.reloads, 1);
    CHECK_EQ(st.reloads_failed, 0);
    CHECK_EQ(st.spawns, 2 + 1 + 1 + 3 + 3);
    CHECK_EQ(herd_cluster_stop(s->c, 0), 0);
    CHECK_EQ(herd_cluster_reload(s->c), -ECANCELED);
    CHECK_EQ(herd_cluster_restart(s->c), -ECANCELED);
    CHECK_EQ(herd_cluster_scale(s->c, 2), -ECANCELED);
    break;
  default:
    CHECK_MSG(0, "too many steps");
  }
}

static void api_event(herd_cluster_t *c, const herd_event_t *ev, void *data) {
  (void)c;
  struct api *s = data;
  if (ev->type == HERD_EV_ALL_READY)
    /* the next step from the loop, not from inside the engine's call */
    CHECK_OK(herd_loop_timer_start(herd_cluster_loop(s->c), &s->t, 1, api_step, s));
}

static int api_init(herd_cluster_t *c, void *data) {
  struct api *s = data;
  s->c = c;
  s->inits++;
  return herd_cluster_loop(c) ? 0 : -EINVAL;
}

TEST_T(cluster_api_replace_scale_restart_reload_stop, 30) {
  struct api s;
  memset(&s, 0, sizeof s);
  herd_cluster_opts_t o = HERD_CLUSTER_OPTS_INIT;
  o.workers = 2;
  o.settle_ms = 0; /* ready the moment they start: the steps count on it */
  o.on_event = api_event;
  o.on_init = api_init;
  o.data = &s;
  int r = herd_cluster_run(&o, idle_worker, NULL);
  CHECK_EQ(r, 0);
  CHECK_EQ(s.inits, 1);
  CHECK_EQ(s.step, 4);
}

struct crash {
  herd_cluster_t *c;
  herd_timer_t t;
  int checked;
  int armed;
};

static void crash_check(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct crash *s = data;
  herd_worker_info_t rows[4];
  int n = herd_cluster_workers(s->c, rows, 4);
  CHECK_EQ(n, 1);
  CHECK_EQ(rows[0].pid, 0);
  CHECK_EQ(rows[0].state, HERD_WORKER_BACKOFF);
  CHECK(rows[0].retry_ms > 0 && rows[0].retry_ms <= 100);
  CHECK_EQ(rows[0].exited, 1);
  CHECK_EQ(rows[0].exit_code, 3);
  CHECK_EQ(rows[0].exit_reason, HERD_REASON_CRASHED);
  /* no room: the count, nothing written */
  CHECK_EQ(herd_cluster_workers(s->c, rows, 0), 1);
  herd_cluster_stats_t st;
  herd_cluster_stats(s->c, &st);
  CHECK_EQ(st.exits_crashed, 1);
  s->checked = 1;
  herd_cluster_stop(s->c, 0);
}

static void crash_event(herd_cluster_t *c, const herd_event_t *ev, void *data) {
  (void)c;
  struct crash *s = data;
  if (ev->type == HERD_EV_RESTART && !s->armed++)
    CHECK_OK(herd_loop_timer_start(herd_cluster_loop(s->c), &s->t, 1, crash_check, s));
}

static int crash_init(herd_cluster_t *c, void *data) {
  ((struct crash *)data)->c = c;
  return 0;
}

TEST_T(cluster_api_rows_show_a_backing_off_slot, 30) {
  struct crash s;
  memset(&s, 0, sizeof s);
  herd_cluster_opts_t o = HERD_CLUSTER_OPTS_INIT;
  o.workers = 1;
  o.on_event = crash_event;
  o.on_init = crash_init;
  o.data = &s;
  CHECK_EQ(herd_cluster_run(&o, crash_worker, NULL), 0);
  CHECK_EQ(s.checked, 1);
}

static int failing_init(herd_cluster_t *c, void *data) {
  (void)c;
  (void)data;
  return -EADDRINUSE;
}

TEST(cluster_api_on_init_error_aborts_the_start) {
  herd_cluster_opts_t o = HERD_CLUSTER_OPTS_INIT;
  o.workers = 2;
  o.on_init = failing_init;
  CHECK_EQ(herd_cluster_run(&o, idle_worker, NULL), -EADDRINUSE);
}

/* ---- steering from on_init: on what is about to start ------------- */

struct early {
  herd_cluster_t *c;
  int what; /* 0 scale to 3, 1 stop, 2 reload, 3 restart */
  int started, all_ready, reload_events, events_before_start;
  int reloads_asked, reload_dones;
};

static int early_init(herd_cluster_t *c, void *data) {
  struct early *s = data;
  s->c = c;
  switch (s->what) {
  case 0:
    return herd_cluster_scale(c, 3);
  case 1:
    return herd_cluster_stop(c, 0);
  case 2:
    CHECK_EQ(herd_cluster_replace(c, 0, NULL), -ENOENT);
    return herd_cluster_reload(c);
  default:
    return herd_cluster_restart(c);
  }
}

static void early_event(herd_cluster_t *c, const herd_event_t *ev, void *data) {
  (void)c;
  struct early *s = data;
  if (ev->type == HERD_EV_STARTED)
    s->started++;
  else if (!s->started && ev->type != HERD_EV_LISTEN && ev->type != HERD_EV_SHUTDOWN)
    s->events_before_start++;
  if (ev->type == HERD_EV_RELOAD)
    s->reload_events++;
  if (ev->type == HERD_EV_RELOAD && ev->reason == HERD_REASON_RELOAD_DONE)
    s->reload_dones++;
  if (ev->type != HERD_EV_ALL_READY)
    return;
  s->all_ready++;
  herd_cluster_stats_t st;
  herd_cluster_stats(s->c, &st);
  herd_worker_info_t rows[8];
  if (s->what == 0) {
    /* scaled in on_init: three start, once each */
    CHECK_EQ(ev->code, 3);
    CHECK_EQ(st.workers, 3);
    CHECK_EQ(st.spawns, 3);
    CHECK_EQ(herd_cluster_workers(s->c, rows, 8), 3);
  }
  if (s->what == 4 && s->all_ready == 1) {
    /* two reloads asked at once: the second follows the first, and each
     * ends with its own ALL_READY (systemd's READY=1 after RELOADING=1) */
    CHECK_EQ(herd_cluster_reload(s->c), 0);
    CHECK_EQ(herd_cluster_reload(s->c), 1);
    return;
  }
  if (s->what == 4 && s->all_ready < 3)
    return;
  CHECK_OK(herd_cluster_stop(s->c, 0));
}

static void run_early(struct early *s, int what) {
  memset(s, 0, sizeof *s);
  s->what = what;
  herd_cluster_opts_t o = HERD_CLUSTER_OPTS_INIT;
  o.workers = 1;
  if (what == 4) {
    o.ready = HERD_READY_DELAY; /* a reload that takes a while */
    o.ready_delay_ms = 50;
  }
  o.on_event = early_event;
  o.on_init = early_init;
  o.data = s;
  CHECK_EQ(herd_cluster_run(&o, idle_worker, NULL), 0);
  /* every child reaped */
  CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);
}

TEST_T(cluster_api_steering_from_on_init, 30) {
  struct early s;
  run_early(&s, 0); /* scale: once started 4 workers, two in slot 0 */
  CHECK_EQ(s.started, 3);
  CHECK_EQ(s.all_ready, 1);
  run_early(&s, 1); /* stop: once left a worker running, unreaped */
  CHECK_EQ(s.started, 0);
  CHECK_EQ(s.all_ready, 0);
  run_early(&s, 2); /* reload: once said ALL_READY before any start */
  CHECK_EQ(s.started, 1);
  CHECK_EQ(s.events_before_start, 0);
  CHECK_EQ(s.reload_events, 0);
  CHECK_EQ(s.all_ready, 1);
  run_early(&s, 3); /* restart: nothing to do either */
  CHECK_EQ(s.started, 1);
  CHECK_EQ(s.events_before_start, 0);
  CHECK_EQ(s.all_ready, 1);
}

TEST_T(cluster_api_queued_reload_ends_with_all_ready, 30) {
  struct early s;
  run_early(&s, 4);
  CHECK_EQ(s.reload_dones, 2);
  CHECK_EQ(s.all_ready, 3); /* the start, then each reload */
}

/* LISTEN_FDNAMES of a forked worker (worker_main) with many sockets: it
 * was built in a fixed buffer and cut at 22 names, which
 * sd_listen_fds_with_names refuses; forked and exec'd workers now share
 * one plan (launch.c). */
static int names_worker(void *arg) {
  (void)arg;
  const char *fds = getenv("LISTEN_FDS"), *names = getenv("LISTEN_FDNAMES");
  if (!fds || atoi(fds) != 30 || !names)
    return 7;
  int n = 1;
  for (const char *p = names; *p; p++)
    n += *p == ':';
  if (n != 30 || strncmp(names, "listen0:", 8) || !strstr(names, ":listen29"))
    return 8;
  for (int fd = 3; fd < 33; fd++) /* each a listening socket */
    if (fcntl(fd, F_GETFD) < 0)
      return 9;
  return fcntl(33, F_GETFD) < 0 ? 0 : 10; /* and nothing after them */
}

static int names_code = -1;
static void names_event(herd_cluster_t *c, const herd_event_t *ev, void *data) {
  (void)data;
  if (ev->type == HERD_EV_EXITED && names_code < 0) {
    names_code = ev->code;
    herd_cluster_stop(c, 0);
  }
}

TEST_T(cluster_forked_worker_gets_every_listen_fdname, 30) {
  static const char *addrs[31];
  for (int i = 0; i < 30; i++)
    addrs[i] = "127.0.0.1:0";
  herd_cluster_opts_t o = HERD_CLUSTER_OPTS_INIT;
  o.workers = 1;
  o.listen = addrs;
  o.on_event = names_event;
  CHECK_EQ(herd_cluster_run(&o, names_worker, NULL), 0);
  CHECK_EQ(names_code, 0);
}

/* A struct not filled by HERD_CLUSTER_OPTS_INIT (or built against
 * another header) is refused: its zeros would mean "kill at once, park
 * at the first death". */
TEST(cluster_opts_not_initialized_is_refused) {
  herd_cluster_opts_t o;
  memset(&o, 0, sizeof o);
  o.workers = 1;
  CHECK_EQ(herd_cluster_run(&o, names_worker, NULL), -EINVAL);
  herd_cluster_opts_init(&o);
  o.abi = sizeof o - 8;
  CHECK_EQ(herd_cluster_run(&o, names_worker, NULL), -EINVAL);
}

/* The spawn options of one child's life (shell, timeout, kill signal,
 * abort, group kill) are not a slot's: the cluster reaps and kills its
 * workers itself, so they are refused rather than half applied (a
 * fired abort made every start fail, a timeout was never enforced). */
TEST(cluster_opts_refuse_one_childs_spawn_options) {
  herd_abort_t *ab;
  CHECK_EQ(herd_abort_new(&ab), 0);
  for (int k = 0; k < 6; k++) {
    herd_cluster_opts_t o;
    herd_cluster_opts_init(&o);
    o.workers = 1;
    if (k == 0)
      o.spawn.shell = "";
    if (k == 1)
      o.spawn.timeout_ms = 1000;
    if (k == 2)
      o.spawn.kill_signal = SIGINT;
    if (k == 3)
      o.spawn.abort = ab;
    if (k == 4)
      o.spawn.flags |= HERD_SPAWN_KILL_GROUP | HERD_SPAWN_SETPGID;
    if (k == 5)
      o.spawn.flags |= HERD_FORK_ADVANCED;
    CHECK_EQ(herd_cluster_run(&o, names_worker, NULL), -EINVAL);
  }
  herd_abort_free(ab);
}

/* min_uptime_ms = 0 is expressible (HERD_CLUSTER_OPTS_INIT fills the
 * defaults; 0 once meant "the default"): a worker that was ready and
 * dies is never an early death, so it is replaced at once, however
 * often, and its slot is never parked. */
struct noearly {
  herd_cluster_t *c;
  int restarts, delayed, parked, stopped, started_after;
};

static void noearly_event(herd_cluster_t *c, const herd_event_t *ev, void *data) {
  struct noearly *s = data;
  if (ev->type == HERD_EV_PARKED)
    s->parked++;
  if (ev->type == HERD_EV_STARTED)
    s->started_after += s->stopped;
  if (ev->type != HERD_EV_RESTART)
    return;
  s->restarts++;
  s->delayed += ev->delay_ms != 0;
  if (s->restarts == 10) {
    /* stopped from the RESTART event: no worker may start after it (one
     * did, and was left unreaped when herd_cluster_run returned) */
    s->stopped = 1;
    herd_cluster_stop(c, 0);
  }
}

static int noearly_init(herd_cluster_t *c, void *data) {
  ((struct noearly *)data)->c = c;
  return 0;
}

TEST_T(cluster_api_min_uptime_zero_never_backs_off, 30) {
  struct noearly s;
  memset(&s, 0, sizeof s);
  herd_cluster_opts_t o = HERD_CLUSTER_OPTS_INIT;
  o.workers = 1;
  o.settle_ms = 0; /* ready once started */
  o.min_uptime_ms = 0;
  o.max_restarts = 1;
  o.on_event = noearly_event;
  o.on_init = noearly_init;
  o.data = &s;
  CHECK_EQ(herd_cluster_run(&o, crash_worker, NULL), 0);
  CHECK_EQ(s.restarts, 10);
  CHECK_EQ(s.delayed, 0);
  CHECK_EQ(s.parked, 0);
  CHECK_EQ(s.started_after, 0);
}

/* Its loop failing (epoll_wait's error) ended herd_cluster_run with 0
 * or 1, as a stop, and left running what the workers had left behind:
 * now it returns the error, with everything killed and reaped (the
 * runner fails a test that leaves a child). */
static void loopfail_event(herd_cluster_t *c, const herd_event_t *ev, void *data) {
  (void)data;
  if (ev->type != HERD_EV_ALL_READY)
    return;
  /* the loop's epoll set becomes /dev/null: its next epoll_wait fails */
  int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  CHECK(null >= 0);
  CHECK(dup3(null, herd_loop_fd(herd_cluster_loop(c)), O_CLOEXEC) >= 0);
  close(null);
}

TEST_T(cluster_api_loop_failure_is_returned_and_kills_everything, 30) {
  herd_cluster_opts_t o = HERD_CLUSTER_OPTS_INIT;
  o.workers = 2;
  o.settle_ms = 0;
  o.on_event = loopfail_event;
  CHECK_EQ(herd_cluster_run(&o, idle_worker, NULL), -EINVAL);
}

/* ---- herd_cluster_update: new settings for the workers to come ------- */

struct upd {
  herd_cluster_t *c;
  int all_ready, old_seen, new_seen, done;
};

static char *const upd_argv[] = {"/bin/sh", "-c", "echo \"X=$X\"; exec sleep 100", NULL};
static const char *const upd_env_old[] = {"X=old", NULL};
static const char *const upd_env_new[] = {"X=new", NULL};

static herd_cluster_opts_t upd_opts(const char *const *env) {
  herd_cluster_opts_t o = HERD_CLUSTER_OPTS_INIT;
  o.workers = 2;
  o.file = upd_argv[0];
  o.argv = upd_argv;
  o.spawn.env = env;
  o.spawn.env_mode = HERD_ENV_ADD;
  o.flags = HERD_CLUSTER_PIPE_OUTPUT;
  return o;
}

static int upd_init(herd_cluster_t *c, void *data) {
  struct upd *s = data;
  s->c = c;
  /* refused, and nothing changed: what herd_cluster_run would refuse */
  herd_cluster_opts_t o = upd_opts(upd_env_new);
  o.stop_signal = 0;
  CHECK_EQ(herd_cluster_update(c, &o), -EINVAL);
  o = upd_opts(upd_env_new);
  o.ready = HERD_READY_LISTENING; /* not a Node cluster */
  CHECK_EQ(herd_cluster_update(c, &o), -EINVAL);
  o.ready = HERD_READY_IPC; /* no channels */
  CHECK_EQ(herd_cluster_update(c, &o), -EINVAL);
  o = upd_opts(upd_env_new);
  o.argv = NULL;
  CHECK_EQ(herd_cluster_update(c, &o), -EINVAL);
  o.abi = 0;
  CHECK_EQ(herd_cluster_update(c, &o), -EINVAL);
  return 0;
}

static void upd_output(herd_cluster_t *c, int slot, pid_t pid, int stream,
                       const char *line, size_t len, void *data) {
  (void)c;
  (void)slot;
  (void)pid;
  (void)stream;
  struct upd *s = data;
  s->old_seen += len == 5 && !memcmp(line, "X=old", 5);
  s->new_seen += len == 5 && !memcmp(line, "X=new", 5);
}

static void upd_event(herd_cluster_t *c, const herd_event_t *ev, void *data) {
  struct upd *s = data;
  if (ev->type == HERD_EV_ALL_READY && ++s->all_ready == 1) {
    /* the workers of the reload get the new environment, and max_restarts
     * (its rings are dropped) may change with it */
    herd_cluster_opts_t o = upd_opts(upd_env_new);
    o.max_restarts = 3;
    CHECK_EQ(herd_cluster_update(c, &o), 0);
    CHECK_EQ(herd_cluster_reload(c), 0);
  }
  if (ev->type == HERD_EV_RELOAD && ev->reason == HERD_REASON_RELOAD_DONE) {
    s->done = 1;
    CHECK_EQ(herd_cluster_stop(c, 0), 0);
    herd_cluster_opts_t o = upd_opts(upd_env_old);
    CHECK_EQ(herd_cluster_update(c, &o), -ECANCELED);
  }
}

TEST_T(cluster_api_update_gives_a_reload_new_settings, 30) {
  struct upd s;
  memset(&s, 0, sizeof s);
  herd_cluster_opts_t o = upd_opts(upd_env_old);
  o.on_init = upd_init;
  o.on_event = upd_event;
  o.on_output = upd_output;
  o.data = &s;
  CHECK_EQ(herd_cluster_run(&o, NULL, NULL), 0);
  CHECK_EQ(s.done, 1);
  /* the first two said old, the reload's two said new */
  CHECK_EQ(s.old_seen, 2);
  CHECK_EQ(s.new_seen, 2);
}

/* HERD_ENV_REPLACE: herd's own unsets ("NODE_UNIQUE_ID" without '=',
 * which mean "remove" over an inherited environment) are not handed to
 * execve as they are: every entry an executed worker starts with is
 * NAME=VALUE. */
struct replenv {
  int lines, bad, end;
  char first_bad[128];
};

static void replenv_output(herd_cluster_t *c, int slot, pid_t pid, int stream,
                           const char *line, size_t len, void *data) {
  (void)slot, (void)pid, (void)stream;
  struct replenv *s = data;
  if (len == 3 && !memcmp(line, "END", 3)) {
    s->end = 1;
    herd_cluster_stop(c, 0);
    return;
  }
  s->lines++;
  if (!memchr(line, '=', len) && !s->bad++)
    snprintf(s->first_bad, sizeof s->first_bad, "%.*s", (int)len, line);
}

TEST_T(cluster_replaced_env_has_no_entry_without_a_value, 30) {
  static const char *const env[] = {"PATH=/usr/bin:/bin", "MINE=1", NULL};
  char *const argv[] = {"sh", "-c", "tr '\\0' '\\n' < /proc/$$/environ; echo END; exec sleep 30",
                        NULL};
  struct replenv s = {0};
  herd_cluster_opts_t o;
  herd_cluster_opts_init(&o);
  o.workers = 1;
  o.file = "/bin/sh";
  o.argv = argv;
  o.spawn.env_mode = HERD_ENV_REPLACE;
  o.spawn.env = env;
  o.flags = HERD_CLUSTER_PIPE_OUTPUT;
  o.on_output = replenv_output;
  o.data = &s;
  CHECK_EQ(herd_cluster_run(&o, NULL, NULL), 0);
  CHECK(s.end);
  CHECK(s.lines >= 5); /* PATH, MINE, LISTEN_*, HERD_WORKER_ID, ... */
  CHECK_MSG(!s.bad, "%d entries without '=', the first: %s", s.bad, s.first_bad);
}
