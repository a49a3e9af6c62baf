/* lt_ops_optim.c — op layer of the fused optimizer steps (see lt_ops_optim.h):
 * checks hyper-parameters and the parameter/gradient/state lists, then
 * dispatches to the backend's optim kernels. Rows whose tensors are dense
 * and laid out alike (contiguous, or all channels-last) go to one
 * multi-tensor call as flat arrays; any other row runs through contiguous
 * copies that are written back. Not here: the arithmetic
 * (src/cpu/lt_cpu_optim.c) and the state bookkeeping (Lua). */
#include <math.h>
#include <stdlib.h>

#include "lt_ops.h"
#include "lt_ops_optim.h"
#include "lt_optim_rules.h"

/* The tensor lists of one algorithm: list 0 the parameters, list 1 the
 * gradients (read only), the rest state (written). A NULL list is absent. */
#define MAX_LISTS 5

typedef struct {
  int nl;
  lt_tensor *const *list[MAX_LISTS];
  const char *name[MAX_LISTS];        /* "params", "grads", "bufs", ... */
  int arg[MAX_LISTS];                 /* Lua-facing argument position */
} lists;

/* Calls the kernel over `count` rows; l[k] are compacted lists (NULL when
 * absent), rows[j] the original index of compacted row j. */
typedef lt_status (*kernel_call)(const lt_backend *be, const void *h, int count, lt_tensor *const *const *l,
                                 const int *rows, const void *extra);

/* --- checks ------------------------------------------------------------------- */

static lt_status check_range(int arg, const char *what, double v, double lo, double hi, bool hi_open) {
  if (isnan(v) || isinf(v) || v < lo || v > hi || (hi_open && v == hi)) {
    if (isinf(hi))
      return lt_error_set(LT_ERR_ARG, arg, "invalid %s %g (expected a number >= %g)", what, v, lo);
    return lt_error_set(LT_ERR_ARG, arg, "invalid %s %g (expected %g <= %s %s %g)", what, v, lo, what,
                        hi_open ? "<" : "<=", hi);
  }
  return LT_OK;
}

static _Thread_local int failed_row = -1; /* lt_op_optim_failed_row */

int lt_op_optim_failed_row(void) { return failed_row; }

/* A failure about row i: records it, returns st. */
static lt_status row_failed(int i, lt_status st) {
  failed_row = i;
  return st;
}

/* Row i of the lists: the parameter and, alike, its gradient and state. */
static lt_status check_row(const lists *L, int i) {
  char b1[128], b2[128], d1[32], d2[32];
  lt_tensor *p = L->list[0][i];
  if (!p) return lt_error_set(LT_ERR_ARG, L->arg[0], "params[%d] is missing", i + 1);
  if (p->dtype != LT_FLOAT32 && p->dtype != LT_FLOAT64)
    return lt_error_set(LT_ERR_ARG, L->arg[0], "params[%d] is %s; optimizer steps need float32 or float64 parameters", i + 1, lt_dtype_name(p->dtype));
  if (!lt_tensor_is_non_overlapping(p))
    return lt_error_set(LT_ERR_ARG, L->arg[0], "params[%d] has elements that overlap in memory (an expanded view)", i + 1);
  for (int k = 1; k < L->nl; k++) {
    if (!L->list[k]) continue;
    lt_tensor *t = L->list[k][i];
    if (!t) return lt_error_set(LT_ERR_ARG, L->arg[k], "%s[%d] is missing", L->name[k], i + 1);
    if (!lt_shape_equal(t, p))
      return lt_error_set(LT_ERR_ARG, L->arg[k], "%s[%d] has shape %s, expected %s (the shape of params[%d])", L->name[k], i + 1, lt_shape_str(t->ndim, t->shape, b1, sizeof b1),
                          lt_shape_str(p->ndim, p->shape, b2, sizeof b2), i + 1);
    if (t->dtype != p->dtype)
      return lt_error_set(LT_ERR_ARG, L->arg[k], "%s[%d] is %s, expected %s (the dtype of params[%d])",
                          L->name[k], i + 1, lt_dtype_name(t->dtype), lt_dtype_name(p->dtype), i + 1);
    if (!lt_device_equal(lt_tensor_device(t), lt_tensor_device(p)))
      return lt_error_set(LT_ERR_ARG, L->arg[k], "%s[%d] is on %s, expected %s (the device of params[%d])",
                          L->name[k], i + 1, lt_device_str(lt_tensor_device(t), d1, sizeof d1),
                          lt_device_str(lt_tensor_device(p), d2, sizeof d2), i + 1);
    if (k >= 2 && !lt_tensor_is_non_overlapping(t))
      return lt_error_set(LT_ERR_ARG, L->arg[k], "%s[%d] has elements that overlap in memory (an expanded view)", L->name[k], i + 1);
  }
  return LT_OK;
}

