/*
 * ctl_client_test.c - the control client (src/cli/ctl.c: herd status,
 * list, stop, reload, scale) against a fake master: a unix socket at
 * HERD_HOME/NAME.sock (each test has its own HERD_HOME) served by a child
 * of the test that answers crafted replies. What a master says is data
 * to check, not to trust: numbers out of range, a pid of someone else.
 *
 * The real binary, run to its end within a bound (a hang fails the test
 * saying so).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

static const char *herd_bin(void) {
  static char b[PATH_MAX];
  if (!b[0]) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/herd", prog_dir());
    CHECK_MSG(realpath(tmp, b) != NULL, "%s: %s", tmp, strerror(errno));
  }
  return b;
}

/* The last command's exit status and output. */
static struct {
  int status;
  char out[16384], err[16384];
  uint64_t ms; /* how long it took */
} R;

/* herd args... to its end, within timeout_ms (else killed: status -1). */
static int herd_run(int timeout_ms, const char *const *args) {
  char *argv[16];
  int n = 0;
  argv[n++] = (char *)herd_bin();
  for (int i = 0; args[i] && n < 15; i++)
    argv[n++] = (char *)args[i];
  argv[n] = NULL;
  int o[2], e[2];
  CHECK(pipe2(o, O_CLOEXEC) == 0 && pipe2(e, O_CLOEXEC) == 0);
  fflush(NULL);
  uint64_t t0 = test_now_ms();
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    int nul = open("/dev/null", O_RDONLY);
    if (nul < 0 || dup2(nul, 0) < 0 || dup2(o[1], 1) < 0 || dup2(e[1], 2) < 0)
      _exit(126);
    execv(argv[0], argv);
    _exit(127);
  }
  close(o[1]);
  close(e[1]);
  size_t len[2] = {0, 0};
  char *buf[2] = {R.out, R.err};
  int fds[2] = {o[0], e[0]};
  uint64_t deadline = t0 + (uint64_t)timeout_ms;
  while (fds[0] >= 0 || fds[1] >= 0) {
    uint64_t now = test_now_ms();
    if (now >= deadline)
      break;
    struct pollfd p[2] = {{.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN}};
    int r = poll(p, 2, (int)(deadline - now));
    if (r < 0 && errno == EINTR)
      continue;
    CHECK(r >= 0);
    for (int i = 0; i < 2; i++) {
      if (fds[i] < 0 || !p[i].revents)
        continue;
      ssize_t k = read(fds[i], buf[i] + len[i], sizeof R.out - 1 - len[i]);
      if (k > 0) {
        len[i] += (size_t)k;
      } else if (k == 0 || errno != EINTR) {
        close(fds[i]);
        fds[i] = -1;
      }
    }
  }
  R.out[len[0]] = R.err[len[1]] = '\0';
  for (int i = 0; i < 2; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  int st;
  if (fds[0] >= 0 || fds[1] >= 0 || test_now_ms() >= deadline) {
    kill(pid, SIGKILL);
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    R.status = -1;
  } else {
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    R.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  R.ms = test_now_ms() - t0;
  return R.status;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define HERD_EXPECT(code, ...)                                                       \
  do {                                                                               \
    int st_ = herd_run(20000, ARGS(__VA_ARGS__));                                    \
    CHECK_MSG(st_ == (code), "herd %s: exit %d, expected %d (-1: still running "     \
              "after 20 s)\nstdout: %s\nstderr: %s", ARGS(__VA_ARGS__)[0], st_,      \
              (code), R.out, R.err);                                                 \
  } while (0)

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

/* ---- the fake master ------------------------------------------------ */

struct fake {
  pid_t pid;
  int hold; /* write end: the fake exits once it is closed */
};

static void send_all(int fd, const char *s, size_t n) {
  while (n) {
    ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return;
    s += w;
    n -= (size_t)w;
  }
}

/* A child listening at HERD_HOME/NAME.sock: for each reply, it accepts a
 * connection, reads the request line, writes the reply (one or more
 * lines; "$PID" in it becomes the fake's own pid) and closes the
 * connection. Then it exits - or, with hold, once the test closes
 * f.hold (fake_end), as a master that is slow to exit. */
static struct fake fake_master(const char *name, const char *const *replies, int hold) {
  const char *home = getenv("HERD_HOME");
  CHECK_MSG(home && *home, "HERD_HOME is not set (run under herd-test)");
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  int k = snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s.sock", home, name);
  CHECK(k > 0 && (size_t)k < sizeof sa.sun_path);
  int hp[2], rp[2];
  CHECK(pipe2(hp, O_CLOEXEC) == 0 && pipe2(rp, O_CLOEXEC) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    close(hp[1]);
    close(rp[0]);
    /* listen() here, not in the test: SO_PEERCRED names the process
     * that called it, as it names a real master */
    (void)unlink(sa.sun_path); /* an earlier fake's */
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 8) < 0 ||
        write(rp[1], "r", 1) != 1)
      _exit(1);
    close(rp[1]);
    char self[32];
    snprintf(self, sizeof self, "%d", (int)getpid());
    for (int i = 0; replies[i]; i++) {
      struct pollfd p = {.fd = l, .events = POLLIN};
      if (poll(&p, 1, 20000) <= 0)
        _exit(1);
      int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
      if (c < 0)
        _exit(1);
      char b[4096];
      size_t n = 0;
      while (n < sizeof b - 1) { /* the request line */
        ssize_t r = read(c, b + n, sizeof b - 1 - n);
        if (r <= 0)
          break;
        n += (size_t)r;
        if (memchr(b, '\n', n))
          break;
      }
      char reply[4096];
      size_t m = 0;
      for (const char *s = replies[i]; *s && m < sizeof reply - 32;) {
        if (!strncmp(s, "$PID", 4)) {
          m += (size_t)snprintf(reply + m, sizeof reply - m, "%s", self);
          s += 4;
        } else {
          reply[m++] = *s++;
        }
      }
      send_all(c, reply, m);
      close(c);
    }
    close(l);
    if (hold) {
      char b;
      while (read(hp[0], &b, 1) > 0)
        ;
    }
    _exit(0);
  }
  close(hp[0]);
  close(rp[1]);
  char b;
  CHECK_MSG(read(rp[0], &b, 1) == 1, "the fake master could not listen at %s", sa.sun_path);
  close(rp[0]);
  return (struct fake){pid, hp[1]};
}

