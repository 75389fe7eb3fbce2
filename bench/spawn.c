/*
 * bench/spawn.c - how fast herd creates processes, next to the raw ways.
 *
 *   spawn CASE [-t MS | -n COUNT]
 *
 * Runs CASE for MS milliseconds (default 1000, after a short untimed
 * warm-up) or exactly COUNT times (no warm-up: for strace/perf), then
 * prints one line:
 *
 *   CASE RATE_PER_S COUNT SECONDS
 *
 * Cases (run `spawn list` for the names):
 *   herd_spawn_seq   herd_spawn /bin/true, herd_child_wait, herd_child_close
 *   fork_seq         fork + execve /bin/true + waitpid
 *   vfork_seq        vfork + execve /bin/true + waitpid
 *   posix_spawn_seq  posix_spawn /bin/true + waitpid
 *   *_par8           the same with 8 children in flight: reap whichever
 *                    exits first, start the next one at once
 *   herd_exec        herd_exec("echo hi"), output checked
 *   posix_spawn_sh   posix_spawn /bin/sh -c 'echo hi' with stdout and
 *                    stderr piped, both read to EOF with poll, waitpid
 *
 * Every child's exit status (and output) is checked: a failure stops the
 * run with exit status 1, so a broken case never shows a rate.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "herd.h"

#define PAR 8

extern char **environ;

static char *const true_argv[] = { "true", NULL };
static char *const sh_argv[] = { "sh", "-c", "echo hi", NULL };

static void die(const char *what, int err) {
  fprintf(stderr, "spawn: %s: %s\n", what,
          err < 0 ? herd_strerror(err) : strerror(err));
  exit(1);
}

static double now_s(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
    die("clock_gettime", errno);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check_status(int status) {
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "spawn: child failed (wait status 0x%x)\n", status);
    exit(1);
  }
}

static pid_t wait_any(void) {
  int status;
  pid_t pid;
  do
    pid = waitpid(-1, &status, 0);
  while (pid < 0 && errno == EINTR);
  if (pid < 0)
    die("waitpid", errno);
  check_status(status);
  return pid;
}

static void wait_pid(pid_t pid) {
  int status;
  pid_t r;
  do
    r = waitpid(pid, &status, 0);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    die("waitpid", errno);
  check_status(status);
}

/* ---- raw starters: return the child's pid ---- */

static pid_t start_fork(void) {
  pid_t pid = fork();
  if (pid < 0)
    die("fork", errno);
  if (pid == 0) {
    execve("/bin/true", true_argv, environ);
    _exit(127);
  }
  return pid;
}

/* Alone in its function so that nothing the child could clobber lives in
 * the caller's frame (the child shares our stack until execve). */
static __attribute__((noinline)) pid_t start_vfork(void) {
  pid_t pid = vfork();
  if (pid == 0) {
    execve("/bin/true", true_argv, environ);
    _exit(127);
  }
  if (pid < 0)
    die("vfork", errno);
  return pid;
}

static pid_t start_posix_spawn(void) {
  pid_t pid;
  int err = posix_spawn(&pid, "/bin/true", NULL, NULL, true_argv, environ);
  if (err != 0)
    die("posix_spawn", err);
  return pid;
}

/* ---- one iteration of each sequential case ---- */

static void once_herd_spawn(void) {
  herd_child_t c;
  int r = herd_spawn(&c, "/bin/true", true_argv, NULL);
  if (r < 0)
    die("herd_spawn", r);
  r = herd_child_wait(&c, -1);
  if (r < 0)
    die("herd_child_wait", r);
  if (herd_child_status(&c) != 0) {
    fprintf(stderr, "spawn: child failed (status %d)\n",
            herd_child_status(&c));
    exit(1);
  }
  herd_child_close(&c);
}

static void once_fork(void) { wait_pid(start_fork()); }
static void once_vfork(void) { wait_pid(start_vfork()); }
static void once_posix_spawn(void) { wait_pid(start_posix_spawn()); }

