/* spawn_test.c - herd_spawn and the child handle. Most tests run twice:
 * through the vfork-style fast path and through fork (HERD_SPAWN_FORK). */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

/* Spawn the test binary as a helper with stdout piped; returns stdout. */
static char *run_helper(unsigned flags, herd_spawn_opts_t *o, char **args,
                        int *status) {
  herd_spawn_opts_t local = {0};
  if (!o)
    o = &local;
  o->flags |= flags;
  o->stdio[1].kind = HERD_STDIO_PIPE;
  char *argv[16] = {"herd-test", "--helper"};
  int n = 2;
  for (int i = 0; args[i] && n < 15; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  herd_child_t c;
  CHECK_OK(herd_spawn(&c, test_self(), argv, o));
  char *out = test_read_all(c.stdio[1], NULL);
  CHECK_OK(herd_child_wait(&c, 10000));
  *status = herd_child_status(&c);
  herd_child_close(&c);
  return out;
}

static void both_paths(void (*fn)(unsigned flags)) {
  fn(0);
  fn(HERD_SPAWN_FORK);
}

static void exit_code_case(unsigned flags) {
  herd_child_t c;
  char *argv[] = {"herd-test", "--helper", "exit", "7", NULL};
  herd_spawn_opts_t o = {.flags = flags};
  CHECK_OK(herd_spawn(&c, test_self(), argv, &o));
  CHECK(c.pid > 0);
  CHECK(c.pidfd >= 0);
  CHECK_EQ(c.stdio[0], -1);
  CHECK_OK(herd_child_wait(&c, 10000));
  CHECK_EQ(c.reaped, 1);
  CHECK_EQ(c.exit_code, 7);
  CHECK_EQ(c.term_signal, 0);
  CHECK_EQ(herd_child_status(&c), 7);
  herd_child_close(&c);
  herd_child_close(&c); /* twice is safe */
}
TEST(spawn_exit_code) { both_paths(exit_code_case); }

static void signal_case(unsigned flags) {
  herd_child_t c;
  char *argv[] = {"herd-test", "--helper", "killself", "15", NULL};
  herd_spawn_opts_t o = {.flags = flags};
  CHECK_OK(herd_spawn(&c, test_self(), argv, &o));
  CHECK_OK(herd_child_wait(&c, 10000));
  CHECK_EQ(c.exit_code, -1);
  CHECK_EQ(c.term_signal, SIGTERM);
  CHECK_EQ(herd_child_status(&c), 128 + SIGTERM);
  herd_child_close(&c);
}
TEST(spawn_status_says_signal) { both_paths(signal_case); }

static void path_search_case(unsigned flags) {
  herd_child_t c;
  char *argv[] = {"sh", "-c", "exit 3", NULL};
  herd_spawn_opts_t o = {.flags = flags};
  CHECK_OK(herd_spawn(&c, "sh", argv, &o));
  CHECK_OK(herd_child_wait(&c, 10000));
  CHECK_EQ(c.exit_code, 3);
  herd_child_close(&c);
  /* The child's PATH decides (as libuv): with a PATH that has no sh, it
   * is not found. */
  const char *env[] = {"PATH=/nonexistent-dir", NULL};
  o.env_mode = HERD_ENV_REPLACE;
  o.env = env;
  CHECK_EQ(herd_spawn(&c, "sh", argv, &o), -ENOENT);
}
TEST(spawn_path_search) { both_paths(path_search_case); }

static void pipes_case(unsigned flags) {
  herd_child_t c;
  char *argv[] = {"herd-test", "--helper", "cat", NULL};
  herd_spawn_opts_t o = {.flags = flags};
  o.stdio[0].kind = HERD_STDIO_PIPE;
  o.stdio[1].kind = HERD_STDIO_PIPE;
  o.stdio[2].kind = HERD_STDIO_PIPE;
  CHECK_OK(herd_spawn(&c, test_self(), argv, &o));
  CHECK(c.stdio[0] >= 0 && c.stdio[1] >= 0 && c.stdio[2] >= 0);
  /* parent ends are CLOEXEC */
  for (int i = 0; i < 3; i++)
    CHECK(fcntl(c.stdio[i], F_GETFD) & FD_CLOEXEC);
  CHECK_EQ(write(c.stdio[0], "hello pipes", 11), 11);
  close(c.stdio[0]);
  c.stdio[0] = -1;
  char *out = test_read_all(c.stdio[1], NULL);
  char *err = test_read_all(c.stdio[2], NULL);
  CHECK_STR(out, "hello pipes");
  CHECK_STR(err, "");
  free(out);
  free(err);
  CHECK_OK(herd_child_wait(&c, 10000));
  CHECK_EQ(c.exit_code, 0);
  herd_child_close(&c);
}
TEST(spawn_stdio_pipes) { both_paths(pipes_case); }

static void ignore_and_fd_case(unsigned flags) {
  char path[] = "/tmp/herd-test-XXXXXX";
  int file = mkstemp(path);
  CHECK(file >= 0);
  unlink(path);
  herd_child_t c;
  /* stdout to a given fd (a file), stderr ignored, stdin ignored */
  char *argv[] = {"sh", "-c",
                  "echo to-file; echo to-null >&2; readlink /proc/self/fd/0",
                  NULL};
  herd_spawn_opts_t o = {.flags = flags};
  o.stdio[0].kind = HERD_STDIO_IGNORE;
  o.stdio[1] = (herd_stdio_t){HERD_STDIO_FD, file};
  o.stdio[2].kind = HERD_STDIO_IGNORE;
  CHECK_OK(herd_spawn(&c, "sh", argv, &o));
  CHECK_OK(herd_child_wait(&c, 10000));
  CHECK_EQ(c.exit_code, 0);
  herd_child_close(&c);
  CHECK_EQ(lseek(file, 0, SEEK_SET), 0);
  char *got = test_read_all(file, NULL);
  CHECK_STR(got, "to-file\n/dev/null\n");
  free(got);
  close(file);
}
TEST(spawn_stdio_ignore_and_fd) { both_paths(ignore_and_fd_case); }

static void extra_fds_case(unsigned flags) {
  /* Two pipes whose write ends are swapped in the child: the child's fd
   * numbers collide with the parent's sources, which herd must lift out
   * of the way first. */
  int p[2], q[2];
  CHECK(pipe2(p, O_CLOEXEC) == 0);
  CHECK(pipe2(q, O_CLOEXEC) == 0);
  herd_fdmap_t map[] = {{p[1], q[1]}, {q[1], p[1]}};
  char a[16], b[16];
  snprintf(a, sizeof a, "%d", p[1]);
  snprintf(b, sizeof b, "%d", q[1]);
  char *argv[] = {"herd-test", "--helper", "writefds", a, "to-p1", b,
                  "to-q1", NULL};
  herd_spawn_opts_t o = {.flags = flags, .fds = map, .nfds = 2};
  herd_child_t c;
  CHECK_OK(herd_spawn(&c, test_self(), argv, &o));
  close(p[1]);
  close(q[1]);
  char *from_p = test_read_all(p[0], NULL);
  char *from_q = test_read_all(q[0], NULL);
  /* child fd q[1] is our p[1]: what it wrote to "q[1]" arrives in p */
  CHECK_STR(from_p, "to-q1");
  CHECK_STR(from_q, "to-p1");
  free(from_p);
  free(from_q);
  close(p[0]);
  close(q[0]);
  CHECK_OK(herd_child_wait(&c, 10000));
  CHECK_EQ(c.exit_code, 0);
  herd_child_close(&c);
}
TEST(spawn_extra_fds_swapped) { both_paths(extra_fds_case); }

static void only_asked_fds_case(unsigned flags) {
  /* 50 unrelated fds, half of them inheritable (no CLOEXEC). */
  int fds[50];
  for (int i = 0; i < 50; i++) {
    fds[i] = open("/dev/null", O_RDONLY | (i % 2 ? O_CLOEXEC : 0));
    CHECK(fds[i] >= 0);
  }
  int pfd[2];
  CHECK(pipe(pfd) == 0); /* no CLOEXEC either */
  herd_fdmap_t map[] = {{pfd[1], 9}};
  herd_spawn_opts_t o = {.flags = flags, .fds = map, .nfds = 1};
  o.stdio[0].kind = HERD_STDIO_IGNORE;
  o.stdio[2].kind = HERD_STDIO_IGNORE;
  char *argv[] = {"herd-test", "--helper", "listfds", "9", NULL};
  herd_child_t c;
  CHECK_OK(herd_spawn(&c, test_self(), argv, &o));
  close(pfd[1]);
  char *out = test_read_all(pfd[0], NULL);
  close(pfd[0]);
  CHECK_OK(herd_child_wait(&c, 10000));
  CHECK_EQ(c.exit_code, 0);
  herd_child_close(&c);
  /* stdout was inherited: ours, which the runner set up, is open */
  CHECK_STR(out, "0 1 2 9\n");
  free(out);
  for (int i = 0; i < 50; i++)
    close(fds[i]);
}
TEST(spawn_only_requested_fds_reach_child) { both_paths(only_asked_fds_case); }

static void closed_stdio_case(unsigned flags) {
  /* A stdio fd closed in the parent and inherited stays closed. */
  int pfd[2];
  CHECK(pipe2(pfd, O_CLOEXEC) == 0);
  int saved = fcntl(0, F_DUPFD_CLOEXEC, 10);
  CHECK(saved >= 0);
  CHECK(close(0) == 0);
  herd_fdmap_t map[] = {{pfd[1], 5}};
  herd_spawn_opts_t o = {.flags = flags, .fds = map, .nfds = 1};
  char *argv[] = {"herd-test", "--helper", "listfds", "5", NULL};
  herd_child_t c;
  int r = herd_spawn(&c, test_self(), argv, &o);
  CHECK(dup2(saved, 0) == 0);
  close(saved);
  CHECK_OK(r);
  close(pfd[1]);
  char *out = test_read_all(pfd[0], NULL);
  close(pfd[0]);
  CHECK_OK(herd_child_wait(&c, 10000));
  herd_child_close(&c);
  CHECK_STR(out, "1 2 5\n");
  free(out);
}
TEST(spawn_closed_stdio_stays_closed) { both_paths(closed_stdio_case); }

static void errors_case(unsigned flags) {
  int before = test_count_fds();
  herd_spawn_opts_t o = {.flags = flags};
  herd_child_t c;
  char *argv[] = {"x", NULL};
  CHECK_EQ(herd_spawn(&c, "herd-no-such-program-xyz", argv, &o), -ENOENT);
  CHECK_EQ(herd_spawn(&c, "/nonexistent/prog", argv, &o), -ENOENT);
  /* a directory, and a file without x bit */
  CHECK_EQ(herd_spawn(&c, "/tmp", argv, &o), -EACCES);
  char path[] = "/tmp/herd-test-noexec-XXXXXX";
  int f = mkstemp(path);
  CHECK(f >= 0);
  CHECK_EQ(write(f, "#!/bin/sh\n", 10), 10);
  close(f);
  CHECK(chmod(path, 0644) == 0);
  int r = herd_spawn(&c, path, argv, &o);
  unlink(path);
  /* root bypasses permission bits but never the x bit on regular files */
  CHECK_EQ(r, -EACCES);
  CHECK_EQ(herd_spawn(&c, "/etc/passwd/x", argv, &o), -ENOTDIR);
  /* a cwd that does not exist, and one that is a file */
  o.cwd = "/nonexistent-dir";
  char *sh[] = {"sh", "-c", "true", NULL};
  CHECK_EQ(herd_spawn(&c, "sh", sh, &o), -ENOENT);
  o.cwd = "/etc/passwd";
  CHECK_EQ(herd_spawn(&c, "sh", sh, &o), -ENOTDIR);
  /* the failed child never stays behind as a zombie (checked by the
   * harness), its error never shows as exit status 127, and nothing
   * leaked */
  CHECK_EQ(c.pid, -1);
  CHECK_EQ(test_count_fds(), before);
}
TEST(spawn_exec_errors_are_returned) { both_paths(errors_case); }

TEST(spawn_bad_arguments) {
  herd_child_t c;
  char *argv[] = {"x", NULL};
  char *noargs[] = {NULL};
  int before = test_count_fds();
  CHECK_EQ(herd_spawn(NULL, "sh", argv, NULL), -EINVAL);
  CHECK_EQ(herd_spawn(&c, NULL, argv, NULL), -EINVAL);
  CHECK_EQ(herd_spawn(&c, "", argv, NULL), -EINVAL);
  CHECK_EQ(herd_spawn(&c, "sh", NULL, NULL), -EINVAL);
  CHECK_EQ(herd_spawn(&c, "sh", noargs, NULL), -EINVAL);
  herd_spawn_opts_t o = {0};
  o.stdio[1].kind = 42;
  CHECK_EQ(herd_spawn(&c, "sh", argv, &o), -EINVAL);
  o.stdio[1] = (herd_stdio_t){HERD_STDIO_FD, 987};
  CHECK_EQ(herd_spawn(&c, "sh", argv, &o), -EBADF);
  memset(&o, 0, sizeof o);
  herd_fdmap_t low[] = {{0, 2}};
  o.fds = low;
  o.nfds = 1;
  CHECK_EQ(herd_spawn(&c, "sh", argv, &o), -EINVAL);
  herd_fdmap_t dup[] = {{0, 5}, {1, 5}};
  o.fds = dup;
  o.nfds = 2;
  CHECK_EQ(herd_spawn(&c, "sh", argv, &o), -EINVAL);
  herd_fdmap_t bad[] = {{999, 5}};
  o.fds = bad;
  o.nfds = 1;
  CHECK_EQ(herd_spawn(&c, "sh", argv, &o), -EBADF);
  memset(&o, 0, sizeof o);
  o.env_mode = 9;
  CHECK_EQ(herd_spawn(&c, "sh", argv, &o), -EINVAL);
  CHECK_EQ(test_count_fds(), before);
  /* the child-handle calls refuse an empty handle */
  CHECK_EQ(herd_child_wait(&c, 0), -EINVAL);
  CHECK_EQ(herd_child_kill(&c, SIGTERM, 0), -EINVAL);
}

static void env_case(unsigned flags) {
  CHECK(setenv("HERD_T_INHERITED", "yes", 1) == 0);
  CHECK(setenv("HERD_T_REMOVED", "present", 1) == 0);
  char *args[] = {"env", "HERD_T_INHERITED", "HERD_T_NEW", "HERD_T_REMOVED",
                  NULL};
  int st;
  herd_spawn_opts_t o = {0};
  char *out = run_helper(flags, &o, args, &st);
  CHECK_STR(out, "HERD_T_INHERITED=yes\nHERD_T_NEW=(unset)\n"
                 "HERD_T_REMOVED=present\n");
  free(out);

  const char *add[] = {"HERD_T_NEW=added", "HERD_T_INHERITED=over",
                       "HERD_T_REMOVED", NULL};
  memset(&o, 0, sizeof o);
  o.env_mode = HERD_ENV_ADD;
  o.env = add;
  out = run_helper(flags, &o, args, &st);
  CHECK_STR(out, "HERD_T_INHERITED=over\nHERD_T_NEW=added\n"
                 "HERD_T_REMOVED=(unset)\n");
  free(out);

  const char *only[] = {"HERD_T_NEW=only", NULL};
  memset(&o, 0, sizeof o);
  o.env_mode = HERD_ENV_REPLACE;
  o.env = only;
  out = run_helper(flags, &o, args, &st);
  CHECK_STR(out, "HERD_T_INHERITED=(unset)\nHERD_T_NEW=only\n"
                 "HERD_T_REMOVED=(unset)\n");
  free(out);

  /* replaced by nothing: an empty environment (the empty list once
   * lived on a stack frame gone by the time it was used) */
  memset(&o, 0, sizeof o);
  o.env_mode = HERD_ENV_REPLACE;
  out = run_helper(flags, &o, args, &st);
  CHECK_STR(out, "HERD_T_INHERITED=(unset)\nHERD_T_NEW=(unset)\n"
                 "HERD_T_REMOVED=(unset)\n");
  free(out);
}
TEST(spawn_env_inherit_add_replace) { both_paths(env_case); }

TEST(spawn_empty_env_still_finds_a_bare_name) {
  /* PATH is looked up in the new environment: with none, the default
   * path (the lookup once read a dead stack literal: ASan's report) */
  herd_spawn_opts_t o;
  memset(&o, 0, sizeof o);
  o.env_mode = HERD_ENV_REPLACE;
  char *argv[] = {"true", NULL};
  herd_child_t c;
  CHECK_OK(herd_spawn(&c, "true", argv, &o));
  CHECK_OK(herd_child_wait(&c, 10000));
  CHECK_EQ(herd_child_status(&c), 0);
  herd_child_close(&c);
}

static void cwd_argv0_case(unsigned flags) {
  int st;
  herd_spawn_opts_t o = {.cwd = "/usr"};
  char *a1[] = {"cwd", NULL};
  char *out = run_helper(flags, &o, a1, &st);
  CHECK_STR(out, "/usr\n");
  free(out);
  memset(&o, 0, sizeof o);
  o.argv0 = "herd: my title";
  char *a2[] = {"argv0", NULL};
  out = run_helper(flags, &o, a2, &st);
  CHECK_STR(out, "herd: my title\n");
  free(out);
}
TEST(spawn_cwd_and_argv0) { both_paths(cwd_argv0_case); }

static void session_case(unsigned flags) {
  int st;
  char *a[] = {"ids", NULL};
  herd_spawn_opts_t o = {.flags = HERD_SPAWN_SETSID};
  char *out = run_helper(flags, &o, a, &st);
  int uid, gid, pid, pgid, sid, ppid;
  CHECK_EQ(sscanf(out, "uid=%d gid=%d pid=%d pgid=%d sid=%d ppid=%d", &uid,
                  &gid, &pid, &pgid, &sid, &ppid),
           6);
  CHECK_EQ(sid, pid);
  CHECK_EQ(pgid, pid);
  CHECK_EQ(ppid, getpid());
  free(out);
  memset(&o, 0, sizeof o);
  o.flags = HERD_SPAWN_SETPGID;
  out = run_helper(flags, &o, a, &st);
  CHECK_EQ(sscanf(out, "uid=%d gid=%d pid=%d pgid=%d sid=%d ppid=%d", &uid,
                  &gid, &pid, &pgid, &sid, &ppid),
           6);
  CHECK_EQ(pgid, pid);
  CHECK_EQ(sid, getsid(0));
  free(out);
}
TEST(spawn_setsid_and_setpgid) { both_paths(session_case); }

static void uid_case(unsigned flags) {
  int st;
  char *a[] = {"ids", NULL};
  herd_spawn_opts_t o = {.flags = HERD_SPAWN_SETUID | HERD_SPAWN_SETGID,
                         .uid = 65534,
                         .gid = 65534};
  char *out = run_helper(flags, &o, a, &st);
  int uid = -1, gid = -1;
  CHECK_EQ(sscanf(out, "uid=%d gid=%d", &uid, &gid), 2);
  CHECK_EQ(uid, 65534);
  CHECK_EQ(gid, 65534);
  free(out);
}

TEST(spawn_uid_gid) {
  if (geteuid() != 0)
    SKIP("needs root to switch uid/gid");
  both_paths(uid_case);
  /* A setuid that fails comes back as -EPERM: drop root first. */
  CHECK(setgid(65534) == 0);
  CHECK(setuid(65534) == 0);
  herd_child_t c;
  char *argv[] = {"true", NULL};
  herd_spawn_opts_t o = {.flags = HERD_SPAWN_SETUID, .uid = 0};
  CHECK_EQ(herd_spawn(&c, "/bin/true", argv, &o), -EPERM);
  o.flags = HERD_SPAWN_SETUID | HERD_SPAWN_FORK;
  CHECK_EQ(herd_spawn(&c, "/bin/true", argv, &o), -EPERM);
}

static void sigreset_case(unsigned flags) {
  /* The parent ignores SIGUSR1, blocks SIGUSR2 and handles SIGHUP. */
  struct sigaction ign = {.sa_handler = SIG_IGN}, old1, oldhup;
  CHECK(sigaction(SIGUSR1, &ign, &old1) == 0);
  struct sigaction h = {.sa_handler = SIG_IGN};
  CHECK(sigaction(SIGHUP, &h, &oldhup) == 0);
  sigset_t s, olds;
  sigemptyset(&s);
  sigaddset(&s, SIGUSR2);
  CHECK(pthread_sigmask(SIG_BLOCK, &s, &olds) == 0);
  int st;
  char *a[] = {"sigstate", NULL};
  char *out = run_helper(flags, NULL, a, &st);
  CHECK(sigaction(SIGUSR1, &old1, NULL) == 0);
  CHECK(sigaction(SIGHUP, &oldhup, NULL) == 0);
  CHECK(pthread_sigmask(SIG_SETMASK, &olds, NULL) == 0);
  CHECK_STR(out, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
  free(out);
}
TEST(spawn_resets_signal_mask_and_dispositions) { both_paths(sigreset_case); }

TEST(spawn_wait_timeout_and_kill) {
  herd_child_t c;
  char *argv[] = {"herd-test", "--helper", "sleep", "20000", NULL};
  CHECK_OK(herd_spawn(&c, test_self(), argv, NULL));
  uint64_t t0 = test_now_ms();
  CHECK_EQ(herd_child_wait(&c, 100), -ETIMEDOUT);
  uint64_t dt = test_now_ms() - t0;
  CHECK_MSG(dt >= 90 && dt < 5000, "waited %llu ms for a 100 ms timeout",
            (unsigned long long)dt);
  CHECK_EQ(herd_child_poll(&c), 0);
  CHECK_EQ(herd_child_wait(&c, -2), -EINVAL);
  /* the pidfd is not readable while it runs */
  struct pollfd p = {.fd = c.pidfd, .events = POLLIN};
  CHECK_EQ(poll(&p, 1, 0), 0);
  CHECK_OK(herd_child_kill(&c, SIGKILL, 0));
  CHECK_EQ(poll(&p, 1, 10000), 1);
  CHECK_OK(herd_child_wait(&c, 10000));
  CHECK_EQ(c.term_signal, SIGKILL);
  CHECK_EQ(herd_child_poll(&c), 1);
  /* once reaped, never signalled again */
  CHECK_EQ(herd_child_kill(&c, SIGTERM, 0), -ESRCH);
  herd_child_close(&c);
}

TEST(spawn_kill_group_reaches_grandchildren) {
  /* Become the subreaper so orphaned grandchildren come back to us and
   * we can see how they died. */
  CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  herd_child_t c;
  char *argv[] = {"sh", "-c", "sleep 30 & echo $!; wait", NULL};
  herd_spawn_opts_t o = {.flags = HERD_SPAWN_SETPGID};
  o.stdio[1].kind = HERD_STDIO_PIPE;
  CHECK_OK(herd_spawn(&c, "sh", argv, &o));
  char line[32];
  test_read_line(c.stdio[1], line, sizeof line);
  pid_t grand = atoi(line);
  CHECK(grand > 0);
  /* without GROUP only the shell would die; a child that leads no group
   * refuses GROUP */
  CHECK_OK(herd_child_kill(&c, SIGTERM, HERD_KILL_GROUP));
  CHECK_OK(herd_child_wait(&c, 10000));
  CHECK_EQ(c.term_signal, SIGTERM);
  int st;
  CHECK_EQ(waitpid(grand, &st, 0), grand);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
  herd_child_close(&c);

  char *plain[] = {"herd-test", "--helper", "sleep", "20000", NULL};
  CHECK_OK(herd_spawn(&c, test_self(), plain, NULL));
  CHECK_EQ(herd_child_kill(&c, SIGTERM, HERD_KILL_GROUP), -EINVAL);
  herd_child_close(&c); /* kills and reaps */
}

TEST(spawn_no_zombie_left) {
  /* 20 children; some finished, some still running when closed. */
  herd_child_t c[20];
  for (int i = 0; i < 20; i++) {
    char *quick[] = {"herd-test", "--helper", "exit", "0", NULL};
    char *slow[] = {"herd-test", "--helper", "sleep", "20000", NULL};
    herd_spawn_opts_t o = {.flags = i % 3 ? 0 : HERD_SPAWN_FORK};
    CHECK_OK(herd_spawn(&c[i], test_self(), i % 2 ? slow : quick, &o));
  }
  for (int i = 0; i < 20; i += 2)
    CHECK_OK(herd_child_wait(&c[i], 10000));
  for (int i = 0; i < 20; i++)
    herd_child_close(&c[i]);
  for (int i = 1; i < 20; i += 2) {
    CHECK_EQ(c[i].reaped, 1);
    CHECK_EQ(c[i].term_signal, SIGKILL);
  }
  /* no child of ours exists any more, dead or alive */
  siginfo_t si;
  CHECK(waitid(P_ALL, 0, &si, WEXITED | WNOHANG) < 0 && errno == ECHILD);
}

TEST(spawn_emfile_is_returned_cleanly) {
  int before = test_count_fds();
  struct rlimit old, rl;
  CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
  /* The limit bounds fd numbers: put it at our third free number, so
   * only 2 more fds can be made, too few for 3 pipes. */
  int lim = 0;
  for (int fd = 0, nfree = 0; nfree < 3; fd++)
    if (fcntl(fd, F_GETFD) < 0 && ++nfree == 3)
      lim = fd;
  rl.rlim_cur = (rlim_t)lim;
  rl.rlim_max = old.rlim_max;
  CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
  herd_child_t c;
  char *argv[] = {"true", NULL};
  herd_spawn_opts_t o = {0};
  for (int i = 0; i < 3; i++)
    o.stdio[i].kind = HERD_STDIO_PIPE;
  int r = herd_spawn(&c, "true", argv, &o);
  o.flags = HERD_SPAWN_FORK;
  int r2 = herd_spawn(&c, "true", argv, &o);
  CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
  CHECK_EQ(r, -EMFILE);
  CHECK_EQ(r2, -EMFILE);
  CHECK_EQ(test_count_fds(), before);
}

TEST(spawn_pdeathsig) {
  /* An intermediate process spawns a sleeper with pdeathsig SIGKILL and
   * exits: the sleeper must die with it. We are the subreaper, so we
   * reap the sleeper and see the signal. */
  CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  int pfd[2];
  CHECK(pipe2(pfd, O_CLOEXEC) == 0);
  pid_t mid = fork();
  CHECK(mid >= 0);
  if (mid == 0) {
    herd_child_t c;
    char *argv[] = {"herd-test", "--helper", "sleep", "20000", NULL};
    herd_spawn_opts_t o = {.pdeathsig = SIGKILL};
    if (herd_spawn(&c, test_self(), argv, &o) < 0)
      _exit(1);
    if (write(pfd[1], &c.pid, sizeof c.pid) != sizeof c.pid)
      _exit(1);
    _exit(0); /* leaves the child running: pdeathsig must end it */
  }
  close(pfd[1]);
  pid_t sleeper = 0;
  CHECK_EQ(read(pfd[0], &sleeper, sizeof sleeper), (long long)sizeof sleeper);
  close(pfd[0]);
  int st;
  CHECK_EQ(waitpid(mid, &st, 0), mid);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  CHECK_EQ(waitpid(sleeper, &st, 0), sleeper);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

static void closed_stdout_case(unsigned flags) {
  /* Regression: with fd 1 closed, the stdin pipe created by herd_spawn
   * could take number 1 and reach the child as its stdout. */
  int pfd[2];
  CHECK(pipe2(pfd, O_CLOEXEC) == 0);
  int saved = fcntl(1, F_DUPFD_CLOEXEC, 10);
  CHECK(saved >= 0);
  CHECK(close(1) == 0);
  herd_fdmap_t map[] = {{pfd[1], 5}};
  herd_spawn_opts_t o = {.flags = flags, .fds = map, .nfds = 1};
  o.stdio[0].kind = HERD_STDIO_PIPE;
  char *argv[] = {"herd-test", "--helper", "listfds", "5", NULL};
  herd_child_t c;
  int r = herd_spawn(&c, test_self(), argv, &o);
  CHECK(dup2(saved, 1) == 1);
  close(saved);
  CHECK_OK(r);
  close(pfd[1]);
  char *out = test_read_all(pfd[0], NULL);
  close(pfd[0]);
  CHECK_OK(herd_child_wait(&c, 10000));
  herd_child_close(&c);
  CHECK_STR(out, "0 2 5\n");
  free(out);
}
TEST(spawn_closed_stdout_not_taken_by_a_pipe) { both_paths(closed_stdout_case); }

static void errpipe_collision_case(unsigned flags) {
  /* Regression: the error pipe may be created on the very number the
   * child wants for an extra fd; it must move, or exec errors are lost. */
  int pfd[2];
  CHECK(pipe2(pfd, O_CLOEXEC) == 0);
  int free1 = -1, free2 = -1;
  for (int fd = 3; free2 < 0; fd++)
    if (fcntl(fd, F_GETFD) < 0) {
      if (free1 < 0)
        free1 = fd;
      else
        free2 = fd;
    }
  /* herd_spawn's error pipe will be {free1, free2}: map onto free2 */
  herd_fdmap_t map[] = {{pfd[1], free2}};
  herd_spawn_opts_t o = {.flags = flags, .fds = map, .nfds = 1};
  char *argv[] = {"x", NULL};
  herd_child_t c;
  CHECK_EQ(herd_spawn(&c, "herd-no-such-program-xyz", argv, &o), -ENOENT);
  close(pfd[0]);
  close(pfd[1]);
}
TEST(spawn_error_pipe_moves_off_a_target_fd) { both_paths(errpipe_collision_case); }

static void near_limit_case(unsigned flags) {
  /* An extra fd at the highest number the limit allows needs no scratch
   * copy above it. */
  struct rlimit rl;
  CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
  int top = rl.rlim_cur > 4096 ? 4095 : (int)rl.rlim_cur - 1;
  struct rlimit low = {(rlim_t)top + 1, rl.rlim_max};
  CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
  int pfd[2];
  CHECK(pipe2(pfd, O_CLOEXEC) == 0);
  char num[16];
  snprintf(num, sizeof num, "%d", top);
  herd_fdmap_t map[] = {{pfd[1], top}};
  herd_spawn_opts_t o = {.flags = flags, .fds = map, .nfds = 1};
  char *argv[] = {"herd-test", "--helper", "writefds", num, "at-top", NULL};
  herd_child_t c;
  int r = herd_spawn(&c, test_self(), argv, &o);
  CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
  CHECK_OK(r);
  close(pfd[1]);
  char *out = test_read_all(pfd[0], NULL);
  close(pfd[0]);
  CHECK_OK(herd_child_wait(&c, 10000));
  CHECK_EQ(c.exit_code, 0);
  herd_child_close(&c);
  CHECK_STR(out, "at-top");
  free(out);
}
TEST(spawn_extra_fd_at_the_limit) { both_paths(near_limit_case); }

TEST(spawn_sigchld_ignored_never_signals_a_recycled_pid) {
  /* With SIGCHLD ignored the kernel reaps for us: the handle must learn
   * that the child is gone instead of signalling its pid later. */
  CHECK(signal(SIGCHLD, SIG_IGN) != SIG_ERR);
  herd_child_t c;
  char *argv[] = {"herd-test", "--helper", "exit", "0", NULL};
  CHECK_OK(herd_spawn(&c, test_self(), argv, NULL));
  struct pollfd p = {.fd = c.pidfd, .events = POLLIN};
  CHECK_EQ(poll(&p, 1, 10000), 1);
  CHECK_EQ(herd_child_wait(&c, 1000), -ECHILD);
  CHECK_EQ(c.reaped, 1);
  CHECK_EQ(herd_child_kill(&c, SIGTERM, 0), -ESRCH);
  herd_child_close(&c);
  herd_child_t zero;
  memset(&zero, 0, sizeof zero);
  herd_child_close(&zero); /* a never-spawned handle closes nothing */
  CHECK(fcntl(0, F_GETFD) >= 0);
  CHECK(signal(SIGCHLD, SIG_DFL) != SIG_ERR);
}
