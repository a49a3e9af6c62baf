/* lt_ops_nn.c — the op layer of the nn functions (see lt_ops_nn.h): checks
 * shapes, dtypes and options with messages that name the shapes involved,
 * makes inputs contiguous, allocates outputs and calls one backend nn kernel
 * (plus generic ops for reductions and products). No autograd here. */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "lt_ops_layout.h"
#include "lt_ops_nn.h"
#include "lt_philox.h"

#define SHP(t, buf) lt_shape_str((t)->ndim, (t)->shape, (buf), sizeof(buf))

static const lt_nn_kernels *nn_of(const lt_tensor *t) {
  const lt_backend *be = lt_backend_get(lt_tensor_device(t).type);
  return be ? be->nn : NULL;
}

static const lt_backend *be_of(const lt_tensor *t) { return lt_backend_get(lt_tensor_device(t).type); }

static lt_status missing(const char *what) {
  return lt_error_set(LT_ERR_RUNTIME, 0, "%s is not implemented on this device", what);
}

/* The dtype t's backend computes the group's entries for t's dtype in
 * (lt_nn_kernels.compute_dtype), LT_NDTYPES when they do not take it. */
static lt_dtype compute_dtype(const lt_tensor *t, lt_nn_group group) {
  const lt_nn_kernels *nn = nn_of(t);
  if (nn && nn->compute_dtype) return nn->compute_dtype(group, t->dtype);
  return lt_dtype_is_floating(t->dtype) ? t->dtype : LT_NDTYPES;
}

/* t is floating, of a dtype the group's kernels take on t's device */
static lt_status check_float(const lt_tensor *t, int arg, const char *what, lt_nn_group group) {
  if (compute_dtype(t, group) != LT_NDTYPES) return LT_OK;
  if (lt_dtype_is_floating(t->dtype)) {
    char d[32];
    lt_device dev = lt_tensor_device(t);
    return lt_error_set(LT_ERR_ARG, arg, "%s of dtype %s is not supported on %s (use float32 or float64)", what,
                        lt_dtype_name(t->dtype), dev.type == LT_CPU ? "the CPU" : lt_device_str(dev, d, sizeof d));
  }
  return lt_error_set(LT_ERR_ARG, arg, "expected a floating-point %s, got %s", what, lt_dtype_name(t->dtype));
}

/* t must be on ref's device */
static lt_status check_device(const lt_tensor *t, const lt_tensor *ref, int arg, const char *what) {
  if (lt_device_equal(lt_tensor_device(t), lt_tensor_device(ref))) return LT_OK;
  char d1[32], d2[32];
  return lt_error_set(LT_ERR_ARG, arg, "%s is on %s but the input is on %s", what,
                      lt_device_str(lt_tensor_device(t), d1, sizeof d1),
                      lt_device_str(lt_tensor_device(ref), d2, sizeof d2));
}

/* t must share ref's device and dtype */
static lt_status check_like(const lt_tensor *t, const lt_tensor *ref, int arg, const char *what) {
  LT_TRY(check_device(t, ref, arg, what));
  if (t->dtype != ref->dtype)
    return lt_error_set(LT_ERR_ARG, arg, "%s has dtype %s but the input has %s", what, lt_dtype_name(t->dtype),
                        lt_dtype_name(ref->dtype));
  return LT_OK;
}

/* a [C] vector of per-channel values (running stats, affine params, class weights) */
static lt_status check_vec_shape(const lt_tensor *t, const lt_tensor *ref, int64_t C, int arg, const char *what,
                                 const char *of) {
  if (t->ndim != 1 || t->shape[0] != C) {
    char b1[128], b2[128];
    return lt_error_set(LT_ERR_ARG, arg, "%s %s does not match the %lld %s of input %s (expected [%lld])", what,
                        SHP(t, b1), (long long)C, of, SHP(ref, b2), (long long)C);
  }
  return LT_OK;
}

static lt_status check_vec(const lt_tensor *t, const lt_tensor *ref, int64_t C, int arg, const char *what,
                           const char *of) {
  LT_TRY(check_like(t, ref, arg, what));
  return check_vec_shape(t, ref, C, arg, what, of);
}

static lt_status check_same_shape(const lt_tensor *a, const lt_tensor *ref, int arg, const char *what,
                                  const char *refwhat) {
  if (lt_shape_equal(a, ref)) return LT_OK;
  char b1[128], b2[128];
  return lt_error_set(LT_ERR_ARG, arg, "%s %s does not match %s %s", what, SHP(a, b1), refwhat, SHP(ref, b2));
}

static lt_status empty_like(const lt_tensor *t, lt_tensor **out) {
  return lt_tensor_empty(t->ndim, t->shape, t->dtype, lt_tensor_device(t), out);
}

/* --- memory formats ---------------------------------------------------------------
 * conv2d, batch_norm and pooling give a channels-last result for a
 * channels-last input (conv: input or weight), as PyTorch does. A backend
 * whose kernels take channels-last tensors (lt_nn_kernels.channels_last, the
 * GPU) gets them as they are; the others get contiguous copies and their
 * results are converted back, so values never depend on the layout. */
static lt_memory_format kernel_format(const lt_tensor *t, lt_memory_format fmt) {
  const lt_nn_kernels *nn = nn_of(t);
  return fmt == LT_FORMAT_CHANNELS_LAST && nn && nn->channels_last ? fmt : LT_FORMAT_CONTIGUOUS;
}

/* The layout a convolution's kernel gets: float64 convolutions run NCHW,
 * since cuDNN has no NHWC kernels for double (PyTorch decides the same in
 * cudnn_conv_suggest_memory_format); the result is converted all the same. */
static lt_memory_format conv_kernel_format(const lt_tensor *x, lt_memory_format fmt) {
  return x->dtype == LT_FLOAT64 ? LT_FORMAT_CONTIGUOUS : kernel_format(x, fmt);
}

static lt_memory_format conv_format(const lt_tensor *x, const lt_tensor *w) {
  return lt_tensor_suggest_format(x) == LT_FORMAT_CHANNELS_LAST || lt_tensor_suggest_format(w) == LT_FORMAT_CHANNELS_LAST
             ? LT_FORMAT_CHANNELS_LAST
             : LT_FORMAT_CONTIGUOUS;
}

/* t laid out in fmt (a new reference). A tensor in both formats at once
 * ([N,C,1,1], C == 1) gets fmt's own strides on a view, without a copy, so
 * kernels (cuDNN's descriptors) and lt_tensor_suggest_format see fmt. */
static lt_status in_format(lt_tensor *t, lt_memory_format fmt, lt_tensor **out) {
  if (fmt == LT_FORMAT_CHANNELS_LAST && lt_tensor_is_channels_last(t) && lt_tensor_suggest_format(t) != fmt) {
    int64_t cl[4];
    lt_channels_last_strides(t->shape, cl);
    return lt_tensor_as_strided(t, 4, t->shape, cl, t->offset, out);
  }
  return lt_op_contiguous_format(t, fmt, out);
}

/* n tensors laid out in fmt (NULL stays NULL); on failure nothing is left. */
static lt_status format_all(int n, lt_tensor *const *in, lt_memory_format fmt, lt_tensor **out) {
  for (int i = 0; i < n; i++) out[i] = NULL;
  for (int i = 0; i < n; i++) {
    if (!in[i]) continue;
    lt_status st = in_format(in[i], fmt, &out[i]);
    if (st != LT_OK) {
      for (int j = 0; j < i; j++) lt_tensor_release(out[j]);
      return st;
    }
  }
  return LT_OK;
}

/* Replaces *t (when not NULL) by itself laid out in fmt (in_format); *t is
 * untouched on failure. */
static lt_status to_format(lt_tensor **t, lt_memory_format fmt) {
  if (!*t) return LT_OK;
  lt_tensor *c;
  LT_TRY(in_format(*t, fmt, &c));
  lt_tensor_release(*t);
  *t = c;
  return LT_OK;
}

/* Contiguous versions of n tensors (NULL stays NULL); on failure
 * nothing is left retained. */
static lt_status contig_all(int n, lt_tensor *const *in, lt_tensor **out) {
  for (int i = 0; i < n; i++) out[i] = NULL;
  for (int i = 0; i < n; i++) {
    if (!in[i]) continue;
    lt_status st = lt_op_contiguous(in[i], &out[i]);
    if (st != LT_OK) {
      for (int j = 0; j < i; j++) lt_tensor_release(out[j]);
      return st;
    }
  }
  return LT_OK;
}

static void release_all(int n, lt_tensor **t) {
  for (int i = 0; i < n; i++) lt_tensor_release(t[i]);
}

/* Ends a backward op: on success moves each computed gradient to the
 * caller's slot (slots may be NULL when that gradient was not asked for), on
 * failure releases them all. Returns st. */
static lt_status hand_over_grads(lt_status st, lt_tensor **g1, lt_tensor *t1, lt_tensor **g2, lt_tensor *t2,
                                 lt_tensor **g3, lt_tensor *t3) {
  if (st != LT_OK) {
    lt_tensor_release(t1);
    lt_tensor_release(t2);
    lt_tensor_release(t3);
    return st;
  }
  if (g1) *g1 = t1;
  if (g2) *g2 = t2;
  if (g3) *g3 = t3;
  return LT_OK;
}

/* Stores `t` into *out when out is not NULL, else drops it. */
static void hand_out(lt_tensor *t, lt_tensor **out) {
  if (out) *out = t;
  else lt_tensor_release(t);
}

static lt_status check_updatable(lt_tensor *t, int arg, const char *what) {
  if (!lt_tensor_is_contiguous(t))
    return lt_error_set(LT_ERR_ARG, arg, "%s must be contiguous: it is updated in place", what);
  return LT_OK;
}

/* ================================ unbatched inputs ================================ */

/* conv2d and the 2-D poolings take a [C,H,W] input as PyTorch does: as a
 * batch of one, whose results (and input gradient) drop the batch dim
 * again. Each op starts with the same few lines: batch_all, the op on the
 * batched views, unbatch. */
