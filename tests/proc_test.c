/*
 * proc_test.c - herd_proc_stat, herd_uptime_ms and the process title.
 *
 * Values are checked against what the kernel says through other doors
 * (/proc/self/comm, /proc/self/status, getppid, the clocks around a
 * spawn), not against a copy of the library's own arithmetic.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

/* ---- helpers ------------------------------------------------------ */

static int64_t realtime_ms(void) {
  struct timespec ts;
  CHECK_EQ(clock_gettime(CLOCK_REALTIME, &ts), 0);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A whole /proc file (cmdline holds NULs: *len says how much). */
static char *read_file(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  CHECK_MSG(fd >= 0, "open %s: %s", path, strerror(errno));
  char *b = test_read_all(fd, len);
  close(fd);
  return b;
}

static char *read_proc(pid_t pid, const char *what, size_t *len) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
  return read_file(path, len);
}

static void chomp(char *s) {
  size_t n = strlen(s);
  while (n && s[n - 1] == '\n')
    s[--n] = '\0';
}

/* Read one line from the helper's stdout, bounded in time. */
static void read_line(herd_child_t *c, char *buf, size_t cap) {
  int fd = c->stdio[1];
  size_t len = 0;
  uint64_t deadline = test_now_ms() + 20000;
  while (len + 1 < cap) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    uint64_t now = test_now_ms();
    CHECK_MSG(now < deadline, "no line from the helper (got \"%.*s\")",
              (int)len, buf);
    int r = poll(&p, 1, (int)(deadline - now));
    if (r < 0 && errno == EINTR)
      continue;
    CHECK_MSG(r >= 0, "poll: %s", strerror(errno));
    if (r == 0)
      continue;
    ssize_t n = read(fd, buf + len, 1);
    if (n != 1) {
      /* Say how it ended: its status names a crash. */
      int w = herd_child_wait(c, 5000);
      test_fail(__FILE__, __LINE__,
                "helper closed its output after \"%.*s\" (%s, status %d)",
                (int)len, buf, w < 0 ? herd_strerror(w) : "exited",
                herd_child_status(c));
    }
    if (buf[len] == '\n')
      break;
    len++;
  }
  buf[len] = '\0';
}

/* Spawn the helper ROLE ARGS with stdin and stdout piped. */
static void spawn_piped(herd_child_t *c, char **argv,
                        const char *const *env) {
  herd_spawn_opts_t o;
  memset(&o, 0, sizeof o);
  o.stdio[0].kind = HERD_STDIO_PIPE;
  o.stdio[1].kind = HERD_STDIO_PIPE;
  if (env) {
    o.env_mode = HERD_ENV_REPLACE;
    o.env = env;
  }
  CHECK_OK(herd_spawn(c, test_self(), argv, &o));
}

/* Close the helper's stdin (it then exits 0) and reap it. */
static void finish_helper(herd_child_t *c) {
  close(c->stdio[0]);
  c->stdio[0] = -1;
  CHECK_OK(herd_child_wait(c, 20000));
  CHECK_EQ(herd_child_status(c), 0);
  herd_child_close(c);
}

/* ---- herd_proc_stat ----------------------------------------------- */

