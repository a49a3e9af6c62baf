/* lt_cpu_loss.c — the loss kernels on the CPU: negative log-likelihood with
 * class weights and label smoothing, the fused cross-entropy, and the
 * elementwise losses (MSE, L1, binary cross-entropy with logits).
 * Reductions over the batch are the op layer's (lt_ops_loss.c); these
 * kernels work per element. Arithmetic is in double, loads and stores in the
 * tensor's dtype.
 *
 * The fused cross-entropy: one pass over each row of logits gives the loss
 * and the row's log-sum-exp, and the backward rebuilds softmax from the saved
 * log-sum-exp, so neither keeps an [N,C] log-probability tensor. Each
 * intermediate the unfused log_softmax + nll_loss chain stored
 * (log-probabilities, their gradient) is rounded to the dtype exactly where
 * that chain rounded it: results are bit for bit the chain's, so training
 * runs do not change on the CPU. */
#include <math.h>

#include "lt_cpu_iter.h"
#include "lt_cpu_nn.h"

/* --- negative log-likelihood ---------------------------------------------------------- */

lt_status lt_cpu_nll_loss_forward(lt_tensor *loss, lt_tensor *wt, const lt_tensor *logp, const lt_tensor *target,
                                  const lt_tensor *weight, double smoothing, int64_t ignore_index) {
  int64_t N = logp->shape[0], C = logp->shape[1], S = logp->shape[2], M = N * S;
  const int64_t *t = lt_tensor_data(target);
  /* Check every label before writing anything (the first bad one is named). */
  for (int64_t i = 0; i < M; i++)
    if (t[i] != ignore_index && (t[i] < 0 || t[i] >= C))
      return lt_error_set(LT_ERR_ARG, 2, "target %lld at position %lld is out of range 1..%lld", (long long)t[i] + 1,
                          (long long)i + 1, (long long)C);
  bool dbl = logp->dtype == LT_FLOAT64;
  const void *lp = lt_tensor_data(logp), *wd = weight ? lt_tensor_data(weight) : NULL;
  void *ld = lt_tensor_data(loss), *wtd = lt_tensor_data(wt);
#pragma omp parallel for schedule(static) if (M * (smoothing > 0 ? C : 1) > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < M; i++) {
    int64_t n = i / S, s = i % S, ti = t[i];
    if (ti == ignore_index) {
      stv(ld, dbl, i, 0);
      stv(wtd, dbl, i, 0);
      continue;
    }
    int64_t base = n * C * S + s;
    double w = wd ? ldv(wd, dbl, ti) : 1.0;
    double l = -w * ldv(lp, dbl, base + ti * S);
    if (smoothing > 0) {
      double sm = 0;
      for (int64_t c = 0; c < C; c++) sm -= (wd ? ldv(wd, dbl, c) : 1.0) * ldv(lp, dbl, base + c * S);
      l = (1 - smoothing) * l + smoothing / (double)C * sm;
    }
    stv(ld, dbl, i, l);
    stv(wtd, dbl, i, w);
  }
  return LT_OK;
}

lt_status lt_cpu_nll_loss_backward(lt_tensor *glogp, const lt_tensor *g, const lt_tensor *target,
                                   const lt_tensor *weight, double smoothing, int64_t ignore_index) {
  int64_t N = glogp->shape[0], C = glogp->shape[1], S = glogp->shape[2], M = N * S;
  int64_t gs = lt_tensor_numel(g) == 1 ? 0 : 1;
  bool dbl = glogp->dtype == LT_FLOAT64;
  const int64_t *t = lt_tensor_data(target);
  const void *gd = lt_tensor_data(g), *wd = weight ? lt_tensor_data(weight) : NULL;
  void *out = lt_tensor_data(glogp);
#pragma omp parallel for schedule(static) if (M * C > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < M; i++) {
    int64_t n = i / S, s = i % S, ti = t[i], base = n * C * S + s;
    if (ti == ignore_index) {
      for (int64_t c = 0; c < C; c++) stv(out, dbl, base + c * S, 0);
      continue;
    }
    double gi = ldv(gd, dbl, i * gs);
    double ks = smoothing / (double)C;
    for (int64_t c = 0; c < C; c++) stv(out, dbl, base + c * S, ks > 0 ? -gi * ks * (wd ? ldv(wd, dbl, c) : 1.0) : 0);
    double w = wd ? ldv(wd, dbl, ti) : 1.0;
    stv(out, dbl, base + ti * S, ldv(out, dbl, base + ti * S) - gi * (1 - smoothing) * w);
  }
  return LT_OK;
}

