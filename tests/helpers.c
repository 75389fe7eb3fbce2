/*
 * helpers.c - the roles of the test binary as a helper child:
 *   herd-test --helper ROLE ARGS...
 * Each prints what a test needs to see from inside a child process.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

/* Open fds, ascending, space-separated, to fd out. */
static int listfds(int out) {
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return 1;
  int self = dirfd(d);
  char buf[4096];
  size_t len = 0;
  int fds[1024], n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < 1024) {
    if (e->d_name[0] == '.')
      continue;
    int fd = atoi(e->d_name);
    if (fd != self)
      fds[n++] = fd;
  }
  closedir(d);
  for (int i = 0; i < n; i++) /* insertion sort: n is small */
    for (int j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
      int t = fds[j];
      fds[j] = fds[j - 1];
      fds[j - 1] = t;
    }
  for (int i = 0; i < n && len < sizeof buf - 16; i++)
    len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%d", i ? " " : "",
                            fds[i]);
  buf[len++] = '\n';
  return write(out, buf, len) == (ssize_t)len ? 0 : 1;
}

static int print_status_lines(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    return 1;
  char line[256];
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "SigIgn:", 7) || !strncmp(line, "SigBlk:", 7))
      fputs(line, stdout);
  fclose(f);
  return 0;
}

static int flood(size_t total) {
  static char out[65536], err[65536];
  for (size_t i = 0; i < sizeof out; i++) {
    out[i] = (char)('a' + i % 26);
    err[i] = (char)('A' + i % 26);
  }
  size_t done_o = 0, done_e = 0;
  while (done_o < total || done_e < total) {
    if (done_o < total) {
      size_t n = total - done_o < sizeof out ? total - done_o : sizeof out;
      size_t off = done_o % 26;
      /* continue the pattern where it stopped */
      ssize_t w = write(1, out + off, n > sizeof out - off ? sizeof out - off : n);
      if (w <= 0)
        return 1;
      done_o += (size_t)w;
    }
    if (done_e < total) {
      size_t n = total - done_e < sizeof err ? total - done_e : sizeof err;
      size_t off = done_e % 26;
      ssize_t w = write(2, err + off, n > sizeof err - off ? sizeof err - off : n);
      if (w <= 0)
        return 1;
      done_e += (size_t)w;
    }
  }
  return 0;
}

static void wait_stdin_eof(void) {
  char b[256];
  while (read(0, b, sizeof b) > 0)
    ;
}

/* chan-echo: a C child on a channel from the environment (started by a
 * Node parent with stdio [0, 1, 2, 'ipc'], or by herd_fork). Answers each
 * message M with {"echo":M}, one that carries a handle with
 * {"gotfd":"TYPE","echo":M} (the fd is closed); exits 0 once the peer is
 * gone. */
static int chan_echo(void) {
  herd_chan_t *ch;
  int r = herd_chan_from_env(&ch, NULL);
  if (r < 0) {
    fprintf(stderr, "chan-echo: herd_chan_from_env: %s\n", herd_strerror(r));
    return 1;
  }
  if (getenv("NODE_CHANNEL_FD") || getenv("NODE_CHANNEL_SERIALIZATION_MODE")) {
    fprintf(stderr, "chan-echo: channel variables left in the environment\n");
    herd_chan_close(ch);
    return 1;
  }
  char *buf = NULL;
  size_t cap = 0;
  int rc = 0;
  for (;;) {
    /* Do not read faster than the peer takes our answers. */
    if (herd_chan_queued(ch) > HERD_CHAN_HIGH_WATER &&
        (r = herd_chan_flush_wait(ch, -1)) < 0 && r != -EPIPE)
      break;
    herd_chan_msg_t m;
    r = herd_chan_recv_wait(ch, &m, -1);
    if (r != 1)
      break;
    if (cap < m.len + 64) {
      free(buf);
      cap = m.len + 64;
      if (!(buf = malloc(cap))) {
        r = -ENOMEM;
        break;
      }
    }
    int n = m.fd >= 0 ? snprintf(buf, cap, "{\"gotfd\":\"%s\",\"echo\":",
                                 m.handle_type)
                      : snprintf(buf, cap, "{\"echo\":");
    memcpy(buf + n, m.json, m.len);
    buf[(size_t)n + m.len] = '}';
    if (m.fd >= 0)
      close(m.fd);
    r = herd_chan_send(ch, buf, (size_t)n + m.len + 1, -1);
    if (r < 0 && r != -EPIPE)
      break;
  }
  if (r != HERD_EPEERGONE) {
    fprintf(stderr, "chan-echo: %s\n", herd_strerror(r));
    rc = 1;
  }
  free(buf);
  herd_chan_close(ch);
  return rc;
}

