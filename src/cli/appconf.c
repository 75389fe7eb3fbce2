/*
 * appconf.c - an app made whole: app_finish (the default name, --user,
 * --env, absolute paths, after every option), and a config file's apps:
 * each [NAME] table's keys applied with app_set (opts.c: the option
 * table's checks and messages) with FILE:LINE in front; the command as
 * a string or an array, env as a table or an array.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "dotenv.h"
#include "eco.h"
#include "opts.h"



/* USER or USER:GROUP: a name, or a uid (digits) that has a passwd
 * entry. A uid past uid_t is refused, not wrapped (4294967296 was 0). */
static int resolve_user(const char *spec, uid_t *uid, gid_t *gid, char *err,
                        size_t errlen) {
  char user[256];
  if (strlen(spec) >= sizeof user)
    return app_fail(err, errlen, "user: '%.32s...' is too long", spec);
  memcpy(user, spec, strlen(spec) + 1);
  char *group = strchr(user, ':');
  if (group)
    *group++ = '\0';
  struct passwd *pw = getpwnam(user);
  size_t digits = strspn(user, "0123456789");
  if (!pw && digits && !user[digits]) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(user, &end, 10);
    /* (uid_t)-1 is "no change" to setuid's family: not a user */
    if (errno || v >= (unsigned long long)(uid_t)-1)
      return app_fail(err, errlen, "user: %s is out of range for a uid", user);
    pw = getpwuid((uid_t)v);
  }
  if (!pw)
    return app_fail(err, errlen, "user: no such user '%s'", user);
  *uid = pw->pw_uid;
  *gid = pw->pw_gid;
  if (group) {
    struct group *gr = getgrnam(group);
    if (!gr)
      return app_fail(err, errlen, "user: no such group '%s'", group);
    *gid = gr->gr_gid;
  }
  return 0;
}

/* A script ending in .js, .mjs or .cjs is run as `node SCRIPT ARGS`
 * in Node's cluster mode, named after the script (`app` for app.js), as
 * `pm2 start app.js` does. */
static int node_script(struct app *a, char *err, size_t errlen) {
  const char *s = a->cmd[0];
  const char *dot = strrchr(s, '.');
  /* node ecosystem.config.js would print nothing and exit: a crash loop */
  if (eco_file_kind(s) != ECO_NONE)
    return app_fail(err, errlen, "%s is a PM2 ecosystem file, not a script: herd "
                    "start %s", s, s);
  if (!dot || strchr(dot, '/') || (strcmp(dot, ".js") && strcmp(dot, ".mjs") &&
                                   strcmp(dot, ".cjs")))
    return 0;
  size_t argc = 0;
  while (a->cmd[argc])
    argc++;
  char **cmd = calloc(argc + 2, sizeof *cmd);
  char *node = app_keep(a, "node");
  if (!cmd || !node) {
    free(cmd);
    return app_fail(err, errlen, "out of memory");
  }
  cmd[0] = node;
  memcpy(cmd + 1, a->cmd, argc * sizeof *cmd);
  free(a->cmd_owned); /* (its strings are kept, or argv's) */
  a->cmd = a->cmd_owned = cmd;
  if (!(a->o.flags & HERD_CLUSTER_NODE)) {
    a->o.flags |= HERD_CLUSTER_NODE;
    app_origin_set(a, "node-cluster", &(struct origin){ORIGIN_HERD, 0, NULL,
                                                        "the command is a Node script"});
  }
  if (!a->name) {
    const char *b = strrchr(s, '/');
    b = b ? b + 1 : s;
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)(dot - b), b);
    if (!app_name_ok(name) || !strcmp(name, "all") || !(a->name = app_keep(a, name)))
      return app_fail(err, errlen, "cannot name the app after '%s': give --name", s);
  }
  return 0;
}

