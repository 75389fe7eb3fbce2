/*
 * describe.c - herd describe NAME [--json] [--show-env] (and its alias
 * show): everything in effect for a running app, as its master says it
 * ({"cmd":"describe"}, descjson.c): a report that fits 80 columns (long
 * values wrapped or cut; --json has them whole), or the reply as JSON.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static const char usage_describe[] =
    "Usage: herd describe NAME [--json] [--show-env]\n"
    "       herd show NAME [--json] [--show-env]\n"
    "\n"
    "Show everything in effect for a running app, as its master says it: the\n"
    "command, its directory, the config file, herd's version and start time,\n"
    "the sockets it listens on, the metrics address, the log files and their\n"
    "sizes, every option with its value and where that came from (default,\n"
    "command line, FILE:LINE of a config file, an ecosystem file's app, or\n"
    "herd: implied by another setting), and the workers' added environment.\n"
    "\n"
    "The values of variables whose names look secret (TOKEN, PASSWORD,\n"
    "SECRET, API_KEY...: see herd(1)) are shown as ****, and so is the\n"
    "password of a URL (scheme://user:****@host), unless --show-env.\n"
    "\n"
    "      --json       the master's reply as JSON (docs/control.md)\n"
    "      --show-env   the environment's values unmasked\n"
    "  -h, --help       show this help\n"
    "\n"
    "Exit status: 0 shown; 1 the app could not be asked (not running...);\n"
    "2 bad usage.\n";

#define WIDTH 79   /* columns at most */
#define LABEL 12   /* "  command   " */
#define OPT_NAME 20 /* "  restart-cooldown  " */
#define OPT_VALUE 24

/* Columns of a UTF-8 string (one per character). */
static size_t cols(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    n += ((unsigned char)*s & 0xc0) != 0x80;
  return n;
}

/* The byte offset of column c of s (at most its length). */
static size_t at_col(const char *s, size_t c) {
  size_t i = 0;
  for (size_t k = 0; s[i]; i++)
    if (((unsigned char)s[i] & 0xc0) != 0x80 && k++ == c)
      break;
  return i;
}

/* s made printable, then cut to width columns with "..." (at its end,
 * or at its start for a path: its file name is what tells). */
static void cut(char *dst, size_t cap, const char *s, size_t width, int from_left) {
  char *p = malloc(strlen(s) * 4 + 1);
  if (!p) {
    snprintf(dst, cap, "?");
    return;
  }
  cli_printable(p, strlen(s) * 4 + 1, s, strlen(s));
  size_t c = cols(p);
  if (c <= width)
    snprintf(dst, cap, "%s", p);
  else if (from_left)
    snprintf(dst, cap, "...%s", p + at_col(p, c - (width - 3)));
  else
    snprintf(dst, cap, "%.*s...", (int)at_col(p, width - 3), p);
  free(p);
}

/* "  label     value", the value printable and wrapped under itself. */
static void field(const char *label, const char *value) {
  size_t len = strlen(value);
  char *p = malloc(len * 4 + 1);
  if (!p)
    return;
  cli_printable(p, len * 4 + 1, value, len);
  const char *s = p;
  printf("  %-*s", LABEL - 2, label);
  do {
    size_t room = WIDTH - LABEL, c = cols(s);
    size_t end = c <= room ? strlen(s) : at_col(s, room);
    if (c > room) { /* at a blank, if there is one in its second half */
      const char *sp = memrchr(s, ' ', end);
      if (sp && (size_t)(sp - s) > end / 2)
        end = (size_t)(sp - s) + 1;
    }
    printf("%*s%.*s\n", s == p ? 0 : LABEL, "", (int)end, s);
    s += end;
  } while (*s);
  free(p);
}

/* An argv as a shell would read it back ('' around words with blanks or
 * quotes). */
static char *command_text(const herd_val_t *cmd) {
  struct jw t;
  jw_init(&t);
  for (size_t i = 0; i < jlen(cmd); i++) {
    const char *a = jstr(jat(cmd, i), "?");
    int q = !*a || strpbrk(a, " \t'\"\\$`*?;&|<>()") != NULL;
    jw_printf(&t, "%s%s", i ? " " : "", q ? "'" : "");
    for (const char *c = a; *c; c++)
      jw_printf(&t, *c == '\'' && q ? "'\\''" : "%c", *c);
    jw_printf(&t, "%s", q ? "'" : "");
  }
  if (t.err || !t.buf) {
    jw_free(&t);
    return NULL;
  }
  return t.buf;
}

