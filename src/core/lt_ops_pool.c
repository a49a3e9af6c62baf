/* lt_ops_pool.c — the op layer of the 2-D poolings (lt_ops_nn.h): max,
 * average and adaptive average, forward and backward. Checks of the window
 * geometry (PyTorch's output-size rule, lt_pool_output_size), the memory
 * format of the kernel's operands and results, unbatched inputs, and one
 * call of the backend's kernel. The CPU kernels: src/cpu/lt_cpu_pool.c;
 * CUDA: cuda/lt_cuda_pool.cu; autograd: src/autograd/lt_ag_pool.c. */
#include <string.h>

#include "lt_ops_nn_shared.h"

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t lt_pool_output_size(int64_t in, int64_t k, int64_t s, int64_t pad, int64_t dil, bool ceil_mode) {
  int64_t o = floor_div(in + 2 * pad - dil * (k - 1) - 1 + (ceil_mode ? s - 1 : 0), s) + 1;
  if (ceil_mode && (o - 1) * s >= in + pad) o--;
  return o < 1 ? -1 : o;
}

static lt_status pool_check(lt_tensor *x, const lt_pool2d_params *p, bool is_max, int64_t oshape[4]) {
  char b1[128];
  LT_TRY(lt_nn_check_float(x, 1, "input", LT_NN_LAYERS));
  LT_TRY(lt_nn_check_batched(x, 1));
  for (int i = 0; i < 2; i++) {
    if (p->kernel[i] < 1)
      return lt_error_set(LT_ERR_ARG, 2, "kernel_size must be at least 1, got %lld", (long long)p->kernel[i]);
    if (p->stride[i] < 1)
      return lt_error_set(LT_ERR_ARG, 3, "stride must be at least 1, got %lld", (long long)p->stride[i]);
    if (p->padding[i] < 0)
      return lt_error_set(LT_ERR_ARG, 3, "padding must be non-negative, got %lld", (long long)p->padding[i]);
    if (p->dilation[i] < 1 || (!is_max && p->dilation[i] != 1))
      return lt_error_set(LT_ERR_ARG, 3, "dilation must be at least 1, got %lld", (long long)p->dilation[i]);
    if (p->padding[i] > p->kernel[i] / 2)
      return lt_error_set(LT_ERR_ARG, 3, "padding %lld should be at most half of kernel size %lld",
                          (long long)p->padding[i], (long long)p->kernel[i]);
  }
  if (p->divisor_override < 0)
    return lt_error_set(LT_ERR_ARG, 3, "divisor_override must be positive, got %lld", (long long)p->divisor_override);
  if (x->shape[2] < 1 || x->shape[3] < 1)
    return lt_error_set(LT_ERR_ARG, 1, "expected non-empty spatial dims, got input %s", SHP(x, b1));
  int64_t oh = lt_pool_output_size(x->shape[2], p->kernel[0], p->stride[0], p->padding[0], p->dilation[0], p->ceil_mode);
  int64_t ow = lt_pool_output_size(x->shape[3], p->kernel[1], p->stride[1], p->padding[1], p->dilation[1], p->ceil_mode);
  if (oh < 1 || ow < 1)
    return lt_error_set(LT_ERR_ARG, 1, "input %s is too small for a %lldx%lld window (output would be empty)",
                        SHP(x, b1), (long long)p->kernel[0], (long long)p->kernel[1]);
  oshape[0] = x->shape[0];
  oshape[1] = x->shape[1];
  oshape[2] = oh;
  oshape[3] = ow;
  return LT_OK;
}

static lt_status check_grad_shape(lt_tensor *gy, int ndim, const int64_t *shape, lt_tensor *x) {
  LT_TRY(lt_nn_check_like(gy, x, 1, "gradient"));
  if (gy->ndim != ndim || memcmp(gy->shape, shape, sizeof(int64_t) * (size_t)ndim) != 0) {
    char b1[128], b2[128];
    return lt_error_set(LT_ERR_ARG, 1, "gradient %s does not match the output %s", SHP(gy, b1),
                        lt_shape_str(ndim, shape, b2, sizeof b2));
  }
  return LT_OK;
}

