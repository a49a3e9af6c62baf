/* lt_cpu_backend.c — the CPU entry of the backend table: host memory (64-byte
 * aligned, so vector loads never split cache lines; see lt_cpu_alloc.h), the
 * CPU kernels, and the nn table, whose kernels live in the files of their op
 * families (lt_cpu_conv.c, lt_cpu_norm.c, lt_cpu_pool.c, lt_cpu_act.c,
 * lt_cpu_loss.c; bfloat16 entries: lt_cpu_bf16.c). */
#include "lt_cpu.h"
#include "lt_cpu_alloc.h"
#include "lt_cpu_kernels.h"
#include "lt_cpu_nn.h"

extern const lt_index_kernels lt_cpu_index_kernels;
extern const lt_optim_kernels lt_cpu_optim_kernels;

static lt_status cpu_alloc(lt_device dev, size_t nbytes, void **out) {
  (void)dev;
  void *p = lt_cpu_alloc_block(nbytes);
  if (!p) return lt_error_set(LT_ERR_OOM, 0, "out of host memory allocating %zu bytes", nbytes);
  *out = p;
  return LT_OK;
}

static void cpu_free(lt_device dev, void *p) {
  (void)dev;
  lt_cpu_free_block(p);
}

static lt_status cpu_sync(lt_device dev) {
  (void)dev;
  return LT_OK;
}

/* Convolution (oneDNN's nhwc kernels), batch norm and pooling take
 * channels-last tensors as they are, so a channels-last model runs with no
 * layout conversions. */
static const lt_nn_kernels lt_cpu_nn_kernels = {
  .channels_last = true,
  .compute_dtype = lt_cpu_nn_compute_dtype,
  .conv2d_forward = lt_cpu_bf16_conv2d_forward,
  .conv2d_backward = lt_cpu_bf16_conv2d_backward,
  .conv2d_bn_eval_forward = lt_cpu_conv2d_bn_eval_forward,
  .batch_norm_forward = lt_cpu_batch_norm_forward,
  .batch_norm_backward = lt_cpu_batch_norm_backward,
  .batch_norm_relu_forward = lt_cpu_batch_norm_relu_forward,
  .batch_norm_relu_backward = lt_cpu_batch_norm_relu_backward,
  .activation_backward = lt_cpu_bf16_activation_backward,
  .dropout_mask = lt_cpu_dropout_mask,
  .max_pool2d_forward = lt_cpu_bf16_max_pool2d_forward,
  .max_pool2d_backward = lt_cpu_bf16_max_pool2d_backward,
  .avg_pool2d_forward = lt_cpu_bf16_avg_pool2d_forward,
  .avg_pool2d_backward = lt_cpu_bf16_avg_pool2d_backward,
  .adaptive_avg_pool2d_forward = lt_cpu_bf16_adaptive_avg_pool2d_forward,
  .adaptive_avg_pool2d_backward = lt_cpu_bf16_adaptive_avg_pool2d_backward,
  .softmax_forward = lt_cpu_softmax_forward,
  .softmax_backward = lt_cpu_softmax_backward,
  .nll_loss_forward = lt_cpu_nll_loss_forward,
  .nll_loss_backward = lt_cpu_nll_loss_backward,
  .pointwise_loss_forward = lt_cpu_pointwise_loss_forward,
  .pointwise_loss_backward = lt_cpu_pointwise_loss_backward,
  .cross_entropy_forward = lt_cpu_cross_entropy_forward,
  .cross_entropy_backward = lt_cpu_cross_entropy_backward,
};

static const lt_backend lt_cpu_backend = {
  .name = "cpu",
  .alloc = cpu_alloc,
  .free = cpu_free,
  .copy_to_host = NULL,
  .copy_from_host = NULL,
  .synchronize = cpu_sync,
  .copy = lt_cpu_copy,
  .fill = lt_cpu_fill,
  .unary = lt_cpu_unary,
  .binary = lt_cpu_binary,
  .where = lt_cpu_where,
  .reduce = lt_cpu_reduce,
  .matmul = lt_cpu_matmul,
  .rand = lt_cpu_rand,
  .index = &lt_cpu_index_kernels,
  .nn = &lt_cpu_nn_kernels,
  .optim = &lt_cpu_optim_kernels,
};

void lt_cpu_register(void) {
  lt_cpu_blas_init();
  lt_backend_register(LT_CPU, &lt_cpu_backend);
}
