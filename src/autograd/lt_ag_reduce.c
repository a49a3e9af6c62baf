/* lt_ag_reduce.c — differentiable reductions (sum, mean, prod, max/min, var,
 * std, norm). Reduction gradients are expanded back over the reduced dims as
 * stride-0 views; nothing is materialised until an op needs it. Matrix
 * products: lt_ag_linalg.c. */
#include <math.h>
#include <string.h>

#include "lt_ag_internal.h"
#include "lt_autocast.h"

/* --- reductions ------------------------------------------------------------------ */

/* Node layout: ints[0] op, ints[1] bit mask of reduced dims, ints[2] keepdim,
 * ints[3] the dim of a max/min with indices, ints[4] whether indices are
 * used; scalars[0] the op's parameter (correction, p). */

static int reduced_dims(const lt_node *n, int *dims) {
  int nd = 0;
  for (int i = 0; i < n->inputs[0].ndim; i++)
    if (n->ints[1] & (1 << i)) dims[nd++] = i;
  return nd;
}

static double reduced_count(const lt_node *n) {
  double c = 1;
  for (int i = 0; i < n->inputs[0].ndim; i++)
    if (n->ints[1] & (1 << i)) c *= (double)n->inputs[0].shape[i];
  return c;
}

/* A tensor of the reduction's output shape, expanded back to the input's. */
static lt_tensor *unreduce(lt_ex *e, const lt_node *n, lt_tensor *t) {
  const lt_input_meta *m = &n->inputs[0];
  lt_tensor *k = t;
  if (!n->ints[2]) {
    int64_t ks[LT_MAX_DIMS];
    for (int i = 0; i < m->ndim; i++) ks[i] = (n->ints[1] & (1 << i)) ? 1 : m->shape[i];
    k = ex_reshape(e, t, m->ndim, ks);
  }
  return ex_expand(e, k, m->ndim, m->shape);
}

static lt_tensor *ex_arange(lt_ex *e, int64_t n, lt_device dev) {
  lt_tensor *o = NULL;
  if (e->st != LT_OK) return NULL;
  lt_status st = lt_op_arange(0, (double)n, 1, LT_INT64, dev, &o);
  return ex_keep(e, st, o);
}

/* var's gradient for the upstream gradient g (of var's output shape):
 * g * 2 (x - mean) / (N - correction), as PyTorch (a correction above N
 * gives a negative factor, not the forward's clamp). */
static lt_tensor *var_grad(lt_ex *e, const lt_node *n, lt_tensor *x, lt_tensor *g) {
  int dims[LT_MAX_DIMS], nd = reduced_dims(n, dims);
  lt_tensor *mean = ex_reduce(e, LT_RED_MEAN, x, nd, dims, true, 0);
  lt_tensor *d = ex_bins(e, LT_BIN_MUL, ex_bin(e, LT_BIN_SUB, x, mean), 2.0 / (reduced_count(n) - n->scalars[0]));
  return ex_bin(e, LT_BIN_MUL, unreduce(e, n, g), d);
}

/* norm's gradient, PyTorch's norm_backward case by case: p = 0 has none;
 * p = 1 sign(x); p = ±inf shares among the elements at the extreme (and
 * NaNs); p < 1 (negative p too) sign(x)|x|^(p-1) y^(1-p), 0 where x = 0;
 * otherwise sign(x)|x|^(p-1) / y^(p-1), 0 where the norm y is 0. */
