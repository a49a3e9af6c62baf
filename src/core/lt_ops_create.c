/* lt_ops_create.c — op layer for creation: full, arange, linspace, eye and
 * the random fills driven by the global Philox generator. */
#include <math.h>

#include "lt_ops.h"
#include "lt_philox.h"


lt_status lt_op_full(int ndim, const int64_t *shape, double v, lt_dtype dtype, lt_device device, lt_tensor **out) {
  const lt_backend *be;
  LT_TRY(lt_backend_for(device, &be));
  lt_tensor *t;
  LT_TRY(lt_tensor_empty(ndim, shape, dtype, device, &t));
  lt_status st = be->fill(t, v);
  if (st != LT_OK) { lt_tensor_release(t); return st; }
  *out = t;
  return LT_OK;
}

/* Builds a CPU tensor with f(i) for i in 0..n-1 and moves it to `device`.
 * Integral dtypes take llround(f(i)) when `round`, else truncate (PyTorch's
 * linspace casts its float values; arange values are integers already). */
static lt_status from_index_fn(int64_t n, lt_dtype dtype, lt_device device, double (*f)(int64_t, const double *),
                               const double *ctx, bool round, lt_tensor **out) {
  const lt_backend *be;
  LT_TRY(lt_backend_for(device, &be));
  lt_tensor *h;
  LT_TRY(lt_tensor_empty(1, &n, dtype, lt_cpu_device(), &h));
  char *p = lt_tensor_data(h);
  size_t es = lt_dtype_size(dtype);
  for (int64_t i = 0; i < n; i++) {
    double v = f(i, ctx);
    if (lt_dtype_is_integral(dtype) && round) lt_dtype_store_i64(p + i * (int64_t)es, dtype, (int64_t)llround(v));
    else lt_dtype_store_f64(p + i * (int64_t)es, dtype, v);
  }
  lt_status st = lt_op_to(h, dtype, device, out);
  lt_tensor_release(h);
  return st;
}

static double arange_at(int64_t i, const double *c) { return c[0] + (double)i * c[1]; }

/* PyTorch's arange: an integral dtype truncates start, end and step to
 * integers first (so a step like 0.5 becomes 0 and is refused); the size is
 * ceil((end - start) / step) over those integers for int64 and over the
 * given numbers for the other dtypes (PyTorch's own rule: arange(0, 2.5,
 * int64) has 2 elements, with int32 3). An end on the wrong side of start
 * for the step's sign is an error, not an empty tensor. */
lt_status lt_op_arange(double start, double end, double step, lt_dtype dtype, lt_device device, lt_tensor **out) {
  if (dtype == LT_BOOL) return lt_error_set(LT_ERR_ARG, 0, "arange cannot make a bool tensor");
  if (!isfinite(start) || !isfinite(end)) return lt_error_set(LT_ERR_ARG, 1, "start and end must be finite");
  if (isnan(step)) return lt_error_set(LT_ERR_ARG, 3, "step must be a number, got nan");
  bool integral = lt_dtype_is_integral(dtype);
  double xs = start, xe = end, xst = step;
  if (integral) {
    const double lim = 9.2e18;
    if (fabs(start) >= lim || fabs(end) >= lim || fabs(step) >= lim)
      return lt_error_set(LT_ERR_ARG, 0, "start, end and step must lie within int64's range for an integral dtype");
    xs = trunc(start);
    xe = trunc(end);
    xst = trunc(step);
  }
  if (xst == 0 && step != 0)
    return lt_error_set(LT_ERR_ARG, 3, "step must be non-zero (%g truncates to 0 for %s)", step, lt_dtype_name(dtype));
  if (xst == 0) return lt_error_set(LT_ERR_ARG, 3, "step must be non-zero");
  if (!((xst > 0 && xe >= xs) || (xst < 0 && xe <= xs)))
    return lt_error_set(LT_ERR_ARG, 2, "end %g lies %s start %g, against the sign of step %g", end,
                        xst > 0 ? "below" : "above", start, step);
  double count = dtype == LT_INT64 ? ceil((double)((int64_t)xe - (int64_t)xs) / xst) : ceil((end - start) / step);
  if (count > 1e12) return lt_error_set(LT_ERR_ARG, 2, "arange would have %.0f elements", count);
  double c[2] = {xs, xst};
  return from_index_fn((int64_t)count, dtype, device, arange_at, c, true, out);
}

static double linspace_at(int64_t i, const double *c) {
  /* symmetric formula, exact at both ends; one step is just start */
  int64_t n = (int64_t)c[2];
  if (i < n / 2 || n == 1) return c[0] + (double)i * c[3];
  return c[1] - (double)(n - 1 - i) * c[3];
}

lt_status lt_op_linspace(double start, double end, int64_t steps, lt_dtype dtype, lt_device device, lt_tensor **out) {
  if (steps < 0) return lt_error_set(LT_ERR_ARG, 3, "number of steps must be non-negative, got %lld", (long long)steps);
  if (steps > (INT64_C(1) << 46)) return lt_error_set(LT_ERR_ARG, 3, "number of steps %lld is too large", (long long)steps);
  double c[4] = {start, end, (double)steps, steps > 1 ? (end - start) / (double)(steps - 1) : 0};
  return from_index_fn(steps, dtype, device, linspace_at, c, false, out);
}

