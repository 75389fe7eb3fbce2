/*
 * herd.h - libherd, Node.js's process toolkit in C.
 *
 * Conventions (see docs/ and libherd(3)):
 *  - Functions return >= 0 on success (0 or a count) and -errno on failure.
 *    libherd's own error codes sit below -4000; herd_strerror() names both.
 *  - The library never prints, exits, aborts, or installs a signal handler
 *    unless a function says so.
 *  - Every fd the library creates is O_CLOEXEC, except those it hands to a
 *    child on purpose.
 *  - Options structs: a zeroed struct means the defaults, except where a
 *    field says otherwise (herd_cluster_opts_t is filled by its _INIT
 *    macro); new fields are added at the end.
 *  - ABI: not yet stable before 1.0. Each minor version may change the
 *    layout of structs (herd_spawn_opts_t is embedded in
 *    herd_exec_opts_t and herd_cluster_opts_t), so the shared library's
 *    soname carries it (libherd.so.0.MINOR) and a program runs only with
 *    the minor it was built against; herd_cluster_opts_t's abi field is
 *    checked at run time too. The API keeps its names and meaning.
 *  - "borrows" means the caller keeps ownership of an argument; "takes"
 *    means the library closes/frees it, on failure too.
 */
#ifndef HERD_H
#define HERD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HERD_VERSION_MAJOR 0
#define HERD_VERSION_MINOR 2
#define HERD_VERSION_PATCH 0
#define HERD_VERSION_STRING "0.2.0"

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* libherd's own error codes are negative and below HERD_E_BASE, so they
 * never collide with -errno values. */
#define HERD_E_BASE (-4000)
#define HERD_EFRAME (-4001)    /* channel: a line from the peer is not one
                                  JSON text, or a frame not one V8 value
                                  (it was skipped) */
#define HERD_ETOOLONG (-4002)  /* channel: a line or frame from the peer
                                  is longer than max_message (it is being
                                  skipped) */
#define HERD_EPEERGONE (-4003) /* channel: the peer closed it or died */
#define HERD_ESERIAL (-4004)   /* channel: the peer speaks Node's
                                  'advanced' (V8) serialization on a
                                  channel opened for 'json' (open it
                                  with HERD_CHAN_ADVANCED) */
#define HERD_ETRUNC (-4005)    /* channel: the peer closed it in the middle
                                  of a line or frame (it is dropped) */
#define HERD_EV8DATA (-4006)   /* V8 serialization: malformed data (cut
                                  short, a length past the end, counts or
                                  lengths that disagree, a reference to
                                  no object, a duplicate key, ...) */
#define HERD_EV8VERSION (-4007) /* V8 serialization: no header, or a
                                  version other than 13..15 */
#define HERD_EV8UNSUPPORTED (-4008) /* V8 serialization: a value libherd
                                  does not carry (SharedArrayBuffer,
                                  transferred or Wasm objects, legacy or
                                  unknown tags), or a tree Node 20 could
                                  not read back */
#define HERD_EV8DEPTH (-4009)  /* V8 serialization: values nested deeper
                                  than max_depth */
#define HERD_EV8JSON (-4010)   /* V8 serialization: a JSON text that is
                                  not JSON, or not a value of libherd's
                                  mapping (docs/v8.md) */
#define HERD_EJSON (-4011)     /* JSON: a text that is not one JSON text
                                  (where JSON.parse throws a SyntaxError) */
#define HERD_EJSONDEPTH (-4012) /* JSON: arrays and objects nested deeper
                                  than HERD_JSON_MAX_DEPTH */
#define HERD_EJSONTYPE (-4013) /* JSON: a value JSON.stringify throws a
                                  TypeError on (a BigInt, a cycle) */

/* A static, human-readable string for a return code (negative errno or a
 * HERD_E* code). Never NULL. Thread-safe. */
const char *herd_strerror(int err);

/* ------------------------------------------------------------------ */
/* Child processes: herd_spawn (Node's child_process.spawn)            */
/* ------------------------------------------------------------------ */

/*
 * A cancel switch, as Node's AbortController: give it to children
 * (herd_spawn_opts_t.abort) and execs, fire it from anywhere, and each of
 * them is killed with its kill_signal. Once fired it stays fired.
 */
typedef struct herd_abort herd_abort_t;

/* A new, unfired abort in *out (an eventfd, O_CLOEXEC). Returns 0,
 * -EINVAL (out NULL), -ENOMEM, -EMFILE. */
int herd_abort_new(herd_abort_t **out);

/* Fire it. Thread-safe and async-signal-safe (an atomic store and a
 * write(2) to the eventfd; errno is kept): call it from another thread,
 * any callback or a signal handler. Firing twice is harmless. Returns 0,
 * or -EINVAL for NULL. The children and execs using it see it when they
 * are next waited for, polled or stepped, or when their loop wakes on
 * the fd (a blocked herd_child_wait wakes at once, sends the kill signal
 * and waits on for the exit; herd_exec and herd_exec_file return once
 * the killed child is gone). */
int herd_abort_fire(herd_abort_t *a);

/* 1 once fired, else 0 (-EINVAL for NULL). Thread-safe. */
int herd_abort_fired(const herd_abort_t *a);

/* An fd readable (POLLIN) once fired, and from then on (it is never
 * read): for the caller's own loop. Borrowed: valid until herd_abort_free. */
int herd_abort_fd(const herd_abort_t *a);

/* Free it. Not while a child or exec that uses it may still be waited
 * for, polled, stepped or watched by a loop: the abort must outlive them
 * (herd_child_close, herd_exec_free, or the end of the exec or the loop's
 * child watch). Safe on NULL. */
void herd_abort_free(herd_abort_t *a);

/* What a child's fd 0, 1 or 2 is. */
enum herd_stdio_kind {
  HERD_STDIO_INHERIT = 0, /* the parent's own fd of that number (default) */
  HERD_STDIO_PIPE,        /* a new pipe; the parent's end is in child->stdio[i] */
  HERD_STDIO_IGNORE,      /* /dev/null */
  HERD_STDIO_FD           /* the given fd (borrowed) */
};

typedef struct herd_stdio {
  int kind; /* enum herd_stdio_kind */
  int fd;   /* for HERD_STDIO_FD */
} herd_stdio_t;

/* An extra fd for the child: parent_fd (borrowed) becomes child_fd (>= 3)
 * in the child, without O_CLOEXEC. */
typedef struct herd_fdmap {
  int parent_fd;
  int child_fd;
} herd_fdmap_t;

/* How opts.env is used. */
enum herd_env_mode {
  HERD_ENV_INHERIT = 0, /* the parent's environ; opts.env is ignored */
  HERD_ENV_REPLACE,     /* exactly opts.env */
  HERD_ENV_ADD          /* environ, with opts.env's "K=V" entries set over it
                           (an entry "K" without '=' removes K) */
};

/* Spawn flags. */
enum {
  HERD_SPAWN_SETSID = 1u << 0,  /* new session (Node's detached: true) */
  HERD_SPAWN_SETPGID = 1u << 1, /* new process group led by the child, so
                                   herd_child_kill(.., HERD_KILL_GROUP)
                                   reaches its descendants */
  HERD_SPAWN_SETUID = 1u << 2,  /* setuid(opts.uid) */
  HERD_SPAWN_SETGID = 1u << 3,  /* setgid(opts.gid). With either flag and a
                                   root parent, the supplementary groups
                                   are replaced by opts.gid (SETGID) or
                                   cleared (SETUID alone) */
  HERD_SPAWN_NOPATH = 1u << 4,  /* file is used as given, no PATH search */
  HERD_SPAWN_FORK = 1u << 5,    /* use fork() instead of the vfork-style
                                   fast path (for debugging and tests) */
  HERD_SPAWN_LISTEN_PID = 1u << 6, /* set LISTEN_PID to the child's own pid
                                   in its environment (systemd's socket
                                   activation; replaces any LISTEN_PID) */
  HERD_SPAWN_UMASK = 1u << 7,   /* umask(opts.umask) in the child (else it
                                   keeps the parent's) */
  HERD_SPAWN_KILL_GROUP = 1u << 8 /* the timeout's and abort's kill_signal
                                   goes to the child's process group (needs
                                   SETSID or SETPGID, else -EINVAL; a child
                                   that moved to another group gets it
                                   too); without it, to the child alone,
                                   as Node */
};

typedef struct herd_spawn_opts {
  int env_mode;                 /* enum herd_env_mode */
  const char *const *env;       /* NULL-terminated "K=V" strings (borrowed) */
  const char *cwd;              /* working directory of the child, or NULL */
  herd_stdio_t stdio[3];        /* fds 0, 1, 2 */
  const herd_fdmap_t *fds;      /* extra fds (borrowed), nfds entries */
  size_t nfds;
  unsigned flags;               /* HERD_SPAWN_* */
  uid_t uid;                    /* with HERD_SPAWN_SETUID */
  gid_t gid;                    /* with HERD_SPAWN_SETGID */
  const char *argv0;            /* argv[0] the child sees (its title in ps),
                                   or NULL for argv[0] as given */
  int pdeathsig;                /* signal the child gets when the spawning
                                   thread dies (PR_SET_PDEATHSIG), or 0 */
  unsigned umask;               /* with HERD_SPAWN_UMASK: 0 to 0777, else
                                   -EINVAL */
  const char *shell;            /* NULL: no shell. Else run through this
                                   shell, as Node's shell option: argv is
                                   {shell, "-c", command}, command being
                                   file and argv[1..] joined by single
                                   spaces, NOT quoted: spaces, $, ;, * in
                                   them are the shell's. "" = "/bin/sh".
                                   argv0 replaces the shell's argv[0]. A
                                   shell name without '/' is looked up in
                                   PATH (unless HERD_SPAWN_NOPATH). */
  int timeout_ms;               /* kill the child with kill_signal this
                                   long after the start; 0 = none,
                                   negative = -EINVAL. Enforced while
                                   herd_child_wait or herd_child_poll run,
                                   and by herd_loop_child. */
  int kill_signal;              /* for timeout_ms and abort; 0 = SIGTERM */
  herd_abort_t *abort;          /* borrowed, or NULL: when fired, the child
                                   gets kill_signal (as timeout_ms); already
                                   fired at the spawn: -ECANCELED and no
                                   child. Must outlive the child handle. */
} herd_spawn_opts_t;

/* A running or finished child. Caller storage; fill with herd_spawn,
 * release with herd_child_close. */
typedef struct herd_child {
  pid_t pid;
  int pidfd;     /* readable (POLLIN) once the child has exited; -1 after
                    herd_child_close */
  int stdio[3];  /* parent ends of HERD_STDIO_PIPE fds, else -1. stdio[0]
                    is for writing, stdio[1] and stdio[2] for reading. The
                    caller may close them early (set them to -1). */
  int reaped;    /* 1 once the exit status below is valid */
  int exit_code; /* exit status 0-255, or -1 if killed by a signal */
  int term_signal; /* signal that killed it, or 0 */
  int killed;    /* 1 once libherd sent it a signal with success:
                    herd_child_kill (any signal, 0 too) or the kill of
                    opts.timeout_ms or opts.abort; as Node's
                    subprocess.killed (it does not say the child died of
                    it: see term_signal) */
  /* private: the timeout and abort of its options, for wait, poll and
   * the loop */
  uint64_t deadline_ms;  /* herd_now_ms() of the timeout, 0 = none */
  int kill_signal;
  unsigned kill_flags;   /* HERD_KILL_GROUP or 0 */
  herd_abort_t *abort;   /* NULL once acted on */
} herd_child_t;

/*
 * Start FILE with ARGV.
 *
 * file: a path, or a name looked up in PATH like execvp(3) (unless
 * HERD_SPAWN_NOPATH or file contains '/'). argv: NULL-terminated; argv[0]
 * must be present (it is what the child sees, unless opts->argv0). The
 * contract: argv must end with a NULL pointer; libherd cannot detect a
 * missing terminator, so a caller that forgets it reads past the array.
 * opts: NULL for the defaults (inherit stdio, env, cwd).
 *
 * Errors of the child before exec (ENOENT, EACCES, ENOTDIR, a bad cwd, a
 * setuid/setgid failure, ...) are returned here as -errno, through a
 * CLOEXEC pipe; the failed child has been reaped and nothing is left open.
 * -EINVAL: NULL/empty file, NULL argv or argv[0], a bad stdio kind, an
 * extra fd mapped below 3 or twice.
 *
 * The child gets exactly fds 0-2 and opts->fds: every other fd of the
 * parent is closed on exec, CLOEXEC or not. All signal dispositions are
 * reset to SIG_DFL and the signal mask is emptied in the child.
 *
 * Thread-safe (it blocks all signals of the calling thread around the
 * clone), but fds created concurrently by other threads without CLOEXEC
 * are still not inherited, since everything above the child's fds is
 * closed.
 */
int herd_spawn(herd_child_t *child, const char *file, char *const argv[],
               const herd_spawn_opts_t *opts);

/* Reap the child if it has exited (non-blocking). Returns 1 when reaped
 * (now or before), 0 if it still runs, -errno on failure. A running child
 * whose opts.timeout_ms has passed, or whose opts.abort has fired, is
 * sent its kill_signal (once). */
