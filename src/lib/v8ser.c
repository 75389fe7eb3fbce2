/*
 * v8ser.c - reading V8's serialization format (ValueSerializer), as
 * Node's 'advanced' channel and v8.serialize() write it: herd_v8_decode
 * turns bytes into a herd_val_t tree (v8ser_val.c); v8ser_enc.c writes
 * one back. The facts: /work/shared/notes/v8-serialization.md, checked
 * against node v20.20.2; V8's src/objects/value-serializer.cc; Node's
 * lib/v8.js and lib/internal/child_process/serialization.js.
 *
 * This file owns the frame and the values: the header, the ids,
 * primitives, strings, BigInts and references, and read_value, which
 * hands every object tag to v8ser_decobj.c (v8dec.h has the map).
 *
 * The reader is careful where Node is not (Node dies on a bad frame):
 * every length is checked against the bytes left before anything is
 * allocated, so what it allocates stays within a small multiple of the
 * input; nesting is bounded; a reference must name an object already
 * registered, as V8 registers them (an Error only once it is complete).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "herd.h"
#include "internal.h"
#include "v8dec.h"

#define MIN_VERSION 13u /* the oldest Node 20 reads (v13 made host
                           objects' tag explicit) */

const char herd__v8_err_proto[HERD_ERROR_URI + 1] = {
    0, V8E_EVAL, V8E_RANGE, V8E_REFERENCE, V8E_SYNTAX, V8E_TYPE, V8E_URI};

/* Legacy tags that V8 reserves for Blink, and the objects libherd does
 * not carry: transfers, shared memory, Wasm. */
static int unsupported_tag(uint8_t t) {
  return strchr("tupwmMbifedlL#gGHKk", t) != NULL && t != 0;
}

/* The id of a buffer that a 'V' view consumed: libherd keeps the view's
 * bytes, not the buffer, so a later reference to it is refused. */
static herd_val_t consumed;

int herd__v8_new_id(struct dec *d, size_t *id) {
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

int herd__v8_register(struct dec *d, herd_val_t *v) {
  size_t id;
  int rc = herd__v8_new_id(d, &id);
  if (rc == 0)
    d->ids[id] = v;
  return rc;
}

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
int herd__v8_read_string_body(struct dec *d, uint8_t tag, herd_val_t **out) {
  uint32_t n;
  const uint8_t *p;
  if (rd_u32(d, &n) < 0 || rd_bytes(d, n, &p) < 0)
    return HERD_EV8DATA;
  if (tag == V8T_TWO_BYTE && (n & 1))
    return HERD_EV8DATA;
  size_t m = 0;
  if (tag == V8T_ONE_BYTE) { /* Latin-1 */
    m = herd__ascii_run(p, n);
    for (uint32_t i = (uint32_t)m; i < n; i++)
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
  if (tag == V8T_ONE_BYTE && m == n) {
    memcpy(o, p, n); /* ASCII: the bytes are the WTF-8 */
  } else if (tag == V8T_ONE_BYTE) {
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
int herd__v8_read_string(struct dec *d, herd_val_t **out) {
  uint8_t t;
  if (rd_tag(d, &t) < 0)
    return HERD_EV8DATA;
  if (t == V8T_ONE_BYTE || t == V8T_TWO_BYTE || t == V8T_UTF8)
    return herd__v8_read_string_body(d, t, out);
  return HERD_EV8DATA;
}

int herd__v8_read_bigint(struct dec *d, herd_val_t **out) {
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

static int is_object_tag(uint8_t t) {
  return strchr("oAaDyxnzsR;'B~\\r", t) != NULL && t != 0;
}

/* One value. depth: how many objects are open around it. */
int herd__v8_read_value(struct dec *d, unsigned depth, herd_val_t **out) {
  herd_val_t *v = NULL;
  uint8_t t;
  uint32_t u;
  double x;
  int rc = 0;
  *out = NULL;
  if (rd_tag(d, &t) < 0)
    return HERD_EV8DATA;
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
  case V8T_DOUBLE:
    if (rd_number(d, t, &x) < 0)
      return HERD_EV8DATA;
    v = herd_val_number(x);
    break;
  case V8T_BIGINT:
    rc = herd__v8_read_bigint(d, &v);
    break;
  case V8T_ONE_BYTE:
  case V8T_TWO_BYTE:
  case V8T_UTF8:
    rc = herd__v8_read_string_body(d, t, &v);
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
    rc = herd__v8_read_object(d, t, depth + 1, &v);
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
    if ((rc = herd__v8_read_view(d, b, &view)) < 0) {
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
      rc = herd__v8_read_value(&d, 0, out);
    }
  }
  free(d.ids);
  if (used)
    *used = d.pos;
  return rc;
}
