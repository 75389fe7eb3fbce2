/*
 * chanv8_test.c - the channel in Node's 'advanced' serialization
 * (src/lib/chanv8.c): V8 values in length-prefixed frames, C to C, and
 * against the real node both ways (tests/node/v8-cases.js makes every
 * value of tests/v8ser_test.c in Node); examples/echo-child under a Node
 * parent; what a broken peer sends.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "jtest.h"
#include "test.h"

#define ADV {.flags = HERD_CHAN_ADVANCED}

/* Two channels on a socketpair, or one and a raw peer (raw != NULL). */
static void pair(herd_chan_t **a, herd_chan_t **b, int *raw,
                 const herd_chan_opts_t *o) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  CHECK_OK(herd_chan_open(a, sv[0], o));
  if (raw) {
    *raw = sv[1];
    return;
  }
  CHECK_OK(herd_chan_open(b, sv[1], o));
}

static void raw_write(int fd, const void *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && errno == EAGAIN) {
      struct pollfd pf = {.fd = fd, .events = POLLOUT};
      CHECK(poll(&pf, 1, 20000) == 1);
      continue;
    }
    CHECK_MSG(w > 0, "send: %s", strerror(errno));
    p = (const char *)p + w;
    n -= (size_t)w;
  }
}

/* A frame of payload p[0..n). */
static void raw_frame(int fd, const void *p, size_t n) {
  uint8_t h[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                  (uint8_t)n};
  raw_write(fd, h, 4);
  raw_write(fd, p, n);
}

static void raw_read(int fd, void *p, size_t n) {
  while (n) {
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    CHECK(poll(&pf, 1, 10000) == 1);
    ssize_t r = recv(fd, p, n, 0);
    CHECK_MSG(r > 0, "recv: %zd %s", r, strerror(errno));
    p = (char *)p + r;
    n -= (size_t)r;
  }
}

static herd_val_t *from_json(const char *j) {
  herd_val_t *v;
  int r = herd_v8_from_json(j, strlen(j), NULL, &v, NULL);
  CHECK_MSG(r == 0, "from_json %s: %s", j, herd_strerror(r));
  return v;
}

static int recv_one(herd_chan_t *ch, herd_chan_msg_t *m) {
  int r = herd_chan_recv_wait(ch, m, 10000);
  CHECK_MSG(r == 1, "herd_chan_recv_wait: %d (%s)", r, herd_strerror(r));
  return r;
}

static void expect_code(herd_chan_t *ch, int code) {
  herd_chan_msg_t m;
  int r = herd_chan_recv_wait(ch, &m, 10000);
  CHECK_MSG(r == code, "herd_chan_recv_wait: %d (%s)%s%s, expected %d (%s)", r,
            herd_strerror(r), r == 1 ? ": " : "",
            r == 1 && m.json ? m.json : "", code, herd_strerror(code));
}

/* The next message is v's value, and its json is v's rendering. */
static void expect_val(herd_chan_t *ch, const herd_val_t *v) {
  herd_chan_msg_t m;
  recv_one(ch, &m);
  CHECK(m.val != NULL);
  CHECK_EQ(m.fd, -1);
  CHECK_MSG(herd_val_equal(m.val, v) == 1, "got %s", m.json);
  char *j;
  size_t n;
  CHECK_OK(herd_v8_to_json(v, NULL, &j, &n));
  CHECK_MSG(m.json && m.len == n && strcmp(m.json, j) == 0,
            "json %s, expected %s", m.json ? m.json : "(null)", j);
  free(j);
}

