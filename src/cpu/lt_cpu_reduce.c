/* lt_cpu_reduce.c — reductions over the middle dim of a contiguous
 * [outer, r, inner] tensor, accumulated in double (int64 for integer sums and
 * products, so large integers stay exact). NaN propagates through max/min, as
 * in PyTorch, and the index of the first NaN is reported. */
#include <math.h>

#include "lt_cpu_kernels.h"

static double reduce_f64_row(lt_reduce_op op, const char *x, lt_dtype dt, int64_t stride, int64_t r, double param,
                             int64_t *arg) {
  size_t es = lt_dtype_size(dt);
  int64_t bs = stride * (int64_t)es;
  double acc = 0, m = 0;
  int64_t best = 0;
  switch (op) {
    case LT_RED_SUM: case LT_RED_MEAN:
      for (int64_t i = 0; i < r; i++) acc += lt_dtype_load_f64(x + bs * i, dt);
      return op == LT_RED_MEAN ? acc / (double)r : acc;
    case LT_RED_PROD:
      acc = 1;
      for (int64_t i = 0; i < r; i++) acc *= lt_dtype_load_f64(x + bs * i, dt);
      return acc;
    case LT_RED_MAX: case LT_RED_MIN: case LT_RED_ARGMAX: case LT_RED_ARGMIN: {
      bool want_max = op == LT_RED_MAX || op == LT_RED_ARGMAX;
      m = lt_dtype_load_f64(x, dt);
      for (int64_t i = 1; i < r && !isnan(m); i++) {
        double v = lt_dtype_load_f64(x + bs * i, dt);
        if (isnan(v) || (want_max ? v > m : v < m)) { m = v; best = i; }
      }
      *arg = best;
      return m;
    }
    case LT_RED_VAR: {
      double mean = 0;
      for (int64_t i = 0; i < r; i++) mean += lt_dtype_load_f64(x + bs * i, dt);
      mean /= (double)r;
      for (int64_t i = 0; i < r; i++) { double d = lt_dtype_load_f64(x + bs * i, dt) - mean; acc += d * d; }
      /* as PyTorch: max(0, N - correction); 0/0 is NaN, x/0 is inf */
      double denom = (double)r - param;
      return acc / (denom > 0 ? denom : 0.0);
    }
    case LT_RED_NORM:
      if (isinf(param)) { /* inf: the largest |x|, -inf: the smallest; NaN wins */
        acc = param > 0 ? 0 : INFINITY;
        for (int64_t i = 0; i < r && !isnan(acc); i++) {
          double v = fabs(lt_dtype_load_f64(x + bs * i, dt));
          if (isnan(v) || (param > 0 ? v > acc : v < acc)) acc = v;
        }
        return acc;
      }
      if (param == 2) {
        for (int64_t i = 0; i < r; i++) { double v = lt_dtype_load_f64(x + bs * i, dt); acc += v * v; }
        return sqrt(acc);
      }
      if (param == 1) {
        for (int64_t i = 0; i < r; i++) acc += fabs(lt_dtype_load_f64(x + bs * i, dt));
        return acc;
      }
      if (param == 0) {
        for (int64_t i = 0; i < r; i++) acc += lt_dtype_load_f64(x + bs * i, dt) != 0;
        return acc;
      }
      for (int64_t i = 0; i < r; i++) acc += pow(fabs(lt_dtype_load_f64(x + bs * i, dt)), param);
      return pow(acc, 1.0 / param);
    case LT_RED_ANY:
      for (int64_t i = 0; i < r; i++) if (lt_dtype_load_f64(x + bs * i, dt) != 0) return 1;
      return 0;
    case LT_RED_ALL:
      for (int64_t i = 0; i < r; i++) if (lt_dtype_load_f64(x + bs * i, dt) == 0) return 0;
      return 1;
    default: return NAN;
  }
}

static int64_t reduce_i64_row(lt_reduce_op op, const char *x, lt_dtype dt, int64_t stride, int64_t r, int64_t *arg) {
  int64_t bs = stride * (int64_t)lt_dtype_size(dt);
  uint64_t acc = op == LT_RED_PROD ? 1 : 0;
  switch (op) {
    case LT_RED_SUM:
      for (int64_t i = 0; i < r; i++) acc += (uint64_t)lt_dtype_load_i64(x + bs * i, dt);
      return (int64_t)acc;
    case LT_RED_PROD:
      for (int64_t i = 0; i < r; i++) acc *= (uint64_t)lt_dtype_load_i64(x + bs * i, dt);
      return (int64_t)acc;
    default: { /* max/min/argmax/argmin */
      bool want_max = op == LT_RED_MAX || op == LT_RED_ARGMAX;
      int64_t m = lt_dtype_load_i64(x, dt), best = 0;
      for (int64_t i = 1; i < r; i++) {
        int64_t v = lt_dtype_load_i64(x + bs * i, dt);
        if (want_max ? v > m : v < m) { m = v; best = i; }
      }
      *arg = best;
      return m;
    }
  }
}

/* float32 sums of contiguous rows: the common case (loss means, BN stats). */
static double sum_f32_contig(const float *x, int64_t r) {
  double acc = 0;
  int64_t i = 0;
  for (; i + 8 <= r; i += 8) {
    float s = x[i] + x[i + 1] + x[i + 2] + x[i + 3] + x[i + 4] + x[i + 5] + x[i + 6] + x[i + 7];
    acc += s;
  }
  for (; i < r; i++) acc += x[i];
  return acc;
}

lt_status lt_cpu_reduce(lt_reduce_op op, lt_tensor *out, lt_tensor *idx, const lt_tensor *x, int64_t outer, int64_t r,
                        int64_t inner, double param) {
  const char *base = (const char *)lt_tensor_data(x);
  size_t es = lt_dtype_size(x->dtype);
  bool int_path = lt_dtype_is_integral(x->dtype) &&
                  (op == LT_RED_SUM || op == LT_RED_PROD || op == LT_RED_MAX || op == LT_RED_MIN ||
                   op == LT_RED_ARGMAX || op == LT_RED_ARGMIN);
  char *obase = out ? (char *)lt_tensor_data(out) : NULL;
  int64_t *ibase = idx ? (int64_t *)lt_tensor_data(idx) : NULL;
  size_t oes = out ? lt_dtype_size(out->dtype) : 0;
  int64_t total = outer * inner;
#pragma omp parallel for schedule(static) if (total * r > 65536 && total > 1)
  for (int64_t k = 0; k < total; k++) {
    int64_t o = k / inner, i = k % inner;
    const char *row = base + ((o * r) * inner + i) * (int64_t)es;
    int64_t arg = 0;
    if (int_path) {
      int64_t v = reduce_i64_row(op, row, x->dtype, inner, r, &arg);
      if (obase) lt_dtype_store_i64(obase + k * (int64_t)oes, out->dtype, v);
    } else {
      double v;
      if (x->dtype == LT_FLOAT32 && inner == 1 && (op == LT_RED_SUM || op == LT_RED_MEAN)) {
        v = sum_f32_contig((const float *)row, r);
        if (op == LT_RED_MEAN) v /= (double)r;
      } else {
        v = reduce_f64_row(op, row, x->dtype, inner, r, param, &arg);
      }
      if (obase) lt_dtype_store_f64(obase + k * (int64_t)oes, out->dtype, v);
    }
    if (ibase) ibase[k] = arg;
  }
  return LT_OK;
}
