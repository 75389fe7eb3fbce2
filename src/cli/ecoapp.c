/*
 * ecoapp.c - one app of a PM2 ecosystem file (as the loader of eco.c
 * printed it) made a herd app: PM2's keys and aliases (schema.json v7)
 * to app_set calls with herd's option names, PM2's defaults where they
 * differ from herd's (one instance; cluster mode when instances is
 * given and the interpreter is node; the interpreter by the script's
 * extension), env laid over as PM2's --env does, and one warning line
 * for each option that does not map. docs/pm2.md has the table.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eco.h"
#include "jval.h"
#include "opts.h"

/* ---- values ---------------------------------------------------------- */

/* What the loader put for a value JSON has not ("a function"), or NULL. */
static const char *nonjson(const herd_val_t *v) {
  return jis_obj(v) ? jstr(jget(v, ECO_NONJSON), NULL) : NULL;
}

static const char *kind_name(const herd_val_t *v) {
  const char *nj = nonjson(v);
  if (nj)
    return nj;
  switch (v ? v->type : HERD_VAL_NULL) {
  case HERD_VAL_STRING:
    return "a string";
  case HERD_VAL_NUMBER:
    return "a number";
  case HERD_VAL_BOOL:
    return "a boolean";
  case HERD_VAL_ARRAY:
    return "an array";
  case HERD_VAL_OBJECT:
    return "an object";
  default:
    return "null";
  }
}

/* A string, number or boolean as text (numbers as JS prints them, for
 * the whole ones that options take), or NULL. */
static const char *scalar(const herd_val_t *v, char *buf, size_t n) {
  if (!v)
    return NULL;
  if (v->type == HERD_VAL_STRING)
    return v->str.s;
  if (v->type == HERD_VAL_BOOL)
    return v->boolean ? "true" : "false";
  if (v->type == HERD_VAL_NUMBER) {
    snprintf(buf, n, "%.17g", v->number);
    return buf;
  }
  return NULL;
}

/* ---- the options ------------------------------------------------------- */

/* What herd does with a PM2 key. */
enum {
  F_SCRIPT, F_NAME, F_ARGS, F_CWD, F_INSTANCES, F_EXEC_MODE, F_ENV, F_PORT,
  F_INTERP, F_NODE_ARGS, F_UID, F_GID, F_WAIT_READY, F_AUTOSTART,
  F_NFIELDS, /* the fields above are read before the others */
  F_HERD,       /* one of herd's own options, value as it is (herd below) */
  F_LOGS,       /* a log file: herd's are fixed (ignored, saying where) */
  F_IF_TRUE,    /* what herd always does when true; false: not supported */
  F_BUILTIN,    /* what herd does its own way: accepted */
  F_INSTANCE_VAR, /* NODE_APP_INSTANCE only */
  F_LIST,       /* herd's list option: a string, strings, true (watch) */
  F_NO,         /* not supported: one warning line */
};

