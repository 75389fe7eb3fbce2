/*
 * bench/channel.c - how fast herd's message channel moves messages, next
 * to a raw socketpair (no library) and, through bench/channel.js, Node.
 *
 *   channel CASE [-t MS | -n COUNT]
 *   channel list
 *   channel child MODE       the child side, on the channel named by
 *                            NODE_CHANNEL_FD (started by Node or herd_fork)
 *
 * Runs CASE for MS milliseconds (default 1000, after a short untimed
 * warm-up on the same child) or exactly COUNT round trips / messages /
 * forks (no warm-up: for strace/perf), then prints one line:
 *
 *   CASE VALUE COUNT SECONDS
 *
 * VALUE is round trips/s (*_pingpong), messages/s (*_oneway), MB/s of
 * line bytes, 1 MB = 10^6 bytes (*_bulk), or the median microseconds from
 * fork to the first message over COUNT forks (*_first).
 *
 * Cases (the child is started once per run, outside the timing, except
 * for the *_first cases, which time exactly that):
 *   raw_pingpong        fork() + socketpair, {"i":N} lines, blocking
 *                       write/read on both sides: the floor
 *   raw_pingpong_poll   the same on non-blocking sockets, poll(POLLIN)
 *                       before each read, as any event loop waits (no
 *                       library): what the wait itself costs
 *   herd_pingpong       herd_fork_fn child echoing; both sides
 *                       herd_chan_send + herd_chan_flush +
 *                       herd_chan_recv_wait
 *   herd_pingpong_poll  the same with a hand-written poll loop on both
 *                       sides: poll(POLLIN), then herd_chan_recv (safe
 *                       here only because one message is in flight)
 *   herd_node_pingpong  herd_fork of `node bench/channel.js child echo`
 *   raw_oneway          {"i":N,"s":"hi"} lines written in 64 KiB batches,
 *                       the reader (a fork) counts newlines to EOF and
 *                       answers the count: the floor
 *   herd_oneway         the same lines, herd_chan_send one by one (flush
 *                       and poll on backpressure) to a herd_fork_fn child
 *                       that counts them with herd_chan_recv_wait until
 *                       {"end":N}, then answers {"count":N}
 *   herd_node_oneway    the same to `node bench/channel.js child sink`
 *   raw_bulk / herd_bulk / herd_node_bulk
 *                       as *_oneway with a 64 KiB JSON string per message
 *   raw_fork_first      socketpair + fork(), the child write()s one line:
 *                       the floor for herd_fork_fn
 *   herd_fork_fn_first  herd_fork_fn, the child sends one message at once
 *   raw_spawn_first     posix_spawn of this program (`child rawhello`)
 *                       with the socket at fd 3; it write()s one line: the
 *                       floor for herd_fork
 *   herd_fork_first     herd_fork of this program (`child hello`), which
 *                       opens herd_chan_from_env and sends one message
 *
 * Child modes: echo, echo_poll, sink, hello, rawhello.
 *
 * Environment: HERD_BENCH_NODE (node binary, default "node"),
 * HERD_BENCH_JS (default "bench/channel.js"), HERD_BENCH_MOVE_TO=CPU:
 * once the child is started (it inherits our CPU affinity), move this
 * process to CPU - so that `HERD_BENCH_MOVE_TO=0 taskset -c 1 channel
 * CASE` runs the parent on CPU 0 and the child on CPU 1.
 *
 * Everything is checked (echoed bytes, counts, exit statuses): a failure
 * stops the run with exit status 1, so a broken case never shows a rate.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "herd.h"

#define BULK_PAYLOAD 65536            /* bytes inside the JSON string */
#define BULK_LINE (BULK_PAYLOAD + 3)  /* quotes and '\n' */
#define BATCH 65536                   /* raw writes and reads */
#define WAIT_MS 60000                 /* a peer silent this long is a failure */

extern char **environ;

static char self_exe[PATH_MAX];

