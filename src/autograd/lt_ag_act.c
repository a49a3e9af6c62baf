/* lt_ag_act.c — autograd of the activations (out of place and in place),
 * dropout and softmax/log_softmax (lt_ag_nn.h), whose backwards are the op
 * layer's activation_backward, a multiply by the mask and softmax_backward;
 * softmax takes float32 inputs under autocast. The op layer:
 * src/core/lt_ops_act.c. */
#include "lt_ag_internal.h"
#include "lt_ag_nn.h"
#include "lt_autocast.h"

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
  if (!g[0] || !LT_AG_NEED(n, 0)) return LT_OK;
  lt_tensor *s;
  LT_TRY(lt_ag_saved(n, 0, &s));
  return lt_op_activation_backward((lt_activation)n->ints[0], g[0], s, n->scalars[0], &gi[0]);
}

lt_status lt_ag_activation(lt_activation act, lt_tensor *x, double param, lt_tensor **out) {
  LT_TRY(lt_op_activation(act, x, param, out));
  if (!lt_ag_needs_grad(1, &x) || !lt_dtype_is_floating((*out)->dtype)) return LT_OK;
  lt_node *n;
  LT_TRY(lt_ag_node1(act_names[act], act_backward, 1, &x, out, &n));
  lt_status st = saves_output(act, param) ? lt_ag_save_output(n, *out) : lt_ag_save(n, x);
  n->ints[0] = act;
  n->scalars[0] = param;
  return lt_ag_finish1(n, st, out);
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

/* --- dropout ------------------------------------------------------------------------------------ */

static lt_status dropout_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  if (!g[0] || !LT_AG_NEED(n, 0)) return LT_OK;
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
  lt_status st = lt_ag_node1("DropoutBackward", dropout_backward, 1, &x, out, &n);
  if (st == LT_OK) st = lt_ag_finish1(n, lt_ag_save(n, mask), out);
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

/* --- softmax ---------------------------------------------------------------------------------------- */

static lt_status softmax_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  if (!g[0] || !LT_AG_NEED(n, 0)) return LT_OK;
  lt_tensor *y;
  LT_TRY(lt_ag_saved(n, 0, &y));
  return lt_op_softmax_backward(g[0], y, (int)n->ints[0], n->ints[1] != 0, &gi[0]);
}

static lt_status softmax_rec(lt_tensor *x, int dim, bool log, lt_tensor **out) {
  LT_TRY(lt_op_softmax(x, dim, log, out));
  if (!lt_ag_needs_grad(1, &x)) return LT_OK;
  lt_node *n;
  LT_TRY(lt_ag_node1(log ? "LogSoftmaxBackward" : "SoftmaxBackward", softmax_backward, 1, &x, out, &n));
  n->ints[0] = dim;
  n->ints[1] = log;
  return lt_ag_finish1(n, lt_ag_save_output(n, *out), out);
}

lt_status lt_ag_softmax(lt_tensor *x, int dim, bool log, lt_tensor **out) {
  if (!lt_autocast_enabled()) return softmax_rec(x, dim, log, out);
  lt_tensor *c;
  LT_TRY(lt_autocast_input(x, LT_AUTOCAST_FP32, &c));
  lt_status st = softmax_rec(c, dim, log, out);
  lt_tensor_release(c);
  return st;
}
