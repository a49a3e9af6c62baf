/* lt_cuda_entries.h — what the backend's C files (lt_cuda_table.c,
 * lt_cublas.c, lt_cudnn.c) share: turning an lt_tensor into the plain
 * lt_cuda_tensor the kernels take, finding a tensor's device context, and
 * the table entries written outside lt_cuda_table.c. C only (it includes the
 * core's headers, which CUDA C++ cannot parse). */
#ifndef LT_CUDA_ENTRIES_H
#define LT_CUDA_ENTRIES_H

#include "lt_backend.h"
#include "lt_cuda_internal.h"

/* The tensor's geometry with its data pointer (offset applied). */
static inline lt_cuda_tensor lt_cuda_view(const lt_tensor *t) {
  lt_cuda_tensor v;
  v.data = (char *)lt_tensor_data(t);
  v.dtype = t->dtype;
  v.ndim = t->ndim;
  for (int d = 0; d < LT_CUDA_MAX_DIMS; d++) {
    v.shape[d] = d < t->ndim ? t->shape[d] : 1;
    v.stride[d] = d < t->ndim ? t->stride[d] : 0;
  }
  return v;
}

/* The context of the device `t` lives on (made current). */
static inline lt_status lt_cuda_ctx_of(const lt_tensor *t, lt_cuda_ctx **out) {
  return lt_cuda_ctx_get(lt_tensor_device(t).index, out);
}

/* lt_cublas.c */
lt_status lt_cuda_matmul(lt_tensor *out, const lt_tensor *a, const lt_tensor *b, double alpha, double beta);
/* the nn table's linear_forward: y [M,O] = x [M,I]·w [O,I]ᵀ (+ b [O]) */
lt_status lt_cuda_linear(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b);

/* lt_cudnn.c */
lt_status lt_cuda_conv2d_forward(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b,
                                 const lt_conv2d_params *p);
lt_status lt_cuda_conv2d_backward(lt_tensor *gx, lt_tensor *gw, lt_tensor *gb, const lt_tensor *gy,
                                  const lt_tensor *x, const lt_tensor *w, const lt_conv2d_params *p);

#endif
