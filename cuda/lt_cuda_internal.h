/* lt_cuda_internal.h — what the CUDA backend's files share: the per-device
 * context (stream, memory pool, library handles), the error-checking macros,
 * a plain description of a strided tensor, and the launchers the .cu files
 * export to the C side.
 *
 * Why a plain tensor struct: the core's headers use C11 atomics, which the
 * C++ dialect nvcc compiles .cu files in cannot parse. So the C files of this
 * backend (lt_cuda_table.c, lt_cublas.c, lt_cudnn.c) read lt_tensor and pass
 * an lt_cuda_tensor (data pointer with the offset applied, dtype, shape,
 * strides) to launchers written in CUDA; the kernels never see lt_tensor.
 * Op enums are translated the same way (lt_cuda_table.c maps the core's
 * lt_unary_op etc. onto the LT_CU_* values below), so a new core op shows up
 * as "not implemented on cuda" instead of as a wrong kernel.
 *
 * This header compiles as C11 and as CUDA C++. Not here: the public API
 * (lt_cuda.h) and device-side helpers (lt_cuda_common.cuh). */
#ifndef LT_CUDA_INTERNAL_H
#define LT_CUDA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

/* The core's C headers have no extern "C" of their own. */
#ifdef __cplusplus
extern "C" {
#endif
#include "lt_dtype.h"
#include "lt_error.h"
#ifdef __cplusplus
}
#endif
#include "lt_cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LT_CUDA_MAX_DIMS 8 /* == LT_MAX_DIMS (checked in lt_cuda_table.c) */
#define LT_CUDA_MAX_DEVICES 16

/* A strided view: element (i_0..i_n) is at data + sum(i_k*stride[k]) elements. */
typedef struct {
  char *data;
  lt_dtype dtype;
  int ndim;
  int64_t shape[LT_CUDA_MAX_DIMS];
  int64_t stride[LT_CUDA_MAX_DIMS];
} lt_cuda_tensor;

/* --- errors kernels record for the host ---------------------------------------------------
 * A kernel cannot return an error without the host waiting for it, and ops
 * never wait. So kernels that find a bad index, class label or integer
 * division by zero record the first such error in a small device record,
 * and the host reports it at the next synchronisation: reading a value,
 * copying to the CPU, lt.cuda.synchronize(). */
typedef enum {
  LT_CU_DERR_NONE = 0,
  LT_CU_DERR_INDEX,  /* v[0] index, v[1] dim, v[2] size (0-based) */
  LT_CU_DERR_TARGET, /* v[0] class label, v[1] position, v[2] classes (0-based) */
  LT_CU_DERR_INTDIV  /* integer fmod/remainder by zero */
} lt_cuda_derr_kind;

typedef enum {
  LT_CU_OP_INDEX_SELECT = 1, LT_CU_OP_GATHER, LT_CU_OP_SCATTER, LT_CU_OP_NLL_LOSS, LT_CU_OP_FMOD,
  LT_CU_OP_REMAINDER, LT_CU_OP_CROSS_ENTROPY
} lt_cuda_op_name;

typedef struct {
  int kind; /* lt_cuda_derr_kind; set first, with atomicCAS, by the one kernel thread that wins */
  int op;   /* lt_cuda_op_name */
  long long v[3];
} lt_cuda_derr;

/* --- the per-device context ------------------------------------------------------------ */
typedef struct lt_cuda_ctx {
  int device;
  int sm_count;
  cudaStream_t stream;     /* every kernel, copy and library call of this device */
  cudaMemPool_t pool;      /* the device's default pool, release threshold = max */
  lt_cuda_derr *derr;      /* device memory: kernels record errors here */
  lt_cuda_derr *derr_host; /* pinned: its copy at each synchronisation */
  cublasHandle_t cublas;   /* lazily, with its workspace from the pool */
  void *cublas_ws;
  cublasLtHandle_t cublaslt; /* lazily; its workspace (pool memory) is passed to each matmul */
  void *cublaslt_ws;
  cudnnHandle_t cudnn;     /* lazily */
  cudaStream_t copy_stream; /* lazily (lt_cuda_transfer.cu): non_blocking copies from pinned memory */
} lt_cuda_ctx;

