/* lt_cuda_pool.cu — the CUDA kernels of the pool family (lt_ops_pool.c):
 * 2-D max, average and adaptive average pooling, forward and backward, on
 * NCHW or channels-last (NHWC) tensors, each kernel reading the layout from
 * the strides and indexing in memory order. One thread per output element
 * forward, per input element backward: the backward gathers (each input sums
 * the outputs whose window covers it), so it is deterministic and needs no
 * atomics. The window arithmetic is the CPU's, from one header
 * (lt_pool_rules.h). */
#include <math.h>

#include "lt_cuda_common.cuh"
#include "lt_pool_rules.h"

/* --- pooling ---------------------------------------------------------------------------------------------------------- */
/* Position of element e (memory order) of a [N,C,H,W] tensor, NCHW or
 * NHWC (cl), and where the (n, c) plane of another [N,C,H2,W2] tensor of
 * that layout starts; positions within a plane are `es` apart (1, or C).
 * The launchers take cl from either tensor of the call: an input or output
 * of one layout in both (C == 1, 1x1) is indexed alike either way. */
struct Pos { int64_t n, c, h, w; };
__device__ __forceinline__ Pos pos_of(int64_t e, bool cl, int64_t C, int64_t H, int64_t W) {
  Pos q;
  if (cl) {
    q.c = e % C;
    int64_t r = e / C;
    q.w = r % W;
    r /= W;
    q.h = r % H;
    q.n = r / H;
  } else {
    q.w = e % W;
    int64_t r = e / W;
    q.h = r % H;
    r /= H;
    q.c = r % C;
    q.n = r / C;
  }
  return q;
}
__device__ __forceinline__ int64_t plane_at(const Pos &q, bool cl, int64_t C, int64_t H2, int64_t W2) {
  return cl ? q.n * H2 * W2 * C + q.c : (q.n * C + q.c) * H2 * W2;
}

template <typename T>
__global__ void max_pool_fwd_k(T *y, int64_t *idx, const T *x, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW,
                               lt_pool2d_params p, int64_t C, bool cl) {
  const int64_t total = P * OH * OW, es = cl ? C : 1;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    Pos q = pos_of(e, cl, C, OH, OW);
    int64_t ow = q.w, oh = q.h;
    const T *xp = x + plane_at(q, cl, C, H, W);
    int64_t hs = oh * p.stride[0] - p.padding[0], ws = ow * p.stride[1] - p.padding[1], khl, khh, kwl, kwh;
    lt_pool_taps(hs, H, p.kernel[0], p.dilation[0], &khl, &khh);
    lt_pool_taps(ws, W, p.kernel[1], p.dilation[1], &kwl, &kwh);
    double best = -INFINITY;
    int64_t bi = lt_pool_max_first(hs, khl, khh, ws, kwl, kwh, p.dilation[0], p.dilation[1], W);
    for (int64_t kh = khl; kh < khh; kh++) {
      int64_t row = (hs + kh * p.dilation[0]) * W;
      for (int64_t kw = kwl; kw < kwh; kw++) {
        int64_t i = row + ws + kw * p.dilation[1];
        double v = (double)ld_c(xp[i * es]);
        if (lt_pool_max_takes(v, best)) {
          best = v;
          bi = i;
        }
      }
    }
    y[e] = St<T>::f(best);
    idx[e] = bi;
  }
}

extern "C" lt_status lt_cuda_max_pool2d_forward(lt_tensor *y, lt_tensor *idx, const lt_tensor *x, const lt_pool2d_params *p) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  int64_t P = x->shape[0] * x->shape[1], total = P * y->shape[2] * y->shape[3];
  if (total == 0) return LT_OK;
  LT_CU_DISPATCH_FLOAT(x->dtype, T,
    max_pool_fwd_k<T><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (T *)data_of(y), (int64_t *)data_of(idx), (const T *)data_of(x), P, x->shape[2], x->shape[3], y->shape[2],
        y->shape[3], *p, x->shape[1], is_cl(x) || is_cl(y)));
  LT_CUDA_LAUNCHED(c, "max_pool_fwd_k");
  return LT_OK;
}

/* Outputs o in [lo, hi] along one dim whose window (start o*s - pad, taps
 * d apart, k of them) can contain input position i: a superset, the
 * recorded index decides. */
__device__ __forceinline__ void windows_over(int64_t i, int64_t k, int64_t s, int64_t pad, int64_t d, int64_t out,
                                             int64_t *lo, int64_t *hi) {
  int64_t first = i + pad - (k - 1) * d;
  *lo = first <= 0 ? 0 : (first + s - 1) / s;
  *hi = (i + pad) / s;
  if (*hi > out - 1) *hi = out - 1;
}

/* Gather: each input element sums the gradients of the outputs whose
 * recorded argmax it is, in output order (the CPU's scatter order, so
 * float32 results are the CPU's bit for bit), in float32 for 16-bit
 * types (rounded once) and float64 for float64. No atomics: deterministic. */