static bool unbatched(const lt_tensor *x) { return x->ndim == 3; }

/* The n tensors with a batch dim of 1 added to the 3-D ones (views; others
 * retained as they are, NULL stays NULL); on failure nothing is left. */
static lt_status batch_all(int n, lt_tensor *const *in, lt_tensor **out) {
  for (int i = 0; i < n; i++) out[i] = NULL;
  for (int i = 0; i < n; i++) {
    if (!in[i]) continue;
    lt_status st = LT_OK;
    if (in[i]->ndim == 3) st = lt_tensor_unsqueeze(in[i], 0, &out[i]);
    else lt_tensor_retain(out[i] = in[i]);
    if (st != LT_OK) {
      for (int j = 0; j < i; j++) lt_tensor_release(out[j]);
      return st;
    }
  }
  return LT_OK;
}

/* Ends an op run on batch_all's n views `b` (released here) that returned
 * st: drops the batch dim of each result the caller asked for (slots may be
 * NULL); when st or a squeeze failed, no result is left. */
static lt_status unbatch(lt_status st, int nb, lt_tensor **b, int n, lt_tensor **const *slots) {
  for (int i = 0; i < nb; i++) lt_tensor_release(b[i]);
  if (st != LT_OK) return st;
  for (int i = 0; i < n; i++) {
    if (!slots[i] || !*slots[i]) continue;
    lt_tensor *r = NULL;
    if (st == LT_OK) st = lt_tensor_squeeze(*slots[i], 0, &r);
    lt_tensor_release(*slots[i]);
    *slots[i] = r;
  }
  if (st != LT_OK)
    for (int i = 0; i < n; i++)
      if (slots[i]) { lt_tensor_release(*slots[i]); *slots[i] = NULL; }
  return st;
}

static lt_status check_batched(const lt_tensor *x, int arg) {
  char b1[128];
  if (x->ndim == 4) return LT_OK;
  return lt_error_set(LT_ERR_ARG, arg, "expected a 3-D (unbatched) [C,H,W] or 4-D (batched) [N,C,H,W] input, got %s",
                      SHP(x, b1));
}

/* ============================== another compute dtype ============================== */

/* Dropout is a mask and a multiply; on a backend that computes x's dtype
 * in another (compute_dtype: the CPU's bfloat16 in float32) both run in
 * that dtype and the results are rounded once, as a kernel taking the
 * dtype by conversion does (src/cpu/lt_cpu_bf16.c). */

/* copies of n tensors in dtype dt (NULL stays NULL); on failure nothing is left. */
static lt_status to_dtype_all(int n, lt_tensor *const *in, lt_dtype dt, lt_tensor **out) {
  for (int i = 0; i < n; i++) out[i] = NULL;
  for (int i = 0; i < n; i++) {
    if (!in[i]) continue;
    lt_status st = lt_op_to(in[i], dt, lt_tensor_device(in[i]), &out[i]);
    if (st != LT_OK) {
      for (int j = 0; j < i; j++) lt_tensor_release(out[j]);
      return st;
    }
  }
  return LT_OK;
}

/* Ends an op run in another dtype that returned st: rounds each result the
 * caller asked for (slots may be NULL) to dt; when st or a rounding failed,
 * no result is left. */
static lt_status round_all(lt_status st, int n, lt_tensor **const *slots, lt_dtype dt) {
  if (st != LT_OK) return st;
  for (int i = 0; i < n; i++) {
    if (!slots[i] || !*slots[i]) continue;
    lt_tensor *r = NULL;
    if (st == LT_OK) st = lt_op_to(*slots[i], dt, lt_tensor_device(*slots[i]), &r);
    lt_tensor_release(*slots[i]);
    *slots[i] = r;
  }
  if (st != LT_OK)
    for (int i = 0; i < n; i++)
      if (slots[i]) { lt_tensor_release(*slots[i]); *slots[i] = NULL; }
  return st;
}

/* =================================== convolution =================================== */

static lt_status conv_check(lt_tensor *x, lt_tensor *w, lt_tensor *b, const lt_conv2d_params *p, int64_t out[4]) {
  char b1[128], b2[128];
  LT_TRY(check_float(x, 1, "input", LT_NN_LAYERS));
  LT_TRY(check_like(w, x, 2, "weight"));
  if (b) LT_TRY(check_like(b, x, 3, "bias"));
  LT_TRY(check_batched(x, 1));
  if (w->ndim != 4)
    return lt_error_set(LT_ERR_ARG, 2, "expected 4-D weight [out_channels,in_channels/groups,kH,kW], got %s",
                        SHP(w, b1));
  if (p->groups < 1) return lt_error_set(LT_ERR_ARG, 4, "groups must be at least 1, got %lld", (long long)p->groups);
  for (int i = 0; i < 2; i++) {
    if (p->stride[i] < 1)
      return lt_error_set(LT_ERR_ARG, 4, "stride must be at least 1, got %lld", (long long)p->stride[i]);
    if (p->padding[i] < 0)
      return lt_error_set(LT_ERR_ARG, 4, "padding must be non-negative, got %lld", (long long)p->padding[i]);
    if (p->dilation[i] < 1)
      return lt_error_set(LT_ERR_ARG, 4, "dilation must be at least 1, got %lld", (long long)p->dilation[i]);
  }
  int64_t C = x->shape[1], CO = w->shape[0];
  if (w->shape[1] * p->groups != C) {
    if (p->groups == 1)
      return lt_error_set(LT_ERR_ARG, 2, "weight %s expects %lld input channels, input %s has %lld", SHP(w, b1),
                          (long long)w->shape[1], SHP(x, b2), (long long)C);
    return lt_error_set(LT_ERR_ARG, 2, "weight %s with groups=%lld expects %lld input channels, input %s has %lld",
                        SHP(w, b1), (long long)p->groups, (long long)(w->shape[1] * p->groups), SHP(x, b2),
                        (long long)C);
  }
  if (CO % p->groups != 0)
    return lt_error_set(LT_ERR_ARG, 2, "weight %s has %lld output channels, which groups=%lld does not divide",
                        SHP(w, b1), (long long)CO, (long long)p->groups);
  if (b && (b->ndim != 1 || b->shape[0] != CO))
    return lt_error_set(LT_ERR_ARG, 3, "bias %s does not match the %lld output channels of weight %s (expected [%lld])",
                        SHP(b, b1), (long long)CO, SHP(w, b2), (long long)CO);
  int64_t o[2];
  for (int i = 0; i < 2; i++) {
    int64_t in = x->shape[2 + i] + 2 * p->padding[i], ext = p->dilation[i] * (w->shape[2 + i] - 1) + 1;
    if (in < ext) {
      int64_t ph = x->shape[2] + 2 * p->padding[0], pw = x->shape[3] + 2 * p->padding[1];
      int64_t eh = p->dilation[0] * (w->shape[2] - 1) + 1, ew = p->dilation[1] * (w->shape[3] - 1) + 1;
      return lt_error_set(LT_ERR_ARG, 1, "input %s (%lldx%lld after padding) is smaller than the kernel (%lldx%lld with dilation) of weight %s",
                          SHP(x, b1), (long long)ph, (long long)pw, (long long)eh, (long long)ew, SHP(w, b2));
    }
    o[i] = (in - ext) / p->stride[i] + 1;
  }
  /* GEMM sizes go to BLAS as int */
  int64_t K = w->shape[1] * w->shape[2] * w->shape[3];
  if (K > INT_MAX || CO > INT_MAX || x->shape[2] * x->shape[3] > INT_MAX || x->shape[0] * o[0] * o[1] > INT_MAX)
    return lt_error_set(LT_ERR_ARG, 1, "convolution of input %s with weight %s is too large for BLAS (int sizes)",
                        SHP(x, b1), SHP(w, b2));
  out[0] = x->shape[0];
  out[1] = CO;
  out[2] = o[0];
  out[3] = o[1];
  return LT_OK;
}

lt_status lt_op_conv2d(lt_tensor *x, lt_tensor *w, lt_tensor *b, const lt_conv2d_params *p, lt_tensor **y) {
  if (unbatched(x)) {
    lt_tensor *xb;
    LT_TRY(batch_all(1, &x, &xb));
    lt_tensor **slots[1] = {y};
    return unbatch(lt_op_conv2d(xb, w, b, p, y), 1, &xb, 1, slots);
  }
  int64_t oshape[4];
  LT_TRY(conv_check(x, w, b, p, oshape));
  const lt_nn_kernels *nn = nn_of(x);
  if (!nn || !nn->conv2d_forward) return missing("conv2d");
  lt_memory_format fmt = conv_format(x, w), kf = conv_kernel_format(x, fmt);
  lt_tensor *in[2] = {x, w}, *c[2], *bc = NULL, *o = NULL;
  LT_TRY(format_all(2, in, kf, c));
  lt_status st = b ? lt_op_contiguous(b, &bc) : LT_OK;
  if (st == LT_OK) st = lt_tensor_empty_format(4, oshape, x->dtype, lt_tensor_device(x), kf, &o);
  if (st == LT_OK) st = nn->conv2d_forward(o, c[0], c[1], bc, p);
  if (st == LT_OK) st = to_format(&o, fmt);
  release_all(2, c);
  lt_tensor_release(bc);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *y = o;
  return LT_OK;
}

