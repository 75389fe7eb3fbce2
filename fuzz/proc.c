/*
 * proc.c - fuzz the reader of /proc/PID/stat (herd__proc_stat_parse,
 * src/lib/proc.c). Three kinds of input:
 *
 *   first byte a digit   the whole input is the text (a real stat line
 *                        as a seed), with hz 100, page 4096 and clocks of
 *                        a machine up for a day
 *   first byte even      hz, page, the boot and real clocks now, taken
 *                        from the input (any longs: <= 0 too), then the
 *                        rest is the text
 *   first byte odd       the same values, then the numbers of a
 *                        well-formed line that the harness writes (as the
 *                        kernel does) and reads back
 *
 * The text sits in a buffer of exactly n + 1 bytes, NUL at n. Checked:
 * no crash and no undefined behaviour (signed overflow, a float cast out
 * of range: UBSan), a result of 0 or -EPROTO (-EPROTO whenever hz or page
 * is not positive, or a NUL is inside), and on success a NUL-terminated
 * comm, uptime_ms >= 0 and below the boot clock, rss a multiple of the
 * page. For the well-formed lines, the fields are the numbers written:
 * the comm (cut to 31 bytes), state, pid, ppid, pgrp, session, threads,
 * vsize exactly; the times in ms rounded down (utime * 1000 / hz, at
 * most UINT64_MAX), uptime = boot clock - start (0 if the start is
 * later), start_ms = real clock - uptime (at least INT64_MIN), rss times
 * the page (0 if that is beyond 64 bits or rss is not positive).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct in {
  const uint8_t *p;
  size_t n;
};

static unsigned byte(struct in *in) {
  if (!in->n)
    return 0;
  in->n--;
  return *in->p++;
}

static uint64_t bytes(struct in *in, int k) {
  uint64_t v = 0;
  while (k-- > 0)
    v = v << 8 | byte(in);
  return v;
}

/* A number of a kind the selector byte picks: small, 1 to 8 bytes, a
 * value at an edge (of int, long, of what survives * 1000), or near a
 * power of two. */
static uint64_t pick(struct in *in) {
  static const uint64_t edges[] = {
      0,
      1,
      100,
      1000,
      INT32_MAX,
      (uint64_t)INT32_MAX + 1,
      UINT32_MAX,
      INT64_MAX,
      (uint64_t)INT64_MAX + 1,
      UINT64_MAX,
      UINT64_MAX / 1000,
      UINT64_MAX / 1000 + 1,
      INT64_MAX / 1000,
      INT64_MAX / 1000 + 1,
      UINT64_MAX / 4096,
      (uint64_t)INT64_MIN + 1,
  };
  unsigned s = byte(in);
  switch (s % 8) {
  case 0:
    return s >> 3;
  case 1:
    return bytes(in, 1);
  case 2:
    return bytes(in, 2);
  case 3:
    return bytes(in, 4);
  case 4:
    return bytes(in, 8);
  case 5:
    return edges[(s >> 3) % (sizeof edges / sizeof edges[0])];
  case 6:
    return UINT64_MAX - bytes(in, 1);
  default: {
    /* one byte at a time: the order of calls in one expression is the
     * compiler's, and a seed must mean the same to gcc and clang */
    unsigned shift = (s >> 3) + (byte(in) & 32);
    return ((uint64_t)1 << shift) + (uint64_t)(int64_t)(int8_t)byte(in);
  }
  }
}

struct params {
  long hz, page;
  int64_t boot_now, real_now;
};

static void take_params(struct in *in, struct params *pm) {
  unsigned s = byte(in);
  /* mostly the usual values: the fuzzer spends its time on the text */
  pm->hz = s & 1 ? (long)(int64_t)pick(in) : 100;
  pm->page = s & 2 ? (long)(int64_t)pick(in) : 4096;
  pm->boot_now = s & 4 ? (int64_t)pick(in) : 86400000;
  pm->real_now = s & 8 ? (int64_t)pick(in) : INT64_C(1700000000000);
}

static void check_sane(const struct params *pm, int r, const herd_proc_stat_t *st) {
  if (r != 0 && r != -EPROTO)
    abort();
  if ((pm->hz <= 0 || pm->page <= 0) && r != -EPROTO)
    abort();
  if (r)
    return;
  if (strnlen(st->comm, sizeof st->comm) == sizeof st->comm)
    abort();
  if (st->uptime_ms < 0 || (st->uptime_ms > 0 && st->uptime_ms > pm->boot_now))
    abort();
  if (st->rss_bytes % (uint64_t)pm->page)
    abort();
  if (st->pid < 0)
    abort();
}

#ifdef __SIZEOF_INT128__
/* ticks * 1000 / hz rounded down, at most UINT64_MAX: the exact value */
static uint64_t want_ms(uint64_t ticks, long hz) {
  unsigned __int128 v = (unsigned __int128)ticks * 1000 / (unsigned long)hz;
  return v > UINT64_MAX ? UINT64_MAX : (uint64_t)v;
}
#endif

/* A line as the kernel writes it (fs/proc/array.c, do_task_stat), the
 * numbers from the input; the parsed fields must be those numbers. */
