/* lt_dtype.h — element types, their sizes and names, and the conversions of
 * the 16-bit storage types. bfloat16 and float16 are storage types on the CPU:
 * they convert to and from float32; arithmetic on them is the CUDA backend's. */
#ifndef LT_DTYPE_H
#define LT_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lt_cdefs.h"

LT_BEGIN_DECLS

typedef enum {
  LT_FLOAT32 = 0,
  LT_FLOAT64,
  LT_INT64,
  LT_INT32,
  LT_UINT8,
  LT_BOOL,
  LT_BFLOAT16,
  LT_FLOAT16,
  LT_NDTYPES
} lt_dtype;

size_t lt_dtype_size(lt_dtype dt);
/* "float32", "int64", ... (PyTorch's names, used in printing and errors) */
const char *lt_dtype_name(lt_dtype dt);
/* Safetensors' names: "F32", "F64", "I64", "I32", "U8", "BOOL", "BF16", "F16". */
const char *lt_dtype_st_name(lt_dtype dt);
/* Parses either naming; returns false for an unknown name. */
bool lt_dtype_from_name(const char *name, lt_dtype *out);
bool lt_dtype_is_floating(lt_dtype dt);   /* float32/64, bfloat16, float16 */
bool lt_dtype_is_integral(lt_dtype dt);   /* int64, int32, uint8, bool */

/* The default floating dtype (lt.set_default_dtype; float32 unless set,
 * float32 or float64): the dtype of new floating tensors, and the floating
 * dtype PyTorch's promotion gives integral operands (an integer tensor times
 * a float number, integer division, sqrt of an integer tensor). */
lt_dtype lt_dtype_default_float(void);
void lt_dtype_set_default_float(lt_dtype dt);

float lt_bf16_to_f32(uint16_t h);
uint16_t lt_f32_to_bf16(float f);         /* round to nearest even, NaN kept */
float lt_f16_to_f32(uint16_t h);
uint16_t lt_f32_to_f16(float f);          /* round to nearest even, overflow to inf */

/* Reads element i of a buffer of type dt as double / int64, and writes one.
 * The slow generic path; kernels have typed fast paths. */
double lt_dtype_load_f64(const void *p, lt_dtype dt);
int64_t lt_dtype_load_i64(const void *p, lt_dtype dt);
void lt_dtype_store_f64(void *p, lt_dtype dt, double v);
void lt_dtype_store_i64(void *p, lt_dtype dt, int64_t v);

LT_END_DECLS

#endif
