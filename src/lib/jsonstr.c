/*
 * jsonstr.c - herd_json_stringify: a herd_val_t tree as JSON.stringify
 * writes the JS value (no replacer, no indent), on jsonwrite.c's writer.
 *
 * What JS does, type by type (SerializeJSONProperty): toJSON first - a
 * Date's gives toISOString() (null for an Invalid Date), a Buffer's
 * {"type":"Buffer","data":[bytes]}; a boxed primitive is its primitive;
 * then null, booleans, strings, numbers (null if not finite), arrays
 * (holes and undefined as null), and any other object as its own
 * enumerable properties: a plain object's members (undefined ones
 * left out), a typed array's elements ({"0":1,"1":2}), nothing for a
 * Map, Set, RegExp, Error, ArrayBuffer or DataView ({}: what they hold is
 * not in enumerable properties). A BigInt, or a cycle, is JS's
 * TypeError; a REF met again elsewhere is written again.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct sctx {
  struct herd__jw w;
  unsigned depth; /* containers open in the text */
  const herd_val_t *path[HERD_JSON_MAX_DEPTH]; /* the objects being
                                                  written: a REF to one
                                                  is a cycle */
};

/* Open a container: '[' or '{', counted (HERD_EJSONDEPTH past the
 * limit, as herd_json_parse could not read it back). */
static int open_c(struct sctx *c, const herd_val_t *v, char ch) {
  if (c->depth >= HERD_JSON_MAX_DEPTH)
    return HERD_EJSONDEPTH;
  c->path[c->depth++] = v;
  herd__jw_put(&c->w, &ch, 1);
  return 0;
}

static void close_c(struct sctx *c, char ch) {
  c->depth--;
  herd__jw_put(&c->w, &ch, 1);
}

static void num(struct sctx *c, double x) {
  if (x != x || x - x != 0) /* NaN, +-Infinity */
    herd__jw_s(&c->w, "null");
  else
    herd__jw_num(&c->w, x);
}

/* Days since 1970-01-01 to a civil date (H. Hinnant's days_from_civil,
 * inverted), for any day of a Date's range. */
