/* lt_cpu_elementwise.c — CPU kernels for copy (with dtype conversion), fill,
 * unary, binary and where.
 *
 * Three arithmetic paths, chosen by dtype in one place each:
 *   float32: native float loops, with plain contiguous loops for the hot
 *            binary ops so the compiler vectorises them;
 *   other floating types (float64, bfloat16, float16): computed in double,
 *            loaded and stored through lt_dtype_load_f64/store_f64;
 *   integral types (int64, int32, uint8, bool): computed in int64. */
#include <math.h>
#include <string.h>

#include "lt_cpu_iter.h"
#include "lt_cpu_kernels.h"
#include "lt_elementwise_rules.h"

#define AT(p, s, i, T) (*(T *)((p) + (s) * (i)))

/* --- copy -------------------------------------------------------------------- */
typedef struct { lt_dtype dst, src; } copy_ctx;

static void copy_run(void *vctx, char **p, const int64_t *s, int64_t n) {
  const copy_ctx *c = vctx;
  size_t es = lt_dtype_size(c->src);
  if (c->dst == c->src) {
    if (s[0] == (int64_t)es && s[1] == (int64_t)es) { memcpy(p[0], p[1], (size_t)n * es); return; }
    for (int64_t i = 0; i < n; i++) memcpy(p[0] + s[0] * i, p[1] + s[1] * i, es);
  } else if (c->dst == LT_FLOAT32 && c->src == LT_UINT8) {
    for (int64_t i = 0; i < n; i++) AT(p[0], s[0], i, float) = AT(p[1], s[1], i, uint8_t);
  } else if (c->dst == LT_FLOAT32 && c->src == LT_FLOAT64) {
    for (int64_t i = 0; i < n; i++) AT(p[0], s[0], i, float) = (float)AT(p[1], s[1], i, double);
  } else if (c->dst == LT_FLOAT64 && c->src == LT_FLOAT32) {
    for (int64_t i = 0; i < n; i++) AT(p[0], s[0], i, double) = AT(p[1], s[1], i, float);
  } else if (lt_dtype_is_integral(c->dst) && lt_dtype_is_integral(c->src)) {
    for (int64_t i = 0; i < n; i++) lt_dtype_store_i64(p[0] + s[0] * i, c->dst, lt_dtype_load_i64(p[1] + s[1] * i, c->src));
  } else if (lt_dtype_is_integral(c->src)) {
    for (int64_t i = 0; i < n; i++)
      lt_dtype_store_f64(p[0] + s[0] * i, c->dst, (double)lt_dtype_load_i64(p[1] + s[1] * i, c->src));
  } else {
    for (int64_t i = 0; i < n; i++) lt_dtype_store_f64(p[0] + s[0] * i, c->dst, lt_dtype_load_f64(p[1] + s[1] * i, c->src));
  }
}

lt_status lt_cpu_copy(lt_tensor *dst, const lt_tensor *src) {
  copy_ctx c = {dst->dtype, src->dtype};
  const lt_tensor *ops[2] = {dst, src};
  lt_cpu_foreach(2, ops, dst->ndim, dst->shape, &c, copy_run);
  return LT_OK;
}

/* --- fill ---------------------------------------------------------------------- */
typedef struct { unsigned char bytes[8]; size_t size; } fill_ctx;

static void fill_run(void *vctx, char **p, const int64_t *s, int64_t n) {
  const fill_ctx *c = vctx;
  if (c->size == 4 && s[0] == 4) {
    uint32_t v; memcpy(&v, c->bytes, 4);
    for (int64_t i = 0; i < n; i++) ((uint32_t *)p[0])[i] = v;
    return;
  }
  for (int64_t i = 0; i < n; i++) memcpy(p[0] + s[0] * i, c->bytes, c->size);
}

lt_status lt_cpu_fill(lt_tensor *dst, double v) {
  fill_ctx c;
  c.size = lt_dtype_size(dst->dtype);
  lt_dtype_store_f64(c.bytes, dst->dtype, v);
  const lt_tensor *ops[1] = {dst};
  lt_cpu_foreach(1, ops, dst->ndim, dst->shape, &c, fill_run);
  return LT_OK;
}

/* --- unary ------------------------------------------------------------------- */
typedef struct { lt_unary_op op; lt_dtype dt; double p0, p1; } unary_ctx;

static double gelu_tanh(double x) {
  const double k = 0.7978845608028654; /* sqrt(2/pi) */
  return 0.5 * x * (1.0 + tanh(k * (x + 0.044715 * x * x * x)));
}

