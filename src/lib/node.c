/*
 * node.c - the primary's side of Node's cluster protocol
 * (HERD_CLUSTER_NODE; docs/node-cluster.md has the protocol, checked
 * against Node 20's own sources and the real node). A worker started
 * with NODE_UNIQUE_ID is a cluster worker: its listen() and bind() ask
 * the master for a socket (queryServer). herd binds one per Node key and
 * keeps it until the end, across reloads and restarts, so that a
 * successor asking again gets the same socket: no EADDRINUSE, no refused
 * connection while workers change. Shared mode hands the worker the
 * socket; roundrobin mode accepts here and hands each connection over
 * (newconn), keeping its own copy until the worker says it took it: one
 * that refuses (maxConnections) goes to another worker, and what a
 * worker that dies never answered goes to the others. What else a
 * worker says: online, listening (readiness), close,
 * exitedAfterDisconnect. herd's graceful stop of a Node worker is
 * Node's own: the disconnect message (sup.c, to_stopping).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sup.h"

/* ---- sending ------------------------------------------------------ */

/* One message to w (a JSON text), with a handle of Node's type when
 * fd >= 0. Returns herd_chan_send's result. */
int node__send(struct worker *w, const char *json, size_t len, int fd,
                   const char *type) {
  if (!w->chan)
    return -EPIPE;
  wio__chan_used(w);
  return herd__chan_send_typed(w->chan, json, len, fd, type);
}

/* ---- sockets by key ------------------------------------------------ */

static struct nsock *ns_find(herd_cluster_t *c, const char *key) {
  for (struct nsock *ns = c->nsocks; ns; ns = ns->next)
    if (!strcmp(ns->key, key))
      return ns;
  return NULL;
}

int node__subscribed(const struct worker *w, const struct nsock *ns) {
  for (int i = 0; i < w->nsubs; i++)
    if (w->subs[i] == ns)
      return 1;
  return 0;
}

static int subscribe(struct worker *w, struct nsock *ns) {
  if (node__subscribed(w, ns))
    return 0;
  if (w->nsubs == w->capsubs) {
    int n = w->capsubs ? w->capsubs * 2 : 4;
    struct nsock **m = realloc(w->subs, (size_t)n * sizeof *m);
    if (!m)
      return -ENOMEM;
    w->subs = m;
    w->capsubs = n;
  }
  w->subs[w->nsubs++] = ns;
  return 0;
}

static void unsubscribe(struct worker *w, const struct nsock *ns) {
  for (int i = 0; i < w->nsubs; i++)
    if (w->subs[i] == ns) {
      w->subs[i] = w->subs[--w->nsubs];
      return;
    }
}

/* ---- queryServer ------------------------------------------------------- */

/* A value as JavaScript's String() writes it in Node's key: absent
 * "undefined", null "null", numbers as integers where they are. */
static void js_text(const herd_val_t *v, char *out, size_t cap) {
  if (!v)
    snprintf(out, cap, "undefined");
  else if (v->type == HERD_VAL_NULL)
    snprintf(out, cap, "null");
  else if (v->type == HERD_VAL_BOOL)
    snprintf(out, cap, "%s", v->boolean ? "true" : "false");
  else if (v->type == HERD_VAL_NUMBER && v->number == floor(v->number) &&
           fabs(v->number) < 1e15)
    snprintf(out, cap, "%.0f", v->number);
  else if (v->type == HERD_VAL_NUMBER)
    snprintf(out, cap, "%.17g", v->number);
  else if (v->type == HERD_VAL_STRING)
    snprintf(out, cap, "%s", v->str.s);
  else
    snprintf(out, cap, "[object]");
}

/* What the worker asked for. */
struct query {
  const char *address; /* NULL: every address */
  long port;           /* -1 for a unix path */
  int type;            /* 4, 6, -1 (unix), or 'u' + 4/6 for udp4/udp6 */
  long fd;             /* listen({fd}): -1 if not */
  int flags;
  int readable_all, writable_all;
};

static long num_or(const herd_val_t *v, long dflt) {
  int64_t x;
  return herd_val_int(v, -1, 65535, &x) == 0 ? (long)x : dflt;
}

/* Read the query's fields and make its key. 0, or -EINVAL for one herd
 * cannot act on (text: why). */
