/* lt_ag_nn.c — autograd recording for the nn functions (see lt_ag_nn.h).
 * Each forward runs the op layer, then (only when an input needs a gradient)
 * creates a node, saves what the backward op needs and keeps op parameters
 * in the node's ints/scalars. Backward functions call the op layer's
 * backward ops, asking only for the gradients the graph needs.
 * The public entry points at the end apply autocast's input casts (one
 * place for all of them) and then record through the *_rec functions. */
#include "lt_ag_nn.h"

#include <string.h>

#include "lt_ag_internal.h"
#include "lt_autocast.h"

#define NEED(n, i) lt_node_needs_input_grad((n), (i))

/* Makes *out the node's output, drops the caller's node reference; on failure
 * releases *out instead. */
static lt_status finish(lt_node *n, lt_status st, lt_tensor **out) {
  if (st == LT_OK) lt_ag_set_output(n, *out, 0);
  lt_node_release(n);
  if (st != LT_OK) {
    lt_tensor_release(*out);
    *out = NULL;
  }
  return st;
}

/* A new node over `inputs`; on failure releases *out. */
static lt_status node(const char *name, lt_backward_fn fn, int n_in, lt_tensor *const *inputs, lt_tensor **out,
                      lt_node **n) {
  lt_status st = lt_ag_node_new(name, fn, n_in, inputs, 1, n);
  if (st != LT_OK) {
    lt_tensor_release(*out);
    *out = NULL;
  }
  return st;
}

/* --- convolution ---------------------------------------------------------------------- */

static lt_status conv_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  if (!g[0]) return LT_OK;
  lt_tensor *x, *w;
  LT_TRY(lt_ag_saved(n, 0, &x));
  LT_TRY(lt_ag_saved(n, 1, &w));
  lt_conv2d_params p = {{n->ints[0], n->ints[1]}, {n->ints[2], n->ints[3]}, {n->ints[4], n->ints[5]}, n->ints[6]};
  return lt_op_conv2d_backward(g[0], x, w, &p, NEED(n, 0) ? &gi[0] : NULL, NEED(n, 1) ? &gi[1] : NULL,
                               NEED(n, 2) ? &gi[2] : NULL);
}

static lt_status conv2d_rec(lt_tensor *x, lt_tensor *w, lt_tensor *b, const lt_conv2d_params *p, lt_tensor **out) {
  LT_TRY(lt_op_conv2d(x, w, b, p, out));
  lt_tensor *in[3] = {x, w, b};
  if (!lt_ag_needs_grad(3, in)) return LT_OK;
  lt_node *n;
  LT_TRY(node("ConvolutionBackward", conv_backward, 3, in, out, &n));
  lt_status st = lt_ag_save(n, x);
  if (st == LT_OK) st = lt_ag_save(n, w);
  const int64_t v[7] = {p->stride[0], p->stride[1], p->padding[0], p->padding[1],
                        p->dilation[0], p->dilation[1], p->groups};
  for (int i = 0; i < 7; i++) n->ints[i] = v[i];
  return finish(n, st, out);
}

/* --- batch normalisation ------------------------------------------------------------------ */

/* saved: x, mean, invstd[, weight]; ints: training, has_weight */
static lt_status bn_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  if (!g[0]) return LT_OK;
  lt_tensor *x, *m, *is, *w = NULL;
  LT_TRY(lt_ag_saved(n, 0, &x));
  LT_TRY(lt_ag_saved(n, 1, &m));
  LT_TRY(lt_ag_saved(n, 2, &is));
  if (n->ints[1]) LT_TRY(lt_ag_saved(n, 3, &w));
  return lt_op_batch_norm_backward(g[0], x, w, m, is, n->ints[0] != 0, NEED(n, 0) ? &gi[0] : NULL,
                                   NEED(n, 1) ? &gi[1] : NULL, NEED(n, 2) ? &gi[2] : NULL);
}

