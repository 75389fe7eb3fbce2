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

/* v (taken; NULL: out of memory) given the next id and handed out. */
static int give(struct conv *c, herd_val_t *v, herd_val_t **out) {
  int rc;
  if (!v)
    return -ENOMEM;
  if ((rc = add_id(c, v, NULL)) < 0) {
    herd_val_free(v);
    return rc;
  }
  *out = v;
  return 0;
}

/* A tagged object, its members checked: what its tag's reader gets. */
struct tagged {
  struct conv *c;
  const struct jn *j;    /* the object */
  const struct jn *m[4]; /* its members, in its tag's order; NULL: absent */
  int kind;              /* which of the tags the reader reads (struct tag) */
  unsigned level;        /* the depth of what the object holds */
};

/* A tag's reader: *out set on success only. */
typedef int tag_fn(struct tagged *t, herd_val_t **out);

/* the primitives and the reference: no id */

static int tag_undefined(struct tagged *t, herd_val_t **out) {
  (void)t;
  return (*out = herd_val_undefined()) ? 0 : -ENOMEM;
}

static int tag_number(struct tagged *t, herd_val_t **out) {
  const struct jn *v = t->m[0];
  double x = is_word(v, "NaN")         ? NAN
             : is_word(v, "Infinity")  ? INFINITY
             : is_word(v, "-Infinity") ? -INFINITY
             : is_word(v, "-0")        ? -0.0
                                       : 1;
  if (x == 1)
    return cfail(t->c, v ? v : t->j);
  return (*out = herd_val_number(x)) ? 0 : -ENOMEM;
}

static int tag_bigint(struct tagged *t, herd_val_t **out) {
  return parse_bigint(t->c, t->m[0] ? t->m[0] : t->j, out);
}

static int tag_ref(struct tagged *t, herd_val_t **out) {
  struct conv *c = t->c;
  double x = 0;
  if (jint(t->m[0], 4294967295.0, &x) < 0 || x >= (double)c->nids || !c->ids[(size_t)x])
    return cfail(c, t->m[0] ? t->m[0] : t->j); /* no such object, or an open Error */
  return (*out = herd_val_ref(c->ids[(size_t)x])) ? 0 : -ENOMEM;
}

/* the objects */

/* Object (kind 0): props; Array (kind 1): length, props. */
static int tag_object(struct tagged *t, herd_val_t **out) {
  struct conv *c = t->c;
  int arr = t->kind;
  const struct jn *props = t->m[arr];
  herd_val_t *v;
  double x = 0;
  int rc;
  if (arr && (jint(t->m[0], 4294967295.0, &x) < 0 || (props && props->type != J_OBJ)))
    return cfail(c, t->j);
  if (!arr && !props)
    return cfail(c, t->j);
  if (!(v = arr ? herd_val_array() : herd_val_object()))
    return -ENOMEM;
  if ((rc = add_id(c, v, NULL)) < 0)
    goto fail;
  if (arr)
    v->obj.length = (uint32_t)x;
  /* props is a map of keys, not a tagged object: a "$v8" key in it is
   * the object's own, for an Array as for an Object */
  if (props && (rc = conv_props(c, v, props, t->level, 1)) < 0)
    goto fail;
  if (arr && v->obj.length != (uint32_t)x) {
    rc = cfail(c, t->m[0]); /* an index at or past the length given */
    goto fail;
  }
  *out = v;
  return 0;
fail:
  herd_val_free(v);
  return rc;
}

static int tag_date(struct tagged *t, herd_val_t **out) {
  const struct jn *ms = t->m[0];
  if (!ms || (ms->type != J_NUM && ms->type != J_NULL))
    return cfail(t->c, t->j);
  return give(t->c, herd_val_date(ms->type == J_NUM ? ms->num : NAN), out);
}

static int tag_regexp(struct tagged *t, herd_val_t **out) {
  const struct jn *src = t->m[0], *flags = t->m[1];
  if (!src || src->type != J_STR || (flags && flags->type != J_STR))
    return cfail(t->c, t->j);
  uint32_t f = 0;
  if (flags && herd__v8_re_flags_parse(flags->s, flags->len, &f) < 0)
    return cfail(t->c, flags);
  return give(t->c, herd__val_regexp_new(src->s, src->len, f), out);
}

/* Map (kind 1): entries, [key, value] pairs; Set (kind 0): values. */
static int tag_list(struct tagged *t, herd_val_t **out) {
  struct conv *c = t->c;
  int map = t->kind;
  const struct jn *list = t->m[0];
  herd_val_t *v, *in = NULL;
  int rc;
  if (!list || list->type != J_ARR)
    return cfail(c, t->j);
  if (!(v = map ? herd_val_map() : herd_val_set()))
    return -ENOMEM;
  if ((rc = add_id(c, v, NULL)) < 0)
    goto fail;
  for (size_t i = 0; i < list->n; i++) {
    const struct jn *e = list->kids[i];
    if (map && (e->type != J_ARR || e->n != 2)) {
      rc = cfail(c, e);
      goto fail;
    }
    for (size_t part = 0; part < (map ? 2u : 1u); part++) {
      if ((rc = conv(c, map ? e->kids[part] : e, t->level, &in)) < 0)
        goto fail;
      if ((rc = herd__val_list_add(v, in)) < 0)
        goto fail;
      in = NULL;
    }
  }
  *out = v;
  return 0;
fail:
  herd_val_free(in);
  herd_val_free(v);
  return rc;
}

