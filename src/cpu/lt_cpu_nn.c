/* lt_cpu_nn.c — the CPU backend's nn table (see lt_backend_nn.h), plus the
 * small kernels that need no file of their own: activation gradients and
 * dropout masks. Convolution, batch norm, pooling and the losses live in
 * lt_cpu_conv.c, lt_cpu_batchnorm.c, lt_cpu_pool.c and lt_cpu_loss.c. */
#include <math.h>

#include "lt_cpu_iter.h"
#include "lt_cpu_nn.h"
#include "lt_philox.h"

/* --- activation gradients ---------------------------------------------------------- */

typedef struct { lt_activation act; double param; bool dbl; } act_ctx;

static double act_grad(const act_ctx *c, double x) {
  switch (c->act) {
    case LT_ACT_RELU: return x <= 0 ? 0.0 : 1.0; /* act_run selects instead */
    case LT_ACT_LEAKY_RELU: return x > 0 ? 1.0 : c->param;
    case LT_ACT_GELU: {
      double cdf = 0.5 * (1.0 + erf(x * 0.7071067811865476));
      double pdf = 0.3989422804014327 * exp(-0.5 * x * x); /* 1/sqrt(2 pi) */
      return cdf + x * pdf;
    }
    case LT_ACT_GELU_TANH: {
      const double k = 0.7978845608028654, a = 0.044715; /* sqrt(2/pi) */
      double t = tanh(k * (x + a * x * x * x));
      return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3.0 * a * x * x);
    }
    default: { /* SILU */
      double s = x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
      return s * (1.0 + x * (1.0 - s));
    }
  }
}

/* ops: gx, gy, x. ReLU selects, as PyTorch's threshold_backward: 0 where
 * x <= 0 (even for an infinite or NaN gy), gy elsewhere (a NaN x too). */
static void act_run(void *vctx, char **p, const int64_t *s, int64_t n) {
  const act_ctx *c = vctx;
  if (c->act == LT_ACT_RELU && !c->dbl) { /* the hot one: a select the compiler vectorises */
    for (int64_t i = 0; i < n; i++) {
      float x = *(const float *)(p[2] + s[2] * i), g = *(const float *)(p[1] + s[1] * i);
      *(float *)(p[0] + s[0] * i) = x <= 0 ? 0.0f : g;
    }
    return;
  }
  if (c->act == LT_ACT_RELU) {
    for (int64_t i = 0; i < n; i++) {
      double x = *(const double *)(p[2] + s[2] * i), g = *(const double *)(p[1] + s[1] * i);
      *(double *)(p[0] + s[0] * i) = x <= 0 ? 0.0 : g;
    }
    return;
  }
  for (int64_t i = 0; i < n; i++) {
    double x, g;
    if (c->dbl) { x = *(const double *)(p[2] + s[2] * i); g = *(const double *)(p[1] + s[1] * i); }
    else { x = *(const float *)(p[2] + s[2] * i); g = *(const float *)(p[1] + s[1] * i); }
    double r = g * act_grad(c, x);
    if (c->dbl) *(double *)(p[0] + s[0] * i) = r;
    else *(float *)(p[0] + s[0] * i) = (float)r;
  }
}

lt_status lt_cpu_activation_backward(lt_activation act, lt_tensor *gx, const lt_tensor *gy, const lt_tensor *x,
                                     double param) {
  act_ctx c = {act, param, gx->dtype == LT_FLOAT64};
  const lt_tensor *ops[3] = {gx, gy, x};
  lt_cpu_foreach(3, ops, gx->ndim, gx->shape, &c, act_run);
  return LT_OK;
}

/* --- dropout ------------------------------------------------------------------------- */

lt_status lt_cpu_dropout_mask(lt_tensor *mask, double p, uint64_t seed, uint64_t first_block) {
  int64_t n = lt_tensor_numel(mask), nblocks = (n + 3) / 4;
  bool dbl = mask->dtype == LT_FLOAT64;
  double scale = 1.0 / (1.0 - p);
  float pf = (float)p, scalef = (float)scale;
  void *md = lt_tensor_data(mask);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t b = 0; b < nblocks; b++) {
    uint32_t w[4];
    lt_philox_block(seed, first_block + (uint64_t)b, w);
    for (int j = 0; j < 4 && b * 4 + j < n; j++) {
      int64_t i = b * 4 + j;
      if (dbl) ((double *)md)[i] = lt_philox_uniform_f64(w[j]) >= p ? scale : 0.0;
      else ((float *)md)[i] = lt_philox_uniform_f32(w[j]) >= pf ? scalef : 0.0f;
    }
  }
  return LT_OK;
}

const lt_nn_kernels lt_cpu_nn_kernels = {
  .compute_dtype = lt_cpu_nn_compute_dtype,
  .conv2d_forward = lt_cpu_bf16_conv2d_forward,
  .conv2d_backward = lt_cpu_bf16_conv2d_backward,
  .batch_norm_forward = lt_cpu_batch_norm_forward,
  .batch_norm_backward = lt_cpu_batch_norm_backward,
  .activation_backward = lt_cpu_bf16_activation_backward,
  .dropout_mask = lt_cpu_dropout_mask,
  .max_pool2d_forward = lt_cpu_bf16_max_pool2d_forward,
  .max_pool2d_backward = lt_cpu_bf16_max_pool2d_backward,
  .avg_pool2d_forward = lt_cpu_bf16_avg_pool2d_forward,
  .avg_pool2d_backward = lt_cpu_bf16_avg_pool2d_backward,
  .adaptive_avg_pool2d_forward = lt_cpu_bf16_adaptive_avg_pool2d_forward,
  .adaptive_avg_pool2d_backward = lt_cpu_bf16_adaptive_avg_pool2d_backward,
  .softmax_forward = lt_cpu_softmax_forward,
  .softmax_backward = lt_cpu_softmax_backward,
  .nll_loss_forward = lt_cpu_nll_loss_forward,
  .nll_loss_backward = lt_cpu_nll_loss_backward,
  .pointwise_loss_forward = lt_cpu_pointwise_loss_forward,
  .pointwise_loss_backward = lt_cpu_pointwise_loss_backward,
  .cross_entropy_forward = lt_cpu_cross_entropy_forward,
  .cross_entropy_backward = lt_cpu_cross_entropy_backward,
};
