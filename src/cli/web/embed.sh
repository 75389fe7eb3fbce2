#!/bin/sh
# embed.sh - the --metrics address's web page into the program: each
# FILE (src/cli/web/*.html, .css, .js) becomes a C array of its bytes,
# and WEB_FILES lists them by name, for src/cli/web.c to include. POSIX
# od and awk only (no xxd). Usage: sh embed.sh FILE... > webfiles.h
set -eu

echo "/* made by src/cli/web/embed.sh from $*: do not edit */"
i=0
for f in "$@"; do
	echo "static const unsigned char web_f$i[] = {"
	od -An -v -tu1 "$f" | awk '{ for (i = 1; i <= NF; i++) printf "%s,", $i; print "" }'
	echo "0};"
	i=$((i + 1))
done
printf '#define WEB_FILES'
i=0
for f in "$@"; do
	printf ' {"%s", web_f%d, sizeof web_f%d - 1},' "${f##*/}" "$i" "$i"
	i=$((i + 1))
done
echo
