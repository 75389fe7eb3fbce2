/*
 * jsonparse.c - herd_json_parse: JSON text into a herd_val_t tree, as
 * JSON.parse makes it, built by a sink on json.c's one scan. And
 * herd_val_int, the range-checked way from a parsed number to an
 * integer.
 *
 * JSON.parse's objects are made by CreateDataProperty, key by key: a key
 * met again keeps its first place and takes the last value, and keys
 * that are array indices ("7", not "07") come first, ascending - the
 * order herd_val_t keeps. So members are appended as they come and put
 * in that order when their object closes.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct tb {
  herd_val_t *root;
  herd_val_t **open; /* the containers not closed yet, innermost last */
  size_t n, cap;
  char *key; /* the member's key, decoded (WTF-8), until its value */
  size_t klen, kcap;
};

/* v (taken) into the innermost open container, at the key read last. */
static int attach(struct tb *b, herd_val_t *v) {
  if (b->n == 0) {
    b->root = v;
    return 0;
  }
  herd_val_t *c = b->open[b->n - 1];
  uint32_t index = 0;
  int rc;
  if (c->type == HERD_VAL_ARRAY) {
    /* past the last index JS throws a RangeError (4 GiB of elements) */
    rc = c->obj.n > HERD__V8_INDEX_MAX
             ? -EOVERFLOW
             : herd__val_prop_add(c, NULL, 0, (uint32_t)c->obj.n, v);
  } else if (herd__v8_index_key(b->key, b->klen, &index)) {
    rc = herd__val_prop_add(c, NULL, 0, index, v);
  } else {
    rc = herd__val_prop_add(c, b->key, b->klen, 0, v);
  }
  if (rc < 0)
    herd_val_free(v);
  return rc;
}

static int on_scalar(void *ctx, int type, const char *tok, size_t len,
                     int esc, size_t off) {
  (void)esc;
  (void)off;
  herd_val_t *v = NULL;
  double x;
  switch (type) {
  case HERD__J_NULL:
    v = herd_val_null();
    break;
  case HERD__J_FALSE:
  case HERD__J_TRUE:
    v = herd_val_bool(type == HERD__J_TRUE);
    break;
  case HERD__J_NUM:
    if (herd__json_number(tok, len, &x) == 0)
      v = herd_val_number(x);
    break;
  default: {
    size_t n = herd__json_unescape(tok + 1, len - 2, NULL, 0);
    if ((v = herd__val_str_new(n)))
      herd__json_unescape(tok + 1, len - 2, v->str.s, n);
  }
  }
  return v ? attach(ctx, v) : -ENOMEM;
}

static int on_open(void *ctx, int type, size_t off) {
  struct tb *b = ctx;
  (void)off;
  if (b->n == b->cap) {
    size_t ncap = b->cap ? b->cap * 2 : 16;
    herd_val_t **o = realloc(b->open, ncap * sizeof *o);
    if (!o)
      return -ENOMEM;
    b->open = o;
    b->cap = ncap;
  }
  herd_val_t *v = type == HERD__J_ARR ? herd_val_array() : herd_val_object();
  int rc = v ? attach(b, v) : -ENOMEM;
  if (rc == 0)
    b->open[b->n++] = v;
  return rc;
}

static int on_key(void *ctx, const char *tok, size_t len, int esc,
                  size_t off) {
  struct tb *b = ctx;
  (void)esc;
  (void)off;
  size_t n = herd__json_unescape(tok + 1, len - 2, NULL, 0);
  if (n >= b->kcap) {
    char *k = realloc(b->key, n + 1);
    if (!k)
      return -ENOMEM;
    b->key = k;
    b->kcap = n + 1;
  }
  herd__json_unescape(tok + 1, len - 2, b->key, n);
  b->key[n] = '\0';
  b->klen = n;
  return 0;
}

struct ent {
  herd_val_prop_t p;
  size_t pos; /* where it came in the text */
};

/* index keys first by index, then string keys by their bytes; equal
 * keys in the text's order */
