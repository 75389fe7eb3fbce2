/*
 * v8dec.h - the V8 format reader's parts (herd_v8_decode), shared by its
 * two files. Not installed.
 *
 *   v8ser.c        the frame and the values: primitives, strings,
 *                  BigInts, references, the ids, herd_v8_decode
 *   v8ser_decobj.c the objects: plain objects and their keys, arrays,
 *                  Maps and Sets, Dates, RegExps, boxed primitives,
 *                  ArrayBuffers and their views, Errors, host objects
 *
 * The read helpers below are static inline: they run once per byte or
 * tag read, and each file keeps its own copy.
 */
#ifndef HERD_V8DEC_H
#define HERD_V8DEC_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "herd.h"
#include "internal.h"

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

static inline int rd_byte(struct dec *d, uint8_t *b) {
  if (d->pos >= d->len)
    return HERD_EV8DATA;
  *b = d->buf[d->pos++];
  return 0;
}

/* A varint of at most 32 bits: 5 bytes at most, the 5th no more than
 * 0x0f (V8 would silently stop or drop bits; we refuse). */
static inline int rd_u32(struct dec *d, uint32_t *out) {
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

static inline int rd_bytes(struct dec *d, size_t n, const uint8_t **p) {
  if (n > d->len - d->pos)
    return HERD_EV8DATA;
  *p = d->buf + d->pos;
  d->pos += n;
  return 0;
}

static inline int rd_double(struct dec *d, double *x) {
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

/* A number's payload after its tag t (INT32, zigzag; UINT32; DOUBLE). */
static inline int rd_number(struct dec *d, uint8_t t, double *x) {
  uint32_t u;
  if (t == V8T_DOUBLE)
    return rd_double(d, x);
  if (rd_u32(d, &u) < 0)
    return HERD_EV8DATA;
  if (t == V8T_INT32) /* zigzag */
    *x = (u & 1) ? -(double)(u >> 1) - 1 : (double)(u >> 1);
  else
    *x = u;
  return 0;
}

/* Take the next tag, past padding and any verify count (a count V8
 * ignores). */
static inline int rd_tag(struct dec *d, uint8_t *t) {
  uint32_t u;
  for (;;) {
    if (rd_byte(d, t) < 0)
      return HERD_EV8DATA;
    if (*t == V8T_PADDING)
      continue;
    if (*t != V8T_VERIFY_COUNT)
      return 0;
    if (rd_u32(d, &u) < 0)
      return HERD_EV8DATA;
  }
}

/* The next tag past any padding, without taking it (V8's PeekTag). */
static inline int peek_tag(struct dec *d, uint8_t *t) {
  size_t p = d->pos;
  while (p < d->len && d->buf[p] == V8T_PADDING)
    p++;
  if (p >= d->len)
    return HERD_EV8DATA;
  *t = d->buf[p];
  return 0;
}

/* Take the tag peek_tag saw. */
static inline void take_tag(struct dec *d) {
  while (d->buf[d->pos] == V8T_PADDING)
    d->pos++;
  d->pos++;
}

/* The readers each file uses from the other, described where they are
 * defined. */
/* v8ser.c */
int herd__v8_new_id(struct dec *d, size_t *id);
int herd__v8_register(struct dec *d, herd_val_t *v);
int herd__v8_read_value(struct dec *d, unsigned depth, herd_val_t **out);
int herd__v8_read_string_body(struct dec *d, uint8_t tag, herd_val_t **out);
int herd__v8_read_string(struct dec *d, herd_val_t **out);
int herd__v8_read_bigint(struct dec *d, herd_val_t **out);
/* v8ser_decobj.c */
int herd__v8_read_object(struct dec *d, uint8_t t, unsigned level,
                         herd_val_t **out);
int herd__v8_read_view(struct dec *d, const herd_val_t *buf, herd_val_t **out);

#endif
