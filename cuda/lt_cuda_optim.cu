/* lt_cuda_optim.cu — fused optimizer steps on the GPU (lt_backend_optim.h):
 * SGD (momentum, dampening, Nesterov), Adam/AdamW (amsgrad), RMSprop,
 * Adadelta and Adagrad, each as one multi-tensor kernel launch per group of
 * up to MT_TENSORS parameters instead of one launch (or several) per
 * parameter.
 *
 * The tensor pointers, sizes and per-tensor scalars (bias corrections from
 * the step counts, SGD's "fresh buffer" flags) travel in the kernel's
 * parameter block, so a step needs no host-to-device copy and can be
 * captured in a CUDA graph. Each block owns a chunk of MT_CHUNK elements of
 * one tensor. The per-element arithmetic is the CPU backend's, from the same
 * header (lt_optim_rules.h), in double with one rounding per stored value.
 *
 * With device scalars (h->scalars, lt_backend_optim.h) every thread reads
 * the hyper-parameters and the step count from device memory when the kernel
 * runs and forms the per-step factors (Adam's bias corrections, Adagrad's
 * decayed lr) itself, so a step captured in a CUDA graph follows a learning
 * rate schedule: the values are written before each replay by a one-thread-
 * block kernel whose parameters carry them (lt_cuda_optim_write_scalars). */
#include <math.h>

#include "lt_cuda_common.cuh"
#include "lt_optim_rules.h"

#define MT_TENSORS 24
#define MT_CHUNK 4096
#define MT_LISTS 5 /* param, grad, up to three state lists */

struct MTArgs {
  int n;
  void *ptr[MT_LISTS][MT_TENSORS];
  int64_t numel[MT_TENSORS];
  int64_t first_block[MT_TENSORS + 1]; /* prefix sums of each tensor's chunk count */
  double s0[MT_TENSORS], s1[MT_TENSORS];
};

/* Each algorithm: the hyper-parameters (by value in the kernel's parameter
 * block), the device scalars (NULL: none) and lt_optim_rules.h's update;
 * st[0..2] are the state lists 2..4 of its call, present or not as the
 * has_st flags say. load() replaces the numeric hyper-parameters with the
 * device scalars and forms the per-step factors k0, k1 from them. */
struct SgdAlg {
  lt_sgd_hparams h;
  const double *dev;
  __device__ void load(double &, double &) { lt_sgd_from_scalars(&h, dev); }
  __device__ void operator()(double &p, double g, double *st, bool has_buf, bool, bool, double fresh, double) const {
    lt_sgd_update(&h, fresh != 0, &p, g, &st[0], has_buf);
  }
};

struct AdamAlg {
  lt_adam_hparams h;
  const double *dev;
  /* k0: the step size lr / (1 - beta1^step), k1: sqrt(1 - beta2^step) */
  __device__ void load(double &k0, double &k1) { lt_adam_factors(&h, lt_adam_from_scalars(&h, dev), &k0, &k1); }
  __device__ void operator()(double &p, double g, double *st, bool, bool, bool has_max, double step_size,
                             double bc2_sqrt) const {
    lt_adam_update(&h, step_size, bc2_sqrt, &p, g, &st[0], &st[1], &st[2], has_max);
  }
};

struct RmspropAlg {
  lt_rmsprop_hparams h;
  const double *dev;
  __device__ void load(double &, double &) { lt_rmsprop_from_scalars(&h, dev); }
  __device__ void operator()(double &p, double g, double *st, bool, bool has_avg, bool has_buf, double, double) const {
    lt_rmsprop_update(&h, &p, g, &st[0], &st[1], has_avg, &st[2], has_buf);
  }
};

struct AdadeltaAlg {
  lt_adadelta_hparams h;
  const double *dev;
  __device__ void load(double &, double &) { lt_adadelta_from_scalars(&h, dev); }
  __device__ void operator()(double &p, double g, double *st, bool, bool, bool, double, double) const {
    lt_adadelta_update(&h, &p, g, &st[0], &st[1]);
  }
};

