/*
 * web_test.c - the --metrics address's read-only web page (src/cli/web.c,
 * src/cli/web/): GET / and its files with their headers, /status.json
 * (the status reply of the control socket), what is refused (other
 * methods, oversized requests, unknown paths), and the page in a real
 * browser: headless Chromium runs its script, and the workers' pids,
 * which the HTML served does not hold, appear in the DOM it builds.
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/cli/jval.h"
#include "hp.h"

/* One raw exchange with 127.0.0.1:port: the whole answer (malloc'd),
 * and the status code in *code (-1 if it is no HTTP answer). */
static char *http_whole(int port, const char *req, size_t reqlen, int *code) {
  int fd = test_connect_port(port);
  CHECK_MSG(fd >= 0, "connect to port %d: %s", port, strerror(-fd));
  CHECK(send(fd, req, reqlen, MSG_NOSIGNAL) == (ssize_t)reqlen);
  char *all = test_read_all(fd, NULL);
  CHECK(close(fd) == 0);
  *code = !strncmp(all, "HTTP/1.1 ", 9) ? atoi(all + 9) : -1;
  return all;
}

static char *http_req(int port, const char *req, int *code) {
  return http_whole(port, req, strlen(req), code);
}

/* The value of header NAME in the answer all, into out ("" if none). */
static void header(const char *all, const char *name, char *out, size_t n) {
  out[0] = '\0';
  const char *end = strstr(all, "\r\n\r\n");
  size_t nl = strlen(name);
  for (const char *p = strstr(all, "\r\n"); p && p < end; p = strstr(p + 2, "\r\n"))
    if (!strncasecmp(p + 2, name, nl) && p[2 + nl] == ':') {
      const char *v = p + 3 + nl + strspn(p + 3 + nl, " ");
      snprintf(out, n, "%.*s", (int)strcspn(v, "\r\n"), v);
      return;
    }
}

static const char *body_of(const char *all) {
  const char *b = strstr(all, "\r\n\r\n");
  return b ? b + 4 : "";
}

static int metrics_port(struct hp *h) {
  HP_WAIT(h, "metrics on http://127.0.0.1:", 1);
  return atoi(strstr(h->log, "metrics on http://127.0.0.1:") + 28);
}

/* herd run -n NAME -w 2 with hello-http, its metrics on a free port:
 * both workers ready, their pids in pids[2]. Returns the metrics port. */
static int start_two(struct hp *h, const char *name, pid_t pids[2]) {
  const char *args[] = {"run", "-n", name, "-w", "2", "--metrics", "127.0.0.1:0",
                        "-l", "127.0.0.1:0", "--", hello_http(), NULL};
  hp_start(h, args);
  int mp = metrics_port(h);
  HP_WAIT(h, "all 2 workers ready", 1);
  pids[0] = hp_worker_pid(h, 0);
  pids[1] = hp_worker_pid(h, 1);
  return mp;
}

/* The headers every answer of the page carries. */
static void check_page_headers(const char *all, const char *type) {
  char v[512];
  header(all, "Content-Type", v, sizeof v);
  CHECK_STR(v, type);
  header(all, "Cache-Control", v, sizeof v);
  CHECK_STR(v, "no-store");
  header(all, "X-Content-Type-Options", v, sizeof v);
  CHECK_STR(v, "nosniff");
  header(all, "Content-Security-Policy", v, sizeof v);
  CHECK_MSG(strstr(v, "default-src 'none'") && strstr(v, "script-src 'self'") &&
            strstr(v, "style-src 'self'") && strstr(v, "connect-src 'self'") &&
            !strstr(v, "unsafe-inline"), "the policy is: %s", v);
  header(all, "Content-Length", v, sizeof v);
  CHECK_EQ(atol(v), (long)strlen(body_of(all)));
}

/* GET / is the page (HTML that loads its own herd.css and herd.js, both
 * served), with no-store, nosniff and a policy that allows only the
 * page's own files; HEAD gets the headers alone. The HTML holds no pid:
 * the figures come from /status.json. */
