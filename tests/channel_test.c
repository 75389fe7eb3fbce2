/* channel_test.c - the message channel (herd_chan_*, herd_fork,
 * herd_fork_fn, herd_loop_chan): C with C, C with Node.js both ways, and
 * what a broken or hostile peer can do.
 *
 * Message contents come from gen_text()/msg_size(), which
 * tests/node/gen.js mirrors, so each side checks the other's messages
 * byte for byte (order too: every message carries its sequence number).
 * The C peers here are herd_fork_fn children (CHECK works in them: a
 * failure is reported through the runner's pipe, which they inherit, and
 * ends them with status 1) and the test binary's `--helper chan-echo`.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/cli/jval.h"
#include "internal.h"
#include "jtest.h"
#include "test.h"

#define N_MESSAGES 10000
#define BIG_SEQ 1000000
#define BIG_SIZE (10u * 1024u * 1024u)

/* ---- message contents (mirrored in tests/node/gen.js) -------------- */

/* Tokens as JSON.stringify writes them (UTF-8; \n \" \\ \u0000 \t
 * escaped, U+2028 raw), and their byte lengths. */
static const struct {
  const char *json;
  unsigned len;
} toks[] = {
    {"a", 1},  {"b", 1},  {"c", 1},  {"d", 1},  {"e", 1},
    {"f", 1},  {"g", 1},  {"h", 1},  {" ", 1},  {"/", 1},
    {"\xc3\xa9", 2},         /* é */
    {"\xf0\x9f\x98\x80", 4}, /* 😀 */
    {"\xe2\x80\xa8", 3},     /* U+2028 LINE SEPARATOR */
    {"\\n", 2},  {"\\\"", 2}, {"\\\\", 2}, {"\\u0000", 6}, {"\\t", 2},
};
#define NTOKS (sizeof toks / sizeof toks[0])

/* Direction 0: the C test sends it; 1: the peer does. */
static uint32_t gen_seed(int dir, int seq) {
  return (uint32_t)seq * 2u + (uint32_t)dir;
}

/* The JSON string body (no quotes) of exactly n bytes for a seed. */
static size_t gen_text(char *out, uint32_t seed, size_t n) {
  uint32_t st = seed * 2654435761u + 1u;
  size_t pos = 0;
  while (pos < n) {
    st = st * 1103515245u + 12345u;
    unsigned k = (st >> 16) % NTOKS;
    if (pos + toks[k].len <= n) {
      memcpy(out + pos, toks[k].json, toks[k].len);
      pos += toks[k].len;
    } else {
      out[pos++] = 'x';
    }
  }
  return pos;
}

/* Mixed sizes, 1 B to 64 KiB. */
static size_t msg_size(int seq) {
  if (seq % 1000 == 0)
    return 1;
  if (seq % 1000 == 999)
    return 65536;
  if (seq % 100 == 42)
    return 16384 + (size_t)(seq * 131) % 16384;
  if (seq % 10 == 3)
    return 1024 + (size_t)(seq * 7) % 3000;
  return 1 + (size_t)(seq * 37) % 200;
}

#define MSG_MAX (65536 + 64)

/* {"seq":SEQ,"s":"..."} as JSON.stringify writes it. */
static size_t render(char *out, int dir, int seq) {
  int h = sprintf(out, "{\"seq\":%d,\"s\":\"", seq);
  size_t n = gen_text(out + h, gen_seed(dir, seq), msg_size(seq));
  memcpy(out + (size_t)h + n, "\"}", 2);
  return (size_t)h + n + 2;
}

/* {"big":1,"s":"...10 MiB..."}: a malloc'd buffer, *len set. */
static char *render_big(int dir, const char *prefix, size_t *len) {
  size_t plen = strlen(prefix);
  char *b = malloc(BIG_SIZE + plen + 64);
  CHECK(b != NULL);
  memcpy(b, prefix, plen);
  size_t n = plen + (size_t)sprintf(b + plen, "{\"big\":1,\"s\":\"");
  n += gen_text(b + n, gen_seed(dir, BIG_SEQ), BIG_SIZE);
  memcpy(b + n, "\"}", 2);
  n += 2;
  if (plen)
    b[n++] = '}';
  *len = n;
  return b;
}

static int first_diff(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i])
      return (int)i;
  return (int)n;
}

/* ---- small helpers -------------------------------------------------- */

/* How much RSS may grow where memory must stay bounded: a few MiB of
 * buffers, more under ASan (freed blocks sit in its quarantine); far
 * below the 100+ MiB an unbounded buffer would take. */
#define RSS_SLACK_KB (16 * 1024)

static int ms_left(uint64_t deadline) {
  uint64_t now = test_now_ms();
  return now >= deadline ? 0 : (int)(deadline - now);
}

static long vmrss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  CHECK(f != NULL);
  char line[256];
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
      break;
  fclose(f);
  CHECK(kb > 0);
  return kb;
}

/* The next message within 10 s (fails on anything else). */
static void recv_one(herd_chan_t *ch, herd_chan_msg_t *m) {
  int r = herd_chan_recv_wait(ch, m, 10000);
  CHECK_MSG(r == 1, "herd_chan_recv_wait: %d (%s)", r, herd_strerror(r));
}

static void expect_msg(herd_chan_t *ch, const char *json) {
  herd_chan_msg_t m;
  int r = herd_chan_recv_wait(ch, &m, 10000);
  CHECK_MSG(r == 1, "herd_chan_recv_wait: %d (%s), expected %s", r,
            herd_strerror(r), json);
  CHECK_MSG(m.len == strlen(json) && memcmp(m.json, json, m.len) == 0,
            "got %.*s, expected %s", (int)(m.len > 300 ? 300 : m.len),
            m.json, json);
  CHECK_MSG(m.fd == -1, "an fd (%d, %s) came with %s", m.fd, m.handle_type,
            json);
}

/* A message with a handle: checks json and type, returns the fd. */
static int expect_handle(herd_chan_t *ch, const char *json,
                         const char *type) {
  herd_chan_msg_t m;
  recv_one(ch, &m);
  CHECK_MSG(m.len == strlen(json) && memcmp(m.json, json, m.len) == 0,
            "got %.*s, expected %s", (int)(m.len > 300 ? 300 : m.len),
            m.json, json);
  CHECK_MSG(m.fd >= 0, "no fd came with %s", json);
  CHECK_STR(m.handle_type, type);
  CHECK(fcntl(m.fd, F_GETFD) & FD_CLOEXEC);
  return m.fd;
}

static void expect_end(herd_chan_t *ch, int code) {
  herd_chan_msg_t m;
  int r = herd_chan_recv_wait(ch, &m, 10000);
  CHECK_MSG(r == code, "herd_chan_recv_wait: %d (%s)%s%.*s, expected %d (%s)",
            r, herd_strerror(r), r == 1 ? ": " : "",
            r == 1 ? (int)(m.len > 200 ? 200 : m.len) : 0, r == 1 ? m.json : "",
            code, herd_strerror(code));
}

static void send_str(herd_chan_t *ch, const char *json, int fd) {
  int r = herd_chan_send(ch, json, strlen(json), fd);
  CHECK_MSG(r == 0, "herd_chan_send(%s, fd %d): %d (%s)", json, fd, r,
            herd_strerror(r));
}

static void finish(herd_child_t *c, int status) {
  CHECK_OK(herd_child_wait(c, 20000));
  CHECK_EQ(herd_child_status(c), status);
  herd_child_close(c);
}

/* Write all of buf to a (non-blocking) socket, waiting when it is full. */
static void raw_send_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len) {
    ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && errno == EAGAIN) {
      struct pollfd pf = {.fd = fd, .events = POLLOUT};
      CHECK(poll(&pf, 1, 20000) == 1);
      continue;
    }
    CHECK_MSG(w > 0, "send: %s", strerror(errno));
    p += w;
    len -= (size_t)w;
  }
}

/* One line from a raw socket, without its '\n' (malloc'd). */
static char *raw_read_line(int fd) {
  static char buf[4096];
  size_t n = 0;
  while (n < sizeof buf - 1) {
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    CHECK_MSG(poll(&pf, 1, 10000) == 1, "no line within 10 s");
    /* recvmsg: an fd that comes with the line is closed, not leaked */
    union {
      char b[CMSG_SPACE(4 * sizeof(int))];
      struct cmsghdr align;
    } u;
    struct iovec iov = {.iov_base = buf + n, .iov_len = 1};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = u.b,
                        .msg_controllen = sizeof u.b};
    ssize_t r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
    if (r < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    CHECK_MSG(r == 1, "read: %zd (%s)", r, strerror(errno));
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
        for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
             i++) {
          int rfd;
          memcpy(&rfd, CMSG_DATA(c) + i * sizeof(int), sizeof rfd);
          close(rfd);
        }
    if (buf[n] == '\n')
      break;
    n++;
  }
  buf[n] = '\0';
  return strdup(buf);
}

/* Read fd to EOF within timeout_ms (a leaked copy of a write end would
 * keep EOF from coming). */
static char *read_to_eof(int fd, int timeout_ms) {
  uint64_t deadline = test_now_ms() + (uint64_t)timeout_ms;
  size_t cap = 4096, len = 0;
  char *b = malloc(cap);
  CHECK(b != NULL);
  for (;;) {
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    int left = ms_left(deadline);
    CHECK_MSG(left > 0 && poll(&pf, 1, left) == 1,
              "no EOF within %d ms (read so far: %.*s)", timeout_ms, (int)len,
              b);
    if (len + 1 >= cap) {
      cap *= 2;
      b = realloc(b, cap);
      CHECK(b != NULL);
    }
    ssize_t r = read(fd, b + len, cap - len - 1);
    if (r < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    CHECK_MSG(r >= 0, "read: %s", strerror(errno));
    if (r == 0)
      break;
    len += (size_t)r;
  }
  b[len] = '\0';
  return b;
}

static int tcp_listen(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  CHECK(listen(fd, 16) == 0);
  socklen_t sl = sizeof sa;
  CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
  *port = ntohs(sa.sin_port);
  return fd;
}

static int tcp_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CHECK_MSG(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0,
            "connect 127.0.0.1:%d: %s", port, strerror(errno));
  return fd;
}

static int local_port(int fd) {
  struct sockaddr_in sa;
  socklen_t sl = sizeof sa;
  CHECK(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
  CHECK_EQ(sa.sin_family, AF_INET);
  return ntohs(sa.sin_port);
}

static int is_listening(int fd) {
  int on = 0;
  socklen_t sl = sizeof on;
  CHECK(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &sl) == 0);
  return on;
}

/* ---- the pump: N messages each way, both directions at once ---------- */

struct pump {
  herd_chan_t *ch;
  int dir;       /* we send gen(dir, seq) */
  int peer_dir;  /* and expect gen(peer_dir, seq) */
  int echo;      /* the peer answers {"echo":OURS} instead */
  int n_send, n_recv;
  int sent, got;
  int gone;
  char *sbuf, *ebuf;
  /* for the loop-driven variant */
  herd_loop_t *loop;
  herd_timer_t timer;
  int timer_on;
};

static void pump_init(struct pump *p, herd_chan_t *ch, int dir, int peer_dir,
                      int echo, int n) {
  memset(p, 0, sizeof *p);
  p->ch = ch;
  p->dir = dir;
  p->peer_dir = peer_dir;
  p->echo = echo;
  p->n_send = p->n_recv = n;
  p->sbuf = malloc(MSG_MAX);
  p->ebuf = malloc(MSG_MAX + 16);
  CHECK(p->sbuf && p->ebuf);
}

static void pump_free(struct pump *p) {
  free(p->sbuf);
  free(p->ebuf);
}

static int pump_done(const struct pump *p) {
  return p->sent == p->n_send && p->got == p->n_recv &&
         herd_chan_queued(p->ch) == 0;
}

/* Queue messages until the channel says "slow down". */
static void pump_fill(struct pump *p) {
  while (p->sent < p->n_send &&
         herd_chan_queued(p->ch) <= HERD_CHAN_HIGH_WATER) {
    size_t n = render(p->sbuf, p->dir, p->sent);
    int r = herd_chan_send(p->ch, p->sbuf, n, -1);
    CHECK_MSG(r == 0 || r == 1, "send seq %d: %d (%s)", p->sent, r,
              herd_strerror(r));
    p->sent++;
  }
}

static void pump_check(struct pump *p, const herd_chan_msg_t *m) {
  CHECK_MSG(p->got < p->n_recv, "an extra message: %.80s", m->json);
  CHECK_MSG(m->fd == -1, "an fd with message %d", p->got);
  size_t n;
  if (p->echo) {
    memcpy(p->ebuf, "{\"echo\":", 8);
    n = 8 + render(p->ebuf + 8, p->dir, p->got);
    p->ebuf[n++] = '}';
  } else {
    n = render(p->ebuf, p->peer_dir, p->got);
  }
  if (m->len != n || memcmp(m->json, p->ebuf, n) != 0) {
    int d = first_diff(m->json, p->ebuf, m->len < n ? m->len : n);
    test_fail(__FILE__, __LINE__,
              "message %d: %zu bytes, expected %zu; first difference at "
              "byte %d: got \"%.40s\", expected \"%.40s\"",
              p->got, m->len, n, d, m->json + d, p->ebuf + d);
  }
  p->got++;
}

static void pump_drain(struct pump *p) {
  while (p->got < p->n_recv) {
    herd_chan_msg_t m;
    int r = herd_chan_recv(p->ch, &m);
    if (r == 0)
      return;
    if (r == HERD_EPEERGONE) {
      p->gone = 1;
      return;
    }
    CHECK_MSG(r == 1, "recv after %d messages: %d (%s)", p->got, r,
              herd_strerror(r));
    pump_check(p, &m);
  }
}

/* A poll loop over herd_chan_events. */
static void pump_run_poll(struct pump *p, int timeout_ms) {
  uint64_t deadline = test_now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    pump_fill(p);
    ssize_t q = herd_chan_flush(p->ch);
    CHECK_MSG(q >= 0, "flush: %zd (%s)", q, herd_strerror((int)q));
    pump_drain(p);
    if (pump_done(p))
      return;
    CHECK_MSG(!p->gone, "the peer left after %d of %d messages", p->got,
              p->n_recv);
    if (p->sent < p->n_send && herd_chan_queued(p->ch) <= HERD_CHAN_HIGH_WATER)
      continue; /* room again: queue more before waiting */
    short ev = 0;
    if (p->got < p->n_recv)
      ev |= POLLIN;
    if (herd_chan_events(p->ch) & EPOLLOUT)
      ev |= POLLOUT;
    struct pollfd pf = {.fd = herd_chan_fd(p->ch), .events = ev};
    int left = ms_left(deadline);
    CHECK_MSG(left > 0, "timed out: sent %d/%d, got %d/%d, %zu bytes queued",
              p->sent, p->n_send, p->got, p->n_recv,
              herd_chan_queued(p->ch));
    CHECK(poll(&pf, 1, left) >= 0 || errno == EINTR);
  }
}

