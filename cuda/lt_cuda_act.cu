/* lt_cuda_act.cu — the CUDA kernels of the act family (lt_ops_act.c):
 * activation gradients, dropout masks and softmax/log_softmax, forward and
 * backward. The activations' forwards are elementwise unary kernels
 * (lt_cuda_elementwise.cu).
 *
 * Activation gradients take any strides (a flat path when every operand is
 * one contiguous run, else strided offsets, as the elementwise kernels).
 * Dropout masks are Philox fills with the CPU's element-to-block mapping, so
 * a mask equals the CPU's for the same seed. Softmax works on [outer, n,
 * inner]: a warp or a block per row when inner == 1, a thread per column
 * otherwise. Sums are float for float32/bfloat16/float16 and double for
 * float64, with the row maximum subtracted first. */
#include <math.h>

#include "lt_cuda_common.cuh"

/* --- activation gradients: gx = gy * f'(x) ------------------------------------------------------------------------ */
template <typename C> __device__ __forceinline__ C act_grad(int act, C x, C slope) {
  const C one = 1, zero = 0, half = 0.5;
  switch (act) {
    case LT_ACT_RELU: return x <= zero ? zero : one; /* act_backward selects instead */
    case LT_ACT_LEAKY_RELU: return x > zero ? one : slope;
    case LT_ACT_GELU: {
      C cdf = half * (one + m_erf(x * (C)0.7071067811865476));
      C pdf = (C)0.3989422804014327 * m_exp(-half * x * x);
      return cdf + x * pdf;
    }
    case LT_ACT_GELU_TANH: {
      const C k = (C)0.7978845608028654, a = (C)0.044715;
      C t = m_tanh(k * (x + a * x * x * x));
      return half * (one + t) + half * x * (one - t * t) * k * (one + (C)3 * a * x * x);
    }
    default: { /* SILU */
      C s = x >= zero ? one / (one + m_exp(-x)) : m_exp(x) / (one + m_exp(x));
      return s * (one + x * (one - s));
    }
  }
}

/* gy * f'(x), except that ReLU selects: where x <= 0 the gradient is 0 even
 * for an infinite or NaN gy, and elsewhere (a NaN x too) it is gy, as the
 * CPU and PyTorch's threshold_backward. */
template <typename C> __device__ __forceinline__ C act_backward(int act, C gy, C x, C slope) {
  if (act == LT_ACT_RELU) return x <= (C)0 ? (C)0 : gy;
  return gy * act_grad<C>(act, x, slope);
}

template <typename T, int N>
__global__ void act_flat(int act, T *gx, const T *gy, const T *x, int64_t n, double slope) {
  typedef typename Compute<T>::type C;
  int64_t tid = blockIdx.x * (int64_t)blockDim.x + threadIdx.x, step = (int64_t)gridDim.x * blockDim.x;
  int64_t nv = n / N;
  for (int64_t v = tid; v < nv; v += step) {
    Vec<T, N> g = reinterpret_cast<const Vec<T, N> *>(gy)[v], xv = reinterpret_cast<const Vec<T, N> *>(x)[v], r;
#pragma unroll
    for (int j = 0; j < N; j++) r.v[j] = St<T>::f(act_backward<C>(act, ld_c(g.v[j]), ld_c(xv.v[j]), (C)slope));
    reinterpret_cast<Vec<T, N> *>(gx)[v] = r;
  }
  for (int64_t i = nv * N + tid; i < n; i += step)
    gx[i] = St<T>::f(act_backward<C>(act, ld_c(gy[i]), ld_c(x[i]), (C)slope));
}

template <typename T, typename I>
__global__ void act_strided(int act, T *gx, const T *gy, const T *x, Geo<3> g, int64_t n, double slope) {
  typedef typename Compute<T>::type C;
  I tid = (I)(blockIdx.x * blockDim.x + threadIdx.x), step = (I)(gridDim.x * blockDim.x);
  for (I i = tid; i < (I)n; i += step) {
    int64_t off[3];
    geo_off<3, I>(g, i, off);
    gx[off[0]] = St<T>::f(act_backward<C>(act, ld_c(gy[off[1]]), ld_c(x[off[2]]), (C)slope));
  }
}

