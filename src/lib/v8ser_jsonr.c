/*
 * v8ser_jsonr.c - JSON text of libherd's mapping (docs/v8.md; written by
 * v8ser_json.c) into a herd_val_t tree: herd_v8_from_json. The text is
 * parsed into a document first (in an arena), then the document into a
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

#define BIGINT_DEC_DIGITS 20000u /* the most decimal digits read (decimal
                                    costs time quadratic in the length) */

/* ==== the text to a document ========================================== */

enum { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ };

struct jn {
  int type;
  size_t off; /* where it starts in the text */
  double num;
  char *s; /* J_STR: WTF-8 */
  size_t len;
  struct jn **kids; /* J_ARR: items; J_OBJ: values */
  struct jn **keys; /* J_OBJ: J_STR keys */
  size_t n;
};

struct chunk {
  struct chunk *next;
  size_t used, cap;
  max_align_t data[];
};

struct jp {
  const char *t;
  size_t n, pos;
  unsigned max_jdepth;
  struct chunk *arena;
  struct jn **stack; /* children of the containers being read */
  size_t sn, scap;
  size_t err_off;
};

static void *jalloc(struct jp *p, size_t n) {
  n = (n + 15) & ~(size_t)15;
  struct chunk *c = p->arena;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > 65536 ? n : 65536;
    c = malloc(sizeof *c + cap);
    if (!c)
      return NULL;
    c->used = 0;
    c->cap = cap;
    if (n > 16384 && p->arena) { /* a big one: keep filling the current */
      c->next = p->arena->next;
      p->arena->next = c;
    } else {
      c->next = p->arena;
      p->arena = c;
    }
  }
  void *r = (char *)c->data + c->used;
  c->used += n;
  return r;
}

static int jfail(struct jp *p, size_t off) {
  p->err_off = off;
  return HERD_EV8JSON;
}

static void jws(struct jp *p) {
  while (p->pos < p->n && (p->t[p->pos] == ' ' || p->t[p->pos] == '\t' ||
                           p->t[p->pos] == '\n' || p->t[p->pos] == '\r'))
    p->pos++;
}

static int hex4(const char *s, uint32_t *u) {
  *u = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    int h = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (h < 0)
      return -1;
    *u = *u << 4 | (uint32_t)h;
  }
  return 0;
}

/* A string token at pos ('"') into WTF-8: escapes decoded, \u pairs
 * joined, a lone surrogate escape kept; raw bytes must be UTF-8. */
static int jstring(struct jp *p, char **s, size_t *len) {
  size_t start = p->pos, end = p->pos + 1;
  while (end < p->n && p->t[end] != '"')
    end += p->t[end] == '\\' ? 2 : 1;
  if (end >= p->n)
    return jfail(p, start);
  /* the decoded form is never longer than the token */
  uint8_t *o = jalloc(p, end - start + 1);
  if (!o)
    return -ENOMEM;
  size_t i = start + 1, k = 0;
  const uint8_t *t = (const uint8_t *)p->t;
  while (i < end) {
    uint32_t c;
    if (t[i] == '\\') {
      const char *esc = "\"\\/bfnrt", *val = "\"\\/\b\f\n\r\t";
      const char *e = strchr(esc, t[i + 1]);
      if (e && t[i + 1]) {
        o[k++] = (uint8_t)val[e - esc];
        i += 2;
        continue;
      }
      if (t[i + 1] != 'u' || i + 6 > end || hex4(p->t + i + 2, &c) < 0)
        return jfail(p, i);
      i += 6;
      uint32_t c2;
      if (c >= 0xd800 && c <= 0xdbff && i + 6 <= end && t[i] == '\\' &&
          t[i + 1] == 'u' && hex4(p->t + i + 2, &c2) == 0 && c2 >= 0xdc00 &&
          c2 <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (c2 - 0xdc00);
        i += 6;
      }
      k += herd__utf8_put(o + k, c);
      continue;
    }
    if (t[i] < 0x20)
      return jfail(p, i);
    size_t m = herd__utf8_next(t + i, end - i, 0, &c);
    if (c == HERD__UTF8_FAULT)
      return jfail(p, i); /* not UTF-8 */
    memcpy(o + k, t + i, m);
    k += m;
    i += m;
  }
  o[k] = '\0';
  *s = (char *)o;
  *len = k;
  p->pos = end + 1;
  return 0;
}

/* RFC 8259's number grammar, then strtod in the C locale. */
static int jnumber(struct jp *p, double *x) {
  size_t i = p->pos, start = i;
  const char *t = p->t;
#define DIGIT(j) ((j) < p->n && t[j] >= '0' && t[j] <= '9')
  if (i < p->n && t[i] == '-')
    i++;
  if (!DIGIT(i))
    return jfail(p, start);
  if (t[i] == '0')
    i++;
  else
    while (DIGIT(i))
      i++;
  if (i < p->n && t[i] == '.') {
    i++;
    if (!DIGIT(i))
      return jfail(p, i);
    while (DIGIT(i))
      i++;
  }
  if (i < p->n && (t[i] == 'e' || t[i] == 'E')) {
    i++;
    if (i < p->n && (t[i] == '+' || t[i] == '-'))
      i++;
    if (!DIGIT(i))
      return jfail(p, i);
    while (DIGIT(i))
      i++;
  }
#undef DIGIT
  char sb[64], *b = sb;
  size_t n = i - start;
  if (n >= sizeof sb && !(b = malloc(n + 1)))
    return -ENOMEM;
  memcpy(b, t + start, n);
  b[n] = '\0';
  *x = herd__v8_strtod(b); /* 1e400 is Infinity, as JSON.parse has it */
  if (b != sb)
    free(b);
  p->pos = i;
  return 0;
}

