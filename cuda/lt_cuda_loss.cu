/* lt_cuda_loss.cu — fused cross-entropy on the GPU: the forward reads each
 * row of logits twice (maximum, then the sums) and writes the loss, the
 * target weight and the row's log-sum-exp; the backward reads the logits
 * once more and writes (softmax·K - q)·g in the same pass, with softmax
 * rebuilt from the saved log-sum-exp. Contract: cross_entropy_forward/
 * backward in lt_backend_nn.h (logits [N,C,S], contiguous).
 *
 * S == 1 (the usual [N,C] logits): a warp per row, or the whole block for
 * rows of 1024 classes and more, with 16-byte loads when the row length and
 * the pointers allow them. S > 1: a thread per (n, s), striding by S along
 * the classes (neighbouring threads read neighbouring addresses). Sums are
 * float for float32/bfloat16/float16 logits and double for float64, with the
 * row maximum subtracted first (NaN wins, an all -inf row gives NaN, as
 * log_softmax); the per-row combination into the loss is in double. A class
 * label out of range is recorded in the device error record (reported at the
 * next synchronisation, as nll_loss does) and gives a NaN loss.
 * Not here: the reduction over the batch (the op layer's). */
#include <math.h>

#include "lt_cuda_common.cuh"

/* The log-sum-exp's element type: double for every dtype (lt_backend_nn.h). */
template <typename T> struct Lse { typedef double type; };

__device__ __forceinline__ float c_exp(float v) { return expf(v); }
__device__ __forceinline__ double c_exp(double v) { return exp(v); }
__device__ __forceinline__ float c_log(float v) { return logf(v); }
__device__ __forceinline__ double c_log(double v) { return log(v); }

template <typename A> __device__ __forceinline__ A max_nan(A a, A b) { return b > a || b != b ? b : a; }

/* Max or sum over a group of g threads (a warp, or the whole block when
 * g > 32, which then has one row per block); every thread gets the result.
 * The leading __syncthreads keeps a previous reduction's readers of `sm`
 * ahead of this one's writers. */
template <bool IsMax, typename A> __device__ __forceinline__ A group_red(A v, int g, A *sm) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    A u = __shfl_xor_sync(0xffffffffu, v, o);
    v = IsMax ? max_nan(v, u) : v + u;
  }
  if (g <= 32) return v;
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) sm[w] = v;
  __syncthreads();
  A r = sm[0];
  for (int i = 1; i < nw; i++) r = IsMax ? max_nan(r, sm[i]) : r + sm[i];
  return r;
}

/* sum_c w[c] (C without weights) over the whole block; every thread of the
 * block must call it. */
template <typename T, typename A> __device__ A weight_total(const T *w, int64_t C) {
  __shared__ A sm[32];
  if (!w) return A(C);
  A v = 0;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) v += ld_c(w[c]);
  return group_red<false>(v, 64, sm); /* 64: any g > 32 selects the block-wide path */
}

/* One row's loss from its reductions (double, like the CPU):
 * lsum = lse - mx, xt_sh = x[t] - mx, wsh = sum_c w[c]*(x[c] - mx). */
__device__ __forceinline__ double row_loss(double lsum, double xt_sh, double wt, double W, double wsh, double eps,
                                           int64_t C) {
  double l = wt * (lsum - xt_sh);
  if (eps > 0) l = (1 - eps) * l + eps / (double)C * (W * lsum - wsh);
  return l;
}

/* --- S == 1: a group of g threads per row --------------------------------------------------------------
 * V elements per load: 16 bytes when C % V == 0 and x is 16-byte aligned
 * (then every row start is), else 1. */
