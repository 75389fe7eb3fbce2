/*
 * opts.c - one app's settings: every option of `herd run`/`start`, by
 * its long name, so the command line and a config file share one parser
 * and one set of messages.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"

/* "herd run", "herd status", ...: how messages begin */
const char *prog_name = "herd";

#define DEFAULT_LOG_MAX_SIZE (10u << 20)
#define DEFAULT_LOG_KEEP 5

void app_init(struct app *a) {
  memset(a, 0, sizeof *a);
  herd_cluster_opts_init(&a->o); /* the engine's defaults, written once */
  a->log_max_size = DEFAULT_LOG_MAX_SIZE;
  a->log_keep = DEFAULT_LOG_KEEP;
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

/* A copy of [s, s+n) that the app owns (freed by app_free), or NULL. The
 * app keeps no pointer to the caller's text: a config's integer is
 * printed into a buffer that dies with the loop turn that made it. */
static char *keep_n(struct app *a, const char *s, size_t n) {
  if (a->nkept == a->kept_cap) {
    size_t cap = a->kept_cap ? a->kept_cap * 2 : 16;
    char **t = realloc(a->kept, cap * sizeof *t);
    if (!t)
      return NULL;
    a->kept = t;
    a->kept_cap = cap;
  }
  char *c = strndup(s, n);
  if (c)
    a->kept[a->nkept++] = c;
  return c;
}

static char *keep(struct app *a, const char *s) {
  return keep_n(a, s, strlen(s));
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

static int fail(char *err, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, n, fmt, ap);
  va_end(ap);
  one_line(err, n);
  return -1;
}

/* A plain decimal number leads s (no sign, hex, exponent, inf or nan,
 * which strtod would take): its length, or 0. */
static size_t decimal_len(const char *s) {
  size_t n = strspn(s, "0123456789.");
  return n && s[0] != '.' && memchr(s, '.', n) == memrchr(s, '.', n) ? n : 0;
}

static int duration(const char *s, long *ms_out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || !(v >= 0) || (size_t)(end - s) != decimal_len(s))
    return -1;
  double ms;
  if (!*end || !strcmp(end, "ms"))
    ms = v;
  else if (!strcmp(end, "s"))
    ms = v * 1000;
  else if (!strcmp(end, "m"))
    ms = v * 60000;
  else if (!strcmp(end, "h"))
    ms = v * 3600000;
  else
    return -1;
  if (ms > INT_MAX)
    return -2;
  *ms_out = (long)ms;
  return 0;
}

static int count(const char *s, long min, long max, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end)
    return -1;
  if (v < min || v > max)
    return -2;
  *out = v;
  return 0;
}

/* 200M, 1.5G, 512K, 4096 (bytes); K/M/G are powers of 1024. */
static int size(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || !(v >= 0) || (size_t)(end - s) != decimal_len(s))
    return -1;
  double mul = 1;
  if (*end == 'k' || *end == 'K')
    mul = 1024.0;
  else if (*end == 'm' || *end == 'M')
    mul = 1024.0 * 1024;
  else if (*end == 'g' || *end == 'G')
    mul = 1024.0 * 1024 * 1024;
  else if (*end)
    return -1;
  if (*end) {
    end++;
    if (*end == 'i')
      end++;
    if (*end == 'B' || *end == 'b')
      end++;
    if (*end)
      return -1;
  }
  if (v * mul > 1e18)
    return -1;
  *out = (uint64_t)(v * mul);
  return 0;
}

static const struct {
  const char *name;
  int sig;
} signames[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT},
                {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
                {"TERM", SIGTERM}, {"CONT", SIGCONT}, {"STOP", SIGSTOP},
                {"WINCH", SIGWINCH}, {"ALRM", SIGALRM}, {"PWR", SIGPWR}};

static int signal_of(const char *s) {
  if (!strncasecmp(s, "SIG", 3))
    s += 3;
  for (size_t i = 0; i < sizeof signames / sizeof signames[0]; i++)
    if (!strcasecmp(s, signames[i].name))
      return signames[i].sig;
  char *end;
  long v = strtol(s, &end, 10);
  if (*s && !*end && v > 0 && v < NSIG)
    return (int)v;
  return -1;
}

