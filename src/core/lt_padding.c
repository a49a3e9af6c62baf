/* lt_padding.c — the argument checks of a crop with padding (lt_padding.h),
 * shared by the CPU and CUDA image transforms. */
#include "lt_padding.h"

lt_status lt_padding_check_crop(int64_t h, int64_t w, int64_t oh, int64_t ow, int64_t pad, int mode) {
  if (oh < 1 || ow < 1) return lt_error_set(LT_ERR_ARG, 0, "crop size must be positive, got %lldx%lld", (long long)oh, (long long)ow);
  if (pad < 0) return lt_error_set(LT_ERR_ARG, 0, "padding must be >= 0, got %lld", (long long)pad);
  if (oh > h + 2 * pad || ow > w + 2 * pad)
    return lt_error_set(LT_ERR_ARG, 0, "crop size %lldx%lld is larger than the padded image %lldx%lld", (long long)oh,
                        (long long)ow, (long long)(h + 2 * pad), (long long)(w + 2 * pad));
  if (mode == LT_PAD_REFLECT && (pad >= h || pad >= w))
    return lt_error_set(LT_ERR_ARG, 0, "reflect padding %lld must be smaller than the image size %lldx%lld",
                        (long long)pad, (long long)h, (long long)w);
  if (mode == LT_PAD_SYMMETRIC && (pad > h || pad > w))
    return lt_error_set(LT_ERR_ARG, 0, "symmetric padding %lld must not exceed the image size %lldx%lld",
                        (long long)pad, (long long)h, (long long)w);
  if (mode < LT_PAD_CONSTANT || mode > LT_PAD_SYMMETRIC)
    return lt_error_set(LT_ERR_ARG, 0, "unknown padding mode %d", mode);
  return LT_OK;
}

lt_status lt_padding_check_offsets(int64_t n, int64_t h, int64_t w, int64_t oh, int64_t ow, int64_t pad,
                                   const int64_t *top, const int64_t *left) {
  if (n > 0 && (!top || !left)) return lt_error_set(LT_ERR_ARG, 0, "crop offsets are NULL");
  for (int64_t i = 0; i < n; i++) {
    if (top[i] < 0 || top[i] > h + 2 * pad - oh || left[i] < 0 || left[i] > w + 2 * pad - ow)
      return lt_error_set(LT_ERR_ARG, 0,
                          "crop offset (%lld, %lld) of sample %lld is outside 0..%lld x 0..%lld (a %lldx%lld crop of "
                          "%lldx%lld padded by %lld)",
                          (long long)top[i], (long long)left[i], (long long)i + 1, (long long)(h + 2 * pad - oh),
                          (long long)(w + 2 * pad - ow), (long long)oh, (long long)ow, (long long)h, (long long)w,
                          (long long)pad);
  }
  return LT_OK;
}
