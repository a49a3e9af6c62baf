/* lt_ops_norm.c — the op layer of batch_norm and of batch norm fused with
 * the ReLU after it (lt_ops_nn.h): checks of the input, the per-channel
 * tensors and their dtypes (mixed precision), the running statistics'
 * in-place update, the [N,C,S] views the kernels take, and one call of the
 * backend's batch_norm_forward/backward or batch_norm_relu_forward/backward.
 * A backend without the fused kernels gets batch norm then ReLU (forward
 * only: autograd then records the two ops instead). The CPU kernel:
 * src/cpu/lt_cpu_norm.c; CUDA: cuda/lt_cuda_norm.cu; autograd:
 * src/autograd/lt_ag_norm.c. */
#include <math.h>

#include "lt_ops_nn_shared.h"

/* t (a running statistic) can be updated in place */
static lt_status check_updatable(lt_tensor *t, int arg, const char *what) {
  if (!lt_tensor_is_contiguous(t))
    return lt_error_set(LT_ERR_ARG, arg, "%s must be contiguous: it is updated in place", what);
  return LT_OK;
}

/* Mixed precision (what autocast runs, as cuDNN's and PyTorch's batch norm
 * do): a bfloat16/float16 input takes weight, bias and running statistics of
 * its own dtype or float32 (all four one dtype), and its saved mean/invstd are
 * float32 either way, so the statistics of 16-bit activations are never
 * rounded to 16 bits. The output and the input's gradient have the input's
 * dtype, the parameters' gradients the parameters'. float32/float64 inputs
 * take everything in their own dtype. */
static bool is_16bit(lt_dtype dt) { return dt == LT_BFLOAT16 || dt == LT_FLOAT16; }
static lt_dtype bn_stat_dtype(const lt_tensor *x) { return is_16bit(x->dtype) ? LT_FLOAT32 : x->dtype; }

static lt_status bn_check_input(const lt_tensor *x, int arg) {
  if (lt_dtype_is_floating(x->dtype)) return LT_OK;
  return lt_error_set(LT_ERR_ARG, arg, "expected a floating-point input, got %s", lt_dtype_name(x->dtype));
}

/* A [C] tensor of batch norm on x's device: a parameter or running statistic
 * (param) or a saved mean/invstd, of the dtype the rule above allows. */
static lt_status bn_vec(const lt_tensor *t, const lt_tensor *x, int64_t C, int arg, const char *what, bool param) {
  if (!is_16bit(x->dtype)) return lt_nn_check_vec(t, x, C, arg, what, "channels");
  LT_TRY(lt_nn_check_device(t, x, arg, what));
  const char *xn = lt_dtype_name(x->dtype), *tn = lt_dtype_name(t->dtype);
  if (param && t->dtype != LT_FLOAT32 && t->dtype != x->dtype)
    return lt_error_set(LT_ERR_ARG, arg, "%s has dtype %s but the input has %s (expected %s or float32)", what, tn, xn,
                        xn);
  if (!param && t->dtype != LT_FLOAT32)
    return lt_error_set(LT_ERR_ARG, arg, "%s has dtype %s, expected float32 (the statistics of a %s input)", what, tn,
                        xn);
  return lt_nn_check_vec_shape(t, x, C, arg, what, "channels");
}

/* weight, bias, running_mean and running_var (those given) share one dtype */
static lt_status bn_one_dtype(lt_tensor *const *t, const char *const *what, const int *arg, int n) {
  int first = -1;
  for (int i = 0; i < n; i++) {
    if (!t[i]) continue;
    if (first < 0) first = i;
    else if (t[i]->dtype != t[first]->dtype)
      return lt_error_set(LT_ERR_ARG, arg[i], "%s has dtype %s but %s has %s (batch_norm's weight, bias and running "
                          "statistics share one dtype)", what[i], lt_dtype_name(t[i]->dtype), what[first],
                          lt_dtype_name(t[first]->dtype));
  }
  return LT_OK;
}

/* x as [N,C,S] (a view of the contiguous c) */
static lt_status as_ncs(lt_tensor *c, lt_tensor **out) {
  int64_t S = 1;
  for (int i = 2; i < c->ndim; i++) S *= c->shape[i];
  int64_t shape[3] = {c->shape[0], c->shape[1], S};
  return lt_tensor_view(c, 3, shape, out);
}

bool lt_op_batch_norm_relu_fused(const lt_tensor *x) {
  const lt_nn_kernels *nn = lt_nn_kernels_of(x);
  return nn && nn->batch_norm_relu_forward && nn->batch_norm_relu_backward;
}

