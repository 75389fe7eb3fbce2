/*
 * hp.c - see hp.h.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hp.h"


const char *build_dir(void) {
  const char *b = getenv("HERD_BUILD");
  return b ? b : "build";
}

const char *prog_dir(void) {
  const char *p = getenv("HERD_PROGS");
  return p && *p ? p : build_dir();
}

int hp_static(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  Elf64_Ehdr eh;
  int r = -1;
  if (pread(fd, &eh, sizeof eh, 0) == (ssize_t)sizeof eh && !memcmp(eh.e_ident, ELFMAG, SELFMAG) &&
      eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_phentsize == sizeof(Elf64_Phdr)) {
    r = 1;
    for (int i = 0; i < eh.e_phnum && r == 1; i++) {
      Elf64_Phdr ph;
      if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (Elf64_Off)i * sizeof ph)) !=
          (ssize_t)sizeof ph)
        r = -1;
      else if (ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC)
        r = 0;
    }
  }
  (void)close(fd);
  return r;
}

void path_of(char *buf, size_t n, const char *rel) {
  snprintf(buf, n, "%s/%s", prog_dir(), rel);
}

void hp_argv(char *argv[HP_ARGV_MAX], const char *const *args) {
  static char herd[PATH_MAX];
  char rel[PATH_MAX];
  path_of(rel, sizeof rel, "herd");
  CHECK_MSG(realpath(rel, herd) != NULL, "%s: not built", rel);
  int n = 0;
  argv[n++] = herd;
  for (int i = 0; args[i] && n < HP_ARGV_MAX - 1; i++)
    argv[n++] = (char *)args[i];
  argv[n] = NULL;
}

void hp_start_env(struct hp *h, uid_t uid, gid_t gid, const char *const *env,
                         const char *const *args) {
  memset(h, 0, sizeof *h);
  char *argv[HP_ARGV_MAX];
  hp_argv(argv, args);
  const char *herd = argv[0];
  herd_spawn_opts_t o = {0};
  o.stdio[0].kind = HERD_STDIO_IGNORE;
  o.stdio[1].kind = HERD_STDIO_IGNORE;
  o.stdio[2].kind = HERD_STDIO_PIPE;
  if (env) {
    o.env_mode = HERD_ENV_ADD;
    o.env = env;
  }
  if (uid != geteuid()) {
    o.flags |= HERD_SPAWN_SETUID | HERD_SPAWN_SETGID;
    o.uid = uid;
    o.gid = gid;
  }
  CHECK_OK(herd_spawn(&h->c, herd, argv, &o));
}

void hp_start(struct hp *h, const char *const *args) {
  hp_start_env(h, geteuid(), getegid(), NULL, args);
}

pid_t hp_worker_pid(struct hp *h, int slot) {
  char needle[64];
  snprintf(needle, sizeof needle, "worker %d started, pid ", slot);
  const char *last = NULL;
  for (const char *p = h->log; (p = strstr(p, needle)); p++)
    last = p;
  CHECK_MSG(last, "herd never said '%s'; it said:\n%s", needle, h->log);
  return atoi(last + strlen(needle));
}

int pid_gone(pid_t pid, int timeout_ms) {
  int pfd = herd_pidfd_open(pid);
  if (pfd < 0)
    return pfd == -ESRCH;
  int r = herd_fd_wait(pfd, timeout_ms);
  close(pfd);
  return r == 1;
}

/* One read of herd's stderr, waiting up to ms for it. 0 once nothing
 * more will come (EOF), 1 otherwise. */
static int hp_read_some(struct hp *h, int ms) {
  if (h->c.stdio[2] < 0)
    return 0;
  struct pollfd p = {.fd = h->c.stdio[2], .events = POLLIN};
  if (poll(&p, 1, ms) <= 0)
    return 1;
  if (h->len >= sizeof h->log - 1) {
    memmove(h->log, h->log + sizeof h->log / 2, sizeof h->log / 2);
    h->len -= sizeof h->log / 2;
    h->mark = h->mark > sizeof h->log / 2 ? h->mark - sizeof h->log / 2 : 0;
  }
  ssize_t r = read(h->c.stdio[2], h->log + h->len, sizeof h->log - 1 - h->len);
  if (r <= 0) {
    close(h->c.stdio[2]);
    h->c.stdio[2] = -1;
    return 0;
  }
  h->len += (size_t)r;
  h->log[h->len] = '\0';
  return 1;
}

