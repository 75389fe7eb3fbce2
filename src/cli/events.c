/*
 * events.c - the engine's events, worded: one line each in the master's
 * log, what systemd hears (READY=1, RELOADING=1, STOPPING=1), the
 * answers waiting requests get, and the start report that goes back to
 * `herd start`.
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

/* The start report, to `herd start` (main.c), once: one JSON line,
 * {"ok":true,"name":...,"workers":N,"pids":[...],"listen":[...],
 * "master":PID,"metrics":ADDR|null} or {"ok":false,"error":"..."}. */
static void report(struct master *m, struct jw *w) {
  m->reported = 1;
  if (m->status_fd >= 0 && !w->err) {
    jw_raw(w, "\n", 1);
    (void)!write(m->status_fd, w->buf, w->len);
  }
  if (m->upin)
    return; /* herd upgrade: the channel goes on (upgradein.c) */
  if (m->status_fd >= 0)
    (void)close(m->status_fd);
  m->status_fd = -1; /* told, or not a daemon */
}

void tell_starter_failed(struct master *m, const char *why) {
  struct jw w;
  jw_init(&w);
  jw_raw(&w, "{\"ok\":false,\"error\":", 20);
  jw_str(&w, why, strlen(why));
  jw_raw(&w, "}", 1);
  report(m, &w);
  jw_free(&w);
}

static void started_ok(struct master *m) {
  struct jw w;
  jw_init(&w);
  herd_cluster_stats_t st;
  herd_cluster_stats(m->c, &st);
  jw_raw(&w, "{\"ok\":true,\"name\":", 18);
  jw_str(&w, m->a->name, strlen(m->a->name));
  jw_printf(&w, ",\"workers\":%d,\"pids\":[", st.workers);
  int n, k = 0;
  herd_worker_info_t *rows = get_rows(m, &n);
  for (int i = 0; i < n; i++)
    if (rows[i].pid > 0)
      jw_printf(&w, "%s%d", k++ ? "," : "", (int)rows[i].pid);
  free(rows);
  jw_raw(&w, "],\"listen\":[", 12);
  for (int i = 0; i < m->nlisten_text; i++) {
    if (i)
      jw_raw(&w, ",", 1);
    jw_str(&w, m->listen_text[i], strlen(m->listen_text[i]));
  }
  jw_printf(&w, "],\"master\":%d,\"metrics\":", (int)getpid());
  if (m->metrics_addr[0])
    jw_str(&w, m->metrics_addr, strlen(m->metrics_addr));
  else
    jw_raw(&w, "null", 4);
  jw_raw(&w, "}", 1);
  report(m, &w);
  jw_free(&w);
}

/* The exit's word in our lines: "stopped" (asked to, killed at the kill
 * timeout too), "retired", or "died" (crashed, exited by itself, killed
 * at the ready timeout). */
static const char *exit_word(struct master *m, const herd_event_t *ev) {
  struct slot_note *sn = note_peek(m, ev->slot);
  switch (ev->reason) {
  case HERD_REASON_STOPPED:
    return "stopped";
  case HERD_REASON_RETIRED:
    return "retired";
  case HERD_REASON_KILLED:
    return sn && sn->unready_kill == ev->pid ? "died" : "stopped";
  default:
    return "died";
  }
}

