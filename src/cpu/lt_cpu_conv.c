/* lt_cpu_conv.c — 2-D convolution on the CPU: im2col + OpenBLAS GEMM, and
 * GEMM + col2im for the input gradient. Not the place for shape checks
 * (lt_ops_nn.c) or autograd (lt_ag_nn.c).
 *
 * Layout of the column matrix of one group: row r = (c*KH + kh)*KW + kw
 * (c local to the group, so row order matches the weight [COg, Cg*KH*KW]),
 * column j*OHW + oh*OW + ow for image j of the chunk. Several images share
 * one GEMM when a single image's output plane is small (deep layers: 4x4
 * planes), so the GEMM's N stays large; the chunk is bounded so the column
 * buffer stays in the last-level cache while the GEMM reads it back.
 *
 * Threading: im2col, col2im and the gathers run on OpenMP threads across
 * (image, row) pairs; each GEMM is one call that OpenBLAS threads itself.
 * The two never nest. Inner loops have no per-element bounds tests: the range
 * of output columns whose input lies inside the image is worked out once per
 * kernel offset, and the rest is zero-filled. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "lt_cpu_iter.h"
#include "lt_cpu_nn.h"

/* Aim for GEMMs with at least this many columns ... */
#define CONV_TARGET_COLS 2048
/* ... while a chunk's column buffer stays below this many bytes. */
#define CONV_COL_BYTES (8u << 20)

typedef struct {
  int64_t N, C, H, W, CO, KH, KW, OH, OW;
  int64_t sh, sw, ph, pw, dh, dw;
  int64_t G, Cg, COg, K, HW, OHW;
  size_t es;
  bool dbl;
  bool direct; /* 1x1, stride 1, no padding: an image is its own column matrix */
} geom;

static void geom_init(geom *g, const lt_tensor *x, const lt_tensor *w, const lt_tensor *y, const lt_conv2d_params *p) {
  g->N = x->shape[0]; g->C = x->shape[1]; g->H = x->shape[2]; g->W = x->shape[3];
  g->CO = w->shape[0]; g->KH = w->shape[2]; g->KW = w->shape[3];
  g->OH = y->shape[2]; g->OW = y->shape[3];
  g->sh = p->stride[0]; g->sw = p->stride[1];
  g->ph = p->padding[0]; g->pw = p->padding[1];
  g->dh = p->dilation[0]; g->dw = p->dilation[1];
  g->G = p->groups; g->Cg = g->C / g->G; g->COg = g->CO / g->G;
  g->K = g->Cg * g->KH * g->KW;
  g->HW = g->H * g->W; g->OHW = g->OH * g->OW;
  g->dbl = x->dtype == LT_FLOAT64;
  g->es = g->dbl ? sizeof(double) : sizeof(float);
  g->direct = g->KH == 1 && g->KW == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

static int64_t chunk_images(const geom *g) {
  int64_t nb = (CONV_TARGET_COLS + g->OHW - 1) / g->OHW;
  int64_t per_image = g->K * g->OHW * (int64_t)g->es;
  int64_t cap = per_image > 0 ? (int64_t)CONV_COL_BYTES / per_image : nb;
  if (nb > cap) nb = cap;
  if (nb > g->N) nb = g->N;
  return nb < 1 ? 1 : nb;
}

static void gemm(bool dbl, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const void *A, int64_t lda,
                 const void *B, int64_t ldb, double beta, void *C, int64_t ldc) {
  if (dbl)
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K,
                1.0, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
  else
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K,
                1.0f, A, (int)lda, B, (int)ldb, (float)beta, C, (int)ldc);
}

