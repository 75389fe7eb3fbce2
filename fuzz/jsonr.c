/*
 * jsonr.c - fuzz libherd's JSON trees (src/lib/jsonparse.c, jsonstr.c)
 * and the program's reading and writing on them: any bytes to
 * herd_json_parse. Checked: no crash, no leak, no read past the input;
 * the channel's validator gives the same verdict; a tree read is written
 * by herd_json_stringify (always: JSON's own values, within the depth),
 * that text reads again, and from then on the text and the tree are a
 * fixed point (parse(stringify(t)) written is the same text); the V8
 * mapping carries the tree exactly (herd_v8_to_json, _from_json,
 * herd_val_equal); each string quoted by the program's jw_str is
 * herd_json_quote's; herd_val_int agrees with the double.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "jw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* herd_val_int on a number, against the double itself. */
static void check_int(const herd_val_t *v) {
  int64_t x = 42;
  int rc = herd_val_int(v, -1000, 1000, &x);
  double d = v->number;
  int whole = d >= -1000 && d <= 1000 && d == (double)(int64_t)d;
  if ((rc == 0) != whole || (rc == 0 && (double)x != d) || (rc != 0 && x != 42) ||
      (rc != 0 && rc != -ERANGE))
    abort();
}

/* Every string and key through jw_str: what herd_json_quote writes. */
static void check_strings(const herd_val_t *v, int depth) {
  if (depth > HERD_JSON_MAX_DEPTH)
    abort();
  if (v->type == HERD_VAL_NUMBER)
    check_int(v);
  if (v->type == HERD_VAL_STRING) {
    struct jw w;
    jw_init(&w);
    jw_str(&w, v->str.s, v->str.len);
    ssize_t n = herd_json_quote(v->str.s, v->str.len, NULL, 0);
    char *q = malloc((size_t)n + 1);
    if (!q || w.err || herd_json_quote(v->str.s, v->str.len, q, (size_t)n + 1) != n ||
        w.len != (size_t)n || memcmp(q, w.buf, w.len) != 0)
      abort();
    free(q);
    jw_free(&w);
  }
  if (v->type == HERD_VAL_OBJECT || v->type == HERD_VAL_ARRAY)
    for (size_t i = 0; i < v->obj.n; i++)
      check_strings(v->obj.props[i].value, depth + 1);
}

static herd_val_t *parse_ok(const char *s, size_t n) {
  herd_val_t *v;
  if (herd_json_parse(s, n, &v, NULL) != 0)
    abort();
  return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  herd_val_t *t = NULL;
  size_t used = 0;
  int rc = herd_json_parse(text, size, &t, &used);
  if (rc == -ENOMEM)
    return 0;
  if ((rc == 0) != (herd__json_validate(text, size) == 0))
    abort();
  if (rc < 0) {
    if ((rc != HERD_EJSON && rc != HERD_EJSONDEPTH) || t || used > size)
      abort();
    return 0;
  }
  if (used != size)
    abort();
  check_strings(t, 1);
  char *s1 = NULL, *s2 = NULL, *j = NULL;
  size_t n1, n2, jn;
  if (herd_json_stringify(t, &s1, &n1) != 0 || strlen(s1) != n1)
    abort();
  herd_val_t *t1 = parse_ok(s1, n1);
  if (herd_json_stringify(t1, &s2, &n2) != 0 || n2 != n1 || memcmp(s1, s2, n1) != 0)
    abort();
  /* the V8 mapping keeps what JSON does not (-0, Infinity) */
  herd_val_t *t2 = NULL;
  if (herd_v8_to_json(t, NULL, &j, &jn) == 0) {
    if (herd_v8_from_json(j, jn, NULL, &t2, NULL) != 0 || herd_val_equal(t, t2) != 1)
      abort();
  }
  free(j);
  herd_val_free(t2);
  herd_val_free(t1);
  free(s1);
  free(s2);
  herd_val_free(t);
  return 0;
}
