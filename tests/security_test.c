/*
 * security_test.c - what herd lets through, and to whom: the credentials
 * of a worker run with --user, exactly what a worker inherits (fds and
 * environment) in each mode, and who may drive a master over its control
 * socket. (A HERD_HOME of another user, or one others may write, is
 * refused: hardening_test.c.) Through the real binary, loopback only.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hp.h"


extern char **environ;

/* A "Key:" line of /proc/PID/status, its value (tabs kept) in out. */
static void status_line(pid_t pid, const char *key, char *out, size_t n) {
  char path[64], line[512];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "re");
  CHECK_MSG(f, "%s: %s", path, strerror(errno));
  out[0] = '\0';
  size_t k = strlen(key);
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, key, k) && line[k] == ':') {
      char *v = line + k + 1;
      v[strcspn(v, "\n")] = '\0';
      while (*v == '\t' || *v == ' ')
        v++;
      size_t len = strlen(v);
      while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        v[--len] = '\0';
      snprintf(out, n, "%s", v);
    }
  fclose(f);
}


/* ---- 11. --user ------------------------------------------------------ */

/* --user nobody: the worker runs with nobody's uid and gid, all four of
 * each (real, effective, saved, filesystem), and none of root's groups:
 * its supplementary list is its own gid alone (setgroups to the one
 * group, as the manual says: "supplementary groups replaced by the
 * group"); --user nobody:GROUP takes that group instead. The master
 * stays root (it binds, reads every worker's /proc, kills). */
TEST_T(security_user_worker_has_its_ids_and_no_groups_of_roots, 60) {
  if (geteuid() != 0)
    SKIP("needs root for --user");
  struct passwd *pw = getpwnam("nobody");
  if (!pw)
    SKIP("no user nobody");
  struct group *gr = getgrnam("daemon");
  if (!gr)
    SKIP("no group daemon (for --user nobody:GROUP)");
  uid_t nuid = pw->pw_uid;
  gid_t ngid = pw->pw_gid, dgid = gr->gr_gid;
  /* the master with supplementary groups of its own, which must not
   * reach the workers */
  gid_t extra[2] = {0, dgid};
  CHECK_EQ(setgroups(2, extra), 0);
  for (int k = 0; k < 2; k++) {
    struct hp h;
    char user[64];
    snprintf(user, sizeof user, k ? "nobody:daemon" : "nobody");
    gid_t want_gid = k ? dgid : ngid;
    const char *args[] = {"run", "-n", "u", "-w", "1", "--user", user, "-l", "127.0.0.1:0",
                          "--", hello_http(), NULL};
    hp_start(&h, args);
    hp_port(&h);
    HP_WAIT(&h, "1 worker ready", 1);
    pid_t w = hp_worker_pid(&h, 0);
    char v[256], want[256];
    snprintf(want, sizeof want, "%d\t%d\t%d\t%d", (int)nuid, (int)nuid, (int)nuid, (int)nuid);
    status_line(w, "Uid", v, sizeof v);
    CHECK_STR(v, want);
    snprintf(want, sizeof want, "%d\t%d\t%d\t%d", (int)want_gid, (int)want_gid,
             (int)want_gid, (int)want_gid);
    status_line(w, "Gid", v, sizeof v);
    CHECK_STR(v, want);
    snprintf(want, sizeof want, "%d", (int)want_gid);
    status_line(w, "Groups", v, sizeof v);
    CHECK_MSG(!strcmp(v, want), "the worker's groups are '%s', expected '%s' alone", v, want);
    status_line(w, "CapEff", v, sizeof v);
    CHECK_STR(v, "0000000000000000");
    status_line(w, "CapPrm", v, sizeof v);
    CHECK_STR(v, "0000000000000000");
    /* the master: still root, its groups its own */
    status_line(h.c.pid, "Uid", v, sizeof v);
    CHECK_STR(v, "0\t0\t0\t0");
    char body[64];
    CHECK_EQ(http_get(h.port, "/pid", body, sizeof body), 200);
    CHECK_EQ(atoi(body), w);
    CHECK_EQ(hp_stop(&h, SIGTERM), 0);
  }
}

