/*
 * chan.c - fuzz the channel's reader (herd_chan_recv, recv_wait,
 * flush_wait and the handle protocol) with what a peer can write: the
 * input is a script of steps for a raw peer on one end of a socketpair
 * and for libherd on the other:
 *
 *   byte 0      options: bit 0 plain mode; bits 1-3 max_message (64 << n
 *               bytes); bit 4 send a handle of our own first (flush_wait
 *               then reads while it waits for the ACK); bit 5 Node's
 *               'advanced' serialization (length-prefixed V8 frames; not
 *               plain)
 *   then steps, each a byte h and what it needs:
 *     h & 7 = 0..3  the peer writes the next N = byte bytes, repeated
 *                   1 << (h >> 5) times (up to 128), with an fd attached
 *                   if h & 8 (two fds if h & 16)
 *     4             libherd takes messages with herd_chan_recv until none
 *     5             herd_chan_flush_wait(ch, 0)
 *     6             herd_chan_recv_wait(ch, &m, 0)
 *     7             libherd sends a handle of its own (a pipe's end;
 *                   the first 8 times)
 *
 * When the script ends the peer closes its end and libherd takes what is
 * left. Checked: no crash; every message delivered is one JSON text,
 * NUL-terminated, no longer than max_message, and (in Node mode) not one
 * of Node's internal messages (advanced mode: a value, whose JSON
 * rendering reads back as the same value, not an internal message); an fd delivered is CLOEXEC and was sent;
 * results are among the documented ones; no fd is leaked; and the
 * memory libherd holds stays within a bound set by max_message, however
 * much the peer writes (checked where the sanitizer allocator says how
 * much is allocated: the fuzzer and SANITIZE=1).
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "herd.h"
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* From the sanitizers' allocator, when there is one. */
size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

#define MAX_WRITTEN (256u << 10) /* bytes a script may make the peer write */

struct run {
  herd_chan_t *ch;
  int peer;
  int plain;
  int adv;
  size_t max_message;
  int fds_sent, fds_got;
  int ended;      /* EPEERGONE (or ESERIAL: nothing more will come) */
  int peer_closed;
  int truncs;     /* HERD_ETRUNC: once, and only once the peer has closed */
  size_t mem0;    /* allocated bytes once the channel was open */
  unsigned checks;
};

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    abort();
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

static void check_memory(struct run *r) {
  /* not after every message: asking costs more than a small message */
  if (!__sanitizer_get_current_allocated_bytes || r->checks++ % 16)
    return;
  /* The read buffer starts at 256 KiB and grows only when what it
   * holds leaves less than a read (64 KiB) free: a line of up to
   * max_message, the messages flush_wait keeps (as much again) and a
   * read never do for the max_message used here (at most 8 KiB). The
   * output holds our ACKs and at most 9 handles. The peer may write
   * MAX_WRITTEN: held at once, that would take the buffer to 512 KiB. */
  size_t bound = 8 * r->max_message + (320u << 10);
  /* Advanced mode also holds the last message's tree (at most 90 bytes
   * a payload byte, docs/v8.md) and its JSON. */
  if (r->adv)
    bound += 128 * r->max_message;
  size_t now = __sanitizer_get_current_allocated_bytes();
  if (now > r->mem0 && now - r->mem0 > bound)
    abort();
}

/* Is the JSON text one of Node's internal messages? */
static int is_internal(const char *json, size_t len) {
  const char *v;
  size_t vlen;
  char c[8];
  if (herd__json_validate_cmd(json, len, &v, &vlen) < 0 || !v)
    return 0;
  ssize_t n = herd__json_str(v, vlen, c, sizeof c);
  return n > 5 && memcmp(c, "NODE_", 5) == 0;
}

/* Advanced mode: a value, not one of Node's internal messages, whose
 * JSON reads back as that value. */
