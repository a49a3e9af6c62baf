/* lt_cpu_norm.c — batch normalisation on the CPU, forward (with the
 * running-statistics update) and backward, over x viewed as [N,C,S], alone
 * or fused with the ReLU that follows it (y = max(bn(x), 0) in the
 * normalising loop; the backward masks gy where that y is 0 as it reads
 * it, with no pass of its own).
 *
 * Layouts. Contiguous [N,C,S] tensors (NCHW) run the per-channel passes
 * below; the [N,C,S] views of channels-last tensors, strides (C*S, 1, C),
 * run the row passes of lt_cpu_norm_cl.c over blocks of whole rows (their
 * count, too, depends on the shape only). Both write per-block partial sums
 * that are added here in the same way, and the statistics, running
 * statistics and coefficients are computed here once for both.
 *
 * Work items. Each channel is cut into blocks of whole images (the number
 * depends on the shape only, never on the thread count), and an item is
 * one (channel, image block): so two threads share the work even when
 * there are only a few channels. An item's partial sums are kept apart and
 * added per channel in block order, so results do not depend on how many
 * threads ran or which ran what.
 *
 * Accuracy. float32 (and 16-bit) inputs are summed in 16 float lanes (four
 * 4-wide vectors) that are added into double lanes every few hundred
 * elements, so the inner loops are vector instructions and no float sum
 * runs long. The variance takes two passes: the first gives a provisional
 * mean m (rounded to float); the second sums d = x - m and d^2, whose exact
 * correction (the mean of d) makes both the mean and the variance accurate
 * for activations with a large mean. The backward's sums are about the
 * saved mean rounded to float, corrected the same way. float64 computes in
 * double throughout.
 *
 * Normalisation and the input gradient are one float loop per slab of S
 * elements with per-channel coefficients computed beforehand in double: the
 * forward's scale and shift come from the stored (rounded) mean and invstd,
 * so the fused backward recomputes exactly the forward's pre-ReLU value
 * (the same expression, bn_affine) and hence its mask, without saving y.
 *
 * x/y/gy/gx may be float64, float32 or a 16-bit storage type (bfloat16,
 * float16: mixed precision, what autocast produces); 16-bit elements are
 * widened to float in chunks, computed on as float32 inputs are, and
 * rounded once on store (the fused ReLU applies to the rounded value, as a
 * separate ReLU would). The per-channel tensors (weight, bias, running
 * statistics, mean, invstd, gw, gb) are read and written in their own
 * dtype, so a 16-bit input works with float32 parameters and statistics. */
#include <math.h>
#include <stdlib.h>
#include <omp.h>
#include <string.h>

#include "lt_cpu_iter.h"
#include "lt_cpu_nn.h"
#include "lt_cpu_norm_cl.h"
#include "lt_dtype_convert.h"

#define BN_LANES 16       /* float lanes of the sums */
#define BN_CHUNK 256      /* elements summed in float before the lanes go into double; 16-bit chunk size */
#define BN_ITEM 16384     /* target elements of a work item */

/* 4 floats, GCC's and Clang's vector extension (an SSE register on x86-64):
 * the lanes of the sums and the fused ReLU's select */
typedef float bn_v4 __attribute__((vector_size(16)));
typedef int32_t bn_v4i __attribute__((vector_size(16)));
#define BN_VECS (BN_LANES / 4)

/* element i of a per-channel tensor, in its own dtype */
static double ld(const lt_tensor *t, int64_t i) {
  return lt_dtype_load_f64((const char *)lt_tensor_data(t) + i * (int64_t)lt_dtype_size(t->dtype), t->dtype);
}
static void st(lt_tensor *t, int64_t i, double v) {
  lt_dtype_store_f64((char *)lt_tensor_data(t) + i * (int64_t)lt_dtype_size(t->dtype), t->dtype, v);
}

/* The pre-ReLU value, written once for the forward and the fused backward
 * so that both compute it with the same operations. */
static inline float bn_affine(float x, float a, float b) { return x * a + b; }
static inline bn_v4 bn_affine_v(bn_v4 x, float a, float b) { return x * a + b; }
static inline double bn_affine_d(double x, double a, double b) { return x * a + b; }

/* --- geometry and work items ------------------------------------------------------------ */

typedef struct {
  int64_t N, C, S, M; /* M = N*S values per channel */
  int64_t nb;         /* NCHW: image blocks per channel; channels-last: row blocks */
  lt_dtype dt;
  bool cl;            /* channels-last: the passes of lt_cpu_norm_cl.c */
} bn_geom;

static bn_geom geom_of(const lt_tensor *x, bool cl) {
  bn_geom g = {x->shape[0], x->shape[1], x->shape[2], 0, 1, x->dtype, cl};
  g.M = g.N * g.S;
  if (cl) { /* blocks of about BN_ITEM elements, each a run of whole rows of C */
    int64_t nb = g.M * g.C / BN_ITEM;
    g.nb = nb < 1 ? 1 : nb > g.M ? g.M : nb;
  } else if (g.N > 1 && g.M > BN_ITEM) {
    g.nb = g.M / BN_ITEM < g.N ? g.M / BN_ITEM : g.N;
  }
  return g;
}

