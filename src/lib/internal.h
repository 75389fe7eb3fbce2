/* internal.h - herd__ helpers shared by libherd's files (not installed). */
#ifndef HERD_INTERNAL_H
#define HERD_INTERNAL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "herd.h"

/* read(2) retried on EINTR. Returns bytes read, 0 at EOF, or -errno. */
ssize_t herd__read(int fd, void *buf, size_t len);

/* write(2) retried on EINTR. Returns bytes written or -errno. */
ssize_t herd__write(int fd, const void *buf, size_t len);

/* write(2) to a pipe or socket whose reader may be gone: -EPIPE instead
 * of a SIGPIPE that would kill the caller. SIGPIPE is blocked in the
 * calling thread around the write and a SIGPIPE it raised is consumed;
 * one that was already pending stays pending. Returns bytes or -errno. */
ssize_t herd__write_nosigpipe(int fd, const void *buf, size_t len);

/* Write all of buf (blocking fd), retried on EINTR and short writes.
 * Async-signal-safe. Returns 0 or -errno. */
int herd__write_all(int fd, const void *buf, size_t len);

/* close(2) that keeps errno and ignores -1. Never retried on EINTR. */
void herd__close(int fd);

/* Close *fd if >= 0 and set it to -1. */
void herd__closep(int *fd);

/* Set or clear O_NONBLOCK. Returns 0 or -errno. */
int herd__set_nonblock(int fd, int on);

/* CLOCK_MONOTONIC in milliseconds. */
/* waitpid(pid, status, 0) across EINTR: the one blocking reap of a pid
 * (status may be NULL). 0, or -errno (-ECHILD: reaped already, or not
 * our child). */
int herd__waitpid(pid_t pid, int *status);
/* herd_now_ms, by its old internal name */
static inline uint64_t herd__now_ms(void) {
  return herd_now_ms();
}

/* Milliseconds left until deadline (a herd__now_ms() value), 0 if past;
 * deadline 0 means none: -1. Clamped to INT_MAX. */
int herd__ms_left(uint64_t deadline);

/* waitid(P_PID, pid, WEXITED | flags) retried on EINTR; fills the child's
 * exit fields. Returns 1 if reaped, 0 if not yet (WNOHANG), -errno. */
int herd__reap(herd_child_t *child, int flags);

/* JSON (json.c). Keys are compared as JSON.parse sees them: escapes
 * decoded ("\u0063md" is "cmd"), the last of duplicate keys counting.
 * validate: 0 if [text, text+len) is one JSON text, else -EINVAL.
 * member: if the text is an object with a top-level member KEY (ASCII),
 * 1 and the raw value's span; 0 if absent or not an object; -EINVAL if
 * malformed. */
int herd__json_validate(const char *text, size_t len);
/* validate, and give the raw value of the top-level "cmd" member of an
 * object (NULL if none) in the same pass */
int herd__json_validate_cmd(const char *text, size_t len, const char **cmd,
                            size_t *cmdlen);
int herd__json_member(const char *text, size_t len, const char *key,
                      const char **val, size_t *vlen);
/* Decode the string token [text, text+len) (quotes included) to UTF-8:
 * escapes decoded, a surrogate pair to its character, a lone surrogate
 * to U+FFFD, other bytes as they are. Writes at most cap bytes to out (no
 * NUL) and returns the whole decoded length (more than cap: cut short),
 * or -EINVAL if the span is not exactly one JSON string. */
ssize_t herd__json_str(const char *text, size_t len, char *out, size_t cap);

/* Has the channel something for herd_chan_recv without reading the
 * socket (a complete line buffered, or its end)? */
int herd__chan_pending(const herd_chan_t *ch);

/* Handles of ours the peer has acknowledged (ACK or NACK) so far. */
uint64_t herd__chan_acks(const herd_chan_t *ch);
/* Handles of ours not acknowledged yet: queued, or sent and waited for. */
int herd__chan_handles_out(const herd_chan_t *ch);
/* Take back up to max handles queued at the end of the output that
 * nothing of has been sent yet: their fds (oldest first, the caller's
 * now) in fds, their lines gone from the queue. Returns how many. */
int herd__chan_take_handles(herd_chan_t *ch, int *fds, int max);

/* Has the channel met its end (EOF, or a write that failed)? */
int herd__chan_gone(const herd_chan_t *ch);

/* A watch on a TCP listener's accept queue (listenq.c): cb(data, fd,
 * queued, ms) once it has stayed non-empty for stall_ms (queued > 0, ms
 * how long), and once more when it empties after that (queued 0). An
 * idle master is not woken by it. -ENOTSUP for a socket that is not a TCP
 * listener. The fd is borrowed: free the watch before closing it. */
struct herd__lq;
typedef void (*herd__lq_cb)(void *data, int fd, int queued, int ms);
int herd__lq_new(struct herd__lq **out, herd_loop_t *loop, int fd, int stall_ms,
                 herd__lq_cb cb, void *data);
void herd__lq_free(struct herd__lq *q);

/* reuseport.c: make the SO_REUSEPORT group of fd (n sockets, in the
 * kernel's order) choose among those not at the indices skip[0..nskip)
 * (ascending); nskip 0 (or all of them) gives it back its own hashing.
 * 0 or -errno. */
int herd__rp_steer(int fd, int n, const int *skip, int nskip);
/* Does the kernel move a closed listener's queue to its group's others
 * (net.ipv4.tcp_migrate_req)? */
int herd__rp_migrates(void);

/* notify.c: one NOTIFY_SOCKET datagram's text, buf[0..n) (buf has room
 * for a NUL at n; the text is cut in place at each newline). status
 * points into buf (the last STATUS=), or is NULL. */
#define HERD__NOTIFY_MAX 4096
struct herd__notify {
  int ready, stopping, retire, other;
  const char *status;
};
void herd__notify_parse(char *buf, size_t n, struct herd__notify *out);

/* proc.c: the text of /proc/PID/stat, buf[0..n) NUL-terminated at n,
 * into st (clock ticks hz, page size, the boot and real clocks now in
 * ms). 0, or -EPROTO for text that is not such a line. */
int herd__proc_stat_parse(const char *buf, size_t n, long hz, long page,
                          int64_t boot_now, int64_t real_now, herd_proc_stat_t *st);

/* spawn.c: herd_spawn's plan (env, fds, stdio, ids, group, pdeathsig,
 * signals reset) for a forked copy of this process that runs fn(arg)
 * and exits with its return value (& 0xff) instead of an exec: every fd
 * not in the plan is closed, environ is the plan's. A set-up failure is
 * -errno here, as herd_spawn's. For a multi-threaded caller, fn may only
 * do what is safe after fork. */
int herd__spawn_fn(herd_child_t *child, int (*fn)(void *), void *arg,
                   const herd_spawn_opts_t *opts);

/* Fill a->text from a->ss (inet families). */
void herd__addr_format(herd_addr_t *a);

#endif
