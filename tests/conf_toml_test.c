/*
 * conf_toml_test.c - herd's config format is a subset of TOML: every
 * text herd's parser (src/cli/conf.c) accepts must be TOML with the same
 * meaning. Checked against python's tomllib (3.11+, TOML 1.0) over
 * TOML snippets: the hand-written ones below, the config fuzzer's seeds
 * (fuzz/corpus/conf/) and, for a run by hand over a fuzzer's findings,
 * every file of the directories in HERD_TOML_DIRS (':'-separated):
 *
 *   HERD_TOML_DIRS=build/fuzz/corpus/conf build/tests/herd-test conf_toml
 *
 * Both sides are written as toml-test's JSON ({"type":"integer",
 * "value":"1"} for a scalar, arrays and objects as they are) and compared
 * as trees. It fails if herd accepts a text tomllib refuses, or reads
 * one differently; herd may refuse what TOML allows (its subset), with a
 * "FILE:LINE: message" of one line. Skipped if python3 has no tomllib.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/cli/conf.h"
#include "../src/cli/jval.h"
#include "../src/cli/jw.h"
#include "test.h"

/* Hand-written: each a whole file. Escapes are C's: "\\n" is TOML's \n. */
static const char *const snippets[] = {
    /* tables */
    "[a]\n",
    "[a]\n[b]\n",
    "[ a ]\n",
    "[\ta\t]\n",
    "[a] # c\n",
    "[a]#c\n",
    "  [a]\n",
    "[\"a\"]\n",
    "['a']\n",
    "[\"a.b\"]\n",
    "['a.b']\n",
    "[\"a\\u002eb\"]\n",
    "[\"\\u0061\"]\n[a]\n",
    "[a]\n[\"a\"]\n",
    "[...]\n",
    "[....]\n",
    "[.]\n",
    "[..]\n",
    "[.a]\n",
    "[a.]\n",
    "[a..b]\n",
    "[a.b]\n",
    "[a . b]\n",
    "[\"a\".b]\n",
    "[a.\"b\"]\n",
    "[]\n",
    "[ ]\n",
    "[\"\"]\n",
    "['']\n",
    "[a b]\n",
    "[a]]\n",
    "[[a]]\n",
    "[ [a]]\n",
    "[a]\n[[a]]\n",
    "[a\n",
    "[a] x = 1\n",
    "[\"a\" ]\n",
    "[-]\n",
    "[_]\n",
    "[0]\n",
    "[1.5]\n",
    "[true]\n",
    "[a-b_c]\n",
    "[\"a b\"]\n",
    "[\"\\n\"]\n",
    "[A]\n[a]\n",
    /* keys */
    "[a]\nk = 1\n",
    "[a]\nk=1\n",
    "[a]\n\tk\t=\t1\t\n",
    "[a]\n\"k\" = 1\n",
    "[a]\n'k' = 1\n",
    "[a]\n\"\" = 1\n",
    "[a]\n'' = 1\n",
    "[a]\n\"k\\u0020x\" = 1\n",
    "[a]\n1234 = 1\n",
    "[a]\n-_ = 1\n",
    "[a]\ntrue = 1\n",
    "[a]\nk.l = 1\n",
    "[a]\nk . l = 1\n",
    "[a]\n\"k\".l = 1\n",
    "[a]\nk = 1\nk = 2\n",
    "[a]\nk = 1\n\"k\" = 2\n",
    "[a]\nk = 1\n'k' = 2\n",
    "[a]\nk_x = 1\nk-x = 2\n",
    "[a]\nk-x = 1\n[b]\nk_x = 2\n",
    "[a]\nKEY = 1\nkey = 2\n",
    "k = 1\n",
    "k = 1\n[a]\n",
    "[a]\n= 1\n",
    "[a]\nk\n",
    "[a]\nk =\n",
    "[a]\nk = \n1\n",
    "[a]\nk = 1 2\n",
    "[a]\nk = 1,\n",
    "[a]\n@ = 1\n",
    "[a]\nk\u00e9 = 1\n",
    "[a]\n\"k\u00e9\" = 1\n",
    /* strings */
    "[a]\ns = \"\"\n",
    "[a]\ns = ''\n",
    "[a]\ns = \"plain\"\n",
    "[a]\ns = \"\\\" \\\\ \\b \\t \\n \\f \\r\"\n",
    "[a]\ns = \"\\u00e9 \\U0001F600 \\u0041\"\n",
    "[a]\ns = \"\\/\"\n",
    "[a]\ns = \"\\e\"\n",
    "[a]\ns = \"\\x41\"\n",
    "[a]\ns = \"\\a\"\n",
    "[a]\ns = \"\\ \"\n",
    "[a]\ns = \"\\u00\"\n",
    "[a]\ns = \"\\u00G0\"\n",
    "[a]\ns = \"\\U0001F60\"\n",
    "[a]\ns = \"\\uD800\"\n",
    "[a]\ns = \"\\uDFFF\"\n",
    "[a]\ns = \"\\U00110000\"\n",
    "[a]\ns = \"\\U0010FFFF\"\n",
    "[a]\ns = \"\\uFFFF\"\n",
    "[a]\ns = \"\\u0000\"\n",
    "[a]\ns = \"\\u001f\\u007f\"\n",
    "[a]\ns = \"a\tb\"\n",
    "[a]\ns = 'a\tb'\n",
    "[a]\ns = \"a\x01b\"\n",
    "[a]\ns = \"a\x7f\"\n",
    "[a]\ns = 'a\x7f'\n",
    "[a]\ns = \"caf\xc3\xa9 \xf0\x9f\x98\x80\"\n",
    "[a]\ns = \"\xed\xa0\x80\"\n",
    "[a]\ns = \"\xff\"\n",
    "[a]\ns = \"\xc0\xaf\"\n",
    "[a]\ns = 'C:\\path\\'\n",
    "[a]\ns = 'it''s'\n",
    "[a]\ns = \"a\"\"b\"\n",
    "[a]\ns = \"a # not a comment\" # a comment\n",
    "[a]\ns = \"abc\n",
    "[a]\ns = \"abc\\\"\n",
    "[a]\ns = \"abc\\\n\"\n",
    "[a]\ns = 'abc\n",
    "[a]\ns = \"\"\"abc\"\"\"\n",
    "[a]\ns = \"\"\"\nabc\"\"\"\n",
    "[a]\ns = '''abc'''\n",
    "[a]\ns = '''\nabc\n'''\n",
    "[a]\ns = \"\"\"\"\n",
    "[a]\ns = \"\"\n\"\"\n",
    "[a]\ns = \"a\\\r\n\"\n",
    "[a]\ns = \"a\rb\"\n",
    /* integers */
    "[a]\ni = 0\n",
    "[a]\ni = +0\n",
    "[a]\ni = -0\n",
    "[a]\ni = 1_000\n",
    "[a]\ni = 1_2_3\n",
    "[a]\ni = 1__0\n",
    "[a]\ni = _1\n",
    "[a]\ni = 1_\n",
    "[a]\ni = +_1\n",
    "[a]\ni = 0_0\n",
    "[a]\ni = 00\n",
    "[a]\ni = 007\n",
    "[a]\ni = -007\n",
    "[a]\ni = +-1\n",
    "[a]\ni = ++1\n",
    "[a]\ni = -\n",
    "[a]\ni = +\n",
    "[a]\ni = 9223372036854775807\n",
    "[a]\ni = -9223372036854775808\n",
    "[a]\ni = 9223372036854775808\n",
    "[a]\ni = -9223372036854775809\n",
    "[a]\ni = 99999999999999999999999\n",
    "[a]\ni = 0x10\n",
    "[a]\ni = 0xDEAD_beef\n",
    "[a]\ni = 0o17\n",
    "[a]\ni = 0b101\n",
    "[a]\ni = 0X10\n",
    "[a]\ni = -0x10\n",
    "[a]\ni = 1e3\n",
    "[a]\ni = 12ab\n",
    "[a]\ni = 5s\n",
    "[a]\ni = 1#c\n",
    "[a]\ni = 1 # c\n",
    /* floats, dates, times */
    "[a]\nf = 1.5\n",
    "[a]\nf = -2e3\n",
    "[a]\nf = 1.\n",
    "[a]\nf = .5\n",
    "[a]\nf = 1e\n",
    "[a]\nf = inf\n",
    "[a]\nf = +inf\n",
    "[a]\nf = -nan\n",
    "[a]\nf = nan\n",
    "[a]\nf = 1_000.5\n",
    "[a]\nf = 6.626e-34\n",
    "[a]\nd = 1979-05-27\n",
    "[a]\nd = 1979-05-27T07:32:00Z\n",
    "[a]\nd = 1979-05-27 07:32:00\n",
    "[a]\nd = 07:32:00\n",
    "[a]\nd = 1979-05-27T00:32:00.999999-07:00\n",
    /* booleans */
    "[a]\nb = true\n",
    "[a]\nb = false\n",
    "[a]\nb = True\n",
    "[a]\nb = truex\n",
    "[a]\nb = true1\n",
    "[a]\nb = true.\n",
    "[a]\nb = tru\n",
    "[a]\nb = true#c\n",
    /* arrays */
    "[a]\nx = []\n",
    "[a]\nx = [ ]\n",
    "[a]\nx = [1]\n",
    "[a]\nx = [1,]\n",
    "[a]\nx = [1, 2, 3]\n",
    "[a]\nx = [1, \"two\", true, 'four']\n",
    "[a]\nx = [\n  1,\n  2,\n]\n",
    "[a]\nx = [ # c\n  1, # c\n  # c\n  2 # c\n  , 3\n]\n",
    "[a]\nx = [\r\n 1,\r\n]\r\n",
    "[a]\nx = [,]\n",
    "[a]\nx = [1,,2]\n",
    "[a]\nx = [,1]\n",
    "[a]\nx = [1 2]\n",
    "[a]\nx = [1\n",
    "[a]\nx = [1]]\n",
    "[a]\nx = [[1], [2]]\n",
    "[a]\nx = [[]]\n",
    "[a]\nx = [{}]\n",
    "[a]\nx = [{ a = 1 }]\n",
    "[a]\nx = [1.5]\n",
    "[a]\nx = [1979-05-27]\n",
    "[a]\nx = [\"a\" \"b\"]\n",
    "[a]\nx = [\"a\",\n\"b\"]\ny = 1\n",
    /* inline tables */
    "[a]\nt = {}\n",
    "[a]\nt = { }\n",
    "[a]\nt = { k = 1 }\n",
    "[a]\nt = {k=1}\n",
    "[a]\nt = { k = 1, l = \"s\", m = true }\n",
    "[a]\nt = { k = 1, }\n",
    "[a]\nt = { , }\n",
    "[a]\nt = { k = 1,, l = 2 }\n",
    "[a]\nt = { k = 1 l = 2 }\n",
    "[a]\nt = { k = 1, k = 2 }\n",
    "[a]\nt = { k = 1, \"k\" = 2 }\n",
    "[a]\nt = { \"\\u006b\" = 1, k = 2 }\n",
    "[a]\nt = { k_x = 1, k-x = 2 }\n",
    "[a]\nt = { \"a b\" = 1, 'c' = 2 }\n",
    "[a]\nt = { \"\" = 1 }\n",
    "[a]\nt = { k.l = 1 }\n",
    "[a]\nt = { k = { l = 1 } }\n",
    "[a]\nt = { k = [1] }\n",
    "[a]\nt = { k = 1.5 }\n",
    "[a]\nt = { k = 1\n}\n",
    "[a]\nt = {\nk = 1 }\n",
    "[a]\nt = { k = 1 # c\n}\n",
    "[a]\nt = { k }\n",
    "[a]\nt = { k = }\n",
    "[a]\nt = { = 1 }\n",
    "[a]\nt = { k = 1 }}\n",
    "[a]\nt = { A=B = 1 }\n",
    "[a]\nt = { \"A=B\" = 1 }\n",
    /* comments, blanks, line ends */
    "",
    "\n",
    "# only a comment",
    "# c\n\n   \n\t\n",
    "[a]\n# c \xc3\xa9\n",
    "[a]\n# c\x01\n",
    "[a]\n# c\x7f\n",
    "[a]\n# c\tc\n",
    "[a]\r\nk = 1\r\n",
    "[a]\rk = 1\n",
    "[a]\nk = 1",
    "[a]\nk = 1\r",
    "\xef\xbb\xbf[a]\n",
    "[a]\nk = 1\0\n",
    /* the example of the brief, and herd's keys */
    "[web]\ncommand = [\"./build/examples/hello-http\"]\nworkers = 4\n"
    "listen = [\"127.0.0.1:8080\", \"[::1]:8080\"]\nready = \"notify\"\n"
    "kill_timeout = \"5s\"\nenv = { NODE_ENV = \"production\", PORT = \"3000\" }\n"
    "ipc = true\n\n[api]\ncommand = [\"node\", \"server.js\"]\n",
    "[web]\nkill-timeout = \"1s\"\nkill_timeout = \"2s\"\n",
    "[\"web.v2\"]\ncommand = \"x\"\n[web]\ncommand = \"y\"\n",
};

