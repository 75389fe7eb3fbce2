/*
 * ctlsend.c - herd send NAME|all [--slot N] JSON: a message to the
 * workers of an app with a channel (--ipc, --node-cluster), which Node's
 * process.on('message') gets (PM2's sendDataToProcessId). The master
 * writes it on each worker's channel (herd_cluster_send).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static const char usage_send[] =
    "Usage: herd send NAME|all [--slot N] JSON\n"
    "\n"
    "Send the JSON value to the workers of NAME (those of slot N only with\n"
    "--slot) on their channel: process.on('message') gets it in Node.js.\n"
    "The app needs a channel (--ipc, or --node-cluster). A string is\n"
    "'\"text\"'. Prints how many workers it went to.\n";

/* The request line is at most the control server's 64 KiB. */
#define MAX_MSG 65000

int cmd_send(int argc, char **argv) {
  static const struct option lo[] = {{"slot", required_argument, NULL, 's'},
                                     {"help", no_argument, NULL, 'h'},
                                     {NULL, 0, NULL, 0}};
  long slot = -1;
  int ch;
  optind = 1;
  while ((ch = cli_getopt("send", argc, argv, "s:h", lo)) != -1) {
    if (ch == 'h') {
      fputs(usage_send, stdout);
      return 0;
    }
    if (ch == '?' || cli_slot_arg(optarg, &slot) < 0)
      return 2; /* said by cli_getopt or cli_slot_arg */
  }
  if (argc - optind != 2) {
    usage_error("send", "give NAME (or all) and one JSON value");
    return 2;
  }
  const char *target = argv[optind], *msg = argv[optind + 1];
  if (!app_name_ok(target)) {
    fprintf(stderr, "%s: '%s' is not an app name\n", prog_name, target);
    return 2;
  }
  size_t len = strlen(msg);
  herd_val_t *v = jparse(msg, len);
  herd_val_free(v);
  if (!v) {
    fprintf(stderr, "%s: the message is not JSON (a string is '\"text\"'): %.60s\n",
            prog_name, msg);
    return 2;
  }
  if (len > MAX_MSG) {
    fprintf(stderr, "%s: the message is %zu bytes; at most %d\n", prog_name, len, MAX_MSG);
    return 2;
  }
  char home[PATH_MAX];
  if (cli_home(home, sizeof home) < 0)
    return 1;
  struct jw req;
  jw_init(&req);
  jw_printf(&req, "{\"cmd\":\"send\",\"msg\":");
  jw_raw(&req, msg, len);
  if (slot >= 0)
    jw_printf(&req, ",\"slot\":%ld", slot);
  jw_raw(&req, "}", 1);
  if (req.err) {
    fprintf(stderr, "%s: out of memory\n", prog_name);
    jw_free(&req);
    return 1;
  }
  int rc = ctl__each_app(home, target, req.buf, "sent");
  jw_free(&req);
  return rc;
}
