/* lt_transform_step.c — the built-in transform steps of lt_transform_step.h:
 * their checks, geometry, draws and CPU runs over the kernels of
 * lt_transforms_cpu.h. */
#include "lt_transform_step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lt_transforms_cpu.h"

const char *const lt_tf_kind_names[] = {"crop", "center_crop", "hflip", "vflip", "to_float", "normalize", "resize",
                                        "resized_crop", "erase", "cutout", "jitter", NULL};

size_t lt_tf_geom_bytes(lt_tf_geom g) { return (size_t)(g.c * g.h * g.w) * lt_dtype_size(g.dt); }

/* ---- checks ------------------------------------------------------------------ */

lt_status lt_tf_step_check(const lt_tf_step *s) {
  if (s->kind == LT_TF_NORMALIZE)
    for (int k = 0; k < s->nvals; k++)
      if (!(s->std[k] != 0))
        return lt_error_set(LT_ERR_ARG, 1, "std entry %d is zero, which would divide by zero", k + 1);
  bool sized = s->kind == LT_TF_CROP || s->kind == LT_TF_CENTER_CROP || s->kind == LT_TF_RESIZED_CROP ||
               s->kind == LT_TF_RESIZE;
  if (sized && (s->oh < 1 || s->ow < 0 || (s->kind != LT_TF_RESIZE && s->ow < 1)))
    return lt_error_set(LT_ERR_ARG, 1, "size must be positive, got %lldx%lld", (long long)s->oh, (long long)s->ow);
  if (s->oh > (1 << 20) || s->ow > (1 << 20) || s->pad > (1 << 20) || s->size > (1 << 20))
    return lt_error_set(LT_ERR_ARG, 1, "sizes must be at most 2^20");
  if (s->pad < 0) return lt_error_set(LT_ERR_ARG, 1, "padding must be >= 0, got %lld", (long long)s->pad);
  if (!(s->p >= 0 && s->p <= 1)) return lt_error_set(LT_ERR_ARG, 1, "p must be in [0, 1], got %g", s->p);
  if (s->kind == LT_TF_CUTOUT && s->size < 1) return lt_error_set(LT_ERR_ARG, 1, "cutout size must be >= 1");
  if (s->kind == LT_TF_RESIZED_CROP || s->kind == LT_TF_ERASE) {
    if (!(s->scale[0] > 0 && s->scale[0] <= s->scale[1] && s->scale[1] <= (s->kind == LT_TF_ERASE ? 1 : 1e9)))
      return lt_error_set(LT_ERR_ARG, 1, "scale must be (lo, hi) with 0 < lo <= hi, got (%g, %g)", s->scale[0],
                          s->scale[1]);
    if (!(s->ratio[0] > 0 && s->ratio[0] <= s->ratio[1]))
      return lt_error_set(LT_ERR_ARG, 1, "ratio must be (lo, hi) with 0 < lo <= hi, got (%g, %g)", s->ratio[0],
                          s->ratio[1]);
  }
  if (s->has_b && !(s->b[0] >= 0 && s->b[0] <= s->b[1]))
    return lt_error_set(LT_ERR_ARG, 1, "brightness range must be (lo, hi) with 0 <= lo <= hi");
  if (s->has_c && !(s->cr[0] >= 0 && s->cr[0] <= s->cr[1]))
    return lt_error_set(LT_ERR_ARG, 1, "contrast range must be (lo, hi) with 0 <= lo <= hi");
  return LT_OK;
}

bool lt_tf_step_is_random(const lt_tf_step *s) {
  return s->kind == LT_TF_CROP || s->kind == LT_TF_HFLIP || s->kind == LT_TF_VFLIP || s->kind == LT_TF_RESIZED_CROP ||
         s->kind == LT_TF_ERASE || s->kind == LT_TF_CUTOUT || s->kind == LT_TF_JITTER;
}

bool lt_tf_step_in_place(const lt_tf_step *s, lt_tf_geom in) {
  switch (s->kind) {
    case LT_TF_HFLIP: case LT_TF_VFLIP: case LT_TF_NORMALIZE: case LT_TF_ERASE: case LT_TF_CUTOUT: case LT_TF_JITTER:
      return true;
    case LT_TF_TO_FLOAT: return in.dt == LT_FLOAT32;
    default: return false;
  }
}