static const struct key {
  const char *pm2;
  int f;
  const char *herd; /* F_HERD */
} keys[] = {
    {"script", F_SCRIPT, NULL}, {"exec", F_SCRIPT, NULL}, {"cmd", F_SCRIPT, NULL},
    {"command", F_SCRIPT, NULL}, {"name", F_NAME, NULL}, {"args", F_ARGS, NULL},
    {"cwd", F_CWD, NULL}, {"instances", F_INSTANCES, NULL},
    {"exec_mode", F_EXEC_MODE, NULL}, {"env", F_ENV, NULL}, {"port", F_PORT, NULL},
    {"exec_interpreter", F_INTERP, NULL}, {"interpreter", F_INTERP, NULL},
    {"node_args", F_NODE_ARGS, NULL}, {"interpreter_args", F_NODE_ARGS, NULL},
    {"interpreterArgs", F_NODE_ARGS, NULL}, {"uid", F_UID, NULL}, {"user", F_UID, NULL},
    {"gid", F_GID, NULL}, {"wait_ready", F_WAIT_READY, NULL},
    {"autostart", F_AUTOSTART, NULL},
    {"max_memory_restart", F_HERD, "max-memory"}, {"kill_timeout", F_HERD, "kill-timeout"},
    {"listen_timeout", F_HERD, "ready-timeout"}, {"min_uptime", F_HERD, "min-uptime"},
    {"max_restarts", F_HERD, "max-restarts"},
    {"watch", F_LIST, "watch"}, {"ignore_watch", F_LIST, "watch-ignore"},
    {"watch_delay", F_HERD, "watch-delay"}, {"cron_restart", F_HERD, "cron-restart"},
    {"cron", F_HERD, "cron-restart"},
    {"out_file", F_LOGS, "out"}, {"out", F_LOGS, "out"}, {"output", F_LOGS, "out"},
    {"out_log", F_LOGS, "out"}, {"error_file", F_LOGS, "err"}, {"error", F_LOGS, "err"},
    {"err", F_LOGS, "err"}, {"err_file", F_LOGS, "err"}, {"err_log", F_LOGS, "err"},
    {"log_file", F_LOGS, "out"}, {"log", F_LOGS, "out"},
    {"merge_logs", F_IF_TRUE, NULL}, {"combine_logs", F_IF_TRUE, NULL},
    {"treekill", F_IF_TRUE, NULL}, {"autorestart", F_IF_TRUE, NULL},
    {"time", F_IF_TRUE, NULL}, {"username", F_BUILTIN, NULL},
    {"exp_backoff_restart_delay", F_BUILTIN, NULL},
    {"instance_var", F_INSTANCE_VAR, NULL},
};

/* The rest of PM2's schema.json (v7): known, not supported. */
static const char *const unsupported[] = {
    "name_prefix", "filter_env", "namespace", "install_url", "disable_logs", "log_type",
    "log_date_format", "pid_file", "pid", "restart_delay", "source_map_support",
    "disable_source_map_support", "shutdown_with_message",
    "watch_options", "execute_command", "force",
    "append_env_to_name", "post_update", "trace", "disable_trace", "v8",
    "event_loop_inspector", "deep_monitoring", "increment_var", "windowsHide",
    "kill_retry_time", "write", "io", "stop_exit_codes", "vizion", "pmx", "automation",
    NULL};

/* The entry of a PM2 key; &no for a known option herd does not
 * support, NULL for a key that is no PM2 option. */
static const struct key no = {"", F_NO, NULL};
static const struct key *key_of(const char *k) {
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    if (!strcmp(keys[i].pm2, k))
      return &keys[i];
  for (const char *const *u = unsupported; *u; u++)
    if (!strcmp(*u, k))
      return &no;
  return NULL;
}

/* ---- one app ----------------------------------------------------------- */


/* One app's fields read first (F_* < F_NFIELDS), with the key that gave
 * each, and its name for messages. */
struct in {
  const herd_val_t *f[F_NFIELDS];
  const char *key[F_NFIELDS];
  const herd_val_t *env_sel; /* env_NAME */
  const char *name;
};

/* A key as a message may quote it (a JSON key may hold anything). */
const char *eco_key_text(const herd_val_prop_t *p, char *buf, size_t n) {
  if (!p->key) {
    snprintf(buf, n, "%u", p->index);
    return buf;
  }
  cli_printable(buf, n, p->key, p->key_len > 64 ? 64 : p->key_len);
  return buf;
}

/* name in PATH (as execvp finds it) into out; a name with '/' as it is.
 * 0, or -1 if there is none. */
static int which(const char *name, char *out, size_t n) {
  if (strchr(name, '/'))
    return snprintf(out, n, "%s", name) < (int)n && access(name, X_OK) == 0 ? 0 : -1;
  const char *p = getenv("PATH");
  for (p = p ? p : "/usr/local/bin:/usr/bin:/bin"; *p;) {
    size_t len = strcspn(p, ":");
    if (snprintf(out, n, "%.*s%s%s", (int)len, p, len ? "/" : "", name) < (int)n &&
        access(out, X_OK) == 0)
      return 0;
    p += len + (p[len] == ':');
  }
  return -1;
}

