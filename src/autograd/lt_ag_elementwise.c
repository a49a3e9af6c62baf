/* lt_ag_elementwise.c — differentiable elementwise ops (unary, binary, with
 * scalars, where, masked_fill), copies and fills, their in-place forms, and
 * the in-place bookkeeping shared by the other lt_ag_*.c files. The formulas
 * follow PyTorch's derivatives, including its choices at the kinks (relu'(0)
 * = 0, maximum of equal values splits the gradient, pow's 0^0). */
#include <math.h>
#include <string.h>

#include "lt_ag_internal.h"

/* --- shared helpers ---------------------------------------------------------------- */

lt_status lt_ag_identity_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  (void)n;
  lt_tensor_retain(g[0]);
  gi[0] = g[0];
  return LT_OK;
}

/* For ops whose gradient to the old value is zero (fill_, and the
 * destination of copy_). */
static lt_status zero_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  (void)n; (void)g; (void)gi;
  return LT_OK;
}

lt_status lt_ag_record1(const char *name, lt_backward_fn fn, lt_tensor *x, lt_tensor *out, lt_node **node) {
  *node = NULL;
  if (!lt_ag_needs_grad(1, &x) || !lt_dtype_is_floating(out->dtype)) return LT_OK;
  lt_node *n;
  LT_TRY(lt_ag_node_new(name, fn, 1, &x, 1, &n));
  lt_ag_set_output(n, out, 0);
  lt_node_release(n);
  *node = n;
  return LT_OK;
}

lt_status lt_ag_check_inplace(lt_tensor *t, const char *opname) {
  if (!lt_ag_grad_enabled()) return LT_OK;
  lt_tensor *b = t->view_base;
  if (b && t->view_no_grad)
    return lt_error_set(LT_ERR_ARG, 1,
                        "a view made with grad mode off is modified in place (%s) with grad mode on; make the view with "
                        "grad mode on, or modify it with grad mode off",
                        opname);
  LT_TRY(lt_ag_refresh_view(t));
  if (t->requires_grad && !t->grad_fn)
    return lt_error_set(LT_ERR_ARG, 1,
                        "a leaf tensor that requires grad is used in an in-place operation (%s); use t:detach() or "
                        "lt.no_grad",
                        opname);
  if (b && b->requires_grad && !b->grad_fn)
    return lt_error_set(LT_ERR_ARG, 1,
                        "a view of a leaf tensor that requires grad is used in an in-place operation (%s); use "
                        "t:detach() or lt.no_grad",
                        opname);
  return LT_OK;
}

void lt_ag_detach_(lt_tensor *t) {
  lt_node_release(t->grad_fn);
  t->grad_fn = NULL;
  t->output_nr = 0;
  t->requires_grad = false;
}

lt_status lt_ag_detach(lt_tensor *t, lt_tensor **out) { return lt_tensor_alias(t, out); }

lt_status lt_ag_rebase(lt_tensor *t, lt_tensor *r) {
  lt_node *n = r->grad_fn;
  for (int i = 0; n && i < n->n_saved; i++) {
    if (n->saved[i]->storage != t->storage) continue;
    lt_tensor *c;
    LT_TRY(lt_op_clone(n->saved[i], &c));
    lt_tensor_release(n->saved[i]);
    n->saved[i] = c;
    n->saved_versions[i] = atomic_load(&c->storage->version);
  }
  bool prev = lt_ag_set_grad_enabled(false);
  lt_status st = lt_op_copy_(t, r);
  lt_ag_set_grad_enabled(prev);
  if (st != LT_OK) return st;
  if (n) lt_ag_set_output(n, t, r->output_nr);
  else lt_ag_detach_(t);
  return lt_ag_inplace_done(t);
}

/* Checks that an out-of-place result can replace `a` in place (cast to a's
 * dtype when lt_can_cast allows), with the messages of the op layer's
 * in-place ops. */
static lt_status check_inplace_result(lt_tensor *a, lt_tensor *r, int arg, lt_tensor *b) {
  if (!lt_can_cast(r->dtype, a->dtype))
    return lt_error_set(LT_ERR_ARG, arg, "in-place result of type %s can't be stored in a %s tensor",
                        lt_dtype_name(r->dtype), lt_dtype_name(a->dtype));
  if (!lt_shape_equal(a, r)) {
    char b1[128], b2[128];
    return lt_error_set(LT_ERR_ARG, arg, "in-place operand of shape %s does not broadcast to shape %s",
                        lt_shape_str(b->ndim, b->shape, b1, sizeof b1), lt_shape_str(a->ndim, a->shape, b2, sizeof b2));
  }
  return LT_OK;
}

