/*
 * sup.h - the cluster's parts (herd_cluster_run), shared by its files.
 * Not installed. docs/ARCHITECTURE.md has the map:
 *
 *   cluster.c   the public API: herd_cluster_run's set-up, loop and
 *               teardown, steering, herd_cluster_workers and _stats
 *   sup.c       the supervisor's state machine: worker, slot and cluster
 *               states, every transition through one function per level
 *   launch.c    a worker's environment and fd plan, forked or exec'd
 *   pidx.c      the running workers by pid
 *   wio.c       what workers say: output pipes, the notify socket, their
 *               channels; processes they leave behind
 *   rr.c        round robin: the master accepts and hands connections
 *   reuseport.c the SO_REUSEPORT sockets of the slots, and their steering
 *   listenq.c   is anybody accepting? (a listener's queue)
 *   node.c      Node's cluster protocol, the primary's side: the
 *               messages, the sockets workers ask for
 *   noderr.c    ... and their round robin (newconn)
 */
#ifndef HERD_SUP_H
#define HERD_SUP_H

#include <signal.h>
#include <stdint.h>

#include "internal.h"

#define LINE_MAX_OUT 16384
#define OUT_MIN_CAP 256         /* a partial line's buffer, at first */
#define OUT_IDLE_MS 2000        /* ... given back once empty this long */
#define BACKOFF_BASE_MS 100
#define BACKOFF_CAP_MS 30000
#define RR_MAX_QUEUED 4096      /* bytes: about 60 handed connections */
#define HANDOFF_TIMEOUT_MS 3000 /* a handed connection not taken by then */
#define RR_SHORT_RETRY_MS 100   /* out of fds: accepting is retried after */
#define LISTEN_STALL_MS 3000    /* a listen queue never empty this long */
#define DRAIN_POLL_MS 20        /* reuseport scale-down: look at the queue */
#define DRAIN_GRACE_MS 500      /* ... this long at least, for handshakes
                                   begun before it stopped being chosen */
#define OUTPUT_DRAIN_MS 1000    /* at the end: the last output, bounded */
#define ORPHAN_LOOK_MS 50       /* the children looked at this long after
                                   an exit, for all the exits meanwhile */
#define ORPHAN_GROUPS 64        /* ... at most this many of them */
#define NODE_PEND 32            /* Node roundrobin: connections handed to a
                                   worker and not answered yet, at most */
#define NODE_HELD 64            /* ... refused by every worker, held by a
                                   socket for a retry, at most */
#define NODE_RETRY_MS 20        /* refused connections are offered again */
#define NODE_KEY_MAX 400        /* a longer Node key (a unix path) is refused */
#define NODE_MAX_SOCKETS 256    /* sockets workers may ask for, in all */
#define NODE_HOLD_MAX_MS 10000  /* a held connection nobody took is closed */
#define NODE_HANDLES_OUT 64     /* shared sockets sent to one worker and not
                                   acknowledged yet, at most (fds of ours) */
#define NODE_SOCK_ERRS_TOLD 10  /* refused socket requests logged per worker */

/* A worker's life (sup.c has the table). */
enum wstate {
  W_STARTING, /* started, not ready yet (ready_timer: settle, delay or the
                 ready timeout) */
  W_READY,    /* serving */
  W_HANDOFF,  /* asked to stop, but connections handed to it still wait in
                 our queue: they go first (roundrobin) */
  W_STOPPING, /* the stop signal sent (kill_timer armed unless graceful) */
  W_KILLING,  /* SIGKILL sent */
  W_EXITED    /* reaped; kept while its output pipes drain */
};

