/* lt_ag_views.c — differentiable views (view, reshape, flatten, narrow,
 * select, transpose, permute, squeeze, unsqueeze, expand, alias), copies
 * (contiguous, clone, to), and in-place ops on views, as PyTorch does them:
 *
 * - Every view made here keeps its root base (lt_tensor.view_base): the
 *   tensor it was taken from, or that tensor's own base.
 * - An in-place op on a view records its node as usual, then
 *   lt_ag_inplace_done moves the history onto the base: the base's grad_fn
 *   becomes a CopySlices node, which copies the base's gradient, runs the
 *   op's node on the view's region of it (the view's gradient before the
 *   op goes back into that region) and hands the op's other gradients on;
 *   the view's grad_fn becomes an AsStridedBackward over the base.
 * - Other views of the base see the storage's version move and derive their
 *   grad_fn from the base again when their history is next read
 *   (lt_ag_refresh_view).
 * Geometry is kept as storage positions relative to the base's first
 * element, so the gradients are laid out in a buffer that mirrors the
 * storage the base spans. */
#include <stdlib.h>
#include <string.h>

#include "lt_ag_internal.h"
#include "lt_ops_layout.h"

/* --- a view's place in its base ------------------------------------------------------ */

typedef struct {
  int ndim;
  int64_t shape[LT_MAX_DIMS], stride[LT_MAX_DIMS];
  int64_t offset; /* relative to the base's first element */
} geom;

typedef struct {
  geom view, base;
  int64_t extent; /* storage elements from the base's first to its last (0: empty) */
  bool view_overlaps;
} view_geom;

