/*
 * ctlupd.c - changing a running app, the client's side: `herd start -c
 * FILE` for an app of the file that runs (its options, as this process
 * read the file, sent to its master: "update"), and `herd reload NAME
 * --env K=V / --update-env` (a reload with a changed environment). The
 * master applies them with a rolling reload (live.c); what it cannot
 * change is refused by name with nothing changed. See docs/control.md.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "opts.h"

extern char **environ;

/* The first reply line: the request refused (2: nothing changed), or a
 * pending reload whose result follows (0 or 1). */
int start_update(const struct app *a, const char *home) {
  struct jw w;
  jw_init(&w);
  jw_raw(&w, "{\"cmd\":\"update\",\"app\":", 22);
  app_settings_json(a, &w);
  if (a->conf_path) { /* for the master's words: herd upgrade NAME -c FILE */
    jw_raw(&w, ",\"conf\":", 8);
    jw_str(&w, a->conf_path, strlen(a->conf_path));
  }
  jw_raw(&w, "}", 1);
  if (w.err || w.len > CTL_MAX_REQUEST) {
    fprintf(stderr, "%s: %s: %s\n", prog_name, a->name,
            w.err ? "out of memory" : "its options are too long for a control request");
    jw_free(&w);
    return 1;
  }
  herd_chan_t *ch = NULL;
  char err[512], *line = NULL;
  herd_val_t *v = NULL;
  int rc = 1;
  if (ctl_connect(home, a->name, &ch, err, sizeof err) < 0) {
    fprintf(stderr, "%s: %s is running, but: %s\n", prog_name, a->name, err);
    goto out;
  }
  int r = ctl_request(ch, w.buf, &line, REPLY_TIMEOUT_MS);
  v = r == 0 ? jparse(line, strlen(line)) : NULL;
  if (!v) {
    fprintf(stderr, "%s: %s: no reply from its master: %s\n", prog_name, a->name,
            r < 0 ? herd_strerror(r) : "not a herd reply");
    goto out;
  }
  if (!jbool(jget(v, "ok"), 0)) {
    fprintf(stderr, "%s: %s: %s\n", prog_name, a->name, jstr(jget(v, "error"), "refused"));
    rc = jget(v, "pending") ? 1 : 2;
    goto out;
  }
  herd_val_free(v);
  free(line);
  line = NULL;
  r = ctl_read_line(ch, &line, -1);
  v = r == 0 ? jparse(line, strlen(line)) : NULL;
  if (!v) {
    fprintf(stderr, "%s: %s: the master went away before the reload ended\n",
            prog_name, a->name);
    goto out;
  }
  if (!jbool(jget(v, "ok"), 0)) {
    fprintf(stderr, "%s: %s: new options applied, but the reload failed: %s\n",
            prog_name, a->name, jstr(jget(v, "error"), "?"));
    goto out;
  }
  long long n = 0;
  (void)jint(jget(v, "workers"), 0, HERD_MAX_WORKERS, &n);
  printf("herd: %s was running: reloaded with %s's options, %lld worker%s ready\n",
         a->name, a->conf_path ? a->conf_path : "the", n, n == 1 ? "" : "s");
  rc = 0;
out:
  herd_val_free(v);
  free(line);
  if (ch)
    herd_chan_close(ch);
  jw_free(&w);
  return rc;
}

/* {"cmd":"reload","env":[...],"update_env":[...]} into w; 0, or 2 having
 * said why (a K=V that app_set refuses). */
static int reload_req(struct jw *w, char **env, int nenv, int update) {
  struct app t;
  app_init(&t);
  char err[300];
  jw_raw(w, "{\"cmd\":\"reload\"", 15);
  if (nenv)
    jw_raw(w, ",\"env\":[", 8);
  for (int i = 0; i < nenv; i++) {
    if (app_set(&t, "env", env[i], err, sizeof err) < 0) {
      usage_error("reload", "--%s", err);
      app_free(&t);
      return 2;
    }
    if (i)
      jw_raw(w, ",", 1);
    jw_str(w, env[i], strlen(env[i]));
  }
  app_free(&t);
  if (nenv)
    jw_raw(w, "]", 1);
  if (update) {
    jw_raw(w, ",\"update_env\":[", 15);
    int k = 0;
    for (char **e = environ; e && *e; e++) {
      if (!strchr(*e, '=') || **e == '=')
        continue;
      if (k++)
        jw_raw(w, ",", 1);
      jw_str(w, *e, strlen(*e));
    }
    jw_raw(w, "]", 1);
  }
  jw_raw(w, "}", 1);
  return 0;
}

int cmd_reload(int argc, char **argv, const char *usage) {
  static const struct option lo[] = {{"env", required_argument, NULL, 'e'},
                                     {"update-env", no_argument, NULL, 'u'},
                                     {"help", no_argument, NULL, 'h'},
                                     {NULL, 0, NULL, 0}};
  char *env[MAX_ENV];
  int nenv = 0, update = 0, ch;
  optind = 1;
  while ((ch = cli_getopt("reload", argc, argv, "h", lo)) != -1) {
    if (ch == '?')
      return 2; /* said by cli_getopt */
    if (ch == 'h') {
      fputs(usage, stdout);
      return 0;
    }
    if (ch == 'u') {
      update = 1;
    } else if (ch == 'e' && nenv < MAX_ENV) {
      env[nenv++] = optarg;
    } else {
      usage_error("reload", "--env: at most %d", MAX_ENV);
      return 2;
    }
  }
  if (argc - optind != 1) {
    usage_error("reload", "give one NAME, or all");
    return 2;
  }
  const char *target = argv[optind];
  if (!app_name_ok(target)) {
    fprintf(stderr, "%s: '%s' is not an app name\n", prog_name, target);
    return 2;
  }
  struct jw w;
  jw_init(&w);
  int rc = reload_req(&w, env, nenv, update);
  if (!rc && (w.err || w.len > CTL_MAX_REQUEST)) {
    fprintf(stderr, "%s: %s\n", prog_name, w.err ? "out of memory" :
            "the environment is too long for a control request (64 KiB)");
    rc = 2;
  }
  char home[PATH_MAX];
  if (!rc)
    rc = cli_home(home, sizeof home) < 0 ? 1 : ctl__each_app(home, target, w.buf,
                                                             "reloaded");
  jw_free(&w);
  return rc;
}