static void die(const char *what, int err) {
  fprintf(stderr, "channel: %s: %s\n", what,
          err < 0 ? herd_strerror(err) : strerror(err));
  exit(1);
}

static void fail(const char *msg) {
  fprintf(stderr, "channel: %s\n", msg);
  exit(1);
}

static double now_s(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
    die("clock_gettime", errno);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the lines ---------------------------------------------------- */

static size_t put_u64(char *p, unsigned long v) {
  char t[24];
  size_t n = 0;
  do
    t[n++] = (char)('0' + v % 10);
  while ((v /= 10) != 0);
  for (size_t i = 0; i < n; i++)
    p[i] = t[n - 1 - i];
  return n;
}

/* {"i":N} */
static size_t fmt_ping(char *p, unsigned long i) {
  memcpy(p, "{\"i\":", 5);
  size_t n = 5 + put_u64(p + 5, i);
  p[n++] = '}';
  return n;
}

/* {"i":N,"s":"hi"} - about 20 bytes */
static size_t fmt_small(char *p, unsigned long i) {
  memcpy(p, "{\"i\":", 5);
  size_t n = 5 + put_u64(p + 5, i);
  memcpy(p + n, ",\"s\":\"hi\"}", 10);
  return n + 10;
}

/* "xxxx...x": a 64 KiB JSON string */
static char *bulk_text(void) {
  char *b = malloc(BULK_LINE);
  if (!b)
    die("malloc", ENOMEM);
  b[0] = '"';
  memset(b + 1, 'x', BULK_PAYLOAD);
  b[BULK_PAYLOAD + 1] = '"';
  b[BULK_PAYLOAD + 2] = '\n';
  return b;
}

/* ---- the driver's clock ------------------------------------------- */

/* Run until count reaches n (n > 0) or time passes deadline; the clock is
 * read every `every` calls (cheap, but not free next to a 50 ns send). */
typedef struct run {
  long n;
  double deadline;
  unsigned every;
} run_t;

static int more(const run_t *r, long done) {
  if (r->n > 0)
    return done < r->n;
  if (r->every > 1 && done % r->every != 0)
    return 1;
  return now_s() < r->deadline;
}

/* ---- blocking raw I/O --------------------------------------------- */

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      die("write", errno);
    p += w;
    n -= (size_t)w;
  }
}

/* Read one line (the peer sends one at a time) into buf; returns its
 * length without '\n', or -1 at EOF. With use_poll (a non-blocking fd),
 * poll(POLLIN) before each read, as an event loop does. */
static ssize_t read_line_p(int fd, char *buf, size_t cap, int use_poll) {
  size_t len = 0;
  for (;;) {
    if (use_poll) {
      struct pollfd p = {.fd = fd, .events = POLLIN};
      if (poll(&p, 1, -1) < 0 && errno != EINTR)
        die("poll", errno);
    }
    ssize_t r = read(fd, buf + len, cap - len);
    if (r < 0 && (errno == EINTR || (use_poll && errno == EAGAIN)))
      continue;
    if (r < 0)
      die("read", errno);
    if (r == 0)
      return -1;
    len += (size_t)r;
    if (buf[len - 1] == '\n')
      return (ssize_t)len - 1;
    if (len == cap)
      fail("read_line: line too long");
  }
}

static ssize_t read_line(int fd, char *buf, size_t cap) {
  return read_line_p(fd, buf, cap, 0);
}

static void set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
    die("fcntl", errno);
}

static pid_t raw_fork(int (*fn)(int fd), int *parent_fd) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    die("socketpair", errno);
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    die("fork", errno);
  if (pid == 0) {
    close(sv[0]);
    _exit(fn(sv[1]));
  }
  close(sv[1]);
  *parent_fd = sv[0];
  return pid;
}

static void reap(pid_t pid) {
  int status;
  pid_t r;
  do
    r = waitpid(pid, &status, 0);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    die("waitpid", errno);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "channel: child failed (wait status 0x%x)\n", status);
    exit(1);
  }
}

