/* abort_test.c - cancel and timeouts beyond herd_spawn itself: an exec
 * (sync from another thread, the step API, herd_loop_exec) canceled by a
 * herd_abort_t, the exec's shell option against Node's, and the loop's
 * child watch enforcing a spawn's timeout_ms and abort. */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jtest.h"
#include "test.h"

static void check_no_children(void) {
  siginfo_t si;
  CHECK(waitid(P_ALL, 0, &si, WEXITED | WNOHANG) < 0 && errno == ECHILD);
}

static void *fire_later(void *arg) {
  /* Not a synchronisation: the call must end whether it is already
   * blocked or not; the pause makes the blocked case the likely one. */
  usleep(100 * 1000);
  (void)herd_abort_fire(arg);
  return NULL;
}

TEST(exec_shell_option_as_node) {
  herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
  herd_exec_result_t sh, bash;
  CHECK_OK(herd_exec("echo $0", &o, &sh));
  o.spawn.shell = "bash"; /* found in PATH, as Node's */
  CHECK_OK(herd_exec("echo $0", &o, &bash));
  char *ours = NULL;
  CHECK(asprintf(&ours, "{\"sh\":\"%.*s\\n\",\"bash\":\"%.*s\\n\"}\n",
                 (int)sh.out_len - 1, sh.out, (int)bash.out_len - 1,
                 bash.out) > 0);
  char *node = node_run("spawn-opts.js", "exec_shell", NULL, 0);
  CHECK_STR(ours, node);
  free(ours);
  free(node);
  herd_exec_result_free(&sh);
  herd_exec_result_free(&bash);
  /* execFile with a shell: its args are the shell's words */
  herd_exec_result_t r;
  herd_exec_opts_init(&o);
  o.spawn.shell = "";
  const char *env[] = {"HERD_X=ex", NULL};
  o.spawn.env_mode = HERD_ENV_ADD;
  o.spawn.env = env;
  char *argv[] = {"echo", "$HERD_X", "a;", "echo", "b", NULL};
  CHECK_OK(herd_exec_file("echo", argv, &o, &r));
  CHECK_STR(r.out, "ex a\nb\n");
  herd_exec_result_free(&r);
  /* a shell that is not there: the spawn's error, nothing left */
  int fds = test_count_fds();
  o.spawn.shell = "/nonexistent/sh";
  CHECK_EQ(herd_exec("true", &o, &r), -ENOENT);
  CHECK_EQ(herd_exec_file("echo", argv, &o, &r), -ENOENT);
  CHECK_EQ(test_count_fds(), fds);
  /* the exec's timeout is its own: the spawn's must stay 0 */
  herd_exec_opts_init(&o);
  o.spawn.timeout_ms = 10;
  CHECK_EQ(herd_exec("true", &o, &r), -EINVAL);
  herd_exec_opts_init(&o);
  o.spawn.kill_signal = SIGKILL;
  CHECK_EQ(herd_exec("true", &o, &r), -EINVAL);
  check_no_children();
}

TEST(exec_abort_from_another_thread_returns_canceled) {
  herd_abort_t *a;
  CHECK_OK(herd_abort_new(&a));
  int fds = test_count_fds();
  herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
  o.spawn.abort = a;
  herd_exec_result_t r;
  pthread_t t;
  uint64_t t0 = test_now_ms();
  CHECK_EQ(pthread_create(&t, NULL, fire_later, a), 0);
  /* the shell's child would hold the pipes: the group kill ends it too */
  CHECK_OK(herd_exec("echo started; sleep 20; echo never", &o, &r));
  uint64_t dt = test_now_ms() - t0;
  CHECK_EQ(pthread_join(t, NULL), 0);
  CHECK_MSG(dt < 5000, "canceled after %llu ms", (unsigned long long)dt);
  CHECK_EQ(r.reason, HERD_EXEC_CANCELED);
  CHECK_EQ(r.term_signal, SIGTERM);
  CHECK_STR(r.out, "started\n");
  herd_exec_result_free(&r);
  CHECK_EQ(test_count_fds(), fds);
  /* fired already: no child, -ECANCELED, for both forms */
  char *argv[] = {"true", NULL};
  CHECK_EQ(herd_exec("true", &o, &r), -ECANCELED);
  CHECK_EQ(herd_exec_file("true", argv, &o, &r), -ECANCELED);
  herd_exec_t *x;
  CHECK_EQ(herd_exec_start(&x, "true", argv, 0, &o), -ECANCELED);
  CHECK(x == NULL);
  CHECK_EQ(test_count_fds(), fds);
  herd_abort_free(a);
  check_no_children();
}

