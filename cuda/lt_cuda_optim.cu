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
 * one tensor. The per-element arithmetic is the CPU backend's
 * (src/cpu/lt_cpu_optim.c), in double with one rounding per stored value.
 *
 * With device scalars (h->dev, lt_backend_optim.h) every thread reads the
 * hyper-parameters and the step count from device memory when the kernel
 * runs and forms the per-step factors (Adam's bias corrections, Adagrad's
 * decayed lr) itself, so a step captured in a CUDA graph follows a learning
 * rate schedule: the values are written before each replay by a one-thread-
 * block kernel whose parameters carry them (lt_cuda_optim_scalars_k). */
#include <math.h>

#include "lt_cuda_common.cuh"

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

/* torch.maximum: NaN when either is */
__device__ __forceinline__ double nan_max(double a, double b) { return (a != a || b != b) ? NAN : (a > b ? a : b); }

/* Each algorithm: st[0..2] are the state lists 2..4 of its call. */
struct SgdAlg {
  lt_cu_sgd h;
  __device__ void load(double &, double &) {
    const double *d = h.dev;
    h.lr = d[0], h.momentum = d[1], h.dampening = d[2], h.weight_decay = d[3];
  }
  __device__ void operator()(double &p, double g, double *st, bool has_st0, bool, bool, double fresh, double) const {
    if (h.maximize) g = -g;
    if (h.weight_decay != 0) g += h.weight_decay * p;
    if (h.momentum != 0 && has_st0) {
      double b = fresh != 0 ? g : h.momentum * st[0] + (1 - h.dampening) * g;
      st[0] = b;
      g = h.nesterov ? g + h.momentum * b : b;
    }
    p += -h.lr * g;
  }
};

struct AdamAlg {
  lt_cu_adam h;
  /* k0: step size lr / (1 - beta1^step), k1: sqrt(1 - beta2^step), as the host forms them */
  __device__ void load(double &k0, double &k1) {
    const double *d = h.dev;
    h.lr = d[0], h.beta1 = d[1], h.beta2 = d[2], h.eps = d[3], h.weight_decay = d[4];
    double step = d[5];
    k0 = h.lr / (1 - pow(h.beta1, step));
    k1 = sqrt(1 - pow(h.beta2, step));
  }
  __device__ void operator()(double &p, double g, double *st, bool, bool, bool has_max, double step_size,
                             double bc2_sqrt) const {
    if (h.maximize) g = -g;
    if (h.weight_decay != 0) {
      if (h.decoupled) p *= 1 - h.lr * h.weight_decay;
      else g += h.weight_decay * p;
    }
    st[0] += (1 - h.beta1) * (g - st[0]);
    st[1] = st[1] * h.beta2 + (1 - h.beta2) * (g * g);
    double s = st[1];
    if (has_max) s = st[2] = nan_max(st[2], st[1]);
    double denom = sqrt(s) / bc2_sqrt + h.eps;
    p += -step_size * (st[0] / denom);
  }
};

struct RmspropAlg {
  lt_cu_rmsprop h;
  __device__ void load(double &, double &) {
    const double *d = h.dev;
    h.lr = d[0], h.alpha = d[1], h.eps = d[2], h.weight_decay = d[3], h.momentum = d[4];
  }
  __device__ void operator()(double &p, double g, double *st, bool, bool has_avg, bool has_buf, double, double) const {
    if (h.maximize) g = -g;
    if (h.weight_decay != 0) g += h.weight_decay * p;
    st[0] = st[0] * h.alpha + (1 - h.alpha) * (g * g);
    double avg;
    if (has_avg) {
      st[1] += (1 - h.alpha) * (g - st[1]);
      avg = sqrt(st[0] - st[1] * st[1]) + h.eps;
    } else {
      avg = sqrt(st[0]) + h.eps;
    }
    if (has_buf) {
      st[2] = st[2] * h.momentum + g / avg;
      p += -h.lr * st[2];
    } else {
      p += -h.lr * (g / avg);
    }
  }
};

struct AdadeltaAlg {
  lt_cu_adadelta h;
  __device__ void load(double &, double &) {
    const double *d = h.dev;
    h.lr = d[0], h.rho = d[1], h.eps = d[2], h.weight_decay = d[3];
  }
  __device__ void operator()(double &p, double g, double *st, bool, bool, bool, double, double) const {
    if (h.maximize) g = -g;
    if (h.weight_decay != 0) g += h.weight_decay * p;
    st[0] = st[0] * h.rho + (1 - h.rho) * (g * g);
    double sd = sqrt(st[0] + h.eps);
    double delta = sqrt(st[1] + h.eps) / sd * g;
    st[1] = st[1] * h.rho + (1 - h.rho) * (delta * delta);
    p += -h.lr * delta;
  }
};