/* --- elementwise losses ------------------------------------------------------------------ */

/* log(1 + exp(-x)) without overflow */
static inline double softplus_neg(double x) { return log1p(exp(-fabs(x))) + (x < 0 ? -x : 0); }
static inline double sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + exp(-x));
  double e = exp(x);
  return e / (1.0 + e);
}

lt_status lt_cpu_pointwise_loss_forward(lt_pointwise_loss kind, lt_tensor *loss, const lt_tensor *x,
                                        const lt_tensor *y, const lt_tensor *w, const lt_tensor *pw) {
  int64_t n = lt_tensor_numel(loss);
  bool dbl = x->dtype == LT_FLOAT64;
  const void *xd = lt_tensor_data(x), *yd = lt_tensor_data(y);
  const void *wd = w ? lt_tensor_data(w) : NULL, *pd = pw ? lt_tensor_data(pw) : NULL;
  void *ld = lt_tensor_data(loss);
#pragma omp parallel for schedule(static) if (n > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) {
    double a = ldv(xd, dbl, i), b = ldv(yd, dbl, i), l;
    switch (kind) {
      case LT_PLOSS_MSE: l = (a - b) * (a - b); break;
      case LT_PLOSS_L1: l = fabs(a - b); break;
      default: {
        double p = pd ? ldv(pd, dbl, i) : 1.0;
        l = (1 - b) * a + (1 + (p - 1) * b) * softplus_neg(a);
        if (wd) l *= ldv(wd, dbl, i);
      }
    }
    stv(ld, dbl, i, l);
  }
  return LT_OK;
}

lt_status lt_cpu_pointwise_loss_backward(lt_pointwise_loss kind, lt_tensor *gx, lt_tensor *gy, const lt_tensor *g,
                                         const lt_tensor *x, const lt_tensor *y, const lt_tensor *w,
                                         const lt_tensor *pw) {
  int64_t n = lt_tensor_numel(x), gs = lt_tensor_numel(g) == 1 ? 0 : 1;
  bool dbl = x->dtype == LT_FLOAT64;
  const void *xd = lt_tensor_data(x), *yd = lt_tensor_data(y), *gd = lt_tensor_data(g);
  const void *wd = w ? lt_tensor_data(w) : NULL, *pd = pw ? lt_tensor_data(pw) : NULL;
  void *gxd = gx ? lt_tensor_data(gx) : NULL, *gyd = gy ? lt_tensor_data(gy) : NULL;
#pragma omp parallel for schedule(static) if (n > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) {
    double a = ldv(xd, dbl, i), b = ldv(yd, dbl, i), gi = ldv(gd, dbl, i * gs), da, db;
    switch (kind) {
      case LT_PLOSS_MSE: da = 2 * (a - b); db = -da; break;
      case LT_PLOSS_L1: da = isnan(a - b) ? NAN : (double)((a > b) - (a < b)); db = -da; break;
      default: {
        double p = pd ? ldv(pd, dbl, i) : 1.0, wi = wd ? ldv(wd, dbl, i) : 1.0;
        double L = 1 + (p - 1) * b;
        da = wi * ((1 - b) - L * sigmoid(-a));
        db = wi * (-a + (p - 1) * softplus_neg(a));
      }
    }
    if (gxd) stv(gxd, dbl, i, gi * da);
    if (gyd) stv(gyd, dbl, i, gi * db);
  }
  return LT_OK;
}

/* --- fused cross-entropy ------------------------------------------------------------------ */

/* x - lse rounded to x's dtype: the log-probability log_softmax stores */
static inline double logp_of(double x, double lse, bool dbl) { return dbl ? x - lse : (double)(float)(x - lse); }
/* v rounded to x's dtype, as a stored-and-reloaded value */
static inline double rnd(double v, bool dbl) { return dbl ? v : (double)(float)v; }