template <typename T, int V>
__global__ void ce_fwd_rows_k(T *loss, T *wt, typename Lse<T>::type *lse, const T *x, const int64_t *target,
                              const T *w, int64_t rows, int64_t C, double eps, int64_t ignore, int g,
                              lt_cuda_derr *err) {
  typedef typename Compute<T>::type A;
  __shared__ A sm[32];
  const A W = eps > 0 ? weight_total<T, A>(w, C) : A(0);
  const int per_block = blockDim.x / g, lane = threadIdx.x % g;
  for (int64_t r0 = (int64_t)blockIdx.x * per_block; r0 < rows; r0 += (int64_t)gridDim.x * per_block) {
    int64_t row = r0 + threadIdx.x / g;
    bool live = row < rows; /* uniform over a group: warps share a row, block groups have one */
    const T *xr = x + (live ? row : 0) * C;
    A mx = -INFINITY;
    if (live) {
      for (int64_t k = (int64_t)lane * V; k < C; k += (int64_t)g * V) {
        Vec<T, V> a = *reinterpret_cast<const Vec<T, V> *>(xr + k);
#pragma unroll
        for (int j = 0; j < V; j++) mx = max_nan(mx, (A)ld_c(a.v[j]));
      }
    }
    mx = group_red<true>(mx, g, sm);
    if (isinf(mx) && mx < 0) mx = 0; /* all -inf: lse = -inf and a NaN loss, as log_softmax + nll */
    A s = 0, wsh = 0;
    if (live) {
      for (int64_t k = (int64_t)lane * V; k < C; k += (int64_t)g * V) {
        Vec<T, V> a = *reinterpret_cast<const Vec<T, V> *>(xr + k);
#pragma unroll
        for (int j = 0; j < V; j++) {
          A d = (A)ld_c(a.v[j]) - mx;
          s += c_exp(d);
          if (eps > 0) wsh += (w ? (A)ld_c(w[k + j]) : A(1)) * d;
        }
      }
    }
    s = group_red<false>(s, g, sm);
    if (eps > 0) wsh = group_red<false>(wsh, g, sm);
    if (live && lane == 0) {
      A lsum = c_log(s);
      lse[row] = (typename Lse<T>::type)(mx + lsum);
      int64_t t = target[row];
      if (t == ignore) {
        loss[row] = St<T>::f(0.0);
        wt[row] = St<T>::f(0.0);
      } else if (t < 0 || t >= C) {
        derr_record(err, LT_CU_DERR_TARGET, LT_CU_OP_CROSS_ENTROPY, t, row, C);
        loss[row] = St<T>::f((double)NAN);
        wt[row] = St<T>::f(0.0);
      } else {
        double wv = w ? (double)ld_c(w[t]) : 1.0;
        double xt = (double)((A)ld_c(xr[t]) - mx);
        loss[row] = St<T>::f(row_loss((double)lsum, xt, wv, (double)W, (double)wsh, eps, C));
        wt[row] = St<T>::f(wv);
      }
    }
  }
}

template <typename T, int V>
__global__ void ce_bwd_rows_k(T *gx, const T *g, int64_t gs, const T *x, const typename Lse<T>::type *lse,
                              const int64_t *target, const T *w, int64_t rows, int64_t C, double eps, int64_t ignore,
                              int grp) {
  typedef typename Compute<T>::type A;
  const A W = eps > 0 ? weight_total<T, A>(w, C) : A(0);
  const A ks = (A)(eps / (double)C);
  const int per_block = blockDim.x / grp, lane = threadIdx.x % grp;
  /* no group reductions below: rows need not be group-uniform here */
  for (int64_t row = (int64_t)blockIdx.x * per_block + threadIdx.x / grp; row < rows;
       row += (int64_t)gridDim.x * per_block) {
    const T *xr = x + row * C;
    T *gr = gx + row * C;
    int64_t t = target[row];
    if (t == ignore || t < 0 || t >= C) {
      for (int64_t k = (int64_t)lane * V; k < C; k += (int64_t)grp * V) {
        Vec<T, V> o;
#pragma unroll
        for (int j = 0; j < V; j++) o.v[j] = St<T>::f(A(0));
        *reinterpret_cast<Vec<T, V> *>(gr + k) = o;
      }
      continue;
    }
    const A gi = (A)ld_c(g[row * gs]), l = (A)lse[row];
    const A wt = (A)(1 - eps) * (w ? (A)ld_c(w[t]) : A(1));
    const A K = wt + ks * W; /* sum_c q[c] */
    for (int64_t k = (int64_t)lane * V; k < C; k += (int64_t)grp * V) {
      Vec<T, V> a = *reinterpret_cast<const Vec<T, V> *>(xr + k), o;
#pragma unroll
      for (int j = 0; j < V; j++) {
        int64_t c = k + j;
        A p = c_exp((A)ld_c(a.v[j]) - l);
        A q = (eps > 0 ? ks * (w ? (A)ld_c(w[c]) : A(1)) : A(0)) + (c == t ? wt : A(0));
        o.v[j] = St<T>::f(gi * (p * K - q));
      }
      *reinterpret_cast<Vec<T, V> *>(gr + k) = o;
    }
  }
}