#define DUR(field, opt, zero_ok)                                             \
  do {                                                                       \
    long ms_;                                                                \
    int r_ = duration(val, &ms_);                                            \
    if (r_ == -2)                                                            \
      return fail(err, errlen, "%s: '%s' is too long", opt, val);            \
    if (r_ < 0)                                                              \
      return fail(err, errlen, "%s: '%s' is not a duration (500ms, 5s, 2m)", \
                  opt, val);                                                 \
    if (!ms_ && !(zero_ok))                                                  \
      return fail(err, errlen, "%s: must be more than 0", opt);              \
    a->o.field = (int)ms_;                                                   \
  } while (0)

int app_set(struct app *a, const char *key, const char *val, char *err,
            size_t errlen) {
  char k[40];
  size_t kl = strlen(key);
  if (kl >= sizeof k)
    return fail(err, errlen, "unknown option '%s'", key);
  for (size_t i = 0; i <= kl; i++)
    k[i] = key[i] == '_' ? '-' : key[i];
  long v;
  if (!strcmp(k, "workers")) {
    if (!strcmp(val, "auto")) {
      a->o.workers = 0;
      return 0;
    }
    int r = count(val, 1, 1024, &v);
    if (r == -2)
      return fail(err, errlen, "workers: %s is out of range (1..1024)", val);
    if (r < 0)
      return fail(err, errlen, "workers: '%s' is not a number or 'auto'", val);
    a->o.workers = (int)v;
  } else if (!strcmp(k, "listen")) {
    if (a->nlisten == MAX_LISTEN)
      return fail(err, errlen, "listen: at most %d addresses", MAX_LISTEN);
    herd_addr_t ad;
    int r = herd_addr_parse(val, &ad);
    if (r < 0)
      return fail(err, errlen,
                  "listen: '%s' is not an address (HOST:PORT, :PORT, "
                  "[::1]:PORT, unix:PATH): %s", val, herd_strerror(r));
    if (!(a->listen[a->nlisten] = keep(a, val)))
      return fail(err, errlen, "out of memory");
    a->listen[++a->nlisten] = NULL;
  } else if (!strcmp(k, "name")) {
    if (!app_name_ok(val))
      return fail(err, errlen,
                  "name: '%s' must be 1-%d of A-Z a-z 0-9 . _ -, not starting "
                  "with '.' or '-'", val, NAME_MAX_LEN);
    if (!strcmp(val, "all"))
      return fail(err, errlen, "name: 'all' is reserved (herd stop all, ...)");
    if (!(a->name = keep(a, val)))
      return fail(err, errlen, "out of memory");
  } else if (!strcmp(k, "balance")) {
    if (!strcmp(val, "shared"))
      a->o.balance = HERD_BALANCE_SHARED;
    else if (!strcmp(val, "reuseport"))
      a->o.balance = HERD_BALANCE_REUSEPORT;
    else if (!strcmp(val, "roundrobin"))
      a->o.balance = HERD_BALANCE_ROUNDROBIN;
    else
      return fail(err, errlen,
                  "balance: '%s' is not one of shared, reuseport, roundrobin",
                  val);
  } else if (!strcmp(k, "ready")) {
    if (!strcmp(val, "immediate")) {
      a->o.ready = HERD_READY_IMMEDIATE;
    } else if (!strcmp(val, "notify")) {
      a->o.ready = HERD_READY_NOTIFY;
    } else {
      long ms;
      if (duration(val, &ms) < 0)
        return fail(err, errlen,
                    "ready: '%s' is not immediate, notify or a duration", val);
      a->o.ready = HERD_READY_DELAY;
      a->o.ready_delay_ms = (int)ms;
    }
  } else if (!strcmp(k, "ready-timeout")) {
    DUR(ready_timeout_ms, "ready-timeout", 0);
  } else if (!strcmp(k, "kill-timeout")) {
    DUR(kill_timeout_ms, "kill-timeout", 1); /* "0": kill at once */
  } else if (!strcmp(k, "stop-signal")) {
    int sig = signal_of(val);
    if (sig < 0)
      return fail(err, errlen, "stop-signal: unknown signal '%s'", val);
    a->o.stop_signal = sig;
  } else if (!strcmp(k, "max-restarts")) {
    if (count(val, 1, 1000000, &v) < 0)
      return fail(err, errlen, "max-restarts: '%s' is not a number in 1..1000000",
                  val);
    a->o.max_restarts = (int)v;
  } else if (!strcmp(k, "restart-window")) {
    DUR(restart_window_ms, "restart-window", 0);
  } else if (!strcmp(k, "restart-cooldown")) {
    DUR(cooldown_ms, "restart-cooldown", 0);
  } else if (!strcmp(k, "min-uptime")) {
    DUR(min_uptime_ms, "min-uptime", 1); /* "0": none dies early */
  } else if (!strcmp(k, "cwd")) {
    if (!*val)
      return fail(err, errlen, "cwd: empty");
    if (!(a->o.spawn.cwd = keep(a, val)))
      return fail(err, errlen, "out of memory");
  } else if (!strcmp(k, "env")) {
    if (!strchr(val, '=') || val[0] == '=')
      return fail(err, errlen, "env: '%s' is not K=V", val);
    /* herd sets these for each worker: a value given here would be
     * overridden without a word (NOTIFY_SOCKET was) */
    static const char *const ours[] = {"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
                                       "NOTIFY_SOCKET", "HERD_WORKER_ID",
                                       "NODE_CHANNEL_FD",
                                       "NODE_CHANNEL_SERIALIZATION_MODE", NULL};
    size_t vk = (size_t)(strchr(val, '=') - val);
    for (const char *const *o = ours; *o; o++)
      if (strlen(*o) == vk && !strncmp(val, *o, vk))
        return fail(err, errlen, "env: %s is herd's to set for each worker (see "
                    "THE WORKER CONTRACT in herd(1))", *o);
    if (a->nenv == MAX_ENV)
      return fail(err, errlen, "env: at most %d", MAX_ENV);
    if (!(a->env[a->nenv] = keep(a, val)))
      return fail(err, errlen, "out of memory");
    a->nenv++;
  } else if (!strcmp(k, "umask")) {
    /* octal, as umask(1) and systemd's UMask= */
    char *end;
    errno = 0;
    long m = strtol(val, &end, 8);
    if (!*val || *end || errno || m < 0 || m > 0777 || val[0] == '-' || val[0] == '+')
      return fail(err, errlen, "umask: '%s' is not an octal mode in 0..0777 (022)", val);
    a->o.spawn.umask = (unsigned)m;
    a->o.spawn.flags |= HERD_SPAWN_UMASK;
  } else if (!strcmp(k, "user")) {
    if (!(a->user = keep(a, val)))
      return fail(err, errlen, "out of memory");
  } else if (!strcmp(k, "ipc")) {
    if (!strcmp(val, "true") || !strcmp(val, "1"))
      a->o.flags |= HERD_CLUSTER_IPC;
    else if (!strcmp(val, "false") || !strcmp(val, "0"))
      a->o.flags &= ~(unsigned)HERD_CLUSTER_IPC;
    else
      return fail(err, errlen, "ipc: '%s' is not true or false", val);
  } else if (!strcmp(k, "log-files")) {
    if (!strcmp(val, "true") || !strcmp(val, "1"))
      a->log_files = 1;
    else if (!strcmp(val, "false") || !strcmp(val, "0"))
      a->log_files = 0;
    else
      return fail(err, errlen, "log-files: '%s' is not true or false", val);
  } else if (!strcmp(k, "max-memory")) {
    uint64_t m; /* a refused value leaves the limit as it was */
    if (size(val, &m) < 0 || m == 0)
      return fail(err, errlen, "max-memory: '%s' is not a size (200M, 1G)", val);
    a->max_memory = m;
  } else if (!strcmp(k, "log-max-size")) {
    if (size(val, &a->log_max_size) < 0)
      return fail(err, errlen, "log-max-size: '%s' is not a size (10M, 0 = "
                  "never rotate)", val);
  } else if (!strcmp(k, "log-keep")) {
    if (count(val, 0, 1000, &v) < 0)
      return fail(err, errlen, "log-keep: '%s' is not a number in 0..1000", val);
    a->log_keep = (int)v;
  } else if (!strcmp(k, "metrics")) {
    herd_addr_t ad;
    int r = herd_addr_parse(val, &ad);
    if (r < 0 || ad.family == AF_UNIX)
      return fail(err, errlen, "metrics: '%s' is not HOST:PORT", val);
    if (!(a->metrics = keep(a, val)))
      return fail(err, errlen, "out of memory");
  } else {
    return fail(err, errlen, "unknown option '%s'", key);
  }
  return 0;
}

