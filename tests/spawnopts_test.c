/* spawnopts_test.c - the spawn options Node has and herd_spawn copies:
 * shell, timeout_ms with kill_signal, abort (herd_abort_t), and the
 * child's killed flag; each held against what tests/node/spawn-opts.js
 * shows Node doing. The exec and loop sides are in abort_test.c. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jtest.h"
#include "test.h"

static const char *sig_name(int sig) {
  switch (sig) {
  case SIGTERM:
    return "\"SIGTERM\"";
  case SIGKILL:
    return "\"SIGKILL\"";
  case SIGINT:
    return "\"SIGINT\"";
  default:
    return sig ? "\"other\"" : "null";
  }
}

/* The child's end as spawn-opts.js prints Node's exit event. */
static char *exit_json(const herd_child_t *c) {
  char code[16] = "null";
  if (c->exit_code >= 0)
    snprintf(code, sizeof code, "%d", c->exit_code);
  char *s = NULL;
  CHECK(asprintf(&s, "{\"code\":%s,\"signal\":%s,\"killed\":%s}\n", code,
                 sig_name(c->term_signal), c->killed ? "true" : "false") > 0);
  return s;
}

/* argv through opts (stdout piped): what the child printed. */
static char *spawn_out(const char *file, char **argv, herd_spawn_opts_t *o) {
  o->stdio[1].kind = HERD_STDIO_PIPE;
  herd_child_t c;
  CHECK_OK(herd_spawn(&c, file, argv, o));
  char *out = test_read_all(c.stdio[1], NULL);
  CHECK_OK(herd_child_wait(&c, 10000));
  CHECK_EQ(herd_child_status(&c), 0);
  herd_child_close(&c);
  return out;
}

static char *json_stdout(const char *out) {
  char *s = NULL;
  /* the outputs here hold no character JSON would escape */
  CHECK(asprintf(&s, "{\"stdout\":\"%.*s\\n\"}\n", (int)strlen(out) - 1, out) > 0);
  return s;
}

TEST(spawn_shell_joins_args_unquoted_as_node) {
  const char *env[] = {"HERD_X=ex", "PATH=/usr/local/bin:/usr/bin:/bin", NULL};
  char *argv[] = {"ignored-argv0", "a  b", "$HERD_X", "'q'", "*.none", NULL};
  for (int fork = 0; fork < 2; fork++) {
    herd_spawn_opts_t o = {.shell = "", .env_mode = HERD_ENV_REPLACE,
                           .env = env, .flags = fork ? HERD_SPAWN_FORK : 0};
    char *out = spawn_out("echo", argv, &o);
    char *ours = json_stdout(out);
    char *node = node_run("spawn-opts.js", "shell", NULL, 0);
    CHECK_STR(ours, node);
    CHECK_STR(out, "a b ex q *.none\n");
    free(out);
    free(ours);
    free(node);
  }
  /* argv0 stands for the shell's $0, as Node's */
  herd_spawn_opts_t o = {.shell = "/bin/sh", .argv0 = "zz"};
  char *a2[] = {"x", NULL};
  char *out = spawn_out("echo $0", a2, &o);
  char *ours = json_stdout(out);
  char *node = node_run("spawn-opts.js", "shell_argv0", NULL, 0);
  CHECK_STR(ours, node);
  free(out);
  free(ours);
  free(node);
  /* a shell found in PATH, as a file is */
  herd_spawn_opts_t b = {.shell = "sh"};
  char *a3[] = {"x", "one", "two", NULL};
  out = spawn_out("echo", a3, &b);
  CHECK_STR(out, "one two\n");
  free(out);
}

TEST(spawn_shell_missing_is_enoent) {
  char *node = node_run("spawn-opts.js", "shell_missing", NULL, 0);
  CHECK_STR(node, "{\"code\":\"ENOENT\"}\n");
  free(node);
  int fds = test_count_fds();
  char *argv[] = {"x", NULL};
  herd_child_t c;
  for (int fork = 0; fork < 2; fork++) {
    herd_spawn_opts_t o = {.shell = "/nonexistent/sh",
                           .flags = fork ? HERD_SPAWN_FORK : 0};
    o.stdio[1].kind = HERD_STDIO_PIPE;
    CHECK_EQ(herd_spawn(&c, "x", argv, &o), -ENOENT);
    CHECK_EQ(c.pid, -1);
    o.shell = "herd-no-such-shell"; /* looked up in PATH */
    CHECK_EQ(herd_spawn(&c, "x", argv, &o), -ENOENT);
  }
  CHECK_EQ(test_count_fds(), fds);
  /* no child was left behind, reaped or not */
  siginfo_t si;
  CHECK(waitid(P_ALL, 0, &si, WEXITED | WNOHANG) < 0 && errno == ECHILD);
}

