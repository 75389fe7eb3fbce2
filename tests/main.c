/*
 * main.c - the one test runner: every TEST, then every tests/sh/NAME.sh,
 * each in its own process with a timeout. Prints one line per failed or
 * skipped test with its reason, and ends with
 * "N passed, N failed[, N skipped]".
 *
 *   herd-test                 run everything
 *   herd-test NAME...         run the tests whose names contain NAME
 *   herd-test -v              also print each passing test
 *   herd-test -j N            run N tests at a time (each has its own
 *                             HERD_HOME; timing-sensitive tests may
 *                             suffer on a small machine)
 *   herd-test --tap           TAP (version 13) instead of the summary
 *   herd-test --list          list the tests
 *   herd-test --helper ROLE   act as a helper child (helpers.c)
 *
 * Environment: HERD_BUILD (the build dir, for shell tests), HERD_TEST_SH
 * (the folder of shell tests, default tests/sh).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define MAX_TESTS 2048
#define SKIP_STATUS 77

struct test {
  char name[128];
  test_fn fn;         /* NULL for a shell test */
  char path[PATH_MAX]; /* shell test */
  int timeout_s;
};

static struct test tests[MAX_TESTS];
static int ntests;
static int report_fd = -1;
static char self_path[PATH_MAX];

void test_register(const char *name, test_fn fn, int timeout_s) {
  if (ntests == MAX_TESTS) {
    fprintf(stderr, "herd-test: too many tests (raise MAX_TESTS)\n");
    exit(2);
  }
  struct test *t = &tests[ntests++];
  snprintf(t->name, sizeof t->name, "%s", name);
  t->fn = fn;
  t->timeout_s = timeout_s;
}

static void report(const char *prefix, const char *fmt, va_list ap) {
  char buf[2048];
  int n = snprintf(buf, sizeof buf, "%s", prefix);
  if (n < 0)
    n = 0;
  vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
  if (report_fd >= 0) {
    size_t len = strlen(buf);
    ssize_t w = write(report_fd, buf, len);
    (void)w;
  } else {
    fprintf(stderr, "%s\n", buf);
  }
}

void test_fail(const char *file, int line, const char *fmt, ...) {
  char prefix[256];
  snprintf(prefix, sizeof prefix, "%s:%d: ", file, line);
  va_list ap;
  va_start(ap, fmt);
  report(prefix, fmt, ap);
  va_end(ap);
  _exit(1); /* no LSan report of a test that failed half-way */
}

void test_skip(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report("", fmt, ap);
  va_end(ap);
  _exit(SKIP_STATUS);
}

const char *test_self(void) {
  return self_path;
}

int test_count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    test_fail(__FILE__, __LINE__, "opendir /proc/self/fd: %s",
              strerror(errno));
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1; /* the DIR's own fd */
}

int test_connect_port(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = -errno;
    close(fd);
    return e;
  }
  return fd;
}

void test_send_with_fd(int sock, const char *line, int fd) {
  struct iovec iov = {.iov_base = (void *)line, .iov_len = strlen(line)};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr mh = {.msg_iov = &iov,
                      .msg_iovlen = 1,
                      .msg_control = u.buf,
                      .msg_controllen = sizeof u.buf};
  struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cm), &fd, sizeof fd);
  CHECK_EQ(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t)strlen(line));
}

void test_read_line(int fd, char *buf, size_t n) {
  size_t got = 0;
  buf[0] = '\0';
  while (!strchr(buf, '\n')) {
    CHECK_MSG(got < n - 1, "no line in %zu bytes: %s", got, buf);
    ssize_t r = read(fd, buf + got, n - 1 - got);
    CHECK_MSG(r > 0, "read: %zd", r);
    got += (size_t)r;
    buf[got] = '\0';
  }
}

char *test_read_all(int fd, size_t *lenp) {
  size_t cap = 4096, len = 0;
  char *b = malloc(cap);
  if (!b)
    test_fail(__FILE__, __LINE__, "out of memory");
  for (;;) {
    if (cap - len < 4096) {
      cap *= 2;
      b = realloc(b, cap);
      if (!b)
        test_fail(__FILE__, __LINE__, "out of memory");
    }
    ssize_t n = read(fd, b + len, cap - len - 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      test_fail(__FILE__, __LINE__, "read: %s", strerror(errno));
    if (n == 0)
      break;
    len += (size_t)n;
  }
  b[len] = '\0';
  if (lenp)
    *lenp = len;
  return b;
}

uint64_t test_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* In the test's process: run it, then insist that no child is left. */
static void run_in_child(const struct test *t) {
  if (t->fn) {
    t->fn();
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0) {
      if (si.si_pid != 0)
        test_fail(__FILE__, __LINE__,
                  "test left an unreaped child (zombie) pid %d", si.si_pid);
      test_fail(__FILE__, __LINE__, "test left a child process running");
    }
    exit(0); /* exit, not _exit: sanitizers check for leaks here */
  }
  char *argv[] = {"/bin/sh", (char *)t->path, NULL};
  execv("/bin/sh", argv);
  fprintf(stderr, "exec /bin/sh: %s\n", strerror(errno));
  _exit(1);
}

