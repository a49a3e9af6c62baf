/* lt_cpu_kernels.h — the CPU backend's kernels; lt_cpu_backend.c puts them in
 * the backend table. Contracts are those of the entries in lt_backend.h. */
#ifndef LT_CPU_KERNELS_H
#define LT_CPU_KERNELS_H

#include "lt_backend.h"

lt_status lt_cpu_copy(lt_tensor *dst, const lt_tensor *src);
lt_status lt_cpu_fill(lt_tensor *dst, double v);
lt_status lt_cpu_unary(lt_unary_op op, lt_tensor *out, const lt_tensor *x, const double *p);
lt_status lt_cpu_binary(lt_binary_op op, lt_tensor *out, const lt_tensor *a, const lt_tensor *b);
lt_status lt_cpu_where(lt_tensor *out, const lt_tensor *cond, const lt_tensor *a, const lt_tensor *b);
lt_status lt_cpu_reduce(lt_reduce_op op, lt_tensor *out, lt_tensor *idx, const lt_tensor *x, int64_t outer, int64_t r,
                        int64_t inner, double param);
/* lt_cpu_linalg.c: OpenBLAS set to one thread (the products run on the OpenMP
 * team instead), called when the backend registers; and the product */
void lt_cpu_blas_init(void);
lt_status lt_cpu_matmul(lt_tensor *out, const lt_tensor *a, const lt_tensor *b, double alpha, double beta);
/* lt_cpu_bf16.c: lt_cpu_matmul of bfloat16 operands, through sgemm on float32 copies */
lt_status lt_cpu_bf16_matmul(lt_tensor *out, const lt_tensor *a, const lt_tensor *b, double alpha, double beta);
lt_status lt_cpu_rand(lt_rand_kind kind, lt_tensor *out, uint64_t seed, uint64_t first_block, double a, double b);

#endif