static lt_status batch_norm_rec(lt_tensor *x, lt_tensor *running_mean, lt_tensor *running_var, lt_tensor *weight,
                           lt_tensor *bias, bool training, double momentum, double eps, lt_tensor **out) {
  lt_tensor *in[3] = {x, weight, bias};
  bool rec = lt_ag_needs_grad(3, in);
  lt_tensor *m = NULL, *is = NULL;
  LT_TRY(lt_op_batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps, out,
                          rec ? &m : NULL, rec ? &is : NULL));
  if (!rec) return LT_OK;
  lt_node *n;
  lt_status st = node("NativeBatchNormBackward", bn_backward, 3, in, out, &n);
  if (st == LT_OK) {
    st = lt_ag_save(n, x);
    if (st == LT_OK) st = lt_ag_save(n, m);
    if (st == LT_OK) st = lt_ag_save(n, is);
    if (st == LT_OK && weight) st = lt_ag_save(n, weight);
    n->ints[0] = training;
    n->ints[1] = weight != NULL;
    st = finish(n, st, out);
  }
  lt_tensor_release(m);
  lt_tensor_release(is);
  return st;
}

/* --- activations ----------------------------------------------------------------------------- */

static const char *act_names[LT_ACT_COUNT] = {"ReluBackward", "LeakyReluBackward", "GeluBackward", "GeluBackward",
                                              "SiluBackward"};

/* saved: the input, or for relu (and leaky relu with a non-negative slope)
 * the output, whose sign is the input's: it is usually saved by the next
 * layer anyway, so this keeps no extra activation alive. */
static bool saves_output(lt_activation act, double param) {
  return act == LT_ACT_RELU || (act == LT_ACT_LEAKY_RELU && param >= 0);
}

static lt_status act_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  if (!g[0] || !NEED(n, 0)) return LT_OK;
  lt_tensor *s;
  LT_TRY(lt_ag_saved(n, 0, &s));
  return lt_op_activation_backward((lt_activation)n->ints[0], g[0], s, n->scalars[0], &gi[0]);
}

lt_status lt_ag_activation(lt_activation act, lt_tensor *x, double param, lt_tensor **out) {
  LT_TRY(lt_op_activation(act, x, param, out));
  if (!lt_ag_needs_grad(1, &x) || !lt_dtype_is_floating((*out)->dtype)) return LT_OK;
  lt_node *n;
  LT_TRY(node(act_names[act], act_backward, 1, &x, out, &n));
  lt_status st = saves_output(act, param) ? lt_ag_save_output(n, *out) : lt_ag_save(n, x);
  n->ints[0] = act;
  n->scalars[0] = param;
  return finish(n, st, out);
}

lt_status lt_ag_activation_(lt_activation act, lt_tensor *x, double param, const char *opname) {
  if (!lt_ag_needs_grad(1, &x)) {
    lt_tensor *r = NULL;
    LT_TRY(lt_op_activation(act, x, param, &r));
    lt_status st = r->dtype == x->dtype
                       ? lt_op_copy_(x, r)
                       : lt_error_set(LT_ERR_ARG, 1, "in-place result of type %s can't be stored in a %s tensor",
                                      lt_dtype_name(r->dtype), lt_dtype_name(x->dtype));
    lt_tensor_release(r);
    return st;
  }
  LT_TRY(lt_ag_check_inplace(x, opname));
  lt_tensor *r = NULL;
  LT_TRY(lt_ag_activation(act, x, param, &r));
  lt_status st = lt_ag_rebase(x, r);
  lt_tensor_release(r);
  return st;
}

/* --- linear ------------------------------------------------------------------------------------ */

static lt_status linear_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  if (!g[0]) return LT_OK;
  lt_tensor *x, *w;
  LT_TRY(lt_ag_saved(n, 0, &x));
  LT_TRY(lt_ag_saved(n, 1, &w));
  return lt_op_linear_backward(g[0], x, w, NEED(n, 0) ? &gi[0] : NULL, NEED(n, 1) ? &gi[1] : NULL,
                               NEED(n, 2) ? &gi[2] : NULL);
}

static lt_status linear_rec(lt_tensor *x, lt_tensor *w, lt_tensor *b, lt_tensor **out) {
  LT_TRY(lt_op_linear(x, w, b, out));
  lt_tensor *in[3] = {x, w, b};
  if (!lt_ag_needs_grad(3, in)) return LT_OK;
  lt_node *n;
  LT_TRY(node("LinearBackward", linear_backward, 3, in, out, &n));
  lt_status st = lt_ag_save(n, x);
  if (st == LT_OK) st = lt_ag_save(n, w);
  return finish(n, st, out);
}