/* Keep the last ~1.5 KiB of a shell test's output, for its failure line. */
static void tail_append(char *tail, size_t *tlen, size_t cap, const char *b,
                        size_t n) {
  if (n >= cap) {
    memcpy(tail, b + n - cap, cap);
    *tlen = cap;
    return;
  }
  if (*tlen + n > cap) {
    size_t drop = *tlen + n - cap;
    memmove(tail, tail + drop, *tlen - drop);
    *tlen -= drop;
  }
  memcpy(tail + *tlen, b, n);
  *tlen += n;
}

/* A test running: its process (pidfd), its report pipe, its home. */
struct run {
  const struct test *t;
  pid_t pid;
  int pidfd, out;
  char tail[1536];
  size_t tlen;
  uint64_t t0, deadline;
  char home[64];
};

/* Start one (in its own process group, with its own HERD_HOME). Returns
 * 0, or -1 with the reason in msg. */
static int run_start(struct run *r, const struct test *t, char *msg, size_t msgcap) {
  memset(r, 0, sizeof *r);
  r->t = t;
  r->pidfd = r->out = -1;
  snprintf(r->home, sizeof r->home, "/tmp/herd-test-home.XXXXXX");
  if (!mkdtemp(r->home)) {
    snprintf(msg, msgcap, "mkdtemp: %s", strerror(errno));
    return -1;
  }
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) < 0) {
    snprintf(msg, msgcap, "pipe: %s", strerror(errno));
    return -1;
  }
  fflush(stdout);
  fflush(stderr);
  r->t0 = test_now_ms();
  r->deadline = r->t0 + (uint64_t)t->timeout_s * 1000u;
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(msg, msgcap, "fork: %s", strerror(errno));
    close(pfd[0]);
    close(pfd[1]);
    return -1;
  }
  if (pid == 0) {
    close(pfd[0]);
    setpgid(0, 0); /* the runner can kill everything the test started */
    setenv("HERD_HOME", r->home, 1);
    if (t->fn) {
      report_fd = pfd[1];
    } else {
      /* Shell tests: both outputs into the pipe, stdin from /dev/null. */
      int nul = open("/dev/null", O_RDONLY);
      if (nul < 0 || dup2(nul, 0) < 0 || dup2(pfd[1], 1) < 0 || dup2(pfd[1], 2) < 0)
        _exit(1);
    }
    run_in_child(t);
  }
  close(pfd[1]);
  r->pid = pid;
  r->out = pfd[0];
  r->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  return 0;
}

/* What the test wrote: a C test's own report (its start, file:line,
 * matters most), a shell test's last lines. */
static void run_read(struct run *r) {
  char b[4096];
  ssize_t n = read(r->out, b, sizeof b);
  if (n <= 0) {
    close(r->out);
    r->out = -1;
    return;
  }
  if (r->t->fn) {
    size_t room = sizeof r->tail - 1 - r->tlen;
    size_t k = (size_t)n < room ? (size_t)n : room;
    memcpy(r->tail + r->tlen, b, k);
    r->tlen += k;
  } else {
    tail_append(r->tail, &r->tlen, sizeof r->tail - 1, b, (size_t)n);
  }
}

/* It has exited, or its time is up (timed_out): reap it, classify.
 * Returns 0 pass, 1 fail, 2 skip; msg gets the reason. */
