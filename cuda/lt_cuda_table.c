/* lt_cuda_table.c — the CUDA backend's entries in the core's kernel tables
 * (lt_backend.h and its per-area tables) and its registration.
 *
 * Each entry finds the device context of its tensors, turns them into plain
 * lt_cuda_tensor views, translates the core's op enum into the kernels' own
 * (LT_CU_*; an op the kernels don't know is reported as not implemented on
 * cuda rather than computed wrongly) and calls one launcher. Entries never
 * synchronise: they queue work on the device's stream and return. Matrix
 * products and convolutions are in lt_cublas.c and lt_cudnn.c.
 *
 * Registration only stores a pointer in the core's registry; no CUDA call
 * happens until a tensor is put on a GPU. */
#include <stdlib.h>
#include <string.h>

#include "lt_cuda_entries.h"
#include "lt_cuda_transfer.h"

_Static_assert(LT_CUDA_MAX_DIMS == LT_MAX_DIMS, "lt_cuda_tensor must hold every dimension a tensor can have");

static lt_status not_here(const char *what, int op) {
  return lt_error_set(LT_ERR_RUNTIME, 0, "%s (op %d) is not implemented on cuda", what, op);
}

/* --- memory --------------------------------------------------------------------------------------------- */
static lt_status cu_alloc(lt_device dev, size_t nbytes, void **out) { return lt_cuda_alloc_dev(dev.index, nbytes, out); }
static void cu_free(lt_device dev, void *p) { lt_cuda_free_dev(dev.index, p); }
static lt_status cu_to_host(lt_device dev, void *dst, const void *src, size_t n) {
  return lt_cuda_copy_to_host_dev(dev.index, dst, src, n);
}
static lt_status cu_from_host(lt_device dev, void *dst, const void *src, size_t n) {
  return lt_cuda_copy_from_host_dev(dev.index, dst, src, n);
}
static lt_status cu_sync(lt_device dev) { return lt_cuda_synchronize(dev.index); }
static lt_status cu_from_pinned_async(lt_device dev, void *dst, const void *src, size_t n, void *keep,
                                      void (*release)(void *keep)) {
  return lt_cuda_copy_from_pinned_async(dev.index, dst, src, n, keep, release);
}

/* --- elementwise ------------------------------------------------------------------------------------------ */
static lt_status cu_copy(lt_tensor *dst, const lt_tensor *src) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(dst, &c));
  lt_cuda_tensor d = lt_cuda_view(dst), s = lt_cuda_view(src);
  return lt_cuda_copy_k(c, &d, &s);
}

static lt_status cu_fill(lt_tensor *dst, double v) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(dst, &c));
  unsigned char pattern[8] = {0};
  lt_dtype_store_f64(pattern, dst->dtype, v); /* the CPU's conversion, exactly */
  lt_cuda_tensor d = lt_cuda_view(dst);
  return lt_cuda_fill_k(c, &d, pattern);
}

static const signed char unary_map[LT_UN_COUNT] = {
  [LT_UN_NEG] = LT_CU_UN_NEG, [LT_UN_ABS] = LT_CU_UN_ABS, [LT_UN_EXP] = LT_CU_UN_EXP, [LT_UN_LOG] = LT_CU_UN_LOG,
  [LT_UN_SQRT] = LT_CU_UN_SQRT, [LT_UN_RSQRT] = LT_CU_UN_RSQRT, [LT_UN_SIN] = LT_CU_UN_SIN,
  [LT_UN_COS] = LT_CU_UN_COS, [LT_UN_TANH] = LT_CU_UN_TANH, [LT_UN_SIGMOID] = LT_CU_UN_SIGMOID,
  [LT_UN_RELU] = LT_CU_UN_RELU, [LT_UN_FLOOR] = LT_CU_UN_FLOOR, [LT_UN_CEIL] = LT_CU_UN_CEIL,
  [LT_UN_ROUND] = LT_CU_UN_ROUND, [LT_UN_SIGN] = LT_CU_UN_SIGN, [LT_UN_RECIPROCAL] = LT_CU_UN_RECIPROCAL,
  [LT_UN_SQUARE] = LT_CU_UN_SQUARE, [LT_UN_LOGICAL_NOT] = LT_CU_UN_LOGICAL_NOT, [LT_UN_ISNAN] = LT_CU_UN_ISNAN,
  [LT_UN_CLAMP] = LT_CU_UN_CLAMP, [LT_UN_POW_SCALAR] = LT_CU_UN_POW_SCALAR,
  [LT_UN_RPOW_SCALAR] = LT_CU_UN_RPOW_SCALAR, [LT_UN_LEAKY_RELU] = LT_CU_UN_LEAKY_RELU,
  [LT_UN_GELU] = LT_CU_UN_GELU, [LT_UN_GELU_TANH] = LT_CU_UN_GELU_TANH, [LT_UN_SILU] = LT_CU_UN_SILU,
};

