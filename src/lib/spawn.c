/*
 * spawn.c - herd_spawn and the child handle (wait, kill, close): the
 * parent's side.
 *
 * Everything the child needs is built in the parent before the clone:
 * argv, envp, the fd plan (struct plan, spawn.h). The child then runs
 * only raw system calls (spawnchild.c) and reports a failure before exec
 * as {stage, errno} through a CLOEXEC pipe, so herd_spawn returns -errno
 * instead of a child that exits 127.
 *
 * The fast path is a vfork-style clone (CLONE_VM | CLONE_VFORK, in
 * linux/os.c): no page tables are copied, the parent sleeps until the
 * child has exec'd or died. Because the child shares the parent's memory,
 * it writes nothing the parent reads (only its own stack and the scratch
 * slots plan.pairs[].tmp, reserved for it), calls no libc function that
 * touches global state, and runs with every signal blocked until the
 * dispositions are reset. HERD_SPAWN_FORK selects a plain fork() running
 * the same child code, for comparison in tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "linux/os.h"
#include "spawn.h"

extern char **environ;

static int fd_valid(int fd) {
  return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

static int cmp_pair(const void *a, const void *b) {
  const struct pair *x = a, *y = b;
  return (x->dst > y->dst) - (x->dst < y->dst);
}

static int env_key_eq(const char *a, const char *b) {
  /* a is "K=V" or "K"; b is "K=V" */
  while (*a && *a != '=' && *a == *b) {
    a++;
    b++;
  }
  return (*a == '=' || *a == '\0') && *b == '=';
}

/* Build environ with opts->env laid over it. Returns a malloc'd array of
 * borrowed strings, or NULL (ENOMEM). */
static char **env_merge(const char *const *add) {
  size_t nbase = 0, nadd = 0;
  for (char **e = environ; e && *e; e++)
    nbase++;
  for (const char *const *a = add; a && *a; a++)
    nadd++;
  char **out = malloc((nbase + nadd + 1) * sizeof *out);
  if (!out)
    return NULL;
  size_t n = 0;
  for (char **e = environ; e && *e; e++) {
    int over = 0;
    for (const char *const *a = add; a && *a && !over; a++)
      over = env_key_eq(*a, *e);
    if (!over)
      out[n++] = *e;
  }
  for (const char *const *a = add; a && *a; a++)
    if (strchr(*a, '='))
      out[n++] = (char *)*a;
  out[n] = NULL;
  return out;
}

static const char *env_get(char *const *envp, const char *key) {
  size_t klen = strlen(key);
  for (; envp && *envp; envp++)
    if (strncmp(*envp, key, klen) == 0 && (*envp)[klen] == '=')
      return *envp + klen + 1;
  return NULL;
}

static void child_reset(herd_child_t *c) {
  memset(c, 0, sizeof *c);
  c->pid = -1;
  c->pidfd = -1;
  c->stdio[0] = c->stdio[1] = c->stdio[2] = -1;
  c->exit_code = -1;
}

static int spawn_plan(herd_child_t *child, const char *file, char *const argv[],
                      int (*fn)(void *), void *fn_arg, const herd_spawn_opts_t *opts);

int herd_spawn(herd_child_t *child, const char *file, char *const argv[],
               const herd_spawn_opts_t *opts) {
  if (!file || !*file || !argv || !argv[0])
    return child ? (child_reset(child), -EINVAL) : -EINVAL;
  return spawn_plan(child, file, argv, NULL, NULL, opts);
}

int herd__spawn_fn(herd_child_t *child, int (*fn)(void *), void *arg,
                   const herd_spawn_opts_t *opts) {
  if (!fn)
    return child ? (child_reset(child), -EINVAL) : -EINVAL;
  return spawn_plan(child, NULL, NULL, fn, arg, opts);
}

/* The checks of opts that need nothing made yet, and the plan's fields
 * from the arguments. 0 or -EINVAL. */
