/* lt_transforms_cpu.c — the batched transform kernels of lt_transforms_cpu.h.
 *
 * Crops and flips only move elements, so they work on the element size (1 or
 * 4 bytes) rather than the type. Arithmetic kernels have a uint8 and a float32
 * function each. uint8 -> normalized float32 goes through a 256-entry table
 * per channel: it is both the fastest way on a CPU and bit-identical to
 * computing (x/255 - mean) / std step by step. */
#include "lt_transforms_cpu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- argument checks --------------------------------------------------- */

static lt_status check_dims(int64_t n, int64_t c, int64_t h, int64_t w) {
  if (n < 0 || c < 1 || h < 1 || w < 1)
    return lt_error_set(LT_ERR_ARG, 0, "expected a batch [N,C,H,W] with N >= 0 and C, H, W >= 1, got [%lld,%lld,%lld,%lld]",
                        (long long)n, (long long)c, (long long)h, (long long)w);
  return LT_OK;
}

static lt_status check_dtype(lt_dtype dt, size_t *es) {
  if (dt == LT_UINT8) *es = 1;
  else if (dt == LT_FLOAT32) *es = 4;
  else return lt_error_set(LT_ERR_ARG, 0, "expected a uint8 or float32 image batch, got %s", lt_dtype_name(dt));
  return LT_OK;
}

static lt_status check_ptrs(int64_t n, const void *x, const void *y) {
  if (n > 0 && (!x || !y)) return lt_error_set(LT_ERR_ARG, 0, "image buffer is NULL");
  return LT_OK;
}

static lt_status check_pad(int64_t h, int64_t w, int64_t oh, int64_t ow, int64_t pad, lt_pad_mode mode) {
  return lt_padding_check_crop(h, w, oh, ow, pad, (int)mode);
}

static lt_status check_offsets(int64_t n, int64_t h, int64_t w, int64_t oh, int64_t ow, int64_t pad,
                               const int64_t *top, const int64_t *left) {
  return lt_padding_check_offsets(n, h, w, oh, ow, pad, top, left);
}

/* ---- crop with padding ------------------------------------------------- */

/* The crop columns [s0, s1) of a width-ow crop starting at image column col0
 * that fall inside a width-w image (s0 == s1 when none do). */
static void inside_run(int64_t col0, int64_t w, int64_t ow, int64_t *s0, int64_t *s1) {
  int64_t a = -col0, b = w - col0;
  a = a < 0 ? 0 : a > ow ? ow : a;
  b = b < a ? a : b > ow ? ow : b;
  *s0 = a;
  *s1 = b;
}

/* One output row of a padded crop: dst[s] = row[lt_pad_map(col0 + s)]. The run
 * of columns inside the image is one memcpy; only the padding is mapped. */
static void crop_row(size_t es, const uint8_t *row, uint8_t *dst, int64_t w, int64_t ow, int64_t col0,
                     lt_pad_mode mode, const uint8_t *fill) {
  int64_t s0, s1;
  inside_run(col0, w, ow, &s0, &s1);
  if (s1 > s0) memcpy(dst + s0 * es, row + (col0 + s0) * es, (size_t)(s1 - s0) * es);
  for (int64_t s = 0; s < s0; s++) {
    int64_t m = lt_pad_map(col0 + s, w, mode);
    memcpy(dst + s * es, m < 0 ? fill : row + m * es, es);
  }
  for (int64_t s = s1; s < ow; s++) {
    int64_t m = lt_pad_map(col0 + s, w, mode);
    memcpy(dst + s * es, m < 0 ? fill : row + m * es, es);
  }
}