/* --node-cluster and the ready modes that go with it. */
static int node_options(struct app *a, char *err, size_t errlen) {
  int node = (a->o.flags & HERD_CLUSTER_NODE) != 0;
  if (a->o.ready == READY_UNSET)
    a->o.ready = node ? HERD_READY_LISTENING : HERD_READY_IMMEDIATE;
  if (node && a->o.balance == HERD_BALANCE_REUSEPORT)
    return app_fail(err, errlen, "--node-cluster: balance reuseport is not available "
                                 "(a Node worker's listen() asks for one socket): use "
                                 "shared or roundrobin");
  if (!node && a->o.ready == HERD_READY_LISTENING)
    return app_fail(err, errlen, "ready listening: only with --node-cluster (the "
                                 "message is Node's cluster's)");
  if (a->o.ready == HERD_READY_IPC && !(a->o.flags & HERD_CLUSTER_IPC)) {
    a->o.flags |= HERD_CLUSTER_IPC;
    app_origin_set(a, "ipc", &(struct origin){ORIGIN_HERD, 0, NULL, "ready ipc"});
  }
  if ((a->o.flags & HERD_CLUSTER_STICKY) && (!node || a->o.balance != HERD_BALANCE_ROUNDROBIN))
    return app_fail(err, errlen, "--sticky: only with --node-cluster and --balance "
                                 "roundrobin (herd then chooses the worker)");
  return 0;
}

/* The directory the app's relative paths are from (base_dir, else
 * ours), a copy on the heap; NULL with errno set. */
static char *app_here(const struct app *a) {
  char *here = malloc(PATH_MAX);
  if (!here)
    return NULL;
  if (a->base_dir[0])
    snprintf(here, PATH_MAX, "%s", a->base_dir);
  else if (!getcwd(here, PATH_MAX)) {
    int e = errno;
    free(here);
    errno = e;
    return NULL;
  }
  return here;
}

/* app_finish's paths made absolute from here: relative unix: sockets,
 * the working directory (checked). 0, or -1 with err set. */
static int app_finish_paths(struct app *a, const char *here, char *err, size_t errlen) {
  /* A relative unix: socket path is from the same place (a daemon
   * binds it in "/" otherwise). */
  for (int i = 0; i < a->nlisten; i++) {
    const char *l = a->listen[i];
    if (strncmp(l, "unix:", 5) || l[5] == '/')
      continue;
    char *abs;
    if (asprintf(&abs, "unix:%s/%s", here, l + 5) < 0)
      return app_fail(err, errlen, "out of memory");
    const char *k = app_keep(a, abs);
    free(abs);
    if (!k)
      return app_fail(err, errlen, "out of memory");
    herd_addr_t ad;
    if (herd_addr_parse(k, &ad) < 0)
      return app_fail(err, errlen, "listen: '%s' is too long a path once made "
                  "absolute (%s)", l, k + 5);
    a->listen[i] = k;
  }
  const char *d = a->o.spawn.cwd;
  char *cwd;
  int n;
  if (!d)
    n = asprintf(&cwd, "%s", here);
  else if (d[0] == '/')
    n = asprintf(&cwd, "%s", d);
  else
    n = asprintf(&cwd, "%s/%s", here, d);
  if (n < 0)
    return app_fail(err, errlen, "out of memory");
  const char *kept = n < PATH_MAX ? app_keep(a, cwd) : NULL;
  free(cwd);
  if (n >= PATH_MAX)
    return app_fail(err, errlen, "cwd: path too long");
  if (!kept)
    return app_fail(err, errlen, "out of memory");
  a->cwd = kept;
  /* said now, not as "could not start a worker: No such file..." (herd
   * enters it before a --user change, so its own access is what counts) */
  struct stat cst;
  if (stat(a->cwd, &cst) < 0)
    return app_fail(err, errlen, "cwd: %s: %s", a->cwd, strerror(errno));
  if (!S_ISDIR(cst.st_mode))
    return app_fail(err, errlen, "cwd: %s: %s", a->cwd, strerror(ENOTDIR));
  a->o.spawn.cwd = a->cwd; /* the app's copy: it follows the struct */
  return 0;
}

