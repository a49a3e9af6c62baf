/* lt_ops_index.c — op layer for indexing, joining and sorting (see lt_ops.h):
 * cat, stack, index_select, gather, scatter_/scatter_add_/index_add_,
 * one_hot, sort, topk and cumsum.
 *
 * Shapes, dtypes and devices are checked here, before anything is allocated;
 * index values are checked by the kernels (lt_backend_index.h), whose
 * messages this file tags with the argument number. Joining needs no kernel:
 * each input is copied into a narrow/select view of the output. 0-d inputs
 * are handled as 1-element 1-D ones, as PyTorch does. No autograd here. */
#include <stdio.h>
#include <string.h>

#include "lt_ops.h"

static const lt_backend *be_of(const lt_tensor *t) { return lt_backend_get(lt_tensor_device(t).type); }

static void bump_version(lt_tensor *t) { atomic_fetch_add(&t->storage->version, 1); }

static const lt_index_kernels *kernels_of(const lt_tensor *t) {
  const lt_backend *be = be_of(t);
  return be ? be->index : NULL;
}

static lt_status missing(const lt_tensor *t, const char *what) {
  const lt_backend *be = be_of(t);
  return lt_error_set(LT_ERR_RUNTIME, 0, "%s is not implemented on the %s backend", what, be ? be->name : "unknown");
}

/* A kernel's index error names no argument; the op layer knows which. */
static lt_status tag(lt_status st, int arg) {
  if (st == LT_ERR_ARG && lt_error_arg() == 0) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", lt_error_message());
    return lt_error_set(st, arg, "%s", msg);
  }
  return st;
}

static lt_status same_device(const lt_tensor *a, const lt_tensor *b, int arg, const char *what) {
  if (lt_device_equal(lt_tensor_device(a), lt_tensor_device(b))) return LT_OK;
  char da[32], db[32];
  return lt_error_set(LT_ERR_ARG, arg, "%s is on %s, expected %s like the input", what,
                      lt_device_str(lt_tensor_device(b), db, sizeof db), lt_device_str(lt_tensor_device(a), da, sizeof da));
}

static lt_status check_index_dtype(const lt_tensor *index, int arg, bool allow_int32) {
  if (index->dtype == LT_INT64 || (allow_int32 && index->dtype == LT_INT32)) return LT_OK;
  return lt_error_set(LT_ERR_ARG, arg, "expected an int64 index tensor, got %s", lt_dtype_name(index->dtype));
}

/* A [1] view of a 0-d tensor, or t itself; always a new reference. */
static lt_status as_1d(lt_tensor *t, lt_tensor **out) {
  if (t->ndim > 0) {
    lt_tensor_retain(t);
    *out = t;
    return LT_OK;
  }
  int64_t one = 1;
  return lt_tensor_view(t, 1, &one, out);
}

/* A 1-D int64 form of a 0-d or 1-D index that may be int32 (index_select
 * and index_add_ accept both, as PyTorch): the index itself, a [1] view of
 * it, or an int64 copy; always a new reference. */
static lt_status index_1d_int64(lt_tensor *index, lt_tensor **out) {
  if (index->dtype == LT_INT64) return as_1d(index, out);
  lt_tensor *c = NULL;
  LT_TRY(lt_op_to(index, LT_INT64, lt_tensor_device(index), &c));
  lt_status st = as_1d(c, out);
  lt_tensor_release(c);
  return st;
}

/* Replaces *t by a view of it with `ndim` dims of `shape`. */
static lt_status reshape_result(lt_tensor **t, int ndim, const int64_t *shape) {
  if ((*t)->ndim == ndim) return LT_OK;
  lt_tensor *v;
  LT_TRY(lt_tensor_view(*t, ndim, shape, &v));
  lt_tensor_release(*t);
  *t = v;
  return LT_OK;
}

/* --- cat and stack ------------------------------------------------------------------ */

static bool legacy_empty(const lt_tensor *t) { return t->ndim == 1 && t->shape[0] == 0; }

