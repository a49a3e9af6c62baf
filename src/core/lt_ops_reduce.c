/* lt_ops_reduce.c — op layer for reductions: checks the dims, moves the
 * reduced dims together (one contiguous copy when they are not already
 * adjacent), calls the backend's [outer, r, inner] kernel and restores the
 * kept dims. logsumexp is composed of those reductions and elementwise ops,
 * so every backend has it. */
#include <math.h>
#include <string.h>

#include "lt_ops.h"

static const char *op_name(lt_reduce_op op) {
  static const char *names[] = {"sum", "prod", "max", "min", "argmax", "argmin", "mean", "var", "norm", "any", "all"};
  return (unsigned)op < LT_RED_COUNT ? names[op] : "reduce";
}

static lt_dtype out_dtype(lt_reduce_op op, lt_dtype in) {
  switch (op) {
    case LT_RED_SUM: case LT_RED_PROD: return lt_dtype_is_integral(in) ? LT_INT64 : in;
    case LT_RED_ARGMAX: case LT_RED_ARGMIN: return LT_INT64;
    case LT_RED_ANY: case LT_RED_ALL: return in == LT_UINT8 ? LT_UINT8 : LT_BOOL; /* uint8 stays, as PyTorch */
    case LT_RED_MEAN: case LT_RED_VAR: case LT_RED_NORM: return in;
    default: return in;
  }
}

lt_status lt_op_reduce(lt_reduce_op op, lt_tensor *x, int ndims, const int *dims_in, bool keepdim, double param,
                       lt_tensor **values, lt_tensor **indices) {
  if ((op == LT_RED_MEAN || op == LT_RED_VAR || op == LT_RED_NORM) && !lt_dtype_is_floating(x->dtype))
    return lt_error_set(LT_ERR_ARG, 1, "%s needs a floating-point tensor, got %s (convert with :float())", op_name(op),
                        lt_dtype_name(x->dtype));
  bool reduced[LT_MAX_DIMS] = {0};
  if (ndims == 0) {
    for (int i = 0; i < x->ndim; i++) reduced[i] = true;
  } else {
    for (int i = 0; i < ndims; i++) {
      int d = dims_in[i];
      if (x->ndim == 0 && (d == 0 || d == -1)) continue; /* a 0-d tensor reduces over its one "dim" */
      if (d < 0 || d >= x->ndim)
        return lt_error_set(LT_ERR_ARG, 2, "dimension %d out of range for a %d-d tensor", d + 1, x->ndim);
      if (reduced[d]) return lt_error_set(LT_ERR_ARG, 2, "dimension %d appears twice", d + 1);
      reduced[d] = true;
    }
  }
  int64_t r = 1;
  int nred = 0;
  for (int i = 0; i < x->ndim; i++) if (reduced[i]) { r *= x->shape[i]; nred++; }
  bool needs_elements = op == LT_RED_MAX || op == LT_RED_MIN || op == LT_RED_ARGMAX || op == LT_RED_ARGMIN;
  if (r == 0 && needs_elements)
    return lt_error_set(LT_ERR_ARG, 1, "%s of an empty tensor (or empty dimension) has no identity", op_name(op));
  /* Output shape */
  int64_t oshape[LT_MAX_DIMS];
  int on = 0;
  for (int i = 0; i < x->ndim; i++) {
    if (!reduced[i]) oshape[on++] = x->shape[i];
    else if (keepdim) oshape[on++] = 1;
  }
  /* Permute: kept dims first, reduced dims last; a contiguous copy unless
   * the reduced dims are already one contiguous block. */
  int perm[LT_MAX_DIMS], np = 0;
  for (int i = 0; i < x->ndim; i++) if (!reduced[i]) perm[np++] = i;
  for (int i = 0; i < x->ndim; i++) if (reduced[i]) perm[np++] = i;
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < x->ndim; i++) if (!reduced[i]) outer *= x->shape[i];
  lt_tensor *xp = NULL, *xc = NULL;
  lt_status st;
  /* Fast geometry: x contiguous and the reduced dims form one block [a, b]:
   * view as [outer_before, r, inner_after] with no copy. */
  int first = -1, last = -1;
  for (int i = 0; i < x->ndim; i++) if (reduced[i]) { if (first < 0) first = i; last = i; }
  bool block = first >= 0 && (last - first + 1) == nred;
  if (lt_tensor_is_contiguous(x) && (block || nred == 0)) {
    lt_tensor_retain(x);
    xc = x;
    if (block) {
      outer = 1;
      for (int i = 0; i < first; i++) outer *= x->shape[i];
      for (int i = last + 1; i < x->ndim; i++) inner *= x->shape[i];
    }
  } else {
    st = lt_tensor_permute(x, perm, &xp);
    if (st == LT_OK) st = lt_op_contiguous(xp, &xc);
    lt_tensor_release(xp);
    if (st != LT_OK) return st;
  }
  lt_dtype odt = out_dtype(op, x->dtype);
  lt_tensor *vo = NULL, *io = NULL;
  bool want_values = values != NULL && op != LT_RED_ARGMAX && op != LT_RED_ARGMIN;
  bool want_idx = indices != NULL || op == LT_RED_ARGMAX || op == LT_RED_ARGMIN;
  st = want_values ? lt_tensor_empty(on, oshape, odt, lt_tensor_device(x), &vo) : LT_OK;
  if (st == LT_OK && want_idx) st = lt_tensor_empty(on, oshape, LT_INT64, lt_tensor_device(x), &io);
  if (st == LT_OK) {
    const lt_backend *be = lt_backend_get(lt_tensor_device(x).type);
    if (r == 0) {
      double ident = op == LT_RED_PROD || op == LT_RED_ALL ? 1 : (op == LT_RED_MEAN || op == LT_RED_VAR ? NAN : 0);
      st = be->fill(vo, ident);
    } else {
      st = be->reduce(op, vo, io, xc, outer, r, inner, param);
    }
  }
  lt_tensor_release(xc);
  if (st != LT_OK) {
    lt_tensor_release(vo);
    lt_tensor_release(io);
    return st;
  }
  if (values) *values = op == LT_RED_ARGMAX || op == LT_RED_ARGMIN ? io : vo;
  else lt_tensor_release(vo);
  if (op == LT_RED_ARGMAX || op == LT_RED_ARGMIN) {
    if (values) lt_tensor_retain(io);
  }
  if (indices) *indices = io;
  else lt_tensor_release(io);
  return LT_OK;
}

