/*
 * spawn.h - herd_spawn's plan, made by the parent (spawn.c) and followed
 * by the child (spawnchild.c). Not installed.
 */
#ifndef HERD_SPAWN_H
#define HERD_SPAWN_H

#include <sys/types.h>

struct pair {
  int src; /* parent's fd */
  int dst; /* number in the child */
  int tmp; /* child's scratch copy */
  int low; /* the parent's own low copy of src, closed after the launch, or -1 */
};

struct plan {
  const char *file;   /* as given */
  int search;         /* look file up in path */
  const char *path;   /* PATH for the lookup */
  char *const *argv;
  char *const *envp;
  const char *cwd;
  struct pair *pairs; /* sorted by dst */
  int npairs;
  int lift;           /* sources collide with targets: copy them first */
  int tmpbase;        /* scratch copies go at or above this */
  unsigned flags;
  uid_t uid;
  gid_t gid;
  int pdeathsig;
  mode_t umask;       /* with HERD_SPAWN_UMASK */
  pid_t parent;       /* for the PDEATHSIG race check */
  char *lpid;         /* "LISTEN_PID=" + room the child fills, or NULL */
  int errfd;          /* write end of the error pipe */
  unsigned fdtop;     /* the vfork child keeps only fds below this (it
                       * shares the parent's table until it unshares):
                       * 0 for a copy of the whole table at the clone */
  int (*fn)(void *);  /* herd__spawn_fn: run this instead of an exec */
  void *fn_arg;
};

/* The child: follows the plan at arg (a struct plan) and never returns:
 * it execs, or for a function child (plan.fn) runs it and exits, or
 * reports {stage, errno} on plan.errfd and exits 127. Given to
 * herd__os_launch; on the vfork path it shares the parent's memory, so
 * the rules in spawnchild.c hold for all it calls. */
int herd__spawn_child(void *arg);

#endif