lt_status lt_cpu_cross_entropy_forward(lt_tensor *loss, lt_tensor *wt, lt_tensor *lse, const lt_tensor *x,
                                       const lt_tensor *target, const lt_tensor *weight, double smoothing,
                                       int64_t ignore_index) {
  int64_t N = x->shape[0], C = x->shape[1], S = x->shape[2], M = N * S;
  const int64_t *t = lt_tensor_data(target);
  /* Every label is checked before anything is written (the first bad one is named). */
  for (int64_t i = 0; i < M; i++)
    if (t[i] != ignore_index && (t[i] < 0 || t[i] >= C))
      return lt_error_set(LT_ERR_ARG, 2, "target %lld at position %lld is out of range 1..%lld", (long long)t[i] + 1,
                          (long long)i + 1, (long long)C);
  bool dbl = x->dtype == LT_FLOAT64;
  const void *xd = lt_tensor_data(x), *wd = weight ? lt_tensor_data(weight) : NULL;
  void *ld = lt_tensor_data(loss), *wtd = lt_tensor_data(wt);
  double *sd = lt_tensor_data(lse);
#pragma omp parallel for schedule(static) if (M * C > LT_CPU_PARALLEL_GRAIN && M > 1)
  for (int64_t i = 0; i < M; i++) {
    int64_t n = i / S, s = i % S, base = n * C * S + s, ti = t[i];
    double mx = -INFINITY;
    for (int64_t c = 0; c < C; c++) {
      double v = ldv(xd, dbl, base + c * S);
      if (v > mx || isnan(v)) mx = v;
    }
    if (isinf(mx) && mx < 0) mx = 0; /* an all -inf row: NaN below, as log_softmax gives */
    double sum = 0;
    for (int64_t c = 0; c < C; c++) sum += exp(ldv(xd, dbl, base + c * S) - mx);
    double l_se = mx + (double)logl((long double)sum); /* as lt_cpu_softmax_forward */
    sd[i] = l_se;
    if (ti == ignore_index) {
      stv(ld, dbl, i, 0);
      stv(wtd, dbl, i, 0);
      continue;
    }
    double w = wd ? ldv(wd, dbl, ti) : 1.0;
    double l = -w * logp_of(ldv(xd, dbl, base + ti * S), l_se, dbl);
    if (smoothing > 0) {
      double sm = 0;
      for (int64_t c = 0; c < C; c++) sm -= (wd ? ldv(wd, dbl, c) : 1.0) * logp_of(ldv(xd, dbl, base + c * S), l_se, dbl);
      l = (1 - smoothing) * l + smoothing / (double)C * sm;
    }
    stv(ld, dbl, i, l);
    stv(wtd, dbl, i, w);
  }
  return LT_OK;
}

lt_status lt_cpu_cross_entropy_backward(lt_tensor *gx, const lt_tensor *g, const lt_tensor *x, const lt_tensor *lse,
                                        const lt_tensor *target, const lt_tensor *weight, double smoothing,
                                        int64_t ignore_index) {
  int64_t N = x->shape[0], C = x->shape[1], S = x->shape[2], M = N * S;
  int64_t gs = lt_tensor_numel(g) == 1 ? 0 : 1;
  bool dbl = x->dtype == LT_FLOAT64;
  const int64_t *t = lt_tensor_data(target);
  const void *xd = lt_tensor_data(x), *gd = lt_tensor_data(g);
  const double *sd = lt_tensor_data(lse);
  const void *wd = weight ? lt_tensor_data(weight) : NULL;
  void *out = lt_tensor_data(gx);
  const double ks = smoothing / (double)C;
#pragma omp parallel for schedule(static) if (M * C > LT_CPU_PARALLEL_GRAIN && M > 1)
  for (int64_t i = 0; i < M; i++) {
    int64_t n = i / S, s = i % S, base = n * C * S + s, ti = t[i];
    bool live = ti != ignore_index && ti >= 0 && ti < C;
    double gi = live ? ldv(gd, dbl, i * gs) : 0, l_se = sd[i];
    double tw = live ? gi * (1 - smoothing) * (wd ? ldv(wd, dbl, ti) : 1.0) : 0;
    /* q[c]·g as nll_loss's backward stores it (rounded), and their sum */
    double qsum = 0;
    for (int64_t c = 0; live && c < C; c++) {
      double q = rnd(ks > 0 ? -gi * ks * (wd ? ldv(wd, dbl, c) : 1.0) : 0, dbl);
      if (c == ti) q = rnd(q - tw, dbl);
      qsum += q;
    }
    for (int64_t c = 0; c < C; c++) {
      double q = 0;
      if (live) {
        q = rnd(ks > 0 ? -gi * ks * (wd ? ldv(wd, dbl, c) : 1.0) : 0, dbl);
        if (c == ti) q = rnd(q - tw, dbl);
      }
      /* log_softmax's backward: gx = gy - softmax * sum(gy) */
      stv(out, dbl, base + c * S, q - exp(logp_of(ldv(xd, dbl, base + c * S), l_se, dbl)) * qsum);
    }
  }
  return LT_OK;
}
