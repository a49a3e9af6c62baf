/* lt_cuda_loss.cu — the CUDA kernels of the loss family (lt_ops_loss.c):
 * negative log-likelihood, fused cross-entropy and the pointwise losses.
 * Like the CPU's, they compute per element (the reduction over the batch is
 * the op layer's): nll in double, the pointwise losses in the compute type
 * (float for float32 and the 16-bit types), cross-entropy as below.
 *
 * Fused cross-entropy: the forward reads each
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
          s += m_exp(d);
          if (eps > 0) wsh += (w ? (A)ld_c(w[k + j]) : A(1)) * d;
        }
      }
    }
    s = group_red<false>(s, g, sm);
    if (eps > 0) wsh = group_red<false>(wsh, g, sm);
    if (live && lane == 0) {
      A lsum = m_log(s);
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
        A p = m_exp((A)ld_c(a.v[j]) - l);
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
      sum += m_exp(d);
      if (eps > 0) wsh += (w ? (A)ld_c(w[c]) : A(1)) * d;
    }
    A lsum = m_log(sum);
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
      A p = m_exp((A)ld_c(x[base + c * S]) - l);
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

/* --- negative log-likelihood ----------------------------------------------------------------------------------------- */
/* logp [N,C,S], target [N,S] -> loss, wt [N,S]; a bad label is recorded for
 * the host and its loss set to NaN */
template <typename T>
__global__ void nll_fwd_k(T *loss, T *wt, const T *logp, const int64_t *target, Param w, int64_t N, int64_t C,
                          int64_t S, double smoothing, int64_t ignore, lt_cuda_derr *err) {
  const int64_t M = N * S;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < M; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t t = target[i], n = i / S, s = i - n * S, base = n * C * S + s;
    if (t == ignore) {
      loss[i] = St<T>::f(0.0);
      wt[i] = St<T>::f(0.0);
      continue;
    }
    if (t < 0 || t >= C) {
      derr_record(err, LT_CU_DERR_TARGET, LT_CU_OP_NLL_LOSS, t, i, C);
      loss[i] = St<T>::f((double)NAN);
      wt[i] = St<T>::f(0.0);
      continue;
    }
    double wi = w.at(t, 1.0), l = -wi * (double)ld_c(logp[base + t * S]);
    if (smoothing > 0) {
      double sm = 0;
      for (int64_t k = 0; k < C; k++) sm -= w.at(k, 1.0) * (double)ld_c(logp[base + k * S]);
      l = (1 - smoothing) * l + smoothing / (double)C * sm;
    }
    loss[i] = St<T>::f(l);
    wt[i] = St<T>::f(wi);
  }
}

/* glogp [N,C,S], one thread per element */
template <typename T>
__global__ void nll_bwd_k(T *glogp, const T *g, int64_t gs, const int64_t *target, Param w, int64_t N, int64_t C,
                          int64_t S, double smoothing, int64_t ignore) {
  const int64_t total = N * C * S;
  const double ks = smoothing / (double)C;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    int64_t s = e % S, k = (e / S) % C, n = e / (S * C), i = n * S + s, t = target[i];
    double v = 0;
    if (t != ignore && t >= 0 && t < C) {
      double gi = (double)ld_c(g[i * gs]);
      if (ks > 0) v = -gi * ks * w.at(k, 1.0);
      if (k == t) v -= gi * (1 - smoothing) * w.at(t, 1.0);
    }
    glogp[e] = St<T>::f(v);
  }
}

extern "C" lt_status lt_cuda_nll_loss_forward(lt_tensor *loss, lt_tensor *wt, const lt_tensor *logp,
                                              const lt_tensor *target, const lt_tensor *weight, double smoothing,
                                              int64_t ignore_index) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(logp, &c));
  int64_t N = logp->shape[0], C = logp->shape[1], S = logp->shape[2], M = N * S;
  if (M == 0) return LT_OK;
  LT_CU_DISPATCH_FLOAT(logp->dtype, T,
    nll_fwd_k<T><<<grid_for(c, M, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (T *)data_of(loss), (T *)data_of(wt), (const T *)data_of(logp), (const int64_t *)data_of(target), param_of(weight), N, C,
        S, smoothing, ignore_index, c->derr));
  LT_CUDA_LAUNCHED(c, "nll_fwd_k");
  return LT_OK;
}

extern "C" lt_status lt_cuda_nll_loss_backward(lt_tensor *glogp, const lt_tensor *g, const lt_tensor *target,
                                               const lt_tensor *weight, double smoothing, int64_t ignore_index) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(glogp, &c));
  int64_t N = glogp->shape[0], C = glogp->shape[1], S = glogp->shape[2], total = N * C * S;
  if (total == 0) return LT_OK;
  int64_t gs = numel_of(g) == 1 ? 0 : 1;
  LT_CU_DISPATCH_FLOAT(glogp->dtype, T,
    nll_bwd_k<T><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (T *)data_of(glogp), (const T *)data_of(g), gs, (const int64_t *)data_of(target), param_of(weight), N, C, S,
        smoothing, ignore_index));
  LT_CUDA_LAUNCHED(c, "nll_bwd_k");
  return LT_OK;
}