/* The same through herd_loop_chan: messages come to the callback, which
 * tops the queue up; a 0 ms timer does so when only the socket drained. */
static void pump_chan_cb(herd_loop_t *loop, herd_chan_t *ch, int err,
                         herd_chan_msg_t *msg, void *data) {
  (void)loop;
  (void)ch;
  struct pump *p = data;
  if (err == HERD_EPEERGONE) {
    p->gone = 1;
    return;
  }
  CHECK_MSG(err == 0, "loop channel callback: %d (%s)", err,
            herd_strerror(err));
  pump_check(p, msg);
  pump_fill(p);
}

static void pump_timer_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct pump *p = data;
  p->timer_on = 0;
  pump_fill(p);
}

static void pump_run_loop(struct pump *p, int timeout_ms) {
  uint64_t deadline = test_now_ms() + (uint64_t)timeout_ms;
  CHECK_OK(herd_loop_new(&p->loop));
  CHECK_OK(herd_loop_chan(p->loop, p->ch, pump_chan_cb, p));
  while (!pump_done(p)) {
    CHECK_MSG(!p->gone, "the peer left after %d of %d messages", p->got,
              p->n_recv);
    if (p->sent < p->n_send && !p->timer_on &&
        herd_chan_queued(p->ch) <= HERD_CHAN_HIGH_WATER) {
      CHECK_OK(herd_loop_timer_start(p->loop, &p->timer, 0, pump_timer_cb, p));
      p->timer_on = 1;
    }
    int left = ms_left(deadline);
    CHECK_MSG(left > 0, "timed out: sent %d/%d, got %d/%d, %zu bytes queued",
              p->sent, p->n_send, p->got, p->n_recv,
              herd_chan_queued(p->ch));
    CHECK_OK(herd_loop_run_once(p->loop, left));
  }
  if (!p->gone)
    CHECK_OK(herd_loop_chan_stop(p->loop, p->ch));
  herd_loop_timer_stop(p->loop, &p->timer);
  herd_loop_free(p->loop);
  p->loop = NULL;
}

/* Send one message and receive one, at the same time (for 10 MiB each
 * way: neither side may wait for its send to finish before reading). */
static void exchange(herd_chan_t *ch, const char *out, size_t out_len,
                     const char *want, size_t want_len, int timeout_ms) {
  uint64_t deadline = test_now_ms() + (uint64_t)timeout_ms;
  int r = herd_chan_send(ch, out, out_len, -1);
  CHECK_MSG(r == 0 || r == 1, "send: %d (%s)", r, herd_strerror(r));
  int got = 0;
  for (;;) {
    ssize_t q = herd_chan_flush(ch);
    CHECK_MSG(q >= 0, "flush: %zd (%s)", q, herd_strerror((int)q));
    if (!got) {
      herd_chan_msg_t m;
      r = herd_chan_recv(ch, &m);
      CHECK_MSG(r >= 0, "recv: %d (%s)", r, herd_strerror(r));
      if (r == 1) {
        if (m.len != want_len || memcmp(m.json, want, want_len) != 0) {
          int d = first_diff(m.json, want, m.len < want_len ? m.len : want_len);
          test_fail(__FILE__, __LINE__,
                    "big message: %zu bytes, expected %zu; first difference "
                    "at byte %d",
                    m.len, want_len, d);
        }
        got = 1;
        continue;
      }
    }
    if (got && q == 0)
      return;
    short ev = got ? 0 : POLLIN;
    if (herd_chan_events(ch) & EPOLLOUT)
      ev |= POLLOUT;
    struct pollfd pf = {.fd = herd_chan_fd(ch), .events = ev};
    int left = ms_left(deadline);
    CHECK_MSG(left > 0, "timed out (got %d, %zu bytes queued)", got,
              herd_chan_queued(ch));
    CHECK(poll(&pf, 1, left) >= 0 || errno == EINTR);
  }
}

/* ---- C with C: many messages, big messages --------------------------- */

static int pump_child(herd_chan_t *ch, void *arg) {
  (void)arg;
  struct pump p;
  pump_init(&p, ch, 1, 0, 0, N_MESSAGES);
  pump_run_poll(&p, 40000);
  pump_free(&p);
  return 0;
}

/* Parent through herd_loop_chan, child through a poll loop: 10,000
 * messages each way at once, each checked byte for byte and in order. */
TEST(chan_fork_fn_10k_messages_each_way) {
  herd_child_t c;
  herd_chan_t *ch;
  CHECK_OK(herd_fork_fn(&c, &ch, pump_child, NULL));
  struct pump p;
  pump_init(&p, ch, 0, 1, 0, N_MESSAGES);
  pump_run_loop(&p, 40000);
  pump_free(&p);
  expect_end(ch, HERD_EPEERGONE);
  finish(&c, 0);
  herd_chan_close(ch);
}

static int big_child(herd_chan_t *ch, void *arg) {
  (void)arg;
  size_t out_len, want_len;
  char *out = render_big(1, "", &out_len);
  char *want = render_big(0, "", &want_len);
  exchange(ch, out, out_len, want, want_len, 30000);
  free(out);
  free(want);
  return 0;
}

TEST(chan_10mib_message_each_way) {
  herd_child_t c;
  herd_chan_t *ch;
  CHECK_OK(herd_fork_fn(&c, &ch, big_child, NULL));
  size_t out_len, want_len;
  char *out = render_big(0, "", &out_len);
  char *want = render_big(1, "", &want_len);
  exchange(ch, out, out_len, want, want_len, 30000);
  free(out);
  free(want);
  expect_end(ch, HERD_EPEERGONE);
  finish(&c, 0);
  herd_chan_close(ch);
}

/* herd_fork of this binary: the child opens its end with
 * herd_chan_from_env and echoes (helpers.c, chan-echo). */
TEST(chan_fork_exec_echo_10k_messages_and_10mib) {
  char *argv[] = {"herd-test", "--helper", "chan-echo", NULL};
  herd_child_t c;
  herd_chan_t *ch;
  CHECK_OK(herd_fork(&c, &ch, test_self(), argv, NULL));
  struct pump p;
  pump_init(&p, ch, 0, 0, 1, N_MESSAGES);
  pump_run_poll(&p, 40000);
  pump_free(&p);
  size_t out_len, want_len;
  char *out = render_big(0, "", &out_len);
  char *want = render_big(0, "{\"echo\":", &want_len);
  exchange(ch, out, out_len, want, want_len, 30000);
  free(out);
  free(want);
  /* A regular file is a "herd.Fd", which a C peer takes. */
  char path[] = "/tmp/herd-chan-XXXXXX";
  int f = mkstemp(path);
  CHECK(f >= 0);
  unlink(path);
  send_str(ch, "{\"file\":1}", f);
  close(f);
  send_str(ch, "[\"after\"]", -1);
  expect_msg(ch, "{\"gotfd\":\"herd.Fd\",\"echo\":{\"file\":1}}");
  expect_msg(ch, "{\"echo\":[\"after\"]}");
  /* Our close is the child's EOF: it exits 0 once it sees the end. */
  herd_chan_close(ch);
  finish(&c, 0);
}

/* ---- fd passing ------------------------------------------------------ */

struct gate {
  int r, w; /* parent -> child: one byte = go */
};

static int fdpass_child(herd_chan_t *ch, void *arg) {
  struct gate *g = arg;
  close(g->w);
  int base = test_count_fds();
  char b;
  CHECK_EQ(read(g->r, &b, 1), 1);

  int fd = expect_handle(ch, "{\"op\":\"pipe\"}", "net.Socket");
  CHECK_EQ(write(fd, "through-pipe", 12), 12);
  close(fd);
  expect_msg(ch, "{\"after\":1}");
  expect_msg(ch, "{\"after\":2}");

  /* Three handles back, each followed by a message: the second and third
   * wait in the queue for the parent's ACK of the one before. */
  int port;
  int l = tcp_listen(&port);
  char json[64];
  snprintf(json, sizeof json, "{\"op\":\"server\",\"port\":%d}", port);
  send_str(ch, json, l);
  close(l);
  send_str(ch, "{\"m\":1}", -1);

  char path[] = "/tmp/herd-chan-XXXXXX";
  int f = mkstemp(path);
  CHECK(f >= 0);
  unlink(path);
  CHECK_EQ(write(f, "file-content", 12), 12);
  send_str(ch, "{\"op\":\"file\"}", f);
  close(f);
  send_str(ch, "{\"m\":2}", -1);

  int q[2];
  CHECK(pipe2(q, O_CLOEXEC) == 0);
  CHECK_EQ(write(q[1], "back-through-pipe", 17), 17);
  send_str(ch, "{\"op\":\"pipe-back\"}", q[0]);
  close(q[0]);
  close(q[1]);
  send_str(ch, "{\"m\":3}", -1);
  CHECK_EQ(herd_chan_flush_wait(ch, 10000), 0);
  CHECK_EQ(herd_chan_queued(ch), 0);

  expect_msg(ch, "{\"bye\":1}");
  close(g->r);
  /* Nothing received or sent is left open here. */
  CHECK_EQ(test_count_fds(), base - 1);
  return 0;
}

TEST(chan_fd_passing_both_ways_ack_and_order) {
  int before = test_count_fds();
  int gp[2];
  CHECK(pipe2(gp, O_CLOEXEC) == 0);
  struct gate g = {gp[0], gp[1]};
  herd_child_t c;
  herd_chan_t *ch;
  CHECK_OK(herd_fork_fn(&c, &ch, fdpass_child, &g));
  close(gp[0]);

  int p[2];
  CHECK(pipe2(p, O_CLOEXEC) == 0);
  CHECK_EQ(herd_chan_send(ch, "{\"op\":\"pipe\"}", 13, p[1]), 0);
  close(p[1]); /* the channel sends its own duplicate */
  send_str(ch, "{\"after\":1}", -1);
  send_str(ch, "{\"after\":2}", -1);
  /* The handle's line leaves; what follows waits for the ACK, which the
   * child cannot send before it reads. */
  CHECK_EQ(herd_chan_flush(ch), 24);
  CHECK_EQ(herd_chan_flush_wait(ch, 300), -ETIMEDOUT);
  CHECK_EQ(herd_chan_queued(ch), 24);
  CHECK_EQ(write(gp[1], "g", 1), 1);
  CHECK_EQ(herd_chan_flush_wait(ch, 10000), 0);
  CHECK_EQ(herd_chan_queued(ch), 0);

  /* EOF proves no copy of the write end stayed open in either process. */
  char *s = read_to_eof(p[0], 10000);
  CHECK_STR(s, "through-pipe");
  free(s);

  herd_chan_msg_t m;
  recv_one(ch, &m);
  int port = -1;
  CHECK_MSG(sscanf(m.json, "{\"op\":\"server\",\"port\":%d}", &port) == 1,
            "got %s", m.json);
  CHECK_STR(m.handle_type, "net.Server");
  int srv = m.fd;
  CHECK(srv >= 0);
  CHECK(fcntl(srv, F_GETFD) & FD_CLOEXEC);
  CHECK(is_listening(srv));
  CHECK_EQ(local_port(srv), port);
  int cl = tcp_connect(port);
  int acc = accept4(srv, NULL, NULL, SOCK_CLOEXEC);
  CHECK_MSG(acc >= 0, "accept on the received server: %s", strerror(errno));
  close(acc);
  close(cl);
  close(srv);
  expect_msg(ch, "{\"m\":1}");

  int f = expect_handle(ch, "{\"op\":\"file\"}", "herd.Fd");
  struct stat st;
  CHECK(fstat(f, &st) == 0 && S_ISREG(st.st_mode));
  char buf[32] = {0};
  CHECK_EQ(pread(f, buf, sizeof buf - 1, 0), 12);
  CHECK_STR(buf, "file-content");
  close(f);
  expect_msg(ch, "{\"m\":2}");

  int r = expect_handle(ch, "{\"op\":\"pipe-back\"}", "net.Socket");
  s = read_to_eof(r, 10000);
  CHECK_STR(s, "back-through-pipe");
  free(s);
  close(r);
  expect_msg(ch, "{\"m\":3}");

  send_str(ch, "{\"bye\":1}", -1);
  CHECK_EQ(herd_chan_flush_wait(ch, 10000), 0);
  expect_end(ch, HERD_EPEERGONE);
  finish(&c, 0);
  herd_chan_close(ch);
  close(gp[1]);
  close(p[0]);
  CHECK_EQ(test_count_fds(), before);
}

/* Both sides pass a handle at the same moment, then wait for the
 * other's. mode 0: each reads (herd_chan_recv_wait, which answers the
 * other's handle with an ACK) before it waits for its own ACK;
 * mode 1: each first waits with herd_chan_flush_wait. */
struct at_once {
  int mode;
  size_t pad; /* bytes of padding in the handles' messages */
};

/* {"from":"WHO","pad":"xxx..."} (malloc'd) */
static char *from_json(const char *who, size_t pad) {
  char *j = malloc(pad + 64);
  CHECK(j != NULL);
  int n = snprintf(j, 64, "{\"from\":\"%s\",\"pad\":\"", who);
  memset(j + n, 'x', pad);
  memcpy(j + (size_t)n + pad, "\"}", 3);
  return j;
}

static void at_once_side(herd_chan_t *ch, const struct at_once *a,
                         const char *me, const char *peer) {
  int mode = a->mode;
  int p[2];
  CHECK(pipe2(p, O_CLOEXEC) == 0);
  char json[64];
  char *from = from_json(me, a->pad);
  send_str(ch, from, p[1]);
  free(from);
  close(p[1]);
  snprintf(json, sizeof json, "{\"after\":\"%s\"}", me);
  send_str(ch, json, -1);
  if (mode == 1) {
    int r = herd_chan_flush_wait(ch, 3000);
    CHECK_MSG(r == 0,
              "%s: herd_chan_flush_wait after a handle: %d (%s): both "
              "peers wait for an ACK that only herd_chan_recv sends",
              me, r, herd_strerror(r));
  }
  from = from_json(peer, a->pad);
  int fd = expect_handle(ch, from, "net.Socket");
  free(from);
  snprintf(json, sizeof json, "{\"after\":\"%s\"}", peer);
  expect_msg(ch, json);
  CHECK_EQ(herd_chan_flush_wait(ch, 10000), 0);
  CHECK_EQ(write(fd, me, strlen(me)), (ssize_t)strlen(me));
  close(fd);
  char *s = read_to_eof(p[0], 10000);
  CHECK_STR(s, peer);
  free(s);
  close(p[0]);
}