static lt_tensor *norm_grad(lt_ex *e, const lt_node *n, lt_tensor *x, lt_tensor *y, lt_tensor *g) {
  const lt_input_meta *m = &n->inputs[0];
  int dims[LT_MAX_DIMS], nd = reduced_dims(n, dims);
  double p = n->scalars[0];
  lt_tensor *gu = unreduce(e, n, g), *yu = unreduce(e, n, y);
  if (p == 0) return ex_full(e, m->ndim, m->shape, 0, g);
  if (p == 1) return ex_bin(e, LT_BIN_MUL, gu, ex_un(e, LT_UN_SIGN, x));
  if (isinf(p)) {
    lt_tensor *mask = ex_bin(e, LT_BIN_OR, ex_bin(e, LT_BIN_EQ, ex_un(e, LT_UN_ABS, x), yu), ex_un(e, LT_UN_ISNAN, x));
    lt_tensor *cnt = ex_reduce(e, LT_RED_SUM, mask, nd, dims, true, 0);
    lt_tensor *share = ex_bin(e, LT_BIN_DIV, ex_bin(e, LT_BIN_MUL, gu, ex_un(e, LT_UN_SIGN, x)), cnt);
    return ex_keep_where(e, mask, share);
  }
  lt_tensor *scaled = p == 2 ? x : ex_bin(e, LT_BIN_MUL, ex_un(e, LT_UN_SIGN, x),
                                          ex_unp(e, LT_UN_POW_SCALAR, ex_un(e, LT_UN_ABS, x), p - 1, 0));
  if (p < 1) {
    scaled = ex_zero_where(e, ex_bins(e, LT_BIN_EQ, x, 0), scaled);
    return ex_bin(e, LT_BIN_MUL, ex_bin(e, LT_BIN_MUL, gu, scaled), ex_unp(e, LT_UN_POW_SCALAR, yu, 1 - p, 0));
  }
  lt_tensor *den = p == 2 ? yu : ex_unp(e, LT_UN_POW_SCALAR, yu, p - 1, 0);
  return ex_zero_where(e, ex_bins(e, LT_BIN_EQ, yu, 0), ex_bin(e, LT_BIN_MUL, gu, ex_bin(e, LT_BIN_DIV, scaled, den)));
}

static lt_status reduce_backward(lt_node *n, lt_tensor *const *go, lt_tensor **gi) {
  lt_reduce_op op = (lt_reduce_op)n->ints[0];
  const lt_input_meta *m = &n->inputs[0];
  int dims[LT_MAX_DIMS], nd = reduced_dims(n, dims);
  double count = reduced_count(n);
  lt_tensor *g = go[0], *x = NULL, *y = NULL, *r = NULL;
  lt_ex e = {0};
  switch (op) {
    case LT_RED_SUM: r = unreduce(&e, n, g); break;
    case LT_RED_MEAN: r = unreduce(&e, n, ex_bins(&e, LT_BIN_MUL, g, 1.0 / count)); break;
    case LT_RED_PROD: {
      /* d prod / d x_i = product of the others, computed without dividing by
       * zero: no zero in the slice -> prod/x_i; one zero -> the product of
       * the rest at the zero, 0 elsewhere; more -> 0. */
      LT_TRY(lt_ag_saved(n, 0, &x));
      lt_tensor *z = ex_bins(&e, LT_BIN_EQ, x, 0);
      lt_tensor *nz = ex_reduce(&e, LT_RED_SUM, z, nd, dims, true, 0);
      lt_tensor *xnz = ex_where(&e, z, ex_scalar(&e, 1, x), x);
      lt_tensor *pnz = ex_reduce(&e, LT_RED_PROD, xnz, nd, dims, true, 0);
      lt_tensor *none = ex_bin(&e, LT_BIN_DIV, pnz, xnz);
      lt_tensor *one = ex_keep_where(&e, ex_bin(&e, LT_BIN_AND, z, ex_bins(&e, LT_BIN_EQ, nz, 1)), pnz);
      lt_tensor *d = ex_where(&e, ex_bins(&e, LT_BIN_EQ, nz, 0), none, one);
      r = ex_bin(&e, LT_BIN_MUL, unreduce(&e, n, g), d);
      break;
    }
    case LT_RED_MAX: case LT_RED_MIN:
      if (n->ints[4]) {
        /* to the element the index selected */
        lt_tensor *idx;
        LT_TRY(lt_ag_saved(n, 0, &idx));
        int d = (int)n->ints[3];
        lt_tensor *ik = n->ints[2] ? idx : ex_unsqueeze(&e, idx, d);
        int64_t as[LT_MAX_DIMS];
        for (int i = 0; i < m->ndim; i++) as[i] = i == d ? m->shape[i] : 1;
        lt_tensor *ar = ex_reshape(&e, ex_arange(&e, m->shape[d], lt_tensor_device(g)), m->ndim, as);
        r = ex_keep_where(&e, ex_bin(&e, LT_BIN_EQ, ar, ik), unreduce(&e, n, g));
      } else {
        /* shared evenly among the elements equal to the result, NaN equal
         * to NaN (a NaN result goes to the NaNs), as PyTorch */
        LT_TRY(lt_ag_saved(n, 0, &x));
        LT_TRY(lt_ag_saved(n, 1, &y));
        lt_tensor *yu = unreduce(&e, n, y);
        lt_tensor *both_nan = ex_bin(&e, LT_BIN_AND, ex_un(&e, LT_UN_ISNAN, x), ex_un(&e, LT_UN_ISNAN, yu));
        lt_tensor *mask = ex_bin(&e, LT_BIN_OR, ex_bin(&e, LT_BIN_EQ, x, yu), both_nan);
        lt_tensor *cnt = ex_reduce(&e, LT_RED_SUM, mask, nd, dims, true, 0);
        lt_tensor *share = ex_bin(&e, LT_BIN_DIV, unreduce(&e, n, g), cnt);
        r = ex_keep_where(&e, mask, share);
      }
      break;
    case LT_RED_VAR:
      LT_TRY(lt_ag_saved(n, 0, &x));
      r = var_grad(&e, n, x, g);
      break;
    case LT_RED_NORM:
      LT_TRY(lt_ag_saved(n, 0, &x));
      LT_TRY(lt_ag_saved(n, 1, &y));
      r = norm_grad(&e, n, x, y, g);
      break;
    default:
      e.st = lt_error_set(LT_ERR_RUNTIME, 0, "%s: unexpected op %d", n->name, (int)op);
  }
  ex_out(&e, r, &gi[0]);
  return ex_end(&e);
}