/* --- unary ---------------------------------------------------------------------------- */

enum { SAVE_NONE, SAVE_IN, SAVE_OUT };

static const struct {
  const char *name, *iname; /* NULL name: not differentiable */
  int save;
} unary_info[LT_UN_COUNT] = {
  [LT_UN_NEG] = {"NegBackward", "neg_", SAVE_NONE},
  [LT_UN_ABS] = {"AbsBackward", "abs_", SAVE_IN},
  [LT_UN_EXP] = {"ExpBackward", "exp_", SAVE_OUT},
  [LT_UN_LOG] = {"LogBackward", "log_", SAVE_IN},
  [LT_UN_SQRT] = {"SqrtBackward", "sqrt_", SAVE_OUT},
  [LT_UN_RSQRT] = {"RsqrtBackward", "rsqrt_", SAVE_OUT},
  [LT_UN_SIN] = {"SinBackward", "sin_", SAVE_IN},
  [LT_UN_COS] = {"CosBackward", "cos_", SAVE_IN},
  [LT_UN_TANH] = {"TanhBackward", "tanh_", SAVE_OUT},
  [LT_UN_SIGMOID] = {"SigmoidBackward", "sigmoid_", SAVE_OUT},
  [LT_UN_RELU] = {"ReluBackward", "relu_", SAVE_OUT},
  /* piecewise constant: a zero gradient, as PyTorch (the result still
   * requires grad, so it can take part in a graph) */
  [LT_UN_FLOOR] = {"FloorBackward", "floor_", SAVE_NONE},
  [LT_UN_CEIL] = {"CeilBackward", "ceil_", SAVE_NONE},
  [LT_UN_ROUND] = {"RoundBackward", "round_", SAVE_NONE},
  [LT_UN_SIGN] = {"SignBackward", "sign_", SAVE_NONE},
  [LT_UN_RECIPROCAL] = {"ReciprocalBackward", "reciprocal_", SAVE_OUT},
  [LT_UN_SQUARE] = {"SquareBackward", "square_", SAVE_IN},
  [LT_UN_CLAMP] = {"ClampBackward", "clamp_", SAVE_IN},
  [LT_UN_POW_SCALAR] = {"PowBackward", "pow_", SAVE_IN},
  [LT_UN_RPOW_SCALAR] = {"PowBackward", "pow_", SAVE_OUT},
  [LT_UN_LEAKY_RELU] = {"LeakyReluBackward", "leaky_relu_", SAVE_IN},
  [LT_UN_GELU] = {"GeluBackward", "gelu_", SAVE_IN},
  [LT_UN_GELU_TANH] = {"GeluBackward", "gelu_", SAVE_IN},
  [LT_UN_SILU] = {"SiluBackward", "silu_", SAVE_IN},
};

#define INV_SQRT_2PI 0.3989422804014327

/* d/dx of gelu(x) = x*Phi(x): Phi(x) + x*phi(x). Phi comes from the forward
 * kernel itself (gelu(x)/x), with its Taylor expansion near 0. */
static lt_tensor *gelu_grad(lt_ex *e, lt_tensor *x) {
  lt_tensor *small = ex_bins(e, LT_BIN_LT, ex_un(e, LT_UN_ABS, x), 1e-3);
  lt_tensor *xs = ex_where(e, small, ex_scalar(e, 1, x), x);
  lt_tensor *cdf_big = ex_bin(e, LT_BIN_DIV, ex_un(e, LT_UN_GELU, xs), xs);
  lt_tensor *cdf_small = ex_bins(e, LT_BIN_ADD, ex_bins(e, LT_BIN_MUL, x, INV_SQRT_2PI), 0.5);
  lt_tensor *cdf = ex_where(e, small, cdf_small, cdf_big);
  lt_tensor *pdf = ex_bins(e, LT_BIN_MUL, ex_un(e, LT_UN_EXP, ex_bins(e, LT_BIN_MUL, ex_un(e, LT_UN_SQUARE, x), -0.5)),
                           INV_SQRT_2PI);
  return ex_bin(e, LT_BIN_ADD, cdf, ex_bin(e, LT_BIN_MUL, x, pdf));
}

