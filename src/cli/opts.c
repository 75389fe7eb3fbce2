/*
 * opts.c - one app's settings: the table of every option of `herd
 * run`/`start` and config key (name, short name, kind, where it is
 * stored, limits, default, help), and what is made from it: getopt's
 * table, the help text, and app_set (the one parser of the command line
 * and of config files, with one set of messages).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "opts.h"

/* "herd run", "herd status", ...: how messages begin */
const char *prog_name = "herd";

#define DEFAULT_LOG_MAX_SIZE (10u << 20)
#define DEFAULT_LOG_KEEP 5
#define DEFAULT_WATCH_DELAY_MS 1000
#define STR_(x) #x
#define STR(x) STR_(x)

void app_init(struct app *a) {
  memset(a, 0, sizeof *a);
  herd_cluster_opts_init(&a->o); /* the engine's defaults, written once */
  a->o.ready = READY_UNSET;      /* app_finish: by --node-cluster */
  a->log_max_size = DEFAULT_LOG_MAX_SIZE;
  a->log_keep = DEFAULT_LOG_KEEP;
  a->watch_delay_ms = DEFAULT_WATCH_DELAY_MS;
  a->cwd = a->base_dir = "";
}

void app_free(struct app *a) {
  for (size_t i = 0; i < a->nkept; i++)
    free(a->kept[i]);
  free(a->kept);
  free(a->cmd_owned);
  free(a->spawn_env);
  a->kept = NULL;
  a->nkept = a->kept_cap = 0;
  a->cmd_owned = NULL;
  a->spawn_env = NULL;
}

/* A copy of s that the app owns (freed by app_free), or NULL. The app
 * keeps no pointer to the caller's text: a config's integer is printed
 * into a buffer that dies with the loop turn that made it. */
char *app_keep(struct app *a, const char *s) {
  if (a->nkept == a->kept_cap) {
    size_t cap = a->kept_cap ? a->kept_cap * 2 : 16;
    char **t = realloc(a->kept, cap * sizeof *t);
    if (!t)
      return NULL;
    a->kept = t;
    a->kept_cap = cap;
  }
  char *c = strdup(s);
  if (c)
    a->kept[a->nkept++] = c;
  return c;
}

/* One line, whatever the text it quotes: a value may hold a newline or
 * a terminal escape (a config's "\n", or an argument); those become
 * '?', and a character cut by the truncation goes. */
static void one_line(char *s, size_t n) {
  if (!n)
    return;
  size_t len = strlen(s);
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
      s[i] = '?';
  size_t k = len, cont = 0;
  while (k > 0 && ((unsigned char)s[k - 1] & 0xc0) == 0x80 && cont < 3) {
    k--;
    cont++;
  }
  if (k > 0 && (unsigned char)s[k - 1] >= 0xc0) {
    unsigned char c = (unsigned char)s[k - 1];
    size_t need = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
    if (cont < need)
      s[k - 1] = '\0';
  }
}

int app_fail(char *err, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, n, fmt, ap);
  va_end(ap);
  one_line(err, n);
  return -1;
}

/* ---- checks beyond the kinds ----------------------------------------- */

static int check_listen(const char *val, char *err, size_t n) {
  herd_addr_t ad;
  int r = herd_addr_parse(val, &ad);
  if (r < 0)
    return app_fail(err, n, "listen: '%s' is not an address (HOST:PORT, :PORT, "
                    "[::1]:PORT, unix:PATH): %s", val, herd_strerror(r));
  return 0;
}

static int check_metrics(const char *val, char *err, size_t n) {
  herd_addr_t ad;
  int r = herd_addr_parse(val, &ad);
  if (r < 0 || ad.family == AF_UNIX)
    return app_fail(err, n, "metrics: '%s' is not HOST:PORT", val);
  return 0;
}

static int check_name(const char *val, char *err, size_t n) {
  if (!app_name_ok(val))
    return app_fail(err, n, "name: '%s' must be 1-%d of A-Z a-z 0-9 . _ -, not "
                    "starting with '.' or '-'", val, NAME_MAX_LEN);
  if (!strcmp(val, "all"))
    return app_fail(err, n, "name: 'all' is reserved (herd stop all, ...)");
  return 0;
}

