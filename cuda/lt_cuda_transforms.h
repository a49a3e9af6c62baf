/* lt_cuda_transforms.h — the batched image transforms on the GPU: one fused
 * pass for any run of RandomCrop (with padding) -> RandomHorizontalFlip ->
 * ToFloat -> Normalize (each optional), uint8 or float32 in, uint8, float32
 * or bfloat16 out. The kernel of cuda/lt_cuda_transforms.cu, called by the
 * transform glue (src/lua/lt_lua_transforms.c) for batches on a GPU.
 *
 * Same contract as the CPU kernels (src/data/lt_transforms_cpu.h): the
 * random parameters are drawn by the caller and passed per sample, and the
 * arithmetic is the CPU's, operation for operation in float32 (x / 255, then
 * (x - mean) / std, IEEE division), so the same draws give bit-identical
 * float32; bfloat16 is that float32 rounded to nearest even (lt_f32_to_bf16).
 * Plain C, no CUDA types. Not here: the draws and the Lua API. */
#ifndef LT_CUDA_TRANSFORMS_H
#define LT_CUDA_TRANSFORMS_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "lt_dtype.h"
#include "lt_error.h"

#define LT_CUDA_TF_MAXC 64 /* channels mean/std may describe */

typedef struct {
  int64_t n, c, h, w;   /* input [n,c,h,w], contiguous */
  int64_t oh, ow, pad;  /* output [n,c,oh,ow]: crops of the input padded by pad on every side */
  int mode;             /* lt_pad_mode (lt_transforms_cpu.h) */
  double fill;          /* the padding value of LT_PAD_CONSTANT, in input units (uint8: 0..255 integer) */
  bool to_float;        /* uint8 input: divide by 255 (ToFloat); ignored for float32 input */
  bool normalize;       /* (v - mean[ch]) / std[ch] */
  float mean[LT_CUDA_TF_MAXC], std[LT_CUDA_TF_MAXC];
} lt_cuda_tf_params;

/* y = the pipeline on x, both device memory of cuda:device. top/left: host
 * arrays [n] of crop offsets into the padded image (NULL: no crop; then
 * oh == h, ow == w, pad == 0), flip: host mask [n] (NULL: no flips). They
 * are copied to the device stream-ordered (from pageable memory, so the
 * caller may free them on return). Checks the arguments as the CPU kernels
 * do, with the same messages. in_dt: uint8 or float32; out_dt: float32 or
 * bfloat16, or the input dtype when neither to_float nor normalize applies.
 * Queued on the device's compute stream; never waits. */
lt_status lt_cuda_transform_batch(int device, lt_dtype in_dt, const void *x, lt_dtype out_dt, void *y,
                                  const lt_cuda_tf_params *p, const int64_t *top, const int64_t *left,
                                  const uint8_t *flip);

#ifdef __cplusplus
}
#endif

#endif
