/*
 * channel.c - the message channel, on Node's own IPC wire format
 * ('json' serialization; docs/channel.md has the facts and their sources).
 *
 * Output: messages are appended to one byte buffer and written in as few
 * send() calls as the socket takes (batching); a line that carries an fd
 * starts its own sendmsg with the fd attached to its first byte, as libuv
 * does, and - as Node does - nothing after it is written until the peer
 * answers NODE_HANDLE_ACK/NACK. Our own ACK/NACK replies may not wait
 * behind that (two peers passing handles at once would deadlock), so they
 * go through a small control buffer written first, always at a line
 * boundary.
 *
 * Input (chanrecv.c): one buffer, lines cut at '\n', each validated as
 * JSON; fds from SCM_RIGHTS wait in a FIFO until a NODE_HANDLE line
 * claims one (Node's rule). A line longer than max_message is dropped as
 * it streams in, so memory stays bounded whatever the peer sends.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "chan.h"

/* ---- opening ---------------------------------------------------- */

static int check_stream_socket(int fd) {
  int type = 0, domain = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
    return -errno; /* ENOTSOCK, EBADF */
  len = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
    return -errno;
  if (type != SOCK_STREAM || domain != AF_UNIX)
    return -EPROTOTYPE;
  return 0;
}

static int chan_new(herd_chan_t **out, int fd, const herd_chan_opts_t *opts) {
  unsigned want = opts ? opts->flags : 0;
  if ((want & ~(HERD_CHAN_PLAIN | HERD_CHAN_ADVANCED | HERD_CHAN_NO_JSON)) ||
      ((want & HERD_CHAN_PLAIN) && (want & HERD_CHAN_ADVANCED)))
    return -EINVAL;
  int r = check_stream_socket(fd);
  if (r < 0)
    return r;
  /* The fd stays as it is (Node hands it over blocking): every call
   * says MSG_DONTWAIT itself, but for the one wait that may block in
   * recvmsg (herd_chan_recv_wait with no timeout), saving a poll. */
  int fl = fcntl(fd, F_GETFD);
  if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
    return -errno;
  herd_chan_t *ch = calloc(1, sizeof *ch);
  if (!ch)
    return -ENOMEM;
  ch->fd = fd;
  ch->max_message = opts && opts->max_message ? opts->max_message
                                               : HERD_CHAN_MAX_MESSAGE_DEFAULT;
  ch->max_queued = opts && opts->max_queued
                       ? opts->max_queued
                       : 2 * ch->max_message + (1u << 20);
  ch->plain = opts && (opts->flags & HERD_CHAN_PLAIN);
  ch->advanced = opts && (opts->flags & HERD_CHAN_ADVANCED);
  ch->nojson = opts && (opts->flags & HERD_CHAN_NO_JSON);
  *out = ch;
  return 0;
}

int herd_chan_open(herd_chan_t **out, int fd, const herd_chan_opts_t *opts) {
  if (!out) {
    herd__close(fd);
    return -EINVAL;
  }
  *out = NULL;
  if (fd < 0)
    return -EBADF;
  int r = chan_new(out, fd, opts);
  if (r < 0)
    herd__close(fd);
  return r;
}

int herd_chan_from_env(herd_chan_t **out, const herd_chan_opts_t *opts) {
  if (!out)
    return -EINVAL;
  *out = NULL;
  const char *v = getenv("NODE_CHANNEL_FD");
  if (!v || !*v) {
    (void)unsetenv("NODE_CHANNEL_FD");
    (void)unsetenv("NODE_CHANNEL_SERIALIZATION_MODE");
    return -ENOENT; /* Node too treats an empty value as no channel */
  }
  const char *mode = getenv("NODE_CHANNEL_SERIALIZATION_MODE");
  long fd = 0;
  int bad = 0;
  for (const char *p = v; *p && !bad; p++) {
    if (*p < '0' || *p > '9' || fd > 1000000)
      bad = 1;
    else
      fd = fd * 10 + (*p - '0');
  }
  int advanced = mode && strcmp(mode, "advanced") == 0;
  int unknown = mode && *mode && !advanced && strcmp(mode, "json") != 0;
  /* As Node: the variables are for this process only. */
  (void)unsetenv("NODE_CHANNEL_FD");
  (void)unsetenv("NODE_CHANNEL_SERIALIZATION_MODE");
  if (bad || unknown)
    return -EINVAL;
  if (fcntl((int)fd, F_GETFD) < 0)
    return -EBADF;
  /* The parent chose the serialization: the caller's flags say the rest
   * (max_message, HERD_CHAN_NO_JSON). */
  herd_chan_opts_t o = opts ? *opts : (herd_chan_opts_t){0};
  o.flags &= ~(HERD_CHAN_ADVANCED | HERD_CHAN_PLAIN);
  if (advanced)
    o.flags |= HERD_CHAN_ADVANCED;
  /* Not taken on failure: an fd that is no channel is not ours. */
  return chan_new(out, (int)fd, &o);
}

