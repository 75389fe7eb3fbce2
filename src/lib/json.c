/*
 * json.c - libherd's one JSON grammar: the tokens (whitespace, strings,
 * numbers, literals) and one iterative scan of a whole text, which
 * validates (the channel's hot path: no tree, no allocation below 512
 * levels) and feeds a builder when given one (herd_json_parse in
 * jsonparse.c, herd_v8_from_json in v8ser_jdoc.c). RFC 8259 as V8's
 * JSON.parse reads it; json.h says how bytes that are not UTF-8 are read.
 *
 * Keys are matched as JSON.parse sees them: after decoding escapes
 * ("\u0063md" is "cmd"), and of duplicate keys the last one counts.
 */
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "internal.h"
#include "json.h"

static inline const char *skip_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    p++;
  return p;
}

static inline int is_digit(const char *p, const char *end) {
  return p < end && *p >= '0' && *p <= '9';
}

/* Does any of these 8 bytes end a plain run inside a string: a quote, a
 * backslash, or a control character? (Word-at-a-time tests: a byte is
 * flagged when v ^ c has a zero byte, or when it is below 0x20.) */
static inline int special8(uint64_t v) {
  const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  uint64_t q = v ^ (ones * 0x22), b = v ^ (ones * 0x5c);
  uint64_t hit = ((q - ones) & ~q) | ((b - ones) & ~b) | ((v - ones * 0x20) & ~v);
  return (hit & highs) != 0;
}

/* Past a run of plain bytes (not '"', '\\' or a control character) from
 * q: 16 at a time with SSE2 (every x86-64), 8 at a time otherwise, then
 * byte by byte. Strings are most of the bytes of a big message. */
static inline const char *plain_run(const char *q, const char *end) {
#ifdef __SSE2__
  const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
                ctl = _mm_set1_epi8(0x1f);
  while (end - q >= 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
    __m128i hit = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
        _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl)); /* v <= 0x1f */
    int mask = _mm_movemask_epi8(hit);
    if (mask)
      return q + __builtin_ctz((unsigned)mask);
    q += 16;
  }
#endif
  while (end - q >= 8) {
    uint64_t v;
    memcpy(&v, q, 8);
    if (special8(v))
      break;
    q += 8;
  }
  while (q < end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20)
    q++;
  return q;
}

static inline int is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

/* A string token at *pp ('"'): 0 with *pp past its closing quote and
 * *esc set if it holds an escape; -1 with *pp at the fault. Bytes >= 0x80
 * are plain: ill-formed UTF-8 is U+FFFD to the reader, not an error. */
static inline int scan_string(const char **pp, const char *end, int *esc) {
  const char *p = *pp + 1;
  *esc = 0;
  while (p < end) {
    unsigned char c = (unsigned char)*p;
    if (c == '"') {
      *pp = p + 1;
      return 0;
    }
    if (c < 0x20)
      break; /* raw control characters are not allowed */
    if (c == '\\') {
      *esc = 1;
      if (++p >= end)
        break;
      if (*p == 'u') {
        if (end - p < 5 || !is_hex(p[1]) || !is_hex(p[2]) || !is_hex(p[3]) ||
            !is_hex(p[4]))
          break;
        p += 5;
      } else if (*p && strchr("\"\\/bfnrt", *p)) {
        p++;
      } else {
        break;
      }
      continue;
    }
    p = plain_run(p + 1, end);
  }
  *pp = p;
  return -1;
}

/* A number token at *pp: 0 with *pp past it, or -1 with *pp at the
 * fault. */
static inline int scan_number(const char **pp, const char *end) {
  const char *p = *pp;
  if (p < end && *p == '-')
    p++;
  if (!is_digit(p, end))
    goto fail;
  if (*p == '0')
    p++;
  else
    while (is_digit(p, end))
      p++;
  if (p < end && *p == '.') {
    if (!is_digit(++p, end))
      goto fail;
    while (is_digit(p, end))
      p++;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-'))
      p++;
    if (!is_digit(p, end))
      goto fail;
    while (is_digit(p, end))
      p++;
  }
  *pp = p;
  return 0;
fail:
  *pp = p;
  return -1;
}

/* Is the key token k[0..n) (quotes included) the ASCII key (klen bytes)
 * once its escapes are decoded? */
static int key_is(const char *k, size_t n, int esc, const char *key,
                  size_t klen) {
  if (!esc)
    return n == klen + 2 && memcmp(k + 1, key, klen) == 0;
  char buf[16]; /* our keys are short: a longer decoding never matches */
  size_t d = herd__json_unescape(k + 1, n - 2, buf, sizeof buf);
  return d == klen && klen <= sizeof buf && memcmp(buf, key, klen) == 0;
}