static void herd_reap(herd_child_t *c) {
  int r = herd_child_wait(c, WAIT_MS);
  if (r < 0)
    die("herd_child_wait", r);
  if (herd_child_status(c) != 0) {
    fprintf(stderr, "channel: child failed (status %d)\n",
            herd_child_status(c));
    exit(1);
  }
  herd_child_close(c);
}

/* poll one fd; a silent peer (WAIT_MS) is a failure. */
static void poll_or_die(struct pollfd *p, const char *what) {
  int r = poll(p, 1, WAIT_MS);
  if (r < 0 && errno != EINTR)
    die("poll", errno);
  if (r == 0)
    fail(what);
}

/* ---- the children's side (herd) ----------------------------------- */

static void send_or_die(herd_chan_t *ch, const char *json, size_t len) {
  int r = herd_chan_send(ch, json, len, -1);
  if (r < 0)
    die("herd_chan_send", r);
}

/* Echo every message back, as it came, until the parent disconnects. */
static int serve_echo(herd_chan_t *ch) {
  herd_chan_msg_t m;
  for (;;) {
    int r = herd_chan_recv_wait(ch, &m, -1);
    if (r == HERD_EPEERGONE)
      return 0;
    if (r < 0)
      die("child: herd_chan_recv_wait", r);
    send_or_die(ch, m.json, m.len);
    ssize_t q = herd_chan_flush(ch);
    if (q < 0)
      die("child: herd_chan_flush", (int)q);
  }
}

/* The same with a hand-written poll loop: poll(POLLIN) first, then
 * herd_chan_recv. Only right because the peer has one message in flight
 * (a poll with a complete line already buffered would wait forever);
 * what an application's own event loop would do. (Older libherd's
 * recv_wait tried a recvmsg before polling, one that found the socket
 * empty; this row showed what that cost.) */
static int serve_echo_poll(herd_chan_t *ch) {
  herd_chan_msg_t m;
  struct pollfd p = {.fd = herd_chan_fd(ch), .events = POLLIN};
  for (;;) {
    if (poll(&p, 1, -1) < 0 && errno != EINTR)
      die("child: poll", errno);
    int r = herd_chan_recv(ch, &m);
    if (r == 0)
      continue;
    if (r == HERD_EPEERGONE)
      return 0;
    if (r < 0)
      die("child: herd_chan_recv", r);
    send_or_die(ch, m.json, m.len);
    ssize_t q = herd_chan_flush(ch);
    if (q < 0)
      die("child: herd_chan_flush", (int)q);
    if (q > 0)
      fail("child: a small answer did not fit the socket");
  }
}

/* Count messages until {"end":N}, answer {"count":COUNT}, go on; until
 * the parent disconnects. */
static int serve_sink(herd_chan_t *ch) {
  herd_chan_msg_t m;
  unsigned long count = 0;
  for (;;) {
    int r = herd_chan_recv_wait(ch, &m, -1);
    if (r == HERD_EPEERGONE)
      return 0;
    if (r < 0)
      die("child: herd_chan_recv_wait", r);
    if (m.len > 3 && m.json[0] == '{' && m.json[2] == 'e') {
      char line[40];
      size_t n = 0;
      memcpy(line, "{\"count\":", 9);
      n = 9 + put_u64(line + 9, count);
      line[n++] = '}';
      send_or_die(ch, line, n);
      r = herd_chan_flush_wait(ch, WAIT_MS);
      if (r < 0)
        die("child: herd_chan_flush_wait", r);
      count = 0;
    } else {
      count++;
    }
  }
}

static int serve_hello(herd_chan_t *ch) {
  send_or_die(ch, "{\"hello\":1}", 11);
  int r = herd_chan_flush_wait(ch, WAIT_MS);
  if (r < 0)
    die("child: herd_chan_flush_wait", r);
  return 0;
}

