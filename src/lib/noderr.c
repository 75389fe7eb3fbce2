/*
 * noderr.c - Node's cluster in roundrobin mode, the primary's side
 * (node.c has the rest): herd accepts on a socket workers asked for and
 * hands each connection to the next ready worker that asked for it
 * ({"act":"newconn"} with the fd as a net.Native handle), keeping its own
 * copy until the worker answers {"ack","accepted"}. O(1) per connection,
 * no allocation: a ring of NODE_PEND per worker is the back-pressure (a
 * worker with as many unanswered is skipped; none free: the connections
 * wait in the kernel's queue). A refused one (maxConnections) goes to
 * another worker, never straight back (Node's primary loops on it); what
 * no worker takes is held and offered again every NODE_RETRY_MS; what a
 * worker that dies never answered goes to the others; one that answers
 * nothing for HANDOFF_TIMEOUT_MS is replaced. With HERD_CLUSTER_STICKY a
 * connection goes to the worker of its client address's slot (hashed),
 * held while that one is busy; refused or handed back, it goes to any.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "sup.h"

static void handoff_cb(herd_loop_t *loop, herd_timer_t *t, void *data);

/* Watch the socket for connections (on), or leave them in the kernel's
 * queue (off), where they are safe, until a worker can take one. */
static void ns_watch(struct nsock *ns, int on) {
  if (ns->watching == on)
    return;
  if (herd_loop_mod(ns->c->loop, ns->fd, on ? EPOLLIN : 0) == 0)
    ns->watching = on;
}

/* The next ready worker from ns->rr_next that asked for ns and can take
 * a connection now (not skip). */
static struct worker *pick(herd_cluster_t *c, struct nsock *ns, const struct worker *skip) {
  for (int k = 0; k < c->nslots; k++) {
    struct slot *s = c->slots[(ns->rr_next + k) % c->nslots];
    struct worker *w = s->active ? s->cur : NULL;
    if (w && w != skip && w->state == W_READY && !w->deaf && w->chan &&
        !herd__chan_gone(w->chan) && w->pend && w->pend_n < NODE_PEND &&
        herd_chan_queued(w->chan) < RR_MAX_QUEUED && node__subscribed(w, ns))
      return w;
  }
  return NULL;
}

/* HERD_CLUSTER_STICKY: FNV-1a of the client's IP address (an IPv4-mapped
 * IPv6 one as the IPv4 it is), so that one client always lands on the
 * same slot. */