static void on_exited(struct master *m, const herd_event_t *ev, char *what, size_t n) {
  const char *word = exit_word(m, ev), *sig = ev->sig ? sig_abbrev(ev->sig) : NULL;
  int died = !strcmp(word, "died");
  if (ev->sig)
    snprintf(what, n, "worker %d exited, pid %d, killed by signal %d (%s), %s, up %llu ms",
             ev->slot, (int)ev->pid, ev->sig, strsignal(ev->sig), word,
             (unsigned long long)ev->uptime_ms);
  else
    snprintf(what, n, "worker %d exited, pid %d, code %d, %s, up %llu ms", ev->slot,
             (int)ev->pid, ev->code, word, (unsigned long long)ev->uptime_ms);
  /* why it died: what it said so far, and what is still in its pipe */
  struct slot_note *sn = died ? note_of(m, ev->slot) : note_peek(m, ev->slot);
  if (sn) {
    sn->exit_pid = died ? ev->pid : 0; /* asked to stop: no reason to tell */
    if (died && sn->pid == ev->pid)
      sn->exit = sn->cur;
    else
      memset(&sn->exit, 0, sizeof sn->exit);
  }
  if (died) {
    /* a restart or a scale-up waiting for all-ready will not get it
     * from a worker that dies: say so now rather than after the
     * restarts are exhausted */
    char e[160];
    if (ev->sig)
      say(e, sizeof e, "worker %d was killed by SIG%s", ev->slot, sig ? sig : "?");
    else
      say(e, sizeof e, "worker %d exited with code %d", ev->slot, ev->code);
    answer_waiters(m, WAIT_READY, e);
  }
  if (!m->reported && !m->start_fail[0] && strcmp(word, "stopped")) {
    /* At start-up, a worker that dies before all are ready fails the
     * start, and nothing is left running. The starter hears why once
     * the worker's last output has been read (at the end). */
    if (sn && sn->unready_kill == ev->pid)
      say(m->start_fail, sizeof m->start_fail,
          "worker %d: not ready within the ready timeout (--ready-timeout)", ev->slot);
    else if (sn && sn->error[0])
      say(m->start_fail, sizeof m->start_fail, "worker %d: %s", ev->slot, sn->error);
    else if (ev->sig)
      say(m->start_fail, sizeof m->start_fail,
          "worker %d was killed by SIG%s before it was ready", ev->slot, sig ? sig : "?");
    else
      say(m->start_fail, sizeof m->start_fail,
          "worker %d exited with code %d before it was ready", ev->slot, ev->code);
    m->start_fail_slot = ev->slot;
    if (!m->errors++)
      say(m->first_error, sizeof m->first_error, "%s", m->start_fail);
    m->reported = 1; /* no "OK" after this */
    if (m->daemon)
      herd_cluster_stop(m->c, 0);
    else
      m->start_fail[0] = '\0'; /* the foreground goes on: restarts */
  }
  if (!died)
    note_forget(m, ev->slot, ev->pid); /* a reload leaves no notes behind */
}

/* reuseport: each slot has its own socket of an address */
static const char *slot_socket(const herd_event_t *ev) {
  static char b[48];
  if (ev->slot < 0)
    return "";
  snprintf(b, sizeof b, " (worker %d's socket)", ev->slot);
  return b;
}

static void on_notice(struct master *m, const herd_event_t *ev) {
  char what[768];
  switch (ev->reason) {
  case HERD_REASON_NOTIFY_FOREIGN:
    snprintf(what, sizeof what,
             "pid %d: a NOTIFY_SOCKET message from this process was ignored: it is "
             "neither a worker nor running under one (a helper that exits before "
             "herd reads its message cannot be told apart: send from the worker, "
             "or wait as systemd-notify does)", (int)ev->pid);
    break;
  case HERD_REASON_LEFT_BEHIND: {
    char who[32] = ""; /* none: workers of several slots exited together */
    if (ev->slot >= 0)
      snprintf(who, sizeof who, "worker %d, ", ev->slot);
    snprintf(what, sizeof what,
             "%spid %d: a worker left this process behind (does the "
             "program daemonize itself? run it in the foreground): it is not "
             "supervised, and herd ends it when it stops", who, (int)ev->pid);
    break;
  }
  case HERD_REASON_LISTEN_STALL:
    snprintf(what, sizeof what,
             "%s%s: %d connection%s waited %d s in the listen queue and no worker "
             "took %s: do the workers accept on the socket they inherit (fd %d, "
             "LISTEN_FDS)? A worker that binds a port of its own leaves it unserved",
             ev->text, slot_socket(ev), ev->code, ev->code == 1 ? " has" : "s have",
             (int)(ev->delay_ms / 1000), ev->code == 1 ? "it" : "them", 3 + ev->sig);
    break;
  case HERD_REASON_LISTEN_SERVED:
    snprintf(what, sizeof what, "%s%s: the listen queue is served again (after %d s)",
             ev->text, slot_socket(ev), (int)(ev->delay_ms / 1000));
    break;
  case HERD_REASON_HANDOFF_FAILED:
    snprintf(what, sizeof what,
             "worker %d, pid %d: took none of the connections handed to it over its "
             "channel (NODE_CHANNEL_FD) in %d s: --balance roundrobin needs workers "
             "that read it (Node.js, or libherd's herd_chan): replacing it", ev->slot,
             (int)ev->pid, (int)(ev->delay_ms / 1000));
    break;
  case HERD_REASON_ACCEPT_FAILED:
    snprintf(what, sizeof what,
             "%s: cannot accept a connection: %s (the connections wait in the "
             "listen queue; retried every 100 ms)", ev->text, herd_strerror(ev->code));
    break;
  case HERD_REASON_ACCEPT_RESUMED:
    snprintf(what, sizeof what, "%s: accepting connections again", ev->text);
    break;
  default:
    snprintf(what, sizeof what, "worker %d, pid %d: %s", ev->slot, (int)ev->pid,
             herd_reason_name(ev->reason));
    break;
  }
  own_line(m, what); /* said even when quiet: something is wrong */
}