static int plan_init(struct plan *p, const char *file, char *const argv[],
                     int (*fn)(void *), void *fn_arg,
                     const herd_spawn_opts_t *opts) {
  if (opts->nfds > 1024 || (opts->nfds && !opts->fds))
    return -EINVAL;
  if (opts->env_mode < HERD_ENV_INHERIT || opts->env_mode > HERD_ENV_ADD)
    return -EINVAL;
  if (opts->pdeathsig < 0 || opts->pdeathsig >= _NSIG)
    return -EINVAL;
  if ((opts->flags & HERD_SPAWN_UMASK) && (opts->umask & ~0777u))
    return -EINVAL;
  if (opts->timeout_ms < 0 || opts->kill_signal < 0 ||
      opts->kill_signal >= _NSIG)
    return -EINVAL;
  if ((opts->flags & HERD_SPAWN_KILL_GROUP) &&
      !(opts->flags & (HERD_SPAWN_SETSID | HERD_SPAWN_SETPGID)))
    return -EINVAL;
  if (opts->flags & HERD_FORK_ADVANCED)
    return -EINVAL; /* herd_fork's (it takes it out): no channel here */
  if (opts->shell && fn)
    return -EINVAL; /* a function child execs nothing */
  /* As Node's spawn with an aborted signal: no child at all. */
  if (opts->abort && herd_abort_fired(opts->abort))
    return -ECANCELED;

  memset(p, 0, sizeof *p);
  p->file = file;
  p->fn = fn;
  p->fn_arg = fn_arg;
  p->search = file && !(opts->flags & HERD_SPAWN_NOPATH) && !strchr(file, '/');
  p->cwd = opts->cwd;
  p->flags = opts->flags;
  p->uid = opts->uid;
  p->gid = opts->gid;
  p->pdeathsig = opts->pdeathsig;
  p->umask = (mode_t)opts->umask;
  p->parent = getpid();
  p->argv = argv;
  return 0;
}

/* The shell's argv, as Node's normalizeSpawnArguments: {argv0 or the
 * shell, "-c", command}, the command being file and argv[1..] joined by
 * single spaces, unquoted. The array and the command are one allocation,
 * in *argv_alloc for the caller to free. 0 or -ENOMEM. */
static int plan_shell(struct plan *p, const herd_spawn_opts_t *opts,
                      char *const argv[], char ***argv_alloc) {
  const char *sh = *opts->shell ? opts->shell : "/bin/sh";
  size_t len = strlen(p->file) + 1;
  for (size_t i = 1; argv[i]; i++) {
    size_t n = strlen(argv[i]) + 1;
    if (len > SIZE_MAX / 2 - n)
      return -ENOMEM;
    len += n;
  }
  char **a = *argv_alloc = malloc(4 * sizeof *a + len);
  if (!a)
    return -ENOMEM;
  char *cmd = (char *)(a + 4);
  size_t off = strlen(p->file);
  memcpy(cmd, p->file, off);
  for (size_t i = 1; argv[i]; i++) {
    size_t n = strlen(argv[i]);
    cmd[off++] = ' ';
    memcpy(cmd + off, argv[i], n);
    off += n;
  }
  cmd[off] = '\0';
  a[0] = (char *)(opts->argv0 ? opts->argv0 : sh);
  a[1] = "-c";
  a[2] = cmd;
  a[3] = NULL;
  p->argv = a;
  p->file = sh;
  p->search = !(opts->flags & HERD_SPAWN_NOPATH) && !strchr(sh, '/');
  return 0;
}

/* What the child execs with: argv with opts->argv0 laid over argv[0],
 * envp by opts->env_mode with LISTEN_PID's entry (lpid, the caller's
 * buffer) in it, and the PATH of the lookup. The arrays made go to
 * *argv_alloc, *envp_alloc and *envp_lpid, for the caller to free, as
 * soon as they are made. 0 or -ENOMEM. */
