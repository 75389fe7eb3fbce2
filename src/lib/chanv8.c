/*
 * chanv8.c - the message channel in Node's 'advanced' serialization
 * (fork(..., {serialization: 'advanced'}); docs/channel.md): each
 * message is V8's serialization of one value behind a 4-byte big-endian
 * length (lib/internal/child_process/serialization.js), Node's internal
 * messages (NODE_HANDLE, its ACK/NACK, NODE_CLUSTER) are objects in the
 * same frames, and an fd still travels as SCM_RIGHTS on the sendmsg of
 * its NODE_HANDLE frame.
 *
 * The channel's buffers, fd FIFO, handle marks and flushing are
 * channel.c's and chanrecv.c's; this file frames, decodes and encodes
 * (herd_v8_decode / herd_v8_encode, straight into the output buffer).
 * A frame's length is checked against max_message before anything is
 * allocated for it; a frame too long is dropped as it streams in (skip),
 * so memory stays bounded whatever the peer says.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "chan.h"

/* {cmd: 'NODE_HANDLE_ACK'} and {cmd: 'NODE_HANDLE_NACK'} framed, as
 * Node's serializer writes them (docs/channel.md). */
static const char ACK[] = "\x00\x00\x00\x1b\xff\x0f\x6f\x22\x03" "cmd"
                          "\x22\x0f" "NODE_HANDLE_ACK" "\x7b\x01";
static const char NACK[] = "\x00\x00\x00\x1c\xff\x0f\x6f\x22\x03" "cmd"
                           "\x22\x10" "NODE_HANDLE_NACK" "\x7b\x01";
/* What herd_chan_flush_wait writes over an ACK it took out of the input:
 * {cmd: 'NODE_DONE'}, an internal message recv drops; the rest of the
 * payload is zeros, which the reader ignores after the value. Every
 * payload it replaces is longer (an ACK's is 27 bytes at least). */
static const char DONE[] = "\xff\x0f\x6f\x22\x03" "cmd" "\x22\x09" "NODE_DONE"
                           "\x7b\x01";

static uint32_t be32(const char *p) {
  const uint8_t *u = (const uint8_t *)p;
  return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 |
         u[3];
}

static void advance(herd_chan_t *ch, size_t n) {
  ch->rstart += n;
  ch->rscan = ch->rstart; /* chanrecv.c's fill moves both */
}

/* Drop what arrived of a frame too long. */
static void skip_some(herd_chan_t *ch) {
  size_t avail = ch->rlen - ch->rstart;
  size_t n = avail < ch->skip ? avail : ch->skip;
  advance(ch, n);
  ch->skip -= n;
}

/* As Node's isInternal: a top-level object whose "cmd" is a string
 * longer than 5 that starts with NODE_ (WTF-8 bytes: past 5 ASCII bytes,
 * any more is at least one more code unit). */
static int val_cmd_kind(const herd_val_t *v) {
  if (!v || v->type != HERD_VAL_OBJECT)
    return CMD_USER;
  const herd_val_t *c = herd_val_obj_getn(v, "cmd", 3);
  if (!c || c->type != HERD_VAL_STRING)
    return CMD_USER;
  return herd__chan_cmd_named(c->str.s, c->str.len);
}

void herd__chanv8_release(herd_chan_t *ch) {
  herd_val_free(ch->rval);
  herd_val_free(ch->rnone);
  free(ch->rjson);
  ch->rval = ch->rnone = NULL;
  ch->rjson = NULL;
}

/* A NODE_HANDLE frame v: take its fd, answer, point msg at its message.
 * 1 to deliver, 0 dropped (v freed), or -ENOMEM. */
