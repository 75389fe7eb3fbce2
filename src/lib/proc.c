/*
 * proc.c - process title, uptime and per-pid stats from /proc.
 *
 * The title uses the classic technique (nginx, PostgreSQL, libuv): argv
 * and environ strings sit back to back in one block of the stack; move
 * environ to the heap and the whole block can hold the new title, which
 * is what ps and /proc/PID/cmdline read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "linux/os.h"

extern char **environ;

static char *title_area;    /* start of argv[0] */
static size_t title_room;   /* bytes from argv[0] to the end of the block */

int herd_title_init(int argc, char **argv) {
  if (argc < 1 || !argv || !argv[0])
    return -EINVAL;
  if (title_area)
    return 0; /* once is enough; environ has moved already */
  char *start = argv[0];
  char *end = start + strlen(start) + 1;
  for (int i = 1; i < argc && argv[i]; i++)
    if (argv[i] == end)
      end += strlen(argv[i]) + 1;
  size_t nenv = 0;
  for (char **e = environ; e && *e; e++)
    nenv++;
  char **copy = calloc(nenv + 1, sizeof *copy);
  if (!copy)
    return -ENOMEM;
  for (size_t i = 0; i < nenv; i++) {
    /* Only strings inside the block must move; but the block is
     * contiguous, so each one that continues it extends the room. */
    copy[i] = strdup(environ[i]);
    if (!copy[i]) {
      for (size_t j = 0; j < i; j++)
        free(copy[j]);
      free(copy);
      return -ENOMEM;
    }
    if (environ[i] == end)
      end += strlen(environ[i]) + 1;
  }
  environ = copy; /* kept for the life of the process */
  title_area = start;
  title_room = (size_t)(end - start);
  return 0;
}

int herd_title_set(const char *title) {
  if (!title)
    return -EINVAL;
  /* The thread name (what top and /proc/PID/comm show): 15 bytes. */
  char comm[16];
  snprintf(comm, sizeof comm, "%s", title);
  if (prctl(PR_SET_NAME, comm, 0, 0, 0) < 0)
    return -errno;
  if (!title_area)
    return 0;
  size_t len = strlen(title);
  if (len >= title_room)
    len = title_room - 1;
  /* memmove: the title may be one of our own argv strings, which live
   * inside the area being rewritten. */
  memmove(title_area, title, len);
  /* Zero the rest so no old argument shows after the title. */
  memset(title_area + len, 0, title_room - len);
  return 0;
}