static int check_cwd(const char *val, char *err, size_t n) {
  return *val ? 0 : app_fail(err, n, "cwd: empty");
}

static int check_env(const char *val, char *err, size_t n) {
  if (!strchr(val, '=') || val[0] == '=')
    return app_fail(err, n, "env: '%s' is not K=V", val);
  /* herd sets these for each worker: a value given here would be
   * overridden without a word (NOTIFY_SOCKET was) */
  static const char *const ours[] = {"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
                                     "NOTIFY_SOCKET", "HERD_WORKER_ID",
                                     "NODE_CHANNEL_FD",
                                     "NODE_CHANNEL_SERIALIZATION_MODE", "NODE_APP_INSTANCE",
                                     "NODE_UNIQUE_ID", NULL};
  size_t vk = (size_t)(strchr(val, '=') - val);
  for (const char *const *o = ours; *o; o++)
    if (strlen(*o) == vk && !strncmp(val, *o, vk))
      return app_fail(err, n, "env: %s is herd's to set for each worker (see THE "
                      "WORKER CONTRACT in herd(1))", *o);
  return 0;
}

static int check_env_file(const char *val, char *err, size_t n) {
  if (!*val)
    return app_fail(err, n, "env-file: empty");
  for (const char *c = val; *c; c++)
    if ((unsigned char)*c < 0x20 || *c == 0x7f)
      return app_fail(err, n, "env-file: '%s' has a control character", val);
  return 0;
}

/* ---- the table ---------------------------------------------------- */

#define AT(field) offsetof(struct app, field)

static const struct opt_word auto_word[] = {{"auto", 0}, {NULL, -1}};
static const struct opt_word balances[] = {{"shared", HERD_BALANCE_SHARED},
                                           {"reuseport", HERD_BALANCE_REUSEPORT},
                                           {"roundrobin", HERD_BALANCE_ROUNDROBIN},
                                           {NULL, -1}};
/* the unnamed word: a duration, HERD_READY_DELAY with ready_delay_ms */
static const struct opt_word readies[] = {{"immediate", HERD_READY_IMMEDIATE},
                                          {"notify", HERD_READY_NOTIFY},
                                          {"listening", HERD_READY_LISTENING},
                                          {"ipc", HERD_READY_IPC},
                                          {NULL, HERD_READY_DELAY}};
static const struct opt_word max_word[] = {{"max", 0}, {"auto", 0}, {NULL, -1}};

static const struct opt_word log_formats[] = {{"text", LOG_FORMAT_TEXT},
                                              {"json", LOG_FORMAT_JSON},
                                              {NULL, -1}};

