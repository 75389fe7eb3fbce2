/*
 * daemon-time.c - the stopwatch of bench/daemon.sh (no libherd: it times
 * herd and PM2 alike).
 *
 *   daemon-time run [-o FILE] [-t SECS] [-a PORT] -- CMD [ARGS...]
 *       Runs CMD once (stdin /dev/null, stdout and stderr to FILE, else
 *       /dev/null) and prints "MICROSECONDS STATUS": the wall time from
 *       just before the fork to the moment its exit is seen (pidfd), and
 *       its exit code, "sigN", or "timeout" (killed after SECS, default
 *       60). Exit status: 0 if CMD exited 0, else 1.
 *       With -a, once CMD has exited 0, a third field: the microseconds
 *       from the same start to the first HTTP answer from 127.0.0.1:PORT
 *       (PORT 0: the last "127.0.0.1:N" in CMD's output), or "-" if none
 *       within SECS. It connects, sends GET /, waits for "HTTP/1." on that
 *       connection; a refused or closed connection is retried every 1 ms.
 *
 *   daemon-time watch FILE BYTES DONEFILE IDLE_MS LIMIT_MS
 *       Polls FILE's size every 2 ms until it reaches BYTES, or until
 *       DONEFILE is not empty (the writer says it has written everything)
 *       and the size has not changed for IDLE_MS, or LIMIT_MS have passed.
 *       Prints "EPOCH_MS SIZE REASON": the wall clock (CLOCK_REALTIME, ms)
 *       of the last poll at which the size changed, the final size, and
 *       full | idle | limit.
 *
 *   daemon-time busy PORT...
 *       Prints every PORT on which 127.0.0.1 accepts a connection; exit
 *       status 1 if there is one.
 *
 *   daemon-time now
 *       Prints CLOCK_REALTIME in ms (as `date +%s%3N`, without its cost).
 *
 * Measuring in the shell (`date +%s%N` before and after) would add two
 * process creations, about 1 ms each here, to a `herd status` of 3 ms.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static long long real_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int usage(void) {
  fprintf(stderr, "usage: daemon-time run [-o FILE] [-t SECS] [-a PORT] -- CMD [ARGS...]\n"
                  "       daemon-time watch FILE BYTES DONEFILE IDLE_MS LIMIT_MS\n"
                  "       daemon-time busy PORT...\n"
                  "       daemon-time now\n");
  return 2;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

/* The last "127.0.0.1:N" in FILE, or 0. */
static int port_in(const char *file) {
  FILE *f = fopen(file, "r");
  if (!f)
    return 0;
  char buf[8192];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  int port = 0;
  for (char *p = buf; (p = strstr(p, "127.0.0.1:")); p++)
    port = atoi(p + 10);
  return port;
}

/* Microseconds (from t0) of the first HTTP answer, or -1 after deadline. */
static double first_answer(int port, double t0, double deadline) {
  static const char req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  while (mono_us() < deadline) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
      return -1;
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        write(s, req, sizeof req - 1) == (ssize_t)(sizeof req - 1)) {
      struct pollfd p = {.fd = s, .events = POLLIN};
      int left = (int)((deadline - mono_us()) / 1000);
      char b[16];
      if (left > 0 && poll(&p, 1, left) > 0 && read(s, b, 7) == 7 &&
          !memcmp(b, "HTTP/1.", 7)) {
        double t = mono_us() - t0;
        (void)close(s);
        return t;
      }
    }
    (void)close(s);
    sleep_ms(1);
  }
  return -1;
}

static int cmd_run(int argc, char **argv) {
  const char *out = "/dev/null";
  int secs = 60, i = 2, aport = -1;
  for (; i < argc; i++) {
    if (!strcmp(argv[i], "--")) {
      i++;
      break;
    }
    if (!strcmp(argv[i], "-o") && i + 1 < argc)
      out = argv[++i];
    else if (!strcmp(argv[i], "-t") && i + 1 < argc)
      secs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "-a") && i + 1 < argc)
      aport = atoi(argv[++i]);
    else
      return usage();
  }
  if (i >= argc || secs <= 0)
    return usage();
  int ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int nfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (ofd < 0 || nfd < 0) {
    fprintf(stderr, "daemon-time: %s: %s\n", out, strerror(errno));
    return 1;
  }
  double t0 = mono_us();
  pid_t pid = fork();
  if (pid < 0) {
    perror("daemon-time: fork");
    return 1;
  }
  if (pid == 0) {
    (void)dup2(nfd, 0);
    (void)dup2(ofd, 1);
    (void)dup2(ofd, 2);
    execvp(argv[i], argv + i);
    fprintf(stderr, "daemon-time: %s: %s\n", argv[i], strerror(errno));
    _exit(127);
  }
  int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
  int timed_out = 0;
  if (pfd >= 0) {
    struct pollfd p = {.fd = pfd, .events = POLLIN};
    int left = secs * 1000;
    double start = mono_us();
    for (;;) {
      int r = poll(&p, 1, left);
      if (r > 0)
        break;
      if (r < 0 && errno == EINTR) {
        left = secs * 1000 - (int)((mono_us() - start) / 1000);
        if (left > 0)
          continue;
      }
      if (r < 0 && errno != EINTR) {
        perror("daemon-time: poll");
        break;
      }
      timed_out = 1;
      (void)kill(pid, SIGKILL);
      break;
    }
  }
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  double t1 = mono_us();
  int ok = !timed_out && WIFEXITED(st) && WEXITSTATUS(st) == 0;
  if (timed_out)
    printf("%.0f timeout", t1 - t0);
  else if (WIFSIGNALED(st))
    printf("%.0f sig%d", t1 - t0, WTERMSIG(st));
  else
    printf("%.0f %d", t1 - t0, WEXITSTATUS(st));
  if (aport >= 0) {
    int port = aport ? aport : port_in(out);
    double a = ok && port > 0 ? first_answer(port, t0, t0 + secs * 1e6) : -1;
    if (a < 0)
      printf(" -");
    else
      printf(" %.0f", a);
  }
  printf("\n");
  return ok ? 0 : 1;
}

static int cmd_watch(int argc, char **argv) {
  if (argc != 7)
    return usage();
  const char *file = argv[2], *done = argv[4];
  long long want = atoll(argv[3]), idle = atoll(argv[5]), limit = atoll(argv[6]);
  long long start = real_ms(), last_change = start, size = -1;
  const char *why = "limit";
  for (;;) {
    struct stat st;
    long long now = real_ms();
    long long sz = stat(file, &st) == 0 ? (long long)st.st_size : 0;
    if (sz != size) {
      size = sz;
      last_change = now;
    }
    if (size >= want) {
      why = "full";
      break;
    }
    if (now - last_change >= idle && stat(done, &st) == 0 && st.st_size > 0) {
      why = "idle";
      break;
    }
    if (now - start >= limit)
      break;
    sleep_ms(2);
  }
  printf("%lld %lld %s\n", last_change, size, why);
  return 0;
}

static int cmd_busy(int argc, char **argv) {
  int any = 0;
  for (int i = 2; i < argc; i++) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[i]))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof sa) == 0) {
      printf("%s\n", argv[i]);
      any = 1;
    }
    if (s >= 0)
      (void)close(s);
  }
  return any;
}

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "busy"))
    return cmd_busy(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "run"))
    return cmd_run(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "watch"))
    return cmd_watch(argc, argv);
  if (argc == 2 && !strcmp(argv[1], "now")) {
    printf("%lld\n", real_ms());
    return 0;
  }
  return usage();
}