/* rows [*r0, *r1) of channels-last row block b */
static void cl_rows(const bn_geom *g, int64_t b, int64_t *r0, int64_t *r1) {
  *r0 = g->M * b / g->nb;
  *r1 = g->M * (b + 1) / g->nb;
}

/* item i: channel *c, images [*n0, *n1) */
static void item_range(const bn_geom *g, int64_t i, int64_t *c, int64_t *n0, int64_t *n1) {
  int64_t b = i % g->nb;
  *c = i / g->nb;
  *n0 = g->N * b / g->nb;
  *n1 = g->N * (b + 1) / g->nb;
}

static bool parallel(const bn_geom *g) { return g->M * g->C > LT_CPU_PARALLEL_GRAIN && g->C * g->nb > 1; }

/* The layout of a call's [N,C,S] tensors: contiguous (NCHW), or the
 * [N,C,S] view of channels-last tensors, strides (C*S, 1, C) (the CPU's nn
 * table declares channels_last). All must agree; anything else is refused
 * rather than read wrongly. *cl: the channels-last passes. */
static bool is_cl_view(const lt_tensor *t) {
  if (t->ndim != 3) return false;
  int64_t N = t->shape[0], C = t->shape[1], S = t->shape[2];
  /* the stride of a dim of size 1 is never used (a view may give it any) */
  return (C == 1 || t->stride[1] == 1) && (S == 1 || t->stride[2] == C) && (N == 1 || t->stride[0] == C * S);
}

static lt_status check_layout(int n, const lt_tensor *const *t, bool *cl) {
  bool all_nchw = true, all_cl = true;
  for (int i = 0; i < n; i++)
    if (t[i]) {
      all_nchw = all_nchw && lt_tensor_is_contiguous(t[i]);
      all_cl = all_cl && is_cl_view(t[i]);
    }
  *cl = !all_nchw;
  if (all_nchw || all_cl) return LT_OK;
  return lt_error_set(LT_ERR_RUNTIME, 0, "batch_norm on the CPU: expected [N,C,S] tensors all contiguous or all "
                      "channels-last views");
}

/* Per-thread scratch of the channels-last passes (NULL for NCHW): a slot of
 * lt_bn_cl_scratch_bytes plus two [C] double sums per thread. */
static size_t cl_slot(const bn_geom *g) { return (lt_bn_cl_scratch_bytes(g->C) + 2 * (size_t)g->C * 8 + 63) & ~(size_t)63; }

static char *cl_scratch(const bn_geom *g) {
  return g->cl ? malloc(cl_slot(g) * (size_t)lt_cpu_num_threads() + 64) : NULL;
}

/* this thread's slot, and its two sum arrays */
static void *cl_mine(const bn_geom *g, char *scr, double **s1, double **s2) {
  char *p = scr + cl_slot(g) * (size_t)omp_get_thread_num();
  *s1 = (double *)(p + lt_bn_cl_scratch_bytes(g->C));
  *s2 = *s1 + g->C;
  return p;
}

/* part[2*(c*nb + b) + j] from the row block's per-channel sums */
static void cl_store(const bn_geom *g, double *part, int64_t b, const double *s1, const double *s2) {
  for (int64_t c = 0; c < g->C; c++) {
    part[2 * (c * g->nb + b)] = s1[c];
    if (s2) part[2 * (c * g->nb + b) + 1] = s2[c];
  }
}

/* One channels-last pass (lt_cpu_norm_cl.h) over the row blocks, shared out
 * by the enclosing parallel region; the sums go into part. */
typedef enum { CL_MEAN, CL_STATS, CL_NORMALISE, CL_GRAD_SUMS, CL_GRAD_INPUT } cl_pass_kind;
typedef struct {
  cl_pass_kind kind;
  const void *x, *gy;
  void *out; /* y or gx */
  const lt_bn_cl_coef *k;
  bool relu, training;
} cl_job;

static void cl_pass(const bn_geom *g, char *scr, double *part, cl_job j) {
#pragma omp for schedule(static)
  for (int64_t b = 0; b < g->nb; b++) {
    int64_t r0, r1;
    double *s1, *s2;
    void *mine = cl_mine(g, scr, &s1, &s2);
    cl_rows(g, b, &r0, &r1);
    switch (j.kind) {
      case CL_MEAN:
      case CL_STATS:
        lt_bn_cl_stats(g->dt, j.x, g->C, r0, r1, j.k, j.kind == CL_STATS, s1, j.kind == CL_STATS ? s2 : NULL, mine);
        cl_store(g, part, b, s1, j.kind == CL_STATS ? s2 : NULL);
        break;
      case CL_NORMALISE:
        lt_bn_cl_normalise(g->dt, j.x, j.out, g->C, r0, r1, j.k, j.relu, mine);
        break;
      case CL_GRAD_SUMS:
        lt_bn_cl_grad_sums(g->dt, j.gy, j.x, g->C, r0, r1, j.k, j.relu, s1, s2, mine);
        cl_store(g, part, b, s1, s2);
        break;
      case CL_GRAD_INPUT:
        lt_bn_cl_grad_input(g->dt, j.out, j.gy, j.x, g->C, r0, r1, j.k, j.relu, j.training, mine);
        break;
    }
  }
}

