/*
 * abort.c - herd_abort_t, Node's AbortController for children and execs.
 *
 * An eventfd that is written once fired and never read, so it stays
 * readable: every poller that shares it (herd_child_wait in one thread,
 * a loop in another) sees it, and none can consume the event for the
 * others. The atomic flag answers herd_abort_fired without a system
 * call. Both steps of herd_abort_fire are async-signal-safe.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

struct herd_abort {
  int fd;
  atomic_int fired;
};

int herd_abort_new(herd_abort_t **out) {
  if (!out)
    return -EINVAL;
  *out = NULL;
  herd_abort_t *a = malloc(sizeof *a);
  if (!a)
    return -ENOMEM;
  a->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (a->fd < 0) {
    int err = -errno;
    free(a);
    return err;
  }
  atomic_init(&a->fired, 0);
  *out = a;
  return 0;
}

int herd_abort_fire(herd_abort_t *a) {
  if (!a)
    return -EINVAL;
  int saved = errno; /* a signal handler may call us */
  atomic_store(&a->fired, 1);
  uint64_t one = 1;
  /* Only EAGAIN could fail here (a counter near 2^64 after as many
   * fires): the fd is readable then anyway. EINTR cannot happen on a
   * non-blocking eventfd write. */
  (void)!write(a->fd, &one, sizeof one);
  errno = saved;
  return 0;
}

int herd_abort_fired(const herd_abort_t *a) {
  if (!a)
    return -EINVAL;
  return atomic_load((atomic_int *)&a->fired) != 0;
}

int herd_abort_fd(const herd_abort_t *a) {
  return a ? a->fd : -EINVAL;
}

void herd_abort_free(herd_abort_t *a) {
  if (!a)
    return;
  herd__close(a->fd);
  free(a);
}
