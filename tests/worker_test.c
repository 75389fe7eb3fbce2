/* worker_test.c - the worker side of the systemd protocols, and
 * HERD_SPAWN_LISTEN_PID. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "test.h"

static void listen_pid_case(unsigned flags) {
  CHECK(setenv("LISTEN_PID", "1", 1) == 0); /* replaced, not duplicated */
  herd_spawn_opts_t o = {.flags = flags | HERD_SPAWN_LISTEN_PID};
  o.stdio[1].kind = HERD_STDIO_PIPE;
  char *argv[] = {"herd-test", "--helper", "ids-env", NULL};
  herd_child_t c;
  CHECK_OK(herd_spawn(&c, test_self(), argv, &o));
  char *out = test_read_all(c.stdio[1], NULL);
  CHECK_OK(herd_child_wait(&c, 10000));
  char want[64];
  snprintf(want, sizeof want, "pid=%d LISTEN_PID=%d count=1\n", c.pid, c.pid);
  CHECK_STR(out, want);
  free(out);
  herd_child_close(&c);
}
TEST(spawn_listen_pid_is_the_childs_own) {
  listen_pid_case(0);
  listen_pid_case(HERD_SPAWN_FORK);
}

TEST(worker_listen_fds) {
  CHECK(unsetenv("LISTEN_PID") == 0);
  CHECK(unsetenv("LISTEN_FDS") == 0);
  CHECK_EQ(herd_listen_fds(0), 0);
  char pid[32];
  snprintf(pid, sizeof pid, "%d", getpid());
  /* fds 3 and 4 must exist: make them */
  int a = open("/dev/null", O_RDONLY), b = open("/dev/null", O_RDONLY);
  CHECK(a >= 0 && b >= 0);
  if (a != 3)
    CHECK(dup2(a, 3) == 3);
  if (b != 4)
    CHECK(dup2(b, 4) == 4);
  CHECK(setenv("LISTEN_PID", pid, 1) == 0);
  CHECK(setenv("LISTEN_FDS", "2", 1) == 0);
  CHECK(setenv("LISTEN_FDNAMES", "a:b", 1) == 0);
  CHECK_EQ(herd_listen_fds(0), 2);
  CHECK(fcntl(3, F_GETFD) & FD_CLOEXEC);
  CHECK(fcntl(4, F_GETFD) & FD_CLOEXEC);
  CHECK_EQ(herd_listen_fds(1), 2);
  CHECK(getenv("LISTEN_PID") == NULL && getenv("LISTEN_FDS") == NULL &&
        getenv("LISTEN_FDNAMES") == NULL);
  /* for another process: none for us */
  CHECK(setenv("LISTEN_PID", "1", 1) == 0);
  CHECK(setenv("LISTEN_FDS", "2", 1) == 0);
  CHECK_EQ(herd_listen_fds(1), 0);
  CHECK(setenv("LISTEN_PID", pid, 1) == 0);
  CHECK(setenv("LISTEN_FDS", "x2", 1) == 0);
  CHECK_EQ(herd_listen_fds(1), -EINVAL);
}

TEST(worker_notify_and_retire_reach_the_socket) {
  int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  CHECK(s >= 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  char name[64];
  int n = snprintf(name, sizeof name, "@herd-test-notify-%d", getpid());
  memcpy(sa.sun_path, name, (size_t)n);
  sa.sun_path[0] = '\0';
  CHECK(bind(s, (struct sockaddr *)&sa,
             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n)) == 0);
  CHECK(unsetenv("NOTIFY_SOCKET") == 0);
  CHECK_EQ(herd_notify("READY=1"), 0);
  CHECK(setenv("NOTIFY_SOCKET", name, 1) == 0);
  CHECK_EQ(herd_notify("READY=1\nSTATUS=up"), 1);
  char buf[256];
  ssize_t got = recv(s, buf, sizeof buf - 1, 0);
  CHECK(got > 0);
  buf[got] = '\0';
  CHECK_STR(buf, "READY=1\nSTATUS=up");
  CHECK_EQ(herd_retire(), 1);
  got = recv(s, buf, sizeof buf - 1, 0);
  CHECK(got > 0);
  buf[got] = '\0';
  CHECK_STR(buf, "STOPPING=1\nX_HERD_RETIRE=1");
  CHECK(setenv("NOTIFY_SOCKET", "relative/path", 1) == 0);
  CHECK_EQ(herd_notify("READY=1"), -EINVAL);
  CHECK_EQ(herd_notify(NULL), -EINVAL);
  close(s);
}

TEST(worker_id) {
  CHECK(unsetenv("HERD_WORKER_ID") == 0);
  CHECK_EQ(herd_worker_id(), -ENOENT);
  CHECK(setenv("HERD_WORKER_ID", "3", 1) == 0);
  CHECK_EQ(herd_worker_id(), 3);
  CHECK(setenv("HERD_WORKER_ID", "-1", 1) == 0);
  CHECK_EQ(herd_worker_id(), -ENOENT);
}

TEST(addr_parse_forms_and_errors) {
  herd_addr_t a;
  CHECK_OK(herd_addr_parse("127.0.0.1:8080", &a));
  CHECK_STR(a.text, "127.0.0.1:8080");
  CHECK_OK(herd_addr_parse(":80", &a));
  CHECK_STR(a.text, "0.0.0.0:80");
  CHECK_OK(herd_addr_parse("[::1]:0", &a));
  CHECK_EQ(a.family, AF_INET6);
  CHECK_OK(herd_addr_parse("unix:/run/x.sock,mode=0660", &a));
  CHECK_EQ(a.family, AF_UNIX);
  CHECK_EQ(a.mode, 0660u);
  CHECK_STR(a.text, "unix:/run/x.sock");
  CHECK_EQ(herd_addr_parse("127.0.0.1:65536", &a), -EINVAL);
  CHECK_EQ(herd_addr_parse("", &a), -EINVAL);
  CHECK_EQ(herd_addr_parse("unix:", &a), -EINVAL);
  CHECK_EQ(herd_addr_parse("unix:/x,mode=abc", &a), -EINVAL);
  /* a path too long for sun_path is -ENAMETOOLONG, however long (past
   * 255 bytes it once was -EINVAL) */
  char spec[400] = "unix:/";
  memset(spec + 6, 'a', 200);
  CHECK_EQ(herd_addr_parse(spec, &a), -ENAMETOOLONG);
  memset(spec + 6, 'a', 300);
  spec[306] = '\0';
  CHECK_EQ(herd_addr_parse(spec, &a), -ENAMETOOLONG);
  char host[400];
  memset(host, '1', 300);
  host[300] = '\0';
  CHECK_EQ(herd_addr_parse(host, &a), -EINVAL);
}