static lt_status need_dtype(lt_tf_geom in, bool allow_u8, const char *hint) {
  if (in.dt == LT_FLOAT32 || (allow_u8 && in.dt == LT_UINT8)) return LT_OK;
  return lt_error_set(LT_ERR_ARG, 1, "expected a %s batch, got %s%s", allow_u8 ? "uint8 or float32" : "float32",
                      lt_dtype_name(in.dt), hint ? hint : "");
}

lt_status lt_tf_step_geom(const lt_tf_step *s, lt_tf_geom in, lt_tf_geom *out) {
  *out = in;
  switch (s->kind) {
    case LT_TF_CROP: {
      LT_TRY(need_dtype(in, true, NULL));
      int64_t ph = in.h + 2 * s->pad, pw = in.w + 2 * s->pad;
      if (s->oh > ph || s->ow > pw)
        return lt_error_set(LT_ERR_ARG, 1, "crop size %lldx%lld is larger than the %simage %lldx%lld", (long long)s->oh,
                            (long long)s->ow, s->pad ? "padded " : "", (long long)ph, (long long)pw);
      if (s->mode == LT_PAD_REFLECT && s->pad > 0 && (s->pad >= in.h || s->pad >= in.w))
        return lt_error_set(LT_ERR_ARG, 1, "reflect padding %lld must be smaller than the image size %lldx%lld",
                            (long long)s->pad, (long long)in.h, (long long)in.w);
      if (s->mode == LT_PAD_SYMMETRIC && (s->pad > in.h || s->pad > in.w))
        return lt_error_set(LT_ERR_ARG, 1, "symmetric padding %lld must not exceed the image size %lldx%lld",
                            (long long)s->pad, (long long)in.h, (long long)in.w);
      if (in.dt == LT_UINT8 && s->mode == LT_PAD_CONSTANT && !(s->fill >= 0 && s->fill <= 255 && s->fill == floor(s->fill)))
        return lt_error_set(LT_ERR_ARG, 1, "fill %g for a uint8 batch must be an integer in 0..255", s->fill);
      out->h = s->oh;
      out->w = s->ow;
      return LT_OK;
    }
    case LT_TF_CENTER_CROP:
      LT_TRY(need_dtype(in, true, NULL));
      if (s->oh > in.h || s->ow > in.w)
        return lt_error_set(LT_ERR_ARG, 1, "crop size %lldx%lld is larger than the image %lldx%lld", (long long)s->oh,
                            (long long)s->ow, (long long)in.h, (long long)in.w);
      out->h = s->oh;
      out->w = s->ow;
      return LT_OK;
    case LT_TF_HFLIP: case LT_TF_VFLIP:
      return need_dtype(in, true, NULL);
    case LT_TF_TO_FLOAT:
      LT_TRY(need_dtype(in, true, NULL));
      out->dt = LT_FLOAT32;
      return LT_OK;
    case LT_TF_NORMALIZE:
      LT_TRY(need_dtype(in, false, in.dt == LT_UINT8 ? " (put ToFloat before Normalize)" : NULL));
      if (s->nvals != 1 && s->nvals != in.c)
        return lt_error_set(LT_ERR_ARG, 1, "mean and std have %d entries but the batch has %lld channels", s->nvals,
                            (long long)in.c);
      return LT_OK;
    case LT_TF_RESIZE:
      LT_TRY(need_dtype(in, true, NULL));
      if (s->ow > 0) {
        out->h = s->oh;
        out->w = s->ow;
      } else {
        /* torchvision: the shorter edge becomes size, the longer keeps the
         * aspect ratio, truncated. */
        int64_t sh = in.w <= in.h ? in.w : in.h, lg = in.w <= in.h ? in.h : in.w;
        int64_t nl = (int64_t)((double)s->oh * (double)lg / (double)sh);
        if (nl < 1) nl = 1;
        if (in.w <= in.h) { out->w = s->oh; out->h = nl; }
        else { out->h = s->oh; out->w = nl; }
      }
      return LT_OK;
    case LT_TF_RESIZED_CROP:
      LT_TRY(need_dtype(in, true, NULL));
      out->h = s->oh;
      out->w = s->ow;
      return LT_OK;
    case LT_TF_ERASE: case LT_TF_CUTOUT:
      LT_TRY(need_dtype(in, false, in.dt == LT_UINT8 ? " (put ToFloat before it)" : NULL));
      if (s->nvals > 1 && s->nvals != in.c)
        return lt_error_set(LT_ERR_ARG, 1, "value has %d entries but the batch has %lld channels", s->nvals,
                            (long long)in.c);
      return LT_OK;
    case LT_TF_JITTER:
      LT_TRY(need_dtype(in, false, in.dt == LT_UINT8 ? " in [0, 1] (put ToFloat before it)" : NULL));
      if (s->has_c && in.c != 1 && in.c != 3)
        return lt_error_set(LT_ERR_ARG, 1, "contrast needs 1 or 3 channels, the batch has %lld", (long long)in.c);
      return LT_OK;
  }
  return lt_error_set(LT_ERR_ARG, 1, "unknown transform kind %d", (int)s->kind);
}