template <typename T>
__global__ void max_pool_bwd_k(T *gx, const T *gy, const int64_t *idx, int64_t P, int64_t H, int64_t W, int64_t OH,
                               int64_t OW, lt_pool2d_params p, int64_t C, bool cl) {
  const int64_t total = P * H * W, es = cl ? C : 1;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    Pos q = pos_of(e, cl, C, H, W);
    const int64_t at = plane_at(q, cl, C, OH, OW), self = q.h * W + q.w;
    int64_t oh0, oh1, ow0, ow1;
    windows_over(q.h, p.kernel[0], p.stride[0], p.padding[0], p.dilation[0], OH, &oh0, &oh1);
    windows_over(q.w, p.kernel[1], p.stride[1], p.padding[1], p.dilation[1], OW, &ow0, &ow1);
    decltype(ld_c(T())) s = 0;
    for (int64_t oh = oh0; oh <= oh1; oh++)
      for (int64_t ow = ow0; ow <= ow1; ow++) {
        int64_t o = at + (oh * OW + ow) * es;
        if (idx[o] == self) s += ld_c(gy[o]);
      }
    gx[e] = St<T>::f(s);
  }
}

extern "C" lt_status lt_cuda_max_pool2d_backward(lt_tensor *gx, const lt_tensor *gy, const lt_tensor *idx,
                                                 const lt_pool2d_params *p) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(gx, &c));
  int64_t total = numel_of(gx);
  if (total == 0) return LT_OK;
  LT_CU_DISPATCH_FLOAT(gx->dtype, T,
    max_pool_bwd_k<T><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (T *)data_of(gx), (const T *)data_of(gy), (const int64_t *)data_of(idx), gx->shape[0] * gx->shape[1], gx->shape[2],
        gx->shape[3], gy->shape[2], gy->shape[3], *p, gx->shape[1], is_cl(gx) || is_cl(gy)));
  LT_CUDA_LAUNCHED(c, "max_pool_bwd_k");
  return LT_OK;
}

template <typename T>
__global__ void avg_pool_fwd_k(T *y, const T *x, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW, lt_pool2d_params p,
                               int64_t C, bool cl) {
  const int64_t total = P * OH * OW, es = cl ? C : 1;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    Pos q = pos_of(e, cl, C, OH, OW);
    int64_t ow = q.w, oh = q.h;
    const T *xp = x + plane_at(q, cl, C, H, W);
    lt_pool_avg_win a = lt_pool_avg_window(&p, H, W, oh, ow);
    double s = 0;
    for (int64_t ih = a.h0; ih < a.h1; ih++)
      for (int64_t iw = a.w0; iw < a.w1; iw++) s += (double)ld_c(xp[(ih * W + iw) * es]);
    y[e] = St<T>::f(a.h0 >= a.h1 || a.w0 >= a.w1 ? 0.0 : s / a.div);
  }
}

/* Each input element sums gy/div over the windows that contain it. */
template <typename T>
__global__ void avg_pool_bwd_k(T *gx, const T *gy, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW, lt_pool2d_params p,
                               int64_t C, bool cl) {
  const int64_t total = P * H * W, es = cl ? C : 1;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    Pos q = pos_of(e, cl, C, H, W);
    int64_t iw = q.w, ih = q.h;
    const T *gp = gy + plane_at(q, cl, C, OH, OW);
    /* windows starting at o*s - pad <= i and ending after i */
    int64_t hn = ih + p.padding[0] - p.kernel[0] + 1, wn = iw + p.padding[1] - p.kernel[1] + 1;
    int64_t oh0 = hn <= 0 ? 0 : (hn + p.stride[0] - 1) / p.stride[0];
    int64_t ow0 = wn <= 0 ? 0 : (wn + p.stride[1] - 1) / p.stride[1];
    int64_t oh1 = (ih + p.padding[0]) / p.stride[0], ow1 = (iw + p.padding[1]) / p.stride[1];
    if (oh1 > OH - 1) oh1 = OH - 1;
    if (ow1 > OW - 1) ow1 = OW - 1;
    double s = 0;
    for (int64_t oh = oh0; oh <= oh1; oh++)
      for (int64_t ow = ow0; ow <= ow1; ow++) {
        lt_pool_avg_win a = lt_pool_avg_window(&p, H, W, oh, ow);
        if (ih >= a.h0 && ih < a.h1 && iw >= a.w0 && iw < a.w1) s += (double)ld_c(gp[(oh * OW + ow) * es]) / a.div;
      }
    gx[e] = St<T>::f(s);
  }
}

extern "C" lt_status lt_cuda_avg_pool2d_forward(lt_tensor *y, const lt_tensor *x, const lt_pool2d_params *p) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  int64_t P = x->shape[0] * x->shape[1], total = P * y->shape[2] * y->shape[3];
  if (total == 0) return LT_OK;
  LT_CU_DISPATCH_FLOAT(x->dtype, T,
    avg_pool_fwd_k<T><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (T *)data_of(y), (const T *)data_of(x), P, x->shape[2], x->shape[3], y->shape[2], y->shape[3], *p, x->shape[1],
        is_cl(x) || is_cl(y)));
  LT_CUDA_LAUNCHED(c, "avg_pool_fwd_k");
  return LT_OK;
}