static int write_file(const char *path, const char *text, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return -1;
  int ok = write(fd, text, len) == (ssize_t)len;
  return close(fd) == 0 && ok ? 0 : -1;
}

static char *read_file(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  char *b = test_read_all(fd, len);
  close(fd);
  return b;
}

/* Run python3 -c script args..., stdout to out_path; its exit status, or
 * 127 if it could not be run. */
static int run_python(const char *script, const char *arg, const char *out_path) {
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int n = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (o < 0 || n < 0 || dup2(n, 0) < 0 || dup2(o, 1) < 0 || dup2(n, 2) < 0)
      _exit(127);
    execlp("python3", "python3", "-c", script, arg, (char *)NULL);
    _exit(127);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0)
    CHECK(errno == EINTR);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* tomllib on each file named in the list file: one line each, "OK JSON"
 * or "ERR why", in order. */
static const char py_script[] =
    "import sys, json\n"
    "import tomllib\n"
    "def enc(v):\n"
    "    if isinstance(v, bool): return {'type': 'bool', 'value': 'true' if v else 'false'}\n"
    "    if isinstance(v, int): return {'type': 'integer', 'value': str(v)}\n"
    "    if isinstance(v, str): return {'type': 'string', 'value': v}\n"
    "    if isinstance(v, list): return [enc(x) for x in v]\n"
    "    if isinstance(v, dict): return {k: enc(x) for k, x in v.items()}\n"
    "    return {'type': type(v).__name__, 'value': str(v)}\n"
    "for p in open(sys.argv[1], encoding='utf-8').read().split('\\n'):\n"
    "    if not p: continue\n"
    "    try:\n"
    "        d = tomllib.loads(open(p, 'rb').read().decode('utf-8'))\n"
    "        print('OK ' + json.dumps(enc(d)))\n"
    "    except Exception as e:\n"
    "        print('ERR ' + (type(e).__name__ + ': ' + str(e)).replace('\\n', ' '))\n";