TEST(proc_stat_self) {
  herd_proc_stat_t st;
  memset(&st, 0x5a, sizeof st);
  CHECK_OK(herd_proc_stat(0, &st));
  CHECK_EQ(st.pid, getpid());
  CHECK_EQ(st.ppid, getppid());
  CHECK_EQ(st.state, 'R'); /* it is running: it reads its own stat */
  CHECK(st.rss_bytes > 0);
  CHECK(st.vsize_bytes >= st.rss_bytes);
  CHECK(st.num_threads >= 1);

  char *comm = read_file("/proc/self/comm", NULL);
  chomp(comm);
  CHECK_STR(st.comm, comm);
  free(comm);

  /* Threads: as /proc/self/status counts them. */
  char *status = read_file("/proc/self/status", NULL);
  char *th = strstr(status, "\nThreads:");
  CHECK(th != NULL);
  CHECK_EQ(st.num_threads, atol(th + 9));
  free(status);

  /* This test process was forked by the runner moments ago. */
  int64_t now = realtime_ms();
  CHECK_MSG(st.start_ms <= now + 20 && now - st.start_ms < 60000,
            "start_ms %lld, now %lld", (long long)st.start_ms,
            (long long)now);
  CHECK(st.uptime_ms >= 0 && st.uptime_ms < 60000);
  /* Start plus uptime is now (both from the same instant, give or take
   * the time between two clock reads). */
  int64_t skew = st.start_ms + st.uptime_ms - now;
  CHECK_MSG(skew > -1000 && skew < 1000, "start + uptime - now = %lld ms",
            (long long)skew);

  /* pid 0 and our own pid name the same process. */
  herd_proc_stat_t st2;
  CHECK_OK(herd_proc_stat(getpid(), &st2));
  CHECK_EQ(st2.pid, st.pid);
  CHECK_EQ(st2.ppid, st.ppid);
  CHECK_STR(st2.comm, st.comm);
  CHECK_MSG(st2.start_ms - st.start_ms < 50 && st.start_ms - st2.start_ms < 50,
            "start_ms moved from %lld to %lld", (long long)st.start_ms,
            (long long)st2.start_ms);
}

TEST(proc_stat_no_such_process) {
  herd_proc_stat_t st;
  /* Above the largest pid_max the kernel allows (4194304). */
  CHECK_EQ(herd_proc_stat(0x3fffffff, &st), -ESRCH);

  /* A free pid below pid_max. */
  char *s = read_file("/proc/sys/kernel/pid_max", NULL);
  long max = atol(s);
  free(s);
  CHECK(max > 300);
  pid_t pid = -1;
  for (long p = max - 1; p > max - 200; p--)
    if (kill((pid_t)p, 0) < 0 && errno == ESRCH) {
      pid = (pid_t)p;
      break;
    }
  if (pid < 0)
    SKIP("no free pid near pid_max %ld", max);
  CHECK_EQ(herd_proc_stat(pid, &st), -ESRCH);
}

TEST(proc_stat_bad_input) {
  herd_proc_stat_t st;
  CHECK_EQ(herd_proc_stat(-5, &st), -EINVAL);
  CHECK_EQ(herd_proc_stat(0, NULL), -EINVAL);
  CHECK_EQ(herd_title_set(NULL), -EINVAL);
  CHECK_EQ(herd_title_init(0, NULL), -EINVAL);
}

TEST(proc_stat_spawned_child) {
  herd_child_t c;
  /* It burns 300 ms of CPU first, so it is at least that old when read:
   * a start time taken as "now" would fall outside the spawn. */
  char *argv[] = {(char *)test_self(), "--helper", "burn", "300", NULL};
  int64_t before = realtime_ms();
  spawn_piped(&c, argv, NULL);
  int64_t after = realtime_ms();
  char line[64];
  read_line(&c, line, sizeof line);
  CHECK_STR(line, "done");
  herd_proc_stat_t st;
  CHECK_OK(herd_proc_stat(c.pid, &st));
  CHECK_EQ(st.pid, c.pid);
  CHECK_EQ(st.ppid, getpid());
  CHECK_STR(st.comm, "herd-test");
  CHECK_MSG(st.uptime_ms >= 290, "uptime %lld ms after 300 ms of CPU",
            (long long)st.uptime_ms);
  /* Running to its read(0), or asleep in it: no event tells which. */
  CHECK_MSG(st.state == 'S' || st.state == 'R', "state '%c'", st.state);
  /* The kernel stamps the start in clock ticks (10 ms at USER_HZ 100):
   * it lies within the spawn, give or take a tick and the clock reads. */
  CHECK_MSG(st.start_ms >= before - 150 && st.start_ms <= after + 150,
            "start_ms %lld outside the spawn [%lld, %lld]",
            (long long)st.start_ms, (long long)before, (long long)after);
  finish_helper(&c);
}

