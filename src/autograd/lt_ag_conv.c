/* lt_ag_conv.c — autograd of conv2d (lt_ag_nn.h): the recording of a
 * ConvolutionBackward node whose backward is lt_op_conv2d_backward, autocast's
 * bfloat16 inputs, and padding='same' (an extra zero row/column, through
 * cat, for even kernel extents). The op layer: src/core/lt_ops_conv.c. */
#include <string.h>

#include "lt_ag_internal.h"
#include "lt_ag_nn.h"
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
