/*
 * daemon_test.c - herd_daemonize, the pid files and examples/daemon.
 *
 * A daemon is not the test's child: every test kills and waits for each
 * daemon it started through a pidfd (daemon_stop). The daemons started
 * here through start_daemon also watch the test process through a pidfd
 * and _exit when it is gone, so a test that fails half-way leaves none
 * behind. What the kernel says about a daemon is read from /proc/PID,
 * not taken from the library.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

/* ---- helpers ------------------------------------------------------ */

static int pidfd_of(pid_t pid) {
  return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* 1 once the pidfd is readable (the process exited), 0 on timeout. */
static int pidfd_wait(int pfd, int timeout_ms) {
  uint64_t deadline = test_now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    struct pollfd p = {.fd = pfd, .events = POLLIN};
    uint64_t now = test_now_ms();
    int r = poll(&p, 1, now >= deadline ? 0 : (int)(deadline - now));
    if (r < 0 && errno == EINTR)
      continue;
    CHECK_MSG(r >= 0, "poll: %s", strerror(errno));
    return r == 1;
  }
}

/* Wait until PID (not our child) is gone; 1 if it is, 0 on timeout. */
static int pid_gone(pid_t pid, int timeout_ms) {
  int pfd = pidfd_of(pid);
  if (pfd < 0) {
    CHECK_MSG(errno == ESRCH, "pidfd_open(%d): %s", (int)pid,
              strerror(errno));
    return 1;
  }
  int r = pidfd_wait(pfd, timeout_ms);
  close(pfd);
  return r;
}

/* Send SIG to a daemon and wait until it is gone. */
static void daemon_signal_wait(pid_t pid, int sig) {
  int pfd = pidfd_of(pid);
  if (pfd < 0) {
    CHECK_MSG(errno == ESRCH, "pidfd_open(%d): %s", (int)pid,
              strerror(errno));
    return;
  }
  if (syscall(SYS_pidfd_send_signal, pfd, sig, NULL, 0) < 0)
    CHECK_MSG(errno == ESRCH, "pidfd_send_signal: %s", strerror(errno));
  CHECK_MSG(pidfd_wait(pfd, 10000), "daemon %d outlived signal %d",
            (int)pid, sig);
  close(pfd);
}

static void daemon_stop(pid_t pid) {
  daemon_signal_wait(pid, SIGKILL);
}

typedef void (*daemon_body)(int status_fd, void *arg);

/* herd_daemonize; in the daemon, run body (which must not use CHECK: it
 * is not the test process), then wait until the test process is gone
 * (at most 60 s) and _exit. Returns what herd_daemonize returned. */
static pid_t start_daemon(const herd_daemon_opts_t *o, int *status_fd,
                          daemon_body body, void *arg) {
  int guard = pidfd_of(getpid());
  CHECK_MSG(guard >= 0, "pidfd_open(self): %s", strerror(errno));
  if (guard < 3) { /* not where the daemon's stdio goes */
    int g = fcntl(guard, F_DUPFD_CLOEXEC, 3);
    CHECK(g >= 3);
    close(guard);
    guard = g;
  }
  pid_t pid = herd_daemonize(o, status_fd);
  if (pid == 0) {
    if (body)
      body(status_fd ? *status_fd : -1, arg);
    struct pollfd p = {.fd = guard, .events = POLLIN};
    (void)poll(&p, 1, 60000);
    _exit(0);
  }
  close(guard);
  return pid;
}

/* Write all of s to fd, from a daemon (no CHECK). */
static void say(int fd, const char *s) {
  size_t len = strlen(s);
  while (len > 0) {
    ssize_t n = write(fd, s, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
    s += n;
    len -= (size_t)n;
  }
}

/* Read from fd until a '\n' (or EOF), bounded in time. Returns the
 * length (0 at EOF at once). */
static size_t read_line_fd(int fd, char *buf, size_t cap, int timeout_ms) {
  size_t len = 0;
  uint64_t deadline = test_now_ms() + (uint64_t)timeout_ms;
  while (len + 1 < cap) {
    uint64_t now = test_now_ms();
    CHECK_MSG(now < deadline, "no line (got \"%.*s\")", (int)len, buf);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, (int)(deadline - now));
    if (r < 0 && errno == EINTR)
      continue;
    CHECK_MSG(r >= 0, "poll: %s", strerror(errno));
    if (r == 0)
      continue;
    ssize_t n = read(fd, buf + len, 1);
    if (n < 0 && errno == EINTR)
      continue;
    CHECK_MSG(n >= 0, "read: %s", strerror(errno));
    if (n == 0)
      break;
    if (buf[len++] == '\n')
      break;
  }
  buf[len] = '\0';
  return len;
}

static char *slurp(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  CHECK_MSG(fd >= 0, "open %s: %s", path, strerror(errno));
  char *b = test_read_all(fd, NULL);
  close(fd);
  return b;
}

static char *proc_file(pid_t pid, const char *what) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
  return slurp(path);
}

static void proc_link(pid_t pid, const char *what, char *buf, size_t cap) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
  ssize_t n = readlink(path, buf, cap - 1);
  CHECK_MSG(n >= 0, "readlink %s: %s", path, strerror(errno));
  buf[n] = '\0';
}

struct pstat {
  char state;
  long ppid, pgrp, session, tty_nr;
};

/* /proc/PID/stat, fields 3-7. */
static void proc_stat(pid_t pid, struct pstat *st) {
  char *s = proc_file(pid, "stat");
  char *p = strrchr(s, ')');
  CHECK(p != NULL);
  CHECK_EQ(sscanf(p + 2, "%c %ld %ld %ld %ld", &st->state, &st->ppid,
                  &st->pgrp, &st->session, &st->tty_nr),
           5);
  free(s);
}

