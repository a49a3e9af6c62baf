/* lt_ag_index.c — differentiable indexing and joining: cat, stack,
 * index_select, gather, sort, topk, cumsum, and the in-place scatters
 * (scatter_, scatter_add_, index_add_) (see lt_ag_ops.h). Gradients of
 * the selecting ops are scattered back with the index ops themselves
 * (index_add_, scatter_add_), so they run on any backend that has those. */
#include <string.h>

#include "lt_ag_internal.h"

/* A dim as the nodes keep it: -1 counts from the end (a 0-d tensor has one
 * position). */
static int wrapped_dim(int dim, int ndim) { return dim < 0 ? dim + (ndim ? ndim : 1) : dim; }

/* A node of an indexing op whose first input is the indexed tensor in[0]:
 * saved[0] the index; ints[0] the dim, ints[1] the index base, ints[2] the
 * kind of op (fn's comment lists them). */
static lt_status record_indexed(const char *name, lt_backward_fn fn, int n_in, lt_tensor *const *in, lt_tensor *idx,
                                int dim, int64_t base, int kind, lt_tensor *out) {
  lt_node *n;
  LT_TRY(lt_ag_node_new(name, fn, n_in, in, 1, &n));
  n->ints[0] = wrapped_dim(dim, in[0]->ndim);
  n->ints[1] = base;
  n->ints[2] = kind;
  lt_status st = lt_ag_save(n, idx);
  if (st == LT_OK) lt_ag_set_output(n, out, 0);
  lt_node_release(n);
  return st;
}

/* --- cat, stack ------------------------------------------------------------------------- */

/* ints[0]: the (wrapped) dim of the output */
static lt_status cat_backward(lt_node *n, lt_tensor *const *go, lt_tensor **gi) {
  int d = (int)n->ints[0];
  int64_t at = 0;
  lt_ex e = {0};
  for (int i = 0; i < n->n_inputs; i++) {
    const lt_input_meta *m = &n->inputs[i];
    bool legacy = m->ndim == 1 && m->shape[0] == 0 && go[0]->ndim != 1; /* skipped by cat */
    if (legacy) {
      if (lt_node_needs_input_grad(n, i)) ex_out(&e, ex_full(&e, m->ndim, m->shape, 0, go[0]), &gi[i]);
      continue;
    }
    if (lt_node_needs_input_grad(n, i)) ex_out(&e, ex_narrow(&e, go[0], d, at, m->shape[d]), &gi[i]);
    at += m->shape[d];
  }
  return ex_end(&e);
}

static lt_status stack_backward(lt_node *n, lt_tensor *const *go, lt_tensor **gi) {
  int d = (int)n->ints[0];
  lt_ex e = {0};
  for (int i = 0; i < n->n_inputs; i++)
    if (lt_node_needs_input_grad(n, i)) ex_out(&e, ex_select(&e, go[0], d, i), &gi[i]);
  return ex_end(&e);
}

static lt_status record_join(const char *name, lt_backward_fn fn, int n_in, lt_tensor *const *ts, int dim,
                              lt_tensor **out) {
  if (!lt_ag_needs_grad(n_in, ts) || !lt_dtype_is_floating((*out)->dtype)) return LT_OK;
  lt_node *n;
  lt_status st = lt_ag_node_new(name, fn, n_in, ts, 1, &n);
  if (st == LT_OK) {
    n->ints[0] = dim < 0 ? dim + (*out)->ndim : dim;
    lt_ag_set_output(n, *out, 0);
    lt_node_release(n);
  } else {
    lt_tensor_release(*out);
    *out = NULL;
  }
  return st;
}

lt_status lt_ag_cat(int n, lt_tensor *const *ts, int dim, lt_tensor **out) {
  LT_TRY(lt_op_cat(n, ts, dim, out));
  return record_join("CatBackward", cat_backward, n, ts, dim, out);
}

lt_status lt_ag_stack(int n, lt_tensor *const *ts, int dim, lt_tensor **out) {
  LT_TRY(lt_op_stack(n, ts, dim, out));
  return record_join("StackBackward", stack_backward, n, ts, dim, out);
}

/* --- selecting ops ------------------------------------------------------------------------ */

/* saved[0]: the index tensor; ints[0] dim, ints[1] base, ints[2] the kind:
 * 0 index_select (index_add_ back), 1 gather / sort / topk (scatter_add_) */
