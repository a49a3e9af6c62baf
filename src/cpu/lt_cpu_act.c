/* lt_cpu_act.c — the CPU's activation gradients, dropout masks and
 * softmax/log_softmax (forward and backward), the kernels of the op family
 * of lt_ops_act.c. The activations' forwards are elementwise unary kernels
 * (lt_cpu_elementwise.c). Gradients and softmax compute in double for
 * float32 and float64 alike (ReLU's gradient is a select), loading and
 * storing in the tensor's dtype; masks draw the uniforms lt_philox.h defines
 * for the mask's dtype. */
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
  if (c->act == LT_ACT_RELU && !c->dbl && s[0] == 4 && s[1] == 4 && s[2] == 4) {
    /* the hot one, contiguous: both operands loaded, then a select, which
     * the compiler vectorises (a load under the condition would keep it a
     * branch per element) */
    float *o = (float *)p[0];
    const float *g = (const float *)p[1], *x = (const float *)p[2];
    for (int64_t i = 0; i < n; i++) {
      float gv = g[i];
      o[i] = x[i] <= 0 ? 0.0f : gv;
    }
    return;
  }
  if (c->act == LT_ACT_RELU && !c->dbl) {
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

/* --- softmax ----------------------------------------------------------------------- */

lt_status lt_cpu_softmax_forward(lt_tensor *y, const lt_tensor *x, int64_t outer, int64_t n, int64_t inner, bool log) {
  bool dbl = x->dtype == LT_FLOAT64;
  const void *xd = lt_tensor_data(x);
  void *yd = lt_tensor_data(y);
  int64_t cols = outer * inner;
#pragma omp parallel for schedule(static) if (cols * n > LT_CPU_PARALLEL_GRAIN && cols > 1)
  for (int64_t c = 0; c < cols; c++) {
    int64_t base = (c / inner) * n * inner + c % inner;
    double mx = -INFINITY;
    for (int64_t k = 0; k < n; k++) {
      double v = ldv(xd, dbl, base + k * inner);
      if (v > mx || isnan(v)) mx = v;
    }
    if (isinf(mx) && mx < 0) mx = 0; /* an all -inf row: NaN below, as PyTorch */
    double s = 0;
    for (int64_t k = 0; k < n; k++) s += exp(ldv(xd, dbl, base + k * inner) - mx);
    if (log) {
      double lse = mx + (double)logl((long double)s);
      for (int64_t k = 0; k < n; k++) stv(yd, dbl, base + k * inner, ldv(xd, dbl, base + k * inner) - lse);
    } else {
      double inv = 1.0 / s;
      for (int64_t k = 0; k < n; k++) stv(yd, dbl, base + k * inner, exp(ldv(xd, dbl, base + k * inner) - mx) * inv);
    }
  }
  return LT_OK;
}

lt_status lt_cpu_softmax_backward(lt_tensor *gx, const lt_tensor *gy, const lt_tensor *y, int64_t outer, int64_t n,
                                  int64_t inner, bool log) {
  bool dbl = y->dtype == LT_FLOAT64;
  const void *gyd = lt_tensor_data(gy), *yd = lt_tensor_data(y);
  void *gxd = lt_tensor_data(gx);
  int64_t cols = outer * inner;
#pragma omp parallel for schedule(static) if (cols * n > LT_CPU_PARALLEL_GRAIN && cols > 1)
  for (int64_t c = 0; c < cols; c++) {
    int64_t base = (c / inner) * n * inner + c % inner;
    double s = 0;
    if (log) {
      /* gx = gy - softmax * sum(gy) */
      for (int64_t k = 0; k < n; k++) s += ldv(gyd, dbl, base + k * inner);
      for (int64_t k = 0; k < n; k++) {
        int64_t i = base + k * inner;
        stv(gxd, dbl, i, ldv(gyd, dbl, i) - exp(ldv(yd, dbl, i)) * s);
      }
    } else {
      /* gx = y * (gy - sum(gy * y)) */
      for (int64_t k = 0; k < n; k++) s += ldv(gyd, dbl, base + k * inner) * ldv(yd, dbl, base + k * inner);
      for (int64_t k = 0; k < n; k++) {
        int64_t i = base + k * inner;
        stv(gxd, dbl, i, ldv(yd, dbl, i) * (ldv(gyd, dbl, i) - s));
      }
    }
  }
  return LT_OK;
}
