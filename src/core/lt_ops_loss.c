/* lt_ops_loss.c — the op layer of the losses (lt_ops_nn.h): negative
 * log-likelihood, cross-entropy (fused where the backend has the kernels,
 * else log_softmax then nll; class probabilities are composed by autograd),
 * and the pointwise losses (MSE, L1, BCE with logits). Checks of labels,
 * weights and shapes, the reductions over the batch, and the backend's
 * per-element kernels. The CPU kernels: src/cpu/lt_cpu_loss.c; CUDA:
 * cuda/lt_cuda_loss.cu; autograd: src/autograd/lt_ag_loss.c. */
#include <string.h>

#include "lt_ops_nn_shared.h"

/* Geometry of nll: input [N,C,d...] or [C]; target [N,d...] or []. */
static lt_status nll_check(lt_tensor *logp, lt_tensor *target, lt_tensor *weight, double smoothing, int64_t *N,
                           int64_t *C, int64_t *S) {
  char b1[128], b2[128], b3[128];
  LT_TRY(lt_nn_check_float(logp, 1, "input", LT_NN_LOSSES));
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
  if (weight) LT_TRY(lt_nn_check_vec(weight, logp, *C, 3, "weight", "classes"));
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
  const lt_nn_kernels *nn = lt_nn_kernels_of(logp);
  if (!nn || !nn->nll_loss_forward) return lt_nn_missing("nll_loss");
  lt_tensor *in[3] = {logp, target, weight}, *c[3], *l3 = NULL, *t2 = NULL, *loss = NULL, *wt = NULL;
  lt_tensor *res = NULL, *tw = NULL;
  LT_TRY(lt_nn_contig_all(3, in, c));
  int64_t s3[3] = {N, C, S}, s2[2] = {N, S};
  lt_status st = lt_tensor_view(c[0], 3, s3, &l3);
  if (st == LT_OK) st = lt_tensor_view(c[1], 2, s2, &t2);
  if (st == LT_OK) st = lt_tensor_empty(2, s2, logp->dtype, lt_tensor_device(logp), &loss);
  if (st == LT_OK) st = lt_tensor_empty(2, s2, logp->dtype, lt_tensor_device(logp), &wt);
  if (st == LT_OK) st = nn->nll_loss_forward(loss, wt, l3, t2, c[2], smoothing, ignore_index);
  if (st == LT_OK) st = reduce_loss(red, loss, wt, target, &res, &tw);
  lt_nn_release_all(3, c);
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
  lt_nn_hand_out(tw, total_weight);
  return LT_OK;
}

/* The upstream gradient per element of a reduced loss: `g` itself for
 * 'none' (checked against shape), g for 'sum', g/denom for 'mean'. denom:
 * a 0-d tensor, or NULL with `count` for a plain mean. */
static lt_status per_element_grad(lt_tensor *g, lt_reduction red, int ndim, const int64_t *shape, lt_tensor *denom,
                                  int64_t count, lt_tensor *like, lt_tensor **out) {
  char b1[128], b2[128];
  LT_TRY(lt_nn_check_like(g, like, 1, "gradient"));
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
  const lt_nn_kernels *nn = lt_nn_kernels_of(logp);
  if (!nn || !nn->nll_loss_backward) return lt_nn_missing("nll_loss backward");
  lt_tensor *ge = NULL, *in[2] = {target, weight}, *c[2], *t2 = NULL, *o = NULL, *o3 = NULL;
  LT_TRY(per_element_grad(g, red, target->ndim, target->shape, total_weight, 0, logp, &ge));
  lt_status st = lt_nn_contig_all(2, in, c);
  if (st != LT_OK) { lt_tensor_release(ge); return st; }
  int64_t s3[3] = {N, C, S}, s2[2] = {N, S};
  st = lt_tensor_view(c[0], 2, s2, &t2);
  if (st == LT_OK) st = lt_nn_empty_like(logp, &o);
  if (st == LT_OK) st = lt_tensor_view(o, 3, s3, &o3);
  if (st == LT_OK) st = nn->nll_loss_backward(o3, ge, t2, c[1], smoothing, ignore_index);
  lt_nn_release_all(2, c);
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
  const lt_nn_kernels *nn = lt_nn_kernels_of(logits);
  return nn && nn->cross_entropy_forward && nn->cross_entropy_backward;
}