/* What a worker's spawn failure with code (-errno) is about, when it is
 * the program or the directory rather than the system: "'prog': " (the
 * command as given: "'no-such-prog': No such file or directory" says
 * what is missing), "cwd /x: " (removed since the start), else "". */
static void spawn_subject(const struct master *m, int code, char *buf, size_t n) {
  buf[0] = '\0';
  if (code != -ENOENT && code != -EACCES && code != -ENOEXEC && code != -ENOTDIR &&
      code != -ELOOP && code != -ENAMETOOLONG && code != -ETXTBSY)
    return;
  struct stat st;
  if (m->a->cwd[0] && stat(m->a->cwd, &st) < 0) {
    char safe[160];
    cli_printable(safe, sizeof safe, m->a->cwd, strlen(m->a->cwd));
    snprintf(buf, n, "cwd %s: ", safe);
    return;
  }
  const char *prog = m->a->o.file;
  if (prog) {
    char safe[160];
    cli_printable(safe, sizeof safe, prog, strlen(prog));
    snprintf(buf, n, "'%s': ", safe);
  }
}

static void on_error(struct master *m, const herd_event_t *ev) {
  char what[640], who[64] = "", subj[200] = "";
  if (ev->slot >= 0)
    snprintf(who, sizeof who, "worker %d: ", ev->slot);
  if (ev->reason == HERD_REASON_SPAWN_FAILED)
    spawn_subject(m, ev->code, subj, sizeof subj);
  const char *ctx = ev->reason == HERD_REASON_SPAWN_FAILED ? "could not start a worker"
                    : ev->reason == HERD_REASON_HAND_FAILED
                        ? "could not hand a connection to the worker"
                    : ev->reason == HERD_REASON_STEER_FAILED
                        ? "cannot steer the reuseport group away from a slot being "
                          "scaled down (its queued connections may be reset)"
                        : ev->text; /* BIND_FAILED: the address */
  snprintf(what, sizeof what, "%s%s%s%s%s", who, ctx ? ctx : "", ctx ? ": " : "", subj,
           herd_strerror(ev->code));
  own_line(m, what);
  struct slot_note *sn = ev->slot >= 0 ? note_of(m, ev->slot) : NULL;
  if (sn && ctx)
    say(sn->error, sizeof sn->error, "%s", ctx);
  if (!m->errors++)
    say(m->first_error, sizeof m->first_error, "%s", what);
  /* as a worker that dies: a restart or scale-up waiting for all ready
   * hears it now (the slot backs off, and is parked in the end) */
  if (ev->slot >= 0 && ev->reason == HERD_REASON_SPAWN_FAILED)
    answer_waiters(m, WAIT_READY, what);
}

static void on_reload(struct master *m, const herd_event_t *ev, char *what, size_t n) {
  if (ev->reason == HERD_REASON_RELOAD_BEGIN) {
    m->reload_begins++;
    /* systemd's Type=notify-reload wants the time with it */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    char msg[96];
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)now.tv_sec * 1000000ull +
                 (unsigned long long)now.tv_nsec / 1000u);
    (void)herd_notify(msg);
    m->sd_ready = 0;
    snprintf(what, n, "reload begin");
    return;
  }
  if (!m->sd_ready) /* done, or failed: we serve either way */
    (void)herd_notify("READY=1");
  m->sd_ready = 1;
  m->reload_dones++; /* ended: reload_begins and _dones stay paired */
  if (ev->reason == HERD_REASON_RELOAD_DONE) {
    snprintf(what, n, "reload done");
    answer_waiters(m, WAIT_RELOAD, NULL);
    return;
  }
  if (ev->code)
    snprintf(what, n, "reload failed: a new worker could not be started (%s); keeping "
             "the old workers", herd_strerror(ev->code));
  else
    snprintf(what, n, "reload failed: a new worker exited before it was ready; keeping "
             "the old workers of the slots not reloaded yet");
  answer_waiters(m, WAIT_RELOAD, what);
}

static const char *stop_why(const herd_event_t *ev) {
  if (ev->reason == HERD_REASON_REPLACED)
    return ev->text ? ev->text : "replaced";
  if (ev->reason == HERD_REASON_HANDOFF)
    return "took no handed connection";
  return herd_reason_name(ev->reason); /* shutdown, reload, restart,
                                          scale down, retired */
}

