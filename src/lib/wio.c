/*
 * wio.c - what workers say, and what they leave: their stdout and stderr
 * (pipes read line by line), their channel (--ipc), the notify socket
 * (sd_notify: READY=1, STOPPING=1, STATUS=), and the processes they
 * leave behind when they daemonize (they come back to us, the child
 * subreaper).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "linux/os.h"
#include "sup.h"

/* ---- output ----------------------------------------------------- */

static void out_emit(herd_cluster_t *c, struct worker *w, int stream, const char *p,
                     size_t n) {
  if (c->o.on_output)
    c->o.on_output(c, w->slot, w->pid, stream, p, n, c->o.data);
}

/* A partial line's buffer (b->data) is taken when the first bytes of a
 * line without its newline come, at the size they need (OUT_MIN_CAP at
 * least), doubled as the line grows, up to LINE_MAX_OUT: a worker that
 * never writes a partial line costs the master no buffer at all, one
 * that writes short ones a small one. Emptied (the line ended), it is
 * kept, so that a worker whose lines come in pieces does not take and
 * give back memory at every read; the sweep (out_sweep_cb) gives back
 * those that stayed empty for a whole OUT_IDLE_MS, and fits to size
 * those that hold an unfinished line. */
static int out_reserve(struct outbuf *b, size_t need) {
  if (need <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : OUT_MIN_CAP;
  while (cap < need)
    cap *= 2;
  if (cap > LINE_MAX_OUT)
    cap = LINE_MAX_OUT;
  char *nd = realloc(b->data, cap);
  if (!nd)
    return -ENOMEM;
  b->data = nd;
  b->cap = cap;
  return 0;
}

/* Pass on the whole lines of p[0..n), the partial line waiting in b
 * first; keep the rest in b. A line longer than LINE_MAX_OUT goes in
 * pieces of LINE_MAX_OUT bytes; a rest that cannot be kept for want of
 * memory is passed on as it is (cut, rather than lost). */
static void out_feed(struct worker *w, int stream, struct outbuf *b, const char *p,
                     size_t n) {
  while (n) {
    const char *nl = memchr(p, '\n', n);
    size_t take = nl ? (size_t)(nl - p) : n;
    if (!b->len && nl) { /* a whole line: as it is */
      out_emit(w->c, w, stream, p, take);
    } else if (!b->len && take >= LINE_MAX_OUT) {
      take = LINE_MAX_OUT;
      out_emit(w->c, w, stream, p, take);
      take--; /* no newline to skip */
    } else {
      if (take > LINE_MAX_OUT - b->len)
        take = LINE_MAX_OUT - b->len;
      if (out_reserve(b, b->len + take) < 0) {
        if (b->len)
          out_emit(w->c, w, stream, b->data, b->len);
        out_emit(w->c, w, stream, p, take);
        b->len = 0;
      } else {
        memcpy(b->data + b->len, p, take);
        b->len += take;
        if (p + take == nl || b->len == LINE_MAX_OUT) {
          out_emit(w->c, w, stream, b->data, b->len);
          b->len = 0;
        }
      }
      b->used = 1;
      if (p + take != nl)
        take--; /* no newline to skip */
    }
    p += take + 1;
    n -= take + 1;
  }
}

/* The sweep also gives back the buffers of channels that saw no message
 * since the last one (herd__chan_trim): a worker that sent a message
 * once costs no 256 KiB of reading room for ever. */
static void out_sweep_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  herd_cluster_t *c = data;
  c->sweep_armed = 0;
  int again = 0;
  for (struct worker *w = c->workers; w; w = w->next) {
    if (w->chan && w->chan_used)
      again = 1;
    else if (w->chan)
      herd__chan_trim(w->chan);
    w->chan_used = 0;
    for (int i = 0; i < 2; i++) {
      struct outbuf *b = &w->out[i];
      if (!b->data)
        continue;
      if (b->used && !b->len) {
        again = 1; /* in use: looked at again */
      } else if (!b->len) {
        free(b->data);
        b->data = NULL;
        b->cap = 0;
      } else if (b->cap > b->len) {
        /* an unfinished line (a prompt): kept, at its size */
        char *nd = realloc(b->data, b->len);
        if (nd) {
          b->data = nd;
          b->cap = b->len;
        }
      }
      b->used = 0;
    }
  }
  if (again)
    wio__arm_sweep(c);
}

