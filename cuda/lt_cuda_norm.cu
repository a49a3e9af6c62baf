/* lt_cuda_norm.cu — the CUDA kernels of the norm family (lt_ops_norm.c):
 * batch normalisation, forward with the running-statistics update and
 * backward, over [N,C,S] tensors contiguous (NCHW) or channels-last ([N,C,S]
 * strides (C*S, 1, C)); and, on the same per-channel sums, a convolution's
 * bias gradient and its bias add (lt_cuda_conv.c calls them).
 *
 * Batch norm runs in three steps: a per-channel reduction (blocks over
 * channel x slice of the N*S elements, sums in double, shifted by the
 * channel's first element so E[x^2] - E[x]^2 does not cancel; in NHWC a
 * block covers 32 neighbouring channels x a chunk of rows, so a warp reads
 * 32 consecutive elements), a tiny per-channel kernel that combines the
 * slices, writes mean/invstd and the running statistics and turns them into
 * y = a[c]*x + b[c], and an elementwise pass. */
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