static int run_end(struct run *r, int timed_out, char *msg, size_t msgcap) {
  int status = 0;
  if (timed_out) {
    kill(-r->pid, SIGKILL);
    kill(r->pid, SIGKILL);
  }
  while (waitpid(r->pid, &status, 0) < 0 && errno == EINTR)
    ;
  /* Anything the test left in its group dies with it. */
  kill(-r->pid, SIGKILL);
  /* Drain what is left of the output without blocking on a grandchild
   * that still holds the pipe. */
  if (r->out >= 0) {
    fcntl(r->out, F_SETFL, O_NONBLOCK);
    for (;;) {
      char b[4096];
      ssize_t n = read(r->out, b, sizeof b);
      if (n <= 0)
        break;
      tail_append(r->tail, &r->tlen, sizeof r->tail - 1, b, (size_t)n);
    }
    close(r->out);
    r->out = -1;
  }
  if (r->pidfd >= 0)
    close(r->pidfd);
  /* Trim trailing newlines; for shell tests keep the last lines. */
  size_t tlen = r->tlen;
  char *tail = r->tail;
  while (tlen && (tail[tlen - 1] == '\n' || tail[tlen - 1] == ' '))
    tlen--;
  tail[tlen] = '\0';
  const char *text = tail;
  if (!r->t->fn && WIFEXITED(status) && WEXITSTATUS(status) == SKIP_STATUS) {
    /* One line for a skip: the last line of the output. */
    const char *nl = strrchr(tail, '\n');
    text = nl ? nl + 1 : tail;
  }
  if (timed_out) {
    snprintf(msg, msgcap, "timed out after %d s%s%s", r->t->timeout_s, tlen ? ": " : "",
             text);
    return 1;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    msg[0] = '\0';
    return 0;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == SKIP_STATUS) {
    snprintf(msg, msgcap, "%s", text);
    return 2;
  }
  if (WIFSIGNALED(status))
    snprintf(msg, msgcap, "killed by signal %d (%s)%s%s", WTERMSIG(status),
             strsignal(WTERMSIG(status)), tlen ? ": " : "", text);
  else
    snprintf(msg, msgcap, "exit %d%s%s", WEXITSTATUS(status), tlen ? ": " : "",
             tlen ? text : "");
  return 1;
}

/* Each test gets a HERD_HOME of its own: apps of one test never meet
 * another's. A herd master left running in it (a daemon is nobody's
 * child: the process-group kill does not reach it) is killed by its pid
 * file's lock holder, and the test fails. */
static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  (void)remove(path);
  return 0;
}

static int home_cleanup(const char *home, char *msg, size_t msgcap) {
  int left = 0;
  DIR *d = opendir(home);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (l < 5 || strcmp(e->d_name + l - 4, ".pid"))
      continue;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", home, e->d_name);
    pid_t pid = herd_pidfile_check(path);
    if (pid > 0) {
      int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
      kill(pid, SIGKILL);
      if (pfd >= 0) {
        struct pollfd p = {.fd = pfd, .events = POLLIN};
        poll(&p, 1, 5000);
        close(pfd);
      }
      if (!left++)
        snprintf(msg, msgcap, "test left a herd master running (pid %d, %s)",
                 (int)pid, e->d_name);
    }
  }
  if (d)
    closedir(d);
  nftw(home, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return left;
}

static int cmp_name(const void *a, const void *b) {
  return strcmp(((const struct test *)a)->name, ((const struct test *)b)->name);
}

static void add_shell_tests(void) {
  const char *dir = getenv("HERD_TEST_SH");
  if (!dir)
    dir = "tests/sh";
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (n < 4 || strcmp(e->d_name + n - 3, ".sh") != 0 || ntests == MAX_TESTS)
      continue;
    struct test *t = &tests[ntests++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "sh/%.*s", (int)(n - 3), e->d_name);
    snprintf(t->path, sizeof t->path, "%s/%s", dir, e->d_name);
    t->timeout_s = 300;
  }
  closedir(d);
}

/* The results, as they come: one line per failure or skip (every test
 * with -v), or TAP. */
struct tally {
  int passed, failed, skipped, n, verbose, tap;
};

static void tell(struct tally *y, const struct test *t, int r, const char *msg, uint64_t ms) {
  y->n++;
  if (r == 0)
    y->passed++;
  else if (r == 2)
    y->skipped++;
  else
    y->failed++;
  if (y->tap) {
    /* one line each: a reason's newlines would break the stream */
    char one[2048];
    snprintf(one, sizeof one, "%s", msg);
    for (char *p = one; *p; p++)
      if (*p == '\n')
        *p = ' ';
    if (r == 0)
      printf("ok %d - %s\n", y->n, t->name);
    else if (r == 2)
      printf("ok %d - %s # SKIP %s\n", y->n, t->name, one);
    else
      printf("not ok %d - %s # %s\n", y->n, t->name, one);
  } else if (r == 0) {
    if (y->verbose)
      printf("ok   %s (%llu ms)\n", t->name, (unsigned long long)ms);
  } else if (r == 2) {
    printf("SKIP %s: %s\n", t->name, msg);
  } else {
    printf("FAIL %s: %s\n", t->name, msg);
  }
  fflush(stdout);
}