void wio__arm_sweep(herd_cluster_t *c) {
  if (!c->sweep_armed &&
      herd_loop_timer_start(c->loop, &c->out_sweep, OUT_IDLE_MS, out_sweep_cb, c) == 0)
    c->sweep_armed = 1;
}

static void out_cb(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  (void)events;
  struct worker *w = data;
  int i = w->out[0].fd == fd ? 0 : 1;
  struct outbuf *b = &w->out[i];
  char tmp[LINE_MAX_OUT];
  ssize_t n = 0;
  /* A few reads per wakeup (a fast writer fills a big pipe), bounded so
   * that one worker's flood cannot hold up the loop. Whole lines go from
   * tmp as they are; only a partial line's bytes are copied into b. */
  for (int round = 0; round < 16; round++) {
    n = herd__read(fd, tmp, sizeof tmp);
    if (n <= 0)
      break;
    out_feed(w, i + 1, b, tmp, (size_t)n);
    if (w->c->out_paused)
      break; /* the consumer asked for a pause from out_emit */
  }
  if (b->data)
    wio__arm_sweep(w->c);
  if (n > 0 || n == -EAGAIN)
    return;
  /* EOF or error: flush the partial line, stop watching. */
  if (b->len)
    out_emit(w->c, w, i + 1, b->data, b->len);
  b->len = b->cap = 0;
  free(b->data);
  b->data = NULL;
  (void)herd_loop_del(loop, fd);
  herd__closep(&b->fd);
  sup__worker_free_if_done(w->c, w);
}

void wio__watch_output(herd_cluster_t *c, struct worker *w) {
  for (int i = 0; i < 2; i++) {
    if (w->out[i].fd < 0)
      continue;
    (void)herd__set_nonblock(w->out[i].fd, 1);
    if (herd_loop_add(c->loop, w->out[i].fd, c->out_paused ? 0 : EPOLLIN, out_cb, w) < 0)
      herd__closep(&w->out[i].fd);
  }
}

void wio__pause_output(herd_cluster_t *c, int pause) {
  c->out_paused = pause;
  for (struct worker *w = c->workers; w; w = w->next)
    for (int i = 0; i < 2; i++)
      if (w->out[i].fd >= 0)
        (void)herd_loop_mod(c->loop, w->out[i].fd, pause ? 0 : EPOLLIN);
}

void wio__resume_output(herd_cluster_t *c) {
  if (c->out_paused)
    wio__pause_output(c, 0);
}

/* ---- the worker's channel ------------------------------------------ */

/* The master reads what workers send (so they never block on a full
 * channel) and answers Node's handle protocol. Node's cluster messages
 * go to node.c; a message of the worker's own is an event (and "ready"
 * its readiness with HERD_READY_IPC). */
static void chan_cb(herd_loop_t *loop, herd_chan_t *ch, int err, herd_chan_msg_t *msg,
                    void *data) {
  (void)loop;
  (void)ch;
  struct worker *w = data;
  herd_cluster_t *c = w->c;
  wio__chan_used(w);
  if (msg && msg->fd >= 0)
    herd__close(msg->fd);
  if (err == 0 && msg && (!node__on(c) || !node__message(c, w, msg->json, msg->len))) {
    if (c->o.ready == HERD_READY_IPC && w->state == W_STARTING && msg->len == 7 &&
        !memcmp(msg->json, "\"ready\"", 7))
      sup__worker_ready(c, w);
    sup__emit(c, HERD_EV_MESSAGE, 0, w->slot, w->pid, 0, 0, 0, 0, msg->json);
  }
  if (err == 0 || err == HERD_EFRAME || err == HERD_ETOOLONG)
    return;
  /* The end: the loop no longer watches it. Connections queued for the
   * worker and not sent go to the others (roundrobin). A Node worker
   * told to disconnect has: the stop signal, for what else keeps it. */
  if (node__on(c)) {
    node__chan_gone(c, w);
    if (w->node_sig_due && w->state == W_STOPPING)
      (void)herd__os_pidfd_kill(w->pidfd, c->o.stop_signal);
    w->node_sig_due = 0;
  } else if (c->o.balance == HERD_BALANCE_ROUNDROBIN) {
    rr__rehand(c, w);
  }
  herd_chan_close(w->chan);
  w->chan = NULL;
}