lt_status lt_transforms_crop_pad(lt_dtype dt, const void *x, void *y, int64_t n, int64_t c, int64_t h, int64_t w,
                                 int64_t oh, int64_t ow, const int64_t *top, const int64_t *left, int64_t pad,
                                 lt_pad_mode mode, double value) {
  size_t es = 0;
  uint8_t fill[4];
  LT_TRY(check_dtype(dt, &es));
  LT_TRY(check_dims(n, c, h, w));
  LT_TRY(check_ptrs(n, x, y));
  LT_TRY(check_pad(h, w, oh, ow, pad, mode));
  LT_TRY(check_offsets(n, h, w, oh, ow, pad, top, left));
  if (dt == LT_UINT8) {
    if (mode == LT_PAD_CONSTANT && !(value >= 0 && value <= 255 && value == floor(value)))
      return lt_error_set(LT_ERR_ARG, 0, "fill value for a uint8 image must be an integer in 0..255, got %g", value);
    fill[0] = (uint8_t)value;
  } else {
    float f = (float)value;
    memcpy(fill, &f, 4);
  }
  const uint8_t *xb = x;
  uint8_t *yb = y;
  for (int64_t i = 0; i < n; i++) {
    for (int64_t ch = 0; ch < c; ch++) {
      const uint8_t *plane = xb + (size_t)((i * c + ch) * h * w) * es;
      uint8_t *out = yb + (size_t)((i * c + ch) * oh * ow) * es;
      for (int64_t r = 0; r < oh; r++, out += ow * es) {
        int64_t sr = lt_pad_map(top[i] + r - pad, h, mode);
        if (sr < 0) {
          for (int64_t s = 0; s < ow; s++) memcpy(out + s * es, fill, es);
        } else {
          crop_row(es, plane + (size_t)(sr * w) * es, out, w, ow, left[i] - pad, mode, fill);
        }
      }
    }
  }
  return LT_OK;
}

/* ---- flips ------------------------------------------------------------- */

static void reverse_row(size_t es, const uint8_t *src, uint8_t *dst, int64_t w) {
  if (es == 1) {
    if (src == dst) {
      for (int64_t a = 0, b = w - 1; a < b; a++, b--) {
        uint8_t t = dst[a];
        dst[a] = dst[b];
        dst[b] = t;
      }
    } else {
      for (int64_t s = 0; s < w; s++) dst[s] = src[w - 1 - s];
    }
  } else {
    uint32_t *d = (uint32_t *)dst;
    const uint32_t *p = (const uint32_t *)src;
    if (src == dst) {
      for (int64_t a = 0, b = w - 1; a < b; a++, b--) {
        uint32_t t = d[a];
        d[a] = d[b];
        d[b] = t;
      }
    } else {
      for (int64_t s = 0; s < w; s++) d[s] = p[w - 1 - s];
    }
  }
}

static lt_status flip_check(lt_dtype dt, const void *x, void *y, int64_t n, int64_t c, int64_t h, int64_t w,
                            const uint8_t *mask, size_t *es) {
  LT_TRY(check_dtype(dt, es));
  LT_TRY(check_dims(n, c, h, w));
  LT_TRY(check_ptrs(n, x, y));
  if (n > 0 && !mask) return lt_error_set(LT_ERR_ARG, 0, "flip mask is NULL");
  return LT_OK;
}

lt_status lt_transforms_hflip(lt_dtype dt, const void *x, void *y, int64_t n, int64_t c, int64_t h, int64_t w,
                              const uint8_t *mask) {
  size_t es = 0;
  LT_TRY(flip_check(dt, x, y, n, c, h, w, mask, &es));
  size_t sample = (size_t)(c * h * w) * es;
  for (int64_t i = 0; i < n; i++) {
    const uint8_t *src = (const uint8_t *)x + i * sample;
    uint8_t *dst = (uint8_t *)y + i * sample;
    if (!mask[i]) {
      if (src != dst) memcpy(dst, src, sample);
      continue;
    }
    for (int64_t r = 0; r < c * h; r++) reverse_row(es, src + (size_t)(r * w) * es, dst + (size_t)(r * w) * es, w);
  }
  return LT_OK;
}

lt_status lt_transforms_vflip(lt_dtype dt, const void *x, void *y, int64_t n, int64_t c, int64_t h, int64_t w,
                              const uint8_t *mask) {
  size_t es = 0;
  LT_TRY(flip_check(dt, x, y, n, c, h, w, mask, &es));
  size_t row = (size_t)w * es, sample = (size_t)(c * h) * row;
  for (int64_t i = 0; i < n; i++) {
    const uint8_t *src = (const uint8_t *)x + i * sample;
    uint8_t *dst = (uint8_t *)y + i * sample;
    if (!mask[i]) {
      if (src != dst) memcpy(dst, src, sample);
      continue;
    }
    for (int64_t ch = 0; ch < c; ch++) {
      const uint8_t *sp = src + (size_t)(ch * h) * row;
      uint8_t *dp = dst + (size_t)(ch * h) * row;
      if (sp == dp) {
        for (int64_t a = 0, b = h - 1; a < b; a++, b--) {
          uint8_t *ra = dp + (size_t)a * row, *rb = dp + (size_t)b * row;
          for (size_t k = 0; k < row; k++) {
            uint8_t t = ra[k];
            ra[k] = rb[k];
            rb[k] = t;
          }
        }
      } else {
        for (int64_t r = 0; r < h; r++) memcpy(dp + (size_t)r * row, sp + (size_t)(h - 1 - r) * row, row);
      }
    }
  }
  return LT_OK;
}

