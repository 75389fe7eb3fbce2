/*
 * json.c - fuzz the channel's JSON scanner (src/lib/json.c):
 * herd__json_validate, herd__json_validate_cmd, herd__json_member and
 * herd__json_str on any bytes: no crash, no read past the input, and
 * agreement with
 *  - a second parser written here another way (iterative, with its own
 *    stack, byte by byte, no word-at-a-time string scan): same verdict,
 *    same top-level "cmd", "msg" and "type" members (keys decoded, the
 *    last one counting), same decoded strings; and
 *  - herd_json_parse, the tree reader on the same scan: the same verdict
 *    on every text, the same top-level members.
 * Any disagreement aborts.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "cli.h"
#include "../tests/refutf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REF_MAX_DEPTH 512 /* as the scanner: 512 containers deep is fine */

static const char *const keys[] = {"cmd", "msg", "type"};
#define NKEYS 3

struct ref {
  int depth;    /* deepest nesting seen */
  int overflow; /* a number beyond a double */
  int object;   /* the text is an object */
  const char *val[NKEYS]; /* the last top-level member of each key */
  size_t vlen[NKEYS];
};

static int is_ws(uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A string token at s[*i] ('"'); on success *i is past it. Its decoding
 * as UTF-16 code units goes to units (up to cap of them; *nunits counts
 * them all) - raw bytes count as one unit each, which never equals an
 * ASCII character when it is >= 0x80, as in JSON.parse's view. */
static int ref_string(const uint8_t *s, size_t n, size_t *i, uint32_t *units,
                      size_t cap, size_t *nunits) {
  size_t k = *i + 1, u = 0;
  for (;;) {
    if (k >= n)
      return -1;
    uint8_t c = s[k];
    uint32_t unit;
    if (c == '"') {
      *i = k + 1;
      *nunits = u;
      return 0;
    }
    if (c < 0x20)
      return -1;
    if (c != '\\') {
      unit = c;
      k++;
    } else {
      if (k + 1 >= n)
        return -1;
      const char *esc = "\"\\/bfnrt";
      const char *val = "\"\\/\b\f\n\r\t";
      const char *e = s[k + 1] ? strchr(esc, s[k + 1]) : NULL;
      if (e) {
        unit = (uint8_t)val[e - esc];
        k += 2;
      } else if (s[k + 1] == 'u') {
        if (k + 6 > n)
          return -1;
        unit = 0;
        for (int j = 0; j < 4; j++) {
          int h = herd__hexval((char)s[k + 2 + j]);
          if (h < 0)
            return -1;
          unit = unit * 16 + (uint32_t)h;
        }
        unit |= 0x10000000; /* from an escape: a code unit, not a byte */
        k += 6;
      } else {
        return -1;
      }
    }
    if (units && u < cap)
      units[u] = unit;
    u++;
  }
}

/* Do the units spell the ASCII word? */
static int units_are(const uint32_t *units, size_t n, const char *word) {
  size_t w = strlen(word);
  if (n != w)
    return 0;
  for (size_t j = 0; j < n; j++) {
    if ((units[j] & 0xffff) != (uint8_t)word[j])
      return 0;
  }
  return 1;
}

/* WTF-8 of a string token, as herd__json_str says it must be: escapes
 * decoded, pairs joined, a lone surrogate as its 3 bytes, raw bytes as
 * UTF-8 with each maximal ill-formed subsequence U+FFFD (the program's
 * second decoder, tests/refutf8.h, tells them: not the library's). Returns the
 * length (out may be NULL). */
static size_t ref_utf8(const uint32_t *units, size_t n, uint8_t *out) {
  size_t d = 0;
  for (size_t j = 0; j < n; j++) {
    uint32_t c = units[j];
    if (!(c & 0x10000000)) { /* a raw byte: the run of them from here */
      uint8_t raw[4];
      size_t k = 0, bad = 0, m;
      while (k < 4 && j + k < n && !(units[j + k] & 0x10000000))
        raw[k] = (uint8_t)units[j + k], k++;
      if ((m = ref_utf8_len(raw, k, &bad)) != 0) {
        if (out)
          memcpy(out + d, raw, m);
        d += m;
        j += m - 1;
        continue;
      }
      j += bad - 1;
      c = 0xfffd;
    } else {
      c &= 0xffff;
      if (c >= 0xd800 && c <= 0xdbff && j + 1 < n && (units[j + 1] & 0x10000000) &&
          (units[j + 1] & 0xffff) >= 0xdc00 && (units[j + 1] & 0xffff) <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + ((units[j + 1] & 0xffff) - 0xdc00);
        j++;
      }
    }
    char b[4];
    size_t m = herd__utf8_put((uint8_t *)b, c); /* (a surrogate: its 3 bytes, WTF-8) */
    if (out)
      memcpy(out + d, b, m);
    d += m;
  }
  return d;
}

static int ref_number(const uint8_t *s, size_t n, size_t *i, int *overflow) {
  size_t k = *i, start = k;
  if (k < n && s[k] == '-')
    k++;
  if (k >= n || s[k] < '0' || s[k] > '9')
    return -1;
  if (s[k] == '0') {
    k++;
  } else {
    while (k < n && s[k] >= '0' && s[k] <= '9')
      k++;
  }
  if (k < n && s[k] == '.') {
    k++;
    if (k >= n || s[k] < '0' || s[k] > '9')
      return -1;
    while (k < n && s[k] >= '0' && s[k] <= '9')
      k++;
  }
  if (k < n && (s[k] == 'e' || s[k] == 'E')) {
    k++;
    if (k < n && (s[k] == '+' || s[k] == '-'))
      k++;
    if (k >= n || s[k] < '0' || s[k] > '9')
      return -1;
    while (k < n && s[k] >= '0' && s[k] <= '9')
      k++;
  }
  char *copy = malloc(k - start + 1);
  if (!copy)
    abort();
  memcpy(copy, s + start, k - start);
  copy[k - start] = '\0';
  if (isinf(strtod(copy, NULL)))
    *overflow = 1;
  free(copy);
  *i = k;
  return 0;
}

/* The reference parser: an explicit stack of open containers and a
 * state, one token at a time. 0 if s is one JSON text, -1 if not. */
static int ref_parse(const uint8_t *s, size_t n, struct ref *r) {
  static char stack[REF_MAX_DEPTH];
  enum { VALUE, VALUE_OR_END, KEY, KEY_OR_END, COLON, NEXT } st = VALUE;
  int sp = 0, slot = -1;
  size_t i = 0, vstart = 0;
  memset(r, 0, sizeof *r);
  for (;;) {
    while (i < n && is_ws(s[i]))
      i++;
    if (st == NEXT) {
      /* a value just ended: a top-level member's? */
      if (sp == 1 && stack[0] == '{' && slot >= 0) {
        r->val[slot] = (const char *)s + vstart;
        r->vlen[slot] = i - vstart;
        while (r->vlen[slot] && is_ws(s[vstart + r->vlen[slot] - 1]))
          r->vlen[slot]--;
        slot = -1;
      }
      if (sp == 0)
        return i == n ? 0 : -1;
      if (i >= n)
        return -1;
      if (s[i] == ',') {
        i++;
        st = stack[sp - 1] == '{' ? KEY : VALUE;
      } else if (s[i] == (stack[sp - 1] == '{' ? '}' : ']')) {
        i++;
        sp--;
      } else {
        return -1;
      }
      continue;
    }
    if (i >= n)
      return -1;
    uint8_t c = s[i];
    if ((st == VALUE_OR_END && c == ']') || (st == KEY_OR_END && c == '}')) {
      i++;
      sp--;
      st = NEXT;
      continue;
    }
    if (st == KEY || st == KEY_OR_END) {
      if (c != '"')
        return -1;
      uint32_t units[8];
      size_t nu;
      if (ref_string(s, n, &i, units, 8, &nu) < 0)
        return -1;
      if (sp == 1) {
        slot = -1;
        for (int k = 0; k < NKEYS; k++)
          if (nu <= 8 && units_are(units, nu, keys[k]))
            slot = k;
      }
      st = COLON;
      continue;
    }
    if (st == COLON) {
      if (c != ':')
        return -1;
      i++;
      st = VALUE;
      continue;
    }
    /* VALUE, VALUE_OR_END */
    if (sp == 1)
      vstart = i;
    if (c == '{' || c == '[') {
      if (sp == REF_MAX_DEPTH)
        return -1;
      if (sp == 0 && c == '{')
        r->object = 1;
      stack[sp++] = (char)c;
      if (sp > r->depth)
        r->depth = sp;
      i++;
      st = c == '{' ? KEY_OR_END : VALUE_OR_END;
      continue;
    }
    size_t nu;
    if (c == '"') {
      if (ref_string(s, n, &i, NULL, 0, &nu) < 0)
        return -1;
    } else if (c == 't' || c == 'f' || c == 'n') {
      const char *w = c == 't' ? "true" : c == 'f' ? "false" : "null";
      size_t wl = strlen(w);
      if (n - i < wl || memcmp(s + i, w, wl) != 0)
        return -1;
      i += wl;
    } else if (ref_number(s, n, &i, &r->overflow) < 0) {
      return -1;
    }
    st = NEXT;
  }
}

/* herd__json_str on a string token agrees with the reference decoding. */
static void check_str(const char *tok, size_t len) {
  size_t i = 0, nu;
  uint32_t *units = malloc((len + 1) * sizeof *units);
  uint8_t *want = malloc(len * 4 + 1);
  char *got = malloc(len * 4 + 1);
  if (!units || !want || !got)
    abort();
  if (ref_string((const uint8_t *)tok, len, &i, units, len + 1, &nu) < 0 ||
      i != len)
    abort(); /* the scanner called it a string */
  size_t wn = ref_utf8(units, nu, want);
  ssize_t gn = herd__json_str(tok, len, got, len * 4 + 1);
  if (gn < 0 || (size_t)gn != wn || memcmp(got, want, wn) != 0)
    abort();
  /* cut short: the same length, the first bytes only */
  if (wn > 1 && herd__json_str(tok, len, got, wn / 2) != gn)
    abort();
  free(units);
  free(want);
  free(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  struct ref r;
  int rv = ref_parse(data, size, &r);
  int v = herd__json_validate(text, size);
  if (v != 0 && v != -EINVAL)
    abort();
  if ((v == 0) != (rv == 0))
    abort();

  const char *cmd = (const char *)1;
  size_t cmdlen = 0;
  int vc = herd__json_validate_cmd(text, size, &cmd, &cmdlen);
  if (vc != v)
    abort();
  if (vc == 0 && (cmd != r.val[0] || (cmd && cmdlen != r.vlen[0])))
    abort();

  size_t lead = 0;
  while (lead < size && is_ws(data[lead]))
    lead++;
  int starts_object = lead < size && data[lead] == '{';
  for (int k = 0; k < NKEYS; k++) {
    const char *val = NULL;
    size_t vlen = 0;
    int m = herd__json_member(text, size, keys[k], &val, &vlen);
    if (m != 1 && m != 0 && m != -EINVAL)
      abort();
    if (rv == 0) {
      /* a valid text: found exactly when the reference found it */
      if (m != (r.val[k] ? 1 : 0))
        abort();
      if (m == 1 && (val != r.val[k] || vlen != r.vlen[k]))
        abort();
      if (m == 1 && herd__json_validate(val, vlen) != 0)
        abort(); /* a member's value is one JSON text */
      if (m == 1 && val[0] == '"')
        check_str(val, vlen);
    } else if (m != -EINVAL) {
      abort(); /* a text that is not JSON is malformed */
    }
  }
  if (!starts_object && rv == 0 && r.object)
    abort();

  /* herd_json_parse: the same language, the same members */
  herd_val_t *t = NULL;
  int pr = herd_json_parse(text, size, &t, NULL);
  if (pr != 0 && pr != HERD_EJSON && pr != HERD_EJSONDEPTH && pr != -ENOMEM)
    abort();
  if ((pr == 0) != (rv == 0) && pr != -ENOMEM)
    abort();
  for (int k = 0; pr == 0 && k < NKEYS; k++) {
    const herd_val_t *m = t->type == HERD_VAL_OBJECT ? herd_val_obj_get(t, keys[k]) : NULL;
    if ((m != NULL) != (r.val[k] != NULL))
      abort();
    if (m && (m->type == HERD_VAL_STRING) != (r.val[k][0] == '"'))
      abort();
  }
  herd_val_free(t);

  /* The input as a string token of its own, when it is one. */
  size_t end = 0, nu;
  int tok = size > 0 && data[0] == '"' &&
            ref_string(data, size, &end, NULL, 0, &nu) == 0 && end == size;
  char dummy;
  if ((herd__json_str(text, size, &dummy, 0) >= 0) != tok)
    abort();
  if (tok)
    check_str(text, size);
  return 0;
}
