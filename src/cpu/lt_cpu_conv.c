/* lt_cpu_conv.c — 2-D convolution on the CPU: im2col + OpenBLAS GEMM, and
 * GEMM + col2im for the input gradient: the path for float64, for strided
 * views, and wherever oneDNN is absent or has no kernel (the choice:
 * lt_cpu_conv_path.c; oneDNN: lt_cpu_conv_dnnl.c). Not the place for shape
 * checks (lt_ops_conv.c) or autograd (lt_ag_conv.c).
 *
 * Layout of the column matrix of one group: row r = (c*KH + kh)*KW + kw
 * (c local to the group, so row order matches the weight [COg, Cg*KH*KW]),
 * column j*OHW + oh*OW + ow for image j of a chunk. Several images share one
 * GEMM when a single image's output plane is small (deep layers: 4x4 planes),
 * so the GEMM's N stays large enough to run at full speed.
 *
 * Threading: with at least as many chunks of images as threads, one OpenMP
 * region hands each thread its own chunks (static split, so results do not
 * depend on timing), its own column buffers and GEMMs (OpenBLAS runs
 * single-threaded: lt_cpu_linalg.c): the column matrix a thread writes is
 * still in its cache when its GEMM reads it. The weight gradient is
 * accumulated per thread and summed in thread order. With fewer chunks than
 * threads (a batch of one) the chunks run on the calling thread.
 *
 * For stride 1 the input gradient is computed as a forward convolution of gy
 * with the flipped kernel (see transposed_geom), which avoids col2im and runs
 * the efficient GEMM shape; strided convolutions use GEMM + col2im. Scratch
 * memory is kept between calls (see workspace).
 *
 * Inner loops have no per-element bounds tests: the range of output columns
 * whose input lies inside the image is worked out once per kernel offset and
 * output row, and the rest is zero-filled. */
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "lt_cpu_iter.h"
#include "lt_cpu_nn.h"

/* Aim for GEMMs with at least this many columns ... */
#define CONV_TARGET_COLS 512
/* ... while a chunk's column buffer stays below this many bytes. */
#define CONV_COL_BYTES (4u << 20)

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

typedef struct {
  int64_t nb, nchunks; /* images per chunk, number of chunks */
  int threads;         /* > 1: OpenMP threads over chunks; 1: chunks on the calling thread */
} plan;

static plan make_plan(const geom *g, int64_t target_cols) {
  plan p;
  int T = lt_cpu_num_threads();
  int64_t nb = (target_cols + g->OHW - 1) / g->OHW;
  int64_t per_image = g->K * g->OHW * (int64_t)g->es;
  int64_t cap = per_image > 0 ? (int64_t)CONV_COL_BYTES / per_image : nb;
  if (nb > cap) nb = cap;
  if (nb > g->N) nb = g->N;
  if (nb < 1) nb = 1;
  /* balance: a multiple of T chunks of (nearly) equal size */
  int64_t nchunks = (g->N + nb - 1) / nb;
  if (T > 1 && g->N >= T) nchunks = (nchunks + T - 1) / T * T;
  p.nb = (g->N + nchunks - 1) / nchunks;
  p.nchunks = (g->N + p.nb - 1) / p.nb;
  p.threads = T > 1 && p.nchunks >= T ? T : 1;
  return p;
}

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

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

/* Zero n elements / copy n elements read with a stride. Short runs (deep
 * layers have 4-wide rows) are plain loops: a libc call per 16 bytes would
 * cost more than the copy. */
static inline void zero_n(char *d, int64_t n, bool dbl) {
  if (n <= 0) return;
  if (n >= 32) { memset(d, 0, (size_t)n * (dbl ? 8 : 4)); return; }
  if (dbl) for (int64_t i = 0; i < n; i++) ((double *)d)[i] = 0;
  else for (int64_t i = 0; i < n; i++) ((float *)d)[i] = 0;
}