TEST(proc_stat_zombie) {
  herd_child_t c;
  char *argv[] = {(char *)test_self(), "--helper", "exit", "0", NULL};
  CHECK_OK(herd_spawn(&c, test_self(), argv, NULL));
  /* The pidfd is readable once it exited; it stays unreaped until we
   * wait. */
  struct pollfd p = {.fd = c.pidfd, .events = POLLIN};
  CHECK_EQ(poll(&p, 1, 20000), 1);
  herd_proc_stat_t st;
  CHECK_OK(herd_proc_stat(c.pid, &st));
  CHECK_EQ(st.state, 'Z');
  CHECK_EQ(st.ppid, getpid());
  CHECK_OK(herd_child_wait(&c, 20000));
  herd_child_close(&c);
}

TEST(proc_stat_cpu_time_of_live_child) {
  herd_child_t c;
  char *argv[] = {(char *)test_self(), "--helper", "burn", "300", NULL};
  spawn_piped(&c, argv, NULL);
  char line[64];
  read_line(&c, line, sizeof line);
  CHECK_STR(line, "done");
  herd_proc_stat_t st;
  CHECK_OK(herd_proc_stat(c.pid, &st));
  CHECK_MSG(st.utime_ms + st.stime_ms >= 100,
            "a child that burnt 300 ms of CPU shows utime %llu + stime "
            "%llu ms",
            (unsigned long long)st.utime_ms, (unsigned long long)st.stime_ms);
  /* And no more than it can have used since it started. */
  CHECK_MSG((int64_t)(st.utime_ms + st.stime_ms) <= st.uptime_ms + 20,
            "cpu %llu ms > uptime %lld ms",
            (unsigned long long)(st.utime_ms + st.stime_ms),
            (long long)st.uptime_ms);
  /* Our own CPU time is not the child's. */
  herd_proc_stat_t self;
  CHECK_OK(herd_proc_stat(0, &self));
  CHECK(self.utime_ms + self.stime_ms < st.utime_ms + st.stime_ms);
  finish_helper(&c);
}

/* A comm with spaces and parentheses must not shift the fields after it. */
TEST(proc_stat_comm_with_parens_and_spaces) {
  herd_child_t c;
  char *argv[] = {(char *)test_self(), "--helper", "title", "a) b (c) d",
                  NULL};
  spawn_piped(&c, argv, NULL);
  char line[64];
  read_line(&c, line, sizeof line);
  CHECK_STR(line, "ready");
  herd_proc_stat_t st;
  CHECK_OK(herd_proc_stat(c.pid, &st));
  CHECK_STR(st.comm, "a) b (c) d");
  CHECK_EQ(st.pid, c.pid);
  CHECK_EQ(st.ppid, getpid());
  CHECK_MSG(st.state == 'S' || st.state == 'R', "state '%c'", st.state);
  CHECK(st.rss_bytes > 0);
  CHECK(st.num_threads >= 1);
  finish_helper(&c);
}

/* ---- herd_uptime_ms ----------------------------------------------- */

TEST(proc_uptime_grows) {
  uint64_t t0 = test_now_ms();
  int64_t u0 = herd_uptime_ms();
  CHECK_OK(u0);
  CHECK(u0 < 60000); /* a fresh test process */
  /* Sleep at least 20 ms (nanosleep may return early on a signal). */
  while (test_now_ms() - t0 < 20) {
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
  }
  int64_t u1 = herd_uptime_ms();
  /* Allow for a clock tick of granularity: wait (bounded) for it to move
   * if it has not yet. */
  for (int i = 0; u1 == u0 && i < 100; i++) {
    struct timespec ts = {0, 1000000L};
    nanosleep(&ts, NULL);
    u1 = herd_uptime_ms();
  }
  uint64_t slept = test_now_ms() - t0;
  CHECK_MSG(u1 > u0, "uptime stayed at %lld ms", (long long)u0);
  CHECK_MSG(u1 - u0 >= 10 && u1 - u0 <= (int64_t)slept + 5,
            "uptime moved %lld ms over %llu ms", (long long)(u1 - u0),
            (unsigned long long)slept);
  /* The same clock as herd_proc_stat's. */
  herd_proc_stat_t st;
  CHECK_OK(herd_proc_stat(0, &st));
  int64_t u2 = herd_uptime_ms();
  CHECK(st.uptime_ms >= u1 && u2 >= st.uptime_ms);
}

