/*
 * herd_start_test.c - end-to-end tests of the daemon commands: herd start,
 * status, list, logs, scale, reload, restart, stop, startup, and the
 * control socket they speak to (also on a `herd run` app).
 *
 * The real binary, run whole with fork/exec; loopback only, port 0 (the
 * port is read back from `herd status --json`); every wait bounded. The
 * runner gives each test a fresh HERD_HOME and fails a test that leaves
 * a master running, so each test stops what it started.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/cli/jval.h"
#include "test.h"

/* ---- paths ---------------------------------------------------------- */

/* An absolute path of a program under test (a daemon's directory is /). */
static const char *built(char buf[PATH_MAX], const char *rel) {
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s/%s", prog_dir(), rel);
  CHECK_MSG(realpath(tmp, buf) != NULL, "%s: %s", tmp, strerror(errno));
  return buf;
}

static const char *herd_bin(void) {
  static char b[PATH_MAX];
  return b[0] ? b : built(b, "herd");
}

static const char *hello_http(void) {
  static char b[PATH_MAX];
  return b[0] ? b : built(b, "examples/hello-http");
}

static const char *self(void) {
  return test_self();
}

static const char *home(void) {
  const char *h = getenv("HERD_HOME");
  CHECK_MSG(h && *h, "HERD_HOME is not set (run under herd-test)");
  return h;
}

static const char *home_file(char *buf, size_t n, const char *rel) {
  snprintf(buf, n, "%s/%s", home(), rel);
  return buf;
}

static int sanitized(void) {
  const char *s = getenv("HERD_SANITIZE");
  return s && !strcmp(s, "1");
}

/* ---- running a command to completion ------------------------------- */

/* The last command's exit status (or 128 + signal) and its output. */
static struct {
  int status;
  char *out, *err;
  size_t out_len; /* out may hold NUL bytes */
} R;

static void append(char **buf, size_t *len, size_t *cap, const char *p, size_t n) {
  if (*len + n + 1 > *cap) {
    size_t nc = *cap ? *cap : 4096;
    while (nc < *len + n + 1)
      nc *= 2;
    char *nb = realloc(*buf, nc);
    CHECK(nb);
    *buf = nb;
    *cap = nc;
  }
  memcpy(*buf + *len, p, n);
  *len += n;
  (*buf)[*len] = '\0';
}

/* fork/exec argv with the environment entries env ("K=V", or "K" to
 * remove K), RLIMIT_FSIZE fsize (if > 0), stdin /dev/null; capture
 * stdout and stderr to their end (a daemon that kept them open would be
 * caught here) and reap it, all within timeout_ms. Returns its exit
 * status, or -1 if it had to be killed at the timeout (why: in R.err). */
static int run_argv(char *const argv[], const char *const *env, long fsize,
                    int timeout_ms) {
  free(R.out);
  free(R.err);
  R.out = R.err = NULL;
  int o[2], e[2];
  CHECK(pipe2(o, O_CLOEXEC) == 0 && pipe2(e, O_CLOEXEC) == 0);
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    for (int i = 0; env && env[i]; i++) {
      if (strchr(env[i], '='))
        putenv((char *)env[i]);
      else
        unsetenv(env[i]);
    }
    if (fsize > 0) {
      struct rlimit rl = {(rlim_t)fsize, (rlim_t)fsize};
      if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
        _exit(126);
    }
    int nul = open("/dev/null", O_RDONLY);
    if (nul < 0 || dup2(nul, 0) < 0 || dup2(o[1], 1) < 0 || dup2(e[1], 2) < 0)
      _exit(126);
    execv(argv[0], argv);
    _exit(127);
  }
  close(o[1]);
  close(e[1]);
  int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
  CHECK(pfd >= 0);
  size_t olen = 0, ocap = 0, elen = 0, ecap = 0;
  append(&R.out, &olen, &ocap, "", 0);
  append(&R.err, &elen, &ecap, "", 0);
  uint64_t deadline = test_now_ms() + (uint64_t)timeout_ms;
  int fds[2] = {o[0], e[0]}, exited = 0;
  while (fds[0] >= 0 || fds[1] >= 0 || !exited) {
    uint64_t now = test_now_ms();
    if (now >= deadline) {
      /* the caller says where: exit status -1, the reason in R.err */
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      char why[256];
      snprintf(why, sizeof why, "\n(%s %s did not finish in %d ms: %s)", argv[0],
               argv[1] ? argv[1] : "", timeout_ms,
               exited ? "it exited, but its output pipes are still open - held by a "
                        "daemon?"
                      : "still running");
      append(&R.err, &elen, &ecap, why, strlen(why));
      for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
          close(fds[i]);
      close(pfd);
      R.status = -1;
      return -1;
    }
    struct pollfd p[3] = {{.fd = fds[0], .events = POLLIN},
                          {.fd = fds[1], .events = POLLIN},
                          {.fd = exited ? -1 : pfd, .events = POLLIN}};
    int r = poll(p, 3, (int)(deadline - now));
    if (r < 0 && errno == EINTR)
      continue;
    CHECK(r >= 0);
    for (int i = 0; i < 2; i++) {
      if (fds[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      char b[16384];
      ssize_t n = read(fds[i], b, sizeof b);
      if (n > 0) {
        if (i == 0)
          append(&R.out, &olen, &ocap, b, (size_t)n);
        else
          append(&R.err, &elen, &ecap, b, (size_t)n);
      } else if (n == 0 || errno != EINTR) {
        close(fds[i]);
        fds[i] = -1;
      }
    }
    if (p[2].revents & POLLIN)
      exited = 1;
  }
  close(pfd);
  R.out_len = olen;
  int st;
  CHECK_EQ(waitpid(pid, &st, 0), pid);
  R.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return R.status;
}

/* How long a command may take (a hung one fails the test, saying so,
 * before the test's own timeout). */
static int cmd_timeout_ms = 30000;

static int herd_env(const char *const *env, long fsize, const char *const *args) {
  char *argv[64];
  int n = 0;
  argv[n++] = (char *)herd_bin();
  for (int i = 0; args[i] && n < 63; i++)
    argv[n++] = (char *)args[i];
  argv[n] = NULL;
  return run_argv(argv, env, fsize, cmd_timeout_ms);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
/* Run herd ARGS...; returns its exit status; output in R.out, R.err. */
#define HERD(...) herd_env(NULL, 0, ARGS(__VA_ARGS__))
/* herd ARGS... must exit with CODE. */
#define HERD_EXPECT(code, ...)                                               \
  do {                                                                       \
    int st_ = HERD(__VA_ARGS__);                                             \
    CHECK_MSG(st_ == (code), "herd %s: exit %d, expected %d\nstdout: %s\nstderr: %s", \
              ARGS(__VA_ARGS__)[0], st_, (code), R.out, R.err);             \
  } while (0)
#define HERD_OK(...) HERD_EXPECT(0, __VA_ARGS__)

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

/* The line of text that contains needle (copied into buf), or NULL. */
static const char *line_with(const char *text, const char *needle, char *buf, size_t n) {
  const char *p = strstr(text, needle);
  if (!p)
    return NULL;
  const char *b = p;
  while (b > text && b[-1] != '\n')
    b--;
  const char *e = strchr(p, '\n');
  size_t len = e ? (size_t)(e - b) : strlen(b);
  if (len >= n)
    len = n - 1;
  memcpy(buf, b, len);
  buf[len] = '\0';
  return buf;
}

/* ---- an app's status --------------------------------------------- */

/* A value's type; absent reads as null. */
static int jtype(const herd_val_t *v) {
  return v ? v->type : HERD_VAL_NULL;
}

static herd_val_t *S; /* the last status reply (freed by the next call) */

/* `herd status NAME --json`, which must succeed: the parsed reply. */
static const herd_val_t *status_of(const char *name) {
  herd_val_free(S);
  S = NULL;
  /* answered: 0 online, 3 degraded or stopping, 4 errored */
  int st = HERD("status", name, "--json");
  CHECK_MSG(st == 0 || st == 3 || st == 4, "herd status: exit %d\nstdout: %s\nstderr: %s",
            st, R.out, R.err);
  S = jparse(R.out, strlen(R.out));
  CHECK_MSG(S && jis_obj(S), "status --json is not a JSON object: %s", R.out);
  CHECK_MSG(jbool(jget(S, "ok"), 0) == 1, "status not ok: %s", R.out);
  CHECK_MSG(!strcmp(jstr(jget(S, "name"), ""), name), "status of another app: %s",
            R.out);
  return S;
}

static pid_t master_pid(const char *name) {
  pid_t p = (pid_t)jnum(jget(status_of(name), "pid"), 0);
  CHECK(p > 0);
  return p;
}

static int app_port(const char *name) {
  const char *l = jstr(jat(jget(status_of(name), "listen"), 0), NULL);
  CHECK_MSG(l && !strncmp(l, "127.0.0.1:", 10), "listen: %s", l ? l : "(none)");
  int port = atoi(l + 10);
  CHECK(port > 0 && port < 65536);
  return port;
}

static double logs_num(const herd_val_t *st, const char *key, int i) {
  const herd_val_t *logs = jget(st, "logs");
  CHECK_MSG(jis_obj(logs), "status has no logs object");
  const herd_val_t *v = jget(logs, key);
  return i < 0 ? jnum(v, -1) : jnum(jat(v, (size_t)i), -1);
}

/* Pids of the workers that serve now (ready, not a successor) of the
 * last status; returns their count, and 1 in *all_ready if no worker is
 * in any other state (stopping ones aside). */
static int ready_pids(const herd_val_t *st, pid_t *pids, int max, int *all_ready) {
  const herd_val_t *ws = jget(st, "workers");
  int n = 0, others = 0;
  for (size_t i = 0; i < jlen(ws); i++) {
    const herd_val_t *w = jat(ws, i);
    const char *state = jstr(jget(w, "state"), "?");
    if (!strcmp(state, "ready") && !jbool(jget(w, "successor"), 0)) {
      if (n < max)
        pids[n] = (pid_t)jnum(jget(w, "pid"), 0);
      n++;
    } else if (strcmp(state, "stopping")) {
      others++;
    }
  }
  if (all_ready)
    *all_ready = !others;
  return n;
}

/* The logs of NAME hold no sanitizer report (the master is a daemon:
 * its own report goes to NAME-herd.log, where nobody else looks). */
static void no_sanitizer_report(const char *name) {
  static const char *const suffix[] = {"-herd.log", "-err.log"};
  for (int i = 0; i < 2; i++) {
    char rel[128], path[PATH_MAX], line[1024];
    snprintf(rel, sizeof rel, "logs/%s%s", name, suffix[i]);
    FILE *f = fopen(home_file(path, sizeof path, rel), "r");
    if (!f)
      continue;
    while (fgets(line, sizeof line, f))
      if (strstr(line, "Sanitizer") || strstr(line, "runtime error:")) {
        fclose(f);
        test_fail(__FILE__, __LINE__, "%s: %s", path, line);
      }
    fclose(f);
  }
}

/* `herd stop NAME` must stop it: exit 0, the line, the files gone. */
static void stop_app(const char *name) {
  HERD_OK("stop", name);
  char want[128], path[PATH_MAX];
  snprintf(want, sizeof want, "%s: stopped (master exited)\n", name);
  CHECK_MSG(strstr(R.out, want), "herd stop %s said: %s%s", name, R.out, R.err);
  snprintf(want, sizeof want, "%s.sock", name);
  CHECK_MSG(access(home_file(path, sizeof path, want), F_OK) < 0 && errno == ENOENT,
            "%s is left after the stop", path);
  snprintf(want, sizeof want, "%s.pid", name);
  CHECK_MSG(access(home_file(path, sizeof path, want), F_OK) < 0 && errno == ENOENT,
            "%s is left after the stop", path);
  no_sanitizer_report(name);
}

static int pid_gone(pid_t pid, int timeout_ms) {
  int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pfd < 0)
    return errno == ESRCH;
  struct pollfd p = {.fd = pfd, .events = POLLIN};
  int r;
  while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
    ;
  close(pfd);
  return r == 1;
}

static int count_fds_of(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
  DIR *d = opendir(path);
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

static void write_file_at(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK_MSG(f, "%s: %s", path, strerror(errno));
  CHECK(fputs(text, f) >= 0);
  CHECK(fclose(f) == 0);
}

/* Write HERD_HOME/rel; returns its path (static: copy it to keep it). */
static const char *write_file(const char *rel, const char *text) {
  static char path[PATH_MAX];
  home_file(path, sizeof path, rel);
  write_file_at(path, text);
  return path;
}

/* No app of HERD_HOME was started (no pid file, no socket). */
static void home_has_no_app(void) {
  DIR *d = opendir(home());
  CHECK(d);
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    CHECK_MSG(!(l > 4 && !strcmp(e->d_name + l - 4, ".pid")) &&
                  !(l > 5 && !strcmp(e->d_name + l - 5, ".sock")),
              "%s left in HERD_HOME", e->d_name);
  }
  closedir(d);
}

/* ---- HTTP ---------------------------------------------------------- */

static char last_err[256];

/* One GET on a new connection (Connection: close); returns the status
 * and fills body, or -1 (why in last_err). Bounded: 10 s. */
static int http_get(int port, const char *path, char *body, size_t n) {
  int fd = test_connect_port(port);
  if (fd < 0) {
    snprintf(last_err, sizeof last_err, "connect: %s", strerror(-fd));
    return -1;
  }
  struct timeval tv = {.tv_sec = 10};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char req[256];
  int len = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
  if (send(fd, req, (size_t)len, MSG_NOSIGNAL) != len) {
    snprintf(last_err, sizeof last_err, "send: %s", strerror(errno));
    close(fd);
    return -1;
  }
  char buf[4096];
  size_t got = 0;
  for (;;) {
    ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
    if (r <= 0) {
      snprintf(last_err, sizeof last_err, "recv after %zu bytes: %s", got,
               r == 0 ? "EOF" : strerror(errno));
      close(fd);
      return -1;
    }
    got += (size_t)r;
    buf[got] = '\0';
    char *hend = strstr(buf, "\r\n\r\n");
    if (!hend)
      continue;
    char *cl = strcasestr(buf, "Content-Length:");
    if (!cl) {
      close(fd);
      return -1;
    }
    size_t blen = (size_t)atol(cl + 15);
    if (got - (size_t)(hend + 4 - buf) < blen)
      continue;
    if (body) {
      size_t k = blen < n - 1 ? blen : n - 1;
      memcpy(body, hend + 4, k);
      body[k] = '\0';
    }
    close(fd);
    return atoi(buf + 9);
  }
}

/* ---- a raw control connection ------------------------------------ */

static int ctl_open(const char *name) {
  char path[PATH_MAX], rel[128];
  snprintf(rel, sizeof rel, "%s.sock", name);
  home_file(path, sizeof path, rel);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  CHECK(strlen(path) < sizeof sa.sun_path);
  memcpy(sa.sun_path, path, strlen(path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  CHECK_MSG(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect %s: %s", path,
            strerror(errno));
  return fd;
}

/* Send all of p (the peer may close early: EPIPE ends it quietly). */
static void send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return;
    p += w;
    n -= (size_t)w;
  }
}

/* Read one line (without its newline) into buf; 0 on EOF before any
 * byte, -1 on a timeout (5 s) or error, else the length. */
static int read_line(int fd, char *buf, size_t n) {
  size_t got = 0;
  uint64_t deadline = test_now_ms() + 5000;
  while (got < n - 1) {
    uint64_t now = test_now_ms();
    if (now >= deadline)
      return -1;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, (int)(deadline - now)) <= 0)
      continue;
    ssize_t r = read(fd, buf + got, 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return -1;
    if (r == 0)
      break;
    if (buf[got] == '\n') {
      buf[got] = '\0';
      return (int)got;
    }
    got++;
  }
  buf[got] = '\0';
  return got ? (int)got : 0;
}

