/*
 * confout.c - an app written back as a config file's table (herd's TOML
 * subset, conf.h), which conf.c and appconf.c read back to the same
 * app: what the `config` control request answers and `herd save`
 * writes. The command, the working directory, the environment, the
 * number of workers, and every other option whose value differs from
 * its default, each written as app_set reads it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "jw.h"
#include "opts.h"

/* a line of the file, key and quotes included, stays under conf.c's
 * limit */
#define LINE_ROOM (CONF_MAX_LINE - 64)

/* s as a TOML basic string "...": the escapes conf.c reads (\" \\ \b \t
 * \n \f \r, \u00XX for the other control characters and DEL, which a
 * config file may not hold raw); other UTF-8 as it is. -1 for bytes
 * that are not UTF-8 (TOML has no way to write them) or a string past
 * the line limit. */
static int toml_str(struct jw *w, const char *s) {
  size_t len = strlen(s), start = w->len;
  jw_raw(w, "\"", 1);
  for (size_t i = 0; i < len;) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x80) {
      uint32_t ch;
      size_t k = herd__utf8_next((const unsigned char *)s + i, len - i, 0, &ch);
      if (ch == HERD__UTF8_FAULT)
        return -1;
      jw_raw(w, s + i, k);
      i += k;
      continue;
    }
    const char *e = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b"
                    : c == '\t' ? "\\t" : c == '\n' ? "\\n" : c == '\f' ? "\\f"
                    : c == '\r' ? "\\r" : NULL;
    if (e)
      jw_raw(w, e, 2);
    else if (c < 0x20 || c == 0x7f)
      jw_printf(w, "\\u%04x", c);
    else
      jw_raw(w, s + i, 1);
    i++;
  }
  jw_raw(w, "\"", 1);
  return w->len - start > LINE_ROOM ? -1 : 0;
}

/* key = [ one string a line ] */
static int toml_list(struct jw *w, const char *key, const char *const *items,
                     const char **bad) {
  jw_printf(w, "%s = [", key);
  for (size_t i = 0; items[i]; i++) {
    jw_raw(w, "\n  ", 3);
    if (toml_str(w, items[i]) < 0) {
      *bad = items[i];
      return -1;
    }
    jw_raw(w, ",", 1);
  }
  jw_raw(w, "\n]\n", 3);
  return 0;
}

static const void *field(const struct app *a, size_t off) {
  return (const char *)a + off;
}

/* "7s", "1500ms" */
static void duration_text(int ms, char *buf, size_t n) {
  if (ms && ms % 1000 == 0)
    snprintf(buf, n, "%ds", ms / 1000);
  else
    snprintf(buf, n, "%dms", ms);
}

/* The signal's name if app_set reads it back as the same signal, else
 * its number. */
static void signal_text(int sig, char *buf, size_t n) {
  const char *abbrev = sig_abbrev(sig);
  snprintf(buf, n, "%d", sig);
  if (!abbrev)
    return;
  struct app t;
  char e[160];
  app_init(&t);
  if (app_set(&t, "stop-signal", abbrev, e, sizeof e) == 0 && t.o.stop_signal == sig)
    snprintf(buf, n, "%s", abbrev);
  app_free(&t);
}

/* One option's value as its TOML text in buf: a string "..." (kind 's'),
 * or a bare integer or boolean ('b'); an OPT_MODE without its flag: ""
 * (unset). Lists and strings are the caller's. */
static char value_text(const struct opt *o, const struct app *a, char *buf,
                       size_t n) {
  buf[0] = '\0';
  switch (o->kind) {
  case OPT_COUNT: {
    int v = *(const int *)field(a, o->off);
    for (const struct opt_word *w = o->words; w && w->name; w++)
      if (w->value == v) {
        snprintf(buf, n, "%s", w->name);
        return 's';
      }
    snprintf(buf, n, "%d", v);
    return 'b';
  }
  case OPT_DURATION:
    duration_text(*(const int *)field(a, o->off), buf, n);
    return 's';
  case OPT_SIZE: {
    uint64_t b = *(const uint64_t *)field(a, o->off);
    const char *unit = "";
    for (const char *u = "KMG"; *u && b && b % 1024 == 0; u++) {
      b /= 1024;
      unit = u;
    }
    snprintf(buf, n, "%llu%.1s", (unsigned long long)b, unit);
    return 's';
  }
  case OPT_BOOL: {
    int on = o->bit ? (*(const unsigned *)field(a, o->off) & o->bit) != 0
                    : *(const int *)field(a, o->off) != 0;
    snprintf(buf, n, "%s", on ? "true" : "false");
    return 'b';
  }
  case OPT_ENUM: {
    int v = *(const int *)field(a, o->off);
    const struct opt_word *w = o->words;
    for (; w->name; w++)
      if (w->value == v) {
        snprintf(buf, n, "%s", w->name);
        return 's';
      }
    if (w->value >= 0 && w->value == v) /* the duration */
      duration_text(*(const int *)field(a, o->off2), buf, n);
    return 's';
  }
  case OPT_SIGNAL:
    signal_text(*(const int *)field(a, o->off), buf, n);
    return 's';
  case OPT_MODE:
    if (*(const unsigned *)field(a, o->off2) & o->bit)
      snprintf(buf, n, "%03o", *(const unsigned *)field(a, o->off));
    return 's';
  default:
    return 0;
  }
}

/* The options app_toml writes on its own, or not at all (env-file: its
 * variables were read at the start and are in env; its paths are the
 * starter's, relative to a directory the file does not know). */
