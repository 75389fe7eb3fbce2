/*
 * ex_http.h - the small HTTP bits the example servers share. Examples
 * only: this is not part of libherd, and everything is static inline.
 *
 *   ex_listen()         the socket to serve: fd 3 under socket activation
 *                       (LISTEN_FDS, as systemd and herd start workers),
 *                       else 127.0.0.1:$PORT
 *   ex_stop_signals()   SIGINT and SIGTERM as a readable fd (signalfd)
 *   ex_http_parse()     one HTTP/1.x request head from a buffer
 *   ex_http_respond()   a text/plain answer
 *   ex_conn_readable()  read a connection, answer each complete request
 *   ex_conn_answer()    answer a request whose handler said EX_HTTP_LATER
 *
 * Deliberately minimal: GET only, no chunked bodies, requests up to
 * EX_CONN_BUF bytes, HTTP/1.1 keep-alive unless "Connection: close"
 * (HTTP/1.0: close unless "Connection: keep-alive").
 */
#ifndef EX_HTTP_H
#define EX_HTTP_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define EX_CONN_BUF 8192          /* the largest request we take */
#define EX_SEND_TIMEOUT_MS 5000   /* a client that stops reading is dropped */

/* ------------------------------------------------------------------ */
/* The listening socket and the stop signals                           */
/* ------------------------------------------------------------------ */

/* Parse a whole decimal string into [min, max]. Returns 0 or -1. */
static inline int ex_parse_long(const char *s, long min, long max, long *out) {
  char *end;
  long v;

  errno = 0;
  v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

/* Describe a socket's address: "http://127.0.0.1:3000", "unix:PATH". */
static inline void ex_sock_name(int fd, char *out, size_t cap) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char host[INET6_ADDRSTRLEN];
  const void *addr;
  unsigned port;

  if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
    snprintf(out, cap, "fd %d (getsockname: %s)", fd, strerror(errno));
    return;
  }
  if (ss.ss_family == AF_INET) {
    addr = &((struct sockaddr_in *)&ss)->sin_addr;
    port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    addr = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  } else if (ss.ss_family == AF_UNIX) {
    const char *path = ((struct sockaddr_un *)&ss)->sun_path;
    int plen = (int)(len - offsetof(struct sockaddr_un, sun_path));

    /* An abstract address starts with a NUL; a path that fills sun_path
     * has none at the end. */
    if (plen > 0 && path[0] == '\0')
      snprintf(out, cap, "unix:@%.*s", plen - 1, path + 1);
    else
      snprintf(out, cap, "unix:%.*s", plen, path);
    return;
  } else {
    snprintf(out, cap, "fd %d (address family %d)", fd, ss.ss_family);
    return;
  }
  if (inet_ntop(ss.ss_family, addr, host, sizeof host) == NULL)
    snprintf(out, cap, "fd %d (inet_ntop: %s)", fd, strerror(errno));
  else if (ss.ss_family == AF_INET6)
    snprintf(out, cap, "http://[%s]:%u", host, port);
  else
    snprintf(out, cap, "http://%s:%u", host, port);
}

/* Under socket activation (LISTEN_PID is our pid, LISTEN_FDS >= 1) the
 * sockets are fds 3, 4, ...: serve fd 3. The variables are unset so that
 * our own children do not take the sockets for theirs (sd_listen_fds(3)).
 * The fds come without CLOEXEC; we set it, as for every fd we hold. */
static inline int ex_listen_inherited(const char *prog, const char *fds_s,
                                      const char *pid_s) {
  long nfds, pid;
  int acc = 0, fl;
  socklen_t len = sizeof acc;

  if (ex_parse_long(pid_s, 1, 0x7fffffff, &pid) < 0 || pid != getpid())
    return -2; /* meant for another process: not ours */
  if (ex_parse_long(fds_s, 1, 1000, &nfds) < 0) {
    fprintf(stderr, "%s: bad LISTEN_FDS '%s'\n", prog, fds_s);
    return -1;
  }
  if (unsetenv("LISTEN_PID") < 0 || unsetenv("LISTEN_FDS") < 0 ||
      unsetenv("LISTEN_FDNAMES") < 0) {
    fprintf(stderr, "%s: unsetenv: %s\n", prog, strerror(errno));
    return -1;
  }
  for (int fd = 3; fd < 3 + nfds; fd++) {
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
      fprintf(stderr, "%s: LISTEN_FDS: fd %d: %s\n", prog, fd, strerror(errno));
      return -1;
    }
  }
  if (getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) < 0 || !acc) {
    fprintf(stderr, "%s: LISTEN_FDS: fd 3 is not a listening socket\n", prog);
    return -1;
  }
  /* Non-blocking: with several processes on one socket, another one may
   * take the connection between our poll and our accept. */
  if ((fl = fcntl(3, F_GETFL)) < 0 || fcntl(3, F_SETFL, fl | O_NONBLOCK) < 0) {
    fprintf(stderr, "%s: fcntl(3, O_NONBLOCK): %s\n", prog, strerror(errno));
    return -1;
  }
  return 3;
}