/* A reply must be {"ok":false,"error":"...needle..."}. */
static void check_refusal(const char *reply, const char *needle) {
  herd_val_t *v = jparse(reply, strlen(reply));
  CHECK_MSG(v && jis_obj(v), "reply is not a JSON object: %s", reply);
  int ok = jbool(jget(v, "ok"), -1);
  const char *e = jstr(jget(v, "error"), NULL);
  int good = ok == 0 && e && *e && (!needle || strstr(e, needle));
  herd_val_free(v);
  CHECK_MSG(good, "expected {\"ok\":false,\"error\":\"...%s...\"}, got %s",
            needle ? needle : "", reply);
}

/* ---- a command in the background ---------------------------------- */

struct bg {
  herd_child_t c;
  int fd; /* the output we read */
  char log[1 << 16];
  size_t len;
};

static void bg_start(struct bg *b, const char *const *args, int read_stdout) {
  memset(b, 0, sizeof *b);
  char *argv[64];
  int n = 0;
  argv[n++] = (char *)herd_bin();
  for (int i = 0; args[i] && n < 63; i++)
    argv[n++] = (char *)args[i];
  argv[n] = NULL;
  herd_spawn_opts_t o = {0};
  o.stdio[0].kind = HERD_STDIO_IGNORE;
  o.stdio[1].kind = read_stdout ? HERD_STDIO_PIPE : HERD_STDIO_IGNORE;
  o.stdio[2].kind = read_stdout ? HERD_STDIO_IGNORE : HERD_STDIO_PIPE;
  CHECK_OK(herd_spawn(&b->c, herd_bin(), argv, &o));
  b->fd = b->c.stdio[read_stdout ? 1 : 2];
}

/* Read more output (up to timeout_ms); 1 if some came, 0 on a timeout,
 * -1 at EOF. The buffer keeps the newest half when it fills. */
static int bg_read(struct bg *b, int timeout_ms) {
  if (b->fd < 0)
    return -1;
  struct pollfd p = {.fd = b->fd, .events = POLLIN};
  int r = poll(&p, 1, timeout_ms);
  if (r <= 0)
    return 0;
  if (b->len >= sizeof b->log - 1) {
    memmove(b->log, b->log + sizeof b->log / 2, sizeof b->log / 2);
    b->len -= sizeof b->log / 2;
  }
  ssize_t n = read(b->fd, b->log + b->len, sizeof b->log - 1 - b->len);
  if (n <= 0)
    return -1;
  b->len += (size_t)n;
  b->log[b->len] = '\0';
  return 1;
}

/* Wait until needle is in the output (bounded). */
static int bg_wait(struct bg *b, const char *needle, int timeout_ms) {
  uint64_t deadline = test_now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    if (strstr(b->log, needle))
      return 1;
    uint64_t now = test_now_ms();
    if (now >= deadline || bg_read(b, (int)(deadline - now)) < 0)
      return strstr(b->log, needle) != NULL;
  }
}

/* Stop it with sig (0: it ends by itself) and return its exit status. */
static int bg_end(struct bg *b, int sig) {
  if (sig)
    CHECK_OK(herd_child_kill(&b->c, sig, 0));
  CHECK_OK(herd_child_wait(&b->c, 20000));
  int st = herd_child_status(&b->c);
  herd_child_close(&b->c);
  return st;
}

/* A log line "2026-11-28T01:02:03.456Z [SLOT] text": the slot and where
 * the text starts, or -1. */
static int log_line_slot(const char *line, const char **text) {
  static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ [";
  for (size_t i = 0; i < sizeof shape - 1; i++) {
    if (shape[i] == 'd' ? !(line[i] >= '0' && line[i] <= '9') : line[i] != shape[i])
      return -1;
  }
  char *end;
  long slot = strtol(line + sizeof shape - 1, &end, 10);
  if (end == line + sizeof shape - 1 || end[0] != ']' || end[1] != ' ')
    return -1;
  if (text)
    *text = end + 2;
  return (int)slot;
}

/* ---- 1. the whole round trip --------------------------------------- */

TEST_T(herd_start_round_trip, 60) {
  HERD_OK("start", "-n", "rt", "-w", "2", "-l", "127.0.0.1:0", "--ready", "notify", "--",
          self(), "--helper", "serve");
  /* herd: started rt: 2 workers ready (pids A B) on 127.0.0.1:PORT, master pid P */
  int a = 0, b = 0, port = 0, mp = 0;
  CHECK_MSG(sscanf(R.out, "herd: started rt: 2 workers ready (pids %d %d) on 127.0.0.1:%d, "
                          "master pid %d\n", &a, &b, &port, &mp) == 4,
            "start said: %s", R.out);
  CHECK_EQ(count_lines(R.out), 1);
  CHECK_STR(R.err, "");
  CHECK(a > 0 && b > 0 && a != b && port > 0 && mp > 0);
  char path[PATH_MAX];
  struct stat sst;
  CHECK(stat(home_file(path, sizeof path, "rt.sock"), &sst) == 0);
  CHECK_MSG(S_ISSOCK(sst.st_mode) && (sst.st_mode & 0777) == 0600, "rt.sock mode %o",
            (unsigned)sst.st_mode);
  CHECK_EQ(herd_pidfile_check(home_file(path, sizeof path, "rt.pid")), mp);

  /* status: the table */
  HERD_OK("status", "rt");
  char line[512];
  CHECK_MSG(line_with(R.out, "master pid", line, sizeof line), "%s", R.out);
  char want[128];
  snprintf(want, sizeof want, "rt  master pid %d,", mp);
  CHECK_MSG(strstr(line, want) && strstr(line, "2/2 workers ready"), "%s", R.out);
  snprintf(want, sizeof want, "127.0.0.1:%d", port);
  CHECK_MSG(strstr(R.out, want), "%s", R.out);
  int pids[2] = {a, b};
  for (int i = 0; i < 2; i++) {
    snprintf(want, sizeof want, " %d ", pids[i]);
    CHECK_MSG(line_with(R.out, want, line, sizeof line) && strstr(line, "ready"),
              "no ready row of pid %d:\n%s", pids[i], R.out);
  }
  /* status --json */
  const herd_val_t *st = status_of("rt");
  CHECK_STR(jstr(jget(st, "mode"), ""), "start");
  CHECK_EQ(jnum(jget(st, "pid"), 0), mp);
  CHECK_EQ(app_port("rt"), port);
  st = status_of("rt");
  const herd_val_t *ws = jget(st, "workers");
  CHECK_EQ(jlen(ws), 2);
  for (size_t i = 0; i < 2; i++) {
    const herd_val_t *w = jat(ws, i);
    CHECK_STR(jstr(jget(w, "state"), ""), "ready");
    CHECK_EQ(jnum(jget(w, "slot"), -1), (double)i);
    CHECK_EQ(jnum(jget(w, "pid"), 0), pids[i]);
  }
  /* list: one line, online */
  HERD_OK("list");
  CHECK_EQ(count_lines(R.out), 2); /* the header and rt */
  CHECK_MSG(line_with(R.out, "rt ", line, sizeof line) && strstr(line, "online") &&
                strstr(line, "2/2"),
            "%s", R.out);
  HERD_OK("list", "--json");
  herd_val_t *lj = jparse(R.out, strlen(R.out));
  int list_ok = lj && jlen(lj) == 1 &&
                !strcmp(jstr(jget(jat(lj, 0), "name"), ""), "rt") &&
                !strcmp(jstr(jget(jat(lj, 0), "status"), ""), "online") &&
                jnum(jget(jat(lj, 0), "pid"), 0) == mp &&
                jnum(jget(jat(lj, 0), "workers"), 0) == 2;
  herd_val_free(lj);
  CHECK_MSG(list_ok, "herd list --json: %s", R.out);
  /* requests, each logged by the worker */
  char body[64];
  for (int i = 0; i < 4; i++)
    CHECK_MSG(http_get(port, "/", body, sizeof body) == 200, "%s", last_err);
  /* logs: the workers' lines, each with its slot (written by the
   * master's writer thread: wait for them, bounded) */
  char up0[96], up1[96];
  snprintf(up0, sizeof up0, "[0] serve: worker 0 pid %d up\n", a);
  snprintf(up1, sizeof up1, "[1] serve: worker 1 pid %d up\n", b);
  int nreq = 0;
  for (int i = 0; i < 250; i++) {
    HERD_OK("logs", "rt", "--out");
    nreq = 0;
    for (const char *p = R.out; (p = strstr(p, " request ")); p++)
      nreq++;
    if (strstr(R.out, up0) && strstr(R.out, up1) && nreq == 4)
      break;
    usleep(20000);
  }
  CHECK_MSG(strstr(R.out, up0) && strstr(R.out, up1) && nreq == 4,
            "herd logs rt --out (%d requests): %s", nreq, R.out);
  CHECK_EQ(count_lines(R.out), 6);
  for (const char *l = R.out; *l; l = strchr(l, '\n') + 1) {
    const char *text;
    int slot = log_line_slot(l, &text);
    CHECK_MSG(slot == 0 || slot == 1, "log line not 'TIME [slot] text': %.120s", l);
    char tag[32];
    snprintf(tag, sizeof tag, "serve: worker %d ", slot);
    CHECK_MSG(!strncmp(text, tag, strlen(tag)), "a line of another slot: %.120s", l);
    if (!strchr(l, '\n'))
      break;
  }
  /* -n: the last lines only */
  HERD_OK("logs", "rt", "--out", "-n", "2");
  CHECK_MSG(count_lines(R.out) == 2 && strstr(R.out, " request ") && !strstr(R.out, " up\n"),
            "herd logs rt --out -n 2: %s", R.out);
  /* both streams merged: each line tagged with its file */
  HERD_OK("logs", "rt");
  CHECK_MSG(strstr(R.out, "rt-out | ") && strstr(R.out, up0), "herd logs rt: %s", R.out);
  /* scale +1: returns once the third is ready */
  HERD_OK("scale", "rt", "+1");
  CHECK_STR(R.out, "rt: scaled to 3 workers\n");
  int all;
  pid_t before[8], after[8];
  CHECK_EQ(ready_pids(status_of("rt"), before, 8, &all), 3);
  CHECK(all);
  CHECK_EQ(jnum(jget(S, "workers_wanted"), 0), 3);
  /* reload: every pid changes */
  HERD_OK("reload", "rt");
  CHECK_STR(R.out, "rt: reloaded, 3 workers ready\n");
  CHECK_EQ(ready_pids(status_of("rt"), after, 8, &all), 3);
  CHECK(all);
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 3; k++)
      CHECK_MSG(after[i] != before[k], "pid %d survived the reload", (int)after[i]);
  for (int k = 0; k < 3; k++)
    CHECK_MSG(pid_gone(before[k], 10000), "old worker %d still runs", (int)before[k]);
  CHECK_EQ(jnum(jget(jget(S, "counters"), "reloads"), 0), 1);
  CHECK_MSG(http_get(port, "/", body, sizeof body) == 200, "%s", last_err);
  /* restart: all anew again */
  HERD_OK("restart", "rt");
  CHECK_STR(R.out, "rt: restarted, 3 workers ready\n");
  pid_t again[8];
  CHECK_EQ(ready_pids(status_of("rt"), again, 8, &all), 3);
  CHECK(all);
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 3; k++)
      CHECK_MSG(again[i] != after[k], "pid %d survived the restart", (int)again[i]);
  CHECK_MSG(http_get(port, "/", body, sizeof body) == 200, "%s", last_err);
  CHECK_EQ(master_pid("rt"), mp);
  /* stop: returns once the master has exited, its files gone */
  stop_app("rt");
  CHECK_MSG(pid_gone(mp, 0), "master %d still runs after herd stop returned", mp);
  for (int i = 0; i < 3; i++)
    CHECK_MSG(pid_gone(again[i], 0), "worker %d outlived the stop", (int)again[i]);
  CHECK(test_connect_port(port) < 0);
  /* and now nothing is there */
  HERD_EXPECT(1, "status", "rt");
  CHECK_MSG(strstr(R.err, "no app named 'rt'"), "%s", R.err);
}

