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
};


/* channel.c, for chanrecv.c: an ACK/NACK reply, queued ahead of what
 * waits for the peer's own ACK; no more output (EOF, a write error). */
void herd__chan_queue_reply(herd_chan_t *ch, const char *line, size_t n);
void herd__chan_set_gone(herd_chan_t *ch);

#endif