/* ---- bilinear resize --------------------------------------------------- */

/* Source indices and weights along one axis, as PyTorch computes them for
 * align_corners=false: src = max((d + 0.5) * in/out - 0.5, 0) in float32,
 * i0 = floor(src), i1 = i0 + 1 unless at the last pixel, l1 = src - i0. */
typedef struct {
  int64_t *i0, *i1;
  float *l0, *l1;
} axis_table;

static void axis_weights(axis_table *t, int64_t in, int64_t out, int64_t offset) {
  float scale = (float)in / (float)out;
  for (int64_t d = 0; d < out; d++) {
    float src = scale * ((float)d + 0.5f) - 0.5f;
    if (src < 0) src = 0;
    int64_t i0 = (int64_t)src;
    if (i0 > in - 1) i0 = in - 1;
    float l1 = src - (float)i0;
    if (l1 > 1) l1 = 1;
    t->i0[d] = offset + i0;
    t->i1[d] = offset + i0 + (i0 < in - 1 ? 1 : 0);
    t->l1[d] = l1;
    t->l0[d] = 1.0f - l1;
  }
}

static uint8_t round_u8(float v) {
  v = nearbyintf(v);
  return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
}

/* One plane: out[r][s] = (p00 wx0 + p01 wx1) wy0 + (p10 wx0 + p11 wx1) wy1,
 * the order PyTorch's CPU kernel sums in. */
static void resize_plane_f32(const float *in, int64_t w, float *out, int64_t oh, int64_t ow, const axis_table *ty,
                             const axis_table *tx) {
  for (int64_t r = 0; r < oh; r++) {
    const float *a = in + ty->i0[r] * w, *b = in + ty->i1[r] * w;
    float wy0 = ty->l0[r], wy1 = ty->l1[r];
    for (int64_t s = 0; s < ow; s++) {
      int64_t x0 = tx->i0[s], x1 = tx->i1[s];
      float wx0 = tx->l0[s], wx1 = tx->l1[s];
      out[r * ow + s] = (a[x0] * wx0 + a[x1] * wx1) * wy0 + (b[x0] * wx0 + b[x1] * wx1) * wy1;
    }
  }
}

static void resize_plane_u8(const uint8_t *in, int64_t w, uint8_t *out, int64_t oh, int64_t ow, const axis_table *ty,
                            const axis_table *tx) {
  for (int64_t r = 0; r < oh; r++) {
    const uint8_t *a = in + ty->i0[r] * w, *b = in + ty->i1[r] * w;
    float wy0 = ty->l0[r], wy1 = ty->l1[r];
    for (int64_t s = 0; s < ow; s++) {
      int64_t x0 = tx->i0[s], x1 = tx->i1[s];
      float wx0 = tx->l0[s], wx1 = tx->l1[s];
      float v = ((float)a[x0] * wx0 + (float)a[x1] * wx1) * wy0 + ((float)b[x0] * wx0 + (float)b[x1] * wx1) * wy1;
      out[r * ow + s] = round_u8(v);
    }
  }
}