TEST_T(metrics_web_page_is_served_with_its_headers, 60) {
  struct hp h;
  pid_t pids[2];
  int mp = start_two(&h, "webpage", pids);
  int code;
  char *all = http_req(mp, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &code);
  CHECK_EQ(code, 200);
  check_page_headers(all, "text/html; charset=utf-8");
  const char *html = body_of(all);
  CHECK(!strncmp(html, "<!DOCTYPE html>", 15));
  CHECK(strstr(html, "<script src=\"herd.js\""));
  CHECK(strstr(html, "<link rel=\"stylesheet\" href=\"herd.css\">"));
  CHECK_MSG(!strstr(html, "<script>") && !strstr(html, "<style"),
            "inline script or style, which the policy would block");
  for (int i = 0; i < 2; i++) {
    char p[16];
    snprintf(p, sizeof p, "%d", (int)pids[i]);
    CHECK_MSG(!strstr(html, p), "the HTML holds pid %s", p);
  }
  size_t html_len = strlen(html);
  free(all);
  all = http_req(mp, "HEAD / HTTP/1.1\r\n\r\n", &code);
  CHECK_EQ(code, 200);
  char v[64];
  header(all, "Content-Length", v, sizeof v);
  CHECK_EQ(atol(v), (long)html_len);
  CHECK_STR(body_of(all), "");
  free(all);
  all = http_req(mp, "GET /herd.js HTTP/1.1\r\n\r\n", &code);
  CHECK_EQ(code, 200);
  check_page_headers(all, "text/javascript; charset=utf-8");
  CHECK(strstr(body_of(all), "fetch('status.json'"));
  free(all);
  all = http_req(mp, "GET /herd.css?v=1 HTTP/1.1\r\n\r\n", &code);
  CHECK_EQ(code, 200);
  check_page_headers(all, "text/css; charset=utf-8");
  free(all);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

/* The keys of object v, in order, joined by commas into out. */
static void keys_of(const herd_val_t *v, char *out, size_t n) {
  size_t k = 0;
  out[0] = '\0';
  CHECK(jis_obj(v));
  for (size_t i = 0; i < v->obj.n && k < n; i++) {
    const char *key = v->obj.props[i].key;
    k += (size_t)snprintf(out + k, n - k, "%s%s", i ? "," : "", key ? key : "#");
  }
}

/* /status.json is the status reply of `herd status --json`, the same
 * builder (its keys are the control reply's), and holds the workers. */
TEST_T(metrics_status_json_holds_the_workers_pids, 60) {
  struct hp h;
  pid_t pids[2];
  int mp = start_two(&h, "webjson", pids);
  int code;
  char *all = http_req(mp, "GET /status.json HTTP/1.1\r\n\r\n", &code);
  CHECK_EQ(code, 200);
  check_page_headers(all, "application/json; charset=utf-8");
  const char *body = body_of(all);
  herd_val_t *v = NULL;
  CHECK_MSG(herd_json_parse(body, strlen(body), &v, NULL) == 0, "not JSON: %s", body);
  CHECK_STR(jstr(jget(v, "name"), ""), "webjson");
  CHECK_EQ(jnum(jget(v, "pid"), 0), h.c.pid);
  CHECK_STR(jstr(jget(v, "state"), ""), "online");
  const herd_val_t *ws = jget(v, "workers");
  CHECK_EQ(jlen(ws), 2);
  for (size_t i = 0; i < 2; i++) {
    CHECK_EQ(jnum(jget(jat(ws, i), "slot"), -1), (double)i);
    CHECK_EQ(jnum(jget(jat(ws, i), "pid"), 0), pids[i]);
    CHECK_STR(jstr(jget(jat(ws, i), "state"), ""), "ready");
    /* > 0, but for a worker whose /proc/PID/stat says 0 itself: the
     * kernel's count there is approximate (per-CPU or per-thread parts
     * folded in by batches), and a small static hello-http (make
     * static) may not have faulted a batch in yet */
    herd_proc_stat_t ps;
    CHECK_OK(herd_proc_stat(pids[i], &ps));
    CHECK(jnum(jget(jat(ws, i), "rss"), 0) > 0 || ps.rss_bytes == 0);
    CHECK(jget(jat(ws, i), "cpu") && jget(jat(ws, i), "uptime_ms") &&
          jget(jat(ws, i), "restarts"));
  }
  char reply[65536];
  CHECK_OK(hp_ctl("webjson", "{\"cmd\":\"status\"}", reply, sizeof reply));
  herd_val_t *c = NULL;
  CHECK(herd_json_parse(reply, strlen(reply), &c, NULL) == 0);
  char k1[2048], k2[2048];
  keys_of(v, k1, sizeof k1);
  keys_of(c, k2, sizeof k2);
  CHECK_STR(k1, k2);
  keys_of(jat(ws, 0), k1, sizeof k1);
  keys_of(jat(jget(c, "workers"), 0), k2, sizeof k2);
  CHECK_STR(k1, k2);
  herd_val_free(c);
  herd_val_free(v);
  free(all);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

/* The page changes nothing and takes no input: any method but GET and
 * HEAD is 405 with Allow, a head over 8191 bytes is 431, a path that is
 * none of the page's is 404; the master then still answers and holds no
 * more fds than before. */
TEST_T(metrics_web_refuses_other_methods_and_oversized_requests, 60) {
  struct hp h;
  pid_t pids[2];
  int mp = start_two(&h, "webbad", pids);
  int code;
  char *all = http_req(mp, "GET /healthz HTTP/1.1\r\n\r\n", &code);
  CHECK_EQ(code, 200);
  free(all);
  int fds = count_fds_of(h.c.pid);
  CHECK(fds > 0);
  static const char *const refused[] = {
      "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
      "PUT /status.json HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
      "DELETE /status.json HTTP/1.1\r\n\r\n",
      "OPTIONS / HTTP/1.1\r\n\r\n",
      "get / HTTP/1.1\r\n\r\n",
      "nonsense\r\n\r\n"};
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    all = http_req(mp, refused[i], &code);
    CHECK_MSG(code == 405, "%s: %d", refused[i], code);
    char v[64];
    header(all, "Allow", v, sizeof v);
    CHECK_STR(v, "GET, HEAD");
    free(all);
  }
  static const char *const unknown[] = {
      "GET /index.htm HTTP/1.1\r\n\r\n", "GET /status.json/x HTTP/1.1\r\n\r\n",
      "GET //herd.js HTTP/1.1\r\n\r\n", "GET /../herd.js HTTP/1.1\r\n\r\n",
      "GET /web/herd.js HTTP/1.1\r\n\r\n", "GET /embed.sh HTTP/1.1\r\n\r\n",
      "GET herd.js HTTP/1.1\r\n\r\n"};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    all = http_req(mp, unknown[i], &code);
    CHECK_MSG(code == 404, "%s: %d", unknown[i], code);
    free(all);
  }
  /* a request head of 9000 bytes: its path, then a header */
  char big[9000];
  memset(big, 'a', sizeof big);
  memcpy(big, "GET /?", 6);
  memcpy(big + 4000, " HTTP/1.1\r\nX: ", 14);
  all = http_whole(mp, big, sizeof big, &code);
  CHECK_EQ(code, 431);
  free(all);
  all = http_req(mp, "GET /status.json HTTP/1.1\r\n\r\n", &code);
  CHECK_EQ(code, 200);
  free(all);
  /* the connections are closed when answered: none is left behind */
  CHECK_EQ(count_fds_of(h.c.pid), fds);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}

