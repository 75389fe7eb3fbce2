/*
 * chanrecv.c - the message channel's input: lines cut at '\n' and
 * validated as JSON, fds from SCM_RIGHTS claimed by NODE_HANDLE lines,
 * Node's internal messages answered (ACK/NACK), over-long lines dropped as
 * they stream in; and the blocking helpers (herd_chan_recv_wait,
 * herd_chan_flush_wait). The output is channel.c's; the state, chan.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chan.h"

static const char ACK[] = "{\"cmd\":\"NODE_HANDLE_ACK\"}\n";
static const char NACK[] = "{\"cmd\":\"NODE_HANDLE_NACK\"}\n";
/* The message of a handle line without "msg" (Node delivers undefined):
 * read-only, and already NUL-terminated. */
static const char NO_MSG[] = "null";

/* ---- input ------------------------------------------------------- */

static void push_fd(herd_chan_t *ch, int fd) {
  if (ch->plain || ch->fdq_n == MAX_PENDING_FDS) {
    herd__close(fd); /* a peer flooding fds cannot exhaust ours */
    return;
  }
  ch->fdq[(ch->fdq_head + ch->fdq_n++) % MAX_PENDING_FDS] = fd;
}

int herd__chan_pop_fd(herd_chan_t *ch) {
  if (!ch->fdq_n)
    return -1;
  int fd = ch->fdq[ch->fdq_head];
  ch->fdq_head = (ch->fdq_head + 1) % MAX_PENDING_FDS;
  ch->fdq_n--;
  return fd;
}

/* One recvmsg into rbuf. Returns bytes, 0 at EOF, -EAGAIN or -errno. */
static ssize_t fill(herd_chan_t *ch) {
  return herd__chan_fill(ch, MSG_DONTWAIT);
}

/* One recvmsg into rbuf (dontwait: MSG_DONTWAIT or 0 to block): bytes
 * read, 0 at the end (eof set, the peer gone), -EAGAIN or -errno. */
ssize_t herd__chan_fill(herd_chan_t *ch, int dontwait) {
  if (ch->rstart > 0 && (ch->rstart == ch->rlen || ch->rcap - ch->rlen < READ_MIN)) {
    memmove(ch->rbuf, ch->rbuf + ch->rstart, ch->rlen - ch->rstart);
    ch->rlen -= ch->rstart;
    ch->rscan -= ch->rstart;
    ch->cscan = ch->cscan > ch->rstart ? ch->cscan - ch->rstart : 0;
    ch->cnl = ch->cnl > ch->rstart ? ch->cnl - ch->rstart : 0;
    ch->rstart = 0;
  }
  if (ch->rcap - ch->rlen < READ_MIN) {
    size_t ncap = ch->rcap ? ch->rcap * 2 : 4 * READ_MIN;
    while (ncap - ch->rlen < READ_MIN)
      ncap *= 2;
    char *nb = realloc(ch->rbuf, ncap);
    if (!nb)
      return -ENOMEM;
    ch->rbuf = nb;
    ch->rcap = ncap;
  } else if (ch->rcap > (4u << 20) && ch->rlen < READ_MIN) {
    /* A long message came and went: give the memory back. */
    char *nb = realloc(ch->rbuf, 4 * READ_MIN);
    if (nb) {
      ch->rbuf = nb;
      ch->rcap = 4 * READ_MIN;
    }
  }
  struct iovec iov = {.iov_base = ch->rbuf + ch->rlen,
                      .iov_len = ch->rcap - ch->rlen};
  union {
    char buf[CMSG_SPACE(sizeof(int) * MAX_FDS_PER_READ)];
    struct cmsghdr align;
  } u;
  struct msghdr mh = {.msg_iov = &iov,
                      .msg_iovlen = 1,
                      .msg_control = u.buf,
                      .msg_controllen = sizeof u.buf};
  ssize_t n;
  for (;;) {
    n = recvmsg(ch->fd, &mh, MSG_CMSG_CLOEXEC | dontwait);
    if (n >= 0)
      break;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return -EAGAIN;
    if (errno != ECONNRESET)
      return -errno;
    n = 0; /* the peer died with our data unread: an end too */
    break;
  }
  if (n == 0) { /* the end, for every reader: eof, and the peer gone */
    ch->eof = 1;
    herd__chan_set_gone(ch);
    return 0;
  }
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
      continue;
    size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < nfd; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      push_fd(ch, fd);
    }
  }
  ch->rlen += (size_t)n;
  return n;
}

