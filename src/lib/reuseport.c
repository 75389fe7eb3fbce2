/*
 * reuseport.c - steering a SO_REUSEPORT group away from some of its
 * sockets, so that a socket about to be closed stops being chosen and
 * its queue can drain first: the kernel resets the connections still in
 * a closed listener's queue (unless net.ipv4.tcp_migrate_req moves them
 * to the group's other sockets, 5.14+).
 *
 * A classic BPF program on the group (SO_ATTACH_REUSEPORT_CBPF; no
 * privilege needed) returns the index of the socket to take a new
 * connection: the kernel keeps the group's sockets in an array, in the
 * order they listened, and a socket that goes is replaced by the last
 * one. The program picks at random among the n - m indices that are not
 * skipped: A = random % (n - m), then A += 1 for each skipped index
 * (ascending) at or below A - a walk over the gaps, two instructions per
 * skipped socket.
 *
 * The cluster's part: each slot has its own sockets (one per address),
 * opened when its first worker starts and kept across restarts (so its
 * queue survives a crash); a slot scaled down is steered off first
 * (S_DRAINING, sup.c) and its sockets closed once its workers are gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sup.h"

#ifndef SO_DETACH_REUSEPORT_BPF
#define SO_DETACH_REUSEPORT_BPF 68
#endif

int herd__rp_steer(int fd, int n, const int *skip, int nskip) {
  if (nskip <= 0 || nskip >= n) {
    /* none to skip, or none left to choose: the kernel's own hashing */
    int zero = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &zero, sizeof zero) < 0 &&
        errno != ENOENT)
      return -errno;
    return 0;
  }
  if (nskip > (BPF_MAXINSNS - 3) / 2)
    return -E2BIG;
  struct sock_filter *p = calloc((size_t)(3 + 2 * nskip), sizeof *p);
  if (!p)
    return -ENOMEM;
  int k = 0;
  p[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_RANDOM);
  p[k++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, (unsigned)(n - nskip));
  for (int i = 0; i < nskip; i++) {
    /* skip[] ascending: if (A >= skip[i]) A++ */
    p[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (unsigned)skip[i], 0, 1);
    p[k++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 1);
  }
  p[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_A, 0);
  struct sock_fprog fp = {.len = (unsigned short)k, .filter = p};
  int r = setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &fp, sizeof fp) < 0
              ? -errno : 0;
  free(p);
  return r;
}

int herd__rp_migrates(void) {
  int fd = open("/proc/sys/net/ipv4/tcp_migrate_req", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  char c = '0';
  ssize_t n = herd__read(fd, &c, 1);
  herd__close(fd);
  return n == 1 && c == '1';
}

/* ---- the slots' sockets ---------------------------------------- */

/* Does the slot's socket get new connections? Not while it drains
 * (scaled down), nor while no ready worker takes them: its worker is
 * starting, crashed and backing off, parked, or stopping for a restart
 * (what waited in its queue would wait seconds, or a minute). When no
 * slot serves, the kernel's own choice among all of them. */
static int serving(const struct slot *s) {
  return !s->steered_off && s->cur && s->cur->state == W_READY;
}

/* The SO_REUSEPORT group of address i chooses among the sockets of the
 * slots that serve. */
static void rp_steer(herd_cluster_t *c, int i) {
  int n = c->rp_n[i], nskip = 0, fd = -1;
  int *skip = n ? malloc((size_t)n * sizeof *skip) : NULL;
  if (n && !skip)
    return;
  for (int k = 0; k < n; k++) {
    struct slot *s = c->slots[c->rp_order[i][k]];
    if (!serving(s))
      skip[nskip++] = k; /* ascending */
    else if (fd < 0)
      fd = s->rp_fds[i];
  }
  if (fd < 0 && n)
    fd = c->slots[c->rp_order[i][0]]->rp_fds[i];
  int r = fd >= 0 ? herd__rp_steer(fd, n, skip, nskip) : 0;
  free(skip);
  if (r < 0)
    sup__emit(c, HERD_EV_ERROR, HERD_REASON_STEER_FAILED, -1, 0, r, 0, 0, 0,
              c->texts[i]);
}

void rp__steer_all(herd_cluster_t *c) {
  if (!c->rp_order || c->migrates || c->state >= C_STOPPING)
    return;
  /* only when what the groups choose among has changed: a socket joined
   * or left (the program's indices move), or a slot began or stopped
   * serving */
  int changed = c->rp_dirty;
  for (int id = 0; id < c->nslots; id++) {
    struct slot *s = c->slots[id];
    int on = s->rp_fds && serving(s);
    changed |= on != s->rp_serving;
    s->rp_serving = on;
  }
  if (!changed)
    return;
  c->rp_dirty = 0;
  for (int i = 0; i < c->nlisten; i++)
    rp_steer(c, i);
}

int rp__open(herd_cluster_t *c, struct slot *s) {
  if (c->o.balance != HERD_BALANCE_REUSEPORT || s->rp_fds || c->nlisten == 0)
    return 0;
  s->rp_fds = malloc((size_t)c->nlisten * sizeof *s->rp_fds);
  if (!s->rp_fds)
    return -ENOMEM;
  for (int i = 0; i < c->nlisten; i++) {
    /* The socket bound at start (which fixed the port) is the first
     * slot's: a member of the group that nobody accepted on would
     * strand the connections the kernel hashes to it. */
    if (c->fds[i] >= 0) {
      s->rp_fds[i] = c->fds[i];
      c->fds[i] = -1;
      continue;
    }
    int fd = herd_listen_open(&c->addrs[i], 0, HERD_LISTEN_REUSEPORT, NULL);
    if (fd < 0) {
      while (i-- > 0)
        herd__close(s->rp_fds[i]);
      free(s->rp_fds);
      s->rp_fds = NULL;
      return fd;
    }
    s->rp_fds[i] = herd__fd_high(fd); /* kept: out of the spawns' way */
  }
  s->rp_lq = lq__watch(c, s->rp_fds, c->nlisten, s->id);
  /* it joined each group last (it listened last) */
  for (int i = 0; i < c->nlisten; i++)
    c->rp_order[i][c->rp_n[i]++] = s->id;
  c->rp_dirty = 1;
  rp__steer_all(c);
  return 0;
}

void rp__close(herd_cluster_t *c, struct slot *s) {
  if (!s->rp_fds)
    return;
  lq__unwatch(s->rp_lq, c->nlisten);
  s->rp_lq = NULL;
  herd_loop_timer_stop(c->loop, &s->drain_timer);
  for (int i = 0; i < c->nlisten; i++)
    herd__close(s->rp_fds[i]);
  free(s->rp_fds);
  s->rp_fds = NULL;
  /* gone from each group: the kernel put the group's last socket where
   * it was */
  for (int i = 0; i < c->nlisten; i++)
    for (int k = 0; k < c->rp_n[i]; k++)
      if (c->rp_order[i][k] == s->id) {
        c->rp_order[i][k] = c->rp_order[i][--c->rp_n[i]];
        break;
      }
  s->steered_off = 0;
  c->rp_dirty = 1;
  rp__steer_all(c);
}

int rp__queued(const struct slot *s) {
  int n = 0;
  for (int i = 0; s->rp_fds && i < s->c->nlisten; i++) {
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    memset(&ti, 0, sizeof ti);
    if (getsockopt(s->rp_fds[i], IPPROTO_TCP, TCP_INFO, &ti, &len) == 0)
      n += (int)ti.tcpi_unacked; /* a listener's accept queue */
  }
  return n;
}