TEST(exec_abort_after_exit_changes_nothing) {
  herd_abort_t *a;
  CHECK_OK(herd_abort_new(&a));
  herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
  o.spawn.abort = a;
  herd_exec_t *x;
  char *argv[] = {"sh", "-c", "exit 7", NULL};
  CHECK_OK(herd_exec_start(&x, "sh", argv, 0, &o));
  int r;
  while ((r = herd_exec_step(x)) == 0) {
    int fds[HERD_EXEC_FDS_MAX];
    short ev[HERD_EXEC_FDS_MAX];
    struct pollfd p[HERD_EXEC_FDS_MAX];
    int n = herd_exec_fds(x, fds, ev, HERD_EXEC_FDS_MAX);
    for (int i = 0; i < n; i++)
      p[i] = (struct pollfd){.fd = fds[i], .events = ev[i]};
    CHECK(poll(p, (nfds_t)n, herd_exec_timeout(x)) >= 0);
  }
  CHECK_EQ(r, 1);
  CHECK_OK(herd_abort_fire(a));
  CHECK_EQ(herd_exec_step(x), 1);
  int fds[HERD_EXEC_FDS_MAX];
  short ev[HERD_EXEC_FDS_MAX];
  CHECK_EQ(herd_exec_fds(x, fds, ev, HERD_EXEC_FDS_MAX), 0);
  herd_exec_result_t res;
  CHECK_OK(herd_exec_take(x, &res));
  CHECK_EQ(res.reason, HERD_EXEC_EXITED);
  CHECK_EQ(res.exit_code, 7);
  herd_exec_result_free(&res);
  herd_exec_free(x);
  herd_abort_free(a);
}

TEST(exec_step_api_names_the_abort_fd) {
  herd_abort_t *a;
  CHECK_OK(herd_abort_new(&a));
  herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
  o.spawn.abort = a;
  herd_exec_t *x;
  char *argv[] = {"sleep", "20", NULL};
  CHECK_OK(herd_exec_start(&x, "sleep", argv, 0, &o));
  CHECK_EQ(herd_exec_step(x), 0);
  int fds[HERD_EXEC_FDS_MAX];
  short ev[HERD_EXEC_FDS_MAX];
  struct pollfd p[HERD_EXEC_FDS_MAX];
  int n = herd_exec_fds(x, fds, ev, HERD_EXEC_FDS_MAX);
  CHECK(n >= 1);
  CHECK_OK(herd_abort_fire(a));
  for (int i = 0; i < n; i++)
    p[i] = (struct pollfd){.fd = fds[i], .events = ev[i]};
  /* the fired abort alone wakes a poll on what herd_exec_fds named */
  CHECK_EQ(poll(p, (nfds_t)n, 10000), 1);
  int r;
  while ((r = herd_exec_step(x)) == 0) {
    n = herd_exec_fds(x, fds, ev, HERD_EXEC_FDS_MAX);
    for (int i = 0; i < n; i++) {
      CHECK(fds[i] != herd_abort_fd(a));
      p[i] = (struct pollfd){.fd = fds[i], .events = ev[i]};
    }
    CHECK(poll(p, (nfds_t)n, herd_exec_timeout(x)) >= 0);
  }
  CHECK_EQ(r, 1);
  herd_exec_result_t res;
  CHECK_OK(herd_exec_take(x, &res));
  CHECK_EQ(res.reason, HERD_EXEC_CANCELED);
  CHECK_EQ(res.term_signal, SIGTERM);
  herd_exec_result_free(&res);
  herd_exec_free(x);
  herd_abort_free(a);
  check_no_children();
}