lt_status lt_op_conv2d_backward(lt_tensor *gy, lt_tensor *x, lt_tensor *w, const lt_conv2d_params *p, lt_tensor **gx,
                                lt_tensor **gw, lt_tensor **gb) {
  if (unbatched(x)) {
    lt_tensor *in[2] = {gy, x}, *c[2];
    LT_TRY(batch_all(2, in, c));
    lt_tensor **slots[1] = {gx};
    return unbatch(lt_op_conv2d_backward(c[0], c[1], w, p, gx, gw, gb), 2, c, 1, slots);
  }
  int64_t oshape[4];
  LT_TRY(conv_check(x, w, NULL, p, oshape));
  LT_TRY(check_like(gy, x, 1, "gradient"));
  if (gy->ndim != 4 || memcmp(gy->shape, oshape, sizeof oshape) != 0) {
    char b1[128], b2[128];
    return lt_error_set(LT_ERR_ARG, 1, "gradient %s does not match the convolution's output %s", SHP(gy, b1),
                        lt_shape_str(4, oshape, b2, sizeof b2));
  }
  const lt_nn_kernels *nn = nn_of(x);
  if (!nn || !nn->conv2d_backward) return missing("conv2d backward");
  /* gx in the convolution's format, gw in the weight's own (a parameter's
   * gradient has the parameter's layout) */
  lt_memory_format fmt = conv_format(x, w), kf = conv_kernel_format(x, fmt);
  lt_tensor *in[3] = {gy, x, w}, *c[3], *ox = NULL, *ow = NULL, *ob = NULL;
  LT_TRY(format_all(3, in, kf, c));
  lt_status st = LT_OK;
  if (gx) st = lt_tensor_empty_format(4, x->shape, x->dtype, lt_tensor_device(x), kf, &ox);
  if (st == LT_OK && gw) st = lt_tensor_empty_format(4, w->shape, w->dtype, lt_tensor_device(w), kf, &ow);
  if (st == LT_OK && gb) st = lt_tensor_empty(1, &w->shape[0], x->dtype, lt_tensor_device(x), &ob);
  if (st == LT_OK) st = nn->conv2d_backward(ox, ow, ob, c[0], c[1], c[2], p);
  if (st == LT_OK) st = to_format(&ox, fmt);
  if (st == LT_OK) st = to_format(&ow, lt_tensor_suggest_format(w));
  release_all(3, c);
  return hand_over_grads(st, gx, ox, gw, ow, gb, ob);
}

/* ================================ batch normalisation ================================ */

/* Mixed precision (what autocast runs, as cuDNN's and PyTorch's batch norm
 * do): a bfloat16/float16 input takes weight, bias and running statistics of
 * its own dtype or float32 (all four one dtype), and its saved mean/invstd are
 * float32 either way, so the statistics of 16-bit activations are never
 * rounded to 16 bits. The output and the input's gradient have the input's
 * dtype, the parameters' gradients the parameters'. float32/float64 inputs
 * take everything in their own dtype, as before. */
static bool is_16bit(lt_dtype dt) { return dt == LT_BFLOAT16 || dt == LT_FLOAT16; }
static lt_dtype bn_stat_dtype(const lt_tensor *x) { return is_16bit(x->dtype) ? LT_FLOAT32 : x->dtype; }

static lt_status bn_check_input(const lt_tensor *x, int arg) {
  if (lt_dtype_is_floating(x->dtype)) return LT_OK;
  return lt_error_set(LT_ERR_ARG, arg, "expected a floating-point input, got %s", lt_dtype_name(x->dtype));
}

/* A [C] tensor of batch norm on x's device: a parameter or running statistic
 * (param) or a saved mean/invstd, of the dtype the rule above allows. */
static lt_status bn_vec(const lt_tensor *t, const lt_tensor *x, int64_t C, int arg, const char *what, bool param) {
  if (!is_16bit(x->dtype)) return check_vec(t, x, C, arg, what, "channels");
  LT_TRY(check_device(t, x, arg, what));
  const char *xn = lt_dtype_name(x->dtype), *tn = lt_dtype_name(t->dtype);
  if (param && t->dtype != LT_FLOAT32 && t->dtype != x->dtype)
    return lt_error_set(LT_ERR_ARG, arg, "%s has dtype %s but the input has %s (expected %s or float32)", what, tn, xn,
                        xn);
  if (!param && t->dtype != LT_FLOAT32)
    return lt_error_set(LT_ERR_ARG, arg, "%s has dtype %s, expected float32 (the statistics of a %s input)", what, tn,
                        xn);
  return check_vec_shape(t, x, C, arg, what, "channels");
}

/* weight, bias, running_mean and running_var (those given) share one dtype */
static lt_status bn_one_dtype(lt_tensor *const *t, const char *const *what, const int *arg, int n) {
  int first = -1;
  for (int i = 0; i < n; i++) {
    if (!t[i]) continue;
    if (first < 0) first = i;
    else if (t[i]->dtype != t[first]->dtype)
      return lt_error_set(LT_ERR_ARG, arg[i], "%s has dtype %s but %s has %s (batch_norm's weight, bias and running "
                          "statistics share one dtype)", what[i], lt_dtype_name(t[i]->dtype), what[first],
                          lt_dtype_name(t[first]->dtype));
  }
  return LT_OK;
}

/* x as [N,C,S] (a view of the contiguous c) */
static lt_status as_ncs(lt_tensor *c, lt_tensor **out) {
  int64_t S = 1;
  for (int i = 2; i < c->ndim; i++) S *= c->shape[i];
  int64_t shape[3] = {c->shape[0], c->shape[1], S};
  return lt_tensor_view(c, 3, shape, out);
}

lt_status lt_op_batch_norm(lt_tensor *x, lt_tensor *running_mean, lt_tensor *running_var, lt_tensor *weight,
                           lt_tensor *bias, bool training, double momentum, double eps, lt_tensor **y,
                           lt_tensor **mean, lt_tensor **invstd) {
  char b1[128];
  LT_TRY(bn_check_input(x, 1));
  if (x->ndim < 2)
    return lt_error_set(LT_ERR_ARG, 1, "expected input [N,C] or [N,C,...] (at least 2-D), got %s", SHP(x, b1));
  int64_t C = x->shape[1], M = lt_tensor_numel(x) / (C > 0 ? C : 1);
  if (running_mean) LT_TRY(bn_vec(running_mean, x, C, 2, "running_mean", true));
  if (running_var) LT_TRY(bn_vec(running_var, x, C, 3, "running_var", true));
  if (weight) LT_TRY(bn_vec(weight, x, C, 4, "weight", true));
  if (bias) LT_TRY(bn_vec(bias, x, C, 5, "bias", true));
  {
    lt_tensor *pv[4] = {running_mean, running_var, weight, bias};
    const char *pn[4] = {"running_mean", "running_var", "weight", "bias"};
    const int pa[4] = {2, 3, 4, 5};
    LT_TRY(bn_one_dtype(pv, pn, pa, 4));
  }
  if (!running_mean != !running_var)
    return lt_error_set(LT_ERR_ARG, running_mean ? 3 : 2, "running_mean and running_var must be given together");
  if (!training && !running_mean)
    return lt_error_set(LT_ERR_ARG, 2, "running_mean and running_var are required in evaluation mode");
  if (training && M <= 1 && C > 0)
    return lt_error_set(LT_ERR_ARG, 1, "expected more than 1 value per channel when training, got input %s",
                        SHP(x, b1));
  if (!(eps >= 0) || isinf(eps)) return lt_error_set(LT_ERR_ARG, 8, "eps must be a non-negative number, got %g", eps);
  if (!isfinite(momentum)) return lt_error_set(LT_ERR_ARG, 7, "momentum must be a finite number, got %g", momentum);
  if (training && running_mean) {
    LT_TRY(check_updatable(running_mean, 2, "running_mean"));
    LT_TRY(check_updatable(running_var, 3, "running_var"));
  }
  const lt_nn_kernels *nn = nn_of(x);
  if (!nn || !nn->batch_norm_forward) return missing("batch_norm");
  /* running stats: updated in place when training (checked contiguous
   * above), only read in eval (a contiguous copy is fine) */
  lt_memory_format fmt = lt_tensor_suggest_format(x), kf = kernel_format(x, fmt);
  lt_tensor *in[5] = {x, weight, bias, running_mean, running_var}, *c[5];
  lt_tensor *x3 = NULL, *y3 = NULL, *o = NULL, *m = NULL, *is = NULL;
  LT_TRY(contig_all(4, in + 1, c + 1));
  lt_status st = in_format(x, kf, &c[0]);
  if (st != LT_OK) {
    c[0] = NULL;
    release_all(5, c);
    return st;
  }
  st = as_ncs(c[0], &x3);
  if (st == LT_OK) st = lt_tensor_empty_format(x->ndim, x->shape, x->dtype, lt_tensor_device(x), kf, &o);
  if (st == LT_OK) st = as_ncs(o, &y3);
  if (st == LT_OK) st = lt_tensor_empty(1, &C, bn_stat_dtype(x), lt_tensor_device(x), &m);
  if (st == LT_OK) st = lt_tensor_empty(1, &C, bn_stat_dtype(x), lt_tensor_device(x), &is);
  if (st == LT_OK) st = nn->batch_norm_forward(y3, m, is, x3, c[1], c[2], c[3], c[4], training, momentum, eps);
  if (st == LT_OK) st = to_format(&o, fmt);
  if (st == LT_OK && training && running_mean) {
    atomic_fetch_add(&running_mean->storage->version, 1);
    atomic_fetch_add(&running_var->storage->version, 1);
  }
  release_all(5, c);
  lt_tensor_release(x3);
  lt_tensor_release(y3);
  if (st != LT_OK) {
    lt_tensor_release(o);
    lt_tensor_release(m);
    lt_tensor_release(is);
    return st;
  }
  *y = o;
  hand_out(m, mean);
  hand_out(is, invstd);
  return LT_OK;
}