static lt_status check_list(int n, lt_tensor *const *ts, lt_dtype *dt) {
  if (n <= 0) return lt_error_set(LT_ERR_ARG, 1, "expected a non-empty list of tensors");
  *dt = ts[0]->dtype;
  for (int i = 1; i < n; i++) {
    if (!lt_device_equal(lt_tensor_device(ts[i]), lt_tensor_device(ts[0]))) {
      char d0[32], di[32];
      return lt_error_set(LT_ERR_ARG, 1, "tensor %d is on %s but tensor 1 is on %s", i + 1,
                          lt_device_str(lt_tensor_device(ts[i]), di, sizeof di),
                          lt_device_str(lt_tensor_device(ts[0]), d0, sizeof d0));
    }
    *dt = lt_promote_types(*dt, ts[i]->dtype);
  }
  return LT_OK;
}

/* Copies src into dst (a view of the output); dtypes may differ. */
static lt_status copy_into(lt_tensor *dst, lt_tensor *src) { return be_of(dst)->copy(dst, src); }

lt_status lt_op_cat(int n, lt_tensor *const *ts, int dim, lt_tensor **out) {
  lt_dtype dt;
  LT_TRY(check_list(n, ts, &dt));
  int ref = -1;
  for (int i = 0; i < n; i++) {
    if (ts[i]->ndim == 0)
      return lt_error_set(LT_ERR_ARG, 1, "tensor %d is 0-d and cannot be concatenated (use stack, or unsqueeze it)",
                          i + 1);
    if (ref < 0 && !legacy_empty(ts[i])) ref = i;
  }
  if (ref < 0) { /* only [0]-shaped tensors: the result is one too */
    int d;
    LT_TRY(lt_wrap_dim(dim, 1, 2, &d));
    int64_t zero = 0;
    return lt_tensor_empty(1, &zero, dt, lt_tensor_device(ts[0]), out);
  }
  const lt_tensor *r = ts[ref];
  int d;
  LT_TRY(lt_wrap_dim(dim, r->ndim, 2, &d));
  int64_t shape[LT_MAX_DIMS];
  memcpy(shape, r->shape, sizeof shape);
  shape[d] = 0;
  for (int i = 0; i < n; i++) {
    const lt_tensor *t = ts[i];
    if (legacy_empty(t)) continue;
    bool ok = t->ndim == r->ndim;
    for (int k = 0; ok && k < r->ndim; k++) ok = k == d || t->shape[k] == r->shape[k];
    if (!ok) {
      char b1[128], b2[128];
      return lt_error_set(LT_ERR_ARG, 1,
                          "tensor %d has shape %s, incompatible with tensor %d of shape %s (sizes must match except in "
                          "dimension %d)",
                          i + 1, lt_shape_str(t->ndim, t->shape, b1, sizeof b1), ref + 1,
                          lt_shape_str(r->ndim, r->shape, b2, sizeof b2), d + 1);
    }
    shape[d] += t->shape[d];
  }
  lt_tensor *o;
  LT_TRY(lt_tensor_empty(r->ndim, shape, dt, lt_tensor_device(r), &o));
  int64_t at = 0;
  lt_status st = LT_OK;
  for (int i = 0; i < n && st == LT_OK; i++) {
    if (legacy_empty(ts[i]) || ts[i]->shape[d] == 0) continue;
    lt_tensor *v = NULL;
    st = lt_tensor_narrow(o, d, at, ts[i]->shape[d], &v);
    if (st == LT_OK) st = copy_into(v, ts[i]);
    lt_tensor_release(v);
    at += ts[i]->shape[d];
  }
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *out = o;
  return LT_OK;
}