/* The socket to serve, non-blocking and CLOEXEC: the inherited fd 3 under
 * socket activation, else a new one on 127.0.0.1:$PORT (default_port when
 * PORT is unset; PORT=0 picks a free port). Returns the fd, or -1 after a
 * message on stderr. */
static inline int ex_listen(const char *prog, int default_port) {
  const char *fds_s = getenv("LISTEN_FDS"), *pid_s = getenv("LISTEN_PID");
  const char *port_s = getenv("PORT");
  struct sockaddr_in sin;
  long port = default_port;
  int fd, one = 1;

  if (fds_s != NULL && pid_s != NULL) {
    fd = ex_listen_inherited(prog, fds_s, pid_s);
    if (fd != -2)
      return fd;
  }
  if (port_s != NULL && ex_parse_long(port_s, 0, 65535, &port) < 0) {
    fprintf(stderr, "%s: bad PORT '%s' (0-65535)\n", prog, port_s);
    return -1;
  }
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    fprintf(stderr, "%s: socket: %s\n", prog, strerror(errno));
    return -1;
  }
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t)port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  /* SO_REUSEADDR: restart at once while old connections sit in TIME_WAIT. */
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
      listen(fd, SOMAXCONN) < 0) {
    fprintf(stderr, "%s: listen on 127.0.0.1:%ld: %s\n", prog, port,
            strerror(errno));
    (void)close(fd);
    return -1;
  }
  return fd;
}

/* Block SIGINT and SIGTERM and return a signalfd that reads them, so a
 * stop is one more event for the loop, handled between requests. Call
 * before starting threads (a blocked mask is inherited; herd_spawn clears
 * it in children). Returns the fd, or -1 after a message on stderr. */
static inline int ex_stop_signals(const char *prog) {
  sigset_t set;
  int fd;

  if (sigemptyset(&set) < 0 || sigaddset(&set, SIGINT) < 0 ||
      sigaddset(&set, SIGTERM) < 0 || sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
    fprintf(stderr, "%s: sigprocmask: %s\n", prog, strerror(errno));
    return -1;
  }
  fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0)
    fprintf(stderr, "%s: signalfd: %s\n", prog, strerror(errno));
  return fd;
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

typedef struct ex_req {
  char method[16];
  char path[256]; /* the target up to '?' */
  int minor;      /* HTTP/1.minor */
  int keep_alive; /* the connection stays open after the answer */
  size_t len;     /* bytes of this request in the buffer, head and body */
} ex_req_t;

/* The line starting at p: its length without the CR LF (a bare LF is
 * accepted too), *next after it; -1 if no LF yet. */
static inline long ex_line(const char *p, const char *end, const char **next) {
  const char *lf = memchr(p, '\n', (size_t)(end - p));

  if (lf == NULL)
    return -1;
  *next = lf + 1;
  return (lf > p && lf[-1] == '\r') ? lf - p - 1 : lf - p;
}

static inline int ex_is(const char *s, size_t len, const char *word) {
  return len == strlen(word) && strncasecmp(s, word, len) == 0;
}

/* Whether the comma-separated list [v, end) holds TOKEN (any case). */
static inline int ex_has_token(const char *v, const char *end,
                               const char *token) {
  while (v < end) {
    const char *comma = memchr(v, ',', (size_t)(end - v));
    const char *e = comma ? comma : end;

    while (v < e && (*v == ' ' || *v == '\t'))
      v++;
    while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
      e--;
    if (ex_is(v, (size_t)(e - v), token))
      return 1;
    v = comma ? comma + 1 : end;
  }
  return 0;
}

/*
 * Parse one request at the start of buf[0, len). Returns 1 with *r filled
 * once the head and its body (Content-Length) are all in the buffer, 0 if
 * more bytes are needed, or minus the HTTP status to answer before closing
 * the connection: -400 malformed; -414, -431, -413: request line, head or
 * body too large for EX_CONN_BUF (or the path for ex_req_t); -501
 * Transfer-Encoding (we read no chunked bodies).
 */