int herd_child_poll(herd_child_t *child);

/* Wait for the child to exit, up to timeout_ms (-1 = forever, 0 = poll).
 * Returns 0 once reaped, -ETIMEDOUT if still running at the deadline,
 * -EINVAL for a timeout below -1. Meanwhile it enforces opts.timeout_ms
 * and opts.abort: at the spawn's deadline, or as soon as the abort
 * fires (from another thread or a signal handler), the child gets its
 * kill_signal, and the wait goes on for its exit. */
int herd_child_wait(herd_child_t *child, int timeout_ms);

/* For a caller with its own loop: milliseconds until the child's
 * opts.timeout_ms deadline (0 if passed: call herd_child_poll), or -1 if
 * it has none (none set, already acted on, or reaped). Watch
 * herd_abort_fd too if the child has an abort. */
int herd_child_timeout(const herd_child_t *child);

enum {
  HERD_KILL_GROUP = 1u << 0 /* signal the child's whole process group (the
                               child must lead one: SETSID or SETPGID) */
};

/* Send SIG to the child (through its pidfd, so never to a recycled pid).
 * Returns 0, -ESRCH once the child has been reaped, -EINVAL for a bad
 * signal, or -EPERM. With HERD_KILL_GROUP and a child that leads no
 * group, -EINVAL. */
int herd_child_kill(herd_child_t *child, int sig, unsigned flags);

/* The shell-style exit status: exit_code, or 128 + term_signal.
 * -1 while not reaped. */
int herd_child_status(const herd_child_t *child);

/* Close the pipe fds and the pidfd. A child still running is killed with
 * SIGKILL and reaped first, so no zombie is ever left behind. Safe to call
 * twice. */
void herd_child_close(herd_child_t *child);

/* ------------------------------------------------------------------ */
/* exec / execFile: run to completion and capture the output           */
/* ------------------------------------------------------------------ */

/* Why an exec ended. */
enum herd_exec_reason {
  HERD_EXEC_EXITED = 1,     /* exited by itself (any code) */
  HERD_EXEC_SIGNALED,       /* killed by a signal we did not send */
  HERD_EXEC_TIMEDOUT,       /* killed by us: timeout_ms passed */
  HERD_EXEC_MAXBUFFER,      /* killed by us: an output exceeded max_buffer */
  HERD_EXEC_CANCELED        /* killed by us: spawn.abort fired */
};

#define HERD_EXEC_DEFAULT_MAXBUF (1024u * 1024u) /* as Node's maxBuffer */

typedef struct herd_exec_opts {
  herd_spawn_opts_t spawn; /* env, cwd, uid/gid, flags...; stdio is ignored
                              (stdin is a pipe fed with input, stdout and
                              stderr are captured). HERD_SPAWN_SETPGID is
                              added unless HERD_SPAWN_SETSID is set, so the
                              kill reaches the whole group. spawn.shell
                              picks the shell (herd_exec) or adds one
                              (herd_exec_file). spawn.abort cancels (reason
                              HERD_EXEC_CANCELED). spawn.timeout_ms and
                              spawn.kill_signal must be 0 (-EINVAL): the
                              exec's own fields below apply. */
  const void *input;       /* written to the child's stdin, then closed */
  size_t input_len;
  size_t max_buffer;       /* bytes per stream; MUST be > 0 (0 is -EINVAL:
                              use HERD_EXEC_OPTS_INIT or
                              herd_exec_opts_init()). SIZE_MAX = no limit */
  int timeout_ms;          /* 0 = none; negative is -EINVAL */
  int kill_signal;         /* sent on timeout, max buffer or abort;
                              0 = SIGTERM */
} herd_exec_opts_t;

#define HERD_EXEC_OPTS_INIT { .max_buffer = HERD_EXEC_DEFAULT_MAXBUF }

/* Fill *opts with the defaults (HERD_EXEC_OPTS_INIT). */
void herd_exec_opts_init(herd_exec_opts_t *opts);

typedef struct herd_exec_result {
  int reason;      /* enum herd_exec_reason */
  int exit_code;   /* 0-255, or -1 if killed by a signal */
  int term_signal; /* the signal, or 0 */
  pid_t pid;
  char *out;       /* captured stdout, NUL-terminated (owned: free with
                      herd_exec_result_free) */
  size_t out_len;
  char *err;       /* captured stderr, NUL-terminated */
  size_t err_len;
} herd_exec_result_t;

/* exec: run COMMAND with /bin/sh -c (or opts->spawn.shell -c). Blocks until the child is gone and
 * its output read to the end (pipes of grand-children that outlive it are
 * not waited for once it has been killed). opts may be NULL (defaults).
 * Returns 0 with *res filled whatever the child did (see res->reason), or
 * -errno with *res zeroed: a spawn error, -EINVAL for bad options, -ENOMEM.
 * On a timeout, max buffer or abort, kill_signal goes to the whole
 * process group, so grand-children die too. An abort fired before the
 * start: -ECANCELED, no child. Fired while it runs (another thread, a
 * signal handler), the call returns as soon as the child is gone, with
 * reason HERD_EXEC_CANCELED. */
int herd_exec(const char *command, const herd_exec_opts_t *opts,
              herd_exec_result_t *res);

/* execFile: run FILE with ARGV, no shell (unless opts->spawn.shell). As
 * herd_exec otherwise. */
int herd_exec_file(const char *file, char *const argv[],
                   const herd_exec_opts_t *opts, herd_exec_result_t *res);

/* Free the buffers of a result; safe on a zeroed result and twice. */
void herd_exec_result_free(herd_exec_result_t *res);

/*
 * Async exec for any event loop: start it, poll the fds it names (plus its
 * timeout), call herd_exec_step whenever any is ready or the timeout
 * passes, until step returns 1. Then take the result and free.
 */
typedef struct herd_exec herd_exec_t;

/* Start an exec (shell != 0: FILE is a command for /bin/sh -c, or
 * opts->spawn.shell -c; argv ignored). Returns 0 and *out, or -errno
 * (spawn errors as herd_spawn, -ECANCELED for an abort already fired). */
int herd_exec_start(herd_exec_t **out, const char *file, char *const argv[],
                    int shell, const herd_exec_opts_t *opts);

/* The fds to watch now: fills up to max entries of fds[] and events[]
 * (EPOLLIN/EPOLLOUT as poll's POLLIN/POLLOUT, which have the same values)
 * and returns how many, at most HERD_EXEC_FDS_MAX. The set changes as
 * streams close: ask again after each step. With spawn.abort it holds
 * the exec's own copy of the abort's fd until the exec has acted on it. */
#define HERD_EXEC_FDS_MAX 5
int herd_exec_fds(const herd_exec_t *x, int *fds, short *events, int max);

/* Milliseconds until step must be called even if no fd is ready (the
 * timeout), or -1 for none. */
int herd_exec_timeout(const herd_exec_t *x);

/* Do all non-blocking work possible. Returns 1 when the exec is finished,
 * 0 if it still runs, -errno on an internal failure (the child is then
 * killed and reaped). */
int herd_exec_step(herd_exec_t *x);

/* Move the result out (after step returned 1). Returns 0 or -EAGAIN if
 * not finished. */
int herd_exec_take(herd_exec_t *x, herd_exec_result_t *res);

/* The child's pid (for logs). */
pid_t herd_exec_pid(const herd_exec_t *x);

/* Free; a running child is killed with SIGKILL (its group) and reaped. */
void herd_exec_free(herd_exec_t *x);

/* ------------------------------------------------------------------ */
/* The message channel: Node's IPC protocol ('json' and 'advanced')    */
/* ------------------------------------------------------------------ */

/*
 * One JSON text per line ("\n"), UTF-8, over an AF_UNIX SOCK_STREAM
 * socket; an fd travels as SCM_RIGHTS with a
 * {"cmd":"NODE_HANDLE","type":T,"msg":M} line, which the receiver answers
 * with {"cmd":"NODE_HANDLE_ACK"} - so the same channel talks to a C or a
 * Node.js peer. In Node's 'advanced' serialization (HERD_CHAN_ADVANCED)
 * each message is instead V8's serialization of a value (herd_val_t)
 * behind a 4-byte big-endian length, the same internal messages as
 * objects. See docs/channel.md for the exact wire format.
 */
typedef struct herd_chan herd_chan_t;
typedef struct herd_val herd_val_t; /* a JS value: "Values in V8's ..." */

#define HERD_CHAN_MAX_MESSAGE_DEFAULT (64u * 1024u * 1024u) /* 64 MiB */
#define HERD_CHAN_HIGH_WATER (128u * 1024u) /* as Node's send() false */

typedef struct herd_chan_opts {
  size_t max_message; /* longest line accepted from the peer, bytes;
                         0 = HERD_CHAN_MAX_MESSAGE_DEFAULT */
  size_t max_queued;  /* most bytes queued for sending before
                         herd_chan_send returns -ENOBUFS; 0 = 2 x
                         max_message + 1 MiB */
  unsigned flags;     /* HERD_CHAN_PLAIN, HERD_CHAN_ADVANCED,
                         HERD_CHAN_NO_JSON; others: -EINVAL */
} herd_chan_opts_t;

/* Plain JSON lines, not Node's channel: every line is a message (a "cmd"
 * starting with NODE_ too), no handle protocol is spoken (no ACK/NACK),
 * descriptors that arrive are closed at once, and herd_chan_send with an
 * fd returns -EINVAL. For protocols of your own over a socket. */
#define HERD_CHAN_PLAIN 1u
/* Node's serialization: 'advanced' (fork(..., {serialization:
 * 'advanced'})): every message a V8 value in a length-prefixed frame. Not
 * with HERD_CHAN_PLAIN (-EINVAL). herd_chan_from_env ignores it (the
 * parent chose: NODE_CHANNEL_SERIALIZATION_MODE). */
#define HERD_CHAN_ADVANCED 2u
/* 'advanced' mode: herd_chan_recv gives msg->val only (msg->json NULL),
 * sparing the JSON rendering of every message. */
#define HERD_CHAN_NO_JSON 4u

/* The channel's serialization (herd_chan_mode). */
enum herd_chan_mode {
  HERD_CHAN_MODE_JSON = 0,    /* JSON lines (also HERD_CHAN_PLAIN) */
  HERD_CHAN_MODE_ADVANCED = 1 /* V8 values in length-prefixed frames */
};

/* A received message. A received fd shares its file with the sender,
 * which may still hold its own copy for a moment: take it out of any
 * epoll set explicitly (EPOLL_CTL_DEL) before closing it, or a stale
 * event may follow. json (NUL-terminated) points into the channel's
 * buffer, or at a static "null" for a handle sent without a message,
 * and stays valid until the next herd_chan_recv, herd_chan_recv_wait,
 * herd_chan_flush_wait (which reads the socket to see ACKs) or
 * herd_chan_close: copy what you keep. fd (owned by
 * the caller from now on, CLOEXEC) is -1 unless a handle came with it;
 * handle_type is then Node's type ("net.Socket", "net.Server", ...).
 * val: in 'advanced' mode the message as a value (a tree owned by the
 * channel, valid as long as json: read it, or copy it with
 * herd_v8_encode / herd_v8_decode), an undefined one for a handle sent
 * without message; json is then its herd_v8_to_json rendering
 * (docs/v8.md), or NULL with HERD_CHAN_NO_JSON. NULL in 'json' mode
 * (herd_json_parse(json) makes one). */
typedef struct herd_chan_msg {
  const char *json;
  size_t len;
  int fd;
  char handle_type[24];
  herd_val_t *val;
} herd_chan_msg_t;

/* Make a channel of a connected AF_UNIX SOCK_STREAM socket (taken: closed
 * on failure too). It is made CLOEXEC; its O_NONBLOCK flag is left as it
 * is: every call is non-blocking by itself (MSG_DONTWAIT), except
 * herd_chan_recv_wait without a timeout, which may sleep in recvmsg.
 * Returns 0, -ENOTSOCK
 * or -EPROTOTYPE for another kind of fd, -EBADF, -ENOMEM. */
int herd_chan_open(herd_chan_t **out, int fd, const herd_chan_opts_t *opts);

/* The child side: open the channel named by NODE_CHANNEL_FD, as a
 * process started by Node's fork() or spawn(..., {stdio: [..., 'ipc']})
 * or by herd_fork does. Both NODE_CHANNEL_FD and
 * NODE_CHANNEL_SERIALIZATION_MODE are removed from the environment, as
 * Node does (not thread-safe: it calls unsetenv). Returns 0; -ENOENT if
 * there is no channel; -EINVAL if the variable is not a number; -EBADF if
 * that fd is closed; -ENOTSOCK / -EPROTOTYPE if it is not a stream socket;
 * -EINVAL for a serialization other than json (or none) and advanced.
 * The channel speaks the serialization the parent chose
 * (HERD_CHAN_ADVANCED and HERD_CHAN_PLAIN in opts are ignored). */
int herd_chan_from_env(herd_chan_t **out, const herd_chan_opts_t *opts);

/* HERD_CHAN_MODE_JSON or HERD_CHAN_MODE_ADVANCED; -EINVAL for NULL. */
int herd_chan_mode(const herd_chan_t *ch);

