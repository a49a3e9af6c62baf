/* lt_comm.c — the registry of collective libraries linked into the program
 * (lt_comm.h): the CUDA backend registers NCCL's table at start-up, and the
 * distributed layer (src/dist) looks it up by name when a process group
 * starts. A fixed table of four: registration happens before main, from one
 * thread, and lookups after it; the MPI plugin is not here (src/dist loads
 * it with dlopen). */
#include "lt_comm.h"

#include <string.h>

#define LT_COMM_MAX 4

static const lt_comm_backend *registered[LT_COMM_MAX];

void lt_comm_register(const lt_comm_backend *backend) {
  if (backend == NULL || backend->name == NULL) return;
  for (int i = 0; i < LT_COMM_MAX; i++) {
    if (registered[i] == NULL || strcmp(registered[i]->name, backend->name) == 0) {
      registered[i] = backend;
      return;
    }
  }
  /* A fifth library: a build mistake, not a user's; the table stays as it was
   * and lt_comm_find reports the name as not available. */
}

const lt_comm_backend *lt_comm_find(const char *name) {
  if (name == NULL) return NULL;
  for (int i = 0; i < LT_COMM_MAX && registered[i] != NULL; i++)
    if (strcmp(registered[i]->name, name) == 0) return registered[i];
  return NULL;
}