/* ---- 2. one name, one master --------------------------------------- */

TEST_T(herd_start_twice_with_one_name_is_refused, 60) {
  HERD_OK("start", "-n", "tw", "-w", "1", "-l", "127.0.0.1:0", "--", hello_http());
  pid_t mp = master_pid("tw");
  int port = app_port("tw");
  pid_t w0[2];
  CHECK_EQ(ready_pids(S, w0, 2, NULL), 1);
  HERD_EXPECT(1, "start", "-n", "tw", "-w", "1", "-l", "127.0.0.1:0", "--", hello_http());
  CHECK_STR(R.out, "");
  CHECK_EQ(count_lines(R.err), 1);
  char want[64];
  snprintf(want, sizeof want, "master pid %d", (int)mp);
  CHECK_MSG(strstr(R.err, "already running") && strstr(R.err, "'tw'") && strstr(R.err, want),
            "%s", R.err);
  /* the first one is untouched: same master, same worker, still serves */
  char body[64];
  for (int i = 0; i < 5; i++) {
    CHECK_MSG(http_get(port, "/", body, sizeof body) == 200, "%s", last_err);
    CHECK_STR(body, "Hello, World!\n");
  }
  CHECK_EQ(master_pid("tw"), mp);
  pid_t w1[2];
  CHECK_EQ(ready_pids(S, w1, 2, NULL), 1);
  CHECK_EQ(w1[0], w0[0]);
  /* a graceful stop (no kill timeout) */
  HERD_OK("stop", "--graceful", "tw");
  CHECK_STR(R.out, "tw: stopped (master exited)\n");
  CHECK(pid_gone(mp, 0));
  /* three starts of one name at once: one wins, two are told */
  struct bg st[3];
  for (int i = 0; i < 3; i++)
    bg_start(&st[i], ARGS("start", "-n", "race", "-w", "1", "-l", "127.0.0.1:0", "--",
                          hello_http()),
             0);
  int won = 0;
  for (int i = 0; i < 3; i++) {
    bg_wait(&st[i], "\x01(to its end)", 20000);
    int code = bg_end(&st[i], 0);
    CHECK_MSG(code == 0 || (code == 1 && strstr(st[i].log, "already running")),
              "start %d of 3: exit %d: %s", i, code, st[i].log);
    won += code == 0;
  }
  CHECK_EQ(won, 1);
  CHECK_MSG(http_get(app_port("race"), "/", body, sizeof body) == 200, "%s", last_err);
  stop_app("race");
}

/* ---- 3. a master killed with SIGKILL ------------------------------- */

TEST_T(herd_start_sigkilled_master_is_stale_then_taken_over, 60) {
  HERD_OK("start", "-n", "sk", "-w", "2", "-l", "127.0.0.1:0", "--", hello_http());
  pid_t mp = master_pid("sk");
  pid_t w[2];
  CHECK_EQ(ready_pids(S, w, 2, NULL), 2);
  CHECK(kill(mp, SIGKILL) == 0);
  CHECK(pid_gone(mp, 5000));
  /* status: exit 1, the master is gone */
  HERD_EXPECT(1, "status", "sk");
  CHECK_EQ(count_lines(R.err), 1);
  CHECK_MSG(strstr(R.err, "master is gone") && strstr(R.err, "stale"), "%s", R.err);
  HERD_EXPECT(1, "status", "sk", "--json");
  /* list: stale */
  HERD_OK("list");
  char line[512];
  CHECK_MSG(line_with(R.out, "sk ", line, sizeof line) && strstr(line, "stale"), "%s",
            R.out);
  /* the workers die with their master (parent-death signal) */
  for (int i = 0; i < 2; i++)
    CHECK_MSG(pid_gone(w[i], 5000), "worker %d outlived its master", (int)w[i]);
  /* stop of a stale app: nothing to stop, exit 1 */
  HERD_EXPECT(1, "stop", "sk");
  /* start takes the name over: the stale pid file and socket */
  HERD_OK("start", "-n", "sk", "-w", "2", "-l", "127.0.0.1:0", "--", hello_http());
  CHECK_MSG(strstr(R.out, "herd: started sk: 2 workers ready"), "%s", R.out);
  pid_t mp2 = master_pid("sk");
  CHECK(mp2 != mp);
  char body[64];
  CHECK_MSG(http_get(app_port("sk"), "/", body, sizeof body) == 200, "%s", last_err);
  HERD_OK("list");
  CHECK_MSG(line_with(R.out, "sk ", line, sizeof line) && strstr(line, "online"), "%s",
            R.out);
  stop_app("sk");
  /* stop all: a stale app is nothing to stop (skipped quietly, as the
   * code's own comment says), a live one is stopped */
  HERD_OK("start", "-n", "gone", "-w", "1", "--", self(), "--helper", "sleep", "100000");
  pid_t gp = master_pid("gone");
  CHECK(kill(gp, SIGKILL) == 0);
  CHECK(pid_gone(gp, 5000));
  HERD_OK("start", "-n", "live", "-w", "1", "--", self(), "--helper", "sleep", "100000");
  HERD_OK("stop", "all");
  CHECK_STR(R.out, "live: stopped (master exited)\n");
  no_sanitizer_report("live");
  CHECK_MSG(!R.err[0], "herd stop all, with a stale app: %s", R.err);
}

/* ---- 4. another user ----------------------------------------------- */

/* In a child as nobody: connect to path and send req (if connected);
 * returns connect's errno (0 if it connected) and the reply line. */
static int as_nobody(const char *path, const char *req, char *reply, size_t n) {
  int pp[2];
  CHECK(pipe2(pp, O_CLOEXEC) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    close(pp[0]);
    struct {
      int err;
      char reply[512];
    } r;
    memset(&r, 0, sizeof r);
    if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
      _exit(3);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
      r.err = errno;
    } else {
      send_all(fd, req, strlen(req));
      if (read_line(fd, r.reply, sizeof r.reply) < 0)
        snprintf(r.reply, sizeof r.reply, "(no reply)");
    }
    _exit(write(pp[1], &r, sizeof r) == (ssize_t)sizeof r ? 0 : 4);
  }
  close(pp[1]);
  struct {
    int err;
    char reply[512];
  } r;
  CHECK_EQ(read(pp[0], &r, sizeof r), (long long)sizeof r);
  close(pp[0]);
  int st;
  CHECK_EQ(waitpid(pid, &st, 0), pid);
  CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "nobody child: status 0x%x", st);
  snprintf(reply, n, "%s", r.reply);
  return r.err;
}

TEST_T(herd_start_control_socket_refuses_other_users, 60) {
  if (geteuid() != 0)
    SKIP("needs root, to connect as another user (nobody)");
  HERD_OK("start", "-n", "perm", "-w", "1", "-l", "127.0.0.1:0", "--", hello_http());
  pid_t mp = master_pid("perm");
  char sock[PATH_MAX];
  home_file(sock, sizeof sock, "perm.sock");
  struct stat sst;
  CHECK(stat(sock, &sst) == 0);
  CHECK_EQ(sst.st_mode & 0777, 0600);
  /* HERD_HOME itself is 0700: let nobody reach the socket, so that its
   * own mode is what refuses */
  CHECK(chmod(home(), 0711) == 0);
  char reply[512];
  int e = as_nobody(sock, "{\"cmd\":\"stop\"}\n", reply, sizeof reply);
  CHECK_MSG(e == EACCES, "connect as nobody: %s, expected EACCES", strerror(e));
  /* a socket opened up by mistake: the master checks the peer itself */
  CHECK(chmod(sock, 0666) == 0);
  e = as_nobody(sock, "{\"cmd\":\"stop\"}\n", reply, sizeof reply);
  CHECK_MSG(e == 0, "connect as nobody to a 0666 socket: %s", strerror(e));
  check_refusal(reply, "permission denied");
  e = as_nobody(sock, "{\"cmd\":\"status\"}\n", reply, sizeof reply);
  CHECK_EQ(e, 0);
  check_refusal(reply, "permission denied");
  /* still up, still the same master */
  CHECK_EQ(master_pid("perm"), mp);
  CHECK(chmod(sock, 0600) == 0);
  stop_app("perm");
}

/* ---- 5. bad control requests --------------------------------------- */