/* ---- roles for the herd start tests (herd_start_test.c) ---------- */

static void idle_forever(void) {
  for (;;)
    pause();
}

static int write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* lines N BYTES [TICK_MS [PER_TICK]]: N numbered lines "line SEQ pid PID
 * xxx..." of BYTES bytes each (newline included) on stdout, in big
 * writes (or PER_TICK lines, default 1, a tick), then idle until stopped
 * (so a restart does not print them again). */
static int numbered_lines(long n, long bytes, long tick_ms, long per_tick) {
  static char buf[1 << 16];
  if (bytes < 40 || bytes > 4096 || per_tick < 1)
    return 2;
  size_t len = 0;
  long batch = 0;
  for (long i = 0; i < n; i++) {
    int k = snprintf(buf + len, sizeof buf - len, "line %08ld pid %d ", i, (int)getpid());
    memset(buf + len + k, 'x', (size_t)(bytes - 1 - k));
    buf[len + (size_t)bytes - 1] = '\n';
    len += (size_t)bytes;
    batch++;
    if ((tick_ms > 0 && batch == per_tick) || sizeof buf - len < (size_t)bytes + 64 ||
        i == n - 1) {
      if (write_all(1, buf, len) < 0)
        return 1;
      len = 0;
      if (tick_ms > 0 && batch == per_tick)
        usleep((useconds_t)tick_ms * 1000u);
      if (batch == per_tick)
        batch = 0;
    }
  }
  idle_forever();
  return 0;
}

/* grow STEP_KB EVERY_MS MAX_MB: allocate and touch STEP_KB every EVERY_MS
 * up to MAX_MB, then idle until stopped. */
static int grow(long step_kb, long every_ms, long max_mb) {
  (void)herd_notify("READY=1");
  long total = 0;
  while (total < max_mb * 1024) {
    char *p = malloc((size_t)step_kb * 1024u);
    if (!p)
      return 1;
    memset(p, 0x5a, (size_t)step_kb * 1024u); /* touched: resident */
    total += step_kb;
    usleep((useconds_t)every_ms * 1000u);
  }
  idle_forever();
  return 0;
}

/* serve [FLOOD_BYTES]: an HTTP/1.1 server on fd 3 (LISTEN_FDS) that
 * answers each request with "PID SLOT\n" (Connection: close) and writes
 * one line per request to stdout, as servers log; says READY=1. With
 * FLOOD_BYTES, slot 0 serves nothing: it writes FLOOD_BYTES of 100-byte
 * lines to stdout as fast as it can, then "flood done", then idles. */
static int serve(long long flood_bytes) {
  const char *ids = getenv("HERD_WORKER_ID");
  int slot = ids ? atoi(ids) : -1;
  char line[256];
  int n = snprintf(line, sizeof line, "serve: worker %d pid %d up\n", slot, (int)getpid());
  if (write_all(1, line, (size_t)n) < 0)
    return 1;
  (void)herd_notify("READY=1");
  if (flood_bytes > 0 && slot == 0) {
    static char buf[1 << 16];
    long long done = 0, seq = 0;
    while (done < flood_bytes) {
      size_t len = 0;
      while (len + 100 <= sizeof buf && done + (long long)len < flood_bytes) {
        int k = snprintf(buf + len, 40, "flood %012lld ", seq++);
        memset(buf + len + k, 'f', (size_t)(99 - k));
        buf[len + 99] = '\n';
        len += 100;
      }
      if (write_all(1, buf, len) < 0)
        return 1;
      done += (long long)len;
    }
    n = snprintf(line, sizeof line, "flood done %lld lines\n", seq);
    if (write_all(1, line, (size_t)n) < 0)
      return 1;
    idle_forever();
  }
  for (long req = 0;; req++) {
    struct pollfd p = {.fd = 3, .events = POLLIN};
    if (poll(&p, 1, -1) < 0) {
      if (errno == EINTR)
        continue;
      return 1;
    }
    int c = accept(3, NULL, NULL);
    if (c < 0) {
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
        continue;
      return 1;
    }
    char rq[4096];
    size_t got = 0;
    while (got < sizeof rq - 1) {
      ssize_t r = read(c, rq + got, sizeof rq - 1 - got);
      if (r <= 0)
        break;
      got += (size_t)r;
      rq[got] = '\0';
      if (strstr(rq, "\r\n\r\n"))
        break;
    }
    rq[got] = '\0';
    char *sp = strchr(rq, ' '), *sp2 = sp ? strchr(sp + 1, ' ') : NULL;
    n = snprintf(line, sizeof line, "serve: worker %d request %ld %.*s\n", slot, req,
                 sp && sp2 ? (int)(sp2 - sp - 1) : 1, sp && sp2 ? sp + 1 : "?");
    if (write_all(1, line, (size_t)n) < 0)
      return 1;
    char body[64], resp[256];
    int bl = snprintf(body, sizeof body, "%d %d\n", (int)getpid(), slot);
    int rl = snprintf(resp, sizeof resp,
                      "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
                      bl, body);
    (void)send(c, resp, (size_t)rl, MSG_NOSIGNAL);
    close(c);
  }
}