static lt_status check_lists(const lists *L, int n) {
  if (n < 0) return lt_error_set(LT_ERR_ARG, 1, "negative parameter count %d", n);
  for (int i = 0; i < n; i++) {
    lt_status st = check_row(L, i);
    if (st != LT_OK) return row_failed(i, st);
  }
  return LT_OK;
}

static lt_status check_steps(int arg, int n, const double *step) {
  for (int i = 0; i < n; i++)
    if (!(step[i] >= 1) || isinf(step[i]))
      return row_failed(i, lt_error_set(LT_ERR_ARG, arg, "steps[%d] is %g, expected a step count >= 1", i + 1, step[i]));
  return LT_OK;
}

/* --- device scalars (lt_backend_optim.h) ------------------------------------------ */

/* `s` is usable as the scalars of a step over params on `dev`. */
static lt_status check_scalars(int arg, const lt_tensor *s, lt_device dev) {
  char d1[32], d2[32];
  if (s->dtype != LT_FLOAT64)
    return lt_error_set(LT_ERR_ARG, arg, "the scalars tensor is %s, expected float64", lt_dtype_name(s->dtype));
  if (!lt_tensor_is_contiguous(s) || lt_tensor_numel(s) < LT_OPTIM_SCALARS)
    return lt_error_set(LT_ERR_ARG, arg, "the scalars tensor must be contiguous with at least %d elements (got %lld)",
                        LT_OPTIM_SCALARS, (long long)lt_tensor_numel(s));
  if (!lt_device_equal(lt_tensor_device(s), dev))
    return lt_error_set(LT_ERR_ARG, arg, "the scalars tensor is on %s, the parameters on %s",
                        lt_device_str(lt_tensor_device(s), d1, sizeof d1), lt_device_str(dev, d2, sizeof d2));
  return LT_OK;
}

/* On the CPU the op layer reads the scalars itself and steps by value: the
 * scalars in host memory (NULL when `s` is not), which the algorithm's
 * *_from_scalars (lt_optim_rules.h) unpacks. */
static const double *host_scalars(const lt_tensor *s) {
  return lt_tensor_device(s).type == LT_CPU ? (const double *)lt_tensor_data(s) : NULL;
}

/* n copies of one step count (a host array the caller frees). */
static lt_status step_counts(int n, double step, double **out) {
  *out = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
  if (!*out) return lt_error_set(LT_ERR_OOM, 0, "out of host memory");
  for (int i = 0; i < n; i++) (*out)[i] = step;
  return LT_OK;
}

/* --- dispatch ------------------------------------------------------------------- */

/* Whether a and b place every element at the same offset (dims of size 1
 * have no say). */
static bool same_layout(const lt_tensor *a, const lt_tensor *b) {
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] > 1 && a->stride[d] != b->stride[d]) return false;
  return true;
}

/* Whether row i can go to the kernels as flat arrays: every tensor dense
 * (no gaps or overlaps, e.g. contiguous or channels-last) and laid out like
 * the parameter, so element j of each one's memory is the same element. */