static void once_herd_exec(void) {
  herd_exec_result_t res;
  int r = herd_exec("echo hi", NULL, &res);
  if (r < 0)
    die("herd_exec", r);
  if (res.reason != HERD_EXEC_EXITED || res.exit_code != 0 ||
      res.out_len != 3 || memcmp(res.out, "hi\n", 3) != 0 ||
      res.err_len != 0) {
    fprintf(stderr, "spawn: herd_exec: reason %d code %d out %zu err %zu\n",
            res.reason, res.exit_code, res.out_len, res.err_len);
    exit(1);
  }
  herd_exec_result_free(&res);
}

/* The hand-written equivalent of herd_exec: both output pipes read to EOF,
 * then the child reaped. */
static void once_posix_spawn_sh(void) {
  int out[2] = { -1, -1 }, err[2] = { -1, -1 };
  posix_spawn_file_actions_t fa;
  char buf[2][256];
  size_t len[2] = { 0, 0 };
  struct pollfd pfd[2];
  pid_t pid;
  int e, open_n = 2;

  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)
    die("pipe2", errno);
  if ((e = posix_spawn_file_actions_init(&fa)) != 0 ||
      (e = posix_spawn_file_actions_adddup2(&fa, out[1], 1)) != 0 ||
      (e = posix_spawn_file_actions_adddup2(&fa, err[1], 2)) != 0)
    die("posix_spawn_file_actions", e);
  e = posix_spawn(&pid, "/bin/sh", &fa, NULL, sh_argv, environ);
  if (e != 0)
    die("posix_spawn", e);
  posix_spawn_file_actions_destroy(&fa);
  if (close(out[1]) != 0 || close(err[1]) != 0)
    die("close", errno);

  pfd[0].fd = out[0];
  pfd[1].fd = err[0];
  pfd[0].events = pfd[1].events = POLLIN;
  while (open_n > 0) {
    if (poll(pfd, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      die("poll", errno);
    }
    for (int i = 0; i < 2; i++) {
      ssize_t n;
      if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      n = read(pfd[i].fd, buf[i] + len[i], sizeof buf[i] - len[i]);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        die("read", errno);
      if (n == 0 || len[i] + (size_t)n == sizeof buf[i]) {
        if (close(pfd[i].fd) != 0)
          die("close", errno);
        pfd[i].fd = -1;
        open_n--;
      }
      len[i] += (size_t)n;
    }
  }
  wait_pid(pid);
  if (len[0] != 3 || memcmp(buf[0], "hi\n", 3) != 0 || len[1] != 0) {
    fprintf(stderr, "spawn: sh -c 'echo hi': out %zu err %zu bytes\n",
            len[0], len[1]);
    exit(1);
  }
}

/* ---- drivers ---- */

/* Run until count reaches n (n > 0) or time passes deadline. */
typedef struct run {
  long n;
  double deadline;
} run_t;

static int more(const run_t *r, long done) {
  return r->n > 0 ? done < r->n : now_s() < r->deadline;
}

static long drive_seq(void (*once)(void), const run_t *r) {
  long done = 0;
  while (more(r, done)) {
    once();
    done++;
  }
  return done;
}

/* Keep PAR raw children in flight; waitpid(-1) reaps whichever is first. */
static long drive_par_raw(pid_t (*start)(void), const run_t *r) {
  long started = 0, done = 0;
  int running = 0;
  while (running < PAR && more(r, started)) {
    start();
    started++;
    running++;
  }
  while (running > 0) {
    wait_any();
    running--;
    done++;
    if (more(r, started)) {
      start();
      started++;
      running++;
    }
  }
  return done;
}

/* Keep PAR herd children in flight; poll their pidfds, reap the ready
 * ones with herd_child_wait, close, start the next. */