struct AdagradAlg {
  lt_adagrad_hparams h;
  const double *dev;
  /* k0: the decayed lr of this step */
  __device__ void load(double &k0, double &) { k0 = lt_adagrad_factors(&h, lt_adagrad_from_scalars(&h, dev)); }
  __device__ void operator()(double &p, double g, double *st, bool, bool, bool, double clr, double) const {
    lt_adagrad_update(&h, clr, &p, g, &st[0]);
  }
};

template <typename T, typename Alg> __global__ void mt_kernel(MTArgs a, Alg alg_in) {
  const int64_t b = blockIdx.x;
  int t = 0;
  while (t + 1 < a.n && a.first_block[t + 1] <= b) t++;
  const int64_t start = (b - a.first_block[t]) * MT_CHUNK;
  int64_t end = start + MT_CHUNK;
  if (end > a.numel[t]) end = a.numel[t];
  T *p = (T *)a.ptr[0][t];
  const T *g = (const T *)a.ptr[1][t];
  T *s0 = (T *)a.ptr[2][t], *s1 = (T *)a.ptr[3][t], *s2 = (T *)a.ptr[4][t];
  double k0 = a.s0[t], k1 = a.s1[t];
  Alg alg = alg_in;
  if (alg.dev) alg.load(k0, k1); /* the same few words for every thread: served by the cache */
  for (int64_t i = start + threadIdx.x; i < end; i += blockDim.x) {
    double pv = (double)p[i], st[3];
    st[0] = s0 ? (double)s0[i] : 0;
    st[1] = s1 ? (double)s1[i] : 0;
    st[2] = s2 ? (double)s2[i] : 0;
    alg(pv, (double)g[i], st, s0 != NULL, s1 != NULL, s2 != NULL, k0, k1);
    p[i] = (T)pv;
    if (s0) s0[i] = (T)st[0];
    if (s1) s1[i] = (T)st[1];
    if (s2) s2[i] = (T)st[2];
  }
}

/* Runs `alg` over rows [0, n) of the given lists (lists[k] NULL when
 * absent), grouping rows of one dtype into launches of MT_TENSORS. */
template <typename Alg>
static lt_status mt_run(lt_cuda_ctx *c, int n, const lt_dtype *dtype, const int64_t *numel, void *const *const *lists,
                        const double *s0, const double *s1, const Alg &alg) {
  for (int i = 0; i < n; i++)
    if (dtype[i] != LT_FLOAT32 && dtype[i] != LT_FLOAT64)
      return lt_error_set(LT_ERR_RUNTIME, 0, "optimizer step on cuda: params[%d] is %s (float32 or float64 expected)",
                          i + 1, lt_dtype_name(dtype[i]));
  for (int pass = 0; pass < 2; pass++) {
    lt_dtype want = pass == 0 ? LT_FLOAT32 : LT_FLOAT64;
    MTArgs a;
    a.n = 0;
    int64_t blocks = 0;
    for (int i = 0; i <= n; i++) {
      bool flush = i == n || a.n == MT_TENSORS;
      if (flush && a.n > 0) {
        a.first_block[a.n] = blocks;
        if (want == LT_FLOAT32) mt_kernel<float, Alg><<<(unsigned)blocks, LT_CU_THREADS, 0, c->stream>>>(a, alg);
        else mt_kernel<double, Alg><<<(unsigned)blocks, LT_CU_THREADS, 0, c->stream>>>(a, alg);
        LT_CUDA_LAUNCHED(c, "mt_kernel");
        a.n = 0;
        blocks = 0;
      }
      if (i == n) break;
      if (dtype[i] != want || numel[i] == 0) continue;
      int t = a.n++;
      for (int k = 0; k < MT_LISTS; k++) a.ptr[k][t] = lists[k] ? lists[k][i] : NULL;
      a.numel[t] = numel[i];
      a.first_block[t] = blocks;
      a.s0[t] = s0 ? s0[i] : 0;
      a.s1[t] = s1 ? s1[i] : 0;
      blocks += (numel[i] + MT_CHUNK - 1) / MT_CHUNK;
    }
  }
  return LT_OK;
}

/* The lists as arrays of raw pointers for the multi-tensor kernels: row i of
 * list k at ptr[k*n + i] (NULL for an absent list), with each row's dtype
 * and element count (every list of a row shares them). */
