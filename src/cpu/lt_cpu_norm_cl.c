/* lt_cpu_norm_cl.c — batch norm's passes over channels-last tensors (see
 * lt_cpu_norm_cl.h): statistics, normalisation (with the fused ReLU), and
 * the backward's sums and input gradient, row by row over all channels.
 *
 * float32 rows are read in place; 16-bit rows (bfloat16, float16) are
 * widened into a float row first and results rounded once on store, with
 * the fused ReLU's mask taken from the rounded forward value, as the NCHW
 * passes do (lt_cpu_norm.c); float64 computes in double throughout. */
#include "lt_cpu_norm_cl.h"

#include <string.h>

#include "lt_dtype_convert.h"

/* scratch of one thread: two double sums, two float sums, two float rows */
size_t lt_bn_cl_scratch_bytes(int64_t C) { return (size_t)C * (4 * sizeof(float) + 2 * sizeof(double)) + 64; }

typedef struct {
  float *f1, *f2, *row, *row2;
  double *d1, *d2;
} scratch_t;

static scratch_t carve(void *p, int64_t C) {
  scratch_t s;
  s.d1 = p;
  s.d2 = s.d1 + C;
  s.f1 = (float *)(s.d2 + C);
  s.f2 = s.f1 + C;
  s.row = s.f2 + C;
  s.row2 = s.row + C;
  return s;
}

static void widen_row(lt_dtype dt, const void *p, int64_t r, int64_t C, float *out) {
  const uint16_t *h = (const uint16_t *)p + r * C;
  if (dt == LT_BFLOAT16) for (int64_t c = 0; c < C; c++) out[c] = lt_cvt_bf16_f32(h[c]);
  else for (int64_t c = 0; c < C; c++) out[c] = lt_cvt_f16_f32(h[c]);
}

static uint16_t narrow1(lt_dtype dt, float v) { return dt == LT_BFLOAT16 ? lt_cvt_f32_bf16(v) : lt_cvt_f32_f16(v); }
static float widen1(lt_dtype dt, uint16_t h) { return dt == LT_BFLOAT16 ? lt_cvt_bf16_f32(h) : lt_cvt_f16_f32(h); }

/* row r as floats: in place for float32, widened into buf otherwise */
static const float *float_row(lt_dtype dt, const void *p, int64_t r, int64_t C, float *buf) {
  if (dt == LT_FLOAT32) return (const float *)p + r * C;
  widen_row(dt, p, r, C, buf);
  return buf;
}

static void flush(scratch_t *s, int64_t C, bool two) {
  for (int64_t c = 0; c < C; c++) s->d1[c] += s->f1[c], s->f1[c] = 0;
  if (two)
    for (int64_t c = 0; c < C; c++) s->d2[c] += s->f2[c], s->f2[c] = 0;
}

static void begin(scratch_t *s, int64_t C) {
  memset(s->d1, 0, (size_t)C * 2 * sizeof(double));
  memset(s->f1, 0, (size_t)C * 2 * sizeof(float));
}

static void finish(scratch_t *s, int64_t C, bool two, double *s1, double *s2) {
  flush(s, C, two);
  memcpy(s1, s->d1, (size_t)C * sizeof(double));
  if (two) memcpy(s2, s->d2, (size_t)C * sizeof(double));
}

void lt_bn_cl_stats(lt_dtype dt, const void *x, int64_t C, int64_t r0, int64_t r1, const lt_bn_cl_coef *k,
                    bool with_shift, double *s1, double *s2, void *scratch) {
  scratch_t s = carve(scratch, C);
  begin(&s, C);
  bool two = s2 != NULL;
  if (dt == LT_FLOAT64) {
    for (int64_t r = r0; r < r1; r++) {
      const double *restrict xr = (const double *)x + r * C;
      double *restrict a = s.d1, *restrict q = s.d2;
      if (!with_shift) for (int64_t c = 0; c < C; c++) a[c] += xr[c];
      else if (!two) for (int64_t c = 0; c < C; c++) a[c] += xr[c] - k->shiftd[c];
      else
        for (int64_t c = 0; c < C; c++) {
          double d = xr[c] - k->shiftd[c];
          a[c] += d;
          q[c] += d * d;
        }
    }
    memcpy(s1, s.d1, (size_t)C * sizeof(double));
    if (two) memcpy(s2, s.d2, (size_t)C * sizeof(double));
    return;
  }
  int64_t pend = 0;
  for (int64_t r = r0; r < r1; r++) {
    const float *restrict xr = float_row(dt, x, r, C, s.row);
    float *restrict a = s.f1, *restrict q = s.f2;
    if (!with_shift) for (int64_t c = 0; c < C; c++) a[c] += xr[c];
    else if (!two) for (int64_t c = 0; c < C; c++) a[c] += xr[c] - k->shift[c];
    else
      for (int64_t c = 0; c < C; c++) {
        float d = xr[c] - k->shift[c];
        a[c] += d;
        q[c] += d * d;
      }
    if (++pend == LT_BN_CL_CHUNK) {
      flush(&s, C, two);
      pend = 0;
    }
  }
  finish(&s, C, two, s1, s2);
}

