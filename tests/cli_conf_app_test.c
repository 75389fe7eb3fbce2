/*
 * cli_conf_app_test.c - a config file's apps as herd ends up with them
 * (src/cli/opts.c: app_load_config, app_parse_config, app_set): the
 * values each app keeps, and that they are its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/cli/cli.h"
#include "../src/cli/opts.h"
#include "test.h"

/* A directory of the test's own, removed by the runner's HERD_HOME
 * clean-up (it is inside HERD_HOME). */
static const char *test_dir(void) {
  static char dir[PATH_MAX];
  if (!dir[0]) {
    const char *h = getenv("HERD_HOME");
    CHECK_MSG(h && *h, "HERD_HOME is not set (run under herd-test)");
    snprintf(dir, sizeof dir, "%s/conf", h);
    CHECK_MSG(mkdir(dir, 0700) == 0 || errno == EEXIST, "%s: %s", dir,
              strerror(errno));
  }
  return dir;
}

/* dir/rel, made a directory */
static void subdir(const char *rel) {
  char p[PATH_MAX + 64];
  snprintf(p, sizeof p, "%s/%s", test_dir(), rel);
  CHECK_MSG(mkdir(p, 0700) == 0 || errno == EEXIST, "%s: %s", p, strerror(errno));
}

/* Write text to dir/herd.conf and load it: the number of apps, or -1
 * with err set. */