TEST_T(herd_start_bad_control_requests_get_errors, 60) {
  HERD_OK("start", "-n", "bad", "-w", "1", "--", self(), "--helper", "grow", "1", "1000", "0");
  pid_t mp = master_pid("bad");
  /* its fds at rest: the connection of that status may still be open
   * for a moment (no event tells when the master has closed it: the
   * fewest seen over a short while) */
  int fds0 = count_fds_of(mp);
  for (int i = 0; i < 25; i++) {
    usleep(10000);
    int n = count_fds_of(mp);
    if (n < fds0)
      fds0 = n;
  }
  CHECK(fds0 > 0);
  char line[4096];
  /* a malformed line: an error, and the connection still serves */
  int fd = ctl_open("bad");
  send_all(fd, "{not json\n", 10);
  CHECK(read_line(fd, line, sizeof line) > 0);
  check_refusal(line, NULL);
  send_all(fd, "{\"cmd\":\"ping\"}\n", 15);
  CHECK(read_line(fd, line, sizeof line) > 0);
  CHECK_MSG(strstr(line, "\"ok\":true"), "ping after a bad line: %s", line);
  close(fd);
  /* JSON without cmd */
  fd = ctl_open("bad");
  send_all(fd, "{\"command\":\"status\"}\n", 21);
  CHECK(read_line(fd, line, sizeof line) > 0);
  check_refusal(line, "cmd");
  /* cmd of the wrong type, not an object */
  send_all(fd, "{\"cmd\":7}\n[\"status\"]\n", 21);
  CHECK(read_line(fd, line, sizeof line) > 0);
  check_refusal(line, "cmd");
  CHECK(read_line(fd, line, sizeof line) > 0);
  check_refusal(line, NULL);
  close(fd);
  /* an unknown cmd */
  fd = ctl_open("bad");
  send_all(fd, "{\"cmd\":\"frobnicate\"}\n", 21);
  CHECK(read_line(fd, line, sizeof line) > 0);
  check_refusal(line, "unknown command");
  /* a number beyond a double (Infinity, as JSON.parse reads 1e400) where
   * a count belongs, and a cmd with a NUL in it */
  static const char odd[] = "{\"cmd\":\"scale\",\"workers\":1e400}\n{\"cmd\":\"p\\u0000ing\"}\n";
  send_all(fd, odd, sizeof odd - 1);
  CHECK(read_line(fd, line, sizeof line) > 0);
  check_refusal(line, "Infinity is not a number of workers");
  CHECK(read_line(fd, line, sizeof line) > 0);
  check_refusal(line, "it holds a NUL character");
  /* cmds Node's channel keeps for itself are requests like any other
   * here: each gets its reply (they once got none) */
  static const char node_cmds[] = "{\"cmd\":\"NODE_HANDLE\"}\n{\"cmd\":\"NODE_CLUSTER\"}\n";
  send_all(fd, node_cmds, sizeof node_cmds - 1);
  for (int i = 0; i < 2; i++) {
    CHECK_MSG(read_line(fd, line, sizeof line) > 0, "no reply to a NODE_ cmd");
    check_refusal(line, "unknown command");
  }
  /* a descriptor sent along with a request is closed, not kept (the fd
   * count below) */
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  CHECK(devnull >= 0);
  test_send_with_fd(fd, "{\"cmd\":\"ping\"}\n", devnull);
  close(devnull);
  CHECK(read_line(fd, line, sizeof line) > 0);
  CHECK_MSG(strstr(line, "\"ok\":true"), "ping with an fd: %s", line);
  close(fd);
  /* an oversized line (valid JSON, 70 KB): refused, then closed */
  fd = ctl_open("bad");
  size_t big = 70000;
  char *req = malloc(big + 64);
  CHECK(req);
  int k = snprintf(req, 64, "{\"cmd\":\"ping\",\"pad\":\"");
  memset(req + k, 'x', big);
  memcpy(req + k + big, "\"}\n", 3);
  send_all(fd, req, (size_t)k + big + 3);
  free(req);
  CHECK(read_line(fd, line, sizeof line) > 0);
  check_refusal(line, "too long");
  CHECK_MSG(read_line(fd, line, sizeof line) == 0, "not closed after an oversized line: %s",
            line);
  close(fd);
  /* the master is fine */
  HERD_OK("status", "bad");
  CHECK_EQ(master_pid("bad"), mp);
  /* and holds no fd of those connections (they are closed as their
   * peers go: bounded wait for the last close to be seen) */
  int fds1 = -1;
  for (int i = 0; i < 100 && (fds1 = count_fds_of(mp)) > fds0; i++)
    usleep(20000);
  CHECK_MSG(fds1 == fds0, "master fds: %d before, %d after the bad requests", fds0, fds1);
  stop_app("bad");
}

TEST_T(herd_control_refusals_come_at_once_in_one_line, 60) {
  /* a request the app's state refuses gets its error as the first and
   * only line, not after an "ok" pending line a client could take for
   * success */
  HERD_OK("start", "-n", "busy", "-w", "1", "-l", "127.0.0.1:0", "--ready", "1s",
          "--stop-signal", "CONT", "--kill-timeout", "3s", "--", hello_http());
  pid_t mp = master_pid("busy");
  char line[4096];
  int a = ctl_open("busy"), b = ctl_open("busy");
  send_all(a, "{\"cmd\":\"reload\"}\n", 17);
  CHECK(read_line(a, line, sizeof line) > 0);
  CHECK_MSG(strstr(line, "\"pending\":\"reload\""), "%s", line);
  /* the successor needs 1 s to be ready: the reload runs */
  send_all(b, "{\"cmd\":\"restart\"}\n", 18);
  CHECK(read_line(b, line, sizeof line) > 0);
  check_refusal(line, "cannot restart: a reload is running");
  CHECK(read_line(a, line, sizeof line) > 0);
  CHECK_MSG(strstr(line, "{\"ok\":true,\"workers\":1}"), "reload: %s", line);
  /* SIGCONT does not end hello-http: the stop lasts the kill timeout */
  send_all(a, "{\"cmd\":\"stop\"}\n", 15);
  CHECK(read_line(a, line, sizeof line) > 0);
  CHECK_MSG(strstr(line, "\"pending\":\"stop\""), "%s", line);
  static const char *const reqs[] = {"{\"cmd\":\"reload\"}\n", "{\"cmd\":\"restart\"}\n",
                                     "{\"cmd\":\"scale\",\"workers\":3}\n"};
  static const char *const errs[] = {"cannot reload: stopping", "cannot restart: stopping",
                                     "cannot scale: stopping"};
  for (int i = 0; i < 3; i++) {
    send_all(b, reqs[i], strlen(reqs[i]));
    CHECK(read_line(b, line, sizeof line) > 0);
    check_refusal(line, errs[i]);
  }
  close(b);
  CHECK(read_line(a, line, sizeof line) > 0);
  CHECK_MSG(strstr(line, "\"stopped\":true") && strstr(line, "\"killed\":true"), "%s", line);
  close(a);
  CHECK(pid_gone(mp, 5000));
  home_has_no_app();
}

/* herd ARGS... run by /bin/sh -c SCRIPT, where "$0" is herd, "$1" hello-http,
 * "$2" the parent of HERD_HOME and "$3" its last component */
static int herd_sh(const char *script) {
  static char parent[PATH_MAX], base[256];
  snprintf(parent, sizeof parent, "%s", home());
  char *slash = strrchr(parent, '/');
  CHECK(slash && slash[1]);
  snprintf(base, sizeof base, "%s", slash + 1);
  *slash = '\0';
  char *argv[] = {"/bin/sh", "-c", (char *)script, (char *)herd_bin(),
                  (char *)hello_http(), parent, base, NULL};
  return run_argv(argv, NULL, 0, cmd_timeout_ms);
}

TEST_T(herd_start_with_stdio_closed_keeps_its_lock, 60) {
  /* started with 0, 1 and 2 closed: the pid file once landed on one of
   * them and lost its lock to the daemon's redirections (a second start
   * of the name then succeeded) */
  CHECK_MSG(herd_sh("exec \"$0\" start -n cl -w 1 -l 127.0.0.1:0 -- \"$1\" <&- >&- 2>&-") == 0,
            "exit %d", R.status);
  pid_t mp = master_pid("cl");
  HERD_EXPECT(1, "start", "-n", "cl", "-w", "1", "-l", "127.0.0.1:0", "--", hello_http());
  CHECK_MSG(strstr(R.err, "already running"), "%s", R.err);
  CHECK_EQ(master_pid("cl"), mp);
  stop_app("cl");
}

TEST_T(herd_start_relative_home_and_unix_path, 60) {
  /* HERD_HOME and a unix: listen path given relative: the daemon, in
   * "/", once put its socket and logs under "/", its pid file here */
  CHECK_MSG(herd_sh("cd \"$2\" && HERD_HOME=\"$3\" exec \"$0\" start -n rel -w 1 "
                    "-l \"unix:$3/app.sock\" -- \"$1\"") == 0,
            "exit %d: %s", R.status, R.err);
  /* found with the absolute HERD_HOME: socket, pid file, logs all here */
  HERD_OK("status", "rel");
  char path[PATH_MAX];
  struct stat st;
  CHECK_MSG(stat(home_file(path, sizeof path, "app.sock"), &st) == 0 && S_ISSOCK(st.st_mode),
            "%s: not a socket", path);
  CHECK_MSG(access(home_file(path, sizeof path, "logs/rel-out.log"), F_OK) == 0, "%s", path);
  const char *l = jstr(jat(jget(status_of("rel"), "listen"), 0), NULL);
  char want[PATH_MAX + 8];
  snprintf(want, sizeof want, "unix:%s", home_file(path, sizeof path, "app.sock"));
  CHECK_MSG(l && !strcmp(l, want), "listen %s, expected %s", l ? l : "(none)", want);
  stop_app("rel");
}

TEST_T(herd_start_config_names_an_app_twice, 30) {
  /* once a heap overflow, or an app started that nobody named */
  const char *conf = write_file("three.conf", "[a]\ncommand = \"sleep 100\"\n"
                                              "[b]\ncommand = \"sleep 100\"\n"
                                              "[c]\ncommand = \"sleep 100\"\n");
  char c[PATH_MAX];
  snprintf(c, sizeof c, "%s", conf);
  HERD_EXPECT(2, "start", "-c", c, "a", "a");
  CHECK_MSG(strstr(R.err, "the app 'a' is named twice"), "%s", R.err);
  HERD_EXPECT(2, "start", "-c", c, "b", "a", "b");
  HERD_EXPECT(2, "run", "-c", c, "a", "b");
  CHECK_MSG(strstr(R.err, "name one app to run, not 2"), "%s", R.err);
  home_has_no_app();
}

TEST_T(herd_restart_of_a_program_gone_fails_and_the_slot_parks, 60) {
  /* the program removed after the start: a restart once waited for ever
   * (spawn failures backed off outside the restart window, never parked) */
  char prog[PATH_MAX], text[PATH_MAX + 64];
  home_file(prog, sizeof prog, "prog.sh");
  snprintf(text, sizeof text, "#!/bin/sh\nexec %s \"$@\"\n", hello_http());
  write_file_at(prog, text);
  CHECK(chmod(prog, 0755) == 0);
  HERD_OK("start", "-n", "gone", "-w", "1", "-l", "127.0.0.1:0", "--max-restarts", "2",
          "--restart-window", "10s", "--", prog);
  CHECK(unlink(prog) == 0);
  HERD_EXPECT(1, "restart", "gone");
  CHECK_MSG(strstr(R.err, "could not start a worker") && strstr(R.err, "No such file"),
            "%s", R.err);
  /* two early deaths in the window, the third parks it (backoff 100 ms,
   * then 200 ms) */
  const char *state = "?";
  uint64_t deadline = test_now_ms() + 10000;
  while (test_now_ms() < deadline) {
    state = jstr(jget(jat(jget(status_of("gone"), "workers"), 0), "state"), "?");
    if (!strcmp(state, "parked"))
      break;
    usleep(50000);
  }
  CHECK_MSG(!strcmp(state, "parked"), "slot 0 is %s, not parked", state);
  HERD_EXPECT(1, "scale", "gone", "2");
  stop_app("gone");
}

/* ---- 6. rotation under a writing worker ---------------------------- */

#define ROT_LINES 100000

