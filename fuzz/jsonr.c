/*
 * jsonr.c - fuzz the control client's JSON reader and writer
 * (src/cli/jsonr.c): any bytes to jv_parse; a tree it returns is written
 * back with jw_* (numbers as %.17g, strings and keys with jw_str), and
 * that text must parse again into the same tree and write the same bytes
 * again. No crash, no leak, no read past the input; jv_int agrees with
 * the double it reads.
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void write_tree(struct jw *w, const jv *v) {
  switch (jv_type(v)) {
  case JV_NULL:
    jw_raw(w, "null", 4);
    break;
  case JV_BOOL:
    jw_raw(w, jv_bool(v, 0) ? "true" : "false", jv_bool(v, 0) ? 4 : 5);
    break;
  case JV_NUM:
    jw_printf(w, "%.17g", jv_num(v, 0));
    break;
  case JV_STR:
    jw_str(w, jv_str(v, ""), jv_strlen(v));
    break;
  case JV_ARR:
  case JV_OBJ:
    jw_raw(w, jv_type(v) == JV_ARR ? "[" : "{", 1);
    for (size_t i = 0; i < jv_len(v); i++) {
      if (i)
        jw_raw(w, ",", 1);
      if (jv_type(v) == JV_OBJ) {
        jw_str(w, jv_key_at(v, i), jv_key_len(v, i));
        jw_raw(w, ":", 1);
      }
      write_tree(w, jv_at(v, i));
    }
    jw_raw(w, jv_type(v) == JV_ARR ? "]" : "}", 1);
    break;
  default:
    abort();
  }
}

/* The same tree: types, order, keys and strings byte for byte, numbers
 * bit for bit (-0 too). */
static int same(const jv *a, const jv *b) {
  if (jv_type(a) != jv_type(b) || jv_len(a) != jv_len(b))
    return 0;
  switch (jv_type(a)) {
  case JV_NUM: {
    double x = jv_num(a, 0), y = jv_num(b, 0);
    return x == y && !signbit(x) == !signbit(y);
  }
  case JV_BOOL:
    return jv_bool(a, 0) == jv_bool(b, 0);
  case JV_STR:
    return jv_strlen(a) == jv_strlen(b) &&
           !memcmp(jv_str(a, ""), jv_str(b, ""), jv_strlen(a));
  case JV_ARR:
  case JV_OBJ:
    for (size_t i = 0; i < jv_len(a); i++) {
      if (jv_type(a) == JV_OBJ &&
          (jv_key_len(a, i) != jv_key_len(b, i) ||
           memcmp(jv_key_at(a, i), jv_key_at(b, i), jv_key_len(a, i))))
        return 0;
      if (!same(jv_at(a, i), jv_at(b, i)))
        return 0;
    }
    return 1;
  default:
    return 1;
  }
}

/* jv_int against the double, on every number of the tree. */
static void check_ints(const jv *v) {
  if (jv_type(v) == JV_NUM) {
    double d = jv_num(v, 0);
    long long x = 7;
    int r = jv_int(v, LLONG_MIN, LLONG_MAX, &x);
    int fits = d >= -9223372036854775808.0 && d < 9223372036854775808.0;
    if (r == 1 && (!fits || (double)x != d))
      abort();
    if (r == -1 && fits && (double)(long long)d == d)
      abort();
    if (r == 0)
      abort();
    /* a narrower range only ever refuses more */
    long long y = 7;
    int r2 = jv_int(v, -1000, 1000, &y);
    if (r2 == 1 && (r != 1 || y != x || y < -1000 || y > 1000))
      abort();
    if (r2 == -1 && r == 1 && x >= -1000 && x <= 1000)
      abort();
  }
  for (size_t i = 0; i < jv_len(v); i++)
    check_ints(jv_at(v, i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  jv *v = jv_parse((const char *)data, size);
  if (!v)
    return 0;
  check_ints(v);
  struct jw w1, w2;
  jw_init(&w1);
  jw_init(&w2);
  write_tree(&w1, v);
  if (w1.err)
    abort();
  jv *again = jv_parse(w1.buf, w1.len);
  if (!again || !same(v, again))
    abort();
  write_tree(&w2, again);
  if (w2.err || w2.len != w1.len || memcmp(w1.buf, w2.buf, w1.len))
    abort();
  jv_free(again);
  jv_free(v);
  jw_free(&w1);
  jw_free(&w2);
  return 0;
}
