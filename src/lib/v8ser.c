/*
 * v8ser.c - reading V8's serialization format (ValueSerializer), as
 * Node's 'advanced' channel and v8.serialize() write it: herd_v8_decode
 * turns bytes into a herd_val_t tree (v8ser_val.c); v8ser_enc.c writes
 * one back. The facts: /work/shared/notes/v8-serialization.md, checked
 * against node v20.20.2; V8's src/objects/value-serializer.cc; Node's
 * lib/v8.js and lib/internal/child_process/serialization.js.
 *
 * The reader is careful where Node is not (Node dies on a bad frame):
 * every length is checked against the bytes left before anything is
 * allocated, so what it allocates stays within a small multiple of the
 * input; nesting is bounded; a reference must name an object already
 * registered, as V8 registers them (an Error only once it is complete).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "herd.h"
#include "internal.h"

#define MIN_VERSION 13u /* the oldest Node 20 reads (v13 made host
                           objects' tag explicit) */

const char herd__v8_err_proto[HERD_ERROR_URI + 1] = {
    0, V8E_EVAL, V8E_RANGE, V8E_REFERENCE, V8E_SYNTAX, V8E_TYPE, V8E_URI};

/* V's sub-tags by enum herd_view_type (Buffer has none: V8 does not know
 * it). */
static const char view_subtag[HERD__V8_NVIEW] = {'b', 'B', 'C', 'w', 'W', 'd', 'D',
                                                 'f', 'F', '?', 0,   'q', 'Q'};

/* Legacy tags that V8 reserves for Blink, and the objects libherd does
 * not carry: transfers, shared memory, Wasm. */
static int unsupported_tag(uint8_t t) {
  return strchr("tupwmMbifedlL#gGHKk", t) != NULL && t != 0;
}

struct dec {
  const uint8_t *buf;
  size_t len, pos;
  unsigned version;
  int host;
  unsigned max_depth;
  /* ids[i]: the object with id i, NULL while not registered yet (an
   * Error being read), &consumed once a view took its buffer. */
  herd_val_t **ids;
  size_t nids, capids;
};

/* The id of a buffer that a 'V' view consumed: libherd keeps the view's
 * bytes, not the buffer, so a later reference to it is refused. */
static herd_val_t consumed;

static int rd_byte(struct dec *d, uint8_t *b) {
  if (d->pos >= d->len)
    return HERD_EV8DATA;
  *b = d->buf[d->pos++];
  return 0;
}

/* A varint of at most 32 bits: 5 bytes at most, the 5th no more than
 * 0x0f (V8 would silently stop or drop bits; we refuse). */
static int rd_u32(struct dec *d, uint32_t *out) {
  uint32_t v = 0;
  for (int i = 0; i < 5; i++) {
    uint8_t b;
    if (rd_byte(d, &b) < 0)
      return HERD_EV8DATA;
    if (i == 4 && b > 0x0f)
      return HERD_EV8DATA;
    v |= (uint32_t)(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      *out = v;
      return 0;
    }
  }
  return HERD_EV8DATA;
}

static int rd_bytes(struct dec *d, size_t n, const uint8_t **p) {
  if (n > d->len - d->pos)
    return HERD_EV8DATA;
  *p = d->buf + d->pos;
  d->pos += n;
  return 0;
}

static int rd_double(struct dec *d, double *x) {
  const uint8_t *p;
  if (rd_bytes(d, 8, &p) < 0)
    return HERD_EV8DATA;
  uint64_t u = 0;
  for (int i = 7; i >= 0; i--)
    u = u << 8 | p[i];
  memcpy(x, &u, sizeof *x);
  if (isnan(*x))
    *x = NAN; /* V8 canonicalizes NaNs it reads */
  return 0;
}

/* The next tag past any padding, without taking it (V8's PeekTag). */
static int peek_tag(struct dec *d, uint8_t *t) {
  size_t p = d->pos;
  while (p < d->len && d->buf[p] == V8T_PADDING)
    p++;
  if (p >= d->len)
    return HERD_EV8DATA;
  *t = d->buf[p];
  return 0;
}