/* 1 while the channel is open and the peer not known to be gone (Node's
 * subprocess.connected / process.connected), else 0 (NULL too). It
 * turns 0 once a read met the end or a write failed: after
 * herd_chan_recv said HERD_EPEERGONE / HERD_ETRUNC, or a send or flush
 * said -EPIPE. */
int herd_chan_connected(const herd_chan_t *ch);

/* The socket, to watch for herd_chan_events(). */
int herd_chan_fd(const herd_chan_t *ch);

/* EPOLLIN, plus EPOLLOUT while output is queued. */
uint32_t herd_chan_events(const herd_chan_t *ch);

/*
 * Queue one message: json must be one JSON text (validated: -EINVAL
 * otherwise, as a Node peer would crash on it); a trailing newline is
 * added. With fd >= 0 (borrowed: libherd sends a duplicate, so the caller
 * may close its own at once) the fd travels with the message as a Node
 * handle, typed from the fd (a listening stream socket is "net.Server",
 * another stream socket or a pipe "net.Socket", a UDP socket
 * "dgram.Socket"; other fds are "herd.Fd", which a C peer takes and a Node
 * peer cannot). As Node does, nothing queued after a handle is written
 * until the peer acknowledges it.
 *
 * Messages are batched: they leave on herd_chan_flush, in the built-in
 * loop at the end of the iteration, or at once when 64 KiB are queued.
 * Returns 0; 1 when queued but more than HERD_CHAN_HIGH_WATER bytes are
 * waiting (slow down, as Node's send() returning false); -EPIPE once the
 * channel is closed or the peer gone (never a SIGPIPE); -EBADF for a bad
 * fd, before anything is queued; -ENOBUFS past max_queued; -EINVAL.
 *
 * In 'advanced' mode json is read with herd_v8_from_json (docs/v8.md:
 * plain JSON is itself, {"$v8": ...} objects the other JS values; a key
 * twice or a text outside that mapping: -EINVAL) and sent as
 * herd_chan_send_val sends that value.
 */
int herd_chan_send(herd_chan_t *ch, const char *json, size_t len, int fd);

/*
 * Queue one message given as a value (borrowed; read only), with an fd
 * as herd_chan_send. 'advanced' mode: written as Node 20's V8 serializer
 * writes it (herd_v8_encode, nesting up to HERD_V8_MAX_DEPTH_DEFAULT);
 * a frame of 2 GiB or more (Node cannot read it): -EMSGSIZE.
 * 'json' mode: as Node's process.send does, JSON.stringify's text
 * (herd_json_stringify: a Map is {}, an undefined property left out;
 * undefined itself, a BigInt or a cycle: -EINVAL). Returns as
 * herd_chan_send, or HERD_EV8DEPTH / HERD_EV8UNSUPPORTED / -EINVAL for a
 * tree the encoder refuses (nothing queued).
 */
int herd_chan_send_val(herd_chan_t *ch, const herd_val_t *val, int fd);

/* Write what the socket takes now. Returns the bytes still queued (0 =
 * all sent), or -EPIPE / -errno. Never blocks. */
ssize_t herd_chan_flush(herd_chan_t *ch);

/* Bytes queued for sending. */
size_t herd_chan_queued(const herd_chan_t *ch);

/*
 * Take the next message, reading the socket if none is buffered (never
 * blocks). Returns 1 with *msg filled; 0 if none is available yet;
 * HERD_EPEERGONE once the peer closed the channel and every message before
 * that was taken (HERD_ETRUNC first, once, if it closed in the middle of
 * a line: the part is dropped); HERD_EFRAME for a line that is not JSON (the line is
 * dropped; the next call goes on with the next line); HERD_ETOOLONG when a
 * line exceeds max_message (it is dropped as it arrives, memory stays
 * bounded; the next call goes on after it); HERD_ESERIAL if the stream
 * starts like Node's 'advanced' serialization. Node's internal messages
 * (a "cmd" starting with "NODE_") are handled, never returned.
 *
 * 'advanced' mode: the same, per frame: HERD_ETOOLONG as soon as a
 * frame's length says more than max_message (nothing is allocated for
 * it; its bytes are dropped as they arrive), HERD_EFRAME for a frame of
 * length 0 or whose payload herd_v8_decode refuses (malformed, unknown
 * tags, nested deeper than HERD_V8_MAX_DEPTH_DEFAULT; any fd that came
 * with it waits for the next handle frame, as with a line), HERD_ETRUNC
 * for a frame cut short by the end. msg->val holds the value.
 */
int herd_chan_recv(herd_chan_t *ch, herd_chan_msg_t *msg);

/* Blocking helpers for simple programs (timeout_ms -1 = forever).
 * recv_wait: 1 with a message, or -ETIMEDOUT and the codes of recv.
 * flush_wait: 0 once everything queued is written (a handle also
 * acknowledged), or -ETIMEDOUT / -EPIPE. While it waits for an ACK, the
 * peer's messages stay buffered for herd_chan_recv (a line too long is
 * dropped as recv would, and recv reports it); HERD_ETOOLONG if a line
 * too long arrives behind messages not yet taken, and -ENOBUFS once more
 * than max_message bytes of messages wait (it reads no further, so a
 * peer flooding us cannot exhaust memory): take them with
 * herd_chan_recv, then wait again. */
int herd_chan_recv_wait(herd_chan_t *ch, herd_chan_msg_t *msg,
                        int timeout_ms);
int herd_chan_flush_wait(herd_chan_t *ch, int timeout_ms);

/* Close the channel (the peer sees EOF, Node's 'disconnect'); queued
 * output is dropped (flush_wait first to keep it), received fds not yet
 * taken are closed. */
void herd_chan_close(herd_chan_t *ch);

/* Start FILE with a channel, as Node's child_process.fork: the child's
 * end of a socketpair is fd 3 (or, if opts->fds maps something there,
 * the lowest number from 3 up that opts->fds leaves free) and
 * NODE_CHANNEL_FD / NODE_CHANNEL_SERIALIZATION_MODE=json are added to
 * its environment. HERD_FORK_ADVANCED in opts->flags is Node's
 * {serialization: 'advanced'}: the mode is advanced, in the child's
 * environment and on our end. Otherwise as herd_spawn. */
#define HERD_FORK_ADVANCED (1u << 31) /* herd_spawn_opts_t.flags, herd_fork
                                         only (herd_spawn, herd_exec and
                                         the cluster: -EINVAL) */
int herd_fork(herd_child_t *child, herd_chan_t **chan, const char *file,
              char *const argv[], const herd_spawn_opts_t *opts);

/* Fork the calling process: the child runs fn(its channel, arg) and ends
 * with _exit(fn's return value) after flushing stdio; it never returns
 * into the caller. The parent gets the child and its channel. The child
 * starts with an empty signal mask (handlers are kept, as fork(2) does)
 * and a copy of every fd of the parent: close what it does not need, and
 * do not use the parent's herd_loop there (its epoll set is shared with
 * the parent: make a new loop). In a multi-threaded parent the child may
 * only use what is safe after fork. Returns 0 or -errno. */
int herd_fork_fn(herd_child_t *child, herd_chan_t **chan,
                 int (*fn)(herd_chan_t *ch, void *arg), void *arg);

/* ------------------------------------------------------------------ */
/* The event loop: epoll + signalfd + timerfd + pidfd                  */
/* ------------------------------------------------------------------ */

typedef struct herd_loop herd_loop_t;

/* Called with the epoll events (EPOLLIN, EPOLLOUT, EPOLLHUP, EPOLLERR). */
typedef void (*herd_io_cb)(herd_loop_t *loop, int fd, uint32_t events,
                           void *data);

typedef struct herd_timer herd_timer_t;
typedef void (*herd_timer_cb)(herd_loop_t *loop, herd_timer_t *t, void *data);

/* A timer: caller storage, zero it before first use. */
struct herd_timer {
  uint64_t due_ms;    /* private */
  herd_timer_cb cb;   /* private */
  void *data;         /* private */
  size_t heap_index;  /* private: index + 1 in the loop's heap, 0 = idle */
  int unref;          /* private: herd_loop_timer_ref */
};

/* Called with the signal's siginfo fields the loop read from signalfd. */
typedef void (*herd_signal_cb)(herd_loop_t *loop, int sig, pid_t from_pid,
                               void *data);

/* Called once the child has exited and been reaped (its status is in
 * child->exit_code / term_signal). */
typedef void (*herd_child_cb)(herd_loop_t *loop, herd_child_t *child,
                              void *data);

/* Called when an async exec finished: res points to a result that lives
 * only during the call, but its buffers (out, err) become the callee's:
 * copy the struct and free the buffers with herd_exec_result_free. On
 * failure err < 0 and res is NULL. */
typedef void (*herd_exec_cb)(herd_loop_t *loop, int err,
                             herd_exec_result_t *res, void *data);

int herd_loop_new(herd_loop_t **out);

/* Free the loop. Watched fds are not closed (they are borrowed); blocked
 * signals are unblocked again; async execs still running are killed. */
void herd_loop_free(herd_loop_t *loop);

/* The loop's epoll fd, to nest the loop in another (readable when
 * herd_loop_run_once(loop, 0) has work). */
int herd_loop_fd(const herd_loop_t *loop);

/* Watch fd (borrowed) for events (EPOLLIN | EPOLLOUT ...). -EEXIST if
 * watched already. */
int herd_loop_add(herd_loop_t *loop, int fd, uint32_t events, herd_io_cb cb,
                  void *data);
int herd_loop_mod(herd_loop_t *loop, int fd, uint32_t events);
int herd_loop_del(herd_loop_t *loop, int fd);

/* Start (or restart) a one-shot timer firing after ms milliseconds. */
int herd_loop_timer_start(herd_loop_t *loop, herd_timer_t *t, uint64_t ms,
                          herd_timer_cb cb, void *data);
void herd_loop_timer_stop(herd_loop_t *loop, herd_timer_t *t);

/* Deliver SIG through the loop's signalfd: the loop blocks it in the
 * calling thread (call before starting threads). cb NULL stops it. */
int herd_loop_signal(herd_loop_t *loop, int sig, herd_signal_cb cb,
                     void *data);

/* Watch a child (borrowed; must outlive the watch) through its pidfd; the
 * loop reaps it and calls cb once. Stop watching before closing the child
 * if it may still run (herd_loop_child_stop; -ENOENT if not watched).
 * The child's opts.timeout_ms and opts.abort are honoured: a timer and a
 * copy of the abort's fd (O_CLOEXEC) are kept with the watch, and the
 * child gets its kill_signal when either comes; cb runs at its exit. */
int herd_loop_child(herd_loop_t *loop, herd_child_t *child, herd_child_cb cb,
                    void *data);
int herd_loop_child_stop(herd_loop_t *loop, herd_child_t *child);

/* Called for each message of a watched channel (err 0, msg filled: the
 * fd, if any, is the callee's), for HERD_EFRAME / HERD_ETOOLONG (msg NULL;
 * the channel goes on), and once with HERD_EPEERGONE or another error when
 * the channel ends (msg NULL; the loop stops watching it, the caller
 * still owns and closes it). */
typedef void (*herd_chan_cb)(herd_loop_t *loop, herd_chan_t *ch, int err,
                             herd_chan_msg_t *msg, void *data);

/* Watch a channel (borrowed until herd_loop_chan_stop or its end): its
 * messages go to cb, and its queued output is flushed at the end of each
 * loop iteration. herd_loop_chan_stop: -ENOENT if not watched, -EBUSY
 * for the channel of a herd_loop_child_io watch. */
int herd_loop_chan(herd_loop_t *loop, herd_chan_t *ch, herd_chan_cb cb,
                   void *data);
int herd_loop_chan_stop(herd_loop_t *loop, herd_chan_t *ch);

/* Bound what one watched channel may cost the loop (a peer of another
 * trust than yours, e.g. a control client): at most batch messages per
 * iteration (0 = the default, 4096; the rest waits in the channel for
 * the next iteration, which then does not sleep), and no reading at all
 * while more than max_out bytes of ours wait for the peer to read them
 * (0 = no such limit): a peer that sends requests and never reads the
 * replies is not served until it does. -ENOENT if not watched. */
int herd_loop_chan_limit(herd_loop_t *loop, herd_chan_t *ch, int batch,
                         size_t max_out);

/* A child with its output, as Node's ChildProcess emits it: on_data for
 * each read of child->stdio[1] (stream 1) or stdio[2] (stream 2) -
 * Node's 'data', len > 0, buf valid during the call; on_exit once the
 * child is reaped - Node's 'exit'; on_close once after the exit AND the
 * end of every pipe the watch reads (and of chan, if any) - Node's
 * 'close'. Any callback may be NULL (output is then read and dropped). */
typedef void (*herd_data_cb)(herd_loop_t *loop, herd_child_t *child,
                             int stream, const char *buf, size_t len,
                             void *data);
typedef struct herd_child_io_opts {
  herd_data_cb on_data;
  herd_child_cb on_exit;
  herd_child_cb on_close;
  herd_chan_t *chan;        /* the child's IPC channel (herd_fork's), or
                               NULL: watched with it as herd_loop_chan
                               would, its end counted for on_close */
  herd_chan_cb on_message;  /* chan's messages and end (herd_chan_cb);
                               required with chan */
} herd_child_io_opts_t;

