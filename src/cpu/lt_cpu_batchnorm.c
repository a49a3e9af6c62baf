/* lt_cpu_batchnorm.c — batch normalisation on the CPU, forward (with the
 * running-statistics update) and backward, over x viewed as [N,C,S].
 * Statistics are accumulated in double whatever the dtype, and the variance
 * is computed in two passes (mean first), which keeps float32 accurate for
 * activations with a large mean. Work is split across channels. */
#include <math.h>

#include "lt_cpu_nn.h"
#include "lt_cpu_iter.h"

static double ld(const lt_tensor *t, bool dbl, int64_t i) {
  return dbl ? ((const double *)lt_tensor_data(t))[i] : ((const float *)lt_tensor_data(t))[i];
}
static void st(lt_tensor *t, bool dbl, int64_t i, double v) {
  if (dbl) ((double *)lt_tensor_data(t))[i] = v;
  else ((float *)lt_tensor_data(t))[i] = (float)v;
}

/* sum over the channel's N slabs of S elements of (x - shift)^p, p = 1 or 2 */
static double chan_sum(const void *x, bool dbl, int64_t N, int64_t C, int64_t S, int64_t c, double shift, int p) {
  double acc = 0;
  for (int64_t n = 0; n < N; n++) {
    int64_t off = (n * C + c) * S;
    if (dbl) {
      const double *s = (const double *)x + off;
      if (p == 1) for (int64_t k = 0; k < S; k++) acc += s[k] - shift;
      else for (int64_t k = 0; k < S; k++) { double d = s[k] - shift; acc += d * d; }
    } else {
      const float *s = (const float *)x + off;
      double part = 0;
      if (p == 1) for (int64_t k = 0; k < S; k++) part += (double)s[k] - shift;
      else for (int64_t k = 0; k < S; k++) { double d = (double)s[k] - shift; part += d * d; }
      acc += part;
    }
  }
  return acc;
}

lt_status lt_cpu_batch_norm_forward(lt_tensor *y, lt_tensor *mean, lt_tensor *invstd, const lt_tensor *x,
                                    const lt_tensor *weight, const lt_tensor *bias, lt_tensor *running_mean,
                                    lt_tensor *running_var, bool training, double momentum, double eps) {
  int64_t N = x->shape[0], C = x->shape[1], S = x->shape[2], M = N * S;
  bool dbl = x->dtype == LT_FLOAT64;
  const void *xd = lt_tensor_data(x);
  void *yd = lt_tensor_data(y);
#pragma omp parallel for schedule(dynamic, 1) if (M * C > LT_CPU_PARALLEL_GRAIN && C > 1)
  for (int64_t c = 0; c < C; c++) {
    double mu, is;
    if (training) {
      mu = M > 0 ? chan_sum(xd, dbl, N, C, S, c, 0, 1) / (double)M : NAN;
      double ss = chan_sum(xd, dbl, N, C, S, c, mu, 2);
      double var = M > 0 ? ss / (double)M : NAN;
      is = 1.0 / sqrt(var + eps);
      if (running_mean) st(running_mean, dbl, c, (1 - momentum) * ld(running_mean, dbl, c) + momentum * mu);
      if (running_var) {
        double unbiased = M > 1 ? ss / (double)(M - 1) : NAN;
        st(running_var, dbl, c, (1 - momentum) * ld(running_var, dbl, c) + momentum * unbiased);
      }
    } else {
      mu = ld(running_mean, dbl, c);
      is = 1.0 / sqrt(ld(running_var, dbl, c) + eps);
    }
    st(mean, dbl, c, mu);
    st(invstd, dbl, c, is);
    double a = (weight ? ld(weight, dbl, c) : 1.0) * is;
    double b = (bias ? ld(bias, dbl, c) : 0.0) - mu * a;
    for (int64_t n = 0; n < N; n++) {
      int64_t off = (n * C + c) * S;
      if (dbl) {
        const double *s = (const double *)xd + off;
        double *d = (double *)yd + off;
        for (int64_t k = 0; k < S; k++) d[k] = s[k] * a + b;
      } else {
        const float *s = (const float *)xd + off;
        float *d = (float *)yd + off, af = (float)a, bf = (float)b;
        for (int64_t k = 0; k < S; k++) d[k] = s[k] * af + bf;
      }
    }
  }
  return LT_OK;
}

lt_status lt_cpu_batch_norm_backward(lt_tensor *gx, lt_tensor *gw, lt_tensor *gb, const lt_tensor *gy,
                                     const lt_tensor *x, const lt_tensor *weight, const lt_tensor *mean,
                                     const lt_tensor *invstd, bool training) {
  int64_t N = x->shape[0], C = x->shape[1], S = x->shape[2], M = N * S;
  bool dbl = x->dtype == LT_FLOAT64;
  const void *xd = lt_tensor_data(x), *gyd = lt_tensor_data(gy);
#pragma omp parallel for schedule(dynamic, 1) if (M * C > LT_CPU_PARALLEL_GRAIN && C > 1)
  for (int64_t c = 0; c < C; c++) {
    double mu = ld(mean, dbl, c), is = ld(invstd, dbl, c);
    /* sg = sum gy, sgx = sum gy * (x - mu) */
    double sg = 0, sgx = 0;
    for (int64_t n = 0; n < N; n++) {
      int64_t off = (n * C + c) * S;
      if (dbl) {
        const double *g = (const double *)gyd + off, *s = (const double *)xd + off;
        for (int64_t k = 0; k < S; k++) { sg += g[k]; sgx += g[k] * (s[k] - mu); }
      } else {
        const float *g = (const float *)gyd + off, *s = (const float *)xd + off;
        double pg = 0, pgx = 0;
        for (int64_t k = 0; k < S; k++) { pg += g[k]; pgx += (double)g[k] * ((double)s[k] - mu); }
        sg += pg;
        sgx += pgx;
      }
    }
    if (gb) st(gb, dbl, c, sg);
    if (gw) st(gw, dbl, c, sgx * is);
    if (!gx) continue;
    double w = weight ? ld(weight, dbl, c) : 1.0;
    /* training: gx = w*is*(gy - sg/M - (x-mu)*is^2*sgx/M); eval: w*is*gy */
    double a = w * is, k1 = training && M > 0 ? sg / (double)M : 0, k2 = training && M > 0 ? is * is * sgx / (double)M : 0;
    void *gxd = lt_tensor_data(gx);
    for (int64_t n = 0; n < N; n++) {
      int64_t off = (n * C + c) * S;
      if (dbl) {
        const double *g = (const double *)gyd + off, *s = (const double *)xd + off;
        double *d = (double *)gxd + off;
        for (int64_t k = 0; k < S; k++) d[k] = a * (g[k] - k1 - (s[k] - mu) * k2);
      } else {
        const float *g = (const float *)gyd + off, *s = (const float *)xd + off;
        float *d = (float *)gxd + off, af = (float)a, k1f = (float)k1, k2f = (float)k2, muf = (float)mu;
        for (int64_t k = 0; k < S; k++) d[k] = af * (g[k] - k1f - (s[k] - muf) * k2f);
      }
    }
  }
  return LT_OK;
}