/* ---- the page in a real browser ----------------------------------- */

/* bin on PATH into out (an executable file): 1, or 0 if there is none. */
static int on_path(const char *bin, char *out, size_t n) {
  const char *path = getenv("PATH");
  for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
    size_t l = strcspn(p, ":");
    snprintf(out, n, "%.*s/%s", (int)l, p, bin);
    struct stat st;
    if (l && stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
      return 1;
    p += l + (p[l] == ':');
  }
  return 0;
}

/* Read fd until EOF or the deadline (test_now_ms) into *out
 * (malloc'd, NUL-terminated): 0 at EOF, 1 at the deadline. */
static int read_until(int fd, uint64_t deadline, char **out) {
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  CHECK(buf);
  int timed_out = 0;
  for (;;) {
    uint64_t now = test_now_ms();
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    int r = now < deadline ? poll(&pf, 1, (int)(deadline - now)) : 0;
    if (r < 0 && errno == EINTR)
      continue;
    CHECK(r >= 0);
    if (r == 0) {
      timed_out = 1;
      break;
    }
    if (cap - len < 4096)
      CHECK((buf = realloc(buf, cap *= 2)) != NULL);
    ssize_t k = read(fd, buf + len, cap - len - 1);
    if (k < 0 && errno == EINTR)
      continue;
    CHECK(k >= 0);
    if (k == 0)
      break;
    len += (size_t)k;
  }
  buf[len] = '\0';
  *out = buf;
  return timed_out;
}

