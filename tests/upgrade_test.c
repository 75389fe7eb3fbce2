/*
 * upgrade_test.c - herd upgrade NAME (and SIGUSR2): the master replaced
 * by the binary on disk without a failed request; a binary that is not
 * herd, another major version, one that exits or hangs, a path that is
 * nothing: one line, an exit status, and the old master serving with
 * the same workers. The real binary, hello-http's workers.
 */
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../src/cli/jval.h"
#include "envt.h"
#include "hp.h"
#include "test.h"

/* herd start NAME (2 workers on 127.0.0.1:0, GREETING=one): its port. */
static int start_app(const char *name) {
  char out[4096], hh[PATH_MAX];
  CHECK(realpath(hello_http(), hh));
  int rc = env_sh(out, sizeof out, "%s start -n %s -w 2 -l 127.0.0.1:0 --env "
                  "GREETING=one -- %s 2>&1", env_herd(), name, hh);
  const char *on = strstr(out, " on 127.0.0.1:");
  CHECK_MSG(rc == 0 && on, "exit %d: %s", rc, out);
  return atoi(on + 14);
}

/* The master's pid and its workers' (sorted), from status --json. */
static int status_of(const char *name, pid_t *master, pid_t *pids, int max) {
  return env_status_pids(name, master, pids, max);
}

static pid_t pid_file(const char *name) {
  char path[PATH_MAX], buf[32] = "";
  snprintf(path, sizeof path, "%s/%s.pid", env_home(), name);
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  if (!fgets(buf, sizeof buf, f))
    buf[0] = '\0';
  fclose(f);
  return (pid_t)atoi(buf);
}

static void greeting_is(int port, const char *want) {
  char body[256], w[64];
  snprintf(w, sizeof w, "%s\n", want);
  for (int i = 0; i < 4; i++) {
    CHECK_EQ(http_get(port, "/env?GREETING", body, sizeof body), 200);
    CHECK_MSG(!strcmp(body, w), "GREETING: '%s', expected '%s'", body, want);
  }
}

static void stop(const char *name) {
  char out[1024];
  int rc = env_sh(out, sizeof out, "%s stop %s 2>&1", env_herd(), name);
  CHECK_MSG(rc == 0, "stop: %d %s", rc, out);
}

/* Under load, to the same binary: not one request fails; the new master
 * is in the pid file and answers status with new workers and the same
 * options; the old one is gone; stop works on it. */
TEST_T(upgrade_under_load_fails_no_request, 90) {
  int port = start_app("up");
  pid_t old, before[4], master, after[4];
  CHECK_EQ(status_of("up", &old, before, 4), 2);
  CHECK_EQ(pid_file("up"), old);
  struct loader l1, l2;
  loader_start(&l1, port, 1);
  loader_start(&l2, port, 0);
  char out[4096], want[128];
  uint64_t t0 = test_now_ms();
  int rc = env_sh(out, sizeof out, "%s upgrade up 2>&1", env_herd());
  uint64_t took = test_now_ms() - t0;
  snprintf(want, sizeof want, "(was %d)\n", (int)old);
  CHECK_MSG(rc == 0 && !strncmp(out, "up: upgraded: master pid ", 25) && strstr(out, want),
            "exit %d: %s", rc, out);
  pid_t said = (pid_t)atoi(out + 25);
  /* herd upgrade returns once the old master has exited */
  CHECK_MSG(pid_gone(old, 1000), "the old master %d is still there", (int)old);
  greeting_is(port, "one");
  long ok1, bad1, ok2, bad2;
  loader_stop(&l1, &ok1, &bad1);
  loader_stop(&l2, &ok2, &bad2);
  CHECK_MSG(bad1 == 0 && bad2 == 0, "failed: %ld keep-alive, %ld new-connection", bad1,
            bad2);
  CHECK(ok1 > 0 && ok2 > 0);
  printf("upgrade_under_load_fails_no_request: %ld requests, 0 failed; herd upgrade "
         "took %llu ms\n", ok1 + ok2, (unsigned long long)took);
  CHECK_EQ(status_of("up", &master, after, 4), 2);
  CHECK_MSG(master == said && master != old, "status: master %d, upgrade said %d",
            (int)master, (int)said);
  CHECK_EQ(pid_file("up"), master);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++)
      CHECK_MSG(after[i] != before[j], "worker %d served before and after", (int)after[i]);
  /* no temporary name left in HERD_HOME */
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/.up.up", env_home());
  CHECK(access(path, F_OK) < 0);
  snprintf(path, sizeof path, "%s/.up.up-pid", env_home());
  CHECK(access(path, F_OK) < 0);
  /* driven by name as any app: a reload, a stop */
  CHECK_EQ(env_sh(out, sizeof out, "%s reload up 2>&1", env_herd()), 0);
  stop("up");
  CHECK(pid_gone(master, 5000));
  CHECK_EQ(pid_file("up"), 0);
}