static int plan_exec(struct plan *p, const herd_spawn_opts_t *opts,
                     char *const argv[], char ***argv_alloc,
                     char ***envp_alloc, char ***envp_lpid, char *lpid) {
  if (opts->shell && argv) {
    int r = plan_shell(p, opts, argv, argv_alloc);
    if (r < 0)
      return r;
  } else if (opts->argv0 && argv) {
    size_t n = 0;
    while (argv[n])
      n++;
    char **a = *argv_alloc = malloc((n + 1) * sizeof *a);
    if (!a)
      return -ENOMEM;
    memcpy(a, argv, (n + 1) * sizeof *a);
    a[0] = (char *)opts->argv0;
    p->argv = a;
  }

  switch (opts->env_mode) {
  case HERD_ENV_REPLACE: {
    /* static: a compound literal would die with this block */
    static char *const empty_env[] = {NULL};
    p->envp = opts->env ? (char *const *)opts->env : empty_env;
    break;
  }
  case HERD_ENV_ADD:
    *envp_alloc = env_merge(opts->env);
    if (!*envp_alloc)
      return -ENOMEM;
    p->envp = *envp_alloc;
    break;
  default:
    p->envp = environ;
    break;
  }
  if (opts->flags & HERD_SPAWN_LISTEN_PID) {
    size_t n = 0;
    for (char *const *e = p->envp; e && *e; e++)
      n++;
    char **ep = *envp_lpid = malloc((n + 2) * sizeof *ep);
    if (!ep)
      return -ENOMEM;
    size_t k = 0;
    for (char *const *e = p->envp; e && *e; e++)
      if (strncmp(*e, "LISTEN_PID=", 11) != 0)
        ep[k++] = *e;
    ep[k++] = lpid;
    ep[k] = NULL;
    p->envp = ep;
    p->lpid = lpid;
  }
  if (p->search) {
    /* As libuv: the PATH the child will have decides where it is found;
     * without one, a default like execvp's, with /usr/local/bin first as
     * the shells' defaults have it. */
    p->path = env_get(p->envp, "PATH");
    if (!p->path)
      p->path = "/usr/local/bin:/bin:/usr/bin";
  }
  return 0;
}

/* The fd plan into pairs (room for 3 + opts->nfds) and p: stdio first,
 * then the extra fds, sorted by target. The pipes and /dev/null it opens
 * go to pipes and *devnull as soon as they are open, for the caller to
 * close. 0 or -errno. */
static int plan_fds(struct plan *p, const herd_spawn_opts_t *opts,
                    struct pair *pairs, int pipes[3][2], int *devnull) {
  /* Which of 0-2 are open is decided before we create any fd, which
   * could take a free number. */
  int std_open[3];
  for (int i = 0; i < 3; i++)
    std_open[i] = fd_valid(i);
  int np = 0;
  int maxfd = 2;
  for (int i = 0; i < 3; i++) {
    const herd_stdio_t *s = &opts->stdio[i];
    switch (s->kind) {
    case HERD_STDIO_INHERIT:
      if (std_open[i]) /* a closed fd stays closed in the child */
        pairs[np++] = (struct pair){i, i, -1, -1};
      break;
    case HERD_STDIO_PIPE:
      if (pipe2(pipes[i], O_CLOEXEC) < 0)
        return -errno;
      /* stdin: the child reads [0]; stdout/stderr: it writes [1]. */
      pairs[np++] = (struct pair){pipes[i][i == 0 ? 0 : 1], i, -1, -1};
      break;
    case HERD_STDIO_IGNORE:
      if (*devnull < 0) {
        *devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (*devnull < 0)
          return -errno;
      }
      pairs[np++] = (struct pair){*devnull, i, -1, -1};
      break;
    case HERD_STDIO_FD:
      if (!fd_valid(s->fd))
        return -EBADF;
      pairs[np++] = (struct pair){s->fd, i, -1, -1};
      break;
    default:
      return -EINVAL;
    }
  }
  for (size_t k = 0; k < opts->nfds; k++) {
    const herd_fdmap_t *m = &opts->fds[k];
    if (m->child_fd < 3 || m->child_fd > INT_MAX - 1)
      return -EINVAL;
    for (size_t j = 0; j < k; j++)
      if (opts->fds[j].child_fd == m->child_fd)
        return -EINVAL;
    if (!fd_valid(m->parent_fd))
      return -EBADF;
    pairs[np++] = (struct pair){m->parent_fd, m->child_fd, -1, -1};
  }
  for (int i = 0; i < np; i++) {
    if (pairs[i].dst > maxfd)
      maxfd = pairs[i].dst;
  }
  qsort(pairs, (size_t)np, sizeof *pairs, cmp_pair);
  p->pairs = pairs;
  p->npairs = np;
  /* A high source goes low for the launch where a number is free down
   * there: the child copies the fds below the highest it needs (fdtop).
   * No free number (EMFILE too) only costs the copy. Sockets and pipes
   * only: closing a copy of a file would drop the caller's POSIX locks
   * on it (fcntl(2), F_SETLK). */
  for (int i = 0; i < np; i++) {
    struct stat st;
    if (pairs[i].src < HERD__FD_LOW || fstat(pairs[i].src, &st) < 0 ||
        !(S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode)))
      continue;
    int low = fcntl(pairs[i].src, F_DUPFD_CLOEXEC, 0);
    if (low >= 0 && low < pairs[i].src)
      pairs[i].src = pairs[i].low = low;
    else
      herd__close(low);
  }
  p->tmpbase = maxfd + 1;
  for (int i = 0; i < np && !p->lift; i++)
    for (int j = 0; j < np; j++)
      if (i != j && pairs[i].src == pairs[j].dst)
        p->lift = 1;
  return 0;
}