static double unary_f64(const unary_ctx *c, double x) {
  switch (c->op) {
    case LT_UN_NEG: return -x;
    case LT_UN_ABS: return fabs(x);
    case LT_UN_EXP: return exp(x);
    case LT_UN_LOG: return log(x);
    case LT_UN_SQRT: return sqrt(x);
    case LT_UN_RSQRT: return 1.0 / sqrt(x);
    case LT_UN_SIN: return sin(x);
    case LT_UN_COS: return cos(x);
    case LT_UN_TANH: return tanh(x);
    case LT_UN_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case LT_UN_RELU: return x > 0 ? x : (isnan(x) ? x : 0.0);
    case LT_UN_FLOOR: return floor(x);
    case LT_UN_CEIL: return ceil(x);
    case LT_UN_ROUND: return nearbyint(x); /* half to even, as PyTorch */
    case LT_UN_SIGN: return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); /* 0 for NaN and -0, as PyTorch */
    case LT_UN_RECIPROCAL: return 1.0 / x;
    case LT_UN_SQUARE: return x * x;
    case LT_UN_LOGICAL_NOT: return x == 0;
    case LT_UN_ISNAN: return isnan(x);
    case LT_UN_CLAMP:
      if (isnan(x)) return x;
      if (!isnan(c->p0) && x < c->p0) x = c->p0;
      if (!isnan(c->p1) && x > c->p1) x = c->p1;
      return x;
    case LT_UN_POW_SCALAR: return pow(x, c->p0);
    case LT_UN_RPOW_SCALAR: return pow(c->p0, x);
    case LT_UN_LEAKY_RELU: return x > 0 ? x : x * c->p0;
    case LT_UN_GELU: return 0.5 * x * (1.0 + erf(x * 0.7071067811865476));
    case LT_UN_GELU_TANH: return gelu_tanh(x);
    case LT_UN_SILU: return x / (1.0 + exp(-x));
    default: return NAN;
  }
}

static float unary_f32(const unary_ctx *c, float x) {
  switch (c->op) {
    case LT_UN_NEG: return -x;
    case LT_UN_ABS: return fabsf(x);
    case LT_UN_EXP: return expf(x);
    case LT_UN_LOG: return logf(x);
    case LT_UN_SQRT: return sqrtf(x);
    case LT_UN_TANH: return tanhf(x);
    case LT_UN_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case LT_UN_RELU: return x > 0 ? x : (isnan(x) ? x : 0.0f);
    case LT_UN_SQUARE: return x * x;
    case LT_UN_SILU: return x / (1.0f + expf(-x));
    default: return (float)unary_f64(c, x);
  }
}

static int64_t unary_i64(const unary_ctx *c, int64_t x) { return lt_unary_i64(c->op, x, c->p0, c->p1); }

static void unary_run(void *vctx, char **p, const int64_t *s, int64_t n) {
  const unary_ctx *c = vctx;
  lt_dtype odt = c->op == LT_UN_ISNAN ? LT_BOOL : c->dt;
  if (c->dt == LT_FLOAT32 && odt == LT_FLOAT32) {
    if (s[0] == 4 && s[1] == 4) {
      float *o = (float *)p[0];
      const float *x = (const float *)p[1];
      if (c->op == LT_UN_RELU) { for (int64_t i = 0; i < n; i++) o[i] = x[i] > 0 ? x[i] : (x[i] != x[i] ? x[i] : 0.0f); return; }
      if (c->op == LT_UN_NEG) { for (int64_t i = 0; i < n; i++) o[i] = -x[i]; return; }
      for (int64_t i = 0; i < n; i++) o[i] = unary_f32(c, x[i]);
      return;
    }
    for (int64_t i = 0; i < n; i++) AT(p[0], s[0], i, float) = unary_f32(c, AT(p[1], s[1], i, float));
  } else if (lt_dtype_is_floating(c->dt)) {
    for (int64_t i = 0; i < n; i++) lt_dtype_store_f64(p[0] + s[0] * i, odt, unary_f64(c, lt_dtype_load_f64(p[1] + s[1] * i, c->dt)));
  } else {
    for (int64_t i = 0; i < n; i++) lt_dtype_store_i64(p[0] + s[0] * i, odt, unary_i64(c, lt_dtype_load_i64(p[1] + s[1] * i, c->dt)));
  }
}

lt_status lt_cpu_unary(lt_unary_op op, lt_tensor *out, const lt_tensor *x, const double *p) {
  unary_ctx c = {op, x->dtype, p ? p[0] : 0, p ? p[1] : 0};
  const lt_tensor *ops[2] = {out, x};
  lt_cpu_foreach(2, ops, out->ndim, out->shape, &c, unary_run);
  return LT_OK;
}

/* --- binary ------------------------------------------------------------------ */
typedef struct { lt_binary_op op; lt_dtype dt; atomic_int div_by_zero; } binary_ctx;

static double binary_f64(lt_binary_op op, double a, double b) {
  switch (op) {
    case LT_BIN_ADD: return a + b;
    case LT_BIN_SUB: return a - b;
    case LT_BIN_MUL: return a * b;
    case LT_BIN_DIV: return a / b;
    case LT_BIN_POW: return pow(a, b);
    case LT_BIN_MAXIMUM: return (isnan(a) || a > b) ? a : b;
    case LT_BIN_MINIMUM: return (isnan(a) || a < b) ? a : b;
    case LT_BIN_FMOD: return fmod(a, b);
    case LT_BIN_REMAINDER: { double r = fmod(a, b); return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r; }
    case LT_BIN_ATAN2: return atan2(a, b);
    case LT_BIN_EQ: return a == b;
    case LT_BIN_NE: return a != b;
    case LT_BIN_LT: return a < b;
    case LT_BIN_LE: return a <= b;
    case LT_BIN_GT: return a > b;
    case LT_BIN_GE: return a >= b;
    case LT_BIN_AND: return (a != 0) && (b != 0);
    case LT_BIN_OR: return (a != 0) || (b != 0);
    case LT_BIN_XOR: return (a != 0) != (b != 0);
    default: return NAN;
  }
}