static int read_query(const herd_val_t *q, struct query *out, char *key, size_t cap) {
  const herd_val_t *address = herd_val_obj_get(q, "address"),
                   *port = herd_val_obj_get(q, "port"),
                   *type = herd_val_obj_get(q, "addressType"),
                   *fd = herd_val_obj_get(q, "fd"), *index = herd_val_obj_get(q, "index");
  char a[NODE_KEY_MAX], p[32], t[32], f[32], i[32];
  js_text(address, a, sizeof a);
  js_text(port, p, sizeof p);
  js_text(type, t, sizeof t);
  js_text(fd, f, sizeof f);
  js_text(index, i, sizeof i);
  if ((size_t)snprintf(key, cap, "%s:%s:%s:%s:%s", a, p, t, f, i) >= cap)
    return -ENAMETOOLONG;
  memset(out, 0, sizeof *out);
  out->address = address && address->type == HERD_VAL_STRING ? address->str.s : NULL;
  if (out->address && strlen(out->address) != address->str.len)
    return -EINVAL; /* a NUL inside: it would name another socket's key */
  out->port = num_or(port, -2);
  out->fd = num_or(fd, -1);
  out->flags = (int)num_or(herd_val_obj_get(q, "flags"), 0);
  const herd_val_t *ra = herd_val_obj_get(q, "readableAll"),
                   *wa = herd_val_obj_get(q, "writableAll");
  out->readable_all = ra && ra->type == HERD_VAL_BOOL && ra->boolean;
  out->writable_all = wa && wa->type == HERD_VAL_BOOL && wa->boolean;
  if (type && type->type == HERD_VAL_STRING)
    out->type = !strcmp(type->str.s, "udp4") ? 'u' + 4 : !strcmp(type->str.s, "udp6") ? 'u' + 6 : 0;
  else
    out->type = (int)num_or(type, 0);
  if (out->fd >= 0 && out->type < 'u')
    return 0; /* listen({fd}): the rest is null */
  if (!out->type || out->port < -1 || (out->type == -1) != (out->port == -1) ||
      (out->type == -1 && (!out->address || out->address[0] != '/')) ||
      (out->type >= 'u' && !out->address))
    return -EINVAL;
  return 0;
}

/* What the query asks for, as herd_addr_parse's text: a null address is
 * [::] (every address, IPv4 too with HERD_LISTEN_DUALSTACK). */
static void query_spec(const struct query *q, char *spec, size_t cap) {
  int v6 = q->type == 6 || q->type == 'u' + 6;
  if (q->type == -1)
    snprintf(spec, cap, "unix:%s", q->address);
  else if (!q->address)
    snprintf(spec, cap, "[::]:%ld", q->port);
  else
    snprintf(spec, cap, v6 ? "[%s]:%ld" : "%s:%ld", q->address, q->port);
}

/* The same for what herd says of it ("udp " before a UDP one's). */
static void query_text(const struct query *q, char *text, size_t cap) {
  size_t n = (size_t)snprintf(text, cap, "%s", q->type >= 'u' ? "udp " : "");
  query_spec(q, text + n, cap - n);
}

/* A UDP socket, bound as dgram asked (flags: UV_UDP_IPV6ONLY 1,
 * UV_UDP_REUSEADDR 4). */
static int bind_udp(const struct query *q, herd_addr_t *a) {
  char spec[NODE_KEY_MAX + 16];
  query_spec(q, spec, sizeof spec);
  int r = herd_addr_parse(spec, a);
  if (r < 0)
    return r;
  int fam = a->family;
  int fd = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;
  if (fd < 0)
    return -errno;
  if (((q->flags & 4) && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) ||
      ((q->flags & 1) && fam == AF_INET6 &&
       setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) ||
      bind(fd, (struct sockaddr *)&a->ss, a->len) < 0) {
    int e = -errno;
    herd__close(fd);
    return e;
  }
  a->len = sizeof a->ss;
  (void)getsockname(fd, (struct sockaddr *)&a->ss, &a->len);
  herd__addr_format(a);
  return fd;
}

/* One of the master's own sockets (-l) for the query, or -1: by the
 * worker's fd number (listen({fd: 3}) is the first), or by port and
 * address. */
