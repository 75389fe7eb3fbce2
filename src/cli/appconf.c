/*
 * appconf.c - a config file's apps: each [NAME] table's keys applied
 * with app_set (opts.c), the option table's checks and messages, with
 * FILE:LINE in front; the command as a string or an array, env as a
 * table or an array.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "opts.h"



/* A value as the option parser's text: strings as they are, integers
 * and booleans printed (into buf, which lives only as long as the
 * caller's turn: app_set copies what the app keeps). */
static const char *value_text(const struct conf_value *v, char *buf, size_t n) {
  if (v->kind == CONF_STR)
    return v->str;
  if (v->kind == CONF_INT) {
    snprintf(buf, n, "%lld", v->num);
    return buf;
  }
  if (v->kind == CONF_BOOL)
    return v->boolean ? "true" : "false";
  return NULL;
}

/* command = "prog arg ...": split on blanks (no shell, no quoting) into
 * an argv of the app's own copy. */
static int command_words(struct app *a, const char *str) {
  char *copy = app_keep(a, str);
  if (!copy)
    return -1;
  size_t words = 0;
  for (const char *p = copy; *p;) {
    while (*p == ' ' || *p == '\t')
      p++;
    if (!*p)
      break;
    words++;
    while (*p && *p != ' ' && *p != '\t')
      p++;
  }
  a->cmd_owned = calloc(words + 1, sizeof *a->cmd_owned);
  if (!a->cmd_owned)
    return -1;
  size_t w = 0;
  for (char *save = NULL, *t = strtok_r(copy, " \t", &save); t;
       t = strtok_r(NULL, " \t", &save))
    a->cmd_owned[w++] = t;
  return 0;
}

/* One app table into a (app_init'ed). Durations given as integers are
 * milliseconds (as on the command line). */
static int conf_app(struct app *a, const struct conf_app *ca, const char *path,
                    const char *dir, char *err, size_t errlen) {
  char e[512];
  if (!(a->conf_path = app_keep(a, path)))
    return app_fail(err, errlen, "%s: out of memory", path);
  /* A config's relative paths (cwd, and so the command) are from the
   * file's own directory: the same wherever herd is started from (a
   * systemd unit starts it in /). */
  if (snprintf(a->base_dir, sizeof a->base_dir, "%s", dir) >= (int)sizeof a->base_dir)
    return app_fail(err, errlen, "%s: its directory's path is too long", path);
  if (app_set(a, "name", ca->name, e, sizeof e) < 0)
    return app_fail(err, errlen, "%s:%d: app %s", path, ca->line, e);
  for (size_t i = 0; i < ca->nkeys; i++) {
    const struct conf_key *k = &ca->keys[i];
    const struct conf_value *v = &k->v;
    char num[32];
    if (!strcmp(k->key, "command")) {
      if (v->kind == CONF_STR) {
        if (command_words(a, v->str) < 0)
          return app_fail(err, errlen, "%s:%d: out of memory", path, k->line);
      } else if (v->kind == CONF_ARRAY) {
        a->cmd_owned = calloc(v->nitems + 1, sizeof *a->cmd_owned);
        if (!a->cmd_owned)
          return app_fail(err, errlen, "%s:%d: out of memory", path, k->line);
        for (size_t j = 0; j < v->nitems; j++) {
          if (v->items[j].kind != CONF_STR)
            return app_fail(err, errlen, "%s:%d: command: item %zu is %s, not a "
                        "string", path, k->line, j + 1,
                        conf_kind_name(v->items[j].kind));
          if (!(a->cmd_owned[j] = app_keep(a, v->items[j].str)))
            return app_fail(err, errlen, "%s:%d: out of memory", path, k->line);
        }
      } else {
        return app_fail(err, errlen, "%s:%d: command: expected a string or an "
                    "array of strings, not %s", path, k->line,
                    conf_kind_name(v->kind));
      }
      if (!a->cmd_owned[0] || !a->cmd_owned[0][0])
        return app_fail(err, errlen, "%s:%d: command: empty", path, k->line);
      a->cmd = a->cmd_owned;
      continue;
    }
    if (!strcmp(k->key, "name"))
      return app_fail(err, errlen, "%s:%d: unknown key 'name': the table's name "
                  "[%s] is the app's name", path, k->line, ca->name);
    if (!strcmp(k->key, "env")) {
      if (v->kind != CONF_TABLE && v->kind != CONF_ARRAY)
        return app_fail(err, errlen, "%s:%d: env: expected a table { K = \"V\" } "
                    "or an array of \"K=V\", not %s", path, k->line,
                    conf_kind_name(v->kind));
      for (size_t j = 0; j < v->nitems; j++) {
        const struct conf_value *it = &v->items[j];
        int r;
        if (v->kind == CONF_TABLE) {
          const char *t = value_text(it, num, sizeof num);
          if (!t)
            return app_fail(err, errlen, "%s:%d: env: %s is %s", path, k->line,
                        v->keys[j], conf_kind_name(it->kind));
          /* { "A=B" = "c" } would be A="B=c" in the environment */
          if (strchr(v->keys[j], '='))
            return app_fail(err, errlen, "%s:%d: env: '%s' has '=', which no "
                        "variable name has", path, k->line, v->keys[j]);
          char *kv;
          if (asprintf(&kv, "%s=%s", v->keys[j], t) < 0)
            return app_fail(err, errlen, "%s:%d: out of memory", path, k->line);
          r = app_set(a, "env", kv, e, sizeof e); /* it keeps a copy */
          free(kv);
        } else {
          if (it->kind != CONF_STR)
            return app_fail(err, errlen, "%s:%d: env: item %zu is not a string",
                        path, k->line, j + 1);
          r = app_set(a, "env", it->str, e, sizeof e);
        }
        if (r < 0)
          return app_fail(err, errlen, "%s:%d: %s", path, k->line, e);
      }
      continue;
    }
    if (!strcmp(k->key, "listen") && v->kind == CONF_ARRAY) {
      for (size_t j = 0; j < v->nitems; j++) {
        if (v->items[j].kind != CONF_STR)
          return app_fail(err, errlen, "%s:%d: listen: item %zu is not a string",
                      path, k->line, j + 1);
        if (app_set(a, "listen", v->items[j].str, e, sizeof e) < 0)
          return app_fail(err, errlen, "%s:%d: %s", path, k->line, e);
      }
      continue;
    }
    const struct opt *o = opt_find(k->key);
    if (o && o->kind == OPT_MODE && v->kind != CONF_STR)
      /* as an integer it would be decimal: 22 is not 022 */
      return app_fail(err, errlen, "%s:%d: %s: give it as a string of octal digits "
                      "(%s = \"022\")", path, k->line, k->key, k->key);
    const char *t = value_text(v, num, sizeof num);
    if (!t)
      return app_fail(err, errlen, "%s:%d: %s: expected a single value, not %s",
                  path, k->line, k->key, conf_kind_name(v->kind));
    if (app_set(a, k->key, t, e, sizeof e) < 0) {
      if (!strncmp(e, "unknown option", 14))
        return app_fail(err, errlen, "%s:%d: unknown key '%s' in [%s]", path,
                    k->line, k->key, ca->name);
      return app_fail(err, errlen, "%s:%d: %s", path, k->line, e);
    }
  }
  if (!a->cmd)
    return app_fail(err, errlen, "%s:%d: [%s] has no command", path, ca->line,
                ca->name);
  if (app_finish(a, e, sizeof e) < 0)
    return app_fail(err, errlen, "%s:%d: [%s]: %s", path, ca->line, ca->name, e);
  return 0;
}