/* tanh approximation: 0.5(1+t) + 0.5 x (1-t^2) k (1 + 3c x^2), t = tanh(k(x + c x^3)) */
static lt_tensor *gelu_tanh_grad(lt_ex *e, lt_tensor *x) {
  const double k = 0.7978845608028654, c = 0.044715;
  lt_tensor *x2 = ex_un(e, LT_UN_SQUARE, x);
  lt_tensor *u = ex_bins(e, LT_BIN_MUL, ex_bin(e, LT_BIN_MUL, x, ex_bins(e, LT_BIN_ADD, ex_bins(e, LT_BIN_MUL, x2, c), 1)), k);
  lt_tensor *t = ex_un(e, LT_UN_TANH, u);
  lt_tensor *left = ex_bins(e, LT_BIN_MUL, ex_bins(e, LT_BIN_ADD, t, 1), 0.5);
  lt_tensor *sech2 = ex_rbins(e, LT_BIN_SUB, 1, ex_un(e, LT_UN_SQUARE, t));
  lt_tensor *du = ex_bins(e, LT_BIN_MUL, ex_bins(e, LT_BIN_ADD, ex_bins(e, LT_BIN_MUL, x2, 3 * c), 1), k);
  lt_tensor *right = ex_bins(e, LT_BIN_MUL, ex_bin(e, LT_BIN_MUL, ex_bin(e, LT_BIN_MUL, x, sech2), du), 0.5);
  return ex_bin(e, LT_BIN_ADD, left, right);
}

static lt_status unary_backward(lt_node *n, lt_tensor *const *go, lt_tensor **gi) {
  lt_unary_op op = (lt_unary_op)n->ints[0];
  double p0 = n->scalars[0], p1 = n->scalars[1];
  lt_tensor *g = go[0], *s = NULL; /* s: the saved input or output */
  if (unary_info[op].save != SAVE_NONE) LT_TRY(lt_ag_saved(n, 0, &s));
  lt_ex e = {0};
  lt_tensor *r = NULL;
  switch (op) {
    case LT_UN_NEG: r = ex_un(&e, LT_UN_NEG, g); break;
    case LT_UN_FLOOR: case LT_UN_CEIL: case LT_UN_ROUND: case LT_UN_SIGN:
      r = ex_full(&e, g->ndim, g->shape, 0, g);
      break;
    case LT_UN_ABS: r = ex_bin(&e, LT_BIN_MUL, g, ex_un(&e, LT_UN_SIGN, s)); break;
    case LT_UN_EXP: r = ex_bin(&e, LT_BIN_MUL, g, s); break;
    case LT_UN_LOG: r = ex_bin(&e, LT_BIN_DIV, g, s); break;
    case LT_UN_SQRT: r = ex_bin(&e, LT_BIN_DIV, g, ex_bins(&e, LT_BIN_MUL, s, 2)); break;
    case LT_UN_RSQRT: /* -0.5 x^-1.5 = -0.5 y^3 */
      r = ex_bin(&e, LT_BIN_MUL, g, ex_bins(&e, LT_BIN_MUL, ex_bin(&e, LT_BIN_MUL, ex_un(&e, LT_UN_SQUARE, s), s), -0.5));
      break;
    case LT_UN_SIN: r = ex_bin(&e, LT_BIN_MUL, g, ex_un(&e, LT_UN_COS, s)); break;
    case LT_UN_COS: r = ex_un(&e, LT_UN_NEG, ex_bin(&e, LT_BIN_MUL, g, ex_un(&e, LT_UN_SIN, s))); break;
    case LT_UN_TANH: r = ex_bin(&e, LT_BIN_MUL, g, ex_rbins(&e, LT_BIN_SUB, 1, ex_un(&e, LT_UN_SQUARE, s))); break;
    case LT_UN_SIGMOID: r = ex_bin(&e, LT_BIN_MUL, g, ex_bin(&e, LT_BIN_MUL, s, ex_rbins(&e, LT_BIN_SUB, 1, s))); break;
    case LT_UN_RELU: /* 0 where x <= 0, else g (a NaN x passes it), as PyTorch's threshold_backward */
      r = ex_zero_where(&e, ex_bins(&e, LT_BIN_LE, s, 0), g);
      break;
    case LT_UN_RECIPROCAL: r = ex_un(&e, LT_UN_NEG, ex_bin(&e, LT_BIN_MUL, g, ex_un(&e, LT_UN_SQUARE, s))); break;
    case LT_UN_SQUARE: r = ex_bin(&e, LT_BIN_MUL, g, ex_bins(&e, LT_BIN_MUL, s, 2)); break;
    case LT_UN_CLAMP: {
      /* the gradient passes where lo <= x <= hi (a NaN bound is absent) */
      lt_tensor *m = NULL;
      if (!isnan(p0)) m = ex_bins(&e, LT_BIN_GE, s, p0);
      if (!isnan(p1)) {
        lt_tensor *m2 = ex_bins(&e, LT_BIN_LE, s, p1);
        m = m ? ex_bin(&e, LT_BIN_AND, m, m2) : m2;
      }
      r = m ? ex_keep_where(&e, m, g) : g;
      break;
    }
    case LT_UN_POW_SCALAR:
      if (p0 == 0) r = ex_bins(&e, LT_BIN_MUL, g, 0);
      else r = ex_bin(&e, LT_BIN_MUL, g, ex_bins(&e, LT_BIN_MUL, ex_unp(&e, LT_UN_POW_SCALAR, s, p0 - 1, 0), p0));
      break;
    case LT_UN_RPOW_SCALAR:
      if (p0 == 0) r = ex_bins(&e, LT_BIN_MUL, g, 0);
      else r = ex_bins(&e, LT_BIN_MUL, ex_bin(&e, LT_BIN_MUL, g, s), log(p0));
      break;
    case LT_UN_LEAKY_RELU:
      r = ex_where(&e, ex_bins(&e, LT_BIN_GT, s, 0), g, ex_bins(&e, LT_BIN_MUL, g, p0));
      break;
    case LT_UN_GELU: r = ex_bin(&e, LT_BIN_MUL, g, gelu_grad(&e, s)); break;
    case LT_UN_GELU_TANH: r = ex_bin(&e, LT_BIN_MUL, g, gelu_tanh_grad(&e, s)); break;
    case LT_UN_SILU: {
      lt_tensor *sg = ex_un(&e, LT_UN_SIGMOID, s);
      lt_tensor *d = ex_bin(&e, LT_BIN_MUL, sg, ex_bins(&e, LT_BIN_ADD, ex_bin(&e, LT_BIN_MUL, s, ex_rbins(&e, LT_BIN_SUB, 1, sg)), 1));
      r = ex_bin(&e, LT_BIN_MUL, g, d);
      break;
    }
    default:
      e.st = lt_error_set(LT_ERR_RUNTIME, 0, "%s: unexpected op %d", n->name, (int)op);
  }
  ex_out(&e, r, &gi[0]);
  return ex_end(&e);
}

