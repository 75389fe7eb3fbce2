/*
 * v8ser_val.c - herd_val_t, the value tree of V8's serialization format:
 * the nodes - constructors, accessors, names, free. The containers'
 * properties and entries are v8ser_valobj.c's; equality is v8ser_eq.c's.
 * Read and written by v8ser.c / v8ser_enc.c (V8's bytes) and
 * v8ser_json.c / v8ser_jsonr.c (JSON).
 *
 * Strings are kept as WTF-8 so that every JS string - lone surrogates
 * included - has exactly one byte form: comparing keys and trees is then
 * comparing bytes.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "herd.h"
#include "internal.h"


const unsigned char herd__v8_elsize[HERD__V8_NVIEW] = {1, 1, 1, 2, 2, 4, 4,
                                                      4, 8, 1, 1, 8, 8};

/* The node is followed by its payload (strings, bytes): one allocation. A
 * private link for herd_val_free's work list sits after the public
 * struct, where no user code looks. */
struct node {
  herd_val_t v;
  struct node *next;
};

herd_val_t *herd__val_alloc(int type, size_t extra) {
  if (extra > SIZE_MAX - sizeof(struct node) - 16)
    return NULL;
  struct node *n = malloc(sizeof *n + extra + 1);
  if (!n)
    return NULL;
  memset(n, 0, sizeof *n);
  ((char *)(n + 1))[extra] = '\0';
  n->v.type = type;
  return &n->v;
}

static void *payload(herd_val_t *v) {
  return (struct node *)v + 1;
}

/* ---- constructors --------------------------------------------------- */

herd_val_t *herd_val_undefined(void) {
  return herd__val_alloc(HERD_VAL_UNDEFINED, 0);
}

herd_val_t *herd_val_null(void) {
  return herd__val_alloc(HERD_VAL_NULL, 0);
}

herd_val_t *herd_val_bool(int b) {
  herd_val_t *v = herd__val_alloc(HERD_VAL_BOOL, 0);
  if (v)
    v->boolean = b != 0;
  return v;
}

herd_val_t *herd_val_number(double d) {
  herd_val_t *v = herd__val_alloc(HERD_VAL_NUMBER, 0);
  if (v)
    v->number = d;
  return v;
}

herd_val_t *herd_val_date(double ms) {
  herd_val_t *v = herd__val_alloc(HERD_VAL_DATE, 0);
  if (!v)
    return NULL;
  /* ECMAScript's TimeClip, which new Date(ms) and V8's reader apply */
  if (!isfinite(ms) || (ms > 8.64e15 || ms < -8.64e15)) {
    v->number = NAN;
  } else {
    v->number = herd__trunc(ms);
    if (v->number == 0)
      v->number = 0; /* -0 becomes +0 */
  }
  return v;
}

herd_val_t *herd_val_bigint(int negative, const uint8_t *mag, size_t len) {
  while (len > 0 && mag[len - 1] == 0)
    len--;
  herd_val_t *v = herd__val_alloc(HERD_VAL_BIGINT, len);
  if (!v)
    return NULL;
  v->bigint.mag = payload(v);
  if (len)
    memcpy(v->bigint.mag, mag, len);
  v->bigint.len = len;
  v->bigint.negative = len > 0 && negative;
  return v;
}

herd_val_t *herd_val_bigint_i64(int64_t i) {
  uint64_t m = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
  uint8_t b[8];
  for (int k = 0; k < 8; k++)
    b[k] = (uint8_t)(m >> (8 * k));
  return herd_val_bigint(i < 0, b, 8);
}

int herd_val_bigint_to_i64(const herd_val_t *v, int64_t *out) {
  v = herd_val_deref(v);
  if (v && v->type == HERD_VAL_BOXED)
    v = v->boxed;
  if (!v || v->type != HERD_VAL_BIGINT)
    return -EINVAL;
  if (v->bigint.len > 8)
    return -ERANGE;
  uint64_t m = 0;
  for (size_t k = 0; k < v->bigint.len; k++)
    m |= (uint64_t)v->bigint.mag[k] << (8 * k);
  if (v->bigint.negative) {
    if (m > (uint64_t)1 << 63)
      return -ERANGE;
    *out = m == (uint64_t)1 << 63 ? INT64_MIN : -(int64_t)m;
  } else {
    if (m > (uint64_t)INT64_MAX)
      return -ERANGE;
    *out = (int64_t)m;
  }
  return 0;
}

herd_val_t *herd__val_str_wtf8(const char *s, size_t len) {
  herd_val_t *v = herd__val_alloc(HERD_VAL_STRING, len);
  if (!v)
    return NULL;
  v->str.s = payload(v);
  if (len)
    memcpy(v->str.s, s, len);
  v->str.len = len;
  return v;
}

herd_val_t *herd__val_str_new(size_t len) {
  herd_val_t *v = herd__val_alloc(HERD_VAL_STRING, len);
  if (v) {
    v->str.s = payload(v);
    v->str.len = len;
  }
  return v;
}