/* --- pointwise losses (all contiguous, of one shape) ------------------------------------------------------------ */
/* log(1 + exp(-x)) without overflow */
template <typename C> __device__ __forceinline__ C softplus_neg(C x) {
  return m_log1p(m_exp(-m_fabs(x))) + (x < C(0) ? -x : C(0));
}
template <typename C> __device__ __forceinline__ C sigmoid_stable(C x) {
  if (x >= C(0)) return C(1) / (C(1) + m_exp(-x));
  C e = m_exp(x);
  return e / (C(1) + e);
}

template <typename T>
__global__ void ploss_fwd(int kind, T *loss, const T *x, const T *y, const T *w, const T *pw, int64_t n) {
  typedef typename Compute<T>::type C;
  int64_t tid = blockIdx.x * (int64_t)blockDim.x + threadIdx.x, step = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = tid; i < n; i += step) {
    C a = ld_c(x[i]), b = ld_c(y[i]), l;
    if (kind == LT_PLOSS_MSE) {
      l = (a - b) * (a - b);
    } else if (kind == LT_PLOSS_L1) {
      l = m_fabs(a - b);
    } else {
      C p = pw ? ld_c(pw[i]) : C(1);
      l = (C(1) - b) * a + (C(1) + (p - C(1)) * b) * softplus_neg(a);
      if (w) l *= ld_c(w[i]);
    }
    loss[i] = St<T>::f(l);
  }
}

template <typename T>
__global__ void ploss_bwd(int kind, T *gx, T *gy, const T *g, int64_t gs, const T *x, const T *y, const T *w,
                          const T *pw, int64_t n) {
  typedef typename Compute<T>::type C;
  int64_t tid = blockIdx.x * (int64_t)blockDim.x + threadIdx.x, step = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = tid; i < n; i += step) {
    C a = ld_c(x[i]), b = ld_c(y[i]), gi = ld_c(g[i * gs]), da, db;
    if (kind == LT_PLOSS_MSE) {
      da = C(2) * (a - b);
      db = -da;
    } else if (kind == LT_PLOSS_L1) {
      C d = a - b;
      da = d != d ? d : (C)((a > b) - (a < b));
      db = -da;
    } else {
      C p = pw ? ld_c(pw[i]) : C(1), wi = w ? ld_c(w[i]) : C(1);
      C L = C(1) + (p - C(1)) * b;
      da = wi * ((C(1) - b) - L * sigmoid_stable(-a));
      db = wi * (-a + (p - C(1)) * softplus_neg(a));
    }
    if (gx) gx[i] = St<T>::f(gi * da);
    if (gy) gy[i] = St<T>::f(gi * db);
  }
}

static_assert(LT_PLOSS_COUNT == 3, "a new pointwise loss: give ploss_fwd and ploss_bwd its case, then count it here");

extern "C" lt_status lt_cuda_pointwise_loss_forward(lt_pointwise_loss kind, lt_tensor *loss, const lt_tensor *x,
                                                    const lt_tensor *y, const lt_tensor *w, const lt_tensor *pw) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  int64_t n = numel_of(loss);
  if (n == 0) return LT_OK;
  LT_CU_DISPATCH_FLOAT(loss->dtype, T,
    ploss_fwd<T><<<grid_for(c, n, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        kind, (T *)data_of(loss), (const T *)data_of(x), (const T *)data_of(y), w ? (const T *)data_of(w) : NULL,
        pw ? (const T *)data_of(pw) : NULL, n));
  LT_CUDA_LAUNCHED(c, "ploss_fwd");
  return LT_OK;
}

extern "C" lt_status lt_cuda_pointwise_loss_backward(lt_pointwise_loss kind, lt_tensor *gx, lt_tensor *gy,
                                                     const lt_tensor *g, const lt_tensor *x, const lt_tensor *y,
                                                     const lt_tensor *w, const lt_tensor *pw) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  int64_t n = numel_of(x);
  if (n == 0 || (!gx && !gy)) return LT_OK;
  int64_t gs = numel_of(g) == 1 ? 0 : 1;
  LT_CU_DISPATCH_FLOAT(x->dtype, T,
    ploss_bwd<T><<<grid_for(c, n, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        kind, gx ? (T *)data_of(gx) : NULL, gy ? (T *)data_of(gy) : NULL, (const T *)data_of(g), gs, (const T *)data_of(x),
        (const T *)data_of(y), w ? (const T *)data_of(w) : NULL, pw ? (const T *)data_of(pw) : NULL, n));
  LT_CUDA_LAUNCHED(c, "ploss_bwd");
  return LT_OK;
}
