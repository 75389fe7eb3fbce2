/*
 * hello-http - a small, fast HTTP/1.1 keep-alive server, made to run as a
 * herd worker (or under systemd, or alone).
 *
 * What it shows:
 *  - taking its listening sockets from LISTEN_FDS (herd_listen_fds), else
 *    listening on 127.0.0.1:$PORT (default 3000);
 *  - one epoll loop; EPOLLEXCLUSIVE on a shared socket, so one accept
 *    wakes one worker instead of all of them (no thundering herd);
 *  - telling the supervisor it is ready (READY=1, herd_notify);
 *  - a graceful stop on SIGTERM: stop accepting, finish what is in
 *    flight, and drain keep-alive connections without a reset: the next
 *    response on a busy connection says "Connection: close" and the
 *    connection closes after it; idle ones close after a short grace.
 *    So a client such as wrk sees no error across `herd reload`.
 *
 *  - under `herd run --balance roundrobin`, taking its connections from
 *    the master over the channel (NODE_CHANNEL_FD) instead of accepting.
 *
 * Paths: / answers "Hello, World!"; /pid answers the worker's pid and
 * slot; /env?NAME answers the value of the environment variable NAME
 * (404 if it is unset); /slow?ms=N answers after N ms (for graceful-stop tests);
 * /log?n=N prints N lines (about 100 bytes each, at most 100000) to
 * stdout before it answers, to fill the supervisor's logs (bench/chaos.c):
 * the worker waits in write() while its stdout pipe is full, as any
 * program that logs does. Every response carries X-Worker: SLOT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "herd.h"

#define MAX_LISTEN 16
#define INBUF 8192
#define OUTBUF 16384
#define DRAIN_GRACE_MS 300
#define DRAIN_LIMIT_MS 30000

struct conn {
  int fd;
  size_t inlen;
  size_t outlen, outoff;
  int close_after;      /* close once the output is written */
  uint64_t slow_due;    /* a /slow response is due at this time */
  int slow_close;
  uint64_t last_request; /* when the last request arrived */
  struct conn *next;    /* list of slow ones */
  struct conn *prev_all, *next_all; /* every connection */
  char in[INBUF];
  char out[OUTBUF];
};

static int ep;
static int draining;
static int nconns;
static int worker_id = -1;
static char idhdr[64];
static struct conn *slow_list;
static struct conn *all_list;

static herd_chan_t *chan; /* roundrobin: connections come from here */

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void conn_close(struct conn *c) {
  if (c->prev_all)
    c->prev_all->next_all = c->next_all;
  else
    all_list = c->next_all;
  if (c->next_all)
    c->next_all->prev_all = c->prev_all;
  for (struct conn **pp = &slow_list; *pp; pp = &(*pp)->next)
    if (*pp == c) {
      *pp = c->next;
      break;
    }
  /* Out of the epoll set first: close() alone removes it only when no
   * other process holds the same file - and a connection handed over by
   * the master (roundrobin) may still be open there for a moment, which
   * would leave an event pointing at this freed conn. */
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c);
  nconns--;
}

static int flush_out(struct conn *c) {
  while (c->outoff < c->outlen) {
    ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
                     MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        return 0;
      }
      return -1;
    }
    c->outoff += (size_t)n;
  }
  c->outoff = c->outlen = 0;
  if (c->close_after) {
    /* Half-close first so the client reads everything, then close. */
    shutdown(c->fd, SHUT_WR);
    return -1;
  }
  return 0;
}

static void respond(struct conn *c, int status, const char *reason,
                    const char *body, int close_it) {
  size_t room = sizeof c->out - c->outlen;
  int n = snprintf(c->out + c->outlen, room,
                   "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
                   "Content-Length: %zu\r\n%s%s\r\n%s",
                   status, reason, strlen(body), idhdr,
                   close_it ? "Connection: close\r\n" : "", body);
  if (n > 0 && (size_t)n < room)
    c->outlen += (size_t)n;
  if (close_it)
    c->close_after = 1;
}

