/* lt_cuda_transforms.cu — the fused batched image transform on the GPU
 * (the backend entry transform_batch, lt_backend_transforms.h): crop with
 * padding, horizontal flip, uint8 ->
 * float32/bfloat16 (/255) and normalisation in one pass, one thread per
 * output element.
 *
 * Why one element per thread and no table: the CPU builds a 256-entry table
 * per channel because a lookup beats two divisions there; on the GPU the
 * pass is bound by memory traffic, and computing (v/255 - mean)/std with the
 * same IEEE float32 operations in the same order gives the CPU's bits
 * without a table. The build has no fast-math, so `/` is the correctly
 * rounded division and nothing is contracted into an FMA (there is no
 * multiply to contract). Consecutive threads write consecutive output
 * elements; reads follow a crop row, also consecutive (reversed after a
 * flip), so both are coalesced.
 *
 * The per-sample offsets and flip flags travel as one int32 buffer [3n]
 * (top, left, flip), copied stream-ordered on the compute stream from a
 * pageable host buffer that may be freed at once (the runtime stages it)
 * and freed stream-ordered after the kernel. Not here: the draws (the
 * caller's, src/data/lt_transforms_gpu.c) and the CPU kernels. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_bf16.h>

#include "lt_cuda_internal.h"
#include "lt_padding.h"


/* What the kernel needs, by value (about 560 bytes of kernel parameters). */
typedef struct {
  int64_t n, c, h, w, oh, ow, pad;
  int mode;
  bool scale, norm;
  uint8_t fill_u8;
  float fill_f;
  float mean[LT_TF_BATCH_MAXC], std[LT_TF_BATCH_MAXC];
} tf_args;

__device__ __forceinline__ uint8_t fill_of(const tf_args &a, uint8_t) { return a.fill_u8; }
__device__ __forceinline__ float fill_of(const tf_args &a, float) { return a.fill_f; }

/* The arithmetic steps, in the CPU's order and precision. */
__device__ __forceinline__ float arith(const tf_args &a, int64_t ch, float v) {
  if (a.scale) v = v / 255.0f;
  if (a.norm) v = (v - a.mean[ch]) / a.std[ch];
  return v;
}

__device__ __forceinline__ void put(const tf_args &, int64_t, uint8_t *y, uint8_t v) { *y = v; }
__device__ __forceinline__ void put(const tf_args &a, int64_t ch, float *y, uint8_t v) { *y = arith(a, ch, (float)v); }
__device__ __forceinline__ void put(const tf_args &a, int64_t ch, float *y, float v) { *y = arith(a, ch, v); }
__device__ __forceinline__ void put(const tf_args &a, int64_t ch, __nv_bfloat16 *y, uint8_t v) {
  *y = __float2bfloat16_rn(arith(a, ch, (float)v));
}
__device__ __forceinline__ void put(const tf_args &a, int64_t ch, __nv_bfloat16 *y, float v) {
  *y = __float2bfloat16_rn(arith(a, ch, v));
}

// x: [n,c,h,w] -> y: [n,c,oh,ow]; par: [3n] int32 (top, left, flip) or NULL
template <typename Tin, typename Tout>
__global__ void transform_kernel(const Tin *__restrict__ x, Tout *__restrict__ y, const int32_t *__restrict__ par,
                                 tf_args a, int64_t total) {
  for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)gridDim.x * blockDim.x) {
    int64_t s = idx % a.ow, t = idx / a.ow;
    int64_t r = t % a.oh;
    t /= a.oh;
    int64_t ch = t % a.c, i = t / a.c;
    int64_t top = 0, left = 0;
    bool flipped = false;
    if (par) {
      top = par[i];
      left = par[a.n + i];
      flipped = par[2 * a.n + i] != 0;
    }
    /* after a flip, output column s shows crop column ow - 1 - s */
    int64_t col = flipped ? a.ow - 1 - s : s;
    int64_t sr = lt_pad_map(top + r - a.pad, a.h, a.mode), sc = lt_pad_map(left + col - a.pad, a.w, a.mode);
    Tin v = sr < 0 || sc < 0 ? fill_of(a, Tin()) : x[((i * a.c + ch) * a.h + sr) * a.w + sc];
    put(a, ch, y + idx, v);
  }
}

