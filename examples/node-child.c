/*
 * node-child: a C parent and a Node.js child talking over Node's own IPC
 * channel - herd_fork of `node node-child.js` is Node's
 * child_process.fork, seen from C.
 *
 * The parent sends a greeting object, a string, a number, an array and a
 * unicode string, one at a time, and prints each reply (the child answers
 * with process.send). Then it sends a listening TCP socket on
 * 127.0.0.1 (a free port) as a handle: the child gets a net.Server,
 * accepts one connection and writes "hello from node"; the parent
 * connects and prints what came. Last it closes the channel (Node's
 * 'disconnect'), and node, with nothing left to do, exits 0.
 *
 *   build/examples/node-child [path/to/node-child.js]
 *
 * The script defaults to ../../examples/node-child.js from this program's
 * directory (found through /proc/self/exe), so build/examples/node-child
 * finds it in the source tree. Without node in PATH it says so and exits
 * 0 ("skipped"). Exit 1 if anything fails, node's exit included.
 */
#include <herd.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define PROG "node-child"
#define REPLY_TIMEOUT_MS 10000 /* node's start included */
#define EXIT_TIMEOUT_MS 5000

/* The script: ARG if given, else ../../examples/node-child.js from the
 * directory of this program. Returns 0, or -1 after a message. */
static int script_path(const char *arg, char *out, size_t cap) {
  char exe[PATH_MAX];
  ssize_t n;
  char *slash;

  if (arg != NULL) {
    if (snprintf(out, cap, "%s", arg) >= (int)cap) {
      fprintf(stderr, PROG ": script path too long\n");
      return -1;
    }
  } else {
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0) {
      fprintf(stderr, PROG ": readlink /proc/self/exe: %s\n", strerror(errno));
      return -1;
    }
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (slash != NULL)
      *slash = '\0';
    if (snprintf(out, cap, "%s/../../examples/node-child.js", exe) >=
        (int)cap) {
      fprintf(stderr, PROG ": script path too long\n");
      return -1;
    }
  }
  /* Resolved, for a readable path in what we print. */
  if (realpath(out, exe) == NULL || access(exe, R_OK) < 0) {
    fprintf(stderr, PROG ": %s: %s (give the path of node-child.js as the"
            " first argument)\n", out, strerror(errno));
    return -1;
  }
  snprintf(out, cap, "%s", exe); /* fits: it is no longer than before */
  return 0;
}

/* Send one message (with fd as a handle if >= 0) and print the reply.
 * Returns 0 or -1 after a message. */
static int exchange(herd_chan_t *ch, const char *json, int fd) {
  herd_chan_msg_t m;
  int rc;

  rc = herd_chan_send(ch, json, strlen(json), fd);
  if (rc < 0) {
    fprintf(stderr, PROG ": herd_chan_send %s: %s\n", json, herd_strerror(rc));
    return -1;
  }
  printf("C -> node: %s%s\n", json, fd >= 0 ? " + a listening socket" : "");
  /* recv_wait writes what is queued first (and takes the ACK of a
   * handle on the way): no separate flush needed. */
  rc = herd_chan_recv_wait(ch, &m, REPLY_TIMEOUT_MS);
  if (rc != 1) {
    fprintf(stderr, PROG ": no reply: %s\n",
            rc == 0 ? "nothing" : herd_strerror(rc));
    return -1;
  }
  if (m.fd >= 0)
    (void)close(m.fd); /* none expected; received fds are ours */
  printf("node -> C: %.*s\n", (int)m.len, m.json);
  return 0;
}

/* A listening TCP socket on 127.0.0.1, a port the kernel picks. Returns
 * the fd with *port, or -1 after a message. */
static int listen_any(unsigned *port) {
  struct sockaddr_in sin;
  socklen_t len = sizeof sin;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd < 0) {
    fprintf(stderr, PROG ": socket: %s\n", strerror(errno));
    return -1;
  }
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
      listen(fd, 8) < 0 || getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
    fprintf(stderr, PROG ": listen on 127.0.0.1:0: %s\n", strerror(errno));
    (void)close(fd);
    return -1;
  }
  *port = ntohs(sin.sin_port);
  return fd;
}

/* Connect to 127.0.0.1:port and print what comes until the peer closes.
 * Returns 0 or -1 after a message. */