/* --- S > 1: a thread per (n, s) ---------------------------------------------------------------------------- */
template <typename T>
__global__ void ce_fwd_cols_k(T *loss, T *wt, typename Lse<T>::type *lse, const T *x, const int64_t *target,
                              const T *w, int64_t N, int64_t C, int64_t S, double eps, int64_t ignore,
                              lt_cuda_derr *err) {
  typedef typename Compute<T>::type A;
  const A W = eps > 0 ? weight_total<T, A>(w, C) : A(0);
  const int64_t M = N * S;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < M; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t n = i / S, s = i - n * S;
    const T *xc = x + n * C * S + s;
    A mx = -INFINITY;
    for (int64_t c = 0; c < C; c++) mx = max_nan(mx, (A)ld_c(xc[c * S]));
    if (isinf(mx) && mx < 0) mx = 0;
    A sum = 0, wsh = 0;
    for (int64_t c = 0; c < C; c++) {
      A d = (A)ld_c(xc[c * S]) - mx;
      sum += c_exp(d);
      if (eps > 0) wsh += (w ? (A)ld_c(w[c]) : A(1)) * d;
    }
    A lsum = c_log(sum);
    lse[i] = (typename Lse<T>::type)(mx + lsum);
    int64_t t = target[i];
    if (t == ignore) {
      loss[i] = St<T>::f(0.0);
      wt[i] = St<T>::f(0.0);
    } else if (t < 0 || t >= C) {
      derr_record(err, LT_CU_DERR_TARGET, LT_CU_OP_CROSS_ENTROPY, t, i, C);
      loss[i] = St<T>::f((double)NAN);
      wt[i] = St<T>::f(0.0);
    } else {
      double wv = w ? (double)ld_c(w[t]) : 1.0;
      double xt = (double)((A)ld_c(xc[t * S]) - mx);
      loss[i] = St<T>::f(row_loss((double)lsum, xt, wv, (double)W, (double)wsh, eps, C));
      wt[i] = St<T>::f(wv);
    }
  }
}

template <typename T>
__global__ void ce_bwd_cols_k(T *gx, const T *g, int64_t gs, const T *x, const typename Lse<T>::type *lse,
                              const int64_t *target, const T *w, int64_t N, int64_t C, int64_t S, double eps,
                              int64_t ignore) {
  typedef typename Compute<T>::type A;
  const A W = eps > 0 ? weight_total<T, A>(w, C) : A(0);
  const A ks = (A)(eps / (double)C);
  const int64_t M = N * S;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < M; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t n = i / S, s = i - n * S, t = target[i], base = n * C * S + s;
    if (t == ignore || t < 0 || t >= C) {
      for (int64_t c = 0; c < C; c++) gx[base + c * S] = St<T>::f(A(0));
      continue;
    }
    const A gi = (A)ld_c(g[i * gs]), l = (A)lse[i];
    const A wt = (A)(1 - eps) * (w ? (A)ld_c(w[t]) : A(1));
    const A K = wt + ks * W;
    for (int64_t c = 0; c < C; c++) {
      A p = c_exp((A)ld_c(x[base + c * S]) - l);
      A q = (eps > 0 ? ks * (w ? (A)ld_c(w[c]) : A(1)) : A(0)) + (c == t ? wt : A(0));
      gx[base + c * S] = St<T>::f(gi * (p * K - q));
    }
  }
}

/* --- launchers ------------------------------------------------------------------------------------------------ */
/* threads per row: a warp for short rows, the block for long ones */
static int row_group(int64_t C) { return C >= 1024 ? LT_CU_THREADS : 32; }

/* 16-byte accesses when every row starts on a 16-byte boundary */
template <typename T> static bool can_vec(int64_t C, const void *a, const void *b) {
  const int V = 16 / (int)sizeof(T);
  return C % V == 0 && aligned16(a, 16) && (!b || aligned16(b, 16));
}