/* A slot: a worker position, 0..N-1, kept across restarts. */
enum sstate {
  S_OFF,       /* beyond the scale, nothing running */
  S_RUNNING,   /* a worker (starting or ready) */
  S_REPLACING, /* a worker and its successor, starting */
  S_BACKOFF,   /* none running: restart_timer (an early death) */
  S_PARKED,    /* none running: crashed too often, restart_timer */
  S_RESTART,   /* its worker stops; a new one starts when it has exited
                  (a hard restart, or scaled up again while stopping) */
  S_DRAINING,  /* scaled down (reuseport): new connections go elsewhere,
                  its worker takes what is queued, then stops */
  S_RETIRING,  /* scaled down: its workers stop, then S_OFF */
  S_WAITING    /* active, none running, none to start (the cluster stops) */
};

/* The cluster's. */
enum cstate {
  C_STARTING,  /* on_init, the first workers starting */
  C_RUNNING,
  C_RELOADING, /* slot by slot: reload_cursor, reload_wait */
  C_STOPPING,  /* workers stopping */
  C_DRAINING,  /* all gone: the last of their output, output_timer */
  C_DONE
};

struct outbuf {
  int fd;
  int used;   /* a partial line went through it since the last sweep */
  size_t len, cap;
  char *data; /* a partial line (wio.c says when it is taken, grown and
                 given back), or NULL: an idle worker costs the master
                 no line buffer */
};

struct worker {
  herd_cluster_t *c;
  int slot;
  pid_t pid;
  int pidfd;
  enum wstate state;
  int was_ready;         /* it reached W_READY once */
  int retiring;          /* it said STOPPING=1 / X_HERD_RETIRE=1 */
  int deaf;              /* roundrobin: took no handed connection */
  int stop_reason;       /* HERD_REASON_*: why it was asked to stop */
  int replace_reason;    /* why it is being replaced (its successor first),
                            0 if not */
  char *replace_text;    /* herd_cluster_replace's why (owned) */
  int exit_reason;       /* once W_EXITED */
  uint64_t started_ms;
  uint64_t handoff_since;
  uint64_t handoff_acks; /* the channel's ACK count when handoff_timer was
                            armed */
  herd_timer_t ready_timer;   /* W_STARTING: settle/delay/timeout; W_HANDOFF:
                                 polls the queue */
  herd_timer_t kill_timer;
  herd_timer_t handoff_timer; /* roundrobin: handed, not answered */
  struct outbuf out[2]; /* stdout, stderr pipes (fd -1 if none) */
  herd_chan_t *chan;    /* our end of the worker's channel, or NULL */
  int chan_used;        /* a message came or went since the last sweep */
  /* HERD_CLUSTER_NODE (node.c) */
  unsigned node_id;     /* its NODE_UNIQUE_ID (cluster.worker.id) */
  struct nsock **subs;  /* the sockets it asked for and has not closed */
  int nsubs, capsubs;
  struct npend *pend;   /* roundrobin: a ring of NODE_PEND handed
                           connections waiting for the answer */
  int pend_head, pend_n;
  int node_disc;        /* told to disconnect */
  int node_refused_told; /* said once: it refused a connection */
  int node_bad_told;    /* said once: a message herd could not act on */
  int node_sock_errs;   /* socket requests refused (the first few said) */
  int node_sig_due;     /* the stop signal follows its disconnection */
  int disc;             /* herd_cluster_disconnect: it leaves by itself */
  struct worker *next, *prev; /* c->workers, newest first */
  struct worker *pnext; /* its chain in c->pidx (pidx.c) */
};

/* Node roundrobin: a connection handed to a worker, kept until it says
 * whether it took it. */
struct npend {
  uint32_t seq;
  int fd;
  struct nsock *ns;
  uint64_t sent_ms;
};

/* HERD_CLUSTER_NODE: a socket some worker asked for (listen(), bind()),
 * by Node's key; kept until the end, across reloads and restarts, so
 * that a successor asking again gets the same one. Each allocated alone
 * (the timer inside must not move). */