/* SIGUSR2 to the daemon: the same, with the binary it was started from. */
TEST_T(upgrade_on_sigusr2, 60) {
  int port = start_app("usr2");
  pid_t old, before[4], master = 0, after[4];
  CHECK_EQ(status_of("usr2", &old, before, 4), 2);
  CHECK_EQ(kill(old, SIGUSR2), 0);
  CHECK_MSG(pid_gone(old, 20000), "the old master %d is still there", (int)old);
  CHECK_EQ(status_of("usr2", &master, after, 4), 2);
  CHECK(master > 0 && master != old);
  CHECK_EQ(pid_file("usr2"), master);
  greeting_is(port, "one");
  char out[4096];
  int rc = env_sh(out, sizeof out, "grep -c 'upgrade: starting .* (SIGUSR2)' %s/logs/"
                  "usr2-herd.log", env_home());
  CHECK_MSG(rc == 0 && atoi(out) == 1, "%s", out);
  stop("usr2");
}

/* A script in HERD_HOME: its path. */
static const char *script(const char *name, const char *body) {
  char text[1024];
  snprintf(text, sizeof text, "#!/bin/sh\n%s\n", body);
  const char *p = env_write(name, text);
  CHECK_EQ(chmod(p, 0755), 0);
  return p;
}

/* Each bad binary: one line (with `want` in it), exit status `code`, and
 * the old master serving with the same workers. */
static void refused(int port, pid_t old, const pid_t *before, const char *bin,
                    int code, const char *want) {
  char out[4096];
  int rc = env_sh(out, sizeof out, "%s upgrade bad --binary %s 2>&1", env_herd(), bin);
  char *nl = strchr(out, '\n');
  CHECK_MSG(rc == code && strstr(out, want) && nl && !nl[1],
            "--binary %s: exit %d (not %d): %s", bin, rc, code, out);
  pid_t master, now[4];
  CHECK_EQ(status_of("bad", &master, now, 4), 2);
  CHECK_EQ(master, old);
  CHECK_EQ(pid_file("bad"), old);
  CHECK_MSG(now[0] == before[0] && now[1] == before[1], "--binary %s: workers changed", bin);
  greeting_is(port, "one");
}

TEST_T(upgrade_to_a_bad_binary_leaves_the_old_master_serving, 90) {
  int port = start_app("bad");
  pid_t old, before[4];
  CHECK_EQ(status_of("bad", &old, before, 4), 2);
  refused(port, old, before, "/bin/true", 1, "without answering as herd");
  refused(port, old, before, script("exit1", "echo oops >&2; exit 1"), 1,
          "without answering as herd");
  refused(port, old, before, "/nonexistent/herd", 2,
          "herd upgrade: --binary /nonexistent/herd: No such file or directory");
  refused(port, old, before, script("major", "echo '{\"hello\":\"herd\",\"version\":"
                                             "\"99.0.0\",\"pid\":1}' >&3; exec sleep 30"),
          1, "it is herd 99.0.0, another major version");
  /* no hello at all: 5 s, then killed */
  const char *hang = script("hang", "exec sleep 30");
  refused(port, old, before, hang, 1, "no answer in 5 s");
  char out[1024];
  CHECK_EQ(env_sh(out, sizeof out, "pgrep -f 'sleep 30' -P %d | wc -l", (int)old), 0);
  /* while an upgrade runs, what would change the app the new master
   * copies is refused (the log's second start of hang: this one) */
  int rc = env_sh(out, sizeof out,
                  "%s upgrade bad --binary %s >/dev/null 2>&1 & "
                  "i=0; until [ $(grep -c 'upgrade: starting %s' %s/logs/bad-herd.log) = 2 ]; do "
                  "i=$((i+1)); [ $i -gt 200 ] && exit 99; sleep 0.05; done; "
                  "%s scale bad 3 2>&1; r=$?; wait; exit $r",
                  env_herd(), hang, hang, env_home(), env_herd());
  CHECK_MSG(rc == 1 && strstr(out, "cannot scale: an upgrade is running"), "exit %d: %s",
            rc, out);
  CHECK_MSG(atoi(out) == 0, "a refused binary is still running under the master: %s", out);
  /* and a good upgrade after all of them */
  CHECK_EQ(env_sh(out, sizeof out, "%s upgrade bad 2>&1", env_herd()), 0);
  CHECK(pid_gone(old, 1000));
  stop("bad");
}

/* herd run: the terminal's process is the master; nothing to replace it
 * with. One line, exit 1, the app untouched. */
