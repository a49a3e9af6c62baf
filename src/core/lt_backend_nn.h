/* lt_backend_nn.h — the nn kernels a backend provides (one table per
 * area so each can grow without touching the others). Contracts as in
 * lt_backend.h: the op layer has validated everything; kernels only compute. */
#ifndef LT_BACKEND_NN_H
#define LT_BACKEND_NN_H

#include "lt_tensor.h"

typedef struct lt_nn_kernels {
  int reserved; /* entries come with the nn ops */
} lt_nn_kernels;

#endif
