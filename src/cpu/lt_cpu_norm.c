/* lt_cpu_norm.c — batch normalisation on the CPU, forward (with the
 * running-statistics update) and backward, over x viewed as [N,C,S].
 * Statistics are accumulated in double whatever the dtype, and the variance
 * is computed in two passes (mean first), which keeps float32 accurate for
 * activations with a large mean. Work is split across channels.
 *
 * x/y/gy/gx may be float64, float32 or a 16-bit storage type (bfloat16,
 * float16: mixed precision, what autocast produces); 16-bit elements are
 * widened to float, computed on as float32 inputs are, and rounded once on
 * store. The per-channel tensors (weight, bias, running statistics, mean,
 * invstd, gw, gb) are read and written in their own dtype, so a 16-bit input
 * works with float32 parameters and statistics. */
#include <math.h>

#include "lt_cpu_nn.h"
#include "lt_cpu_iter.h"

/* element i of a per-channel tensor, in its own dtype */
static double ld(const lt_tensor *t, int64_t i) {
  return lt_dtype_load_f64((const char *)lt_tensor_data(t) + i * (int64_t)lt_dtype_size(t->dtype), t->dtype);
}
static void st(lt_tensor *t, int64_t i, double v) {
  lt_dtype_store_f64((char *)lt_tensor_data(t) + i * (int64_t)lt_dtype_size(t->dtype), t->dtype, v);
}

/* 16-bit storage: bf selects bfloat16, else float16 */
static float h2f(uint16_t h, bool bf) { return bf ? lt_bf16_to_f32(h) : lt_f16_to_f32(h); }
static uint16_t f2h(float f, bool bf) { return bf ? lt_f32_to_bf16(f) : lt_f32_to_f16(f); }

/* sum over the channel's N slabs of S elements of (x - shift)^p, p = 1 or 2 */
static double chan_sum(const void *x, lt_dtype dt, int64_t N, int64_t C, int64_t S, int64_t c, double shift, int p) {
  double acc = 0;
  bool bf = dt == LT_BFLOAT16;
  for (int64_t n = 0; n < N; n++) {
    int64_t off = (n * C + c) * S;
    if (dt == LT_FLOAT64) {
      const double *s = (const double *)x + off;
      if (p == 1) for (int64_t k = 0; k < S; k++) acc += s[k] - shift;
      else for (int64_t k = 0; k < S; k++) { double d = s[k] - shift; acc += d * d; }
    } else if (dt == LT_FLOAT32) {
      const float *s = (const float *)x + off;
      double part = 0;
      if (p == 1) for (int64_t k = 0; k < S; k++) part += (double)s[k] - shift;
      else for (int64_t k = 0; k < S; k++) { double d = (double)s[k] - shift; part += d * d; }
      acc += part;
    } else {
      const uint16_t *s = (const uint16_t *)x + off;
      double part = 0;
      if (p == 1) for (int64_t k = 0; k < S; k++) part += (double)h2f(s[k], bf) - shift;
      else for (int64_t k = 0; k < S; k++) { double d = (double)h2f(s[k], bf) - shift; part += d * d; }
      acc += part;
    }
  }
  return acc;
}

lt_status lt_cpu_batch_norm_forward(lt_tensor *y, lt_tensor *mean, lt_tensor *invstd, const lt_tensor *x,
                                    const lt_tensor *weight, const lt_tensor *bias, lt_tensor *running_mean,
                                    lt_tensor *running_var, bool training, double momentum, double eps) {
  int64_t N = x->shape[0], C = x->shape[1], S = x->shape[2], M = N * S;
  lt_dtype dt = x->dtype;
  bool bf = dt == LT_BFLOAT16;
  const void *xd = lt_tensor_data(x);
  void *yd = lt_tensor_data(y);
#pragma omp parallel for schedule(dynamic, 1) if (M * C > LT_CPU_PARALLEL_GRAIN && C > 1)
  for (int64_t c = 0; c < C; c++) {
    double mu, is;
    if (training) {
      mu = M > 0 ? chan_sum(xd, dt, N, C, S, c, 0, 1) / (double)M : NAN;
      double ss = chan_sum(xd, dt, N, C, S, c, mu, 2);
      double var = M > 0 ? ss / (double)M : NAN;
      is = 1.0 / sqrt(var + eps);
      if (running_mean) st(running_mean, c, (1 - momentum) * ld(running_mean, c) + momentum * mu);
      if (running_var) {
        double unbiased = M > 1 ? ss / (double)(M - 1) : NAN;
        st(running_var, c, (1 - momentum) * ld(running_var, c) + momentum * unbiased);
      }
    } else {
      mu = ld(running_mean, c);
      is = 1.0 / sqrt(ld(running_var, c) + eps);
    }
    st(mean, c, mu);
    st(invstd, c, is);
    double a = (weight ? ld(weight, c) : 1.0) * is;
    double b = (bias ? ld(bias, c) : 0.0) - mu * a;
    float af = (float)a, bff = (float)b;
    for (int64_t n = 0; n < N; n++) {
      int64_t off = (n * C + c) * S;
      if (dt == LT_FLOAT64) {
        const double *s = (const double *)xd + off;
        double *d = (double *)yd + off;
        for (int64_t k = 0; k < S; k++) d[k] = s[k] * a + b;
      } else if (dt == LT_FLOAT32) {
        const float *s = (const float *)xd + off;
        float *d = (float *)yd + off;
        for (int64_t k = 0; k < S; k++) d[k] = s[k] * af + bff;
      } else {
        const uint16_t *s = (const uint16_t *)xd + off;
        uint16_t *d = (uint16_t *)yd + off;
        for (int64_t k = 0; k < S; k++) d[k] = f2h(h2f(s[k], bf) * af + bff, bf);
      }
    }
  }
  return LT_OK;
}