lt_status lt_transforms_resized_crop(lt_dtype dt, const void *x, void *y, int64_t n, int64_t c, int64_t h, int64_t w,
                                     const int64_t *boxes, int64_t oh, int64_t ow) {
  size_t es = 0;
  LT_TRY(check_dtype(dt, &es));
  LT_TRY(check_dims(n, c, h, w));
  LT_TRY(check_ptrs(n, x, y));
  if (oh < 1 || ow < 1)
    return lt_error_set(LT_ERR_ARG, 0, "output size must be positive, got %lldx%lld", (long long)oh, (long long)ow);
  if (n > 0 && !boxes) return lt_error_set(LT_ERR_ARG, 0, "crop boxes are NULL");
  for (int64_t i = 0; i < n; i++) {
    const int64_t *b = boxes + 4 * i;
    if (b[0] < 0 || b[1] < 0 || b[2] < 1 || b[3] < 1 || b[0] + b[2] > h || b[1] + b[3] > w)
      return lt_error_set(LT_ERR_ARG, 0,
                          "crop box (top %lld, left %lld, height %lld, width %lld) of sample %lld is not inside the %lldx%lld image",
                          (long long)b[0], (long long)b[1], (long long)b[2], (long long)b[3], (long long)i + 1,
                          (long long)h, (long long)w);
  }
  void *mem = malloc((size_t)(oh + ow) * 2 * (sizeof(int64_t) + sizeof(float)));
  if (!mem) return lt_error_set(LT_ERR_OOM, 0, "out of memory for resize tables");
  axis_table ty, tx;
  ty.i0 = mem;
  ty.i1 = ty.i0 + oh;
  tx.i0 = ty.i1 + oh;
  tx.i1 = tx.i0 + ow;
  ty.l0 = (float *)(tx.i1 + ow);
  ty.l1 = ty.l0 + oh;
  tx.l0 = ty.l1 + oh;
  tx.l1 = tx.l0 + ow;
  for (int64_t i = 0; i < n; i++) {
    const int64_t *b = boxes + 4 * i;
    axis_weights(&ty, b[2], oh, b[0]);
    axis_weights(&tx, b[3], ow, b[1]);
    for (int64_t ch = 0; ch < c; ch++) {
      size_t ip = (size_t)((i * c + ch) * h * w), op = (size_t)((i * c + ch) * oh * ow);
      if (dt == LT_UINT8) resize_plane_u8((const uint8_t *)x + ip, w, (uint8_t *)y + op, oh, ow, &ty, &tx);
      else resize_plane_f32((const float *)x + ip, w, (float *)y + op, oh, ow, &ty, &tx);
    }
  }
  free(mem);
  return LT_OK;
}

lt_status lt_transforms_resize(lt_dtype dt, const void *x, void *y, int64_t n, int64_t c, int64_t h, int64_t w,
                               int64_t oh, int64_t ow) {
  LT_TRY(check_dims(n, c, h, w));
  int64_t *boxes = malloc((size_t)(n > 0 ? n : 1) * 4 * sizeof(int64_t));
  if (!boxes) return lt_error_set(LT_ERR_OOM, 0, "out of memory for resize boxes");
  for (int64_t i = 0; i < n; i++) {
    boxes[4 * i] = 0;
    boxes[4 * i + 1] = 0;
    boxes[4 * i + 2] = h;
    boxes[4 * i + 3] = w;
  }
  lt_status st = lt_transforms_resized_crop(dt, x, y, n, c, h, w, boxes, oh, ow);
  free(boxes);
  return st;
}

/* ---- conversion and normalization -------------------------------------- */

lt_status lt_transforms_to_float(const uint8_t *x, float *y, int64_t count) {
  if (count < 0) return lt_error_set(LT_ERR_ARG, 0, "element count must be >= 0, got %lld", (long long)count);
  LT_TRY(check_ptrs(count, x, y));
  for (int64_t k = 0; k < count; k++) y[k] = (float)x[k] / 255.0f;
  return LT_OK;
}

lt_status lt_transforms_to_bf16(const float *x, uint16_t *y, int64_t count) {
  if (count < 0) return lt_error_set(LT_ERR_ARG, 0, "element count must be >= 0, got %lld", (long long)count);
  LT_TRY(check_ptrs(count, x, y));
  for (int64_t k = 0; k < count; k++) y[k] = lt_f32_to_bf16(x[k]);
  return LT_OK;
}

static lt_status check_mean_std(int64_t c, const float *mean, const float *std) {
  if (!mean || !std) return lt_error_set(LT_ERR_ARG, 0, "mean and std are NULL");
  for (int64_t ch = 0; ch < c; ch++)
    if (std[ch] == 0)
      return lt_error_set(LT_ERR_ARG, 0, "std of channel %lld is zero, which would divide by zero", (long long)ch + 1);
  return LT_OK;
}

/* lut[ch*256 + v] = (v/255 - mean[ch]) / std[ch], rounded as the separate
 * float32 steps round. */
