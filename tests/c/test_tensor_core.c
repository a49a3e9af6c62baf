/* test_tensor_core.c — the tensor core below the Lua glue: storage and tensor
 * reference counts, contiguous strides, every view function (view with its
 * stride rules, narrow, select, transpose, permute, squeeze, unsqueeze,
 * expand, as_strided bounds), broadcasting, the contiguity and overlap
 * predicates, the 16-bit float conversions and every dtype pair through
 * lt_op_to, the Philox known-answer vectors, thread-count independence of
 * rand, and the core's error messages (argument numbers, 1-based wording).
 * Values are checked element by element through the strides, so a view with
 * a wrong stride or offset fails even when its shape is right.
 *
 * It is long because it is one case per view function and dtype pair; they
 * share the stride-walking checkers at the top, so they stay in one file. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_backend.h"
#include "lt_cpu_iter.h"
#include "lt_ops.h"
#include "lt_philox.h"
#include "lt_test.h"

static const lt_device CPU = {LT_CPU, 0};

static int has(const char *msg, const char *words) {
  if (strstr(msg, words)) return 1;
  fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", msg, words);
  return 0;
}

/* An error was recorded with this status, argument and words. */
static int err_is(lt_status st, lt_status want, int arg, const char *words) {
  if (st != want) { fprintf(stderr, "  status %d, expected %d (%s)\n", st, want, lt_error_message()); return 0; }
  if (lt_error_arg() != arg) { fprintf(stderr, "  arg %d, expected %d (%s)\n", lt_error_arg(), arg, lt_error_message()); return 0; }
  return has(lt_error_message(), words);
}

/* A float64 tensor holding 0, 1, 2, ... in row-major order. */
static lt_tensor *iota(int ndim, const int64_t *shape) {
  lt_tensor *t = NULL;
  if (lt_tensor_empty(ndim, shape, LT_FLOAT64, CPU, &t) != LT_OK) return NULL;
  double *p = lt_tensor_data(t);
  for (int64_t i = 0, n = lt_tensor_numel(t); i < n; i++) p[i] = (double)i;
  return t;
}

/* Element at a multi-index, read through offset and strides. */
static double at(const lt_tensor *t, const int64_t *idx) {
  int64_t off = t->offset;
  for (int i = 0; i < t->ndim; i++) off += idx[i] * t->stride[i];
  return lt_dtype_load_f64((const char *)t->storage->data + off * (int64_t)lt_dtype_size(t->dtype), t->dtype);
}
static double at2(const lt_tensor *t, int64_t i, int64_t j) { int64_t x[2] = {i, j}; return at(t, x); }
static double at3(const lt_tensor *t, int64_t i, int64_t j, int64_t k) { int64_t x[3] = {i, j, k}; return at(t, x); }

static int shape_is(const lt_tensor *t, int ndim, const int64_t *shape) {
  if (t->ndim != ndim) return 0;
  for (int i = 0; i < ndim; i++) if (t->shape[i] != shape[i]) return 0;
  return 1;
}
static int strides_are(const lt_tensor *t, const int64_t *stride) {
  for (int i = 0; i < t->ndim; i++) if (t->shape[i] != 1 && t->stride[i] != stride[i]) return 0;
  return 1;
}

/* Row-major walk: element k of a view equals f(k) for every k. */
static int values_are(const lt_tensor *t, const double *want) {
  int64_t idx[LT_MAX_DIMS] = {0}, n = lt_tensor_numel(t);
  for (int64_t k = 0; k < n; k++) {
    if (at(t, idx) != want[k]) {
      fprintf(stderr, "  element %lld is %g, expected %g\n", (long long)k, at(t, idx), want[k]);
      return 0;
    }
    for (int d = t->ndim - 1; d >= 0; d--) {
      if (++idx[d] < t->shape[d]) break;
      idx[d] = 0;
    }
  }
  return 1;
}

/* ---------------------------------------------------------------- life cycle */

static void test_refcounts(void) {
  size_t base = lt_storage_bytes_in_use(LT_CPU);
  lt_storage *s = NULL;
  LT_CHECK(lt_storage_new(CPU, 100, &s) == LT_OK);
  LT_CHECK(lt_storage_refcount(s) == 1 && s->nbytes == 100 && s->owns_data);
  LT_CHECK(lt_storage_bytes_in_use(LT_CPU) == base + 100);
  lt_storage_retain(s);
  LT_CHECK(lt_storage_refcount(s) == 2);
  lt_storage_release(s);
  LT_CHECK(lt_storage_refcount(s) == 1);
  lt_storage_release(s);
  LT_CHECK(lt_storage_bytes_in_use(LT_CPU) == base);
  lt_storage_release(NULL); /* harmless */

  /* wrapped memory is not counted and not freed */
  float buf[4] = {1, 2, 3, 4};
  LT_CHECK(lt_storage_wrap(CPU, buf, sizeof buf, &s) == LT_OK);
  LT_CHECK(!s->owns_data && lt_storage_bytes_in_use(LT_CPU) == base);
  int64_t shape[1] = {4}, stride[1] = {1};
  lt_tensor *w = NULL;
  LT_CHECK(lt_tensor_from_storage(s, 0, 1, shape, stride, LT_FLOAT32, &w) == LT_OK);
  LT_CHECK(lt_storage_refcount(s) == 2);
  lt_storage_release(s);
  LT_CHECK(((float *)lt_tensor_data(w))[2] == 3);
  lt_tensor_release(w);
  LT_CHECK(buf[3] == 4);

  /* views hold the storage; the last release frees it */
  int64_t sh[2] = {3, 4};
  lt_tensor *t = NULL, *v = NULL, *a = NULL;
  LT_CHECK(lt_tensor_empty(2, sh, LT_FLOAT32, CPU, &t) == LT_OK);
  LT_CHECK(lt_storage_bytes_in_use(LT_CPU) == base + 48);
  LT_CHECK(lt_tensor_transpose(t, 0, 1, &v) == LT_OK);
  LT_CHECK(lt_tensor_alias(v, &a) == LT_OK);
  LT_CHECK(v->storage == t->storage && a->storage == t->storage);
  LT_CHECK(lt_storage_refcount(t->storage) == 3);
  lt_tensor_retain(t);
  LT_CHECK(lt_tensor_refcount(t) == 2);
  lt_tensor_release(t);
  lt_tensor_release(t);
  LT_CHECK(lt_storage_bytes_in_use(LT_CPU) == base + 48);
  LT_CHECK(lt_storage_refcount(v->storage) == 2);
  lt_tensor_release(v);
  lt_tensor_release(a);
  LT_CHECK(lt_storage_bytes_in_use(LT_CPU) == base);
  lt_tensor_release(NULL);

  /* empty tensors still have a (0-byte) storage */
  int64_t z[2] = {0, 5};
  LT_CHECK(lt_tensor_zeros(2, z, LT_FLOAT64, CPU, &t) == LT_OK);
  LT_CHECK(t->storage != NULL && t->storage->nbytes == 0 && lt_tensor_numel(t) == 0);
  lt_tensor_release(t);

  /* 0-d */
  LT_CHECK(lt_tensor_zeros(0, NULL, LT_INT64, CPU, &t) == LT_OK);
  LT_CHECK(t->ndim == 0 && lt_tensor_numel(t) == 1 && *(int64_t *)lt_tensor_data(t) == 0);
  lt_tensor_release(t);
  LT_CHECK(lt_storage_bytes_in_use(LT_CPU) == base);
}

static void test_contiguous_strides(void) {
  int64_t st[LT_MAX_DIMS];
  int64_t s1[3] = {2, 3, 4};
  lt_contiguous_strides(3, s1, st);
  LT_CHECK(st[0] == 12 && st[1] == 4 && st[2] == 1);
  int64_t s2[4] = {2, 1, 3, 1};
  lt_contiguous_strides(4, s2, st);
  LT_CHECK(st[0] == 3 && st[1] == 3 && st[2] == 1 && st[3] == 1);
  int64_t s3[3] = {2, 0, 3}; /* PyTorch: (3, 3, 1) */
  lt_contiguous_strides(3, s3, st);
  LT_CHECK(st[0] == 3 && st[1] == 3 && st[2] == 1);
  lt_contiguous_strides(0, NULL, st); /* nothing to write */

  char buf[64];
  LT_CHECK(strcmp(lt_shape_str(3, s1, buf, sizeof buf), "[2,3,4]") == 0);
  LT_CHECK(strcmp(lt_shape_str(0, NULL, buf, sizeof buf), "[]") == 0);
  char tiny[5];
  lt_shape_str(3, s1, tiny, sizeof tiny); /* truncated, still terminated */
  LT_CHECK(strlen(tiny) == 4 && strncmp(tiny, "[2,3", 4) == 0);
}

/* --------------------------------------------------------------------- views */