static lt_status cu_unary(lt_unary_op op, lt_tensor *out, const lt_tensor *x, const double *p) {
  int k = (unsigned)op < LT_UN_COUNT ? unary_map[op] : 0;
  if (!k) return not_here("unary op", (int)op);
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(out, &c));
  lt_cuda_tensor o = lt_cuda_view(out), xv = lt_cuda_view(x);
  return lt_cuda_unary_k(c, (lt_cu_unary)k, &o, &xv, p ? p[0] : 0, p ? p[1] : 0);
}

static const signed char binary_map[LT_BIN_COUNT] = {
  [LT_BIN_ADD] = LT_CU_BIN_ADD, [LT_BIN_SUB] = LT_CU_BIN_SUB, [LT_BIN_MUL] = LT_CU_BIN_MUL,
  [LT_BIN_DIV] = LT_CU_BIN_DIV, [LT_BIN_POW] = LT_CU_BIN_POW, [LT_BIN_MAXIMUM] = LT_CU_BIN_MAXIMUM,
  [LT_BIN_MINIMUM] = LT_CU_BIN_MINIMUM, [LT_BIN_FMOD] = LT_CU_BIN_FMOD, [LT_BIN_REMAINDER] = LT_CU_BIN_REMAINDER,
  [LT_BIN_ATAN2] = LT_CU_BIN_ATAN2, [LT_BIN_EQ] = LT_CU_BIN_EQ, [LT_BIN_NE] = LT_CU_BIN_NE,
  [LT_BIN_LT] = LT_CU_BIN_LT, [LT_BIN_LE] = LT_CU_BIN_LE, [LT_BIN_GT] = LT_CU_BIN_GT, [LT_BIN_GE] = LT_CU_BIN_GE,
  [LT_BIN_AND] = LT_CU_BIN_AND, [LT_BIN_OR] = LT_CU_BIN_OR, [LT_BIN_XOR] = LT_CU_BIN_XOR,
};

static lt_status cu_binary(lt_binary_op op, lt_tensor *out, const lt_tensor *a, const lt_tensor *b) {
  int k = (unsigned)op < LT_BIN_COUNT ? binary_map[op] : 0;
  if (!k) return not_here("binary op", (int)op);
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(out, &c));
  lt_cuda_tensor o = lt_cuda_view(out), av = lt_cuda_view(a), bv = lt_cuda_view(b);
  return lt_cuda_binary_k(c, (lt_cu_binary)k, &o, &av, &bv);
}

static lt_status cu_where(lt_tensor *out, const lt_tensor *cond, const lt_tensor *a, const lt_tensor *b) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(out, &c));
  lt_cuda_tensor o = lt_cuda_view(out), cv = lt_cuda_view(cond), av = lt_cuda_view(a), bv = lt_cuda_view(b);
  return lt_cuda_where_k(c, &o, &cv, &av, &bv);
}

