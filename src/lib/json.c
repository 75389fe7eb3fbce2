/*
 * json.c - a validating JSON scanner, just enough for the channel: check
 * that a line is one JSON text (RFC 8259, as JSON.parse accepts it) and
 * find a top-level member of an object without building a tree.
 *
 * Nesting is bounded (JSON_MAX_DEPTH) so hostile input cannot exhaust
 * the stack. Bytes >= 0x80 inside strings are passed through unchecked,
 * as Node's receiver decodes invalid UTF-8 to U+FFFD rather than failing.
 *
 * Keys are matched as JSON.parse sees them: after decoding escapes
 * ("\u0063md" is "cmd"), and of duplicate keys the last one counts.
 */
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "internal.h"

#define JSON_MAX_DEPTH 512

struct scan {
  const char *p;
  const char *end;
  const char *cmd; /* the top-level "cmd" member's raw value, if any */
  size_t cmdlen;
  int esc;         /* the last string scanned holds an escape */
};

static void skip_ws(struct scan *s) {
  while (s->p < s->end &&
         (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
    s->p++;
}

static int is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
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

static int scan_string(struct scan *s) {
  if (s->p >= s->end || *s->p != '"')
    return -1;
  s->p++;
  s->esc = 0;
  while (s->p < s->end) {
    unsigned char c = (unsigned char)*s->p;
    if (c == '"') {
      s->p++;
      return 0;
    }
    if (c < 0x20)
      return -1; /* raw control characters are not allowed */
    if (c == '\\') {
      s->esc = 1;
      s->p++;
      if (s->p >= s->end)
        return -1;
      switch (*s->p) {
      case '"':
      case '\\':
      case '/':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
        s->p++;
        break;
      case 'u':
        if (s->end - s->p < 5 || !is_hex(s->p[1]) || !is_hex(s->p[2]) ||
            !is_hex(s->p[3]) || !is_hex(s->p[4]))
          return -1;
        s->p += 5;
        break;
      default:
        return -1;
      }
      continue;
    }
    /* Skip a run of plain bytes quickly: 16 at a time with SSE2 (every
     * x86-64), 8 at a time otherwise, then byte by byte. Strings are
     * most of the bytes of a big message. */
    const char *q = s->p + 1;
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
                  ctl = _mm_set1_epi8(0x1f);
    while (s->end - q >= 16) {
      __m128i v = _mm_loadu_si128((const __m128i *)(const void *)q);
      __m128i hit = _mm_or_si128(
          _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
          _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl)); /* v <= 0x1f */
      int mask = _mm_movemask_epi8(hit);
      if (mask) {
        q += __builtin_ctz((unsigned)mask);
        break;
      }
      q += 16;
    }
#endif
    while (s->end - q >= 8) {
      uint64_t v;
      memcpy(&v, q, 8);
      if (special8(v))
        break;
      q += 8;
    }
    while (q < s->end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20)
      q++;
    s->p = q;
  }
  return -1;
}

static int digits(struct scan *s) {
  const char *start = s->p;
  while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
    s->p++;
  return s->p > start ? 0 : -1;
}

static int scan_number(struct scan *s) {
  if (s->p < s->end && *s->p == '-')
    s->p++;
  if (s->p >= s->end)
    return -1;
  if (*s->p == '0')
    s->p++;
  else if (digits(s) < 0)
    return -1;
  if (s->p < s->end && *s->p == '.') {
    s->p++;
    if (digits(s) < 0)
      return -1;
  }
  if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
    s->p++;
    if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
      s->p++;
    if (digits(s) < 0)
      return -1;
  }
  return 0;
}

static int scan_lit(struct scan *s, const char *lit, size_t n) {
  if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
    return -1;
  s->p += n;
  return 0;
}

static int scan_value(struct scan *s, int depth);

/* Is the key just scanned ([k, s->p), quotes included) the ASCII key
 * (klen bytes) once its escapes are decoded? */
static int key_is(const struct scan *s, const char *k, const char *key,
                  size_t klen) {
  size_t n = (size_t)(s->p - k);
  if (!s->esc)
    return n == klen + 2 && memcmp(k + 1, key, klen) == 0;
  char buf[16]; /* our keys are short: a longer decoding never matches */
  ssize_t d = herd__json_str(k, n, buf, sizeof buf);
  return d >= 0 && (size_t)d == klen && klen <= sizeof buf &&
         memcmp(buf, key, klen) == 0;
}

static int scan_container(struct scan *s, int depth, char close) {
  if (depth >= JSON_MAX_DEPTH)
    return -1;
  s->p++; /* '[' or '{' */
  skip_ws(s);
  if (s->p < s->end && *s->p == close) {
    s->p++;
    return 0;
  }
  for (;;) {
    int is_cmd = 0;
    if (close == '}') {
      const char *k = s->p;
      if (scan_string(s) < 0)
        return -1;
      is_cmd = depth == 0 && key_is(s, k, "cmd", 3);
      skip_ws(s);
      if (s->p >= s->end || *s->p != ':')
        return -1;
      s->p++;
      skip_ws(s);
    }
    const char *v = s->p;
    if (scan_value(s, depth + 1) < 0)
      return -1;
    if (is_cmd) {
      /* as JSON.parse: the last of duplicate keys wins */
      s->cmd = v;
      s->cmdlen = (size_t)(s->p - v);
    }
    skip_ws(s);
    if (s->p >= s->end)
      return -1;
    if (*s->p == ',') {
      s->p++;
      skip_ws(s);
      continue;
    }
    if (*s->p == close) {
      s->p++;
      return 0;
    }
    return -1;
  }
}