/* --- float lanes ------------------------------------------------------------------------------ */

/* The sums run in BN_LANES float lanes held as bn_v4 vectors, plus a
 * scalar for the elements of a run past its last full row of lanes; both
 * are added into double lanes every BN_CHUNK elements (`pend` counts
 * them). */

static inline bn_v4 vload(const float *p) {
  bn_v4 v;
  memcpy(&v, p, sizeof v);
  return v;
}

typedef struct {
  bn_v4 f[BN_VECS];
  float t;
  double d[BN_LANES], dt;
  int64_t pend;
} bn_acc;

static void acc_flush(bn_acc *a) {
  float f[BN_LANES];
  memcpy(f, a->f, sizeof f);
  for (int j = 0; j < BN_LANES; j++) a->d[j] += f[j];
  memset(a->f, 0, sizeof a->f);
  a->dt += a->t;
  a->t = 0;
  a->pend = 0;
}

static void acc_count(bn_acc *a, int64_t n) {
  a->pend += n;
  if (a->pend >= BN_CHUNK) acc_flush(a);
}

static double acc_total(bn_acc *a) {
  acc_flush(a);
  double s = a->dt;
  for (int j = 0; j < BN_LANES; j++) s += a->d[j];
  return s;
}

/* s1 += x over a run */
static void run_sum(const float *restrict x, int64_t n, bn_acc *restrict a) {
  bn_v4 l0 = a->f[0], l1 = a->f[1], l2 = a->f[2], l3 = a->f[3];
  float t = a->t;
  int64_t k = 0;
  for (; k + BN_LANES <= n; k += BN_LANES) {
    l0 += vload(x + k);
    l1 += vload(x + k + 4);
    l2 += vload(x + k + 8);
    l3 += vload(x + k + 12);
  }
  for (; k < n; k++) t += x[k];
  a->f[0] = l0, a->f[1] = l1, a->f[2] = l2, a->f[3] = l3;
  a->t = t;
}

/* s1 += d, s2 += d^2, d = x - m */
static void run_sum2(const float *restrict x, int64_t n, float m, bn_acc *restrict a1, bn_acc *restrict a2) {
  bn_v4 s[BN_VECS], q[BN_VECS];
  for (int j = 0; j < BN_VECS; j++) s[j] = a1->f[j], q[j] = a2->f[j];
  float t1 = a1->t, t2 = a2->t;
  int64_t k = 0;
  for (; k + BN_LANES <= n; k += BN_LANES)
    for (int j = 0; j < BN_VECS; j++) {
      bn_v4 d = vload(x + k + 4 * j) - m;
      s[j] += d;
      q[j] += d * d;
    }
  for (; k < n; k++) {
    float d = x[k] - m;
    t1 += d;
    t2 += d * d;
  }
  for (int j = 0; j < BN_VECS; j++) a1->f[j] = s[j], a2->f[j] = q[j];
  a1->t = t1;
  a2->t = t2;
}

/* s1 += g', s2 += g' * (x - m), g' = g, or (relu) g masked to +0 where
 * bn_affine(x, ra, rb) <= 0 (a select: an infinite or NaN g is dropped too) */
static void run_grad_sums(const float *restrict g, const float *restrict x, int64_t n, float m, bool relu, float ra,
                          float rb, bn_acc *restrict a1, bn_acc *restrict a2) {
  bn_v4 s[BN_VECS], q[BN_VECS];
  for (int j = 0; j < BN_VECS; j++) s[j] = a1->f[j], q[j] = a2->f[j];
  float t1 = a1->t, t2 = a2->t;
  int64_t k = 0;
  if (relu) {
    for (; k + BN_LANES <= n; k += BN_LANES)
      for (int j = 0; j < BN_VECS; j++) {
        bn_v4 xv = vload(x + k + 4 * j), gv = vload(g + k + 4 * j);
        bn_v4i off = bn_affine_v(xv, ra, rb) <= 0;
        gv = (bn_v4)((bn_v4i)gv & ~off);
        s[j] += gv;
        q[j] += gv * (xv - m);
      }
  } else {
    for (; k + BN_LANES <= n; k += BN_LANES)
      for (int j = 0; j < BN_VECS; j++) {
        bn_v4 gv = vload(g + k + 4 * j);
        s[j] += gv;
        q[j] += gv * (vload(x + k + 4 * j) - m);
      }
  }
  for (; k < n; k++) {
    float xv = x[k], gv = g[k];
    if (relu && bn_affine(xv, ra, rb) <= 0) gv = 0;
    t1 += gv;
    t2 += gv * (xv - m);
  }
  for (int j = 0; j < BN_VECS; j++) a1->f[j] = s[j], a2->f[j] = q[j];
  a1->t = t1;
  a2->t = t2;
}

/* --- 16-bit chunks ---------------------------------------------------------------------------- */

static void widen(const uint16_t *restrict h, int64_t n, bool bf, float *restrict out) {
  if (bf) for (int64_t k = 0; k < n; k++) out[k] = lt_cvt_bf16_f32(h[k]);
  else for (int64_t k = 0; k < n; k++) out[k] = lt_cvt_f16_f32(h[k]);
}