/* Take the tag peek_tag saw. */
static void take_tag(struct dec *d) {
  while (d->buf[d->pos] == V8T_PADDING)
    d->pos++;
  d->pos++;
}

static int new_id(struct dec *d, size_t *id) {
  if (d->nids == d->capids) {
    size_t ncap = d->capids ? d->capids * 2 : 16;
    herd_val_t **n = realloc(d->ids, ncap * sizeof *n);
    if (!n)
      return -ENOMEM;
    d->ids = n;
    d->capids = ncap;
  }
  d->ids[d->nids] = NULL;
  *id = d->nids++;
  return 0;
}

static int register_new(struct dec *d, herd_val_t *v) {
  size_t id;
  int rc = new_id(d, &id);
  if (rc == 0)
    d->ids[id] = v;
  return rc;
}

static int read_value(struct dec *d, unsigned depth, herd_val_t **out);

/* UTF-16LE code units p[0..2n) as WTF-8 (pairs joined); out NULL:
 * just count. */
static size_t u16le_wtf8(const uint8_t *p, size_t n, uint8_t *out) {
  size_t o = 0;
  uint8_t tmp[4];
  for (size_t i = 0; i < n; i++) {
    uint32_t c = p[2 * i] | (uint32_t)p[2 * i + 1] << 8;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      uint32_t c2 = p[2 * i + 2] | (uint32_t)p[2 * i + 3] << 8;
      if (c2 >= 0xdc00 && c2 <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (c2 - 0xdc00);
        i++;
      }
    }
    o += herd__utf8_put(out ? out + o : tmp, c);
  }
  return o;
}

/* V8's 'S': UTF-8, each fault (a surrogate too) U+FFFD. */
static size_t utf8_clean(const uint8_t *p, size_t n, uint8_t *out) {
  size_t i = 0, o = 0;
  uint8_t tmp[4];
  while (i < n) {
    uint32_t c;
    i += herd__utf8_next(p + i, n - i, 0, &c);
    if (c == HERD__UTF8_FAULT)
      c = 0xfffd;
    o += herd__utf8_put(out ? out + o : tmp, c);
  }
  return o;
}

/* A string's payload after its tag, as a WTF-8 STRING node. */
static int read_string_body(struct dec *d, uint8_t tag, herd_val_t **out) {
  uint32_t n;
  const uint8_t *p;
  if (rd_u32(d, &n) < 0 || rd_bytes(d, n, &p) < 0)
    return HERD_EV8DATA;
  if (tag == V8T_TWO_BYTE && (n & 1))
    return HERD_EV8DATA;
  size_t m = 0;
  if (tag == V8T_ONE_BYTE) { /* Latin-1 */
    for (uint32_t i = 0; i < n; i++)
      m += p[i] < 0x80 ? 1 : 2;
  } else if (tag == V8T_TWO_BYTE) {
    m = u16le_wtf8(p, n / 2, NULL);
  } else {
    m = utf8_clean(p, n, NULL);
  }
  herd_val_t *v = herd__val_str_new(m);
  if (!v)
    return -ENOMEM;
  uint8_t *o = (uint8_t *)v->str.s;
  if (tag == V8T_ONE_BYTE) {
    size_t k = 0;
    for (uint32_t i = 0; i < n; i++)
      k += herd__utf8_put(o + k, p[i]);
  } else if (tag == V8T_TWO_BYTE) {
    u16le_wtf8(p, n / 2, o);
  } else {
    utf8_clean(p, n, o);
  }
  *out = v;
  return 0;
}

/* A string value where V8 wants one (ReadString: a String object's,
 * a RegExp's source, an Error's message and stack). */
static int read_string_value(struct dec *d, herd_val_t **out) {
  for (;;) {
    uint8_t t;
    uint32_t skip;
    if (rd_byte(d, &t) < 0)
      return HERD_EV8DATA;
    if (t == V8T_PADDING)
      continue;
    if (t == V8T_VERIFY_COUNT) {
      if (rd_u32(d, &skip) < 0)
        return HERD_EV8DATA;
      continue;
    }
    if (t == V8T_ONE_BYTE || t == V8T_TWO_BYTE || t == V8T_UTF8)
      return read_string_body(d, t, out);
    return HERD_EV8DATA;
  }
}

