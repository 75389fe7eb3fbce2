/*
 * conf.c - the config file parser of conf.h.
 *
 * Two passes. The first checks the bytes: size, NUL, control characters,
 * UTF-8, line length - so the second, a recursive descent over the
 * grammar, may assume printable text and only counts lines at '\n'.
 * Every error stops at once with one line naming where and what was
 * expected; the partial result is freed.
 *
 * Growing arrays keep no capacity field (the public structs have none):
 * with n elements in use the capacity is 4 or n rounded up to a power of
 * two, so new_cap(n) says when to realloc.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "jsonr.h"

struct cp {
  const char *p, *end;
  int line;
  const char *path;
  char *err;
  size_t errlen;
};

/* Contexts of a value: where it sits decides what it may be. */
enum { AT_KEY, IN_ARRAY, IN_TABLE };

static int verr(struct cp *cp, int line, const char *fmt, va_list ap) {
  if (!cp->errlen)
    return -1;
  int n = line > 0 ? snprintf(cp->err, cp->errlen, "%s:%d: ", cp->path, line)
                   : snprintf(cp->err, cp->errlen, "%s: ", cp->path);
  if (n >= 0 && (size_t)n < cp->errlen)
    vsnprintf(cp->err + n, cp->errlen - (size_t)n, fmt, ap);
  return -1;
}

/* "PATH:LINE: message"; returns -1. */
__attribute__((format(printf, 3, 4))) static int perr(struct cp *cp, int line,
                                                      const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  verr(cp, line, fmt, ap);
  va_end(ap);
  return -1;
}

static int oom(struct cp *cp) { return perr(cp, 0, "out of memory"); }

static size_t new_cap(size_t n) {
  if (n == 0)
    return 4;
  if (n < 4 || (n & (n - 1)))
    return 0;
  return n * 2;
}

/* A piece of the text for a message: up to 32 bytes of [s, s+n), cut at
 * a character boundary, "..." if cut, control characters (from escapes in
 * quoted keys) as '?' so the message stays one line. Returned by value, so
 * several fit in one call: perr(..., "%s %s", shw(a, n).s, Q(b)). */
struct shown {
  char s[36];
};