static const struct opt table[] = {
    {"workers", 'w', OPT_COUNT, OPT_ANYWHERE, "N|auto", AT(o.workers), 0, 1,
     HERD_MAX_WORKERS, 0, auto_word, NULL, NULL,
     "number of workers (auto: online CPUs)"},
    {"listen", 'l', OPT_LIST, OPT_ANYWHERE, "ADDR", AT(listen), AT(nlisten), 0,
     MAX_LISTEN, 0, NULL, check_listen, "",
     "HOST:PORT, :PORT, [::1]:PORT or unix:PATH[,mode=0660]; repeatable; port 0 "
     "picks a free port (the real one is printed)"},
    {"name", 'n', OPT_STRING, OPT_ANYWHERE, "NAME", AT(name), 0, 0, 0, 0, NULL,
     check_name, "CMD's base name", "the app's name"},
    {"config", 'c', OPT_STRING, OPT_CMDLINE, "FILE", 0, 0, 0, 0, 0, NULL, NULL, "",
     "take the apps from a config file (see examples/herd.conf), or a PM2 "
     "ecosystem file (ecosystem.config.js, .json: see docs/pm2.md)"},
    {"balance", 0, OPT_ENUM, OPT_ANYWHERE, "MODE", AT(o.balance), 0, 0, 0, 0,
     balances, NULL, NULL,
     "shared: every worker accepts on one socket; reuseport: one SO_REUSEPORT "
     "socket per worker slot; roundrobin: herd accepts and hands each "
     "connection to the next worker over its channel (implies --ipc): only for "
     "workers that read it (Node.js, libherd), or an unmodified Node app with "
     "--node-cluster; one that takes none in 3 s is replaced"},
    {"ready", 0, OPT_ENUM, OPT_ANYWHERE, "MODE", AT(o.ready), AT(o.ready_delay_ms),
     0, INT_MAX, 0, readies, NULL, "immediate; listening with --node-cluster",
     "immediate (alive " STR(HERD_SETTLE_MS_DEFAULT) " ms) | notify (READY=1 on "
     "NOTIFY_SOCKET) | listening (--node-cluster: its server listens) | ipc (it "
     "sends the message 'ready' on its channel, as process.send('ready'); implies "
     "--ipc) | a duration after start (0: at once)"},
    {"ready-timeout", 0, OPT_DURATION, OPT_ANYWHERE, "T", AT(o.ready_timeout_ms),
     0, 1, INT_MAX, 0, NULL, NULL, NULL,
     "notify, listening, ipc: a worker not ready by then is killed (immediate and "
     "a duration need none: they are ready at a set time)"},
    {"kill-timeout", 0, OPT_DURATION, OPT_ANYWHERE, "T", AT(o.kill_timeout_ms), 0,
     0, INT_MAX, 0, NULL, NULL, NULL, "stop signal, then SIGKILL after T (0: at once)"},
    {"stop-signal", 0, OPT_SIGNAL, OPT_ANYWHERE, "SIG", AT(o.stop_signal), 0, 1,
     NSIG - 1, 0, NULL, NULL, NULL, "signal that asks a worker to stop"},
    {"max-restarts", 0, OPT_COUNT, OPT_ANYWHERE, "N", AT(o.max_restarts), 0, 1,
     1000000, 0, NULL, NULL, NULL,
     "early deaths (before --min-uptime) of one slot within the window before "
     "it is parked"},
    {"restart-window", 0, OPT_DURATION, OPT_ANYWHERE, "T", AT(o.restart_window_ms),
     0, 1, INT_MAX, 0, NULL, NULL, NULL, "the window of --max-restarts"},
    {"restart-cooldown", 0, OPT_DURATION, OPT_ANYWHERE, "T", AT(o.cooldown_ms), 0,
     1, INT_MAX, 0, NULL, NULL, NULL, "a parked slot is retried after T"},
    {"min-uptime", 0, OPT_DURATION, OPT_ANYWHERE, "T", AT(o.min_uptime_ms), 0, 0,
     INT_MAX, 0, NULL, NULL, NULL,
     "a worker dying sooner (or unready) backs off (0: none does)"},
    {"max-memory", 0, OPT_SIZE, OPT_ANYWHERE, "SIZE", AT(max_memory), 0, 1,
     MAX_SIZE_BYTES, 0, NULL, NULL, "",
     "replace a worker (gracefully, its successor first) whose RSS grows over "
     "SIZE (200M, 1G)"},
    {"cwd", 0, OPT_STRING, OPT_ANYWHERE, "DIR", AT(o.spawn.cwd), 0, 0, 0, 0, NULL,
     check_cwd, ".", "working directory of the workers"},
    {"env", 0, OPT_LIST, OPT_ANYWHERE, "K=V", AT(env), AT(nenv), 0, MAX_ENV, 0,
     NULL, check_env, "",
     "add to the workers' environment; repeatable (not the variables herd sets "
     "for them). A NAME alone selects env_NAME of a config file's app or a PM2 "
     "ecosystem file"},
    {"env-file", 0, OPT_LIST, OPT_ANYWHERE, "FILE", AT(env_files), AT(nenv_files), 0,
     MAX_ENV_FILES, 0, NULL, check_env_file, "",
     "add a dotenv file's KEY=value lines to the workers' environment; repeatable "
     "(--env and env tables win over it)"},
    {"user", 0, OPT_STRING, OPT_ANYWHERE, "USER[:GROUP]", AT(user), 0, 0, 0, 0,
     NULL, NULL, "", "run the workers as USER (herd as root)"},
    {"umask", 0, OPT_MODE, OPT_ANYWHERE, "MODE", AT(o.spawn.umask),
     AT(o.spawn.flags), 0, 0777, HERD_SPAWN_UMASK, NULL, NULL, "the caller's",
     "the workers' umask, octal (022)"},
    {"ipc", 0, OPT_BOOL, OPT_ANYWHERE, NULL, AT(o.flags), 0, 0, 0, HERD_CLUSTER_IPC,
     NULL, NULL, "", "give workers a Node.js-format message channel (NODE_CHANNEL_FD)"},
    {"node-cluster", 0, OPT_BOOL, OPT_ANYWHERE, NULL, AT(o.flags), 0, 0, 0,
     HERD_CLUSTER_NODE, NULL, NULL, "",
     "be the primary of Node.js's cluster module: an unmodified app's listen(PORT) "
     "is served by every worker (herd binds the port once and keeps it across "
     "reloads; shared or roundrobin); ready when it listens; stopped with Node's "
     "disconnect, then the stop signal (implies --ipc; see docs/node-cluster.md)"},
    {"sticky", 0, OPT_BOOL, OPT_ANYWHERE, NULL, AT(o.flags), 0, 0, 0,
     HERD_CLUSTER_STICKY, NULL, NULL, "",
     "--node-cluster --balance roundrobin: one client address, one worker (its "
     "slot's, while it is ready): WebSocket, socket.io"},
    {"instances", 'i', OPT_COUNT, OPT_ANYWHERE, "N|max", AT(o.workers), 0, 1,
     HERD_MAX_WORKERS, 0, max_word, NULL, NULL, "PM2's spelling of --workers"},
    {"metrics", 0, OPT_STRING, OPT_ANYWHERE, "HOST:PORT", AT(metrics), 0, 0, 0, 0,
     NULL, check_metrics, "",
     "serve Prometheus metrics at /metrics, the health checks /healthz and "
     "/readyz, and a read-only web page at /"},
    {"log-max-size", 0, OPT_SIZE, OPT_ANYWHERE, "SIZE", AT(log_max_size), 0, 0,
     MAX_SIZE_BYTES, 0, NULL, NULL, NULL, "rotate a log file at SIZE (0: never)"},
    {"log-keep", 0, OPT_COUNT, OPT_ANYWHERE, "N", AT(log_keep), 0, 0, 1000, 0,
     NULL, NULL, NULL, "rotated files kept (NAME-*.log.1..N)"},
    {"log-format", 0, OPT_ENUM, OPT_ANYWHERE, "FORMAT", AT(log_format), 0, 0, 0, 0,
     log_formats, NULL, NULL,
     "the log files' lines: text (TIME [SLOT] line) or json (one object a line: "
     "time, app, slot, stream, line)"},
    {"log-date-format", 0, OPT_STRING, OPT_ANYWHERE, "FMT", AT(log_date_format), 0, 0, 0,
     0, NULL, log_date_format_check, "ISO-8601 UTC",
     "the time of each line in the log files: a strftime(3) format, local time, %L "
     "the milliseconds (%Y-%m-%d %H:%M:%S.%L)"},
    {"log-files", 0, OPT_BOOL, OPT_ANYWHERE, NULL, AT(log_files), 0, 0, 0, 0, NULL,
     NULL, "",
     "run: write the workers' output to the log files, not to stdout/stderr "
     "(start always does)"},
    {"quiet", 'q', OPT_BOOL, OPT_CMDLINE, NULL, AT(quiet), 0, 0, 0, 0, NULL, NULL,
     "",
     "no event lines (run: on stderr; start: in NAME-herd.log); run without "
     "--log-files: workers' output is passed through unprefixed"},
    {"watch", 0, OPT_PATHS, OPT_ANYWHERE, "[=PATH]", AT(watch), AT(nwatch), 0,
     MAX_WATCH, 0, NULL, watch_check_path, "",
     "for development: a rolling reload when a file changes under PATH (from "
     "--cwd; alone: the app's cwd), recursively; repeatable. Not under "
     "node_modules, .git or HERD_HOME"},
    {"watch-ignore", 0, OPT_LIST, OPT_ANYWHERE, "GLOB", AT(watch_ignore),
     AT(nwatch_ignore), 0, MAX_WATCH, 0, NULL, watch_check_glob, "",
     "--watch: changes to matching files are no reason to reload (*.log: a base "
     "name; with a '/': the path from --cwd); repeatable"},
    {"watch-delay", 0, OPT_DURATION, OPT_ANYWHERE, "T", AT(watch_delay_ms), 0, 0,
     INT_MAX, 0, NULL, NULL, NULL,
     "--watch: reload T after the last change of a burst"},
    {"cron-restart", 0, OPT_STRING, OPT_ANYWHERE, "CRON",
     AT(cron_restart), 0, 0, 0, 0, NULL, cron_check, "",
     "a rolling reload at these times: \"MIN HOUR DOM MON DOW\" as in crontab(5), "
     "local time (PM2's cron_restart)"},
    {"help", 'h', OPT_BOOL, OPT_CMDLINE, NULL, 0, 0, 0, 0, 0, NULL, NULL, "",
     "show this help"},
};
#define NOPTS (sizeof table / sizeof table[0])
_Static_assert(NOPTS <= OPT_MAX, "the getopt tables callers make hold OPT_MAX");
_Static_assert(OPT_MAX <= APP_MAX_ORIGINS, "struct app keeps an origin per option");