static void got_value(const herd_chan_msg_t *m) {
  const herd_val_t *v = m->val;
  if (!v || !m->json || m->json[m->len] != '\0')
    abort();
  if (herd__json_validate(m->json, m->len) != 0)
    abort();
  if (v->type == HERD_VAL_OBJECT) {
    const herd_val_t *c = herd_val_obj_get(v, "cmd");
    if (c && c->type == HERD_VAL_STRING && c->str.len > 5 &&
        memcmp(c->str.s, "NODE_", 5) == 0)
      abort();
  }
  herd_val_t *back;
  if (herd_v8_from_json(m->json, m->len, NULL, &back, NULL) != 0)
    abort();
  if (herd_val_equal(back, v) != 1)
    abort();
  herd_val_free(back);
}

static void got_message(struct run *r, const herd_chan_msg_t *m) {
  if (r->adv)
    got_value(m);
  else if (!m->json || m->json[m->len] != '\0' || m->len > r->max_message ||
           m->val)
    abort();
  if (!r->adv && herd__json_validate(m->json, m->len) != 0)
    abort();
  if (!r->plain && !r->adv && is_internal(m->json, m->len))
    abort();
  if (m->fd >= 0) {
    int fl = fcntl(m->fd, F_GETFD);
    if (r->plain || fl < 0 || !(fl & FD_CLOEXEC) || ++r->fds_got > r->fds_sent)
      abort();
    close(m->fd);
  } else if (m->fd != -1) {
    abort();
  }
}

static int recv_result(struct run *r, int g, const herd_chan_msg_t *m) {
  switch (g) {
  case 1:
    got_message(r, m);
    break;
  case HERD_ESERIAL:
    if (r->adv)
      abort(); /* an advanced channel reads frames */
    r->ended = 1;
    break;
  case HERD_EPEERGONE:
    r->ended = 1;
    break;
  case HERD_ETRUNC:
    if (!r->peer_closed || ++r->truncs > 1)
      abort();
    break;
  case 0:
  case -ETIMEDOUT:
  case HERD_EFRAME:
  case HERD_ETOOLONG:
    break;
  default:
    abort();
  }
  check_memory(r);
  return g;
}

/* Take what is there; returns 1 if it took anything. */
static int take_all(struct run *r) {
  int took = 0;
  for (int i = 0; i < 100000 && !r->ended; i++) {
    herd_chan_msg_t m;
    int g = recv_result(r, herd_chan_recv(r->ch, &m), &m);
    if (g == 0)
      break;
    took = 1;
  }
  return took;
}

static void flush_wait(struct run *r) {
  int w = herd_chan_flush_wait(r->ch, 0);
  if (w != 0 && w != -ETIMEDOUT && w != -EPIPE && w != HERD_ETOOLONG &&
      w != -ENOBUFS)
    abort();
  check_memory(r);
}

/* The peer reads what libherd wrote (answers, handles) and drops it,
 * closing the fds that came. */
static void peer_drain(struct run *r) {
  for (;;) {
    char buf[4096];
    union {
      char b[CMSG_SPACE(4 * sizeof(int))];
      struct cmsghdr align;
    } u;
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = u.b, .msg_controllen = sizeof u.b};
    ssize_t n = recvmsg(r->peer, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n <= 0)
      return;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
        for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
          int fd;
          memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
          close(fd);
        }
  }
}

/* The peer writes p[0..n), with nfds fds on its first byte. Returns 0, or
 * -1 when libherd takes nothing more (the rest would never go). */