static int scan_value(struct scan *s, int depth) {
  if (s->p >= s->end)
    return -1;
  switch (*s->p) {
  case '{':
    return scan_container(s, depth, '}');
  case '[':
    return scan_container(s, depth, ']');
  case '"':
    return scan_string(s);
  case 't':
    return scan_lit(s, "true", 4);
  case 'f':
    return scan_lit(s, "false", 5);
  case 'n':
    return scan_lit(s, "null", 4);
  default:
    return scan_number(s);
  }
}

int herd__json_validate_cmd(const char *text, size_t len, const char **cmd,
                            size_t *cmdlen) {
  struct scan s = {text, text + len, NULL, 0, 0};
  skip_ws(&s);
  if (scan_value(&s, 0) < 0)
    return -EINVAL;
  skip_ws(&s);
  if (s.p != s.end)
    return -EINVAL;
  if (cmd) {
    *cmd = s.cmd;
    *cmdlen = s.cmdlen;
  }
  return 0;
}

int herd__json_validate(const char *text, size_t len) {
  return herd__json_validate_cmd(text, len, NULL, NULL);
}

/* s at an object's closing '}': r if only whitespace follows (one JSON
 * text), else -EINVAL. */
static int after_object(struct scan *s, int r) {
  s->p++;
  skip_ws(s);
  return s->p == s->end ? r : -EINVAL;
}

int herd__json_member(const char *text, size_t len, const char *key,
                      const char **val, size_t *vlen) {
  struct scan s = {text, text + len, NULL, 0, 0};
  size_t klen = strlen(key);
  int found = 0;
  skip_ws(&s);
  if (s.p >= s.end || *s.p != '{')
    return 0;
  s.p++;
  skip_ws(&s);
  if (s.p < s.end && *s.p == '}')
    return after_object(&s, 0);
  for (;;) {
    const char *ks = s.p;
    if (scan_string(&s) < 0)
      return -EINVAL;
    int match = key_is(&s, ks, key, klen);
    skip_ws(&s);
    if (s.p >= s.end || *s.p != ':')
      return -EINVAL;
    s.p++;
    skip_ws(&s);
    const char *vs = s.p;
    if (scan_value(&s, 1) < 0)
      return -EINVAL;
    if (match) {
      /* as JSON.parse: the last of duplicate keys wins, so go on */
      *val = vs;
      *vlen = (size_t)(s.p - vs);
      found = 1;
    }
    skip_ws(&s);
    if (s.p >= s.end)
      return -EINVAL;
    if (*s.p == ',') {
      s.p++;
      skip_ws(&s);
      continue;
    }
    if (*s.p == '}')
      return after_object(&s, found);
    return -EINVAL;
  }
}

static int hex4(const char *p) {
  int v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    v = v * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  return v;
}

/* Append code point cp as UTF-8 at out[d..] (what fits below cap);
 * returns its length. */
static size_t put_utf8(char *out, size_t cap, size_t d, unsigned cp) {
  char b[4];
  size_t n;
  if (cp < 0x80) {
    b[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    b[0] = (char)(0xc0 | cp >> 6);
    b[1] = (char)(0x80 | (cp & 0x3f));
    n = 2;
  } else if (cp < 0x10000) {
    b[0] = (char)(0xe0 | cp >> 12);
    b[1] = (char)(0x80 | (cp >> 6 & 0x3f));
    b[2] = (char)(0x80 | (cp & 0x3f));
    n = 3;
  } else {
    b[0] = (char)(0xf0 | cp >> 18);
    b[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    b[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    b[3] = (char)(0x80 | (cp & 0x3f));
    n = 4;
  }
  for (size_t i = 0; i < n && d + i < cap; i++)
    out[d + i] = b[i];
  return n;
}

ssize_t herd__json_str(const char *text, size_t len, char *out, size_t cap) {
  struct scan s = {text, text + len, NULL, 0, 0};
  if (scan_string(&s) < 0 || s.p != s.end)
    return -EINVAL;
  size_t d = 0;
  const char *p = text + 1, *end = text + len - 1;
  while (p < end) {
    if (*p != '\\') {
      if (d < cap)
        out[d] = *p;
      d++;
      p++;
      continue;
    }
    char c = p[1];
    p += 2;
    switch (c) {
    case 'b': c = '\b'; break;
    case 'f': c = '\f'; break;
    case 'n': c = '\n'; break;
    case 'r': c = '\r'; break;
    case 't': c = '\t'; break;
    case 'u': {
      unsigned cp = (unsigned)hex4(p);
      p += 4;
      if (cp >= 0xd800 && cp <= 0xdbff && end - p >= 6 && p[0] == '\\' &&
          p[1] == 'u') {
        unsigned lo = (unsigned)hex4(p + 2);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          p += 6;
        }
      }
      if (cp >= 0xd800 && cp <= 0xdfff)
        cp = 0xfffd; /* a lone surrogate: no UTF-8 for it */
      d += put_utf8(out, cap, d, cp);
      continue;
    }
    default: break; /* '"', '\\', '/' stand for themselves */
    }
    if (d < cap)
      out[d] = c;
    d++;
  }
  return (ssize_t)d;
}