static void finish(struct tally *y, struct run *r, int timed_out) {
  char msg[2048];
  int res = run_end(r, timed_out, msg, sizeof msg);
  size_t k = strlen(msg);
  if (home_cleanup(r->home, res == 0 ? msg : msg + k, res == 0 ? sizeof msg : sizeof msg - k) &&
      res != 1)
    res = 1;
  tell(y, r->t, res, msg, test_now_ms() - r->t0);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--helper") == 0)
    return test_helper_main(argc, argv);

  ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
  if (n < 0) {
    perror("readlink /proc/self/exe");
    return 2;
  }
  self_path[n] = '\0';

  struct tally y = {0};
  int list = 0, jobs = 1;
  const char *filters[64];
  int nfilters = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-v") == 0)
      y.verbose = 1;
    else if (strcmp(argv[i], "--list") == 0)
      list = 1;
    else if (strcmp(argv[i], "--tap") == 0)
      y.tap = 1;
    else if (strcmp(argv[i], "-j") == 0 && i + 1 < argc && atoi(argv[i + 1]) > 0)
      jobs = atoi(argv[++i]);
    else if (!strncmp(argv[i], "-j", 2) && atoi(argv[i] + 2) > 0)
      jobs = atoi(argv[i] + 2);
    else if (argv[i][0] == '-') {
      fprintf(stderr, "herd-test: unknown option %s (-v, -j N, --tap, --list, "
              "--helper ROLE)\n", argv[i]);
      return 2;
    } else if (nfilters < 64)
      filters[nfilters++] = argv[i];
  }
  if (jobs > 64)
    jobs = 64;
  qsort(tests, (size_t)ntests, sizeof tests[0], cmp_name);
  add_shell_tests();

  const struct test *sel[MAX_TESTS];
  int nsel = 0;
  for (int i = 0; i < ntests; i++) {
    int match = !nfilters;
    for (int f = 0; f < nfilters; f++)
      match |= strstr(tests[i].name, filters[f]) != NULL;
    if (match)
      sel[nsel++] = &tests[i];
  }
  if (list) {
    for (int i = 0; i < nsel; i++)
      printf("%s\n", sel[i]->name);
    return 0;
  }
  if (y.tap)
    printf("TAP version 13\n1..%d\n", nsel);

  /* Up to jobs tests at a time, each ended by its exit or its deadline. */
  struct run runs[64];
  int nrun = 0, next = 0;
  while (next < nsel || nrun > 0) {
    while (nrun < jobs && next < nsel) {
      char msg[512];
      if (run_start(&runs[nrun], sel[next], msg, sizeof msg) < 0) {
        tell(&y, sel[next], 1, msg, 0);
        next++;
        continue;
      }
      nrun++;
      next++;
    }
    struct pollfd p[128];
    int np = 0;
    uint64_t now = test_now_ms(), soon = UINT64_MAX;
    for (int i = 0; i < nrun; i++) {
      p[np++] = (struct pollfd){.fd = runs[i].out, .events = POLLIN};
      p[np++] = (struct pollfd){.fd = runs[i].pidfd, .events = POLLIN};
      if (runs[i].deadline < soon)
        soon = runs[i].deadline;
    }
    int wait = soon <= now ? 0 : soon - now > 60000 ? 60000 : (int)(soon - now);
    if (poll(p, (nfds_t)np, wait) < 0 && errno != EINTR) {
      perror("herd-test: poll");
      return 2;
    }
    now = test_now_ms();
    for (int i = 0; i < nrun;) {
      struct run *r = &runs[i];
      if (r->out >= 0 && (p[2 * i].revents & (POLLIN | POLLHUP)))
        run_read(r);
      int exited = r->pidfd >= 0 && (p[2 * i + 1].revents & POLLIN);
      int late = now >= r->deadline;
      if (exited || late) {
        finish(&y, r, !exited);
        runs[i] = runs[--nrun];
        /* p[] no longer matches runs[] past i: look again next turn */
        break;
      }
      i++;
    }
  }
  if (y.tap)
    printf("# %d passed, %d failed, %d skipped\n", y.passed, y.failed, y.skipped);
  else if (y.skipped)
    printf("%d passed, %d failed, %d skipped\n", y.passed, y.failed, y.skipped);
  else
    printf("%d passed, %d failed\n", y.passed, y.failed);
  return y.failed ? 1 : 0;
}