static int peer_write(struct run *r, const uint8_t *p, size_t n, int nfds,
                      int mode) {
  int waited = 0;
  while (n > 0) {
    struct iovec iov = {.iov_base = (void *)p, .iov_len = n};
    union {
      char b[CMSG_SPACE(2 * sizeof(int))];
      struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    int fds[2] = {-1, -1};
    if (nfds) {
      memset(&u, 0, sizeof u);
      for (int i = 0; i < nfds; i++)
        if ((fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
          abort();
      mh.msg_control = u.b;
      mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
      struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
      memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
    }
    ssize_t w = sendmsg(r->peer, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    for (int i = 0; i < nfds; i++)
      close(fds[i]);
    if (w > 0) {
      r->fds_sent += nfds;
      nfds = 0;
      p += w;
      n -= (size_t)w;
      waited = 0;
      continue;
    }
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && errno != EAGAIN)
      abort(); /* the channel's end is open: never EPIPE */
    /* Full: libherd reads. In flush_wait's mode, flush_wait first (it
     * reads while it waits for an ACK), then herd_chan_recv if that made
     * no room. */
    peer_drain(r);
    if (mode == 5 && !waited) {
      waited = 1;
      flush_wait(r);
      continue;
    }
    waited = 0;
    if (!take_all(r) && r->ended)
      return -1; /* it reads no more (HERD_ESERIAL) */
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  int fds_before = count_fds();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    abort();
  struct run r = {0};
  r.adv = (data[0] & 32) != 0;
  r.plain = (data[0] & 1) && !r.adv;
  r.max_message = (size_t)64 << ((data[0] >> 1) & 7);
  herd_chan_opts_t o = {.max_message = r.max_message,
                        .flags = r.plain ? HERD_CHAN_PLAIN
                                 : r.adv ? HERD_CHAN_ADVANCED : 0};
  uint8_t *chunk = malloc(256 * 128);
  if (!chunk || herd_chan_open(&r.ch, sv[0], &o) < 0)
    abort();
  r.peer = sv[1];
  if (__sanitizer_get_current_allocated_bytes)
    r.mem0 = __sanitizer_get_current_allocated_bytes();

  int mode = 4; /* how libherd reads when the peer is blocked */
  if ((data[0] & 16) && !r.plain) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
      abort();
    if (herd_chan_send(r.ch, "{\"mine\":1}", 10, p[1]) < 0)
      abort();
    close(p[0]);
    close(p[1]);
    (void)herd_chan_flush(r.ch);
    mode = 5;
  }
  size_t written = 0;
  int stuck = 0, mine = 0;
  for (size_t i = 1; i < size && !stuck;) {
    uint8_t h = data[i++];
    int op = h & 7;
    if (op <= 3) {
      size_t n = i < size ? data[i++] : 0;
      if (n > size - i)
        n = size - i;
      size_t times = (size_t)1 << (h >> 5);
      if (written + n * times > MAX_WRITTEN)
        times = 1;
      for (size_t t = 0; t < times; t++)
        memcpy(chunk + t * n, data + i, n);
      i += n;
      written += n * times;
      int nfds = (h & 8) ? ((h & 16) ? 2 : 1) : 0;
      if (n > 0 && peer_write(&r, chunk, n * times, nfds, mode) < 0)
        stuck = 1;
      continue;
    }
    peer_drain(&r);
    herd_chan_msg_t m;
    switch (op) {
    case 4:
      mode = 4;
      (void)take_all(&r);
      break;
    case 5:
      mode = 5;
      flush_wait(&r);
      break;
    case 6:
      if (!r.ended)
        (void)recv_result(&r, herd_chan_recv_wait(r.ch, &m, 0), &m);
      break;
    case 7:
      /* a few: what our sending holds is not what is tested here */
      if (!r.plain && mine++ < 8) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
          abort();
        int s = herd_chan_send(r.ch, "{\"mine\":2}", 10, p[1]);
        if (s < 0 && s != -EPIPE && s != -ENOBUFS)
          abort();
        close(p[0]);
        close(p[1]);
        (void)herd_chan_flush(r.ch);
      }
      break;
    }
  }
  /* The peer is done: libherd takes the rest and sees the end. */
  close(r.peer);
  r.peer_closed = 1;
  /* each result takes a line (at least its '\n'), or a frame (at least
   * its length), or ends: a bound */
  for (size_t i = 0; i <= written + 2 && !r.ended; i++) {
    herd_chan_msg_t m;
    if (recv_result(&r, herd_chan_recv(r.ch, &m), &m) == 0)
      abort(); /* the peer is gone: never "nothing yet" */
  }
  if (!r.ended)
    abort();
  herd_chan_close(r.ch);
  free(chunk);
  if (count_fds() != fds_before)
    abort();
  return 0;
}