static uint16_t narrow1(float v, bool bf) { return bf ? lt_cvt_f32_bf16(v) : lt_cvt_f32_f16(v); }
static float widen1(uint16_t h, bool bf) { return bf ? lt_cvt_bf16_f32(h) : lt_cvt_f16_f32(h); }

/* v rounded to 16 bits, then (relu) max(., 0) as a ReLU on the 16-bit value */
static void narrow(const float *restrict v, int64_t n, bool bf, bool relu, uint16_t *restrict out) {
  for (int64_t k = 0; k < n; k++) {
    uint16_t h = narrow1(v[k], bf);
    out[k] = relu && widen1(h, bf) <= 0 ? 0 : h;
  }
}

/* g masked (in place) where the 16-bit forward output relu(round(bn_affine(x))) is 0 */
static void mask16(float *restrict g, const float *restrict x, int64_t n, bool bf, float ra, float rb) {
  for (int64_t k = 0; k < n; k++)
    if (widen1(narrow1(bn_affine(x[k], ra, rb), bf), bf) <= 0) g[k] = 0;
}

/* --- per-item passes (float32 and 16-bit) ----------------------------------------------------- */

/* offset of slab (n, c) */
static inline int64_t slab(const bn_geom *g, int64_t n, int64_t c) { return (n * g->C + c) * g->S; }

/* the length of a slab's chunk that starts at element k0 */
static inline int64_t chunk_len(const bn_geom *g, int64_t k0) { return g->S - k0 < BN_CHUNK ? g->S - k0 : BN_CHUNK; }

/* len elements at offset off of a float32 or 16-bit buffer as floats: in
 * place, or widened into buf */
static const float *floats_at(const bn_geom *g, const void *d, int64_t off, int64_t len, float *buf) {
  if (g->dt == LT_FLOAT32) return (const float *)d + off;
  widen((const uint16_t *)d + off, len, g->dt == LT_BFLOAT16, buf);
  return buf;
}

/* sum of x over the item */
static double item_sum(const bn_geom *g, const void *xd, int64_t c, int64_t n0, int64_t n1) {
  bn_acc a = {0};
  float buf[BN_CHUNK];
  for (int64_t n = n0; n < n1; n++)
    for (int64_t k0 = 0; k0 < g->S; k0 += BN_CHUNK) {
      int64_t len = chunk_len(g, k0);
      run_sum(floats_at(g, xd, slab(g, n, c) + k0, len, buf), len, &a);
      acc_count(&a, len);
    }
  return acc_total(&a);
}

/* sums of d and d^2, d = x - m, over the item */
static void item_sum2(const bn_geom *g, const void *xd, int64_t c, int64_t n0, int64_t n1, float m, double *s) {
  bn_acc a1 = {0}, a2 = {0};
  float buf[BN_CHUNK];
  for (int64_t n = n0; n < n1; n++)
    for (int64_t k0 = 0; k0 < g->S; k0 += BN_CHUNK) {
      int64_t len = chunk_len(g, k0);
      run_sum2(floats_at(g, xd, slab(g, n, c) + k0, len, buf), len, m, &a1, &a2);
      acc_count(&a1, len);
      acc_count(&a2, len);
    }
  s[0] = acc_total(&a1);
  s[1] = acc_total(&a2);
}

/* y = bn_affine(x, a, b), then max(., 0) when relu (NaN kept, as ReLU) */
static void item_normalise(const bn_geom *g, const void *xd, void *yd, int64_t c, int64_t n0, int64_t n1, float a,
                           float b, bool relu) {
  float xb[BN_CHUNK], yb[BN_CHUNK];
  bool bf = g->dt == LT_BFLOAT16;
  for (int64_t n = n0; n < n1; n++) {
    if (g->dt == LT_FLOAT32) {
      const float *restrict s = (const float *)xd + slab(g, n, c);
      float *restrict d = (float *)yd + slab(g, n, c);
      if (relu)
        for (int64_t k = 0; k < g->S; k++) {
          float v = bn_affine(s[k], a, b);
          d[k] = v <= 0 ? 0.0f : v;
        }
      else
        for (int64_t k = 0; k < g->S; k++) d[k] = bn_affine(s[k], a, b);
      continue;
    }
    for (int64_t k0 = 0; k0 < g->S; k0 += BN_CHUNK) {
      int64_t len = chunk_len(g, k0), off = slab(g, n, c) + k0;
      widen((const uint16_t *)xd + off, len, bf, xb);
      for (int64_t k = 0; k < len; k++) yb[k] = bn_affine(xb[k], a, b);
      narrow(yb, len, bf, relu, (uint16_t *)yd + off);
    }
  }
}

/* per-channel coefficients of the backward */
typedef struct {
  double m;      /* the saved mean */
  float mf;      /* m rounded: the shift of the sums and of gx */
  float ra, rb;  /* the forward's scale and shift (the fused ReLU's mask) */
  float A, K, B; /* gx = A*g' + K*(x - mf) + B */
} bn_bcoef;

