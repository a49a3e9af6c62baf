/* lt_ag_norm.c — autograd of batch_norm and of batch norm fused with ReLU
 * (lt_ag_nn.h): a NativeBatchNormBackward node whose backward is
 * lt_op_batch_norm_backward, and a BatchNormReluBackward node whose
 * backward is lt_op_batch_norm_relu_backward. The fused node keeps x, the
 * statistics, weight and bias, not its output: the backward recomputes the
 * ReLU's mask from them. On a backend without the fused kernels
 * batch_norm_relu records the two ops, batch norm then ReLU. The running
 * statistics are updated in place and never recorded. The op layer:
 * src/core/lt_ops_norm.c. */
#include "lt_ag_internal.h"
#include "lt_ag_nn.h"

/* --- batch normalisation ------------------------------------------------------------------ */

/* saved: x, mean, invstd[, weight]; ints: training, has_weight */
static lt_status bn_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  if (!g[0]) return LT_OK;
  lt_tensor *x, *m, *is, *w = NULL;
  LT_TRY(lt_ag_saved(n, 0, &x));
  LT_TRY(lt_ag_saved(n, 1, &m));
  LT_TRY(lt_ag_saved(n, 2, &is));
  if (n->ints[1]) LT_TRY(lt_ag_saved(n, 3, &w));
  return lt_op_batch_norm_backward(g[0], x, w, m, is, n->ints[0] != 0, LT_AG_NEED(n, 0) ? &gi[0] : NULL,
                                   LT_AG_NEED(n, 1) ? &gi[1] : NULL, LT_AG_NEED(n, 2) ? &gi[2] : NULL);
}

/* saved: x, mean, invstd[, weight][, bias]; ints: training, has_weight, has_bias */
static lt_status bn_relu_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  if (!g[0]) return LT_OK;
  lt_tensor *x, *m, *is, *w = NULL, *b = NULL;
  int i = 3;
  LT_TRY(lt_ag_saved(n, 0, &x));
  LT_TRY(lt_ag_saved(n, 1, &m));
  LT_TRY(lt_ag_saved(n, 2, &is));
  if (n->ints[1]) LT_TRY(lt_ag_saved(n, i++, &w));
  if (n->ints[2]) LT_TRY(lt_ag_saved(n, i, &b));
  return lt_op_batch_norm_relu_backward(g[0], x, w, b, m, is, n->ints[0] != 0, LT_AG_NEED(n, 0) ? &gi[0] : NULL,
                                        LT_AG_NEED(n, 1) ? &gi[1] : NULL, LT_AG_NEED(n, 2) ? &gi[2] : NULL);
}

static lt_status batch_norm_rec(lt_tensor *x, lt_tensor *running_mean, lt_tensor *running_var, lt_tensor *weight,
                                lt_tensor *bias, bool training, double momentum, double eps, bool relu,
                                lt_tensor **out) {
  lt_tensor *in[3] = {x, weight, bias};
  bool rec = lt_ag_needs_grad(3, in);
  lt_tensor *m = NULL, *is = NULL;
  LT_TRY((relu ? lt_op_batch_norm_relu : lt_op_batch_norm)(x, running_mean, running_var, weight, bias, training,
                                                           momentum, eps, out, rec ? &m : NULL, rec ? &is : NULL));
  if (!rec) return LT_OK;
  lt_node *n;
  lt_status st = relu ? lt_ag_node1("BatchNormReluBackward", bn_relu_backward, 3, in, out, &n)
                      : lt_ag_node1("NativeBatchNormBackward", bn_backward, 3, in, out, &n);
  if (st == LT_OK) {
    st = lt_ag_save(n, x);
    if (st == LT_OK) st = lt_ag_save(n, m);
    if (st == LT_OK) st = lt_ag_save(n, is);
    if (st == LT_OK && weight) st = lt_ag_save(n, weight);
    if (st == LT_OK && relu && bias) st = lt_ag_save(n, bias);
    n->ints[0] = training;
    n->ints[1] = weight != NULL;
    n->ints[2] = relu && bias != NULL;
    st = lt_ag_finish1(n, st, out);
  }
  lt_tensor_release(m);
  lt_tensor_release(is);
  return st;
}

/* Not cast under autocast, as in PyTorch: a bfloat16 input runs in its own
 * dtype with the float32 weight, bias and running statistics (the op
 * layer's mixed precision), so a conv -> bn -> relu chain stays bfloat16
 * without two conversion passes per layer; the statistics are float32. */
lt_status lt_ag_batch_norm(lt_tensor *x, lt_tensor *running_mean, lt_tensor *running_var, lt_tensor *weight,
                           lt_tensor *bias, bool training, double momentum, double eps, lt_tensor **out) {
  return batch_norm_rec(x, running_mean, running_var, weight, bias, training, momentum, eps, false, out);
}

/* As batch_norm (not cast under autocast). A backend without the fused
 * kernels records NativeBatchNormBackward then ReluBackward, exactly what
 * relu(batch_norm(x)) records. */
lt_status lt_ag_batch_norm_relu(lt_tensor *x, lt_tensor *running_mean, lt_tensor *running_var, lt_tensor *weight,
                                lt_tensor *bias, bool training, double momentum, double eps, lt_tensor **out) {
  if (lt_op_batch_norm_relu_fused(x))
    return batch_norm_rec(x, running_mean, running_var, weight, bias, training, momentum, eps, true, out);
  lt_tensor *y = NULL;
  LT_TRY(batch_norm_rec(x, running_mean, running_var, weight, bias, training, momentum, eps, false, &y));
  lt_status st = lt_ag_activation(LT_ACT_RELU, y, 0, out);
  lt_tensor_release(y);
  return st;
}