void lt_bn_cl_normalise(lt_dtype dt, const void *x, void *y, int64_t C, int64_t r0, int64_t r1,
                        const lt_bn_cl_coef *k, bool relu, void *scratch) {
  scratch_t s = carve(scratch, C);
  for (int64_t r = r0; r < r1; r++) {
    if (dt == LT_FLOAT64) {
      const double *restrict xr = (const double *)x + r * C;
      double *restrict yr = (double *)y + r * C;
      for (int64_t c = 0; c < C; c++) {
        double v = xr[c] * k->rad[c] + k->rbd[c];
        yr[c] = relu && v <= 0 ? 0.0 : v;
      }
      continue;
    }
    const float *restrict xr = float_row(dt, x, r, C, s.row);
    const float *restrict a = k->ra, *restrict b = k->rb;
    if (dt == LT_FLOAT32) {
      float *restrict yr = (float *)y + r * C;
      if (relu)
        for (int64_t c = 0; c < C; c++) {
          float v = xr[c] * a[c] + b[c];
          yr[c] = v <= 0 ? 0.0f : v;
        }
      else
        for (int64_t c = 0; c < C; c++) yr[c] = xr[c] * a[c] + b[c];
      continue;
    }
    uint16_t *h = (uint16_t *)y + r * C;
    for (int64_t c = 0; c < C; c++) {
      /* the ReLU of the rounded value, as a separate ReLU would see it */
      uint16_t v = narrow1(dt, xr[c] * a[c] + b[c]);
      h[c] = relu && widen1(dt, v) <= 0 ? 0 : v;
    }
  }
}

/* g masked (in place) where the forward's output is 0: for 16-bit data the
 * rounded forward value decides */
static void mask_row(lt_dtype dt, float *restrict g, const float *restrict x, int64_t C, const lt_bn_cl_coef *k) {
  if (dt == LT_FLOAT32) {
    for (int64_t c = 0; c < C; c++) g[c] = x[c] * k->ra[c] + k->rb[c] <= 0 ? 0.0f : g[c];
  } else {
    for (int64_t c = 0; c < C; c++)
      if (widen1(dt, narrow1(dt, x[c] * k->ra[c] + k->rb[c])) <= 0) g[c] = 0;
  }
}

/* gy row r as floats, masked when relu: a copy into s->row2 unless plain float32 */
static const float *grad_row(lt_dtype dt, const void *gy, const float *xr, int64_t r, int64_t C,
                             const lt_bn_cl_coef *k, bool relu, scratch_t *s) {
  if (dt == LT_FLOAT32 && !relu) return (const float *)gy + r * C;
  if (dt == LT_FLOAT32) memcpy(s->row2, (const float *)gy + r * C, (size_t)C * sizeof(float));
  else widen_row(dt, gy, r, C, s->row2);
  if (relu) mask_row(dt, s->row2, xr, C, k);
  return s->row2;
}

void lt_bn_cl_grad_sums(lt_dtype dt, const void *gy, const void *x, int64_t C, int64_t r0, int64_t r1,
                        const lt_bn_cl_coef *k, bool relu, double *s1, double *s2, void *scratch) {
  scratch_t s = carve(scratch, C);
  begin(&s, C);
  if (dt == LT_FLOAT64) {
    for (int64_t r = r0; r < r1; r++) {
      const double *restrict xr = (const double *)x + r * C, *restrict gr = (const double *)gy + r * C;
      for (int64_t c = 0; c < C; c++) {
        double gv = relu && xr[c] * k->rad[c] + k->rbd[c] <= 0 ? 0.0 : gr[c];
        s.d1[c] += gv;
        s.d2[c] += gv * (xr[c] - k->shiftd[c]);
      }
    }
    memcpy(s1, s.d1, (size_t)C * sizeof(double));
    memcpy(s2, s.d2, (size_t)C * sizeof(double));
    return;
  }
  int64_t pend = 0;
  for (int64_t r = r0; r < r1; r++) {
    const float *restrict xr = float_row(dt, x, r, C, s.row);
    const float *restrict gr = grad_row(dt, gy, xr, r, C, k, relu, &s);
    float *restrict a = s.f1, *restrict q = s.f2;
    for (int64_t c = 0; c < C; c++) {
      a[c] += gr[c];
      q[c] += gr[c] * (xr[c] - k->shift[c]);
    }
    if (++pend == LT_BN_CL_CHUNK) {
      flush(&s, C, true);
      pend = 0;
    }
  }
  finish(&s, C, true, s1, s2);
}

void lt_bn_cl_grad_input(lt_dtype dt, void *gx, const void *gy, const void *x, int64_t C, int64_t r0, int64_t r1,
                         const lt_bn_cl_coef *k, bool relu, bool training, void *scratch) {
  scratch_t s = carve(scratch, C);
  for (int64_t r = r0; r < r1; r++) {
    if (dt == LT_FLOAT64) {
      const double *restrict xr = (const double *)x + r * C, *restrict gr = (const double *)gy + r * C;
      double *restrict out = (double *)gx + r * C;
      for (int64_t c = 0; c < C; c++) {
        double gv = relu && xr[c] * k->rad[c] + k->rbd[c] <= 0 ? 0.0 : gr[c];
        out[c] = training ? k->ad[c] * (gv - k->k1d[c] - (xr[c] - k->shiftd[c]) * k->k2d[c]) : k->ad[c] * gv;
      }
      continue;
    }
    const float *restrict xr = float_row(dt, x, r, C, s.row);
    const float *restrict gr = grad_row(dt, gy, xr, r, C, k, relu, &s);
    /* 16-bit: the result goes through a float row (s.row's values are no
     * longer needed once gr is masked, so the f1 sums' space holds it) */
    float *restrict out = dt == LT_FLOAT32 ? (float *)gx + r * C : s.f1;
    if (training)
      for (int64_t c = 0; c < C; c++) out[c] = k->A[c] * gr[c] + k->K[c] * (xr[c] - k->shift[c]) + k->B[c];
    else
      for (int64_t c = 0; c < C; c++) out[c] = k->A[c] * gr[c];
    if (dt != LT_FLOAT32) {
      uint16_t *h = (uint16_t *)gx + r * C;
      for (int64_t c = 0; c < C; c++) h[c] = narrow1(dt, out[c]);
    }
  }
}
