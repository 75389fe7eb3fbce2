/*
 * v8ser_json.c - a herd_val_t tree as JSON text (docs/v8.md has the
 * mapping; v8ser_jsonr.c reads it back), on libherd's one JSON writer
 * (jsonwrite.c): JSON's own types stand for
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
  struct herd__jw w;
  unsigned max_depth;
  struct herd__ptrmap ids;
  uint32_t next_id;
};

static void out_tag(struct out *o, const char *tag) {
  herd__jw_s(&o->w, "{\"$v8\":\"");
  herd__jw_s(&o->w, tag);
  herd__jw_s(&o->w, "\"");
}

static void out_base64(struct out *o, const uint8_t *p, size_t n) {
  herd__jw_put(&o->w, "\"", 1);
  for (size_t i = 0; i < n; i += 3) {
    uint32_t w = (uint32_t)p[i] << 16;
    if (i + 1 < n)
      w |= (uint32_t)p[i + 1] << 8;
    if (i + 2 < n)
      w |= p[i + 2];
    char q[4] = {herd__v8_base64[w >> 18], herd__v8_base64[(w >> 12) & 63],
                 i + 1 < n ? herd__v8_base64[(w >> 6) & 63] : '=',
                 i + 2 < n ? herd__v8_base64[w & 63] : '='};
    herd__jw_put(&o->w, q, 4);
  }
  herd__jw_put(&o->w, "\"", 1);
}

/* A BigInt's text: decimal (hex for a huge one), '-' first if negative. */
static void out_bigint(struct out *o, const herd_val_t *v) {
  const uint8_t *m = v->bigint.mag;
  size_t n = v->bigint.len;
  herd__jw_put(&o->w, "\"", 1);
  if (v->bigint.negative)
    herd__jw_put(&o->w, "-", 1);
  if (n == 0) {
    herd__jw_put(&o->w, "0", 1);
  } else if (n > BIGINT_DEC_BYTES) {
    herd__jw_put(&o->w, "0x", 2);
    for (size_t i = n; i-- > 0;) {
      char h[2] = {herd__hexdigits[m[i] >> 4], herd__hexdigits[m[i] & 15]};
      if (i == n - 1 && h[0] == '0') /* no leading zero */
        herd__jw_put(&o->w, h + 1, 1);
      else
        herd__jw_put(&o->w, h, 2);
    }
  } else {
    /* base 1e9 by repeated division of 32-bit limbs */
    size_t nl = (n + 3) / 4, nc = 0;
    uint32_t *l = calloc(nl, sizeof *l);
    uint32_t *chunks = malloc((n * 8 / 29 + 2) * sizeof *chunks);
    if (!l || !chunks) {
      free(l);
      free(chunks);
      o->w.err = -ENOMEM;
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
    herd__jw_put(&o->w, b, (size_t)snprintf(b, sizeof b, "%u", chunks[nc - 1]));
    for (size_t i = nc - 1; i-- > 0;)
      herd__jw_put(&o->w, b, (size_t)snprintf(b, sizeof b, "%09u", chunks[i]));
    free(l);
    free(chunks);
  }
  herd__jw_put(&o->w, "\"", 1);
}

static int render(struct out *o, const herd_val_t *v, unsigned depth);

static int render_props(struct out *o, const herd_val_t *v, unsigned level) {
  herd__jw_put(&o->w, "{", 1);
  for (size_t i = 0; i < v->obj.n; i++) {
    const herd_val_prop_t *p = &v->obj.props[i];
    if (i)
      herd__jw_put(&o->w, ",", 1);
    if (p->key) {
      herd__jw_str(&o->w, p->key, p->key_len, 1);
    } else {
      char b[16];
      herd__jw_put(&o->w, b, (size_t)snprintf(b, sizeof b, "\"%u\"", p->index));
    }
    herd__jw_put(&o->w, ":", 1);
    int rc = render(o, p->value, level);
    if (rc < 0)
      return rc;
  }
  herd__jw_put(&o->w, "}", 1);
  return 0;
}

static int render_list(struct out *o, const herd_val_t *v, unsigned level,
                       int pairs) {
  herd__jw_put(&o->w, "[", 1);
  for (size_t i = 0; i < v->list.n; i++) {
    if (pairs)
      herd__jw_s(&o->w, i % 2 ? "," : i ? "],[" : "[");
    else if (i)
      herd__jw_put(&o->w, ",", 1);
    int rc = render(o, v->list.items[i], level);
    if (rc < 0)
      return rc;
  }
  if (pairs && v->list.n)
    herd__jw_put(&o->w, "]", 1);
  herd__jw_put(&o->w, "]", 1);
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
        herd__jw_s(&o->w, ",\"props\":");
        if ((rc = render_props(o, v, level)) < 0)
          return rc;
        herd__jw_put(&o->w, "}", 1);
        return 0;
      }
    }
    return render_props(o, v, level);
  case HERD_VAL_ARRAY: {
    size_t n = v->obj.nindex;
    if (n == v->obj.n && n == v->obj.length &&
        (n == 0 || v->obj.props[n - 1].index == n - 1)) {
      herd__jw_put(&o->w, "[", 1);
      for (size_t i = 0; i < n; i++) {
        if (i)
          herd__jw_put(&o->w, ",", 1);
        if ((rc = render(o, v->obj.props[i].value, level)) < 0)
          return rc;
      }
      herd__jw_put(&o->w, "]", 1);
      return 0;
    }
    out_tag(o, "Array");
    herd__jw_put(&o->w, b, (size_t)snprintf(b, sizeof b, ",\"length\":%u,\"props\":", v->obj.length));
    if ((rc = render_props(o, v, level)) < 0)
      return rc;
    herd__jw_put(&o->w, "}", 1);
    return 0;
  }
  case HERD_VAL_DATE:
    out_tag(o, "Date");
    herd__jw_s(&o->w, ",\"ms\":");
    if (isnan(v->number))
      herd__jw_s(&o->w, "null");
    else
      herd__jw_num(&o->w, v->number);
    herd__jw_put(&o->w, "}", 1);
    return 0;
  case HERD_VAL_REGEXP: {
    char f[16];
    size_t nf = herd__v8_re_flags_str(v->regexp.flags, f);
    out_tag(o, "RegExp");
    herd__jw_s(&o->w, ",\"source\":");
    herd__jw_str(&o->w, v->regexp.source, v->regexp.len, 1);
    herd__jw_s(&o->w, ",\"flags\":");
    herd__jw_str(&o->w, f, nf, 1);
    herd__jw_put(&o->w, "}", 1);
    return 0;
  }
  case HERD_VAL_MAP:
  case HERD_VAL_SET:
    out_tag(o, v->type == HERD_VAL_MAP ? "Map" : "Set");
    herd__jw_s(&o->w, v->type == HERD_VAL_MAP ? ",\"entries\":" : ",\"values\":");
    if ((rc = render_list(o, v, level, v->type == HERD_VAL_MAP)) < 0)
      return rc;
    herd__jw_put(&o->w, "}", 1);
    return 0;
  case HERD_VAL_ARRAYBUFFER:
    out_tag(o, "ArrayBuffer");
    herd__jw_s(&o->w, ",\"base64\":");
    out_base64(o, v->buf.data, v->buf.len);
    if (v->buf.resizable)
      herd__jw_put(&o->w, b, (size_t)snprintf(b, sizeof b, ",\"maxByteLength\":%zu", v->buf.max_len));
    herd__jw_put(&o->w, "}", 1);
    return 0;
  case HERD_VAL_VIEW:
    if (v->view.view_type < 0 || v->view.view_type >= HERD__V8_NVIEW)
      return -EINVAL;
    out_tag(o, herd_view_type_name(v->view.view_type));
    herd__jw_s(&o->w, ",\"base64\":");
    out_base64(o, v->view.data, v->view.len);
    herd__jw_put(&o->w, "}", 1);
    return 0;
  case HERD_VAL_ERROR:
    if (v->error.error_type < 0 || v->error.error_type > HERD_ERROR_URI)
      return -EINVAL;
    out_tag(o, "Error");
    herd__jw_s(&o->w, ",\"name\":\"");
    herd__jw_s(&o->w, herd_error_type_name(v->error.error_type));
    herd__jw_s(&o->w, "\"");
    if (v->error.message) {
      herd__jw_s(&o->w, ",\"message\":");
      herd__jw_str(&o->w, v->error.message, v->error.message_len, 1);
    }
    if (v->error.cause) {
      herd__jw_s(&o->w, ",\"cause\":");
      if ((rc = render(o, v->error.cause, level)) < 0)
        return rc;
    }
    if (v->error.stack) {
      herd__jw_s(&o->w, ",\"stack\":");
      herd__jw_str(&o->w, v->error.stack, v->error.stack_len, 1);
    }
    herd__jw_put(&o->w, "}", 1);
    return 0;
  case HERD_VAL_BOXED:
    if (!v->boxed || herd__val_is_object(v->boxed) || v->boxed->type == HERD_VAL_REF)
      return -EINVAL;
    out_tag(o, "Boxed");
    herd__jw_s(&o->w, ",\"value\":");
    if ((rc = render(o, v->boxed, level)) < 0)
      return rc;
    herd__jw_put(&o->w, "}", 1);
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
    herd__jw_s(&o->w, "{\"$v8\":\"undefined\"}");
    return 0;
  case HERD_VAL_NULL:
    herd__jw_s(&o->w, "null");
    return 0;
  case HERD_VAL_BOOL:
    herd__jw_s(&o->w, v->boolean ? "true" : "false");
    return 0;
  case HERD_VAL_NUMBER:
    if (isfinite(v->number) && !(v->number == 0 && signbit(v->number))) {
      herd__jw_num(&o->w, v->number);
    } else {
      out_tag(o, "Number");
      herd__jw_s(&o->w, ",\"value\":\"");
      if (v->number == 0)
        herd__jw_s(&o->w, "-0");
      else
        herd__jw_num(&o->w, v->number);
      herd__jw_s(&o->w, "\"}");
    }
    return 0;
  case HERD_VAL_BIGINT:
    out_tag(o, "BigInt");
    herd__jw_s(&o->w, ",\"value\":");
    out_bigint(o, v);
    herd__jw_put(&o->w, "}", 1);
    return 0;
  case HERD_VAL_STRING:
    herd__jw_str(&o->w, v->str.s, v->str.len, 1);
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
    herd__jw_put(&o->w, b, (size_t)snprintf(b, sizeof b, "{\"$v8\":\"Ref\",\"id\":%u}", id));
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
  if (rc < 0) {
    free(o.w.b);
    return rc;
  }
  return herd__jw_finish(&o.w, out, len);
}
