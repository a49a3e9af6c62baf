/* lt_cpu_iter.c — the strided multi-operand walk declared in lt_cpu_iter.h. */
#include "lt_cpu_iter.h"

#include <omp.h>

int lt_cpu_num_threads(void) { return omp_get_max_threads(); }
void lt_cpu_set_num_threads(int n) { if (n > 0) omp_set_num_threads(n); }

typedef struct {
  int nops, ndim;               /* after coalescing; dim ndim-1 is the run */
  int64_t shape[LT_MAX_DIMS];
  int64_t bstride[LT_CPU_ITER_MAX_OPS][LT_MAX_DIMS];
  char *base[LT_CPU_ITER_MAX_OPS];
} walk;

static void run_range(const walk *w, int64_t row, int64_t start, int64_t len, void *ctx, lt_cpu_run_fn fn) {
  char *ptrs[LT_CPU_ITER_MAX_OPS];
  int64_t rs[LT_CPU_ITER_MAX_OPS];
  int last = w->ndim - 1;
  for (int k = 0; k < w->nops; k++) {
    ptrs[k] = w->base[k] + start * w->bstride[k][last];
    rs[k] = w->bstride[k][last];
  }
  int64_t r = row;
  for (int d = last - 1; d >= 0; d--) {
    int64_t i = r % w->shape[d];
    r /= w->shape[d];
    for (int k = 0; k < w->nops; k++) ptrs[k] += i * w->bstride[k][d];
  }
  fn(ctx, ptrs, rs, len);
}

void lt_cpu_foreach(int nops, const lt_tensor *const *ops, int ndim, const int64_t *shape, void *ctx,
                    lt_cpu_run_fn fn) {
  walk w;
  w.nops = nops;
  int64_t numel = 1;
  for (int d = 0; d < ndim; d++) numel *= shape[d];
  if (numel == 0) return;
  for (int k = 0; k < nops; k++) w.base[k] = (char *)lt_tensor_data(ops[k]);
  /* drop size-1 dims, then merge dims contiguous for every operand */
  int n = 0;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] == 1) continue;
    bool merge = n > 0;
    for (int k = 0; k < nops && merge; k++) {
      int64_t es = (int64_t)lt_dtype_size(ops[k]->dtype);
      if (w.bstride[k][n - 1] != ops[k]->stride[d] * es * shape[d]) merge = false;
    }
    if (merge) {
      w.shape[n - 1] *= shape[d];
      for (int k = 0; k < nops; k++) w.bstride[k][n - 1] = ops[k]->stride[d] * (int64_t)lt_dtype_size(ops[k]->dtype);
    } else {
      w.shape[n] = shape[d];
      for (int k = 0; k < nops; k++) w.bstride[k][n] = ops[k]->stride[d] * (int64_t)lt_dtype_size(ops[k]->dtype);
      n++;
    }
  }
  if (n == 0) { /* a single element */
    w.shape[0] = 1;
    for (int k = 0; k < nops; k++) w.bstride[k][0] = 0;
    n = 1;
  }
  w.ndim = n;
  int64_t run = w.shape[n - 1], rows = numel / run;
  if (numel < LT_CPU_PARALLEL_GRAIN || lt_cpu_num_threads() == 1) {
    for (int64_t row = 0; row < rows; row++) run_range(&w, row, 0, run, ctx, fn);
    return;
  }
  /* Split each run into chunks so there is work for every thread even when
   * everything is one contiguous run. */
  int64_t chunk = run;
  int64_t want = (int64_t)lt_cpu_num_threads() * 4;
  if (rows < want) {
    chunk = (run * rows + want - 1) / want;
    if (chunk < 4096) chunk = 4096;
    if (chunk > run) chunk = run;
  }
  int64_t per_row = (run + chunk - 1) / chunk, items = rows * per_row;
#pragma omp parallel for schedule(static)
  for (int64_t it = 0; it < items; it++) {
    int64_t row = it / per_row, start = (it % per_row) * chunk;
    int64_t len = run - start < chunk ? run - start : chunk;
    run_range(&w, row, start, len, ctx, fn);
  }
}
