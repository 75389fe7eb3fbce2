/*
 * threads: threads share their process's memory; processes share nothing.
 *
 *   build/examples/threads [NTHREADS]      (default 4)
 *
 * NTHREADS threads each add 1 to one shared counter a million times:
 * first with a plain read-modify-write (load, add, store), where two
 * threads that load the same value lose one of the updates; then with an
 * atomic add, which is exact. Each thread shows where its stack is (the
 * address of a local variable): all different. The counter has one
 * address for all of them: the memory is the process's, shared.
 *
 * The unsynchronised loop is a data race, undefined behaviour in C11: it
 * is here to be seen, never to be copied.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROG "threads"
#define ADDS 1000000
#define MAX_THREADS 64

/* volatile: the compiler must load and store on every iteration instead
 * of adding ADDS once, so the race is really there. */
static volatile int racy_counter;
static atomic_int atomic_counter;

struct worker {
  pthread_t thread;
  int use_atomic;
  pid_t tid;        /* the kernel's id for this thread */
  uintptr_t stack;  /* the address of a local of this thread */
};

static struct worker workers[MAX_THREADS];
static pthread_barrier_t start_line;

static void *work(void *arg) {
  struct worker *w = arg;
  int local = 0;

  w->tid = gettid();
  w->stack = (uintptr_t)&local;
  /* Start together, so that the threads really overlap. Its only errors
   * are EINVAL for a bad barrier. */
  (void)pthread_barrier_wait(&start_line);
  for (int i = 0; i < ADDS; i++) {
    if (w->use_atomic) {
      atomic_fetch_add_explicit(&atomic_counter, 1, memory_order_relaxed);
    } else {
      int v = racy_counter; /* another thread may store here, and ... */
      racy_counter = v + 1; /* ... this store wipes its update out */
    }
  }
  return NULL;
}

/* Run n threads to the end. Returns 0, or 1 after a message. */
static int run(int n, int use_atomic) {
  int rc, started = 0;

  if ((rc = pthread_barrier_init(&start_line, NULL, (unsigned)n)) != 0) {
    fprintf(stderr, PROG ": pthread_barrier_init: %s\n", strerror(rc));
    return 1;
  }
  for (; started < n; started++) {
    workers[started].use_atomic = use_atomic;
    rc = pthread_create(&workers[started].thread, NULL, work,
                        &workers[started]);
    if (rc != 0) {
      /* The barrier would never open for the ones started: we can only
       * leave, and exit ends them. */
      fprintf(stderr, PROG ": pthread_create: %s\n", strerror(rc));
      exit(1);
    }
  }
  for (int i = 0; i < n; i++) {
    if ((rc = pthread_join(workers[i].thread, NULL)) != 0) {
      fprintf(stderr, PROG ": pthread_join: %s\n", strerror(rc));
      return 1;
    }
  }
  if ((rc = pthread_barrier_destroy(&start_line)) != 0) {
    fprintf(stderr, PROG ": pthread_barrier_destroy: %s\n", strerror(rc));
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  long n = 4, expected, got;
  char *end;

  if (argc > 2) {
    fprintf(stderr, "usage: " PROG " [NTHREADS]   (1-%d, default 4)\n",
            MAX_THREADS);
    return 2;
  }
  if (argc == 2) {
    errno = 0;
    n = strtol(argv[1], &end, 10);
    if (errno != 0 || end == argv[1] || *end != '\0' || n < 1 ||
        n > MAX_THREADS) {
      fprintf(stderr, PROG ": NTHREADS must be 1-%d, not '%s'\n",
              MAX_THREADS, argv[1]);
      return 2;
    }
  }
  expected = n * ADDS;
  printf("%ld thread(s), each adding 1 to a shared counter %d times\n\n", n,
         ADDS);

  if (run((int)n, 0) != 0)
    return 1;
  got = racy_counter;
  printf("no synchronisation: expected %ld, got %ld: %ld updates lost\n",
         expected, got, expected - got);

  printf("\npid %d: all threads live in this one process\n", (int)getpid());
  for (int i = 0; i < n; i++)
    printf("  thread %d: tid %d, its stack near %p\n", i + 1,
           (int)workers[i].tid, (void *)workers[i].stack);
  printf("  the shared counter at %p, the same for every thread\n\n",
         (void *)&racy_counter);

  if (run((int)n, 1) != 0)
    return 1;
  got = atomic_load(&atomic_counter);
  printf("atomic add:         expected %ld, got %ld: %s\n", expected, got,
         got == expected ? "exact" : "WRONG");

  printf("\nThreads share one address space, so shared data needs atomics or\n"
         "locks. Processes share nothing: a child (fork, herd_spawn) gets its\n"
         "own memory and talks to its parent through pipes, sockets or\n"
         "messages (see spawn-exec).\n");
  return got == expected ? 0 : 1;
}
