/* lt_cuda_nn.cu — the nn kernels of the CUDA backend that are not cuDNN
 * convolutions: batch normalisation (forward with the running-statistics
 * update, backward), the per-channel sum (a convolution's bias gradient) and
 * bias add, 2-D max/average/adaptive pooling, softmax/log_softmax and the
 * negative log-likelihood with class weights and label smoothing.
 * Contracts: lt_backend_nn.h ([N,C,S] for batch norm). Activation-shaped
 * tensors are contiguous (NCHW) or channels-last (NHWC, [N,C,S] strides
 * (C*S, 1, C)); every kernel reads the layout from the strides of the
 * call's main tensor and indexes in memory order, so both run without a
 * transpose.
 *
 * Batch norm runs in three steps: a per-channel reduction (blocks over
 * channel x slice of the N*S elements, sums in double, shifted by the
 * channel's first element so E[x^2] - E[x]^2 does not cancel; in NHWC a
 * block covers 32 neighbouring channels x a chunk of rows, so a warp reads
 * 32 consecutive elements), a tiny
 * per-channel kernel that combines the slices, writes mean/invstd and the
 * running statistics and turns them into y = a[c]*x + b[c], and an
 * elementwise pass. Pooling backward gathers (each input sums the outputs
 * whose window covers it), so it is deterministic, except max pooling,
 * whose kernel gets only the argmax indices and scatters with atomics.
 * Softmax works on [outer, n, inner]: a warp or a block per row when
 * inner == 1, a thread per column otherwise. Sums are float for
 * float32/bfloat16/float16 and double for float64, with the row maximum
 * subtracted first; the losses compute in double like the CPU. */
#include <math.h>

#include "lt_cuda_common.cuh"

/* --- block reductions ------------------------------------------------------------------------------------- */
__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return v;
}

/* Sums (a, b) over the block; the result is valid in thread 0. blockDim.x
 * is a multiple of 32 and at most 1024. */
__device__ __forceinline__ void block_sum2(double &a, double &b) {
  __shared__ double sa[32], sb[32];
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  a = warp_sum(a);
  b = warp_sum(b);
  __syncthreads(); /* sa/sb may still be read by a previous call */
  if (lane == 0) {
    sa[w] = a;
    sb[w] = b;
  }
  __syncthreads();
  if (w == 0) {
    a = lane < nw ? sa[lane] : 0;
    b = lane < nw ? sb[lane] : 0;
    a = warp_sum(a);
    b = warp_sum(b);
  }
}

/* --- per-channel sums over [N,C,S] ------------------------------------------------------------------------------
 * mode 0: (sum(x - K), sum((x - K)^2)), K = the channel's first element
 * mode 1: (sum(gy), sum(gy * (x - mean[c])))
 * mode 2: (sum(x), 0)
 * part[y*C + c] receives slice y's two sums. */
enum { CS_MOMENTS = 0, CS_GRADS = 1, CS_SUM = 2 };

/* The moments' shift from the channel's first element: the element itself
 * when finite, else 0 (an infinite shift would turn x - K into NaN for the
 * channel's other infinities and the mean into NaN where the CPU's two-pass
 * mean is +-inf). chan_stats and bn_fwd_finalize_k must agree on it. */
__device__ __forceinline__ double moment_shift(double first) { return isfinite(first) ? first : 0.0; }

/* The shift of channel c: moment_shift of its first element x[first]
 * (moments, M > 0) or mean[c] (grads), else 0. Both layouts share it and
 * cs_accum. */
template <typename T>
__device__ __forceinline__ double cs_shift(int mode, const T *x, int64_t first, int64_t M, const char *mean,
                                           lt_dtype mdt, int64_t c) {
  if (mode == CS_MOMENTS && M > 0) return moment_shift((double)ld_c(x[first]));
  if (mode == CS_GRADS) return lt_cvt_load_f64(mean + c * (int64_t)lt_cvt_dtype_size(mdt), mdt);
  return 0;
}

/* Adds element off (x, and gy for the grads) to the sums of `mode`. */
template <typename T>
__device__ __forceinline__ void cs_accum(int mode, const T *x, const T *gy, int64_t off, double shift, double &s1,
                                         double &s2) {
  double v = (double)ld_c(x[off]);
  if (mode == CS_MOMENTS) {
    double d = v - shift;
    s1 += d;
    s2 += d * d;
  } else if (mode == CS_GRADS) {
    double g = (double)ld_c(gy[off]);
    s1 += g;
    s2 += g * (v - shift);
  } else {
    s1 += v;
  }
}

template <typename T>
__global__ void chan_stats_k(int mode, const T *x, const T *gy, const char *mean, lt_dtype mdt, int64_t N, int64_t C,
                             int64_t S, int64_t chunk, double2 *part) {
  const int64_t c = blockIdx.x, M = N * S;
  const int64_t e0 = (int64_t)blockIdx.y * chunk, e1 = e0 + chunk < M ? e0 + chunk : M;
  const double shift = cs_shift(mode, x, c * S, M, mean, mdt, c);
  double s1 = 0, s2 = 0;
  for (int64_t e = e0 + threadIdx.x; e < e1; e += blockDim.x) {
    int64_t n = e / S, s = e - n * S;
    cs_accum(mode, x, gy, (n * C + c) * S + s, shift, s1, s2);
  }
  block_sum2(s1, s2);
  if (threadIdx.x == 0) part[(int64_t)blockIdx.y * C + c] = make_double2(s1, s2);
}

