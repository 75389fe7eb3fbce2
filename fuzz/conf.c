/*
 * conf.c - fuzz the config file parser (conf_parse: any bytes as a
 * file) and the loading of its apps as herd start -c does
 * (app_parse_config: the same text, relative paths from "/"): no crash,
 * no leak, no read past the input; an error is always one line,
 * "FILE:LINE: message" with a LINE inside the file, or "FILE: message"
 * for the file as a whole; a parsed file holds what conf.h promises
 * (valid app names, strings of valid UTF-8 without NUL, lines in order);
 * a loaded app has a name, a command, an absolute working directory,
 * addresses that parse and "K=V" environment entries.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cli.h"
#include "conf.h"
#include "../tests/refutf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PATH "f.conf"

static int lines_of(const uint8_t *d, size_t n) {
  int k = 1;
  for (size_t i = 0; i < n; i++)
    k += d[i] == '\n';
  return k;
}

static void check_text(const char *s) {
  size_t n = strlen(s), bad;
  for (size_t i = 0; i < n;) {
    size_t k = ref_utf8_len((const unsigned char *)s + i, n - i, &bad);
    if (!k)
      abort();
    i += k;
  }
}

/* "f.conf:LINE: message" (1 <= LINE <= lines) or "f.conf: message"; one
 * line of printable text. */
static void check_err(const char *err, size_t cap, int lines) {
  size_t n = strnlen(err, cap);
  if (n == cap || n == 0)
    abort();
  if (strncmp(err, PATH ":", sizeof PATH))
    abort();
  const char *p = err + sizeof PATH;
  if (*p >= '1' && *p <= '9') {
    char *end;
    long line = strtol(p, &end, 10);
    if (line < 1 || line > lines || end[0] != ':' || end[1] != ' ' || !end[2])
      abort();
  } else if (p[0] != ' ' || !p[1]) {
    abort();
  }
  for (const char *c = err; *c; c++)
    if ((unsigned char)*c < 0x20 || *c == 0x7f)
      abort();
}

static void check_value(const struct conf_value *v, int line, int lines) {
  if (v->line < line || v->line > lines)
    abort();
  switch (v->kind) {
  case CONF_STR:
    if (!v->str)
      abort();
    check_text(v->str);
    break;
  case CONF_INT:
  case CONF_BOOL:
    if (v->kind == CONF_BOOL && v->boolean != 0 && v->boolean != 1)
      abort();
    break;
  case CONF_ARRAY:
  case CONF_TABLE:
    if (v->nitems > CONF_MAX_ITEMS)
      abort();
    for (size_t i = 0; i < v->nitems; i++) {
      /* arrays and tables hold scalars only */
      if (v->items[i].kind == CONF_ARRAY || v->items[i].kind == CONF_TABLE)
        abort();
      if (v->kind == CONF_TABLE) {
        if (!v->keys[i][0])
          abort();
        check_text(v->keys[i]);
      }
      check_value(&v->items[i], v->line, lines);
    }
    break;
  default:
    abort();
  }
}

static void check_conf(const struct conf *c, int lines) {
  if (strcmp(c->path, PATH) || c->napps > CONF_MAX_APPS)
    abort();
  int line = 1;
  for (size_t i = 0; i < c->napps; i++) {
    const struct conf_app *a = &c->apps[i];
    size_t n = strlen(a->name);
    if (n < 1 || n > 64 || strspn(a->name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != n)
      abort();
    if (a->line < line || a->line > lines || a->nkeys > CONF_MAX_KEYS)
      abort();
    line = a->line;
    for (size_t j = 0; j < i; j++)
      if (!strcmp(c->apps[j].name, a->name))
        abort();
    for (size_t j = 0; j < a->nkeys; j++) {
      const struct conf_key *k = &a->keys[j];
      if (!k->key[0] || k->line < line || k->line > lines || k->v.line != k->line)
        abort();
      check_text(k->key);
      /* no key twice, in either spelling */
      if (conf_get(a, k->key) != k)
        abort();
      check_value(&k->v, k->line, lines);
      line = k->line;
    }
  }
}

static void check_app(const struct app *a) {
  if (!a->name || !app_name_ok(a->name) || !strcmp(a->name, "all"))
    abort();
  if (!a->cmd || !a->cmd[0] || !a->cmd[0][0] || a->o.argv != a->cmd || a->o.file != a->cmd[0])
    abort();
  if (a->cwd[0] != '/' || !a->o.spawn.cwd || strcmp(a->o.spawn.cwd, a->cwd))
    abort();
  if (a->nlisten < 0 || a->nlisten > MAX_LISTEN || a->listen[a->nlisten])
    abort();
  for (int i = 0; i < a->nlisten; i++) {
    herd_addr_t ad;
    if (herd_addr_parse(a->listen[i], &ad) < 0)
      abort();
  }
  if (a->nenv < 0 || a->nenv > MAX_ENV)
    abort();
  for (int i = 0; i < a->nenv; i++) {
    const char *eq = strchr(a->env[i], '=');
    if (!eq || eq == a->env[i] || a->o.spawn.env[i] != a->env[i])
      abort();
  }
  if (a->metrics) {
    herd_addr_t ad;
    if (herd_addr_parse(a->metrics, &ad) < 0 || ad.family == AF_UNIX)
      abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int lines = lines_of(data, size);
  struct conf c;
  char err[512];
  memset(err, 'x', sizeof err);
  if (conf_parse(PATH, (const char *)data, size, &c, err, sizeof err) < 0) {
    check_err(err, sizeof err, lines);
    if (c.apps || c.napps || c.path)
      abort();
    return 0;
  }
  check_conf(&c, lines);
  size_t napps = c.napps;
  conf_free(&c);
  struct app *apps = NULL;
  char aerr[600];
  memset(aerr, 'x', sizeof aerr);
  int n = app_parse_config(PATH, "/", (const char *)data, size, &apps, aerr, sizeof aerr);
  if (n < 0) {
    check_err(aerr, sizeof aerr, lines);
    return 0;
  }
  if ((size_t)n != napps)
    abort();
  for (int i = 0; i < n; i++) {
    check_app(&apps[i]);
    app_free(&apps[i]);
  }
  free(apps);
  return 0;
}
