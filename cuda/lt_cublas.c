/* lt_cublas.c — batched matrix products on the GPU through cuBLAS
 * (cublasGemmStridedBatchedEx), the backend's `matmul` entry.
 *
 * cuBLAS is column-major; a row-major [M,N] product C = A·B is the
 * column-major product Cᵀ = Bᵀ·Aᵀ, so the operands are passed swapped and
 * each one's layout (row- or column-major, as lt_ops_linalg.c guarantees)
 * becomes a transpose flag, with no copy. A batch stride of 0 (a broadcast
 * operand) is passed through. float32 uses TF32 tensor cores unless
 * lt_cuda_set_allow_tf32(false); bfloat16 and float16 accumulate in
 * float32; float64 in float64. Integer dtypes have no cuBLAS routine and go
 * to a plain kernel (lt_cuda_linalg.cu). */
#include <limits.h>

#include "lt_cuda_entries.h"
#include "lt_cuda_libs.h"

/* For a [B, R, C] operand: stored transposed (column-major) or not, and the
 * leading dimension, as the CPU backend reads it. */
static void layout(const lt_tensor *t, bool *trans, int64_t *ld) {
  int64_t rs = t->stride[1], cs = t->stride[2], R = t->shape[1], C = t->shape[2];
  if (cs == 1 && (rs >= C || R == 1)) {
    *trans = false;
    *ld = rs > C ? rs : (C > 0 ? C : 1);
  } else {
    *trans = true;
    *ld = cs > R ? cs : (R > 0 ? R : 1);
  }
}

static bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

lt_status lt_cuda_matmul(lt_tensor *out, const lt_tensor *a, const lt_tensor *b, double alpha, double beta) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(out, &c));
  int64_t B = out->shape[0], M = out->shape[1], N = out->shape[2], K = a->shape[2];
  if (B == 0 || M == 0 || N == 0) return LT_OK;
  lt_dtype dt = out->dtype;
  if (dt != LT_FLOAT32 && dt != LT_FLOAT64 && dt != LT_BFLOAT16 && dt != LT_FLOAT16) {
    lt_cuda_tensor o = lt_cuda_view(out), av = lt_cuda_view(a), bv = lt_cuda_view(b);
    return lt_cuda_matmul_int_k(c, &o, &av, &bv, alpha, beta);
  }
  bool ta, tb;
  int64_t lda, ldb;
  layout(a, &ta, &lda);
  layout(b, &tb, &ldb);
  if (!fits_int(M) || !fits_int(N) || !fits_int(K) || !fits_int(lda) || !fits_int(ldb) || !fits_int(N))
    return lt_error_set(LT_ERR_ARG, 0, "matmul on cuda: a matrix dimension exceeds 2^31-1 (M=%lld, N=%lld, K=%lld)",
                        (long long)M, (long long)N, (long long)K);
  cublasHandle_t h;
  const lt_cublas_api *blas;
  LT_TRY(lt_cuda_cublas_api(&blas));
  LT_TRY(lt_cuda_get_cublas(c, &h));
  cudaDataType_t type;
  cublasComputeType_t compute;
  float alpha_f = (float)alpha, beta_f = (float)beta;
  const void *alpha_p = &alpha_f, *beta_p = &beta_f;
  switch (dt) {
    case LT_FLOAT64:
      type = CUDA_R_64F;
      compute = CUBLAS_COMPUTE_64F;
      alpha_p = &alpha;
      beta_p = &beta;
      break;
    case LT_BFLOAT16:
      type = CUDA_R_16BF;
      compute = CUBLAS_COMPUTE_32F;
      break;
    case LT_FLOAT16:
      type = CUDA_R_16F;
      compute = CUBLAS_COMPUTE_32F;
      break;
    default:
      type = CUDA_R_32F;
      compute = lt_cuda_allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  }
  size_t es = lt_dtype_size(dt);
  /* column-major view: C' [N x M] = op(B') [N x K] * op(A') [K x M] */
  cublasOperation_t opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N, opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  long long sa = a->stride[0], sb = b->stride[0], so = (long long)(M * N);
  const char *pa = lt_tensor_data(a), *pb = lt_tensor_data(b);
  char *po = lt_tensor_data(out);
  /* gridDim.z bounds a batch: split very large ones */
  const int64_t max_batch = 65535;
  for (int64_t b0 = 0; b0 < B; b0 += max_batch) {
    int nb = (int)(B - b0 < max_batch ? B - b0 : max_batch);
    LT_CUBLAS_CHECK(blas->cublasGemmStridedBatchedEx(
        h, opb, opa, (int)N, (int)M, (int)K, alpha_p, pb + (size_t)(b0 * sb) * es, type, (int)ldb, sb,
        pa + (size_t)(b0 * sa) * es, type, (int)lda, sa, beta_p, po + (size_t)(b0 * so) * es, type, (int)N, so, nb,
        compute, CUBLAS_GEMM_DEFAULT));
  }
  return LT_OK;
}