/* v8-echo: a child of Node's fork(..., {serialization: 'advanced'}):
 * each frame on NODE_CHANNEL_FD (a 4-byte big-endian length, then V8's
 * format) is read into a tree, rendered as JSON, read back from that,
 * and written back as a frame - so Node sees every step's result. Exits
 * 0 at EOF, 1 (saying why) on anything wrong. */
static int read_full(int fd, uint8_t *b, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, b, n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return r == 0 ? 0 : -1;
    b += r;
    n -= (size_t)r;
  }
  return 1;
}

static int v8_echo(void) {
  const char *env = getenv("NODE_CHANNEL_FD");
  int fd = env ? atoi(env) : -1;
  for (;;) {
    uint8_t hdr[4];
    int r = read_full(fd, hdr, 4);
    if (r <= 0)
      return r < 0;
    size_t n = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
    uint8_t *p = malloc(n ? n : 1), *out = NULL;
    herd_val_t *v = NULL, *w = NULL;
    char *json = NULL;
    size_t len, olen;
    int rc = p && read_full(fd, p, n) == 1 ? 0 : -EIO;
    if (rc == 0)
      rc = herd_v8_decode(p, n, NULL, &v, NULL);
    if (rc == 0)
      rc = herd_v8_to_json(v, NULL, &json, &len);
    if (rc == 0)
      rc = herd_v8_from_json(json, len, NULL, &w, NULL);
    if (rc == 0 && herd_val_equal(v, w) != 1)
      rc = -EPROTO;
    if (rc == 0)
      rc = herd_v8_encode_alloc(w, NULL, HERD_V8_FRAME_HEADER, &out, &olen);
    if (rc == 0) {
      size_t pl = olen - HERD_V8_FRAME_HEADER;
      out[0] = (uint8_t)(pl >> 24);
      out[1] = (uint8_t)(pl >> 16);
      out[2] = (uint8_t)(pl >> 8);
      out[3] = (uint8_t)pl;
      if (write(fd, out, olen) != (ssize_t)olen)
        rc = -EIO;
    }
    if (rc < 0)
      fprintf(stderr, "v8-echo: %s (%s)\n", herd_strerror(rc), json ? json : "");
    free(out);
    free(json);
    herd_val_free(w);
    herd_val_free(v);
    free(p);
    if (rc < 0)
      return 1;
  }
}

