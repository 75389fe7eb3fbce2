/*
 * spawnlean_test.c - a spawn in a process of many fds: the child shares
 * the parent's fd table until it takes a copy of only the fds below the
 * highest it needs (spawn.c, plan_launch), the sources above
 * HERD__FD_LOW go low for the launch, and the cluster keeps what it
 * holds of its workers high. What must still hold: every fd asked for
 * arrives, nothing else does, and a path through /dev/fd or
 * /proc/self/fd still reaches the parent's fd.
 */
#include <dirent.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

#include "hp.h"

/* n fds of /dev/null (half of them inheritable) from fd 3 up, and then
 * the holes: every fourth of those below 64 closed. The fds are
 * returned for fds_close. */
static int *fds_many(int n) {
  struct rlimit rl;
  CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
  if (rl.rlim_cur < (rlim_t)n + 256) {
    if (rl.rlim_max < (rlim_t)n + 256)
      test_skip("RLIMIT_NOFILE hard limit %llu < %d", (unsigned long long)rl.rlim_max, n + 256);
    rl.rlim_cur = (rlim_t)n + 256;
    CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
  }
  int *fds = calloc((size_t)n, sizeof *fds);
  CHECK(fds);
  for (int i = 0; i < n; i++) {
    fds[i] = open("/dev/null", O_RDONLY | (i % 2 ? O_CLOEXEC : 0));
    CHECK(fds[i] >= 0);
  }
  for (int i = 0; i < n; i++)
    if (fds[i] < 64 && fds[i] % 4 == 0) {
      close(fds[i]);
      fds[i] = -1;
    }
  return fds;
}

static void fds_close(int *fds, int n) {
  for (int i = 0; i < n; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  free(fds);
}

/* fd moved to at least min (CLOEXEC). */
static int fd_at(int fd, int min) {
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, min);
  CHECK(moved >= min);
  close(fd);
  return moved;
}

/* A pipe whose write end sits at high or above, given to the child as
 * its fd child_fd: what the child writes there is word. */
static void pipe_through(unsigned flags, int high, int child_fd, const char *word) {
  int pfd[2];
  CHECK(pipe2(pfd, O_CLOEXEC) == 0);
  pfd[1] = fd_at(pfd[1], high);
  herd_fdmap_t map[] = {{pfd[1], child_fd}};
  herd_spawn_opts_t o = {.flags = flags, .fds = map, .nfds = 1};
  char num[16];
  snprintf(num, sizeof num, "%d", child_fd);
  char *argv[] = {"herd-test", "--helper", "writefds", num, (char *)word, NULL};
  herd_child_t c;
  CHECK_OK(herd_spawn(&c, test_self(), argv, &o));
  close(pfd[1]);
  char *got = test_read_all(pfd[0], NULL);
  close(pfd[0]);
  CHECK_OK(herd_child_wait(&c, 10000));
  CHECK_EQ(c.exit_code, 0);
  herd_child_close(&c);
  CHECK_STR(got, word);
  free(got);
}

static void big_table_case(unsigned flags) {
  int *many = fds_many(3000);
  /* the pipe the child writes to as its fd 7 sits far above the rest;
   * its stdout is a pipe opened by the spawn */
  int pfd[2];
  CHECK(pipe2(pfd, O_CLOEXEC) == 0);
  pfd[1] = fd_at(pfd[1], 5000);
  herd_fdmap_t map[] = {{pfd[1], 7}};
  herd_spawn_opts_t o = {.flags = flags, .fds = map, .nfds = 1};
  o.stdio[0].kind = HERD_STDIO_IGNORE;
  o.stdio[1].kind = HERD_STDIO_PIPE;
  o.stdio[2].kind = HERD_STDIO_IGNORE;
  char *argv[] = {"herd-test", "--helper", "listfds", "7", NULL};
  herd_child_t c;
  CHECK_OK(herd_spawn(&c, test_self(), argv, &o));
  close(pfd[1]);
  char *listed = test_read_all(pfd[0], NULL);
  close(pfd[0]);
  char *out = test_read_all(c.stdio[1], NULL);
  CHECK_OK(herd_child_wait(&c, 10000));
  CHECK_EQ(c.exit_code, 0);
  herd_child_close(&c);
  /* the 1,500 inheritable fds of the parent reached nobody */
  CHECK_STR(listed, "0 1 2 7\n");
  CHECK_STR(out, "");
  free(listed);
  free(out);

  /* and a source far up as the child's fd 3 */
  pipe_through(flags, 6000, 3, "through-3");
  fds_close(many, 3000);
}

