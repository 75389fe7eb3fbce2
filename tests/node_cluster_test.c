/*
 * node_cluster_test.c - herd as the primary of Node's cluster module
 * (--node-cluster), end to end with the real node: unmodified apps whose
 * listen() and bind() ask herd for their sockets, in shared and in
 * roundrobin mode; readiness, reloads, refusals, a worker that leaves by
 * itself, bad requests. One app (APP below) does what each test asks
 * through its environment.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hp.h"

static const char APP[] =
    "const http = require('http'), cluster = require('cluster'), dgram = require('dgram');\n"
    "const id = cluster.worker ? cluster.worker.id : 0, slot = process.env.NODE_APP_INSTANCE;\n"
    "const held = [];\n"
    "const srv = http.createServer((q, r) => {\n"
    "  if (q.url === '/hold') { held.push(r); process.send({held: slot}); return; }\n"
    "  if (q.url === '/boom') throw new Error('boom from worker ' + id);\n"
    "  if (q.url === '/bye') { r.end('bye\\n'); cluster.worker.disconnect(); return; }\n"
    "  r.setHeader('Connection', 'close');\n"
    "  r.end(`id=${id} slot=${slot} primary=${cluster.isPrimary} env=${process.env.NODE_UNIQUE_ID}\\n`);\n"
    "});\n"
    "if (process.env.MAXCONN && slot === '0') srv.maxConnections = +process.env.MAXCONN;\n"
    "srv.listen(process.env.SOCK || +process.env.PORT || 0);\n"
    "if (process.env.SECOND) setTimeout(() => http.createServer((q, r) => "
    "r.end('second ' + id + '\\n')).listen(0, () => process.send({second: slot})), 300);\n"
    "if (process.env.UDP) { const s = dgram.createSocket('udp4');\n"
    "  s.on('message', (m, ri) => s.send('udp ' + id, ri.port, ri.address)); s.bind(0); }\n"
    "if (process.env.READY_AFTER) setTimeout(() => process.send('ready'), +process.env.READY_AFTER);\n"
    "if (process.env.BOGUS) process.send({cmd: 'NODE_CLUSTER', act: 'bogus', seq: 99});\n"
    "if (process.env.SAY) process.send({hello: 'from ' + id});\n"
    "process.on('message', (m) => process.send({echo: m, slot}));\n"
    "if (process.env.MANY) { let ok = 0, bad = 0; const n = +process.env.MANY;\n"
    "  const done = () => { if (ok + bad === n) process.send({ok, bad}); };\n"
    "  for (let i = 0; i < n; i++) http.createServer().on('error', () => { bad++; done(); })\n"
    "    .listen(0, () => { ok++; done(); }); }\n";

/* An app that forks workers of its own when it is the primary. */
static const char FORKER[] =
    "const cluster = require('cluster'), http = require('http');\n"
    "if (cluster.isPrimary) { for (let i = 0; i < 2; i++) cluster.fork(); }\n"
    "else http.createServer((q, r) => r.end('pid ' + process.pid + ' ppid ' + process.ppid + "
    "'\\n')).listen(0);\n";

static char dir[64];
static char written[4][128];

static void remove_apps(void) {
  for (int i = 0; i < 4; i++)
    if (written[i][0])
      (void)unlink(written[i]);
  (void)rmdir(dir);
}

/* Write src to DIR/name (DIR: a fresh directory, removed when the test's
 * process exits); the path in out. */
static void write_app(char *out, size_t cap, const char *name, const char *src) {
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "/tmp/herd-nodecl-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    atexit(remove_apps);
  }
  for (int i = 0; i < 4; i++)
    if (!written[i][0]) {
      snprintf(written[i], sizeof written[i], "%s/%s", dir, name);
      break;
    }
  snprintf(out, cap, "%s/%s", dir, name);
  FILE *f = fopen(out, "w");
  CHECK(f && fputs(src, f) >= 0 && fclose(f) == 0);
}