/* A path through which exec or chdir would reach one of our fds: the
 * child that keeps only low ones (fdtop) might not have it. */
static int via_fd(const char *path) {
  return path && (!strncmp(path, "/dev/fd/", 8) || !strncmp(path, "/proc/self/fd/", 14) ||
                  !strncmp(path, "/proc/thread-self/fd/", 21));
}

/* How the child starts (herd__os_launch), and p->fdtop for the lean
 * way: a child that shares our fd table until it takes a copy of only
 * the fds it needs, where a clone would copy every one (their count is
 * the cost: thousands in a master of thousands of workers). */
static int plan_launch(struct plan *p, int fork_it) {
  if (fork_it)
    return HERD__LAUNCH_FORK; /* a function runs in a real fork */
  if (!herd__os_unshare_ok() || via_fd(p->file) || via_fd(p->cwd))
    return HERD__LAUNCH_VFORK;
  int top = p->errfd;
  for (int i = 0; i < p->npairs; i++) {
    if (p->pairs[i].src > top)
      top = p->pairs[i].src;
    if (p->pairs[i].dst > top)
      top = p->pairs[i].dst;
  }
  p->fdtop = (unsigned)top + 1;
  return HERD__LAUNCH_VFORK_FDS;
}

/* The child started as plan_launch says: 0 or -errno. */
static int launch(struct plan *p, int fork_it, pid_t *pid, int *pidfd) {
  int how = plan_launch(p, fork_it);
  int err = herd__os_launch(herd__spawn_child, p, how, pid, pidfd);
  if (err == -EINVAL && how == HERD__LAUNCH_VFORK_FDS) {
    /* A clone with CLONE_FILES refused (qemu-user's, say): as before,
     * from now on */
    herd__os_unshare_off();
    p->fdtop = 0;
    err = herd__os_launch(herd__spawn_child, p, HERD__LAUNCH_VFORK, pid, pidfd);
  }
  return err;
}

/* The parent's low copies of the sources (plan_fds) go. */
static void lows_close(struct plan *p) {
  for (int i = 0; i < p->npairs; i++)
    herd__closep(&p->pairs[i].low);
}

/* The error pipe into errpipe (the caller closes it), its write end
 * above every target of the plan and in p->errfd. 0 or -errno. */
static int errpipe_open(struct plan *p, int errpipe[2]) {
  if (pipe2(errpipe, O_CLOEXEC) < 0)
    return -errno;
  for (int i = 0; i < p->npairs; i++) {
    if (p->pairs[i].dst != errpipe[1])
      continue;
    /* The error pipe sits where the child wants another fd: move it
     * (tmpbase: above every target). */
    int moved = fcntl(errpipe[1], F_DUPFD_CLOEXEC, p->tmpbase);
    if (moved < 0)
      return -errno;
    herd__close(errpipe[1]);
    errpipe[1] = moved;
    break;
  }
  p->errfd = errpipe[1];
  return 0;
}

/* The child's word on the error pipe's read end *fd (closed and set to
 * -1 once read; left open if the first read fails). EOF: the exec
 * happened (the pipe closed with it), 0. Data: it failed, -errno (-EIO
 * for a short message). */
