/* lt_autograd.c — node life cycle (placeholder until the engine lands). */
#include "lt_autograd.h"

#include <stdlib.h>

void lt_node_retain(lt_node *n) { atomic_fetch_add(&n->refcount, 1); }

void lt_node_release(lt_node *n) {
  if (n && atomic_fetch_sub(&n->refcount, 1) == 1) free(n);
}
