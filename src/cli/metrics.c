/*
 * metrics.c - the --metrics address: a small HTTP/1.1 server (GET and
 * HEAD, one request per connection) with /metrics (Prometheus' text
 * format), /healthz and /readyz, and the read-only web page (web.c).
 * See docs/metrics.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "master.h"

void mconn_free(struct master *m, struct mconn *mc) {
  for (struct mconn **pp = &m->mconns; *pp; pp = &(*pp)->next)
    if (*pp == mc) {
      *pp = mc->next;
      break;
    }
  if (m->loop) {
    herd_loop_timer_stop(m->loop, &mc->timer);
    (void)herd_loop_del(m->loop, mc->fd);
  }
  /* What the client sent that we did not read (the rest of a request
   * too large) would turn our close into a reset, which can destroy the
   * answer before the client reads it: read it away first (a bounded
   * amount, without waiting) */
  char sink[4096];
  for (int i = 0; i < 16 && recv(mc->fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++)
    ;
  (void)close(mc->fd);
  free(mc->out);
  free(mc);
}

static void label(struct jw *w, const char *name) {
  /* Prometheus label values escape \ " and newline */
  for (const char *p = name; *p; p++) {
    if (*p == '\\' || *p == '"')
      jw_raw(w, "\\", 1);
    if (*p == '\n') {
      jw_raw(w, "\\n", 2);
      continue;
    }
    jw_raw(w, p, 1);
  }
}