/* herd's reading of a parsed file, as toml-test's JSON. */
static void enc_value(struct jw *w, const struct conf_value *v) {
  switch (v->kind) {
  case CONF_STR:
    jw_raw(w, "{\"type\":\"string\",\"value\":", 25);
    jw_str(w, v->str, strlen(v->str));
    jw_raw(w, "}", 1);
    break;
  case CONF_INT:
    jw_printf(w, "{\"type\":\"integer\",\"value\":\"%lld\"}", v->num);
    break;
  case CONF_BOOL:
    jw_printf(w, "{\"type\":\"bool\",\"value\":\"%s\"}", v->boolean ? "true" : "false");
    break;
  case CONF_ARRAY:
    jw_raw(w, "[", 1);
    for (size_t i = 0; i < v->nitems; i++) {
      if (i)
        jw_raw(w, ",", 1);
      enc_value(w, &v->items[i]);
    }
    jw_raw(w, "]", 1);
    break;
  case CONF_TABLE:
    jw_raw(w, "{", 1);
    for (size_t i = 0; i < v->nitems; i++) {
      if (i)
        jw_raw(w, ",", 1);
      jw_str(w, v->keys[i], strlen(v->keys[i]));
      jw_raw(w, ":", 1);
      enc_value(w, &v->items[i]);
    }
    jw_raw(w, "}", 1);
    break;
  default:
    jw_raw(w, "null", 4);
  }
}