/* Let the fake go, and reap it: it must have served every reply. */
static void fake_end(struct fake *f) {
  close(f->hold);
  int st;
  CHECK_EQ(waitpid(f->pid, &st, 0), f->pid);
  CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the fake master: status %d", st);
}

/* ---- numbers out of range ------------------------------------------ */

/* A status reply of a master, with one field replaced: where is ONE of
 * "top" (the master's own numbers) or "worker". */
static void status_reply(char *buf, size_t n, const char *top, const char *worker) {
  snprintf(buf, n,
           "{\"ok\":true,\"name\":\"web\",\"pid\":4242,\"uptime_ms\":5000,\"rss\":1000,"
           "\"workers_wanted\":1,%s\"listen\":[],\"balance\":\"shared\","
           "\"workers\":[{\"slot\":0,\"pid\":4343,\"state\":\"ready\",\"successor\":false,"
           "\"uptime_ms\":1000,\"retry_ms\":0,\"restarts\":0,\"cpu\":0.5,\"rss\":2000,"
           "%s\"last_exit\":{\"code\":0,\"signal\":0,\"cause\":\"stopped\"}}]}\n",
           top, worker);
}

/* A number cast to an int or a uint64_t unchecked: 1e10 in a pid, 1e300
 * in an uptime, a fraction, a negative retry (UBSan: float-cast-overflow
 * in a SANITIZE=1 build; garbage printed with exit 0 in another). Each
 * is a protocol error: one line naming the number, exit 1. */