/* Values of every type the codec carries, in its JSON mapping. */
static const char *const TYPES[] = {
    "null",
    "true",
    "false",
    "0",
    "-2147483648",
    "1.5",
    "\"\"",
    "\"h\\u00e9llo\"",
    "\"two \\u20ac bytes \\ud800\"",
    "{\"$v8\":\"undefined\"}",
    "{\"$v8\":\"Number\",\"value\":\"-0\"}",
    "{\"$v8\":\"Number\",\"value\":\"NaN\"}",
    "{\"$v8\":\"Number\",\"value\":\"-Infinity\"}",
    "{\"$v8\":\"BigInt\",\"value\":\"-123456789012345678901234567890\"}",
    "{\"$v8\":\"Date\",\"ms\":1700000000000}",
    "{\"$v8\":\"Date\",\"ms\":null}",
    "{\"$v8\":\"RegExp\",\"source\":\"ab+c\",\"flags\":\"gi\"}",
    "[1,\"two\",null,[3]]",
    "{\"$v8\":\"Array\",\"length\":6,\"props\":{\"5\":\"x\",\"extra\":true}}",
    "{\"a\":{\"b\":\"c\"},\"1\":2,\"\\u20ac\":[]}",
    "{\"$v8\":\"Object\",\"props\":{\"$v8\":1}}",
    "{\"$v8\":\"Map\",\"entries\":[[1,\"a\"],[{},[]]]}",
    "{\"$v8\":\"Set\",\"values\":[1,\"a\",{\"$v8\":\"Number\",\"value\":\"-0\"}]}",
    "{\"$v8\":\"ArrayBuffer\",\"base64\":\"AQI=\"}",
    "{\"$v8\":\"ArrayBuffer\",\"base64\":\"AQI=\",\"maxByteLength\":8}",
    "{\"$v8\":\"Buffer\",\"base64\":\"AAH+/w==\"}",
    "{\"$v8\":\"Float64Array\",\"base64\":\"AAAAAAAA+D8=\"}",
    "{\"$v8\":\"BigInt64Array\",\"base64\":\"//////////8=\"}",
    ("{\"$v8\":\"Error\",\"name\":\"TypeError\",\"message\":\"bad\","
     "\"cause\":{\"code\":1},\"stack\":\"TypeError: bad\"}"),
    "{\"$v8\":\"Boxed\",\"value\":\"s\"}",
    "{\"x\":{\"k\":1},\"y\":{\"$v8\":\"Ref\",\"id\":1}}",
    "{\"self\":{\"$v8\":\"Ref\",\"id\":0}}",
};
#define NTYPES (sizeof TYPES / sizeof TYPES[0])

/* C to C: every type, sent as a value and as JSON text, arrives as the
 * same value with the same JSON. */
TEST(chanv8_c_to_c_every_type_as_value_and_json) {
  herd_chan_opts_t o = ADV;
  herd_chan_t *a, *b;
  pair(&a, &b, NULL, &o);
  CHECK_EQ(herd_chan_mode(a), HERD_CHAN_MODE_ADVANCED);
  for (size_t i = 0; i < NTYPES; i++) {
    herd_val_t *v = from_json(TYPES[i]);
    CHECK_EQ(herd_chan_send_val(a, v, -1), 0);
    int r = herd_chan_send(a, TYPES[i], strlen(TYPES[i]), -1);
    CHECK_MSG(r == 0, "send %s: %s", TYPES[i], herd_strerror(r));
    CHECK_EQ(herd_chan_flush_wait(a, 10000), 0);
    expect_val(b, v);
    expect_val(b, v);
    herd_val_free(v);
  }
  /* not of the mapping, or not JSON: refused, nothing queued */
  CHECK_EQ(herd_chan_send(a, "{\"$v8\":\"Nope\"}", 14, -1), -EINVAL);
  CHECK_EQ(herd_chan_send(a, "{\"a\":1,\"a\":2}", 13, -1), -EINVAL);
  CHECK_EQ(herd_chan_send(a, "{", 1, -1), -EINVAL);
  CHECK_EQ(herd_chan_queued(a), 0);
  herd_chan_close(a);
  expect_code(b, HERD_EPEERGONE);
  herd_chan_close(b);
}