/* Output positions o in [lo, hi) read input o*s - pad + off inside [0, in). */
static void valid_range(int64_t in, int64_t out, int64_t s, int64_t pad, int64_t off, int64_t *lo, int64_t *hi) {
  int64_t a = pad - off, b = in - 1 - off + pad;
  int64_t l = a <= 0 ? 0 : (a + s - 1) / s;
  int64_t h = b < 0 ? 0 : b / s + 1;
  if (h > out) h = out;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

/* One row of the column matrix for one image: dst [OH*OW] from plane [H*W]. */
static void im2col_row(const geom *g, char *dst, const char *plane, int64_t kh, int64_t kw) {
  size_t es = g->es;
  int64_t lo, hi, hlo, hhi;
  valid_range(g->W, g->OW, g->sw, g->pw, kw * g->dw, &lo, &hi);
  valid_range(g->H, g->OH, g->sh, g->ph, kh * g->dh, &hlo, &hhi);
  memset(dst, 0, (size_t)(hlo * g->OW) * es);
  for (int64_t oh = hlo; oh < hhi; oh++) {
    char *d = dst + (size_t)(oh * g->OW) * es;
    if (lo > 0) memset(d, 0, (size_t)lo * es);
    if (hi > lo) {
      int64_t ih = oh * g->sh - g->ph + kh * g->dh;
      const char *s = plane + (size_t)(ih * g->W + lo * g->sw - g->pw + kw * g->dw) * es;
      int64_t n = hi - lo;
      if (g->sw == 1) memcpy(d + (size_t)lo * es, s, (size_t)n * es);
      else if (g->dbl) {
        double *dd = (double *)d + lo;
        const double *ss = (const double *)s;
        for (int64_t i = 0; i < n; i++) dd[i] = ss[i * g->sw];
      } else {
        float *dd = (float *)d + lo;
        const float *ss = (const float *)s;
        for (int64_t i = 0; i < n; i++) dd[i] = ss[i * g->sw];
      }
    }
    if (hi < g->OW) memset(d + (size_t)hi * es, 0, (size_t)(g->OW - hi) * es);
  }
  memset(dst + (size_t)(hhi * g->OW) * es, 0, (size_t)((g->OH - hhi) * g->OW) * es);
}

/* col [K, m*OHW] from images n0..n0+m-1, channels of group grp. */
static void im2col(const geom *g, char *col, const char *x, int64_t n0, int64_t m, int64_t grp) {
  int64_t K = g->K, KHW = g->KH * g->KW, ncol = m * g->OHW;
  size_t es = g->es;
  int64_t tasks = m * K;
#pragma omp parallel for schedule(static) if (tasks * g->OHW > LT_CPU_PARALLEL_GRAIN)
  for (int64_t t = 0; t < tasks; t++) {
    int64_t j = t / K, r = t % K;
    int64_t c = r / KHW, kh = (r % KHW) / g->KW, kw = r % g->KW;
    const char *plane = x + (size_t)(((n0 + j) * g->C + grp * g->Cg + c) * g->HW) * es;
    im2col_row(g, col + (size_t)(r * ncol + j * g->OHW) * es, plane, kh, kw);
  }
}

/* plane [H*W] += the column-matrix row src [OH*OW] for kernel offset (kh, kw). */
static void col2im_row(const geom *g, char *plane, const char *src, int64_t kh, int64_t kw) {
  int64_t lo, hi, hlo, hhi;
  valid_range(g->W, g->OW, g->sw, g->pw, kw * g->dw, &lo, &hi);
  valid_range(g->H, g->OH, g->sh, g->ph, kh * g->dh, &hlo, &hhi);
  if (hi <= lo) return;
  int64_t n = hi - lo, sw = g->sw;
  for (int64_t oh = hlo; oh < hhi; oh++) {
    int64_t ih = oh * g->sh - g->ph + kh * g->dh;
    int64_t base = ih * g->W + lo * sw - g->pw + kw * g->dw;
    if (g->dbl) {
      double *d = (double *)plane + base;
      const double *s = (const double *)src + oh * g->OW + lo;
      for (int64_t i = 0; i < n; i++) d[i * sw] += s[i];
    } else {
      float *d = (float *)plane + base;
      const float *s = (const float *)src + oh * g->OW + lo;
      for (int64_t i = 0; i < n; i++) d[i * sw] += s[i];
    }
  }
}

/* gx planes of images n0..n0+m-1, group grp = col2im(gcol [K, m*OHW]). */
static void col2im(const geom *g, char *gx, const char *gcol, int64_t n0, int64_t m, int64_t grp) {
  int64_t KHW = g->KH * g->KW, ncol = m * g->OHW, tasks = m * g->Cg;
  size_t es = g->es;
#pragma omp parallel for schedule(static) if (tasks * KHW * g->OHW > LT_CPU_PARALLEL_GRAIN)
  for (int64_t t = 0; t < tasks; t++) {
    int64_t j = t / g->Cg, c = t % g->Cg;
    char *plane = gx + (size_t)(((n0 + j) * g->C + grp * g->Cg + c) * g->HW) * es;
    memset(plane, 0, (size_t)g->HW * es);
    for (int64_t k = 0; k < KHW; k++)
      col2im_row(g, plane, gcol + (size_t)((c * KHW + k) * ncol + j * g->OHW) * es, k / g->KW, k % g->KW);
  }
}

/* Moves between a chunk matrix [COg, m*OHW] and the planes of a [N,CO,OH,OW]
 * tensor for group grp. to_tensor: matrix -> tensor. */
static void shuffle(const geom *g, char *t, char *mat, int64_t n0, int64_t m, int64_t grp, bool to_tensor) {
  int64_t tasks = m * g->COg, ncol = m * g->OHW;
  size_t bytes = (size_t)g->OHW * g->es;
#pragma omp parallel for schedule(static) if (tasks * g->OHW > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < tasks; i++) {
    int64_t j = i / g->COg, co = i % g->COg;
    char *tp = t + (size_t)(((n0 + j) * g->CO + grp * g->COg + co) * g->OHW) * g->es;
    char *mp = mat + (size_t)(co * ncol + j * g->OHW) * g->es;
    if (to_tensor) memcpy(tp, mp, bytes);
    else memcpy(mp, tp, bytes);
  }
}

