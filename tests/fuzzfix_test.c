/*
 * fuzzfix_test.c - the bugs found in the parsers of outside input while
 * fuzzing them (fuzz/notify.c, proc.c, logtail.c, ctlreq.c), one test
 * each; the inputs that show them are seeds in fuzz/corpus/NAME/ too.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../src/cli/cli.h"
#include "internal.h"
#include "test.h"

static int stat_parse(const char *line, long hz, int64_t boot_now, int64_t real_now,
                      herd_proc_stat_t *st) {
  return herd__proc_stat_parse(line, strlen(line), hz, 4096, boot_now, real_now, st);
}

/* fuzz/corpus/proc/start-before-int64-min*: uptime 86399 s and a real
 * clock at INT64_MIN made real_now - uptime a signed overflow (UBSan:
 * undefined behaviour); the start is then as early as can be said. */
TEST(fuzzfix_proc_stat_start_ms_stops_at_int64_min) {
  herd_proc_stat_t st;
  CHECK_EQ(stat_parse("7 (x) R 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 100 1 1\n", 100,
                      86400000, INT64_MIN, &st), 0);
  CHECK_EQ(st.uptime_ms, 86399000);
  CHECK_EQ(st.start_ms, INT64_MIN);
  CHECK_EQ(stat_parse("7 (x) R 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 100 1 1\n", 100,
                      86400000, INT64_MIN + 86399000, &st), 0);
  CHECK_EQ(st.start_ms, INT64_MIN);
}

/* fuzz/corpus/proc/utime-past-uint64-ms: UINT64_MAX ticks at 100 Hz are
 * more milliseconds than 64 bits hold; utime / hz * 1000 wrapped to
 * 18446744073709551606 instead of stopping at UINT64_MAX. One tick
 * less than that limit in ms still comes out exact. */
TEST(fuzzfix_proc_stat_cpu_time_stops_at_uint64_max) {
  herd_proc_stat_t st;
  CHECK_EQ(stat_parse("7 (x) R 1 1 1 0 -1 0 0 0 0 0 18446744073709551615 "
                      "1844674407370955161 0 0 20 0 1 0 100 1 1\n",
                      100, 86400000, 1700000000000, &st), 0);
  CHECK(st.utime_ms == UINT64_MAX);
  CHECK(st.stime_ms == UINT64_C(18446744073709551610));
}

/* A start time in ticks whose ms wrapped to a small number (here 384)
 * made a process that starts far in the future look a day old. */
TEST(fuzzfix_proc_stat_start_past_uint64_ms_is_not_in_the_past) {
  herd_proc_stat_t st;
  CHECK_EQ(stat_parse("7 (x) R 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 "
                      "1844674407370955200 1 1\n",
                      100, 86400000, 1700000000000, &st), 0);
  CHECK_EQ(st.uptime_ms, 0);
  CHECK_EQ(st.start_ms, 1700000000000);
}

/* fuzz/corpus/proc/hz-huge-utime: with hz above UINT64_MAX / 1000
 * (only a caller's mistake, or a fuzzer's), the ticks left over after
 * whole seconds times 1000 wrapped. Exact now: LONG_MAX - 1 ticks of
 * LONG_MAX per second are 999.99... ms. */
TEST(fuzzfix_proc_stat_ms_exact_for_any_hz) {
  herd_proc_stat_t st;
  CHECK_EQ(stat_parse("7 (x) R 1 1 1 0 -1 0 0 0 0 0 9223372036854775806 "
                      "9223372036854775807 0 0 20 0 1 0 9223372036854775808 1 1\n",
                      LONG_MAX, 86400000, 1700000000000, &st), 0);
  CHECK_EQ(st.utime_ms, 999);
  CHECK_EQ(st.stime_ms, 1000);
  CHECK_EQ(st.uptime_ms, 86400000 - 1000);
}

/* fuzz/corpus/ctlreq/unknown-newline: the unknown command's name went
 * into err as it was, a newline (or an escape sequence for the
 * client's terminal) included; err is one line of printable text. */
TEST(fuzzfix_ctl_unknown_command_err_is_one_line) {
  struct ctl_req rq;
  const char *req = "{\"cmd\":\"pi\\nng\"}";
  CHECK_EQ(ctl_decode(req, strlen(req), &rq), -1);
  CHECK_STR(rq.err, "unknown command 'pi\\x0ang' (ping, status, reload, restart, "
                    "scale, stop, reopen, send, config, describe, update, signal, flush, upgrade)");
  req = "{\"cmd\":\"\\u001b[2J\\u0085\\r\\u007f\"}";
  CHECK_EQ(ctl_decode(req, strlen(req), &rq), -1);
  CHECK_STR(rq.err, "unknown command '\\x1b[2J\\x85\\x0d\\x7f' (ping, status, reload, "
                    "restart, scale, stop, reopen, send, config, describe, update, signal, flush, upgrade)");
  /* cut as before, at 64 bytes of what is shown */
  req = "{\"cmd\":\"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\"}";
  CHECK_EQ(ctl_decode(req, strlen(req), &rq), -1);
  CHECK_STR(rq.err, "unknown command 'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz'"
                    " (ping, status, reload, restart, scale, stop, reopen, send, config, describe, update, signal, flush, upgrade)");
}

/* Found reading the code, not by the fuzzer (its files are small):
 * logs_tail_lines read a file backwards in 64 KiB blocks into a new
 * buffer per block, copying all it had read so far each time, so a
 * file read whole - one long line, or fewer lines than asked for - cost
 * its size squared: `herd logs` on a 64 MiB line took 28 s. The buffer
 * doubles now. A sparse 32 MiB file of NULs and "x\n" (one line, no
 * disk needed) took 6.3 s of CPU before (8 GiB copied), 0.2 s now (0.26
 * s with ASan); under 1.5 s passes. */
TEST(fuzzfix_logs_tail_of_one_long_line_is_not_quadratic) {
  char path[] = "/tmp/herd-test-logtail-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  CHECK(unlink(path) == 0);
  const off_t size = 32 << 20;
  CHECK(ftruncate(fd, size) == 0);
  CHECK(pwrite(fd, "x\n", 2, size - 2) == 2);
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  struct rusage r0, r1;
  CHECK(getrusage(RUSAGE_SELF, &r0) == 0);
  int count;
  struct tline *l = logs_tail_lines(proc, 20, &count);
  CHECK(getrusage(RUSAGE_SELF, &r1) == 0);
  close(fd);
  CHECK_EQ(count, 1);
  CHECK_EQ(l[0].len, (size_t)size);
  CHECK(l[0].s[size - 2] == 'x' && l[0].s[size - 1] == '\n' && l[0].s[0] == '\0');
  free(l[0].s);
  free(l);
  long ms = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec + r1.ru_stime.tv_sec -
             r0.ru_stime.tv_sec) * 1000L +
            (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec + r1.ru_stime.tv_usec -
             r0.ru_stime.tv_usec) / 1000;
  CHECK_MSG(ms < 1500, "the last line of a 32 MiB file took %ld ms of CPU", ms);
}
