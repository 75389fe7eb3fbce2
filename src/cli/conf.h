/*
 * conf.h - herd's config file: a TOML subset, one table per app.
 *
 *   # herd.conf
 *   [web]
 *   command = ["./build/examples/hello-http"]   # or "./server --port 8080"
 *   workers = 4
 *   listen = ["127.0.0.1:8080", "[::1]:8080"]
 *   env = { NODE_ENV = "production", PORT = "3000" }
 *   ipc = true
 *
 * Accepted: blank lines; '#' comments to the end of a line (not inside
 * strings); LF or CRLF line ends; table headers [NAME] or ["NAME"] or
 * ['NAME'] (NAME: 1-64 of A-Z a-z 0-9 . _ -, not "." or ".."; a dot only
 * in a quoted one: TOML reads [a.b] as a nested table, and [...] not at
 * all);
 * KEY = VALUE with a bare key (A-Z a-z 0-9 _ -) or a quoted one; values:
 *  - basic strings "..." with the escapes \" \\ \n \t \r \b \f \uXXXX
 *    \UXXXXXXXX (a Unicode scalar value, not NUL), no raw control
 *    characters; literal strings '...' (no escapes);
 *  - decimal integers with an optional sign and '_' between digits, in
 *    the range of long long, no leading zeros (as TOML);
 *  - true, false;
 *  - arrays [...] of strings, integers and booleans, which may span lines
 *    with comments between elements and a trailing comma;
 *  - inline tables { K = "v", K2 = 2 } on one line, values strings,
 *    integers or booleans, keys bare or quoted, no trailing comma.
 * Refused with an error: a key before any [NAME], a repeated app, a key
 * set twice in one app, floats, dates, dotted keys, nested tables (a bare
 * [web.env] is one in TOML, so a name with a dot must be quoted:
 * ["web.v2"]), arrays of tables [[x]], arrays of arrays or of tables,
 * multi-line strings, a file over 1 MiB, a line over 64 KiB, NUL bytes
 * and other raw control characters but tab (inside strings too: write
 * an escape), a CR not before LF, and invalid UTF-8.
 * Every file accepted thus means the same to any TOML 1.0 reader:
 * tests/conf_toml_test.c holds herd's reading of TOML snippets (its own
 * and the config fuzzer's seeds) against python's tomllib.
 *
 * In an app table, '-' and '_' are the same in keys: kill-timeout and
 * kill_timeout name one option, so setting both is "set twice". (Not in
 * inline tables: NODE_ENV and NODE-ENV are two environment variables.)
 *
 * Keys are not checked against a list here: the caller maps them to
 * options and reports an unknown key or a wrong kind with conf_key.line
 * and conf_kind_name. Not thread-safe per struct conf.
 */
#ifndef HERD_CLI_CONF_H
#define HERD_CLI_CONF_H

#include <stddef.h>

/* Limits (each an error past it). */
#define CONF_MAX_FILE (1u << 20)  /* bytes in a file */
#define CONF_MAX_LINE (64u << 10) /* bytes in a line, without its end */
#define CONF_MAX_APPS 1024
#define CONF_MAX_KEYS 256   /* in one app, or in one inline table */
#define CONF_MAX_ITEMS 4096 /* in one array */

enum { CONF_STR, CONF_INT, CONF_BOOL, CONF_ARRAY, CONF_TABLE };

struct conf_value {
  int kind; /* CONF_* */
  int line; /* where the value starts (1-based) */
  char *str;   /* CONF_STR: NUL-terminated, valid UTF-8, no NUL inside */
  long long num;  /* CONF_INT */
  int boolean;    /* CONF_BOOL: 0 or 1 */
  struct conf_value *items; /* CONF_ARRAY: the elements (each with its kind);
                               CONF_TABLE: the values */
  size_t nitems;
  char **keys; /* CONF_TABLE: keys[i] names items[i], in file order */
};

struct conf_key {
  char *key; /* as written (unquoted) */
  int line;
  struct conf_value v;
};

struct conf_app {
  char *name; /* the table name, unquoted */
  int line;   /* of its [NAME] header */
  struct conf_key *keys; /* in file order */
  size_t nkeys;
};

struct conf {
  char *path; /* as given to conf_load/conf_parse */
  struct conf_app *apps; /* in file order */
  size_t napps;
};

/* Read and parse the file at path into *out (all of it owned by *out:
 * release with conf_free). Returns 0, or -1 with *out zeroed and err
 * holding one line without a newline (truncated to errlen):
 * "PATH:LINE: message" for a problem in the text, "PATH: message" for the
 * file as a whole (cannot open or read it, with strerror; over 1 MiB;
 * out of memory). err may be NULL if errlen is 0. */
int conf_load(const char *path, struct conf *out, char *err, size_t errlen);

/* The same from [text, text+len) in memory (need not be NUL-terminated;
 * NULL with len 0 is an empty file); path (not NULL) only names it in
 * errors and in out->path. */
int conf_parse(const char *path, const char *text, size_t len,
               struct conf *out, char *err, size_t errlen);

/* Free everything *c owns and zero it (a zeroed struct is fine). */
void conf_free(struct conf *c);

/* The key of app named key, '-' and '_' alike ("kill-timeout" finds
 * kill_timeout = ...), or NULL. Borrowed from the app. */
const struct conf_key *conf_get(const struct conf_app *app, const char *key);

/* "a string", "an integer", "a boolean", "an array", "a table" - for
 * messages such as "'workers' must be an integer, not a string"; "a
 * value" for an unknown kind. */
const char *conf_kind_name(int kind);

#endif
