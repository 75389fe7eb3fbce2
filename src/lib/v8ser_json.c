/*
 * v8ser_json.c - a herd_val_t tree as JSON text (docs/v8.md has the
 * mapping; v8ser_jsonr.c reads it back): JSON's own types stand for
 * themselves, every other value is an object {"$v8": TYPE, ...}, and a
 * plain object that has a "$v8" key of its own is wrapped
 * ({"$v8":"Object","props":{...}}), so that reading the text back gives
 * the same tree.
 *
 * References: every object (what takes an id in V8's format) is counted
 * in the text's order from 0, and {"$v8":"Ref","id":N} names the Nth -
 * the same numbers herd_v8_encode gives them, as the text is written in
 * the order the encoder walks the tree: an object's first occurrence in
 * full, later ones as references.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herd.h"
#include "internal.h"

/* A BigInt up to this many bytes is written in decimal; past it in hex
 * (0x...): decimal costs time quadratic in the length. */
#define BIGINT_DEC_BYTES 8192u

/* ==== output ========================================================== */

struct out {
  char *b;
  size_t len, cap;
  int err;
  unsigned max_depth;
  struct herd__ptrmap ids;
  uint32_t next_id;
};

static void out_put(struct out *o, const void *p, size_t n) {
  if (o->err)
    return;
  if (n > SIZE_MAX / 4 - o->len) {
    o->err = -ENOMEM;
    return;
  }
  if (o->len + n + 1 > o->cap) {
    size_t ncap = o->cap ? o->cap : 256;
    while (ncap < o->len + n + 1)
      ncap *= 2;
    char *nb = realloc(o->b, ncap);
    if (!nb) {
      o->err = -ENOMEM;
      return;
    }
    o->b = nb;
    o->cap = ncap;
  }
  memcpy(o->b + o->len, p, n);
  o->len += n;
}

static void out_s(struct out *o, const char *s) {
  out_put(o, s, strlen(s));
}

/* A JSON string of WTF-8 s[0..n): lone surrogates as \uXXXX escapes,
 * since UTF-8 cannot hold them. */
static void out_str(struct out *o, const char *s, size_t n) {
  const uint8_t *p = (const uint8_t *)s;
  size_t i = 0, run = 0;
  out_put(o, "\"", 1);
  while (i < n) {
    uint32_t c;
    size_t k = herd__utf8_next(p + i, n - i, 1, &c);
    const char *esc = NULL;
    char ebuf[8];
    if (c == '"')
      esc = "\\\"";
    else if (c == '\\')
      esc = "\\\\";
    else if (c == '\n')
      esc = "\\n";
    else if (c == '\r')
      esc = "\\r";
    else if (c == '\t')
      esc = "\\t";
    else if (c == '\b')
      esc = "\\b";
    else if (c == '\f')
      esc = "\\f";
    else if (c < 0x20 || (c >= 0xd800 && c <= 0xdfff) || c == HERD__UTF8_FAULT)
      esc = ebuf; /* (a tree's strings have no fault: U+FFFD if one had) */
    if (esc) {
      out_put(o, s + run, i - run);
      if (esc == ebuf)
        snprintf(ebuf, sizeof ebuf, "\\u%04x", c == HERD__UTF8_FAULT ? 0xfffdu : (unsigned)c);
      out_s(o, esc);
      run = i + k;
    }
    i += k;
  }
  out_put(o, s + run, i - run);
  out_put(o, "\"", 1);
}

static void out_num(struct out *o, double x) {
  char b[32];
  out_put(o, b, herd__v8_fmt_number(x, b));
}

static void out_tag(struct out *o, const char *tag) {
  out_s(o, "{\"$v8\":\"");
  out_s(o, tag);
  out_s(o, "\"");
}