static void test_view(void) {
  int64_t sh[3] = {2, 3, 4};
  lt_tensor *a = iota(3, sh), *v = NULL, *b = NULL;

  /* -1 is inferred */
  int64_t s1[2] = {-1, 6};
  LT_CHECK(lt_tensor_view(a, 2, s1, &v) == LT_OK);
  int64_t e1[2] = {4, 6}, st1[2] = {6, 1};
  LT_CHECK(shape_is(v, 2, e1) && strides_are(v, st1) && v->storage == a->storage);
  LT_CHECK(at2(v, 3, 5) == 23 && at2(v, 1, 0) == 6);
  lt_tensor_release(v);
  int64_t s2[1] = {-1};
  LT_CHECK(lt_tensor_view(a, 1, s2, &v) == LT_OK && v->shape[0] == 24);
  lt_tensor_release(v);
  int64_t s0[4] = {1, 24, 1, 1};
  LT_CHECK(lt_tensor_view(a, 4, s0, &v) == LT_OK);
  LT_CHECK(at(v, (int64_t[]){0, 17, 0, 0}) == 17);
  lt_tensor_release(v);

  /* errors: two -1, bad count, negative sizes */
  int64_t bad1[2] = {-1, -1};
  LT_CHECK(err_is(lt_tensor_view(a, 2, bad1, &v), LT_ERR_ARG, 2, "only one dimension can be -1"));
  int64_t bad2[2] = {5, -1};
  LT_CHECK(err_is(lt_tensor_view(a, 2, bad2, &v), LT_ERR_ARG, 2, "shape [5,-1] is incompatible with 24 elements"));
  int64_t bad3[2] = {5, 5};
  LT_CHECK(err_is(lt_tensor_view(a, 2, bad3, &v), LT_ERR_ARG, 2, "shape [5,5] is incompatible with 24 elements"));
  int64_t bad4[2] = {-2, -12};
  LT_CHECK(err_is(lt_tensor_view(a, 2, bad4, &v), LT_ERR_ARG, 2, "negative size -2"));
  int64_t huge[3] = {INT64_C(1) << 40, INT64_C(1) << 40, 0}; /* product overflows int64 before the 0 */
  LT_CHECK(err_is(lt_tensor_view(a, 3, huge, &v), LT_ERR_ARG, 2, "incompatible with 24 elements"));
  int64_t huge2[3] = {INT64_C(1) << 40, INT64_C(1) << 40, -1};
  LT_CHECK(err_is(lt_tensor_view(a, 3, huge2, &v), LT_ERR_ARG, 2, "incompatible with 24 elements"));

  /* non-contiguous input, PyTorch's rules: b = a.transpose(0,1) is [3,2,4]
   * with strides [4,12,1]; dims 0 and 1 cannot merge, dim 2 can split. */
  LT_CHECK(lt_tensor_transpose(a, 0, 1, &b) == LT_OK);
  int64_t ok1[4] = {3, 2, 2, 2};
  LT_CHECK(lt_tensor_view(b, 4, ok1, &v) == LT_OK);
  int64_t ok1st[4] = {4, 12, 2, 1};
  LT_CHECK(strides_are(v, ok1st) && v->storage == a->storage);
  LT_CHECK(at(v, (int64_t[]){2, 1, 1, 0}) == 12 + 8 + 2);
  lt_tensor_release(v);
  int64_t ok2[4] = {3, 1, 2, 4}; /* a size-1 dim inserted anywhere */
  LT_CHECK(lt_tensor_view(b, 4, ok2, &v) == LT_OK);
  LT_CHECK(at(v, (int64_t[]){1, 0, 1, 3}) == 4 + 12 + 3);
  lt_tensor_release(v);
  int64_t no1[2] = {6, 4};
  LT_CHECK(err_is(lt_tensor_view(b, 2, no1, &v), LT_ERR_ARG, 2,
                  "view of shape [6,4] is not compatible with the strides of a tensor of shape [3,2,4] (use reshape)"));
  int64_t no2[2] = {3, 8};
  LT_CHECK(err_is(lt_tensor_view(b, 2, no2, &v), LT_ERR_ARG, 2, "use reshape"));
  int64_t no3[1] = {-1};
  LT_CHECK(err_is(lt_tensor_view(b, 1, no3, &v), LT_ERR_ARG, 2, "use reshape"));
  lt_tensor_release(b);

  /* a narrowed last dim: [2,3,2] strides [12,4,1]; dims 0,1 merge (12 == 4*3) */
  LT_CHECK(lt_tensor_narrow(a, 2, 1, 2, &b) == LT_OK);
  int64_t ok3[2] = {6, 2};
  LT_CHECK(lt_tensor_view(b, 2, ok3, &v) == LT_OK);
  int64_t ok3st[2] = {4, 1};
  LT_CHECK(strides_are(v, ok3st) && at2(v, 5, 1) == 22 && at2(v, 0, 0) == 1);
  lt_tensor_release(v);
  int64_t ok4[3] = {2, 3, 2};
  LT_CHECK(lt_tensor_view(b, 3, ok4, &v) == LT_OK);
  lt_tensor_release(v);
  int64_t no4[1] = {12};
  LT_CHECK(err_is(lt_tensor_view(b, 1, no4, &v), LT_ERR_ARG, 2, "use reshape"));
  int64_t no5[2] = {3, 4};
  LT_CHECK(err_is(lt_tensor_view(b, 2, no5, &v), LT_ERR_ARG, 2, "use reshape"));
  /* reshape copies where view cannot, and keeps the values */
  LT_CHECK(lt_op_reshape(b, 1, no4, &v) == LT_OK);
  LT_CHECK(v->storage != a->storage && lt_tensor_is_contiguous(v));
  double want[12] = {1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22};
  LT_CHECK(values_are(v, want));
  lt_tensor_release(v);
  /* ... but a count mismatch stays an error */
  LT_CHECK(err_is(lt_op_reshape(b, 2, bad3, &v), LT_ERR_ARG, 2, "incompatible with 12 elements"));
  lt_tensor_release(b);

  /* an expanded tensor: [3,1] -> [3,4] strides [1,0] */
  int64_t c31[2] = {3, 1}, e34[2] = {3, 4};
  lt_tensor *c = iota(2, c31);
  LT_CHECK(lt_tensor_expand(c, 2, e34, &b) == LT_OK);
  int64_t ok5[3] = {3, 2, 2};
  LT_CHECK(lt_tensor_view(b, 3, ok5, &v) == LT_OK);
  LT_CHECK(v->stride[0] == 1 && v->stride[1] == 0 && v->stride[2] == 0 && at3(v, 2, 1, 1) == 2);
  lt_tensor_release(v);
  LT_CHECK(err_is(lt_tensor_view(b, 1, no4, &v), LT_ERR_ARG, 2, "use reshape"));
  lt_tensor_release(b);
  lt_tensor_release(c);

  /* empty tensors view freely; -1 next to a 0 is ambiguous */
  int64_t e0[2] = {0, 3};
  lt_tensor *z = iota(2, e0);
  int64_t z1[3] = {3, 0, 5};
  LT_CHECK(lt_tensor_view(z, 3, z1, &v) == LT_OK && lt_tensor_numel(v) == 0);
  lt_tensor_release(v);
  int64_t z2[2] = {0, -1};
  LT_CHECK(err_is(lt_tensor_view(z, 2, z2, &v), LT_ERR_ARG, 2, "incompatible with 0 elements"));
  lt_tensor_release(z);

  /* 0-d <-> [1] */
  lt_tensor *s = NULL;
  LT_CHECK(lt_op_full(0, NULL, 7, LT_FLOAT64, CPU, &s) == LT_OK);
  int64_t one[1] = {1};
  LT_CHECK(lt_tensor_view(s, 1, one, &v) == LT_OK && v->shape[0] == 1 && at(v, (int64_t[]){0}) == 7);
  lt_tensor *back = NULL;
  LT_CHECK(lt_tensor_view(v, 0, NULL, &back) == LT_OK && back->ndim == 0);
  lt_tensor_release(back);
  lt_tensor_release(v);
  lt_tensor_release(s);
  lt_tensor_release(a);
}

/* view() against an oracle: a view of shape S exists iff the storage
 * offsets of the old tensor's elements, in row-major order, are an affine
 * function of the new multi-index. Random small geometries (gaps, transposes,
 * size-1 dims with odd strides, stride-0 dims) and random target shapes. */
static uint64_t rng_state = 88172645463325252ULL;
static int rnd(int n) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (int)(rng_state % (uint64_t)n);
}

static void test_view_oracle(void) {
  int64_t big[1] = {4096};
  lt_tensor *base = iota(1, big);
  int mismatches = 0, views = 0, refusals = 0;
  for (int trial = 0; trial < 4000; trial++) {
    int nd = 1 + rnd(4);
    int64_t shape[4], stride[4], numel = 1;
    for (int i = 0; i < nd; i++) { shape[i] = 1 + rnd(3); numel *= shape[i]; }
    /* strides: contiguous for a random permutation of the dims, then maybe
     * a gap, a zero or an arbitrary value on one dim */
    int perm[4] = {0, 1, 2, 3};
    for (int i = nd - 1; i > 0; i--) { int j = rnd(i + 1), t = perm[i]; perm[i] = perm[j]; perm[j] = t; }
    int64_t run = 1;
    for (int i = nd - 1; i >= 0; i--) { stride[perm[i]] = run; run *= shape[perm[i]] + (rnd(3) == 0); }
    if (rnd(3) == 0) stride[rnd(nd)] = rnd(2) ? 0 : rnd(7);
    lt_tensor *t = NULL;
    if (lt_tensor_as_strided(base, nd, shape, stride, rnd(5), &t) != LT_OK) { mismatches++; continue; }
    /* a random target shape with the same numel */
    int64_t ns[LT_MAX_DIMS];
    int nn = 0;
    int64_t left = numel;
    while (left > 1 && nn < 5) {
      int64_t f = 2;
      while (left % f) f++;
      if (rnd(2)) { ns[nn++] = f; left /= f; }
      else if (nn > 0 && rnd(2)) { ns[nn - 1] *= f; left /= f; }
      else ns[nn++] = 1;
    }
    if (left > 1) { if (nn < LT_MAX_DIMS) ns[nn++] = left; else ns[nn - 1] *= left; }
    if (rnd(3) == 0 && nn < LT_MAX_DIMS) { int at = rnd(nn + 1); memmove(ns + at + 1, ns + at, sizeof(int64_t) * (size_t)(nn - at)); ns[at] = 1; nn++; }
    /* the oracle */
    double addr[81];
    int64_t idx[4] = {0};
    for (int64_t k = 0; k < numel; k++) {
      int64_t off = t->offset;
      for (int i = 0; i < nd; i++) off += idx[i] * t->stride[i];
      addr[k] = (double)off;
      for (int d = nd - 1; d >= 0; d--) { if (++idx[d] < shape[d]) break; idx[d] = 0; }
    }
    int64_t step[LT_MAX_DIMS], cand[LT_MAX_DIMS], st = 1;
    for (int d = nn - 1; d >= 0; d--) { step[d] = st; st *= ns[d]; }
    for (int d = 0; d < nn; d++) cand[d] = ns[d] > 1 ? (int64_t)(addr[step[d]] - addr[0]) : 0;
    bool affine = true;
    for (int64_t k = 0; k < numel && affine; k++) {
      int64_t r = k, off = (int64_t)addr[0];
      for (int d = 0; d < nn; d++) { off += (r / step[d]) * cand[d]; r %= step[d]; }
      if ((double)off != addr[k]) affine = false;
    }
    lt_tensor *v = NULL;
    lt_status s = lt_tensor_view(t, nn, ns, &v);
    if (affine != (s == LT_OK)) {
      mismatches++;
      char b1[64], b2[64], b3[64];
      fprintf(stderr, "  view of %s strides %s as %s: oracle %d, view %d\n", lt_shape_str(nd, shape, b1, sizeof b1),
              lt_shape_str(nd, stride, b2, sizeof b2), lt_shape_str(nn, ns, b3, sizeof b3), affine, s == LT_OK);
    } else if (s == LT_OK) {
      views++;
      double want[81];
      for (int64_t k = 0; k < numel; k++) want[k] = addr[k];
      if (!values_are(v, want)) mismatches++; /* base holds i at offset i */
    } else {
      refusals++;
      if (!strstr(lt_error_message(), "use reshape")) mismatches++;
    }
    lt_tensor_release(v);
    lt_tensor_release(t);
  }
  LT_CHECK(mismatches == 0);
  LT_CHECK(views > 1000 && refusals > 200); /* both outcomes were exercised */
  lt_tensor_release(base);
}