TEST_T(ctl_status_number_out_of_range_is_a_protocol_error, 60) {
  static const struct {
    const char *top, *worker, *says;
  } c[] = {
      {"\"pid\":1e10,", "", "\"pid\" is 10000000000, not a whole number in 0..2147483647"},
      {"\"uptime_ms\":1e300,", "", "\"uptime_ms\" is 1.0000000000000001e+300"},
      {"\"workers_wanted\":1.5,", "", "\"workers_wanted\" is 1.5"},
      {"\"rss\":-1,", "", "\"rss\" is -1"},
      {"", "\"pid\":-5e18,", "\"workers[].pid\" is -5e+18"},
      {"", "\"retry_ms\":-1,", "\"workers[].retry_ms\" is -1"},
      {"", "\"retry_ms\":1e19,", "\"workers[].retry_ms\" is 1e+19"},
      {"", "\"uptime_ms\":9223372036854775807,", "\"workers[].uptime_ms\" is 9.2233720368547758e+18"},
      {"", "\"slot\":2147483648,", "\"workers[].slot\" is 2147483648"},
      {"", "\"restarts\":0.25,", "\"workers[].restarts\" is 0.25"},
      {"\"logs\":{\"out\":\"x\",\"dropped\":[1e300,0]},", "", "\"logs.dropped\" is 1.0000000000000001e+300"},
  };
  size_t n = sizeof c / sizeof *c;
  char replies[sizeof c / sizeof *c][2048];
  const char *rp[sizeof c / sizeof *c + 2];
  for (size_t i = 0; i < n; i++) {
    status_reply(replies[i], sizeof replies[i], c[i].top, c[i].worker);
    rp[i] = replies[i];
  }
  char good[2048];
  status_reply(good, sizeof good, "", "");
  rp[n] = good;
  rp[n + 1] = NULL;
  struct fake f = fake_master("web", rp, 0);
  for (size_t i = 0; i < n; i++) {
    HERD_EXPECT(1, "status", "web");
    CHECK_MSG(count_lines(R.err) == 1 && strstr(R.err, "herd status: web: not a herd reply: ") &&
                  strstr(R.err, c[i].says),
              "reply %zu: %s", i, R.err);
    CHECK_MSG(!R.out[0], "reply %zu: printed %s", i, R.out);
  }
  /* the same reply with its numbers in range is shown */
  HERD_EXPECT(0, "status", "web");
  CHECK_MSG(strstr(R.out, "master pid 4242, up 5s") && strstr(R.out, "4343"), "%s", R.out);
  fake_end(&f);
}

TEST_T(ctl_list_number_out_of_range_is_not_herd, 60) {
  const char *rp[] = {"{\"ok\":true,\"pid\":1e10,\"workers_wanted\":1,\"uptime_ms\":1}\n",
                      "{\"ok\":true,\"pid\":7,\"workers_wanted\":-1e19,\"uptime_ms\":1}\n",
                      "{\"ok\":true,\"pid\":7,\"workers_wanted\":2,\"uptime_ms\":61000}\n",
                      NULL};
  struct fake f = fake_master("web", rp, 0);
  HERD_EXPECT(0, "list");
  CHECK_MSG(strstr(R.out, "web                  not-herd") &&
                strstr(R.out, "(not a herd reply: \"pid\" is 10000000000, not a whole "
                              "number in 0..2147483647)"),
            "%s", R.out);
  HERD_EXPECT(0, "list", "--json");
  CHECK_MSG(!strcmp(R.out, "[{\"name\":\"web\",\"status\":\"not-herd\"}]\n"), "%s", R.out);
  HERD_EXPECT(0, "list", "--json");
  CHECK_MSG(!strcmp(R.out, "[{\"name\":\"web\",\"status\":\"online\",\"pid\":7,"
                           "\"workers\":2,\"workers_ready\":0,\"uptime_ms\":61000}]\n"),
            "%s", R.out);
  fake_end(&f);
}