const struct opt *opt_table(size_t *n) {
  *n = NOPTS;
  return table;
}

const struct opt *opt_find(const char *key) {
  size_t kl = strlen(key);
  for (size_t i = 0; i < NOPTS; i++) {
    const char *nm = table[i].name;
    if (strlen(nm) != kl)
      continue;
    size_t j = 0;
    while (j < kl && (key[j] == nm[j] || (key[j] == '_' && nm[j] == '-')))
      j++;
    if (j == kl)
      return &table[i];
  }
  return NULL;
}

void opt_getopt(struct option *lo, char *shortopts) {
  size_t k = 0;
  shortopts[k++] = '+'; /* options end at the command: its own are its own */
  for (size_t i = 0; i < NOPTS; i++) {
    int arg = table[i].kind != OPT_BOOL;
    lo[i] = (struct option){table[i].name,
                            table[i].kind == OPT_PATHS ? optional_argument
                            : arg                      ? required_argument
                                                       : no_argument,
                            NULL, OPT_VAL + (int)i};
    if (table[i].sname) {
      shortopts[k++] = table[i].sname;
      if (arg)
        shortopts[k++] = ':';
    }
  }
  lo[NOPTS] = (struct option){NULL, 0, NULL, 0};
  shortopts[k] = '\0';
}

