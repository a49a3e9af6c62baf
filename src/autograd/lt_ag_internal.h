/* lt_ag_internal.h — what the lt_ag_*.c files share and nothing else needs:
 * a small expression helper for writing backward formulas, and the in-place
 * bookkeeping. Not part of the public API (use lt_ag_ops.h / lt_autograd.h).
 *
 * The expression helper keeps every intermediate tensor and the first error:
 *
 *   lt_ex e = {0};
 *   lt_tensor *d = ex_bin(&e, LT_BIN_MUL, g, ex_un(&e, LT_UN_COS, x));
 *   ex_out(&e, d, &grad_in[0]);     // retains d when all went well
 *   return ex_end(&e);              // releases the intermediates
 *
 * After a failure every helper returns NULL without doing anything, so a
 * formula is written straight through and checked once at the end. */
#ifndef LT_AG_INTERNAL_H
#define LT_AG_INTERNAL_H

#include "lt_ag_ops.h"

#define LT_EX_MAX 40

typedef struct {
  lt_status st;
  int n;
  lt_tensor *tmp[LT_EX_MAX];
} lt_ex;

static inline lt_tensor *ex_keep(lt_ex *e, lt_status st, lt_tensor *t) {
  if (st != LT_OK) { e->st = st; return NULL; }
  if (e->n == LT_EX_MAX) {
    lt_tensor_release(t);
    e->st = lt_error_set(LT_ERR_RUNTIME, 0, "autograd: backward formula too long (internal error)");
    return NULL;
  }
  e->tmp[e->n++] = t;
  return t;
}

static inline lt_tensor *ex_bin(lt_ex *e, lt_binary_op op, lt_tensor *a, lt_tensor *b) {
  lt_tensor *o = NULL;
  if (e->st != LT_OK) return NULL;
  lt_status st = lt_op_binary(op, a, b, &o);
  return ex_keep(e, st, o);
}

/* a op s */
static inline lt_tensor *ex_bins(lt_ex *e, lt_binary_op op, lt_tensor *a, double s) {
  lt_tensor *o = NULL;
  if (e->st != LT_OK) return NULL;
  lt_status st = lt_op_binary_scalar(op, a, s, LT_FLOAT64, false, &o);
  return ex_keep(e, st, o);
}

/* s op a */
static inline lt_tensor *ex_rbins(lt_ex *e, lt_binary_op op, double s, lt_tensor *a) {
  lt_tensor *o = NULL;
  if (e->st != LT_OK) return NULL;
  lt_status st = lt_op_binary_scalar(op, a, s, LT_FLOAT64, true, &o);
  return ex_keep(e, st, o);
}

static inline lt_tensor *ex_un(lt_ex *e, lt_unary_op op, lt_tensor *a) {
  lt_tensor *o = NULL;
  if (e->st != LT_OK) return NULL;
  lt_status st = lt_op_unary(op, a, NULL, &o);
  return ex_keep(e, st, o);
}

static inline lt_tensor *ex_unp(lt_ex *e, lt_unary_op op, lt_tensor *a, double p0, double p1) {
  lt_tensor *o = NULL;
  double p[2] = {p0, p1};
  if (e->st != LT_OK) return NULL;
  lt_status st = lt_op_unary(op, a, p, &o);
  return ex_keep(e, st, o);
}

static inline lt_tensor *ex_where(lt_ex *e, lt_tensor *c, lt_tensor *a, lt_tensor *b) {
  lt_tensor *o = NULL;
  if (e->st != LT_OK) return NULL;
  lt_status st = lt_op_where(c, a, b, &o);
  return ex_keep(e, st, o);
}

/* A 0-d tensor holding v, with like's dtype and device. */
static inline lt_tensor *ex_scalar(lt_ex *e, double v, const lt_tensor *like) {
  lt_tensor *o = NULL;
  if (e->st != LT_OK) return NULL;
  lt_status st = lt_op_scalar_tensor(v, like->dtype, lt_tensor_device(like), &o);
  return ex_keep(e, st, o);
}

/* where(c, a, 0) and where(c, 0, a) */
static inline lt_tensor *ex_keep_where(lt_ex *e, lt_tensor *c, lt_tensor *a) {
  return ex_where(e, c, a, ex_scalar(e, 0, a));
}
static inline lt_tensor *ex_zero_where(lt_ex *e, lt_tensor *c, lt_tensor *a) {
  return ex_where(e, c, ex_scalar(e, 0, a), a);
}

static inline lt_tensor *ex_full(lt_ex *e, int ndim, const int64_t *shape, double v, const lt_tensor *like) {
  lt_tensor *o = NULL;
  if (e->st != LT_OK) return NULL;
  lt_status st = lt_op_full(ndim, shape, v, like->dtype, lt_tensor_device(like), &o);
  return ex_keep(e, st, o);
}

static inline lt_tensor *ex_reshape(lt_ex *e, lt_tensor *t, int ndim, const int64_t *shape) {
  lt_tensor *o = NULL;
  if (e->st != LT_OK) return NULL;
  lt_status st = lt_op_reshape(t, ndim, shape, &o);
  return ex_keep(e, st, o);
}

static inline lt_tensor *ex_expand(lt_ex *e, lt_tensor *t, int ndim, const int64_t *shape) {
  lt_tensor *o = NULL;
  if (e->st != LT_OK) return NULL;
  lt_status st = lt_tensor_expand(t, ndim, shape, &o);
  return ex_keep(e, st, o);
}

static inline lt_tensor *ex_sum_to(lt_ex *e, lt_tensor *t, int ndim, const int64_t *shape) {
  lt_tensor *o = NULL;
  if (e->st != LT_OK) return NULL;
  lt_status st = lt_ag_sum_to(t, ndim, shape, &o);
  return ex_keep(e, st, o);
}

