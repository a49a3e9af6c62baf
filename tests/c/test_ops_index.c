/* test_ops_index.c — the index ops at the C level (0-based indices): the
 * backward formulas the autograd layer is to use, checked as exact adjoint
 * identities in float64 (for a linear op f with backward b:
 * <f(x), g> == <x, b(g)>), the helpers only C callers see (index_add_,
 * cumsum_reverse, scatter_value_, the _base forms), and the argument numbers
 * and 1-based positions that errors carry.
 * Lua-level behaviour is tested in tests/lua/test_index.lua. */
#include <string.h>

#include "lt_ops.h"
#include "lt_test.h"

static lt_tensor *randn(int ndim, const int64_t *shape) {
  lt_tensor *t = NULL;
  if (lt_op_rand(LT_RAND_NORMAL, ndim, shape, 0, 1, LT_FLOAT64, lt_cpu_device(), &t) != LT_OK) return NULL;
  return t;
}

static lt_tensor *randidx(int64_t high, int ndim, const int64_t *shape) {
  lt_tensor *t = NULL;
  if (lt_op_randint(0, high, ndim, shape, LT_INT64, lt_cpu_device(), &t) != LT_OK) return NULL;
  return t;
}

static lt_tensor *zeros_like(const lt_tensor *x) {
  lt_tensor *t = NULL;
  if (lt_tensor_zeros(x->ndim, x->shape, x->dtype, lt_cpu_device(), &t) != LT_OK) return NULL;
  return t;
}

static lt_tensor *from_i64(int ndim, const int64_t *shape, const int64_t *v) {
  lt_tensor *t = NULL;
  if (lt_tensor_empty(ndim, shape, LT_INT64, lt_cpu_device(), &t) != LT_OK) return NULL;
  memcpy(lt_tensor_data(t), v, sizeof(int64_t) * (size_t)lt_tensor_numel(t));
  return t;
}

/* sum of a*b over equal shapes (any strides) */
static double dot(lt_tensor *a, lt_tensor *b) {
  lt_tensor *ac = NULL, *bc = NULL;
  lt_op_contiguous(a, &ac);
  lt_op_contiguous(b, &bc);
  double s = 0;
  for (int64_t i = 0; i < lt_tensor_numel(ac); i++)
    s += lt_dtype_load_f64((char *)lt_tensor_data(ac) + 8 * i, ac->dtype) *
         lt_dtype_load_f64((char *)lt_tensor_data(bc) + 8 * i, bc->dtype);
  lt_tensor_release(ac);
  lt_tensor_release(bc);
  return s;
}

static void test_gather_adjoint(void) {
  int64_t xs[3] = {3, 4, 5};
  lt_tensor *x = randn(3, xs);
  for (int d = 0; d < 3; d++) {
    int64_t is[3] = {2, 3, 4};
    is[d] = 6; /* longer than x along dim: repeats */
    lt_tensor *idx = randidx(xs[d], 3, is), *g = randn(3, is), *y = NULL, *gx = zeros_like(x);
    LT_CHECK(lt_op_gather(x, d, idx, &y) == LT_OK);
    LT_CHECK(lt_op_scatter_add_(gx, d, idx, g) == LT_OK);
    LT_CHECK_CLOSE(dot(y, g), dot(x, gx), 1e-12);
    lt_tensor_release(idx); lt_tensor_release(g); lt_tensor_release(y); lt_tensor_release(gx);
  }
  lt_tensor_release(x);
}

static void test_index_select_adjoint(void) {
  int64_t xs[3] = {3, 4, 5};
  lt_tensor *x = randn(3, xs);
  for (int d = 0; d < 3; d++) {
    int64_t m = 7, ys[3] = {3, 4, 5};
    ys[d] = m;
    lt_tensor *idx = randidx(xs[d], 1, &m), *g = randn(3, ys), *y = NULL, *gx = zeros_like(x);
    LT_CHECK(lt_op_index_select(x, d, idx, &y) == LT_OK);
    LT_CHECK(lt_op_index_add_(gx, d, idx, g) == LT_OK);
    LT_CHECK_CLOSE(dot(y, g), dot(x, gx), 1e-12);
    lt_tensor_release(idx); lt_tensor_release(g); lt_tensor_release(y); lt_tensor_release(gx);
  }
  lt_tensor_release(x);
}

