/* test_cuda_libs.c — in a CUDA build, cuBLAS and cuDNN must load on demand
 * with every function the backend calls (cuda/lt_cuda_libs.c): a missing or
 * misspelt symbol would otherwise only show on the GPU machine. Needs no
 * GPU. In a build without CUDA there is nothing to load and it only says so. */
#include <stdio.h>

#include "lt_test.h"

#ifdef LT_WITH_CUDA
#include "lt_cuda_libs.h"

int main(void) {
  const lt_cublas_api *blas = NULL;
  lt_status st = lt_cuda_cublas_api(&blas);
  if (st != LT_OK) fprintf(stderr, "%s\n", lt_error_message());
  LT_CHECK(st == LT_OK && blas && blas->cublasGemmStridedBatchedEx && blas->cublasCreate_v2);
  const lt_cudnn_api *dnn = NULL;
  st = lt_cuda_cudnn_api(&dnn);
  if (st != LT_OK) fprintf(stderr, "%s\n", lt_error_message());
  LT_CHECK(st == LT_OK && dnn && dnn->cudnnConvolutionBackwardFilter);
  if (dnn) {
    size_t v = dnn->cudnnGetVersion();
    printf("cuDNN %zu.%zu.%zu loaded\n", v / 10000, (v % 10000) / 100, v % 100);
    LT_CHECK(v / 10000 == CUDNN_MAJOR);
    /* the error strings come from the loaded library */
    lt_cudnn_fail(CUDNN_STATUS_BAD_PARAM, "stmt", "dir/file.c", 7);
    LT_CHECK(lt_error_status() == LT_ERR_RUNTIME);
    printf("%s\n", lt_error_message());
  }
  /* cuBLASLt (matmul/linear) under the soname of the headers' major version,
   * with every function of its table */
  const lt_cublaslt_api *lt = NULL;
  st = lt_cuda_cublaslt_api(&lt);
  if (st != LT_OK) fprintf(stderr, "%s\n", lt_error_message());
  LT_CHECK(st == LT_OK && lt && lt->cublasLtMatmul && lt->cublasLtMatmulAlgoGetHeuristic);
  if (lt) LT_CHECK(lt->cublasLtGetVersion() / 10000 == CUBLAS_VER_MAJOR);
  /* loading twice gives the same tables */
  const lt_cublas_api *blas2 = NULL;
  LT_CHECK(lt_cuda_cublas_api(&blas2) == LT_OK && blas2 == blas);
  lt_cublas_fail(CUBLAS_STATUS_ALLOC_FAILED, "cublasX()", "a/b.c", 3);
  LT_CHECK(lt_error_status() == LT_ERR_OOM);
  return lt_test_done();
}
#else
int main(void) {
  printf("built without CUDA: nothing to load\n");
  return lt_test_done();
}
#endif