/* Watch a child (borrowed; must outlive the watch) together with its
 * output pipes, child->stdio[1] and stdio[2] (those that are not -1; the
 * loop makes them non-blocking and reads them from now on), and
 * opts->chan (borrowed as by herd_loop_chan; herd_loop_chan_stop on it
 * is -EBUSY). At a pipe's end (EOF, or a read error) the loop closes it
 * and sets it to -1. Order: every on_data of a stream before its end;
 * on_exit before on_close; on_exit may come before or after the last
 * on_data or message (a grandchild may hold a pipe open after the child
 * exits: close waits for it). After on_close the watch is over and the
 * child (and chan) may be closed. opts is copied. -EINVAL (NULL loop,
 * child or opts, no pid, chan without on_message), -EBADF (no pidfd),
 * -EEXIST (the child, one of its pipes or chan is watched already).
 * herd_loop_child_io_stop ends it without more callbacks and leaves the
 * pipes not yet at their end open in child->stdio, still non-blocking
 * (-ENOENT if this loop does not watch that child, or its close has
 * run); a failed herd_loop_child_io may also have left them
 * non-blocking. */
int herd_loop_child_io(herd_loop_t *loop, herd_child_t *child,
                       const herd_child_io_opts_t *opts, void *data);
int herd_loop_child_io_stop(herd_loop_t *loop, herd_child_t *child);

/* Run an exec or execFile (shell != 0: file is a command) in the loop. */
int herd_loop_exec(herd_loop_t *loop, const char *file, char *const argv[],
                   int shell, const herd_exec_opts_t *opts, herd_exec_cb cb,
                   void *data);

/* Reference (ref 1, how every watch starts) or unreference (ref 0) a
 * watch, as libuv's uv_ref / uv_unref: herd_loop_run does not wait for
 * unreferenced watches, which still fire while something referenced
 * keeps the loop running. fd: an fd of herd_loop_add, or an output pipe
 * of herd_loop_child_io (Node's child.stdout.unref()); child: the
 * child's exit, not its pipes (Node's child.unref()); a timer keeps its
 * state across stops and starts (zeroed: referenced); a signal that
 * herd_loop_signal delivers is referenced until herd_loop_signal_ref
 * (unlike Node's process.on(signal): herd's callers wait for signals).
 * Returns 0, -EINVAL, or -ENOENT when not watched by this loop. */
int herd_loop_fd_ref(herd_loop_t *loop, int fd, int ref);
int herd_loop_timer_ref(herd_loop_t *loop, herd_timer_t *t, int ref);
int herd_loop_child_ref(herd_loop_t *loop, herd_child_t *child, int ref);
int herd_loop_chan_ref(herd_loop_t *loop, herd_chan_t *ch, int ref);
int herd_loop_signal_ref(herd_loop_t *loop, int sig, int ref);

/* Run one iteration: wait up to timeout_ms (-1 forever) for events, run
 * their callbacks. Returns the number of callbacks run, or -errno. */
int herd_loop_run_once(herd_loop_t *loop, int timeout_ms);

/* Run until herd_loop_stop or nothing referenced is left (no fds,
 * timers, signals, children, channels or execs, but unreferenced ones).
 * Returns 0 or -errno. */
int herd_loop_run(herd_loop_t *loop);
void herd_loop_stop(herd_loop_t *loop);

/* ------------------------------------------------------------------ */
/* The worker side: systemd's protocols, as herd (or systemd) runs us   */
/* ------------------------------------------------------------------ */

/* The listening sockets passed by socket activation (LISTEN_FDS /
 * LISTEN_PID, as sd_listen_fds): they are fds 3 .. 3+n-1. Returns n (0
 * when none are for this process), -EINVAL for malformed variables, or
 * -EBADF when a promised fd is not open. The fds are made CLOEXEC. With unset_env, LISTEN_FDS, LISTEN_PID and
 * LISTEN_FDNAMES are removed (not thread-safe). */
int herd_listen_fds(int unset_env);

/* Send a state to the supervisor's NOTIFY_SOCKET, as sd_notify: e.g.
 * "READY=1", "STOPPING=1", "STATUS=warming up", "WATCHDOG=1", several
 * separated by newlines. Returns 1 when sent, 0 when there is no
 * NOTIFY_SOCKET, or -errno. */
int herd_notify(const char *state);

/* This worker's slot under herd (HERD_WORKER_ID, 0..N-1, stable across
 * restarts of the slot), or -ENOENT when not run by herd. */
int herd_worker_id(void);

/* Ask the supervisor to replace this worker (the classic 'suicide'
 * message): it starts the successor now; exit once your work is done.
 * Sends "STOPPING=1" plus "X_HERD_RETIRE=1". Returns as herd_notify. */
int herd_retire(void);

/* ------------------------------------------------------------------ */
/* Listening addresses                                                 */
/* ------------------------------------------------------------------ */

#include <sys/socket.h>

typedef struct herd_addr {
  int family;                  /* AF_INET, AF_INET6 or AF_UNIX */
  struct sockaddr_storage ss;
  socklen_t len;
  unsigned mode;               /* AF_UNIX: file mode to set, 0 = umask's */
  char text[128];              /* printable: 127.0.0.1:8080, [::1]:80,
                                  unix:/run/x.sock */
} herd_addr_t;

/* Parse "HOST:PORT" (numeric IPv4, "localhost" or "*"), ":PORT" and
 * "PORT" (every IPv4 address), "[IPV6]:PORT", or "unix:PATH[,mode=0660]"
 * (a file: no abstract namespace, "unix:@x" is a file named @x).
 * No DNS. Returns 0 or -EINVAL (-ENAMETOOLONG for a long path). */
int herd_addr_parse(const char *spec, herd_addr_t *addr);

enum {
  HERD_LISTEN_REUSEPORT = 1u << 0,
  HERD_LISTEN_DUALSTACK = 1u << 1 /* IPv6 without V6ONLY: [::] takes IPv4
                                     too (as Node's listen(port)) */
};

/* Bind and listen (CLOEXEC, blocking: the fd is meant to be shared with
 * workers). TCP gets SO_REUSEADDR (and SO_REUSEPORT with the flag; IPv6
 * is V6ONLY unless HERD_LISTEN_DUALSTACK); a Unix socket file left by a dead server is replaced, a
 * live one or another kind of file is -EADDRINUSE. backlog <= 0 means
 * SOMAXCONN. *bound (optional) gets the real address (port 0 -> the port
 * the kernel chose). Returns the fd or -errno (-EADDRINUSE, -EACCES for a
 * privileged port, ...). */
int herd_listen_open(const herd_addr_t *addr, int backlog, unsigned flags,
                     herd_addr_t *bound);

/* ------------------------------------------------------------------ */
/* The cluster: a master and a pool of workers sharing its sockets     */
/* ------------------------------------------------------------------ */

enum herd_balance {
  HERD_BALANCE_SHARED = 0, /* one socket per address, shared by all */
  HERD_BALANCE_REUSEPORT,  /* one SO_REUSEPORT socket per slot and address,
                              kept by the master across restarts */
  HERD_BALANCE_ROUNDROBIN  /* the master accepts and hands each connection
                              to the next ready worker over its channel
                              (implies HERD_CLUSTER_IPC; workers get no
                              listening fds): the message "herd:connection"
                              with the socket as a net.Socket handle */
};

enum herd_ready {
  HERD_READY_IMMEDIATE = 0, /* ready once it has lived for the settle
                               time (settle_ms, 200 ms by default), so
                               that a program that dies at once is a
                               failed start, not a ready worker */
  HERD_READY_NOTIFY,        /* ready when it sends READY=1 */
  HERD_READY_DELAY,         /* ready ready_delay_ms after start, if alive */
  HERD_READY_LISTENING,     /* HERD_CLUSTER_NODE: ready at its first
                               server's "listening" message */
  HERD_READY_IPC            /* ready when it sends the message "ready" on
                               its channel (process.send('ready'), PM2's
                               wait_ready) */
};

/* What happened (one event per line of a supervisor's log). */
enum herd_event_type {
  HERD_EV_LISTEN = 1, /* text: the address bound */
  HERD_EV_STARTED,    /* slot, pid; reason: HERD_REASON_SUCCESSOR for the
                         new worker of a reload, a replacement or a
                         retiring worker */
  HERD_EV_READY,      /* slot, pid, uptime_ms: how long it took */
  HERD_EV_ALL_READY,  /* code: workers; every slot has a ready worker (once
                         per start, restart, scale-up or reload) */
  HERD_EV_EXITED,     /* slot, pid, code or sig, uptime_ms; reason: the
                         exit's (STOPPED, KILLED, CRASHED, EXITED,
                         RETIRED, DISCONNECTED) */
  HERD_EV_RESTART,    /* slot: next start after delay_ms (0 = now) */
  HERD_EV_PARKED,     /* slot: code early deaths in the restart window;
                         retried after delay_ms */
  HERD_EV_STOPPING,   /* slot, pid, sig: asked to stop; reason: why
                         (SHUTDOWN, RELOAD, RESTART, SCALE_DOWN, RETIRED,
                         REPLACED with text the caller's why, HANDOFF,
                         DISCONNECTED: herd_cluster_disconnect, sig 0) */
  HERD_EV_KILLED,     /* slot, pid: SIGKILLed (reason: READY_TIMEOUT, or
                         KILLED: the kill timeout or a second stop; or
                         LEFT_BEHIND: pid is a process a worker of slot
                         left behind, which did not stop in time) */
  HERD_EV_RETIRE,     /* slot, pid: it asked to be replaced; code 1: its
                         successor starts now, 0: after it exits */
  HERD_EV_STATUS,     /* slot, pid, text: STATUS= from the worker */
  HERD_EV_RELOAD,     /* reason: RELOAD_BEGIN, RELOAD_DONE, RELOAD_FAILED
                         (code: -errno, or 0: a new worker exited before it
                         was ready; the slots not reloaded keep their old
                         workers) */
  HERD_EV_SCALE,      /* code: the new worker count */
  HERD_EV_SHUTDOWN,   /* reason: SHUTDOWN or GRACEFUL; sig: the signal, 0
                         for herd_cluster_stop */
  HERD_EV_SIGNAL,     /* sig; reason: REOPEN (SIGUSR1: reopen your logs)
                         or IGNORED */
  HERD_EV_ERROR,      /* slot (-1 if none), pid, code: -errno; reason:
                         SPAWN_FAILED, BIND_FAILED (text: the address),
                         HAND_FAILED, STEER_FAILED */
  HERD_EV_NOTICE,     /* no failure of the master, but worth an operator's
                         attention; reason: NOTIFY_FOREIGN (pid: the
                         sender), LEFT_BEHIND (slot, pid: the process),
                         LISTEN_STALL (text: the address, code: connections
                         queued, delay_ms: for how long, sig: the socket's
                         index, slot: a reuseport slot's socket, else -1),
                         LISTEN_SERVED (the same, once it drains),
                         HANDOFF_FAILED (slot, pid: took none of the
                         connections handed to it in 3 s; it is replaced),
                         ACCEPT_FAILED (roundrobin: code -errno, text the
                         address: out of fds, say; accepting pauses and is
                         retried every 100 ms), ACCEPT_RESUMED (the same
                         address: accepting again) */
  HERD_EV_MESSAGE,    /* slot, pid, text: a message the worker sent on its
                         channel (one JSON text; not Node's internal ones) */
  HERD_EV_NODE        /* HERD_CLUSTER_NODE: slot, pid; reason NODE_SOCKET
                         (text: the address, code: -errno): the socket it
                         asked for (listen(), bind()) could not be given
                         (a new one bound is HERD_EV_LISTEN);
                         NODE_BAD_MESSAGE (text: the message, cut): a
                         cluster message herd could not act on (once per
                         worker); NODE_REFUSED (text: the address): it
                         refused a connection (maxConnections), which went
                         to another worker (once per worker) */
};

