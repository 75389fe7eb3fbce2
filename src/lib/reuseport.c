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
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

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
