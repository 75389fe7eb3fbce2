/*
 * emptyroot_test.c - what `FROM scratch` means: the static herd and a
 * static hello-http (make static) in a root of their own, with nothing
 * else but an empty /tmp and /dev/null (the workers' stdin; every
 * container runtime makes one): no /proc, no /etc, no libc, no shell.
 * herd serves, reloads on SIGHUP without a failed request, and stops on
 * SIGTERM with 0 and nothing left; `herd status` from inside says what
 * it cannot read. Then again with /proc mounted (in a mount namespace
 * of the test's own, so that the mount goes with it); as PID 1 of a PID
 * namespace; and with --user, from the root's /etc/passwd.
 *
 * Root only (chroot, mknod, mount); the network namespace is the
 * test's, so it talks to the workers over loopback.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "hp.h"

/* --helper chroot DIR PROG ARGS...: PROG (a path in DIR) run with DIR as
 * its root and / as its directory. */
int emptyroot_helper(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: herd-test --helper chroot DIR PROG [ARGS]\n");
    return 2;
  }
  if (chroot(argv[0]) < 0 || chdir("/") < 0) {
    fprintf(stderr, "chroot %s: %s\n", argv[0], strerror(errno));
    return 127;
  }
  execv(argv[1], argv + 1);
  fprintf(stderr, "%s in %s: %s\n", argv[1], argv[0], strerror(errno));
  return 127;
}

/* The static herd and hello-http: prog_dir()'s when they are static
 * (make test-static), else the build's static/ (make static). */
static int static_progs(char herd[PATH_MAX], char hello[PATH_MAX]) {
  const char *dirs[2] = {prog_dir(), NULL};
  char alt[PATH_MAX];
  snprintf(alt, sizeof alt, "%s/static", build_dir());
  dirs[1] = alt;
  for (int i = 0; i < 2; i++) {
    snprintf(herd, PATH_MAX, "%s/herd", dirs[i]);
    snprintf(hello, PATH_MAX, "%s/examples/hello-http", dirs[i]);
    if (hp_static(herd) == 1 && hp_static(hello) == 1)
      return 1;
  }
  return 0;
}

static void copy_exe(const char *from, const char *to) {
  int in = open(from, O_RDONLY | O_CLOEXEC);
  CHECK_MSG(in >= 0, "%s: %s", from, strerror(errno));
  int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
  CHECK_MSG(out >= 0, "%s: %s", to, strerror(errno));
  char buf[65536];
  ssize_t n;
  while ((n = read(in, buf, sizeof buf)) > 0)
    CHECK_EQ(write(out, buf, (size_t)n), n);
  CHECK_EQ(n, 0);
  CHECK_EQ(close(in), 0);
  CHECK_EQ(close(out), 0);
}

/* $HERD_HOME/root: the two programs, /tmp, /dev/null and an empty /proc
 * (a mount point); the runner removes it with the home. */
static void make_root(char root[PATH_MAX]) {
  char herd[PATH_MAX], hello[PATH_MAX], p[PATH_MAX + 32];
  if (geteuid() != 0)
    SKIP("not root: chroot, mknod and mount need it");
  if (!static_progs(herd, hello))
    SKIP("no static herd and hello-http (make static)");
  snprintf(root, PATH_MAX, "%s/root", getenv("HERD_HOME"));
  CHECK_EQ(mkdir(root, 0755), 0);
  snprintf(p, sizeof p, "%s/herd", root);
  copy_exe(herd, p);
  snprintf(p, sizeof p, "%s/hello-http", root);
  copy_exe(hello, p);
  snprintf(p, sizeof p, "%s/tmp", root);
  CHECK_EQ(mkdir(p, 0755), 0);
  CHECK_EQ(chmod(p, 01777), 0);
  snprintf(p, sizeof p, "%s/proc", root);
  CHECK_EQ(mkdir(p, 0555), 0);
  snprintf(p, sizeof p, "%s/dev", root);
  CHECK_EQ(mkdir(p, 0755), 0);
  snprintf(p, sizeof p, "%s/dev/null", root);
  CHECK_MSG(mknod(p, S_IFCHR | 0666, makedev(1, 3)) == 0, "mknod %s: %s", p, strerror(errno));
}

static const char *const root_env[] = {"HERD_HOME=/tmp/herd", NULL};

/* argv through the chroot helper: test_self() --helper chroot ROOT ARGS */
static void chroot_argv(char *argv[HP_ARGV_MAX], const char *root, const char *const *args) {
  int n = 0;
  argv[n++] = (char *)test_self();
  argv[n++] = "--helper";
  argv[n++] = "chroot";
  argv[n++] = (char *)root;
  for (int i = 0; args[i] && n < HP_ARGV_MAX - 1; i++)
    argv[n++] = (char *)args[i];
  argv[n] = NULL;
}