TEST_T(herd_start_log_rotation_loses_no_line, 90) {
  char n_s[16];
  snprintf(n_s, sizeof n_s, "%d", ROT_LINES);
  /* two workers, 100000 lines of 100 bytes each, 200 lines a ms at most
   * (20 MB/s: a pace the log writer keeps up with) */
  HERD_OK("start", "-n", "rot", "-w", "2", "--log-max-size", "1M", "--log-keep", "50", "--",
          self(), "--helper", "lines", n_s, "100", "1", "200");
  pid_t mp = master_pid("rot");
  /* reopen the logs while the workers write: SIGUSR1 and --reopen */
  double total = 2.0 * ROT_LINES, seen = 0, dropped = 0;
  int reopens = 0;
  uint64_t deadline = test_now_ms() + 60000;
  while (test_now_ms() < deadline) {
    const herd_val_t *st = status_of("rot");
    seen = logs_num(st, "lines", 0);
    dropped = logs_num(st, "dropped", 0) + logs_num(st, "dropped", 1);
    if (seen + dropped >= total)
      break;
    if (reopens < 5 && seen >= total * reopens / 6) {
      if (reopens == 2)
        HERD_OK("logs", "--reopen", "rot");
      else
        CHECK(kill(mp, SIGUSR1) == 0);
      reopens++;
    }
    usleep(10000);
  }
  CHECK_MSG(seen + dropped >= total, "only %.0f lines (%.0f dropped) of %.0f in 60 s",
            seen, dropped, total);
  const herd_val_t *st = status_of("rot");
  double dropped_out = logs_num(st, "dropped", 0), dropped_err = logs_num(st, "dropped", 1);
  double written = logs_num(st, "lines", 0);
  CHECK_EQ(written + dropped_out, total);
  double rotations = logs_num(st, "rotations", -1);
  CHECK_MSG(rotations >= 20, "%.0f rotations", rotations);
  CHECK_MSG(jtype(jget(jget(st, "logs"), "error")) == HERD_VAL_NULL, "log error: %s", R.out);
  /* the stop writes out what is queued */
  stop_app("rot");
  /* every line once, whole, in the current file and the rotated ones */
  unsigned char *count = calloc(2 * ROT_LINES, 1);
  CHECK(count);
  long lines = 0, bad = 0;
  char path[PATH_MAX], first_bad[256] = "";
  for (int i = 0; i <= 51; i++) {
    char rel[64];
    if (i)
      snprintf(rel, sizeof rel, "logs/rot-out.log.%d", i);
    else
      snprintf(rel, sizeof rel, "logs/rot-out.log");
    FILE *f = fopen(home_file(path, sizeof path, rel), "r");
    if (!f) {
      CHECK_MSG(errno == ENOENT && i > 0, "%s: %s", path, strerror(errno));
      continue;
    }
    CHECK_MSG(i <= 50, "%s: more files than --log-keep 50", path);
    struct stat fst;
    CHECK(fstat(fileno(f), &fst) == 0);
    CHECK_MSG(fst.st_size <= 1 << 20, "%s: %lld bytes, over --log-max-size 1M", path,
              (long long)fst.st_size);
    char buf[512];
    while (fgets(buf, sizeof buf, f)) {
      lines++;
      const char *text;
      int slot = log_line_slot(buf, &text);
      long seq = -1;
      size_t len = strlen(buf);
      if (slot < 0 || slot > 1 || sscanf(text, "line %ld ", &seq) != 1 || seq < 0 ||
          seq >= ROT_LINES || len != 29 + 100 || buf[len - 1] != '\n') {
        if (!bad++)
          snprintf(first_bad, sizeof first_bad, "%.60s: %.150s", rel, buf);
        continue;
      }
      if (count[slot * ROT_LINES + seq] < 255)
        count[slot * ROT_LINES + seq]++;
    }
    fclose(f);
  }
  long missing = 0, twice = 0, first = -1;
  for (long i = 0; i < 2L * ROT_LINES; i++) {
    if (count[i] != 1 && first < 0)
      first = i;
    missing += count[i] == 0;
    twice += count[i] > 1;
  }
  free(count);
  CHECK_MSG(bad == 0, "%ld malformed lines, the first: %s", bad, first_bad);
  /* none repeated, none lost without being counted */
  CHECK_MSG(twice == 0 && (double)missing == dropped_out,
            "%ld lines missing (%.0f counted as dropped), %ld repeated (first: slot %ld "
            "line %ld), %ld lines read",
            missing, dropped_out, twice, first / ROT_LINES, first % ROT_LINES, lines);
  CHECK_EQ(lines, written);
  /* and none lost at all: the disk was fine, the pace modest */
  CHECK_MSG(dropped_out == 0 && dropped_err == 0,
            "the log writer dropped %.0f of %.0f lines (none silently) with a healthy disk",
            dropped_out, total);
}

TEST_T(herd_start_own_log_rotates_too, 60) {
  /* NAME-herd.log, the master's event lines, rotates by the same
   * --log-max-size and --log-keep as the workers' logs */
  HERD_OK("start", "-n", "own", "-w", "2", "-l", "127.0.0.1:0", "--log-max-size", "1K",
          "--log-keep", "2", "--", hello_http());
  /* each reload writes some 7 lines of about 75 bytes */
  for (int i = 0; i < 6; i++)
    HERD_OK("reload", "own");
  stop_app("own");
  char path[PATH_MAX];
  for (int i = 0; i <= 3; i++) {
    char rel[64];
    if (i)
      snprintf(rel, sizeof rel, "logs/own-herd.log.%d", i);
    else
      snprintf(rel, sizeof rel, "logs/own-herd.log");
    FILE *f = fopen(home_file(path, sizeof path, rel), "r");
    if (i == 3) {
      CHECK_MSG(!f && errno == ENOENT, "%s: kept beyond --log-keep 2", path);
      break;
    }
    CHECK_MSG(f, "%s: %s", path, strerror(errno));
    struct stat fst;
    CHECK(fstat(fileno(f), &fst) == 0);
    CHECK_MSG(fst.st_size > 0 && fst.st_size <= 1024, "%s: %lld bytes (--log-max-size 1K)",
              path, (long long)fst.st_size);
    char buf[2048];
    int lines = 0;
    while (fgets(buf, sizeof buf, f)) {
      size_t len = strlen(buf);
      CHECK_MSG(len > 30 && buf[len - 1] == '\n' && !strncmp(buf, "20", 2) &&
                    strstr(buf, " herd[own]: "),
                "%s: not a whole event line: %s", rel, buf);
      lines++;
    }
    fclose(f);
    CHECK(lines > 0);
  }
  /* the newest file ends with the stop */
  HERD_OK("logs", "own", "--herd", "-n", "3");
  CHECK_MSG(strstr(R.out, "exited"), "%s", R.out);
}

/* ---- 7. a flooding worker and a serving one ------------------------ */

TEST_T(herd_start_flooding_worker_does_not_stall_the_other, 90) {
  /* slot 0 writes 100 MB of lines as fast as it can; slot 1 serves HTTP
   * and writes a line per request to the same master */
  HERD_OK("start", "-n", "fl", "-w", "2", "-l", "127.0.0.1:0", "--", self(), "--helper",
          "serve", "104857600");
  pid_t mp = master_pid("fl");
  int port = app_port("fl");
  const double flood_lines = 104857600.0 / 100;
  uint64_t max_ms = 0, t_start = test_now_ms();
  long requests = 0;
  double seen = 0, dropped = 0;
  int done = 0;
  while (test_now_ms() - t_start < 60000) {
    for (int i = 0; i < 20; i++) {
      char body[64];
      uint64_t t0 = test_now_ms();
      int code = http_get(port, "/", body, sizeof body);
      uint64_t dt = test_now_ms() - t0;
      CHECK_MSG(code == 200, "request %ld during the flood: %s", requests, last_err);
      CHECK_MSG(atoi(strchr(body, ' ') + 1) == 1, "slot 0 answered: %s", body);
      requests++;
      if (dt > max_ms)
        max_ms = dt;
    }
    const herd_val_t *st = status_of("fl");
    seen = logs_num(st, "lines", 0);
    dropped = logs_num(st, "dropped", 0);
    /* the flood, its "up" and "done" lines, one line per request */
    if (seen + dropped >= flood_lines + 3 + (double)requests) {
      done = 1;
      break;
    }
  }
  CHECK_MSG(done, "the flood did not end in 60 s: %.0f lines, %.0f dropped", seen, dropped);
  uint64_t bound = sanitized() ? 3000 : 1000;
  CHECK_MSG(max_ms < bound, "a request took %llu ms during the flood (%ld requests)",
            (unsigned long long)max_ms, requests);
  CHECK_MSG(requests >= 20, "only %ld requests during the flood", requests);
  /* the master stayed up, and the flooding worker was not replaced */
  CHECK_EQ(master_pid("fl"), mp);
  const herd_val_t *w0 = jat(jget(S, "workers"), 0);
  CHECK_EQ(jnum(jget(w0, "restarts"), -1), 0);
  fprintf(stderr, "flood: %ld requests, max %llu ms, %.0f lines dropped\n", requests,
          (unsigned long long)max_ms, dropped);
  stop_app("fl");
}

/* ---- 8. --max-memory ----------------------------------------------- */

TEST_T(herd_start_max_memory_replaces_a_growing_worker, 60) {
  /* 1 MB more every 20 ms, up to 100 MB; the limit is 20 MB */
  HERD_OK("start", "-n", "mem", "-w", "1", "--max-memory", "20M", "--", self(), "--helper",
          "grow", "1024", "20", "100");
  const herd_val_t *st = status_of("mem");
  CHECK_EQ(jnum(jget(st, "max_memory"), 0), 20 << 20);
  pid_t p0[2];
  CHECK_EQ(ready_pids(st, p0, 2, NULL), 1);
  double replaced = 0;
  pid_t now = p0[0];
  uint64_t deadline = test_now_ms() + 20000;
  while (test_now_ms() < deadline) {
    st = status_of("mem");
    replaced = jnum(jget(jget(st, "counters"), "max_memory_replaced"), -1);
    pid_t p[2];
    if (ready_pids(st, p, 2, NULL) == 1)
      now = p[0];
    if (replaced >= 1 && now != p0[0])
      break;
    usleep(50000);
  }
  CHECK_MSG(replaced >= 1 && now != p0[0],
            "not replaced in 20 s: max_memory_replaced %.0f, pid %d (was %d)", replaced,
            (int)now, (int)p0[0]);
  CHECK_MSG(pid_gone(p0[0], 10000), "the worker over the limit, %d, still runs", (int)p0[0]);
  HERD_OK("logs", "mem", "--herd", "-n", "100");
  CHECK_MSG(strstr(R.out, "over --max-memory"), "herd logs --herd: %s", R.out);
  char line[512], want[64];
  snprintf(want, sizeof want, "pid %d, uses", (int)p0[0]);
  CHECK_MSG(line_with(R.out, want, line, sizeof line) && strstr(line, "replacing it"),
            "%s", R.out);
  stop_app("mem");
}

/* ---- start failures ------------------------------------------------- */

/* Processes whose command line holds token (none but zombies once a
 * failed start has returned). */
static int procs_with(const char *token) {
  DIR *d = opendir("/proc");
  CHECK(d);
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d))) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9')
      continue;
    char path[300], buf[4096];
    snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      continue;
    ssize_t k = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (k <= 0)
      continue;
    for (ssize_t i = 0; i < k; i++)
      if (!buf[i])
        buf[i] = ' ';
    buf[k] = '\0';
    n += strstr(buf, token) != NULL;
  }
  closedir(d);
  return n;
}

/* herd start must have failed (exit 1) with one line "herd start: NAME:
 * ..." holding need, and left nothing: no file, no process. */
static void start_failed(const char *name, const char *need, const char *token) {
  char pre[128];
  snprintf(pre, sizeof pre, "herd start: %s: ", name);
  CHECK_MSG(R.status == 1, "herd start %s: exit %d, expected 1: %s%s", name, R.status, R.out,
            R.err);
  CHECK_STR(R.out, "");
  CHECK_MSG(!strncmp(R.err, pre, strlen(pre)) && count_lines(R.err) == 1 && strstr(R.err, need),
            "expected one line '%s...%s...', got: %s", pre, need, R.err);
  home_has_no_app();
  CHECK_MSG(procs_with(token) == 0, "a failed start left processes running (%s)", token);
}

TEST_T(herd_start_failures_say_why_and_leave_nothing_running, 60) {
  char token[64];
  snprintf(token, sizeof token, "herd-start-fail-%d", (int)getpid());
  /* a port in use */
  herd_addr_t ad, bound;
  CHECK_OK(herd_addr_parse("127.0.0.1:0", &ad));
  int lfd = herd_listen_open(&ad, 0, 0, &bound);
  CHECK_OK(lfd);
  herd_env(NULL, 0, ARGS("start", "-n", "busy", "-w", "2", "-l", bound.text, "--", self(),
                         "--helper", "sleep", "100000", token));
  start_failed("busy", "Address already in use", token);
  CHECK_MSG(strstr(R.err, bound.text), "%s", R.err);
  close(lfd);
  /* a program that is not there */
  HERD("start", "-n", "miss", "-w", "2", "--", "/nonexistent/herd-no-such-program", token);
  start_failed("miss", "No such file or directory", token);
  /* workers that die before they are ready (--ready DURATION); the
   * worker's last stderr line with it is the next test's business */
  HERD("start", "-n", "early", "-w", "2", "--ready", "2s", "--", "/bin/sh", "-c",
       "sleep 0.2; echo cannot open the database >&2; exit 4", token);
  start_failed("early", "exited with code 4 before it was ready", token);
}

TEST_T(herd_start_failure_quotes_the_workers_last_error_line, 60) {
  /* Dying at once with --ready notify: the reason must carry the line
   * the worker wrote to stderr last, whichever of its exit and its
   * output the master sees first (eight workers, ten tries: most of
   * them lost the line). */
  char token[64];
  snprintf(token, sizeof token, "herd-start-fail-%d", (int)getpid());
  for (int i = 0; i < 10; i++) {
    HERD("start", "-n", "early2", "-w", "8", "--ready", "notify", "--", "/bin/sh", "-c",
         "echo cannot open the database >&2; exit 3", token);
    start_failed("early2", "exited with code 3 before it was ready: cannot open the database",
                 token);
  }
}