static bool row_contiguous(const lists *L, int i) {
  const lt_tensor *p = L->list[0][i];
  if (!lt_tensor_is_dense(p)) return false;
  for (int k = 1; k < L->nl; k++)
    if (L->list[k] && (!lt_tensor_is_dense(L->list[k][i]) || !same_layout(p, L->list[k][i]))) return false;
  return true;
}

static void bump(const lists *L, int n) {
  for (int i = 0; i < n; i++)
    for (int k = 0; k < L->nl; k++)
      if (k != 1 && L->list[k]) atomic_fetch_add(&L->list[k][i]->storage->version, 1);
}

/* One non-contiguous row: contiguous copies in, kernel, written ones back. */
static lt_status run_strided_row(const lt_backend *be, const lists *L, int i, kernel_call call, const void *h,
                                 const void *extra) {
  lt_tensor *c[MAX_LISTS] = {0};
  lt_tensor *const *cl[MAX_LISTS] = {0};
  lt_status st = LT_OK;
  for (int k = 0; k < L->nl && st == LT_OK; k++) {
    if (!L->list[k]) continue;
    st = lt_op_contiguous(L->list[k][i], &c[k]);
    cl[k] = &c[k];
  }
  if (st == LT_OK) st = call(be, h, 1, cl, &i, extra);
  for (int k = 0; k < L->nl && st == LT_OK; k++)
    if (k != 1 && c[k] && c[k] != L->list[k][i]) st = be->copy(L->list[k][i], c[k]);
  for (int k = 0; k < L->nl; k++) lt_tensor_release(c[k]);
  return st;
}

static lt_status dispatch(const lists *L, int n, kernel_call call, const void *h, const void *extra) {
  if (n == 0) return LT_OK;
  const lt_backend *be;
  LT_TRY(lt_backend_for(lt_tensor_device(L->list[0][0]), &be));
  for (int i = 1; i < n; i++)
    if (!lt_device_equal(lt_tensor_device(L->list[0][i]), lt_tensor_device(L->list[0][0]))) {
      char d1[32], d2[32];
      return row_failed(i, lt_error_set(LT_ERR_ARG, L->arg[0], "params[%d] is on %s but params[1] is on %s; step each "
                                        "device's parameters in its own call", i + 1,
                                        lt_device_str(lt_tensor_device(L->list[0][i]), d1, sizeof d1),
                                        lt_device_str(lt_tensor_device(L->list[0][0]), d2, sizeof d2)));
    }
  if (!be->optim || !call)
    return lt_error_set(LT_ERR_RUNTIME, 0, "the %s backend has no optimizer kernels", be->name);
  /* compacted lists of the contiguous rows, then their original indices */
  lt_tensor **buf = malloc(sizeof(lt_tensor *) * (size_t)n * MAX_LISTS + sizeof(int) * (size_t)n);
  if (!buf) return lt_error_set(LT_ERR_OOM, 0, "out of host memory for %d parameters", n);
  int *rows = (int *)(buf + (size_t)n * MAX_LISTS);
  lt_tensor *const *cl[MAX_LISTS] = {0};
  int count = 0;
  for (int i = 0; i < n; i++) {
    if (!row_contiguous(L, i)) continue;
    for (int k = 0; k < L->nl; k++)
      if (L->list[k]) buf[(size_t)k * n + count] = L->list[k][i];
    rows[count++] = i;
  }
  for (int k = 0; k < L->nl; k++)
    if (L->list[k]) cl[k] = buf + (size_t)k * n;
  lt_status st = count ? call(be, h, count, cl, rows, extra) : LT_OK;
  free(buf);
  for (int i = 0; i < n && st == LT_OK; i++)
    if (!row_contiguous(L, i)) st = run_strided_row(be, L, i, call, h, extra);
  if (st == LT_OK) bump(L, n);
  return st;
}

