/*
 * upgrade_addr_test.c - herd upgrade NAME -c FILE: an app's listen
 * addresses changed without downtime. Under load on A, a file that keeps
 * A and adds B: no failed request on A, B serves after, status shows
 * both; then a file with B only: B served throughout, A refuses
 * connections once the old master is gone. An address in use: exit 1,
 * one line naming it, the old master and its workers as they were; a
 * file that does not parse: exit 2, nothing changed. The real binary,
 * hello-http's workers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/cli/jval.h"
#include "envt.h"
#include "hp.h"
#include "test.h"

/* A listening socket on 127.0.0.1:0 (kept: the address stays in use):
 * the fd, its port in *port. */
static int listener(int *port) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  CHECK(listen(fd, 4) == 0);
  CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
  *port = ntohs(sa.sin_port);
  return fd;
}

/* A port nobody listens on now (the kernel's pick, let go). */
static int free_port(void) {
  int port;
  CHECK(close(listener(&port)) == 0);
  return port;
}

/* connect(127.0.0.1:port) is refused, within ms. */
static int refused_within(int port, int ms) {
  uint64_t end = test_now_ms() + (uint64_t)ms;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  do {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    int r = connect(fd, (struct sockaddr *)&sa, sizeof sa), e = errno;
    CHECK(close(fd) == 0);
    if (r < 0 && e == ECONNREFUSED)
      return 1;
    (void)poll(NULL, 0, 20); /* the old master exits within its stop */
  } while (test_now_ms() < end);
  return 0;
}

/* app.conf: app ua on listen (a TOML value), two workers, GREETING. */
static const char *conf_of(const char *listen, const char *greeting) {
  char hh[PATH_MAX], text[PATH_MAX + 1024];
  CHECK(realpath(hello_http(), hh));
  snprintf(text, sizeof text, "[ua]\ncommand = \"%s\"\nlisten = %s\nworkers = 2\n"
           "env = { GREETING = \"%s\" }\n", hh, listen, greeting);
  return env_write("app.conf", text);
}

/* status --json: the master's pid, the workers' (sorted), listen. */
static int status_of(pid_t *master, pid_t *pids, char *listen, size_t n) {
  static char out[65536];
  int rc = env_sh(out, sizeof out, "%s status ua --json", env_herd());
  CHECK_MSG(rc == 0, "status: %d %s", rc, out);
  herd_val_t *v = jparse(out, strlen(out));
  CHECK_MSG(v, "%s", out);
  *master = (pid_t)jnum(jget(v, "pid"), 0);
  const herd_val_t *w = jget(v, "workers"), *l = jget(v, "listen");
  int k = 0;
  for (size_t i = 0; i < jlen(w) && k < 4; i++)
    pids[k++] = (pid_t)jnum(jget(jat(w, i), "pid"), 0);
  if (k == 2 && pids[1] < pids[0]) {
    pid_t t = pids[0];
    pids[0] = pids[1];
    pids[1] = t;
  }
  listen[0] = '\0';
  for (size_t i = 0; i < jlen(l); i++)
    snprintf(listen + strlen(listen), n - strlen(listen), "%s%s", i ? " " : "",
             jstr(jat(l, i), "?"));
  herd_val_free(v);
  return k;
}

static void greeting_is(int port, const char *want) {
  char body[256], w[64];
  snprintf(w, sizeof w, "%s\n", want);
  CHECK_EQ(http_get(port, "/env?GREETING", body, sizeof body), 200);
  CHECK_MSG(!strcmp(body, w), "port %d: GREETING '%s', expected '%s'", port, body, want);
}

/* herd upgrade ua -c app.conf: its exit status, its output in out. */
static int upgrade(char *out, size_t n) {
  return env_sh(out, n, "%s upgrade ua -c %s/app.conf 2>&1", env_herd(), env_home());
}

/* herd start -c app.conf (listen 127.0.0.1:0): the port it got. */
static int start_ua(void) {
  char out[4096];
  CHECK_MSG(env_sh(out, sizeof out, "%s start -c %s 2>&1", env_herd(),
                   conf_of("\"127.0.0.1:0\"", "one")) == 0, "%s", out);
  const char *on = strstr(out, " on 127.0.0.1:");
  CHECK_MSG(on, "%s", out);
  return atoi(on + 14);
}

/* The same master and workers as before, serving GREETING on port. */
static void unchanged(pid_t m0, const pid_t *w0, int port, const char *greeting) {
  pid_t m1, w1[4];
  char ls[1024];
  CHECK_EQ(status_of(&m1, w1, ls, sizeof ls), 2);
  CHECK_MSG(m1 == m0 && w1[0] == w0[0] && w1[1] == w0[1], "the app changed: master %d "
            "(was %d)", (int)m1, (int)m0);
  greeting_is(port, greeting);
}

