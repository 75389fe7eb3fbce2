/*
 * v8ser_eq.c - herd_val_equal: are two trees the same JS value as V8's
 * format carries it? Both are walked in the order the writers walk them
 * (v8ser_enc.c), and each object is numbered the first time it is met,
 * through a REF or itself: the two must meet their objects in the same
 * order, so that the same pattern of sharing is the same numbers.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "herd.h"
#include "internal.h"

struct eq {
  struct herd__ptrmap a, b;
  uint32_t next;
};

static int same_num(double x, double y) {
  if (isnan(x) || isnan(y))
    return isnan(x) && isnan(y);
  return x == y && signbit(x) == signbit(y);
}

static int same_bytes(const void *a, size_t na, const void *b, size_t nb) {
  if (!a || !b)
    return !a && !b; /* both absent; NULL never has bytes */
  return na == nb && (na == 0 || memcmp(a, b, na) == 0);
}

static int eq_val(struct eq *st, const herd_val_t *a, const herd_val_t *b,
                  unsigned depth);

static int eq_pair(struct eq *st, const herd_val_t *a, const herd_val_t *b,
                   unsigned depth) {
  if (!a || !b)
    return !a && !b;
  return eq_val(st, a, b, depth);
}

static int eq_val(struct eq *st, const herd_val_t *a, const herd_val_t *b,
                  unsigned depth) {
  a = herd_val_deref(a);
  b = herd_val_deref(b);
  if (!a || !b)
    return !a && !b;
  if (a->type != b->type)
    return 0;
  if (herd__val_is_object(a)) {
    /* one object seen again: it must be the same one on both sides */
    uint32_t ia, ib;
    int fa = herd__ptrmap_get(&st->a, a, &ia);
    int fb = herd__ptrmap_get(&st->b, b, &ib);
    if (fa || fb)
      return fa && fb && ia == ib;
    if (depth >= HERD_V8_MAX_DEPTH_LIMIT)
      return HERD_EV8DEPTH;
    if (herd__ptrmap_put(&st->a, a, st->next) < 0 ||
        herd__ptrmap_put(&st->b, b, st->next) < 0)
      return -ENOMEM;
    st->next++;
    depth++;
  }
  int r;
  switch (a->type) {
  case HERD_VAL_UNDEFINED:
  case HERD_VAL_NULL:
    return 1;
  case HERD_VAL_BOOL:
    return a->boolean == b->boolean;
  case HERD_VAL_NUMBER:
  case HERD_VAL_DATE:
    return same_num(a->number, b->number);
  case HERD_VAL_BIGINT:
    return a->bigint.negative == b->bigint.negative &&
           same_bytes(a->bigint.mag, a->bigint.len, b->bigint.mag, b->bigint.len);
  case HERD_VAL_STRING:
    return same_bytes(a->str.s, a->str.len, b->str.s, b->str.len);
  case HERD_VAL_REGEXP:
    return a->regexp.flags == b->regexp.flags &&
           same_bytes(a->regexp.source, a->regexp.len, b->regexp.source,
                      b->regexp.len);
  case HERD_VAL_ARRAYBUFFER:
    return a->buf.resizable == b->buf.resizable &&
           (!a->buf.resizable || a->buf.max_len == b->buf.max_len) &&
           same_bytes(a->buf.data, a->buf.len, b->buf.data, b->buf.len);
  case HERD_VAL_VIEW:
    return a->view.view_type == b->view.view_type &&
           same_bytes(a->view.data, a->view.len, b->view.data, b->view.len);
  case HERD_VAL_OBJECT:
  case HERD_VAL_ARRAY:
    if (a->obj.n != b->obj.n || a->obj.nindex != b->obj.nindex ||
        (a->type == HERD_VAL_ARRAY && a->obj.length != b->obj.length))
      return 0;
    for (size_t i = 0; i < a->obj.n; i++) {
      const herd_val_prop_t *p = &a->obj.props[i], *q = &b->obj.props[i];
      if (p->key ? !same_bytes(p->key, p->key_len, q->key, q->key_len)
                 : (q->key || p->index != q->index))
        return 0;
      if ((r = eq_val(st, p->value, q->value, depth)) != 1)
        return r;
    }
    return 1;
  case HERD_VAL_MAP:
  case HERD_VAL_SET:
    if (a->list.n != b->list.n)
      return 0;
    for (size_t i = 0; i < a->list.n; i++)
      if ((r = eq_val(st, a->list.items[i], b->list.items[i], depth)) != 1)
        return r;
    return 1;
  case HERD_VAL_ERROR:
    if (a->error.error_type != b->error.error_type ||
        !same_bytes(a->error.message, a->error.message_len, b->error.message,
                    b->error.message_len) ||
        !same_bytes(a->error.stack, a->error.stack_len, b->error.stack,
                    b->error.stack_len))
      return 0;
    return eq_pair(st, a->error.cause, b->error.cause, depth);
  case HERD_VAL_BOXED:
    return eq_pair(st, a->boxed, b->boxed, depth);
  default:
    return 0;
  }
}

int herd_val_equal(const herd_val_t *a, const herd_val_t *b) {
  struct eq st;
  memset(&st, 0, sizeof st);
  int r = eq_val(&st, a, b, 0);
  herd__ptrmap_free(&st.a);
  herd__ptrmap_free(&st.b);
  return r;
}