/* PM2's isBinary: a NUL in its first 512 bytes. */
static int binary_file(const char *path) {
  FILE *f = fopen(path, "rbe");
  if (!f)
    return 0;
  char b[512];
  size_t n = fread(b, 1, sizeof b, f);
  fclose(f);
  return memchr(b, '\0', n) != NULL;
}

/* args, node_args: an array of values, or a string split on blanks (a
 * quoted run, "a b" or 'a b', is one word, without its quotes). Each
 * word is the app's (app_keep) in words[*n...]; -1 with err set. */
static int words(struct app *a, const herd_val_t *v, const char *key, char **w, size_t *n,
                 size_t max, char *err, size_t errlen) {
  char num[32];
  if (v->type == HERD_VAL_ARRAY) {
    for (size_t i = 0; i < jlen(v); i++) {
      const char *t = scalar(jat(v, i), num, sizeof num);
      if (!t)
        return app_fail(err, errlen, "%s: item %zu is %s, not a string", key, i + 1,
                        kind_name(jat(v, i)));
      if (*n == max || !(w[(*n)++] = app_keep(a, t)))
        return app_fail(err, errlen, "%s: too many words", key);
    }
    return 0;
  }
  const char *s = scalar(v, num, sizeof num);
  if (!s)
    return app_fail(err, errlen, "%s: expected a string or an array, not %s", key,
                    kind_name(v));
  char *buf = app_keep(a, s);
  if (!buf)
    return app_fail(err, errlen, "out of memory");
  for (char *p = buf, *o; *p;) {
    while (*p == ' ' || *p == '\t')
      p++;
    if (!*p)
      break;
    if (*n == max)
      return app_fail(err, errlen, "%s: too many words", key);
    w[(*n)++] = o = p;
    for (char q = 0; *p && (q || (*p != ' ' && *p != '\t')); p++)
      if (!q && (*p == '"' || *p == '\''))
        q = *p;
      else if (q && *p == q)
        q = 0;
      else
        *o++ = *p;
    if (*p)
      p++;
    *o = '\0';
  }
  return 0;
}

/* The interpreter of a script PM2 would choose (lib/API/interpreter.json
 * by extension, else node unless the file is binary), or NULL: none. */
static const char *interpreter_of(const char *script, char *buf, size_t n) {
  static const char *const by_ext[][2] = {
      {".js", "node"},    {".cjs", "node"}, {".mjs", "node"}, {".sh", "bash"},
      {".py", "python"},  {".rb", "ruby"},  {".php", "php"},  {".pl", "perl"},
      {".coffee", "coffee"}, {".ls", "lsc"}, {".ts", "bun"},  {".tsx", "bun"}};
  for (size_t i = 0; i < sizeof by_ext / sizeof by_ext[0]; i++)
    if (eco_ends_with(script, by_ext[i][0])) {
      /* PM2: python, else python3 */
      if (!strcmp(by_ext[i][1], "python") && which("python", buf, n) < 0)
        return "python3";
      return by_ext[i][1];
    }
  return binary_file(script) ? NULL : "node";
}

/* The argv: [INTERPRETER [node_args...]] SCRIPT [args...], or a script
 * that is a command line (it has a blank and is no file) as bash -c (sh
 * -c without bash), as PM2. *node: the interpreter is node. */
