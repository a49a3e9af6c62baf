/* lt_ops_conv.c — the op layer of conv2d (lt_ops_nn.h): checks of the
 * input, weight, bias and geometry with messages naming the shapes, the
 * memory format of the kernel's operands and of the results, unbatched
 * inputs, and one call of the backend's conv2d_forward/backward; and the
 * inference convolution with its batch norm, residual and ReLU
 * (conv2d_bn_eval_forward where the backend takes the call, else the
 * separate ops). The CPU
 * kernel: src/cpu/lt_cpu_conv.c; CUDA: cuda/lt_cuda_conv.c (cuDNN);
 * autograd: src/autograd/lt_ag_conv.c. */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "lt_ops_nn_shared.h"

/* The layout a convolution's kernel gets: float64 convolutions run NCHW,
 * since cuDNN has no NHWC kernels for double (PyTorch decides the same in
 * cudnn_conv_suggest_memory_format); the result is converted all the same. */
static lt_memory_format conv_kernel_format(const lt_tensor *x, lt_memory_format fmt) {
  return x->dtype == LT_FLOAT64 ? LT_FORMAT_CONTIGUOUS : lt_nn_kernel_format(x, fmt);
}

static lt_memory_format conv_format(const lt_tensor *x, const lt_tensor *w) {
  return lt_tensor_suggest_format(x) == LT_FORMAT_CHANNELS_LAST || lt_tensor_suggest_format(w) == LT_FORMAT_CHANNELS_LAST
             ? LT_FORMAT_CHANNELS_LAST
             : LT_FORMAT_CONTIGUOUS;
}

static lt_status conv_check(lt_tensor *x, lt_tensor *w, lt_tensor *b, const lt_conv2d_params *p, int64_t out[4]) {
  char b1[128], b2[128];
  LT_TRY(lt_nn_check_float(x, 1, "input", LT_NN_LAYERS));
  LT_TRY(lt_nn_check_like(w, x, 2, "weight"));
  if (b) LT_TRY(lt_nn_check_like(b, x, 3, "bias"));
  LT_TRY(lt_nn_check_batched(x, 1));
  if (w->ndim != 4)
    return lt_error_set(LT_ERR_ARG, 2, "expected 4-D weight [out_channels,in_channels/groups,kH,kW], got %s",
                        SHP(w, b1));
  if (p->groups < 1) return lt_error_set(LT_ERR_ARG, 4, "groups must be at least 1, got %lld", (long long)p->groups);
  for (int i = 0; i < 2; i++) {
    if (p->stride[i] < 1)
      return lt_error_set(LT_ERR_ARG, 4, "stride must be at least 1, got %lld", (long long)p->stride[i]);
    if (p->padding[i] < 0)
      return lt_error_set(LT_ERR_ARG, 4, "padding must be non-negative, got %lld", (long long)p->padding[i]);
    if (p->dilation[i] < 1)
      return lt_error_set(LT_ERR_ARG, 4, "dilation must be at least 1, got %lld", (long long)p->dilation[i]);
  }
  int64_t C = x->shape[1], CO = w->shape[0];
  if (w->shape[1] * p->groups != C) {
    if (p->groups == 1)
      return lt_error_set(LT_ERR_ARG, 2, "weight %s expects %lld input channels, input %s has %lld", SHP(w, b1),
                          (long long)w->shape[1], SHP(x, b2), (long long)C);
    return lt_error_set(LT_ERR_ARG, 2, "weight %s with groups=%lld expects %lld input channels, input %s has %lld",
                        SHP(w, b1), (long long)p->groups, (long long)(w->shape[1] * p->groups), SHP(x, b2),
                        (long long)C);
  }
  if (CO % p->groups != 0)
    return lt_error_set(LT_ERR_ARG, 2, "weight %s has %lld output channels, which groups=%lld does not divide",
                        SHP(w, b1), (long long)CO, (long long)p->groups);
  if (b && (b->ndim != 1 || b->shape[0] != CO))
    return lt_error_set(LT_ERR_ARG, 3, "bias %s does not match the %lld output channels of weight %s (expected [%lld])",
                        SHP(b, b1), (long long)CO, SHP(w, b2), (long long)CO);
  int64_t o[2];
  for (int i = 0; i < 2; i++) {
    int64_t in = x->shape[2 + i] + 2 * p->padding[i], ext = p->dilation[i] * (w->shape[2 + i] - 1) + 1;
    if (in < ext) {
      int64_t ph = x->shape[2] + 2 * p->padding[0], pw = x->shape[3] + 2 * p->padding[1];
      int64_t eh = p->dilation[0] * (w->shape[2] - 1) + 1, ew = p->dilation[1] * (w->shape[3] - 1) + 1;
      return lt_error_set(LT_ERR_ARG, 1, "input %s (%lldx%lld after padding) is smaller than the kernel (%lldx%lld with dilation) of weight %s",
                          SHP(x, b1), (long long)ph, (long long)pw, (long long)eh, (long long)ew, SHP(w, b2));
    }
    o[i] = (in - ext) / p->stride[i] + 1;
  }
  /* GEMM sizes go to BLAS as int */
  int64_t K = w->shape[1] * w->shape[2] * w->shape[3];
  if (K > INT_MAX || CO > INT_MAX || x->shape[2] * x->shape[3] > INT_MAX || x->shape[0] * o[0] * o[1] > INT_MAX)
    return lt_error_set(LT_ERR_ARG, 1, "convolution of input %s with weight %s is too large for BLAS (int sizes)",
                        SHP(x, b1), SHP(w, b2));
  out[0] = x->shape[0];
  out[1] = CO;
  out[2] = o[0];
  out[3] = o[1];
  return LT_OK;
}

