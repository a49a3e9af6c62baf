/* lt_cdefs.h — what lets one header be read by C11 and by CUDA C++ alike
 * (nvcc compiles the cuda/ .cu files as C++17 and they include the core's
 * headers), so that types, enums and per-element rules exist once:
 *
 * - LT_BEGIN_DECLS / LT_END_DECLS around a header's declarations give them C
 *   linkage when C++ reads them.
 * - LT_HOST_DEVICE marks a function both the host and the GPU compile
 *   (__host__ __device__ under nvcc, nothing in C); with LT_INLINE
 *   (__forceinline__ under nvcc, inline in C) it is how the per-element rules
 *   shared by the CPU and CUDA kernels are written: `static LT_INLINE
 *   LT_HOST_DEVICE` functions in a core header (lt_optim_rules.h,
 *   lt_dtype_convert.h, lt_padding.h), which each side compiles into its own
 *   loops exactly as if written there.
 * - LT_ATOMIC(T) declares a field that C updates atomically (reference
 *   counts, storage versions): C11's _Atomic(T) in C; in C++, a plain T of
 *   the same size and alignment (lt_storage.c checks it). C++ code never
 *   touches such a field: counts change through lt_tensor_retain/release and
 *   lt_storage_retain/release, and are read with lt_tensor_refcount and
 *   lt_storage_refcount, all compiled as C.
 *
 * Not here: anything a header needs for its own sake. */
#ifndef LT_CDEFS_H
#define LT_CDEFS_H

#ifdef __cplusplus
#define LT_BEGIN_DECLS extern "C" {
#define LT_END_DECLS }
#define LT_ATOMIC(T) T
#else
#include <stdatomic.h>
#define LT_BEGIN_DECLS
#define LT_END_DECLS
#define LT_ATOMIC(T) _Atomic(T)
#endif

#ifdef __CUDACC__
#define LT_HOST_DEVICE __host__ __device__
#define LT_INLINE __forceinline__
#else
#define LT_HOST_DEVICE
#define LT_INLINE inline
#endif

#endif