/* The bytes on the wire: Node's frame (a big-endian length, then what
 * Node 20 writes: tests/v8ser_test.c holds herd_v8_encode to that). */
TEST(chanv8_frames_on_the_wire_as_node_writes_them) {
  herd_chan_opts_t o = ADV;
  herd_chan_t *a;
  int raw;
  pair(&a, NULL, &raw, &o);
  CHECK_OK(herd_chan_send(a, "{\"hello\":\"world\",\"n\":1}", 23, -1));
  CHECK_EQ(herd_chan_flush(a), 0);
  /* strace of Node's fork(..., {serialization: 'advanced'}) */
  static const uint8_t hello[] = {
      0x00, 0x00, 0x00, 0x18, 0xff, 0x0f, 0x6f, 0x22, 0x05, 0x68, 0x65,
      0x6c, 0x6c, 0x6f, 0x22, 0x05, 0x77, 0x6f, 0x72, 0x6c, 0x64, 0x22,
      0x01, 0x6e, 0x49, 0x02, 0x7b, 0x02};
  uint8_t got[64];
  raw_read(raw, got, sizeof hello);
  CHECK(memcmp(got, hello, sizeof hello) == 0);

  /* A handle: {cmd:'NODE_HANDLE', type, msg} with the fd on its sendmsg,
   * as Node's child.send('srv', netServer). */
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(l >= 0);
  CHECK(listen(l, 1) == 0); /* on a port of the kernel's choice */
  herd_val_t *srv = herd_val_str("srv");
  CHECK_EQ(herd_chan_send_val(a, srv, l), 0);
  herd_val_free(srv);
  CHECK_EQ(herd_chan_flush(a), 0);
  static const char handle[] =
      "\x00\x00\x00\x33\xff\x0f\x6f\x22\x03" "cmd" "\x22\x0b" "NODE_HANDLE"
      "\x22\x04" "type" "\x22\x0a" "net.Server" "\x22\x03" "msg" "\x22\x03"
      "srv" "\x7b\x03";
  char buf[64];
  struct iovec iov = {.iov_base = buf, .iov_len = sizeof handle - 1};
  union {
    char b[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b,
                      .msg_controllen = sizeof u.b};
  ssize_t n = recvmsg(raw, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL);
  CHECK_EQ(n, (ssize_t)sizeof handle - 1);
  CHECK(memcmp(buf, handle, sizeof handle - 1) == 0);
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  CHECK(c && c->cmsg_type == SCM_RIGHTS);
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  close(fd);
  /* What waits behind the handle goes once the ACK (Node's bytes) came. */
  CHECK_OK(herd_chan_send(a, "2", 1, -1));
  CHECK_EQ(herd_chan_flush(a), 8); /* waits for the ACK */
  static const char ack[] = "\x00\x00\x00\x1b\xff\x0f\x6f\x22\x03" "cmd"
                            "\x22\x0f" "NODE_HANDLE_ACK" "\x7b\x01";
  raw_write(raw, ack, sizeof ack - 1);
  CHECK_EQ(herd_chan_flush_wait(a, 10000), 0);
  static const uint8_t two[] = {0, 0, 0, 4, 0xff, 0x0f, 0x49, 0x04};
  raw_read(raw, got, sizeof two);
  CHECK(memcmp(got, two, sizeof two) == 0);
  close(l);
  close(raw);
  herd_chan_close(a);
}

/* Handles C to C: the fd arrives with its value and type, our ACK goes
 * back; a handle frame without an fd is NACKed and not delivered. */
TEST(chanv8_fd_passing_both_ways_ack_and_nack) {
  herd_chan_opts_t o = ADV;
  herd_chan_t *a, *b;
  pair(&a, &b, NULL, &o);
  for (int dir = 0; dir < 2; dir++) {
    herd_chan_t *s = dir ? b : a, *r = dir ? a : b;
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    herd_val_t *v = from_json("{\"op\":\"pipe\",\"when\":{\"$v8\":\"Date\","
                              "\"ms\":0},\"tags\":{\"$v8\":\"Set\","
                              "\"values\":[\"a\"]}}");
    CHECK_EQ(herd_chan_send_val(s, v, p[1]), 0);
    close(p[1]);
    CHECK_OK(herd_chan_send(s, "\"after\"", 7, -1));
    CHECK_EQ(herd_chan_flush(s), 13); /* "after" waits for the ACK */
    herd_chan_msg_t m;
    recv_one(r, &m);
    CHECK(m.fd >= 0);
    CHECK(fcntl(m.fd, F_GETFD) & FD_CLOEXEC);
    CHECK_STR(m.handle_type, "net.Socket"); /* Node's name for a pipe */
    CHECK_EQ(herd_val_equal(m.val, v), 1);
    CHECK_EQ(write(m.fd, "x", 1), 1);
    close(m.fd);
    char c;
    CHECK_EQ(read(p[0], &c, 1), 1);
    close(p[0]);
    herd_val_free(v);
    CHECK_EQ(herd_chan_flush(r), 0); /* our ACK */
    CHECK_EQ(herd_chan_flush_wait(s, 10000), 0);
    recv_one(r, &m);
    CHECK_STR(m.json, "\"after\"");
  }
  herd_chan_close(a);
  herd_chan_close(b);

  int raw;
  pair(&a, NULL, &raw, &o);
  /* {cmd:'NODE_HANDLE', type:'net.Socket', msg:1} and no fd */
  static const char h[] = "\xff\x0f\x6f\x22\x03" "cmd" "\x22\x0b"
                          "NODE_HANDLE" "\x22\x04" "type" "\x22\x0a"
                          "net.Socket" "\x22\x03" "msg" "\x49\x02\x7b\x03";
  raw_frame(raw, h, sizeof h - 1);
  raw_frame(raw, "\xff\x0f\x49\x04", 4);
  herd_chan_msg_t m;
  recv_one(a, &m);
  CHECK_STR(m.json, "2");
  CHECK_EQ(herd_chan_flush(a), 0);
  static const char nack[] = "\x00\x00\x00\x1c\xff\x0f\x6f\x22\x03" "cmd"
                             "\x22\x10" "NODE_HANDLE_NACK" "\x7b\x01";
  char got[sizeof nack];
  raw_read(raw, got, sizeof nack - 1);
  CHECK(memcmp(got, nack, sizeof nack - 1) == 0);
  close(raw);
  herd_chan_close(a);
}

/* A broken peer: each bad frame is HERD_EFRAME and the next one still
 * arrives; a frame cut by the end is HERD_ETRUNC, then HERD_EPEERGONE. */
TEST(chanv8_malformed_frames_skipped_next_arrives) {
  herd_chan_opts_t o = ADV;
  herd_chan_t *a;
  int raw;
  pair(&a, NULL, &raw, &o);
  static const char one[] = "\xff\x0f\x49\x02";
  /* nested 600 deep: past the codec's 512 */
  char deep[1300];
  size_t n = 0;
  deep[n++] = (char)0xff;
  deep[n++] = 0x0f;
  for (int i = 0; i < 600; i++) {
    deep[n++] = 'A';
    deep[n++] = 1;
  }
  deep[n++] = '_';
  struct {
    const char *p;
    size_t n;
  } bad[] = {
      {"", 0},                          /* length 0 */
      {"\xff\x0f\x4d", 3},              /* a legacy tag */
      {"\xff\x0f\x74\x00", 4},          /* a transferred buffer */
      {"\xff\x10\x49\x02", 4},          /* version 16 */
      {"\x49\x02", 2},                  /* no header */
      {"\xff\x0f\x22\x09" "ab", 6},     /* a string past the frame */
      {"\xff\x0f\x6f\x22\x01" "a" "\x49\x02" "\x7b\x02", 10}, /* count */
      {"\xff\x0f\x5e\x05", 4},          /* a reference to nothing */
      {deep, n},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    raw_frame(raw, bad[i].p, bad[i].n);
    raw_frame(raw, one, 4);
  }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    herd_chan_msg_t m;
    int r = herd_chan_recv_wait(a, &m, 10000);
    CHECK_MSG(r == HERD_EFRAME, "bad frame %zu: %d (%s)", i, r,
              herd_strerror(r));
    recv_one(a, &m);
    CHECK_STR(m.json, "1");
  }
  /* a frame cut short by the end */
  raw_write(raw, "\x00\x00\x00\x09\xff\x0f", 6);
  close(raw);
  expect_code(a, HERD_ETRUNC);
  expect_code(a, HERD_EPEERGONE);
  CHECK_EQ(herd_chan_connected(a), 0);
  herd_chan_close(a);
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

/* A frame longer than max_message: HERD_ETOOLONG from its length alone
 * (nothing waits for, or keeps, its bytes), dropped as it streams in,
 * and the frame after it arrives. */
TEST(chanv8_too_long_frame_refused_memory_bounded) {
  herd_chan_opts_t o = {.flags = HERD_CHAN_ADVANCED, .max_message = 65536};
  herd_chan_t *a;
  int raw;
  pair(&a, NULL, &raw, &o);
  /* the length alone says it: 4 GiB, of which nothing came */
  raw_write(raw, "\xff\xff\xff\xf0", 4);
  expect_code(a, HERD_ETOOLONG);
  close(raw);
  expect_code(a, HERD_EPEERGONE); /* not cut short: it was refused */
  herd_chan_close(a);

  pair(&a, NULL, &raw, &o);
  long rss0 = vmrss_kb();
  raw_write(raw, "\x00\x01\x00\x01", 4); /* one byte too long */
  expect_code(a, HERD_ETOOLONG);
  char *chunk = malloc(1 << 20);
  CHECK(chunk);
  memset(chunk, 'x', 1 << 20);
  raw_write(raw, chunk, 65537);
  raw_write(raw, "\x04\x00\x00\x00", 4); /* 64 MiB */
  expect_code(a, HERD_ETOOLONG);
  /* its bytes, dropped as they come */
  size_t total = 64u << 20, sent = 0;
  while (sent < total) {
    size_t k = total - sent < (1u << 20) ? total - sent : (1u << 20);
    ssize_t w = send(raw, chunk, k, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0)
      sent += (size_t)w;
    herd_chan_msg_t m;
    int r = herd_chan_recv(a, &m);
    CHECK_MSG(r == 0, "recv while dropping: %d (%s)", r, herd_strerror(r));
    if (w < 0) {
      CHECK(errno == EAGAIN);
      struct pollfd pf = {.fd = herd_chan_fd(a), .events = POLLIN};
      CHECK(poll(&pf, 1, 10000) == 1);
    }
  }
  free(chunk);
  raw_frame(raw, "\xff\x0f\x49\x06", 4);
  herd_chan_msg_t m;
  recv_one(a, &m);
  CHECK_STR(m.json, "3");
  CHECK_MSG(vmrss_kb() - rss0 < 16 * 1024, "RSS grew by %ld KiB",
            vmrss_kb() - rss0);
  close(raw);
  herd_chan_close(a);
}

/* herd_fork's HERD_FORK_ADVANCED: the child's environment says advanced,
 * and herd_chan_from_env opens the channel in that mode. */
TEST(chanv8_fork_and_from_env_choose_the_mode) {
  char *argv[] = {"sh", "-c",
                  "echo $NODE_CHANNEL_FD $NODE_CHANNEL_SERIALIZATION_MODE",
                  NULL};
  herd_spawn_opts_t so = {.flags = HERD_FORK_ADVANCED};
  so.stdio[1].kind = HERD_STDIO_PIPE;
  herd_child_t c;
  herd_chan_t *ch;
  CHECK_OK(herd_fork(&c, &ch, "/bin/sh", argv, &so));
  CHECK_EQ(herd_chan_mode(ch), HERD_CHAN_MODE_ADVANCED);
  char *out = test_read_all(c.stdio[1], NULL);
  CHECK_STR(out, "3 advanced\n");
  free(out);
  CHECK_OK(herd_child_wait(&c, 10000));
  herd_child_close(&c);
  herd_chan_close(ch);

  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  char b[16];
  snprintf(b, sizeof b, "%d", sv[0]);
  CHECK(setenv("NODE_CHANNEL_FD", b, 1) == 0);
  CHECK(setenv("NODE_CHANNEL_SERIALIZATION_MODE", "advanced", 1) == 0);
  herd_chan_opts_t plain = {.flags = HERD_CHAN_PLAIN};
  CHECK_OK(herd_chan_from_env(&ch, &plain)); /* the parent's choice wins */
  CHECK(!getenv("NODE_CHANNEL_SERIALIZATION_MODE"));
  CHECK_EQ(herd_chan_mode(ch), HERD_CHAN_MODE_ADVANCED);
  CHECK_OK(herd_chan_send(ch, "[1]", 3, -1));
  CHECK_EQ(herd_chan_flush(ch), 0);
  uint8_t got[13];
  raw_read(sv[1], got, sizeof got);
  CHECK(memcmp(got, "\x00\x00\x00\x09\xff\x0f\x41\x01\x49\x02\x24\x00\x01",
               13) == 0);
  herd_chan_close(ch);
  close(sv[1]);

  /* bad flags */
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  herd_chan_opts_t both = {.flags = HERD_CHAN_PLAIN | HERD_CHAN_ADVANCED};
  CHECK_EQ(herd_chan_open(&ch, sv[0], &both), -EINVAL);
  herd_chan_opts_t unknown = {.flags = 1u << 20};
  CHECK_EQ(herd_chan_open(&ch, sv[1], &unknown), -EINVAL);
  CHECK(fcntl(sv[0], F_GETFD) < 0 && fcntl(sv[1], F_GETFD) < 0); /* taken */
  CHECK_EQ(herd_chan_mode(NULL), -EINVAL);
}

/* connected: 1 until the peer is known gone; then sends say -EPIPE. */
TEST(chanv8_connected_until_peer_gone) {
  herd_chan_opts_t o = ADV;
  herd_chan_t *a, *b;
  pair(&a, &b, NULL, &o);
  CHECK_EQ(herd_chan_connected(a), 1);
  CHECK_EQ(herd_chan_connected(NULL), 0);
  CHECK_OK(herd_chan_send(b, "1", 1, -1));
  CHECK_EQ(herd_chan_flush(b), 0);
  herd_chan_close(b);
  herd_chan_msg_t m;
  recv_one(a, &m);
  expect_code(a, HERD_EPEERGONE);
  CHECK_EQ(herd_chan_connected(a), 0);
  herd_val_t *v = herd_val_null();
  CHECK_EQ(herd_chan_send_val(a, v, -1), -EPIPE);
  herd_val_free(v);
  herd_chan_close(a);
}

/* 'json' mode: herd_chan_send_val writes JSON.stringify's text. */
TEST(chanv8_json_mode_send_val_is_json_stringify) {
  herd_chan_t *a;
  int raw;
  pair(&a, NULL, &raw, NULL);
  CHECK_EQ(herd_chan_mode(a), HERD_CHAN_MODE_JSON);
  herd_val_t *v = from_json("{\"m\":{\"$v8\":\"Map\",\"entries\":[[1,2]]},"
                            "\"u\":{\"$v8\":\"undefined\"},\"n\":[1.5]}");
  CHECK_EQ(herd_chan_send_val(a, v, -1), 0);
  herd_val_free(v);
  v = herd_val_undefined();
  CHECK_EQ(herd_chan_send_val(a, v, -1), -EINVAL);
  herd_val_free(v);
  v = herd_val_bigint_i64(1);
  CHECK_EQ(herd_chan_send_val(a, v, -1), -EINVAL);
  herd_val_free(v);
  CHECK_EQ(herd_chan_flush(a), 0);
  char got[20] = {0};
  raw_read(raw, got, 19);
  CHECK_STR(got, "{\"m\":{},\"n\":[1.5]}\n");
  /* a json channel's message has no value */
  raw_write(raw, "[2]\n", 4);
  herd_chan_msg_t m;
  recv_one(a, &m);
  CHECK(m.val == NULL);
  close(raw);
  herd_chan_close(a);
}

/* The loop delivers advanced messages: values, a bad frame (the channel
 * goes on), then the end. */
struct loopseen {
  int n, frames, end;
  int64_t sum;
};

static void on_msg(herd_loop_t *l, herd_chan_t *ch, int err,
                   herd_chan_msg_t *m, void *data) {
  (void)ch;
  struct loopseen *s = data;
  if (err == HERD_EFRAME) {
    s->frames++;
    return;
  }
  if (err) {
    s->end = err;
    herd_loop_stop(l);
    return;
  }
  int64_t x = 0;
  herd_val_t *v = herd_val_obj_get(m->val, "x");
  CHECK(herd_val_int(v, 0, 100, &x) == 0);
  s->sum += x;
  s->n++;
}

TEST_T(chanv8_loop_delivers_values, 20) {
  herd_chan_opts_t o = ADV;
  herd_chan_t *a;
  int raw;
  pair(&a, NULL, &raw, &o);
  herd_loop_t *l;
  CHECK_OK(herd_loop_new(&l));
  struct loopseen s = {0};
  CHECK_OK(herd_loop_chan(l, a, on_msg, &s));
  static const char x1[] = "\xff\x0f\x6f\x22\x01x\x49\x02\x7b\x01";
  static const char x2[] = "\xff\x0f\x6f\x22\x01x\x49\x04\x7b\x01";
  raw_frame(raw, x1, sizeof x1 - 1);
  raw_frame(raw, "\xff\x0f\x4d", 3);
  raw_frame(raw, x2, sizeof x2 - 1);
  close(raw);
  CHECK_OK(herd_loop_run(l));
  CHECK_EQ(s.n, 2);
  CHECK_EQ(s.sum, 3);
  CHECK_EQ(s.frames, 1);
  CHECK_EQ(s.end, HERD_EPEERGONE);
  herd_loop_free(l);
  herd_chan_close(a);
}

/* ---- against Node ------------------------------------------------ */

static char *cases_run(const char *mode, const char *a1, const char *a2) {
  const char *node = node_path();
  char script[PATH_MAX];
  node_script(script, sizeof script, "v8-cases.js");
  char *argv[] = {"node", "--expose-internals", script, (char *)mode,
                  (char *)a1, (char *)a2, NULL};
  herd_exec_opts_t o = HERD_EXEC_OPTS_INIT;
  o.max_buffer = 64u << 20;
  o.timeout_ms = 50000;
  herd_exec_result_t res;
  CHECK_OK(herd_exec_file(node, argv, &o, &res));
  CHECK_MSG(res.reason == HERD_EXEC_EXITED && res.exit_code == 0,
            "node v8-cases.js %s: reason %d, exit %d: %.600s%.600s", mode,
            res.reason, res.exit_code, res.err, res.out);
  char *out = res.out;
  res.out = NULL;
  herd_exec_result_free(&res);
  return out;
}

static uint8_t *unhex(const char *h, size_t *len) {
  size_t n = strlen(h) / 2;
  uint8_t *b = malloc(n ? n : 1);
  CHECK(b);
  for (size_t i = 0; i < n; i++)
    CHECK(sscanf(h + 2 * i, "%2hhx", &b[i]) == 1);
  *len = n;
  return b;
}

/* A C parent (herd_fork, HERD_FORK_ADVANCED) and a Node child: every
 * case of v8-cases.js, as Node's own channel writes it, goes to Node
 * (which checks it against the case) and comes back as Node makes it
 * (checked here against the same bytes read). */
TEST_T(chanv8_node_child_every_type_both_ways, 90) {
  char *gen = cases_run("gen", NULL, NULL);
  const char *node = node_path();
  char script[PATH_MAX];
  node_script(script, sizeof script, "v8-cases.js");
  char *argv[] = {"node", script, "child", NULL};
  herd_spawn_opts_t so = {.flags = HERD_FORK_ADVANCED};
  herd_child_t c;
  herd_chan_t *ch;
  CHECK_OK(herd_fork(&c, &ch, node, argv, &so));
  size_t ncases = 0;
  char *save;
  for (char *line = strtok_r(gen, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
    CHECK(t1 && t2);
    *t1 = '\0';
    size_t n;
    uint8_t *payload = unhex(t2 + 1, &n);
    herd_val_t *want;
    CHECK_OK(herd_v8_decode(payload, n, NULL, &want, NULL));
    free(payload);
    herd_val_t *w = herd_val_object();
    CHECK_OK(herd_val_obj_set(w, "name", herd_val_str(line)));
    CHECK_OK(herd_val_obj_set(w, "v", want));
    CHECK_EQ(herd_chan_send_val(ch, w, -1), 0);
    herd_chan_msg_t m;
    recv_one(ch, &m);
    herd_val_t *name = herd_val_obj_get(m.val, "name");
    herd_val_t *r = herd_val_obj_get(m.val, "r");
    CHECK_MSG(name && name->type == HERD_VAL_STRING &&
                  strcmp(name->str.s, line) == 0,
              "%s: answer %s", line, m.json);
    CHECK_MSG(r && r->type == HERD_VAL_NULL, "%s: Node says %s", line,
              m.json);
    CHECK_MSG(herd_val_equal(herd_val_obj_get(m.val, "v"), want) == 1,
              "%s: Node's value differs: %s", line, m.json);
    /* and the JSON rendering reads back as the value */
    herd_val_t *back;
    CHECK_OK(herd_v8_from_json(m.json, m.len, NULL, &back, NULL));
    CHECK_EQ(herd_val_equal(back, m.val), 1);
    herd_val_free(back);
    herd_val_free(w);
    ncases++;
  }
  free(gen);
  CHECK_MSG(ncases > 100, "%zu cases", ncases);
  CHECK_OK(herd_chan_send(ch, "{\"op\":\"end\"}", 12, -1));
  expect_code(ch, HERD_EPEERGONE);
  CHECK_OK(herd_child_wait(&c, 20000));
  CHECK_EQ(herd_child_status(&c), 0);
  herd_child_close(&c);
  herd_chan_close(ch);
}

/* examples/echo-child under a Node parent (spawn with an 'ipc' stdio):
 * every case comes back deep-equal, in both serializations. */
static void echo_child(const char *serialization, size_t min) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/examples/echo-child", prog_dir());
  CHECK_MSG(access(path, X_OK) == 0, "%s: %s (make examples)", path,
            strerror(errno));
  char *out = cases_run("echo", path, serialization);
  CHECK_MSG(!strstr(out, "FAIL"), "%s: %.2000s", serialization, out);
  size_t n = 0;
  const char *p = strstr(out, "checked ");
  CHECK_MSG(p && sscanf(p, "checked %zu", &n) == 1 && n >= min,
            "%s: %s", serialization, out);
  free(out);
}

TEST_T(chanv8_echo_child_example_node_parent_advanced, 60) {
  echo_child("advanced", 200);
}

TEST_T(chanv8_echo_child_example_node_parent_json, 60) {
  echo_child("json", 100);
}