TEST_T(herd_start_ready_timeout_failure_says_so, 60) {
  /* a worker never ready is killed at the ready timeout: the reason
   * must say that, not only "killed by SIGKILL" (which herd sent) */
  char token[64];
  snprintf(token, sizeof token, "herd-start-fail-%d", (int)getpid());
  HERD("start", "-n", "slow", "-w", "1", "--ready", "notify", "--ready-timeout", "300ms",
       "--", self(), "--helper", "sleep", "100000", token);
  start_failed("slow", "ready", token);
  CHECK_MSG(strstr(R.err, "timeout") || strstr(R.err, "not ready within"),
            "the reason does not say it was the ready timeout: %s", R.err);
}

TEST_T(herd_start_refuses_the_name_all, 30) {
  /* "all" means every app to stop, reload, restart and logs --reopen:
   * an app of that name could never be driven alone */
  int code = HERD("start", "-n", "all", "-w", "1", "--", self(), "--helper", "sleep", "100000");
  char err[512];
  snprintf(err, sizeof err, "%s%s", R.out, R.err);
  if (code == 0)
    HERD_OK("stop", "all");
  CHECK_MSG(code == 2, "herd start -n all: exit %d: %s", code, err);
  home_has_no_app();
}

/* ---- reload that fails --------------------------------------------- */

TEST_T(herd_reload_failure_exits_1_and_keeps_serving, 60) {
  /* the workers of the next generation fail once the flag file exists */
  char flag[PATH_MAX], script[PATH_MAX + 128];
  home_file(flag, sizeof flag, "flag");
  snprintf(script, sizeof script,
           "test -e '%s' && { echo broken config >&2; exit 1; }; exec \"$0\" --helper serve",
           flag);
  HERD_OK("start", "-n", "rf", "-w", "2", "-l", "127.0.0.1:0", "--ready", "300ms", "--",
          "/bin/sh", "-c", script, self());
  pid_t before[4];
  int all;
  CHECK_EQ(ready_pids(status_of("rf"), before, 4, &all), 2);
  int port = app_port("rf");
  write_file_at(flag, "x\n");
  HERD_EXPECT(1, "reload", "rf");
  CHECK_STR(R.out, "");
  CHECK_MSG(strstr(R.err, "herd reload: rf: reload failed") && count_lines(R.err) == 1, "%s",
            R.err);
  /* the old workers serve on */
  pid_t after[4];
  CHECK_EQ(ready_pids(status_of("rf"), after, 4, &all), 2);
  CHECK(all);
  CHECK_EQ(jnum(jget(jget(S, "counters"), "reloads_failed"), 0), 1);
  char body[64];
  for (int i = 0; i < 10; i++)
    CHECK_MSG(http_get(port, "/", body, sizeof body) == 200, "%s", last_err);
  /* and a reload works again once the cause is gone - and returns
   * (it takes 2 x --ready 300ms: 15 s is plenty) */
  CHECK(unlink(flag) == 0);
  cmd_timeout_ms = 15000;
  HERD_OK("reload", "rf");
  cmd_timeout_ms = 30000;
  CHECK_STR(R.out, "rf: reloaded, 2 workers ready\n");
  CHECK_EQ(ready_pids(status_of("rf"), after, 4, &all), 2);
  for (int i = 0; i < 2; i++)
    CHECK(after[i] != before[0] && after[i] != before[1]);
  stop_app("rf");
}

/* ---- --metrics ------------------------------------------------------ */

/* A GET on a new connection: the whole response (status line on). */
static int http_raw(int port, const char *req, char *out, size_t n) {
  int fd = test_connect_port(port);
  if (fd < 0)
    return -1;
  struct timeval tv = {.tv_sec = 10};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  send_all(fd, req, strlen(req));
  size_t got = 0;
  ssize_t r;
  while (got < n - 1 && (r = recv(fd, out + got, n - 1 - got, 0)) > 0)
    got += (size_t)r;
  out[got] = '\0';
  close(fd);
  return got ? atoi(out + 9) : -1;
}

