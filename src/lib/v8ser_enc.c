/*
 * v8ser_enc.c - writing a herd_val_t tree in V8's serialization format,
 * byte for byte as Node 20 writes the same value (where it writes one
 * value one way): herd_v8_encode and herd_v8_encode_alloc. The reader is
 * v8ser.c; the facts are in its header comment.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "herd.h"
#include "internal.h"

struct enc {
  uint8_t *buf;
  size_t cap, len;
  size_t base; /* where the payload starts in buf */
  int grow;    /* realloc buf as needed (else count past cap) */
  int err;  /* -ENOMEM once growing failed */
  int host;
  unsigned max_depth;
  struct herd__ptrmap ids;
  uint32_t next_id;
};

static void put(struct enc *e, const void *p, size_t n) {
  if (n > SIZE_MAX / 2 - e->len) {
    e->err = -ENOMEM;
    return;
  }
  if (e->grow && e->len + n > e->cap && !e->err) {
    size_t ncap = e->cap ? e->cap : 256;
    while (ncap < e->len + n)
      ncap *= 2;
    uint8_t *nb = realloc(e->buf, ncap);
    if (!nb) {
      e->err = -ENOMEM;
    } else {
      e->buf = nb;
      e->cap = ncap;
    }
  }
  if (e->len < e->cap)
    memcpy(e->buf + e->len, p, n < e->cap - e->len ? n : e->cap - e->len);
  e->len += n;
}

static void put_byte(struct enc *e, uint8_t b) {
  put(e, &b, 1);
}

