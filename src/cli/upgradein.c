/*
 * upgradein.c - herd upgrade, the new master's side (`herd __upgrade`,
 * started by the old master: upgrade.c has the protocol). It answers
 * hello, builds the app from HERD_UPGRADE's settings, and runs
 * master_main on the sockets it was given (fds 4..), its control socket
 * and pid file at temporary names (.NAME.up, .NAME.up-pid: neither ends
 * in .sock or .pid, so herd list does not see them) until the old
 * master says go; then both are renamed over NAME.sock and NAME.pid
 * (atomic: a client connects to one master or the other, never to
 * nothing) and it says done.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "jval.h"
#include "master.h"
#include "opts.h"

#define START_WAIT_MS 10000

/* herd __upgrade's, on the heap: a static struct upin (17 KB, unused
 * by every other master) sat in .bss between the few small statics of
 * ours and musl's, which it spread over one resident page more */
static struct upin *the_upin;
static int have_upin;

struct upin *upin_get(void) {
  return have_upin ? the_upin : NULL;
}

int upin_paths(struct master *m, char *err, size_t errlen) {
  struct upin *u = m->upin;
  snprintf(u->real_sock, sizeof u->real_sock, "%s", m->sock_path);
  snprintf(u->real_pid, sizeof u->real_pid, "%s", m->pid_path);
  char sock[PATH_MAX], pid[PATH_MAX];
  if (snprintf(sock, sizeof sock, "%s/.%s.up", m->home, m->a->name) >= (int)sizeof sock ||
      snprintf(pid, sizeof pid, "%s/.%s.up-pid", m->home, m->a->name) >= (int)sizeof pid)
    return app_fail(err, errlen, "HERD_HOME %s: path too long", m->home);
  if (master_path_set(&m->sock_path, sock) < 0 || master_path_set(&m->pid_path, pid) < 0)
    return app_fail(err, errlen, "HERD_HOME %s: out of memory", m->home);
  return 0;
}

/* "go" (or the old master gone without a word): the names are ours. */
static void take_over(struct master *m) {
  struct upin *u = m->upin;
  if (rename(m->sock_path, u->real_sock) < 0 || rename(m->pid_path, u->real_pid) < 0) {
    logf_(m, "upgrade: cannot take the name: %s", strerror(errno));
    return;
  }
  if (master_path_set(&m->sock_path, u->real_sock) < 0 ||
      master_path_set(&m->pid_path, u->real_pid) < 0) {
    /* renamed, but our names still say .up: what we remove at the end
     * is gone already; the names under their new paths are left */
    logf_(m, "upgrade: took the name, but out of memory for its paths");
    return;
  }
  u->took = 1;
  home_watch(m);
  logf_(m, "upgrade: took over from master pid %d", (int)u->old);
}

static void chan_cb(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  (void)events;
  struct master *m = data;
  char buf[64];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  buf[n > 0 ? n : 0] = '\0';
  if (n > 0 && !strncmp(buf, "no", 2)) {
    logf_(m, "upgrade: the old master (pid %d) called it off: stopping",
          (int)m->upin->old);
    (void)herd_cluster_stop(m->c, 0);
  } else if (n <= 0 || !strncmp(buf, "go", 2)) {
    /* EOF without a word: the old master died: somebody must hold the
     * name, and our workers serve */
    take_over(m);
    if (n > 0 && m->upin->took)
      (void)!send(fd, "done\n", 5, MSG_NOSIGNAL);
  } else {
    return;
  }
  (void)herd_loop_del(loop, fd);
  (void)close(fd);
  m->status_fd = -1;
  m->upin->chan = -1;
}

int upin_watch(struct master *m) {
  if (m->status_fd < 0)
    return 0;
  if (fcntl(m->status_fd, F_SETFL, O_NONBLOCK) < 0)
    return -errno;
  return herd_loop_add(m->loop, m->status_fd, EPOLLIN, chan_cb, m);
}