/* Why: the one vocabulary of events and of a worker's last exit. */
enum herd_reason {
  HERD_REASON_NONE = 0,
  /* a worker's exit */
  HERD_REASON_STOPPED,        /* "stopped": after herd asked it to stop */
  HERD_REASON_KILLED,         /* "killed": SIGKILLed by herd */
  HERD_REASON_CRASHED,        /* "crashed": unasked, code != 0 or a signal */
  HERD_REASON_EXITED,         /* "exited": unasked, code 0 */
  HERD_REASON_RETIRED,        /* "retired": after it retired */
  /* why a worker is asked to stop, or started */
  HERD_REASON_SHUTDOWN,       /* "shutdown" */
  HERD_REASON_GRACEFUL,       /* "graceful": a shutdown without kill timeout */
  HERD_REASON_RELOAD,         /* "reload": its successor is ready */
  HERD_REASON_RESTART,        /* "restart" */
  HERD_REASON_SCALE_DOWN,     /* "scale down" */
  HERD_REASON_REPLACED,       /* "replaced": herd_cluster_replace */
  HERD_REASON_HANDOFF,        /* "handoff": it took no handed connection */
  HERD_REASON_SUCCESSOR,      /* "successor": started to take over a slot */
  /* failures */
  HERD_REASON_SPAWN_FAILED,   /* "spawn failed" */
  HERD_REASON_READY_TIMEOUT,  /* "ready timeout" */
  HERD_REASON_HAND_FAILED,    /* "hand failed": a connection not handed */
  HERD_REASON_BIND_FAILED,    /* "bind failed" */
  HERD_REASON_STEER_FAILED,   /* "steer failed": reuseport steering */
  /* reloads */
  HERD_REASON_RELOAD_BEGIN,   /* "reload begin" */
  HERD_REASON_RELOAD_DONE,    /* "reload done" */
  HERD_REASON_RELOAD_FAILED,  /* "reload failed" */
  /* notices */
  HERD_REASON_NOTIFY_FOREIGN, /* "notify foreign" */
  HERD_REASON_LEFT_BEHIND,    /* "left behind" */
  HERD_REASON_LISTEN_STALL,   /* "listen stall" */
  HERD_REASON_LISTEN_SERVED,  /* "listen served" */
  HERD_REASON_HANDOFF_FAILED, /* "handoff failed" */
  /* signals */
  HERD_REASON_REOPEN,         /* "reopen": SIGUSR1 */
  HERD_REASON_IGNORED,        /* "ignored" */
  /* more notices (added in 0.2) */
  HERD_REASON_ACCEPT_FAILED,  /* "accept failed" */
  HERD_REASON_ACCEPT_RESUMED, /* "accept resumed" */
  /* Node's cluster (added in 0.3) */
  HERD_REASON_NODE_SOCKET,    /* "node socket" */
  HERD_REASON_NODE_BAD_MESSAGE, /* "node bad message" */
  HERD_REASON_NODE_REFUSED,   /* "node refused" */
  /* a worker's exit (added in 0.3) */
  HERD_REASON_DISCONNECTED    /* "disconnected": it exited after
                                 herd_cluster_disconnect (Node's
                                 worker.exitedAfterDisconnect) */
};

/* The reason's name (the quoted words above); "?" for an unknown one.
 * Static, never NULL. */
const char *herd_reason_name(int reason);

typedef struct herd_event {
  int type;          /* enum herd_event_type */
  int reason;        /* enum herd_reason */
  int slot;
  pid_t pid;
  int code;          /* exit code, or -errno for HERD_EV_ERROR */
  int sig;           /* terminating or sent signal, 0 if none */
  uint64_t delay_ms;
  uint64_t uptime_ms;
  const char *text;  /* data (an address, a STATUS= text), not wording;
                        valid during the callback, may be NULL */
} herd_event_t;

typedef struct herd_cluster herd_cluster_t;

typedef void (*herd_event_cb)(herd_cluster_t *c, const herd_event_t *ev,
                              void *data);
/* A whole line of a worker's output (stream 1 or 2), without its '\n'. */
typedef void (*herd_output_cb)(herd_cluster_t *c, int slot, pid_t pid,
                               int stream, const char *line, size_t len,
                               void *data);

enum {
  HERD_CLUSTER_PIPE_OUTPUT = 1u << 0, /* workers' stdout/stderr go through
                                         on_output, line by line (else
                                         they are inherited) */
  HERD_CLUSTER_IPC = 1u << 1,         /* give workers a Node-format channel
                                         (NODE_CHANNEL_FD) */
  HERD_CLUSTER_NODE = 1u << 2,        /* be the primary of Node's cluster
                                         module (implies IPC): workers get
                                         NODE_UNIQUE_ID, so that an
                                         unmodified Node app's listen() and
                                         bind() ask the master for their
                                         sockets (docs/node-cluster.md);
                                         balance shared or roundrobin */
  HERD_CLUSTER_STICKY = 1u << 3       /* with HERD_CLUSTER_NODE and
                                         HERD_BALANCE_ROUNDROBIN: a client
                                         address always goes to the same
                                         slot's worker (while it is ready):
                                         WebSocket / socket.io polling */
};

#define HERD_MAX_WORKERS 4096 /* herd_cluster_opts.workers, _scale */

typedef struct herd_cluster_opts {
  /* Fill with HERD_CLUSTER_OPTS_INIT (or herd_cluster_opts_init): the
   * defaults are written there once, so that every field means what it
   * says, 0 included (a kill timeout of 0 kills at once). abi is
   * sizeof(herd_cluster_opts_t) as the caller's header has it:
   * herd_cluster_run refuses a struct that was not so filled, or that
   * was built against another header (-EINVAL). */
  size_t abi;
  int workers;                /* 1..HERD_MAX_WORKERS, or 0: the number of
                                 online CPUs [0] */
  const char *const *listen;  /* NULL-terminated address specs
                                 (herd_addr_parse) to bind */
  const int *listen_fds;      /* or sockets already bound (borrowed; e.g.
                                 from systemd): used as they are */
  size_t nlisten_fds;
  int balance;                /* enum herd_balance [shared] */
  int ready;                  /* enum herd_ready [immediate] */
  int ready_delay_ms;         /* HERD_READY_DELAY: alive this long [0] */
  int settle_ms;              /* HERD_READY_IMMEDIATE: how long a new
                                 worker must live to count as ready [200] */
  int ready_timeout_ms;       /* HERD_READY_NOTIFY, _LISTENING, _IPC: a
                                 starting worker not ready by then is
                                 killed and counts as a failed start
                                 [60000] */
  int kill_timeout_ms;        /* stop signal -> SIGKILL [5000] */
  int stop_signal;            /* [SIGTERM] */
  int max_restarts;           /* early deaths of a slot within
                                 restart_window_ms before it is parked
                                 (1..) [10] */
  int restart_window_ms;      /* [60000] */
  int min_uptime_ms;          /* a worker that dies sooner, or before it
                                 was ready, died early: back off [1000] */
  int cooldown_ms;            /* a parked slot is retried after this
                                 [60000] */
  unsigned flags;             /* HERD_CLUSTER_* */
  const char *file;           /* exec workers (when worker_main is NULL) */
  char *const *argv;
  herd_spawn_opts_t spawn;    /* env, cwd, uid/gid, umask for the workers
                                 (stdio, fds, pdeathsig and the group are
                                 herd's; shell, timeout_ms, kill_signal,
                                 abort and HERD_SPAWN_KILL_GROUP are one
                                 child's and -EINVAL here) */
  herd_event_cb on_event;
  herd_output_cb on_output;
  void *data;                 /* for the callbacks */
  /* Called once the loop exists, before the first workers start: add
   * your own fds and timers to herd_cluster_loop(c) (a control socket,
   * a metrics endpoint) and keep c to steer the cluster from them. A
   * negative return aborts the start with that error. Steering from
   * on_init itself: herd_cluster_scale sets how many start,
   * herd_cluster_stop makes herd_cluster_run return 0 with none started,
   * reload and restart do nothing (return 0), replace gives -ENOENT. */
  int (*on_init)(herd_cluster_t *c, void *data);
  /* Extra environment for one slot's worker, as Node's cluster.fork(env):
   * called before each worker of slot starts (its first, a restart, a
   * reload's or a replacement's successor), with data. It returns
   * NULL-terminated "K=V" entries ("K" alone: unset), borrowed until
   * that start is over (a static or per-slot buffer will do), or NULL
   * for none. They win over spawn.env and the inherited environment;
   * herd's own variables win over them (an entry naming LISTEN_FDS,
   * LISTEN_PID, LISTEN_FDNAMES, NOTIFY_SOCKET, HERD_WORKER_ID,
   * NODE_APP_INSTANCE, NODE_UNIQUE_ID, NODE_CHANNEL_FD or
   * NODE_CHANNEL_SERIALIZATION_MODE is left out, as in spawn.env). A
   * forked worker (worker_main) finds them in its environ (getenv). It
   * may not steer the cluster (it runs inside a start). Not read by
   * herd_cluster_update. Added in 0.3. */
  const char *const *(*worker_env)(herd_cluster_t *c, int slot, void *data);
} herd_cluster_opts_t;

#define HERD_SETTLE_MS_DEFAULT 200

#define HERD_CLUSTER_OPTS_INIT                                               \
  {                                                                          \
    .abi = sizeof(herd_cluster_opts_t), .settle_ms = HERD_SETTLE_MS_DEFAULT, \
    .ready_timeout_ms = 60000, .kill_timeout_ms = 5000,                      \
    .stop_signal = 15 /* SIGTERM */, .max_restarts = 10,                     \
    .restart_window_ms = 60000, .min_uptime_ms = 1000, .cooldown_ms = 60000  \
  }

/* Fill *opts with HERD_CLUSTER_OPTS_INIT. */
void herd_cluster_opts_init(herd_cluster_opts_t *opts);

/*
 * Be the master: bind the sockets, start the workers, keep them running,
 * until SIGTERM/SIGINT (stop: stop signal, SIGKILL after the kill
 * timeout; a second one kills at once) or SIGQUIT (graceful: no kill
 * timeout). SIGHUP reloads (slot by slot: successor, ready, then the old
 * one stops), SIGTTIN/SIGTTOU add/remove a worker, SIGUSR1 is reported
 * (HERD_EV_SIGNAL) for log reopening. These signals and SIGCHLD are
 * blocked and read through the loop's signalfd while it runs; every
 * child is reaped (as PID 1, re-parented orphans too).
 *
 * Workers: worker_main(arg) in a forked copy of this process (it must
 * return the exit status; in a multi-threaded program it may only do
 * what is safe after fork), or opts->file/argv exec'd. Either way they
 * get the same plan: the sockets as fds 3.. with LISTEN_FDS/LISTEN_PID/
 * LISTEN_FDNAMES, NOTIFY_SOCKET, HERD_WORKER_ID, a channel at the next fd
 * with HERD_CLUSTER_IPC, their own process group, PR_SET_PDEATHSIG=
 * SIGKILL, every other fd closed.
 *
 * The process is the child subreaper while it runs (PR_SET_CHILD_
 * SUBREAPER): what a worker leaves behind when it daemonizes comes back
 * to it, is reported (HERD_EV_NOTICE, HERD_REASON_LEFT_BEHIND) and is
 * stopped with the workers. It reaps every child it has and takes any
 * that is not a worker for one left behind: a program that runs the
 * cluster starts no children of its own meanwhile.
 *
 * Returns 0 after a clean stop, 1 if workers had to be killed, or -errno
 * if it could not start (a bad or busy address, a missing program) or its
 * loop failed (herd_loop_run_once's error): then every worker and every
 * process left behind is killed and reaped before it returns.
 */
int herd_cluster_run(const herd_cluster_opts_t *opts,
                     int (*worker_main)(void *arg), void *arg);

/*
 * Steering a running cluster: from the loop's own callbacks (on_init,
 * on_event, or a watcher added to herd_cluster_loop) only - none of
 * these is thread-safe, none may be called after herd_cluster_run has
 * returned.
 */

/* The cluster's loop (valid from on_init until herd_cluster_run
 * returns). */
herd_loop_t *herd_cluster_loop(herd_cluster_t *c);

/* A rolling reload, as SIGHUP. Returns 0 if it began, 1 if one was
 * already running (this one follows it), -ECANCELED if the cluster is
 * stopping. Its end is the event HERD_EV_RELOAD with the reason
 * HERD_REASON_RELOAD_DONE (or _FAILED). */
int herd_cluster_reload(herd_cluster_t *c);

/* New settings for the workers started from now on (restarts, a
 * reload's successors, new slots): herd_cluster_reload after it
 * replaces the running ones with zero downtime. Taken from opts: file,
 * argv, spawn (env, env_mode, cwd, umask, flags; not uid, gid and their
 * flags), ready (not HERD_READY_LISTENING without HERD_CLUSTER_NODE, nor
 * HERD_READY_IPC without HERD_CLUSTER_IPC), ready_delay_ms, settle_ms,
 * ready_timeout_ms, kill_timeout_ms, stop_signal, max_restarts (the
 * early deaths counted so far are forgotten when it changes),
 * restart_window_ms, min_uptime_ms, cooldown_ms. The rest (workers:
 * herd_cluster_scale; the sockets, balance, flags, the user, the
 * callbacks) stays as the cluster started: it is not read. Borrows
 * opts' strings and arrays until the next update, or until
 * herd_cluster_run returns. Returns 0, -EINVAL (a value
 * herd_cluster_run would refuse; nothing changed), -ECANCELED if the
 * cluster is stopping. */
int herd_cluster_update(herd_cluster_t *c, const herd_cluster_opts_t *opts);

/* A hard restart (not rolling): every worker is stopped now and a new
 * one started in its slot as soon as it has exited. Returns 0,
 * -EBUSY during a reload, -ECANCELED if stopping. HERD_EV_ALL_READY
 * follows when every slot has a ready worker again. */
int herd_cluster_restart(herd_cluster_t *c);

/* Replace one slot's worker gracefully, as if it had retired: its
 * successor starts now, and the old one is stopped once it is ready
 * (HERD_EV_STOPPING with HERD_REASON_REPLACED and the text why, copied;
 * may be NULL). Returns 0, -ENOENT if
 * the slot has no running worker, -EBUSY if it is already being
 * replaced, -ECANCELED if stopping, or the error of starting the
 * successor (the old worker then stays). */
int herd_cluster_replace(herd_cluster_t *c, int slot, const char *why);

/* Run workers workers (1..HERD_MAX_WORKERS): new slots start, the
 * highest slots stop. Returns 0, -EINVAL, -ECANCELED if stopping,
 * -ENOMEM. */