static void start_in(struct hp *h, const char *root, const char *const *args) {
  memset(h, 0, sizeof *h);
  char *argv[HP_ARGV_MAX];
  chroot_argv(argv, root, args);
  herd_spawn_opts_t o = {0};
  o.stdio[0].kind = HERD_STDIO_IGNORE;
  o.stdio[1].kind = HERD_STDIO_IGNORE;
  o.stdio[2].kind = HERD_STDIO_PIPE;
  o.env_mode = HERD_ENV_ADD;
  o.env = root_env;
  CHECK_OK(herd_spawn(&h->c, argv[0], argv, &o));
}

/* `herd ARGS` run in the root to its end: its exit code, its stdout and
 * stderr in out. */
static int herd_in(const char *root, const char *const *args, char *out, size_t n) {
  char *argv[HP_ARGV_MAX];
  chroot_argv(argv, root, args);
  herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
  o.spawn.env_mode = HERD_ENV_ADD;
  o.spawn.env = root_env;
  o.timeout_ms = 10000;
  herd_exec_result_t res = {0};
  CHECK_OK(herd_exec_file(argv[0], argv, &o, &res));
  snprintf(out, n, "%s%s", res.out ? res.out : "", res.err ? res.err : "");
  int code = res.reason == HERD_EXEC_EXITED ? res.exit_code : -1;
  herd_exec_result_free(&res);
  return code;
}

/* GET path from port, the whole answer (headers too) to EOF in buf:
 * the status code, or -1. */
static int fetch(int port, const char *path, char *buf, size_t n) {
  int fd = test_connect_port(port);
  if (fd < 0)
    return -1;
  char req[256];
  int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                     path);
  size_t got = 0;
  ssize_t r = send(fd, req, (size_t)len, MSG_NOSIGNAL) == len ? 1 : -1;
  while (r > 0 && got < n - 1)
    if ((r = recv(fd, buf + got, n - 1 - got, 0)) > 0)
      got += (size_t)r;
  buf[got] = '\0';
  CHECK_EQ(close(fd), 0);
  return r < 0 || strncmp(buf, "HTTP/1.1 ", 9) ? -1 : atoi(buf + 9);
}

/* Serve, look, reload under load, stop: in root, with /proc or not. */
static void serve_reload_stop(const char *root, int with_proc) {
  struct hp h;
  const char *args[] = {"/herd", "run", "-n", "scratch", "-w", "2", "-l", "127.0.0.1:0",
                        "--metrics", "127.0.0.1:0", "--", "/hello-http", NULL};
  start_in(&h, root, args);
  HP_WAIT(&h, "metrics on http://127.0.0.1:", 1);
  int mport = atoi(strstr(h.log, "metrics on http://127.0.0.1:") + 28);
  hp_port(&h);
  HP_WAIT(&h, "all 2 workers ready", 1);
  pid_t before[2] = {hp_worker_pid(&h, 0), hp_worker_pid(&h, 1)};
  char body[64];
  CHECK_EQ(http_get(h.port, "/", body, sizeof body), 200);

  char out[8192];
  const char *st[] = {"/herd", "status", "scratch", NULL};
  CHECK_EQ(herd_in(root, st, out, sizeof out), 0);
  CHECK_MSG(strstr(out, "2/2 workers ready"), "%s", out);
  if (with_proc)
    CHECK_MSG(!strstr(out, "/proc"), "%s", out);
  else
    CHECK_MSG(strstr(out, "no /proc"), "status says nothing of /proc:\n%s", out);
  /* the readiness probe and the metrics, which say what they lack */
  static char page[65536];
  CHECK_EQ(fetch(mport, "/readyz", page, sizeof page), 200);
  CHECK_EQ(fetch(mport, "/metrics", page, sizeof page), 200);
  CHECK_MSG(strstr(page, "herd_workers{app=\"scratch\"} 2"), "%s", page);
  if (with_proc)
    CHECK_MSG(strstr(page, "herd_master_rss_bytes{"), "%s", page);
  else
    CHECK_MSG(strstr(page, "# herd: no /proc") && !strstr(page, "herd_master_rss_bytes{"),
              "%s", page);

  struct loader l;
  loader_start(&l, h.port, 0);
  for (int i = 0; i < 100; i++)
    CHECK_EQ(http_get(h.port, "/", body, sizeof body), 200);
  CHECK_OK(herd_child_kill(&h.c, SIGHUP, 0));
  HP_WAIT(&h, "reload done", 1);
  HP_WAIT(&h, "stopped, up", 2);
  for (int i = 0; i < 100; i++)
    CHECK_EQ(http_get(h.port, "/", body, sizeof body), 200);
  long ok, bad;
  loader_stop(&l, &ok, &bad);
  CHECK_MSG(bad == 0 && ok > 0, "%ld requests failed, %ld answered", bad, ok);
  pid_t after[2] = {hp_worker_pid(&h, 0), hp_worker_pid(&h, 1)};
  for (int i = 0; i < 2; i++) {
    CHECK_MSG(after[i] != before[0] && after[i] != before[1], "pid %d survived the reload",
              (int)after[i]);
    CHECK(pid_gone(before[i], 5000));
  }

  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
  CHECK_MSG(strstr(h.log, "stopped\n"), "%s", h.log);
  for (int i = 0; i < 2; i++)
    CHECK_MSG(pid_gone(after[i], 5000), "worker %d left behind", (int)after[i]);
}