static void test_narrow_select(void) {
  int64_t sh[2] = {4, 5};
  lt_tensor *a = iota(2, sh), *v = NULL, *w = NULL;
  LT_CHECK(lt_tensor_narrow(a, 1, 1, 3, &v) == LT_OK);
  int64_t e[2] = {4, 3};
  LT_CHECK(shape_is(v, 2, e) && v->offset == 1 && at2(v, 2, 2) == 13 && !lt_tensor_is_contiguous(v));
  LT_CHECK(lt_tensor_narrow(v, 0, 3, 1, &w) == LT_OK && at2(w, 0, 0) == 16 && w->offset == 16);
  lt_tensor_release(w);
  LT_CHECK(lt_tensor_narrow(v, 0, 4, 0, &w) == LT_OK && w->shape[0] == 0); /* empty at the end */
  lt_tensor_release(w);
  lt_tensor_release(v);
  LT_CHECK(err_is(lt_tensor_narrow(a, 1, 6, 0, &v), LT_ERR_ARG, 3, "start 7 out of range for dimension 2 of size 5"));
  LT_CHECK(err_is(lt_tensor_narrow(a, 1, -1, 1, &v), LT_ERR_ARG, 3, "start 0 out of range"));
  LT_CHECK(err_is(lt_tensor_narrow(a, 1, 2, 4, &v), LT_ERR_ARG, 4, "length 4 from start 3 exceeds dimension 2 of size 5"));
  LT_CHECK(err_is(lt_tensor_narrow(a, 1, 2, -1, &v), LT_ERR_ARG, 4, "length -1"));
  LT_CHECK(err_is(lt_tensor_narrow(a, 2, 0, 1, &v), LT_ERR_ARG, 2, "dimension 3 out of range"));

  LT_CHECK(lt_tensor_select(a, 0, 2, &v) == LT_OK);
  LT_CHECK(v->ndim == 1 && v->shape[0] == 5 && at(v, (int64_t[]){4}) == 14);
  LT_CHECK(lt_tensor_select(v, 0, 1, &w) == LT_OK && w->ndim == 0 && at(w, NULL) == 11);
  lt_tensor *x = NULL;
  LT_CHECK(err_is(lt_tensor_select(w, 0, 0, &x), LT_ERR_ARG, 1, "cannot index a 0-d tensor") && x == NULL);
  lt_tensor_release(w);
  lt_tensor_release(v);
  LT_CHECK(lt_tensor_select(a, 1, 4, &v) == LT_OK && v->stride[0] == 5 && at(v, (int64_t[]){3}) == 19);
  lt_tensor_release(v);
  LT_CHECK(err_is(lt_tensor_select(a, 1, 5, &v), LT_ERR_ARG, 3, "index 6 out of range for dimension 2 of size 5"));
  LT_CHECK(err_is(lt_tensor_select(a, 0, -1, &v), LT_ERR_ARG, 3, "index 0 out of range for dimension 1 of size 4"));
  LT_CHECK(err_is(lt_tensor_select(a, 2, 0, &v), LT_ERR_ARG, 2, "dimension 3 out of range (expected 1..2 or -2..-1)"));
  LT_CHECK(lt_tensor_select(a, -1, 2, &v) == LT_OK && v->shape[0] == 4 && at(v, (int64_t[]){3}) == 17); /* negative dims wrap */
  lt_tensor_release(v);
  lt_tensor_release(a);
}

static void test_transpose_permute(void) {
  int64_t sh[3] = {2, 3, 4};
  lt_tensor *a = iota(3, sh), *v = NULL, *w = NULL;
  LT_CHECK(lt_tensor_transpose(a, 0, 2, &v) == LT_OK);
  int64_t e[3] = {4, 3, 2}, st[3] = {1, 4, 12};
  LT_CHECK(shape_is(v, 3, e) && strides_are(v, st) && at3(v, 3, 1, 1) == 12 + 4 + 3);
  LT_CHECK(!lt_tensor_is_contiguous(v) && lt_tensor_is_non_overlapping(v));
  LT_CHECK(lt_tensor_transpose(v, 2, 0, &w) == LT_OK && lt_tensor_is_contiguous(w));
  lt_tensor_release(w);
  LT_CHECK(lt_tensor_transpose(a, 1, 1, &w) == LT_OK && lt_tensor_is_contiguous(w));
  lt_tensor_release(w);
  lt_tensor_release(v);
  LT_CHECK(err_is(lt_tensor_transpose(a, 0, 3, &v), LT_ERR_ARG, 3, "dimension 4 out of range"));

  int perm[3] = {1, 2, 0};
  LT_CHECK(lt_tensor_permute(a, perm, &v) == LT_OK);
  int64_t pe[3] = {3, 4, 2}, pst[3] = {4, 1, 12};
  LT_CHECK(shape_is(v, 3, pe) && strides_are(v, pst) && at3(v, 2, 3, 1) == 12 + 8 + 3);
  lt_tensor_release(v);
  int dup[3] = {0, 0, 1};
  LT_CHECK(err_is(lt_tensor_permute(a, dup, &v), LT_ERR_ARG, 2, "dims must be a permutation of 1..3"));
  int out[3] = {0, 1, 3};
  LT_CHECK(err_is(lt_tensor_permute(a, out, &v), LT_ERR_ARG, 2, "permutation"));
  /* 0-d: transpose is the identity */
  lt_tensor *s = NULL;
  LT_CHECK(lt_op_full(0, NULL, 3, LT_FLOAT32, CPU, &s) == LT_OK);
  LT_CHECK(lt_tensor_transpose(s, 0, 0, &v) == LT_OK && v->ndim == 0);
  lt_tensor_release(v);
  LT_CHECK(lt_tensor_permute(s, NULL, &v) == LT_OK && v->ndim == 0);
  lt_tensor_release(v);
  lt_tensor_release(s);
  lt_tensor_release(a);
}

static void test_squeeze_unsqueeze(void) {
  int64_t sh[4] = {1, 3, 1, 2};
  lt_tensor *a = iota(4, sh), *v = NULL, *w = NULL;
  LT_CHECK(lt_tensor_squeeze(a, -1, &v) == LT_OK);
  int64_t e[2] = {3, 2};
  LT_CHECK(shape_is(v, 2, e) && at2(v, 2, 1) == 5);
  lt_tensor_release(v);
  LT_CHECK(lt_tensor_squeeze(a, 2, &v) == LT_OK);
  int64_t e2[3] = {1, 3, 2};
  LT_CHECK(shape_is(v, 3, e2));
  lt_tensor_release(v);
  LT_CHECK(lt_tensor_squeeze(a, 1, &v) == LT_OK && v->ndim == 4); /* not size 1: unchanged */
  lt_tensor_release(v);
  LT_CHECK(err_is(lt_tensor_squeeze(a, 4, &v), LT_ERR_ARG, 2, "dimension 5 out of range"));

  int64_t s2[2] = {3, 4};
  lt_tensor *b = iota(2, s2);
  LT_CHECK(lt_tensor_unsqueeze(b, 0, &v) == LT_OK);
  int64_t u0[3] = {1, 3, 4};
  LT_CHECK(shape_is(v, 3, u0) && lt_tensor_is_contiguous(v) && at3(v, 0, 2, 3) == 11);
  lt_tensor_release(v);
  LT_CHECK(lt_tensor_unsqueeze(b, 1, &v) == LT_OK);
  int64_t u1[3] = {3, 1, 4};
  LT_CHECK(shape_is(v, 3, u1) && lt_tensor_is_contiguous(v) && at3(v, 1, 0, 2) == 6);
  lt_tensor_release(v);
  LT_CHECK(lt_tensor_unsqueeze(b, 2, &v) == LT_OK);
  int64_t u2[3] = {3, 4, 1};
  LT_CHECK(shape_is(v, 3, u2) && lt_tensor_is_contiguous(v) && at3(v, 2, 1, 0) == 9);
  LT_CHECK(lt_tensor_squeeze(v, 2, &w) == LT_OK && shape_is(w, 2, s2));
  lt_tensor_release(w);
  lt_tensor_release(v);
  LT_CHECK(err_is(lt_tensor_unsqueeze(b, 3, &v), LT_ERR_ARG, 2, "dimension 4 out of range (expected 1..3)"));
  /* unsqueeze of a transposed tensor keeps the values */
  LT_CHECK(lt_tensor_transpose(b, 0, 1, &w) == LT_OK);
  LT_CHECK(lt_tensor_unsqueeze(w, 1, &v) == LT_OK && at3(v, 3, 0, 2) == 11 && lt_tensor_is_non_overlapping(v));
  lt_tensor_release(v);
  lt_tensor_release(w);
  /* at most LT_MAX_DIMS */
  int64_t s8[8] = {1, 1, 1, 1, 1, 1, 1, 2};
  lt_tensor *c = iota(8, s8);
  LT_CHECK(err_is(lt_tensor_unsqueeze(c, 0, &v), LT_ERR_ARG, 1, "already has 8 dimensions"));
  lt_tensor_release(c);
  lt_tensor_release(b);
  lt_tensor_release(a);
}

static void test_expand(void) {
  int64_t sh[2] = {3, 1};
  lt_tensor *a = iota(2, sh), *v = NULL;
  int64_t e1[3] = {2, 3, 4};
  LT_CHECK(lt_tensor_expand(a, 3, e1, &v) == LT_OK);
  LT_CHECK(shape_is(v, 3, e1) && v->stride[0] == 0 && v->stride[1] == 1 && v->stride[2] == 0);
  LT_CHECK(at3(v, 1, 2, 3) == 2 && !lt_tensor_is_non_overlapping(v) && !lt_tensor_is_contiguous(v));
  lt_tensor_release(v);
  int64_t e2[2] = {-1, 5};
  LT_CHECK(lt_tensor_expand(a, 2, e2, &v) == LT_OK && v->shape[0] == 3 && v->shape[1] == 5);
  lt_tensor_release(v);
  int64_t e3[2] = {3, 0}; /* a size-1 dim may expand to 0 */
  LT_CHECK(lt_tensor_expand(a, 2, e3, &v) == LT_OK && lt_tensor_numel(v) == 0);
  lt_tensor_release(v);
  int64_t bad1[2] = {4, 4};
  LT_CHECK(err_is(lt_tensor_expand(a, 2, bad1, &v), LT_ERR_ARG, 2, "cannot expand shape [3,1] to [4,4]"));
  int64_t bad2[1] = {3};
  LT_CHECK(err_is(lt_tensor_expand(a, 1, bad2, &v), LT_ERR_ARG, 2, "cannot expand a tensor of shape [3,1] to 1 dimensions"));
  int64_t bad3[3] = {-1, 3, 1};
  LT_CHECK(err_is(lt_tensor_expand(a, 3, bad3, &v), LT_ERR_ARG, 2, "new leading dimension"));
  int64_t bad4[2] = {3, -2};
  LT_CHECK(err_is(lt_tensor_expand(a, 2, bad4, &v), LT_ERR_ARG, 2, "cannot expand shape [3,1] to [3,-2]"));
  int64_t bad5[4] = {INT64_C(1) << 31, INT64_C(1) << 31, 3, INT64_C(1) << 31}; /* numel overflows int64 */
  LT_CHECK(err_is(lt_tensor_expand(a, 4, bad5, &v), LT_ERR_ARG, 2, "too large"));
  lt_tensor_release(a);
}

