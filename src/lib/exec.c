/*
 * exec.c - exec / execFile: run to completion, capture both outputs.
 *
 * One state machine (herd_exec_t) does the work; herd_exec_step does all
 * the non-blocking I/O it can, so the same code serves the blocking forms
 * (a poll loop below), the built-in loop (loop.c) and any other loop.
 * Both outputs are drained concurrently, so a child that fills one pipe
 * while we wait on the other never deadlocks.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

/* After the kill signal, a child that is still alive this long later
 * gets SIGKILL: a child that ignores SIGTERM must not hang its caller. */
#define KILL_GRACE_MS 2000
#define READ_MIN 4096 /* first buffer; most outputs are small */

struct buf {
  char *data;
  size_t len;
  size_t cap;
  int full; /* max_buffer reached: what comes now is read and dropped */
};

struct herd_exec {
  herd_child_t child;
  const char *input;
  size_t input_len;
  size_t input_off;
  struct buf out;
  struct buf err;
  size_t max_buffer;
  int kill_signal;
  uint64_t deadline;      /* timeout, 0 = none */
  uint64_t kill_deadline; /* SIGKILL escalation, 0 = none */
  int killed;             /* HERD_EXEC_TIMEDOUT, _MAXBUFFER or _CANCELED
                             once sent */
  int done;
  const herd_abort_t *abort; /* the caller's, or NULL */
  int abort_fd;           /* our copy of its fd (closed by free), or -1 */
  int abort_watch;        /* abort_fd is in herd_exec_fds' set */
};

void herd_exec_opts_init(herd_exec_opts_t *opts) {
  memset(opts, 0, sizeof *opts);
  opts->max_buffer = HERD_EXEC_DEFAULT_MAXBUF;
}

void herd_exec_result_free(herd_exec_result_t *res) {
  if (!res)
    return;
  free(res->out);
  free(res->err);
  res->out = res->err = NULL;
  res->out_len = res->err_len = 0;
}

static void kill_group(herd_exec_t *x, int sig) {
  /* The child leads its own group (SETPGID or SETSID). While it is
   * unreaped its pid, and so the group id, cannot be reused. Once it is
   * reaped, descendants that still hold our pipes keep the group alive,
   * and a pid cannot be handed out while a group of that id exists; the
   * id could only be reused after the whole group died, when there is
   * nothing left that we would wait for. */
  if (kill(-x->child.pid, sig) < 0 && !x->child.reaped)
    (void)herd_child_kill(&x->child, sig, 0);
}

static void start_kill(herd_exec_t *x, int why) {
  /* The abort's fd stays readable once fired: after a kill, of any
   * cause, it is no longer watched. It stays open until free: it is a
   * dup, so closing it would not take it out of a caller's epoll set
   * (epoll forgets a file only when its last fd closes), and the
   * caller's EPOLL_CTL_DEL would fail with EBADF and leave it there. */
  x->abort_watch = 0;
  if (x->killed)
    return;
  x->killed = why;
  kill_group(x, x->kill_signal);
  x->kill_deadline = herd__now_ms() + KILL_GRACE_MS;
}

int herd_exec_start(herd_exec_t **out, const char *file, char *const argv[],
                    int shell, const herd_exec_opts_t *opts) {
  static const herd_exec_opts_t defaults = HERD_EXEC_OPTS_INIT;
  if (!out)
    return -EINVAL;
  *out = NULL;
  if (!opts)
    opts = &defaults;
  if (!file || !*file || (!shell && (!argv || !argv[0])))
    return -EINVAL;
  if (opts->max_buffer == 0 || opts->timeout_ms < 0 ||
      opts->kill_signal < 0 || opts->kill_signal >= _NSIG ||
      (opts->input_len && !opts->input) || opts->spawn.timeout_ms ||
      opts->spawn.kill_signal)
    return -EINVAL;
  if (opts->spawn.abort && herd_abort_fired(opts->spawn.abort))
    return -ECANCELED;

  herd_exec_t *x = calloc(1, sizeof *x);
  if (!x)
    return -ENOMEM;
  x->abort_fd = -1;
  if (opts->spawn.abort) {
    /* A copy of our own: a loop watches each fd once, and one abort may
     * cancel many execs of one loop. */
    x->abort = opts->spawn.abort;
    x->abort_fd = fcntl(herd_abort_fd(x->abort), F_DUPFD_CLOEXEC, 3);
    if (x->abort_fd < 0) {
      int err = -errno;
      free(x);
      return err;
    }
    x->abort_watch = 1;
  }
  x->input = opts->input;
  x->input_len = opts->input_len;
  x->max_buffer = opts->max_buffer;
  x->kill_signal = opts->kill_signal ? opts->kill_signal : SIGTERM;

  herd_spawn_opts_t so = opts->spawn;
  /* With input, stdin is a pipe we feed and close; without, /dev/null,
   * so a child that reads stdin sees EOF instead of waiting forever. */
  so.stdio[0].kind = opts->input ? HERD_STDIO_PIPE : HERD_STDIO_IGNORE;
  so.stdio[1].kind = HERD_STDIO_PIPE;
  so.stdio[2].kind = HERD_STDIO_PIPE;
  if (!(so.flags & HERD_SPAWN_SETSID))
    so.flags |= HERD_SPAWN_SETPGID;
  /* The exec enforces its own timeout and abort (step, below). */
  so.abort = NULL;

  /* exec: the command alone, with spawn's shell rules ("" = /bin/sh). */
  char *cmdargv[] = {(char *)file, NULL};
  int r;
  if (shell) {
    if (!so.shell)
      so.shell = "";
    r = herd_spawn(&x->child, file, cmdargv, &so);
  } else {
    r = herd_spawn(&x->child, file, argv, &so);
  }
  if (r < 0) {
    herd__close(x->abort_fd);
    free(x);
    return r;
  }
  for (int i = 0; i < 3; i++) {
    if (x->child.stdio[i] >= 0 &&
        (r = herd__set_nonblock(x->child.stdio[i], 1)) < 0) {
      herd_exec_free(x);
      return r;
    }
  }
  if (x->input_len == 0)
    herd__closep(&x->child.stdio[0]);
  if (opts->timeout_ms > 0)
    x->deadline = herd__now_ms() + (uint64_t)opts->timeout_ms;
  *out = x;
  return 0;
}

