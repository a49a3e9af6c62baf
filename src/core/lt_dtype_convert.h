/* lt_dtype_convert.h — how one element changes dtype: the rules both
 * backends follow, written once for the host and the GPU (lt_cdefs.h).
 *
 *   floating -> integral: truncation toward zero, NaN -> 0, saturating at
 *     the int64 range, then wrapping into the narrower integer types (as
 *     PyTorch's casts do on x86);
 *   integral -> narrower integral: wraps (two's complement);
 *   anything -> bool: != 0;
 *   -> bfloat16/float16: through float32, rounding to nearest even (NaN
 *     stays NaN, float16 overflows to infinity); they widen exactly.
 *
 * The CPU reaches these through lt_dtype.c's lt_dtype_load_* and
 * lt_dtype_store_* (its generic path) and lt_bf16_to_f32 & co; the CUDA
 * kernels call them directly (cuda/lt_cuda_common.cuh builds its typed
 * loads and stores on them). For the 16-bit types the GPU uses its own
 * conversion instructions, which round the same way; the host uses the bit
 * manipulations below. Not here: dtype names and sizes' tables (lt_dtype.c),
 * arithmetic. */
#ifndef LT_DTYPE_CONVERT_H
#define LT_DTYPE_CONVERT_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "lt_cdefs.h"
#include "lt_dtype.h"

#ifdef __CUDACC__
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#endif

/* --- scalar rules -------------------------------------------------------------------- */

/* floating -> int64: toward zero, NaN -> 0, saturating. (v != v is the NaN
 * test: one comparison on both sides, where the GPU's isnan takes two.) */
static LT_INLINE LT_HOST_DEVICE int64_t lt_cvt_f64_i64(double v) {
  if (v != v) return 0;
  if (v >= 9223372036854775807.0) return INT64_MAX;
  if (v <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)v; /* truncation toward zero, as a C cast and PyTorch */
}
/* int64 -> the narrower integers: wrap-around */
static LT_INLINE LT_HOST_DEVICE int32_t lt_cvt_i64_i32(int64_t v) { return (int32_t)(uint32_t)(uint64_t)v; }
static LT_INLINE LT_HOST_DEVICE uint8_t lt_cvt_i64_u8(int64_t v) { return (uint8_t)(uint64_t)v; }

/* bfloat16 <-> float32 (the 16-bit types are held as their bits, uint16_t) */
static LT_INLINE LT_HOST_DEVICE float lt_cvt_bf16_f32(uint16_t h) {
#ifdef __CUDA_ARCH__
  return __bfloat162float(__ushort_as_bfloat16(h));
#else
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
#endif
}

static LT_INLINE LT_HOST_DEVICE uint16_t lt_cvt_f32_bf16(float f) {
#ifdef __CUDA_ARCH__
  return __bfloat16_as_ushort(__float2bfloat16_rn(f));
#else
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1u);                                           /* nearest even */
  return (uint16_t)(u >> 16);
#endif
}

/* float16 <-> float32 */
static LT_INLINE LT_HOST_DEVICE float lt_cvt_f16_f32(uint16_t h) {
#ifdef __CUDA_ARCH__
  return __half2float(__ushort_as_half(h));
#else
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  float f;
  if (exp == 0) {
    f = ldexpf((float)man, -24); /* zero and subnormals */
  } else if (exp == 31) {
    f = man ? NAN : INFINITY;
  } else {
    f = ldexpf((float)(man | 0x400u), (int)exp - 25);
  }
  uint32_t u;
  memcpy(&u, &f, 4);
  u |= sign;
  memcpy(&f, &u, 4);
  return f;
#endif
}

static LT_INLINE LT_HOST_DEVICE uint16_t lt_cvt_f32_f16(float f) {
#ifdef __CUDA_ARCH__
  return __half_as_ushort(__float2half_rn(f));
#else
  uint32_t u;
  memcpy(&u, &f, 4);
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  float a = fabsf(f);
  if (isnan(f)) return sign | 0x7e00u;
  if (a >= 65520.0f) return sign | 0x7c00u; /* rounds to infinity */
  if (a < 6.103515625e-05f) {                /* subnormal: multiples of 2^-24 */
    float q = nearbyintf(a * 16777216.0f);   /* default rounding: nearest even */
    return sign | (uint16_t)q;
  }
  int e;
  float m = frexpf(a, &e);                   /* a = m * 2^e, m in [0.5, 1) */
  float q = nearbyintf(m * 2048.0f);         /* 11 significant bits */
  if (q >= 2048.0f) { q /= 2; e++; }
  return sign | (uint16_t)(((e + 14) << 10) | ((uint16_t)q & 0x3ffu));
#endif
}

