/* test_data_transforms.c — every batched transform primitive against a naive
 * per-pixel reference written here, on random batches with fixed offsets,
 * masks and boxes; bilinear resize also against values worked out by hand
 * from PyTorch's align_corners=false definition; and the reference recipe's fused pipeline
 * against crop -> flip -> to float -> normalize run one after another. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_test.h"
#include "lt_transforms_cpu.h"

static uint32_t rng_state = 777;
static uint32_t rnd(void) {
  rng_state = rng_state * 1664525u + 1013904223u;
  return rng_state >> 8;
}
static void fill_u8(uint8_t *p, int64_t n) {
  for (int64_t k = 0; k < n; k++) p[k] = (uint8_t)rnd();
}
static void fill_f32(float *p, int64_t n) {
  for (int64_t k = 0; k < n; k++) p[k] = (float)(rnd() % 100000) / 100000.0f;
}

static void check_err(lt_status st, const char *want, int line) {
  bool ok = st == LT_ERR_ARG && strstr(lt_error_message(), want) != NULL;
  if (!ok) fprintf(stderr, "line %d: status %d, message \"%s\"; expected \"%s\"\n", line, (int)st, lt_error_message(), want);
  LT_CHECK(ok);
}
#define CHECK_ERR(st, want) check_err((st), (want), __LINE__)

/* ---- references -------------------------------------------------------- */

/* Builds the padded plane explicitly, the way the padding modes are defined
 * (torch.nn.functional.pad / torchvision): the border strips are copied out
 * of the plane one by one. Values as double. */
static void ref_pad_plane(const double *in, int64_t h, int64_t w, int64_t p, lt_pad_mode mode, double value,
                          double *out /* (h+2p) x (w+2p) */) {
  int64_t W = w + 2 * p, H = h + 2 * p;
  for (int64_t r = 0; r < H; r++)
    for (int64_t s = 0; s < W; s++) out[r * W + s] = value;
  for (int64_t r = 0; r < h; r++)
    for (int64_t s = 0; s < w; s++) out[(r + p) * W + s + p] = in[r * w + s];
  if (mode == LT_PAD_CONSTANT) return;
  /* Columns first (within the real rows), then whole rows. */
  for (int64_t r = p; r < p + h; r++) {
    for (int64_t k = 1; k <= p; k++) {
      int64_t left_src, right_src; /* padded-plane columns */
      if (mode == LT_PAD_EDGE) {
        left_src = p;
        right_src = p + w - 1;
      } else if (mode == LT_PAD_REFLECT) {
        left_src = p + k;
        right_src = p + w - 1 - k;
      } else {
        left_src = p + k - 1;
        right_src = p + w - k;
      }
      out[r * W + p - k] = out[r * W + left_src];
      out[r * W + p + w - 1 + k] = out[r * W + right_src];
    }
  }
  for (int64_t k = 1; k <= p; k++) {
    int64_t top_src, bottom_src;
    if (mode == LT_PAD_EDGE) {
      top_src = p;
      bottom_src = p + h - 1;
    } else if (mode == LT_PAD_REFLECT) {
      top_src = p + k;
      bottom_src = p + h - 1 - k;
    } else {
      top_src = p + k - 1;
      bottom_src = p + h - k;
    }
    memcpy(out + (p - k) * W, out + top_src * W, (size_t)W * sizeof(double));
    memcpy(out + (p + h - 1 + k) * W, out + bottom_src * W, (size_t)W * sizeof(double));
  }
}

static void ref_crop_pad(bool u8, const void *x, void *y, int64_t n, int64_t c, int64_t h, int64_t w, int64_t oh,
                         int64_t ow, const int64_t *top, const int64_t *left, int64_t p, lt_pad_mode mode, double value) {
  double *plane = malloc(sizeof(double) * (size_t)(h * w));
  double *padded = malloc(sizeof(double) * (size_t)((h + 2 * p) * (w + 2 * p)));
  for (int64_t i = 0; i < n; i++)
    for (int64_t ch = 0; ch < c; ch++) {
      int64_t base = (i * c + ch) * h * w;
      for (int64_t k = 0; k < h * w; k++) plane[k] = u8 ? ((const uint8_t *)x)[base + k] : ((const float *)x)[base + k];
      ref_pad_plane(plane, h, w, p, mode, value, padded);
      for (int64_t r = 0; r < oh; r++)
        for (int64_t s = 0; s < ow; s++) {
          double v = padded[(top[i] + r) * (w + 2 * p) + left[i] + s];
          int64_t o = (i * c + ch) * oh * ow + r * ow + s;
          if (u8) ((uint8_t *)y)[o] = (uint8_t)v;
          else ((float *)y)[o] = (float)v;
        }
    }
  free(plane);
  free(padded);
}

