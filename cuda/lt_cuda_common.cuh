/* lt_cuda_common.cuh — device-side helpers the kernel files share: element
 * types and their conversions (with the CPU backend's exact semantics),
 * strided offsets for up to four operands with host-side dimension
 * coalescing, vector types for 16-byte loads, launch sizes and the dtype
 * switch that turns a runtime lt_dtype into a template argument.
 *
 * Conversions follow lt_dtype.c: float -> integer truncates toward zero,
 * NaN -> 0, saturating at the int64 range, then wraps into narrower integers;
 * double -> bfloat16/float16 rounds to float first, then to nearest even;
 * anything -> bool is "!= 0". bfloat16 and float16 compute in float32.
 * Included by .cu files only. */
#ifndef LT_CUDA_COMMON_CUH
#define LT_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "lt_cuda_internal.h"

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

/* Loads as the compute type. */
__device__ __forceinline__ float ld_c(float v) { return v; }
__device__ __forceinline__ double ld_c(double v) { return v; }
__device__ __forceinline__ float ld_c(bf16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float ld_c(f16 v) { return __half2float(v); }
__device__ __forceinline__ int64_t ld_c(int64_t v) { return v; }
__device__ __forceinline__ int64_t ld_c(int32_t v) { return v; }
__device__ __forceinline__ int64_t ld_c(uint8_t v) { return v; }
__device__ __forceinline__ int64_t ld_c(bool v) { return v ? 1 : 0; }

/* double -> int64 as lt_dtype_load_i64 / lt_dtype_store_f64 do it */
__device__ __forceinline__ int64_t f2i(double v) {
  if (v != v) return 0;
  if (v >= 9223372036854775807.0) return INT64_MAX;
  if (v <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)v;
}

/* Stores a value of any compute type into T. */
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
  __device__ static __forceinline__ bf16 f(float v) { return __float2bfloat16_rn(v); }
  __device__ static __forceinline__ bf16 f(double v) { return __float2bfloat16_rn((float)v); }
  __device__ static __forceinline__ bf16 f(int64_t v) { return __float2bfloat16_rn((float)(double)v); }
};
template <> struct St<f16> {
  __device__ static __forceinline__ f16 f(float v) { return __float2half_rn(v); }
  __device__ static __forceinline__ f16 f(double v) { return __float2half_rn((float)v); }
  __device__ static __forceinline__ f16 f(int64_t v) { return __float2half_rn((float)(double)v); }
};
template <> struct St<int64_t> {
  __device__ static __forceinline__ int64_t f(float v) { return f2i(v); }
  __device__ static __forceinline__ int64_t f(double v) { return f2i(v); }
  __device__ static __forceinline__ int64_t f(int64_t v) { return v; }
};
template <> struct St<int32_t> {
  __device__ static __forceinline__ int32_t f(float v) { return (int32_t)(uint32_t)(uint64_t)f2i(v); }
  __device__ static __forceinline__ int32_t f(double v) { return (int32_t)(uint32_t)(uint64_t)f2i(v); }
  __device__ static __forceinline__ int32_t f(int64_t v) { return (int32_t)(uint32_t)(uint64_t)v; }
};
template <> struct St<uint8_t> {
  __device__ static __forceinline__ uint8_t f(float v) { return (uint8_t)(uint64_t)f2i(v); }
  __device__ static __forceinline__ uint8_t f(double v) { return (uint8_t)(uint64_t)f2i(v); }
  __device__ static __forceinline__ uint8_t f(int64_t v) { return (uint8_t)(uint64_t)v; }
};
template <> struct St<bool> {
  __device__ static __forceinline__ bool f(float v) { return v != 0; }
  __device__ static __forceinline__ bool f(double v) { return v != 0; }
  __device__ static __forceinline__ bool f(int64_t v) { return v != 0; }
};

/* Runtime-dtype loads and stores (the generic, slower path). */
__device__ __forceinline__ double ld_f64(const char *p, lt_dtype dt) {
  switch (dt) {
    case LT_FLOAT32: return *(const float *)p;
    case LT_FLOAT64: return *(const double *)p;
    case LT_INT64: return (double)*(const int64_t *)p;
    case LT_INT32: return *(const int32_t *)p;
    case LT_UINT8: return *(const uint8_t *)p;
    case LT_BOOL: return *(const uint8_t *)p != 0;
    case LT_BFLOAT16: return __bfloat162float(*(const bf16 *)p);
    case LT_FLOAT16: return __half2float(*(const f16 *)p);
    default: return 0;
  }
}

__device__ __forceinline__ int64_t ld_i64(const char *p, lt_dtype dt) {
  switch (dt) {
    case LT_INT64: return *(const int64_t *)p;
    case LT_INT32: return *(const int32_t *)p;
    case LT_UINT8: return *(const uint8_t *)p;
    case LT_BOOL: return *(const uint8_t *)p != 0;
    default: return f2i(ld_f64(p, dt));
  }
}

__device__ __forceinline__ void st_i64(char *p, lt_dtype dt, int64_t v);

__device__ __forceinline__ void st_f64(char *p, lt_dtype dt, double v) {
  switch (dt) {
    case LT_FLOAT32: *(float *)p = (float)v; break;
    case LT_FLOAT64: *(double *)p = v; break;
    case LT_BOOL: *(uint8_t *)p = v != 0; break;
    case LT_BFLOAT16: *(bf16 *)p = __float2bfloat16_rn((float)v); break;
    case LT_FLOAT16: *(f16 *)p = __float2half_rn((float)v); break;
    default: st_i64(p, dt, f2i(v));
  }
}

__device__ __forceinline__ void st_i64(char *p, lt_dtype dt, int64_t v) {
  switch (dt) {
    case LT_INT64: *(int64_t *)p = v; break;
    case LT_INT32: *(int32_t *)p = (int32_t)(uint32_t)(uint64_t)v; break;
    case LT_UINT8: *(uint8_t *)p = (uint8_t)(uint64_t)v; break;
    case LT_BOOL: *(uint8_t *)p = v != 0; break;
    default: st_f64(p, dt, (double)v);
  }
}

__host__ __device__ __forceinline__ size_t dtype_size(lt_dtype dt) {
  switch (dt) {
    case LT_FLOAT64: case LT_INT64: return 8;
    case LT_FLOAT32: case LT_INT32: return 4;
    case LT_BFLOAT16: case LT_FLOAT16: return 2;
    default: return 1;
  }
}

/* --- vectors: N elements in one aligned load ------------------------------------------------------- */
template <typename T, int N> struct alignas(sizeof(T) * N) Vec { T v[N]; };

/* Elements per 16-byte access for the widest of two element sizes. */
template <typename A, typename B> struct VecN {
  static const int value = 16 / (sizeof(A) > sizeof(B) ? sizeof(A) : sizeof(B));
};

static inline bool aligned16(const void *p, size_t bytes) { return ((uintptr_t)p % bytes) == 0; }

/* --- strided offsets ------------------------------------------------------------------------------------
 * Geo<K>: the iteration shape after coalescing and each operand's strides
 * (elements). off() maps a linear row-major index onto K element offsets. */
template <int K> struct Geo {
  int ndim;
  int64_t shape[LT_CUDA_MAX_DIMS];
  int64_t stride[K][LT_CUDA_MAX_DIMS];
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
template <int K> static int64_t geo_build(Geo<K> &g, const lt_cuda_tensor *const *ops) {
  const lt_cuda_tensor *t0 = ops[0];
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