/* Per-row scalars of the compacted rows (step counts, fresh flags). */
static double *gather_f64(const double *v, int count, const int *rows) {
  double *o = malloc(sizeof(double) * (size_t)(count ? count : 1));
  if (o)
    for (int j = 0; j < count; j++) o[j] = v[rows[j]];
  return o;
}

/* --- SGD ------------------------------------------------------------------------------ */

static lt_status call_sgd(const lt_backend *be, const void *h, int count, lt_tensor *const *const *l, const int *rows,
                          const void *extra) {
  if (!be->optim->sgd) return lt_error_set(LT_ERR_RUNTIME, 0, "the %s backend has no sgd kernel", be->name);
  const bool *fresh = extra;
  bool *f = NULL;
  if (fresh) {
    f = malloc(sizeof(bool) * (size_t)count);
    if (!f) return lt_error_set(LT_ERR_OOM, 0, "out of host memory");
    for (int j = 0; j < count; j++) f[j] = fresh[rows[j]];
  }
  lt_status st = be->optim->sgd(count, l[0], l[1], l[2], f, h);
  free(f);
  return st;
}

static lt_status check_sgd(int arg, const lt_sgd_hparams *h) {
  LT_TRY(check_range(arg, "lr", h->lr, 0, INFINITY, false));
  LT_TRY(check_range(arg, "momentum", h->momentum, 0, INFINITY, false));
  LT_TRY(check_range(arg, "weight_decay", h->weight_decay, 0, INFINITY, false));
  if (!isfinite(h->dampening)) return lt_error_set(LT_ERR_ARG, arg, "invalid dampening %g", h->dampening);
  if (h->nesterov && (h->momentum <= 0 || h->dampening != 0))
    return lt_error_set(LT_ERR_ARG, arg, "nesterov momentum requires a momentum > 0 and zero dampening "
                        "(got momentum %g, dampening %g)", h->momentum, h->dampening);
  return LT_OK;
}

lt_status lt_op_sgd_step(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *buf,
                         const bool *fresh, const lt_sgd_hparams *h) {
  failed_row = -1;
  if (h->scalars && n > 0) {
    LT_TRY(check_scalars(5, h->scalars, lt_tensor_device(param[0])));
    for (int i = 0; fresh && h->momentum != 0 && i < n; i++)
      if (fresh[i])
        return row_failed(i, lt_error_set(LT_ERR_ARG, 4, "fresh[%d] is true: a step reading device scalars cannot "
                                          "start a momentum buffer (run an eager step first)", i + 1));
    const double *v = host_scalars(h->scalars);
    if (v) {
      lt_sgd_hparams q = *h;
      lt_sgd_from_scalars(&q, v);
      q.scalars = NULL;
      return lt_op_sgd_step(n, param, grad, buf, fresh, &q);
    }
  } else {
    LT_TRY(check_sgd(5, h));
  }
  bool mom = h->momentum != 0;
  if (mom && n > 0 && !buf)
    return lt_error_set(LT_ERR_ARG, 3, "momentum %g needs a list of momentum buffers", h->momentum);
  lists L = {3, {param, grad, mom ? buf : NULL}, {"params", "grads", "bufs"}, {1, 2, 3}};
  LT_TRY(check_lists(&L, n));
  return dispatch(&L, n, call_sgd, h, mom ? fresh : NULL);
}

/* --- Adam ------------------------------------------------------------------------------ */

static lt_status call_adam(const lt_backend *be, const void *h, int count, lt_tensor *const *const *l, const int *rows,
                           const void *extra) {
  if (!be->optim->adam) return lt_error_set(LT_ERR_RUNTIME, 0, "the %s backend has no adam kernel", be->name);
  double *s = gather_f64(extra, count, rows);
  if (!s) return lt_error_set(LT_ERR_OOM, 0, "out of host memory");
  lt_status st = be->optim->adam(count, l[0], l[1], l[2], l[3], l[4], s, h);
  free(s);
  return st;
}