lt_status lt_op_stack(int n, lt_tensor *const *ts, int dim, lt_tensor **out) {
  lt_dtype dt;
  LT_TRY(check_list(n, ts, &dt));
  const lt_tensor *r = ts[0];
  for (int i = 1; i < n; i++) {
    if (!lt_shape_equal(ts[i], r)) {
      char b1[128], b2[128];
      return lt_error_set(LT_ERR_ARG, 1, "tensor %d has shape %s but tensor 1 has shape %s (stack needs equal shapes)",
                          i + 1, lt_shape_str(ts[i]->ndim, ts[i]->shape, b1, sizeof b1),
                          lt_shape_str(r->ndim, r->shape, b2, sizeof b2));
    }
  }
  if (r->ndim + 1 > LT_MAX_DIMS)
    return lt_error_set(LT_ERR_ARG, 1, "stacking %d-d tensors would give more than %d dimensions", r->ndim, LT_MAX_DIMS);
  int d;
  LT_TRY(lt_wrap_dim(dim, r->ndim + 1, 2, &d));
  int64_t shape[LT_MAX_DIMS];
  for (int k = 0, j = 0; k <= r->ndim; k++) shape[k] = k == d ? n : r->shape[j++];
  lt_tensor *o;
  LT_TRY(lt_tensor_empty(r->ndim + 1, shape, dt, lt_tensor_device(r), &o));
  lt_status st = LT_OK;
  for (int i = 0; i < n && st == LT_OK; i++) {
    lt_tensor *v = NULL;
    st = lt_tensor_select(o, d, i, &v);
    if (st == LT_OK) st = copy_into(v, ts[i]);
    lt_tensor_release(v);
  }
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *out = o;
  return LT_OK;
}

/* --- index_select and gather ---------------------------------------------------------- */

lt_status lt_op_index_select_base(lt_tensor *x, int dim, lt_tensor *index, int64_t base, lt_tensor **out) {
  int d;
  LT_TRY(lt_wrap_dim(dim, x->ndim, 2, &d));
  LT_TRY(check_index_dtype(index, 3, true));
  LT_TRY(same_device(x, index, 3, "index"));
  if (index->ndim > 1) {
    char b[128];
    return lt_error_set(LT_ERR_ARG, 3, "expected a 1-D index, got shape %s", lt_shape_str(index->ndim, index->shape, b, sizeof b));
  }
  int64_t m = lt_tensor_numel(index);
  if (x->ndim == 0 && m != 1)
    return lt_error_set(LT_ERR_ARG, 3, "indexing a 0-d tensor needs exactly one index, got %lld", (long long)m);
  const lt_index_kernels *k = kernels_of(x);
  if (!k || !k->index_select) return missing(x, "index_select");
  lt_tensor *x1 = NULL, *i1 = NULL, *o = NULL;
  lt_status st = as_1d(x, &x1);
  if (st == LT_OK) st = index_1d_int64(index, &i1);
  int64_t shape[LT_MAX_DIMS];
  if (st == LT_OK) {
    memcpy(shape, x1->shape, sizeof shape);
    shape[d] = m;
    st = lt_tensor_empty(x1->ndim, shape, x->dtype, lt_tensor_device(x), &o);
  }
  if (st == LT_OK) st = tag(k->index_select(o, x1, d, i1, base), 3);
  if (st == LT_OK) st = reshape_result(&o, x->ndim, x->shape);
  lt_tensor_release(x1);
  lt_tensor_release(i1);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *out = o;
  return LT_OK;
}

/* The shape rules gather and scatter share (PyTorch's): index has x's ndim
 * and fits inside x except along dim, and inside src everywhere. */
static lt_status check_gather_shapes(const lt_tensor *x, int d, const lt_tensor *index, const lt_tensor *src) {
  char b1[128], b2[128];
  if (index->ndim != x->ndim)
    return lt_error_set(LT_ERR_ARG, 3, "index has %d dimension%s (shape %s), expected %d like the input (shape %s)",
                        index->ndim, index->ndim == 1 ? "" : "s", lt_shape_str(index->ndim, index->shape, b1, sizeof b1),
                        x->ndim, lt_shape_str(x->ndim, x->shape, b2, sizeof b2));
  for (int k = 0; k < x->ndim; k++)
    if (k != d && index->shape[k] > x->shape[k])
      return lt_error_set(LT_ERR_ARG, 3, "index of shape %s is larger than the input of shape %s in dimension %d",
                          lt_shape_str(index->ndim, index->shape, b1, sizeof b1),
                          lt_shape_str(x->ndim, x->shape, b2, sizeof b2), k + 1);
  if (!src) return LT_OK;
  if (src->ndim != x->ndim)
    return lt_error_set(LT_ERR_ARG, 4, "src has %d dimension%s (shape %s), expected %d like the input (shape %s)",
                        src->ndim, src->ndim == 1 ? "" : "s", lt_shape_str(src->ndim, src->shape, b1, sizeof b1),
                        x->ndim, lt_shape_str(x->ndim, x->shape, b2, sizeof b2));
  for (int k = 0; k < x->ndim; k++)
    if (index->shape[k] > src->shape[k])
      return lt_error_set(LT_ERR_ARG, 4, "src of shape %s is smaller than the index of shape %s in dimension %d",
                          lt_shape_str(src->ndim, src->shape, b1, sizeof b1),
                          lt_shape_str(index->ndim, index->shape, b2, sizeof b2), k + 1);
  return LT_OK;
}