static inline void copy_n(char *d, const char *s, int64_t n, int64_t stride, bool dbl) {
  if (stride == 1 && n >= 32) { memcpy(d, s, (size_t)n * (dbl ? 8 : 4)); return; }
  if (dbl) {
    double *dd = (double *)d;
    const double *ss = (const double *)s;
    if (stride == 2) for (int64_t i = 0; i < n; i++) dd[i] = ss[2 * i]; /* constant stride: vectorised */
    else for (int64_t i = 0; i < n; i++) dd[i] = ss[i * stride];
  } else {
    float *dd = (float *)d;
    const float *ss = (const float *)s;
    if (stride == 1) for (int64_t i = 0; i < n; i++) dd[i] = ss[i];
    else if (stride == 2) for (int64_t i = 0; i < n; i++) dd[i] = ss[2 * i];
    else for (int64_t i = 0; i < n; i++) dd[i] = ss[i * stride];
  }
}

/* col [K, m*OHW] from images n0..n0+m-1, channels of group grp: row r is
 * input channel c seen through kernel offset (kh, kw). The valid rectangle of
 * a row is worked out once for all images; rows without horizontal clipping
 * or stride (the kernel's centre column in a stride-1 'same' convolution)
 * are one contiguous copy per image. */
static void im2col(const geom *g, char *col, const char *x, int64_t n0, int64_t m, int64_t grp) {
  int64_t KHW = g->KH * g->KW, ncol = m * g->OHW, OW = g->OW;
  size_t es = g->es;
  for (int64_t r = 0; r < g->K; r++) {
    int64_t c = r / KHW, kh = (r % KHW) / g->KW, kw = r % g->KW;
    int64_t lo, hi, hlo, hhi;
    valid_range(g->W, g->OW, g->sw, g->pw, kw * g->dw, &lo, &hi);
    valid_range(g->H, g->OH, g->sh, g->ph, kh * g->dh, &hlo, &hhi);
    bool whole_rows = g->sw == 1 && g->sh == 1 && lo == 0 && hi == OW && g->W == OW;
    int64_t in0 = (hlo * g->sh - g->ph + kh * g->dh) * g->W + lo * g->sw - g->pw + kw * g->dw;
    for (int64_t j = 0; j < m; j++) {
      const char *plane = x + (size_t)(((n0 + j) * g->C + grp * g->Cg + c) * g->HW) * es;
      char *dst = col + (size_t)(r * ncol + j * g->OHW) * es;
      zero_n(dst, hlo * OW, g->dbl);
      if (whole_rows) {
        if (hhi > hlo) copy_n(dst + (size_t)(hlo * OW) * es, plane + (size_t)in0 * es, (hhi - hlo) * OW, 1, g->dbl);
      } else {
        for (int64_t oh = hlo; oh < hhi; oh++) {
          char *d = dst + (size_t)(oh * OW) * es;
          zero_n(d, lo, g->dbl);
          if (hi > lo) copy_n(d + (size_t)lo * es, plane + (size_t)(in0 + (oh - hlo) * g->sh * g->W) * es, hi - lo, g->sw,
                              g->dbl);
          zero_n(d + (size_t)hi * es, OW - hi, g->dbl);
        }
      }
      zero_n(dst + (size_t)(hhi * OW) * es, (g->OH - hhi) * OW, g->dbl);
    }
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
      if (sw == 1) for (int64_t i = 0; i < n; i++) d[i] += s[i];
      else if (sw == 2) for (int64_t i = 0; i < n; i++) d[2 * i] += s[i];
      else for (int64_t i = 0; i < n; i++) d[i * sw] += s[i];
    }
  }
}

/* gx planes of images n0..n0+m-1, group grp = col2im(gcol [K, m*OHW]). */
static void col2im(const geom *g, char *gx, const char *gcol, int64_t n0, int64_t m, int64_t grp) {
  int64_t KHW = g->KH * g->KW, ncol = m * g->OHW, tasks = m * g->Cg;
  size_t es = g->es;
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
  for (int64_t i = 0; i < tasks; i++) {
    int64_t j = i / g->COg, co = i % g->COg;
    char *tp = t + (size_t)(((n0 + j) * g->CO + grp * g->COg + co) * g->OHW) * g->es;
    char *mp = mat + (size_t)(co * ncol + j * g->OHW) * g->es;
    if (to_tensor) memcpy(tp, mp, bytes);
    else memcpy(mp, tp, bytes);
  }
}