/* A "Name:\tvalue" line of /proc/PID/status, into buf. */
static void proc_status_field(pid_t pid, const char *name, char *buf,
                              size_t cap) {
  char *s = proc_file(pid, "status");
  char key[64];
  snprintf(key, sizeof key, "\n%s:", name);
  char *p = strstr(s, key);
  CHECK_MSG(p != NULL, "no %s in /proc/%d/status", name, (int)pid);
  p += strlen(key);
  while (*p == '\t' || *p == ' ')
    p++;
  size_t n = strcspn(p, "\n");
  CHECK(n < cap);
  memcpy(buf, p, n);
  buf[n] = '\0';
  free(s);
}

static unsigned proc_umask(pid_t pid) {
  char b[32];
  proc_status_field(pid, "Umask", b, sizeof b);
  return (unsigned)strtoul(b, NULL, 8);
}

/* Is q pid 1 or an ancestor of this process (where a subreaper can be)? */
static int init_or_ancestor(pid_t q) {
  if (q == 1)
    return 1;
  pid_t p = getppid();
  for (int depth = 0; p > 1 && depth < 64; depth++) {
    if (p == q)
      return 1;
    struct pstat st;
    proc_stat(p, &st);
    p = (pid_t)st.ppid;
  }
  return 0;
}

static void make_tmpdir(char *buf, size_t cap) {
  snprintf(buf, cap, "/tmp/herd-daemon-XXXXXX");
  CHECK_MSG(mkdtemp(buf) != NULL, "mkdtemp: %s", strerror(errno));
}

/* The temp dirs hold plain files only. */
static void rm_tmpdir(const char *dir) {
  DIR *d = opendir(dir);
  CHECK_MSG(d != NULL, "opendir %s: %s", dir, strerror(errno));
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    CHECK_MSG(unlink(p) == 0, "unlink %s: %s", p, strerror(errno));
  }
  closedir(d);
  CHECK_MSG(rmdir(dir) == 0, "rmdir %s: %s", dir, strerror(errno));
}

static void join(char *buf, size_t cap, const char *dir, const char *name) {
  int n = snprintf(buf, cap, "%s/%s", dir, name);
  CHECK(n > 0 && (size_t)n < cap);
}

/* No child at all, running or exited (ECHILD). */
static void check_no_children(void) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  int r = waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT);
  CHECK_MSG(r < 0 && errno == ECHILD,
            "a child is left (waitid %d, pid %d)", r, (int)si.si_pid);
}

static void write_file(const char *path, const char *s) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  CHECK_MSG(fd >= 0, "open %s: %s", path, strerror(errno));
  CHECK_EQ(write(fd, s, strlen(s)), (ssize_t)strlen(s));
  close(fd);
}

static void check_file_is_pid(const char *path, pid_t pid) {
  char want[32];
  snprintf(want, sizeof want, "%d\n", (int)pid);
  char *s = slurp(path);
  CHECK_STR(s, want);
  free(s);
}

static int count_fds_nocheck(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1;
}

/* ---- herd_daemonize ------------------------------------------------ */

TEST(daemonize_parent_gets_pid) {
  /* A mask of our own, which the daemon must keep (and not the full one
   * herd_daemonize blocks around its forks). */
  sigset_t usr1, old;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  CHECK_EQ(sigprocmask(SIG_BLOCK, &usr1, &old), 0);
  char ourblk[64];
  proc_status_field(getpid(), "SigBlk", ourblk, sizeof ourblk);

  pid_t pid = start_daemon(NULL, NULL, NULL, NULL);
  CHECK_MSG(pid > 0, "herd_daemonize: %d (%s)", (int)pid,
            herd_strerror(pid));
  /* The intermediate was reaped before the return, the daemon is no
   * child of ours. */
  check_no_children();

  struct pstat st;
  proc_stat(pid, &st);
  CHECK(st.state != 'Z');
  /* Re-parented: not to us, and to a live process (init or a subreaper
   * above us), not to the intermediate, which is gone. */
  CHECK(st.ppid != getpid());
  CHECK_MSG(init_or_ancestor((pid_t)st.ppid),
            "daemon's parent %ld is neither 1 nor an ancestor of the test",
            st.ppid);
  /* A session of its own, which it does not lead (the intermediate led
   * it, and is gone), so it can never get a controlling terminal. */
  CHECK_EQ(getsid(pid), st.session);
  CHECK(st.session != getsid(0));
  CHECK(st.session != pid);
  CHECK(st.pgrp != pid);
  CHECK_EQ(kill((pid_t)st.session, 0), -1);
  CHECK_EQ(errno, ESRCH);
  CHECK_EQ(st.tty_nr, 0);

  char link[PATH_MAX];
  proc_link(pid, "cwd", link, sizeof link);
  CHECK_STR(link, "/");
  CHECK_EQ(proc_umask(pid), 027);
  for (int i = 0; i < 3; i++) {
    char what[16];
    snprintf(what, sizeof what, "fd/%d", i);
    proc_link(pid, what, link, sizeof link);
    CHECK_STR(link, "/dev/null");
  }
  char blk[64];
  proc_status_field(pid, "SigBlk", blk, sizeof blk);
  CHECK_STR(blk, ourblk);

  daemon_stop(pid);
  CHECK_EQ(sigprocmask(SIG_SETMASK, &old, NULL), 0);
}