/* ---- the draws ------------------------------------------------------------------ */

void lt_tf_draw_crop(const lt_tf_step *s, lt_data_gen *g, int64_t n, lt_tf_geom in, int64_t *top, int64_t *left) {
  uint64_t nt = (uint64_t)(in.h + 2 * s->pad - s->oh + 1), nl = (uint64_t)(in.w + 2 * s->pad - s->ow + 1);
  for (int64_t i = 0; i < n; i++) {
    top[i] = lt_data_gen_below(g, nt);
    left[i] = lt_data_gen_below(g, nl);
  }
}

void lt_tf_draw_mask(double p, lt_data_gen *g, int64_t n, uint8_t *mask) {
  for (int64_t i = 0; i < n; i++) mask[i] = lt_data_gen_uniform(g) < p;
}

/* Python's round(): to nearest, ties to even (the default FP rounding). */
static int64_t pyround(double v) { return (int64_t)nearbyint(v); }

/* RandomResizedCrop: torchvision's get_params, per sample: up to 10 tries of
 * a scale and a log-uniform aspect ratio, then the central fallback. box =
 * (top, left, height, width). */
static void draw_resized_crop(const lt_tf_step *s, lt_data_gen *g, int64_t h, int64_t w, int64_t *box) {
  double area = (double)h * (double)w, lr0 = log(s->ratio[0]), lr1 = log(s->ratio[1]);
  for (int attempt = 0; attempt < 10; attempt++) {
    double target = area * lt_data_gen_range(g, s->scale[0], s->scale[1]);
    double aspect = exp(lt_data_gen_range(g, lr0, lr1));
    int64_t cw = pyround(sqrt(target * aspect)), ch = pyround(sqrt(target / aspect));
    if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
      box[0] = lt_data_gen_below(g, (uint64_t)(h - ch + 1));
      box[1] = lt_data_gen_below(g, (uint64_t)(w - cw + 1));
      box[2] = ch;
      box[3] = cw;
      return;
    }
  }
  double in_ratio = (double)w / (double)h;
  double rmin = s->ratio[0] < s->ratio[1] ? s->ratio[0] : s->ratio[1];
  double rmax = s->ratio[0] < s->ratio[1] ? s->ratio[1] : s->ratio[0];
  int64_t cw = w, ch = h;
  if (in_ratio < rmin) ch = pyround((double)cw / rmin);
  else if (in_ratio > rmax) cw = pyround((double)ch * rmax);
  if (ch < 1) ch = 1;
  if (cw < 1) cw = 1;
  if (ch > h) ch = h;
  if (cw > w) cw = w;
  box[0] = (h - ch) / 2;
  box[1] = (w - cw) / 2;
  box[2] = ch;
  box[3] = cw;
}