lt_status lt_op_max_pool2d(lt_tensor *x, const lt_pool2d_params *p, lt_tensor **y, lt_tensor **indices) {
  if (lt_nn_unbatched(x)) {
    lt_tensor *xb;
    LT_TRY(lt_nn_batch_all(1, &x, &xb));
    lt_tensor **slots[2] = {y, indices};
    return lt_nn_unbatch(lt_op_max_pool2d(xb, p, y, indices), 1, &xb, 2, slots);
  }
  int64_t os[4];
  LT_TRY(pool_check(x, p, true, os));
  const lt_nn_kernels *nn = lt_nn_kernels_of(x);
  if (!nn || !nn->max_pool2d_forward) return lt_nn_missing("max_pool2d");
  lt_memory_format fmt = lt_tensor_suggest_format(x), kf = lt_nn_kernel_format(x, fmt);
  lt_tensor *xc = NULL, *o = NULL, *idx = NULL;
  LT_TRY(lt_nn_in_format(x, kf, &xc));
  lt_status st = lt_tensor_empty_format(4, os, x->dtype, lt_tensor_device(x), kf, &o);
  if (st == LT_OK) st = lt_tensor_empty_format(4, os, LT_INT64, lt_tensor_device(x), kf, &idx);
  if (st == LT_OK) st = nn->max_pool2d_forward(o, idx, xc, p);
  if (st == LT_OK) st = lt_nn_to_format(&o, fmt);
  if (st == LT_OK) st = lt_nn_to_format(&idx, fmt);
  lt_tensor_release(xc);
  if (st != LT_OK) {
    lt_tensor_release(o);
    lt_tensor_release(idx);
    return st;
  }
  *y = o;
  lt_nn_hand_out(idx, indices);
  return LT_OK;
}

lt_status lt_op_max_pool2d_backward(lt_tensor *gy, lt_tensor *x, lt_tensor *indices, const lt_pool2d_params *p,
                                    lt_tensor **gx) {
  if (lt_nn_unbatched(x)) {
    lt_tensor *in[3] = {gy, x, indices}, *c[3];
    LT_TRY(lt_nn_batch_all(3, in, c));
    lt_tensor **slots[1] = {gx};
    return lt_nn_unbatch(lt_op_max_pool2d_backward(c[0], c[1], c[2], p, gx), 3, c, 1, slots);
  }
  LT_TRY(lt_nn_check_float(x, 2, "input", LT_NN_LAYERS));
  if (x->ndim != 4) return lt_error_set(LT_ERR_ARG, 2, "expected 4-D input [N,C,H,W]");
  if (indices->dtype != LT_INT64 || !lt_device_equal(lt_tensor_device(indices), lt_tensor_device(x)))
    return lt_error_set(LT_ERR_ARG, 3, "expected int64 indices on the input's device");
  LT_TRY(check_grad_shape(gy, indices->ndim, indices->shape, x));
  if (indices->ndim != 4 || indices->shape[0] != x->shape[0] || indices->shape[1] != x->shape[1])
    return lt_error_set(LT_ERR_ARG, 3, "indices do not match the input");
  const lt_nn_kernels *nn = lt_nn_kernels_of(x);
  if (!nn || !nn->max_pool2d_backward) return lt_nn_missing("max_pool2d backward");
  lt_memory_format fmt = lt_tensor_suggest_format(x), kf = lt_nn_kernel_format(x, fmt);
  lt_tensor *in[2] = {gy, indices}, *c[2], *o = NULL;
  LT_TRY(lt_nn_format_all(2, in, kf, c));
  lt_status st = lt_tensor_empty_format(4, x->shape, x->dtype, lt_tensor_device(x), kf, &o);
  if (st == LT_OK) st = nn->max_pool2d_backward(o, c[0], c[1], p);
  if (st == LT_OK) st = lt_nn_to_format(&o, fmt);
  lt_nn_release_all(2, c);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *gx = o;
  return LT_OK;
}

lt_status lt_op_avg_pool2d(lt_tensor *x, const lt_pool2d_params *p, lt_tensor **y) {
  if (lt_nn_unbatched(x)) {
    lt_tensor *xb;
    LT_TRY(lt_nn_batch_all(1, &x, &xb));
    lt_tensor **slots[1] = {y};
    return lt_nn_unbatch(lt_op_avg_pool2d(xb, p, y), 1, &xb, 1, slots);
  }
  int64_t os[4];
  LT_TRY(pool_check(x, p, false, os));
  const lt_nn_kernels *nn = lt_nn_kernels_of(x);
  if (!nn || !nn->avg_pool2d_forward) return lt_nn_missing("avg_pool2d");
  lt_memory_format fmt = lt_tensor_suggest_format(x), kf = lt_nn_kernel_format(x, fmt);
  lt_tensor *xc = NULL, *o = NULL;
  LT_TRY(lt_nn_in_format(x, kf, &xc));
  lt_status st = lt_tensor_empty_format(4, os, x->dtype, lt_tensor_device(x), kf, &o);
  if (st == LT_OK) st = nn->avg_pool2d_forward(o, xc, p);
  if (st == LT_OK) st = lt_nn_to_format(&o, fmt);
  lt_tensor_release(xc);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *y = o;
  return LT_OK;
}