extern "C" lt_status lt_cuda_avg_pool2d_backward(lt_tensor *gx, const lt_tensor *gy, const lt_pool2d_params *p) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(gx, &c));
  int64_t total = numel_of(gx);
  if (total == 0) return LT_OK;
  LT_CU_DISPATCH_FLOAT(gx->dtype, T,
    avg_pool_bwd_k<T><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (T *)data_of(gx), (const T *)data_of(gy), gx->shape[0] * gx->shape[1], gx->shape[2], gx->shape[3], gy->shape[2],
        gy->shape[3], *p, gx->shape[1], is_cl(gx) || is_cl(gy)));
  LT_CUDA_LAUNCHED(c, "avg_pool_bwd_k");
  return LT_OK;
}


template <typename T>
__global__ void adaptive_fwd_k(T *y, const T *x, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t C,
                               bool cl) {
  const int64_t total = P * OH * OW, es = cl ? C : 1;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    Pos q = pos_of(e, cl, C, OH, OW);
    int64_t ow = q.w, oh = q.h;
    const T *xp = x + plane_at(q, cl, C, H, W);
    int64_t h0 = lt_pool_adaptive_start(oh, H, OH), h1 = lt_pool_adaptive_end(oh, H, OH);
    int64_t w0 = lt_pool_adaptive_start(ow, W, OW), w1 = lt_pool_adaptive_end(ow, W, OW);
    double s = 0;
    for (int64_t ih = h0; ih < h1; ih++)
      for (int64_t iw = w0; iw < w1; iw++) s += (double)ld_c(xp[(ih * W + iw) * es]);
    y[e] = St<T>::f(s / (double)((h1 - h0) * (w1 - w0)));
  }
}

template <typename T>
__global__ void adaptive_bwd_k(T *gx, const T *gy, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t C,
                               bool cl) {
  const int64_t total = P * H * W, es = cl ? C : 1;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    Pos q = pos_of(e, cl, C, H, W);
    int64_t iw = q.w, ih = q.h;
    const T *gp = gy + plane_at(q, cl, C, OH, OW);
    /* outputs whose window [start, end) contains the input position */
    int64_t oh0 = (ih * OH) / H, oh1 = ((ih + 1) * OH + H - 1) / H - 1;
    int64_t ow0 = (iw * OW) / W, ow1 = ((iw + 1) * OW + W - 1) / W - 1;
    if (oh1 > OH - 1) oh1 = OH - 1;
    if (ow1 > OW - 1) ow1 = OW - 1;
    double s = 0;
    for (int64_t oh = oh0; oh <= oh1; oh++) {
      int64_t h0 = lt_pool_adaptive_start(oh, H, OH), h1 = lt_pool_adaptive_end(oh, H, OH);
      if (ih < h0 || ih >= h1) continue;
      for (int64_t ow = ow0; ow <= ow1; ow++) {
        int64_t w0 = lt_pool_adaptive_start(ow, W, OW), w1 = lt_pool_adaptive_end(ow, W, OW);
        if (iw < w0 || iw >= w1) continue;
        s += (double)ld_c(gp[(oh * OW + ow) * es]) / (double)((h1 - h0) * (w1 - w0));
      }
    }
    gx[e] = St<T>::f(s);
  }
}

extern "C" lt_status lt_cuda_adaptive_avg_pool2d_forward(lt_tensor *y, const lt_tensor *x) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  int64_t P = x->shape[0] * x->shape[1], total = P * y->shape[2] * y->shape[3];
  if (total == 0) return LT_OK;
  LT_CU_DISPATCH_FLOAT(x->dtype, T,
    adaptive_fwd_k<T><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (T *)data_of(y), (const T *)data_of(x), P, x->shape[2], x->shape[3], y->shape[2], y->shape[3], x->shape[1],
        is_cl(x) || is_cl(y)));
  LT_CUDA_LAUNCHED(c, "adaptive_fwd_k");
  return LT_OK;
}

extern "C" lt_status lt_cuda_adaptive_avg_pool2d_backward(lt_tensor *gx, const lt_tensor *gy) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(gx, &c));
  int64_t total = numel_of(gx);
  if (total == 0) return LT_OK;
  LT_CU_DISPATCH_FLOAT(gx->dtype, T,
    adaptive_bwd_k<T><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (T *)data_of(gx), (const T *)data_of(gy), gx->shape[0] * gx->shape[1], gx->shape[2], gx->shape[3], gy->shape[2],
        gy->shape[3], gx->shape[1], is_cl(gx) || is_cl(gy)));
  LT_CUDA_LAUNCHED(c, "adaptive_bwd_k");
  return LT_OK;
}