lt_status lt_op_batch_norm_backward(lt_tensor *gy, lt_tensor *x, lt_tensor *weight, lt_tensor *mean, lt_tensor *invstd,
                                    bool training, lt_tensor **gx, lt_tensor **gw, lt_tensor **gb) {
  LT_TRY(bn_check_input(x, 2));
  LT_TRY(check_like(gy, x, 1, "gradient"));
  LT_TRY(check_same_shape(gy, x, 1, "gradient", "input"));
  if (x->ndim < 2) return lt_error_set(LT_ERR_ARG, 2, "expected input [N,C] or [N,C,...]");
  int64_t C = x->shape[1];
  if (weight) LT_TRY(bn_vec(weight, x, C, 3, "weight", true));
  LT_TRY(bn_vec(mean, x, C, 4, "mean", false));
  LT_TRY(bn_vec(invstd, x, C, 5, "invstd", false));
  /* the parameters' gradients in the weight's dtype (a bias without a
   * weight: the statistics' dtype; autograd brings it to the bias's) */
  lt_dtype pdt = weight ? weight->dtype : bn_stat_dtype(x);
  const lt_nn_kernels *nn = nn_of(x);
  if (!nn || !nn->batch_norm_backward) return missing("batch_norm backward");
  lt_memory_format fmt = lt_tensor_suggest_format(x), kf = kernel_format(x, fmt);
  lt_tensor *in[4] = {gy, x, mean, invstd}, *c[4], *wc = NULL, *g3 = NULL, *x3 = NULL, *ox = NULL, *ox3 = NULL;
  lt_tensor *ow = NULL, *ob = NULL;
  LT_TRY(format_all(2, in, kf, c));
  lt_status st = contig_all(2, in + 2, c + 2);
  if (st != LT_OK) {
    c[2] = c[3] = NULL;
    release_all(4, c);
    return st;
  }
  st = weight ? lt_op_contiguous(weight, &wc) : LT_OK;
  if (st == LT_OK) st = as_ncs(c[0], &g3);
  if (st == LT_OK) st = as_ncs(c[1], &x3);
  if (st == LT_OK && gx) st = lt_tensor_empty_format(x->ndim, x->shape, x->dtype, lt_tensor_device(x), kf, &ox);
  if (st == LT_OK && gx) st = as_ncs(ox, &ox3);
  if (st == LT_OK && gw) st = lt_tensor_empty(1, &C, pdt, lt_tensor_device(x), &ow);
  if (st == LT_OK && gb) st = lt_tensor_empty(1, &C, pdt, lt_tensor_device(x), &ob);
  if (st == LT_OK) st = nn->batch_norm_backward(ox3, ow, ob, g3, x3, wc, c[2], c[3], training);
  if (st == LT_OK) st = to_format(&ox, fmt);
  release_all(4, c);
  lt_tensor_release(wc);
  lt_tensor_release(g3);
  lt_tensor_release(x3);
  lt_tensor_release(ox3);
  return hand_over_grads(st, gx, ox, gw, ow, gb, ob);
}

/* ============================ activations, linear, dropout ============================ */

static lt_unary_op act_unary(lt_activation act) {
  switch (act) {
    case LT_ACT_RELU: return LT_UN_RELU;
    case LT_ACT_LEAKY_RELU: return LT_UN_LEAKY_RELU;
    case LT_ACT_GELU: return LT_UN_GELU;
    case LT_ACT_GELU_TANH: return LT_UN_GELU_TANH;
    default: return LT_UN_SILU;
  }
}

lt_status lt_op_activation(lt_activation act, lt_tensor *x, double param, lt_tensor **y) {
  if (act >= LT_ACT_COUNT) return lt_error_set(LT_ERR_ARG, 0, "unknown activation %d", (int)act);
  double p[2] = {param, 0};
  return lt_op_unary(act_unary(act), x, p, y);
}

lt_status lt_op_activation_backward(lt_activation act, lt_tensor *gy, lt_tensor *x, double param, lt_tensor **gx) {
  if (act >= LT_ACT_COUNT) return lt_error_set(LT_ERR_ARG, 0, "unknown activation %d", (int)act);
  LT_TRY(check_float(gy, 1, "gradient", LT_NN_LAYERS));
  LT_TRY(check_like(x, gy, 2, "input"));
  LT_TRY(check_same_shape(gy, x, 1, "gradient", "input"));
  const lt_nn_kernels *nn = nn_of(x);
  if (!nn || !nn->activation_backward) return missing("activation backward");
  lt_tensor *o;
  const lt_tensor *like[2] = {gy, x};
  LT_TRY(lt_op_empty_for(2, like, gy->ndim, gy->shape, gy->dtype, lt_tensor_device(gy), &o));
  lt_tensor *in[3] = {o, gy, x}, *v[3];
  lt_status st = lt_op_memory_order(3, in, v);
  if (st == LT_OK) st = nn->activation_backward(act, v[0], v[1], v[2], param);
  release_all(3, v);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *gx = o;
  return LT_OK;
}

static lt_status linear_check(lt_tensor *x, lt_tensor *w, lt_tensor *b) {
  char b1[128], b2[128];
  LT_TRY(check_float(x, 1, "input", LT_NN_LAYERS));
  LT_TRY(check_like(w, x, 2, "weight"));
  if (b) LT_TRY(check_like(b, x, 3, "bias"));
  if (x->ndim < 1) return lt_error_set(LT_ERR_ARG, 1, "expected input [*, in_features], got a 0-d tensor");
  if (w->ndim != 2)
    return lt_error_set(LT_ERR_ARG, 2, "expected 2-D weight [out_features, in_features], got %s", SHP(w, b1));
  if (x->shape[x->ndim - 1] != w->shape[1])
    return lt_error_set(LT_ERR_ARG, 2, "input %s has %lld features but weight %s expects %lld", SHP(x, b1),
                        (long long)x->shape[x->ndim - 1], SHP(w, b2), (long long)w->shape[1]);
  if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
    return lt_error_set(LT_ERR_ARG, 3, "bias %s does not match the %lld outputs of weight %s (expected [%lld])",
                        SHP(b, b1), (long long)w->shape[0], SHP(w, b2), (long long)w->shape[0]);
  return LT_OK;
}

/* [1, R, C] view of a 2-D tensor (for the batched matmul kernel) */
static lt_status as_batch1(lt_tensor *t, lt_tensor **out) { return lt_tensor_unsqueeze(t, 0, out); }

/* out[M,N] = a[M,K] @ b[K,N] (+ out when beta = 1); a, b 2-D in BLAS layout. */
static lt_status mm_into(lt_tensor *out, lt_tensor *a, lt_tensor *b, double beta) {
  const lt_backend *be = be_of(out);
  if (!be->matmul) return missing("matmul");
  if (a->shape[1] == 0) return beta == 0 ? be->fill(out, 0) : LT_OK;
  lt_tensor *o3 = NULL, *a3 = NULL, *b3 = NULL;
  lt_status st = as_batch1(out, &o3);
  if (st == LT_OK) st = as_batch1(a, &a3);
  if (st == LT_OK) st = as_batch1(b, &b3);
  if (st == LT_OK) st = be->matmul(o3, a3, b3, 1.0, beta);
  lt_tensor_release(o3);
  lt_tensor_release(a3);
  lt_tensor_release(b3);
  return st;
}

/* x [*, in] -> contiguous [M, in] */
static lt_status rows_of(lt_tensor *x, lt_tensor **out) {
  lt_tensor *c;
  LT_TRY(lt_op_contiguous(x, &c));
  int64_t shape[2] = {1, x->shape[x->ndim - 1]};
  for (int i = 0; i < x->ndim - 1; i++) shape[0] *= x->shape[i];
  lt_status st = lt_tensor_view(c, 2, shape, out);
  lt_tensor_release(c);
  return st;
}

lt_status lt_op_linear(lt_tensor *x, lt_tensor *w, lt_tensor *b, lt_tensor **y) {
  LT_TRY(linear_check(x, w, b));
  const lt_nn_kernels *nn = nn_of(x);
  bool fused = nn && nn->linear_forward; /* the backend's x·wᵀ + b in one call (cuBLASLt's bias epilogue) */
  lt_tensor *x2 = NULL, *wc = NULL, *wt = NULL, *y2 = NULL, *be_ = NULL, *res = NULL;
  int64_t out_f = w->shape[0];
  lt_status st = rows_of(x, &x2);
  if (st == LT_OK) st = lt_op_contiguous(w, &wc);
  if (st == LT_OK && !fused) st = lt_tensor_transpose(wc, 0, 1, &wt);
  int64_t s2[2] = {x2 ? x2->shape[0] : 0, out_f};
  if (st == LT_OK) st = lt_tensor_empty(2, s2, x->dtype, lt_tensor_device(x), &y2);
  if (fused) {
    if (st == LT_OK && b) st = lt_op_contiguous(b, &be_);
    if (st == LT_OK) st = nn->linear_forward(y2, x2, wc, be_);
  } else {
    if (st == LT_OK && b) {
      st = lt_tensor_expand(b, 2, s2, &be_);
      if (st == LT_OK) st = be_of(x)->copy(y2, be_);
    }
    if (st == LT_OK) st = mm_into(y2, x2, wt, b ? 1.0 : 0.0);
  }
  if (st == LT_OK) {
    int64_t shape[LT_MAX_DIMS];
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    shape[x->ndim - 1] = out_f;
    st = lt_tensor_view(y2, x->ndim, shape, &res);
  }
  lt_tensor_release(x2);
  lt_tensor_release(wc);
  lt_tensor_release(wt);
  lt_tensor_release(y2);
  lt_tensor_release(be_);
  if (st != LT_OK) return st;
  *y = res;
  return LT_OK;
}