static int preset(herd_cluster_t *c, const struct query *q) {
  if (q->fd >= 0)
    return q->fd >= 3 && q->fd - 3 < c->nlisten ? (int)q->fd - 3 : -2;
  if (q->type != 4 && q->type != 6)
    return -1;
  for (int i = 0; i < c->nlisten; i++) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(c->fds[i], (struct sockaddr *)&ss, &len) < 0 ||
        (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
      continue;
    int port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                             : ((struct sockaddr_in6 *)&ss)->sin6_port);
    if (port != q->port || q->port == 0)
      continue;
    int taken = 0;
    for (struct nsock *ns = c->nsocks; ns; ns = ns->next)
      taken |= ns->borrowed && ns->fd == c->fds[i];
    if (taken)
      continue;
    if (!q->address)
      return i;
    char host[INET6_ADDRSTRLEN];
    const void *src = ss.ss_family == AF_INET
                          ? (const void *)&((struct sockaddr_in *)&ss)->sin_addr
                          : (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
    if (inet_ntop(ss.ss_family, src, host, sizeof host) && !strcmp(host, q->address))
      return i;
  }
  return -1;
}

/* Bind what the query asks for, as Node's primary would (a null address
 * is [::] taking IPv4 too, else 0.0.0.0), and listen. The fd, or
 * -errno; *a gets the address bound. */
static int bind_stream(const struct query *q, herd_addr_t *a) {
  char spec[NODE_KEY_MAX + 16];
  query_spec(q, spec, sizeof spec);
  herd_addr_t want;
  int r = herd_addr_parse(spec, &want);
  if (r < 0)
    return r;
  r = herd_listen_open(&want, 0, HERD_LISTEN_DUALSTACK, a);
  if (r < 0 && !q->address && q->type != -1) {
    snprintf(spec, sizeof spec, "0.0.0.0:%ld", q->port);
    if (herd_addr_parse(spec, &want) == 0)
      r = herd_listen_open(&want, 0, 0, a);
  }
  if (r >= 0 && q->type == -1 && (q->readable_all || q->writable_all)) {
    struct stat st; /* as libuv's uv_pipe_chmod: a+r, a+w */
    if (stat(q->address, &st) == 0)
      (void)chmod(q->address, (st.st_mode & 07777) | (q->readable_all ? 0444u : 0) |
                                  (q->writable_all ? 0222u : 0));
  }
  return r;
}

/* The "sockname" member of a roundrobin reply (Node's server.address()),
 * or "" for a unix socket. */
static void make_sockname(struct nsock *ns) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  ns->sockname[0] = '\0';
  if (getsockname(ns->fd, (struct sockaddr *)&ss, &len) < 0)
    return;
  char host[INET6_ADDRSTRLEN];
  if (ss.ss_family == AF_INET) {
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    snprintf(ns->sockname, sizeof ns->sockname,
             ",\"sockname\":{\"address\":\"%s\",\"family\":\"IPv4\",\"port\":%d}", host,
             ntohs(in->sin_port));
  } else if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    snprintf(ns->sockname, sizeof ns->sockname,
             ",\"sockname\":{\"address\":\"%s\",\"family\":\"IPv6\",\"port\":%d}", host,
             ntohs(in6->sin6_port));
  }
}

static void ns_free(herd_cluster_t *c, struct nsock *ns) {
  herd_loop_timer_stop(c->loop, &ns->retry);
  for (int i = 0; i < ns->nheld; i++)
    herd__close(ns->held[i]);
  if (ns->rr)
    (void)herd_loop_del(c->loop, ns->fd);
  if (!ns->borrowed)
    herd__close(ns->fd);
  if (ns->unlink_path)
    (void)unlink(ns->unlink_path);
  free(ns->unlink_path);
  free(ns->key);
  free(ns->key_json);
  free(ns->data);
  free(ns);
}

/* A new socket for key: bound (or one of ours, -l) and, in roundrobin
 * mode for a stream, accepted from here. NULL with *err. */
