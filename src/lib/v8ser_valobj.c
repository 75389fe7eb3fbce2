/*
 * v8ser_valobj.c - herd_val_t's containers (v8ser_val.c has the nodes):
 * an OBJECT's or ARRAY's properties - index keys kept sorted ahead of
 * the string keys, in their order - set and got by key or index, an
 * array's length, MAP and SET entries; and the unchecked appends and
 * the one check after them that the readers (v8ser_decobj.c,
 * v8ser_jsonr.c, jsonparse.c) use.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "herd.h"
#include "internal.h"

static int props_room(herd_val_t *obj) {
  if (obj->obj.n < obj->obj.cap_)
    return 0;
  size_t ncap = obj->obj.cap_ ? obj->obj.cap_ * 2 : 4;
  if (ncap > SIZE_MAX / sizeof(herd_val_prop_t))
    return -ENOMEM;
  herd_val_prop_t *p = realloc(obj->obj.props, ncap * sizeof *p);
  if (!p)
    return -ENOMEM;
  obj->obj.props = p;
  obj->obj.cap_ = ncap;
  return 0;
}

int herd__val_prop_add(herd_val_t *obj, const char *key, size_t len,
                       uint32_t index, herd_val_t *v) {
  if (props_room(obj) < 0)
    return -ENOMEM;
  herd_val_prop_t *p = &obj->obj.props[obj->obj.n];
  memset(p, 0, sizeof *p);
  if (key) {
    p->key = malloc(len + 1);
    if (!p->key)
      return -ENOMEM;
    memcpy(p->key, key, len);
    p->key[len] = '\0';
    p->key_len = len;
  } else {
    p->index = index;
  }
  p->value = v;
  v->flags_ |= HERD__VAL_OWNED;
  obj->obj.n++;
  return 0;
}

static int cmp_index(const void *a, const void *b) {
  uint32_t x = ((const herd_val_prop_t *)a)->index;
  uint32_t y = ((const herd_val_prop_t *)b)->index;
  return x < y ? -1 : x > y;
}

static int cmp_key(const void *a, const void *b) {
  const herd_val_prop_t *x = *(const herd_val_prop_t *const *)a;
  const herd_val_prop_t *y = *(const herd_val_prop_t *const *)b;
  if (x->key_len != y->key_len)
    return x->key_len < y->key_len ? -1 : 1;
  return memcmp(x->key, y->key, x->key_len);
}

int herd__val_props_finish(herd_val_t *obj) {
  herd_val_prop_t *p = obj->obj.props;
  size_t n = obj->obj.n, ni = 0;
  int is_arr = obj->type == HERD_VAL_ARRAY;
  for (size_t i = 0; i < n; i++) {
    if (!p[i].key)
      ni++;
    else if (is_arr && p[i].key_len == 6 && memcmp(p[i].key, "length", 6) == 0)
      return HERD_EV8DATA; /* arrays have their own, non-enumerable */
  }
  size_t ns = n - ni;
  herd_val_prop_t *tmp = NULL;
  const herd_val_prop_t **ptrs = NULL;
  int rc = 0;
  if (n > 1) {
    rc = -ENOMEM;
    tmp = malloc(n * sizeof *tmp);
    if (!tmp)
      goto out;
    /* index keys first, ascending; then the strings, in their order */
    size_t a = 0, b = ni;
    for (size_t i = 0; i < n; i++)
      tmp[p[i].key ? b++ : a++] = p[i];
    qsort(tmp, ni, sizeof *tmp, cmp_index);
    rc = HERD_EV8DATA; /* a duplicate key, as V8's reader says */
    for (size_t i = 1; i < ni; i++)
      if (tmp[i].index == tmp[i - 1].index)
        goto out;
    if (ns > 1) {
      rc = -ENOMEM;
      ptrs = malloc(ns * sizeof *ptrs);
      if (!ptrs)
        goto out;
      for (size_t i = 0; i < ns; i++)
        ptrs[i] = &tmp[ni + i];
      qsort(ptrs, ns, sizeof *ptrs, cmp_key);
      rc = HERD_EV8DATA;
      for (size_t i = 1; i < ns; i++)
        if (cmp_key(&ptrs[i], &ptrs[i - 1]) == 0)
          goto out;
    }
    memcpy(p, tmp, n * sizeof *tmp);
    rc = 0;
  }
  obj->obj.nindex = ni;
  if (is_arr && ni && p[ni - 1].index >= obj->obj.length)
    obj->obj.length = p[ni - 1].index + 1;
