/* lt_autograd.c — node life cycle (the graph itself comes with the autograd issue). */
#include "lt_autograd.h"

#include <stdatomic.h>
#include <stdlib.h>

struct lt_node {
  atomic_int refcount;
};

void lt_node_retain(lt_node *n) { atomic_fetch_add(&n->refcount, 1); }

void lt_node_release(lt_node *n) {
  if (n && atomic_fetch_sub(&n->refcount, 1) == 1) free(n);
}
