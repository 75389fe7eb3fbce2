/* exec_test.c - herd_exec / herd_exec_file and the async step API. */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

TEST(exec_captures_both_outputs) {
  herd_exec_result_t r;
  CHECK_OK(herd_exec("echo out; echo err >&2; exit 3", NULL, &r));
  CHECK_EQ(r.reason, HERD_EXEC_EXITED);
  CHECK_EQ(r.exit_code, 3);
  CHECK_EQ(r.term_signal, 0);
  CHECK_STR(r.out, "out\n");
  CHECK_EQ(r.out_len, 4);
  CHECK_STR(r.err, "err\n");
  CHECK(r.pid > 0);
  herd_exec_result_free(&r);
  herd_exec_result_free(&r); /* twice is safe */
}

TEST(exec_file_uses_no_shell) {
  herd_exec_result_t r;
  char *argv[] = {"echo", "$HOME", "a b", NULL};
  CHECK_OK(herd_exec_file("echo", argv, NULL, &r));
  CHECK_EQ(r.reason, HERD_EXEC_EXITED);
  CHECK_EQ(r.exit_code, 0);
  CHECK_STR(r.out, "$HOME a b\n");
  CHECK_STR(r.err, "");
  herd_exec_result_free(&r);
}

static void check_pattern(const char *buf, size_t len, char base) {
  for (size_t i = 0; i < len; i++)
    if (buf[i] != (char)(base + i % 26))
      test_fail(__FILE__, __LINE__, "byte %zu is %d, expected %d", i,
                buf[i], base + (int)(i % 26));
}

TEST(exec_10mib_on_each_stream_at_once) {
  /* A naive reader that drains stdout to EOF before stderr deadlocks
   * here: the child blocks on a full stderr pipe. */
  const size_t size = 10u << 20;
  herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
  o.max_buffer = 16u << 20;
  o.timeout_ms = 60000;
  char sz[32];
  snprintf(sz, sizeof sz, "%zu", size);
  char *argv[] = {"herd-test", "--helper", "flood", sz, NULL};
  herd_exec_result_t r;
  CHECK_OK(herd_exec_file(test_self(), argv, &o, &r));
  CHECK_EQ(r.reason, HERD_EXEC_EXITED);
  CHECK_EQ(r.exit_code, 0);
  CHECK_EQ(r.out_len, size);
  CHECK_EQ(r.err_len, size);
  check_pattern(r.out, r.out_len, 'a');
  check_pattern(r.err, r.err_len, 'A');
  herd_exec_result_free(&r);
}

TEST(exec_max_buffer_kills_and_says_so) {
  herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
  o.max_buffer = 1000;
  herd_exec_result_t r;
  uint64_t t0 = test_now_ms();
  /* Several times: closing the pipe at the limit used to let the child
   * die of SIGPIPE before our SIGTERM, now and then. */
  for (int i = 0; i < 20; i++) {
    CHECK_OK(herd_exec("exec yes", &o, &r));
    CHECK_EQ(r.reason, HERD_EXEC_MAXBUFFER);
    CHECK_EQ(r.out_len, 1000);
    CHECK_MSG(r.term_signal == SIGTERM, "round %d: signal %d", i, r.term_signal);
    CHECK(strncmp(r.out, "y\ny\n", 4) == 0);
    herd_exec_result_free(&r);
  }
  CHECK(test_now_ms() - t0 < 20000);
  /* exactly max_buffer bytes is fine */
  o.max_buffer = 6;
  CHECK_OK(herd_exec("printf 123456", &o, &r));
  CHECK_EQ(r.reason, HERD_EXEC_EXITED);
  CHECK_STR(r.out, "123456");
  herd_exec_result_free(&r);
}

TEST(exec_timeout_kills_the_whole_group) {
  CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
  o.timeout_ms = 200;
  herd_exec_result_t r;
  uint64_t t0 = test_now_ms();
  /* the shell forks sleep; killing the shell alone would leave it */
  CHECK_OK(herd_exec("sleep 100 & echo $!; wait", &o, &r));
  uint64_t dt = test_now_ms() - t0;
  CHECK_EQ(r.reason, HERD_EXEC_TIMEDOUT);
  CHECK_EQ(r.term_signal, SIGTERM);
  CHECK_MSG(dt >= 190 && dt < 5000, "took %llu ms", (unsigned long long)dt);
  pid_t grand = atoi(r.out);
  CHECK(grand > 0);
  herd_exec_result_free(&r);
  int st;
  CHECK_EQ(waitpid(grand, &st, 0), grand);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
}

