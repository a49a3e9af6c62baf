/* lt_backend_index.h — the index kernels a backend provides (one table per
 * area so each can grow without touching the others). Contracts as in
 * lt_backend.h: the op layer has validated everything; kernels only compute. */
#ifndef LT_BACKEND_INDEX_H
#define LT_BACKEND_INDEX_H

#include "lt_tensor.h"

typedef struct lt_index_kernels {
  int reserved; /* entries come with the index ops */
} lt_index_kernels;

#endif
