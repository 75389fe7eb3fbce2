/*
 * jval.h - reading the JSON the program receives (control requests and
 * replies, the start report): trees of herd_json_parse (herd_json(3)),
 * read with a default for what is absent or of another type. A member
 * that is absent and one that is null both read as the default; compare
 * the pointer to tell them apart.
 */
#ifndef HERD_CLI_JVAL_H
#define HERD_CLI_JVAL_H

#include <stddef.h>
#include <stdint.h>

#include "herd.h"

/* One JSON text as JSON.parse reads it, or NULL (not JSON, nested past
 * HERD_JSON_MAX_DEPTH, out of memory). Free it with herd_val_free. */
static inline herd_val_t *jparse(const char *text, size_t len) {
  herd_val_t *v;
  return herd_json_parse(text, len, &v, NULL) == 0 ? v : NULL;
}

static inline int jis_obj(const herd_val_t *v) {
  return v && v->type == HERD_VAL_OBJECT;
}

static inline int jis_num(const herd_val_t *v) {
  return v && v->type == HERD_VAL_NUMBER;
}

/* Member key of an object (borrowed from the tree), or NULL. */
static inline herd_val_t *jget(const herd_val_t *obj, const char *key) {
  return jis_obj(obj) ? herd_val_obj_get(obj, key) : NULL;
}

/* An array's length (holes count), 0 for anything else; element i, or
 * NULL. */
static inline size_t jlen(const herd_val_t *arr) {
  return arr && arr->type == HERD_VAL_ARRAY ? arr->obj.length : 0;
}

static inline herd_val_t *jat(const herd_val_t *arr, size_t i) {
  return i < jlen(arr) ? herd_val_obj_get_index(arr, (uint32_t)i) : NULL;
}

/* A string (NUL-terminated WTF-8, borrowed), or dflt; its byte length
 * (it may hold NULs), 0 for anything else. */
static inline const char *jstr(const herd_val_t *v, const char *dflt) {
  return v && v->type == HERD_VAL_STRING ? v->str.s : dflt;
}

static inline size_t jstrlen(const herd_val_t *v) {
  return v && v->type == HERD_VAL_STRING ? v->str.len : 0;
}

static inline int jbool(const herd_val_t *v, int dflt) {
  return v && v->type == HERD_VAL_BOOL ? v->boolean : dflt;
}

/* A number, or dflt. A double: never cast it to an integer type
 * unchecked (1e10 or 1e300 in a pid); use herd_val_int. */
static inline double jnum(const herd_val_t *v, double dflt) {
  return jis_num(v) ? v->number : dflt;
}

/* herd_val_int into a long long: 0 with *out; -EINVAL if v is not a
 * number (absent too); -ERANGE if it is one but not a whole number in
 * [min, max] (*out untouched either way). */
static inline int jint(const herd_val_t *v, long long min, long long max,
                       long long *out) {
  int64_t x;
  int rc = herd_val_int(v, min, max, &x);
  if (rc == 0)
    *out = x;
  return rc;
}

#endif