/* What a message's top-level "cmd" value (raw, NULL if none) makes it,
 * as Node sees it (lib/internal/child_process.js, isInternal): internal
 * if it is a string longer than 5 that starts with NODE_ - compared once
 * decoded, as JSON.parse gives it ("NODE\u005fHANDLE" is NODE_HANDLE). */
static int cmd_kind(const char *v, size_t vlen) {
  return herd__chan_cmd_kind(v, vlen);
}

int herd__chan_cmd_kind(const char *v, size_t vlen) {
  char c[20]; /* longer than any cmd we know */
  /* n: the whole length, c its first 20 bytes: enough to tell */
  ssize_t n = v ? herd__json_str(v, vlen, c, sizeof c) : -EINVAL;
  return n < 0 ? CMD_USER /* not a string */ : herd__chan_cmd_named(c, (size_t)n);
}

int herd__chan_cmd_named(const char *c, size_t n) {
  if (n <= 5 || memcmp(c, "NODE_", 5) != 0)
    return CMD_USER; /* too short, or not ours */
  if (n == 11 && memcmp(c, "NODE_HANDLE", 11) == 0)
    return CMD_HANDLE;
  if (n == 15 && memcmp(c, "NODE_HANDLE_ACK", 15) == 0)
    return CMD_ACK;
  if (n == 16 && memcmp(c, "NODE_HANDLE_NACK", 16) == 0)
    return CMD_NACK;
  if (n == 12 && memcmp(c, "NODE_CLUSTER", 12) == 0)
    return CMD_CLUSTER;
  return CMD_OTHER;
}

/* Is the line an internal message? Returns 1 handled (no delivery), 0 a
 * user message, or 2 a handle message to deliver (msg filled). */
static int internal(herd_chan_t *ch, const char *line, size_t len,
                    const char *v, size_t vlen, herd_chan_msg_t *msg) {
  /* v: the top-level "cmd" value, found while validating (or NULL) */
  if (ch->plain)
    return 0;
  int kind = cmd_kind(v, vlen);
  if (kind == CMD_USER)
    return 0;
  if (kind == CMD_HANDLE) {
    int fd = herd__chan_pop_fd(ch);
    if (ch->answered > 0) {
      ch->answered--; /* scan_control saw its fd and acknowledged it */
    } else if (fd < 0) {
      herd__chan_queue_reply(ch, NACK, sizeof NACK - 1);
      return 1; /* as Node: nothing is delivered */
    } else {
      herd__chan_queue_reply(ch, ACK, sizeof ACK - 1);
    }
    if (herd__json_member(line, len, "msg", &v, &vlen) == 1) {
      /* Node emits the message inside as its own message would be: an
       * internal one is not the user's (the handle goes with it). */
      const char *icmd;
      size_t icmdlen;
      if (herd__json_validate_cmd(v, vlen, &icmd, &icmdlen) == 0 &&
          cmd_kind(icmd, icmdlen) != CMD_USER) {
        herd__close(fd);
        return 1;
      }
      msg->json = v;
      msg->len = vlen;
    } else {
      msg->json = NO_MSG;
      msg->len = sizeof NO_MSG - 1;
    }
    msg->fd = fd;
    msg->handle_type[0] = '\0';
    if (herd__json_member(line, len, "type", &v, &vlen) == 1) {
      /* Node's type names are ASCII; a longer one is cut at a character */
      char *t = msg->handle_type;
      ssize_t n = herd__json_str(v, vlen, t, sizeof msg->handle_type);
      if (n < 0)
        n = 0; /* not a string */
      if ((size_t)n > sizeof msg->handle_type - 1) {
        n = sizeof msg->handle_type - 1;
        while (n > 0 && (t[n] & 0xc0) == 0x80)
          n--;
      }
      t[n] = '\0';
    }
    return 2;
  }
  if (kind == CMD_ACK || kind == CMD_NACK) {
    ch->acks += ch->awaiting_ack;
    ch->awaiting_ack = 0; /* an unsolicited one changes nothing */
    return 1;
  }
  /* other internal messages (NODE_CLUSTER, ...) are not the channel's:
   * a cluster primary's, or nobody's */
  return ch->internal ? 0 : 1;
}

void herd__chan_set_internal(herd_chan_t *ch) {
  ch->internal = 1;
}