/* --- dropout ------------------------------------------------------------------------------------ */

static lt_status dropout_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  if (!g[0] || !NEED(n, 0)) return LT_OK;
  lt_tensor *m;
  LT_TRY(lt_ag_saved(n, 0, &m));
  return lt_op_binary(LT_BIN_MUL, g[0], m, &gi[0]);
}

static lt_status check_p(double p) {
  if (!(p >= 0 && p <= 1)) return lt_error_set(LT_ERR_ARG, 2, "dropout probability must be in [0, 1], got %g", p);
  return LT_OK;
}

lt_status lt_ag_dropout(lt_tensor *x, double p, bool training, lt_tensor **out) {
  LT_TRY(check_p(p));
  if (!training || p == 0) {
    lt_tensor_retain(x);
    *out = x;
    return LT_OK;
  }
  bool rec = lt_ag_needs_grad(1, &x);
  lt_tensor *mask = NULL;
  LT_TRY(lt_op_dropout(x, p, out, rec ? &mask : NULL));
  if (!rec) return LT_OK;
  lt_node *n;
  lt_status st = node("DropoutBackward", dropout_backward, 1, &x, out, &n);
  if (st == LT_OK) st = finish(n, lt_ag_save(n, mask), out);
  lt_tensor_release(mask);
  return st;
}

lt_status lt_ag_dropout_(lt_tensor *x, double p, bool training) {
  LT_TRY(check_p(p));
  if (!training || p == 0) return LT_OK;
  if (lt_ag_needs_grad(1, &x)) LT_TRY(lt_ag_check_inplace(x, "dropout_"));
  lt_tensor *r = NULL;
  LT_TRY(lt_ag_dropout(x, p, training, &r));
  lt_status st;
  if (r->grad_fn) {
    st = lt_ag_rebase(x, r);
  } else {
    bool prev = lt_ag_set_grad_enabled(false);
    st = lt_op_copy_(x, r);
    lt_ag_set_grad_enabled(prev);
  }
  lt_tensor_release(r);
  return st;
}

/* --- pooling ------------------------------------------------------------------------------------- */

static void pool_to_ints(lt_node *n, const lt_pool2d_params *p) {
  const int64_t v[11] = {p->kernel[0], p->kernel[1], p->stride[0], p->stride[1], p->padding[0], p->padding[1],
                         p->dilation[0], p->dilation[1], p->ceil_mode, p->count_include_pad, p->divisor_override};
  for (int i = 0; i < 11; i++) n->ints[i] = v[i];
}

static lt_pool2d_params pool_from_ints(const lt_node *n) {
  lt_pool2d_params p = {{n->ints[0], n->ints[1]}, {n->ints[2], n->ints[3]}, {n->ints[4], n->ints[5]},
                        {n->ints[6], n->ints[7]}, n->ints[8] != 0, n->ints[9] != 0, n->ints[10]};
  return p;
}

static lt_status maxpool_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  if (!g[0] || !NEED(n, 0)) return LT_OK;
  lt_tensor *x, *idx;
  LT_TRY(lt_ag_saved(n, 0, &x));
  LT_TRY(lt_ag_saved(n, 1, &idx));
  lt_pool2d_params p = pool_from_ints(n);
  return lt_op_max_pool2d_backward(g[0], x, idx, &p, &gi[0]);
}

lt_status lt_ag_max_pool2d(lt_tensor *x, const lt_pool2d_params *p, lt_tensor **out, lt_tensor **indices) {
  bool rec = lt_ag_needs_grad(1, &x);
  lt_tensor *idx = NULL;
  LT_TRY(lt_op_max_pool2d(x, p, out, &idx));
  lt_status st = LT_OK;
  if (rec) {
    lt_node *n;
    st = node("MaxPool2DWithIndicesBackward", maxpool_backward, 1, &x, out, &n);
    if (st == LT_OK) {
      st = lt_ag_save(n, x);
      if (st == LT_OK) st = lt_ag_save(n, idx);
      pool_to_ints(n, p);
      st = finish(n, st, out);
    }
  }
  if (st == LT_OK && indices) *indices = idx;
  else lt_tensor_release(idx);
  return st;
}

