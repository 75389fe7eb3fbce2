/*
 * v8jdoc.h - herd_v8_from_json's document, shared by its two files. Not
 * installed.
 *
 *   v8ser_jdoc.c   the text to a document: json.c's one scan, its sink
 *                  building nodes in an arena
 *   v8ser_jsonr.c  the document to a herd_val_t tree
 *
 * A document's object keeps its members as they came, so that a tagged
 * object's members can be looked up by name in whatever order.
 */
#ifndef HERD_V8JDOC_H
#define HERD_V8JDOC_H

#include <stddef.h>

#include "internal.h"

/* (json.c's token kinds) */
enum {
  J_NULL = HERD__J_NULL,
  J_FALSE = HERD__J_FALSE,
  J_TRUE = HERD__J_TRUE,
  J_NUM = HERD__J_NUM,
  J_STR = HERD__J_STR,
  J_ARR = HERD__J_ARR,
  J_OBJ = HERD__J_OBJ
};

struct jn {
  int type;
  size_t off; /* where it starts in the text */
  double num;
  char *s; /* J_STR: WTF-8 */
  size_t len;
  struct jn **kids; /* J_ARR: items; J_OBJ: values */
  struct jn **keys; /* J_OBJ: J_STR keys */
  size_t n;
};

struct chunk;
struct open;

/* The document is built by a sink on json.c's scan of the text. */
struct jp {
  size_t err_off;
  struct chunk *arena;
  struct jn *root;
  struct jn **stack; /* children of the containers being read */
  size_t sn, scap;
  struct open *open; /* the containers being read, innermost last */
  size_t on, ocap;
};

/* p (zeroed by the caller): [text, text+len) read into p->root, nodes
 * nested max_depth deep at most. 0; HERD_EV8JSON (not one JSON text),
 * HERD_EV8DEPTH (nested deeper), -ENOMEM; p->err_off tells where. */
int herd__jdoc_read(struct jp *p, const char *text, size_t len,
                    unsigned max_depth);
/* What herd__jdoc_read allocated, done or not: its nodes are gone. */
void herd__jdoc_free(struct jp *p);

#endif
