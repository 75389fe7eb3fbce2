/*
 * logtail.c - fuzz herd logs' reader of a file's last lines
 * (logs_tail_lines, src/cli/logs.c). The input: byte 0 is N (0 too:
 * nothing is asked); byte 1, if its high bit is set, makes the file
 * longer: (byte1 & 0x7f) KiB of the rest repeated before the rest itself,
 * so that files cross the reader's 64 KiB blocks; the rest is the file's
 * end. The file is a memfd made once, rewritten per input and opened by
 * its /proc/self/fd/N path.
 *
 * Checked against the file split here: with N > 0 and a file not empty,
 * exactly the last min(N, lines) lines, byte for byte (NUL bytes kept),
 * each ending with its one '\n' (a last line without gets one), len
 * right and s NUL-terminated after it; otherwise NULL and a count of 0.
 * No leak: of memory (LeakSanitizer, when there is one) or of fds (the
 * next fd is the same number before and after).
 *
 * Each line returned is also read as herd logs reads it (logline_parse,
 * src/cli/logfmt.c): a text line's time and text lie inside it, in that
 * order, the newline left out; a JSON line's text is its "line" member;
 * the slot is -1 or a slot number, the stream 0..2. The file's start,
 * as a string, goes through --since's parser (log_since_parse): 0 or -1.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int mfd = -1;
static char path[64];

/* the start of each of the file's lines, and one past the end (memchr:
 * a loop of ours over every byte would be traced, and slow) */
static size_t split(const char *f, size_t len, size_t *starts) {
  size_t k = 0;
  for (size_t i = 0; i < len; k++) {
    starts[k] = i;
    const char *nl = memchr(f + i, '\n', len - i);
    i = nl ? (size_t)(nl - f) + 1 : len;
  }
  starts[k] = len;
  return k;
}

static void check_parse(const struct tline *t, int stream) {
  struct logline l;
  logline_parse(t->s, t->len, stream, &l);
  const char *s = t->s, *e = t->s + t->len - 1; /* the '\n' left out */
  if (l.slot < -1 || l.stream < 0 || l.stream > 2 || !l.text)
    abort();
  if (l.tree) {
    const herd_val_t *line = herd_val_obj_get(l.tree, "line");
    if (!line || line->type != HERD_VAL_STRING || l.text != line->str.s ||
        l.len != line->str.len || l.slot >= HERD_MAX_WORKERS)
      abort();
  } else if (l.text < s || l.text + l.len != e || (l.tlen && (l.time != s ||
             l.time + l.tlen > l.text))) {
    abort();
  }
  logline_free(&l);
  if (l.tree)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (mfd < 0) {
    mfd = memfd_create("logtail", MFD_CLOEXEC);
    if (mfd < 0)
      abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", mfd);
  }
  int n = size > 0 ? data[0] : 1;
  size_t pad = size > 1 && data[1] & 0x80 ? (size_t)(data[1] & 0x7f) * 1024 : 0;
  const char *body = size > 2 ? (const char *)data + 2 : "";
  size_t blen = size > 2 ? size - 2 : 0;
  if (!blen)
    pad = 0;
  size_t len = pad + blen;
  char *f = malloc(len ? len : 1);
  size_t *starts = malloc((len + 1) * sizeof *starts);
  if (!f || !starts)
    abort();
  for (size_t i = 0; i < pad; i += blen)
    memcpy(f + i, body, pad - i < blen ? pad - i : blen);
  if (blen)
    memcpy(f + pad, body, blen);
  if (ftruncate(mfd, 0) < 0 || (len && pwrite(mfd, f, len, 0) != (ssize_t)len))
    abort();

  int probe = dup(mfd);
  if (probe < 0 || close(probe) < 0)
    abort();
  int count = -1;
  struct tline *lines = logs_tail_lines(path, n, &count);
  int again = dup(mfd);
  if (again != probe || close(again) < 0)
    abort(); /* an fd left open */

  size_t total = split(f, len, starts);
  if (n <= 0 || total == 0) {
    if (lines || count != 0)
      abort();
  } else {
    size_t want = total < (size_t)n ? total : (size_t)n;
    if (!lines || count < 0 || (size_t)count != want)
      abort();
    for (size_t i = 0; i < want; i++) {
      size_t a = starts[total - want + i], b = starts[total - want + i + 1];
      size_t l = b - a + (f[b - 1] != '\n');
      const struct tline *t = &lines[i];
      if (!t->s || t->len != l || memcmp(t->s, f + a, b - a) || t->s[l - 1] != '\n' ||
          t->s[l] != '\0')
        abort();
      check_parse(t, (int)(i % 3));
      free(t->s);
    }
  }
  free(lines);
  free(starts);
  char arg[64];
  size_t al = blen < sizeof arg - 1 ? blen : sizeof arg - 1;
  memcpy(arg, body, al);
  arg[al] = '\0';
  int64_t ms;
  int r = log_since_parse(arg, 1764000000000, &ms);
  if (r != 0 && r != -1)
    abort();
  free(f);
  return 0;
}