static uint32_t addr_hash(const struct sockaddr_storage *ss, socklen_t len) {
  const uint8_t *p = NULL;
  size_t n = 0;
  if (ss->ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
    p = (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
    n = 4;
  } else if (ss->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
    p = a->s6_addr + (IN6_IS_ADDR_V4MAPPED(a) ? 12 : 0);
    n = IN6_IS_ADDR_V4MAPPED(a) ? 4 : 16;
  }
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 16777619u;
  return h;
}

/* The worker for a client of hash h: its slot's, or the next ready one
 * that asked for ns; NULL if that one cannot take a connection now (the
 * connection waits for it: held). */
static struct worker *sticky_pick(herd_cluster_t *c, struct nsock *ns, uint32_t h) {
  for (int k = 0; k < c->nslots; k++) {
    struct slot *s = c->slots[(int)((h + (uint32_t)k) % (uint32_t)c->nslots)];
    struct worker *w = s->active ? s->cur : NULL;
    if (w && w->state == W_READY && !w->deaf && w->chan && !herd__chan_gone(w->chan) &&
        w->pend && node__subscribed(w, ns))
      return w->pend_n < NODE_PEND && herd_chan_queued(w->chan) < RR_MAX_QUEUED ? w : NULL;
  }
  return NULL;
}

static uint32_t peer_hash(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
    return 0;
  return addr_hash(&ss, len);
}

static int sticky(const herd_cluster_t *c) {
  return (c->o.flags & HERD_CLUSTER_STICKY) != 0;
}

static void retry_cb(herd_loop_t *loop, herd_timer_t *t, void *data);

/* A connection nobody can take now: kept for a retry, or closed when
 * too many wait. */
static void hold(struct nsock *ns, int conn) {
  herd_cluster_t *c = ns->c;
  if (ns->nheld == NODE_HELD) {
    herd__close(conn);
    c->st.rr_dropped++;
    return;
  }
  ns->held_ms[ns->nheld] = herd__now_ms();
  ns->held[ns->nheld++] = conn;
  ns_watch(ns, 0); /* the held ones first */
  if (!ns->retry.heap_index)
    (void)herd_loop_timer_start(c->loop, &ns->retry, NODE_RETRY_MS, retry_cb, ns);
}

/* Hand conn (ours until the answer) to w, or, if its channel will not
 * take it, to another worker; held when none will. */
static void give(herd_cluster_t *c, struct nsock *ns, struct worker *w, int conn) {
  for (int tries = 0; w && tries < c->nslots; w = pick(c, ns, w), tries++) {
    char msg[NODE_KEY_MAX + 96];
    uint32_t seq = c->node_seq++;
    int n = snprintf(msg, sizeof msg,
                     "{\"cmd\":\"NODE_CLUSTER\",\"act\":\"newconn\",\"key\":%s,\"seq\":%u}",
                     ns->key_json, seq);
    int r = node__send(w, msg, (size_t)n, conn, "net.Native");
    if (r < 0) {
      sup__emit(c, HERD_EV_ERROR, HERD_REASON_HAND_FAILED, w->slot, w->pid, r, 0, 0, 0,
                ns->text);
      continue;
    }
    struct npend *p = &w->pend[(w->pend_head + w->pend_n++) % NODE_PEND];
    *p = (struct npend){seq, conn, ns, herd__now_ms()};
    ns->rr_next = (w->slot + 1) % c->nslots;
    if (!w->handoff_timer.heap_index)
      (void)herd_loop_timer_start(c->loop, &w->handoff_timer, HANDOFF_TIMEOUT_MS,
                                  handoff_cb, w);
    return;
  }
  hold(ns, conn);
}

static void retry_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct nsock *ns = data;
  herd_cluster_t *c = ns->c;
  int n = ns->nheld;
  ns->nheld = 0;
  int held[NODE_HELD];
  uint64_t since[NODE_HELD], now = herd__now_ms();
  memcpy(held, ns->held, (size_t)n * sizeof *held);
  memcpy(since, ns->held_ms, (size_t)n * sizeof *since);
  for (int i = 0; i < n; i++) {
    struct worker *w = sticky(c) ? sticky_pick(c, ns, peer_hash(held[i])) : pick(c, ns, NULL);
    if (w) {
      give(c, ns, w, held[i]);
    } else if (now - since[i] >= NODE_HOLD_MAX_MS) {
      herd__close(held[i]); /* nobody took it in 10 s: its client has given up */
      c->st.rr_dropped++;
    } else {
      ns->held_ms[ns->nheld] = since[i];
      ns->held[ns->nheld++] = held[i];
    }
  }
  if (ns->nheld)
    (void)herd_loop_timer_start(c->loop, &ns->retry, NODE_RETRY_MS, retry_cb, ns);
  else
    ns_watch(ns, 1);
}