static int read_bigint(struct dec *d, herd_val_t **out) {
  uint32_t bf;
  const uint8_t *p;
  if (rd_u32(d, &bf) < 0)
    return HERD_EV8DATA;
  int neg = bf & 1;
  uint32_t n = (bf >> 1) & 0x3fffffffu; /* bit 31 is ignored, as V8 does */
  if (rd_bytes(d, n, &p) < 0 || (neg && n == 0))
    return HERD_EV8DATA; /* there is no -0n */
  size_t m = n;
  while (m > 0 && p[m - 1] == 0)
    m--;
  if (m > HERD__V8_BIGINT_MAX)
    return HERD_EV8DATA;
  *out = herd_val_bigint(neg, p, m);
  return *out ? 0 : -ENOMEM;
}

/* An object key: a string, or a number (V8 writes an array index as
 * one); made an index or a string key as JS would (PropertyKey). *s is
 * a STRING node, or NULL with *index. */
static int read_key(struct dec *d, herd_val_t **s, uint32_t *index) {
  uint8_t t;
  uint32_t u;
  double x = 0;
  *s = NULL;
  for (;;) {
    if (rd_byte(d, &t) < 0)
      return HERD_EV8DATA;
    if (t == V8T_PADDING)
      continue;
    if (t != V8T_VERIFY_COUNT)
      break;
    if (rd_u32(d, &u) < 0)
      return HERD_EV8DATA;
  }
  switch (t) {
  case V8T_ONE_BYTE:
  case V8T_TWO_BYTE:
  case V8T_UTF8: {
    int rc = read_string_body(d, t, s);
    if (rc == 0 && herd__v8_index_key((*s)->str.s, (*s)->str.len, index)) {
      herd_val_free(*s);
      *s = NULL;
    }
    return rc;
  }
  case V8T_INT32:
    if (rd_u32(d, &u) < 0)
      return HERD_EV8DATA;
    x = (u & 1) ? -(double)(u >> 1) - 1 : (double)(u >> 1);
    break;
  case V8T_UINT32:
    if (rd_u32(d, &u) < 0)
      return HERD_EV8DATA;
    x = u;
    break;
  case V8T_DOUBLE:
    if (rd_double(d, &x) < 0)
      return HERD_EV8DATA;
    break;
  default:
    return HERD_EV8DATA; /* V8: not a valid object key */
  }
  if (x >= 0 && x <= HERD__V8_INDEX_MAX && x == herd__trunc(x)) {
    *index = (uint32_t)x; /* -0 too: it is the key "0" */
    return 0;
  }
  char buf[32];
  size_t n = herd__v8_fmt_number(x, buf);
  *s = herd__val_str_wtf8(buf, n);
  return *s ? 0 : -ENOMEM;
}

/* key, value pairs up to end_tag, added to obj; *count of them. */
static int read_props(struct dec *d, herd_val_t *obj, uint8_t end_tag,
                      unsigned level, size_t *count) {
  for (*count = 0;; (*count)++) {
    uint8_t t;
    herd_val_t *key, *val;
    uint32_t index = 0;
    int rc = peek_tag(d, &t);
    if (rc < 0)
      return rc;
    if (t == end_tag) {
      take_tag(d);
      return 0;
    }
    if ((rc = read_key(d, &key, &index)) < 0)
      return rc;
    if ((rc = read_value(d, level, &val)) == 0) {
      rc = herd__val_prop_add(obj, key ? key->str.s : NULL, key ? key->str.len : 0,
                              index, val);
      if (rc < 0)
        herd_val_free(val);
    }
    herd_val_free(key);
    if (rc < 0)
      return rc;
  }
}

/* The end of an object or array: numProperties [length] as written. */
static int read_trailer(struct dec *d, size_t count, int has_len, uint32_t len) {
  uint32_t n, l = len;
  if (rd_u32(d, &n) < 0 || (has_len && rd_u32(d, &l) < 0) || n != count ||
      l != len)
    return HERD_EV8DATA;
  return 0;
}