/* --- argument checks: the CPU kernels' (lt_transforms_cpu.c), same messages -------------------------- */

#define LIM ((int64_t)1 << 29) /* image sides and padding: h + 2*pad stays below 2^31 */

static lt_status check_args(lt_dtype in_dt, lt_dtype out_dt, const lt_tf_batch_params *p, const int64_t *top,
                            const int64_t *left) {
  if (in_dt != LT_UINT8 && in_dt != LT_FLOAT32)
    return lt_error_set(LT_ERR_ARG, 0, "expected a uint8 or float32 image batch, got %s", lt_dtype_name(in_dt));
  if (p->n < 0 || p->c < 1 || p->h < 1 || p->w < 1)
    return lt_error_set(LT_ERR_ARG, 0, "expected a batch [N,C,H,W] with N >= 0 and C, H, W >= 1, got [%lld,%lld,%lld,%lld]",
                        (long long)p->n, (long long)p->c, (long long)p->h, (long long)p->w);
  int64_t oh = p->oh, ow = p->ow, pad = p->pad, h = p->h, w = p->w;
  /* The kernel takes crop offsets (< h + 2*pad) as int32; this also keeps
   * the sums below from overflowing. */
  if (h > LIM || w > LIM || pad > LIM)
    return lt_error_set(LT_ERR_ARG, 0, "images of %lldx%lld padded by %lld are too large for the GPU transforms (each at "
                        "most %lld)", (long long)h, (long long)w, (long long)pad, (long long)LIM);
  LT_TRY(lt_padding_check_crop(h, w, oh, ow, pad, p->mode));
  if (!top != !left) return lt_error_set(LT_ERR_ARG, 0, "crop offsets are NULL");
  if (!top && (oh != h || ow != w || pad != 0))
    return lt_error_set(LT_ERR_ARG, 0, "a %lldx%lld crop of %lldx%lld images needs crop offsets", (long long)oh,
                        (long long)ow, (long long)h, (long long)w);
  if (top) LT_TRY(lt_padding_check_offsets(p->n, h, w, oh, ow, pad, top, left));
  if (in_dt == LT_UINT8 && p->mode == LT_PAD_CONSTANT && !(p->fill >= 0 && p->fill <= 255 && p->fill == floor(p->fill)))
    return lt_error_set(LT_ERR_ARG, 0, "fill value for a uint8 image must be an integer in 0..255, got %g", p->fill);
  bool arithmetic = (in_dt == LT_UINT8 && p->to_float) || p->normalize;
  if (p->normalize && in_dt == LT_UINT8 && !p->to_float)
    return lt_error_set(LT_ERR_ARG, 0, "expected a float32 batch, got uint8 (put ToFloat before Normalize)");
  if (p->normalize) {
    if (p->c > LT_TF_BATCH_MAXC)
      return lt_error_set(LT_ERR_ARG, 0, "normalization on cuda takes at most %d channels, the batch has %lld",
                          LT_TF_BATCH_MAXC, (long long)p->c);
    for (int64_t ch = 0; ch < p->c; ch++)
      if (p->std[ch] == 0)
        return lt_error_set(LT_ERR_ARG, 0, "std of channel %lld is zero, which would divide by zero", (long long)ch + 1);
  }
  bool out_ok = out_dt == LT_FLOAT32 || out_dt == LT_BFLOAT16 || (!arithmetic && out_dt == in_dt);
  if (!out_ok || (arithmetic && out_dt == LT_UINT8))
    return lt_error_set(LT_ERR_ARG, 0, "cannot write a %s batch from %s images%s", lt_dtype_name(out_dt),
                        lt_dtype_name(in_dt), arithmetic ? " (the output of ToFloat/Normalize is float32 or bfloat16)" : "");
  return LT_OK;
}

template <typename Tin, typename Tout>
static void launch(const void *x, void *y, const int32_t *par, const tf_args &a, int64_t total, int blocks,
                   cudaStream_t s) {
  transform_kernel<Tin, Tout><<<blocks, 256, 0, s>>>((const Tin *)x, (Tout *)y, par, a, total);
}