void node__rr_accept_cb(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  (void)loop;
  (void)fd;
  (void)events;
  struct nsock *ns = data;
  herd_cluster_t *c = ns->c;
  for (int n = 0; n < 64; n++) {
    struct worker *w = ns->nheld ? NULL : pick(c, ns, NULL);
    if (!w) {
      ns_watch(ns, 0); /* until a worker is free again: node__kick */
      return;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int conn = sticky(c) ? accept4(ns->fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC)
                         : accept4(ns->fd, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0) {
      int e = errno;
      if (e == EINTR || e == ECONNABORTED || e == EPROTO)
        continue;
      if (e != EAGAIN && !c->accept_short) {
        c->accept_short = 1; /* out of fds: the queue keeps them */
        sup__emit(c, HERD_EV_NOTICE, HERD_REASON_ACCEPT_FAILED, -1, 0, -e, 0,
                  RR_SHORT_RETRY_MS, 0, ns->text);
      }
      if (e != EAGAIN) {
        ns_watch(ns, 0);
        if (!ns->retry.heap_index)
          (void)herd_loop_timer_start(c->loop, &ns->retry, RR_SHORT_RETRY_MS, retry_cb, ns);
      }
      return;
    }
    if (c->accept_short) {
      c->accept_short = 0;
      sup__emit(c, HERD_EV_NOTICE, HERD_REASON_ACCEPT_RESUMED, -1, 0, 0, 0, 0, 0, ns->text);
    }
    if (sticky(c) && !(w = sticky_pick(c, ns, addr_hash(&ss, sl))))
      hold(ns, conn); /* its worker is busy: it waits for that one */
    else
      give(c, ns, w, conn);
  }
}

void node__kick(herd_cluster_t *c) {
  for (struct nsock *ns = c->nsocks; ns; ns = ns->next)
    if (ns->rr && !ns->watching && !ns->nheld && !ns->retry.heap_index)
      ns_watch(ns, 1);
}

/* Take the answered (or given up) connection seq out of w's ring: its
 * entry, or -1 if w has none such. */
static int pend_take(struct worker *w, uint32_t seq, struct npend *out) {
  for (int i = 0; i < w->pend_n; i++) {
    struct npend *p = &w->pend[(w->pend_head + i) % NODE_PEND];
    if (p->seq != seq)
      continue;
    *out = *p;
    for (int j = i; j > 0; j--) /* answers come in order: mostly j = 0 */
      w->pend[(w->pend_head + j) % NODE_PEND] = w->pend[(w->pend_head + j - 1) % NODE_PEND];
    w->pend_head = (w->pend_head + 1) % NODE_PEND;
    w->pend_n--;
    return 0;
  }
  return -1;
}

/* Everything w was handed and did not answer goes to the others. */
void node__rr_rehand(herd_cluster_t *c, struct worker *w) {
  struct npend p;
  while (w->pend_n) {
    p = w->pend[w->pend_head];
    (void)pend_take(w, p.seq, &p);
    struct worker *o = pick(c, p.ns, w);
    if (o)
      give(c, p.ns, o, p.fd);
    else
      hold(p.ns, p.fd);
  }
}

/* {"ack":S,"accepted":B}: taken (our copy closes), or refused
 * (maxConnections): another worker gets it, not this one straight back
 * (Node's primary loops on a saturated worker). */
void node__rr_answer(herd_cluster_t *c, struct worker *w, uint32_t seq, int accepted) {
  struct npend p;
  if (pend_take(w, seq, &p) < 0)
    return; /* not one of ours: ignored, as Node's primary does */
  if (accepted) {
    herd__close(p.fd);
  } else {
    if (!w->node_refused_told) {
      w->node_refused_told = 1;
      sup__emit(c, HERD_EV_NODE, HERD_REASON_NODE_REFUSED, w->slot, w->pid, 0, 0, 0, 0,
                p.ns->text);
    }
    struct worker *o = pick(c, p.ns, w);
    if (o)
      give(c, p.ns, o, p.fd);
    else
      hold(p.ns, p.fd);
  }
  if (!w->pend_n)
    herd_loop_timer_stop(c->loop, &w->handoff_timer);
  node__kick(c);
}

/* A worker that has answered none of what it was handed in
 * HANDOFF_TIMEOUT_MS does not read its channel (or is stuck): the
 * connections go to the others, and it is replaced. */
static void handoff_cb(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct worker *w = data;
  herd_cluster_t *c = w->c;
  if (!w->pend_n || w->state == W_EXITED)
    return;
  uint64_t now = herd__now_ms(), since = w->pend[w->pend_head].sent_ms;
  if (now - since < HANDOFF_TIMEOUT_MS) {
    (void)herd_loop_timer_start(c->loop, &w->handoff_timer, HANDOFF_TIMEOUT_MS - (now - since),
                                handoff_cb, w);
    return;
  }
  rr__deaf(c, w);
}