struct nsock {
  herd_cluster_t *c;
  struct nsock *next;
  char *key;           /* Node's key, as the workers know it */
  char *key_json;      /* ... quoted */
  char *data;          /* the first non-null "data" (TLS ticket keys), JSON */
  char sockname[160];  /* roundrobin: the reply's "sockname" member, or "" */
  char text[128];      /* the address, for what we say */
  int fd;
  int udp;
  int borrowed;        /* one of c->fds (-l): closed with those */
  char *unlink_path;   /* a unix socket file we made */
  int rr;              /* the master accepts (roundrobin, TCP or unix) */
  int watching;        /* its fd in the loop, for EPOLLIN */
  int rr_next;         /* the slot to try first */
  int held[NODE_HELD]; /* refused by all: offered again after a while */
  uint64_t held_ms[NODE_HELD]; /* since when */
  int nheld;
  herd_timer_t retry;
};

/* The accept-queue watch of one listening socket (listenq.c). */
struct lqw {
  herd_cluster_t *c;
  int slot; /* reuseport: the slot whose socket it is, else -1 */
  int addr; /* index in the listen list */
  struct herd__lq *q;
};

struct slot {
  herd_cluster_t *c;
  int id;
  enum sstate state;
  int active;            /* within the scale */
  struct worker *cur;
  struct worker *succ;
  int fails;             /* early deaths in a row */
  uint64_t *starts;      /* ring of early-death times, max_restarts long */
  int nstarts, starts_head;
  herd_timer_t restart_timer; /* S_BACKOFF, S_PARKED */
  uint64_t retry_at_ms;
  unsigned nspawns;      /* workers started in this slot */
  int has_exit;          /* the last exit of a worker of this slot: */
  int exit_code, exit_sig, exit_reason;
  int *rp_fds;           /* reuseport: this slot's sockets */
  struct lqw *rp_lq;     /* and their accept-queue watches */
  int steered_off;       /* reuseport: its sockets no longer chosen (from
                            S_DRAINING until they are closed) */
  int rp_serving;        /* reuseport: chosen by the groups when last
                            steered (reuseport.c) */
  uint64_t drain_since;  /* S_DRAINING */
  herd_timer_t drain_timer;
  int view_at;           /* herd_cluster_workers' scratch */
};

/* A process a worker left behind (it daemonized) that came back to us,
 * the child subreaper: told about, ended at the stop. */
struct orphan {
  herd_cluster_t *c;
  pid_t pid;
  int pidfd;
  int slot;
  herd_timer_t kill_timer;
  struct orphan *next;
};