herd_val_t *herd__val_regexp_new(const char *source, size_t len,
                                 uint32_t flags) {
  herd_val_t *v = herd__val_alloc(HERD_VAL_REGEXP, len);
  if (!v)
    return NULL;
  v->regexp.source = payload(v);
  if (len)
    memcpy(v->regexp.source, source, len);
  v->regexp.len = len;
  v->regexp.flags = flags;
  return v;
}

herd_val_t *herd_val_strn(const char *s, size_t len) {
  if (!s && len)
    return NULL;
  size_t m = herd__wtf8_norm((const uint8_t *)s, len, NULL);
  herd_val_t *v = herd__val_alloc(HERD_VAL_STRING, m);
  if (!v)
    return NULL;
  v->str.s = payload(v);
  herd__wtf8_norm((const uint8_t *)s, len, (uint8_t *)v->str.s);
  v->str.len = m;
  return v;
}

herd_val_t *herd_val_str(const char *s) {
  return s ? herd_val_strn(s, strlen(s)) : NULL;
}

herd_val_t *herd_val_str_utf16(const uint16_t *units, size_t n) {
  if (!units && n)
    return NULL;
  size_t m = herd__wtf8_of_utf16(units, n, NULL);
  herd_val_t *v = herd__val_alloc(HERD_VAL_STRING, m);
  if (!v)
    return NULL;
  v->str.s = payload(v);
  herd__wtf8_of_utf16(units, n, (uint8_t *)v->str.s);
  v->str.len = m;
  return v;
}

herd_val_t *herd_val_regexp(const char *source, const char *flags) {
  uint32_t f;
  if (!source || herd__v8_re_flags_parse(flags ? flags : "", flags ? strlen(flags) : 0, &f) < 0)
    return NULL;
  size_t n = strlen(source);
  size_t m = herd__wtf8_norm((const uint8_t *)source, n, NULL);
  herd_val_t *v = herd__val_alloc(HERD_VAL_REGEXP, m);
  if (!v)
    return NULL;
  v->regexp.source = payload(v);
  herd__wtf8_norm((const uint8_t *)source, n, (uint8_t *)v->regexp.source);
  v->regexp.len = m;
  v->regexp.flags = f;
  return v;
}

herd_val_t *herd_val_object(void) {
  return herd__val_alloc(HERD_VAL_OBJECT, 0);
}

herd_val_t *herd_val_array(void) {
  return herd__val_alloc(HERD_VAL_ARRAY, 0);
}

herd_val_t *herd_val_map(void) {
  return herd__val_alloc(HERD_VAL_MAP, 0);
}

herd_val_t *herd_val_set(void) {
  return herd__val_alloc(HERD_VAL_SET, 0);
}

static herd_val_t *bytes_node(int type, const void *data, size_t len) {
  herd_val_t *v = herd__val_alloc(type, len);
  if (!v)
    return NULL;
  uint8_t *p = payload(v);
  if (data && len)
    memcpy(p, data, len);
  else if (len)
    memset(p, 0, len);
  if (type == HERD_VAL_VIEW) {
    v->view.data = p;
    v->view.len = len;
  } else {
    v->buf.data = p;
    v->buf.len = len;
  }
  return v;
}

herd_val_t *herd_val_arraybuffer(const void *data, size_t len) {
  return bytes_node(HERD_VAL_ARRAYBUFFER, data, len);
}

herd_val_t *herd_val_arraybuffer_resizable(const void *data, size_t len,
                                           size_t max_len) {
  if (len > max_len || max_len > UINT32_MAX)
    return NULL;
  herd_val_t *v = bytes_node(HERD_VAL_ARRAYBUFFER, data, len);
  if (v) {
    v->buf.resizable = 1;
    v->buf.max_len = max_len;
  }
  return v;
}

herd_val_t *herd_val_view(int view_type, const void *data, size_t len) {
  if (view_type < 0 || (size_t)view_type >= HERD__V8_NVIEW || len % herd__v8_elsize[view_type])
    return NULL;
  herd_val_t *v = bytes_node(HERD_VAL_VIEW, data, len);
  if (v)
    v->view.view_type = view_type;
  return v;
}

herd_val_t *herd_val_error(int error_type, const char *message) {
  if (error_type < HERD_ERROR_ERROR || error_type > HERD_ERROR_URI)
    return NULL;
  herd_val_t *v = herd__val_alloc(HERD_VAL_ERROR, 0);
  if (!v)
    return NULL;
  v->error.error_type = error_type;
  if (message) {
    v->error.message = herd__wtf8_dup(message, strlen(message), &v->error.message_len);
    if (!v->error.message) {
      herd_val_free(v);
      return NULL;
    }
  }
  return v;
}

int herd_val_error_set_stack(herd_val_t *err, const char *stack) {
  if (!err || err->type != HERD_VAL_ERROR)
    return -EINVAL;
  char *s = NULL;
  size_t n = 0;
  if (stack && !(s = herd__wtf8_dup(stack, strlen(stack), &n)))
    return -ENOMEM;
  free(err->error.stack);
  err->error.stack = s;
  err->error.stack_len = n;
  return 0;
}

/* A failed add: v is freed unless it has a parent (then it is not ours
 * to free) or is the container itself. */
