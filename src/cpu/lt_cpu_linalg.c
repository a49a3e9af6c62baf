/* lt_cpu_linalg.c — batched matrix products through OpenBLAS (cblas) for
 * float32/float64 (bfloat16 too, on float32 copies: lt_cpu_bf16.c), and
 * plain loops for float16 and the integer types.
 * Each matrix of a and b is row-major or column-major (the op layer copies
 * anything else), which maps onto GEMM's transpose flags with no copy.
 *
 * Threads: OpenBLAS runs single-threaded (lt_cpu_blas_init), and a large
 * product is cut into GEMMs on disjoint blocks of the output — matrices of
 * the batch, else bands of rows or columns — one per thread of the CPU
 * backend's OpenMP team. So every CPU kernel, oneDNN's convolutions
 * included, runs on that one team of threads, and no second pool of BLAS
 * threads competes with it for the cores. */
#include <cblas.h>
#include <omp.h>

#include "lt_cpu_iter.h"
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

void lt_cpu_blas_init(void) { openblas_set_num_threads(1); }

/* Below this many multiply-adds a product runs as one GEMM on the calling
 * thread: waking the team would cost more. */
#define GEMM_PARALLEL_MACS (1 << 18)

typedef struct {
  bool dbl, ta, tb;
  int64_t M, N, K, lda, ldb;
  double alpha, beta;
} gemm_shape;

/* out[m0:m1, n0:n1] of one matrix product (row-major out, leading dimension N) */
static void gemm_block(const gemm_shape *g, const char *ai, const char *bi, char *oi, int64_t m0, int64_t m1,
                       int64_t n0, int64_t n1) {
  size_t es = g->dbl ? sizeof(double) : sizeof(float);
  /* row m of a: m*lda when stored as is, column m when transposed; column n of b likewise */
  const char *A = ai + (size_t)(g->ta ? m0 : m0 * g->lda) * es, *B = bi + (size_t)(g->tb ? n0 * g->ldb : n0) * es;
  char *O = oi + (size_t)(m0 * g->N + n0) * es;
  int M = (int)(m1 - m0), N = (int)(n1 - n0);
  if (M <= 0 || N <= 0) return;
  CBLAS_TRANSPOSE ta = g->ta ? CblasTrans : CblasNoTrans, tb = g->tb ? CblasTrans : CblasNoTrans;
  if (g->dbl)
    cblas_dgemm(CblasRowMajor, ta, tb, M, N, (int)g->K, g->alpha, (const double *)A, (int)g->lda, (const double *)B,
                (int)g->ldb, g->beta, (double *)O, (int)g->N);
  else
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, (int)g->K, (float)g->alpha, (const float *)A, (int)g->lda,
                (const float *)B, (int)g->ldb, (float)g->beta, (float *)O, (int)g->N);
}

/* The B products of a float32/float64 batch, on the OpenMP team when large:
 * units are whole matrices when there are at least as many as threads,
 * else bands of rows (or of columns, for a wide, short output). */
static void blas_matmul(const gemm_shape *g, int64_t B, const char *pa, int64_t sa, const char *pb, int64_t sb,
                        char *o) {
  size_t es = g->dbl ? sizeof(double) : sizeof(float);
  int T = lt_cpu_num_threads();
  double macs = (double)B * (double)g->M * (double)g->N * (double)g->K;
  int64_t bands = 1;
  bool by_rows = g->M >= g->N;
  if (T > 1 && macs >= GEMM_PARALLEL_MACS && B < T) {
    int64_t len = by_rows ? g->M : g->N;
    bands = len < T ? len : T;
  }
  int64_t units = B * bands;
  if (T == 1 || macs < GEMM_PARALLEL_MACS || units == 1) {
    for (int64_t i = 0; i < B; i++) gemm_block(g, pa + i * sa * (int64_t)es, pb + i * sb * (int64_t)es,
                                               o + i * g->M * g->N * (int64_t)es, 0, g->M, 0, g->N);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(T)
  for (int64_t u = 0; u < units; u++) {
    int64_t i = u / bands, band = u % bands, len = by_rows ? g->M : g->N;
    int64_t lo = len * band / bands, hi = len * (band + 1) / bands;
    const char *ai = pa + i * sa * (int64_t)es, *bi = pb + i * sb * (int64_t)es;
    char *oi = o + i * g->M * g->N * (int64_t)es;
    if (by_rows) gemm_block(g, ai, bi, oi, lo, hi, 0, g->N);
    else gemm_block(g, ai, bi, oi, 0, g->M, lo, hi);
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
  if (out->dtype == LT_FLOAT32 || out->dtype == LT_FLOAT64) {
    gemm_shape g = {out->dtype == LT_FLOAT64, ta, tb, M, N, K, lda, ldb, alpha, beta};
    blas_matmul(&g, B, pa, a->stride[0], pb, b->stride[0], o);
    return LT_OK;
  }
  for (int64_t i = 0; i < B; i++) {
    const char *ai = pa + i * a->stride[0] * (int64_t)es, *bi = pb + i * b->stride[0] * (int64_t)es;
    char *oi = o + i * M * N * (int64_t)es;
    if (lt_dtype_is_floating(out->dtype)) {
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
