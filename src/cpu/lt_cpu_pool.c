/* lt_cpu_pool.c — 2-D max, average and adaptive average pooling on the CPU,
 * forward and backward, on NCHW or channels-last (NHWC) tensors. Each entry
 * reads its call's layout from the strides (all of a call's tensors are in
 * one layout, lt_backend_nn.h) and runs that layout's loops:
 *   NCHW: x as N*C independent [H,W] planes, one plane per OpenMP task;
 *   NHWC: the channel innermost, in blocks of CB channels whose loops
 *   vectorise; a forward task is one (n, oh) row of outputs, a backward
 *   task one (n, block of channels), scattering over its planes in output
 *   order.
 * Both layouts give the same bits: an output sums (or compares) its window
 * in the same order (rows, then columns), a gradient element receives its
 * terms in the same order (by output), added in the gradient's dtype, and
 * max-pool indices are ih*W + iw within the plane in either layout. Window
 * arithmetic follows PyTorch's exactly (the padded extent counts towards the
 * average's divisor when count_include_pad; adaptive windows are
 * [floor(o*H/OH), ceil((o+1)*H/OH))), and the max's comparison (the first
 * maximum wins, NaN propagates) and first index are lt_pool_rules.h's, shared
 * with the CUDA kernels. Sums are kept in double. The dtype test inside the
 * NCHW loops is loop-invariant (-O3 unswitches it); the NHWC loops test it
 * once per block of channels.
 *
 * Not here: argument checks and output allocation (src/core/lt_ops_pool.c),
 * bfloat16 (lt_cpu_bf16.c widens to float32, keeping the layout). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "lt_cpu_iter.h"
#include "lt_cpu_nn.h"
#include "lt_pool_rules.h"

/* Channels per block of the NHWC loops: the length of their stack buffers,
 * and the channel slice a backward task owns. */
#define CB 32

static inline void addv(void *p, bool dbl, int64_t i, double v) {
  if (dbl) ((double *)p)[i] += v;
  else ((float *)p)[i] += (float)v;
}

/* Whether a call's tensors (NULL skipped) are channels-last: false when all
 * are contiguous, true when all are channels-last and one is not
 * contiguous. A tensor in both formats (C == 1, or 1x1 planes) has the same
 * addresses under either, so either layout's loops read it right. */
static lt_status call_layout(const char *what, int n, const lt_tensor *const *t, bool *cl) {
  lt_cpu_layout l = lt_cpu_call_layout(n, t);
  *cl = l == LT_CPU_NHWC;
  if (l != LT_CPU_MIXED) return LT_OK;
  return lt_error_set(LT_ERR_ARG, 0, "%s: expected its tensors all contiguous or all channels-last", what);
}

/* --- NCHW: one [H,W] plane per task ------------------------------------------------------------- */

static void max_pool2d_forward_nchw(lt_tensor *y, lt_tensor *idx, const lt_tensor *x, const lt_pool2d_params *p) {
  int64_t P = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3];
  bool dbl = x->dtype == LT_FLOAT64;
  const char *xd = lt_tensor_data(x);
  char *yd = lt_tensor_data(y);
  int64_t *id = lt_tensor_data(idx);
  size_t es = lt_dtype_size(x->dtype);
