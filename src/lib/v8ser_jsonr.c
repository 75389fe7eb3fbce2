/*
 * v8ser_jsonr.c - JSON text of libherd's mapping (docs/v8.md; written by
 * v8ser_json.c) into a herd_val_t tree: herd_v8_from_json. The text is
 * read into a document first (v8ser_jdoc.c), then the document into a
 * tree: a tagged object's members can then be looked up by name, in
 * whatever order they came, and ids are given in the text's order as
 * v8ser_json.c counts them.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "herd.h"
#include "internal.h"
#include "v8jdoc.h"

#define BIGINT_DEC_DIGITS 20000u /* the most decimal digits read (decimal
                                    costs time quadratic in the length) */

struct conv {
  struct jp *p;
  unsigned max_depth;
  herd_val_t **ids; /* NULL: an Error not yet closed */
  size_t nids, capids;
};

static int cfail(struct conv *c, const struct jn *j) {
  c->p->err_off = j->off;
  return HERD_EV8JSON;
}

static int is_word(const struct jn *j, const char *w) {
  return j && j->type == J_STR && j->len == strlen(w) && memcmp(j->s, w, j->len) == 0;
}

/* A whole number in [0, max]. */
static int jint(const struct jn *j, double max, double *x) {
  if (!j || j->type != J_NUM || j->num != herd__trunc(j->num) || j->num < 0 || j->num > max)
    return -1;
  *x = j->num;
  return 0;
}

static int add_id(struct conv *c, herd_val_t *v, size_t *id) {
  if (c->nids == c->capids) {
    size_t ncap = c->capids ? c->capids * 2 : 16;
    herd_val_t **n = realloc(c->ids, ncap * sizeof *n);
    if (!n)
      return -ENOMEM;
    c->ids = n;
    c->capids = ncap;
  }
  c->ids[c->nids] = v;
  if (id)
    *id = c->nids;
  c->nids++;
  return 0;
}

/* A tagged object's members other than "$v8" (first): each must be one
 * of names, once; m[i] is names[i]'s value or NULL. */
static int members(struct conv *c, const struct jn *j, const char *const *names,
                   const struct jn **m) {
  size_t nn = 0;
  while (names[nn])
    m[nn++] = NULL;
  for (size_t k = 1; k < j->n; k++) {
    size_t i = 0;
    while (i < nn && !is_word(j->keys[k], names[i]))
      i++;
    if (i == nn || m[i])
      return cfail(c, j->keys[k]);
    m[i] = j->kids[k];
  }
  return 0;
}

static int b64val(char ch) {
  const char *q = ch ? strchr(herd__v8_base64, ch) : NULL;
  return q ? (int)(q - herd__v8_base64) : -1;
}

/* Base64 (with its '=' padding) to bytes in a new buffer. */
static int unbase64(struct conv *c, const struct jn *j, uint8_t **out, size_t *len) {
  if (!j || j->type != J_STR || j->len % 4)
    return cfail(c, j);
  size_t n = j->len, pad = 0;
  if (n && j->s[n - 1] == '=')
    pad++;
  if (n > 1 && j->s[n - 2] == '=')
    pad++;
  uint8_t *b = malloc(n / 4 * 3 + 1);
  if (!b)
    return -ENOMEM;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 4) {
    uint32_t w = 0;
    for (size_t k = 0; k < 4; k++) {
      int d = b64val(j->s[i + k]);
      if (d < 0 && !(i + k >= n - pad)) {
        free(b);
        return cfail(c, j);
      }
      w = w << 6 | (uint32_t)(d < 0 ? 0 : d);
    }
    b[o++] = (uint8_t)(w >> 16);
    b[o++] = (uint8_t)(w >> 8);
    b[o++] = (uint8_t)w;
  }
  *out = b;
  *len = o - pad;
  return 0;
}