TEST(daemonize_dir_and_umask) {
  char dir[PATH_MAX], real[PATH_MAX], link[PATH_MAX], cwd[PATH_MAX];
  make_tmpdir(dir, sizeof dir);
  CHECK(realpath(dir, real) != NULL);
  CHECK(getcwd(cwd, sizeof cwd) != NULL);

  /* dir and umask as given */
  herd_daemon_opts_t o = {0};
  o.dir = dir;
  o.umask = 077;
  pid_t pid = start_daemon(&o, NULL, NULL, NULL);
  CHECK_OK(pid);
  proc_link(pid, "cwd", link, sizeof link);
  CHECK_STR(link, real);
  CHECK_EQ(proc_umask(pid), 077);
  daemon_stop(pid);

  /* NOCHDIR: ours (dir is ignored); KEEP_UMASK: ours */
  mode_t prev = umask(0002);
  memset(&o, 0, sizeof o);
  o.flags = HERD_DAEMON_NOCHDIR | HERD_DAEMON_KEEP_UMASK;
  o.dir = dir;
  o.umask = 077;
  pid = start_daemon(&o, NULL, NULL, NULL);
  umask(prev);
  CHECK_OK(pid);
  proc_link(pid, "cwd", link, sizeof link);
  CHECK_STR(link, cwd);
  CHECK_EQ(proc_umask(pid), 0002);
  daemon_stop(pid);
  rm_tmpdir(dir);
}

static void write_std(int status_fd, void *arg) {
  (void)arg;
  say(1, "to stdout\n");
  say(2, "to stderr\n");
  say(status_fd, "written\n");
}

TEST(daemonize_stdout_stderr_to_files) {
  char dir[PATH_MAX], out[PATH_MAX], err[PATH_MAX], both[PATH_MAX];
  char real[PATH_MAX], link[PATH_MAX], line[64];
  make_tmpdir(dir, sizeof dir);
  join(out, sizeof out, dir, "out.log");
  join(err, sizeof err, dir, "err.log");
  join(both, sizeof both, dir, "both.log");
  write_file(out, "before\n"); /* appended to, not truncated */
  mode_t um = umask(022);

  herd_daemon_opts_t o = {0};
  o.flags = HERD_DAEMON_STATUS_PIPE;
  o.stdout_path = out;
  o.stderr_path = err;
  int sfd = -1;
  pid_t pid = start_daemon(&o, &sfd, write_std, NULL);
  CHECK_OK(pid);
  CHECK(realpath(out, real) != NULL);
  proc_link(pid, "fd/1", link, sizeof link);
  CHECK_STR(link, real);
  CHECK(realpath(err, real) != NULL);
  proc_link(pid, "fd/2", link, sizeof link);
  CHECK_STR(link, real);
  read_line_fd(sfd, line, sizeof line, 10000);
  CHECK_STR(line, "written\n");
  close(sfd);
  daemon_stop(pid);
  char *s = slurp(out);
  CHECK_STR(s, "before\nto stdout\n");
  free(s);
  s = slurp(err);
  CHECK_STR(s, "to stderr\n");
  free(s);
  struct stat st;
  CHECK_EQ(stat(err, &st), 0);
  CHECK_EQ(st.st_mode & 0777, 0640 & ~022); /* created 0640 */

  /* One path for both: one file, both lines, in order. */
  o.stdout_path = both;
  o.stderr_path = both;
  pid = start_daemon(&o, &sfd, write_std, NULL);
  CHECK_OK(pid);
  read_line_fd(sfd, line, sizeof line, 10000);
  CHECK_STR(line, "written\n");
  close(sfd);
  daemon_stop(pid);
  s = slurp(both);
  CHECK_STR(s, "to stdout\nto stderr\n");
  free(s);

  /* Only stderr to a file: stdout is /dev/null. */
  o.stdout_path = NULL;
  o.stderr_path = err;
  pid = start_daemon(&o, &sfd, write_std, NULL);
  CHECK_OK(pid);
  proc_link(pid, "fd/1", link, sizeof link);
  CHECK_STR(link, "/dev/null");
  read_line_fd(sfd, line, sizeof line, 10000);
  close(sfd);
  daemon_stop(pid);
  s = slurp(err);
  CHECK_STR(s, "to stderr\nto stderr\n");
  free(s);
  umask(um);
  rm_tmpdir(dir);
}

/* The flags of fd N of PID, from /proc/PID/fdinfo/N (octal). */
static unsigned long fd_flags(pid_t pid, int fd) {
  char what[32];
  snprintf(what, sizeof what, "fdinfo/%d", fd);
  char *s = proc_file(pid, what);
  char *p = strstr(s, "flags:");
  CHECK(p != NULL);
  unsigned long fl = strtoul(p + 6, NULL, 8);
  free(s);
  return fl;
}

TEST(daemonize_with_stdio_closed) {
  /* A caller with 0-2 closed: the files and pipes herd_daemonize opens
   * land there unless it moves them, and a dup2 onto itself would leave
   * the daemon's stdout close-on-exec, or closed by the clean-up. */
  char dir[PATH_MAX], out[PATH_MAX], err[PATH_MAX], real[PATH_MAX];
  char link[PATH_MAX], line[64];
  make_tmpdir(dir, sizeof dir);
  join(out, sizeof out, dir, "out.log");
  join(err, sizeof err, dir, "err.log");
  int saved[3];
  for (int i = 0; i < 3; i++) {
    saved[i] = fcntl(i, F_DUPFD_CLOEXEC, 10);
    CHECK(saved[i] >= 0);
    CHECK_EQ(close(i), 0);
  }
  herd_daemon_opts_t o = {0};
  o.flags = HERD_DAEMON_STATUS_PIPE;
  o.stdout_path = out;
  o.stderr_path = err;
  int sfd = -1;
  pid_t pid = start_daemon(&o, &sfd, write_std, NULL);
  /* Still closed here. */
  for (int i = 0; i < 3; i++)
    CHECK_EQ(fcntl(i, F_GETFD), -1);
  for (int i = 0; i < 3; i++) {
    CHECK_EQ(dup2(saved[i], i), i);
    close(saved[i]);
  }
  CHECK_OK(pid);
  CHECK(sfd > 2);
  read_line_fd(sfd, line, sizeof line, 10000);
  CHECK_STR(line, "written\n");
  proc_link(pid, "fd/0", link, sizeof link);
  CHECK_STR(link, "/dev/null");
  CHECK(realpath(out, real) != NULL);
  proc_link(pid, "fd/1", link, sizeof link);
  CHECK_STR(link, real);
  CHECK(realpath(err, real) != NULL);
  proc_link(pid, "fd/2", link, sizeof link);
  CHECK_STR(link, real);
  for (int i = 0; i < 3; i++)
    CHECK_MSG(!(fd_flags(pid, i) & O_CLOEXEC), "daemon's fd %d is CLOEXEC",
              i);
  close(sfd);
  daemon_stop(pid);
  char *s = slurp(out);
  CHECK_STR(s, "to stdout\n");
  free(s);
  rm_tmpdir(dir);
}

