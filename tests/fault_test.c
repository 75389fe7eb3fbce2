/*
 * fault_test.c - herd under faults from outside: fork failing
 * (RLIMIT_NPROC), no fds left (RLIMIT_NOFILE), a full log disk, a worker
 * that drops its socket or leaves processes behind. Each test pins down what herd does
 * (docs/RELIABILITY-faults.md says it in prose, with a command that
 * reproduces it), through the real binary, loopback only, every wait
 * bounded and woken by herd's own event lines, pidfds, inotify or
 * waitid; the few state polls (a counter, the kernel's timer state, a
 * pipe's fill) say why they poll.
 *
 * A test that finds a defect of herd's asserts the right behaviour up to
 * where herd departs from it, then skips with "KNOWN DEFECT: ..." and
 * the diagnosis: the suite stays green until the fix lands on main, and
 * the test then runs through.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hp.h"

/* ---- helpers ------------------------------------------------------- */

static int pid_gone(pid_t pid, int timeout_ms);

/* The herd of the test under way (hp_start_env sets it), and a daemon's
 * master pid: ended before a test skips. */
static struct hp *cur;
static pid_t cur_daemon;

/* A test meets a defect of herd's: end what it started (the runner
 * fails a test that leaves a master behind), then skip, saying so,
 * while it is not fixed (see the top of this file). */
__attribute__((noreturn, format(printf, 1, 2))) static void defect(const char *fmt, ...) {
  char msg[1800];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (cur && cur->c.pid > 0 && !cur->c.reaped) {
    (void)herd_child_kill(&cur->c, SIGKILL, 0);
    (void)hp_stop(cur, 0);
  }
  if (cur_daemon > 0) {
    kill(cur_daemon, SIGKILL);
    pid_gone(cur_daemon, 5000);
  }
  SKIP("KNOWN DEFECT: %s", msg);
}

#define KNOWN_DEFECT(cond, ...)                                              \
  do {                                                                       \
    if (!(cond))                                                             \
      defect(__VA_ARGS__);                                                   \
  } while (0)

/* Start herd with ARGS as uid/gid (when uid is not ours) and with the
 * environment entries env added; stderr piped, as hp_start. */
static void hp_start_env(struct hp *h, uid_t uid, gid_t gid, const char *const *env,
                         const char *const *args) {
  memset(h, 0, sizeof *h);
  static char herd[4096];
  path_of(herd, sizeof herd, "herd");
  char *argv[64];
  int n = 0;
  argv[n++] = herd;
  for (int i = 0; args[i] && n < 63; i++)
    argv[n++] = (char *)args[i];
  argv[n] = NULL;
  herd_spawn_opts_t o = {0};
  o.stdio[0].kind = HERD_STDIO_IGNORE;
  o.stdio[1].kind = HERD_STDIO_IGNORE;
  o.stdio[2].kind = HERD_STDIO_PIPE;
  if (env) {
    o.env_mode = HERD_ENV_ADD;
    o.env = env;
  }
  if (uid != geteuid()) {
    o.flags |= HERD_SPAWN_SETUID | HERD_SPAWN_SETGID;
    o.uid = uid;
    o.gid = gid;
  }
  CHECK_OK(herd_spawn(&h->c, herd, argv, &o));
  cur = h;
}

static void start(struct hp *h, const char *const *args) {
  hp_start_env(h, geteuid(), getegid(), NULL, args);
}

/* The pid of the last "worker SLOT started, pid P" herd said. */
static pid_t worker_pid(struct hp *h, int slot) {
  char needle[64];
  snprintf(needle, sizeof needle, "worker %d started, pid ", slot);
  const char *last = NULL;
  for (const char *p = h->log; (p = strstr(p, needle)); p++)
    last = p;
  CHECK_MSG(last, "herd never said '%s'; it said:\n%s", needle, h->log);
  return atoi(last + strlen(needle));
}

/* Wait until PID has exited (its pidfd readable): 1, or 0 at the
 * deadline. A pid that is gone already counts as exited. */