/* The same sums over a channels-last [N,C,S]: M = N*S rows of C channels.
 * Block (32, CL_ROWS): threadIdx.x picks one of the block's 32 channels,
 * threadIdx.y a phase of the rows of chunk blockIdx.y. */
#define CL_ROWS 8
template <typename T>
__global__ void chan_stats_cl_k(int mode, const T *x, const T *gy, const char *mean, lt_dtype mdt, int64_t M, int64_t C,
                                int64_t chunk, double2 *part) {
  __shared__ double sa[CL_ROWS][33], sb[CL_ROWS][33];
  const int64_t c = (int64_t)blockIdx.x * 32 + threadIdx.x;
  const int64_t r0 = (int64_t)blockIdx.y * chunk, r1 = r0 + chunk < M ? r0 + chunk : M;
  double s1 = 0, s2 = 0;
  if (c < C) {
    const double shift = cs_shift(mode, x, c, M, mean, mdt, c); /* row 0: the channel's first element */
    for (int64_t r = r0 + threadIdx.y; r < r1; r += CL_ROWS) cs_accum(mode, x, gy, r * C + c, shift, s1, s2);
  }
  sa[threadIdx.y][threadIdx.x] = s1;
  sb[threadIdx.y][threadIdx.x] = s2;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    for (int k = 1; k < CL_ROWS; k++) {
      s1 += sa[k][threadIdx.x];
      s2 += sb[k][threadIdx.x];
    }
    part[(int64_t)blockIdx.y * C + c] = make_double2(s1, s2);
  }
}

/* Whether a [N,C,S] (or [N,C,H,W]) tensor is laid out channels-last. The
 * ambiguous cases (C == 1, S == 1) have the same memory in both layouts. */
static bool is_cl(const lt_tensor *t) {
  int64_t S = 1;
  for (int d = 2; d < t->ndim; d++) S *= t->shape[d];
  return t->ndim >= 3 && t->shape[1] > 1 && S > 1 && t->stride[1] == 1;
}

/* Launches chan_stats_k or chan_stats_cl_k (x's layout; gy shares it);
 * *part receives [splits][C] (caller frees). */
/* How many blocks share the M rows of each of `units` column groups: enough
 * for ~4 blocks per SM, none with fewer than `min_rows` rows, at most 65535
 * (gridDim.y). Returns the count; *chunk gets the rows per block. */
static int64_t row_splits(const lt_cuda_ctx *c, int64_t M, int64_t units, int64_t min_rows, int64_t *chunk) {
  int64_t want = (int64_t)c->sm_count * 4;
  int64_t s = units >= want ? 1 : (want + units - 1) / units;
  int64_t most = (M + min_rows - 1) / min_rows;
  if (s > most) s = most;
  if (s < 1) s = 1;
  if (s > 65535) s = 65535;
  *chunk = (M + s - 1) / s;
  if (*chunk < 1) *chunk = 1;
  s = (M + *chunk - 1) / *chunk;
  return s < 1 ? 1 : s;
}

template <typename T>
static lt_status chan_stats(lt_cuda_ctx *c, int mode, const lt_tensor *x, const lt_tensor *gy,
                            const lt_tensor *mean, int64_t N, int64_t C, int64_t S, double2 **part, int *splits) {
  if (is_cl(x)) {
    int64_t M = N * S, cb = (C + 31) / 32, chunk;
    int64_t s = row_splits(c, M, cb, 8 * CL_ROWS, &chunk); /* at least 8 rows per thread */
    if (cb > 0x7fffffff) return lt_error_set(LT_ERR_ARG, 0, "batch_norm on cuda: %lld channels are too many", (long long)C);
    LT_TRY(lt_cuda_malloc(c, sizeof(double2) * (size_t)(s * C), (void **)part));
    dim3 grid((unsigned)cb, (unsigned)s), block(32, CL_ROWS);
    chan_stats_cl_k<T><<<grid, block, 0, c->stream>>>(mode, (const T *)data_of(x), gy ? (const T *)data_of(gy) : NULL,
                                                      mean ? data_of(mean) : NULL, mean ? mean->dtype : LT_FLOAT32, M, C,
                                                      chunk, *part);
    lt_status st = lt_cuda_after_launch(c, "chan_stats_cl_k", __FILE__, __LINE__);
    if (st != LT_OK) {
      lt_cuda_free_async(c, *part);
      *part = NULL;
    }
    *splits = (int)s;
    return st;
  }
  int64_t M = N * S, chunk;
  int64_t s = row_splits(c, M, C, 4096, &chunk);
  LT_TRY(lt_cuda_malloc(c, sizeof(double2) * (size_t)(s * C), (void **)part));
  dim3 grid((unsigned)C, (unsigned)s);
  chan_stats_k<T><<<grid, LT_CU_THREADS, 0, c->stream>>>(mode, (const T *)data_of(x), gy ? (const T *)data_of(gy) : NULL,
                                                          mean ? data_of(mean) : NULL, mean ? mean->dtype : LT_FLOAT32,
                                                          N, C, S, chunk, *part);
  lt_status st = lt_cuda_after_launch(c, "chan_stats_k", __FILE__, __LINE__);
  if (st != LT_OK) {
    lt_cuda_free_async(c, *part);
    *part = NULL;
  }
  *splits = (int)s;
  return st;
}