TEST_T(emptyroot_static_herd_serves_reloads_and_stops_without_proc, 90) {
  char root[PATH_MAX];
  make_root(root);
  serve_reload_stop(root, 0);
}

TEST_T(emptyroot_static_herd_serves_reloads_and_stops_with_proc, 90) {
  char root[PATH_MAX], proc[PATH_MAX + 8];
  make_root(root);
  /* the mount in a namespace of this test process's own: gone with it */
  if (unshare(CLONE_NEWNS) < 0)
    SKIP("unshare(CLONE_NEWNS): %s", strerror(errno));
  CHECK_MSG(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0, "%s", strerror(errno));
  snprintf(proc, sizeof proc, "%s/proc", root);
  CHECK_MSG(mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0,
            "mount proc on %s: %s", proc, strerror(errno));
  serve_reload_stop(root, 1);
  CHECK_MSG(umount(proc) == 0, "umount %s: %s", proc, strerror(errno));
}

static void write_file(const char *root, const char *rel, const char *text) {
  char p[PATH_MAX + 32];
  snprintf(p, sizeof p, "%s/%s", root, rel);
  int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  CHECK_MSG(fd >= 0, "%s: %s", p, strerror(errno));
  CHECK_EQ(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  CHECK_EQ(close(fd), 0);
}

/* --user in a static herd: musl reads /etc/passwd and /etc/group itself
 * (no NSS modules to load). Without them, a user name is a usage error
 * (2); with them, the workers run as that user. */
TEST_T(emptyroot_static_herd_user_from_etc_passwd, 60) {
  char root[PATH_MAX], out[8192];
  make_root(root);
  const char *run[] = {"/herd", "run", "-n", "asuser", "-w", "1", "--user", "app:app",
                       "-l", "127.0.0.1:0", "--", "/hello-http", NULL};
  CHECK_EQ(herd_in(root, run, out, sizeof out), 2);
  CHECK_MSG(strstr(out, "herd run: user: no such user 'app'\n"), "%s", out);
  char etc[PATH_MAX + 8];
  snprintf(etc, sizeof etc, "%s/etc", root);
  CHECK_EQ(mkdir(etc, 0755), 0);
  write_file(root, "etc/passwd", "root:x:0:0::/:/herd\napp:x:4242:4343::/:/herd\n");
  write_file(root, "etc/group", "root:x:0:\napp:x:4343:\n");
  struct hp h;
  start_in(&h, root, run);
  hp_port(&h);
  HP_WAIT(&h, "1 worker ready", 1);
  char body[64], path[64], st[4096];
  CHECK_EQ(http_get(h.port, "/", body, sizeof body), 200);
  snprintf(path, sizeof path, "/proc/%d/status", (int)hp_worker_pid(&h, 0));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  CHECK(fd >= 0);
  ssize_t n = read(fd, st, sizeof st - 1);
  CHECK(n > 0);
  st[n] = '\0';
  CHECK_EQ(close(fd), 0);
  CHECK_MSG(strstr(st, "\nUid:\t4242\t4242\t4242\t4242\n") &&
                strstr(st, "\nGid:\t4343\t4343\t4343\t4343\n") &&
                strstr(st, "\nGroups:\t4343 \n"),
            "%s", st);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

/* herd as PID 1 of a PID namespace of its own, as a container runs it:
 * the kernel drops a signal whose action is the default there, and herd
 * blocks its signals and reads them from a signalfd, so HUP still
 * reloads and TERM still stops, with 0. (Every process of the namespace
 * dies with its PID 1: nothing can be left after.) */
TEST_T(emptyroot_static_herd_as_pid_1_reloads_and_stops, 60) {
  char root[PATH_MAX];
  make_root(root);
  if (unshare(CLONE_NEWPID) < 0)
    SKIP("unshare(CLONE_NEWPID): %s", strerror(errno));
  struct hp h;
  const char *args[] = {"/herd", "run", "-n", "init", "-w", "2", "-l", "127.0.0.1:0",
                        "--", "/hello-http", NULL};
  start_in(&h, root, args); /* the namespace's first process: its PID 1 */
  hp_port(&h);
  HP_WAIT(&h, "all 2 workers ready", 1);
  /* the workers' pids are the namespace's, after 1 */
  for (int i = 0; i < 2; i++) {
    pid_t w = hp_worker_pid(&h, i);
    CHECK_MSG(w > 1 && w < 10, "worker %d has pid %d: herd is not PID 1 here", i, (int)w);
  }
  char body[64];
  CHECK_EQ(http_get(h.port, "/", body, sizeof body), 200);
  CHECK_OK(herd_child_kill(&h.c, SIGHUP, 0));
  HP_WAIT(&h, "reload done", 1);
  CHECK_EQ(http_get(h.port, "/", body, sizeof body), 200);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
  CHECK_MSG(strstr(h.log, "stop on SIGTERM") && strstr(h.log, "stopped\n"), "%s", h.log);
}