static const signed char reduce_map[LT_RED_COUNT] = {
  [LT_RED_SUM] = LT_CU_RED_SUM, [LT_RED_PROD] = LT_CU_RED_PROD, [LT_RED_MAX] = LT_CU_RED_MAX,
  [LT_RED_MIN] = LT_CU_RED_MIN, [LT_RED_ARGMAX] = LT_CU_RED_ARGMAX, [LT_RED_ARGMIN] = LT_CU_RED_ARGMIN,
  [LT_RED_MEAN] = LT_CU_RED_MEAN, [LT_RED_VAR] = LT_CU_RED_VAR, [LT_RED_NORM] = LT_CU_RED_NORM,
  [LT_RED_ANY] = LT_CU_RED_ANY, [LT_RED_ALL] = LT_CU_RED_ALL,
};

static lt_status cu_reduce(lt_reduce_op op, lt_tensor *out, lt_tensor *idx, const lt_tensor *x, int64_t outer,
                           int64_t r, int64_t inner, double param) {
  int k = (unsigned)op < LT_RED_COUNT ? reduce_map[op] : 0;
  if (!k) return not_here("reduction", (int)op);
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  lt_cuda_tensor o, i, xv = lt_cuda_view(x);
  if (out) o = lt_cuda_view(out);
  if (idx) i = lt_cuda_view(idx);
  return lt_cuda_reduce_k(c, (lt_cu_reduce)k, out ? &o : NULL, idx ? &i : NULL, &xv, outer, r, inner, param);
}

static lt_status cu_rand(lt_rand_kind kind, lt_tensor *out, uint64_t seed, uint64_t first_block, double a, double b) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(out, &c));
  lt_cuda_tensor o = lt_cuda_view(out);
  return lt_cuda_rand_k(c, kind == LT_RAND_NORMAL, &o, seed, first_block, a, b);
}

/* --- nn ---------------------------------------------------------------------------------------------------- */
#define OPT_VIEW(name, t) lt_cuda_tensor name##_v; if (t) name##_v = lt_cuda_view(t)
#define OPT(name, t) ((t) ? &name##_v : NULL)

static lt_status cu_bn_forward(lt_tensor *y, lt_tensor *mean, lt_tensor *invstd, const lt_tensor *x,
                               const lt_tensor *weight, const lt_tensor *bias, lt_tensor *running_mean,
                               lt_tensor *running_var, bool training, double momentum, double eps) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  lt_cuda_tensor yv = lt_cuda_view(y), mv = lt_cuda_view(mean), iv = lt_cuda_view(invstd), xv = lt_cuda_view(x);
  OPT_VIEW(w, weight);
  OPT_VIEW(b, bias);
  OPT_VIEW(rm, running_mean);
  OPT_VIEW(rv, running_var);
  return lt_cuda_bn_forward_k(c, &yv, &mv, &iv, &xv, OPT(w, weight), OPT(b, bias), OPT(rm, running_mean),
                              OPT(rv, running_var), training, momentum, eps);
}

static lt_status cu_bn_backward(lt_tensor *gx, lt_tensor *gw, lt_tensor *gb, const lt_tensor *gy, const lt_tensor *x,
                                const lt_tensor *weight, const lt_tensor *mean, const lt_tensor *invstd, bool training) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  lt_cuda_tensor gyv = lt_cuda_view(gy), xv = lt_cuda_view(x), mv = lt_cuda_view(mean), iv = lt_cuda_view(invstd);
  OPT_VIEW(gx, gx);
  OPT_VIEW(gw, gw);
  OPT_VIEW(gb, gb);
  OPT_VIEW(w, weight);
  return lt_cuda_bn_backward_k(c, OPT(gx, gx), OPT(gw, gw), OPT(gb, gb), &gyv, &xv, OPT(w, weight), &mv, &iv,
                               training);
}

static const signed char act_map[LT_ACT_COUNT] = {
  [LT_ACT_RELU] = LT_CU_ACT_RELU, [LT_ACT_LEAKY_RELU] = LT_CU_ACT_LEAKY_RELU, [LT_ACT_GELU] = LT_CU_ACT_GELU,
  [LT_ACT_GELU_TANH] = LT_CU_ACT_GELU_TANH, [LT_ACT_SILU] = LT_CU_ACT_SILU,
};