static lt_status check_adam(int arg, const lt_adam_hparams *h) {
  LT_TRY(check_range(arg, "lr", h->lr, 0, INFINITY, false));
  LT_TRY(check_range(arg, "beta1", h->beta1, 0, 1, true));
  LT_TRY(check_range(arg, "beta2", h->beta2, 0, 1, true));
  LT_TRY(check_range(arg, "eps", h->eps, 0, INFINITY, false));
  return check_range(arg, "weight_decay", h->weight_decay, 0, INFINITY, false);
}

lt_status lt_op_adam_step(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *exp_avg,
                          lt_tensor *const *exp_avg_sq, lt_tensor *const *max_exp_avg_sq, const double *step,
                          const lt_adam_hparams *h) {
  failed_row = -1;
  if (h->scalars && n > 0) {
    LT_TRY(check_scalars(7, h->scalars, lt_tensor_device(param[0])));
    const double *v = host_scalars(h->scalars);
    if (v) {
      lt_adam_hparams q = *h;
      double *steps;
      LT_TRY(step_counts(n, lt_adam_from_scalars(&q, v), &steps));
      q.scalars = NULL;
      lt_status st = lt_op_adam_step(n, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, steps, &q);
      free(steps);
      return st;
    }
  } else {
    LT_TRY(check_adam(7, h));
  }
  if (n > 0 && (!exp_avg || !exp_avg_sq))
    return lt_error_set(LT_ERR_ARG, exp_avg ? 4 : 3, "the exp_avg and exp_avg_sq state lists are required");
  if (n > 0 && h->amsgrad && !max_exp_avg_sq)
    return lt_error_set(LT_ERR_ARG, 5, "amsgrad needs a list of max_exp_avg_sq buffers");
  if (n > 0 && !step) return lt_error_set(LT_ERR_ARG, 6, "the list of step counts is required");
  lists L = {5, {param, grad, exp_avg, exp_avg_sq, h->amsgrad ? max_exp_avg_sq : NULL},
             {"params", "grads", "exp_avgs", "exp_avg_sqs", "max_exp_avg_sqs"}, {1, 2, 3, 4, 5}};
  LT_TRY(check_lists(&L, n));
  if (!h->scalars) LT_TRY(check_steps(6, n, step)); /* else the kernel reads the step count */
  return dispatch(&L, n, call_adam, h, step);
}

/* --- RMSprop ------------------------------------------------------------------------------ */

static lt_status call_rmsprop(const lt_backend *be, const void *h, int count, lt_tensor *const *const *l,
                              const int *rows, const void *extra) {
  (void)rows;
  (void)extra;
  if (!be->optim->rmsprop)
    return lt_error_set(LT_ERR_RUNTIME, 0, "the %s backend has no rmsprop kernel", be->name);
  return be->optim->rmsprop(count, l[0], l[1], l[2], l[3], l[4], h);
}

static lt_status check_rmsprop(int arg, const lt_rmsprop_hparams *h) {
  LT_TRY(check_range(arg, "lr", h->lr, 0, INFINITY, false));
  LT_TRY(check_range(arg, "alpha", h->alpha, 0, INFINITY, false));
  LT_TRY(check_range(arg, "eps", h->eps, 0, INFINITY, false));
  LT_TRY(check_range(arg, "weight_decay", h->weight_decay, 0, INFINITY, false));
  return check_range(arg, "momentum", h->momentum, 0, INFINITY, false);
}

