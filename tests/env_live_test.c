/*
 * env_live_test.c - changing a running app without downtime: `herd start
 * -c FILE` on an app that runs (the file's options applied with a
 * rolling reload, PM2's startOrReload), `herd reload NAME --env K=V` and
 * `--update-env`; and a change the master cannot make, refused with
 * nothing changed. The real binary, hello-http's workers (/env?NAME
 * answers a variable of their environment).
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/cli/jval.h"
#include "envt.h"
#include "hp.h"
#include "test.h"

/* app.conf: app NAME, listen, workers, and a line of env. */
static const char *conf_of(const char *name, const char *listen, int workers,
                           const char *extra) {
  char hh[PATH_MAX], text[8192];
  CHECK(realpath(hello_http(), hh));
  snprintf(text, sizeof text,
           "[%s]\ncommand = \"%s\"\nlisten = \"%s\"\nworkers = %d\n%s\n", name, hh,
           listen, workers, extra);
  return env_write("app.conf", text);
}

/* herd start -c FILE: its exit status; the port it printed into *port. */
static int start_conf(const char *conf, char *out, size_t n, int *port) {
  int rc = env_sh(out, n, "%s start -c %s 2>&1", env_herd(), conf);
  const char *on = strstr(out, " on 127.0.0.1:");
  if (port && on)
    *port = atoi(on + 14);
  return rc;
}

static void var_is(int port, const char *name, const char *want) {
  char path[128], body[256], w[256];
  snprintf(path, sizeof path, "/env?%s", name);
  snprintf(w, sizeof w, "%s\n", want);
  /* each worker: more requests than workers, the kernel spreads them */
  for (int i = 0; i < 8; i++) {
    CHECK_EQ(http_get(port, path, body, sizeof body), 200);
    CHECK_MSG(!strcmp(body, w), "%s: '%s', expected '%s'", name, body, want);
  }
}

/* The workers' pids, sorted, from herd status --json: how many. */
static int pids_of(const char *name, pid_t *pids, int max) {
  return env_status_pids(name, NULL, pids, max);
}

static void stop(const char *name) {
  char out[1024];
  int rc = env_sh(out, sizeof out, "%s stop %s 2>&1", env_herd(), name);
  CHECK_MSG(rc == 0, "stop: %d %s", rc, out);
}

/* The file changed (env and kill-timeout) while the app serves: start -c
 * applies it with a rolling reload, not one request fails, and every
 * worker is a new one with the new environment. */
TEST_T(env_start_c_on_a_running_app_under_load, 90) {
  char out[4096];
  int port = 0;
  const char *conf = conf_of("live", "127.0.0.1:0", 2, "env = { GREETING = \"one\" }");
  int rc = start_conf(conf, out, sizeof out, &port);
  CHECK_MSG(rc == 0 && port > 0, "exit %d: %s", rc, out);
  var_is(port, "GREETING", "one");
  pid_t before[4];
  int nb = pids_of("live", before, 4);
  CHECK_EQ(nb, 2);
  struct loader l1, l2;
  loader_start(&l1, port, 1);
  loader_start(&l2, port, 0);
  conf = conf_of("live", "127.0.0.1:0", 2,
                 "env = { GREETING = \"two\", ADDED = \"yes\" }\nkill-timeout = \"7s\"");
  rc = start_conf(conf, out, sizeof out, NULL);
  CHECK_MSG(rc == 0, "exit %d: %s", rc, out);
  CHECK_MSG(strstr(out, "herd: live was running: reloaded with ") &&
                strstr(out, "2 workers ready"), "%s", out);
  /* the reload has ended when start -c returns: only new workers serve */
  var_is(port, "GREETING", "two");
  var_is(port, "ADDED", "yes");
  long ok1, bad1, ok2, bad2;
  loader_stop(&l1, &ok1, &bad1);
  loader_stop(&l2, &ok2, &bad2);
  CHECK_MSG(bad1 == 0 && bad2 == 0, "failed: %ld keep-alive, %ld new-connection", bad1,
            bad2);
  CHECK(ok1 > 0 && ok2 > 0);
  pid_t after[4];
  int na = pids_of("live", after, 4);
  CHECK_EQ(na, 2);
  for (int i = 0; i < na; i++)
    for (int j = 0; j < nb; j++)
      CHECK_MSG(after[i] != before[j], "worker %d served before and after",
                (int)after[i]);
  /* the master says so in its log, and status shows the new options */
  rc = env_sh(out, sizeof out, "grep -c 'new options from the control socket' %s/logs/"
              "live-herd.log", env_home());
  CHECK_MSG(rc == 0 && atoi(out) == 1, "%s", out);
  stop("live");
}

/* What the master cannot change while it runs: one line naming it,
 * exit 2, the app as it was (the same workers, the same environment). */