/* ---- the loop ---------------------------------------------------- */

struct execrec {
  int calls;
  int err;
  herd_exec_result_t res;
};

static void exec_cb(herd_loop_t *l, int err, herd_exec_result_t *res,
                    void *data) {
  (void)l;
  struct execrec *e = data;
  e->calls++;
  e->err = err;
  if (res)
    e->res = *res;
}

struct childrec {
  int calls;
  int term_signal;
  int exit_code;
  int killed;
  uint64_t at;
};

static void child_cb(herd_loop_t *l, herd_child_t *c, void *data) {
  (void)l;
  struct childrec *r = data;
  r->calls++;
  r->term_signal = c->term_signal;
  r->exit_code = c->exit_code;
  r->killed = c->killed;
  r->at = test_now_ms();
}

static void fire_cb(herd_loop_t *l, herd_timer_t *t, void *data) {
  (void)l;
  (void)t;
  CHECK_OK(herd_abort_fire(data));
}

TEST(loop_exec_abort_cancels_every_exec_sharing_it) {
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  herd_abort_t *a;
  CHECK_OK(herd_abort_new(&a));
  int fds = test_count_fds();
  herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
  o.spawn.abort = a;
  struct execrec e[2];
  memset(e, 0, sizeof e);
  char *argv[] = {"sleep", "20", NULL};
  CHECK_OK(herd_loop_exec(l, "sleep", argv, 0, &o, exec_cb, &e[0]));
  CHECK_OK(herd_loop_exec(l, "sleep 20", NULL, 1, &o, exec_cb, &e[1]));
  herd_timer_t t = {0};
  CHECK_OK(herd_loop_timer_start(l, &t, 50, fire_cb, a));
  uint64_t t0 = test_now_ms();
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK(test_now_ms() - t0 < 5000);
  /* Nothing of the execs is left in the epoll set: the abort's fd, which
   * stays readable, would make the loop's fd readable for ever (a dup
   * closed before EPOLL_CTL_DEL stays registered). */
  struct pollfd lp = {.fd = herd_loop_fd(l), .events = POLLIN};
  CHECK_EQ(poll(&lp, 1, 0), 0);
  for (int i = 0; i < 2; i++) {
    CHECK_EQ(e[i].calls, 1);
    CHECK_EQ(e[i].err, 0);
    CHECK_EQ(e[i].res.reason, HERD_EXEC_CANCELED);
    CHECK_EQ(e[i].res.term_signal, SIGTERM);
    herd_exec_result_free(&e[i].res);
  }
  CHECK_EQ(test_count_fds(), fds);
  /* fired: a new one does not start */
  CHECK_EQ(herd_loop_exec(l, "sleep", argv, 0, &o, exec_cb, &e[0]), -ECANCELED);
  herd_loop_free(l);
  herd_abort_free(a);
  check_no_children();
}