static void enc_conf(struct jw *w, const struct conf *c) {
  jw_raw(w, "{", 1);
  for (size_t i = 0; i < c->napps; i++) {
    const struct conf_app *a = &c->apps[i];
    if (i)
      jw_raw(w, ",", 1);
    jw_str(w, a->name, strlen(a->name));
    jw_raw(w, ":{", 2);
    for (size_t j = 0; j < a->nkeys; j++) {
      if (j)
        jw_raw(w, ",", 1);
      jw_str(w, a->keys[j].key, strlen(a->keys[j].key));
      jw_raw(w, ":", 1);
      enc_value(w, &a->keys[j].v);
    }
    jw_raw(w, "}", 1);
  }
  jw_raw(w, "}", 1);
}

/* Two trees the same (object members in any order). */
static int same(const herd_val_t *a, const herd_val_t *b) {
  if (!a || !b || a->type != b->type)
    return 0;
  switch (a->type) {
  case HERD_VAL_STRING:
    return a->str.len == b->str.len && !memcmp(a->str.s, b->str.s, a->str.len);
  case HERD_VAL_NUMBER:
    return a->number == b->number;
  case HERD_VAL_BOOL:
    return a->boolean == b->boolean;
  case HERD_VAL_ARRAY:
  case HERD_VAL_OBJECT:
    if (a->obj.n != b->obj.n || a->obj.length != b->obj.length)
      return 0;
    for (size_t i = 0; i < a->obj.n; i++) {
      const herd_val_prop_t *p = &a->obj.props[i];
      herd_val_t *bv = p->key ? herd_val_obj_getn(b, p->key, p->key_len)
                              : herd_val_obj_get_index(b, p->index);
      if (!same(p->value, bv))
        return 0;
    }
    return 1;
  default:
    return 1;
  }
}

