/* lt_cuda_linalg.c — matrix products on the GPU: the backend's `matmul` entry
 * (batched, strided) and the nn table's `linear_forward` (x·wᵀ + b with the
 * bias added by cuBLASLt's BIAS epilogue, in the GEMM's own kernel).
 *
 * Both go through cublasLtMatmul. cuBLAS(Lt) is column-major; a row-major
 * [M,N] product C = A·B is the column-major product Cᵀ = Bᵀ·Aᵀ, so the
 * operands are passed swapped and each one's layout (row- or column-major,
 * as lt_ops_linalg.c guarantees) becomes a transpose flag, with no copy.
 * float32 computes in FP32, or FAST_TF32 while lt_cuda_allow_tf32();
 * bfloat16 and float16 inputs accumulate in float32; float64 in float64.
 *
 * Each distinct problem (device, dtype, TF32, transposes, sizes, leading
 * dimensions, batch strides, epilogue and the pointers' alignment) gets a
 * plan: its descriptors and the algorithm cublasLtMatmulAlgoGetHeuristic
 * picked, made once and kept (a training step repeats the same few shapes).
 * The workspace is one pool block per device (lt_cuda_get_cublaslt), so a
 * step stays capturable. When cuBLASLt has no algorithm for a problem, or a
 * batch stride is 0 (a broadcast operand), the product falls back to
 * cublasGemmStridedBatchedEx, and a bias (also one off a 16-byte boundary)
 * to a copy before the product.
 * Integer dtypes have no cuBLAS routine and go to a plain kernel
 * (lt_cuda_linalg.cu). */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lt_cuda_internal.h"
#include "lt_gemm_layout.h"
#include "lt_cuda_libs.h"

/* For a [B, R, C] operand: stored transposed (column-major) or not, and the
 * leading dimension, by the rule the op layer checked (lt_gemm_layout.h);
 * false for a layout it should have copied. */
static bool layout(const lt_tensor *t, bool *trans, int64_t *ld) {
  return lt_gemm_layout(t->shape[1], t->shape[2], t->stride[1], t->stride[2], trans, ld);
}

static bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

/* The data/compute/scale types of a floating dtype; false for others. */
typedef struct {
  cudaDataType_t type, scale;
  cublasComputeType_t compute;
} gemm_types;

static bool types_of(lt_dtype dt, gemm_types *g) {
  switch (dt) {
    case LT_FLOAT64: *g = (gemm_types){CUDA_R_64F, CUDA_R_64F, CUBLAS_COMPUTE_64F}; return true;
    case LT_BFLOAT16: *g = (gemm_types){CUDA_R_16BF, CUDA_R_32F, CUBLAS_COMPUTE_32F}; return true;
    case LT_FLOAT16: *g = (gemm_types){CUDA_R_16F, CUDA_R_32F, CUBLAS_COMPUTE_32F}; return true;
    case LT_FLOAT32:
      *g = (gemm_types){CUDA_R_32F, CUDA_R_32F,
                        lt_cuda_allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F};
      return true;
    default: return false;
  }
}

/* One column-major problem: D[m x n] = alpha·op(A)[m x k]·op(B)[k x n] +
 * beta·C (C = D) (+ bias[m] broadcast over the columns), `batch` times with
 * element strides sa, sb, sc between the matrices. */
typedef struct {
  lt_dtype dt;
  bool ta, tb;
  int64_t m, n, k, lda, ldb, ldc, batch, sa, sb, sc;
  const void *A, *B, *bias;
  void *C;
} gemm;

/* --- the plan cache ------------------------------------------------------------------------------------- */
typedef struct {
  int device, dtype, compute, ta, tb, bias;
  int64_t m, n, k, lda, ldb, ldc, batch, sa, sb, sc;
  uint32_t align[4]; /* A, B, C/D, bias */
} plan_key;