static int errpipe_read(int *fd) {
  int msg[2];
  size_t got = 0;
  while (got < sizeof msg) {
    ssize_t n = herd__read(*fd, (char *)msg + got, sizeof msg - got);
    if (n <= 0) {
      if (n < 0 && got == 0)
        return (int)n;
      break;
    }
    got += (size_t)n;
  }
  herd__closep(fd);
  if (got == sizeof msg)
    return msg[1] > 0 ? -msg[1] : -EIO;
  if (got != 0)
    return -EIO;
  return 0;
}

static int spawn_plan(herd_child_t *child, const char *file, char *const argv[],
                      int (*fn)(void *), void *fn_arg, const herd_spawn_opts_t *opts) {
  static const herd_spawn_opts_t defaults;
  struct plan p;
  int pipes[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
  int errpipe[2] = {-1, -1};
  int devnull = -1;
  char **envp_alloc = NULL;
  char **envp_lpid = NULL;
  char **argv_alloc = NULL;
  char lpid[32] = "LISTEN_PID=";
  struct pair *pairs = NULL;
  pid_t pid = -1;
  int pidfd = -1;
  int err = 0;

  if (!child)
    return -EINVAL;
  child_reset(child);
  if (!opts)
    opts = &defaults;
  err = plan_init(&p, file, argv, fn, fn_arg, opts);
  if (err < 0)
    return err;

  pairs = calloc(3 + opts->nfds, sizeof *pairs);
  if (!pairs)
    return -ENOMEM;

  err = plan_exec(&p, opts, argv, &argv_alloc, &envp_alloc, &envp_lpid, lpid);
  if (err < 0)
    goto fail;
  err = plan_fds(&p, opts, pairs, pipes, &devnull);
  if (err < 0)
    goto fail;
  err = errpipe_open(&p, errpipe);
  if (err < 0)
    goto fail;

  /* a function runs in a real fork: it may call anything, and returns */
  err = launch(&p, fn || (opts->flags & HERD_SPAWN_FORK), &pid, &pidfd);
  lows_close(&p);
  if (err < 0)
    goto fail;

  herd__closep(&errpipe[1]);
  for (int i = 0; i < 3; i++)
    herd__closep(&pipes[i][i == 0 ? 0 : 1]);
  herd__closep(&devnull);

  err = errpipe_read(&errpipe[0]);
  if (err < 0)
    goto fail;

  child->pid = pid;
  child->pidfd = pidfd;
  /* The timeout counts from the exec, as Node's timer from the spawn. */
  if (opts->timeout_ms > 0)
    child->deadline_ms = herd__now_ms() + (uint64_t)opts->timeout_ms;
  child->kill_signal = opts->kill_signal ? opts->kill_signal : SIGTERM;
  child->kill_flags = (opts->flags & HERD_SPAWN_KILL_GROUP) ? HERD_KILL_GROUP : 0;
  child->abort = opts->abort;
  for (int i = 0; i < 3; i++)
    child->stdio[i] = pipes[i][i == 0 ? 1 : 0];
  free(pairs);
  free(envp_alloc);
  free(envp_lpid);
  free(argv_alloc);
  return 0;

fail:
  if (pid > 0) {
    /* The child failed before exec (or we could not learn otherwise):
     * make sure it is gone, then reap it. */
    herd_child_t tmp;
    child_reset(&tmp);
    tmp.pid = pid;
    tmp.pidfd = pidfd;
    if (pidfd >= 0)
      (void)herd__os_pidfd_kill(pidfd, SIGKILL);
    else
      (void)kill(pid, SIGKILL);
    (void)herd__reap(&tmp, 0);
  }
  herd__close(pidfd);
  herd__close(errpipe[0]);
  herd__close(errpipe[1]);
  for (int i = 0; i < 3; i++) {
    herd__close(pipes[i][0]);
    herd__close(pipes[i][1]);
  }
  herd__close(devnull);
  lows_close(&p);
  free(pairs);
  free(envp_alloc);
  free(envp_lpid);
  free(argv_alloc);
  return err;
}

void herd__child_enforce(herd_child_t *c) {
  if (c->reaped || (!c->deadline_ms && !c->abort))
    return;
  int due = c->abort && herd_abort_fired(c->abort) == 1;
  if (c->deadline_ms && herd__now_ms() >= c->deadline_ms)
    due = 1;
  if (!due)
    return;
  /* Once, as Node's timer and abort listener: whichever comes first
   * kills, the other is dropped. A failure (the child is a zombie now)
   * has no one to go to; the caller sees the exit. */
  c->deadline_ms = 0;
  c->abort = NULL;
  int r = herd_child_kill(c, c->kill_signal, c->kill_flags);
  if (r == -EINVAL && c->kill_flags) {
    /* The child left the group it led (setpgid into another): what is
     * left of that group (its id is not reused while the child is
     * unreaped), and the child itself, or the timeout would kill no one
     * (as exec.c's kill_group). */
    (void)kill(-c->pid, c->kill_signal);
    (void)herd_child_kill(c, c->kill_signal, 0);
  }
}

int herd_child_timeout(const herd_child_t *child) {
  if (!child || child->reaped)
    return -1;
  return herd__ms_left(child->deadline_ms);
}

int herd_child_poll(herd_child_t *child) {
  if (!child || child->pid <= 0)
    return -EINVAL;
  int r = herd__reap(child, WNOHANG);
  if (r == 0)
    herd__child_enforce(child);
  return r;
}

int herd_child_wait(herd_child_t *child, int timeout_ms) {
  if (!child || child->pid <= 0 || timeout_ms < -1)
    return -EINVAL;
  if (child->reaped)
    return 0;
  int guarded = child->deadline_ms || child->abort;
  if ((timeout_ms == -1 && !guarded) || child->pidfd < 0) {
    if (timeout_ms != -1)
      return -EBADF; /* no pidfd to wait on with a deadline */
    int r = herd__reap(child, 0);
    return r < 0 ? r : 0;
  }
  uint64_t deadline = timeout_ms < 0 ? 0 : herd__now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    int r = herd__reap(child, WNOHANG);
    if (r != 0)
      return r < 0 ? r : 0;
    herd__child_enforce(child);
    int left = timeout_ms < 0 ? -1 : herd__ms_left(deadline);
    if (left == 0)
      return -ETIMEDOUT;
    int kill_left = herd_child_timeout(child);
    if (kill_left >= 0 && (left < 0 || kill_left < left))
      left = kill_left;
    /* The abort's fd stays readable once fired, so it is watched only
     * until acted on (enforce clears child->abort). */
    struct pollfd pfd[2] = {
        {.fd = child->pidfd, .events = POLLIN},
        {.fd = child->abort ? herd_abort_fd(child->abort) : -1, .events = POLLIN},
    };
    if (poll(pfd, 2, left) < 0 && errno != EINTR)
      return -errno;
  }
}