static int load(const char *text, struct app **apps, char *err, size_t errlen) {
  char path[PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/herd.conf", test_dir());
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  CHECK(fd >= 0);
  CHECK_EQ(write(fd, text, strlen(text)), (long)strlen(text));
  CHECK_EQ(close(fd), 0);
  void *conf = (void *)1;
  int n = app_load_config(path, apps, &conf, err, errlen);
  CHECK(conf == NULL); /* nothing to keep: the apps own their values */
  app_conf_free(conf);
  return n;
}

static struct app *load_one(const char *text) {
  struct app *as;
  char err[600];
  int n = load(text, &as, err, sizeof err);
  CHECK_MSG(n == 1, "%d apps: %s", n, err);
  return as;
}

static void free_apps(struct app *as, int n) {
  for (int i = 0; i < n; i++)
    app_free(&as[i]);
  free(as);
}

/* Reuse the stack where the loader printed its integers, as later calls
 * of herd do (the master's start-up): a value still pointing there reads
 * whatever is written now. */
__attribute__((noinline)) static void scribble_stack(void) {
  volatile char junk[4096];
  memset((char *)junk, '7', sizeof junk);
}

/* A uid of this machine other than root's that herd may run workers as
 * (root may pick any; others only their own). */
static uid_t other_uid(void) {
  if (geteuid() != 0)
    return geteuid();
  struct passwd *pw = getpwuid(65534);
  if (pw)
    return 65534;
  setpwent();
  while ((pw = getpwent()))
    if (pw->pw_uid != 0)
      break;
  uid_t u = pw ? pw->pw_uid : 0;
  endpwent();
  if (!u)
    SKIP("no user but root in the passwd database");
  return u;
}

/* user = 65534 printed a number into a buffer of the loop's turn, and
 * the app kept a pointer to it: the next integer key (kill-timeout = 0)
 * overwrote it, and the workers ran as uid 0. */
TEST(cli_conf_app_integer_user_is_kept) {
  uid_t u = other_uid();
  char text[512];
  snprintf(text, sizeof text,
           "[web]\n"
           "command = [\"sh\", \"-c\", \"id -u; exec sleep 30\"]\n"
           "user = %u\n"
           "kill-timeout = 0\n",
           (unsigned)u);
  struct app *a = load_one(text);
  scribble_stack();
  char want[32];
  snprintf(want, sizeof want, "%u", (unsigned)u);
  CHECK_STR(a->user, want);
  CHECK_EQ(a->o.spawn.uid, u);
  CHECK(a->o.spawn.flags & HERD_SPAWN_SETUID);
  CHECK_EQ(a->o.kill_timeout_ms, 0); /* "0": kill at once, now 0 itself */
  free_apps(a, 1);
}

TEST(cli_conf_app_integer_listen_is_kept) {
  struct app *a = load_one("[web]\n"
                           "command = \"sleep 30\"\n"
                           "listen = 8080\n"
                           "max-restarts = 9\n");
  scribble_stack();
  CHECK_EQ(a->nlisten, 1);
  CHECK_STR(a->listen[0], "8080");
  CHECK(a->listen[1] == NULL);
  CHECK_EQ(a->o.max_restarts, 9);
  free_apps(a, 1);
}

TEST(cli_conf_app_integer_cwd_is_kept) {
  subdir("17");
  subdir("2"); /* where the workers went: the next integer's text */
  struct app *a = load_one("[web]\n"
                           "command = \"sleep 30\"\n"
                           "cwd = 17\n"
                           "workers = 2\n");
  scribble_stack();
  char dir[PATH_MAX], want[PATH_MAX + 8];
  CHECK(realpath(test_dir(), dir));
  snprintf(want, sizeof want, "%s/17", dir);
  CHECK_STR(a->cwd, want);
  CHECK_STR(a->o.spawn.cwd, want);
  CHECK_EQ(a->o.workers, 2);
  free_apps(a, 1);
}

TEST(cli_conf_app_integer_metrics_is_kept) {
  struct app *a = load_one("[web]\n"
                           "command = \"sleep 30\"\n"
                           "metrics = 9100\n"
                           "workers = 2\n");
  scribble_stack();
  CHECK_STR(a->metrics, "9100");
  free_apps(a, 1);
}

/* herd run -c FILE NAME moves the app it runs to the front of the array
 * (a struct copy) and frees the others: the app took the cwd of the one
 * that had been there, and an environment already freed, when
 * o.spawn.cwd and o.spawn.env pointed into the struct. */
TEST(cli_conf_app_moved_keeps_its_cwd_and_env) {
  subdir("a");
  subdir("b");
  struct app *as;
  char err[600];
  int n = load("[a]\n"
               "command = \"sleep 30\"\n"
               "cwd = \"a\"\n"
               "env = { HX = \"from-a\" }\n"
               "[b]\n"
               "command = [\"sleep\", \"30\"]\n"
               "cwd = \"b\"\n"
               "env = { HX = \"from-b\", N = 7 }\n"
               "listen = \"unix:b.sock\"\n",
               &as, err, sizeof err);
  CHECK_MSG(n == 2, "%s", err);
  struct app t = as[0]; /* as main.c's parse_app does */
  as[0] = as[1];
  as[1] = t;
  app_free(&as[1]);
  memset(&as[1], 0, sizeof as[1]);
  const struct app *b = &as[0];
  char dir[PATH_MAX], want[PATH_MAX + 16];
  CHECK(realpath(test_dir(), dir));
  snprintf(want, sizeof want, "%s/b", dir);
  CHECK_STR(b->name, "b");
  CHECK_STR(b->cwd, want);
  CHECK_STR(b->o.spawn.cwd, want);
  CHECK(b->o.spawn.env != NULL);
  CHECK_STR(b->o.spawn.env[0], "HX=from-b");
  CHECK_STR(b->o.spawn.env[1], "N=7");
  CHECK(b->o.spawn.env[2] == NULL);
  CHECK_STR(b->o.argv[0], "sleep");
  CHECK_STR(b->o.argv[1], "30");
  CHECK(b->o.argv[2] == NULL);
  snprintf(want, sizeof want, "unix:%s/b.sock", dir);
  CHECK_STR(b->listen[0], want);
  app_free(&as[0]);
  free(as);
}

/* A uid past uid_t wrapped: 4294967296 was uid 0. */
TEST(cli_conf_app_uid_out_of_range_is_refused) {
  static const char *const bad[] = {"4294967296", "4294967295",
                                    "99999999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char text[256], err[600], want[128];
    snprintf(text, sizeof text, "[web]\ncommand = \"sleep 1\"\nuser = \"%s\"\n",
             bad[i]);
    struct app *as = NULL;
    CHECK_EQ(load(text, &as, err, sizeof err), -1);
    snprintf(want, sizeof want, ":1: [web]: user: %s is out of range for a uid",
             bad[i]);
    CHECK_MSG(strstr(err, want), "%s", err);
  }
  /* a name too long to be one is refused, not cut to a shorter one */
  char text[600], err[600], name[400];
  memset(name, 'a', sizeof name - 1);
  name[sizeof name - 1] = '\0';
  snprintf(text, sizeof text, "[web]\ncommand = \"sleep 1\"\nuser = \"%s\"\n", name);
  struct app *as = NULL;
  CHECK_EQ(load(text, &as, err, sizeof err), -1);
  CHECK_MSG(strstr(err, "is too long"), "%s", err);
}

/* A value's newline or escape does not break the message's one line. */
TEST(cli_conf_app_messages_are_one_line) {
  static const char *const bad[] = {
      "listen = \"a\\nb\"", "workers = \"1\\n2\"", "metrics = \"\\u001b[31m\"",
      "stop-signal = \"X\\rY\"", "\"a\\nb\" = 1", "env = { \"A\\nB=\" = 1 }",
      "env = [\"\\n\"]"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char text[256], err[600];
    snprintf(text, sizeof text, "[web]\ncommand = \"sleep 1\"\n%s\n", bad[i]);
    struct app *as = NULL;
    CHECK_MSG(load(text, &as, err, sizeof err) == -1, "%s accepted", bad[i]);
    for (const char *p = err; *p; p++)
      CHECK_MSG((unsigned char)*p >= 0x20 && *p != 0x7f,
                "%s: a control character in: %s", bad[i], err);
    CHECK_MSG(strstr(err, "/herd.conf:3: "), "%s: %s", bad[i], err);
  }
  /* the command line's values too */
  struct app a;
  app_init(&a);
  char err[128];
  CHECK_EQ(app_set(&a, "listen", "x\ny\x1b", err, sizeof err), -1);
  CHECK_MSG(!strchr(err, '\n') && !strchr(err, '\x1b'), "%s", err);
  /* cut at the buffer's end, not in the middle of a character */
  CHECK_EQ(app_set(&a, "listen", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                   "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", err, 16), -1);
  size_t len = strlen(err);
  CHECK(len > 0 && (unsigned char)err[len - 1] != 0xc3);
  app_free(&a);
}

/* { "A=B" = "c" } would be A with the value "B=c". */
TEST(cli_conf_app_env_key_with_equals_is_refused) {
  struct app *as = NULL;
  char err[600];
  CHECK_EQ(load("[web]\ncommand = \"sleep 1\"\nenv = { \"A=B\" = \"c\" }\n", &as,
                err, sizeof err),
           -1);
  CHECK_MSG(strstr(err, "herd.conf:3: env: 'A=B' has '=', which no variable "
                        "name has"),
            "%s", err);
}

/* The command line's values are copied too: the app outlives a buffer
 * that held them. */
TEST(cli_conf_app_set_copies_every_value) {
  struct app a;
  app_init(&a);
  char err[256];
  static const char *const kv[][2] = {
      {"name", "web"}, {"listen", "127.0.0.1:1"}, {"cwd", "/"},
      {"env", "A=1"}, {"user", "root"}, {"metrics", "127.0.0.1:2"}};
  for (size_t i = 0; i < sizeof kv / sizeof *kv; i++) {
    char buf[64];
    snprintf(buf, sizeof buf, "%s", kv[i][1]);
    CHECK_MSG(app_set(&a, kv[i][0], buf, err, sizeof err) == 0, "%s", err);
    memset(buf, 'x', sizeof buf - 1);
  }
  CHECK_STR(a.name, "web");
  CHECK_STR(a.listen[0], "127.0.0.1:1");
  CHECK_STR(a.o.spawn.cwd, "/");
  CHECK_STR(a.env[0], "A=1");
  CHECK_STR(a.user, "root");
  CHECK_STR(a.metrics, "127.0.0.1:2");
  app_free(&a);
  app_free(&a); /* twice is fine */
}

/* max-memory = "0" was refused but left the limit at 0 (none): a value
 * refused changes nothing (found by fuzz/opts.c). */
TEST(cli_conf_app_refused_max_memory_keeps_the_limit) {
  struct app a;
  app_init(&a);
  char err[128];
  CHECK_EQ(app_set(&a, "max-memory", "512K", err, sizeof err), 0);
  CHECK_EQ(a.max_memory, 512 * 1024);
  CHECK_EQ(app_set(&a, "max-memory", "0", err, sizeof err), -1);
  CHECK_STR(err, "max-memory: '0' is not a size (200M, 1G)");
  CHECK_EQ(a.max_memory, 512 * 1024);
  CHECK_EQ(app_set(&a, "max-memory", "0.0001", err, sizeof err), -1);
  CHECK_EQ(a.max_memory, 512 * 1024);
  app_free(&a);
}

/* ---- the option table (issue 10) --------------------------------------- */

/* The whole of a text file of the repo (from the runner's directory, the
 * repo root), or NULL. */
static char *repo_file(const char *rel) {
  FILE *f = fopen(rel, "r");
  if (!f)
    return NULL;
  char *buf = NULL;
  size_t cap = 0;
  FILE *m = open_memstream(&buf, &cap);
  CHECK(m != NULL);
  char b[8192];
  size_t n;
  while ((n = fread(b, 1, sizeof b, f)) > 0)
    CHECK_EQ(fwrite(b, 1, n, m), n);
  fclose(f);
  CHECK_EQ(fclose(m), 0);
  return buf;
}

/* Every option of the table is in the help, in docs/herd.md's table of
 * options and in herd(1); and the default the help shows is the one an
 * app starts with: given back to app_set, it changes nothing. */
TEST(cli_opts_table_help_docs_and_defaults_agree) {
  size_t n;
  const struct opt *t = opt_table(&n);
  char *help = NULL;
  size_t hlen = 0;
  FILE *m = open_memstream(&help, &hlen);
  CHECK(m != NULL);
  opt_help(m);
  CHECK_EQ(fclose(m), 0);
  char *md = repo_file("docs/herd.md"), *man = repo_file("docs/man/herd.1");
  if (!md || !man)
    SKIP("docs/herd.md or docs/man/herd.1 not found from here (not the repo root)");
  /* no line of the help is wider than 79 columns */
  for (const char *l = help; *l;) {
    size_t w = strcspn(l, "\n");
    CHECK_MSG(w <= 79, "a help line of %zu columns: %.*s", w, (int)w, l);
    l += w + (l[w] == '\n');
  }
  for (size_t i = 0; i < n; i++) {
    char want[80];
    /* --watch[=PATH]: an optional value is written without a blank */
    snprintf(want, sizeof want, "--%s%s", t[i].name,
             t[i].metavar && t[i].kind != OPT_PATHS ? " " : "");
    CHECK_MSG(strstr(help, want), "the help lacks %s", want);
    snprintf(want, sizeof want, "`--%s", t[i].name);
    CHECK_MSG(!strcmp(t[i].name, "help") || strstr(md, want),
              "docs/herd.md's options lack %s", want);
    char troff[80];
    size_t k = (size_t)snprintf(troff, sizeof troff, "\\-\\-");
    for (const char *c = t[i].name; *c && k + 3 < sizeof troff; c++) {
      if (*c == '-')
        troff[k++] = '\\';
      troff[k++] = *c;
    }
    troff[k] = '\0';
    CHECK_MSG(strstr(man, troff), "herd(1) lacks %s", troff);
    if (t[i].where != OPT_ANYWHERE || t[i].dflt)
      continue;
    /* "[DEFAULT]" at the end of the option's help */
    /* the option's own line: "  -w, --workers N|auto ..." */
    snprintf(want, sizeof want, "--%s ", t[i].name);
    const char *at = help;
    while (at && strncmp(at + 6, want, strlen(want)))
      if ((at = strchr(at, '\n')))
        at++;
    CHECK_MSG(at, "no help line of --%s", t[i].name);
    const char *end = at;
    /* to the next option's line (not one of 27 blanks: the wrapped text) */
    while ((end = strchr(end + 1, '\n')) && strspn(end + 1, " ") >= 27)
      ;
    if (!end)
      end = at + strlen(at);
    const char *open = NULL;
    for (const char *c = at; c < end; c++)
      if (*c == '[')
        open = c;
    CHECK_MSG(open, "--%s shows no default", t[i].name);
    char dflt[64];
    size_t dl = (size_t)(strchr(open, ']') - open - 1);
    CHECK(dl < sizeof dflt);
    memcpy(dflt, open + 1, dl);
    dflt[dl] = '\0';
    struct app a, b;
    app_init(&a);
    app_init(&b);
    char err[300];
    CHECK_MSG(app_set(&b, t[i].name, dflt, err, sizeof err) == 0, "--%s %s: %s",
              t[i].name, dflt, err);
    CHECK_MSG(!memcmp(&a.o, &b.o, sizeof a.o) && a.log_keep == b.log_keep &&
                  a.log_max_size == b.log_max_size && a.max_memory == b.max_memory,
              "--%s's default as the help shows it (%s) is not app_init's", t[i].name,
              dflt);
    app_free(&a);
    app_free(&b);
  }
  free(help);
  free(md);
  free(man);
}

/* Each option is a config key too, as "kill_timeout" or "kill-timeout",
 * except the command line's own (-c, -q, -h); and each refusal is one
 * line that names the option. */
TEST(cli_opts_table_keys_and_refusals) {
  size_t n;
  const struct opt *t = opt_table(&n);
  for (size_t i = 0; i < n; i++) {
    char key[64];
    snprintf(key, sizeof key, "%s", t[i].name);
    for (char *c = key; *c; c++)
      if (*c == '-')
        *c = '_';
    CHECK(opt_find(key) == &t[i]);
    CHECK(opt_find(t[i].name) == &t[i]);
    struct app a;
    app_init(&a);
    char err[300];
    int r = app_set(&a, key, "\033[2J\nnot-a-value-of-any-kind", err, sizeof err);
    if (t[i].where != OPT_ANYWHERE) {
      CHECK_EQ(r, -1);
      CHECK_MSG(strstr(err, "unknown option"), "%s", err);
    } else if (r < 0) {
      CHECK_MSG(!strncmp(err, t[i].name, strlen(t[i].name)), "%s: %s", t[i].name, err);
      CHECK_MSG(!strpbrk(err, "\n\033"), "%s: not one line: %s", t[i].name, err);
    } else {
      /* only what takes any text: a user, a directory or a path to
       * watch (checked by app_finish), a glob */
      CHECK_MSG(!strcmp(t[i].name, "user") || !strcmp(t[i].name, "cwd") ||
                    !strcmp(t[i].name, "watch") || !strcmp(t[i].name, "watch-ignore"),
                "--%s took anything", t[i].name);
    }
    app_free(&a);
  }
}