typedef struct plan {
  plan_key key;
  bool ok; /* false: cuBLASLt has no algorithm, use the fallback */
  cublasLtMatmulDesc_t desc;
  cublasLtMatrixLayout_t la, lb, lc;
  cublasLtMatmulAlgo_t algo;
  struct plan *next;
} plan;

#define MAX_PLANS 4096 /* beyond this (shapes that never repeat) the cache starts over */
static pthread_mutex_t plans_mu = PTHREAD_MUTEX_INITIALIZER;
static plan *plans;
static int nplans;

static void plan_destroy(const lt_cublaslt_api *lt, plan *p) {
  if (p->la) lt->cublasLtMatrixLayoutDestroy(p->la);
  if (p->lb) lt->cublasLtMatrixLayoutDestroy(p->lb);
  if (p->lc) lt->cublasLtMatrixLayoutDestroy(p->lc);
  if (p->desc) lt->cublasLtMatmulDescDestroy(p->desc);
  free(p);
}

/* The largest power of two (up to 256) dividing the address and, for a
 * batch, the byte stride between its matrices. */
static uint32_t align_of(const void *p, int64_t stride_bytes, int64_t batch) {
  uintptr_t a = (uintptr_t)p | 256;
  if (batch > 1) a |= (uintptr_t)stride_bytes;
  return (uint32_t)(a & (~a + 1));
}

static lt_status layout_new(const lt_cublaslt_api *lt, cublasLtMatrixLayout_t *l, cudaDataType_t type, int64_t rows,
                            int64_t cols, int64_t ld, int64_t batch, int64_t stride) {
  LT_CUBLAS_CHECK(lt->cublasLtMatrixLayoutCreate(l, type, (uint64_t)rows, (uint64_t)cols, ld));
  if (batch > 1) {
    int32_t b32 = (int32_t)batch;
    LT_CUBLAS_CHECK(lt->cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &b32, sizeof b32));
    LT_CUBLAS_CHECK(
        lt->cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
  }
  return LT_OK;
}

/* Fills p's descriptors and asks the heuristic for an algorithm (p->ok). */
static lt_status plan_make(const lt_cublaslt_api *lt, cublasLtHandle_t h, const gemm *g, const gemm_types *ty,
                           size_t ws_bytes, plan *p) {
  LT_CUBLAS_CHECK(lt->cublasLtMatmulDescCreate(&p->desc, ty->compute, ty->scale));
  int32_t opa = g->ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = g->tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  LT_CUBLAS_CHECK(lt->cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa));
  LT_CUBLAS_CHECK(lt->cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb));
  if (g->bias) {
    uint32_t epi = CUBLASLT_EPILOGUE_BIAS;
    LT_CUBLAS_CHECK(lt->cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    /* the heuristic does not dereference it; each call sets the real one */
    LT_CUBLAS_CHECK(
        lt->cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g->bias, sizeof g->bias));
  }
  LT_TRY(layout_new(lt, &p->la, ty->type, g->ta ? g->k : g->m, g->ta ? g->m : g->k, g->lda, g->batch, g->sa));
  LT_TRY(layout_new(lt, &p->lb, ty->type, g->tb ? g->n : g->k, g->tb ? g->k : g->n, g->ldb, g->batch, g->sb));
  LT_TRY(layout_new(lt, &p->lc, ty->type, g->m, g->n, g->ldc, g->batch, g->sc));
  cublasLtMatmulPreference_t pref;
  LT_CUBLAS_CHECK(lt->cublasLtMatmulPreferenceCreate(&pref));
  uint64_t wsb = ws_bytes;
  const cublasLtMatmulPreferenceAttributes_t which[4] = {
    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
  const uint32_t aligns[4] = {p->key.align[0], p->key.align[1], p->key.align[2], p->key.align[2]};
  cublasStatus_t s =
      lt->cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof wsb);
  for (int i = 0; i < 4 && s == CUBLAS_STATUS_SUCCESS; i++)
    s = lt->cublasLtMatmulPreferenceSetAttribute(pref, which[i], &aligns[i], sizeof aligns[i]);
  cublasLtMatmulHeuristicResult_t res;
  int found = 0;
  memset(&res, 0, sizeof res);
  if (s == CUBLAS_STATUS_SUCCESS) {
    cublasStatus_t hs =
        lt->cublasLtMatmulAlgoGetHeuristic(h, p->desc, p->la, p->lb, p->lc, p->lc, pref, 1, &res, &found);
    /* A problem cuBLASLt does not take (NOT_SUPPORTED, or INVALID_VALUE for
     * a combination it rejects, e.g. an epilogue for a dtype) goes to the
     * fallback, which reports real errors; only running out of memory or an
     * unusable handle is an error here. */
    if (hs == CUBLAS_STATUS_ALLOC_FAILED || hs == CUBLAS_STATUS_NOT_INITIALIZED) s = hs;
    else if (hs != CUBLAS_STATUS_SUCCESS) found = 0;
  }
  lt->cublasLtMatmulPreferenceDestroy(pref);
  if (s != CUBLAS_STATUS_SUCCESS) return lt_cublas_fail(s, "cublasLtMatmulAlgoGetHeuristic(...)", __FILE__, __LINE__);
  p->ok = found > 0 && res.state == CUBLAS_STATUS_SUCCESS && res.workspaceSize <= ws_bytes;
  if (p->ok) p->algo = res.algo;
  return LT_OK;
}