TEST(loop_child_honours_timeout_and_abort) {
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  herd_abort_t *a;
  CHECK_OK(herd_abort_new(&a));
  int fds = test_count_fds();
  char *argv[] = {"sleep", "20", NULL};
  herd_child_t c[3];
  struct childrec r[3];
  memset(r, 0, sizeof r);
  /* 0: a timeout; 1 and 2: one abort, fired by a timer */
  herd_spawn_opts_t o0 = {.timeout_ms = 100, .kill_signal = SIGKILL};
  herd_spawn_opts_t o1 = {.abort = a};
  CHECK_OK(herd_spawn(&c[0], "sleep", argv, &o0));
  CHECK_OK(herd_spawn(&c[1], "sleep", argv, &o1));
  CHECK_OK(herd_spawn(&c[2], "sleep", argv, &o1));
  uint64_t t0 = test_now_ms();
  for (int i = 0; i < 3; i++)
    CHECK_OK(herd_loop_child(l, &c[i], child_cb, &r[i]));
  herd_timer_t t = {0};
  CHECK_OK(herd_loop_timer_start(l, &t, 300, fire_cb, a));
  CHECK_EQ(herd_loop_run(l), 0);
  struct pollfd lp = {.fd = herd_loop_fd(l), .events = POLLIN};
  CHECK_EQ(poll(&lp, 1, 0), 0); /* the guards left the epoll set */
  CHECK_EQ(r[0].calls, 1);
  CHECK_EQ(r[0].term_signal, SIGKILL);
  CHECK_EQ(r[0].killed, 1);
  CHECK_MSG(r[0].at - t0 >= 90 && r[0].at - t0 < 3000, "timeout after %llu ms",
            (unsigned long long)(r[0].at - t0));
  for (int i = 1; i < 3; i++) {
    CHECK_EQ(r[i].calls, 1);
    CHECK_EQ(r[i].term_signal, SIGTERM);
    CHECK_EQ(r[i].killed, 1);
    CHECK(r[i].at - t0 >= 290);
  }
  for (int i = 0; i < 3; i++)
    herd_child_close(&c[i]);
  CHECK_EQ(test_count_fds(), fds);
  herd_loop_free(l);
  herd_abort_free(a);
  check_no_children();
}

TEST(loop_child_guard_freed_with_the_loop) {
  /* A watched child with a timeout and an abort, the loop freed before
   * either fires: its fd copy is closed and its timer leaves the heap. */
  herd_abort_t *a;
  CHECK_OK(herd_abort_new(&a));
  int fds = test_count_fds();
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  char *argv[] = {"sleep", "20", NULL};
  herd_spawn_opts_t o = {.timeout_ms = 60000, .abort = a};
  herd_child_t c, d;
  CHECK_OK(herd_spawn(&c, "sleep", argv, &o));
  CHECK_OK(herd_spawn(&d, "sleep", argv, &o));
  struct childrec r;
  memset(&r, 0, sizeof r);
  CHECK_OK(herd_loop_child(l, &c, child_cb, &r));
  CHECK_OK(herd_loop_child(l, &d, child_cb, &r));
  CHECK_OK(herd_loop_child_stop(l, &d));
  CHECK_EQ(herd_loop_run_once(l, 0), 0);
  herd_loop_free(l);
  CHECK_EQ(r.calls, 0);
  herd_child_close(&c);
  herd_child_close(&d);
  CHECK_EQ(test_count_fds(), fds);
  herd_abort_free(a);
  check_no_children();
}

TEST(loop_child_abort_after_exit_does_nothing) {
  /* The child has exited (its pidfd is readable) and the abort fires
   * before the loop has reaped it: no signal goes to the zombie, as
   * Node's exit drops its abort listener. (epoll reports the pidfd
   * first here, as it was ready first; the guard also reaps before it
   * signals, for a batch where its fd or timer comes first.) */
  herd_abort_t *a;
  CHECK_OK(herd_abort_new(&a));
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  char *argv[] = {"sh", "-c", "exit 4", NULL};
  herd_spawn_opts_t o = {.abort = a, .timeout_ms = 1};
  herd_child_t c;
  CHECK_OK(herd_spawn(&c, "sh", argv, &o));
  struct pollfd p = {.fd = c.pidfd, .events = POLLIN};
  CHECK_EQ(poll(&p, 1, 10000), 1);
  CHECK_OK(herd_abort_fire(a));
  struct childrec r;
  memset(&r, 0, sizeof r);
  CHECK_OK(herd_loop_child(l, &c, child_cb, &r));
  CHECK_EQ(herd_loop_run(l), 0);
  CHECK_EQ(r.calls, 1);
  CHECK_EQ(r.exit_code, 4);
  CHECK_EQ(r.killed, 0);
  herd_child_close(&c);
  herd_loop_free(l);
  herd_abort_free(a);
}
