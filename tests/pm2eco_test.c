/*
 * pm2eco_test.c - PM2 ecosystem files (src/cli/eco.c, ecoapp.c), end to
 * end with the real herd and the real node: `herd start
 * ecosystem.config.js --env production` starts a cluster-mode app and a
 * fork-mode app whose workers see env_production; the options that do
 * not map are one warning line each; a file that throws is one line and
 * exit 2; a .json file. Each test has its own HERD_HOME (the runner's)
 * and stops what it starts.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../src/cli/eco.h"
#include "hp.h"

/* The app of both: it answers what its environment says. A fork-mode
 * worker listens on SOCK (a Unix path) and then says 'ready' (PM2's
 * wait_ready), a cluster worker on port 0 (herd binds it once for both
 * workers). */
static const char APP[] =
    "const http = require('http');\n"
    "http.createServer((q, r) => { r.setHeader('Connection', 'close');\n"
    "  r.end(`role=${process.env.ROLE} greeting=${process.env.GREETING} "
    "deployed=${process.env.DEPLOYED} slot=${process.env.NODE_APP_INSTANCE} "
    "cluster=${require('cluster').isWorker}\\n`); })\n"
    "  .listen(process.env.SOCK || 0, () => process.env.SOCK && process.send('ready'));\n";

static char dir[64];

static void remove_dir(void) {
  static const char *const files[] = {"app.js", "ecosystem.config.js", "throws.config.js",
                                      "apps.json", "api.sock", "json.sock", "off.sock", NULL};
  char p[256];
  for (int i = 0; files[i]; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, files[i]);
    (void)unlink(p);
  }
  (void)rmdir(dir);
}

/* DIR: a fresh directory, removed at exit. */
static const char *the_dir(void) {
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "/tmp/herd-pm2eco-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    atexit(remove_dir);
  }
  return dir;
}

/* DIR/name with text; its path in out. */
static void write_in_dir(char *out, size_t n, const char *name, const char *text) {
  the_dir();
  snprintf(out, n, "%s/%s", dir, name);
  FILE *f = fopen(out, "w");
  CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0);
}

/* herd ARGS... run to its end (30 s at most) in dir: its exit status,
 * stdout and stderr in R (freed by the next call). */
static herd_exec_result_t R;

static int herd(const char *const *args) {
  herd_exec_result_free(&R);
  char *argv[HP_ARGV_MAX];
  hp_argv(argv, args);
  herd_exec_opts_t o;
  herd_exec_opts_init(&o);
  o.timeout_ms = 30000;
  o.spawn.cwd = the_dir();
  CHECK_OK(herd_exec_file(argv[0], argv, &o, &R));
  CHECK_MSG(R.reason == HERD_EXEC_EXITED, "herd %s did not finish:\n%s", args[0], R.err);
  return R.exit_code;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static int count(const char *text, const char *needle) {
  int k = 0;
  for (const char *p = text; (p = strstr(p, needle)); p++)
    k++;
  return k;
}

/* GET / on the Unix socket DIR/name: the body. (The fork-mode apps
 * have wait_ready: herd's --ready ipc, ready once they listen.) */
static void get_unix(const char *name, char *body, size_t n) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s/%s", dir, name);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  CHECK_MSG(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "%s: not listening",
            a.sun_path);
  CHECK_EQ(http_on(fd, "/", 0, body, n), 200);
  close(fd);
}

static const char ECOSYSTEM[] =
    "module.exports = {\n"
    "  apps: [{\n"
    "    name: 'web', script: './app.js', instances: 2, exec_mode: 'cluster',\n"
    "    env: { ROLE: 'web', GREETING: 'hello' },\n"
    "    env_production: { GREETING: 'production' },\n"
    "    max_memory_restart: '300M', kill_timeout: 3000, frobnicate: 1,\n"
    "    watch: ['app.js', /x/], watch_delay: 500,\n"
    "  }, {\n"
    "    name: 'api', script: 'app.js', exec_mode: 'fork', wait_ready: true,\n"
    "    env: { ROLE: 'api', SOCK: 'api.sock' }, env_production: { GREETING: 'prod-api' },\n"
    "    ignore_watch: /node_modules/, cron_restart: '0 * * * *',\n"
    "  }],\n"
    "  deploy: { production: { user: 'app', env: { DEPLOYED: 'yes' } } },\n"
    "};\n";