/* Bilinear, align_corners=false, straight from the definition, in double. */
static double ref_bilinear(const double *plane, int64_t w, int64_t top, int64_t left, int64_t bh, int64_t bw,
                           int64_t oh, int64_t ow, int64_t r, int64_t s) {
  double sy = (r + 0.5) * (double)bh / (double)oh - 0.5, sx = (s + 0.5) * (double)bw / (double)ow - 0.5;
  if (sy < 0) sy = 0;
  if (sx < 0) sx = 0;
  int64_t y0 = (int64_t)floor(sy), x0 = (int64_t)floor(sx);
  if (y0 > bh - 1) y0 = bh - 1;
  if (x0 > bw - 1) x0 = bw - 1;
  int64_t y1 = y0 + 1 < bh ? y0 + 1 : bh - 1, x1 = x0 + 1 < bw ? x0 + 1 : bw - 1;
  double ly = sy - y0, lx = sx - x0;
#define PX(yy, xx) plane[(top + (yy)) * w + left + (xx)]
  return (1 - ly) * ((1 - lx) * PX(y0, x0) + lx * PX(y0, x1)) + ly * ((1 - lx) * PX(y1, x0) + lx * PX(y1, x1));
#undef PX
}

/* ---- tests ------------------------------------------------------------- */