static int written_apart(const struct opt *o) {
  static const char *const apart[] = {"name", "workers", "instances", "env", "cwd",
                                      "ready", "env-file", NULL};
  for (const char *const *p = apart; *p; p++)
    if (!strcmp(o->name, *p))
      return 1;
  return o->where != OPT_ANYWHERE;
}

/* Every option of the table that differs from its default, but those
 * written apart. */
static int other_options(struct jw *w, const struct app *a, const char **bad) {
  struct app d;
  app_init(&d);
  size_t n;
  const struct opt *t = opt_table(&n);
  int r = 0;
  for (size_t i = 0; i < n && !r; i++) {
    const struct opt *o = &t[i];
    if (written_apart(o))
      continue;
    if (o->kind == OPT_STRING) {
      const char *v = *(const char *const *)field(a, o->off);
      const char *dv = *(const char *const *)field(&d, o->off);
      if (!v || (dv && !strcmp(v, dv)))
        continue;
      jw_printf(w, "%s = ", o->name);
      if ((r = toml_str(w, v)) < 0)
        *bad = v;
      jw_raw(w, "\n", 1);
      continue;
    }
    if (o->kind == OPT_LIST || o->kind == OPT_PATHS) {
      const char *const *items = field(a, o->off);
      if (*(const int *)field(a, o->off2))
        r = toml_list(w, o->name, items, bad);
      continue;
    }
    char v[64], dv[64];
    char kind = value_text(o, a, v, sizeof v);
    value_text(o, &d, dv, sizeof dv);
    if (!kind || !strcmp(v, dv))
      continue;
    if (kind == 's')
      jw_printf(w, "%s = \"%s\"\n", o->name, v);
    else
      jw_printf(w, "%s = %s\n", o->name, v);
  }
  app_free(&d);
  return r;
}

int app_toml(const struct app *a, int workers, const char *const *env, struct jw *w,
             char *err, size_t errlen) {
  const char *bad = NULL;
  /* a name is bare unless it has a dot ([a.b] is a nested table) */
  jw_printf(w, strchr(a->name, '.') ? "[\"%s\"]\n" : "[%s]\n", a->name);
  if (toml_list(w, "command", (const char *const *)a->cmd, &bad) < 0)
    goto bad;
  jw_raw(w, "cwd = ", 6);
  if (toml_str(w, a->cwd) < 0) {
    bad = a->cwd;
    goto bad;
  }
  jw_printf(w, "\nworkers = %d\n", workers);
  /* ready's default depends on --node-cluster (app_finish) */
  int node = (a->o.flags & HERD_CLUSTER_NODE) != 0;
  if (a->o.ready != (node ? HERD_READY_LISTENING : HERD_READY_IMMEDIATE)) {
    char v[64];
    value_text(opt_find("ready"), a, v, sizeof v);
    jw_printf(w, "ready = \"%s\"\n", v);
  }
  if (other_options(w, a, &bad) < 0)
    goto bad;
  if (env && env[0] && toml_list(w, "env", env, &bad) < 0)
    goto bad;
  if (w->err)
    return app_fail(err, errlen, "out of memory");
  return 0;
bad:
  return app_fail(err, errlen, "'%.40s%s': not UTF-8, or longer than a config "
                  "file's line: it cannot be written in one", bad,
                  strlen(bad) > 40 ? "..." : "");
}

static int env_cmp(const void *x, const void *y) {
  const char *a = *(const char *const *)x, *b = *(const char *const *)y;
  size_t ka = strcspn(a, "="), kb = strcspn(b, "=");
  int c = strncmp(a, b, ka < kb ? ka : kb);
  return c ? c : ka < kb ? -1 : ka > kb;
}

/* Is the variable (NAME=...) named in list? */
static int env_has(const char *const *list, int n, const char *kv) {
  size_t k = strcspn(kv, "=");
  for (int i = 0; i < n; i++)
    if (!strncmp(list[i], kv, k) && list[i][k] == '=')
      return 1;
  return 0;
}

int app_saved_env(const struct app *a, char *const *inherited, const char ***out,
                  char *err, size_t errlen) {
  /* herd's own, for each worker or for the master: never kept */
  static const char *const ours[] = {
      "LISTEN_FDS=", "LISTEN_PID=", "LISTEN_FDNAMES=", "NOTIFY_SOCKET=",
      "HERD_WORKER_ID=", "NODE_CHANNEL_FD=", "NODE_CHANNEL_SERIALIZATION_MODE=",
      "NODE_APP_INSTANCE=", "NODE_UNIQUE_ID=", "HERD_HOME="};
  size_t cap = (size_t)a->nenv + 1;
  for (size_t i = 0; inherited && inherited[i]; i++)
    cap++;
  const char **env = calloc(cap, sizeof *env);
  if (!env)
    return app_fail(err, errlen, "out of memory");
  int n = 0;
  for (int i = 0; i < a->nenv; i++)
    env[n++] = a->env[i];
  for (size_t i = 0; inherited && inherited[i]; i++) {
    const char *kv = inherited[i];
    if (kv[0] == '=' || !strchr(kv, '=') || env_has(env, a->nenv, kv) ||
        env_has(ours, (int)(sizeof ours / sizeof *ours), kv))
      continue;
    env[n++] = kv;
  }
  if (n > MAX_ENV) {
    free(env);
    return app_fail(err, errlen, "its environment has %d variables, more than a "
                    "config file's env may set (%d)", n, MAX_ENV);
  }
  qsort(env, (size_t)n, sizeof *env, env_cmp);
  env[n] = NULL;
  *out = env;
  return n;
}