static lt_status record_unary(lt_unary_op op, lt_tensor *x, const double *p, lt_tensor *out) {
  lt_node *n;
  LT_TRY(lt_ag_node_new(unary_info[op].name, unary_backward, 1, &x, 1, &n));
  n->ints[0] = op;
  if (p) { n->scalars[0] = p[0]; n->scalars[1] = p[1]; }
  lt_status st = LT_OK;
  if (unary_info[op].save == SAVE_IN) st = lt_ag_save(n, x);
  else if (unary_info[op].save == SAVE_OUT) st = lt_ag_save_output(n, out);
  if (st == LT_OK) lt_ag_set_output(n, out, 0);
  lt_node_release(n);
  return st;
}

static bool unary_differentiable(lt_unary_op op) { return (unsigned)op < LT_UN_COUNT && unary_info[op].name; }

lt_status lt_ag_unary(lt_unary_op op, lt_tensor *x, const double *p, lt_tensor **out) {
  LT_TRY(lt_op_unary(op, x, p, out));
  if (!lt_ag_needs_grad(1, &x) || !unary_differentiable(op) || !lt_dtype_is_floating((*out)->dtype)) return LT_OK;
  lt_status st = record_unary(op, x, p, *out);
  if (st != LT_OK) { lt_tensor_release(*out); *out = NULL; }
  return st;
}

lt_status lt_ag_unary_(lt_unary_op op, lt_tensor *x, const double *p) {
  if (!lt_ag_needs_grad(1, &x)) return lt_op_unary_(op, x, p);
  const char *iname = unary_differentiable(op) ? unary_info[op].iname : "in-place op";
  LT_TRY(lt_ag_check_inplace(x, iname));
  if (!unary_differentiable(op)) {
    /* an op without a derivative (a bool result): the result carries no gradient */
    LT_TRY(lt_op_unary_(op, x, p));
    lt_ag_detach_(x);
    return LT_OK;
  }
  if (unary_info[op].save != SAVE_IN) {
    /* backward needs only the result: write in place, then record */
    LT_TRY(lt_op_unary_(op, x, p));
    LT_TRY(record_unary(op, x, p, x));
    return lt_ag_inplace_done(x);
  }
  lt_tensor *r;
  LT_TRY(lt_ag_unary(op, x, p, &r));
  lt_status st = check_inplace_result(x, r, 1, x);
  if (st == LT_OK) st = lt_ag_rebase(x, r);
  lt_tensor_release(r);
  return st;
}

/* --- binary --------------------------------------------------------------------------- */

enum { NEED_A_FOR_GB = 1, NEED_B_FOR_GA = 2, NEED_A_FOR_GA = 4, NEED_B_FOR_GB = 8 };