/* std = sqrt(var): PyTorch's std_backward, var's gradient of g / (2 std),
 * with 0 where std is 0 (a constant slice: the subgradient 0, not the NaN
 * of sqrt's gradient times var's). saved: x, the output. */
static lt_status std_backward(lt_node *n, lt_tensor *const *go, lt_tensor **gi) {
  lt_tensor *x, *y;
  LT_TRY(lt_ag_saved(n, 0, &x));
  LT_TRY(lt_ag_saved(n, 1, &y));
  lt_ex e = {0};
  lt_tensor *gv = ex_zero_where(&e, ex_bins(&e, LT_BIN_EQ, y, 0), ex_bin(&e, LT_BIN_DIV, go[0], ex_bins(&e, LT_BIN_MUL, y, 2)));
  ex_out(&e, var_grad(&e, n, x, gv), &gi[0]);
  return ex_end(&e);
}

/* logsumexp: g exp(x - y), as PyTorch (so a slice of -inf only gets NaN).
 * saved: x, the output. */
static lt_status logsumexp_backward(lt_node *n, lt_tensor *const *go, lt_tensor **gi) {
  lt_tensor *x, *y;
  LT_TRY(lt_ag_saved(n, 0, &x));
  LT_TRY(lt_ag_saved(n, 1, &y));
  lt_ex e = {0};
  lt_tensor *w = ex_un(&e, LT_UN_EXP, ex_bin(&e, LT_BIN_SUB, x, unreduce(&e, n, y)));
  ex_out(&e, ex_bin(&e, LT_BIN_MUL, unreduce(&e, n, go[0]), w), &gi[0]);
  return ex_end(&e);
}

static const char *reduce_name(lt_reduce_op op) {
  switch (op) {
    case LT_RED_SUM: return "SumBackward";
    case LT_RED_MEAN: return "MeanBackward";
    case LT_RED_PROD: return "ProdBackward";
    case LT_RED_MAX: return "MaxBackward";
    case LT_RED_MIN: return "MinBackward";
    case LT_RED_VAR: return "VarBackward";
    case LT_RED_NORM: return "NormBackward";
    default: return NULL;
  }
}

/* A reduction node over x with the layout above; *node is borrowed (out
 * owns it). */