static inline int ex_http_parse(const char *buf, size_t len, ex_req_t *r) {
  const char *end = buf + len, *p = buf, *next, *sp1, *sp2, *q;
  size_t body = 0, head;
  int have_length = 0;
  long n;

  /* Empty lines before a request are allowed (RFC 9112, 2.2). */
  while (p < end && (*p == '\r' || *p == '\n'))
    p++;
  /* The request line: METHOD SP TARGET SP HTTP/1.x */
  if ((n = ex_line(p, end, &next)) < 0)
    return len >= EX_CONN_BUF ? -414 : 0;
  if ((sp1 = memchr(p, ' ', (size_t)n)) == NULL ||
      (sp2 = memchr(sp1 + 1, ' ', (size_t)(p + n - sp1 - 1))) == NULL)
    return -400;
  if (sp1 == p || (size_t)(sp1 - p) >= sizeof r->method || sp1[1] != '/' ||
      p + n - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
      (sp2[8] != '0' && sp2[8] != '1'))
    return -400;
  for (q = p; q < sp1; q++)
    if (*q < 'A' || *q > 'Z')
      return -400;
  memcpy(r->method, p, (size_t)(sp1 - p));
  r->method[sp1 - p] = '\0';
  q = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
  if (q == NULL)
    q = sp2;
  if ((size_t)(q - sp1 - 1) >= sizeof r->path)
    return -414;
  memcpy(r->path, sp1 + 1, (size_t)(q - sp1 - 1));
  r->path[q - sp1 - 1] = '\0';
  r->minor = sp2[8] - '0';
  r->keep_alive = r->minor == 1;

  /* Header lines "Name: value", up to an empty line. */
  for (p = next; (n = ex_line(p, end, &next)) != 0; p = next) {
    const char *colon, *v, *ve;

    if (n < 0)
      return len >= EX_CONN_BUF ? -431 : 0;
    colon = memchr(p, ':', (size_t)n);
    if (colon == NULL || colon == p || memchr(p, ' ', (size_t)(colon - p)) ||
        memchr(p, '\t', (size_t)(colon - p)))
      return -400; /* also rejects obsolete folded lines */
    v = colon + 1;
    ve = p + n;
    while (v < ve && (*v == ' ' || *v == '\t'))
      v++;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
      ve--;
    if (ex_is(p, (size_t)(colon - p), "Connection")) {
      if (ex_has_token(v, ve, "close"))
        r->keep_alive = 0;
      else if (ex_has_token(v, ve, "keep-alive"))
        r->keep_alive = 1;
    } else if (ex_is(p, (size_t)(colon - p), "Content-Length")) {
      size_t cl = 0;

      if (v == ve)
        return -400;
      for (q = v; q < ve; q++) {
        if (*q < '0' || *q > '9')
          return -400;
        if (cl > EX_CONN_BUF)
          return -413; /* stop before it can overflow */
        cl = cl * 10 + (size_t)(*q - '0');
      }
      if (have_length && cl != body)
        return -400; /* two different lengths: a smuggling attempt */
      body = cl;
      have_length = 1;
    } else if (ex_is(p, (size_t)(colon - p), "Transfer-Encoding")) {
      return -501;
    }
  }
  head = (size_t)(next - buf);
  if (body > EX_CONN_BUF - head)
    return -413;
  if (len - head < body)
    return 0;
  r->len = head + body;
  return 1;
}

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

static inline const char *ex_http_reason(int status) {
  switch (status) {
  case 200: return "OK";
  case 400: return "Bad Request";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 503: return "Service Unavailable";
  default: return "Unknown";
  }
}

/* Write all of buf. MSG_NOSIGNAL: a client that went away is -EPIPE, not
 * a SIGPIPE that kills us. A client that stops reading gets
 * EX_SEND_TIMEOUT_MS, then -ETIMEDOUT. Returns 0 or -errno. */
static inline int ex_send_all(int fd, const void *buf, size_t len, int flags) {
  const char *p = buf;

  while (len > 0) {
    ssize_t n = send(fd, p, len, flags | MSG_NOSIGNAL);
    struct pollfd pfd = { .fd = fd, .events = POLLOUT };
    int rc;

    if (n >= 0) {
      p += n;
      len -= (size_t)n;
      continue;
    }
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return -errno;
    rc = poll(&pfd, 1, EX_SEND_TIMEOUT_MS);
    if (rc == 0)
      return -ETIMEDOUT;
    if (rc < 0 && errno != EINTR)
      return -errno;
  }
  return 0;
}

/* Answer with STATUS and a text/plain BODY; extra is more header lines
 * ("Name: value\r\n"...) or NULL. Returns 0 or -errno. */