static const struct {
  const char *name, *iname;
  int needs;
} binary_info[LT_BIN_COUNT] = {
  [LT_BIN_ADD] = {"AddBackward", "add_", 0},
  [LT_BIN_SUB] = {"SubBackward", "sub_", 0},
  [LT_BIN_MUL] = {"MulBackward", "mul_", NEED_A_FOR_GB | NEED_B_FOR_GA},
  [LT_BIN_DIV] = {"DivBackward", "div_", NEED_A_FOR_GB | NEED_B_FOR_GA | NEED_B_FOR_GB},
  [LT_BIN_POW] = {"PowBackward", "pow_", 15},
  [LT_BIN_MAXIMUM] = {"MaximumBackward", "maximum_", 15},
  [LT_BIN_MINIMUM] = {"MinimumBackward", "minimum_", 15},
  [LT_BIN_FMOD] = {"FmodBackward", "fmod_", NEED_A_FOR_GB | NEED_B_FOR_GB},
  [LT_BIN_REMAINDER] = {"RemainderBackward", "remainder_", NEED_A_FOR_GB | NEED_B_FOR_GB},
  [LT_BIN_ATAN2] = {"Atan2Backward", "atan2_", 15},
};

/* Node layout: ints[0] op; ints[1] bit 0/1: a/b saved (in that order);
 * ints[2] 0, or 1 + the side (0 a, 1 b) that is the Lua number scalars[0];
 * ints[3] that number's own dtype (lt_op_binary_scalar's s_dtype). */
static lt_status operand(lt_node *n, int side, lt_ex *e, lt_tensor **out) {
  *out = NULL;
  if (n->ints[2] == 1 + side) {
    /* the number as the forward used it: a 0-d tensor of the result dtype */
    const lt_input_meta *other = &n->inputs[1 - side];
    lt_operand ops[2] = {lt_operand_tensor(other->dtype, other->ndim), lt_operand_number((lt_dtype)n->ints[3])};
    lt_tensor *s = NULL;
    LT_TRY(lt_op_scalar_tensor(n->scalars[0], lt_result_type(2, ops), other->device, &s));
    *out = ex_keep(e, LT_OK, s);
    return e->st;
  }
  if (!(n->ints[1] & (1 << side))) return LT_OK;
  int idx = side == 1 && (n->ints[1] & 1) ? 1 : 0;
  return lt_ag_saved(n, idx, out);
}