struct AdagradAlg {
  lt_cu_adagrad h;
  /* k0: lr / (1 + (step - 1) * lr_decay) */
  __device__ void load(double &k0, double &) {
    const double *d = h.dev;
    h.lr = d[0], h.lr_decay = d[1], h.weight_decay = d[2], h.eps = d[3];
    k0 = h.lr / (1 + (d[4] - 1) * h.lr_decay);
  }
  __device__ void operator()(double &p, double g, double *st, bool, bool, bool, double clr, double) const {
    if (h.maximize) g = -g;
    if (h.weight_decay != 0) g += h.weight_decay * p;
    st[0] += g * g;
    double sd = sqrt(st[0]) + h.eps;
    p += -clr * (g / sd);
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
  if (alg.h.dev) alg.load(k0, k1); /* the same few words for every thread: served by the cache */
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

/* per-row scalars in a host array of n (freed by the caller) */
static double *scalars(int n) { return (double *)malloc(sizeof(double) * (size_t)(n > 0 ? n : 1)); }

extern "C" lt_status lt_cuda_sgd_k(lt_cuda_ctx *c, int n, const lt_dtype *dtype, const int64_t *numel,
                                   void *const *param, void *const *grad, void *const *buf, const bool *fresh,
                                   const lt_cu_sgd *h) {
  double *f = scalars(n);
  if (!f) return lt_error_set(LT_ERR_OOM, 0, "out of host memory");
  for (int i = 0; i < n; i++) f[i] = fresh && fresh[i] ? 1 : 0;
  void *const *lists[MT_LISTS] = {param, grad, buf, NULL, NULL};
  SgdAlg alg = {*h};
  lt_status st = mt_run(c, n, dtype, numel, lists, f, NULL, alg);
  free(f);
  return st;
}

extern "C" lt_status lt_cuda_adam_k(lt_cuda_ctx *c, int n, const lt_dtype *dtype, const int64_t *numel,
                                    void *const *param, void *const *grad, void *const *exp_avg,
                                    void *const *exp_avg_sq, void *const *max_exp_avg_sq, const double *step,
                                    const lt_cu_adam *h) {
  double *ss = scalars(n), *bc = scalars(n);
  if (!ss || !bc) {
    free(ss);
    free(bc);
    return lt_error_set(LT_ERR_OOM, 0, "out of host memory");
  }
  for (int i = 0; i < n; i++) {
    ss[i] = h->lr / (1 - pow(h->beta1, step[i]));
    bc[i] = sqrt(1 - pow(h->beta2, step[i]));
  }
  void *const *lists[MT_LISTS] = {param, grad, exp_avg, exp_avg_sq, h->amsgrad ? max_exp_avg_sq : NULL};
  AdamAlg alg = {*h};
  lt_status st = mt_run(c, n, dtype, numel, lists, ss, bc, alg);
  free(ss);
  free(bc);
  return st;
}

extern "C" lt_status lt_cuda_rmsprop_k(lt_cuda_ctx *c, int n, const lt_dtype *dtype, const int64_t *numel,
                                       void *const *param, void *const *grad, void *const *square_avg,
                                       void *const *grad_avg, void *const *buf, const lt_cu_rmsprop *h) {
  void *const *lists[MT_LISTS] = {param, grad, square_avg, h->centered ? grad_avg : NULL,
                                  h->momentum > 0 ? buf : NULL};
  RmspropAlg alg = {*h};
  return mt_run(c, n, dtype, numel, lists, NULL, NULL, alg);
}

extern "C" lt_status lt_cuda_adadelta_k(lt_cuda_ctx *c, int n, const lt_dtype *dtype, const int64_t *numel,
                                        void *const *param, void *const *grad, void *const *square_avg,
                                        void *const *acc_delta, const lt_cu_adadelta *h) {
  void *const *lists[MT_LISTS] = {param, grad, square_avg, acc_delta, NULL};
  AdadeltaAlg alg = {*h};
  return mt_run(c, n, dtype, numel, lists, NULL, NULL, alg);
}

extern "C" lt_status lt_cuda_adagrad_k(lt_cuda_ctx *c, int n, const lt_dtype *dtype, const int64_t *numel,
                                       void *const *param, void *const *grad, void *const *sum, const double *step,
                                       const lt_cu_adagrad *h) {
  double *clr = scalars(n);
  if (!clr) return lt_error_set(LT_ERR_OOM, 0, "out of host memory");
  for (int i = 0; i < n; i++) clr[i] = h->lr / (1 + (step[i] - 1) * h->lr_decay);
  void *const *lists[MT_LISTS] = {param, grad, sum, NULL, NULL};
  AdagradAlg alg = {*h};
  lt_status st = mt_run(c, n, dtype, numel, lists, clr, NULL, alg);
  free(clr);
  return st;
}

struct ScalarArgs {
  double v[LT_CU_OPTIM_SCALARS];
};

__global__ void scalars_kernel(double *dst, ScalarArgs a, int n) {
  if ((int)threadIdx.x < n) dst[threadIdx.x] = a.v[threadIdx.x];
}

extern "C" lt_status lt_cuda_optim_scalars_k(lt_cuda_ctx *c, double *dst, const double *v, int n) {
  if (n <= 0) return LT_OK;
  if (n > LT_CU_OPTIM_SCALARS)
    return lt_error_set(LT_ERR_RUNTIME, 0, "optimizer scalars: %d values, at most %d fit", n, LT_CU_OPTIM_SCALARS);
  ScalarArgs a;
  for (int i = 0; i < LT_CU_OPTIM_SCALARS; i++) a.v[i] = i < n ? v[i] : 0;
  scalars_kernel<<<1, LT_CU_OPTIM_SCALARS, 0, c->stream>>>(dst, a, n);
  LT_CUDA_LAUNCHED(c, "scalars_kernel");
  return LT_OK;
}
