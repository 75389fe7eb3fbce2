/*
 * dotenv.c - the dotenv format of --env-file and env_file (dotenv.h):
 * KEY=value lines, as Node's dotenv, docker compose and systemd's
 * EnvironmentFile read them, with one reading of each case and an error
 * (FILE:LINE) for what the readers disagree on rather than a guess.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dotenv.h"
#include "opts.h"

struct dp {
  const char *p, *end;
  int line;
  const char *path;
  char *err;
  size_t errlen;
};

static int derr(struct dp *d, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int derr(struct dp *d, int line, const char *fmt, ...) {
  char msg[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return app_fail(d->err, d->errlen, "%s:%d: %s", d->path, line, msg);
}

static int blank(char c) { return c == ' ' || c == '\t'; }

static int key_char(char c, int first) {
  return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (!first && ((c >= '0' && c <= '9') || c == '.' || c == '-'));
}

/* The rest of the line after a value: blanks and a # comment, then the
 * line's end (consumed). */
static int line_end(struct dp *d, const char *what) {
  while (d->p < d->end && blank(*d->p))
    d->p++;
  if (d->p < d->end && *d->p == '#')
    while (d->p < d->end && *d->p != '\n')
      d->p++;
  if (d->p < d->end && *d->p == '\r' && d->p + 1 < d->end && d->p[1] == '\n')
    d->p++;
  if (d->p < d->end && *d->p != '\n')
    return derr(d, d->line, "unexpected '%c' after %s (a # comment may follow)",
                *d->p, what);
  if (d->p < d->end) {
    d->p++;
    d->line++;
  }
  return 0;
}

/* A growing value. */
struct buf {
  char *s;
  size_t n, cap;
};

static int put_c(struct buf *b, char c) {
  if (b->n + 1 >= b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 64;
    char *t = realloc(b->s, cap);
    if (!t)
      return -1;
    b->s = t;
    b->cap = cap;
  }
  b->s[b->n++] = c;
  b->s[b->n] = '\0';
  return 0;
}

/* "...": the escapes \n \t \r \" \\ \$; may span lines (a newline in it
 * is part of the value). */
static int double_quoted(struct dp *d, struct buf *b) {
  int start = d->line;
  d->p++;
  for (;;) {
    if (d->p >= d->end)
      return derr(d, start, "unterminated \"...\" value (no closing \" before the "
                  "end of the file)");
    char c = *d->p++;
    if (c == '"')
      return 0;
    if (c == '\n')
      d->line++;
    if (c == '\\') {
      if (d->p >= d->end)
        continue; /* said as unterminated above */
      char e = *d->p++;
      switch (e) {
      case 'n': c = '\n'; break;
      case 't': c = '\t'; break;
      case 'r': c = '\r'; break;
      case '"': case '\\': case '$': c = e; break;
      default:
        return derr(d, d->line, "unknown escape '\\%c' in a \"...\" value (\\n \\t "
                    "\\r \\\" \\\\ \\$; '...' values take none)",
                    e >= 0x20 && e < 0x7f ? e : '?');
      }
    }
    if (put_c(b, c) < 0)
      return derr(d, d->line, "out of memory");
  }
}

/* '...': literal, on one line. */
static int single_quoted(struct dp *d, struct buf *b) {
  d->p++;
  for (;;) {
    if (d->p >= d->end || *d->p == '\n')
      return derr(d, d->line, "unterminated '...' value (the closing ' is missing "
                  "on this line)");
    char c = *d->p++;
    if (c == '\'')
      return 0;
    if (put_c(b, c) < 0)
      return derr(d, d->line, "out of memory");
  }
}

/* Bare: to the end of the line or a # after a blank, blanks trimmed. */
static int unquoted(struct dp *d, struct buf *b) {
  const char *s = d->p;
  while (d->p < d->end && *d->p != '\n' && !(*d->p == '#' && d->p > s &&
                                             blank(d->p[-1])))
    d->p++;
  const char *e = d->p;
  while (e > s && (blank(e[-1]) || e[-1] == '\r'))
    e--;
  for (const char *q = s; q < e; q++)
    if (*q == '"' || *q == '\'')
      return derr(d, d->line, "a quote inside an unquoted value: quote the whole "
                  "value ('...' keeps it as it is)");
  for (; s < e; s++)
    if (put_c(b, *s) < 0)
      return derr(d, d->line, "out of memory");
  return 0;
}