/* The kind of scalar at p, and its end: 0, or -1 (*pp at the fault). */
static inline int scan_scalar(const char **pp, const char *end, int *type,
                              int *esc) {
  static const char *const lit[] = {"null", "false", "true"};
  const char *p = *pp;
  *esc = 0;
  switch (*p) {
  case '"':
    *type = HERD__J_STR;
    return scan_string(pp, end, esc);
  case 'n':
  case 'f':
  case 't': {
    *type = *p == 'n' ? HERD__J_NULL : *p == 'f' ? HERD__J_FALSE : HERD__J_TRUE;
    size_t n = strlen(lit[*type]);
    if ((size_t)(end - p) < n || memcmp(p, lit[*type], n) != 0)
      return -1;
    *pp = p + n;
    return 0;
  }
  default:
    *type = HERD__J_NUM;
    return scan_number(pp, end);
  }
}

int herd__json_scan(struct herd__jscan *s) {
  const char *p = s->text, *end = s->text + s->len, *tok, *mstart = NULL;
  const struct herd__jsink *k = s->sink;
  /* one bit per open container: set for an object */
  uint8_t small[HERD_JSON_MAX_DEPTH / 8], *objs = small;
  unsigned depth = 0;
  int rc = -EINVAL, match = 0, type, esc;
  s->is_object = 0;
  s->val = NULL;
  s->vlen = 0;
  s->fault = 0;
  if (s->max_depth > 8 * sizeof small && !(objs = malloc(s->max_depth / 8 + 1)))
    return -ENOMEM;
value:
  p = skip_ws(p, end);
  if (p >= end)
    goto fail;
  if (match && depth == 1)
    mstart = p; /* the value of the member looked for */
  if (*p == '{' || *p == '[') {
    int obj = *p == '{';
    if (depth >= s->max_depth) {
      rc = HERD_EJSONDEPTH;
      goto fail;
    }
    if (k && (rc = k->open(s->ctx, obj ? HERD__J_OBJ : HERD__J_ARR,
                           (size_t)(p - s->text))) < 0)
      goto fail;
    rc = -EINVAL;
    if (obj)
      objs[depth / 8] |= (uint8_t)(1u << (depth % 8));
    else
      objs[depth / 8] &= (uint8_t)~(1u << (depth % 8));
    if (depth++ == 0)
      s->is_object = obj;
    p = skip_ws(p + 1, end);
    if (p < end && *p == (obj ? '}' : ']'))
      goto close;
    if (obj)
      goto key;
    goto value;
  }
  tok = p;
  if (scan_scalar(&p, end, &type, &esc) < 0)
    goto fail;
  if (k && (rc = k->scalar(s->ctx, type, tok, (size_t)(p - tok), esc,
                           (size_t)(tok - s->text))) < 0) {
    p = tok;
    goto fail;
  }
  rc = -EINVAL;
  goto after;
key:
  if (p >= end || *p != '"')
    goto fail;
  tok = p;
  if (scan_string(&p, end, &esc) < 0)
    goto fail;
  if (depth == 1)
    match = s->key && key_is(tok, (size_t)(p - tok), esc, s->key, s->klen);
  if (k && (rc = k->key(s->ctx, tok, (size_t)(p - tok), esc,
                        (size_t)(tok - s->text))) < 0) {
    p = tok;
    goto fail;
  }
  rc = -EINVAL;
  p = skip_ws(p, end);
  if (p >= end || *p != ':')
    goto fail;
  p++;
  goto value;
close:
  p++;
  depth--;
  if (k && (rc = k->close(s->ctx)) < 0)
    goto fail;
  rc = -EINVAL;
after:
  if (match && depth == 1) {
    /* as JSON.parse: the last of duplicate keys wins */
    s->val = mstart;
    s->vlen = (size_t)(p - mstart);
    match = 0;
  }
  p = skip_ws(p, end);
  if (depth == 0) {
    if (p == end)
      rc = 0;
    goto fail; /* (or done) */
  }
  if (p >= end)
    goto fail;
  if (*p == ',') {
    p = skip_ws(p + 1, end);
    if (objs[(depth - 1) / 8] & (1u << ((depth - 1) % 8)))
      goto key;
    goto value;
  }
  if (*p == ((objs[(depth - 1) / 8] & (1u << ((depth - 1) % 8))) ? '}' : ']'))
    goto close;
fail:
  if (rc < 0)
    s->fault = (size_t)(p - s->text);
  if (objs != small)
    free(objs);
  return rc;
}

/* ---- the channel's calls ---------------------------------------------- */