/* An optional [C] tensor of any floating dtype, read at channel c. */
struct Param {
  const char *p;
  lt_dtype dt;
  __device__ __forceinline__ double at(int64_t c, double dflt) const {
    return p ? lt_cvt_load_f64(p + c * (int64_t)lt_cvt_dtype_size(dt), dt) : dflt;
  }
};
static Param param_of(const lt_tensor *t) {
  Param q;
  q.p = t ? data_of(t) : NULL;
  q.dt = t ? t->dtype : LT_FLOAT32;
  return q;
}

/* --- batch norm forward -------------------------------------------------------------------------------------------- */
/* One thread per channel: combine the slices, write mean/invstd and the
 * running statistics, and the coefficients of y = a*x + b. */
__global__ void bn_fwd_finalize_k(const double2 *part, int splits, const char *x0, lt_dtype xdt, int64_t C, int64_t cs,
                                  int64_t M, bool training, double momentum, double eps, Param w, Param b,
                                  char *rmean, char *rvar, lt_dtype rdt, char *mean, char *invstd, lt_dtype mdt,
                                  double2 *coef) {
  int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (c >= C) return;
  size_t res = lt_cvt_dtype_size(rdt), mes = lt_cvt_dtype_size(mdt);
  double mu, is;
  if (training) {
    double s1 = 0, s2 = 0;
    for (int y = 0; y < splits; y++) {
      s1 += part[(int64_t)y * C + c].x;
      s2 += part[(int64_t)y * C + c].y;
    }
    /* the shift chan_stats used: the channel's first element, at c * (x's channel stride) */
    double shift = M > 0 ? moment_shift(lt_cvt_load_f64(x0 + c * cs * (int64_t)lt_cvt_dtype_size(xdt), xdt)) : 0;
    double dm = M > 0 ? s1 / (double)M : NAN;
    mu = shift + dm;
    double ss = s2 - s1 * dm; /* sum of squared deviations from the mean */
    if (ss < 0) ss = 0;
    double var = M > 0 ? ss / (double)M : NAN;
    is = 1.0 / sqrt(var + eps);
    if (rmean) {
      char *p = rmean + c * (int64_t)res;
      lt_cvt_store_f64(p, rdt, (1 - momentum) * lt_cvt_load_f64(p, rdt) + momentum * mu);
    }
    if (rvar) {
      char *p = rvar + c * (int64_t)res;
      double unbiased = M > 1 ? ss / (double)(M - 1) : NAN;
      lt_cvt_store_f64(p, rdt, (1 - momentum) * lt_cvt_load_f64(p, rdt) + momentum * unbiased);
    }
  } else {
    mu = lt_cvt_load_f64(rmean + c * (int64_t)res, rdt);
    is = 1.0 / sqrt(lt_cvt_load_f64(rvar + c * (int64_t)res, rdt) + eps);
  }
  lt_cvt_store_f64(mean + c * (int64_t)mes, mdt, mu);
  lt_cvt_store_f64(invstd + c * (int64_t)mes, mdt, is);
  double a = w.at(c, 1.0) * is;
  coef[c] = make_double2(a, b.at(c, 0.0) - mu * a);
}

/* Element e (memory order) is in channel (e / D) % C: D = S in NCHW, 1 in
 * NHWC. PER: the V elements of a step may lie in different channels (NHWC);
 * otherwise D % V == 0 and a step never crosses channels. */
template <typename T, int V, bool PER>
__global__ void bn_apply_k(T *y, const T *x, const double2 *coef, int64_t C, int64_t D, int64_t total) {
  typedef typename Compute<T>::type Cm;
  const int64_t steps = total / V;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < steps; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t e = i * V;
    double2 k = coef[(e / D) % C];
    Vec<T, V> xv = reinterpret_cast<const Vec<T, V> *>(x)[i], r;
#pragma unroll
    for (int j = 0; j < V; j++) {
      if (PER && j > 0) k = coef[((e + j) / D) % C];
      r.v[j] = St<T>::f(ld_c(xv.v[j]) * (Cm)k.x + (Cm)k.y);
    }
    reinterpret_cast<Vec<T, V> *>(y)[i] = r;
  }
}