lt_status lt_op_gather_base(lt_tensor *x, int dim, lt_tensor *index, int64_t base, lt_tensor **out) {
  int d;
  LT_TRY(lt_wrap_dim(dim, x->ndim, 2, &d));
  LT_TRY(check_index_dtype(index, 3, false));
  LT_TRY(same_device(x, index, 3, "index"));
  LT_TRY(check_gather_shapes(x, d, index, NULL));
  const lt_index_kernels *k = kernels_of(x);
  if (!k || !k->gather) return missing(x, "gather");
  lt_tensor *x1 = NULL, *i1 = NULL, *o = NULL;
  lt_status st = as_1d(x, &x1);
  if (st == LT_OK) st = as_1d(index, &i1);
  if (st == LT_OK) st = lt_tensor_empty(i1->ndim, i1->shape, x->dtype, lt_tensor_device(x), &o);
  if (st == LT_OK) st = tag(k->gather(o, x1, d, i1, base), 3);
  if (st == LT_OK) st = reshape_result(&o, index->ndim, index->shape);
  lt_tensor_release(x1);
  lt_tensor_release(i1);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *out = o;
  return LT_OK;
}

/* --- scatter ------------------------------------------------------------------------ */

static lt_status check_writable(lt_tensor *t) {
  if (!lt_tensor_is_non_overlapping(t))
    return lt_error_set(LT_ERR_ARG, 1,
                        "in-place write to a tensor whose elements overlap in memory (an expanded view); clone it first");
  return LT_OK;
}

/* src already checked against x and index (or an expanded scalar). */
static lt_status scatter_run(lt_tensor *x, int d, lt_tensor *index, int64_t base, lt_tensor *src, bool add) {
  const lt_index_kernels *k = kernels_of(x);
  if (!k || !k->scatter) return missing(x, "scatter");
  lt_tensor *x1 = NULL, *i1 = NULL, *s1 = NULL;
  lt_status st = as_1d(x, &x1);
  if (st == LT_OK) st = as_1d(index, &i1);
  if (st == LT_OK) st = as_1d(src, &s1);
  if (st == LT_OK) st = tag(k->scatter(x1, d, i1, base, s1, add), 3);
  if (st == LT_OK) bump_version(x);
  lt_tensor_release(x1);
  lt_tensor_release(i1);
  lt_tensor_release(s1);
  return st;
}

lt_status lt_op_scatter_base_(lt_tensor *x, int dim, lt_tensor *index, int64_t base, lt_tensor *src, bool add) {
  int d;
  LT_TRY(lt_wrap_dim(dim, x->ndim, 2, &d));
  LT_TRY(check_index_dtype(index, 3, false));
  LT_TRY(same_device(x, index, 3, "index"));
  LT_TRY(same_device(x, src, 4, "src"));
  if (src->dtype != x->dtype)
    return lt_error_set(LT_ERR_ARG, 4, "src has dtype %s, expected %s like the input", lt_dtype_name(src->dtype),
                        lt_dtype_name(x->dtype));
  LT_TRY(check_gather_shapes(x, d, index, src));
  LT_TRY(check_writable(x));
  return scatter_run(x, d, index, base, src, add);
}