static void civil(int64_t z, int64_t *y, int *m, int *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

/* Date.prototype.toISOString: YYYY-MM-DDTHH:mm:ss.sssZ, the year as
 * +-YYYYYY outside 0..9999. */
static void iso_date(struct sctx *c, double ms) {
  int64_t t = (int64_t)ms, days = t / 86400000, rem = t % 86400000;
  if (rem < 0) {
    rem += 86400000;
    days--;
  }
  int64_t y;
  int mo, d;
  civil(days, &y, &mo, &d);
  char b[48];
  int n = y >= 0 && y <= 9999
              ? snprintf(b, sizeof b, "\"%04d", (int)y)
              : snprintf(b, sizeof b, "\"%c%06lld", y < 0 ? '-' : '+',
                         (long long)(y < 0 ? -y : y));
  n += snprintf(b + n, sizeof b - (size_t)n, "-%02d-%02dT%02d:%02d:%02d.%03dZ\"",
                mo, d, (int)(rem / 3600000), (int)(rem / 60000 % 60),
                (int)(rem / 1000 % 60), (int)(rem % 1000));
  herd__jw_put(&c->w, b, (size_t)n);
}

static int value(struct sctx *c, const herd_val_t *v);

/* An object's own enumerable properties: index keys, then string keys;
 * a member whose value is undefined is left out, key and all. */
static int members(struct sctx *c, const herd_val_t *v) {
  int rc = open_c(c, v, '{'), any = 0;
  for (size_t i = 0; rc == 0 && i < v->obj.n; i++) {
    const herd_val_prop_t *p = &v->obj.props[i];
    size_t mark = c->w.len;
    if (any)
      herd__jw_put(&c->w, ",", 1);
    if (p->key) {
      herd__jw_str(&c->w, p->key, p->key_len, 1);
    } else {
      char b[16];
      herd__jw_put(&c->w, b, (size_t)snprintf(b, sizeof b, "\"%u\"", p->index));
    }
    herd__jw_put(&c->w, ":", 1);
    rc = value(c, p->value);
    if (rc == 1 && !c->w.err) {
      c->w.len = mark; /* undefined: not written */
      c->w.b[mark] = '\0';
    }
    any |= rc == 0;
    rc = rc == 1 ? 0 : rc;
  }
  if (rc == 0)
    close_c(c, '}');
  return rc;
}

/* An array: length elements, holes and undefined as null. */
static int elements(struct sctx *c, const herd_val_t *v) {
  if (v->obj.length > HERD__JSON_MAX_TEXT / 2)
    return -EOVERFLOW; /* "null," or "1," each: longer than JS's strings */
  int rc = open_c(c, v, '[');
  size_t k = 0;
  for (uint32_t i = 0; rc == 0 && i < v->obj.length && !c->w.err; i++) {
    if (i)
      herd__jw_put(&c->w, ",", 1);
    if (k < v->obj.nindex && v->obj.props[k].index == i)
      rc = value(c, v->obj.props[k++].value);
    else
      rc = 1; /* a hole */
    if (rc == 1)
      herd__jw_s(&c->w, "null");
    rc = rc == 1 ? 0 : rc;
  }
  if (rc == 0)
    close_c(c, ']');
  return rc;
}

/* Element i of a view's little-endian bytes, as a number. */
static double element(const herd_val_t *v, size_t i, size_t size) {
  const uint8_t *p = v->view.data + i * size;
  uint64_t u = 0;
  for (size_t b = 0; b < size; b++)
    u |= (uint64_t)p[b] << (8 * b);
  switch (v->view.view_type) {
  case HERD_VIEW_INT8: return (int8_t)u;
  case HERD_VIEW_INT16: return (int16_t)u;
  case HERD_VIEW_INT32: return (int32_t)u;
  case HERD_VIEW_FLOAT32: {
    float f;
    uint32_t u32 = (uint32_t)u;
    memcpy(&f, &u32, 4);
    return f;
  }
  case HERD_VIEW_FLOAT64: {
    double d;
    memcpy(&d, &u, 8);
    return d;
  }
  default: return (double)u; /* the unsigned ones */
  }
}

/* A Buffer by its toJSON; a typed array by its elements; a DataView has
 * none; a BigInt64Array's elements are BigInts (a TypeError). */
static int view(struct sctx *c, const herd_val_t *v) {
  int t = v->view.view_type, rc;
  if (t < 0 || t >= HERD__V8_NVIEW)
    return -EINVAL;
  size_t size = herd__v8_elsize[t], n = v->view.len / size;
  if (t == HERD_VIEW_DATAVIEW)
    n = 0;
  if (n && (t == HERD_VIEW_BIGINT64 || t == HERD_VIEW_BIGUINT64))
    return HERD_EJSONTYPE;
  int buffer = t == HERD_VIEW_BUFFER;
  if ((rc = open_c(c, v, '{')) < 0)
    return rc;
  if (buffer) {
    herd__jw_s(&c->w, "\"type\":\"Buffer\",\"data\":");
    if ((rc = open_c(c, v, '[')) < 0)
      return rc;
  }
  for (size_t i = 0; i < n && !c->w.err; i++) {
    char b[24];
    if (i)
      herd__jw_put(&c->w, ",", 1);
    if (!buffer)
      herd__jw_put(&c->w, b, (size_t)snprintf(b, sizeof b, "\"%zu\":", i));
    num(c, element(v, i, size));
  }
  if (buffer)
    close_c(c, ']');
  close_c(c, '}');
  return 0;
}

/* Write v; 1 if it is undefined in JSON's eyes (nothing written). */
static int value(struct sctx *c, const herd_val_t *v) {
  if (!v)
    return -EINVAL;
  if (v->type == HERD_VAL_REF) {
    v = v->target;
    for (unsigned i = 0; i < c->depth; i++)
      if (c->path[i] == v)
        return HERD_EJSONTYPE; /* "Converting circular structure to JSON" */
  }
  if (v->type == HERD_VAL_BOXED)
    v = v->boxed; /* its primitive (an Object(1n) too: a BigInt) */
  switch (v->type) {
  case HERD_VAL_UNDEFINED:
    return 1;
  case HERD_VAL_NULL:
    herd__jw_s(&c->w, "null");
    return 0;
  case HERD_VAL_BOOL:
    herd__jw_s(&c->w, v->boolean ? "true" : "false");
    return 0;
  case HERD_VAL_NUMBER:
    num(c, v->number);
    return 0;
  case HERD_VAL_BIGINT:
    return HERD_EJSONTYPE; /* "Do not know how to serialize a BigInt" */
  case HERD_VAL_STRING:
    herd__jw_str(&c->w, v->str.s, v->str.len, 1);
    return 0;
  case HERD_VAL_DATE:
    if (v->number != v->number)
      herd__jw_s(&c->w, "null");
    else
      iso_date(c, v->number);
    return 0;
  case HERD_VAL_OBJECT:
    return members(c, v);
  case HERD_VAL_ARRAY:
    return elements(c, v);
  case HERD_VAL_VIEW:
    return view(c, v);
  case HERD_VAL_REGEXP:
  case HERD_VAL_MAP:
  case HERD_VAL_SET:
  case HERD_VAL_ARRAYBUFFER:
  case HERD_VAL_ERROR: {
    int rc = open_c(c, v, '{');
    if (rc == 0)
      close_c(c, '}');
    return rc;
  }
  default:
    return -EINVAL;
  }
}

int herd_json_stringify(const herd_val_t *v, char **out, size_t *len) {
  if (out)
    *out = NULL;
  if (len)
    *len = 0;
  if (!v || !out)
    return -EINVAL;
  struct sctx *c = malloc(sizeof *c);
  if (!c)
    return -ENOMEM;
  memset(&c->w, 0, sizeof c->w);
  c->w.max = HERD__JSON_MAX_TEXT;
  c->depth = 0;
  int rc = value(c, v);
  if (rc == 1) {
    free(c->w.b);
    free(c);
    return 1; /* undefined: JSON.stringify returns undefined, no text */
  }
  if (rc < 0) {
    free(c->w.b);
    free(c);
    return rc;
  }
  rc = herd__jw_finish(&c->w, out, len);
  free(c);
  return rc;
}