#pragma omp parallel for schedule(static) if (P * OH * OW * p->kernel[0] * p->kernel[1] > LT_CPU_PARALLEL_GRAIN)
  for (int64_t pl = 0; pl < P; pl++) {
    const char *xp = xd + (size_t)(pl * H * W) * es;
    char *yp = yd + (size_t)(pl * OH * OW) * es;
    int64_t *ip = id + pl * OH * OW;
    for (int64_t oh = 0; oh < OH; oh++) {
      int64_t hs = oh * p->stride[0] - p->padding[0], khl, khh;
      lt_pool_taps(hs, H, p->kernel[0], p->dilation[0], &khl, &khh);
      for (int64_t ow = 0; ow < OW; ow++) {
        int64_t ws = ow * p->stride[1] - p->padding[1], kwl, kwh;
        lt_pool_taps(ws, W, p->kernel[1], p->dilation[1], &kwl, &kwh);
        double best = -INFINITY;
        int64_t bi = lt_pool_max_first(hs, khl, khh, ws, kwl, kwh, p->dilation[0], p->dilation[1], W);
        for (int64_t kh = khl; kh < khh; kh++) {
          int64_t row = (hs + kh * p->dilation[0]) * W;
          for (int64_t kw = kwl; kw < kwh; kw++) {
            int64_t i = row + ws + kw * p->dilation[1];
            double v = ldv(xp, dbl, i);
            if (lt_pool_max_takes(v, best)) { best = v; bi = i; }
          }
        }
        stv(yp, dbl, oh * OW + ow, best);
        ip[oh * OW + ow] = bi;
      }
    }
  }
}

/* One plane per task, its outputs scattered in order. */
static void max_pool2d_backward_nchw(lt_tensor *gx, const lt_tensor *gy, const lt_tensor *idx) {
  int64_t P = gx->shape[0] * gx->shape[1], HW = gx->shape[2] * gx->shape[3], OHW = gy->shape[2] * gy->shape[3];
  bool dbl = gx->dtype == LT_FLOAT64;
  size_t es = lt_dtype_size(gx->dtype);
  char *gxd = lt_tensor_data(gx);
  const char *gyd = lt_tensor_data(gy);
  const int64_t *id = lt_tensor_data(idx);
#pragma omp parallel for schedule(static) if (P * (HW + OHW) > LT_CPU_PARALLEL_GRAIN)
  for (int64_t pl = 0; pl < P; pl++) {
    char *gp = gxd + (size_t)(pl * HW) * es;
    const char *yp = gyd + (size_t)(pl * OHW) * es;
    const int64_t *ip = id + pl * OHW;
    memset(gp, 0, (size_t)HW * es);
    for (int64_t o = 0; o < OHW; o++)
      if (ip[o] >= 0) addv(gp, dbl, ip[o], ldv(yp, dbl, o));
  }
}


static void avg_pool2d_forward_nchw(lt_tensor *y, const lt_tensor *x, const lt_pool2d_params *p) {
  int64_t P = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3];
  bool dbl = x->dtype == LT_FLOAT64;
  size_t es = lt_dtype_size(x->dtype);
  const char *xd = lt_tensor_data(x);
  char *yd = lt_tensor_data(y);
#pragma omp parallel for schedule(static) if (P * OH * OW * p->kernel[0] * p->kernel[1] > LT_CPU_PARALLEL_GRAIN)
  for (int64_t pl = 0; pl < P; pl++) {
    const char *xp = xd + (size_t)(pl * H * W) * es;
    char *yp = yd + (size_t)(pl * OH * OW) * es;
    for (int64_t oh = 0; oh < OH; oh++)
      for (int64_t ow = 0; ow < OW; ow++) {
        lt_pool_avg_win a = lt_pool_avg_window(p, H, W, oh, ow);
        double s = 0;
        for (int64_t ih = a.h0; ih < a.h1; ih++)
          for (int64_t iw = a.w0; iw < a.w1; iw++) s += ldv(xp, dbl, ih * W + iw);
        stv(yp, dbl, oh * OW + ow, a.h0 >= a.h1 || a.w0 >= a.w1 ? 0.0 : s / a.div);
      }
  }
}