lt_status lt_op_conv2d(lt_tensor *x, lt_tensor *w, lt_tensor *b, const lt_conv2d_params *p, lt_tensor **y) {
  if (lt_nn_unbatched(x)) {
    lt_tensor *xb;
    LT_TRY(lt_nn_batch_all(1, &x, &xb));
    lt_tensor **slots[1] = {y};
    return lt_nn_unbatch(lt_op_conv2d(xb, w, b, p, y), 1, &xb, 1, slots);
  }
  int64_t oshape[4];
  LT_TRY(conv_check(x, w, b, p, oshape));
  const lt_nn_kernels *nn = lt_nn_kernels_of(x);
  if (!nn || !nn->conv2d_forward) return lt_nn_missing("conv2d");
  lt_memory_format fmt = conv_format(x, w), kf = conv_kernel_format(x, fmt);
  lt_tensor *in[2] = {x, w}, *c[2], *bc = NULL, *o = NULL;
  LT_TRY(lt_nn_format_all(2, in, kf, c));
  lt_status st = b ? lt_op_contiguous(b, &bc) : LT_OK;
  if (st == LT_OK) st = lt_tensor_empty_format(4, oshape, x->dtype, lt_tensor_device(x), kf, &o);
  if (st == LT_OK) st = nn->conv2d_forward(o, c[0], c[1], bc, p);
  if (st == LT_OK) st = lt_nn_to_format(&o, fmt);
  lt_nn_release_all(2, c);
  lt_tensor_release(bc);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *y = o;
  return LT_OK;
}

lt_status lt_op_conv2d_backward(lt_tensor *gy, lt_tensor *x, lt_tensor *w, const lt_conv2d_params *p, lt_tensor **gx,
                                lt_tensor **gw, lt_tensor **gb) {
  if (lt_nn_unbatched(x)) {
    lt_tensor *in[2] = {gy, x}, *c[2];
    LT_TRY(lt_nn_batch_all(2, in, c));
    lt_tensor **slots[1] = {gx};
    return lt_nn_unbatch(lt_op_conv2d_backward(c[0], c[1], w, p, gx, gw, gb), 2, c, 1, slots);
  }
  int64_t oshape[4];
  LT_TRY(conv_check(x, w, NULL, p, oshape));
  LT_TRY(lt_nn_check_like(gy, x, 1, "gradient"));
  if (gy->ndim != 4 || memcmp(gy->shape, oshape, sizeof oshape) != 0) {
    char b1[128], b2[128];
    return lt_error_set(LT_ERR_ARG, 1, "gradient %s does not match the convolution's output %s", SHP(gy, b1),
                        lt_shape_str(4, oshape, b2, sizeof b2));
  }
  const lt_nn_kernels *nn = lt_nn_kernels_of(x);
  if (!nn || !nn->conv2d_backward) return lt_nn_missing("conv2d backward");
  /* gx in the convolution's format, gw in the weight's own (a parameter's
   * gradient has the parameter's layout) */
  lt_memory_format fmt = conv_format(x, w), kf = conv_kernel_format(x, fmt);
  lt_tensor *in[3] = {gy, x, w}, *c[3], *ox = NULL, *ow = NULL, *ob = NULL;
  LT_TRY(lt_nn_format_all(3, in, kf, c));
  lt_status st = LT_OK;
  if (gx) st = lt_tensor_empty_format(4, x->shape, x->dtype, lt_tensor_device(x), kf, &ox);
  if (st == LT_OK && gw) st = lt_tensor_empty_format(4, w->shape, w->dtype, lt_tensor_device(w), kf, &ow);
  if (st == LT_OK && gb) st = lt_tensor_empty(1, &w->shape[0], x->dtype, lt_tensor_device(x), &ob);
  if (st == LT_OK) st = nn->conv2d_backward(ox, ow, ob, c[0], c[1], c[2], p);
  if (st == LT_OK) st = lt_nn_to_format(&ox, fmt);
  if (st == LT_OK) st = lt_nn_to_format(&ow, lt_tensor_suggest_format(w));
  lt_nn_release_all(3, c);
  return lt_nn_hand_over_grads(st, gx, ox, gw, ow, gb, ob);
}