lt_status lt_op_scatter_value_base_(lt_tensor *x, int dim, lt_tensor *index, int64_t base, double v) {
  int d;
  LT_TRY(lt_wrap_dim(dim, x->ndim, 2, &d));
  LT_TRY(check_index_dtype(index, 3, false));
  LT_TRY(same_device(x, index, 3, "index"));
  LT_TRY(check_gather_shapes(x, d, index, NULL));
  LT_TRY(check_writable(x));
  lt_tensor *s0 = NULL, *se = NULL;
  lt_status st = lt_op_scalar_tensor(v, x->dtype, lt_tensor_device(x), &s0);
  if (st == LT_OK) st = lt_tensor_expand(s0, index->ndim, index->shape, &se);
  if (st == LT_OK) st = scatter_run(x, d, index, base, se, false);
  lt_tensor_release(s0);
  lt_tensor_release(se);
  return st;
}

lt_status lt_op_index_add_base_(lt_tensor *x, int dim, lt_tensor *index, int64_t base, lt_tensor *src) {
  int d;
  LT_TRY(lt_wrap_dim(dim, x->ndim, 2, &d));
  LT_TRY(check_index_dtype(index, 3, true));
  LT_TRY(same_device(x, index, 3, "index"));
  LT_TRY(same_device(x, src, 4, "src"));
  char b1[128], b2[128];
  if (index->ndim > 1)
    return lt_error_set(LT_ERR_ARG, 3, "expected a 1-D index, got shape %s", lt_shape_str(index->ndim, index->shape, b1, sizeof b1));
  if (src->dtype != x->dtype)
    return lt_error_set(LT_ERR_ARG, 4, "src has dtype %s, expected %s like the input", lt_dtype_name(src->dtype),
                        lt_dtype_name(x->dtype));
  /* src: x's shape with the index length at dim (a 0-d x takes a 0-d or [1] src) */
  int64_t m = lt_tensor_numel(index);
  int64_t want[LT_MAX_DIMS];
  memcpy(want, x->shape, sizeof want);
  if (x->ndim > 0) want[d] = m;
  bool ok = x->ndim == 0 ? lt_tensor_numel(src) == m && src->ndim <= 1 && m == 1 : src->ndim == x->ndim;
  for (int k = 0; ok && k < x->ndim; k++) ok = src->shape[k] == want[k];
  if (!ok)
    return lt_error_set(LT_ERR_ARG, 4, "src has shape %s, expected %s (the input's shape with the index length at dimension %d)",
                        lt_shape_str(src->ndim, src->shape, b1, sizeof b1), lt_shape_str(x->ndim, want, b2, sizeof b2),
                        d + 1);
  LT_TRY(check_writable(x));
  /* index_add is scatter_add with the index broadcast over src's other dims */
  lt_tensor *s1 = NULL, *i1 = NULL, *iv = NULL, *ie = NULL;
  lt_status st = as_1d(src, &s1);
  if (st == LT_OK) st = index_1d_int64(index, &i1);
  if (st == LT_OK) {
    int64_t vshape[LT_MAX_DIMS], vstride[LT_MAX_DIMS];
    for (int k = 0; k < s1->ndim; k++) {
      vshape[k] = k == d ? m : 1;
      vstride[k] = k == d ? i1->stride[0] : 0;
    }
    st = lt_tensor_from_storage(i1->storage, i1->offset, s1->ndim, vshape, vstride, LT_INT64, &iv);
  }
  if (st == LT_OK) st = lt_tensor_expand(iv, s1->ndim, s1->shape, &ie);
  if (st == LT_OK) st = scatter_run(x, d, ie, base, s1, true);
  lt_tensor_release(s1);
  lt_tensor_release(i1);
  lt_tensor_release(iv);
  lt_tensor_release(ie);
  return st;
}

/* --- one_hot ------------------------------------------------------------------------- */