/* Read herd's stderr until NEEDLE has appeared COUNT times in all. */
int hp_wait(struct hp *h, const char *needle, int count, int timeout_ms) {
  uint64_t deadline = test_now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    int seen = 0;
    for (const char *p = h->log; (p = strstr(p, needle)); p++)
      seen++;
    if (seen >= count)
      return 1;
    uint64_t now = test_now_ms();
    if (h->c.stdio[2] < 0 || now >= deadline)
      return 0;
    (void)hp_read_some(h, (int)(deadline - now));
  }
}

void hp_mark(struct hp *h) {
  h->mark = h->len;
}

int hp_wait_new(struct hp *h, const char *needle, int timeout_ms) {
  uint64_t deadline = test_now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    char *hit = strstr(h->log + h->mark, needle);
    if (hit) {
      h->mark = (size_t)(hit - h->log) + strlen(needle);
      return 1;
    }
    uint64_t now = test_now_ms();
    if (now >= deadline)
      return 0;
    if (!hp_read_some(h, (int)(deadline - now)))
      return strstr(h->log + h->mark, needle) != NULL;
  }
}

void hp_port(struct hp *h) {
  HP_WAIT(h, "listening on 127.0.0.1:", 1);
  const char *p = strstr(h->log, "listening on 127.0.0.1:");
  h->port = atoi(p + strlen("listening on 127.0.0.1:"));
  CHECK(h->port > 0);
}

/* Stop herd with SIG and return its exit status (reading the rest). */
int hp_stop(struct hp *h, int sig) {
  if (sig)
    CHECK_OK(herd_child_kill(&h->c, sig, 0));
  hp_wait(h, "\x01never", 1, 20000); /* read to EOF */
  CHECK_OK(herd_child_wait(&h->c, 20000));
  int st = herd_child_status(&h->c);
  herd_child_close(&h->c);
  return st;
}

int last_close; /* the last response said Connection: close */
char last_err[256]; /* why http_on failed */

/* One request on fd; returns the status, fills body. -1 on any error. */
int http_on(int fd, const char *path, int keep, char *body, size_t n) {
  char req[256];
  int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n", path,
                     keep ? "" : "Connection: close\r\n");
  if (send(fd, req, (size_t)len, MSG_NOSIGNAL) != len) {
    snprintf(last_err, sizeof last_err, "send: %s", strerror(errno));
    return -1;
  }
  char buf[4096];
  size_t got = 0;
  for (;;) {
    ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
    if (r <= 0) {
      snprintf(last_err, sizeof last_err, "recv after %zu bytes: %s", got,
               r == 0 ? "EOF" : strerror(errno));
      return -1;
    }
    got += (size_t)r;
    buf[got] = '\0';
    char *hend = strstr(buf, "\r\n\r\n");
    if (!hend)
      continue;
    char *cl = strcasestr(buf, "Content-Length:");
    if (!cl)
      return -1;
    size_t blen = (size_t)atol(cl + 15);
    last_close = strcasestr(buf, "Connection: close") != NULL;
    size_t have = got - (size_t)(hend + 4 - buf);
    if (have < blen)
      continue;
    if (body) {
      size_t k = blen < n - 1 ? blen : n - 1;
      memcpy(body, hend + 4, k);
      body[k] = '\0';
    }
    return atoi(buf + 9);
  }
}

int http_get(int port, const char *path, char *body, size_t n) {
  int fd = test_connect_port(port);
  if (fd < 0) {
    snprintf(last_err, sizeof last_err, "connect: %s", strerror(-fd));
    return -1;
  }
  int st = http_on(fd, path, 0, body, n);
  close(fd);
  return st;
}


