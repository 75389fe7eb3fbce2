/* internal.h - herd__ helpers shared by libherd's files (not installed). */
#ifndef HERD_INTERNAL_H
#define HERD_INTERNAL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "herd.h"
#include "utf8.h"

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

/* A spawn's child copies only the fds below the highest one it is given
 * (spawn.c), so a process of many fds spawns in constant time as long
 * as what it gives is low: its long-lived fds (the cluster's per-worker
 * and per-slot ones) live at or above HERD__FD_LOW, leaving the numbers
 * below it to what a spawn opens and passes. */
#define HERD__FD_LOW 64

/* fd moved at or above HERD__FD_LOW (a CLOEXEC copy; fd closed). fd
 * itself if it is there already, or if no number is free up there. */
int herd__fd_high(int fd);

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

/* A running child whose opts.timeout_ms has passed or whose opts.abort
 * has fired gets its kill_signal, once (spawn.c). */
void herd__child_enforce(herd_child_t *c);

/* JSON: the grammar, the reader and the writer (json.h). */
#include "json.h"

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
/* Give back the channel's buffers that hold nothing (the input read, the
 * output written, no handle waiting): an idle channel costs no buffer
 * (the input one is 256 KiB once a message came). They come back with
 * the next message. */
void herd__chan_trim(herd_chan_t *ch);
/* What a message's top-level "cmd" value (raw JSON, NULL if none) makes
 * it, as Node sees it: CMD_USER (not one of Node's own), or internal:
 * the handle protocol's, NODE_CLUSTER, or another NODE_ one. */
enum { CMD_USER, CMD_OTHER, CMD_HANDLE, CMD_ACK, CMD_NACK, CMD_CLUSTER };
int herd__chan_cmd_kind(const char *v, size_t vlen);
/* The same of the cmd's text itself, n bytes long (c holds at least its
 * first 16 bytes, or all of a shorter one). */
int herd__chan_cmd_named(const char *c, size_t n);
/* Deliver Node's internal messages other than the handle protocol's
 * (NODE_CLUSTER, ...) to herd_chan_recv as well, for a cluster primary. */
void herd__chan_set_internal(herd_chan_t *ch);
/* herd_chan_send with Node's handle type given ("net.Native",
 * "dgram.Native": what cluster's messages carry) rather than read from
 * the fd. */
int herd__chan_send_typed(herd_chan_t *ch, const char *json, size_t len, int fd,
                          const char *type);

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

/* proc.c: /proc/PID/name (pid 0: /proc/self/name) opened read-only,
 * CLOEXEC: the fd, -ESRCH for a pid that is gone, or -errno. */
int herd__proc_open(pid_t pid, const char *name);

/* proc.c: the text of /proc/PID/stat, buf[0..n) NUL-terminated at n,
 * into st (clock ticks hz, page size, the boot and real clocks now in
 * ms). 0, or -EPROTO for text that is not such a line. */
int herd__proc_stat_parse(const char *buf, size_t n, long hz, long page,
                          int64_t boot_now, int64_t real_now, herd_proc_stat_t *st);

/* procmem.c: the memory lines of /proc/PID/status: one line (without its
 * '\n') into the field it names, or nothing; a whole text into a zeroed
 * *m. Lines that are not the kernel's leave their field 0. */
void herd__proc_mem_line(const char *line, size_t len, herd_proc_mem_t *m);
void herd__proc_mem_parse(const char *buf, size_t n, herd_proc_mem_t *m);

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

/* The V8 serialization files (v8ser*.c): the value tree's internals
 * (v8ser_val.c, v8ser_valobj.c), the text and map helpers
 * (v8ser_util.c), the tags. */
#define HERD__V8_INDEX_MAX 4294967294u /* the last array index */
/* trunc(3) without libm, which libherd does not link: a double of
 * magnitude 2^52 or more (or NaN, or infinite) is its own truncation. */
