/*
 * notify.c - the sd_notify datagram's text, as herd reads it: newline-
 * separated VARIABLE=VALUE assignments (sd_notify(3)). What herd acts on:
 * READY=1, STOPPING=1, X_HERD_RETIRE=1 (herd_retire), STATUS=... (the
 * last one counts, as systemd's); BARRIER=1 is answered by closing the
 * fds that come with it (cluster.c); anything else is "other" (kept for
 * telling a stranger's message from nothing at all). The text is not
 * trusted: any bytes, any length up to the datagram's.
 */
#include <string.h>

#include "internal.h"

void herd__notify_parse(char *buf, size_t n, struct herd__notify *out) {
  memset(out, 0, sizeof *out);
  buf[n] = '\0'; /* the caller's buffer has room for it */
  for (char *line = buf; line < buf + n;) {
    char *end = memchr(line, '\n', (size_t)(buf + n - line));
    size_t len = end ? (size_t)(end - line) : strlen(line);
    line[len] = '\0'; /* a NUL inside ends the assignment there */
    if (!strcmp(line, "READY=1"))
      out->ready = 1;
    else if (!strcmp(line, "STOPPING=1"))
      out->stopping = 1;
    else if (!strcmp(line, "X_HERD_RETIRE=1"))
      out->retire = 1;
    else if (!strncmp(line, "STATUS=", 7))
      out->status = line + 7;
    else if (strcmp(line, "BARRIER=1") && *line)
      out->other = 1;
    if (!end)
      break;
    line = end + 1;
  }
}
