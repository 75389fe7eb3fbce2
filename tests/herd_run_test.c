/*
 * herd_run_test.c - end-to-end tests of `herd run`: the real binary,
 * hello-http as the worker, loopback only, every wait bounded and driven
 * by herd's own event lines (no sleeps as synchronisation).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

#include "hp.h"

TEST_T(herd_run_serves_with_n_workers, 60) {
  struct hp h;
  const char *args[] = {"run", "-w", "3", "-l", "127.0.0.1:0", "--", hello_http(), NULL};
  hp_start(&h, args);
  hp_port(&h);
  HP_WAIT(&h, "all 3 workers ready", 1);
  for (int i = 0; i < 30; i++) {
    char body[64];
    CHECK_EQ(http_get(h.port, "/", body, sizeof body), 200);
    CHECK_STR(body, "Hello, World!\n");
  }
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
  CHECK(strstr(h.log, "worker 2 started"));
  CHECK(strstr(h.log, "stopped"));
}

TEST_T(herd_run_replaces_a_killed_worker_refusing_nothing, 60) {
  struct hp h;
  const char *args[] = {"run", "-w", "2", "-l", "127.0.0.1:0", "--", hello_http(), NULL};
  hp_start(&h, args);
  hp_port(&h);
  HP_WAIT(&h, "all 2 workers ready", 1);
  struct loader l;
  loader_start(&l, h.port, 0);
  pid_t pids[4];
  CHECK_EQ(distinct_pids(h.port, 200, pids, 4) >= 1, 1);
  CHECK(kill(pids[0], SIGKILL) == 0);
  HP_WAIT(&h, "killed by signal 9", 1);
  HP_WAIT(&h, "started", 3);
  /* keep the load on across the replacement */
  char body[64];
  for (int i = 0; i < 200; i++)
    CHECK_EQ(http_get(h.port, "/", body, sizeof body), 200);
  long ok, bad;
  loader_stop(&l, &ok, &bad);
  /* Not one connection refused: the master holds the socket. A request
   * the killed worker itself was serving dies with it (at most the one
   * the loader had in flight). */
  CHECK_MSG(last_refused == 0, "%ld connections refused", last_refused);
  CHECK_MSG(bad <= 1, "%ld of %ld requests failed", bad, ok + bad);
  CHECK(ok > 0);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