static int fn_echo(herd_chan_t *ch, void *arg) { (void)arg; return serve_echo(ch); }
static int fn_echo_poll(herd_chan_t *ch, void *arg) { (void)arg; return serve_echo_poll(ch); }
static int fn_sink(herd_chan_t *ch, void *arg) { (void)arg; return serve_sink(ch); }
static int fn_hello(herd_chan_t *ch, void *arg) { (void)arg; return serve_hello(ch); }

static int child_main(const char *mode) {
  if (strcmp(mode, "rawhello") == 0) {
    /* No library: fd 3 is the socket. */
    static const char line[] = "{\"hello\":1}\n";
    write_all(3, line, sizeof line - 1);
    return 0;
  }
  herd_chan_t *ch;
  int r = herd_chan_from_env(&ch, NULL);
  if (r < 0)
    die("child: herd_chan_from_env", r);
  if (strcmp(mode, "echo") == 0)
    r = serve_echo(ch);
  else if (strcmp(mode, "echo_poll") == 0)
    r = serve_echo_poll(ch);
  else if (strcmp(mode, "sink") == 0)
    r = serve_sink(ch);
  else if (strcmp(mode, "hello") == 0)
    r = serve_hello(ch);
  else
    fail("child: unknown mode");
  herd_chan_close(ch);
  return r;
}

/* ---- the parent's side: a peer ------------------------------------- */

enum peer_kind { PEER_FN, PEER_NODE };

typedef struct peer {
  herd_child_t child;
  herd_chan_t *ch;
} peer_t;

static const char *node_bin(void) {
  const char *s = getenv("HERD_BENCH_NODE");
  return s && *s ? s : "node";
}

static const char *node_js(void) {
  const char *s = getenv("HERD_BENCH_JS");
  return s && *s ? s : "bench/channel.js";
}

static void peer_start(peer_t *p, int kind, int (*fn)(herd_chan_t *, void *),
                       const char *node_mode) {
  int r;
  if (kind == PEER_FN) {
    r = herd_fork_fn(&p->child, &p->ch, fn, NULL);
    if (r < 0)
      die("herd_fork_fn", r);
  } else {
    char *argv[] = {(char *)node_bin(), (char *)node_js(), "child",
                    (char *)node_mode, NULL};
    r = herd_fork(&p->child, &p->ch, argv[0], argv, NULL);
    if (r < 0)
      die("herd_fork node", r);
  }
}

/* Disconnect (the child's cue to exit) and reap. */
static void peer_stop(peer_t *p) {
  herd_chan_close(p->ch);
  p->ch = NULL;
  herd_reap(&p->child);
}

static void recv_or_die(herd_chan_t *ch, herd_chan_msg_t *m) {
  int r = herd_chan_recv_wait(ch, m, WAIT_MS);
  if (r < 0)
    die("herd_chan_recv_wait", r);
}

/* HERD_BENCH_MOVE_TO: after the child has started, move to that CPU. */
static void move_after_start(void) {
  const char *s = getenv("HERD_BENCH_MOVE_TO");
  if (!s || !*s)
    return;
  char *end;
  long cpu = strtol(s, &end, 10);
  if (*end != '\0' || cpu < 0 || cpu >= CPU_SETSIZE)
    fail("HERD_BENCH_MOVE_TO: not a CPU number");
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET((int)cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0)
    die("sched_setaffinity", errno);
}

/* ---- ping-pong ----------------------------------------------------- */