template <typename T>
static lt_status bn_forward(lt_cuda_ctx *c, const lt_tensor *y, const lt_tensor *mean,
                            const lt_tensor *invstd, const lt_tensor *x, const lt_tensor *weight,
                            const lt_tensor *bias, const lt_tensor *rmean, const lt_tensor *rvar,
                            bool training, double momentum, double eps) {
  int64_t N = x->shape[0], C = x->shape[1], S = x->shape[2], M = N * S, total = N * C * S;
  if (C == 0) return LT_OK;
  double2 *part = NULL, *coef = NULL;
  int splits = 1;
  if (training && M > 0) LT_TRY(chan_stats<T>(c, CS_MOMENTS, x, NULL, NULL, N, C, S, &part, &splits));
  lt_status st = lt_cuda_malloc(c, sizeof(double2) * (size_t)C, (void **)&coef);
  if (st == LT_OK) {
    /* with M == 0 the statistics are NaN, as on the CPU; no slices to combine */
    double2 *p = part;
    int sp = part ? splits : 0;
    bn_fwd_finalize_k<<<(unsigned)((C + 127) / 128), 128, 0, c->stream>>>(
        p, sp, data_of(x), x->dtype, C, x->stride[1], M, training, momentum, eps, param_of(weight), param_of(bias),
        rmean ? data_of(rmean) : NULL, rvar ? data_of(rvar) : NULL, rmean ? rmean->dtype : (rvar ? rvar->dtype : x->dtype),
        data_of(mean), data_of(invstd), mean->dtype, coef);
    st = lt_cuda_after_launch(c, "bn_fwd_finalize_k", __FILE__, __LINE__);
  }
  if (st == LT_OK && total > 0) {
    const int V = 16 / sizeof(T);
    const bool cl = is_cl(x);
    const int64_t D = cl ? 1 : S;
    bool vec = total % V == 0 && aligned16(data_of(x), 16) && aligned16(data_of(y), 16);
    if (vec && cl) {
      bn_apply_k<T, V, true><<<grid_for(c, total / V, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
          (T *)data_of(y), (const T *)data_of(x), coef, C, D, total);
    } else if (vec && D % V == 0) {
      bn_apply_k<T, V, false><<<grid_for(c, total / V, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
          (T *)data_of(y), (const T *)data_of(x), coef, C, D, total);
    } else {
      bn_apply_k<T, 1, false><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
          (T *)data_of(y), (const T *)data_of(x), coef, C, D, total);
    }
    st = lt_cuda_after_launch(c, "bn_apply_k", __FILE__, __LINE__);
  }
  lt_cuda_free_async(c, part);
  lt_cuda_free_async(c, coef);
  return st;
}

extern "C" lt_status lt_cuda_batch_norm_forward(lt_tensor *y, lt_tensor *mean, lt_tensor *invstd, const lt_tensor *x,
                                                const lt_tensor *weight, const lt_tensor *bias, lt_tensor *running_mean,
                                                lt_tensor *running_var, bool training, double momentum, double eps) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  if (!training && (!running_mean || !running_var))
    return lt_error_set(LT_ERR_RUNTIME, 0, "batch_norm kernel: evaluation needs the running statistics");
  LT_CU_DISPATCH_FLOAT(x->dtype, T,
                       return bn_forward<T>(c, y, mean, invstd, x, weight, bias, running_mean, running_var, training,
                                            momentum, eps));
  return LT_OK;
}

/* --- batch norm backward -------------------------------------------------------------------------------------------- */
struct Coef4 { double a, k1, k2, mu; };

/* coef[c]: gx = a*(gy - k1 - (x - mu)*k2) */
__global__ void bn_bwd_finalize_k(const double2 *part, int splits, int64_t C, int64_t M, bool training, Param w,
                                  Param mean, Param invstd, char *gw, char *gb, lt_dtype gdt, Coef4 *coef) {
  int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (c >= C) return;
  double sg = 0, sgx = 0;
  for (int y = 0; y < splits; y++) {
    sg += part[(int64_t)y * C + c].x;
    sgx += part[(int64_t)y * C + c].y;
  }
  double mu = mean.at(c, 0), is = invstd.at(c, 1);
  size_t ges = lt_cvt_dtype_size(gdt);
  if (gb) lt_cvt_store_f64(gb + c * (int64_t)ges, gdt, sg);
  if (gw) lt_cvt_store_f64(gw + c * (int64_t)ges, gdt, sgx * is);
  double a = w.at(c, 1.0) * is;
  double k1 = training && M > 0 ? sg / (double)M : 0, k2 = training && M > 0 ? is * is * sgx / (double)M : 0;
  if (coef) coef[c] = Coef4{a, k1, k2, mu};
}

/* V elements per step (16-byte accesses), channels as in bn_apply_k (PER:
 * the elements of a step may lie in different channels). */
template <typename T, int V, bool PER>
__global__ void bn_bwd_apply_k(T *gx, const T *gy, const T *x, const Coef4 *coef, int64_t C, int64_t D,
                               int64_t total) {
  typedef typename Compute<T>::type Cm;
  const int64_t steps = total / V;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < steps; i += (int64_t)gridDim.x * blockDim.x) {
    int64_t e = i * V;
    Coef4 k = coef[(e / D) % C];
    Vec<T, V> gv = reinterpret_cast<const Vec<T, V> *>(gy)[i], xv = reinterpret_cast<const Vec<T, V> *>(x)[i], r;
#pragma unroll
    for (int j = 0; j < V; j++) {
      if (PER && j > 0) k = coef[((e + j) / D) % C];
      Cm a = (Cm)k.a, k1 = (Cm)k.k1, k2 = (Cm)k.k2, mu = (Cm)k.mu;
      r.v[j] = St<T>::f(a * (ld_c(gv.v[j]) - k1 - (ld_c(xv.v[j]) - mu) * k2));
    }
    reinterpret_cast<Vec<T, V> *>(gx)[i] = r;
  }
}