TEST_T(pm2eco_two_apps_cluster_and_fork_with_env_production, 90) {
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  char app[256], eco[256];
  write_in_dir(app, sizeof app, "app.js", APP);
  write_in_dir(eco, sizeof eco, "ecosystem.config.js", ECOSYSTEM);
  int st = herd(ARGS("start", "ecosystem.config.js", "--env", "production"));
  CHECK_MSG(st == 0, "exit %d\n%s%s", st, R.out, R.err);
  CHECK_MSG(strstr(R.out, "started web: 2 workers ready") &&
                strstr(R.out, "started api: 1 worker ready"), "%s", R.out);
  /* one line for each option that does not map, and nothing else */
  static const char *const warned[] = {
      "app 'web': option 'watch': item 2 is a RegExp, which herd cannot read (ignored)",
      "app 'web': option 'frobnicate' is not a PM2 option (ignored)",
      "app 'api': option 'ignore_watch' is a RegExp, which herd cannot read (ignored)",
      "top-level 'deploy' is not supported by herd (ignored, but for the env of "
      "deploy.NAME with --env NAME)",
      NULL};
  int lines = 0;
  for (int i = 0; warned[i]; i++) {
    char want[256];
    snprintf(want, sizeof want, "herd start: ecosystem.config.js: %s\n", warned[i]);
    CHECK_MSG(count(R.err, want) == 1, "not once: %s\nstderr:\n%s", want, R.err);
    lines++;
  }
  CHECK_MSG(count(R.err, "\n") == lines, "stderr:\n%s", R.err);
  /* the cluster app: both workers, env laid over by env_production and
   * deploy.production.env */
  const char *on = strstr(R.out, "on [::]:");
  CHECK_MSG(on, "%s", R.out);
  int port = atoi(on + 8);
  unsigned slots = 0;
  char body[512];
  for (int i = 0; i < 40 && slots != 3; i++) {
    CHECK_EQ(http_get(port, "/", body, sizeof body), 200);
    CHECK_MSG(strstr(body, "role=web greeting=production deployed=yes") &&
                  strstr(body, "cluster=true"), "%s", body);
    slots |= 1u << (atoi(strstr(body, "slot=") + 5) & 7);
  }
  CHECK_EQ(slots, 3u);
  /* the fork app: a worker of its own (not a cluster worker) */
  get_unix("api.sock", body, sizeof body);
  CHECK_MSG(strstr(body, "role=api greeting=prod-api deployed=yes slot=0 cluster=false"),
            "%s", body);
  /* watch, watch_delay and cron_restart are herd's --watch,
   * --watch-delay and --cron-restart */
  char log[4200], text[8192];
  snprintf(log, sizeof log, "cat %s/logs/web-herd.log %s/logs/api-herd.log",
           getenv("HERD_HOME"), getenv("HERD_HOME"));
  CHECK_EQ(sh_out(log, text, sizeof text), 0);
  CHECK_MSG(strstr(text, "herd[web]: watch: 1 directory watched (") &&
                strstr(text, "a change reloads after 500 ms") &&
                strstr(text, "herd[api]: cron: next reload at "), "%s", text);
  CHECK_EQ(herd(ARGS("status")), 0);
  CHECK_MSG(strstr(R.out, "web  master pid") && strstr(R.out, "api  master pid"), "%s",
            R.out);
  CHECK_EQ(herd(ARGS("stop", "all")), 0);
  CHECK_MSG(strstr(R.out, "web: stopped") && strstr(R.out, "api: stopped"), "%s", R.out);
}

TEST_T(pm2eco_file_that_throws_is_one_line_and_exit_2, 60) {
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  char eco[256];
  write_in_dir(eco, sizeof eco, "throws.config.js",
               "console.log('loading');\nthrow new Error('no apps today');\n");
  CHECK_EQ(herd(ARGS("start", "throws.config.js")), 2);
  CHECK_STR(R.err, "herd start: throws.config.js: Error: no apps today (line 2)\n");
  CHECK_EQ(herd(ARGS("run", "-c", eco, "web")), 2);
  CHECK_EQ(count(R.err, "\n"), 1);
  CHECK_MSG(strstr(R.err, "Error: no apps today"), "%s", R.err);
  CHECK_EQ(herd(ARGS("start", "missing.config.js")), 2);
  CHECK_STR(R.err, "herd start: missing.config.js: No such file or directory\n");
  CHECK_EQ(herd(ARGS("list")), 0);
  CHECK_MSG(!strstr(R.out, "master pid"), "something started:\n%s", R.out);
}