static lt_status binary_backward(lt_node *n, lt_tensor *const *go, lt_tensor **gi) {
  lt_binary_op op = (lt_binary_op)n->ints[0];
  lt_ex e = {0};
  lt_tensor *g = go[0], *a = NULL, *b = NULL;
  bool need_a = lt_node_needs_input_grad(n, 0), need_b = lt_node_needs_input_grad(n, 1);
  lt_status st = operand(n, 0, &e, &a);
  if (st == LT_OK) st = operand(n, 1, &e, &b);
  if (st != LT_OK) { e.st = st; return ex_end(&e); }
  lt_tensor *ga = NULL, *gb = NULL;
  switch (op) {
    case LT_BIN_ADD: ga = g; gb = g; break;
    case LT_BIN_SUB: ga = g; if (need_b) gb = ex_un(&e, LT_UN_NEG, g); break;
    case LT_BIN_MUL:
      if (need_a) ga = ex_bin(&e, LT_BIN_MUL, g, b);
      if (need_b) gb = ex_bin(&e, LT_BIN_MUL, g, a);
      break;
    case LT_BIN_DIV:
      if (need_a) ga = ex_bin(&e, LT_BIN_DIV, g, b);
      if (need_b) gb = ex_un(&e, LT_UN_NEG, ex_bin(&e, LT_BIN_DIV, ex_bin(&e, LT_BIN_MUL, g, a), ex_un(&e, LT_UN_SQUARE, b)));
      break;
    case LT_BIN_POW:
      if (need_a) { /* b a^(b-1), 0 where b == 0 */
        lt_tensor *d = ex_bin(&e, LT_BIN_MUL, b, ex_bin(&e, LT_BIN_POW, a, ex_bins(&e, LT_BIN_SUB, b, 1)));
        ga = ex_zero_where(&e, ex_bins(&e, LT_BIN_EQ, b, 0), ex_bin(&e, LT_BIN_MUL, g, d));
      }
      if (need_b) { /* a^b log a, 0 where a == 0 and b >= 0 */
        lt_tensor *d = ex_bin(&e, LT_BIN_MUL, ex_bin(&e, LT_BIN_POW, a, b), ex_un(&e, LT_UN_LOG, a));
        lt_tensor *m = ex_bin(&e, LT_BIN_AND, ex_bins(&e, LT_BIN_EQ, a, 0), ex_bins(&e, LT_BIN_GE, b, 0));
        gb = ex_zero_where(&e, m, ex_bin(&e, LT_BIN_MUL, g, d));
      }
      break;
    case LT_BIN_MAXIMUM: case LT_BIN_MINIMUM: {
      /* PyTorch's rule: equal values split the gradient, the loser gets 0,
       * and everything else gets all of it (a NaN on either side: both) */
      lt_tensor *share = ex_where(&e, ex_bin(&e, LT_BIN_EQ, a, b), ex_bins(&e, LT_BIN_MUL, g, 0.5), g);
      lt_binary_op a_loses = op == LT_BIN_MAXIMUM ? LT_BIN_LT : LT_BIN_GT;
      lt_binary_op b_loses = op == LT_BIN_MAXIMUM ? LT_BIN_GT : LT_BIN_LT;
      if (need_a) ga = ex_zero_where(&e, ex_bin(&e, a_loses, a, b), share);
      if (need_b) gb = ex_zero_where(&e, ex_bin(&e, b_loses, a, b), share);
      break;
    }
    case LT_BIN_FMOD: case LT_BIN_REMAINDER: {
      ga = g;
      if (need_b) {
        lt_tensor *q = ex_bin(&e, LT_BIN_DIV, a, b);
        lt_tensor *k = op == LT_BIN_REMAINDER ? ex_un(&e, LT_UN_FLOOR, q)
                                              : ex_bin(&e, LT_BIN_MUL, ex_un(&e, LT_UN_SIGN, q), ex_un(&e, LT_UN_FLOOR, ex_un(&e, LT_UN_ABS, q)));
        gb = ex_un(&e, LT_UN_NEG, ex_bin(&e, LT_BIN_MUL, g, k));
      }
      break;
    }
    case LT_BIN_ATAN2: {
      lt_tensor *d = ex_bin(&e, LT_BIN_ADD, ex_un(&e, LT_UN_SQUARE, a), ex_un(&e, LT_UN_SQUARE, b));
      if (need_a) ga = ex_bin(&e, LT_BIN_DIV, ex_bin(&e, LT_BIN_MUL, g, b), d);
      if (need_b) gb = ex_un(&e, LT_UN_NEG, ex_bin(&e, LT_BIN_DIV, ex_bin(&e, LT_BIN_MUL, g, a), d));
      break;
    }
    default:
      e.st = lt_error_set(LT_ERR_RUNTIME, 0, "%s: unexpected op %d", n->name, (int)op);
  }
  if (need_a && ga) ex_out(&e, ex_sum_to(&e, ga, n->inputs[0].ndim, n->inputs[0].shape), &gi[0]);
  if (need_b && gb) ex_out(&e, ex_sum_to(&e, gb, n->inputs[1].ndim, n->inputs[1].shape), &gi[1]);
  return ex_end(&e);
}

static bool binary_differentiable(lt_binary_op op) { return (unsigned)op < LT_BIN_COUNT && binary_info[op].name; }

/* Records the node of out = a op b; a or b is NULL for the side that was the
 * Lua number s (scalar_side 0 or 1, -1 for none). */
static lt_status record_binary(lt_binary_op op, lt_tensor *a, lt_tensor *b, int scalar_side, double s,
                               lt_dtype s_dtype, lt_tensor *out) {
  lt_tensor *in[2] = {a, b};
  lt_node *n;
  LT_TRY(lt_ag_node_new(binary_info[op].name, binary_backward, 2, in, 1, &n));
  int needs = binary_info[op].needs;
  bool ra = a && a->requires_grad, rb = b && b->requires_grad;
  bool save_a = a && (((needs & NEED_A_FOR_GB) && rb) || ((needs & NEED_A_FOR_GA) && ra));
  bool save_b = b && (((needs & NEED_B_FOR_GA) && ra) || ((needs & NEED_B_FOR_GB) && rb));
  n->ints[0] = op;
  n->ints[1] = (save_a ? 1 : 0) | (save_b ? 2 : 0);
  n->ints[2] = scalar_side < 0 ? 0 : 1 + scalar_side;
  n->ints[3] = s_dtype;
  n->scalars[0] = s;
  lt_status st = LT_OK;
  if (save_a) st = lt_ag_save(n, a);
  if (st == LT_OK && save_b) st = lt_ag_save(n, b);
  if (st == LT_OK) lt_ag_set_output(n, out, 0);
  lt_node_release(n);
  return st;
}

