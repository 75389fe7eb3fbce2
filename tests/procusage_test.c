/*
 * procusage_test.c - herd_proc_usage (getrusage with Node's fields) and
 * herd_proc_mem (/proc/PID/status), checked against what the real node
 * reports for itself (process.resourceUsage(), process.memoryUsage())
 * and against the kernel's other doors (/proc/PID/stat, a child's CPU
 * counted once it is reaped).
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hp.h"
#include "internal.h"

/* Read one line from fd, bounded in time. */
static void read_line_fd(herd_child_t *c, char *buf, size_t cap) {
  size_t len = 0;
  uint64_t deadline = test_now_ms() + 20000;
  while (len + 1 < cap) {
    struct pollfd p = {.fd = c->stdio[1], .events = POLLIN};
    uint64_t now = test_now_ms();
    CHECK_MSG(now < deadline, "no line from the child (got \"%.*s\")", (int)len, buf);
    int r = poll(&p, 1, (int)(deadline - now));
    if (r < 0 && errno == EINTR)
      continue;
    CHECK_MSG(r >= 0, "poll: %s", strerror(errno));
    if (r == 0)
      continue;
    ssize_t n = read(c->stdio[1], buf + len, 1);
    CHECK_MSG(n == 1, "the child closed its output after \"%.*s\"", (int)len, buf);
    if (buf[len] == '\n')
      break;
    len++;
  }
  buf[len] = '\0';
}

static void spawn_piped(herd_child_t *c, const char *file, char **argv) {
  herd_spawn_opts_t o;
  memset(&o, 0, sizeof o);
  o.stdio[0].kind = HERD_STDIO_PIPE;
  o.stdio[1].kind = HERD_STDIO_PIPE;
  CHECK_OK(herd_spawn(c, file, argv, &o));
}

/* Close its stdin (it then exits 0) and reap it. */
static void finish(herd_child_t *c) {
  close(c->stdio[0]);
  c->stdio[0] = -1;
  CHECK_OK(herd_child_wait(c, 20000));
  CHECK_EQ(herd_child_status(c), 0);
  herd_child_close(c);
}

/* The number after "key": in a JSON text, or -1. */
static long long num(const char *json, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = strstr(json, pat);
  return p ? atoll(p + strlen(pat)) : -1;
}

static uint64_t absdiff(uint64_t a, uint64_t b) {
  return a > b ? a - b : b - a;
}

/* ---- herd_proc_usage ---------------------------------------------- */

TEST(proc_usage_self_matches_proc_stat) {
  /* 200 ms of CPU in this process, then both doors read it */
  struct timespec ts;
  volatile unsigned long spin = 0;
  do {
    for (int i = 0; i < 100000; i++)
      spin++;
    CHECK_EQ(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts), 0);
  } while (ts.tv_sec * 1000 + ts.tv_nsec / 1000000 < 200);
  herd_proc_usage_t u, th;
  herd_proc_stat_t st;
  herd_proc_mem_t m;
  /* one voluntary context switch for sure: the spin above may have had
   * its CPU to itself (0 switches: seen under SANITIZE=1 in CI) */
  CHECK_EQ(poll(NULL, 0, 1), 0);
  memset(&u, 0x5a, sizeof u);
  CHECK_OK(herd_proc_usage(HERD_USAGE_SELF, &u));
  CHECK_OK(herd_proc_stat(0, &st));
  CHECK_OK(herd_proc_mem(0, &m));
  CHECK_OK(herd_proc_usage(HERD_USAGE_THREAD, &th));
  uint64_t cpu_us = u.user_us + u.system_us;
  CHECK_MSG(cpu_us >= 190000, "200 ms of CPU burnt, usage says %llu us",
            (unsigned long long)cpu_us);
  /* the kernel's two views of the same counters, a tick apart at most */
  CHECK_MSG(absdiff(u.user_us / 1000, st.utime_ms) <= 30 &&
                absdiff(u.system_us / 1000, st.stime_ms) <= 30,
            "getrusage user %llu sys %llu us; /proc/self/stat %llu %llu ms",
            (unsigned long long)u.user_us, (unsigned long long)u.system_us,
            (unsigned long long)st.utime_ms, (unsigned long long)st.stime_ms);
  /* one thread: its own usage is the process's, read a moment later */
  CHECK(th.user_us + th.system_us + 20000 >= cpu_us);
  /* maxRSS (KiB) and VmHWM (bytes) are the same high-water mark */
  CHECK(u.max_rss_kib > 0);
  CHECK_MSG(absdiff(u.max_rss_kib * 1024, m.rss_peak_bytes) <= 1024 * 1024,
            "maxRSS %llu KiB, VmHWM %llu bytes", (unsigned long long)u.max_rss_kib,
            (unsigned long long)m.rss_peak_bytes);
  CHECK(u.minor_faults > 0);
  CHECK(u.ctx_voluntary + u.ctx_involuntary > 0);
  /* what Linux does not count stays 0, not the 0x5a filler */
  CHECK_EQ(u.shared_kib, 0);
  CHECK_EQ(u.unshared_data_kib, 0);
  CHECK_EQ(u.swaps, 0);
  CHECK_EQ(u.ipc_sent, 0);
  CHECK_EQ(u.signals, 0);
}