/* What a worker says: STATUS=, a message on its channel, Node's cluster
 * (--node-cluster). Its words in our line: nothing a terminal acts on. */
static void on_words(struct master *m, const herd_event_t *ev, char *what, size_t cap) {
  char text[400];
  cli_printable(text, sizeof text, ev->text ? ev->text : "", ev->text ? strlen(ev->text) : 0);
  if (ev->type == HERD_EV_STATUS)
    snprintf(what, cap, "worker %d status: %s", ev->slot, text);
  else if (ev->type == HERD_EV_MESSAGE)
    snprintf(what, cap, "worker %d, pid %d, sends: %s", ev->slot, (int)ev->pid, text);
  else if (ev->reason == HERD_REASON_NODE_SOCKET)
    snprintf(what, cap, "worker %d, pid %d, asked for %s: %s (its listen() fails)",
             ev->slot, (int)ev->pid, text, herd_strerror(ev->code));
  else if (ev->reason == HERD_REASON_NODE_REFUSED)
    snprintf(what, cap, "worker %d, pid %d, refuses connections on %s (maxConnections?): "
             "handed to the others", ev->slot, (int)ev->pid, text);
  else
    snprintf(what, cap, "worker %d, pid %d, sent a cluster message herd does not know "
             "(ignored): %s", ev->slot, (int)ev->pid, text);
  if (ev->type == HERD_EV_NODE && ev->reason == HERD_REASON_NODE_SOCKET && !m->errors++)
    say(m->first_error, sizeof m->first_error, "%s", what);
}

/* STATUS= for our own supervisor (NOTIFY_SOCKET: systemctl status shows
 * it), "2/2 workers ready, 0 restarts": sent on the events that may
 * change it, and only when it has changed (no timer: an idle master
 * sends nothing). */
static void sd_status(struct master *m) {
  const char *ns = getenv("NOTIFY_SOCKET");
  herd_cluster_stats_t st;
  if (!ns || !*ns || !m->c)
    return;
  herd_cluster_stats(m->c, &st);
  if (st.stopping) /* "stopping" went with STOPPING=1 */
    return;
  int nready = 0;
  (void)app_readiness(m, &nready, NULL, 0);
  char msg[sizeof m->sd_status];
  snprintf(msg, sizeof msg, "STATUS=%d/%d workers ready, %llu restart%s", nready,
           st.workers, (unsigned long long)st.restarts, st.restarts == 1 ? "" : "s");
  if (strcmp(msg, m->sd_status) && herd_notify(msg) >= 0)
    memcpy(m->sd_status, msg, sizeof msg);
}

static void word_event(herd_cluster_t *c, const herd_event_t *ev, void *data);

void on_event(herd_cluster_t *c, const herd_event_t *ev, void *data) {
  word_event(c, ev, data);
  switch (ev->type) {
  case HERD_EV_STARTED:
  case HERD_EV_READY:
  case HERD_EV_ALL_READY:
  case HERD_EV_EXITED:
  case HERD_EV_RESTART:
  case HERD_EV_PARKED:
  case HERD_EV_SCALE:
  case HERD_EV_RELOAD:
    sd_status(data);
    break;
  default:
    break;
  }
}

