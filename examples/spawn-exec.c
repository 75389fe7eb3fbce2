/*
 * spawn-exec: Node's child_process.spawn, exec and execFile in C.
 *
 *   build/examples/spawn-exec
 *
 * (a) herd_spawn: `ls -l` in /usr, its stdout read from a pipe as it comes
 * (b) herd_exec: "node -v" through /bin/sh (or "cc --version" without
 *     node), run to completion with stdout and stderr captured
 * (c) herd_exec_file: the same program without a shell
 * (d) an error: herd_exec_file of a program that does not exist comes back
 *     as -ENOENT from the call itself, not as a child that exits 127
 */
#include <herd.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROG "spawn-exec"

static void heading(const char *title) {
  printf("\n=== %s ===\n", title);
}

/* Whether NAME is an executable file in one of $PATH's directories. */
static int on_path(const char *name) {
  const char *path = getenv("PATH");
  char file[4096];

  while (path != NULL && *path != '\0') {
    const char *colon = strchr(path, ':');
    int len = colon ? (int)(colon - path) : (int)strlen(path);

    /* An empty entry means the current directory. */
    snprintf(file, sizeof file, "%.*s/%s", len, len ? path : ".", name);
    if (access(file, X_OK) == 0)
      return 1;
    path = colon ? colon + 1 : NULL;
  }
  return 0;
}

static int part_spawn(void) {
  char *argv[] = { "ls", "-l", NULL };
  herd_spawn_opts_t opts = { .cwd = "/usr" };
  herd_child_t child;
  char buf[4096];
  ssize_t n;
  int rc, ret = 0;

  heading("(a) herd_spawn: ls -l in /usr, stdout through a pipe");
  opts.stdio[1].kind = HERD_STDIO_PIPE;
  if ((rc = herd_spawn(&child, "ls", argv, &opts)) < 0) {
    fprintf(stderr, PROG ": herd_spawn ls: %s\n", herd_strerror(rc));
    return 1;
  }
  printf("pid %d, its output:\n", (int)child.pid);
  /* Read until EOF: the child has exited or closed its stdout. */
  while ((n = read(child.stdio[1], buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      fprintf(stderr, PROG ": read: %s\n", strerror(errno));
      ret = 1;
      break;
    }
    if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) {
      fprintf(stderr, PROG ": write stdout: %s\n", strerror(errno));
      ret = 1;
      break;
    }
  }
  if (ret == 0 && (rc = herd_child_wait(&child, -1)) < 0) {
    fprintf(stderr, PROG ": herd_child_wait: %s\n", herd_strerror(rc));
    ret = 1;
  }
  if (ret == 0)
    printf("ls exited with status %d\n", herd_child_status(&child));
  herd_child_close(&child); /* on an error above: kills and reaps it */
  return ret;
}

static const char *reason_name(int reason) {
  switch (reason) {
  case HERD_EXEC_EXITED: return "exited";
  case HERD_EXEC_SIGNALED: return "killed by a signal";
  case HERD_EXEC_TIMEDOUT: return "timed out";
  case HERD_EXEC_MAXBUFFER: return "output over max_buffer";
  default: return "?";
  }
}

/* Print an exec result; 1 if the call itself failed. */
static int show(const char *call, int rc, const herd_exec_result_t *res) {
  if (rc < 0) {
    printf("%s returned %d: %s\n", call, rc, herd_strerror(rc));
    return 1;
  }
  printf("%s returned 0; pid %d %s, exit code %d", call, (int)res->pid,
         reason_name(res->reason), res->exit_code);
  if (res->term_signal != 0)
    printf(", signal %d (%s)", res->term_signal, strsignal(res->term_signal));
  printf("\nstdout (%zu bytes): %s", res->out_len, res->out);
  if (res->out_len == 0 || res->out[res->out_len - 1] != '\n')
    printf("\n");
  printf("stderr (%zu bytes): %s", res->err_len, res->err);
  if (res->err_len == 0 || res->err[res->err_len - 1] != '\n')
    printf("\n");
  return 0;
}

int main(void) {
  herd_exec_opts_t opts = HERD_EXEC_OPTS_INIT;
  herd_exec_result_t res;
  int node = on_path("node"), rc, failed = 0;
  char *argv[] = { node ? "node" : "cc", node ? "-v" : "--version", NULL };
  char *missing[] = { "herd-no-such-program", NULL };
  const char *cmd = node ? "node -v" : "cc --version";
  char title[128];

  opts.timeout_ms = 10000; /* killed (SIGTERM) if it takes longer */

  failed |= part_spawn();
  /* Our buffered output must be out before a child writes to our fds. */
  if (fflush(stdout) == EOF) {
    fprintf(stderr, PROG ": stdout: %s\n", strerror(errno));
    return 1;
  }

  snprintf(title, sizeof title, "(b) herd_exec(\"%s\"): through /bin/sh -c",
           cmd);
  heading(title);
  rc = herd_exec(cmd, &opts, &res);
  failed |= show("herd_exec", rc, &res);
  herd_exec_result_free(&res);

  snprintf(title, sizeof title,
           "(c) herd_exec_file(\"%s\", {\"%s\", \"%s\"}): no shell", argv[0],
           argv[0], argv[1]);
  heading(title);
  rc = herd_exec_file(argv[0], argv, &opts, &res);
  failed |= show("herd_exec_file", rc, &res);
  herd_exec_result_free(&res);

  heading("(d) herd_exec_file of a program that does not exist");
  rc = herd_exec_file(missing[0], missing, &opts, &res);
  show("herd_exec_file(\"herd-no-such-program\")", rc, &res);
  herd_exec_result_free(&res);
  if (rc == -ENOENT) {
    printf("as expected: -ENOENT (%d), from the call itself\n", -ENOENT);
  } else {
    fprintf(stderr, PROG ": expected -ENOENT, got %d\n", rc);
    failed = 1;
  }
  return failed;
}