static int at_once_child(herd_chan_t *ch, void *arg) {
  at_once_side(ch, arg, "child", "parent");
  return 0;
}

static void at_once(int mode, size_t pad) {
  struct at_once a = {mode, pad};
  herd_child_t c;
  herd_chan_t *ch;
  CHECK_OK(herd_fork_fn(&c, &ch, at_once_child, &a));
  at_once_side(ch, &a, "parent", "child");
  expect_end(ch, HERD_EPEERGONE);
  finish(&c, 0);
  herd_chan_close(ch);
}

TEST_T(chan_fd_passing_at_once_recv_wait_no_deadlock, 30) { at_once(0, 0); }

TEST_T(chan_fd_passing_at_once_flush_wait_no_deadlock, 30) { at_once(1, 0); }

/* The same with messages of 100 KiB: flush_wait answered only handle
 * lines of up to 4 KiB, so each peer waited for the other's ACK. */
TEST_T(chan_fd_passing_at_once_big_messages_flush_wait_no_deadlock, 30) {
  at_once(1, 100 * 1024);
}

/* Raw peer: fds that came with plain lines wait for a NODE_HANDLE line
 * (Node's rule); those never claimed, and our own handles still queued
 * behind an ACK that never comes, are closed by herd_chan_close. */

static int unclaimed_child(herd_chan_t *ch, void *arg) {
  (void)arg;
  int s = herd_chan_fd(ch);
  int a[2], b[2];
  CHECK(pipe2(a, O_CLOEXEC) == 0);
  CHECK(pipe2(b, O_CLOEXEC) == 0);
  test_send_with_fd(s, "{\"plain\":1}\n", a[1]);
  test_send_with_fd(s, "{\"plain\":2}\n", b[1]);
  close(a[1]);
  close(b[1]);
  const char *h =
      "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\",\"msg\":{\"h\":1}}\n";
  raw_send_all(s, h, strlen(h));
  /* The parent got a[1] with the handle line: it writes "A" into it. */
  char *line = raw_read_line(s);
  CHECK_STR(line, "{\"cmd\":\"NODE_HANDLE_ACK\"}");
  free(line);
  char *got = read_to_eof(a[0], 10000);
  CHECK_STR(got, "A");
  free(got);
  /* b[1] was never claimed: the parent's herd_chan_close closes it. */
  got = read_to_eof(b[0], 10000);
  CHECK_STR(got, "");
  free(got);
  close(a[0]);
  close(b[0]);
  return 0;
}

TEST(chan_unclaimed_and_unsent_fds_closed_by_close) {
  int before = test_count_fds();
  herd_child_t c;
  herd_chan_t *ch;
  CHECK_OK(herd_fork_fn(&c, &ch, unclaimed_child, NULL));
  expect_msg(ch, "{\"plain\":1}");
  expect_msg(ch, "{\"plain\":2}");
  int fd = expect_handle(ch, "{\"h\":1}", "net.Socket");
  CHECK_EQ(write(fd, "A", 1), 1);
  close(fd);
  CHECK_EQ(herd_chan_flush_wait(ch, 10000), 0); /* our ACK */
  /* Two handles to a peer that never ACKs: the second stays queued. */
  int p[2], q[2];
  CHECK(pipe2(p, O_CLOEXEC) == 0);
  CHECK(pipe2(q, O_CLOEXEC) == 0);
  send_str(ch, "{\"h\":2}", p[1]);
  send_str(ch, "{\"h\":3}", q[1]);
  close(p[1]);
  close(q[1]);
  CHECK(herd_chan_flush(ch) > 0);
  herd_chan_close(ch);
  /* The queued duplicate of q[1] is gone with the channel. */
  char *s = read_to_eof(q[0], 10000);
  CHECK_STR(s, "");
  free(s);
  finish(&c, 0);
  close(p[0]);
  close(q[0]);
  CHECK_EQ(test_count_fds(), before);
}

static int nack_child(herd_chan_t *ch, void *arg) {
  (void)arg;
  int s = herd_chan_fd(ch);
  const char *out =
      "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\",\"msg\":{\"x\":1}}\n"
      "{\"after\":1}\n";
  raw_send_all(s, out, strlen(out));
  char *line = raw_read_line(s);
  CHECK_STR(line, "{\"cmd\":\"NODE_HANDLE_NACK\"}");
  free(line);
  return 0;
}

/* A NODE_HANDLE line without an fd: NACK, and nothing delivered. */
TEST(chan_handle_line_without_fd_nacked_not_delivered) {
  herd_child_t c;
  herd_chan_t *ch;
  CHECK_OK(herd_fork_fn(&c, &ch, nack_child, NULL));
  expect_msg(ch, "{\"after\":1}");
  CHECK_EQ(herd_chan_flush_wait(ch, 10000), 0);
  expect_end(ch, HERD_EPEERGONE);
  finish(&c, 0);
  herd_chan_close(ch);
}

/* A NODE_HANDLE line without "msg", with its fd: what Node 20 itself
 * sends for child.send({toJSON() { return undefined; }}, handle) (the
 * wrapper's msg member vanishes from JSON.stringify's output). Node's
 * receiver delivers msg undefined with the handle; we deliver the JSON
 * text null. The terminating NUL must not be written into a read-only
 * "null" (it was: SIGSEGV in the receiving process). */
TEST(chan_handle_line_without_msg_delivers_null) {
  int before = test_count_fds();
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  herd_chan_t *ch;
  CHECK_OK(herd_chan_open(&ch, sv[0], NULL));
  int p[2];
  CHECK(pipe2(p, O_CLOEXEC) == 0);
  test_send_with_fd(sv[1], "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Server\"}\n"
                           "{\"after\":1}\n", p[1]);
  close(p[1]);
  int fd = expect_handle(ch, "null", "net.Server");
  CHECK_EQ(write(fd, "x", 1), 1); /* it is the pipe's write end */
  close(fd);
  char b[2];
  CHECK_EQ(read(p[0], b, sizeof b), 1);
  close(p[0]);
  expect_msg(ch, "{\"after\":1}");
  CHECK_EQ(herd_chan_flush(ch), 0);
  char *line = raw_read_line(sv[1]);
  CHECK_STR(line, "{\"cmd\":\"NODE_HANDLE_ACK\"}");
  free(line);
  herd_chan_close(ch);
  close(sv[1]);
  CHECK_EQ(test_count_fds(), before);
}

/* HERD_CHAN_PLAIN: JSON lines of one's own protocol. NODE_ cmds are
 * messages like any other, no ACK/NACK goes out, an fd that comes is
 * closed, and sending one is refused. */
TEST(chan_plain_has_no_node_internals) {
  int before = test_count_fds();
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  herd_chan_t *ch;
  herd_chan_opts_t o = {.flags = HERD_CHAN_PLAIN};
  CHECK_OK(herd_chan_open(&ch, sv[0], &o));
  static const char in[] = "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\"}\n"
                           "{\"cmd\":\"NODE_HANDLE_ACK\"}\n"
                           "{\"cmd\":\"NODE_CLUSTER\"}\n";
  int pass = open("/dev/null", O_RDONLY | O_CLOEXEC);
  CHECK(pass >= 0);
  test_send_with_fd(sv[1], in, pass);
  close(pass);
  /* flush_wait reads the input too: it must not answer the handle line */
  CHECK_EQ(herd_chan_flush_wait(ch, 1000), 0);
  expect_msg(ch, "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\"}");
  expect_msg(ch, "{\"cmd\":\"NODE_HANDLE_ACK\"}");
  expect_msg(ch, "{\"cmd\":\"NODE_CLUSTER\"}");
  char b[64];
  CHECK_MSG(recv(sv[1], b, sizeof b, MSG_DONTWAIT) < 0 && errno == EAGAIN,
            "the plain channel wrote something of its own");
  /* the fd that came is already closed: the pair's two ends are left */
  CHECK_EQ(test_count_fds(), before + 2);
  CHECK_EQ(herd_chan_send(ch, "{}", 2, 0), -EINVAL);
  send_str(ch, "{\"cmd\":\"NODE_X\"}", -1);
  CHECK(herd_chan_flush(ch) == 0);
  ssize_t n = recv(sv[1], b, sizeof b, MSG_DONTWAIT);
  static const char want[] = "{\"cmd\":\"NODE_X\"}\n";
  CHECK(n == (ssize_t)(sizeof want - 1) && memcmp(b, want, sizeof want - 1) == 0);
  herd_chan_close(ch);
  close(sv[1]);
  CHECK_EQ(test_count_fds(), before);
}

static const char first_msg[] =
    "{\"first\":\"the message the caller still holds, which must stay "
    "intact until the next recv\"}";

static int second_child(herd_chan_t *ch, void *arg) {
  (void)arg;
  send_str(ch, first_msg, -1);
  int fd = expect_handle(ch, "{\"h\":1}", "net.Socket");
  close(fd);
  send_str(ch, "{\"second\":\"arrives while the parent waits for the ACK "
               "and is read over the first\"}",
           -1);
  return 0;
}

/* herd_chan_msg_t: "json ... stays valid until the next herd_chan_recv
 * or herd_chan_close" - so also across herd_chan_flush_wait, which reads
 * the socket while it waits for an ACK. */
/* The header's contract: a message's json is valid until the next recv,
 * recv_wait, flush_wait or close (flush_wait reads the socket, which may
 * move the buffer). A copy taken before survives, and what flush_wait
 * read on the way is still delivered, in order. */
TEST(chan_messages_read_by_flush_wait_are_delivered_in_order) {
  herd_child_t c;
  herd_chan_t *ch;
  CHECK_OK(herd_fork_fn(&c, &ch, second_child, NULL));
  herd_chan_msg_t m;
  recv_one(ch, &m);
  CHECK_EQ(m.len, strlen(first_msg));
  CHECK(memcmp(m.json, first_msg, m.len) == 0);
  char *copy = strndup(m.json, m.len);
  CHECK(copy);
  int p[2];
  CHECK(pipe2(p, O_CLOEXEC) == 0);
  send_str(ch, "{\"h\":1}", p[1]);
  close(p[0]);
  close(p[1]);
  CHECK_EQ(herd_chan_flush_wait(ch, 10000), 0);
  CHECK_STR(copy, first_msg);
  free(copy);
  herd_chan_msg_t m2;
  recv_one(ch, &m2);
  CHECK(strstr(m2.json, "\"second\"") != NULL);
  expect_end(ch, HERD_EPEERGONE);
  finish(&c, 0);
  herd_chan_close(ch);
}

/* A peer that floods us with messages while it holds back the ACK we
 * wait for: flush_wait buffers at most about max_message of them, then
 * says -ENOBUFS (take them with recv, then wait again) instead of
 * reading on until memory runs out (fuzz/chan.c found it). */
TEST(chan_flush_wait_buffers_bounded_while_peer_floods) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  herd_chan_t *ch;
  herd_chan_opts_t o = {.max_message = 4096};
  CHECK_OK(herd_chan_open(&ch, sv[0], &o));
  int p[2];
  CHECK(pipe2(p, O_CLOEXEC) == 0);
  send_str(ch, "{\"mine\":1}", p[1]);
  close(p[0]);
  close(p[1]);
  CHECK_EQ(herd_chan_flush(ch), 0); /* now waiting for the ACK */
  free(raw_read_line(sv[1]));
  /* The peer writes numbered messages as long as the socket takes them
   * while we wait; a reader that buffers without bound lets it go on. */
  static const size_t limit = 8u << 20;
  char line[64];
  size_t written = 0;
  int seq = 0, r = 0;
  while (written < limit) {
    int n = snprintf(line, sizeof line, "{\"seq\":%d,\"pad\":\"%032d\"}\n", seq, 0);
    ssize_t w = send(sv[1], line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w == n) {
      written += (size_t)n;
      seq++;
      continue;
    }
    CHECK_MSG(w < 0 && errno == EAGAIN, "send: %zd (%s)", w, strerror(errno));
    r = herd_chan_flush_wait(ch, 0);
    if (r == -ENOBUFS)
      break;
    CHECK_MSG(r == -ETIMEDOUT, "flush_wait: %d (%s)", r, herd_strerror(r));
  }
  CHECK_MSG(r == -ENOBUFS,
            "flush_wait buffered %zu bytes of messages (max_message 4096) "
            "and still read on", written);
  /* Take them; the ACK then ends the wait; nothing was lost. */
  static const char ack[] = "{\"cmd\":\"NODE_HANDLE_ACK\"}\n";
  raw_send_all(sv[1], ack, sizeof ack - 1);
  int got = 0;
  for (;;) {
    herd_chan_msg_t m;
    int g = herd_chan_recv(ch, &m);
    if (g == 0) {
      r = herd_chan_flush_wait(ch, 10000);
      if (r == 0)
        break;
      CHECK_MSG(r == -ENOBUFS, "flush_wait: %d (%s)", r, herd_strerror(r));
      continue;
    }
    CHECK_EQ(g, 1);
    int s = -1;
    CHECK_MSG(sscanf(m.json, "{\"seq\":%d,", &s) == 1 && s == got,
              "message %d: %s", got, m.json);
    got++;
  }
  /* the rest came after the ACK's wait ended: recv has them */
  for (;;) {
    herd_chan_msg_t m;
    int g = herd_chan_recv(ch, &m);
    if (g == 0)
      break;
    CHECK_EQ(g, 1);
    int s = -1;
    CHECK_MSG(sscanf(m.json, "{\"seq\":%d,", &s) == 1 && s == got,
              "message %d: %s", got, m.json);
    got++;
  }
  CHECK_EQ(got, seq);
  herd_chan_close(ch);
  close(sv[1]);
}

/* ---- the end of a channel --------------------------------------------- */

/* A raw peer: a NODE_HANDLE line without an fd, then (once NACKed) one
 * with an fd, while we wait in herd_chan_flush_wait for the ACK of our
 * own handle. Each gets exactly one answer (NACK, ACK: a second ACK
 * would crash a Node peer), and recv then delivers the handle and the
 * message after it. */
static const char hp_line[] =
    "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\",\"msg\":{\"h\":\"p\"}}";