static struct nsock *ns_open(herd_cluster_t *c, const char *key, const struct query *q,
                             int *err) {
  struct nsock *ns = calloc(1, sizeof *ns);
  char quoted[2 * NODE_KEY_MAX + 8];
  ssize_t ql = herd_json_quote(key, strlen(key), quoted, sizeof quoted);
  if (!ns || ql < 0 || !(ns->key = strdup(key)) || !(ns->key_json = strdup(quoted))) {
    *err = -ENOMEM;
    goto fail;
  }
  ns->c = c;
  ns->fd = -1;
  herd_addr_t a;
  memset(&a, 0, sizeof a);
  int i = q->type >= 'u' ? -1 : preset(c, q);
  if (i == -2) {
    *err = -EBADF; /* listen({fd: N}): no socket of ours there */
    goto fail;
  }
  if (i >= 0) {
    ns->fd = c->fds[i];
    ns->borrowed = 1;
    snprintf(ns->text, sizeof ns->text, "%s", c->texts[i]);
  } else {
    ns->udp = q->type >= 'u';
    ns->fd = ns->udp ? bind_udp(q, &a) : bind_stream(q, &a);
    if (ns->fd < 0) {
      *err = ns->fd;
      goto fail;
    }
    if (ns->udp)
      snprintf(ns->text, sizeof ns->text, "udp %.120s", a.text);
    else
      memcpy(ns->text, a.text, sizeof ns->text);
    if (a.family == AF_UNIX && !(ns->unlink_path = strdup(q->address))) {
      *err = -ENOMEM;
      goto fail;
    }
    sup__emit(c, HERD_EV_LISTEN, 0, -1, 0, 0, 0, 0, 0, ns->text);
  }
  /* Non-blocking, as Node's own are: libuv accepts until EAGAIN, and a
   * worker would sleep in accept() on a blocking socket that another
   * worker emptied, deaf to its channel (to disconnect, say). The flag
   * is the file's: the workers' copies (and LISTEN_FDS's, for one of
   * -l) have it too. */
  int r = herd__set_nonblock(ns->fd, 1);
  if (r < 0) {
    *err = r;
    goto fail;
  }
  if (c->o.balance == HERD_BALANCE_ROUNDROBIN && !ns->udp) {
    make_sockname(ns);
    if ((r = herd_loop_add(c->loop, ns->fd, EPOLLIN, node__rr_accept_cb, ns)) < 0) {
      *err = r;
      goto fail;
    }
    ns->rr = 1;
    ns->watching = 1;
  }
  ns->next = c->nsocks;
  c->nsocks = ns;
  c->nnsocks++;
  return ns;
fail:
  if (ns) {
    if (ns->fd >= 0 && !ns->borrowed)
      herd__close(ns->fd);
    if (ns->unlink_path)
      (void)unlink(ns->unlink_path);
    free(ns->unlink_path);
    free(ns->key);
    free(ns->key_json);
    free(ns);
  }
  return NULL;
}

/* Workers that run as another user (--user) get what they could bind
 * themselves, and the master's own sockets (-l): no port below 1024, and
 * no unix path, which the master (root) would create, chmod and remove
 * on a path the worker controls (a symlink swapped in between). A new
 * key only: one of the master's own is found by preset(). -EACCES. */
static int allowed(herd_cluster_t *c, const struct query *q) {
  if (!(c->o.spawn.flags & HERD_SPAWN_SETUID) || c->o.spawn.uid == geteuid())
    return 0;
  if (q->fd >= 0 || preset(c, q) >= 0)
    return 0;
  if (q->type == -1 || (q->port > 0 && q->port < 1024))
    return -EACCES;
  return 0;
}

/* The raw text of member key of the object text, or dflt. */
static const char *raw_member(const char *json, size_t len, const char *key, size_t *n,
                              const char *dflt) {
  const char *v;
  if (herd__json_member(json, len, key, &v, n) == 1)
    return v;
  *n = strlen(dflt);
  return dflt;
}

