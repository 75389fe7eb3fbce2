/*
 * master-worker - the classic master/worker demo in C, with
 * herd_cluster_run: this program is its own master. It binds
 * 127.0.0.1:$PORT (default 3000), forks one worker per core, and each
 * worker runs worker_main() on the shared socket.
 *
 * What it shows:
 *  - a C server becomes a supervised pool in a few lines;
 *  - GET /crash makes that worker retire (herd_retire: "replace me") and
 *    die; the master has already started its successor;
 *  - process titles, as Node's process.title: ps shows "herd: master"
 *    and "herd: worker N".
 *
 * Try: build/examples/master-worker & ps -o pid,args -C master-worker;
 *      curl localhost:3000/ ; curl localhost:3000/crash ; kill -HUP (reload)
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "herd.h"

static volatile sig_atomic_t stopping;

static void on_term(int sig) {
  (void)sig;
  stopping = 1;
}

static void reply(int fd, const char *body) {
  char buf[512];
  int n = snprintf(buf, sizeof buf,
                   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                   strlen(body), body);
  (void)send(fd, buf, (size_t)n, MSG_NOSIGNAL);
}

/* One worker: a blocking accept loop on the shared socket (fd 3). The
 * kernel gives each connection to one of the workers waiting in accept. */
static int worker_main(void *arg) {
  (void)arg;
  int id = herd_worker_id();
  char title[64];
  snprintf(title, sizeof title, "herd: worker %d", id);
  herd_title_set(title);
  /* No SA_RESTART: SIGTERM interrupts accept, and we leave. */
  struct sigaction sa = {.sa_handler = on_term};
  sigaction(SIGTERM, &sa, NULL);
  if (herd_listen_fds(1) < 1) {
    fprintf(stderr, "worker %d: no listening socket\n", id);
    return 1;
  }
  while (!stopping) {
    int fd = accept(3, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR)
        continue;
      perror("accept");
      return 1;
    }
    char req[2048];
    ssize_t n = recv(fd, req, sizeof req - 1, 0);
    req[n > 0 ? n : 0] = '\0';
    char body[128];
    if (strncmp(req, "GET /crash ", 11) == 0) {
      /* Tell the master first: it starts the successor now. */
      herd_retire();
      snprintf(body, sizeof body, "worker %d (pid %d) retires and dies\n", id,
               (int)getpid());
      reply(fd, body);
      close(fd);
      return 3;
    }
    snprintf(body, sizeof body, "hello from worker %d (pid %d)\n", id,
             (int)getpid());
    reply(fd, body);
    close(fd);
  }
  return 0;
}

static void on_event(herd_cluster_t *c, const herd_event_t *ev, void *data) {
  (void)c;
  (void)data;
  switch (ev->type) {
  case HERD_EV_LISTEN:
    printf("master %d: listening on http://%s/\n", (int)getpid(), ev->text);
    break;
  case HERD_EV_STARTED:
    printf("master: worker %d started (pid %d)\n", ev->slot, (int)ev->pid);
    break;
  case HERD_EV_EXITED:
    printf("master: worker %d (pid %d) exited, %s %d (%s)\n", ev->slot, (int)ev->pid,
           ev->sig ? "signal" : "code", ev->sig ? ev->sig : ev->code,
           herd_reason_name(ev->reason));
    break;
  case HERD_EV_RETIRE:
    printf("master: worker %d retires, starting its successor\n", ev->slot);
    break;
  case HERD_EV_ERROR:
    fprintf(stderr, "master: %s%s%s: %s\n", herd_reason_name(ev->reason),
            ev->text ? " " : "", ev->text ? ev->text : "", herd_strerror(ev->code));
    break;
  default:
    return;
  }
  fflush(stdout);
}

int main(int argc, char **argv) {
  herd_title_init(argc, argv);
  herd_title_set("herd: master");
  const char *port = getenv("PORT");
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%s", port ? port : "3000");
  const char *listen[] = {addr, NULL};
  herd_cluster_opts_t o = HERD_CLUSTER_OPTS_INIT;
  o.listen = listen;
  o.on_event = on_event;
  int r = herd_cluster_run(&o, worker_main, NULL);
  if (r < 0) {
    fprintf(stderr, "master-worker: %s\n", herd_strerror(r));
    return 1;
  }
  printf("master: stopped\n");
  return r;
}
