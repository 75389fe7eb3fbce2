/*
 * watch_test.c - --watch and --cron-restart end to end: the real binary,
 * hello-http as the worker, a client load all along (0 failed
 * requests), waits driven by herd's own lines; the options' refusals
 * (exit 2, one line, a running app untouched); the config keys.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../src/cli/cli.h"
#include "../src/cli/jw.h"
#include "hp.h"
#include "test.h"

static int count_of(const char *log, const char *needle) {
  int k = 0;
  for (const char *p = log; (p = strstr(p, needle)); p++)
    k++;
  return k;
}

static void touch(const char *dir, const char *name) {
  char p[4200];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  CHECK_MSG(fd >= 0, "%s: %s", p, strerror(errno));
  CHECK(write(fd, "x\n", 2) == 2);
  CHECK(close(fd) == 0);
}

static void mkdir_in(const char *dir, const char *name) {
  char p[4200];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  CHECK_MSG(mkdir(p, 0700) == 0, "%s: %s", p, strerror(errno));
}

/* A burst of changes (files, a new directory and a file in it) under
 * load: one reload, new pids, no failed request; then changes under
 * node_modules, .git and a --watch-ignore glob, and a watched one after
 * them: the one reload they make names the watched file. */
TEST_T(watch_reloads_once_per_burst_under_load_failing_nothing, 90) {
  char app[4200];
  snprintf(app, sizeof app, "%s/app", getenv("HERD_HOME"));
  CHECK(mkdir(app, 0700) == 0);
  mkdir_in(app, "src");
  mkdir_in(app, "node_modules");
  mkdir_in(app, ".git");
  char e_home[4300];
  /* herd's HERD_HOME beside the app, not above it (it would be ignored) */
  snprintf(e_home, sizeof e_home, "HERD_HOME=%s/h", getenv("HERD_HOME"));
  const char *env[] = {e_home, NULL};
  char hello[4200]; /* from the app's cwd */
  CHECK(realpath(hello_http(), hello));
  struct hp h;
  const char *args[] = {"run", "-n", "w", "-w", "2", "-l", "127.0.0.1:0", "--ready", "notify",
                        "--cwd", app, "--watch", "--watch-delay", "400ms", "--watch-ignore", "*.tmp", "--",
                        hello, NULL};
  hp_start_env(&h, geteuid(), getegid(), env, args);
  hp_port(&h);
  HP_WAIT(&h, "all 2 workers ready", 1);
  HP_WAIT(&h, "watch: 2 directories watched", 1); /* app, src: not the ignored */
  pid_t before[2] = {hp_worker_pid(&h, 0), hp_worker_pid(&h, 1)};
  struct loader l1, l2;
  loader_start(&l1, h.port, 1);
  loader_start(&l2, h.port, 0);

  uint64_t t0 = test_now_ms();
  touch(app, "server.js");
  touch(app, "src/a.js");
  touch(app, "src/b.js");
  mkdir_in(app, "src/new");
  touch(app, "src/new/c.js");
  HP_WAIT(&h, "reload done", 1);
  CHECK_MSG(test_now_ms() - t0 >= 350, "reloaded %llu ms after the burst, before the delay",
            (unsigned long long)(test_now_ms() - t0));
  CHECK_MSG(strstr(h.log, "watch: server.js changed ("), "%s", h.log);
  for (int s = 0; s < 2; s++)
    CHECK_MSG(hp_worker_pid(&h, s) != before[s], "slot %d kept pid %d", s, before[s]);

  /* the new directory is watched: a change in it alone reloads */
  touch(app, "src/new/d.js");
  HP_WAIT(&h, "watch: src/new/d.js changed (", 1);
  HP_WAIT(&h, "reload done", 2);

  /* ignored, then one that is not (within one delay) */
  touch(app, "node_modules/x.js");
  touch(app, ".git/index");
  touch(app, "src/scratch.tmp");
  touch(app, "src/marker.js");
  HP_WAIT(&h, "watch: src/marker.js changed (", 1);
  HP_WAIT(&h, "reload done", 3);
  long ok1, bad1, ok2, bad2;
  loader_stop(&l1, &ok1, &bad1);
  loader_stop(&l2, &ok2, &bad2);
  CHECK_MSG(bad1 == 0 && bad2 == 0, "failed: %ld keep-alive, %ld new-connection\n%s", bad1,
            bad2, h.log);
  CHECK_MSG(ok1 > 0 && ok2 > 0, "no requests served (%ld, %ld)", ok1, ok2);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
  /* a burst, one reload: three bursts, three */
  CHECK_MSG(count_of(h.log, "reload begin") == 3 && count_of(h.log, ": reload\n") == 3,
            "not one reload per burst:\n%s", h.log);
  CHECK(!strstr(h.log, "node_modules/x.js"));
}