static lt_status avgpool_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  if (!g[0] || !NEED(n, 0)) return LT_OK;
  lt_tensor *x;
  LT_TRY(lt_ag_saved(n, 0, &x));
  lt_pool2d_params p = pool_from_ints(n);
  return lt_op_avg_pool2d_backward(g[0], x, &p, &gi[0]);
}

lt_status lt_ag_avg_pool2d(lt_tensor *x, const lt_pool2d_params *p, lt_tensor **out) {
  LT_TRY(lt_op_avg_pool2d(x, p, out));
  if (!lt_ag_needs_grad(1, &x)) return LT_OK;
  lt_node *n;
  LT_TRY(node("AvgPool2DBackward", avgpool_backward, 1, &x, out, &n));
  pool_to_ints(n, p);
  return finish(n, lt_ag_save(n, x), out);
}

static lt_status adaptive_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  if (!g[0] || !NEED(n, 0)) return LT_OK;
  lt_tensor *x;
  LT_TRY(lt_ag_saved(n, 0, &x));
  return lt_op_adaptive_avg_pool2d_backward(g[0], x, &gi[0]);
}

lt_status lt_ag_adaptive_avg_pool2d(lt_tensor *x, int64_t oh, int64_t ow, lt_tensor **out) {
  LT_TRY(lt_op_adaptive_avg_pool2d(x, oh, ow, out));
  if (!lt_ag_needs_grad(1, &x)) return LT_OK;
  lt_node *n;
  LT_TRY(node("AdaptiveAvgPool2DBackward", adaptive_backward, 1, &x, out, &n));
  return finish(n, lt_ag_save(n, x), out);
}

/* --- softmax ---------------------------------------------------------------------------------------- */

static lt_status softmax_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  if (!g[0] || !NEED(n, 0)) return LT_OK;
  lt_tensor *y;
  LT_TRY(lt_ag_saved(n, 0, &y));
  return lt_op_softmax_backward(g[0], y, (int)n->ints[0], n->ints[1] != 0, &gi[0]);
}

static lt_status softmax_rec(lt_tensor *x, int dim, bool log, lt_tensor **out) {
  LT_TRY(lt_op_softmax(x, dim, log, out));
  if (!lt_ag_needs_grad(1, &x)) return LT_OK;
  lt_node *n;
  LT_TRY(node(log ? "LogSoftmaxBackward" : "SoftmaxBackward", softmax_backward, 1, &x, out, &n));
  n->ints[0] = dim;
  n->ints[1] = log;
  return finish(n, lt_ag_save_output(n, *out), out);
}

/* --- losses ----------------------------------------------------------------------------------------- */

/* The nodes of nll_loss and cross_entropy save `nfirst` tensors, then the
 * class weights and the total weight when present; ints: reduction,
 * ignore_index, has_weight, has_total; scalars: smoothing. Ends the node
 * (finish) with st. */
static lt_status loss_node_finish(lt_node *n, int nfirst, lt_tensor *const *first, lt_tensor *weight, lt_tensor *tw,
                                  lt_reduction red, int64_t ignore_index, double smoothing, lt_tensor **out) {
  lt_status st = LT_OK;
  for (int i = 0; i < nfirst && st == LT_OK; i++) st = lt_ag_save(n, first[i]);
  if (st == LT_OK && weight) st = lt_ag_save(n, weight);
  if (st == LT_OK && tw) st = lt_ag_save(n, tw);
  n->ints[0] = red;
  n->ints[1] = ignore_index;
  n->ints[2] = weight != NULL;
  n->ints[3] = tw != NULL;
  n->scalars[0] = smoothing;
  return finish(n, st, out);
}

/* The optional weight and total weight such a node saved after its first
 * k tensors (NULL when absent). */
static lt_status loss_node_optional(lt_node *n, int k, lt_tensor **w, lt_tensor **tw) {
  *w = *tw = NULL;
  if (n->ints[2]) LT_TRY(lt_ag_saved(n, k++, w));
  if (n->ints[3]) LT_TRY(lt_ag_saved(n, k, tw));
  return LT_OK;
}