static int pid_gone(pid_t pid, int timeout_ms) {
  int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pfd < 0)
    return errno == ESRCH;
  struct pollfd p = {.fd = pfd, .events = POLLIN};
  int r = poll(&p, 1, timeout_ms);
  close(pfd);
  return r == 1;
}

/* Whether a line of text from `from` on holds both a and b. */
static int line_with(const char *from, const char *a, const char *b) {
  for (const char *l = from; l && *l;) {
    const char *nl = strchr(l, '\n');
    size_t len = nl ? (size_t)(nl - l) : strlen(l);
    char line[4096];
    snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), l);
    if (strstr(line, a) && strstr(line, b))
      return 1;
    l = nl ? nl + 1 : NULL;
  }
  return 0;
}

/* The number after "\"key\":" in a JSON text, or -1. */
static long long json_num(const char *json, const char *key) {
  char k[96];
  snprintf(k, sizeof k, "\"%s\":", key);
  const char *p = strstr(json, k);
  return p ? atoll(p + strlen(k)) : -1;
}

/* One status request to NAME; the reply (one line) in buf. */
static void status_of(const char *name, char *buf, size_t n) {
  CHECK_MSG(hp_ctl(name, "{\"cmd\":\"status\"}", buf, n) == 0, "no status reply from %s",
            name);
  CHECK_MSG(strstr(buf, "\"ok\":true"), "status said %s", buf);
}

/* A ping to NAME answered within ms. */
static void ping_within(const char *name, int ms) {
  char r[256];
  uint64_t t0 = test_now_ms();
  CHECK_MSG(hp_ctl(name, "{\"cmd\":\"ping\"}", r, sizeof r) == 0, "no ping reply from %s",
            name);
  CHECK_MSG(strstr(r, "\"ok\":true"), "ping said %s", r);
  uint64_t took = test_now_ms() - t0;
  CHECK_MSG(took < (uint64_t)ms, "a ping took %llu ms", (unsigned long long)took);
}

/* CPU time (user + system) a process has used, in ms. */
static uint64_t cpu_ms(pid_t pid) {
  herd_proc_stat_t ps;
  CHECK_OK(herd_proc_stat(pid, &ps));
  return ps.utime_ms + ps.stime_ms;
}

/* Set the soft limit RES of PID to soft (RLIM_INFINITY: up to the hard
 * limit), from a process of uid/gid: prlimit(2) on another user's
 * process needs CAP_SYS_RESOURCE, which a container's root often lacks,
 * while a process of the target's own uid may move its soft limit
 * anywhere below the hard one. Returns 0 or the errno. */
static int set_soft_limit(pid_t pid, int res, rlim_t soft, uid_t uid, gid_t gid) {
  pid_t c = fork();
  CHECK(c >= 0);
  if (c == 0) {
    if (uid != geteuid() && (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0))
      _exit(errno);
    struct rlimit old, nw;
    if (prlimit(pid, res, NULL, &old) < 0)
      _exit(errno);
    nw.rlim_max = old.rlim_max;
    nw.rlim_cur = soft == RLIM_INFINITY || soft > old.rlim_max ? old.rlim_max : soft;
    _exit(prlimit(pid, res, &nw, NULL) < 0 ? errno : 0);
  }
  int st;
  CHECK_EQ(waitpid(c, &st, 0), c);
  CHECK(WIFEXITED(st));
  return WEXITSTATUS(st);
}