static void add_bias(const geom *g, char *y, const lt_tensor *b) {
  int64_t planes = g->N * g->CO;
#pragma omp parallel for schedule(static) if (planes * g->OHW > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < planes; i++) {
    int64_t co = i % g->CO;
    if (g->dbl) {
      double v = ((const double *)lt_tensor_data(b))[co], *p = (double *)y + i * g->OHW;
      for (int64_t k = 0; k < g->OHW; k++) p[k] += v;
    } else {
      float v = ((const float *)lt_tensor_data(b))[co], *p = (float *)y + i * g->OHW;
      for (int64_t k = 0; k < g->OHW; k++) p[k] += v;
    }
  }
}

static void *scratch(size_t bytes) { return bytes ? aligned_alloc(64, (bytes + 63) & ~(size_t)63) : NULL; }

static lt_status oom(size_t bytes) {
  return lt_error_set(LT_ERR_OOM, 0, "out of host memory allocating a %zu-byte convolution workspace", bytes);
}

lt_status lt_cpu_conv2d_forward(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b,
                                 const lt_conv2d_params *p) {
  geom g;
  geom_init(&g, x, w, y, p);
  char *yd = lt_tensor_data(y);
  const char *xd = lt_tensor_data(x), *wd = lt_tensor_data(w);
  if (g.N == 0 || g.CO == 0 || g.OHW == 0) return LT_OK;
  if (g.K == 0) { /* no input channels: the bias alone */
    memset(yd, 0, (size_t)lt_tensor_numel(y) * g.es);
    if (b) add_bias(&g, yd, b);
    return LT_OK;
  }
  int64_t nb = chunk_images(&g);
  size_t col_bytes = (size_t)(g.K * nb * g.OHW) * g.es, tmp_bytes = nb > 1 ? (size_t)(g.COg * nb * g.OHW) * g.es : 0;
  if (g.direct && nb == 1) col_bytes = 0;
  char *col = scratch(col_bytes), *tmp = scratch(tmp_bytes);
  if ((col_bytes && !col) || (tmp_bytes && !tmp)) {
    free(col);
    free(tmp);
    return oom(col_bytes + tmp_bytes);
  }
  for (int64_t n0 = 0; n0 < g.N; n0 += nb) {
    int64_t m = g.N - n0 < nb ? g.N - n0 : nb, ncol = m * g.OHW;
    for (int64_t grp = 0; grp < g.G; grp++) {
      const char *B = col;
      int64_t ldb = ncol;
      if (g.direct && m == 1) {
        B = xd + (size_t)((n0 * g.C + grp * g.Cg) * g.HW) * g.es;
        ldb = g.HW;
      } else {
        im2col(&g, col, xd, n0, m, grp);
      }
      const char *A = wd + (size_t)(grp * g.COg * g.K) * g.es;
      if (m == 1) {
        gemm(g.dbl, false, false, g.COg, g.OHW, g.K, A, g.K, B, ldb, 0.0,
             yd + (size_t)((n0 * g.CO + grp * g.COg) * g.OHW) * g.es, g.OHW);
      } else {
        gemm(g.dbl, false, false, g.COg, ncol, g.K, A, g.K, B, ldb, 0.0, tmp, ncol);
        shuffle(&g, yd, tmp, n0, m, grp, true);
      }
    }
  }
  free(col);
  free(tmp);
  if (b) add_bias(&g, yd, b);
  return LT_OK;
}