/* RandomErasing: torchvision's algorithm per sample: erase with probability
 * p (one uniform draw, always made), then up to 10 tries of an area fraction
 * and a log-uniform aspect ratio that fit strictly inside the image; no box
 * (0 x 0) when none fits. */
static void draw_erase(const lt_tf_step *s, lt_data_gen *g, int64_t h, int64_t w, int64_t *box) {
  box[0] = box[1] = box[2] = box[3] = 0;
  if (!(lt_data_gen_uniform(g) < s->p)) return;
  double area = (double)h * (double)w, lr0 = log(s->ratio[0]), lr1 = log(s->ratio[1]);
  for (int attempt = 0; attempt < 10; attempt++) {
    double ea = area * lt_data_gen_range(g, s->scale[0], s->scale[1]);
    double aspect = exp(lt_data_gen_range(g, lr0, lr1));
    int64_t eh = pyround(sqrt(ea * aspect)), ew = pyround(sqrt(ea / aspect));
    if (!(eh < h && ew < w)) continue;
    box[0] = lt_data_gen_below(g, (uint64_t)(h - eh + 1));
    box[1] = lt_data_gen_below(g, (uint64_t)(w - ew + 1));
    box[2] = eh;
    box[3] = ew;
    return;
  }
}

/* Cutout: with probability p (one uniform draw, always made), a size x size
 * square centred on a uniform pixel (row, then column), clipped to the
 * image. */
static void draw_cutout(const lt_tf_step *s, lt_data_gen *g, int64_t h, int64_t w, int64_t *box) {
  box[0] = box[1] = box[2] = box[3] = 0;
  if (!(lt_data_gen_uniform(g) < s->p)) return;
  int64_t cy = lt_data_gen_below(g, (uint64_t)h), cx = lt_data_gen_below(g, (uint64_t)w);
  int64_t y0 = cy - s->size / 2, x0 = cx - s->size / 2, y1 = y0 + s->size, x1 = x0 + s->size;
  y0 = y0 < 0 ? 0 : y0;
  x0 = x0 < 0 ? 0 : x0;
  y1 = y1 > h ? h : y1;
  x1 = x1 > w ? w : x1;
  if (y1 <= y0 || x1 <= x0) return;
  box[0] = y0;
  box[1] = x0;
  box[2] = y1 - y0;
  box[3] = x1 - x0;
}

/* ---- running a step ---------------------------------------------------------------- */

void lt_tf_channel_values(const lt_tf_step *s, int64_t c, const float *src, float *dst) {
  for (int64_t k = 0; k < c; k++) dst[k] = s->nvals == 1 ? src[0] : src[k];
}