int herd_child_kill(herd_child_t *child, int sig, unsigned flags) {
  if (!child || child->pid <= 0 || sig < 0 || sig >= _NSIG)
    return -EINVAL;
  if (child->reaped)
    return -ESRCH;
  if (flags & HERD_KILL_GROUP) {
    /* Unreaped, so the pid (and the group it leads) cannot be reused. */
    pid_t pg = getpgid(child->pid);
    if (pg < 0)
      return -errno;
    if (pg != child->pid)
      return -EINVAL;
    if (kill(-pg, sig) < 0)
      return -errno;
    child->killed = 1;
    return 0;
  }
  int r = child->pidfd >= 0 ? herd__os_pidfd_kill(child->pidfd, sig)
                            : (kill(child->pid, sig) < 0 ? -errno : 0);
  if (r == 0)
    child->killed = 1; /* as Node: any signal sent, 0 included */
  return r;
}

int herd_child_status(const herd_child_t *child) {
  if (!child || !child->reaped)
    return -1;
  return child->term_signal ? 128 + child->term_signal : child->exit_code;
}

void herd_child_close(herd_child_t *child) {
  if (!child || child->pid == 0)
    return; /* never filled by herd_spawn: its zeroed fds are not ours */
  for (int i = 0; i < 3; i++)
    herd__closep(&child->stdio[i]);
  if (child->pid > 0 && !child->reaped) {
    (void)herd_child_kill(child, SIGKILL, 0);
    (void)herd__reap(child, 0);
  }
  herd__closep(&child->pidfd);
}