template <typename T>
static lt_status act_run(lt_cuda_ctx *c, int act, const lt_tensor *gx, const lt_tensor *gy,
                         const lt_tensor *x, double slope) {
  Geo<3> g;
  const lt_tensor *ops[3] = {gx, gy, x};
  int64_t n = geo_build<3>(g, ops);
  if (n == 0) return LT_OK;
  const int N = 16 / sizeof(T);
  if (geo_flat(g, 0, false) && geo_flat(g, 1, false) && geo_flat(g, 2, false) && aligned16(data_of(gx), 16) &&
      aligned16(data_of(gy), 16) && aligned16(data_of(x), 16)) {
    act_flat<T, N><<<grid_for(c, (n + N - 1) / N, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        act, (T *)data_of(gx), (const T *)data_of(gy), (const T *)data_of(x), n, slope);
    LT_CUDA_LAUNCHED(c, "act_flat");
  } else if (n < INT32_MAX) {
    act_strided<T, uint32_t><<<grid_for(c, n, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        act, (T *)data_of(gx), (const T *)data_of(gy), (const T *)data_of(x), g, n, slope);
    LT_CUDA_LAUNCHED(c, "act_strided");
  } else {
    act_strided<T, uint64_t><<<grid_for(c, n, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        act, (T *)data_of(gx), (const T *)data_of(gy), (const T *)data_of(x), g, n, slope);
    LT_CUDA_LAUNCHED(c, "act_strided");
  }
  return LT_OK;
}

static_assert(LT_ACT_COUNT == 5, "a new activation: give act_grad its case, then count it here");

extern "C" lt_status lt_cuda_activation_backward(lt_activation act, lt_tensor *gx, const lt_tensor *gy,
                                                 const lt_tensor *x, double param) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(gx, &c));
  LT_CU_DISPATCH_FLOAT(gx->dtype, T, return act_run<T>(c, act, gx, gy, x, param));
  return LT_OK;
}

/* --- dropout masks ----------------------------------------------------------------------------------------- */
/* mask[i] = u_i >= p ? 1/(1-p) : 0, u as lt_philox.h defines it for the
 * mask's dtype (float64: 32-bit uniform in double; otherwise float32's). */
__global__ void dropout_k(char *mask, lt_dtype odt, int64_t n, uint64_t seed, uint64_t first, double p, double scale) {
  const size_t es = lt_cvt_dtype_size(odt);
  const float pf = (float)p, sf = (float)scale;
  for_each_word(n, seed, first, [=](int64_t i, const lt_philox4 &w, int j) {
    char *o = mask + i * (int64_t)es;
    if (odt == LT_FLOAT64) *(double *)o = lt_philox_u01d(w.w[j]) >= p ? scale : 0.0;
    else if (odt == LT_FLOAT32) *(float *)o = lt_philox_u01f(w.w[j]) >= pf ? sf : 0.0f;
    else lt_cvt_store_f64(o, odt, lt_philox_u01f(w.w[j]) >= pf ? (double)sf : 0.0);
  });
}

extern "C" lt_status lt_cuda_dropout_mask(lt_tensor *mask, double p, uint64_t seed, uint64_t first_block) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(mask, &c));
  if (lt_cuda_capturing()) return lt_cuda_graph_refuse("dropout on the GPU (a random mask)", LT_CUDA_RNG_WHY);
  int64_t n = numel_of(mask);
  if (n == 0) return LT_OK;
  int64_t nblocks = (n + 3) / 4;
  dropout_k<<<grid_for(c, nblocks, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
      data_of(mask), mask->dtype, n, seed, first_block, p, 1.0 / (1.0 - p));
  LT_CUDA_LAUNCHED(c, "dropout_k");
  return LT_OK;
}

/* --- softmax ----------------------------------------------------------------------------------------------------------- */
/* The reductions of a row: max (NaN wins) and sum, each with the value
 * its block-level combination starts from. */
template <typename A> struct MaxNaN {
  static __device__ __forceinline__ A start() { return A(-INFINITY); }
  static __device__ __forceinline__ A f(A a, A b) { return b > a || b != b ? b : a; }
};
template <typename A> struct Sum {
  static __device__ __forceinline__ A start() { return A(0); }
  static __device__ __forceinline__ A f(A a, A b) { return a + b; }
};

/* Op over a group of `g` threads (a warp, or the block when g > 32); every
 * thread of the group gets the result. */
