/* lt_ag_loss.c — autograd of the losses (lt_ag_nn.h): nll_loss and the
 * fused cross-entropy record one node each whose backward is the op layer's
 * backward kernel; cross-entropy with class probabilities is composed of
 * differentiable ops; MSE and L1 broadcast and promote their operands first,
 * as PyTorch's. Under autocast the losses take float32 inputs. The op layer:
 * src/core/lt_ops_loss.c. */
#include "lt_ag_internal.h"
#include "lt_ag_nn.h"
#include "lt_autocast.h"

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
  return lt_ag_finish1(n, st, out);
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
  if (!g[0] || !LT_AG_NEED(n, 0)) return LT_OK;
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
  lt_status st = lt_ag_node1("NllLossBackward", nll_backward, 1, &logp, out, &n);
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
  if (!g[0] || !LT_AG_NEED(n, 0)) return LT_OK;
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
  lt_status st = lt_ag_node1("CrossEntropyLossBackward", ce_backward, 1, &logits, out, &n);
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
                                       LT_AG_NEED(n, 0) ? &gi[0] : NULL, LT_AG_NEED(n, 1) ? &gi[1] : NULL);
}

static lt_status pointwise_loss_rec(lt_pointwise_loss kind, lt_tensor *x, lt_tensor *y, lt_tensor *w, lt_tensor *pw,
                               lt_reduction red, lt_tensor **out) {
  LT_TRY(lt_op_pointwise_loss(kind, x, y, w, pw, red, out));
  lt_tensor *in[2] = {x, y};
  if (!lt_ag_needs_grad(2, in)) return LT_OK;
  lt_node *n;
  LT_TRY(lt_ag_node1(ploss_names[kind], ploss_backward, 2, in, out, &n));
  lt_status st = lt_ag_save(n, x);
  if (st == LT_OK) st = lt_ag_save(n, y);
  if (st == LT_OK && w) st = lt_ag_save(n, w);
  if (st == LT_OK && pw) st = lt_ag_save(n, pw);
  n->ints[0] = kind;
  n->ints[1] = red;
  n->ints[2] = w != NULL;
  n->ints[3] = pw != NULL;
  return lt_ag_finish1(n, st, out);
}

/* --- entry points ------------------------------------------------------------------------- */

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