/* --- inference: convolution, batch norm, residual, ReLU --------------------------------- */

/* The separate ops, in the order the layers run them: what the fused entry
 * must equal, and what runs where it does not take a call. */
static lt_status conv_bn_eval_separate(lt_tensor *x, lt_tensor *w, lt_tensor *b, const lt_conv2d_params *p,
                                       const lt_conv_bn_eval *bn, lt_tensor **y) {
  lt_tensor *c = NULL, *n = NULL, *s = NULL;
  LT_TRY(lt_op_conv2d(x, w, b, p, &c));
  bool relu_in_bn = bn->relu && !bn->residual; /* bn:forward_relu */
  lt_status st = (relu_in_bn ? lt_op_batch_norm_relu : lt_op_batch_norm)(
      c, bn->running_mean, bn->running_var, bn->weight, bn->bias, false, 0.0, bn->eps, &n, NULL, NULL);
  lt_tensor_release(c);
  if (st != LT_OK || !bn->residual) {
    if (st == LT_OK) *y = n;
    return st;
  }
  st = lt_op_binary(LT_BIN_ADD, n, bn->residual, &s);
  lt_tensor_release(n);
  if (st != LT_OK || !bn->relu) {
    if (st == LT_OK) *y = s;
    return st;
  }
  st = lt_op_activation(LT_ACT_RELU, s, 0, y);
  lt_tensor_release(s);
  return st;
}

/* A batch norm vector the fused entry takes: [C], contiguous, x's dtype and
 * device (anything else goes to the separate ops, which check it). */
static bool fusable_vec(const lt_tensor *t, const lt_tensor *x, int64_t C) {
  return !t || (t->ndim == 1 && t->shape[0] == C && t->dtype == x->dtype &&
                lt_device_equal(lt_tensor_device(t), lt_tensor_device(x)) && lt_tensor_is_contiguous(t));
}

lt_status lt_op_conv2d_bn_eval(lt_tensor *x, lt_tensor *w, lt_tensor *b, const lt_conv2d_params *p,
                               const lt_conv_bn_eval *bn, lt_tensor **y) {
  if (lt_nn_unbatched(x)) { /* one image: x and the residual as a batch of one */
    lt_tensor *in[2] = {x, bn->residual}, *c[2];
    LT_TRY(lt_nn_batch_all(2, in, c));
    lt_conv_bn_eval one = *bn;
    one.residual = c[1];
    lt_tensor **slots[1] = {y};
    return lt_nn_unbatch(lt_op_conv2d_bn_eval(c[0], w, b, p, &one, y), 2, c, 1, slots);
  }
  int64_t oshape[4];
  const lt_nn_kernels *nn = lt_nn_kernels_of(x);
  if (!nn || !nn->conv2d_bn_eval_forward || conv_check(x, w, b, p, oshape) != LT_OK)
    return conv_bn_eval_separate(x, w, b, p, bn, y);
  lt_tensor *r = bn->residual;
  int64_t C = oshape[1];
  if (!bn->running_mean || !bn->running_var || !fusable_vec(bn->running_mean, x, C) ||
      !fusable_vec(bn->running_var, x, C) || !fusable_vec(bn->weight, x, C) || !fusable_vec(bn->bias, x, C) ||
      !(bn->eps >= 0) || isinf(bn->eps) ||
      (r && (r->ndim != 4 || memcmp(r->shape, oshape, sizeof oshape) != 0 || r->dtype != x->dtype ||
             !lt_device_equal(lt_tensor_device(r), lt_tensor_device(x)))))
    return conv_bn_eval_separate(x, w, b, p, bn, y);
  lt_memory_format fmt = conv_format(x, w), kf = conv_kernel_format(x, fmt);
  lt_tensor *in[3] = {x, w, r}, *c[3], *bc = NULL, *o = NULL;
  LT_TRY(lt_nn_format_all(3, in, kf, c));
  lt_status st = b ? lt_op_contiguous(b, &bc) : LT_OK;
  bool done = false;
  if (st == LT_OK) st = lt_tensor_empty_format(4, oshape, x->dtype, lt_tensor_device(x), kf, &o);
  if (st == LT_OK)
    st = nn->conv2d_bn_eval_forward(o, c[0], c[1], bc, p, bn->weight, bn->bias, bn->running_mean, bn->running_var,
                                    bn->eps, c[2], bn->relu, &done);
  if (st == LT_OK && done) st = lt_nn_to_format(&o, fmt);
  lt_nn_release_all(3, c);
  lt_tensor_release(bc);
  if (st != LT_OK || !done) {
    lt_tensor_release(o);
    return st != LT_OK ? st : conv_bn_eval_separate(x, w, b, p, bn, y);
  }
  *y = o;
  return LT_OK;
}