int herd_cluster_scale(herd_cluster_t *c, int workers);

/* Stop, as SIGTERM (graceful = 0) or SIGQUIT (graceful = 1): a second
 * call kills what is left at once. herd_cluster_run returns once every
 * worker has exited. Returns 0. */
int herd_cluster_stop(herd_cluster_t *c, int graceful);

/* Send one message (json: one JSON text, not one of Node's internal
 * ones: an object whose "cmd" starts with NODE_) to slot's worker, or
 * with slot -1 to every worker that runs, on its channel (as
 * worker.send() in Node's cluster: process.on('message') gets it). The
 * successor of a slot being replaced gets it too. Returns how many
 * workers it was queued for; -EINVAL (not JSON, internal), -ENOTCONN
 * (the workers have no channel: HERD_CLUSTER_IPC), -ENOENT (no such
 * slot, or none running there). */
int herd_cluster_send(herd_cluster_t *c, int slot, const char *json, size_t len);

/* Disconnect slot's worker, as worker.disconnect() in Node's cluster:
 * herd closes its end of the worker's channel (what is queued on it and
 * cannot be written at once is dropped; roundrobin connections not sent
 * yet go to the others) and the worker, which reads EOF, finishes and
 * exits by itself. A HERD_CLUSTER_NODE worker is sent Node's internal
 * disconnect message instead, as Node's primary does: it closes its
 * servers and then its channel, and no connection is offered to it any
 * more. HERD_EV_STOPPING (reason HERD_REASON_DISCONNECTED, sig 0) says
 * so; the worker shows as HERD_WORKER_STOPPING. No signal and no kill
 * timeout follow while the cluster runs (as Node: it may take as long as
 * it needs; a stop, restart, reload or scale-down then treats it as any
 * worker). Its exit, whatever its code, has the reason
 * HERD_REASON_DISCONNECTED (Node's exitedAfterDisconnect), is no crash
 * and no early death, and a new worker starts in the slot at once (herd
 * keeps its N workers; Node's cluster would not). Returns 0; -ENOENT (no
 * such slot, or no running worker there that is not already stopping),
 * -ENOTCONN (no channel: HERD_CLUSTER_IPC is off, or the worker closed
 * its end), -EALREADY (disconnected already), -ECANCELED if stopping.
 * Added in 0.3. */
int herd_cluster_disconnect(herd_cluster_t *c, int slot);

/* Stop (pause != 0) or resume reading the workers' output pipes
 * (HERD_CLUSTER_PIPE_OUTPUT), for an on_output consumer that has fallen
 * behind: meanwhile a worker that fills its pipe blocks in write(). At
 * the end of a stop, reading resumes by itself. Returns 0. */
int herd_cluster_pause_output(herd_cluster_t *c, int pause);

enum herd_worker_state {
  HERD_WORKER_STARTING = 0, /* started, not ready yet */
  HERD_WORKER_READY,
  HERD_WORKER_STOPPING,     /* asked to stop, not exited yet */
  HERD_WORKER_BACKOFF,      /* none running: it restarts after retry_ms */
  HERD_WORKER_PARKED,       /* none running: crashed too often; retried
                               after retry_ms */
  HERD_WORKER_WAITING       /* none running and none to start (while the
                               cluster stops: its worker has exited) */
};

typedef struct herd_worker_info {
  int slot;
  pid_t pid;            /* 0 when none runs (BACKOFF, PARKED, WAITING) */
  int state;            /* enum herd_worker_state */
  int successor;        /* 1: the new worker of a reload or replace */
  uint64_t uptime_ms;   /* since it started */
  uint64_t retry_ms;    /* BACKOFF, PARKED: until the next start */
  unsigned restarts;    /* workers started in this slot after its first */
  int exited;           /* 1 if a worker of this slot has exited: */
  int exit_code;        /*   its exit code (-1 if killed by a signal) */
  int exit_signal;      /*   the signal, or 0 */
  int exit_reason;      /*   HERD_REASON_STOPPED, _KILLED, _CRASHED,
                             _EXITED (code 0, unasked), _RETIRED or
                             _DISCONNECTED */
} herd_worker_info_t;

/* Fill up to max rows, one per running worker (a slot whose worker is
 * being replaced - a reload, a replace, a retire - has two: the new one
 * has successor set) plus one per active slot with none running, in slot
 * order.
 * Returns the number of rows there are (more than max: call again with
 * more room). */
int herd_cluster_workers(herd_cluster_t *c, herd_worker_info_t *rows,
                         int max);

typedef struct herd_cluster_stats {
  int workers;              /* wanted (the scale) */
  int reloading;            /* a rolling reload runs */
  int stopping;             /* the cluster is stopping */
  uint64_t spawns;          /* workers started */
  uint64_t spawn_failures;  /* could not be started (fork, exec) */
  uint64_t exits_stopped;   /* exited after herd asked them to stop */
  uint64_t exits_killed;    /* SIGKILLed by herd (kill or ready timeout) */
  uint64_t exits_crashed;   /* died unasked: code != 0 or a signal */
  uint64_t exits_clean;     /* exited unasked with code 0 */
  uint64_t exits_retired;   /* exited after retiring (herd_retire) */
  uint64_t restarts;        /* slots restarted after a worker died */
  uint64_t reloads;         /* rolling reloads completed */
  uint64_t reloads_failed;
  uint64_t parked;          /* times a slot was parked */
  uint64_t rr_dropped;      /* roundrobin: connections no worker took */
  uint64_t notify_ignored;  /* NOTIFY_SOCKET messages from processes that
                               are not a worker nor running under one */
  uint64_t left_behind;     /* processes a worker left behind (daemonized)
                               that came back to the master */
  uint64_t listen_stalls;   /* times a listen queue stayed non-empty for
                               3 s: no worker accepted from it */
  uint64_t handoff_failures; /* roundrobin: workers replaced for taking no
                                handed connection in 3 s */
  uint64_t exits_disconnected; /* exited after herd_cluster_disconnect
                                  (added in 0.3) */
} herd_cluster_stats_t;

/* The master's counters since herd_cluster_run began. */
void herd_cluster_stats(herd_cluster_t *c, herd_cluster_stats_t *st);

/* The listening sockets the cluster serves (bound by it from
 * opts.listen, or opts.listen_fds as given), in the order of opts:
 * *fds points at n of them, borrowed, valid until herd_cluster_run
 * returns (e.g. to hand them to a new master across an exec: dup them,
 * they are CLOEXEC). Returns n (0: none; Node's sockets, bound when a
 * worker asks, are not among them). Added in 0.3. */
int herd_cluster_listen_fds(herd_cluster_t *c, const int **fds);

/* The Unix socket paths bound from opts.listen are left in place when
 * herd_cluster_run ends (by default they are removed): another process
 * serves those sockets now, as after handing them over. Added in 0.3. */
void herd_cluster_keep_paths(herd_cluster_t *c);

/* ------------------------------------------------------------------ */
/* Process helpers                                                     */
/* ------------------------------------------------------------------ */

/* Daemons. herd_daemonize detaches the calling process the classic way:
 * fork, setsid, fork again (so the daemon is no session leader and never
 * gets a controlling terminal), umask, chdir, stdin from /dev/null,
 * stdout/stderr to files or /dev/null. */
enum {
  HERD_DAEMON_NOCHDIR = 1u << 0,  /* stay in the current directory */
  HERD_DAEMON_KEEP_UMASK = 1u << 1, /* else umask(opts->umask) */
  HERD_DAEMON_STATUS_PIPE = 1u << 2 /* a pipe from the daemon to the
                                       caller, for "I am up" / "I failed" */
};

typedef struct herd_daemon_opts {
  unsigned flags;          /* HERD_DAEMON_* */
  const char *dir;         /* chdir here; NULL = "/" (NOCHDIR wins) */
  unsigned umask;          /* 0 = 027 (unless HERD_DAEMON_KEEP_UMASK; for
                              umask 0, set it and KEEP_UMASK) */
  const char *stdout_path; /* appended to (created 0640); NULL = /dev/null.
                              Opened before the fork, relative to the
                              current directory: errors return here */
  const char *stderr_path; /* the same; may be the same path */
} herd_daemon_opts_t;

/*
 * Returns twice, like fork: in the calling process the daemon's pid
 * (> 0), and in the daemon 0. The caller, not the library, decides to
 * exit. The intermediate process is reaped before the caller's return.
 * With HERD_DAEMON_STATUS_PIPE, *status_fd is the read end in the caller
 * and the write end in the daemon (both O_CLOEXEC): the daemon writes
 * what it wants and closes it; EOF without a word means it died. The
 * signal mask and dispositions are kept (block before, if the daemon
 * will use a signalfd). Returns -errno on failure, in the caller, with
 * nothing started: the daemon reports its own set-up (chdir, dup2,
 * setsid, the second fork) before the caller returns, and exits if the
 * caller dies before learning its pid. fflush(NULL) before calling.
 */
pid_t herd_daemonize(const herd_daemon_opts_t *opts, int *status_fd);

/* A pid file, locked for as long as it is open (an flock, and an OFD
 * lock that herd_pidfile_check tests without taking it). Both belong to
 * the open file, so they survive fork: a daemon keeps the lock its
 * starter took, and it goes with the last fd of that open file. The fd
 * is O_CLOEXEC: an exec drops it. */
typedef struct herd_pidfile herd_pidfile_t;

/* Create or take over PATH, lock it, and write our pid into it. A file
 * left by a process that is gone (no lock on it) is taken over. Returns
 * 0, -EBUSY if a live process holds it (its pid in *holder, if not
 * NULL and known), -EAGAIN if the file was replaced under us 10 times
 * in a row, or -errno. */
int herd_pidfile_open(herd_pidfile_t **pf, const char *path, pid_t *holder);

/* Write getpid() again (after herd_daemonize, the pid changed). Returns
 * 0 or -errno. */
int herd_pidfile_write(herd_pidfile_t *pf);

/* Close our fd (no explicit unlock: a daemon sharing the open file keeps
 * the lock; it goes with the last fd). With remove, first delete the
 * file if it is still ours (while locked, so no newcomer's file is
 * deleted). A starter that daemonized passes remove = 0. NULL is a
 * no-op. */
void herd_pidfile_close(herd_pidfile_t *pf, int remove);

/* Who holds PATH: the pid written in it (> 0) while a process holds its
 * lock (a starter's until its daemon calls herd_pidfile_write), 0 if
 * nobody does (absent or stale), -EIO or -EAGAIN for a held file
 * without a valid pid yet, or -errno. Never takes the lock. */
pid_t herd_pidfile_check(const char *path);

/* Prepare the process title: call once from main with main's argc/argv,
 * before anything reads environ into saved pointers. It moves environ
 * out of the way (a copy on the heap) so the title can use the whole
 * argv + environ area. Returns 0 or -errno. Not thread-safe. */
int herd_title_init(int argc, char **argv);

/* Set what ps and /proc/PID/cmdline show (truncated to the room that
 * herd_title_init found) and the thread name (PR_SET_NAME, 15 bytes).
 * Without herd_title_init, only the thread name is set. The strings of
 * main's argv are overwritten by the title (environ was moved away by
 * herd_title_init): copy what you need from argv before the first call.
 * title may be one of those strings. Returns 0 or -errno. */
int herd_title_set(const char *title);

/* Milliseconds since this process started (from /proc/self/stat and the
 * boot clock), or -errno. */
int64_t herd_uptime_ms(void);

typedef struct herd_proc_stat {
  pid_t pid;
  pid_t ppid;
  char state;           /* R, S, D, Z, T, ... */
  char comm[32];        /* the kernel's name for it */
  uint64_t rss_bytes;   /* resident set size */
  uint64_t vsize_bytes; /* virtual size */
  uint64_t utime_ms;    /* user CPU time */
  uint64_t stime_ms;    /* system CPU time */
  int64_t start_ms;     /* start time, ms since the Unix epoch */
  int64_t uptime_ms;    /* ms since it started */
  long num_threads;
  pid_t pgrp;           /* its process group */
  pid_t sid;            /* its session */
} herd_proc_stat_t;

/* Read /proc/PID/stat (pid 0 = self). Returns 0, -ESRCH if no such
 * process, or -errno. */
int herd_proc_stat(pid_t pid, herd_proc_stat_t *st);

/* Memory of any process, from /proc/PID/status (docs/proc.md): what
 * Node's process.memoryUsage() has outside V8 (rss) and what the kernel
 * adds. Bytes; 0 where the kernel gives no figure (a zombie, a kernel
 * thread). Added in 0.3. */
typedef struct herd_proc_mem {
  uint64_t rss_bytes;       /* VmRSS: resident now (memoryUsage().rss) */
  uint64_t rss_peak_bytes;  /* VmHWM: the most it has been resident */
  uint64_t rss_anon_bytes;  /* RssAnon: resident anonymous memory (heap,
                               stacks) */
  uint64_t rss_file_bytes;  /* RssFile: resident file mappings (code) */
  uint64_t rss_shmem_bytes; /* RssShmem: resident shared memory */
  uint64_t swap_bytes;      /* VmSwap: swapped out */
  uint64_t vsize_bytes;     /* VmSize: virtual size */
  uint64_t vsize_peak_bytes; /* VmPeak */
  uint64_t data_bytes;      /* VmData: data + heap + anonymous mappings */
} herd_proc_mem_t;