static lt_status bn_forward(lt_tensor *x, lt_tensor *running_mean, lt_tensor *running_var, lt_tensor *weight,
                            lt_tensor *bias, bool training, double momentum, double eps, bool relu, lt_tensor **y,
                            lt_tensor **mean, lt_tensor **invstd) {
  char b1[128];
  LT_TRY(bn_check_input(x, 1));
  if (x->ndim < 2)
    return lt_error_set(LT_ERR_ARG, 1, "expected input [N,C] or [N,C,...] (at least 2-D), got %s", SHP(x, b1));
  int64_t C = x->shape[1], M = lt_tensor_numel(x) / (C > 0 ? C : 1);
  if (running_mean) LT_TRY(bn_vec(running_mean, x, C, 2, "running_mean", true));
  if (running_var) LT_TRY(bn_vec(running_var, x, C, 3, "running_var", true));
  if (weight) LT_TRY(bn_vec(weight, x, C, 4, "weight", true));
  if (bias) LT_TRY(bn_vec(bias, x, C, 5, "bias", true));
  {
    lt_tensor *pv[4] = {running_mean, running_var, weight, bias};
    const char *pn[4] = {"running_mean", "running_var", "weight", "bias"};
    const int pa[4] = {2, 3, 4, 5};
    LT_TRY(bn_one_dtype(pv, pn, pa, 4));
  }
  if (!running_mean != !running_var)
    return lt_error_set(LT_ERR_ARG, running_mean ? 3 : 2, "running_mean and running_var must be given together");
  if (!training && !running_mean)
    return lt_error_set(LT_ERR_ARG, 2, "running_mean and running_var are required in evaluation mode");
  if (training && M <= 1 && C > 0)
    return lt_error_set(LT_ERR_ARG, 1, "expected more than 1 value per channel when training, got input %s",
                        SHP(x, b1));
  if (!(eps >= 0) || isinf(eps)) return lt_error_set(LT_ERR_ARG, 8, "eps must be a non-negative number, got %g", eps);
  if (!isfinite(momentum)) return lt_error_set(LT_ERR_ARG, 7, "momentum must be a finite number, got %g", momentum);
  if (training && running_mean) {
    LT_TRY(check_updatable(running_mean, 2, "running_mean"));
    LT_TRY(check_updatable(running_var, 3, "running_var"));
  }
  const lt_nn_kernels *nn = lt_nn_kernels_of(x);
  if (!nn || !nn->batch_norm_forward) return lt_nn_missing(relu ? "batch_norm_relu" : "batch_norm");
  bool fused = relu && nn->batch_norm_relu_forward;
  /* running stats: updated in place when training (checked contiguous
   * above), only read in eval (a contiguous copy is fine) */
  lt_memory_format fmt = lt_tensor_suggest_format(x), kf = lt_nn_kernel_format(x, fmt);
  lt_tensor *in[5] = {x, weight, bias, running_mean, running_var}, *c[5];
  lt_tensor *x3 = NULL, *y3 = NULL, *o = NULL, *m = NULL, *is = NULL;
  LT_TRY(lt_nn_contig_all(4, in + 1, c + 1));
  lt_status st = lt_nn_in_format(x, kf, &c[0]);
  if (st != LT_OK) {
    c[0] = NULL;
    lt_nn_release_all(5, c);
    return st;
  }
  st = as_ncs(c[0], &x3);
  if (st == LT_OK) st = lt_tensor_empty_format(x->ndim, x->shape, x->dtype, lt_tensor_device(x), kf, &o);
  if (st == LT_OK) st = as_ncs(o, &y3);
  if (st == LT_OK) st = lt_tensor_empty(1, &C, bn_stat_dtype(x), lt_tensor_device(x), &m);
  if (st == LT_OK) st = lt_tensor_empty(1, &C, bn_stat_dtype(x), lt_tensor_device(x), &is);
  if (st == LT_OK)
    st = (fused ? nn->batch_norm_relu_forward : nn->batch_norm_forward)(y3, m, is, x3, c[1], c[2], c[3], c[4], training,
                                                                        momentum, eps);
  if (st == LT_OK) st = lt_nn_to_format(&o, fmt);
  if (st == LT_OK && relu && !fused) { /* the backend's batch norm, then ReLU */
    lt_tensor *r = NULL;
    st = lt_op_activation(LT_ACT_RELU, o, 0, &r);
    if (st == LT_OK) {
      lt_tensor_release(o);
      o = r;
    }
  }
  if (st == LT_OK && training && running_mean) {
    atomic_fetch_add(&running_mean->storage->version, 1);
    atomic_fetch_add(&running_var->storage->version, 1);
  }
  lt_nn_release_all(5, c);
  lt_tensor_release(x3);
  lt_tensor_release(y3);
  if (st != LT_OK) {
    lt_tensor_release(o);
    lt_tensor_release(m);
    lt_tensor_release(is);
    return st;
  }
  *y = o;
  lt_nn_hand_out(m, mean);
  lt_nn_hand_out(is, invstd);
  return LT_OK;
}

lt_status lt_op_batch_norm(lt_tensor *x, lt_tensor *running_mean, lt_tensor *running_var, lt_tensor *weight,
                           lt_tensor *bias, bool training, double momentum, double eps, lt_tensor **y,
                           lt_tensor **mean, lt_tensor **invstd) {
  return bn_forward(x, running_mean, running_var, weight, bias, training, momentum, eps, false, y, mean, invstd);
}