TEST(spawn_in_a_table_of_thousands_passes_what_is_asked) {
  big_table_case(0);
  big_table_case(HERD_SPAWN_FORK);
}

/* A program reached as /dev/fd/N or /proc/self/fd/N, N a high fd of
 * ours: the child must still have N when it execs. */
TEST(spawn_exec_through_a_high_fd_path) {
  const char *prefixes[] = {"/dev/fd/", "/proc/self/fd/"};
  for (int i = 0; i < 2; i++) {
    int fd = open(test_self(), O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    fd = fd_at(fd, 200);
    char path[64];
    snprintf(path, sizeof path, "%s%d", prefixes[i], fd);
    char *argv[] = {"herd-test", "--helper", "exit", "7", NULL};
    herd_child_t c;
    CHECK_OK(herd_spawn(&c, path, argv, NULL));
    CHECK_OK(herd_child_wait(&c, 10000));
    CHECK_EQ(c.exit_code, 7);
    herd_child_close(&c);
    close(fd);
  }
}

/* ... and a cwd given as /proc/self/fd/N of a directory fd. */
TEST(spawn_cwd_through_a_high_fd_path) {
  int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  CHECK(fd >= 0);
  fd = fd_at(fd, 200);
  char cwd[64];
  snprintf(cwd, sizeof cwd, "/proc/self/fd/%d", fd);
  herd_spawn_opts_t o = {.cwd = cwd};
  o.stdio[1].kind = HERD_STDIO_PIPE;
  char *argv[] = {"pwd", NULL};
  herd_child_t c;
  CHECK_OK(herd_spawn(&c, "/bin/pwd", argv, &o));
  char *out = test_read_all(c.stdio[1], NULL);
  CHECK_OK(herd_child_wait(&c, 10000));
  CHECK_EQ(c.exit_code, 0);
  herd_child_close(&c);
  CHECK_STR(out, "/\n");
  free(out);
  close(fd);
}

/* How many of pid's fds below 64 and at or above it link to a target
 * starting with what. */
static void fds_of(pid_t pid, const char *what, int *low, int *high) {
  char dir[64];
  snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
  DIR *d = opendir(dir);
  CHECK(d);
  *low = *high = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    char link[512], target[128];
    snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n < 0)
      continue; /* closed in between */
    target[n] = '\0';
    if (strncmp(target, what, strlen(what)))
      continue;
    if (atoi(e->d_name) < 64)
      (*low)++;
    else
      (*high)++;
  }
  closedir(d);
}

/* The master keeps each worker's pidfd, output pipes and (reuseport) its
 * slot's socket high, so the numbers a spawn takes stay low: its child
 * copies a few fds however many workers there are. */
