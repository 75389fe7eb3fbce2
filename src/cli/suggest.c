/*
 * suggest.c - a mistyped command or option, said in one line with the
 * nearest right one ("herd: unknown command 'stauts'; did you mean
 * 'status'? See 'herd --help'."), by the optimal string alignment
 * distance (Levenshtein's, with a swap of two neighbours as one edit),
 * against the command table and the commands' option tables; and
 * cli_getopt, getopt_long with those messages instead of getopt's.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define WORD_MAX 64 /* longer words get no suggestion */

int cli_osa(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > WORD_MAX || lb > WORD_MAX)
    return WORD_MAX + 1;
  /* three rows of the table: i-2, i-1, i */
  int d[3][WORD_MAX + 1];
  for (size_t j = 0; j <= lb; j++)
    d[0][j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    int *cur = d[i % 3], *prev = d[(i - 1) % 3], *pp = d[(i + 1) % 3];
    cur[0] = (int)i;
    for (size_t j = 1; j <= lb; j++) {
      int cost = a[i - 1] != b[j - 1];
      int v = prev[j] + 1;
      if (cur[j - 1] + 1 < v)
        v = cur[j - 1] + 1;
      if (prev[j - 1] + cost < v)
        v = prev[j - 1] + cost;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          pp[j - 2] + 1 < v)
        v = pp[j - 2] + 1;
      cur[j] = v;
    }
  }
  return d[la % 3][lb];
}

const char *cli_nearest(const char *word, const char *const *cands, size_t n) {
  size_t len = strlen(word);
  /* close enough to be a typo of it: 1 edit in a short word, 2 from 4
   * letters, 3 from 9 */
  int best = len < 4 ? 1 : len < 9 ? 2 : 3;
  const char *pick = NULL;
  for (size_t i = 0; i < n; i++) {
    if (!cands[i])
      continue;
    int d = cli_osa(word, cands[i]);
    if (d <= best && d < (int)len && (!pick || d < best)) {
      best = d;
      pick = cands[i];
    }
  }
  return pick;
}

void cli_unknown(const char *cmd, const char *what, const char *word,
                 const char *prefix, const char *near) {
  char safe[WORD_MAX * 4 + 8];
  cli_printable(safe, sizeof safe, word, strlen(word));
  fprintf(stderr, "herd%s%s: unknown %s '%s'", cmd ? " " : "", cmd ? cmd : "", what,
          safe);
  if (near)
    fprintf(stderr, "; did you mean '%s%s'?", prefix, near);
  else
    fputc('.', stderr);
  fprintf(stderr, " See 'herd%s%s --help'.\n", cmd ? " " : "", cmd ? cmd : "");
}

/* The long option at argv[optind - 1] ("--jsn", "--lines=3") that getopt
 * refused: unknown, ambiguous, or given a value it does not take. */
static void bad_long(const char *cmd, const char *arg, int ch, const struct option *lo) {
  char name[WORD_MAX + 1];
  snprintf(name, sizeof name, "%.*s", (int)strcspn(arg + 2, "="), arg + 2);
  const char *names[128], *matches[8];
  size_t n = 0, m = 0, nl = strlen(name);
  for (; lo[n].name && n < 128; n++) {
    names[n] = lo[n].name;
    if (!strncmp(lo[n].name, name, nl) && m < 8)
      matches[m++] = lo[n].name;
  }
  if (ch == '?' && strchr(arg, '=') && m == 1) {
    fprintf(stderr, "herd %s: option '--%s' takes no value. See 'herd %s --help'.\n",
            cmd, matches[0], cmd);
    return;
  }
  if (m > 1 && nl) {
    fprintf(stderr, "herd %s: option '--%s' is ambiguous:", cmd, name);
    for (size_t i = 0; i < m; i++)
      fprintf(stderr, "%s --%s", i ? "," : "", matches[i]);
    fprintf(stderr, ". See 'herd %s --help'.\n", cmd);
    return;
  }
  char dashed[WORD_MAX + 3];
  snprintf(dashed, sizeof dashed, "--%s", name);
  cli_unknown(cmd, "option", dashed, "--", cli_nearest(name, names, n));
}

int cli_getopt(const char *cmd, int argc, char **argv, const char *shortopts,
               const struct option *lo) {
  /* herd completion options CMD asks for them so (complete.c) */
  const char *probe = getenv("HERD_COMPLETE");
  if (probe && !strcmp(probe, "options")) {
    for (size_t i = 0; lo[i].name; i++)
      printf("--%s\n", lo[i].name);
    exit(0);
  }
  /* ':' first (after a '+'): a missing value comes back as ':' */
  char so[160];
  int plus = shortopts[0] == '+';
  snprintf(so, sizeof so, "%s:%s", plus ? "+" : "", shortopts + plus);
  int saved = opterr;
  opterr = 0;
  int last = optind;
  int ch = getopt_long(argc, argv, so, lo, NULL);
  opterr = saved;
  if (ch != '?' && ch != ':')
    return ch;
  /* the word getopt was reading: a long option is a word of its own */
  const char *arg = optind > last && optind - 1 < argc ? argv[optind - 1] : NULL;
  if (arg && !strncmp(arg, "--", 2) && arg[2]) {
    if (ch == ':') {
      fprintf(stderr, "herd %s: option '%.*s' needs a value. See 'herd %s --help'.\n",
              cmd, (int)strcspn(arg, "="), arg, cmd);
      return '?';
    }
    bad_long(cmd, arg, ch, lo);
    return '?';
  }
  if (ch == ':')
    fprintf(stderr, "herd %s: option '-%c' needs a value. See 'herd %s --help'.\n", cmd,
            optopt, cmd);
  else {
    char w[3] = {'-', (char)optopt, '\0'};
    cli_unknown(cmd, "option", w, "", NULL);
  }
  return '?';
}