static void test_cumsum_adjoint(void) {
  int64_t xs[3] = {4, 3, 6};
  lt_tensor *x = randn(3, xs), *g = randn(3, xs);
  for (int d = 0; d < 3; d++) {
    lt_tensor *y = NULL, *gx = NULL;
    LT_CHECK(lt_op_cumsum(x, d, &y) == LT_OK);
    LT_CHECK(lt_op_cumsum_reverse(g, d, &gx) == LT_OK);
    LT_CHECK_CLOSE(dot(y, g), dot(x, gx), 1e-12);
    lt_tensor_release(y); lt_tensor_release(gx);
  }
  /* reverse by hand: [1,2,3] -> [6,5,3] */
  int64_t n = 3, v[3] = {1, 2, 3};
  lt_tensor *a = from_i64(1, &n, v), *r = NULL;
  LT_CHECK(lt_op_cumsum_reverse(a, 0, &r) == LT_OK);
  const int64_t *rv = lt_tensor_data(r);
  LT_CHECK(rv[0] == 6 && rv[1] == 5 && rv[2] == 3);
  lt_tensor_release(a); lt_tensor_release(r);
  lt_tensor_release(x); lt_tensor_release(g);
}

static void test_cat_stack_adjoint(void) {
  int64_t as[2] = {3, 2}, bs[2] = {3, 5}, ys[2] = {3, 7};
  lt_tensor *a = randn(2, as), *b = randn(2, bs), *g = randn(2, ys), *y = NULL;
  lt_tensor *ts[2] = {a, b};
  LT_CHECK(lt_op_cat(2, ts, 1, &y) == LT_OK);
  lt_tensor *ga = NULL, *gb = NULL;
  LT_CHECK(lt_tensor_narrow(g, 1, 0, 2, &ga) == LT_OK);
  LT_CHECK(lt_tensor_narrow(g, 1, 2, 5, &gb) == LT_OK);
  LT_CHECK_CLOSE(dot(y, g), dot(a, ga) + dot(b, gb), 1e-12);
  lt_tensor_release(y); lt_tensor_release(ga); lt_tensor_release(gb); lt_tensor_release(g);
  /* stack at dim 1: the gradient of input i is g.select(1, i) */
  int64_t ss[3] = {3, 2, 5};
  lt_tensor *c = randn(2, bs), *gs = randn(3, ss), *s = NULL, *g0 = NULL, *g1 = NULL;
  lt_tensor *st[2] = {b, c};
  LT_CHECK(lt_op_stack(2, st, 1, &s) == LT_OK);
  LT_CHECK(lt_tensor_select(gs, 1, 0, &g0) == LT_OK);
  LT_CHECK(lt_tensor_select(gs, 1, 1, &g1) == LT_OK);
  LT_CHECK_CLOSE(dot(s, gs), dot(b, g0) + dot(c, g1), 1e-12);
  lt_tensor_release(s); lt_tensor_release(g0); lt_tensor_release(g1); lt_tensor_release(gs); lt_tensor_release(c);
  lt_tensor_release(a); lt_tensor_release(b);
}