TEST_T(herd_run_master_keeps_its_workers_fds_high, 60) {
  struct hp h;
  const char *args[] = {"run", "-w", "3", "--balance", "reuseport", "-l", "127.0.0.1:0", "--",
                        hello_http(), NULL};
  hp_start(&h, args);
  hp_port(&h);
  HP_WAIT(&h, "all 3 workers ready", 1);
  int low, high;
  fds_of(h.c.pid, "anon_inode:[pidfd]", &low, &high);
  CHECK_EQ(low, 0);
  CHECK_EQ(high, 3);
  fds_of(h.c.pid, "socket:", &low, &high);
  /* the first slot's sockets are the ones bound at start */
  CHECK(high >= 2);
  char body[64];
  CHECK_EQ(http_get(h.port, "/", body, sizeof body), 200);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

/* A file of ours at a high fd given to a child keeps our POSIX lock on
 * it: a copy of it closed again by the parent would have dropped it. */
TEST(spawn_of_a_high_locked_file_keeps_our_lock) {
  char path[] = "/tmp/herd-lock-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  unlink(path);
  fd = fd_at(fd, 300);
  struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  CHECK(fcntl(fd, F_SETLK, &l) == 0);
  /* a hole below 64 for the copy to go to */
  int *many = fds_many(100);
  herd_fdmap_t map[] = {{fd, 3}};
  herd_spawn_opts_t o = {.fds = map, .nfds = 1};
  char *argv[] = {"herd-test", "--helper", "exit", "0", NULL};
  herd_child_t c;
  CHECK_OK(herd_spawn(&c, test_self(), argv, &o));
  CHECK_OK(herd_child_wait(&c, 10000));
  herd_child_close(&c);
  /* another process sees the lock still ours */
  pid_t me = getpid();
  pid_t p = fork();
  CHECK(p >= 0);
  if (p == 0) {
    struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    _exit(fcntl(fd, F_GETLK, &q) == 0 && q.l_type == F_WRLCK && q.l_pid == me ? 0 : 1);
  }
  int st;
  CHECK(waitpid(p, &st, 0) == p);
  CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "our lock on the file is gone");
  close(fd);
  fds_close(many, 100);
}

/* valgrind ends a program at a clone it does not know (CLONE_FILES with
 * CLONE_VM | CLONE_VFORK): under it the whole table is copied as before,
 * and a program of ours runs (examples/spawn-exec: a spawn, execs). */
TEST_T(spawn_runs_under_valgrind, 120) {
  if (access("/usr/bin/valgrind", X_OK) != 0)
    SKIP("no /usr/bin/valgrind");
  if (getenv("HERD_SANITIZE") && *getenv("HERD_SANITIZE") == '1')
    SKIP("a sanitizer build does not run under valgrind");
  char prog[4096];
  path_of(prog, sizeof prog, "examples/spawn-exec");
  char *argv[] = {"valgrind", "-q", "--tool=none", prog, NULL};
  herd_spawn_opts_t o = {0};
  o.stdio[1].kind = HERD_STDIO_PIPE;
  o.stdio[2].kind = HERD_STDIO_PIPE;
  herd_child_t c;
  CHECK_OK(herd_spawn(&c, "/usr/bin/valgrind", argv, &o));
  char *err = NULL;
  char *out = test_read_all(c.stdio[1], NULL);
  err = test_read_all(c.stdio[2], NULL);
  CHECK_OK(herd_child_wait(&c, 100000));
  CHECK_MSG(herd_child_status(&c) == 0, "valgrind: status %d: %s", herd_child_status(&c), err);
  herd_child_close(&c);
  CHECK(strstr(out, "as expected: -ENOENT"));
  free(out);
  free(err);
}

/* A clone with CLONE_FILES refused with EINVAL (as qemu-user refuses
 * it), here by a seccomp filter on this test's process: the spawn runs
 * as before, with a copy of the whole table, and later ones too. */
TEST(spawn_with_the_shared_table_refused_still_spawns) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 4),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
      /* the vfork-style one only: the child inherits the filter, and
       * LeakSanitizer's clone (CLONE_FILES without CLONE_VFORK) must run */
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, CLONE_FILES | CLONE_VFORK),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, CLONE_FILES | CLONE_VFORK, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
  CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
  CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0);
  int *many = fds_many(200);
  for (int i = 0; i < 2; i++)
    pipe_through(0, 500, 4, "refused");
  fds_close(many, 200);
}