lt_status lt_op_eye(int64_t n, int64_t m, lt_dtype dtype, lt_device device, lt_tensor **out) {
  if (n < 0) return lt_error_set(LT_ERR_ARG, 1, "n must be non-negative, got %lld", (long long)n);
  if (m < 0) return lt_error_set(LT_ERR_ARG, 2, "m must be non-negative, got %lld", (long long)m);
  int64_t shape[2] = {n, m};
  lt_tensor *h, *diag;
  LT_TRY(lt_tensor_zeros(2, shape, dtype, lt_cpu_device(), &h));
  int64_t k = n < m ? n : m, one = k, st1 = m + 1;
  lt_status st = lt_tensor_as_strided(h, 1, &one, &st1, 0, &diag);
  if (st == LT_OK) {
    st = lt_op_fill_(diag, 1);
    lt_tensor_release(diag);
  }
  if (st == LT_OK) st = lt_op_to(h, dtype, device, out);
  lt_tensor_release(h);
  return st;
}

lt_status lt_op_rand_(lt_rand_kind kind, lt_tensor *t, double a, double b) {
  if (!lt_dtype_is_floating(t->dtype))
    return lt_error_set(LT_ERR_ARG, 0, "random floats need a floating dtype, got %s", lt_dtype_name(t->dtype));
  const lt_backend *be;
  LT_TRY(lt_backend_for(lt_tensor_device(t), &be));
  if (!lt_tensor_is_dense(t)) { /* the kernel fills memory in order: draw into a dense copy */
    lt_tensor *c = NULL;
    LT_TRY(lt_tensor_empty(t->ndim, t->shape, t->dtype, lt_tensor_device(t), &c));
    lt_status st = lt_op_rand_(kind, c, a, b);
    if (st == LT_OK) st = lt_op_copy_(t, c);
    lt_tensor_release(c);
    return st;
  }
  int64_t n = lt_tensor_numel(t);
  lt_rng *rng = lt_rng_global();
  uint64_t first = lt_rng_reserve(rng, (uint64_t)(n + 3) / 4);
  LT_TRY(be->rand(kind, t, rng->seed, first, a, b));
  atomic_fetch_add(&t->storage->version, 1);
  return LT_OK;
}

lt_status lt_op_rand(lt_rand_kind kind, int ndim, const int64_t *shape, double a, double b, lt_dtype dtype,
                     lt_device device, lt_tensor **out) {
  if (!lt_dtype_is_floating(dtype))
    return lt_error_set(LT_ERR_ARG, 0, "random floats need a floating dtype, got %s", lt_dtype_name(dtype));
  const lt_backend *be;
  LT_TRY(lt_backend_for(device, &be));
  lt_tensor *t;
  LT_TRY(lt_tensor_empty(ndim, shape, dtype, device, &t));
  lt_status st = lt_op_rand_(kind, t, a, b);
  if (st != LT_OK) { lt_tensor_release(t); return st; }
  *out = t;
  return LT_OK;
}

lt_status lt_op_randint(int64_t low, int64_t high, int ndim, const int64_t *shape, lt_dtype dtype, lt_device device,
                        lt_tensor **out) {
  if (high <= low)
    return lt_error_set(LT_ERR_ARG, 2, "high (%lld) must be greater than low (%lld)", (long long)high, (long long)low);
  /* Draw float64 uniforms, then floor into the range: u*range+low < high. */
  lt_tensor *u = NULL, *t = NULL;
  LT_TRY(lt_op_rand(LT_RAND_UNIFORM, ndim, shape, 0, 1, LT_FLOAT64, lt_cpu_device(), &u));
  lt_status st = lt_tensor_empty(ndim, shape, dtype, lt_cpu_device(), &t);
  if (st == LT_OK) {
    double range = (double)high - (double)low;
    const double *pu = lt_tensor_data(u);
    char *pt = lt_tensor_data(t);
    size_t es = lt_dtype_size(dtype);
    for (int64_t i = 0, n = lt_tensor_numel(t); i < n; i++) {
      int64_t v = low + (int64_t)floor(pu[i] * range);
      if (v >= high) v = high - 1;
      lt_dtype_store_i64(pt + i * (int64_t)es, dtype, v);
    }
    st = lt_op_to(t, dtype, device, out);
  }
  lt_tensor_release(u);
  lt_tensor_release(t);
  return st;
}

lt_status lt_op_randperm(int64_t n, lt_device device, lt_tensor **out) {
  if (n < 0) return lt_error_set(LT_ERR_ARG, 1, "n must be non-negative, got %lld", (long long)n);
  lt_tensor *t;
  LT_TRY(lt_tensor_empty(1, &n, LT_INT64, lt_cpu_device(), &t));
  int64_t *p = lt_tensor_data(t);
  for (int64_t i = 0; i < n; i++) p[i] = i;
  /* Fisher-Yates; each swap draws one 64-bit word pair with rejection so
   * every permutation is equally likely. */
  lt_rng *rng = lt_rng_global();
  for (int64_t i = n - 1; i > 0; i--) {
    uint64_t bound = (uint64_t)i + 1, limit = UINT64_MAX - UINT64_MAX % bound, r;
    do {
      uint32_t w[4];
      lt_philox_block(rng->seed, lt_rng_reserve(rng, 1), w);
      r = ((uint64_t)w[0] << 32) | w[1];
    } while (r >= limit);
    int64_t j = (int64_t)(r % bound), tmp = p[i];
    p[i] = p[j];
    p[j] = tmp;
  }
  lt_status st = lt_op_to(t, LT_INT64, device, out);
  lt_tensor_release(t);
  return st;
}