static int build_cmd(struct app *a, const struct eco *e, const struct in *in,
                     const char *wd, int *node, int *python, char *err, size_t errlen) {
  const char *script = in->f[F_SCRIPT]->str.s;
  const herd_val_t *iv = in->f[F_INTERP];
  const char *interp = iv && iv->type == HERD_VAL_STRING ? iv->str.s : NULL;
  if (iv && !interp)
    return app_fail(err, errlen, "%s: expected a string, not %s", in->key[F_INTERP],
                    kind_name(iv));
  char path[PATH_MAX], found[PATH_MAX], ibuf[PATH_MAX];
  if (snprintf(path, sizeof path, "%s%s%s", script[0] == '/' ? "" : wd,
               script[0] == '/' ? "" : "/", script) >= (int)sizeof path)
    return app_fail(err, errlen, "script: path too long");
  size_t max = 1024, n = 0;
  char **w = calloc(max + 1, sizeof *w);
  if (!w || !(a->cmd_owned = w))
    return app_fail(err, errlen, "out of memory");
  *node = *python = 0;
  if (access(path, F_OK) != 0 && strpbrk(script, " \t") && !interp) {
    w[n++] = app_keep(a, which("bash", found, sizeof found) == 0 ? "bash" : "sh");
    w[n++] = app_keep(a, "-c");
    w[n++] = app_keep(a, script);
    if (in->f[F_ARGS])
      eco_warn(e, in->name, "option '%s' is not supported with a script that is a "
           "command line (ignored)", in->key[F_ARGS]);
    a->cmd = w;
    return w[0] && w[1] && w[2] ? 0 : app_fail(err, errlen, "out of memory");
  }
  if (access(path, F_OK) != 0) {
    if (which(script, found, sizeof found) < 0)
      return app_fail(err, errlen, "script not found: %s", path);
    snprintf(path, sizeof path, "%s", found);
  }
  if (!interp)
    interp = interpreter_of(path, ibuf, sizeof ibuf);
  else if (!strcmp(interp, "none"))
    interp = NULL;
  if (interp) {
    if (which(interp, found, sizeof found) < 0)
      return app_fail(err, errlen, "interpreter %s is not in PATH", interp);
    const char *b = strrchr(interp, '/');
    b = b ? b + 1 : interp;
    *node = eco_ends_with(b, "node");
    *python = strstr(b, "python") != NULL;
    w[n++] = app_keep(a, interp);
    if (in->f[F_NODE_ARGS] &&
        words(a, in->f[F_NODE_ARGS], in->key[F_NODE_ARGS], w, &n, max - 1, err, errlen) < 0)
      return -1;
  } else if (in->f[F_NODE_ARGS]) {
    eco_warn(e, in->name, "option '%s' is not supported "
         "without an interpreter (ignored)", in->key[F_NODE_ARGS]);
  }
  w[n++] = app_keep(a, path);
  if (in->f[F_ARGS] && words(a, in->f[F_ARGS], in->key[F_ARGS], w, &n, max, err, errlen) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    if (!w[i])
      return app_fail(err, errlen, "out of memory");
  a->cmd = w;
  return 0;
}

/* The environment as PM2 merges it: env, port, deploy.NAME.env, env_NAME,
 * a later K replacing an earlier one. */
struct envs {
  char *kv[MAX_ENV];
  int n;
};

static int env_put(struct envs *v, const char *k, const char *val, char *err,
                   size_t errlen) {
  if (strchr(k, '=') || !*k)
    return app_fail(err, errlen, "env: '%s' is no variable name", k);
  char *kv;
  if (asprintf(&kv, "%s=%s", k, val) < 0)
    return app_fail(err, errlen, "out of memory");
  size_t kl = strlen(k);
  for (int i = 0; i < v->n; i++)
    if (!strncmp(v->kv[i], kv, kl + 1)) {
      free(v->kv[i]);
      v->kv[i] = kv;
      return 0;
    }
  if (v->n == MAX_ENV) {
    free(kv);
    return app_fail(err, errlen, "env: at most %d variables", MAX_ENV);
  }
  v->kv[v->n++] = kv;
  return 0;
}

/* An env object's variables into v: strings, numbers and booleans as
 * text, objects as JSON (PM2 JSON.stringify's them). */
static int env_merge(struct envs *v, const struct eco *e, const char *app,
                     const char *what, const herd_val_t *obj, char *err, size_t errlen) {
  if (!jis_obj(obj) || nonjson(obj)) {
    eco_warn(e, app, "option '%s' is %s, not an object (ignored)", what, kind_name(obj));
    return 0;
  }
  for (size_t i = 0; i < obj->obj.n; i++) {
    const herd_val_prop_t *p = &obj->obj.props[i];
    char kb[80], num[32], *json = NULL;
    const char *k = p->key ? p->key : eco_key_text(p, kb, sizeof kb);
    const char *t = scalar(p->value, num, sizeof num);
    if (nonjson(p->value)) {
      eco_warn(e, app, "%s: '%s' is %s (ignored)", what, eco_key_text(p, kb, sizeof kb),
           nonjson(p->value));
      continue;
    }
    if (!t && herd_json_stringify(p->value, &json, NULL) != 0)
      return app_fail(err, errlen, "%s: %s: cannot be written as JSON", what, k);
    int r = env_put(v, k, t ? t : json, err, errlen);
    free(json);
    if (r < 0)
      return -1;
  }
  return 0;
}

static int app_env(struct app *a, const struct eco *e, const struct in *in, int python,
                   char *err, size_t errlen) {
  struct envs v = {.n = 0};
  char num[32], msg[512];
  int rc = -1;
  if (python && env_put(&v, "PYTHONUNBUFFERED", "1", err, errlen) < 0) /* PM2's */
    goto fail;
  if (in->f[F_ENV] && env_merge(&v, e, in->name, in->key[F_ENV], in->f[F_ENV], err,
                                errlen) < 0)
    goto fail;
  const char *port = scalar(in->f[F_PORT], num, sizeof num);
  if (in->f[F_PORT] && !port)
    eco_warn(e, in->name, "option 'port' is %s, not a number (ignored)",
         kind_name(in->f[F_PORT]));
  else if (port && env_put(&v, "PORT", port, err, errlen) < 0)
    goto fail;
  if (e->deploy_env && env_merge(&v, e, in->name, "deploy.env", e->deploy_env, err,
                                 errlen) < 0)
    goto fail;
  if (in->env_sel) {
    char what[200];
    snprintf(what, sizeof what, "env_%s", e->env_name);
    if (env_merge(&v, e, in->name, what, in->env_sel, err, errlen) < 0)
      goto fail;
  } else if (e->env_name) {
    /* a warning, as PM2's */
    eco_warn(e, in->name, "has no env_%s (--env %s): its env alone is used", e->env_name,
         e->env_name);
  }
  for (int i = 0; i < v.n; i++)
    if (app_set(a, "env", v.kv[i], msg, sizeof msg) < 0) {
      app_fail(err, errlen, "%s", msg);
      goto fail;
    }
  rc = 0;
fail:
  for (int i = 0; i < v.n; i++)
    free(v.kv[i]);
  return rc;
}

/* instances: PM2's (God.js): 0 or 'max' = CPUs, negative = CPUs + n, at
 * least 1; a string is parseInt'ed. Sets -w; *count gets the number PM2
 * compares (0 for max). */
static int app_instances(struct app *a, const herd_val_t *v, long *count, char *err,
                         size_t errlen) {
  char buf[32], msg[512];
  long n;
  if (v->type == HERD_VAL_NUMBER && v->number == (long)v->number) {
    n = (long)v->number;
  } else if (v->type == HERD_VAL_STRING && !strcmp(v->str.s, "max")) {
    n = 0;
  } else if (v->type == HERD_VAL_STRING) {
    char *end;
    errno = 0;
    n = strtol(v->str.s, &end, 10);
    if (end == v->str.s || errno)
      return app_fail(err, errlen, "instances: '%s' is not a number or 'max'", v->str.s);
  } else {
    return app_fail(err, errlen, "instances: expected a number or 'max', not %s",
                    kind_name(v));
  }
  *count = n;
  if (n <= 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    n = n + (cpus > 0 ? cpus : 1);
    if (n < 1)
      n = 1;
  }
  snprintf(buf, sizeof buf, "%ld", n);
  if (app_set(a, "workers", buf, msg, sizeof msg) < 0)
    return app_fail(err, errlen, "instances: %s", msg);
  return 0;
}

/* exec_mode: cluster (--node-cluster) or fork (workers of their own, with
 * PM2's channel when they are node). Unset: cluster when instances is
 * given (>= -1) and the interpreter is node, as PM2's determineExecMode. */
static int app_mode(struct app *a, const struct eco *e, const struct in *in, int node,
                    int has_instances, long instances, char *err, size_t errlen) {
  const herd_val_t *m = in->f[F_EXEC_MODE];
  int cluster = has_instances && instances >= -1 && node;
  if (m) {
    const char *s = jstr(m, "");
    size_t l = strcspn(s, "_");
    if (m->type != HERD_VAL_STRING || (strcmp(s + l, "") && strcmp(s + l, "_mode")) ||
        (strncmp(s, "cluster", l) && strncmp(s, "fork", l)) || !l)
      return app_fail(err, errlen, "exec_mode: expected 'cluster' or 'fork', not %s%s%s",
                      m->type == HERD_VAL_STRING ? "'" : "", m->type == HERD_VAL_STRING ?
                      s : kind_name(m), m->type == HERD_VAL_STRING ? "'" : "");
    cluster = s[0] == 'c';
    if (cluster && !node) {
      eco_warn(e, in->name, "exec_mode 'cluster' needs the node interpreter: run in fork "
           "mode");
      cluster = 0;
    }
  }
  char msg[512];
  if ((cluster || node) &&
      app_set(a, cluster ? "node-cluster" : "ipc", "true", msg, sizeof msg) < 0)
    return app_fail(err, errlen, "%s", msg);
  return 0;
}

/* watch (true, a path or an array of paths), ignore_watch (a glob or
 * an array): each item to herd's list option opt; an item herd cannot
 * read (a RegExp) is warned about and left out. */
static int list_option(struct app *a, const struct eco *e, const struct in *in,
                       const char *opt, const char *k, const herd_val_t *v, char *err,
                       size_t errlen) {
  char msg[512];
  int arr = v->type == HERD_VAL_ARRAY;
  for (size_t i = 0; i < (arr ? jlen(v) : 1); i++) {
    const herd_val_t *it = arr ? jat(v, i) : v;
    if (nonjson(it)) {
      eco_warn(e, in->name, "option '%s': item %zu is %s, which herd cannot read (ignored)",
               k, i + 1, nonjson(it));
      continue;
    }
    int yes_no = !arr && it->type == HERD_VAL_BOOL && !strcmp(opt, "watch");
    if (it->type != HERD_VAL_STRING && !yes_no)
      return app_fail(err, errlen, "%s: expected %s, not %s", k, strcmp(opt, "watch") ?
                      "a string or an array of strings" : "true, a path or an array of "
                      "paths", kind_name(it));
    if (app_set(a, opt, yes_no ? (it->boolean ? "true" : "false") : it->str.s, msg,
                sizeof msg) < 0)
      return app_fail(err, errlen, "%s: %s", k, msg);
  }
  return 0;
}

/* The options read after the command (pass 2): herd's own, the log
 * files, and what herd does not support, one warning line each. */
static int app_option(struct app *a, const struct eco *e, const struct in *in,
                      const herd_val_prop_t *p, char *err, size_t errlen) {
  char kb[80], num[32], msg[512], home[PATH_MAX];
  const char *k = eco_key_text(p, kb, sizeof kb);
  const herd_val_t *v = p->value;
  if (p->key && !strncmp(p->key, "env_", 4))
    return 0; /* an environment --env may select */
  const struct key *ky = p->key ? key_of(p->key) : NULL;
  if (!ky) {
    eco_warn(e, in->name, "option '%s' is not a PM2 option (ignored)", k);
    return 0;
  }
  if (ky->f < F_NFIELDS) {
    if (in->f[ky->f] != v)
      eco_warn(e, in->name, "option '%s' is '%s' again (ignored)", k, in->key[ky->f]);
    return 0;
  }
  if (nonjson(v)) {
    eco_warn(e, in->name, "option '%s' is %s, which herd cannot read (ignored)", k,
         nonjson(v));
    return 0;
  }
  const char *t = scalar(v, num, sizeof num);
  switch (ky->f) {
  case F_HERD:
    if (!t || v->type == HERD_VAL_BOOL)
      return app_fail(err, errlen, "%s: expected a number or a string, not %s", k,
                      kind_name(v));
    /* PM2's max_restarts 0 (errored at the first early death) is herd's 1 */
    if (!strcmp(ky->herd, "max-restarts") && v->type == HERD_VAL_NUMBER && v->number < 1)
      t = "1";
    if (app_set(a, ky->herd, t, msg, sizeof msg) < 0)
      return app_fail(err, errlen, "%s: %s", k, msg);
    return 0;
  case F_LIST:
    return list_option(a, e, in, ky->herd, k, v, err, errlen);
  case F_LOGS:
    if (home_dir(home, sizeof home) < 0)
      snprintf(home, sizeof home, "HERD_HOME");
    eco_warn(e, in->name, "option '%s' is not supported by herd (ignored): its %s goes to "
         "%s/logs/%s-%s.log", k, ky->herd[0] == 'o' ? "stdout" : "stderr", home,
         a->name, ky->herd);
    return 0;
  case F_IF_TRUE:
    if (!jbool(v, 0))
      eco_warn(e, in->name, "option '%s': %s is not supported by herd (ignored)", k,
           t ? t : kind_name(v));
    return 0;
  case F_INSTANCE_VAR:
    if (!t || strcmp(t, "NODE_APP_INSTANCE"))
      eco_warn(e, in->name, "option '%s' is not supported by herd (ignored): workers get "
           "NODE_APP_INSTANCE and HERD_WORKER_ID", k);
    return 0;
  case F_BUILTIN:
    return 0;
  default:
    eco_warn(e, in->name, "option '%s' is not supported by herd (ignored)", k);
    return 0;
  }
}

/* uid (user), gid: --user UID[:GID]. */
static int app_user(struct app *a, const struct in *in, char *err, size_t errlen) {
  char ub[32], gb[32], spec[300], msg[512];
  const char *u = scalar(in->f[F_UID], ub, sizeof ub);
  const char *g = scalar(in->f[F_GID], gb, sizeof gb);
  if ((in->f[F_UID] && !u) || (in->f[F_GID] && !g))
    return app_fail(err, errlen, "%s: expected a name or a number",
                    in->key[in->f[F_UID] && !u ? F_UID : F_GID]);
  if (!u && !g)
    return 0;
  if (!u)
    return app_fail(err, errlen, "gid: only with uid (herd's --user USER:GROUP)");
  snprintf(spec, sizeof spec, "%s%s%s", u, g ? ":" : "", g ? g : "");
  if (app_set(a, "user", spec, msg, sizeof msg) < 0)
    return app_fail(err, errlen, "%s", msg);
  return 0;
}

/* The app's name: PM2's default is the script's base name without its
 * extension (app for app.js). */
static const char *default_name(struct app *a, const char *script) {
  const char *b = strrchr(script, '/');
  b = b ? b + 1 : script;
  char name[256];
  const char *dot = strrchr(b, '.');
  snprintf(name, sizeof name, "%.*s", dot && dot != b ? (int)(dot - b) : (int)strlen(b), b);
  return app_keep(a, name);
}

/* Pass 1: the fields the rest depends on. */
static int read_fields(const struct eco *e, const herd_val_t *obj, struct in *in) {
  for (size_t i = 0; i < obj->obj.n; i++) {
    const herd_val_prop_t *p = &obj->obj.props[i];
    if (!p->key)
      continue;
    if (e->env_name && !strncmp(p->key, "env_", 4) && !strcmp(p->key + 4, e->env_name))
      in->env_sel = p->value;
    const struct key *k = key_of(p->key);
    if (k && k->f < F_NFIELDS && !in->f[k->f]) {
      in->f[k->f] = p->value;
      in->key[k->f] = p->key;
    }
  }
  return 0;
}

int eco_app(struct app *a, const struct eco *e, const herd_val_t *obj, size_t idx,
                   char *err, size_t errlen) {
  struct in in = {.name = NULL};
  char msg[512], wd[PATH_MAX], label[32];
  snprintf(label, sizeof label, "#%zu", idx + 1);
  if (!jis_obj(obj) || nonjson(obj))
    return app_fail(err, errlen, "%s: app %s is %s, not an object", e->path, label,
                    kind_name(obj));
  read_fields(e, obj, &in);
  const herd_val_t *sv = in.f[F_SCRIPT], *nv = in.f[F_NAME], *cv = in.f[F_CWD];
  if (!sv || sv->type != HERD_VAL_STRING || !sv->str.s[0])
    return app_fail(err, errlen, "%s: app %s has no script", e->path,
                    jstr(nv, label));
  if (nv && nv->type != HERD_VAL_STRING)
    return app_fail(err, errlen, "%s: app %s: name: expected a string, not %s", e->path,
                    label, kind_name(nv));
  a->conf_path = app_keep(a, e->path);
  a->base_dir = app_keep(a, e->dir);
  in.name = nv ? app_keep(a, nv->str.s) : default_name(a, sv->str.s);
  if (!a->conf_path || !a->base_dir || !in.name)
    return app_fail(err, errlen, "%s: out of memory", e->path);
  /* each option's origin: this file's app (PM2's defaults too) */
  a->from = (struct origin){ORIGIN_ECO, 0, app_keep_file(a, e->path, e->dir), in.name};
  if (!a->from.file)
    return app_fail(err, errlen, "%s: out of memory", e->path);
  if (app_set(a, "name", in.name, msg, sizeof msg) < 0)
    return app_fail(err, errlen, "%s: app %s: %s", e->path, label, msg);
  /* the working directory: a relative cwd is from the file's directory */
  const char *cwd = cv ? jstr(cv, NULL) : NULL;
  if (cv && (!cwd || !*cwd))
    return app_fail(err, errlen, "%s: app '%s': cwd: expected a path, not %s", e->path,
                    in.name, kind_name(cv));
  const char *home = getenv("HOME");
  int wl;
  if (cwd && cwd[0] == '~' && (cwd[1] == '/' || !cwd[1]) && home)
    wl = snprintf(wd, sizeof wd, "%s%s", home, cwd + 1); /* PM2 resolves ~ */
  else if (cwd && cwd[0] != '/')
    wl = snprintf(wd, sizeof wd, "%s/%s", e->dir, cwd);
  else
    wl = snprintf(wd, sizeof wd, "%s", cwd ? cwd : e->dir);
  if (wl < 0 || (size_t)wl >= sizeof wd)
    return app_fail(err, errlen, "%s: app '%s': cwd: path too long", e->path, in.name);
  if (app_set(a, "cwd", wd, msg, sizeof msg) < 0)
    return app_fail(err, errlen, "%s: app '%s': %s", e->path, in.name, msg);
  int node = 0, python = 0;
  long instances = 1;
  a->cmd_from = a->from; /* script, args, interpreter */
  if (build_cmd(a, e, &in, wd, &node, &python, msg, sizeof msg) < 0 ||
      app_set(a, "workers", "1", msg, sizeof msg) < 0 ||
      (in.f[F_INSTANCES] && app_instances(a, in.f[F_INSTANCES], &instances, msg,
                                          sizeof msg) < 0) ||
      app_mode(a, e, &in, node, in.f[F_INSTANCES] != NULL, instances, msg,
               sizeof msg) < 0 ||
      app_user(a, &in, msg, sizeof msg) < 0 ||
      app_env(a, e, &in, python, msg, sizeof msg) < 0)
    return app_fail(err, errlen, "%s: app '%s': %s", e->path, in.name, msg);
  const herd_val_t *wr = in.f[F_WAIT_READY], *as = in.f[F_AUTOSTART];
  if ((wr && wr->type != HERD_VAL_BOOL) || (as && as->type != HERD_VAL_BOOL))
    return app_fail(err, errlen, "%s: app '%s': %s: expected true or false, not %s",
                    e->path, in.name, in.key[wr && wr->type != HERD_VAL_BOOL ?
                    F_WAIT_READY : F_AUTOSTART], kind_name(wr && wr->type !=
                    HERD_VAL_BOOL ? wr : as));
  if (jbool(wr, 0) && app_set(a, "ready", "ipc", msg, sizeof msg) < 0)
    return app_fail(err, errlen, "%s: app '%s': %s", e->path, in.name, msg);
  a->no_autostart = as && !as->boolean;
  for (size_t i = 0; i < obj->obj.n; i++)
    if (app_option(a, e, &in, &obj->obj.props[i], msg, sizeof msg) < 0)
      return app_fail(err, errlen, "%s: app '%s': %s", e->path, in.name, msg);
  if (app_finish(a, msg, sizeof msg) < 0)
    return app_fail(err, errlen, "%s: app '%s': %s", e->path, in.name, msg);
  return 0;
}