static struct shown shw(const char *s, size_t n) {
  struct shown r;
  size_t k = n;
  if (k > 32) {
    k = 32;
    while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
      k--;
  }
  for (size_t i = 0; i < k; i++)
    r.s[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
  strcpy(r.s + k, k < n ? "..." : "");
  return r;
}

#define Q(str) (shw((str), strlen(str)).s)

static int is_bare(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int is_space(char c) { return c == ' ' || c == '\t'; }

static void skip_ws(struct cp *cp) {
  while (cp->p < cp->end && is_space(*cp->p))
    cp->p++;
}

/* At the end of the line's content: its end, '\r' of CRLF, or '#'. */
static int at_eol(const struct cp *cp) {
  return cp->p >= cp->end || *cp->p == '\n' || *cp->p == '\r' ||
         *cp->p == '#';
}

/* Length of the word at p (up to space, end of line or one of stop). */
static size_t word_len(const struct cp *cp, const char *stop) {
  const char *q = cp->p;
  while (q < cp->end && *q && !is_space(*q) && *q != '\n' && *q != '\r' &&
         !strchr(stop, *q))
    q++;
  return (size_t)(q - cp->p);
}

/* A word of the text at p for a message. */
#define WORD(cp, stop) (shw((cp)->p, word_len((cp), (stop))).s)

/* After a complete item: only blanks and a comment may follow on the
 * line. Consumes the line end. what names the item for the message. */
static int end_line(struct cp *cp, const char *what) {
  skip_ws(cp);
  if (cp->p < cp->end && *cp->p == '#')
    while (cp->p < cp->end && *cp->p != '\n')
      cp->p++;
  if (cp->p < cp->end && *cp->p == '\r')
    cp->p++; /* the first pass made sure '\n' follows */
  if (cp->p >= cp->end)
    return 0;
  if (*cp->p != '\n')
    return perr(cp, cp->line,
                "unexpected '%s' after %s: expected the end of the line "
                "(or a # comment)",
                WORD(cp, "#"), what);
  cp->p++;
  cp->line++;
  return 0;
}

/* ---- first pass ---- */

static int check_bytes(struct cp *cp) {
  size_t len = (size_t)(cp->end - cp->p);
  if (len > CONF_MAX_FILE)
    return perr(cp, 0, "the file is larger than 1 MiB (%zu bytes): not a "
                       "config file?", len);
  const unsigned char *s = (const unsigned char *)cp->p;
  size_t start = 0; /* of the current line */
  int line = 1;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || s[i] == '\n') {
      size_t n = i - start - (i > start && s[i - 1] == '\r');
      if (n > CONF_MAX_LINE)
        return perr(cp, line, "line longer than 64 KiB (%zu bytes)", n);
      line++;
      start = i + 1;
      continue;
    }
    unsigned char c = s[i];
    if (c == '\r' && i + 1 < len && s[i + 1] == '\n')
      continue;
    if (c == 0)
      return perr(cp, line, "NUL byte: not a text file?");
    if (c == '\r')
      return perr(cp, line, "carriage return without a line feed: line ends "
                            "must be LF or CRLF");
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return perr(cp, line,
                  "control character 0x%02x: write it as an escape in a "
                  "\"...\" string (\\u%04x)",
                  c, c);
    if (c >= 0x80) {
      size_t bad;
      size_t k = jv_utf8_len(s + i, len - i, &bad);
      if (!k)
        return perr(cp, line, "invalid UTF-8 (byte 0x%02x): the file must "
                              "be UTF-8", c);
      i += k - 1;
    }
  }
  return 0;
}

/* ---- values ---- */