/* popen's exit status, the output in out. */
static int sh_out(const char *cmd, char *out, size_t n) {
  FILE *f = popen(cmd, "r");
  CHECK(f);
  size_t got = fread(out, 1, n - 1, f);
  out[got] = '\0';
  int st = pclose(f);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- 1. fork failing: RLIMIT_NPROC ----------------------------------- */

/* A master that cannot fork (its user is at RLIMIT_NPROC) says why each
 * start failed, backs off, parks the slot as a crash loop, keeps
 * answering, and starts the worker again on its own once the limit is
 * lifted. Root ignores RLIMIT_NPROC: as root, the master runs as nobody. */
TEST_T(fault_fork_failing_backs_off_parks_and_recovers, 60) {
  uid_t uid = geteuid();
  gid_t gid = getegid();
  char dir[4200];
  snprintf(dir, sizeof dir, "%s", getenv("HERD_HOME"));
  if (uid == 0) {
    struct passwd *pw = getpwnam("nobody");
    if (!pw)
      SKIP("no user nobody to run the master as (root ignores RLIMIT_NPROC)");
    uid = pw->pw_uid;
    gid = pw->pw_gid;
    /* a HERD_HOME of nobody's own, reachable through ours */
    CHECK_EQ(chmod(getenv("HERD_HOME"), 0711), 0);
    snprintf(dir, sizeof dir, "%s/nobody", getenv("HERD_HOME"));
    CHECK_EQ(mkdir(dir, 0700), 0);
    CHECK_EQ(chown(dir, uid, gid), 0);
    CHECK_EQ(setenv("HERD_HOME", dir, 1), 0); /* for hp_ctl */
  }
  char henv[4300];
  snprintf(henv, sizeof henv, "HERD_HOME=%s", dir);
  const char *env[] = {henv, NULL};
  struct hp h;
  const char *args[] = {"run", "-n", "nproc", "-w", "1", "--max-restarts", "2",
                        "--restart-cooldown", "1500ms", "-l", "127.0.0.1:0", "--",
                        hello_http(), NULL};
  hp_start_env(&h, uid, gid, env, args);
  hp_port(&h);
  HP_WAIT(&h, "all 1 workers ready", 1);
  pid_t w0 = worker_pid(&h, 0);

  /* one process is all its user may have: the master itself */
  int e = set_soft_limit(h.c.pid, RLIMIT_NPROC, 1, uid, gid);
  CHECK_MSG(e == 0, "prlimit RLIMIT_NPROC: %s", strerror(e));
  hp_mark(&h);
  CHECK_EQ(kill(w0, SIGKILL), 0);
  HP_WAIT_NEW(&h, "worker 0: could not start a worker: Resource temporarily unavailable");
  HP_WAIT_NEW(&h, "worker 0 restarting in 100 ms (backing off)");
  HP_WAIT_NEW(&h, "worker 0 died early 3 times in the restart window: parked, retried in "
                  "1500 ms");
  ping_within("nproc", 2000);
  char st[16384];
  status_of("nproc", st, sizeof st);
  CHECK_MSG(json_num(st, "spawn_failures") >= 3, "status said %s", st);
  CHECK_MSG(strstr(st, "\"state\":\"parked\""), "status said %s", st);
  CHECK_MSG(json_num(st, "workers_ready") == 0, "status said %s", st);

  /* lifted: the parked slot starts again after its cooldown, unasked */
  e = set_soft_limit(h.c.pid, RLIMIT_NPROC, RLIM_INFINITY, uid, gid);
  CHECK_MSG(e == 0, "prlimit RLIMIT_NPROC: %s", strerror(e));
  hp_mark(&h);
  HP_WAIT_NEW(&h, "worker 0 started, pid ");
  HP_WAIT_NEW(&h, "worker 0 ready, pid ");
  char body[64];
  CHECK_EQ(http_get(h.port, "/pid", body, sizeof body), 200);
  CHECK_EQ(atoi(body), worker_pid(&h, 0));
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

/* ---- 2. EMFILE in the master: RLIMIT_NOFILE ------------------------ */

/* The lowest fd number PID does not use (RLIMIT_NOFILE bounds the
 * numbers, not the count: set to this, the next open fails). */
static int lowest_free_fd(pid_t pid) {
  char path[64];
  static unsigned char used[65536];
  memset(used, 0, sizeof used);
  snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
  DIR *d = opendir(path);
  CHECK(d);
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.' && atoi(e->d_name) < (int)sizeof used)
      used[atoi(e->d_name)] = 1;
  closedir(d);
  int fd = 0;
  while (fd < (int)sizeof used && used[fd])
    fd++;
  return fd;
}

/* A connection to the unix socket path with req sent; the fd. */
static int unix_send(const char *path, const char *req) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  CHECK(strlen(path) < sizeof sa.sun_path);
  memcpy(sa.sun_path, path, strlen(path) + 1);
  CHECK_MSG(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect %s: %s", path,
            strerror(errno));
  CHECK(send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
  return fd;
}

/* Whether the peer of fd answered or hung up within ms (the client is
 * not left hanging): 1, else 0. */
static int answered_within(int fd, int ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return poll(&p, 1, ms) == 1;
}

static int metrics_port(struct hp *h) {
  HP_WAIT(h, "metrics on http://127.0.0.1:", 1);
  return atoi(strstr(h->log, "metrics on http://127.0.0.1:") + 28);
}

/* Out of fds (RLIMIT_NOFILE), the master cannot take a control or a
 * metrics connection nor start a worker: each fails with a message,
 * the client gets an answer or an end instead of a hang, the master
 * does not spin, the workers it has keep serving, and everything works
 * again once fds are free. */
TEST_T(fault_emfile_in_the_master_fails_cleanly_and_recovers, 60) {
  struct hp h;
  const char *args[] = {"run", "-n", "emfile", "-w", "2", "--metrics", "127.0.0.1:0",
                        "-l", "127.0.0.1:0", "--", hello_http(), NULL};
  start(&h, args);
  hp_port(&h);
  int mport = metrics_port(&h);
  HP_WAIT(&h, "all 2 workers ready", 1);
  pid_t w1 = worker_pid(&h, 1);
  ping_within("emfile", 2000); /* its fds at rest: no connection open */

  int e = set_soft_limit(h.c.pid, RLIMIT_NOFILE, (rlim_t)lowest_free_fd(h.c.pid),
                         geteuid(), getegid());
  CHECK_MSG(e == 0, "prlimit RLIMIT_NOFILE: %s", strerror(e));
  /* a worker: its start fails (no pipes), said, backed off */
  hp_mark(&h);
  CHECK_EQ(kill(w1, SIGKILL), 0);
  HP_WAIT_NEW(&h, "worker 1: could not start a worker: Too many open files");
  HP_WAIT_NEW(&h, "worker 1 restarting in ");
  /* what the dead worker held (its pipes, its pidfd) is free again:
   * none of it below the limit */
  e = set_soft_limit(h.c.pid, RLIMIT_NOFILE, (rlim_t)lowest_free_fd(h.c.pid), geteuid(),
                     getegid());
  CHECK_MSG(e == 0, "prlimit RLIMIT_NOFILE: %s", strerror(e));
  /* the workers it has serve on, the master out of the way */
  char body[64];
  for (int i = 0; i < 10; i++)
    CHECK_MSG(http_get(h.port, "/", body, sizeof body) == 200, "GET /: %s", last_err);

  /* a control client and a metrics client: answered or hung up on, and
   * the master idle meanwhile */
  char sock[4200];
  snprintf(sock, sizeof sock, "%s/emfile.sock", getenv("HERD_HOME"));
  uint64_t cpu0 = cpu_ms(h.c.pid);
  int cfd = unix_send(sock, "{\"cmd\":\"ping\"}\n");
  int mfd = test_connect_port(mport);
  CHECK(mfd >= 0);
  const char *get = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  CHECK(send(mfd, get, strlen(get), MSG_NOSIGNAL) == (ssize_t)strlen(get));
  int ctl_done = answered_within(cfd, 3000);
  int met_done = answered_within(mfd, 1000);
  uint64_t spent = cpu_ms(h.c.pid) - cpu0;
  KNOWN_DEFECT(spent < 1000,
               "out of fds, the master spins (%llu ms of CPU in 4 s) on a pending control "
               "or metrics connection: accept4() fails with EMFILE and it returns without a "
               "word, leaving the socket readable in its level-triggered epoll "
               "(src/cli/master.c accept_cb(), metrics_accept(); src/lib/cluster.c "
               "rr_accept_cb())", (unsigned long long)spent);
  KNOWN_DEFECT(ctl_done && met_done,
               "out of fds, a control client (%s) and a metrics client (%s) are neither "
               "answered nor hung up on (src/cli/master.c accept_cb(), metrics_accept())",
               ctl_done ? "answered" : "hangs", met_done ? "answered" : "hangs");
  HP_WAIT(&h, "control socket", 1);
  CHECK_MSG(strstr(strstr(h.log, "control socket"), "Too many open files"),
            "herd did not say why it could not take a control connection:\n%s", h.log);
  close(cfd);
  close(mfd);

  /* fds free again: all of it works */
  e = set_soft_limit(h.c.pid, RLIMIT_NOFILE, 1024, geteuid(), getegid());
  CHECK_MSG(e == 0, "prlimit RLIMIT_NOFILE: %s", strerror(e));
  HP_WAIT_NEW(&h, "worker 1 ready, pid ");
  ping_within("emfile", 2000);
  mfd = test_connect_port(mport);
  CHECK(mfd >= 0);
  CHECK(send(mfd, get, strlen(get), MSG_NOSIGNAL) == (ssize_t)strlen(get));
  char *all = test_read_all(mfd, NULL);
  close(mfd);
  CHECK_MSG(!strncmp(all, "HTTP/1.1 200", 12), "metrics said %.200s", all);
  CHECK_MSG(strstr(all, "herd_spawn_failures_total{app=\"emfile\"} "), "%s", all);
  free(all);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

/* ---- 3. a full log disk ------------------------------------------- */

/* Wait until the file PATH holds NEEDLE (woken by inotify): 1, or 0 at
 * the deadline. */
static int file_has(const char *path, const char *needle, int timeout_ms) {
  uint64_t deadline = test_now_ms() + (uint64_t)timeout_ms;
  int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  CHECK(ino >= 0);
  CHECK(inotify_add_watch(ino, path, IN_MODIFY) >= 0);
  int found = 0;
  for (;;) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    char *all = test_read_all(fd, NULL);
    close(fd);
    found = strstr(all, needle) != NULL;
    free(all);
    uint64_t now = test_now_ms();
    if (found || now >= deadline)
      break;
    struct pollfd p = {.fd = ino, .events = POLLIN};
    if (poll(&p, 1, (int)(deadline - now)) == 1) {
      char ev[4096];
      (void)!read(ino, ev, sizeof ev);
    }
  }
  close(ino);
  return found;
}

/* The number after NEEDLE in text, or -1. */
static long long num_after(const char *text, const char *needle) {
  const char *p = strstr(text, needle);
  return p ? atoll(p + strlen(needle)) : -1;
}

/* A disk full under the log files (a 256 KiB tmpfs, in a mount
 * namespace of the test's own, so nothing outlives it): the workers'
 * lines that cannot be written are dropped and counted (status
 * logs.dropped and logs.error, herd_log_dropped_lines_total), the
 * workers are not held up in write(), the master keeps answering, and
 * writing resumes once there is room. */
TEST_T(fault_full_log_disk_drops_and_counts_lines_then_resumes, 60) {
  if (geteuid() != 0)
    SKIP("needs root, to mount a small tmpfs under the logs");
  if (unshare(CLONE_NEWNS) < 0)
    SKIP("cannot make a mount namespace: %s", strerror(errno));
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    SKIP("cannot make the mounts private: %s", strerror(errno));
  char logs[4200], out_log[4300], herd_log[4300];
  snprintf(logs, sizeof logs, "%s/logs", getenv("HERD_HOME"));
  snprintf(out_log, sizeof out_log, "%s/full-out.log", logs);
  snprintf(herd_log, sizeof herd_log, "%s/full-herd.log", logs);
  CHECK_EQ(mkdir(logs, 0700), 0);
  if (mount("tmpfs", logs, "tmpfs", 0, "size=256k,mode=0700") < 0)
    SKIP("cannot mount a tmpfs: %s", strerror(errno));

  char herd[4096], cmd[8400], out[8192];
  path_of(herd, sizeof herd, "herd");
  snprintf(cmd, sizeof cmd, "%s start -n full -w 1 --metrics 127.0.0.1:0 -l 127.0.0.1:0 -- "
           "%s 2>&1", herd, hello_http());
  CHECK_MSG(sh_out(cmd, out, sizeof out) == 0, "herd start said %s", out);
  cur_daemon = (pid_t)num_after(out, "master pid ");
  int port = (int)num_after(out, "on 127.0.0.1:");
  int mport = (int)num_after(out, "metrics on 127.0.0.1:");
  CHECK_MSG(cur_daemon > 0 && port > 0 && mport > 0, "herd start said %s", out);
  char body[64], st[16384];
  CHECK_EQ(http_get(port, "/pid", body, sizeof body), 200);
  pid_t w0 = atoi(body);
  status_of("full", st, sizeof st);
  long long seen0 = num_after(st, "\"lines\":[") + num_after(st, "\"dropped\":[");

  /* 5 x 20000 lines of about 110 bytes: 10 MiB for a 256 KiB disk. Each
   * request returns once its worker has written its lines: a worker
   * held in write() would show here. */
  for (int i = 0; i < 5; i++) {
    uint64_t t0 = test_now_ms();
    CHECK_MSG(http_get(port, "/log?n=20000", body, sizeof body) == 200, "GET /log: %s",
              last_err);
    CHECK_MSG(test_now_ms() - t0 < 5000, "writing 20000 lines took the worker %llu ms",
              (unsigned long long)(test_now_ms() - t0));
  }
  ping_within("full", 2000);
  /* every line accounted for, written or dropped (the last ones may
   * still be on their way through the pipe: ask until they are in) */
  uint64_t deadline = test_now_ms() + 10000;
  for (;;) {
    status_of("full", st, sizeof st);
    long long seen = num_after(st, "\"lines\":[") + num_after(st, "\"dropped\":[");
    if (seen == seen0 + 100000)
      break;
    CHECK_MSG(seen < seen0 + 100000 && test_now_ms() < deadline,
              "%lld lines written or dropped of %lld; status said %s", seen - seen0,
              100000LL, st);
    usleep(20000); /* a counter to watch: no event says "all read" */
  }
  long long dropped = num_after(st, "\"dropped\":[");
  CHECK_MSG(dropped >= 50000, "status said %s", st);
  CHECK_MSG(strstr(st, "\"error\":\"No space left on device\""), "status said %s", st);
  CHECK_MSG(strstr(st, "\"workers_ready\":1"), "status said %s", st);
  CHECK_EQ(http_get(port, "/pid", body, sizeof body), 200);
  CHECK_EQ(atoi(body), w0); /* the same worker: nothing died of it */
  int mfd = test_connect_port(mport);
  CHECK(mfd >= 0);
  const char *get = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  CHECK(send(mfd, get, strlen(get), MSG_NOSIGNAL) == (ssize_t)strlen(get));
  char *all = test_read_all(mfd, NULL);
  close(mfd);
  long long mdropped =
      num_after(all, "herd_log_dropped_lines_total{app=\"full\",stream=\"out\"} ");
  CHECK_MSG(mdropped >= dropped, "metrics said %s", all);
  free(all);

  /* room again (what a log rotation or an operator frees): the next
   * lines are written, the worker's and the master's own */
  CHECK_EQ(truncate(out_log, 0), 0);
  CHECK_EQ(truncate(herd_log, 0), 0);
  CHECK_EQ(http_get(port, "/log?n=1", body, sizeof body), 200);
  CHECK_MSG(file_has(out_log, "log line 1 of 1,", 10000),
            "no line written to %s after space was freed", out_log);
  snprintf(cmd, sizeof cmd, "%s reload full 2>&1", herd);
  CHECK_MSG(sh_out(cmd, out, sizeof out) == 0, "herd reload said %s", out);
  CHECK_MSG(file_has(herd_log, "herd[full]: reload done", 10000),
            "no event line written to %s after space was freed", herd_log);
  snprintf(cmd, sizeof cmd, "%s stop full 2>&1", herd);
  CHECK_MSG(sh_out(cmd, out, sizeof out) == 0, "herd stop said %s", out);
  CHECK(pid_gone(cur_daemon, 5000));
  cur_daemon = 0;
}

/* ---- 4. a worker that closes its listening socket ------------------ */

/* A worker that closes the socket it inherited (fd 3) and lives on
 * serves nothing, and herd cannot see it close: the master still holds
 * the socket, so connections are queued, not refused, and after 3 s in
 * the queue herd says that nobody takes them (listen_stalls in status).
 * A worker that accepts - here one more, scaled up - takes the queued
 * connection and answers it, and herd says the queue is served again. */
TEST_T(fault_worker_closing_its_socket_is_told_and_nothing_is_lost, 60) {
  static char script[4400];
  snprintf(script, sizeof script,
           "if [ \"$HERD_WORKER_ID\" = 0 ]; then exec 3<&-; exec sleep 600; fi; exec %s",
           hello_http());
  struct hp h;
  const char *args[] = {"run", "-n", "closer", "-w", "1", "-l", "127.0.0.1:0", "--",
                        "/bin/sh", "-c", script, NULL};
  start(&h, args);
  hp_port(&h);
  HP_WAIT(&h, "all 1 workers ready", 1);
  int fd = test_connect_port(h.port); /* queued by the kernel: not refused */
  CHECK_MSG(fd >= 0, "connect: %s", strerror(-fd));
  char want[256];
  snprintf(want, sizeof want, "127.0.0.1:%d: 1 connection has waited 3 s in the listen "
           "queue and no worker took it: do the workers accept on the socket they "
           "inherit (fd 3, LISTEN_FDS)?", h.port);
  HP_WAIT(&h, want, 1);
  char st[16384];
  status_of("closer", st, sizeof st);
  CHECK_MSG(json_num(st, "listen_stalls") == 1, "status said %s", st);
  CHECK_MSG(strstr(st, "\"state\":\"ready\""), "status said %s", st); /* it cannot tell */
  /* one that accepts: the waiting client is served, nothing lost */
  hp_mark(&h);
  CHECK_OK(herd_child_kill(&h.c, SIGTTIN, 0));
  HP_WAIT_NEW(&h, "worker 1 ready, pid ");
  char body[64];
  CHECK_MSG(http_on(fd, "/pid", 0, body, sizeof body) == 200, "the queued connection: %s",
            last_err);
  close(fd);
  CHECK_EQ(atoi(body), worker_pid(&h, 1));
  snprintf(want, sizeof want, "127.0.0.1:%d: the listen queue is served again", h.port);
  HP_WAIT(&h, want, 1);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

/* ---- 5. a worker that leaves processes behind ---------------------- */

/* The pid a file holds (written by a worker's script). */
static pid_t pid_in(const char *dir, const char *name) {
  char path[4400];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  CHECK_MSG(fd >= 0, "%s: %s", path, strerror(errno));
  char *s = test_read_all(fd, NULL);
  close(fd);
  pid_t p = atoi(s);
  free(s);
  CHECK(p > 0);
  return p;
}

/* A worker that starts processes and exits: what it left in its own
 * process group is killed with it (as systemd's KillMode=mixed); what
 * moved to a session of its own (a daemon) comes back to herd, the
 * child subreaper, and is reported once ("left this process behind",
 * left_behind in status), left running, and ended when herd stops: the
 * stop signal, then SIGKILL after the kill timeout for one that ignores
 * it. */
TEST_T(fault_worker_grandchildren_die_with_it_daemons_are_told_and_ended, 60) {
  const char *dir = getenv("HERD_HOME");
  static char script[2048];
  /* each daemon says (through a fifo of its own) that it has its
   * session before the worker exits: until then it is in the worker's
   * group */
  snprintf(script, sizeof script,
           "cd %s || exit 9\n"
           "if [ ! -e once ]; then\n"
           "  : > once\n"
           "  mkfifo up1 up2 || exit 9\n"
           "  sleep 600 & echo $! > group\n"
           "  setsid sh -c 'echo $$ > daemon; echo > up1; exec sleep 600' &\n"
           "  read x < up1\n"
           "  setsid sh -c 'trap \"\" TERM; echo $$ > stubborn; echo > up2; exec sleep 600' &\n"
           "  read x < up2\n"
           "  exit 3\n"
           "fi\n"
           "exec sleep 600\n", dir);
  struct hp h;
  const char *args[] = {"run", "-n", "leaver", "-w", "1", "--kill-timeout", "1s", "--",
                        "/bin/sh", "-c", script, NULL};
  start(&h, args);
  HP_WAIT(&h, "worker 0 exited, pid ", 1);
  CHECK_MSG(strstr(h.log, ", code 3, died"), "%s", h.log);
  pid_t group = pid_in(dir, "group"), daemon = pid_in(dir, "daemon"),
        stubborn = pid_in(dir, "stubborn");
  /* the one in the worker's group: killed with it */
  CHECK_MSG(pid_gone(group, 5000), "pid %d, left in the worker's process group, lives on",
            (int)group);
  /* the two in sessions of their own: told, and left running */
  HP_WAIT(&h, "left this process behind", 2);
  char want[64];
  snprintf(want, sizeof want, "worker 0, pid %d: a worker left this process behind", (int)daemon);
  CHECK_MSG(strstr(h.log, want), "herd did not name pid %d:\n%s", (int)daemon, h.log);
  snprintf(want, sizeof want, "worker 0, pid %d: a worker left this process behind", (int)stubborn);
  CHECK_MSG(strstr(h.log, want), "herd did not name pid %d:\n%s", (int)stubborn, h.log);
  herd_proc_stat_t ps;
  CHECK_OK(herd_proc_stat(daemon, &ps));
  CHECK_EQ(ps.ppid, h.c.pid); /* came back to herd, not to init */
  CHECK(!pid_gone(daemon, 0) && !pid_gone(stubborn, 0));
  HP_WAIT(&h, "worker 0 started, pid ", 2); /* the slot goes on */
  char st[16384];
  status_of("leaver", st, sizeof st);
  CHECK_MSG(json_num(st, "left_behind") == 2, "status said %s", st);
  /* herd's stop ends them too, the stubborn one at the kill timeout */
  int dpfd = (int)syscall(SYS_pidfd_open, daemon, 0);
  int spfd = (int)syscall(SYS_pidfd_open, stubborn, 0);
  CHECK(dpfd >= 0 && spfd >= 0);
  uint64_t t0 = test_now_ms();
  int code = hp_stop(&h, SIGTERM);
  struct pollfd p[2] = {{.fd = dpfd, .events = POLLIN}, {.fd = spfd, .events = POLLIN}};
  CHECK_EQ(poll(p, 2, 0), 2); /* both gone before herd was */
  close(dpfd);
  close(spfd);
  uint64_t took = test_now_ms() - t0;
  CHECK_MSG(took >= 900 && took < 5000, "the stop took %llu ms", (unsigned long long)took);
  /* processes left behind are not workers: killing one does not make
   * the stop's exit status 1 */
  CHECK_EQ(code, 0);
  snprintf(want, sizeof want, "pid %d", (int)stubborn);
  KNOWN_DEFECT(line_with(strstr(h.log, "stop on SIGTERM"), want, "SIGKILL"),
               "a process left behind by a worker, which ignores the stop signal, is "
               "SIGKILLed at the kill timeout without a word, where a worker gets 'did not "
               "stop in time: SIGKILL' (src/lib/cluster.c orphan_kill_cb() emits no event)");
}
