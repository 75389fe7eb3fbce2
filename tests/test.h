/*
 * test.h - herd's in-tree test harness.
 *
 * Each TEST runs in its own forked process with a timeout; a failed
 * CHECK reports file:line and the reason through a pipe to the runner and
 * ends that process. At the end of every test the harness checks that the
 * test left no child process behind (every child reaped).
 *
 * The test binary is also the helper child: `herd-test --helper ROLE ...`
 * (see helpers.c), started by tests through test_self().
 */
#ifndef HERD_TEST_H
#define HERD_TEST_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "herd.h"

typedef void (*test_fn)(void);

void test_register(const char *name, test_fn fn, int timeout_s);

#define TEST_T(name, timeout_s)                                              \
  static void test_##name(void);                                             \
  __attribute__((constructor)) static void reg_##name(void) {                \
    test_register(#name, test_##name, timeout_s);                            \
  }                                                                          \
  static void test_##name(void)

#define TEST(name) TEST_T(name, 60)

__attribute__((noreturn, format(printf, 3, 4))) void
test_fail(const char *file, int line, const char *fmt, ...);
__attribute__((noreturn, format(printf, 1, 2))) void
test_skip(const char *fmt, ...);

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond))                                                             \
      test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                     \
  } while (0)

#define CHECK_MSG(cond, ...)                                                 \
  do {                                                                       \
    if (!(cond))                                                             \
      test_fail(__FILE__, __LINE__, __VA_ARGS__);                            \
  } while (0)

#define CHECK_EQ(a, b)                                                       \
  do {                                                                       \
    long long a_ = (long long)(a), b_ = (long long)(b);                      \
    if (a_ != b_)                                                            \
      test_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a,   \
                a_, #b, b_);                                                 \
  } while (0)

/* A libherd call that must succeed (>= 0). */
#define CHECK_OK(expr)                                                       \
  do {                                                                       \
    long long r_ = (long long)(expr);                                        \
    if (r_ < 0)                                                              \
      test_fail(__FILE__, __LINE__, "%s failed: %lld (%s)", #expr, r_,       \
                herd_strerror((int)r_));                                     \
  } while (0)

#define CHECK_STR(a, b)                                                      \
  do {                                                                       \
    const char *a_ = (a), *b_ = (b);                                         \
    if (!a_ || strcmp(a_, b_) != 0)                                          \
      test_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a,     \
                a_ ? a_ : "(null)", b_);                                     \
  } while (0)

#define SKIP(...) test_skip(__VA_ARGS__)

/* Path of this binary (for --helper children). */
const char *test_self(void);

/* Number of open fds of this process. */
int test_count_fds(void);

/* A TCP connection to 127.0.0.1:port: the fd, or -errno. */
int test_connect_port(int port);

/* Send the line on a unix socket with fd attached (SCM_RIGHTS). */
void test_send_with_fd(int sock, const char *line, int fd);

/* Read fd to EOF into a malloc'd NUL-terminated string (fails the test on
 * error). *len may be NULL. */
char *test_read_all(int fd, size_t *len);

/* Read fd until buf (n bytes, NUL-terminated) holds a '\n' (what
 * follows it in the same read stays in buf); fails the test at EOF or
 * when buf is full. */
void test_read_line(int fd, char *buf, size_t n);

/* Milliseconds, monotonic. */
uint64_t test_now_ms(void);

/* Helper roles (helpers.c); returns the exit status. */
int test_helper_main(int argc, char **argv);

/* The folder of the programs under test, herd and examples/ (hp.c):
 * HERD_PROGS if set (build/static: CI runs the end-to-end tests against
 * the static build too), else the build dir (HERD_BUILD, default
 * "build"). */
const char *prog_dir(void);

/* --helper chroot DIR PROG ARGS (emptyroot_test.c). */
int emptyroot_helper(int argc, char **argv);

#endif
