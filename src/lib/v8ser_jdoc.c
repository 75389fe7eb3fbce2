/*
 * v8ser_jdoc.c - herd_v8_from_json's first half: the JSON text into a
 * document of nodes (v8jdoc.h) in an arena, by a sink on libherd's one
 * JSON scan (json.c). v8ser_jsonr.c reads the document into a tree.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "herd.h"
#include "v8jdoc.h"

struct chunk {
  struct chunk *next;
  size_t used, cap;
  max_align_t data[];
};

struct open {
  struct jn *c;
  size_t base; /* its children start there in stack */
};

static void *jalloc(struct jp *p, size_t n) {
  n = (n + 15) & ~(size_t)15;
  struct chunk *c = p->arena;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > 65536 ? n : 65536;
    c = malloc(sizeof *c + cap);
    if (!c)
      return NULL;
    c->used = 0;
    c->cap = cap;
    if (n > 16384 && p->arena) { /* a big one: keep filling the current */
      c->next = p->arena->next;
      p->arena->next = c;
    } else {
      c->next = p->arena;
      p->arena = c;
    }
  }
  void *r = (char *)c->data + c->used;
  c->used += n;
  return r;
}

static struct jn *new_jn(struct jp *p, int type, size_t off) {
  struct jn *v = jalloc(p, sizeof *v);
  if (v) {
    memset(v, 0, sizeof *v);
    v->type = type;
    v->off = off;
  }
  return v;
}

/* k: a child of the innermost open container (or the root). */
static int push_kid(struct jp *p, struct jn *k) {
  if (!k)
    return -ENOMEM;
  if (p->on == 0) {
    p->root = k;
    return 0;
  }
  if (p->sn == p->scap) {
    size_t ncap = p->scap ? p->scap * 2 : 64;
    struct jn **ns = realloc(p->stack, ncap * sizeof *ns);
    if (!ns)
      return -ENOMEM;
    p->stack = ns;
    p->scap = ncap;
  }
  p->stack[p->sn++] = k;
  return 0;
}

/* A string token: a J_STR node, its text decoded (WTF-8). */
static struct jn *str_jn(struct jp *p, const char *tok, size_t len, size_t off) {
  struct jn *v = new_jn(p, J_STR, off);
  size_t n = herd__json_unescape(tok + 1, len - 2, NULL, 0);
  if (!v || !(v->s = jalloc(p, n + 1)))
    return NULL;
  herd__json_unescape(tok + 1, len - 2, v->s, n);
  v->s[n] = '\0';
  v->len = n;
  return v;
}

static int on_scalar(void *ctx, int type, const char *tok, size_t len,
                     int esc, size_t off) {
  struct jp *p = ctx;
  (void)esc;
  if (type == J_STR)
    return push_kid(p, str_jn(p, tok, len, off));
  struct jn *v = new_jn(p, type, off);
  if (v && type == J_NUM && herd__json_number(tok, len, &v->num) < 0)
    v = NULL;
  return push_kid(p, v);
}

static int on_key(void *ctx, const char *tok, size_t len, int esc,
                  size_t off) {
  struct jp *p = ctx;
  (void)esc;
  return push_kid(p, str_jn(p, tok, len, off));
}

static int on_open(void *ctx, int type, size_t off) {
  struct jp *p = ctx;
  struct jn *v = new_jn(p, type, off);
  if (!v)
    return -ENOMEM;
  if (p->on == p->ocap) {
    size_t ncap = p->ocap ? p->ocap * 2 : 16;
    struct open *no = realloc(p->open, ncap * sizeof *no);
    if (!no)
      return -ENOMEM;
    p->open = no;
    p->ocap = ncap;
  }
  p->open[p->on++] = (struct open){v, p->sn};
  return 0;
}

/* The children pushed since the container opened move into the arena
 * (an object's pushed key, value, key, value: split), and the container
 * becomes a child of its own parent. */
static int on_close(void *ctx) {
  struct jp *p = ctx;
  struct open o = p->open[--p->on];
  struct jn *v = o.c, **all = NULL;
  size_t n = p->sn - o.base;
  if (n && !(all = jalloc(p, n * sizeof *all)))
    return -ENOMEM;
  if (n)
    memcpy(all, p->stack + o.base, n * sizeof *all);
  p->sn = o.base;
  if (v->type == J_ARR) {
    v->kids = all;
    v->n = n;
  } else {
    v->n = n / 2;
    v->keys = jalloc(p, v->n * sizeof *v->keys + 1);
    v->kids = jalloc(p, v->n * sizeof *v->kids + 1);
    if (!v->keys || !v->kids)
      return -ENOMEM;
    for (size_t i = 0; i < v->n; i++) {
      v->keys[i] = all[2 * i];
      v->kids[i] = all[2 * i + 1];
    }
  }
  return push_kid(p, v);
}

static const struct herd__jsink doc_sink = {on_scalar, on_open, on_key,
                                            on_close};

int herd__jdoc_read(struct jp *p, const char *text, size_t len,
                    unsigned max_depth) {
  struct herd__jscan s = {.text = text, .len = len, .max_depth = max_depth,
                          .sink = &doc_sink, .ctx = p};
  int rc = herd__json_scan(&s);
  if (rc < 0) {
    p->err_off = s.fault;
    rc = rc == -EINVAL ? HERD_EV8JSON : rc == HERD_EJSONDEPTH ? HERD_EV8DEPTH : rc;
  }
  return rc;
}

void herd__jdoc_free(struct jp *p) {
  while (p->arena) {
    struct chunk *n = p->arena->next;
    free(p->arena);
    p->arena = n;
  }
  free(p->stack);
  free(p->open);
}