/* Where an option's value came from, in a few words. */
static void source_text(const herd_val_t *o, struct rd *r, char *buf, size_t n) {
  const char *src = jstr(jget(o, "source"), "?");
  const char *file = jstr(jget(o, "file"), "?");
  if (!strcmp(src, "command-line"))
    snprintf(buf, n, "command line");
  else if (!strcmp(src, "config"))
    snprintf(buf, n, "%s:%lld", file, rd_int(r, jget(o, "line"), "line", 0, INT_MAX));
  else if (!strcmp(src, "ecosystem"))
    snprintf(buf, n, "%s (app %s)", file, jstr(jget(o, "app"), "?"));
  else if (!strcmp(src, "herd"))
    snprintf(buf, n, "herd: %s", jstr(jget(o, "why"), "implied"));
  else
    snprintf(buf, n, "%s", src);
}

static void print_options(const herd_val_t *opts, struct rd *r) {
  printf("\n  %-*s%-*s%s\n", OPT_NAME - 2, "OPTION", OPT_VALUE + 1, "VALUE", "FROM");
  for (size_t i = 0; i < jlen(opts); i++) {
    const herd_val_t *o = jat(opts, i), *v = jget(o, "value");
    const char *name = jstr(jget(o, "name"), "?");
    char val[1024], from[PATH_MAX + 64], a[OPT_VALUE * 4 + 8], b[WIDTH * 4 + 8];
    if (!strcmp(name, "env")) {
      snprintf(val, sizeof val, "%zu variable%s%s", jlen(v), jlen(v) == 1 ? "" : "s",
               jlen(v) ? " (below)" : "");
    } else if (jlen(v) || (v && v->type == HERD_VAL_ARRAY)) {
      size_t k = 0;
      val[0] = '\0';
      for (size_t j = 0; j < jlen(v) && k < sizeof val; j++)
        k += (size_t)snprintf(val + k, sizeof val - k, "%s%s", j ? ", " : "",
                              jstr(jat(v, j), "?"));
      if (!jlen(v))
        snprintf(val, sizeof val, "-");
    } else {
      snprintf(val, sizeof val, "%s", jstr(v, "-"));
    }
    source_text(o, r, from, sizeof from);
    cut(a, sizeof a, val, OPT_VALUE, 0);
    cut(b, sizeof b, from, WIDTH - OPT_NAME - OPT_VALUE - 1, 1);
    printf("  %-*s%s%*s %s\n", OPT_NAME - 2, name, a, (int)(OPT_VALUE - cols(a)), "", b);
  }
}

static void print_env(const herd_val_t *env, int shown) {
  if (!jlen(env))
    return;
  printf("\nENVIRONMENT (added to herd's own%s)\n",
         shown ? "" : "; **** masks a secret: --show-env");
  for (size_t i = 0; i < jlen(env); i++) {
    const herd_val_t *e = jat(env, i);
    char kv[8192], line[WIDTH * 4 + 8];
    snprintf(kv, sizeof kv, "%s=%s", jstr(jget(e, "name"), "?"),
             jstr(jget(e, "value"), ""));
    cut(line, sizeof line, kv, WIDTH - 2, 0);
    printf("  %s\n", line);
  }
}

static void print_logs(const herd_val_t *logs, struct rd *r) {
  static const char *const keys[] = {"out", "err", "herd"};
  int first = 1;
  for (size_t i = 0; i < 3; i++) {
    const herd_val_t *f = jget(logs, keys[i]);
    if (!jis_obj(f))
      continue;
    char size[24] = "none yet", text[PATH_MAX + 48];
    const herd_val_t *sz = jget(f, "size");
    if (jis_num(sz))
      ctl__human_bytes(size, sizeof size,
                       (double)rd_int(r, sz, "logs.size", 0, LLONG_MAX));
    snprintf(text, sizeof text, "%s (%s)", jstr(jget(f, "path"), "?"), size);
    field(first ? "logs" : "", text);
    first = 0;
  }
  if (first)
    field("logs", "none (herd run: the workers' output goes to its terminal)");
}

