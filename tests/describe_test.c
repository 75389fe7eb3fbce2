/*
 * describe_test.c - herd describe (and show): what a running app's master
 * says is in effect, end to end with the real binary - each option's
 * value and origin (default, command line, FILE:LINE of a config file),
 * the command, cwd, version, sockets, log files and their sizes, the
 * environment masked and shown; the report within 80 columns; errors.
 * And the pieces under it: app_set's origins, the secret-name rule.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../src/cli/cli.h"
#include "../src/cli/jval.h"
#include "../src/cli/opts.h"
#include "hp.h"
#include "test.h"

static const char *home(void) {
  const char *h = getenv("HERD_HOME");
  CHECK_MSG(h && *h, "HERD_HOME is not set (run under herd-test)");
  return h;
}

static const char *herd(void) {
  static char bin[PATH_MAX], rel[PATH_MAX];
  if (!bin[0]) {
    path_of(rel, sizeof rel, "herd");
    CHECK_MSG(realpath(rel, bin) != NULL, "%s: not built", rel);
  }
  return bin;
}

/* herd ARGS (a shell line's words, already quoted), stdout in out (and
 * stderr too if err2), its exit status back. */
static int herd_sh(char *out, size_t n, int err2, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int herd_sh(char *out, size_t n, int err2, const char *fmt, ...) {
  char args[16384], cmd[PATH_MAX + 16384 + 64];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(cmd, sizeof cmd, "'%s' %s%s", herd(), args, err2 ? " 2>&1" : " 2>/dev/null");
  return sh_out(cmd, out, n);
}

static char last_json[1 << 16]; /* describe_json's reply, as printed */

static herd_val_t *describe_json(const char *name, int show_env) {
  char *out = last_json;
  size_t cap = sizeof last_json;
  int rc = herd_sh(out, cap, 0, "describe %s --json%s", name,
                   show_env ? " --show-env" : "");
  CHECK_MSG(rc == 0, "herd describe %s --json: exit %d: %s", name, rc, out);
  herd_val_t *v = jparse(out, strlen(out));
  CHECK_MSG(jis_obj(v) && jbool(jget(v, "ok"), 0), "not a describe reply: %s", out);
  return v;
}

/* The option NAME of a describe reply. */
static const herd_val_t *option(const herd_val_t *v, const char *name) {
  const herd_val_t *opts = jget(v, "options");
  for (size_t i = 0; i < jlen(opts); i++)
    if (!strcmp(jstr(jget(jat(opts, i), "name"), ""), name))
      return jat(opts, i);
  CHECK_MSG(0, "no option %s in the reply", name);
  return NULL;
}

static const herd_val_t *env_of(const herd_val_t *v, const char *name) {
  const herd_val_t *env = jget(v, "env");
  for (size_t i = 0; i < jlen(env); i++)
    if (!strcmp(jstr(jget(jat(env, i), "name"), ""), name))
      return jat(env, i);
  CHECK_MSG(0, "no variable %s in the reply's env", name);
  return NULL;
}

static long long num(const herd_val_t *v) {
  long long x = -1;
  CHECK_MSG(jint(v, LLONG_MIN, LLONG_MAX, &x) == 0, "not a whole number");
  return x;
}

static void stop(const char *name) {
  char out[4096];
  int rc = herd_sh(out, sizeof out, 1, "stop %s", name);
  CHECK_MSG(rc == 0, "herd stop %s: exit %d: %s", name, rc, out);
}

static void write_text(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  CHECK_MSG(fd >= 0, "%s: %s", path, strerror(errno));
  CHECK_EQ(write(fd, text, strlen(text)), (long)strlen(text));
  CHECK_EQ(close(fd), 0);
}

/* A file's size, polled until it is more than 0 (bounded). */
static long long size_once_written(const char *path) {
  struct stat st = {0};
  uint64_t deadline = test_now_ms() + 10000;
  while (test_now_ms() < deadline && (stat(path, &st) < 0 || st.st_size == 0))
    usleep(20000);
  CHECK_MSG(st.st_size > 0, "%s: still empty", path);
  return (long long)st.st_size;
}

static const char conf_text[] =
    "# describe_test\n"                               /* 1 */
    "[web]\n"                                         /* 2 */
    "command = [\"sh\", \"-c\", \"echo started; exec sleep 1000\"]\n" /* 3 */
    "workers = 2\n"                                   /* 4 */
    "\n"                                              /* 5 */
    "kill_timeout = \"3s\"\n"                         /* 6 */
    "env = { API_TOKEN = \"abc123\", NODE_ENV = \"production\", "
    "DATABASE_URL = \"postgres://app:hunter2@db/x\" }\n" /* 7 */
    "listen = [\"127.0.0.1:0\"]\n";                   /* 8 */

TEST_T(describe_json_says_each_options_origin_and_what_runs, 60) {
  char dir[PATH_MAX], conf[PATH_MAX + 16], out[8192];
  snprintf(dir, sizeof dir, "%s/app", home());
  CHECK(mkdir(dir, 0700) == 0);
  snprintf(conf, sizeof conf, "%s/herd.conf", dir);
  write_text(conf, conf_text);
  int rc = herd_sh(out, sizeof out, 1, "start -c '%s'", conf);
  CHECK_MSG(rc == 0, "herd start: exit %d: %s", rc, out);
  char log_out[PATH_MAX + 32];
  snprintf(log_out, sizeof log_out, "%s/logs/web-out.log", home());
  long long out_size = size_once_written(log_out);

  herd_val_t *v = describe_json("web", 0);
  char rdir[PATH_MAX], rconf[PATH_MAX];
  CHECK(realpath(dir, rdir) && realpath(conf, rconf));
  /* from the config file, at the lines of their keys */
  const herd_val_t *o = option(v, "workers");
  CHECK_STR(jstr(jget(o, "value"), ""), "2");
  CHECK_STR(jstr(jget(o, "source"), ""), "config");
  CHECK_STR(jstr(jget(o, "file"), ""), rconf);
  CHECK_EQ(num(jget(o, "line")), 4);
  o = option(v, "kill-timeout");
  CHECK_STR(jstr(jget(o, "value"), ""), "3s");
  CHECK_EQ(num(jget(o, "line")), 6);
  o = option(v, "name");
  CHECK_EQ(num(jget(o, "line")), 2);
  CHECK_EQ(num(jget(option(v, "listen"), "line")), 8);
  /* a default says so, with the default's value */
  o = option(v, "stop-signal");
  CHECK_STR(jstr(jget(o, "source"), ""), "default");
  CHECK_STR(jstr(jget(o, "value"), ""), "TERM");
  CHECK(jget(o, "file") == NULL && jget(o, "line") == NULL);
  /* what runs, where, which herd */
  const herd_val_t *cmd = jget(v, "cmd");
  CHECK_EQ(jlen(cmd), 3);
  CHECK_STR(jstr(jat(cmd, 0), ""), "sh");
  CHECK_STR(jstr(jat(cmd, 2), ""), "echo started; exec sleep 1000");
  CHECK_STR(jstr(jget(jget(v, "cmd_from"), "source"), ""), "config");
  CHECK_EQ(num(jget(jget(v, "cmd_from"), "line")), 3);
  CHECK_STR(jstr(jget(v, "cwd"), ""), rdir);
  CHECK_STR(jstr(jget(v, "config"), ""), rconf);
  CHECK_STR(jstr(jget(v, "version"), ""), HERD_VERSION_STRING);
  CHECK_STR(jstr(jget(v, "mode"), ""), "start");
  CHECK(num(jget(v, "pid")) > 1);
  CHECK_EQ(num(jget(v, "workers")), 2);
  CHECK(num(jget(v, "started_ms")) <= (long long)time(NULL) * 1000 + 1000);
  CHECK(strlen(jstr(jget(v, "started"), "")) == 20); /* 2026-01-02T03:04:05Z */
  /* the port bound, not the 0 asked for */
  const char *l = jstr(jat(jget(v, "listen"), 0), "");
  CHECK_MSG(!strncmp(l, "127.0.0.1:", 10) && atoi(l + 10) > 0, "listen %s", l);
  CHECK(jget(v, "metrics") && jget(v, "metrics")->type == HERD_VAL_NULL);
  /* the log files, with their sizes */
  const herd_val_t *lo = jget(jget(v, "logs"), "out");
  CHECK_STR(jstr(jget(lo, "path"), ""), log_out);
  CHECK_EQ(num(jget(lo, "size")), out_size);
  CHECK(num(jget(jget(jget(v, "logs"), "herd"), "size")) > 0);
  /* the environment: a secret's value masked, in options too */
  const herd_val_t *e = env_of(v, "API_TOKEN");
  CHECK_STR(jstr(jget(e, "value"), ""), "****");
  CHECK(jbool(jget(e, "masked"), 0));
  e = env_of(v, "NODE_ENV");
  CHECK_STR(jstr(jget(e, "value"), ""), "production");
  CHECK(!jbool(jget(e, "masked"), 1));
  CHECK_STR(jstr(jget(env_of(v, "DATABASE_URL"), "value"), ""), "postgres://app:****@db/x");
  CHECK_STR(jstr(jat(jget(option(v, "env"), "value"), 0), ""), "API_TOKEN=****");
  CHECK_MSG(!strstr(last_json, "abc123") && !strstr(last_json, "hunter2"), "%s", last_json);
  CHECK(!jbool(jget(v, "env_shown"), 1));
  herd_val_free(v);
  /* --show-env: the values */
  v = describe_json("web", 1);
  CHECK_STR(jstr(jget(env_of(v, "API_TOKEN"), "value"), ""), "abc123");
  CHECK_STR(jstr(jget(env_of(v, "DATABASE_URL"), "value"), ""),
            "postgres://app:hunter2@db/x");
  CHECK(jbool(jget(v, "env_shown"), 0));
  herd_val_free(v);
  /* and the text form the same, without --json */
  static char text[1 << 16];
  CHECK_EQ(herd_sh(text, sizeof text, 0, "describe web"), 0);
  CHECK_MSG(strstr(text, "API_TOKEN=****") && !strstr(text, "abc123"), "%s", text);
  CHECK_EQ(herd_sh(text, sizeof text, 0, "describe web --show-env"), 0);
  CHECK_MSG(strstr(text, "API_TOKEN=abc123"), "%s", text);
  stop("web");
}

/* Columns of the longest line of text (a character a column). */
static size_t widest(const char *text) {
  size_t most = 0, c = 0;
  for (const char *p = text; *p; p++) {
    if (*p == '\n') {
      most = c > most ? c : most;
      c = 0;
    } else if (((unsigned char)*p & 0xc0) != 0x80) {
      c++;
    }
  }
  return c > most ? c : most;
}

TEST_T(describe_text_fits_80_columns_and_show_is_describe, 60) {
  /* a long directory, argument and value, options from the command line */
  char dir[PATH_MAX], out[8192], long_arg[200], long_val[6000];
  snprintf(dir, sizeof dir, "%s/a-directory-whose-name-is-rather-long-for-one/and-"
           "one-more-long-part-of-it", home());
  char parent[PATH_MAX];
  snprintf(parent, sizeof parent, "%s/a-directory-whose-name-is-rather-long-for-one",
           home());
  CHECK(mkdir(parent, 0700) == 0 && mkdir(dir, 0700) == 0);
  memset(long_arg, 'a', sizeof long_arg - 1);
  long_arg[sizeof long_arg - 1] = '\0';
  memset(long_val, 'v', sizeof long_val - 1);
  long_val[sizeof long_val - 1] = '\0';
  int rc = herd_sh(out, sizeof out, 1, "start -n wide -w 1 --kill-timeout 2s --cwd '%s' "
                   "--env 'GREETING=h\xc3\xa9llo %s' --env DB_PASSWORD=pw -l 127.0.0.1:0 "
                   "--metrics 127.0.0.1:0 -- sh -c 'exec sleep 1000' %s", dir, long_val, long_arg);
  CHECK_MSG(rc == 0, "herd start: exit %d: %s", rc, out);
  static char text[1 << 16], shown[1 << 16];
  CHECK_EQ(herd_sh(text, sizeof text, 0, "describe wide"), 0);
  CHECK_MSG(widest(text) <= 80, "a line of %zu columns:\n%s", widest(text), text);
  /* each option one row: its value and its origin */
  CHECK_MSG(strstr(text, "\n  kill-timeout      2s") && strstr(text, "command line\n"),
            "%s", text);
  CHECK_MSG(strstr(text, "  stop-signal       TERM") && strstr(text, "default\n"), "%s",
            text);
  CHECK_MSG(strstr(text, "DB_PASSWORD=****"), "%s", text);
  /* the whole of what was cut is in --json */
  herd_val_t *v = describe_json("wide", 0);
  CHECK_STR(jstr(jat(jget(v, "cmd"), 3), ""), long_arg);
  CHECK_STR(jstr(jget(option(v, "kill-timeout"), "source"), ""), "command-line");
  CHECK_STR(jstr(jget(option(v, "workers"), "source"), ""), "command-line");
  CHECK_STR(jstr(jget(option(v, "balance"), "source"), ""), "default");
  CHECK_STR(jstr(jget(jget(v, "cmd_from"), "source"), ""), "command-line");
  CHECK(jget(v, "config")->type == HERD_VAL_NULL);
  /* the metrics address as bound; the option as given */
  const char *ma = jstr(jget(v, "metrics"), "");
  CHECK_MSG(!strncmp(ma, "127.0.0.1:", 10) && atoi(ma + 10) > 0, "metrics %s", ma);
  CHECK_STR(jstr(jget(option(v, "metrics"), "value"), ""), "127.0.0.1:0");
  const char *g = jstr(jget(env_of(v, "GREETING"), "value"), "");
  CHECK(strlen(g) == 7 + sizeof long_val - 1 && !strncmp(g, "h\xc3\xa9llo ", 7));
  /* in options too, whole */
  g = jstr(jat(jget(option(v, "env"), "value"), 0), "");
  CHECK(strlen(g) == 16 + sizeof long_val - 1 && !strncmp(g, "GREETING=h\xc3\xa9llo ", 16));
  herd_val_free(v);
  /* show is describe */
  CHECK_EQ(herd_sh(shown, sizeof shown, 0, "show wide"), 0);
  char *a = strstr(text, "\n  command"), *b = strstr(shown, "\n  command");
  CHECK_MSG(a && b && !strcmp(a, b), "show:\n%s\ndescribe:\n%s", shown, text);
  CHECK_EQ(herd_sh(out, sizeof out, 0, "help show"), 0);
  CHECK(strstr(out, "Usage: herd describe NAME"));
  stop("wide");
}

TEST_T(describe_unknown_app_and_bad_usage, 30) {
  char out[4096];
  CHECK_EQ(herd_sh(out, sizeof out, 1, "describe nosuchapp"), 1);
  CHECK_MSG(!strncmp(out, "herd describe: ", 15) && strchr(out, '\n') == out + strlen(out) - 1,
            "not one line: %s", out);
  CHECK_EQ(herd_sh(out, sizeof out, 1, "show nosuchapp --json"), 1);
  CHECK_MSG(!strncmp(out, "herd show: ", 11), "%s", out);
  CHECK_EQ(herd_sh(out, sizeof out, 1, "describe"), 2);
  CHECK(!strncmp(out, "herd describe: ", 15));
  CHECK_EQ(herd_sh(out, sizeof out, 1, "describe a b"), 2);
  CHECK_EQ(herd_sh(out, sizeof out, 1, "describe --bogus web"), 2);
  CHECK_EQ(herd_sh(out, sizeof out, 1, "describe all"), 2);
  CHECK_EQ(herd_sh(out, sizeof out, 1, "describe ../x"), 2);
  CHECK_EQ(herd_sh(out, sizeof out, 1, "describe --help"), 0);
  CHECK(strstr(out, "--show-env"));
}

/* ---- the pieces ----------------------------------------------------- */

TEST(describe_origins_recorded_by_app_set) {
  struct app a;
  app_init(&a);
  char err[600];
  /* a config's line, an alias's under its option, a command line's */
  a.from = (struct origin){ORIGIN_CONFIG, 7, "/x/herd.conf", NULL};
  CHECK_EQ(app_set(&a, "kill_timeout", "2s", err, sizeof err), 0);
  a.from = (struct origin){ORIGIN_CMDLINE, 0, NULL, NULL};
  CHECK_EQ(app_set(&a, "instances", "3", err, sizeof err), 0);
  const struct opt *kt = opt_find("kill-timeout"), *w = opt_find("workers");
  CHECK_EQ(a.origin[opt_canon(kt)].kind, ORIGIN_CONFIG);
  CHECK_EQ(a.origin[opt_canon(kt)].line, 7);
  CHECK_EQ(a.origin[opt_canon(w)].kind, ORIGIN_CMDLINE);
  CHECK_EQ(opt_canon(opt_find("instances")), opt_canon(w));
  /* a refused value changes no origin */
  a.from = (struct origin){ORIGIN_CONFIG, 9, "/x/herd.conf", NULL};
  CHECK_EQ(app_set(&a, "workers", "nope", err, sizeof err), -1);
  CHECK_EQ(a.origin[opt_canon(w)].kind, ORIGIN_CMDLINE);
  CHECK_EQ(a.origin[opt_canon(opt_find("balance"))].kind, ORIGIN_DEFAULT);
  /* values as they are written */
  char buf[64];
  CHECK_STR(opt_value_text(kt, &a, 0, buf, sizeof buf), "2s");
  CHECK_STR(opt_value_text(w, &a, 0, buf, sizeof buf), "3");
  CHECK(opt_value_text(opt_find("max-memory"), &a, 0, buf, sizeof buf) == NULL);
  CHECK_EQ(app_set(&a, "ready", "1500ms", err, sizeof err), 0);
  CHECK_STR(opt_value_text(opt_find("ready"), &a, 0, buf, sizeof buf), "1500ms");
  /* a Node script: --node-cluster is herd's doing */
  char *cmd[] = {"server.js", NULL};
  a.cmd = cmd;
  CHECK_EQ(app_finish(&a, err, sizeof err), 0);
  const struct origin *nc = &a.origin[opt_canon(opt_find("node-cluster"))];
  CHECK_EQ(nc->kind, ORIGIN_HERD);
  CHECK(nc->note && strstr(nc->note, "Node"));
  app_free(&a);
}

TEST(describe_secret_env_names) {
  static const char *const secret[] = {
      "API_TOKEN", "GITHUB_TOKEN", "DB_PASSWORD", "DBPASSWORD", "MYSQL_PWD",
      "AWS_SECRET_ACCESS_KEY", "STRIPE_KEY", "api_key", "APIKEY", "SECRETKEY",
      "REDIS_PASS", "SENTRY_DSN", "SESSION_SECRET", "JWT-PRIVATE-KEY", "AUTH",
      "COOKIE_SALT", "GOOGLE_APPLICATION_CREDENTIALS", "npm.creds", NULL};
  static const char *const plain[] = {"NODE_ENV", "PORT", "PATH", "MONKEY", "BYPASS",
                                      "KEYBOARD_LAYOUT", "AUTHOR", "HOME", "LANG",
                                      "DATABASE_URL", NULL};
  for (const char *const *s = secret; *s; s++)
    CHECK_MSG(env_secret_name(*s, strlen(*s)), "%s not taken for a secret", *s);
  for (const char *const *s = plain; *s; s++)
    CHECK_MSG(!env_secret_name(*s, strlen(*s)), "%s taken for a secret", *s);
  /* the name only: API_TOKEN's length stops before the '=' */
  CHECK(!env_secret_name("PORT=TOKEN", 4));
}

TEST_T(describe_ecosystem_app_and_herd_run, 60) {
  /* herd run: no log files, said so; the mode */
  struct hp h;
  const char *args[] = {"run", "-n", "fg", "-w", "2", "--", "sleep", "1000", NULL};
  hp_start(&h, args);
  HP_WAIT(&h, "all 2 workers ready", 1);
  herd_val_t *v = describe_json("fg", 0);
  CHECK_STR(jstr(jget(v, "mode"), ""), "run");
  CHECK(jget(v, "logs") && jget(v, "logs")->type == HERD_VAL_NULL);
  CHECK_EQ(num(jget(v, "pid")), h.c.pid);
  CHECK_STR(jstr(jget(option(v, "workers"), "source"), ""), "command-line");
  herd_val_free(v);
  static char text[1 << 16];
  CHECK_EQ(herd_sh(text, sizeof text, 0, "show fg"), 0);
  CHECK_MSG(strstr(text, "  logs      none (herd run"), "%s", text);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
  /* a PM2 ecosystem file's app: the file and the app's name */
  if (!have_node())
    SKIP("node not found (apt-get install nodejs): the ecosystem half is skipped");
  char dir[PATH_MAX], path[PATH_MAX + 32], rpath[PATH_MAX], out[4096];
  snprintf(dir, sizeof dir, "%s/eco", home());
  CHECK(mkdir(dir, 0700) == 0);
  snprintf(path, sizeof path, "%s/server.sh", dir);
  write_text(path, "#!/bin/sh\nexec sleep 1000\n");
  CHECK(chmod(path, 0700) == 0);
  snprintf(path, sizeof path, "%s/apps.json", dir);
  write_text(path, "{ \"apps\": [ { \"name\": \"eco\", \"script\": \"server.sh\", "
                   "\"instances\": 2, \"kill_timeout\": 4000,\n"
                   "  \"env\": { \"SESSION_SECRET\": \"s3cr3t\", \"MODE\": \"x\" } } ] }\n");
  CHECK(realpath(path, rpath));
  int rc = herd_sh(out, sizeof out, 1, "start '%s'", path);
  CHECK_MSG(rc == 0, "herd start: exit %d: %s", rc, out);
  v = describe_json("eco", 0);
  const herd_val_t *o = option(v, "kill-timeout");
  CHECK_STR(jstr(jget(o, "value"), ""), "4s");
  CHECK_STR(jstr(jget(o, "source"), ""), "ecosystem");
  CHECK_STR(jstr(jget(o, "file"), ""), rpath);
  CHECK_STR(jstr(jget(o, "app"), ""), "eco");
  CHECK_STR(jstr(jget(option(v, "workers"), "source"), ""), "ecosystem");
  CHECK_STR(jstr(jget(option(v, "stop-signal"), "source"), ""), "default");
  CHECK_STR(jstr(jget(v, "config"), ""), rpath);
  CHECK_STR(jstr(jget(jget(v, "cmd_from"), "app"), ""), "eco");
  CHECK_STR(jstr(jget(env_of(v, "SESSION_SECRET"), "value"), ""), "****");
  CHECK_STR(jstr(jget(env_of(v, "MODE"), "value"), ""), "x");
  herd_val_free(v);
  stop("eco");
}