TEST(env_start_c_refuses_a_fixed_change) {
  char out[4096];
  int port = 0;
  const char *conf = conf_of("fixed", "127.0.0.1:0", 2, "env = { GREETING = \"one\" }");
  int rc = start_conf(conf, out, sizeof out, &port);
  CHECK_MSG(rc == 0 && port > 0, "exit %d: %s", rc, out);
  pid_t before[4];
  int nb = pids_of("fixed", before, 4);
  CHECK_EQ(nb, 2);
  conf = conf_of("fixed", "127.0.0.1:0", 2,
                 "env = { GREETING = \"two\" }\nbalance = \"reuseport\"\n"
                 "metrics = \"127.0.0.1:0\"");
  rc = start_conf(conf, out, sizeof out, NULL);
  CHECK_EQ(rc, 2);
  CHECK_MSG(!strcmp(out, "herd start: fixed: cannot change balance, metrics while the "
                         "app runs (stop and start it for that): nothing was changed\n"),
            "%s", out);
  /* a listen address too */
  conf = conf_of("fixed", "127.0.0.1:19498", 2, "env = { GREETING = \"two\" }");
  rc = start_conf(conf, out, sizeof out, NULL);
  CHECK_EQ(rc, 2);
  CHECK_MSG(strstr(out, "cannot change listen while the app runs"), "%s", out);
  /* the log lines' format: the log writer took it at the start */
  conf = conf_of("fixed", "127.0.0.1:0", 2,
                 "log-format = \"json\"\nlog-date-format = \"%H:%M\"");
  rc = start_conf(conf, out, sizeof out, NULL);
  CHECK_EQ(rc, 2);
  CHECK_MSG(strstr(out, "cannot change log-format, log-date-format while the app runs"),
            "%s", out);
  var_is(port, "GREETING", "one");
  pid_t after[4];
  CHECK_EQ(pids_of("fixed", after, 4), 2);
  CHECK_MSG(after[0] == before[0] && after[1] == before[1], "new workers: %d %d",
            (int)after[0], (int)after[1]);
  /* a bad env file: its line, exit 2, nothing sent */
  env_write("bad.env", "A=1\nB='x\n");
  conf = conf_of("fixed", "127.0.0.1:0", 2, "env_file = \"bad.env\"");
  rc = start_conf(conf, out, sizeof out, NULL);
  CHECK_EQ(rc, 2);
  CHECK_MSG(strstr(out, "/bad.env:2: unterminated '...' value") && strchr(out, '\n') && !strchr(out, '\n')[1],
            "%s", out);
  var_is(port, "GREETING", "one");
  stop("fixed");
}

/* herd reload NAME --env K=V: the new workers have it, and so has the
 * one that replaces a crashed worker later; --update-env: the calling
 * shell's environment under the app's settings. */
TEST_T(env_reload_with_env_is_kept_across_restarts, 90) {
  char out[4096], body[64];
  int port = 0;
  const char *conf = conf_of("renv", "127.0.0.1:0", 1, "env = { GREETING = \"one\" }");
  int rc = start_conf(conf, out, sizeof out, &port);
  CHECK_MSG(rc == 0 && port > 0, "exit %d: %s", rc, out);
  rc = env_sh(out, sizeof out, "%s reload renv --env GREETING=two --env NEW=x 2>&1",
              env_herd());
  CHECK_MSG(rc == 0 && strstr(out, "renv: reloaded, 1 worker ready"), "%d %s", rc, out);
  var_is(port, "GREETING", "two");
  var_is(port, "NEW", "x");
  /* the worker dies: its successor in the slot has the new environment */
  CHECK_EQ(http_get(port, "/pid", body, sizeof body), 200);
  pid_t old = atoi(body);
  CHECK(kill(old, SIGKILL) == 0);
  CHECK(pid_gone(old, 5000));
  pid_t now = old;
  for (int i = 0; i < 500 && now == old; i++)
    if (http_get(port, "/pid", body, sizeof body) == 200)
      now = atoi(body);
  CHECK(now != old);
  var_is(port, "GREETING", "two");
  /* --update-env: the shell's FROMSHELL; GREETING stays the app's */
  rc = env_sh(out, sizeof out, "FROMSHELL=here GREETING=shell %s reload --update-env renv "
              "2>&1", env_herd());
  CHECK_MSG(rc == 0, "%d %s", rc, out);
  var_is(port, "FROMSHELL", "here");
  var_is(port, "GREETING", "two");
  /* a variable of herd's: refused before anything is sent */
  rc = env_sh(out, sizeof out, "%s reload renv --env LISTEN_FDS=9 2>&1", env_herd());
  CHECK_EQ(rc, 2);
  CHECK_MSG(strstr(out, "herd reload: --env: LISTEN_FDS is herd's to set"), "%s", out);
  stop("renv");
}

/* start -c that adds --watch to a running app: the master watches the
 * new path from then on (a change there reloads): the watch is built
 * again from the new options. */
TEST_T(env_start_c_adds_watch_to_a_running_app, 60) {
  char out[4096], wdir[] = "/tmp/herd-watchlive-XXXXXX", file[64];
  int port = 0;
  CHECK(mkdtemp(wdir));
  snprintf(file, sizeof file, "%s/touch.txt", wdir);
  const char *conf = conf_of("watchlive", "127.0.0.1:0", 1, "");
  CHECK_MSG(start_conf(conf, out, sizeof out, &port) == 0 && port > 0, "%s", out);
  char extra[256];
  snprintf(extra, sizeof extra, "watch = \"%s\"\nwatch_delay = \"100ms\"", wdir);
  conf = conf_of("watchlive", "127.0.0.1:0", 1, extra);
  int rc = start_conf(conf, out, sizeof out, NULL);
  CHECK_MSG(rc == 0, "exit %d: %s", rc, out);
  pid_t p0[2], p1[2];
  CHECK_EQ(pids_of("watchlive", p0, 2), 1); /* after the update's reload */
  uint64_t t0 = test_now_ms();
  do { /* a change, until the worker is a new one (10 s at most) */
    FILE *f = fopen(file, "w");
    CHECK(f && fputs("x\n", f) >= 0 && fclose(f) == 0);
    usleep(200 * 1000);
    pids_of("watchlive", p1, 2);
  } while (p1[0] == p0[0] && test_now_ms() - t0 < 10000);
  CHECK_MSG(p1[0] != p0[0], "a change under the path start -c added to watch did not "
            "reload (worker %d)", (int)p1[0]);
  stop("watchlive");
  CHECK_EQ(unlink(file), 0);
  CHECK_EQ(rmdir(wdir), 0);
}