TEST_T(ctl_reload_and_scale_number_out_of_range_is_a_protocol_error, 60) {
  const char *rp[] = {"{\"ok\":true,\"pending\":\"reload\"}\n{\"ok\":true,\"workers\":1e10}\n",
                      "{\"ok\":true,\"workers\":-3}\n",
                      "{\"ok\":true,\"workers\":3}\n", NULL};
  struct fake f = fake_master("web", rp, 0);
  HERD_EXPECT(1, "reload", "web");
  CHECK_MSG(count_lines(R.err) == 1 &&
                strstr(R.err, "herd reload: web: not a herd reply: \"workers\" is 10000000000"),
            "%s", R.err);
  CHECK_MSG(!R.out[0], "%s", R.out);
  HERD_EXPECT(1, "scale", "web", "3");
  CHECK_MSG(count_lines(R.err) == 1 && strstr(R.err, "\"workers\" is -3"), "%s", R.err);
  HERD_EXPECT(0, "scale", "web", "3");
  CHECK_MSG(!strcmp(R.out, "web: scaled to 3 workers\n"), "%s", R.out);
  fake_end(&f);
}

/* ---- herd stop waits for the master, and only for it ---------------- */

/* herd stop waited, with no limit, on whatever pid the reply named:
 * here a process of the test's that never ends, while the "master"
 * exits. It waits for the process at the other end of the socket. */
TEST_T(ctl_stop_waits_for_the_socket_peer_not_the_pid_a_reply_names, 60) {
  pid_t stranger = fork();
  CHECK(stranger >= 0);
  if (stranger == 0) {
    for (;;)
      pause();
  }
  char r1[256];
  snprintf(r1, sizeof r1,
           "{\"ok\":true,\"pending\":\"stop\",\"pid\":%d}\n"
           "{\"ok\":true,\"stopped\":true,\"killed\":false}\n",
           (int)stranger);
  const char *rp[] = {r1, NULL};
  struct fake f = fake_master("web", rp, 0);
  HERD_EXPECT(0, "stop", "web");
  CHECK_MSG(!strcmp(R.out, "web: stopped (master exited)\n") && !R.err[0], "%s%s", R.out,
            R.err);
  fake_end(&f);
  /* the stranger was neither waited for nor signalled */
  CHECK_EQ(waitpid(stranger, NULL, WNOHANG), 0);
  CHECK_EQ(kill(stranger, SIGKILL), 0);
  CHECK_EQ(waitpid(stranger, NULL, 0), stranger);
}

/* A master that says it stopped but does not exit: herd stop gives up
 * after 10 s, saying so (exit 1), instead of waiting for ever. */
TEST_T(ctl_stop_waits_a_bounded_time_for_the_master_to_exit, 60) {
  const char *rp[] = {"{\"ok\":true,\"pending\":\"stop\",\"pid\":$PID}\n"
                      "{\"ok\":true,\"stopped\":true,\"killed\":false}\n",
                      NULL};
  struct fake f = fake_master("web", rp, 1);
  HERD_EXPECT(1, "stop", "web");
  char want[128];
  snprintf(want, sizeof want, "herd stop: web: the master (pid %d) stopped its workers but has "
           "not exited within 10 s\n", (int)f.pid);
  CHECK_MSG(!strcmp(R.err, want), "%s", R.err);
  CHECK_MSG(R.ms >= 9900 && R.ms < 15000, "it took %llu ms", (unsigned long long)R.ms);
  fake_end(&f);
  /* "all" reports it too (an app that is not there is skipped quietly) */
  const char *rp2[] = {"{\"ok\":true,\"pending\":\"stop\",\"pid\":$PID}\n", NULL};
  f = fake_master("web", rp2, 1);
  HERD_EXPECT(1, "stop", "all");
  CHECK_MSG(strstr(R.err, "has not exited within 10 s"), "%s", R.err);
  fake_end(&f);
}