/* ---- 12. what reaches a worker ------------------------------------- */

struct fdinfo {
  int fd;
  char link[128];
  unsigned long flags;
};

/* Every fd of pid, ascending: its target and its open flags. */
static int fds_of(pid_t pid, struct fdinfo *out, int max) {
  char dir[64];
  snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
  DIR *d = opendir(dir);
  CHECK_MSG(d, "%s: %s", dir, strerror(errno));
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < max) {
    if (e->d_name[0] == '.')
      continue;
    struct fdinfo *f = &out[n++];
    memset(f, 0, sizeof *f);
    f->fd = atoi(e->d_name);
    char path[384], line[256];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    ssize_t k = readlink(path, f->link, sizeof f->link - 1);
    CHECK(k > 0);
    snprintf(path, sizeof path, "/proc/%d/fdinfo/%s", (int)pid, e->d_name);
    FILE *fi = fopen(path, "re");
    CHECK(fi);
    while (fgets(line, sizeof line, fi))
      if (!strncmp(line, "flags:", 6))
        f->flags = strtoul(line + 6, NULL, 8);
    fclose(fi);
  }
  closedir(d);
  for (int i = 0; i < n; i++) /* insertion sort: n is small */
    for (int j = i; j > 0 && out[j - 1].fd > out[j].fd; j--) {
      struct fdinfo t = out[j];
      out[j] = out[j - 1];
      out[j - 1] = t;
    }
  return n;
}

static int holds(const struct fdinfo *fds, int n, const char *link) {
  for (int i = 0; i < n; i++)
    if (!strcmp(fds[i].link, link))
      return 1;
  return 0;
}

/* The environment pid started with: entries in out (pointers into
 * buf), their number. */
static int environ_of(pid_t pid, char *buf, size_t n, char **out, int max) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  CHECK_MSG(fd >= 0, "%s: %s", path, strerror(errno));
  size_t got = 0;
  ssize_t r;
  while ((r = read(fd, buf + got, n - 1 - got)) > 0)
    got += (size_t)r;
  close(fd);
  CHECK(got < n - 1);
  buf[got] = '\0';
  int k = 0;
  for (char *p = buf; p < buf + got && k < max; p += strlen(p) + 1)
    out[k++] = p;
  return k;
}

/* The value of NAME in env (entries "K=V"), or NULL; *count how many. */
static const char *env_get(char **env, int n, const char *name, int *count) {
  const char *v = NULL;
  size_t len = strlen(name);
  *count = 0;
  for (int i = 0; i < n; i++)
    if (!strncmp(env[i], name, len) && env[i][len] == '=') {
      v = env[i] + len + 1;
      (*count)++;
    }
  return v;
}

static const char *const protocol_vars[] = {"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
                                            "NOTIFY_SOCKET", "HERD_WORKER_ID",
                                            "NODE_CHANNEL_FD",
                                            "NODE_CHANNEL_SERIALIZATION_MODE",
                                            "NODE_APP_INSTANCE", "NODE_UNIQUE_ID", NULL};

static int is_protocol_var(const char *entry) {
  for (int i = 0; protocol_vars[i]; i++) {
    size_t len = strlen(protocol_vars[i]);
    if (!strncmp(entry, protocol_vars[i], len) && entry[len] == '=')
      return 1;
  }
  return 0;
}

/* Worker w of slot (master m, nsock listening sockets, chan: a
 * channel) has exactly the fds and the environment herd promises, the
 * caller's environment (ours) whole, and nothing of the master's. */