static lt_status select_backward(lt_node *n, lt_tensor *const *go, lt_tensor **gi) {
  lt_tensor *idx;
  LT_TRY(lt_ag_saved(n, 0, &idx));
  const lt_input_meta *m = &n->inputs[0];
  lt_ex e = {0};
  lt_tensor *z = ex_full(&e, m->ndim, m->shape, 0, go[0]);
  if (z) {
    int d = (int)n->ints[0];
    int64_t base = n->ints[1];
    ex_do(&e, n->ints[2] == 0 ? lt_op_index_add_base_(z, d, idx, base, go[0])
                              : lt_op_scatter_base_(z, d, idx, base, go[0], true));
  }
  ex_out(&e, z, &gi[0]);
  return ex_end(&e);
}

static lt_status record_select(const char *name, lt_tensor *x, lt_tensor *idx, int dim, int64_t base, int kind,
                               lt_tensor *out) {
  return record_indexed(name, select_backward, 1, &x, idx, dim, base, kind, out);
}

/* index_select and gather: the op (lt_op_*_base), then the node when x
 * needs a gradient. */
static lt_status select_op(lt_status (*op)(lt_tensor *, int, lt_tensor *, int64_t, lt_tensor **), const char *name,
                           int kind, lt_tensor *x, int dim, lt_tensor *index, int64_t base, lt_tensor **out) {
  LT_TRY(op(x, dim, index, base, out));
  if (!lt_ag_needs_grad(1, &x) || !lt_dtype_is_floating((*out)->dtype)) return LT_OK;
  lt_status st = record_select(name, x, index, dim, base, kind, *out);
  if (st != LT_OK) { lt_tensor_release(*out); *out = NULL; }
  return st;
}

lt_status lt_ag_index_select(lt_tensor *x, int dim, lt_tensor *index, int64_t base, lt_tensor **out) {
  return select_op(lt_op_index_select_base, "IndexSelectBackward", 0, x, dim, index, base, out);
}

lt_status lt_ag_gather(lt_tensor *x, int dim, lt_tensor *index, int64_t base, lt_tensor **out) {
  return select_op(lt_op_gather_base, "GatherBackward", 1, x, dim, index, base, out);
}

/* sort and topk: the values' gradient goes back through the indices */
static lt_status sorted_values(const char *name, lt_tensor *x, int dim, int64_t base, lt_tensor **values,
                               lt_tensor **indices, lt_tensor *v, lt_tensor *i) {
  lt_status st = LT_OK;
  if (lt_dtype_is_floating(v->dtype)) st = record_select(name, x, i, dim, base, 1, v);
  if (st != LT_OK) {
    lt_tensor_release(v);
    lt_tensor_release(i);
    return st;
  }
  *values = v;
  if (indices) *indices = i;
  else lt_tensor_release(i);
  return LT_OK;
}

lt_status lt_ag_sort(lt_tensor *x, int dim, bool descending, int64_t base, lt_tensor **values, lt_tensor **indices) {
  if (!values || !lt_ag_needs_grad(1, &x)) return lt_op_sort_base(x, dim, descending, base, values, indices);
  lt_tensor *v = NULL, *i = NULL;
  LT_TRY(lt_op_sort_base(x, dim, descending, base, &v, &i));
  return sorted_values("SortBackward", x, dim, base, values, indices, v, i);
}

lt_status lt_ag_topk(lt_tensor *x, int64_t k, int dim, bool largest, bool sorted, int64_t base, lt_tensor **values,
                     lt_tensor **indices) {
  if (!values || !lt_ag_needs_grad(1, &x)) return lt_op_topk_base(x, k, dim, largest, sorted, base, values, indices);
  lt_tensor *v = NULL, *i = NULL;
  LT_TRY(lt_op_topk_base(x, k, dim, largest, sorted, base, &v, &i));
  return sorted_values("TopkBackward", x, dim, base, values, indices, v, i);
}

/* --- cumsum ------------------------------------------------------------------------------- */

static lt_status cumsum_backward(lt_node *n, lt_tensor *const *go, lt_tensor **gi) {
  return lt_op_cumsum_reverse(go[0], (int)n->ints[0], &gi[0]);
}

lt_status lt_ag_cumsum(lt_tensor *x, int dim, lt_tensor **out) {
  LT_TRY(lt_op_cumsum(x, dim, out));
  lt_node *n;
  lt_status st = lt_ag_record1("CumsumBackward", cumsum_backward, x, *out, &n);
  if (st != LT_OK) { lt_tensor_release(*out); *out = NULL; return st; }
  if (n) n->ints[0] = wrapped_dim(dim, x->ndim);
  return LT_OK;
}

