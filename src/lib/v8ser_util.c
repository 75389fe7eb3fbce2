/*
 * v8ser_util.c - what the V8 serialization files share about text and
 * numbers: array-index keys, JS's way of writing a number (JSON's too),
 * base64 and RegExp flags, a pointer map (the object ids of the writers),
 * and the options check. UTF-8 and WTF-8 are in utf8.c.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herd.h"
#include "internal.h"

const char herd__v8_base64[65] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* RegExp flags in the order JS's .flags writes them, and their bits. */
static const char re_letters[] = "dgimsuvy";
static const uint32_t re_bits[] = {HERD_RE_HAS_INDICES, HERD_RE_GLOBAL,
                                   HERD_RE_IGNORE_CASE, HERD_RE_MULTILINE,
                                   HERD_RE_DOT_ALL, HERD_RE_UNICODE,
                                   HERD_RE_UNICODE_SETS, HERD_RE_STICKY};

size_t herd__v8_re_flags_str(uint32_t flags, char *out) {
  size_t n = 0;
  for (size_t i = 0; i < sizeof re_bits / sizeof re_bits[0]; i++)
    if (flags & re_bits[i])
      out[n++] = re_letters[i];
  out[n] = '\0';
  return n;
}

int herd__v8_re_flags_parse(const char *s, size_t n, uint32_t *flags) {
  uint32_t f = 0;
  for (size_t i = 0; i < n; i++) {
    const char *l = s[i] ? strchr(re_letters, s[i]) : NULL;
    if (!l || (f & re_bits[l - re_letters]))
      return -EINVAL;
    f |= re_bits[l - re_letters];
  }
  if ((f & HERD_RE_UNICODE) && (f & HERD_RE_UNICODE_SETS))
    return -EINVAL; /* JS has no RegExp with both */
  *flags = f;
  return 0;
}

int herd__v8_index_key(const char *s, size_t len, uint32_t *index) {
  if (len == 0 || len > 10 || (s[0] == '0' && len > 1))
    return 0;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return 0;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  if (v > HERD__V8_INDEX_MAX)
    return 0;
  *index = (uint32_t)v;
  return 1;
}

/* ---- pointer map ---------------------------------------------------- */

static size_t ptr_hash(const void *k, size_t cap) {
  uint64_t x = (uint64_t)(uintptr_t)k;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return (size_t)x & (cap - 1);
}

static void ptrmap_insert(struct herd__ptrmap *m, const void *k, uint32_t v) {
  size_t i = ptr_hash(k, m->cap);
  while (m->keys[i] && m->keys[i] != k)
    i = (i + 1) & (m->cap - 1);
  if (!m->keys[i]) {
    m->keys[i] = k;
    m->n++;
  }
  m->vals[i] = v;
}

int herd__ptrmap_put(struct herd__ptrmap *m, const void *k, uint32_t v) {
  if ((m->n + 1) * 2 > m->cap) {
    size_t ncap = m->cap ? m->cap * 2 : 16;
    if (ncap > SIZE_MAX / sizeof(void *))
      return -ENOMEM;
    struct herd__ptrmap g = {calloc(ncap, sizeof *g.keys),
                             malloc(ncap * sizeof *g.vals), ncap, 0};
    if (!g.keys || !g.vals) {
      free(g.keys);
      free(g.vals);
      return -ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++)
      if (m->keys[i])
        ptrmap_insert(&g, m->keys[i], m->vals[i]);
    free(m->keys);
    free(m->vals);
    *m = g;
  }
  ptrmap_insert(m, k, v);
  return 0;
}

int herd__ptrmap_get(const struct herd__ptrmap *m, const void *k, uint32_t *v) {
  if (!m->cap)
    return 0;
  size_t i = ptr_hash(k, m->cap);
  while (m->keys[i]) {
    if (m->keys[i] == k) {
      *v = m->vals[i];
      return 1;
    }
    i = (i + 1) & (m->cap - 1);
  }
  return 0;
}

void herd__ptrmap_free(struct herd__ptrmap *m) {
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof *m);
}

int herd__v8_depth(const herd_v8_opts_t *opts, unsigned *depth) {
  if (opts && (opts->max_depth > HERD_V8_MAX_DEPTH_LIMIT ||
               (opts->host != HERD_V8_HOST_CHANNEL &&
                opts->host != HERD_V8_HOST_SERIALIZE)))
    return -EINVAL;
  *depth = opts && opts->max_depth ? opts->max_depth : HERD_V8_MAX_DEPTH_DEFAULT;
  return 0;
}

/* ---- numbers -------------------------------------------------------- */

static locale_t c_locale(void) {
  /* glibc gives its static C locale for "C" and never fails then */
  return newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

size_t herd__v8_fmt_number(double x, char *out) {
  if (isnan(x))
    return (size_t)sprintf(out, "NaN");
  if (isinf(x))
    return (size_t)sprintf(out, x < 0 ? "-Infinity" : "Infinity");
  if (x == 0)
    return (size_t)sprintf(out, "0");
  if (x == herd__trunc(x) && x < 9007199254740992.0 && x > -9007199254740992.0)
    return (size_t)sprintf(out, "%lld", (long long)x);
  /* The fewest digits that read back as x (JS's rule; among those, the
   * correctly rounded ones are the closest, as JS picks). If p digits
   * round-trip so do p + 1: a binary search over 1..17. */
  char tmp[40];
  locale_t c = c_locale(), old = c ? uselocale(c) : (locale_t)0;
  int lo = 1, hi = 17;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    snprintf(tmp, sizeof tmp, "%.*e", mid - 1, x);
    if (strtod(tmp, NULL) == x)
      hi = mid;
    else
      lo = mid + 1;
  }
  snprintf(tmp, sizeof tmp, "%.*e", lo - 1, x);
  if (c) {
    uselocale(old);
    freelocale(c);
  }
  /* tmp: [-]d.ddde[+-]XX */
  char digits[20];
  int nd = 0, neg = tmp[0] == '-';
  const char *p = tmp + neg;
  for (; *p && *p != 'e'; p++)
    if (*p >= '0' && *p <= '9')
      digits[nd++] = *p;
  int e = atoi(p + 1);
  while (nd > 1 && digits[nd - 1] == '0')
    nd--;
  /* ECMAScript's Number::toString: k digits, point after n of them */
  int k = nd, n = e + 1;
  char *o = out;
  if (neg)
    *o++ = '-';
  if (k <= n && n <= 21) {
    memcpy(o, digits, (size_t)k);
    o += k;
    for (int i = k; i < n; i++)
      *o++ = '0';
  } else if (0 < n && n <= 21) {
    memcpy(o, digits, (size_t)n);
    o += n;
    *o++ = '.';
    memcpy(o, digits + n, (size_t)(k - n));
    o += k - n;
  } else if (-6 < n && n <= 0) {
    *o++ = '0';
    *o++ = '.';
    for (int i = 0; i < -n; i++)
      *o++ = '0';
    memcpy(o, digits, (size_t)k);
    o += k;
  } else {
    *o++ = digits[0];
    if (k > 1) {
      *o++ = '.';
      memcpy(o, digits + 1, (size_t)(k - 1));
      o += k - 1;
    }
    o += sprintf(o, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
  }
  *o = '\0';
  return (size_t)(o - out);
}

double herd__v8_strtod(const char *s) {
  locale_t c = c_locale(), old = c ? uselocale(c) : (locale_t)0;
  double x = strtod(s, NULL);
  if (c) {
    uselocale(old);
    freelocale(c);
  }
  return x;
}
