/* util.c - EINTR-safe wrappers, clocks and herd_strerror. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

ssize_t herd__read(int fd, void *buf, size_t len) {
  for (;;) {
    ssize_t n = read(fd, buf, len);
    if (n >= 0)
      return n;
    if (errno != EINTR)
      return -errno;
  }
}

ssize_t herd__write(int fd, const void *buf, size_t len) {
  for (;;) {
    ssize_t n = write(fd, buf, len);
    if (n >= 0)
      return n;
    if (errno != EINTR)
      return -errno;
  }
}

ssize_t herd__write_nosigpipe(int fd, const void *buf, size_t len) {
  sigset_t pipeset, old, pending;
  sigemptyset(&pipeset);
  sigaddset(&pipeset, SIGPIPE);
  int e = pthread_sigmask(SIG_BLOCK, &pipeset, &old);
  if (e != 0)
    return -e;
  int was_pending = 0;
  if (sigpending(&pending) == 0)
    was_pending = sigismember(&pending, SIGPIPE);
  ssize_t n = herd__write(fd, buf, len);
  if (n == -EPIPE && !was_pending) {
    /* Consume the SIGPIPE this write raised (it is thread-directed). */
    static const struct timespec zero = {0, 0};
    while (sigtimedwait(&pipeset, NULL, &zero) < 0 && errno == EINTR)
      ;
  }
  e = pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (e != 0 && n >= 0)
    return -e;
  return n;
}

int herd__write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

void herd__close(int fd) {
  if (fd < 0)
    return;
  int saved = errno;
  (void)close(fd); /* never retried: the fd is gone even on EINTR */
  errno = saved;
}

void herd__closep(int *fd) {
  herd__close(*fd);
  *fd = -1;
}

int herd__fd_high(int fd) {
  if (fd < 0 || fd >= HERD__FD_LOW)
    return fd;
  int high = fcntl(fd, F_DUPFD_CLOEXEC, HERD__FD_LOW);
  if (high < 0)
    return fd; /* EMFILE, or a limit under HERD__FD_LOW: it stays */
  herd__close(fd);
  return high;
}

int herd__set_nonblock(int fd, int on) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0)
    return -errno;
  int nfl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
  if (nfl != fl && fcntl(fd, F_SETFL, nfl) < 0)
    return -errno;
  return 0;
}

uint64_t herd_now_ms(void) {
  struct timespec ts;
  /* CLOCK_MONOTONIC cannot fail with a valid pointer. */
  (void)clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int herd_fd_wait(int fd, int timeout_ms) {
  uint64_t deadline = timeout_ms < 0 ? 0 : herd_now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int left = timeout_ms < 0 ? -1 : herd__ms_left(deadline);
    int r = poll(&p, 1, left);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return -errno;
    if (r > 0 && (p.revents & POLLNVAL))
      return -EBADF;
    return r > 0;
  }
}

int herd__ms_left(uint64_t deadline) {
  if (deadline == 0)
    return -1;
  uint64_t now = herd__now_ms();
  if (now >= deadline)
    return 0;
  uint64_t left = deadline - now;
  return left > INT_MAX ? INT_MAX : (int)left;
}

int herd__waitpid(pid_t pid, int *status) {
  int st = 0;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR)
      return -errno;
  if (status)
    *status = st;
  return 0;
}

int herd__reap(herd_child_t *child, int flags) {
  if (child->reaped)
    return 1;
  siginfo_t si;
  for (;;) {
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)child->pid, &si, WEXITED | flags) == 0)
      break;
    if (errno == ECHILD) {
      /* Reaped behind our back (SIGCHLD set to SIG_IGN, or a
       * waitpid(-1) elsewhere): it is gone, with no status to tell. */
      child->reaped = 1;
      child->exit_code = -1;
      child->term_signal = 0;
      return -ECHILD;
    }
    if (errno != EINTR)
      return -errno;
  }
  if (si.si_pid == 0)
    return 0; /* WNOHANG and still running */
  child->reaped = 1;
  if (si.si_code == CLD_EXITED) {
    child->exit_code = si.si_status;
    child->term_signal = 0;
  } else {
    child->exit_code = -1;
    child->term_signal = si.si_status;
  }
  return 1;
}

const char *herd_strerror(int err) {
  if (err >= 0)
    return "Success";
  switch (err) {
  case HERD_EFRAME:
    return "Channel message is not one JSON text or V8 value (skipped)";
  case HERD_ETOOLONG:
    return "Channel message longer than the channel's max_message "
           "(64 MiB unless set; skipped)";
  case HERD_EPEERGONE:
    return "Channel peer closed the channel or exited";
  case HERD_ESERIAL:
    return "Channel peer speaks serialization 'advanced' (V8) on a 'json' "
           "channel";
  case HERD_ETRUNC:
    return "Channel peer closed the channel in the middle of a message";
  case HERD_EV8DATA:
    return "V8 serialized data is malformed";
  case HERD_EV8VERSION:
    return "Not V8 serialized data, or a version other than 13 to 15";
  case HERD_EV8UNSUPPORTED:
    return "V8 value libherd does not carry (SharedArrayBuffer, transferred "
           "or Wasm objects, legacy or unknown tags), or one Node 20 could "
           "not read back";
  case HERD_EV8DEPTH:
    return "V8 values nested too deep (max_depth)";
  case HERD_EV8JSON:
    return "JSON text is not JSON, or not a value of libherd's V8 mapping";
  case HERD_EJSON:
    return "Not a JSON text (JSON.parse: SyntaxError)";
  case HERD_EJSONDEPTH:
    return "JSON arrays and objects nested deeper than 512";
  case HERD_EJSONTYPE:
    return "Value JSON.stringify cannot write (TypeError: a BigInt, or a "
           "cycle)";
  default:
    break;
  }
  if (err < HERD_E_BASE)
    return "Unknown libherd error";
  /* herd's own table (errtext.c): the same text under glibc and musl */
  const char *s = herd__errtext(-err);
  return s ? s : "Unknown error";
}
