/*
 * process-info: what a process knows about itself, as Node's process.pid,
 * process.ppid, process.cwd(), process.platform, process.uptime(),
 * process.memoryUsage().rss, process.cpuUsage() and process.title = ...
 *
 *   build/examples/process-info [--wait SECONDS]
 *
 * It renames itself "herd-example: process-info", which is what ps shows.
 * By default it exits at once; --wait keeps it alive that long, so that
 * you can look at it with ps from another terminal.
 */
#include <herd.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define PROG "process-info"
#define TITLE "herd-example: process-info"

static int fail(const char *what, int err) {
  fprintf(stderr, PROG ": %s: %s\n", what, herd_strerror(err));
  return 1;
}

static int usage(void) {
  fprintf(stderr, "usage: " PROG " [--wait SECONDS]   (0-86400)\n");
  return 2;
}

/* What ps reads: /proc/self/cmdline, up to its first NUL. */
static int read_cmdline(char *buf, size_t cap) {
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  ssize_t n;

  if (fd < 0)
    return -errno;
  do
    n = read(fd, buf, cap - 1);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    int err = -errno;
    (void)close(fd); /* the read error is the one to report */
    return err;
  }
  buf[n] = '\0';
  if (close(fd) < 0)
    return -errno;
  return 0;
}

int main(int argc, char **argv) {
  char cwd[PATH_MAX], cmdline[256];
  struct utsname un;
  herd_proc_stat_t st;
  long wait_s = 0;
  int64_t up;
  int rc;

  /* Read the arguments before setting the title: the title is written
   * over the memory that holds the argv strings. */
  if (argc == 3 && strcmp(argv[1], "--wait") == 0) {
    char *end;

    errno = 0;
    wait_s = strtol(argv[2], &end, 10);
    if (errno != 0 || end == argv[2] || *end != '\0' || wait_s < 0 ||
        wait_s > 86400)
      return usage();
  } else if (argc != 1) {
    return usage();
  }

  if ((rc = herd_title_init(argc, argv)) < 0)
    return fail("herd_title_init", rc);
  if ((rc = herd_title_set(TITLE)) < 0)
    return fail("herd_title_set", rc);

  if (getcwd(cwd, sizeof cwd) == NULL)
    return fail("getcwd", -errno);
  if (uname(&un) < 0)
    return fail("uname", -errno);
  if ((up = herd_uptime_ms()) < 0)
    return fail("herd_uptime_ms", (int)up);
  if ((rc = herd_proc_stat(0, &st)) < 0)
    return fail("herd_proc_stat", rc);
  if ((rc = read_cmdline(cmdline, sizeof cmdline)) < 0)
    return fail("/proc/self/cmdline", rc);

  printf("pid       %d\n", (int)getpid());
  printf("ppid      %d\n", (int)getppid());
  printf("cwd       %s\n", cwd);
  printf("platform  %s %s %s\n", un.sysname, un.release, un.machine);
  printf("uptime    %" PRId64 " ms\n", up);
  printf("rss       %.1f MiB\n", (double)st.rss_bytes / (1024.0 * 1024.0));
  printf("cpu       user %" PRIu64 " ms, system %" PRIu64 " ms\n",
         st.utime_ms, st.stime_ms);
  printf("threads   %ld, state %c\n", st.num_threads, st.state);
  printf("title     \"%s\" (ps, /proc/self/cmdline)\n", cmdline);
  printf("comm      \"%s\" (top, /proc/self/comm: 15 bytes at most)\n",
         st.comm);
  printf("see the title: ps -o pid,args -p %d\n", (int)getpid());

  if (wait_s > 0) {
    struct timespec left = { .tv_sec = wait_s, .tv_nsec = 0 };

    printf("staying alive for %ld s...\n", wait_s);
    if (fflush(stdout) == EOF)
      return fail("stdout", -errno);
    while (nanosleep(&left, &left) < 0)
      if (errno != EINTR)
        return fail("nanosleep", -errno);
  } else {
    printf("(it exits now: run it with --wait 30 to catch it with ps)\n");
  }
  if (fflush(stdout) == EOF)
    return fail("stdout", -errno);
  return 0;
}
