/* lt_cuda_common.cuh — device-side helpers the kernel files share: element
 * types and their typed conversions, strided offsets for up to four
 * operands with host-side dimension coalescing, vector types for 16-byte
 * loads, launch sizes and the dtype switch that turns a runtime lt_dtype
 * into a template argument.
 *
 * Also the float32/float64 math overloads, the layout test and optional
 * per-channel parameters of [N,C,...] tensors, and the walk of a Philox
 * fill, which kernels of several families use.
 *
 * Conversions are lt_dtype_convert.h's, the rules the CPU follows too: the
 * typed stores (St<T>) and the runtime-dtype loads and stores
 * (lt_cvt_load_f64 & co.) are built on its functions. bfloat16 and float16
 * compute in float32. Included by .cu files only. */
#ifndef LT_CUDA_COMMON_CUH
#define LT_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "lt_cuda_internal.h"
#include "lt_dtype_convert.h"
#include "lt_philox.h"

typedef __nv_bfloat16 bf16;
typedef __half f16;

/* --- element types --------------------------------------------------------------------------------
 * Compute<T>::type: float for float32/bfloat16/float16, double for float64,
 * int64 for the integral types (bool included). */
template <typename T> struct Compute { typedef int64_t type; };
template <> struct Compute<float> { typedef float type; };
template <> struct Compute<double> { typedef double type; };
template <> struct Compute<bf16> { typedef float type; };
template <> struct Compute<f16> { typedef float type; };

template <typename T> struct IsFloat { static const bool value = false; };
template <> struct IsFloat<float> { static const bool value = true; };
template <> struct IsFloat<double> { static const bool value = true; };
template <> struct IsFloat<bf16> { static const bool value = true; };
template <> struct IsFloat<f16> { static const bool value = true; };

