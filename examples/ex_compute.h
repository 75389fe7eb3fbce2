/*
 * ex_compute.h - the computation the compute examples share, and the bit
 * of JSON they need to read its messages. Examples only: not part of
 * libherd, everything static inline.
 *
 *   ex_sum_below()   0 + 1 + ... + (n-1), one addition at a time, as
 *                    blocking-compute does it
 *   ex_compute_n()   the COMPUTE_N setting (default 3e9)
 *   ex_json_u64()    a whole-number member of a JSON object
 *
 * Used by blocking-compute, fork-compute (its forked child) and
 * compute-worker (the C child of node-offload.js). Messages: {"id":N,"n":COUNT} in, {"id":N,"sum":S}
 * out.
 */
#ifndef EX_COMPUTE_H
#define EX_COMPUTE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The largest n: the sum n * (n - 1) / 2 then still fits in 64 bits. */
#define EX_COMPUTE_MAX_N 6000000000u

static inline int64_t ex_now_ms(void) {
  struct timespec ts;

  if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
    return -1;
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The work, as the JavaScript `for (let i = 0; i < n; i++) sum += i`. */
static inline uint64_t ex_sum_below(uint64_t n) {
  uint64_t sum = 0;

  for (uint64_t i = 0; i < n; i++) {
    sum += i;
    /* An empty asm that "may change" sum: the compiler must really do
     * every addition instead of computing n * (n - 1) / 2. */
    __asm__ volatile("" : "+r"(sum));
  }
  return sum;
}

/* COMPUTE_N: a whole number up to 6e9, written as digits or as 3e9;
 * 3e9 when unset. Returns 0, or -1 after a message on stderr. */
static inline int ex_compute_n(const char *prog, uint64_t *n) {
  const char *s = getenv("COMPUTE_N");
  char *end;
  double v;

  *n = 3000000000u;
  if (s == NULL)
    return 0;
  errno = 0;
  v = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' ||
      !(v >= 0 && v <= (double)EX_COMPUTE_MAX_N) ||
      v != (double)(uint64_t)v) {
    fprintf(stderr, "%s: bad COMPUTE_N '%s' (a whole number, 0-6e9)\n",
            prog, s);
    return -1;
  }
  *n = (uint64_t)v;
  return 0;
}

static inline int ex_json_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * The member KEY of the JSON object [json, json + len), if it is a whole
 * number written with digits only (no sign, fraction or exponent) that
 * fits in 64 bits: returns 1 with *out. Returns 0 if the text is not an
 * object, has no such member, or its value is anything else. The text
 * must be valid JSON (herd_chan_recv only delivers valid JSON); keys are
 * compared as written, escapes and all.
 */
static inline int ex_json_u64(const char *json, size_t len, const char *key,
                              uint64_t *out) {
  const char *p = json, *end = json + len;
  size_t klen = strlen(key);
  int depth = 0, want_key = 0;

  while (p < end && ex_json_space(*p))
    p++;
  if (p == end || *p != '{')
    return 0;
  while (p < end) {
    const char *s;
    uint64_t v = 0;

    switch (*p) {
    case '"':
      s = ++p;
      while (p < end && *p != '"')
        p += *p == '\\' ? 2 : 1;
      if (p >= end)
        return 0;
      p++;
      /* Only a key of the outer object: not a value, not a nested key. */
      if (depth != 1 || !want_key)
        break;
      want_key = 0;
      if ((size_t)(p - 1 - s) != klen || memcmp(s, key, klen) != 0)
        break;
      while (p < end && (ex_json_space(*p) || *p == ':'))
        p++;
      s = p;
      for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
          return 0;
        v = v * 10 + (uint64_t)(*p - '0');
      }
      if (p == s || (p < end && (*p == '.' || *p == 'e' || *p == 'E')))
        return 0;
      *out = v;
      return 1;
    case '{':
    case '[':
      depth++;
      want_key = *p == '{' && depth == 1;
      p++;
      break;
    case '}':
    case ']':
      depth--;
      p++;
      break;
    case ',':
      want_key = depth == 1;
      p++;
      break;
    default:
      p++;
      break;
    }
  }
  return 0;
}

#endif /* EX_COMPUTE_H */
