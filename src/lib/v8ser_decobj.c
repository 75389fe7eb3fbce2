/*
 * v8ser_decobj.c - the V8 format reader's objects (v8ser.c has the frame,
 * the primitives and the facts): plain objects and their keys, dense and
 * sparse arrays, Maps and Sets, Dates, RegExps, boxed primitives,
 * ArrayBuffers and the views 'V' cuts out of them, Errors and Node's
 * host objects. Each takes its id as V8 gives it (v8dec.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "herd.h"
#include "internal.h"
#include "v8dec.h"

/* V's sub-tags by enum herd_view_type (Buffer has none: V8 does not know
 * it). */
static const char view_subtag[HERD__V8_NVIEW] = {'b', 'B', 'C', 'w', 'W', 'd', 'D',
                                                 'f', 'F', '?', 0,   'q', 'Q'};

/* An object key: a string, or a number (V8 writes an array index as
 * one); made an index or a string key as JS would (PropertyKey). *s is
 * a STRING node, or NULL with *index. */
static int read_key(struct dec *d, herd_val_t **s, uint32_t *index) {
  uint8_t t;
  double x = 0;
  *s = NULL;
  if (rd_tag(d, &t) < 0)
    return HERD_EV8DATA;
  switch (t) {
  case V8T_ONE_BYTE:
  case V8T_TWO_BYTE:
  case V8T_UTF8: {
    int rc = herd__v8_read_string_body(d, t, s);
    if (rc == 0 && herd__v8_index_key((*s)->str.s, (*s)->str.len, index)) {
      herd_val_free(*s);
      *s = NULL;
    }
    return rc;
  }
  case V8T_INT32:
  case V8T_UINT32:
  case V8T_DOUBLE:
    if (rd_number(d, t, &x) < 0)
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

/* v, new (NULL: out of memory), registered as the next id and handed
 * out; freed if that fails. */
static int give(struct dec *d, herd_val_t *v, herd_val_t **out) {
  if (!v)
    return -ENOMEM;
  int rc = herd__v8_register(d, v);
  if (rc < 0) {
    herd_val_free(v);
    return rc;
  }
  *out = v;
  return 0;
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
    if ((rc = herd__v8_read_value(d, level, &val)) == 0) {
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
    if ((rc = herd__v8_read_value(d, level, &el)) < 0)
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
int herd__v8_read_view(struct dec *d, const herd_val_t *buf, herd_val_t **out) {
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
  return give(d, v, out);
}

/* '\': Node's host object. The channel writes 0 and a view, or 1 and a
 * value (a native object's plain copy, which is what is read: the host
 * object's id names it too); v8.serialize the view alone. */
static int read_host(struct dec *d, unsigned level, herd_val_t **out) {
  size_t id;
  uint32_t disc = 0, type, len;
  const uint8_t *p;
  int rc = herd__v8_new_id(d, &id);
  if (rc < 0)
    return rc;
  if (d->host == HERD_V8_HOST_CHANNEL && rd_u32(d, &disc) < 0)
    return HERD_EV8DATA;
  if (disc == 1) {
    herd_val_t *in;
    if ((rc = herd__v8_read_value(d, level, &in)) < 0)
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
  int rc = herd__v8_new_id(d, &id);
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
      if ((seen & bit) || (rc = herd__v8_read_string(d, &s)) < 0)
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
      if ((seen & bit) || (rc = herd__v8_read_value(d, level, &v->error.cause)) < 0)
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

/* A Map's or Set's entries up to end, and its trailer; a Map's come in
 * pairs. Added to v. */
static int read_list(struct dec *d, herd_val_t *v, uint8_t end, unsigned level) {
  herd_val_t *in;
  uint8_t e;
  int rc;
  for (;;) {
    if ((rc = peek_tag(d, &e)) < 0)
      return rc;
    if (e == end)
      break;
    if ((rc = herd__v8_read_value(d, level, &in)) < 0)
      return rc;
    if ((rc = herd__val_list_add(v, in)) < 0) {
      herd_val_free(in);
      return rc;
    }
  }
  take_tag(d);
  if ((v->type == HERD_VAL_MAP && (v->list.n & 1)) || read_trailer(d, v->list.n, 0, 0) < 0)
    return HERD_EV8DATA;
  return 0;
}

/* 'B' and '~': an ArrayBuffer, resizable or not, registered once read. */
static int read_arraybuffer(struct dec *d, uint8_t t, herd_val_t **out) {
  uint32_t n, max = 0; /* (set and read for '~' only; gcc cannot tell) */
  const uint8_t *p;
  if (rd_u32(d, &n) < 0 || (t == V8T_RESIZABLE_AB && rd_u32(d, &max) < 0) ||
      (t == V8T_RESIZABLE_AB && n > max) || rd_bytes(d, n, &p) < 0)
    return HERD_EV8DATA; /* (never allocate by max) */
  herd_val_t *v = t == V8T_ARRAYBUFFER ? herd_val_arraybuffer(p, n)
                                       : herd_val_arraybuffer_resizable(p, n, max);
  return give(d, v, out);
}

/* RegExp and the boxed primitives: the id first, set once read. */
static int read_boxed(struct dec *d, uint8_t t, herd_val_t **out) {
  herd_val_t *v, *in = NULL;
  size_t id;
  uint32_t flags;
  double x;
  int rc;
  if ((rc = herd__v8_new_id(d, &id)) < 0)
    return rc;
  if (t == V8T_REGEXP) {
    if ((rc = herd__v8_read_string(d, &in)) < 0)
      return rc;
    /* bits past v, 'l' (only with a V8 flag Node does not set), u with v */
    if (rd_u32(d, &flags) < 0 || (flags & ~0x1bfu) ||
        ((flags & HERD_RE_UNICODE) && (flags & HERD_RE_UNICODE_SETS))) {
      herd_val_free(in);
      return HERD_EV8DATA;
    }
    v = herd__val_regexp_new(in->str.s, in->str.len, flags);
    herd_val_free(in);
    if (!v)
      return -ENOMEM;
  } else {
    if (t == V8T_TRUE_OBJ || t == V8T_FALSE_OBJ) {
      in = herd_val_bool(t == V8T_TRUE_OBJ);
    } else if (t == V8T_NUMBER_OBJ) {
      if (rd_double(d, &x) < 0)
        return HERD_EV8DATA;
      in = herd_val_number(x);
    } else if (t == V8T_BIGINT_OBJ) {
      if ((rc = herd__v8_read_bigint(d, &in)) < 0)
        return rc;
    } else if (t == V8T_STRING_OBJ) {
      if ((rc = herd__v8_read_string(d, &in)) < 0)
        return rc;
    } else {
      return HERD_EV8DATA;
    }
    if (!(v = herd_val_boxed(in)))
      return -ENOMEM; /* (in is freed) */
  }
  d->ids[id] = v;
  *out = v;
  return 0;
}

/* The objects: they take the next id when they open (an Error only
 * when it closes), before their children. level: their own depth. */
int herd__v8_read_object(struct dec *d, uint8_t t, unsigned level,
                         herd_val_t **out) {
  herd_val_t *v;
  size_t count;
  double x;
  int rc;
  switch (t) {
  case V8T_HOST:
    return read_host(d, level, out);
  case V8T_ERROR:
    return read_error(d, level, out);
  case V8T_ARRAYBUFFER:
  case V8T_RESIZABLE_AB:
    return read_arraybuffer(d, t, out);
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
    if ((rc = herd__v8_register(d, v)) < 0)
      goto fail;
    if (t == V8T_OBJECT) {
      if ((rc = read_props(d, v, V8T_END_OBJECT, level, &count)) < 0 ||
          (rc = read_trailer(d, count, 0, 0)) < 0 ||
          (rc = herd__val_props_finish(v)) < 0)
        goto fail;
    } else if (t == V8T_DENSE || t == V8T_SPARSE) {
      if ((rc = read_array(d, t == V8T_DENSE, level, v)) < 0)
        goto fail;
    } else if ((rc = read_list(d, v, t == V8T_MAP ? V8T_END_MAP : V8T_END_SET, level)) < 0) {
      goto fail;
    }
    break;
  case V8T_DATE:
    if (rd_double(d, &x) < 0)
      return HERD_EV8DATA;
    return give(d, herd_val_date(x), out);
  default:
    return read_boxed(d, t, out);
  }
  *out = v;
  return 0;
fail:
  herd_val_free(v);
  return rc;
}