lt_status lt_op_avg_pool2d_backward(lt_tensor *gy, lt_tensor *x, const lt_pool2d_params *p, lt_tensor **gx) {
  if (lt_nn_unbatched(x)) {
    lt_tensor *in[2] = {gy, x}, *c[2];
    LT_TRY(lt_nn_batch_all(2, in, c));
    lt_tensor **slots[1] = {gx};
    return lt_nn_unbatch(lt_op_avg_pool2d_backward(c[0], c[1], p, gx), 2, c, 1, slots);
  }
  int64_t os[4];
  LT_TRY(pool_check(x, p, false, os));
  LT_TRY(check_grad_shape(gy, 4, os, x));
  const lt_nn_kernels *nn = lt_nn_kernels_of(x);
  if (!nn || !nn->avg_pool2d_backward) return lt_nn_missing("avg_pool2d backward");
  lt_memory_format fmt = lt_tensor_suggest_format(x), kf = lt_nn_kernel_format(x, fmt);
  lt_tensor *gc = NULL, *o = NULL;
  LT_TRY(lt_nn_in_format(gy, kf, &gc));
  lt_status st = lt_tensor_empty_format(4, x->shape, x->dtype, lt_tensor_device(x), kf, &o);
  if (st == LT_OK) st = nn->avg_pool2d_backward(o, gc, p);
  if (st == LT_OK) st = lt_nn_to_format(&o, fmt);
  lt_tensor_release(gc);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *gx = o;
  return LT_OK;
}

static lt_status adaptive_check(lt_tensor *x, int64_t oh, int64_t ow) {
  char b1[128];
  LT_TRY(lt_nn_check_float(x, 1, "input", LT_NN_LAYERS));
  LT_TRY(lt_nn_check_batched(x, 1));
  if (oh < 1 || ow < 1)
    return lt_error_set(LT_ERR_ARG, 2, "output_size must be positive, got %lldx%lld", (long long)oh, (long long)ow);
  if (x->shape[2] < 1 || x->shape[3] < 1)
    return lt_error_set(LT_ERR_ARG, 1, "expected non-empty spatial dims, got input %s", SHP(x, b1));
  return LT_OK;
}

lt_status lt_op_adaptive_avg_pool2d(lt_tensor *x, int64_t oh, int64_t ow, lt_tensor **y) {
  if (lt_nn_unbatched(x)) {
    lt_tensor *xb;
    LT_TRY(lt_nn_batch_all(1, &x, &xb));
    lt_tensor **slots[1] = {y};
    return lt_nn_unbatch(lt_op_adaptive_avg_pool2d(xb, oh, ow, y), 1, &xb, 1, slots);
  }
  LT_TRY(adaptive_check(x, oh, ow));
  const lt_nn_kernels *nn = lt_nn_kernels_of(x);
  if (!nn || !nn->adaptive_avg_pool2d_forward) return lt_nn_missing("adaptive_avg_pool2d");
  int64_t os[4] = {x->shape[0], x->shape[1], oh, ow};
  lt_memory_format fmt = lt_tensor_suggest_format(x), kf = lt_nn_kernel_format(x, fmt);
  lt_tensor *xc = NULL, *o = NULL;
  LT_TRY(lt_nn_in_format(x, kf, &xc));
  lt_status st = lt_tensor_empty_format(4, os, x->dtype, lt_tensor_device(x), kf, &o);
  if (st == LT_OK) st = nn->adaptive_avg_pool2d_forward(o, xc);
  if (st == LT_OK) st = lt_nn_to_format(&o, fmt);
  lt_tensor_release(xc);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *y = o;
  return LT_OK;
}

lt_status lt_op_adaptive_avg_pool2d_backward(lt_tensor *gy, lt_tensor *x, lt_tensor **gx) {
  if (lt_nn_unbatched(x)) {
    lt_tensor *in[2] = {gy, x}, *c[2];
    LT_TRY(lt_nn_batch_all(2, in, c));
    lt_tensor **slots[1] = {gx};
    return lt_nn_unbatch(lt_op_adaptive_avg_pool2d_backward(c[0], c[1], gx), 2, c, 1, slots);
  }
  LT_TRY(lt_nn_check_float(x, 2, "input", LT_NN_LAYERS));
  if (x->ndim != 4 || gy->ndim != 4) return lt_error_set(LT_ERR_ARG, 1, "expected 4-D gradient and input");
  int64_t os[4] = {x->shape[0], x->shape[1], gy->shape[2], gy->shape[3]};
  LT_TRY(check_grad_shape(gy, 4, os, x));
  LT_TRY(adaptive_check(x, os[2], os[3]));
  const lt_nn_kernels *nn = lt_nn_kernels_of(x);
  if (!nn || !nn->adaptive_avg_pool2d_backward) return lt_nn_missing("adaptive_avg_pool2d backward");
  lt_memory_format fmt = lt_tensor_suggest_format(x), kf = lt_nn_kernel_format(x, fmt);
  lt_tensor *gc = NULL, *o = NULL;
  LT_TRY(lt_nn_in_format(gy, kf, &gc));
  lt_status st = lt_tensor_empty_format(4, x->shape, x->dtype, lt_tensor_device(x), kf, &o);
  if (st == LT_OK) st = nn->adaptive_avg_pool2d_backward(o, gc);
  if (st == LT_OK) st = lt_nn_to_format(&o, fmt);
  lt_tensor_release(gc);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *gx = o;
  return LT_OK;
}
