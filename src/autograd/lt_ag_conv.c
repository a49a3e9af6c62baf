/* lt_ag_conv.c — autograd of conv2d (lt_ag_nn.h): the recording of a
 * ConvolutionBackward node whose backward is lt_op_conv2d_backward, autocast's
 * bfloat16 inputs, and padding='same' (an extra zero row/column, through
 * cat, for even kernel extents); and the inference convolution with its
 * batch norm, residual and ReLU, recorded op by op where a gradient is
 * wanted. The op layer: src/core/lt_ops_conv.c. */
#include <string.h>

#include "lt_ag_internal.h"
#include "lt_ag_nn.h"
#include "lt_ag_ops.h"
#include "lt_autocast.h"

/* --- convolution ---------------------------------------------------------------------- */

static lt_status conv_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  if (!g[0]) return LT_OK;
  lt_tensor *x, *w;
  LT_TRY(lt_ag_saved(n, 0, &x));
  LT_TRY(lt_ag_saved(n, 1, &w));
  lt_conv2d_params p = {{n->ints[0], n->ints[1]}, {n->ints[2], n->ints[3]}, {n->ints[4], n->ints[5]}, n->ints[6]};
  return lt_op_conv2d_backward(g[0], x, w, &p, LT_AG_NEED(n, 0) ? &gi[0] : NULL, LT_AG_NEED(n, 1) ? &gi[1] : NULL,
                               LT_AG_NEED(n, 2) ? &gi[2] : NULL);
}

static lt_status conv2d_rec(lt_tensor *x, lt_tensor *w, lt_tensor *b, const lt_conv2d_params *p, lt_tensor **out) {
  LT_TRY(lt_op_conv2d(x, w, b, p, out));
  lt_tensor *in[3] = {x, w, b};
  if (!lt_ag_needs_grad(3, in)) return LT_OK;
  lt_node *n;
  LT_TRY(lt_ag_node1("ConvolutionBackward", conv_backward, 3, in, out, &n));
  lt_status st = lt_ag_save(n, x);
  if (st == LT_OK) st = lt_ag_save(n, w);
  const int64_t v[7] = {p->stride[0], p->stride[1], p->padding[0], p->padding[1],
                        p->dilation[0], p->dilation[1], p->groups};
  for (int i = 0; i < 7; i++) n->ints[i] = v[i];
  return lt_ag_finish1(n, st, out);
}

/* --- entry points ------------------------------------------------------------------------- */