template <typename T>
static lt_status ce_fwd(lt_cuda_ctx *c, const lt_tensor *loss, const lt_tensor *wt,
                        const lt_tensor *lse, const lt_tensor *x, const lt_tensor *target,
                        const lt_tensor *weight, double eps, int64_t ignore) {
  typedef typename Lse<T>::type L;
  int64_t N = x->shape[0], C = x->shape[1], S = x->shape[2];
  T *lp = (T *)data_of(loss), *wp = (T *)data_of(wt);
  L *sp = (L *)data_of(lse);
  const T *xp = (const T *)data_of(x), *w = weight ? (const T *)data_of(weight) : NULL;
  const int64_t *tp = (const int64_t *)data_of(target);
  if (S == 1) {
    int g = row_group(C), per = LT_CU_THREADS / g;
    unsigned grid = grid_for(c, (N + per - 1) / per, 1);
    if (can_vec<T>(C, xp, NULL)) {
      ce_fwd_rows_k<T, (int)(16 / sizeof(T))><<<grid, LT_CU_THREADS, 0, c->stream>>>(lp, wp, sp, xp, tp, w, N, C, eps,
                                                                                 ignore, g, c->derr);
    } else {
      ce_fwd_rows_k<T, 1><<<grid, LT_CU_THREADS, 0, c->stream>>>(lp, wp, sp, xp, tp, w, N, C, eps, ignore, g, c->derr);
    }
    LT_CUDA_LAUNCHED(c, "ce_fwd_rows_k");
  } else {
    ce_fwd_cols_k<T><<<grid_for(c, N * S, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(lp, wp, sp, xp, tp, w, N, C,
                                                                                          S, eps, ignore, c->derr);
    LT_CUDA_LAUNCHED(c, "ce_fwd_cols_k");
  }
  return LT_OK;
}

template <typename T>
static lt_status ce_bwd(lt_cuda_ctx *c, const lt_tensor *gx, const lt_tensor *g, const lt_tensor *x,
                        const lt_tensor *lse, const lt_tensor *target, const lt_tensor *weight,
                        double eps, int64_t ignore) {
  typedef typename Lse<T>::type L;
  int64_t N = x->shape[0], C = x->shape[1], S = x->shape[2];
  int64_t gs = numel_of(g) == 1 ? 0 : 1;
  T *op = (T *)data_of(gx);
  const T *gp = (const T *)data_of(g), *xp = (const T *)data_of(x), *w = weight ? (const T *)data_of(weight) : NULL;
  const L *sp = (const L *)data_of(lse);
  const int64_t *tp = (const int64_t *)data_of(target);
  if (S == 1) {
    int grp = row_group(C), per = LT_CU_THREADS / grp;
    unsigned grid = grid_for(c, (N + per - 1) / per, 1);
    if (can_vec<T>(C, xp, op)) {
      ce_bwd_rows_k<T, (int)(16 / sizeof(T))><<<grid, LT_CU_THREADS, 0, c->stream>>>(op, gp, gs, xp, sp, tp, w, N, C, eps,
                                                                                 ignore, grp);
    } else {
      ce_bwd_rows_k<T, 1><<<grid, LT_CU_THREADS, 0, c->stream>>>(op, gp, gs, xp, sp, tp, w, N, C, eps, ignore, grp);
    }
    LT_CUDA_LAUNCHED(c, "ce_bwd_rows_k");
  } else {
    ce_bwd_cols_k<T><<<grid_for(c, N * S, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(op, gp, gs, xp, sp, tp, w, N,
                                                                                          C, S, eps, ignore);
    LT_CUDA_LAUNCHED(c, "ce_bwd_cols_k");
  }
  return LT_OK;
}

extern "C" lt_status lt_cuda_cross_entropy_forward(lt_tensor *loss, lt_tensor *wt, lt_tensor *lse, const lt_tensor *x,
                                                   const lt_tensor *target, const lt_tensor *weight, double smoothing,
                                                   int64_t ignore_index) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  if (x->shape[0] * x->shape[2] == 0) return LT_OK;
  LT_CU_DISPATCH_FLOAT(x->dtype, T, return ce_fwd<T>(c, loss, wt, lse, x, target, weight, smoothing, ignore_index));
  return LT_OK;
}

extern "C" lt_status lt_cuda_cross_entropy_backward(lt_tensor *gx, const lt_tensor *g, const lt_tensor *x,
                                                    const lt_tensor *lse, const lt_tensor *target,
                                                    const lt_tensor *weight, double smoothing, int64_t ignore_index) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  if (x->shape[0] * x->shape[1] * x->shape[2] == 0) return LT_OK;
  LT_CU_DISPATCH_FLOAT(x->dtype, T, return ce_bwd<T>(c, gx, g, x, lse, target, weight, smoothing, ignore_index));
  return LT_OK;
}