int herd_chan_fd(const herd_chan_t *ch) {
  return ch ? ch->fd : -EINVAL;
}

size_t herd_chan_queued(const herd_chan_t *ch) {
  return ch ? ch->olen - ch->ohead + ch->ctl_len : 0;
}

uint32_t herd_chan_events(const herd_chan_t *ch) {
  uint32_t ev = EPOLLIN;
  if (ch->ctl_len || (ch->olen > ch->ohead && !ch->awaiting_ack))
    ev |= EPOLLOUT;
  return ev;
}

void herd_chan_close(herd_chan_t *ch) {
  if (!ch)
    return;
  herd__close(ch->fd);
  for (int i = 0; i < ch->fdq_n; i++)
    herd__close(ch->fdq[(ch->fdq_head + i) % MAX_PENDING_FDS]);
  for (size_t i = 0; i < ch->mark_n; i++)
    herd__close(ch->marks[ch->mark_head + i].fd);
  herd__chanv8_release(ch);
  free(ch->rbuf);
  free(ch->obuf);
  free(ch->marks);
  free(ch);
}

/* ---- output ------------------------------------------------------ */

int herd__chan_obuf_reserve(herd_chan_t *ch, size_t more) {
  if (ch->ocap - ch->olen >= more)
    return 0;
  /* Reclaim what has been sent before growing. */
  if (ch->ohead > 0) {
    memmove(ch->obuf, ch->obuf + ch->ohead, ch->olen - ch->ohead);
    for (size_t i = 0; i < ch->mark_n; i++) {
      struct handle_mark *m = &ch->marks[ch->mark_head + i];
      /* A handle line partly sent already starts before ohead: it now
       * starts at 0 (its fd went with the part that was sent). */
      m->off = m->off > ch->ohead ? m->off - ch->ohead : 0;
      m->end -= ch->ohead;
    }
    ch->olen -= ch->ohead;
    ch->ohead = 0;
    if (ch->ocap - ch->olen >= more)
      return 0;
  }
  size_t ncap = ch->ocap ? ch->ocap : 4096;
  while (ncap - ch->olen < more)
    ncap *= 2;
  char *nb = realloc(ch->obuf, ncap);
  if (!nb)
    return -ENOMEM;
  ch->obuf = nb;
  ch->ocap = ncap;
  return 0;
}

static int obuf_reserve(herd_chan_t *ch, size_t more) {
  return herd__chan_obuf_reserve(ch, more);
}

static void append(herd_chan_t *ch, const char *s, size_t n) {
  memcpy(ch->obuf + ch->olen, s, n);
  ch->olen += n;
}

/* Copy a JSON text, turning newlines between tokens (the only place a raw
 * newline can be in valid JSON) into spaces: one message, one line. */
static void append_json(herd_chan_t *ch, const char *json, size_t len) {
  char *dst = ch->obuf + ch->olen;
  memcpy(dst, json, len);
  for (char *p = memchr(dst, '\n', len); p; p = memchr(p, '\n', (size_t)(dst + len - p)))
    *p = ' ';
  ch->olen += len;
}

/* Node's type for an fd it will get (lib/internal/child_process.js);
 * *dgram: "udp4" / "udp6" for a dgram.Socket (Node's dgramType), else
 * NULL. */