int app_finish(struct app *a, char *err, size_t errlen) {
  if (!a->cmd || !a->cmd[0])
    return app_fail(err, errlen, "no command given");
  if (node_script(a, err, errlen) < 0 || node_options(a, err, errlen) < 0)
    return -1;
  if (!a->name) {
    const char *b = strrchr(a->cmd[0], '/');
    a->name = b ? b + 1 : a->cmd[0];
    if (!app_name_ok(a->name) || !strcmp(a->name, "all"))
      return app_fail(err, errlen, "cannot name the app after '%s': give --name",
                  a->cmd[0]);
  }
  if (a->user) {
    uid_t uid = 0;
    gid_t gid = 0;
    if (resolve_user(a->user, &uid, &gid, err, errlen) < 0)
      return -1;
    if (geteuid() != 0 && uid != geteuid())
      return app_fail(err, errlen,
                  "user %s: only root may run workers as another user", a->user);
    a->o.spawn.uid = uid;
    a->o.spawn.gid = gid;
    a->o.spawn.flags |= HERD_SPAWN_SETUID | HERD_SPAWN_SETGID;
  }
  a->env[a->nenv] = NULL;
  if (a->nenv) {
    /* a copy of the array: a pointer to a->env would follow the struct
     * nowhere when it is moved (herd run -c FILE NAME moves it) */
    free(a->spawn_env);
    a->spawn_env = calloc((size_t)a->nenv + 1, sizeof *a->spawn_env);
    if (!a->spawn_env)
      return app_fail(err, errlen, "out of memory");
    memcpy(a->spawn_env, a->env, (size_t)a->nenv * sizeof *a->spawn_env);
    a->o.spawn.env = a->spawn_env;
    a->o.spawn.env_mode = HERD_ENV_ADD;
  }
  a->listen[a->nlisten] = NULL;
  /* An absolute working directory: a daemon's own is "/". On the heap
   * (app_here): a PATH_MAX array here put the calls under app_finish 4 KB
   * deeper into the stack, whose pages stay resident in the master. */
  char *here = app_here(a);
  if (!here)
    return app_fail(err, errlen, "getcwd: %s", strerror(errno));
  int r = app_finish_paths(a, here, err, errlen);
  free(here);
  if (r < 0)
    return -1;
  a->o.file = a->cmd[0];
  a->o.argv = a->cmd;
  return watch_finish(a, err, errlen);
}

/* ---- env files ---------------------------------------------------- */

/* A file's variables go to a scratch app first: app_set checks each
 * (herd's own variables refused) with the file's line in front, and a
 * later one replaces an earlier one. */
static int env_put(void *data, const char *kv, char *err, size_t errlen) {
  return app_set(data, "env", kv, err, errlen);
}

int app_env_files(struct app *a, const char *dir, char *err, size_t errlen) {
  if (!a->nenv_files)
    return 0;
  struct app *t = malloc(sizeof *t);
  if (!t)
    return app_fail(err, errlen, "out of memory");
  app_init(t);
  int rc = 0;
  for (int i = 0; i < a->nenv_files && !rc; i++) {
    const char *f = a->env_files[i];
    char *path = NULL;
    if (dir && f[0] != '/' && asprintf(&path, "%s/%s", dir, f) < 0) {
      rc = app_fail(err, errlen, "out of memory");
      break;
    }
    rc = dotenv_load(path ? path : f, env_put, t, err, errlen);
    free(path);
  }
  /* under what the app sets itself: only the variables it leaves unset */
  for (int i = 0; i < t->nenv && !rc; i++) {
    size_t kl = (size_t)(strchr(t->env[i], '=') - t->env[i]) + 1;
    int set = 0;
    for (int j = 0; j < a->nenv && !set; j++)
      set = !strncmp(a->env[j], t->env[i], kl);
    char e[300];
    if (!set && app_set(a, "env", t->env[i], e, sizeof e) < 0)
      rc = app_fail(err, errlen, "%s: %s", a->env_files[0], e);
  }
  app_free(t);
  free(t);
  return rc;
}

