/*
 * clusterdisc_test.c - Node's cluster.fork(env) and worker.disconnect()
 * for a C master: herd_cluster_opts_t.worker_env (each start of a slot
 * gets its own variables, over spawn.env, under herd's own) and
 * herd_cluster_disconnect (a C worker reads EOF on its channel; a real,
 * unmodified Node cluster worker is told as Node's primary tells it,
 * finishes its request and exits by itself; either way the exit's reason
 * is HERD_REASON_DISCONNECTED and the slot starts a new worker).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "hp.h"

/* ---- the env hook, C workers ---------------------------------------- */

/* A forked worker: says what its environment holds on its channel, then
 * reads it until EOF (exit 7: the master disconnected it). */
static int env_worker(void *arg) {
  (void)arg;
  herd_chan_t *ch;
  if (herd_chan_from_env(&ch, NULL) < 0)
    return 20;
  const char *id = getenv("HERD_WORKER_ID"), *v = getenv("SLOT_VAR"),
             *sh = getenv("SHARED"), *o = getenv("ONLY_SPAWN"), *u = getenv("UNSET_ME");
  char msg[512];
  snprintf(msg, sizeof msg, "{\"id\":\"%s\",\"v\":\"%s\",\"s\":\"%s\",\"o\":\"%s\",\"u\":\"%s\"}",
           id ? id : "-", v ? v : "-", sh ? sh : "-", o ? o : "-", u ? u : "-");
  if (herd_chan_send(ch, msg, strlen(msg), -1) < 0 || herd_chan_flush_wait(ch, 10000) < 0)
    return 21;
  for (;;) {
    herd_chan_msg_t m;
    int r = herd_chan_recv_wait(ch, &m, -1);
    if (r == HERD_EPEERGONE) {
      herd_chan_close(ch);
      return 7;
    }
    if (r < 0 && r != HERD_EFRAME)
      return 22;
  }
}

struct envt {
  herd_cluster_t *c;
  herd_timer_t t;
  int calls[2];
  char var[2][64];
  const char *vec[2][5];
  int msgs[2];
  char said[2][3][256]; /* each slot's messages, in order */
  int step;
  pid_t pid0;
  int stopping_reason, stopping_sig;
  int exit_reason, exit_code, exit_sig;
};

static const char *const *slot_env(herd_cluster_t *c, int slot, void *data) {
  struct envt *s = data;
  CHECK(c == s->c);
  CHECK(slot == 0 || slot == 1);
  s->calls[slot]++;
  snprintf(s->var[slot], sizeof s->var[slot], "SLOT_VAR=slot-%d-start-%d", slot,
           s->calls[slot]);
  const char **v = s->vec[slot];
  v[0] = s->var[slot];
  v[1] = "SHARED=from-hook";  /* over spawn.env's */
  v[2] = "HERD_WORKER_ID=99"; /* herd's own: left out */
  v[3] = slot == 1 ? "UNSET_ME" : NULL; /* unset for slot 1 */
  v[4] = NULL;
  return v;
}