/* sort/topk values are x gathered at the indices: the gradient scatters back */
static void test_sort_topk_adjoint(void) {
  int64_t xs[2] = {5, 40};
  lt_tensor *x = randn(2, xs);
  for (int d = 0; d < 2; d++) {
    lt_tensor *v = NULL, *i = NULL, *g = randn(2, xs), *gx = zeros_like(x);
    LT_CHECK(lt_op_sort(x, d, d == 1, &v, &i) == LT_OK);
    LT_CHECK(lt_op_scatter_(gx, d, i, g) == LT_OK);
    LT_CHECK_CLOSE(dot(v, g), dot(x, gx), 1e-12);
    lt_tensor_release(v); lt_tensor_release(i); lt_tensor_release(g); lt_tensor_release(gx);
  }
  for (int64_t k = 1; k <= 40; k += 13) {
    int64_t ks[2] = {5, k};
    lt_tensor *v = NULL, *i = NULL, *g = randn(2, ks), *gx = zeros_like(x);
    LT_CHECK(lt_op_topk(x, k, 1, true, true, &v, &i) == LT_OK);
    LT_CHECK(lt_op_scatter_add_(gx, 1, i, g) == LT_OK);
    LT_CHECK_CLOSE(dot(v, g), dot(x, gx), 1e-12);
    /* values are descending along the line */
    bool desc = true;
    for (int64_t r = 0; r < 5; r++)
      for (int64_t j = 1; j < k; j++)
        desc = desc && ((double *)lt_tensor_data(v))[r * k + j - 1] >= ((double *)lt_tensor_data(v))[r * k + j];
    LT_CHECK(desc);
    lt_tensor_release(v); lt_tensor_release(i); lt_tensor_release(g); lt_tensor_release(gx);
  }
  lt_tensor_release(x);
}

static void test_c_api_and_errors(void) {
  int64_t n = 10, one = 1, bad_v = 10;
  lt_tensor *x = NULL, *bad = from_i64(1, &one, &bad_v), *y = NULL;
  LT_CHECK(lt_op_arange(0, 10, 1, LT_FLOAT32, lt_cpu_device(), &x) == LT_OK);
  LT_CHECK(lt_tensor_numel(x) == n);
  /* 0-based index 10 is Lua's 11 */
  LT_CHECK(lt_op_index_select(x, 0, bad, &y) == LT_ERR_ARG);
  LT_CHECK(lt_error_arg() == 3);
  LT_CHECK(strstr(lt_error_message(), "index 11 is out of range for dimension 1 of size 10") != NULL);
  LT_CHECK(y == NULL);
  /* scatter_value_: in place, 0-based */
  int64_t iv = 3;
  lt_tensor *i3 = from_i64(1, &one, &iv);
  LT_CHECK(lt_op_scatter_value_(x, 0, i3, -1) == LT_OK);
  LT_CHECK(((float *)lt_tensor_data(x))[3] == -1.0f && ((float *)lt_tensor_data(x))[4] == 4.0f);
  LT_CHECK(lt_op_scatter_value_(x, 0, bad, 7) == LT_ERR_ARG);
  LT_CHECK(lt_error_arg() == 3);
  /* topk's k and dim positions */
  lt_tensor *v = NULL, *i = NULL;
  LT_CHECK(lt_op_topk(x, 11, 0, true, true, &v, &i) == LT_ERR_ARG);
  LT_CHECK(lt_error_arg() == 2);
  LT_CHECK(lt_op_topk(x, 1, 1, true, true, &v, &i) == LT_ERR_ARG);
  LT_CHECK(lt_error_arg() == 3);
  LT_CHECK(v == NULL && i == NULL);
  /* one_hot from 0-based labels, inferred class count */
  int64_t lv[3] = {2, 0, 2}, three = 3;
  lt_tensor *labels = from_i64(1, &three, lv), *oh = NULL;
  LT_CHECK(lt_op_one_hot(labels, -1, &oh) == LT_OK);
  LT_CHECK(oh && oh->ndim == 2 && oh->shape[1] == 3);
  const int64_t *o = lt_tensor_data(oh);
  LT_CHECK(o[2] == 1 && o[0] == 0 && o[3] == 1 && o[8] == 1 && o[4] == 0);
  /* cat across devices is impossible on a CPU-only build; an empty list is not */
  lt_tensor *c = NULL;
  LT_CHECK(lt_op_cat(0, NULL, 0, &c) == LT_ERR_ARG && lt_error_arg() == 1);
  lt_tensor_release(oh); lt_tensor_release(labels);
  lt_tensor_release(i3); lt_tensor_release(x); lt_tensor_release(bad);
}