TEST(exec_kill_signal_and_escalation) {
  herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
  o.timeout_ms = 100;
  o.kill_signal = SIGKILL;
  herd_exec_result_t r;
  CHECK_OK(herd_exec("sleep 100", &o, &r));
  CHECK_EQ(r.reason, HERD_EXEC_TIMEDOUT);
  CHECK_EQ(r.term_signal, SIGKILL);
  herd_exec_result_free(&r);
  /* a child that ignores the kill signal gets SIGKILL after the grace;
   * SIG_IGN survives exec, so the sleeps ignore it too */
  o.kill_signal = 0;
  uint64_t t0 = test_now_ms();
  herd_exec_t *x;
  CHECK_OK(herd_exec_start(&x, "trap '' TERM; echo ready; "
                               "while :; do sleep 0.05; done",
                           NULL, 1, &o));
  for (;;) {
    int s = herd_exec_step(x);
    CHECK_OK(s);
    if (s == 1)
      break;
    int fds[4];
    short ev[4];
    struct pollfd p[4];
    int n = herd_exec_fds(x, fds, ev, 4);
    for (int i = 0; i < n; i++)
      p[i] = (struct pollfd){.fd = fds[i], .events = ev[i]};
    CHECK(poll(p, (nfds_t)n, herd_exec_timeout(x)) >= 0);
  }
  CHECK_OK(herd_exec_take(x, &r));
  herd_exec_free(x);
  uint64_t dt = test_now_ms() - t0;
  CHECK_EQ(r.reason, HERD_EXEC_TIMEDOUT);
  CHECK_EQ(r.term_signal, SIGKILL);
  CHECK_STR(r.out, "ready\n");
  CHECK_MSG(dt >= 2000 && dt < 10000, "took %llu ms", (unsigned long long)dt);
  herd_exec_result_free(&r);
}

TEST(exec_signaled_by_someone_else) {
  herd_exec_result_t r;
  CHECK_OK(herd_exec("kill -9 $$", NULL, &r));
  CHECK_EQ(r.reason, HERD_EXEC_SIGNALED);
  CHECK_EQ(r.exit_code, -1);
  CHECK_EQ(r.term_signal, SIGKILL);
  herd_exec_result_free(&r);
}

TEST(exec_input_is_fed_while_output_drains) {
  /* 4 MiB through cat: more than both pipe buffers together, so input
   * and output must move at the same time. */
  size_t n = 4u << 20;
  char *in = malloc(n);
  CHECK(in);
  for (size_t i = 0; i < n; i++)
    in[i] = (char)('a' + i % 26);
  herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
  o.max_buffer = 8u << 20;
  o.input = in;
  o.input_len = n;
  herd_exec_result_t r;
  CHECK_OK(herd_exec("cat", &o, &r));
  CHECK_EQ(r.reason, HERD_EXEC_EXITED);
  CHECK_EQ(r.out_len, n);
  CHECK(memcmp(r.out, in, n) == 0);
  herd_exec_result_free(&r);
  free(in);
}

TEST(exec_input_to_child_that_closes_stdin) {
  /* The child never reads: writing gets EPIPE, never a SIGPIPE that
   * would kill us (SIGPIPE is at its default here). */
  signal(SIGPIPE, SIG_DFL);
  size_t n = 1u << 20;
  char *in = calloc(1, n);
  CHECK(in);
  herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
  o.input = in;
  o.input_len = n;
  herd_exec_result_t r;
  CHECK_OK(herd_exec("exec 0<&-; echo closed", &o, &r));
  CHECK_EQ(r.reason, HERD_EXEC_EXITED);
  CHECK_EQ(r.exit_code, 0);
  CHECK_STR(r.out, "closed\n");
  herd_exec_result_free(&r);
  free(in);
  /* and no SIGPIPE is left pending for us */
  sigset_t pend;
  CHECK(sigpending(&pend) == 0);
  CHECK(!sigismember(&pend, SIGPIPE));
}

TEST(exec_without_input_stdin_is_devnull) {
  herd_exec_result_t r;
  CHECK_OK(herd_exec("cat; echo eof", NULL, &r));
  CHECK_STR(r.out, "eof\n");
  herd_exec_result_free(&r);
}