out:
  free(tmp);
  free(ptrs);
  return rc;
}

int herd__val_list_add(herd_val_t *list, herd_val_t *v) {
  if (list->list.n == list->list.cap_) {
    size_t ncap = list->list.cap_ ? list->list.cap_ * 2 : 4;
    if (ncap > SIZE_MAX / sizeof(herd_val_t *))
      return -ENOMEM;
    herd_val_t **it = realloc(list->list.items, ncap * sizeof *it);
    if (!it)
      return -ENOMEM;
    list->list.items = it;
    list->list.cap_ = ncap;
  }
  list->list.items[list->list.n++] = v;
  v->flags_ |= HERD__VAL_OWNED;
  return 0;
}

static int can_take(const herd_val_t *c, const herd_val_t *v) {
  return v && v != c && !(v->flags_ & HERD__VAL_OWNED);
}

static int is_objlike(const herd_val_t *o) {
  return o && (o->type == HERD_VAL_OBJECT || o->type == HERD_VAL_ARRAY);
}

/* Where index sits (or would) among the index keys. */
static size_t index_pos(const herd_val_t *obj, uint32_t index, int *found) {
  size_t lo = 0, hi = obj->obj.nindex;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (obj->obj.props[mid].index < index)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = lo < obj->obj.nindex && obj->obj.props[lo].index == index;
  return lo;
}

int herd_val_obj_set_index(herd_val_t *obj, uint32_t index, herd_val_t *v) {
  if (!v)
    return -ENOMEM;
  if (!is_objlike(obj) || !can_take(obj, v) || index > HERD__V8_INDEX_MAX)
    return herd__val_take_fail(v, obj, -EINVAL);
  int found;
  size_t at = index_pos(obj, index, &found);
  if (found)
    return herd__val_take_fail(v, obj, -EEXIST);
  if (props_room(obj) < 0)
    return herd__val_take_fail(v, obj, -ENOMEM);
  herd_val_prop_t *p = obj->obj.props;
  memmove(p + at + 1, p + at, (obj->obj.n - at) * sizeof *p);
  memset(&p[at], 0, sizeof *p);
  p[at].index = index;
  p[at].value = v;
  v->flags_ |= HERD__VAL_OWNED;
  obj->obj.n++;
  obj->obj.nindex++;
  if (obj->type == HERD_VAL_ARRAY && index >= obj->obj.length)
    obj->obj.length = index + 1;
  return 0;
}

int herd_val_obj_setn(herd_val_t *obj, const char *key, size_t keylen,
                      herd_val_t *v) {
  if (!v)
    return -ENOMEM;
  if (!is_objlike(obj) || !can_take(obj, v) || (!key && keylen))
    return herd__val_take_fail(v, obj, -EINVAL);
  size_t n;
  char *k = herd__wtf8_dup(key ? key : "", keylen, &n);
  if (!k)
    return herd__val_take_fail(v, obj, -ENOMEM);
  uint32_t index;
  int rc;
  if (herd__v8_index_key(k, n, &index)) {
    free(k);
    return herd_val_obj_set_index(obj, index, v);
  }
  if (obj->type == HERD_VAL_ARRAY && n == 6 && memcmp(k, "length", 6) == 0) {
    rc = -EINVAL;
    goto fail;
  }
  for (size_t i = obj->obj.nindex; i < obj->obj.n; i++) {
    const herd_val_prop_t *p = &obj->obj.props[i];
    if (p->key_len == n && memcmp(p->key, k, n) == 0) {
      rc = -EEXIST;
      goto fail;
    }
  }
  rc = herd__val_prop_add(obj, k, n, 0, v);
  if (rc == 0) {
    free(k);
    return 0;
  }
fail:
  free(k);
  return herd__val_take_fail(v, obj, rc);
}

