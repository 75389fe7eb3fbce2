/* jw.c - the text buffer of jw.h. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herd.h"
#include "jw.h"

void jw_init(struct jw *w) {
  w->buf = NULL;
  w->len = w->cap = 0;
  w->err = 0;
}

void jw_free(struct jw *w) {
  free(w->buf);
  jw_init(w);
}

/* Room for n more bytes and the NUL; 0, or -1 with err set. */
static int reserve(struct jw *w, size_t n) {
  if (w->err)
    return -1;
  if (n < w->cap - w->len && w->buf)
    return 0;
  if (n > SIZE_MAX / 2 - w->len - 1)
    goto fail;
  size_t cap = w->cap ? w->cap : 256;
  while (cap - w->len <= n)
    cap *= 2;
  char *buf = realloc(w->buf, cap);
  if (!buf)
    goto fail;
  w->buf = buf;
  w->cap = cap;
  buf[w->len] = '\0'; /* a first allocation: buf is a string from now on */
  return 0;
fail:
  w->err = 1;
  return -1;
}

void jw_raw(struct jw *w, const char *s, size_t n) {
  if (reserve(w, n) < 0 || n == 0)
    return;
  memcpy(w->buf + w->len, s, n);
  w->len += n;
  w->buf[w->len] = '\0';
}

void jw_printf(struct jw *w, const char *fmt, ...) {
  if (reserve(w, 0) < 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(w->buf + w->len, w->cap - w->len, fmt, ap);
  va_end(ap);
  if (n < 0) {
    w->buf[w->len] = '\0';
    w->err = 1;
    return;
  }
  if ((size_t)n >= w->cap - w->len) {
    /* did not fit: grow and format again */
    if (reserve(w, (size_t)n) < 0) {
      w->buf[w->len] = '\0';
      return;
    }
    va_start(ap, fmt);
    (void)vsnprintf(w->buf + w->len, w->cap - w->len, fmt, ap);
    va_end(ap);
  }
  w->len += (size_t)n;
}

void jw_str(struct jw *w, const char *s, size_t n) {
  ssize_t need = herd_json_quote(s, n, NULL, 0);
  if (need < 0) {
    w->err = 1;
    return;
  }
  if (reserve(w, (size_t)need) < 0)
    return;
  (void)herd_json_quote(s, n, w->buf + w->len, (size_t)need + 1);
  w->len += (size_t)need;
}