static int answers_child(herd_chan_t *ch, void *arg) {
  (void)arg;
  int s = herd_chan_fd(ch);
  const char *nofd =
      "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\",\"msg\":{\"nofd\":1}}\n";
  raw_send_all(s, nofd, strlen(nofd));
  char *got[8];
  int n = 0;
  got[n++] = raw_read_line(s);
  got[n++] = raw_read_line(s);
  /* hp_line and the NACK, in either order */
  CHECK_MSG((!strcmp(got[0], hp_line) &&
             !strcmp(got[1], "{\"cmd\":\"NODE_HANDLE_NACK\"}")) ||
                (!strcmp(got[1], hp_line) &&
                 !strcmp(got[0], "{\"cmd\":\"NODE_HANDLE_NACK\"}")),
            "got %s, %s", got[0], got[1]);
  int p[2];
  CHECK(pipe2(p, O_CLOEXEC) == 0);
  test_send_with_fd(s,
               "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\",\"msg\":{\"h\":"
               "\"c\"}}\n",
               p[1]);
  close(p[1]);
  const char *rest = "{\"cmd\":\"NODE_HANDLE_ACK\"}\n{\"after\":\"c\"}\n";
  raw_send_all(s, rest, strlen(rest));
  while (n < 8 && strcmp(got[n - 1], "{\"end\":1}") != 0)
    got[n++] = raw_read_line(s);
  CHECK_MSG(n == 4 && !strcmp(got[2], "{\"cmd\":\"NODE_HANDLE_ACK\"}"),
            "after the NACK: %d lines: %s, %s, %s", n - 2, got[2],
            n > 3 ? got[3] : "", n > 4 ? got[4] : "");
  char *s2 = read_to_eof(p[0], 10000);
  CHECK_STR(s2, "c");
  free(s2);
  close(p[0]);
  for (int i = 0; i < n; i++)
    free(got[i]);
  return 0;
}

TEST(chan_flush_wait_answers_peer_handles_once) {
  herd_child_t c;
  herd_chan_t *ch;
  CHECK_OK(herd_fork_fn(&c, &ch, answers_child, NULL));
  int p[2];
  CHECK(pipe2(p, O_CLOEXEC) == 0);
  send_str(ch, "{\"h\":\"p\"}", p[1]);
  close(p[1]);
  close(p[0]);
  int r = herd_chan_flush_wait(ch, 10000);
  CHECK_MSG(r == 0, "flush_wait: %d (%s)", r, herd_strerror(r));
  int fd = expect_handle(ch, "{\"h\":\"c\"}", "net.Socket");
  CHECK_EQ(write(fd, "c", 1), 1);
  close(fd);
  expect_msg(ch, "{\"after\":\"c\"}");
  send_str(ch, "{\"end\":1}", -1);
  CHECK_EQ(herd_chan_flush_wait(ch, 10000), 0);
  expect_end(ch, HERD_EPEERGONE);
  finish(&c, 0);
  herd_chan_close(ch);
}

static int thousand_child(herd_chan_t *ch, void *arg) {
  (void)arg;
  char json[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(json, sizeof json, "{\"i\":%d}", i);
    send_str(ch, json, -1);
  }
  return 0; /* herd_fork_fn flushes before the child exits */
}

TEST(chan_eof_after_all_messages_delivered) {
  signal(SIGPIPE, SIG_DFL);
  herd_child_t c;
  herd_chan_t *ch;
  CHECK_OK(herd_fork_fn(&c, &ch, thousand_child, NULL));
  /* The child is gone before we read a byte. */
  finish(&c, 0);
  char json[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(json, sizeof json, "{\"i\":%d}", i);
    expect_msg(ch, json);
  }
  expect_end(ch, HERD_EPEERGONE);
  expect_end(ch, HERD_EPEERGONE); /* and it stays so */
  CHECK_EQ(herd_chan_send(ch, "1", 1, -1), -EPIPE);
  herd_chan_close(ch);
}

static int die_mid_message_child(herd_chan_t *ch, void *arg) {
  (void)arg;
  send_str(ch, "{\"before\":1}", -1);
  CHECK_EQ(herd_chan_flush_wait(ch, 10000), 0);
  size_t len;
  char *big = render_big(1, "", &len);
  int r = herd_chan_send(ch, big, len, -1); /* flushes what fits */
  CHECK_EQ(r, 1);
  size_t q = herd_chan_queued(ch);
  CHECK_MSG(q > 0 && q < len, "queued %zu of %zu", q, len);
  raise(SIGKILL);
  return 1;
}

/* A peer dies half-way through a line: the part is never delivered. */
TEST(chan_peer_sigkilled_mid_message) {
  herd_child_t c;
  herd_chan_t *ch;
  CHECK_OK(herd_fork_fn(&c, &ch, die_mid_message_child, NULL));
  CHECK_OK(herd_child_wait(&c, 20000));
  CHECK_EQ(c.term_signal, SIGKILL);
  herd_child_close(&c);
  expect_msg(ch, "{\"before\":1}");
  /* the cut line is said once (HERD_ETRUNC), then the end */
  expect_end(ch, HERD_ETRUNC);
  expect_end(ch, HERD_EPEERGONE);
  herd_chan_close(ch);
}

static int write_big_child(herd_chan_t *ch, void *arg) {
  struct gate *g = arg; /* child -> parent here: "mid-message now" */
  close(g->r);
  send_str(ch, "{\"before\":1}", -1);
  size_t len;
  char *big = render_big(1, "", &len);
  CHECK_EQ(herd_chan_send(ch, big, len, -1), 1); /* flushes what fits */
  size_t q = herd_chan_queued(ch);
  CHECK_MSG(q > 0 && q < len, "queued %zu of %zu", q, len);
  CHECK_EQ(write(g->w, "w", 1), 1);
  (void)herd_chan_flush_wait(ch, 30000); /* killed in here */
  return 1;
}

/* The parent reads nothing until the writer, blocked half-way through a
 * 10 MiB line, is killed. */
TEST(chan_peer_killed_while_writing_big_message) {
  int gp[2];
  CHECK(pipe2(gp, O_CLOEXEC) == 0);
  struct gate g = {gp[0], gp[1]};
  herd_child_t c;
  herd_chan_t *ch;
  CHECK_OK(herd_fork_fn(&c, &ch, write_big_child, &g));
  close(gp[1]);
  struct pollfd pf = {.fd = gp[0], .events = POLLIN};
  CHECK_EQ(poll(&pf, 1, 10000), 1);
  char b;
  CHECK_EQ(read(gp[0], &b, 1), 1);
  close(gp[0]);
  CHECK_OK(herd_child_kill(&c, SIGKILL, 0));
  CHECK_OK(herd_child_wait(&c, 20000));
  CHECK_EQ(c.term_signal, SIGKILL);
  herd_child_close(&c);
  expect_msg(ch, "{\"before\":1}");
  /* the cut line is said once (HERD_ETRUNC), then the end */
  expect_end(ch, HERD_ETRUNC);
  expect_end(ch, HERD_EPEERGONE);
  herd_chan_close(ch);
}

static int exit_unread_child(herd_chan_t *ch, void *arg) {
  struct gate *g = arg;
  close(g->w);
  char b;
  CHECK_EQ(read(g->r, &b, 1), 1); /* the parent's data is in our queue */
  send_str(ch, "{\"bye\":1}", -1);
  return 0;
}

/* The peer exits with our data unread in its queue (Linux then gives us
 * ECONNRESET on read): its last messages still arrive, then the end. */
TEST(chan_peer_exits_with_our_data_unread) {
  signal(SIGPIPE, SIG_DFL);
  int gp[2];
  CHECK(pipe2(gp, O_CLOEXEC) == 0);
  struct gate g = {gp[0], gp[1]};
  herd_child_t c;
  herd_chan_t *ch;
  CHECK_OK(herd_fork_fn(&c, &ch, exit_unread_child, &g));
  close(gp[0]);
  send_str(ch, "{\"never\":\"read\"}", -1);
  CHECK_EQ(herd_chan_flush_wait(ch, 10000), 0);
  CHECK_EQ(write(gp[1], "g", 1), 1);
  close(gp[1]);
  finish(&c, 0);
  expect_msg(ch, "{\"bye\":1}");
  expect_end(ch, HERD_EPEERGONE);
  herd_chan_close(ch);
}

/* ---- what a broken peer sends ------------------------------------------ */

static const char *const bad_lines[] = {
    "{not json}",     "",          "[1,]",    "\"a\tb\"", "{\"a\":1} x",
    "   ",            "{\"a\":1}}", "'x'",     "NaN",      "{\"a\"}",
    "\"\\x\"",        "01",        "\"\\u12\"", "tru",     "[",
};
#define N_BAD (sizeof bad_lines / sizeof bad_lines[0])

static int malformed_child(herd_chan_t *ch, void *arg) {
  (void)arg;
  int s = herd_chan_fd(ch);
  char line[64];
  for (size_t i = 0; i < N_BAD; i++) {
    raw_send_all(s, bad_lines[i], strlen(bad_lines[i]));
    raw_send_all(s, "\n", 1);
    int n = snprintf(line, sizeof line, "{\"ok\":%zu}\n", i);
    raw_send_all(s, line, (size_t)n);
  }
  /* Whitespace around a text and a CRLF line end are fine (JSON.parse
   * takes them). */
  raw_send_all(s, " {\"ws\":2}\r\n", 11);
  return 0;
}

TEST(chan_malformed_lines_skipped_next_line_arrives) {
  herd_child_t c;
  herd_chan_t *ch;
  CHECK_OK(herd_fork_fn(&c, &ch, malformed_child, NULL));
  char json[32];
  for (size_t i = 0; i < N_BAD; i++) {
    herd_chan_msg_t m;
    int r = herd_chan_recv_wait(ch, &m, 10000);
    CHECK_MSG(r == HERD_EFRAME, "line \"%s\": %d (%s)%s%.*s", bad_lines[i], r,
              herd_strerror(r), r == 1 ? ": " : "", r == 1 ? (int)m.len : 0,
              r == 1 ? m.json : "");
    snprintf(json, sizeof json, "{\"ok\":%zu}", i);
    expect_msg(ch, json);
  }
  herd_chan_msg_t m;
  recv_one(ch, &m);
  CHECK_EQ(m.len, 10);
  CHECK(memcmp(m.json, " {\"ws\":2}\r", 10) == 0);
  expect_end(ch, HERD_EPEERGONE);
  finish(&c, 0);
  herd_chan_close(ch);
}

static int split_child(herd_chan_t *ch, void *arg) {
  (void)arg;
  int s = herd_chan_fd(ch);
  /* Cut inside the 4 bytes of U+1F600. */
  static const char line[] = "{\"s\":\"\xc3\xa9\xf0\x9f\x98\x80\"}\n{\"n\":2}\n";
  raw_send_all(s, line, 10);
  char *go = raw_read_line(s);
  CHECK_STR(go, "{\"go\":1}");
  free(go);
  raw_send_all(s, line + 10, sizeof line - 1 - 10);
  return 0;
}

TEST(chan_line_split_across_reads) {
  herd_child_t c;
  herd_chan_t *ch;
  CHECK_OK(herd_fork_fn(&c, &ch, split_child, NULL));
  struct pollfd pf = {.fd = herd_chan_fd(ch), .events = POLLIN};
  CHECK_EQ(poll(&pf, 1, 10000), 1);
  herd_chan_msg_t m;
  CHECK_EQ(herd_chan_recv(ch, &m), 0); /* half a line: nothing yet */
  send_str(ch, "{\"go\":1}", -1);
  CHECK_EQ(herd_chan_flush_wait(ch, 10000), 0);
  expect_msg(ch, "{\"s\":\"\xc3\xa9\xf0\x9f\x98\x80\"}");
  expect_msg(ch, "{\"n\":2}");
  expect_end(ch, HERD_EPEERGONE);
  finish(&c, 0);
  herd_chan_close(ch);
}

/* A writer on a socketpair end of our own (so the reader's channel can
 * have options): a 3 MiB line, a valid one, a 200 MiB line in chunks, a
 * valid one. */
struct raw_pair {
  int mine, peers;
};

static void send_long_line(int s, size_t total) {
  static char chunk[1 << 20];
  memset(chunk, 'a', sizeof chunk);
  raw_send_all(s, "{\"s\":\"", 6);
  for (size_t done = 0; done < total;) {
    size_t n = total - done < sizeof chunk ? total - done : sizeof chunk;
    raw_send_all(s, chunk, n);
    done += n;
  }
  raw_send_all(s, "\"}\n", 3);
}

static int long_lines_child(herd_chan_t *ch, void *arg) {
  (void)ch;
  struct raw_pair *rp = arg;
  close(rp->mine);
  send_long_line(rp->peers, 3u << 20);
  raw_send_all(rp->peers, "{\"ok\":1}\n", 9);
  send_long_line(rp->peers, 200u << 20);
  raw_send_all(rp->peers, "{\"ok\":2}\n", 9);
  close(rp->peers);
  return 0;
}

TEST(chan_too_long_line_skipped_memory_bounded) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  struct raw_pair rp = {sv[0], sv[1]};
  herd_child_t c;
  herd_chan_t *wch;
  CHECK_OK(herd_fork_fn(&c, &wch, long_lines_child, &rp));
  close(sv[1]);
  herd_chan_t *ch;
  herd_chan_opts_t o = {.max_message = 1u << 20};
  CHECK_OK(herd_chan_open(&ch, sv[0], &o));
  long rss0 = vmrss_kb(), rss_max = rss0;
  static const int want[] = {HERD_ETOOLONG, 1, HERD_ETOOLONG, 1,
                             HERD_EPEERGONE};
  static const char *const want_json[] = {NULL, "{\"ok\":1}", NULL,
                                          "{\"ok\":2}", NULL};
  uint64_t deadline = test_now_ms() + 40000;
  for (size_t i = 0; i < sizeof want / sizeof want[0];) {
    herd_chan_msg_t m;
    int r = herd_chan_recv(ch, &m);
    long rss = vmrss_kb();
    if (rss > rss_max)
      rss_max = rss;
    if (r == 0) {
      struct pollfd pf = {.fd = herd_chan_fd(ch), .events = POLLIN};
      int left = ms_left(deadline);
      CHECK_MSG(left > 0, "timed out at step %zu", i);
      CHECK(poll(&pf, 1, left) >= 0 || errno == EINTR);
      continue;
    }
    CHECK_MSG(r == want[i], "step %zu: %d (%s), expected %d (%s)", i, r,
              herd_strerror(r), want[i], herd_strerror(want[i]));
    if (r == 1)
      CHECK_MSG(m.len == strlen(want_json[i]) &&
                    memcmp(m.json, want_json[i], m.len) == 0,
                "step %zu: %.*s", i, (int)(m.len > 80 ? 80 : m.len), m.json);
    i++;
  }
  CHECK_MSG(rss_max - rss0 < RSS_SLACK_KB,
            "RSS grew by %ld KiB while 203 MiB of over-long lines came",
            rss_max - rss0);
  herd_chan_close(ch);
  finish(&c, 0);
  herd_chan_close(wch);
}