/* saved: logp, target[, weight][, total_weight]; ints: reduction,
 * ignore_index, has_weight, has_total; scalars: smoothing */
static lt_status nll_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  if (!g[0] || !NEED(n, 0)) return LT_OK;
  lt_tensor *lp, *t, *w, *tw;
  LT_TRY(lt_ag_saved(n, 0, &lp));
  LT_TRY(lt_ag_saved(n, 1, &t));
  LT_TRY(loss_node_optional(n, 2, &w, &tw));
  return lt_op_nll_loss_backward(g[0], lp, t, w, (lt_reduction)n->ints[0], n->scalars[0], n->ints[1], tw, &gi[0]);
}

static lt_status nll_loss_rec(lt_tensor *logp, lt_tensor *target, lt_tensor *weight, lt_reduction red, double smoothing,
                         int64_t ignore_index, lt_tensor **out) {
  bool rec = lt_ag_needs_grad(1, &logp);
  lt_tensor *tw = NULL;
  LT_TRY(lt_op_nll_loss(logp, target, weight, red, smoothing, ignore_index, out, rec ? &tw : NULL));
  if (!rec) return LT_OK;
  lt_node *n;
  lt_status st = node("NllLossBackward", nll_backward, 1, &logp, out, &n);
  if (st == LT_OK) {
    lt_tensor *first[2] = {logp, target};
    st = loss_node_finish(n, 2, first, weight, tw, red, ignore_index, smoothing, out);
  }
  lt_tensor_release(tw);
  return st;
}

/* Fused cross-entropy: one node whose backward is one kernel.
 * saved: logits, target, lse[, weight][, total_weight]; ints: reduction,
 * ignore_index, has_weight, has_total; scalars: smoothing. The logits are
 * usually alive anyway (the last layer's output), so the node keeps only an
 * [N,S] log-sum-exp of its own instead of the [N,C] log-probabilities the
 * log_softmax + nll_loss chain kept. */
static lt_status ce_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  if (!g[0] || !NEED(n, 0)) return LT_OK;
  lt_tensor *x, *t, *lse, *w, *tw;
  LT_TRY(lt_ag_saved(n, 0, &x));
  LT_TRY(lt_ag_saved(n, 1, &t));
  LT_TRY(lt_ag_saved(n, 2, &lse));
  LT_TRY(loss_node_optional(n, 3, &w, &tw));
  return lt_op_cross_entropy_backward(g[0], x, t, w, lse, (lt_reduction)n->ints[0], n->scalars[0], n->ints[1], tw,
                                      &gi[0]);
}

static lt_status cross_entropy_rec(lt_tensor *logits, lt_tensor *target, lt_tensor *weight, lt_reduction red,
                                   double smoothing, int64_t ignore_index, lt_tensor **out) {
  bool rec = lt_ag_needs_grad(1, &logits);
  lt_tensor *lse = NULL, *tw = NULL;
  LT_TRY(lt_op_cross_entropy_ex(logits, target, weight, red, smoothing, ignore_index, out, rec ? &lse : NULL,
                                rec ? &tw : NULL));
  if (!rec) return LT_OK;
  lt_node *n;
  lt_status st = node("CrossEntropyLossBackward", ce_backward, 1, &logits, out, &n);
  if (st == LT_OK) {
    lt_tensor *first[3] = {logits, target, lse};
    st = loss_node_finish(n, 3, first, weight, tw, red, ignore_index, smoothing, out);
  }
  lt_tensor_release(lse);
  lt_tensor_release(tw);
  return st;
}