/* sums of g' and g' * (x - mf) over the item */
static void item_grad_sums(const bn_geom *g, const void *gyd, const void *xd, int64_t c, int64_t n0, int64_t n1,
                           const bn_bcoef *k, bool relu, double *s) {
  bn_acc a1 = {0}, a2 = {0};
  float xb[BN_CHUNK], gb[BN_CHUNK];
  bool bf = g->dt == LT_BFLOAT16;
  for (int64_t n = n0; n < n1; n++)
    for (int64_t k0 = 0; k0 < g->S; k0 += BN_CHUNK) {
      int64_t len = chunk_len(g, k0), off = slab(g, n, c) + k0;
      if (g->dt == LT_FLOAT32) {
        run_grad_sums((const float *)gyd + off, (const float *)xd + off, len, k->mf, relu, k->ra, k->rb, &a1, &a2);
      } else {
        widen((const uint16_t *)xd + off, len, bf, xb);
        widen((const uint16_t *)gyd + off, len, bf, gb);
        if (relu) mask16(gb, xb, len, bf, k->ra, k->rb);
        run_grad_sums(gb, xb, len, k->mf, false, 0, 0, &a1, &a2);
      }
      acc_count(&a1, len);
      acc_count(&a2, len);
    }
  s[0] = acc_total(&a1);
  s[1] = acc_total(&a2);
}

/* gx over the item; training = false: gx = A*g' */
static void item_grad_input(const bn_geom *g, void *gxd, const void *gyd, const void *xd, int64_t c, int64_t n0,
                            int64_t n1, const bn_bcoef *k, bool relu, bool training) {
  float xb[BN_CHUNK], gb[BN_CHUNK], ob[BN_CHUNK];
  bool bf = g->dt == LT_BFLOAT16;
  const float A = k->A, K = k->K, B = k->B, mf = k->mf, ra = k->ra, rb = k->rb;
  for (int64_t n = n0; n < n1; n++) {
    if (g->dt == LT_FLOAT32) {
      int64_t off = slab(g, n, c);
      const float *restrict gy = (const float *)gyd + off, *restrict x = (const float *)xd + off;
      float *restrict d = (float *)gxd + off;
      if (relu && training)
        for (int64_t i = 0; i < g->S; i++) {
          float xv = x[i], gv = gy[i];
          gv = bn_affine(xv, ra, rb) <= 0 ? 0.0f : gv;
          d[i] = A * gv + K * (xv - mf) + B;
        }
      else if (training)
        for (int64_t i = 0; i < g->S; i++) d[i] = A * gy[i] + K * (x[i] - mf) + B;
      else if (relu)
        for (int64_t i = 0; i < g->S; i++) {
          float gv = A * gy[i];
          d[i] = bn_affine(x[i], ra, rb) <= 0 ? 0.0f : gv;
        }
      else
        for (int64_t i = 0; i < g->S; i++) d[i] = A * gy[i];
      continue;
    }
    for (int64_t k0 = 0; k0 < g->S; k0 += BN_CHUNK) {
      int64_t len = chunk_len(g, k0), off = slab(g, n, c) + k0;
      widen((const uint16_t *)xd + off, len, bf, xb);
      widen((const uint16_t *)gyd + off, len, bf, gb);
      if (relu) mask16(gb, xb, len, bf, ra, rb);
      if (training)
        for (int64_t i = 0; i < len; i++) ob[i] = A * gb[i] + K * (xb[i] - mf) + B;
      else
        for (int64_t i = 0; i < len; i++) ob[i] = A * gb[i];
      narrow(ob, len, bf, false, (uint16_t *)gxd + off);
    }
  }
}

/* --- per-item passes (float64) ------------------------------------------------------------------ */

static void item_sums_f64(const bn_geom *g, const double *x, const double *gy, int64_t c, int64_t n0, int64_t n1,
                          double m, bool relu, double ra, double rb, double *s) {
  double s1 = 0, s2 = 0;
  for (int64_t n = n0; n < n1; n++) {
    const double *xs = x + slab(g, n, c), *gs = gy ? gy + slab(g, n, c) : NULL;
    for (int64_t k = 0; k < g->S; k++) {
      double d = xs[k] - m;
      if (!gs) { /* the statistics: d and d^2 */
        s1 += d;
        s2 += d * d;
      } else {
        double gv = relu && bn_affine_d(xs[k], ra, rb) <= 0 ? 0.0 : gs[k];
        s1 += gv;
        s2 += gv * d;
      }
    }
  }
  s[0] = s1;
  s[1] = s2;
}

static void item_normalise_f64(const bn_geom *g, const double *x, double *y, int64_t c, int64_t n0, int64_t n1,
                               double a, double b, bool relu) {
  for (int64_t n = n0; n < n1; n++) {
    const double *s = x + slab(g, n, c);
    double *d = y + slab(g, n, c);
    for (int64_t k = 0; k < g->S; k++) {
      double v = bn_affine_d(s[k], a, b);
      d[k] = relu && v <= 0 ? 0.0 : v;
    }
  }
}

/* gx = a*(g' - k1 - (x - m)*k2) (training), a*g' (eval) */
static void item_grad_input_f64(const bn_geom *g, double *gx, const double *gy, const double *x, int64_t c,
                                int64_t n0, int64_t n1, double m, double a, double k1, double k2, bool relu,
                                double ra, double rb, bool training) {
  for (int64_t n = n0; n < n1; n++) {
    int64_t off = slab(g, n, c);
    for (int64_t k = 0; k < g->S; k++) {
      double gv = relu && bn_affine_d(x[off + k], ra, rb) <= 0 ? 0.0 : gy[off + k];
      gx[off + k] = training ? a * (gv - k1 - (x[off + k] - m) * k2) : a * gv;
    }
  }
}