static lt_status cu_act_backward(lt_activation act, lt_tensor *gx, const lt_tensor *gy, const lt_tensor *x,
                                 double param) {
  int k = (unsigned)act < LT_ACT_COUNT ? act_map[act] : 0;
  if (!k) return not_here("activation gradient", (int)act);
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(gx, &c));
  lt_cuda_tensor g = lt_cuda_view(gx), gyv = lt_cuda_view(gy), xv = lt_cuda_view(x);
  return lt_cuda_act_backward_k(c, (lt_cu_act)k, &g, &gyv, &xv, param);
}

static lt_status cu_dropout_mask(lt_tensor *mask, double p, uint64_t seed, uint64_t first_block) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(mask, &c));
  lt_cuda_tensor m = lt_cuda_view(mask);
  return lt_cuda_dropout_mask_k(c, &m, p, seed, first_block);
}

static lt_cu_pool pool_params(const lt_pool2d_params *p) {
  lt_cu_pool q;
  for (int i = 0; i < 2; i++) {
    q.kernel[i] = p->kernel[i];
    q.stride[i] = p->stride[i];
    q.padding[i] = p->padding[i];
    q.dilation[i] = p->dilation[i];
  }
  q.ceil_mode = p->ceil_mode;
  q.count_include_pad = p->count_include_pad;
  q.divisor_override = p->divisor_override;
  return q;
}

static lt_status cu_max_pool_fwd(lt_tensor *y, lt_tensor *idx, const lt_tensor *x, const lt_pool2d_params *p) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  lt_cuda_tensor yv = lt_cuda_view(y), iv = lt_cuda_view(idx), xv = lt_cuda_view(x);
  lt_cu_pool q = pool_params(p);
  return lt_cuda_max_pool_forward_k(c, &yv, &iv, &xv, &q);
}

static lt_status cu_max_pool_bwd(lt_tensor *gx, const lt_tensor *gy, const lt_tensor *idx,
                                 const lt_pool2d_params *p) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(gx, &c));
  lt_cuda_tensor g = lt_cuda_view(gx), gyv = lt_cuda_view(gy), iv = lt_cuda_view(idx);
  lt_cu_pool q = pool_params(p);
  return lt_cuda_max_pool_backward_k(c, &g, &gyv, &iv, &q);
}

static lt_status cu_avg_pool_fwd(lt_tensor *y, const lt_tensor *x, const lt_pool2d_params *p) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  lt_cuda_tensor yv = lt_cuda_view(y), xv = lt_cuda_view(x);
  lt_cu_pool q = pool_params(p);
  return lt_cuda_avg_pool_forward_k(c, &yv, &xv, &q);
}

static lt_status cu_avg_pool_bwd(lt_tensor *gx, const lt_tensor *gy, const lt_pool2d_params *p) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(gx, &c));
  lt_cuda_tensor g = lt_cuda_view(gx), gyv = lt_cuda_view(gy);
  lt_cu_pool q = pool_params(p);
  return lt_cuda_avg_pool_backward_k(c, &g, &gyv, &q);
}

static lt_status cu_adaptive_fwd(lt_tensor *y, const lt_tensor *x) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  lt_cuda_tensor yv = lt_cuda_view(y), xv = lt_cuda_view(x);
  return lt_cuda_adaptive_avg_pool_forward_k(c, &yv, &xv);
}

static lt_status cu_adaptive_bwd(lt_tensor *gx, const lt_tensor *gy) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(gx, &c));
  lt_cuda_tensor g = lt_cuda_view(gx), gyv = lt_cuda_view(gy);
  return lt_cuda_adaptive_avg_pool_backward_k(c, &g, &gyv);
}

static lt_status cu_softmax_fwd(lt_tensor *y, const lt_tensor *x, int64_t outer, int64_t n, int64_t inner, bool log) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  lt_cuda_tensor yv = lt_cuda_view(y), xv = lt_cuda_view(x);
  return lt_cuda_softmax_forward_k(c, &yv, &xv, outer, n, inner, log);
}