static void check_contract(const char *what, pid_t m, pid_t w, int slot, int nsock, int chan) {
  struct fdinfo mf[512], wf[64];
  int nm = fds_of(m, mf, 512), nw = fds_of(w, wf, 64);
  int want = 3 + nsock + (chan ? 1 : 0);
  char list[1024] = "";
  for (int i = 0; i < nw; i++)
    snprintf(list + strlen(list), sizeof list - strlen(list), " %d:%s", wf[i].fd, wf[i].link);
  CHECK_MSG(nw == want, "%s: worker %d has %d fds, not %d:%s", what, (int)w, nw, want, list);
  for (int i = 0; i < nw; i++)
    CHECK_MSG(wf[i].fd == i, "%s: worker fds are not 0..%d:%s", what, want - 1, list);
  CHECK_MSG(!strcmp(wf[0].link, "/dev/null"), "%s: fd 0 is %s", what, wf[0].link);
  for (int i = 1; i <= 2; i++) /* the write end of a pipe whose read end herd holds */
    CHECK_MSG(!strncmp(wf[i].link, "pipe:[", 6) && holds(mf, nm, wf[i].link) &&
              (wf[i].flags & O_ACCMODE) == O_WRONLY,
              "%s: fd %d is %s (flags 0%lo)", what, i, wf[i].link, wf[i].flags);
  for (int i = 3; i < 3 + nsock; i++) {
    /* the master's own listening socket, the same open file */
    CHECK_MSG(!strncmp(wf[i].link, "socket:[", 8) && holds(mf, nm, wf[i].link),
              "%s: fd %d is %s, not one of the master's sockets", what, i, wf[i].link);
    CHECK_MSG(!(wf[i].flags & O_CLOEXEC), "%s: fd %d is close-on-exec", what, i);
    CHECK_MSG(!(wf[i].flags & O_NONBLOCK), "%s: fd %d is non-blocking", what, i);
  }
  if (chan) {
    /* the worker's end: the master holds the other one */
    CHECK_MSG(!strncmp(wf[3 + nsock].link, "socket:[", 8) && !holds(mf, nm, wf[3 + nsock].link),
              "%s: the channel fd %d is %s", what, 3 + nsock, wf[3 + nsock].link);
    CHECK_MSG(!(wf[3 + nsock].flags & O_CLOEXEC), "%s: the channel is close-on-exec", what);
  }

  static char buf[1 << 17];
  char *env[2048];
  int ne = environ_of(w, buf, sizeof buf, env, 2048);
  /* ours, whole: every variable of the caller but the protocol's */
  for (char **e = environ; *e; e++) {
    if (is_protocol_var(*e))
      continue;
    int found = 0;
    for (int i = 0; i < ne && !found; i++)
      found = !strcmp(env[i], *e);
    CHECK_MSG(found, "%s: the worker lacks the caller's %.80s", what, *e);
  }
  /* and nothing else but the protocol's */
  for (int i = 0; i < ne; i++) {
    if (is_protocol_var(env[i]))
      continue;
    int found = 0;
    for (char **e = environ; *e && !found; e++)
      found = !strcmp(env[i], *e);
    CHECK_MSG(found, "%s: the worker has %.80s, which is neither the caller's nor herd's",
              what, env[i]);
  }
  char v[64];
  int count;
  const char *x = env_get(env, ne, "LISTEN_FDS", &count);
  snprintf(v, sizeof v, "%d", nsock);
  CHECK_MSG(x && count == 1 && !strcmp(x, v), "%s: LISTEN_FDS=%s (x%d)", what, x, count);
  x = env_get(env, ne, "LISTEN_PID", &count);
  snprintf(v, sizeof v, "%d", (int)w);
  CHECK_MSG(x && count == 1 && !strcmp(x, v), "%s: LISTEN_PID=%s (x%d)", what, x, count);
  x = env_get(env, ne, "LISTEN_FDNAMES", &count);
  if (nsock) {
    CHECK_MSG(x && count == 1 && !strcmp(x, nsock == 1 ? "listen0" : "listen0:listen1"),
              "%s: LISTEN_FDNAMES=%s (x%d)", what, x, count);
  } else {
    CHECK_MSG(!x, "%s: LISTEN_FDNAMES=%s with no socket", what, x);
  }
  x = env_get(env, ne, "NOTIFY_SOCKET", &count);
  struct stat sst;
  CHECK_MSG(x && count == 1 && x[0] == '/' && stat(x, &sst) == 0 && S_ISSOCK(sst.st_mode),
            "%s: NOTIFY_SOCKET=%s (x%d)", what, x, count);
  x = env_get(env, ne, "HERD_WORKER_ID", &count);
  snprintf(v, sizeof v, "%d", slot);
  CHECK_MSG(x && count == 1 && !strcmp(x, v), "%s: HERD_WORKER_ID=%s (x%d)", what, x, count);
  x = env_get(env, ne, "NODE_APP_INSTANCE", &count); /* PM2's name for the slot */
  CHECK_MSG(x && count == 1 && !strcmp(x, v), "%s: NODE_APP_INSTANCE=%s (x%d)", what, x,
            count);
  x = env_get(env, ne, "NODE_UNIQUE_ID", &count); /* only with --node-cluster */
  CHECK_MSG(!x, "%s: NODE_UNIQUE_ID=%s", what, x);
  x = env_get(env, ne, "NODE_CHANNEL_FD", &count);
  snprintf(v, sizeof v, "%d", 3 + nsock);
  CHECK_MSG(chan ? x && count == 1 && !strcmp(x, v) : !x, "%s: NODE_CHANNEL_FD=%s", what, x);
  x = env_get(env, ne, "NODE_CHANNEL_SERIALIZATION_MODE", &count);
  CHECK_MSG(chan ? x && count == 1 && !strcmp(x, "json") : !x,
            "%s: NODE_CHANNEL_SERIALIZATION_MODE=%s", what, x);
}