/* A snippet for a message: C escapes for what is not printable. */
static void shown(char *out, size_t n, const char *s, size_t len) {
  size_t k = 0;
  for (size_t i = 0; i < len && k + 8 < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\n')
      k += (size_t)snprintf(out + k, n - k, "\\n");
    else if (c < 0x20 || c >= 0x7f || c == '\\')
      k += (size_t)snprintf(out + k, n - k, "\\x%02x", c);
    else
      out[k++] = (char)c;
  }
  out[k] = '\0';
}

struct files {
  char **path;
  size_t n, cap;
};

static void add_file(struct files *f, const char *path) {
  if (f->n == f->cap) {
    f->cap = f->cap ? f->cap * 2 : 256;
    f->path = realloc(f->path, f->cap * sizeof *f->path);
    CHECK(f->path);
  }
  CHECK((f->path[f->n++] = strdup(path)));
}

static void add_dir(struct files *f, const char *dir) {
  DIR *d = opendir(dir);
  CHECK_MSG(d, "%s: %s", dir, strerror(errno));
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    struct stat st;
    if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
      add_file(f, p);
  }
  closedir(d);
}

/* fuzz/corpus/conf of this repo: from the current directory (the runner
 * starts in the repo root), else up from the test binary. */
static int find_corpus(char *out, size_t n) {
  struct stat st;
  if (stat("fuzz/corpus/conf", &st) == 0 && S_ISDIR(st.st_mode)) {
    snprintf(out, n, "fuzz/corpus/conf");
    return 0;
  }
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", test_self());
  for (int up = 0; up < 8; up++) {
    char *slash = strrchr(dir, '/');
    if (!slash)
      break;
    *slash = '\0';
    int r = snprintf(out, n, "%s/fuzz/corpus/conf", dir);
    if (r > 0 && (size_t)r < n && stat(out, &st) == 0 && S_ISDIR(st.st_mode))
      return 0;
  }
  return -1;
}