static void test_crop_pad(void) {
  enum { N = 5, C = 3, H = 9, W = 7, OH = 8, OW = 6, P = 3 };
  static const lt_pad_mode modes[4] = {LT_PAD_CONSTANT, LT_PAD_EDGE, LT_PAD_REFLECT, LT_PAD_SYMMETRIC};
  /* Offsets covering both extremes and the middle. */
  int64_t top[N] = {0, H + 2 * P - OH, 3, 1, 5}, left[N] = {W + 2 * P - OW, 0, 2, 7, 4};
  uint8_t xu[N * C * H * W], yu[N * C * OH * OW], ru[N * C * OH * OW];
  float xf[N * C * H * W], yf[N * C * OH * OW], rf[N * C * OH * OW];
  fill_u8(xu, N * C * H * W);
  fill_f32(xf, N * C * H * W);
  for (int m = 0; m < 4; m++) {
    double value = modes[m] == LT_PAD_CONSTANT ? 37 : 0;
    LT_CHECK(lt_transforms_crop_pad(LT_UINT8, xu, yu, N, C, H, W, OH, OW, top, left, P, modes[m], value) == LT_OK);
    ref_crop_pad(true, xu, ru, N, C, H, W, OH, OW, top, left, P, modes[m], value);
    LT_CHECK(memcmp(yu, ru, sizeof yu) == 0);
    LT_CHECK(lt_transforms_crop_pad(LT_FLOAT32, xf, yf, N, C, H, W, OH, OW, top, left, P, modes[m], -0.5) == LT_OK);
    ref_crop_pad(false, xf, rf, N, C, H, W, OH, OW, top, left, P, modes[m], -0.5);
    LT_CHECK(memcmp(yf, rf, sizeof yf) == 0);
  }
  /* The reference recipe's RandomCrop(32, padding=4) shape, zero fill. */
  {
    enum { N2 = 4, S = 32, PP = 4 };
    uint8_t *x = malloc(N2 * 3 * S * S), *y = malloc(N2 * 3 * S * S), *r = malloc(N2 * 3 * S * S);
    int64_t t2[N2] = {0, 8, 4, 2}, l2[N2] = {8, 0, 4, 6};
    fill_u8(x, N2 * 3 * S * S);
    LT_CHECK(lt_transforms_crop_pad(LT_UINT8, x, y, N2, 3, S, S, S, S, t2, l2, PP, LT_PAD_CONSTANT, 0) == LT_OK);
    ref_crop_pad(true, x, r, N2, 3, S, S, S, S, t2, l2, PP, LT_PAD_CONSTANT, 0);
    LT_CHECK(memcmp(y, r, N2 * 3 * S * S) == 0);
    /* Sample 0 (top 0, left 8): rows 0..3 are padding; row 4 shows image
     * row 0 from column 4 on, and its last 4 columns are padding again. */
    LT_CHECK(y[0] == 0 && y[4 * S + 31] == 0 && y[4 * S + 0] == x[0 * S + 4]);
    free(x);
    free(y);
    free(r);
  }
  /* A crop wholly inside the padding (tiny image, big pad). */
  {
    uint8_t x[4] = {1, 2, 3, 4}, y[4], r[4];
    int64_t t = 0, l = 0;
    LT_CHECK(lt_transforms_crop_pad(LT_UINT8, x, y, 1, 1, 2, 2, 2, 2, &t, &l, 2, LT_PAD_EDGE, 0) == LT_OK);
    ref_crop_pad(true, x, r, 1, 1, 2, 2, 2, 2, &t, &l, 2, LT_PAD_EDGE, 0);
    LT_CHECK(memcmp(y, r, 4) == 0 && y[0] == 1);
  }
  /* Reflect does not repeat the edge: [1 2 3] padded by 2 is 3 2 | 1 2 3 | 2 1. */
  {
    uint8_t x[3] = {1, 2, 3}, y[7];
    int64_t t = 0, l = 0;
    LT_CHECK(lt_transforms_crop_pad(LT_UINT8, x, y, 1, 1, 1, 3, 1, 7, &t, &l, 2, LT_PAD_REFLECT, 0) == LT_ERR_ARG);
    uint8_t x2[9] = {1, 2, 3, 1, 2, 3, 1, 2, 3};
    int64_t t2 = 2;
    LT_CHECK(lt_transforms_crop_pad(LT_UINT8, x2, y, 1, 1, 3, 3, 1, 7, &t2, &l, 2, LT_PAD_REFLECT, 0) == LT_OK);
    static const uint8_t want[7] = {3, 2, 1, 2, 3, 2, 1};
    LT_CHECK(memcmp(y, want, 7) == 0);
  }
  /* Errors. */
  int64_t bad_top[1] = {H + 2 * P - OH + 1}, zero[1] = {0};
  CHECK_ERR(lt_transforms_crop_pad(LT_UINT8, xu, yu, 1, C, H, W, OH, OW, bad_top, zero, P, LT_PAD_CONSTANT, 0),
            "crop offset (8, 0) of sample 1 is outside 0..7 x 0..7 (a 8x6 crop of 9x7 padded by 3)");
  CHECK_ERR(lt_transforms_crop_pad(LT_UINT8, xu, yu, 1, C, H, W, OH, OW, zero, zero, W, LT_PAD_REFLECT, 0),
            "reflect padding 7 must be smaller than the image size 9x7");
  CHECK_ERR(lt_transforms_crop_pad(LT_UINT8, xu, yu, 1, C, H, W, OH, OW, zero, zero, P, LT_PAD_CONSTANT, 256),
            "fill value for a uint8 image must be an integer in 0..255, got 256");
  CHECK_ERR(lt_transforms_crop_pad(LT_INT64, xu, yu, 1, C, H, W, OH, OW, zero, zero, P, LT_PAD_CONSTANT, 0),
            "expected a uint8 or float32 image batch, got int64");
  CHECK_ERR(lt_transforms_crop_pad(LT_UINT8, xu, yu, 1, C, H, W, H + 2 * P + 1, OW, zero, zero, P, LT_PAD_CONSTANT, 0),
            "crop size 16x6 is larger than the padded image 15x13");
}