static void geom_of(const lt_tensor *t, int64_t origin, geom *g) {
  g->ndim = t->ndim;
  memcpy(g->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
  memcpy(g->stride, t->stride, sizeof(int64_t) * (size_t)t->ndim);
  g->offset = t->offset - origin;
}

/* The geometry of view t within base b (NULL when out of host memory). */
static view_geom *view_geom_new(const lt_tensor *t, const lt_tensor *b) {
  view_geom *vg = malloc(sizeof *vg);
  if (!vg) return NULL;
  geom_of(t, b->offset, &vg->view);
  geom_of(b, b->offset, &vg->base);
  int64_t span = 1;
  for (int i = 0; i < b->ndim; i++) {
    if (b->shape[i] == 0) { span = 0; break; }
    span += b->stride[i] * (b->shape[i] - 1);
  }
  vg->extent = span;
  vg->view_overlaps = !lt_tensor_is_non_overlapping(t);
  return vg;
}

static lt_tensor *ex_geom(lt_ex *e, lt_tensor *buf, const geom *g) {
  lt_tensor *o = NULL;
  if (e->st != LT_OK) return NULL;
  lt_status st = lt_tensor_as_strided(buf, g->ndim, g->shape, g->stride, buf->offset + g->offset, &o);
  return ex_keep(e, st, o);
}

/* An int64 tensor of `like`'s device: 0-d holding v (n < 0) or arange(n) * v. */
static lt_tensor *ex_int_range(lt_ex *e, int64_t n, int64_t v, const lt_tensor *like) {
  lt_tensor *o = NULL, *s = NULL;
  if (e->st != LT_OK) return NULL;
  lt_device dev = lt_tensor_device(like);
  lt_status st;
  if (n < 0) {
    st = lt_op_scalar_tensor((double)v, LT_INT64, dev, &o);
    return ex_keep(e, st, o);
  }
  st = lt_op_arange(0, (double)n, 1, LT_INT64, dev, &o);
  if (st == LT_OK) st = lt_op_binary_scalar(LT_BIN_MUL, o, (double)v, LT_INT64, false, &s);
  lt_tensor_release(o);
  return ex_keep(e, st, s);
}

/* buf (1-D) += g at the storage positions of the elements of view geometry
 * v, summing where elements share a position (an expanded view). */
static void ex_add_at(lt_ex *e, lt_tensor *buf, const geom *v, lt_tensor *g) {
  lt_tensor *pos = ex_int_range(e, -1, v->offset, g);
  int64_t n = 1;
  for (int d = 0; d < v->ndim; d++) {
    int64_t bshape[LT_MAX_DIMS];
    for (int k = 0; k < v->ndim; k++) bshape[k] = k == d ? v->shape[d] : 1;
    pos = ex_bin(e, LT_BIN_ADD, pos, ex_reshape(e, ex_int_range(e, v->shape[d], v->stride[d], g), v->ndim, bshape));
    n *= v->shape[d];
  }
  lt_tensor *p1 = ex_reshape(e, pos, 1, &n), *g1 = ex_reshape(e, g, 1, &n);
  if (p1 && g1) ex_do(e, lt_op_index_add_(buf, 0, p1, g1));
}

/* AsStridedBackward: the gradient of a view into a zero gradient of its
 * base. ctx: view_geom. */
static lt_status as_strided_backward(lt_node *n, lt_tensor *const *go, lt_tensor **gi) {
  if (!lt_node_needs_input_grad(n, 0)) return LT_OK;
  const view_geom *vg = n->ctx;
  lt_ex e = {0};
  lt_tensor *buf = ex_full(&e, 1, &vg->extent, 0, go[0]);
  if (vg->view_overlaps) {
    ex_add_at(&e, buf, &vg->view, go[0]);
  } else {
    lt_tensor *slice = ex_geom(&e, buf, &vg->view);
    if (slice) ex_do(&e, lt_op_copy_(slice, go[0]));
  }
  ex_out(&e, ex_geom(&e, buf, &vg->base), &gi[0]);
  return ex_end(&e);
}

/* CopySlices: the base's history after an in-place op on a view of it.
 * inputs: the base (its history before), then the op's other inputs;
 * n->inner: the op's node; ctx: view_geom. */
static lt_status copy_slices_backward(lt_node *n, lt_tensor *const *go, lt_tensor **gi) {
  const view_geom *vg = n->ctx;
  lt_node *fn = n->inner;
  lt_ex e = {0};
  lt_tensor *buf = ex_full(&e, 1, &vg->extent, 0, go[0]);
  lt_tensor *res = ex_geom(&e, buf, &vg->base);
  if (res) ex_do(&e, lt_op_copy_(res, go[0]));
  lt_tensor *slice = ex_geom(&e, buf, &vg->view);
  lt_tensor *gs = NULL; /* the op's output gradient: a copy, as its backward may keep or change it */
  if (slice) {
    e.st = lt_op_clone_format(slice, LT_FORMAT_CONTIGUOUS, &gs);
    gs = ex_keep(&e, e.st, gs);
  }
  if (e.st != LT_OK) return ex_end(&e);
  lt_tensor *fgi[LT_AG_COPY_SLICES_MAX_INPUTS] = {NULL};
  lt_tensor *fgo[1] = {gs};
  lt_status st = fn->backward(fn, fgo, fgi);
  if (st == LT_OK && lt_node_needs_input_grad(n, 0)) {
    /* the view's gradient before the op goes back into its region */
    st = fgi[0] ? lt_op_copy_(slice, fgi[0]) : lt_op_fill_(slice, 0);
    if (st == LT_OK) {
      lt_tensor_retain(res);
      gi[0] = res;
    }
  }
  for (int i = 1; i < n->n_inputs && st == LT_OK; i++) {
    gi[i] = fgi[i];
    fgi[i] = NULL;
  }
  for (int i = 0; i < n->n_inputs; i++) lt_tensor_release(fgi[i]);
  if (e.st == LT_OK) e.st = st;
  return ex_end(&e);
}

/* A node of n_inputs inputs, base b the first, holding view t's place in b
 * as its ctx. */
static lt_status geom_node(const char *name, lt_backward_fn fn, int n_inputs, const lt_tensor *t, lt_tensor *b,
                           lt_node **out) {
  view_geom *vg = view_geom_new(t, b);
  if (!vg) return lt_error_set(LT_ERR_OOM, 0, "out of host memory");
  lt_tensor *in[LT_AG_COPY_SLICES_MAX_INPUTS] = {b};
  lt_status st = lt_ag_node_new(name, fn, n_inputs, in, 1, out);
  if (st != LT_OK) {
    free(vg);
    return st;
  }
  (*out)->ctx = vg;
  (*out)->ctx_free = free;
  return LT_OK;
}

/* Makes view t's grad_fn an AsStridedBackward over its base's history. */
static lt_status regenerate(lt_tensor *t) {
  lt_tensor *b = t->view_base;
  if (!lt_tensor_is_non_overlapping(b))
    return lt_error_set(LT_ERR_ARG, 1, "a view of a tensor whose elements overlap in memory (an expanded tensor) "
                                       "is used after that tensor was modified in place; clone() it first");
  lt_node *n;
  LT_TRY(geom_node("AsStridedBackward", as_strided_backward, 1, t, b, &n));
  lt_ag_set_output(n, t, 0);
  lt_node_release(n);
  t->view_version = atomic_load(&t->storage->version);
  return LT_OK;
}

lt_status lt_ag_refresh_view(lt_tensor *t) {
  lt_tensor *b = t->view_base;
  if (!b || atomic_load(&t->storage->version) == t->view_version) return LT_OK;
  if (!t->grad_fn && !b->requires_grad) return LT_OK; /* no history either way */
  if (t->view_no_grad)
    return lt_error_set(LT_ERR_RUNTIME, 0,
                        "a view made with grad mode off is used after its base (or another view of its base) was "
                        "modified in place; make the view with grad mode on, or clone() it");
  return regenerate(t);
}

lt_status lt_ag_inplace_done(lt_tensor *t) {
  lt_tensor *b = t->view_base;
  lt_node *fn = t->grad_fn;
  if (!b || !fn) return LT_OK;
  if (fn->n_outputs != 1 || fn->n_inputs < 1 || fn->n_inputs > LT_AG_COPY_SLICES_MAX_INPUTS || !fn->backward)
    return lt_error_set(LT_ERR_RUNTIME, 0, "%s: an in-place op on a view needs a node of 1 output and 1..%d inputs "
                                           "(internal error)", fn->name, LT_AG_COPY_SLICES_MAX_INPUTS);
  if (!lt_tensor_is_non_overlapping(b))
    return lt_error_set(LT_ERR_ARG, 1, "an in-place operation on a view of a tensor whose elements overlap in memory "
                                       "(an expanded tensor) cannot be differentiated; clone() that tensor first");
  lt_node *cs;
  LT_TRY(geom_node("CopySlices", copy_slices_backward, fn->n_inputs, t, b, &cs));
  for (int i = 1; i < fn->n_inputs; i++) lt_ag_share_edge(cs, i, fn, i);
  lt_node_retain(fn);
  cs->inner = fn;
  lt_ag_set_output(cs, b, 0);
  lt_node_release(cs);
  return regenerate(t);
}

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

/* Records the node of a view or copy `*out` of t; releases *out on failure.
 * A view (a new tensor over t's storage) keeps t's root base. */
static lt_status record(const char *name, lt_backward_fn fn, lt_tensor *t, lt_tensor **out, const int64_t *ints,
                        int n_ints) {
  if (*out == t) return LT_OK;
  if ((*out)->storage == t->storage) {
    lt_tensor *b = t->view_base ? t->view_base : t;
    lt_tensor_retain(b);
    (*out)->view_base = b;
    (*out)->view_version = atomic_load(&t->storage->version);
    (*out)->view_no_grad = t->view_no_grad || !lt_ag_grad_enabled();
  }
  if (!lt_ag_needs_grad(1, &t)) return LT_OK;
  lt_node *n;
  lt_status st = lt_ag_record1(name, fn, t, *out, &n);
  if (st != LT_OK) {
    lt_tensor_release(*out);
    *out = NULL;
    return st;
  }
  if (n && n_ints) memcpy(n->ints, ints, sizeof(int64_t) * (size_t)n_ints);
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
