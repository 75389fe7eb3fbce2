/*
 * env_test.c - the workers' environment: env files (the dotenv format of
 * --env-file and env_file, src/cli/dotenv.c), a config's env_NAME tables
 * chosen with --env NAME, the order in which they win; and changing it
 * without downtime (env_live_test.c).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/cli/cli.h"
#include "../src/cli/dotenv.h"
#include "../src/cli/jval.h"
#include "envt.h"
#include "hp.h"
#include "test.h"

/* ---- helpers (envt.h) ---- */

const char *env_home(void) { return getenv("HERD_HOME"); }

const char *env_write(const char *name, const char *text) {
  static char paths[8][PATH_MAX];
  static int next;
  char *p = paths[next++ % 8];
  snprintf(p, PATH_MAX, "%s/%s", env_home(), name);
  FILE *f = fopen(p, "w");
  CHECK(f);
  CHECK(fputs(text, f) >= 0);
  CHECK(fclose(f) == 0);
  return p;
}

const char *env_herd(void) {
  static char bin[PATH_MAX];
  char rel[PATH_MAX];
  path_of(rel, sizeof rel, "herd");
  CHECK(realpath(rel, bin));
  return bin;
}

int env_sh(char *out, size_t n, const char *fmt, ...) {
  char cmd[4096];
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  CHECK(k > 0 && (size_t)k < sizeof cmd);
  return sh_out(cmd, out, n);
}

int env_status_pids(const char *name, pid_t *master, pid_t *pids, int max) {
  static char out[65536];
  int rc = env_sh(out, sizeof out, "%s status %s --json", env_herd(), name);
  CHECK_MSG(rc == 0, "status: %d %s", rc, out);
  herd_val_t *v = jparse(out, strlen(out));
  CHECK_MSG(v, "%s", out);
  if (master)
    *master = (pid_t)jnum(jget(v, "pid"), 0);
  const herd_val_t *w = jget(v, "workers");
  int n = 0;
  for (size_t i = 0; i < jlen(w) && n < max; i++)
    pids[n++] = (pid_t)jnum(jget(jat(w, i), "pid"), 0);
  herd_val_free(v);
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && pids[j] < pids[j - 1]; j--) {
      pid_t t = pids[j];
      pids[j] = pids[j - 1];
      pids[j - 1] = t;
    }
  return n;
}

/* ---- the dotenv format ---- */

struct got {
  char kv[16][128];
  int n;
};

static int take(void *data, const char *kv, char *err, size_t errlen) {
  struct got *g = data;
  (void)err;
  (void)errlen;
  CHECK(g->n < 16);
  snprintf(g->kv[g->n++], sizeof g->kv[0], "%s", kv);
  return 0;
}

/* text parsed as f.env: 0 and g, or -1 and err */
static int parse(const char *text, struct got *g, char *err, size_t n) {
  memset(g, 0, sizeof *g);
  err[0] = '\0';
  size_t len = strlen(text);
  char *b = malloc(len ? len : 1); /* exact size: ASan sees a read past it */
  CHECK(b);
  memcpy(b, text, len);
  int r = dotenv_parse("f.env", b, len, take, g, err, n);
  free(b);
  return r;
}

TEST(env_file_reads_each_dotenv_form) {
  struct got g;
  char err[512];
  const char *t = "# a comment\n"
                  "\n"
                  "   # an indented one\n"
                  "PLAIN=value\n"
                  "export EXPORTED=1\n"
                  "SPACED = trimmed value   \n"
                  "HASH=a#b # a comment\n"
                  "SINGLE='literal $x \\n \"q\"'  # after\n"
                  "DOUBLE=\"a\\nb\\t\\\"q\\\" \\\\ \\$x\"\n"
                  "MULTI=\"line one\n"
                  "line two\"\n"
                  "EMPTY=\n"
                  "EMPTYQ=''\r\n"
                  "dotted.key-x=ok";
  CHECK_EQ(parse(t, &g, err, sizeof err), 0);
  CHECK_EQ(g.n, 10);
  CHECK_STR(g.kv[0], "PLAIN=value");
  CHECK_STR(g.kv[1], "EXPORTED=1");
  CHECK_STR(g.kv[2], "SPACED=trimmed value");
  CHECK_STR(g.kv[3], "HASH=a#b");
  CHECK_STR(g.kv[4], "SINGLE=literal $x \\n \"q\"");
  CHECK_STR(g.kv[5], "DOUBLE=a\nb\t\"q\" \\ $x");
  CHECK_STR(g.kv[6], "MULTI=line one\nline two");
  CHECK_STR(g.kv[7], "EMPTY=");
  CHECK_STR(g.kv[8], "EMPTYQ=");
  CHECK_STR(g.kv[9], "dotted.key-x=ok");
}

