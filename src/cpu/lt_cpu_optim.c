/* lt_cpu_optim.c — the CPU backend's fused optimizer steps (contracts in
 * lt_backend_optim.h).
 *
 * Every algorithm is one per-element function over doubles (the arithmetic,
 * in the order of PyTorch's single-tensor implementation) and two loops that
 * load float32 or float64, call it, and store the results once. Computing a
 * float32 step in double rounds each state once per step instead of after
 * every intermediate; the result stays within float32's own rounding of
 * PyTorch's. Large tensors are split across OpenMP threads. Not here: input
 * checks (lt_ops_optim.c) and the choice of which state exists (Lua). */
#include <math.h>
#include <stddef.h>

#include "lt_backend_optim.h"
#include "lt_cpu_iter.h"

/* torch.maximum: NaN when either is NaN */
static inline double nan_max(double a, double b) { return (isnan(a) || isnan(b)) ? NAN : (a > b ? a : b); }

/* --- SGD ------------------------------------------------------------------------- */

typedef struct { lt_sgd_hparams h; bool fresh; } sgd_k;

/* p, buf in/out; buf ignored when momentum == 0 */
static inline void sgd_elem(const sgd_k *k, double *p, double g, double *buf) {
  if (k->h.maximize) g = -g;
  if (k->h.weight_decay != 0) g += k->h.weight_decay * *p;
  if (k->h.momentum != 0) {
    double b = k->fresh ? g : k->h.momentum * *buf + (1 - k->h.dampening) * g;
    *buf = b;
    g = k->h.nesterov ? g + k->h.momentum * b : b;
  }
  *p += -k->h.lr * g;
}

static void sgd_f32(const sgd_k *k, int64_t n, float *p, const float *g, float *buf) {
#pragma omp parallel for schedule(static) if (n > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) {
    double pv = p[i], bv = buf ? buf[i] : 0;
    sgd_elem(k, &pv, g[i], &bv);
    p[i] = (float)pv;
    if (buf) buf[i] = (float)bv;
  }
}

static void sgd_f64(const sgd_k *k, int64_t n, double *p, const double *g, double *buf) {
#pragma omp parallel for schedule(static) if (n > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) {
    double bv = buf ? buf[i] : 0;
    sgd_elem(k, &p[i], g[i], &bv);
    if (buf) buf[i] = bv;
  }
}

static lt_status cpu_sgd(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *buf,
                         const bool *fresh, const lt_sgd_hparams *h) {
  for (int i = 0; i < n; i++) {
    sgd_k k = {*h, fresh ? fresh[i] : false};
    int64_t m = lt_tensor_numel(param[i]);
    void *b = (buf && h->momentum != 0) ? lt_tensor_data(buf[i]) : NULL;
    if (param[i]->dtype == LT_FLOAT32) sgd_f32(&k, m, lt_tensor_data(param[i]), lt_tensor_data(grad[i]), b);
    else sgd_f64(&k, m, lt_tensor_data(param[i]), lt_tensor_data(grad[i]), b);
  }
  return LT_OK;
}

/* --- Adam / AdamW ------------------------------------------------------------------ */

typedef struct { lt_adam_hparams h; double step_size, bc2_sqrt; } adam_k;

static inline void adam_elem(const adam_k *k, double *p, double g, double *m, double *v, double *vmax) {
  if (k->h.maximize) g = -g;
  if (k->h.weight_decay != 0) {
    if (k->h.decoupled_weight_decay) *p *= 1 - k->h.lr * k->h.weight_decay;
    else g += k->h.weight_decay * *p;
  }
  *m += (1 - k->h.beta1) * (g - *m); /* lerp(m, g, 1 - beta1) */
  *v = *v * k->h.beta2 + (1 - k->h.beta2) * (g * g);
  double s = *v;
  if (vmax) s = *vmax = nan_max(*vmax, *v);
  double denom = sqrt(s) / k->bc2_sqrt + k->h.eps;
  *p += -k->step_size * (*m / denom);
}

static void adam_f32(const adam_k *k, int64_t n, float *p, const float *g, float *m, float *v, float *vmax) {
#pragma omp parallel for schedule(static) if (n > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) {
    double pv = p[i], mv = m[i], vv = v[i], xv = vmax ? vmax[i] : 0;
    adam_elem(k, &pv, g[i], &mv, &vv, vmax ? &xv : NULL);
    p[i] = (float)pv;
    m[i] = (float)mv;
    v[i] = (float)vv;
    if (vmax) vmax[i] = (float)xv;
  }
}