TEST(daemonize_error_returns_in_caller_and_starts_nothing) {
  /* As the subreaper, we get every process started below us that loses
   * its parent: a daemon that was started after all would show up as
   * our child. */
  CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  char dir[PATH_MAX];
  make_tmpdir(dir, sizeof dir);
  int before = test_count_fds();
  herd_daemon_opts_t o = {0};
  int sfd = 12345;

  /* stdout in a directory that does not exist: before any fork */
  o.flags = HERD_DAEMON_STATUS_PIPE;
  o.stdout_path = "/nonexistent-herd-test-dir/out.log";
  CHECK_EQ(herd_daemonize(&o, &sfd), -ENOENT);
  CHECK_EQ(sfd, -1);
  check_no_children();
  CHECK_EQ(test_count_fds(), before);

  /* stderr is a directory */
  memset(&o, 0, sizeof o);
  o.stderr_path = dir;
  CHECK_EQ(herd_daemonize(&o, NULL), -EISDIR);
  check_no_children();
  CHECK_EQ(test_count_fds(), before);

  /* bad options */
  memset(&o, 0, sizeof o);
  o.umask = 01000;
  CHECK_EQ(herd_daemonize(&o, NULL), -EINVAL);
  o.umask = 0;
  o.flags = 1u << 20;
  CHECK_EQ(herd_daemonize(&o, NULL), -EINVAL);
  o.flags = HERD_DAEMON_STATUS_PIPE;
  CHECK_EQ(herd_daemonize(&o, NULL), -EINVAL);
  check_no_children();

  /* The directory fails in the daemon itself: reported back, and the
   * daemon exited. It is ours to reap as the subreaper. */
  memset(&o, 0, sizeof o);
  o.flags = HERD_DAEMON_STATUS_PIPE;
  o.dir = "/nonexistent-herd-test-dir";
  sfd = 12345;
  CHECK_EQ(herd_daemonize(&o, &sfd), -ENOENT);
  CHECK_EQ(sfd, -1);
  siginfo_t si;
  memset(&si, 0, sizeof si);
  CHECK_EQ(waitid(P_ALL, 0, &si, WEXITED), 0);
  CHECK_EQ(si.si_code, CLD_EXITED);
  CHECK_EQ(si.si_status, 127);
  check_no_children();
  CHECK_EQ(test_count_fds(), before);
  rm_tmpdir(dir);
}

static void announce(int status_fd, void *arg) {
  (void)arg;
  char b[64];
  int fl = fcntl(status_fd, F_GETFD);
  /* its parent at once: herd_daemonize returns only once it has been
   * re-parented, never while the intermediate still lives */
  snprintf(b, sizeof b, "up %d cloexec=%d ppid %d\n", (int)getpid(),
           fl >= 0 && (fl & FD_CLOEXEC), (int)getppid());
  say(status_fd, b);
  /* and keeps the write end open until it dies */
}

static void die_silently(int status_fd, void *arg) {
  (void)status_fd;
  (void)arg;
  _exit(3);
}

TEST(daemonize_status_pipe_message_and_eof) {
  herd_daemon_opts_t o = {0};
  o.flags = HERD_DAEMON_STATUS_PIPE;
  int sfd = -1;
  pid_t pid = start_daemon(&o, &sfd, announce, NULL);
  CHECK_OK(pid);
  CHECK(sfd >= 0);
  int fl = fcntl(sfd, F_GETFD);
  CHECK(fl >= 0 && (fl & FD_CLOEXEC));
  char line[64], want[64];
  read_line_fd(sfd, line, sizeof line, 10000);
  snprintf(want, sizeof want, "up %d cloexec=1 ppid ", (int)pid);
  CHECK_MSG(strncmp(line, want, strlen(want)) == 0, "got \"%s\"", line);
  int ppid = atoi(line + strlen(want));
  CHECK_MSG(ppid != getpid() && init_or_ancestor(ppid),
            "the daemon saw parent %d", ppid);
  /* Nothing more while it lives; EOF once it is dead. */
  struct pollfd p = {.fd = sfd, .events = POLLIN};
  CHECK_EQ(poll(&p, 1, 0), 0);
  daemon_stop(pid);
  CHECK_EQ(read_line_fd(sfd, line, sizeof line, 10000), 0);
  close(sfd);

  /* Dead without a word: EOF and nothing else. */
  pid = start_daemon(&o, &sfd, die_silently, NULL);
  CHECK_OK(pid);
  CHECK_EQ(read_line_fd(sfd, line, sizeof line, 10000), 0);
  close(sfd);
  CHECK(pid_gone(pid, 10000));
}

TEST(daemonize_with_sigchld_ignored) {
  /* The kernel reaps the intermediate itself: the wait for it must not
   * fail or hang, and the daemon must still be reported. */
  struct sigaction ign = {.sa_handler = SIG_IGN}, old;
  CHECK_EQ(sigaction(SIGCHLD, &ign, &old), 0);
  herd_daemon_opts_t o = {0};
  o.flags = HERD_DAEMON_STATUS_PIPE;
  int sfd = -1;
  pid_t pid = start_daemon(&o, &sfd, announce, NULL);
  CHECK_EQ(sigaction(SIGCHLD, &old, NULL), 0);
  CHECK_OK(pid);
  char line[64], want[64];
  read_line_fd(sfd, line, sizeof line, 10000);
  snprintf(want, sizeof want, "up %d cloexec=1 ", (int)pid);
  CHECK_MSG(strncmp(line, want, strlen(want)) == 0, "got \"%s\"", line);
  close(sfd);
  check_no_children();
  daemon_stop(pid);
}