/* One line only. */
static int one_line(const char *out) {
  const char *nl = strchr(out, '\n');
  return nl && !nl[1];
}

/* A kept and B added under load on A, then B only under load on B. */
TEST_T(upgrade_c_moves_listen_without_a_failed_request, 120) {
  char out[4096], want[256], ls[1024], two[128];
  int a = start_ua(), b = free_port();
  pid_t m0, w0[4], m1, w1[4];
  CHECK_EQ(status_of(&m0, w0, ls, sizeof ls), 2);

  snprintf(two, sizeof two, "[\"127.0.0.1:%d\", \"127.0.0.1:%d\"]", a, b);
  conf_of(two, "two");
  struct loader l1, l2;
  loader_start(&l1, a, 1);
  loader_start(&l2, a, 0);
  int rc = upgrade(out, sizeof out);
  long ok1, bad1, ok2, bad2;
  loader_stop(&l1, &ok1, &bad1);
  loader_stop(&l2, &ok2, &bad2);
  CHECK_MSG(rc == 0 && strstr(out, "ua: upgraded: master pid "), "exit %d: %s", rc, out);
  CHECK_MSG(bad1 == 0 && bad2 == 0, "A: failed: %ld keep-alive, %ld new-connection", bad1,
            bad2);
  CHECK(ok1 > 0 && ok2 > 0);
  printf("A kept, B added: %ld requests on A, 0 failed\n", ok1 + ok2);
  CHECK(pid_gone(m0, 1000));
  greeting_is(a, "two");
  greeting_is(b, "two");
  CHECK_EQ(status_of(&m1, w1, ls, sizeof ls), 2);
  snprintf(want, sizeof want, "127.0.0.1:%d 127.0.0.1:%d", a, b);
  CHECK_MSG(m1 != m0 && !strcmp(ls, want), "status: master %d, listen '%s'", (int)m1, ls);

  /* B only, under load on B: A refuses once the old master is gone */
  snprintf(two, sizeof two, "\"127.0.0.1:%d\"", b);
  conf_of(two, "three");
  int fds_before = count_fds_of(m1);
  loader_start(&l1, b, 1);
  loader_start(&l2, b, 0);
  rc = upgrade(out, sizeof out);
  loader_stop(&l1, &ok1, &bad1);
  loader_stop(&l2, &ok2, &bad2);
  CHECK_MSG(rc == 0, "exit %d: %s", rc, out);
  CHECK_MSG(bad1 == 0 && bad2 == 0, "B: failed: %ld keep-alive, %ld new-connection", bad1,
            bad2);
  CHECK(ok1 > 0 && ok2 > 0);
  printf("A dropped: %ld requests on B, 0 failed\n", ok1 + ok2);
  CHECK(pid_gone(m1, 1000));
  CHECK_MSG(refused_within(a, 5000), "127.0.0.1:%d still accepts", a);
  greeting_is(b, "three");
  CHECK_EQ(status_of(&m0, w0, ls, sizeof ls), 2);
  snprintf(want, sizeof want, "127.0.0.1:%d", b);
  CHECK_MSG(!strcmp(ls, want), "listen '%s'", ls);
  /* one socket fewer than the master that held two (A's is not kept);
   * a control connection (status_of's) may still be closing in the new
   * master under load: wait up to 5 s for the count to settle */
  int fds_after = count_fds_of(m0);
  for (uint64_t t0 = test_now_ms(); fds_after > fds_before - 1 && test_now_ms() - t0 < 5000;
       fds_after = count_fds_of(m0))
    usleep(20000);
  if (fds_after > fds_before - 1) {
    char cmd[96];
    snprintf(cmd, sizeof cmd, "ls -l /proc/%d/fd >&2", (int)m0);
    (void)system(cmd);
  }
  CHECK_MSG(fds_after > 0 && fds_after <= fds_before - 1, "the new master has %d fds, "
            "the old one had %d",
            fds_after, fds_before);
  CHECK_EQ(env_sh(out, sizeof out, "%s stop ua 2>&1", env_herd()), 0);
  CHECK(pid_gone(m0, 5000));
}

/* What fails leaves the old master and its workers serving: an address
 * in use, an option an upgrade cannot change (exit 1, one line); a file
 * that does not parse, or without the app (exit 2). A new metrics
 * address is bound by the new master. */