static int read_array(struct dec *d, int dense, unsigned level, herd_val_t *v) {
  uint32_t len;
  size_t count;
  int rc;
  if (rd_u32(d, &len) < 0)
    return HERD_EV8DATA;
  /* a sparse array's length costs nothing; a dense one has a value, or a
   * hole, of one byte at least per element (V8 checks this too) */
  if (dense && len > d->len - d->pos)
    return HERD_EV8DATA;
  v->obj.length = len;
  for (uint32_t i = 0; dense && i < len; i++) {
    uint8_t t;
    herd_val_t *el;
    if ((rc = peek_tag(d, &t)) < 0)
      return rc;
    if (t == V8T_HOLE) {
      take_tag(d);
      continue;
    }
    if ((rc = read_value(d, level, &el)) < 0)
      return rc;
    if ((rc = herd__val_prop_add(v, NULL, 0, i, el)) < 0) {
      herd_val_free(el);
      return rc;
    }
  }
  /* numProperties counts what follows the dense part, not its elements */
  if ((rc = read_props(d, v, dense ? V8T_END_DENSE : V8T_END_SPARSE, level, &count)) < 0 ||
      (rc = read_trailer(d, count, 1, len)) < 0)
    return rc;
  return herd__val_props_finish(v);
}

/* 'V' after the ArrayBuffer buf: a view of part of it. libherd keeps
 * the view's bytes (as Node's own host objects carry them). */
static int read_view(struct dec *d, const herd_val_t *buf, herd_val_t **out) {
  uint8_t sub;
  uint32_t off, len, flags = 0;
  if (rd_byte(d, &sub) < 0 || sub >= 0x80 || rd_u32(d, &off) < 0 ||
      rd_u32(d, &len) < 0 || (d->version >= 14 && rd_u32(d, &flags) < 0))
    return HERD_EV8DATA;
  int type = -1;
  for (size_t i = 0; i < HERD__V8_NVIEW; i++)
    if (view_subtag[i] && view_subtag[i] == (char)sub)
      type = (int)i;
  if (type < 0)
    return HERD_EV8UNSUPPORTED; /* Float16Array ('h') is newer than Node 20 */
  int tracking = flags & 1, rab = (flags >> 1) & 1;
  if ((flags & ~3u) || ((tracking || rab) && !buf->buf.resizable) ||
      (buf->buf.resizable && !rab))
    return HERD_EV8DATA;
  if (tracking)
    return HERD_EV8UNSUPPORTED; /* a window that follows its buffer's length */
  if (off > buf->buf.len || len > buf->buf.len - off || off % herd__v8_elsize[type] ||
      len % herd__v8_elsize[type])
    return HERD_EV8DATA;
  herd_val_t *v = herd_val_view(type, buf->buf.data + off, len);
  if (!v)
    return -ENOMEM;
  int rc = register_new(d, v);
  if (rc < 0) {
    herd_val_free(v);
    return rc;
  }
  *out = v;
  return 0;
}

/* '\': Node's host object. The channel writes 0 and a view, or 1 and a
 * value (a native object's plain copy, which is what is read: the host
 * object's id names it too); v8.serialize the view alone. */
static int read_host(struct dec *d, unsigned level, herd_val_t **out) {
  size_t id;
  uint32_t disc = 0, type, len;
  const uint8_t *p;
  int rc = new_id(d, &id);
  if (rc < 0)
    return rc;
  if (d->host == HERD_V8_HOST_CHANNEL && rd_u32(d, &disc) < 0)
    return HERD_EV8DATA;
  if (disc == 1) {
    herd_val_t *in;
    if ((rc = read_value(d, level, &in)) < 0)
      return rc;
    if (!herd__val_is_object(herd_val_deref(in))) {
      herd_val_free(in); /* Node: "readHostObject must return an object" */
      return HERD_EV8DATA;
    }
    d->ids[id] = herd_val_deref(in);
    *out = in;
    return 0;
  }
  if (disc != 0 || rd_u32(d, &type) < 0)
    return HERD_EV8DATA;
  if (type >= HERD__V8_NVIEW)
    return HERD_EV8UNSUPPORTED;
  if (rd_u32(d, &len) < 0 || rd_bytes(d, len, &p) < 0 || len % herd__v8_elsize[type])
    return HERD_EV8DATA; /* (Node would cut the length down) */
  herd_val_t *v = herd_val_view((int)type, p, len);
  if (!v)
    return -ENOMEM;
  d->ids[id] = v;
  *out = v;
  return 0;
}