/* min or max of an int64 tensor, read on the host */
static lt_status reduce_to_int(lt_reduce_op op, lt_tensor *t, int64_t *out) {
  lt_tensor *r = NULL, *h = NULL;
  LT_TRY(lt_op_reduce(op, t, 0, NULL, false, 0, &r, NULL));
  lt_status st = lt_op_host_contiguous(r, &h);
  if (st == LT_OK) *out = lt_dtype_load_i64(lt_tensor_data(h), h->dtype);
  lt_tensor_release(r);
  lt_tensor_release(h);
  return st;
}

lt_status lt_op_one_hot_base(lt_tensor *labels, int64_t base, int64_t num_classes, lt_tensor **out) {
  if (labels->dtype != LT_INT64)
    return lt_error_set(LT_ERR_ARG, 1, "expected an int64 tensor of class labels, got %s", lt_dtype_name(labels->dtype));
  if (labels->ndim + 1 > LT_MAX_DIMS)
    return lt_error_set(LT_ERR_ARG, 1, "one_hot of a %d-d tensor would have more than %d dimensions", labels->ndim,
                        LT_MAX_DIMS);
  int64_t n = lt_tensor_numel(labels);
  if (num_classes < 0 && n == 0)
    return lt_error_set(LT_ERR_ARG, 2, "cannot infer the number of classes from an empty tensor; pass num_classes");
  if (n > 0) {
    int64_t lo, hi;
    LT_TRY(reduce_to_int(LT_RED_MIN, labels, &lo));
    LT_TRY(reduce_to_int(LT_RED_MAX, labels, &hi));
    /* class positions are label - base (base >= 0, so hi - base cannot
     * overflow once hi >= base); messages show them 1-based */
    bool below = lo < base;
    int64_t hi_pos = hi >= base ? hi - base : -1;
    if (num_classes < 0 && !below) num_classes = hi_pos < INT64_MAX ? hi_pos + 1 : hi_pos; /* too large: fails below */
    if (below || hi_pos >= num_classes) {
      long long bad = (long long)(int64_t)((uint64_t)(below ? lo : hi) - (uint64_t)base + 1);
      if (num_classes < 0) /* inferring, from a label below the first class */
        return lt_error_set(LT_ERR_ARG, 1, "class label %lld is out of range (class labels start at 1)", bad);
      if (num_classes == 0) return lt_error_set(LT_ERR_ARG, 1, "class label %lld is out of range for 0 classes", bad);
      return lt_error_set(LT_ERR_ARG, 1, "class label %lld is out of range for %lld classes (expected 1..%lld)", bad,
                          (long long)num_classes, (long long)num_classes);
    }
  }
  int64_t shape[LT_MAX_DIMS];
  memcpy(shape, labels->shape, sizeof(int64_t) * (size_t)labels->ndim);
  shape[labels->ndim] = num_classes;
  lt_tensor *o = NULL, *col = NULL;
  LT_TRY(lt_tensor_zeros(labels->ndim + 1, shape, LT_INT64, lt_tensor_device(labels), &o));
  lt_status st = lt_tensor_unsqueeze(labels, labels->ndim, &col);
  if (st == LT_OK && n > 0) st = lt_op_scatter_value_base_(o, labels->ndim, col, base, 1);
  lt_tensor_release(col);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *out = o;
  return LT_OK;
}

/* --- sort and topk --------------------------------------------------------------------- */

static lt_status sort_k(lt_tensor *x, int d, int64_t k, bool descending, int64_t base, lt_tensor **values,
                        lt_tensor **indices) {
  const lt_index_kernels *kt = kernels_of(x);
  if (!kt || !kt->sort) return missing(x, "sort");
  int64_t shape[LT_MAX_DIMS];
  memcpy(shape, x->shape, sizeof shape);
  if (x->ndim > 0) shape[d] = k;
  lt_tensor *v = NULL, *i = NULL;
  lt_status st = lt_tensor_empty(x->ndim, shape, x->dtype, lt_tensor_device(x), &v);
  if (st == LT_OK) st = lt_tensor_empty(x->ndim, shape, LT_INT64, lt_tensor_device(x), &i);
  if (st == LT_OK) st = kt->sort(v, i, x, d, descending, base);
  if (st != LT_OK) {
    lt_tensor_release(v);
    lt_tensor_release(i);
    return st;
  }
  if (values) *values = v; else lt_tensor_release(v);
  if (indices) *indices = i; else lt_tensor_release(i);
  return LT_OK;
}

