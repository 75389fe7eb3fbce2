/*
 * confp.h - the config parser's parts, shared by its two files: conf.c
 * (the bytes, the lines, [NAME] tables and keys, the API of conf.h) and
 * confval.c (the values). Not for the rest of the program.
 *
 * The parser's cursor, its messages ("PATH:LINE: message") and the small
 * scanning helpers are static inline here: both files use them at every
 * step.
 */
#ifndef HERD_CLI_CONFP_H
#define HERD_CLI_CONFP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"

struct cp {
  const char *p, *end;
  int line;
  const char *path;
  char *err;
  size_t errlen;
};

/* Contexts of a value: where it sits decides what it may be. */
enum { AT_KEY, IN_ARRAY, IN_TABLE };

static inline int verr(struct cp *cp, int line, const char *fmt, va_list ap) {
  if (!cp->errlen)
    return -1;
  int n = line > 0 ? snprintf(cp->err, cp->errlen, "%s:%d: ", cp->path, line)
                   : snprintf(cp->err, cp->errlen, "%s: ", cp->path);
  if (n >= 0 && (size_t)n < cp->errlen)
    vsnprintf(cp->err + n, cp->errlen - (size_t)n, fmt, ap);
  return -1;
}

/* "PATH:LINE: message"; returns -1. */
__attribute__((format(printf, 3, 4))) static inline int
perr(struct cp *cp, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  verr(cp, line, fmt, ap);
  va_end(ap);
  return -1;
}

static inline int oom(struct cp *cp) { return perr(cp, 0, "out of memory"); }

static inline size_t new_cap(size_t n) {
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

static inline struct shown shw(const char *s, size_t n) {
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

static inline int is_bare(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static inline int is_space(char c) { return c == ' ' || c == '\t'; }

static inline void skip_ws(struct cp *cp) {
  while (cp->p < cp->end && is_space(*cp->p))
    cp->p++;
}

/* At the end of the line's content: its end, '\r' of CRLF, or '#'. */
static inline int at_eol(const struct cp *cp) {
  return cp->p >= cp->end || *cp->p == '\n' || *cp->p == '\r' ||
         *cp->p == '#';
}

/* Length of the word at p (up to space, end of line or one of stop). */
static inline size_t word_len(const struct cp *cp, const char *stop) {
  const char *q = cp->p;
  while (q < cp->end && *q && !is_space(*q) && *q != '\n' && *q != '\r' &&
         !strchr(stop, *q))
    q++;
  return (size_t)(q - cp->p);
}

/* A word of the text at p for a message. */
#define WORD(cp, stop) (shw((cp)->p, word_len((cp), (stop))).s)

/* confval.c: a value at cp->p (blanks skipped) into *v (zeroed); key
 * names it, where (AT_KEY, IN_ARRAY, IN_TABLE) says what it may be. A
 * "basic" or 'literal' string at a quote into *out (malloc'd). The
 * values a struct conf_value owns freed, and it zeroed. 0 or -1 (with
 * the message in cp->err) as perr. */
int conf__parse_value(struct cp *cp, struct conf_value *v, const char *key,
                      int where);
int conf__parse_string(struct cp *cp, char **out);
void conf__value_free(struct conf_value *v);

/* conf.c: a key, bare or quoted, into *out (malloc'd); then the '=' after
 * it. where is "" or " in the inline table of 'K'", for messages. */
int conf__parse_key(struct cp *cp, char **out, const char *where);
int conf__expect_eq(struct cp *cp, const char *key, const char *where);

#endif