const struct opt *opt_of_getopt(int ch) {
  if (ch >= OPT_VAL && ch < OPT_VAL + (int)NOPTS)
    return &table[ch - OPT_VAL];
  for (size_t i = 0; ch > 0 && ch < OPT_VAL && i < NOPTS; i++)
    if (table[i].sname == ch)
      return &table[i];
  return NULL;
}

/* ---- applying one --------------------------------------------------- */

static void *field(struct app *a, size_t off) {
  return (char *)a + off;
}

/* "shared, reuseport or roundrobin" */
static void words_text(const struct opt *o, char *buf, size_t n) {
  const char *names[16];
  size_t k = 0;
  for (const struct opt_word *w = o->words; k < 16; w++) {
    if (!w->name && w->value < 0)
      break;
    names[k++] = w->name ? w->name : "a duration";
    if (!w->name)
      break;
  }
  size_t len = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < k && len < n; i++)
    len += (size_t)snprintf(buf + len, n - len, "%s%s",
                            !i ? "" : i + 1 == k ? " or " : ", ", names[i]);
}

static int set_count(struct app *a, const struct opt *o, const char *val, char *err,
                     size_t n) {
  for (const struct opt_word *w = o->words; w && w->name; w++)
    if (!strcmp(val, w->name)) {
      *(int *)field(a, o->off) = w->value;
      return 0;
    }
  long long v;
  int r = opt_parse_count(val, o->min, o->max, &v);
  if (r == -2)
    return app_fail(err, n, "%s: %s is out of range (%lld..%lld)", o->name, val,
                    o->min, o->max);
  if (r < 0)
    return app_fail(err, n, "%s: '%s' is not a number in %lld..%lld%s%s%s", o->name,
                    val, o->min, o->max, o->words ? " or '" : "",
                    o->words ? o->words[0].name : "", o->words ? "'" : "");
  *(int *)field(a, o->off) = (int)v;
  return 0;
}