/* Runs g through cuBLASLt; *done = false when it has no algorithm for it
 * (nothing was queued: the caller falls back). */
static lt_status lt_gemm(lt_cuda_ctx *c, const gemm *g, double alpha, double beta, bool *done) {
  *done = false;
  gemm_types ty;
  if (!types_of(g->dt, &ty)) return LT_OK;
  const lt_cublaslt_api *lt;
  cublasLtHandle_t h;
  void *ws;
  size_t ws_bytes, es = lt_dtype_size(g->dt);
  LT_TRY(lt_cuda_cublaslt_api(&lt));
  LT_TRY(lt_cuda_get_cublaslt(c, &h, &ws, &ws_bytes));
  plan_key key;
  memset(&key, 0, sizeof key); /* padding too: keys are compared with memcmp */
  key.device = c->device;
  key.dtype = (int)g->dt;
  key.compute = (int)ty.compute;
  key.ta = g->ta;
  key.tb = g->tb;
  key.bias = g->bias != NULL;
  key.m = g->m, key.n = g->n, key.k = g->k, key.lda = g->lda, key.ldb = g->ldb, key.ldc = g->ldc;
  key.batch = g->batch, key.sa = g->sa, key.sb = g->sb, key.sc = g->sc;
  key.align[0] = align_of(g->A, g->sa * (int64_t)es, g->batch);
  key.align[1] = align_of(g->B, g->sb * (int64_t)es, g->batch);
  key.align[2] = align_of(g->C, g->sc * (int64_t)es, g->batch);
  key.align[3] = g->bias ? align_of(g->bias, 0, 1) : 0;

  pthread_mutex_lock(&plans_mu);
  plan *p = plans;
  while (p && memcmp(&p->key, &key, sizeof key) != 0) p = p->next;
  lt_status st = LT_OK;
  if (!p) {
    if (nplans >= MAX_PLANS) {
      while (plans) {
        plan *nx = plans->next;
        plan_destroy(lt, plans);
        plans = nx;
      }
      nplans = 0;
    }
    p = calloc(1, sizeof *p);
    if (!p) {
      pthread_mutex_unlock(&plans_mu);
      return lt_error_set(LT_ERR_OOM, 0, "out of host memory for a cuBLASLt plan");
    }
    p->key = key;
    st = plan_make(lt, h, g, &ty, ws_bytes, p);
    if (st != LT_OK) {
      plan_destroy(lt, p);
      pthread_mutex_unlock(&plans_mu);
      return st;
    }
    p->next = plans;
    plans = p;
    nplans++;
  }
  if (p->ok) {
    float af = (float)alpha, bf = (float)beta;
    const void *ap = ty.scale == CUDA_R_64F ? (const void *)&alpha : (const void *)&af;
    const void *bp = ty.scale == CUDA_R_64F ? (const void *)&beta : (const void *)&bf;
    cublasStatus_t s = CUBLAS_STATUS_SUCCESS;
    if (g->bias) /* the descriptor is shared by every call of this shape: set under the lock */
      s = lt->cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g->bias, sizeof g->bias);
    if (s == CUBLAS_STATUS_SUCCESS)
      s = lt->cublasLtMatmul(h, p->desc, ap, g->A, p->la, g->B, p->lb, bp, g->C, p->lc, g->C, p->lc, &p->algo, ws,
                             ws_bytes, c->stream);
    if (s == CUBLAS_STATUS_NOT_SUPPORTED) p->ok = false; /* nothing queued: fall back, now and later */
    else if (s != CUBLAS_STATUS_SUCCESS) st = lt_cublas_fail(s, "cublasLtMatmul(...)", __FILE__, __LINE__);
    else *done = true;
  }
  pthread_mutex_unlock(&plans_mu);
  return st;
}