static inline lt_tensor *ex_reduce(lt_ex *e, lt_reduce_op op, lt_tensor *x, int nd, const int *dims, bool keepdim,
                                   double param) {
  lt_tensor *o = NULL;
  if (e->st != LT_OK) return NULL;
  lt_status st = lt_op_reduce(op, x, nd, dims, keepdim, param, &o, NULL);
  return ex_keep(e, st, o);
}

static inline lt_tensor *ex_clone(lt_ex *e, lt_tensor *t) {
  lt_tensor *o = NULL;
  if (e->st != LT_OK) return NULL;
  lt_status st = lt_op_clone(t, &o);
  return ex_keep(e, st, o);
}

static inline lt_tensor *ex_transpose(lt_ex *e, lt_tensor *t, int d0, int d1) {
  lt_tensor *o = NULL;
  if (e->st != LT_OK) return NULL;
  lt_status st = lt_tensor_transpose(t, d0, d1, &o);
  return ex_keep(e, st, o);
}

static inline lt_tensor *ex_unsqueeze(lt_ex *e, lt_tensor *t, int d) {
  lt_tensor *o = NULL;
  if (e->st != LT_OK) return NULL;
  lt_status st = lt_tensor_unsqueeze(t, d, &o);
  return ex_keep(e, st, o);
}

static inline lt_tensor *ex_narrow(lt_ex *e, lt_tensor *t, int d, int64_t start, int64_t len) {
  lt_tensor *o = NULL;
  if (e->st != LT_OK) return NULL;
  lt_status st = lt_tensor_narrow(t, d, start, len, &o);
  return ex_keep(e, st, o);
}

static inline lt_tensor *ex_select(lt_ex *e, lt_tensor *t, int d, int64_t i) {
  lt_tensor *o = NULL;
  if (e->st != LT_OK) return NULL;
  lt_status st = lt_tensor_select(t, d, i, &o);
  return ex_keep(e, st, o);
}

static inline lt_tensor *ex_matmul(lt_ex *e, lt_tensor *a, lt_tensor *b) {
  lt_tensor *o = NULL;
  if (e->st != LT_OK) return NULL;
  lt_status st = lt_op_matmul(a, b, &o);
  return ex_keep(e, st, o);
}

static inline lt_tensor *ex_to(lt_ex *e, lt_tensor *t, lt_dtype dt) {
  lt_tensor *o = NULL;
  if (e->st != LT_OK) return NULL;
  lt_status st = lt_op_to(t, dt, lt_tensor_device(t), &o);
  return ex_keep(e, st, o);
}

/* Runs an in-place op on an intermediate (fill_, copy_). */
static inline void ex_do(lt_ex *e, lt_status st) {
  if (e->st == LT_OK) e->st = st;
}

static inline void ex_out(lt_ex *e, lt_tensor *t, lt_tensor **out) {
  if (e->st != LT_OK || !t) return;
  lt_tensor_retain(t);
  *out = t;
}

static inline lt_status ex_end(lt_ex *e) {
  for (int i = 0; i < e->n; i++) lt_tensor_release(e->tmp[i]);
  e->n = 0;
  return e->st;
}

/* The identity backward: the gradient passes unchanged (the engine converts
 * dtype and device to the input's). */
lt_status lt_ag_identity_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi);

/* Moves the history of the out-of-place result r onto t after writing r's
 * values into t (how in-place ops on non-leaves are recorded). Saved tensors
 * of r's node that share t's storage are cloned first, since the write would
 * destroy the values backward needs. Ends with lt_ag_inplace_done. */
lt_status lt_ag_rebase(lt_tensor *t, lt_tensor *r);

/* The last step of every in-place op that recorded history on t (t's
 * grad_fn is the op's node): when t is a view made by a differentiable view
 * op, moves the history onto its base (a CopySlices node running t's node)
 * and makes t's grad_fn a view of the base's (lt_ag_views.c). */
lt_status lt_ag_inplace_done(lt_tensor *t);
/* The most inputs an in-place op's node may have for CopySlices to run it. */
#define LT_AG_COPY_SLICES_MAX_INPUTS 8

/* Records a one-input node for an op whose output `out` was computed from x
 * (when lt_ag_needs_grad says so). Returns the node (borrowed: out owns it)
 * through *node, or NULL when nothing was recorded. */
lt_status lt_ag_record1(const char *name, lt_backward_fn fn, lt_tensor *x, lt_tensor *out, lt_node **node);

/* --- nodes of one output (the nn and linalg files) -----------------------------------------------
 * The recording of an op with one output `*out`, computed before the node
 * exists: lt_ag_node1 makes the node (on failure it releases *out),
 * lt_ag_finish1 ends it with status st (LT_OK: *out becomes its output;
 * else *out is released) and drops the caller's node reference. */
#define LT_AG_NEED(n, i) lt_node_needs_input_grad((n), (i))

static inline lt_status lt_ag_node1(const char *name, lt_backward_fn fn, int n_in, lt_tensor *const *inputs,
                                    lt_tensor **out, lt_node **n) {
  lt_status st = lt_ag_node_new(name, fn, n_in, inputs, 1, n);
  if (st != LT_OK) {
    lt_tensor_release(*out);
    *out = NULL;
  }
  return st;
}

static inline lt_status lt_ag_finish1(lt_node *n, lt_status st, lt_tensor **out) {
  if (st == LT_OK) lt_ag_set_output(n, *out, 0);
  lt_node_release(n);
  if (st != LT_OK) {
    lt_tensor_release(*out);
    *out = NULL;
  }
  return st;
}

#endif