static int set_duration(const struct opt *o, const char *val, int *to, char *err,
                        size_t n) {
  long ms;
  int r = opt_parse_duration(val, &ms);
  if (r == -2 || (r == 0 && ms > o->max))
    return app_fail(err, n, "%s: '%s' is too long", o->name, val);
  if (r < 0)
    return app_fail(err, n, "%s: '%s' is not a duration (500ms, 5s, 2m)", o->name,
                    val);
  if (ms < o->min)
    return app_fail(err, n, "%s: must be more than 0", o->name);
  *to = (int)ms;
  return 0;
}

static int set_enum(struct app *a, const struct opt *o, const char *val, char *err,
                    size_t n) {
  const struct opt_word *w = o->words;
  for (; w->name; w++)
    if (!strcmp(val, w->name)) {
      *(int *)field(a, o->off) = w->value;
      return 0;
    }
  int ms;
  char e[8];
  if (w->value >= 0 && set_duration(o, val, &ms, e, sizeof e) == 0) {
    *(int *)field(a, o->off) = w->value;
    *(int *)field(a, o->off2) = ms;
    return 0;
  }
  char ws[200];
  words_text(o, ws, sizeof ws);
  return app_fail(err, n, "%s: '%s' is not one of %s", o->name, val, ws);
}

static int set_bool(struct app *a, const struct opt *o, const char *val, char *err,
                    size_t n) {
  int on;
  if (!strcmp(val, "true") || !strcmp(val, "1"))
    on = 1;
  else if (!strcmp(val, "false") || !strcmp(val, "0"))
    on = 0;
  else
    return app_fail(err, n, "%s: '%s' is not true or false", o->name, val);
  if (!o->bit)
    *(int *)field(a, o->off) = on;
  else if (on)
    *(unsigned *)field(a, o->off) |= o->bit;
  else
    *(unsigned *)field(a, o->off) &= ~o->bit;
  return 0;
}

static int set_mode(struct app *a, const struct opt *o, const char *val, char *err,
                    size_t n) {
  /* octal, as umask(1) and systemd's UMask= */
  char *end;
  errno = 0;
  long m = strtol(val, &end, 8);
  if (!*val || *end || errno || m < o->min || m > o->max || val[0] == '-' ||
      val[0] == '+')
    return app_fail(err, n, "%s: '%s' is not an octal mode in 0..0%llo (022)",
                    o->name, val, (unsigned long long)o->max);
  *(unsigned *)field(a, o->off) = (unsigned)m;
  *(unsigned *)field(a, o->off2) |= o->bit;
  return 0;
}

static int set_text(struct app *a, const struct opt *o, const char *val, char *err,
                    size_t n) {
  if (o->check && o->check(val, err, n) < 0)
    return -1;
  int *cnt = o->kind == OPT_LIST || o->kind == OPT_PATHS ? field(a, o->off2) : NULL;
  if (o->kind == OPT_PATHS && !strcmp(val, "false")) {
    *cnt = 0;
    ((const char **)field(a, o->off))[0] = NULL;
    return 0;
  }
  if (o->kind == OPT_PATHS && !strcmp(val, "true"))
    val = ".";
  int at = cnt ? *cnt : 0;
  if (cnt && o->check == check_env) {
    /* a variable set again replaces its value: the later setting wins */
    size_t kl = (size_t)(strchr(val, '=') - val) + 1;
    const char **arr = field(a, o->off);
    for (int i = 0; i < *cnt; i++)
      if (!strncmp(arr[i], val, kl))
        at = i;
  }
  if (cnt && at == o->max)
    return app_fail(err, n, "%s: at most %lld", o->name, o->max);
  const char *k = app_keep(a, val);
  if (!k)
    return app_fail(err, n, "out of memory");
  if (cnt && at < *cnt) {
    ((const char **)field(a, o->off))[at] = k;
  } else if (cnt) {
    const char **arr = field(a, o->off);
    arr[(*cnt)++] = k;
    arr[*cnt] = NULL;
  } else {
    *(const char **)field(a, o->off) = k;
  }
  return 0;
}

size_t opt_canon(const struct opt *o) {
  for (size_t i = 0; i < NOPTS; i++)
    if (table[i].off == o->off && table[i].kind == o->kind && table[i].bit == o->bit)
      return i;
  return (size_t)(o - table);
}

