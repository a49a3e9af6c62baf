/* lt_ag_pool.c — autograd of the 2-D poolings (lt_ag_nn.h): nodes whose
 * backwards are the op layer's pooling backward ops, with the window
 * geometry kept in the node's ints. The op layer: src/core/lt_ops_pool.c. */
#include "lt_ag_internal.h"
#include "lt_ag_nn.h"

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
  if (!g[0] || !LT_AG_NEED(n, 0)) return LT_OK;
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
    st = lt_ag_node1("MaxPool2DWithIndicesBackward", maxpool_backward, 1, &x, out, &n);
    if (st == LT_OK) {
      st = lt_ag_save(n, x);
      if (st == LT_OK) st = lt_ag_save(n, idx);
      pool_to_ints(n, p);
      st = lt_ag_finish1(n, st, out);
    }
  }
  if (st == LT_OK && indices) *indices = idx;
  else lt_tensor_release(idx);
  return st;
}

static lt_status avgpool_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  if (!g[0] || !LT_AG_NEED(n, 0)) return LT_OK;
  lt_tensor *x;
  LT_TRY(lt_ag_saved(n, 0, &x));
  lt_pool2d_params p = pool_from_ints(n);
  return lt_op_avg_pool2d_backward(g[0], x, &p, &gi[0]);
}

lt_status lt_ag_avg_pool2d(lt_tensor *x, const lt_pool2d_params *p, lt_tensor **out) {
  LT_TRY(lt_op_avg_pool2d(x, p, out));
  if (!lt_ag_needs_grad(1, &x)) return LT_OK;
  lt_node *n;
  LT_TRY(lt_ag_node1("AvgPool2DBackward", avgpool_backward, 1, &x, out, &n));
  pool_to_ints(n, p);
  return lt_ag_finish1(n, lt_ag_save(n, x), out);
}

static lt_status adaptive_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  if (!g[0] || !LT_AG_NEED(n, 0)) return LT_OK;
  lt_tensor *x;
  LT_TRY(lt_ag_saved(n, 0, &x));
  return lt_op_adaptive_avg_pool2d_backward(g[0], x, &gi[0]);
}

lt_status lt_ag_adaptive_avg_pool2d(lt_tensor *x, int64_t oh, int64_t ow, lt_tensor **out) {
  LT_TRY(lt_op_adaptive_avg_pool2d(x, oh, ow, out));
  if (!lt_ag_needs_grad(1, &x)) return LT_OK;
  lt_node *n;
  LT_TRY(lt_ag_node1("AdaptiveAvgPool2DBackward", adaptive_backward, 1, &x, out, &n));
  return lt_ag_finish1(n, lt_ag_save(n, x), out);
}