const char *herd__chan_handle_type(int fd, const char **dgram) {
  *dgram = NULL;
  int type = 0, domain = 0, listening = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
      return "net.Socket"; /* Node wraps a pipe as a Pipe socket */
    return "herd.Fd";
  }
  len = sizeof domain;
  (void)getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len);
  len = sizeof listening;
  (void)getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
  if (type == SOCK_STREAM)
    return listening ? "net.Server" : "net.Socket";
  if (type == SOCK_DGRAM && (domain == AF_INET || domain == AF_INET6)) {
    *dgram = domain == AF_INET ? "udp4" : "udp6";
    return "dgram.Socket";
  }
  return "herd.Fd";
}

int herd__chan_handle_dup(herd_chan_t *ch, int fd, const char *typed, int *dupfd,
                          const char **type, const char **dgram) {
  if (fd == -1)
    return 0;
  if (ch->mark_n >= MAX_HANDLES_QUEUED)
    return -ENOBUFS;
  *dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (*dupfd < 0)
    return -errno; /* EBADF before anything is queued */
  *type = typed ? typed : herd__chan_handle_type(*dupfd, dgram);
  return 0;
}

/* A handle's place in the output: its message starts at olen (the end
 * is set by herd__chan_mark_end once it is appended). The fd (ours) is
 * not closed on failure. */
int herd__chan_mark_add(herd_chan_t *ch, int fd) {
  if (ch->mark_head > 0 && ch->mark_head + ch->mark_n == ch->mark_cap) {
    memmove(ch->marks, ch->marks + ch->mark_head,
            ch->mark_n * sizeof *ch->marks);
    ch->mark_head = 0;
  }
  if (ch->mark_n == ch->mark_cap) {
    size_t n = ch->mark_cap ? ch->mark_cap * 2 : 8;
    struct handle_mark *nm = realloc(ch->marks, n * sizeof *nm);
    if (!nm)
      return -ENOMEM;
    ch->marks = nm;
    ch->mark_cap = n;
  }
  struct handle_mark *m = &ch->marks[ch->mark_head + ch->mark_n++];
  m->off = ch->olen;
  m->end = ch->olen;
  m->fd = fd;
  return 0;
}

void herd__chan_mark_end(herd_chan_t *ch) {
  ch->marks[ch->mark_head + ch->mark_n - 1].end = ch->olen;
}

/* After a message was queued: flush once 64 KiB wait, and say whether
 * the sender should slow down (herd_chan_send's return). */
int herd__chan_queued_done(herd_chan_t *ch) {
  size_t queued = herd_chan_queued(ch);
  /* After the socket said EAGAIN, trying again on every send is a
   * system call for nothing: wait for a flush (the loop's, on EPOLLOUT,
   * or the caller's). */
  if (queued >= AUTO_FLUSH && !ch->full) {
    ssize_t r = herd_chan_flush(ch);
    if (r < 0)
      return (int)r; /* -EPIPE: the peer is gone, it will never arrive */
    queued = (size_t)r;
  }
  return queued > HERD_CHAN_HIGH_WATER ? 1 : 0;
}

int herd_chan_send(herd_chan_t *ch, const char *json, size_t len, int fd) {
  return herd__chan_send_typed(ch, json, len, fd, NULL);
}