lt_status lt_ag_conv2d(lt_tensor *x, lt_tensor *w, lt_tensor *b, const lt_conv2d_params *p, lt_tensor **out) {
  if (!lt_autocast_enabled()) return conv2d_rec(x, w, b, p, out);
  lt_tensor *in[3] = {x, w, b}, *c[3];
  LT_TRY(lt_autocast_inputs(3, in, LT_AUTOCAST_LOWER, c));
  lt_status st = conv2d_rec(c[0], c[1], c[2], p, out);
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

/* padding='same' (stride 1): the input, with an extra zero row/column where
 * a dim's total padding is odd, and the symmetric padding in *q. */
static lt_status same_input(lt_tensor *x, lt_tensor *w, const lt_conv2d_params *p, lt_tensor **xp,
                            lt_conv2d_params *q) {
  *q = *p;
  lt_tensor *cur = x, *t = NULL;
  lt_tensor_retain(cur);
  lt_status st = LT_OK;
  for (int i = 0; i < 2 && st == LT_OK; i++) {
    int64_t total = p->dilation[i] * (w->shape[2 + i] - 1);
    q->padding[i] = total / 2;
    if (total % 2 == 0) continue;
    st = pad_one_zero(cur, cur->ndim - 2 + i, &t); /* the odd one out: bottom, right */
    lt_tensor_release(cur);
    cur = st == LT_OK ? t : NULL;
  }
  *xp = cur;
  return st;
}

/* the shapes same_input can read (anything else: conv2d's shape errors) */
static bool same_shapes(const lt_tensor *x, const lt_tensor *w) {
  return w->ndim == 4 && (x->ndim == 3 || x->ndim == 4);
}

lt_status lt_ag_conv2d_same(lt_tensor *x, lt_tensor *w, lt_tensor *b, const lt_conv2d_params *p, lt_tensor **out) {
  if (!same_shapes(x, w)) return lt_ag_conv2d(x, w, b, p, out);
  lt_conv2d_params q;
  lt_tensor *xp = NULL;
  lt_status st = same_input(x, w, p, &xp, &q);
  if (st == LT_OK) st = lt_ag_conv2d(xp, w, b, &q, out);
  lt_tensor_release(xp);
  return st;
}

/* --- inference: convolution, batch norm, residual, ReLU -------------------------------- */

/* The recorded ops one by one (a gradient is wanted, or autocast is on). */
static lt_status conv_bn_eval_ops(lt_tensor *x, lt_tensor *w, lt_tensor *b, const lt_conv2d_params *p, bool same,
                                  const lt_conv_bn_eval *bn, lt_tensor **out) {
  lt_tensor *c = NULL, *n = NULL, *s = NULL;
  LT_TRY((same ? lt_ag_conv2d_same : lt_ag_conv2d)(x, w, b, p, &c));
  bool relu_in_bn = bn->relu && !bn->residual;
  lt_status st = (relu_in_bn ? lt_ag_batch_norm_relu : lt_ag_batch_norm)(c, bn->running_mean, bn->running_var,
                                                                          bn->weight, bn->bias, false, 0.0, bn->eps, &n);
  lt_tensor_release(c);
  if (st != LT_OK || !bn->residual) {
    if (st == LT_OK) *out = n;
    return st;
  }
  st = lt_ag_binary(LT_BIN_ADD, n, bn->residual, &s);
  lt_tensor_release(n);
  if (st != LT_OK || !bn->relu) {
    if (st == LT_OK) *out = s;
    return st;
  }
  st = lt_ag_activation(LT_ACT_RELU, s, 0, out);
  lt_tensor_release(s);
  return st;
}

/* An unbatched [C,H,W] input (and residual) as a batch of one. */
static lt_status conv_bn_eval_one_image(lt_tensor *x, lt_tensor *w, lt_tensor *b, const lt_conv2d_params *p, bool same,
                                        const lt_conv_bn_eval *bn, lt_tensor **out) {
  lt_tensor *xb = NULL, *rb = NULL, *yb = NULL;
  lt_conv_bn_eval one = *bn;
  lt_status st = lt_ag_unsqueeze(x, 0, &xb);
  if (st == LT_OK && bn->residual) st = lt_ag_unsqueeze(bn->residual, 0, &rb);
  one.residual = rb;
  if (st == LT_OK) st = lt_ag_conv2d_bn_eval(xb, w, b, p, same, &one, &yb);
  if (st == LT_OK) st = lt_ag_squeeze(yb, 0, out);
  lt_tensor_release(xb);
  lt_tensor_release(rb);
  lt_tensor_release(yb);
  return st;
}

lt_status lt_ag_conv2d_bn_eval(lt_tensor *x, lt_tensor *w, lt_tensor *b, const lt_conv2d_params *p, bool same,
                               const lt_conv_bn_eval *bn, lt_tensor **out) {
  if (x->ndim == 3) return conv_bn_eval_one_image(x, w, b, p, same, bn, out);
  lt_tensor *in[6] = {x, w, b, bn->weight, bn->bias, bn->residual};
  if (lt_autocast_enabled() || lt_ag_needs_grad(6, in) || (same && !same_shapes(x, w)))
    return conv_bn_eval_ops(x, w, b, p, same, bn, out);
  if (!same) return lt_op_conv2d_bn_eval(x, w, b, p, bn, out);
  lt_conv2d_params q;
  lt_tensor *xp = NULL;
  lt_status st = same_input(x, w, p, &xp, &q);
  if (st == LT_OK) st = lt_op_conv2d_bn_eval(xp, w, b, &q, bn, out);
  lt_tensor_release(xp);
  return st;
}
