/* lt_cpu_optim.c — the CPU backend's optim kernels (see lt_backend_optim.h). */
#include "lt_backend_optim.h"

const lt_optim_kernels lt_cpu_optim_kernels = {0};