/* The contract of what a worker gets, in herd run and in herd start,
 * with the shared socket, SO_REUSEPORT sockets, a channel (--ipc) and
 * round robin: fd 0 /dev/null, 1 and 2 pipes to herd, the listening
 * sockets from fd 3 (the master's own, blocking, not close-on-exec), the
 * channel after them, nothing else - none of the master's signalfd,
 * epoll, timerfd, inotify, control socket, notify socket, pid file or
 * log files; the caller's environment whole, plus exactly LISTEN_FDS,
 * LISTEN_PID, LISTEN_FDNAMES, NOTIFY_SOCKET, HERD_WORKER_ID and
 * NODE_APP_INSTANCE (and
 * NODE_CHANNEL_FD, NODE_CHANNEL_SERIALIZATION_MODE with a channel),
 * herd's values winning over the caller's. */
TEST_T(security_worker_gets_exactly_the_documented_fds_and_environment, 90) {
  /* the caller's own values of two of them, which herd's must replace */
  CHECK_EQ(setenv("HERD_WORKER_ID", "99", 1), 0);
  CHECK_EQ(setenv("LISTEN_FDNAMES", "decoy", 1), 0);
  CHECK_EQ(setenv("NODE_UNIQUE_ID", "7", 1), 0); /* a Node primary's: not theirs */
  CHECK_EQ(setenv("HERD_TEST_CONTRACT", "kept as it is = yes", 1), 0);
  static const struct {
    const char *name, *balance;
    int nsock, ipc;
  } modes[] = {
      {"shared2", "shared", 2, 0},
      {"ipc", "shared", 1, 1},
      {"reuse", "reuseport", 1, 0},
      {"rr", "roundrobin", 1, 0},
  };
  char herd[4096];
  path_of(herd, sizeof herd, "herd");
  for (int daemon = 0; daemon < 2; daemon++)
    for (size_t k = 0; k < sizeof modes / sizeof modes[0]; k++) {
      char what[64];
      snprintf(what, sizeof what, "herd %s, %s", daemon ? "start" : "run", modes[k].name);
      const char *args[32];
      int n = 0;
      if (daemon)
        args[n++] = herd;
      args[n++] = daemon ? "start" : "run";
      args[n++] = "-n";
      args[n++] = modes[k].name;
      args[n++] = "-w";
      args[n++] = "2";
      args[n++] = "--balance";
      args[n++] = modes[k].balance;
      for (int s = 0; s < modes[k].nsock; s++) {
        args[n++] = "-l";
        args[n++] = "127.0.0.1:0";
      }
      if (modes[k].ipc)
        args[n++] = "--ipc";
      args[n++] = "--";
      args[n++] = "sleep";
      args[n++] = "600";
      args[n] = NULL;
      int rr = !strcmp(modes[k].balance, "roundrobin");
      int nsock = rr ? 0 : modes[k].nsock, chan = rr || modes[k].ipc;
      if (!daemon) {
        struct hp h;
        hp_start(&h, args);
        HP_WAIT(&h, "all 2 workers ready", 1);
        for (int slot = 0; slot < 2; slot++)
          check_contract(what, h.c.pid, hp_worker_pid(&h, slot), slot, nsock, chan);
        CHECK_EQ(hp_stop(&h, SIGTERM), 0);
        continue;
      }
      herd_exec_result_t r;
      herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
      o.timeout_ms = 20000;
      CHECK_OK(herd_exec_file(herd, (char *const *)args, &o, &r));
      CHECK_MSG(r.exit_code == 0, "%s: herd start said %s%s", what, r.out, r.err);
      const char *mp = strstr(r.out, "master pid "), *wp = strstr(r.out, "(pids ");
      CHECK_MSG(mp && wp, "%s: herd start said %s%s", what, r.out, r.err);
      pid_t master = atoi(mp + 11);
      char *end;
      pid_t w0 = (pid_t)strtol(wp + 6, &end, 10), w1 = (pid_t)strtol(end, NULL, 10);
      herd_exec_result_free(&r);
      /* which slot is which: HERD_WORKER_ID says */
      for (int i = 0; i < 2; i++) {
        pid_t w = i ? w1 : w0;
        static char buf[1 << 17];
        char *env[2048];
        int ne = environ_of(w, buf, sizeof buf, env, 2048), count;
        const char *id = env_get(env, ne, "HERD_WORKER_ID", &count);
        CHECK(id);
        check_contract(what, master, w, atoi(id), nsock, chan);
      }
      char cmd[8400], out[4096];
      snprintf(cmd, sizeof cmd, "%s stop %s 2>&1", herd, modes[k].name);
      CHECK_MSG(sh_out(cmd, out, sizeof out) == 0, "%s: herd stop said %s", what, out);
    }
}