template <typename T>
static lt_status bn_backward(lt_cuda_ctx *c, const lt_tensor *gx, const lt_tensor *gw,
                             const lt_tensor *gb, const lt_tensor *gy, const lt_tensor *x,
                             const lt_tensor *weight, const lt_tensor *mean, const lt_tensor *invstd,
                             bool training) {
  int64_t N = x->shape[0], C = x->shape[1], S = x->shape[2], M = N * S, total = N * C * S;
  if (C == 0) return LT_OK;
  double2 *part = NULL;
  Coef4 *coef = NULL;
  int splits = 0;
  bool need_sums = gw || gb || (gx && training);
  if (need_sums && M > 0) LT_TRY(chan_stats<T>(c, CS_GRADS, x, gy, mean, N, C, S, &part, &splits));
  lt_status st = LT_OK;
  if (gx) st = lt_cuda_malloc(c, sizeof(Coef4) * (size_t)C, (void **)&coef);
  if (st == LT_OK) {
    lt_dtype gdt = gw ? gw->dtype : (gb ? gb->dtype : x->dtype);
    bn_bwd_finalize_k<<<(unsigned)((C + 127) / 128), 128, 0, c->stream>>>(
        part, part ? splits : 0, C, M, training, param_of(weight), param_of(mean), param_of(invstd),
        gw ? data_of(gw) : NULL, gb ? data_of(gb) : NULL, gdt, coef);
    st = lt_cuda_after_launch(c, "bn_bwd_finalize_k", __FILE__, __LINE__);
  }
  if (st == LT_OK && gx && total > 0) {
    /* gy, x and gx share the layout (the op layer formats them alike) */
    const int V = 16 / sizeof(T);
    const bool cl = is_cl(x);
    const int64_t D = cl ? 1 : S;
    bool vec = total % V == 0 && aligned16(data_of(x), 16) && aligned16(data_of(gy), 16) && aligned16(data_of(gx), 16);
    T *o = (T *)data_of(gx);
    const T *g = (const T *)data_of(gy), *xs = (const T *)data_of(x);
    if (vec && cl) {
      bn_bwd_apply_k<T, V, true><<<grid_for(c, total / V, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
          o, g, xs, coef, C, D, total);
    } else if (vec && D % V == 0) {
      bn_bwd_apply_k<T, V, false><<<grid_for(c, total / V, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
          o, g, xs, coef, C, D, total);
    } else {
      bn_bwd_apply_k<T, 1, false><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
          o, g, xs, coef, C, D, total);
    }
    st = lt_cuda_after_launch(c, "bn_bwd_apply_k", __FILE__, __LINE__);
  }
  lt_cuda_free_async(c, part);
  lt_cuda_free_async(c, coef);
  return st;
}

extern "C" lt_status lt_cuda_batch_norm_backward(lt_tensor *gx, lt_tensor *gw, lt_tensor *gb, const lt_tensor *gy,
                                                 const lt_tensor *x, const lt_tensor *weight, const lt_tensor *mean,
                                                 const lt_tensor *invstd, bool training) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  LT_CU_DISPATCH_FLOAT(x->dtype, T, return bn_backward<T>(c, gx, gw, gb, gy, x, weight, mean, invstd, training));
  return LT_OK;
}

/* --- channel sums and bias add (convolution) -------------------------------------------------------------------- */
__global__ void chan_sum_finalize_k(const double2 *part, int splits, int64_t C, char *out, lt_dtype odt) {
  int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (c >= C) return;
  double s = 0;
  for (int y = 0; y < splits; y++) s += part[(int64_t)y * C + c].x;
  lt_cvt_store_f64(out + c * (int64_t)lt_cvt_dtype_size(odt), odt, s);
}

template <typename T> static lt_status channel_sum(lt_cuda_ctx *c, const lt_tensor *out, const lt_tensor *x) {
  int64_t N = x->shape[0], C = x->shape[1], S = 1;
  for (int d = 2; d < x->ndim; d++) S *= x->shape[d];
  if (C == 0) return LT_OK;
  double2 *part = NULL;
  int splits = 0;
  if (N * S > 0) LT_TRY(chan_stats<T>(c, CS_SUM, x, NULL, NULL, N, C, S, &part, &splits));
  chan_sum_finalize_k<<<(unsigned)((C + 127) / 128), 128, 0, c->stream>>>(part, part ? splits : 0, C, data_of(out),
                                                                           out->dtype);
  lt_status st = lt_cuda_after_launch(c, "chan_sum_finalize_k", __FILE__, __LINE__);
  lt_cuda_free_async(c, part);
  return st;
}

extern "C" lt_status lt_cuda_channel_sum_k(lt_cuda_ctx *c, const lt_tensor *out, const lt_tensor *x) {
  LT_CU_DISPATCH_FLOAT(x->dtype, T, return channel_sum<T>(c, out, x));
  return LT_OK;
}

/* y [N,C,H,W] with any strides += b[c] */
template <typename T>
__global__ void bias_add_k(T *y, const char *b, lt_dtype bdt, int64_t C, int64_t H, int64_t W, int64_t s0, int64_t s1,
                           int64_t s2, int64_t s3, int64_t total) {
  typedef typename Compute<T>::type Cm;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    int64_t w = e % W, h = (e / W) % H, ch = (e / (W * H)) % C, n = e / (W * H * C);
    T *p = y + n * s0 + ch * s1 + h * s2 + w * s3;
    *p = St<T>::f(ld_c(*p) + (Cm)lt_cvt_load_f64(b + ch * (int64_t)lt_cvt_dtype_size(bdt), bdt));
  }
}

extern "C" lt_status lt_cuda_bias_add_k(lt_cuda_ctx *c, const lt_tensor *y, const lt_tensor *b) {
  int64_t total = numel_of(y);
  if (total == 0) return LT_OK;
  LT_CU_DISPATCH_FLOAT(y->dtype, T,
    bias_add_k<T><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (T *)data_of(y), data_of(b), b->dtype, y->shape[1], y->shape[2], y->shape[3], y->stride[0], y->stride[1],
        y->stride[2], y->stride[3], total));
  LT_CUDA_LAUNCHED(c, "bias_add_k");
  return LT_OK;
}

