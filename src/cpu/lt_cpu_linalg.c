/* lt_cpu_linalg.c — batched matrix products through OpenBLAS (cblas) for
 * float32/float64 (bfloat16 too, on float32 copies: lt_cpu_bf16.c), and
 * plain loops for float16 and the integer types.
 * Each matrix of a and b is row-major or column-major (the op layer copies
 * anything else), which maps onto GEMM's transpose flags with no copy. */
#include <cblas.h>

#include "lt_cpu_kernels.h"
#include "lt_gemm_layout.h"

/* For a [B, R, C] operand: whether its matrices are stored transposed
 * (column-major) and their leading dimension. The op layer copies what
 * lt_gemm_layout refuses, so it always answers here. */
static void layout(const lt_tensor *t, bool *trans, int64_t *ld) {
  if (!lt_gemm_layout(t->shape[1], t->shape[2], t->stride[1], t->stride[2], trans, ld)) {
    *trans = false; /* unreachable: the op layer made such an operand contiguous */
    *ld = t->shape[2] > 1 ? t->shape[2] : 1;
  }
}

lt_status lt_cpu_matmul(lt_tensor *out, const lt_tensor *a, const lt_tensor *b, double alpha, double beta) {
  if (out->dtype == LT_BFLOAT16) return lt_cpu_bf16_matmul(out, a, b, alpha, beta);
  int64_t B = out->shape[0], M = out->shape[1], N = out->shape[2], K = a->shape[2];
  bool ta, tb;
  int64_t lda, ldb;
  layout(a, &ta, &lda);
  layout(b, &tb, &ldb);
  size_t es = lt_dtype_size(out->dtype);
  char *o = (char *)lt_tensor_data(out);
  const char *pa = (const char *)lt_tensor_data(a), *pb = (const char *)lt_tensor_data(b);
  if (M == 0 || N == 0) return LT_OK;
  for (int64_t i = 0; i < B; i++) {
    const char *ai = pa + i * a->stride[0] * (int64_t)es, *bi = pb + i * b->stride[0] * (int64_t)es;
    char *oi = o + i * M * N * (int64_t)es;
    if (out->dtype == LT_FLOAT32) {
      cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K,
                  (float)alpha, (const float *)ai, (int)lda, (const float *)bi, (int)ldb, (float)beta, (float *)oi,
                  (int)N);
    } else if (out->dtype == LT_FLOAT64) {
      cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K,
                  alpha, (const double *)ai, (int)lda, (const double *)bi, (int)ldb, beta, (double *)oi, (int)N);
    } else if (lt_dtype_is_floating(out->dtype)) {
      /* float16: a storage type on the CPU, accumulated in double */
      for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
          double acc = 0;
          for (int64_t k = 0; k < K; k++)
            acc += lt_dtype_load_f64(ai + (m * a->stride[1] + k * a->stride[2]) * (int64_t)es, a->dtype) *
                   lt_dtype_load_f64(bi + (k * b->stride[1] + n * b->stride[2]) * (int64_t)es, b->dtype);
          char *dst = oi + (m * N + n) * (int64_t)es;
          double prev = beta != 0 ? lt_dtype_load_f64(dst, out->dtype) : 0;
          lt_dtype_store_f64(dst, out->dtype, alpha * acc + beta * prev);
        }
    } else {
      for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
          int64_t acc = 0;
          for (int64_t k = 0; k < K; k++) {
            int64_t av = lt_dtype_load_i64(ai + (m * a->stride[1] + k * a->stride[2]) * (int64_t)es, a->dtype);
            int64_t bv = lt_dtype_load_i64(bi + (k * b->stride[1] + n * b->stride[2]) * (int64_t)es, b->dtype);
            acc = (int64_t)((uint64_t)acc + (uint64_t)av * (uint64_t)bv);
          }
          char *dst = oi + (m * N + n) * (int64_t)es;
          int64_t prev = beta != 0 ? lt_dtype_load_i64(dst, out->dtype) : 0;
          lt_dtype_store_i64(dst, out->dtype, (int64_t)((uint64_t)(int64_t)alpha * (uint64_t)acc + (uint64_t)(int64_t)beta * (uint64_t)prev));
        }
    }
  }
  return LT_OK;
}
