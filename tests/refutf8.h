/*
 * refutf8.h - a second UTF-8 validator, for tests and fuzz harnesses to
 * hold the project's one decoder (src/lib/utf8.c) against. Written the
 * other way round on purpose: utf8.c checks each byte against a table of
 * ranges; this one asks whether the code points a prefix can still reach
 * meet the scalar values of its length.
 */
#ifndef HERD_TESTS_REFUTF8_H
#define HERD_TESTS_REFUTF8_H

#include <stddef.h>
#include <stdint.h>

/* Can the k-byte prefix s of an L-byte sequence (continuation bytes
 * checked) still complete to a scalar value encoded in L bytes? */
static inline int ref_utf8_reachable(const unsigned char *s, size_t k,
                                     size_t L) {
  static const uint32_t lead_mask[5] = {0, 0, 0x1f, 0x0f, 0x07};
  static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
  static const uint32_t max[5] = {0, 0, 0x7ff, 0xffff, 0x10ffff};
  uint32_t lo = s[0] & lead_mask[L], hi = lo;
  for (size_t i = 1; i < L; i++) {
    uint32_t b = i < k ? (uint32_t)(s[i] & 0x3f) : 0;
    lo = lo << 6 | b;
    hi = hi << 6 | (i < k ? b : 0x3f);
  }
  if (hi < min[L] || lo > max[L])
    return 0;
  if (lo < min[L])
    lo = min[L];
  if (hi > max[L])
    hi = max[L];
  return !(lo >= 0xd800 && hi <= 0xdfff); /* only surrogates left */
}

/* Length (1-4) of the well-formed UTF-8 character at s (n > 0 bytes),
 * or 0 with *bad the length of its maximal ill-formed subpart (the
 * longest prefix of some well-formed sequence, at least 1). */
static inline size_t ref_utf8_len(const unsigned char *s, size_t n,
                                  size_t *bad) {
  unsigned c = s[0];
  size_t L = c < 0x80 ? 1 : c < 0xc0 ? 0 : c < 0xe0 ? 2 : c < 0xf0 ? 3
                                         : c < 0xf8 ? 4 : 0;
  if (L == 1)
    return 1;
  if (L == 0) {
    *bad = 1;
    return 0;
  }
  for (size_t k = 1; k <= L; k++) {
    if (k > 1 && (k > n || (s[k - 1] & 0xc0) != 0x80)) {
      *bad = k - 1;
      return 0;
    }
    if (!ref_utf8_reachable(s, k, L)) {
      *bad = k > 1 ? k - 1 : 1;
      return 0;
    }
  }
  return L;
}

#endif