/* ---- titles ------------------------------------------------------- */

TEST(proc_title_in_cmdline_and_comm) {
  herd_child_t c;
  char *argv[] = {(char *)test_self(), "--helper", "title",
                  "herd-test: titled process", NULL};
  size_t args = 0;
  for (int i = 0; argv[i]; i++)
    args += strlen(argv[i]) + 1;
  spawn_piped(&c, argv, NULL);
  char line[64];
  read_line(&c, line, sizeof line);
  CHECK_STR(line, "ready");

  size_t len;
  char *cmd = read_proc(c.pid, "cmdline", &len);
  const char *title = "herd-test: titled process";
  size_t tl = strlen(title);
  CHECK_MSG(len >= tl && memcmp(cmd, title, tl) == 0,
            "cmdline is \"%.*s\" (%zu bytes)", (int)len, cmd, len);
  /* Then a NUL or the end, and no trace of the old arguments. */
  for (size_t i = tl; i < len; i++)
    CHECK_MSG(cmd[i] == '\0', "byte %zu of cmdline is '%c' (\"%.*s\")", i,
              cmd[i], (int)(len - i), cmd + i);
  CHECK_MSG(len <= args, "cmdline grew to %zu bytes from %zu", len, args);
  CHECK(memmem(cmd, len, "--helper", 8) == NULL);
  free(cmd);

  char *comm = read_proc(c.pid, "comm", NULL);
  CHECK_STR(comm, "herd-test: titl\n");
  free(comm);
  finish_helper(&c);
}

TEST(proc_title_too_long_is_truncated) {
  /* A small, known environment: the room is exactly the argv and
   * environ strings, back to back, far less than the title. */
  const char *env[] = {"HERD_PROBE=still-here", NULL};
  herd_child_t c;
  char *argv[] = {(char *)test_self(), "--helper", "title-long", "10000",
                  "HERD_PROBE", NULL};
  size_t room = 0;
  for (int i = 0; argv[i]; i++)
    room += strlen(argv[i]) + 1;
  for (int i = 0; env[i]; i++)
    room += strlen(env[i]) + 1;
  spawn_piped(&c, argv, env);
  char line[128];
  read_line(&c, line, sizeof line);
  /* environ was moved out of the way before the title overwrote it. */
  CHECK_STR(line, "ready still-here");

  size_t len;
  char *cmd = read_proc(c.pid, "cmdline", &len);
  CHECK_MSG(len < 10000, "cmdline is %zu bytes", len);
  /* The title fills the room but one byte, then the final NUL, so
   * nothing past the environment was written. */
  CHECK_MSG(len == room, "cmdline is %zu bytes, room %zu", len, room);
  for (size_t i = 0; i + 1 < len; i++)
    CHECK_MSG(cmd[i] == 'x', "byte %zu of cmdline is %#x", i,
              (unsigned)(unsigned char)cmd[i]);
  CHECK_EQ(cmd[len - 1], '\0');
  free(cmd);

  char *comm = read_proc(c.pid, "comm", NULL);
  CHECK_STR(comm, "xxxxxxxxxxxxxxx\n");
  free(comm);

  /* Still alive and well: it answers the end of its input and exits 0. */
  CHECK_EQ(herd_child_poll(&c), 0);
  finish_helper(&c);
}