/* y planes of images n0..n0+m-1 += bias */
static void add_bias(const geom *g, char *y, const lt_tensor *b, int64_t n0, int64_t m) {
  int64_t p0 = n0 * g->CO, planes = m * g->CO;
  for (int64_t i = p0; i < p0 + planes; i++) {
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

static lt_status oom(size_t bytes) {
  return lt_error_set(LT_ERR_OOM, 0, "out of host memory allocating a %zu-byte convolution workspace", bytes);
}

/* The workspace is kept between calls (grown, never shrunk) by the thread
 * that calls the kernels: training calls the same shapes every step, and
 * fresh multi-megabyte allocations would cost a page fault per 4 KiB. */
static _Thread_local struct { char *p; size_t n; } ws_cache;

static char *workspace(size_t bytes) {
  if (bytes <= ws_cache.n) return ws_cache.p;
  free(ws_cache.p);
  ws_cache.p = aligned_alloc(64, align64(bytes));
  ws_cache.n = ws_cache.p ? bytes : 0;
  return ws_cache.p;
}

/* One thread's scratch: column matrix, the column matrix of the input
 * gradient, y or gy of a multi-image chunk gathered into one matrix (two
 * shapes: mat [COg, m*OHW], mat2 [Cg, m*HW]), a private weight gradient. */
typedef struct { char *col, *gcol, *mat, *mat2, *gw; } work;

typedef struct { size_t col, gcol, mat, mat2, gw; } work_sizes;

static size_t work_total(const work_sizes *s) {
  return align64(s->col) + align64(s->gcol) + align64(s->mat) + align64(s->mat2) + align64(s->gw);
}

static work work_at(char *base, const work_sizes *s) {
  work w;
  char **slot[5] = {&w.col, &w.gcol, &w.mat, &w.mat2, &w.gw};
  const size_t sz[5] = {s->col, s->gcol, s->mat, s->mat2, s->gw};
  for (int i = 0; i < 5; i++) {
    *slot[i] = sz[i] ? base : NULL;
    base += align64(sz[i]);
  }
  return w;
}

/* y of images n0..n0+m-1 (col and mat: the thread's buffers) */
static void fwd_chunk(const geom *g, char *yd, const char *xd, const char *wd, const lt_tensor *b, int64_t n0,
                      int64_t m, char *col, char *mat) {
  int64_t ncol = m * g->OHW;
  for (int64_t grp = 0; grp < g->G; grp++) {
    const char *B = col;
    int64_t ldb = ncol;
    if (g->direct && m == 1) {
      B = xd + (size_t)((n0 * g->C + grp * g->Cg) * g->HW) * g->es;
      ldb = g->HW;
    } else {
      im2col(g, col, xd, n0, m, grp);
    }
    const char *A = wd + (size_t)(grp * g->COg * g->K) * g->es;
    if (m == 1) {
      gemm(g->dbl, false, false, g->COg, g->OHW, g->K, A, g->K, B, ldb, 0.0,
           yd + (size_t)((n0 * g->CO + grp * g->COg) * g->OHW) * g->es, g->OHW);
    } else {
      gemm(g->dbl, false, false, g->COg, ncol, g->K, A, g->K, B, ldb, 0.0, mat, ncol);
      shuffle(g, yd, mat, n0, m, grp, true);
    }
  }
  if (b) add_bias(g, yd, b, n0, m);
}

lt_status lt_cpu_im2col_conv2d_forward(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b,
                                        const lt_conv2d_params *p) {
  geom g;
  geom_init(&g, x, w, y, p);
  char *yd = lt_tensor_data(y);
  const char *xd = lt_tensor_data(x), *wd = lt_tensor_data(w);
  if (g.N == 0 || g.CO == 0 || g.OHW == 0) return LT_OK;
  if (g.K == 0) { /* no input channels: the bias alone */
    memset(yd, 0, (size_t)lt_tensor_numel(y) * g.es);
    if (b) add_bias(&g, yd, b, 0, g.N);
    return LT_OK;
  }
  plan pl = make_plan(&g, CONV_TARGET_COLS);
  work_sizes ws = {0, 0, 0, 0, 0};
  if (!(g.direct && pl.nb == 1)) ws.col = (size_t)(g.K * pl.nb * g.OHW) * g.es;
  if (pl.nb > 1) ws.mat = (size_t)(g.COg * pl.nb * g.OHW) * g.es;
  size_t per = work_total(&ws), total = per * (size_t)pl.threads;
  char *buf = total ? workspace(total) : NULL;
  if (total && !buf) return oom(total);
  if (pl.threads == 1) {
    work wk = work_at(buf, &ws);
    for (int64_t n0 = 0; n0 < g.N; n0 += pl.nb)
      fwd_chunk(&g, yd, xd, wd, b, n0, g.N - n0 < pl.nb ? g.N - n0 : pl.nb, wk.col, wk.mat);
  } else {
#pragma omp parallel num_threads(pl.threads)
    {
      work wk = work_at(buf + per * (size_t)omp_get_thread_num(), &ws);
#pragma omp for schedule(static)
      for (int64_t c = 0; c < pl.nchunks; c++) {
        int64_t n0 = c * pl.nb;
        fwd_chunk(&g, yd, xd, wd, b, n0, g.N - n0 < pl.nb ? g.N - n0 : pl.nb, wk.col, wk.mat);
      }
    }
  }
  return LT_OK;
}

/* gb[co] = sum over images and positions of gy */
static void bias_grad_of(const geom *g, lt_tensor *gb, const char *gyd) {
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

/* For stride 1, the input gradient is itself a convolution: of gy, with the
 * kernel flipped and its in/out channels swapped, padding d*(k-1) - p. That
 * runs as the efficient forward GEMM [Cg, COg*KH*KW] x [COg*KH*KW, HW] and
 * writes gx directly, instead of a GEMM with inner size COg into a column
 * matrix that col2im then scatters back. Fills *t and returns true when it
 * applies. */
static bool transposed_geom(const geom *g, geom *t) {
  int64_t ph = g->dh * (g->KH - 1) - g->ph, pw = g->dw * (g->KW - 1) - g->pw;
  if (g->sh != 1 || g->sw != 1 || ph < 0 || pw < 0 || g->direct) return false;
  *t = *g;
  t->C = g->CO; t->H = g->OH; t->W = g->OW;
  t->CO = g->C; t->OH = g->H; t->OW = g->W;
  t->ph = ph; t->pw = pw;
  t->Cg = g->COg; t->COg = g->Cg;
  t->K = g->COg * g->KH * g->KW;
  t->HW = g->OHW; t->OHW = g->HW;
  return true;
}

/* wt[grp][c][(co*KH + kh)*KW + kw] = w[grp*COg + co][c][KH-1-kh][KW-1-kw] */
static void flip_weight(const geom *g, char *wt, const char *wd) {
  int64_t KHW = g->KH * g->KW, rows = g->CO * g->Cg;
#pragma omp parallel for schedule(static) if (rows * KHW > LT_CPU_PARALLEL_GRAIN)
  for (int64_t i = 0; i < rows; i++) { /* i = co*Cg + c: one kernel of w */
    int64_t co = i / g->Cg, c = i % g->Cg, grp = co / g->COg;
    int64_t j = ((grp * g->Cg + c) * g->COg + co % g->COg) * KHW;
    if (g->dbl) {
      const double *s = (const double *)wd + i * KHW;
      double *d = (double *)wt + j;
      for (int64_t k = 0; k < KHW; k++) d[k] = s[KHW - 1 - k];
    } else {
      const float *s = (const float *)wd + i * KHW;
      float *d = (float *)wt + j;
      for (int64_t k = 0; k < KHW; k++) d[k] = s[KHW - 1 - k];
    }
  }
}

/* Gradients from images n0..n0+m-1: gx planes written (through the
 * transposed geometry t when not NULL, with the flipped weight wt), gw
 * accumulated into gwacc ([CO, K]; overwritten when `first`). */
static void bwd_chunk(const geom *g, const geom *t, char *gxd, char *gwacc, const char *gyd, const char *xd,
                      const char *wd, const char *wt, int64_t n0, int64_t m, const work *wk, bool first) {
  int64_t ncol = m * g->OHW;
  bool direct = g->direct && m == 1;
  if (gxd && t) fwd_chunk(t, gxd, gyd, wt, NULL, n0, m, wk->gcol, wk->mat2);
  if (!gwacc && (!gxd || t)) return;
  for (int64_t grp = 0; grp < g->G; grp++) {
    const char *GY;
    int64_t ldg;
    if (m == 1) {
      GY = gyd + (size_t)((n0 * g->CO + grp * g->COg) * g->OHW) * g->es;
      ldg = g->OHW;
    } else {
      shuffle(g, (char *)gyd, wk->mat, n0, m, grp, false);
      GY = wk->mat;
      ldg = ncol;
    }
    if (gwacc) {
      const char *B = wk->col;
      int64_t ldb = ncol;
      if (direct) {
        B = xd + (size_t)((n0 * g->C + grp * g->Cg) * g->HW) * g->es;
        ldb = g->HW;
      } else {
        im2col(g, wk->col, xd, n0, m, grp);
      }
      /* gw_g [COg, K] (+)= GY [COg, ncol] @ col^T */
      gemm(g->dbl, false, true, g->COg, g->K, ncol, GY, ldg, B, ldb, first ? 0.0 : 1.0,
           gwacc + (size_t)(grp * g->COg * g->K) * g->es, g->K);
    }
    if (gxd && !t) {
      /* gcol [K, ncol] = w_g^T @ GY, scattered back onto the image */
      const char *wg = wd + (size_t)(grp * g->COg * g->K) * g->es;
      if (direct) {
        gemm(g->dbl, true, false, g->K, g->OHW, g->COg, wg, g->K, GY, ldg, 0.0,
             gxd + (size_t)((n0 * g->C + grp * g->Cg) * g->HW) * g->es, g->HW);
      } else {
        gemm(g->dbl, true, false, g->K, ncol, g->COg, wg, g->K, GY, ldg, 0.0, wk->gcol, ncol);
        col2im(g, gxd, wk->gcol, n0, m, grp);
      }
    }
  }
}

/* gb[co] = sum of gy[.., co, .., ..] over the other axes of the channels-last
 * gy: a column sum of the [N*OH*OW, CO] matrix, in double, row by row. */
static lt_status bias_grad_channels_last(lt_tensor *gb, const lt_tensor *gy) {
  int64_t CO = gy->shape[1], rows = gy->shape[0] * gy->shape[2] * gy->shape[3];
  bool dbl = gy->dtype == LT_FLOAT64;
  double *acc = calloc((size_t)CO + 1, sizeof *acc);
  if (!acc) return oom((size_t)(CO + 1) * sizeof *acc);
  const char *d = lt_tensor_data(gy);
  for (int64_t r = 0; r < rows; r++)
    for (int64_t co = 0; co < CO; co++) acc[co] += ldv(d, dbl, r * CO + co);
  for (int64_t co = 0; co < CO; co++) stv(lt_tensor_data(gb), dbl, co, acc[co]);
  free(acc);
  return LT_OK;
}

lt_status lt_cpu_conv2d_bias_grad(lt_tensor *gb, const lt_tensor *gy) {
  if (!lt_tensor_is_contiguous(gy)) return bias_grad_channels_last(gb, gy);
  geom g;
  memset(&g, 0, sizeof g);
  g.N = gy->shape[0]; g.CO = gy->shape[1]; g.OHW = gy->shape[2] * gy->shape[3];
  g.dbl = gy->dtype == LT_FLOAT64;
  bias_grad_of(&g, gb, lt_tensor_data(gy));
  return LT_OK;
}

lt_status lt_cpu_im2col_conv2d_backward(lt_tensor *gx, lt_tensor *gw, lt_tensor *gb, const lt_tensor *gy,
                                         const lt_tensor *x, const lt_tensor *w, const lt_conv2d_params *p) {
  geom g, tg;
  geom_init(&g, x, w, gy, p);
  const char *gyd = lt_tensor_data(gy), *xd = lt_tensor_data(x), *wd = lt_tensor_data(w);
  char *gxd = gx ? lt_tensor_data(gx) : NULL, *gwd = gw ? lt_tensor_data(gw) : NULL;
  if (gb) LT_TRY(lt_cpu_conv2d_bias_grad(gb, gy));
  if (!gx && !gw) return LT_OK;
  if (g.N == 0 || g.CO == 0 || g.OHW == 0 || g.K == 0) {
    if (gx && lt_tensor_numel(gx) > 0) memset(gxd, 0, (size_t)lt_tensor_numel(gx) * g.es);
    if (gw && lt_tensor_numel(gw) > 0) memset(gwd, 0, (size_t)lt_tensor_numel(gw) * g.es);
    return LT_OK;
  }
  plan pl = make_plan(&g, CONV_TARGET_COLS);
  bool direct = g.direct && pl.nb == 1, flip = gx && transposed_geom(&g, &tg);
  work_sizes ws = {0, 0, 0, 0, 0};
  size_t wbytes = (size_t)(g.CO * g.K) * g.es;
  if (gw && !direct) ws.col = (size_t)(g.K * pl.nb * g.OHW) * g.es;
  if (flip) ws.gcol = (size_t)(tg.K * pl.nb * tg.OHW) * g.es;
  else if (gx && !direct) ws.gcol = (size_t)(g.K * pl.nb * g.OHW) * g.es;
  if (pl.nb > 1 && (gw || !flip)) ws.mat = (size_t)(g.COg * pl.nb * g.OHW) * g.es;
  if (pl.nb > 1 && flip) ws.mat2 = (size_t)(tg.COg * pl.nb * tg.OHW) * g.es;
  if (gw && pl.threads > 1) ws.gw = wbytes;
  size_t per = work_total(&ws), shared = flip ? align64(wbytes) : 0, total = shared + per * (size_t)pl.threads;
  char *buf = workspace(total);
  if (!buf) return oom(total);
  char *wt = flip ? buf : NULL, *pbuf = buf + shared;
  if (flip) flip_weight(&g, wt, wd);
  const geom *t = flip ? &tg : NULL;
  if (pl.threads == 1) {
    work wk = work_at(pbuf, &ws);
    for (int64_t n0 = 0; n0 < g.N; n0 += pl.nb)
      bwd_chunk(&g, t, gxd, gwd, gyd, xd, wd, wt, n0, g.N - n0 < pl.nb ? g.N - n0 : pl.nb, &wk, n0 == 0);
  } else {
    bool touched[256] = {false}; /* threads that accumulated a weight gradient */
    int T = pl.threads < 256 ? pl.threads : 256;
#pragma omp parallel num_threads(T)
    {
      int tid = omp_get_thread_num();
      work wk = work_at(pbuf + per * (size_t)tid, &ws);
      bool first = true;
#pragma omp for schedule(static)
      for (int64_t c = 0; c < pl.nchunks; c++) {
        int64_t n0 = c * pl.nb;
        /* thread 0 (which always has the first chunk) accumulates into gw itself */
        bwd_chunk(&g, t, gxd, tid == 0 ? gwd : wk.gw, gyd, xd, wd, wt, n0, g.N - n0 < pl.nb ? g.N - n0 : pl.nb, &wk,
                  first);
        first = false;
      }
      touched[tid] = !first;
    }
    if (gw) {
      /* add the other threads' weight gradients in thread order (deterministic) */
      const char *acc[256];
      int na = 0;
      size_t gw_off = work_total(&ws) - align64(ws.gw);
      for (int k = 1; k < T; k++)
        if (touched[k]) acc[na++] = pbuf + per * (size_t)k + gw_off;
      int64_t nw = g.CO * g.K, blk = 4096, nblk = (nw + blk - 1) / blk;
#pragma omp parallel for schedule(static) if (nw * na > LT_CPU_PARALLEL_GRAIN)
      for (int64_t bi = 0; bi < nblk; bi++) {
        int64_t i0 = bi * blk, n = nw - i0 < blk ? nw - i0 : blk;
        if (g.dbl) {
          double *d = (double *)gwd + i0;
          for (int k = 0; k < na; k++) {
            const double *a = (const double *)acc[k] + i0;
            for (int64_t i = 0; i < n; i++) d[i] += a[i];
          }
        } else {
          float *d = (float *)gwd + i0;
          for (int k = 0; k < na; k++) {
            const float *a = (const float *)acc[k] + i0;
            for (int64_t i = 0; i < n; i++) d[i] += a[i];
          }
        }
      }
    }
  }
  return LT_OK;
}