int herd__json_validate_cmd(const char *text, size_t len, const char **cmd,
                            size_t *cmdlen) {
  struct herd__jscan s = {.text = text, .len = len,
                          .max_depth = HERD_JSON_MAX_DEPTH,
                          .key = cmd ? "cmd" : NULL, .klen = 3};
  if (herd__json_scan(&s) < 0)
    return -EINVAL;
  if (cmd) {
    *cmd = s.val;
    *cmdlen = s.vlen;
  }
  return 0;
}

int herd__json_validate(const char *text, size_t len) {
  return herd__json_validate_cmd(text, len, NULL, NULL);
}

int herd__json_member(const char *text, size_t len, const char *key,
                      const char **val, size_t *vlen) {
  struct herd__jscan s = {.text = text, .len = len,
                          .max_depth = HERD_JSON_MAX_DEPTH, .key = key,
                          .klen = strlen(key)};
  if (herd__json_scan(&s) < 0)
    return -EINVAL;
  if (!s.val)
    return 0;
  *val = s.val;
  *vlen = s.vlen;
  return 1;
}

/* ---- decoding ---------------------------------------------------------- */

static uint32_t hex4(const char *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++)
    v = v << 4 | (uint32_t)herd__hexval(p[i]);
  return v;
}

/* n bytes at out[d..], as many as fit below cap. */
static inline void put(char *out, size_t cap, size_t d, const void *p,
                       size_t n) {
  if (d < cap)
    memcpy(out + d, p, n < cap - d ? n : cap - d);
}

size_t herd__json_unescape(const char *s, size_t n, char *out, size_t cap) {
  const uint8_t *u = (const uint8_t *)s;
  size_t i = 0, d = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && u[j] != '\\' && u[j] < 0x80)
      j++;
    if (j > i) { /* a run of ASCII */
      put(out, cap, d, s + i, j - i);
      d += j - i;
      i = j;
      continue;
    }
    uint32_t cp;
    uint8_t b[4];
    if (u[i] == '\\') {
      char c = s[i + 1];
      i += 2;
      cp = (uint8_t)c;
      switch (c) {
      case 'b': cp = '\b'; break;
      case 'f': cp = '\f'; break;
      case 'n': cp = '\n'; break;
      case 'r': cp = '\r'; break;
      case 't': cp = '\t'; break;
      case 'u':
        cp = hex4(s + i);
        i += 4;
        if (cp >= 0xd800 && cp <= 0xdbff && n - i >= 6 && s[i] == '\\' &&
            s[i + 1] == 'u') {
          uint32_t lo = hex4(s + i + 2);
          if (lo >= 0xdc00 && lo <= 0xdfff) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            i += 6;
          }
        }
        break; /* a lone surrogate stays: WTF-8 */
      default: break; /* '"', '\\', '/' stand for themselves */
      }
    } else {
      size_t m = herd__utf8_next(u + i, n - i, 0, &cp);
      if (cp != HERD__UTF8_FAULT) {
        put(out, cap, d, s + i, m);
        d += m;
        i += m;
        continue;
      }
      cp = 0xfffd; /* the maximal subpart, as the WHATWG decoder */
      i += m;
    }
    size_t m = herd__utf8_put(b, cp);
    put(out, cap, d, b, m);
    d += m;
  }
  return d;
}

ssize_t herd__json_str(const char *text, size_t len, char *out, size_t cap) {
  const char *p = text;
  int esc;
  if (len < 2 || *p != '"' || scan_string(&p, text + len, &esc) < 0 ||
      p != text + len)
    return -EINVAL;
  return (ssize_t)herd__json_unescape(text + 1, len - 2, out, cap);
}

int herd__json_number(const char *tok, size_t len, double *out) {
  const char *p = tok + (*tok == '-');
  size_t nd = len - (size_t)(p - tok), i = 0;
  if (nd <= 15) { /* an integer this short is exact in a double */
    uint64_t v = 0;
    while (i < nd && p[i] >= '0' && p[i] <= '9')
      v = v * 10 + (uint64_t)(p[i++] - '0');
    if (i == nd) {
      *out = *tok == '-' ? -(double)v : (double)v; /* -0 stays -0 */
      return 0;
    }
  }
  /* strtod wants a NUL: a copy (every digit counts for the rounding) */
  char sb[64], *b = sb;
  if (len >= sizeof sb && !(b = malloc(len + 1)))
    return -ENOMEM;
  memcpy(b, tok, len);
  b[len] = '\0';
  *out = herd__v8_strtod(b); /* 1e400 is Infinity, as in JSON.parse */
  if (b != sb)
    free(b);
  return 0;
}
