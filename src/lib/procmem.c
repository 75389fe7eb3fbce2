/*
 * procmem.c - what a process uses: its memory from /proc/PID/status
 * (herd_proc_mem, any pid) and getrusage(2) with the fields and units of
 * Node's process.resourceUsage() (herd_proc_usage, this process, its
 * reaped children, the calling thread).
 *
 * /proc/PID/status and not /proc/PID/stat (proc.c) for the memory: stat
 * has the resident size only, status splits it (anonymous, file, shmem)
 * and has the peaks and the swap. It is the dearer file to make (the
 * kernel fills in every line, ids, capabilities and cpu lists too), so
 * herd_proc_stat, which the master calls for status replies, does not
 * read it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "internal.h"

/* ---- /proc/PID/status ---------------------------------------------- */

/* "Name:\t   1234 kB" -> bytes, or 0 for a value too large or not one. */
static uint64_t kb_value(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t'))
    p++;
  uint64_t v = 0;
  int digits = 0;
  for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) {
    if (v > (UINT64_MAX - 9) / 10)
      return 0;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  if (!digits)
    return 0;
  while (p < end && *p == ' ')
    p++;
  /* the kernel writes every one of these in kB (KiB) */
  if (end - p < 2 || memcmp(p, "kB", 2) != 0)
    return 0;
  return v > UINT64_MAX / 1024 ? 0 : v * 1024;
}

void herd__proc_mem_line(const char *line, size_t len, herd_proc_mem_t *m) {
  static const struct {
    const char *name;
    size_t off;
  } fields[] = {
      {"VmRSS:", offsetof(herd_proc_mem_t, rss_bytes)},
      {"VmHWM:", offsetof(herd_proc_mem_t, rss_peak_bytes)},
      {"RssAnon:", offsetof(herd_proc_mem_t, rss_anon_bytes)},
      {"RssFile:", offsetof(herd_proc_mem_t, rss_file_bytes)},
      {"RssShmem:", offsetof(herd_proc_mem_t, rss_shmem_bytes)},
      {"VmSwap:", offsetof(herd_proc_mem_t, swap_bytes)},
      {"VmSize:", offsetof(herd_proc_mem_t, vsize_bytes)},
      {"VmPeak:", offsetof(herd_proc_mem_t, vsize_peak_bytes)},
      {"VmData:", offsetof(herd_proc_mem_t, data_bytes)},
  };
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    size_t n = strlen(fields[i].name);
    if (len >= n && memcmp(line, fields[i].name, n) == 0) {
      uint64_t v = kb_value(line + n, line + len);
      memcpy((char *)m + fields[i].off, &v, sizeof v);
      return;
    }
  }
}

void herd__proc_mem_parse(const char *buf, size_t n, herd_proc_mem_t *m) {
  memset(m, 0, sizeof *m);
  const char *p = buf, *end = buf + n;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    herd__proc_mem_line(p, (size_t)(le - p), m);
    p = nl ? nl + 1 : end;
  }
}

int herd_proc_mem(pid_t pid, herd_proc_mem_t *m) {
  if (!m || pid < 0)
    return -EINVAL;
  int fd = herd__proc_open(pid, "status");
  if (fd < 0)
    return fd;
  memset(m, 0, sizeof *m);
  /* Line by line through a small buffer: the file is 1-2 KiB, but a
   * Groups: line can be far longer (a line that does not fit is none
   * of ours: skipped). */
  char buf[4096];
  size_t have = 0;
  int skipping = 0, r = 0;
  for (;;) {
    ssize_t got = herd__read(fd, buf + have, sizeof buf - have);
    if (got < 0) {
      r = got == -ESRCH ? -ESRCH : (int)got; /* gone since the open */
      break;
    }
    have += (size_t)got;
    char *p = buf, *end = buf + have;
    char *nl;
    while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
      if (!skipping)
        herd__proc_mem_line(p, (size_t)(nl - p), m);
      skipping = 0;
      p = nl + 1;
    }
    if (got == 0) {
      if (!skipping && p < end)
        herd__proc_mem_line(p, (size_t)(end - p), m);
      break;
    }
    have = (size_t)(end - p);
    if (have == sizeof buf) {
      skipping = 1; /* a line longer than the buffer */
      have = 0;
    } else {
      memmove(buf, p, have);
    }
  }
  herd__close(fd);
  return r;
}

/* ---- getrusage ----------------------------------------------------- */

static uint64_t nonneg(long v) {
  return v > 0 ? (uint64_t)v : 0;
}

static uint64_t tv_us(struct timeval tv) {
  if (tv.tv_sec < 0 || tv.tv_usec < 0)
    return 0;
  return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

int herd_proc_usage(int who, herd_proc_usage_t *u) {
  int k;
  switch (who) {
  case HERD_USAGE_SELF:
    k = RUSAGE_SELF;
    break;
  case HERD_USAGE_CHILDREN:
    k = RUSAGE_CHILDREN;
    break;
  case HERD_USAGE_THREAD:
    k = RUSAGE_THREAD;
    break;
  default:
    return -EINVAL;
  }
  if (!u)
    return -EINVAL;
  struct rusage ru;
  if (getrusage(k, &ru) < 0)
    return -errno;
  /* Node's uv_getrusage() fields, one for one; ru_maxrss is already in
   * KiB on Linux, as Node reports it. */
  u->user_us = tv_us(ru.ru_utime);
  u->system_us = tv_us(ru.ru_stime);
  u->max_rss_kib = nonneg(ru.ru_maxrss);
  u->shared_kib = nonneg(ru.ru_ixrss);
  u->unshared_data_kib = nonneg(ru.ru_idrss);
  u->unshared_stack_kib = nonneg(ru.ru_isrss);
  u->minor_faults = nonneg(ru.ru_minflt);
  u->major_faults = nonneg(ru.ru_majflt);
  u->swaps = nonneg(ru.ru_nswap);
  u->fs_read = nonneg(ru.ru_inblock);
  u->fs_write = nonneg(ru.ru_oublock);
  u->ipc_sent = nonneg(ru.ru_msgsnd);
  u->ipc_received = nonneg(ru.ru_msgrcv);
  u->signals = nonneg(ru.ru_nsignals);
  u->ctx_voluntary = nonneg(ru.ru_nvcsw);
  u->ctx_involuntary = nonneg(ru.ru_nivcsw);
  return 0;
}