static lt_status cu_softmax_bwd(lt_tensor *gx, const lt_tensor *gy, const lt_tensor *y, int64_t outer, int64_t n,
                                int64_t inner, bool log) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(gx, &c));
  lt_cuda_tensor g = lt_cuda_view(gx), gyv = lt_cuda_view(gy), yv = lt_cuda_view(y);
  return lt_cuda_softmax_backward_k(c, &g, &gyv, &yv, outer, n, inner, log);
}

static lt_status cu_nll_fwd(lt_tensor *loss, lt_tensor *wt, const lt_tensor *logp, const lt_tensor *target,
                            const lt_tensor *weight, double smoothing, int64_t ignore_index) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(logp, &c));
  lt_cuda_tensor l = lt_cuda_view(loss), wtv = lt_cuda_view(wt), lp = lt_cuda_view(logp), t = lt_cuda_view(target);
  OPT_VIEW(w, weight);
  return lt_cuda_nll_forward_k(c, &l, &wtv, &lp, &t, OPT(w, weight), smoothing, ignore_index);
}

static lt_status cu_nll_bwd(lt_tensor *glogp, const lt_tensor *g, const lt_tensor *target, const lt_tensor *weight,
                            double smoothing, int64_t ignore_index) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(glogp, &c));
  lt_cuda_tensor gl = lt_cuda_view(glogp), gv = lt_cuda_view(g), t = lt_cuda_view(target);
  OPT_VIEW(w, weight);
  return lt_cuda_nll_backward_k(c, &gl, &gv, &t, OPT(w, weight), smoothing, ignore_index);
}

static lt_status cu_ce_fwd(lt_tensor *loss, lt_tensor *wt, lt_tensor *lse, const lt_tensor *x, const lt_tensor *target,
                           const lt_tensor *weight, double smoothing, int64_t ignore_index) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  lt_cuda_tensor l = lt_cuda_view(loss), wtv = lt_cuda_view(wt), sv = lt_cuda_view(lse), xv = lt_cuda_view(x),
                 t = lt_cuda_view(target);
  OPT_VIEW(w, weight);
  return lt_cuda_cross_entropy_forward_k(c, &l, &wtv, &sv, &xv, &t, OPT(w, weight), smoothing, ignore_index);
}

static lt_status cu_ce_bwd(lt_tensor *gx, const lt_tensor *g, const lt_tensor *x, const lt_tensor *lse,
                           const lt_tensor *target, const lt_tensor *weight, double smoothing, int64_t ignore_index) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  lt_cuda_tensor gxv = lt_cuda_view(gx), gv = lt_cuda_view(g), xv = lt_cuda_view(x), sv = lt_cuda_view(lse),
                 t = lt_cuda_view(target);
  OPT_VIEW(w, weight);
  return lt_cuda_cross_entropy_backward_k(c, &gxv, &gv, &xv, &sv, &t, OPT(w, weight), smoothing, ignore_index);
}

static const signed char ploss_map[LT_PLOSS_COUNT] = {
  [LT_PLOSS_MSE] = LT_CU_PLOSS_MSE, [LT_PLOSS_L1] = LT_CU_PLOSS_L1, [LT_PLOSS_BCE_LOGITS] = LT_CU_PLOSS_BCE_LOGITS,
};

static lt_status cu_ploss_fwd(lt_pointwise_loss kind, lt_tensor *loss, const lt_tensor *x, const lt_tensor *y,
                              const lt_tensor *w, const lt_tensor *pw) {
  int k = (unsigned)kind < LT_PLOSS_COUNT ? ploss_map[kind] : 0;
  if (!k) return not_here("pointwise loss", (int)kind);
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  lt_cuda_tensor l = lt_cuda_view(loss), xv = lt_cuda_view(x), yv = lt_cuda_view(y);
  OPT_VIEW(w, w);
  OPT_VIEW(pw, pw);
  return lt_cuda_ploss_forward_k(c, (lt_cu_ploss)k, &l, &xv, &yv, OPT(w, w), OPT(pw, pw));
}