static void envt_step(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct envt *s = data;
  herd_worker_info_t rows[4];
  herd_cluster_stats_t st;
  switch (s->step++) {
  case 0:
    CHECK_STR(s->said[0][0], "{\"id\":\"0\",\"v\":\"slot-0-start-1\",\"s\":\"from-hook\","
                             "\"o\":\"yes\",\"u\":\"inherited\"}");
    CHECK_STR(s->said[1][0], "{\"id\":\"1\",\"v\":\"slot-1-start-1\",\"s\":\"from-hook\","
                             "\"o\":\"yes\",\"u\":\"-\"}");
    CHECK_EQ(herd_cluster_workers(s->c, rows, 4), 2);
    s->pid0 = rows[0].pid;
    CHECK_EQ(herd_cluster_disconnect(s->c, 0), 0);
    CHECK_EQ(s->stopping_reason, HERD_REASON_DISCONNECTED);
    CHECK_EQ(s->stopping_sig, 0);
    CHECK_EQ(herd_cluster_disconnect(s->c, 0), -EALREADY);
    CHECK_EQ(herd_cluster_disconnect(s->c, 2), -ENOENT);
    CHECK_EQ(herd_cluster_disconnect(s->c, -1), -ENOENT);
    CHECK_EQ(herd_cluster_workers(s->c, rows, 4), 2);
    CHECK_EQ(rows[0].state, HERD_WORKER_STOPPING);
    CHECK_EQ(rows[1].state, HERD_WORKER_READY);
    break;
  case 1:
    /* it read EOF and left by itself; the slot's new worker has the
     * slot's variables of its own start */
    CHECK_EQ(s->exit_reason, HERD_REASON_DISCONNECTED);
    CHECK_EQ(s->exit_code, 7);
    CHECK_EQ(s->exit_sig, 0);
    CHECK_STR(s->said[0][1], "{\"id\":\"0\",\"v\":\"slot-0-start-2\",\"s\":\"from-hook\","
                             "\"o\":\"yes\",\"u\":\"inherited\"}");
    CHECK_EQ(s->msgs[1], 1); /* slot 1 untouched */
    CHECK_EQ(s->calls[0], 2);
    CHECK_EQ(s->calls[1], 1);
    herd_cluster_stats(s->c, &st);
    CHECK_EQ(st.exits_disconnected, 1);
    CHECK_EQ(st.exits_crashed, 0);
    CHECK_EQ(st.restarts, 1);
    CHECK_EQ(herd_cluster_workers(s->c, rows, 4), 2);
    CHECK(rows[0].pid > 0 && rows[0].pid != s->pid0);
    CHECK_EQ(rows[0].exit_reason, HERD_REASON_DISCONNECTED);
    CHECK_EQ(rows[0].restarts, 1);
    CHECK_OK(herd_cluster_stop(s->c, 0));
    break;
  default:
    CHECK_MSG(0, "too many steps");
  }
}

static void envt_event(herd_cluster_t *c, const herd_event_t *ev, void *data) {
  (void)c;
  struct envt *s = data;
  if (ev->type == HERD_EV_STOPPING && ev->reason == HERD_REASON_DISCONNECTED) {
    s->stopping_reason = ev->reason;
    s->stopping_sig = ev->sig;
  } else if (ev->type == HERD_EV_EXITED && ev->pid == s->pid0 && s->pid0) {
    s->exit_reason = ev->reason;
    s->exit_code = ev->code;
    s->exit_sig = ev->sig;
  } else if (ev->type == HERD_EV_MESSAGE) {
    CHECK(ev->slot == 0 || ev->slot == 1);
    CHECK(s->msgs[ev->slot] < 3);
    snprintf(s->said[ev->slot][s->msgs[ev->slot]++], sizeof s->said[0][0], "%s", ev->text);
    /* both first words in: step 0; slot 0's second: step 1 */
    if ((s->step == 0 && s->msgs[0] == 1 && s->msgs[1] == 1) ||
        (s->step == 1 && s->msgs[0] == 2))
      CHECK_OK(herd_loop_timer_start(herd_cluster_loop(s->c), &s->t, 1, envt_step, s));
  }
}

static int envt_init(herd_cluster_t *c, void *data) {
  ((struct envt *)data)->c = c;
  return 0;
}

TEST_T(cluster_worker_env_per_slot_and_disconnect_eof, 30) {
  struct envt s;
  memset(&s, 0, sizeof s);
  CHECK_EQ(setenv("UNSET_ME", "inherited", 1), 0);
  static const char *const spawn_env[] = {"SHARED=from-spawn", "ONLY_SPAWN=yes", NULL};
  herd_cluster_opts_t o = HERD_CLUSTER_OPTS_INIT;
  o.workers = 2;
  o.settle_ms = 0; /* ready at once: step 0 looks at the states */
  o.flags = HERD_CLUSTER_IPC;
  o.spawn.env_mode = HERD_ENV_ADD;
  o.spawn.env = spawn_env;
  o.worker_env = slot_env;
  o.on_event = envt_event;
  o.on_init = envt_init;
  o.data = &s;
  CHECK_EQ(herd_cluster_run(&o, env_worker, NULL), 0);
  CHECK_EQ(s.step, 2);
}

/* ---- disconnect without a channel ------------------------------------ */

static int idle_worker(void *arg) {
  (void)arg;
  for (;;)
    pause();
  return 0;
}

struct noipc {
  herd_cluster_t *c;
  herd_timer_t t;
  int checked;
};

