/*
 * start_fds_test.c - a `herd start` daemon keeps none of the fds its
 * caller left open without close-on-exec: a reader of such a pipe (a CI
 * runner, ssh, a shell's command substitution) sees its end when herd
 * start returns, not when the app stops.
 */
#include <poll.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "envt.h"
#include "hp.h"
#include "test.h"

TEST_T(start_daemon_keeps_no_fd_its_caller_left_open, 30) {
  int p[2];
  CHECK_EQ(pipe(p), 0); /* no O_CLOEXEC: herd start inherits both ends */
  CHECK_EQ(dup2(p[1], 100), 100); /* a stray fd, far from 3 */
  CHECK_EQ(close(p[1]), 0);
  pid_t c = fork();
  CHECK(c >= 0);
  if (c == 0) {
    execl(env_herd(), "herd", "start", "-n", "strayfd", "-w", "1", "-l", "127.0.0.1:0",
          "--", hello_http(), (char *)NULL);
    _exit(127);
  }
  CHECK_EQ(close(100), 0);
  int st;
  CHECK_EQ(waitpid(c, &st, 0), c);
  CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "herd start: status 0x%x", st);
  /* herd start has returned: nothing else may hold the write end */
  struct pollfd pf = {.fd = p[0], .events = POLLIN};
  int ready = poll(&pf, 1, 5000);
  char b;
  ssize_t n = ready == 1 ? read(p[0], &b, 1) : -1;
  CHECK_EQ(close(p[0]), 0);
  char out[1024];
  int rc = env_sh(out, sizeof out, "%s stop strayfd 2>&1", env_herd());
  CHECK_MSG(rc == 0, "herd stop: %d %s", rc, out); /* and it did run */
  CHECK_MSG(n == 0, "the daemon holds its caller's pipe (no end after 5 s): a reader of "
            "it waits for as long as the app runs");
}