/* The port of the n-th (1-based) "listening on [::]:PORT" line. */
static int port_n(struct hp *h, int n) {
  HP_WAIT(h, "listening on [::]:", n);
  const char *p = h->log;
  for (int i = 0; i < n; i++)
    p = strstr(p, "listening on [::]:") + 1;
  int port = atoi(p - 1 + strlen("listening on [::]:"));
  CHECK(port > 0);
  return port;
}

/* GET path on 127.0.0.1:port: the status, the body in body. */
static int get(int port, const char *path, char *body, size_t n) {
  return http_get(port, path, body, n);
}

/* The worker ids ("id=N") that answer TRIES requests: a bit per id. */
static unsigned ids_seen(int port, int tries) {
  unsigned seen = 0;
  char body[256];
  for (int i = 0; i < tries; i++) {
    CHECK_EQ(get(port, "/", body, sizeof body), 200);
    const char *p = strstr(body, "id=");
    CHECK_MSG(p && strstr(body, "primary=false"), "body: %s", body);
    seen |= 1u << (atoi(p + 3) & 31);
  }
  return seen;
}

static void start_app(struct hp *h, const char *balance, const char *const *extra,
                      const char *src) {
  static char app[256];
  write_app(app, sizeof app, "app.js", src ? src : APP);
  const char *args[40] = {"run", "-w", "2", "--node-cluster", "--balance", balance};
  int n = 6;
  for (int i = 0; extra && extra[i]; i++)
    args[n++] = extra[i];
  args[n++] = "--";
  args[n++] = "node";
  args[n++] = app;
  args[n] = NULL;
  hp_start(h, args);
}

static void serves_unchanged(const char *balance) {
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  struct hp h;
  start_app(&h, balance, NULL, NULL);
  int port = port_n(&h, 1);
  HP_WAIT(&h, "all 2 workers ready", 1);
  /* both workers answer, as cluster workers (NODE_UNIQUE_ID taken by
   * Node: gone from process.env), on the one port herd bound */
  CHECK_EQ(ids_seen(port, 40), (1u << 1) | (1u << 2));
  char body[256];
  CHECK_EQ(get(port, "/", body, sizeof body), 200);
  CHECK_MSG(strstr(body, "env=undefined"), "%s", body);
  CHECK_MSG(!strstr(strstr(h.log, "listening on") + 1, "listening on"),
            "one socket only:\n%s", h.log);
  int st = hp_stop(&h, SIGTERM);
  CHECK_MSG(st == 0, "herd exited %d:\n%s", st, h.log);
  CHECK_MSG(strstr(h.log, "disconnect (shutdown)"), "%s", h.log);
}

TEST_T(node_cluster_shared_unmodified_app_served_by_every_worker, 60) {
  serves_unchanged("shared");
}

TEST_T(node_cluster_roundrobin_unmodified_app_served_by_every_worker, 60) {
  serves_unchanged("roundrobin");
}

