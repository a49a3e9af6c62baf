/* lt_elementwise_rules.h — the integer elementwise rules, written once for
 * the CPU kernels (src/cpu/lt_cpu_elementwise.c) and the CUDA kernels
 * (cuda/lt_cuda_elementwise.cu), host and device (lt_cdefs.h): unary and
 * binary ops on int64 values with two's-complement wrap-around (as PyTorch),
 * integer powers, fmod/remainder with C's and Python's signs. The narrower
 * integer dtypes compute in int64 and wrap on store (lt_dtype_convert.h).
 *
 * Not here: the floating rules, which the two backends compute at different
 * precisions (the CPU in double, the GPU in the compute type: float32 for
 * float32 and the 16-bit types), and the op layer's choice of which ops
 * reach the integer path (the others are promoted to floating first). */
#ifndef LT_ELEMENTWISE_RULES_H
#define LT_ELEMENTWISE_RULES_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "lt_backend.h"
#include "lt_cdefs.h"

/* b^e with wrap-around; a negative e gives 1/b^|e| truncated (0 unless b is
 * 1 or -1), as PyTorch's integer pow */
static LT_INLINE LT_HOST_DEVICE int64_t lt_ipow(int64_t b, int64_t e) {
  if (e < 0) return b == 1 ? 1 : (b == -1 ? ((e & 1) ? -1 : 1) : 0);
  uint64_t r = 1, ub = (uint64_t)b; /* unsigned: wraps instead of overflowing */
  while (e) {
    if (e & 1) r *= ub;
    ub *= ub;
    e >>= 1;
  }
  return (int64_t)r;
}

/* op(x) for the unary ops the op layer leaves integral; p0, p1: the clamp
 * bounds (NaN: none) or the scalar exponent/base */
static LT_INLINE LT_HOST_DEVICE int64_t lt_unary_i64(lt_unary_op op, int64_t x, double p0, double p1) {
  switch (op) {
    case LT_UN_NEG: return (int64_t)(0ull - (uint64_t)x);
    case LT_UN_ABS: return x < 0 ? (int64_t)(0ull - (uint64_t)x) : x;
    case LT_UN_RELU: return x > 0 ? x : 0;
    case LT_UN_SIGN: return (x > 0) - (x < 0);
    case LT_UN_SQUARE: return (int64_t)((uint64_t)x * (uint64_t)x);
    case LT_UN_LOGICAL_NOT: return x == 0;
    case LT_UN_ISNAN: return 0;
    case LT_UN_FLOOR: case LT_UN_CEIL: case LT_UN_ROUND: return x;
    case LT_UN_CLAMP:
      if (p0 == p0 && (double)x < p0) x = (int64_t)ceil(p0);
      if (p1 == p1 && (double)x > p1) x = (int64_t)floor(p1);
      return x;
    case LT_UN_POW_SCALAR: return lt_ipow(x, (int64_t)p0);
    case LT_UN_RPOW_SCALAR: return lt_ipow((int64_t)p0, x);
    default: return 0; /* the op layer promotes to float for the others */
  }
}

/* a op b for the binary ops on integers (comparisons give 0/1). fmod and
 * remainder by 0 give 0 and set *div_by_zero, for the caller to report. */
static LT_INLINE LT_HOST_DEVICE int64_t lt_binary_i64(lt_binary_op op, int64_t a, int64_t b, bool *div_by_zero) {
  switch (op) {
    case LT_BIN_ADD: return (int64_t)((uint64_t)a + (uint64_t)b);
    case LT_BIN_SUB: return (int64_t)((uint64_t)a - (uint64_t)b);
    case LT_BIN_MUL: return (int64_t)((uint64_t)a * (uint64_t)b);
    case LT_BIN_POW: return lt_ipow(a, b);
    case LT_BIN_MAXIMUM: return a > b ? a : b;
    case LT_BIN_MINIMUM: return a < b ? a : b;
    case LT_BIN_FMOD:
    case LT_BIN_REMAINDER: {
      if (b == 0) {
        *div_by_zero = true;
        return 0;
      }
      if (b == -1) return 0; /* INT64_MIN % -1 would trap */
      int64_t r = a % b;
      if (op == LT_BIN_REMAINDER && r != 0 && ((r < 0) != (b < 0))) r += b;
      return r;
    }
    case LT_BIN_EQ: return a == b;
    case LT_BIN_NE: return a != b;
    case LT_BIN_LT: return a < b;
    case LT_BIN_LE: return a <= b;
    case LT_BIN_GT: return a > b;
    case LT_BIN_GE: return a >= b;
    case LT_BIN_AND: return a && b;
    case LT_BIN_OR: return a || b;
    case LT_BIN_XOR: return (a != 0) != (b != 0);
    default: return 0;
  }
}

#endif