/* 'r': sub-tags to '.', in any order (as Node 20 reads them) but each
 * once: a second cause would drop a subtree that references may name.
 * The Error is registered only at its end, as V8 11.3 does, so a cause
 * that refers to its own Error is refused as Node 20 refuses it. */
static int read_error(struct dec *d, unsigned level, herd_val_t **out) {
  size_t id;
  int rc = new_id(d, &id);
  if (rc < 0)
    return rc;
  herd_val_t *v = herd__val_alloc(HERD_VAL_ERROR, 0);
  if (!v)
    return -ENOMEM;
  unsigned seen = 0;
  for (;;) {
    uint8_t t;
    unsigned bit;
    herd_val_t *s = NULL;
    rc = HERD_EV8DATA;
    if (rd_byte(d, &t) < 0)
      goto fail;
    switch (t) {
    case V8E_END:
      d->ids[id] = v;
      *out = v;
      return 0;
    case V8E_MESSAGE:
    case V8E_STACK: {
      bit = t == V8E_MESSAGE ? 1 : 2;
      if ((seen & bit) || (rc = read_string_value(d, &s)) < 0)
        goto fail;
      char *c = malloc(s->str.len + 1);
      if (!c) {
        herd_val_free(s);
        rc = -ENOMEM;
        goto fail;
      }
      memcpy(c, s->str.s, s->str.len + 1);
      if (t == V8E_MESSAGE) {
        v->error.message = c;
        v->error.message_len = s->str.len;
      } else {
        v->error.stack = c;
        v->error.stack_len = s->str.len;
      }
      herd_val_free(s);
      break;
    }
    case V8E_CAUSE:
      bit = 4;
      if ((seen & bit) || (rc = read_value(d, level, &v->error.cause)) < 0)
        goto fail;
      v->error.cause->flags_ |= HERD__VAL_OWNED;
      break;
    default:
      bit = 8;
      if (seen & bit)
        goto fail;
      v->error.error_type = -1;
      for (int k = 1; k <= HERD_ERROR_URI; k++)
        if (herd__v8_err_proto[k] == (char)t)
          v->error.error_type = k;
      if (v->error.error_type < 0)
        goto fail; /* an unknown sub-tag, or one of more than a byte */
      break;
    }
    seen |= bit;
  }
fail:
  herd_val_free(v);
  return rc;
}

/* The objects: they take the next id when they open (an Error only
 * when it closes), before their children. level: their own depth. */