static void adam_f64(const adam_k *k, int64_t n, double *p, const double *g, double *m, double *v, double *vmax) {
#pragma omp parallel for schedule(static) if (n > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) adam_elem(k, &p[i], g[i], &m[i], &v[i], vmax ? &vmax[i] : NULL);
}

static lt_status cpu_adam(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *exp_avg,
                          lt_tensor *const *exp_avg_sq, lt_tensor *const *max_exp_avg_sq, const double *step,
                          const lt_adam_hparams *h) {
  for (int i = 0; i < n; i++) {
    adam_k k = {*h, h->lr / (1 - pow(h->beta1, step[i])), sqrt(1 - pow(h->beta2, step[i]))};
    int64_t m = lt_tensor_numel(param[i]);
    void *x = (max_exp_avg_sq && h->amsgrad) ? lt_tensor_data(max_exp_avg_sq[i]) : NULL;
    if (param[i]->dtype == LT_FLOAT32)
      adam_f32(&k, m, lt_tensor_data(param[i]), lt_tensor_data(grad[i]), lt_tensor_data(exp_avg[i]),
               lt_tensor_data(exp_avg_sq[i]), x);
    else
      adam_f64(&k, m, lt_tensor_data(param[i]), lt_tensor_data(grad[i]), lt_tensor_data(exp_avg[i]),
               lt_tensor_data(exp_avg_sq[i]), x);
  }
  return LT_OK;
}

/* --- RMSprop ------------------------------------------------------------------------ */

static inline void rmsprop_elem(const lt_rmsprop_hparams *h, double *p, double g, double *sq, double *gavg,
                                double *buf) {
  if (h->maximize) g = -g;
  if (h->weight_decay != 0) g += h->weight_decay * *p;
  *sq = *sq * h->alpha + (1 - h->alpha) * (g * g);
  double avg;
  if (gavg) {
    *gavg += (1 - h->alpha) * (g - *gavg); /* lerp */
    avg = sqrt(*sq - *gavg * *gavg) + h->eps;
  } else {
    avg = sqrt(*sq) + h->eps;
  }
  if (buf) {
    *buf = *buf * h->momentum + g / avg;
    *p += -h->lr * *buf;
  } else {
    *p += -h->lr * (g / avg);
  }
}

static void rmsprop_f32(const lt_rmsprop_hparams *h, int64_t n, float *p, const float *g, float *sq, float *gavg,
                        float *buf) {
#pragma omp parallel for schedule(static) if (n > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) {
    double pv = p[i], sv = sq[i], av = gavg ? gavg[i] : 0, bv = buf ? buf[i] : 0;
    rmsprop_elem(h, &pv, g[i], &sv, gavg ? &av : NULL, buf ? &bv : NULL);
    p[i] = (float)pv;
    sq[i] = (float)sv;
    if (gavg) gavg[i] = (float)av;
    if (buf) buf[i] = (float)bv;
  }
}

static void rmsprop_f64(const lt_rmsprop_hparams *h, int64_t n, double *p, const double *g, double *sq, double *gavg,
                        double *buf) {
#pragma omp parallel for schedule(static) if (n > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) rmsprop_elem(h, &p[i], g[i], &sq[i], gavg ? &gavg[i] : NULL, buf ? &buf[i] : NULL);
}

static lt_status cpu_rmsprop(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *square_avg,
                             lt_tensor *const *grad_avg, lt_tensor *const *buf, const lt_rmsprop_hparams *h) {
  for (int i = 0; i < n; i++) {
    int64_t m = lt_tensor_numel(param[i]);
    void *a = (grad_avg && h->centered) ? lt_tensor_data(grad_avg[i]) : NULL;
    void *b = (buf && h->momentum > 0) ? lt_tensor_data(buf[i]) : NULL;
    if (param[i]->dtype == LT_FLOAT32)
      rmsprop_f32(h, m, lt_tensor_data(param[i]), lt_tensor_data(grad[i]), lt_tensor_data(square_avg[i]), a, b);
    else
      rmsprop_f64(h, m, lt_tensor_data(param[i]), lt_tensor_data(grad[i]), lt_tensor_data(square_avg[i]), a, b);
  }
  return LT_OK;
}