/* Every app of a parsed file (relative paths from dir). */
static int conf_apps(const struct conf *c, const char *path, const char *dir,
                     struct app **apps, char *err, size_t errlen) {
  if (c->napps == 0)
    return app_fail(err, errlen, "%s: no apps in it (a table [NAME] per app)", path);
  struct app *as = calloc(c->napps, sizeof *as);
  if (!as)
    return app_fail(err, errlen, "%s: out of memory", path);
  for (size_t i = 0; i < c->napps; i++) {
    app_init(&as[i]);
    if (conf_app(&as[i], &c->apps[i], path, dir, err, errlen) < 0) {
      for (size_t j = 0; j <= i; j++)
        app_free(&as[j]);
      free(as);
      return -1;
    }
  }
  *apps = as;
  return (int)c->napps;
}

int app_parse_config(const char *path, const char *dir, const char *text,
                     size_t len, struct app **apps, char *err, size_t errlen) {
  struct conf c;
  if (conf_parse(path, text, len, &c, err, errlen) < 0)
    return -1;
  int n = conf_apps(&c, path, dir, apps, err, errlen);
  conf_free(&c);
  return n;
}

int app_load_config(const char *path, struct app **apps, void **confp,
                    char *err, size_t errlen) {
  *confp = NULL;
  struct conf c;
  if (conf_load(path, &c, err, errlen) < 0)
    return -1;
  /* the file's own directory, symbolic links resolved */
  char rp[PATH_MAX];
  if (!realpath(path, rp)) {
    int e = errno;
    conf_free(&c);
    return app_fail(err, errlen, "%s: %s", path, strerror(e));
  }
  char *slash = strrchr(rp, '/');
  if (slash == rp)
    slash[1] = '\0';
  else
    *slash = '\0';
  int n = conf_apps(&c, path, rp, apps, err, errlen);
  conf_free(&c);
  return n;
}

void app_conf_free(void *conf) {
  (void)conf; /* always NULL: the apps own what they hold */
}