/* A BigInt's text: [-] then decimal digits or 0x and hex digits. */
static int parse_bigint(struct conv *c, const struct jn *j, herd_val_t **out) {
  if (!j || j->type != J_STR)
    return cfail(c, j);
  const char *s = j->s, *e = j->s + j->len;
  int neg = s < e && *s == '-';
  s += neg;
  int hex = e - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
  s += hex ? 2 : 0;
  size_t nd = (size_t)(e - s);
  if (nd == 0 || (!hex && nd > BIGINT_DEC_DIGITS))
    return cfail(c, j);
  for (size_t i = 0; i < nd; i++)
    if (hex ? herd__hexval(s[i]) < 0 : s[i] < '0' || s[i] > '9')
      return cfail(c, j);
  /* 32-bit limbs, little-endian: 10^9 < 2^30, so 9 digits never need
   * more than one limb more */
  size_t nl = hex ? nd / 8 + 1 : nd / 9 + 2, used = 0;
  uint32_t *l = calloc(nl, sizeof *l);
  if (!l)
    return -ENOMEM;
  if (hex) {
    for (size_t i = 0; i < nd; i++)
      l[i / 8] |= (uint32_t)herd__hexval(s[nd - 1 - i]) << (4 * (i % 8));
    used = nl;
  } else {
    for (size_t i = 0; i < nd;) {
      uint32_t chunk = 0, mul = 1;
      for (size_t k = 0; k < 9 && i < nd; k++, i++) {
        chunk = chunk * 10 + (uint32_t)(s[i] - '0');
        mul *= 10;
      }
      uint64_t carry = chunk;
      for (size_t k = 0; k < used; k++) {
        uint64_t x = (uint64_t)l[k] * mul + carry;
        l[k] = (uint32_t)x;
        carry = x >> 32;
      }
      if (carry)
        l[used++] = (uint32_t)carry;
    }
  }
  uint8_t *mag = malloc(used * 4 + 1);
  int rc = 0;
  if (!mag) {
    rc = -ENOMEM;
  } else {
    for (size_t k = 0; k < used * 4; k++)
      mag[k] = (uint8_t)(l[k / 4] >> (8 * (k % 4)));
    if (!(*out = herd_val_bigint(neg, mag, used * 4)))
      rc = -ENOMEM;
  }
  free(mag);
  free(l);
  return rc;
}

static int conv(struct conv *c, const struct jn *j, unsigned depth, herd_val_t **out);

/* obj's props from a J_OBJ (a plain object's, or a tagged one's
 * "props"): "$v8" allowed as a key only in the latter. */
static int conv_props(struct conv *c, herd_val_t *obj, const struct jn *j,
                      unsigned level, int v8key_ok) {
  if (!j || j->type != J_OBJ)
    return cfail(c, j);
  for (size_t i = 0; i < j->n; i++) {
    const struct jn *k = j->keys[i];
    herd_val_t *val;
    uint32_t index;
    int is_index = herd__v8_index_key(k->s, k->len, &index);
    if (!v8key_ok && is_word(k, "$v8"))
      return cfail(c, k);
    int rc = conv(c, j->kids[i], level, &val);
    if (rc < 0)
      return rc;
    if ((rc = herd__val_prop_add(obj, is_index ? NULL : k->s, k->len, index, val)) < 0) {
      herd_val_free(val);
      return rc;
    }
  }
  int rc = herd__val_props_finish(obj);
  return rc == HERD_EV8DATA ? cfail(c, j) : rc; /* a duplicate key */
}

static int view_index(const struct jn *tag) {
  for (int i = 0; i < HERD__V8_NVIEW; i++)
    if (is_word(tag, herd_view_type_name(i)))
      return i;
  return -1;
}

