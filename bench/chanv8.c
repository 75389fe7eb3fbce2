/*
 * bench/chanv8.c - herd's channel in Node's 'advanced' serialization
 * (V8 values in length-prefixed frames), C to C, next to Node to Node
 * (bench/channel.js node_v8_*) and to the 'json' rows of bench/channel.c.
 *
 *   chanv8 CASE [-t MS | -n COUNT]
 *   chanv8 list
 *   chanv8 child echo|sink|echo_text|sink_text
 *                            the child side, on the channel named by
 *                            NODE_CHANNEL_FD (herd_fork, or Node's spawn
 *                            with serialization 'advanced')
 *
 * Same contract as bench/channel.c: MS of timed work (default 1000) after
 * a short untimed warm-up on the same child, or exactly COUNT, then
 *
 *   CASE VALUE COUNT SECONDS
 *
 * VALUE: round trips/s (*_pingpong), messages/s (*_oneway), MB/s
 * (*_bulk: 65,539 bytes a message, the 64 KiB string's JSON line, as
 * bench/channel.c counts it, whatever the wire carries).
 *
 * Cases (the child: herd_fork of this program with HERD_FORK_ADVANCED):
 *   herd_v8_pingpong   {i: N} built as a tree (herd_val_object, ...) for
 *                      each message, herd_chan_send_val + flush +
 *                      herd_chan_recv_wait; the child sends msg.val back
 *                      (HERD_CHAN_NO_JSON: no JSON rendering on either
 *                      side)
 *   herd_v8_oneway     {i: N, s: 'hi'} trees sent one by one (flush and
 *                      poll on backpressure) to a child that counts them
 *                      until {end: N}, then answers {count: N}
 *   herd_v8_bulk       the same with a 64 KiB string per message
 *   herd_v8text_pingpong / herd_v8text_oneway
 *                      as above, but code written for 'json' mode:
 *                      herd_chan_send of JSON text and msg.json on both
 *                      sides (each message converted both ways)
 *
 * Environment: HERD_BENCH_MOVE_TO=CPU, as bench/channel.c: once the child
 * is started (it inherits our CPU affinity), move this process to CPU.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "herd.h"

#define BULK_PAYLOAD 65536
#define BULK_LINE (BULK_PAYLOAD + 3) /* the unit of bench/channel.c */
#define WAIT_MS 60000

static void die(const char *what, int err) {
  fprintf(stderr, "chanv8: %s: %s\n", what, herd_strerror(err));
  exit(1);
}

static void fail(const char *msg) {
  fprintf(stderr, "chanv8: %s\n", msg);
  exit(1);
}