static void word_event(herd_cluster_t *c, const herd_event_t *ev, void *data) {
  (void)c;
  struct master *m = data;
  char what[640];
  const char *sig = ev->sig ? sig_abbrev(ev->sig) : NULL;
  switch (ev->type) {
  case HERD_EV_LISTEN:
    {
      char *t = master_listen_text_add(m);
      if (t)
        snprintf(t, sizeof m->listen_text[0], "%s", ev->text);
    }
    /* Always said, even quiet: with port 0 it is how you learn the port. */
    say(what, sizeof what, "listening on %s", ev->text);
    own_line(m, what);
    return;
  case HERD_EV_NOTICE:
    on_notice(m, ev);
    return;
  case HERD_EV_ERROR:
    on_error(m, ev);
    return;
  case HERD_EV_ALL_READY:
    if (!m->sd_ready) /* to systemd, if it runs us; once per change */
      (void)herd_notify("READY=1");
    m->sd_ready = 1;
    if (ev->code == 1)
      snprintf(what, sizeof what, "1 worker ready");
    else
      snprintf(what, sizeof what, "all %d workers ready", ev->code);
    if (!m->reported)
      started_ok(m);
    answer_waiters(m, WAIT_READY, NULL);
    break;
  case HERD_EV_STARTED:
    snprintf(what, sizeof what, "worker %d started, pid %d%s", ev->slot, (int)ev->pid,
             ev->reason == HERD_REASON_SUCCESSOR ? " (successor)" : "");
    break;
  case HERD_EV_READY:
    snprintf(what, sizeof what, "worker %d ready, pid %d, after %llu ms", ev->slot,
             (int)ev->pid, (unsigned long long)ev->uptime_ms);
    break;
  case HERD_EV_EXITED:
    on_exited(m, ev, what, sizeof what);
    break;
  case HERD_EV_RESTART:
    if (ev->delay_ms)
      snprintf(what, sizeof what, "worker %d restarting in %llu ms (backing off)",
               ev->slot, (unsigned long long)ev->delay_ms);
    else
      snprintf(what, sizeof what, "worker %d restarting", ev->slot);
    break;
  case HERD_EV_PARKED:
    snprintf(what, sizeof what,
             "worker %d died early %d times in the restart window: parked, "
             "retried in %llu ms", ev->slot, ev->code, (unsigned long long)ev->delay_ms);
    answer_waiters(m, WAIT_READY, what);
    break;
  case HERD_EV_STOPPING: /* sig 0: Node's disconnect message */
    snprintf(what, sizeof what, "worker %d stopping, pid %d, %s%s (%s)", ev->slot,
             (int)ev->pid, sig ? "SIG" : "", sig ? sig : "disconnect", stop_why(ev));
    break;
  case HERD_EV_STATUS:
  case HERD_EV_MESSAGE:
  case HERD_EV_NODE:
    on_words(m, ev, what, sizeof what);
    break;
  case HERD_EV_KILLED:
    if (ev->reason == HERD_REASON_READY_TIMEOUT) {
      struct slot_note *sn = note_of(m, ev->slot);
      if (sn)
        sn->unready_kill = ev->pid;
      /* a timeout, not a network error */
      snprintf(what, sizeof what, "worker %d: not ready within the ready timeout "
               "(--ready-timeout %d ms): killed", ev->slot, m->a->o.ready_timeout_ms);
      own_line(m, what);
      if (!m->errors++)
        say(m->first_error, sizeof m->first_error, "%s", what);
      return;
    }
    if (ev->reason == HERD_REASON_LEFT_BEHIND && ev->slot < 0)
      snprintf(what, sizeof what, "pid %d, left behind by a worker, did not stop in "
               "time: SIGKILL", (int)ev->pid);
    else if (ev->reason == HERD_REASON_LEFT_BEHIND)
      snprintf(what, sizeof what, "pid %d, left behind by worker %d, did not stop in "
               "time: SIGKILL", (int)ev->pid, ev->slot);
    else
      snprintf(what, sizeof what, "worker %d, pid %d, did not stop in time: SIGKILL",
               ev->slot, (int)ev->pid);
    break;
  case HERD_EV_RETIRE:
    snprintf(what, sizeof what, "worker %d, pid %d, retires: %s", ev->slot, (int)ev->pid,
             ev->code ? "starting its successor" : "it is replaced when it exits");
    break;
  case HERD_EV_RELOAD:
    on_reload(m, ev, what, sizeof what);
    break;
  case HERD_EV_SCALE:
    snprintf(what, sizeof what, "scaled to %d worker%s", ev->code, ev->code == 1 ? "" : "s");
    break;
  case HERD_EV_SHUTDOWN: {
    (void)herd_notify("STOPPING=1\nSTATUS=stopping");
    const char *kind = ev->reason == HERD_REASON_GRACEFUL ? "graceful" : "stop";
    if (ev->sig)
      snprintf(what, sizeof what, "%s on SIG%s", kind, sig ? sig : "?");
    else
      snprintf(what, sizeof what, "%s (requested)", kind);
    answer_waiters(m, WAIT_READY, "the app is stopping");
    answer_waiters(m, WAIT_RELOAD, "the app is stopping");
    break;
  }
  case HERD_EV_SIGNAL:
    if (ev->sig == SIGUSR2 && m->daemon) { /* nginx's binary upgrade */
      if (upgrade_start(m, NULL, 1, NULL, NULL, what, sizeof what) < 0)
        logf_(m, "SIGUSR2: %s", what);
      return;
    }
    if (ev->reason == HERD_REASON_REOPEN && m->lw)
      reopen_logs(m);
    snprintf(what, sizeof what, "SIG%s: %s", sig ? sig : "?",
             ev->reason != HERD_REASON_REOPEN ? "ignored"
             : m->lw                          ? "reopen logs"
                                              : "no log files to reopen");
    break;
  default:
    return;
  }
  logf_(m, "%s", what);
}