static void test_flips(void) {
  enum { N = 6, C = 3, H = 5, W = 7 };
  uint8_t mask[N] = {1, 0, 1, 1, 0, 1};
  uint8_t xu[N * C * H * W], yu[N * C * H * W], ru[N * C * H * W], vu[N * C * H * W];
  float xf[N * C * H * W], yf[N * C * H * W], rf[N * C * H * W], vf[N * C * H * W];
  fill_u8(xu, sizeof xu);
  fill_f32(xf, N * C * H * W);
  for (int64_t i = 0; i < N; i++)
    for (int64_t ch = 0; ch < C; ch++)
      for (int64_t r = 0; r < H; r++)
        for (int64_t s = 0; s < W; s++) {
          int64_t base = (i * C + ch) * H * W, o = base + r * W + s;
          int64_t hs = mask[i] ? base + r * W + (W - 1 - s) : o;
          int64_t vs = mask[i] ? base + (H - 1 - r) * W + s : o;
          ru[o] = xu[hs];
          rf[o] = xf[hs];
          vu[o] = xu[vs];
          vf[o] = xf[vs];
        }
  LT_CHECK(lt_transforms_hflip(LT_UINT8, xu, yu, N, C, H, W, mask) == LT_OK && memcmp(yu, ru, sizeof yu) == 0);
  LT_CHECK(lt_transforms_hflip(LT_FLOAT32, xf, yf, N, C, H, W, mask) == LT_OK && memcmp(yf, rf, sizeof yf) == 0);
  LT_CHECK(lt_transforms_vflip(LT_UINT8, xu, yu, N, C, H, W, mask) == LT_OK && memcmp(yu, vu, sizeof yu) == 0);
  LT_CHECK(lt_transforms_vflip(LT_FLOAT32, xf, yf, N, C, H, W, mask) == LT_OK && memcmp(yf, vf, sizeof yf) == 0);
  /* In place. */
  memcpy(yu, xu, sizeof yu);
  memcpy(yf, xf, sizeof yf);
  LT_CHECK(lt_transforms_hflip(LT_UINT8, yu, yu, N, C, H, W, mask) == LT_OK && memcmp(yu, ru, sizeof yu) == 0);
  LT_CHECK(lt_transforms_hflip(LT_FLOAT32, yf, yf, N, C, H, W, mask) == LT_OK && memcmp(yf, rf, sizeof yf) == 0);
  memcpy(yu, xu, sizeof yu);
  memcpy(yf, xf, sizeof yf);
  LT_CHECK(lt_transforms_vflip(LT_UINT8, yu, yu, N, C, H, W, mask) == LT_OK && memcmp(yu, vu, sizeof yu) == 0);
  LT_CHECK(lt_transforms_vflip(LT_FLOAT32, yf, yf, N, C, H, W, mask) == LT_OK && memcmp(yf, vf, sizeof yf) == 0);
  /* Flipping twice is the identity; even widths too. */
  uint8_t e[2 * 4] = {1, 2, 3, 4, 5, 6, 7, 8}, e2[8];
  uint8_t one = 1;
  LT_CHECK(lt_transforms_hflip(LT_UINT8, e, e2, 1, 1, 2, 4, &one) == LT_OK && e2[0] == 4 && e2[3] == 1 && e2[4] == 8);
  LT_CHECK(lt_transforms_hflip(LT_UINT8, e2, e2, 1, 1, 2, 4, &one) == LT_OK && memcmp(e, e2, 8) == 0);
  CHECK_ERR(lt_transforms_hflip(LT_UINT8, xu, yu, N, C, H, W, NULL), "flip mask is NULL");
}