lt_status lt_ag_cross_entropy(lt_tensor *logits, lt_tensor *target, lt_tensor *weight, lt_reduction red,
                              double smoothing, int64_t ignore_index, lt_tensor **out) {
  if (logits->ndim < 1) return lt_error_set(LT_ERR_ARG, 1, "expected input [N,C], [N,C,...] or [C], got a 0-d tensor");
  if (!lt_op_cross_entropy_fused(logits)) { /* a backend without the fused kernels */
    lt_tensor *lp = NULL;
    LT_TRY(lt_ag_softmax(logits, logits->ndim == 1 ? 0 : 1, true, &lp));
    lt_status st = lt_ag_nll_loss(lp, target, weight, red, smoothing, ignore_index, out);
    lt_tensor_release(lp);
    return st;
  }
  if (!lt_autocast_enabled()) return cross_entropy_rec(logits, target, weight, red, smoothing, ignore_index, out);
  lt_tensor *in[2] = {logits, weight}, *c[2];
  LT_TRY(lt_autocast_inputs(2, in, LT_AUTOCAST_FP32, c));
  lt_status st = cross_entropy_rec(c[0], target, c[1], red, smoothing, ignore_index, out);
  lt_autocast_release(2, c);
  return st;
}

/* Composed of differentiable ops (log_softmax, products, a sum), so the
 * target gets its gradient too, as in PyTorch. */
lt_status lt_ag_cross_entropy_probs(lt_tensor *logits, lt_tensor *target, lt_tensor *weight, lt_reduction red,
                                    double smoothing, lt_tensor **out) {
  LT_TRY(lt_op_cross_entropy_probs_check(logits, target, weight, smoothing));
  int cd = logits->ndim == 1 ? 0 : 1;
  int64_t C = logits->shape[cd];
  enum { LP, TS1, TS, PROD, WV, PW, SUM, NTMP };
  lt_tensor *t[NTMP] = {NULL};
  lt_status st = lt_ag_softmax(logits, cd, true, &t[LP]);
  lt_tensor *tgt = target, *prod = NULL;
  if (st == LT_OK && smoothing > 0) { /* t (1 - ls) + ls / C */
    st = lt_ag_binary_scalar(LT_BIN_MUL, target, 1 - smoothing, LT_FLOAT64, false, &t[TS1]);
    if (st == LT_OK) st = lt_ag_binary_scalar(LT_BIN_ADD, t[TS1], smoothing / (double)C, LT_FLOAT64, false, &t[TS]);
    tgt = t[TS];
  }
  if (st == LT_OK) st = lt_ag_binary(LT_BIN_MUL, t[LP], tgt, &t[PROD]);
  prod = t[PROD];
  if (st == LT_OK && weight) { /* the class weights along the class dim */
    int64_t ws[LT_MAX_DIMS];
    for (int i = 0; i < logits->ndim; i++) ws[i] = i == cd ? C : 1;
    st = lt_ag_reshape(weight, logits->ndim, ws, &t[WV]);
    if (st == LT_OK) st = lt_ag_binary(LT_BIN_MUL, t[PROD], t[WV], &t[PW]);
    prod = t[PW];
  }
  /* -sum over the classes ('none'), over everything ('sum'), or that divided
   * by the number of elements without the class dim ('mean'; NaN when empty) */
  if (st == LT_OK) st = lt_ag_reduce(LT_RED_SUM, prod, red == LT_REDUCTION_NONE ? 1 : 0, &cd, false, 0, &t[SUM], NULL);
  if (st == LT_OK && red == LT_REDUCTION_MEAN) {
    double count = C > 0 ? (double)(lt_tensor_numel(logits) / C) : 0;
    st = lt_ag_binary_scalar(LT_BIN_DIV, t[SUM], -count, LT_FLOAT64, false, out);
  } else if (st == LT_OK) {
    st = lt_ag_unary(LT_UN_NEG, t[SUM], NULL, out);
  }
  for (int i = 0; i < NTMP; i++) lt_tensor_release(t[i]);
  return st;
}

static const char *ploss_names[LT_PLOSS_COUNT] = {"MseLossBackward", "L1LossBackward",
                                                  "BinaryCrossEntropyWithLogitsBackward"};

/* saved: x, y[, w][, pw]; ints: kind, reduction, has_w, has_pw */
static lt_status ploss_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  if (!g[0]) return LT_OK;
  lt_tensor *x, *y, *w = NULL, *pw = NULL;
  int k = 2;
  LT_TRY(lt_ag_saved(n, 0, &x));
  LT_TRY(lt_ag_saved(n, 1, &y));
  if (n->ints[2]) LT_TRY(lt_ag_saved(n, k++, &w));
  if (n->ints[3]) LT_TRY(lt_ag_saved(n, k, &pw));
  return lt_op_pointwise_loss_backward((lt_pointwise_loss)n->ints[0], g[0], x, y, w, pw, (lt_reduction)n->ints[1],
                                       NEED(n, 0) ? &gi[0] : NULL, NEED(n, 1) ? &gi[1] : NULL);
}