static inline double herd__trunc(double x) {
  if (!(x > -4503599627370496.0 && x < 4503599627370496.0))
    return x;
  return (double)(int64_t)x;
}
#define HERD__VAL_OWNED 1u /* herd_val_t.flags_: the node has a parent */
/* A node of type with extra bytes after it (plus a NUL), its payload's
 * home: v + 1. NULL if out of memory. */
herd_val_t *herd__val_alloc(int type, size_t extra);
/* A STRING node of len bytes of valid WTF-8 (not checked). */
herd_val_t *herd__val_str_wtf8(const char *s, size_t len);
/* A STRING node with room for len bytes at v->str.s, to be filled with
 * valid WTF-8 (the NUL after them is there). */
herd_val_t *herd__val_str_new(size_t len);
/* A REGEXP node of source (len bytes of valid WTF-8) and flags (not
 * checked). */
herd_val_t *herd__val_regexp_new(const char *source, size_t len,
                                 uint32_t flags);
/* x as JS's Number.prototype.toString writes it (and so
 * JSON.stringify, for a finite x other than -0): "1.5", "1e+21", "NaN".
 * out has room for 32 bytes; returns the length. */
size_t herd__v8_fmt_number(double x, char *out);
/* Is s[0..len) an array index ("0", "7", not "07", up to
 * HERD__V8_INDEX_MAX)? 1 with *index, else 0. */
int herd__v8_index_key(const char *s, size_t len, uint32_t *index);
/* Append a property without any check (key: len bytes of WTF-8, copied;
 * NULL for the index). Then herd__val_props_finish sorts the index keys
 * and looks for duplicates: 0, or HERD_EV8DATA (a duplicate; for an
 * ARRAY also a "length" key). v is taken only on success. */
int herd__val_prop_add(herd_val_t *obj, const char *key, size_t len,
                       uint32_t index, herd_val_t *v);
int herd__val_props_finish(herd_val_t *obj);
/* A failed add of v to container (a setter that takes v): v is freed
 * unless it has a parent or is the container. Returns err. */
int herd__val_take_fail(herd_val_t *v, const herd_val_t *container, int err);
/* Append to a MAP or SET without checks; v taken only on success. */
int herd__val_list_add(herd_val_t *list, herd_val_t *v);
/* Is v (not a REF) an object, one that has an identity in V8's format? */
int herd__val_is_object(const herd_val_t *v);
/* utf8.h: the one UTF-8 decoder and encoder and hex digits */
/* s[0..n) (UTF-8, surrogates allowed, faults U+FFFD each) as normal
 * WTF-8: a surrogate pair written as two 3-byte sequences is joined into
 * its code point. out NULL: just count. Returns the length. */
size_t herd__wtf8_norm(const uint8_t *s, size_t n, uint8_t *out);
/* How many of s[0..n) from the start are ASCII (below 0x80), read a word
 * at a time: strings on the channel are mostly ASCII. */
size_t herd__ascii_run(const uint8_t *s, size_t n);
/* The same into a new NUL-terminated buffer of *len bytes, or NULL. */
char *herd__wtf8_dup(const char *s, size_t n, size_t *len);
/* UTF-16 code units as WTF-8 (pairs joined). out NULL: just count. */
size_t herd__wtf8_of_utf16(const uint16_t *u, size_t n, uint8_t *out);
/* RegExp flags as JS's .flags writes them (out: room for 10), and back
 * (-EINVAL for a letter JS has not, one twice, or u with v). */