/* While herd_chan_flush_wait waits for the ACK of our handle, the peer
 * may send lines longer than max_message before it: they must not make
 * memory grow past the limit (the doc: bounded "whatever the peer
 * sends"), nor hide the ACK that follows. */
struct long_then_ack {
  int mine, peers;
  size_t before;  /* bytes of the long line sent before reading our handle */
  size_t after;   /* and after */
};

static int long_then_ack_child(herd_chan_t *unused, void *arg) {
  (void)unused;
  struct long_then_ack *la = arg;
  close(la->mine);
  int s = la->peers;
  static char chunk[1 << 20];
  memset(chunk, 'z', sizeof chunk);
  raw_send_all(s, "{\"s\":\"", 6);
  for (size_t done = 0; done < la->before; done += sizeof chunk)
    raw_send_all(s, chunk, sizeof chunk);
  char *line = raw_read_line(s); /* our handle's line (fd closed) */
  CHECK_MSG(strstr(line, "\"cmd\":\"NODE_HANDLE\"") != NULL, "got %.80s", line);
  free(line);
  for (size_t done = 0; done < la->after; done += sizeof chunk)
    raw_send_all(s, chunk, sizeof chunk);
  const char *rest = "\"}\n{\"cmd\":\"NODE_HANDLE_ACK\"}\n{\"ok\":1}\n";
  raw_send_all(s, rest, strlen(rest));
  char b;
  while (read(s, &b, 1) > 0) /* until the parent closes */
    ;
  close(s);
  return 0;
}

static void long_then_ack(size_t before, size_t after) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  struct long_then_ack la = {sv[0], sv[1], before, after};
  herd_child_t c;
  herd_chan_t *wch;
  CHECK_OK(herd_fork_fn(&c, &wch, long_then_ack_child, &la));
  close(sv[1]);
  herd_chan_t *ch;
  herd_chan_opts_t o = {.max_message = 1u << 20};
  CHECK_OK(herd_chan_open(&ch, sv[0], &o));
  long rss0 = vmrss_kb();
  if (before > o.max_message) {
    herd_chan_msg_t m;
    expect_end(ch, HERD_ETOOLONG); /* the line is being dropped */
    CHECK_EQ(herd_chan_recv(ch, &m), 0);
  }
  int p[2];
  CHECK(pipe2(p, O_CLOEXEC) == 0);
  send_str(ch, "{\"h\":1}", p[1]);
  close(p[0]);
  close(p[1]);
  int r = herd_chan_flush_wait(ch, 5000);
  long grew = vmrss_kb() - rss0;
  CHECK_MSG(r == 0, "flush_wait with a too-long line before the ACK: %d (%s)",
            r, herd_strerror(r));
  CHECK_MSG(grew < RSS_SLACK_KB,
            "RSS grew by %ld KiB in herd_chan_flush_wait while a %zu MiB line "
            "came (max_message 1 MiB)",
            grew, (before + after) >> 20);
  if (before <= o.max_message)
    expect_end(ch, HERD_ETOOLONG);
  expect_msg(ch, "{\"ok\":1}");
  herd_chan_close(ch);
  finish(&c, 0);
  herd_chan_close(wch);
}

TEST(chan_flush_wait_memory_bounded_by_max_message) {
  long_then_ack(0, 100u << 20);
}

TEST_T(chan_flush_wait_sees_ack_after_line_being_dropped, 30) {
  long_then_ack(2u << 20, 1u << 20);
}

/* ---- backpressure --------------------------------------------------------- */

struct slow_reader {
  int mine, peers;
  int gate_r, gate_w;
};

static int slow_reader_child(herd_chan_t *unused, void *arg) {
  (void)unused;
  struct slow_reader *sr = arg;
  close(sr->mine);
  close(sr->gate_w);
  char b;
  CHECK_EQ(read(sr->gate_r, &b, 1), 1); /* read nothing before this */
  close(sr->gate_r);
  herd_chan_t *ch;
  CHECK_OK(herd_chan_open(&ch, sr->peers, NULL));
  char *want = malloc(2048);
  CHECK(want != NULL);
  for (int i = 0;; i++) {
    herd_chan_msg_t m;
    recv_one(ch, &m);
    int end;
    if (sscanf(m.json, "{\"end\":%d}", &end) == 1) {
      CHECK_EQ(end, i);
      break;
    }
    int n = snprintf(want, 2048, "{\"seq\":%d,\"pad\":\"%0999d\"}", i, 0);
    CHECK_MSG(m.len == (size_t)n && memcmp(m.json, want, m.len) == 0,
              "message %d: %.60s", i, m.json);
  }
  free(want);
  herd_chan_close(ch);
  return 0;
}

/* The peer reads nothing for a while: send says "slow down" (1) past
 * HERD_CHAN_HIGH_WATER, then -ENOBUFS past max_queued, never blocks;
 * everything it accepted arrives once the peer reads. */
TEST(chan_peer_never_reads_send_bounded) {
  int sv[2], gp[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  CHECK(pipe2(gp, O_CLOEXEC) == 0);
  struct slow_reader sr = {sv[0], sv[1], gp[0], gp[1]};
  herd_child_t c;
  herd_chan_t *wch;
  CHECK_OK(herd_fork_fn(&c, &wch, slow_reader_child, &sr));
  close(sv[1]);
  close(gp[0]);
  herd_chan_t *ch;
  herd_chan_opts_t o = {.max_queued = 1u << 20};
  CHECK_OK(herd_chan_open(&ch, sv[0], &o));

  /* One message larger than max_queued never fits. */
  size_t hlen = (2u << 20) + 2;
  char *huge = malloc(hlen);
  CHECK(huge != NULL);
  memset(huge, 'h', hlen);
  huge[0] = huge[hlen - 1] = '"';
  CHECK_EQ(herd_chan_send(ch, huge, hlen, -1), -ENOBUFS);
  CHECK_EQ(herd_chan_queued(ch), 0);
  free(huge);

  long rss0 = vmrss_kb();
  uint64_t t0 = test_now_ms();
  char msg[2048];
  int first_slow = -1, n = 0;
  for (;; n++) {
    CHECK_MSG(n < 100000, "no -ENOBUFS after %d messages (%zu queued)", n,
              herd_chan_queued(ch));
    int len = snprintf(msg, sizeof msg, "{\"seq\":%d,\"pad\":\"%0999d\"}", n, 0);
    size_t q = herd_chan_queued(ch);
    int r = herd_chan_send(ch, msg, (size_t)len, -1);
    if (r == 1 && first_slow < 0) {
      first_slow = n;
      CHECK(herd_chan_queued(ch) > HERD_CHAN_HIGH_WATER);
    }
    if (r == -ENOBUFS) {
      CHECK_EQ(herd_chan_queued(ch), q); /* nothing queued */
      CHECK(q <= o.max_queued);
      CHECK(q + (size_t)len + 1 > o.max_queued);
      break;
    }
    CHECK_MSG(r == 0 || r == 1, "send %d: %d (%s)", n, r, herd_strerror(r));
    CHECK_MSG(r == 1 || herd_chan_queued(ch) <= HERD_CHAN_HIGH_WATER,
              "send returned 0 with %zu bytes queued", herd_chan_queued(ch));
  }
  CHECK_MSG(first_slow >= 0, "send never returned 1 before -ENOBUFS");
  CHECK_MSG(test_now_ms() - t0 < 3000, "sending took %llu ms",
            (unsigned long long)(test_now_ms() - t0));
  CHECK_MSG(vmrss_kb() - rss0 < RSS_SLACK_KB, "RSS grew by %ld KiB",
            vmrss_kb() - rss0);

  /* Now the peer reads: all n accepted messages arrive, in order. */
  CHECK_EQ(write(gp[1], "g", 1), 1);
  close(gp[1]);
  CHECK_EQ(herd_chan_flush_wait(ch, 20000), 0);
  char end[32];
  snprintf(end, sizeof end, "{\"end\":%d}", n);
  send_str(ch, end, -1);
  CHECK_EQ(herd_chan_flush_wait(ch, 20000), 0);
  finish(&c, 0);
  herd_chan_close(ch);
  herd_chan_close(wch);
}

/* ---- bad input ------------------------------------------------------------ */

static void env_case(const char *fdv, const char *mode, int want) {
  if (fdv)
    CHECK(setenv("NODE_CHANNEL_FD", fdv, 1) == 0);
  else
    CHECK(unsetenv("NODE_CHANNEL_FD") == 0);
  if (mode)
    CHECK(setenv("NODE_CHANNEL_SERIALIZATION_MODE", mode, 1) == 0);
  else
    CHECK(unsetenv("NODE_CHANNEL_SERIALIZATION_MODE") == 0);
  herd_chan_t *ch = (herd_chan_t *)&ch;
  int r = herd_chan_from_env(&ch, NULL);
  CHECK_MSG(r == want, "NODE_CHANNEL_FD=%s MODE=%s: %d (%s), expected %d (%s)",
            fdv ? fdv : "(unset)", mode ? mode : "(unset)", r,
            herd_strerror(r), want, herd_strerror(want));
  CHECK(ch == NULL);
  const char *v1 = getenv("NODE_CHANNEL_FD");
  const char *v2 = getenv("NODE_CHANNEL_SERIALIZATION_MODE");
  CHECK_MSG(!v1 && !v2,
            "NODE_CHANNEL_FD=%s MODE=%s: left NODE_CHANNEL_FD=%s "
            "NODE_CHANNEL_SERIALIZATION_MODE=%s in the environment",
            fdv ? fdv : "(unset)", mode ? mode : "(unset)",
            v1 ? v1 : "(unset)", v2 ? v2 : "(unset)");
}

static const char *num(char *buf, int fd) {
  sprintf(buf, "%d", fd);
  return buf;
}

TEST(chan_from_env_bad_input) {
  char b[16];
  env_case("abc", "json", -EINVAL);
  env_case("-1", "json", -EINVAL);
  env_case("99999999999999", "json", -EINVAL);
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  CHECK(fd >= 0);
  close(fd);
  env_case(num(b, fd), "json", -EBADF);

  char path[] = "/tmp/herd-chan-XXXXXX";
  fd = mkstemp(path);
  CHECK(fd >= 0);
  unlink(path);
  env_case(num(b, fd), "json", -ENOTSOCK);
  CHECK(fcntl(fd, F_GETFD) >= 0); /* not ours: left open */
  close(fd);

  int dg[2];
  CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dg) == 0);
  env_case(num(b, dg[0]), NULL, -EPROTOTYPE);
  CHECK(fcntl(dg[0], F_GETFD) >= 0);
  close(dg[0]);
  close(dg[1]);
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  env_case(num(b, fd), "json", -EPROTOTYPE);
  close(fd);

  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  env_case(num(b, sv[0]), "bogus", -EINVAL);
  CHECK(fcntl(sv[0], F_GETFD) >= 0);
  close(sv[0]);
  close(sv[1]);
}

/* No channel: -ENOENT, and (as the header says for every case) neither
 * variable is left behind for grand-children to inherit. */
TEST(chan_from_env_no_channel_removes_variables) {
  env_case(NULL, NULL, -ENOENT);
  env_case(NULL, "json", -ENOENT);
  env_case("", "json", -ENOENT);
}

TEST(chan_from_env_ok) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0); /* as Node gives it */
  char b[16];
  int fds[2] = {sv[0], fcntl(sv[0], F_DUPFD, 3)};
  CHECK(fds[1] >= 0);
  for (int i = 0; i < 2; i++) {
    int fd = fds[i];
    CHECK(setenv("NODE_CHANNEL_FD", num(b, fd), 1) == 0);
    if (i)
      CHECK(unsetenv("NODE_CHANNEL_SERIALIZATION_MODE") == 0); /* = json */
    else
      CHECK(setenv("NODE_CHANNEL_SERIALIZATION_MODE", "json", 1) == 0);
    herd_chan_t *ch;
    CHECK_OK(herd_chan_from_env(&ch, NULL));
    CHECK(!getenv("NODE_CHANNEL_FD"));
    CHECK(!getenv("NODE_CHANNEL_SERIALIZATION_MODE"));
    CHECK_EQ(herd_chan_fd(ch), fd);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    /* left blocking as Node hands it over: every call is non-blocking by
     * itself, so a send to a full socket must still not block */
    CHECK(!(fcntl(fd, F_GETFL) & O_NONBLOCK));
    send_str(ch, "{\"hi\":1}", -1);
    CHECK_EQ(herd_chan_flush_wait(ch, 1000), 0);
    herd_chan_close(ch);
    CHECK(fcntl(fd, F_GETFD) < 0); /* closed with the channel */
  }
  char *line = raw_read_line(sv[1]);
  CHECK_STR(line, "{\"hi\":1}");
  free(line);
  line = raw_read_line(sv[1]);
  CHECK_STR(line, "{\"hi\":1}");
  free(line);
  close(sv[1]);
}

static int exit_now_child(herd_chan_t *ch, void *arg) {
  (void)ch;
  (void)arg;
  return 0;
}

/* SIGPIPE at its default (death): the channel must never raise it. */
TEST(chan_send_to_gone_peer_epipe_no_sigpipe) {
  signal(SIGPIPE, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  CHECK(sigprocmask(SIG_UNBLOCK, &set, NULL) == 0);
  herd_child_t c;
  herd_chan_t *ch;
  CHECK_OK(herd_fork_fn(&c, &ch, exit_now_child, NULL));
  finish(&c, 0);
  int before = test_count_fds();
  /* Not known to be gone yet: the message may only be queued. */
  int r = herd_chan_send(ch, "{\"a\":1}", 7, -1);
  CHECK_MSG(r == 0 || r == -EPIPE, "send: %d (%s)", r, herd_strerror(r));
  CHECK_EQ(herd_chan_flush(ch), -EPIPE);
  CHECK_EQ(herd_chan_send(ch, "{\"a\":2}", 7, -1), -EPIPE);
  CHECK_EQ(herd_chan_send(ch, "{\"a\":3}", 7, 0), -EPIPE);
  CHECK_EQ(herd_chan_flush_wait(ch, 1000), -EPIPE);
  expect_end(ch, HERD_EPEERGONE);
  CHECK_EQ(herd_chan_send(ch, "{\"a\":4}", 7, -1), -EPIPE);
  CHECK_EQ(test_count_fds(), before);
  herd_chan_close(ch);
}

/* Two channels on a socketpair, in this process. */
static void chan_pair(herd_chan_t **a, herd_chan_t **b) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  CHECK_OK(herd_chan_open(a, sv[0], NULL));
  CHECK_OK(herd_chan_open(b, sv[1], NULL));
}