int herd_exec_fds(const herd_exec_t *x, int *fds, short *events, int max) {
  int n = 0;
  if (x->done)
    return 0;
  if (x->child.stdio[0] >= 0 && n < max) {
    fds[n] = x->child.stdio[0];
    events[n++] = POLLOUT;
  }
  for (int i = 1; i < 3; i++) {
    if (x->child.stdio[i] >= 0 && n < max) {
      fds[n] = x->child.stdio[i];
      events[n++] = POLLIN;
    }
  }
  /* The exit matters only once the outputs are closed, or after a kill
   * (then we stop waiting for the outputs): until then, EOF on the
   * pipes is the event to wait for, and no wakeup is spent on the exit. */
  int need_exit = x->killed || (x->child.stdio[1] < 0 && x->child.stdio[2] < 0);
  if (need_exit && !x->child.reaped && x->child.pidfd >= 0 && n < max) {
    fds[n] = x->child.pidfd;
    events[n++] = POLLIN;
  }
  if (x->abort_watch && n < max) {
    fds[n] = x->abort_fd;
    events[n++] = POLLIN;
  }
  return n;
}

int herd_exec_timeout(const herd_exec_t *x) {
  if (x->done)
    return -1;
  uint64_t d = x->killed ? x->kill_deadline : x->deadline;
  return herd__ms_left(d);
}

pid_t herd_exec_pid(const herd_exec_t *x) {
  return x->child.pid;
}

/* Read what is there. Returns 0 (more may come), 1 at EOF, -errno. */
static int drain(herd_exec_t *x, int *fd, struct buf *b) {
  while (b->full) {
    /* Keep reading, to drop it: closing the pipe instead would kill the
     * child with SIGPIPE before our kill signal, and say so. */
    char scratch[READ_MIN];
    ssize_t n = herd__read(*fd, scratch, sizeof scratch);
    if (n == -EAGAIN)
      return 0;
    if (n <= 0) {
      herd__closep(fd);
      return n < 0 ? (int)n : 1;
    }
  }
  for (;;) {
    if (b->cap - b->len < READ_MIN + 1) {
      size_t ncap = b->cap ? b->cap * 2 : READ_MIN * 2;
      char *nd = realloc(b->data, ncap);
      if (!nd)
        return -ENOMEM;
      b->data = nd;
      b->cap = ncap;
    }
    size_t want = b->cap - b->len - 1; /* room for the final NUL */
    ssize_t n = herd__read(*fd, b->data + b->len, want);
    if (n == -EAGAIN)
      return 0;
    if (n < 0)
      return (int)n;
    if (n == 0) {
      herd__closep(fd);
      return 1;
    }
    b->len += (size_t)n;
    if (b->len > x->max_buffer) {
      /* As Node: keep max_buffer bytes and kill the child. */
      b->len = x->max_buffer;
      b->full = 1;
      start_kill(x, HERD_EXEC_MAXBUFFER);
      return drain(x, fd, b);
    }
    if ((size_t)n < want)
      return 0; /* a pipe gave less than asked: it is empty now */
  }
}

static int feed(herd_exec_t *x) {
  int *fd = &x->child.stdio[0];
  while (*fd >= 0 && x->input_off < x->input_len) {
    ssize_t n = herd__write_nosigpipe(*fd, x->input + x->input_off,
                                      x->input_len - x->input_off);
    if (n == -EAGAIN)
      return 0;
    if (n == -EPIPE)
      break; /* the child closed its stdin: it does not want the rest */
    if (n < 0)
      return (int)n;
    x->input_off += (size_t)n;
  }
  herd__closep(fd);
  return 0;
}