/* Answer queryServer: always, errors too (a worker waits for ever). */
static void query(herd_cluster_t *c, struct worker *w, const char *json, size_t len) {
  size_t seqn, datan;
  const char *seq = raw_member(json, len, "seq", &seqn, "null");
  const char *data = raw_member(json, len, "data", &datan, "null");
  herd_val_t *q = NULL;
  char key[NODE_KEY_MAX];
  struct query qr = {0};
  int err = 0;
  struct nsock *ns = NULL;
  if (seqn > 24) { /* not a seq Node writes: answered all the same */
    seq = "null";
    seqn = 4;
  }
  snprintf(key, sizeof key, "?");
  if (herd_json_parse(json, len, &q, NULL) < 0)
    err = -ENOMEM; /* (the channel validated it: memory, then) */
  else
    err = read_query(q, &qr, key, sizeof key);
  if (err == 0)
    err = allowed(c, &qr); /* another user's worker: what it could bind */
  if (err == 0 && !(ns = ns_find(c, key)) && c->nnsocks >= NODE_MAX_SOCKETS)
    err = -EMFILE; /* a worker asking for ever more sockets */
  else if (err == 0 && !ns)
    ns = ns_open(c, key, &qr, &err);
  if (err == 0 && !ns->rr && w->chan && herd__chan_handles_out(w->chan) >= NODE_HANDLES_OUT)
    err = -EBUSY; /* it takes none of its sockets: they would be fds of ours */
  if (err == 0 && (err = subscribe(w, ns)) == 0 && !w->pend && ns->rr &&
      !(w->pend = calloc(NODE_PEND, sizeof *w->pend)))
    err = -ENOMEM;
  if (ns && !ns->data && !(datan == 4 && !memcmp(data, "null", 4)) &&
      !(ns->data = strndup(data, datan)))
    err = -ENOMEM;
  if (err && w->node_sock_errs++ < NODE_SOCK_ERRS_TOLD) {
    /* a few lines per worker: one that asks in a loop does not flood */
    char text[NODE_KEY_MAX + 32];
    if (ns)
      snprintf(text, sizeof text, "%s", ns->text);
    else if (q && qr.type && (qr.type != -1 || qr.address))
      query_text(&qr, text, sizeof text);
    else
      snprintf(text, sizeof text, "%s", key); /* (what it asked is all wrong) */
    sup__emit(c, HERD_EV_NODE, HERD_REASON_NODE_SOCKET, w->slot, w->pid, err, 0, 0, 0, text);
  }
  /* Reply: shared, the socket itself; roundrobin, its name (we accept);
   * an error, errno alone. data: the first a worker sent for the socket
   * (TLS ticket keys: every worker the same), else this one's. */
  const char *d = ns && ns->data ? ns->data : data;
  size_t dn = ns && ns->data ? strlen(ns->data) : datan;
  char *msg = NULL;
  int n;
  char kq[2 * NODE_KEY_MAX + 8];
  if (!ns && herd_json_quote(key, strlen(key), kq, sizeof kq) < 0)
    snprintf(kq, sizeof kq, "null");
  if (err)
    n = asprintf(&msg, "{\"cmd\":\"NODE_CLUSTER\",\"errno\":%d,\"key\":%s,\"ack\":%.*s,"
                       "\"data\":%.*s,\"seq\":%u}",
                 err, ns ? ns->key_json : kq, (int)seqn, seq, (int)datan, data, c->node_seq++);
  else
    n = asprintf(&msg, "{\"cmd\":\"NODE_CLUSTER\",\"errno\":%s,\"key\":%s,\"ack\":%.*s,"
                       "\"data\":%.*s%s,\"seq\":%u}",
                 ns->rr ? "null" : "0", ns->key_json, (int)seqn, seq, (int)dn, d,
                 ns->rr ? ns->sockname : "", c->node_seq++);
  if (n >= 0) {
    int r = node__send(w, msg, (size_t)n, err || ns->rr ? -1 : ns->fd,
                    err || ns->rr ? NULL : ns->udp ? "dgram.Native" : "net.Native");
    if (r < 0 && !err)
      sup__emit(c, HERD_EV_NODE, HERD_REASON_NODE_SOCKET, w->slot, w->pid, r, 0, 0, 0,
                ns->text);
    free(msg);
  }
  herd_val_free(q);
  if (!err && ns->rr)
    node__kick(c);
}

/* ---- what a worker says ------------------------------------------------ */

static void bad_message(herd_cluster_t *c, struct worker *w, const char *json, size_t len) {
  if (w->node_bad_told)
    return; /* one line per worker: a worker cannot flood the log */
  w->node_bad_told = 1;
  char text[256];
  snprintf(text, sizeof text, "%.*s%s", (int)(len < 200 ? len : 200), json,
           len < 200 ? "" : "...");
  sup__emit(c, HERD_EV_NODE, HERD_REASON_NODE_BAD_MESSAGE, w->slot, w->pid, 0, 0, 0, 0, text);
}

/* The string member key (cut at cap - 1 bytes), or "". */
static void str_member(const char *json, size_t len, const char *key, char *out, size_t cap) {
  const char *v;
  size_t vlen;
  ssize_t n = -1;
  if (herd__json_member(json, len, key, &v, &vlen) == 1)
    n = herd__json_str(v, vlen, out, cap - 1);
  out[n < 0 ? 0 : (size_t)n < cap - 1 ? (size_t)n : cap - 1] = '\0';
}

/* A whole number member, or -1. */
static long long num_member(const char *json, size_t len, const char *key) {
  const char *v;
  size_t vlen;
  char b[24];
  if (herd__json_member(json, len, key, &v, &vlen) != 1 || vlen == 0 || vlen >= sizeof b)
    return -1;
  memcpy(b, v, vlen);
  b[vlen] = '\0';
  char *end;
  long long x = strtoll(b, &end, 10);
  return *end || x < 0 ? -1 : x;
}

