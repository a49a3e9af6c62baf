/* lt_backend.h — the kernel table a device type implements.
 *
 * The op layer (lt_ops_*.c) validates arguments, computes output shapes and
 * dtypes, allocates outputs and then calls exactly one entry here. So every
 * entry may assume: all tensors are on this backend's device, shapes agree
 * (inputs of elementwise kernels are already broadcast to the output's shape,
 * possibly with 0 strides), and dtypes are the ones documented per entry.
 * Entries the backend lacks are NULL, and the op layer reports that cleanly.
 * Kernels never synchronise; only reading values on the host does. */
#ifndef LT_BACKEND_H
#define LT_BACKEND_H

#include "lt_cdefs.h"
#include "lt_backend_index.h"
#include "lt_backend_nn.h"
#include "lt_backend_optim.h"
#include "lt_backend_transforms.h"
#include "lt_tensor.h"

LT_BEGIN_DECLS

typedef enum {
  LT_UN_NEG, LT_UN_ABS, LT_UN_EXP, LT_UN_LOG, LT_UN_SQRT, LT_UN_RSQRT, LT_UN_SIN, LT_UN_COS,
  LT_UN_TANH, LT_UN_SIGMOID, LT_UN_RELU, LT_UN_FLOOR, LT_UN_CEIL, LT_UN_ROUND, LT_UN_SIGN,
  LT_UN_RECIPROCAL, LT_UN_SQUARE, LT_UN_LOGICAL_NOT, LT_UN_ISNAN,
  /* parameterised: p[0], p[1] */
  LT_UN_CLAMP,      /* lo = p[0], hi = p[1] (NaN bound = none) */
  LT_UN_POW_SCALAR, /* x ^ p[0] */
  LT_UN_RPOW_SCALAR,/* p[0] ^ x */
  LT_UN_LEAKY_RELU, /* slope p[0] */
  LT_UN_GELU, LT_UN_GELU_TANH, LT_UN_SILU,
  LT_UN_COUNT
} lt_unary_op;

typedef enum {
  LT_BIN_ADD, LT_BIN_SUB, LT_BIN_MUL, LT_BIN_DIV, LT_BIN_POW, LT_BIN_MAXIMUM, LT_BIN_MINIMUM,
  LT_BIN_FMOD, LT_BIN_REMAINDER, LT_BIN_ATAN2,
  /* comparisons and logic: output bool */
  LT_BIN_EQ, LT_BIN_NE, LT_BIN_LT, LT_BIN_LE, LT_BIN_GT, LT_BIN_GE, LT_BIN_AND, LT_BIN_OR, LT_BIN_XOR,
  LT_BIN_COUNT
} lt_binary_op;

static inline bool lt_binary_op_is_comparison(lt_binary_op op) { return op >= LT_BIN_EQ; }

typedef enum {
  LT_RED_SUM, LT_RED_PROD, LT_RED_MAX, LT_RED_MIN, LT_RED_ARGMAX, LT_RED_ARGMIN,
  LT_RED_MEAN, LT_RED_VAR,  /* param = correction (1 = unbiased) */
  LT_RED_NORM,              /* param = p (inf allowed) */
  LT_RED_ANY, LT_RED_ALL,
  LT_RED_COUNT
} lt_reduce_op;

typedef enum { LT_RAND_UNIFORM, LT_RAND_NORMAL } lt_rand_kind;