lt_status lt_op_sort_base(lt_tensor *x, int dim, bool descending, int64_t base, lt_tensor **values,
                          lt_tensor **indices) {
  int d;
  LT_TRY(lt_wrap_dim(dim, x->ndim, 2, &d));
  return sort_k(x, d, x->ndim ? x->shape[d] : 1, descending, base, values, indices);
}

lt_status lt_op_topk_base(lt_tensor *x, int64_t k, int dim, bool largest, bool sorted, int64_t base,
                          lt_tensor **values, lt_tensor **indices) {
  (void)sorted; /* always sorted */
  int d;
  LT_TRY(lt_wrap_dim(dim, x->ndim, 3, &d));
  int64_t n = x->ndim ? x->shape[d] : 1;
  if (k < 0 || k > n)
    return lt_error_set(LT_ERR_ARG, 2, "k = %lld is out of range for dimension %d of size %lld (expected 0..%lld)",
                        (long long)k, d + 1, (long long)n, (long long)n);
  return sort_k(x, d, k, largest, base, values, indices);
}

/* --- cumsum ------------------------------------------------------------------------ */

static lt_status cumsum(lt_tensor *x, int dim, bool reverse, lt_tensor **out) {
  int d;
  LT_TRY(lt_wrap_dim(dim, x->ndim, 2, &d));
  const lt_index_kernels *k = kernels_of(x);
  if (!k || !k->cumsum) return missing(x, "cumsum");
  lt_dtype dt = lt_dtype_is_integral(x->dtype) ? LT_INT64 : x->dtype;
  lt_tensor *o;
  LT_TRY(lt_tensor_empty(x->ndim, x->shape, dt, lt_tensor_device(x), &o));
  lt_status st = k->cumsum(o, x, d, reverse);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *out = o;
  return LT_OK;
}

lt_status lt_op_cumsum(lt_tensor *x, int dim, lt_tensor **out) { return cumsum(x, dim, false, out); }
lt_status lt_op_cumsum_reverse(lt_tensor *x, int dim, lt_tensor **out) { return cumsum(x, dim, true, out); }

/* --- the 0-based C API ------------------------------------------------------------------- */

lt_status lt_op_index_select(lt_tensor *x, int dim, lt_tensor *index, lt_tensor **out) {
  return lt_op_index_select_base(x, dim, index, 0, out);
}
lt_status lt_op_gather(lt_tensor *x, int dim, lt_tensor *index, lt_tensor **out) {
  return lt_op_gather_base(x, dim, index, 0, out);
}
lt_status lt_op_scatter_(lt_tensor *x, int dim, lt_tensor *index, lt_tensor *src) {
  return lt_op_scatter_base_(x, dim, index, 0, src, false);
}
lt_status lt_op_scatter_add_(lt_tensor *x, int dim, lt_tensor *index, lt_tensor *src) {
  return lt_op_scatter_base_(x, dim, index, 0, src, true);
}
lt_status lt_op_scatter_value_(lt_tensor *x, int dim, lt_tensor *index, double v) {
  return lt_op_scatter_value_base_(x, dim, index, 0, v);
}
lt_status lt_op_index_add_(lt_tensor *x, int dim, lt_tensor *index, lt_tensor *src) {
  return lt_op_index_add_base_(x, dim, index, 0, src);
}
lt_status lt_op_one_hot(lt_tensor *labels, int64_t num_classes, lt_tensor **out) {
  return lt_op_one_hot_base(labels, 0, num_classes, out);
}
lt_status lt_op_sort(lt_tensor *x, int dim, bool descending, lt_tensor **values, lt_tensor **indices) {
  return lt_op_sort_base(x, dim, descending, 0, values, indices);
}
lt_status lt_op_topk(lt_tensor *x, int64_t k, int dim, bool largest, bool sorted, lt_tensor **values,
                     lt_tensor **indices) {
  return lt_op_topk_base(x, k, dim, largest, sorted, 0, values, indices);
}