template <template <typename> class Op, typename A> __device__ __forceinline__ A group_reduce(A v, int g, A *sm) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = Op<A>::f(v, __shfl_xor_sync(0xffffffffu, v, o));
  if (g <= 32) return v;
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) sm[w] = v;
  __syncthreads();
  A r = Op<A>::start();
  for (int i = 0; i < nw; i++) r = Op<A>::f(r, sm[i]);
  return r;
}

/* inner == 1: rows of n contiguous elements; `g` threads (32, or the whole
 * block) per row, blockDim.x / g rows per block. */
template <typename T>
__global__ void softmax_rows_k(T *y, const T *x, int64_t rows, int64_t n, bool log, int g) {
  typedef typename Compute<T>::type A;
  __shared__ A sm[32];
  const int per_block = blockDim.x / g, lane = threadIdx.x % g;
  for (int64_t r0 = (int64_t)blockIdx.x * per_block; r0 < rows; r0 += (int64_t)gridDim.x * per_block) {
    int64_t row = r0 + threadIdx.x / g;
    bool live = row < rows; /* whole warps share `live`; block groups have one row */
    const T *xr = x + (live ? row : 0) * n;
    A mx = -INFINITY;
    if (live)
      for (int64_t k = lane; k < n; k += g) {
        A v = ld_c(xr[k]);
        if (v > mx || v != v) mx = v;
      }
    mx = group_reduce<MaxNaN>(mx, g, sm);
    if (isinf(mx) && mx < 0) mx = 0; /* an all -inf row gives NaN below, as PyTorch */
    A s = 0;
    if (live)
      for (int64_t k = lane; k < n; k += g) s += m_exp(ld_c(xr[k]) - mx);
    s = group_reduce<Sum>(s, g, sm);
    if (live) {
      T *yr = y + row * n;
      if (log) {
        A lse = mx + m_log(s);
        for (int64_t k = lane; k < n; k += g) yr[k] = St<T>::f(ld_c(xr[k]) - lse);
      } else {
        A inv = A(1) / s;
        for (int64_t k = lane; k < n; k += g) yr[k] = St<T>::f(m_exp(ld_c(xr[k]) - mx) * inv);
      }
    }
  }
}

/* inner > 1: one thread per column (o, i), striding by inner along n. */
template <typename T>
__global__ void softmax_cols_k(T *y, const T *x, int64_t outer, int64_t n, int64_t inner, bool log) {
  typedef typename Compute<T>::type A;
  const int64_t cols = outer * inner;
  for (int64_t col = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; col < cols; col += (int64_t)gridDim.x * blockDim.x) {
    int64_t base = (col / inner) * n * inner + col % inner;
    A mx = -INFINITY;
    for (int64_t k = 0; k < n; k++) {
      A v = ld_c(x[base + k * inner]);
      if (v > mx || v != v) mx = v;
    }
    if (isinf(mx) && mx < 0) mx = 0;
    A s = 0;
    for (int64_t k = 0; k < n; k++) s += m_exp(ld_c(x[base + k * inner]) - mx);
    if (log) {
      A lse = mx + m_log(s);
      for (int64_t k = 0; k < n; k++) y[base + k * inner] = St<T>::f(ld_c(x[base + k * inner]) - lse);
    } else {
      A inv = A(1) / s;
      for (int64_t k = 0; k < n; k++) y[base + k * inner] = St<T>::f(m_exp(ld_c(x[base + k * inner]) - mx) * inv);
    }
  }
}

/* backward: log: gx = gy - exp(y) * sum(gy); softmax: gx = y * (gy - sum(gy*y)) */
template <typename T>
__global__ void softmax_bwd_rows_k(T *gx, const T *gy, const T *y, int64_t rows, int64_t n, bool log, int g) {
  typedef typename Compute<T>::type A;
  __shared__ A sm[32];
  const int per_block = blockDim.x / g, lane = threadIdx.x % g;
  for (int64_t r0 = (int64_t)blockIdx.x * per_block; r0 < rows; r0 += (int64_t)gridDim.x * per_block) {
    int64_t row = r0 + threadIdx.x / g;
    bool live = row < rows;
    int64_t off = (live ? row : 0) * n;
    A s = 0;
    if (live)
      for (int64_t k = lane; k < n; k += g) s += log ? ld_c(gy[off + k]) : ld_c(gy[off + k]) * ld_c(y[off + k]);
    s = group_reduce<Sum>(s, g, sm);
    if (live)
      for (int64_t k = lane; k < n; k += g) {
        A gv = ld_c(gy[off + k]), yv = ld_c(y[off + k]);
        gx[off + k] = St<T>::f(log ? gv - m_exp(yv) * s : yv * (gv - s));
      }
  }
}