static lt_status ce_check(lt_tensor *logits, lt_tensor *target, lt_tensor *weight, double smoothing, int64_t *N,
                          int64_t *C, int64_t *S) {
  LT_TRY(lt_nn_check_float(logits, 1, "input", LT_NN_LOSSES));
  if (logits->ndim < 1) return lt_error_set(LT_ERR_ARG, 1, "expected input [N,C], [N,C,...] or [C], got a 0-d tensor");
  return nll_check(logits, target, weight, smoothing, N, C, S); /* before any work */
}

lt_status lt_op_cross_entropy_ex(lt_tensor *logits, lt_tensor *target, lt_tensor *weight, lt_reduction red,
                                 double smoothing, int64_t ignore_index, lt_tensor **out, lt_tensor **lse,
                                 lt_tensor **total_weight) {
  int64_t N, C, S;
  LT_TRY(ce_check(logits, target, weight, smoothing, &N, &C, &S));
  const lt_nn_kernels *nn = lt_nn_kernels_of(logits);
  if (!nn || !nn->cross_entropy_forward) return lt_nn_missing("fused cross_entropy");
  lt_tensor *in[3] = {logits, target, weight}, *c[3], *x3 = NULL, *t2 = NULL, *loss = NULL, *wt = NULL, *ls = NULL;
  lt_tensor *res = NULL, *tw = NULL;
  LT_TRY(lt_nn_contig_all(3, in, c));
  int64_t s3[3] = {N, C, S}, s2[2] = {N, S};
  lt_device dev = lt_tensor_device(logits);
  lt_status st = lt_tensor_view(c[0], 3, s3, &x3);
  if (st == LT_OK) st = lt_tensor_view(c[1], 2, s2, &t2);
  if (st == LT_OK) st = lt_tensor_empty(2, s2, logits->dtype, dev, &loss);
  if (st == LT_OK) st = lt_tensor_empty(2, s2, logits->dtype, dev, &wt);
  if (st == LT_OK) st = lt_tensor_empty(2, s2, lse_dtype(logits), dev, &ls);
  if (st == LT_OK) st = nn->cross_entropy_forward(loss, wt, ls, x3, t2, c[2], smoothing, ignore_index);
  if (st == LT_OK) st = reduce_loss(red, loss, wt, target, &res, &tw);
  lt_nn_release_all(3, c);
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
  lt_nn_hand_out(ls, lse);
  lt_nn_hand_out(tw, total_weight);
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
  LT_TRY(lt_nn_check_float(logits, 1, "input", LT_NN_LOSSES));
  if (logits->ndim < 1) return lt_error_set(LT_ERR_ARG, 1, "expected input [N,C], [N,C,...] or [C], got a 0-d tensor");
  LT_TRY(lt_nn_check_device(target, logits, 2, "target"));
  if (!lt_dtype_is_floating(target->dtype))
    return lt_error_set(LT_ERR_ARG, 2, "expected a floating-point target of class probabilities, got %s",
                        lt_dtype_name(target->dtype));
  if (!lt_shape_equal(target, logits))
    return lt_error_set(LT_ERR_ARG, 2, "target %s of class probabilities does not match input %s", SHP(target, b1),
                        SHP(logits, b2));
  if (weight) LT_TRY(lt_nn_check_vec(weight, logits, logits->shape[logits->ndim == 1 ? 0 : 1], 3, "weight", "classes"));
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
  const lt_nn_kernels *nn = lt_nn_kernels_of(logits);
  if (!nn || !nn->cross_entropy_backward) return lt_nn_missing("fused cross_entropy backward");
  lt_tensor *ge = NULL, *in[4] = {logits, target, weight, lse}, *c[4], *x3 = NULL, *t2 = NULL, *l2 = NULL;
  lt_tensor *o = NULL, *o3 = NULL;
  LT_TRY(per_element_grad(g, red, target->ndim, target->shape, total_weight, 0, logits, &ge));
  lt_status st = lt_nn_contig_all(4, in, c);
  if (st != LT_OK) { lt_tensor_release(ge); return st; }
  int64_t s3[3] = {N, C, S}, s2[2] = {N, S};
  st = lt_tensor_view(c[0], 3, s3, &x3);
  if (st == LT_OK) st = lt_tensor_view(c[1], 2, s2, &t2);
  if (st == LT_OK) st = lt_tensor_view(c[3], 2, s2, &l2);
  if (st == LT_OK) st = lt_nn_empty_like(logits, &o);
  if (st == LT_OK) st = lt_tensor_view(o, 3, s3, &o3);
  if (st == LT_OK) st = nn->cross_entropy_backward(o3, ge, x3, l2, t2, c[2], smoothing, ignore_index);
  lt_nn_release_all(4, c);
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
  LT_TRY(lt_nn_check_like(w, x, arg, what));
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
  LT_TRY(lt_nn_check_float(x, 1, "input", LT_NN_LOSSES));
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
  const lt_nn_kernels *nn = lt_nn_kernels_of(x);
  if (!nn || !nn->pointwise_loss_forward) return lt_nn_missing("loss");
  lt_tensor *in[2] = {x, y}, *c[2], *wc = NULL, *pc = NULL, *l = NULL, *res = NULL;
  LT_TRY(lt_nn_contig_all(2, in, c));
  lt_status st = broadcast_to(w, x, 3, "weight", &wc);
  if (st == LT_OK) st = broadcast_to(pw, x, 3, "pos_weight", &pc);
  if (st == LT_OK) st = lt_nn_empty_like(x, &l);
  if (st == LT_OK && lt_tensor_numel(l) > 0) st = nn->pointwise_loss_forward(kind, l, c[0], c[1], wc, pc);
  if (st == LT_OK) {
    if (red == LT_REDUCTION_NONE) { res = l; l = NULL; }
    else st = lt_op_reduce(red == LT_REDUCTION_SUM ? LT_RED_SUM : LT_RED_MEAN, l, 0, NULL, false, 0, &res, NULL);
  }
  lt_nn_release_all(2, c);
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
  const lt_nn_kernels *nn = lt_nn_kernels_of(x);
  if (!nn || !nn->pointwise_loss_backward) return lt_nn_missing("loss backward");
  lt_tensor *ge = NULL, *in[2] = {x, y}, *c[2], *wc = NULL, *pc = NULL, *ox = NULL, *oy = NULL;
  LT_TRY(per_element_grad(g, red, x->ndim, x->shape, NULL, lt_tensor_numel(x), x, &ge));
  lt_status st = lt_nn_contig_all(2, in, c);
  if (st != LT_OK) { lt_tensor_release(ge); return st; }
  st = broadcast_to(w, x, 3, "weight", &wc);
  if (st == LT_OK) st = broadcast_to(pw, x, 3, "pos_weight", &pc);
  if (st == LT_OK && gx) st = lt_nn_empty_like(x, &ox);
  if (st == LT_OK && gy) st = lt_nn_empty_like(y, &oy);
  if (st == LT_OK && lt_tensor_numel(x) > 0) st = nn->pointwise_loss_backward(kind, ox, oy, ge, c[0], c[1], wc, pc);
  lt_nn_release_all(2, c);
  lt_tensor_release(ge);
  lt_tensor_release(wc);
  lt_tensor_release(pc);
  return lt_nn_hand_over_grads(st, gx, ox, gy, oy, NULL, NULL);
}