int herd_chan_recv(herd_chan_t *ch, herd_chan_msg_t *msg) {
  if (!ch || !msg)
    return -EINVAL;
  if (ch->toolong_pending) {
    ch->toolong_pending = 0;
    return HERD_ETOOLONG;
  }
  if (ch->advanced)
    return herd__chanv8_recv(ch, msg);
  for (;;) {
    char *base = ch->rbuf;
    if (!ch->started && ch->rlen > 0) {
      /* A JSON text never starts with a NUL byte; a frame of Node's
       * 'advanced' mode (a 4-byte big-endian length) does. */
      if (base[0] == '\0')
        return HERD_ESERIAL;
      ch->started = 1;
    }
    char *nl = ch->rlen > ch->rscan
                   ? memchr(base + ch->rscan, '\n', ch->rlen - ch->rscan)
                   : NULL;
    if (ch->discarding) {
      if (nl) {
        ch->rstart = ch->rscan = (size_t)(nl - base) + 1;
        ch->discarding = 0;
        continue;
      }
      ch->rstart = ch->rscan = ch->rlen;
    } else if (nl) {
      const char *line = base + ch->rstart;
      size_t len = (size_t)(nl - line);
      ch->rstart = ch->rscan = (size_t)(nl - base) + 1;
      if (len > ch->max_message)
        return HERD_ETOOLONG;
      const char *cmd;
      size_t cmdlen;
      if (herd__json_validate_cmd(line, len, &cmd, &cmdlen) < 0)
        return HERD_EFRAME;
      memset(msg, 0, sizeof *msg);
      msg->fd = -1;
      int k = internal(ch, line, len, cmd, cmdlen, msg);
      if (k == 1)
        continue;
      if (k == 0) {
        msg->json = line;
        msg->len = len;
      }
      /* NUL-terminate in place: the '\n' is ours to overwrite, and the
       * value of a handle message ends before it (NO_MSG is not in the
       * line: it is terminated already, and not ours to write). */
      *nl = '\0';
      if (k == 2 && msg->json != NO_MSG)
        ((char *)msg->json)[msg->len] = '\0';
      return 1;
    } else {
      ch->rscan = ch->rlen;
      if (ch->rlen - ch->rstart > ch->max_message) {
        ch->discarding = 1;
        ch->rstart = ch->rscan = ch->rlen;
        return HERD_ETOOLONG;
      }
    }
    if (ch->eof) {
      /* a last line without '\n' is dropped, and said once */
      if (ch->rlen > ch->rstart && !ch->discarding) {
        ch->rstart = ch->rscan = ch->rlen;
        return HERD_ETRUNC;
      }
      return HERD_EPEERGONE;
    }
    ssize_t n = fill(ch);
    if (n == -EAGAIN)
      return 0;
    if (n < 0)
      return (int)n;
  }
}

uint64_t herd__chan_acks(const herd_chan_t *ch) {
  return ch->acks;
}

int herd__chan_handles_out(const herd_chan_t *ch) {
  return (int)ch->mark_n + ch->awaiting_ack;
}

int herd__chan_take_handles(herd_chan_t *ch, int *fds, int max) {
  /* The handle lines at the end of the queue that nothing of has been
   * sent yet (each line and its fd whole): the last ones first, so that
   * what stays is a prefix. */
  size_t k = ch->mark_n;
  while (k > 0) {
    struct handle_mark *m = &ch->marks[ch->mark_head + k - 1];
    size_t end = k == ch->mark_n ? ch->olen : ch->marks[ch->mark_head + k].off;
    if (m->fd < 0 || m->off < ch->ohead || m->end != end || (int)(ch->mark_n - k + 1) > max)
      break;
    k--;
  }
  int n = (int)(ch->mark_n - k);
  for (int i = 0; i < n; i++)
    fds[i] = ch->marks[ch->mark_head + k + (size_t)i].fd; /* oldest first */
  if (n) {
    ch->olen = ch->marks[ch->mark_head + k].off;
    ch->mark_n = k;
    if (!k)
      ch->mark_head = 0;
    if (ch->ohead == ch->olen)
      ch->ohead = ch->olen = 0;
  }
  return n;
}

int herd__chan_gone(const herd_chan_t *ch) {
  return ch->gone;
}

