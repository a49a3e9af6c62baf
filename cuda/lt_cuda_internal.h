/* lt_cuda_internal.h — what the CUDA backend's files share: the per-device
 * context (stream, memory pool, library handles), the error-checking macros,
 * the record of errors kernels find, and the backend table's entries, each
 * defined in the file of its op family (lt_cuda_table.c assembles them).
 *
 * The .cu files (CUDA C++) include the core's headers like the C files do:
 * kernels' launchers read lt_tensor and switch on the core's op enums
 * (lt_backend.h) and parameter structs directly; kernels themselves take raw
 * pointers, sizes and strides. Device-side helpers: lt_cuda_common.cuh. Not
 * here: the public API (lt_cuda.h). */
#ifndef LT_CUDA_INTERNAL_H
#define LT_CUDA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "lt_backend.h"
#include "lt_cuda.h"

LT_BEGIN_DECLS

#define LT_CUDA_MAX_DEVICES 16

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

/* The context of the device `t` lives on (made current). */
static inline lt_status lt_cuda_ctx_of(const lt_tensor *t, lt_cuda_ctx **out) {
  return lt_cuda_ctx_get(lt_tensor_device(t).index, out);
}

/* --- the backend table's entries (contracts: lt_backend*.h), by file ---------------------- */
/* lt_cuda_elementwise.cu */
lt_status lt_cuda_copy(lt_tensor *dst, const lt_tensor *src);
lt_status lt_cuda_fill(lt_tensor *dst, double v);
lt_status lt_cuda_unary(lt_unary_op op, lt_tensor *out, const lt_tensor *x, const double *p);
lt_status lt_cuda_binary(lt_binary_op op, lt_tensor *out, const lt_tensor *a, const lt_tensor *b);
lt_status lt_cuda_where(lt_tensor *out, const lt_tensor *cond, const lt_tensor *a, const lt_tensor *b);
/* The copy and fill of those entries on a context the caller holds (for the
 * library glue); `pattern`: the bytes of one element of dst's dtype. */
lt_status lt_cuda_copy_k(lt_cuda_ctx *c, const lt_tensor *dst, const lt_tensor *src);
lt_status lt_cuda_fill_k(lt_cuda_ctx *c, const lt_tensor *dst, const void *pattern);

/* lt_cuda_reduce.cu */
lt_status lt_cuda_reduce(lt_reduce_op op, lt_tensor *out, lt_tensor *idx, const lt_tensor *x, int64_t outer,
                         int64_t r, int64_t inner, double param);

/* lt_cuda_rand.cu */
lt_status lt_cuda_rand(lt_rand_kind kind, lt_tensor *out, uint64_t seed, uint64_t first_block, double a, double b);

/* lt_cuda_linalg.c: matrix products (cuBLAS, cuBLASLt); lt_cuda_linalg.cu:
 * the integer product cuBLAS lacks, on a context the caller holds */
lt_status lt_cuda_matmul(lt_tensor *out, const lt_tensor *a, const lt_tensor *b, double alpha, double beta);
lt_status lt_cuda_linear(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b);
lt_status lt_cuda_matmul_int_k(lt_cuda_ctx *c, const lt_tensor *out, const lt_tensor *a, const lt_tensor *b,
                               double alpha, double beta);

/* lt_cuda_conv.c: convolutions (cuDNN); their bias add and bias gradient
 * are lt_cuda_norm.cu's per-channel kernels, on a context the caller holds */
lt_status lt_cuda_conv2d_forward(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b,
                                 const lt_conv2d_params *p);
lt_status lt_cuda_conv2d_backward(lt_tensor *gx, lt_tensor *gw, lt_tensor *gb, const lt_tensor *gy,
                                  const lt_tensor *x, const lt_tensor *w, const lt_conv2d_params *p);
/* out [C] = sum over n and the spatial dims of x [N,C,...] (contiguous) */
lt_status lt_cuda_channel_sum_k(lt_cuda_ctx *c, const lt_tensor *out, const lt_tensor *x);
/* y [N,C,H,W] (any strides) += b [C] */
lt_status lt_cuda_bias_add_k(lt_cuda_ctx *c, const lt_tensor *y, const lt_tensor *b);

/* lt_cuda_norm.cu */
lt_status lt_cuda_batch_norm_forward(lt_tensor *y, lt_tensor *mean, lt_tensor *invstd, const lt_tensor *x,
                                     const lt_tensor *weight, const lt_tensor *bias, lt_tensor *running_mean,
                                     lt_tensor *running_var, bool training, double momentum, double eps);
lt_status lt_cuda_batch_norm_backward(lt_tensor *gx, lt_tensor *gw, lt_tensor *gb, const lt_tensor *gy,
                                      const lt_tensor *x, const lt_tensor *weight, const lt_tensor *mean,
                                      const lt_tensor *invstd, bool training);

/* lt_cuda_pool.cu */
lt_status lt_cuda_max_pool2d_forward(lt_tensor *y, lt_tensor *idx, const lt_tensor *x, const lt_pool2d_params *p);
lt_status lt_cuda_max_pool2d_backward(lt_tensor *gx, const lt_tensor *gy, const lt_tensor *idx,
                                      const lt_pool2d_params *p);