static int64_t clock_ms(clockid_t id) {
  struct timespec ts;
  if (clock_gettime(id, &ts) < 0)
    return -errno;
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int herd__proc_open(pid_t pid, const char *name) {
  char path[64];
  if (pid == 0)
    snprintf(path, sizeof path, "/proc/self/%s", name);
  else
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? -ESRCH : -errno;
  return fd;
}

int herd_proc_stat(pid_t pid, herd_proc_stat_t *st) {
  if (!st || pid < 0)
    return -EINVAL;
  int fd = herd__proc_open(pid, "stat");
  if (fd < 0)
    return fd;
  char buf[1024];
  ssize_t n = herd__read(fd, buf, sizeof buf - 1);
  herd__close(fd);
  if (n < 0)
    return n == -ESRCH ? -ESRCH : (int)n;
  buf[n] = '\0';
  long hz = sysconf(_SC_CLK_TCK);
  long page = sysconf(_SC_PAGESIZE);
  if (hz <= 0 || page <= 0)
    return -EINVAL;
  int64_t boot_now = clock_ms(CLOCK_BOOTTIME);
  int64_t real_now = clock_ms(CLOCK_REALTIME);
  if (boot_now < 0)
    return (int)boot_now;
  if (real_now < 0)
    return (int)real_now;
  return herd__proc_stat_parse(buf, (size_t)n, hz, page, boot_now, real_now, st);
}

/* ticks of hz a second in ms, rounded down, or UINT64_MAX for more ms
 * than that (the fields are the kernel's, or a fuzzer's; hz is any
 * positive long). ticks = q * hz + r: q * 1000 is checked, and r * 1000
 * / hz, which can overflow when hz is above UINT64_MAX / 1000, is a
 * long multiplication one bit of 1000 at a time, the remainder kept
 * below hz (so rem * 2 and rem + r fit: both are below 2 * hz < 2^64). */
static uint64_t ticks_ms(uint64_t ticks, uint64_t hz) {
  uint64_t q = ticks / hz, r = ticks % hz, f = 0, rem = 0;
  if (q > UINT64_MAX / 1000)
    return UINT64_MAX;
  for (int bit = 9; bit >= 0; bit--) {
    f <<= 1;
    rem <<= 1;
    if (rem >= hz) {
      rem -= hz;
      f++;
    }
    if (1000u >> bit & 1) {
      rem += r;
      if (rem >= hz) {
        rem -= hz;
        f++;
      }
    }
  }
  return q * 1000 > UINT64_MAX - f ? UINT64_MAX : q * 1000 + f;
}

int herd__proc_stat_parse(const char *buf, size_t n, long hz, long page,
                          int64_t boot_now, int64_t real_now, herd_proc_stat_t *st) {
  if (hz <= 0 || page <= 0 || memchr(buf, '\0', n) || buf[n] != '\0')
    return -EPROTO; /* a NUL inside: not what the kernel writes */
  /* "pid (comm) state ppid ..." - comm may hold spaces and ')'. */
  const char *lp = strchr(buf, '(');
  const char *rp = strrchr(buf, ')');
  if (!lp || !rp || rp < lp || rp[1] != ' ')
    return -EPROTO;
  memset(st, 0, sizeof *st);
  long pid = strtol(buf, NULL, 10);
  st->pid = pid > 0 && pid <= INT32_MAX ? (pid_t)pid : 0;
  size_t clen = (size_t)(rp - lp - 1);
  if (clen >= sizeof st->comm)
    clen = sizeof st->comm - 1;
  memcpy(st->comm, lp + 1, clen);

  unsigned long long utime, stime, starttime, vsize;
  long long rss;
  int ppid, pgrp, sid;
  /* Fields 3.. after the comm: state ppid pgrp session tty tpgid flags
   * minflt cminflt majflt cmajflt utime stime cutime cstime priority nice
   * num_threads itrealvalue starttime vsize rss. */
  int got = sscanf(rp + 2,
                   "%c %d %d %d %*d %*d %*u %*u %*u %*u %*u %llu %llu "
                   "%*d %*d %*d %*d %ld %*d %llu %llu %lld",
                   &st->state, &ppid, &pgrp, &sid, &utime, &stime,
                   &st->num_threads, &starttime, &vsize, &rss);
  if (got != 10)
    return -EPROTO;
  st->pgrp = pgrp;
  st->sid = sid;
  st->ppid = ppid;
  st->utime_ms = ticks_ms(utime, (uint64_t)hz);
  st->stime_ms = ticks_ms(stime, (uint64_t)hz);
  st->vsize_bytes = vsize;
  st->rss_bytes = rss > 0 && (uint64_t)rss <= UINT64_MAX / (uint64_t)page
                      ? (uint64_t)rss * (uint64_t)page : 0;
  uint64_t started = ticks_ms(starttime, (uint64_t)hz);
  /* a start after the boot clock's now is no age at all; and no
   * overflow with any clocks the caller gives (real_now at INT64_MIN
   * was one: UBSan) */
  st->uptime_ms = boot_now > 0 && (uint64_t)boot_now > started
                      ? boot_now - (int64_t)started : 0;
  st->start_ms = real_now >= INT64_MIN + st->uptime_ms ? real_now - st->uptime_ms
                                                       : INT64_MIN;
  return 0;
}

int64_t herd_uptime_ms(void) {
  herd_proc_stat_t st;
  int r = herd_proc_stat(0, &st);
  return r < 0 ? r : st.uptime_ms;
}

int herd_pidfd_open(pid_t pid) {
  if (pid <= 0)
    return -EINVAL;
  return herd__os_pidfd_open(pid);
}