TEST(chan_send_bad_fd_queues_nothing) {
  herd_chan_t *a, *b;
  chan_pair(&a, &b);
  int before = test_count_fds();
  CHECK_EQ(herd_chan_send(a, "{}", 2, 9999), -EBADF);
  CHECK_EQ(herd_chan_queued(a), 0);
  send_str(a, "{}", -1);
  CHECK_EQ(herd_chan_queued(a), 3);
  CHECK_EQ(herd_chan_send(a, "{\"x\":1}", 7, 9999), -EBADF);
  CHECK_EQ(herd_chan_send(a, "{\"x\":1}", 7, -5), -EBADF);
  CHECK_EQ(herd_chan_queued(a), 3);
  CHECK_EQ(test_count_fds(), before);
  CHECK_EQ(herd_chan_flush_wait(a, 1000), 0);
  herd_chan_close(a);
  expect_msg(b, "{}");
  expect_end(b, HERD_EPEERGONE);
  herd_chan_close(b);
}

TEST(chan_send_invalid_json_rejected_pretty_json_one_line) {
  herd_chan_t *a, *b;
  chan_pair(&a, &b);
  static const char *const bad[] = {
      "{", "[1,]", "\"a\x01z\"", "\"a\nz\"", "{\"a\":1}}", "01", "NaN",
      "'x'", "{\"a\"}", "\"\\x\"", "\"\\u12\"", "tru", "-", "1.", "1e", " ",
      "{} {}", "[1 2]", "{\"a\" 1}", "{1:2}", "\"abc",
  };
  CHECK_EQ(herd_chan_send(a, "", 0, -1), -EINVAL);
  CHECK_EQ(herd_chan_send(a, NULL, 0, -1), -EINVAL);
  /* A NUL byte inside a string is a raw control character. */
  CHECK_EQ(herd_chan_send(a, "\"a\0b\"", 5, -1), -EINVAL);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int r = herd_chan_send(a, bad[i], strlen(bad[i]), -1);
    CHECK_MSG(r == -EINVAL, "send(%s): %d (%s)", bad[i], r, herd_strerror(r));
    CHECK_EQ(herd_chan_queued(a), 0);
  }
  static const char pretty[] = "\n{\n  \"a\": [\n    1,\n    2\r\n  ],\n"
                               "  \"b\": \"x\\ny\"\n}\n";
  send_str(a, pretty, -1);
  send_str(a, "2", -1);
  CHECK_EQ(herd_chan_flush_wait(a, 1000), 0);
  char one_line[sizeof pretty];
  memcpy(one_line, pretty, sizeof pretty);
  for (char *p = one_line; *p; p++)
    if (*p == '\n')
      *p = ' ';
  expect_msg(b, one_line);
  expect_msg(b, "2");
  herd_chan_close(a);
  expect_end(b, HERD_EPEERGONE);
  herd_chan_close(b);
}

static char *json_string(size_t n, char c) {
  char *s = malloc(n + 2);
  CHECK(s != NULL);
  s[0] = '"';
  memset(s + 1, c, n);
  s[n + 1] = '"';
  return s;
}

/* A handle's line that left only in part (the socket was full), then a
 * message too big for the room left, so the output buffer moves its
 * unsent bytes to the front: the rest of the handle's line and the new
 * message must still go, in order. */
TEST(chan_partly_sent_handle_line_survives_buffer_reclaim) {
  herd_chan_t *a, *b;
  chan_pair(&a, &b);
  int p[2];
  CHECK(pipe2(p, O_CLOEXEC) == 0);
  size_t n1 = 1u << 20, n2 = 3u << 20;
  char *m1 = json_string(n1, 'a');
  char *m2 = json_string(n2, 'b');
  CHECK_EQ(herd_chan_send(a, m1, n1 + 2, p[1]), 1);
  close(p[1]);
  size_t q = herd_chan_queued(a);
  CHECK_MSG(q > 0 && q < n1, "queued %zu: the handle's line should have "
            "left in part", q);
  int r = herd_chan_send(a, m2, n2 + 2, -1);
  CHECK_MSG(r == 1, "send after a partly sent handle line: %d (%s)", r,
            herd_strerror(r));
  uint64_t deadline = test_now_ms() + 10000;
  int got = 0;
  while (got < 2) {
    CHECK_MSG(ms_left(deadline) > 0, "timed out with %d messages", got);
    ssize_t fq = herd_chan_flush(a);
    CHECK_MSG(fq >= 0, "flush: %zd (%s)", fq, herd_strerror((int)fq));
    herd_chan_msg_t m;
    r = herd_chan_recv(b, &m);
    CHECK_MSG(r >= 0, "recv: %d (%s)", r, herd_strerror(r));
    if (r == 1 && got == 0) {
      CHECK_EQ(m.len, n1 + 2);
      CHECK(memcmp(m.json, m1, n1 + 2) == 0);
      CHECK_STR(m.handle_type, "net.Socket");
      CHECK(m.fd >= 0);
      CHECK_EQ(write(m.fd, "x", 1), 1);
      close(m.fd);
      got++;
    } else if (r == 1) {
      CHECK_EQ(m.len, n2 + 2);
      CHECK(memcmp(m.json, m2, n2 + 2) == 0);
      CHECK_EQ(m.fd, -1);
      got++;
    }
    CHECK(herd_chan_flush(b) >= 0); /* b's ACK */
    CHECK_EQ(herd_chan_recv(a, &m), 0); /* a takes it */
  }
  char *s = read_to_eof(p[0], 1000);
  CHECK_STR(s, "x");
  free(s);
  close(p[0]);
  free(m1);
  free(m2);
  herd_chan_close(a);
  herd_chan_close(b);
}

/* Lines up to max_message bytes arrive; one byte more is too long. */
TEST(chan_max_message_boundary) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  herd_chan_t *ch;
  herd_chan_opts_t o = {.max_message = 1000};
  CHECK_OK(herd_chan_open(&ch, sv[0], &o));
  char *exact = json_string(998, 'e'); /* 1000 bytes */
  char *over = json_string(999, 'o');  /* 1001 bytes */
  raw_send_all(sv[1], exact, 1000);
  raw_send_all(sv[1], "\n", 1);
  raw_send_all(sv[1], over, 1001);
  raw_send_all(sv[1], "\n[1]\n", 5);
  herd_chan_msg_t m;
  recv_one(ch, &m);
  CHECK_EQ(m.len, 1000);
  CHECK(memcmp(m.json, exact, 1000) == 0);
  expect_end(ch, HERD_ETOOLONG);
  expect_msg(ch, "[1]");
  /* The same over-long line in pieces, its newline last. */
  raw_send_all(sv[1], over, 600);
  CHECK_EQ(herd_chan_recv(ch, &m), 0);
  raw_send_all(sv[1], over + 600, 401);
  expect_end(ch, HERD_ETOOLONG);
  raw_send_all(sv[1], "\n[2]\n", 5);
  expect_msg(ch, "[2]");
  close(sv[1]);
  expect_end(ch, HERD_EPEERGONE);
  herd_chan_close(ch);
  free(exact);
  free(over);
}

/* Node's 'advanced' serialization on the wire (a 4-byte big-endian
 * length, then V8's FF 0F header): HERD_ESERIAL, not a wait forever for a
 * newline. */
TEST(chan_advanced_serialization_on_wire_detected) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  herd_chan_t *ch;
  CHECK_OK(herd_chan_open(&ch, sv[0], NULL));
  static const char frame[] = "\x00\x00\x00\x0a\xff\x0f\x6f\x22\x01\x61\x49"
                              "\x02\x7b\x01";
  raw_send_all(sv[1], frame, sizeof frame - 1);
  expect_end(ch, HERD_ESERIAL);
  close(sv[1]);
  herd_chan_close(ch);
}

/* ---- herd_fork's environment ------------------------------------------------ */

static char *fork_sh_env(const herd_fdmap_t *fds, size_t nfds, int env_mode,
                         const char *const *env) {
  char *argv[] = {"sh", "-c",
                  "echo $NODE_CHANNEL_FD $NODE_CHANNEL_SERIALIZATION_MODE; "
                  "[ -S /proc/self/fd/$NODE_CHANNEL_FD ] && echo socket",
                  NULL};
  herd_spawn_opts_t o = {
      .fds = fds, .nfds = nfds, .env_mode = env_mode, .env = env};
  o.stdio[1].kind = HERD_STDIO_PIPE;
  herd_child_t c;
  herd_chan_t *ch;
  CHECK_OK(herd_fork(&c, &ch, "/bin/sh", argv, &o));
  char *out = test_read_all(c.stdio[1], NULL);
  finish(&c, 0);
  expect_end(ch, HERD_EPEERGONE);
  herd_chan_close(ch);
  return out;
}

static char *fork_sh(const herd_fdmap_t *fds, size_t nfds) {
  return fork_sh_env(fds, nfds, HERD_ENV_INHERIT, NULL);
}

TEST(chan_fork_sets_channel_fd_and_mode) {
  char *out = fork_sh(NULL, 0);
  CHECK_STR(out, "3 json\nsocket\n");
  free(out);
  int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int nul2 = open("/dev/null", O_RDONLY | O_CLOEXEC);
  CHECK(nul >= 0 && nul2 >= 0);
  herd_fdmap_t one[] = {{nul, 3}};
  out = fork_sh(one, 1);
  CHECK_STR(out, "4 json\nsocket\n");
  free(out);
  herd_fdmap_t two[] = {{nul, 4}, {nul2, 3}};
  out = fork_sh(two, 2);
  CHECK_STR(out, "5 json\nsocket\n");
  free(out);
  close(nul);
  close(nul2);
}

/* The channel variables as a C child reads them (getenv, as libc and
 * Node do: the first entry of a name wins). */
static char *fork_env_helper(int env_mode, const char *const *env) {
  char *argv[] = {"herd-test", "--helper", "env", "NODE_CHANNEL_FD",
                  "NODE_CHANNEL_SERIALIZATION_MODE", NULL};
  herd_spawn_opts_t o = {.env_mode = env_mode, .env = env};
  o.stdio[1].kind = HERD_STDIO_PIPE;
  herd_child_t c;
  herd_chan_t *ch;
  CHECK_OK(herd_fork(&c, &ch, test_self(), argv, &o));
  char *out = test_read_all(c.stdio[1], NULL);
  finish(&c, 0);
  herd_chan_close(ch);
  return out;
}

/* Channel variables already in the environment the child would get (a
 * C program itself started by Node passing its environment on, say) must
 * not win over herd_fork's own. */
TEST(chan_fork_channel_variables_override_callers) {
  static const char *const want =
      "NODE_CHANNEL_FD=3\nNODE_CHANNEL_SERIALIZATION_MODE=json\n";
  static const char *const stale[] = {
      "NODE_CHANNEL_FD=9", "NODE_CHANNEL_SERIALIZATION_MODE=advanced", NULL};
  char *out = fork_env_helper(HERD_ENV_INHERIT, NULL);
  CHECK_STR(out, want);
  free(out);
  CHECK(setenv("NODE_CHANNEL_FD", "9", 1) == 0);
  CHECK(setenv("NODE_CHANNEL_SERIALIZATION_MODE", "advanced", 1) == 0);
  out = fork_env_helper(HERD_ENV_INHERIT, NULL);
  CHECK_STR(out, want);
  free(out);
  out = fork_env_helper(HERD_ENV_ADD, stale);
  CHECK_MSG(!strcmp(out, want), "HERD_ENV_ADD: the child read %s", out);
  free(out);
  out = fork_env_helper(HERD_ENV_REPLACE, stale);
  CHECK_MSG(!strcmp(out, want), "HERD_ENV_REPLACE: the child read %s", out);
  free(out);
}

/* ---- the loop ---------------------------------------------------------- */

static int reply_once_child(herd_chan_t *ch, void *arg) {
  (void)arg;
  expect_msg(ch, "{\"hello\":1}");
  send_str(ch, "{\"hi\":1}", -1);
  return 0;
}

static void got_cb(herd_loop_t *loop, herd_chan_t *ch, int err,
                   herd_chan_msg_t *msg, void *data) {
  (void)loop;
  (void)ch;
  if (err == 0 && msg->len == 8 && memcmp(msg->json, "{\"hi\":1}", 8) == 0)
    *(int *)data = 1;
}

/* The common start: watch the channel, send a first message, run the
 * loop. The message must leave when the loop runs, not only after
 * something else wakes it. */
TEST_T(chan_loop_sends_message_queued_before_run, 20) {
  herd_child_t c;
  herd_chan_t *ch;
  CHECK_OK(herd_fork_fn(&c, &ch, reply_once_child, NULL));
  herd_loop_t *loop;
  CHECK_OK(herd_loop_new(&loop));
  int got = 0;
  CHECK_OK(herd_loop_chan(loop, ch, got_cb, &got));
  send_str(ch, "{\"hello\":1}", -1);
  uint64_t deadline = test_now_ms() + 2000;
  while (!got && ms_left(deadline) > 0)
    CHECK_OK(herd_loop_run_once(loop, ms_left(deadline)));
  int in_time = got;
  /* (the rest only cleans up) */
  deadline = test_now_ms() + 10000;
  while (!got && ms_left(deadline) > 0)
    CHECK_OK(herd_loop_run_once(loop, ms_left(deadline)));
  (void)herd_loop_chan_stop(loop, ch);
  herd_loop_free(loop);
  CHECK_MSG(in_time,
            "a message sent after herd_loop_chan was not written until "
            "herd_loop_run_once timed out (its reply came %s)",
            got ? "only after that" : "never");
  finish(&c, 0);
  herd_chan_close(ch);
}

#define N_TINY 20000

static int tiny_child(herd_chan_t *ch, void *arg) {
  (void)arg;
  for (int i = 0; i < N_TINY; i++)
    send_str(ch, "1", -1);
  CHECK_EQ(herd_chan_flush_wait(ch, 10000), 0);
  /* Then wait for the answer, which needs every message delivered. */
  char want[32];
  snprintf(want, sizeof want, "{\"got\":%d}", N_TINY);
  expect_msg(ch, want);
  return 0;
}