static void avg_pool2d_backward_nchw(lt_tensor *gx, const lt_tensor *gy, const lt_pool2d_params *p) {
  int64_t P = gx->shape[0] * gx->shape[1], H = gx->shape[2], W = gx->shape[3], OH = gy->shape[2], OW = gy->shape[3];
  bool dbl = gx->dtype == LT_FLOAT64;
  size_t es = lt_dtype_size(gx->dtype);
  char *gxd = lt_tensor_data(gx);
  const char *gyd = lt_tensor_data(gy);
#pragma omp parallel for schedule(static) if (P * OH * OW * p->kernel[0] * p->kernel[1] > LT_CPU_PARALLEL_GRAIN)
  for (int64_t pl = 0; pl < P; pl++) {
    char *gp = gxd + (size_t)(pl * H * W) * es;
    const char *yp = gyd + (size_t)(pl * OH * OW) * es;
    memset(gp, 0, (size_t)(H * W) * es);
    for (int64_t oh = 0; oh < OH; oh++)
      for (int64_t ow = 0; ow < OW; ow++) {
        lt_pool_avg_win a = lt_pool_avg_window(p, H, W, oh, ow);
        if (a.h0 >= a.h1 || a.w0 >= a.w1) continue;
        double g = ldv(yp, dbl, oh * OW + ow) / a.div;
        for (int64_t ih = a.h0; ih < a.h1; ih++)
          for (int64_t iw = a.w0; iw < a.w1; iw++) addv(gp, dbl, ih * W + iw, g);
      }
  }
}


static void adaptive_avg_pool2d_forward_nchw(lt_tensor *y, const lt_tensor *x) {
  int64_t P = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3];
  bool dbl = x->dtype == LT_FLOAT64;
  size_t es = lt_dtype_size(x->dtype);
  const char *xd = lt_tensor_data(x);
  char *yd = lt_tensor_data(y);
#pragma omp parallel for schedule(static) if (P * (H * W + OH * OW) > LT_CPU_PARALLEL_GRAIN)
  for (int64_t pl = 0; pl < P; pl++) {
    const char *xp = xd + (size_t)(pl * H * W) * es;
    char *yp = yd + (size_t)(pl * OH * OW) * es;
    for (int64_t oh = 0; oh < OH; oh++) {
      int64_t h0 = lt_pool_adaptive_start(oh, H, OH), h1 = lt_pool_adaptive_end(oh, H, OH);
      for (int64_t ow = 0; ow < OW; ow++) {
        int64_t w0 = lt_pool_adaptive_start(ow, W, OW), w1 = lt_pool_adaptive_end(ow, W, OW);
        double s = 0;
        for (int64_t ih = h0; ih < h1; ih++)
          for (int64_t iw = w0; iw < w1; iw++) s += ldv(xp, dbl, ih * W + iw);
        stv(yp, dbl, oh * OW + ow, s / (double)((h1 - h0) * (w1 - w0)));
      }
    }
  }
}

static void adaptive_avg_pool2d_backward_nchw(lt_tensor *gx, const lt_tensor *gy) {
  int64_t P = gx->shape[0] * gx->shape[1], H = gx->shape[2], W = gx->shape[3], OH = gy->shape[2], OW = gy->shape[3];
  bool dbl = gx->dtype == LT_FLOAT64;
  size_t es = lt_dtype_size(gx->dtype);
  char *gxd = lt_tensor_data(gx);
  const char *gyd = lt_tensor_data(gy);
#pragma omp parallel for schedule(static) if (P * (H * W + OH * OW) > LT_CPU_PARALLEL_GRAIN)
  for (int64_t pl = 0; pl < P; pl++) {
    char *gp = gxd + (size_t)(pl * H * W) * es;
    const char *yp = gyd + (size_t)(pl * OH * OW) * es;
    memset(gp, 0, (size_t)(H * W) * es);
    for (int64_t oh = 0; oh < OH; oh++) {
      int64_t h0 = lt_pool_adaptive_start(oh, H, OH), h1 = lt_pool_adaptive_end(oh, H, OH);
      for (int64_t ow = 0; ow < OW; ow++) {
        int64_t w0 = lt_pool_adaptive_start(ow, W, OW), w1 = lt_pool_adaptive_end(ow, W, OW);
        double g = ldv(yp, dbl, oh * OW + ow) / (double)((h1 - h0) * (w1 - w0));
        for (int64_t ih = h0; ih < h1; ih++)
          for (int64_t iw = w0; iw < w1; iw++) addv(gp, dbl, ih * W + iw, g);
      }
    }
  }
}

