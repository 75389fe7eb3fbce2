/*
 * eco.c - PM2's ecosystem files as herd apps. herd holds no JavaScript:
 * `node -e LOADER -- FILE` loads the file as PM2 does (require; import()
 * for ES modules; a .json file evaluated as a JS expression), picks its
 * apps (`apps`, else `pm2`, else the object itself) and prints them as
 * JSON, marking what JSON cannot carry (functions, RegExps); herd reads
 * that with libherd's JSON parser and turns each app into app_set calls
 * with herd's own option names, so that app_finish and all that follows
 * are the config file's. The mapping, option by option, is docs/pm2.md;
 * PM2's sources it follows are docs/node-cluster.md section 13.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eco.h"
#include "jval.h"
#include "opts.h"

#define LOAD_TIMEOUT_MS 10000
#define LOAD_MAX_OUTPUT (4u << 20)

/* process.argv[1] is the file. console.log and friends of the file go to
 * stderr: stdout carries the one JSON line. */
static const char loader[] =
    "'use strict';\n"
    "const path = require('path'), f = path.resolve(process.argv[1]);\n"
    "const out = process.stdout.write.bind(process.stdout);\n"
    "process.stdout.write = process.stderr.write.bind(process.stderr);\n"
    "function fail(e) {\n"
    "  let m = e instanceof Error ? (e.name || 'Error') + ': ' + e.message : 'it threw ' + String(e);\n"
    "  const at = e instanceof Error ? String(e.stack || '').split(f + ':')[1] : undefined;\n"
    "  if (at && parseInt(at, 10) > 0) m += ' (line ' + parseInt(at, 10) + ')';\n"
    "  process.stderr.write('\\n' + m.split('\\n')[0] + '\\n');\n"
    "  process.exit(3);\n"
    "}\n"
    "async function load() {\n"
    "  if (/\\.json$/.test(f))\n"
    "    return require('vm').runInThisContext('(' + require('fs').readFileSync(f, 'utf8') + '\\n)',\n"
    "                                          {filename: f, timeout: 1000});\n"
    "  let m;\n"
    "  if (!/\\.mjs$/.test(f)) {\n"
    "    try { m = require(f); } catch (e) { if (e.code !== 'ERR_REQUIRE_ESM') throw e; }\n"
    "  }\n"
    "  if (m === undefined) m = await import(require('url').pathToFileURL(f).href);\n"
    "  /* an ES module's namespace (import(), or require() of ESM): its default */\n"
    "  return m && m[Symbol.toStringTag] === 'Module' && m.default !== undefined ? m.default : m;\n"
    "}\n"
    "const kind = (v) => typeof v === 'function' ? 'a function' : typeof v === 'symbol' ?\n"
    "  'a symbol' : typeof v === 'bigint' ? 'a BigInt' : v instanceof RegExp ? 'a RegExp' :\n"
    "  v instanceof Map ? 'a Map' : v instanceof Set ? 'a Set' : null;\n"
    "load().then((c) => {\n"
    "  if (c === null || typeof c !== 'object')\n"
    "    throw new TypeError('it exports ' + (c === null ? 'null' : typeof c) + ', not an object');\n"
    "  let apps = c, o = {};\n"
    "  if (c.apps || c.pm2) {\n"
    "    apps = c.apps || c.pm2;\n"
    "    for (const k of Object.keys(c)) if (k !== (c.apps ? 'apps' : 'pm2')) o[k] = c[k];\n"
    "  }\n"
    "  o = {top: o, apps: Array.isArray(apps) ? apps : [apps]};\n"
    "  const s = JSON.stringify(o, (k, v) => kind(v) ? {'" ECO_NONJSON "': kind(v)} : v);\n"
    "  out(s + '\\n', () => process.exit(0));\n"
    "}).catch(fail);\n";

/* ---- the file ------------------------------------------------------ */

int eco_ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && !strcmp(s + n - k, suffix);
}

/* PM2 takes a name containing .json, .yml, .yaml, .config.js, .config.cjs
 * or .config.mjs for a config file; herd asks for them at the end, and
 * takes ecosystem.js (and any NAME.js with "ecosystem" in it) too. */
int eco_file_kind(const char *path) {
  const char *b = strrchr(path, '/');
  b = b ? b + 1 : path;
  if (eco_ends_with(b, ".json"))
    return ECO_JSON;
  if (eco_ends_with(b, ".yml") || eco_ends_with(b, ".yaml"))
    return ECO_YAML;
  if (eco_ends_with(b, ".config.js") || eco_ends_with(b, ".config.cjs") ||
      eco_ends_with(b, ".config.mjs"))
    return ECO_JS;
  if (strstr(b, "ecosystem") &&
      (eco_ends_with(b, ".js") || eco_ends_with(b, ".cjs") || eco_ends_with(b, ".mjs")))
    return ECO_JS;
  return ECO_NONE;
}

/* The last line of text that is not blank (node's own message, or the
 * loader's), made printable. */
static void last_line(const char *text, size_t len, char *buf, size_t n) {
  while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
    len--;
  size_t b = len;
  while (b && text[b - 1] != '\n')
    b--;
  cli_printable(buf, n, text + b, len - b);
}