/* Parse and answer every complete request in the buffer. Returns -1 to
 * close the connection. */
static int handle_requests(struct conn *c) {
  for (;;) {
    if (c->slow_due || c->close_after)
      return 0; /* one at a time behind a slow answer */
    char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
    if (!end) {
      if (c->inlen == sizeof c->in) {
        respond(c, 431, "Request Header Fields Too Large", "too large\n", 1);
        return 0;
      }
      return 0;
    }
    size_t reqlen = (size_t)(end - c->in) + 4;
    char method[8], path[1024], version[16];
    *end = '\0';
    if (sscanf(c->in, "%7s %1023s %15s", method, path, version) != 3 ||
        strncmp(version, "HTTP/1.", 7) != 0) {
      respond(c, 400, "Bad Request", "bad request\n", 1);
      c->inlen = 0;
      return 0;
    }
    /* HTTP/1.1 keeps the connection unless told; 1.0 closes unless told */
    int keep = strcmp(version, "HTTP/1.0") != 0;
    for (char *h = strstr(c->in, "\r\n"); h; h = strstr(h + 2, "\r\n")) {
      if (!strncasecmp(h + 2, "Connection:", 11)) {
        const char *v = h + 13;
        while (*v == ' ')
          v++;
        if (!strncasecmp(v, "close", 5))
          keep = 0;
        else if (!strncasecmp(v, "keep-alive", 10))
          keep = 1;
      }
    }
    int close_it = !keep || draining;
    c->last_request = now_ms();
    memmove(c->in, c->in + reqlen, c->inlen - reqlen);
    c->inlen -= reqlen;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
      respond(c, 405, "Method Not Allowed", "GET only\n", 1);
      return 0;
    }
    if (!strcmp(path, "/")) {
      respond(c, 200, "OK", "Hello, World!\n", close_it);
    } else if (!strcmp(path, "/pid")) {
      char body[64];
      snprintf(body, sizeof body, "%d %d\n", (int)getpid(), worker_id);
      respond(c, 200, "OK", body, close_it);
    } else if (!strncmp(path, "/log", 4) && (path[4] == '\0' || path[4] == '?')) {
      const char *q = strstr(path, "n=");
      long lines = q ? strtol(q + 2, NULL, 10) : 1;
      if (lines < 0 || lines > 100000)
        lines = 1;
      for (long i = 0; i < lines; i++)
        printf("hello-http[%d]: log line %ld of %ld, to fill the logs: "
               "the quick brown fox jumps over the lazy dog\n",
               worker_id, i + 1, lines);
      fflush(stdout);
      char body[64];
      snprintf(body, sizeof body, "logged %ld\n", lines);
      respond(c, 200, "OK", body, close_it);
    } else if (!strncmp(path, "/env?", 5)) {
      const char *v = getenv(path + 5);
      char body[512];
      snprintf(body, sizeof body, "%s\n", v ? v : "");
      respond(c, v ? 200 : 404, v ? "OK" : "Not Found", body, close_it);
    } else if (!strncmp(path, "/slow", 5)) {
      const char *q = strstr(path, "ms=");
      long ms = q ? strtol(q + 3, NULL, 10) : 1000;
      if (ms < 0 || ms > 60000)
        ms = 1000;
      c->slow_due = now_ms() + (uint64_t)ms;
      c->slow_close = !keep;
      c->next = slow_list;
      slow_list = c;
      return 0;
    } else {
      respond(c, 404, "Not Found", "not found\n", close_it);
    }
    if (c->outlen > sizeof c->out / 2)
      return 0; /* write before reading more pipelined requests */
  }
}