lt_status lt_cpu_batch_norm_backward(lt_tensor *gx, lt_tensor *gw, lt_tensor *gb, const lt_tensor *gy,
                                     const lt_tensor *x, const lt_tensor *weight, const lt_tensor *mean,
                                     const lt_tensor *invstd, bool training) {
  int64_t N = x->shape[0], C = x->shape[1], S = x->shape[2], M = N * S;
  lt_dtype dt = x->dtype;
  bool bf = dt == LT_BFLOAT16;
  const void *xd = lt_tensor_data(x), *gyd = lt_tensor_data(gy);
#pragma omp parallel for schedule(dynamic, 1) if (M * C > LT_CPU_PARALLEL_GRAIN && C > 1)
  for (int64_t c = 0; c < C; c++) {
    double mu = ld(mean, c), is = ld(invstd, c);
    /* sg = sum gy, sgx = sum gy * (x - mu) */
    double sg = 0, sgx = 0;
    for (int64_t n = 0; n < N; n++) {
      int64_t off = (n * C + c) * S;
      if (dt == LT_FLOAT64) {
        const double *g = (const double *)gyd + off, *s = (const double *)xd + off;
        for (int64_t k = 0; k < S; k++) { sg += g[k]; sgx += g[k] * (s[k] - mu); }
      } else if (dt == LT_FLOAT32) {
        const float *g = (const float *)gyd + off, *s = (const float *)xd + off;
        double pg = 0, pgx = 0;
        for (int64_t k = 0; k < S; k++) { pg += g[k]; pgx += (double)g[k] * ((double)s[k] - mu); }
        sg += pg;
        sgx += pgx;
      } else {
        const uint16_t *g = (const uint16_t *)gyd + off, *s = (const uint16_t *)xd + off;
        double pg = 0, pgx = 0;
        for (int64_t k = 0; k < S; k++) {
          double gk = h2f(g[k], bf);
          pg += gk;
          pgx += gk * ((double)h2f(s[k], bf) - mu);
        }
        sg += pg;
        sgx += pgx;
      }
    }
    if (gb) st(gb, c, sg);
    if (gw) st(gw, c, sgx * is);
    if (!gx) continue;
    double w = weight ? ld(weight, c) : 1.0;
    /* training: gx = w*is*(gy - sg/M - (x-mu)*is^2*sgx/M); eval: w*is*gy */
    double a = w * is, k1 = training && M > 0 ? sg / (double)M : 0, k2 = training && M > 0 ? is * is * sgx / (double)M : 0;
    float af = (float)a, k1f = (float)k1, k2f = (float)k2, muf = (float)mu;
    void *gxd = lt_tensor_data(gx);
    for (int64_t n = 0; n < N; n++) {
      int64_t off = (n * C + c) * S;
      if (dt == LT_FLOAT64) {
        const double *g = (const double *)gyd + off, *s = (const double *)xd + off;
        double *d = (double *)gxd + off;
        for (int64_t k = 0; k < S; k++) d[k] = a * (g[k] - k1 - (s[k] - mu) * k2);
      } else if (dt == LT_FLOAT32) {
        const float *g = (const float *)gyd + off, *s = (const float *)xd + off;
        float *d = (float *)gxd + off;
        for (int64_t k = 0; k < S; k++) d[k] = af * (g[k] - k1f - (s[k] - muf) * k2f);
      } else {
        const uint16_t *g = (const uint16_t *)gyd + off, *s = (const uint16_t *)xd + off;
        uint16_t *d = (uint16_t *)gxd + off;
        for (int64_t k = 0; k < S; k++) d[k] = f2h(af * (h2f(g[k], bf) - k1f - (h2f(s[k], bf) - muf) * k2f), bf);
      }
    }
  }
  return LT_OK;
}