/* One message to w; 1 if queued. */
static int send_one(struct worker *w, const char *json, size_t len) {
  if (!w || !w->chan || herd__chan_gone(w->chan) || herd_chan_send(w->chan, json, len, -1) < 0)
    return 0;
  wio__chan_used(w);
  return 1;
}

/* w's channel carried a message: its buffers are kept for a while. */
void wio__chan_used(struct worker *w) {
  w->chan_used = 1;
  wio__arm_sweep(w->c);
}

int herd_cluster_send(herd_cluster_t *c, int slot, const char *json, size_t len) {
  const char *v = NULL;
  size_t vlen = 0;
  if (!c || !json || slot < -1 || herd__json_validate_cmd(json, len, &v, &vlen) < 0 ||
      herd__chan_cmd_kind(v, vlen) != CMD_USER)
    return -EINVAL; /* not JSON, or one Node would take for its own */
  if (!(c->o.flags & HERD_CLUSTER_IPC))
    return -ENOTCONN;
  if (slot >= c->nslots || (slot >= 0 && !c->slots[slot]->active))
    return -ENOENT;
  int sent = 0;
  for (int i = slot < 0 ? 0 : slot; i < (slot < 0 ? c->nslots : slot + 1); i++) {
    struct slot *s = c->slots[i];
    if (!s->active)
      continue;
    sent += send_one(s->cur && !sup__stopping(s->cur) ? s->cur : NULL, json, len);
    sent += send_one(s->succ, json, len);
  }
  return sent || slot < 0 ? sent : -ENOENT;
}

void wio__watch_chan(herd_cluster_t *c, struct worker *w) {
  if (w->chan && node__on(c))
    herd__chan_set_internal(w->chan);
  if (w->chan && herd_loop_chan(c->loop, w->chan, chan_cb, w) < 0) {
    herd_chan_close(w->chan);
    w->chan = NULL;
  }
}

/* ---- the notify socket ----------------------------------------------- */

/* Who speaks for which worker on the notify socket: the worker itself,
 * or a process of its own tree that is still running when the message
 * is read (systemd's NotifyAccess=all, kept to the worker's descendants:
 * `sh -c 'systemd-notify --ready; exec server'` works under --user,
 * where systemd-notify cannot name its parent's pid; systemd-notify
 * waits, through BARRIER=1, until the message has been read). A pid
 * that is gone or belongs to no worker speaks for nobody. */
static struct worker *notify_sender(herd_cluster_t *c, pid_t pid) {
  struct worker *w = sup__find_pid(c, pid);
  if (w)
    return w;
  /* A process that is no worker's descendant never becomes one (it can
   * only be re-parented up, to us): a verdict holds for as long as its
   * pid is not reused, far longer than the second it is kept. */
  uint64_t now = herd__now_ms();
  for (int i = 0; i < 8; i++)
    if (c->foreign[i].pid == pid && now < c->foreign[i].until_ms)
      return NULL;
  pid_t p = pid;
  for (int depth = 0; !w && p > 1 && depth < 32; depth++) {
    herd_proc_stat_t ps;
    if (herd_proc_stat(p, &ps) < 0 || ps.state == 'Z' || ps.ppid == getpid())
      break;
    p = ps.ppid;
    w = sup__find_pid(c, p);
  }
  if (!w && pid > 0) {
    c->foreign[c->foreign_next].pid = pid;
    c->foreign[c->foreign_next].until_ms = now + 1000;
    c->foreign_next = (c->foreign_next + 1) % 8;
  }
  return w;
}

/* A message nobody may send was dropped: say so, but at most once a
 * minute (a flood costs a counter, not a log line per datagram). */
static void notify_foreign(herd_cluster_t *c, pid_t pid) {
  uint64_t now = herd__now_ms();
  c->st.notify_ignored++;
  if (c->notify_said_ms && now - c->notify_said_ms < 60000)
    return;
  c->notify_said_ms = now;
  sup__emit(c, HERD_EV_NOTICE, HERD_REASON_NOTIFY_FOREIGN, -1, pid, 0, 0, 0, 0, NULL);
}

