/*
 * v8ser.c - fuzz libherd's V8 serialization (src/lib/v8ser*.c) on any
 * bytes, as V8's format (both host-object framings: Node's channel and
 * v8.serialize) and as JSON text of libherd's mapping:
 *  - reading never crashes, reads nothing past the input, allocates
 *    within bounds (the fuzzer's malloc limit), and fails only with the
 *    codes it documents;
 *  - what is read is written back, that is read again as the same tree
 *    (herd_val_equal), and writing that gives the same bytes: the writer
 *    is a fixed point after one round;
 *  - the tree's JSON reads back as the same tree and the same text.
 * Any disagreement aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "herd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The depth the input is read with; it is written with the most there
 * is: a REF that comes before the object it names (keys of JS objects
 * are sorted: indices first) makes the object written in full where the
 * REF was, which may be deeper than where it was read. */
#define READ_DEPTH 64

static int documented(int rc) {
  return rc == HERD_EV8DATA || rc == HERD_EV8VERSION ||
         rc == HERD_EV8UNSUPPORTED || rc == HERD_EV8DEPTH || rc == -ENOMEM;
}

/* v: a tree just read. Its JSON and its bytes both come back to it. */
static void round_trip(const herd_val_t *v, int host) {
  herd_v8_opts_t deep = {.host = host, .max_depth = HERD_V8_MAX_DEPTH_LIMIT};
  uint8_t *b1 = NULL, *b2 = NULL;
  size_t n1, n2, used;
  int rc = herd_v8_encode_alloc(v, &deep, 0, &b1, &n1);
  if (rc == HERD_EV8DEPTH || rc == -ENOMEM)
    return;
  /* written within the limit: then walked within it, too */
  if (rc < 0 || herd_val_equal(v, v) != 1)
    abort();
  /* the caller's buffer gives the same bytes, and says the size */
  uint8_t *b3 = malloc(n1);
  if (!b3 || herd_v8_encode(v, &deep, b3, n1) != (ssize_t)n1 ||
      memcmp(b1, b3, n1) != 0 || herd_v8_encode(v, &deep, b3, n1 / 2) != (ssize_t)n1)
    abort();
  free(b3);
  herd_val_t *w = NULL;
  rc = herd_v8_decode(b1, n1, &deep, &w, &used);
  if (rc == -ENOMEM)
    goto out;
  if (rc != 0 || used != n1 || herd_val_equal(v, w) != 1)
    abort();
  rc = herd_v8_encode_alloc(w, &deep, 0, &b2, &n2);
  if (rc == -ENOMEM)
    goto out;
  if (rc != 0 || n2 != n1 || memcmp(b1, b2, n1) != 0)
    abort();

  char *j1 = NULL, *j2 = NULL;
  size_t l1, l2;
  herd_val_t *x = NULL;
  rc = herd_v8_to_json(v, &deep, &j1, &l1);
  if (rc == 0) {
    rc = herd_v8_from_json(j1, l1, &deep, &x, &used);
    if (rc == 0) {
      if (herd_val_equal(v, x) != 1)
        abort();
      rc = herd_v8_to_json(x, &deep, &j2, &l2);
      if (rc == 0 && (l2 != l1 || memcmp(j1, j2, l1) != 0))
        abort();
    }
  }
  /* JSON nests up to 3 levels a value: the limit may be met there */
  if (rc != 0 && rc != -ENOMEM && rc != HERD_EV8DEPTH)
    abort();
  herd_val_free(x);
  free(j1);
  free(j2);
out:
  herd_val_free(w);
  free(b1);
  free(b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  for (int host = HERD_V8_HOST_CHANNEL; host <= HERD_V8_HOST_SERIALIZE; host++) {
    herd_v8_opts_t o = {.host = host, .max_depth = READ_DEPTH};
    herd_val_t *v = (herd_val_t *)1;
    size_t used = SIZE_MAX;
    int rc = herd_v8_decode(data, size, &o, &v, &used);
    if (used > size)
      abort();
    if (rc < 0) {
      if (!documented(rc) || v != NULL)
        abort();
      continue;
    }
    if (rc != 0 || !v)
      abort();
    round_trip(v, host);
    herd_val_free(v);
  }

  /* the same bytes as JSON text */
  herd_v8_opts_t o = {.max_depth = READ_DEPTH};
  herd_val_t *v = (herd_val_t *)1;
  size_t used = SIZE_MAX;
  int rc = herd_v8_from_json((const char *)data, size, &o, &v, &used);
  if (used > size)
    abort();
  if (rc < 0) {
    if ((rc != HERD_EV8JSON && rc != HERD_EV8DEPTH && rc != -ENOMEM) || v != NULL)
      abort();
    return 0;
  }
  round_trip(v, HERD_V8_HOST_CHANNEL);
  herd_val_free(v);
  return 0;
}