/* Changes under node_modules, and to the app's own log files in a
 * HERD_HOME inside the watched tree (as ~/.herd under a watched ~),
 * written all along by the worker: no reload within 5 delays. */
TEST_T(watch_ignores_node_modules_and_the_apps_own_logs, 60) {
  char app[4200], home[4300], e_home[4400], opt[4300];
  snprintf(app, sizeof app, "%s/app", getenv("HERD_HOME"));
  CHECK(mkdir(app, 0700) == 0);
  mkdir_in(app, "node_modules");
  snprintf(home, sizeof home, "%s/.herd", app);
  snprintf(e_home, sizeof e_home, "HERD_HOME=%s", home);
  snprintf(opt, sizeof opt, "--watch=%s", app);
  const char *env[] = {e_home, NULL};
  struct hp h;
  const char *args[] = {"run", "-n", "w", "-w", "1", "--log-files", opt, "--watch-delay",
                        "200ms", "--", "/bin/sh", "-c",
                        "while :; do echo hi; sleep 0.05; done", NULL};
  hp_start_env(&h, geteuid(), getegid(), env, args);
  HP_WAIT(&h, "1 worker ready", 1);
  HP_WAIT(&h, "watch: 1 directory watched", 1);
  touch(app, "node_modules/x.js");
  /* nothing to wait for but time: a reload would come after 200 ms */
  CHECK_MSG(!hp_wait(&h, "reload begin", 1, 1000), "an ignored change reloaded:\n%s", h.log);
  char out[4400];
  struct stat st;
  snprintf(out, sizeof out, "%s/logs/w-out.log", home);
  CHECK_MSG(stat(out, &st) == 0 && st.st_size > 0, "the worker wrote no log in %s", out);
  /* and a change that counts does reload */
  touch(app, "server.js");
  HP_WAIT(&h, "reload done", 1);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

/* Refused at once (exit 2, one line naming the problem), with an app
 * of the same HERD_HOME running and untouched: a bad cron line, a watch
 * path that is not there, the same from a config file. */
TEST_T(watch_and_cron_bad_input_exit_2_app_untouched, 60) {
  struct hp h;
  const char *args[] = {"run", "-n", "keep", "-w", "1", "--", "/bin/sh", "-c",
                        "exec sleep 600", NULL};
  hp_start(&h, args);
  HP_WAIT(&h, "1 worker ready", 1);
  pid_t w = hp_worker_pid(&h, 0);
  size_t len = h.len;
  char herd[4200], cmd[9000], out[2048];
  path_of(herd, sizeof herd, "herd");
  static const struct {
    const char *args, *line;
  } bad[] = {
      {"run -n keep --cron-restart '0 25 * * *' -- /bin/true",
       "herd run: --cron-restart: '0 25 * * *': hour: 25 is out of range (0-23)\n"},
      {"start -n keep --cron-restart '*/0 * * * *' -- /bin/true",
       "herd start: --cron-restart: '*/0 * * * *': minute: '*/0': the step must be a number "
       "in 1-59\n"},
      {"start -n keep --cron-restart '0 0 * * * *' -- /bin/true",
       "herd start: --cron-restart: '0 0 * * * *': 6 fields: expected 5 (minute hour "
       "day-of-month month day-of-week)\n"},
      {"start -n keep --cron-restart '0 0 * * monday' -- /bin/true",
       "herd start: --cron-restart: '0 0 * * monday': day of week: 'monday' is not a number "
       "or a name (sun-sat)\n"},
      {"start -n keep --watch=/no/such/dir -- /bin/true",
       "herd start: watch: /no/such/dir: No such file or directory\n"},
      {"run -n keep --cwd /tmp --watch=no-such-file -- /bin/true",
       "herd run: watch: /tmp/no-such-file: No such file or directory\n"},
      {"run -n keep --watch= -- /bin/true", "herd run: --watch: an empty path\n"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", herd, bad[i].args);
    int st = sh_out(cmd, out, sizeof out);
    CHECK_MSG(st == 2, "%s: exit %d: %s", bad[i].args, st, out);
    /* the message, then "Try 'herd run --help'." */
    CHECK_MSG(!strncmp(out, bad[i].line, strlen(bad[i].line)), "%s:\n%s\nexpected:\n%s",
              bad[i].args, out, bad[i].line);
  }
  /* a config file: FILE:LINE: the key's problem */
  char conf[4300];
  snprintf(conf, sizeof conf, "%s/bad.toml", getenv("HERD_HOME"));
  FILE *f = fopen(conf, "we");
  CHECK(f);
  fprintf(f, "[keep]\ncommand = \"/bin/true\"\ncron_restart = \"0 0 31 feb *\"\n");
  CHECK(fclose(f) == 0);
  snprintf(cmd, sizeof cmd, "%s start -c %s 2>&1", herd, conf);
  CHECK_EQ(sh_out(cmd, out, sizeof out), 2);
  CHECK_MSG(strstr(out, "bad.toml:3: cron-restart: '0 0 31 feb *': day of month: no month "
                        "allowed has such a day (the line never fires)"),
            "%s", out);
  /* the running app: the same worker, not a word more */
  CHECK_EQ(kill(w, 0), 0);
  (void)hp_wait(&h, "never said", 1, 200); /* read what there is */
  CHECK_MSG(h.len == len, "the running app said more:\n%s", h.log + len);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

/* The config keys, as arrays or one value; watch = true is the cwd;
 * relative paths from the app's cwd. */
TEST(watch_and_cron_config_keys) {
  char dir[4200];
  snprintf(dir, sizeof dir, "%s", getenv("HERD_HOME"));
  mkdir_in(dir, "src");
  mkdir_in(dir, "lib");
  const char *text = "[a]\ncommand = \"/bin/true\"\nwatch = [\"src\", \"lib\"]\n"
                     "watch_ignore = [\"*.log\", \"tmp/*\"]\nwatch_delay = \"2s\"\n"
                     "cron_restart = \"0 4 * * sun\"\n"
                     "[b]\ncommand = \"/bin/true\"\nwatch = true\nwatch-delay = 250\n"
                     "[c]\ncommand = \"/bin/true\"\nwatch = false\n";
  struct app *as;
  char err[600];
  int n = app_parse_config("t.toml", dir, text, strlen(text), &as, err, sizeof err);
  CHECK_MSG(n == 3, "%s", err);
  char want[4300];
  CHECK_EQ(as[0].nwatch, 2);
  snprintf(want, sizeof want, "%s/src", dir);
  char real[4300];
  CHECK(realpath(want, real));
  CHECK_STR(as[0].watch[0], real);
  CHECK_EQ(as[0].nwatch_ignore, 2);
  CHECK_STR(as[0].watch_ignore[1], "tmp/*");
  CHECK_EQ(as[0].watch_delay_ms, 2000);
  CHECK_STR(as[0].cron_restart, "0 4 * * sun");
  CHECK_EQ(as[1].nwatch, 1);
  CHECK(realpath(dir, real));
  CHECK_STR(as[1].watch[0], real);
  CHECK_EQ(as[1].watch_delay_ms, 250);
  CHECK_EQ(as[2].nwatch, 0);
  /* herd save writes them back as keys that give the same app */
  struct jw w;
  jw_init(&w);
  CHECK_EQ(app_toml(&as[0], 1, NULL, &w, err, sizeof err), 0);
  CHECK(!w.err);
  struct app *back;
  CHECK_MSG(app_parse_config("s.toml", dir, w.buf, w.len, &back, err, sizeof err) == 1,
            "%s\n%s", err, w.buf);
  CHECK_EQ(back[0].nwatch, 2);
  CHECK_STR(back[0].watch[1], as[0].watch[1]);
  CHECK_EQ(back[0].nwatch_ignore, 2);
  CHECK_STR(back[0].watch_ignore[0], "*.log");
  CHECK_EQ(back[0].watch_delay_ms, 2000);
  CHECK_STR(back[0].cron_restart, "0 4 * * sun");
  app_free(&back[0]);
  free(back);
  jw_free(&w);
  for (int i = 0; i < n; i++)
    app_free(&as[i]);
  free(as);
  /* an item that is no string */
  const char *bad = "[a]\ncommand = \"/bin/true\"\nwatch = [\"src\", 3]\n";
  CHECK_EQ(app_parse_config("t.toml", dir, bad, strlen(bad), &as, err, sizeof err), -1);
  CHECK_STR(err, "t.toml:3: watch: item 2 is not a string");
}

/* The master's CLOCK_REALTIME timerfd (cron's): seconds until it fires
 * (its fdinfo's it_value), or -1 if it has none armed. */
static long realtime_timer_left_s(pid_t pid) {
  char dir[64];
  snprintf(dir, sizeof dir, "/proc/%d/fdinfo", (int)pid);
  DIR *d = opendir(dir);
  CHECK(d);
  long left = -1;
  struct dirent *e;
  while ((e = readdir(d)) && left < 0) {
    char path[384], line[256];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    FILE *f = fopen(path, "re");
    if (!f)
      continue;
    int realtime = 0;
    long long s, ns;
    while (fgets(line, sizeof line, f)) {
      if (!strcmp(line, "clockid: 0\n"))
        realtime = 1;
      if (realtime && sscanf(line, "it_value: (%lld, %lld)", &s, &ns) == 2 && (s || ns))
        left = (long)s;
    }
    fclose(f);
  }
  closedir(d);
  return left;
}

/* The master's wall clock set (HERD_TEST_CLOCK_OFFSET_MS) 4 s before
 * a minute boundary, and a line for that minute only, in a zone with
 * DST: one rolling reload there, not at once, 0 failed requests; then
 * one timer armed for the same time tomorrow, nothing sooner. */
TEST_T(cron_reloads_at_its_minute_under_load_failing_nothing, 60) {
  const char *tz =
      access("/usr/share/zoneinfo/Europe/Berlin", R_OK) == 0 ? "Europe/Berlin" : "UTC";
  CHECK(setenv("TZ", tz, 1) == 0);
  tzset();
  struct timespec ts;
  CHECK(clock_gettime(CLOCK_REALTIME, &ts) == 0);
  long long real_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  long long boundary = (real_ms / 60000 + 2) * 60000; /* the master's minute */
  long long offset = boundary - 4000 - real_ms; /* time to start, under ASan too */
  time_t fire = (time_t)(boundary / 1000), tomorrow = fire + 86400;
  struct tm tm;
  CHECK(localtime_r(&fire, &tm));
  char line[64], e_off[64], e_tz[64], said[128], said2[128], when[64];
  snprintf(line, sizeof line, "%d %d * * *", tm.tm_min, tm.tm_hour);
  strftime(when, sizeof when, "%Y-%m-%d %H:%M %Z", &tm);
  snprintf(said, sizeof said, "cron: next reload at %s\n", when);
  CHECK(localtime_r(&tomorrow, &tm));
  strftime(when, sizeof when, "%Y-%m-%d %H:%M %Z", &tm);
  snprintf(said2, sizeof said2, "cron: reload; next reload at %s\n", when);
  snprintf(e_off, sizeof e_off, "HERD_TEST_CLOCK_OFFSET_MS=%lld", offset);
  snprintf(e_tz, sizeof e_tz, "TZ=%s", tz);
  const char *env[] = {e_off, e_tz, NULL};
  struct hp h;
  const char *args[] = {"run", "-n", "c", "-w", "2", "-l", "127.0.0.1:0", "--ready",
                        "notify", "--cron-restart", line, "--", hello_http(), NULL};
  hp_start_env(&h, geteuid(), getegid(), env, args);
  hp_port(&h);
  HP_WAIT(&h, "all 2 workers ready", 1);
  HP_WAIT(&h, said, 1);
  long left = realtime_timer_left_s(h.c.pid);
  CHECK_MSG(left >= 0 && left <= 4, "cron's timer fires in %ld s, not within 4 s", left);
  pid_t before[2] = {hp_worker_pid(&h, 0), hp_worker_pid(&h, 1)};
  struct loader l1, l2;
  loader_start(&l1, h.port, 1);
  loader_start(&l2, h.port, 0);
  HP_WAIT(&h, "reload begin", 1);
  CHECK(clock_gettime(CLOCK_REALTIME, &ts) == 0);
  long long took = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - real_ms;
  CHECK_MSG(took >= 3500 && took <= 10000, "the reload began %lld ms after the start, not "
            "at the minute (4000 ms)", took);
  HP_WAIT(&h, "reload done", 1);
  HP_WAIT(&h, said2, 1);
  for (int s = 0; s < 2; s++)
    CHECK_MSG(hp_worker_pid(&h, s) != before[s], "slot %d kept pid %d", s, before[s]);
  /* the next fire is a day away (23 to 25 hours: a DST day between) */
  left = realtime_timer_left_s(h.c.pid);
  CHECK_MSG(left > 23 * 3600 - 60 && left < 25 * 3600, "cron's timer fires in %ld s", left);
  long ok1, bad1, ok2, bad2;
  loader_stop(&l1, &ok1, &bad1);
  loader_stop(&l2, &ok2, &bad2);
  CHECK_MSG(bad1 == 0 && bad2 == 0, "failed: %ld keep-alive, %ld new-connection", bad1, bad2);
  CHECK_MSG(ok1 > 0 && ok2 > 0, "no requests served (%ld, %ld)", ok1, ok2);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
  CHECK_EQ(count_of(h.log, "reload begin"), 1);
}

/* A file as the --watch path: the other files of its directory do not
 * count, and an editor's save (a new file renamed over it) does. */
TEST_T(watch_a_file_sees_a_save_by_rename, 60) {
  char app[4200], opt[4300], e_home[4300], from[4300], to[4300];
  snprintf(app, sizeof app, "%s/app", getenv("HERD_HOME"));
  CHECK(mkdir(app, 0700) == 0);
  touch(app, "server.js");
  snprintf(opt, sizeof opt, "--watch=%s/server.js", app);
  snprintf(e_home, sizeof e_home, "HERD_HOME=%s/h", getenv("HERD_HOME"));
  const char *env[] = {e_home, NULL};
  struct hp h;
  const char *args[] = {"run", "-n", "f", "-w", "1", opt, "--watch-delay", "300ms", "--",
                        "/bin/sh", "-c", "exec sleep 600", NULL};
  hp_start_env(&h, geteuid(), getegid(), env, args);
  HP_WAIT(&h, "1 worker ready", 1);
  HP_WAIT(&h, "watch: 1 directory watched", 1);
  touch(app, "other.js"); /* first: it would name the reload if it counted */
  touch(app, ".server.js.swp");
  snprintf(from, sizeof from, "%s/.server.js.swp", app);
  snprintf(to, sizeof to, "%s/server.js", app);
  CHECK(rename(from, to) == 0);
  HP_WAIT(&h, "reload done", 1);
  CHECK_MSG(strstr(h.log, "/app/server.js changed (1 event): reload"), "%s", h.log);
  /* again: the watch survived the rename */
  touch(app, "server.js");
  HP_WAIT(&h, "reload done", 2);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
  CHECK_EQ(count_of(h.log, "reload begin"), 2);
}