/* {"$v8": TAG, ...}. */
static int conv_tagged(struct conv *c, const struct jn *j, unsigned depth,
                       herd_val_t **out) {
  static const char *const n_none[] = {NULL}, *const n_value[] = {"value", NULL},
                           *const n_id[] = {"id", NULL},
                           *const n_props[] = {"props", NULL},
                           *const n_array[] = {"length", "props", NULL},
                           *const n_ms[] = {"ms", NULL},
                           *const n_re[] = {"source", "flags", NULL},
                           *const n_entries[] = {"entries", NULL},
                           *const n_values[] = {"values", NULL},
                           *const n_ab[] = {"base64", "maxByteLength", NULL},
                           *const n_b64[] = {"base64", NULL},
                           *const n_err[] = {"name", "message", "stack", "cause", NULL};
  const struct jn *tag = j->kids[0], *m[4];
  herd_val_t *v = NULL, *in = NULL;
  uint8_t *bytes = NULL;
  size_t nbytes, id;
  double x = 0, y = 0;
  int rc, vt = -1;
  *out = NULL;
  if (tag->type != J_STR)
    return cfail(c, tag);
  /* the primitives and the reference: no id */
  if (is_word(tag, "undefined")) {
    if ((rc = members(c, j, n_none, m)) < 0)
      return rc;
    return (*out = herd_val_undefined()) ? 0 : -ENOMEM;
  }
  if (is_word(tag, "Number")) {
    if ((rc = members(c, j, n_value, m)) < 0)
      return rc;
    x = is_word(m[0], "NaN")         ? NAN
        : is_word(m[0], "Infinity")  ? INFINITY
        : is_word(m[0], "-Infinity") ? -INFINITY
        : is_word(m[0], "-0")        ? -0.0
                                     : 1;
    if (x == 1)
      return cfail(c, m[0] ? m[0] : j);
    return (*out = herd_val_number(x)) ? 0 : -ENOMEM;
  }
  if (is_word(tag, "BigInt")) {
    if ((rc = members(c, j, n_value, m)) < 0)
      return rc;
    return parse_bigint(c, m[0] ? m[0] : j, out);
  }
  if (is_word(tag, "Ref")) {
    if ((rc = members(c, j, n_id, m)) < 0)
      return rc;
    if (jint(m[0], 4294967295.0, &x) < 0 || x >= (double)c->nids || !c->ids[(size_t)x])
      return cfail(c, m[0] ? m[0] : j); /* no such object, or an open Error */
    return (*out = herd_val_ref(c->ids[(size_t)x])) ? 0 : -ENOMEM;
  }
  /* the objects */
  if (depth >= c->max_depth)
    return (c->p->err_off = j->off, HERD_EV8DEPTH);
  unsigned level = depth + 1;
  if (is_word(tag, "Object") || is_word(tag, "Array")) {
    int arr = is_word(tag, "Array");
    if ((rc = members(c, j, arr ? n_array : n_props, m)) < 0)
      return rc;
    if (arr && (jint(m[0], 4294967295.0, &x) < 0 || (m[1] && m[1]->type != J_OBJ)))
      return cfail(c, j);
    if (!arr && !m[0])
      return cfail(c, j);
    if (!(v = arr ? herd_val_array() : herd_val_object()))
      return -ENOMEM;
    if ((rc = add_id(c, v, NULL)) < 0)
      goto fail;
    if (arr)
      v->obj.length = (uint32_t)x;
    /* props is a map of keys, not a tagged object: a "$v8" key in it is
     * the object's own, for an Array as for an Object */
    if (m[arr] && (rc = conv_props(c, v, m[arr], level, 1)) < 0)
      goto fail;
    if (arr && v->obj.length != (uint32_t)x) {
      rc = cfail(c, m[0]); /* an index at or past the length given */
      goto fail;
    }
  } else if (is_word(tag, "Date")) {
    if ((rc = members(c, j, n_ms, m)) < 0)
      return rc;
    if (!m[0] || (m[0]->type != J_NUM && m[0]->type != J_NULL))
      return cfail(c, j);
    if (!(v = herd_val_date(m[0]->type == J_NUM ? m[0]->num : NAN)))
      return -ENOMEM;
    if ((rc = add_id(c, v, NULL)) < 0)
      goto fail;
  } else if (is_word(tag, "RegExp")) {
    if ((rc = members(c, j, n_re, m)) < 0)
      return rc;
    if (!m[0] || m[0]->type != J_STR || (m[1] && m[1]->type != J_STR))
      return cfail(c, j);
    uint32_t f = 0;
    if (m[1] && herd__v8_re_flags_parse(m[1]->s, m[1]->len, &f) < 0)
      return cfail(c, m[1]);
    if (!(v = herd__val_regexp_new(m[0]->s, m[0]->len, f)))
      return -ENOMEM;
    if ((rc = add_id(c, v, NULL)) < 0)
      goto fail;
  } else if (is_word(tag, "Map") || is_word(tag, "Set")) {
    int map = is_word(tag, "Map");
    if ((rc = members(c, j, map ? n_entries : n_values, m)) < 0)
      return rc;
    if (!m[0] || m[0]->type != J_ARR)
      return cfail(c, j);
    if (!(v = map ? herd_val_map() : herd_val_set()))
      return -ENOMEM;
    if ((rc = add_id(c, v, NULL)) < 0)
      goto fail;
    for (size_t i = 0; i < m[0]->n; i++) {
      const struct jn *e = m[0]->kids[i];
      size_t k = 1;
      if (map && (e->type != J_ARR || e->n != 2)) {
        rc = cfail(c, e);
        goto fail;
      }
      for (size_t part = 0; part < (map ? 2u : k); part++) {
        if ((rc = conv(c, map ? e->kids[part] : e, level, &in)) < 0)
          goto fail;
        if ((rc = herd__val_list_add(v, in)) < 0)
          goto fail;
        in = NULL;
      }
    }
  } else if (is_word(tag, "ArrayBuffer") || (vt = view_index(tag)) >= 0) {
    int ab = is_word(tag, "ArrayBuffer");
    if ((rc = members(c, j, ab ? n_ab : n_b64, m)) < 0)
      return rc;
    if ((rc = unbase64(c, m[0] ? m[0] : j, &bytes, &nbytes)) < 0)
      return rc;
    if (ab && m[1] && (jint(m[1], 4294967295.0, &y) < 0 || y < (double)nbytes)) {
      rc = cfail(c, m[1]);
      goto fail;
    }
    v = !ab    ? herd_val_view(vt, bytes, nbytes)
        : m[1] ? herd_val_arraybuffer_resizable(bytes, nbytes, (size_t)y)
               : herd_val_arraybuffer(bytes, nbytes);
    if (!v) {
      rc = ab ? -ENOMEM : cfail(c, m[0]); /* (a length not a multiple of
                                             the element size) */
      goto fail;
    }
    if ((rc = add_id(c, v, NULL)) < 0)
      goto fail;
  } else if (is_word(tag, "Error")) {
    if ((rc = members(c, j, n_err, m)) < 0)
      return rc;
    int et = HERD_ERROR_ERROR;
    if (m[0]) {
      for (et = HERD_ERROR_URI; et >= 0; et--)
        if (is_word(m[0], herd_error_type_name(et)))
          break;
      if (et < 0)
        return cfail(c, m[0]);
    }
    if ((m[1] && m[1]->type != J_STR) || (m[2] && m[2]->type != J_STR))
      return cfail(c, j);
    if (!(v = herd__val_alloc(HERD_VAL_ERROR, 0)))
      return -ENOMEM;
    v->error.error_type = et;
    for (int k = 1; k <= 2; k++) {
      if (!m[k])
        continue;
      char *s = malloc(m[k]->len + 1);
      if (!s) {
        rc = -ENOMEM;
        goto fail;
      }
      memcpy(s, m[k]->s, m[k]->len + 1);
      *(k == 1 ? &v->error.message : &v->error.stack) = s;
      *(k == 1 ? &v->error.message_len : &v->error.stack_len) = m[k]->len;
    }
    /* its id now, the object once it is closed: as V8 11.3 registers it */
    if ((rc = add_id(c, NULL, &id)) < 0)
      goto fail;
    if (m[3]) {
      if ((rc = conv(c, m[3], level, &v->error.cause)) < 0)
        goto fail;
      v->error.cause->flags_ |= HERD__VAL_OWNED;
    }
    c->ids[id] = v;
  } else if (is_word(tag, "Boxed")) {
    if ((rc = members(c, j, n_value, m)) < 0)
      return rc;
    if ((rc = add_id(c, NULL, &id)) < 0)
      return rc;
    if (!m[0])
      return cfail(c, j);
    if ((rc = conv(c, m[0], level, &in)) < 0)
      return rc;
    if (in->type == HERD_VAL_NULL || in->type == HERD_VAL_UNDEFINED ||
        herd__val_is_object(herd_val_deref(in))) {
      herd_val_free(in);
      return cfail(c, m[0]);
    }
    if (!(v = herd_val_boxed(in)))
      return -ENOMEM;
    in = NULL;
    c->ids[id] = v;
  } else {
    return cfail(c, tag);
  }
  free(bytes);
  *out = v;
  return 0;
fail:
  free(bytes);
  herd_val_free(in);
  herd_val_free(v);
  return rc;
}