typedef struct lt_backend {
  const char *name;
  /* memory */
  lt_status (*alloc)(lt_device dev, size_t nbytes, void **out);
  void (*free)(lt_device dev, void *p);
  /* Host <-> this device copies of raw bytes (NULL for the CPU). */
  lt_status (*copy_to_host)(lt_device dev, void *dst, const void *src, size_t nbytes);
  lt_status (*copy_from_host)(lt_device dev, void *dst, const void *src, size_t nbytes);
  lt_status (*synchronize)(lt_device dev);

  /* Pinned (page-locked) host memory and host-to-device copies from it that
   * do not make the host wait: facilities of a GPU's driver, which the CPU
   * backend lacks (NULL). lt_storage.c makes pinned storages with host_alloc
   * and frees them with host_free; lt_transfer.c queues non_blocking copies.
   * host_alloc: nbytes > 0, usable by every device of this type; fails with
   * a message naming the reason (no GPU), LT_ERR_OOM when the driver cannot
   * pin that much. host_free(NULL) does nothing. */
  lt_status (*host_alloc)(size_t nbytes, void **out);
  void (*host_free)(void *p);
  /* Queues a copy of nbytes from pinned host memory `src` to `dst` (memory of
   * `dev` from this backend's alloc) and returns without waiting: it runs
   * after everything queued on dev so far and before everything queued
   * later. `keep` owns src: on LT_OK the call takes over one reference,
   * dropped with release(keep) once the copy has finished (seen by a later
   * copy or transfer_poll); on an error it stays with the caller. */
  lt_status (*copy_from_pinned_async)(lt_device dev, void *dst, const void *src, size_t nbytes, void *keep,
                                      void (*release)(void *keep));
  /* Drops the references of finished copies, on every device of this type;
   * with `wait`, waits for all queued copies first. Reports a copy that
   * failed. */
  lt_status (*transfer_poll)(bool wait);

  /* dst = src elementwise, converting dtype; same shape, any strides. */
  lt_status (*copy)(lt_tensor *dst, const lt_tensor *src);
  /* every element of dst = v (converted to dst's dtype) */
  lt_status (*fill)(lt_tensor *dst, double v);
  /* out = op(x); x and out have the same dtype except LT_UN_ISNAN (bool out). */
  lt_status (*unary)(lt_unary_op op, lt_tensor *out, const lt_tensor *x, const double *p);
  /* out = a op b; a, b same dtype; out that dtype, or bool for comparisons. */
  lt_status (*binary)(lt_binary_op op, lt_tensor *out, const lt_tensor *a, const lt_tensor *b);
  /* out = cond ? a : b; cond bool; a, b, out one dtype. */
  lt_status (*where)(lt_tensor *out, const lt_tensor *cond, const lt_tensor *a, const lt_tensor *b);
  /* x contiguous, viewed as [outer, r, inner]; reduces the middle dim into
   * out [outer, inner] (contiguous). ARGMAX/ARGMIN write int64 0-based
   * indices into `idx` (and values into out when out is not NULL); MAX/MIN
   * also fill idx when it is not NULL. Output dtype: x's, except MEAN/VAR/NORM
   * (x float), ANY/ALL (bool). */
  lt_status (*reduce)(lt_reduce_op op, lt_tensor *out, lt_tensor *idx, const lt_tensor *x,
                      int64_t outer, int64_t r, int64_t inner, double param);
  /* Batched matrix product, all contiguous except as noted: a [B,M,K], b
   * [B,K,N] given with strides (each matrix row- or column-major), out
   * [B,M,N] contiguous; out = alpha*a@b + beta*out. Float dtypes. */
  lt_status (*matmul)(lt_tensor *out, const lt_tensor *a, const lt_tensor *b, double alpha, double beta);
  /* Fills dense `out` (float; its numel elements from its data pointer, in
   * memory order) with draws from blocks first_block... */
  lt_status (*rand)(lt_rand_kind kind, lt_tensor *out, uint64_t seed, uint64_t first_block, double a, double b);

  /* y = the transform pass p on the image batch x (lt_backend_transforms.h),
   * both contiguous on this device; y of the pass's output shape, float32 or
   * bfloat16 (or x's dtype when the pass does no arithmetic). top/left: host
   * arrays [n] of crop offsets into the padded image (NULL: no crop; then
   * oh == h, ow == w, pad == 0); flip: host mask [n] (NULL: no flips); the
   * entry may read them only until it returns. NULL on the CPU. */
  lt_status (*transform_batch)(const lt_tensor *x, lt_tensor *y, const lt_tf_batch_params *p, const int64_t *top,
                               const int64_t *left, const uint8_t *flip);

  /* per-area tables (lt_backend_<area>.h) */
  const lt_index_kernels *index;
  const lt_nn_kernels *nn;
  const lt_optim_kernels *optim;
} lt_backend;

/* The backend for a device type, or NULL when none is registered. */
const lt_backend *lt_backend_get(lt_device_type type);
/* Registers a backend (lt_cpu_register, lt_cuda_register: the runtime's
 * start-up does it before any tensor is made). */
void lt_backend_register(lt_device_type type, const lt_backend *b);
/* The backend of a device, or an error "device 'cuda:0' is not available". */
lt_status lt_backend_for(lt_device dev, const lt_backend **out);

LT_END_DECLS

#endif