void loader_start(struct loader *l, int port, int keep) {
  int stop[2], res[2];
  CHECK(pipe2(stop, O_CLOEXEC) == 0 && pipe2(res, O_CLOEXEC) == 0);
  l->pid = fork();
  CHECK(l->pid >= 0);
  if (l->pid == 0) {
    /* Only our two pipe ends: another loader's stop pipe held open here
     * would keep that loader running forever. */
    for (int fd = 3; fd < 4096; fd++)
      if (fd != stop[0] && fd != res[1])
        close(fd);
    long ok = 0, bad = 0, refused = 0;
    int fd = -1;
    for (;;) {
      struct pollfd p = {.fd = stop[0], .events = POLLIN};
      if (poll(&p, 1, 0) > 0)
        break;
      if (fd < 0 && (fd = test_connect_port(port)) < 0) {
        bad++;
        refused++;
        fd = -1;
        continue;
      }
      char body[64];
      int st = http_on(fd, "/", keep, body, sizeof body);
      if (st == 200)
        ok++;
      else
        bad++;
      if (!keep || st != 200 || last_close) {
        /* as any HTTP/1.1 client: Connection: close ends it */
        close(fd);
        fd = -1;
      }
    }
    long r[3] = {ok, bad, refused};
    ssize_t w = write(res[1], r, sizeof r);
    _exit(w == sizeof r ? 0 : 1);
  }
  close(stop[0]);
  close(res[1]);
  l->stop_w = stop[1];
  l->res_r = res[0];
}

long last_refused; /* of the last loader_stop */

void loader_stop(struct loader *l, long *ok, long *bad) {
  close(l->stop_w);
  long r[3] = {0, 0, 0};
  CHECK_EQ(read(l->res_r, r, sizeof r), (long long)sizeof r);
  close(l->res_r);
  int st;
  CHECK_EQ(waitpid(l->pid, &st, 0), l->pid);
  *ok = r[0];
  *bad = r[1];
  last_refused = r[2];
}

int sh_out(const char *cmd, char *out, size_t n) {
  FILE *f = popen(cmd, "r");
  CHECK(f);
  size_t got = fread(out, 1, n - 1, f);
  out[got] = '\0';
  int st = pclose(f);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int count_fds_of(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
  DIR *d = opendir(path);
  if (!d)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

int have_node(void) {
  herd_exec_result_t r;
  char *argv[] = {"node", "-v", NULL};
  if (herd_exec_file("node", argv, NULL, &r) < 0)
    return 0;
  int ok = r.reason == HERD_EXEC_EXITED && r.exit_code == 0;
  herd_exec_result_free(&r);
  return ok;
}

static char hello[4096];
const char *hello_http(void) {
  path_of(hello, sizeof hello, "examples/hello-http");
  return hello;
}

/* Pids of the workers now serving, from "worker N started, pid P" lines
 * of the last generation: ask them via /pid instead - it is what serves. */
int distinct_pids(int port, int tries, pid_t *pids, int max) {
  int n = 0;
  for (int i = 0; i < tries; i++) {
    char body[64];
    if (http_get(port, "/pid", body, sizeof body) != 200)
      continue;
    pid_t p = atoi(body);
    int seen = 0;
    for (int k = 0; k < n; k++)
      seen |= pids[k] == p;
    if (!seen && n < max)
      pids[n++] = p;
  }
  return n;
}

/* The children of PID, from /proc/PID/task/PID/children. */
int children_of(pid_t pid, pid_t *out, int max) {
  char path[96];
  snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  int n = 0, v;
  while (n < max && fscanf(f, "%d", &v) == 1)
    out[n++] = v;
  fclose(f);
  return n;
}

char proc_state(pid_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return 0; /* gone: reaped */
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *rp = strrchr(buf, ')');
  return rp && rp[1] ? rp[2] : '?';
}

int hp_ctl(const char *name, const char *req, char *reply, size_t n) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s.sock", getenv("HERD_HOME"), name);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  size_t len = strlen(req);
  if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len ||
      send(fd, "\n", 1, MSG_NOSIGNAL) != 1) {
    close(fd);
    return -1;
  }
  size_t got = 0;
  while (got < n - 1) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 10000) <= 0)
      break;
    ssize_t r = read(fd, reply + got, 1);
    if (r <= 0 || reply[got] == '\n')
      break;
    got++;
  }
  reply[got] = '\0';
  close(fd);
  return got > 0 ? 0 : -1;
}
