/*
 * listen.c - listening addresses: parse "HOST:PORT", ":PORT", "[::1]:PORT",
 * "unix:/path[,mode=0660]", bind them (SO_REUSEADDR, optionally
 * SO_REUSEPORT), and format what was bound (port 0 -> the real port).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

static int parse_port(const char *s, int *port) {
  if (!*s)
    return -EINVAL;
  long v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return -EINVAL;
    v = v * 10 + (*s - '0');
    if (v > 65535)
      return -EINVAL;
  }
  *port = (int)v;
  return 0;
}

int herd_addr_parse(const char *spec, herd_addr_t *a) {
  if (!spec || !a)
    return -EINVAL;
  memset(a, 0, sizeof *a);
  size_t len = strlen(spec);
  if (len >= 256 && strncmp(spec, "unix:", 5) == 0)
    return -ENAMETOOLONG; /* as a path of 108..255 bytes */
  if (len == 0 || len >= 256)
    return -EINVAL;
  if (strncmp(spec, "unix:", 5) == 0) {
    const char *path = spec + 5;
    const char *comma = strstr(path, ",mode=");
    size_t plen = comma ? (size_t)(comma - path) : strlen(path);
    struct sockaddr_un *un = (struct sockaddr_un *)&a->ss;
    if (plen == 0 || plen >= sizeof un->sun_path)
      return plen ? -ENAMETOOLONG : -EINVAL;
    if (comma) {
      char *end;
      unsigned long m = strtoul(comma + 6, &end, 8);
      if (*end || end == comma + 6 || m > 07777)
        return -EINVAL;
      a->mode = (unsigned)m;
    }
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, plen);
    a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + 1);
    a->family = AF_UNIX;
    snprintf(a->text, sizeof a->text, "unix:%.*s", (int)plen, path);
    return 0;
  }
  char host[256];
  const char *port;
  if (spec[0] == '[') {
    const char *rb = strchr(spec, ']');
    if (!rb || rb[1] != ':')
      return -EINVAL;
    memcpy(host, spec + 1, (size_t)(rb - spec - 1));
    host[rb - spec - 1] = '\0';
    port = rb + 2;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;
    s6->sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
      return -EINVAL;
    int p;
    if (parse_port(port, &p) < 0)
      return -EINVAL;
    s6->sin6_port = htons((uint16_t)p);
    a->family = AF_INET6;
    a->len = sizeof *s6;
  } else {
    const char *colon = strrchr(spec, ':');
    if (colon) {
      memcpy(host, spec, (size_t)(colon - spec));
      host[colon - spec] = '\0';
      port = colon + 1;
    } else {
      host[0] = '\0'; /* "8080": every IPv4 address, as nginx's listen */
      port = spec;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss;
    s4->sin_family = AF_INET;
    if (!host[0] || strcmp(host, "*") == 0)
      s4->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (strcmp(host, "localhost") == 0)
      s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
      return -EINVAL; /* numeric addresses only: no DNS at start-up */
    int p;
    if (parse_port(port, &p) < 0)
      return -EINVAL;
    s4->sin_port = htons((uint16_t)p);
    a->family = AF_INET;
    a->len = sizeof *s4;
  }
  herd__addr_format(a);
  return 0;
}

void herd__addr_format(herd_addr_t *a) {
  char ip[INET6_ADDRSTRLEN];
  if (a->family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->ss;
    inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
    snprintf(a->text, sizeof a->text, "%s:%u", ip, ntohs(s4->sin_port));
  } else if (a->family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;
    inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
    snprintf(a->text, sizeof a->text, "[%s]:%u", ip, ntohs(s6->sin6_port));
  }
}

/* Is a Unix socket file stale (nobody accepts on it)? */
static int unix_stale(const struct sockaddr_un *un, socklen_t len) {
  struct stat st;
  if (stat(un->sun_path, &st) < 0)
    return errno == ENOENT ? 0 : -errno;
  if (!S_ISSOCK(st.st_mode))
    return -EADDRINUSE; /* a file of another kind: never removed */
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  int r = connect(fd, (const struct sockaddr *)un, len);
  int e = errno;
  herd__close(fd);
  if (r == 0)
    return -EADDRINUSE; /* someone serves it */
  return e == ECONNREFUSED ? 1 : -EADDRINUSE;
}

int herd_listen_open(const herd_addr_t *a, int backlog, unsigned flags,
                     herd_addr_t *bound) {
  if (!a || (a->family != AF_INET && a->family != AF_INET6 &&
             a->family != AF_UNIX))
    return -EINVAL;
  int fd = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  int one = 1, r = 0;
  if (a->family != AF_UNIX) {
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
      goto fail_errno;
    if ((flags & HERD_LISTEN_REUSEPORT) &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
      goto fail_errno;
    int v6only = !(flags & HERD_LISTEN_DUALSTACK);
    if (a->family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) < 0)
      goto fail_errno;
  } else {
    const struct sockaddr_un *un = (const struct sockaddr_un *)&a->ss;
    int st = unix_stale(un, a->len);
    if (st < 0) {
      r = st;
      goto fail;
    }
    if (st == 1 && unlink(un->sun_path) < 0 && errno != ENOENT)
      goto fail_errno;
  }
  if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0)
    goto fail_errno;
  if (a->family == AF_UNIX && a->mode &&
      chmod(((const struct sockaddr_un *)&a->ss)->sun_path, a->mode) < 0)
    goto fail_errno;
  if (listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0)
    goto fail_errno;
  if (bound) {
    *bound = *a;
    if (a->family != AF_UNIX) {
      socklen_t len = sizeof bound->ss;
      if (getsockname(fd, (struct sockaddr *)&bound->ss, &len) < 0)
        goto fail_errno;
      bound->len = len;
      herd__addr_format(bound);
    }
  }
  return fd;
fail_errno:
  r = -errno;
fail:
  herd__close(fd);
  return r;
}
