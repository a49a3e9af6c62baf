/* lt_cpu_index.c — the CPU backend's index kernels (see lt_backend_index.h). */
#include "lt_backend_index.h"

const lt_index_kernels lt_cpu_index_kernels = {0};