void herd__chan_trim(herd_chan_t *ch) {
  herd__chanv8_release(ch); /* the last message is gone with the buffer */
  /* as a new channel's: nothing read, nothing to scan */
  if (ch->rbuf && ch->rstart == ch->rlen && !ch->discarding && !ch->answered) {
    free(ch->rbuf);
    ch->rbuf = NULL;
    ch->rcap = ch->rlen = ch->rstart = ch->rscan = ch->cscan = ch->cnl = 0;
  }
  if (ch->obuf && ch->ohead == ch->olen && !ch->mark_n) {
    free(ch->obuf);
    ch->obuf = NULL;
    ch->ocap = ch->olen = ch->ohead = 0;
  }
}

int herd__chan_pending(const herd_chan_t *ch) {
  if (ch->eof || ch->toolong_pending)
    return 1;
  if (ch->advanced)
    return herd__chanv8_pending(ch);
  return ch->rlen > ch->rscan &&
         memchr(ch->rbuf + ch->rscan, '\n', ch->rlen - ch->rscan) != NULL;
}

/* ---- blocking helpers -------------------------------------------- */

/* The handle protocol, for a caller that waits for its output to go
 * (flush_wait) without taking messages: user messages must stay buffered
 * for herd_chan_recv, but
 *  - our handle's ACK/NACK is taken out of the input (replaced by an
 *    internal no-op line of the same length, which recv drops), and
 *  - a handle the peer sent is acknowledged now (its fd came with or
 *    before its line), so two peers that send handles at once and wait
 *    for each other's ACK do not deadlock; recv then delivers it without
 *    answering twice. A handle line without an fd is NACKed and dropped,
 *    as recv would. */
static int scan_control(herd_chan_t *ch) {
  static const char done[] = "{\"cmd\":\"NODE_DONE\"}";
  if (ch->discarding) {
    /* A line recv began dropping: finish dropping it as it would. */
    char *nl = ch->rlen > ch->rstart
                   ? memchr(ch->rbuf + ch->rstart, '\n', ch->rlen - ch->rstart)
                   : NULL;
    if (!nl) {
      ch->rstart = ch->rscan = ch->rlen;
      return 0;
    }
    ch->rstart = ch->rscan = (size_t)(nl - ch->rbuf) + 1;
    ch->discarding = 0;
  }
  /* Each line is looked at once, however often we come back while the
   * input grows (every line before cscan is answered or not ours): a
   * peer streaming messages meanwhile costs one pass, not one per read. */
  size_t pos = ch->cscan > ch->rstart ? ch->cscan : ch->rstart;
  while (pos < ch->rlen) {
    size_t from = ch->cnl > pos ? ch->cnl : pos;
    char *nl = from < ch->rlen
                   ? memchr(ch->rbuf + from, '\n', ch->rlen - from)
                   : NULL;
    if (!nl) {
      ch->cscan = pos;
      ch->cnl = ch->rlen;
      if (ch->rlen - pos <= ch->max_message)
        return 0;
      if (pos != ch->rstart)
        return HERD_ETOOLONG; /* recv must take the lines before it */
      /* The next line is too long: drop it as it streams in, as recv
       * would, and let recv report it in its turn. */
      ch->discarding = 1;
      ch->toolong_pending = 1;
      ch->rstart = ch->rscan = ch->rlen;
      return 0;
    }
    char *line = ch->rbuf + pos;
    size_t len = (size_t)(nl - line);
    pos = ch->cscan = (size_t)(nl - ch->rbuf) + 1;
    /* A line of the handle protocol holds NODE_HANDLE, or escapes; one
     * too long is recv's to drop. */
    if (ch->plain || len < sizeof done || len > ch->max_message ||
        (!memmem(line, len, "NODE_HANDLE", 11) && !memchr(line, '\\', len)))
      continue;
    const char *v;
    size_t vlen;
    int kind = herd__json_validate_cmd(line, len, &v, &vlen) == 0
                   ? cmd_kind(v, vlen)
                   : CMD_USER;
    if (herd__chan_scan_answer(ch, kind, ACK, sizeof ACK - 1, NACK, sizeof NACK - 1)) {
      memcpy(line, done, sizeof done - 1);
      memset(line + sizeof done - 1, ' ', len - (sizeof done - 1));
    }
  }
  return 0;
}

/* A herd__now_ms() deadline for a timeout (-1: none, 0). */
static uint64_t deadline_of(int timeout_ms) {
  if (timeout_ms < 0)
    return 0;
  return herd__now_ms() + (uint64_t)timeout_ms;
}