TEST_T(upgrade_c_failures_leave_the_app_as_it_was, 90) {
  char out[4096], want[512], ls[1024], two[160];
  int a = start_ua();
  pid_t m0, w0[4];
  CHECK_EQ(status_of(&m0, w0, ls, sizeof ls), 2);

  int c, busy = listener(&c);
  snprintf(two, sizeof two, "[\"127.0.0.1:%d\", \"127.0.0.1:%d\"]", a, c);
  conf_of(two, "two");
  int rc = upgrade(out, sizeof out);
  snprintf(want, sizeof want, "the new master: --listen 127.0.0.1:%d: Address already in use",
           c);
  CHECK_MSG(rc == 1 && one_line(out) && strstr(out, want) && strstr(out, "goes on serving"),
            "exit %d: %s", rc, out);
  unchanged(m0, w0, a, "one");
  CHECK_EQ(close(busy), 0);

  snprintf(two, sizeof two, "\"127.0.0.1:%d\"\nbalance = \"roundrobin\"", a);
  conf_of(two, "two");
  rc = upgrade(out, sizeof out);
  CHECK_MSG(rc == 1 && one_line(out) && strstr(out, "cannot upgrade: cannot change balance "
                                                    "with an upgrade"), "exit %d: %s", rc, out);
  unchanged(m0, w0, a, "one");

  env_write("app.conf", "[ua\ncommand = \"x\"\n");
  rc = upgrade(out, sizeof out);
  CHECK_MSG(rc == 2 && one_line(out), "exit %d: %s", rc, out);
  conf_of("\"127.0.0.1:0\"", "two");
  rc = env_sh(out, sizeof out, "%s upgrade other -c %s/app.conf 2>&1", env_herd(),
              env_home());
  CHECK_MSG(rc == 2 && strstr(out, "has no app named 'other'") && one_line(out),
            "exit %d: %s", rc, out);
  unchanged(m0, w0, a, "one");

  /* herd start -c on the running app, listen changed: the way named */
  snprintf(two, sizeof two, "\"127.0.0.1:%d\"", free_port());
  const char *conf = conf_of(two, "two");
  rc = env_sh(out, sizeof out, "%s start -c %s 2>&1", env_herd(), conf);
  snprintf(want, sizeof want, "cannot change listen while the app runs (herd upgrade ua "
           "-c %s does it without downtime)", conf);
  CHECK_MSG(rc == 2 && strstr(out, want) && one_line(out), "exit %d: %s", rc, out);
  unchanged(m0, w0, a, "one");

  /* and metrics: bound by the new master */
  int mp = free_port();
  snprintf(two, sizeof two, "\"127.0.0.1:%d\"\nmetrics = \"127.0.0.1:%d\"", a, mp);
  conf_of(two, "two");
  CHECK_MSG(upgrade(out, sizeof out) == 0, "%s", out);
  greeting_is(a, "two");
  char body[256];
  CHECK_EQ(http_get(mp, "/healthz", body, sizeof body), 200);
  CHECK(pid_gone(m0, 1000));
  CHECK_EQ(env_sh(out, sizeof out, "%s stop ua 2>&1", env_herd()), 0);
}

/* A failed upgrade is answered once the failed master has exited, not
 * before: until then an upgrade still runs, and a client told at once
 * that tried again at once was refused with "an upgrade is running".
 * The new master here is a wrapper that outlives its herd by a moment
 * (it traps the SIGTERM the old master sends). */
TEST_T(upgrade_c_failure_is_answered_when_it_is_over, 90) {
  char out[4096], want[512], ls[1024], two[160], wrap[PATH_MAX + 256], herd[PATH_MAX];
  int a = start_ua();
  pid_t m0, w0[4];
  CHECK_EQ(status_of(&m0, w0, ls, sizeof ls), 2);
  CHECK(realpath(env_herd(), herd));
  snprintf(wrap, sizeof wrap,
           "#!/bin/sh\ntrap 'sleep 1; exit 1' TERM\n'%s' \"$@\" &\nwait $!\nwait $!\n", herd);
  const char *bin = env_write("slow-herd", wrap);
  CHECK_EQ(chmod(bin, 0755), 0);
  int c, busy = listener(&c);
  snprintf(two, sizeof two, "[\"127.0.0.1:%d\", \"127.0.0.1:%d\"]", a, c);
  conf_of(two, "two");
  snprintf(want, sizeof want, "the new master: --listen 127.0.0.1:%d: Address already in use",
           c);
  for (int i = 0; i < 2; i++) {
    int rc = env_sh(out, sizeof out, "%s upgrade ua --binary %s -c %s/app.conf 2>&1",
                    env_herd(), bin, env_home());
    CHECK_MSG(rc == 1 && one_line(out) && strstr(out, want), "upgrade %d: exit %d: %s", i + 1,
              rc, out);
  }
  unchanged(m0, w0, a, "one");
  CHECK_EQ(close(busy), 0);
  CHECK_EQ(env_sh(out, sizeof out, "%s stop ua 2>&1", env_herd()), 0);
  CHECK(pid_gone(m0, 5000));
}