void upin_end(struct master *m) {
  if (m->upin->took && !m->lost_name && herd_pidfile_check(m->pid_path) == getpid())
    (void)unlink(m->pid_path);
  /* --listen's Unix sockets came bound: the engine leaves their paths
   * (as systemd's), but they are the app's, gone with it (unless handed
   * over again; not before we took the name: the old master's still) */
  for (int i = 0; m->upin->took && !m->lost_name && i < m->upin->nlisten; i++)
    if (!strncmp(m->upin->listen[i], "unix:", 5))
      (void)unlink(m->upin->listen[i] + 5);
}

/* The app's listen[i] bound now (a fresh port, a new address): the fd,
 * its bound text into text; or -1 with err. */
static int bind_one(const char *spec, char *text, size_t tlen, char *err, size_t errlen) {
  herd_addr_t ad, bound;
  int r = herd_addr_parse(spec, &ad);
  if (r == 0)
    r = herd_listen_open(&ad, 0, 0, &bound);
  if (r < 0)
    return app_fail(err, errlen, "--listen %s: %s", spec, herd_strerror(r));
  snprintf(text, tlen, "%s", bound.text);
  return r;
}

int upin_listen(struct master *m, int *act_fds, char *err, size_t errlen) {
  struct upin *u = m->upin;
  struct app *a = m->a;
  char text[MAX_LISTEN][128];
  int from[MAX_LISTEN]; /* the old master's socket k, or -1: bound here */
  int i;
  for (i = 0; i < a->nlisten; i++) {
    from[i] = -1;
    for (int k = 0; k < u->nlisten; k++)
      if (u->at[k] == i)
        from[i] = k;
    if (from[i] >= 0) {
      act_fds[i] = u->fds[from[i]];
      snprintf(text[i], sizeof text[i], "%s", u->listen[from[i]]);
    } else if ((act_fds[i] = bind_one(a->listen[i], text[i], sizeof text[i], err,
                                      errlen)) < 0) {
      break;
    }
  }
  if (i < a->nlisten) { /* what was bound here, undone: the old master serves on */
    for (int j = 0; j < i; j++)
      if (from[j] < 0) {
        if (!strncmp(text[j], "unix:", 5))
          (void)unlink(text[j] + 5);
        (void)close(act_fds[j]);
      }
    return -1;
  }
  for (int k = 0; k < u->nlisten; k++) /* none is left over: at[] is the old's plan */
    if (u->at[k] >= a->nlisten)
      (void)close(u->fds[k]);
  for (i = 0; i < a->nlisten; i++) {
    u->fds[i] = act_fds[i];
    snprintf(u->listen[i], sizeof u->listen[i], "%s", text[i]);
    char *t = master_listen_text_add(m);
    if (t)
      snprintf(t, sizeof m->listen_text[0], "%s", text[i]);
    char msg[200];
    if (from[i] >= 0)
      say(msg, sizeof msg, "listening on %s (from master pid %d)", text[i], (int)u->old);
    else
      say(msg, sizeof msg, "listening on %s", text[i]);
    own_line(m, msg);
  }
  u->nlisten = a->nlisten;
  a->o.listen_fds = a->nlisten ? act_fds : NULL;
  a->o.nlisten_fds = (size_t)a->nlisten;
  a->o.listen = NULL;
  return 0;
}

/* Hello, and the old master's start (1), or its no (0). */
static int hello(int fd) {
  char line[128];
  int n = snprintf(line, sizeof line, "{\"hello\":\"herd\",\"version\":\"%s\",\"pid\":%d}\n",
                   HERD_VERSION_STRING, (int)getpid());
  if (write(fd, line, (size_t)n) != n || herd_fd_wait(fd, START_WAIT_MS) <= 0)
    return 0;
  ssize_t r = read(fd, line, sizeof line - 1);
  return r >= 5 && !strncmp(line, "start", 5);
}