lt_status lt_op_linear_backward(lt_tensor *gy, lt_tensor *x, lt_tensor *w, lt_tensor **gx, lt_tensor **gw,
                                lt_tensor **gb) {
  LT_TRY(linear_check(x, w, NULL));
  LT_TRY(check_like(gy, x, 1, "gradient"));
  bool ok = gy->ndim == x->ndim && gy->shape[gy->ndim - 1] == w->shape[0];
  for (int i = 0; ok && i < x->ndim - 1; i++) ok = gy->shape[i] == x->shape[i];
  if (!ok) {
    char b1[128], b2[128];
    return lt_error_set(LT_ERR_ARG, 1, "gradient %s does not match the output of linear on input %s", SHP(gy, b1),
                        SHP(x, b2));
  }
  lt_tensor *g2 = NULL, *x2 = NULL, *wc = NULL, *g2t = NULL, *ox = NULL, *ox2 = NULL, *ow = NULL, *ob = NULL;
  lt_status st = rows_of(gy, &g2);
  if (st == LT_OK) st = rows_of(x, &x2);
  if (st == LT_OK) st = lt_op_contiguous(w, &wc);
  if (st == LT_OK && gx) {
    st = empty_like(x, &ox);
    if (st == LT_OK) st = rows_of(ox, &ox2);
    if (st == LT_OK) st = mm_into(ox2, g2, wc, 0.0); /* [M,out] @ [out,in] */
  }
  if (st == LT_OK && gw) {
    st = empty_like(w, &ow);
    if (st == LT_OK) st = lt_tensor_transpose(g2, 0, 1, &g2t);
    if (st == LT_OK) st = mm_into(ow, g2t, x2, 0.0); /* [out,M] @ [M,in] */
  }
  if (st == LT_OK && gb) {
    int dim0 = 0;
    st = lt_op_reduce(LT_RED_SUM, g2, 1, &dim0, false, 0, &ob, NULL);
  }
  lt_tensor_release(g2);
  lt_tensor_release(x2);
  lt_tensor_release(wc);
  lt_tensor_release(g2t);
  lt_tensor_release(ox2);
  return hand_over_grads(st, gx, ox, gw, ow, gb, ob);
}

lt_status lt_op_dropout(lt_tensor *x, double p, lt_tensor **y, lt_tensor **mask) {
  LT_TRY(check_float(x, 1, "input", LT_NN_LAYERS));
  lt_dtype cdt = compute_dtype(x, LT_NN_LAYERS);
  if (cdt != x->dtype) { /* see "another compute dtype" above */
    lt_tensor *c;
    LT_TRY(to_dtype_all(1, &x, cdt, &c));
    lt_tensor *m = NULL;
    lt_status st = lt_op_dropout(c, p, y, &m);
    lt_tensor_release(c);
    lt_tensor **slots[2] = {y, &m};
    st = round_all(st, 2, slots, x->dtype);
    if (st == LT_OK) hand_out(m, mask);
    return st;
  }
  if (!(p >= 0 && p <= 1)) return lt_error_set(LT_ERR_ARG, 2, "dropout probability must be in [0, 1], got %g", p);
  const lt_nn_kernels *nn = nn_of(x);
  if (!nn || !nn->dropout_mask) return missing("dropout");
  /* the mask takes x's layout (so x*mask keeps it), drawn in memory order */
  lt_tensor *m = NULL, *o = NULL, *mv = NULL;
  lt_status st = lt_op_empty_like(x, x->dtype, &m);
  if (st == LT_OK) st = lt_op_memory_order(1, &m, &mv);
  if (st == LT_OK) {
    if (p >= 1) {
      st = be_of(x)->fill(mv, 0);
    } else {
      lt_rng *rng = lt_rng_global();
      uint64_t first = lt_rng_reserve(rng, (uint64_t)(lt_tensor_numel(m) + 3) / 4);
      st = nn->dropout_mask(mv, p, rng->seed, first);
    }
  }
  lt_tensor_release(mv);
  if (st == LT_OK) st = lt_op_binary(LT_BIN_MUL, x, m, &o);
  if (st != LT_OK) {
    lt_tensor_release(m);
    return st;
  }
  *y = o;
  hand_out(m, mask);
  return LT_OK;
}

/* ===================================== pooling ===================================== */

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t lt_pool_output_size(int64_t in, int64_t k, int64_t s, int64_t pad, int64_t dil, bool ceil_mode) {
  int64_t o = floor_div(in + 2 * pad - dil * (k - 1) - 1 + (ceil_mode ? s - 1 : 0), s) + 1;
  if (ceil_mode && (o - 1) * s >= in + pad) o--;
  return o < 1 ? -1 : o;
}

static lt_status pool_check(lt_tensor *x, const lt_pool2d_params *p, bool is_max, int64_t oshape[4]) {
  char b1[128];
  LT_TRY(check_float(x, 1, "input", LT_NN_LAYERS));
  LT_TRY(check_batched(x, 1));
  for (int i = 0; i < 2; i++) {
    if (p->kernel[i] < 1)
      return lt_error_set(LT_ERR_ARG, 2, "kernel_size must be at least 1, got %lld", (long long)p->kernel[i]);
    if (p->stride[i] < 1)
      return lt_error_set(LT_ERR_ARG, 3, "stride must be at least 1, got %lld", (long long)p->stride[i]);
    if (p->padding[i] < 0)
      return lt_error_set(LT_ERR_ARG, 3, "padding must be non-negative, got %lld", (long long)p->padding[i]);
    if (p->dilation[i] < 1 || (!is_max && p->dilation[i] != 1))
      return lt_error_set(LT_ERR_ARG, 3, "dilation must be at least 1, got %lld", (long long)p->dilation[i]);
    if (p->padding[i] > p->kernel[i] / 2)
      return lt_error_set(LT_ERR_ARG, 3, "padding %lld should be at most half of kernel size %lld",
                          (long long)p->padding[i], (long long)p->kernel[i]);
  }
  if (p->divisor_override < 0)
    return lt_error_set(LT_ERR_ARG, 3, "divisor_override must be positive, got %lld", (long long)p->divisor_override);
  if (x->shape[2] < 1 || x->shape[3] < 1)
    return lt_error_set(LT_ERR_ARG, 1, "expected non-empty spatial dims, got input %s", SHP(x, b1));
  int64_t oh = lt_pool_output_size(x->shape[2], p->kernel[0], p->stride[0], p->padding[0], p->dilation[0], p->ceil_mode);
  int64_t ow = lt_pool_output_size(x->shape[3], p->kernel[1], p->stride[1], p->padding[1], p->dilation[1], p->ceil_mode);
  if (oh < 1 || ow < 1)
    return lt_error_set(LT_ERR_ARG, 1, "input %s is too small for a %lldx%lld window (output would be empty)",
                        SHP(x, b1), (long long)p->kernel[0], (long long)p->kernel[1]);
  oshape[0] = x->shape[0];
  oshape[1] = x->shape[1];
  oshape[2] = oh;
  oshape[3] = ow;
  return LT_OK;
}

static lt_status check_grad_shape(lt_tensor *gy, int ndim, const int64_t *shape, lt_tensor *x) {
  LT_TRY(check_like(gy, x, 1, "gradient"));
  if (gy->ndim != ndim || memcmp(gy->shape, shape, sizeof(int64_t) * (size_t)ndim) != 0) {
    char b1[128], b2[128];
    return lt_error_set(LT_ERR_ARG, 1, "gradient %s does not match the output %s", SHP(gy, b1),
                        lt_shape_str(ndim, shape, b2, sizeof b2));
  }
  return LT_OK;
}

lt_status lt_op_max_pool2d(lt_tensor *x, const lt_pool2d_params *p, lt_tensor **y, lt_tensor **indices) {
  if (unbatched(x)) {
    lt_tensor *xb;
    LT_TRY(batch_all(1, &x, &xb));
    lt_tensor **slots[2] = {y, indices};
    return unbatch(lt_op_max_pool2d(xb, p, y, indices), 1, &xb, 2, slots);
  }
  int64_t os[4];
  LT_TRY(pool_check(x, p, true, os));
  const lt_nn_kernels *nn = nn_of(x);
  if (!nn || !nn->max_pool2d_forward) return missing("max_pool2d");
  lt_memory_format fmt = lt_tensor_suggest_format(x), kf = kernel_format(x, fmt);
  lt_tensor *xc = NULL, *o = NULL, *idx = NULL;
  LT_TRY(in_format(x, kf, &xc));
  lt_status st = lt_tensor_empty_format(4, os, x->dtype, lt_tensor_device(x), kf, &o);
  if (st == LT_OK) st = lt_tensor_empty_format(4, os, LT_INT64, lt_tensor_device(x), kf, &idx);
  if (st == LT_OK) st = nn->max_pool2d_forward(o, idx, xc, p);
  if (st == LT_OK) st = to_format(&o, fmt);
  if (st == LT_OK) st = to_format(&idx, fmt);
  lt_tensor_release(xc);
  if (st != LT_OK) {
    lt_tensor_release(o);
    lt_tensor_release(idx);
    return st;
  }
  *y = o;
  hand_out(idx, indices);
  return LT_OK;
}

lt_status lt_op_max_pool2d_backward(lt_tensor *gy, lt_tensor *x, lt_tensor *indices, const lt_pool2d_params *p,
                                    lt_tensor **gx) {
  if (unbatched(x)) {
    lt_tensor *in[3] = {gy, x, indices}, *c[3];
    LT_TRY(batch_all(3, in, c));
    lt_tensor **slots[1] = {gx};
    return unbatch(lt_op_max_pool2d_backward(c[0], c[1], c[2], p, gx), 3, c, 1, slots);
  }
  LT_TRY(check_float(x, 2, "input", LT_NN_LAYERS));
  if (x->ndim != 4) return lt_error_set(LT_ERR_ARG, 2, "expected 4-D input [N,C,H,W]");
  if (indices->dtype != LT_INT64 || !lt_device_equal(lt_tensor_device(indices), lt_tensor_device(x)))
    return lt_error_set(LT_ERR_ARG, 3, "expected int64 indices on the input's device");
  LT_TRY(check_grad_shape(gy, indices->ndim, indices->shape, x));
  if (indices->ndim != 4 || indices->shape[0] != x->shape[0] || indices->shape[1] != x->shape[1])
    return lt_error_set(LT_ERR_ARG, 3, "indices do not match the input");
  const lt_nn_kernels *nn = nn_of(x);
  if (!nn || !nn->max_pool2d_backward) return missing("max_pool2d backward");
  lt_memory_format fmt = lt_tensor_suggest_format(x), kf = kernel_format(x, fmt);
  lt_tensor *in[2] = {gy, indices}, *c[2], *o = NULL;
  LT_TRY(format_all(2, in, kf, c));
  lt_status st = lt_tensor_empty_format(4, x->shape, x->dtype, lt_tensor_device(x), kf, &o);
  if (st == LT_OK) st = nn->max_pool2d_backward(o, c[0], c[1], p);
  if (st == LT_OK) st = to_format(&o, fmt);
  release_all(2, c);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *gx = o;
  return LT_OK;
}