static int cmp_key(const void *x, const void *y) {
  const struct ent *a = x, *b = y;
  int c = 0;
  if (!a->p.key != !b->p.key)
    return a->p.key ? 1 : -1;
  if (!a->p.key) {
    c = a->p.index < b->p.index ? -1 : a->p.index > b->p.index;
  } else {
    size_t n = a->p.key_len < b->p.key_len ? a->p.key_len : b->p.key_len;
    c = memcmp(a->p.key, b->p.key, n);
    if (c == 0 && a->p.key_len != b->p.key_len)
      c = a->p.key_len < b->p.key_len ? -1 : 1;
  }
  return c ? c : a->pos < b->pos ? -1 : a->pos > b->pos;
}

static int cmp_pos(const void *x, const void *y) {
  const struct ent *a = x, *b = y;
  return a->pos < b->pos ? -1 : a->pos > b->pos;
}

static int same_key(const herd_val_prop_t *a, const herd_val_prop_t *b) {
  if (!a->key || !b->key)
    return !a->key && !b->key && a->index == b->index;
  return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

/* An object's members as JSON.parse leaves them: of a key met twice, the
 * first place and the last value; index keys first, ascending. */
static int finish_object(herd_val_t *o) {
  size_t n = o->obj.n, k = 0, ni;
  if (n <= 1) {
    o->obj.nindex = n == 1 && !o->obj.props[0].key;
    return 0;
  }
  struct ent *t = malloc(n * sizeof *t);
  if (!t)
    return -ENOMEM;
  for (size_t i = 0; i < n; i++)
    t[i] = (struct ent){o->obj.props[i], i};
  qsort(t, n, sizeof *t, cmp_key);
  for (size_t i = 0, j; i < n; i = j) {
    for (j = i + 1; j < n && same_key(&t[i].p, &t[j].p); j++)
      ;
    if (j - i > 1) {
      herd_val_free(t[i].p.value);
      t[i].p.value = t[j - 1].p.value;
      for (size_t m = i + 1; m < j; m++) {
        free(t[m].p.key);
        if (m < j - 1)
          herd_val_free(t[m].p.value);
      }
    }
    t[k++] = t[i];
  }
  for (ni = 0; ni < k && !t[ni].p.key; ni++)
    ;
  qsort(t + ni, k - ni, sizeof *t, cmp_pos);
  for (size_t i = 0; i < k; i++)
    o->obj.props[i] = t[i].p;
  o->obj.n = k;
  o->obj.nindex = ni;
  free(t);
  return 0;
}

static int on_close(void *ctx) {
  struct tb *b = ctx;
  herd_val_t *c = b->open[--b->n];
  if (c->type == HERD_VAL_OBJECT)
    return finish_object(c);
  c->obj.nindex = c->obj.n;
  c->obj.length = (uint32_t)c->obj.n;
  return 0;
}

static const struct herd__jsink tree_sink = {on_scalar, on_open, on_key,
                                             on_close};

int herd_json_parse(const char *text, size_t len, herd_val_t **out,
                    size_t *used) {
  if (out)
    *out = NULL;
  if (!out || (!text && len))
    return -EINVAL;
  struct tb b;
  memset(&b, 0, sizeof b);
  struct herd__jscan s = {.text = text ? text : "", .len = len,
                          .max_depth = HERD_JSON_MAX_DEPTH,
                          .sink = &tree_sink, .ctx = &b};
  int rc = herd__json_scan(&s);
  free(b.open);
  free(b.key);
  if (rc < 0) {
    herd_val_free(b.root);
    if (used)
      *used = s.fault;
    return rc == -EINVAL ? HERD_EJSON : rc;
  }
  *out = b.root;
  if (used)
    *used = len;
  return 0;
}

int herd_val_int(const herd_val_t *v, int64_t min, int64_t max, int64_t *out) {
  v = herd_val_deref(v);
  if (!v || v->type != HERD_VAL_NUMBER)
    return -EINVAL;
  double d = v->number;
  /* [-2^63, 2^63) holds every int64_t, and both ends are exact doubles:
   * inside it the cast is defined, and a whole d survives it */
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
    return -ERANGE;
  int64_t x = (int64_t)d;
  if ((double)x != d || x < min || x > max)
    return -ERANGE;
  *out = x;
  return 0;
}