/* --- elements of a runtime dtype (the generic path; kernels have typed fast paths) ---- */

static LT_INLINE LT_HOST_DEVICE size_t lt_cvt_dtype_size(lt_dtype dt) {
  switch (dt) {
    case LT_FLOAT64: case LT_INT64: return 8;
    case LT_FLOAT32: case LT_INT32: return 4;
    case LT_BFLOAT16: case LT_FLOAT16: return 2;
    case LT_UINT8: case LT_BOOL: return 1;
    default: return 0;
  }
}

static LT_INLINE LT_HOST_DEVICE double lt_cvt_load_f64(const void *p, lt_dtype dt) {
  switch (dt) {
    case LT_FLOAT32: return *(const float *)p;
    case LT_FLOAT64: return *(const double *)p;
    case LT_INT64: return (double)*(const int64_t *)p;
    case LT_INT32: return *(const int32_t *)p;
    case LT_UINT8: return *(const uint8_t *)p;
    case LT_BOOL: return *(const uint8_t *)p != 0;
    case LT_BFLOAT16: return lt_cvt_bf16_f32(*(const uint16_t *)p);
    case LT_FLOAT16: return lt_cvt_f16_f32(*(const uint16_t *)p);
    default: return 0;
  }
}

static LT_INLINE LT_HOST_DEVICE int64_t lt_cvt_load_i64(const void *p, lt_dtype dt) {
  switch (dt) {
    case LT_INT64: return *(const int64_t *)p;
    case LT_INT32: return *(const int32_t *)p;
    case LT_UINT8: return *(const uint8_t *)p;
    case LT_BOOL: return *(const uint8_t *)p != 0;
    default: return lt_cvt_f64_i64(lt_cvt_load_f64(p, dt));
  }
}

/* The integral dtypes' stores, and the floating ones' (the two halves of
 * lt_cvt_store_f64/_i64, which convert first where the dtype asks). */
static LT_INLINE LT_HOST_DEVICE void lt_cvt_store_int(void *p, lt_dtype dt, int64_t v) {
  switch (dt) {
    case LT_INT64: *(int64_t *)p = v; break;
    case LT_INT32: *(int32_t *)p = lt_cvt_i64_i32(v); break;
    case LT_UINT8: *(uint8_t *)p = lt_cvt_i64_u8(v); break;
    default: *(uint8_t *)p = v != 0; break; /* bool */
  }
}

static LT_INLINE LT_HOST_DEVICE void lt_cvt_store_float(void *p, lt_dtype dt, double v) {
  switch (dt) {
    case LT_FLOAT32: *(float *)p = (float)v; break;
    case LT_FLOAT64: *(double *)p = v; break;
    case LT_BFLOAT16: *(uint16_t *)p = lt_cvt_f32_bf16((float)v); break;
    default: *(uint16_t *)p = lt_cvt_f32_f16((float)v); break; /* float16 */
  }
}

static LT_INLINE LT_HOST_DEVICE void lt_cvt_store_f64(void *p, lt_dtype dt, double v) {
  switch (dt) {
    case LT_FLOAT32: case LT_FLOAT64: case LT_BFLOAT16: case LT_FLOAT16: lt_cvt_store_float(p, dt, v); break;
    case LT_BOOL: *(uint8_t *)p = v != 0; break;
    default: lt_cvt_store_int(p, dt, lt_cvt_f64_i64(v));
  }
}

static LT_INLINE LT_HOST_DEVICE void lt_cvt_store_i64(void *p, lt_dtype dt, int64_t v) {
  switch (dt) {
    case LT_INT64: case LT_INT32: case LT_UINT8: case LT_BOOL: lt_cvt_store_int(p, dt, v); break;
    default: lt_cvt_store_float(p, dt, (double)v);
  }
}

#endif