TEST_T(pm2eco_json_file_and_herd_run_by_name, 60) {
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  char app[256], js[256];
  write_in_dir(app, sizeof app, "app.js", APP);
  /* PM2 evaluates a .json file as a JS expression: a comment passes */
  write_in_dir(js, sizeof js, "apps.json",
               "{ \"apps\": [ /* one app */ { \"name\": \"j\", \"script\": \"app.js\",\n"
               "  \"wait_ready\": true, \"listen_timeout\": 20000,\n"
               "  \"env\": { \"ROLE\": \"json\", \"SOCK\": \"json.sock\" },\n"
               "  \"env_staging\": { \"GREETING\": 5 } },\n"
               "  { \"name\": \"off\", \"script\": \"app.js\", \"autostart\": false,\n"
               "    \"env\": { \"SOCK\": \"off.sock\" }, \"wait_ready\": true } ] }\n");
  CHECK_EQ(herd(ARGS("start", "apps.json", "--env", "staging")), 0);
  CHECK_MSG(strstr(R.out, "started j: 1 worker ready") && !strstr(R.out, "off"), "%s",
            R.out);
  CHECK_MSG(strstr(R.err, "app 'off': autostart is false: not started") &&
                strstr(R.err, "app 'off': has no env_staging (--env staging)"), "%s",
            R.err);
  char body[512];
  get_unix("json.sock", body, sizeof body);
  CHECK_MSG(strstr(body, "role=json greeting=5 "), "%s", body);
  CHECK_EQ(herd(ARGS("stop", "j")), 0);
  /* NAME given: started, autostart or not */
  CHECK_EQ(herd(ARGS("start", "-c", js, "off")), 0);
  CHECK_MSG(strstr(R.out, "started off: 1 worker ready"), "%s", R.out);
  CHECK_EQ(herd(ARGS("stop", "off")), 0);
}

/* --env NAME (no '=') means an ecosystem file's environment: elsewhere it
 * is refused, and an ecosystem file takes no other option. */
TEST(pm2eco_env_name_without_an_ecosystem_file_is_refused) {
  CHECK_EQ(herd(ARGS("start", "--env", "production", "--", "true")), 2);
  CHECK_MSG(strstr(R.err, "--env: 'production' is not K=V (a name alone selects "
                          "env_production of a herd config file or a PM2 ecosystem "
                          "file: -c FILE)"), "%s", R.err);
  CHECK_EQ(herd(ARGS("run", "-w", "2", "ecosystem.config.js")), 2);
  CHECK_MSG(strstr(R.err, "ecosystem.config.js: the options come from the config file"),
            "%s", R.err);
  CHECK_EQ(herd(ARGS("start", "ecosystem.yml")), 2);
  CHECK_MSG(strstr(R.err, "YAML ecosystem files are not supported"), "%s", R.err);
}

/* PM2's names for a config file (lib/Common.js isConfigFile), and a
 * script that is none. */
TEST(pm2eco_file_names) {
  CHECK_EQ(eco_file_kind("ecosystem.config.js"), ECO_JS);
  CHECK_EQ(eco_file_kind("/srv/app/pm2.config.cjs"), ECO_JS);
  CHECK_EQ(eco_file_kind("x.config.mjs"), ECO_JS);
  CHECK_EQ(eco_file_kind("ecosystem.js"), ECO_JS);
  CHECK_EQ(eco_file_kind("process.json"), ECO_JSON);
  CHECK_EQ(eco_file_kind("ecosystem.yaml"), ECO_YAML);
  CHECK_EQ(eco_file_kind("app.js"), ECO_NONE);
  CHECK_EQ(eco_file_kind("server.mjs"), ECO_NONE);
  CHECK_EQ(eco_file_kind("ecosystem.config.js/app.js"), ECO_NONE);
  CHECK_EQ(eco_file_kind("node"), ECO_NONE);
}