/* ArrayBuffer (kind -1): base64, maxByteLength; a view (kind: its enum
 * herd_view_type): base64. */
static int tag_bytes(struct tagged *t, herd_val_t **out) {
  struct conv *c = t->c;
  int ab = t->kind < 0;
  uint8_t *bytes = NULL;
  size_t nbytes;
  double y = 0;
  int rc;
  if ((rc = unbase64(c, t->m[0] ? t->m[0] : t->j, &bytes, &nbytes)) < 0)
    return rc;
  if (ab && t->m[1] && (jint(t->m[1], 4294967295.0, &y) < 0 || y < (double)nbytes)) {
    free(bytes);
    return cfail(c, t->m[1]);
  }
  herd_val_t *v = !ab      ? herd_val_view(t->kind, bytes, nbytes)
                  : t->m[1] ? herd_val_arraybuffer_resizable(bytes, nbytes, (size_t)y)
                            : herd_val_arraybuffer(bytes, nbytes);
  free(bytes); /* (copied) */
  if (!v)
    return ab ? -ENOMEM : cfail(c, t->m[0]); /* (a length not a multiple of
                                                 the element size) */
  return give(c, v, out);
}

static int tag_error(struct tagged *t, herd_val_t **out) {
  struct conv *c = t->c;
  const struct jn *const *m = t->m; /* name, message, stack, cause */
  herd_val_t *v;
  size_t id;
  int rc, et = HERD_ERROR_ERROR;
  if (m[0]) {
    for (et = HERD_ERROR_URI; et >= 0; et--)
      if (is_word(m[0], herd_error_type_name(et)))
        break;
    if (et < 0)
      return cfail(c, m[0]);
  }
  if ((m[1] && m[1]->type != J_STR) || (m[2] && m[2]->type != J_STR))
    return cfail(c, t->j);
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
    if ((rc = conv(c, m[3], t->level, &v->error.cause)) < 0)
      goto fail;
    v->error.cause->flags_ |= HERD__VAL_OWNED;
  }
  c->ids[id] = v;
  *out = v;
  return 0;
fail:
  herd_val_free(v);
  return rc;
}

static int tag_boxed(struct tagged *t, herd_val_t **out) {
  struct conv *c = t->c;
  herd_val_t *in, *v;
  size_t id;
  int rc;
  if ((rc = add_id(c, NULL, &id)) < 0)
    return rc;
  if (!t->m[0])
    return cfail(c, t->j);
  if ((rc = conv(c, t->m[0], t->level, &in)) < 0)
    return rc;
  if (in->type == HERD_VAL_NULL || in->type == HERD_VAL_UNDEFINED ||
      herd__val_is_object(herd_val_deref(in))) {
    herd_val_free(in);
    return cfail(c, t->m[0]);
  }
  if (!(v = herd_val_boxed(in)))
    return -ENOMEM;
  c->ids[id] = v;
  *out = v;
  return 0;
}

/* The tags: the members each may have (besides "$v8", first; each at
 * most once), whether it is an object (an id, one level deeper), its
 * reader. */
static const struct tag {
  const char *name; /* NULL: the views' names, kind their view type */
  int object;
  int kind;
  tag_fn *fn;
  const char *members[5];
} tags[] = {
    {"undefined", 0, 0, tag_undefined, {NULL}},
    {"Number", 0, 0, tag_number, {"value", NULL}},
    {"BigInt", 0, 0, tag_bigint, {"value", NULL}},
    {"Ref", 0, 0, tag_ref, {"id", NULL}},
    {"Object", 1, 0, tag_object, {"props", NULL}},
    {"Array", 1, 1, tag_object, {"length", "props", NULL}},
    {"Date", 1, 0, tag_date, {"ms", NULL}},
    {"RegExp", 1, 0, tag_regexp, {"source", "flags", NULL}},
    {"Map", 1, 1, tag_list, {"entries", NULL}},
    {"Set", 1, 0, tag_list, {"values", NULL}},
    {"ArrayBuffer", 1, -1, tag_bytes, {"base64", "maxByteLength", NULL}},
    {NULL, 1, 0, tag_bytes, {"base64", NULL}},
    {"Error", 1, 0, tag_error, {"name", "message", "stack", "cause", NULL}},
    {"Boxed", 1, 0, tag_boxed, {"value", NULL}},
};

/* tag's entry, and its kind; NULL if no tag is named so. */
static const struct tag *tag_find(const struct jn *tag, int *kind) {
  for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
    const struct tag *t = &tags[i];
    if (t->name ? is_word(tag, t->name) : (*kind = view_index(tag)) >= 0) {
      if (t->name)
        *kind = t->kind;
      return t;
    }
  }
  return NULL;
}

/* {"$v8": TAG, ...}: what every tag is checked for here (a known tag,
 * the depth before an object or an unknown tag, the members), the rest
 * by the tag's reader. */
static int conv_tagged(struct conv *c, const struct jn *j, unsigned depth,
                       herd_val_t **out) {
  const struct jn *tag = j->kids[0];
  struct tagged tg = {.c = c, .j = j, .level = depth + 1};
  const struct tag *t;
  int rc;
  *out = NULL;
  if (tag->type != J_STR)
    return cfail(c, tag);
  t = tag_find(tag, &tg.kind);
  if ((!t || t->object) && depth >= c->max_depth)
    return (c->p->err_off = j->off, HERD_EV8DEPTH);
  if (!t)
    return cfail(c, tag);
  if ((rc = members(c, j, t->members, tg.m)) < 0)
    return rc;
  return t->fn(&tg, out);
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