/* the _base forms: 1-based positions in and out, the same results */
static void test_base_forms(void) {
  int64_t xs[2] = {4, 6}, is[2] = {4, 3};
  lt_tensor *x = randn(2, xs), *i0 = randidx(6, 2, is), *i1 = NULL, *a = NULL, *b = NULL;
  LT_CHECK(lt_op_binary_scalar(LT_BIN_ADD, i0, 1, LT_INT64, false, &i1) == LT_OK);
  LT_CHECK(lt_op_gather(x, 1, i0, &a) == LT_OK);
  LT_CHECK(lt_op_gather_base(x, 1, i1, 1, &b) == LT_OK);
  LT_CHECK(memcmp(lt_tensor_data(a), lt_tensor_data(b), 8 * 12) == 0);
  lt_tensor *g0 = zeros_like(x), *g1 = zeros_like(x);
  LT_CHECK(lt_op_scatter_add_(g0, 1, i0, a) == LT_OK);
  LT_CHECK(lt_op_scatter_base_(g1, 1, i1, 1, a, true) == LT_OK);
  LT_CHECK(memcmp(lt_tensor_data(g0), lt_tensor_data(g1), 8 * 24) == 0);
  lt_tensor *v = NULL, *p0 = NULL, *p1 = NULL;
  LT_CHECK(lt_op_sort(x, 1, false, NULL, &p0) == LT_OK);
  LT_CHECK(lt_op_sort_base(x, 1, false, 1, &v, &p1) == LT_OK);
  bool plus_one = true;
  for (int k = 0; k < 24; k++) plus_one = plus_one && ((int64_t *)lt_tensor_data(p1))[k] == ((int64_t *)lt_tensor_data(p0))[k] + 1;
  LT_CHECK(plus_one);
  /* a message reports the 1-based position whatever the base */
  int64_t one = 1, seven = 7, zero = 0;
  lt_tensor *bad1 = from_i64(1, &one, &seven), *bad0 = from_i64(1, &one, &zero), *o = NULL;
  LT_CHECK(lt_op_index_select_base(x, 1, bad1, 1, &o) == LT_ERR_ARG);
  LT_CHECK(strstr(lt_error_message(), "index 7 is out of range for dimension 2 of size 6") != NULL);
  LT_CHECK(lt_op_index_select_base(x, 1, bad0, 1, &o) == LT_ERR_ARG);
  LT_CHECK(strstr(lt_error_message(), "index 0 is out of range for dimension 2 of size 6") != NULL);
  LT_CHECK(lt_op_index_select(x, 1, bad0, &o) == LT_OK);
  lt_tensor_release(o);
  lt_tensor *labels = from_i64(1, &one, &seven), *oh = NULL;
  LT_CHECK(lt_op_one_hot_base(labels, 1, 7, &oh) == LT_OK && oh->shape[1] == 7 && ((int64_t *)lt_tensor_data(oh))[6] == 1);
  lt_tensor_release(oh);
  LT_CHECK(lt_op_one_hot_base(labels, 1, 6, &oh) == LT_ERR_ARG);
  LT_CHECK(strstr(lt_error_message(), "class label 7 is out of range for 6 classes (expected 1..6)") != NULL);
  lt_tensor_release(labels); lt_tensor_release(bad1); lt_tensor_release(bad0);
  lt_tensor_release(v); lt_tensor_release(p0); lt_tensor_release(p1);
  lt_tensor_release(g0); lt_tensor_release(g1);
  lt_tensor_release(x); lt_tensor_release(i0); lt_tensor_release(i1); lt_tensor_release(a); lt_tensor_release(b);
}

int main(void) {
  test_base_forms();
  test_gather_adjoint();
  test_index_select_adjoint();
  test_cumsum_adjoint();
  test_cat_stack_adjoint();
  test_sort_topk_adjoint();
  test_c_api_and_errors();
  return lt_test_done();
}