lt_status lt_op_logsumexp(lt_tensor *x, int ndims, const int *dims, bool keepdim, lt_tensor **out) {
  lt_device dev = lt_tensor_device(x);
  lt_tensor *xf = NULL, *m = NULL, *am = NULL, *minf = NULL, *d = NULL, *e = NULL, *s = NULL, *ls = NULL;
  lt_tensor *mo = NULL, *r = NULL;
  lt_status st = lt_op_to(x, lt_dtype_is_floating(x->dtype) ? x->dtype : lt_dtype_default_float(), dev, &xf);
  /* the shift m: the slice's max, 0 where that is infinite; none when x is
   * empty (an empty slice has no max, and its sum of exp is 0 anyway) */
  if (st == LT_OK && lt_tensor_numel(xf) > 0) {
    st = lt_op_reduce(LT_RED_MAX, xf, ndims, dims, true, 0, &m, NULL);
    if (st == LT_OK) st = lt_op_unary(LT_UN_ABS, m, NULL, &am);
    if (st == LT_OK) st = lt_op_binary_scalar(LT_BIN_EQ, am, INFINITY, LT_FLOAT64, false, &minf);
    if (st == LT_OK) st = lt_op_masked_fill_(m, minf, 0);
    if (st == LT_OK) st = lt_op_binary(LT_BIN_SUB, xf, m, &d);
  } else if (st == LT_OK) {
    lt_tensor_retain(xf);
    d = xf;
  }
  if (st == LT_OK) st = lt_op_unary(LT_UN_EXP, d, NULL, &e);
  if (st == LT_OK) st = lt_op_reduce(LT_RED_SUM, e, ndims, dims, keepdim, 0, &s, NULL);
  if (st == LT_OK) st = lt_op_unary(LT_UN_LOG, s, NULL, &ls);
  if (st == LT_OK && m) {
    st = lt_op_reshape(m, ls->ndim, ls->shape, &mo);
    if (st == LT_OK) st = lt_op_binary(LT_BIN_ADD, ls, mo, &r);
  } else if (st == LT_OK) {
    lt_tensor_retain(ls);
    r = ls;
  }
  lt_tensor *tmp[] = {xf, m, am, minf, d, e, s, ls, mo};
  for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++) lt_tensor_release(tmp[i]);
  if (st != LT_OK) return st;
  *out = r;
  return LT_OK;
}