static void on_conn(struct conn *c, uint32_t events) {
  if (events & EPOLLIN) {
    for (;;) {
      if (c->inlen == sizeof c->in)
        break;
      ssize_t n = recv(c->fd, c->in + c->inlen, sizeof c->in - c->inlen, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        break;
      if (n <= 0) {
        conn_close(c);
        return;
      }
      c->inlen += (size_t)n;
      if ((size_t)n < sizeof c->in)
        break;
    }
    handle_requests(c);
  } else if (events & (EPOLLHUP | EPOLLERR)) {
    conn_close(c);
    return;
  }
  if (flush_out(c) < 0) {
    conn_close(c);
    return;
  }
  if (c->outlen == 0 && !(events & EPOLLIN) && (events & EPOLLOUT)) {
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
  }
}

static void add_conn(int fd);

/* One connection per wakeup, as nginx's default (multi_accept off): with
 * EPOLLEXCLUSIVE the next one wakes the next idle worker, so a burst of
 * new connections is spread instead of taken by whoever woke first. */
#define ACCEPTS_PER_WAKEUP 1

static void accept_all(int lfd) {
  for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
      return; /* EAGAIN: another worker took it, or nothing left */
    add_conn(fd);
  }
}

/* Connections the master handed over (roundrobin). Returns how many. */
static int take_handed(void) {
  int n = 0;
  for (;;) {
    herd_chan_msg_t m;
    int r = herd_chan_recv(chan, &m);
    if (r == 1) {
      if (m.fd >= 0) {
        fcntl(m.fd, F_SETFL, fcntl(m.fd, F_GETFL) | O_NONBLOCK);
        add_conn(m.fd);
        n++;
      }
      continue;
    }
    if (r == HERD_EFRAME || r == HERD_ETOOLONG)
      continue;
    break; /* 0: nothing more now; the end: the master is gone */
  }
  (void)herd_chan_flush(chan); /* our ACKs */
  return n;
}

static void add_conn(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct conn *c = malloc(sizeof *c);
  if (!c) {
    close(fd);
    return;
  }
  c->fd = fd;
  c->inlen = c->outlen = c->outoff = 0;
  c->close_after = 0;
  c->slow_due = 0;
  c->last_request = now_ms();
  c->next = NULL;
  c->prev_all = NULL;
  c->next_all = all_list;
  if (all_list)
    all_list->prev_all = c;
  all_list = c;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
    close(fd);
    free(c);
    return;
  }
  nconns++;
}

static void run_slow(void) {
  uint64_t now = now_ms();
  for (struct conn **pp = &slow_list; *pp;) {
    struct conn *c = *pp;
    if (c->slow_due > now) {
      pp = &c->next;
      continue;
    }
    *pp = c->next;
    c->slow_due = 0;
    respond(c, 200, "OK", "slow done\n", c->slow_close || draining);
    handle_requests(c);
    if (flush_out(c) < 0)
      conn_close(c);
  }
}

static int slow_timeout(void) {
  uint64_t now = now_ms(), best = 0;
  for (struct conn *c = slow_list; c; c = c->next)
    if (!best || c->slow_due < best)
      best = c->slow_due;
  if (!best)
    return -1;
  return best > now ? (int)(best - now) : 0;
}

static int listen_default(void) {
  const char *p = getenv("PORT");
  long port = p ? strtol(p, NULL, 10) : 3000;
  if (port < 0 || port > 65535) {
    fprintf(stderr, "hello-http: bad PORT '%s'\n", p);
    exit(1);
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, SOMAXCONN) < 0) {
    fprintf(stderr, "hello-http: 127.0.0.1:%ld: %s\n", port, strerror(errno));
    exit(1);
  }
  socklen_t len = sizeof sa;
  getsockname(fd, (struct sockaddr *)&sa, &len);
  printf("hello-http: listening on http://127.0.0.1:%d/\n", ntohs(sa.sin_port));
  fflush(stdout);
  return fd;
}

