/*
 * chan.h - the message channel's state, shared by channel.c (opening,
 * output) and chanrecv.c (input, Node's internal messages, the blocking
 * helpers). Not installed.
 */
#ifndef HERD_CHAN_H
#define HERD_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

#define READ_MIN 65536
#define AUTO_FLUSH (64u * 1024u)
#define MAX_PENDING_FDS 64
#define MAX_FDS_PER_READ 16
#define MAX_HANDLES_QUEUED 1024

struct handle_mark {
  size_t off; /* where its line starts in obuf */
  size_t end; /* one past its '\n' */
  int fd;     /* our duplicate; -1 once sent */
};

struct herd_chan {
  int fd;
  int gone;        /* EOF or a write error: no more output */
  int eof;
  size_t max_message;
  size_t max_queued;
  /* input */
  char *rbuf;
  size_t rstart, rscan, rlen, rcap;
  int discarding;
  int toolong_pending; /* flush_wait began dropping a line: recv says so */
  int started;     /* a first byte has been checked */
  int fdq[MAX_PENDING_FDS];
  int fdq_head, fdq_n;
  /* output */
  char *obuf;
  size_t ohead, olen, ocap;
  struct handle_mark *marks;
  size_t mark_head, mark_n, mark_cap;
  int awaiting_ack;
  int full;        /* the last write said EAGAIN */
  int answered;    /* NODE_HANDLE lines at the front of the input already
                      acknowledged by scan_control (recv must not again) */
  size_t cscan;    /* scan_control has seen the lines before this offset */
  size_t cnl;      /* and found no '\n' in [cscan, cnl) */
  char ctl[256];   /* ACK/NACK replies waiting to go out first */
  size_t ctl_len;
  int plain;       /* HERD_CHAN_PLAIN: no Node internals, no fds */
  int internal;    /* deliver Node's internal messages (NODE_CLUSTER, ...)
                      too: herd__chan_set_internal */
  uint64_t acks;   /* ACK/NACKs of our handles received */
  /* Node's 'advanced' serialization (chanv8.c) */
  int advanced;    /* frames of V8 values, not JSON lines */
  int nojson;      /* HERD_CHAN_NO_JSON: recv leaves msg->json NULL */
  size_t skip;     /* bytes of a frame too long still to drop */
  herd_val_t *rval;  /* the tree of the message last delivered */
  herd_val_t *rnone; /* the undefined of a handle sent without message */
  char *rjson;     /* rval's JSON (herd_v8_to_json) */
  size_t v8_hint;  /* the last payload sent, if at most 1 MiB: the room
                      the next one is first encoded into */
};


/* channel.c, for chanrecv.c: an ACK/NACK reply, queued ahead of what
 * waits for the peer's own ACK; no more output (EOF, a write error). */
void herd__chan_queue_reply(herd_chan_t *ch, const char *line, size_t n);
void herd__chan_set_gone(herd_chan_t *ch);
/* chanrecv.c, for both modes' scan of the input during flush_wait: a
 * message of kind (CMD_*) answers the handle protocol now (the ACK we
 * wait for, or a peer's handle: ack, one with no fd nack, each in the
 * mode's own bytes). Returns 1 if the message is spent (recv skips it). */
int herd__chan_scan_answer(herd_chan_t *ch, int kind, const char *ack, size_t ack_len,
                           const char *nack, size_t nack_len);
/* channel.c's output, for chanv8.c: room for more bytes at olen; a
 * handle's mark (its message starts at olen; _end: it ends at olen);
 * the end of a send (auto flush; 1 above HERD_CHAN_HIGH_WATER); Node's
 * type of an fd (*dgram: its dgramType or NULL). */
int herd__chan_obuf_reserve(herd_chan_t *ch, size_t more);
int herd__chan_mark_add(herd_chan_t *ch, int fd);
void herd__chan_mark_end(herd_chan_t *ch);
int herd__chan_queued_done(herd_chan_t *ch);
const char *herd__chan_handle_type(int fd, const char **dgram);
/* The handle fd of a send (-1: none) as the queue keeps it: a CLOEXEC
 * copy in *dupfd and Node's type for it in *type (typed, if given) and
 * *dgram. 0 (nothing set for -1), -ENOBUFS (too many handles queued) or
 * -errno (fd not open). */
int herd__chan_handle_dup(herd_chan_t *ch, int fd, const char *typed, int *dupfd,
                          const char **type, const char **dgram);

/* chanrecv.c, for chanv8.c: one recvmsg into rbuf (fds to the FIFO; at
 * the end, 0 with eof set and the peer gone);
 * the FIFO's next fd (-1: none). */
ssize_t herd__chan_fill(herd_chan_t *ch, int dontwait);
int herd__chan_pop_fd(herd_chan_t *ch);

/* chanv8.c: the 'advanced' mode's halves of herd_chan_send (JSON text
 * converted), herd_chan_recv, herd_chan_flush_wait's look for the handle
 * protocol, herd__chan_pending; and freeing the last message's tree. */
int herd__chanv8_send_json(herd_chan_t *ch, const char *json, size_t len,
                           int fd, const char *typed);
int herd__chanv8_recv(herd_chan_t *ch, herd_chan_msg_t *msg);
int herd__chanv8_scan(herd_chan_t *ch);
int herd__chanv8_pending(const herd_chan_t *ch);
void herd__chanv8_release(herd_chan_t *ch);

#endif