static void report_fds(int status_fd, void *arg) {
  (void)arg;
  char b[32];
  snprintf(b, sizeof b, "%d\n", count_fds_nocheck());
  say(status_fd, b);
}

TEST(daemonize_no_fd_leak) {
  char dir[PATH_MAX], out[PATH_MAX], err[PATH_MAX], line[32];
  make_tmpdir(dir, sizeof dir);
  join(out, sizeof out, dir, "out.log");
  join(err, sizeof err, dir, "err.log");
  int closed_std = 0;
  for (int i = 0; i < 3; i++)
    closed_std += fcntl(i, F_GETFD) < 0;
  int before = test_count_fds();

  herd_daemon_opts_t o = {0};
  o.flags = HERD_DAEMON_STATUS_PIPE;
  o.stdout_path = out;
  o.stderr_path = err;
  int sfd = -1;
  pid_t pid = start_daemon(&o, &sfd, report_fds, NULL);
  CHECK_OK(pid);
  /* The caller: only the status pipe's read end is new. */
  CHECK_EQ(test_count_fds(), before + 1);
  /* The daemon: ours at the fork (with start_daemon's guard pidfd), 0-2
   * all open, and the status pipe's write end; none of the files,
   * /dev/null or pipes herd_daemonize opened. */
  read_line_fd(sfd, line, sizeof line, 10000);
  CHECK_EQ(atoi(line), before + 1 + closed_std + 1);
  close(sfd);
  daemon_stop(pid);
  CHECK_EQ(test_count_fds(), before);
  rm_tmpdir(dir);
}

/* ---- pid files ----------------------------------------------------- */

TEST(pidfile_second_open_is_busy_with_holder) {
  char dir[PATH_MAX], path[PATH_MAX];
  make_tmpdir(dir, sizeof dir);
  join(path, sizeof path, dir, "x.pid");
  int before = test_count_fds();

  herd_pidfile_t *pf = NULL, *pf2 = (herd_pidfile_t *)&pf;
  pid_t holder = -7;
  mode_t um = umask(022);
  CHECK_OK(herd_pidfile_open(&pf, path, &holder));
  umask(um);
  CHECK(pf != NULL);
  CHECK_EQ(holder, 0);
  check_file_is_pid(path, getpid());
  struct stat st;
  CHECK_EQ(stat(path, &st), 0);
  CHECK_EQ(st.st_mode & 0777, 0644);

  /* Another open file in this process... */
  CHECK_EQ(herd_pidfile_open(&pf2, path, &holder), -EBUSY);
  CHECK(pf2 == NULL);
  CHECK_EQ(holder, getpid());
  CHECK_EQ(herd_pidfile_open(&pf2, path, NULL), -EBUSY);
  /* ...and in another process. */
  pid_t c = fork();
  CHECK(c >= 0);
  if (c == 0) {
    herd_pidfile_t *x = NULL;
    pid_t h = 0;
    int r = herd_pidfile_open(&x, path, &h);
    _exit(r == -EBUSY && h == getppid() && x == NULL ? 0 : 1);
  }
  int ws;
  CHECK_EQ(waitpid(c, &ws, 0), c);
  CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
  CHECK_EQ(herd_pidfile_check(path), getpid());
  herd_pidfile_close(pf, 1);
  CHECK_EQ(test_count_fds(), before);

  /* bad input */
  CHECK_EQ(herd_pidfile_open(NULL, path, NULL), -EINVAL);
  CHECK_EQ(herd_pidfile_open(&pf, "", NULL), -EINVAL);
  CHECK_EQ(herd_pidfile_open(&pf, NULL, NULL), -EINVAL);
  CHECK_EQ(herd_pidfile_open(&pf, "/nonexistent-herd-test-dir/x.pid", NULL),
           -ENOENT);
  CHECK(pf == NULL);
  CHECK_EQ(herd_pidfile_write(NULL), -EINVAL);
  herd_pidfile_close(NULL, 1); /* a no-op */
  CHECK_EQ(test_count_fds(), before);
  rm_tmpdir(dir);
}

TEST(pidfile_close_remove) {
  char dir[PATH_MAX], path[PATH_MAX], cwd[PATH_MAX];
  make_tmpdir(dir, sizeof dir);
  join(path, sizeof path, dir, "x.pid");
  struct stat st;
  herd_pidfile_t *pf = NULL, *pf2 = NULL;

  CHECK_OK(herd_pidfile_open(&pf, path, NULL));
  herd_pidfile_close(pf, 1);
  CHECK_EQ(stat(path, &st), -1);
  CHECK_EQ(errno, ENOENT);

  /* Without remove: the file stays, unlocked. */
  CHECK_OK(herd_pidfile_open(&pf, path, NULL));
  herd_pidfile_close(pf, 0);
  check_file_is_pid(path, getpid());
  CHECK_EQ(herd_pidfile_check(path), 0);

  /* A relative path, then a chdir (as herd_daemonize does): remove
   * still finds it. */
  CHECK(getcwd(cwd, sizeof cwd) != NULL);
  CHECK_EQ(chdir(dir), 0);
  CHECK_OK(herd_pidfile_open(&pf, "rel.pid", NULL));
  CHECK_EQ(chdir("/"), 0);
  herd_pidfile_close(pf, 1);
  char rel[PATH_MAX];
  join(rel, sizeof rel, dir, "rel.pid");
  CHECK_EQ(stat(rel, &st), -1);
  CHECK_EQ(errno, ENOENT);
  CHECK_EQ(chdir(cwd), 0);

  /* Someone removed our file and a newcomer made and holds a new one:
   * our close with remove leaves the newcomer's file alone. */
  CHECK_OK(herd_pidfile_open(&pf, path, NULL));
  CHECK_EQ(unlink(path), 0);
  CHECK_OK(herd_pidfile_open(&pf2, path, NULL));
  herd_pidfile_close(pf, 1);
  CHECK_EQ(stat(path, &st), 0);
  CHECK_EQ(herd_pidfile_check(path), getpid()); /* pf2 holds it */
  herd_pidfile_close(pf2, 1);
  CHECK_EQ(stat(path, &st), -1);
  rm_tmpdir(dir);
}