TEST(proc_usage_counts_a_child_once_reaped) {
  herd_proc_usage_t before, alive, after;
  CHECK_OK(herd_proc_usage(HERD_USAGE_CHILDREN, &before));
  herd_child_t c;
  char *argv[] = {(char *)test_self(), "--helper", "burn", "300", NULL};
  spawn_piped(&c, test_self(), argv);
  char line[64];
  read_line_fd(&c, line, sizeof line);
  CHECK_STR(line, "done");
  /* alive: not a reaped child yet */
  CHECK_OK(herd_proc_usage(HERD_USAGE_CHILDREN, &alive));
  CHECK_EQ(alive.user_us + alive.system_us, before.user_us + before.system_us);
  finish(&c);
  CHECK_OK(herd_proc_usage(HERD_USAGE_CHILDREN, &after));
  uint64_t d = after.user_us + after.system_us - before.user_us - before.system_us;
  CHECK_MSG(d >= 280000 && d < 5000000,
            "a child that burnt 300 ms of CPU adds %llu us to the children's",
            (unsigned long long)d);
  CHECK(after.max_rss_kib > 0);
  /* and none of it is ours */
  herd_proc_usage_t self;
  CHECK_OK(herd_proc_usage(HERD_USAGE_SELF, &self));
  CHECK(self.user_us + self.system_us < d);
}

TEST(proc_usage_bad_input) {
  herd_proc_usage_t u;
  CHECK_EQ(herd_proc_usage(-1, &u), -EINVAL);
  CHECK_EQ(herd_proc_usage(3, &u), -EINVAL);
  CHECK_EQ(herd_proc_usage(HERD_USAGE_SELF, NULL), -EINVAL);
  herd_proc_mem_t m;
  CHECK_EQ(herd_proc_mem(-1, &m), -EINVAL);
  CHECK_EQ(herd_proc_mem(0, NULL), -EINVAL);
  /* above the largest pid_max the kernel allows (4194304) */
  CHECK_EQ(herd_proc_mem(0x3fffffff, &m), -ESRCH);
  /* a pid that was a child of ours and is reaped: gone */
  herd_child_t c;
  char *argv[] = {(char *)test_self(), "--helper", "exit", "0", NULL};
  CHECK_OK(herd_spawn(&c, test_self(), argv, NULL));
  pid_t pid = c.pid;
  struct pollfd p = {.fd = c.pidfd, .events = POLLIN};
  CHECK_EQ(poll(&p, 1, 20000), 1);
  /* a zombie: no memory left, not an error */
  memset(&m, 0x5a, sizeof m);
  CHECK_OK(herd_proc_mem(pid, &m));
  CHECK_EQ(m.rss_bytes, 0);
  CHECK_EQ(m.rss_peak_bytes, 0);
  CHECK_OK(herd_child_wait(&c, 20000));
  herd_child_close(&c);
  int r = herd_proc_mem(pid, &m);
  /* (unless the pid was given again meanwhile: then it is another's) */
  CHECK_MSG(r == -ESRCH || (r == 0 && kill(pid, 0) == 0), "reaped pid: %s",
            herd_strerror(r));
}

/* ---- herd_proc_mem -------------------------------------------------- */

TEST(proc_mem_parse_lines) {
  static const char text[] =
      "Name:\tnode\nVmPeak:\t  900000 kB\nVmSize:\t  800000 kB\n"
      "VmHWM:\t   70000 kB\nVmRSS:\t   65000 kB\nRssAnon:\t   50000 kB\n"
      "RssFile:\t   14000 kB\nRssShmem:\t    1000 kB\nVmData:\t  120000 kB\n"
      "VmSwap:\t       8 kB\nGroups:\t1 2 3\n"
      "VmRSSx: 5 kB\n"                     /* not a field of ours */
      "Threads:\t7\n";
  herd_proc_mem_t m;
  memset(&m, 0x5a, sizeof m);
  herd__proc_mem_parse(text, sizeof text - 1, &m);
  CHECK_EQ(m.rss_bytes, 65000ull * 1024);
  CHECK_EQ(m.rss_peak_bytes, 70000ull * 1024);
  CHECK_EQ(m.rss_anon_bytes, 50000ull * 1024);
  CHECK_EQ(m.rss_file_bytes, 14000ull * 1024);
  CHECK_EQ(m.rss_shmem_bytes, 1000ull * 1024);
  CHECK_EQ(m.swap_bytes, 8ull * 1024);
  CHECK_EQ(m.vsize_bytes, 800000ull * 1024);
  CHECK_EQ(m.vsize_peak_bytes, 900000ull * 1024);
  CHECK_EQ(m.data_bytes, 120000ull * 1024);
  /* not the kernel's: no unit, no digits, too large, cut short: 0 */
  static const char odd[] = "VmRSS:\t65000\nVmHWM:\t kB\n"
                            "RssAnon:\t99999999999999999999999 kB\n"
                            "RssFile:\t18014398509481984 kB\nVmSwap:\t12 k";
  herd__proc_mem_parse(odd, sizeof odd - 1, &m);
  CHECK_EQ(m.rss_bytes, 0);
  CHECK_EQ(m.rss_peak_bytes, 0);
  CHECK_EQ(m.rss_anon_bytes, 0);
  CHECK_EQ(m.rss_file_bytes, 0); /* 2^54 KiB is beyond 64 bits of bytes */
  CHECK_EQ(m.swap_bytes, 0);
  CHECK_EQ(m.vsize_bytes, 0); /* absent */
}