static void timeout_case(int kill_signal, const char *node_case) {
  char *argv[] = {"sleep", "5", NULL};
  herd_spawn_opts_t o = {.timeout_ms = 100, .kill_signal = kill_signal};
  herd_child_t c;
  uint64_t t0 = test_now_ms();
  CHECK_OK(herd_spawn(&c, "sleep", argv, &o));
  int left = herd_child_timeout(&c);
  CHECK(left > 0 && left <= 100);
  CHECK_EQ(c.killed, 0);
  CHECK_OK(herd_child_wait(&c, -1)); /* the timeout ends the wait */
  uint64_t dt = test_now_ms() - t0;
  CHECK_MSG(dt >= 90 && dt < 3000, "a 100 ms timeout took %llu ms",
            (unsigned long long)dt);
  CHECK_EQ(herd_child_timeout(&c), -1);
  char *ours = exit_json(&c);
  char *node = node_run("spawn-opts.js", node_case, NULL, 0);
  CHECK_STR(ours, node);
  free(ours);
  free(node);
  herd_child_close(&c);
}

TEST(spawn_timeout_kills_with_kill_signal_as_node) {
  timeout_case(0, "timeout");
  timeout_case(SIGKILL, "timeout_kill_signal");
}

TEST(spawn_timeout_through_poll_and_child_timeout) {
  /* A caller with its own loop: poll the pidfd for herd_child_timeout,
   * then herd_child_poll sends the signal. */
  char *argv[] = {"sleep", "5", NULL};
  herd_spawn_opts_t o = {.timeout_ms = 50, .kill_signal = SIGINT};
  herd_child_t c;
  CHECK_OK(herd_spawn(&c, "sleep", argv, &o));
  int r;
  int turns = 0;
  while ((r = herd_child_poll(&c)) == 0) {
    CHECK(++turns < 1000);
    struct pollfd p = {.fd = c.pidfd, .events = POLLIN};
    CHECK(poll(&p, 1, herd_child_timeout(&c)) >= 0);
  }
  CHECK_EQ(r, 1);
  CHECK_EQ(c.term_signal, SIGINT);
  CHECK_EQ(c.killed, 1);
  herd_child_close(&c);
}