lt_status lt_ag_binary(lt_binary_op op, lt_tensor *a, lt_tensor *b, lt_tensor **out) {
  LT_TRY(lt_op_binary(op, a, b, out));
  lt_tensor *in[2] = {a, b};
  if (!lt_ag_needs_grad(2, in) || !binary_differentiable(op) || !lt_dtype_is_floating((*out)->dtype)) return LT_OK;
  lt_status st = record_binary(op, a, b, -1, 0, LT_FLOAT64, *out);
  if (st != LT_OK) { lt_tensor_release(*out); *out = NULL; }
  return st;
}

lt_status lt_ag_binary_scalar(lt_binary_op op, lt_tensor *a, double s, lt_dtype s_dtype, bool reversed,
                              lt_tensor **out) {
  LT_TRY(lt_op_binary_scalar(op, a, s, s_dtype, reversed, out));
  if (!lt_ag_needs_grad(1, &a) || !binary_differentiable(op) || !lt_dtype_is_floating((*out)->dtype)) return LT_OK;
  lt_status st = reversed ? record_binary(op, NULL, a, 0, s, s_dtype, *out)
                          : record_binary(op, a, NULL, 1, s, s_dtype, *out);
  if (st != LT_OK) { lt_tensor_release(*out); *out = NULL; }
  return st;
}

/* a op= b (b a tensor, or the number s when b is NULL) */
static lt_status binary_inplace(lt_binary_op op, lt_tensor *a, lt_tensor *b, double s, lt_dtype s_dtype) {
  lt_tensor *in[2] = {a, b};
  bool needs = lt_ag_needs_grad(b ? 2 : 1, in);
  if (!needs || !binary_differentiable(op)) {
    LT_TRY(b ? lt_op_binary_(op, a, b) : lt_op_binary_scalar_(op, a, s, s_dtype));
    if (needs && a->requires_grad) lt_ag_detach_(a); /* a comparison result carries no gradient */
    return LT_OK;
  }
  LT_TRY(lt_ag_check_inplace(a, binary_info[op].iname));
  if (op == LT_BIN_ADD || op == LT_BIN_SUB) {
    /* nothing saved: write in place, then record over a's old history */
    LT_TRY(b ? lt_op_binary_(op, a, b) : lt_op_binary_scalar_(op, a, s, s_dtype));
    if (!lt_dtype_is_floating(a->dtype)) return LT_OK;
    LT_TRY(record_binary(op, a, b, b ? -1 : 1, s, s_dtype, a));
    return lt_ag_inplace_done(a);
  }
  lt_tensor *r;
  LT_TRY(b ? lt_ag_binary(op, a, b, &r) : lt_ag_binary_scalar(op, a, s, s_dtype, false, &r));
  lt_status st = check_inplace_result(a, r, 2, b ? b : a);
  if (st == LT_OK) st = lt_ag_rebase(a, r);
  lt_tensor_release(r);
  return st;
}

lt_status lt_ag_binary_(lt_binary_op op, lt_tensor *a, lt_tensor *b) {
  return binary_inplace(op, a, b, 0, LT_FLOAT64);
}

lt_status lt_ag_binary_scalar_(lt_binary_op op, lt_tensor *a, double s, lt_dtype s_dtype) {
  return binary_inplace(op, a, NULL, s, s_dtype);
}

/* --- where, masked_fill ----------------------------------------------------------------- */

/* saved[0] = cond (or mask); inputs a, b (where) or t (masked_fill) */
static lt_status where_backward(lt_node *n, lt_tensor *const *go, lt_tensor **gi) {
  lt_tensor *c;
  LT_TRY(lt_ag_saved(n, 0, &c));
  lt_ex e = {0};
  for (int k = 0; k < n->n_inputs; k++) {
    if (!lt_node_needs_input_grad(n, k)) continue;
    /* where: a gets the gradient where cond holds, b elsewhere; masked_fill:
     * t gets it where the mask is false */
    bool keep_true = n->n_inputs == 2 && k == 0;
    lt_tensor *r = keep_true ? ex_keep_where(&e, c, go[0]) : ex_zero_where(&e, c, go[0]);
    ex_out(&e, ex_sum_to(&e, r, n->inputs[k].ndim, n->inputs[k].shape), &gi[k]);
  }
  return ex_end(&e);
}

