/* lt_dtype.c — dtype tables and the scalar conversions declared in lt_dtype.h. */
#include "lt_dtype.h"

#include <math.h>
#include <string.h>

static const struct {
  const char *name, *st_name;
  size_t size;
} dtype_info[LT_NDTYPES] = {
  [LT_FLOAT32] = {"float32", "F32", 4},   [LT_FLOAT64] = {"float64", "F64", 8},
  [LT_INT64] = {"int64", "I64", 8},       [LT_INT32] = {"int32", "I32", 4},
  [LT_UINT8] = {"uint8", "U8", 1},        [LT_BOOL] = {"bool", "BOOL", 1},
  [LT_BFLOAT16] = {"bfloat16", "BF16", 2}, [LT_FLOAT16] = {"float16", "F16", 2},
};

size_t lt_dtype_size(lt_dtype dt) { return (unsigned)dt < LT_NDTYPES ? dtype_info[dt].size : 0; }
const char *lt_dtype_name(lt_dtype dt) { return (unsigned)dt < LT_NDTYPES ? dtype_info[dt].name : "?"; }
const char *lt_dtype_st_name(lt_dtype dt) { return (unsigned)dt < LT_NDTYPES ? dtype_info[dt].st_name : "?"; }

bool lt_dtype_from_name(const char *name, lt_dtype *out) {
  for (int i = 0; i < LT_NDTYPES; i++) {
    if (strcmp(name, dtype_info[i].name) == 0 || strcmp(name, dtype_info[i].st_name) == 0) {
      *out = (lt_dtype)i;
      return true;
    }
  }
  return false;
}

bool lt_dtype_is_floating(lt_dtype dt) {
  return dt == LT_FLOAT32 || dt == LT_FLOAT64 || dt == LT_BFLOAT16 || dt == LT_FLOAT16;
}
bool lt_dtype_is_integral(lt_dtype dt) { return !lt_dtype_is_floating(dt); }

static lt_dtype default_float = LT_FLOAT32;
lt_dtype lt_dtype_default_float(void) { return default_float; }
void lt_dtype_set_default_float(lt_dtype dt) { default_float = dt; }

float lt_bf16_to_f32(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

uint16_t lt_f32_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1u);                                           /* nearest even */
  return (uint16_t)(u >> 16);
}

float lt_f16_to_f32(uint16_t h) {
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
}

uint16_t lt_f32_to_f16(float f) {
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
}

double lt_dtype_load_f64(const void *p, lt_dtype dt) {
  switch (dt) {
    case LT_FLOAT32: return *(const float *)p;
    case LT_FLOAT64: return *(const double *)p;
    case LT_INT64: return (double)*(const int64_t *)p;
    case LT_INT32: return *(const int32_t *)p;
    case LT_UINT8: return *(const uint8_t *)p;
    case LT_BOOL: return *(const uint8_t *)p != 0;
    case LT_BFLOAT16: return lt_bf16_to_f32(*(const uint16_t *)p);
    case LT_FLOAT16: return lt_f16_to_f32(*(const uint16_t *)p);
    default: return 0;
  }
}

int64_t lt_dtype_load_i64(const void *p, lt_dtype dt) {
  switch (dt) {
    case LT_INT64: return *(const int64_t *)p;
    case LT_INT32: return *(const int32_t *)p;
    case LT_UINT8: return *(const uint8_t *)p;
    case LT_BOOL: return *(const uint8_t *)p != 0;
    default: {
      double v = lt_dtype_load_f64(p, dt);
      if (isnan(v)) return 0;
      if (v >= 9223372036854775807.0) return INT64_MAX;
      if (v <= -9223372036854775808.0) return INT64_MIN;
      return (int64_t)v; /* truncation toward zero, as a C cast and PyTorch */
    }
  }
}

void lt_dtype_store_f64(void *p, lt_dtype dt, double v) {
  switch (dt) {
    case LT_FLOAT32: *(float *)p = (float)v; break;
    case LT_FLOAT64: *(double *)p = v; break;
    case LT_BOOL: *(uint8_t *)p = v != 0; break;
    case LT_BFLOAT16: *(uint16_t *)p = lt_f32_to_bf16((float)v); break;
    case LT_FLOAT16: *(uint16_t *)p = lt_f32_to_f16((float)v); break;
    default: {
      int64_t i;
      if (isnan(v)) i = 0;
      else if (v >= 9223372036854775807.0) i = INT64_MAX;
      else if (v <= -9223372036854775808.0) i = INT64_MIN;
      else i = (int64_t)v;
      lt_dtype_store_i64(p, dt, i);
    }
  }
}

void lt_dtype_store_i64(void *p, lt_dtype dt, int64_t v) {
  switch (dt) {
    case LT_INT64: *(int64_t *)p = v; break;
    case LT_INT32: *(int32_t *)p = (int32_t)(uint32_t)v; break; /* wraps, as PyTorch */
    case LT_UINT8: *(uint8_t *)p = (uint8_t)v; break;
    case LT_BOOL: *(uint8_t *)p = v != 0; break;
    default: lt_dtype_store_f64(p, dt, (double)v);
  }
}