lt_status lt_op_avg_pool2d(lt_tensor *x, const lt_pool2d_params *p, lt_tensor **y) {
  if (unbatched(x)) {
    lt_tensor *xb;
    LT_TRY(batch_all(1, &x, &xb));
    lt_tensor **slots[1] = {y};
    return unbatch(lt_op_avg_pool2d(xb, p, y), 1, &xb, 1, slots);
  }
  int64_t os[4];
  LT_TRY(pool_check(x, p, false, os));
  const lt_nn_kernels *nn = nn_of(x);
  if (!nn || !nn->avg_pool2d_forward) return missing("avg_pool2d");
  lt_memory_format fmt = lt_tensor_suggest_format(x), kf = kernel_format(x, fmt);
  lt_tensor *xc = NULL, *o = NULL;
  LT_TRY(in_format(x, kf, &xc));
  lt_status st = lt_tensor_empty_format(4, os, x->dtype, lt_tensor_device(x), kf, &o);
  if (st == LT_OK) st = nn->avg_pool2d_forward(o, xc, p);
  if (st == LT_OK) st = to_format(&o, fmt);
  lt_tensor_release(xc);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *y = o;
  return LT_OK;
}

lt_status lt_op_avg_pool2d_backward(lt_tensor *gy, lt_tensor *x, const lt_pool2d_params *p, lt_tensor **gx) {
  if (unbatched(x)) {
    lt_tensor *in[2] = {gy, x}, *c[2];
    LT_TRY(batch_all(2, in, c));
    lt_tensor **slots[1] = {gx};
    return unbatch(lt_op_avg_pool2d_backward(c[0], c[1], p, gx), 2, c, 1, slots);
  }
  int64_t os[4];
  LT_TRY(pool_check(x, p, false, os));
  LT_TRY(check_grad_shape(gy, 4, os, x));
  const lt_nn_kernels *nn = nn_of(x);
  if (!nn || !nn->avg_pool2d_backward) return missing("avg_pool2d backward");
  lt_memory_format fmt = lt_tensor_suggest_format(x), kf = kernel_format(x, fmt);
  lt_tensor *gc = NULL, *o = NULL;
  LT_TRY(in_format(gy, kf, &gc));
  lt_status st = lt_tensor_empty_format(4, x->shape, x->dtype, lt_tensor_device(x), kf, &o);
  if (st == LT_OK) st = nn->avg_pool2d_backward(o, gc, p);
  if (st == LT_OK) st = to_format(&o, fmt);
  lt_tensor_release(gc);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *gx = o;
  return LT_OK;
}

static lt_status adaptive_check(lt_tensor *x, int64_t oh, int64_t ow) {
  char b1[128];
  LT_TRY(check_float(x, 1, "input", LT_NN_LAYERS));
  LT_TRY(check_batched(x, 1));
  if (oh < 1 || ow < 1)
    return lt_error_set(LT_ERR_ARG, 2, "output_size must be positive, got %lldx%lld", (long long)oh, (long long)ow);
  if (x->shape[2] < 1 || x->shape[3] < 1)
    return lt_error_set(LT_ERR_ARG, 1, "expected non-empty spatial dims, got input %s", SHP(x, b1));
  return LT_OK;
}

lt_status lt_op_adaptive_avg_pool2d(lt_tensor *x, int64_t oh, int64_t ow, lt_tensor **y) {
  if (unbatched(x)) {
    lt_tensor *xb;
    LT_TRY(batch_all(1, &x, &xb));
    lt_tensor **slots[1] = {y};
    return unbatch(lt_op_adaptive_avg_pool2d(xb, oh, ow, y), 1, &xb, 1, slots);
  }
  LT_TRY(adaptive_check(x, oh, ow));
  const lt_nn_kernels *nn = nn_of(x);
  if (!nn || !nn->adaptive_avg_pool2d_forward) return missing("adaptive_avg_pool2d");
  int64_t os[4] = {x->shape[0], x->shape[1], oh, ow};
  lt_memory_format fmt = lt_tensor_suggest_format(x), kf = kernel_format(x, fmt);
  lt_tensor *xc = NULL, *o = NULL;
  LT_TRY(in_format(x, kf, &xc));
  lt_status st = lt_tensor_empty_format(4, os, x->dtype, lt_tensor_device(x), kf, &o);
  if (st == LT_OK) st = nn->adaptive_avg_pool2d_forward(o, xc);
  if (st == LT_OK) st = to_format(&o, fmt);
  lt_tensor_release(xc);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *y = o;
  return LT_OK;
}

lt_status lt_op_adaptive_avg_pool2d_backward(lt_tensor *gy, lt_tensor *x, lt_tensor **gx) {
  if (unbatched(x)) {
    lt_tensor *in[2] = {gy, x}, *c[2];
    LT_TRY(batch_all(2, in, c));
    lt_tensor **slots[1] = {gx};
    return unbatch(lt_op_adaptive_avg_pool2d_backward(c[0], c[1], gx), 2, c, 1, slots);
  }
  LT_TRY(check_float(x, 2, "input", LT_NN_LAYERS));
  if (x->ndim != 4 || gy->ndim != 4) return lt_error_set(LT_ERR_ARG, 1, "expected 4-D gradient and input");
  int64_t os[4] = {x->shape[0], x->shape[1], gy->shape[2], gy->shape[3]};
  LT_TRY(check_grad_shape(gy, 4, os, x));
  LT_TRY(adaptive_check(x, os[2], os[3]));
  const lt_nn_kernels *nn = nn_of(x);
  if (!nn || !nn->adaptive_avg_pool2d_backward) return missing("adaptive_avg_pool2d backward");
  lt_memory_format fmt = lt_tensor_suggest_format(x), kf = kernel_format(x, fmt);
  lt_tensor *gc = NULL, *o = NULL;
  LT_TRY(in_format(gy, kf, &gc));
  lt_status st = lt_tensor_empty_format(4, x->shape, x->dtype, lt_tensor_device(x), kf, &o);
  if (st == LT_OK) st = nn->adaptive_avg_pool2d_backward(o, gc);
  if (st == LT_OK) st = to_format(&o, fmt);
  lt_tensor_release(gc);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *gx = o;
  return LT_OK;
}

/* ===================================== softmax ===================================== */

static lt_status softmax_geom(const lt_tensor *x, int dim, int64_t *outer, int64_t *n, int64_t *inner) {
  if (x->ndim == 0 && (dim == 0 || dim == -1)) {
    *outer = *n = *inner = 1;
    return LT_OK;
  }
  if (dim < 0 || dim >= x->ndim)
    return lt_error_set(LT_ERR_ARG, 2, "dimension %d out of range for a %d-d tensor", dim + 1, x->ndim);
  *outer = *inner = 1;
  for (int i = 0; i < dim; i++) *outer *= x->shape[i];
  for (int i = dim + 1; i < x->ndim; i++) *inner *= x->shape[i];
  *n = x->shape[dim];
  return LT_OK;
}

lt_status lt_op_softmax(lt_tensor *x, int dim, bool log, lt_tensor **y) {
  LT_TRY(check_float(x, 1, "input", LT_NN_LOSSES));
  int64_t outer, n, inner;
  LT_TRY(softmax_geom(x, dim, &outer, &n, &inner));
  const lt_nn_kernels *nn = nn_of(x);
  if (!nn || !nn->softmax_forward) return missing(log ? "log_softmax" : "softmax");
  lt_tensor *xc = NULL, *o = NULL;
  LT_TRY(lt_op_contiguous(x, &xc));
  lt_status st = empty_like(x, &o);
  if (st == LT_OK && outer * n * inner > 0) st = nn->softmax_forward(o, xc, outer, n, inner, log);
  lt_tensor_release(xc);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *y = o;
  return LT_OK;
}

lt_status lt_op_softmax_backward(lt_tensor *gy, lt_tensor *y, int dim, bool log, lt_tensor **gx) {
  LT_TRY(check_float(y, 2, "output", LT_NN_LOSSES));
  LT_TRY(check_like(gy, y, 1, "gradient"));
  LT_TRY(check_same_shape(gy, y, 1, "gradient", "output"));
  int64_t outer, n, inner;
  LT_TRY(softmax_geom(y, dim, &outer, &n, &inner));
  const lt_nn_kernels *nn = nn_of(y);
  if (!nn || !nn->softmax_backward) return missing("softmax backward");
  lt_tensor *in[2] = {gy, y}, *c[2], *o = NULL;
  LT_TRY(contig_all(2, in, c));
  lt_status st = empty_like(y, &o);
  if (st == LT_OK && outer * n * inner > 0) st = nn->softmax_backward(o, c[0], c[1], outer, n, inner, log);
  release_all(2, c);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *gx = o;
  return LT_OK;
}

/* ====================================== losses ====================================== */

/* Geometry of nll: input [N,C,d...] or [C]; target [N,d...] or []. */
static lt_status nll_check(lt_tensor *logp, lt_tensor *target, lt_tensor *weight, double smoothing, int64_t *N,
                           int64_t *C, int64_t *S) {
  char b1[128], b2[128], b3[128];
  LT_TRY(check_float(logp, 1, "input", LT_NN_LOSSES));
  if (logp->ndim < 1) return lt_error_set(LT_ERR_ARG, 1, "expected input [N,C], [N,C,...] or [C], got a 0-d tensor");
  if (target->dtype != LT_INT64)
    return lt_error_set(LT_ERR_ARG, 2, "expected an int64 target of class labels, got %s target %s",
                        lt_dtype_name(target->dtype), SHP(target, b1));
  if (!lt_device_equal(lt_tensor_device(target), lt_tensor_device(logp)))
    return lt_error_set(LT_ERR_ARG, 2, "target is on another device than the input");
  /* expected target shape: the input's without the class dim */
  int cd = logp->ndim == 1 ? 0 : 1;
  int64_t ts[LT_MAX_DIMS];
  int tn = 0;
  for (int i = 0; i < logp->ndim; i++)
    if (i != cd) ts[tn++] = logp->shape[i];
  if (target->ndim != tn || memcmp(target->shape, ts, sizeof(int64_t) * (size_t)tn) != 0)
    return lt_error_set(LT_ERR_ARG, 2, "expected target of shape %s for input %s, got %s",
                        lt_shape_str(tn, ts, b1, sizeof b1), SHP(logp, b2), SHP(target, b3));
  *C = logp->shape[cd];
  *N = logp->ndim == 1 ? 1 : logp->shape[0];
  *S = 1;
  for (int i = 2; i < logp->ndim; i++) *S *= logp->shape[i];
  if (weight) LT_TRY(check_vec(weight, logp, *C, 3, "weight", "classes"));
  if (!(smoothing >= 0 && smoothing <= 1))
    return lt_error_set(LT_ERR_ARG, 3, "label_smoothing must be in [0, 1], got %g", smoothing);
  return LT_OK;
}

