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
#define WIDE 16 /* float lanes of a widened row (below) */

size_t lt_bn_cl_scratch_bytes(int64_t C) {
  int64_t n = C < WIDE ? WIDE : C;
  return (size_t)n * (4 * sizeof(float) + 2 * sizeof(double)) + 64;
}

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

__attribute__((noinline, noclone)) static void stats_rows(lt_dtype dt, const void *x, int64_t C, int64_t r0, int64_t r1, const lt_bn_cl_coef *k,
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

__attribute__((noinline, noclone)) static void normalise_rows(lt_dtype dt, const void *x, void *y, int64_t C, int64_t r0, int64_t r1,
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
static inline void mask_row(lt_dtype dt, float *restrict g, const float *restrict x, int64_t C, const lt_bn_cl_coef *k) {
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

__attribute__((noinline, noclone)) static void grad_sums_rows(lt_dtype dt, const void *gy, const void *x, int64_t C, int64_t r0, int64_t r1,
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

__attribute__((noinline, noclone)) static void grad_input_rows(lt_dtype dt, void *gx, const void *gy, const void *x, int64_t C, int64_t r0, int64_t r1,
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

/* --- narrow rows ------------------------------------------------------------------------------ */

/* With 16 channels or fewer, a row is too short for the generic loops.
 * When C divides 16, 16/C consecutive rows are taken as one row of 16 lanes,
 * lane j holding channel j % C (the block starts at a row, so the mapping
 * holds): the per-channel vectors are repeated across the lanes, and sums
 * are folded back onto the channels. float32 runs such rows through the
 * register-held kernels above; rows left over at the end of a block run as
 * they are. */
typedef struct {
  float f[6][WIDE];
  double d[6][WIDE];
  lt_bn_cl_coef k;
} wide_coef;

static bool widened(int64_t C) { return C <= WIDE && WIDE % C == 0; }

static const float *rep_f(const float *v, int64_t C, float *out) {
  if (!v) return NULL;
  for (int j = 0; j < WIDE; j++) out[j] = v[j % C];
  return out;
}

static const double *rep_d(const double *v, int64_t C, double *out) {
  if (!v) return NULL;
  for (int j = 0; j < WIDE; j++) out[j] = v[j % C];
  return out;
}

static void widen_coef(const lt_bn_cl_coef *k, int64_t C, wide_coef *w) {
  w->k.shift = rep_f(k->shift, C, w->f[0]);
  w->k.ra = rep_f(k->ra, C, w->f[1]);
  w->k.rb = rep_f(k->rb, C, w->f[2]);
  w->k.A = rep_f(k->A, C, w->f[3]);
  w->k.K = rep_f(k->K, C, w->f[4]);
  w->k.B = rep_f(k->B, C, w->f[5]);
  w->k.shiftd = rep_d(k->shiftd, C, w->d[0]);
  w->k.rad = rep_d(k->rad, C, w->d[1]);
  w->k.rbd = rep_d(k->rbd, C, w->d[2]);
  w->k.ad = rep_d(k->ad, C, w->d[3]);
  w->k.k1d = rep_d(k->k1d, C, w->d[4]);
  w->k.k2d = rep_d(k->k2d, C, w->d[5]);
}

/* the element at row r of a [M, C] matrix of dtype dt */
static const void *at(lt_dtype dt, const void *p, int64_t r, int64_t C) {
  return (const char *)p + (size_t)(r * C) * lt_dtype_size(dt);
}

/* s[c] += the lanes of w that hold channel c */
static void fold(const double *w, int64_t C, double *s) {
  for (int j = 0; j < WIDE; j++) s[j % C] += w[j];
}

typedef struct {
  int64_t wide_rows, tail0; /* rows of 16 lanes from r0; the first row left over */
} split;

static split split_rows(int64_t C, int64_t r0, int64_t r1) {
  split sp;
  int64_t rep = WIDE / C;
  sp.wide_rows = (r1 - r0) / rep;
  sp.tail0 = r0 + sp.wide_rows * rep;
  return sp;
}

/* float32 rows of 16 lanes: four 4-float vectors held in registers across
 * the rows (GCC's and Clang's vector extension), for the sums as well */
typedef float v4 __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

static inline v4 ld4(const float *p) {
  v4 v;
  memcpy(&v, p, sizeof v);
  return v;
}
static inline void st4(float *p, v4 v) { memcpy(p, &v, sizeof v); }
static inline void ld16(const float *p, v4 *v) {
  for (int j = 0; j < 4; j++) v[j] = p ? ld4(p + 4 * j) : (v4){0, 0, 0, 0};
}
/* v where v > 0 or NaN, else +0 (ReLU's rule, as a select) */
static inline v4 relu4(v4 v) { return (v4)((v4i)v & ~(v4i)(v <= 0)); }
/* g where the forward's x*ra + rb is kept by the ReLU, else +0 */
static inline v4 mask4(v4 g, v4 x, v4 ra, v4 rb) { return (v4)((v4i)g & ~(v4i)(x * ra + rb <= 0)); }

static void add_lanes(const v4 *v, double *d) {
  float f[WIDE];
  memcpy(f, v, sizeof f);
  for (int j = 0; j < WIDE; j++) d[j] += f[j];
}

/* s1 += x - shift, s2 += (x - shift)^2 (s2 NULL: not needed) */
static void wide_stats(const float *x, int64_t rows, const float *shift, double *s1, double *s2) {
  v4 sh[4], a[4] = {0}, q[4] = {0};
  ld16(shift, sh);
  memset(s1, 0, WIDE * sizeof(double));
  if (s2) memset(s2, 0, WIDE * sizeof(double));
  for (int64_t r0 = 0; r0 < rows; r0 += LT_BN_CL_CHUNK) {
    int64_t r1 = r0 + LT_BN_CL_CHUNK < rows ? r0 + LT_BN_CL_CHUNK : rows;
    for (int64_t r = r0; r < r1; r++)
      for (int j = 0; j < 4; j++) {
        v4 d = ld4(x + r * WIDE + 4 * j) - sh[j];
        a[j] += d;
        q[j] += d * d;
      }
    add_lanes(a, s1);
    if (s2) add_lanes(q, s2);
    memset(a, 0, sizeof a);
    memset(q, 0, sizeof q);
  }
}

static void wide_normalise(const float *x, float *y, int64_t rows, const float *ra, const float *rb, bool relu) {
  v4 a[4], b[4];
  ld16(ra, a);
  ld16(rb, b);
  for (int64_t r = 0; r < rows; r++)
    for (int j = 0; j < 4; j++) {
      v4 v = ld4(x + r * WIDE + 4 * j) * a[j] + b[j];
      st4(y + r * WIDE + 4 * j, relu ? relu4(v) : v);
    }
}

static void wide_grad_sums(const float *gy, const float *x, int64_t rows, const lt_bn_cl_coef *k, bool relu,
                           double *s1, double *s2) {
  v4 sh[4], ra[4], rb[4], a[4] = {0}, q[4] = {0};
  ld16(k->shift, sh);
  ld16(k->ra, ra);
  ld16(k->rb, rb);
  memset(s1, 0, WIDE * sizeof(double));
  memset(s2, 0, WIDE * sizeof(double));
  for (int64_t r0 = 0; r0 < rows; r0 += LT_BN_CL_CHUNK) {
    int64_t r1 = r0 + LT_BN_CL_CHUNK < rows ? r0 + LT_BN_CL_CHUNK : rows;
    for (int64_t r = r0; r < r1; r++)
      for (int j = 0; j < 4; j++) {
        v4 xv = ld4(x + r * WIDE + 4 * j), g = ld4(gy + r * WIDE + 4 * j);
        if (relu) g = mask4(g, xv, ra[j], rb[j]);
        a[j] += g;
        q[j] += g * (xv - sh[j]);
      }
    add_lanes(a, s1);
    add_lanes(q, s2);
    memset(a, 0, sizeof a);
    memset(q, 0, sizeof q);
  }
}

static void wide_grad_input(float *gx, const float *gy, const float *x, int64_t rows, const lt_bn_cl_coef *k,
                            bool relu, bool training) {
  v4 sh[4], ra[4], rb[4], A[4], K[4], B[4];
  ld16(k->shift, sh);
  ld16(k->ra, ra);
  ld16(k->rb, rb);
  ld16(k->A, A);
  ld16(k->K, K);
  ld16(k->B, B);
  for (int64_t r = 0; r < rows; r++)
    for (int j = 0; j < 4; j++) {
      v4 xv = ld4(x + r * WIDE + 4 * j), g = ld4(gy + r * WIDE + 4 * j);
      if (relu) g = mask4(g, xv, ra[j], rb[j]);
      st4(gx + r * WIDE + 4 * j, training ? A[j] * g + K[j] * (xv - sh[j]) + B[j] : A[j] * g);
    }
}

void lt_bn_cl_stats(lt_dtype dt, const void *x, int64_t C, int64_t r0, int64_t r1, const lt_bn_cl_coef *k,
                    bool with_shift, double *s1, double *s2, void *scratch) {
  if (!widened(C)) {
    stats_rows(dt, x, C, r0, r1, k, with_shift, s1, s2, scratch);
    return;
  }
  wide_coef w;
  widen_coef(k, C, &w);
  split sp = split_rows(C, r0, r1);
  double w1[WIDE], w2[WIDE];
  if (dt == LT_FLOAT32)
    wide_stats(at(dt, x, r0, C), sp.wide_rows, with_shift ? w.k.shift : NULL, w1, s2 ? w2 : NULL);
  else
    stats_rows(dt, at(dt, x, r0, C), WIDE, 0, sp.wide_rows, &w.k, with_shift, w1, s2 ? w2 : NULL, scratch);
  stats_rows(dt, x, C, sp.tail0, r1, k, with_shift, s1, s2, scratch);
  fold(w1, C, s1);
  if (s2) fold(w2, C, s2);
}

void lt_bn_cl_normalise(lt_dtype dt, const void *x, void *y, int64_t C, int64_t r0, int64_t r1,
                        const lt_bn_cl_coef *k, bool relu, void *scratch) {
  if (!widened(C)) {
    normalise_rows(dt, x, y, C, r0, r1, k, relu, scratch);
    return;
  }
  wide_coef w;
  widen_coef(k, C, &w);
  split sp = split_rows(C, r0, r1);
  if (dt == LT_FLOAT32)
    wide_normalise(at(dt, x, r0, C), (float *)at(dt, y, r0, C), sp.wide_rows, w.k.ra, w.k.rb, relu);
  else
    normalise_rows(dt, at(dt, x, r0, C), (void *)at(dt, y, r0, C), WIDE, 0, sp.wide_rows, &w.k, relu, scratch);
  normalise_rows(dt, x, y, C, sp.tail0, r1, k, relu, scratch);
}

void lt_bn_cl_grad_sums(lt_dtype dt, const void *gy, const void *x, int64_t C, int64_t r0, int64_t r1,
                        const lt_bn_cl_coef *k, bool relu, double *s1, double *s2, void *scratch) {
  if (!widened(C)) {
    grad_sums_rows(dt, gy, x, C, r0, r1, k, relu, s1, s2, scratch);
    return;
  }
  wide_coef w;
  widen_coef(k, C, &w);
  split sp = split_rows(C, r0, r1);
  double w1[WIDE], w2[WIDE];
  if (dt == LT_FLOAT32)
    wide_grad_sums(at(dt, gy, r0, C), at(dt, x, r0, C), sp.wide_rows, &w.k, relu, w1, w2);
  else
    grad_sums_rows(dt, at(dt, gy, r0, C), at(dt, x, r0, C), WIDE, 0, sp.wide_rows, &w.k, relu, w1, w2, scratch);
  grad_sums_rows(dt, gy, x, C, sp.tail0, r1, k, relu, s1, s2, scratch);
  fold(w1, C, s1);
  fold(w2, C, s2);
}

void lt_bn_cl_grad_input(lt_dtype dt, void *gx, const void *gy, const void *x, int64_t C, int64_t r0, int64_t r1,
                         const lt_bn_cl_coef *k, bool relu, bool training, void *scratch) {
  if (!widened(C)) {
    grad_input_rows(dt, gx, gy, x, C, r0, r1, k, relu, training, scratch);
    return;
  }
  wide_coef w;
  widen_coef(k, C, &w);
  split sp = split_rows(C, r0, r1);
  if (dt == LT_FLOAT32)
    wide_grad_input((float *)at(dt, gx, r0, C), at(dt, gy, r0, C), at(dt, x, r0, C), sp.wide_rows, &w.k, relu,
                    training);
  else
    grad_input_rows(dt, (void *)at(dt, gx, r0, C), at(dt, gy, r0, C), at(dt, x, r0, C), WIDE, 0, sp.wide_rows,
                    &w.k, relu, training, scratch);
  grad_input_rows(dt, gx, gy, x, C, sp.tail0, r1, k, relu, training, scratch);
}