TEST_T(upgrade_refuses_a_foreground_master, 60) {
  struct hp h;
  const char *args[] = {"run", "-n", "fg", "-w", "1", "-l", "127.0.0.1:0", "--",
                        hello_http(), NULL};
  hp_start(&h, args);
  hp_port(&h);
  HP_WAIT(&h, "1 worker ready", 1);
  char out[1024];
  int rc = env_sh(out, sizeof out, "%s upgrade fg 2>&1", env_herd());
  CHECK_MSG(rc == 1 && strstr(out, "cannot upgrade: this master runs in the foreground"),
            "exit %d: %s", rc, out);
  char body[64];
  CHECK_EQ(http_get(h.port, "/", body, sizeof body), 200);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

/* A connection to the Unix socket at path: 1 if accepted and answered. */
static int unix_http(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  CHECK(strlen(path) < sizeof sa.sun_path);
  memcpy(sa.sun_path, path, strlen(path) + 1);
  char body[64];
  int ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
           http_on(fd, "/", 0, body, sizeof body) == 200;
  if (fd >= 0)
    close(fd);
  return ok;
}

/* What else the master holds goes across too, twice in a row: a Unix
 * socket of --listen (its path kept by the old master, removed by the
 * last one's stop), --metrics' address, round robin's accepting. */
TEST_T(upgrade_hands_over_unix_sockets_and_metrics, 90) {
  char out[4096], hh[PATH_MAX], sock[PATH_MAX];
  CHECK(realpath(hello_http(), hh));
  snprintf(sock, sizeof sock, "%s/app.http", env_home());
  int rc = env_sh(out, sizeof out, "%s start -n ux -w 2 -l 127.0.0.1:0 -l unix:%s "
                  "--metrics 127.0.0.1:0 --balance roundrobin -- %s 2>&1", env_herd(),
                  sock, hh);
  const char *on = strstr(out, " on 127.0.0.1:"), *mon = strstr(out, "metrics on 127.0.0.1:");
  CHECK_MSG(rc == 0 && on && mon, "exit %d: %s", rc, out);
  int port = atoi(on + 14), mport = atoi(mon + 21);
  for (int round = 0; round < 2; round++) {
    pid_t old = pid_file("ux");
    int nfds = count_fds_of(old);
    rc = env_sh(out, sizeof out, "%s upgrade ux 2>&1", env_herd());
    CHECK_MSG(rc == 0, "exit %d: %s", rc, out);
    CHECK(pid_gone(old, 1000));
    /* the new master holds no more than the old one did: no fd of the
     * hand-over left open (the channel, a dup of a socket); a daemon
     * of herd start also keeps what its caller left open without
     * CLOEXEC (a shell's fds), which the new master, spawned with
     * exactly its fds, does not */
    int now = count_fds_of(pid_file("ux"));
    CHECK_MSG(now > 0 && now <= nfds, "round %d: %d fds, the old master had %d", round,
              now, nfds);
    CHECK_MSG(unix_http(sock), "round %d: %s does not serve", round, sock);
    char body[256];
    CHECK_EQ(http_get(port, "/", body, sizeof body), 200);
    CHECK_EQ(http_get(mport, "/healthz", body, sizeof body), 200);
  }
  stop("ux");
  CHECK_MSG(access(sock, F_OK) < 0, "%s is left behind", sock);
}

/* The new master cannot start its workers (the command is gone from
 * disk): its failure is the one line, and the old master serves on with
 * its workers; the new one's temporary files are gone with it. */
TEST_T(upgrade_whose_workers_cannot_start_leaves_the_old_master, 60) {
  char out[4096], hh[PATH_MAX], copy[PATH_MAX];
  CHECK(realpath(hello_http(), hh));
  snprintf(copy, sizeof copy, "%s/worker", env_home());
  CHECK_EQ(env_sh(out, sizeof out, "cp %s %s", hh, copy), 0);
  int rc = env_sh(out, sizeof out, "%s start -n gone -w 2 -l 127.0.0.1:0 -- %s 2>&1",
                  env_herd(), copy);
  const char *on = strstr(out, " on 127.0.0.1:");
  CHECK_MSG(rc == 0 && on, "exit %d: %s", rc, out);
  int port = atoi(on + 14);
  pid_t old, before[4], master, now[4];
  CHECK_EQ(status_of("gone", &old, before, 4), 2);
  CHECK_EQ(unlink(copy), 0);
  rc = env_sh(out, sizeof out, "%s upgrade gone 2>&1", env_herd());
  CHECK_MSG(rc == 1 && strstr(out, "the new master: worker 0: could not start a worker: '") &&
                strstr(out, "/worker': No such file or directory; this master") &&
                strchr(out, '\n') == out + strlen(out) - 1,
            "exit %d: %s", rc, out);
  CHECK_EQ(status_of("gone", &master, now, 4), 2);
  CHECK(master == old && now[0] == before[0] && now[1] == before[1]);
  char body[64], path[PATH_MAX];
  CHECK_EQ(http_get(port, "/", body, sizeof body), 200);
  snprintf(path, sizeof path, "%s/.gone.up", env_home());
  for (int i = 0; i < 100 && access(path, F_OK) == 0; i++)
    usleep(20000); /* the new master's exit has no event for us to wait on */
  CHECK(access(path, F_OK) < 0);
  stop("gone");
}