static void noipc_check(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct noipc *s = data;
  CHECK_EQ(herd_cluster_disconnect(s->c, 0), -ENOTCONN);
  CHECK_EQ(herd_cluster_disconnect(s->c, 1), -ENOENT);
  s->checked = 1;
  CHECK_OK(herd_cluster_stop(s->c, 0));
  CHECK_EQ(herd_cluster_disconnect(s->c, 0), -ECANCELED);
}

static void noipc_event(herd_cluster_t *c, const herd_event_t *ev, void *data) {
  (void)c;
  struct noipc *s = data;
  if (ev->type == HERD_EV_ALL_READY)
    CHECK_OK(herd_loop_timer_start(herd_cluster_loop(s->c), &s->t, 1, noipc_check, s));
}

static int noipc_init(herd_cluster_t *c, void *data) {
  ((struct noipc *)data)->c = c;
  CHECK_EQ(herd_cluster_disconnect(c, 0), -ENOENT); /* none started yet */
  return 0;
}

TEST_T(cluster_disconnect_needs_a_channel, 30) {
  struct noipc s;
  memset(&s, 0, sizeof s);
  herd_cluster_opts_t o = HERD_CLUSTER_OPTS_INIT;
  o.workers = 1;
  o.settle_ms = 0;
  o.on_event = noipc_event;
  o.on_init = noipc_init;
  o.data = &s;
  CHECK_EQ(herd_cluster_run(&o, idle_worker, NULL), 0);
  CHECK_EQ(s.checked, 1);
}

/* ---- a real Node cluster worker --------------------------------------- */

/* Unmodified as far as the cluster goes: an http server on port 0 (herd
 * binds it when asked). /slow answers after 400 ms, and says when it
 * began, so that the master disconnects it in the middle of it. */
static const char NODE_APP[] =
    "const http = require('http'), cluster = require('cluster');\n"
    "const id = cluster.worker.id;\n"
    "http.createServer((q, r) => {\n"
    "  r.setHeader('Connection', 'close');\n"
    "  if (q.url !== '/slow') return r.end('id=' + id + '\\n');\n"
    "  process.send('slow-begun');\n"
    "  setTimeout(() => r.end('slow done id=' + id + '\\n'), 400);\n"
    "}).listen(0, () => process.send({v: process.env.SLOT_VAR || '-', id}));\n";

struct nodet {
  herd_cluster_t *c;
  herd_timer_t t;
  int port;
  int cfd;
  char body[1024];
  size_t blen;
  int got_eof;
  int calls;
  char var[64];
  const char *vec[2];
  int readies;
  int said_v;
  pid_t pid0;
  uint64_t disc_ms, exit_ms;
  int exit_reason, exit_code, exit_sig;
  int step;
};

static const char *const *node_env(herd_cluster_t *c, int slot, void *data) {
  (void)c;
  struct nodet *s = data;
  CHECK_EQ(slot, 0);
  snprintf(s->var, sizeof s->var, "SLOT_VAR=node-start-%d", ++s->calls);
  s->vec[0] = s->var;
  s->vec[1] = NULL;
  return s->vec;
}

static void node_read(herd_loop_t *loop, int fd, uint32_t events, void *data) {
  (void)events;
  struct nodet *s = data;
  ssize_t n = read(fd, s->body + s->blen, sizeof s->body - 1 - s->blen);
  if (n > 0) {
    s->blen += (size_t)n;
    return;
  }
  CHECK_MSG(n == 0, "read: %s", strerror(errno));
  s->body[s->blen] = '\0';
  s->got_eof = 1;
  CHECK_OK(herd_loop_del(loop, fd));
  close(fd);
  s->cfd = -1;
}

static void node_done_check(herd_loop_t *loop, herd_timer_t *t, void *data) {
  (void)loop;
  (void)t;
  struct nodet *s = data;
  /* the request it had begun was answered by it, then it exited 0 by
   * itself: no signal, well before the kill timeout */
  CHECK_MSG(s->got_eof && strstr(s->body, "slow done id=1"), "the response: %s", s->body);
  CHECK_EQ(s->exit_reason, HERD_REASON_DISCONNECTED);
  CHECK_EQ(s->exit_code, 0);
  CHECK_EQ(s->exit_sig, 0);
  CHECK_MSG(s->exit_ms - s->disc_ms < 5000, "exited %llu ms after the disconnect",
            (unsigned long long)(s->exit_ms - s->disc_ms));
  herd_cluster_stats_t st;
  herd_cluster_stats(s->c, &st);
  CHECK_EQ(st.exits_disconnected, 1);
  CHECK_EQ(st.exits_crashed + st.exits_killed, 0);
  CHECK_OK(herd_cluster_stop(s->c, 0));
}