static void cluster_message(herd_cluster_t *c, struct worker *w, const char *json,
                            size_t len) {
  long long ack = num_member(json, len, "ack");
  const char *v;
  size_t vlen;
  if (ack >= 0 && herd__json_member(json, len, "accepted", &v, &vlen) == 1) {
    node__rr_answer(c, w, (uint32_t)ack, vlen == 4 && !memcmp(v, "true", 4));
    return;
  }
  char act[32];
  str_member(json, len, "act", act, sizeof act);
  if (!strcmp(act, "queryServer")) {
    if (!w->node_disc && !sup__stopping(w))
      query(c, w, json, len); /* one that leaves: ignored, as Node does */
  } else if (!strcmp(act, "listening")) {
    if (c->o.ready == HERD_READY_LISTENING && w->state == W_STARTING)
      sup__worker_ready(c, w);
  } else if (!strcmp(act, "close")) {
    char key[NODE_KEY_MAX];
    str_member(json, len, "key", key, sizeof key);
    struct nsock *ns = ns_find(c, key);
    if (ns)
      unsubscribe(w, ns); /* the socket stays: a successor asks again */
  } else if (!strcmp(act, "exitedAfterDisconnect")) {
    /* it leaves on its own: it waits for this answer to go */
    size_t seqn;
    const char *seq = raw_member(json, len, "seq", &seqn, "null");
    char msg[96];
    int n = snprintf(msg, sizeof msg, "{\"cmd\":\"NODE_CLUSTER\",\"ack\":%.*s,\"seq\":%u}",
                     (int)(seqn < 24 ? seqn : 4), seqn < 24 ? seq : "null", c->node_seq++);
    (void)node__send(w, msg, (size_t)n, -1, NULL);
  } else if (strcmp(act, "online") != 0) {
    bad_message(c, w, json, len);
  }
}

int node__message(herd_cluster_t *c, struct worker *w, const char *json, size_t len) {
  const char *v = NULL;
  size_t vlen = 0;
  (void)herd__json_member(json, len, "cmd", &v, &vlen);
  int kind = herd__chan_cmd_kind(v, vlen);
  if (kind == CMD_CLUSTER)
    cluster_message(c, w, json, len);
  return kind != CMD_USER; /* Node's internal messages are nobody else's */
}

int node__disconnect(herd_cluster_t *c, struct worker *w) {
  if (!w->chan || herd__chan_gone(w->chan))
    return -EPIPE;
  char msg[80];
  int n = snprintf(msg, sizeof msg, "{\"cmd\":\"NODE_CLUSTER\",\"act\":\"disconnect\",\"seq\":%u}",
                   c->node_seq++);
  int r = node__send(w, msg, (size_t)n, -1, NULL);
  if (r < 0)
    return r;
  w->node_disc = 1;
  return 0;
}

/* herd_cluster_disconnect: as Node's Worker.prototype.disconnect, the
 * message, then no connection offered to it any more (its handles
 * removed); those handed already it still answers. */
int node__leave(herd_cluster_t *c, struct worker *w) {
  int r = node__disconnect(c, w);
  if (r < 0)
    return r;
  w->nsubs = 0;
  node__kick(c); /* what waited for it, to the others */
  return 0;
}

void node__chan_gone(herd_cluster_t *c, struct worker *w) {
  /* what the channel had not sent yet: our own copies are in the ring */
  int fds[NODE_PEND], n;
  while (w->chan && (n = herd__chan_take_handles(w->chan, fds, NODE_PEND)) > 0)
    for (int i = 0; i < n; i++)
      herd__close(fds[i]);
  herd_loop_timer_stop(c->loop, &w->handoff_timer);
  w->nsubs = 0; /* a worker without a channel asks for nothing more */
  node__rr_rehand(c, w);
  node__kick(c);
}

void node__worker_free(struct worker *w) {
  while (w->pend && w->pend_n) {
    herd__close(w->pend[w->pend_head].fd);
    w->pend_head = (w->pend_head + 1) % NODE_PEND;
    w->pend_n--;
  }
  free(w->pend);
  free(w->subs);
  w->pend = NULL;
  w->subs = NULL;
}

void node__free(herd_cluster_t *c) {
  while (c->nsocks) {
    struct nsock *ns = c->nsocks;
    c->nsocks = ns->next;
    ns_free(c, ns);
  }
}