static size_t varint_len(uint32_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

static void put_u32(struct enc *e, uint32_t v) {
  uint8_t b[5];
  size_t n = 0;
  while (v >= 0x80) {
    b[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  b[n++] = (uint8_t)v;
  put(e, b, n);
}

static void put_double(struct enc *e, double x) {
  uint64_t u;
  uint8_t b[8];
  if (isnan(x))
    u = 0x7ff8000000000000ull; /* the NaN V8 writes */
  else
    memcpy(&u, &x, sizeof u);
  for (int i = 0; i < 8; i++)
    b[i] = (uint8_t)(u >> (8 * i));
  put(e, b, 8);
}

/* A length V8 writes as a 32-bit varint. */
static int put_len(struct enc *e, size_t n) {
  if (n > UINT32_MAX)
    return -EOVERFLOW;
  put_u32(e, (uint32_t)n);
  return 0;
}

static void put_int32(struct enc *e, int32_t i) {
  uint32_t z = i >= 0 ? (uint32_t)i << 1 : ((uint32_t)(-(i + 1)) << 1) | 1;
  put_byte(e, V8T_INT32);
  put_u32(e, z);
}

static void put_number(struct enc *e, double x) {
  if (x >= -2147483648.0 && x <= 2147483647.0 && x == herd__trunc(x) &&
      !(x == 0 && signbit(x))) {
    put_int32(e, (int32_t)x); /* a Smi */
  } else {
    put_byte(e, V8T_DOUBLE);
    put_double(e, x);
  }
}

/* One code point of a tree's string (WTF-8 by construction; a fault
 * would be U+FFFD). */
static size_t cp_next(const uint8_t *p, size_t n, uint32_t *c) {
  size_t k = herd__utf8_next(p, n, 1, c);
  if (*c == HERD__UTF8_FAULT)
    *c = 0xfffd;
  return k;
}

/* A string as V8 writes its flat form: Latin-1 when every code unit
 * fits a byte, else UTF-16LE, padded so that the units start at an even
 * offset (counted from the payload's start; the channel's 4-byte prefix
 * keeps the parity). */
static int put_string(struct enc *e, const char *s, size_t len) {
  const uint8_t *p = (const uint8_t *)s;
  size_t ncp = 0, units = 0, i = 0;
  uint32_t max = 0, c;
  while (i < len) {
    if (p[i] < 0x80) { /* ASCII: one unit a byte, counted without decoding */
      size_t k = herd__ascii_run(p + i, len - i);
      i += k;
      ncp += k;
      units += k;
      continue;
    }
    i += cp_next(p + i, len - i, &c);
    ncp++;
    units += c >= 0x10000 ? 2 : 1;
    if (c > max)
      max = c;
  }
  if (max <= 0xff) {
    put_byte(e, V8T_ONE_BYTE);
    if (put_len(e, ncp) < 0)
      return -EOVERFLOW;
    if (ncp == len) { /* ASCII */
      put(e, s, len);
      return 0;
    }
    for (i = 0; i < len;) {
      i += cp_next(p + i, len - i, &c);
      put_byte(e, (uint8_t)c);
    }
    return 0;
  }
  if (units > UINT32_MAX / 2)
    return -EOVERFLOW;
  uint32_t blen = (uint32_t)(units * 2);
  if ((e->len - e->base + 1 + varint_len(blen)) & 1)
    put_byte(e, V8T_PADDING);
  put_byte(e, V8T_TWO_BYTE);
  put_u32(e, blen);
  for (i = 0; i < len;) {
    uint8_t b[4];
    i += cp_next(p + i, len - i, &c);
    if (c >= 0x10000) {
      uint32_t hi = 0xd800 + ((c - 0x10000) >> 10), lo = 0xdc00 + (c & 0x3ff);
      b[0] = (uint8_t)hi;
      b[1] = (uint8_t)(hi >> 8);
      b[2] = (uint8_t)lo;
      b[3] = (uint8_t)(lo >> 8);
      put(e, b, 4);
    } else {
      b[0] = (uint8_t)c;
      b[1] = (uint8_t)(c >> 8);
      put(e, b, 2);
    }
  }
  return 0;
}

/* A BigInt's bitfield and digits: 64-bit digits, as V8 keeps them. */
static int put_bigint(struct enc *e, const herd_val_t *v) {
  size_t n = (v->bigint.len + 7) / 8 * 8;
  static const uint8_t zeros[8];
  if (n > HERD__V8_BIGINT_MAX)
    return -EOVERFLOW;
  put_u32(e, (uint32_t)(n << 1) | (v->bigint.len && v->bigint.negative));
  put(e, v->bigint.mag, v->bigint.len);
  put(e, zeros, n - v->bigint.len);
  return 0;
}

static int enc_value(struct enc *e, const herd_val_t *v, unsigned depth);

static int enc_props(struct enc *e, const herd_val_t *v, size_t from,
                     unsigned level) {
  int rc;
  for (size_t i = from; i < v->obj.n; i++) {
    const herd_val_prop_t *p = &v->obj.props[i];
    if (!p->key) {
      if (p->index <= INT32_MAX) {
        put_int32(e, (int32_t)p->index);
      } else { /* V8 writes an index past the Smis as a double */
        put_byte(e, V8T_DOUBLE);
        put_double(e, p->index);
      }
    } else if ((rc = put_string(e, p->key, p->key_len)) < 0) {
      return rc;
    }
    if ((rc = enc_value(e, p->value, level)) < 0)
      return rc;
  }
  return 0;
}

/* The body of an object, written in full. level: its depth. */
static int enc_array(struct enc *e, const herd_val_t *v, unsigned level) {
  size_t n = v->obj.nindex;
  int rc;
  /* dense when no element is missing (Node: when the array's elements
   * are packed - an array that once had holes is written sparse) */
  if (n == v->obj.length && (n == 0 || v->obj.props[n - 1].index == n - 1)) {
    put_byte(e, V8T_DENSE);
    put_u32(e, v->obj.length);
    for (size_t i = 0; i < n; i++)
      if ((rc = enc_value(e, v->obj.props[i].value, level)) < 0)
        return rc;
    if ((rc = enc_props(e, v, n, level)) < 0)
      return rc;
    put_byte(e, V8T_END_DENSE);
    rc = put_len(e, v->obj.n - n);
  } else {
    put_byte(e, V8T_SPARSE);
    put_u32(e, v->obj.length);
    if ((rc = enc_props(e, v, 0, level)) < 0)
      return rc;
    put_byte(e, V8T_END_SPARSE);
    rc = put_len(e, v->obj.n);
  }
  put_u32(e, v->obj.length);
  return rc;
}

static int enc_arraybuffer(struct enc *e, const herd_val_t *v) {
  int rc;
  if (v->buf.resizable) {
    if (v->buf.max_len > UINT32_MAX || v->buf.len > v->buf.max_len)
      return -EINVAL;
    put_byte(e, V8T_RESIZABLE_AB);
    put_u32(e, (uint32_t)v->buf.len);
    put_u32(e, (uint32_t)v->buf.max_len);
  } else {
    put_byte(e, V8T_ARRAYBUFFER);
    if ((rc = put_len(e, v->buf.len)) < 0)
      return rc;
  }
  put(e, v->buf.data, v->buf.len);
  return 0;
}

/* A view as Node's host object, its bytes with it. */
static int enc_view(struct enc *e, const herd_val_t *v) {
  int rc;
  if (v->view.view_type < 0 || (size_t)v->view.view_type >= HERD__V8_NVIEW ||
      v->view.len % herd__v8_elsize[v->view.view_type])
    return -EINVAL;
  put_byte(e, V8T_HOST);
  if (e->host == HERD_V8_HOST_CHANNEL)
    put_u32(e, 0); /* "an ArrayBufferView follows" */
  put_u32(e, (uint32_t)v->view.view_type);
  if ((rc = put_len(e, v->view.len)) < 0)
    return rc;
  put(e, v->view.data, v->view.len);
  return 0;
}

static int enc_error(struct enc *e, const herd_val_t *v, unsigned level) {
  int rc;
  if (v->error.error_type < 0 || v->error.error_type > HERD_ERROR_URI)
    return -EINVAL;
  put_byte(e, V8T_ERROR);
  if (v->error.error_type != HERD_ERROR_ERROR)
    put_byte(e, (uint8_t)herd__v8_err_proto[v->error.error_type]);
  if (v->error.message) {
    put_byte(e, V8E_MESSAGE);
    if ((rc = put_string(e, v->error.message, v->error.message_len)) < 0)
      return rc;
  }
  /* Node 20 writes the cause before the stack */
  if (v->error.cause) {
    put_byte(e, V8E_CAUSE);
    if ((rc = enc_value(e, v->error.cause, level)) < 0)
      return rc;
  }
  if (v->error.stack) {
    put_byte(e, V8E_STACK);
    if ((rc = put_string(e, v->error.stack, v->error.stack_len)) < 0)
      return rc;
  }
  put_byte(e, V8E_END);
  return 0;
}

/* A Boolean, Number, BigInt or String object: in, what it boxes. */
static int enc_boxed(struct enc *e, const herd_val_t *in) {
  if (!in)
    return -EINVAL;
  switch (in->type) {
  case HERD_VAL_BOOL:
    put_byte(e, in->boolean ? V8T_TRUE_OBJ : V8T_FALSE_OBJ);
    return 0;
  case HERD_VAL_NUMBER:
    put_byte(e, V8T_NUMBER_OBJ);
    put_double(e, in->number);
    return 0;
  case HERD_VAL_BIGINT:
    put_byte(e, V8T_BIGINT_OBJ);
    return put_bigint(e, in);
  case HERD_VAL_STRING:
    put_byte(e, V8T_STRING_OBJ);
    return put_string(e, in->str.s, in->str.len);
  default:
    return -EINVAL;
  }
}

static int enc_object(struct enc *e, const herd_val_t *v, unsigned level) {
  int rc;
  switch (v->type) {
  case HERD_VAL_OBJECT:
    put_byte(e, V8T_OBJECT);
    if ((rc = enc_props(e, v, 0, level)) < 0)
      return rc;
    put_byte(e, V8T_END_OBJECT);
    return put_len(e, v->obj.n);
  case HERD_VAL_ARRAY:
    return enc_array(e, v, level);
  case HERD_VAL_DATE:
    put_byte(e, V8T_DATE);
    put_double(e, v->number);
    return 0;
  case HERD_VAL_REGEXP:
    if ((v->regexp.flags & ~0x1bfu) ||
        ((v->regexp.flags & HERD_RE_UNICODE) && (v->regexp.flags & HERD_RE_UNICODE_SETS)))
      return -EINVAL;
    put_byte(e, V8T_REGEXP);
    if ((rc = put_string(e, v->regexp.source, v->regexp.len)) < 0)
      return rc;
    put_u32(e, v->regexp.flags);
    return 0;
  case HERD_VAL_MAP:
  case HERD_VAL_SET:
    if (v->type == HERD_VAL_MAP && (v->list.n & 1))
      return -EINVAL;
    put_byte(e, v->type == HERD_VAL_MAP ? V8T_MAP : V8T_SET);
    for (size_t i = 0; i < v->list.n; i++)
      if ((rc = enc_value(e, v->list.items[i], level)) < 0)
        return rc;
    put_byte(e, v->type == HERD_VAL_MAP ? V8T_END_MAP : V8T_END_SET);
    return put_len(e, v->list.n);
  case HERD_VAL_ARRAYBUFFER:
    return enc_arraybuffer(e, v);
  case HERD_VAL_VIEW:
    return enc_view(e, v);
  case HERD_VAL_ERROR:
    return enc_error(e, v, level);
  case HERD_VAL_BOXED:
    return enc_boxed(e, v->boxed);
  default:
    return -EINVAL;
  }
}

/* One value. The first time an object is met (itself or through a REF)
 * it is written in full and takes the next id; after that, '^' id. */
static int enc_value(struct enc *e, const herd_val_t *v, unsigned depth) {
  v = herd_val_deref(v);
  if (!v)
    return -EINVAL;
  switch (v->type) {
  case HERD_VAL_UNDEFINED:
    put_byte(e, V8T_UNDEFINED);
    return 0;
  case HERD_VAL_NULL:
    put_byte(e, V8T_NULL);
    return 0;
  case HERD_VAL_BOOL:
    put_byte(e, v->boolean ? V8T_TRUE : V8T_FALSE);
    return 0;
  case HERD_VAL_NUMBER:
    put_number(e, v->number);
    return 0;
  case HERD_VAL_BIGINT:
    put_byte(e, V8T_BIGINT);
    return put_bigint(e, v);
  case HERD_VAL_STRING:
    return put_string(e, v->str.s, v->str.len);
  default:
    break;
  }
  if (!herd__val_is_object(v))
    return -EINVAL;
  uint32_t id;
  if (herd__ptrmap_get(&e->ids, v, &id)) {
    if (id & HERD__V8_OPEN_ERROR)
      return HERD_EV8UNSUPPORTED; /* Node 20 registers an Error at its end */
    put_byte(e, V8T_REF);
    put_u32(e, id);
    return 0;
  }
  if (depth >= e->max_depth)
    return HERD_EV8DEPTH;
  if (e->next_id >= HERD__V8_OPEN_ERROR)
    return -EOVERFLOW;
  id = e->next_id++;
  int is_err = v->type == HERD_VAL_ERROR;
  int rc = herd__ptrmap_put(&e->ids, v, id | (is_err ? HERD__V8_OPEN_ERROR : 0));
  if (rc == 0)
    rc = enc_object(e, v, depth + 1);
  if (rc == 0 && is_err)
    rc = herd__ptrmap_put(&e->ids, v, id);
  return rc;
}

static int encode(struct enc *e, const herd_val_t *v, const herd_v8_opts_t *opts) {
  int rc = herd__v8_depth(opts, &e->max_depth);
  if (rc < 0 || !v)
    return -EINVAL;
  e->host = opts ? opts->host : HERD_V8_HOST_CHANNEL;
  put_byte(e, 0xff);
  put_u32(e, HERD__V8_VERSION);
  rc = enc_value(e, v, 0);
  herd__ptrmap_free(&e->ids);
  if (rc == 0)
    rc = e->err;
  if (rc == 0 && e->len > SSIZE_MAX)
    rc = -EOVERFLOW;
  return rc;
}

ssize_t herd_v8_encode(const herd_val_t *v, const herd_v8_opts_t *opts,
                       void *buf, size_t cap) {
  struct enc e;
  if (!buf && cap)
    return -EINVAL;
  memset(&e, 0, sizeof e);
  e.buf = buf;
  e.cap = cap;
  int rc = encode(&e, v, opts);
  return rc < 0 ? rc : (ssize_t)e.len;
}

int herd_v8_encode_alloc(const herd_val_t *v, const herd_v8_opts_t *opts,
                         size_t headroom, uint8_t **out, size_t *len) {
  struct enc e;
  if (!out || !len || headroom > SIZE_MAX / 4)
    return -EINVAL;
  *out = NULL;
  *len = 0;
  memset(&e, 0, sizeof e);
  e.grow = 1;
  e.len = e.base = headroom; /* left for the caller */
  int rc;
  if (headroom) {
    e.buf = malloc(headroom + 256);
    if (!e.buf)
      return -ENOMEM;
    e.cap = headroom + 256;
  }
  rc = encode(&e, v, opts);
  if (rc < 0) {
    free(e.buf);
    return rc;
  }
  *out = e.buf;
  *len = e.len;
  return 0;
}

ssize_t herd__v8_encode_handle(const herd_val_t *v, const char *type,
                               const char *xkey, const char *xval,
                               void *buf, size_t cap) {
  struct enc e;
  if (!v || !type || (!buf && cap) || (xkey && !xval))
    return -EINVAL;
  memset(&e, 0, sizeof e);
  e.buf = buf;
  e.cap = cap;
  e.host = HERD_V8_HOST_CHANNEL;
  e.max_depth = HERD_V8_MAX_DEPTH_DEFAULT;
  put_byte(&e, 0xff);
  put_u32(&e, HERD__V8_VERSION);
  /* Node's order (lib/internal/child_process.js, _send): cmd, type, msg,
   * then what the handle's type adds (dgramType). */
  put_byte(&e, V8T_OBJECT);
  e.next_id = 1; /* the object itself is 0 */
  int rc = put_string(&e, "cmd", 3);
  if (rc == 0)
    rc = put_string(&e, "NODE_HANDLE", 11);
  if (rc == 0)
    rc = put_string(&e, "type", 4);
  if (rc == 0)
    rc = put_string(&e, type, strlen(type));
  if (rc == 0)
    rc = put_string(&e, "msg", 3);
  if (rc == 0)
    rc = enc_value(&e, v, 1);
  if (rc == 0 && xkey) {
    rc = put_string(&e, xkey, strlen(xkey));
    if (rc == 0)
      rc = put_string(&e, xval, strlen(xval));
  }
  herd__ptrmap_free(&e.ids);
  if (rc < 0)
    return rc;
  put_byte(&e, V8T_END_OBJECT);
  put_u32(&e, xkey ? 4 : 3);
  if (e.err)
    return e.err;
  return e.len > SSIZE_MAX ? -EOVERFLOW : (ssize_t)e.len;
}