/* --- scatters (in place) --------------------------------------------------------------------- */

enum { SC_SET, SC_ADD, SC_INDEX_ADD, SC_VALUE };

/* saved[0] index; ints[0] dim, ints[1] base, ints[2] kind; inputs x, src */
static lt_status scatter_backward(lt_node *n, lt_tensor *const *go, lt_tensor **gi) {
  lt_tensor *idx;
  LT_TRY(lt_ag_saved(n, 0, &idx));
  int d = (int)n->ints[0], kind = (int)n->ints[2];
  int64_t base = n->ints[1];
  lt_tensor *g = go[0];
  lt_ex e = {0};
  if (lt_node_needs_input_grad(n, 0)) {
    if (kind == SC_ADD || kind == SC_INDEX_ADD) {
      ex_out(&e, g, &gi[0]);
    } else { /* overwritten positions get nothing */
      lt_tensor *c = ex_clone(&e, g);
      if (c) ex_do(&e, lt_op_scatter_value_base_(c, d, idx, base, 0));
      ex_out(&e, c, &gi[0]);
    }
  }
  if (lt_node_needs_input_grad(n, 1)) {
    lt_tensor *gs = NULL;
    if (e.st == LT_OK) {
      e.st = kind == SC_INDEX_ADD ? lt_op_index_select_base(g, d, idx, base, &gs) : lt_op_gather_base(g, d, idx, base, &gs);
      ex_keep(&e, e.st, gs);
    }
    const lt_input_meta *m = &n->inputs[1];
    bool same = gs && gs->ndim == m->ndim;
    for (int k = 0; same && k < m->ndim; k++) same = gs->shape[k] == m->shape[k];
    if (gs && !same) {
      /* src may be larger than index: only its leading corner was used */
      lt_tensor *z = ex_full(&e, m->ndim, m->shape, 0, g), *v = z;
      for (int k = 0; v && k < gs->ndim; k++) v = ex_narrow(&e, v, k, 0, gs->shape[k]);
      if (v) ex_do(&e, lt_op_copy_(v, gs));
      gs = z;
    }
    ex_out(&e, gs, &gi[1]);
  }
  return ex_end(&e);
}

static lt_status scatter_record(int kind, const char *name, lt_tensor *x, int dim, lt_tensor *index, int64_t base,
                                lt_tensor *src) {
  if (!lt_dtype_is_floating(x->dtype)) {
    lt_ag_detach_(x);
    return LT_OK;
  }
  lt_tensor *in[2] = {x, src};
  LT_TRY(record_indexed(name, scatter_backward, 2, in, index, dim, base, kind, x));
  return lt_ag_inplace_done(x);
}

lt_status lt_ag_scatter_(lt_tensor *x, int dim, lt_tensor *index, int64_t base, lt_tensor *src, bool add) {
  lt_tensor *in[2] = {x, src};
  if (!lt_ag_needs_grad(2, in)) return lt_op_scatter_base_(x, dim, index, base, src, add);
  const char *name = add ? "scatter_add_" : "scatter_";
  LT_TRY(lt_ag_check_inplace(x, name));
  LT_TRY(lt_op_scatter_base_(x, dim, index, base, src, add));
  return scatter_record(add ? SC_ADD : SC_SET, add ? "ScatterAddBackward" : "ScatterBackward", x, dim, index, base, src);
}

lt_status lt_ag_scatter_value_(lt_tensor *x, int dim, lt_tensor *index, int64_t base, double v) {
  if (!lt_ag_needs_grad(1, &x)) return lt_op_scatter_value_base_(x, dim, index, base, v);
  LT_TRY(lt_ag_check_inplace(x, "scatter_"));
  LT_TRY(lt_op_scatter_value_base_(x, dim, index, base, v));
  return scatter_record(SC_VALUE, "ScatterBackward", x, dim, index, base, NULL);
}

lt_status lt_ag_index_add_(lt_tensor *x, int dim, lt_tensor *index, int64_t base, lt_tensor *src) {
  lt_tensor *in[2] = {x, src};
  if (!lt_ag_needs_grad(2, in)) return lt_op_index_add_base_(x, dim, index, base, src);
  LT_TRY(lt_ag_check_inplace(x, "index_add_"));
  LT_TRY(lt_op_index_add_base_(x, dim, index, base, src));
  return scatter_record(SC_INDEX_ADD, "IndexAddBackward", x, dim, index, base, src);
}