int herd_val_obj_set(herd_val_t *obj, const char *key, herd_val_t *v) {
  if (!key)
    return herd__val_take_fail(v, obj, v ? -EINVAL : -ENOMEM);
  return herd_val_obj_setn(obj, key, strlen(key), v);
}

int herd_val_arr_push(herd_val_t *arr, herd_val_t *v) {
  if (!v)
    return -ENOMEM;
  if (!arr || arr->type != HERD_VAL_ARRAY)
    return herd__val_take_fail(v, arr, -EINVAL);
  if (arr->obj.length > HERD__V8_INDEX_MAX)
    return herd__val_take_fail(v, arr, -ERANGE);
  return herd_val_obj_set_index(arr, arr->obj.length, v);
}

int herd_val_arr_set_length(herd_val_t *arr, uint32_t length) {
  if (!arr || arr->type != HERD_VAL_ARRAY)
    return -EINVAL;
  if (arr->obj.nindex && arr->obj.props[arr->obj.nindex - 1].index >= length)
    return -EINVAL;
  arr->obj.length = length;
  return 0;
}

herd_val_t *herd_val_obj_get_index(const herd_val_t *obj, uint32_t index) {
  obj = herd_val_deref(obj);
  if (!is_objlike(obj))
    return NULL;
  int found;
  size_t at = index_pos(obj, index, &found);
  return found ? obj->obj.props[at].value : NULL;
}

herd_val_t *herd_val_obj_getn(const herd_val_t *obj, const char *key,
                              size_t keylen) {
  obj = herd_val_deref(obj);
  if (!is_objlike(obj) || (!key && keylen))
    return NULL;
  size_t n;
  char *k = herd__wtf8_dup(key ? key : "", keylen, &n);
  if (!k)
    return NULL;
  herd_val_t *r = NULL;
  uint32_t index;
  if (herd__v8_index_key(k, n, &index)) {
    r = herd_val_obj_get_index(obj, index);
  } else {
    for (size_t i = obj->obj.nindex; i < obj->obj.n; i++) {
      const herd_val_prop_t *p = &obj->obj.props[i];
      if (p->key_len == n && memcmp(p->key, k, n) == 0) {
        r = p->value;
        break;
      }
    }
  }
  free(k);
  return r;
}

herd_val_t *herd_val_obj_get(const herd_val_t *obj, const char *key) {
  return key ? herd_val_obj_getn(obj, key, strlen(key)) : NULL;
}

int herd_val_map_set(herd_val_t *map, herd_val_t *key, herd_val_t *value) {
  int rc = -EINVAL;
  if (!key || !value)
    rc = -ENOMEM;
  else if (map && map->type == HERD_VAL_MAP && can_take(map, key) &&
           can_take(map, value) && key != value)
    rc = herd__val_list_add(map, key);
  if (rc == 0) {
    rc = herd__val_list_add(map, value);
    if (rc == 0)
      return 0;
    map->list.n--;
    key->flags_ &= ~HERD__VAL_OWNED;
  }
  herd__val_take_fail(key, map, rc);
  if (value != key)
    herd__val_take_fail(value, map, rc);
  return rc;
}

int herd_val_set_add(herd_val_t *set, herd_val_t *v) {
  if (!v)
    return -ENOMEM;
  if (!set || set->type != HERD_VAL_SET || !can_take(set, v))
    return herd__val_take_fail(v, set, -EINVAL);
  int rc = herd__val_list_add(set, v);
  return rc < 0 ? herd__val_take_fail(v, set, rc) : 0;
}
