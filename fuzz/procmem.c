/*
 * procmem.c - fuzz the reader of /proc/PID/status's memory lines
 * (herd__proc_mem_parse, src/lib/procmem.c): any bytes, in a buffer of
 * exactly their size (no NUL after them). Checked against a reference
 * written here from proc(5): the text is lines split at '\n'; a line
 * that starts with one of the nine names (VmRSS:, VmHWM:, RssAnon:,
 * RssFile:, RssShmem:, VmSwap:, VmSize:, VmPeak:, VmData:) sets its
 * field, the last such line winning, to the decimal number after spaces
 * and tabs, followed by spaces and "kB", times 1024; 0 when there are no
 * digits, no "kB", or the bytes do not fit in 64 bits (counted here in
 * 128 bits). A field no line names is 0.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[9] = {"VmRSS:",  "VmHWM:",  "RssAnon:",
                                     "RssFile:", "RssShmem:", "VmSwap:",
                                     "VmSize:", "VmPeak:", "VmData:"};

static uint64_t ref_value(const uint8_t *p, const uint8_t *end) {
  while (p < end && (*p == ' ' || *p == '\t'))
    p++;
  unsigned __int128 v = 0;
  int digits = 0, big = 0;
  for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) {
    v = v * 10 + (unsigned)(*p - '0');
    if (v > UINT64_MAX)
      big = 1, v = (unsigned __int128)UINT64_MAX + 1; /* stays "too big" */
  }
  while (p < end && *p == ' ')
    p++;
  if (!digits || big || end - p < 2 || p[0] != 'k' || p[1] != 'B')
    return 0;
  v *= 1024;
  return v > UINT64_MAX ? 0 : (uint64_t)v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = malloc(size ? size : 1);
  if (!buf)
    return 0;
  memcpy(buf, data, size);
  herd_proc_mem_t m;
  memset(&m, 0x5a, sizeof m);
  herd__proc_mem_parse(buf, size, &m);
  uint64_t want[9] = {0};
  const uint8_t *p = data, *end = data + size;
  while (p < end) {
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    const uint8_t *le = nl ? nl : end;
    for (int i = 0; i < 9; i++) {
      size_t n = strlen(names[i]);
      if ((size_t)(le - p) >= n && !memcmp(p, names[i], n)) {
        want[i] = ref_value(p + n, le);
        break;
      }
    }
    p = nl ? nl + 1 : end;
  }
  uint64_t got[9] = {m.rss_bytes,       m.rss_peak_bytes, m.rss_anon_bytes,
                     m.rss_file_bytes,  m.rss_shmem_bytes, m.swap_bytes,
                     m.vsize_bytes,     m.vsize_peak_bytes, m.data_bytes};
  for (int i = 0; i < 9; i++)
    if (got[i] != want[i])
      abort();
  free(buf);
  return 0;
}
