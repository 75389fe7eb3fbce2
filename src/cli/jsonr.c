/*
 * jsonr.c - the JSON tree reader and string builder of jsonr.h.
 *
 * The parser is recursive descent bounded by JV_MAX_DEPTH. Arrays and
 * objects hold their children by value in one growing array, so a tree
 * is a few large allocations rather than one per value. On failure the
 * partial tree is always in a state jv_clear can free: a child slot is
 * counted before it is filled.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonr.h"

struct jkey {
  char *s;
  size_t len;
};

struct jv {
  int type;
  union {
    int b;
    double n;
    struct {
      char *s;
      size_t len;
    } str;
    struct {
      struct jv *items;
      struct jkey *keys; /* JV_OBJ only: keys[i] names items[i] */
      size_t n, cap;
    } c;
  } u;
};

struct ps {
  const char *p, *end;
};

/* ---- UTF-8 ---- */

/* The second-byte ranges exclude overlong forms, surrogates (ED A0..BF)
 * and code points past U+10FFFF (RFC 3629's table). */
size_t jv_utf8_len(const unsigned char *s, size_t n, size_t *bad) {
  unsigned c = s[0];
  unsigned lo = 0x80, hi = 0xbf;
  size_t need;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    need = 1;
  else if (c >= 0xe0 && c <= 0xef) {
    need = 2;
    if (c == 0xe0)
      lo = 0xa0;
    else if (c == 0xed)
      hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    need = 3;
    if (c == 0xf0)
      lo = 0x90;
    else if (c == 0xf4)
      hi = 0x8f;
  } else {
    *bad = 1;
    return 0;
  }
  for (size_t i = 1; i <= need; i++) {
    if (i >= n || s[i] < lo || s[i] > hi) {
      *bad = i;
      return 0;
    }
    lo = 0x80;
    hi = 0xbf;
  }
  return need + 1;
}

/* Encode code point cp (a scalar value) at out if out is not NULL;
 * returns the byte count. */
static size_t utf8_put(char *out, uint32_t cp) {
  unsigned char b[4];
  size_t n;
  if (cp < 0x80) {
    b[0] = (unsigned char)cp;
    n = 1;
  } else if (cp < 0x800) {
    b[0] = (unsigned char)(0xc0 | cp >> 6);
    b[1] = (unsigned char)(0x80 | (cp & 0x3f));
    n = 2;
  } else if (cp < 0x10000) {
    b[0] = (unsigned char)(0xe0 | cp >> 12);
    b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
    b[2] = (unsigned char)(0x80 | (cp & 0x3f));
    n = 3;
  } else {
    b[0] = (unsigned char)(0xf0 | cp >> 18);
    b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
    b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
    b[3] = (unsigned char)(0x80 | (cp & 0x3f));
    n = 4;
  }
  if (out)
    memcpy(out, b, n);
  return n;
}

/* ---- parser ---- */

static void jv_clear(struct jv *v) {
  if (v->type == JV_STR) {
    free(v->u.str.s);
  } else if (v->type == JV_ARR || v->type == JV_OBJ) {
    for (size_t i = 0; i < v->u.c.n; i++) {
      jv_clear(&v->u.c.items[i]);
      if (v->type == JV_OBJ)
        free(v->u.c.keys[i].s);
    }
    free(v->u.c.items);
    free(v->u.c.keys);
  }
  v->type = JV_NULL;
}

static void skip_ws(struct ps *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' ||
                             *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

static int hex4(const char *s, uint32_t *out) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (uint32_t)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (uint32_t)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (uint32_t)(c - 'A' + 10);
    else
      return -1;
  }
  *out = v;
  return 0;
}

/* Decode the string body [s, end) (between the quotes, already scanned:
 * no raw quote, control character or dangling backslash) into out, or
 * only count the bytes if out is NULL. Returns the length, or -1 on a bad
 * escape. Run twice (count, then write) because U+FFFD for one bad byte
 * is longer than the byte, so the input length does not bound the
 * output. */
