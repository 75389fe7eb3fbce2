/*
 * hp.h - driving the real herd binary in tests: start it with its stderr
 * piped, wait for its event lines, stop it; HTTP requests to its
 * workers (hello-http), a client load in a process of its own, and
 * /proc looks at the master's children. Shared by the end-to-end tests.
 */
#ifndef HERD_TEST_HP_H
#define HERD_TEST_HP_H

#include <stddef.h>
#include <sys/types.h>

#include "test.h"

struct hp {
  herd_child_t c;
  char log[65536];
  size_t len;
  int port;
  size_t mark; /* hp_wait_new looks from here (kept right on a slide) */
};

/* The build directory (HERD_BUILD, default "build"); path_of: a path in
 * prog_dir() (test.h), where herd and examples/ are. */
const char *build_dir(void);
void path_of(char *buf, size_t n, const char *rel);
const char *hello_http(void);
/* Is the program at path statically linked (a 64-bit ELF file with
 * neither an interpreter nor a dynamic section: make static's)? 1 yes,
 * 0 no, -1 not readable or not such a file. */
int hp_static(const char *path);

/* argv of the herd binary (its absolute path first) with ARGS
 * (NULL-terminated, without "herd"; at most HP_ARGV_MAX - 2 of them). */
#define HP_ARGV_MAX 64
void hp_argv(char *argv[HP_ARGV_MAX], const char *const *args);
/* Start herd with ARGS (NULL-terminated, without "herd"); stderr piped. */
void hp_start(struct hp *h, const char *const *args);
/* The same as uid/gid (when uid is not ours), with the environment
 * entries env (NULL-terminated, may be NULL) added. */
void hp_start_env(struct hp *h, uid_t uid, gid_t gid, const char *const *env,
                  const char *const *args);
/* The pid of the last "worker SLOT started, pid P" herd said. */
pid_t hp_worker_pid(struct hp *h, int slot);
/* Wait until PID has exited (its pidfd readable): 1, or 0 at the
 * deadline. A pid that is gone already counts as exited. */
int pid_gone(pid_t pid, int timeout_ms);
/* Read herd's stderr until NEEDLE has appeared COUNT times in all. */
int hp_wait(struct hp *h, const char *needle, int count, int timeout_ms);
#define HP_WAIT(h, needle, count)                                            \
  CHECK_MSG(hp_wait(h, needle, count, 15000),                                \
            "herd never said '%s' x%d; it said:\n%s", needle, count, (h)->log)

/* Remember the end of what herd said so far; hp_wait_new then waits for
 * NEEDLE said after it (counting works only while the log fits). */
void hp_mark(struct hp *h);
int hp_wait_new(struct hp *h, const char *needle, int timeout_ms);
#define HP_WAIT_NEW(h, needle)                                               \
  CHECK_MSG(hp_wait_new(h, needle, 15000),                                   \
            "herd never said '%s'; it said:\n%s", needle, (h)->log)

/* The port of the first "listening on 127.0.0.1:PORT" line. */
void hp_port(struct hp *h);
/* Stop herd with SIG and return its exit status (reading the rest). */
int hp_stop(struct hp *h, int sig);

extern int last_close;     /* the last response said Connection: close */
extern char last_err[256]; /* why http_on failed */
/* One request on fd; returns the status, fills body. -1 on any error. */
int http_on(int fd, const char *path, int keep, char *body, size_t n);
int http_get(int port, const char *path, char *body, size_t n);

/* A client in its own process: requests until its pipe closes, then
 * reports {ok, failed}. keep: one keep-alive connection (reconnecting
 * after a Connection: close), else a new connection per request. */
struct loader {
  pid_t pid;
  int stop_w;
  int res_r;
};
void loader_start(struct loader *l, int port, int keep);
extern long last_refused; /* of the last loader_stop */
void loader_stop(struct loader *l, long *ok, long *bad);

/* One control request to the app NAME of $HERD_HOME; its first reply
 * line (without the newline) in reply. 0, or -1 on any failure. */
int hp_ctl(const char *name, const char *req, char *reply, size_t n);

/* Run a shell command line (popen): its output in out (NUL-terminated,
 * cut at n - 1 bytes), its exit status back (128 + N for a signal). */
int sh_out(const char *cmd, char *out, size_t n);

/* How many fds process pid has open (/proc/PID/fd), or -1. */
int count_fds_of(pid_t pid);

/* Is there a node on PATH that runs (`node -v`)? */
int have_node(void);

/* Distinct worker pids seen answering /pid in TRIES requests. */
int distinct_pids(int port, int tries, pid_t *pids, int max);
/* The children of PID, from /proc/PID/task/PID/children. */
int children_of(pid_t pid, pid_t *out, int max);
/* A process's state letter from /proc (0 once it is gone). */
char proc_state(pid_t pid);

#endif