extern "C" lt_status lt_cuda_transform_batch(const lt_tensor *xt, lt_tensor *yt, const lt_tf_batch_params *p,
                                             const int64_t *top, const int64_t *left, const uint8_t *flip) {
  const lt_dtype in_dt = xt->dtype, out_dt = yt->dtype;
  const void *x = lt_tensor_data(xt);
  void *y = lt_tensor_data(yt);
  LT_TRY(check_args(in_dt, out_dt, p, top, left));
  int64_t total = p->n * p->c * p->oh * p->ow;
  if (total == 0) return LT_OK;
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(xt, &c));
  tf_args a;
  memset(&a, 0, sizeof a);
  a.n = p->n;
  a.c = p->c;
  a.h = p->h;
  a.w = p->w;
  a.oh = p->oh;
  a.ow = p->ow;
  a.pad = p->pad;
  a.mode = p->mode;
  a.scale = in_dt == LT_UINT8 && p->to_float;
  a.norm = p->normalize;
  /* checked to be 0..255 only where it is used: converting another value would be undefined */
  a.fill_u8 = in_dt == LT_UINT8 && p->mode == LT_PAD_CONSTANT ? (uint8_t)p->fill : 0;
  a.fill_f = (float)p->fill;
  for (int64_t ch = 0; p->normalize && ch < p->c; ch++) {
    a.mean[ch] = p->mean[ch];
    a.std[ch] = p->std[ch];
  }
  int32_t *dpar = NULL;
  if ((top || flip) && lt_cuda_capturing())
    return lt_cuda_graph_refuse("random crops and flips of a CUDA batch",
                                "their parameters are drawn on the host for each batch and copied from host memory, "
                                "which a replay would not redo; transform the batch before copying it into the "
                                "graph's static inputs");
  if (top || flip) {
    size_t bytes = (size_t)(3 * p->n) * sizeof(int32_t);
    int32_t *h = (int32_t *)malloc(bytes);
    if (!h) return lt_error_set(LT_ERR_OOM, 0, "out of memory for the parameters of %lld samples", (long long)p->n);
    for (int64_t i = 0; i < p->n; i++) {
      /* checked above: offsets are below h + 2*pad < 2^31 */
      h[i] = top ? (int32_t)top[i] : 0;
      h[p->n + i] = top ? (int32_t)left[i] : 0;
      h[2 * p->n + i] = flip && flip[i] ? 1 : 0;
    }
    lt_status st = lt_cuda_malloc(c, bytes, (void **)&dpar);
    if (st == LT_OK) {
      cudaError_t e = cudaMemcpyAsync(dpar, h, bytes, cudaMemcpyHostToDevice, c->stream);
      if (e != cudaSuccess) {
        st = lt_cuda_fail(e, "cudaMemcpyAsync(dpar, h, bytes, cudaMemcpyHostToDevice, c->stream)", __FILE__, __LINE__);
        lt_cuda_free_async(c, dpar);
      }
    }
    free(h); /* pageable: the runtime staged it before returning */
    LT_TRY(st);
  }
  int64_t want = (total + 255) / 256, cap = (int64_t)(c->sm_count > 0 ? c->sm_count : 1) * 32;
  int blocks = (int)(want < cap ? want : cap);
  if (in_dt == LT_UINT8 && out_dt == LT_UINT8) launch<uint8_t, uint8_t>(x, y, dpar, a, total, blocks, c->stream);
  else if (in_dt == LT_UINT8 && out_dt == LT_FLOAT32) launch<uint8_t, float>(x, y, dpar, a, total, blocks, c->stream);
  else if (in_dt == LT_UINT8) launch<uint8_t, __nv_bfloat16>(x, y, dpar, a, total, blocks, c->stream);
  else if (out_dt == LT_FLOAT32) launch<float, float>(x, y, dpar, a, total, blocks, c->stream);
  else launch<float, __nv_bfloat16>(x, y, dpar, a, total, blocks, c->stream);
  lt_status st = lt_cuda_after_launch(c, "transform_kernel", __FILE__, __LINE__);
  /* stream-ordered: the kernel reads the parameters before they are reused */
  lt_cuda_free_async(c, dpar);
  return st;
}