/* One datagram from the notify socket into *nm, its sender's worker
 * into *w (NULL: not one of ours; *pid its pid, 0 if unknown);
 * nm->status is a copy on the heap (the caller frees it; NULL if out of
 * memory: the STATUS= line is lost). 0, or -1 when none is left. Not
 * inlined into notify_cb: its buffer of HERD__NOTIFY_MAX bytes is gone
 * before the events run (a worker's readiness is said through the
 * master's log line, strftime and snprintf), which ran that much deeper
 * into the stack otherwise, and a master's stack pages stay resident. */
__attribute__((noinline)) static int notify_recv(herd_cluster_t *c, int fd, pid_t *pid,
                                                 struct worker **w,
                                                 struct herd__notify *nm) {
  char buf[HERD__NOTIFY_MAX + 1];
  union {
    char b[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(8 * sizeof(int))];
    struct cmsghdr align;
  } u;
  struct iovec iov = {buf, sizeof buf - 1};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
                      .msg_controllen = sizeof u.b};
  ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0)
    return -1;
  *pid = 0;
  int fds[8], nfds = 0;
  for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
    if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS) {
      struct ucred cr;
      memcpy(&cr, CMSG_DATA(cm), sizeof cr);
      *pid = cr.pid;
    } else if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
      size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < k; i++) {
        int rfd;
        memcpy(&rfd, CMSG_DATA(cm) + i * sizeof(int), sizeof rfd);
        if (nfds < 8)
          fds[nfds++] = rfd;
        else
          herd__close(rfd);
      }
    }
  }
  /* fds are not part of what we act on, but closing them is the
   * answer to BARRIER=1 (its sender waits for it): only once the
   * sender has been looked at, while it still runs */
  *w = notify_sender(c, *pid);
  for (int i = 0; i < nfds; i++)
    herd__close(fds[i]);
  herd__notify_parse(buf, (size_t)n, nm);
  if (nm->status && !*w) {
    nm->other = 1; /* a foreign sender's: counted, not read */
    nm->status = NULL;
  } else if (nm->status) {
    nm->status = strdup(nm->status);
  }
  return 0;
}

static void notify_cb(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  (void)loop;
  (void)events;
  herd_cluster_t *c = data;
  for (int round = 0; round < 64; round++) {
    pid_t pid;
    struct worker *w;
    struct herd__notify nm;
    if (notify_recv(c, fd, &pid, &w, &nm) < 0)
      return;
    char *status = (char *)nm.status;
    if (!w) {
      if (nm.ready || nm.stopping || nm.retire || nm.other)
        notify_foreign(c, pid);
    } else {
      if (status)
        sup__emit(c, HERD_EV_STATUS, 0, w->slot, w->pid, 0, 0, 0, 0, status);
      if (nm.ready && c->o.ready == HERD_READY_NOTIFY)
        sup__worker_ready(c, w);
      if (nm.stopping || nm.retire)
        sup__worker_retire(c, w);
    }
    free(status);
  }
}

/* The notify socket: a file that every sd_notify client can reach (some
 * take only paths: Ruby's sd_notify, used by puma), in a directory of
 * its own - under $TMPDIR, else /tmp - that only we may list; the
 * abstract namespace where no such directory can be made (an empty
 * root). Workers of another uid (--user) need to reach it: then the
 * directory is 0711 and the socket 0666, which lets any local process
 * send to it, as to the abstract socket before: what counts is the
 * sender's pid (notify_sender). */
/* The directories of masters that died without cleaning up (SIGKILL):
 * ours (our uid), named for a pid that no longer runs. base is short
 * (a socket's path is made in it, bind_notify_path): a path of a few
 * hundred bytes, not a page, so that the sscanf of every name in base
 * does not run a page deeper into the master's stack (whose pages stay
 * resident). */
static void sweep_stale(const char *base) {
  DIR *d = opendir(base);
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d))) {
    int pid = 0, n = 0;
    if (sscanf(e->d_name, "herd-%d-%*6[A-Za-z0-9]%n", &pid, &n) != 1 ||
        e->d_name[n] != '\0' || pid <= 0 || kill(pid, 0) == 0 || errno != ESRCH)
      continue;
    char path[sizeof ((struct sockaddr_un *)0)->sun_path + sizeof e->d_name + 8];
    struct stat st;
    int k = snprintf(path, sizeof path, "%s/%s/notify", base, e->d_name);
    if (k < 0 || (size_t)k >= sizeof path)
      continue;
    snprintf(path, sizeof path, "%s/%s", base, e->d_name);
    if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
      continue;
    snprintf(path, sizeof path, "%s/%s/notify", base, e->d_name);
    (void)unlink(path);
    snprintf(path, sizeof path, "%s/%s", base, e->d_name);
    (void)rmdir(path);
  }
  closedir(d);
}