static void test_as_strided(void) {
  int64_t sh[1] = {10};
  lt_tensor *a = iota(1, sh), *v = NULL, *w = NULL;
  int64_t s1[2] = {3, 3}, st1[2] = {3, 1};
  LT_CHECK(lt_tensor_as_strided(a, 2, s1, st1, 1, &v) == LT_OK && at2(v, 2, 2) == 9 && at2(v, 1, 0) == 4);
  lt_tensor_release(v);
  /* overlapping windows are allowed (read-only use) */
  int64_t s2[2] = {4, 3}, st2[2] = {2, 1};
  LT_CHECK(lt_tensor_as_strided(a, 2, s2, st2, 0, &v) == LT_OK && at2(v, 3, 2) == 8);
  LT_CHECK(!lt_tensor_is_non_overlapping(v));
  /* in-place writes into it are refused */
  LT_CHECK(err_is(lt_op_fill_(v, 1), LT_ERR_ARG, 1, "overlap"));
  lt_tensor_release(v);
  /* one past the end, negative offset, negative stride, negative size */
  LT_CHECK(err_is(lt_tensor_as_strided(a, 2, s1, st1, 2, &v), LT_ERR_ARG, 0,
                  "view reaches element 10 of a storage of 10 elements"));
  LT_CHECK(err_is(lt_tensor_as_strided(a, 2, s1, st1, -1, &v), LT_ERR_ARG, 4, "negative storage offset -1"));
  int64_t z[2] = {0, 3};
  LT_CHECK(err_is(lt_tensor_as_strided(a, 2, z, st1, -1, &v), LT_ERR_ARG, 4, "negative storage offset"));
  int64_t stn[2] = {-1, 1};
  LT_CHECK(err_is(lt_tensor_as_strided(a, 2, s1, stn, 5, &v), LT_ERR_ARG, 3, "negative stride -1"));
  int64_t sn[2] = {-3, 3};
  LT_CHECK(err_is(lt_tensor_as_strided(a, 2, sn, st1, 0, &v), LT_ERR_ARG, 2, "negative size -3"));
  /* huge strides must not overflow into "in bounds" */
  int64_t s3[2] = {3, 2}, st3[2] = {INT64_MAX / 2, INT64_MAX / 2};
  LT_CHECK(err_is(lt_tensor_as_strided(a, 2, s3, st3, 0, &v), LT_ERR_ARG, 0, "view reaches"));
  int64_t s4[1] = {INT64_MAX}, st4[1] = {2};
  LT_CHECK(err_is(lt_tensor_as_strided(a, 1, s4, st4, 0, &v), LT_ERR_ARG, 0, "view reaches"));
  /* an empty window anywhere inside is fine; any size with stride 0 too */
  LT_CHECK(lt_tensor_as_strided(a, 2, z, st1, 10, &v) == LT_OK);
  lt_tensor_release(v);
  int64_t s5[1] = {1000}, st5[1] = {0};
  LT_CHECK(lt_tensor_as_strided(a, 1, s5, st5, 9, &v) == LT_OK && at(v, (int64_t[]){999}) == 9);
  lt_tensor_release(v);
  /* views of views are checked against the storage, not the view */
  LT_CHECK(lt_tensor_narrow(a, 0, 2, 3, &v) == LT_OK);
  LT_CHECK(lt_tensor_as_strided(v, 1, s1, st1 + 1, 7, &w) == LT_OK && at(w, (int64_t[]){2}) == 9);
  lt_tensor_release(w);
  lt_tensor_release(v);
  lt_tensor_release(a);
}

static void test_broadcast(void) {
  int n;
  int64_t out[LT_MAX_DIMS];
  int64_t a[2] = {3, 1}, b[1] = {4};
  LT_CHECK(lt_broadcast_shape(2, a, 1, b, &n, out) == LT_OK && n == 2 && out[0] == 3 && out[1] == 4);
  int64_t c[3] = {2, 1, 5}, d[2] = {7, 1};
  LT_CHECK(lt_broadcast_shape(3, c, 2, d, &n, out) == LT_OK && n == 3 && out[0] == 2 && out[1] == 7 && out[2] == 5);
  LT_CHECK(lt_broadcast_shape(0, NULL, 2, d, &n, out) == LT_OK && n == 2 && out[0] == 7 && out[1] == 1);
  LT_CHECK(lt_broadcast_shape(0, NULL, 0, NULL, &n, out) == LT_OK && n == 0);
  int64_t e[2] = {0, 1}, f[1] = {3};
  LT_CHECK(lt_broadcast_shape(2, e, 1, f, &n, out) == LT_OK && out[0] == 0 && out[1] == 3);
  int64_t g[1] = {1}, h[1] = {0};
  LT_CHECK(lt_broadcast_shape(1, g, 1, h, &n, out) == LT_OK && out[0] == 0);
  int64_t x[2] = {2, 3}, y[2] = {3, 2};
  LT_CHECK(err_is(lt_broadcast_shape(2, x, 2, y, &n, out), LT_ERR_ARG, 2, "shapes [2,3] and [3,2] cannot be broadcast together"));
}

static void test_predicates(void) {
  int64_t sh[3] = {2, 3, 4};
  lt_tensor *a = iota(3, sh), *v = NULL;
  LT_CHECK(lt_tensor_is_contiguous(a) && lt_tensor_is_non_overlapping(a));
  /* size-1 dims may have any stride */
  int64_t s1[3] = {1, 3, 1}, st1[3] = {99, 1, 7};
  LT_CHECK(lt_tensor_as_strided(a, 3, s1, st1, 0, &v) == LT_OK && lt_tensor_is_contiguous(v));
  lt_tensor_release(v);
  /* gaps: non-contiguous but non-overlapping */
  int64_t s2[2] = {3, 2}, st2[2] = {4, 2};
  LT_CHECK(lt_tensor_as_strided(a, 2, s2, st2, 0, &v) == LT_OK);
  LT_CHECK(!lt_tensor_is_contiguous(v) && lt_tensor_is_non_overlapping(v));
  lt_tensor_release(v);
  /* interleaved: [2,2] strides [1,1] overlaps */
  int64_t s3[2] = {2, 2}, st3[2] = {1, 1};
  LT_CHECK(lt_tensor_as_strided(a, 2, s3, st3, 0, &v) == LT_OK && !lt_tensor_is_non_overlapping(v));
  lt_tensor_release(v);
  /* [3,3] strides [2,4]: offsets {0,2,4}+{0,4,8} collide (2*2 == 1*4) */
  int64_t s4[2] = {3, 3}, st4[2] = {2, 4};
  LT_CHECK(lt_tensor_as_strided(a, 2, s4, st4, 0, &v) == LT_OK && !lt_tensor_is_non_overlapping(v));
  lt_tensor_release(v);
  /* empty tensors are contiguous and non-overlapping whatever the strides */
  int64_t s5[2] = {0, 3}, st5[2] = {0, 0};
  LT_CHECK(lt_tensor_as_strided(a, 2, s5, st5, 0, &v) == LT_OK);
  LT_CHECK(lt_tensor_is_contiguous(v) && lt_tensor_is_non_overlapping(v));
  lt_tensor_release(v);
  lt_tensor_release(a);
}

static void test_wrap_dim(void) {
  int d = -7;
  LT_CHECK(lt_wrap_dim(-1, 3, 2, &d) == LT_OK && d == 2);
  LT_CHECK(lt_wrap_dim(0, 3, 2, &d) == LT_OK && d == 0);
  LT_CHECK(lt_wrap_dim(-3, 3, 2, &d) == LT_OK && d == 0);
  LT_CHECK(lt_wrap_dim(0, 0, 2, &d) == LT_OK && d == 0); /* a 0-d tensor has one "dim" */
  LT_CHECK(err_is(lt_wrap_dim(3, 3, 2, &d), LT_ERR_ARG, 2, "dimension 4 out of range (expected 1..3 or -3..-1)"));
  LT_CHECK(err_is(lt_wrap_dim(-4, 3, 5, &d), LT_ERR_ARG, 5, "dimension -4 out of range"));
}

/* ---------------------------------------------------------------------- dtypes */

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static void test_bf16(void) {
  LT_CHECK(lt_f32_to_bf16(1.0f) == 0x3f80);
  LT_CHECK(lt_f32_to_bf16(-2.0f) == 0xc000);
  LT_CHECK(lt_f32_to_bf16(0.0f) == 0x0000 && lt_f32_to_bf16(-0.0f) == 0x8000);
  /* round to nearest, ties to even */
  LT_CHECK(lt_f32_to_bf16(u2f(0x3f808000)) == 0x3f80); /* tie, even below */
  LT_CHECK(lt_f32_to_bf16(u2f(0x3f818000)) == 0x3f82); /* tie, odd below: up */
  LT_CHECK(lt_f32_to_bf16(u2f(0x3f808001)) == 0x3f81); /* above the tie */
  LT_CHECK(lt_f32_to_bf16(u2f(0x3f807fff)) == 0x3f80); /* below the tie */
  LT_CHECK(lt_f32_to_bf16(u2f(0xbf818000)) == 0xbf82); /* sign symmetric */
  /* rounding carries into the exponent */
  LT_CHECK(lt_f32_to_bf16(u2f(0x3fffffff)) == 0x4000);
  /* overflow: the largest floats round to infinity */
  LT_CHECK(lt_f32_to_bf16(u2f(0x7f7fffff)) == 0x7f80);
  LT_CHECK(lt_f32_to_bf16(u2f(0x7f7f7fff)) == 0x7f7f);
  LT_CHECK(lt_f32_to_bf16(INFINITY) == 0x7f80 && lt_f32_to_bf16(-INFINITY) == 0xff80);
  /* NaN stays NaN (even a payload only in the low bits), quiet, sign kept */
  LT_CHECK(lt_f32_to_bf16(u2f(0x7fc00000)) == 0x7fc0);
  uint16_t n1 = lt_f32_to_bf16(u2f(0x7f800001));
  LT_CHECK((n1 & 0x7f80) == 0x7f80 && (n1 & 0x7f) != 0 && (n1 & 0x40));
  uint16_t n2 = lt_f32_to_bf16(u2f(0xffffffff));
  LT_CHECK((n2 & 0x7f80) == 0x7f80 && (n2 & 0x7f) != 0 && (n2 & 0x8000));
  LT_CHECK(isnan(lt_bf16_to_f32(0x7fc1)) && isinf(lt_bf16_to_f32(0xff80)) && lt_bf16_to_f32(0xff80) < 0);
  /* subnormals */
  LT_CHECK(lt_f32_to_bf16(u2f(0x00010000)) == 0x0001);
  LT_CHECK(lt_f32_to_bf16(u2f(0x00018000)) == 0x0002); /* tie, odd below */
  LT_CHECK(lt_f32_to_bf16(u2f(0x00008000)) == 0x0000); /* tie, even below (zero) */
  LT_CHECK(lt_f32_to_bf16(u2f(0x00008001)) == 0x0001);
  LT_CHECK(f2u(lt_bf16_to_f32(0x0001)) == 0x00010000);
  /* round trip of every bf16 value that is not NaN */
  int bad = 0;
  for (uint32_t h = 0; h < 0x10000; h++) {
    float f = lt_bf16_to_f32((uint16_t)h);
    if (!isnan(f) && lt_f32_to_bf16(f) != h) bad++;
  }
  LT_CHECK(bad == 0);
}