static void metric_head(struct jw *w, const char *name, const char *type,
                        const char *help) {
  jw_printf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metric(struct jw *w, const char *m_name, const char *app,
                   const char *labels, double v) {
  jw_printf(w, "%s{app=\"", m_name);
  label(w, app);
  jw_printf(w, "\"%s%s} %.15g\n", labels ? "," : "", labels ? labels : "", v);
}

/* The master's memory; without /proc (a chroot) a comment instead, which
 * scrapers skip and a reader sees: why the memory and CPU samples are
 * missing. */
static void master_rss(struct jw *w, const char *app) {
  herd_proc_stat_t self;
  int pr = herd_proc_stat(0, &self);
  if (pr == 0) {
    metric_head(w, "herd_master_rss_bytes", "gauge", "Resident memory of the master.");
    metric(w, "herd_master_rss_bytes", app, NULL, (double)self.rss_bytes);
  } else
    jw_printf(w, "# herd: no /proc (/proc/self/stat: %s): memory and CPU not known\n",
              herd_strerror(pr));
}

static void metrics_text(struct master *m, struct jw *w) {
  const char *app = m->a->name;
  herd_cluster_stats_t st;
  herd_cluster_stats(m->c, &st);
  int n;
  herd_worker_info_t *rows = get_rows(m, &n);
  char l[128];
  metric_head(w, "herd_workers", "gauge", "Workers wanted (the scale).");
  metric(w, "herd_workers", app, NULL, st.workers);
  metric_head(w, "herd_worker_state", "gauge",
              "1 for the state each worker slot is in.");
  static const char *const states[] = {"starting", "ready", "stopping",
                                       "backing off", "parked", "waiting"};
  for (int i = 0; i < n; i++)
    for (int s = 0; s < 6; s++) {
      snprintf(l, sizeof l, "slot=\"%d\",pid=\"%d\",state=\"%s\"", rows[i].slot,
               (int)rows[i].pid, states[s]);
      metric(w, "herd_worker_state", app, l, rows[i].state == s);
    }
  /* one family at a time, each in one group (the text format's rule);
   * per slot once, per worker for its process figures */
  metric_head(w, "herd_worker_restarts_total", "counter",
              "Workers started in the slot after its first.");
  for (int i = 0; i < n; i++) {
    if (i && rows[i].slot == rows[i - 1].slot)
      continue;
    snprintf(l, sizeof l, "slot=\"%d\"", rows[i].slot);
    metric(w, "herd_worker_restarts_total", app, l, rows[i].restarts);
  }
  herd_proc_stat_t *ps = calloc((size_t)n + 1, sizeof *ps);
  int *have = calloc((size_t)n + 1, sizeof *have);
  for (int i = 0; ps && have && i < n; i++)
    have[i] = rows[i].pid > 0 && herd_proc_stat(rows[i].pid, &ps[i]) == 0;
  static const struct {
    const char *name, *type, *help;
  } fam[] = {{"herd_worker_rss_bytes", "gauge", "Resident memory of the worker."},
             {"herd_worker_cpu_seconds_total", "counter",
              "CPU time (user + system) of the worker."},
             {"herd_worker_uptime_seconds", "gauge", "Since the worker started."}};
  for (int f = 0; ps && have && f < 3; f++) {
    metric_head(w, fam[f].name, fam[f].type, fam[f].help);
    for (int i = 0; i < n; i++) {
      if (!have[i])
        continue;
      snprintf(l, sizeof l, "slot=\"%d\",pid=\"%d\"", rows[i].slot, (int)rows[i].pid);
      double v = f == 0 ? (double)ps[i].rss_bytes
                 : f == 1 ? (double)(ps[i].utime_ms + ps[i].stime_ms) / 1000.0
                          : (double)rows[i].uptime_ms / 1000.0;
      metric(w, fam[f].name, app, l, v);
    }
  }
  free(ps);
  free(have);
  free(rows);
  metric_head(w, "herd_spawns_total", "counter", "Workers started.");
  metric(w, "herd_spawns_total", app, NULL, (double)st.spawns);
  metric_head(w, "herd_spawn_failures_total", "counter",
              "Workers that could not be started.");
  metric(w, "herd_spawn_failures_total", app, NULL, (double)st.spawn_failures);
  metric_head(w, "herd_worker_exits_total", "counter", "Worker exits by cause.");
  metric(w, "herd_worker_exits_total", app, "cause=\"stopped\"", (double)st.exits_stopped);
  metric(w, "herd_worker_exits_total", app, "cause=\"killed\"", (double)st.exits_killed);
  metric(w, "herd_worker_exits_total", app, "cause=\"crashed\"", (double)st.exits_crashed);
  metric(w, "herd_worker_exits_total", app, "cause=\"exited\"", (double)st.exits_clean);
  metric(w, "herd_worker_exits_total", app, "cause=\"retired\"", (double)st.exits_retired);
  metric_head(w, "herd_restarts_total", "counter", "Slots restarted after a worker died.");
  metric(w, "herd_restarts_total", app, NULL, (double)st.restarts);
  metric_head(w, "herd_reloads_total", "counter", "Rolling reloads by result.");
  metric(w, "herd_reloads_total", app, "result=\"done\"", (double)st.reloads);
  metric(w, "herd_reloads_total", app, "result=\"failed\"", (double)st.reloads_failed);
  metric_head(w, "herd_roundrobin_dropped_total", "counter",
              "Connections the master accepted but no worker could take.");
  metric(w, "herd_roundrobin_dropped_total", app, NULL, (double)st.rr_dropped);
  metric_head(w, "herd_max_memory_replaced_total", "counter",
              "Workers replaced for going over --max-memory.");
  metric(w, "herd_max_memory_replaced_total", app, NULL, (double)m->mem_replaced);
  metric_head(w, "herd_notify_ignored_total", "counter",
              "NOTIFY_SOCKET messages from processes that are not a worker nor run by one.");
  metric(w, "herd_notify_ignored_total", app, NULL, (double)st.notify_ignored);
  metric_head(w, "herd_left_behind_total", "counter",
              "Processes a worker left behind (it daemonized) that came back to herd.");
  metric(w, "herd_left_behind_total", app, NULL, (double)st.left_behind);
  metric_head(w, "herd_listen_stalls_total", "counter",
              "Times a listen queue stayed non-empty for 3 s (no worker accepted).");
  metric(w, "herd_listen_stalls_total", app, NULL, (double)st.listen_stalls);
  metric_head(w, "herd_handoff_failures_total", "counter",
              "Workers replaced for taking no connection handed to them (roundrobin).");
  metric(w, "herd_handoff_failures_total", app, NULL, (double)st.handoff_failures);
  if (m->lw) {
    struct logw_stats ls;
    logw_stats(m->lw, &ls);
    metric_head(w, "herd_log_lines_total", "counter", "Worker lines written to the logs.");
    metric(w, "herd_log_lines_total", app, "stream=\"out\"", (double)ls.lines[0]);
    metric(w, "herd_log_lines_total", app, "stream=\"err\"", (double)ls.lines[1]);
    metric_head(w, "herd_log_dropped_lines_total", "counter",
                "Worker lines lost (the disk was slow or full).");
    metric(w, "herd_log_dropped_lines_total", app, "stream=\"out\"", (double)ls.dropped[0]);
    metric(w, "herd_log_dropped_lines_total", app, "stream=\"err\"", (double)ls.dropped[1]);
  }
  master_rss(w, app);
}

/* The answer to the request head req (complete: it ended with an empty
 * line, else it filled the buffer), whole in *w: the status line, the
 * headers, and the body unless the method was HEAD. */
static void answer(struct master *m, const char *req, int complete, struct jw *w) {
  struct jw body;
  jw_init(&body);
  const char *status = "200 OK", *extra = "";
  const char *type = "text/plain; version=0.0.4; charset=utf-8";
  /* "METHOD SP PATH[?QUERY] SP VERSION" */
  const char *sp = strchr(req, ' ');
  size_t mlen = sp ? (size_t)(sp - req) : 0;
  const char *path = sp ? sp + 1 : "";
  size_t plen = strcspn(path, " ?\r\n");
  int head = mlen == 4 && !memcmp(req, "HEAD", 4);
#define IS_PATH(lit) (plen == sizeof lit - 1 && !memcmp(path, lit, plen))
  if (!complete) {
    status = "431 Request Header Fields Too Large";
    jw_printf(&body, "a request of at most %d bytes\n", METRICS_MAX_REQ - 1);
  } else if (!(mlen == 3 && !memcmp(req, "GET", 3)) && !head) {
    status = "405 Method Not Allowed";
    extra = "Allow: GET, HEAD\r\n";
    jw_raw(&body, "only GET and HEAD\n", 18);
  } else if (IS_PATH("/metrics")) {
    metrics_text(m, &body);
  } else if (IS_PATH("/healthz")) {
    /* liveness: this answer comes from the master's own loop */
    jw_raw(&body, "ok\n", 3);
  } else if (IS_PATH("/readyz")) {
    char why[256];
    if (!app_readiness(m, NULL, why, sizeof why))
      status = "503 Service Unavailable";
    jw_printf(&body, "%s\n", why);
  } else if (!web_route(m, path, plen, &body, &type)) {
    status = "404 Not Found";
    static const char nf[] = "not found: /, /status.json, /metrics, /healthz or /readyz\n";
    jw_raw(&body, nf, sizeof nf - 1);
  }
#undef IS_PATH
  jw_printf(w, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s", status,
            type, body.len, extra);
  web_headers(w);
  jw_raw(w, "Connection: close\r\n\r\n", 21);
  if (!head)
    jw_raw(w, body.buf ? body.buf : "", body.len);
  if (body.err) /* a body cut short is not sent: the connection is closed */
    w->err = 1;
  jw_free(&body);
}

static void mconn_io(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  (void)loop;
  (void)events;
  struct mconn *mc = data;
  struct master *m = mc->m;
  if (!mc->out) {
    ssize_t n = read(fd, mc->req + mc->rlen, sizeof mc->req - 1 - mc->rlen);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      return;
    if (n <= 0) {
      mconn_free(m, mc);
      return;
    }
    mc->rlen += (size_t)n;
    mc->req[mc->rlen] = '\0';
    int complete = strstr(mc->req, "\r\n\r\n") || strstr(mc->req, "\n\n");
    if (!complete && mc->rlen < sizeof mc->req - 1)
      return; /* more to come (a full buffer is answered: too large) */
    struct jw w;
    jw_init(&w);
    answer(m, mc->req, complete, &w);
    if (w.err) {
      jw_free(&w);
      mconn_free(m, mc);
      return;
    }
    mc->out = w.buf;
    mc->olen = w.len;
    (void)herd_loop_mod(m->loop, fd, EPOLLOUT);
  }
  while (mc->off < mc->olen) {
    ssize_t n = send(fd, mc->out + mc->off, mc->olen - mc->off,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      return;
    if (n <= 0)
      break;
    mc->off += (size_t)n;
  }
  mconn_free(m, mc);
}

static void mconn_timeout(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct mconn *mc = data;
  mconn_free(mc->m, mc);
}

void metrics_accept(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  (void)events;
  struct master *m = data;
  for (int k = 0; k < 16; k++) {
    int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (cfd < 0) {
      if (accept_failed(m, fd, -errno, "metrics",
                        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain"
                        "\r\nContent-Length: 30\r\nConnection: close\r\n\r\n"
                        "out of file descriptors (fds)\n"))
        continue;
      return;
    }
    accept_ok(m, "metrics");
    int live = 0;
    for (struct mconn *x = m->mconns; x; x = x->next)
      live++;
    struct mconn *mc = live < MAX_CONNS ? calloc(1, sizeof *mc) : NULL;
    if (!mc) {
      (void)close(cfd);
      continue;
    }
    mc->m = m;
    mc->fd = cfd;
    if (herd_loop_add(loop, cfd, EPOLLIN, mconn_io, mc) < 0) {
      (void)close(cfd);
      free(mc);
      continue;
    }
    mc->next = m->mconns;
    m->mconns = mc;
    (void)herd_loop_timer_start(loop, &mc->timer, METRICS_TIMEOUT_MS,
                                mconn_timeout, mc);
  }
}

/* ---- --max-memory ------------------------------------------------- */