static int conv(struct conv *c, const struct jn *j, unsigned depth, herd_val_t **out) {
  herd_val_t *v = NULL;
  int rc;
  *out = NULL;
  switch (j->type) {
  case J_NULL:
    v = herd_val_null();
    break;
  case J_FALSE:
  case J_TRUE:
    v = herd_val_bool(j->type == J_TRUE);
    break;
  case J_NUM:
    v = herd_val_number(j->num);
    break;
  case J_STR:
    v = herd__val_str_wtf8(j->s, j->len);
    break;
  case J_ARR:
    if (depth >= c->max_depth)
      return (c->p->err_off = j->off, HERD_EV8DEPTH);
    if (j->n > 4294967295.0 || !(v = herd_val_array()))
      return j->n > 4294967295.0 ? cfail(c, j) : -ENOMEM;
    if ((rc = add_id(c, v, NULL)) < 0)
      goto fail;
    for (size_t i = 0; i < j->n; i++) {
      herd_val_t *item;
      if ((rc = conv(c, j->kids[i], depth + 1, &item)) < 0)
        goto fail;
      if ((rc = herd__val_prop_add(v, NULL, 0, (uint32_t)i, item)) < 0) {
        herd_val_free(item);
        goto fail;
      }
    }
    v->obj.nindex = v->obj.n;
    v->obj.length = (uint32_t)j->n;
    break;
  case J_OBJ:
    if (j->n > 0 && is_word(j->keys[0], "$v8"))
      return conv_tagged(c, j, depth, out);
    if (depth >= c->max_depth)
      return (c->p->err_off = j->off, HERD_EV8DEPTH);
    if (!(v = herd_val_object()))
      return -ENOMEM;
    if ((rc = add_id(c, v, NULL)) < 0 || (rc = conv_props(c, v, j, depth + 1, 0)) < 0)
      goto fail;
    break;
  default:
    return cfail(c, j);
  }
  if (!v)
    return -ENOMEM;
  *out = v;
  return 0;
fail:
  herd_val_free(v);
  return rc;
}

int herd_v8_from_json(const char *json, size_t len, const herd_v8_opts_t *opts,
                      herd_val_t **out, size_t *used) {
  struct jp p;
  struct conv c;
  unsigned depth;
  if (out)
    *out = NULL;
  if ((!json && len) || !out || herd__v8_depth(opts, &depth) < 0)
    return -EINVAL;
  memset(&p, 0, sizeof p);
  memset(&c, 0, sizeof c);
  /* a value nests 3 JSON levels at most: {"$v8":"Map","entries":[[k,v]]} */
  int rc = herd__jdoc_read(&p, json ? json : "", len, 3 * depth + 3);
  if (rc >= 0) {
    c.p = &p;
    c.max_depth = depth;
    rc = conv(&c, p.root, 0, out);
  }
  herd__jdoc_free(&p);
  free(c.ids);
  if (used)
    *used = rc < 0 ? p.err_off : len;
  return rc;
}