static int handle_frame(herd_chan_t *ch, herd_val_t *v, herd_chan_msg_t *msg,
                        const herd_val_t **out) {
  int fd = herd__chan_pop_fd(ch);
  if (ch->answered > 0) {
    ch->answered--; /* flush_wait saw its fd and acknowledged it */
  } else if (fd < 0) {
    herd__chan_queue_reply(ch, NACK, sizeof NACK - 1);
    herd_val_free(v);
    return 0; /* as Node: nothing is delivered */
  } else {
    herd__chan_queue_reply(ch, ACK, sizeof ACK - 1);
  }
  const herd_val_t *m = herd_val_deref(herd_val_obj_getn(v, "msg", 3));
  if (m && val_cmd_kind(m) != CMD_USER) {
    /* Node emits the message inside as its own would be: an internal
     * one is not the user's (the handle goes with it). */
    herd__close(fd);
    herd_val_free(v);
    return 0;
  }
  if (!m) {
    m = ch->rnone = herd_val_undefined(); /* Node delivers undefined */
    if (!m) {
      herd__close(fd);
      herd_val_free(v);
      return -ENOMEM;
    }
  }
  msg->fd = fd;
  const herd_val_t *t = herd_val_obj_getn(v, "type", 4);
  if (t && t->type == HERD_VAL_STRING) {
    /* Node's type names are ASCII; a longer one is cut at a character */
    size_t n = t->str.len;
    if (n > sizeof msg->handle_type - 1) {
      n = sizeof msg->handle_type - 1;
      while (n > 0 && (t->str.s[n] & 0xc0) == 0x80)
        n--;
    }
    memcpy(msg->handle_type, t->str.s, n);
    msg->handle_type[n] = '\0';
  }
  *out = m;
  return 1;
}

/* One whole frame's payload p[0..len) (len > 0): 1 with msg filled, 0 if
 * it was one of Node's internal messages (handled), or an error. */
static int deliver(herd_chan_t *ch, const char *p, size_t len,
                   herd_chan_msg_t *msg) {
  herd_val_t *v = NULL;
  int r = herd_v8_decode(p, len, NULL, &v, NULL);
  if (r < 0)
    return r == -ENOMEM ? r : HERD_EFRAME;
  memset(msg, 0, sizeof *msg);
  msg->fd = -1;
  const herd_val_t *out = v;
  int kind = val_cmd_kind(v);
  if (kind == CMD_HANDLE) {
    r = handle_frame(ch, v, msg, &out);
    if (r <= 0)
      return r;
  } else if (kind == CMD_ACK || kind == CMD_NACK) {
    ch->acks += ch->awaiting_ack;
    ch->awaiting_ack = 0; /* an unsolicited one changes nothing */
    herd_val_free(v);
    return 0;
  } else if (kind != CMD_USER && !ch->internal) {
    herd_val_free(v); /* NODE_CLUSTER, ...: a cluster primary's only */
    return 0;
  }
  ch->rval = v;
  msg->val = (herd_val_t *)out;
  if (ch->nojson)
    return 1;
  r = herd_v8_to_json(out, NULL, &ch->rjson, &msg->len);
  if (r < 0) {
    /* What herd_v8_decode read, herd_v8_to_json writes: only memory
     * fails here. */
    herd__closep(&msg->fd);
    herd__chanv8_release(ch);
    return r == -ENOMEM ? r : HERD_EFRAME;
  }
  msg->json = ch->rjson;
  return 1;
}

