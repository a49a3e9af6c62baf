/* lt_dtype.c — dtype tables, and the C entry points of the element
 * conversions declared in lt_dtype.h (their rules: lt_dtype_convert.h). */
#include "lt_dtype.h"

#include <string.h>

#include "lt_dtype_convert.h"

static const struct {
  const char *name, *st_name;
} dtype_info[LT_NDTYPES] = {
  [LT_FLOAT32] = {"float32", "F32"},   [LT_FLOAT64] = {"float64", "F64"},
  [LT_INT64] = {"int64", "I64"},       [LT_INT32] = {"int32", "I32"},
  [LT_UINT8] = {"uint8", "U8"},        [LT_BOOL] = {"bool", "BOOL"},
  [LT_BFLOAT16] = {"bfloat16", "BF16"}, [LT_FLOAT16] = {"float16", "F16"},
};

size_t lt_dtype_size(lt_dtype dt) { return lt_cvt_dtype_size(dt); }
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

/* The conversions themselves are lt_dtype_convert.h's, shared with the CUDA
 * kernels; these are their C entry points. */
float lt_bf16_to_f32(uint16_t h) { return lt_cvt_bf16_f32(h); }
uint16_t lt_f32_to_bf16(float f) { return lt_cvt_f32_bf16(f); }
float lt_f16_to_f32(uint16_t h) { return lt_cvt_f16_f32(h); }
uint16_t lt_f32_to_f16(float f) { return lt_cvt_f32_f16(f); }

double lt_dtype_load_f64(const void *p, lt_dtype dt) { return lt_cvt_load_f64(p, dt); }
int64_t lt_dtype_load_i64(const void *p, lt_dtype dt) { return lt_cvt_load_i64(p, dt); }
void lt_dtype_store_f64(void *p, lt_dtype dt, double v) { lt_cvt_store_f64(p, dt, v); }
void lt_dtype_store_i64(void *p, lt_dtype dt, int64_t v) { lt_cvt_store_i64(p, dt, v); }