static long herd_pingpong(herd_chan_t *ch, const run_t *r, int use_poll) {
  char buf[32];
  herd_chan_msg_t m;
  struct pollfd p = {.fd = herd_chan_fd(ch), .events = POLLIN};
  long i = 0;
  while (more(r, i)) {
    size_t len = fmt_ping(buf, (unsigned long)i);
    send_or_die(ch, buf, len);
    ssize_t q = herd_chan_flush(ch);
    if (q < 0)
      die("herd_chan_flush", (int)q);
    if (use_poll) {
      /* Poll first (the answer cannot be buffered yet), then recv. */
      int k;
      if (q > 0)
        fail("a small message did not fit the socket");
      do
        poll_or_die(&p, "poll: no answer");
      while ((k = herd_chan_recv(ch, &m)) == 0);
      if (k < 0)
        die("herd_chan_recv", k);
    } else {
      recv_or_die(ch, &m);
    }
    if (m.len != len || memcmp(m.json, buf, len) != 0)
      fail("ping-pong: wrong answer");
    i++;
  }
  return i;
}

static int raw_echo_child(int fd) {
  char buf[256];
  ssize_t n;
  while ((n = read_line(fd, buf, sizeof buf)) >= 0)
    write_all(fd, buf, (size_t)n + 1);
  return 0;
}

/* The same on a non-blocking socket: poll, then read (a small write to a
 * socket with room never returns EAGAIN). */
static int raw_echo_poll_child(int fd) {
  char buf[256];
  ssize_t n;
  set_nonblock(fd);
  while ((n = read_line_p(fd, buf, sizeof buf, 1)) >= 0)
    write_all(fd, buf, (size_t)n + 1);
  return 0;
}

static long raw_pingpong(int fd, const run_t *r, int use_poll) {
  char buf[32], in[256];
  long i = 0;
  while (more(r, i)) {
    size_t len = fmt_ping(buf, (unsigned long)i);
    buf[len] = '\n';
    write_all(fd, buf, len + 1);
    ssize_t n = read_line_p(fd, in, sizeof in, use_poll);
    if (n != (ssize_t)len || memcmp(in, buf, len) != 0)
      fail("raw ping-pong: wrong answer");
    i++;
  }
  return i;
}

/* ---- one-way ------------------------------------------------------- */

/* Wait until the queue is below the high-water mark again. */
static void drain_some(herd_chan_t *ch) {
  struct pollfd p = {.fd = herd_chan_fd(ch), .events = POLLOUT};
  for (;;) {
    ssize_t q = herd_chan_flush(ch);
    if (q < 0)
      die("herd_chan_flush", (int)q);
    if ((size_t)q <= HERD_CHAN_HIGH_WATER)
      return;
    poll_or_die(&p, "poll: the receiver stopped reading");
  }
}

/* Send until done, then {"end":N}; the count comes back. Returns the
 * messages sent (and received). bulk: the 64 KiB string, else small lines. */
static long herd_oneway(herd_chan_t *ch, const run_t *r, const char *bulk) {
  char buf[64];
  long i = 0;
  while (more(r, i)) {
    const char *json = buf;
    size_t len;
    if (bulk) {
      json = bulk;
      len = BULK_LINE - 1;
    } else {
      len = fmt_small(buf, (unsigned long)i);
    }
    int k = herd_chan_send(ch, json, len, -1);
    if (k < 0)
      die("herd_chan_send", k);
    i++;
    if (k == 1)
      drain_some(ch);
  }
  char end[40];
  size_t n = 7;
  memcpy(end, "{\"end\":", 7);
  n += put_u64(end + n, (unsigned long)i);
  end[n++] = '}';
  send_or_die(ch, end, n);
  int k = herd_chan_flush_wait(ch, WAIT_MS);
  if (k < 0)
    die("herd_chan_flush_wait", k);
  herd_chan_msg_t m;
  recv_or_die(ch, &m);
  char want[40];
  n = 9;
  memcpy(want, "{\"count\":", 9);
  n += put_u64(want + n, (unsigned long)i);
  want[n++] = '}';
  if (m.len != n || memcmp(m.json, want, n) != 0) {
    fprintf(stderr, "channel: sent %ld, the receiver says %.*s\n", i,
            (int)m.len, m.json);
    exit(1);
  }
  return i;
}