static inline int ex_http_respond(int fd, int status, const char *body,
                                  int keep_alive, const char *extra) {
  char head[512];
  size_t body_len = strlen(body);
  int n, rc;

  n = snprintf(head, sizeof head,
               "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
               "Content-Length: %zu\r\nConnection: %s\r\n%s\r\n",
               status, ex_http_reason(status), body_len,
               keep_alive ? "keep-alive" : "close", extra ? extra : "");
  if (n < 0 || (size_t)n >= sizeof head)
    return -EOVERFLOW;
  /* MSG_MORE: head and body leave in one segment, not two. */
  rc = ex_send_all(fd, head, (size_t)n, body_len > 0 ? MSG_MORE : 0);
  if (rc == 0 && body_len > 0)
    rc = ex_send_all(fd, body, body_len, 0);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */
/* ------------------------------------------------------------------ */

typedef struct ex_conn {
  int fd;                 /* non-blocking */
  size_t len;             /* bytes in buf */
  char buf[EX_CONN_BUF];
  int waiting;            /* a request's answer is due later (EX_HTTP_LATER) */
  int keep_alive;         /* that request's keep_alive */
} ex_conn_t;

/* A handler's status for "the answer comes later": the server answers it
 * with ex_conn_answer, when the result is there. */
#define EX_HTTP_LATER 0

/* Route a GET request: write a NUL-terminated body of at most cap bytes
 * and return the HTTP status, or EX_HTTP_LATER. */
typedef int (*ex_handler_fn)(const ex_req_t *req, char *body, size_t cap,
                             void *data);

/* A new connection on fd, nothing read yet. */
static inline void ex_conn_init(ex_conn_t *c, int fd) {
  c->fd = fd;
  c->len = 0;
  c->waiting = 0;
  c->keep_alive = 0;
}

/* Answer every complete request in the buffer, pipelined ones too, in
 * order: a request whose handler returns EX_HTTP_LATER stops the line
 * (c->waiting) until ex_conn_answer. Returns 1 to keep the connection, 0
 * when it is done (an error, a bad request or "Connection: close"). */
static inline int ex_conn_process(ex_conn_t *c, ex_handler_fn handler,
                                  void *data) {
  while (!c->waiting) {
    char body[512] = "";
    ex_req_t req;
    int rc = ex_http_parse(c->buf, c->len, &req), status;

    if (rc == 0)
      return 1; /* wait for the rest */
    if (rc < 0) {
      snprintf(body, sizeof body, "%s\n", ex_http_reason(-rc));
      if (ex_http_respond(c->fd, -rc, body, 0, NULL) == 0 &&
          shutdown(c->fd, SHUT_WR) == 0) {
        /* Closing with unread bytes queued makes the kernel send a reset,
         * which can destroy our answer before the client reads it: read
         * what has arrived of the rest first. */
        for (int i = 0; i < 16 && read(c->fd, c->buf, sizeof c->buf) > 0; i++)
          ;
      }
      return 0;
    }
    if (strcmp(req.method, "GET") != 0) {
      status = 405;
      snprintf(body, sizeof body, "only GET here\n");
    } else {
      status = handler(&req, body, sizeof body, data);
    }
    if (status == EX_HTTP_LATER) {
      c->waiting = 1;
      c->keep_alive = req.keep_alive;
    } else if (ex_http_respond(c->fd, status, body, req.keep_alive,
                               status == 405 ? "Allow: GET\r\n" : NULL) < 0 ||
               !req.keep_alive) {
      return 0;
    }
    memmove(c->buf, c->buf + req.len, c->len - req.len);
    c->len -= req.len;
  }
  return 1;
}

/* The connection is readable: read what is there and answer what is
 * complete (ex_conn_process). Returns 1 to keep watching it, 0 when it is
 * done (the peer left, an error, a bad request or "Connection: close"):
 * the caller then closes c->fd. While c->waiting nothing is read (the
 * caller stops watching its input until ex_conn_answer): requests are
 * answered in order, and the buffer cannot fill up behind a slow one. */
static inline int ex_conn_readable(ex_conn_t *c, ex_handler_fn handler,
                                   void *data) {
  ssize_t n;

  if (c->waiting)
    return 1;
  n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
  if (n == 0)
    return 0;
  if (n < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  c->len += (size_t)n;
  return ex_conn_process(c, handler, data);
}

/* Answer the request that waits (c->waiting) with STATUS and BODY, then
 * go on with the requests buffered behind it. Returns 1 to keep the
 * connection (c->waiting may be set again by a pipelined one), 0 when it
 * is done: the caller then closes c->fd. */
static inline int ex_conn_answer(ex_conn_t *c, int status, const char *body,
                                 ex_handler_fn handler, void *data) {
  if (!c->waiting)
    return 1;
  c->waiting = 0;
  if (ex_http_respond(c->fd, status, body, c->keep_alive, NULL) < 0 ||
      !c->keep_alive)
    return 0;
  return ex_conn_process(c, handler, data);
}

#endif /* EX_HTTP_H */