static int push_kid(struct jp *p, struct jn *k) {
  if (p->sn == p->scap) {
    size_t ncap = p->scap ? p->scap * 2 : 64;
    struct jn **ns = realloc(p->stack, ncap * sizeof *ns);
    if (!ns)
      return -ENOMEM;
    p->stack = ns;
    p->scap = ncap;
  }
  p->stack[p->sn++] = k;
  return 0;
}

/* Move the children pushed since base into the arena. */
static int pop_kids(struct jp *p, size_t base, struct jn ***out) {
  size_t n = p->sn - base;
  *out = NULL;
  if (n) {
    if (!(*out = jalloc(p, n * sizeof **out)))
      return -ENOMEM;
    memcpy(*out, p->stack + base, n * sizeof **out);
  }
  p->sn = base;
  return 0;
}

static int jvalue(struct jp *p, unsigned depth, struct jn **out) {
  jws(p);
  if (p->pos >= p->n)
    return jfail(p, p->pos);
  struct jn *v = jalloc(p, sizeof *v);
  if (!v)
    return -ENOMEM;
  memset(v, 0, sizeof *v);
  v->off = p->pos;
  *out = v;
  char c = p->t[p->pos];
  int rc;
  if (c == '{' || c == '[') {
    if (depth >= p->max_jdepth)
      return (p->err_off = p->pos, HERD_EV8DEPTH);
    size_t base = p->sn;
    char close = c == '{' ? '}' : ']';
    v->type = c == '{' ? J_OBJ : J_ARR;
    p->pos++;
    jws(p);
    if (p->pos < p->n && p->t[p->pos] == close) {
      p->pos++;
      return 0;
    }
    for (;;) {
      struct jn *kid;
      if (v->type == J_OBJ) {
        jws(p);
        if (p->pos >= p->n || p->t[p->pos] != '"')
          return jfail(p, p->pos);
        if (!(kid = jalloc(p, sizeof *kid)))
          return -ENOMEM;
        memset(kid, 0, sizeof *kid);
        kid->type = J_STR;
        kid->off = p->pos;
        if ((rc = jstring(p, &kid->s, &kid->len)) < 0 || (rc = push_kid(p, kid)) < 0)
          return rc;
        jws(p);
        if (p->pos >= p->n || p->t[p->pos] != ':')
          return jfail(p, p->pos);
        p->pos++;
      }
      if ((rc = jvalue(p, depth + 1, &kid)) < 0 || (rc = push_kid(p, kid)) < 0)
        return rc;
      v->n++;
      jws(p);
      if (p->pos < p->n && p->t[p->pos] == ',') {
        p->pos++;
        continue;
      }
      if (p->pos < p->n && p->t[p->pos] == close) {
        p->pos++;
        break;
      }
      return jfail(p, p->pos);
    }
    /* objects pushed key, value, key, value: split them */
    struct jn **all;
    if ((rc = pop_kids(p, base, &all)) < 0)
      return rc;
    if (v->type == J_ARR) {
      v->kids = all;
      return 0;
    }
    v->keys = jalloc(p, v->n * sizeof *v->keys);
    v->kids = jalloc(p, v->n * sizeof *v->kids);
    if (!v->keys || !v->kids)
      return -ENOMEM;
    for (size_t i = 0; i < v->n; i++) {
      v->keys[i] = all[2 * i];
      v->kids[i] = all[2 * i + 1];
    }
    return 0;
  }
  if (c == '"') {
    v->type = J_STR;
    return jstring(p, &v->s, &v->len);
  }
  static const char *const words[] = {"null", "false", "true"};
  for (int w = 0; w < 3; w++) {
    size_t wl = strlen(words[w]);
    if (p->n - p->pos >= wl && memcmp(p->t + p->pos, words[w], wl) == 0) {
      v->type = J_NULL + w;
      p->pos += wl;
      return 0;
    }
  }
  v->type = J_NUM;
  return jnumber(p, &v->num);
}

/* ==== the document to a tree ========================================= */

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

static int hexval(char ch) {
  return ch >= '0' && ch <= '9'   ? ch - '0'
         : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
         : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                  : -1;
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
    if (hex ? hexval(s[i]) < 0 : s[i] < '0' || s[i] > '9')
      return cfail(c, j);
  /* 32-bit limbs, little-endian: 10^9 < 2^30, so 9 digits never need
   * more than one limb more */
  size_t nl = hex ? nd / 8 + 1 : nd / 9 + 2, used = 0;
  uint32_t *l = calloc(nl, sizeof *l);
  if (!l)
    return -ENOMEM;
  if (hex) {
    for (size_t i = 0; i < nd; i++)
      l[i / 8] |= (uint32_t)hexval(s[nd - 1 - i]) << (4 * (i % 8));
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
  struct jn *root = NULL;
  if (out)
    *out = NULL;
  if ((!json && len) || !out || herd__v8_depth(opts, &depth) < 0)
    return -EINVAL;
  memset(&p, 0, sizeof p);
  memset(&c, 0, sizeof c);
  p.t = json;
  p.n = len;
  /* a value nests 3 JSON levels at most: {"$v8":"Map","entries":[[k,v]]} */
  p.max_jdepth = 3 * depth + 3;
  int rc = jvalue(&p, 0, &root);
  if (rc == 0) {
    jws(&p);
    if (p.pos != p.n)
      rc = jfail(&p, p.pos);
  }
  if (rc == 0) {
    c.p = &p;
    c.max_depth = depth;
    rc = conv(&c, root, 0, out);
  }
  while (p.arena) {
    struct chunk *n = p.arena->next;
    free(p.arena);
    p.arena = n;
  }
  free(p.stack);
  free(c.ids);
  if (used)
    *used = rc < 0 ? p.err_off : p.pos;
  return rc;
}