static int read_object(struct dec *d, uint8_t t, unsigned level,
                       herd_val_t **out) {
  herd_val_t *v = NULL, *in = NULL;
  size_t id, count;
  uint32_t n, max, flags;
  const uint8_t *p;
  double x;
  int rc;
  switch (t) {
  case V8T_HOST:
    return read_host(d, level, out);
  case V8T_ERROR:
    return read_error(d, level, out);
  case V8T_OBJECT:
  case V8T_DENSE:
  case V8T_SPARSE:
  case V8T_MAP:
  case V8T_SET:
    v = t == V8T_OBJECT ? herd_val_object()
        : t == V8T_MAP  ? herd_val_map()
        : t == V8T_SET  ? herd_val_set()
                      : herd_val_array();
    if (!v)
      return -ENOMEM;
    if ((rc = register_new(d, v)) < 0)
      goto fail;
    if (t == V8T_OBJECT) {
      if ((rc = read_props(d, v, V8T_END_OBJECT, level, &count)) < 0 ||
          (rc = read_trailer(d, count, 0, 0)) < 0 ||
          (rc = herd__val_props_finish(v)) < 0)
        goto fail;
    } else if (t == V8T_DENSE || t == V8T_SPARSE) {
      if ((rc = read_array(d, t == V8T_DENSE, level, v)) < 0)
        goto fail;
    } else {
      uint8_t end = t == V8T_MAP ? V8T_END_MAP : V8T_END_SET, e;
      for (;;) {
        if ((rc = peek_tag(d, &e)) < 0)
          goto fail;
        if (e == end)
          break;
        if ((rc = read_value(d, level, &in)) < 0)
          goto fail;
        if ((rc = herd__val_list_add(v, in)) < 0)
          goto fail;
        in = NULL;
      }
      take_tag(d);
      if ((t == V8T_MAP && (v->list.n & 1)) || (rc = read_trailer(d, v->list.n, 0, 0)) < 0) {
        rc = HERD_EV8DATA;
        goto fail;
      }
    }
    break;
  case V8T_DATE:
    if (rd_double(d, &x) < 0)
      return HERD_EV8DATA;
    if (!(v = herd_val_date(x)))
      return -ENOMEM;
    if ((rc = register_new(d, v)) < 0)
      goto fail;
    break;
  case V8T_ARRAYBUFFER:
  case V8T_RESIZABLE_AB:
    if (rd_u32(d, &n) < 0 || (t == V8T_RESIZABLE_AB && rd_u32(d, &max) < 0) ||
        (t == V8T_RESIZABLE_AB && n > max) || rd_bytes(d, n, &p) < 0)
      return HERD_EV8DATA; /* (never allocate by max) */
    v = t == V8T_ARRAYBUFFER ? herd_val_arraybuffer(p, n)
                           : herd_val_arraybuffer_resizable(p, n, max);
    if (!v)
      return -ENOMEM;
    if ((rc = register_new(d, v)) < 0)
      goto fail;
    break;
  default: /* RegExp and the boxed primitives: id first, set once read */
    if ((rc = new_id(d, &id)) < 0)
      return rc;
    rc = HERD_EV8DATA;
    if (t == V8T_REGEXP) {
      if ((rc = read_string_value(d, &in)) < 0)
        return rc;
      rc = HERD_EV8DATA;
      /* bits past v, 'l' (only with a V8 flag Node does not set), u with v */
      if (rd_u32(d, &flags) < 0 || (flags & ~0x1bfu) ||
          ((flags & HERD_RE_UNICODE) && (flags & HERD_RE_UNICODE_SETS)))
        goto fail;
      if (!(v = herd__val_regexp_new(in->str.s, in->str.len, flags))) {
        rc = -ENOMEM;
        goto fail;
      }
      herd_val_free(in);
      in = NULL;
    } else {
      if (t == V8T_TRUE_OBJ || t == V8T_FALSE_OBJ) {
        in = herd_val_bool(t == V8T_TRUE_OBJ);
      } else if (t == V8T_NUMBER_OBJ) {
        if (rd_double(d, &x) < 0)
          return HERD_EV8DATA;
        in = herd_val_number(x);
      } else if (t == V8T_BIGINT_OBJ) {
        if ((rc = read_bigint(d, &in)) < 0)
          return rc;
      } else if (t == V8T_STRING_OBJ) {
        if ((rc = read_string_value(d, &in)) < 0)
          return rc;
      } else {
        return HERD_EV8DATA;
      }
      if (!(v = herd_val_boxed(in)))
        return -ENOMEM; /* (in is freed) */
      in = NULL;
    }
    d->ids[id] = v;
    break;
  }
  *out = v;
  return 0;
fail:
  herd_val_free(in);
  herd_val_free(v);
  return rc;
}

static int is_object_tag(uint8_t t) {
  return strchr("oAaDyxnzsR;'B~\\r", t) != NULL && t != 0;
}