/* node prints the file's apps: 0 with *root, or -1 with err set. */
static int run_loader(const char *path, herd_val_t **root, char *err, size_t errlen) {
  char *argv[] = {"node", "-e", (char *)loader, "--", (char *)path, NULL};
  herd_exec_opts_t xo;
  herd_exec_opts_init(&xo);
  xo.timeout_ms = LOAD_TIMEOUT_MS;
  xo.max_buffer = LOAD_MAX_OUTPUT;
  xo.kill_signal = 9;
  herd_exec_result_t r;
  int rc = herd_exec_file("node", argv, &xo, &r);
  if (rc == -ENOENT)
    return app_fail(err, errlen, "%s: cannot read it: node is not in PATH (an "
                    "ecosystem file is JavaScript: herd asks node to read it)", path);
  if (rc < 0)
    return app_fail(err, errlen, "%s: cannot run node to read it: %s", path,
                    herd_strerror(rc));
  char line[300];
  rc = -1;
  if (r.reason == HERD_EXEC_TIMEDOUT)
    app_fail(err, errlen, "%s: node did not finish reading it in %d s", path,
             LOAD_TIMEOUT_MS / 1000);
  else if (r.reason == HERD_EXEC_MAXBUFFER)
    app_fail(err, errlen, "%s: node printed more than %u MiB reading it", path,
             LOAD_MAX_OUTPUT >> 20);
  else if (r.reason == HERD_EXEC_SIGNALED)
    app_fail(err, errlen, "%s: node was killed by signal %d reading it", path,
             r.term_signal);
  else if (r.exit_code != 0 && (last_line(r.err, r.err_len, line, sizeof line), line[0]))
    app_fail(err, errlen, "%s: %s", path, line);
  else if (r.exit_code != 0)
    app_fail(err, errlen, "%s: node exited %d reading it", path, r.exit_code);
  else if (!(*root = jparse(r.out, r.out_len)) || !jis_obj(*root) ||
           jlen(jget(*root, "apps")) == 0) {
    herd_val_free(*root);
    *root = NULL;
    last_line(r.out, r.out_len, line, sizeof line);
    app_fail(err, errlen, r.out_len ? "%s: not an ecosystem (no apps): node printed "
             "'%.60s'" : "%s: node printed nothing (does the file call process.exit?)",
             path, line);
  } else {
    rc = 0;
  }
  herd_exec_result_free(&r);
  return rc;
}

/* "herd start: FILE: app 'api': ..." on stderr (app NULL: the file's). */
void eco_warn(const struct eco *e, const char *app, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (app)
    fprintf(stderr, "%s: %s: app '%s': %s\n", prog_name, e->path, app, msg);
  else
    fprintf(stderr, "%s: %s: %s\n", prog_name, e->path, msg);
}

/* ---- the file's apps --------------------------------------------------- */

/* The top level beside the apps: deploy.NAME.env for --env NAME; the
 * rest is named and ignored. */
static void eco_top(struct eco *e, const herd_val_t *top) {
  char kb[80];
  for (size_t i = 0; jis_obj(top) && i < top->obj.n; i++) {
    const herd_val_prop_t *p = &top->obj.props[i];
    if (p->key && !strcmp(p->key, "deploy")) {
      const herd_val_t *d = e->env_name ? jget(jget(p->value, e->env_name), "env") : NULL;
      e->deploy_env = d;
      eco_warn(e, NULL, "top-level 'deploy' is not supported by herd (ignored%s)",
           d ? ", but for the env of deploy.NAME with --env NAME" : "");
      continue;
    }
    eco_warn(e, NULL, "top-level '%s' is not supported by herd (ignored)",
         eco_key_text(p, kb, sizeof kb));
  }
}

int eco_load(const char *path, const char *env_name, struct app **apps, char *err,
             size_t errlen) {
  struct eco e = {.path = path, .env_name = env_name};
  *apps = NULL;
  if (eco_file_kind(path) == ECO_YAML)
    return app_fail(err, errlen, "%s: YAML ecosystem files are not supported: write it "
                    "as ecosystem.config.js or .json", path);
  struct stat st;
  if (stat(path, &st) < 0 || !realpath(path, e.dir))
    return app_fail(err, errlen, "%s: %s", path, strerror(errno));
  if (S_ISDIR(st.st_mode))
    return app_fail(err, errlen, "%s: %s", path, strerror(EISDIR));
  char *slash = strrchr(e.dir, '/');
  slash[slash == e.dir] = '\0';
  herd_val_t *root = NULL;
  if (run_loader(path, &root, err, errlen) < 0)
    return -1;
  eco_top(&e, jget(root, "top"));
  const herd_val_t *list = jget(root, "apps");
  size_t n = jlen(list);
  struct app *as = calloc(n, sizeof *as);
  if (!as) {
    herd_val_free(root);
    return app_fail(err, errlen, "%s: out of memory", path);
  }
  for (size_t i = 0; i < n; i++) {
    app_init(&as[i]);
    if (eco_app(&as[i], &e, jat(list, i), i, err, errlen) < 0) {
      for (size_t j = 0; j <= i; j++)
        app_free(&as[j]);
      free(as);
      herd_val_free(root);
      return -1;
    }
  }
  herd_val_free(root);
  *apps = as;
  return (int)n;
}
