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
 *
 * This file reads the bytes, the lines, [NAME] tables and keys; the
 * values are in confval.c; confp.h holds what the two share.
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

#include "cli.h"
#include "confp.h"

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
      uint32_t ch;
      size_t k = herd__utf8_next(s + i, len - i, 0, &ch);
      if (ch == HERD__UTF8_FAULT)
        return perr(cp, line, "invalid UTF-8 (byte 0x%02x): the file must "
                              "be UTF-8", c);
      i += k - 1;
    }
  }
  return 0;
}

/* A key: bare, or quoted (not empty). where is "" or " in the inline table
 * of 'K'", for messages. */
int conf__parse_key(struct cp *cp, char **out, const char *where) {
  if (cp->p < cp->end && (*cp->p == '"' || *cp->p == '\'')) {
    if (conf__parse_string(cp, out) < 0)
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
int conf__expect_eq(struct cp *cp, const char *key, const char *where) {
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
    if (conf__parse_string(cp, &name) < 0)
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
  if (conf__parse_key(cp, &key, "") < 0)
    return -1;
  if (conf__expect_eq(cp, key, "") < 0)
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
  if (conf__parse_value(cp, &k->v, key, AT_KEY) < 0)
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
      conf__value_free(&a->keys[j].v);
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