static long decode_str(const char *s, const char *end, char *out) {
  size_t n = 0;
  while (s < end) {
    unsigned char c = (unsigned char)*s;
    if (c == '\\') {
      char e = s[1];
      s += 2;
      char one;
      switch (e) {
      case '"': one = '"'; break;
      case '\\': one = '\\'; break;
      case '/': one = '/'; break;
      case 'b': one = '\b'; break;
      case 'f': one = '\f'; break;
      case 'n': one = '\n'; break;
      case 'r': one = '\r'; break;
      case 't': one = '\t'; break;
      case 'u': {
        uint32_t cp, lo;
        if (end - s < 4 || hex4(s, &cp) < 0)
          return -1;
        s += 4;
        if (cp >= 0xd800 && cp <= 0xdbff && end - s >= 6 && s[0] == '\\' &&
            s[1] == 'u' && hex4(s + 2, &lo) == 0 && lo >= 0xdc00 &&
            lo <= 0xdfff) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          s += 6;
        } else if (cp >= 0xd800 && cp <= 0xdfff) {
          /* a lone surrogate: the grammar allows it, UTF-8 cannot hold
           * it (RFC 8259 section 8.2) */
          cp = 0xfffd;
        }
        n += utf8_put(out ? out + n : NULL, cp);
        continue;
      }
      default:
        return -1;
      }
      if (out)
        out[n] = one;
      n++;
      continue;
    }
    size_t bad = 0, k = jv_utf8_len((const unsigned char *)s, (size_t)(end - s), &bad);
    if (k) {
      if (out)
        memcpy(out + n, s, k);
      n += k;
      s += k;
    } else {
      n += utf8_put(out ? out + n : NULL, 0xfffd);
      s += bad;
    }
  }
  return (long)n;
}

/* At the opening quote: a string into *s, *len. Returns 0 or -1. */
static int parse_str(struct ps *ps, char **s, size_t *len) {
  const char *start = ++ps->p;
  for (;;) {
    if (ps->p >= ps->end)
      return -1;
    unsigned char c = (unsigned char)*ps->p;
    if (c == '"')
      break;
    if (c < 0x20)
      return -1;
    if (c == '\\') {
      if (ps->end - ps->p < 2)
        return -1;
      ps->p++;
    }
    ps->p++;
  }
  const char *end = ps->p++;
  long n = decode_str(start, end, NULL);
  if (n < 0)
    return -1;
  char *buf = malloc((size_t)n + 1);
  if (!buf)
    return -1;
  (void)decode_str(start, end, buf);
  buf[n] = '\0';
  *s = buf;
  *len = (size_t)n;
  return 0;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* RFC 8259's number grammar checked here; strtod converts. herd never
 * calls setlocale, so strtod's decimal point is '.'. */
static int parse_num(struct ps *ps, double *out) {
  const char *s = ps->p, *p = s;
  if (p < ps->end && *p == '-')
    p++;
  if (p >= ps->end || !is_digit(*p))
    return -1;
  if (*p == '0')
    p++;
  else
    while (p < ps->end && is_digit(*p))
      p++;
  if (p < ps->end && *p == '.') {
    p++;
    if (p >= ps->end || !is_digit(*p))
      return -1;
    while (p < ps->end && is_digit(*p))
      p++;
  }
  if (p < ps->end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < ps->end && (*p == '+' || *p == '-'))
      p++;
    if (p >= ps->end || !is_digit(*p))
      return -1;
    while (p < ps->end && is_digit(*p))
      p++;
  }
  /* text is not NUL-terminated: strtod gets a copy */
  size_t n = (size_t)(p - s);
  char small[64], *buf = small;
  if (n >= sizeof small && !(buf = malloc(n + 1)))
    return -1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  errno = 0;
  double v = strtod(buf, NULL);
  int overflow = errno == ERANGE && (v > 1 || v < -1);
  if (buf != small)
    free(buf);
  if (overflow) /* ±HUGE_VAL: no JSON number could say it back */
    return -1;
  *out = v;
  ps->p = p;
  return 0;
}

static int lit(struct ps *ps, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
    return -1;
  ps->p += n;
  return 0;
}

/* Room for one more child in a container. */
static int grow(struct jv *v) {
  if (v->u.c.n < v->u.c.cap)
    return 0;
  size_t cap = v->u.c.cap ? v->u.c.cap * 2 : 4;
  struct jv *items = realloc(v->u.c.items, cap * sizeof *items);
  if (!items)
    return -1;
  v->u.c.items = items;
  if (v->type == JV_OBJ) {
    struct jkey *keys = realloc(v->u.c.keys, cap * sizeof *keys);
    if (!keys)
      return -1;
    v->u.c.keys = keys;
  }
  v->u.c.cap = cap;
  return 0;
}