/* --- forward ---------------------------------------------------------------------------------- */

/* The scale and shift y = x*a + b of channel c from its mean and invstd. */
static void affine_of(const lt_tensor *weight, const lt_tensor *bias, double mu, double is, int64_t c, double *a,
                      double *b) {
  *a = (weight ? ld(weight, c) : 1.0) * is;
  *b = (bias ? ld(bias, c) : 0.0) - mu * *a;
}

/* The forward's scale and shift from the stored statistics. */
static void scale_shift(const lt_tensor *weight, const lt_tensor *bias, const lt_tensor *mean, const lt_tensor *invstd,
                        int64_t c, double *a, double *b) {
  affine_of(weight, bias, ld(mean, c), ld(invstd, c), c, a, b);
}

/* Evaluation mode's statistics of channel c (the mean, 1/sqrt(var + eps)),
 * before they are stored. */
static void eval_stats(const lt_tensor *running_mean, const lt_tensor *running_var, double eps, int64_t c,
                       double *mu, double *is) {
  *mu = ld(running_mean, c);
  *is = 1.0 / sqrt(ld(running_var, c) + eps);
}

void lt_cpu_batch_norm_eval_coef(const lt_tensor *weight, const lt_tensor *bias, const lt_tensor *running_mean,
                                 const lt_tensor *running_var, double eps, float *scale, float *shift) {
  for (int64_t c = 0; c < running_mean->shape[0]; c++) {
    double mu, is, a, b;
    eval_stats(running_mean, running_var, eps, c, &mu, &is);
    /* stored as a float32 input's statistics are, then read back */
    affine_of(weight, bias, (float)mu, (float)is, c, &a, &b);
    scale[c] = (float)a;
    shift[c] = (float)b;
  }
}

static lt_status bn_forward(lt_tensor *y, lt_tensor *mean, lt_tensor *invstd, const lt_tensor *x,
                            const lt_tensor *weight, const lt_tensor *bias, lt_tensor *running_mean,
                            lt_tensor *running_var, bool training, double momentum, double eps, bool relu) {
  const lt_tensor *io[2] = {x, y};
  bool cl;
  LT_TRY(check_layout(2, io, &cl));
  bn_geom g = geom_of(x, cl);
  int64_t C = g.C, items = C * g.nb;
  bool f64 = g.dt == LT_FLOAT64;
  const void *xd = lt_tensor_data(x);
  void *yd = lt_tensor_data(y);
  /* part: two sums per item; coef: scale, shift and the provisional mean per
   * channel; kv: the same as [C] vectors for the channels-last passes (the
   * provisional mean, scale and shift in double, then in float) */
  double *part = malloc(((size_t)items * 2 + (size_t)C * 8 + 1) * sizeof(double));
  char *scr = cl_scratch(&g);
  if (!part || (cl && !scr)) {
    free(part);
    free(scr);
    return lt_error_set(LT_ERR_OOM, 0, "out of host memory for batch_norm's %lld partial sums", (long long)items);
  }
  double *coef = part + items * 2, *kd = coef + C * 3;
  float *kf = (float *)(kd + C * 3);
  lt_bn_cl_coef k = {.shift = kf, .ra = kf + C, .rb = kf + 2 * C, .shiftd = kd, .rad = kd + C, .rbd = kd + 2 * C};
#pragma omp parallel if (parallel(&g))
  {
    if (training) {
      /* pass 1: the provisional mean */
      if (cl) {
        cl_pass(&g, scr, part, (cl_job){CL_MEAN, xd, NULL, NULL, &k, relu, training});
      } else {
#pragma omp for schedule(static)
        for (int64_t i = 0; i < items; i++) {
          int64_t c, n0, n1;
          item_range(&g, i, &c, &n0, &n1);
          if (f64) {
            double s[2];
            item_sums_f64(&g, xd, NULL, c, n0, n1, 0, false, 0, 0, s);
            part[2 * i] = s[0];
          } else {
            part[2 * i] = item_sum(&g, xd, c, n0, n1);
          }
        }
      }
#pragma omp for schedule(static)
      for (int64_t c = 0; c < C; c++) {
        double s = 0;
        for (int64_t b = 0; b < g.nb; b++) s += part[2 * (c * g.nb + b)];
        double m = g.M > 0 ? s / (double)g.M : 0;
        coef[3 * c + 2] = f64 ? m : (double)(float)m;
        kd[c] = coef[3 * c + 2];
        kf[c] = (float)coef[3 * c + 2];
      }
      /* pass 2: sums of d and d^2 about it */
      if (cl) {
        cl_pass(&g, scr, part, (cl_job){CL_STATS, xd, NULL, NULL, &k, relu, training});
      } else {
#pragma omp for schedule(static)
        for (int64_t i = 0; i < items; i++) {
          int64_t c, n0, n1;
          item_range(&g, i, &c, &n0, &n1);
          if (f64) item_sums_f64(&g, xd, NULL, c, n0, n1, coef[3 * c + 2], false, 0, 0, &part[2 * i]);
          else item_sum2(&g, xd, c, n0, n1, (float)coef[3 * c + 2], &part[2 * i]);
        }
      }
    }
    /* the statistics, the running statistics and the scale and shift */
#pragma omp for schedule(static)
    for (int64_t c = 0; c < C; c++) {
      double mu, is;
      if (training) {
        double sd = 0, sdd = 0;
        for (int64_t b = 0; b < g.nb; b++) {
          sd += part[2 * (c * g.nb + b)];
          sdd += part[2 * (c * g.nb + b) + 1];
        }
        double M = (double)g.M, ss = g.M > 0 ? sdd - sd * sd / M : NAN;
        if (ss < 0) ss = 0;
        /* an infinite provisional mean (an infinite x) stays as it is, as a
         * one-pass mean would give it, rather than inf + NaN */
        double m0 = coef[3 * c + 2];
        mu = g.M == 0 ? NAN : isfinite(m0) ? m0 + sd / M : m0;
        is = 1.0 / sqrt(ss / M + eps);
        if (running_mean) st(running_mean, c, (1 - momentum) * ld(running_mean, c) + momentum * mu);
        if (running_var) {
          double unbiased = g.M > 1 ? ss / (M - 1) : NAN;
          st(running_var, c, (1 - momentum) * ld(running_var, c) + momentum * unbiased);
        }
      } else {
        eval_stats(running_mean, running_var, eps, c, &mu, &is);
      }
      st(mean, c, mu);
      st(invstd, c, is);
      scale_shift(weight, bias, mean, invstd, c, &coef[3 * c], &coef[3 * c + 1]);
      kd[C + c] = coef[3 * c];
      kd[2 * C + c] = coef[3 * c + 1];
      kf[C + c] = (float)coef[3 * c];
      kf[2 * C + c] = (float)coef[3 * c + 1];
    }
    /* pass 3: the normalisation */
    if (cl) {
      cl_pass(&g, scr, part, (cl_job){CL_NORMALISE, xd, NULL, yd, &k, relu, training});
    } else {
#pragma omp for schedule(static)
      for (int64_t i = 0; i < items; i++) {
        int64_t c, n0, n1;
        item_range(&g, i, &c, &n0, &n1);
        if (f64) item_normalise_f64(&g, xd, yd, c, n0, n1, coef[3 * c], coef[3 * c + 1], relu);
        else item_normalise(&g, xd, yd, c, n0, n1, (float)coef[3 * c], (float)coef[3 * c + 1], relu);
      }
    }
  }
  free(part);
  free(scr);
  return LT_OK;
}