lt_status lt_op_batch_norm_relu(lt_tensor *x, lt_tensor *running_mean, lt_tensor *running_var, lt_tensor *weight,
                                lt_tensor *bias, bool training, double momentum, double eps, lt_tensor **y,
                                lt_tensor **mean, lt_tensor **invstd) {
  return bn_forward(x, running_mean, running_var, weight, bias, training, momentum, eps, true, y, mean, invstd);
}

/* relu: the fused backward, which also takes the bias (arguments: gy 1, x 2,
 * weight 3, bias 4, mean 5, invstd 6; without it mean and invstd are 4 and
 * 5) */
static lt_status bn_backward(lt_tensor *gy, lt_tensor *x, lt_tensor *weight, lt_tensor *bias, lt_tensor *mean,
                             lt_tensor *invstd, bool training, bool relu, lt_tensor **gx, lt_tensor **gw,
                             lt_tensor **gb) {
  LT_TRY(bn_check_input(x, 2));
  LT_TRY(lt_nn_check_like(gy, x, 1, "gradient"));
  LT_TRY(lt_nn_check_same_shape(gy, x, 1, "gradient", "input"));
  if (x->ndim < 2) return lt_error_set(LT_ERR_ARG, 2, "expected input [N,C] or [N,C,...]");
  int64_t C = x->shape[1];
  int sa = relu ? 5 : 4; /* mean's position */
  if (weight) LT_TRY(bn_vec(weight, x, C, 3, "weight", true));
  if (bias) LT_TRY(bn_vec(bias, x, C, 4, "bias", true));
  LT_TRY(bn_vec(mean, x, C, sa, "mean", false));
  LT_TRY(bn_vec(invstd, x, C, sa + 1, "invstd", false));
  /* the parameters' gradients in the weight's dtype (a bias without a
   * weight: the statistics' dtype; autograd brings it to the bias's) */
  lt_dtype pdt = weight ? weight->dtype : bn_stat_dtype(x);
  const lt_nn_kernels *nn = lt_nn_kernels_of(x);
  if (relu && (!nn || !nn->batch_norm_relu_backward)) return lt_nn_missing("batch_norm_relu backward");
  if (!relu && (!nn || !nn->batch_norm_backward)) return lt_nn_missing("batch_norm backward");
  lt_memory_format fmt = lt_tensor_suggest_format(x), kf = lt_nn_kernel_format(x, fmt);
  lt_tensor *in[4] = {gy, x, mean, invstd}, *c[4], *wc = NULL, *bc = NULL, *g3 = NULL, *x3 = NULL, *ox = NULL;
  lt_tensor *ox3 = NULL, *ow = NULL, *ob = NULL;
  LT_TRY(lt_nn_format_all(2, in, kf, c));
  lt_status st = lt_nn_contig_all(2, in + 2, c + 2);
  if (st != LT_OK) {
    c[2] = c[3] = NULL;
    lt_nn_release_all(4, c);
    return st;
  }
  st = weight ? lt_op_contiguous(weight, &wc) : LT_OK;
  if (st == LT_OK && bias && relu) st = lt_op_contiguous(bias, &bc);
  if (st == LT_OK) st = as_ncs(c[0], &g3);
  if (st == LT_OK) st = as_ncs(c[1], &x3);
  if (st == LT_OK && gx) st = lt_tensor_empty_format(x->ndim, x->shape, x->dtype, lt_tensor_device(x), kf, &ox);
  if (st == LT_OK && gx) st = as_ncs(ox, &ox3);
  if (st == LT_OK && gw) st = lt_tensor_empty(1, &C, pdt, lt_tensor_device(x), &ow);
  if (st == LT_OK && gb) st = lt_tensor_empty(1, &C, pdt, lt_tensor_device(x), &ob);
  if (st == LT_OK && relu) st = nn->batch_norm_relu_backward(ox3, ow, ob, g3, x3, wc, bc, c[2], c[3], training);
  else if (st == LT_OK) st = nn->batch_norm_backward(ox3, ow, ob, g3, x3, wc, c[2], c[3], training);
  if (st == LT_OK) st = lt_nn_to_format(&ox, fmt);
  lt_nn_release_all(4, c);
  lt_tensor_release(wc);
  lt_tensor_release(bc);
  lt_tensor_release(g3);
  lt_tensor_release(x3);
  lt_tensor_release(ox3);
  return lt_nn_hand_over_grads(st, gx, ox, gw, ow, gb, ob);
}

lt_status lt_op_batch_norm_backward(lt_tensor *gy, lt_tensor *x, lt_tensor *weight, lt_tensor *mean, lt_tensor *invstd,
                                    bool training, lt_tensor **gx, lt_tensor **gw, lt_tensor **gb) {
  return bn_backward(gy, x, weight, NULL, mean, invstd, training, false, gx, gw, gb);
}

lt_status lt_op_batch_norm_relu_backward(lt_tensor *gy, lt_tensor *x, lt_tensor *weight, lt_tensor *bias,
                                         lt_tensor *mean, lt_tensor *invstd, bool training, lt_tensor **gx,
                                         lt_tensor **gw, lt_tensor **gb) {
  return bn_backward(gy, x, weight, bias, mean, invstd, training, true, gx, gw, gb);
}