struct tiny {
  int got;
  int answered;
};

static void tiny_cb(herd_loop_t *loop, herd_chan_t *ch, int err,
                    herd_chan_msg_t *msg, void *data) {
  (void)loop;
  struct tiny *t = data;
  if (err != 0)
    return;
  CHECK(msg->len == 1 && msg->json[0] == '1');
  if (++t->got == N_TINY) {
    char json[32];
    snprintf(json, sizeof json, "{\"got\":%d}", t->got);
    send_str(ch, json, -1);
    t->answered = 1;
  }
}

/* More complete messages than the loop delivers per wakeup arrive in one
 * read (20,000 of 2 bytes), and the peer then waits for our answer: the
 * loop must deliver them all without a new event on the socket. */
TEST_T(chan_loop_delivers_every_buffered_message, 30) {
  herd_child_t c;
  herd_chan_t *ch;
  CHECK_OK(herd_fork_fn(&c, &ch, tiny_child, NULL));
  herd_loop_t *loop;
  CHECK_OK(herd_loop_new(&loop));
  struct tiny t = {0, 0};
  CHECK_OK(herd_loop_chan(loop, ch, tiny_cb, &t));
  uint64_t deadline = test_now_ms() + 5000;
  while (!t.answered && ms_left(deadline) > 0)
    CHECK_OK(herd_loop_run_once(loop, ms_left(deadline)));
  (void)herd_loop_chan_stop(loop, ch);
  herd_loop_free(loop);
  CHECK_MSG(t.answered, "the loop delivered %d of %d messages, then waited "
            "for an event that never came (the rest sat in the channel's "
            "buffer)", t.got, N_TINY);
  CHECK_EQ(herd_chan_flush_wait(ch, 10000), 0);
  expect_end(ch, HERD_EPEERGONE);
  finish(&c, 0);
  herd_chan_close(ch);
}

static int early_child(herd_chan_t *ch, void *arg) {
  (void)arg;
  send_str(ch, "{\"early\":1}", -1);
  CHECK_EQ(herd_chan_flush_wait(ch, 10000), 0);
  int fd = expect_handle(ch, "{\"h\":1}", "net.Socket"); /* ACKs it */
  close(fd);
  expect_msg(ch, "{\"done\":1}");
  return 0;
}

static void early_cb(herd_loop_t *loop, herd_chan_t *ch, int err,
                     herd_chan_msg_t *msg, void *data) {
  (void)loop;
  if (err == 0 && msg->len == 11 && !memcmp(msg->json, "{\"early\":1}", 11)) {
    send_str(ch, "{\"done\":1}", -1);
    *(int *)data = 1;
  }
}

/* herd_chan_flush_wait keeps the messages that came before the ACK for
 * herd_chan_recv; a loop that watches the channel afterwards must
 * deliver them, although the socket has nothing more to read. */
TEST_T(chan_loop_delivers_messages_buffered_by_flush_wait, 30) {
  herd_child_t c;
  herd_chan_t *ch;
  CHECK_OK(herd_fork_fn(&c, &ch, early_child, NULL));
  int p[2];
  CHECK(pipe2(p, O_CLOEXEC) == 0);
  send_str(ch, "{\"h\":1}", p[1]);
  close(p[0]);
  close(p[1]);
  CHECK_EQ(herd_chan_flush_wait(ch, 10000), 0);
  herd_loop_t *loop;
  CHECK_OK(herd_loop_new(&loop));
  int got = 0;
  CHECK_OK(herd_loop_chan(loop, ch, early_cb, &got));
  uint64_t deadline = test_now_ms() + 3000;
  while (!got && ms_left(deadline) > 0)
    CHECK_OK(herd_loop_run_once(loop, ms_left(deadline)));
  (void)herd_loop_chan_stop(loop, ch);
  herd_loop_free(loop);
  CHECK_MSG(got, "a message buffered by herd_chan_flush_wait never reached "
            "the loop's callback");
  CHECK_EQ(herd_chan_flush_wait(ch, 10000), 0);
  expect_end(ch, HERD_EPEERGONE);
  finish(&c, 0);
  herd_chan_close(ch);
}

/* ---- Node.js ------------------------------------------------------------- */

/* herd_fork of node SCRIPT, with herd_spawn_opts_t flags (say
 * HERD_FORK_ADVANCED). */
static void fork_node_flags(herd_child_t *c, herd_chan_t **ch,
                            const char *script, unsigned flags) {
  const char *node = node_path();
  char path[PATH_MAX];
  node_script(path, sizeof path, script);
  char *argv[] = {"node", path, NULL};
  herd_spawn_opts_t o = {.flags = flags};
  CHECK_OK(herd_fork(c, ch, node, argv, &o));
  CHECK_EQ(herd_chan_mode(*ch), (flags & HERD_FORK_ADVANCED)
                                    ? HERD_CHAN_MODE_ADVANCED
                                    : HERD_CHAN_MODE_JSON);
}

static void fork_node(herd_child_t *c, herd_chan_t **ch, const char *script) {
  fork_node_flags(c, ch, script, 0);
}

/* A C parent and a Node child (process.send / process.on('message')):
 * the same code, the same JSON texts, in either serialization (in
 * 'advanced' mode they travel as V8 values, the JSON is libherd's
 * rendering of them, and the handles go in V8 frames). */
static void node_child_messages_big_and_handles(unsigned flags) {
  herd_child_t c;
  herd_chan_t *ch;
  fork_node_flags(&c, &ch, "echo-child.js", flags);

  /* 10,000 each way: Node checks ours against gen.js, answers with its
   * own, which we check byte for byte. */
  struct pump p;
  pump_init(&p, ch, 0, 1, 0, N_MESSAGES);
  pump_run_poll(&p, 40000);
  pump_free(&p);

  size_t out_len, want_len;
  char *out = render_big(0, "", &out_len);
  char *want = render_big(1, "", &want_len);
  exchange(ch, out, out_len, want, want_len, 30000);
  free(out);
  free(want);

  /* A listening socket: Node gets a working net.Server. Our message
   * after the handle waits for Node's ACK, then flows. */
  int port;
  int l = tcp_listen(&port);
  send_str(ch, "{\"op\":\"server\"}", l);
  close(l);
  send_str(ch, "{\"after\":\"server\"}", -1);
  CHECK_EQ(herd_chan_flush_wait(ch, 10000), 0);
  char json[128];
  snprintf(json, sizeof json,
           "{\"op\":\"server-ok\",\"isServer\":true,\"listening\":true,"
           "\"port\":%d}",
           port);
  expect_msg(ch, json);
  expect_msg(ch, "{\"after\":\"server\"}");
  int cl = tcp_connect(port);
  CHECK_EQ(write(cl, "ping\n", 5), 5);
  char *s = read_to_eof(cl, 10000);
  CHECK_STR(s, "pong:ping\n");
  free(s);
  close(cl);

  /* A connected socket: Node writes to it and ends it. */
  int l2 = tcp_listen(&port);
  cl = tcp_connect(port);
  int acc = accept4(l2, NULL, NULL, SOCK_CLOEXEC);
  CHECK(acc >= 0);
  close(l2);
  send_str(ch, "{\"op\":\"socket\"}", acc);
  close(acc);
  send_str(ch, "{\"after\":\"socket\"}", -1);
  CHECK_EQ(herd_chan_flush_wait(ch, 10000), 0);
  expect_msg(ch, "{\"op\":\"socket-ok\",\"isSocket\":true}");
  expect_msg(ch, "{\"after\":\"socket\"}");
  s = read_to_eof(cl, 10000);
  CHECK_STR(s, "from-node-socket\n");
  free(s);
  close(cl);

  /* Node -> C: a net.Server; Node's next message only comes once our ACK
   * reached it. */
  send_str(ch, "{\"op\":\"give\"}", -1);
  herd_chan_msg_t m;
  recv_one(ch, &m);
  int gport = -1;
  CHECK_MSG(sscanf(m.json, "{\"op\":\"gift\",\"port\":%d}", &gport) == 1,
            "got %s", m.json);
  CHECK_STR(m.handle_type, "net.Server");
  int g = m.fd;
  CHECK(g >= 0);
  CHECK(fcntl(g, F_GETFD) & FD_CLOEXEC);
  CHECK(is_listening(g));
  CHECK_EQ(local_port(g), gport);
  expect_msg(ch, "{\"op\":\"after-gift\"}");
  cl = tcp_connect(gport);
  struct pollfd pf = {.fd = g, .events = POLLIN};
  CHECK_EQ(poll(&pf, 1, 10000), 1);
  acc = accept4(g, NULL, NULL, SOCK_CLOEXEC);
  CHECK_MSG(acc >= 0, "accept on Node's server: %s", strerror(errno));
  close(acc);
  close(cl);
  close(g);

  send_str(ch, "{\"op\":\"end\"}", -1);
  expect_msg(ch, "{\"op\":\"done\",\"count\":10000,\"nerrors\":0,\"errors\":[]}");
  CHECK_EQ(herd_chan_connected(ch), 1);
  expect_end(ch, HERD_EPEERGONE);
  CHECK_EQ(herd_chan_connected(ch), 0);
  finish(&c, 0);
  herd_chan_close(ch);
}

TEST(chan_node_child_messages_big_and_handles) {
  node_child_messages_big_and_handles(0);
}

TEST(chanv8_node_child_messages_big_and_handles) {
  node_child_messages_big_and_handles(HERD_FORK_ADVANCED);
}

/* A Node parent and a C child (helpers.c chan-echo, herd_chan_from_env:
 * the mode is the parent's), driven by tests/node/parent.js. */
static void node_parent_c_child(const char *serialization) {
  const char *node = node_path();
  char path[PATH_MAX];
  node_script(path, sizeof path, "parent.js");
  char *argv[] = {"node", path, (char *)test_self(), (char *)serialization,
                  NULL};
  herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
  o.timeout_ms = 50000;
  herd_exec_result_t res;
  CHECK_OK(herd_exec_file(node, argv, &o, &res));
  CHECK_MSG(res.reason == HERD_EXEC_EXITED && res.exit_code == 0,
            "node parent.js: reason %d, exit %d, signal %d: %.600s%.600s",
            res.reason, res.exit_code, res.term_signal, res.err, res.out);
  herd_exec_result_free(&res);
}

TEST(chan_node_parent_c_child) { node_parent_c_child("json"); }

TEST(chanv8_node_parent_c_child) { node_parent_c_child("advanced"); }

/* Node's internal messages (cmd "NODE_..." longer than 5) never reach
 * the C side; {"cmd":"NODE_"} is a normal one. */
TEST(chan_node_internal_messages_dropped) {
  herd_child_t c;
  herd_chan_t *ch;
  fork_node(&c, &ch, "custom-child.js");
  expect_msg(ch, "{\"n\":1}");
  expect_msg(ch, "{\"cmd\":\"NODE_\"}");
  expect_msg(ch, "{\"n\":2}");
  expect_end(ch, HERD_EPEERGONE);
  finish(&c, 0);
  herd_chan_close(ch);
}

/* A Node parent sends a handle with a message that has no JSON form
 * (tests/node/handle-no-msg.js): on the wire, a NODE_HANDLE line without
 * "msg". Node's own receiver gets msg undefined with the handle; the C
 * child (helpers.c chan-echo) must survive (it died of SIGSEGV) and get
 * null with the net.Server. */
TEST(chan_node_parent_handle_without_msg) {
  const char *node = node_path();
  char path[PATH_MAX];
  node_script(path, sizeof path, "handle-no-msg.js");
  char *argv[] = {"node", path, (char *)test_self(), NULL};
  herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
  o.timeout_ms = 30000;
  herd_exec_result_t res;
  CHECK_OK(herd_exec_file(node, argv, &o, &res));
  CHECK_MSG(res.reason == HERD_EXEC_EXITED && res.exit_code == 0,
            "node handle-no-msg.js: reason %d, exit %d: %.600s", res.reason,
            res.exit_code, res.err);
  CHECK_STR(res.out,
            "{\"node\":{\"type\":\"undefined\",\"value\":\"undefined\","
            "\"handle\":\"Server\"},"
            "\"c\":{\"gotfd\":\"net.Server\",\"echo\":null},"
            "\"cexit\":[0,null]}\n");
  herd_exec_result_free(&res);
}

/* ---- reading as Node reads: a differential test against node ------ */

/* Lines whose reading turns on JSON.parse's rules (escapes decoded in
 * keys and values, the last of duplicate keys wins) and on Node's
 * isInternal (a string cmd longer than 5 starting with NODE_). fd: sent
 * with a descriptor (one end of a socketpair: a net.Socket to Node). */
