/* test_pool_layout.c — the CPU backend's pooling entries on both memory
 * layouts. Each case fills an NCHW tensor and a channels-last one with the
 * same values (ties, NaN and infinities among them), calls the CPU table's
 * entry (lt_backend_get(LT_CPU)->nn, bfloat16 through its wrappers) on each,
 * and asserts the results are the same bits: max_pool2d values and indices
 * (and that each index points at its value), avg_pool2d and
 * adaptive_avg_pool2d outputs, and every gradient. The geometries run over
 * N = 1 and 2, C = 1, 3, 17 and 40 (one, part of one and two blocks of
 * the channels-last loops), odd and 1x1 planes, kernels, strides, padding,
 * dilation, ceil_mode, count_include_pad, divisor_override and adaptive
 * outputs smaller and larger than the input, plus sizes large enough for the
 * kernels to go parallel, in float32, float64 and bfloat16. Also: a tensor
 * in both formats beside a channels-last one, a channels-last batch of one
 * with an unusual batch stride, and the error for a call whose tensors mix
 * the layouts. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lt_backend.h"
#include "lt_backend_nn.h"
#include "lt_ops_nn.h"
#include "lt_test.h"

static const lt_device CPU = {LT_CPU, 0};
static const lt_nn_kernels *NN;
static int cases;

/* --- tensors -------------------------------------------------------------------------------------- */

static uint32_t mix(uint32_t h) {
  h ^= h >> 16;
  h *= 0x7feb352dU;
  h ^= h >> 15;
  h *= 0x846ca68bU;
  h ^= h >> 16;
  return h;
}

/* The value of logical element (n,c,h,w) of a tensor seeded `seed`: often
 * a small integer (so windows hold ties), else a fraction that is not
 * dyadic (so sums round), now and then NaN or an infinity when `specials`. */
static double value_at(uint32_t seed, const int64_t *shape, int64_t n, int64_t c, int64_t h, int64_t w,
                       bool specials) {
  uint32_t r = mix(seed * 0x9e3779b9U + (uint32_t)(((n * shape[1] + c) * shape[2] + h) * shape[3] + w));
  if (specials && r % 97 == 0) return NAN;
  if (specials && r % 89 == 0) return -INFINITY;
  if (specials && r % 83 == 0) return INFINITY;
  if (r % 3 == 0) return (double)((int)(r >> 8) % 7 - 3);
  return ((double)((r >> 4) % 20011) - 10005.0) / 1237.0;
}

static size_t offset_of(const lt_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w) {
  return (size_t)(n * t->stride[0] + c * t->stride[1] + h * t->stride[2] + w * t->stride[3]);
}

static void put(lt_tensor *t, size_t at, double v) {
  void *d = lt_tensor_data(t);
  switch (t->dtype) {
    case LT_FLOAT32: ((float *)d)[at] = (float)v; break;
    case LT_FLOAT64: ((double *)d)[at] = v; break;
    case LT_BFLOAT16: ((uint16_t *)d)[at] = lt_f32_to_bf16((float)v); break;
    default: break;
  }
}

static double get(const lt_tensor *t, size_t at) {
  const void *d = lt_tensor_data(t);
  switch (t->dtype) {
    case LT_FLOAT32: return ((const float *)d)[at];
    case LT_FLOAT64: return ((const double *)d)[at];
    case LT_BFLOAT16: return lt_bf16_to_f32(((const uint16_t *)d)[at]);
    case LT_INT64: return (double)((const int64_t *)d)[at];
    default: return 0;
  }
}

/* A new [N,C,H,W] tensor of dtype dt in format f (channels-last with
 * n_stride as the batch stride when that is not 0: N must be 1). */
static lt_tensor *make(const int64_t *shape, lt_dtype dt, lt_memory_format f, int64_t n_stride) {
  lt_tensor *t = NULL;
  if (n_stride) {
    int64_t st[4];
    lt_channels_last_strides(shape, st);
    st[0] = n_stride;
    if (lt_tensor_empty_strided(4, shape, st, dt, CPU, &t) != LT_OK) return NULL;
  } else if (lt_tensor_empty_format(4, shape, dt, CPU, f, &t) != LT_OK) {
    return NULL;
  }
  return t;
}

/* make() filled with value_at(seed, ...). */
static lt_tensor *filled(const int64_t *shape, lt_dtype dt, lt_memory_format f, int64_t n_stride, uint32_t seed,
                         bool specials) {
  lt_tensor *t = make(shape, dt, f, n_stride);
  if (!t) return NULL;
  for (int64_t n = 0; n < shape[0]; n++)
    for (int64_t c = 0; c < shape[1]; c++)
      for (int64_t h = 0; h < shape[2]; h++)
        for (int64_t w = 0; w < shape[3]; w++)
          put(t, offset_of(t, n, c, h, w), value_at(seed, shape, n, c, h, w, specials));
  return t;
}