/* One value. depth: how many objects are open around it. */
static int read_value(struct dec *d, unsigned depth, herd_val_t **out) {
  herd_val_t *v = NULL;
  uint8_t t;
  uint32_t u;
  double x;
  int rc = 0;
  *out = NULL;
  for (;;) {
    if (rd_byte(d, &t) < 0)
      return HERD_EV8DATA;
    if (t == V8T_PADDING)
      continue;
    if (t != V8T_VERIFY_COUNT)
      break;
    if (rd_u32(d, &u) < 0) /* a count V8 ignores */
      return HERD_EV8DATA;
  }
  switch (t) {
  case V8T_UNDEFINED:
    v = herd_val_undefined();
    break;
  case V8T_NULL:
    v = herd_val_null();
    break;
  case V8T_TRUE:
  case V8T_FALSE:
    v = herd_val_bool(t == V8T_TRUE);
    break;
  case V8T_INT32:
  case V8T_UINT32:
    if (rd_u32(d, &u) < 0)
      return HERD_EV8DATA;
    if (t == V8T_INT32) /* zigzag */
      x = (u & 1) ? -(double)(u >> 1) - 1 : (double)(u >> 1);
    else
      x = u;
    v = herd_val_number(x);
    break;
  case V8T_DOUBLE:
    if (rd_double(d, &x) < 0)
      return HERD_EV8DATA;
    v = herd_val_number(x);
    break;
  case V8T_BIGINT:
    rc = read_bigint(d, &v);
    break;
  case V8T_ONE_BYTE:
  case V8T_TWO_BYTE:
  case V8T_UTF8:
    rc = read_string_body(d, t, &v);
    break;
  case V8T_REF:
    if (rd_u32(d, &u) < 0 || u >= d->nids || !d->ids[u])
      return HERD_EV8DATA; /* no such object (yet) */
    if (d->ids[u] == &consumed)
      return HERD_EV8UNSUPPORTED;
    v = herd_val_ref(d->ids[u]);
    break;
  default:
    if (!is_object_tag(t))
      return unsupported_tag(t) || !strchr("-{$@:,V\xff", t) ? HERD_EV8UNSUPPORTED
                                                             : HERD_EV8DATA;
    if (depth >= d->max_depth)
      return HERD_EV8DEPTH;
    rc = read_object(d, t, depth + 1, &v);
    break;
  }
  if (rc < 0)
    return rc;
  if (!v)
    return -ENOMEM;
  /* An ArrayBuffer (read, or referred to) followed by 'V' is a view of
   * it: V8 checks after every value it reads. */
  herd_val_t *b = herd_val_deref(v);
  if (b->type == HERD_VAL_ARRAYBUFFER && peek_tag(d, &t) == 0 && t == V8T_VIEW) {
    herd_val_t *view;
    take_tag(d);
    if ((rc = read_view(d, b, &view)) < 0) {
      herd_val_free(v);
      return rc;
    }
    if (v == b) {
      /* its id(s) - the buffer's and those of host objects around it
       * that named it - are the last ones given, before the view's */
      for (size_t i = d->nids - 1; i-- > 0 && d->ids[i] == b;)
        d->ids[i] = &consumed;
    }
    herd_val_free(v);
    v = view;
  }
  *out = v;
  return 0;
}

int herd_v8_decode(const void *buf, size_t len, const herd_v8_opts_t *opts,
                   herd_val_t **out, size_t *used) {
  struct dec d;
  unsigned depth;
  uint32_t version;
  int rc;
  if (out)
    *out = NULL;
  if ((!buf && len) || !out || herd__v8_depth(opts, &depth) < 0)
    return -EINVAL;
  memset(&d, 0, sizeof d);
  d.buf = buf;
  d.len = len;
  d.host = opts ? opts->host : HERD_V8_HOST_CHANNEL;
  d.max_depth = depth;
  /* The header: FF and the version; without it V8 reads version 0,
   * which Node refuses. */
  if (len == 0 || d.buf[0] != 0xff) {
    rc = HERD_EV8VERSION;
  } else {
    d.pos = 1;
    if (rd_u32(&d, &version) < 0 || version < MIN_VERSION || version > HERD__V8_VERSION) {
      rc = HERD_EV8VERSION;
    } else {
      d.version = version;
      rc = read_value(&d, 0, out);
    }
  }
  free(d.ids);
  if (used)
    *used = d.pos;
  return rc;
}