/* Each bad line: "f.env:LINE: ..." on one line, the LINE the line's. */
TEST(env_file_errors_name_file_and_line) {
  static const struct {
    const char *text, *want;
  } cases[] = {
      {"A=1\nnot an assignment\n", "f.env:2: expected KEY=value"},
      {"A=1\n\n=v\n", "f.env:3: expected KEY=value"},
      {"1A=x\n", "f.env:1: expected KEY=value"},
      {"A='open\nB=2\n", "f.env:1: unterminated '...'"},
      {"A=1\nB=\"never closed\nC=3\n", "f.env:2: unterminated \"...\""},
      {"A='x' y\n", "f.env:1: unexpected 'y' after the closing '"},
      {"A=\"x\"y\n", "f.env:1: unexpected 'y' after the closing \""},
      {"A=it's\n", "f.env:1: a quote inside an unquoted value"},
      {"A=1\nB=\"\\q\"\n", "f.env:2: unknown escape '\\q'"},
      {"export\n", "f.env:1: expected KEY=value"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct got g;
    char err[512];
    CHECK_MSG(parse(cases[i].text, &g, err, sizeof err) == -1, "case %zu parsed", i);
    CHECK_MSG(!strncmp(err, cases[i].want, strlen(cases[i].want)),
              "case %zu: '%s', expected '%s...'", i, err, cases[i].want);
    CHECK(!strchr(err, '\n'));
  }
  /* a NUL byte, on its line */
  struct got g;
  char err[512];
  CHECK_EQ(dotenv_parse("f.env", "A=1\nB\0=2\n", 9, take, &g, err, sizeof err), -1);
  CHECK_MSG(!strncmp(err, "f.env:2: a NUL byte", 19), "%s", err);
}

/* herd's own environment < env files (a later one over an earlier one)
 * < env = {...} < env_NAME chosen with --env NAME; relative env_file
 * paths are from the config file's directory. */
TEST(env_precedence_in_a_config_file) {
  env_write("base.env", "A=file1\nB=file1\nC=file1\nD=file1\n");
  env_write("over.env", "B=file2\nC=file2\nD=file2\n");
  const char *conf = env_write(
      "app.conf", "[web]\n"
                  "command = \"/bin/true\"\n"
                  "env_production = { D = \"prod\", E = \"prod\" }\n"
                  "env = { C = \"table\", D = \"table\" }\n"
                  "env_file = [\"base.env\", \"over.env\"]\n"
                  "env_staging = [\"D=staging\"]\n");
  struct app *as;
  char err[600];
  int n = app_load_config_env(conf, "production", &as, err, sizeof err);
  CHECK_MSG(n == 1, "%s", err);
  const char *want[] = {"A=file1", "B=file2", "C=table", "D=prod", "E=prod"};
  for (size_t w = 0; w < 5; w++) {
    int found = 0;
    for (int i = 0; i < as[0].nenv; i++)
      found += !strcmp(as[0].env[i], want[w]);
    CHECK_MSG(found == 1, "%s x%d", want[w], found);
  }
  CHECK_EQ(as[0].nenv, 5);
  app_free(&as[0]);
  free(as);
  /* without --env NAME: no env_NAME */
  n = app_load_config_env(conf, NULL, &as, err, sizeof err);
  CHECK_MSG(n == 1, "%s", err);
  int prod = 0;
  for (int i = 0; i < as[0].nenv; i++)
    prod += !strcmp(as[0].env[i], "D=table");
  CHECK_EQ(prod, 1);
  app_free(&as[0]);
  free(as);
}

TEST(env_config_errors) {
  char err[600];
  struct app *as;
  const char *conf = env_write("bad.conf", "[web]\ncommand = \"/bin/true\"\n"
                                           "env_production = \"x\"\n");
  CHECK_EQ(app_load_config_env(conf, "production", &as, err, sizeof err), -1);
  CHECK_MSG(strstr(err, "bad.conf:3: env_production: expected a table"), "%s", err);
  env_write("broken.env", "OK=1\nA='x\n");
  conf = env_write("bad2.conf", "[web]\ncommand = \"/bin/true\"\n"
                                "env_file = \"broken.env\"\n");
  CHECK_EQ(app_load_config_env(conf, NULL, &as, err, sizeof err), -1);
  CHECK_MSG(strstr(err, "bad2.conf:3: env_file: /") &&
                strstr(err, "/broken.env:2: unterminated '...'"), "%s", err);
  /* herd's own variables are refused there too, at their line */
  env_write("ours.env", "A=1\n\nLISTEN_FDS=3\n");
  conf = env_write("bad4.conf", "[web]\ncommand = \"/bin/true\"\n"
                                "env_file = \"ours.env\"\n");
  CHECK_EQ(app_load_config_env(conf, NULL, &as, err, sizeof err), -1);
  CHECK_MSG(strstr(err, "/ours.env:3: env: LISTEN_FDS is herd's to set"), "%s", err);
  conf = env_write("bad3.conf", "[web]\ncommand = \"/bin/true\"\n"
                                "env_file = \"missing.env\"\n");
  CHECK_EQ(app_load_config_env(conf, NULL, &as, err, sizeof err), -1);
  CHECK_MSG(strstr(err, "/missing.env: No such file or directory"), "%s", err);
}

/* The real binary: herd start -c FILE --env production, the workers see
 * env_production over env and the env file; a bad env file: one line,
 * exit 2, nothing started. */
TEST(env_start_with_env_production) {
  char out[4096], body[256];
  env_write("app.env", "GREETING=from-file\nOTHER=file\n");
  char text[8192];
  char hh[PATH_MAX];
  CHECK(realpath(hello_http(), hh));
  snprintf(text, sizeof text,
           "[envweb]\n"
           "command = \"%s\"\n"
           "listen = \"127.0.0.1:0\"\n"
           "workers = 2\n"
           "env_file = \"app.env\"\n"
           "env = { GREETING = \"from-table\" }\n"
           "env_production = { GREETING = \"from-production\" }\n",
           hh);
  const char *conf = env_write("app.conf", text);
  int rc = env_sh(out, sizeof out, "%s start -c %s --env production 2>&1", env_herd(),
                  conf);
  CHECK_MSG(rc == 0, "exit %d: %s", rc, out);
  const char *on = strstr(out, " on 127.0.0.1:");
  CHECK_MSG(on, "%s", out);
  int port = atoi(on + 14);
  CHECK_EQ(http_get(port, "/env?GREETING", body, sizeof body), 200);
  CHECK_STR(body, "from-production\n");
  CHECK_EQ(http_get(port, "/env?OTHER", body, sizeof body), 200);
  CHECK_STR(body, "file\n");
  rc = env_sh(out, sizeof out, "%s stop envweb 2>&1", env_herd());
  CHECK_MSG(rc == 0, "exit %d: %s", rc, out);

  /* a bad env file on the command line */
  env_write("bad.env", "A=1\nB=\"x\ny\nC='z\n");
  rc = env_sh(out, sizeof out, "cd %s && %s start --env-file bad.env -- %s 2>&1",
              env_home(), env_herd(), hh);
  CHECK_EQ(rc, 2);
  CHECK_MSG(!strncmp(out, "herd start: bad.env:2: unterminated \"...\"", 41), "%s",
            out);
  CHECK(strchr(out, '\n') == out + strlen(out) - 1);
  rc = env_sh(out, sizeof out, "%s list 2>&1", env_herd());
  CHECK_MSG(!strstr(out, "hello-http"), "%s", out);
}