static float *normalize_lut(int64_t c, const float *mean, const float *std) {
  float *lut = malloc((size_t)c * 256 * sizeof(float));
  if (!lut) return NULL;
  for (int64_t ch = 0; ch < c; ch++)
    for (int v = 0; v < 256; v++) {
      float f = (float)v / 255.0f;
      f = f - mean[ch];
      lut[ch * 256 + v] = f / std[ch];
    }
  return lut;
}

lt_status lt_transforms_to_float_normalize(const uint8_t *x, float *y, int64_t n, int64_t c, int64_t hw,
                                           const float *mean, const float *std) {
  LT_TRY(check_dims(n, c, hw, 1));
  LT_TRY(check_ptrs(n, x, y));
  LT_TRY(check_mean_std(c, mean, std));
  float *lut = normalize_lut(c, mean, std);
  if (!lut) return lt_error_set(LT_ERR_OOM, 0, "out of memory for the normalization table");
  for (int64_t i = 0; i < n; i++)
    for (int64_t ch = 0; ch < c; ch++) {
      const float *t = lut + ch * 256;
      const uint8_t *src = x + (i * c + ch) * hw;
      float *dst = y + (i * c + ch) * hw;
      for (int64_t k = 0; k < hw; k++) dst[k] = t[src[k]];
    }
  free(lut);
  return LT_OK;
}

lt_status lt_transforms_normalize(float *x, int64_t n, int64_t c, int64_t hw, const float *mean, const float *std) {
  LT_TRY(check_dims(n, c, hw, 1));
  LT_TRY(check_ptrs(n, x, x));
  LT_TRY(check_mean_std(c, mean, std));
  for (int64_t i = 0; i < n; i++)
    for (int64_t ch = 0; ch < c; ch++) {
      float m = mean[ch], s = std[ch];
      float *p = x + (i * c + ch) * hw;
      for (int64_t k = 0; k < hw; k++) p[k] = (p[k] - m) / s;
    }
  return LT_OK;
}

/* ---- erasing and colour ------------------------------------------------ */

lt_status lt_transforms_erase(float *x, int64_t n, int64_t c, int64_t h, int64_t w, const int64_t *boxes,
                              const float *values) {
  LT_TRY(check_dims(n, c, h, w));
  LT_TRY(check_ptrs(n, x, x));
  if (n > 0 && !boxes) return lt_error_set(LT_ERR_ARG, 0, "erase boxes are NULL");
  for (int64_t i = 0; i < n; i++) {
    const int64_t *b = boxes + 4 * i;
    if (b[2] == 0 || b[3] == 0) continue;
    if (b[0] < 0 || b[1] < 0 || b[2] < 0 || b[3] < 0 || b[0] + b[2] > h || b[1] + b[3] > w)
      return lt_error_set(LT_ERR_ARG, 0,
                          "erase box (top %lld, left %lld, height %lld, width %lld) of sample %lld is not inside the %lldx%lld image",
                          (long long)b[0], (long long)b[1], (long long)b[2], (long long)b[3], (long long)i + 1,
                          (long long)h, (long long)w);
  }
  for (int64_t i = 0; i < n; i++) {
    const int64_t *b = boxes + 4 * i;
    if (b[2] == 0 || b[3] == 0) continue;
    for (int64_t ch = 0; ch < c; ch++) {
      float v = values ? values[ch] : 0.0f;
      float *plane = x + (i * c + ch) * h * w;
      for (int64_t r = b[0]; r < b[0] + b[2]; r++)
        for (int64_t s = b[1]; s < b[1] + b[3]; s++) plane[r * w + s] = v;
    }
  }
  return LT_OK;
}