/* Read /proc/PID/status (pid 0 = self) into *m. Costs more than
 * herd_proc_stat (the kernel walks more to write it): for the rss alone,
 * herd_proc_stat's rss_bytes is the same figure. Returns 0, -ESRCH if no
 * such process, -EINVAL (pid < 0, m NULL), or -errno. */
int herd_proc_mem(pid_t pid, herd_proc_mem_t *m);

/* Whose resources herd_proc_usage counts. */
enum herd_usage_who {
  HERD_USAGE_SELF = 0,  /* this process, all its threads (Node's
                           process.resourceUsage()) */
  HERD_USAGE_CHILDREN,  /* its children that have been waited for, and
                           theirs that they waited for (RUSAGE_CHILDREN) */
  HERD_USAGE_THREAD     /* the calling thread only */
};

/* getrusage(2), with the fields and units of Node's
 * process.resourceUsage() (its name after each; docs/proc.md). Linux
 * leaves the ones marked "0" at zero. Added in 0.3. */
typedef struct herd_proc_usage {
  uint64_t user_us;       /* userCPUTime: user CPU, microseconds */
  uint64_t system_us;     /* systemCPUTime: system CPU, microseconds */
  uint64_t max_rss_kib;   /* maxRSS: the peak resident set, KiB (for
                             CHILDREN: the largest child's) */
  uint64_t shared_kib;    /* sharedMemorySize (ru_ixrss), 0 */
  uint64_t unshared_data_kib;  /* unsharedDataSize (ru_idrss), 0 */
  uint64_t unshared_stack_kib; /* unsharedStackSize (ru_isrss), 0 */
  uint64_t minor_faults;  /* minorPageFault: served without I/O */
  uint64_t major_faults;  /* majorPageFault: needing I/O */
  uint64_t swaps;         /* swappedOut (ru_nswap), 0 */
  uint64_t fs_read;       /* fsRead: blocks read from storage (512 B) */
  uint64_t fs_write;      /* fsWrite: blocks written (512 B) */
  uint64_t ipc_sent;      /* ipcSent (ru_msgsnd), 0 */
  uint64_t ipc_received;  /* ipcReceived (ru_msgrcv), 0 */
  uint64_t signals;       /* signalsCount (ru_nsignals), 0 */
  uint64_t ctx_voluntary;   /* voluntaryContextSwitches */
  uint64_t ctx_involuntary; /* involuntaryContextSwitches */
} herd_proc_usage_t;

/* Fill *u for who (enum herd_usage_who). Returns 0, or -EINVAL (u NULL,
 * an unknown who). Thread-safe. */
int herd_proc_usage(int who, herd_proc_usage_t *u);

/* A pidfd for process pid, any process (not only a child; it is not
 * reaped by it): O_CLOEXEC, and readable once the process has exited.
 * Hold it from before you act, and a pid reused later cannot fool you.
 * Returns the fd, or -errno (-ESRCH: no such process; -ENOSYS: a kernel
 * before 5.3, or a sandbox without the call). */
int herd_pidfd_open(pid_t pid);

/* Wait at most timeout_ms (< 0: without end) for fd to poll readable,
 * across signals: for a pidfd, until its process has exited. Returns 1,
 * 0 at the timeout, or -errno. */
int herd_fd_wait(int fd, int timeout_ms);

/* Milliseconds of CLOCK_MONOTONIC, the clock of the loop's timers and of
 * every timeout here: for measuring durations (it does not jump with
 * the wall clock, nor advance while the machine is suspended). */
uint64_t herd_now_ms(void);

/* ------------------------------------------------------------------ */
/* Values in V8's serialization format (Node's 'advanced' channel)     */
/* ------------------------------------------------------------------ */

/*
 * herd_val_t is a JavaScript value as V8's ValueSerializer carries it:
 * what Node's fork(..., {serialization: 'advanced'}) sends on its
 * channel, and what v8.serialize() writes. herd_v8_decode reads such
 * bytes into a tree of herd_val_t, herd_v8_encode writes a tree as
 * Node 20 writes it, and herd_v8_to_json / herd_v8_from_json map a tree
 * to JSON text and back. docs/v8.md has the type table, the JSON
 * mapping, what is refused and why, and the limits.
 *
 * Ownership: a tree owns its nodes; each node has at most one parent
 * and herd_val_free(root) frees them all. The same JS object met again
 * in a message (shared, or a cycle) is one node plus HERD_VAL_REF nodes
 * that point at it and own nothing. A REF points at a node of the same
 * tree, which must live as long as the REF does.
 *
 * Fields are read-only: change a tree only with the functions below
 * (they keep the invariants: sorted keys, no duplicates). Strings are
 * WTF-8 - UTF-8, with lone surrogates (U+D800..U+DFFF, which JS strings
 * may hold) encoded as 3 bytes like any code point - NUL-terminated and
 * with their length, as a JS string may hold NULs.
 *
 * Constructors return NULL when out of memory (or for the invalid
 * arguments they name). Functions that add a node to a container take
 * it: on failure they free it - unless it already has a parent or is
 * the container itself (-EINVAL: it is not theirs to free) - so a NULL
 * from a nested constructor call can be passed on (-ENOMEM) and checked
 * once; not to herd_val_error_set_cause, where NULL means no cause.
 * Nothing here is shared between trees: different trees may be used in
 * different threads.
 */
typedef struct herd_val herd_val_t;

enum herd_val_type {
  HERD_VAL_UNDEFINED = 0,
  HERD_VAL_NULL,
  HERD_VAL_BOOL,        /* boolean */
  HERD_VAL_NUMBER,      /* number: Int32 and doubles alike, -0 and NaN */
  HERD_VAL_BIGINT,      /* bigint */
  HERD_VAL_STRING,      /* str */
  HERD_VAL_OBJECT,      /* obj: a plain object (class and prototype are
                           not carried) */
  HERD_VAL_ARRAY,       /* obj: an array, dense or with holes */
  HERD_VAL_DATE,        /* number: ms since the epoch, NaN = Invalid Date */
  HERD_VAL_REGEXP,      /* regexp */
  HERD_VAL_MAP,         /* list: key, value, key, value, ... */
  HERD_VAL_SET,         /* list */
  HERD_VAL_ARRAYBUFFER, /* buf */
  HERD_VAL_VIEW,        /* view: a typed array, DataView or Buffer */
  HERD_VAL_ERROR,       /* error */
  HERD_VAL_BOXED,       /* boxed: new Boolean/Number/String(..), Object(1n) */
  HERD_VAL_REF          /* target: a node met earlier in the same tree */
};

/* HERD_VAL_VIEW's view_type: Node's own numbers for them (lib/v8.js). */
enum herd_view_type {
  HERD_VIEW_INT8 = 0,
  HERD_VIEW_UINT8,
  HERD_VIEW_UINT8_CLAMPED,
  HERD_VIEW_INT16,
  HERD_VIEW_UINT16,
  HERD_VIEW_INT32,
  HERD_VIEW_UINT32,
  HERD_VIEW_FLOAT32,
  HERD_VIEW_FLOAT64,
  HERD_VIEW_DATAVIEW,
  HERD_VIEW_BUFFER, /* Node's Buffer */
  HERD_VIEW_BIGINT64,
  HERD_VIEW_BIGUINT64
};

/* HERD_VAL_ERROR's error_type: the prototype V8 carries. Other names
 * (a class of your own, AggregateError) travel as HERD_ERROR_ERROR. */
enum herd_error_type {
  HERD_ERROR_ERROR = 0,
  HERD_ERROR_EVAL,
  HERD_ERROR_RANGE,
  HERD_ERROR_REFERENCE,
  HERD_ERROR_SYNTAX,
  HERD_ERROR_TYPE,
  HERD_ERROR_URI
};

/* HERD_VAL_REGEXP's flags: V8's bits. */
enum {
  HERD_RE_GLOBAL = 1u << 0,      /* g */
  HERD_RE_IGNORE_CASE = 1u << 1, /* i */
  HERD_RE_MULTILINE = 1u << 2,   /* m */
  HERD_RE_STICKY = 1u << 3,      /* y */
  HERD_RE_UNICODE = 1u << 4,     /* u */
  HERD_RE_DOT_ALL = 1u << 5,     /* s */
  HERD_RE_HAS_INDICES = 1u << 7, /* d */
  HERD_RE_UNICODE_SETS = 1u << 8 /* v (not with u) */
};

/* A property of an object or array: an index key (key NULL; index is
 * 0 .. 4294967294, an array index as JS has them) or a string key (any
 * other: "01", "-1", "4294967295", "x"). A key given as the string "7"
 * is the index 7, as in JS. */
typedef struct herd_val_prop {
  char *key;      /* WTF-8, NUL-terminated; NULL for an index key */
  size_t key_len;
  uint32_t index; /* when key is NULL */
  herd_val_t *value;
} herd_val_prop_t;

/* The payloads of struct herd_val (below), by type. */
struct herd_val_str_data {
  char *s; /* WTF-8, NUL-terminated */
  size_t len;
};

struct herd_val_bigint_data {
  uint8_t *mag; /* magnitude, little-endian, no high zero bytes (0n: len 0) */
  size_t len;
  int negative;
};

struct herd_val_obj_data {
  /* props[0 .. nindex) are the index keys, ascending; props[nindex .. n)
   * the string keys in insertion order: JS's own order. */
  herd_val_prop_t *props;
  size_t n, nindex;
  uint32_t length; /* ARRAY: its length (an index absent below it is a
                      hole) */
  size_t cap_;     /* private */
};

struct herd_val_list_data {
  herd_val_t **items; /* MAP: n / 2 entries, items[2i] the key and
                         items[2i+1] its value; SET: n values */
  size_t n;
  size_t cap_; /* private */
};

struct herd_val_regexp_data {
  char *source; /* WTF-8, NUL-terminated: the pattern as JS's .source, not
                   checked here (Node throws on one its RegExp refuses) */
  size_t len;
  uint32_t flags; /* HERD_RE_* */
};

struct herd_val_buf_data {
  uint8_t *data;
  size_t len;
  size_t max_len; /* a resizable ArrayBuffer's maxByteLength */
  int resizable;
};

struct herd_val_view_data {
  uint8_t *data; /* the view's bytes, elements in little-endian order
                    (Node's host order), len a multiple of the element
                    size */
  size_t len;
  int view_type; /* enum herd_view_type */
};

struct herd_val_error_data {
  int error_type; /* enum herd_error_type */
  char *message;  /* WTF-8, or NULL: no own message */
  size_t message_len;
  char *stack;    /* WTF-8, or NULL: no stack */
  size_t stack_len;
  herd_val_t *cause; /* NULL: no own cause (an undefined cause is a
                        HERD_VAL_UNDEFINED node) */
};

struct herd_val {
  int type;        /* enum herd_val_type */
  unsigned flags_; /* private */
  union {
    int boolean;   /* BOOL: 0 or 1 */
    double number; /* NUMBER; DATE: ms, an integer within +-8.64e15, or
                      NaN */
    struct herd_val_str_data str;
    struct herd_val_bigint_data bigint;
    struct herd_val_obj_data obj;   /* OBJECT, ARRAY */
    struct herd_val_list_data list; /* MAP, SET */
    struct herd_val_regexp_data regexp;
    struct herd_val_buf_data buf;   /* ARRAYBUFFER */
    struct herd_val_view_data view;
    struct herd_val_error_data error;
    herd_val_t *boxed;  /* BOXED: a BOOL, NUMBER, BIGINT or STRING node */
    herd_val_t *target; /* REF: never a REF itself */
  };
};

/* Scalars. herd_val_date applies JS's TimeClip (an integer, NaN out of
 * range), as new Date(ms) does. */
herd_val_t *herd_val_undefined(void);
herd_val_t *herd_val_null(void);
herd_val_t *herd_val_bool(int b);
herd_val_t *herd_val_number(double d);
herd_val_t *herd_val_date(double ms);

/* BigInts: the magnitude as len bytes, little-endian (borrowed, copied),
 * and the sign; or an int64_t. */
herd_val_t *herd_val_bigint(int negative, const uint8_t *mag, size_t len);
herd_val_t *herd_val_bigint_i64(int64_t i);
/* The BigInt v (or a BOXED one) as an int64_t: 0, or -ERANGE if it does
 * not fit, -EINVAL if v is no BigInt. */
int herd_val_bigint_to_i64(const herd_val_t *v, int64_t *out);

/* Strings (borrowed, copied). herd_val_strn takes len bytes of UTF-8;
 * lone surrogates written as 3-byte sequences are kept (WTF-8), and
 * bytes that are not UTF-8 become U+FFFD each, as V8 reads UTF-8.
 * herd_val_str takes a NUL-terminated string. herd_val_str_utf16 takes
 * n UTF-16 code units, which JS strings are made of (lone surrogates
 * too). */
herd_val_t *herd_val_str(const char *s);
herd_val_t *herd_val_strn(const char *s, size_t len);
herd_val_t *herd_val_str_utf16(const uint16_t *units, size_t n);

