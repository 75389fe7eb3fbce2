/*
 * ctlconn.c - the control client's connection to a master: the socket
 * HERD_HOME/NAME.sock, then JSON lines on a plain herd_chan - the same
 * transport the server (ctlsrv.c) reads them with: one request, its
 * reply lines, each within a timeout (HERD_CTL_TIMEOUT).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int ctl_connect(const char *home, const char *name, herd_chan_t **out, char *err,
                size_t errlen) {
  char path[PATH_MAX];
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  *out = NULL;
  if (home_path(path, sizeof path, home, name, ".sock") < 0 ||
      strlen(path) >= sizeof sa.sun_path) {
    snprintf(err, errlen, "%s/%s.sock: path too long for a socket", home, name);
    return -ENAMETOOLONG;
  }
  memcpy(sa.sun_path, path, strlen(path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(err, errlen, "socket: %s", strerror(errno));
    return -errno;
  }
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno;
    (void)close(fd);
    char pidp[PATH_MAX];
    if (e == ENOENT) {
      if (home_path(pidp, sizeof pidp, home, name, ".pid") == 0 &&
          herd_pidfile_check(pidp) > 0)
        snprintf(err, errlen, "'%s' has no control socket (%s is missing)", name, path);
      else
        snprintf(err, errlen, "no app named '%s' (nothing at %s)", name, path);
    } else if (e == ECONNREFUSED) {
      snprintf(err, errlen, "'%s' is not running: its master is gone (stale socket %s)",
               name, path);
    } else if (e == EACCES || e == EPERM) {
      snprintf(err, errlen, "%s: permission denied (another user's app?)", path);
    } else if (e == ENOTSOCK || e == EPROTOTYPE) {
      snprintf(err, errlen, "%s is not a herd control socket", path);
    } else {
      snprintf(err, errlen, "%s: %s", path, strerror(e));
    }
    return -e;
  }
  /* the server's transport: plain JSON lines (HERD_CHAN_PLAIN) */
  herd_chan_opts_t co = {.max_message = CTL_MAX_REPLY, .flags = HERD_CHAN_PLAIN};
  int r = herd_chan_open(out, fd, &co);
  if (r < 0)
    snprintf(err, errlen, "%s: %s", path, herd_strerror(r));
  return r;
}

int ctl_read_line(herd_chan_t *ch, char **reply, int timeout_ms) {
  herd_chan_msg_t msg;
  for (;;) {
    int r = herd_chan_recv_wait(ch, &msg, timeout_ms);
    if (r == 1) {
      char *line = malloc(msg.len + 1);
      if (!line)
        return -ENOMEM;
      memcpy(line, msg.json, msg.len);
      line[msg.len] = '\0';
      *reply = line;
      return 0;
    }
    /* what is not one line of JSON is not a herd reply */
    if (r == HERD_EFRAME || r == HERD_ESERIAL || r == HERD_ETRUNC)
      return -EPROTO;
    if (r == HERD_ETOOLONG)
      return -EMSGSIZE;
    if (r == HERD_EPEERGONE)
      return -ECONNRESET; /* closed before a word */
    return r < 0 ? r : -EIO;
  }
}

int ctl_request(herd_chan_t *ch, const char *req, char **reply, int timeout_ms) {
  int r = herd_chan_send(ch, req, strlen(req), -1);
  if (r >= 0)
    r = herd_chan_flush_wait(ch, timeout_ms);
  /* refused and closed before our request was in (a peer not allowed):
   * its one-line reason may be waiting to be read */
  if (r < 0 && r != -EPIPE)
    return r;
  return ctl_read_line(ch, reply, timeout_ms);
}