/* --- NHWC: the channel innermost, in blocks of CB ----------------------------------------------- */
/* Rows of n channels, float32 or float64 (dbl); the dtype test is outside
 * each loop, so the loops vectorise. */

/* A block's row of values in the call's dtype, on the stack. */
typedef union { double d[CB]; float f[CB]; } block_row;
#define ROW_OF(r, dbl) ((dbl) ? (void *)(r).d : (void *)(r).f)

/* Max windows over a block of n channels: best[c] (x's dtype) and bi[c]
 * (the index type IT, int32_t or int64_t) start at -inf and `first`, and
 * each tap i of the window updates them by lt_pool_max_takes. A float32
 * compares as its float64 widening does (exactly), so best stays in x's
 * dtype. With 32-bit indices the loops vectorise on every x86-64 (64-bit
 * blends need AVX2), so planes under 2^31 positions use them. */
#define LT_ROW_MAX(NAME, IT)                                                                                    \
  static inline void NAME##_init(void *best, IT *bi, int64_t first, bool dbl, int64_t n) {                      \
    if (dbl)                                                                                                      \
      for (int64_t c = 0; c < n; c++) { ((double *)best)[c] = -INFINITY; bi[c] = (IT)first; }                    \
    else                                                                                                          \
      for (int64_t c = 0; c < n; c++) { ((float *)best)[c] = -INFINITY; bi[c] = (IT)first; }                     \
  }                                                                                                               \
  static inline void NAME(void *restrict best, IT *restrict bi, const void *restrict x, int64_t i, bool dbl,      \
                          int64_t n) {                                                                            \
    if (dbl) {                                                                                                    \
      double *b = best;                                                                                           \
      const double *v = x;                                                                                        \
      for (int64_t c = 0; c < n; c++) {                                                                           \
        bool take = lt_pool_max_takes(v[c], b[c]);                                                                \
        b[c] = take ? v[c] : b[c];                                                                                \
        bi[c] = take ? (IT)i : bi[c];                                                                             \
      }                                                                                                           \
    } else {                                                                                                      \
      float *b = best;                                                                                            \
      const float *v = x;                                                                                         \
      for (int64_t c = 0; c < n; c++) {                                                                           \
        bool take = lt_pool_max_takes(v[c], b[c]);                                                                \
        b[c] = take ? v[c] : b[c];                                                                                \
        bi[c] = take ? (IT)i : bi[c];                                                                             \
      }                                                                                                           \
    }                                                                                                             \
  }
LT_ROW_MAX(row_max32, int32_t)
LT_ROW_MAX(row_max64, int64_t)
#undef LT_ROW_MAX

/* s[c] += x[c] */
static inline void row_sum(double *restrict s, const void *restrict x, bool dbl, int64_t n) {
  if (dbl)
    for (int64_t c = 0; c < n; c++) s[c] += ((const double *)x)[c];
  else
    for (int64_t c = 0; c < n; c++) s[c] += ((const float *)x)[c];
}

/* y[c] = s[c] / div, rounded to y's dtype */
static inline void row_div(void *restrict y, const double *restrict s, double div, bool dbl, int64_t n) {
  if (dbl)
    for (int64_t c = 0; c < n; c++) ((double *)y)[c] = s[c] / div;
  else
    for (int64_t c = 0; c < n; c++) ((float *)y)[c] = (float)(s[c] / div);
}

/* g[c] = gy[c] / div, rounded to the gradient's dtype (g holds n of them) */
static inline void row_grad(void *restrict g, const void *restrict gy, double div, bool dbl, int64_t n) {
  if (dbl)
    for (int64_t c = 0; c < n; c++) ((double *)g)[c] = ((const double *)gy)[c] / div;
  else
    for (int64_t c = 0; c < n; c++) ((float *)g)[c] = (float)((double)((const float *)gy)[c] / div);
}

/* gx[c] += g[c], in the gradient's dtype */
static inline void row_add(void *restrict gx, const void *restrict g, bool dbl, int64_t n) {
  if (dbl)
    for (int64_t c = 0; c < n; c++) ((double *)gx)[c] += ((const double *)g)[c];
  else
    for (int64_t c = 0; c < n; c++) ((float *)gx)[c] += ((const float *)g)[c];
}