TEST_T(conf_toml_differential_against_tomllib, 120) {
  const char *home = getenv("HERD_HOME");
  CHECK_MSG(home && *home, "HERD_HOME is not set (run under herd-test)");
  char dir[PATH_MAX], list[PATH_MAX + 16], out[PATH_MAX + 16];
  snprintf(dir, sizeof dir, "%s/toml", home);
  CHECK(mkdir(dir, 0700) == 0 || errno == EEXIST);
  snprintf(list, sizeof list, "%s/list", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  if (run_python("import tomllib", "", out) != 0)
    SKIP("python3 with tomllib (3.11 or later) not found: no TOML reference");

  struct files f = {0};
  for (size_t i = 0; i < sizeof snippets / sizeof *snippets; i++) {
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/snippet-%03zu.toml", dir, i);
    /* sizeof-less: a snippet holding a NUL is cut there, which is fine */
    CHECK(write_file(p, snippets[i], strlen(snippets[i])) == 0);
    add_file(&f, p);
  }
  char corpus[PATH_MAX];
  CHECK_MSG(find_corpus(corpus, sizeof corpus) == 0,
            "fuzz/corpus/conf not found (from %s)", test_self());
  add_dir(&f, corpus);
  const char *extra = getenv("HERD_TOML_DIRS");
  if (extra && *extra) {
    char *copy = strdup(extra), *save = NULL;
    CHECK(copy);
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save))
      add_dir(&f, d);
    free(copy);
  }
  struct jw lw;
  jw_init(&lw);
  for (size_t i = 0; i < f.n; i++) {
    CHECK_MSG(!strchr(f.path[i], '\n'), "%s: a newline in the name", f.path[i]);
    jw_raw(&lw, f.path[i], strlen(f.path[i]));
    jw_raw(&lw, "\n", 1);
  }
  CHECK(!lw.err && write_file(list, lw.buf, lw.len) == 0);
  jw_free(&lw);
  int st = run_python(py_script, list, out);
  CHECK_MSG(st == 0, "python3 -c (tomllib): exit %d", st);
  size_t olen;
  char *py = read_file(out, &olen);
  CHECK(py);

  char report[1600] = "";
  size_t rlen = 0;
  int bad = 0, both = 0, herd_only_refuses = 0, both_refuse = 0;
  char *save = NULL, *line = strtok_r(py, "\n", &save);
  for (size_t i = 0; i < f.n; i++, line = strtok_r(NULL, "\n", &save)) {
    CHECK_MSG(line, "python3 gave %zu lines for %zu files", i, f.n);
    size_t len;
    char *text = read_file(f.path[i], &len);
    CHECK_MSG(text, "%s: %s", f.path[i], strerror(errno));
    struct conf c;
    char err[512];
    int r = conf_parse("t.toml", text, len, &c, err, sizeof err);
    int py_ok = !strncmp(line, "OK ", 3);
    char why[600] = "";
    if (r == 0) {
      struct jw w;
      jw_init(&w);
      enc_conf(&w, &c);
      CHECK(!w.err);
      if (!py_ok) {
        snprintf(why, sizeof why, "herd accepts, tomllib refuses (%.120s)", line);
      } else {
        herd_val_t *hv = jparse(w.buf, w.len), *pv = jparse(line + 3, strlen(line + 3));
        CHECK_MSG(hv && pv, "%s: unreadable JSON", f.path[i]);
        if (!same(hv, pv))
          snprintf(why, sizeof why, "read differently: herd %.200s, tomllib %.200s",
                   w.buf, line + 3);
        else
          both++;
        herd_val_free(hv);
        herd_val_free(pv);
      }
      jw_free(&w);
      conf_free(&c);
    } else {
      /* refused: "t.toml:LINE: message" or "t.toml: message", one line */
      const char *m = err + 6;
      int lined = !strncmp(err, "t.toml:", 7) && m[1] >= '1' && m[1] <= '9';
      if (lined) {
        m += 1 + strspn(m + 1, "0123456789");
        lined = m[0] == ':' && m[1] == ' ' && m[2];
      }
      int whole = !strncmp(err, "t.toml: ", 8) && err[8];
      if ((!lined && !whole) || strchr(err, '\n'))
        snprintf(why, sizeof why, "not a FILE:LINE: message: %.200s", err);
      py_ok ? herd_only_refuses++ : both_refuse++;
    }
    if (why[0]) {
      bad++;
      char s[200];
      shown(s, sizeof s, text, len);
      if (rlen + 200 < sizeof report)
        rlen += (size_t)snprintf(report + rlen, sizeof report - rlen, "\n  %s [%.100s]: %s",
                                 f.path[i], s, why);
    }
    free(text);
  }
  free(py);
  for (size_t i = 0; i < f.n; i++)
    free(f.path[i]);
  free(f.path);
  CHECK_MSG(both > 0 && both_refuse > 0, "nothing compared (%d, %d)", both, both_refuse);
  CHECK_MSG(!bad, "%d of %zu texts differ (%d read alike, %d refused by both, %d by herd "
            "only):%s", bad, f.n, both, both_refuse, herd_only_refuses, report);
}