static int wait_fd(int fd, short events, uint64_t deadline) {
  struct pollfd p = {.fd = fd, .events = events};
  int left = herd__ms_left(deadline);
  if (left == 0)
    return -ETIMEDOUT;
  int r = poll(&p, 1, left);
  if (r < 0 && errno != EINTR)
    return -errno;
  return r == 0 ? -ETIMEDOUT : 0;
}

int herd_chan_recv_wait(herd_chan_t *ch, herd_chan_msg_t *msg,
                        int timeout_ms) {
  if (!ch || timeout_ms < -1)
    return -EINVAL;
  uint64_t deadline = deadline_of(timeout_ms);
  for (;;) {
    /* Our replies (ACKs) and queued messages must move too, or a peer
     * waiting on them never answers. */
    ssize_t q = herd_chan_flush(ch);
    if (q < 0 && q != -EPIPE)
      return (int)q;
    short ev = POLLIN;
    if (herd_chan_events(ch) & EPOLLOUT)
      ev |= POLLOUT;
    /* Nothing buffered: wait first. A read now would mostly say EAGAIN
     * (the peer has not answered yet) - a system call for nothing. With
     * no deadline and nothing of ours to write, the wait is the read: a
     * blocking recvmsg (the fd itself may be non-blocking: then it says
     * EAGAIN and we poll). */
    if (timeout_ms != 0 && !herd__chan_pending(ch) && !ch->gone) {
      if (timeout_ms < 0 && !(ev & POLLOUT) && !ch->discarding) {
        ssize_t n = herd__chan_fill(ch, 0);
        if (n >= 0 || n != -EAGAIN) {
          if (n < 0 && n != -EINTR)
            return (int)n;
          int r = herd_chan_recv(ch, msg);
          if (r != 0)
            return r;
          continue;
        }
      }
      int r = wait_fd(ch->fd, ev, deadline);
      if (r < 0)
        return r;
    }
    int r = herd_chan_recv(ch, msg);
    if (r != 0)
      return r;
    if (timeout_ms == 0)
      return -ETIMEDOUT;
  }
}

int herd_chan_flush_wait(herd_chan_t *ch, int timeout_ms) {
  if (!ch || timeout_ms < -1)
    return -EINVAL;
  uint64_t deadline = deadline_of(timeout_ms);
  for (;;) {
    ssize_t q = herd_chan_flush(ch);
    if (q < 0)
      return (int)q;
    if (q == 0 && !ch->awaiting_ack)
      return 0;
    size_t before = herd_chan_queued(ch);
    int awaiting = ch->awaiting_ack;
    int sc = ch->advanced ? herd__chanv8_scan(ch) : scan_control(ch);
    if (sc < 0)
      return sc;
    if (ch->awaiting_ack != awaiting || herd_chan_queued(ch) != before)
      continue; /* an ACK came, or we owe one: go round */
    if (ch->awaiting_ack) {
      /* Read until the ACK comes; user messages that arrive meanwhile
       * stay buffered for herd_chan_recv - up to max_message of them: a
       * peer flooding us while it holds back its ACK must not make our
       * memory grow without bound. */
      if (ch->cscan > ch->rstart && ch->cscan - ch->rstart > ch->max_message)
        return -ENOBUFS;
      ssize_t n = fill(ch);
      if (n == 0)
        return -EPIPE;
      if (n > 0)
        continue;
      if (n != -EAGAIN)
        return (int)n;
    }
    short ev = ch->awaiting_ack ? POLLIN : 0;
    if (herd_chan_events(ch) & EPOLLOUT)
      ev |= POLLOUT;
    int r = wait_fd(ch->fd, ev, deadline);
    if (r < 0)
      return r;
  }
}

int herd__chan_scan_answer(herd_chan_t *ch, int kind, const char *ack, size_t ack_len,
                           const char *nack, size_t nack_len) {
  if (ch->awaiting_ack && (kind == CMD_ACK || kind == CMD_NACK)) {
    ch->awaiting_ack = 0;
    ch->acks++;
    return 1;
  }
  if (kind != CMD_HANDLE)
    return 0;
  /* The handle messages before this one still in the input are the
   * answered ones, each with its fd at the front of the queue. */
  if (ch->answered < ch->fdq_n) {
    herd__chan_queue_reply(ch, ack, ack_len);
    ch->answered++;
    return 0;
  }
  herd__chan_queue_reply(ch, nack, nack_len);
  return 1;
}