/* ---- config files ------------------------------------------------ */

const char *app_keep_file(struct app *a, const char *path, const char *dir) {
  if (path[0] == '/')
    return app_keep(a, path);
  const char *b = strrchr(path, '/');
  char *abs;
  if (asprintf(&abs, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", b ? b + 1 : path) < 0)
    return NULL;
  const char *k = app_keep(a, abs);
  free(abs);
  return k;
}

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

/* env = { K = "V" } or ["K=V", ...] (and env_NAME's): each set with
 * app_set, a later K over an earlier one. */
static int conf_env(struct app *a, const struct conf_key *k, const char *path,
                    char *err, size_t errlen) {
  const struct conf_value *v = &k->v;
  char e[512], num[32];
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
        return app_fail(err, errlen, "%s:%d: %s: %s is %s", path, k->line, k->key,
                    v->keys[j], conf_kind_name(it->kind));
      /* { "A=B" = "c" } would be A="B=c" in the environment */
      if (strchr(v->keys[j], '='))
        return app_fail(err, errlen, "%s:%d: %s: '%s' has '=', which no "
                    "variable name has", path, k->line, k->key, v->keys[j]);
      char *kv;
      if (asprintf(&kv, "%s=%s", v->keys[j], t) < 0)
        return app_fail(err, errlen, "%s:%d: out of memory", path, k->line);
      r = app_set(a, "env", kv, e, sizeof e); /* it keeps a copy */
      free(kv);
    } else {
      if (it->kind != CONF_STR)
        return app_fail(err, errlen, "%s:%d: %s: item %zu is not a string",
                    path, k->line, k->key, j + 1);
      r = app_set(a, "env", it->str, e, sizeof e);
    }
    if (r < 0)
      return app_fail(err, errlen, "%s:%d: %s", path, k->line, e);
  }
  return 0;
}

/* env_NAME (env_production): an environment --env NAME selects; not
 * env_file, an option. */
static int env_table_key(const char *key) {
  return (!strncmp(key, "env_", 4) || !strncmp(key, "env-", 4)) && key[4] &&
         !opt_find(key);
}

/* One app table into a (app_init'ed). Durations given as integers are
 * milliseconds (as on the command line). */