/* The context of `device`, initialised on first use, with the device made
 * current for the calling thread. Fails with a clear message when there is
 * no GPU, no such device, or the GPU is too old for this build. */
lt_status lt_cuda_ctx_get(int device, lt_cuda_ctx **out);
/* The context's cuBLAS/cuDNN handle, loading the library and making the
 * handle (bound to the context's stream) on first use (lt_cuda_libs.c). */
lt_status lt_cuda_get_cublas(lt_cuda_ctx *c, cublasHandle_t *out);
/* The context's cuBLASLt handle and its workspace of *ws_bytes bytes. */
lt_status lt_cuda_get_cublaslt(lt_cuda_ctx *c, cublasLtHandle_t *out, void **ws, size_t *ws_bytes);
lt_status lt_cuda_get_cudnn(lt_cuda_ctx *c, cudnnHandle_t *out);

/* Stream-ordered device memory from the pool, counted in the memory
 * statistics; LT_ERR_OOM with a message naming sizes when it fails. */
lt_status lt_cuda_malloc(lt_cuda_ctx *c, size_t nbytes, void **out);
void lt_cuda_free_async(lt_cuda_ctx *c, void *p);
/* Hands the pool's unused blocks back to the driver (after a one-off large
 * allocation such as the cuDNN search workspace, so that the process does
 * not keep it reserved for the rest of the run); nothing during a capture. */
void lt_cuda_trim_pool(lt_cuda_ctx *c);

/* The backend table's memory entries (device index instead of lt_device). */
lt_status lt_cuda_alloc_dev(int device, size_t nbytes, void **out);
void lt_cuda_free_dev(int device, void *p);
lt_status lt_cuda_copy_to_host_dev(int device, void *dst, const void *src, size_t nbytes);
lt_status lt_cuda_copy_from_host_dev(int device, void *dst, const void *src, size_t nbytes);

/* Waits for the stream, then reports (and clears) an error a kernel
 * recorded since the last time; LT_OK when none. */
lt_status lt_cuda_sync_check(lt_cuda_ctx *c);

/* --- CUDA graph capture (lt_cuda_graph.cu) ---------------------------------------------------
 * The device layer (lt_cuda_backend.cu) tells the graph module about every
 * allocation and asks it about every free; see lt_cuda_graph.cu for why. */
enum { LT_CU_FREE_NOW = 0, /* free it: remove it from the ledger and cudaFreeAsync it */
       LT_CU_FREE_KEEP,    /* a graph keeps it and frees it later: do nothing now */
       LT_CU_FREE_FORGET   /* it never existed (or a graph frees it): only remove it from the ledger */ };
lt_status lt_cuda_graph_on_alloc(lt_cuda_ctx *c, void *p, size_t nbytes);
int lt_cuda_graph_on_free(lt_cuda_ctx *c, void *p);
/* The device this thread captures on, -1 when it captures nothing. */
int lt_cuda_graph_capture_device(void);
/* LT_ERR_RUNTIME "<what> cannot run inside lt.cuda.graph capture: <why>". */
lt_status lt_cuda_graph_refuse(const char *what, const char *why);
/* An error when [src, src+nbytes) is memory of a graph not launched yet. */
lt_status lt_cuda_graph_check_read(int device, const void *src, size_t nbytes);
/* Removes p from the byte ledger without freeing it (lt_cuda_backend.cu). */
void lt_cuda_ledger_drop(int device, void *p);

/* Error helpers behind the macros: they format "CUDA error ... in `stmt` at
 * file:line" and map out-of-memory to LT_ERR_OOM (lt_cuda_fail is in
 * lt_cuda_backend.cu, the cuBLAS and cuDNN ones in lt_cuda_libs.c). */
lt_status lt_cuda_fail(cudaError_t e, const char *stmt, const char *file, int line);
lt_status lt_cublas_fail(cublasStatus_t s, const char *stmt, const char *file, int line);
lt_status lt_cudnn_fail(cudnnStatus_t s, const char *stmt, const char *file, int line);
/* After a kernel launch: the launch error, and in sync-debug mode the
 * execution error and any recorded kernel error. */