/* The block of channels [c0, c0+cb) of every position of one image's
 * plane: gx (at channel c0 of position 0) zeroed, HW positions C apart. */
static inline void block_zero(char *gx, int64_t HW, int64_t C, int64_t cb, size_t es) {
  for (int64_t i = 0; i < HW; i++) memset(gx + (size_t)(i * C) * es, 0, (size_t)cb * es);
}

static void max_pool2d_forward_nhwc(lt_tensor *y, lt_tensor *idx, const lt_tensor *x, const lt_pool2d_params *p) {
  int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3];
  bool dbl = x->dtype == LT_FLOAT64;
  size_t es = lt_dtype_size(x->dtype);
  const char *xd = lt_tensor_data(x);
  char *yd = lt_tensor_data(y);
  int64_t *id = lt_tensor_data(idx);
  bool narrow = H * W <= INT32_MAX;
#pragma omp parallel for collapse(2) schedule(static) \
    if (N * C * OH * OW * p->kernel[0] * p->kernel[1] > LT_CPU_PARALLEL_GRAIN)
  for (int64_t n = 0; n < N; n++)
    for (int64_t oh = 0; oh < OH; oh++) {
      const char *xn = xd + (size_t)(n * H * W * C) * es;
      block_row b;
      void *best = ROW_OF(b, dbl);
      int32_t bi[CB];
      int64_t hs = oh * p->stride[0] - p->padding[0], khl, khh;
      lt_pool_taps(hs, H, p->kernel[0], p->dilation[0], &khl, &khh);
      for (int64_t ow = 0; ow < OW; ow++) {
        int64_t ws = ow * p->stride[1] - p->padding[1], kwl, kwh;
        lt_pool_taps(ws, W, p->kernel[1], p->dilation[1], &kwl, &kwh);
        int64_t first = lt_pool_max_first(hs, khl, khh, ws, kwl, kwh, p->dilation[0], p->dilation[1], W);
        int64_t o = ((n * OH + oh) * OW + ow) * C;
        for (int64_t c0 = 0; c0 < C; c0 += CB) {
          int64_t cb = C - c0 < CB ? C - c0 : CB;
          char *yb = yd + (size_t)(o + c0) * es;
          int64_t *ib = id + o + c0;
          if (narrow) { /* the block's best in x's dtype and its indices as int32, then stored */
            row_max32_init(best, bi, first, dbl, cb);
            for (int64_t kh = khl; kh < khh; kh++) {
              int64_t row = (hs + kh * p->dilation[0]) * W;
              for (int64_t kw = kwl; kw < kwh; kw++) {
                int64_t i = row + ws + kw * p->dilation[1];
                row_max32(best, bi, xn + (size_t)(i * C + c0) * es, i, dbl, cb);
              }
            }
            memcpy(yb, best, (size_t)cb * es);
            for (int64_t c = 0; c < cb; c++) ib[c] = bi[c];
          } else { /* straight into y and idx */
            row_max64_init(yb, ib, first, dbl, cb);
            for (int64_t kh = khl; kh < khh; kh++) {
              int64_t row = (hs + kh * p->dilation[0]) * W;
              for (int64_t kw = kwl; kw < kwh; kw++) {
                int64_t i = row + ws + kw * p->dilation[1];
                row_max64(yb, ib, xn + (size_t)(i * C + c0) * es, i, dbl, cb);
              }
            }
          }
        }
      }
    }
}