size_t herd__v8_re_flags_str(uint32_t flags, char *out);
int herd__v8_re_flags_parse(const char *s, size_t n, uint32_t *flags);
/* strtod in the C locale, whatever the program's is. */
double herd__v8_strtod(const char *s);
extern const char herd__v8_base64[65];
/* A pointer -> uint32 map (open addressing). */
struct herd__ptrmap {
  const void **keys;
  uint32_t *vals;
  size_t cap, n;
};
int herd__ptrmap_put(struct herd__ptrmap *m, const void *k, uint32_t v);
int herd__ptrmap_get(const struct herd__ptrmap *m, const void *k, uint32_t *v);
void herd__ptrmap_free(struct herd__ptrmap *m);
/* Check opts: the max depth, or -EINVAL. */
int herd__v8_depth(const herd_v8_opts_t *opts, unsigned *depth);
/* The payload of Node's handle frame, as herd_v8_encode writes one into
 * buf[0..cap): {cmd: 'NODE_HANDLE', type, msg: v, xkey: xval} (xkey
 * NULL: no 4th key) - the object taking id 0, v's the next ones. */
ssize_t herd__v8_encode_handle(const herd_val_t *v, const char *type,
                               const char *xkey, const char *xval,
                               void *buf, size_t cap);
#define HERD__V8_OPEN_ERROR 0x80000000u /* in a writer's id map: an Error
                                           being written (Node 20 registers
                                           an Error only at its end) */
/* V8's serialization tags (value-serializer.cc's SerializationTag and
 * ErrorTag), for the reader (v8ser.c, v8ser_decobj.c) and the writer
 * (v8ser_enc.c). */
enum {
  V8T_PADDING = 0x00,
  V8T_VERIFY_COUNT = '?',
  V8T_HOLE = '-',
  V8T_UNDEFINED = '_',
  V8T_NULL = '0',
  V8T_TRUE = 'T',
  V8T_FALSE = 'F',
  V8T_INT32 = 'I',
  V8T_UINT32 = 'U',
  V8T_DOUBLE = 'N',
  V8T_BIGINT = 'Z',
  V8T_UTF8 = 'S',
  V8T_ONE_BYTE = '"',
  V8T_TWO_BYTE = 'c',
  V8T_REF = '^',
  V8T_OBJECT = 'o',
  V8T_END_OBJECT = '{',
  V8T_DENSE = 'A',
  V8T_END_DENSE = '$',
  V8T_SPARSE = 'a',
  V8T_END_SPARSE = '@',
  V8T_DATE = 'D',
  V8T_TRUE_OBJ = 'y',
  V8T_FALSE_OBJ = 'x',
  V8T_NUMBER_OBJ = 'n',
  V8T_BIGINT_OBJ = 'z',
  V8T_STRING_OBJ = 's',
  V8T_REGEXP = 'R',
  V8T_MAP = ';',
  V8T_END_MAP = ':',
  V8T_SET = '\'',
  V8T_END_SET = ',',
  V8T_ARRAYBUFFER = 'B',
  V8T_RESIZABLE_AB = '~',
  V8T_VIEW = 'V',
  V8T_HOST = '\\',
  V8T_ERROR = 'r'
};

enum {
  V8E_EVAL = 'E',
  V8E_RANGE = 'R',
  V8E_REFERENCE = 'F',
  V8E_SYNTAX = 'S',
  V8E_TYPE = 'T',
  V8E_URI = 'U',
  V8E_MESSAGE = 'm',
  V8E_STACK = 's',
  V8E_CAUSE = 'c',
  V8E_END = '.'
};

#define HERD__V8_VERSION 15u /* what Node 20 writes, the newest it reads */
#define HERD__V8_BIGINT_MAX (1u << 27) /* bytes: V8's BigInt::kMaxLengthBits */
#define HERD__V8_NVIEW 13 /* enum herd_view_type's count */
/* Bytes per element of each view type; the Error prototype sub-tag of
 * each error type (0 for Error itself). */
extern const unsigned char herd__v8_elsize[HERD__V8_NVIEW];
extern const char herd__v8_err_proto[HERD_ERROR_URI + 1];

/* errno e's text ("Permission denied"; errtext.c: herd's own, the same
 * under glibc and musl), static and thread-safe; NULL for an e it does
 * not know. */
const char *herd__errtext(int e);

#endif
