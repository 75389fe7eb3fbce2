/*
 * optjson.c - a finished app's settings as JSON and back, for the
 * control request that changes a running app (`herd start -c FILE` on
 * an app that runs: docs/control.md, "update"). The client reads the
 * file, in its own directory and environment, and sends what it made of
 * it; the master applies the same text with app_set, so that one parser
 * checks both. Each option is written as its kind reads it back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jval.h"
#include "jw.h"
#include "opts.h"

static const void *at(const struct app *a, size_t off) {
  return (const char *)a + off;
}

/* Another entry stores into the same place (instances is workers). */
static int alias(const struct opt *t, size_t i) {
  for (size_t j = 0; j < i; j++)
    if (t[j].off == t[i].off && t[j].bit == t[i].bit && t[j].kind == t[i].kind &&
        t[j].where == OPT_ANYWHERE)
      return 1;
  return 0;
}

/* The option's value as app_set reads it, into buf; NULL: not set. */
static const char *opt_text(const struct app *a, const struct opt *o, char *buf,
                            size_t n) {
  int v = 0;
  switch (o->kind) {
  case OPT_COUNT:
  case OPT_ENUM:
    v = *(const int *)at(a, o->off);
    for (const struct opt_word *w = o->words; w; w++) {
      if (w->name && w->value == v)
        return w->name;
      if (!w->name) { /* the end; an enum's duration word */
        if (o->kind == OPT_ENUM && w->value == v && w->value >= 0) {
          snprintf(buf, n, "%dms", *(const int *)at(a, o->off2));
          return buf;
        }
        break;
      }
    }
    snprintf(buf, n, "%d", v);
    return buf;
  case OPT_DURATION:
    snprintf(buf, n, "%dms", *(const int *)at(a, o->off));
    return buf;
  case OPT_SIGNAL:
    snprintf(buf, n, "%d", *(const int *)at(a, o->off));
    return buf;
  case OPT_SIZE: /* below its minimum: unset (max-memory 0: no limit) */
    if (*(const uint64_t *)at(a, o->off) < (uint64_t)o->min)
      return NULL;
    snprintf(buf, n, "%llu", (unsigned long long)*(const uint64_t *)at(a, o->off));
    return buf;
  case OPT_BOOL:
    v = o->bit ? (*(const unsigned *)at(a, o->off) & o->bit) != 0
               : *(const int *)at(a, o->off) != 0;
    return v ? "true" : "false";
  case OPT_MODE:
    if (!(*(const unsigned *)at(a, o->off2) & o->bit))
      return NULL;
    snprintf(buf, n, "%o", *(const unsigned *)at(a, o->off));
    return buf;
  default: /* OPT_STRING */
    return *(const char *const *)at(a, o->off);
  }
}

void app_settings_json(const struct app *a, struct jw *w) {
  size_t n;
  const struct opt *t = opt_table(&n);
  jw_raw(w, "{\"cmd\":[", 8);
  for (int i = 0; a->cmd && a->cmd[i]; i++) {
    if (i)
      jw_raw(w, ",", 1);
    jw_str(w, a->cmd[i], strlen(a->cmd[i]));
  }
  jw_raw(w, "],\"options\":{", 13);
  int first = 1;
  for (size_t i = 0; i < n; i++) {
    const struct opt *o = &t[i];
    /* env-file: its variables are in env already */
    if (o->where != OPT_ANYWHERE || alias(t, i) || !strcmp(o->name, "env-file"))
      continue;
    char buf[64];
    const char *v = o->kind == OPT_LIST ? "" : opt_text(a, o, buf, sizeof buf);
    if (!v)
      continue;
    jw_printf(w, "%s\"%s\":", first ? "" : ",", o->name);
    first = 0;
    if (o->kind != OPT_LIST) {
      jw_str(w, v, strlen(v));
      continue;
    }
    const char *const *arr = at(a, o->off);
    int cnt = *(const int *)at(a, o->off2);
    jw_raw(w, "[", 1);
    for (int k = 0; k < cnt; k++) {
      if (k)
        jw_raw(w, ",", 1);
      jw_str(w, arr[k], strlen(arr[k]));
    }
    jw_raw(w, "]", 1);
  }
  jw_raw(w, "}}", 2);
}

/* A string of the request, without a NUL inside: the text, or NULL. */
static const char *text_of(const herd_val_t *v) {
  const char *s = jstr(v, NULL);
  return s && strlen(s) == jstrlen(v) ? s : NULL;
}

int app_from_settings(struct app *a, const herd_val_t *s, char *err, size_t errlen) {
  const herd_val_t *cmd = jget(s, "cmd"), *opts = jget(s, "options");
  if (!jis_obj(s) || !jlen(cmd) || !jis_obj(opts))
    return app_fail(err, errlen, "update: give \"app\": {\"cmd\": [...], \"options\": "
                    "{...}}");
  size_t nc = jlen(cmd);
  if (!(a->cmd_owned = calloc(nc + 1, sizeof *a->cmd_owned)))
    return app_fail(err, errlen, "out of memory");
  a->cmd = a->cmd_owned;
  for (size_t i = 0; i < nc; i++) {
    const char *t = text_of(jat(cmd, i));
    if (!t || !*t)
      return app_fail(err, errlen, "update: \"cmd\" item %zu is not a string", i + 1);
    if (!(a->cmd_owned[i] = app_keep(a, t)))
      return app_fail(err, errlen, "out of memory");
  }
  char e[512];
  for (size_t i = 0; i < opts->obj.n; i++) {
    const herd_val_prop_t *p = &opts->obj.props[i];
    const herd_val_t *v = p->value;
    const char *key = p->key && strlen(p->key) == p->key_len ? p->key : "";
    size_t items = v->type == HERD_VAL_ARRAY ? jlen(v) : 1;
    for (size_t k = 0; k < items; k++) {
      const char *t = text_of(v->type == HERD_VAL_ARRAY ? jat(v, k) : v);
      if (!t)
        return app_fail(err, errlen, "update: option '%.40s' is not a string", key);
      if (app_set(a, key, t, e, sizeof e) < 0)
        return app_fail(err, errlen, "update: %s", e);
    }
  }
  return 0;
}