lt_status lt_tf_step_run(const lt_tf_step *s, lt_data_gen *g, lt_tf_geom in, int64_t n, const void *x, void *y) {
  lt_tf_geom out;
  LT_TRY(lt_tf_step_geom(s, in, &out));
  if (n == 0) return LT_OK;
  if (lt_tf_step_in_place(s, in) && x != y) memcpy(y, x, lt_tf_geom_bytes(in) * (size_t)n);
  /* per-sample parameters: 4 int64 and 2 floats and a byte per sample */
  void *mem = NULL;
  if (lt_tf_step_is_random(s) || s->kind == LT_TF_CENTER_CROP) {
    mem = malloc((size_t)n * (4 * sizeof(int64_t) + 2 * sizeof(float) + 1));
    if (!mem) return lt_error_set(LT_ERR_OOM, 0, "out of memory for the parameters of %lld samples", (long long)n);
  }
  int64_t *p64 = mem;
  float *pf = mem ? (float *)(p64 + 4 * n) : NULL;
  uint8_t *pm = mem ? (uint8_t *)(pf + 2 * n) : NULL;
  lt_status st = LT_OK;
  float vals[LT_TF_MAXC], ones[LT_TF_MAXC];
  int64_t hw = in.h * in.w;
  switch (s->kind) {
    case LT_TF_CROP:
      lt_tf_draw_crop(s, g, n, in, p64, p64 + n);
      st = lt_transforms_crop_pad(in.dt, x, y, n, in.c, in.h, in.w, s->oh, s->ow, p64, p64 + n, s->pad, s->mode, s->fill);
      break;
    case LT_TF_CENTER_CROP:
      for (int64_t i = 0; i < n; i++) {
        p64[i] = pyround((double)(in.h - s->oh) / 2.0);
        p64[n + i] = pyround((double)(in.w - s->ow) / 2.0);
      }
      st = lt_transforms_crop_pad(in.dt, x, y, n, in.c, in.h, in.w, s->oh, s->ow, p64, p64 + n, 0, LT_PAD_CONSTANT, 0);
      break;
    case LT_TF_HFLIP: case LT_TF_VFLIP:
      lt_tf_draw_mask(s->p, g, n, pm);
      st = s->kind == LT_TF_HFLIP ? lt_transforms_hflip(in.dt, y, y, n, in.c, in.h, in.w, pm)
                                  : lt_transforms_vflip(in.dt, y, y, n, in.c, in.h, in.w, pm);
      break;
    case LT_TF_TO_FLOAT:
      if (in.dt == LT_UINT8) st = lt_transforms_to_float(x, y, n * in.c * hw);
      break;
    case LT_TF_NORMALIZE:
      lt_tf_channel_values(s, in.c, s->mean, vals);
      lt_tf_channel_values(s, in.c, s->std, ones);
      st = lt_transforms_normalize(y, n, in.c, hw, vals, ones);
      break;
    case LT_TF_RESIZE:
      st = lt_transforms_resize(in.dt, x, y, n, in.c, in.h, in.w, out.h, out.w);
      break;
    case LT_TF_RESIZED_CROP:
      for (int64_t i = 0; i < n; i++) draw_resized_crop(s, g, in.h, in.w, p64 + 4 * i);
      st = lt_transforms_resized_crop(in.dt, x, y, n, in.c, in.h, in.w, p64, s->oh, s->ow);
      break;
    case LT_TF_ERASE: case LT_TF_CUTOUT:
      for (int64_t i = 0; i < n; i++) {
        if (s->kind == LT_TF_ERASE) draw_erase(s, g, in.h, in.w, p64 + 4 * i);
        else draw_cutout(s, g, in.h, in.w, p64 + 4 * i);
      }
      if (s->nvals) lt_tf_channel_values(s, in.c, s->mean, vals);
      st = lt_transforms_erase(y, n, in.c, in.h, in.w, p64, s->nvals ? vals : NULL);
      break;
    case LT_TF_JITTER: {
      /* per sample: the order (when both apply), then the brightness and
       * the contrast factor; factor 1 leaves an image in [0,1] unchanged,
       * so a per-sample order is three batched passes. */
      float *fb = pf, *fc = pf + n;
      for (int64_t i = 0; i < n; i++) {
        pm[i] = s->has_b && s->has_c ? lt_data_gen_uniform(g) < 0.5 : 1;
        fb[i] = s->has_b ? (float)lt_data_gen_range(g, s->b[0], s->b[1]) : 1.0f;
        fc[i] = s->has_c ? (float)lt_data_gen_range(g, s->cr[0], s->cr[1]) : 1.0f;
      }
      if (s->has_b && s->has_c) {
        float *first = (float *)(p64), *last = (float *)(p64 + n); /* 2n floats each fit in n int64 */
        for (int64_t i = 0; i < n; i++) {
          first[i] = pm[i] ? fb[i] : 1.0f;
          last[i] = pm[i] ? 1.0f : fb[i];
        }
        st = lt_transforms_adjust_brightness(y, n, in.c, in.h, in.w, first);
        if (st == LT_OK) st = lt_transforms_adjust_contrast(y, n, in.c, in.h, in.w, fc);
        if (st == LT_OK) st = lt_transforms_adjust_brightness(y, n, in.c, in.h, in.w, last);
      } else if (s->has_b) {
        st = lt_transforms_adjust_brightness(y, n, in.c, in.h, in.w, fb);
      } else if (s->has_c) {
        st = lt_transforms_adjust_contrast(y, n, in.c, in.h, in.w, fc);
      }
      break;
    }
  }
  free(mem);
  return st;
}