static void test_resize_known(void) {
  /* 2x2 -> 4x4: source coordinates max((d + 0.5) / 2 - 0.5, 0) = 0, 0.25,
   * 0.75, 1.25 (-> clamped to the last pixel). */
  float x[4] = {0, 1, 2, 3}, y[16];
  static const float want[16] = {0, 0.25f, 0.75f, 1, 0.5f, 0.75f, 1.25f, 1.5f, 1.5f, 1.75f, 2.25f, 2.5f, 2, 2.25f, 2.75f, 3};
  LT_CHECK(lt_transforms_resize(LT_FLOAT32, x, y, 1, 1, 2, 2, 4, 4) == LT_OK);
  int bad = 0;
  for (int k = 0; k < 16; k++)
    if (fabsf(y[k] - want[k]) > 1e-6f) bad++;
  LT_CHECK(bad == 0);
  /* 4 -> 2 averages pairs (sources 0.5 and 2.5). */
  float row[4] = {10, 20, 40, 80}, half[2];
  LT_CHECK(lt_transforms_resize(LT_FLOAT32, row, half, 1, 1, 1, 4, 1, 2) == LT_OK);
  LT_CHECK_CLOSE(half[0], 15, 1e-6);
  LT_CHECK_CLOSE(half[1], 60, 1e-6);
  /* 3 -> 5: scale 0.6, sources 0, 0.4, 1, 1.6, 2.2 -> 2. */
  float r3[3] = {0, 10, 30}, r5[5];
  LT_CHECK(lt_transforms_resize(LT_FLOAT32, r3, r5, 1, 1, 1, 3, 1, 5) == LT_OK);
  LT_CHECK_CLOSE(r5[0], 0, 1e-6);
  LT_CHECK_CLOSE(r5[1], 4, 1e-6);
  LT_CHECK_CLOSE(r5[2], 10, 1e-6);
  LT_CHECK_CLOSE(r5[3], 22, 1e-6);
  LT_CHECK_CLOSE(r5[4], 30, 1e-6);
  /* uint8 rounds to nearest, ties to even: 0,1 -> 4 gives 0, .25, .75, 1. */
  uint8_t u[2] = {0, 2}, u4[4];
  LT_CHECK(lt_transforms_resize(LT_UINT8, u, u4, 1, 1, 1, 2, 1, 4) == LT_OK);
  LT_CHECK(u4[0] == 0 && u4[1] == 0 /* 0.5 -> 0 */ && u4[2] == 2 /* 1.5 -> 2 */ && u4[3] == 2);
  /* Same size is the identity. */
  uint8_t id[6] = {9, 8, 7, 6, 5, 4}, id2[6];
  LT_CHECK(lt_transforms_resize(LT_UINT8, id, id2, 1, 1, 2, 3, 2, 3) == LT_OK && memcmp(id, id2, 6) == 0);
}

static void test_resize_random(void) {
  enum { N = 3, C = 2, H = 13, W = 9 };
  static const int64_t sizes[][2] = {{5, 7}, {26, 18}, {13, 9}, {1, 1}, {31, 4}};
  float *xf = malloc(sizeof(float) * N * C * H * W);
  uint8_t *xu = malloc(N * C * H * W);
  fill_f32(xf, N * C * H * W);
  fill_u8(xu, N * C * H * W);
  double *plane = malloc(sizeof(double) * H * W);
  for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
    int64_t oh = sizes[t][0], ow = sizes[t][1];
    float *yf = malloc(sizeof(float) * (size_t)(N * C * oh * ow));
    uint8_t *yu = malloc((size_t)(N * C * oh * ow));
    LT_CHECK(lt_transforms_resize(LT_FLOAT32, xf, yf, N, C, H, W, oh, ow) == LT_OK);
    LT_CHECK(lt_transforms_resize(LT_UINT8, xu, yu, N, C, H, W, oh, ow) == LT_OK);
    int badf = 0, badu = 0, offu = 0;
    for (int64_t p = 0; p < N * C; p++) {
      for (int64_t k = 0; k < H * W; k++) plane[k] = xf[p * H * W + k];
      for (int64_t r = 0; r < oh; r++)
        for (int64_t s = 0; s < ow; s++)
          if (fabs(yf[p * oh * ow + r * ow + s] - ref_bilinear(plane, W, 0, 0, H, W, oh, ow, r, s)) > 1e-5) badf++;
      for (int64_t k = 0; k < H * W; k++) plane[k] = xu[p * H * W + k];
      for (int64_t r = 0; r < oh; r++)
        for (int64_t s = 0; s < ow; s++) {
          double ref = ref_bilinear(plane, W, 0, 0, H, W, oh, ow, r, s);
          double got = yu[p * oh * ow + r * ow + s];
          if (fabs(got - ref) > 0.5 + 1e-3) badu++;
          if (got != nearbyint(ref)) offu++;
        }
    }
    LT_CHECK(badf == 0);
    LT_CHECK(badu == 0);
    LT_CHECK(offu <= 2); /* float32 vs double may only split a near-tie */
    free(yf);
    free(yu);
  }
  free(plane);
  free(xf);
  free(xu);
}