int herd__chanv8_recv(herd_chan_t *ch, herd_chan_msg_t *msg) {
  herd__chanv8_release(ch);
  for (;;) {
    if (ch->skip)
      skip_some(ch);
    size_t avail = ch->rlen - ch->rstart;
    if (!ch->skip && avail >= HERD_V8_FRAME_HEADER) {
      uint32_t len = be32(ch->rbuf + ch->rstart);
      if (len > ch->max_message) {
        /* Refused before a byte of it is kept: dropped as it comes. */
        advance(ch, HERD_V8_FRAME_HEADER);
        ch->skip = len;
        skip_some(ch);
        return HERD_ETOOLONG;
      }
      if (avail - HERD_V8_FRAME_HEADER >= len) {
        const char *p = ch->rbuf + ch->rstart + HERD_V8_FRAME_HEADER;
        advance(ch, HERD_V8_FRAME_HEADER + len);
        if (len == 0)
          return HERD_EFRAME; /* no header: Node would die on it */
        int r = deliver(ch, p, len, msg);
        if (r == 0)
          continue;
        return r;
      }
    }
    if (ch->eof) {
      /* a last frame cut short is dropped, and said once */
      if (ch->rlen > ch->rstart) {
        advance(ch, ch->rlen - ch->rstart);
        return HERD_ETRUNC;
      }
      return HERD_EPEERGONE;
    }
    ssize_t n = herd__chan_fill(ch, MSG_DONTWAIT);
    if (n == -EAGAIN)
      return 0;
    if (n < 0)
      return (int)n;
  }
}

int herd__chanv8_pending(const herd_chan_t *ch) {
  size_t avail = ch->rlen - ch->rstart;
  if (ch->skip)
    return avail > 0; /* recv drops it, then looks at what follows */
  if (avail < HERD_V8_FRAME_HEADER)
    return 0;
  uint32_t len = be32(ch->rbuf + ch->rstart);
  return len > ch->max_message || avail - HERD_V8_FRAME_HEADER >= len;
}

/* herd_chan_flush_wait's look at the input (chanrecv.c's scan_control
 * says why): each whole frame once; our handle's ACK/NACK taken out (its
 * payload overwritten with DONE), a peer's handle acknowledged now. */
int herd__chanv8_scan(herd_chan_t *ch) {
  if (ch->skip) {
    skip_some(ch);
    if (ch->skip)
      return 0;
  }
  size_t pos = ch->cscan > ch->rstart ? ch->cscan : ch->rstart;
  while (ch->rlen - pos >= HERD_V8_FRAME_HEADER) {
    uint32_t len = be32(ch->rbuf + pos);
    if (len > ch->max_message) {
      if (pos != ch->rstart)
        return HERD_ETOOLONG; /* recv must take the frames before it */
      /* Drop it as recv would, and let recv report it in its turn. */
      advance(ch, HERD_V8_FRAME_HEADER);
      ch->skip = len;
      ch->toolong_pending = 1;
      skip_some(ch);
      ch->cscan = ch->rstart;
      return 0;
    }
    if (ch->rlen - pos - HERD_V8_FRAME_HEADER < len)
      break;
    char *p = ch->rbuf + pos + HERD_V8_FRAME_HEADER;
    pos = ch->cscan = pos + HERD_V8_FRAME_HEADER + len;
    /* Node writes the cmd as a one-byte string: a frame without these
     * bytes is a user's (recv, deciding on the value, agrees or answers
     * itself). */
    if (len < sizeof DONE || !memmem(p, len, "NODE_HANDLE", 11))
      continue;
    herd_val_t *v;
    if (herd_v8_decode(p, len, NULL, &v, NULL) < 0)
      continue; /* recv reports it */
    int kind = val_cmd_kind(v);
    herd_val_free(v);
    if (herd__chan_scan_answer(ch, kind, ACK, sizeof ACK - 1, NACK, sizeof NACK - 1)) {
      memcpy(p, DONE, sizeof DONE - 1);
      memset(p + sizeof DONE - 1, 0, len - (sizeof DONE - 1));
    }
  }
  ch->cscan = pos;
  return 0;
}

/* ---- output ------------------------------------------------------ */

/* Encode v (with the handle's wrapper when type is set) at the end of
 * the output, after room for the length. The payload's length, or an
 * error; it fitted only if no larger than *room. */
static ssize_t encode_at(herd_chan_t *ch, const herd_val_t *v,
                         const char *type, const char *dgram, size_t *room) {
  *room = ch->ocap - ch->olen - HERD_V8_FRAME_HEADER;
  char *at = ch->obuf + ch->olen + HERD_V8_FRAME_HEADER;
  if (type)
    return herd__v8_encode_handle(v, type, dgram ? "dgramType" : NULL, dgram,
                                  at, *room);
  return herd_v8_encode(v, NULL, at, *room);
}

