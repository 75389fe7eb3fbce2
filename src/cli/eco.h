/*
 * eco.h - PM2's ecosystem files (eco.c): ecosystem.config.js, .cjs,
 * .mjs, process.json... read by asking `node` to print them as JSON,
 * then turned into herd's apps with herd's own option names. See
 * docs/pm2.md for the option mapping.
 */
#ifndef HERD_CLI_ECO_H
#define HERD_CLI_ECO_H

#include <stddef.h>

#include "cli.h"

/* What PM2 takes for a config file rather than a script, by its name
 * (lib/Common.js isConfigFile, narrowed: see eco.c): ECO_JS, ECO_JSON,
 * ECO_YAML (refused by eco_load, with a line saying so), or ECO_NONE. */
enum { ECO_NONE, ECO_JS, ECO_JSON, ECO_YAML };
int eco_file_kind(const char *path);

/* The apps of the ecosystem file at path: their count (*apps malloc'd,
 * each app_init'ed and app_finish'ed: free each with app_free, then the
 * array), or -1 with a one-line message in err ("FILE: ..."). env_name:
 * --env NAME (env_NAME laid over env), or NULL. What does not map is said
 * on stderr, one line per option, prog_name first; the load runs node
 * (bounded in time and output). */
int eco_load(const char *path, const char *env_name, struct app **apps, char *err,
             size_t errlen);

/* ---- between eco.c and ecoapp.c ---- */

/* The loader's mark for a value JSON cannot carry:
 * {"herd:not-json": "a function"}. */
#define ECO_NONJSON "herd:not-json"

struct eco {
  const char *path;             /* as given: messages */
  char dir[PATH_MAX];           /* its directory, absolute */
  const char *env_name;         /* --env NAME, or NULL */
  const herd_val_t *deploy_env; /* deploy.NAME.env, or NULL */
};

/* "herd start: FILE: app 'api': MESSAGE" on stderr (app NULL: the
 * file's own). */
void eco_warn(const struct eco *e, const char *app, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A JSON key, printable and cut, in buf. */
const char *eco_key_text(const herd_val_prop_t *p, char *buf, size_t n);
int eco_ends_with(const char *s, const char *suffix);
/* The app at index idx of the file's apps (obj, borrowed) into a
 * (app_init'ed): 0, or -1 with err = "FILE: app 'NAME': ...". */
int eco_app(struct app *a, const struct eco *e, const herd_val_t *obj, size_t idx,
            char *err, size_t errlen);

#endif