TEST_T(herd_run_backs_off_a_worker_that_exits_at_once, 60) {
  struct hp h;
  const char *args[] = {"run", "-w", "1", "--max-restarts", "4", "--restart-cooldown", "10s",
                        "--", "/bin/sh", "-c", "exit 3", NULL};
  hp_start(&h, args);
  HP_WAIT(&h, "restarting in 100 ms (backing off)", 1);
  HP_WAIT(&h, "restarting in 200 ms (backing off)", 1);
  HP_WAIT(&h, "restarting in 400 ms (backing off)", 1);
  HP_WAIT(&h, "parked, retried in 10000 ms", 1);
  /* the master still answers: a clean stop */
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

TEST_T(herd_run_reload_under_load_fails_nothing, 90) {
  struct hp h;
  const char *args[] = {"run", "-w", "2", "-l", "127.0.0.1:0", "--ready", "notify",
                        "--", hello_http(), NULL};
  hp_start(&h, args);
  hp_port(&h);
  HP_WAIT(&h, "all 2 workers ready", 1);
  pid_t before[8];
  int nb = distinct_pids(h.port, 100, before, 8);
  CHECK(nb >= 1);
  struct loader l1, l2;
  loader_start(&l1, h.port, 1);
  loader_start(&l2, h.port, 0);
  /* Our own requests pace the test: the loaders run all along, and the
   * reloads happen while requests are in flight. */
  char body[64];
  int fd = -1;
  for (int r = 1; r <= 2; r++) {
    for (int i = 0; i < 500; i++)
      CHECK_EQ(http_get(h.port, "/", body, sizeof body), 200);
    CHECK_OK(herd_child_kill(&h.c, SIGHUP, 0));
    for (int i = 0; i < 1000; i++) {
      if (fd < 0)
        CHECK((fd = test_connect_port(h.port)) >= 0);
      int st = http_on(fd, "/", 1, body, sizeof body);
      CHECK_MSG(st == 200, "request %d of round %d: %d (%s)", i, r, st, last_err);
      if (last_close) {
        close(fd);
        fd = -1;
      }
    }
    HP_WAIT(&h, "reload done", r);
    /* It would sit idle through the next round: a server may close an
     * idle keep-alive connection while it drains (as nginx does), and a
     * client must then retry; the busy loader l1 covers keep-alive. */
    if (fd >= 0)
      close(fd);
    fd = -1;
  }
  HP_WAIT(&h, "stopped, up", 4); /* the four old workers are gone */
  long ok1, bad1, ok2, bad2;
  loader_stop(&l1, &ok1, &bad1);
  loader_stop(&l2, &ok2, &bad2);
  CHECK_MSG(bad1 == 0 && bad2 == 0, "failed: %ld keep-alive, %ld new-connection",
            bad1, bad2);
  CHECK_MSG(ok1 + ok2 >= 2000, "only %ld requests", ok1 + ok2);
  pid_t after[8];
  int na = distinct_pids(h.port, 100, after, 8);
  for (int i = 0; i < na; i++)
    for (int k = 0; k < nb; k++)
      CHECK_MSG(after[i] != before[k], "pid %d survived the reload", after[i]);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

TEST_T(herd_run_ttin_ttou_scale, 60) {
  struct hp h;
  const char *args[] = {"run", "-w", "2", "-l", "127.0.0.1:0", "--", hello_http(), NULL};
  hp_start(&h, args);
  HP_WAIT(&h, "all 2 workers ready", 1);
  CHECK_OK(herd_child_kill(&h.c, SIGTTIN, 0));
  HP_WAIT(&h, "scaled to 3 workers", 1);
  HP_WAIT(&h, "worker 2 started", 1);
  CHECK_OK(herd_child_kill(&h.c, SIGTTOU, 0));
  HP_WAIT(&h, "scaled to 2 workers", 1);
  HP_WAIT(&h, "worker 2 stopping", 1);
  HP_WAIT(&h, "worker 2 exited", 1);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

TEST_T(herd_run_graceful_stop_finishes_in_flight_request, 60) {
  struct hp h;
  const char *args[] = {"run", "-w", "1", "-l", "127.0.0.1:0", "--", hello_http(), NULL};
  hp_start(&h, args);
  hp_port(&h);
  HP_WAIT(&h, "1 worker ready", 1);
  int fd = test_connect_port(h.port);
  CHECK(fd >= 0);
  const char req[] = "GET /slow?ms=800 HTTP/1.1\r\nHost: x\r\n\r\n";
  CHECK_EQ(send(fd, req, sizeof req - 1, 0), (long long)sizeof req - 1);
  /* the request is in the worker once it is accepted: a second
   * connection's answer proves the worker loop has turned */
  char body[64];
  CHECK_EQ(http_get(h.port, "/", body, sizeof body), 200);
  CHECK_OK(herd_child_kill(&h.c, SIGTERM, 0));
  char buf[1024];
  size_t got = 0;
  for (;;) {
    ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  buf[got] = '\0';
  close(fd);
  CHECK_MSG(strstr(buf, "slow done") != NULL, "got: %s", buf);
  CHECK(strcasestr(buf, "Connection: close"));
  CHECK_EQ(hp_stop(&h, 0), 0);
}

TEST_T(herd_run_kills_a_worker_that_ignores_term, 60) {
  struct hp h;
  const char *args[] = {"run", "-w", "1", "--kill-timeout", "300ms", "--", "/bin/sh", "-c",
                        "trap '' TERM; echo trapped >&2; while :; do sleep 0.05; done",
                        NULL};
  hp_start(&h, args);
  HP_WAIT(&h, "] trapped", 1); /* its output, passed through: TERM is ignored now */
  uint64_t t0 = test_now_ms();
  int st = hp_stop(&h, SIGTERM);
  uint64_t dt = test_now_ms() - t0;
  CHECK_EQ(st, 1);
  CHECK(strstr(h.log, "did not stop in time: SIGKILL"));
  CHECK(strstr(h.log, "had to be killed"));
  CHECK_MSG(dt >= 290 && dt < 5000, "took %llu ms", (unsigned long long)dt);
}


TEST_T(herd_run_sigkill_of_master_leaves_no_worker, 60) {
  struct hp h;
  const char *args[] = {"run", "-w", "2", "-l", "127.0.0.1:0", "--", hello_http(), NULL};
  hp_start(&h, args);
  hp_port(&h);
  HP_WAIT(&h, "all 2 workers ready", 1);
  pid_t pids[4];
  int n = distinct_pids(h.port, 100, pids, 4);
  CHECK(n >= 1);
  CHECK_EQ(hp_stop(&h, SIGKILL), 128 + SIGKILL);
  for (int i = 0; i < n; i++)
    CHECK_MSG(pid_gone(pids[i], 5000), "worker %d outlived its master", pids[i]);
}

TEST_T(herd_run_uses_inherited_listen_fds, 60) {
  /* As systemd would start it: a socket at fd 3, LISTEN_FDS=1 and
   * LISTEN_PID = herd's own pid. */
  herd_addr_t a, bound;
  CHECK_OK(herd_addr_parse("127.0.0.1:0", &a));
  int lfd = herd_listen_open(&a, 0, 0, &bound);
  CHECK_OK(lfd);
  int port = atoi(strrchr(bound.text, ':') + 1);
  static char herd[4096];
  path_of(herd, sizeof herd, "herd");
  char *argv[] = {herd, "run", "-w", "2", "--", (char *)hello_http(), NULL};
  const char *env[] = {"LISTEN_FDS=1", NULL};
  herd_fdmap_t map[] = {{lfd, 3}};
  herd_spawn_opts_t o = {.env_mode = HERD_ENV_ADD, .env = env, .fds = map, .nfds = 1,
                         .flags = HERD_SPAWN_LISTEN_PID};
  o.stdio[1].kind = HERD_STDIO_IGNORE;
  o.stdio[2].kind = HERD_STDIO_PIPE;
  struct hp h;
  memset(&h, 0, sizeof h);
  CHECK_OK(herd_spawn(&h.c, herd, argv, &o));
  close(lfd);
  HP_WAIT(&h, "all 2 workers ready", 1);
  char body[64];
  CHECK_EQ(http_get(port, "/", body, sizeof body), 200);
  CHECK(strstr(h.log, "listening on") == NULL); /* it bound nothing */
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

/* systemd's sockets win over --listen, and herd says so: "1 inherited
 * socket" (singular, as every count of one herd prints). */
TEST_T(herd_run_inherited_fds_over_listen_said_in_the_singular, 60) {
  herd_addr_t a, bound;
  CHECK_OK(herd_addr_parse("127.0.0.1:0", &a));
  int lfd = herd_listen_open(&a, 0, 0, &bound);
  CHECK_OK(lfd);
  int port = atoi(strrchr(bound.text, ':') + 1);
  static char herd[4096];
  path_of(herd, sizeof herd, "herd");
  char *argv[] = {herd, "run", "-n", "sa", "-w", "1", "-l", "127.0.0.1:0", "--",
                  (char *)hello_http(), NULL};
  const char *env[] = {"LISTEN_FDS=1", NULL};
  herd_fdmap_t map[] = {{lfd, 3}};
  herd_spawn_opts_t o = {.env_mode = HERD_ENV_ADD, .env = env, .fds = map, .nfds = 1,
                         .flags = HERD_SPAWN_LISTEN_PID};
  o.stdio[1].kind = HERD_STDIO_IGNORE;
  o.stdio[2].kind = HERD_STDIO_PIPE;
  struct hp h;
  memset(&h, 0, sizeof h);
  CHECK_OK(herd_spawn(&h.c, herd, argv, &o));
  close(lfd);
  HP_WAIT(&h, "1 worker ready", 1);
  char body[64];
  CHECK_EQ(http_get(port, "/", body, sizeof body), 200);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
  CHECK_MSG(strstr(h.log, "herd[sa]: socket activation: using the 1 inherited socket, "
                          "not --listen\n"),
            "%s", h.log);
}

TEST_T(herd_run_leaks_no_fd_into_workers, 60) {
  struct hp h;
  static char self[4096];
  snprintf(self, sizeof self, "%s", test_self());
  /* the worker lists its fds on stdout (passed through by herd, with the
   * slot prefix) and waits to be stopped */
  const char *args[] = {"run", "-w", "1", "-l", "127.0.0.1:0", "-l", "127.0.0.1:0", "--",
                        self, "--helper", "listfds-wait", NULL};
  memset(&h, 0, sizeof h);
  static char herd[4096];
  path_of(herd, sizeof herd, "herd");
  char *argv[64];
  int n = 0;
  argv[n++] = herd;
  for (int i = 0; args[i]; i++)
    argv[n++] = (char *)args[i];
  argv[n] = NULL;
  herd_spawn_opts_t o = {0};
  o.stdio[1].kind = HERD_STDIO_PIPE;
  o.stdio[2].kind = HERD_STDIO_PIPE;
  CHECK_OK(herd_spawn(&h.c, herd, argv, &o));
  HP_WAIT(&h, "1 worker ready", 1);
  char line[256] = {0};
  size_t got = 0;
  while (!strchr(line, '\n') && got < sizeof line - 1) {
    ssize_t r = read(h.c.stdio[1], line + got, sizeof line - 1 - got);
    CHECK(r > 0);
    got += (size_t)r;
  }
  /* stdin /dev/null, stdout and stderr pipes to herd, two sockets */
  CHECK_MSG(strstr(line, "] 0 1 2 3 4\n") != NULL, "worker fds: %s", line);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

TEST_T(herd_run_reuseport_serves, 60) {
  struct hp h;
  const char *args[] = {"run", "-w", "2", "--balance", "reuseport", "-l", "127.0.0.1:0",
                        "--", hello_http(), NULL};
  hp_start(&h, args);
  hp_port(&h);
  HP_WAIT(&h, "all 2 workers ready", 1);
  char body[64];
  for (int i = 0; i < 50; i++)
    CHECK_EQ(http_get(h.port, "/", body, sizeof body), 200);
  /* a restarted slot keeps its socket: still served */
  pid_t pids[4];
  CHECK(distinct_pids(h.port, 50, pids, 4) >= 1);
  CHECK(kill(pids[0], SIGKILL) == 0);
  HP_WAIT(&h, "started", 3);
  for (int i = 0; i < 50; i++)
    CHECK_EQ(http_get(h.port, "/", body, sizeof body), 200);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

/* Run herd to completion with ARGS; returns its status, log in h. */
static int hp_run(struct hp *h, const char *const *args) {
  hp_start(h, args);
  return hp_stop(h, 0);
}

TEST_T(herd_run_bad_input, 60) {
  struct hp h;
  /* a port in use: one line naming the address, exit 1, no worker */
  herd_addr_t a, bound;
  CHECK_OK(herd_addr_parse("127.0.0.1:0", &a));
  int lfd = herd_listen_open(&a, 0, 0, &bound);
  CHECK_OK(lfd);
  const char *busy[] = {"run", "-w", "1", "-l", bound.text, "--", hello_http(), NULL};
  CHECK_EQ(hp_run(&h, busy), 1);
  CHECK_MSG(strstr(h.log, bound.text) && strstr(h.log, "Address already in use"),
            "%s", h.log);
  CHECK(strstr(h.log, "started") == NULL);
  close(lfd);
  const char *unknown[] = {"run", "--frobnicate", "--", "true", NULL};
  CHECK_EQ(hp_run(&h, unknown), 2);
  CHECK(strstr(h.log, "See 'herd run --help'"));
  const char *addr[] = {"run", "-l", "127.0.0.1:99999", "--", "true", NULL};
  CHECK_EQ(hp_run(&h, addr), 2);
  CHECK(strstr(h.log, "is not an address"));
  const char *addr2[] = {"run", "-l", "[::1:80", "--", "true", NULL};
  CHECK_EQ(hp_run(&h, addr2), 2);
  const char *missing[] = {"run", "-w", "2", "--", "herd-no-such-program-xyz", NULL};
  CHECK_EQ(hp_run(&h, missing), 1);
  CHECK_MSG(strstr(h.log, "No such file or directory"), "%s", h.log);
  CHECK(strstr(h.log, "restarting") == NULL);
  const char *zero[] = {"run", "-w", "0", "--", "true", NULL};
  CHECK_EQ(hp_run(&h, zero), 2);
  const char *huge[] = {"run", "-w", "100000", "--", "true", NULL};
  CHECK_EQ(hp_run(&h, huge), 2);
  const char *sig[] = {"run", "--stop-signal", "SIGFOO", "--", "true", NULL};
  CHECK_EQ(hp_run(&h, sig), 2);
  CHECK(strstr(h.log, "unknown signal"));
  const char *nocmd[] = {"run", "-w", "1", NULL};
  CHECK_EQ(hp_run(&h, nocmd), 2);
  const char *badcmd[] = {"frob", NULL};
  CHECK_EQ(hp_run(&h, badcmd), 2);
}

TEST_T(herd_run_privileged_port_as_non_root, 60) {
  if (geteuid() != 0)
    SKIP("needs root to switch to an unprivileged user for the check");
  static char herd[4096];
  path_of(herd, sizeof herd, "herd");
  char *argv[] = {herd, "run", "-w", "1", "-l", "127.0.0.1:80", "--", (char *)hello_http(), NULL};
  herd_spawn_opts_t o = {.flags = HERD_SPAWN_SETUID | HERD_SPAWN_SETGID, .uid = 65534,
                         .gid = 65534};
  o.stdio[1].kind = HERD_STDIO_IGNORE;
  o.stdio[2].kind = HERD_STDIO_PIPE;
  struct hp h;
  memset(&h, 0, sizeof h);
  CHECK_OK(herd_spawn(&h.c, herd, argv, &o));
  CHECK_EQ(hp_stop(&h, 0), 1);
  CHECK_MSG(strstr(h.log, "127.0.0.1:80") && strstr(h.log, "Permission denied"), "%s",
            h.log);
}

TEST_T(herd_run_with_output_nobody_reads_keeps_its_loop, 60) {
  /* herd run's stdout and stderr to a pipe nobody drains (a paused
   * terminal, | less, a stuck log driver): the master once blocked in
   * write(2) inside its loop - no control replies, no restarts, deaf to
   * SIGTERM. Now a thread of its own waits; the loop goes on. */
  int p[2];
  CHECK(pipe2(p, O_CLOEXEC) == 0);
  static char herd[4096];
  path_of(herd, sizeof herd, "herd");
  char *argv[] = {herd, "run", "-n", "stall", "-w", "2", "--kill-timeout", "1s", "--",
                  (char *)test_self(), "--helper", "lines", "200000", "100", "1", "200", NULL};
  herd_spawn_opts_t o = {0};
  o.stdio[0].kind = HERD_STDIO_IGNORE;
  o.stdio[1].kind = HERD_STDIO_FD;
  o.stdio[1].fd = p[1];
  o.stdio[2].kind = HERD_STDIO_FD;
  o.stdio[2].fd = p[1];
  herd_child_t c;
  CHECK_OK(herd_spawn(&c, herd, argv, &o));
  close(p[1]);
  /* the pipe full: whoever writes to it is stuck */
  int queued = 0;
  uint64_t deadline = test_now_ms() + 15000;
  while (test_now_ms() < deadline && (ioctl(p[0], FIONREAD, &queued) < 0 || queued < 49152))
    usleep(20000);
  CHECK_MSG(queued >= 49152, "only %d bytes in herd's output pipe", queued);
  /* the control socket answers, also after the 1 s output pause */
  char *st[] = {herd, "status", "stall", "--json", NULL};
  for (int i = 0; i < 3; i++) {
    herd_exec_result_t r;
    herd_exec_opts_t eo = HERD_EXEC_OPTS_INIT;
    eo.timeout_ms = 15000;
    CHECK_OK(herd_exec_file(herd, st, &eo, &r));
    /* answered (0 online; 3 degraded: a worker may still settle) */
    CHECK_MSG(r.reason == HERD_EXEC_EXITED && (r.exit_code == 0 || r.exit_code == 3) &&
                  strstr(r.out, "\"ok\":true"),
              "status %d: exit %d: %s%s", i, r.exit_code, r.out, r.err);
    herd_exec_result_free(&r);
    usleep(600000);
  }
  /* and SIGTERM ends it: the kill timeout, then a second at most for the
   * output it could not write */
  CHECK_OK(herd_child_kill(&c, SIGTERM, 0));
  CHECK_MSG(herd_child_wait(&c, 10000) == 0, "herd run did not exit after SIGTERM");
  herd_child_close(&c);
  close(p[0]);
}

TEST_T(herd_run_never_ready_worker_backs_off_and_parks, 60) {
  /* killed at the ready timeout after more than --min-uptime: once
   * restarted at once, for ever; a worker never ready died early */
  struct hp h;
  const char *args[] = {"run", "-w", "1", "--ready", "notify", "--ready-timeout", "200ms",
                        "--min-uptime", "50ms", "--max-restarts", "2", "--restart-window",
                        "30s", "--", "sleep", "100", NULL};
  hp_start(&h, args);
  HP_WAIT(&h, "restarting in 100 ms (backing off)", 1);
  HP_WAIT(&h, "restarting in 200 ms (backing off)", 1);
  HP_WAIT(&h, "parked", 1);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

TEST_T(herd_run_idle_master_makes_no_syscalls, 60) {
  herd_exec_result_t r;
  char *which[] = {"strace", "-V", NULL};
  if (herd_exec_file("strace", which, NULL, &r) < 0)
    SKIP("strace not found (apt-get install strace)");
  herd_exec_result_free(&r);
  struct hp h;
  /* --ready notify: "all ready" comes after both READY=1 datagrams were read,
   * so none of them can arrive while the master is traced (with immediate
   * readiness a slow worker's READY=1 was read in the traced second) */
  const char *args[] = {"run", "-w", "2", "-l", "127.0.0.1:0", "--ready", "notify", "--",
                        hello_http(), NULL};
  hp_start(&h, args);
  HP_WAIT(&h, "all 2 workers ready", 1);
  /* A ping over the control socket, half-closed, read to EOF: the master
   * has closed the connection, so it is back in epoll_wait with nothing
   * left of the turn that printed "all ready" */
  const char *hh = getenv("HERD_HOME");
  CHECK(hh != NULL);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  int sn = snprintf(sa.sun_path, sizeof sa.sun_path, "%s/hello-http.sock", hh);
  CHECK(sn > 0 && (size_t)sn < sizeof sa.sun_path);
  int cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(cfd >= 0);
  CHECK(connect(cfd, (struct sockaddr *)&sa, sizeof sa) == 0);
  static const char ping[] = "{\"cmd\":\"ping\"}\n";
  CHECK(write(cfd, ping, sizeof ping - 1) == (ssize_t)(sizeof ping - 1));
  CHECK(shutdown(cfd, SHUT_WR) == 0);
  char *reply = test_read_all(cfd, NULL); /* the test's timeout bounds it */
  close(cfd);
  CHECK_MSG(strstr(reply, "\"ok\":true"), "ping: %s", reply);
  free(reply);
  char pid[16];
  snprintf(pid, sizeof pid, "%d", h.c.pid);
  /* trace the master (not its workers) for one second */
  char *st[] = {"timeout", "-s", "INT", "1", "strace", "-p", pid, NULL};
  herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
  o.timeout_ms = 10000;
  CHECK_OK(herd_exec_file("timeout", st, &o, &r));
  /* strace attaching interrupts the epoll_wait in progress, which is then
   * restarted: anything else is a system call an idle master made */
  int others = 0;
  for (char *line = strtok(r.err, "\n"); line; line = strtok(NULL, "\n")) {
    if (strstr(line, "epoll_wait") || strstr(line, "strace:") ||
        strstr(line, "restart_syscall") || strstr(line, "<detached") ||
        strstr(line, "resumed>"))
      continue;
    others++;
    fprintf(stderr, "idle master: %s\n", line);
  }
  herd_exec_result_free(&r);
  CHECK_EQ(others, 0);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

TEST_T(herd_run_node_worker_serves_and_reloads, 90) {
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  struct hp h;
  const char *args[] = {"run", "-w", "2", "-l", "127.0.0.1:0", "--ready", "300ms", "--",
                        "node", "examples/node-worker.js", NULL};
  hp_start(&h, args);
  hp_port(&h);
  HP_WAIT(&h, "all 2 workers ready", 1);
  char body[64];
  /* node may take a moment to listen after start: the socket's queue
   * holds the connection meanwhile, so this succeeds anyway */
  for (int i = 0; i < 50; i++) {
    CHECK_EQ(http_get(h.port, "/", body, sizeof body), 200);
    CHECK_STR(body, "Hello, World!\n");
  }
  /* a keep-alive client and a new-connection client across a reload
   * (the keep-alive one found node-worker.js closing busy connections
   * between two requests) */
  struct loader l, lk;
  loader_start(&l, h.port, 0);
  loader_start(&lk, h.port, 1);
  CHECK_OK(herd_child_kill(&h.c, SIGHUP, 0));
  for (int i = 0; i < 300; i++)
    CHECK_EQ(http_get(h.port, "/", body, sizeof body), 200);
  HP_WAIT(&h, "reload done", 1);
  HP_WAIT(&h, "stopped, up", 2);
  long ok, bad, okk, badk;
  loader_stop(&l, &ok, &bad);
  loader_stop(&lk, &okk, &badk);
  CHECK_MSG(bad == 0 && badk == 0, "failed: %ld of %ld new-connection, %ld of %ld keep-alive",
            bad, ok + bad, badk, okk + badk);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
  CHECK(strstr(h.log, "code 0, stopped"));
}

TEST_T(herd_cluster_run_master_worker_example, 60) {
  static char bin[4096];
  path_of(bin, sizeof bin, "examples/master-worker");
  char *argv[] = {bin, NULL};
  const char *env[] = {"PORT=0", NULL};
  herd_spawn_opts_t o = {.env_mode = HERD_ENV_ADD, .env = env};
  o.stdio[1].kind = HERD_STDIO_PIPE;
  struct hp h;
  memset(&h, 0, sizeof h);
  CHECK_OK(herd_spawn(&h.c, bin, argv, &o));
  /* its output is on stdout: read it through the same helper */
  h.c.stdio[2] = h.c.stdio[1];
  h.c.stdio[1] = -1;
  HP_WAIT(&h, "listening on http://127.0.0.1:", 1);
  h.port = atoi(strstr(h.log, "http://127.0.0.1:") + strlen("http://127.0.0.1:"));
  HP_WAIT(&h, "worker 0 started", 1);
  char body[128];
  CHECK_EQ(http_get(h.port, "/", body, sizeof body), 200);
  CHECK(strncmp(body, "hello from worker ", 18) == 0);
  /* titles: what ps shows */
  char path[64], cmd[256];
  snprintf(path, sizeof path, "/proc/%d/cmdline", h.c.pid);
  FILE *f = fopen(path, "r");
  CHECK(f);
  size_t n = fread(cmd, 1, sizeof cmd - 1, f);
  fclose(f);
  cmd[n] = '\0';
  CHECK_STR(cmd, "herd: master");
  pid_t wpid = atoi(strstr(body, "pid ") + 4);
  snprintf(path, sizeof path, "/proc/%d/cmdline", wpid);
  CHECK((f = fopen(path, "r")) != NULL);
  n = fread(cmd, 1, sizeof cmd - 1, f);
  fclose(f);
  cmd[n] = '\0';
  CHECK(strncmp(cmd, "herd: worker ", 13) == 0);
  /* /crash: the worker retires, its successor starts before it exits -
   * once the worker has lived past the min uptime (1 s): a younger one
   * that retires is a crash loop and gets backoff instead. The rule is
   * about time, so the wait is too (bounded). */
  herd_proc_stat_t ps;
  for (int i = 0; i < 300; i++) {
    CHECK_OK(herd_proc_stat(wpid, &ps));
    if (ps.uptime_ms > 1100)
      break;
    usleep(10000);
  }
  CHECK_EQ(http_get(h.port, "/crash", body, sizeof body), 200);
  CHECK(strstr(body, "retires and dies"));
  HP_WAIT(&h, "exited, code 3", 1);
  const char *retire = strstr(h.log, "retires, starting its successor");
  const char *exited = strstr(h.log, "exited, code 3");
  CHECK(retire && exited && retire < exited);
  CHECK_EQ(http_get(h.port, "/", body, sizeof body), 200);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
  CHECK(strstr(h.log, "master: stopped"));
}

TEST_T(herd_run_as_pid1_reaps_orphans, 60) {
  if (geteuid() != 0)
    SKIP("needs root for a PID namespace (unshare --pid)");
  herd_exec_result_t r;
  char *probe[] = {"unshare", "--pid", "--fork", "true", NULL};
  if (herd_exec_file("unshare", probe, NULL, &r) < 0 || r.exit_code != 0) {
    herd_exec_result_free(&r);
    SKIP("unshare --pid not available here");
  }
  herd_exec_result_free(&r);
  static char herd[4096];
  path_of(herd, sizeof herd, "herd");
  /* The worker leaves an orphan (the subshell's sleep) and waits: the
   * orphan is re-parented to PID 1, herd, which must reap it. */
  char *argv[] = {"unshare", "--pid", "--fork", "--kill-child", herd, "run", "-w", "1",
                  "--", "/bin/sh", "-c", "(sleep 0.3 &); echo orphaned >&2; exec sleep 1000",
                  NULL};
  herd_spawn_opts_t o = {0};
  o.stdio[1].kind = HERD_STDIO_IGNORE;
  o.stdio[2].kind = HERD_STDIO_PIPE;
  struct hp h;
  memset(&h, 0, sizeof h);
  CHECK_OK(herd_spawn(&h.c, "unshare", argv, &o));
  HP_WAIT(&h, "] orphaned", 1);
  pid_t kids[8];
  CHECK_EQ(children_of(h.c.pid, kids, 8), 1);
  pid_t master = kids[0]; /* herd: PID 1 inside */
  /* find the orphan among herd's children: the one that is not the
   * worker (the worker leads its own process group) */
  pid_t orphan = 0;
  for (int tries = 0; tries < 200 && !orphan; tries++) {
    pid_t c[8];
    int n = children_of(master, c, 8);
    for (int i = 0; i < n; i++)
      if (getpgid(c[i]) != c[i])
        orphan = c[i];
    if (!orphan)
      usleep(5000); /* bounded: the subshell is exiting right now */
  }
  CHECK_MSG(orphan > 0, "no orphan re-parented to herd");
  CHECK(pid_gone(orphan, 5000)); /* it exited (zombie or reaped) */
  /* reaped, not left a zombie: no event tells "reaped by another
   * process", so a bounded check of its state */
  char st = 'Z';
  for (int i = 0; i < 200 && (st = proc_state(orphan)) == 'Z'; i++)
    usleep(5000);
  CHECK_MSG(st != 'Z', "orphan %d left a zombie under herd as PID 1", orphan);
  /* stop herd itself; unshare exits with its status */
  CHECK(kill(master, SIGTERM) == 0);
  CHECK_EQ(hp_stop(&h, 0), 0);
}

TEST_T(herd_run_roundrobin_takes_turns_and_reloads, 90) {
  struct hp h;
  const char *args[] = {"run", "-w", "2", "--balance", "roundrobin", "-l", "127.0.0.1:0",
                        "--", hello_http(), NULL};
  hp_start(&h, args);
  hp_port(&h);
  HP_WAIT(&h, "all 2 workers ready", 1);
  /* one connection after another: the master hands them out in turn */
  int last = -1;
  for (int i = 0; i < 40; i++) {
    char body[64];
    CHECK_MSG(http_get(h.port, "/pid", body, sizeof body) == 200, "%s", last_err);
    int slot = atoi(strchr(body, ' ') + 1);
    CHECK_MSG(slot != last, "request %d went to slot %d twice in a row", i, slot);
    last = slot;
  }
  /* keep-alive connections are handed over once and stay with a worker */
  int fd = test_connect_port(h.port);
  CHECK(fd >= 0);
  for (int i = 0; i < 2000; i++) {
    char body[64];
    CHECK_MSG(http_on(fd, "/", 1, body, sizeof body) == 200, "%s", last_err);
  }
  close(fd);
  /* a reload under load: keep-alive and new-connection clients at once
   * (this found hello-http closing handed-over sockets without taking
   * them out of epoll first: the stale event cut another connection) */
  struct loader l1, l2;
  loader_start(&l1, h.port, 1);
  loader_start(&l2, h.port, 0);
  char body[64];
  for (int i = 0; i < 300; i++)
    CHECK_MSG(http_get(h.port, "/", body, sizeof body) == 200, "%s", last_err);
  CHECK_OK(herd_child_kill(&h.c, SIGHUP, 0));
  for (int i = 0; i < 500; i++)
    CHECK_MSG(http_get(h.port, "/", body, sizeof body) == 200, "%s", last_err);
  HP_WAIT(&h, "reload done", 1);
  HP_WAIT(&h, "stopped, up", 2);
  for (int i = 0; i < 300; i++)
    CHECK_MSG(http_get(h.port, "/", body, sizeof body) == 200, "%s", last_err);
  long ok1, bad1, ok2, bad2;
  loader_stop(&l1, &ok1, &bad1);
  loader_stop(&l2, &ok2, &bad2);
  CHECK_MSG(bad1 == 0 && bad2 == 0, "failed: %ld keep-alive, %ld new-connection",
            bad1, bad2);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

TEST_T(herd_run_user_keeps_parent_death_signal, 60) {
  /* Regression: the parent-death signal was set before the uid change,
   * which clears it, so workers run as another user outlived a SIGKILLed
   * master. */
  if (geteuid() != 0)
    SKIP("needs root for --user");
  struct hp h;
  const char *args[] = {"run", "-w", "1", "--user", "nobody", "-l", "127.0.0.1:0", "--",
                        hello_http(), NULL};
  hp_start(&h, args);
  hp_port(&h);
  HP_WAIT(&h, "1 worker ready", 1);
  pid_t pids[2];
  CHECK_EQ(distinct_pids(h.port, 10, pids, 2), 1);
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/status", pids[0]);
  FILE *f = fopen(path, "r");
  CHECK(f);
  char line[256];
  int uid = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "Uid: %d", &uid) == 1)
      break;
  fclose(f);
  CHECK_EQ(uid, 65534);
  CHECK_EQ(hp_stop(&h, SIGKILL), 128 + SIGKILL);
  CHECK_MSG(pid_gone(pids[0], 5000), "worker %d outlived its master", pids[0]);
}

TEST_T(herd_run_reload_survives_old_worker_dying_meanwhile, 60) {
  /* Regression: an old worker that died while its successor was
   * starting left the reload waiting forever. */
  struct hp h;
  const char *args[] = {"run", "-w", "1", "--ready", "400ms", "-l", "127.0.0.1:0", "--",
                        hello_http(), NULL};
  hp_start(&h, args);
  hp_port(&h);
  HP_WAIT(&h, "1 worker ready", 1);
  pid_t old[2];
  CHECK_EQ(distinct_pids(h.port, 10, old, 2), 1);
  CHECK_OK(herd_child_kill(&h.c, SIGHUP, 0));
  HP_WAIT(&h, "(successor)", 1);
  CHECK(kill(old[0], SIGKILL) == 0);
  HP_WAIT(&h, "reload done", 1);
  /* and a later reload still works */
  CHECK_OK(herd_child_kill(&h.c, SIGHUP, 0));
  HP_WAIT(&h, "reload done", 2);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

TEST_T(herd_run_unhandled_signals_do_not_kill_the_master, 60) {
  /* Regression: SIGUSR2 (nginx's binary upgrade) killed herd, and its
   * workers with it. */
  struct hp h;
  const char *args[] = {"run", "-w", "1", "-l", "127.0.0.1:0", "--", hello_http(), NULL};
  hp_start(&h, args);
  hp_port(&h);
  HP_WAIT(&h, "1 worker ready", 1);
  CHECK_OK(herd_child_kill(&h.c, SIGUSR2, 0));
  HP_WAIT(&h, "SIGUSR2: ignored", 1);
  char body[64];
  CHECK_EQ(http_get(h.port, "/", body, sizeof body), 200);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

TEST_T(herd_run_restarts_even_with_sigchld_ignored_at_start, 60) {
  /* Regression: an inherited SIG_IGN for SIGCHLD made the kernel reap
   * workers behind herd's back: no restart, and a stop that hung. */
  static char herd[4096];
  path_of(herd, sizeof herd, "herd");
  /* sh's trap '' sets SIG_IGN, which survives the exec */
  char *argv[] = {"sh", "-c", "trap '' CHLD; exec \"$0\" run -w 1 -l 127.0.0.1:0 -- \"$1\"",
                  herd, (char *)hello_http(), NULL};
  herd_spawn_opts_t o = {0};
  o.stdio[1].kind = HERD_STDIO_IGNORE;
  o.stdio[2].kind = HERD_STDIO_PIPE;
  struct hp h;
  memset(&h, 0, sizeof h);
  CHECK_OK(herd_spawn(&h.c, "sh", argv, &o));
  hp_port(&h);
  HP_WAIT(&h, "1 worker ready", 1);
  pid_t pids[2];
  CHECK_EQ(distinct_pids(h.port, 10, pids, 2), 1);
  CHECK(kill(pids[0], SIGKILL) == 0);
  HP_WAIT(&h, "killed by signal 9", 1);
  HP_WAIT(&h, "started", 2);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

TEST_T(herd_run_early_retire_backs_off, 60) {
  /* Regression: a worker that retired as soon as it started was replaced
   * at once, forever: a fork loop. */
  struct hp h;
  static char self[4096];
  snprintf(self, sizeof self, "%s", test_self());
  const char *args[] = {"run", "-w", "1", "--", self, "--helper", "retire-now", NULL};
  hp_start(&h, args);
  HP_WAIT(&h, "it is replaced when it exits", 1);
  HP_WAIT(&h, "restarting in 100 ms (backing off)", 1);
  HP_WAIT(&h, "restarting in 200 ms (backing off)", 1);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

/* The next datagram on s that does not begin with skip, into buf. */
static void recv_unlike(int s, char *buf, size_t n, const char *skip) {
  do {
    ssize_t got = recv(s, buf, n - 1, 0);
    CHECK(got > 0);
    buf[got] = '\0';
  } while (!strncmp(buf, skip, strlen(skip)));
}

TEST_T(herd_run_tells_its_own_supervisor_ready_and_stopping, 60) {
  /* Under systemd (Type=notify): READY=1 once every worker is ready,
   * RELOADING=1 + READY=1 around a reload, STOPPING=1 at the stop; the
   * STATUS= lines between them are save_test.c's. */
  int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  CHECK(s >= 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  char name[64];
  int n = snprintf(name, sizeof name, "@herd-test-sd-%d", getpid());
  memcpy(sa.sun_path, name, (size_t)n);
  sa.sun_path[0] = '\0';
  CHECK(bind(s, (struct sockaddr *)&sa,
             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n)) == 0);
  static char herd[4096];
  path_of(herd, sizeof herd, "herd");
  char *argv[] = {herd, "run", "-w", "2", "-l", "127.0.0.1:0", "--ready", "notify", "--",
                  (char *)hello_http(), NULL};
  char var[96];
  snprintf(var, sizeof var, "NOTIFY_SOCKET=%s", name);
  const char *env[] = {var, NULL};
  herd_spawn_opts_t o = {.env_mode = HERD_ENV_ADD, .env = env};
  o.stdio[1].kind = HERD_STDIO_IGNORE;
  o.stdio[2].kind = HERD_STDIO_PIPE;
  struct hp h;
  memset(&h, 0, sizeof h);
  CHECK_OK(herd_spawn(&h.c, herd, argv, &o));
  char buf[256];
  recv_unlike(s, buf, sizeof buf, "STATUS="); /* blocks: the event */
  CHECK_STR(buf, "READY=1");
  /* by then both workers had said READY=1 to herd (not to us) */
  CHECK(hp_wait(&h, "all 2 workers ready", 1, 1000));
  CHECK_OK(herd_child_kill(&h.c, SIGHUP, 0));
  recv_unlike(s, buf, sizeof buf, "STATUS=");
  CHECK_MSG(strncmp(buf, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0, "got %s", buf);
  recv_unlike(s, buf, sizeof buf, "STATUS=");
  CHECK_STR(buf, "READY=1");
  /* the reload's end is one READY=1: the pool being all ready again
   * right after it is not news (herd said READY=1 twice) */
  CHECK(hp_wait(&h, "reload done", 1, 10000));
  CHECK(hp_wait(&h, "all 2 workers ready", 2, 10000));
  CHECK_OK(herd_child_kill(&h.c, SIGTERM, 0));
  recv_unlike(s, buf, sizeof buf, "STATUS=");
  CHECK_STR(buf, "STOPPING=1\nSTATUS=stopping");
  CHECK_EQ(hp_stop(&h, 0), 0);
  close(s);
}

TEST_T(herd_run_parks_only_crash_loops, 60) {
  /* Workers that had run past --min-uptime are replaced at once however
   * often they die; only early deaths count toward parking (and the
   * backoff is capped so that a crash loop is parked within the window,
   * not just slowed down). */
  struct hp h;
  /* --ready 0: no settle time, which a kill inside would make an early
   * death whatever --min-uptime says */
  const char *args[] = {"run", "-w", "1", "--min-uptime", "50ms", "--max-restarts", "2",
                        "--ready", "0", "-l", "127.0.0.1:0", "--", hello_http(), NULL};
  hp_start(&h, args);
  hp_port(&h);
  HP_WAIT(&h, "1 worker ready", 1);
  for (int k = 0; k < 5; k++) {
    pid_t p[2];
    CHECK_EQ(distinct_pids(h.port, 5, p, 2), 1);
    herd_proc_stat_t ps;
    for (int i = 0; i < 100; i++) { /* the rule is about its age */
      CHECK_OK(herd_proc_stat(p[0], &ps));
      if (ps.uptime_ms > 80)
        break;
      usleep(10000);
    }
    CHECK(kill(p[0], SIGKILL) == 0);
    HP_WAIT(&h, "killed by signal 9", k + 1);
    HP_WAIT(&h, "started", k + 2);
  }
  CHECK(strstr(h.log, "parked") == NULL);
  CHECK(strstr(h.log, "backing off") == NULL);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);

  const char *loop[] = {"run", "-w", "1", "--max-restarts", "3", "--restart-window", "2s",
                        "--restart-cooldown", "30s", "--", "/bin/sh", "-c", "exit 1", NULL};
  hp_start(&h, loop);
  HP_WAIT(&h, "died early 4 times in the restart window: parked", 1);
  CHECK(strstr(h.log, "restarting in 333 ms (backing off)")); /* 2 s / (2 x 3) */
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

TEST_T(herd_run_roundrobin_node_worker, 60) {
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  struct hp h;
  const char *args[] = {"run", "-w", "2", "--balance", "roundrobin", "--ready", "300ms",
                        "-l", "127.0.0.1:0", "--", "node", "examples/node-worker.js", NULL};
  hp_start(&h, args);
  hp_port(&h);
  HP_WAIT(&h, "all 2 workers ready", 1);
  int seen[2] = {0, 0};
  for (int i = 0; i < 40; i++) {
    char body[64];
    CHECK_MSG(http_get(h.port, "/pid", body, sizeof body) == 200, "%s", last_err);
    int slot = atoi(strchr(body, ' ') + 1);
    CHECK(slot == 0 || slot == 1);
    seen[slot]++;
  }
  CHECK_EQ(seen[0], 20); /* handed out in turn */
  CHECK_EQ(seen[1], 20);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
  CHECK(strstr(h.log, "code 0, stopped"));
}
