/* lt_backend_index.h — the index kernels a backend provides (one table per
 * area so each can grow without touching the others). Contracts as in
 * lt_backend.h: the op layer has validated shapes, dtypes and devices;
 * kernels only compute. Joining (cat/stack/split/chunk) needs no entry: the
 * op layer builds it from views and the backend's `copy`.
 *
 * Index tensors are int64 and count from `base`: 0 for the C API, 1 when the
 * Lua glue hands over the user's 1-based tensor as it is (no copy minus 1).
 * Index values are the one thing the op layer cannot check without reading
 * device memory, so the kernels do: a value v whose position v - base lies
 * outside [0, size) makes the kernel fail with LT_ERR_ARG and the message
 *   "index V is out of range for dimension D of size S"
 * (V = v - base + 1 and D: 1-based, as every message is; `arg` 0 — the op
 * layer names the argument). A kernel that writes in place (scatter) checks
 * every index before it writes anything. Every tensor may have any strides,
 * and index/src operands may be expanded views (stride 0). */
#ifndef LT_BACKEND_INDEX_H
#define LT_BACKEND_INDEX_H

#include <stdbool.h>

#include "lt_cdefs.h"
#include "lt_tensor.h"

LT_BEGIN_DECLS

typedef struct lt_index_kernels {
  /* out = x.index_select(dim, index - base).
   * x: [..., n, ...] (n at `dim`, ndim >= 1); index: 1-D [m]; out: x's shape
   * with m at `dim`, x's dtype. Copies raw elements, so every dtype works. */
  lt_status (*index_select)(lt_tensor *out, const lt_tensor *x, int dim, const lt_tensor *index, int64_t base);

  /* out[p] = x[p with p[dim] replaced by index[p] - base] for every position
   * p of index. index, out: the same shape, with x's ndim (>= 1) and
   * index.shape[d] <= x.shape[d] for d != dim; out has x's dtype. */
  lt_status (*gather)(lt_tensor *out, const lt_tensor *x, int dim, const lt_tensor *index, int64_t base);

  /* For every position p of index: x[p with p[dim] replaced by index[p] -
   * base] = src[p] (add false; with duplicates the last in row-major order
   * wins, as on PyTorch's CPU) or += src[p] (add true). ndim >= 1 for all
   * three; index.shape[d] <= x.shape[d] for d != dim and index.shape[d] <=
   * src.shape[d] for all d; src has x's dtype (a scalar arrives as an
   * expanded 0-d tensor). */
  lt_status (*scatter)(lt_tensor *x, int dim, const lt_tensor *index, int64_t base, const lt_tensor *src, bool add);

  /* Sorts every line of x along `dim`, ascending or descending, and writes
   * the first k entries of each sorted line: values (x's dtype) and indices
   * (int64: positions in x counted from `base`), both x's shape with k <= n
   * at `dim` (k < n is topk); a 0-d x is one line of one. The order is total
   * and stable: equal values keep their order of position whichever the
   * direction; NaN is larger than every number and equal to every NaN;
   * -0.0 equals 0.0. */
  lt_status (*sort)(lt_tensor *values, lt_tensor *indices, const lt_tensor *x, int dim, bool descending,
                    int64_t base);

  /* out[..., i, ...] = sum of x[..., j, ...] for j <= i along `dim`, or for
   * j >= i when `reverse` (the gradient of cumsum). Same shape. out is
   * int64 for integral x (bool included) and x's dtype otherwise; sums
   * accumulate in int64 or double. */
  lt_status (*cumsum)(lt_tensor *out, const lt_tensor *x, int dim, bool reverse);
} lt_index_kernels;

LT_END_DECLS

#endif
