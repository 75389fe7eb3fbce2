/*
 * text.c - the program's one UTF-8 decoder and encoder and its hex
 * digits (the config parser's escapes and checks, herd's own lines),
 * and cli_printable. JSON's are libherd's (herd_json_quote and the
 * reader): the program reaches them through the public API only.
 */
#include <stdint.h>
#include <string.h>

#include "cli.h"

const char cli_hex[17] = "0123456789abcdef";

int cli_hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

size_t cli_utf8_put(char *out, uint32_t cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xc0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xe0 | cp >> 12);
    out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  out[0] = (char)(0xf0 | cp >> 18);
  out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
  out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
  out[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* The second-byte ranges exclude overlong forms, surrogates (ED A0..BF)
 * and code points past U+10FFFF (RFC 3629's table). */
size_t cli_utf8_len(const unsigned char *s, size_t n, size_t *bad) {
  unsigned c = s[0];
  unsigned lo = 0x80, hi = 0xbf;
  size_t need;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    need = 1;
  else if (c >= 0xe0 && c <= 0xef) {
    need = 2;
    if (c == 0xe0)
      lo = 0xa0;
    else if (c == 0xed)
      hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    need = 3;
    if (c == 0xf0)
      lo = 0x90;
    else if (c == 0xf4)
      hi = 0x8f;
  } else {
    *bad = 1;
    return 0;
  }
  for (size_t i = 1; i <= need; i++) {
    if (i >= n || s[i] < lo || s[i] > hi) {
      *bad = i;
      return 0;
    }
    lo = 0x80;
    hi = 0xbf;
  }
  return need + 1;
}

size_t cli_printable(char *dst, size_t cap, const char *src, size_t len) {
  size_t o = 0;
  for (size_t i = 0; i < len && cap; i++) {
    unsigned char c = (unsigned char)src[i];
    /* C0 controls, DEL, and C1 controls (U+0080..U+009F, in UTF-8
     * C2 80..C2 9F): what a terminal would act on, shown instead */
    int c1 = c == 0xc2 && i + 1 < len && (unsigned char)src[i + 1] >= 0x80 &&
             (unsigned char)src[i + 1] <= 0x9f;
    if (c < 0x20 || c == 0x7f || c1) {
      unsigned char v = c1 ? (unsigned char)src[++i] : c;
      if (o + 4 >= cap)
        break;
      dst[o++] = '\\';
      dst[o++] = 'x';
      dst[o++] = cli_hex[v >> 4];
      dst[o++] = cli_hex[v & 15];
      continue;
    }
    if (o + 1 >= cap)
      break;
    dst[o++] = (char)c;
  }
  if (cap)
    dst[o < cap ? o : cap - 1] = '\0';
  return o;
}