static int conf_app(struct app *a, const struct conf_app *ca, const char *path,
                    const char *dir, const char *env_name, char *err, size_t errlen) {
  char e[512];
  const struct conf_key *env_sel = NULL;
  if (!(a->conf_path = app_keep(a, path)))
    return app_fail(err, errlen, "%s: out of memory", path);
  /* A config's relative paths (cwd, and so the command) are from the
   * file's own directory: the same wherever herd is started from (a
   * systemd unit starts it in /). */
  if (strlen(dir) >= PATH_MAX)
    return app_fail(err, errlen, "%s: its directory's path is too long", path);
  if (!(a->base_dir = app_keep(a, dir)))
    return app_fail(err, errlen, "%s: out of memory", path);
  /* each option's origin: this file, at the line of its key */
  a->from = (struct origin){ORIGIN_CONFIG, ca->line, app_keep_file(a, path, dir), NULL};
  if (!a->from.file)
    return app_fail(err, errlen, "%s: out of memory", path);
  if (app_set(a, "name", ca->name, e, sizeof e) < 0)
    return app_fail(err, errlen, "%s:%d: app %s", path, ca->line, e);
  for (size_t i = 0; i < ca->nkeys; i++) {
    const struct conf_key *k = &ca->keys[i];
    const struct conf_value *v = &k->v;
    char num[32];
    a->from.line = k->line;
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
      a->cmd_from = a->from;
      continue;
    }
    if (!strcmp(k->key, "name"))
      return app_fail(err, errlen, "%s:%d: unknown key 'name': the table's name "
                  "[%s] is the app's name", path, k->line, ca->name);
    if (!strcmp(k->key, "env")) {
      if (conf_env(a, k, path, err, errlen) < 0)
        return -1;
      continue;
    }
    if (env_table_key(k->key)) {
      /* env_NAME: --env NAME's, over env (applied after every key) */
      if (v->kind != CONF_TABLE && v->kind != CONF_ARRAY)
        return app_fail(err, errlen, "%s:%d: %s: expected a table { K = \"V\" } "
                        "or an array of \"K=V\", not %s", path, k->line, k->key,
                        conf_kind_name(v->kind));
      if (env_name && !strcmp(k->key + 4, env_name))
        env_sel = k;
      continue;
    }
    const struct opt *o = opt_find(k->key);
    /* listen, watch, watch-ignore: an array of strings, each given */
    if (o && (o->kind == OPT_LIST || o->kind == OPT_PATHS) && v->kind == CONF_ARRAY) {
      for (size_t j = 0; j < v->nitems; j++) {
        if (v->items[j].kind != CONF_STR)
          return app_fail(err, errlen, "%s:%d: %s: item %zu is not a string",
                      path, k->line, k->key, j + 1);
        if (app_set(a, k->key, v->items[j].str, e, sizeof e) < 0)
          return app_fail(err, errlen, "%s:%d: %s", path, k->line, e);
      }
      continue;
    }
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
  if (env_sel && conf_env(a, env_sel, path, err, errlen) < 0)
    return -1;
  if (env_name && !env_sel)
    fprintf(stderr, "%s: %s: [%s] has no env_%s (--env %s): its env alone is used\n",
            prog_name, path, ca->name, env_name, env_name);
  if (app_env_files(a, dir, e, sizeof e) < 0) {
    /* where the file is named, then where in it */
    const struct conf_key *ek = conf_get(ca, "env_file");
    return app_fail(err, errlen, "%s:%d: env_file: %s", path, ek ? ek->line : ca->line,
                    e);
  }
  if (app_finish(a, e, sizeof e) < 0)
    return app_fail(err, errlen, "%s:%d: [%s]: %s", path, ca->line, ca->name, e);
  return 0;
}

/* Every app of a parsed file (relative paths from dir). */
static int conf_apps(const struct conf *c, const char *path, const char *dir,
                     const char *env_name, struct app **apps, char *err,
                     size_t errlen) {
  if (c->napps == 0)
    return app_fail(err, errlen, "%s: no apps in it (a table [NAME] per app)", path);
  struct app *as = calloc(c->napps, sizeof *as);
  if (!as)
    return app_fail(err, errlen, "%s: out of memory", path);
  for (size_t i = 0; i < c->napps; i++) {
    app_init(&as[i]);
    if (conf_app(&as[i], &c->apps[i], path, dir, env_name, err, errlen) < 0) {
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
  int n = conf_apps(&c, path, dir, NULL, apps, err, errlen);
  conf_free(&c);
  return n;
}

int app_load_config(const char *path, struct app **apps, void **confp,
                    char *err, size_t errlen) {
  *confp = NULL;
  return app_load_config_env(path, NULL, apps, err, errlen);
}

int app_load_config_env(const char *path, const char *env_name, struct app **apps,
                        char *err, size_t errlen) {
  if (eco_file_kind(path) != ECO_NONE)
    return eco_load(path, env_name, apps, err, errlen);
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
  int n = conf_apps(&c, path, rp, env_name, apps, err, errlen);
  conf_free(&c);
  return n;
}

void app_conf_free(void *conf) {
  (void)conf; /* always NULL: the apps own what they hold */
}