lt_status lt_cuda_after_launch(lt_cuda_ctx *c, const char *kernel, const char *file, int line);
bool lt_cuda_sync_debug(void);

#define LT_CUDA_CHECK(stmt) do { cudaError_t lt_e_ = (stmt); \
    if (lt_e_ != cudaSuccess) return lt_cuda_fail(lt_e_, #stmt, __FILE__, __LINE__); } while (0)
#define LT_CUBLAS_CHECK(stmt) do { cublasStatus_t lt_s_ = (stmt); \
    if (lt_s_ != CUBLAS_STATUS_SUCCESS) return lt_cublas_fail(lt_s_, #stmt, __FILE__, __LINE__); } while (0)
#define LT_CUDNN_CHECK(stmt) do { cudnnStatus_t lt_s_ = (stmt); \
    if (lt_s_ != CUDNN_STATUS_SUCCESS) return lt_cudnn_fail(lt_s_, #stmt, __FILE__, __LINE__); } while (0)
/* Variants that store the status in `st` and jump to `label` (for cleanup). */
#define LT_CUDA_CHECK_GOTO(stmt, st, label) do { cudaError_t lt_e_ = (stmt); \
    if (lt_e_ != cudaSuccess) { st = lt_cuda_fail(lt_e_, #stmt, __FILE__, __LINE__); goto label; } } while (0)
#define LT_CUDNN_CHECK_GOTO(stmt, st, label) do { cudnnStatus_t lt_s_ = (stmt); \
    if (lt_s_ != CUDNN_STATUS_SUCCESS) { st = lt_cudnn_fail(lt_s_, #stmt, __FILE__, __LINE__); goto label; } } while (0)
/* Follows every kernel launch. */
#define LT_CUDA_LAUNCHED(ctx, name) LT_TRY(lt_cuda_after_launch((ctx), (name), __FILE__, __LINE__))

/* --- op codes of the kernels (the C side maps the core's enums onto these) --------------- */
typedef enum {
  LT_CU_UN_NONE = 0, LT_CU_UN_NEG, LT_CU_UN_ABS, LT_CU_UN_EXP, LT_CU_UN_LOG, LT_CU_UN_SQRT, LT_CU_UN_RSQRT,
  LT_CU_UN_SIN, LT_CU_UN_COS, LT_CU_UN_TANH, LT_CU_UN_SIGMOID, LT_CU_UN_RELU, LT_CU_UN_FLOOR, LT_CU_UN_CEIL,
  LT_CU_UN_ROUND, LT_CU_UN_SIGN, LT_CU_UN_RECIPROCAL, LT_CU_UN_SQUARE, LT_CU_UN_LOGICAL_NOT, LT_CU_UN_ISNAN,
  LT_CU_UN_CLAMP, LT_CU_UN_POW_SCALAR, LT_CU_UN_RPOW_SCALAR, LT_CU_UN_LEAKY_RELU, LT_CU_UN_GELU,
  LT_CU_UN_GELU_TANH, LT_CU_UN_SILU
} lt_cu_unary;

typedef enum {
  LT_CU_BIN_NONE = 0, LT_CU_BIN_ADD, LT_CU_BIN_SUB, LT_CU_BIN_MUL, LT_CU_BIN_DIV, LT_CU_BIN_POW,
  LT_CU_BIN_MAXIMUM, LT_CU_BIN_MINIMUM, LT_CU_BIN_FMOD, LT_CU_BIN_REMAINDER, LT_CU_BIN_ATAN2,
  /* comparisons and logic (bool output) from here on */
  LT_CU_BIN_EQ, LT_CU_BIN_NE, LT_CU_BIN_LT, LT_CU_BIN_LE, LT_CU_BIN_GT, LT_CU_BIN_GE, LT_CU_BIN_AND,
  LT_CU_BIN_OR, LT_CU_BIN_XOR
} lt_cu_binary;

typedef enum {
  LT_CU_RED_NONE = 0, LT_CU_RED_SUM, LT_CU_RED_PROD, LT_CU_RED_MAX, LT_CU_RED_MIN, LT_CU_RED_ARGMAX,
  LT_CU_RED_ARGMIN, LT_CU_RED_MEAN, LT_CU_RED_VAR, LT_CU_RED_NORM, LT_CU_RED_ANY, LT_CU_RED_ALL
} lt_cu_reduce;

typedef enum { LT_CU_ACT_NONE = 0, LT_CU_ACT_RELU, LT_CU_ACT_LEAKY_RELU, LT_CU_ACT_GELU, LT_CU_ACT_GELU_TANH,
               LT_CU_ACT_SILU } lt_cu_act;

typedef enum { LT_CU_PLOSS_NONE = 0, LT_CU_PLOSS_MSE, LT_CU_PLOSS_L1, LT_CU_PLOSS_BCE_LOGITS } lt_cu_ploss;

/* Mirrors of the core's parameter structs (whose headers C++ cannot include). */
typedef struct {
  int64_t kernel[2], stride[2], padding[2], dilation[2];
  bool ceil_mode, count_include_pad;
  int64_t divisor_override;
} lt_cu_pool;

/* `dev` (NULL: none) points at the device scalars of lt_backend_optim.h,
 * which then replace the numeric fields and step counts when the kernel runs. */
typedef struct { double lr, momentum, dampening, weight_decay; bool nesterov, maximize; const double *dev; } lt_cu_sgd;
typedef struct {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, maximize, decoupled;
  const double *dev;
} lt_cu_adam;
typedef struct {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered, maximize;
  const double *dev;
} lt_cu_rmsprop;
typedef struct { double lr, rho, eps, weight_decay; bool maximize; const double *dev; } lt_cu_adadelta;
typedef struct { double lr, lr_decay, weight_decay, eps; bool maximize; const double *dev; } lt_cu_adagrad;
#define LT_CU_OPTIM_SCALARS 8 /* == LT_OPTIM_SCALARS (checked in lt_cuda_table.c) */

/* --- launchers (contracts: the matching entries of lt_backend*.h) ------------------------ */
/* lt_cuda_elementwise.cu */
lt_status lt_cuda_copy_k(lt_cuda_ctx *c, const lt_cuda_tensor *dst, const lt_cuda_tensor *src);
/* every element of dst = the element whose bytes are `pattern` (dst's dtype) */
lt_status lt_cuda_fill_k(lt_cuda_ctx *c, const lt_cuda_tensor *dst, const void *pattern);
lt_status lt_cuda_unary_k(lt_cuda_ctx *c, lt_cu_unary op, const lt_cuda_tensor *out, const lt_cuda_tensor *x,
                          double p0, double p1);
lt_status lt_cuda_binary_k(lt_cuda_ctx *c, lt_cu_binary op, const lt_cuda_tensor *out, const lt_cuda_tensor *a,
                           const lt_cuda_tensor *b);
lt_status lt_cuda_where_k(lt_cuda_ctx *c, const lt_cuda_tensor *out, const lt_cuda_tensor *cond,
                          const lt_cuda_tensor *a, const lt_cuda_tensor *b);
lt_status lt_cuda_act_backward_k(lt_cuda_ctx *c, lt_cu_act act, const lt_cuda_tensor *gx, const lt_cuda_tensor *gy,
                                 const lt_cuda_tensor *x, double param);
/* w, pw, gx, gy may be NULL */
lt_status lt_cuda_ploss_forward_k(lt_cuda_ctx *c, lt_cu_ploss kind, const lt_cuda_tensor *loss,
                                  const lt_cuda_tensor *x, const lt_cuda_tensor *y, const lt_cuda_tensor *w,
                                  const lt_cuda_tensor *pw);
lt_status lt_cuda_ploss_backward_k(lt_cuda_ctx *c, lt_cu_ploss kind, const lt_cuda_tensor *gx,
                                   const lt_cuda_tensor *gy, const lt_cuda_tensor *g, const lt_cuda_tensor *x,
                                   const lt_cuda_tensor *y, const lt_cuda_tensor *w, const lt_cuda_tensor *pw);

/* lt_cuda_reduce.cu: out and idx may be NULL */
lt_status lt_cuda_reduce_k(lt_cuda_ctx *c, lt_cu_reduce op, const lt_cuda_tensor *out, const lt_cuda_tensor *idx,
                           const lt_cuda_tensor *x, int64_t outer, int64_t r, int64_t inner, double param);

/* lt_cuda_rand.cu: normal when `normal`, else uniform in [a, b) */
lt_status lt_cuda_rand_k(lt_cuda_ctx *c, bool normal, const lt_cuda_tensor *out, uint64_t seed, uint64_t first_block,
                         double a, double b);
lt_status lt_cuda_dropout_mask_k(lt_cuda_ctx *c, const lt_cuda_tensor *mask, double p, uint64_t seed,
                                 uint64_t first_block);

/* lt_cuda_linalg.cu: integer batched matrix product (cuBLAS has none) */
lt_status lt_cuda_matmul_int_k(lt_cuda_ctx *c, const lt_cuda_tensor *out, const lt_cuda_tensor *a,
                               const lt_cuda_tensor *b, double alpha, double beta);

/* lt_cuda_nn.cu */
/* out [C] = sum over n and the spatial dims of x [N,C,...] (contiguous): a bias gradient */
lt_status lt_cuda_channel_sum_k(lt_cuda_ctx *c, const lt_cuda_tensor *out, const lt_cuda_tensor *x);
/* y [N,C,H,W] (any strides) += b [C] */
lt_status lt_cuda_bias_add_k(lt_cuda_ctx *c, const lt_cuda_tensor *y, const lt_cuda_tensor *b);
lt_status lt_cuda_bn_forward_k(lt_cuda_ctx *c, const lt_cuda_tensor *y, const lt_cuda_tensor *mean,
                               const lt_cuda_tensor *invstd, const lt_cuda_tensor *x, const lt_cuda_tensor *weight,
                               const lt_cuda_tensor *bias, const lt_cuda_tensor *running_mean,
                               const lt_cuda_tensor *running_var, bool training, double momentum, double eps);
lt_status lt_cuda_bn_backward_k(lt_cuda_ctx *c, const lt_cuda_tensor *gx, const lt_cuda_tensor *gw,
                                const lt_cuda_tensor *gb, const lt_cuda_tensor *gy, const lt_cuda_tensor *x,
                                const lt_cuda_tensor *weight, const lt_cuda_tensor *mean,
                                const lt_cuda_tensor *invstd, bool training);
lt_status lt_cuda_max_pool_forward_k(lt_cuda_ctx *c, const lt_cuda_tensor *y, const lt_cuda_tensor *idx,
                                     const lt_cuda_tensor *x, const lt_cu_pool *p);
lt_status lt_cuda_max_pool_backward_k(lt_cuda_ctx *c, const lt_cuda_tensor *gx, const lt_cuda_tensor *gy,
                                      const lt_cuda_tensor *idx, const lt_cu_pool *p);
lt_status lt_cuda_avg_pool_forward_k(lt_cuda_ctx *c, const lt_cuda_tensor *y, const lt_cuda_tensor *x,
                                     const lt_cu_pool *p);
lt_status lt_cuda_avg_pool_backward_k(lt_cuda_ctx *c, const lt_cuda_tensor *gx, const lt_cuda_tensor *gy,
                                      const lt_cu_pool *p);
lt_status lt_cuda_adaptive_avg_pool_forward_k(lt_cuda_ctx *c, const lt_cuda_tensor *y, const lt_cuda_tensor *x);
lt_status lt_cuda_adaptive_avg_pool_backward_k(lt_cuda_ctx *c, const lt_cuda_tensor *gx, const lt_cuda_tensor *gy);
lt_status lt_cuda_softmax_forward_k(lt_cuda_ctx *c, const lt_cuda_tensor *y, const lt_cuda_tensor *x, int64_t outer,
                                    int64_t n, int64_t inner, bool log);
lt_status lt_cuda_softmax_backward_k(lt_cuda_ctx *c, const lt_cuda_tensor *gx, const lt_cuda_tensor *gy,
                                     const lt_cuda_tensor *y, int64_t outer, int64_t n, int64_t inner, bool log);
lt_status lt_cuda_nll_forward_k(lt_cuda_ctx *c, const lt_cuda_tensor *loss, const lt_cuda_tensor *wt,
                                const lt_cuda_tensor *logp, const lt_cuda_tensor *target, const lt_cuda_tensor *weight,
                                double smoothing, int64_t ignore_index);
lt_status lt_cuda_nll_backward_k(lt_cuda_ctx *c, const lt_cuda_tensor *glogp, const lt_cuda_tensor *g,
                                 const lt_cuda_tensor *target, const lt_cuda_tensor *weight, double smoothing,
                                 int64_t ignore_index);

/* lt_cuda_loss.cu: fused cross-entropy (lse float64) */
lt_status lt_cuda_cross_entropy_forward_k(lt_cuda_ctx *c, const lt_cuda_tensor *loss, const lt_cuda_tensor *wt,
                                          const lt_cuda_tensor *lse, const lt_cuda_tensor *x,
                                          const lt_cuda_tensor *target, const lt_cuda_tensor *weight,
                                          double smoothing, int64_t ignore_index);
lt_status lt_cuda_cross_entropy_backward_k(lt_cuda_ctx *c, const lt_cuda_tensor *gx, const lt_cuda_tensor *g,
                                           const lt_cuda_tensor *x, const lt_cuda_tensor *lse,
                                           const lt_cuda_tensor *target, const lt_cuda_tensor *weight,
                                           double smoothing, int64_t ignore_index);

/* lt_cuda_index.cu: index values count from `base` (0 or 1) */
lt_status lt_cuda_index_select_k(lt_cuda_ctx *c, const lt_cuda_tensor *out, const lt_cuda_tensor *x, int dim,
                                 const lt_cuda_tensor *index, int64_t base);
lt_status lt_cuda_gather_k(lt_cuda_ctx *c, const lt_cuda_tensor *out, const lt_cuda_tensor *x, int dim,
                           const lt_cuda_tensor *index, int64_t base);
lt_status lt_cuda_scatter_k(lt_cuda_ctx *c, const lt_cuda_tensor *x, int dim, const lt_cuda_tensor *index,
                            int64_t base, const lt_cuda_tensor *src, bool add);
lt_status lt_cuda_sort_k(lt_cuda_ctx *c, const lt_cuda_tensor *values, const lt_cuda_tensor *indices,
                         const lt_cuda_tensor *x, int dim, bool descending, int64_t base);
lt_status lt_cuda_cumsum_k(lt_cuda_ctx *c, const lt_cuda_tensor *out, const lt_cuda_tensor *x, int dim, bool reverse);

/* lt_cuda_optim.cu: n rows of contiguous tensors of `numel[i]` elements of
 * dtype[i] (float32 or float64); state lists may be NULL as in
 * lt_backend_optim.h. */
lt_status lt_cuda_sgd_k(lt_cuda_ctx *c, int n, const lt_dtype *dtype, const int64_t *numel, void *const *param,
                        void *const *grad, void *const *buf, const bool *fresh, const lt_cu_sgd *h);
lt_status lt_cuda_adam_k(lt_cuda_ctx *c, int n, const lt_dtype *dtype, const int64_t *numel, void *const *param,
                         void *const *grad, void *const *exp_avg, void *const *exp_avg_sq,
                         void *const *max_exp_avg_sq, const double *step, const lt_cu_adam *h);
lt_status lt_cuda_rmsprop_k(lt_cuda_ctx *c, int n, const lt_dtype *dtype, const int64_t *numel, void *const *param,
                            void *const *grad, void *const *square_avg, void *const *grad_avg, void *const *buf,
                            const lt_cu_rmsprop *h);
lt_status lt_cuda_adadelta_k(lt_cuda_ctx *c, int n, const lt_dtype *dtype, const int64_t *numel, void *const *param,
                             void *const *grad, void *const *square_avg, void *const *acc_delta,
                             const lt_cu_adadelta *h);
lt_status lt_cuda_adagrad_k(lt_cuda_ctx *c, int n, const lt_dtype *dtype, const int64_t *numel, void *const *param,
                            void *const *grad, void *const *sum, const double *step, const lt_cu_adagrad *h);
/* dst[0..n) = v[0..n) (n <= LT_CU_OPTIM_SCALARS), the values passed as kernel parameters */
lt_status lt_cuda_optim_scalars_k(lt_cuda_ctx *c, double *dst, const double *v, int n);

#ifdef __cplusplus
}
#endif

#endif