static int send_v8(herd_chan_t *ch, const herd_val_t *v, int fd,
                   const char *typed) {
  int dupfd = -1, r;
  const char *type = NULL, *dgram = NULL;
  r = herd__chan_handle_dup(ch, fd, typed, &dupfd, &type, &dgram);
  if (r < 0)
    return r;
  /* Straight into the output buffer: room for what the last message
   * took first (a stream of alike messages is encoded once each); if
   * the payload needs more, that much room (within max_queued) and
   * again. */
  size_t room;
  ssize_t n = -ENOMEM;
  size_t guess = ch->v8_hint > 256 ? ch->v8_hint : 256;
  if (herd__chan_obuf_reserve(ch, HERD_V8_FRAME_HEADER + guess) == 0)
    n = encode_at(ch, v, type, dgram, &room);
  if (n >= 0)
    ch->v8_hint = (size_t)n <= (1u << 20) ? (size_t)n : 0;
  if (n >= 0 && (size_t)n >= 0x80000000u)
    n = -EMSGSIZE; /* Node reads the length as a signed 32-bit number */
  else if (n >= 0 && herd_chan_queued(ch) + HERD_V8_FRAME_HEADER + (size_t)n >
                         ch->max_queued)
    n = -ENOBUFS;
  else if (n >= 0 && (size_t)n > room) {
    size_t want = (size_t)n;
    n = herd__chan_obuf_reserve(ch, HERD_V8_FRAME_HEADER + want) < 0
            ? -ENOMEM
            : encode_at(ch, v, type, dgram, &room);
    if (n >= 0 && (size_t)n != want)
      n = -EINVAL; /* cannot happen: the same tree, the same bytes */
  }
  if (n >= 0 && dupfd >= 0 && herd__chan_mark_add(ch, dupfd) < 0)
    n = -ENOMEM;
  if (n < 0) {
    herd__close(dupfd);
    return (int)n;
  }
  char *pre = ch->obuf + ch->olen;
  pre[0] = (char)((size_t)n >> 24);
  pre[1] = (char)((size_t)n >> 16);
  pre[2] = (char)((size_t)n >> 8);
  pre[3] = (char)n;
  ch->olen += HERD_V8_FRAME_HEADER + (size_t)n;
  if (dupfd >= 0)
    herd__chan_mark_end(ch);
  r = herd__chan_queued_done(ch);
  return r;
}

int herd__chanv8_send_json(herd_chan_t *ch, const char *json, size_t len,
                           int fd, const char *typed) {
  herd_val_t *v;
  int r = herd_v8_from_json(json, len, NULL, &v, NULL);
  if (r < 0)
    return r == -ENOMEM ? r : -EINVAL;
  r = send_v8(ch, v, fd, typed);
  herd_val_free(v);
  return r;
}

int herd_chan_send_val(herd_chan_t *ch, const herd_val_t *val, int fd) {
  if (!ch || !val)
    return -EINVAL;
  if (ch->gone)
    return -EPIPE;
  if (ch->advanced)
    return send_v8(ch, val, fd, NULL);
  /* 'json' mode: what Node's process.send writes, JSON.stringify's text */
  char *s;
  size_t n;
  int r = herd_json_stringify(val, &s, &n);
  if (r == 1)
    return -EINVAL; /* undefined: no text */
  if (r < 0)
    return r == -ENOMEM ? r : -EINVAL;
  r = herd_chan_send(ch, s, n, fd);
  free(s);
  return r;
}

int herd_chan_mode(const herd_chan_t *ch) {
  if (!ch)
    return -EINVAL;
  return ch->advanced ? HERD_CHAN_MODE_ADVANCED : HERD_CHAN_MODE_JSON;
}

int herd_chan_connected(const herd_chan_t *ch) {
  return ch && !ch->gone;
}