/* The same product through cublasGemmStridedBatchedEx (no bias). */
static lt_status blas_gemm(lt_cuda_ctx *c, const gemm *g, double alpha, double beta) {
  gemm_types ty;
  if (!types_of(g->dt, &ty)) return lt_error_set(LT_ERR_RUNTIME, 0, "no cuBLAS product for %s", lt_dtype_name(g->dt));
  cublasHandle_t h;
  const lt_cublas_api *blas;
  LT_TRY(lt_cuda_cublas_api(&blas));
  LT_TRY(lt_cuda_get_cublas(c, &h));
  float af = (float)alpha, bf = (float)beta;
  const void *ap = ty.scale == CUDA_R_64F ? (const void *)&alpha : (const void *)&af;
  const void *bp = ty.scale == CUDA_R_64F ? (const void *)&beta : (const void *)&bf;
  size_t es = lt_dtype_size(g->dt);
  const char *pa = g->A, *pb = g->B;
  char *pc = g->C;
  /* gridDim.z bounds a batch: split very large ones */
  const int64_t max_batch = 65535;
  for (int64_t b0 = 0; b0 < g->batch; b0 += max_batch) {
    int nb = (int)(g->batch - b0 < max_batch ? g->batch - b0 : max_batch);
    LT_CUBLAS_CHECK(blas->cublasGemmStridedBatchedEx(
        h, g->ta ? CUBLAS_OP_T : CUBLAS_OP_N, g->tb ? CUBLAS_OP_T : CUBLAS_OP_N, (int)g->m, (int)g->n, (int)g->k, ap,
        pa + (size_t)(b0 * g->sa) * es, ty.type, (int)g->lda, g->sa, pb + (size_t)(b0 * g->sb) * es, ty.type,
        (int)g->ldb, g->sb, bp, pc + (size_t)(b0 * g->sc) * es, ty.type, (int)g->ldc, g->sc, nb, ty.compute,
        CUBLAS_GEMM_DEFAULT));
  }
  return LT_OK;
}

/* cuBLASLt, or cuBLAS when it has no algorithm or an operand is broadcast
 * over the batch. g->bias must be NULL. */
static lt_status run_gemm(lt_cuda_ctx *c, const gemm *g, double alpha, double beta) {
  bool done = false;
  bool broadcast = g->batch > 1 && (g->sa == 0 || g->sb == 0);
  if (!broadcast && g->batch <= INT_MAX) LT_TRY(lt_gemm(c, g, alpha, beta, &done));
  return done ? LT_OK : blas_gemm(c, g, alpha, beta);
}