int main(void) {
  int lfds[MAX_LISTEN], nl = herd_listen_fds(1);
  if (nl < 0) {
    fprintf(stderr, "hello-http: LISTEN_FDS: %s\n", herd_strerror(nl));
    return 1;
  }
  if (nl > MAX_LISTEN)
    nl = MAX_LISTEN;
  for (int i = 0; i < nl; i++)
    lfds[i] = 3 + i;
  if (nl == 0) {
    /* No sockets: connections may come over a channel from the master
     * (herd run --balance roundrobin), else listen ourselves. */
    int r = herd_chan_from_env(&chan, NULL);
    if (r < 0 && r != -ENOENT) {
      fprintf(stderr, "hello-http: channel: %s\n", herd_strerror(r));
      return 1;
    }
    if (!chan) {
      lfds[0] = listen_default();
      nl = 1;
    }
  }
  worker_id = herd_worker_id();
  if (worker_id >= 0)
    snprintf(idhdr, sizeof idhdr, "X-Worker: %d\r\n", worker_id);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, NULL);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (sfd < 0 || ep < 0) {
    perror("hello-http: setup");
    return 1;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &sfd};
  epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
  for (int i = 0; i < nl; i++) {
    /* The accept socket must not block: other workers race for it. */
    fcntl(lfds[i], F_SETFL, fcntl(lfds[i], F_GETFL) | O_NONBLOCK);
    struct epoll_event lev = {.events = EPOLLIN | EPOLLEXCLUSIVE,
                              .data.ptr = &lfds[i]};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfds[i], &lev) < 0) {
      perror("hello-http: epoll_ctl");
      return 1;
    }
  }
  if (chan) {
    struct epoll_event cev = {.events = EPOLLIN, .data.ptr = &chan};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, herd_chan_fd(chan), &cev) < 0) {
      perror("hello-http: epoll_ctl");
      return 1;
    }
  }
  (void)herd_notify("READY=1");

  uint64_t drain_start = 0;
  struct epoll_event evs[128];
  for (;;) {
    int timeout = slow_timeout();
    if (draining) {
      uint64_t el = now_ms() - drain_start;
      /* Handed-over connections still in the channel are ours too. */
      if (nconns == 0 && chan && take_handed() > 0)
        continue;
      if (nconns == 0 || el > DRAIN_LIMIT_MS)
        break;
      int t = el < DRAIN_GRACE_MS ? (int)(DRAIN_GRACE_MS - el) : 100;
      if (timeout < 0 || t < timeout)
        timeout = t;
    }
    int n = epoll_wait(ep, evs, 128, timeout);
    if (n < 0 && errno != EINTR) {
      perror("hello-http: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      void *p = evs[i].data.ptr;
      if (p == &sfd) {
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof si) == sizeof si) {
          if (draining)
            continue;
          draining = 1;
          drain_start = now_ms();
          /* Stop accepting: the master (and other workers) keep the
           * socket, so new connections wait in its queue. */
          for (int k = 0; k < nl; k++) {
            epoll_ctl(ep, EPOLL_CTL_DEL, lfds[k], NULL);
            close(lfds[k]);
          }
          nl = 0;
        }
        continue;
      }
      if (p == &chan) {
        take_handed();
        continue;
      }
      if (p >= (void *)lfds && p < (void *)(lfds + MAX_LISTEN)) {
        /* A listening socket - unless the stop closed it earlier in this
         * same batch: then the event is stale, and its fd number may
         * already belong to a connection. */
        if (nl > 0)
          accept_all(*(int *)p);
        continue;
      }
      on_conn(p, evs[i].events);
    }
    run_slow();
    if (draining && now_ms() - drain_start >= DRAIN_GRACE_MS) {
      /* Idle keep-alive connections: no request during the whole grace
       * and nothing in flight: close them. A busy one is never closed
       * here: its next response says Connection: close, and it closes
       * after that (closing it between two of its requests would fail
       * the one already on the wire). */
      for (struct conn *c = all_list, *next; c; c = next) {
        next = c->next_all;
        if (c->inlen == 0 && c->outlen == 0 && !c->slow_due &&
            c->last_request < drain_start)
          conn_close(c);
      }
    }
  }
  return 0;
}