lt_status lt_cpu_batch_norm_forward(lt_tensor *y, lt_tensor *mean, lt_tensor *invstd, const lt_tensor *x,
                                    const lt_tensor *weight, const lt_tensor *bias, lt_tensor *running_mean,
                                    lt_tensor *running_var, bool training, double momentum, double eps) {
  return bn_forward(y, mean, invstd, x, weight, bias, running_mean, running_var, training, momentum, eps, false);
}

lt_status lt_cpu_batch_norm_relu_forward(lt_tensor *y, lt_tensor *mean, lt_tensor *invstd, const lt_tensor *x,
                                         const lt_tensor *weight, const lt_tensor *bias, lt_tensor *running_mean,
                                         lt_tensor *running_var, bool training, double momentum, double eps) {
  return bn_forward(y, mean, invstd, x, weight, bias, running_mean, running_var, training, momentum, eps, true);
}

/* --- backward --------------------------------------------------------------------------------- */

static lt_status bn_backward(lt_tensor *gx, lt_tensor *gw, lt_tensor *gb, const lt_tensor *gy, const lt_tensor *x,
                             const lt_tensor *weight, const lt_tensor *bias, const lt_tensor *mean,
                             const lt_tensor *invstd, bool training, bool relu) {
  const lt_tensor *io[3] = {x, gy, gx};
  bool cl;
  LT_TRY(check_layout(3, io, &cl));
  bn_geom g = geom_of(x, cl);
  int64_t C = g.C, items = C * g.nb;
  bool f64 = g.dt == LT_FLOAT64;
  const void *xd = lt_tensor_data(x), *gyd = lt_tensor_data(gy);
  void *gxd = gx ? lt_tensor_data(gx) : NULL;
  double *part = malloc(((size_t)items * 2 + 1) * sizeof(double));
  bn_bcoef *k = malloc(((size_t)C + 1) * sizeof(bn_bcoef));
  /* float64: a, k1, k2, ra, rb per channel; then, for the channels-last
   * passes, [C] vectors of m, ra, rb, a, k1, k2 in double and of mf, ra, rb,
   * A, K, B in float */
  double *kd = malloc(((size_t)C * 14 + 1) * sizeof(double));
  char *scr = cl_scratch(&g);
  if (!part || !k || !kd || (cl && !scr)) {
    free(part);
    free(k);
    free(kd);
    free(scr);
    return lt_error_set(LT_ERR_OOM, 0, "out of host memory for batch_norm's %lld partial sums", (long long)items);
  }
  double *vd = kd + C * 5;
  float *vf = (float *)(vd + C * 6);
  lt_bn_cl_coef kv = {.shift = vf, .ra = vf + C, .rb = vf + 2 * C, .A = vf + 3 * C, .K = vf + 4 * C, .B = vf + 5 * C,
                      .shiftd = vd, .rad = vd + C, .rbd = vd + 2 * C, .ad = vd + 3 * C, .k1d = vd + 4 * C,
                      .k2d = vd + 5 * C};
#pragma omp parallel if (parallel(&g))
  {
#pragma omp for schedule(static)
    for (int64_t c = 0; c < C; c++) {
      double ra, rb;
      scale_shift(weight, bias, mean, invstd, c, &ra, &rb);
      k[c].m = ld(mean, c);
      k[c].mf = (float)k[c].m;
      k[c].ra = (float)ra;
      k[c].rb = (float)rb;
      kd[5 * c + 3] = ra;
      kd[5 * c + 4] = rb;
      vd[c] = f64 ? k[c].m : (double)k[c].mf, vd[C + c] = ra, vd[2 * C + c] = rb;
      vf[c] = k[c].mf, vf[C + c] = k[c].ra, vf[2 * C + c] = k[c].rb;
    }
    /* pass 1: sum g' and sum g' * (x - m) */
    if (cl) {
      cl_pass(&g, scr, part, (cl_job){CL_GRAD_SUMS, xd, gyd, NULL, &kv, relu, training});
    } else {
#pragma omp for schedule(static)
      for (int64_t i = 0; i < items; i++) {
        int64_t c, n0, n1;
        item_range(&g, i, &c, &n0, &n1);
        if (f64) item_sums_f64(&g, xd, gyd, c, n0, n1, k[c].m, relu, kd[5 * c + 3], kd[5 * c + 4], &part[2 * i]);
        else item_grad_sums(&g, gyd, xd, c, n0, n1, &k[c], relu, &part[2 * i]);
      }
    }
#pragma omp for schedule(static)
    for (int64_t c = 0; c < C; c++) {
      double sg = 0, sgd = 0;
      for (int64_t b = 0; b < g.nb; b++) {
        sg += part[2 * (c * g.nb + b)];
        sgd += part[2 * (c * g.nb + b) + 1];
      }
      /* float sums are about mf: sum g'(x - m) = sum g'(x - mf) + (mf - m) sum g' */
      double m = k[c].m, mf = f64 ? m : (double)k[c].mf, sgx = sgd + (mf - m) * sg, is = ld(invstd, c);
      if (gb) st(gb, c, sg);
      if (gw) st(gw, c, sgx * is);
      /* training: gx = a*(g' - k1 - (x-m)*k2), k1 = sg/M, k2 = is^2*sgx/M; eval: a*g' */
      double M = (double)g.M, a = (weight ? ld(weight, c) : 1.0) * is;
      double k1 = training && g.M > 0 ? sg / M : 0, k2 = training && g.M > 0 ? is * is * sgx / M : 0;
      kd[5 * c] = a;
      kd[5 * c + 1] = k1;
      kd[5 * c + 2] = k2;
      /* as a*g' - a*k2*(x - mf) - a*(k1 + (mf - m)*k2) */
      k[c].A = (float)a;
      k[c].K = (float)(-a * k2);
      k[c].B = (float)(-a * (k1 + (mf - m) * k2));
      vd[3 * C + c] = a, vd[4 * C + c] = k1, vd[5 * C + c] = k2;
      vf[3 * C + c] = k[c].A, vf[4 * C + c] = k[c].K, vf[5 * C + c] = k[c].B;
    }
    /* pass 2: the input's gradient */
    if (gxd && cl) {
      cl_pass(&g, scr, part, (cl_job){CL_GRAD_INPUT, xd, gyd, gxd, &kv, relu, training});
    } else if (gxd) {
#pragma omp for schedule(static)
      for (int64_t i = 0; i < items; i++) {
        int64_t c, n0, n1;
        item_range(&g, i, &c, &n0, &n1);
        if (f64)
          item_grad_input_f64(&g, gxd, gyd, xd, c, n0, n1, k[c].m, kd[5 * c], kd[5 * c + 1], kd[5 * c + 2], relu,
                              kd[5 * c + 3], kd[5 * c + 4], training);
        else item_grad_input(&g, gxd, gyd, xd, c, n0, n1, &k[c], relu, training);
      }
    }
  }
  free(part);
  free(k);
  free(kd);
  free(scr);
  return LT_OK;
}

lt_status lt_cpu_batch_norm_backward(lt_tensor *gx, lt_tensor *gw, lt_tensor *gb, const lt_tensor *gy,
                                     const lt_tensor *x, const lt_tensor *weight, const lt_tensor *mean,
                                     const lt_tensor *invstd, bool training) {
  return bn_backward(gx, gw, gb, gy, x, weight, NULL, mean, invstd, training, false);
}

lt_status lt_cpu_batch_norm_relu_backward(lt_tensor *gx, lt_tensor *gw, lt_tensor *gb, const lt_tensor *gy,
                                          const lt_tensor *x, const lt_tensor *weight, const lt_tensor *bias,
                                          const lt_tensor *mean, const lt_tensor *invstd, bool training) {
  return bn_backward(gx, gw, gb, gy, x, weight, bias, mean, invstd, training, true);
}