static void differential(struct in *in, const struct params *pm) {
  char comm[40];
  size_t clen = byte(in) % sizeof comm;
  for (size_t i = 0; i < clen; i++) {
    comm[i] = (char)byte(in);
    if (!comm[i]) /* the kernel's comm holds no NUL */
      comm[i] = ')';
  }
  static const char states[] = "RSDZTtWXxKPI";
  char state = states[byte(in) % (sizeof states - 1)];
  int32_t pid = (int32_t)(1 + pick(in) % INT32_MAX);
  int32_t ppid = (int32_t)pick(in), pgrp = (int32_t)pick(in), sid = (int32_t)pick(in);
  int32_t tty = (int32_t)pick(in), tpgid = (int32_t)pick(in);
  uint32_t flags = (uint32_t)pick(in);
  uint64_t minflt = pick(in), cminflt = pick(in), majflt = pick(in), cmajflt = pick(in);
  uint64_t utime = pick(in), stime = pick(in);
  int64_t cutime = (int64_t)pick(in), cstime = (int64_t)pick(in);
  int64_t prio = (int64_t)pick(in), nice = (int64_t)pick(in);
  int64_t threads = (int64_t)pick(in);
  uint64_t starttime = pick(in), vsize = pick(in);
  int64_t rss = (int64_t)pick(in);

  char line[1024]; /* the longest: about 750 */
  int k = snprintf(line, sizeof line, "%" PRId32 " (", pid);
  memcpy(line + k, comm, clen);
  k += (int)clen;
  k += snprintf(line + k, sizeof line - (size_t)k,
                ") %c %" PRId32 " %" PRId32 " %" PRId32 " %" PRId32 " %" PRId32
                " %" PRIu32 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
                " %" PRIu64 " %" PRIu64 " %" PRId64 " %" PRId64 " %" PRId64
                " %" PRId64 " %" PRId64 " 0 %" PRIu64 " %" PRIu64 " %" PRId64
                " 18446744073709551615 94028012945408 94028012965289 "
                "140720938000368 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 "
                "94028012981296 94028012982912 94028360052736 140720938007166 "
                "140720938007186 140720938007186 140720938008555 0\n",
                state, ppid, pgrp, sid, tty, tpgid, flags, minflt, cminflt, majflt,
                cmajflt, utime, stime, cutime, cstime, prio, nice, threads,
                starttime, vsize, rss);
  if (k <= 0 || (size_t)k >= sizeof line)
    abort();
  char *buf = malloc((size_t)k + 1);
  if (!buf)
    return;
  memcpy(buf, line, (size_t)k + 1);
  herd_proc_stat_t st;
  int r = herd__proc_stat_parse(buf, (size_t)k, pm->hz, pm->page, pm->boot_now,
                                pm->real_now, &st);
  free(buf);
  check_sane(pm, r, &st);
  if (pm->hz <= 0 || pm->page <= 0)
    return;
  if (r != 0)
    abort();
  size_t cut = clen < sizeof st.comm - 1 ? clen : sizeof st.comm - 1;
  if (strlen(st.comm) != cut || memcmp(st.comm, comm, cut))
    abort();
  if (st.state != state || st.pid != pid || st.ppid != ppid || st.pgrp != pgrp ||
      st.sid != sid || st.num_threads != threads || st.vsize_bytes != vsize)
    abort();
  uint64_t page = (uint64_t)pm->page;
  uint64_t rss_want = rss > 0 && (uint64_t)rss <= UINT64_MAX / page ? (uint64_t)rss * page : 0;
  if (st.rss_bytes != rss_want)
    abort();
#ifdef __SIZEOF_INT128__
  if (st.utime_ms != want_ms(utime, pm->hz) || st.stime_ms != want_ms(stime, pm->hz))
    abort();
  uint64_t started = want_ms(starttime, pm->hz);
  int64_t s64 = started > INT64_MAX ? INT64_MAX : (int64_t)started;
  int64_t up = pm->boot_now > s64 ? pm->boot_now - s64 : 0;
  __int128 start = (__int128)pm->real_now - up;
  if (st.uptime_ms != up || st.start_ms != (start < INT64_MIN ? INT64_MIN : (int64_t)start))
    abort();
#endif
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct in in = {data, size};
  struct params pm = {100, 4096, 86400000, INT64_C(1700000000000)};
  if (size && data[0] >= '0' && data[0] <= '9') {
    /* a stat line as it is */
  } else {
    unsigned mode = byte(&in);
    take_params(&in, &pm);
    if (mode & 1) {
      differential(&in, &pm);
      return 0;
    }
  }
  char *buf = malloc(in.n + 1); /* exact: ASan sees a read past it */
  if (!buf)
    return 0;
  memcpy(buf, in.p, in.n);
  buf[in.n] = '\0';
  herd_proc_stat_t st;
  int r = herd__proc_stat_parse(buf, in.n, pm.hz, pm.page, pm.boot_now, pm.real_now, &st);
  check_sane(&pm, r, &st);
  if (memchr(buf, '\0', in.n) && r != -EPROTO)
    abort();
  free(buf);
  return 0;
}
