/* lt_transforms_cpu.h — batched image transform primitives on the CPU, the
 * kernels under lt.transforms. Each call processes a whole batch; the random
 * parameters (crop offsets, flip masks, boxes, factors) are drawn by the
 * caller and passed as per-sample arrays, so the same draws give the same
 * result on any backend and any number of threads.
 *
 * Layout: every image is channel-planar, a batch is [N,C,H,W] contiguous.
 * `dt` is LT_UINT8 or LT_FLOAT32 where both are accepted. Functions that take
 * x and y allow y == x only where the comment says "in place allowed";
 * otherwise the buffers must not overlap.
 *
 * Arithmetic follows torchvision's tensor transforms so results match:
 *   to_float: x / 255 (a true division, as ToTensor / ConvertImageDtype);
 *   normalize: (x - mean[c]) / std[c];
 *   resize: bilinear, align_corners=false, no antialiasing (as
 *     torch.nn.functional.interpolate / torchvision antialias=False); uint8
 *     is interpolated in float32 and rounded to nearest (ties to even), as
 *     torchvision does for integer images.
 * These are not the Lua-facing transforms: argument checks here name no Lua
 * argument (arg 0), and the caller converts tensors to pointers. */
#ifndef LT_TRANSFORMS_CPU_H
#define LT_TRANSFORMS_CPU_H

#include <stdbool.h>
#include <stdint.h>

#include "lt_dtype.h"
#include "lt_error.h"
#include "lt_padding.h" /* lt_pad_mode */


/* Crop with padding (RandomCrop). x: [n,c,h,w] -> y: [n,c,oh,ow].
 * Sample i's output pixel (r,s) is P[top[i]+r, left[i]+s] where P is x_i
 * padded by `pad` on every side; so top[i] is in 0..h+2*pad-oh and left[i]
 * in 0..w+2*pad-ow (checked). `value` is the fill of LT_PAD_CONSTANT (for
 * uint8 an integer in 0..255). */
lt_status lt_transforms_crop_pad(lt_dtype dt, const void *x, void *y, int64_t n, int64_t c, int64_t h, int64_t w,
                                 int64_t oh, int64_t ow, const int64_t *top, const int64_t *left, int64_t pad,
                                 lt_pad_mode mode, double value);

/* Horizontal / vertical flip of the samples whose mask byte is non-zero;
 * x, y: [n,c,h,w]; in place allowed (then unflipped samples are untouched,
 * otherwise they are copied). mask: [n]. */
lt_status lt_transforms_hflip(lt_dtype dt, const void *x, void *y, int64_t n, int64_t c, int64_t h, int64_t w,
                              const uint8_t *mask);
lt_status lt_transforms_vflip(lt_dtype dt, const void *x, void *y, int64_t n, int64_t c, int64_t h, int64_t w,
                              const uint8_t *mask);

/* Bilinear resize of every sample. x: [n,c,h,w] -> y: [n,c,oh,ow]. */
lt_status lt_transforms_resize(lt_dtype dt, const void *x, void *y, int64_t n, int64_t c, int64_t h, int64_t w,
                               int64_t oh, int64_t ow);

/* Crop-and-resize (RandomResizedCrop / resized_crop): sample i's box
 * boxes[4i..4i+3] = (top, left, height, width) must lie inside the h x w
 * image and is resized bilinearly to oh x ow, exactly as cropping it and then
 * calling lt_transforms_resize would. x: [n,c,h,w] -> y: [n,c,oh,ow]. */
lt_status lt_transforms_resized_crop(lt_dtype dt, const void *x, void *y, int64_t n, int64_t c, int64_t h, int64_t w,
                                     const int64_t *boxes, int64_t oh, int64_t ow);

/* y[k] = x[k] / 255 for k < count (ToTensor's scaling). */
lt_status lt_transforms_to_float(const uint8_t *x, float *y, int64_t count);

/* Fused ToFloat + Normalize: x: [n,c,hw] uint8 -> y: [n,c,hw] float32 with
 * y = (x/255 - mean[ch]) / std[ch], bit-identical to the two steps. */
lt_status lt_transforms_to_float_normalize(const uint8_t *x, float *y, int64_t n, int64_t c, int64_t hw,
                                           const float *mean, const float *std);

/* y[k] = x[k] rounded to bfloat16 (nearest even, as lt_f32_to_bf16 and the
 * GPU kernels), for k < count: the bfloat16 output of the pipelines. */
lt_status lt_transforms_to_bf16(const float *x, uint16_t *y, int64_t count);

/* In place: x: [n,c,hw], x = (x - mean[ch]) / std[ch]. */
lt_status lt_transforms_normalize(float *x, int64_t n, int64_t c, int64_t hw, const float *mean, const float *std);

/* Erasing (RandomErasing): in place on x: [n,c,h,w] float32, sample i's box
 * boxes[4i..4i+3] = (top, left, height, width) is set to values[ch] (values
 * NULL: zero). A box of zero height or width leaves the sample untouched;
 * a non-empty box must lie inside the image. */
lt_status lt_transforms_erase(float *x, int64_t n, int64_t c, int64_t h, int64_t w, const int64_t *boxes,
                              const float *values);

/* ColorJitter pieces on float32 images in [0,1], in place on x: [n,c,h,w]:
 *   brightness: x = clamp(f[i] * x, 0, 1)
 *   contrast:   x = clamp(f[i] * x + (1 - f[i]) * m_i, 0, 1), with m_i the
 *     mean over the sample of its grayscale image: 0.2989 R + 0.587 G +
 *     0.114 B for c == 3 (torchvision's rgb_to_grayscale weights), the
 *     image itself for c == 1. Other channel counts are rejected. */
lt_status lt_transforms_adjust_brightness(float *x, int64_t n, int64_t c, int64_t h, int64_t w, const float *factors);
lt_status lt_transforms_adjust_contrast(float *x, int64_t n, int64_t c, int64_t h, int64_t w, const float *factors);

/* The reference recipe's training pipeline in one pass:
 *   RandomCrop(oh x ow, padding=pad, mode, fill) -> RandomHorizontalFlip ->
 *   ToFloat -> Normalize(mean, std).
 * x: [n,c,h,w] uint8 -> y: [n,c,oh,ow] float32. top/left as in
 * lt_transforms_crop_pad, flip: [n] mask (NULL: no flips). `fill` is the
 * uint8 fill of LT_PAD_CONSTANT. Bit-identical to running the four steps. */
lt_status lt_transforms_crop_flip_normalize(const uint8_t *x, float *y, int64_t n, int64_t c, int64_t h, int64_t w,
                                            int64_t oh, int64_t ow, const int64_t *top, const int64_t *left,
                                            int64_t pad, lt_pad_mode mode, uint8_t fill, const uint8_t *flip,
                                            const float *mean, const float *std);

#endif