template <typename T>
__global__ void softmax_bwd_cols_k(T *gx, const T *gy, const T *y, int64_t outer, int64_t n, int64_t inner, bool log) {
  typedef typename Compute<T>::type A;
  const int64_t cols = outer * inner;
  for (int64_t col = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; col < cols; col += (int64_t)gridDim.x * blockDim.x) {
    int64_t base = (col / inner) * n * inner + col % inner;
    A s = 0;
    for (int64_t k = 0; k < n; k++) {
      int64_t i = base + k * inner;
      s += log ? ld_c(gy[i]) : ld_c(gy[i]) * ld_c(y[i]);
    }
    for (int64_t k = 0; k < n; k++) {
      int64_t i = base + k * inner;
      A gv = ld_c(gy[i]), yv = ld_c(y[i]);
      gx[i] = St<T>::f(log ? gv - m_exp(yv) * s : yv * (gv - s));
    }
  }
}

/* threads per row: a warp for short rows, a block of 256 for long ones */
static int row_group(int64_t n) { return n >= 1024 ? LT_CU_THREADS : 32; }

template <typename T>
static lt_status softmax_fwd(lt_cuda_ctx *c, const lt_tensor *y, const lt_tensor *x, int64_t outer, int64_t n,
                             int64_t inner, bool log) {
  if (outer * n * inner == 0) return LT_OK;
  if (inner == 1) {
    int g = row_group(n), per = LT_CU_THREADS / g;
    softmax_rows_k<T><<<grid_for(c, (outer + per - 1) / per, 1), LT_CU_THREADS, 0, c->stream>>>(
        (T *)data_of(y), (const T *)data_of(x), outer, n, log, g);
    LT_CUDA_LAUNCHED(c, "softmax_rows_k");
  } else {
    softmax_cols_k<T><<<grid_for(c, outer * inner, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (T *)data_of(y), (const T *)data_of(x), outer, n, inner, log);
    LT_CUDA_LAUNCHED(c, "softmax_cols_k");
  }
  return LT_OK;
}

template <typename T>
static lt_status softmax_bwd(lt_cuda_ctx *c, const lt_tensor *gx, const lt_tensor *gy,
                             const lt_tensor *y, int64_t outer, int64_t n, int64_t inner, bool log) {
  if (outer * n * inner == 0) return LT_OK;
  if (inner == 1) {
    int g = row_group(n), per = LT_CU_THREADS / g;
    softmax_bwd_rows_k<T><<<grid_for(c, (outer + per - 1) / per, 1), LT_CU_THREADS, 0, c->stream>>>(
        (T *)data_of(gx), (const T *)data_of(gy), (const T *)data_of(y), outer, n, log, g);
    LT_CUDA_LAUNCHED(c, "softmax_bwd_rows_k");
  } else {
    softmax_bwd_cols_k<T><<<grid_for(c, outer * inner, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (T *)data_of(gx), (const T *)data_of(gy), (const T *)data_of(y), outer, n, inner, log);
    LT_CUDA_LAUNCHED(c, "softmax_bwd_cols_k");
  }
  return LT_OK;
}

extern "C" lt_status lt_cuda_softmax_forward(lt_tensor *y, const lt_tensor *x, int64_t outer, int64_t n, int64_t inner,
                                             bool log) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  LT_CU_DISPATCH_FLOAT(x->dtype, T, return softmax_fwd<T>(c, y, x, outer, n, inner, log));
  return LT_OK;
}

extern "C" lt_status lt_cuda_softmax_backward(lt_tensor *gx, const lt_tensor *gy, const lt_tensor *y, int64_t outer,
                                              int64_t n, int64_t inner, bool log) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(gx, &c));
  LT_CU_DISPATCH_FLOAT(y->dtype, T, return softmax_bwd<T>(c, gx, gy, y, outer, n, inner, log));
  return LT_OK;
}
