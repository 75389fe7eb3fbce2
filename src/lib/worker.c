/*
 * worker.c - the worker's side of systemd's socket-activation and notify
 * protocols (sd_listen_fds(3), sd_notify(3)), which herd speaks as the
 * supervisor, so the same worker runs under herd or systemd.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

#define LISTEN_FDS_START 3

static int parse_uint(const char *s, long max, long *out) {
  if (!s || !*s)
    return -EINVAL;
  long v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || v > max / 10)
      return -EINVAL;
    v = v * 10 + (*s - '0');
  }
  if (v > max)
    return -EINVAL;
  *out = v;
  return 0;
}

int herd_listen_fds(int unset_env) {
  const char *spid = getenv("LISTEN_PID");
  const char *sfds = getenv("LISTEN_FDS");
  int r = 0;
  long pid, n;
  if (!spid || !sfds)
    goto out; /* nothing passed: 0 */
  if (parse_uint(spid, 0x7fffffff, &pid) < 0 ||
      parse_uint(sfds, 65536, &n) < 0) {
    r = -EINVAL;
    goto out;
  }
  if ((pid_t)pid != getpid())
    goto out; /* meant for another process (our parent, say) */
  for (int fd = LISTEN_FDS_START; fd < LISTEN_FDS_START + n; fd++) {
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0) {
      r = -errno;
      goto out;
    }
  }
  r = (int)n;
out:
  if (unset_env) {
    (void)unsetenv("LISTEN_PID");
    (void)unsetenv("LISTEN_FDS");
    (void)unsetenv("LISTEN_FDNAMES");
  }
  return r;
}

int herd_notify(const char *state) {
  if (!state)
    return -EINVAL;
  const char *path = getenv("NOTIFY_SOCKET");
  if (!path || !*path)
    return 0;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  size_t len = strlen(path);
  /* '@' is the abstract namespace, as systemd writes it. */
  if ((path[0] != '/' && path[0] != '@') || len >= sizeof sa.sun_path)
    return -EINVAL;
  memcpy(sa.sun_path, path, len);
  if (path[0] == '@')
    sa.sun_path[0] = '\0';
  socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  ssize_t n;
  do
    n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
               salen);
  while (n < 0 && errno == EINTR);
  int r = n < 0 ? -errno : 1;
  herd__close(fd);
  return r;
}

int herd_worker_id(void) {
  long id;
  if (parse_uint(getenv("HERD_WORKER_ID"), 1000000, &id) < 0)
    return -ENOENT;
  return (int)id;
}

int herd_retire(void) {
  return herd_notify("STOPPING=1\nX_HERD_RETIRE=1");
}
