/*
 * descjson.c - the master's answer to {"cmd":"describe"} (docs/control.md):
 * everything in effect for the app - its command and directory, each
 * option with its value and where it came from (struct origin, recorded
 * by app_set), its environment with the values of secret-looking names
 * masked, when the master started, its version, its sockets, its log
 * files and their sizes. herd describe (describe.c) shows it.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "master.h"
#include "opts.h"

#define MASK "****"

/* ---- which values are secret ----------------------------------------- */

/* Words that make a name secret wherever they are in it (DBPASSWORD,
 * GITHUB_TOKEN, SECRETKEY), and words that do as a whole part of it
 * between '_', '-' or '.' (AWS_ACCESS_KEY, not MONKEY; REDIS_PASS, not
 * BYPASS). docs/herd.md states the rule. */
static const char *const anywhere[] = {"SECRET", "PASSWORD", "PASSWD", "PASSPHRASE",
                                       "TOKEN", "APIKEY", "CREDENTIAL", NULL};
static const char *const parts[] = {"KEY", "KEYS", "PASS", "PWD", "AUTH", "PRIVATE",
                                    "DSN", "COOKIE", "COOKIES", "SESSION", "SALT",
                                    "CREDS", NULL};

int env_secret_name(const char *name, size_t len) {
  for (const char *const *w = anywhere; *w; w++) {
    size_t wl = strlen(*w);
    for (size_t i = 0; i + wl <= len; i++)
      if (!strncasecmp(name + i, *w, wl))
        return 1;
  }
  for (size_t i = 0; i < len;) {
    size_t pl = 0;
    while (i + pl < len && !strchr("_-.", name[i + pl]))
      pl++;
    for (const char *const *w = parts; *w && pl; w++)
      if (strlen(*w) == pl && !strncasecmp(name + i, *w, pl))
        return 1;
    i += pl + 1;
  }
  return 0;
}

/* The password of a URL in the value (scheme://user:PASSWORD@host):
 * its offset and length, or 0. */
static size_t url_password(const char *v, size_t *len) {
  const char *s = strstr(v, "://");
  if (!s)
    return 0;
  s += 3;
  size_t auth = strcspn(s, "/?#");
  const char *at = memrchr(s, '@', auth);
  const char *colon = at ? memchr(s, ':', (size_t)(at - s)) : NULL;
  if (!colon || colon + 1 == at)
    return 0;
  *len = (size_t)(at - colon - 1);
  return (size_t)(colon + 1 - v);
}

/* One K=V item as shown: masked unless show (1 if it was). */
static int env_item(struct jw *w, const char *kv, int show, int with_name) {
  const char *eq = strchr(kv, '=');
  size_t kl = eq ? (size_t)(eq - kv) : strlen(kv);
  const char *v = eq ? eq + 1 : "";
  size_t plen = 0, poff = show ? 0 : url_password(v, &plen);
  int whole = !show && env_secret_name(kv, kl);
  if (with_name) {
    jw_raw(w, "{\"name\":", 8);
    jw_str(w, kv, kl);
    jw_raw(w, ",\"value\":", 9);
  }
  struct jw t; /* the value as shown */
  jw_init(&t);
  if (!with_name) {
    jw_raw(&t, kv, kl);
    jw_raw(&t, "=", 1);
  }
  if (whole) {
    jw_raw(&t, MASK, strlen(MASK));
  } else if (poff) {
    jw_raw(&t, v, poff);
    jw_raw(&t, MASK, strlen(MASK));
    jw_raw(&t, v + poff + plen, strlen(v + poff + plen));
  } else {
    jw_raw(&t, v, strlen(v));
  }
  jw_str(w, t.buf ? t.buf : "", t.len);
  if (t.err)
    w->err = 1;
  jw_free(&t);
  if (with_name)
    jw_printf(w, ",\"masked\":%s}", whole || poff ? "true" : "false");
  return whole || poff;
}

/* ---- the reply's parts -------------------------------------------- */

/* An origin's members ("source" first, no leading comma). */
static void origin_json(struct jw *w, const struct origin *o) {
  static const char *const names[] = {"default", "command-line", "config",
                                      "ecosystem", "herd"};
  int k = o->kind >= 0 && o->kind <= ORIGIN_HERD ? o->kind : ORIGIN_DEFAULT;
  jw_printf(w, "\"source\":\"%s\"", names[k]);
  if ((k == ORIGIN_CONFIG || k == ORIGIN_ECO) && o->file) {
    jw_raw(w, ",\"file\":", 8);
    jw_str(w, o->file, strlen(o->file));
  }
  if (k == ORIGIN_CONFIG)
    jw_printf(w, ",\"line\":%d", o->line);
  if ((k == ORIGIN_ECO || k == ORIGIN_HERD) && o->note) {
    jw_raw(w, k == ORIGIN_ECO ? ",\"app\":" : ",\"why\":", 7);
    jw_str(w, o->note, strlen(o->note));
  }
}

/* "options": every option of the table (aliases under their option),
 * with its value as its kind writes it, and its origin. */