/* Elements of a and b (same shape and dtype, any layouts) that differ in
 * their bits (two NaNs count as the same); the first is reported. */
static int64_t differences(const char *what, const lt_tensor *a, const lt_tensor *b) {
  size_t es = lt_dtype_size(a->dtype);
  const char *da = lt_tensor_data(a), *db = lt_tensor_data(b);
  int64_t bad = 0;
  for (int64_t n = 0; n < a->shape[0]; n++)
    for (int64_t c = 0; c < a->shape[1]; c++)
      for (int64_t h = 0; h < a->shape[2]; h++)
        for (int64_t w = 0; w < a->shape[3]; w++) {
          size_t oa = offset_of(a, n, c, h, w), ob = offset_of(b, n, c, h, w);
          if (memcmp(da + oa * es, db + ob * es, es) == 0) continue;
          double va = get(a, oa), vb = get(b, ob);
          if (isnan(va) && isnan(vb)) continue;
          if (bad++ == 0)
            fprintf(stderr, "%s: [%lld,%lld,%lld,%lld] NCHW %.17g, channels-last %.17g\n", what, (long long)n,
                    (long long)c, (long long)h, (long long)w, va, vb);
        }
  return bad;
}

/* Each max_pool2d output is the input's value at its index (or -inf at -1). */
static int64_t index_mismatches(const lt_tensor *y, const lt_tensor *idx, const lt_tensor *x) {
  int64_t bad = 0, W = x->shape[3];
  for (int64_t n = 0; n < y->shape[0]; n++)
    for (int64_t c = 0; c < y->shape[1]; c++)
      for (int64_t h = 0; h < y->shape[2]; h++)
        for (int64_t w = 0; w < y->shape[3]; w++) {
          int64_t i = (int64_t)get(idx, offset_of(idx, n, c, h, w));
          double v = get(y, offset_of(y, n, c, h, w));
          double want = i < 0 ? -INFINITY : get(x, offset_of(x, n, c, i / W, i % W));
          if (i >= x->shape[2] * W || !(v == want || (isnan(v) && isnan(want)))) bad++;
        }
  return bad;
}

static void release(int n, lt_tensor **t) {
  for (int i = 0; i < n; i++) lt_tensor_release(t[i]);
}

/* --- the cases ------------------------------------------------------------------------------------- */

typedef enum { MAX, AVG, ADAPTIVE } kind;

/* One geometry in one dtype: forward and backward in both layouts, compared.
 * p is NULL for adaptive pooling (output oh x ow). n_stride: as make()'s,
 * for the channels-last input. */
