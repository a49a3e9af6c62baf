/* lt_cpu_iter.h — walking several same-shaped strided tensors at once.
 *
 * lt_cpu_foreach calls `fn` on 1-D runs: for each run, ptrs[k] points at the
 * first element of operand k and bstrides[k] is its byte stride along the
 * run. Dimensions that are contiguous for every operand are merged first, so
 * contiguous tensors become one long run (split into chunks across threads
 * when large). `fn` must be safe to call concurrently on disjoint runs. */
#ifndef LT_CPU_ITER_H
#define LT_CPU_ITER_H

#include "lt_tensor.h"

#define LT_CPU_ITER_MAX_OPS 4

typedef void (*lt_cpu_run_fn)(void *ctx, char **ptrs, const int64_t *bstrides, int64_t n);

/* ops[0..nops) all have logical shape (ndim, shape) (others may be expanded
 * views with stride 0). */
void lt_cpu_foreach(int nops, const lt_tensor *const *ops, int ndim, const int64_t *shape, void *ctx,
                    lt_cpu_run_fn fn);

/* Threads the CPU kernels use (OpenMP), and the size below which a loop
 * stays on one thread. */
int lt_cpu_num_threads(void);
void lt_cpu_set_num_threads(int n);
#define LT_CPU_PARALLEL_GRAIN 131072

#endif