/* The raw reader: count newlines until EOF, answer the count. */
static int raw_count_child(int fd) {
  char *buf = malloc(BATCH);
  unsigned long lines = 0;
  if (!buf)
    return 1;
  for (;;) {
    ssize_t n = read(fd, buf, BATCH);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      die("raw reader: read", errno);
    if (n == 0)
      break;
    for (char *p = buf, *e = buf + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
      lines++;
  }
  char line[40];
  size_t k = put_u64(line, lines);
  line[k++] = '\n';
  write_all(fd, line, k);
  free(buf);
  return 0;
}

/* One raw phase: a new reader, lines in 64 KiB writes until done, EOF,
 * the count back. Returns the lines sent; *secs the time. */
static long raw_oneway(const run_t *r, const char *bulk, double *secs) {
  int fd;
  pid_t pid = raw_fork(raw_count_child, &fd);
  char *buf = malloc(BATCH + 64);
  long i = 0;
  if (!buf)
    die("malloc", ENOMEM);
  double t0 = now_s();
  if (bulk) {
    /* The stream is the same 65539-byte line over and over, written in
     * 64 KiB slices; stop at a line's end. */
    size_t pos = 0; /* offset in the current line */
    while (pos != 0 || more(r, i)) {
      size_t take = BULK_LINE - pos < BATCH ? BULK_LINE - pos : BATCH;
      write_all(fd, bulk + pos, take);
      pos += take;
      if (pos == BULK_LINE) {
        pos = 0;
        i++;
      }
    }
  } else {
    size_t len = 0;
    while (more(r, i)) {
      len += fmt_small(buf + len, (unsigned long)i);
      buf[len++] = '\n';
      i++;
      if (len > BATCH - 32) {
        write_all(fd, buf, len);
        len = 0;
      }
    }
    write_all(fd, buf, len);
  }
  if (shutdown(fd, SHUT_WR) != 0)
    die("shutdown", errno);
  char in[64];
  ssize_t n = read_line(fd, in, sizeof in);
  *secs = now_s() - t0;
  in[n < 0 ? 0 : n] = '\0';
  if (n < 0 || strtol(in, NULL, 10) != i) {
    fprintf(stderr, "channel: raw: sent %ld lines, the reader says %s\n", i, in);
    exit(1);
  }
  close(fd);
  reap(pid);
  free(buf);
  return i;
}

/* ---- fork to first message ----------------------------------------- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int raw_hello_child(int fd) {
  static const char line[] = "{\"hello\":1}\n";
  write_all(fd, line, sizeof line - 1);
  return 0;
}

/* One fork; returns the seconds from before the fork to the message. */
static double first_once(const char *kind) {
  char in[64];
  double t0 = now_s(), t1;
  if (strcmp(kind, "raw_fork_first") == 0) {
    int fd;
    pid_t pid = raw_fork(raw_hello_child, &fd);
    if (read_line(fd, in, sizeof in) != 11)
      fail("raw_fork_first: no line");
    t1 = now_s();
    close(fd);
    reap(pid);
  } else if (strcmp(kind, "raw_spawn_first") == 0) {
    int sv[2], e;
    pid_t pid;
    posix_spawn_file_actions_t fa;
    char *argv[] = {"channel", "child", "rawhello", NULL};
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      die("socketpair", errno);
    if ((e = posix_spawn_file_actions_init(&fa)) != 0 ||
        (e = posix_spawn_file_actions_adddup2(&fa, sv[1], 3)) != 0)
      die("posix_spawn_file_actions", e);
    e = posix_spawn(&pid, self_exe, &fa, NULL, argv, environ);
    if (e != 0)
      die("posix_spawn", e);
    posix_spawn_file_actions_destroy(&fa);
    close(sv[1]);
    if (read_line(sv[0], in, sizeof in) != 11)
      fail("raw_spawn_first: no line");
    t1 = now_s();
    close(sv[0]);
    reap(pid);
  } else {
    peer_t p;
    herd_chan_msg_t m;
    int r;
    if (strcmp(kind, "herd_fork_fn_first") == 0) {
      r = herd_fork_fn(&p.child, &p.ch, fn_hello, NULL);
      if (r < 0)
        die("herd_fork_fn", r);
    } else {
      char *argv[] = {"channel", "child", "hello", NULL};
      r = herd_fork(&p.child, &p.ch, self_exe, argv, NULL);
      if (r < 0)
        die("herd_fork", r);
    }
    recv_or_die(p.ch, &m);
    t1 = now_s();
    if (m.len != 11 || memcmp(m.json, "{\"hello\":1}", 11) != 0)
      fail("first message: wrong message");
    peer_stop(&p);
  }
  return t1 - t0;
}

/* Forks one after the other; returns how many, *median_us. */
static long first_runs(const char *kind, const run_t *r, double *median_us) {
  size_t cap = 1024, n = 0;
  double *lat = malloc(cap * sizeof *lat);
  if (!lat)
    die("malloc", ENOMEM);
  while (more(r, (long)n)) {
    if (n == cap) {
      cap *= 2;
      double *nl = realloc(lat, cap * sizeof *lat);
      if (!nl)
        die("realloc", ENOMEM);
      lat = nl;
    }
    lat[n++] = first_once(kind);
  }
  qsort(lat, n, sizeof *lat, cmp_double);
  *median_us = n == 0 ? 0 : 1e6 * (n % 2 ? lat[n / 2] : (lat[n / 2 - 1] + lat[n / 2]) / 2);
  free(lat);
  return (long)n;
}

/* ---- cases ----------------------------------------------------------- */

enum kind { K_PINGPONG, K_ONEWAY, K_BULK, K_FIRST };

typedef struct bench_case {
  const char *name;
  int kind;
  int impl; /* 0 raw, 1 herd_fork_fn, 2 herd_fork_fn + poll, 3 herd_fork
               node, 4 raw + poll */
} bench_case_t;

/* Each herd case sits next to its floor: run.sh runs them in its own
 * order, this is the order of `channel list`. */
static const bench_case_t cases[] = {
  {"raw_pingpong", K_PINGPONG, 0},
  {"raw_pingpong_poll", K_PINGPONG, 4},
  {"herd_pingpong", K_PINGPONG, 1},
  {"herd_pingpong_poll", K_PINGPONG, 2},
  {"herd_node_pingpong", K_PINGPONG, 3},
  {"raw_oneway", K_ONEWAY, 0},
  {"herd_oneway", K_ONEWAY, 1},
  {"herd_node_oneway", K_ONEWAY, 3},
  {"raw_bulk", K_BULK, 0},
  {"herd_bulk", K_BULK, 1},
  {"herd_node_bulk", K_BULK, 3},
  {"raw_fork_first", K_FIRST, 0},
  {"herd_fork_fn_first", K_FIRST, 1},
  {"raw_spawn_first", K_FIRST, 0},
  {"herd_fork_first", K_FIRST, 1},
};

static void usage(void) {
  fprintf(stderr, "usage: channel CASE [-t MS | -n COUNT]\n"
                  "       channel list\n"
                  "       channel child echo|echo_poll|sink|hello|rawhello\n");
  exit(2);
}

static long parse_pos(const char *s) {
  char *end;
  long v;
  errno = 0;
  v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v <= 0)
    usage();
  return v;
}