static lt_status pointwise_loss_rec(lt_pointwise_loss kind, lt_tensor *x, lt_tensor *y, lt_tensor *w, lt_tensor *pw,
                               lt_reduction red, lt_tensor **out) {
  LT_TRY(lt_op_pointwise_loss(kind, x, y, w, pw, red, out));
  lt_tensor *in[2] = {x, y};
  if (!lt_ag_needs_grad(2, in)) return LT_OK;
  lt_node *n;
  LT_TRY(node(ploss_names[kind], ploss_backward, 2, in, out, &n));
  lt_status st = lt_ag_save(n, x);
  if (st == LT_OK) st = lt_ag_save(n, y);
  if (st == LT_OK && w) st = lt_ag_save(n, w);
  if (st == LT_OK && pw) st = lt_ag_save(n, pw);
  n->ints[0] = kind;
  n->ints[1] = red;
  n->ints[2] = w != NULL;
  n->ints[3] = pw != NULL;
  return finish(n, st, out);
}

/* --- autocast entry points ------------------------------------------------------------------ */

lt_status lt_ag_conv2d(lt_tensor *x, lt_tensor *w, lt_tensor *b, const lt_conv2d_params *p, lt_tensor **out) {
  if (!lt_autocast_enabled()) return conv2d_rec(x, w, b, p, out);
  lt_tensor *in[3] = {x, w, b}, *c[3];
  LT_TRY(lt_autocast_inputs(3, in, LT_AUTOCAST_LOWER, c));
  lt_status st = conv2d_rec(c[0], c[1], c[2], p, out);
  lt_autocast_release(3, c);
  return st;
}

lt_status lt_ag_linear(lt_tensor *x, lt_tensor *w, lt_tensor *b, lt_tensor **out) {
  if (!lt_autocast_enabled()) return linear_rec(x, w, b, out);
  lt_tensor *in[3] = {x, w, b}, *c[3];
  LT_TRY(lt_autocast_inputs(3, in, LT_AUTOCAST_LOWER, c));
  lt_status st = linear_rec(c[0], c[1], c[2], out);
  lt_autocast_release(3, c);
  return st;
}

/* x with one zero row appended to dim `dim` (differentiable: a cat). */
static lt_status pad_one_zero(lt_tensor *x, int dim, lt_tensor **out) {
  int64_t shape[LT_MAX_DIMS];
  memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
  shape[dim] = 1;
  lt_tensor *z = NULL;
  LT_TRY(lt_op_full(x->ndim, shape, 0, x->dtype, lt_tensor_device(x), &z));
  lt_tensor *both[2] = {x, z};
  lt_status st = lt_ag_cat(2, both, dim, out);
  lt_tensor_release(z);
  return st;
}

lt_status lt_ag_conv2d_same(lt_tensor *x, lt_tensor *w, lt_tensor *b, const lt_conv2d_params *p, lt_tensor **out) {
  if (w->ndim != 4 || (x->ndim != 3 && x->ndim != 4)) return lt_ag_conv2d(x, w, b, p, out); /* its shape errors */
  lt_conv2d_params q = *p;
  lt_tensor *xp = x, *t = NULL;
  lt_tensor_retain(xp);
  lt_status st = LT_OK;
  for (int i = 0; i < 2 && st == LT_OK; i++) {
    int64_t total = p->dilation[i] * (w->shape[2 + i] - 1);
    q.padding[i] = total / 2;
    if (total % 2 == 0) continue;
    st = pad_one_zero(xp, xp->ndim - 2 + i, &t); /* the odd one out: bottom, right */
    lt_tensor_release(xp);
    xp = st == LT_OK ? t : NULL;
  }
  if (st == LT_OK) st = lt_ag_conv2d(xp, w, b, &q, out);
  lt_tensor_release(xp);
  return st;
}