static int bind_notify_path(herd_cluster_t *c, int fd, const char *base) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  char dir[sizeof sa.sun_path];
  int n = snprintf(dir, sizeof dir, "%s/herd-%d-XXXXXX", base, (int)getpid());
  if (n < 0 || (size_t)n + sizeof "/notify" > sizeof sa.sun_path)
    return -ENAMETOOLONG;
  sweep_stale(base);
  if (!mkdtemp(dir))
    return -errno;
  memcpy(sa.sun_path, dir, (size_t)n);
  memcpy(sa.sun_path + n, "/notify", sizeof "/notify");
  int other_uid = (c->o.spawn.flags & HERD_SPAWN_SETUID) && c->o.spawn.uid != geteuid();
  if ((other_uid && chmod(dir, 0711) < 0) ||
      bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
      chmod(sa.sun_path, other_uid ? 0666 : 0600) < 0) {
    int e = -errno;
    (void)unlink(sa.sun_path);
    (void)rmdir(dir);
    return e;
  }
  memcpy(c->notify_name, sa.sun_path, sizeof sa.sun_path);
  return 0;
}

int wio__open_notify(herd_cluster_t *c) {
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -errno;
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0) {
    int e = -errno;
    herd__close(fd);
    return e;
  }
  const char *tmp = getenv("TMPDIR");
  if ((!tmp || tmp[0] != '/' || bind_notify_path(c, fd, tmp) < 0) &&
      bind_notify_path(c, fd, "/tmp") < 0) {
    /* Abstract namespace: nothing on disk, reachable by path-only
     * clients never (the last resort) */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int n = snprintf(c->notify_name, sizeof c->notify_name, "@herd/%d/%08lx/notify",
                     (int)getpid(), (unsigned long)(herd__now_ms() & 0xffffffffu));
    memcpy(sa.sun_path, c->notify_name, (size_t)n);
    sa.sun_path[0] = '\0';
    if (bind(fd, (struct sockaddr *)&sa,
             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n)) < 0) {
      int e = -errno;
      herd__close(fd);
      return e;
    }
  }
  int r = herd_loop_add(c->loop, fd, EPOLLIN, notify_cb, c);
  if (r < 0) {
    herd__close(fd);
    wio__close_notify(c);
    return r;
  }
  c->notify_fd = fd;
  return 0;
}

void wio__close_notify(herd_cluster_t *c) {
  herd__closep(&c->notify_fd);
  if (c->notify_name[0] != '/')
    return;
  (void)unlink(c->notify_name);
  char *slash = strrchr(c->notify_name, '/');
  *slash = '\0';
  (void)rmdir(c->notify_name);
  c->notify_name[0] = '\0';
}

/* ---- processes left behind ------------------------------------------- */

struct orphan *wio__find_orphan(herd_cluster_t *c, pid_t pid) {
  for (struct orphan *o = c->orphans; o; o = o->next)
    if (o->pid == pid)
      return o;
  return NULL;
}

void wio__orphan_free(herd_cluster_t *c, struct orphan *o) {
  for (struct orphan **pp = &c->orphans; *pp; pp = &(*pp)->next)
    if (*pp == o) {
      *pp = o->next;
      break;
    }
  herd_loop_timer_stop(c->loop, &o->kill_timer);
  herd__close(o->pidfd);
  free(o);
}

/* To the process and, if it leads one (a daemon does: setsid), its group:
 * what it started goes with it. It is our child, unreaped: its pid, and
 * so its group's id, cannot have been reused. */
static void orphan_signal(struct orphan *o, int sig) {
  if (getpgid(o->pid) != o->pid || kill(-o->pid, sig) < 0)
    (void)herd__os_pidfd_kill(o->pidfd, sig);
}

static void orphan_kill_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct orphan *o = data;
  /* told as a worker's is: a process that ignores the stop signal */
  sup__emit(o->c, HERD_EV_KILLED, HERD_REASON_LEFT_BEHIND, o->slot, o->pid, 0, SIGKILL,
            0, 0, NULL);
  orphan_signal(o, SIGKILL);
}