void app_origin_set(struct app *a, const char *key, const struct origin *from) {
  const struct opt *o = opt_find(key);
  if (o)
    a->origin[opt_canon(o)] = *from;
}

/* One option's value into the app (its origin aside). */
static int apply(struct app *a, const struct opt *o, const char *val, char *err,
                 size_t errlen) {
  switch (o->kind) {
  case OPT_COUNT:
    return set_count(a, o, val, err, errlen);
  case OPT_DURATION:
    return set_duration(o, val, field(a, o->off), err, errlen);
  case OPT_SIZE: {
    uint64_t m; /* a refused value leaves the field as it was */
    if (opt_parse_size(val, &m) < 0 || m < (uint64_t)o->min)
      return app_fail(err, errlen, "%s: '%s' is not a size (200M, 1G)", o->name, val);
    *(uint64_t *)field(a, o->off) = m;
    return 0;
  }
  case OPT_BOOL:
    return set_bool(a, o, val, err, errlen);
  case OPT_ENUM:
    return set_enum(a, o, val, err, errlen);
  case OPT_SIGNAL: {
    int sig = opt_signal(val);
    if (sig < o->min || sig > o->max)
      return app_fail(err, errlen, "%s: unknown signal '%s'", o->name, val);
    *(int *)field(a, o->off) = sig;
    return 0;
  }
  case OPT_MODE:
    return set_mode(a, o, val, err, errlen);
  default:
    return set_text(a, o, val, err, errlen);
  }
}

int app_set(struct app *a, const char *key, const char *val, char *err,
            size_t errlen) {
  const struct opt *o = opt_find(key);
  if (!o || o->where != OPT_ANYWHERE)
    return app_fail(err, errlen, "unknown option '%s'", key);
  if (apply(a, o, val, err, errlen) < 0)
    return -1;
  /* where it came from, for herd describe: the caller's a->from, kept
   * under the option an alias stands for (-i is -w's) */
  a->origin[opt_canon(o)] = a->from;
  return 0;
}

/* ---- the help --------------------------------------------------------- */

/* The default as the kind writes it, from an app_init'ed app ("" none:
 * strings, lists, flags and modes say theirs in o->dflt). */
static void default_text(const struct opt *o, char *buf, size_t n) {
  buf[0] = '\0';
  if (o->dflt) {
    snprintf(buf, n, "%s", o->dflt);
    return;
  }
  if (o->kind != OPT_COUNT && o->kind != OPT_ENUM && o->kind != OPT_SIGNAL &&
      o->kind != OPT_DURATION && o->kind != OPT_SIZE)
    return;
  struct app a;
  app_init(&a);
  if (!opt_value_text(o, &a, 0, buf, n))
    buf[0] = '\0';
  app_free(&a);
}

#define HELP_COL 27
#define HELP_WIDTH 79

void opt_help(FILE *out) {
  for (size_t i = 0; i < NOPTS; i++) {
    const struct opt *o = &table[i];
    char head[64], text[1024], dflt[64];
    int h = snprintf(head, sizeof head, "  %c%c%s--%s%s%s", o->sname ? '-' : ' ',
                     o->sname ? o->sname : ' ', o->sname ? ", " : "  ", o->name,
                     o->metavar && o->kind != OPT_PATHS ? " " : "", o->metavar ? o->metavar : "");
    default_text(o, dflt, sizeof dflt);
    snprintf(text, sizeof text, "%s%s%s%s", o->help, *dflt ? " [" : "", dflt,
             *dflt ? "]" : "");
    fprintf(out, "%s%*s", head, h < HELP_COL - 1 ? HELP_COL - h : 1, "");
    /* the words, wrapped at HELP_WIDTH under one another */
    int col = h < HELP_COL - 1 ? HELP_COL : h + 1;
    const char *p = text;
    int first = 1;
    while (*p) {
      size_t wl = strcspn(p, " ");
      if (!first && col + 1 + (int)wl > HELP_WIDTH) {
        fprintf(out, "\n%*s", HELP_COL, "");
        col = HELP_COL;
      } else if (!first) {
        fputc(' ', out);
        col++;
      }
      fwrite(p, 1, wl, out);
      col += (int)wl;
      first = 0;
      p += wl;
      p += strspn(p, " ");
    }
    fputc('\n', out);
  }
}