static const struct dcase {
  const char *line;
  int fd;
} dcases[] = {
    {"{\"a\":1}", 0},
    {"{\"cmd\":\"user\"}", 0},
    {"{\"cmd\":\"NODE_\"}", 0},
    {"{\"cmd\":\"NODE_X\"}", 0},
    {"{\"cmd\":\"NODE_CLUSTER\",\"act\":\"online\"}", 0},
    {"{\"cmd\":\"node_x\"}", 0},
    {"{\"cmd\":\" NODE_X\"}", 0},
    {"{\"cmd\":1}", 0},
    {"{\"cmd\":null}", 0},
    {"{\"cmd\":true}", 0},
    {"{\"cmd\":[\"NODE_HANDLE\"]}", 0},
    {"{\"cmd\":{\"cmd\":\"NODE_X\"}}", 0},
    {"[{\"cmd\":\"NODE_X\"}]", 0},
    {"\"NODE_X\"", 0},
    {"null", 0},
    {"{\"x\":{\"cmd\":\"NODE_X\"}}", 0},
    {"{\"__proto__\":{\"cmd\":\"NODE_X\"}}", 0},
    /* escapes in the key */
    {"{\"\\u0063md\":\"NODE_X\"}", 0},
    {"{\"c\\u006Dd\":\"NODE_X\"}", 0},
    {"{\"\\u0063\\u006d\\u0064\":\"NODE_X\"}", 0},
    {"{\"cmd\\u0000\":\"NODE_X\"}", 0},
    {"{\"cmd \":\"NODE_X\"}", 0},
    {"{\"\\u0063md\":\"NODE_\"}", 0},
    /* escapes in the value */
    {"{\"cmd\":\"NODE\\u005fX\"}", 0},
    {"{\"cmd\":\"\\u004eODE_CLUSTER\"}", 0},
    {"{\"cmd\":\"NODE\\u005f\"}", 0},
    {"{\"cmd\":\"\\u004e\\u004f\\u0044\\u0045\\u005f\"}", 0},
    {"{\"cmd\":\"NODE_\\u0000\"}", 0},
    {"{\"cmd\":\"NODE_\\ud800\"}", 0},
    {"{\"cmd\":\"NODE_\\u00e9\"}", 0},
    {"{\"cmd\":\"NODE_\xc3\xa9\"}", 0},
    {"{\"cmd\":\"NODE_\\n\"}", 0},
    {"{\"cmd\":\"NODE\\/X\"}", 0},
    /* duplicate keys: the last one counts */
    {"{\"cmd\":\"NODE_X\",\"cmd\":\"user\"}", 0},
    {"{\"cmd\":\"user\",\"cmd\":\"NODE_X\"}", 0},
    {"{\"cmd\":\"NODE_X\",\"\\u0063md\":1}", 0},
    {" { \"cmd\" : \"NODE_X\" } ", 0},
    /* the handle protocol's answers */
    {"{\"cmd\":\"NODE_HANDLE_ACK\",\"cmd\":\"user\"}", 0},
    {"{\"cmd\":\"user\",\"cmd\":\"NODE_HANDLE_ACK\"}", 0},
    {"{\"\\u0063md\":\"NODE_HANDLE_ACK\"}", 0},
    {"{\"cmd\":\"NODE\\u005fHANDLE\\u005fNACK\"}", 0},
    {"{\"cmd\":\"NODE_HANDLE_ACK \"}", 0},
    {"{\"cmd\":\"NODE_HANDLE_ACK\",\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}", 0},
    /* handles */
    {"{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\",\"msg\":{\"x\":1}}", 0},
    {"{\"cmd\":\"NODE_HANDLE\",\"cmd\":\"user\",\"type\":\"net.Socket\",\"msg\":5}", 0},
    {"{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\",\"msg\":{\"x\":1}}", 1},
    {"{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\"}", 1},
    {"{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\",\"msg\":1,\"msg\":2}", 1},
    {"{\"cmd\":\"NODE_HANDLE\",\"msg\":{\"a\":1},\"type\":\"net.Socket\","
     "\"\\u006dsg\":{\"b\":2}}", 1},
    {"{\"\\u0063md\":\"NODE_HANDLE\",\"type\":\"net.Socket\",\"msg\":\"k\"}", 1},
    {"{\"cmd\":\"NODE\\u005fHANDLE\",\"type\":\"net.Socket\",\"msg\":\"v\"}", 1},
    {"{\"cmd\":\"NODE_HANDLE\",\"t\\u0079pe\":\"net.Socket\",\"msg\":3}", 1},
    {"{\"cmd\":\"NODE_HANDLE\",\"type\":\"net\\u002eSocket\",\"msg\":4}", 1},
    {"{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\",\"msg\":6,"
     "\"cmd\":\"NODE_HANDLE\"}", 1},
    {"{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\",\"msg\":{\"cmd\":\"NODE_X\"}}", 1},
    {"{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\","
     "\"msg\":{\"\\u0063md\":\"NODE\\u005fX\"}}", 1},
    {"{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\",\"msg\":{\"cmd\":\"NODE_\"}}", 1},
    {"{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\","
     "\"msg\":{\"cmd\":\"NODE_X\",\"cmd\":\"u\"}}", 1},
    {"{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\",\"msg\":null}", 1},
    {"{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\",\"msg\":[\"NODE_HANDLE\"]}", 1},
};
#define N_DCASES (sizeof dcases / sizeof dcases[0])
#define MAX_DELIV 4

/* What a reader made of one line. */
struct reading {
  int n;                 /* messages delivered */
  char *json[MAX_DELIV]; /* their texts (malloc'd); NULL: Node's undefined */
  int fd[MAX_DELIV];     /* a descriptor came with it */
  char type[MAX_DELIV][24]; /* its type (Node's net.Socket is a Socket) */
  char replies[8];       /* "A" per NODE_HANDLE_ACK, "N" per NACK written */
  int ack;               /* Node: an internal ACK or NACK was emitted */
  int flush_err;         /* what herd_chan_flush_wait returned */
};

static void reading_free(struct reading *r) {
  for (int i = 0; i < r->n; i++)
    free(r->json[i]);
  memset(r, 0, sizeof *r);
}

/* The line, its '\n', and maybe a fresh socket, written raw. */
static void dcase_send(int sock, const struct dcase *c) {
  size_t n = strlen(c->line);
  char *b = malloc(n + 2);
  CHECK(b != NULL);
  memcpy(b, c->line, n);
  memcpy(b + n, "\n", 2);
  if (c->fd) {
    int sp[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
    test_send_with_fd(sock, b, sp[0]);
    close(sp[0]);
    close(sp[1]);
  } else {
    raw_send_all(sock, b, n + 1);
  }
  free(b);
}

static void add_reply(struct reading *r, const char *line, const char *what) {
  size_t k = strlen(r->replies);
  CHECK_MSG(k + 1 < sizeof r->replies, "%s: too many replies", what);
  if (!strcmp(line, "{\"cmd\":\"NODE_HANDLE_ACK\"}"))
    r->replies[k] = 'A';
  else if (!strcmp(line, "{\"cmd\":\"NODE_HANDLE_NACK\"}"))
    r->replies[k] = 'N';
  else
    test_fail(__FILE__, __LINE__, "%s: unexpected line %s", what, line);
}

/* libherd reads case c on a fresh channel: with herd_chan_recv, or
 * (flush) first with herd_chan_flush_wait while it waits for the ACK of
 * a handle of its own. node_ack: Node took the line as an ACK/NACK, so
 * nothing else is sent for ours. */
static void herd_reads(const struct dcase *c, int flush, int node_ack,
                       struct reading *r) {
  static const char marker[] = "{\"probe\":\"done\"}";
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  herd_chan_t *ch;
  CHECK_OK(herd_chan_open(&ch, sv[0], NULL));
  if (flush) {
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    send_str(ch, "{\"mine\":1}", p[1]);
    close(p[0]);
    close(p[1]);
    CHECK_EQ(herd_chan_flush(ch), 0);
    free(raw_read_line(sv[1])); /* our handle line (its fd is closed) */
  }
  dcase_send(sv[1], c);
  raw_send_all(sv[1], marker, sizeof marker - 1);
  raw_send_all(sv[1], "\n", 1);
  if (flush) {
    static const char ack[] = "{\"cmd\":\"NODE_HANDLE_ACK\"}\n";
    if (!node_ack)
      raw_send_all(sv[1], ack, sizeof ack - 1);
    r->flush_err = herd_chan_flush_wait(ch, 5000);
  }
  for (;;) {
    herd_chan_msg_t m;
    int g = herd_chan_recv_wait(ch, &m, 5000);
    CHECK_MSG(g == 1, "%s: recv: %d (%s)", c->line, g, herd_strerror(g));
    if (m.len == sizeof marker - 1 && !memcmp(m.json, marker, m.len))
      break;
    CHECK_MSG(r->n < MAX_DELIV, "%s: too many messages", c->line);
    r->json[r->n] = strndup(m.json, m.len);
    CHECK(r->json[r->n] != NULL);
    r->fd[r->n] = m.fd >= 0;
    if (m.fd >= 0) {
      snprintf(r->type[r->n], sizeof r->type[0], "%s", m.handle_type);
      close(m.fd);
    }
    r->n++;
  }
  CHECK_EQ(herd_chan_flush(ch), 0);
  for (;;) {
    struct pollfd pf = {.fd = sv[1], .events = POLLIN};
    if (poll(&pf, 1, 0) != 1)
      break; /* every reply was written before the marker came out */
    char *line = raw_read_line(sv[1]);
    add_reply(r, line, c->line);
    free(line);
  }
  herd_chan_close(ch);
  close(sv[1]);
}

/* A line from the Node probe that is not an ACK/NACK, parsed. */
static herd_val_t *node_answer(int sock, struct reading *r, const char *what) {
  for (;;) {
    char *line = raw_read_line(sock);
    if (!strncmp(line, "{\"cmd\":\"NODE_HANDLE_", 20)) {
      add_reply(r, line, what);
      free(line);
      continue;
    }
    herd_val_t *v = jparse(line, strlen(line));
    CHECK_MSG(v != NULL, "%s: node said %s", what, line);
    free(line);
    return v;
  }
}

static void node_reads(int sock, int i, struct reading *r) {
  const struct dcase *c = &dcases[i];
  dcase_send(sock, c);
  char b[64];
  int n = snprintf(b, sizeof b, "{\"probe\":\"done\",\"i\":%d}\n", i);
  raw_send_all(sock, b, (size_t)n);
  herd_val_t *v = node_answer(sock, r, c->line);
  CHECK_MSG(jnum(jget(v, "done"), -1) == i,
            "%s: answer for another line (done %g)", c->line,
            jnum(jget(v, "done"), -1));
  const herd_val_t *ev = jget(v, "events");
  for (size_t k = 0; k < jlen(ev); k++) {
    const herd_val_t *e = jat(ev, k);
    const char *what = jstr(jget(e, "ev"), "");
    if (!strcmp(what, "internal")) {
      const char *cmd = jstr(jget(e, "cmd"), "");
      r->ack |= !strcmp(cmd, "NODE_HANDLE_ACK") || !strcmp(cmd, "NODE_HANDLE_NACK");
      continue;
    }
    CHECK_MSG(!strcmp(what, "message") && r->n < MAX_DELIV, "%s: event %s",
              c->line, what);
    const char *json = jstr(jget(e, "json"), NULL);
    CHECK_MSG(json || jbool(jget(e, "undef"), 0), "%s: no json", c->line);
    r->json[r->n] = json ? strdup(json) : NULL;
    const char *cls = jstr(jget(e, "handle"), NULL);
    r->fd[r->n] = cls != NULL;
    if (cls)
      snprintf(r->type[r->n], sizeof r->type[0], "%s%s",
               strcmp(cls, "Socket") ? "" : "net.", cls);
    r->n++;
  }
  herd_val_free(v);
}

/* Replace each of libherd's texts by Node's JSON.stringify(JSON.parse()),
 * to compare values, not spellings. */
static void node_canon(int sock, struct reading *r) {
  for (int k = 0; k < r->n; k++) {
    size_t len = strlen(r->json[k]);
    char *b = malloc(len + 64);
    CHECK(b != NULL);
    int h = snprintf(b, 64, "{\"probe\":\"canon\",\"i\":%d,\"v\":", k);
    memcpy(b + h, r->json[k], len);
    memcpy(b + (size_t)h + len, "}\n", 2);
    raw_send_all(sock, b, (size_t)h + len + 2);
    free(b);
    herd_val_t *v = node_answer(sock, r, r->json[k]);
    const char *json = jstr(jget(v, "json"), NULL);
    CHECK_MSG(jnum(jget(v, "canon"), -1) == k && json, "canon of %s",
              r->json[k]);
    free(r->json[k]);
    r->json[k] = strdup(json);
    herd_val_free(v);
  }
}

/* Append to out (cap bytes) how herd's reading differs from Node's;
 * returns 1 if it does. */
static int compare(const struct dcase *c, const char *how,
                   const struct reading *node, const struct reading *herd,
                   char *out, size_t cap) {
  char d[512] = "";
  if (herd->flush_err) {
    snprintf(d, sizeof d, "flush_wait returns %d (%s)", herd->flush_err,
             herd_strerror(herd->flush_err));
  } else if (herd->n != node->n) {
    snprintf(d, sizeof d, "%s delivers %d message(s) (%s), node %d (%s)",
             how, herd->n, herd->n ? herd->json[0] : "", node->n,
             node->n ? (node->json[0] ? node->json[0] : "undefined") : "");
  } else {
    for (int k = 0; k < node->n && !d[0]; k++) {
      /* no JSON for undefined: libherd says null */
      const char *want = node->json[k] ? node->json[k] : "null";
      if (strcmp(herd->json[k], want) != 0)
        snprintf(d, sizeof d, "%s delivers %s, node %s", how, herd->json[k],
                 want);
      else if (herd->fd[k] != node->fd[k])
        snprintf(d, sizeof d, "%s %s an fd, node %s", how,
                 herd->fd[k] ? "delivers" : "has no",
                 node->fd[k] ? "does" : "not");
      else if (strcmp(herd->type[k], node->type[k]) != 0)
        snprintf(d, sizeof d, "%s says type \"%s\", node \"%s\"", how,
                 herd->type[k], node->type[k]);
    }
  }
  if (!d[0] && strcmp(herd->replies, node->replies) != 0)
    snprintf(d, sizeof d, "%s answers \"%s\", node \"%s\" (A: ACK, N: NACK)",
             how, herd->replies, node->replies);
  if (!d[0])
    return 0;
  size_t len = strlen(out);
  snprintf(out + len, cap - len, "\n  %s: %s", c->line, d);
  return 1;
}

/* Each line through Node's own child side (tests/node/classify-child.js)
 * and through libherd, read by herd_chan_recv and by herd_chan_flush_wait
 * (scan_control) while it waits for an ACK: the same messages come out,
 * with the same values and descriptors, and the same ACK/NACK answers go
 * back. */
TEST(chan_node_differential_reading) {
  int before = test_count_fds();
  herd_child_t c;
  herd_chan_t *ch;
  fork_node(&c, &ch, "classify-child.js");
  int sock = herd_chan_fd(ch);
  char diffs[1800] = "";
  int bad = 0;
  for (size_t i = 0; i < N_DCASES; i++) {
    const struct dcase *dc = &dcases[i];
    struct reading node = {0}, by_recv = {0}, by_flush = {0};
    node_reads(sock, (int)i, &node);
    herd_reads(dc, 0, node.ack, &by_recv);
    herd_reads(dc, 1, node.ack, &by_flush);
    node_canon(sock, &by_recv);
    node_canon(sock, &by_flush);
    bad += compare(dc, "recv", &node, &by_recv, diffs, sizeof diffs);
    bad += compare(dc, "flush_wait", &node, &by_flush, diffs, sizeof diffs);
    reading_free(&node);
    reading_free(&by_recv);
    reading_free(&by_flush);
  }
  raw_send_all(sock, "{\"probe\":\"end\"}\n", 16);
  finish(&c, 0);
  herd_chan_close(ch);
  CHECK_MSG(!bad, "%d readings of %d lines differ from Node's:%s", bad,
            (int)N_DCASES, diffs);
  CHECK_EQ(test_count_fds(), before);
}