typedef struct {
  lt_dtype *dtype;
  int64_t *numel;
  void **ptr;
} flat_lists;

static lt_status flatten(int n, lt_tensor *const *const *lists, int nl, flat_lists *f) {
  size_t rows = (size_t)(n ? n : 1);
  char *mem = (char *)malloc(rows * (sizeof(lt_dtype) + sizeof(int64_t) + MT_LISTS * sizeof(void *)));
  if (!mem) return lt_error_set(LT_ERR_OOM, 0, "out of host memory for %d parameters", n);
  f->ptr = (void **)mem;
  f->numel = (int64_t *)(mem + rows * MT_LISTS * sizeof(void *));
  f->dtype = (lt_dtype *)(f->numel + rows);
  for (int i = 0; i < n; i++) {
    f->dtype[i] = lists[0][i]->dtype;
    f->numel[i] = lt_tensor_numel(lists[0][i]);
  }
  for (int k = 0; k < MT_LISTS; k++)
    for (int i = 0; i < n; i++)
      f->ptr[(size_t)k * n + i] = k < nl && lists[k] ? lt_tensor_data(lists[k][i]) : NULL;
  return LT_OK;
}

/* the lists of f as mt_run takes them */
static void list_ptrs(const flat_lists *f, int n, void *const *out[MT_LISTS]) {
  for (int k = 0; k < MT_LISTS; k++) out[k] = f->ptr + (size_t)k * n;
}

/* The device scalars of lt_backend_optim.h, NULL when the step is by value. */
static const double *dev_scalars(const lt_tensor *scalars) {
  return scalars ? (const double *)lt_tensor_data(scalars) : NULL;
}

/* per-row scalars in a host array of n (freed by the caller) */
static double *scalars(int n) { return (double *)malloc(sizeof(double) * (size_t)(n > 0 ? n : 1)); }

extern "C" lt_status lt_cuda_sgd(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *buf,
                                 const bool *fresh, const lt_sgd_hparams *h) {
  if (n == 0) return LT_OK;
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(param[0], &c));
  bool has_buf = buf && h->momentum != 0;
  lt_tensor *const *in[3] = {param, grad, has_buf ? buf : NULL};
  flat_lists f;
  LT_TRY(flatten(n, in, 3, &f));
  double *fr = scalars(n);
  if (!fr) {
    free(f.ptr);
    return lt_error_set(LT_ERR_OOM, 0, "out of host memory");
  }
  for (int i = 0; i < n; i++) fr[i] = fresh && fresh[i] ? 1 : 0;
  void *const *lists[MT_LISTS];
  list_ptrs(&f, n, lists);
  if (!has_buf) lists[2] = NULL;
  lists[3] = lists[4] = NULL;
  SgdAlg alg = {*h, dev_scalars(h->scalars)};
  lt_status st = mt_run(c, n, f.dtype, f.numel, lists, fr, NULL, alg);
  free(fr);
  free(f.ptr);
  return st;
}

extern "C" lt_status lt_cuda_adam(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *exp_avg,
                                  lt_tensor *const *exp_avg_sq, lt_tensor *const *max_exp_avg_sq, const double *step,
                                  const lt_adam_hparams *h) {
  if (n == 0) return LT_OK;
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(param[0], &c));
  bool has_max = max_exp_avg_sq && h->amsgrad;
  lt_tensor *const *in[5] = {param, grad, exp_avg, exp_avg_sq, has_max ? max_exp_avg_sq : NULL};
  flat_lists f;
  LT_TRY(flatten(n, in, 5, &f));
  double *ss = scalars(n), *bc = scalars(n);
  if (!ss || !bc) {
    free(ss);
    free(bc);
    free(f.ptr);
    return lt_error_set(LT_ERR_OOM, 0, "out of host memory");
  }
  for (int i = 0; i < n; i++) lt_adam_factors(h, step[i], &ss[i], &bc[i]);
  void *const *lists[MT_LISTS];
  list_ptrs(&f, n, lists);
  if (!has_max) lists[4] = NULL;
  AdamAlg alg = {*h, dev_scalars(h->scalars)};
  lt_status st = mt_run(c, n, f.dtype, f.numel, lists, ss, bc, alg);
  free(ss);
  free(bc);
  free(f.ptr);
  return st;
}