static lt_status cu_ploss_bwd(lt_pointwise_loss kind, lt_tensor *gx, lt_tensor *gy, const lt_tensor *g,
                              const lt_tensor *x, const lt_tensor *y, const lt_tensor *w, const lt_tensor *pw) {
  int k = (unsigned)kind < LT_PLOSS_COUNT ? ploss_map[kind] : 0;
  if (!k) return not_here("pointwise loss", (int)kind);
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  lt_cuda_tensor gv = lt_cuda_view(g), xv = lt_cuda_view(x), yv = lt_cuda_view(y);
  OPT_VIEW(gx, gx);
  OPT_VIEW(gy, gy);
  OPT_VIEW(w, w);
  OPT_VIEW(pw, pw);
  return lt_cuda_ploss_backward_k(c, (lt_cu_ploss)k, OPT(gx, gx), OPT(gy, gy), &gv, &xv, &yv, OPT(w, w), OPT(pw, pw));
}

static const lt_nn_kernels cuda_nn = {
  .channels_last = true, /* conv (cuDNN), batch norm and pooling read NHWC as they are */
  .conv2d_forward = lt_cuda_conv2d_forward,
  .conv2d_backward = lt_cuda_conv2d_backward,
  .batch_norm_forward = cu_bn_forward,
  .batch_norm_backward = cu_bn_backward,
  .activation_backward = cu_act_backward,
  .dropout_mask = cu_dropout_mask,
  .max_pool2d_forward = cu_max_pool_fwd,
  .max_pool2d_backward = cu_max_pool_bwd,
  .avg_pool2d_forward = cu_avg_pool_fwd,
  .avg_pool2d_backward = cu_avg_pool_bwd,
  .adaptive_avg_pool2d_forward = cu_adaptive_fwd,
  .adaptive_avg_pool2d_backward = cu_adaptive_bwd,
  .softmax_forward = cu_softmax_fwd,
  .softmax_backward = cu_softmax_bwd,
  .nll_loss_forward = cu_nll_fwd,
  .nll_loss_backward = cu_nll_bwd,
  .pointwise_loss_forward = cu_ploss_fwd,
  .pointwise_loss_backward = cu_ploss_bwd,
  .cross_entropy_forward = cu_ce_fwd,
  .cross_entropy_backward = cu_ce_bwd,
  .linear_forward = lt_cuda_linear,
};

/* --- index --------------------------------------------------------------------------------------------------- */
static lt_status cu_index_select(lt_tensor *out, const lt_tensor *x, int dim, const lt_tensor *index, int64_t base) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  lt_cuda_tensor o = lt_cuda_view(out), xv = lt_cuda_view(x), iv = lt_cuda_view(index);
  return lt_cuda_index_select_k(c, &o, &xv, dim, &iv, base);
}

static lt_status cu_gather(lt_tensor *out, const lt_tensor *x, int dim, const lt_tensor *index, int64_t base) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  lt_cuda_tensor o = lt_cuda_view(out), xv = lt_cuda_view(x), iv = lt_cuda_view(index);
  return lt_cuda_gather_k(c, &o, &xv, dim, &iv, base);
}

static lt_status cu_scatter(lt_tensor *x, int dim, const lt_tensor *index, int64_t base, const lt_tensor *src,
                            bool add) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  lt_cuda_tensor xv = lt_cuda_view(x), iv = lt_cuda_view(index), sv = lt_cuda_view(src);
  return lt_cuda_scatter_k(c, &xv, dim, &iv, base, &sv, add);
}

static lt_status cu_sort(lt_tensor *values, lt_tensor *indices, const lt_tensor *x, int dim, bool descending,
                         int64_t base) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  lt_cuda_tensor v = lt_cuda_view(values), i = lt_cuda_view(indices), xv = lt_cuda_view(x);
  return lt_cuda_sort_k(c, &v, &i, &xv, dim, descending, base);
}

static lt_status cu_cumsum(lt_tensor *out, const lt_tensor *x, int dim, bool reverse) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  lt_cuda_tensor o = lt_cuda_view(out), xv = lt_cuda_view(x);
  return lt_cuda_cumsum_k(c, &o, &xv, dim, reverse);
}