TEST(pidfile_stale_is_taken_over) {
  char dir[PATH_MAX], path[PATH_MAX];
  make_tmpdir(dir, sizeof dir);
  join(path, sizeof path, dir, "x.pid");

  /* A holder that dies without closing. */
  pid_t c = fork();
  CHECK(c >= 0);
  if (c == 0) {
    herd_pidfile_t *x = NULL;
    _exit(herd_pidfile_open(&x, path, NULL) == 0 ? 0 : 1);
  }
  int ws;
  CHECK_EQ(waitpid(c, &ws, 0), c);
  CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
  check_file_is_pid(path, c);
  CHECK_EQ(herd_pidfile_check(path), 0);

  herd_pidfile_t *pf = NULL;
  pid_t holder = -7;
  CHECK_OK(herd_pidfile_open(&pf, path, &holder));
  CHECK_EQ(holder, 0);
  check_file_is_pid(path, getpid());
  herd_pidfile_close(pf, 0);

  /* Stale content longer than ours, or garbage: replaced entirely. */
  write_file(path, "99999999999\nmore\n");
  CHECK_OK(herd_pidfile_open(&pf, path, NULL));
  check_file_is_pid(path, getpid());
  herd_pidfile_close(pf, 0);
  write_file(path, "not a pid");
  CHECK_OK(herd_pidfile_open(&pf, path, NULL));
  check_file_is_pid(path, getpid());
  /* herd_pidfile_write puts the pid back */
  write_file(path, "x");
  CHECK_OK(herd_pidfile_write(pf));
  check_file_is_pid(path, getpid());
  herd_pidfile_close(pf, 1);
  rm_tmpdir(dir);
}

struct pf_arg {
  herd_pidfile_t *pf;
};

static void take_pidfile(int status_fd, void *arg) {
  struct pf_arg *a = arg;
  int r = herd_pidfile_write(a->pf);
  char b[32];
  snprintf(b, sizeof b, "%d\n", r);
  say(status_fd, b);
}

/* The daemon of take_pidfile (status on sfd) holds path's lock with its
 * own pid in it: a second open is busy, naming it; the lock goes with
 * the daemon. */
static void daemon_holds_then_stops(int sfd, const char *path, pid_t pid) {
  char line[32];
  read_line_fd(sfd, line, sizeof line, 10000);
  CHECK_STR(line, "0\n");
  close(sfd);
  check_file_is_pid(path, pid);
  CHECK_EQ(herd_pidfile_check(path), pid);
  herd_pidfile_t *pf = NULL;
  pid_t holder = 0;
  CHECK_EQ(herd_pidfile_open(&pf, path, &holder), -EBUSY);
  CHECK_EQ(holder, pid);
  daemon_stop(pid);
  CHECK_EQ(herd_pidfile_check(path), 0);
}

TEST(pidfile_lock_survives_daemonize) {
  char dir[PATH_MAX], path[PATH_MAX];
  make_tmpdir(dir, sizeof dir);
  join(path, sizeof path, dir, "x.pid");
  int before = test_count_fds();

  struct pf_arg a = {NULL};
  CHECK_OK(herd_pidfile_open(&a.pf, path, NULL));
  herd_daemon_opts_t o = {0};
  o.flags = HERD_DAEMON_STATUS_PIPE;
  int sfd = -1;
  pid_t pid = start_daemon(&o, &sfd, take_pidfile, &a);
  CHECK_OK(pid);
  /* The starter lets go of its copy at once, before the daemon has even
   * written its pid: without remove, which would delete the daemon's
   * file. The open file, and its locks, live on in the daemon. */
  herd_pidfile_close(a.pf, 0);
  CHECK_EQ(test_count_fds(), before + 1);
  daemon_holds_then_stops(sfd, path, pid);
  herd_pidfile_t *pf = NULL;
  pid_t holder = 0;
  CHECK_OK(herd_pidfile_open(&pf, path, &holder));
  check_file_is_pid(path, getpid());
  herd_pidfile_close(pf, 1);
  CHECK_EQ(test_count_fds(), before);
  rm_tmpdir(dir);
}

TEST(pidfile_opened_with_stdio_closed_survives_daemonize) {
  /* A caller with 0-2 closed: the pid file must not land there, where
   * herd_daemonize's /dev/null would replace it and drop the lock (two
   * daemons of one name then ran) */
  char dir[PATH_MAX], path[PATH_MAX];
  make_tmpdir(dir, sizeof dir);
  join(path, sizeof path, dir, "x.pid");
  int saved[3];
  for (int i = 0; i < 3; i++) {
    saved[i] = fcntl(i, F_DUPFD_CLOEXEC, 10);
    CHECK(saved[i] >= 0);
    CHECK_EQ(close(i), 0);
  }
  struct pf_arg a = {NULL};
  int r = herd_pidfile_open(&a.pf, path, NULL);
  pid_t pid = -1;
  int sfd = -1;
  if (r == 0) {
    herd_daemon_opts_t o = {0};
    o.flags = HERD_DAEMON_STATUS_PIPE;
    pid = start_daemon(&o, &sfd, take_pidfile, &a);
  }
  for (int i = 0; i < 3; i++) {
    CHECK_EQ(dup2(saved[i], i), i);
    close(saved[i]);
  }
  CHECK_OK(r);
  CHECK_OK(pid);
  herd_pidfile_close(a.pf, 0);
  daemon_holds_then_stops(sfd, path, pid);
  rm_tmpdir(dir);
}