/* Not cast under autocast, as in PyTorch: a bfloat16 input runs in its own
 * dtype with the float32 weight, bias and running statistics (the op
 * layer's mixed precision), so a conv -> bn -> relu chain stays bfloat16
 * without two conversion passes per layer; the statistics are float32. */
lt_status lt_ag_batch_norm(lt_tensor *x, lt_tensor *running_mean, lt_tensor *running_var, lt_tensor *weight,
                           lt_tensor *bias, bool training, double momentum, double eps, lt_tensor **out) {
  return batch_norm_rec(x, running_mean, running_var, weight, bias, training, momentum, eps, out);
}

lt_status lt_ag_softmax(lt_tensor *x, int dim, bool log, lt_tensor **out) {
  if (!lt_autocast_enabled()) return softmax_rec(x, dim, log, out);
  lt_tensor *c;
  LT_TRY(lt_autocast_input(x, LT_AUTOCAST_FP32, &c));
  lt_status st = softmax_rec(c, dim, log, out);
  lt_tensor_release(c);
  return st;
}

lt_status lt_ag_nll_loss(lt_tensor *logp, lt_tensor *target, lt_tensor *weight, lt_reduction red, double smoothing,
                         int64_t ignore_index, lt_tensor **out) {
  if (!lt_autocast_enabled()) return nll_loss_rec(logp, target, weight, red, smoothing, ignore_index, out);
  lt_tensor *in[2] = {logp, weight}, *c[2];
  LT_TRY(lt_autocast_inputs(2, in, LT_AUTOCAST_FP32, c));
  lt_status st = nll_loss_rec(c[0], target, c[1], red, smoothing, ignore_index, out);
  lt_autocast_release(2, c);
  return st;
}

/* mse_loss and l1_loss as PyTorch's: input and target broadcast together,
 * then promote (as two tensors of the broadcast shape); x and y become the
 * differentiable expanded/converted tensors (new references). */
static lt_status broadcast_pair(lt_tensor **x, lt_tensor **y) {
  lt_tensor *a = *x, *b = *y;
  int n;
  int64_t shape[LT_MAX_DIMS];
  LT_TRY(lt_broadcast_shape(a->ndim, a->shape, b->ndim, b->shape, &n, shape));
  lt_operand ops[2] = {lt_operand_tensor(a->dtype, n), lt_operand_tensor(b->dtype, n)};
  lt_dtype dt = lt_result_type(2, ops);
  lt_tensor *in[2] = {a, b}, *c[2] = {NULL, NULL}, *e[2] = {NULL, NULL};
  lt_status st = LT_OK;
  for (int i = 0; i < 2 && st == LT_OK; i++) {
    st = lt_ag_to(in[i], dt, lt_tensor_device(in[i]), &c[i]);
    if (st == LT_OK) st = lt_ag_expand(c[i], n, shape, &e[i]);
  }
  lt_tensor_release(c[0]);
  lt_tensor_release(c[1]);
  if (st != LT_OK) {
    lt_tensor_release(e[0]);
    lt_tensor_release(e[1]);
    return st;
  }
  *x = e[0];
  *y = e[1];
  return LT_OK;
}

lt_status lt_ag_pointwise_loss(lt_pointwise_loss kind, lt_tensor *x, lt_tensor *y, lt_tensor *w, lt_tensor *pw,
                               lt_reduction red, lt_tensor **out) {
  if (kind != LT_PLOSS_BCE_LOGITS && (x->dtype != y->dtype || !lt_shape_equal(x, y))) {
    lt_tensor *xb = x, *yb = y;
    LT_TRY(broadcast_pair(&xb, &yb));
    lt_status st = lt_ag_pointwise_loss(kind, xb, yb, w, pw, red, out);
    lt_tensor_release(xb);
    lt_tensor_release(yb);
    return st;
  }
  if (!lt_autocast_enabled()) return pointwise_loss_rec(kind, x, y, w, pw, red, out);
  lt_tensor *in[4] = {x, y, w, pw}, *c[4];
  LT_TRY(lt_autocast_inputs(4, in, LT_AUTOCAST_FP32, c));
  lt_status st = pointwise_loss_rec(kind, c[0], c[1], c[2], c[3], red, out);
  lt_autocast_release(4, c);
  return st;
}