static void test_f16(void) {
  LT_CHECK(lt_f32_to_f16(1.0f) == 0x3c00 && lt_f32_to_f16(-2.0f) == 0xc000);
  LT_CHECK(lt_f32_to_f16(0.0f) == 0 && lt_f32_to_f16(-0.0f) == 0x8000);
  LT_CHECK(lt_f32_to_f16(65504.0f) == 0x7bff);
  LT_CHECK(lt_f32_to_f16(65519.99f) == 0x7bff); /* below the rounding point */
  LT_CHECK(lt_f32_to_f16(65520.0f) == 0x7c00);  /* the tie rounds to even = inf */
  LT_CHECK(lt_f32_to_f16(1e6f) == 0x7c00 && lt_f32_to_f16(-1e6f) == 0xfc00);
  LT_CHECK(lt_f32_to_f16(INFINITY) == 0x7c00 && lt_f32_to_f16(-INFINITY) == 0xfc00);
  uint16_t n = lt_f32_to_f16(NAN);
  LT_CHECK((n & 0x7c00) == 0x7c00 && (n & 0x3ff) != 0);
  LT_CHECK((lt_f32_to_f16(-NAN) & 0x8000) != 0);
  /* ties to even in the normal range */
  LT_CHECK(lt_f32_to_f16(1.0f + 0x1p-11f) == 0x3c00);
  LT_CHECK(lt_f32_to_f16(1.0f + 3 * 0x1p-11f) == 0x3c02);
  LT_CHECK(lt_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f) == 0x3c01);
  LT_CHECK(lt_f32_to_f16(2047.5f) == 0x6800); /* a tie between 2047 (odd) and 2048: even = 2048 */
  LT_CHECK(lt_f32_to_f16(2046.5f) == 0x67fe); /* a tie between 2046 (even) and 2047 */
  /* subnormals: multiples of 2^-24 */
  LT_CHECK(lt_f32_to_f16(0x1p-24f) == 0x0001);
  LT_CHECK(lt_f32_to_f16(0x1p-25f) == 0x0000);         /* tie to even (0) */
  LT_CHECK(lt_f32_to_f16(0x1.8p-24f) == 0x0002);       /* tie to even (2) */
  LT_CHECK(lt_f32_to_f16(0x1.000002p-25f) == 0x0001);  /* just above the tie */
  LT_CHECK(lt_f32_to_f16(0x1p-14f) == 0x0400);         /* smallest normal */
  LT_CHECK(lt_f32_to_f16(0x1p-14f - 0x1p-25f) == 0x0400); /* tie at the top of the subnormals: even = normal */
  LT_CHECK(lt_f32_to_f16(1023 * 0x1p-24f) == 0x03ff);
  LT_CHECK(lt_f32_to_f16(-3 * 0x1p-24f) == 0x8003);
  LT_CHECK(lt_f32_to_f16(1e-10f) == 0);
  LT_CHECK(lt_f16_to_f32(0x0001) == 0x1p-24f && lt_f16_to_f32(0x03ff) == 1023 * 0x1p-24f);
  LT_CHECK(lt_f16_to_f32(0x7bff) == 65504.0f && isinf(lt_f16_to_f32(0x7c00)) && lt_f16_to_f32(0xfc00) < 0);
  LT_CHECK(isnan(lt_f16_to_f32(0x7e00)) && f2u(lt_f16_to_f32(0x8000)) == 0x80000000u);
  int bad = 0;
  for (uint32_t h = 0; h < 0x10000; h++) {
    float f = lt_f16_to_f32((uint16_t)h);
    if (!isnan(f) && lt_f32_to_f16(f) != h) bad++;
  }
  LT_CHECK(bad == 0);
  /* every float32 in [2^-26, 2^17) that rounds: compare with exact arithmetic */
  int wrong = 0;
  for (uint32_t u = 0x32800000u; u < 0x48000000u; u += 0x1f3u) {
    float f = u2f(u);
    uint16_t h = lt_f32_to_f16(f);
    double got = lt_f16_to_f32(h), lo = got, hi = got;
    /* the neighbours of the result bracket f, and f is nearer to got */
    if (h != 0x7c00) {
      hi = lt_f16_to_f32((uint16_t)(h + 1));
      if (h > 0) lo = lt_f16_to_f32((uint16_t)(h - 1));
      double d = fabs((double)f - got);
      if (d > fabs((double)f - hi) || (h > 0 && d > fabs((double)f - lo))) wrong++;
      if ((d == fabs((double)f - hi) || (h > 0 && d == fabs((double)f - lo))) && (h & 1)) wrong++; /* ties to even */
    } else if (f < 65520.0f) {
      wrong++;
    }
  }
  LT_CHECK(wrong == 0);
}

static void test_dtype_names(void) {
  lt_dtype d;
  LT_CHECK(lt_dtype_from_name("float32", &d) && d == LT_FLOAT32);
  LT_CHECK(lt_dtype_from_name("BF16", &d) && d == LT_BFLOAT16);
  LT_CHECK(lt_dtype_from_name("I64", &d) && d == LT_INT64);
  LT_CHECK(!lt_dtype_from_name("float", &d) && !lt_dtype_from_name("", &d));
  LT_CHECK(strcmp(lt_dtype_name(LT_FLOAT16), "float16") == 0 && strcmp(lt_dtype_st_name(LT_BOOL), "BOOL") == 0);
  LT_CHECK(strcmp(lt_dtype_name((lt_dtype)99), "?") == 0 && lt_dtype_size((lt_dtype)99) == 0);
  size_t sizes[LT_NDTYPES] = {4, 8, 8, 4, 1, 1, 2, 2};
  for (int i = 0; i < LT_NDTYPES; i++) LT_CHECK(lt_dtype_size((lt_dtype)i) == sizes[i]);
  LT_CHECK(lt_dtype_is_floating(LT_BFLOAT16) && lt_dtype_is_floating(LT_FLOAT16) && !lt_dtype_is_floating(LT_BOOL));
  LT_CHECK(lt_dtype_is_integral(LT_UINT8) && !lt_dtype_is_integral(LT_FLOAT64));
  /* promotion as PyTorch */
  LT_CHECK(lt_promote_types(LT_INT64, LT_FLOAT32) == LT_FLOAT32);
  LT_CHECK(lt_promote_types(LT_BOOL, LT_UINT8) == LT_UINT8);
  LT_CHECK(lt_promote_types(LT_INT32, LT_INT64) == LT_INT64);
  LT_CHECK(lt_promote_types(LT_BFLOAT16, LT_FLOAT16) == LT_FLOAT32);
  LT_CHECK(lt_promote_types(LT_INT64, LT_BFLOAT16) == LT_BFLOAT16);
  LT_CHECK(lt_promote_types(LT_FLOAT16, LT_FLOAT64) == LT_FLOAT64);
}

/* Type promotion with 0-d tensors and Lua numbers: the expectations are
 * PyTorch 1.13's result types for the same operands. */
static lt_dtype rt(lt_operand a, lt_operand b) {
  lt_operand ops[2] = {a, b};
  return lt_result_type(2, ops);
}