/* --- pooling ---------------------------------------------------------------------------------------------------------- */
/* Kernel taps k in [lo, hi) land inside [0, in) from window start `start` (as the CPU's taps()). */
__device__ __forceinline__ void taps(int64_t start, int64_t in, int64_t k, int64_t d, int64_t *lo, int64_t *hi) {
  int64_t l = start < 0 ? (-start + d - 1) / d : 0;
  int64_t h = start >= in ? 0 : (in - start + d - 1) / d;
  if (h > k) h = k;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

/* Position of element e (memory order) of a [N,C,H,W] tensor, NCHW or
 * NHWC (cl), and where the (n, c) plane of another [N,C,H2,W2] tensor of
 * that layout starts; positions within a plane are `es` apart (1, or C).
 * The launchers take cl from either tensor of the call: an input or output
 * of one layout in both (C == 1, 1x1) is indexed alike either way. */
struct Pos { int64_t n, c, h, w; };
__device__ __forceinline__ Pos pos_of(int64_t e, bool cl, int64_t C, int64_t H, int64_t W) {
  Pos q;
  if (cl) {
    q.c = e % C;
    int64_t r = e / C;
    q.w = r % W;
    r /= W;
    q.h = r % H;
    q.n = r / H;
  } else {
    q.w = e % W;
    int64_t r = e / W;
    q.h = r % H;
    r /= H;
    q.c = r % C;
    q.n = r / C;
  }
  return q;
}
__device__ __forceinline__ int64_t plane_at(const Pos &q, bool cl, int64_t C, int64_t H2, int64_t W2) {
  return cl ? q.n * H2 * W2 * C + q.c : (q.n * C + q.c) * H2 * W2;
}

template <typename T>
__global__ void max_pool_fwd_k(T *y, int64_t *idx, const T *x, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                               lt_pool2d_params p, int64_t C, bool cl) {
  const int64_t total = P * OH * OW, es = cl ? C : 1;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    Pos q = pos_of(e, cl, C, OH, OW);
    int64_t ow = q.w, oh = q.h;
    const T *xp = x + plane_at(q, cl, C, H, W);
    int64_t hs = oh * p.stride[0] - p.padding[0], ws = ow * p.stride[1] - p.padding[1], khl, khh, kwl, kwh;
    taps(hs, H, p.kernel[0], p.dilation[0], &khl, &khh);
    taps(ws, W, p.kernel[1], p.dilation[1], &kwl, &kwh);
    double best = -INFINITY;
    int64_t bi = khl < khh && kwl < kwh ? (hs + khl * p.dilation[0]) * W + ws + kwl * p.dilation[1] : -1;
    for (int64_t kh = khl; kh < khh; kh++) {
      int64_t row = (hs + kh * p.dilation[0]) * W;
      for (int64_t kw = kwl; kw < kwh; kw++) {
        int64_t i = row + ws + kw * p.dilation[1];
        double v = (double)ld_c(xp[i * es]);
        if (v > best || v != v) {
          best = v;
          bi = i;
        }
      }
    }
    y[e] = St<T>::f(best);
    idx[e] = bi;
  }
}

extern "C" lt_status lt_cuda_max_pool2d_forward(lt_tensor *y, lt_tensor *idx, const lt_tensor *x, const lt_pool2d_params *p) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  int64_t P = x->shape[0] * x->shape[1], total = P * y->shape[2] * y->shape[3];
  if (total == 0) return LT_OK;
  LT_CU_DISPATCH_FLOAT(x->dtype, T,
    max_pool_fwd_k<T><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (T *)data_of(y), (int64_t *)data_of(idx), (const T *)data_of(x), P, x->shape[2], x->shape[3], y->shape[2],
        y->shape[3], *p, x->shape[1], is_cl(x) || is_cl(y)));
  LT_CUDA_LAUNCHED(c, "max_pool_fwd_k");
  return LT_OK;
}

/* Outputs o in [lo, hi] along one dim whose window (start o*s - pad, taps
 * d apart, k of them) can contain input position i: a superset, the
 * recorded index decides. */
__device__ __forceinline__ void windows_over(int64_t i, int64_t k, int64_t s, int64_t pad, int64_t d, int64_t out,
                                             int64_t *lo, int64_t *hi) {
  int64_t first = i + pad - (k - 1) * d;
  *lo = first <= 0 ? 0 : (first + s - 1) / s;
  *hi = (i + pad) / s;
  if (*hi > out - 1) *hi = out - 1;
}

/* Gather: each input element sums the gradients of the outputs whose
 * recorded argmax it is, in output order (the CPU's scatter order, so
 * float32 results are the CPU's bit for bit), in float32 for 16-bit
 * types (rounded once) and float64 for float64. No atomics: deterministic. */
