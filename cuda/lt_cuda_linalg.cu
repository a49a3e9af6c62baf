/* lt_cuda_linalg.cu — the batched matrix product for integer dtypes, which
 * cuBLAS lacks: one thread per output element, int64 accumulation with
 * wrap-around, as the CPU backend's loop (src/cpu/lt_cpu_linalg.c). Correct
 * rather than fast; float products go through cuBLAS (lt_cuda_linalg.c). */
#include "lt_cuda_common.cuh"

/* out [B,M,N] contiguous = alpha * a [B,M,K] @ b [B,K,N] + beta * out, any strides for a, b */
__global__ void matmul_int_k(char *out, lt_dtype odt, const char *a, lt_dtype adt, const char *b, lt_dtype bdt,
                             int64_t B, int64_t M, int64_t N, int64_t K, int64_t sa0, int64_t sa1, int64_t sa2,
                             int64_t sb0, int64_t sb1, int64_t sb2, int64_t alpha, int64_t beta) {
  const int64_t total = B * M * N;
  const size_t oes = lt_cvt_dtype_size(odt), aes = lt_cvt_dtype_size(adt), bes = lt_cvt_dtype_size(bdt);
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    int64_t n = e % N, m = (e / N) % M, bb = e / (M * N);
    uint64_t acc = 0;
    for (int64_t k = 0; k < K; k++) {
      int64_t av = lt_cvt_load_i64(a + (bb * sa0 + m * sa1 + k * sa2) * (int64_t)aes, adt);
      int64_t bv = lt_cvt_load_i64(b + (bb * sb0 + k * sb1 + n * sb2) * (int64_t)bes, bdt);
      acc += (uint64_t)av * (uint64_t)bv;
    }
    char *dst = out + e * (int64_t)oes;
    int64_t prev = beta != 0 ? lt_cvt_load_i64(dst, odt) : 0;
    lt_cvt_store_i64(dst, odt, (int64_t)((uint64_t)alpha * acc + (uint64_t)beta * (uint64_t)prev));
  }
}

extern "C" lt_status lt_cuda_matmul_int_k(lt_cuda_ctx *c, const lt_tensor *out, const lt_tensor *a,
                                          const lt_tensor *b, double alpha, double beta) {
  int64_t B = out->shape[0], M = out->shape[1], N = out->shape[2], K = a->shape[2];
  int64_t total = B * M * N;
  if (total == 0) return LT_OK;
  matmul_int_k<<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
      data_of(out), out->dtype, data_of(a), a->dtype, data_of(b), b->dtype, B, M, N, K, a->stride[0], a->stride[1],
      a->stride[2], b->stride[0], b->stride[1], b->stride[2], (int64_t)alpha, (int64_t)beta);
  LT_CUDA_LAUNCHED(c, "matmul_int_k");
  return LT_OK;
}