/* The report; 0, or 1 if the reply is not one (said). */
static int print_describe(const char *name, const herd_val_t *v) {
  struct rd r = {""};
  char text[PATH_MAX + 128], up[16];
  const herd_val_t *ls = jget(v, "listen");
  ctl__human_ms(up, sizeof up, (uint64_t)rd_int(&r, jget(v, "uptime_ms"), "uptime_ms", 0,
                                                 LLONG_MAX));
  long long pid = rd_int(&r, jget(v, "pid"), "pid", 0, INT_MAX);
  long long workers = rd_int(&r, jget(v, "workers"), "workers", 0, INT_MAX);
  char *cmd = command_text(jget(v, "cmd"));
  if (r.bad[0] || !cmd || !jis_obj(v) || !jget(v, "options")) {
    if (!r.bad[0])
      snprintf(r.bad, sizeof r.bad, "no options in it");
    bad_reply(name, &r);
    free(cmd);
    return 1;
  }
  printf("%s\n", jstr(jget(v, "name"), name));
  snprintf(text, sizeof text, "herd %s, master pid %lld (%s)",
           jstr(jget(v, "version"), "?"), pid, jstr(jget(v, "mode"), "?"));
  field("master", text);
  snprintf(text, sizeof text, "%s (up %s)", jstr(jget(v, "started"), "?"), up);
  field("started", text);
  field("command", cmd);
  free(cmd);
  field("cwd", jstr(jget(v, "cwd"), "?"));
  field("config", jstr(jget(v, "config"), "none (the command line)"));
  snprintf(text, sizeof text, "%lld", workers);
  field("workers", text);
  for (size_t i = 0; i < jlen(ls); i++)
    field(i ? "" : "listen", jstr(jat(ls, i), "?"));
  if (!jlen(ls))
    field("listen", "none");
  field("metrics", jstr(jget(v, "metrics"), "none"));
  field("socket", jstr(jget(v, "socket"), "none"));
  print_logs(jget(v, "logs"), &r);
  print_options(jget(v, "options"), &r);
  print_env(jget(v, "env"), jbool(jget(v, "env_shown"), 0));
  if (r.bad[0]) {
    bad_reply(name, &r);
    return 1;
  }
  return 0;
}

int cmd_describe(int argc, char **argv) {
  static const struct option lo[] = {{"json", no_argument, NULL, 'j'},
                                     {"show-env", no_argument, NULL, 's'},
                                     {"help", no_argument, NULL, 'h'},
                                     {NULL, 0, NULL, 0}};
  int json = 0, show = 0, ch;
  /* describe, or show: as it was called */
  const char *cmd = strncmp(prog_name, "herd ", 5) ? "describe" : prog_name + 5;
  optind = 1;
  while ((ch = cli_getopt(cmd, argc, argv, "h", lo)) != -1) {
    if (ch == 'h') {
      fputs(usage_describe, stdout);
      return 0;
    }
    if (ch != 'j' && ch != 's')
      return 2; /* said by cli_getopt */
    json |= ch == 'j';
    show |= ch == 's';
  }
  if (argc - optind != 1) {
    usage_error(cmd, "give one app's NAME");
    return 2;
  }
  const char *name = argv[optind];
  if (!app_name_ok(name) || !strcmp(name, "all")) {
    usage_error(cmd, "'%s' is not an app name%s", name,
                strcmp(name, "all") ? "" : " (it shows one app)");
    return 2;
  }
  char home[PATH_MAX];
  if (cli_home(home, sizeof home) < 0)
    return 1;
  herd_val_t *v = NULL;
  char *raw = NULL;
  if (ctl__ask(home, name, show ? "{\"cmd\":\"describe\",\"show_env\":true}"
                                : "{\"cmd\":\"describe\"}", 0, &v, &raw, 0) < 0)
    return 1;
  int rc = ctl__failed_reply(name, v);
  if (!rc && json)
    printf("%s\n", raw);
  else if (!rc)
    rc = print_describe(name, v);
  herd_val_free(v);
  free(raw);
  return rc;
}
