/* lt_pool_rules.h — the window arithmetic of the 2-D poolings, written once
 * for the CPU kernels (src/cpu/lt_cpu_pool.c) and the CUDA kernels
 * (cuda/lt_cuda_pool.cu), host and device (lt_cdefs.h): which taps of a
 * (dilated) window land inside the image, the comparison and the first
 * index of a max window, the clipped window of an average and its divisor
 * (PyTorch's count_include_pad and divisor_override), and the adaptive
 * windows [floor(o*in/out), ceil((o+1)*in/out)). Positions are (h, w) in
 * one [H,W] plane, whatever the memory layout.
 *
 * Not here: the output size and the argument checks (lt_pool_output_size,
 * src/core/lt_ops_pool.c), the layouts, the loops. */
#ifndef LT_POOL_RULES_H
#define LT_POOL_RULES_H

#include <stdint.h>

#include "lt_backend_nn.h"
#include "lt_cdefs.h"

/* The taps k in [*lo, *hi) of a window of k taps, d apart, starting at
 * `start` (possibly in the padding), that land inside [0, in). */
static LT_INLINE LT_HOST_DEVICE void lt_pool_taps(int64_t start, int64_t in, int64_t k, int64_t d, int64_t *lo,
                                                  int64_t *hi) {
  int64_t l = start < 0 ? (-start + d - 1) / d : 0;
  int64_t h = start >= in ? 0 : (in - start + d - 1) / d;
  if (h > k) h = k;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

/* Max pooling visits a window's taps row by row, each row left to right,
 * from best = -inf; a tap value v replaces the best so far when it is
 * greater, or NaN: among equal maxima the first stays, and a NaN propagates
 * (the index of the window's last NaN is kept). */
static LT_INLINE LT_HOST_DEVICE bool lt_pool_max_takes(double v, double best) { return v > best || v != v; }

/* The index recorded before any tap is compared: the window's first tap
 * inside the image (row start hs + khl*dh, column ws + kwl*dw, as
 * lt_pool_taps clipped them), or -1 when no tap is inside (only possible
 * with dilation); its value is then -inf. */
static LT_INLINE LT_HOST_DEVICE int64_t lt_pool_max_first(int64_t hs, int64_t khl, int64_t khh, int64_t ws,
                                                           int64_t kwl, int64_t kwh, int64_t dh, int64_t dw,
                                                           int64_t W) {
  return khl < khh && kwl < kwh ? (hs + khl * dh) * W + ws + kwl * dw : -1;
}

/* The average window of output (oh, ow) of an H x W plane: rows [h0, h1),
 * columns [w0, w1) inside the image, and the divisor of its sum. */
typedef struct { int64_t h0, h1, w0, w1; double div; } lt_pool_avg_win;

static LT_INLINE LT_HOST_DEVICE lt_pool_avg_win lt_pool_avg_window(const lt_pool2d_params *p, int64_t H, int64_t W,
                                                                   int64_t oh, int64_t ow) {
  lt_pool_avg_win a;
  int64_t hs = oh * p->stride[0] - p->padding[0], ws = ow * p->stride[1] - p->padding[1];
  int64_t he = hs + p->kernel[0], we = ws + p->kernel[1];
  if (he > H + p->padding[0]) he = H + p->padding[0];
  if (we > W + p->padding[1]) we = W + p->padding[1];
  int64_t pool = (he - hs) * (we - ws);
  a.h0 = hs < 0 ? 0 : hs;
  a.w0 = ws < 0 ? 0 : ws;
  a.h1 = he > H ? H : he;
  a.w1 = we > W ? W : we;
  if (p->divisor_override) a.div = (double)p->divisor_override;
  else if (p->count_include_pad) a.div = (double)pool;
  else a.div = (double)((a.h1 - a.h0) * (a.w1 - a.w0));
  return a;
}

/* Adaptive pooling: output o of `out` along a dim of `in` covers [start, end). */
static LT_INLINE LT_HOST_DEVICE int64_t lt_pool_adaptive_start(int64_t o, int64_t in, int64_t out) {
  return (o * in) / out;
}
static LT_INLINE LT_HOST_DEVICE int64_t lt_pool_adaptive_end(int64_t o, int64_t in, int64_t out) {
  return ((o + 1) * in + out - 1) / out;
}

#endif
