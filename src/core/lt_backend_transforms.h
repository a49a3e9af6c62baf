/* lt_backend_transforms.h — the backend entry for batched image transforms
 * on a device (lt_backend.transform_batch): one fused pass of any run of
 * RandomCrop (with padding) -> RandomHorizontalFlip -> ToFloat -> Normalize,
 * each optional. The data layer (src/data/lt_transforms_gpu.c) describes the
 * pass and draws the random parameters on the host; a GPU backend runs it
 * (cuda/lt_cuda_transforms.cu). The CPU runs its own kernels
 * (src/data/lt_transforms_cpu.c), so its entry is NULL.
 *
 * The contract is the CPU kernels': the same draws give the CPU's float32
 * bits (x / 255, then (x - mean) / std, IEEE division), bfloat16 is that
 * float32 rounded to nearest even, and bad arguments are refused with the
 * CPU kernels' words. Not here: the draws, splitting a pipeline into passes. */
#ifndef LT_BACKEND_TRANSFORMS_H
#define LT_BACKEND_TRANSFORMS_H

#include <stdbool.h>
#include <stdint.h>

#include "lt_cdefs.h"

LT_BEGIN_DECLS

#define LT_TF_BATCH_MAXC 64 /* channels mean/std may describe */

typedef struct {
  int64_t n, c, h, w;   /* input [n,c,h,w], contiguous */
  int64_t oh, ow, pad;  /* output [n,c,oh,ow]: crops of the input padded by pad on every side */
  int mode;             /* lt_pad_mode (lt_padding.h) */
  double fill;          /* the padding value of LT_PAD_CONSTANT, in input units (uint8: 0..255 integer) */
  bool to_float;        /* uint8 input: divide by 255 (ToFloat); ignored for float32 input */
  bool normalize;       /* (v - mean[ch]) / std[ch] */
  float mean[LT_TF_BATCH_MAXC], std[LT_TF_BATCH_MAXC];
} lt_tf_batch_params;

LT_END_DECLS

#endif