/* The natural call herd_title_set(argv[i]) hands in a string that lies
 * inside the very area the title is written to: source and destination
 * overlap once the title is longer than its own offset in argv. */
TEST(proc_title_from_own_argv) {
  char title[301];
  for (size_t i = 0; i < sizeof title - 1; i++)
    title[i] = (char)('a' + i % 26);
  title[sizeof title - 1] = '\0';
  herd_child_t c;
  char *argv[] = {(char *)test_self(), "--helper", "title", title, NULL};
  spawn_piped(&c, argv, NULL);
  char line[64];
  read_line(&c, line, sizeof line);
  CHECK_STR(line, "ready");
  size_t len;
  char *cmd = read_proc(c.pid, "cmdline", &len);
  CHECK_MSG(len > 300 && memcmp(cmd, title, 300) == 0,
            "cmdline is \"%.*s\" (%zu bytes)", (int)len, cmd, len);
  for (size_t i = 300; i < len; i++)
    CHECK_EQ(cmd[i], '\0');
  free(cmd);
  finish_helper(&c);
}

TEST(proc_title_set_without_init_sets_comm_only) {
  size_t len0, len1;
  char *before = read_file("/proc/self/cmdline", &len0);
  CHECK_EQ(herd_title_set("herd-only-comm-and-more"), 0);
  char *comm = read_file("/proc/self/comm", NULL);
  CHECK_STR(comm, "herd-only-comm-\n");
  free(comm);
  char *after = read_file("/proc/self/cmdline", &len1);
  CHECK_EQ(len1, len0);
  CHECK(memcmp(before, after, len0) == 0);
  free(before);
  free(after);
  /* The stat record agrees. */
  herd_proc_stat_t st;
  CHECK_OK(herd_proc_stat(0, &st));
  CHECK_STR(st.comm, "herd-only-comm-");
}

/* herd_pidfd_open and herd_fd_wait: a process of ours or not, waited
 * for without reaping it; herd_now_ms is CLOCK_MONOTONIC in ms. */
TEST(proc_pidfd_wait_and_now_ms) {
  CHECK_EQ(herd_pidfd_open(0), -EINVAL);
  CHECK_EQ(herd_pidfd_open(-1), -EINVAL);
  herd_child_t c;
  char *argv[] = {(char *)test_self(), "--helper", "sleep", "20000", NULL};
  CHECK_OK(herd_spawn(&c, test_self(), argv, NULL));
  int pfd = herd_pidfd_open(c.pid);
  CHECK_MSG(pfd >= 0, "herd_pidfd_open: %s", herd_strerror(pfd));
  int fl = fcntl(pfd, F_GETFD);
  CHECK(fl >= 0 && (fl & FD_CLOEXEC));
  uint64_t t0 = herd_now_ms();
  CHECK_EQ(herd_fd_wait(pfd, 100), 0); /* still running: the timeout */
  uint64_t waited = herd_now_ms() - t0;
  CHECK_MSG(waited >= 99 && waited < 5000, "waited %llu ms", (unsigned long long)waited);
  CHECK_OK(herd_child_kill(&c, SIGKILL, 0));
  CHECK_EQ(herd_fd_wait(pfd, 10000), 1); /* exited (a zombie: not reaped) */
  CHECK_EQ(herd_child_poll(&c), 1);
  CHECK_EQ(herd_child_status(&c), 128 + SIGKILL);
  herd_child_close(&c);
  CHECK_EQ(close(pfd), 0);
  CHECK_EQ(herd_fd_wait(pfd, 0), -EBADF); /* closed: POLLNVAL */
  struct timespec ts;
  CHECK_EQ(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
  uint64_t mono = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
  uint64_t now = herd_now_ms();
  CHECK_MSG(now >= mono && now - mono < 1000, "herd_now_ms %llu, monotonic %llu",
            (unsigned long long)now, (unsigned long long)mono);
}