static void run_case(kind k, lt_dtype dt, const int64_t *xs, const lt_pool2d_params *p, int64_t oh, int64_t ow,
                     int64_t n_stride) {
  int64_t ys[4] = {xs[0], xs[1], oh, ow};
  if (p) {
    ys[2] = lt_pool_output_size(xs[2], p->kernel[0], p->stride[0], p->padding[0], p->dilation[0], p->ceil_mode);
    ys[3] = lt_pool_output_size(xs[3], p->kernel[1], p->stride[1], p->padding[1], p->dilation[1], p->ceil_mode);
    if (ys[2] < 1 || ys[3] < 1) return;
  }
  cases++;
  const lt_memory_format F[2] = {LT_FORMAT_CONTIGUOUS, LT_FORMAT_CHANNELS_LAST};
  uint32_t seed = (uint32_t)cases;
  lt_tensor *x[2], *y[2], *idx[2] = {NULL, NULL}, *gy[2], *gx[2];
  for (int l = 0; l < 2; l++) {
    x[l] = filled(xs, dt, F[l], l ? n_stride : 0, seed, true);
    gy[l] = filled(ys, dt, F[l], 0, seed + 7777, k != MAX);
    y[l] = make(ys, dt, F[l], 0);
    gx[l] = make(xs, dt, F[l], 0);
    if (k == MAX) idx[l] = make(ys, LT_INT64, F[l], 0);
  }
  lt_status st[2];
  for (int l = 0; l < 2; l++) {
    if (k == MAX) {
      st[l] = NN->max_pool2d_forward(y[l], idx[l], x[l], p);
      if (st[l] == LT_OK) st[l] = NN->max_pool2d_backward(gx[l], gy[l], idx[l], p);
    } else if (k == AVG) {
      st[l] = NN->avg_pool2d_forward(y[l], x[l], p);
      if (st[l] == LT_OK) st[l] = NN->avg_pool2d_backward(gx[l], gy[l], p);
    } else {
      st[l] = NN->adaptive_avg_pool2d_forward(y[l], x[l]);
      if (st[l] == LT_OK) st[l] = NN->adaptive_avg_pool2d_backward(gx[l], gy[l]);
    }
  }
  char what[256];
  snprintf(what, sizeof what,
           "%s %s x [%lld,%lld,%lld,%lld] y %lldx%lld k %lldx%lld s %lldx%lld p %lldx%lld d %lldx%lld%s%s%s",
           k == MAX ? "max" : k == AVG ? "avg" : "adaptive", lt_dtype_name(dt), (long long)xs[0], (long long)xs[1],
           (long long)xs[2], (long long)xs[3], (long long)ys[2], (long long)ys[3], p ? (long long)p->kernel[0] : 0LL,
           p ? (long long)p->kernel[1] : 0LL, p ? (long long)p->stride[0] : 0LL, p ? (long long)p->stride[1] : 0LL,
           p ? (long long)p->padding[0] : 0LL, p ? (long long)p->padding[1] : 0LL, p ? (long long)p->dilation[0] : 0LL,
           p ? (long long)p->dilation[1] : 0LL, p && p->ceil_mode ? " ceil" : "",
           p && k == AVG && !p->count_include_pad ? " exclude-pad" : "",
           p && k == AVG && p->divisor_override ? " divisor" : "");
  bool ok = st[0] == LT_OK && st[1] == LT_OK;
  if (!ok) fprintf(stderr, "%s: %s\n", what, lt_error_message());
  LT_CHECK(ok);
  if (ok) {
    char w2[300];
    snprintf(w2, sizeof w2, "%s: y", what);
    LT_CHECK(differences(w2, y[0], y[1]) == 0);
    snprintf(w2, sizeof w2, "%s: gx", what);
    LT_CHECK(differences(w2, gx[0], gx[1]) == 0);
    if (k == MAX) {
      snprintf(w2, sizeof w2, "%s: indices", what);
      LT_CHECK(differences(w2, idx[0], idx[1]) == 0);
      int64_t bad = index_mismatches(y[1], idx[1], x[1]);
      if (bad) fprintf(stderr, "%s: %lld outputs are not the input at their index\n", what, (long long)bad);
      LT_CHECK(bad == 0);
    }
  }
  release(2, x);
  release(2, y);
  release(2, idx);
  release(2, gy);
  release(2, gx);
}

static const lt_dtype DTYPES[3] = {LT_FLOAT32, LT_FLOAT64, LT_BFLOAT16};
static const int64_t CHANNELS[4] = {1, 3, 17, 40};
static const int64_t PLANES[5][2] = {{1, 1}, {5, 7}, {8, 8}, {13, 6}, {2, 9}};

/* max and avg pooling over kernels, strides, padding, dilation, ceil_mode */
static void windows(void) {
  static const int64_t K[4][2] = {{1, 1}, {2, 2}, {3, 3}, {3, 2}}, S[3][2] = {{1, 1}, {2, 2}, {3, 2}};
  for (int d = 0; d < 3; d++)
    for (int ci = 0; ci < 4; ci++)
      for (int pi = 0; pi < 5; pi++)
        for (int ki = 0; ki < 4; ki++)
          for (int si = 0; si < 3; si++)
            for (int pad = 0; pad <= 1; pad++)
              for (int ceil = 0; ceil <= 1; ceil++) {
                int64_t N = (ci + pi) % 2 ? 2 : 1;
                int64_t xs[4] = {N, CHANNELS[ci], PLANES[pi][0], PLANES[pi][1]};
                lt_pool2d_params p = {{K[ki][0], K[ki][1]}, {S[si][0], S[si][1]}, {pad, pad}, {1, 1},
                                      ceil != 0, true, 0};
                if (pad > K[ki][0] / 2 || pad > K[ki][1] / 2) continue;
                run_case(MAX, DTYPES[d], xs, &p, 0, 0, 0);
                p.dilation[0] = 2;
                p.dilation[1] = ki == 3 ? 1 : 2;
                run_case(MAX, DTYPES[d], xs, &p, 0, 0, 0);
                p.dilation[0] = p.dilation[1] = 1;
                run_case(AVG, DTYPES[d], xs, &p, 0, 0, 0);
                p.count_include_pad = false;
                run_case(AVG, DTYPES[d], xs, &p, 0, 0, 0);
                p.divisor_override = 5;
                run_case(AVG, DTYPES[d], xs, &p, 0, 0, 0);
              }
}

/* adaptive pooling to outputs smaller than, equal to and larger than the input */
static void adaptive(void) {
  for (int d = 0; d < 3; d++)
    for (int ci = 0; ci < 4; ci++)
      for (int pi = 0; pi < 5; pi++) {
        int64_t N = (ci + pi) % 2 ? 1 : 2;
        int64_t xs[4] = {N, CHANNELS[ci], PLANES[pi][0], PLANES[pi][1]};
        const int64_t outs[5][2] = {{1, 1}, {2, 3}, {3, 3}, {xs[2], xs[3]}, {xs[2] + 2, xs[3] + 1}};
        for (int o = 0; o < 5; o++) run_case(ADAPTIVE, DTYPES[d], xs, NULL, outs[o][0], outs[o][1], 0);
      }
}