static void value_free(struct conf_value *v) {
  free(v->str);
  for (size_t i = 0; i < v->nitems; i++) {
    value_free(&v->items[i]);
    if (v->keys)
      free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  memset(v, 0, sizeof *v);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static size_t put_utf8(char *out, uint32_t cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xc0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xe0 | cp >> 12);
    out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  out[0] = (char)(0xf0 | cp >> 18);
  out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
  out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
  out[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* One escape at *s (just after the backslash; the string's closing quote
 * comes later, and stops a short \u) into out; advances *s. Returns the
 * bytes written, or -1. */
static int unescape(struct cp *cp, const char **s, char *out) {
  char c = *(*s)++;
  switch (c) {
  case '"': *out = '"'; return 1;
  case '\\': *out = '\\'; return 1;
  case 'b': *out = '\b'; return 1;
  case 'f': *out = '\f'; return 1;
  case 'n': *out = '\n'; return 1;
  case 'r': *out = '\r'; return 1;
  case 't': *out = '\t'; return 1;
  case 'u':
  case 'U': {
    int ndig = c == 'u' ? 4 : 8;
    uint32_t v = 0;
    for (int i = 0; i < ndig; i++) {
      int h = hexval((*s)[i]);
      if (h < 0)
        return perr(cp, cp->line, "'\\%c' needs %d hex digits", c, ndig);
      v = v << 4 | (uint32_t)h;
    }
    *s += ndig;
    if (v == 0)
      return perr(cp, cp->line, "\\u0000 (NUL) is not allowed in a string");
    if ((v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff)
      return perr(cp, cp->line,
                  "'\\%c%0*X' is not a Unicode character (a surrogate or "
                  "past 10FFFF)",
                  c, ndig, (unsigned)v);
    return (int)put_utf8(out, v);
  }
  default:
    if (c > 0x20 && c < 0x7f)
      return perr(cp, cp->line,
                  "invalid escape '\\%c' in a string (\\\\ is a backslash; "
                  "'...' strings take none)",
                  c);
    return perr(cp, cp->line, "invalid escape in a string (\\\\ is a "
                              "backslash; '...' strings take none)");
  }
}

/* At a quote: a "basic" or 'literal' string, on one line, into *out. */
static int parse_string(struct cp *cp, char **out) {
  char q = *cp->p++;
  const char *start = cp->p;
  if (cp->end - cp->p >= 2 && cp->p[0] == q && cp->p[1] == q)
    return perr(cp, cp->line,
                "multi-line strings (%c%c%c) are not supported: write one "
                "line (\"...\" takes \\n)",
                q, q, q);
  for (;;) {
    if (cp->p >= cp->end || *cp->p == '\n' || *cp->p == '\r')
      return perr(cp, cp->line, "unterminated string: the closing %c is "
                                "missing on this line", q);
    if (*cp->p == q)
      break;
    /* skip an escaped character, but never the line end */
    if (*cp->p == '\\' && q == '"' && cp->p + 1 < cp->end &&
        cp->p[1] != '\n' && cp->p[1] != '\r')
      cp->p++;
    cp->p++;
  }
  const char *end = cp->p++;
  /* no escape is shorter than what it stands for: the raw length is enough */
  char *buf = malloc((size_t)(end - start) + 1);
  if (!buf)
    return oom(cp);
  size_t n = 0;
  for (const char *s = start; s < end;) {
    if (*s == '\\' && q == '"') {
      s++;
      int k = unescape(cp, &s, buf + n);
      if (k < 0) {
        free(buf);
        return -1;
      }
      n += (size_t)k;
    } else {
      buf[n++] = *s++;
    }
  }
  buf[n] = '\0';
  *out = buf;
  return 0;
}

/* A key: bare, or quoted (not empty). where is "" or " in the inline table
 * of 'K'", for messages. */
static int parse_key(struct cp *cp, char **out, const char *where) {
  if (cp->p < cp->end && (*cp->p == '"' || *cp->p == '\'')) {
    if (parse_string(cp, out) < 0)
      return -1;
    if (!**out) {
      free(*out);
      return perr(cp, cp->line, "empty key \"\"%s", where);
    }
    return 0;
  }
  const char *s = cp->p;
  while (cp->p < cp->end && is_bare(*cp->p))
    cp->p++;
  if (cp->p == s)
    return perr(cp, cp->line,
                "expected a key%s, not '%s' (keys are A-Z a-z 0-9 _ - or "
                "quoted)",
                where, WORD(cp, "}"));
  if (!(*out = strndup(s, (size_t)(cp->p - s))))
    return oom(cp);
  return 0;
}

/* After a key: '=' (dotted keys refused by name). */
static int expect_eq(struct cp *cp, const char *key, const char *where) {
  skip_ws(cp);
  if (cp->p < cp->end && *cp->p == '.') {
    cp->p++;
    if (*where)
      return perr(cp, cp->line, "dotted keys such as '%s.%s' are not "
                                "supported%s", Q(key), WORD(cp, "="), where);
    return perr(cp, cp->line,
                "dotted keys such as '%s.%s' are not supported: use an inline "
                "table, %s = { KEY = VALUE }",
                Q(key), WORD(cp, "="), Q(key));
  }
  if (cp->p >= cp->end || *cp->p != '=')
    return perr(cp, cp->line, "expected '=' after '%s'%s (KEY = VALUE)",
                Q(key), where);
  cp->p++;
  skip_ws(cp);
  return 0;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* TOML's decimal integer: [+-]?(0|[1-9](_?[0-9])*). 1 if s is one (then
 * *out), 0 if not, -1 with a message if out of range. */
static int parse_int(struct cp *cp, const char *s, size_t n, long long *out) {
  size_t i = 0;
  int neg = 0;
  if (i < n && (s[i] == '+' || s[i] == '-'))
    neg = s[i++] == '-';
  if (i >= n || !is_digit(s[i]) || (s[i] == '0' && i + 1 < n))
    return 0;
  unsigned long long v = 0, lim = neg ? (unsigned long long)LLONG_MAX + 1
                                      : (unsigned long long)LLONG_MAX;
  int range = 0;
  for (; i < n; i++) {
    if (s[i] == '_') {
      /* only between digits: the one before is checked by the loop
       * (a digit led), the one after here */
      if (i + 1 >= n || !is_digit(s[i + 1]))
        return 0;
      continue;
    }
    if (!is_digit(s[i]))
      return 0;
    unsigned d = (unsigned)(s[i] - '0');
    if (v > (lim - d) / 10)
      range = 1;
    else
      v = v * 10 + d;
  }
  if (range)
    return perr(cp, cp->line, "integer '%s' is out of range (%lld..%lld)",
                shw(s, n).s, LLONG_MIN, LLONG_MAX);
  /* -(LLONG_MAX + 1) without overflow */
  *out = neg ? (v ? -(long long)(v - 1) - 1 : 0) : (long long)v;
  return 1;
}

static int is_date(const char *s, size_t n) {
  if (n < 10 || s[4] != '-' || s[7] != '-')
    return 0;
  for (int i = 0; i < 10; i++)
    if (i != 4 && i != 7 && !is_digit(s[i]))
      return 0;
  return 1;
}

/* A bare word as a value: an integer, true or false; else say what it
 * looks like. ctx says where ("for 'workers'"). */
static int parse_word(struct cp *cp, struct conf_value *v, const char *ctx,
                      int where) {
  const char *s = cp->p, *q = s;
  while (q < cp->end && (is_bare(*q) || *q == '+' || *q == '.' || *q == ':'))
    q++;
  size_t n = (size_t)(q - s);
  if (n == 4 && !memcmp(s, "true", 4)) {
    v->kind = CONF_BOOL;
    v->boolean = 1;
  } else if (n == 5 && !memcmp(s, "false", 5)) {
    v->kind = CONF_BOOL;
    v->boolean = 0;
  } else {
    int r = n ? parse_int(cp, s, n, &v->num) : 0;
    if (r < 0)
      return -1;
    if (r == 0) {
      const char *w = WORD(cp, ",]}#");
      const char *d = s + (n && (*s == '+' || *s == '-'));
      size_t dn = n - (size_t)(d - s);
      if (memchr(s, ':', n) || is_date(s, n))
        return perr(cp, cp->line, "dates and times such as '%s' are not "
                                  "supported: write a string", w);
      /* a float: only digits, '_', '.', e, E and signs, with '.' or e */
      int num = dn && is_digit(*d), alpha = 0, point = 0, exp = 0;
      for (size_t i = 0; i < dn; i++) {
        if (d[i] == '.')
          point = 1;
        else if (d[i] == 'e' || d[i] == 'E')
          exp = 1;
        else if ((d[i] >= 'a' && d[i] <= 'z') || (d[i] >= 'A' && d[i] <= 'Z'))
          alpha = 1;
      }
      if ((dn == 3 && (!memcmp(d, "inf", 3) || !memcmp(d, "nan", 3))) ||
          (num && !alpha && (point || exp)))
        return perr(cp, cp->line, "floats such as '%s' are not supported: "
                                  "write an integer, or a string such as "
                                  "\"1.5s\"", w);
      if (dn > 1 && d[0] == '0' && (d[1] == 'x' || d[1] == 'o' || d[1] == 'b'))
        return perr(cp, cp->line, "only decimal integers are supported, not "
                                  "'%s'", w);
      /* 5s, 200M, 2.5s: a duration or size wants quotes */
      if (num && (alpha || exp))
        return perr(cp, cp->line, "'%s' is not a number: write it as a "
                                  "string, \"%s\"", w, w);
      if (dn > 1 && d[0] == '0' && is_digit(d[1]))
        return perr(cp, cp->line, "leading zeros are not allowed in '%s'", w);
      if (num)
        return perr(cp, cp->line, "invalid integer '%s' ('_' goes only "
                                  "between digits)", w);
      return perr(cp, cp->line,
                  "invalid value '%s' %s: expected a \"quoted string\", an "
                  "integer, true or false%s",
                  w, ctx, where == AT_KEY ? ", [...] or { ... }" : "");
    }
    v->kind = CONF_INT;
  }
  cp->p = q;
  return 0;
}

static int parse_value(struct cp *cp, struct conf_value *v, const char *key,
                       int where);

/* Blanks, line ends and comments inside a multi-line array. */
static void skip_array_space(struct cp *cp) {
  for (;;) {
    skip_ws(cp);
    if (cp->p < cp->end && *cp->p == '#')
      while (cp->p < cp->end && *cp->p != '\n')
        cp->p++;
    if (cp->p < cp->end && *cp->p == '\r')
      cp->p++;
    if (cp->p >= cp->end || *cp->p != '\n')
      return;
    cp->p++;
    cp->line++;
  }
}

static int parse_array(struct cp *cp, struct conf_value *v, const char *key) {
  int line0 = cp->line;
  cp->p++;
  v->kind = CONF_ARRAY;
  for (;;) {
    skip_array_space(cp);
    if (cp->p >= cp->end)
      break;
    if (*cp->p == ']') {
      cp->p++;
      return 0;
    }
    if (v->nitems == CONF_MAX_ITEMS)
      return perr(cp, cp->line, "more than %d items in the array of '%s'",
                  CONF_MAX_ITEMS, Q(key));
    size_t cap = new_cap(v->nitems);
    if (cap) {
      struct conf_value *t = realloc(v->items, cap * sizeof *t);
      if (!t)
        return oom(cp);
      v->items = t;
    }
    /* counted before it is parsed, so value_free frees a partial one */
    struct conf_value *item = &v->items[v->nitems++];
    memset(item, 0, sizeof *item);
    if (parse_value(cp, item, key, IN_ARRAY) < 0)
      return -1;
    skip_array_space(cp);
    if (cp->p >= cp->end)
      break;
    if (*cp->p == ']') {
      cp->p++;
      return 0;
    }
    if (*cp->p != ',')
      return perr(cp, cp->line,
                  "expected ',' or ']' in the array of '%s' (opened at line "
                  "%d), not '%s'",
                  Q(key), line0, WORD(cp, ",]#"));
    cp->p++;
  }
  return perr(cp, line0, "unterminated array: the ']' for '%s = [' is "
                         "missing", Q(key));
}

static int parse_table(struct cp *cp, struct conf_value *v, const char *key) {
  char where[96];
  snprintf(where, sizeof where, " in the inline table of '%s'", Q(key));
  cp->p++;
  v->kind = CONF_TABLE;
  skip_ws(cp);
  if (cp->p < cp->end && *cp->p == '}') {
    cp->p++;
    return 0;
  }
  for (;;) {
    if (at_eol(cp))
      return perr(cp, cp->line, "unterminated inline table: the '}' for "
                                "'%s = {' is missing (it must be on one "
                                "line)", Q(key));
    if (v->nitems == CONF_MAX_KEYS)
      return perr(cp, cp->line, "more than %d keys in the inline table of "
                                "'%s'", CONF_MAX_KEYS, Q(key));
    char *k;
    if (parse_key(cp, &k, where) < 0)
      return -1;
    for (size_t i = 0; i < v->nitems; i++)
      if (!strcmp(v->keys[i], k)) {
        perr(cp, cp->line, "'%s' is set twice in the inline table of '%s'",
             Q(k), Q(key));
        free(k);
        return -1;
      }
    size_t cap = new_cap(v->nitems);
    if (cap) {
      struct conf_value *t = realloc(v->items, cap * sizeof *t);
      if (t)
        v->items = t;
      char **tk = t ? realloc(v->keys, cap * sizeof *tk) : NULL;
      if (tk)
        v->keys = tk;
      if (!t || !tk) {
        free(k);
        return oom(cp);
      }
    }
    struct conf_value *item = &v->items[v->nitems];
    memset(item, 0, sizeof *item);
    v->keys[v->nitems++] = k;
    if (expect_eq(cp, k, where) < 0)
      return -1;
    if (parse_value(cp, item, k, IN_TABLE) < 0)
      return -1;
    skip_ws(cp);
    if (cp->p < cp->end && *cp->p == ',') {
      cp->p++;
      skip_ws(cp);
      if (cp->p < cp->end && *cp->p == '}')
        return perr(cp, cp->line, "a comma before the '}' of the inline "
                                  "table of '%s': TOML allows none there "
                                  "(arrays may end with one)", Q(key));
      continue;
    }
    if (cp->p < cp->end && *cp->p == '}')
      break;
    if (!at_eol(cp))
      return perr(cp, cp->line, "expected ',' or '}' in the inline table of "
                                "'%s', not '%s'",
                  Q(key), WORD(cp, ",}#"));
    /* at the line's end: the unterminated message at the top */
  }
  cp->p++;
  return 0;
}

/* A value at cp->p (blanks skipped) into *v (zeroed); key names it. */
static int parse_value(struct cp *cp, struct conf_value *v, const char *key,
                       int where) {
  char ctx[96];
  if (where == AT_KEY)
    snprintf(ctx, sizeof ctx, "for '%s'", Q(key));
  else if (where == IN_ARRAY)
    snprintf(ctx, sizeof ctx, "in the array of '%s'", Q(key));
  else
    snprintf(ctx, sizeof ctx, "for '%s' in an inline table", Q(key));
  v->line = cp->line;
  if (at_eol(cp) || *cp->p == ',' || *cp->p == ']' || *cp->p == '}')
    return perr(cp, cp->line, "missing value %s", ctx);
  switch (*cp->p) {
  case '"':
  case '\'':
    v->kind = CONF_STR;
    return parse_string(cp, &v->str);
  case '[':
  case '{':
    if (where == AT_KEY)
      return *cp->p == '[' ? parse_array(cp, v, key) : parse_table(cp, v, key);
    return perr(cp, cp->line, "nested %s are not supported (%s): only "
                              "strings, integers and booleans",
                *cp->p == '[' ? "arrays" : "tables", ctx);
  default:
    return parse_word(cp, v, ctx, where);
  }
}

/* ---- lines ---- */

/* '-' and '_' alike: the config takes both spellings of an option. */
static int same_key(const char *a, const char *b) {
  for (;; a++, b++) {
    char x = *a == '_' ? '-' : *a, y = *b == '_' ? '-' : *b;
    if (x != y)
      return 0;
    if (!x)
      return 1;
  }
}

static int valid_name(const char *s) {
  size_t n = strlen(s);
  if (n < 1 || n > 64 || !strcmp(s, ".") || !strcmp(s, ".."))
    return 0;
  for (; *s; s++)
    if (!is_bare(*s) && *s != '.')
      return 0;
  return 1;
}

static int parse_header(struct cp *cp, struct conf *c) {
  int line = cp->line;
  cp->p++;
  if (cp->p < cp->end && *cp->p == '[')
    return perr(cp, line, "arrays of tables ([[...]]) are not supported: "
                          "write one [NAME] table per app");
  skip_ws(cp);
  char *name = NULL;
  int quoted = cp->p < cp->end && (*cp->p == '"' || *cp->p == '\'');
  if (quoted) {
    if (parse_string(cp, &name) < 0)
      return -1;
  } else {
    const char *s = cp->p;
    while (cp->p < cp->end && (is_bare(*cp->p) || *cp->p == '.'))
      cp->p++;
    size_t n = (size_t)(cp->p - s);
    /* [web.env] is table env inside table web in TOML; reading it as an
     * app named "web.env" would give the file another meaning here. A
     * dot with no name on a side ([...], [.a], [a..b]) is no TOML at all. */
    if (memchr(s, '.', n)) {
      int empty = s[0] == '.' || s[n - 1] == '.' || memmem(s, n, "..", 2);
      return perr(cp, line,
                  empty ? "[%s] is not a table name (a bare name has no "
                          "empty part between dots): quote an app name that "
                          "has a dot, [\"%s\"]"
                        : "[%s] is a nested table, which is not supported: "
                          "quote an app name that has a dot, [\"%s\"]",
                  shw(s, n).s, shw(s, n).s);
    }
    if (!(name = strndup(s, n)))
      return oom(cp);
  }
  skip_ws(cp);
  if (cp->p < cp->end && *cp->p == '.') {
    free(name);
    return perr(cp, line, "nested tables are not supported: write one [NAME] "
                          "table per app");
  }
  if (!valid_name(name)) {
    int r = quoted || *name ? perr(cp, line, "invalid app name '%s': use 1-64 of A-Z "
                                   "a-z 0-9 . _ - (not . or ..)", Q(name))
                  : perr(cp, line, "expected an app name in [NAME] (1-64 of "
                                   "A-Z a-z 0-9 . _ -), not '%s'",
                         WORD(cp, ""));
    free(name);
    return r;
  }
  if (cp->p >= cp->end || *cp->p != ']') {
    if (at_eol(cp))
      perr(cp, line, "expected ']' after '[%s'", name);
    else
      perr(cp, line, "expected ']' after '[%s', not '%s'", name, WORD(cp, ""));
    free(name);
    return -1;
  }
  cp->p++;
  for (size_t i = 0; i < c->napps; i++)
    if (!strcmp(c->apps[i].name, name)) {
      perr(cp, line, "duplicate app '%s' (first at line %d)", name,
           c->apps[i].line);
      free(name);
      return -1;
    }
  if (c->napps == CONF_MAX_APPS) {
    free(name);
    return perr(cp, line, "more than %d apps", CONF_MAX_APPS);
  }
  size_t cap = new_cap(c->napps);
  if (cap) {
    struct conf_app *t = realloc(c->apps, cap * sizeof *t);
    if (!t) {
      free(name);
      return oom(cp);
    }
    c->apps = t;
  }
  struct conf_app *a = &c->apps[c->napps++];
  memset(a, 0, sizeof *a);
  a->name = name;
  a->line = line;
  char what[96];
  snprintf(what, sizeof what, "[%s]", name);
  return end_line(cp, what);
}

static int parse_keyval(struct cp *cp, struct conf *c) {
  int line = cp->line;
  char *key;
  if (parse_key(cp, &key, "") < 0)
    return -1;
  if (expect_eq(cp, key, "") < 0)
    goto fail;
  if (!c->napps) {
    perr(cp, line, "key outside of an app table: put it under [NAME]");
    goto fail;
  }
  struct conf_app *a = &c->apps[c->napps - 1];
  for (size_t i = 0; i < a->nkeys; i++) {
    const struct conf_key *k = &a->keys[i];
    if (!same_key(k->key, key))
      continue;
    if (!strcmp(k->key, key))
      perr(cp, line, "'%s' is set twice in [%s] (first at line %d)", Q(key),
           a->name, k->line);
    else
      perr(cp, line, "'%s' is set twice in [%s] (first at line %d, as '%s')",
           Q(key), a->name, k->line, Q(k->key));
    goto fail;
  }
  if (a->nkeys == CONF_MAX_KEYS) {
    perr(cp, line, "more than %d keys in [%s]", CONF_MAX_KEYS, a->name);
    goto fail;
  }
  size_t cap = new_cap(a->nkeys);
  if (cap) {
    struct conf_key *t = realloc(a->keys, cap * sizeof *t);
    if (!t) {
      oom(cp);
      goto fail;
    }
    a->keys = t;
  }
  /* counted before the value is parsed, so conf_free frees a partial one */
  struct conf_key *k = &a->keys[a->nkeys++];
  memset(k, 0, sizeof *k);
  k->key = key;
  k->line = line;
  if (parse_value(cp, &k->v, key, AT_KEY) < 0)
    return -1;
  char what[96];
  snprintf(what, sizeof what, "the value of '%s'", Q(key));
  return end_line(cp, what);
fail:
  free(key);
  return -1;
}

/* ---- API ---- */

int conf_parse(const char *path, const char *text, size_t len,
               struct conf *out, char *err, size_t errlen) {
  if (!text) { /* no arithmetic on NULL, even + 0 */
    text = "";
    len = 0;
  }
  struct cp cp = {text, text + len, 1, path, err, errlen};
  memset(out, 0, sizeof *out);
  if (errlen)
    err[0] = '\0';
  if (!(out->path = strdup(path)))
    return oom(&cp);
  if (check_bytes(&cp) < 0)
    goto fail;
  while (cp.p < cp.end) {
    skip_ws(&cp);
    if (at_eol(&cp)) {
      if (end_line(&cp, "") < 0)
        goto fail;
    } else if (*cp.p == '[') {
      if (parse_header(&cp, out) < 0)
        goto fail;
    } else if (is_bare(*cp.p) || *cp.p == '"' || *cp.p == '\'') {
      if (parse_keyval(&cp, out) < 0)
        goto fail;
    } else {
      perr(&cp, cp.line, "malformed line at '%s': expected [NAME], KEY = "
                         "VALUE or a # comment",
           WORD(&cp, ""));
      goto fail;
    }
  }
  return 0;
fail:
  conf_free(out);
  return -1;
}

int conf_load(const char *path, struct conf *out, char *err, size_t errlen) {
  struct cp cp = {NULL, NULL, 0, path, err, errlen};
  memset(out, 0, sizeof *out);
  char *buf = NULL;
  size_t len = 0, cap = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return perr(&cp, 0, "cannot open: %s", strerror(errno));
  for (;;) {
    /* read one byte past the limit, to tell "too big" from "just fits" */
    if (len == cap) {
      if (cap > CONF_MAX_FILE) {
        perr(&cp, 0, "the file is larger than 1 MiB: not a config file?");
        goto fail;
      }
      cap = cap ? cap * 2 : 16384;
      if (cap > CONF_MAX_FILE + 1)
        cap = CONF_MAX_FILE + 1;
      char *t = realloc(buf, cap);
      if (!t) {
        oom(&cp);
        goto fail;
      }
      buf = t;
    }
    ssize_t r = read(fd, buf + len, cap - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      perr(&cp, 0, "cannot read: %s", strerror(errno));
      goto fail;
    }
    if (r == 0)
      break;
    len += (size_t)r;
  }
  (void)close(fd);
  int rc = conf_parse(path, buf, len, out, err, errlen);
  free(buf);
  return rc;
fail:
  (void)close(fd);
  free(buf);
  return -1;
}

void conf_free(struct conf *c) {
  for (size_t i = 0; i < c->napps; i++) {
    struct conf_app *a = &c->apps[i];
    for (size_t j = 0; j < a->nkeys; j++) {
      free(a->keys[j].key);
      value_free(&a->keys[j].v);
    }
    free(a->keys);
    free(a->name);
  }
  free(c->apps);
  free(c->path);
  memset(c, 0, sizeof *c);
}

const struct conf_key *conf_get(const struct conf_app *app, const char *key) {
  for (size_t i = 0; i < app->nkeys; i++)
    if (same_key(app->keys[i].key, key))
      return &app->keys[i];
  return NULL;
}

const char *conf_kind_name(int kind) {
  switch (kind) {
  case CONF_STR: return "a string";
  case CONF_INT: return "an integer";
  case CONF_BOOL: return "a boolean";
  case CONF_ARRAY: return "an array";
  case CONF_TABLE: return "a table";
  default: return "a value";
  }
}
