/*
 * dotenv.h - env files (--env-file FILE, env_file = "FILE"): the dotenv
 * format, one variable a line:
 *
 *   # a comment
 *   KEY=value            unquoted: trimmed; " #" starts a comment
 *   export KEY=value     (a shell's spelling: the same)
 *   KEY='literal $x \n'  single quotes: as written, on one line
 *   KEY="a\nb \"q\""     double quotes: \n \t \r \" \\ \$; may span lines
 *   KEY=                 empty
 *
 * KEY: A-Z a-z 0-9 _ . -, not starting with a digit; blanks around '='
 * are allowed; a later KEY replaces an earlier one; no ${VAR}
 * expansion (values are literal); LF or CRLF line ends.
 * Errors: "PATH:LINE: message" (one line), for a line that is no
 * assignment, an unterminated quote, text after a closing quote, a
 * quote inside an unquoted value, an unknown escape, a NUL byte.
 */
#ifndef HERD_CLI_DOTENV_H
#define HERD_CLI_DOTENV_H

#include <stddef.h>

#define DOTENV_MAX_FILE (1u << 20)

/* Takes one "KEY=value" (borrowed: copy what is kept): 0, or -1 with a
 * message in err (dotenv_parse puts PATH:LINE in front). */
typedef int dotenv_put_fn(void *data, const char *kv, char *err, size_t errlen);

/* The variables of [text, text+len) (path names it in messages), in
 * order, to put. 0 or -1 with err set. */
int dotenv_parse(const char *path, const char *text, size_t len, dotenv_put_fn *put,
                 void *data, char *err, size_t errlen);
/* The same from the file at path ("PATH: strerror" if it cannot be
 * read). */
int dotenv_load(const char *path, dotenv_put_fn *put, void *data, char *err,
                size_t errlen);

#endif