/* One KEY=value line at d->p (blanks skipped): put "KEY=value". */
static int assignment(struct dp *d, dotenv_put_fn *put, void *data) {
  int line = d->line;
  if (d->end - d->p > 7 && !memcmp(d->p, "export", 6) && blank(d->p[6])) {
    d->p += 6;
    while (d->p < d->end && blank(*d->p))
      d->p++;
  }
  const char *k = d->p;
  while (d->p < d->end && key_char(*d->p, d->p == k))
    d->p++;
  size_t kl = (size_t)(d->p - k);
  while (d->p < d->end && blank(*d->p))
    d->p++;
  if (!kl || d->p >= d->end || *d->p != '=') {
    const char *w = k;
    while (w < d->end && *w != '\n' && *w != '\r' && w - k < 32)
      w++;
    return derr(d, line, "expected KEY=value (KEY: A-Z a-z 0-9 _ . -, not "
                "starting with a digit), not '%.*s'", (int)(w - k), k);
  }
  d->p++;
  while (d->p < d->end && blank(*d->p))
    d->p++;
  struct buf b = {NULL, 0, 0};
  int r;
  if (put_c(&b, '\0') < 0) /* an empty value is "" */
    return derr(d, line, "out of memory");
  b.n = 0;
  if (d->p < d->end && *d->p == '"')
    r = double_quoted(d, &b) < 0 || line_end(d, "the closing \"") < 0 ? -1 : 0;
  else if (d->p < d->end && *d->p == '\'')
    r = single_quoted(d, &b) < 0 || line_end(d, "the closing '") < 0 ? -1 : 0;
  else
    r = unquoted(d, &b) < 0 || line_end(d, "the value") < 0 ? -1 : 0;
  char *kv = NULL;
  if (r == 0 && (memchr(b.s, '\0', b.n) ||
                 asprintf(&kv, "%.*s=%s", (int)kl, k, b.s) < 0)) {
    kv = NULL;
    r = derr(d, line, "out of memory");
  }
  free(b.s);
  if (r < 0)
    return -1;
  char msg[300];
  r = put(data, kv, msg, sizeof msg);
  free(kv);
  return r < 0 ? derr(d, line, "%s", msg) : 0;
}

int dotenv_parse(const char *path, const char *text, size_t len, dotenv_put_fn *put,
                 void *data, char *err, size_t errlen) {
  struct dp d = {text ? text : "", (text ? text : "") + len, 1, path, err, errlen};
  if (len > DOTENV_MAX_FILE)
    return app_fail(err, errlen, "%s: larger than 1 MiB: not an env file?", path);
  const char *nul = memchr(d.p, '\0', len);
  if (nul) {
    for (const char *q = d.p; q < nul; q++)
      d.line += *q == '\n';
    return derr(&d, d.line, "a NUL byte: not a text file?");
  }
  while (d.p < d.end) {
    while (d.p < d.end && blank(*d.p))
      d.p++;
    if (d.p < d.end && (*d.p == '#' || *d.p == '\n' || *d.p == '\r')) {
      if (line_end(&d, "") < 0)
        return -1;
      continue;
    }
    if (d.p < d.end && assignment(&d, put, data) < 0)
      return -1;
  }
  return 0;
}

int dotenv_load(const char *path, dotenv_put_fn *put, void *data, char *err,
                size_t errlen) {
  /* a regular file only: a FIFO or a terminal would block the start */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) {
    int e = errno;
    if (fd >= 0)
      (void)close(fd);
    return app_fail(err, errlen, "%s: %s", path, strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    (void)close(fd);
    return app_fail(err, errlen, "%s: not a regular file", path);
  }
  char *buf = malloc(DOTENV_MAX_FILE + 1);
  size_t len = 0;
  if (!buf) {
    (void)close(fd);
    return app_fail(err, errlen, "%s: out of memory", path);
  }
  for (;;) {
    ssize_t n = read(fd, buf + len, DOTENV_MAX_FILE + 1 - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int e = errno;
      (void)close(fd);
      free(buf);
      return app_fail(err, errlen, "%s: %s", path, strerror(e));
    }
    if (n == 0 || (len += (size_t)n) > DOTENV_MAX_FILE)
      break;
  }
  (void)close(fd);
  int r = dotenv_parse(path, buf, len, put, data, err, errlen);
  free(buf);
  return r;
}