/* A RegExp: source (NUL-terminated, as herd_val_str) and flags as JS
 * writes them ("gi"; NULL or "" for none). NULL also for a flag JS does
 * not have, a repeated one, or u with v. */
herd_val_t *herd_val_regexp(const char *source, const char *flags);

/* Empty containers. */
herd_val_t *herd_val_object(void);
herd_val_t *herd_val_array(void);
herd_val_t *herd_val_map(void);
herd_val_t *herd_val_set(void);

/* An ArrayBuffer of len bytes copied from data (borrowed; NULL: zeros).
 * _resizable: new ArrayBuffer(len, {maxByteLength: max_len}); NULL if
 * len > max_len or max_len > 4294967295. */
herd_val_t *herd_val_arraybuffer(const void *data, size_t len);
herd_val_t *herd_val_arraybuffer_resizable(const void *data, size_t len,
                                           size_t max_len);

/* A typed array, DataView or Buffer (enum herd_view_type) of len bytes
 * copied from data (borrowed; NULL: zeros). NULL if len is not a
 * multiple of the element size or view_type is unknown. */
herd_val_t *herd_val_view(int view_type, const void *data, size_t len);

/* An Error (enum herd_error_type) with message (NUL-terminated, copied;
 * NULL: no own message, as new Error()). NULL if error_type is unknown. */
herd_val_t *herd_val_error(int error_type, const char *message);
/* Set its stack (copied; NULL: none) or its cause (taken; NULL: none).
 * A previous stack or cause is freed (a REF into the old cause would
 * dangle). 0, -EINVAL, or (set_stack) -ENOMEM. */
int herd_val_error_set_stack(herd_val_t *err, const char *stack);
int herd_val_error_set_cause(herd_val_t *err, herd_val_t *cause);

/* new Boolean(b), new Number(d), new String(s), Object(1n): inner (taken)
 * is a BOOL, NUMBER, STRING or BIGINT node; NULL otherwise (inner is
 * freed, unless it has a parent). */
herd_val_t *herd_val_boxed(herd_val_t *inner);

/* A reference to target (borrowed: a node of the tree this REF will be
 * put in, that must outlive it; given a REF, its target is used): the
 * same JS object again. herd_v8_encode writes the first of target and
 * its REFs in document order in full and the others as references, as
 * V8 does. NULL if target is NULL or not an object (a number, string,
 * ... has no identity in V8's format). */
herd_val_t *herd_val_ref(herd_val_t *target);

/*
 * Properties of an OBJECT or ARRAY (the value v is taken, as above).
 * The key: NUL-terminated (obj_set) or keylen bytes (obj_setn) of UTF-8
 * as herd_val_strn, or an index (0 .. 4294967294). A string key that
 * spells an index ("7", not "07") is that index. Setting an index at or
 * past an array's length makes the length index + 1. Returns 0; -EEXIST
 * if the key is there already (nothing is replaced: a REF may point into
 * the old value); -ENOMEM if v is NULL or memory runs out; -EINVAL if
 * obj is not an OBJECT or ARRAY, v already has a parent or is obj, the
 * index is out of range, or the key is an array's "length". A string
 * key costs a scan of the string keys already there.
 */
int herd_val_obj_set(herd_val_t *obj, const char *key, herd_val_t *v);
int herd_val_obj_setn(herd_val_t *obj, const char *key, size_t keylen,
                      herd_val_t *v);
int herd_val_obj_set_index(herd_val_t *obj, uint32_t index, herd_val_t *v);

/* Append v (taken) at index length of an ARRAY. 0, -ERANGE past the
 * last index, or as herd_val_obj_set_index. */
int herd_val_arr_push(herd_val_t *arr, herd_val_t *v);
/* Set an ARRAY's length (the indices from the last element up to it are
 * holes). -EINVAL if an element sits at or past length. */
int herd_val_arr_set_length(herd_val_t *arr, uint32_t length);

/* The value of a key of an OBJECT or ARRAY (or a REF to one): borrowed
 * from the tree (it may be a REF), or NULL if there is none (a hole; obj
 * not an OBJECT or ARRAY; or, for a key given as a string, no memory to
 * copy it). */
herd_val_t *herd_val_obj_get(const herd_val_t *obj, const char *key);
herd_val_t *herd_val_obj_getn(const herd_val_t *obj, const char *key,
                              size_t keylen);
herd_val_t *herd_val_obj_get_index(const herd_val_t *obj, uint32_t index);

/* Append an entry to a MAP (key and value taken, as above) or a value to
 * a SET (taken). Kept in order; equal keys are not merged (a JS Map
 * keeps the last). 0, -EINVAL, -ENOMEM. */
int herd_val_map_set(herd_val_t *map, herd_val_t *key, herd_val_t *value);
int herd_val_set_add(herd_val_t *set, herd_val_t *v);

/* v, or its target if v is a REF. NULL stays NULL. */
herd_val_t *herd_val_deref(const herd_val_t *v);

/* The JS name of a type ("undefined", "Map", "Uint8Array", ...; for a
 * type, a view type or an error type), or "?" for none. */
const char *herd_val_type_name(int type);
const char *herd_view_type_name(int view_type);
const char *herd_error_type_name(int error_type);

/* Free v and every node it owns (REFs' targets are not owned): a root,
 * as a node with a parent belongs to it. NULL is a no-op. Never
 * recursive: any depth is fine. */
void herd_val_free(herd_val_t *v);

/* Are a and b the same JS value as V8's format carries it: same types,
 * contents, key order, and the same pattern of sharing (a REF and the
 * node it points at count as one object)? NaN equals NaN, -0 is not 0
 * (Object.is). 1 or 0; HERD_EV8DEPTH past HERD_V8_MAX_DEPTH_LIMIT
 * nested objects, -ENOMEM. */
int herd_val_equal(const herd_val_t *a, const herd_val_t *b);

/* ---- the wire format ----------------------------------------------- */

/* How typed arrays, DataViews and Buffers travel: Node writes them as
 * its own host objects, '\' then: */
enum herd_v8_host {
  HERD_V8_HOST_CHANNEL = 0, /* Node's channel (ChildProcessSerializer):
                               0, the view type, the byte length, the
                               bytes. Reading, a 1 then a value (what Node
                               sends for a native object) is that value */
  HERD_V8_HOST_SERIALIZE    /* v8.serialize / v8.deserialize: the view
                               type, the byte length, the bytes */
};

#define HERD_V8_MAX_DEPTH_DEFAULT 512u
#define HERD_V8_MAX_DEPTH_LIMIT 1024u

typedef struct herd_v8_opts {
  int host;           /* enum herd_v8_host */
  unsigned max_depth; /* most objects nested in one another (the top one
                         counts: [[1]] is 2; every value with an identity
                         is one, a Date or an empty {} too, a primitive
                         not); 0 = HERD_V8_MAX_DEPTH_DEFAULT; above
                         HERD_V8_MAX_DEPTH_LIMIT: -EINVAL */
} herd_v8_opts_t;

/* Node's channel frame: a 4-byte big-endian payload length, then the
 * payload (a header and one value). Node cannot read a frame of 2 GiB
 * or more. */
#define HERD_V8_FRAME_HEADER 4u

/*
 * Read one payload buf[0..len) (borrowed): V8's header (version 13 to
 * 15) and one value, into a new tree *out (the caller's, herd_val_free).
 * Bytes after the value are ignored, as Node does. used (may be NULL):
 * the bytes read on success; on failure where the fault was found.
 * opts may be NULL (channel host objects, depth 512). What it allocates
 * is linear in len: about 15 x len for ordinary messages, 90 x len at
 * worst (docs/v8.md); a sparse array's length costs nothing. Returns 0,
 * HERD_EV8VERSION, HERD_EV8DATA, HERD_EV8UNSUPPORTED, HERD_EV8DEPTH,
 * -EINVAL (bad opts), -ENOMEM. Thread-safe.
 */
int herd_v8_decode(const void *buf, size_t len, const herd_v8_opts_t *opts,
                   herd_val_t **out, size_t *used);

/*
 * Write v (borrowed) as Node 20 writes that value: header FF 0F and one
 * value (docs/v8.md names the three cases where Node writes the same
 * value in other bytes, what it holds being different). Into
 * buf[0..cap) (buf may be NULL with cap 0): returns the payload's length,
 * which when larger than cap means buf holds only its start - call
 * again with that much room. HERD_EV8DEPTH, HERD_EV8UNSUPPORTED (a REF
 * to an Error from inside its own cause: Node 20 cannot read it back),
 * -EOVERFLOW (a string or buffer of 4 GiB or more, a BigInt past 2^27
 * bytes), -EINVAL (bad opts, a malformed tree), -ENOMEM. Only reads the
 * tree: threads may write one tree at once.
 */
ssize_t herd_v8_encode(const herd_val_t *v, const herd_v8_opts_t *opts,
                       void *buf, size_t cap);

/* As herd_v8_encode, into a new buffer *out (the caller's, free()) of
 * *len = headroom + payload bytes: the payload starts at headroom, the
 * bytes before it are left for the caller (HERD_V8_FRAME_HEADER for the
 * channel's length prefix). 0 or the errors of herd_v8_encode. */
int herd_v8_encode_alloc(const herd_val_t *v, const herd_v8_opts_t *opts,
                         size_t headroom, uint8_t **out, size_t *len);

/*
 * The tree v (borrowed) as one JSON text (docs/v8.md: JSON's own types
 * as they are, the others as {"$v8": TYPE, ...} objects), into a new
 * NUL-terminated string *out (the caller's, free()) of *len bytes (len
 * may be NULL).
 * herd_v8_from_json gives back the same tree (herd_val_equal). Returns 0, HERD_EV8DEPTH, HERD_EV8UNSUPPORTED (as
 * herd_v8_encode), -EINVAL, -ENOMEM.
 */
int herd_v8_to_json(const herd_val_t *v, const herd_v8_opts_t *opts,
                    char **out, size_t *len);

/* Read a JSON text json[0..len) (borrowed) of that mapping into a new
 * tree *out. used (may be NULL): on failure, the offset where the fault
 * was found (len on success). Returns 0, HERD_EV8JSON, HERD_EV8DEPTH,
 * -EINVAL (bad opts), -ENOMEM. */
int herd_v8_from_json(const char *json, size_t len, const herd_v8_opts_t *opts,
                      herd_val_t **out, size_t *used);

/* ------------------------------------------------------------------ */
/* JSON: JSON.parse and JSON.stringify on herd_val_t                   */
/* ------------------------------------------------------------------ */

/*
 * libherd's one JSON, as JavaScript has it: what the channel validates,
 * what the control protocol speaks, and these functions. herd_json(3)
 * is the reference: the grammar, the text's bytes (UTF-8; an ill-formed
 * sequence inside a string is U+FFFD, as Node decodes bytes before
 * JSON.parse), and each type's JSON.
 */

/* Arrays and objects nested one inside another, at most, in a text read
 * or written ([[1]] is 2). JSON.parse has no such limit. */
#define HERD_JSON_MAX_DEPTH 512

/*
 * JSON.parse(text): text[0..len) (borrowed) is one JSON text, read into
 * a new tree *out (the caller's, herd_val_free): objects (a key met
 * twice keeps its first place and its last value; "__proto__" is a key
 * like any other), arrays, strings (WTF-8: a lone surrogate escape is
 * kept), numbers (doubles: 1e400 is Infinity, -0 stays -0), booleans,
 * null. used (may be NULL): len, or on failure where the fault was
 * found. Returns 0, HERD_EJSON, HERD_EJSONDEPTH, -EINVAL (out NULL, or
 * text NULL with len > 0), -ENOMEM. Thread-safe.
 */
int herd_json_parse(const char *text, size_t len, herd_val_t **out,
                    size_t *used);

/*
 * JSON.stringify(v): the tree v (borrowed) as JSON text in a new
 * NUL-terminated string *out (the caller's, free()) of *len bytes (len
 * may be NULL). Returns 0; 1 if v is undefined, for which JSON.stringify
 * returns undefined (*out NULL); HERD_EJSONTYPE (a BigInt, or a REF to
 * an object it is inside of: a cycle), HERD_EJSONDEPTH, -EOVERFLOW (a
 * text longer than JS's longest string), -EINVAL (a malformed tree),
 * -ENOMEM. Only reads the tree: threads may write one tree at once.
 */
int herd_json_stringify(const herd_val_t *v, char **out, size_t *len);

/*
 * The bytes s[0..len) (borrowed) as a JSON string, quotes included, as
 * JSON.stringify writes the string Node makes of them
 * (buf.toString('utf8'): an ill-formed sequence is U+FFFD). Writes at
 * most cap bytes, NUL included, to out (out may be NULL with cap 0), as
 * snprintf does: returns the whole length (more than cap - 1: cut
 * short), or -EINVAL. Async-signal-safe.
 */
ssize_t herd_json_quote(const char *s, size_t len, char *out, size_t cap);

/* A NUMBER v that is a whole number in [min, max]: 0 with *out; -EINVAL if v is not a number (NULL
 * too); -ERANGE if it has a fraction, is not finite, or is out of range
 * (*out untouched either way). No double is cast out of range on the
 * way. */
int herd_val_int(const herd_val_t *v, int64_t min, int64_t max, int64_t *out);

#ifdef __cplusplus
}
#endif

#endif /* HERD_H */