static int parse_value(struct ps *ps, struct jv *v, int depth);

/* At '[' or '{'. */
static int parse_container(struct ps *ps, struct jv *v, int depth) {
  char close = *ps->p == '[' ? ']' : '}';
  if (depth >= JV_MAX_DEPTH)
    return -1;
  v->type = close == ']' ? JV_ARR : JV_OBJ;
  memset(&v->u.c, 0, sizeof v->u.c);
  ps->p++;
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == close) {
    ps->p++;
    return 0;
  }
  for (;;) {
    if (grow(v) < 0)
      return -1;
    struct jv *item = &v->u.c.items[v->u.c.n];
    item->type = JV_NULL;
    if (v->type == JV_OBJ) {
      struct jkey *k = &v->u.c.keys[v->u.c.n];
      if (ps->p >= ps->end || *ps->p != '"' || parse_str(ps, &k->s, &k->len) < 0)
        return -1;
      v->u.c.n++;
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p != ':')
        return -1;
      ps->p++;
      skip_ws(ps);
    } else {
      v->u.c.n++;
    }
    if (parse_value(ps, item, depth + 1) < 0)
      return -1;
    skip_ws(ps);
    if (ps->p >= ps->end)
      return -1;
    if (*ps->p == close) {
      ps->p++;
      return 0;
    }
    if (*ps->p != ',')
      return -1;
    ps->p++;
    skip_ws(ps);
  }
}

/* A value at ps->p (whitespace skipped) into *v (JV_NULL on entry). */
static int parse_value(struct ps *ps, struct jv *v, int depth) {
  if (ps->p >= ps->end)
    return -1;
  switch (*ps->p) {
  case '{':
  case '[':
    return parse_container(ps, v, depth);
  case '"':
    if (parse_str(ps, &v->u.str.s, &v->u.str.len) < 0)
      return -1;
    v->type = JV_STR;
    return 0;
  case 't':
    v->type = JV_BOOL;
    v->u.b = 1;
    return lit(ps, "true");
  case 'f':
    v->type = JV_BOOL;
    v->u.b = 0;
    return lit(ps, "false");
  case 'n':
    return lit(ps, "null");
  default:
    v->type = JV_NUM;
    return parse_num(ps, &v->u.n);
  }
}

jv *jv_parse(const char *text, size_t len) {
  if (!text)
    return NULL;
  struct jv *v = malloc(sizeof *v);
  if (!v)
    return NULL;
  v->type = JV_NULL;
  struct ps ps = {text, text + len};
  skip_ws(&ps);
  if (parse_value(&ps, v, 0) < 0)
    goto fail;
  skip_ws(&ps);
  if (ps.p != ps.end)
    goto fail;
  return v;
fail:
  jv_free(v);
  return NULL;
}

void jv_free(jv *v) {
  if (!v)
    return;
  jv_clear(v);
  free(v);
}

/* ---- access ---- */

int jv_type(const jv *v) { return v ? v->type : JV_NULL; }

const jv *jv_get(const jv *obj, const char *key) {
  if (!obj || obj->type != JV_OBJ || !key)
    return NULL;
  size_t n = strlen(key);
  /* from the end: the last of duplicate keys wins, as in JSON.parse */
  for (size_t i = obj->u.c.n; i-- > 0;) {
    const struct jkey *k = &obj->u.c.keys[i];
    if (k->len == n && memcmp(k->s, key, n) == 0)
      return &obj->u.c.items[i];
  }
  return NULL;
}

size_t jv_key_len(const jv *obj, size_t i) {
  return obj && obj->type == JV_OBJ && i < obj->u.c.n ? obj->u.c.keys[i].len : 0;
}

size_t jv_len(const jv *v) {
  return v && (v->type == JV_ARR || v->type == JV_OBJ) ? v->u.c.n : 0;
}

const jv *jv_at(const jv *arr, size_t i) {
  return i < jv_len(arr) ? &arr->u.c.items[i] : NULL;
}

const char *jv_key_at(const jv *obj, size_t i) {
  return obj && obj->type == JV_OBJ && i < obj->u.c.n ? obj->u.c.keys[i].s
                                                       : NULL;
}

double jv_num(const jv *v, double dflt) {
  return v && v->type == JV_NUM ? v->u.n : dflt;
}