/* sizes past LT_CPU_PARALLEL_GRAIN, where the kernels use every thread */
static void parallel_sizes(void) {
  int64_t xs[4] = {4, 40, 33, 31};
  lt_pool2d_params mp = {{3, 3}, {2, 2}, {1, 1}, {1, 1}, false, true, 0};
  lt_pool2d_params ap = {{3, 3}, {2, 2}, {1, 1}, {1, 1}, true, false, 0};
  for (int d = 0; d < 3; d++) {
    run_case(MAX, DTYPES[d], xs, &mp, 0, 0, 0);
    run_case(AVG, DTYPES[d], xs, &ap, 0, 0, 0);
    run_case(ADAPTIVE, DTYPES[d], xs, NULL, 7, 5, 0);
    int64_t big[4] = {2, 512, 12, 11};
    run_case(ADAPTIVE, DTYPES[d], big, NULL, 1, 1, 0);
  }
}

/* A channels-last batch of one whose batch stride is not N*H*W*C (any
 * stride is channels-last for a size-1 dim); and a 1x1 input (in both
 * formats) padded to a 2x2 channels-last output. */
static void odd_strides(void) {
  int64_t xs[4] = {1, 17, 5, 7}, one[4] = {2, 17, 1, 1};
  lt_pool2d_params mp = {{3, 2}, {2, 1}, {1, 1}, {1, 1}, true, true, 0};
  lt_pool2d_params pad1 = {{2, 2}, {1, 1}, {1, 1}, {1, 1}, false, true, 0};
  for (int d = 0; d < 3; d++) {
    run_case(MAX, DTYPES[d], xs, &mp, 0, 0, 12345);
    run_case(AVG, DTYPES[d], xs, &mp, 0, 0, 12345);
    run_case(ADAPTIVE, DTYPES[d], xs, NULL, 3, 4, 12345);
    run_case(MAX, DTYPES[d], one, &pad1, 0, 0, 0);
    run_case(AVG, DTYPES[d], one, &pad1, 0, 0, 0);
    run_case(ADAPTIVE, DTYPES[d], one, NULL, 2, 3, 0);
  }
}

/* A call whose tensors are not all in one layout is refused. */
static void mixed_layouts(void) {
  int64_t xs[4] = {2, 3, 6, 6}, ys[4] = {2, 3, 3, 3};
  lt_pool2d_params p = {{2, 2}, {2, 2}, {0, 0}, {1, 1}, false, true, 0};
  for (int d = 0; d < 3; d++) {
    lt_tensor *x = filled(xs, DTYPES[d], LT_FORMAT_CONTIGUOUS, 0, 1, false);
    lt_tensor *gx = make(xs, DTYPES[d], LT_FORMAT_CONTIGUOUS, 0);
    lt_tensor *y = make(ys, DTYPES[d], LT_FORMAT_CHANNELS_LAST, 0);
    lt_tensor *gy = filled(ys, DTYPES[d], LT_FORMAT_CHANNELS_LAST, 0, 2, false);
    lt_tensor *idx = make(ys, LT_INT64, LT_FORMAT_CONTIGUOUS, 0);
    LT_CHECK(NN->max_pool2d_forward(y, idx, x, &p) == LT_ERR_ARG);
    LT_CHECK(strstr(lt_error_message(), "all contiguous or all channels-last") != NULL);
    LT_CHECK(NN->max_pool2d_backward(gx, gy, idx, &p) == LT_ERR_ARG);
    LT_CHECK(NN->avg_pool2d_forward(y, x, &p) == LT_ERR_ARG);
    LT_CHECK(NN->avg_pool2d_backward(gx, gy, &p) == LT_ERR_ARG);
    LT_CHECK(NN->adaptive_avg_pool2d_forward(y, x) == LT_ERR_ARG);
    LT_CHECK(NN->adaptive_avg_pool2d_backward(gx, gy) == LT_ERR_ARG);
    lt_tensor *all[5] = {x, gx, y, gy, idx};
    release(5, all);
  }
}

int main(void) {
  const lt_backend *be = lt_backend_get(LT_CPU);
  NN = be ? be->nn : NULL;
  LT_CHECK(NN && NN->max_pool2d_forward && NN->adaptive_avg_pool2d_backward);
  if (!NN) return lt_test_done();
  windows();
  adaptive();
  parallel_sizes();
  odd_strides();
  mixed_layouts();
  printf("%d pooling cases\n", cases);
  return lt_test_done();
}
