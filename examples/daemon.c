/*
 * daemon: the classic Unix daemon, with herd_daemonize and a pid file.
 *
 *   build/examples/daemon [-i SECONDS] [-n COUNT] [-p PIDFILE]
 *
 * Started from a shell, it prints "daemon started, pid P" and returns at
 * once; the daemon (detached: a new session, no terminal, re-parented to
 * init or the nearest subreaper) keeps the directory it was started in
 * and appends "daemon pid: P ppid: Q" to stdout.log and to stderr.log
 * there, at once and then every SECONDS (default 10). It stops after
 * COUNT lines (default 0: never), or cleanly on SIGTERM or SIGINT. With
 * -p it holds PIDFILE (taken before the fork, so "already running" is
 * said in the terminal) and removes it when it stops. Try:
 *
 *   cd /tmp && ~/herd/build/examples/daemon -i 2 -p daemon.pid
 *   tail -f stdout.log          # its ppid is 1 (or a subreaper), not the shell
 *   ~/herd/build/examples/daemon -p daemon.pid   # already running, pid P
 *   kill $(cat daemon.pid)      # it stops, and daemon.pid is gone
 *
 * It shows the status pipe too: the parent prints its line only when the
 * daemon has said "OK" (its signalfd and pid file are in place), and an
 * error if the daemon failed or died first. Exit status: 0 started, 1
 * failed, 2 bad usage.
 */
#include <herd.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define PROG "daemon"

static int usage(int status) {
  fprintf(status ? stderr : stdout,
          "usage: " PROG " [-i SECONDS] [-n COUNT] [-p PIDFILE]\n"
          "  -i SECONDS  between two lines (1-86400, default 10)\n"
          "  -n COUNT    lines before it stops (default 0: until SIGTERM)\n"
          "  -p PIDFILE  hold this pid file while it runs\n");
  return status;
}

static int number(const char *s, long min, long max, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Tell the waiting parent how the start went, then close our end. */
static void status_say(int *fd, const char *msg) {
  if (*fd < 0)
    return;
  ssize_t n;
  do
    n = write(*fd, msg, strlen(msg));
  while (n < 0 && errno == EINTR);
  (void)close(*fd); /* the parent sees EOF after the message */
  *fd = -1;
}

/* The daemon: a line now and then every interval, until COUNT lines or a
 * stop signal. Returns the exit status. */
static int run(long interval, long count, herd_pidfile_t *pf, int status_fd,
               const sigset_t *stops) {
  char msg[160] = "ERR\n";
  int rc = 1;
  int sfd = -1;

  if (pf) {
    int r = herd_pidfile_write(pf); /* the starter's pid was in it */
    if (r < 0) {
      snprintf(msg, sizeof msg, "ERR writing the pid file: %s\n",
               herd_strerror(r));
      goto out;
    }
  }
  sfd = signalfd(-1, stops, SFD_CLOEXEC);
  if (sfd < 0) {
    snprintf(msg, sizeof msg, "ERR signalfd: %s\n", strerror(errno));
    goto out;
  }
  /* stdout is a file now: line-buffered, so each line is there at once. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  status_say(&status_fd, "OK\n");

  int64_t next = now_ms();
  for (long done = 0; count == 0 || done < count;) {
    int64_t left = next - now_ms();
    if (left <= 0) {
      /* A write that fails (a full disk) is not a reason to stop. */
      printf("daemon pid: %d ppid: %d\n", (int)getpid(), (int)getppid());
      fprintf(stderr, "daemon pid: %d ppid: %d\n", (int)getpid(),
              (int)getppid());
      done++;
      next += interval * 1000;
      continue;
    }
    struct pollfd p = {.fd = sfd, .events = POLLIN};
    int r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
    if (r < 0 && errno != EINTR) {
      fprintf(stderr, PROG ": poll: %s\n", strerror(errno));
      goto out;
    }
    if (r > 0) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        fprintf(stderr, "daemon %d: stopping on %s\n", (int)getpid(),
                strsignal((int)si.ssi_signo));
        break;
      }
    }
  }
  rc = 0;

out:
  if (status_fd >= 0)
    status_say(&status_fd, msg);
  if (sfd >= 0)
    (void)close(sfd);
  herd_pidfile_close(pf, 1); /* ours: remove it */
  return rc;
}

int main(int argc, char **argv) {
  long interval = 10, count = 0;
  const char *pidpath = NULL;
  int c;

  while ((c = getopt(argc, argv, "i:n:p:h")) != -1) {
    switch (c) {
    case 'i':
      if (number(optarg, 1, 86400, &interval) < 0)
        return usage(2);
      break;
    case 'n':
      if (number(optarg, 0, LONG_MAX, &count) < 0)
        return usage(2);
      break;
    case 'p':
      pidpath = optarg;
      break;
    case 'h':
      return usage(0);
    default:
      return usage(2);
    }
  }
  if (optind != argc)
    return usage(2);

  /* Blocked before the fork: the daemon inherits the mask and reads the
   * signals from a signalfd; a TERM that comes early waits for it. */
  sigset_t stops;
  sigemptyset(&stops);
  sigaddset(&stops, SIGTERM);
  sigaddset(&stops, SIGINT);
  if (sigprocmask(SIG_BLOCK, &stops, NULL) < 0) {
    fprintf(stderr, PROG ": sigprocmask: %s\n", strerror(errno));
    return 1;
  }

  herd_pidfile_t *pf = NULL;
  if (pidpath) {
    pid_t holder = 0;
    int r = herd_pidfile_open(&pf, pidpath, &holder);
    if (r == -EBUSY && holder > 0) {
      fprintf(stderr, PROG ": already running, pid %d (%s)\n", (int)holder,
              pidpath);
      return 1;
    }
    if (r < 0) {
      fprintf(stderr, PROG ": %s: %s\n", pidpath, herd_strerror(r));
      return 1;
    }
  }

  herd_daemon_opts_t o = {0};
  o.flags = HERD_DAEMON_NOCHDIR | HERD_DAEMON_STATUS_PIPE;
  o.stdout_path = "stdout.log";
  o.stderr_path = "stderr.log";
  int status_fd = -1;
  fflush(NULL); /* nothing buffered here may be written twice */
  pid_t pid = herd_daemonize(&o, &status_fd);
  if (pid < 0) {
    fprintf(stderr, PROG ": cannot start: %s\n", herd_strerror(pid));
    herd_pidfile_close(pf, 1);
    return 1;
  }
  if (pid == 0)
    return run(interval, count, pf, status_fd, &stops);

  /* The starter. The daemon shares our pid file's open file and locks:
   * close our fd without removing the file (the lock stays with the
   * daemon, which has the same open file). */
  herd_pidfile_close(pf, 0);
  /* Its word, up to EOF: it closes its end after "OK" or "ERR ...". */
  char buf[160];
  size_t got = 0;
  while (got < sizeof buf - 1) {
    ssize_t n = read(status_fd, buf + got, sizeof buf - 1 - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  (void)close(status_fd);
  buf[got] = '\0';
  if (strcmp(buf, "OK\n") != 0) {
    if (strncmp(buf, "ERR ", 4) == 0)
      fprintf(stderr, PROG ": the daemon failed: %s", buf + 4);
    else
      fprintf(stderr, PROG ": the daemon died during its start\n");
    return 1;
  }
  printf("daemon started, pid %d\n", (int)pid);
  return 0;
}
