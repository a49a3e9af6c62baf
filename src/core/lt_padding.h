/* lt_padding.h — the padding modes of the image transforms (RandomCrop's
 * padding), the map from a padded-image coordinate to a real one, and the
 * argument checks of a crop with padding: one definition for the CPU kernels
 * (src/data/lt_transforms_cpu.c) and the CUDA kernel
 * (cuda/lt_cuda_transforms.cu), so both compute the same pixels and refuse
 * the same arguments with the same words. Compiles as C11 and as CUDA C++
 * (lt_pad_map on the host and the device). Not here: the transforms. */
#ifndef LT_PADDING_H
#define LT_PADDING_H

#include <stdint.h>

#include "lt_cdefs.h"
#include "lt_error.h"

LT_BEGIN_DECLS

typedef enum {
  LT_PAD_CONSTANT = 0, /* fill with `value` (0 for zero padding) */
  LT_PAD_EDGE,         /* repeat the edge pixel */
  LT_PAD_REFLECT,      /* mirror without repeating the edge: 2 1 | 0 1 2 | 1 0 (pad < size) */
  LT_PAD_SYMMETRIC     /* mirror repeating the edge:      1 0 | 0 1 2 | 2 1 (pad <= size) */
} lt_pad_mode;

/* A coordinate of the padded image (shifted so that 0 is the first real
 * pixel) -> the real one it shows, or -1 where the constant fill applies.
 * One reflection is enough: lt_padding_check_crop keeps pad below (reflect)
 * or at most (symmetric) the image size. */
static LT_INLINE LT_HOST_DEVICE int64_t lt_pad_map(int64_t i, int64_t size, int mode) {
  if (i >= 0 && i < size) return i;
  switch (mode) {
    case LT_PAD_EDGE: return i < 0 ? 0 : size - 1;
    case LT_PAD_REFLECT: return i < 0 ? -i : 2 * (size - 1) - i;
    case LT_PAD_SYMMETRIC: return i < 0 ? -i - 1 : 2 * size - 1 - i;
    default: return -1;
  }
}

/* An oh x ow crop of h x w images padded by `pad` in `mode`: positive crop,
 * pad >= 0, the crop inside the padded image, pad below (reflect) or at most
 * (symmetric) the image size, a known mode. LT_ERR_ARG with the reason. */
lt_status lt_padding_check_crop(int64_t h, int64_t w, int64_t oh, int64_t ow, int64_t pad, int mode);
/* The n samples' crop offsets: top[i] in 0..h+2*pad-oh, left[i] in
 * 0..w+2*pad-ow (neither array NULL when n > 0). */
lt_status lt_padding_check_offsets(int64_t n, int64_t h, int64_t w, int64_t oh, int64_t ow, int64_t pad,
                                   const int64_t *top, const int64_t *left);

LT_END_DECLS

#endif