template <typename T>
__global__ void max_pool_bwd_k(T *gx, const T *gy, const int64_t *idx, int64_t P, int64_t H, int64_t W, int64_t OH,
                               int64_t OW, lt_pool2d_params p, int64_t C, bool cl) {
  const int64_t total = P * H * W, es = cl ? C : 1;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    Pos q = pos_of(e, cl, C, H, W);
    const int64_t at = plane_at(q, cl, C, OH, OW), self = q.h * W + q.w;
    int64_t oh0, oh1, ow0, ow1;
    windows_over(q.h, p.kernel[0], p.stride[0], p.padding[0], p.dilation[0], OH, &oh0, &oh1);
    windows_over(q.w, p.kernel[1], p.stride[1], p.padding[1], p.dilation[1], OW, &ow0, &ow1);
    decltype(ld_c(T())) s = 0;
    for (int64_t oh = oh0; oh <= oh1; oh++)
      for (int64_t ow = ow0; ow <= ow1; ow++) {
        int64_t o = at + (oh * OW + ow) * es;
        if (idx[o] == self) s += ld_c(gy[o]);
      }
    gx[e] = St<T>::f(s);
  }
}

extern "C" lt_status lt_cuda_max_pool2d_backward(lt_tensor *gx, const lt_tensor *gy, const lt_tensor *idx,
                                                 const lt_pool2d_params *p) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(gx, &c));
  int64_t total = numel_of(gx);
  if (total == 0) return LT_OK;
  LT_CU_DISPATCH_FLOAT(gx->dtype, T,
    max_pool_bwd_k<T><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (T *)data_of(gx), (const T *)data_of(gy), (const int64_t *)data_of(idx), gx->shape[0] * gx->shape[1], gx->shape[2],
        gx->shape[3], gy->shape[2], gy->shape[3], *p, gx->shape[1], is_cl(gx) || is_cl(gy)));
  LT_CUDA_LAUNCHED(c, "max_pool_bwd_k");
  return LT_OK;
}

/* The average window of output (oh, ow): clipped bounds and divisor (the CPU's avg_window). */
struct AvgWin { int64_t h0, h1, w0, w1; double div; };

__device__ __forceinline__ AvgWin avg_window(const lt_pool2d_params &p, int64_t H, int64_t W, int64_t oh, int64_t ow) {
  AvgWin a;
  int64_t hs = oh * p.stride[0] - p.padding[0], ws = ow * p.stride[1] - p.padding[1];
  int64_t he = hs + p.kernel[0], we = ws + p.kernel[1];
  if (he > H + p.padding[0]) he = H + p.padding[0];
  if (we > W + p.padding[1]) we = W + p.padding[1];
  int64_t pool = (he - hs) * (we - ws);
  a.h0 = hs < 0 ? 0 : hs;
  a.w0 = ws < 0 ? 0 : ws;
  a.h1 = he > H ? H : he;
  a.w1 = we > W ? W : we;
  if (p.divisor_override) a.div = (double)p.divisor_override;
  else if (p.count_include_pad) a.div = (double)pool;
  else a.div = (double)((a.h1 - a.h0) * (a.w1 - a.w0));
  return a;
}

template <typename T>
__global__ void avg_pool_fwd_k(T *y, const T *x, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW, lt_pool2d_params p,
                               int64_t C, bool cl) {
  const int64_t total = P * OH * OW, es = cl ? C : 1;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    Pos q = pos_of(e, cl, C, OH, OW);
    int64_t ow = q.w, oh = q.h;
    const T *xp = x + plane_at(q, cl, C, H, W);
    AvgWin a = avg_window(p, H, W, oh, ow);
    double s = 0;
    for (int64_t ih = a.h0; ih < a.h1; ih++)
      for (int64_t iw = a.w0; iw < a.w1; iw++) s += (double)ld_c(xp[(ih * W + iw) * es]);
    y[e] = St<T>::f(a.h0 >= a.h1 || a.w0 >= a.w1 ? 0.0 : s / a.div);
  }
}

/* Each input element sums gy/div over the windows that contain it. */
template <typename T>
__global__ void avg_pool_bwd_k(T *gx, const T *gy, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW, lt_pool2d_params p,
                               int64_t C, bool cl) {
  const int64_t total = P * H * W, es = cl ? C : 1;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    Pos q = pos_of(e, cl, C, H, W);
    int64_t iw = q.w, ih = q.h;
    const T *gp = gy + plane_at(q, cl, C, OH, OW);
    /* windows starting at o*s - pad <= i and ending after i */
    int64_t hn = ih + p.padding[0] - p.kernel[0] + 1, wn = iw + p.padding[1] - p.kernel[1] + 1;
    int64_t oh0 = hn <= 0 ? 0 : (hn + p.stride[0] - 1) / p.stride[0];
    int64_t ow0 = wn <= 0 ? 0 : (wn + p.stride[1] - 1) / p.stride[1];
    int64_t oh1 = (ih + p.padding[0]) / p.stride[0], ow1 = (iw + p.padding[1]) / p.stride[1];
    if (oh1 > OH - 1) oh1 = OH - 1;
    if (ow1 > OW - 1) ow1 = OW - 1;
    double s = 0;
    for (int64_t oh = oh0; oh <= oh1; oh++)
      for (int64_t ow = ow0; ow <= ow1; ow++) {
        AvgWin a = avg_window(p, H, W, oh, ow);
        if (ih >= a.h0 && ih < a.h1 && iw >= a.w0 && iw < a.w1) s += (double)ld_c(gp[(oh * OW + ow) * es]) / a.div;
      }
    gx[e] = St<T>::f(s);
  }
}