TEST(proc_mem_self_agrees_with_proc_stat) {
  /* 32 MiB touched: resident, anonymous */
  size_t n = 32u << 20;
  char *big = malloc(n);
  CHECK(big);
  memset(big, 1, n);
  herd_proc_mem_t m;
  herd_proc_stat_t st;
  CHECK_OK(herd_proc_mem(0, &m));
  CHECK_OK(herd_proc_stat(0, &st));
  CHECK(m.rss_anon_bytes >= n);
  CHECK(m.rss_peak_bytes >= m.rss_bytes);
  CHECK(m.vsize_peak_bytes >= m.vsize_bytes);
  CHECK(m.vsize_bytes >= m.rss_bytes);
  /* the kernel sums the three: VmRSS = RssAnon + RssFile + RssShmem */
  CHECK_EQ(m.rss_bytes, m.rss_anon_bytes + m.rss_file_bytes + m.rss_shmem_bytes);
  /* /proc/self/stat's resident size is the same figure, a moment apart */
  CHECK_MSG(absdiff(m.rss_bytes, st.rss_bytes) <= 1024 * 1024,
            "VmRSS %llu, stat rss %llu", (unsigned long long)m.rss_bytes,
            (unsigned long long)st.rss_bytes);
  free(big);
}

/* node reports its own usage and memory, then waits for stdin to close */
static const char NODE_SELF[] =
    "const keep = []; for (let i = 0; i < 48; i++) keep.push(Buffer.alloc(1 << 20, 1));\n"
    "let x = 0; while (process.cpuUsage().user < 300000) x++;\n" /* CPU, not wall time */
    "const u = process.resourceUsage(), rss = process.memoryUsage().rss;\n"
    "process.stdout.write(JSON.stringify(Object.assign({rss, n: keep.length}, u)) + '\\n');\n"
    "process.stdin.on('data', () => {}); process.stdin.on('end', () => process.exit(0));\n";

TEST(proc_usage_and_mem_match_node) {
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  herd_proc_usage_t before, after;
  CHECK_OK(herd_proc_usage(HERD_USAGE_CHILDREN, &before)); /* node -v was one */
  herd_child_t c;
  char *argv[] = {"node", "-e", (char *)NODE_SELF, NULL};
  spawn_piped(&c, "node", argv);
  char line[2048];
  read_line_fd(&c, line, sizeof line);
  long long rss = num(line, "rss"), user = num(line, "userCPUTime"),
            maxrss = num(line, "maxRSS"), minflt = num(line, "minorPageFault");
  CHECK_MSG(rss > (48 << 20) && user >= 290000 && maxrss > 0 && minflt > 0, "node: %s",
            line);
  /* the same process, read from outside while it idles */
  herd_proc_mem_t m;
  herd_proc_stat_t st;
  CHECK_OK(herd_proc_mem(c.pid, &m));
  CHECK_OK(herd_proc_stat(c.pid, &st));
  uint64_t tol = (uint64_t)rss / 5; /* 20 %: it allocates a little after */
  CHECK_MSG(absdiff(m.rss_bytes, (uint64_t)rss) <= tol,
            "VmRSS %llu vs node's memoryUsage().rss %lld",
            (unsigned long long)m.rss_bytes, rss);
  CHECK_MSG(absdiff(st.rss_bytes, (uint64_t)rss) <= tol, "stat rss %llu vs node's %lld",
            (unsigned long long)st.rss_bytes, rss);
  /* VmHWM is the high-water mark node's maxRSS (KiB) read */
  CHECK_MSG(m.rss_peak_bytes + 1024 * 1024 >= (uint64_t)maxrss * 1024 &&
                m.rss_peak_bytes <= (uint64_t)maxrss * 1024 + tol,
            "VmHWM %llu vs node's maxRSS %lld KiB", (unsigned long long)m.rss_peak_bytes,
            maxrss);
  CHECK(m.rss_anon_bytes >= (48u << 20));
  CHECK(st.utime_ms * 1000 + 20000 >= (uint64_t)user);
  finish(&c);
  /* reaped: its usage is among the children's now, at least what it
   * reported before it went on idling */
  CHECK_OK(herd_proc_usage(HERD_USAGE_CHILDREN, &after));
  CHECK_MSG(after.user_us - before.user_us >= (uint64_t)user,
            "children's user CPU grew %llu us, node said %lld",
            (unsigned long long)(after.user_us - before.user_us), user);
  CHECK(after.max_rss_kib >= (uint64_t)maxrss);
  CHECK(after.minor_faults - before.minor_faults >= (uint64_t)minflt);
}