/* One (image, block of channels) per task: gy scattered in output order. */
static void max_pool2d_backward_nhwc(lt_tensor *gx, const lt_tensor *gy, const lt_tensor *idx) {
  int64_t N = gx->shape[0], C = gx->shape[1], HW = gx->shape[2] * gx->shape[3], OHW = gy->shape[2] * gy->shape[3];
  int64_t NB = (C + CB - 1) / CB;
  bool dbl = gx->dtype == LT_FLOAT64;
  size_t es = lt_dtype_size(gx->dtype);
  char *gxd = lt_tensor_data(gx);
  const char *gyd = lt_tensor_data(gy);
  const int64_t *id = lt_tensor_data(idx);
#pragma omp parallel for collapse(2) schedule(static) if (N * C * (HW + OHW) > LT_CPU_PARALLEL_GRAIN)
  for (int64_t n = 0; n < N; n++)
    for (int64_t b = 0; b < NB; b++) {
      int64_t c0 = b * CB, cb = C - c0 < CB ? C - c0 : CB;
      char *gn = gxd + (size_t)(n * HW * C + c0) * es;
      const char *yn = gyd + (size_t)(n * OHW * C + c0) * es;
      const int64_t *in = id + n * OHW * C + c0;
      block_zero(gn, HW, C, cb, es);
      for (int64_t o = 0; o < OHW; o++) {
        const int64_t *ir = in + o * C;
        if (dbl) {
          const double *yr = (const double *)yn + o * C;
          for (int64_t c = 0; c < cb; c++)
            if (ir[c] >= 0) ((double *)gn)[ir[c] * C + c] += yr[c];
        } else {
          const float *yr = (const float *)yn + o * C;
          for (int64_t c = 0; c < cb; c++)
            if (ir[c] >= 0) ((float *)gn)[ir[c] * C + c] += yr[c];
        }
      }
    }
}

static void avg_pool2d_forward_nhwc(lt_tensor *y, const lt_tensor *x, const lt_pool2d_params *p) {
  int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3];
  bool dbl = x->dtype == LT_FLOAT64;
  size_t es = lt_dtype_size(x->dtype);
  const char *xd = lt_tensor_data(x);
  char *yd = lt_tensor_data(y);
#pragma omp parallel for collapse(2) schedule(static) \
    if (N * C * OH * OW * p->kernel[0] * p->kernel[1] > LT_CPU_PARALLEL_GRAIN)
  for (int64_t n = 0; n < N; n++)
    for (int64_t oh = 0; oh < OH; oh++) {
      const char *xn = xd + (size_t)(n * H * W * C) * es;
      double s[CB];
      for (int64_t ow = 0; ow < OW; ow++) {
        lt_pool_avg_win a = lt_pool_avg_window(p, H, W, oh, ow);
        char *yr = yd + (size_t)(((n * OH + oh) * OW + ow) * C) * es;
        if (a.h0 >= a.h1 || a.w0 >= a.w1) {
          memset(yr, 0, (size_t)C * es);
          continue;
        }
        for (int64_t c0 = 0; c0 < C; c0 += CB) {
          int64_t cb = C - c0 < CB ? C - c0 : CB;
          for (int64_t c = 0; c < cb; c++) s[c] = 0;
          for (int64_t ih = a.h0; ih < a.h1; ih++)
            for (int64_t iw = a.w0; iw < a.w1; iw++) row_sum(s, xn + (size_t)((ih * W + iw) * C + c0) * es, dbl, cb);
          row_div(yr + (size_t)c0 * es, s, a.div, dbl, cb);
        }
      }
    }
}

/* One (image, block of channels) per task: each output's gy/div, rounded
 * once as the NCHW loops round it, added over its window in output order. */