struct herd_cluster {
  herd_cluster_opts_t o;
  int (*worker_main)(void *);
  void *arg;
  herd_loop_t *loop;
  enum cstate state;
  /* listening sockets */
  int nlisten;
  herd_addr_t *addrs;    /* what to bind (reuseport binds per slot) */
  int *fds;              /* shared sockets (reuseport: until slot 0 takes
                            them) */
  int own_fds;           /* we bound them (close them at the end) */
  int keep_paths;        /* ... but leave their Unix paths: another
                            process serves them now */
  char (*texts)[128];    /* the addresses as text */
  struct lqw *lq;        /* their accept-queue watches (shared mode) */
  int **rp_order;        /* reuseport: per address, the slots whose
                            sockets are in its group, in the kernel's
                            order */
  int *rp_n;
  int migrates;          /* the kernel moves a closed listener's queue */
  int rp_dirty;          /* reuseport: a socket joined or left a group
                            since it was last steered */
  /* workers and slots */
  struct slot **slots;   /* each allocated alone: timers inside must not
                            move */
  int nslots;            /* allocated */
  int want;              /* active slots wanted */
  struct worker *workers;
  struct worker **pidx;  /* the running ones by pid (pidx.c) */
  size_t npidx;          /* its buckets, a power of two (or 0) */
  size_t nrunning;       /* workers launched and not reaped */
  int ready_hint;        /* a slot not ready when last looked at (sup.c's
                            all_ready starts there) */
  struct orphan *orphans;
  struct {               /* workers exited since we last looked for what
                            they left behind (wio.c) */
    pid_t groups[ORPHAN_GROUPS]; /* their process groups, killed */
    int n;
    int slot;            /* their slot, -1 if of several */
    int any;             /* a look is due */
    herd_timer_t timer;
  } look;
  /* the notify socket */
  int notify_fd;
  char notify_name[108];
  uint64_t notify_said_ms;
  struct {               /* senders on the notify socket found to be no
                            worker's, remembered for a second: a flood
                            from one costs a lookup a second, not one
                            in /proc per datagram */
    pid_t pid;
    uint64_t until_ms;
  } foreign[8];
  int foreign_next;
  /* reload (C_RELOADING) */
  int reload_cursor;
  struct worker *reload_wait; /* the successor the reload waits for */
  int reload_again;      /* another was asked for meanwhile */
  int all_ready_sent;
  /* stop (C_STOPPING) */
  int graceful;
  int kills;             /* workers SIGKILLed at stop: herd_cluster_run's 1 */
  uint64_t stop_ms;      /* when the first stop request came */
  int stop_sig;
  herd_timer_t output_timer; /* C_DRAINING */
  int out_paused;        /* herd_cluster_pause_output */
  herd_timer_t out_sweep; /* partial lines' buffers: the empty ones given
                             back (wio.c), armed while some are kept */
  int sweep_armed;
  /* round robin */
  int rr_next;           /* the slot to try first */
  int rr_paused;         /* accepting is off, no worker free */
  int accept_short;      /* accept4 failed (out of fds): told once */
  herd_timer_t rr_timer;
  /* Node's cluster (node.c) */
  struct nsock *nsocks;
  int nnsocks;
  uint32_t node_seq;     /* our messages' "seq", one counter for all */
  unsigned node_ids;     /* NODE_UNIQUE_IDs given so far */
  /* set-up */
  int chld_saved;
  struct sigaction old_chld;
  int subreaper_was;
  herd_cluster_stats_t st; /* workers/reloading/stopping filled in by
                              herd_cluster_stats */
};

/* sup.c: the state machine */
void sup__emit(herd_cluster_t *c, int type, int reason, int slot, pid_t pid,
               int code, int sig, uint64_t delay, uint64_t uptime, const char *text);
int sup__start_worker(herd_cluster_t *c, int slot, int successor);
void sup__worker_ready(herd_cluster_t *c, struct worker *w);
void sup__worker_exited(herd_cluster_t *c, struct worker *w, int status);
void sup__worker_retire(herd_cluster_t *c, struct worker *w);
void sup__worker_stop(herd_cluster_t *c, struct worker *w, int reason);
/* slot's current worker if the cluster, the slot and the worker may be
 * steered now (not stopping, an active slot, a live worker not stopping
 * or being restarted); else NULL and *err: -ECANCELED (the cluster
 * stops) or -ENOENT. */
struct worker *sup__steerable(herd_cluster_t *c, int slot, int *err);
int sup__replace(herd_cluster_t *c, int slot, int reason, const char *text);
void sup__reload(herd_cluster_t *c);
int sup__restart(herd_cluster_t *c);
int sup__disconnect(herd_cluster_t *c, int slot);
void sup__scale(herd_cluster_t *c, int n);
void sup__shutdown(herd_cluster_t *c, int graceful, int sig);
void sup__slot_drained(herd_cluster_t *c, struct slot *s);
void sup__check_done(herd_cluster_t *c);
void sup__worker_free_if_done(herd_cluster_t *c, struct worker *w);
int sup__grow_slots(herd_cluster_t *c, int n);
int sup__public_state(const struct slot *s, const struct worker *w);
/* pidx.c: the running workers by pid */
struct worker *sup__find_pid(herd_cluster_t *c, pid_t pid);
void sup__pid_add(herd_cluster_t *c, struct worker *w);
void sup__pid_del(herd_cluster_t *c, struct worker *w);
void sup__pid_free(herd_cluster_t *c);
/* shared by sup.c (workers, slots) and supop.c (the cluster) */
void sup__maybe_all_ready(herd_cluster_t *c);
void sup__to_killing(herd_cluster_t *c, struct worker *w, int reason);
void sup__slot_emptied(herd_cluster_t *c, struct slot *s);
void sup__reload_next(herd_cluster_t *c);
static inline int sup__kill_timeout(const herd_cluster_t *c) {
  return c->o.kill_timeout_ms;
}
static inline int sup__alive(const struct worker *w) {
  return w && w->state != W_EXITED;
}
static inline int sup__stopping(const struct worker *w) {
  return w->state == W_HANDOFF || w->state == W_STOPPING || w->state == W_KILLING;
}

