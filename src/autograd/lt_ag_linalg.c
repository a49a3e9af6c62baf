/* lt_ag_linalg.c — differentiable matrix products: matmul (with all of
 * torch.matmul's broadcasting), mm, bmm (lt_ag_ops.h), and nn's linear
 * (lt_ag_nn.h), whose backward is lt_op_linear_backward. Under autocast the
 * operands are cast to bfloat16 first (lt_autocast.h). The op layer:
 * src/core/lt_ops_linalg.c. */
#include "lt_ag_internal.h"
#include "lt_ag_nn.h"
#include "lt_autocast.h"

/* --- matrix products ------------------------------------------------------------------- */

/* saved: a, b (as given). The gradient is worked out on the operands
 * promoted to matrices (1-D a -> [1,K], 1-D b -> [K,1]) with the output's
 * batch dims, then summed over broadcast batch dims and reshaped back. */
static lt_status matmul_backward(lt_node *n, lt_tensor *const *go, lt_tensor **gi) {
  lt_tensor *a, *b;
  LT_TRY(lt_ag_saved(n, 0, &a));
  LT_TRY(lt_ag_saved(n, 1, &b));
  lt_ex e = {0};
  lt_tensor *a2 = a->ndim == 1 ? ex_unsqueeze(&e, a, 0) : a;
  lt_tensor *b2 = b->ndim == 1 ? ex_unsqueeze(&e, b, 1) : b;
  if (e.st != LT_OK) return ex_end(&e);
  int64_t M = a2->shape[a2->ndim - 2], K = a2->shape[a2->ndim - 1], N = b2->shape[b2->ndim - 1];
  int nb;
  int64_t gs[LT_MAX_DIMS];
  e.st = lt_broadcast_shape(a2->ndim - 2, a2->shape, b2->ndim - 2, b2->shape, &nb, gs);
  if (e.st != LT_OK) return ex_end(&e);
  gs[nb] = M;
  gs[nb + 1] = N;
  /* products take one dtype: an upstream gradient of another dtype is cast */
  lt_tensor *g = go[0]->dtype == a->dtype ? go[0] : ex_to(&e, go[0], a->dtype);
  lt_tensor *g2 = ex_reshape(&e, g, nb + 2, gs);
  if (lt_node_needs_input_grad(n, 0)) {
    lt_tensor *ga = ex_matmul(&e, g2, ex_transpose(&e, b2, b2->ndim - 2, b2->ndim - 1));
    lt_tensor *gas = ex_sum_to(&e, ga, a2->ndim, a2->shape);
    ex_out(&e, ex_reshape(&e, gas, a->ndim, a->shape), &gi[0]);
  }
  if (lt_node_needs_input_grad(n, 1)) {
    lt_tensor *gb;
    if (b2->ndim == 2 && nb > 0) {
      /* a batched against a matrix: one [K, B*M] x [B*M, N] product instead
       * of a batch of products summed afterwards */
      int64_t af[2] = {-1, K}, gf[2] = {-1, N}; /* b2 has no batch dims, so a2 has them all */
      lt_tensor *af2 = ex_reshape(&e, a2, 2, af);
      lt_tensor *gf2 = ex_reshape(&e, g2, 2, gf);
      gb = ex_matmul(&e, ex_transpose(&e, af2, 0, 1), gf2);
    } else {
      gb = ex_matmul(&e, ex_transpose(&e, a2, a2->ndim - 2, a2->ndim - 1), g2);
    }
    lt_tensor *gbs = ex_sum_to(&e, gb, b2->ndim, b2->shape);
    ex_out(&e, ex_reshape(&e, gbs, b->ndim, b->shape), &gi[1]);
  }
  return ex_end(&e);
}

static lt_status record_matmul(const char *name, lt_tensor *a, lt_tensor *b, lt_tensor **out) {
  lt_tensor *in[2] = {a, b};
  if (!lt_ag_needs_grad(2, in) || !lt_dtype_is_floating((*out)->dtype)) return LT_OK;
  lt_node *n;
  lt_status st = lt_ag_node_new(name, matmul_backward, 2, in, 1, &n);
  if (st == LT_OK) {
    st = lt_ag_save(n, a);
    if (st == LT_OK) st = lt_ag_save(n, b);
    if (st == LT_OK) lt_ag_set_output(n, *out, 0);
    lt_node_release(n);
  }
  if (st != LT_OK) { lt_tensor_release(*out); *out = NULL; }
  return st;
}

/* The three products share one body; under autocast their operands are cast
 * to bfloat16 first (lt_autocast.h). */
static lt_status product(lt_status (*op)(lt_tensor *, lt_tensor *, lt_tensor **), const char *name, lt_tensor *a,
                         lt_tensor *b, lt_tensor **out) {
  lt_tensor *in[2] = {a, b}, *c[2];
  LT_TRY(lt_autocast_inputs(2, in, LT_AUTOCAST_LOWER, c));
  lt_status st = op(c[0], c[1], out);
  if (st == LT_OK) st = record_matmul(name, c[0], c[1], out);
  lt_autocast_release(2, c);
  return st;
}

lt_status lt_ag_matmul(lt_tensor *a, lt_tensor *b, lt_tensor **out) {
  return product(lt_op_matmul, "MatmulBackward", a, b, out);
}

lt_status lt_ag_mm(lt_tensor *a, lt_tensor *b, lt_tensor **out) { return product(lt_op_mm, "MmBackward", a, b, out); }

lt_status lt_ag_bmm(lt_tensor *a, lt_tensor *b, lt_tensor **out) {
  return product(lt_op_bmm, "BmmBackward", a, b, out);
}

/* --- linear ------------------------------------------------------------------------------------ */

static lt_status linear_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  if (!g[0]) return LT_OK;
  lt_tensor *x, *w;
  LT_TRY(lt_ag_saved(n, 0, &x));
  LT_TRY(lt_ag_saved(n, 1, &w));
  return lt_op_linear_backward(g[0], x, w, LT_AG_NEED(n, 0) ? &gi[0] : NULL, LT_AG_NEED(n, 1) ? &gi[1] : NULL,
                               LT_AG_NEED(n, 2) ? &gi[2] : NULL);
}

static lt_status linear_rec(lt_tensor *x, lt_tensor *w, lt_tensor *b, lt_tensor **out) {
  LT_TRY(lt_op_linear(x, w, b, out));
  lt_tensor *in[3] = {x, w, b};
  if (!lt_ag_needs_grad(3, in)) return LT_OK;
  lt_node *n;
  LT_TRY(lt_ag_node1("LinearBackward", linear_backward, 3, in, out, &n));
  lt_status st = lt_ag_save(n, x);
  if (st == LT_OK) st = lt_ag_save(n, w);
  return lt_ag_finish1(n, st, out);
}

lt_status lt_ag_linear(lt_tensor *x, lt_tensor *w, lt_tensor *b, lt_tensor **out) {
  if (!lt_autocast_enabled()) return linear_rec(x, w, b, out);
  lt_tensor *in[3] = {x, w, b}, *c[3];
  LT_TRY(lt_autocast_inputs(3, in, LT_AUTOCAST_LOWER, c));
  lt_status st = linear_rec(c[0], c[1], c[2], out);
  lt_autocast_release(3, c);
  return st;
}