static void test_result_type(void) {
  lt_operand (*T)(lt_dtype, int) = lt_operand_tensor;
  lt_operand (*N)(lt_dtype) = lt_operand_number;
  /* a Lua number joins only with a higher category */
  LT_CHECK(rt(T(LT_INT64, 1), N(LT_FLOAT64)) == LT_FLOAT32);
  LT_CHECK(rt(T(LT_INT32, 1), N(LT_INT64)) == LT_INT32);
  LT_CHECK(rt(T(LT_UINT8, 2), N(LT_INT64)) == LT_UINT8);
  LT_CHECK(rt(T(LT_BOOL, 1), N(LT_INT64)) == LT_INT64);
  LT_CHECK(rt(T(LT_BOOL, 1), N(LT_BOOL)) == LT_BOOL);
  LT_CHECK(rt(T(LT_INT32, 1), N(LT_BOOL)) == LT_INT32);
  LT_CHECK(rt(T(LT_BFLOAT16, 1), N(LT_FLOAT64)) == LT_BFLOAT16);
  LT_CHECK(rt(T(LT_FLOAT16, 0), N(LT_FLOAT64)) == LT_FLOAT16);
  LT_CHECK(rt(T(LT_FLOAT64, 0), N(LT_FLOAT64)) == LT_FLOAT64);
  LT_CHECK(rt(T(LT_INT32, 0), N(LT_FLOAT64)) == LT_FLOAT32);
  /* a 0-d tensor joins only with a higher category, and then with its dtype */
  LT_CHECK(rt(T(LT_FLOAT32, 1), T(LT_FLOAT64, 0)) == LT_FLOAT32);
  LT_CHECK(rt(T(LT_FLOAT64, 0), T(LT_FLOAT32, 1)) == LT_FLOAT32);
  LT_CHECK(rt(T(LT_FLOAT16, 3), T(LT_FLOAT64, 0)) == LT_FLOAT16);
  LT_CHECK(rt(T(LT_INT64, 1), T(LT_FLOAT64, 0)) == LT_FLOAT64);
  LT_CHECK(rt(T(LT_UINT8, 1), T(LT_INT64, 0)) == LT_UINT8);
  LT_CHECK(rt(T(LT_INT32, 1), T(LT_INT64, 0)) == LT_INT32);
  LT_CHECK(rt(T(LT_BOOL, 1), T(LT_INT64, 0)) == LT_INT64);
  LT_CHECK(rt(T(LT_BOOL, 1), T(LT_FLOAT64, 0)) == LT_FLOAT64);
  /* within a level, the usual promotion */
  LT_CHECK(rt(T(LT_INT32, 0), T(LT_FLOAT64, 0)) == LT_FLOAT64);
  LT_CHECK(rt(T(LT_FLOAT16, 0), T(LT_FLOAT64, 0)) == LT_FLOAT64);
  LT_CHECK(rt(T(LT_UINT8, 1), T(LT_INT32, 1)) == LT_INT32);
  LT_CHECK(rt(N(LT_BOOL), N(LT_INT64)) == LT_INT64);
  LT_CHECK(rt(N(LT_FLOAT64), N(LT_INT64)) == LT_FLOAT32);
  /* three levels: int32[n], float64[], 2.5 -> the 0-d float64 wins over the number */
  lt_operand three[3] = {T(LT_INT32, 1), T(LT_FLOAT64, 0), N(LT_FLOAT64)};
  LT_CHECK(lt_result_type(3, three) == LT_FLOAT64);
  /* the default floating dtype decides for numbers */
  lt_dtype_set_default_float(LT_FLOAT64);
  LT_CHECK(rt(T(LT_INT64, 1), N(LT_FLOAT64)) == LT_FLOAT64);
  LT_CHECK(rt(T(LT_FLOAT32, 1), N(LT_FLOAT64)) == LT_FLOAT32);
  lt_dtype_set_default_float(LT_FLOAT32);
  /* in-place casts */
  LT_CHECK(lt_can_cast(LT_FLOAT64, LT_FLOAT32) && lt_can_cast(LT_INT64, LT_UINT8) && lt_can_cast(LT_BOOL, LT_BOOL));
  LT_CHECK(!lt_can_cast(LT_FLOAT32, LT_INT64) && !lt_can_cast(LT_INT64, LT_BOOL));
}

/* Every ordered pair of dtypes through lt_op_to, on values every dtype holds
 * exactly, from a non-contiguous source. */
static void test_to_all_pairs(void) {
  const double vals[6] = {0, 1, 2, 5, 100, 64};
  int bad = 0;
  for (int s = 0; s < LT_NDTYPES; s++) {
    /* a [6,2] buffer; the source is its column 1 (stride 2) */
    int64_t sh[2] = {6, 2};
    lt_tensor *buf = NULL, *src = NULL;
    lt_tensor_zeros(2, sh, (lt_dtype)s, CPU, &buf);
    lt_tensor_select(buf, 1, 1, &src);
    for (int i = 0; i < 6; i++)
      lt_dtype_store_f64((char *)lt_tensor_data(src) + i * 2 * (int64_t)lt_dtype_size(src->dtype), src->dtype, vals[i]);
    for (int d = 0; d < LT_NDTYPES; d++) {
      lt_tensor *dst = NULL;
      if (lt_op_to(src, (lt_dtype)d, CPU, &dst) != LT_OK) { bad++; continue; }
      if (dst->dtype != (lt_dtype)d || dst->ndim != 1 || dst->shape[0] != 6) bad++;
      if (s == d && dst != src) bad++; /* same dtype and device: the tensor itself */
      for (int i = 0; i < 6; i++) {
        double want = (s == LT_BOOL || d == LT_BOOL) ? (vals[i] != 0) : vals[i];
        double got = at(dst, (int64_t[]){i});
        if (got != want) {
          fprintf(stderr, "  %s -> %s: element %d is %g, expected %g\n", lt_dtype_name((lt_dtype)s),
                  lt_dtype_name((lt_dtype)d), i, got, want);
          bad++;
        }
      }
      lt_tensor_release(dst);
    }
    lt_tensor_release(src);
    lt_tensor_release(buf);
  }
  LT_CHECK(bad == 0);

  /* the lossy conversions, as PyTorch does them */
  double in[8] = {-2.7, 2.7, 255.0, 256.0, -1.0, 0.5, NAN, 1e10};
  int64_t n8[1] = {8};
  lt_tensor *f = NULL, *o = NULL;
  lt_tensor_empty(1, n8, LT_FLOAT64, CPU, &f);
  memcpy(lt_tensor_data(f), in, sizeof in);
  LT_CHECK(lt_op_to(f, LT_INT64, CPU, &o) == LT_OK);
  int64_t *pi = lt_tensor_data(o);
  LT_CHECK(pi[0] == -2 && pi[1] == 2 && pi[2] == 255 && pi[4] == -1 && pi[5] == 0 && pi[7] == 10000000000LL);
  lt_tensor_release(o);
  LT_CHECK(lt_op_to(f, LT_UINT8, CPU, &o) == LT_OK);
  uint8_t *pu = lt_tensor_data(o);
  LT_CHECK(pu[1] == 2 && pu[2] == 255 && pu[3] == 0 && pu[4] == 255); /* modular, as a C cast via int64 */
  lt_tensor_release(o);
  LT_CHECK(lt_op_to(f, LT_INT32, CPU, &o) == LT_OK);
  int32_t *p32 = lt_tensor_data(o);
  LT_CHECK(p32[0] == -2 && p32[7] == (int32_t)(uint32_t)10000000000ULL);
  lt_tensor_release(o);
  LT_CHECK(lt_op_to(f, LT_BOOL, CPU, &o) == LT_OK);
  uint8_t *pb = lt_tensor_data(o);
  LT_CHECK(pb[0] == 1 && pb[5] == 1 && pb[6] == 1); /* NaN is true */
  lt_tensor_release(o);
  LT_CHECK(lt_op_to(f, LT_FLOAT16, CPU, &o) == LT_OK);
  uint16_t *ph = lt_tensor_data(o);
  LT_CHECK(ph[7] == 0x7c00 && (ph[6] & 0x7c00) == 0x7c00 && (ph[6] & 0x3ff) && lt_f16_to_f32(ph[1]) == 2.69921875f);
  lt_tensor_release(o);
  LT_CHECK(lt_op_to(f, LT_BFLOAT16, CPU, &o) == LT_OK);
  ph = lt_tensor_data(o);
  LT_CHECK(lt_bf16_to_f32(ph[1]) == 2.703125f && lt_bf16_to_f32(ph[7]) == 9999220736.0f && isnan(lt_bf16_to_f32(ph[6])));
  lt_tensor_release(o);
  lt_tensor_release(f);
  /* int64 beyond 2^53 to float64 and back */
  int64_t big[2] = {INT64_C(9007199254740993), INT64_MIN};
  int64_t n2[1] = {2};
  lt_tensor_empty(1, n2, LT_INT64, CPU, &f);
  memcpy(lt_tensor_data(f), big, sizeof big);
  LT_CHECK(lt_op_to(f, LT_INT32, CPU, &o) == LT_OK);
  LT_CHECK(((int32_t *)lt_tensor_data(o))[0] == 1 && ((int32_t *)lt_tensor_data(o))[1] == 0);
  lt_tensor_release(o);
  LT_CHECK(lt_op_to(f, LT_FLOAT64, CPU, &o) == LT_OK && ((double *)lt_tensor_data(o))[1] == -9223372036854775808.0);
  lt_tensor_release(o);
  lt_tensor_release(f);
}

/* ---------------------------------------------------------------------- random */

