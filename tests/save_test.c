/*
 * save_test.c - end-to-end tests of keeping a set of apps: herd save,
 * herd resurrect, the config control request they use, herd startup
 * systemd on the saved file (and its units named after config files),
 * and the STATUS= lines a master sends its own supervisor.
 *
 * The real binary, with the runner's fresh HERD_HOME per test; workers
 * are this test binary's "sleep" helper (its arguments are kept as they
 * are, for the awkward ones); every wait bounded.
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../src/cli/jval.h"
#include "hp.h"

static char out[1 << 16];

static const char *home(void) {
  const char *h = getenv("HERD_HOME");
  CHECK_MSG(h && *h, "HERD_HOME is not set (run under herd-test)");
  return h;
}

/* herd ARGS (a shell line's words, no quoting needed), stdout and
 * stderr into out; the exit status. */
__attribute__((format(printf, 1, 2))) static int herd(const char *fmt, ...) {
  char *argv[HP_ARGV_MAX];
  const char *none[] = {NULL};
  hp_argv(argv, none);
  char args[4096], line[PATH_MAX + 4200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(line, sizeof line, "'%s' %s 2>&1", argv[0], args);
  return sh_out(line, out, sizeof out);
}

#define HERD_RC(rc, ...)                                                     \
  do {                                                                       \
    int st_ = herd(__VA_ARGS__);                                             \
    CHECK_MSG(st_ == (rc), "herd %s: exit %d, expected %d:\n%s", #__VA_ARGS__, \
              st_, (rc), out);                                               \
  } while (0)

static void write_at(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK_MSG(f, "%s: %s", path, strerror(errno));
  CHECK(fputs(text, f) >= 0 && fclose(f) == 0);
}

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

/* The app's settings as its master tells them ({"cmd":"config"}),
 * malloc'd. */
static char *config_of(const char *name) {
  static char reply[1 << 18];
  CHECK_MSG(hp_ctl(name, "{\"cmd\":\"config\"}", reply, sizeof reply) == 0,
            "%s: no reply to config", name);
  herd_val_t *v = jparse(reply, strlen(reply));
  const char *text = jstr(jget(v, "config"), NULL);
  CHECK_MSG(v && jbool(jget(v, "ok"), 0) && text, "%s: %s", name, reply);
  char *copy = strdup(text);
  CHECK(copy);
  herd_val_free(v);
  return copy;
}

static void has(const char *text, const char *needle) {
  CHECK_MSG(strstr(text, needle), "no '%s' in:\n%s", needle, text);
}

/* The awkward arguments, as a TOML array's items and as argv. */
static const char *const odd_args[] = {"a b", "q\"uote", "back\\slash", "new\nline",
                                       "\xc3\xbcn\xc3\xaf \xe2\x98\x83", "tab\there",
                                       "'single'", NULL};
static const char *const odd_toml =
    "\"a b\", \"q\\\"uote\", \"back\\\\slash\", \"new\\nline\", "
    "\"\\u00fcn\xc3\xaf \xe2\x98\x83\", \"tab\\there\", \"'single'\"";

static void write_apps(const char *conf, const char *dir) {
  char text[8192];
  snprintf(text, sizeof text,
           "[alpha]\n"
           "command = [\"%s\", \"--helper\", \"sleep\", \"600000\", %s]\n"
           "workers = 2\nkill-timeout = \"7s\"\nstop-signal = \"INT\"\n"
           "env = { GREETING = \"hi \\\"there\\\"\\\\\", MULTI = \"a\\nb\" }\n\n"
           "[beta]\n"
           "command = [\"%s\", \"--helper\", \"sleep\", \"600000\"]\n"
           "workers = 1\nmin-uptime = \"2500ms\"\numask = \"027\"\n"
           "max-memory = \"300M\"\nlog-keep = 3\ncwd = \"%s\"\n",
           test_self(), odd_toml, test_self(), dir);
  write_at(conf, text);
}

/* alpha's worker of slot 0 runs with the odd arguments and the env */
static void check_worker(void) {
  HERD_RC(0, "status alpha --json");
  herd_val_t *v = jparse(out, strlen(out));
  long long wanted = 0, pid = 0;
  CHECK(v && jint(jget(v, "workers_wanted"), 0, 100, &wanted) == 0);
  CHECK_EQ(wanted, 3);
  CHECK(jint(jget(jat(jget(v, "workers"), 0), "pid"), 1, INT_MAX, &pid) == 0);
  herd_val_free(v);
  char path[64], buf[8192];
  snprintf(path, sizeof path, "/proc/%lld/cmdline", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  CHECK(fd >= 0);
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  CHECK(n > 0);
  const char *p = buf;
  for (int i = 0; i < 4; i++) /* self --helper sleep 600000 */
    p += strlen(p) + 1;
  for (int i = 0; odd_args[i]; i++, p += strlen(p) + 1)
    CHECK_MSG(p < buf + n && !strcmp(p, odd_args[i]), "argument %d: '%s', expected "
              "'%s'", i, p < buf + n ? p : "(none)", odd_args[i]);
  snprintf(path, sizeof path, "/proc/%lld/environ", pid);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  CHECK(fd >= 0);
  n = read(fd, buf, sizeof buf - 1);
  close(fd);
  CHECK(n > 0);
  int greet = 0, multi = 0;
  for (p = buf; p < buf + n; p += strlen(p) + 1) {
    greet |= !strcmp(p, "GREETING=hi \"there\"\\");
    multi |= !strcmp(p, "MULTI=a\nb");
  }
  CHECK_MSG(greet && multi, "the worker's environment lacks GREETING or MULTI");
}

TEST_T(save_resurrect_round_trip, 90) {
  char conf[PATH_MAX], dir[PATH_MAX], dump[PATH_MAX + 16];
  snprintf(dir, sizeof dir, "%s/a dir", home());
  CHECK(mkdir(dir, 0700) == 0);
  snprintf(conf, sizeof conf, "%s/apps.toml", home());
  snprintf(dump, sizeof dump, "%s/dump.toml", home());
  write_apps(conf, dir);
  HERD_RC(0, "start -c %s", conf);
  HERD_RC(0, "scale alpha 3"); /* the scale it runs at is what is saved */
  char *a1 = config_of("alpha"), *b1 = config_of("beta");
  has(a1, "[alpha]\n");
  has(a1, "\nworkers = 3\n");
  has(a1, "\nkill-timeout = \"7s\"\n");
  has(a1, "\nstop-signal = \"INT\"\n");
  has(a1, "\"a b\",\n  \"q\\\"uote\",\n  \"back\\\\slash\",\n  \"new\\nline\",\n");
  has(a1, "\"GREETING=hi \\\"there\\\"\\\\\",\n");
  has(a1, "\"MULTI=a\\nb\",\n");
  CHECK_MSG(!strstr(a1, "HERD_HOME="), "%s", a1);
  has(b1, "\nworkers = 1\n");
  has(b1, "\nmin-uptime = \"2500ms\"\n");
  has(b1, "\numask = \"027\"\n");
  has(b1, "\nmax-memory = \"300M\"\n");
  has(b1, "\nlog-keep = 3\n");
  has(b1, "/a dir\"\n");
  CHECK_MSG(!strstr(b1, "kill-timeout"), "a default written:\n%s", b1);

  HERD_RC(0, "save");
  has(out, "saved alpha, beta to ");
  struct stat st;
  CHECK(stat(dump, &st) == 0);
  CHECK_EQ(st.st_mode & 0777, 0600);
  char tmp[PATH_MAX + 32];
  snprintf(tmp, sizeof tmp, "%s.new", dump);
  CHECK(access(tmp, F_OK) < 0);

  HERD_RC(0, "stop all");
  HERD_RC(0, "resurrect");
  has(out, "herd: started alpha: 3 workers ready");
  has(out, "herd: started beta: 1 worker ready");
  char *a2 = config_of("alpha"), *b2 = config_of("beta");
  CHECK_MSG(!strcmp(a1, a2), "alpha before:\n%s\nafter:\n%s", a1, a2);
  CHECK_MSG(!strcmp(b1, b2), "beta before:\n%s\nafter:\n%s", b1, b2);
  check_worker();

  /* running already: left as they are, exit 0 */
  HERD_RC(0, "resurrect");
  has(out, "alpha: running already (master pid ");
  has(out, "beta: running already (master pid ");
  CHECK_MSG(!strstr(out, "started"), "%s", out);

  /* the saved file is a config file as any other */
  HERD_RC(0, "stop all");
  HERD_RC(0, "start -c %s", dump);
  char *a3 = config_of("alpha");
  CHECK_MSG(!strcmp(a1, a3), "alpha before:\n%s\nafter:\n%s", a1, a3);
  HERD_RC(0, "stop all");
  free(a1);
  free(a2);
  free(a3);
  free(b1);
  free(b2);
}

TEST_T(save_resurrect_with_nothing_to_keep, 30) {
  char dump[PATH_MAX + 16];
  snprintf(dump, sizeof dump, "%s/dump.toml", home());
  HERD_RC(1, "save");
  has(out, "herd save: no app is running in ");
  CHECK_EQ(count_lines(out), 1);
  CHECK(access(dump, F_OK) < 0);
  HERD_RC(2, "resurrect");
  has(out, "herd resurrect: nothing saved: no ");
  CHECK_EQ(count_lines(out), 1);
  HERD_RC(2, "startup systemd");
  has(out, "herd startup: systemd: give the config file (-c FILE); no apps are saved");
  CHECK_EQ(count_lines(out), 1);
  HERD_RC(2, "save %s/apps.config.js", home());
  has(out, "PM2 ecosystem file");
  HERD_RC(2, "save a b");
  HERD_RC(2, "resurrect %s/missing.toml", home());
  HERD_RC(0, "save --help");
  has(out, "Usage: herd save [FILE]");
  HERD_RC(0, "help resurrect");
  has(out, "Usage: herd resurrect [FILE]");
}

/* An app with an env file (a relative path, as a config file names it)
 * is saved with the file's variables in its env, and no env_file: the
 * file was read at its start (and its relative path would not read
 * back from the dump's directory). */
TEST_T(save_keeps_an_env_files_variables_not_the_file, 60) {
  char dir[PATH_MAX], conf[PATH_MAX + 16], envf[PATH_MAX + 16], dump[PATH_MAX + 16];
  snprintf(dir, sizeof dir, "%s/ef", home());
  CHECK(mkdir(dir, 0700) == 0);
  snprintf(conf, sizeof conf, "%s/herd.conf", dir);
  snprintf(envf, sizeof envf, "%s/app.env", dir);
  snprintf(dump, sizeof dump, "%s/dump.toml", home());
  write_at(envf, "FROM_FILE=yes\n");
  char text[4096];
  snprintf(text, sizeof text,
           "[ef]\ncommand = [\"%s\", \"--helper\", \"sleep\", \"600000\"]\n"
           "workers = 1\nenv_file = \"app.env\"\n",
           test_self());
  write_at(conf, text);
  HERD_RC(0, "start -c '%s'", conf);
  HERD_RC(0, "save");
  char *saved = config_of("ef");
  has(saved, "\"FROM_FILE=yes\"");
  CHECK_MSG(!strstr(saved, "env-file") && !strstr(saved, "env_file"), "%s", saved);
  free(saved);
  HERD_RC(0, "stop ef");
  CHECK(unlink(envf) == 0); /* the dump does not need it */
  HERD_RC(0, "resurrect");
  saved = config_of("ef");
  has(saved, "\"FROM_FILE=yes\"");
  free(saved);
  HERD_RC(0, "stop ef");
}

/* An app that cannot be written in a config file (an argument of bytes
 * that are not UTF-8) fails the save, and the file saved before stays
 * as it was. */
TEST_T(save_refuses_what_toml_cannot_hold_and_keeps_the_old_file, 30) {
  char dump[PATH_MAX + 16], before[256];
  snprintf(dump, sizeof dump, "%s/dump.toml", home());
  snprintf(before, sizeof before, "[old]\ncommand = \"%s\"\n", test_self());
  write_at(dump, before);
  HERD_RC(0, "start -n bad -- %s --helper sleep 600000 \"$(printf 'x\\377')\"",
          test_self());
  HERD_RC(1, "save");
  has(out, "herd save: bad: config: ");
  has(out, "not UTF-8");
  CHECK_EQ(count_lines(out), 1);
  char now[256] = "";
  FILE *f = fopen(dump, "r");
  CHECK(f);
  size_t n = fread(now, 1, sizeof now - 1, f);
  fclose(f);
  now[n] = '\0';
  CHECK_STR(now, before);
  HERD_RC(0, "stop bad");
}

TEST_T(startup_units_named_after_config_files, 30) {
  char a[PATH_MAX], b[PATH_MAX], h[PATH_MAX], text[PATH_MAX + 64];
  snprintf(a, sizeof a, "%s/shop.conf", home());
  snprintf(b, sizeof b, "%s/blog.v2.toml", home());
  snprintf(h, sizeof h, "%s/herd.conf", home());
  snprintf(text, sizeof text, "[web]\ncommand = \"%s\"\n", test_self());
  write_at(a, text);
  write_at(b, text);
  write_at(h, text);
  HERD_RC(0, "startup systemd -c %s", a);
  has(out, "# herd-shop@.service: each app of ");
  has(out, "/etc/systemd/system/herd-shop@.service\n");
  has(out, "enable --now herd-shop@web\n");
  HERD_RC(0, "startup systemd -c %s --user", b);
  has(out, "# herd-blog.v2@.service: ");
  has(out, "~/.config/systemd/user/herd-blog.v2@.service\n");
  has(out, "enable --now herd-blog.v2@web\n");
  HERD_RC(0, "startup systemd -c %s", h);
  has(out, "# herd@.service: ");
  has(out, "enable --now herd@web\n");
  /* no -c: the saved apps, said so */
  char dump[PATH_MAX + 16], want[2 * PATH_MAX];
  snprintf(dump, sizeof dump, "%s/dump.toml", home());
  write_at(dump, text);
  HERD_RC(0, "startup systemd");
  snprintf(want, sizeof want, "herd startup: the apps herd save saved: %s\n", dump);
  has(out, want);
  has(out, "# herd-dump@.service: ");
  has(out, "enable --now herd-dump@web\n");
  snprintf(want, sizeof want, " run -c %s %%i\n", dump);
  has(out, want);
}

/* One datagram on fd within the deadline, into buf; 0 at the deadline. */
static int recv_within(int fd, char *buf, size_t n, int ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  if (poll(&p, 1, ms) <= 0)
    return 0;
  ssize_t k = recv(fd, buf, n - 1, 0);
  CHECK(k >= 0);
  buf[k] = '\0';
  return 1;
}

/* Read datagrams until one holds want; the STATUS= lines seen on the
 * way appended to seen. Consecutive STATUS= lines must differ. */
static void notify_until(int fd, const char *want, char *seen, size_t n) {
  char msg[512];
  static char last[512];
  for (;;) {
    CHECK_MSG(recv_within(fd, msg, sizeof msg, 15000), "no '%s'; seen:\n%s", want,
              seen);
    const char *s = strstr(msg, "STATUS=");
    if (s) {
      CHECK_MSG(strcmp(s, last), "'%s' twice in a row", s);
      snprintf(last, sizeof last, "%s", s);
      size_t len = strlen(seen);
      snprintf(seen + len, n - len, "%s\n", s);
    }
    if (strstr(msg, want))
      return;
  }
}

TEST_T(notify_status_lines_on_changes, 60) {
  char path[PATH_MAX], env[PATH_MAX + 16], seen[4096] = "";
  snprintf(path, sizeof path, "%s/notify.sock", home());
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  CHECK(strlen(path) < sizeof sa.sun_path);
  memcpy(sa.sun_path, path, strlen(path) + 1);
  CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  snprintf(env, sizeof env, "NOTIFY_SOCKET=%s", path);
  const char *envs[] = {env, NULL};
  const char *args[] = {"run", "-n", "st", "-w", "2", "--", test_self(), "--helper",
                        "sleep", "600000", NULL};
  struct hp h;
  hp_start_env(&h, geteuid(), getegid(), envs, args);
  notify_until(fd, "STATUS=2/2 workers ready, 0 restarts", seen, sizeof seen);
  has(seen, "STATUS=1/2 workers ready, 0 restarts\n");
  CHECK(strstr(seen, "STATUS=1/2") < strstr(seen, "STATUS=2/2"));
  notify_until(fd, "READY=1", seen, sizeof seen);
  HP_WAIT(&h, "worker 1 ready", 1);
  pid_t w = hp_worker_pid(&h, 0);
  seen[0] = '\0';
  CHECK(kill(w, SIGKILL) == 0);
  notify_until(fd, "STATUS=2/2 workers ready, 1 restart", seen, sizeof seen);
  has(seen, "STATUS=1/2 workers ready, 0 restarts\n");
  CHECK_EQ(hp_stop(&h, SIGTERM), 0); /* the datagrams wait in fd */
  notify_until(fd, "STOPPING=1\nSTATUS=stopping", seen, sizeof seen);
  close(fd);
}