lt_status lt_op_rmsprop_step(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *square_avg,
                             lt_tensor *const *grad_avg, lt_tensor *const *buf, const lt_rmsprop_hparams *h) {
  failed_row = -1;
  if (h->scalars && n > 0) {
    LT_TRY(check_scalars(6, h->scalars, lt_tensor_device(param[0])));
    const double *v = host_scalars(h->scalars);
    if (v) {
      lt_rmsprop_hparams q = *h;
      lt_rmsprop_from_scalars(&q, v);
      q.scalars = NULL;
      return lt_op_rmsprop_step(n, param, grad, square_avg, grad_avg, buf, &q);
    }
  } else {
    LT_TRY(check_rmsprop(6, h));
  }
  if (n > 0 && !square_avg) return lt_error_set(LT_ERR_ARG, 3, "the square_avg state list is required");
  if (n > 0 && h->centered && !grad_avg)
    return lt_error_set(LT_ERR_ARG, 4, "centered needs a list of grad_avg buffers");
  if (n > 0 && h->momentum > 0 && !buf)
    return lt_error_set(LT_ERR_ARG, 5, "momentum %g needs a list of momentum buffers", h->momentum);
  lists L = {5, {param, grad, square_avg, h->centered ? grad_avg : NULL, h->momentum > 0 ? buf : NULL},
             {"params", "grads", "square_avgs", "grad_avgs", "bufs"}, {1, 2, 3, 4, 5}};
  LT_TRY(check_lists(&L, n));
  return dispatch(&L, n, call_rmsprop, h, NULL);
}

/* --- Adadelta ------------------------------------------------------------------------------ */

static lt_status call_adadelta(const lt_backend *be, const void *h, int count, lt_tensor *const *const *l,
                               const int *rows, const void *extra) {
  (void)rows;
  (void)extra;
  if (!be->optim->adadelta)
    return lt_error_set(LT_ERR_RUNTIME, 0, "the %s backend has no adadelta kernel", be->name);
  return be->optim->adadelta(count, l[0], l[1], l[2], l[3], h);
}

static lt_status check_adadelta(int arg, const lt_adadelta_hparams *h) {
  LT_TRY(check_range(arg, "lr", h->lr, 0, INFINITY, false));
  LT_TRY(check_range(arg, "rho", h->rho, 0, 1, false));
  LT_TRY(check_range(arg, "eps", h->eps, 0, INFINITY, false));
  return check_range(arg, "weight_decay", h->weight_decay, 0, INFINITY, false);
}

lt_status lt_op_adadelta_step(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *square_avg,
                              lt_tensor *const *acc_delta, const lt_adadelta_hparams *h) {
  failed_row = -1;
  if (h->scalars && n > 0) {
    LT_TRY(check_scalars(5, h->scalars, lt_tensor_device(param[0])));
    const double *v = host_scalars(h->scalars);
    if (v) {
      lt_adadelta_hparams q = *h;
      lt_adadelta_from_scalars(&q, v);
      q.scalars = NULL;
      return lt_op_adadelta_step(n, param, grad, square_avg, acc_delta, &q);
    }
  } else {
    LT_TRY(check_adadelta(5, h));
  }
  if (n > 0 && (!square_avg || !acc_delta))
    return lt_error_set(LT_ERR_ARG, square_avg ? 4 : 3, "the square_avg and acc_delta state lists are required");
  lists L = {4, {param, grad, square_avg, acc_delta}, {"params", "grads", "square_avgs", "acc_deltas"}, {1, 2, 3, 4}};
  LT_TRY(check_lists(&L, n));
  return dispatch(&L, n, call_adadelta, h, NULL);
}

/* --- Adagrad ------------------------------------------------------------------------------ */

static lt_status call_adagrad(const lt_backend *be, const void *h, int count, lt_tensor *const *const *l,
                              const int *rows, const void *extra) {
  if (!be->optim->adagrad)
    return lt_error_set(LT_ERR_RUNTIME, 0, "the %s backend has no adagrad kernel", be->name);
  double *s = gather_f64(extra, count, rows);
  if (!s) return lt_error_set(LT_ERR_OOM, 0, "out of host memory");
  lt_status st = be->optim->adagrad(count, l[0], l[1], l[2], s, h);
  free(s);
  return st;
}