/* gb[co] = sum over images and positions of gy */
static void bias_grad(const geom *g, lt_tensor *gb, const char *gyd) {
#pragma omp parallel for schedule(static) if (g->N * g->CO * g->OHW > LT_CPU_PARALLEL_GRAIN)
  for (int64_t co = 0; co < g->CO; co++) {
    double acc = 0;
    for (int64_t n = 0; n < g->N; n++) {
      size_t off = (size_t)((n * g->CO + co) * g->OHW);
      if (g->dbl) {
        const double *s = (const double *)gyd + off;
        for (int64_t k = 0; k < g->OHW; k++) acc += s[k];
      } else {
        const float *s = (const float *)gyd + off;
        float part = 0;
        for (int64_t k = 0; k < g->OHW; k++) part += s[k];
        acc += part;
      }
    }
    if (g->dbl) ((double *)lt_tensor_data(gb))[co] = acc;
    else ((float *)lt_tensor_data(gb))[co] = (float)acc;
  }
}

lt_status lt_cpu_conv2d_backward(lt_tensor *gx, lt_tensor *gw, lt_tensor *gb, const lt_tensor *gy,
                                  const lt_tensor *x, const lt_tensor *w, const lt_conv2d_params *p) {
  geom g;
  geom_init(&g, x, w, gy, p);
  const char *gyd = lt_tensor_data(gy), *xd = lt_tensor_data(x), *wd = lt_tensor_data(w);
  char *gxd = gx ? lt_tensor_data(gx) : NULL, *gwd = gw ? lt_tensor_data(gw) : NULL;
  if (gb) bias_grad(&g, gb, gyd);
  if (!gx && !gw) return LT_OK;
  if (g.N == 0 || g.CO == 0 || g.OHW == 0 || g.K == 0) {
    if (gx) memset(gxd, 0, (size_t)lt_tensor_numel(gx) * g.es);
    if (gw) memset(gwd, 0, (size_t)lt_tensor_numel(gw) * g.es);
    return LT_OK;
  }
  int64_t nb = chunk_images(&g);
  size_t cbytes = (size_t)(g.K * nb * g.OHW) * g.es;
  /* col for the weight gradient, gcol for the input gradient, gyt: gy of a
   * multi-image chunk gathered into one matrix. */
  size_t col_bytes = gw && !(g.direct && nb == 1) ? cbytes : 0;
  size_t gcol_bytes = gx && !(g.direct && nb == 1) ? cbytes : 0;
  size_t gyt_bytes = nb > 1 ? (size_t)(g.COg * nb * g.OHW) * g.es : 0;
  char *col = scratch(col_bytes), *gcol = scratch(gcol_bytes), *gyt = scratch(gyt_bytes);
  if ((col_bytes && !col) || (gcol_bytes && !gcol) || (gyt_bytes && !gyt)) {
    free(col);
    free(gcol);
    free(gyt);
    return oom(col_bytes + gcol_bytes + gyt_bytes);
  }
  for (int64_t n0 = 0; n0 < g.N; n0 += nb) {
    int64_t m = g.N - n0 < nb ? g.N - n0 : nb, ncol = m * g.OHW;
    for (int64_t grp = 0; grp < g.G; grp++) {
      const char *GY;
      int64_t ldg;
      if (m == 1) {
        GY = gyd + (size_t)((n0 * g.CO + grp * g.COg) * g.OHW) * g.es;
        ldg = g.OHW;
      } else {
        shuffle(&g, (char *)gyd, gyt, n0, m, grp, false);
        GY = gyt;
        ldg = ncol;
      }
      const char *wg = wd + (size_t)(grp * g.COg * g.K) * g.es;
      bool direct = g.direct && m == 1;
      if (gw) {
        const char *B = col;
        int64_t ldb = ncol;
        if (direct) {
          B = xd + (size_t)((n0 * g.C + grp * g.Cg) * g.HW) * g.es;
          ldb = g.HW;
        } else {
          im2col(&g, col, xd, n0, m, grp);
        }
        /* gw_g [COg, K] (+)= GY [COg, ncol] @ col^T */
        gemm(g.dbl, false, true, g.COg, g.K, ncol, GY, ldg, B, ldb, n0 == 0 ? 0.0 : 1.0,
             gwd + (size_t)(grp * g.COg * g.K) * g.es, g.K);
      }
      if (gx) {
        /* gcol [K, ncol] = w_g^T @ GY */
        if (direct) {
          gemm(g.dbl, true, false, g.K, g.OHW, g.COg, wg, g.K, GY, ldg, 0.0,
               gxd + (size_t)((n0 * g.C + grp * g.Cg) * g.HW) * g.es, g.HW);
        } else {
          gemm(g.dbl, true, false, g.K, ncol, g.COg, wg, g.K, GY, ldg, 0.0, gcol, ncol);
          col2im(&g, gxd, gcol, n0, m, grp);
        }
      }
    }
  }
  free(col);
  free(gcol);
  free(gyt);
  return LT_OK;
}