static void avg_pool2d_backward_nhwc(lt_tensor *gx, const lt_tensor *gy, const lt_pool2d_params *p) {
  int64_t N = gx->shape[0], C = gx->shape[1], H = gx->shape[2], W = gx->shape[3], OH = gy->shape[2], OW = gy->shape[3];
  int64_t NB = (C + CB - 1) / CB;
  bool dbl = gx->dtype == LT_FLOAT64;
  size_t es = lt_dtype_size(gx->dtype);
  char *gxd = lt_tensor_data(gx);
  const char *gyd = lt_tensor_data(gy);
#pragma omp parallel for collapse(2) schedule(static) \
    if (N * C * OH * OW * p->kernel[0] * p->kernel[1] > LT_CPU_PARALLEL_GRAIN)
  for (int64_t n = 0; n < N; n++)
    for (int64_t b = 0; b < NB; b++) {
      int64_t c0 = b * CB, cb = C - c0 < CB ? C - c0 : CB;
      char *gn = gxd + (size_t)(n * H * W * C + c0) * es;
      const char *yn = gyd + (size_t)(n * OH * OW * C + c0) * es;
      block_row g;
      void *gr = ROW_OF(g, dbl); /* each output's gy/div in the gradient's dtype */
      block_zero(gn, H * W, C, cb, es);
      for (int64_t oh = 0; oh < OH; oh++)
        for (int64_t ow = 0; ow < OW; ow++) {
          lt_pool_avg_win a = lt_pool_avg_window(p, H, W, oh, ow);
          if (a.h0 >= a.h1 || a.w0 >= a.w1) continue;
          row_grad(gr, yn + (size_t)((oh * OW + ow) * C) * es, a.div, dbl, cb);
          for (int64_t ih = a.h0; ih < a.h1; ih++)
            for (int64_t iw = a.w0; iw < a.w1; iw++) row_add(gn + (size_t)((ih * W + iw) * C) * es, gr, dbl, cb);
        }
    }
}

static void adaptive_avg_pool2d_forward_nhwc(lt_tensor *y, const lt_tensor *x) {
  int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3];
  bool dbl = x->dtype == LT_FLOAT64;
  size_t es = lt_dtype_size(x->dtype);
  const char *xd = lt_tensor_data(x);
  char *yd = lt_tensor_data(y);
#pragma omp parallel for collapse(2) schedule(static) if (N * C * (H * W + OH * OW) > LT_CPU_PARALLEL_GRAIN)
  for (int64_t n = 0; n < N; n++)
    for (int64_t oh = 0; oh < OH; oh++) {
      const char *xn = xd + (size_t)(n * H * W * C) * es;
      int64_t h0 = lt_pool_adaptive_start(oh, H, OH), h1 = lt_pool_adaptive_end(oh, H, OH);
      double s[CB];
      for (int64_t ow = 0; ow < OW; ow++) {
        int64_t w0 = lt_pool_adaptive_start(ow, W, OW), w1 = lt_pool_adaptive_end(ow, W, OW);
        char *yr = yd + (size_t)(((n * OH + oh) * OW + ow) * C) * es;
        for (int64_t c0 = 0; c0 < C; c0 += CB) {
          int64_t cb = C - c0 < CB ? C - c0 : CB;
          for (int64_t c = 0; c < cb; c++) s[c] = 0;
          for (int64_t ih = h0; ih < h1; ih++)
            for (int64_t iw = w0; iw < w1; iw++) row_sum(s, xn + (size_t)((ih * W + iw) * C + c0) * es, dbl, cb);
          row_div(yr + (size_t)c0 * es, s, (double)((h1 - h0) * (w1 - w0)), dbl, cb);
        }
      }
    }
}

static void adaptive_avg_pool2d_backward_nhwc(lt_tensor *gx, const lt_tensor *gy) {
  int64_t N = gx->shape[0], C = gx->shape[1], H = gx->shape[2], W = gx->shape[3], OH = gy->shape[2], OW = gy->shape[3];
  int64_t NB = (C + CB - 1) / CB;
  bool dbl = gx->dtype == LT_FLOAT64;
  size_t es = lt_dtype_size(gx->dtype);
  char *gxd = lt_tensor_data(gx);
  const char *gyd = lt_tensor_data(gy);
#pragma omp parallel for collapse(2) schedule(static) if (N * C * (H * W + OH * OW) > LT_CPU_PARALLEL_GRAIN)
  for (int64_t n = 0; n < N; n++)
    for (int64_t b = 0; b < NB; b++) {
      int64_t c0 = b * CB, cb = C - c0 < CB ? C - c0 : CB;
      char *gn = gxd + (size_t)(n * H * W * C + c0) * es;
      const char *yn = gyd + (size_t)(n * OH * OW * C + c0) * es;
      block_row g;
      void *gr = ROW_OF(g, dbl); /* each output's gy/div in the gradient's dtype */
      block_zero(gn, H * W, C, cb, es);
      for (int64_t oh = 0; oh < OH; oh++) {
        int64_t h0 = lt_pool_adaptive_start(oh, H, OH), h1 = lt_pool_adaptive_end(oh, H, OH);
        for (int64_t ow = 0; ow < OW; ow++) {
          int64_t w0 = lt_pool_adaptive_start(ow, W, OW), w1 = lt_pool_adaptive_end(ow, W, OW);
          row_grad(gr, yn + (size_t)((oh * OW + ow) * C) * es, (double)((h1 - h0) * (w1 - w0)), dbl, cb);
          for (int64_t ih = h0; ih < h1; ih++)
            for (int64_t iw = w0; iw < w1; iw++) row_add(gn + (size_t)((ih * W + iw) * C) * es, gr, dbl, cb);
        }
      }
    }
}