/* The timed part of a pingpong/oneway/bulk case on an open peer. */
static long phase(const bench_case_t *bc, peer_t *p, int raw_fd,
                  const run_t *r, const char *bulk) {
  if (bc->kind == K_PINGPONG)
    return bc->impl == 0 || bc->impl == 4
               ? raw_pingpong(raw_fd, r, bc->impl == 4)
               : herd_pingpong(p->ch, r, bc->impl == 2);
  return herd_oneway(p->ch, r, bulk);
}

int main(int argc, char **argv) {
  const bench_case_t *bc = NULL;
  long ms = 1000, n = 0, done;
  double t0, secs, value;
  run_t r;

  if (argc < 2)
    usage();
  if (strcmp(argv[1], "child") == 0) {
    if (argc != 3)
      usage();
    return child_main(argv[2]);
  }
  if (strcmp(argv[1], "list") == 0) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
      printf("%s\n", cases[i].name);
    return 0;
  }
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    if (strcmp(argv[1], cases[i].name) == 0)
      bc = &cases[i];
  if (bc == NULL)
    usage();
  if (argc == 4 && strcmp(argv[2], "-t") == 0)
    ms = parse_pos(argv[3]);
  else if (argc == 4 && strcmp(argv[2], "-n") == 0)
    n = parse_pos(argv[3]);
  else if (argc != 2)
    usage();

  ssize_t k = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
  if (k < 0)
    die("readlink /proc/self/exe", errno);
  self_exe[k] = '\0';
  /* A dead child must show as an error, never kill us. */
  signal(SIGPIPE, SIG_IGN);

  double warm = (ms / 10 < 100 ? (double)ms / 10 : 100) / 1e3;
  unsigned every = bc->kind == K_PINGPONG || bc->kind == K_FIRST ? 1 : 256;

  if (bc->kind == K_FIRST) {
    if (n == 0) {
      r = (run_t){.n = 0, .deadline = now_s() + warm, .every = 1};
      (void)first_runs(bc->name, &r, &value);
    }
    r = (run_t){.n = n, .every = 1};
    t0 = now_s();
    r.deadline = t0 + (double)ms / 1e3;
    done = first_runs(bc->name, &r, &value);
    secs = now_s() - t0;
    printf("%s %.1f %ld %.3f\n", bc->name, value, done, secs);
    return 0;
  }

  char *bulk = bc->kind == K_BULK ? bulk_text() : NULL;
  if (bc->impl == 0 && bc->kind != K_PINGPONG) {
    /* raw one-way: a fresh reader per phase (EOF ends it). */
    if (n == 0) {
      r = (run_t){.n = 0, .deadline = now_s() + warm, .every = every};
      (void)raw_oneway(&r, bulk, &secs);
    }
    r = (run_t){.n = n, .deadline = now_s() + (double)ms / 1e3, .every = every};
    done = raw_oneway(&r, bulk, &secs);
  } else {
    peer_t p = {.ch = NULL};
    int raw_fd = -1;
    pid_t raw_pid = -1;
    if (bc->impl == 0) {
      raw_pid = raw_fork(raw_echo_child, &raw_fd);
    } else if (bc->impl == 4) {
      raw_pid = raw_fork(raw_echo_poll_child, &raw_fd);
      set_nonblock(raw_fd);
    } else {
      int (*fn)(herd_chan_t *, void *) =
          bc->kind != K_PINGPONG ? fn_sink : bc->impl == 2 ? fn_echo_poll : fn_echo;
      const char *mode = bc->kind == K_PINGPONG ? "echo" : "sink";
      peer_start(&p, bc->impl == 3 ? PEER_NODE : PEER_FN, fn, mode);
    }
    move_after_start();
    if (n == 0) {
      r = (run_t){.n = 0, .deadline = now_s() + warm, .every = every};
      (void)phase(bc, &p, raw_fd, &r, bulk);
    }
    r = (run_t){.n = n, .every = every};
    t0 = now_s();
    r.deadline = t0 + (double)ms / 1e3;
    done = phase(bc, &p, raw_fd, &r, bulk);
    secs = now_s() - t0;
    if (bc->impl == 0 || bc->impl == 4) {
      close(raw_fd);
      reap(raw_pid);
    } else {
      peer_stop(&p);
    }
  }
  value = (double)done / secs;
  if (bc->kind == K_BULK)
    value = value * BULK_LINE / 1e6;
  printf("%s %.1f %ld %.3f\n", bc->name, value, done, secs);
  free(bulk);
  return 0;
}