static void node_event(herd_cluster_t *c, const herd_event_t *ev, void *data) {
  (void)c;
  struct nodet *s = data;
  if (ev->type == HERD_EV_LISTEN && ev->text && !s->port) {
    const char *colon = strrchr(ev->text, ':');
    CHECK(colon);
    s->port = atoi(colon + 1);
  } else if (ev->type == HERD_EV_READY && !s->pid0) {
    s->pid0 = ev->pid;
  } else if (ev->type == HERD_EV_MESSAGE && strstr(ev->text, "\"v\":")) {
    s->said_v++;
    char want[96];
    snprintf(want, sizeof want, "\"v\":\"node-start-%d\"", s->said_v);
    CHECK_MSG(strstr(ev->text, want), "worker %d said %s", s->said_v, ev->text);
    if (s->said_v == 1) {
      /* a request it will take 400 ms to answer */
      CHECK(s->port > 0);
      s->cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      CHECK(s->cfd >= 0);
      struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      CHECK_OK(connect(s->cfd, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : -errno);
      static const char req[] = "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n";
      CHECK_EQ(write(s->cfd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
      CHECK_OK(herd_loop_add(herd_cluster_loop(s->c), s->cfd, EPOLLIN, node_read, s));
    } else if (s->said_v == 2) {
      /* the slot's new worker, with its own start's variables */
      CHECK(s->exit_reason);
      CHECK_OK(herd_loop_timer_start(herd_cluster_loop(s->c), &s->t, 1, node_done_check, s));
    }
  } else if (ev->type == HERD_EV_MESSAGE && !strcmp(ev->text, "\"slow-begun\"") && !s->disc_ms) {
    s->disc_ms = herd_now_ms();
    CHECK_EQ(herd_cluster_disconnect(s->c, 0), 0);
  } else if (ev->type == HERD_EV_EXITED && ev->pid == s->pid0) {
    s->exit_ms = herd_now_ms();
    s->exit_reason = ev->reason;
    s->exit_code = ev->code;
    s->exit_sig = ev->sig;
  }
}

static int node_init(herd_cluster_t *c, void *data) {
  ((struct nodet *)data)->c = c;
  return 0;
}

static char node_dir[64], node_app[128];

static void node_cleanup(void) {
  (void)unlink(node_app);
  (void)rmdir(node_dir);
}

static void node_disconnect(int balance) {
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  snprintf(node_dir, sizeof node_dir, "/tmp/herd-disc-XXXXXX");
  CHECK(mkdtemp(node_dir) != NULL);
  snprintf(node_app, sizeof node_app, "%s/app.js", node_dir);
  atexit(node_cleanup);
  FILE *f = fopen(node_app, "w");
  CHECK(f && fputs(NODE_APP, f) >= 0 && fclose(f) == 0);
  struct nodet s;
  memset(&s, 0, sizeof s);
  s.cfd = -1;
  char *argv[] = {"node", node_app, NULL};
  herd_cluster_opts_t o = HERD_CLUSTER_OPTS_INIT;
  o.workers = 1;
  o.flags = HERD_CLUSTER_NODE | HERD_CLUSTER_IPC;
  o.ready = HERD_READY_LISTENING;
  o.balance = balance;
  o.kill_timeout_ms = 20000; /* a kill would be a killed exit, long after */
  o.file = "node";
  o.argv = argv;
  o.worker_env = node_env;
  o.on_event = node_event;
  o.on_init = node_init;
  o.data = &s;
  CHECK_EQ(herd_cluster_run(&o, NULL, NULL), 0);
  CHECK_EQ(s.said_v, 2);
  CHECK_EQ(s.calls, 2);
}

TEST_T(cluster_disconnect_node_worker_finishes_and_exits, 60) {
  node_disconnect(HERD_BALANCE_SHARED);
}

/* The same with the master accepting: the request in flight was handed
 * (newconn) before the disconnect; none is offered to it after. */
TEST_T(cluster_disconnect_node_worker_roundrobin, 60) {
  node_disconnect(HERD_BALANCE_ROUNDROBIN);
}