static void test_philox(void) {
  const uint32_t c0[4] = {0, 0, 0, 0}, k0[2] = {0, 0};
  const uint32_t want0[4] = {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u};
  uint32_t out[4];
  lt_philox4x32_10(c0, k0, out);
  LT_CHECK(memcmp(out, want0, sizeof out) == 0);
  const uint32_t c1[4] = {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, k1[2] = {0xffffffffu, 0xffffffffu};
  const uint32_t want1[4] = {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu};
  lt_philox4x32_10(c1, k1, out);
  LT_CHECK(memcmp(out, want1, sizeof out) == 0);
  /* the block of (seed 0, counter 0) is the first vector */
  lt_philox_block(0, 0, out);
  LT_CHECK(memcmp(out, want0, sizeof out) == 0);
  /* counter and seed words land in the right places */
  uint32_t a[4], b[4];
  const uint32_t c2[4] = {5, 7, 0, 0}, k2[2] = {11, 13};
  lt_philox4x32_10(c2, k2, a);
  lt_philox_block((UINT64_C(13) << 32) | 11, (UINT64_C(7) << 32) | 5, b);
  LT_CHECK(memcmp(a, b, sizeof a) == 0);

  /* derived draws */
  LT_CHECK(lt_philox_uniform_f32(0) == 0.0f && lt_philox_uniform_f32(0xffffffffu) < 1.0f);
  LT_CHECK(lt_philox_uniform_f32(0xffffffffu) == 1.0f - 0x1p-24f);
  LT_CHECK(lt_philox_uniform_f64(0x80000000u) == 0.5 && lt_philox_uniform_f64(0xffffffffu) < 1.0);
  uint32_t blk[4] = {0x80000000u, 0, 0xffffffffu, 0x40000000u};
  double r = sqrt(-2.0 * log((0x80000000u + 0.5) / 4294967296.0));
  LT_CHECK_CLOSE(lt_philox_normal(blk, 0), r * cos(2 * M_PI * 0.5 / 4294967296.0), 1e-12);
  LT_CHECK_CLOSE(lt_philox_normal(blk, 1), r * sin(2 * M_PI * 0.5 / 4294967296.0), 1e-12);
  double r2 = sqrt(-2.0 * log((0xffffffffu + 0.5) / 4294967296.0));
  LT_CHECK_CLOSE(lt_philox_normal(blk, 2), r2 * cos(2 * M_PI * (0x40000000u + 0.5) / 4294967296.0), 1e-9);
  LT_CHECK(isfinite(lt_philox_normal((uint32_t[4]){0, 0, 0, 0}, 0))); /* u1 never 0 */

  /* the generator: reservations advance the offset */
  lt_rng_manual_seed(5);
  lt_rng *g = lt_rng_global();
  LT_CHECK(g->seed == 5 && g->offset == 0);
  LT_CHECK(lt_rng_reserve(g, 3) == 0 && lt_rng_reserve(g, 1) == 3 && g->offset == 4);
}

/* rand gives the same numbers whatever the thread count, and the numbers
 * the mapping in lt_philox.h promises. */
static void test_rand_threads(void) {
  int64_t n[1] = {300001}; /* odd, above the parallel threshold */
  const lt_rand_kind kinds[2] = {LT_RAND_UNIFORM, LT_RAND_NORMAL};
  const lt_dtype dts[3] = {LT_FLOAT32, LT_FLOAT64, LT_BFLOAT16};
  int saved = lt_cpu_num_threads();
  for (int k = 0; k < 2; k++)
    for (int d = 0; d < 3; d++) {
      lt_tensor *t1 = NULL, *t2 = NULL;
      lt_cpu_set_num_threads(1);
      lt_rng_manual_seed(1234);
      lt_rng_reserve(lt_rng_global(), 7);
      LT_CHECK(lt_op_rand(kinds[k], 1, n, -1, 3, dts[d], CPU, &t1) == LT_OK);
      LT_CHECK(lt_rng_global()->offset == 7 + (300001 + 3) / 4);
      lt_cpu_set_num_threads(2);
      lt_rng_manual_seed(1234);
      lt_rng_reserve(lt_rng_global(), 7);
      LT_CHECK(lt_op_rand(kinds[k], 1, n, -1, 3, dts[d], CPU, &t2) == LT_OK);
      LT_CHECK(memcmp(lt_tensor_data(t1), lt_tensor_data(t2), (size_t)n[0] * lt_dtype_size(dts[d])) == 0);
      /* spot checks against the documented mapping */
      for (int64_t i = 0; i < n[0]; i += 49999) {
        uint32_t w[4];
        lt_philox_block(1234, 7 + (uint64_t)i / 4, w);
        double want = kinds[k] == LT_RAND_NORMAL ? -1 + 3 * lt_philox_normal(w, (int)(i % 4))
                                                 : (dts[d] == LT_FLOAT32 ? (double)(-1.0f + 4.0f * lt_philox_uniform_f32(w[i % 4]))
                                                                         : -1 + 4 * lt_philox_uniform_f64(w[i % 4]));
        double got = at(t1, (int64_t[]){i});
        double tol = dts[d] == LT_BFLOAT16 ? 1e-2 : (dts[d] == LT_FLOAT32 ? 1e-6 : 0);
        LT_CHECK(fabs(got - want) <= tol * (1 + fabs(want)));
      }
      if (kinds[k] == LT_RAND_UNIFORM) {
        double lo = 1e9, hi = -1e9, sum = 0;
        for (int64_t i = 0; i < n[0]; i++) {
          double v = at(t1, (int64_t[]){i});
          lo = v < lo ? v : lo;
          hi = v > hi ? v : hi;
          sum += v;
        }
        LT_CHECK(lo >= -1 && hi <= 3 && fabs(sum / (double)n[0] - 1) < 0.02);
      }
      lt_tensor_release(t1);
      lt_tensor_release(t2);
    }
  lt_cpu_set_num_threads(saved);
  lt_tensor *t = NULL;
  LT_CHECK(err_is(lt_op_rand(LT_RAND_UNIFORM, 1, n, 0, 1, LT_INT64, CPU, &t), LT_ERR_ARG, 0,
                  "random floats need a floating dtype, got int64"));
}

static void test_randint_randperm(void) {
  lt_rng_manual_seed(3);
  int64_t sh[1] = {10000};
  lt_tensor *t = NULL;
  LT_CHECK(lt_op_randint(-3, 4, 1, sh, LT_INT64, CPU, &t) == LT_OK);
  int counts[7] = {0}, out = 0;
  for (int i = 0; i < 10000; i++) {
    int64_t v = ((int64_t *)lt_tensor_data(t))[i];
    if (v < -3 || v >= 4) out++;
    else counts[v + 3]++;
  }
  LT_CHECK(out == 0);
  for (int i = 0; i < 7; i++) LT_CHECK(counts[i] > 1200 && counts[i] < 1660);
  lt_tensor_release(t);
  LT_CHECK(err_is(lt_op_randint(5, 5, 1, sh, LT_INT64, CPU, &t), LT_ERR_ARG, 2, "high (5) must be greater than low (5)"));

  LT_CHECK(lt_op_randperm(1000, CPU, &t) == LT_OK);
  char seen[1000] = {0};
  int dup = 0, fixed = 0;
  for (int i = 0; i < 1000; i++) {
    int64_t v = ((int64_t *)lt_tensor_data(t))[i];
    if (v < 0 || v >= 1000 || seen[v]) dup++;
    else seen[v] = 1;
    if (v == i) fixed++;
  }
  LT_CHECK(dup == 0 && fixed < 10);
  lt_tensor_release(t);
  LT_CHECK(lt_op_randperm(0, CPU, &t) == LT_OK && lt_tensor_numel(t) == 0);
  lt_tensor_release(t);
  LT_CHECK(err_is(lt_op_randperm(-1, CPU, &t), LT_ERR_ARG, 1, "n must be non-negative, got -1"));
}

/* ------------------------------------------------------------ creation, errors */

static void test_creation(void) {
  lt_tensor *t = NULL;
  LT_CHECK(lt_op_arange(0, 1, 0.25, LT_FLOAT32, CPU, &t) == LT_OK && t->shape[0] == 4);
  LT_CHECK(((float *)lt_tensor_data(t))[3] == 0.75f);
  lt_tensor_release(t);
  LT_CHECK(lt_op_arange(5, 0, -2, LT_INT64, CPU, &t) == LT_OK && t->shape[0] == 3);
  LT_CHECK(((int64_t *)lt_tensor_data(t))[2] == 1);
  lt_tensor_release(t);
  LT_CHECK(lt_op_arange(3, 3, 1, LT_INT64, CPU, &t) == LT_OK && t->shape[0] == 0);
  lt_tensor_release(t);
  LT_CHECK(err_is(lt_op_arange(0, 1, 0, LT_FLOAT32, CPU, &t), LT_ERR_ARG, 3, "step must be non-zero"));
  LT_CHECK(err_is(lt_op_arange(0, INFINITY, 1, LT_FLOAT32, CPU, &t), LT_ERR_ARG, 1, "finite"));
  LT_CHECK(err_is(lt_op_arange(0, 1e15, 1, LT_FLOAT32, CPU, &t), LT_ERR_ARG, 2, "arange would have"));

  LT_CHECK(lt_op_linspace(-1, 1, 5, LT_FLOAT64, CPU, &t) == LT_OK);
  double *p = lt_tensor_data(t);
  LT_CHECK(p[0] == -1 && p[1] == -0.5 && p[2] == 0 && p[3] == 0.5 && p[4] == 1);
  lt_tensor_release(t);
  LT_CHECK(lt_op_linspace(3, 10, 1, LT_FLOAT64, CPU, &t) == LT_OK && ((double *)lt_tensor_data(t))[0] == 3);
  lt_tensor_release(t);
  LT_CHECK(lt_op_linspace(0, 10, 4, LT_INT64, CPU, &t) == LT_OK); /* 0, 3.33, 6.67, 10 truncated */
  int64_t *pi = lt_tensor_data(t);
  LT_CHECK(pi[0] == 0 && pi[1] == 3 && pi[2] == 6 && pi[3] == 10);
  lt_tensor_release(t);
  LT_CHECK(lt_op_linspace(0, 1, 0, LT_FLOAT32, CPU, &t) == LT_OK && t->shape[0] == 0);
  lt_tensor_release(t);
  LT_CHECK(err_is(lt_op_linspace(0, 1, -2, LT_FLOAT32, CPU, &t), LT_ERR_ARG, 3, "number of steps must be non-negative, got -2"));

  LT_CHECK(lt_op_eye(2, 3, LT_INT32, CPU, &t) == LT_OK);
  int32_t *pe = lt_tensor_data(t);
  LT_CHECK(pe[0] == 1 && pe[1] == 0 && pe[4] == 1 && pe[5] == 0 && pe[3] == 0);
  lt_tensor_release(t);
  LT_CHECK(lt_op_eye(0, 0, LT_FLOAT32, CPU, &t) == LT_OK && lt_tensor_numel(t) == 0);
  lt_tensor_release(t);
  LT_CHECK(err_is(lt_op_eye(-1, 2, LT_FLOAT32, CPU, &t), LT_ERR_ARG, 1, "n must be non-negative, got -1"));

  int64_t neg[2] = {2, -3}, s2[1] = {2};
  LT_CHECK(err_is(lt_tensor_empty(2, neg, LT_FLOAT32, CPU, &t), LT_ERR_ARG, 1, "negative size -3 in shape [2,-3]"));
  int64_t big[2] = {INT64_C(1000000000000000), INT64_C(1000000000000000)};
  LT_CHECK(err_is(lt_tensor_zeros(2, big, LT_FLOAT32, CPU, &t), LT_ERR_ARG, 1,
                  "shape [1000000000000000,1000000000000000] is too large"));
  int64_t big0[3] = {4, INT64_MAX, 0}; /* the running product overflows before the 0 (PyTorch refuses too) */
  LT_CHECK(err_is(lt_tensor_empty(3, big0, LT_FLOAT32, CPU, &t), LT_ERR_ARG, 1, "too large"));
  int64_t ok0[3] = {4, 0, INT64_C(1) << 50}; /* a 0 first: no elements, no bytes */
  LT_CHECK(lt_tensor_empty(3, ok0, LT_FLOAT32, CPU, &t) == LT_OK && lt_tensor_numel(t) == 0);
  lt_tensor_release(t);
  LT_CHECK(err_is(lt_tensor_empty(9, big, LT_FLOAT32, CPU, &t), LT_ERR_ARG, 1, "expected at most 8 dimensions, got 9"));
  LT_CHECK(err_is(lt_tensor_empty(1, big, (lt_dtype)42, CPU, &t), LT_ERR_ARG, 0, "invalid dtype 42"));
  lt_device cuda = {LT_CUDA, 0};
  if (!lt_backend_get(LT_CUDA))
    LT_CHECK(err_is(lt_tensor_empty(1, s2, LT_FLOAT32, cuda, &t), LT_ERR_RUNTIME, 0, "device 'cuda:0' is not available"));
  lt_device dev;
  LT_CHECK(lt_device_parse("cuda:3", &dev) == LT_OK && dev.type == LT_CUDA && dev.index == 3);
  LT_CHECK(err_is(lt_device_parse("gpu", &dev), LT_ERR_ARG, 0, "expected a device 'cpu', 'cuda' or 'cuda:N', got 'gpu'"));
  LT_CHECK(lt_device_parse("cuda:", &dev) == LT_ERR_ARG && lt_device_parse("cuda:1x", &dev) == LT_ERR_ARG);
}

static void test_op_errors(void) {
  int64_t s23[2] = {2, 3}, s32[2] = {3, 2}, s4[1] = {4};
  lt_tensor *a = iota(2, s23), *b = iota(2, s32), *c = iota(1, s4), *o = NULL;
  LT_CHECK(err_is(lt_op_binary(LT_BIN_ADD, a, b, &o), LT_ERR_ARG, 2, "shapes [2,3] and [3,2] cannot be broadcast together"));
  LT_CHECK(err_is(lt_op_binary_(LT_BIN_ADD, c, a), LT_ERR_ARG, 2, "cannot be broadcast"));
  int64_t s13[2] = {1, 3};
  lt_tensor *row = iota(2, s13);
  LT_CHECK(err_is(lt_op_binary_(LT_BIN_ADD, row, a), LT_ERR_ARG, 2, "in-place operand of shape [2,3] does not broadcast to shape [1,3]"));
  lt_tensor *ib = NULL;
  lt_op_to(a, LT_INT64, CPU, &ib);
  LT_CHECK(err_is(lt_op_binary_(LT_BIN_DIV, ib, ib), LT_ERR_ARG, 2, "in-place result of type float32 can't be stored in an int64 tensor"));
  LT_CHECK(err_is(lt_op_unary_(LT_UN_EXP, ib, NULL), LT_ERR_ARG, 1, "in-place result of type float32 can't be stored in an int64 tensor"));
  LT_CHECK(err_is(lt_op_binary_scalar(LT_BIN_REMAINDER, ib, 0, LT_INT64, false, &o), LT_ERR_ARG, 2, "integer division by zero"));
  LT_CHECK(err_is(lt_op_where(ib, a, a, &o), LT_ERR_ARG, 1, "condition must be a bool tensor, got int64"));
  LT_CHECK(err_is(lt_op_masked_fill_(a, ib, 0), LT_ERR_ARG, 2, "mask must be a bool tensor, got int64"));
  lt_tensor *mask = NULL;
  lt_op_full(1, s4, 1, LT_BOOL, CPU, &mask);
  LT_CHECK(err_is(lt_op_masked_fill_(a, mask, 0), LT_ERR_ARG, 2, "mask of shape [4] does not broadcast to shape [2,3]"));
  LT_CHECK(err_is(lt_op_copy_(a, c), LT_ERR_ARG, 2, "source of shape [4] cannot be broadcast to destination shape [2,3]"));
  /* in-place on an expanded view */
  lt_tensor *e = NULL;
  int64_t e43[2] = {4, 3};
  lt_tensor_expand(row, 2, e43, &e);
  LT_CHECK(err_is(lt_op_binary_scalar_(LT_BIN_MUL, e, 2, LT_INT64), LT_ERR_ARG, 1, "overlap"));
  LT_CHECK(err_is(lt_op_unary_(LT_UN_NEG, e, NULL), LT_ERR_ARG, 1, "overlap"));
  LT_CHECK(err_is(lt_op_copy_(e, row), LT_ERR_ARG, 1, "overlap"));
  lt_tensor_release(e);
  /* reductions */
  int d5 = 5, dd[2] = {1, 1};
  LT_CHECK(err_is(lt_op_reduce(LT_RED_SUM, a, 1, &d5, false, 0, &o, NULL), LT_ERR_ARG, 2, "dimension 6 out of range for a 2-d tensor"));
  LT_CHECK(err_is(lt_op_reduce(LT_RED_SUM, a, 2, dd, false, 0, &o, NULL), LT_ERR_ARG, 2, "dimension 2 appears twice"));
  LT_CHECK(err_is(lt_op_reduce(LT_RED_MEAN, ib, 0, NULL, false, 0, &o, NULL), LT_ERR_ARG, 1,
                  "mean needs a floating-point tensor, got int64 (convert with :float())"));
  int64_t s0[2] = {0, 3};
  lt_tensor *z = iota(2, s0);
  int d0 = 0;
  LT_CHECK(err_is(lt_op_reduce(LT_RED_MAX, z, 1, &d0, false, 0, &o, NULL), LT_ERR_ARG, 1, "max of an empty tensor"));
  /* matmul */
  LT_CHECK(err_is(lt_op_matmul(a, a, &o), LT_ERR_ARG, 2, "shapes [2,3] and [2,3] cannot be multiplied (inner sizes 3 and 2 differ)"));
  LT_CHECK(err_is(lt_op_mm(c, a, &o), LT_ERR_ARG, 1, "expected a 2-D tensor, got shape [4]"));
  LT_CHECK(err_is(lt_op_bmm(a, a, &o), LT_ERR_ARG, 1, "expected a 3-D tensor, got shape [2,3]"));
  int64_t s223[3] = {2, 2, 3}, s334[3] = {3, 3, 4};
  lt_tensor *b3a = iota(3, s223), *b3b = iota(3, s334);
  LT_CHECK(err_is(lt_op_matmul(b3a, b3b, &o), LT_ERR_ARG, 2,
                  "batch dimensions of shapes [2,2,3] and [3,3,4] cannot be broadcast together"));
  lt_tensor_release(b3a);
  lt_tensor_release(b3b);
  lt_tensor *s = NULL, *bo = NULL;
  lt_op_full(0, NULL, 1, LT_FLOAT32, CPU, &s);
  LT_CHECK(err_is(lt_op_matmul(a, s, &o), LT_ERR_ARG, 2, "at least 1 dimension"));
  lt_op_to(a, LT_BOOL, CPU, &bo);
  LT_CHECK(err_is(lt_op_matmul(bo, a, &o), LT_ERR_ARG, 2, "cannot be multiplied"));
  /* no promotion in products (PyTorch refuses float32 @ float64 too) */
  LT_CHECK(err_is(lt_op_matmul(bo, b, &o), LT_ERR_ARG, 2, "expected both operands to have the same dtype, got bool and float64"));
  int64_t s33[2] = {3, 3};
  lt_tensor *bsq = NULL, *bsq2 = NULL;
  lt_op_full(2, s33, 1, LT_BOOL, CPU, &bsq);
  lt_op_full(2, s33, 1, LT_BOOL, CPU, &bsq2);
  LT_CHECK(err_is(lt_op_matmul(bsq, bsq2, &o), LT_ERR_ARG, 1, "matmul is not defined for bool tensors"));
  LT_CHECK(err_is(lt_op_item(a, &(double){0}), LT_ERR_ARG, 1, "item() needs a tensor with one element, got shape [2,3]"));
  LT_CHECK(err_is(lt_op_flatten(a, 1, 0, &o), LT_ERR_ARG, 3, "end_dim 1 is before start_dim 2"));
  lt_tensor_release(bsq);
  lt_tensor_release(bsq2);
  lt_tensor_release(bo);
  lt_tensor_release(s);
  lt_tensor_release(z);
  lt_tensor_release(mask);
  lt_tensor_release(ib);
  lt_tensor_release(row);
  lt_tensor_release(a);
  lt_tensor_release(b);
  lt_tensor_release(c);
}

/* A few op-layer results that need a C-level look: strides of outputs and
 * aliasing between an in-place output and its operand. */
static void test_op_aliasing(void) {
  int64_t s33[2] = {3, 3};
  lt_tensor *a = iota(2, s33), *t = NULL;
  /* a += a.T must read the original values, as if the operand were copied */
  lt_tensor_transpose(a, 0, 1, &t);
  LT_CHECK(lt_op_binary_(LT_BIN_ADD, a, t) == LT_OK);
  double want[9] = {0, 4, 8, 4, 8, 12, 8, 12, 16};
  LT_CHECK(values_are(a, want));
  lt_tensor_release(t);
  /* copy_ from an overlapping shifted view */
  int64_t s6[1] = {6};
  lt_tensor *v = iota(1, s6), *lo = NULL, *hi = NULL;
  lt_tensor_narrow(v, 0, 0, 5, &lo);
  lt_tensor_narrow(v, 0, 1, 5, &hi);
  LT_CHECK(lt_op_copy_(hi, lo) == LT_OK);
  double want2[6] = {0, 0, 1, 2, 3, 4};
  LT_CHECK(values_are(v, want2));
  lt_tensor_release(lo);
  lt_tensor_release(hi);
  lt_tensor_release(v);
  lt_tensor_release(a);

  /* matmul with a stride-0 (expanded) vector operand and a column of a matrix */
  lt_tensor *one = NULL, *ev = NULL, *m = iota(2, s33), *col = NULL, *r = NULL;
  int64_t n1[1] = {1}, n3[1] = {3};
  lt_op_full(1, n1, 2, LT_FLOAT64, CPU, &one);
  lt_tensor_expand(one, 1, n3, &ev);
  LT_CHECK(lt_op_matmul(ev, m, &r) == LT_OK);
  double want3[3] = {18, 24, 30};
  LT_CHECK(r && values_are(r, want3));
  lt_tensor_release(r);
  lt_tensor_select(m, 1, 1, &col); /* [1,4,7], stride 3 */
  LT_CHECK(lt_op_matmul(m, col, &r) == LT_OK);
  double want4[3] = {18, 54, 90};
  LT_CHECK(r && values_are(r, want4));
  lt_tensor_release(r);
  LT_CHECK(lt_op_matmul(col, m, &r) == LT_OK);
  double want5[3] = {54, 66, 78};
  LT_CHECK(r && values_are(r, want5));
  lt_tensor_release(r);
  /* bfloat16 and float16 products */
  for (int dt = LT_BFLOAT16; dt <= LT_FLOAT16; dt++) {
    lt_tensor *h = NULL;
    lt_op_to(m, (lt_dtype)dt, CPU, &h);
    LT_CHECK(lt_op_matmul(h, h, &r) == LT_OK && r->dtype == (lt_dtype)dt);
    double want6[9] = {15, 18, 21, 42, 54, 66, 69, 90, 111};
    LT_CHECK(values_are(r, want6));
    lt_tensor_release(r);
    lt_tensor_release(h);
  }
  lt_tensor_release(col);
  lt_tensor_release(ev);
  lt_tensor_release(one);
  lt_tensor_release(m);
}

int main(void) {
  size_t base = lt_storage_bytes_in_use(LT_CPU);
  test_refcounts();
  test_contiguous_strides();
  test_view();
  test_view_oracle();
  test_narrow_select();
  test_transpose_permute();
  test_squeeze_unsqueeze();
  test_expand();
  test_as_strided();
  test_broadcast();
  test_predicates();
  test_wrap_dim();
  test_bf16();
  test_f16();
  test_dtype_names();
  test_result_type();
  test_to_all_pairs();
  test_philox();
  test_rand_threads();
  test_randint_randperm();
  test_creation();
  test_op_errors();
  test_op_aliasing();
  /* everything made above was released */
  LT_CHECK(lt_storage_bytes_in_use(LT_CPU) == base);
  return lt_test_done();
}
