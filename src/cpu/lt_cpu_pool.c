/* lt_cpu_pool.c — 2-D max, average and adaptive average pooling on the CPU,
 * forward and backward, over x viewed as N*C independent [H,W] planes (one
 * plane per OpenMP task). Window arithmetic follows PyTorch's exactly (the
 * padded extent counts towards the average's divisor when count_include_pad;
 * adaptive windows are [floor(o*H/OH), ceil((o+1)*H/OH))), as
 * lt_pool_rules.h writes it for both backends. Sums are kept in
 * double. The dtype test inside the loops is loop-invariant (-O3 unswitches
 * it). */
#include <math.h>
#include <string.h>

#include "lt_cpu_iter.h"
#include "lt_cpu_nn.h"
#include "lt_pool_rules.h"

static inline void addv(void *p, bool dbl, int64_t i, double v) {
  if (dbl) ((double *)p)[i] += v;
  else ((float *)p)[i] += (float)v;
}


lt_status lt_cpu_max_pool2d_forward(lt_tensor *y, lt_tensor *idx, const lt_tensor *x, const lt_pool2d_params *p) {
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
        /* no tap inside the image (only possible with dilation): index -1 */
        int64_t bi = khl < khh && kwl < kwh ? (hs + khl * p->dilation[0]) * W + ws + kwl * p->dilation[1] : -1;
        for (int64_t kh = khl; kh < khh; kh++) {
          int64_t row = (hs + kh * p->dilation[0]) * W;
          for (int64_t kw = kwl; kw < kwh; kw++) {
            int64_t i = row + ws + kw * p->dilation[1];
            double v = ldv(xp, dbl, i);
            if (v > best || isnan(v)) { best = v; bi = i; }
          }
        }
        stv(yp, dbl, oh * OW + ow, best);
        ip[oh * OW + ow] = bi;
      }
    }
  }
  return LT_OK;
}

/* One plane per task, its outputs scattered in order (p is not needed). */
lt_status lt_cpu_max_pool2d_backward(lt_tensor *gx, const lt_tensor *gy, const lt_tensor *idx,
                                     const lt_pool2d_params *p) {
  (void)p;
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
  return LT_OK;
}


lt_status lt_cpu_avg_pool2d_forward(lt_tensor *y, const lt_tensor *x, const lt_pool2d_params *p) {
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
  return LT_OK;
}

lt_status lt_cpu_avg_pool2d_backward(lt_tensor *gx, const lt_tensor *gy, const lt_pool2d_params *p) {
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
  return LT_OK;
}


lt_status lt_cpu_adaptive_avg_pool2d_forward(lt_tensor *y, const lt_tensor *x) {
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
  return LT_OK;
}

lt_status lt_cpu_adaptive_avg_pool2d_backward(lt_tensor *gx, const lt_tensor *gy) {
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
  return LT_OK;
}