/* ---- 13. the control socket ---------------------------------------- */

/* In a child as uid/gid (no groups): connect to the unix socket path
 * and send req; connect's errno (0 if it connected) and the first reply
 * line in reply. */
static int as_user(uid_t uid, gid_t gid, const char *path, const char *req, char *reply,
                   size_t n) {
  int pp[2];
  CHECK(pipe2(pp, O_CLOEXEC) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    close(pp[0]);
    struct {
      int err;
      char reply[512];
    } r;
    memset(&r, 0, sizeof r);
    if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
      _exit(3);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
      r.err = errno;
    } else {
      /* (a refusal may come, and the connection end, before we send) */
      (void)!send(fd, req, strlen(req), MSG_NOSIGNAL);
      size_t got = 0;
      struct pollfd p = {.fd = fd, .events = POLLIN};
      while (got < sizeof r.reply - 1 && poll(&p, 1, 10000) == 1 &&
             read(fd, r.reply + got, 1) == 1 && r.reply[got] != '\n')
        got++;
      r.reply[got] = '\0';
    }
    _exit(write(pp[1], &r, sizeof r) == (ssize_t)sizeof r ? 0 : 4);
  }
  close(pp[1]);
  struct {
    int err;
    char reply[512];
  } r;
  CHECK_EQ(read(pp[0], &r, sizeof r), (long long)sizeof r);
  close(pp[0]);
  int st;
  CHECK_EQ(waitpid(pid, &st, 0), pid);
  CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "client as uid %d: status 0x%x", (int)uid,
            st);
  snprintf(reply, n, "%s", r.reply);
  return r.err;
}