/* Per-element losses [N,S] and their target weights wt reduced over the
 * batch: a view in the target's shape ('none'), their sum, or the weighted
 * mean sum(loss) / sum(wt), whose denominator goes to *tw (the backward of
 * a mean divides by it). On failure nothing is left. */
static lt_status reduce_loss(lt_reduction red, lt_tensor *loss, lt_tensor *wt, const lt_tensor *target,
                             lt_tensor **res, lt_tensor **tw) {
  *res = *tw = NULL;
  if (red == LT_REDUCTION_NONE) return lt_tensor_view(loss, target->ndim, target->shape, res);
  if (red == LT_REDUCTION_SUM) return lt_op_reduce(LT_RED_SUM, loss, 0, NULL, false, 0, res, NULL);
  lt_tensor *sum = NULL;
  lt_status st = lt_op_reduce(LT_RED_SUM, loss, 0, NULL, false, 0, &sum, NULL);
  if (st == LT_OK) st = lt_op_reduce(LT_RED_SUM, wt, 0, NULL, false, 0, tw, NULL);
  if (st == LT_OK) st = lt_op_binary(LT_BIN_DIV, sum, *tw, res);
  lt_tensor_release(sum);
  if (st != LT_OK) {
    lt_tensor_release(*tw);
    *tw = NULL;
  }
  return st;
}

lt_status lt_op_nll_loss(lt_tensor *logp, lt_tensor *target, lt_tensor *weight, lt_reduction red, double smoothing,
                         int64_t ignore_index, lt_tensor **out, lt_tensor **total_weight) {
  int64_t N, C, S;
  LT_TRY(nll_check(logp, target, weight, smoothing, &N, &C, &S));
  const lt_nn_kernels *nn = nn_of(logp);
  if (!nn || !nn->nll_loss_forward) return missing("nll_loss");
  lt_tensor *in[3] = {logp, target, weight}, *c[3], *l3 = NULL, *t2 = NULL, *loss = NULL, *wt = NULL;
  lt_tensor *res = NULL, *tw = NULL;
  LT_TRY(contig_all(3, in, c));
  int64_t s3[3] = {N, C, S}, s2[2] = {N, S};
  lt_status st = lt_tensor_view(c[0], 3, s3, &l3);
  if (st == LT_OK) st = lt_tensor_view(c[1], 2, s2, &t2);
  if (st == LT_OK) st = lt_tensor_empty(2, s2, logp->dtype, lt_tensor_device(logp), &loss);
  if (st == LT_OK) st = lt_tensor_empty(2, s2, logp->dtype, lt_tensor_device(logp), &wt);
  if (st == LT_OK) st = nn->nll_loss_forward(loss, wt, l3, t2, c[2], smoothing, ignore_index);
  if (st == LT_OK) st = reduce_loss(red, loss, wt, target, &res, &tw);
  release_all(3, c);
  lt_tensor_release(l3);
  lt_tensor_release(t2);
  lt_tensor_release(loss);
  lt_tensor_release(wt);
  if (st != LT_OK) {
    lt_tensor_release(tw);
    lt_tensor_release(res);
    return st;
  }
  *out = res;
  hand_out(tw, total_weight);
  return LT_OK;
}

/* The upstream gradient per element of a reduced loss: `g` itself for
 * 'none' (checked against shape), g for 'sum', g/denom for 'mean'. denom:
 * a 0-d tensor, or NULL with `count` for a plain mean. */
static lt_status per_element_grad(lt_tensor *g, lt_reduction red, int ndim, const int64_t *shape, lt_tensor *denom,
                                  int64_t count, lt_tensor *like, lt_tensor **out) {
  char b1[128], b2[128];
  LT_TRY(check_like(g, like, 1, "gradient"));
  if (red == LT_REDUCTION_NONE) {
    if (g->ndim != ndim || memcmp(g->shape, shape, sizeof(int64_t) * (size_t)ndim) != 0)
      return lt_error_set(LT_ERR_ARG, 1, "gradient %s does not match the loss %s", SHP(g, b1),
                          lt_shape_str(ndim, shape, b2, sizeof b2));
    return lt_op_contiguous(g, out);
  }
  if (lt_tensor_numel(g) != 1)
    return lt_error_set(LT_ERR_ARG, 1, "gradient of a reduced loss must have one element, got %s", SHP(g, b1));
  if (red == LT_REDUCTION_SUM) return lt_op_contiguous(g, out);
  if (denom) return lt_op_binary(LT_BIN_DIV, g, denom, out);
  return lt_op_binary_scalar(LT_BIN_DIV, g, (double)count, LT_FLOAT64, false, out);
}

lt_status lt_op_nll_loss_backward(lt_tensor *g, lt_tensor *logp, lt_tensor *target, lt_tensor *weight,
                                  lt_reduction red, double smoothing, int64_t ignore_index, lt_tensor *total_weight,
                                  lt_tensor **glogp) {
  int64_t N, C, S;
  LT_TRY(nll_check(logp, target, weight, smoothing, &N, &C, &S));
  if (red == LT_REDUCTION_MEAN && !total_weight)
    return lt_error_set(LT_ERR_ARG, 0, "nll_loss backward of a mean needs the total weight");
  const lt_nn_kernels *nn = nn_of(logp);
  if (!nn || !nn->nll_loss_backward) return missing("nll_loss backward");
  lt_tensor *ge = NULL, *in[2] = {target, weight}, *c[2], *t2 = NULL, *o = NULL, *o3 = NULL;
  LT_TRY(per_element_grad(g, red, target->ndim, target->shape, total_weight, 0, logp, &ge));
  lt_status st = contig_all(2, in, c);
  if (st != LT_OK) { lt_tensor_release(ge); return st; }
  int64_t s3[3] = {N, C, S}, s2[2] = {N, S};
  st = lt_tensor_view(c[0], 2, s2, &t2);
  if (st == LT_OK) st = empty_like(logp, &o);
  if (st == LT_OK) st = lt_tensor_view(o, 3, s3, &o3);
  if (st == LT_OK) st = nn->nll_loss_backward(o3, ge, t2, c[1], smoothing, ignore_index);
  release_all(2, c);
  lt_tensor_release(ge);
  lt_tensor_release(t2);
  lt_tensor_release(o3);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *glogp = o;
  return LT_OK;
}

/* --- cross-entropy ---------------------------------------------------------------------
 * Fused: one kernel reads the logits once and writes the per-element loss,
 * the target weight and the row's log-sum-exp; the backward rebuilds
 * softmax from the logits and that log-sum-exp, so no [N,C] log-probability
 * tensor is kept between them. Backends without the fused kernels get
 * log_softmax then nll_loss (same results to rounding). */

/* the log-sum-exp is float64 for every dtype of logits (see lt_backend_nn.h) */
static lt_dtype lse_dtype(const lt_tensor *x) {
  (void)x;
  return LT_FLOAT64;
}

bool lt_op_cross_entropy_fused(const lt_tensor *logits) {
  const lt_nn_kernels *nn = nn_of(logits);
  return nn && nn->cross_entropy_forward && nn->cross_entropy_backward;
}

static lt_status ce_check(lt_tensor *logits, lt_tensor *target, lt_tensor *weight, double smoothing, int64_t *N,
                          int64_t *C, int64_t *S) {
  LT_TRY(check_float(logits, 1, "input", LT_NN_LOSSES));
  if (logits->ndim < 1) return lt_error_set(LT_ERR_ARG, 1, "expected input [N,C], [N,C,...] or [C], got a 0-d tensor");
  return nll_check(logits, target, weight, smoothing, N, C, S); /* before any work */
}

lt_status lt_op_cross_entropy_ex(lt_tensor *logits, lt_tensor *target, lt_tensor *weight, lt_reduction red,
                                 double smoothing, int64_t ignore_index, lt_tensor **out, lt_tensor **lse,
                                 lt_tensor **total_weight) {
  int64_t N, C, S;
  LT_TRY(ce_check(logits, target, weight, smoothing, &N, &C, &S));
  const lt_nn_kernels *nn = nn_of(logits);
  if (!nn || !nn->cross_entropy_forward) return missing("fused cross_entropy");
  lt_tensor *in[3] = {logits, target, weight}, *c[3], *x3 = NULL, *t2 = NULL, *loss = NULL, *wt = NULL, *ls = NULL;
  lt_tensor *res = NULL, *tw = NULL;
  LT_TRY(contig_all(3, in, c));
  int64_t s3[3] = {N, C, S}, s2[2] = {N, S};
  lt_device dev = lt_tensor_device(logits);
  lt_status st = lt_tensor_view(c[0], 3, s3, &x3);
  if (st == LT_OK) st = lt_tensor_view(c[1], 2, s2, &t2);
  if (st == LT_OK) st = lt_tensor_empty(2, s2, logits->dtype, dev, &loss);
  if (st == LT_OK) st = lt_tensor_empty(2, s2, logits->dtype, dev, &wt);
  if (st == LT_OK) st = lt_tensor_empty(2, s2, lse_dtype(logits), dev, &ls);
  if (st == LT_OK) st = nn->cross_entropy_forward(loss, wt, ls, x3, t2, c[2], smoothing, ignore_index);
  if (st == LT_OK) st = reduce_loss(red, loss, wt, target, &res, &tw);
  release_all(3, c);
  lt_tensor_release(x3);
  lt_tensor_release(t2);
  lt_tensor_release(loss);
  lt_tensor_release(wt);
  if (st != LT_OK) {
    lt_tensor_release(ls);
    lt_tensor_release(tw);
    lt_tensor_release(res);
    return st;
  }
  *out = res;
  hand_out(ls, lse);
  hand_out(tw, total_weight);
  return LT_OK;
}