static double now_s(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
    die("clock_gettime", -errno);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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

/* {key: n} plus, with s, {..., s: s} */
static herd_val_t *msg_val(const char *key, long n, const char *s) {
  herd_val_t *o = herd_val_object();
  if (herd_val_obj_set(o, key, herd_val_number((double)n)) < 0 ||
      (s && herd_val_obj_set(o, "s", herd_val_str(s)) < 0))
    fail("out of memory building a message");
  return o;
}

static long num_of(const herd_val_t *v, const char *key) {
  int64_t x;
  if (herd_val_int(herd_val_obj_get(v, key), 0, LONG_MAX, &x) < 0)
    return -1;
  return (long)x;
}

static void send_val(herd_chan_t *ch, const herd_val_t *v) {
  int r = herd_chan_send_val(ch, v, -1);
  if (r < 0)
    die("herd_chan_send_val", r);
}

static void flush(herd_chan_t *ch) {
  ssize_t q = herd_chan_flush(ch);
  if (q < 0)
    die("herd_chan_flush", (int)q);
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
    die("sched_setaffinity", -errno);
}

/* ---- the child --------------------------------------------------- */

static int child_main(const char *mode) {
  int text = strstr(mode, "_text") != NULL;
  int sink = strncmp(mode, "sink", 4) == 0;
  herd_chan_opts_t o = {.flags = text ? 0 : HERD_CHAN_NO_JSON};
  herd_chan_t *ch;
  int r = herd_chan_from_env(&ch, &o);
  if (r < 0)
    die("child: herd_chan_from_env", r);
  if (herd_chan_mode(ch) != HERD_CHAN_MODE_ADVANCED)
    fail("child: the channel is not in advanced mode");
  long count = 0;
  for (;;) {
    herd_chan_msg_t m;
    r = herd_chan_recv_wait(ch, &m, -1);
    if (r == HERD_EPEERGONE)
      break;
    if (r < 0)
      die("child: herd_chan_recv_wait", r);
    if (!sink) {
      r = text ? herd_chan_send(ch, m.json, m.len, -1)
               : herd_chan_send_val(ch, m.val, -1);
      if (r < 0)
        die("child: send", r);
      flush(ch);
    } else if (herd_val_obj_get(m.val, "end")) {
      herd_val_t *c = msg_val("count", count, NULL);
      send_val(ch, c);
      herd_val_free(c);
      if ((r = herd_chan_flush_wait(ch, WAIT_MS)) < 0)
        die("child: herd_chan_flush_wait", r);
      count = 0;
    } else {
      count++;
    }
  }
  herd_chan_close(ch);
  return 0;
}

/* ---- the parent -------------------------------------------------- */

static long pingpong(herd_chan_t *ch, const run_t *r, int text) {
  herd_chan_msg_t m;
  long i = 0;
  char buf[48];
  while (more(r, i)) {
    if (text) {
      int n = snprintf(buf, sizeof buf, "{\"i\":%ld}", i);
      int k = herd_chan_send(ch, buf, (size_t)n, -1);
      if (k < 0)
        die("herd_chan_send", k);
    } else {
      herd_val_t *v = msg_val("i", i, NULL);
      send_val(ch, v);
      herd_val_free(v);
    }
    flush(ch);
    int k = herd_chan_recv_wait(ch, &m, WAIT_MS);
    if (k < 0)
      die("herd_chan_recv_wait", k);
    if (text ? strcmp(m.json, buf) != 0 : num_of(m.val, "i") != i)
      fail("ping-pong: the echo differs");
    i++;
  }
  return i;
}

static void drain_some(herd_chan_t *ch) {
  struct pollfd p = {.fd = herd_chan_fd(ch), .events = POLLOUT};
  for (;;) {
    ssize_t q = herd_chan_flush(ch);
    if (q < 0)
      die("herd_chan_flush", (int)q);
    if ((size_t)q <= HERD_CHAN_HIGH_WATER)
      return;
    if (poll(&p, 1, WAIT_MS) != 1)
      fail("poll: the receiver stopped reading");
  }
}

static long oneway(herd_chan_t *ch, const run_t *r, const char *bulk,
                   int text) {
  long i = 0;
  char buf[64];
  while (more(r, i)) {
    int k;
    if (text) {
      int n = snprintf(buf, sizeof buf, "{\"i\":%ld,\"s\":\"hi\"}", i);
      k = herd_chan_send(ch, buf, (size_t)n, -1);
    } else {
      herd_val_t *v = bulk ? herd_val_str(bulk) : msg_val("i", i, "hi");
      if (!v)
        fail("out of memory building a message");
      k = herd_chan_send_val(ch, v, -1);
      herd_val_free(v);
    }
    if (k < 0)
      die("send", k);
    i++;
    if (k == 1)
      drain_some(ch);
  }
  herd_val_t *end = msg_val("end", i, NULL);
  send_val(ch, end);
  herd_val_free(end);
  int k = herd_chan_flush_wait(ch, WAIT_MS);
  if (k < 0)
    die("herd_chan_flush_wait", k);
  herd_chan_msg_t m;
  if ((k = herd_chan_recv_wait(ch, &m, WAIT_MS)) < 0)
    die("herd_chan_recv_wait", k);
  if (num_of(m.val, "count") != i) {
    fprintf(stderr, "chanv8: sent %ld, the receiver says %ld\n", i,
            num_of(m.val, "count"));
    exit(1);
  }
  return i;
}

enum kind { K_PINGPONG, K_ONEWAY, K_BULK };

static const struct {
  const char *name;
  int kind, text;
} cases[] = {
    {"herd_v8_pingpong", K_PINGPONG, 0},
    {"herd_v8text_pingpong", K_PINGPONG, 1},
    {"herd_v8_oneway", K_ONEWAY, 0},
    {"herd_v8text_oneway", K_ONEWAY, 1},
    {"herd_v8_bulk", K_BULK, 0},
};
#define NCASES (sizeof cases / sizeof cases[0])

static void usage(void) {
  fprintf(stderr, "usage: chanv8 CASE [-t MS | -n COUNT]\n"
                  "       chanv8 list\n"
                  "       chanv8 child echo|sink|echo_text|sink_text\n");
  exit(2);
}

static long parse_pos(const char *s) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v <= 0)
    usage();
  return v;
}