/* Ask one to stop as a worker would be (stop signal, SIGKILL after the
 * kill timeout; a graceful stop waits). */
void wio__orphan_stop(herd_cluster_t *c, struct orphan *o) {
  orphan_signal(o, c->o.stop_signal);
  if (!(c->state >= C_STOPPING && c->graceful))
    (void)herd_loop_timer_start(c->loop, &o->kill_timer, (uint64_t)c->o.kill_timeout_ms,
                                orphan_kill_cb, o);
}

/* What exited workers left behind came back to us: found by a look at
 * our children, as long a list as the pool. One look per exit made a
 * reload of N workers O(N^2) (4096: 15 s, most of it in the kernel's
 * list), so exits are gathered for ORPHAN_LOOK_MS (or ORPHAN_GROUPS of
 * them) and looked at once; a stop looks at once (reap_all). The slot a
 * process is told under is its worker's when the exits looked at were
 * all of one slot, else none (-1): an orphan's old parent cannot be
 * known once it is ours. */
static void look_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  herd_cluster_t *c = data;
  wio__look_now(c);
  sup__check_done(c);
}

void wio__look_now(herd_cluster_t *c) {
  herd_loop_timer_stop(c->loop, &c->look.timer);
  if (!c->look.any)
    return;
  c->look.any = 0;
  int n = c->look.n;
  c->look.n = 0;
  wio__find_orphans(c, c->look.slot, c->look.groups, n);
}

/* A worker of slot (process group group) or a process left behind (group
 * 0) was reaped. */
void wio__exited(herd_cluster_t *c, int slot, pid_t group) {
  if (group && c->look.n == ORPHAN_GROUPS)
    wio__look_now(c);
  c->look.slot = c->look.any && c->look.slot != slot ? -1 : slot;
  if (group)
    c->look.groups[c->look.n++] = group;
  if (!c->look.any &&
      herd_loop_timer_start(c->loop, &c->look.timer, ORPHAN_LOOK_MS, look_cb, c) < 0) {
    c->look.any = 1;
    wio__look_now(c);
    return;
  }
  c->look.any = 1;
}

static int in_groups(pid_t pgrp, const pid_t *groups, int n) {
  for (int i = 0; i < n; i++)
    if (groups[i] == pgrp)
      return 1;
  return 0;
}

/* After workers of SLOT (-1: of several) exited, whose pids - their
 * process groups - are groups[0..n) (or processes they had left behind):
 * the children of ours that are not workers came back to us from them.
 * What a worker left in its own process group was killed with it and is
 * not news (it may not have died yet: SIGKILL is not instant); nor is
 * what is dead already. Any other child counts: the cluster owns every
 * child of its process (it reaps them all). */
void wio__find_orphans(herd_cluster_t *c, int slot, const pid_t *groups, int n) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
  FILE *f = fopen(path, "re");
  if (!f)
    return;
  /* in one read: each read of the file walks the kernel's list of our
   * children from its start to where the last one ended */
  (void)setvbuf(f, NULL, _IOFBF, 1 << 16);
  int pid;
  /* Workers lead process groups of their own, and what they leave keeps
   * theirs or makes new ones: a child in our own group is the caller's
   * (a program that runs the cluster and spawns beside it: herd
   * upgrade's new master), not left behind. */
  pid_t own = getpgrp();
  while (fscanf(f, "%d", &pid) == 1) {
    herd_proc_stat_t ps;
    if (sup__find_pid(c, pid) || wio__find_orphan(c, pid) || herd_proc_stat(pid, &ps) < 0 ||
        in_groups(ps.pgrp, groups, n) || ps.pgrp == own || ps.state == 'Z' ||
        ps.state == 'X')
      continue;
    int pfd = herd__os_pidfd_open(pid);
    struct orphan *o = pfd >= 0 ? calloc(1, sizeof *o) : NULL;
    if (!o) {
      herd__close(pfd);
      continue;
    }
    *o = (struct orphan){.c = c, .pid = pid, .pidfd = pfd, .slot = slot,
                         .next = c->orphans};
    c->orphans = o;
    c->st.left_behind++;
    sup__emit(c, HERD_EV_NOTICE, HERD_REASON_LEFT_BEHIND, slot, pid, 0, 0, 0, 0, NULL);
    if (c->state >= C_STOPPING)
      wio__orphan_stop(c, o);
  }
  fclose(f);
}