/* Kill and reap every child of ours but keep, and what they leave: as
 * the subreaper, we get their descendants when their parents die (some
 * leave the browser's group: chrome_crashpad_handler makes a session of
 * its own). A reaped child's children are ours already, so each look
 * either reaps one or finds none left. */
static void reap_all_but(pid_t keep) {
  for (;;) {
    pid_t kids[64];
    int nk = children_of(getpid(), kids, 64), other = 0;
    CHECK(nk >= 0);
    for (int i = 0; i < nk; i++) {
      if (kids[i] == keep)
        continue;
      other++;
      (void)kill(kids[i], SIGKILL);
      CHECK(waitpid(kids[i], NULL, 0) == kids[i]);
    }
    if (!other)
      return;
  }
}

/* Run bin with args (NULL-terminated, after argv[0]) in a process group
 * of its own, this process its subreaper: its stdout into *out
 * (malloc'd), its stderr into the file errpath. At the deadline
 * (timeout_ms) the group is killed; in any case, once bin is done,
 * every process it left is killed and reaped, so that none is left:
 * every child of ours but keep (herd). Returns the exit status of bin,
 * or -1 if it timed out. */
static int run_group(const char *bin, const char *const *args, const char *errpath,
                     int timeout_ms, pid_t keep, char **out) {
  char *argv[24];
  int n = 0;
  argv[n++] = (char *)bin;
  for (int i = 0; args[i] && n < 23; i++)
    argv[n++] = (char *)args[i];
  argv[n] = NULL;
  int p[2];
  CHECK(pipe2(p, O_CLOEXEC) == 0);
  int efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
  CHECK(efd >= 0 && nul >= 0);
  /* what the browser leaves when it dies comes back to us, to be reaped */
  CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    if (setpgid(0, 0) < 0 || dup2(nul, 0) < 0 || dup2(p[1], 1) < 0 || dup2(efd, 2) < 0)
      _exit(126);
    execv(bin, argv);
    _exit(127);
  }
  (void)setpgid(pid, pid); /* both sides: no race with a kill of the group */
  CHECK(close(p[1]) == 0 && close(efd) == 0 && close(nul) == 0);
  uint64_t deadline = test_now_ms() + (uint64_t)timeout_ms;
  int timed_out = read_until(p[0], deadline, out);
  CHECK(close(p[0]) == 0);
  int pfd = herd_pidfd_open(pid);
  CHECK(pfd >= 0);
  uint64_t now = test_now_ms();
  struct pollfd pp = {.fd = pfd, .events = POLLIN};
  if (timed_out || poll(&pp, 1, now < deadline ? (int)(deadline - now) : 0) != 1)
    timed_out = 1;
  CHECK(close(pfd) == 0);
  int st = 0;
  (void)kill(-pid, SIGKILL);
  CHECK(waitpid(pid, &st, 0) == pid);
  reap_all_but(keep);
  return timed_out ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The last bytes of file path, for a failure message. */
static void tail_of(const char *path, char *out, size_t n) {
  out[0] = '\0';
  FILE *f = fopen(path, "re");
  if (!f)
    return;
  if (fseek(f, 0, SEEK_END) == 0) {
    long sz = ftell(f);
    if (sz > (long)n - 1)
      (void)fseek(f, sz - (long)n + 1, SEEK_SET);
    else
      rewind(f);
  }
  size_t got = fread(out, 1, n - 1, f);
  out[got] = '\0';
  (void)fclose(f);
}