TEST(pidfile_check_absent_stale_held) {
  char dir[PATH_MAX], path[PATH_MAX];
  make_tmpdir(dir, sizeof dir);
  join(path, sizeof path, dir, "x.pid");
  int before = test_count_fds();

  CHECK_EQ(herd_pidfile_check(path), 0);
  CHECK_EQ(herd_pidfile_check("/nonexistent-herd-test-dir/x.pid"), 0);
  CHECK_EQ(herd_pidfile_check(NULL), -EINVAL);
  CHECK_EQ(herd_pidfile_check(""), -EINVAL);

  /* Held by a child until we let it go. */
  int go[2], ready[2];
  CHECK_EQ(pipe2(go, O_CLOEXEC), 0);
  CHECK_EQ(pipe2(ready, O_CLOEXEC), 0);
  pid_t c = fork();
  CHECK(c >= 0);
  if (c == 0) {
    close(go[1]);
    herd_pidfile_t *x = NULL;
    char b = herd_pidfile_open(&x, path, NULL) == 0 ? 'y' : 'n';
    if (write(ready[1], &b, 1) != 1)
      _exit(1);
    ssize_t n;
    do
      n = read(go[0], &b, 1); /* EOF: the test is done with us */
    while (n < 0 && errno == EINTR);
    _exit(0); /* without close: the file stays, stale */
  }
  close(go[0]);
  close(ready[1]);
  char b = 0;
  CHECK_EQ(read(ready[0], &b, 1), 1);
  CHECK_EQ(b, 'y');
  CHECK_EQ(herd_pidfile_check(path), c);
  close(go[1]);
  close(ready[0]);
  int ws;
  CHECK_EQ(waitpid(c, &ws, 0), c);
  CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
  CHECK_EQ(herd_pidfile_check(path), 0); /* stale */

  /* Held, but what it says is not a pid: no number made up. */
  herd_pidfile_t *pf = NULL;
  CHECK_OK(herd_pidfile_open(&pf, path, NULL));
  write_file(path, "garbage\n");
  CHECK_EQ(herd_pidfile_check(path), -EIO);
  write_file(path, "");
  CHECK_EQ(herd_pidfile_check(path), -EAGAIN);
  herd_pidfile_close(pf, 1);
  CHECK_EQ(herd_pidfile_check(path), 0);
  CHECK_EQ(test_count_fds(), before);
  rm_tmpdir(dir);
}

/* Counters the checker child shares with the test. */
struct race {
  volatile int stop;
  volatile long checks, held, free_, bad;
  volatile long last_bad;
};