static int connect_and_read(unsigned port) {
  struct sockaddr_in sin;
  struct timeval tv = { .tv_sec = REPLY_TIMEOUT_MS / 1000 };
  char buf[256];
  size_t got = 0;
  ssize_t n;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd < 0) {
    fprintf(stderr, PROG ": socket: %s\n", strerror(errno));
    return -1;
  }
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t)port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  /* A node that never writes must not hang us: reads time out. */
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
      connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
    fprintf(stderr, PROG ": connect to 127.0.0.1:%u: %s\n", port,
            strerror(errno));
    (void)close(fd);
    return -1;
  }
  while (got < sizeof buf - 1 &&
         (n = read(fd, buf + got, sizeof buf - 1 - got)) != 0) {
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      fprintf(stderr, PROG ": read from 127.0.0.1:%u: %s\n", port,
              strerror(errno));
      (void)close(fd);
      return -1;
    }
    got += (size_t)n;
  }
  buf[got] = '\0';
  if (close(fd) < 0) {
    fprintf(stderr, PROG ": close: %s\n", strerror(errno));
    return -1;
  }
  if (got > 0 && buf[got - 1] == '\n')
    buf[got - 1] = '\0';
  printf("C read from 127.0.0.1:%u: \"%s\"\n", port, buf);
  return 0;
}

int main(int argc, char **argv) {
  char script[PATH_MAX], greeting[128], serve[96];
  const char *const messages[] = {
    greeting,
    "\"just a string\"",
    "42.5",
    "[1,\"two\",true,null,{\"three\":3}]",
    /* Raw UTF-8 on the wire, as Node writes it: 2-, 3- and 4-byte
     * characters (the last one is two UTF-16 units in JavaScript). */
    "\"h\xc3\xa9llo w\xc3\xb6rld, \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e, "
    "\xf0\x9f\x90\x91\"",
  };
  char *nargv[] = { "node", script, NULL };
  herd_child_t child;
  herd_chan_t *ch = NULL;
  unsigned port = 0;
  int rc, lfd, ok = 0;

  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc > 2) {
    fprintf(stderr, "usage: " PROG " [path/to/node-child.js]\n");
    return 2;
  }
  if (script_path(argc > 1 ? argv[1] : NULL, script, sizeof script) < 0)
    return 1;
  rc = herd_fork(&child, &ch, "node", nargv, NULL);
  if (rc == -ENOENT) {
    printf(PROG ": node is not installed (no node in PATH): skipped\n");
    return 0;
  }
  if (rc < 0) {
    fprintf(stderr, PROG ": herd_fork node: %s\n", herd_strerror(rc));
    return 1;
  }
  printf(PROG ": pid %d, node child %d running %s\n", (int)getpid(),
         (int)child.pid, script);

  snprintf(greeting, sizeof greeting,
           "{\"hello\":\"from C\",\"pid\":%d,\"libherd\":\"%s\"}",
           (int)getpid(), HERD_VERSION_STRING);
  for (size_t i = 0; i < sizeof messages / sizeof messages[0]; i++)
    if (exchange(ch, messages[i], -1) < 0)
      goto out;

  if ((lfd = listen_any(&port)) < 0)
    goto out;
  snprintf(serve, sizeof serve,
           "{\"please\":\"answer one connection\",\"port\":%u}", port);
  rc = exchange(ch, serve, lfd);
  /* The library sent a duplicate: ours can go at once, so only node
   * accepts on the socket. */
  if (close(lfd) < 0)
    fprintf(stderr, PROG ": close: %s\n", strerror(errno));
  if (rc < 0 || connect_and_read(port) < 0)
    goto out;
  ok = 1;

out:
  /* The end of the channel is node's 'disconnect': it exits by itself. */
  herd_chan_close(ch);
  rc = herd_child_wait(&child, EXIT_TIMEOUT_MS);
  if (rc < 0)
    fprintf(stderr, PROG ": node did not exit: %s; killing it\n",
            herd_strerror(rc));
  herd_child_close(&child); /* SIGKILL and reap if still running */
  if (child.term_signal > 0)
    printf(PROG ": node was killed by %s\n", strsignal(child.term_signal));
  else
    printf(PROG ": node exited with status %d\n", child.exit_code);
  return ok && rc == 0 && child.exit_code == 0 ? 0 : 1;
}