static void out_base64(struct out *o, const uint8_t *p, size_t n) {
  out_put(o, "\"", 1);
  for (size_t i = 0; i < n; i += 3) {
    uint32_t w = (uint32_t)p[i] << 16;
    if (i + 1 < n)
      w |= (uint32_t)p[i + 1] << 8;
    if (i + 2 < n)
      w |= p[i + 2];
    char q[4] = {herd__v8_base64[w >> 18], herd__v8_base64[(w >> 12) & 63],
                 i + 1 < n ? herd__v8_base64[(w >> 6) & 63] : '=',
                 i + 2 < n ? herd__v8_base64[w & 63] : '='};
    out_put(o, q, 4);
  }
  out_put(o, "\"", 1);
}

/* A BigInt's text: decimal (hex for a huge one), '-' first if negative. */
static void out_bigint(struct out *o, const herd_val_t *v) {
  const uint8_t *m = v->bigint.mag;
  size_t n = v->bigint.len;
  out_put(o, "\"", 1);
  if (v->bigint.negative)
    out_put(o, "-", 1);
  if (n == 0) {
    out_put(o, "0", 1);
  } else if (n > BIGINT_DEC_BYTES) {
    char h[3];
    out_put(o, "0x", 2);
    snprintf(h, sizeof h, "%x", m[n - 1]);
    out_s(o, h);
    for (size_t i = n - 1; i-- > 0;) {
      snprintf(h, sizeof h, "%02x", m[i]);
      out_put(o, h, 2);
    }
  } else {
    /* base 1e9 by repeated division of 32-bit limbs */
    size_t nl = (n + 3) / 4, nc = 0;
    uint32_t *l = calloc(nl, sizeof *l);
    uint32_t *chunks = malloc((n * 8 / 29 + 2) * sizeof *chunks);
    if (!l || !chunks) {
      free(l);
      free(chunks);
      o->err = -ENOMEM;
      return;
    }
    for (size_t i = 0; i < n; i++)
      l[i / 4] |= (uint32_t)m[i] << (8 * (i % 4));
    while (nl > 0) {
      uint64_t r = 0;
      for (size_t i = nl; i-- > 0;) {
        uint64_t cur = r << 32 | l[i];
        l[i] = (uint32_t)(cur / 1000000000u);
        r = cur % 1000000000u;
      }
      chunks[nc++] = (uint32_t)r;
      while (nl > 0 && l[nl - 1] == 0)
        nl--;
    }
    char b[16];
    out_put(o, b, (size_t)snprintf(b, sizeof b, "%u", chunks[nc - 1]));
    for (size_t i = nc - 1; i-- > 0;)
      out_put(o, b, (size_t)snprintf(b, sizeof b, "%09u", chunks[i]));
    free(l);
    free(chunks);
  }
  out_put(o, "\"", 1);
}

static int render(struct out *o, const herd_val_t *v, unsigned depth);

static int render_props(struct out *o, const herd_val_t *v, unsigned level) {
  out_put(o, "{", 1);
  for (size_t i = 0; i < v->obj.n; i++) {
    const herd_val_prop_t *p = &v->obj.props[i];
    if (i)
      out_put(o, ",", 1);
    if (p->key) {
      out_str(o, p->key, p->key_len);
    } else {
      char b[16];
      out_put(o, b, (size_t)snprintf(b, sizeof b, "\"%u\"", p->index));
    }
    out_put(o, ":", 1);
    int rc = render(o, p->value, level);
    if (rc < 0)
      return rc;
  }
  out_put(o, "}", 1);
  return 0;
}

static int render_list(struct out *o, const herd_val_t *v, unsigned level,
                       int pairs) {
  out_put(o, "[", 1);
  for (size_t i = 0; i < v->list.n; i++) {
    if (pairs)
      out_s(o, i % 2 ? "," : i ? "],[" : "[");
    else if (i)
      out_put(o, ",", 1);
    int rc = render(o, v->list.items[i], level);
    if (rc < 0)
      return rc;
  }
  if (pairs && v->list.n)
    out_put(o, "]", 1);
  out_put(o, "]", 1);
  return 0;
}

