/*
 * dotenv.c - fuzz the env file reader (dotenv_parse, src/cli/dotenv.c:
 * --env-file and env_file): any bytes as a file. Checked: no crash, no
 * leak, no read past the input; an error is one line of printable text,
 * "f.env:LINE: message" with a LINE inside the file, or "f.env: message";
 * each variable given is "KEY=value" with a KEY of A-Z a-z 0-9 _ . -
 * not starting with a digit, and the variables come in the order of
 * their lines (never more than the file has lines).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dotenv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PATH "f.env"

static int lines_of(const uint8_t *d, size_t n) {
  int k = 1;
  for (size_t i = 0; i < n; i++)
    k += d[i] == '\n';
  return k;
}

struct seen {
  int n;
};

static int put(void *data, const char *kv, char *err, size_t errlen) {
  (void)err;
  (void)errlen;
  struct seen *s = data;
  const char *eq = strchr(kv, '=');
  if (!eq || eq == kv || (kv[0] >= '0' && kv[0] <= '9'))
    abort();
  for (const char *c = kv; c < eq; c++)
    if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-", *c))
      abort();
  s->n++;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[512];
  memset(err, 0x5a, sizeof err);
  struct seen s = {0};
  int lines = lines_of(data, size);
  int r = dotenv_parse(PATH, (const char *)data, size, put, &s, err, sizeof err);
  if (r != 0 && r != -1)
    abort();
  if (s.n > lines)
    abort();
  if (r == 0)
    return 0;
  size_t n = strnlen(err, sizeof err);
  if (n == sizeof err || strncmp(err, PATH ":", sizeof PATH))
    abort();
  const char *p = err + sizeof PATH;
  if (*p >= '1' && *p <= '9') {
    char *end;
    long line = strtol(p, &end, 10);
    if (line < 1 || line > lines || end[0] != ':' || end[1] != ' ' || !end[2])
      abort();
  } else if (p[0] != ' ' || !p[1]) {
    abort();
  }
  for (const char *c = err; *c; c++)
    if ((unsigned char)*c < 0x20 || *c == 0x7f)
      abort();
  return 0;
}