/* Loads as the compute type (exact widenings). */
__device__ __forceinline__ float ld_c(float v) { return v; }
__device__ __forceinline__ double ld_c(double v) { return v; }
__device__ __forceinline__ float ld_c(bf16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float ld_c(f16 v) { return __half2float(v); }
__device__ __forceinline__ int64_t ld_c(int64_t v) { return v; }
__device__ __forceinline__ int64_t ld_c(int32_t v) { return v; }
__device__ __forceinline__ int64_t ld_c(uint8_t v) { return v; }
__device__ __forceinline__ int64_t ld_c(bool v) { return v ? 1 : 0; }

/* Stores a value of any compute type into T (lt_dtype_convert.h's rules). */
template <typename T> struct St;
template <> struct St<float> {
  __device__ static __forceinline__ float f(float v) { return v; }
  __device__ static __forceinline__ float f(double v) { return (float)v; }
  __device__ static __forceinline__ float f(int64_t v) { return (float)(double)v; }
};
template <> struct St<double> {
  __device__ static __forceinline__ double f(float v) { return v; }
  __device__ static __forceinline__ double f(double v) { return v; }
  __device__ static __forceinline__ double f(int64_t v) { return (double)v; }
};
template <> struct St<bf16> {
  __device__ static __forceinline__ bf16 f(float v) { return __ushort_as_bfloat16(lt_cvt_f32_bf16(v)); }
  __device__ static __forceinline__ bf16 f(double v) { return __ushort_as_bfloat16(lt_cvt_f32_bf16((float)v)); }
  __device__ static __forceinline__ bf16 f(int64_t v) { return __ushort_as_bfloat16(lt_cvt_f32_bf16((float)(double)v)); }
};
template <> struct St<f16> {
  __device__ static __forceinline__ f16 f(float v) { return __ushort_as_half(lt_cvt_f32_f16(v)); }
  __device__ static __forceinline__ f16 f(double v) { return __ushort_as_half(lt_cvt_f32_f16((float)v)); }
  __device__ static __forceinline__ f16 f(int64_t v) { return __ushort_as_half(lt_cvt_f32_f16((float)(double)v)); }
};
template <> struct St<int64_t> {
  __device__ static __forceinline__ int64_t f(float v) { return lt_cvt_f64_i64(v); }
  __device__ static __forceinline__ int64_t f(double v) { return lt_cvt_f64_i64(v); }
  __device__ static __forceinline__ int64_t f(int64_t v) { return v; }
};
template <> struct St<int32_t> {
  __device__ static __forceinline__ int32_t f(float v) { return lt_cvt_i64_i32(lt_cvt_f64_i64(v)); }
  __device__ static __forceinline__ int32_t f(double v) { return lt_cvt_i64_i32(lt_cvt_f64_i64(v)); }
  __device__ static __forceinline__ int32_t f(int64_t v) { return lt_cvt_i64_i32(v); }
};
template <> struct St<uint8_t> {
  __device__ static __forceinline__ uint8_t f(float v) { return lt_cvt_i64_u8(lt_cvt_f64_i64(v)); }
  __device__ static __forceinline__ uint8_t f(double v) { return lt_cvt_i64_u8(lt_cvt_f64_i64(v)); }
  __device__ static __forceinline__ uint8_t f(int64_t v) { return lt_cvt_i64_u8(v); }
};
template <> struct St<bool> {
  __device__ static __forceinline__ bool f(float v) { return v != 0; }
  __device__ static __forceinline__ bool f(double v) { return v != 0; }
  __device__ static __forceinline__ bool f(int64_t v) { return v != 0; }
};

/* --- vectors: N elements in one aligned load ------------------------------------------------------- */
template <typename T, int N> struct alignas(sizeof(T) * N) Vec { T v[N]; };

/* Elements per 16-byte access for the widest of two element sizes. */
template <typename A, typename B> struct VecN {
  static const int value = 16 / (sizeof(A) > sizeof(B) ? sizeof(A) : sizeof(B));
};

static inline bool aligned16(const void *p, size_t bytes) { return ((uintptr_t)p % bytes) == 0; }

/* A tensor's first element as bytes (lt_tensor_data, typed for pointer arithmetic). */
static inline char *data_of(const lt_tensor *t) { return (char *)lt_tensor_data(t); }

static inline int64_t numel_of(const lt_tensor *t) { return lt_tensor_numel(t); }

/* --- strided offsets ------------------------------------------------------------------------------------
 * Geo<K>: the iteration shape after coalescing and each operand's strides
 * (elements). off() maps a linear row-major index onto K element offsets. */
template <int K> struct Geo {
  int ndim;
  int64_t shape[LT_MAX_DIMS];
  int64_t stride[K][LT_MAX_DIMS];
};

template <int K, typename I>
__device__ __forceinline__ void geo_off(const Geo<K> &g, I linear, int64_t *off) {
#pragma unroll
  for (int k = 0; k < K; k++) off[k] = 0;
  for (int d = g.ndim - 1; d >= 0; d--) {
    I s = (I)g.shape[d];
    I i = linear % s;
    linear /= s;
#pragma unroll
    for (int k = 0; k < K; k++) off[k] += (int64_t)i * g.stride[k][d];
  }
}

/* Builds the geometry of K operands sharing the logical shape of ops[0]:
 * drops size-1 dims and merges neighbours that are contiguous for every
 * operand, as the CPU's lt_cpu_foreach does. Returns the element count. */
template <int K> static int64_t geo_build(Geo<K> &g, const lt_tensor *const *ops) {
  const lt_tensor *t0 = ops[0];
  int64_t numel = 1;
  for (int d = 0; d < t0->ndim; d++) numel *= t0->shape[d];
  int n = 0;
  for (int d = 0; d < t0->ndim; d++) {
    if (t0->shape[d] == 1) continue;
    bool merge = n > 0;
    for (int k = 0; k < K && merge; k++)
      if (g.stride[k][n - 1] != ops[k]->stride[d] * t0->shape[d]) merge = false;
    if (merge) {
      g.shape[n - 1] *= t0->shape[d];
      for (int k = 0; k < K; k++) g.stride[k][n - 1] = ops[k]->stride[d];
    } else {
      g.shape[n] = t0->shape[d];
      for (int k = 0; k < K; k++) g.stride[k][n] = ops[k]->stride[d];
      n++;
    }
  }
  if (n == 0) {
    g.shape[0] = 1;
    for (int k = 0; k < K; k++) g.stride[k][0] = 0;
    n = 1;
  }
  g.ndim = n;
  return numel;
}

/* One run of stride 1 for operand k (or 0: a broadcast scalar). */
template <int K> static bool geo_flat(const Geo<K> &g, int k, bool allow_scalar) {
  return g.ndim == 1 && (g.stride[k][0] == 1 || (allow_scalar && g.stride[k][0] == 0));
}

/* --- launch sizes ---------------------------------------------------------------------------------------- */
#define LT_CU_THREADS 256

/* Blocks for a grid-stride loop over n work items: enough to fill the GPU
 * a few times over, never more than the work. */
static inline unsigned grid_for(const lt_cuda_ctx *c, int64_t n, int threads) {
  int64_t want = (n + threads - 1) / threads;
  int64_t cap = (int64_t)c->sm_count * 8;
  if (want > cap) want = cap;
  return (unsigned)(want < 1 ? 1 : want);
}

/* --- the dtype switch ---------------------------------------------------------------------------------------
 * LT_CU_DISPATCH(dt, T, body) runs body with T the C type of dt. */
#define LT_CU_DISPATCH(dt, T, ...)                                \
  switch (dt) {                                                   \
    case LT_FLOAT32: { typedef float T; __VA_ARGS__; break; }     \
    case LT_FLOAT64: { typedef double T; __VA_ARGS__; break; }    \
    case LT_INT64: { typedef int64_t T; __VA_ARGS__; break; }     \
    case LT_INT32: { typedef int32_t T; __VA_ARGS__; break; }     \
    case LT_UINT8: { typedef uint8_t T; __VA_ARGS__; break; }     \
    case LT_BOOL: { typedef bool T; __VA_ARGS__; break; }         \
    case LT_BFLOAT16: { typedef bf16 T; __VA_ARGS__; break; }     \
    case LT_FLOAT16: { typedef f16 T; __VA_ARGS__; break; }       \
    default: return lt_error_set(LT_ERR_RUNTIME, 0, "unknown dtype %d", (int)(dt)); \
  }

#define LT_CU_DISPATCH_FLOAT(dt, T, ...)                           \
  switch (dt) {                                                    \
    case LT_FLOAT32: { typedef float T; __VA_ARGS__; break; }      \
    case LT_FLOAT64: { typedef double T; __VA_ARGS__; break; }     \
    case LT_BFLOAT16: { typedef bf16 T; __VA_ARGS__; break; }      \
    case LT_FLOAT16: { typedef f16 T; __VA_ARGS__; break; }        \
    default: return lt_error_set(LT_ERR_RUNTIME, 0, "expected a floating dtype on cuda, got %s", lt_dtype_name(dt)); \
  }

/* --- math overloads: float32 and float64 versions of each function, so templated
 * kernels call the one of their compute type ------------------------------------------------------------ */
__device__ __forceinline__ float m_exp(float x) { return expf(x); }
__device__ __forceinline__ double m_exp(double x) { return exp(x); }
__device__ __forceinline__ float m_log(float x) { return logf(x); }
__device__ __forceinline__ double m_log(double x) { return log(x); }
__device__ __forceinline__ float m_log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double m_log1p(double x) { return log1p(x); }
__device__ __forceinline__ float m_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double m_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float m_sin(float x) { return sinf(x); }
__device__ __forceinline__ double m_sin(double x) { return sin(x); }
__device__ __forceinline__ float m_cos(float x) { return cosf(x); }
__device__ __forceinline__ double m_cos(double x) { return cos(x); }
__device__ __forceinline__ float m_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double m_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float m_erf(float x) { return erff(x); }
__device__ __forceinline__ double m_erf(double x) { return erf(x); }
__device__ __forceinline__ float m_floor(float x) { return floorf(x); }
__device__ __forceinline__ double m_floor(double x) { return floor(x); }
__device__ __forceinline__ float m_ceil(float x) { return ceilf(x); }
__device__ __forceinline__ double m_ceil(double x) { return ceil(x); }
__device__ __forceinline__ float m_rint(float x) { return rintf(x); }
__device__ __forceinline__ double m_rint(double x) { return rint(x); }
__device__ __forceinline__ float m_fabs(float x) { return fabsf(x); }
__device__ __forceinline__ double m_fabs(double x) { return fabs(x); }
__device__ __forceinline__ float m_pow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double m_pow(double x, double y) { return pow(x, y); }
__device__ __forceinline__ float m_fmod(float x, float y) { return fmodf(x, y); }
__device__ __forceinline__ double m_fmod(double x, double y) { return fmod(x, y); }
__device__ __forceinline__ float m_atan2(float x, float y) { return atan2f(x, y); }
__device__ __forceinline__ double m_atan2(double x, double y) { return atan2(x, y); }


/* --- [N,C,...] tensors ------------------------------------------------------------------------------------ */
/* Whether a [N,C,S] (or [N,C,H,W]) tensor is laid out channels-last. The
 * ambiguous cases (C == 1, S == 1) have the same memory in both layouts. */
static inline bool is_cl(const lt_tensor *t) {
  int64_t S = 1;
  for (int d = 2; d < t->ndim; d++) S *= t->shape[d];
  return t->ndim >= 3 && t->shape[1] > 1 && S > 1 && t->stride[1] == 1;
}

/* An optional [C] tensor of any floating dtype, read at channel c. */
struct Param {
  const char *p;
  lt_dtype dt;
  __device__ __forceinline__ double at(int64_t c, double dflt) const {
    return p ? lt_cvt_load_f64(p + c * (int64_t)lt_cvt_dtype_size(dt), dt) : dflt;
  }
};
static inline Param param_of(const lt_tensor *t) {
  Param q;
  q.p = t ? data_of(t) : NULL;
  q.dt = t ? t->dtype : LT_FLOAT32;
  return q;
}

/* --- Philox fills (rand, dropout masks) -------------------------------------------------------------------
 * The walk of a fill of n elements: a grid-stride loop in which a thread
 * draws Philox block first + blk and calls put(i, w, j) for its elements
 * i = 4*blk + j < n, each to use word j of the block w. */
template <typename Put>
__device__ __forceinline__ void for_each_word(int64_t n, uint64_t seed, uint64_t first, Put put) {
  const int64_t nblocks = (n + 3) / 4;
  for (int64_t blk = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; blk < nblocks;
       blk += (int64_t)gridDim.x * blockDim.x) {
    lt_philox4 w = lt_philox_block4(seed, first + (uint64_t)blk);
#pragma unroll
    for (int j = 0; j < 4; j++) {
      int64_t i = blk * 4 + j;
      if (i >= n) break;
      put(i, w, j);
    }
  }
}

/* Why a fill is refused during graph capture: the generator's key and stream offset
 * travel by value, so a captured kernel would draw the same numbers at every
 * replay. */
#define LT_CUDA_RNG_WHY "the graph would repeat the same random numbers at every replay"

/* Records a kernel error for the host (first one wins). */
__device__ __forceinline__ void derr_record(lt_cuda_derr *e, int kind, int op, long long a, long long b, long long c) {
  if (atomicCAS(&e->kind, 0, -1) == 0) {
    e->op = op;
    e->v[0] = a;
    e->v[1] = b;
    e->v[2] = c;
    __threadfence_system();
    atomicExch(&e->kind, kind);
  }
}

#endif