lt_status lt_ag_where(lt_tensor *cond, lt_tensor *a, lt_tensor *b, lt_tensor **out) {
  LT_TRY(lt_op_where(cond, a, b, out));
  lt_tensor *in[2] = {a, b};
  if (!lt_ag_needs_grad(2, in) || !lt_dtype_is_floating((*out)->dtype)) return LT_OK;
  lt_node *n;
  lt_status st = lt_ag_node_new("WhereBackward", where_backward, 2, in, 1, &n);
  if (st == LT_OK) {
    st = lt_ag_save(n, cond);
    if (st == LT_OK) lt_ag_set_output(n, *out, 0);
    lt_node_release(n);
  }
  if (st != LT_OK) { lt_tensor_release(*out); *out = NULL; }
  return st;
}

static lt_status record_masked_fill(lt_tensor *t_in, lt_tensor *mask, lt_tensor *out) {
  lt_node *n;
  LT_TRY(lt_ag_node_new("MaskedFillBackward", where_backward, 1, &t_in, 1, &n));
  lt_status st = lt_ag_save(n, mask);
  if (st == LT_OK) lt_ag_set_output(n, out, 0);
  lt_node_release(n);
  return st;
}

lt_status lt_ag_masked_fill(lt_tensor *t, lt_tensor *mask, double v, lt_tensor **out) {
  lt_tensor *o;
  LT_TRY(lt_op_clone(t, &o));
  lt_status st = lt_op_masked_fill_(o, mask, v);
  if (st == LT_OK && lt_ag_needs_grad(1, &t) && lt_dtype_is_floating(o->dtype)) st = record_masked_fill(t, mask, o);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *out = o;
  return LT_OK;
}

lt_status lt_ag_masked_fill_(lt_tensor *t, lt_tensor *mask, double v) {
  if (!lt_ag_needs_grad(1, &t)) return lt_op_masked_fill_(t, mask, v);
  LT_TRY(lt_ag_check_inplace(t, "masked_fill_"));
  LT_TRY(lt_op_masked_fill_(t, mask, v));
  LT_TRY(record_masked_fill(t, mask, t));
  return lt_ag_inplace_done(t);
}

/* --- fill, copy ------------------------------------------------------------------------------ */

lt_status lt_ag_fill_(lt_tensor *t, double v) {
  if (!lt_ag_needs_grad(1, &t)) return lt_op_fill_(t, v);
  LT_TRY(lt_ag_check_inplace(t, "fill_"));
  LT_TRY(lt_op_fill_(t, v));
  lt_node *n;
  LT_TRY(lt_ag_node_new("FillBackward", zero_backward, 1, &t, 1, &n));
  lt_ag_set_output(n, t, 0);
  lt_node_release(n);
  return lt_ag_inplace_done(t);
}

/* inputs: dst (old history, gets nothing), src */
static lt_status copy_backward(lt_node *n, lt_tensor *const *go, lt_tensor **gi) {
  if (!lt_node_needs_input_grad(n, 1)) return LT_OK;
  return lt_ag_sum_to(go[0], n->inputs[1].ndim, n->inputs[1].shape, &gi[1]);
}

lt_status lt_ag_copy_(lt_tensor *dst, lt_tensor *src) {
  lt_tensor *in[2] = {dst, src};
  if (!lt_ag_needs_grad(2, in)) return lt_op_copy_(dst, src);
  LT_TRY(lt_ag_check_inplace(dst, "copy_"));
  LT_TRY(lt_op_copy_(dst, src));
  if (!lt_dtype_is_floating(dst->dtype)) {
    lt_ag_detach_(dst);
    return LT_OK;
  }
  lt_node *n;
  LT_TRY(lt_ag_node_new("CopyBackward", copy_backward, 2, in, 1, &n));
  lt_ag_set_output(n, dst, 0);
  lt_node_release(n);
  return lt_ag_inplace_done(dst);
}

/* base.select(dim, index) = src / v, as PyTorch: copy_/fill_ of the select
 * view, whose history goes onto base (lt_ag_inplace_done) */
static lt_status select_put(lt_tensor *base, int dim, int64_t index, lt_tensor *src, double v) {
  lt_tensor *in[2] = {base, src};
  if (lt_ag_needs_grad(src ? 2 : 1, in)) LT_TRY(lt_ag_check_inplace(base, "index assignment"));
  lt_tensor *view = NULL;
  LT_TRY(lt_ag_select(base, dim, index, &view));
  lt_status st = src ? lt_ag_copy_(view, src) : lt_ag_fill_(view, v);
  lt_tensor_release(view);
  return st;
}

lt_status lt_ag_select_copy_(lt_tensor *base, int dim, int64_t index, lt_tensor *src) {
  return select_put(base, dim, index, src, 0);
}

lt_status lt_ag_select_fill_(lt_tensor *base, int dim, int64_t index, double v) {
  return select_put(base, dim, index, NULL, v);
}
