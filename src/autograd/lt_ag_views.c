/* lt_ag_views.c — differentiable views (view, reshape, flatten, narrow,
 * select, transpose, permute, squeeze, unsqueeze, expand, alias) and copies
 * (contiguous, clone, to). A view's node is marked as such (lt_ag_mark_view):
 * in-place ops on it are refused, and backward checks that the viewed
 * storage was not overwritten since. */
#include <string.h>

#include "lt_ag_internal.h"

/* ints: the op's parameters (dims, start, index, permutation) */
static lt_status reshape_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  return lt_op_reshape(g[0], n->inputs[0].ndim, n->inputs[0].shape, &gi[0]);
}

static lt_status expand_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  return lt_ag_sum_to(g[0], n->inputs[0].ndim, n->inputs[0].shape, &gi[0]);
}

static lt_status transpose_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  return lt_tensor_transpose(g[0], (int)n->ints[0], (int)n->ints[1], &gi[0]);
}

static lt_status permute_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  int inv[LT_MAX_DIMS];
  for (int i = 0; i < n->inputs[0].ndim; i++) inv[n->ints[i]] = i;
  return lt_tensor_permute(g[0], inv, &gi[0]);
}

/* narrow (ints: 0, dim, start) and select (ints: 1, dim, index): the
 * gradient goes into the slice of a zero tensor */
static lt_status slice_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  lt_ex e = {0};
  lt_tensor *z = ex_full(&e, n->inputs[0].ndim, n->inputs[0].shape, 0, g[0]);
  lt_tensor *s = n->ints[0] ? ex_select(&e, z, (int)n->ints[1], n->ints[2])
                            : ex_narrow(&e, z, (int)n->ints[1], n->ints[2], g[0]->ndim ? g[0]->shape[n->ints[1]] : 0);
  if (s) ex_do(&e, lt_op_copy_(s, g[0]));
  ex_out(&e, z, &gi[0]);
  return ex_end(&e);
}

/* Records the node of a view or copy `*out` of t; releases *out on failure. */
static lt_status record(const char *name, lt_backward_fn fn, lt_tensor *t, lt_tensor **out, const int64_t *ints,
                        int n_ints) {
  if (!lt_ag_needs_grad(1, &t) || *out == t) return LT_OK;
  lt_node *n;
  lt_status st = lt_ag_record1(name, fn, t, *out, &n);
  if (st != LT_OK) {
    lt_tensor_release(*out);
    *out = NULL;
    return st;
  }
  if (!n) return LT_OK;
  if (n_ints) memcpy(n->ints, ints, sizeof(int64_t) * (size_t)n_ints);
  if ((*out)->storage == t->storage) lt_ag_mark_view(n, t->storage);
  return LT_OK;
}

lt_status lt_ag_view(lt_tensor *t, int ndim, const int64_t *shape, lt_tensor **out) {
  LT_TRY(lt_tensor_view(t, ndim, shape, out));
  return record("ViewBackward", reshape_backward, t, out, NULL, 0);
}

lt_status lt_ag_reshape(lt_tensor *t, int ndim, const int64_t *shape, lt_tensor **out) {
  LT_TRY(lt_op_reshape(t, ndim, shape, out));
  return record("ReshapeBackward", reshape_backward, t, out, NULL, 0);
}

lt_status lt_ag_flatten(lt_tensor *t, int start, int end, lt_tensor **out) {
  LT_TRY(lt_op_flatten(t, start, end, out));
  return record("FlattenBackward", reshape_backward, t, out, NULL, 0);
}

lt_status lt_ag_squeeze(lt_tensor *t, int dim, lt_tensor **out) {
  LT_TRY(lt_tensor_squeeze(t, dim, out));
  return record("SqueezeBackward", reshape_backward, t, out, NULL, 0);
}

lt_status lt_ag_unsqueeze(lt_tensor *t, int dim, lt_tensor **out) {
  LT_TRY(lt_tensor_unsqueeze(t, dim, out));
  return record("UnsqueezeBackward", reshape_backward, t, out, NULL, 0);
}

lt_status lt_ag_narrow(lt_tensor *t, int dim, int64_t start, int64_t length, lt_tensor **out) {
  LT_TRY(lt_tensor_narrow(t, dim, start, length, out));
  int64_t ints[3] = {0, dim, start};
  return record("NarrowBackward", slice_backward, t, out, ints, 3);
}

lt_status lt_ag_select(lt_tensor *t, int dim, int64_t index, lt_tensor **out) {
  LT_TRY(lt_tensor_select(t, dim, index, out));
  int64_t ints[3] = {1, dim, index};
  return record("SelectBackward", slice_backward, t, out, ints, 3);
}

lt_status lt_ag_transpose(lt_tensor *t, int d0, int d1, lt_tensor **out) {
  LT_TRY(lt_tensor_transpose(t, d0, d1, out));
  int64_t ints[2] = {d0, d1};
  return record("TransposeBackward", transpose_backward, t, out, ints, 2);
}

lt_status lt_ag_permute(lt_tensor *t, const int *dims, lt_tensor **out) {
  LT_TRY(lt_tensor_permute(t, dims, out));
  int64_t ints[LT_MAX_DIMS];
  for (int i = 0; i < t->ndim; i++) ints[i] = dims[i];
  return record("PermuteBackward", permute_backward, t, out, ints, t->ndim);
}

lt_status lt_ag_expand(lt_tensor *t, int ndim, const int64_t *shape, lt_tensor **out) {
  LT_TRY(lt_tensor_expand(t, ndim, shape, out));
  return record("ExpandBackward", expand_backward, t, out, NULL, 0);
}

lt_status lt_ag_alias(lt_tensor *t, lt_tensor **out) {
  LT_TRY(lt_tensor_alias(t, out));
  return record("AliasBackward", lt_ag_identity_backward, t, out, NULL, 0);
}

lt_status lt_ag_contiguous(lt_tensor *t, lt_tensor **out) {
  LT_TRY(lt_op_contiguous(t, out));
  return record("CloneBackward", lt_ag_identity_backward, t, out, NULL, 0);
}

lt_status lt_ag_clone(lt_tensor *t, lt_tensor **out) {
  LT_TRY(lt_op_clone(t, out));
  return record("CloneBackward", lt_ag_identity_backward, t, out, NULL, 0);
}

lt_status lt_ag_to(lt_tensor *t, lt_dtype dtype, lt_device device, lt_tensor **out) {
  LT_TRY(lt_op_to(t, dtype, device, out));
  return record("ToCopyBackward", lt_ag_identity_backward, t, out, NULL, 0);
}
