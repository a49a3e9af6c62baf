/* lt_transforms_gpu.h — the batched transforms on a GPU: one fused pass of
 * any run of RandomCrop (with padding) -> RandomHorizontalFlip -> ToFloat ->
 * Normalize (each optional), described the way the CPU kernels take them
 * (lt_transforms_cpu.h) and handed to the device's backend
 * (lt_backend_transforms.h; the CUDA kernel is cuda/lt_cuda_transforms.cu).
 * The random parameters are drawn by the caller, on the host, so the same
 * draws give the CPU's result.
 *
 * On a device without the entry (a build without CUDA has no such device),
 * every call fails with a message naming the backend.
 * Not here: the draws (lt_transform_step.h), splitting a pipeline into
 * passes (lt_transform_plan.h). */
#ifndef LT_TRANSFORMS_GPU_H
#define LT_TRANSFORMS_GPU_H

#include <stdbool.h>
#include <stdint.h>

#include "lt_tensor.h"
#include "lt_transform_step.h"

/* One pass. top/left NULL: no crop (oh, ow, pad, mode and fill are then
 * ignored); flip NULL: no flips; mean/std NULL: no normalization (else one
 * value per channel). All pointers are host memory the call may read until
 * it returns. */
typedef struct {
  int64_t oh, ow, pad;
  lt_pad_mode mode;
  double fill;
  const int64_t *top, *left;
  const uint8_t *flip;
  bool to_float;
  const float *mean, *std;
} lt_tf_gpu_pass;

/* Runs pass gp on x, n contiguous samples of geometry `in` on a GPU, into y
 * (already allocated on the same GPU, of the pass's output shape; its dtype
 * says float32 or bfloat16 output). Queued, never waits. */
lt_status lt_transforms_gpu_run(const lt_tensor *x, lt_tf_geom in, int64_t n, const lt_tf_gpu_pass *gp, lt_tensor *y);

#endif