int test_helper_main(int argc, char **argv) {
  /* argv[0] as the child sees it, argv[1] "--helper", argv[2] the role */
  if (argc < 3) {
    fprintf(stderr, "usage: herd-test --helper ROLE [ARGS]\n");
    return 2;
  }
  const char *role = argv[2];
  char **a = argv + 3;
  int na = argc - 3;
  if (!strcmp(role, "listfds"))
    return listfds(na ? atoi(a[0]) : 1);
  if (!strcmp(role, "chroot")) /* emptyroot_test.c */
    return emptyroot_helper(na, a);
  if (!strcmp(role, "exit"))
    return na ? atoi(a[0]) : 0;
  if (!strcmp(role, "killself")) {
    raise(na ? atoi(a[0]) : SIGTERM);
    return 99;
  }
  if (!strcmp(role, "cat")) {
    char b[65536];
    ssize_t n;
    while ((n = read(0, b, sizeof b)) > 0)
      if (write(1, b, (size_t)n) != n)
        return 1;
    return n < 0;
  }
  if (!strcmp(role, "sigstate"))
    return print_status_lines();
  if (!strcmp(role, "cwd")) {
    char b[4096];
    if (!getcwd(b, sizeof b))
      return 1;
    printf("%s\n", b);
    return 0;
  }
  if (!strcmp(role, "env")) {
    for (int i = 0; i < na; i++) {
      const char *v = getenv(a[i]);
      printf("%s=%s\n", a[i], v ? v : "(unset)");
    }
    return 0;
  }
  if (!strcmp(role, "ids")) {
    printf("uid=%d gid=%d pid=%d pgid=%d sid=%d ppid=%d\n", (int)getuid(),
           (int)getgid(), (int)getpid(), (int)getpgid(0), (int)getsid(0),
           (int)getppid());
    return 0;
  }
  if (!strcmp(role, "ids-env")) {
    int count = 0;
    extern char **environ;
    for (char **e = environ; *e; e++)
      count += strncmp(*e, "LISTEN_PID=", 11) == 0;
    const char *v = getenv("LISTEN_PID");
    printf("pid=%d LISTEN_PID=%s count=%d\n", (int)getpid(), v ? v : "(unset)",
           count);
    return 0;
  }
  if (!strcmp(role, "retire-now")) {
    /* a worker that asks to be replaced as soon as it starts */
    return herd_retire() == 1 ? 3 : 1;
  }
  if (!strcmp(role, "listfds-wait")) {
    /* list our fds on stdout, then wait to be stopped (SIGTERM) */
    if (listfds(1) != 0)
      return 1;
    pause();
    return 0;
  }
  if (!strcmp(role, "argv0")) {
    printf("%s\n", argv[0]);
    return 0;
  }
  if (!strcmp(role, "writefds")) {
    for (int i = 0; i + 1 < na; i += 2) {
      int fd = atoi(a[i]);
      size_t len = strlen(a[i + 1]);
      if (write(fd, a[i + 1], len) != (ssize_t)len)
        return 1;
    }
    return 0;
  }
  if (!strcmp(role, "flood"))
    return flood(na ? (size_t)strtoull(a[0], NULL, 10) : 1024);
  if (!strcmp(role, "title")) {
    int r = herd_title_init(argc, argv);
    if (r == 0)
      r = herd_title_set(na ? a[0] : "herd-test: titled");
    if (r < 0) {
      fprintf(stderr, "title: %s\n", herd_strerror(r));
      return 1;
    }
    printf("ready\n");
    fflush(stdout);
    wait_stdin_eof();
    return 0;
  }
  if (!strcmp(role, "ignore-term")) {
    signal(SIGTERM, SIG_IGN);
    printf("ready\n");
    fflush(stdout);
    wait_stdin_eof();
    return 0;
  }
  if (!strcmp(role, "sleep")) {
    usleep((useconds_t)(na ? atoi(a[0]) : 1000) * 1000u);
    return 0;
  }
  if (!strcmp(role, "burn")) {
    /* Use MS ms of CPU time, say "done", then idle until stdin closes,
     * so the parent can read the CPU time of a live process. */
    long ms = na ? atol(a[0]) : 300;
    struct timespec ts;
    volatile unsigned long spin = 0;
    for (;;) {
      if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) < 0)
        return 1;
      if ((long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 >= ms)
        break;
      /* Mostly user time: the clock read itself is a system call. */
      for (int i = 0; i < 200000; i++)
        spin++;
    }
    printf("done\n");
    fflush(stdout);
    wait_stdin_eof();
    return 0;
  }
  if (!strcmp(role, "title-long")) {
    /* title-long LEN VAR: set a title of LEN 'x's (not from argv, so it
     * can exceed the room), then show that VAR still reads right although
     * the title overwrote the original environment strings. */
    size_t len = na ? (size_t)strtoul(a[0], NULL, 10) : 10000;
    char name[256]; /* the argv strings are the title's room: copy */
    snprintf(name, sizeof name, "%s", na > 1 ? a[1] : "");
    char *title = malloc(len + 1);
    if (!title)
      return 1;
    memset(title, 'x', len);
    title[len] = '\0';
    int r = herd_title_init(argc, argv);
    if (r == 0)
      r = herd_title_set(title);
    free(title);
    if (r < 0) {
      fprintf(stderr, "title: %s\n", herd_strerror(r));
      return 1;
    }
    const char *v = name[0] ? getenv(name) : NULL;
    printf("ready %s\n", v ? v : "(unset)");
    fflush(stdout);
    wait_stdin_eof();
    return 0;
  }
  if (!strcmp(role, "chan-echo"))
    return chan_echo();
  if (!strcmp(role, "lines"))
    return numbered_lines(na > 0 ? atol(a[0]) : 100, na > 1 ? atol(a[1]) : 100,
                          na > 2 ? atol(a[2]) : 0, na > 3 ? atol(a[3]) : 1);
  if (!strcmp(role, "grow"))
    return grow(na > 0 ? atol(a[0]) : 1024, na > 1 ? atol(a[1]) : 20,
                na > 2 ? atol(a[2]) : 100);
  if (!strcmp(role, "serve"))
    return serve(na > 0 ? atoll(a[0]) : 0);
  if (!strcmp(role, "v8-echo"))
    return v8_echo();
  fprintf(stderr, "herd-test: unknown helper role %s\n", role);
  return 2;
}
