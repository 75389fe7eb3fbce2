/*
 * jsonwrite.c - libherd's one JSON writer: a growing text (or a caller's
 * buffer), strings quoted as JSON.stringify quotes them, numbers as JS
 * writes them. herd_json_stringify (jsonstr.c) and herd_v8_to_json
 * (v8ser_json.c) write with it; herd_json_quote is its string quoting.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void herd__jw_put(struct herd__jw *w, const void *p, size_t n) {
  size_t max = w->max ? w->max : SIZE_MAX / 4;
  if (w->err || n == 0)
    return;
  if (n > max - w->len) {
    w->err = -EOVERFLOW;
    return;
  }
  if (w->fixed) {
    if (w->len < w->cap)
      memcpy(w->b + w->len, p, n < w->cap - w->len ? n : w->cap - w->len);
    w->len += n;
    return;
  }
  if (w->len + n + 1 > w->cap) {
    size_t ncap = w->cap ? w->cap : 256;
    while (ncap < w->len + n + 1)
      ncap *= 2;
    char *nb = realloc(w->b, ncap);
    if (!nb) {
      w->err = -ENOMEM;
      return;
    }
    w->b = nb;
    w->cap = ncap;
  }
  memcpy(w->b + w->len, p, n);
  w->len += n;
  w->b[w->len] = '\0';
}

void herd__jw_s(struct herd__jw *w, const char *s) {
  herd__jw_put(w, s, strlen(s));
}

void herd__jw_num(struct herd__jw *w, double x) {
  char b[32];
  herd__jw_put(w, b, herd__v8_fmt_number(x, b));
}

void herd__jw_str(struct herd__jw *w, const char *s, size_t n, int wtf8) {
  const uint8_t *u = (const uint8_t *)s;
  size_t i = 0, run = 0;
  herd__jw_put(w, "\"", 1);
  while (i < n) {
    uint8_t c = u[i];
    uint32_t cp = c;
    size_t k = 1;
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0x80) {
      k = herd__utf8_next(u + i, n - i, wtf8, &cp);
      if (cp != HERD__UTF8_FAULT && (cp < 0xd800 || cp > 0xdfff)) {
        i += k;
        continue;
      }
    }
    herd__jw_put(w, s + run, i - run);
    char e[6] = {'\\', 0, 0, 0, 0, 0};
    const char *esc = strchr("\"\\\b\f\n\r\t", c);
    if (cp == HERD__UTF8_FAULT) {
      herd__jw_put(w, "\xef\xbf\xbd", 3); /* as the WHATWG decoder */
    } else if (c && esc) {
      e[1] = "\"\\bfnrt"[esc - "\"\\\b\f\n\r\t"];
      herd__jw_put(w, e, 2);
    } else { /* another control character, or a lone surrogate */
      e[1] = 'u';
      for (int d = 0; d < 4; d++)
        e[2 + d] = herd__hexdigits[(cp >> (12 - 4 * d)) & 15];
      herd__jw_put(w, e, 6);
    }
    i += k;
    run = i;
  }
  herd__jw_put(w, s + run, i - run);
  herd__jw_put(w, "\"", 1);
}

int herd__jw_finish(struct herd__jw *w, char **out, size_t *len) {
  int err = w->err;
  if (!err && !w->b && !(w->b = malloc(1)))
    err = -ENOMEM;
  if (err) {
    free(w->b);
    memset(w, 0, sizeof *w);
    return err;
  }
  w->b[w->len] = '\0';
  *out = w->b;
  if (len)
    *len = w->len;
  return 0;
}

ssize_t herd_json_quote(const char *s, size_t len, char *out, size_t cap) {
  if ((!s && len) || (!out && cap))
    return -EINVAL;
  struct herd__jw w = {.b = out, .cap = cap, .fixed = 1};
  herd__jw_str(&w, s ? s : "", len, 0);
  if (w.err)
    return w.err;
  if (cap)
    out[w.len < cap ? w.len : cap - 1] = '\0';
  return (ssize_t)w.len;
}