lt_status lt_cuda_avg_pool2d_forward(lt_tensor *y, const lt_tensor *x, const lt_pool2d_params *p);
lt_status lt_cuda_avg_pool2d_backward(lt_tensor *gx, const lt_tensor *gy, const lt_pool2d_params *p);
lt_status lt_cuda_adaptive_avg_pool2d_forward(lt_tensor *y, const lt_tensor *x);
lt_status lt_cuda_adaptive_avg_pool2d_backward(lt_tensor *gx, const lt_tensor *gy);

/* lt_cuda_act.cu */
lt_status lt_cuda_activation_backward(lt_activation act, lt_tensor *gx, const lt_tensor *gy, const lt_tensor *x,
                                      double param);
lt_status lt_cuda_dropout_mask(lt_tensor *mask, double p, uint64_t seed, uint64_t first_block);
lt_status lt_cuda_softmax_forward(lt_tensor *y, const lt_tensor *x, int64_t outer, int64_t n, int64_t inner,
                                  bool log);
lt_status lt_cuda_softmax_backward(lt_tensor *gx, const lt_tensor *gy, const lt_tensor *y, int64_t outer, int64_t n,
                                   int64_t inner, bool log);

/* lt_cuda_loss.cu */
lt_status lt_cuda_nll_loss_forward(lt_tensor *loss, lt_tensor *wt, const lt_tensor *logp, const lt_tensor *target,
                                   const lt_tensor *weight, double smoothing, int64_t ignore_index);
lt_status lt_cuda_nll_loss_backward(lt_tensor *glogp, const lt_tensor *g, const lt_tensor *target,
                                    const lt_tensor *weight, double smoothing, int64_t ignore_index);
lt_status lt_cuda_cross_entropy_forward(lt_tensor *loss, lt_tensor *wt, lt_tensor *lse, const lt_tensor *x,
                                        const lt_tensor *target, const lt_tensor *weight, double smoothing,
                                        int64_t ignore_index);
lt_status lt_cuda_cross_entropy_backward(lt_tensor *gx, const lt_tensor *g, const lt_tensor *x, const lt_tensor *lse,
                                         const lt_tensor *target, const lt_tensor *weight, double smoothing,
                                         int64_t ignore_index);
lt_status lt_cuda_pointwise_loss_forward(lt_pointwise_loss kind, lt_tensor *loss, const lt_tensor *x,
                                         const lt_tensor *y, const lt_tensor *w, const lt_tensor *pw);
lt_status lt_cuda_pointwise_loss_backward(lt_pointwise_loss kind, lt_tensor *gx, lt_tensor *gy, const lt_tensor *g,
                                          const lt_tensor *x, const lt_tensor *y, const lt_tensor *w,
                                          const lt_tensor *pw);

/* lt_cuda_index.cu */
lt_status lt_cuda_index_select(lt_tensor *out, const lt_tensor *x, int dim, const lt_tensor *index, int64_t base);
lt_status lt_cuda_gather(lt_tensor *out, const lt_tensor *x, int dim, const lt_tensor *index, int64_t base);
lt_status lt_cuda_scatter(lt_tensor *x, int dim, const lt_tensor *index, int64_t base, const lt_tensor *src, bool add);
lt_status lt_cuda_sort(lt_tensor *values, lt_tensor *indices, const lt_tensor *x, int dim, bool descending,
                       int64_t base);
lt_status lt_cuda_cumsum(lt_tensor *out, const lt_tensor *x, int dim, bool reverse);

/* lt_cuda_transforms.cu */
lt_status lt_cuda_transform_batch(const lt_tensor *x, lt_tensor *y, const lt_tf_batch_params *p, const int64_t *top,
                                  const int64_t *left, const uint8_t *flip);

/* lt_cuda_optim.cu */
lt_status lt_cuda_sgd(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *buf,
                      const bool *fresh, const lt_sgd_hparams *h);
lt_status lt_cuda_adam(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *exp_avg,
                       lt_tensor *const *exp_avg_sq, lt_tensor *const *max_exp_avg_sq, const double *step,
                       const lt_adam_hparams *h);
lt_status lt_cuda_rmsprop(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *square_avg,
                          lt_tensor *const *grad_avg, lt_tensor *const *buf, const lt_rmsprop_hparams *h);
lt_status lt_cuda_adadelta(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *square_avg,
                           lt_tensor *const *acc_delta, const lt_adadelta_hparams *h);
lt_status lt_cuda_adagrad(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *sum,
                          const double *step, const lt_adagrad_hparams *h);
lt_status lt_cuda_optim_write_scalars(lt_tensor *dst, const double *v, int n);

/* lt_cuda_nccl.c: the "nccl" collective backend (lt_comm.h), which lt_cuda_register registers */
extern const struct lt_comm_backend lt_cuda_nccl_backend;

LT_END_DECLS

#endif