TEST(exec_errors_and_bad_options) {
  int before = test_count_fds();
  herd_exec_result_t r;
  char *argv[] = {"nope", NULL};
  CHECK_EQ(herd_exec_file("herd-no-such-program-xyz", argv, NULL, &r),
           -ENOENT);
  CHECK(r.out == NULL && r.err == NULL);
  CHECK_EQ(herd_exec(NULL, NULL, &r), -EINVAL);
  CHECK_EQ(herd_exec("", NULL, &r), -EINVAL);
  CHECK_EQ(herd_exec_file("echo", NULL, NULL, &r), -EINVAL);
  CHECK_EQ(herd_exec("true", NULL, NULL), -EINVAL);
  herd_exec_opts_t o;
  memset(&o, 0, sizeof o); /* max_buffer 0 */
  CHECK_EQ(herd_exec("true", &o, &r), -EINVAL);
  herd_exec_opts_init(&o);
  o.timeout_ms = -5;
  CHECK_EQ(herd_exec("true", &o, &r), -EINVAL);
  herd_exec_opts_init(&o);
  o.kill_signal = -1;
  CHECK_EQ(herd_exec("true", &o, &r), -EINVAL);
  herd_exec_opts_init(&o);
  o.input_len = 5; /* and no input */
  CHECK_EQ(herd_exec("true", &o, &r), -EINVAL);
  herd_exec_opts_init(&o);
  o.spawn.cwd = "/nonexistent-dir";
  CHECK_EQ(herd_exec("true", &o, &r), -ENOENT);
  CHECK_EQ(test_count_fds(), before);
}

TEST(exec_options_reach_the_child) {
  herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
  const char *env[] = {"HERD_T_X=42", NULL};
  o.spawn.env_mode = HERD_ENV_ADD;
  o.spawn.env = env;
  o.spawn.cwd = "/usr";
  herd_exec_result_t r;
  CHECK_OK(herd_exec("echo $HERD_T_X; pwd", &o, &r));
  CHECK_STR(r.out, "42\n/usr\n");
  herd_exec_result_free(&r);
}

TEST(exec_waits_for_output_of_descendants) {
  /* As Node: the exec ends when the outputs close, not only when the
   * shell exits - a background job's output is not lost. */
  herd_exec_result_t r;
  CHECK_OK(herd_exec("(sleep 0.2; echo late) & echo early", NULL, &r));
  CHECK_STR(r.out, "early\nlate\n");
  herd_exec_result_free(&r);
}

TEST(exec_async_free_kills_running_child) {
  herd_exec_t *x;
  CHECK_OK(herd_exec_start(&x, "sleep 100", NULL, 1, NULL));
  CHECK_EQ(herd_exec_step(x), 0);
  herd_exec_result_t r;
  CHECK_EQ(herd_exec_take(x, &r), -EAGAIN);
  CHECK(herd_exec_pid(x) > 0);
  herd_exec_free(x); /* the harness checks nothing is left behind */
}

TEST(exec_many_in_a_row_leak_nothing) {
  int before = test_count_fds();
  for (int i = 0; i < 200; i++) {
    herd_exec_result_t r;
    CHECK_OK(herd_exec("echo hi", NULL, &r));
    CHECK_STR(r.out, "hi\n");
    herd_exec_result_free(&r);
  }
  CHECK_EQ(test_count_fds(), before);
}

TEST(exec_timeout_after_exit_kills_descendants_holding_output) {
  /* Regression: the shell exits at once but its background job keeps
   * stdout open; at the timeout the job must be killed (the group), not
   * only reported as timed out. */
  CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
  o.timeout_ms = 300;
  herd_exec_result_t r;
  uint64_t t0 = test_now_ms();
  CHECK_OK(herd_exec("sleep 30 & echo $!; exit 3", &o, &r));
  uint64_t dt = test_now_ms() - t0;
  CHECK_EQ(r.reason, HERD_EXEC_TIMEDOUT);
  CHECK_EQ(r.exit_code, 3);
  CHECK_MSG(dt < 5000, "took %llu ms", (unsigned long long)dt);
  pid_t job = atoi(r.out);
  CHECK(job > 0);
  herd_exec_result_free(&r);
  int st;
  CHECK_EQ(waitpid(job, &st, 0), job);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
}