static lt_status check_adagrad(int arg, const lt_adagrad_hparams *h) {
  LT_TRY(check_range(arg, "lr", h->lr, 0, INFINITY, false));
  LT_TRY(check_range(arg, "lr_decay", h->lr_decay, 0, INFINITY, false));
  LT_TRY(check_range(arg, "eps", h->eps, 0, INFINITY, false));
  return check_range(arg, "weight_decay", h->weight_decay, 0, INFINITY, false);
}

lt_status lt_op_adagrad_step(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *sum,
                             const double *step, const lt_adagrad_hparams *h) {
  failed_row = -1;
  if (h->scalars && n > 0) {
    LT_TRY(check_scalars(5, h->scalars, lt_tensor_device(param[0])));
    const double *v = host_scalars(h->scalars);
    if (v) {
      lt_adagrad_hparams q = *h;
      double *steps;
      LT_TRY(step_counts(n, lt_adagrad_from_scalars(&q, v), &steps));
      q.scalars = NULL;
      lt_status st = lt_op_adagrad_step(n, param, grad, sum, steps, &q);
      free(steps);
      return st;
    }
  } else {
    LT_TRY(check_adagrad(5, h));
  }
  if (n > 0 && !sum) return lt_error_set(LT_ERR_ARG, 3, "the state_sum list is required");
  if (n > 0 && !step) return lt_error_set(LT_ERR_ARG, 4, "the list of step counts is required");
  lists L = {3, {param, grad, sum}, {"params", "grads", "state_sums"}, {1, 2, 3}};
  LT_TRY(check_lists(&L, n));
  if (!h->scalars) LT_TRY(check_steps(4, n, step));
  return dispatch(&L, n, call_adagrad, h, step);
}

/* --- writing device scalars ------------------------------------------------------------ */

lt_status lt_op_optim_write_scalars(lt_tensor *dst, lt_optim_algo algo, const void *hp, double step) {
  double v[LT_OPTIM_SCALARS] = {0};
  int n = 0;
  bool counted = false;
  switch (algo) {
    case LT_OPTIM_SGD: {
      const lt_sgd_hparams *h = hp;
      LT_TRY(check_sgd(3, h));
      n = lt_sgd_to_scalars(h, v);
      break;
    }
    case LT_OPTIM_ADAM: {
      const lt_adam_hparams *h = hp;
      LT_TRY(check_adam(3, h));
      n = lt_adam_to_scalars(h, step, v);
      counted = true;
      break;
    }
    case LT_OPTIM_RMSPROP: {
      const lt_rmsprop_hparams *h = hp;
      LT_TRY(check_rmsprop(3, h));
      n = lt_rmsprop_to_scalars(h, v);
      break;
    }
    case LT_OPTIM_ADADELTA: {
      const lt_adadelta_hparams *h = hp;
      LT_TRY(check_adadelta(3, h));
      n = lt_adadelta_to_scalars(h, v);
      break;
    }
    case LT_OPTIM_ADAGRAD: {
      const lt_adagrad_hparams *h = hp;
      LT_TRY(check_adagrad(3, h));
      n = lt_adagrad_to_scalars(h, step, v);
      counted = true;
      break;
    }
    default:
      return lt_error_set(LT_ERR_ARG, 2, "unknown optimizer algorithm %d", (int)algo);
  }
  if (counted && (!(step >= 1) || isinf(step)))
    return lt_error_set(LT_ERR_ARG, 3, "step is %g, expected a step count >= 1", step);
  LT_TRY(check_scalars(1, dst, lt_tensor_device(dst)));
  const lt_backend *be;
  LT_TRY(lt_backend_for(lt_tensor_device(dst), &be));
  if (!be->optim || !be->optim->write_scalars)
    return lt_error_set(LT_ERR_RUNTIME, 0, "the %s backend cannot write optimizer scalars", be->name);
  LT_TRY(be->optim->write_scalars(dst, v, n));
  atomic_fetch_add(&dst->storage->version, 1);
  return LT_OK;
}