static void test_resized_crop(void) {
  enum { N = 4, C = 3, H = 20, W = 16, OH = 11, OW = 7 };
  int64_t boxes[N * 4] = {0, 0, H, W, 3, 2, 10, 5, 19, 15, 1, 1, 4, 0, 16, 16};
  float *x = malloc(sizeof(float) * N * C * H * W), *y = malloc(sizeof(float) * N * C * OH * OW);
  fill_f32(x, N * C * H * W);
  LT_CHECK(lt_transforms_resized_crop(LT_FLOAT32, x, y, N, C, H, W, boxes, OH, OW) == LT_OK);
  /* Against crop-then-resize through the other primitives, exactly. */
  int bad_exact = 0, bad_ref = 0;
  double *plane = malloc(sizeof(double) * H * W);
  for (int64_t i = 0; i < N; i++) {
    const int64_t *b = boxes + 4 * i;
    float *crop = malloc(sizeof(float) * (size_t)(C * b[2] * b[3])), *res = malloc(sizeof(float) * C * OH * OW);
    LT_CHECK(lt_transforms_crop_pad(LT_FLOAT32, x + i * C * H * W, crop, 1, C, H, W, b[2], b[3], &b[0], &b[1], 0,
                                    LT_PAD_CONSTANT, 0) == LT_OK);
    LT_CHECK(lt_transforms_resize(LT_FLOAT32, crop, res, 1, C, b[2], b[3], OH, OW) == LT_OK);
    if (memcmp(res, y + i * C * OH * OW, sizeof(float) * C * OH * OW) != 0) bad_exact++;
    for (int64_t ch = 0; ch < C; ch++) {
      for (int64_t k = 0; k < H * W; k++) plane[k] = x[(i * C + ch) * H * W + k];
      for (int64_t r = 0; r < OH; r++)
        for (int64_t s = 0; s < OW; s++)
          if (fabs(y[(i * C + ch) * OH * OW + r * OW + s] - ref_bilinear(plane, W, b[0], b[1], b[2], b[3], OH, OW, r, s)) >
              1e-5)
            bad_ref++;
    }
    free(crop);
    free(res);
  }
  LT_CHECK(bad_exact == 0);
  LT_CHECK(bad_ref == 0);
  int64_t outside[4] = {15, 0, 6, 4};
  CHECK_ERR(lt_transforms_resized_crop(LT_FLOAT32, x, y, 1, C, H, W, outside, OH, OW),
            "crop box (top 15, left 0, height 6, width 4) of sample 1 is not inside the 20x16 image");
  free(plane);
  free(x);
  free(y);
}

static void test_float_normalize(void) {
  enum { N = 3, C = 3, HW = 50 };
  const float mean[C] = {0.4914f, 0.4822f, 0.4465f}, std[C] = {0.2471f, 0.2435f, 0.2616f};
  uint8_t x[N * C * HW];
  float y[N * C * HW], z[N * C * HW];
  fill_u8(x, sizeof x);
  x[0] = 0;
  x[1] = 255;
  LT_CHECK(lt_transforms_to_float(x, y, N * C * HW) == LT_OK);
  int bad = 0;
  for (int k = 0; k < N * C * HW; k++)
    if (y[k] != (float)x[k] / 255.0f) bad++;
  LT_CHECK(bad == 0 && y[0] == 0.0f && y[1] == 1.0f);
  memcpy(z, y, sizeof z);
  LT_CHECK(lt_transforms_normalize(z, N, C, HW, mean, std) == LT_OK);
  bad = 0;
  for (int i = 0; i < N; i++)
    for (int ch = 0; ch < C; ch++)
      for (int k = 0; k < HW; k++) {
        int o = (i * C + ch) * HW + k;
        float want = (y[o] - mean[ch]) / std[ch];
        if (z[o] != want) bad++;
      }
  LT_CHECK(bad == 0);
  LT_CHECK_CLOSE(z[0], -0.4914 / 0.2471, 1e-6);
  /* Fused equals the two steps bit for bit. */
  LT_CHECK(lt_transforms_to_float_normalize(x, y, N, C, HW, mean, std) == LT_OK);
  LT_CHECK(memcmp(y, z, sizeof y) == 0);
  const float zero_std[C] = {1, 0, 1};
  CHECK_ERR(lt_transforms_normalize(z, N, C, HW, mean, zero_std), "std of channel 2 is zero");
}