static const lt_index_kernels cuda_index = {
  .index_select = cu_index_select,
  .gather = cu_gather,
  .scatter = cu_scatter,
  .sort = cu_sort,
  .cumsum = cu_cumsum,
};

/* --- optim ----------------------------------------------------------------------------------------------------
 * The lists become arrays of raw pointers for the multi-tensor kernels. */
typedef struct {
  lt_dtype *dtype;
  int64_t *numel;
  void **ptr; /* 5 lists of n */
} flat_lists;

static lt_status flatten(int n, lt_tensor *const *const *lists, int nl, flat_lists *f) {
  size_t bytes = (size_t)(n ? n : 1) * (sizeof(lt_dtype) + sizeof(int64_t) + 5 * sizeof(void *));
  char *mem = malloc(bytes);
  if (!mem) return lt_error_set(LT_ERR_OOM, 0, "out of host memory for %d parameters", n);
  f->ptr = (void **)mem;
  f->numel = (int64_t *)(mem + (size_t)(n ? n : 1) * 5 * sizeof(void *));
  f->dtype = (lt_dtype *)(f->numel + (n ? n : 1));
  for (int i = 0; i < n; i++) {
    f->dtype[i] = lists[0][i]->dtype;
    f->numel[i] = lt_tensor_numel(lists[0][i]);
  }
  for (int k = 0; k < 5; k++)
    for (int i = 0; i < n; i++) f->ptr[(size_t)k * n + i] = k < nl && lists[k] ? lt_tensor_data(lists[k][i]) : NULL;
  return LT_OK;
}

#define LIST(f, n, k, present) ((present) ? (f).ptr + (size_t)(k) * (n) : NULL)

_Static_assert(LT_CU_OPTIM_SCALARS == LT_OPTIM_SCALARS, "optimizer device scalars: one layout");
/* The device scalars of lt_backend_optim.h, NULL when the step is by value. */
#define DEV_SCALARS(h) ((h)->scalars ? (const double *)lt_tensor_data((h)->scalars) : NULL)

static lt_status cu_sgd(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *buf,
                        const bool *fresh, const lt_sgd_hparams *h) {
  if (n == 0) return LT_OK;
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(param[0], &c));
  bool has_buf = buf && h->momentum != 0;
  lt_tensor *const *lists[3] = {param, grad, has_buf ? buf : NULL};
  flat_lists f;
  LT_TRY(flatten(n, lists, 3, &f));
  lt_cu_sgd q = {h->lr, h->momentum, h->dampening, h->weight_decay, h->nesterov, h->maximize, DEV_SCALARS(h)};
  lt_status st = lt_cuda_sgd_k(c, n, f.dtype, f.numel, f.ptr, f.ptr + n, LIST(f, n, 2, has_buf), fresh, &q);
  free(f.ptr);
  return st;
}

static lt_status cu_adam(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *exp_avg,
                         lt_tensor *const *exp_avg_sq, lt_tensor *const *max_exp_avg_sq, const double *step,
                         const lt_adam_hparams *h) {
  if (n == 0) return LT_OK;
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(param[0], &c));
  bool has_max = max_exp_avg_sq && h->amsgrad;
  lt_tensor *const *lists[5] = {param, grad, exp_avg, exp_avg_sq, has_max ? max_exp_avg_sq : NULL};
  flat_lists f;
  LT_TRY(flatten(n, lists, 5, &f));
  lt_cu_adam q = {h->lr, h->beta1, h->beta2, h->eps, h->weight_decay, h->amsgrad, h->maximize,
                  h->decoupled_weight_decay, DEV_SCALARS(h)};
  lt_status st = lt_cuda_adam_k(c, n, f.dtype, f.numel, f.ptr, f.ptr + n, f.ptr + 2 * n, f.ptr + 3 * n,
                                LIST(f, n, 4, has_max), step, &q);
  free(f.ptr);
  return st;
}

