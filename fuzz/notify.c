/*
 * notify.c - fuzz the reader of a NOTIFY_SOCKET datagram's text
 * (herd__notify_parse, src/lib/notify.c): any bytes, up to the
 * HERD__NOTIFY_MAX that cluster.c reads, in a buffer with room for the
 * NUL and not a byte more. Checked against a reference written here,
 * from sd_notify(3) and notify.c's comment: the text is lines split at
 * '\n', each ending at its first NUL; ready, stopping and retire are set
 * iff some line is exactly READY=1, STOPPING=1, X_HERD_RETIRE=1; status
 * is the value of the last line beginning STATUS= (NULL if none), a
 * NUL-terminated string inside the buffer; other is set iff some
 * non-empty line is none of those and not BARRIER=1.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct want {
  int ready, stopping, retire, other;
  const uint8_t *status; /* in data */
  size_t status_len;
};

static int is(const uint8_t *s, size_t n, const char *word) {
  return n == strlen(word) && !memcmp(s, word, n);
}

static void reference(const uint8_t *d, size_t n, struct want *w) {
  memset(w, 0, sizeof *w);
  for (size_t i = 0; i < n;) {
    size_t end = i;
    while (end < n && d[end] != '\n')
      end++;
    size_t len = 0; /* up to the first NUL */
    while (i + len < end && d[i + len])
      len++;
    const uint8_t *l = d + i;
    if (is(l, len, "READY=1"))
      w->ready = 1;
    else if (is(l, len, "STOPPING=1"))
      w->stopping = 1;
    else if (is(l, len, "X_HERD_RETIRE=1"))
      w->retire = 1;
    else if (len >= 7 && !memcmp(l, "STATUS=", 7)) {
      w->status = l + 7;
      w->status_len = len - 7;
    } else if (len && !is(l, len, "BARRIER=1"))
      w->other = 1;
    i = end + 1;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t n = size < HERD__NOTIFY_MAX ? size : HERD__NOTIFY_MAX;
  char *buf = malloc(n + 1); /* exact: ASan sees a write past it */
  if (!buf)
    return 0;
  memcpy(buf, data, n);
  struct herd__notify nm;
  memset(&nm, 0xa5, sizeof nm); /* the parser must set every field */
  herd__notify_parse(buf, n, &nm);
  struct want w;
  reference(data, n, &w);
  if (nm.ready != w.ready || nm.stopping != w.stopping || nm.retire != w.retire ||
      nm.other != w.other)
    abort();
  if (!w.status != !nm.status)
    abort();
  if (nm.status) {
    /* inside the buffer, where the reference found it, NUL-terminated
     * there with the same bytes */
    if (nm.status < buf || nm.status > buf + n)
      abort();
    if ((size_t)(nm.status - buf) != (size_t)(w.status - data))
      abort();
    if (strnlen(nm.status, (size_t)(buf + n + 1 - nm.status)) != w.status_len ||
        memcmp(nm.status, w.status, w.status_len))
      abort();
  }
  free(buf);
  return 0;
}