/* Headless Chromium loads the page and runs its script: the workers'
 * pids (absent from the HTML served) appear in the DOM it builds from
 * /status.json, with the app's name; and a screenshot of it is a PNG of
 * the window's size (build/web-page.png). No browser process is left. */
TEST_T(metrics_web_page_shows_worker_pids_in_chromium, 180) {
  char bin[PATH_MAX];
  if (!on_path("chromium", bin, sizeof bin))
    SKIP("chromium not found (apt-get install chromium): the page is not tried in a browser");
  struct hp h;
  pid_t pids[2];
  int mp = start_two(&h, "webshow", pids);
  const char *home = getenv("HERD_HOME");
  char url[64], profile[PATH_MAX], errpath[PATH_MAX], shot[PATH_MAX], shot_arg[PATH_MAX + 16];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/", mp);
  snprintf(profile, sizeof profile, "--user-data-dir=%s/chromium", home);
  snprintf(errpath, sizeof errpath, "%s/chromium.err", home);
  snprintf(shot, sizeof shot, "%s/web-page.png", build_dir());
  char rel[PATH_MAX];
  if (shot[0] != '/' && getcwd(rel, sizeof rel)) { /* chromium wants it whole */
    char whole[PATH_MAX * 2];
    snprintf(whole, sizeof whole, "%s/%s", rel, shot);
    snprintf(shot, sizeof shot, "%.*s", (int)sizeof shot - 1, whole);
  }
  snprintf(shot_arg, sizeof shot_arg, "--screenshot=%s", shot);
  int code;
  char *page = http_req(mp, "GET / HTTP/1.1\r\n\r\n", &code);
  CHECK_EQ(code, 200);
  CHECK(!strstr(page, "data-pid") && !strstr(page, "webshow"));
  free(page);
  const char *dom_args[] = {"--headless=new", "--no-sandbox", "--disable-gpu",
                            "--disable-dev-shm-usage", profile,
                            "--virtual-time-budget=5000", "--dump-dom", url, NULL};
  char *dom, why[1024];
  int st = run_group(bin, dom_args, errpath, 60000, h.c.pid, &dom);
  tail_of(errpath, why, sizeof why);
  CHECK_MSG(st == 0, "chromium --dump-dom: %d; it said: %s", st, why);
  for (int i = 0; i < 2; i++) {
    char want[64];
    snprintf(want, sizeof want, "data-pid=\"%d\"", (int)pids[i]);
    CHECK_MSG(strstr(dom, want), "no %s in the DOM:\n%.3000s", want, dom);
  }
  CHECK_MSG(strstr(dom, "<span id=\"app\">webshow</span>"), "no app name:\n%.3000s", dom);
  free(dom);
  (void)unlink(shot);
  const char *shot_args[] = {"--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", profile,
                             "--virtual-time-budget=5000", shot_arg,
                             "--window-size=1200,800", url, NULL};
  char *ignored;
  st = run_group(bin, shot_args, errpath, 60000, h.c.pid, &ignored);
  free(ignored);
  tail_of(errpath, why, sizeof why);
  CHECK_MSG(st == 0, "chromium --screenshot: %d; it said: %s", st, why);
  int fd = open(shot, O_RDONLY | O_CLOEXEC);
  CHECK_MSG(fd >= 0, "%s: %s", shot, strerror(errno));
  size_t len;
  char *png = test_read_all(fd, &len);
  CHECK(close(fd) == 0);
  CHECK_MSG(len > 1000 && !memcmp(png, "\x89PNG\r\n\x1a\n", 8) &&
            !memcmp(png + 12, "IHDR", 4), "%s is no PNG (%zu bytes)", shot, len);
  const unsigned char *ih = (const unsigned char *)png + 16;
  CHECK_EQ((ih[0] << 24 | ih[1] << 16 | ih[2] << 8 | ih[3]), 1200);
  CHECK_EQ((ih[4] << 24 | ih[5] << 16 | ih[6] << 8 | ih[7]), 800);
  free(png);
  CHECK_EQ(hp_stop(&h, SIGTERM), 0);
}