lt_status lt_cuda_matmul(lt_tensor *out, const lt_tensor *a, const lt_tensor *b, double alpha, double beta) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(out, &c));
  int64_t B = out->shape[0], M = out->shape[1], N = out->shape[2], K = a->shape[2];
  if (B == 0 || M == 0 || N == 0) return LT_OK;
  gemm_types ty;
  if (!types_of(out->dtype, &ty)) {
    return lt_cuda_matmul_int_k(c, out, a, b, alpha, beta);
  }
  bool ta, tb;
  int64_t lda, ldb;
  if (!layout(a, &ta, &lda) || !layout(b, &tb, &ldb))
    return lt_error_set(LT_ERR_RUNTIME, 0, "matmul on cuda: an operand's matrices are neither row- nor column-major "
                        "(the op layer copies those)");
  if (!fits_int(M) || !fits_int(N) || !fits_int(K) || !fits_int(lda) || !fits_int(ldb))
    return lt_error_set(LT_ERR_ARG, 0, "matmul on cuda: a matrix dimension exceeds 2^31-1 (M=%lld, N=%lld, K=%lld)",
                        (long long)M, (long long)N, (long long)K);
  /* column-major view: C' [N x M] = op(B') [N x K] * op(A') [K x M] */
  gemm g = {.dt = out->dtype, .ta = tb, .tb = ta, .m = N, .n = M, .k = K, .lda = ldb, .ldb = lda, .ldc = N,
            .batch = B, .sa = b->stride[0], .sb = a->stride[0], .sc = M * N, .A = lt_tensor_data(b),
            .B = lt_tensor_data(a), .bias = NULL, .C = lt_tensor_data(out)};
  return run_gemm(c, &g, alpha, beta);
}

/* y [M,O] = b [O] in every row */
static lt_status copy_rows(lt_cuda_ctx *c, lt_tensor *y, const lt_tensor *b) {
  lt_tensor *rows = NULL;
  LT_TRY(lt_tensor_expand((lt_tensor *)b, 2, y->shape, &rows));
  lt_status st = lt_cuda_copy_k(c, y, rows);
  lt_tensor_release(rows);
  return st;
}

lt_status lt_cuda_linear(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(y, &c));
  int64_t M = x->shape[0], I = x->shape[1], O = w->shape[0];
  if (M == 0 || O == 0) return LT_OK;
  if (!fits_int(M) || !fits_int(I) || !fits_int(O))
    return lt_error_set(LT_ERR_ARG, 0, "linear on cuda: a dimension exceeds 2^31-1 (rows=%lld, in=%lld, out=%lld)",
                        (long long)M, (long long)I, (long long)O);
  if (I == 0) { /* an empty sum: y = b, or 0 */
    if (!b) {
      unsigned char zero[8] = {0};
      return lt_cuda_fill_k(c, y, zero);
    }
    return copy_rows(c, y, b);
  }
  /* column-major: yᵀ [O x M] = op(w') [O x I] · x' [I x M], w' = w read column-major [I x O] */
  gemm g = {.dt = y->dtype, .ta = true, .tb = false, .m = O, .n = M, .k = I, .lda = I, .ldb = I, .ldc = O,
            .batch = 1, .sa = 0, .sb = 0, .sc = 0, .A = lt_tensor_data(w), .B = lt_tensor_data(x),
            .bias = b ? lt_tensor_data(b) : NULL, .C = lt_tensor_data(y)};
  bool done = false;
  /* The epilogue reads the bias vector with wide loads: a bias off a 16-byte
   * boundary (a view into a larger buffer) takes the unfused path. */
  if (b && ((uintptr_t)g.bias & 15) == 0) {
    LT_TRY(lt_gemm(c, &g, 1.0, 0.0, &done));
    if (done) return LT_OK;
  }
  if (b) {
    /* no algorithm with the bias epilogue: y = b broadcast, then y += x·wᵀ */
    LT_TRY(copy_rows(c, y, b));
    g.bias = NULL;
    return run_gemm(c, &g, 1.0, 1.0);
  }
  return run_gemm(c, &g, 1.0, 0.0);
}
