/* lt_cuda_table.c — the CUDA backend's kernel tables (lt_backend.h and its
 * per-area tables) and their registration.
 *
 * The entries are defined in the files of their op families, with the
 * tables' own signatures and the core's op enums (lt_cuda_internal.h lists
 * them by file); this file only assembles them, plus the memory entries,
 * which address a device by index. Entries never synchronise: they queue
 * work on the device's stream and return.
 *
 * Registration only stores a pointer in the core's registry; no CUDA call
 * happens until a tensor is put on a GPU. */
#include "lt_comm.h"
#include "lt_cuda_internal.h"
#include "lt_cuda_transfer.h"

/* --- memory --------------------------------------------------------------------------------------------- */
static lt_status cu_alloc(lt_device dev, size_t nbytes, void **out) { return lt_cuda_alloc_dev(dev.index, nbytes, out); }
static void cu_free(lt_device dev, void *p) { lt_cuda_free_dev(dev.index, p); }
static lt_status cu_to_host(lt_device dev, void *dst, const void *src, size_t n) {
  return lt_cuda_copy_to_host_dev(dev.index, dst, src, n);
}
static lt_status cu_from_host(lt_device dev, void *dst, const void *src, size_t n) {
  return lt_cuda_copy_from_host_dev(dev.index, dst, src, n);
}
static lt_status cu_sync(lt_device dev) { return lt_cuda_synchronize(dev.index); }
static lt_status cu_from_pinned_async(lt_device dev, void *dst, const void *src, size_t n, void *keep,
                                      void (*release)(void *keep)) {
  return lt_cuda_copy_from_pinned_async(dev.index, dst, src, n, keep, release);
}

/* --- the tables ------------------------------------------------------------------------------------------ */
/* every floating dtype, 16-bit ones included, as it is */
static lt_dtype cu_compute_dtype(lt_nn_group group, lt_dtype dt) {
  (void)group;
  return lt_dtype_is_floating(dt) ? dt : LT_NDTYPES;
}

static const lt_nn_kernels cuda_nn = {
  .channels_last = true, /* conv (cuDNN), batch norm and pooling read NHWC as they are */
  .compute_dtype = cu_compute_dtype,
  .conv2d_forward = lt_cuda_conv2d_forward,
  .conv2d_backward = lt_cuda_conv2d_backward,
  .batch_norm_forward = lt_cuda_batch_norm_forward,
  .batch_norm_backward = lt_cuda_batch_norm_backward,
  .activation_backward = lt_cuda_activation_backward,
  .dropout_mask = lt_cuda_dropout_mask,
  .max_pool2d_forward = lt_cuda_max_pool2d_forward,
  .max_pool2d_backward = lt_cuda_max_pool2d_backward,
  .avg_pool2d_forward = lt_cuda_avg_pool2d_forward,
  .avg_pool2d_backward = lt_cuda_avg_pool2d_backward,
  .adaptive_avg_pool2d_forward = lt_cuda_adaptive_avg_pool2d_forward,
  .adaptive_avg_pool2d_backward = lt_cuda_adaptive_avg_pool2d_backward,
  .softmax_forward = lt_cuda_softmax_forward,
  .softmax_backward = lt_cuda_softmax_backward,
  .nll_loss_forward = lt_cuda_nll_loss_forward,
  .nll_loss_backward = lt_cuda_nll_loss_backward,
  .pointwise_loss_forward = lt_cuda_pointwise_loss_forward,
  .pointwise_loss_backward = lt_cuda_pointwise_loss_backward,
  .cross_entropy_forward = lt_cuda_cross_entropy_forward,
  .cross_entropy_backward = lt_cuda_cross_entropy_backward,
  .linear_forward = lt_cuda_linear,
};

static const lt_index_kernels cuda_index = {
  .index_select = lt_cuda_index_select,
  .gather = lt_cuda_gather,
  .scatter = lt_cuda_scatter,
  .sort = lt_cuda_sort,
  .cumsum = lt_cuda_cumsum,
};

static const lt_optim_kernels cuda_optim = {
  .write_scalars = lt_cuda_optim_write_scalars,
  .sgd = lt_cuda_sgd,
  .adam = lt_cuda_adam,
  .rmsprop = lt_cuda_rmsprop,
  .adadelta = lt_cuda_adadelta,
  .adagrad = lt_cuda_adagrad,
};

const lt_backend lt_cuda_backend = {
  .name = "cuda",
  .alloc = cu_alloc,
  .free = cu_free,
  .copy_to_host = cu_to_host,
  .copy_from_host = cu_from_host,
  .synchronize = cu_sync,
  .host_alloc = lt_cuda_host_alloc,
  .host_free = lt_cuda_host_free,
  .copy_from_pinned_async = cu_from_pinned_async,
  .transfer_poll = lt_cuda_transfer_poll,
  .copy = lt_cuda_copy,
  .fill = lt_cuda_fill,
  .unary = lt_cuda_unary,
  .binary = lt_cuda_binary,
  .where = lt_cuda_where,
  .reduce = lt_cuda_reduce,
  .matmul = lt_cuda_matmul,
  .rand = lt_cuda_rand,
  .transform_batch = lt_cuda_transform_batch,
  .index = &cuda_index,
  .nn = &cuda_nn,
  .optim = &cuda_optim,
};

void lt_cuda_register(void) {
  lt_backend_register(LT_CUDA, &lt_cuda_backend);
  lt_comm_register(&lt_cuda_nccl_backend); /* the "nccl" collectives; libnccl is opened only when used */
}

/* When this object is linked, the backend is there before main(). */
__attribute__((constructor)) static void register_at_start(void) { lt_cuda_register(); }