TEST_T(ctl_stop_reply_pid_out_of_range_is_a_protocol_error, 30) {
  const char *rp[] = {"{\"ok\":true,\"pending\":\"stop\",\"pid\":1e10}\n"
                      "{\"ok\":true,\"stopped\":true,\"killed\":false}\n",
                      "{\"ok\":true,\"pending\":\"stop\",\"pid\":0.5}\n", NULL};
  struct fake f = fake_master("web", rp, 1);
  HERD_EXPECT(1, "stop", "web");
  CHECK_MSG(count_lines(R.err) == 1 &&
                strstr(R.err, "herd stop: web: not a herd reply: \"pid\" is 10000000000, not a "
                              "whole number in 1..2147483647"),
            "%s", R.err);
  CHECK_MSG(R.ms < 5000, "it took %llu ms", (unsigned long long)R.ms);
  HERD_EXPECT(1, "stop", "web");
  CHECK_MSG(strstr(R.err, "\"pid\" is 0.5"), "%s", R.err);
  fake_end(&f);
}

/* ---- every subcommand's options through getopt (issue 10) ------------ */

/* Options before or after the operands, "--", and scale's "-2", which is
 * an operand and not an option. */
TEST(ctl_client_subcommands_parse_options_with_getopt) {
  /* scale NAME -2: -2 reaches the app lookup (no such app: 1), not a
   * refusal as an unknown option (2) */
  HERD_EXPECT(1, "scale", "nosuchapp", "-2");
  CHECK_MSG(strstr(R.err, "no app named 'nosuchapp'"), "%s", R.err);
  HERD_EXPECT(1, "scale", "nosuchapp", "--", "-2");
  HERD_EXPECT(2, "scale", "nosuchapp", "-2x");
  CHECK_MSG(strstr(R.err, "herd scale: unknown option '-2'"), "%s", R.err);
  HERD_EXPECT(2, "scale", "--graceful", "nosuchapp", "2");
  CHECK_MSG(strstr(R.err, "unknown option '--graceful'"), "%s", R.err);
  /* stop's --graceful after the name; a prefix getopt_long takes */
  HERD_EXPECT(1, "stop", "nosuchapp", "--graceful");
  HERD_EXPECT(1, "stop", "--grace", "nosuchapp");
  HERD_EXPECT(2, "stop", "--bogus", "nosuchapp");
  CHECK_MSG(strstr(R.err, "herd stop: unknown option '--bogus'"), "%s", R.err);
  /* list and startup: cli_getopt's messages, with the command's name */
  HERD_EXPECT(2, "list", "--bogus");
  CHECK_MSG(strstr(R.err, "herd list: unknown option '--bogus'"), "%s", R.err);
  HERD_EXPECT(0, "list", "--json");
  CHECK_MSG(R.out[0] == '[', "%s", R.out);
  HERD_EXPECT(2, "list", "extra");
  HERD_EXPECT(2, "startup", "--bogus", "systemd");
  CHECK_MSG(strstr(R.err, "herd startup: unknown option '--bogus'"), "%s", R.err);
  HERD_EXPECT(2, "startup", "systemd", "--config");
  CHECK_MSG(strstr(R.err, "option '--config' needs a value"), "%s", R.err);
  HERD_EXPECT(2, "startup", "systemd", "more");
  CHECK_MSG(strstr(R.err, "unexpected 'more'"), "%s", R.err);
  HERD_EXPECT(0, "startup", "--help");
  CHECK_MSG(strstr(R.out, "Usage: herd startup systemd"), "%s", R.out);
  /* run and start: short and long options of the table, "-w" as "--workers" */
  HERD_EXPECT(2, "run", "-w", "0", "--", "true");
  CHECK_MSG(strstr(R.err, "herd run: --workers: 0 is out of range (1..4096)"), "%s",
            R.err);
  HERD_EXPECT(2, "start", "--workers=4097", "--", "true");
  CHECK_MSG(strstr(R.err, "--workers: 4097 is out of range (1..4096)"), "%s", R.err);
  HERD_EXPECT(2, "run", "--ready", "soon", "--", "true");
  CHECK_MSG(strstr(R.err, "ready: 'soon' is not one of immediate, notify, listening, "
                   "ipc or a duration"), "%s", R.err);
}