int jv_int(const jv *v, long long min, long long max, long long *out) {
  if (!v || v->type != JV_NUM)
    return 0;
  double d = v->u.n;
  /* [-2^63, 2^63) holds every long long, and both ends are exact
   * doubles: inside it the cast is defined, and a whole d survives it */
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
    return -1;
  long long x = (long long)d;
  if ((double)x != d || x < min || x > max)
    return -1;
  *out = x;
  return 1;
}

const char *jv_str(const jv *v, const char *dflt) {
  return v && v->type == JV_STR ? v->u.str.s : dflt;
}

size_t jv_strlen(const jv *v) {
  return v && v->type == JV_STR ? v->u.str.len : 0;
}

int jv_bool(const jv *v, int dflt) {
  return v && v->type == JV_BOOL ? v->u.b : dflt;
}

/* ---- writer ---- */

void jw_init(struct jw *w) {
  w->buf = NULL;
  w->len = w->cap = 0;
  w->err = 0;
}

void jw_free(struct jw *w) {
  free(w->buf);
  jw_init(w);
}

/* Room for n more bytes and the NUL; 0, or -1 with err set. */
static int reserve(struct jw *w, size_t n) {
  if (w->err)
    return -1;
  if (n < w->cap - w->len && w->buf)
    return 0;
  if (n > SIZE_MAX / 2 - w->len - 1)
    goto fail;
  size_t cap = w->cap ? w->cap : 256;
  while (cap - w->len <= n)
    cap *= 2;
  char *buf = realloc(w->buf, cap);
  if (!buf)
    goto fail;
  w->buf = buf;
  w->cap = cap;
  buf[w->len] = '\0'; /* a first allocation: buf is a string from now on */
  return 0;
fail:
  w->err = 1;
  return -1;
}

void jw_raw(struct jw *w, const char *s, size_t n) {
  if (reserve(w, n) < 0 || n == 0)
    return;
  memcpy(w->buf + w->len, s, n);
  w->len += n;
  w->buf[w->len] = '\0';
}

void jw_printf(struct jw *w, const char *fmt, ...) {
  if (reserve(w, 0) < 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(w->buf + w->len, w->cap - w->len, fmt, ap);
  va_end(ap);
  if (n < 0) {
    w->buf[w->len] = '\0';
    w->err = 1;
    return;
  }
  if ((size_t)n >= w->cap - w->len) {
    /* did not fit: grow and format again */
    if (reserve(w, (size_t)n) < 0) {
      w->buf[w->len] = '\0';
      return;
    }
    va_start(ap, fmt);
    (void)vsnprintf(w->buf + w->len, w->cap - w->len, fmt, ap);
    va_end(ap);
  }
  w->len += (size_t)n;
}

void jw_str(struct jw *w, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  if (n == 0) {
    /* s may be NULL then: no arithmetic on it */
    jw_raw(w, "\"\"", 2);
    return;
  }
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  jw_raw(w, "\"", 1);
  while (p < end && !w->err) {
    /* copy the longest run that needs no escape in one go */
    const unsigned char *run = p;
    size_t k = 0, bad = 0;
    while (p < end && *p >= 0x20 && *p != '"' && *p != '\\' &&
           (k = jv_utf8_len(p, (size_t)(end - p), &bad)) != 0)
      p += k;
    if (p > run)
      jw_raw(w, (const char *)run, (size_t)(p - run));
    if (p >= end)
      break;
    char esc[6] = {'\\', 0, 0, 0, 0, 0};
    size_t elen = 2;
    switch (*p) {
    case '"': esc[1] = '"'; break;
    case '\\': esc[1] = '\\'; break;
    case '\n': esc[1] = 'n'; break;
    case '\r': esc[1] = 'r'; break;
    case '\t': esc[1] = 't'; break;
    case '\b': esc[1] = 'b'; break;
    case '\f': esc[1] = 'f'; break;
    default:
      if (*p < 0x20) {
        memcpy(esc + 1, "u00", 3);
        esc[4] = hex[*p >> 4];
        esc[5] = hex[*p & 15];
        elen = 6;
      } else {
        /* ill-formed UTF-8: one U+FFFD for the maximal subpart */
        jw_raw(w, "\xef\xbf\xbd", 3);
        p += bad;
        continue;
      }
    }
    jw_raw(w, esc, elen);
    p++;
  }
  jw_raw(w, "\"", 1);
}