extern "C" lt_status lt_cuda_avg_pool2d_forward(lt_tensor *y, const lt_tensor *x, const lt_pool2d_params *p) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  int64_t P = x->shape[0] * x->shape[1], total = P * y->shape[2] * y->shape[3];
  if (total == 0) return LT_OK;
  LT_CU_DISPATCH_FLOAT(x->dtype, T,
    avg_pool_fwd_k<T><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (T *)data_of(y), (const T *)data_of(x), P, x->shape[2], x->shape[3], y->shape[2], y->shape[3], *p, x->shape[1],
        is_cl(x) || is_cl(y)));
  LT_CUDA_LAUNCHED(c, "avg_pool_fwd_k");
  return LT_OK;
}

extern "C" lt_status lt_cuda_avg_pool2d_backward(lt_tensor *gx, const lt_tensor *gy, const lt_pool2d_params *p) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(gx, &c));
  int64_t total = numel_of(gx);
  if (total == 0) return LT_OK;
  LT_CU_DISPATCH_FLOAT(gx->dtype, T,
    avg_pool_bwd_k<T><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (T *)data_of(gx), (const T *)data_of(gy), gx->shape[0] * gx->shape[1], gx->shape[2], gx->shape[3], gy->shape[2],
        gy->shape[3], *p, gx->shape[1], is_cl(gx) || is_cl(gy)));
  LT_CUDA_LAUNCHED(c, "avg_pool_bwd_k");
  return LT_OK;
}

__device__ __forceinline__ int64_t ad_start(int64_t o, int64_t in, int64_t out) { return (o * in) / out; }
__device__ __forceinline__ int64_t ad_end(int64_t o, int64_t in, int64_t out) { return ((o + 1) * in + out - 1) / out; }

template <typename T>
__global__ void adaptive_fwd_k(T *y, const T *x, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t C,
                               bool cl) {
  const int64_t total = P * OH * OW, es = cl ? C : 1;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    Pos q = pos_of(e, cl, C, OH, OW);
    int64_t ow = q.w, oh = q.h;
    const T *xp = x + plane_at(q, cl, C, H, W);
    int64_t h0 = ad_start(oh, H, OH), h1 = ad_end(oh, H, OH), w0 = ad_start(ow, W, OW), w1 = ad_end(ow, W, OW);
    double s = 0;
    for (int64_t ih = h0; ih < h1; ih++)
      for (int64_t iw = w0; iw < w1; iw++) s += (double)ld_c(xp[(ih * W + iw) * es]);
    y[e] = St<T>::f(s / (double)((h1 - h0) * (w1 - w0)));
  }
}

template <typename T>
__global__ void adaptive_bwd_k(T *gx, const T *gy, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t C,
                               bool cl) {
  const int64_t total = P * H * W, es = cl ? C : 1;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    Pos q = pos_of(e, cl, C, H, W);
    int64_t iw = q.w, ih = q.h;
    const T *gp = gy + plane_at(q, cl, C, OH, OW);
    /* outputs whose window [start, end) contains the input position */
    int64_t oh0 = (ih * OH) / H, oh1 = ((ih + 1) * OH + H - 1) / H - 1;
    int64_t ow0 = (iw * OW) / W, ow1 = ((iw + 1) * OW + W - 1) / W - 1;
    if (oh1 > OH - 1) oh1 = OH - 1;
    if (ow1 > OW - 1) ow1 = OW - 1;
    double s = 0;
    for (int64_t oh = oh0; oh <= oh1; oh++) {
      int64_t h0 = ad_start(oh, H, OH), h1 = ad_end(oh, H, OH);
      if (ih < h0 || ih >= h1) continue;
      for (int64_t ow = ow0; ow <= ow1; ow++) {
        int64_t w0 = ad_start(ow, W, OW), w1 = ad_end(ow, W, OW);
        if (iw < w0 || iw >= w1) continue;
        s += (double)ld_c(gp[(oh * OW + ow) * es]) / (double)((h1 - h0) * (w1 - w0));
      }
    }
    gx[e] = St<T>::f(s);
  }
}

extern "C" lt_status lt_cuda_adaptive_avg_pool2d_forward(lt_tensor *y, const lt_tensor *x) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  int64_t P = x->shape[0] * x->shape[1], total = P * y->shape[2] * y->shape[3];
  if (total == 0) return LT_OK;
  LT_CU_DISPATCH_FLOAT(x->dtype, T,
    adaptive_fwd_k<T><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (T *)data_of(y), (const T *)data_of(x), P, x->shape[2], x->shape[3], y->shape[2], y->shape[3], x->shape[1],
        is_cl(x) || is_cl(y)));
  LT_CUDA_LAUNCHED(c, "adaptive_fwd_k");
  return LT_OK;
}

extern "C" lt_status lt_cuda_adaptive_avg_pool2d_backward(lt_tensor *gx, const lt_tensor *gy) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(gx, &c));
  int64_t total = numel_of(gx);
  if (total == 0) return LT_OK;
  LT_CU_DISPATCH_FLOAT(gx->dtype, T,
    adaptive_bwd_k<T><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (T *)data_of(gx), (const T *)data_of(gy), gx->shape[0] * gx->shape[1], gx->shape[2], gx->shape[3], gy->shape[2],
        gy->shape[3], gx->shape[1], is_cl(gx) || is_cl(gy)));
  LT_CUDA_LAUNCHED(c, "adaptive_bwd_k");
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

__device__ __forceinline__ float m_exp(float x) { return expf(x); }
__device__ __forceinline__ double m_exp(double x) { return exp(x); }
__device__ __forceinline__ float m_log(float x) { return logf(x); }
__device__ __forceinline__ double m_log(double x) { return log(x); }

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
