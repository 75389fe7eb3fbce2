/*
 * why.c - which line of a dead worker's stderr says why it died.
 *
 * The last line is often no reason at all: Node.js ends every crash with
 * its version banner ("Node.js v20.20.2"), Python and Java with a stack,
 * Go with "exit status 2" after its goroutines. Lines are sorted as they
 * stream, so nothing but two short lines per slot is kept:
 *  - stack frames and other indented lines, and banners, are noise;
 *  - a line that names an error is "telling": "Error: boom", "TypeError:
 *    x" (Node, Python: the last line of a traceback, JS's first line
 *    after the source excerpt), "java.lang.IllegalStateException: x",
 *    "Exception in thread ...", "panic: ..." and "fatal error: ..." (Go),
 *    "thread 'main' panicked at ..." (Rust), "...: msg (RuntimeError)"
 *    (Ruby);
 *  - any other line is "plain": the reason when nothing telling came.
 */
#include <ctype.h>
#include <string.h>

#include "cli.h"

static int starts(const char *s, size_t n, const char *lit) {
  size_t k = strlen(lit);
  return n >= k && !memcmp(s, lit, k);
}

/* "Name: ..." or "Name [CODE]: ..." where Name ends in Error or
 * Exception (dotted names too: java.lang.RuntimeException). */
static int names_an_error(const char *s, size_t n) {
  size_t i = 0;
  while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.' ||
                   s[i] == '$'))
    i++;
  size_t name = i;
  int err = (name >= 5 && !memcmp(s + name - 5, "Error", 5)) ||
            (name >= 9 && !memcmp(s + name - 9, "Exception", 9));
  if (!err)
    return 0;
  if (i < n && s[i] == ' ' && i + 1 < n && s[i + 1] == '[') { /* Node's [ERR_X] */
    const char *rb = memchr(s + i, ']', n - i);
    if (!rb)
      return 0;
    i = (size_t)(rb - s) + 1;
  }
  return i == n || s[i] == ':';
}

int why_kind(const char *s, size_t n) {
  while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
    n--;
  if (n == 0 || s[0] == ' ' || s[0] == '\t')
    return WHY_NOISE; /* blank, or a stack frame ("    at ...", "\tfrom") */
  if (starts(s, n, "Node.js v") || starts(s, n, "exit status ") ||
      starts(s, n, "Traceback (most recent call last)") ||
      starts(s, n, "goroutine ") || (n == 1 && s[0] == '^'))
    return WHY_NOISE;
  if (names_an_error(s, n) || starts(s, n, "Exception in thread ") ||
      starts(s, n, "panic: ") || starts(s, n, "fatal error: ") ||
      starts(s, n, "Uncaught ") || starts(s, n, "thread '") ||
      (n > 7 && s[n - 1] == ')' && (memmem(s, n, "Error)", 6) ||
                                    memmem(s, n, "Exception)", 10))))
    return WHY_TELLING;
  return WHY_PLAIN;
}

void why_add(struct why *w, const char *s, size_t n) {
  int k = why_kind(s, n);
  if (k == WHY_NOISE || (k == WHY_PLAIN && w->telling))
    return;
  while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
    n--;
  (void)cli_printable(w->line, sizeof w->line, s, n);
  w->telling = k == WHY_TELLING;
}