int herd__val_take_fail(herd_val_t *v, const herd_val_t *container, int err) {
  if (v && v != container && !(v->flags_ & HERD__VAL_OWNED))
    herd_val_free(v);
  return err;
}

int herd_val_error_set_cause(herd_val_t *err, herd_val_t *cause) {
  if (!err || err->type != HERD_VAL_ERROR || err == cause ||
      (cause && (cause->flags_ & HERD__VAL_OWNED)))
    return herd__val_take_fail(cause, err, -EINVAL);
  herd_val_free(err->error.cause);
  err->error.cause = cause;
  if (cause)
    cause->flags_ |= HERD__VAL_OWNED;
  return 0;
}

herd_val_t *herd_val_boxed(herd_val_t *inner) {
  if (!inner || (inner->flags_ & HERD__VAL_OWNED))
    return NULL;
  if (inner->type != HERD_VAL_BOOL && inner->type != HERD_VAL_NUMBER &&
      inner->type != HERD_VAL_STRING && inner->type != HERD_VAL_BIGINT) {
    herd_val_free(inner);
    return NULL;
  }
  herd_val_t *v = herd__val_alloc(HERD_VAL_BOXED, 0);
  if (!v) {
    herd_val_free(inner);
    return NULL;
  }
  v->boxed = inner;
  inner->flags_ |= HERD__VAL_OWNED;
  return v;
}

int herd__val_is_object(const herd_val_t *v) {
  switch (v->type) {
  case HERD_VAL_OBJECT:
  case HERD_VAL_ARRAY:
  case HERD_VAL_DATE:
  case HERD_VAL_REGEXP:
  case HERD_VAL_MAP:
  case HERD_VAL_SET:
  case HERD_VAL_ARRAYBUFFER:
  case HERD_VAL_VIEW:
  case HERD_VAL_ERROR:
  case HERD_VAL_BOXED:
    return 1;
  default:
    return 0;
  }
}

herd_val_t *herd_val_ref(herd_val_t *target) {
  target = herd_val_deref(target);
  if (!target || !herd__val_is_object(target))
    return NULL;
  herd_val_t *v = herd__val_alloc(HERD_VAL_REF, 0);
  if (v)
    v->target = target;
  return v;
}

herd_val_t *herd_val_deref(const herd_val_t *v) {
  if (v && v->type == HERD_VAL_REF)
    v = v->target;
  return (herd_val_t *)v;
}

/* ---- names ---------------------------------------------------------- */

const char *herd_val_type_name(int type) {
  static const char *const names[] = {
      "undefined", "null", "boolean", "number", "bigint", "string",
      "Object", "Array", "Date", "RegExp", "Map", "Set", "ArrayBuffer",
      "ArrayBufferView", "Error", "Boxed", "Ref"};
  if (type < 0 || (size_t)type >= sizeof names / sizeof names[0])
    return "?";
  return names[type];
}

const char *herd_view_type_name(int view_type) {
  static const char *const names[] = {
      "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array",
      "Uint16Array", "Int32Array", "Uint32Array", "Float32Array",
      "Float64Array", "DataView", "Buffer", "BigInt64Array",
      "BigUint64Array"};
  if (view_type < 0 || (size_t)view_type >= HERD__V8_NVIEW)
    return "?";
  return names[view_type];
}

const char *herd_error_type_name(int error_type) {
  static const char *const names[] = {"Error", "EvalError", "RangeError",
                                      "ReferenceError", "SyntaxError",
                                      "TypeError", "URIError"};
  if (error_type < 0 || error_type > HERD_ERROR_URI)
    return "?";
  return names[error_type];
}

/* ---- free ----------------------------------------------------------- */

void herd_val_free(herd_val_t *v) {
  /* A work list threaded through the nodes themselves: no recursion, so
   * a tree of any depth is freed, and no allocation that could fail. */
  struct node *list = NULL;
#define PUSH(x)                                                              \
  do {                                                                       \
    herd_val_t *x_ = (x);                                                    \
    if (x_) {                                                                \
      ((struct node *)x_)->next = list;                                      \
      list = (struct node *)x_;                                              \
    }                                                                        \
  } while (0)
  PUSH(v);
  while (list) {
    struct node *n = list;
    herd_val_t *x = &n->v;
    list = n->next;
    switch (x->type) {
    case HERD_VAL_OBJECT:
    case HERD_VAL_ARRAY:
      for (size_t i = 0; i < x->obj.n; i++) {
        free(x->obj.props[i].key);
        PUSH(x->obj.props[i].value);
      }
      free(x->obj.props);
      break;
    case HERD_VAL_MAP:
    case HERD_VAL_SET:
      for (size_t i = 0; i < x->list.n; i++)
        PUSH(x->list.items[i]);
      free(x->list.items);
      break;
    case HERD_VAL_ERROR:
      free(x->error.message);
      free(x->error.stack);
      PUSH(x->error.cause);
      break;
    case HERD_VAL_BOXED:
      PUSH(x->boxed);
      break;
    default:
      break;
    }
    free(n);
  }
#undef PUSH
}