static lt_status cu_rmsprop(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *square_avg,
                            lt_tensor *const *grad_avg, lt_tensor *const *buf, const lt_rmsprop_hparams *h) {
  if (n == 0) return LT_OK;
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(param[0], &c));
  bool has_avg = grad_avg && h->centered, has_buf = buf && h->momentum > 0;
  lt_tensor *const *lists[5] = {param, grad, square_avg, has_avg ? grad_avg : NULL, has_buf ? buf : NULL};
  flat_lists f;
  LT_TRY(flatten(n, lists, 5, &f));
  lt_cu_rmsprop q = {h->lr, h->alpha, h->eps, h->weight_decay, h->momentum, h->centered, h->maximize, DEV_SCALARS(h)};
  lt_status st = lt_cuda_rmsprop_k(c, n, f.dtype, f.numel, f.ptr, f.ptr + n, f.ptr + 2 * n, LIST(f, n, 3, has_avg),
                                   LIST(f, n, 4, has_buf), &q);
  free(f.ptr);
  return st;
}

static lt_status cu_adadelta(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *square_avg,
                             lt_tensor *const *acc_delta, const lt_adadelta_hparams *h) {
  if (n == 0) return LT_OK;
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(param[0], &c));
  lt_tensor *const *lists[4] = {param, grad, square_avg, acc_delta};
  flat_lists f;
  LT_TRY(flatten(n, lists, 4, &f));
  lt_cu_adadelta q = {h->lr, h->rho, h->eps, h->weight_decay, h->maximize, DEV_SCALARS(h)};
  lt_status st = lt_cuda_adadelta_k(c, n, f.dtype, f.numel, f.ptr, f.ptr + n, f.ptr + 2 * n, f.ptr + 3 * n, &q);
  free(f.ptr);
  return st;
}

static lt_status cu_adagrad(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *sum,
                            const double *step, const lt_adagrad_hparams *h) {
  if (n == 0) return LT_OK;
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(param[0], &c));
  lt_tensor *const *lists[3] = {param, grad, sum};
  flat_lists f;
  LT_TRY(flatten(n, lists, 3, &f));
  lt_cu_adagrad q = {h->lr, h->lr_decay, h->weight_decay, h->eps, h->maximize, DEV_SCALARS(h)};
  lt_status st = lt_cuda_adagrad_k(c, n, f.dtype, f.numel, f.ptr, f.ptr + n, f.ptr + 2 * n, step, &q);
  free(f.ptr);
  return st;
}

static lt_status cu_write_scalars(lt_tensor *dst, const double *v, int n) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(dst, &c));
  return lt_cuda_optim_scalars_k(c, (double *)lt_tensor_data(dst), v, n);
}

static const lt_optim_kernels cuda_optim = {
  .write_scalars = cu_write_scalars,
  .sgd = cu_sgd,
  .adam = cu_adam,
  .rmsprop = cu_rmsprop,
  .adadelta = cu_adadelta,
  .adagrad = cu_adagrad,
};

/* --- the table and its registration -------------------------------------------------------------------------- */
const lt_backend lt_cuda_backend = {
  .name = "cuda",
  .alloc = cu_alloc,
  .free = cu_free,
  .copy_to_host = cu_to_host,
  .copy_from_host = cu_from_host,
  .synchronize = cu_sync,
  .host_alloc = lt_cuda_host_alloc,
  .host_free = lt_cuda_host_free,
  .copy_from_pinned_async = cu_from_pinned_async,
  .transfer_poll = lt_cuda_transfer_poll,
  .copy = cu_copy,
  .fill = cu_fill,
  .unary = cu_unary,
  .binary = cu_binary,
  .where = cu_where,
  .reduce = cu_reduce,
  .matmul = lt_cuda_matmul,
  .rand = cu_rand,
  .index = &cuda_index,
  .nn = &cuda_nn,
  .optim = &cuda_optim,
};

void lt_cuda_register(void) { lt_backend_register(LT_CUDA, &lt_cuda_backend); }

/* When this object is linked, the backend is there before main(). */
__attribute__((constructor)) static void register_at_start(void) { lt_cuda_register(); }