extern "C" lt_status lt_cuda_rmsprop(int n, lt_tensor *const *param, lt_tensor *const *grad,
                                     lt_tensor *const *square_avg, lt_tensor *const *grad_avg, lt_tensor *const *buf,
                                     const lt_rmsprop_hparams *h) {
  if (n == 0) return LT_OK;
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(param[0], &c));
  bool has_avg = grad_avg && h->centered, has_buf = buf && h->momentum > 0;
  lt_tensor *const *in[5] = {param, grad, square_avg, has_avg ? grad_avg : NULL, has_buf ? buf : NULL};
  flat_lists f;
  LT_TRY(flatten(n, in, 5, &f));
  void *const *lists[MT_LISTS];
  list_ptrs(&f, n, lists);
  if (!has_avg) lists[3] = NULL;
  if (!has_buf) lists[4] = NULL;
  RmspropAlg alg = {*h, dev_scalars(h->scalars)};
  lt_status st = mt_run(c, n, f.dtype, f.numel, lists, NULL, NULL, alg);
  free(f.ptr);
  return st;
}

extern "C" lt_status lt_cuda_adadelta(int n, lt_tensor *const *param, lt_tensor *const *grad,
                                      lt_tensor *const *square_avg, lt_tensor *const *acc_delta,
                                      const lt_adadelta_hparams *h) {
  if (n == 0) return LT_OK;
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(param[0], &c));
  lt_tensor *const *in[4] = {param, grad, square_avg, acc_delta};
  flat_lists f;
  LT_TRY(flatten(n, in, 4, &f));
  void *const *lists[MT_LISTS];
  list_ptrs(&f, n, lists);
  lists[4] = NULL;
  AdadeltaAlg alg = {*h, dev_scalars(h->scalars)};
  lt_status st = mt_run(c, n, f.dtype, f.numel, lists, NULL, NULL, alg);
  free(f.ptr);
  return st;
}

extern "C" lt_status lt_cuda_adagrad(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *sum,
                                     const double *step, const lt_adagrad_hparams *h) {
  if (n == 0) return LT_OK;
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(param[0], &c));
  lt_tensor *const *in[3] = {param, grad, sum};
  flat_lists f;
  LT_TRY(flatten(n, in, 3, &f));
  double *clr = scalars(n);
  if (!clr) {
    free(f.ptr);
    return lt_error_set(LT_ERR_OOM, 0, "out of host memory");
  }
  for (int i = 0; i < n; i++) clr[i] = lt_adagrad_factors(h, step[i]);
  void *const *lists[MT_LISTS];
  list_ptrs(&f, n, lists);
  lists[3] = lists[4] = NULL;
  AdagradAlg alg = {*h, dev_scalars(h->scalars)};
  lt_status st = mt_run(c, n, f.dtype, f.numel, lists, clr, NULL, alg);
  free(clr);
  free(f.ptr);
  return st;
}

struct ScalarArgs {
  double v[LT_OPTIM_SCALARS];
};

__global__ void scalars_kernel(double *dst, ScalarArgs a, int n) {
  if ((int)threadIdx.x < n) dst[threadIdx.x] = a.v[threadIdx.x];
}

/* dst[0..n) = v[0..n) (n <= LT_OPTIM_SCALARS), the values passed as kernel
 * parameters so that a captured graph writes them at each replay */
extern "C" lt_status lt_cuda_optim_write_scalars(lt_tensor *dst, const double *v, int n) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(dst, &c));
  if (n <= 0) return LT_OK;
  if (n > LT_OPTIM_SCALARS)
    return lt_error_set(LT_ERR_RUNTIME, 0, "optimizer scalars: %d values, at most %d fit", n, LT_OPTIM_SCALARS);
  ScalarArgs a;
  for (int i = 0; i < LT_OPTIM_SCALARS; i++) a.v[i] = i < n ? v[i] : 0;
  scalars_kernel<<<1, LT_OPTIM_SCALARS, 0, c->stream>>>((double *)lt_tensor_data(dst), a, n);
  LT_CUDA_LAUNCHED(c, "scalars_kernel");
  return LT_OK;
}
