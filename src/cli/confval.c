/*
 * confval.c - the config parser's values (conf.h says which are taken):
 * strings with their escapes, integers, true and false, arrays and inline
 * tables; and the words refused with a message that says what they look
 * like (floats, dates, sizes and durations without quotes). conf.c reads
 * the lines around them.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "confp.h"

void conf__value_free(struct conf_value *v) {
  free(v->str);
  for (size_t i = 0; i < v->nitems; i++) {
    conf__value_free(&v->items[i]);
    if (v->keys)
      free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  memset(v, 0, sizeof *v);
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
      int h = herd__hexval((*s)[i]);
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
    return (int)herd__utf8_put((uint8_t *)out, v);
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
int conf__parse_string(struct cp *cp, char **out) {
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
    /* counted before it is parsed, so conf__value_free frees a partial one */
    struct conf_value *item = &v->items[v->nitems++];
    memset(item, 0, sizeof *item);
    if (conf__parse_value(cp, item, key, IN_ARRAY) < 0)
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
    if (conf__parse_key(cp, &k, where) < 0)
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
    if (conf__expect_eq(cp, k, where) < 0)
      return -1;
    if (conf__parse_value(cp, item, k, IN_TABLE) < 0)
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
int conf__parse_value(struct cp *cp, struct conf_value *v, const char *key,
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
    return conf__parse_string(cp, &v->str);
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