static mode_t mode_of(const char *path) {
  struct stat st;
  CHECK_MSG(lstat(path, &st) == 0, "%s: %s", path, strerror(errno));
  return st.st_mode & 07777;
}

static uid_t owner_of(const char *path) {
  struct stat st;
  CHECK_MSG(lstat(path, &st) == 0, "%s: %s", path, strerror(errno));
  return st.st_uid;
}

/* The files a master makes are its user's alone: HERD_HOME and logs/
 * 0700, the control socket 0600, the notify socket 0600 in a 0700
 * directory of its own (0666 in a 0711 one with --user, whose workers
 * must reach it: what counts there is the sender's pid). A master of a
 * user other than root (here nobody) refuses a client of another user
 * even when the socket's mode would let it in (the peer's uid, from the
 * kernel), takes root's, and goes on. (herd start's socket:
 * herd_start_control_socket_refuses_other_users.) */
TEST_T(security_control_socket_is_the_owners_alone, 60) {
  if (geteuid() != 0)
    SKIP("needs root, to run the master and a client as two other users");
  struct passwd *pw = getpwnam("nobody"); /* (a static buffer: copied at once) */
  if (!pw)
    SKIP("needs the user nobody");
  uid_t nuid = pw->pw_uid;
  gid_t ngid = pw->pw_gid;
  if (!(pw = getpwnam("daemon")))
    SKIP("needs the user daemon");
  uid_t ouid = pw->pw_uid;
  gid_t ogid = pw->pw_gid;
  char home[4200], sock[4300], pidf[4300], logs[4300];
  CHECK_EQ(chmod(getenv("HERD_HOME"), 0711), 0);
  /* a directory of nobody's, where herd makes HERD_HOME itself */
  snprintf(home, sizeof home, "%s/nobody", getenv("HERD_HOME"));
  CHECK_EQ(mkdir(home, 0700), 0);
  CHECK_EQ(chown(home, nuid, ngid), 0);
  strcat(home, "/herd");
  snprintf(sock, sizeof sock, "%s/ctl.sock", home);
  snprintf(pidf, sizeof pidf, "%s/ctl.pid", home);
  snprintf(logs, sizeof logs, "%s/logs", home);
  /* herd makes HERD_HOME itself: the master as nobody, with log files */
  char henv[4300];
  snprintf(henv, sizeof henv, "HERD_HOME=%s", home);
  char herd[4096];
  path_of(herd, sizeof herd, "herd");
  char *argv[] = {herd, "run", "-n", "ctl", "-w", "1", "--log-files", "--", "sleep", "600",
                  NULL};
  const char *env[] = {henv, NULL};
  struct hp h;
  memset(&h, 0, sizeof h);
  herd_spawn_opts_t o = {0};
  o.stdio[0].kind = HERD_STDIO_IGNORE;
  o.stdio[1].kind = HERD_STDIO_IGNORE;
  o.stdio[2].kind = HERD_STDIO_PIPE;
  o.env_mode = HERD_ENV_ADD;
  o.env = env;
  o.flags = HERD_SPAWN_SETUID | HERD_SPAWN_SETGID;
  o.uid = nuid;
  o.gid = ngid;
  CHECK_OK(herd_spawn(&h.c, herd, argv, &o));
  HP_WAIT(&h, "1 worker ready", 1);
  CHECK_EQ(mode_of(home), 0700);
  CHECK_EQ(owner_of(home), nuid);
  CHECK_EQ(mode_of(logs), 0700);
  CHECK_EQ(mode_of(sock) & 0777, 0600);
  CHECK_EQ(owner_of(sock), nuid);
  CHECK_EQ(owner_of(pidf), nuid);
  CHECK_EQ(mode_of(pidf) & 0022, 0); /* nobody else writes it */
  /* the worker's notify socket */
  char path[64], envbuf[16384];
  pid_t w = hp_worker_pid(&h, 0);
  snprintf(path, sizeof path, "/proc/%d/environ", (int)w);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  CHECK(fd >= 0);
  ssize_t got = read(fd, envbuf, sizeof envbuf - 1);
  close(fd);
  CHECK(got > 0);
  envbuf[got] = '\0';
  char notify[256] = "";
  for (char *p = envbuf; p < envbuf + got; p += strlen(p) + 1)
    if (!strncmp(p, "NOTIFY_SOCKET=", 14))
      snprintf(notify, sizeof notify, "%s", p + 14);
  CHECK_MSG(notify[0] == '/', "NOTIFY_SOCKET=%s", notify);
  CHECK_EQ(mode_of(notify) & 0777, 0600);
  CHECK_EQ(owner_of(notify), nuid);
  char ndir[256];
  snprintf(ndir, sizeof ndir, "%s", notify);
  *strrchr(ndir, '/') = '\0';
  CHECK_EQ(mode_of(ndir), 0700);

  char reply[512];
  /* another user: the filesystem says no */
  int e = as_user(ouid, ogid, sock, "{\"cmd\":\"stop\"}\n", reply, sizeof reply);
  CHECK_MSG(e == EACCES, "connect as uid %d: %s, expected EACCES", (int)ouid, strerror(e));
  /* opened up by mistake: the master says no */
  char base[4200];
  snprintf(base, sizeof base, "%s", home);
  *strrchr(base, '/') = '\0';
  CHECK_EQ(chmod(base, 0711), 0);
  CHECK_EQ(chmod(home, 0711), 0);
  CHECK_EQ(chmod(sock, 0666), 0);
  e = as_user(ouid, ogid, sock, "{\"cmd\":\"stop\"}\n", reply, sizeof reply);
  CHECK_MSG(e == 0, "connect as uid %d: %s", (int)ouid, strerror(e));
  char want[160];
  snprintf(want, sizeof want, "{\"ok\":false,\"error\":\"permission denied: uid %d may not "
           "drive this app (owner uid %d)\"}", (int)ouid, (int)nuid);
  CHECK_STR(reply, want);
  /* its owner, and root, are served */
  e = as_user(nuid, ngid, sock, "{\"cmd\":\"ping\"}\n", reply, sizeof reply);
  CHECK_MSG(e == 0 && strstr(reply, "\"ok\":true"), "the owner: %s %s", strerror(e), reply);
  e = as_user(0, 0, sock, "{\"cmd\":\"ping\"}\n", reply, sizeof reply);
  CHECK_MSG(e == 0 && strstr(reply, "\"ok\":true"), "root: %s %s", strerror(e), reply);
  CHECK(!strstr(h.log, "stop requested"));
  CHECK_EQ(chmod(sock, 0600), 0);
  CHECK_EQ(chmod(home, 0700), 0);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);

  /* --user: the notify socket must take the workers' datagrams */
  const char *a2[] = {"run", "-n", "ctl2", "-w", "1", "--user", "nobody", "--", "sleep", "600",
                      NULL};
  hp_start(&h, a2);
  HP_WAIT(&h, "1 worker ready", 1);
  w = hp_worker_pid(&h, 0);
  snprintf(path, sizeof path, "/proc/%d/environ", (int)w);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  CHECK(fd >= 0);
  got = read(fd, envbuf, sizeof envbuf - 1);
  close(fd);
  CHECK(got > 0);
  envbuf[got] = '\0';
  notify[0] = '\0';
  for (char *p = envbuf; p < envbuf + got; p += strlen(p) + 1)
    if (!strncmp(p, "NOTIFY_SOCKET=", 14))
      snprintf(notify, sizeof notify, "%s", p + 14);
  CHECK_MSG(notify[0] == '/', "NOTIFY_SOCKET=%s", notify);
  CHECK_EQ(mode_of(notify) & 0777, 0666);
  snprintf(ndir, sizeof ndir, "%s", notify);
  *strrchr(ndir, '/') = '\0';
  CHECK_EQ(mode_of(ndir), 0711);
  snprintf(sock, sizeof sock, "%s/ctl2.sock", getenv("HERD_HOME"));
  CHECK_EQ(mode_of(sock) & 0777, 0600);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}
