/* lt_cpu_nn.c — the CPU backend's nn kernels (see lt_backend_nn.h). */
#include "lt_backend_nn.h"

const lt_nn_kernels lt_cpu_nn_kernels = {0};