int herd_exec_step(herd_exec_t *x) {
  int r;
  if (x->done)
    return 1;
  if (x->child.stdio[0] >= 0 && (r = feed(x)) < 0)
    goto fail;
  if (x->child.stdio[1] >= 0 && (r = drain(x, &x->child.stdio[1], &x->out)) < 0)
    goto fail;
  if (x->child.stdio[2] >= 0 && (r = drain(x, &x->child.stdio[2], &x->err)) < 0)
    goto fail;

  if (x->abort_watch && herd_abort_fired(x->abort) == 1)
    start_kill(x, HERD_EXEC_CANCELED);
  uint64_t now = 0;
  if (!x->killed && x->deadline) {
    now = herd__now_ms();
    if (now >= x->deadline)
      start_kill(x, HERD_EXEC_TIMEDOUT);
  }
  if (x->killed && x->kill_deadline && !x->child.reaped) {
    if (!now)
      now = herd__now_ms();
    if (now >= x->kill_deadline) {
      kill_group(x, SIGKILL);
      x->kill_deadline = 0;
    }
  }
  int need_exit = x->killed || (x->child.stdio[1] < 0 && x->child.stdio[2] < 0);
  if (need_exit && !x->child.reaped && (r = herd__reap(&x->child, WNOHANG)) < 0)
    goto fail;
  if (!x->child.reaped)
    return 0;
  if (x->killed) {
    /* We killed it: what its descendants still hold open is not waited
     * for. Whatever is already in the pipes was read above. */
    for (int i = 0; i < 3; i++)
      herd__closep(&x->child.stdio[i]);
  }
  if (x->child.stdio[1] >= 0 || x->child.stdio[2] >= 0)
    return 0; /* exited; output may still come from its descendants */
  herd__closep(&x->child.stdio[0]);
  x->abort_watch = 0;
  x->done = 1;
  return 1;

fail:
  x->abort_watch = 0;
  kill_group(x, SIGKILL);
  for (int i = 0; i < 3; i++)
    herd__closep(&x->child.stdio[i]);
  (void)herd__reap(&x->child, 0);
  x->done = 1;
  return r;
}

static char *finish_buf(struct buf *b, size_t *len) {
  char *d = b->data;
  if (!d) {
    d = malloc(1);
    if (!d)
      return NULL;
  }
  d[b->len] = '\0';
  *len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return d;
}

int herd_exec_take(herd_exec_t *x, herd_exec_result_t *res) {
  if (!x || !res)
    return -EINVAL;
  memset(res, 0, sizeof *res);
  if (!x->done || !x->child.reaped)
    return -EAGAIN;
  res->out = finish_buf(&x->out, &res->out_len);
  res->err = finish_buf(&x->err, &res->err_len);
  if (!res->out || !res->err) {
    herd_exec_result_free(res);
    return -ENOMEM;
  }
  res->pid = x->child.pid;
  res->exit_code = x->child.exit_code;
  res->term_signal = x->child.term_signal;
  if (x->killed)
    res->reason = x->killed;
  else
    res->reason = x->child.term_signal ? HERD_EXEC_SIGNALED : HERD_EXEC_EXITED;
  return 0;
}

void herd_exec_free(herd_exec_t *x) {
  if (!x)
    return;
  if (!x->child.reaped)
    kill_group(x, SIGKILL);
  herd_child_close(&x->child);
  herd__close(x->abort_fd);
  free(x->out.data);
  free(x->err.data);
  free(x);
}

static int run_sync(const char *file, char *const argv[], int shell,
                    const herd_exec_opts_t *opts, herd_exec_result_t *res) {
  if (!res)
    return -EINVAL;
  memset(res, 0, sizeof *res);
  herd_exec_t *x;
  int r = herd_exec_start(&x, file, argv, shell, opts);
  if (r < 0)
    return r;
  for (;;) {
    r = herd_exec_step(x);
    if (r != 0)
      break;
    int fds[HERD_EXEC_FDS_MAX];
    short ev[HERD_EXEC_FDS_MAX];
    struct pollfd pfd[HERD_EXEC_FDS_MAX];
    int n = herd_exec_fds(x, fds, ev, HERD_EXEC_FDS_MAX);
    for (int i = 0; i < n; i++)
      pfd[i] = (struct pollfd){.fd = fds[i], .events = ev[i]};
    if (poll(pfd, (nfds_t)n, herd_exec_timeout(x)) < 0 && errno != EINTR) {
      r = -errno;
      break;
    }
  }
  if (r == 1)
    r = herd_exec_take(x, res);
  herd_exec_free(x);
  return r;
}

int herd_exec(const char *command, const herd_exec_opts_t *opts,
              herd_exec_result_t *res) {
  return run_sync(command, NULL, 1, opts, res);
}

int herd_exec_file(const char *file, char *const argv[],
                   const herd_exec_opts_t *opts, herd_exec_result_t *res) {
  return run_sync(file, argv, 0, opts, res);
}