static void options_json(struct jw *w, const struct app *a, int show) {
  size_t n;
  const struct opt *tab = opt_table(&n);
  int first = 1;
  jw_raw(w, ",\"options\":[", 12);
  for (size_t i = 0; i < n; i++) {
    const struct opt *o = &tab[i];
    /* -c and -h are not settings; -q is one */
    if (opt_canon(o) != i || (o->where != OPT_ANYWHERE && !o->off))
      continue;
    char buf[64];
    const char *t;
    jw_raw(w, first ? "{\"name\":" : ",{\"name\":", first ? 8 : 9);
    first = 0;
    jw_str(w, o->name, strlen(o->name));
    jw_raw(w, ",\"value\":", 9);
    if (o->kind == OPT_LIST || o->kind == OPT_PATHS) {
      jw_raw(w, "[", 1);
      for (int k = 0; (t = opt_value_text(o, a, k, buf, sizeof buf)); k++) {
        if (k)
          jw_raw(w, ",", 1);
        if (!strcmp(o->name, "env"))
          (void)env_item(w, t, show, 0);
        else
          jw_str(w, t, strlen(t));
      }
      jw_raw(w, "]", 1);
    } else if ((t = opt_value_text(o, a, 0, buf, sizeof buf))) {
      jw_str(w, t, strlen(t));
    } else {
      jw_raw(w, "null", 4);
    }
    jw_raw(w, ",", 1);
    origin_json(w, &a->origin[i]);
    jw_raw(w, "}", 1);
  }
  jw_raw(w, "]", 1);
}

/* "logs": each file's path and size (null: not there). */
static void log_file_json(struct jw *w, const char *key, const char *path, int last) {
  struct stat st;
  jw_printf(w, "\"%s\":{\"path\":", key);
  jw_str(w, path, strlen(path));
  if (stat(path, &st) == 0)
    jw_printf(w, ",\"size\":%lld}", (long long)st.st_size);
  else
    jw_raw(w, ",\"size\":null}", 13);
  jw_raw(w, last ? "}" : ",", 1);
}

static void paths_json(struct jw *w, struct master *m) {
  jw_raw(w, ",\"listen\":[", 11);
  for (int i = 0; i < m->nlisten_text; i++) {
    if (i)
      jw_raw(w, ",", 1);
    jw_str(w, m->listen_text[i], strlen(m->listen_text[i]));
  }
  jw_raw(w, "],\"metrics\":", 12);
  if (m->metrics_addr[0])
    jw_str(w, m->metrics_addr, strlen(m->metrics_addr));
  else
    jw_raw(w, "null", 4);
  const char *ps[][2] = {{"home", m->home}, {"socket", m->sock_path},
                         {"pid_file", m->pid_path}};
  for (size_t i = 0; i < 3; i++) {
    jw_printf(w, ",\"%s\":", ps[i][0]);
    if (ps[i][1][0])
      jw_str(w, ps[i][1], strlen(ps[i][1]));
    else
      jw_raw(w, "null", 4);
  }
  jw_raw(w, ",\"logs\":", 8);
  if (!m->lw) {
    jw_raw(w, "null", 4);
    return;
  }
  jw_raw(w, "{", 1);
  log_file_json(w, "out", m->out_path, 0);
  log_file_json(w, "err", m->err_path, !m->daemon);
  if (m->daemon) /* herd run's own lines go to its stderr */
    log_file_json(w, "herd", m->herd_path, 1);
}

/* "name" .. "workers": who, since when, what runs where. */
static void head_json(struct jw *w, struct master *m) {
  const struct app *a = m->a;
  herd_proc_stat_t self;
  if (herd_proc_stat(0, &self) < 0)
    memset(&self, 0, sizeof self);
  struct timespec now;
  (void)clock_gettime(CLOCK_REALTIME, &now);
  long long now_ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
  long long started = now_ms - (long long)self.uptime_ms;
  time_t secs = (time_t)(started / 1000);
  struct tm tm;
  char when[32] = "";
  if (gmtime_r(&secs, &tm))
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  jw_raw(w, "{\"ok\":true,\"name\":", 18);
  jw_str(w, a->name, strlen(a->name));
  jw_printf(w, ",\"version\":\"%s\",\"pid\":%d,\"mode\":\"%s\",\"started\":\"%s\","
            "\"started_ms\":%lld,\"uptime_ms\":%lld",
            HERD_VERSION_STRING, (int)getpid(), m->daemon ? "start" : "run", when,
            started, (long long)self.uptime_ms);
  jw_raw(w, ",\"cmd\":[", 8);
  for (int i = 0; a->cmd[i]; i++) {
    if (i)
      jw_raw(w, ",", 1);
    jw_str(w, a->cmd[i], strlen(a->cmd[i]));
  }
  jw_raw(w, "],\"cmd_from\":{", 14);
  origin_json(w, &a->cmd_from);
  jw_raw(w, "},\"cwd\":", 8);
  jw_str(w, a->cwd, strlen(a->cwd));
  jw_raw(w, ",\"config\":", 10);
  if ((a->from.kind == ORIGIN_CONFIG || a->from.kind == ORIGIN_ECO) && a->from.file)
    jw_str(w, a->from.file, strlen(a->from.file));
  else
    jw_raw(w, "null", 4);
  herd_cluster_stats_t st;
  herd_cluster_stats(m->c, &st);
  jw_printf(w, ",\"workers\":%d", st.workers);
}

void describe_json(struct master *m, struct jw *w, int show_env) {
  const struct app *a = m->a;
  head_json(w, m);
  paths_json(w, m);
  options_json(w, a, show_env);
  jw_raw(w, ",\"env\":[", 8);
  for (int i = 0; i < a->nenv; i++) {
    if (i)
      jw_raw(w, ",", 1);
    (void)env_item(w, a->env[i], show_env, 1);
  }
  jw_printf(w, "],\"env_shown\":%s}", show_env ? "true" : "false");
}