static void reload_loses_nothing(const char *balance) {
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  struct hp h;
  start_app(&h, balance, NULL, NULL);
  int port = port_n(&h, 1);
  HP_WAIT(&h, "all 2 workers ready", 1);
  struct loader l;
  loader_start(&l, port, 0); /* a new connection per request */
  for (int r = 1; r <= 2; r++) {
    CHECK_OK(herd_child_kill(&h.c, SIGHUP, 0));
    HP_WAIT(&h, "reload done", r);
  }
  char body[256];
  CHECK_EQ(get(port, "/", body, sizeof body), 200);
  long ok, bad;
  loader_stop(&l, &ok, &bad);
  CHECK_MSG(bad == 0 && ok > 50, "%ld of %ld requests failed across 2 reloads\n%s", bad,
            ok + bad, h.log);
  /* the port stayed: herd bound it once */
  CHECK_MSG(!strstr(strstr(h.log, "listening on [::]:") + 1, "listening on"),
            "bound again:\n%s", h.log);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

TEST_T(node_cluster_shared_reload_under_a_client_loop_fails_no_request, 90) {
  reload_loses_nothing("shared");
}

TEST_T(node_cluster_roundrobin_reload_under_a_client_loop_fails_no_request, 90) {
  reload_loses_nothing("roundrobin");
}

/* A second server, listened to later, and listen(0): one port for all
 * workers (Node's primary does the same), a different one from the
 * first's. */
TEST_T(node_cluster_two_servers_the_second_later, 60) {
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  struct hp h;
  const char *extra[] = {"--env", "SECOND=1", NULL};
  start_app(&h, "roundrobin", extra, NULL);
  int p1 = port_n(&h, 1), p2 = port_n(&h, 2);
  CHECK(p1 != p2);
  HP_WAIT(&h, "all 2 workers ready", 1);
  /* each worker's second server joins when its own timer fires: once
   * both say they listen, both answer on the second port */
  HP_WAIT(&h, "sends: {\"second\":\"0\"}", 1);
  HP_WAIT(&h, "sends: {\"second\":\"1\"}", 1);
  char body[64];
  unsigned seen = 0;
  for (int i = 0; i < 20; i++) {
    CHECK_EQ(get(p2, "/", body, sizeof body), 200);
    CHECK_MSG(!strncmp(body, "second ", 7), "%s", body);
    seen |= 1u << (atoi(body + 7) & 31);
  }
  CHECK_EQ(seen, (1u << 1) | (1u << 2));
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

/* A worker at maxConnections refuses (accepted:false): the connection
 * goes to the other worker, and no request fails. */
TEST_T(node_cluster_roundrobin_refused_connection_goes_to_another_worker, 60) {
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  struct hp h;
  const char *extra[] = {"--env", "MAXCONN=1", NULL};
  start_app(&h, "roundrobin", extra, NULL);
  int port = port_n(&h, 1);
  HP_WAIT(&h, "all 2 workers ready", 1);
  /* two held requests: one on each worker (round robin), so slot 0 is at
   * its maxConnections */
  int held[2];
  for (int i = 0; i < 2; i++) {
    held[i] = test_connect_port(port);
    CHECK(held[i] >= 0);
    const char req[] = "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK_EQ(write(held[i], req, sizeof req - 1), (long long)sizeof req - 1);
  }
  /* both workers have their held request (round robin: one each) */
  HP_WAIT(&h, "sends: {\"held\":\"0\"}", 1);
  HP_WAIT(&h, "sends: {\"held\":\"1\"}", 1);
  char body[256];
  for (int i = 0; i < 20; i++) {
    int st = get(port, "/", body, sizeof body);
    CHECK_MSG(st == 200, "request %d: %d (%s)\n%s", i, st, last_err, h.log);
    CHECK_MSG(strstr(body, "slot=1"), "slot 0 is full, yet: %s", body);
  }
  HP_WAIT(&h, "refuses connections", 1);
  close(held[0]);
  close(held[1]);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

/* cluster.worker.disconnect() in the worker: herd answers its
 * exitedAfterDisconnect (without it the worker would hang), the worker
 * exits 0 and its slot gets a new one. */
TEST_T(node_cluster_worker_that_disconnects_itself_is_replaced, 60) {
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  struct hp h;
  start_app(&h, "shared", NULL, NULL);
  int port = port_n(&h, 1);
  HP_WAIT(&h, "all 2 workers ready", 1);
  char body[64];
  CHECK_EQ(get(port, "/bye", body, sizeof body), 200);
  HP_WAIT(&h, "code 0, died", 1);
  HP_WAIT(&h, "restarting", 1);
  int st = hp_stop(&h, SIGTERM);
  CHECK_MSG(st == 0, "herd exited %d:\n%s", st, h.log);
}

/* A worker that throws: replaced, and its error is the reason given. */
TEST_T(node_cluster_worker_that_throws_is_replaced_with_its_error, 60) {
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  struct hp h;
  start_app(&h, "roundrobin", NULL, NULL);
  int port = port_n(&h, 1);
  HP_WAIT(&h, "all 2 workers ready", 1);
  char body[64];
  (void)get(port, "/boom", body, sizeof body);
  HP_WAIT(&h, "code 1, died", 1);
  HP_WAIT(&h, "restarting", 1);
  /* the reason herd reports: the error line of its stderr */
  char reply[8192];
  CHECK_OK(hp_ctl("node", "{\"cmd\":\"status\"}", reply, sizeof reply));
  CHECK_MSG(strstr(reply, "\"Error: boom from worker "), "%s", reply);
  CHECK_EQ(ids_seen(port, 10) != 0, 1);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

/* --ready ipc: ready at process.send('ready'), not at listening. */
TEST_T(node_cluster_ready_ipc_waits_for_process_send_ready, 60) {
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  struct hp h;
  const char *extra[] = {"--ready", "ipc", "--env", "READY_AFTER=700", NULL};
  start_app(&h, "shared", extra, NULL);
  HP_WAIT(&h, "all 2 workers ready", 1);
  const char *r = strstr(h.log, "worker 0 ready, pid");
  CHECK(r);
  int after = atoi(strstr(r, "after ") + 6);
  CHECK_MSG(after >= 700, "ready after %d ms, before its 'ready' (700 ms):\n%s", after, h.log);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

/* An app that forks when it is the primary serves as a worker under
 * herd: no worker starts workers of its own. */
TEST_T(node_cluster_app_using_cluster_fork_is_a_worker_under_herd, 60) {
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  struct hp h;
  start_app(&h, "shared", NULL, FORKER);
  int port = port_n(&h, 1);
  HP_WAIT(&h, "all 2 workers ready", 1);
  char body[64];
  CHECK_EQ(get(port, "/", body, sizeof body), 200);
  pid_t wpid = atoi(body + 4);
  pid_t kids[8];
  CHECK_EQ(children_of(wpid, kids, 8), 0);
  CHECK_EQ(atoi(strstr(body, "ppid ") + 5), h.c.pid);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

/* dgram: bind() asks too; the socket is shared (as Node does in both
 * modes), and answers. Messages of the worker's own are event lines. */
TEST_T(node_cluster_dgram_bind_and_worker_messages, 60) {
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  struct hp h;
  const char *extra[] = {"--env", "UDP=1", "--env", "SAY=1", NULL};
  start_app(&h, "roundrobin", extra, NULL);
  HP_WAIT(&h, "listening on udp 0.0.0.0:", 1);
  int uport = atoi(strstr(h.log, "listening on udp 0.0.0.0:") +
                   strlen("listening on udp 0.0.0.0:"));
  CHECK(uport > 0);
  HP_WAIT(&h, "sends: {\"hello\":\"from ", 2);
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)uport)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK_EQ(sendto(s, "hi", 2, 0, (struct sockaddr *)&a, sizeof a), 2);
  struct pollfd p = {.fd = s, .events = POLLIN};
  CHECK_MSG(poll(&p, 1, 5000) == 1, "no UDP answer");
  char buf[64];
  ssize_t n = recv(s, buf, sizeof buf - 1, 0);
  CHECK(n > 4);
  buf[n] = '\0';
  CHECK_MSG(!strncmp(buf, "udp ", 4), "%s", buf);
  close(s);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

/* A port in use: the worker's listen() fails with EADDRINUSE (its
 * error), herd says which port and why; a cluster message herd does not
 * know is one line, ignored. */
TEST_T(node_cluster_port_in_use_and_unknown_message_are_one_line_each, 60) {
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  int busy = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), zero = 0, one = 1;
  CHECK(busy >= 0);
  CHECK_EQ(setsockopt(busy, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero), 0);
  (void)one;
  struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT};
  CHECK_EQ(bind(busy, (struct sockaddr *)&a, sizeof a), 0);
  CHECK_EQ(listen(busy, 1), 0);
  socklen_t len = sizeof a;
  CHECK_EQ(getsockname(busy, (struct sockaddr *)&a, &len), 0);
  char penv[32];
  snprintf(penv, sizeof penv, "PORT=%d", ntohs(a.sin6_port));
  struct hp h;
  const char *extra[] = {"--env", penv, "--env", "BOGUS=1", "--min-uptime", "0", NULL};
  start_app(&h, "shared", extra, NULL);
  HP_WAIT(&h, "Address already in use (its listen() fails)", 1);
  HP_WAIT(&h, "EADDRINUSE", 1);
  HP_WAIT(&h, "cluster message herd does not know (ignored): {\"cmd\":\"NODE_CLUSTER\","
              "\"act\":\"bogus\"", 1);
  hp_stop(&h, SIGTERM);
  close(busy);
}

/* `herd run app.js`: node, in cluster mode, named after the script. */
TEST_T(node_cluster_a_js_script_is_run_with_node_in_cluster_mode, 60) {
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  char app[256];
  write_app(app, sizeof app, "web.js", APP);
  struct hp h;
  const char *args[] = {"run", "-i", "2", app, NULL};
  hp_start(&h, args);
  int port = port_n(&h, 1);
  HP_WAIT(&h, "herd[web]: all 2 workers ready", 1);
  CHECK_EQ(ids_seen(port, 20), (1u << 1) | (1u << 2));
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

/* herd send NAME [--slot N] JSON reaches process.on('message'): the app
 * echoes it back with process.send, which herd logs. */
TEST_T(node_cluster_herd_send_reaches_process_on_message, 60) {
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  struct hp h;
  start_app(&h, "shared", NULL, NULL);
  HP_WAIT(&h, "all 2 workers ready", 1);
  static char herd[4096];
  path_of(herd, sizeof herd, "herd");
  char *one[] = {herd, "send", "node", "--slot", "1", "{\"x\": [1, \"two\"]}", NULL};
  herd_exec_result_t r;
  CHECK_OK(herd_exec_file(herd, one, NULL, &r));
  CHECK_MSG(r.exit_code == 0 && strstr(r.out, "node: sent to 1 worker\n"), "%s%s", r.out, r.err);
  herd_exec_result_free(&r);
  HP_WAIT(&h, "sends: {\"echo\":{\"x\":[1,\"two\"]},\"slot\":\"1\"}", 1);
  char *all[] = {herd, "send", "node", "\"both\"", NULL};
  CHECK_OK(herd_exec_file(herd, all, NULL, &r));
  CHECK_MSG(r.exit_code == 0 && strstr(r.out, "sent to 2 workers"), "%s%s", r.out, r.err);
  herd_exec_result_free(&r);
  HP_WAIT(&h, "sends: {\"echo\":\"both\",\"slot\":\"0\"}", 1);
  HP_WAIT(&h, "sends: {\"echo\":\"both\",\"slot\":\"1\"}", 1);
  /* Node's own messages are not the user's to send */
  char *internal[] = {herd, "send", "node", "{\"cmd\":\"NODE_CLUSTER\",\"act\":\"disconnect\"}", NULL};
  CHECK_OK(herd_exec_file(herd, internal, NULL, &r));
  CHECK_MSG(r.exit_code == 1 && strstr(r.err, "is Node's own"), "%s%s", r.out, r.err);
  herd_exec_result_free(&r);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

/* GET / from source address src (127.0.0.N: all loopback), a new
 * connection: the answering worker's id. */
static int id_from(const char *src, int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  CHECK_EQ(inet_pton(AF_INET, src, &a.sin_addr), 1);
  CHECK_EQ(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  a.sin_port = htons((uint16_t)port);
  CHECK_EQ(inet_pton(AF_INET, "127.0.0.1", &a.sin_addr), 1);
  CHECK_EQ(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  char body[256];
  int st = http_on(fd, "/", 0, body, sizeof body);
  close(fd);
  CHECK_MSG(st == 200 && strstr(body, "id="), "%d %s", st, body);
  return atoi(strstr(body, "id=") + 3);
}

/* --sticky: one client address, one worker; different addresses spread. */
TEST_T(node_cluster_sticky_keeps_a_client_address_on_one_worker, 60) {
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  struct hp h;
  const char *extra[] = {"--sticky", "-w", "3", NULL};
  start_app(&h, "roundrobin", extra, NULL);
  int port = port_n(&h, 1);
  HP_WAIT(&h, "all 3 workers ready", 1);
  unsigned all = 0;
  for (int a = 1; a <= 12; a++) {
    char src[32];
    snprintf(src, sizeof src, "127.0.0.%d", a);
    int first = id_from(src, port);
    for (int i = 0; i < 6; i++) {
      int id = id_from(src, port);
      CHECK_MSG(id == first, "%s went to worker %d, then %d", src, first, id);
    }
    all |= 1u << (first & 31);
  }
  CHECK_MSG(__builtin_popcount(all) >= 2, "12 addresses all on one worker (%#x)", all);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
  /* without roundrobin it means nothing: refused */
  const char *bad[] = {"run", "--node-cluster", "--sticky", "--", "node", "x.js", NULL};
  hp_start(&h, bad);
  HP_WAIT(&h, "--sticky: only with --node-cluster and --balance roundrobin", 1);
  CHECK_EQ(hp_stop(&h, 0), 2);
}

/* listen('/path.sock'): herd binds the path (the worker asks with it),
 * shares it, and removes it at the end; in both modes. */
static void unix_path(const char *balance) {
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  char path[108], env[128];
  snprintf(path, sizeof path, "/tmp/herd-nodecl-%d-%s.sock", (int)getpid(), balance);
  snprintf(env, sizeof env, "SOCK=%s", path);
  struct hp h;
  const char *extra[] = {"--env", env, NULL};
  start_app(&h, balance, extra, NULL);
  HP_WAIT(&h, "all 2 workers ready", 1);
  CHECK_MSG(strstr(h.log, "listening on unix:"), "%s", h.log);
  unsigned seen = 0;
  for (int i = 0; i < 30; i++) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    CHECK_EQ(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char body[256];
    CHECK_EQ(http_on(fd, "/", 0, body, sizeof body), 200);
    close(fd);
    seen |= 1u << (atoi(strstr(body, "id=") + 3) & 31);
  }
  if (!strcmp(balance, "roundrobin")) /* (shared: the kernel's choice) */
    CHECK_EQ(seen, (1u << 1) | (1u << 2));
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
  CHECK_MSG(access(path, F_OK) != 0, "%s left behind", path);
}

TEST_T(node_cluster_unix_path_shared, 60) {
  unix_path("shared");
}

TEST_T(node_cluster_unix_path_roundrobin, 60) {
  unix_path("roundrobin");
}

/* An Express app, unchanged (express from npm: tests/node/node_modules,
 * installed by .ci/run), served by both workers in both modes. */
static const char EXPRESS[] =
    "const express = require('express'), cluster = require('cluster');\n"
    "const app = express();\n"
    "app.get('/', (q, r) => { r.set('Connection', 'close'); "
    "r.send('id=' + cluster.worker.id + ' express primary=' + cluster.isPrimary + '\\n'); });\n"
    "app.listen(0);\n";

static void express(const char *balance) {
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  char mods[4096];
  if (!getcwd(mods, sizeof mods - 64))
    SKIP("no cwd");
  strcat(mods, "/tests/node/node_modules");
  char probe[4200];
  snprintf(probe, sizeof probe, "%s/express/package.json", mods);
  if (access(probe, R_OK) != 0)
    SKIP("express not installed (cd tests/node && npm install --no-save express@4)");
  char env[4200];
  snprintf(env, sizeof env, "NODE_PATH=%s", mods);
  struct hp h;
  const char *extra[] = {"--env", env, NULL};
  start_app(&h, balance, extra, EXPRESS);
  int port = port_n(&h, 1);
  HP_WAIT(&h, "all 2 workers ready", 1);
  CHECK_EQ(ids_seen(port, 40), (1u << 1) | (1u << 2));
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

TEST_T(node_cluster_express_app_shared, 60) {
  express("shared");
}

TEST_T(node_cluster_express_app_roundrobin, 60) {
  express("roundrobin");
}

/* A worker asking for ever more sockets: herd gives 256 in all, then
 * EMFILE (its listen() fails), and the master stays well; the refusals
 * are said 10 times, not 45 (a worker asking in a loop flooded the log). */
TEST_T(node_cluster_sockets_asked_for_are_bounded, 60) {
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  struct hp h;
  const char *extra[] = {"-w", "1", "--env", "MANY=300", NULL};
  start_app(&h, "roundrobin", extra, NULL);
  /* its first server and 255 of the 300 get a socket */
  HP_WAIT(&h, "sends: {\"ok\":255,\"bad\":45}", 1);
  HP_WAIT(&h, "Too many open files (its listen() fails)", 1);
  int said = 0;
  for (const char *p = h.log; (p = strstr(p, "(its listen() fails)")); p++)
    said++;
  CHECK_MSG(said == 10, "%d refusals said", said);
  char reply[256];
  CHECK_OK(hp_ctl("node", "{\"cmd\":\"ping\"}", reply, sizeof reply));
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

/* A cluster worker that asks for the port and then answers no newconn
 * (a Python stand-in speaking the protocol: Node's own always answers):
 * after 3 s what it was handed goes to the other worker, which answers,
 * and it is replaced. No request is lost. At the stop it ignores the
 * disconnect too: the stop signal comes at half the kill timeout (it
 * used to wait for the disconnection, for ever, and SIGKILL: exit 1). */
static const char DEAF[] =
    "import json, os, socket, time\n"
    "s = socket.socket(fileno=int(os.environ['NODE_CHANNEL_FD']))\n"
    "def send(m): s.sendall((json.dumps(m) + '\\n').encode())\n"
    "send({'cmd': 'NODE_CLUSTER', 'act': 'online', 'seq': 0})\n"
    "send({'cmd': 'NODE_CLUSTER', 'act': 'queryServer', 'index': 0, 'data': None,\n"
    "      'address': None, 'port': int(os.environ['PORT']), 'addressType': 4,\n"
    "      'backlog': 0, 'seq': 1})\n"
    "s.recv(65536)\n"
    "send({'cmd': 'NODE_CLUSTER', 'act': 'listening', 'index': 0, 'data': None,\n"
    "      'address': None, 'port': int(os.environ['PORT']), 'addressType': 4,\n"
    "      'backlog': 0, 'seq': 2})\n"
    "time.sleep(60)\n";

TEST_T(node_cluster_worker_that_never_answers_newconn_loses_nothing, 60) {
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  if (access("/usr/bin/python3", X_OK) != 0)
    SKIP("python3 not found");
  char app[256], deaf[256], cmd[700], penv[32];
  write_app(app, sizeof app, "app.js", APP);
  write_app(deaf, sizeof deaf, "deaf.py", DEAF);
  /* a port of our own choosing: the stand-in asks for it by number */
  int probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  socklen_t len = sizeof a;
  CHECK_EQ(bind(probe, (struct sockaddr *)&a, sizeof a), 0);
  CHECK_EQ(getsockname(probe, (struct sockaddr *)&a, &len), 0);
  int port = ntohs(a.sin_port);
  close(probe);
  snprintf(penv, sizeof penv, "PORT=%d", port);
  snprintf(cmd, sizeof cmd,
           "if [ \"$NODE_APP_INSTANCE\" = 0 ]; then exec python3 %s; else exec node %s; fi",
           deaf, app);
  struct hp h;
  const char *args[] = {"run", "-w", "2", "--node-cluster", "--balance", "roundrobin",
                        "--env", penv, "--", "sh", "-c", cmd, NULL};
  hp_start(&h, args);
  HP_WAIT(&h, "all 2 workers ready", 1);
  char body[256];
  for (int i = 0; i < 4; i++) {
    int st = get(port, "/", body, sizeof body);
    CHECK_MSG(st == 200 && strstr(body, "slot=1"), "request %d: %d %s (%s)\n%s", i, st,
              body, last_err, h.log);
  }
  HP_WAIT(&h, "took none of the connections handed to it", 1);
  HP_WAIT(&h, "worker 0 started", 2); /* its replacement */
  int st = hp_stop(&h, SIGTERM);
  CHECK_MSG(st == 0 && !strstr(h.log, "SIGKILL"), "herd exited %d:\n%s", st, h.log);
}

/* A worker that asks for the shared socket again and again and never
 * acknowledges a handle: each reply would be one more fd of the master's,
 * waiting in its channel (1,024 of them took the master's fds): at most
 * 64 wait, the rest are refused (EBUSY), and the master answers. */
static const char NOACK[] =
    "import json, os, socket, time\n"
    "s = socket.socket(fileno=int(os.environ['NODE_CHANNEL_FD']))\n"
    "for i in range(400):\n"
    "    s.sendall((json.dumps({'cmd': 'NODE_CLUSTER', 'act': 'queryServer', 'index': 0,\n"
    "        'data': None, 'address': None, 'port': 0, 'addressType': 4, 'backlog': 0,\n"
    "        'seq': i}) + '\\n').encode())\n"
    "s.sendall(b'\"done\"\\n')\n"
    "time.sleep(60)\n";


TEST_T(node_cluster_unacknowledged_sockets_are_bounded, 60) {
  if (access("/usr/bin/python3", X_OK) != 0)
    SKIP("python3 not found");
  char deaf[256];
  write_app(deaf, sizeof deaf, "noack.py", NOACK);
  struct hp h;
  const char *args[] = {"run", "-w", "1", "--node-cluster", "--ready", "0", "--",
                        "python3", deaf, NULL};
  hp_start(&h, args);
  HP_WAIT(&h, "sends: \"done\"", 1);
  int fds = count_fds_of(h.c.pid);
  CHECK_MSG(fds < 40 + 64, "the master holds %d fds", fds);
  HP_WAIT(&h, "Device or resource busy (its listen() fails)", 1);
  char reply[256];
  CHECK_OK(hp_ctl("python3", "{\"cmd\":\"ping\"}", reply, sizeof reply));
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

/* Workers of another user (--user) get what they could bind themselves:
 * no port below 1024, no unix path (the master, root, would create and
 * chmod and at the end remove a path the worker controls); a port of
 * their own, yes. */
TEST_T(node_cluster_another_users_worker_gets_no_privileged_port_nor_path, 60) {
  if (geteuid() != 0)
    SKIP("needs root, to run workers as nobody");
  if (!have_node())
    SKIP("node not found (apt-get install nodejs)");
  static const char PRIV[] =
      "const http = require('http'), res = {};\n"
      "let n = 0; const done = () => { if (++n === 3) process.send(res); };\n"
      "const t = (name, arg) => http.createServer().on('error', (e) => { res[name] = e.code; done(); })\n"
      "  .listen(arg, () => { res[name] = 'ok'; done(); });\n"
      "t('low', 81); t('path', '/tmp/herd-nodecl-priv-' + process.pid + '.sock'); t('high', 0);\n";
  char app[256];
  write_app(app, sizeof app, "priv.js", PRIV);
  CHECK_EQ(chmod(dir, 0755), 0);
  CHECK_EQ(chmod(app, 0644), 0);
  struct hp h;
  const char *args[] = {"run", "-w", "1", "--node-cluster", "--user", "nobody", "--",
                        "node", app, NULL};
  hp_start(&h, args);
  HP_WAIT(&h, "sends: {\"low\":\"EACCES\",\"path\":\"EACCES\",\"high\":\"ok\"}", 1);
  HP_WAIT(&h, "asked for [::]:81: Permission denied", 1);
  HP_WAIT(&h, "1 worker ready", 1);
  int st = hp_stop(&h, SIGTERM);
  CHECK_MSG(st == 0, "herd exited %d:\n%s", st, h.log);
}