TEST_T(herd_start_metrics_endpoint, 60) {
  /* a free port of ours, for the fixed-address case */
  herd_addr_t ad, bound;
  CHECK_OK(herd_addr_parse("127.0.0.1:0", &ad));
  int lfd = herd_listen_open(&ad, 0, 0, &bound);
  CHECK_OK(lfd);
  close(lfd);
  int mport = atoi(strrchr(bound.text, ':') + 1);
  HERD_OK("start", "-n", "met", "-w", "2", "-l", "127.0.0.1:0", "--metrics", bound.text,
          "--", hello_http());
  pid_t w[2];
  CHECK_EQ(ready_pids(status_of("met"), w, 2, NULL), 2);
  static char resp[65536];
  CHECK_EQ(http_raw(mport, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof resp),
           200);
  CHECK_MSG(strstr(resp, "\nherd_workers{app=\"met\"} 2\n"), "%s", resp);
  char want[160];
  for (int i = 0; i < 2; i++) {
    snprintf(want, sizeof want,
             "\nherd_worker_state{app=\"met\",slot=\"%d\",pid=\"%d\",state=\"ready\"} 1\n", i,
             (int)w[i]);
    CHECK_MSG(strstr(resp, want), "no '%s' in:\n%s", want + 1, resp);
  }
  CHECK_MSG(strstr(resp, "herd_log_dropped_lines_total{app=\"met\",stream=\"out\"} 0\n"), "%s",
            resp);
  CHECK_EQ(http_raw(mport, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof resp), 404);
  CHECK_EQ(http_raw(mport, "POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof resp),
           405);
  stop_app("met");
  CHECK(test_connect_port(mport) < 0);
  /* port 0: herd picks one - and must say which, as it does for -l */
  HERD_OK("start", "-n", "met0", "-w", "1", "-l", "127.0.0.1:0", "--metrics", "127.0.0.1:0",
          "--", hello_http());
  char told[8192];
  snprintf(told, sizeof told, "%s", R.out);
  int lport = app_port("met0");
  size_t k = strlen(told);
  snprintf(told + k, sizeof told - k, "%s", R.out);
  int found = 0;
  for (const char *p = told; !found && (p = strstr(p, "127.0.0.1:")); p++) {
    int port = atoi(p + 10);
    if (port > 0 && port != lport &&
        http_raw(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof resp) == 200 &&
        strstr(resp, "herd_workers{app=\"met0\"} 1"))
      found = 1;
  }
  int ok_found = found;
  stop_app("met0");
  CHECK_MSG(ok_found, "--metrics 127.0.0.1:0: the port it got is in neither the start "
                      "line nor status --json:\n%s", told);
}

/* ---- 9. config files ---------------------------------------------- */

static void conf_error(const char *rel, const char *text, int line, const char *msg) {
  const char *path = write_file(rel, text);
  char want[PATH_MAX + 32];
  snprintf(want, sizeof want, "herd start: %s:%d: ", path, line);
  HERD_EXPECT(2, "start", "-c", path);
  CHECK_STR(R.out, "");
  CHECK_MSG(!strncmp(R.err, want, strlen(want)) && strstr(R.err, msg) &&
                count_lines(R.err) == 1,
            "expected '%s...%s', got: %s", want, msg, R.err);
  home_has_no_app();
}

TEST_T(herd_start_config_errors_name_file_and_line, 60) {
  conf_error("dup.conf", "[a]\ncommand = \"true\"\n\n[a]\ncommand = \"true\"\n", 4,
             "duplicate app 'a'");
  conf_error("key.conf", "[a]\ncommand = \"true\"\nfrobnicate = 1\n", 3,
             "unknown key 'frobnicate'");
  conf_error("val.conf", "[a]\ncommand = \"true\"\n# workers\nworkers = \"x\"\n", 4,
             "workers");
  conf_error("type.conf", "[a]\ncommand = \"true\"\nkill-timeout = true\n", 3,
             "kill");
  conf_error("nocmd.conf", "[a]\nworkers = 2\n\n[b]\ncommand = \"true\"\n", 1,
             "no command");
  conf_error("twice.conf", "[a]\ncommand = \"true\"\nworkers = 1\nworkers = 2\n", 4,
             "set twice");

  /* a good one: two apps, both started, both stopped by "all" */
  char text[3 * PATH_MAX];
  snprintf(text, sizeof text,
           "# two apps\n[web]\ncommand = [\"%s\"]\nworkers = 1\nlisten = [\"127.0.0.1:0\"]\n"
           "ready = \"notify\"\n\n[api]\ncommand = \"%s\"\nworkers = 2\n"
           "listen = [\"127.0.0.1:0\"]\n",
           hello_http(), hello_http());
  const char *conf = write_file("good.conf", text);
  char cpath[PATH_MAX];
  snprintf(cpath, sizeof cpath, "%s", conf);
  /* only the app named */
  HERD_OK("start", "-c", cpath, "api");
  CHECK_EQ(count_lines(R.out), 1);
  CHECK_MSG(strstr(R.out, "herd: started api: 2 workers ready"), "%s", R.out);
  HERD_EXPECT(1, "status", "web");
  stop_app("api");
  /* all of them */
  HERD_OK("start", "-c", cpath);
  CHECK_EQ(count_lines(R.out), 2);
  CHECK_MSG(strstr(R.out, "herd: started web: 1 worker ready") &&
                strstr(R.out, "herd: started api: 2 workers ready"),
            "%s", R.out);
  HERD_OK("status");
  char line[512];
  CHECK_MSG(line_with(R.out, "web  master pid", line, sizeof line) &&
                strstr(line, "1/1 worker ready"),
            "%s", R.out);
  CHECK_MSG(line_with(R.out, "api  master pid", line, sizeof line) &&
                strstr(line, "2/2 workers ready"),
            "%s", R.out);
  HERD_OK("status", "--json");
  herd_val_t *all = jparse(R.out, strlen(R.out));
  CHECK_MSG(all && jtype(all) == HERD_VAL_ARRAY && jlen(all) == 2, "%s", R.out);
  herd_val_free(all);
  char body[64];
  CHECK_EQ(http_get(app_port("web"), "/", body, sizeof body), 200);
  CHECK_EQ(http_get(app_port("api"), "/", body, sizeof body), 200);
  HERD_OK("stop", "all");
  CHECK_MSG(strstr(R.out, "web: stopped (master exited)\n") &&
                strstr(R.out, "api: stopped (master exited)\n"),
            "%s", R.out);
  HERD_OK("list");
  CHECK_MSG(strstr(R.out, "no apps"), "%s", R.out);
  home_has_no_app();
  no_sanitizer_report("web");
  no_sanitizer_report("api");
  /* a file that is not there */
  HERD_EXPECT(2, "start", "-c", "/nonexistent/herd.conf");
  CHECK_MSG(strstr(R.err, "/nonexistent/herd.conf") && count_lines(R.err) == 1, "%s", R.err);
}

/* ---- 10. startup systemd -------------------------------------------- */

TEST_T(herd_startup_systemd_prints_a_unit, 30) {
  char text[3 * PATH_MAX];
  snprintf(text, sizeof text,
           "[web]\ncommand = \"%s\"\nlisten = [\"127.0.0.1:0\"]\n\n[api]\ncommand = \"%s\"\n"
           "kill-timeout = \"20s\"\n",
           hello_http(), hello_http());
  char conf[PATH_MAX];
  snprintf(conf, sizeof conf, "%s", write_file("apps.conf", text));
  HERD_OK("startup", "systemd", "-c", conf);
  char want[PATH_MAX * 3];
  const char *must[] = {"[Unit]\n", "[Service]\n", "Type=notify\n", "KillMode=mixed\n",
                        "[Install]\n", "WantedBy=multi-user.target\n", "herd-apps@web",
                        "herd-apps@api", "# herd-apps@.service: ", "TimeoutStopSec=30\n"};
  for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
    CHECK_MSG(strstr(R.out, must[i]), "no '%s' in:\n%s", must[i], R.out);
  snprintf(want, sizeof want, "\nExecReload=%s reload %%i\n", herd_bin());
  CHECK_MSG(strstr(R.out, want), "no '%s' in:\n%s", want + 1, R.out);
  snprintf(want, sizeof want, "\nExecStart=%s run -c %s %%i\n", herd_bin(), conf);
  CHECK_MSG(strstr(R.out, want), "no '%s' in:\n%s", want + 1, R.out);
  HERD_OK("startup", "systemd", "-c", conf, "--user");
  CHECK_MSG(strstr(R.out, "WantedBy=default.target\n") && strstr(R.out, "systemctl --user"),
            "%s", R.out);
  HERD_EXPECT(2, "startup", "systemd");
  HERD_EXPECT(2, "startup", "upstart", "-c", conf);
  const char *badc = write_file("bad.conf", "[web]\nworkers = 1\n");
  HERD_EXPECT(2, "startup", "systemd", "-c", badc);
  CHECK_MSG(strstr(R.err, "bad.conf:1:"), "%s", R.err);
  home_has_no_app();
}

TEST_T(herd_startup_systemd_quotes_odd_paths, 30) {
  /* a config path with a blank, % and $: once written bare, so systemd
   * split it, or refused the unit over the specifier */
  char dir[PATH_MAX], conf[PATH_MAX + 32], text[PATH_MAX + 64];
  home_file(dir, sizeof dir, "my apps 100%$x");
  CHECK(mkdir(dir, 0700) == 0);
  snprintf(conf, sizeof conf, "%s/a b.conf", dir);
  snprintf(text, sizeof text, "[web]\ncommand = \"%s\"\n", hello_http());
  write_file_at(conf, text);
  HERD_OK("startup", "systemd", "-c", conf);
  char want[3 * PATH_MAX];
  snprintf(want, sizeof want, "\nExecStart=%s run -c \"%s/my apps 100%%%%$$x/a b.conf\" %%i\n",
           herd_bin(), home());
  CHECK_MSG(strstr(R.out, want), "no '%s' in:\n%s", want + 1, R.out);
  snprintf(want, sizeof want, "\nDescription=herd app %%i (%s/my apps 100%%%%$x/a b.conf)\n",
           home());
  CHECK_MSG(strstr(R.out, want), "no '%s' in:\n%s", want + 1, R.out);
  snprintf(want, sizeof want, "herd startup systemd -c '%s/my apps 100%%$x/a b.conf' > ",
           home());
  CHECK_MSG(strstr(R.out, want), "no '%s' in:\n%s", want, R.out);
  /* systemd's own check, where it is installed */
  if (access("/usr/bin/systemd-analyze", X_OK) == 0) {
    char udir[PATH_MAX], unit[PATH_MAX + 32];
    home_file(udir, sizeof udir, "units");
    CHECK(mkdir(udir, 0700) == 0);
    snprintf(unit, sizeof unit, "%s/herd@.service", udir);
    write_file_at(unit, R.out);
    snprintf(unit, sizeof unit, "%s/herd@web.service", udir);
    char *argv[] = {"/usr/bin/systemd-analyze", "verify", "--man=no", unit, NULL};
    int st = run_argv(argv, NULL, 0, 20000);
    CHECK_MSG(st == 0 && !strstr(R.err, "rror"), "systemd-analyze verify: exit %d\n%s%s",
              st, R.out, R.err);
  }
}

/* ---- 11. bad input -------------------------------------------------- */

/* A child that listens at HERD_HOME/NAME.sock and answers each of the
 * given replies, one per connection, then exits. */
static pid_t fake_server(const char *name, const char *const *replies) {
  char path[PATH_MAX], rel[128];
  snprintf(rel, sizeof rel, "%s.sock", name);
  home_file(path, sizeof path, rel);
  int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(l >= 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memcpy(sa.sun_path, path, strlen(path) + 1);
  CHECK(bind(l, (struct sockaddr *)&sa, sizeof sa) == 0);
  CHECK(listen(l, 8) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    for (int i = 0; replies[i]; i++) {
      struct pollfd p = {.fd = l, .events = POLLIN};
      if (poll(&p, 1, 20000) <= 0)
        _exit(1);
      int c = accept(l, NULL, NULL);
      if (c < 0)
        _exit(1);
      char b[4096];
      (void)!read(c, b, sizeof b); /* the request */
      send_all(c, replies[i], strlen(replies[i]));
      shutdown(c, SHUT_WR);
      while (read(c, b, sizeof b) > 0)
        ;
      close(c);
    }
    _exit(0);
  }
  close(l);
  return pid;
}

TEST_T(herd_start_bad_input, 60) {
  HERD_EXPECT(1, "status", "nosuch");
  CHECK_MSG(strstr(R.err, "no app named 'nosuch'") && count_lines(R.err) == 1, "%s", R.err);
  HERD_EXPECT(1, "stop", "nosuch");
  HERD_EXPECT(1, "reload", "nosuch");
  HERD_EXPECT(2, "scale", "web", "x");
  HERD_EXPECT(2, "scale", "web", "0");
  HERD_EXPECT(2, "scale", "web");
  HERD_EXPECT(2, "stop");
  HERD_EXPECT(2, "logs", "-n", "x");
  /* names are file names, log tags and systemd instances: a terminal
   * escape, a blank or a non-ASCII letter is refused, as in config files */
  static const char *const bad_names[] = {"a\x1b[31mb", "a b", "h\xc3\xa9llo", ".x", "-x"};
  for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
    HERD_EXPECT(2, "start", "-n", bad_names[i], "--", hello_http());
    CHECK_MSG(strstr(R.err, "must be 1-64 of A-Z a-z 0-9 . _ -"), "%s", R.err);
  }
  HERD_EXPECT(2, "status", "a\x1b[31mb");
  /* numbers as people write them, not as strtod takes them */
  static const char *const bad_durations[] = {"0x10", "1e3", "inf", "nan", "-1s", ".5s", "1.2.3s"};
  for (size_t i = 0; i < sizeof bad_durations / sizeof bad_durations[0]; i++) {
    HERD_EXPECT(2, "start", "-n", "d", "--kill-timeout", bad_durations[i], "--", hello_http());
    CHECK_MSG(strstr(R.err, "is not a duration"), "%s: %s", bad_durations[i], R.err);
  }
  HERD_EXPECT(2, "start", "-n", "d", "--max-memory", "1e3M", "--", hello_http());
  HERD_EXPECT(2, "start", "-n", "d", "--max-memory", "0x100", "--", hello_http());
  /* a missing working directory is named as such */
  HERD_EXPECT(2, "start", "-n", "d", "--cwd", "/herd-no-such-dir", "--", hello_http());
  CHECK_MSG(strstr(R.err, "cwd: /herd-no-such-dir: No such file or directory") &&
                count_lines(R.err) <= 2, "%s", R.err);
  HERD_OK("status", "all"); /* every app, as without NAME: none here */
  CHECK_MSG(strstr(R.out, "no apps in"), "%s", R.out);
  home_has_no_app();

  /* an unusable HERD_HOME: one line, exit 1, nothing started */
  char hh[PATH_MAX + 16];
  const char *env1[] = {"HERD_HOME=/proc/herd-no-such", NULL};
  CHECK_EQ(herd_env(env1, 0, ARGS("start", "-n", "x", "-w", "1", "--", hello_http())), 1);
  CHECK_MSG(count_lines(R.err) == 1 && strstr(R.err, "/proc/herd-no-such"), "%s", R.err);
  CHECK_STR(R.out, "");
  snprintf(hh, sizeof hh, "HERD_HOME=%s", write_file("a-file", "not a directory\n"));
  const char *env2[] = {hh, NULL};
  CHECK_EQ(herd_env(env2, 0, ARGS("start", "-n", "x", "-w", "1", "--", hello_http())), 1);
  CHECK_MSG(count_lines(R.err) == 1 && strstr(R.err, "is not a directory"), "%s", R.err);
  CHECK_STR(R.out, "");

  /* a full disk for the logs: RLIMIT_FSIZE of 64 KiB, inherited by the
   * daemon; the worker writes 2000 lines of 100 bytes */
  CHECK_EQ(herd_env(NULL, 64 << 10,
                    ARGS("start", "-n", "full", "-w", "1", "--", self(), "--helper", "lines",
                         "2000", "100")),
           0);
  pid_t mp = master_pid("full");
  double seen = 0, dropped = 0;
  for (int i = 0; i < 500; i++) {
    const herd_val_t *s = status_of("full");
    seen = logs_num(s, "lines", 0);
    dropped = logs_num(s, "dropped", 0);
    if (seen + dropped >= 2000 && dropped > 0)
      break;
    usleep(20000);
  }
  CHECK_MSG(dropped > 0 && seen + dropped >= 2000, "%.0f lines, %.0f dropped: %s", seen,
            dropped, R.out);
  const char *le = jstr(jget(jget(S, "logs"), "error"), NULL);
  CHECK_MSG(le && strstr(le, "File too large"), "logs.error: %s", R.out);
  HERD_OK("status", "full");
  CHECK_MSG(strstr(R.out, "last log error: File too large"), "%s", R.out);
  CHECK_EQ(master_pid("full"), mp);
  stop_app("full");
  /* not a name: refused as stop, reload and logs refuse it (exit 2),
   * not looked up outside HERD_HOME */
  HERD_EXPECT(2, "stop", "../x");
  HERD_EXPECT(2, "logs", "../x");
  HERD_EXPECT(2, "status", "../x");
}

TEST_T(herd_status_of_a_socket_that_is_not_herds_says_so, 30) {
  /* NAME.sock of another program: a line that is not JSON, JSON that is
   * not a herd reply, bytes without a newline and the end - each time
   * "not a herd control socket", exit 1, one line; list: not-herd */
  const char *replies[] = {"HTTP/1.0 400 Bad Request\r\n\r\n", "{\"hello\":\"world\"}\n",
                           "garbage\n", "\x15\x03\x01\x02\x02\x50", NULL};
  pid_t fake = fake_server("fake", replies);
  for (int i = 0; i < 2; i++) {
    HERD_EXPECT(1, "status", "fake");
    CHECK_MSG(strstr(R.err, "not a herd control socket") && count_lines(R.err) == 1,
              "reply %d: %s", i, R.err);
  }
  HERD_OK("list");
  char line[512];
  CHECK_MSG(line_with(R.out, "fake ", line, sizeof line) && strstr(line, "not-herd"), "%s",
            R.out);
  HERD_EXPECT(1, "status", "fake");
  int st;
  CHECK_EQ(waitpid(fake, &st, 0), fake);
  CHECK_EQ(st, 0);
  CHECK_MSG(strstr(R.err, "not a herd control socket") && count_lines(R.err) == 1,
            "bytes without a newline, then the end: %s", R.err);
}

TEST_T(herd_list_and_status_of_a_busy_master, 60) {
  /* 64 forgotten connections once locked the operator out ("too many
   * control connections" for good): the oldest idle one gives way */
  HERD_OK("start", "-n", "full", "-w", "1", "-l", "127.0.0.1:0", "--", hello_http());
  int fds[64], n = 0;
  char line[4096];
  for (; n < 64; n++) { /* MAX_CONNS: each one taken (its ping answered) */
    fds[n] = ctl_open("full");
    send_all(fds[n], "{\"cmd\":\"ping\"}\n", 15);
    CHECK(read_line(fds[n], line, sizeof line) > 0);
    CHECK_MSG(strstr(line, "\"ok\":true"), "connection %d: %s", n, line);
  }
  HERD_OK("status", "full");
  CHECK_EQ(read_line(fds[0], line, sizeof line), 0); /* the oldest: closed */
  HERD_OK("list");
  CHECK_MSG(line_with(R.out, "full ", line, sizeof line) && strstr(line, " online "), "%s",
            R.out);
  for (int i = 0; i < n; i++)
    close(fds[i]);
  /* a master with its hands full is herd's all the same: once reported
   * as "not a herd control socket", while it carried the request out */
  /* a socket that takes the request and never answers (a master stuck
   * in a long call, or not herd's): "no reply", and busy */
  char path[PATH_MAX];
  home_file(path, sizeof path, "mute.sock");
  int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(l >= 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memcpy(sa.sun_path, path, strlen(path) + 1);
  CHECK(bind(l, (struct sockaddr *)&sa, sizeof sa) == 0);
  CHECK(listen(l, 8) == 0);
  /* (a shorter wait than the 5 s default: the test waits it out twice) */
  const char *quick[] = {"HERD_CTL_TIMEOUT=300", NULL};
  CHECK_EQ(herd_env(quick, 0, ARGS("status", "mute")), 1);
  CHECK_MSG(strstr(R.err, "mute: no reply within 300 ms (the master may be busy") &&
                count_lines(R.err) == 1, "%s", R.err);
  CHECK_EQ(herd_env(quick, 0, ARGS("list")), 0);
  CHECK_MSG(line_with(R.out, "mute ", line, sizeof line) && strstr(line, " busy "), "%s",
            R.out);
  CHECK_MSG(line_with(R.out, "full ", line, sizeof line) && strstr(line, " online "), "%s",
            R.out);
  close(l);
  unlink(path);
  stop_app("full");
}

/* ---- 12. logs -f ---------------------------------------------------- */

/* `herd logs NAME -f --out` of a "lines" worker, and what it printed. */
struct follow {
  struct bg b;
  size_t at;        /* parsed up to here */
  long first, last; /* sequence numbers */
  long n;           /* lines */
  long skip_mark;   /* check continuity from the line after this many */
  long skipped, repeated; /* lines */
  char anomaly[160]; /* the first gap or repeat */
};

static void follow_start(struct follow *f, const char *name, const char *nlines) {
  memset(f, 0, sizeof *f);
  f->first = f->last = -1;
  bg_start(&f->b, ARGS("logs", name, "-f", "-n", nlines, "--out"), 1);
}

/* Read for up to timeout_ms; parse the complete lines. */
static void follow_read(struct follow *f, int timeout_ms) {
  int r = bg_read(&f->b, timeout_ms);
  CHECK_MSG(r >= 0, "herd logs -f ended: %s", f->b.log);
  char *nl;
  while ((nl = memchr(f->b.log + f->at, '\n', f->b.len - f->at))) {
    *nl = '\0';
    const char *text;
    long seq = -1;
    int slot = log_line_slot(f->b.log + f->at, &text);
    CHECK_MSG(slot == 0 && sscanf(text, "line %ld ", &seq) == 1, "herd logs -f printed: %s",
              f->b.log + f->at);
    *nl = '\n';
    f->at = (size_t)(nl - f->b.log) + 1;
    if (f->n > f->skip_mark && seq != f->last + 1) {
      if (seq > f->last)
        f->skipped += seq - f->last - 1;
      else
        f->repeated += f->last - seq + 1;
      if (!f->anomaly[0])
        snprintf(f->anomaly, sizeof f->anomaly, "line %ld came after line %ld", seq, f->last);
    }
    if (f->first < 0)
      f->first = seq;
    f->last = seq;
    f->n++;
  }
  if (f->b.len > sizeof f->b.log / 2) { /* keep the buffer small */
    memmove(f->b.log, f->b.log + f->at, f->b.len - f->at);
    f->b.len -= f->at;
    f->at = 0;
    f->b.log[f->b.len] = '\0';
  }
}

/* Follow until line until (bounded). */
static void follow_until(struct follow *f, long until, int timeout_ms) {
  uint64_t deadline = test_now_ms() + (uint64_t)timeout_ms;
  while (f->last < until && test_now_ms() < deadline)
    follow_read(f, 100);
  CHECK_MSG(f->last >= until, "herd logs -f printed lines %ld..%ld, not up to %ld",
            f->first, f->last, until);
}

TEST_T(herd_logs_prints_a_line_with_a_nul_byte_whole, 30) {
  /* once cut at the NUL, its newline lost: glued to the next line */
  HERD_OK("start", "-n", "nul", "-w", "1", "--", "/bin/sh", "-c",
          "printf 'before\\000after\\nnext line\\n'; exec sleep 100");
  uint64_t deadline = test_now_ms() + 10000;
  do {
    HERD_OK("logs", "nul", "--out");
    if (memmem(R.out, R.out_len, "next line", 9)) /* past the NUL */
      break;
    usleep(20000);
  } while (test_now_ms() < deadline);
  static const char want[] = "before\0after\n";
  CHECK_MSG(memmem(R.out, R.out_len, want, sizeof want - 1), "%s", R.out);
  const char *p = memmem(R.out, R.out_len, want, sizeof want - 1);
  CHECK(p && strstr(p + sizeof want - 1, "] next line\n"));
  stop_app("nul");
}

TEST_T(herd_logs_follow_sees_new_lines_across_rotation, 60) {
  /* a line every 10 ms; 129-byte log lines, 8K files: a rotation about
   * every 63 lines */
  HERD_OK("start", "-n", "fo", "-w", "1", "--log-max-size", "8K", "--log-keep", "3", "--",
          self(), "--helper", "lines", "1000000", "100", "10");
  struct follow f;
  follow_start(&f, "fo", "1");
  /* the first line may be the tail's (-n 1): continuity from the next */
  f.skip_mark = 1;
  while (f.n < 2)
    follow_until(&f, f.last + 1, 10000);
  double rot0 = logs_num(status_of("fo"), "rotations", -1);
  follow_until(&f, f.last + 250, 20000);
  double rot1 = logs_num(status_of("fo"), "rotations", -1);
  CHECK_MSG(rot1 - rot0 >= 2, "only %.0f rotations while following", rot1 - rot0);
  CHECK_MSG(!f.anomaly[0], "herd logs -f: %ld lines skipped, %ld printed again (first: %s)",
            f.skipped, f.repeated, f.anomaly);
  CHECK_EQ(bg_end(&f.b, SIGTERM), 128 + SIGTERM);
  stop_app("fo");
}

TEST_T(herd_logs_follow_two_rotations_behind_prints_each_line_once, 60) {
  /* A follower that falls behind (a slow terminal, a stopped pager) by
   * two rotations finds two "file created" events queued: each line must
   * still come once - not the newest file twice. */
  HERD_OK("start", "-n", "fb", "-w", "1", "--log-max-size", "8K", "--log-keep", "5", "--",
          self(), "--helper", "lines", "1000000", "100", "10");
  struct follow f;
  follow_start(&f, "fb", "0");
  follow_until(&f, 0, 10000);
  follow_until(&f, f.first + 20, 10000);
  CHECK_MSG(!f.anomaly[0], "herd logs -f: %s", f.anomaly);
  /* stopped while the log rotates twice */
  CHECK_OK(herd_child_kill(&f.b.c, SIGSTOP, 0));
  double rot0 = logs_num(status_of("fb"), "rotations", -1), rot = rot0;
  for (int i = 0; i < 200 && rot < rot0 + 2; i++) {
    usleep(50000);
    rot = logs_num(status_of("fb"), "rotations", -1);
  }
  CHECK_MSG(rot >= rot0 + 2, "%.0f rotations in 10 s", rot - rot0);
  CHECK_OK(herd_child_kill(&f.b.c, SIGCONT, 0));
  follow_until(&f, f.last + 300, 20000);
  CHECK_MSG(!f.anomaly[0],
            "herd logs -f, two rotations behind: %ld lines skipped, %ld printed again "
            "(first: %s)",
            f.skipped, f.repeated, f.anomaly);
  CHECK_EQ(bg_end(&f.b, SIGTERM), 128 + SIGTERM);
  stop_app("fb");
}

/* ---- 13. a herd run app ------------------------------------------- */

TEST_T(herd_run_app_takes_the_control_commands, 60) {
  struct bg h;
  bg_start(&h, ARGS("run", "-n", "fg", "-w", "2", "-l", "127.0.0.1:0", "--", hello_http()), 0);
  CHECK_MSG(bg_wait(&h, "all 2 workers ready", 15000), "herd run said: %s", h.log);
  const herd_val_t *st = status_of("fg");
  CHECK_STR(jstr(jget(st, "mode"), ""), "run");
  CHECK_EQ(jnum(jget(st, "pid"), 0), h.c.pid);
  CHECK_EQ(jtype(jget(st, "logs")), HERD_VAL_NULL);
  int port = app_port("fg");
  HERD_OK("status", "fg");
  CHECK_MSG(strstr(R.out, "2/2 workers ready"), "%s", R.out);
  HERD_OK("list");
  char line[512];
  CHECK_MSG(line_with(R.out, "fg ", line, sizeof line) && strstr(line, "online"), "%s",
            R.out);
  HERD_OK("scale", "fg", "3");
  CHECK_STR(R.out, "fg: scaled to 3 workers\n");
  pid_t before[8], after[8];
  int all;
  CHECK_EQ(ready_pids(status_of("fg"), before, 8, &all), 3);
  CHECK(all);
  HERD_OK("reload", "fg");
  CHECK_STR(R.out, "fg: reloaded, 3 workers ready\n");
  CHECK_EQ(ready_pids(status_of("fg"), after, 8, &all), 3);
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 3; k++)
      CHECK_MSG(after[i] != before[k], "pid %d survived the reload", (int)after[i]);
  HERD_OK("scale", "fg", "-1");
  CHECK_STR(R.out, "fg: scaled to 2 workers\n");
  HERD_OK("restart", "fg");
  CHECK_STR(R.out, "fg: restarted, 2 workers ready\n");
  char body[64];
  CHECK_MSG(http_get(port, "/", body, sizeof body) == 200, "%s", last_err);
  /* no log files: logs says so, --reopen is refused */
  HERD_EXPECT(1, "logs", "fg");
  CHECK_MSG(strstr(R.err, "foreground"), "%s", R.err);
  HERD_EXPECT(1, "logs", "--reopen", "fg");
  CHECK_MSG(strstr(R.err, "no log files"), "%s", R.err);
  /* the events are on herd run's stderr, as ever */
  CHECK_MSG(bg_wait(&h, "reload done", 5000), "%s", h.log);
  stop_app("fg");
  bg_wait(&h, "\x01(to its end)", 20000);
  CHECK_EQ(bg_end(&h, 0), 0);
  CHECK_MSG(strstr(h.log, "stop requested by the control socket"), "%s", h.log);
  CHECK_MSG(!strstr(h.log, "Sanitizer") && !strstr(h.log, "runtime error:"), "%s", h.log);
}

TEST_T(herd_run_log_files_writes_the_workers_output_to_files, 30) {
  /* herd run --log-files: the workers' lines go to the log files (as
   * with start), not to herd run's stdout; logs and --reopen work */
  struct bg h;
  bg_start(&h, ARGS("run", "-n", "lf", "-w", "1", "--log-files", "--", "/bin/sh", "-c",
                    "echo to-out; echo to-err >&2; exec sleep 1000"), 0);
  CHECK_MSG(bg_wait(&h, "1 worker ready", 15000), "herd run said: %s", h.log);
  const herd_val_t *st = status_of("lf");
  CHECK_EQ(jtype(jget(st, "logs")), HERD_VAL_OBJECT);
  int seen = 0;
  for (int i = 0; i < 500 && !seen; i++) {
    HERD_OK("logs", "lf");
    seen = strstr(R.out, "lf-out | ") && strstr(R.out, "[0] to-out") &&
           strstr(R.out, "lf-err | ") && strstr(R.out, "[0] to-err");
    if (!seen)
      usleep(10000);
  }
  CHECK_MSG(seen, "herd logs lf: %s", R.out);
  HERD_OK("logs", "--reopen", "lf");
  CHECK_STR(R.out, "lf: log files reopened\n");
  stop_app("lf");
  bg_wait(&h, "\x01(to its end)", 20000);
  CHECK_EQ(bg_end(&h, 0), 0);
  /* not on herd run's stderr (its stdout is not read here): the
   * events only */
  CHECK_MSG(!strstr(h.log, "to-out") && !strstr(h.log, "to-err"), "%s", h.log);
}

TEST_T(herd_scale_down_then_up_before_the_old_worker_is_gone, 30) {
  /* the slot scaled away is wanted again while its worker still stops:
   * a new one starts once it has exited, and scale returns */
  HERD_OK("start", "-n", "sw", "-w", "2", "--", "/bin/sh", "-c",
          "trap 'sleep 0.5; exit 0' TERM; while :; do sleep 0.05; done");
  HERD_OK("scale", "sw", "1");
  CHECK_STR(R.out, "sw: scaled to 1 worker\n");
  HERD_OK("scale", "sw", "2");
  CHECK_STR(R.out, "sw: scaled to 2 workers\n");
  pid_t pids[4];
  int all;
  CHECK_EQ(ready_pids(status_of("sw"), pids, 4, &all), 2);
  CHECK(all);
  stop_app("sw");
}

TEST_T(herd_half_closed_client_gets_the_final_reply, 30) {
  /* echo '{"cmd":"reload"}' | socat ...: the client shuts its writing
   * side; the pending reply and the result still reach it */
  HERD_OK("start", "-n", "hc", "-w", "1", "-l", "127.0.0.1:0", "--ready", "300ms", "--",
          hello_http());
  char path[PATH_MAX];
  home_file(path, sizeof path, "hc.sock");
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  CHECK(strlen(path) < sizeof sa.sun_path);
  memcpy(sa.sun_path, path, strlen(path) + 1);
  CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  static const char req[] = "{\"cmd\":\"reload\"}\n";
  CHECK(write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1));
  CHECK(shutdown(fd, SHUT_WR) == 0);
  char buf[512];
  size_t got = 0;
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    CHECK_MSG(poll(&p, 1, 10000) == 1, "no reply within 10 s: %.*s", (int)got, buf);
    ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  close(fd);
  buf[got] = '\0';
  CHECK_MSG(strstr(buf, "\"pending\":\"reload\"") && strstr(buf, "{\"ok\":true,\"workers\":1}"),
            "%s", buf);
  stop_app("hc");
}