TEST_T(pidfile_check_never_makes_open_fail, 60) {
  char dir[PATH_MAX], path[PATH_MAX];
  make_tmpdir(dir, sizeof dir);
  join(path, sizeof path, dir, "x.pid");
  struct race *rc = mmap(NULL, sizeof *rc, PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  CHECK(rc != MAP_FAILED);
  memset((void *)rc, 0, sizeof *rc);
  pid_t me = getpid();

  /* A checker hammering herd_pidfile_check while we open and close the
   * file as fast as we can: a check that took the lock, even for a
   * moment, would make some open fail with -EBUSY; a check that saw the
   * file held before the pid was in it would give -EAGAIN or -EIO. */
  pid_t c = fork();
  CHECK(c >= 0);
  if (c == 0) {
    while (!__atomic_load_n(&rc->stop, __ATOMIC_ACQUIRE)) {
      pid_t r = herd_pidfile_check(path);
      if (r == me)
        rc->held++;
      else if (r == 0)
        rc->free_++;
      else {
        rc->bad++;
        rc->last_bad = r;
      }
      __atomic_add_fetch(&rc->checks, 1, __ATOMIC_RELEASE);
    }
    _exit(0);
  }
  uint64_t deadline = test_now_ms() + 20000;
  long opens = 0;
  /* Until both sides have done enough, and the checker has seen the file
   * held and free (it is free only between a close and the next lock:
   * under load that can take a while). */
  while (opens < 3000 || __atomic_load_n(&rc->checks, __ATOMIC_ACQUIRE) < 3000 ||
         rc->held == 0 || rc->free_ == 0) {
    if (test_now_ms() > deadline)
      break;
    herd_pidfile_t *pf = NULL;
    pid_t holder = 0;
    int r = herd_pidfile_open(&pf, path, &holder);
    if (r < 0) {
      __atomic_store_n(&rc->stop, 1, __ATOMIC_RELEASE);
      waitpid(c, NULL, 0);
      CHECK_MSG(0, "open #%ld failed: %d (%s), holder %d", opens, r,
                herd_strerror(r), (int)holder);
    }
    /* Every other time removed: the next open makes a new, empty file,
     * which a check must never see held and empty. */
    herd_pidfile_close(pf, opens & 1);
    opens++;
  }
  __atomic_store_n(&rc->stop, 1, __ATOMIC_RELEASE);
  int ws;
  CHECK_EQ(waitpid(c, &ws, 0), c);
  CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
  CHECK_MSG(rc->bad == 0, "%ld checks gave neither 0 nor our pid (last %ld)",
            rc->bad, rc->last_bad);
  /* The two really overlapped. */
  CHECK_MSG(rc->held > 0 && opens >= 3000,
            "opens %ld, checks %ld: held %ld, free %ld", opens, rc->checks,
            rc->held, rc->free_);
  munmap((void *)rc, sizeof *rc);
  (void)unlink(path);
  rm_tmpdir(dir);
}

/* ---- examples/daemon ----------------------------------------------- */

static const char *example(void) {
  static char path[PATH_MAX], real[PATH_MAX];
  snprintf(path, sizeof path, "%s/examples/daemon", prog_dir());
  CHECK_MSG(access(path, X_OK) == 0,
            "%s: %s (make examples; HERD_BUILD or HERD_PROGS names the build dir)", path,
            strerror(errno));
  /* absolute: it runs in another directory */
  CHECK(realpath(path, real) != NULL);
  return real;
}

/* Run the example in dir with ARGS; returns its exit status, its stdout
 * and stderr in out/err (malloc'd), its pid in *starter. */
static int run_example(const char *dir, const char *const *args, char **out,
                       char **err, pid_t *starter) {
  char *argv[16];
  int n = 0;
  argv[n++] = (char *)example();
  for (int i = 0; args[i] && n < 15; i++)
    argv[n++] = (char *)args[i];
  argv[n] = NULL;
  herd_spawn_opts_t o = {0};
  o.cwd = dir;
  o.stdio[0].kind = HERD_STDIO_IGNORE;
  o.stdio[1].kind = HERD_STDIO_PIPE;
  o.stdio[2].kind = HERD_STDIO_PIPE;
  herd_child_t c;
  CHECK_OK(herd_spawn(&c, argv[0], argv, &o));
  *starter = c.pid;
  /* The starter exits at once; the daemon does not hold these pipes
   * (its 1 and 2 are the log files). Small outputs: stdout, then
   * stderr, cannot block the writer. */
  *out = test_read_all(c.stdio[1], NULL);
  *err = test_read_all(c.stdio[2], NULL);
  CHECK_OK(herd_child_wait(&c, 10000));
  int st = herd_child_status(&c);
  herd_child_close(&c);
  return st;
}

/* The lines of a log: each "daemon pid: P ppid: Q"; returns how many,
 * and checks each names pid and a parent that is neither the starter nor
 * us but init or a subreaper above us. */
static int check_log(const char *dir, const char *name, pid_t pid,
                     pid_t starter) {
  char path[PATH_MAX];
  join(path, sizeof path, dir, name);
  char *s = slurp(path);
  int lines = 0;
  for (char *p = s; *p;) {
    char *nl = strchr(p, '\n');
    CHECK_MSG(nl != NULL, "%s: unterminated line \"%s\"", name, p);
    *nl = '\0';
    int P = 0, Q = 0, used = 0;
    if (sscanf(p, "daemon pid: %d ppid: %d%n", &P, &Q, &used) == 2 &&
        p[used] == '\0') {
      CHECK_EQ(P, pid);
      CHECK(Q != starter);
      CHECK(Q != getpid());
      CHECK_MSG(init_or_ancestor(Q),
                "%s: ppid %d is neither 1 nor a subreaper above us", name,
                Q);
      lines++;
    } else {
      CHECK_MSG(strncmp(p, "daemon ", 7) == 0, "%s: unexpected line \"%s\"",
                name, p);
    }
    p = nl + 1;
  }
  free(s);
  return lines;
}

TEST(daemon_example_runs_detached) {
  char dir[PATH_MAX];
  make_tmpdir(dir, sizeof dir);
  const char *args[] = {"-i", "1", "-n", "2", NULL};
  char *out, *err;
  pid_t starter;
  int st = run_example(dir, args, &out, &err, &starter);
  CHECK_MSG(st == 0, "exit %d, stderr: %s", st, err);
  int pid = 0;
  CHECK_MSG(sscanf(out, "daemon started, pid %d\n", &pid) == 1 && pid > 0,
            "stdout: \"%s\"", out);
  CHECK(pid != starter);
  CHECK_STR(err, "");
  /* It finishes by itself after two lines, one second apart. */
  CHECK_MSG(pid_gone(pid, 20000), "daemon %d still running", pid);
  CHECK_EQ(check_log(dir, "stdout.log", pid, starter), 2);
  CHECK_EQ(check_log(dir, "stderr.log", pid, starter), 2);
  free(out);
  free(err);
  rm_tmpdir(dir);
}

TEST(daemon_example_pidfile_and_sigterm) {
  char dir[PATH_MAX], pidpath[PATH_MAX];
  make_tmpdir(dir, sizeof dir);
  join(pidpath, sizeof pidpath, dir, "d.pid");
  /* -n 60: it ends by itself within a minute even if this test fails */
  const char *args[] = {"-i", "1", "-n", "60", "-p", "d.pid", NULL};
  char *out, *err;
  pid_t starter;
  int st = run_example(dir, args, &out, &err, &starter);
  CHECK_MSG(st == 0, "exit %d, stderr: %s", st, err);
  int pid = 0;
  CHECK_MSG(sscanf(out, "daemon started, pid %d\n", &pid) == 1 && pid > 0,
            "stdout: \"%s\"", out);
  free(out);
  free(err);
  /* "OK" came after its pid file write: it is there, held, and says so. */
  CHECK_EQ(herd_pidfile_check(pidpath), pid);
  check_file_is_pid(pidpath, pid);

  /* A second one refuses to start. */
  pid_t starter2;
  st = run_example(dir, args, &out, &err, &starter2);
  CHECK_EQ(st, 1);
  CHECK_STR(out, "");
  char want[128];
  snprintf(want, sizeof want, "daemon: already running, pid %d (d.pid)\n",
           pid);
  CHECK_STR(err, want);
  free(out);
  free(err);

  /* SIGTERM: it stops, says so, and removes its pid file. */
  daemon_signal_wait(pid, SIGTERM);
  struct stat sb;
  CHECK_EQ(stat(pidpath, &sb), -1);
  CHECK_EQ(errno, ENOENT);
  CHECK(check_log(dir, "stdout.log", pid, starter) >= 1);
  char path[PATH_MAX];
  join(path, sizeof path, dir, "stderr.log");
  char *s = slurp(path);
  CHECK_MSG(strstr(s, ": stopping on ") != NULL, "stderr.log: %s", s);
  free(s);
  rm_tmpdir(dir);
}