/* The fds given: 3 the channel, 4.. the sockets, then --metrics'. */
static int take_fds(struct upin *u, const herd_val_t *v) {
  long long n = 0;
  if (jint(jget(v, "nlisten"), 0, MAX_LISTEN, &n) != 0)
    return -1;
  u->nlisten = (int)n;
  const herd_val_t *ls = jget(v, "listen");
  for (int i = 0; i < u->nlisten; i++) {
    u->fds[i] = 4 + i;
    /* none: systemd's, which the old master did not name either */
    snprintf(u->listen[i], sizeof u->listen[i], "%s", jstr(jat(ls, (size_t)i), ""));
  }
  const herd_val_t *at = jget(v, "at"); /* herd upgrade -c */
  u->remap = at != NULL;
  for (int i = 0; at && i < u->nlisten; i++) {
    long long k = -1;
    if (jint(jat(at, (size_t)i), 0, MAX_LISTEN - 1, &k) != 0)
      return -1;
    u->at[i] = (int)k;
  }
  const char *ma = jstr(jget(v, "metrics"), NULL);
  u->metrics_fd = ma ? 4 + u->nlisten : -1;
  if (ma)
    snprintf(u->metrics, sizeof u->metrics, "%s", ma);
  for (int fd = 3; fd < 4 + u->nlisten + (ma ? 1 : 0); fd++)
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
      return -1;
  return 0;
}

/* The app as the old master runs it: its settings, cwd, scale, file. */
static int build_app(struct app *a, const herd_val_t *v, char *err, size_t errlen) {
  char num[24];
  long long w = 0;
  app_init(a);
  a->from.kind = ORIGIN_CMDLINE;
  if (app_from_settings(a, jget(v, "app"), err, errlen) < 0)
    return -1;
  if (jint(jget(v, "workers"), 1, HERD_MAX_WORKERS, &w) == 0) {
    snprintf(num, sizeof num, "%lld", w);
    if (app_set(a, "workers", num, err, errlen) < 0)
      return -1;
  }
  const char *cwd = jstr(jget(v, "cwd"), NULL);
  if (cwd && app_set(a, "cwd", cwd, err, errlen) < 0)
    return -1;
  const char *conf = jstr(jget(v, "conf"), NULL);
  if (conf && !(a->conf_path = app_keep(a, conf)))
    return app_fail(err, errlen, "out of memory");
  return app_finish(a, err, errlen);
}

int cmd_upgrade_master(int argc, char **argv) {
  (void)argv;
  const char *env = getenv("HERD_UPGRADE");
  if (argc != 1 || !env || fcntl(3, F_GETFD) < 0) {
    fprintf(stderr, "herd: __upgrade is herd upgrade's own (run herd upgrade NAME)\n");
    return 2;
  }
  prog_name = "herd";
  struct upin *u = the_upin = calloc(1, sizeof *the_upin);
  if (!u) {
    fprintf(stderr, "herd: __upgrade: out of memory\n");
    return 1;
  }
  herd_val_t *v = jparse(env, strlen(env));
  u->chan = 3;
  long long old = 0;
  (void)jint(jget(v, "old"), 1, INT32_MAX, &old);
  u->old = (pid_t)old;
  const char *home = jstr(jget(v, "home"), NULL);
  if (!v || !home || take_fds(u, v) < 0 || setenv("HERD_HOME", home, 1) < 0 ||
      unsetenv("HERD_UPGRADE") < 0) {
    fprintf(stderr, "herd: __upgrade: a bad HERD_UPGRADE\n");
    herd_val_free(v);
    return 2;
  }
  if (!hello(u->chan)) {
    herd_val_free(v);
    return 1; /* the old master said no, or nothing: it says why */
  }
  struct app *a = calloc(1, sizeof *a);
  char err[600];
  if (!a || build_app(a, v, err, sizeof err) < 0) {
    if (!a)
      snprintf(err, sizeof err, "out of memory");
    struct jw w;
    jw_init(&w);
    jw_raw(&w, "{\"ok\":false,\"error\":", 20);
    jw_str(&w, err, strlen(err));
    jw_raw(&w, "}\n", 2);
    if (!w.err)
      (void)!write(u->chan, w.buf, w.len);
    jw_free(&w);
    herd_val_free(v);
    return 1;
  }
  herd_val_free(v);
  have_upin = 1;
  int code = master_main(a, 1, u->chan, NULL);
  /* the sockets were lent to the engine (as systemd's are) */
  for (int i = 0; i < u->nlisten; i++)
    (void)close(u->fds[i]);
  if (u->metrics_fd >= 0) /* (unless the master took it: closed there) */
    (void)close(u->metrics_fd);
  app_free(a);
  free(a);
  have_upin = 0;
  the_upin = NULL;
  free(u);
  return code;
}