lt_status lt_op_cross_entropy(lt_tensor *logits, lt_tensor *target, lt_tensor *weight, lt_reduction red,
                              double smoothing, int64_t ignore_index, lt_tensor **out) {
  if (lt_op_cross_entropy_fused(logits))
    return lt_op_cross_entropy_ex(logits, target, weight, red, smoothing, ignore_index, out, NULL, NULL);
  int64_t N, C, S;
  LT_TRY(ce_check(logits, target, weight, smoothing, &N, &C, &S));
  lt_tensor *lp = NULL;
  LT_TRY(lt_op_softmax(logits, logits->ndim == 1 ? 0 : 1, true, &lp));
  lt_status st = lt_op_nll_loss(lp, target, weight, red, smoothing, ignore_index, out, NULL);
  lt_tensor_release(lp);
  return st;
}

lt_status lt_op_cross_entropy_probs_check(lt_tensor *logits, lt_tensor *target, lt_tensor *weight, double smoothing) {
  char b1[128], b2[128];
  LT_TRY(check_float(logits, 1, "input", LT_NN_LOSSES));
  if (logits->ndim < 1) return lt_error_set(LT_ERR_ARG, 1, "expected input [N,C], [N,C,...] or [C], got a 0-d tensor");
  LT_TRY(check_device(target, logits, 2, "target"));
  if (!lt_dtype_is_floating(target->dtype))
    return lt_error_set(LT_ERR_ARG, 2, "expected a floating-point target of class probabilities, got %s",
                        lt_dtype_name(target->dtype));
  if (!lt_shape_equal(target, logits))
    return lt_error_set(LT_ERR_ARG, 2, "target %s of class probabilities does not match input %s", SHP(target, b1),
                        SHP(logits, b2));
  if (weight) LT_TRY(check_vec(weight, logits, logits->shape[logits->ndim == 1 ? 0 : 1], 3, "weight", "classes"));
  if (!(smoothing >= 0 && smoothing <= 1))
    return lt_error_set(LT_ERR_ARG, 3, "label_smoothing must be in [0, 1], got %g", smoothing);
  return LT_OK;
}

lt_status lt_op_cross_entropy_backward(lt_tensor *g, lt_tensor *logits, lt_tensor *target, lt_tensor *weight,
                                       lt_tensor *lse, lt_reduction red, double smoothing, int64_t ignore_index,
                                       lt_tensor *total_weight, lt_tensor **glogits) {
  int64_t N, C, S;
  LT_TRY(ce_check(logits, target, weight, smoothing, &N, &C, &S));
  if (red == LT_REDUCTION_MEAN && !total_weight)
    return lt_error_set(LT_ERR_ARG, 0, "cross_entropy backward of a mean needs the total weight");
  if (!lse || lse->dtype != lse_dtype(logits) || lt_tensor_numel(lse) != N * S ||
      !lt_device_equal(lt_tensor_device(lse), lt_tensor_device(logits))) {
    char b1[128];
    return lt_error_set(LT_ERR_ARG, 5, "cross_entropy backward needs the forward's %s log-sum-exp of %lld elements "
                        "for input %s", lt_dtype_name(lse_dtype(logits)), (long long)(N * S), SHP(logits, b1));
  }
  const lt_nn_kernels *nn = nn_of(logits);
  if (!nn || !nn->cross_entropy_backward) return missing("fused cross_entropy backward");
  lt_tensor *ge = NULL, *in[4] = {logits, target, weight, lse}, *c[4], *x3 = NULL, *t2 = NULL, *l2 = NULL;
  lt_tensor *o = NULL, *o3 = NULL;
  LT_TRY(per_element_grad(g, red, target->ndim, target->shape, total_weight, 0, logits, &ge));
  lt_status st = contig_all(4, in, c);
  if (st != LT_OK) { lt_tensor_release(ge); return st; }
  int64_t s3[3] = {N, C, S}, s2[2] = {N, S};
  st = lt_tensor_view(c[0], 3, s3, &x3);
  if (st == LT_OK) st = lt_tensor_view(c[1], 2, s2, &t2);
  if (st == LT_OK) st = lt_tensor_view(c[3], 2, s2, &l2);
  if (st == LT_OK) st = empty_like(logits, &o);
  if (st == LT_OK) st = lt_tensor_view(o, 3, s3, &o3);
  if (st == LT_OK) st = nn->cross_entropy_backward(o3, ge, x3, l2, t2, c[2], smoothing, ignore_index);
  release_all(4, c);
  lt_tensor_release(ge);
  lt_tensor_release(x3);
  lt_tensor_release(t2);
  lt_tensor_release(l2);
  lt_tensor_release(o3);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *glogits = o;
  return LT_OK;
}

/* w broadcast to x's shape and made contiguous (NULL stays NULL) */
static lt_status broadcast_to(lt_tensor *w, lt_tensor *x, int arg, const char *what, lt_tensor **out) {
  *out = NULL;
  if (!w) return LT_OK;
  LT_TRY(check_like(w, x, arg, what));
  lt_tensor *e = NULL;
  if (lt_tensor_expand(w, x->ndim, x->shape, &e) != LT_OK) {
    char b1[128], b2[128];
    return lt_error_set(LT_ERR_ARG, arg, "%s %s cannot be broadcast to input %s", what, SHP(w, b1), SHP(x, b2));
  }
  lt_status st = lt_op_contiguous(e, out);
  lt_tensor_release(e);
  return st;
}

static lt_status ploss_check(lt_pointwise_loss kind, lt_tensor *x, lt_tensor *y) {
  if (kind >= LT_PLOSS_COUNT) return lt_error_set(LT_ERR_ARG, 0, "unknown loss %d", (int)kind);
  LT_TRY(check_float(x, 1, "input", LT_NN_LOSSES));
  if (!lt_device_equal(lt_tensor_device(y), lt_tensor_device(x)))
    return lt_error_set(LT_ERR_ARG, 2, "target is on another device than the input");
  if (y->dtype != x->dtype)
    return lt_error_set(LT_ERR_ARG, 2, "target has dtype %s but the input has %s (convert it first)",
                        lt_dtype_name(y->dtype), lt_dtype_name(x->dtype));
  if (!lt_shape_equal(x, y)) {
    char b1[128], b2[128];
    return lt_error_set(LT_ERR_ARG, 2, "target %s and input %s differ in shape", SHP(y, b1), SHP(x, b2));
  }
  return LT_OK;
}

lt_status lt_op_pointwise_loss(lt_pointwise_loss kind, lt_tensor *x, lt_tensor *y, lt_tensor *w, lt_tensor *pw,
                               lt_reduction red, lt_tensor **out) {
  LT_TRY(ploss_check(kind, x, y));
  const lt_nn_kernels *nn = nn_of(x);
  if (!nn || !nn->pointwise_loss_forward) return missing("loss");
  lt_tensor *in[2] = {x, y}, *c[2], *wc = NULL, *pc = NULL, *l = NULL, *res = NULL;
  LT_TRY(contig_all(2, in, c));
  lt_status st = broadcast_to(w, x, 3, "weight", &wc);
  if (st == LT_OK) st = broadcast_to(pw, x, 3, "pos_weight", &pc);
  if (st == LT_OK) st = empty_like(x, &l);
  if (st == LT_OK && lt_tensor_numel(l) > 0) st = nn->pointwise_loss_forward(kind, l, c[0], c[1], wc, pc);
  if (st == LT_OK) {
    if (red == LT_REDUCTION_NONE) { res = l; l = NULL; }
    else st = lt_op_reduce(red == LT_REDUCTION_SUM ? LT_RED_SUM : LT_RED_MEAN, l, 0, NULL, false, 0, &res, NULL);
  }
  release_all(2, c);
  lt_tensor_release(wc);
  lt_tensor_release(pc);
  lt_tensor_release(l);
  if (st != LT_OK) return st;
  *out = res;
  return LT_OK;
}

lt_status lt_op_pointwise_loss_backward(lt_pointwise_loss kind, lt_tensor *g, lt_tensor *x, lt_tensor *y,
                                        lt_tensor *w, lt_tensor *pw, lt_reduction red, lt_tensor **gx,
                                        lt_tensor **gy) {
  LT_TRY(ploss_check(kind, x, y));
  const lt_nn_kernels *nn = nn_of(x);
  if (!nn || !nn->pointwise_loss_backward) return missing("loss backward");
  lt_tensor *ge = NULL, *in[2] = {x, y}, *c[2], *wc = NULL, *pc = NULL, *ox = NULL, *oy = NULL;
  LT_TRY(per_element_grad(g, red, x->ndim, x->shape, NULL, lt_tensor_numel(x), x, &ge));
  lt_status st = contig_all(2, in, c);
  if (st != LT_OK) { lt_tensor_release(ge); return st; }
  st = broadcast_to(w, x, 3, "weight", &wc);
  if (st == LT_OK) st = broadcast_to(pw, x, 3, "pos_weight", &pc);
  if (st == LT_OK && gx) st = empty_like(x, &ox);
  if (st == LT_OK && gy) st = empty_like(y, &oy);
  if (st == LT_OK && lt_tensor_numel(x) > 0) st = nn->pointwise_loss_backward(kind, ox, oy, ge, c[0], c[1], wc, pc);
  release_all(2, c);
  lt_tensor_release(ge);
  lt_tensor_release(wc);
  lt_tensor_release(pc);
  return hand_over_grads(st, gx, ox, gy, oy, NULL, NULL);
}