/* node.c (the protocol, the sockets) and noderr.c (their round robin) */
int node__send(struct worker *w, const char *json, size_t len, int fd, const char *type);
int node__subscribed(const struct worker *w, const struct nsock *ns);
void node__rr_accept_cb(herd_loop_t *loop, int fd, uint32_t events, void *data);
void node__rr_answer(herd_cluster_t *c, struct worker *w, uint32_t seq, int accepted);
void node__rr_rehand(herd_cluster_t *c, struct worker *w);
int node__message(herd_cluster_t *c, struct worker *w, const char *json, size_t len);
int node__disconnect(herd_cluster_t *c, struct worker *w);
int node__leave(herd_cluster_t *c, struct worker *w);
void node__chan_gone(herd_cluster_t *c, struct worker *w);
void node__worker_free(struct worker *w);
void node__free(herd_cluster_t *c);
void node__kick(herd_cluster_t *c);
static inline int node__on(const herd_cluster_t *c) {
  return (c->o.flags & HERD_CLUSTER_NODE) != 0;
}

/* launch.c */
int launch__worker(herd_cluster_t *c, struct worker *w);

/* wio.c */
void wio__watch_output(herd_cluster_t *c, struct worker *w);
void wio__watch_chan(herd_cluster_t *c, struct worker *w);
int wio__open_notify(herd_cluster_t *c);
void wio__close_notify(herd_cluster_t *c);
void wio__find_orphans(herd_cluster_t *c, int slot, const pid_t *groups, int n);
void wio__exited(herd_cluster_t *c, int slot, pid_t group);
void wio__look_now(herd_cluster_t *c);
struct orphan *wio__find_orphan(herd_cluster_t *c, pid_t pid);
void wio__orphan_free(herd_cluster_t *c, struct orphan *o);
void wio__orphan_stop(herd_cluster_t *c, struct orphan *o);
void wio__resume_output(herd_cluster_t *c);
void wio__pause_output(herd_cluster_t *c, int pause);
void wio__arm_sweep(herd_cluster_t *c);
void wio__chan_used(struct worker *w);

/* rr.c */
int rr__watch(herd_cluster_t *c);
void rr__resume(herd_cluster_t *c);
/* What was queued for w and not sent yet (its channel broke, or it takes
 * nothing) goes to the other workers; what nobody can take is closed. */
/* w took none of what it was handed for HANDOFF_TIMEOUT_MS: told, its
 * queue to the others (either round robin), replaced. */
void rr__deaf(herd_cluster_t *c, struct worker *w);
void rr__rehand(herd_cluster_t *c, struct worker *w);
void rr__stop_timers(herd_cluster_t *c, struct worker *w);

/* reuseport.c */
int rp__open(herd_cluster_t *c, struct slot *s);
void rp__close(herd_cluster_t *c, struct slot *s);
void rp__steer_all(herd_cluster_t *c);
int rp__queued(const struct slot *s);

/* listenq.c: the accept-queue watches of n sockets (TCP listeners only;
 * others are left unwatched), telling stalls as notices */
struct lqw *lq__watch(herd_cluster_t *c, const int *fds, int n, int slot);
void lq__unwatch(struct lqw *v, int n);

#endif