static void test_erase_color(void) {
  enum { N = 4, C = 3, H = 6, W = 5 };
  float x[N * C * H * W], y[N * C * H * W], r[N * C * H * W];
  fill_f32(x, N * C * H * W);
  int64_t boxes[N * 4] = {1, 1, 2, 3, 0, 0, 0, 0, 0, 0, H, W, 5, 4, 1, 1};
  const float vals[C] = {0.5f, -1.0f, 2.0f};
  memcpy(y, x, sizeof x);
  memcpy(r, x, sizeof x);
  LT_CHECK(lt_transforms_erase(y, N, C, H, W, boxes, vals) == LT_OK);
  for (int i = 0; i < N; i++)
    for (int ch = 0; ch < C; ch++)
      for (int a = 0; a < H; a++)
        for (int b = 0; b < W; b++) {
          const int64_t *bx = boxes + 4 * i;
          if (a >= bx[0] && a < bx[0] + bx[2] && b >= bx[1] && b < bx[1] + bx[3]) r[((i * C + ch) * H + a) * W + b] = vals[ch];
        }
  LT_CHECK(memcmp(y, r, sizeof y) == 0);
  memcpy(y, x, sizeof x);
  LT_CHECK(lt_transforms_erase(y, N, C, H, W, boxes, NULL) == LT_OK && y[(0 * H + 1) * W + 1] == 0.0f);
  int64_t bad_box[4] = {5, 0, 2, 1};
  CHECK_ERR(lt_transforms_erase(y, 1, C, H, W, bad_box, NULL), "erase box (top 5, left 0, height 2, width 1) of sample 1");

  const float f[N] = {0.0f, 0.5f, 1.0f, 1.7f};
  memcpy(y, x, sizeof x);
  LT_CHECK(lt_transforms_adjust_brightness(y, N, C, H, W, f) == LT_OK);
  int bad = 0;
  for (int i = 0; i < N; i++)
    for (int k = 0; k < C * H * W; k++) {
      double want = f[i] * x[i * C * H * W + k];
      want = want < 0 ? 0 : want > 1 ? 1 : want;
      if (fabs(y[i * C * H * W + k] - want) > 1e-6) bad++;
    }
  LT_CHECK(bad == 0);

  memcpy(y, x, sizeof x);
  LT_CHECK(lt_transforms_adjust_contrast(y, N, C, H, W, f) == LT_OK);
  bad = 0;
  for (int i = 0; i < N; i++) {
    const float *p = x + i * C * H * W;
    double m = 0;
    for (int k = 0; k < H * W; k++) m += 0.2989 * p[k] + 0.587 * p[H * W + k] + 0.114 * p[2 * H * W + k];
    m /= H * W;
    for (int k = 0; k < C * H * W; k++) {
      double want = f[i] * p[k] + (1 - f[i]) * m;
      want = want < 0 ? 0 : want > 1 ? 1 : want;
      if (fabs(y[i * C * H * W + k] - want) > 1e-5) bad++;
    }
  }
  LT_CHECK(bad == 0);
  /* Factor 0 gives the grey mean everywhere. */
  LT_CHECK(y[0] == y[C * H * W - 1]);
  /* One channel: the mean of the image itself. */
  float g[4] = {0.1f, 0.2f, 0.3f, 0.6f};
  float half = 0.5f;
  LT_CHECK(lt_transforms_adjust_contrast(g, 1, 1, 2, 2, &half) == LT_OK);
  LT_CHECK_CLOSE(g[0], 0.5 * 0.1 + 0.5 * 0.3, 1e-6);
  LT_CHECK_CLOSE(g[3], 0.5 * 0.6 + 0.5 * 0.3, 1e-6);
  CHECK_ERR(lt_transforms_adjust_contrast(y, 1, 2, H, W, f), "contrast needs 1 or 3 channels, got 2");
}