static int64_t binary_i64(binary_ctx *c, int64_t a, int64_t b) {
  bool div_by_zero = false;
  int64_t r = lt_binary_i64(c->op, a, b, &div_by_zero);
  if (div_by_zero) atomic_store(&c->div_by_zero, 1);
  return r;
}

/* Contiguous float32 loops for the ops a training step is made of; returns
 * false when the run is not one of those. */
static bool binary_f32_fast(lt_binary_op op, char **p, const int64_t *s, int64_t n) {
  float *o = (float *)p[0];
  const float *a = (const float *)p[1], *b = (const float *)p[2];
  if (s[0] != 4 || s[1] != 4 || (s[2] != 4 && s[2] != 0)) return false;
  if (s[2] == 0) {
    const float bv = *b;
    switch (op) {
      case LT_BIN_ADD: for (int64_t i = 0; i < n; i++) o[i] = a[i] + bv; return true;
      case LT_BIN_SUB: for (int64_t i = 0; i < n; i++) o[i] = a[i] - bv; return true;
      case LT_BIN_MUL: for (int64_t i = 0; i < n; i++) o[i] = a[i] * bv; return true;
      case LT_BIN_DIV: for (int64_t i = 0; i < n; i++) o[i] = a[i] / bv; return true;
      default: return false;
    }
  }
  switch (op) {
    case LT_BIN_ADD: for (int64_t i = 0; i < n; i++) o[i] = a[i] + b[i]; return true;
    case LT_BIN_SUB: for (int64_t i = 0; i < n; i++) o[i] = a[i] - b[i]; return true;
    case LT_BIN_MUL: for (int64_t i = 0; i < n; i++) o[i] = a[i] * b[i]; return true;
    case LT_BIN_DIV: for (int64_t i = 0; i < n; i++) o[i] = a[i] / b[i]; return true;
    default: return false;
  }
}

static void binary_run(void *vctx, char **p, const int64_t *s, int64_t n) {
  binary_ctx *c = vctx;
  bool cmp = lt_binary_op_is_comparison(c->op);
  lt_dtype odt = cmp ? LT_BOOL : c->dt;
  if (c->dt == LT_FLOAT32 && !cmp) {
    if (binary_f32_fast(c->op, p, s, n)) return;
    for (int64_t i = 0; i < n; i++)
      AT(p[0], s[0], i, float) = (float)binary_f64(c->op, AT(p[1], s[1], i, float), AT(p[2], s[2], i, float));
  } else if (lt_dtype_is_floating(c->dt)) {
    for (int64_t i = 0; i < n; i++)
      lt_dtype_store_f64(p[0] + s[0] * i, odt,
                         binary_f64(c->op, lt_dtype_load_f64(p[1] + s[1] * i, c->dt), lt_dtype_load_f64(p[2] + s[2] * i, c->dt)));
  } else {
    for (int64_t i = 0; i < n; i++)
      lt_dtype_store_i64(p[0] + s[0] * i, odt,
                         binary_i64(c, lt_dtype_load_i64(p[1] + s[1] * i, c->dt), lt_dtype_load_i64(p[2] + s[2] * i, c->dt)));
  }
}

lt_status lt_cpu_binary(lt_binary_op op, lt_tensor *out, const lt_tensor *a, const lt_tensor *b) {
  binary_ctx c;
  c.op = op;
  c.dt = a->dtype;
  atomic_init(&c.div_by_zero, 0);
  const lt_tensor *ops[3] = {out, a, b};
  lt_cpu_foreach(3, ops, out->ndim, out->shape, &c, binary_run);
  if (atomic_load(&c.div_by_zero)) return lt_error_set(LT_ERR_ARG, 2, "integer division by zero");
  return LT_OK;
}

/* --- where ------------------------------------------------------------------- */
static void where_run(void *vctx, char **p, const int64_t *s, int64_t n) {
  size_t es = *(const size_t *)vctx;
  for (int64_t i = 0; i < n; i++)
    memcpy(p[0] + s[0] * i, *(const uint8_t *)(p[1] + s[1] * i) ? p[2] + s[2] * i : p[3] + s[3] * i, es);
}

lt_status lt_cpu_where(lt_tensor *out, const lt_tensor *cond, const lt_tensor *a, const lt_tensor *b) {
  size_t es = lt_dtype_size(out->dtype);
  const lt_tensor *ops[4] = {out, cond, a, b};
  lt_cpu_foreach(4, ops, out->ndim, out->shape, &es, where_run);
  return LT_OK;
}