static long drive_par_herd(const run_t *r) {
  herd_child_t c[PAR];
  struct pollfd pfd[PAR];
  long started = 0, done = 0;
  int running = 0;

  for (int i = 0; i < PAR; i++) {
    pfd[i].fd = -1;
    pfd[i].events = POLLIN;
    if (!more(r, started))
      continue;
    int e = herd_spawn(&c[i], "/bin/true", true_argv, NULL);
    if (e < 0)
      die("herd_spawn", e);
    pfd[i].fd = c[i].pidfd;
    started++;
    running++;
  }
  while (running > 0) {
    if (poll(pfd, PAR, -1) < 0) {
      if (errno == EINTR)
        continue;
      die("poll", errno);
    }
    for (int i = 0; i < PAR; i++) {
      if (pfd[i].fd < 0 || !pfd[i].revents)
        continue;
      int e = herd_child_wait(&c[i], 0);
      if (e == -ETIMEDOUT)
        continue;
      if (e < 0)
        die("herd_child_wait", e);
      if (herd_child_status(&c[i]) != 0) {
        fprintf(stderr, "spawn: child failed (status %d)\n",
                herd_child_status(&c[i]));
        exit(1);
      }
      herd_child_close(&c[i]);
      pfd[i].fd = -1;
      running--;
      done++;
      if (more(r, started)) {
        e = herd_spawn(&c[i], "/bin/true", true_argv, NULL);
        if (e < 0)
          die("herd_spawn", e);
        pfd[i].fd = c[i].pidfd;
        started++;
        running++;
      }
    }
  }
  return done;
}

typedef struct bench_case {
  const char *name;
  void (*once)(void);    /* sequential cases */
  pid_t (*start)(void);  /* raw PAR cases */
  int herd_par;          /* the herd PAR case */
} bench_case_t;

/* Each herd case sits next to its baseline, so that run.sh, which runs
 * them in this order, compares them close together in time. */
static const bench_case_t cases[] = {
  { "posix_spawn_seq", once_posix_spawn, NULL, 0 },
  { "herd_spawn_seq", once_herd_spawn, NULL, 0 },
  { "fork_seq", once_fork, NULL, 0 },
  { "vfork_seq", once_vfork, NULL, 0 },
  { "posix_spawn_par8", NULL, start_posix_spawn, 0 },
  { "herd_spawn_par8", NULL, NULL, 1 },
  { "fork_par8", NULL, start_fork, 0 },
  { "vfork_par8", NULL, start_vfork, 0 },
  { "posix_spawn_sh", once_posix_spawn_sh, NULL, 0 },
  { "herd_exec", once_herd_exec, NULL, 0 },
};

static long drive(const bench_case_t *bc, const run_t *r) {
  if (bc->once)
    return drive_seq(bc->once, r);
  if (bc->start)
    return drive_par_raw(bc->start, r);
  return drive_par_herd(r);
}

static void usage(void) {
  fprintf(stderr, "usage: spawn CASE [-t MS | -n COUNT]\n"
                  "       spawn list\n");
  exit(2);
}

static long parse_pos(const char *s) {
  char *end;
  long v;
  errno = 0;
  v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v <= 0)
    usage();
  return v;
}

int main(int argc, char **argv) {
  const bench_case_t *bc = NULL;
  long ms = 1000, n = 0, done;
  double t0, t1;
  run_t r;

  if (argc < 2)
    usage();
  if (strcmp(argv[1], "list") == 0) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
      printf("%s\n", cases[i].name);
    return 0;
  }
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    if (strcmp(argv[1], cases[i].name) == 0)
      bc = &cases[i];
  if (bc == NULL)
    usage();
  if (argc == 4 && strcmp(argv[2], "-t") == 0)
    ms = parse_pos(argv[3]);
  else if (argc == 4 && strcmp(argv[2], "-n") == 0)
    n = parse_pos(argv[3]);
  else if (argc != 2)
    usage();

  if (n == 0) {
    /* Warm-up, untimed: page in the library, the allocator, the kernel's
     * caches of /bin/true and /bin/sh. */
    r.n = 0;
    r.deadline = now_s() + (ms / 10 < 100 ? (double)ms / 10 : 100) / 1e3;
    drive(bc, &r);
  }
  r.n = n;
  t0 = now_s();
  r.deadline = t0 + (double)ms / 1e3;
  done = drive(bc, &r);
  t1 = now_s();
  printf("%s %.1f %ld %.3f\n", bc->name, (double)done / (t1 - t0), done,
         t1 - t0);
  return 0;
}
