/* lt_gemm_layout.h — whether one matrix of a [B,R,C] operand can be handed
 * to a column-major GEMM (BLAS, cuBLAS, cuBLASLt) as it is, and how: as its
 * row-major storage read column-major (no transpose flag) or as column-major
 * storage (a transpose flag), with the leading dimension to pass.
 *
 * The op layer (lt_ops_linalg.c) copies an operand this refuses, and the
 * backends' GEMM calls read the flag and leading dimension from here, so
 * what the op layer lets through is exactly what the kernels can read. A
 * size-1 dim's stride is meaningless (an unsqueezed or expanded vector may
 * have any) and is never used as a leading dimension. Not here: batch
 * strides, and anything about the library call itself. */
#ifndef LT_GEMM_LAYOUT_H
#define LT_GEMM_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

/* A matrix of R rows and C columns, element (r, c) at r*rs + c*cs. True when
 * it is row-major (*trans = false: unit column stride, row stride >= C) or
 * column-major (*trans = true); *ld is then at least the stored leading
 * extent and at least 1, as GEMM requires. Strides beyond 2^31-1 are
 * refused: GEMM takes int leading dimensions. */
static inline bool lt_gemm_layout(int64_t R, int64_t C, int64_t rs, int64_t cs, bool *trans, int64_t *ld) {
  if (rs > INT32_MAX || cs > INT32_MAX) return false;
  if ((C <= 1 || cs == 1) && (R <= 1 || rs >= (C > 1 ? C : 1))) {
    *trans = false;
    *ld = R > 1 ? rs : (C > 1 ? C : 1);
    return true;
  }
  if ((R <= 1 || rs == 1) && (C <= 1 || cs >= (R > 1 ? R : 1))) {
    *trans = true;
    *ld = C > 1 ? cs : (R > 1 ? R : 1);
    return true;
  }
  return false;
}

#endif