/* The fused pass against the four primitives composed, for every mode. */
static void test_fused(void) {
  enum { N = 64, C = 3, H = 32, W = 32, P = 4 };
  static const lt_pad_mode modes[4] = {LT_PAD_CONSTANT, LT_PAD_EDGE, LT_PAD_REFLECT, LT_PAD_SYMMETRIC};
  const float mean[C] = {0.4914f, 0.4822f, 0.4465f}, std[C] = {0.2471f, 0.2435f, 0.2616f};
  uint8_t *x = malloc(N * C * H * W), *crop = malloc(N * C * H * W), flip[N];
  float *y = malloc(sizeof(float) * N * C * H * W), *z = malloc(sizeof(float) * N * C * H * W);
  int64_t top[N], left[N];
  fill_u8(x, N * C * H * W);
  for (int i = 0; i < N; i++) {
    top[i] = rnd() % (2 * P + 1);
    left[i] = rnd() % (2 * P + 1);
    flip[i] = (uint8_t)(rnd() & 1);
  }
  top[0] = left[0] = 0;
  top[1] = left[1] = 2 * P;
  flip[0] = 1;
  flip[1] = 1;
  for (int m = 0; m < 4; m++) {
    for (int fill = 0; fill < 2; fill++) {
      uint8_t fv = fill ? 200 : 0;
      LT_CHECK(lt_transforms_crop_flip_normalize(x, y, N, C, H, W, H, W, top, left, P, modes[m], fv, flip, mean, std) ==
               LT_OK);
      LT_CHECK(lt_transforms_crop_pad(LT_UINT8, x, crop, N, C, H, W, H, W, top, left, P, modes[m], fv) == LT_OK);
      LT_CHECK(lt_transforms_hflip(LT_UINT8, crop, crop, N, C, H, W, flip) == LT_OK);
      LT_CHECK(lt_transforms_to_float(crop, z, N * C * H * W) == LT_OK);
      LT_CHECK(lt_transforms_normalize(z, N, C, H * W, mean, std) == LT_OK);
      LT_CHECK(memcmp(y, z, sizeof(float) * N * C * H * W) == 0);
    }
  }
  /* A crop smaller than the image, no flips (NULL mask), odd sizes. */
  {
    enum { H2 = 9, W2 = 11, OH = 6, OW = 7, P2 = 2 };
    int64_t t[3] = {0, 7, 3}, l[3] = {8, 0, 2};
    uint8_t noflip[3] = {0, 0, 0}, *c2 = malloc(3 * C * OH * OW);
    float *y2 = malloc(sizeof(float) * 3 * C * OH * OW), *z2 = malloc(sizeof(float) * 3 * C * OH * OW);
    LT_CHECK(lt_transforms_crop_flip_normalize(x, y2, 3, C, H2, W2, OH, OW, t, l, P2, LT_PAD_REFLECT, 0, NULL, mean,
                                               std) == LT_OK);
    LT_CHECK(lt_transforms_crop_pad(LT_UINT8, x, c2, 3, C, H2, W2, OH, OW, t, l, P2, LT_PAD_REFLECT, 0) == LT_OK);
    LT_CHECK(lt_transforms_hflip(LT_UINT8, c2, c2, 3, C, OH, OW, noflip) == LT_OK);
    LT_CHECK(lt_transforms_to_float_normalize(c2, z2, 3, C, OH * OW, mean, std) == LT_OK);
    LT_CHECK(memcmp(y2, z2, sizeof(float) * 3 * C * OH * OW) == 0);
    free(c2);
    free(y2);
    free(z2);
  }
  int64_t bad[1] = {2 * P + 1}, zero[1] = {0};
  CHECK_ERR(lt_transforms_crop_flip_normalize(x, y, 1, C, H, W, H, W, bad, zero, P, LT_PAD_CONSTANT, 0, flip, mean, std),
            "crop offset (9, 0) of sample 1 is outside 0..8 x 0..8");
  free(x);
  free(crop);
  free(y);
  free(z);
}

int main(void) {
  test_crop_pad();
  test_flips();
  test_resize_known();
  test_resize_random();
  test_resized_crop();
  test_float_normalize();
  test_erase_color();
  test_fused();
  return lt_test_done();
}