TEST(spawn_timeout_zero_negative_huge) {
  herd_child_t c;
  char *quick[] = {"sh", "-c", "exit 3", NULL};
  char *slow[] = {"sleep", "5", NULL};
  /* 0: none */
  herd_spawn_opts_t o = {.timeout_ms = 0};
  CHECK_OK(herd_spawn(&c, "sh", quick, &o));
  CHECK_EQ(herd_child_timeout(&c), -1);
  CHECK_OK(herd_child_wait(&c, 10000));
  CHECK_EQ(c.exit_code, 3);
  CHECK_EQ(c.killed, 0);
  herd_child_close(&c);
  /* negative, a bad signal, a group kill without a group: -EINVAL */
  int fds = test_count_fds();
  herd_spawn_opts_t bad[] = {
      {.timeout_ms = -1}, {.timeout_ms = INT_MIN}, {.kill_signal = -1},
      {.kill_signal = _NSIG}, {.flags = HERD_SPAWN_KILL_GROUP},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_EQ(herd_spawn(&c, "sleep", slow, &bad[i]), -EINVAL);
  CHECK_EQ(test_count_fds(), fds);
  /* INT_MAX: about 24.8 days away, no overflow anywhere */
  o.timeout_ms = INT_MAX;
  CHECK_OK(herd_spawn(&c, "sleep", slow, &o));
  int left = herd_child_timeout(&c);
  CHECK_MSG(left > INT_MAX - 5000 && left <= INT_MAX, "left %d", left);
  CHECK_EQ(herd_child_wait(&c, 50), -ETIMEDOUT);
  CHECK_EQ(herd_child_poll(&c), 0);
  CHECK_EQ(c.killed, 0);
  herd_child_close(&c);
  CHECK_EQ(c.term_signal, SIGKILL);
}

TEST(spawn_timeout_kill_group_reaches_grandchildren) {
  CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  herd_child_t c;
  char *argv[] = {"sh", "-c", "sleep 30 & echo $!; wait", NULL};
  herd_spawn_opts_t o = {.flags = HERD_SPAWN_SETPGID | HERD_SPAWN_KILL_GROUP,
                         .timeout_ms = 100};
  o.stdio[1].kind = HERD_STDIO_PIPE;
  CHECK_OK(herd_spawn(&c, "sh", argv, &o));
  char line[32];
  test_read_line(c.stdio[1], line, sizeof line);
  pid_t grand = atoi(line);
  CHECK(grand > 0);
  CHECK_OK(herd_child_wait(&c, 10000));
  CHECK_EQ(c.term_signal, SIGTERM);
  int st;
  CHECK_EQ(waitpid(grand, &st, 0), grand);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
  herd_child_close(&c);
}

/* A child that left the group it led (setpgid to another of its
 * session) still gets the timeout's kill_signal: before, the group kill
 * failed (-EINVAL, no group of its own) and nothing was sent, so the
 * timeout was never enforced. */
TEST(spawn_timeout_kill_group_child_that_left_its_group_is_killed) {
  char pg[32];
  snprintf(pg, sizeof pg, "%d", (int)getpgrp());
  char *argv[] = {"perl", "-e",
                  "setpgrp(0, $ARGV[0]) or die; $| = 1; print \"moved\\n\"; "
                  "sleep 30",
                  pg, NULL};
  herd_spawn_opts_t o = {.flags = HERD_SPAWN_SETPGID | HERD_SPAWN_KILL_GROUP,
                         .timeout_ms = 100};
  o.stdio[1].kind = HERD_STDIO_PIPE;
  herd_child_t c;
  CHECK_OK(herd_spawn(&c, "perl", argv, &o));
  char line[16];
  test_read_line(c.stdio[1], line, sizeof line);
  CHECK_STR(line, "moved\n");
  CHECK_EQ(getpgid(c.pid), getpgrp());
  int r = herd_child_wait(&c, 5000);
  if (r == -ETIMEDOUT)
    (void)herd_child_kill(&c, SIGKILL, 0);
  CHECK_OK(r);
  CHECK_EQ(c.term_signal, SIGTERM);
  CHECK_EQ(c.killed, 1);
  herd_child_close(&c);
}

TEST(spawn_killed_flag_as_node) {
  char *argv[] = {"sleep", "5", NULL};
  herd_child_t c;
  CHECK_OK(herd_spawn(&c, "sleep", argv, NULL));
  int before = c.killed;
  CHECK_OK(herd_child_kill(&c, 0, 0));
  int after0 = c.killed;
  CHECK_OK(herd_child_kill(&c, SIGKILL, 0));
  CHECK_OK(herd_child_wait(&c, 10000));
  char *ours = NULL;
  CHECK(asprintf(&ours,
                 "{\"before\":%s,\"after0\":%s,\"signal\":%s,\"killed\":%s}\n",
                 before ? "true" : "false", after0 ? "true" : "false",
                 sig_name(c.term_signal), c.killed ? "true" : "false") > 0);
  char *node = node_run("spawn-opts.js", "killed", NULL, 0);
  CHECK_STR(ours, node);
  free(ours);
  free(node);
  /* a failed kill does not set it */
  herd_child_close(&c);
  char *quick[] = {"true", NULL};
  CHECK_OK(herd_spawn(&c, "true", quick, NULL));
  CHECK_OK(herd_child_wait(&c, 10000));
  CHECK_EQ(herd_child_kill(&c, SIGTERM, 0), -ESRCH);
  CHECK_EQ(c.killed, 0);
  herd_child_close(&c);
}

TEST(spawn_abort_fired_before_start_is_ecanceled) {
  herd_abort_t *a;
  CHECK_OK(herd_abort_new(&a));
  CHECK_EQ(herd_abort_fired(a), 0);
  struct pollfd p = {.fd = herd_abort_fd(a), .events = POLLIN};
  CHECK_EQ(poll(&p, 1, 0), 0);
  CHECK_OK(herd_abort_fire(a));
  CHECK_OK(herd_abort_fire(a)); /* twice is harmless */
  CHECK_EQ(herd_abort_fired(a), 1);
  CHECK_EQ(poll(&p, 1, 0), 1);
  CHECK_EQ(poll(&p, 1, 0), 1); /* stays readable for every watcher */
  int fds = test_count_fds();
  herd_child_t c;
  char *argv[] = {"sleep", "5", NULL};
  herd_spawn_opts_t o = {.abort = a};
  o.stdio[1].kind = HERD_STDIO_PIPE;
  CHECK_EQ(herd_spawn(&c, "sleep", argv, &o), -ECANCELED);
  CHECK_EQ(c.pid, -1);
  CHECK_EQ(test_count_fds(), fds);
  siginfo_t si;
  CHECK(waitid(P_ALL, 0, &si, WEXITED | WNOHANG) < 0 && errno == ECHILD);
  herd_abort_free(a);
  herd_abort_free(NULL);
  CHECK_EQ(herd_abort_new(NULL), -EINVAL);
  CHECK_EQ(herd_abort_fire(NULL), -EINVAL);
  CHECK_EQ(herd_abort_fired(NULL), -EINVAL);
  CHECK_EQ(herd_abort_fd(NULL), -EINVAL);
}

static void *fire_later(void *arg) {
  /* Not a synchronisation: the wait must wake whether it is already
   * blocked or not; the pause makes the blocked case the likely one. */
  usleep(100 * 1000);
  (void)herd_abort_fire(arg);
  return NULL;
}

TEST(spawn_abort_from_another_thread_ends_the_wait) {
  herd_abort_t *a;
  CHECK_OK(herd_abort_new(&a));
  char *argv[] = {"sleep", "20", NULL};
  herd_spawn_opts_t o = {.abort = a};
  herd_child_t c, d;
  CHECK_OK(herd_spawn(&c, "sleep", argv, &o));
  o.kill_signal = SIGKILL; /* one abort, two children, each its signal */
  CHECK_OK(herd_spawn(&d, "sleep", argv, &o));
  pthread_t t;
  uint64_t t0 = test_now_ms();
  CHECK_EQ(pthread_create(&t, NULL, fire_later, a), 0);
  CHECK_OK(herd_child_wait(&c, -1));
  uint64_t dt = test_now_ms() - t0;
  CHECK_EQ(pthread_join(t, NULL), 0);
  CHECK_MSG(dt < 5000, "the abort took %llu ms", (unsigned long long)dt);
  char *ours = exit_json(&c);
  char *node = node_run("spawn-opts.js", "abort", NULL, 0);
  CHECK_STR(ours, node);
  free(ours);
  free(node);
  CHECK_OK(herd_child_wait(&d, 10000));
  CHECK_EQ(d.term_signal, SIGKILL);
  CHECK_EQ(d.killed, 1);
  herd_child_close(&c);
  herd_child_close(&d);
  herd_abort_free(a);
}

TEST(spawn_abort_after_exit_does_nothing) {
  herd_abort_t *a;
  CHECK_OK(herd_abort_new(&a));
  char *argv[] = {"true", NULL};
  herd_spawn_opts_t o = {.abort = a};
  herd_child_t c;
  CHECK_OK(herd_spawn(&c, "true", argv, &o));
  CHECK_OK(herd_child_wait(&c, 10000));
  CHECK_OK(herd_abort_fire(a));
  CHECK_EQ(herd_child_poll(&c), 1);
  CHECK_OK(herd_child_wait(&c, 100));
  char *ours = exit_json(&c);
  char *node = node_run("spawn-opts.js", "abort_after_exit", NULL, 0);
  CHECK_STR(ours, node);
  free(ours);
  free(node);
  herd_child_close(&c);
  herd_abort_free(a);
}

/* HERD_FORK_ADVANCED is herd_fork's (it takes it out of the flags and
 * makes the channel): herd_spawn and herd_exec, which make none, refuse
 * it rather than start a child that waits for a channel in vain. */
TEST(spawn_refuses_the_fork_only_advanced_flag) {
  int fds = test_count_fds();
  char *argv[] = {"true", NULL};
  herd_child_t c;
  herd_spawn_opts_t o = {.flags = HERD_FORK_ADVANCED};
  CHECK_EQ(herd_spawn(&c, "true", argv, &o), -EINVAL);
  herd_exec_opts_t x = HERD_EXEC_OPTS_INIT;
  x.spawn.flags = HERD_FORK_ADVANCED;
  herd_exec_result_t r;
  CHECK_EQ(herd_exec("true", &x, &r), -EINVAL);
  CHECK_EQ(test_count_fds(), fds);
}
