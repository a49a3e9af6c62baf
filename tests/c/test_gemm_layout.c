/* test_gemm_layout.c — lt_gemm_layout (src/core/lt_gemm_layout.h), the rule
 * by which the op layer decides that a matrix operand needs no copy and the
 * GEMM backends (cuBLAS/cuBLASLt in cuda/lt_cuda_linalg.c) pick their transpose
 * flag and leading dimension. For every small geometry it accepts, a
 * column-major GEMM reading with that flag and leading dimension must find
 * each element where the strides put it; the GPU's matmul cannot be run
 * here, so this is its index arithmetic checked on the CPU. */
#include <stdio.h>

#include "lt_gemm_layout.h"
#include "lt_test.h"

/* Whether BLAS, told (trans, ld), reads element (r, c) of an R x C matrix at
 * r*rs + c*cs for every r, c, with ld at least the stored leading extent. */
static bool reads_right(int64_t R, int64_t C, int64_t rs, int64_t cs, bool trans, int64_t ld) {
  /* not transposed: the row-major matrix read as a column-major C x R one,
   * element (c, r) at c + r*ld; transposed: an R x C column-major one, (r, c)
   * at r + c*ld */
  int64_t lead = trans ? R : C;
  if (ld < 1 || ld < lead) return false;
  for (int64_t r = 0; r < R; r++)
    for (int64_t c = 0; c < C; c++) {
      int64_t want = r * rs + c * cs, got = trans ? r + c * ld : c + r * ld;
      if (want != got) return false;
    }
  return true;
}

int main(void) {
  int accepted = 0, bad = 0;
  for (int64_t R = 0; R <= 4; R++)
    for (int64_t C = 0; C <= 4; C++)
      for (int64_t rs = -2; rs <= 9; rs++)
        for (int64_t cs = -2; cs <= 9; cs++) {
          bool trans = false;
          int64_t ld = 0;
          if (!lt_gemm_layout(R, C, rs, cs, &trans, &ld)) continue;
          accepted++;
          if (!reads_right(R, C, rs, cs, trans, ld)) {
            if (bad++ < 5)
              fprintf(stderr, "R=%lld C=%lld rs=%lld cs=%lld -> trans=%d ld=%lld reads wrong elements\n", (long long)R,
                      (long long)C, (long long)rs, (long long)cs, trans, (long long)ld);
          }
        }
  LT_CHECK(bad == 0);
  LT_CHECK(accepted > 100);

  bool trans;
  int64_t ld;
  /* row-major and column-major matrices, and their leading dimensions */
  LT_CHECK(lt_gemm_layout(3, 4, 4, 1, &trans, &ld) && !trans && ld == 4);
  LT_CHECK(lt_gemm_layout(3, 4, 1, 3, &trans, &ld) && trans && ld == 3);
  LT_CHECK(lt_gemm_layout(3, 4, 10, 1, &trans, &ld) && !trans && ld == 10); /* a narrowed row-major matrix */
  /* one column with a row stride and a meaningless column stride (a column
   * of a 3-D tensor): row-major with ld = the row stride. A rule that looked
   * at the column stride first would call it column-major with ld 3 and read
   * elements 0, 1, 2 instead of 0, 8, 16. */
  LT_CHECK(lt_gemm_layout(3, 1, 8, 2, &trans, &ld) && !trans && ld == 8);
  LT_CHECK(reads_right(3, 1, 8, 2, trans, ld));
  /* one row with any row stride */
  LT_CHECK(lt_gemm_layout(1, 5, 0, 1, &trans, &ld) && !trans && ld == 5);
  LT_CHECK(lt_gemm_layout(1, 5, 7, 3, &trans, &ld) && trans && ld == 3);
  /* neither layout: copied by the op layer */
  LT_CHECK(!lt_gemm_layout(3, 4, 8, 2, &trans, &ld));
  LT_CHECK(!lt_gemm_layout(3, 1, 0, 0, &trans, &ld)); /* an expanded column */
  LT_CHECK(!lt_gemm_layout(3, 4, 2, 1, &trans, &ld)); /* overlapping rows */
  LT_CHECK(!lt_gemm_layout(2, 2, (int64_t)1 << 32, 1, &trans, &ld)); /* ld beyond int */
  return lt_test_done();
}
