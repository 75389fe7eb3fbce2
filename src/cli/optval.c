/*
 * optval.c - an option's value in an app, written as its kind is written
 * on the command line (opts.h's opt_value_text): the help's defaults and
 * herd describe's options are both made by it.
 */
#include <stdint.h>
#include <stdio.h>

#include "opts.h"

static const void *field_of(const struct app *a, size_t off) {
  return (const char *)a + off;
}

static void duration_text(int ms, char *buf, size_t n) {
  if (ms % 1000 || !ms)
    snprintf(buf, n, "%dms", ms);
  else
    snprintf(buf, n, "%ds", ms / 1000);
}

/* A count's or an enum's int: its word (the last of two: -i's max and
 * auto are -w's auto), else the number (an enum's unnamed word: the
 * duration at off2). */
static void word_text(const struct opt *o, const struct app *a, int v, char *buf,
                      size_t n) {
  snprintf(buf, n, "%d", v);
  const struct opt_word *w = o->words;
  for (; w && w->name; w++)
    if (w->value == v)
      snprintf(buf, n, "%s", w->name);
  if (o->kind == OPT_ENUM && w && w->value >= 0 && w->value == v)
    duration_text(*(const int *)field_of(a, o->off2), buf, n);
}

const char *opt_value_text(const struct opt *o, const struct app *a, int i, char *buf,
                           size_t n) {
  const void *f = field_of(a, o->off);
  switch (o->kind) {
  case OPT_COUNT:
  case OPT_ENUM:
    word_text(o, a, *(const int *)f, buf, n);
    return buf;
  case OPT_SIGNAL: {
    int sig = *(const int *)f;
    const char *nm = opt_signal_name(sig);
    if (nm)
      snprintf(buf, n, "%s", nm);
    else
      snprintf(buf, n, "%d", sig);
    return buf;
  }
  case OPT_DURATION:
    duration_text(*(const int *)f, buf, n);
    return buf;
  case OPT_SIZE: {
    uint64_t b = *(const uint64_t *)f;
    if (!b && o->min > 0) /* --max-memory: none */
      return NULL;
    const char *unit = "";
    for (const char *u = "KMG"; *u && b && b % 1024 == 0; u++) {
      b /= 1024;
      unit = u;
    }
    snprintf(buf, n, "%llu%.1s", (unsigned long long)b, unit);
    return buf;
  }
  case OPT_BOOL: {
    int on = o->bit ? (*(const unsigned *)f & o->bit) != 0 : *(const int *)f != 0;
    snprintf(buf, n, "%s", on ? "true" : "false");
    return buf;
  }
  case OPT_MODE:
    if (!(*(const unsigned *)field_of(a, o->off2) & o->bit))
      return NULL;
    snprintf(buf, n, "%03o", *(const unsigned *)f);
    return buf;
  case OPT_LIST: /* the app's own text, whole: a value may be long */
  case OPT_PATHS:
    if (i < 0 || i >= *(const int *)field_of(a, o->off2))
      return NULL;
    return ((const char *const *)f)[i];
  default:
    return *(const char *const *)f;
  }
}
