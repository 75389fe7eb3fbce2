/*
 * utf8.c - the library's one UTF-8 and WTF-8 code (the trees' strings,
 * JSON text, V8's string tags) and its one hex digit routine.
 *
 * One policy for bytes that are not UTF-8, the WHATWG decoder's (what
 * Node does turning bytes into a string): each maximal subpart of an
 * ill-formed sequence is one U+FFFD. WTF-8 - a tree's strings, and what
 * the herd_val constructors take - also holds surrogate code points as
 * 3 bytes, so that JS strings with lone surrogates have a form.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char herd__hexdigits[17] = "0123456789abcdef";

int herd__hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

size_t herd__utf8_next(const uint8_t *s, size_t n, int wtf8, uint32_t *cp) {
  uint8_t b = s[0];
  if (b < 0x80) {
    *cp = b;
    return 1;
  }
  size_t need;
  uint32_t c;
  uint8_t lo = 0x80, hi = 0xbf;
  if (b >= 0xc2 && b <= 0xdf) {
    need = 1;
    c = b & 0x1f;
  } else if (b >= 0xe0 && b <= 0xef) {
    need = 2;
    c = b & 0x0f;
    if (b == 0xe0)
      lo = 0xa0;
    else if (b == 0xed && !wtf8)
      hi = 0x9f;
  } else if (b >= 0xf0 && b <= 0xf4) {
    need = 3;
    c = b & 0x07;
    if (b == 0xf0)
      lo = 0x90;
    else if (b == 0xf4)
      hi = 0x8f;
  } else {
    *cp = HERD__UTF8_FAULT;
    return 1;
  }
  size_t i = 1;
  for (; i <= need; i++) {
    if (i >= n || s[i] < lo || s[i] > hi) {
      *cp = HERD__UTF8_FAULT; /* the maximal subpart s[0..i) */
      return i;
    }
    c = c << 6 | (s[i] & 0x3f);
    lo = 0x80;
    hi = 0xbf;
  }
  *cp = c;
  return i;
}

size_t herd__utf8_put(uint8_t *out, uint32_t cp) {
  if (cp < 0x80) {
    out[0] = (uint8_t)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (uint8_t)(0xc0 | cp >> 6);
    out[1] = (uint8_t)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (uint8_t)(0xe0 | cp >> 12);
    out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    out[2] = (uint8_t)(0x80 | (cp & 0x3f));
    return 3;
  }
  out[0] = (uint8_t)(0xf0 | cp >> 18);
  out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
  out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
  out[3] = (uint8_t)(0x80 | (cp & 0x3f));
  return 4;
}

size_t herd__ascii_run(const uint8_t *s, size_t n) {
  size_t i = 0;
  for (; n - i >= 8; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    if (w & 0x8080808080808080u)
      break;
  }
  while (i < n && s[i] < 0x80)
    i++;
  return i;
}

size_t herd__wtf8_norm(const uint8_t *s, size_t n, uint8_t *out) {
  size_t i = 0, o = 0;
  uint8_t tmp[4];
  while (i < n) {
    if (s[i] < 0x80) {
      /* A run of ASCII is itself: copied at once (a channel's 64 KiB
       * string spent 8 ns a byte in the decoder below). */
      size_t j = i + herd__ascii_run(s + i, n - i);
      if (out)
        memcpy(out + o, s + i, j - i);
      o += j - i;
      i = j;
      continue;
    }
    uint32_t c;
    i += herd__utf8_next(s + i, n - i, 1, &c);
    if (c == HERD__UTF8_FAULT)
      c = 0xfffd;
    if (c >= 0xd800 && c <= 0xdbff && i < n) {
      uint32_t c2;
      size_t k = herd__utf8_next(s + i, n - i, 1, &c2);
      if (c2 >= 0xdc00 && c2 <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (c2 - 0xdc00);
        i += k;
      }
    }
    o += herd__utf8_put(out ? out + o : tmp, c);
  }
  return o;
}

char *herd__wtf8_dup(const char *s, size_t n, size_t *len) {
  size_t m = herd__wtf8_norm((const uint8_t *)s, n, NULL);
  char *d = malloc(m + 1);
  if (!d)
    return NULL;
  herd__wtf8_norm((const uint8_t *)s, n, (uint8_t *)d);
  d[m] = '\0';
  *len = m;
  return d;
}

size_t herd__wtf8_of_utf16(const uint16_t *u, size_t n, uint8_t *out) {
  size_t o = 0;
  uint8_t tmp[4];
  for (size_t i = 0; i < n; i++) {
    uint32_t c = u[i];
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && u[i + 1] >= 0xdc00 &&
        u[i + 1] <= 0xdfff) {
      c = 0x10000 + ((c - 0xd800) << 10) + (u[i + 1] - 0xdc00u);
      i++;
    }
    o += herd__utf8_put(out ? out + o : tmp, c);
  }
  return o;
}