/* --- the entries ------------------------------------------------------------------------------------ */

lt_status lt_cpu_max_pool2d_forward(lt_tensor *y, lt_tensor *idx, const lt_tensor *x, const lt_pool2d_params *p) {
  const lt_tensor *t[3] = {y, idx, x};
  bool cl;
  LT_TRY(call_layout("max_pool2d", 3, t, &cl));
  if (cl) max_pool2d_forward_nhwc(y, idx, x, p);
  else max_pool2d_forward_nchw(y, idx, x, p);
  return LT_OK;
}

/* p is not needed: the indices say where each gradient goes. */
lt_status lt_cpu_max_pool2d_backward(lt_tensor *gx, const lt_tensor *gy, const lt_tensor *idx,
                                     const lt_pool2d_params *p) {
  (void)p;
  const lt_tensor *t[3] = {gx, gy, idx};
  bool cl;
  LT_TRY(call_layout("max_pool2d backward", 3, t, &cl));
  if (cl) max_pool2d_backward_nhwc(gx, gy, idx);
  else max_pool2d_backward_nchw(gx, gy, idx);
  return LT_OK;
}

lt_status lt_cpu_avg_pool2d_forward(lt_tensor *y, const lt_tensor *x, const lt_pool2d_params *p) {
  const lt_tensor *t[2] = {y, x};
  bool cl;
  LT_TRY(call_layout("avg_pool2d", 2, t, &cl));
  if (cl) avg_pool2d_forward_nhwc(y, x, p);
  else avg_pool2d_forward_nchw(y, x, p);
  return LT_OK;
}

lt_status lt_cpu_avg_pool2d_backward(lt_tensor *gx, const lt_tensor *gy, const lt_pool2d_params *p) {
  const lt_tensor *t[2] = {gx, gy};
  bool cl;
  LT_TRY(call_layout("avg_pool2d backward", 2, t, &cl));
  if (cl) avg_pool2d_backward_nhwc(gx, gy, p);
  else avg_pool2d_backward_nchw(gx, gy, p);
  return LT_OK;
}

lt_status lt_cpu_adaptive_avg_pool2d_forward(lt_tensor *y, const lt_tensor *x) {
  const lt_tensor *t[2] = {y, x};
  bool cl;
  LT_TRY(call_layout("adaptive_avg_pool2d", 2, t, &cl));
  if (cl) adaptive_avg_pool2d_forward_nhwc(y, x);
  else adaptive_avg_pool2d_forward_nchw(y, x);
  return LT_OK;
}

lt_status lt_cpu_adaptive_avg_pool2d_backward(lt_tensor *gx, const lt_tensor *gy) {
  const lt_tensor *t[2] = {gx, gy};
  bool cl;
  LT_TRY(call_layout("adaptive_avg_pool2d backward", 2, t, &cl));
  if (cl) adaptive_avg_pool2d_backward_nhwc(gx, gy);
  else adaptive_avg_pool2d_backward_nchw(gx, gy);
  return LT_OK;
}