static long phase(int kind, int text, herd_chan_t *ch, const run_t *r,
                  const char *bulk) {
  if (kind == K_PINGPONG)
    return pingpong(ch, r, text);
  return oneway(ch, r, bulk, text);
}

int main(int argc, char **argv) {
  if (argc < 2)
    usage();
  if (strcmp(argv[1], "child") == 0) {
    if (argc != 3)
      usage();
    return child_main(argv[2]);
  }
  if (strcmp(argv[1], "list") == 0) {
    for (size_t i = 0; i < NCASES; i++)
      printf("%s\n", cases[i].name);
    return 0;
  }
  size_t c = NCASES;
  for (size_t i = 0; i < NCASES; i++)
    if (strcmp(argv[1], cases[i].name) == 0)
      c = i;
  if (c == NCASES)
    usage();
  long ms = 1000, n = 0;
  if (argc == 4 && strcmp(argv[2], "-t") == 0)
    ms = parse_pos(argv[3]);
  else if (argc == 4 && strcmp(argv[2], "-n") == 0)
    n = parse_pos(argv[3]);
  else if (argc != 2)
    usage();
  signal(SIGPIPE, SIG_IGN);

  int kind = cases[c].kind, text = cases[c].text;
  char *bulk = NULL;
  if (kind == K_BULK) {
    if (!(bulk = malloc(BULK_PAYLOAD + 1)))
      fail("out of memory");
    memset(bulk, 'x', BULK_PAYLOAD);
    bulk[BULK_PAYLOAD] = '\0';
  }
  char self[PATH_MAX];
  ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
  if (k < 0)
    die("readlink /proc/self/exe", -errno);
  self[k] = '\0';
  char *cargv[] = {self, "child",
                   kind == K_PINGPONG ? (text ? "echo_text" : "echo")
                                      : (text ? "sink_text" : "sink"),
                   NULL};
  herd_spawn_opts_t so = {.flags = HERD_FORK_ADVANCED};
  herd_child_t child;
  herd_chan_t *ch;
  int r = herd_fork(&child, &ch, self, cargv, &so);
  if (r < 0)
    die("herd_fork", r);
  move_after_start();
  unsigned every = kind == K_PINGPONG ? 1 : 256;
  double warm = (ms / 10 < 100 ? (double)ms / 10 : 100) / 1e3;
  run_t run;
  if (n == 0) {
    run = (run_t){.n = 0, .deadline = now_s() + warm, .every = every};
    (void)phase(kind, text, ch, &run, bulk);
  }
  run = (run_t){.n = n, .every = every};
  double t0 = now_s();
  run.deadline = t0 + (double)ms / 1e3;
  long done = phase(kind, text, ch, &run, bulk);
  double secs = now_s() - t0;
  herd_chan_close(ch);
  if ((r = herd_child_wait(&child, WAIT_MS)) < 0)
    die("herd_child_wait", r);
  if (herd_child_status(&child) != 0)
    fail("the child failed");
  herd_child_close(&child);
  double value = (double)done / secs;
  if (kind == K_BULK)
    value = value * BULK_LINE / 1e6;
  printf("%s %.1f %ld %.3f\n", cases[c].name, value, done, secs);
  free(bulk);
  return 0;
}
