/* lt_cpu_optim.c — the CPU backend's fused optimizer steps (contracts in
 * lt_backend_optim.h).
 *
 * Every algorithm is one per-element update over doubles (lt_optim_rules.h,
 * shared with the CUDA kernels) and two loops that load float32 or float64,
 * call it, and store the results once. Computing a float32 step in double
 * rounds each state once per step instead of after every intermediate; the
 * result stays within float32's own rounding of PyTorch's. Large tensors are
 * split across OpenMP threads. Not here: the arithmetic (lt_optim_rules.h),
 * input checks (lt_ops_optim.c) and the choice of which state exists (Lua). */
#include <math.h>
#include <stddef.h>

#include "lt_cpu_iter.h"
#include "lt_optim_rules.h"

/* --- SGD ------------------------------------------------------------------------- */

typedef struct { lt_sgd_hparams h; bool fresh; } sgd_k;

static void sgd_f32(const sgd_k *k, int64_t n, float *p, const float *g, float *buf) {
#pragma omp parallel for schedule(static) if (n > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) {
    double pv = p[i], bv = buf ? buf[i] : 0;
    lt_sgd_update(&k->h, k->fresh, &pv, g[i], &bv, true);
    p[i] = (float)pv;
    if (buf) buf[i] = (float)bv;
  }
}

static void sgd_f64(const sgd_k *k, int64_t n, double *p, const double *g, double *buf) {
#pragma omp parallel for schedule(static) if (n > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) {
    double bv = buf ? buf[i] : 0;
    lt_sgd_update(&k->h, k->fresh, &p[i], g[i], &bv, true);
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

static void adam_f32(const adam_k *k, int64_t n, float *p, const float *g, float *m, float *v, float *vmax) {
#pragma omp parallel for schedule(static) if (n > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) {
    double pv = p[i], mv = m[i], vv = v[i], xv = vmax ? vmax[i] : 0;
    lt_adam_update(&k->h, k->step_size, k->bc2_sqrt, &pv, g[i], &mv, &vv, vmax ? &xv : NULL, vmax != NULL);
    p[i] = (float)pv;
    m[i] = (float)mv;
    v[i] = (float)vv;
    if (vmax) vmax[i] = (float)xv;
  }
}

static void adam_f64(const adam_k *k, int64_t n, double *p, const double *g, double *m, double *v, double *vmax) {
#pragma omp parallel for schedule(static) if (n > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++)
    lt_adam_update(&k->h, k->step_size, k->bc2_sqrt, &p[i], g[i], &m[i], &v[i], vmax ? &vmax[i] : NULL, vmax != NULL);
}

static lt_status cpu_adam(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *exp_avg,
                          lt_tensor *const *exp_avg_sq, lt_tensor *const *max_exp_avg_sq, const double *step,
                          const lt_adam_hparams *h) {
  for (int i = 0; i < n; i++) {
    adam_k k = {*h, 0, 0};
    lt_adam_factors(h, step[i], &k.step_size, &k.bc2_sqrt);
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

static void rmsprop_f32(const lt_rmsprop_hparams *h, int64_t n, float *p, const float *g, float *sq, float *gavg,
                        float *buf) {
#pragma omp parallel for schedule(static) if (n > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) {
    double pv = p[i], sv = sq[i], av = gavg ? gavg[i] : 0, bv = buf ? buf[i] : 0;
    lt_rmsprop_update(h, &pv, g[i], &sv, gavg ? &av : NULL, gavg != NULL, buf ? &bv : NULL, buf != NULL);
    p[i] = (float)pv;
    sq[i] = (float)sv;
    if (gavg) gavg[i] = (float)av;
    if (buf) buf[i] = (float)bv;
  }
}

static void rmsprop_f64(const lt_rmsprop_hparams *h, int64_t n, double *p, const double *g, double *sq, double *gavg,
                        double *buf) {
#pragma omp parallel for schedule(static) if (n > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++)
    lt_rmsprop_update(h, &p[i], g[i], &sq[i], gavg ? &gavg[i] : NULL, gavg != NULL, buf ? &buf[i] : NULL, buf != NULL);
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

static void adadelta_f32(const lt_adadelta_hparams *h, int64_t n, float *p, const float *g, float *sq, float *acc) {
#pragma omp parallel for schedule(static) if (n > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) {
    double pv = p[i], sv = sq[i], av = acc[i];
    lt_adadelta_update(h, &pv, g[i], &sv, &av);
    p[i] = (float)pv;
    sq[i] = (float)sv;
    acc[i] = (float)av;
  }
}

static void adadelta_f64(const lt_adadelta_hparams *h, int64_t n, double *p, const double *g, double *sq,
                         double *acc) {
#pragma omp parallel for schedule(static) if (n > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) lt_adadelta_update(h, &p[i], g[i], &sq[i], &acc[i]);
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

static void adagrad_f32(const adagrad_k *k, int64_t n, float *p, const float *g, float *sum) {
#pragma omp parallel for schedule(static) if (n > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) {
    double pv = p[i], sv = sum[i];
    lt_adagrad_update(&k->h, k->clr, &pv, g[i], &sv);
    p[i] = (float)pv;
    sum[i] = (float)sv;
  }
}

static void adagrad_f64(const adagrad_k *k, int64_t n, double *p, const double *g, double *sum) {
#pragma omp parallel for schedule(static) if (n > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < n; i++) lt_adagrad_update(&k->h, k->clr, &p[i], g[i], &sum[i]);
}

static lt_status cpu_adagrad(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *sum,
                             const double *step, const lt_adagrad_hparams *h) {
  for (int i = 0; i < n; i++) {
    adagrad_k k = {*h, lt_adagrad_factors(h, step[i])};
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
