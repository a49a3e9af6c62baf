/* lt_cuda_libs.h — cuBLAS, cuBLASLt and cuDNN, loaded on first use.
 *
 * Linking them would make every start of luatrain load and initialise
 * cuBLAS (its library registers thousands of kernels: about a second), even
 * for CPU-only scripts and the REPL, and would stop the binary from starting
 * where they are not installed. Instead the first matrix product or
 * convolution on a GPU dlopen()s libcublasLt.so.<major> (matrix products),
 * libcublas.so.<major> (their fallback) / libcudnn.so.<major>
 * (the versions of the headers this was compiled with) and resolves the
 * handful of functions the backend calls into the tables below; calls go
 * through them (blas->cublasGemmStridedBatchedEx(...)). A missing library is
 * an error of the op that needed it, naming the file and dlerror().
 *
 * Only the C files of the backend use this header. */
#ifndef LT_CUDA_LIBS_H
#define LT_CUDA_LIBS_H

#include "lt_cuda_internal.h"

#define LT_FN(name) __typeof__(name) *name

typedef struct {
  LT_FN(cublasCreate_v2);
  LT_FN(cublasDestroy_v2);
  LT_FN(cublasSetStream_v2);
  LT_FN(cublasSetWorkspace_v2);
  LT_FN(cublasSetPointerMode_v2);
  LT_FN(cublasGemmStridedBatchedEx);
  LT_FN(cublasGetProperty);
} lt_cublas_api;

typedef struct {
  LT_FN(cublasLtGetVersion);
  LT_FN(cublasLtCreate);
  LT_FN(cublasLtDestroy);
  LT_FN(cublasLtMatmulDescCreate);
  LT_FN(cublasLtMatmulDescDestroy);
  LT_FN(cublasLtMatmulDescSetAttribute);
  LT_FN(cublasLtMatrixLayoutCreate);
  LT_FN(cublasLtMatrixLayoutDestroy);
  LT_FN(cublasLtMatrixLayoutSetAttribute);
  LT_FN(cublasLtMatmulPreferenceCreate);
  LT_FN(cublasLtMatmulPreferenceDestroy);
  LT_FN(cublasLtMatmulPreferenceSetAttribute);
  LT_FN(cublasLtMatmulAlgoGetHeuristic);
  LT_FN(cublasLtMatmul);
} lt_cublaslt_api;

typedef struct {
  LT_FN(cudnnGetVersion);
  LT_FN(cudnnGetErrorString);
  LT_FN(cudnnCreate);
  LT_FN(cudnnDestroy);
  LT_FN(cudnnSetStream);
  LT_FN(cudnnCreateTensorDescriptor);
  LT_FN(cudnnDestroyTensorDescriptor);
  LT_FN(cudnnSetTensor4dDescriptorEx);
  LT_FN(cudnnCreateFilterDescriptor);
  LT_FN(cudnnDestroyFilterDescriptor);
  LT_FN(cudnnSetFilter4dDescriptor);
  LT_FN(cudnnCreateConvolutionDescriptor);
  LT_FN(cudnnDestroyConvolutionDescriptor);
  LT_FN(cudnnSetConvolution2dDescriptor);
  LT_FN(cudnnSetConvolutionGroupCount);
  LT_FN(cudnnSetConvolutionMathType);
  LT_FN(cudnnGetConvolution2dForwardOutputDim);
  LT_FN(cudnnGetConvolutionForwardAlgorithmMaxCount);
  LT_FN(cudnnGetConvolutionBackwardDataAlgorithmMaxCount);
  LT_FN(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount);
  LT_FN(cudnnFindConvolutionForwardAlgorithmEx);
  LT_FN(cudnnFindConvolutionBackwardDataAlgorithmEx);
  LT_FN(cudnnFindConvolutionBackwardFilterAlgorithmEx);
  LT_FN(cudnnConvolutionForward);
  LT_FN(cudnnConvolutionBackwardData);
  LT_FN(cudnnConvolutionBackwardFilter);
} lt_cudnn_api;

#undef LT_FN

/* The loaded tables (loading once, thread-safely); an error naming the
 * library when it cannot be loaded or lacks a function. */
lt_status lt_cuda_cublas_api(const lt_cublas_api **out);
lt_status lt_cuda_cublaslt_api(const lt_cublaslt_api **out);
/* cuDNN older than 9.0 (or of another major version than the headers) is
 * refused here, naming the version found. */
lt_status lt_cuda_cudnn_api(const lt_cudnn_api **out);

#endif