/* An object's text, once (level: its depth). */
static int render_object(struct out *o, const herd_val_t *v, unsigned level) {
  int rc = 0;
  char b[48];
  switch (v->type) {
  case HERD_VAL_OBJECT:
    for (size_t i = v->obj.nindex; i < v->obj.n; i++) {
      if (v->obj.props[i].key_len == 3 && memcmp(v->obj.props[i].key, "$v8", 3) == 0) {
        out_tag(o, "Object");
        out_s(o, ",\"props\":");
        if ((rc = render_props(o, v, level)) < 0)
          return rc;
        out_put(o, "}", 1);
        return 0;
      }
    }
    return render_props(o, v, level);
  case HERD_VAL_ARRAY: {
    size_t n = v->obj.nindex;
    if (n == v->obj.n && n == v->obj.length &&
        (n == 0 || v->obj.props[n - 1].index == n - 1)) {
      out_put(o, "[", 1);
      for (size_t i = 0; i < n; i++) {
        if (i)
          out_put(o, ",", 1);
        if ((rc = render(o, v->obj.props[i].value, level)) < 0)
          return rc;
      }
      out_put(o, "]", 1);
      return 0;
    }
    out_tag(o, "Array");
    out_put(o, b, (size_t)snprintf(b, sizeof b, ",\"length\":%u,\"props\":", v->obj.length));
    if ((rc = render_props(o, v, level)) < 0)
      return rc;
    out_put(o, "}", 1);
    return 0;
  }
  case HERD_VAL_DATE:
    out_tag(o, "Date");
    out_s(o, ",\"ms\":");
    if (isnan(v->number))
      out_s(o, "null");
    else
      out_num(o, v->number);
    out_put(o, "}", 1);
    return 0;
  case HERD_VAL_REGEXP: {
    char f[16];
    size_t nf = herd__v8_re_flags_str(v->regexp.flags, f);
    out_tag(o, "RegExp");
    out_s(o, ",\"source\":");
    out_str(o, v->regexp.source, v->regexp.len);
    out_s(o, ",\"flags\":");
    out_str(o, f, nf);
    out_put(o, "}", 1);
    return 0;
  }
  case HERD_VAL_MAP:
  case HERD_VAL_SET:
    out_tag(o, v->type == HERD_VAL_MAP ? "Map" : "Set");
    out_s(o, v->type == HERD_VAL_MAP ? ",\"entries\":" : ",\"values\":");
    if ((rc = render_list(o, v, level, v->type == HERD_VAL_MAP)) < 0)
      return rc;
    out_put(o, "}", 1);
    return 0;
  case HERD_VAL_ARRAYBUFFER:
    out_tag(o, "ArrayBuffer");
    out_s(o, ",\"base64\":");
    out_base64(o, v->buf.data, v->buf.len);
    if (v->buf.resizable)
      out_put(o, b, (size_t)snprintf(b, sizeof b, ",\"maxByteLength\":%zu", v->buf.max_len));
    out_put(o, "}", 1);
    return 0;
  case HERD_VAL_VIEW:
    if (v->view.view_type < 0 || v->view.view_type >= HERD__V8_NVIEW)
      return -EINVAL;
    out_tag(o, herd_view_type_name(v->view.view_type));
    out_s(o, ",\"base64\":");
    out_base64(o, v->view.data, v->view.len);
    out_put(o, "}", 1);
    return 0;
  case HERD_VAL_ERROR:
    if (v->error.error_type < 0 || v->error.error_type > HERD_ERROR_URI)
      return -EINVAL;
    out_tag(o, "Error");
    out_s(o, ",\"name\":\"");
    out_s(o, herd_error_type_name(v->error.error_type));
    out_s(o, "\"");
    if (v->error.message) {
      out_s(o, ",\"message\":");
      out_str(o, v->error.message, v->error.message_len);
    }
    if (v->error.cause) {
      out_s(o, ",\"cause\":");
      if ((rc = render(o, v->error.cause, level)) < 0)
        return rc;
    }
    if (v->error.stack) {
      out_s(o, ",\"stack\":");
      out_str(o, v->error.stack, v->error.stack_len);
    }
    out_put(o, "}", 1);
    return 0;
  case HERD_VAL_BOXED:
    if (!v->boxed || herd__val_is_object(v->boxed) || v->boxed->type == HERD_VAL_REF)
      return -EINVAL;
    out_tag(o, "Boxed");
    out_s(o, ",\"value\":");
    if ((rc = render(o, v->boxed, level)) < 0)
      return rc;
    out_put(o, "}", 1);
    return 0;
  default:
    return -EINVAL;
  }
}

