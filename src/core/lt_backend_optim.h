/* lt_backend_optim.h — the optim kernels a backend provides (one table per
 * area so each can grow without touching the others). Contracts as in
 * lt_backend.h: the op layer has validated everything; kernels only compute. */
#ifndef LT_BACKEND_OPTIM_H
#define LT_BACKEND_OPTIM_H

#include "lt_tensor.h"

typedef struct lt_optim_kernels {
  int reserved; /* entries come with the optim ops */
} lt_optim_kernels;

#endif