/* USER or USER:GROUP: a name, or a uid (digits) that has a passwd
 * entry. A uid past uid_t is refused, not wrapped (4294967296 was 0). */
static int resolve_user(const char *spec, uid_t *uid, gid_t *gid, char *err,
                        size_t errlen) {
  char user[256];
  if (strlen(spec) >= sizeof user)
    return fail(err, errlen, "user: '%.32s...' is too long", spec);
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
      return fail(err, errlen, "user: %s is out of range for a uid", user);
    pw = getpwuid((uid_t)v);
  }
  if (!pw)
    return fail(err, errlen, "user: no such user '%s'", user);
  *uid = pw->pw_uid;
  *gid = pw->pw_gid;
  if (group) {
    struct group *gr = getgrnam(group);
    if (!gr)
      return fail(err, errlen, "user: no such group '%s'", group);
    *gid = gr->gr_gid;
  }
  return 0;
}

int app_finish(struct app *a, char *err, size_t errlen) {
  if (!a->cmd || !a->cmd[0])
    return fail(err, errlen, "no command given");
  if (!a->name) {
    const char *b = strrchr(a->cmd[0], '/');
    a->name = b ? b + 1 : a->cmd[0];
    if (!app_name_ok(a->name) || !strcmp(a->name, "all"))
      return fail(err, errlen, "cannot name the app after '%s': give --name",
                  a->cmd[0]);
  }
  if (a->user) {
    uid_t uid = 0;
    gid_t gid = 0;
    if (resolve_user(a->user, &uid, &gid, err, errlen) < 0)
      return -1;
    if (geteuid() != 0 && uid != geteuid())
      return fail(err, errlen,
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
      return fail(err, errlen, "out of memory");
    memcpy(a->spawn_env, a->env, (size_t)a->nenv * sizeof *a->spawn_env);
    a->o.spawn.env = a->spawn_env;
    a->o.spawn.env_mode = HERD_ENV_ADD;
  }
  a->listen[a->nlisten] = NULL;
  /* An absolute working directory: a daemon's own is "/". */
  char here[PATH_MAX];
  if (a->base_dir[0])
    snprintf(here, sizeof here, "%s", a->base_dir);
  else if (!getcwd(here, sizeof here))
    return fail(err, errlen, "getcwd: %s", strerror(errno));
  /* A relative unix: socket path is from the same place (a daemon
   * binds it in "/" otherwise). */
  for (int i = 0; i < a->nlisten; i++) {
    const char *l = a->listen[i];
    if (strncmp(l, "unix:", 5) || l[5] == '/')
      continue;
    char *abs;
    if (asprintf(&abs, "unix:%s/%s", here, l + 5) < 0)
      return fail(err, errlen, "out of memory");
    const char *k = keep(a, abs);
    free(abs);
    if (!k)
      return fail(err, errlen, "out of memory");
    herd_addr_t ad;
    if (herd_addr_parse(k, &ad) < 0)
      return fail(err, errlen, "listen: '%s' is too long a path once made "
                  "absolute (%s)", l, k + 5);
    a->listen[i] = k;
  }
  const char *d = a->o.spawn.cwd;
  int n;
  if (!d)
    n = snprintf(a->cwd, sizeof a->cwd, "%s", here);
  else if (d[0] == '/')
    n = snprintf(a->cwd, sizeof a->cwd, "%s", d);
  else
    n = snprintf(a->cwd, sizeof a->cwd, "%s/%s", here, d);
  if (n < 0 || (size_t)n >= sizeof a->cwd)
    return fail(err, errlen, "cwd: path too long");
  /* said now, not as "could not start a worker: No such file..." (herd
   * enters it before a --user change, so its own access is what counts) */
  struct stat cst;
  if (stat(a->cwd, &cst) < 0)
    return fail(err, errlen, "cwd: %s: %s", a->cwd, strerror(errno));
  if (!S_ISDIR(cst.st_mode))
    return fail(err, errlen, "cwd: %s: %s", a->cwd, strerror(ENOTDIR));
  /* a copy, not a->cwd: the struct may move */
  if (!(a->o.spawn.cwd = keep(a, a->cwd)))
    return fail(err, errlen, "out of memory");
  a->o.file = a->cmd[0];
  a->o.argv = a->cmd;
  return 0;
}

/* ---- config files ------------------------------------------------ */

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
  char *copy = keep(a, str);
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

/* One app table into a (app_init'ed). Durations given as integers are
 * milliseconds (as on the command line). */
static int conf_app(struct app *a, const struct conf_app *ca, const char *path,
                    const char *dir, char *err, size_t errlen) {
  char e[512];
  if (!(a->conf_path = keep(a, path)))
    return fail(err, errlen, "%s: out of memory", path);
  /* A config's relative paths (cwd, and so the command) are from the
   * file's own directory: the same wherever herd is started from (a
   * systemd unit starts it in /). */
  if (snprintf(a->base_dir, sizeof a->base_dir, "%s", dir) >= (int)sizeof a->base_dir)
    return fail(err, errlen, "%s: its directory's path is too long", path);
  if (app_set(a, "name", ca->name, e, sizeof e) < 0)
    return fail(err, errlen, "%s:%d: app %s", path, ca->line, e);
  for (size_t i = 0; i < ca->nkeys; i++) {
    const struct conf_key *k = &ca->keys[i];
    const struct conf_value *v = &k->v;
    char num[32];
    if (!strcmp(k->key, "command")) {
      if (v->kind == CONF_STR) {
        if (command_words(a, v->str) < 0)
          return fail(err, errlen, "%s:%d: out of memory", path, k->line);
      } else if (v->kind == CONF_ARRAY) {
        a->cmd_owned = calloc(v->nitems + 1, sizeof *a->cmd_owned);
        if (!a->cmd_owned)
          return fail(err, errlen, "%s:%d: out of memory", path, k->line);
        for (size_t j = 0; j < v->nitems; j++) {
          if (v->items[j].kind != CONF_STR)
            return fail(err, errlen, "%s:%d: command: item %zu is %s, not a "
                        "string", path, k->line, j + 1,
                        conf_kind_name(v->items[j].kind));
          if (!(a->cmd_owned[j] = keep(a, v->items[j].str)))
            return fail(err, errlen, "%s:%d: out of memory", path, k->line);
        }
      } else {
        return fail(err, errlen, "%s:%d: command: expected a string or an "
                    "array of strings, not %s", path, k->line,
                    conf_kind_name(v->kind));
      }
      if (!a->cmd_owned[0] || !a->cmd_owned[0][0])
        return fail(err, errlen, "%s:%d: command: empty", path, k->line);
      a->cmd = a->cmd_owned;
      continue;
    }
    if (!strcmp(k->key, "name"))
      return fail(err, errlen, "%s:%d: unknown key 'name': the table's name "
                  "[%s] is the app's name", path, k->line, ca->name);
    if (!strcmp(k->key, "env")) {
      if (v->kind != CONF_TABLE && v->kind != CONF_ARRAY)
        return fail(err, errlen, "%s:%d: env: expected a table { K = \"V\" } "
                    "or an array of \"K=V\", not %s", path, k->line,
                    conf_kind_name(v->kind));
      for (size_t j = 0; j < v->nitems; j++) {
        const struct conf_value *it = &v->items[j];
        int r;
        if (v->kind == CONF_TABLE) {
          const char *t = value_text(it, num, sizeof num);
          if (!t)
            return fail(err, errlen, "%s:%d: env: %s is %s", path, k->line,
                        v->keys[j], conf_kind_name(it->kind));
          /* { "A=B" = "c" } would be A="B=c" in the environment */
          if (strchr(v->keys[j], '='))
            return fail(err, errlen, "%s:%d: env: '%s' has '=', which no "
                        "variable name has", path, k->line, v->keys[j]);
          char *kv;
          if (asprintf(&kv, "%s=%s", v->keys[j], t) < 0)
            return fail(err, errlen, "%s:%d: out of memory", path, k->line);
          r = app_set(a, "env", kv, e, sizeof e); /* it keeps a copy */
          free(kv);
        } else {
          if (it->kind != CONF_STR)
            return fail(err, errlen, "%s:%d: env: item %zu is not a string",
                        path, k->line, j + 1);
          r = app_set(a, "env", it->str, e, sizeof e);
        }
        if (r < 0)
          return fail(err, errlen, "%s:%d: %s", path, k->line, e);
      }
      continue;
    }
    if (!strcmp(k->key, "listen") && v->kind == CONF_ARRAY) {
      for (size_t j = 0; j < v->nitems; j++) {
        if (v->items[j].kind != CONF_STR)
          return fail(err, errlen, "%s:%d: listen: item %zu is not a string",
                      path, k->line, j + 1);
        if (app_set(a, "listen", v->items[j].str, e, sizeof e) < 0)
          return fail(err, errlen, "%s:%d: %s", path, k->line, e);
      }
      continue;
    }
    if (!strcmp(k->key, "umask") && v->kind != CONF_STR)
      /* as an integer it would be decimal: 22 is not 022 */
      return fail(err, errlen, "%s:%d: umask: give it as a string of octal digits "
                  "(umask = \"022\")", path, k->line);
    const char *t = value_text(v, num, sizeof num);
    if (!t)
      return fail(err, errlen, "%s:%d: %s: expected a single value, not %s",
                  path, k->line, k->key, conf_kind_name(v->kind));
    if (app_set(a, k->key, t, e, sizeof e) < 0) {
      if (!strncmp(e, "unknown option", 14))
        return fail(err, errlen, "%s:%d: unknown key '%s' in [%s]", path,
                    k->line, k->key, ca->name);
      return fail(err, errlen, "%s:%d: %s", path, k->line, e);
    }
  }
  if (!a->cmd)
    return fail(err, errlen, "%s:%d: [%s] has no command", path, ca->line,
                ca->name);
  if (app_finish(a, e, sizeof e) < 0)
    return fail(err, errlen, "%s:%d: [%s]: %s", path, ca->line, ca->name, e);
  return 0;
}

/* Every app of a parsed file (relative paths from dir). */
static int conf_apps(const struct conf *c, const char *path, const char *dir,
                     struct app **apps, char *err, size_t errlen) {
  if (c->napps == 0)
    return fail(err, errlen, "%s: no apps in it (a table [NAME] per app)", path);
  struct app *as = calloc(c->napps, sizeof *as);
  if (!as)
    return fail(err, errlen, "%s: out of memory", path);
  for (size_t i = 0; i < c->napps; i++) {
    app_init(&as[i]);
    if (conf_app(&as[i], &c->apps[i], path, dir, err, errlen) < 0) {
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
  int n = conf_apps(&c, path, dir, apps, err, errlen);
  conf_free(&c);
  return n;
}

int app_load_config(const char *path, struct app **apps, void **confp,
                    char *err, size_t errlen) {
  *confp = NULL;
  struct conf c;
  if (conf_load(path, &c, err, errlen) < 0)
    return -1;
  /* the file's own directory, symbolic links resolved */
  char rp[PATH_MAX];
  if (!realpath(path, rp)) {
    int e = errno;
    conf_free(&c);
    return fail(err, errlen, "%s: %s", path, strerror(e));
  }
  char *slash = strrchr(rp, '/');
  if (slash == rp)
    slash[1] = '\0';
  else
    *slash = '\0';
  int n = conf_apps(&c, path, rp, apps, err, errlen);
  conf_free(&c);
  return n;
}

void app_conf_free(void *conf) {
  (void)conf; /* always NULL: the apps own what they hold */
}