/* --- Adadelta ------------------------------------------------------------------------ */

static inline void adadelta_elem(const lt_adadelta_hparams *h, double *p, double g, double *sq, double *acc) {
  if (h->maximize) g = -g;
  if (h->weight_decay != 0) g += h->weight_decay * *p;
  *sq = *sq * h->rho + (1 - h->rho) * (g * g);
  double std = sqrt(*sq + h->eps);
  double delta = sqrt(*acc + h->eps) / std * g;
  *acc = *acc * h->rho + (1 - h->rho) * (delta * delta);
  *p += -h->lr * delta;
}

static void adadelta_f32(const lt_adadelta_hparams *h, int64_t n, float *p, const float *g, float *sq, float *acc) {
#pragma omp parallel for schedule(static) if (n > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) {
    double pv = p[i], sv = sq[i], av = acc[i];
    adadelta_elem(h, &pv, g[i], &sv, &av);
    p[i] = (float)pv;
    sq[i] = (float)sv;
    acc[i] = (float)av;
  }
}

static void adadelta_f64(const lt_adadelta_hparams *h, int64_t n, double *p, const double *g, double *sq,
                         double *acc) {
#pragma omp parallel for schedule(static) if (n > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) adadelta_elem(h, &p[i], g[i], &sq[i], &acc[i]);
}

static lt_status cpu_adadelta(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *square_avg,
                              lt_tensor *const *acc_delta, const lt_adadelta_hparams *h) {
  for (int i = 0; i < n; i++) {
    int64_t m = lt_tensor_numel(param[i]);
    if (param[i]->dtype == LT_FLOAT32)
      adadelta_f32(h, m, lt_tensor_data(param[i]), lt_tensor_data(grad[i]), lt_tensor_data(square_avg[i]),
                   lt_tensor_data(acc_delta[i]));
    else
      adadelta_f64(h, m, lt_tensor_data(param[i]), lt_tensor_data(grad[i]), lt_tensor_data(square_avg[i]),
                   lt_tensor_data(acc_delta[i]));
  }
  return LT_OK;
}

/* --- Adagrad ---------------------------------------------------------------------------- */

typedef struct { lt_adagrad_hparams h; double clr; } adagrad_k;

static inline void adagrad_elem(const adagrad_k *k, double *p, double g, double *sum) {
  if (k->h.maximize) g = -g;
  if (k->h.weight_decay != 0) g += k->h.weight_decay * *p;
  *sum += g * g;
  double std = sqrt(*sum) + k->h.eps;
  *p += -k->clr * (g / std);
}

static void adagrad_f32(const adagrad_k *k, int64_t n, float *p, const float *g, float *sum) {
#pragma omp parallel for schedule(static) if (n > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) {
    double pv = p[i], sv = sum[i];
    adagrad_elem(k, &pv, g[i], &sv);
    p[i] = (float)pv;
    sum[i] = (float)sv;
  }
}

static void adagrad_f64(const adagrad_k *k, int64_t n, double *p, const double *g, double *sum) {
#pragma omp parallel for schedule(static) if (n > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) adagrad_elem(k, &p[i], g[i], &sum[i]);
}

static lt_status cpu_adagrad(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *sum,
                             const double *step, const lt_adagrad_hparams *h) {
  for (int i = 0; i < n; i++) {
    adagrad_k k = {*h, h->lr / (1 + (step[i] - 1) * h->lr_decay)};
    int64_t m = lt_tensor_numel(param[i]);
    if (param[i]->dtype == LT_FLOAT32)
      adagrad_f32(&k, m, lt_tensor_data(param[i]), lt_tensor_data(grad[i]), lt_tensor_data(sum[i]));
    else
      adagrad_f64(&k, m, lt_tensor_data(param[i]), lt_tensor_data(grad[i]), lt_tensor_data(sum[i]));
  }
  return LT_OK;
}

static lt_status cpu_write_scalars(lt_tensor *dst, const double *v, int n) {
  double *d = lt_tensor_data(dst);
  for (int i = 0; i < n; i++) d[i] = v[i];
  return LT_OK;
}

const lt_optim_kernels lt_cpu_optim_kernels = {
  .sgd = cpu_sgd,
  .adam = cpu_adam,
  .rmsprop = cpu_rmsprop,
  .adadelta = cpu_adadelta,
  .adagrad = cpu_adagrad,
  .write_scalars = cpu_write_scalars,
};