int herd__chan_send_typed(herd_chan_t *ch, const char *json, size_t len, int fd,
                          const char *typed) {
  if (!ch || !json)
    return -EINVAL;
  if (ch->gone)
    return -EPIPE;
  if (ch->advanced)
    return herd__chanv8_send_json(ch, json, len, fd, typed);
  if (herd__json_validate(json, len) < 0 || (ch->plain && fd != -1))
    return -EINVAL;
  int dupfd = -1;
  const char *type = NULL, *dgram = NULL;
  static const char head[] = "{\"cmd\":\"NODE_HANDLE\",\"type\":\"";
  static const char dgtype[] = ",\"dgramType\":\"";
  size_t need = len + 1;
  int r = herd__chan_handle_dup(ch, fd, typed, &dupfd, &type, &dgram);
  if (r < 0)
    return r;
  if (type)
    need += sizeof head + strlen(type) + sizeof dgtype + 16;
  if (herd_chan_queued(ch) + need > ch->max_queued) {
    herd__close(dupfd);
    return -ENOBUFS;
  }
  if (obuf_reserve(ch, need) < 0 ||
      (dupfd >= 0 && herd__chan_mark_add(ch, dupfd) < 0)) {
    herd__close(dupfd);
    return -ENOMEM;
  }
  if (dupfd >= 0) {
    append(ch, head, sizeof head - 1);
    append(ch, type, strlen(type));
    append(ch, "\"", 1);
    if (dgram) {
      append(ch, dgtype, sizeof dgtype - 1);
      append(ch, dgram, 4);
      append(ch, "\"", 1);
    }
    append(ch, ",\"msg\":", 7);
    append_json(ch, json, len);
    append(ch, "}\n", 2);
    herd__chan_mark_end(ch);
  } else {
    append_json(ch, json, len);
    append(ch, "\n", 1);
  }
  return herd__chan_queued_done(ch);
}

void herd__chan_set_gone(herd_chan_t *ch) {
  ch->gone = 1;
}

/* One send; returns bytes, -EAGAIN, or -EPIPE (peer gone). */
static ssize_t send_some(herd_chan_t *ch, const char *p, size_t n, int fd) {
  struct iovec iov = {.iov_base = (void *)p, .iov_len = n};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  if (fd >= 0) {
    memset(&u, 0, sizeof u);
    mh.msg_control = u.buf;
    mh.msg_controllen = sizeof u.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  for (;;) {
    ssize_t w = sendmsg(ch->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w >= 0)
      return w;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return -EAGAIN;
    if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN) {
      herd__chan_set_gone(ch);
      return -EPIPE;
    }
    return -errno;
  }
}

ssize_t herd_chan_flush(herd_chan_t *ch) {
  if (!ch)
    return -EINVAL;
  ch->full = 0; /* an explicit flush (or the loop's) tries again */
  if (ch->gone)
    return herd_chan_queued(ch) ? -EPIPE : 0;
  while (ch->ctl_len) {
    ssize_t w = send_some(ch, ch->ctl, ch->ctl_len, -1);
    if (w == -EAGAIN)
      return (ssize_t)herd_chan_queued(ch);
    if (w < 0)
      return w;
    memmove(ch->ctl, ch->ctl + w, ch->ctl_len - (size_t)w);
    ch->ctl_len -= (size_t)w;
  }
  while (ch->ohead < ch->olen && !ch->awaiting_ack) {
    struct handle_mark *m = ch->mark_n ? &ch->marks[ch->mark_head] : NULL;
    size_t limit = ch->olen;
    int fd = -1;
    if (m && m->off > ch->ohead)
      limit = m->off; /* plain data up to the handle's line */
    else if (m) {
      limit = m->end;
      fd = m->fd; /* -1 if it already went with an earlier part */
    }
    ssize_t w = send_some(ch, ch->obuf + ch->ohead, limit - ch->ohead, fd);
    if (w == -EAGAIN) {
      ch->full = 1;
      break;
    }
    if (w < 0)
      return w;
    ch->ohead += (size_t)w;
    if (m && fd >= 0 && w > 0)
      herd__closep(&m->fd); /* it went with this first part */
    if (m && ch->ohead >= m->end) {
      ch->mark_head++;
      if (--ch->mark_n == 0)
        ch->mark_head = 0;
      ch->awaiting_ack = 1;
    }
  }
  if (ch->ohead == ch->olen)
    ch->ohead = ch->olen = 0;
  return (ssize_t)herd_chan_queued(ch);
}

void herd__chan_queue_reply(herd_chan_t *ch, const char *line, size_t n) {
  if (ch->gone)
    return;
  /* Behind a handle we wait on, or behind earlier replies: the control
   * buffer (written first, at a line boundary). Else in order. */
  if ((ch->awaiting_ack || ch->ctl_len) && ch->ctl_len + n <= sizeof ch->ctl) {
    memcpy(ch->ctl + ch->ctl_len, line, n);
    ch->ctl_len += n;
    return;
  }
  if (obuf_reserve(ch, n) == 0)
    append(ch, line, n);
}