static int render(struct out *o, const herd_val_t *v, unsigned depth) {
  v = herd_val_deref(v);
  if (!v)
    return -EINVAL;
  switch (v->type) {
  case HERD_VAL_UNDEFINED:
    out_s(o, "{\"$v8\":\"undefined\"}");
    return 0;
  case HERD_VAL_NULL:
    out_s(o, "null");
    return 0;
  case HERD_VAL_BOOL:
    out_s(o, v->boolean ? "true" : "false");
    return 0;
  case HERD_VAL_NUMBER:
    if (isfinite(v->number) && !(v->number == 0 && signbit(v->number))) {
      out_num(o, v->number);
    } else {
      out_tag(o, "Number");
      out_s(o, ",\"value\":\"");
      if (v->number == 0)
        out_s(o, "-0");
      else
        out_num(o, v->number);
      out_s(o, "\"}");
    }
    return 0;
  case HERD_VAL_BIGINT:
    out_tag(o, "BigInt");
    out_s(o, ",\"value\":");
    out_bigint(o, v);
    out_put(o, "}", 1);
    return 0;
  case HERD_VAL_STRING:
    out_str(o, v->str.s, v->str.len);
    return 0;
  default:
    break;
  }
  if (!herd__val_is_object(v))
    return -EINVAL;
  uint32_t id;
  if (herd__ptrmap_get(&o->ids, v, &id)) {
    char b[48];
    if (id & HERD__V8_OPEN_ERROR)
      return HERD_EV8UNSUPPORTED; /* as herd_v8_encode */
    out_put(o, b, (size_t)snprintf(b, sizeof b, "{\"$v8\":\"Ref\",\"id\":%u}", id));
    return 0;
  }
  if (depth >= o->max_depth)
    return HERD_EV8DEPTH;
  if (o->next_id >= HERD__V8_OPEN_ERROR)
    return -EOVERFLOW;
  id = o->next_id++;
  int is_err = v->type == HERD_VAL_ERROR;
  int rc = herd__ptrmap_put(&o->ids, v, id | (is_err ? HERD__V8_OPEN_ERROR : 0));
  if (rc == 0)
    rc = render_object(o, v, depth + 1);
  if (rc == 0 && is_err)
    rc = herd__ptrmap_put(&o->ids, v, id);
  return rc;
}

int herd_v8_to_json(const herd_val_t *v, const herd_v8_opts_t *opts,
                    char **out, size_t *len) {
  struct out o;
  if (out)
    *out = NULL;
  memset(&o, 0, sizeof o);
  if (!v || !out || herd__v8_depth(opts, &o.max_depth) < 0)
    return -EINVAL;
  int rc = render(&o, v, 0);
  herd__ptrmap_free(&o.ids);
  if (rc == 0)
    rc = o.err;
  if (rc == 0 && !o.b)
    rc = -ENOMEM;
  if (rc < 0) {
    free(o.b);
    return rc;
  }
  o.b[o.len] = '\0';
  *out = o.b;
  if (len)
    *len = o.len;
  return 0;
}