static lt_status reduce_node(const char *name, lt_backward_fn fn, lt_reduce_op op, lt_tensor *x, int ndims,
                             const int *dims, bool keepdim, double param, lt_tensor *out, lt_node **node) {
  int mask = 0;
  if (ndims == 0) mask = (1 << x->ndim) - 1;
  for (int i = 0; i < ndims && x->ndim > 0; i++) mask |= 1 << (dims[i] < 0 ? dims[i] + x->ndim : dims[i]);
  lt_node *n;
  LT_TRY(lt_ag_node_new(name, fn, 1, &x, 1, &n));
  n->ints[0] = op;
  n->ints[1] = mask;
  n->ints[2] = keepdim;
  n->scalars[0] = param;
  lt_ag_set_output(n, out, 0);
  lt_node_release(n);
  *node = n;
  return LT_OK;
}

lt_status lt_ag_reduce(lt_reduce_op op, lt_tensor *x, int ndims, const int *dims, bool keepdim, double param,
                       lt_tensor **values, lt_tensor **indices) {
  const char *name = reduce_name(op);
  if (!values || !name || !lt_ag_needs_grad(1, &x))
    return lt_op_reduce(op, x, ndims, dims, keepdim, param, values, indices);
  bool by_index = (op == LT_RED_MAX || op == LT_RED_MIN) && ndims == 1 && x->ndim > 0;
  lt_tensor *idx = NULL;
  LT_TRY(lt_op_reduce(op, x, ndims, dims, keepdim, param, values, by_index || indices ? &idx : NULL));
  lt_tensor *out = *values;
  lt_status st = LT_OK;
  if (lt_dtype_is_floating(out->dtype)) {
    lt_node *n;
    st = reduce_node(name, reduce_backward, op, x, ndims, dims, keepdim, param, out, &n);
    if (st == LT_OK) {
      n->ints[3] = by_index ? (dims[0] < 0 ? dims[0] + x->ndim : dims[0]) : 0;
      n->ints[4] = by_index;
      if (by_index) st = lt_ag_save(n, idx);
      else if (op == LT_RED_PROD || op == LT_RED_VAR || op == LT_RED_MAX || op == LT_RED_MIN || op == LT_RED_NORM)
        st = lt_ag_save(n, x);
      if (st == LT_OK && !by_index && (op == LT_RED_MAX || op == LT_RED_MIN || op == LT_RED_NORM))
        st = lt_ag_save_output(n, out);
    }
  }
  if (st != LT_OK) {
    lt_tensor_release(out);
    lt_tensor_release(idx);
    *values = NULL;
    return st;
  }
  if (indices) *indices = idx;
  else lt_tensor_release(idx);
  return LT_OK;
}

/* Records the node of a reduction whose backward reads x and the output
 * (std, logsumexp); on failure releases *out. */
static lt_status record_x_out(const char *name, lt_backward_fn fn, lt_reduce_op op, lt_tensor *x, int ndims,
                              const int *dims, bool keepdim, double param, lt_tensor **out) {
  if (!lt_ag_needs_grad(1, &x) || !lt_dtype_is_floating((*out)->dtype)) return LT_OK;
  lt_node *n;
  lt_status st = reduce_node(name, fn, op, x, ndims, dims, keepdim, param, *out, &n);
  if (st == LT_OK) st = lt_ag_save(n, x);
  if (st == LT_OK) st = lt_ag_save_output(n, *out);
  if (st != LT_OK) {
    lt_tensor_release(*out);
    *out = NULL;
  }
  return st;
}

lt_status lt_ag_std(lt_tensor *x, int ndims, const int *dims, bool keepdim, double correction, lt_tensor **out) {
  lt_tensor *v;
  LT_TRY(lt_op_reduce(LT_RED_VAR, x, ndims, dims, keepdim, correction, &v, NULL));
  lt_status st = lt_op_unary(LT_UN_SQRT, v, NULL, out);
  lt_tensor_release(v);
  LT_TRY(st);
  return record_x_out("StdBackward", std_backward, LT_RED_VAR, x, ndims, dims, keepdim, correction, out);
}

lt_status lt_ag_logsumexp(lt_tensor *x, int ndims, const int *dims, bool keepdim, lt_tensor **out) {
  LT_TRY(lt_op_logsumexp(x, ndims, dims, keepdim, out));
  return record_x_out("LogsumexpBackward", logsumexp_backward, LT_RED_SUM, x, ndims, dims, keepdim, 0, out);
}