static float clamp01(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

lt_status lt_transforms_adjust_brightness(float *x, int64_t n, int64_t c, int64_t h, int64_t w, const float *factors) {
  LT_TRY(check_dims(n, c, h, w));
  LT_TRY(check_ptrs(n, x, factors));
  int64_t per = c * h * w;
  for (int64_t i = 0; i < n; i++) {
    float f = factors[i];
    if (!(f >= 0)) return lt_error_set(LT_ERR_ARG, 0, "brightness factor of sample %lld must be >= 0, got %g",
                                       (long long)i + 1, (double)f);
  }
  for (int64_t i = 0; i < n; i++) {
    float f = factors[i];
    float *p = x + i * per;
    for (int64_t k = 0; k < per; k++) p[k] = clamp01(f * p[k]);
  }
  return LT_OK;
}

lt_status lt_transforms_adjust_contrast(float *x, int64_t n, int64_t c, int64_t h, int64_t w, const float *factors) {
  LT_TRY(check_dims(n, c, h, w));
  LT_TRY(check_ptrs(n, x, factors));
  if (c != 1 && c != 3)
    return lt_error_set(LT_ERR_ARG, 0, "contrast needs 1 or 3 channels, got %lld", (long long)c);
  for (int64_t i = 0; i < n; i++) {
    if (!(factors[i] >= 0)) return lt_error_set(LT_ERR_ARG, 0, "contrast factor of sample %lld must be >= 0, got %g",
                                                (long long)i + 1, (double)factors[i]);
  }
  int64_t hw = h * w;
  for (int64_t i = 0; i < n; i++) {
    float *p = x + i * c * hw;
    double sum = 0;
    if (c == 3) {
      for (int64_t k = 0; k < hw; k++) sum += 0.2989f * p[k] + 0.587f * p[hw + k] + 0.114f * p[2 * hw + k];
    } else {
      for (int64_t k = 0; k < hw; k++) sum += p[k];
    }
    float f = factors[i];
    float bias = (float)(1.0 - (double)f) * (float)(sum / (double)hw);
    for (int64_t k = 0; k < c * hw; k++) p[k] = clamp01(f * p[k] + bias);
  }
  return LT_OK;
}

/* ---- the reference recipe's pipeline, fused -------------------------- */

lt_status lt_transforms_crop_flip_normalize(const uint8_t *x, float *y, int64_t n, int64_t c, int64_t h, int64_t w,
                                            int64_t oh, int64_t ow, const int64_t *top, const int64_t *left,
                                            int64_t pad, lt_pad_mode mode, uint8_t fill, const uint8_t *flip,
                                            const float *mean, const float *std) {
  LT_TRY(check_dims(n, c, h, w));
  LT_TRY(check_ptrs(n, x, y));
  LT_TRY(check_pad(h, w, oh, ow, pad, mode));
  LT_TRY(check_offsets(n, h, w, oh, ow, pad, top, left));
  LT_TRY(check_mean_std(c, mean, std));
  float *lut = normalize_lut(c, mean, std);
  if (!lut) return lt_error_set(LT_ERR_OOM, 0, "out of memory for the normalization table");
  for (int64_t i = 0; i < n; i++) {
    const bool flipped = flip && flip[i];
    const int64_t col0 = left[i] - pad; /* image column of crop column 0 */
    /* Crop columns t in [t0, t1) read image columns col0 + t directly; after
     * a flip, output column s shows crop column ow - 1 - s. */
    int64_t t0, t1;
    inside_run(col0, w, ow, &t0, &t1);
    const int64_t s0 = flipped ? ow - t1 : t0, s1 = flipped ? ow - t0 : t1;
    for (int64_t ch = 0; ch < c; ch++) {
      const float *t = lut + ch * 256;
      const float fillv = t[fill];
      const uint8_t *plane = x + (i * c + ch) * h * w;
      float *out = y + (i * c + ch) * oh * ow;
      for (int64_t r = 0; r < oh; r++, out += ow) {
        const int64_t sr = lt_pad_map(top[i] + r - pad, h, mode);
        if (sr < 0) {
          for (int64_t s = 0; s < ow; s++) out[s] = fillv;
          continue;
        }
        const uint8_t *row = plane + sr * w;
        if (s1 > s0 && flipped) {
          const uint8_t *src = row + col0 + ow - 1 - s0; /* image column of output column s0 */
          for (int64_t k = 0; k < s1 - s0; k++) out[s0 + k] = t[src[-k]];
        } else if (s1 > s0) {
          const uint8_t *src = row + col0 + s0;
          for (int64_t k = 0; k < s1 - s0; k++) out[s0 + k] = t[src[k]];
        }
        /* The padding columns: at most 2*pad per row. */
        for (int64_t s = 0; s < s0; s++) {
          int64_t m = lt_pad_map(col0 + (flipped ? ow - 1 - s : s), w, mode);
          out[s] = m < 0 ? fillv : t[row[m]];
        }
        for (int64_t s = s1; s < ow; s++) {
          int64_t m = lt_pad_map(col0 + (flipped ? ow - 1 - s : s), w, mode);
          out[s] = m < 0 ? fillv : t[row[m]];
        }
      }
    }
  }
  free(lut);
  return LT_OK;
}
