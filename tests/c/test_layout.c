/* test_layout.c — memory formats in the core: the channels-last and
 * density predicates (size-1 dims free, empty tensors, permuted views), the
 * tie-break of lt_tensor_suggest_format, lt_tensor_empty_strided and
 * lt_tensor_empty_format with their errors, lt_op_contiguous_format and
 * lt_op_clone_format (values checked element by element through the
 * strides), the output-layout rule lt_op_empty_for, the memory-order views
 * of lt_op_memory_order, and that lt_op_to keeps a channels-last layout. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lt_ops_layout.h"
#include "lt_test.h"

static const lt_device CPU = {LT_CPU, 0};

static int strides_are(const lt_tensor *t, const int64_t *want) {
  for (int i = 0; i < t->ndim; i++)
    if (t->stride[i] != want[i]) return 0;
  return 1;
}

/* A float64 [N,C,H,W] tensor with element (n,c,h,w) = 1000n + 100c + 10h + w. */
static lt_tensor *coded(const int64_t *shape) {
  lt_tensor *t = NULL;
  if (lt_tensor_empty(4, shape, LT_FLOAT64, CPU, &t) != LT_OK) return NULL;
  double *d = lt_tensor_data(t);
  for (int64_t n = 0; n < shape[0]; n++)
    for (int64_t c = 0; c < shape[1]; c++)
      for (int64_t h = 0; h < shape[2]; h++)
        for (int64_t w = 0; w < shape[3]; w++)
          d[((n * shape[1] + c) * shape[2] + h) * shape[3] + w] = 1000.0 * n + 100.0 * c + 10.0 * h + w;
  return t;
}

/* Every element read through t's strides has its code. */
static int codes_ok(const lt_tensor *t) {
  const double *d = lt_tensor_data(t);
  for (int64_t n = 0; n < t->shape[0]; n++)
    for (int64_t c = 0; c < t->shape[1]; c++)
      for (int64_t h = 0; h < t->shape[2]; h++)
        for (int64_t w = 0; w < t->shape[3]; w++)
          if (d[n * t->stride[0] + c * t->stride[1] + h * t->stride[2] + w * t->stride[3]] !=
              1000.0 * n + 100.0 * c + 10.0 * h + w)
            return 0;
  return 1;
}

static void predicates(void) {
  int64_t shape[4] = {2, 3, 4, 5}, cl[4];
  lt_channels_last_strides(shape, cl);
  LT_CHECK(strides_are(&(lt_tensor){.ndim = 4, .stride = {60, 1, 15, 3}}, cl));
  lt_tensor *x = NULL, *c = NULL;
  LT_CHECK(lt_tensor_empty(4, shape, LT_FLOAT32, CPU, &x) == LT_OK);
  LT_CHECK(lt_tensor_empty_format(4, shape, LT_FLOAT32, CPU, LT_FORMAT_CHANNELS_LAST, &c) == LT_OK);
  LT_CHECK(strides_are(c, cl));
  LT_CHECK(!lt_tensor_is_channels_last(x) && lt_tensor_is_contiguous(x));
  LT_CHECK(lt_tensor_is_channels_last(c) && !lt_tensor_is_contiguous(c));
  LT_CHECK(lt_tensor_is_dense(x) && lt_tensor_is_dense(c));
  LT_CHECK(lt_tensor_suggest_format(x) == LT_FORMAT_CONTIGUOUS);
  LT_CHECK(lt_tensor_suggest_format(c) == LT_FORMAT_CHANNELS_LAST);
  LT_CHECK(lt_tensor_is_contiguous_format(c, LT_FORMAT_PRESERVE) && lt_tensor_is_contiguous_format(c, LT_FORMAT_CHANNELS_LAST));
  /* a narrowed view is neither dense nor channels-last */
  lt_tensor *n = NULL;
  LT_CHECK(lt_tensor_narrow(c, 3, 0, 4, &n) == LT_OK);
  LT_CHECK(!lt_tensor_is_dense(n) && !lt_tensor_is_channels_last(n) && !lt_tensor_is_contiguous_format(n, LT_FORMAT_PRESERVE));
  lt_tensor_release(n);
  /* a transposed view is dense but in neither format */
  lt_tensor *t = NULL;
  LT_CHECK(lt_tensor_transpose(x, 2, 3, &t) == LT_OK);
  LT_CHECK(lt_tensor_is_dense(t) && !lt_tensor_is_channels_last(t) && !lt_tensor_is_contiguous(t));
  lt_tensor_release(t);
  /* an expanded view overlaps: not dense */
  int64_t one[4] = {1, 3, 4, 5}, big[4] = {6, 3, 4, 5};
  lt_tensor *o = NULL, *e = NULL;
  LT_CHECK(lt_tensor_empty(4, one, LT_FLOAT32, CPU, &o) == LT_OK);
  LT_CHECK(lt_tensor_expand(o, 4, big, &e) == LT_OK);
  LT_CHECK(!lt_tensor_is_dense(e) && !lt_tensor_is_channels_last(e));
  lt_tensor_release(e);
  lt_tensor_release(o);
  /* size-1 dims are free; the tie-break reads their strides */
  int64_t s11[4] = {2, 3, 1, 1};
  lt_tensor *a = NULL, *b = NULL;
  LT_CHECK(lt_tensor_empty(4, s11, LT_FLOAT32, CPU, &a) == LT_OK);
  LT_CHECK(lt_tensor_empty_format(4, s11, LT_FLOAT32, CPU, LT_FORMAT_CHANNELS_LAST, &b) == LT_OK);
  LT_CHECK(lt_tensor_is_channels_last(a) && lt_tensor_is_contiguous(a));
  LT_CHECK(lt_tensor_is_channels_last(b) && lt_tensor_is_contiguous(b));
  LT_CHECK(lt_tensor_suggest_format(a) == LT_FORMAT_CONTIGUOUS);
  LT_CHECK(lt_tensor_suggest_format(b) == LT_FORMAT_CHANNELS_LAST);
  lt_tensor_release(a);
  lt_tensor_release(b);
  /* empty tensors are in every format; other ranks never channels-last */
  int64_t z[4] = {0, 3, 2, 2}, m[3] = {2, 3, 4};
  LT_CHECK(lt_tensor_empty(4, z, LT_FLOAT32, CPU, &a) == LT_OK);
  LT_CHECK(lt_tensor_is_channels_last(a) && lt_tensor_is_dense(a));
  lt_tensor_release(a);
  LT_CHECK(lt_tensor_empty(3, m, LT_FLOAT32, CPU, &a) == LT_OK);
  LT_CHECK(!lt_tensor_is_channels_last(a) && lt_tensor_suggest_format(a) == LT_FORMAT_CONTIGUOUS);
  lt_tensor_release(a);
  LT_CHECK(strcmp(lt_memory_format_name(LT_FORMAT_CHANNELS_LAST), "channels_last") == 0);
  lt_tensor_release(x);
  lt_tensor_release(c);
}

static void creation_errors(void) {
  int64_t shape[2] = {3, 4}, gap[2] = {8, 1}, overlap[2] = {1, 1}, neg[2] = {-4, 1}, ok[2] = {1, 3};
  lt_tensor *t = NULL;
  LT_CHECK(lt_tensor_empty_strided(2, shape, gap, LT_FLOAT32, CPU, &t) == LT_ERR_ARG);
  LT_CHECK(strstr(lt_error_message(), "do not lay out shape [3,4] densely") != NULL);
  LT_CHECK(lt_tensor_empty_strided(2, shape, overlap, LT_FLOAT32, CPU, &t) == LT_ERR_ARG);
  LT_CHECK(lt_tensor_empty_strided(2, shape, neg, LT_FLOAT32, CPU, &t) == LT_ERR_ARG);
  LT_CHECK(lt_tensor_empty_strided(2, shape, ok, LT_FLOAT32, CPU, &t) == LT_OK);
  LT_CHECK(t && t->storage->nbytes == 12 * sizeof(float) && t->stride[0] == 1 && t->stride[1] == 3);
  lt_tensor_release(t);
  t = NULL;
  LT_CHECK(lt_tensor_empty_format(2, shape, LT_FLOAT32, CPU, LT_FORMAT_CHANNELS_LAST, &t) == LT_ERR_ARG);
  LT_CHECK(strstr(lt_error_message(), "channels_last needs a 4-D tensor [N,C,H,W], got shape [3,4]") != NULL);
  LT_CHECK(t == NULL);
  lt_tensor *x = NULL;
  LT_CHECK(lt_tensor_empty(2, shape, LT_FLOAT32, CPU, &x) == LT_OK);
  LT_CHECK(lt_op_contiguous_format(x, LT_FORMAT_CHANNELS_LAST, &t) == LT_ERR_ARG && lt_error_arg() == 1);
  LT_CHECK(strstr(lt_error_message(), "got shape [3,4]") != NULL);
  lt_tensor_release(x);
}

static void conversions(void) {
  int64_t shape[4] = {2, 3, 4, 5};
  lt_tensor *x = coded(shape), *c = NULL, *same = NULL, *back = NULL, *pres = NULL, *d = NULL;
  LT_CHECK(x != NULL);
  LT_CHECK(lt_op_contiguous_format(x, LT_FORMAT_CHANNELS_LAST, &c) == LT_OK);
  LT_CHECK(c != x && lt_tensor_is_channels_last(c) && codes_ok(c));
  LT_CHECK(lt_op_contiguous_format(c, LT_FORMAT_CHANNELS_LAST, &same) == LT_OK && same == c);
  lt_tensor_release(same);
  LT_CHECK(lt_op_contiguous_format(c, LT_FORMAT_CONTIGUOUS, &back) == LT_OK);
  LT_CHECK(lt_tensor_is_contiguous(back) && codes_ok(back));
  LT_CHECK(lt_op_clone_format(c, LT_FORMAT_PRESERVE, &pres) == LT_OK);
  LT_CHECK(pres != c && pres->storage != c->storage && lt_tensor_is_channels_last(pres) && codes_ok(pres));
  /* lt_op_to keeps channels-last through a dtype change */
  LT_CHECK(lt_op_to(c, LT_FLOAT32, CPU, &d) == LT_OK);
  LT_CHECK(d->dtype == LT_FLOAT32 && lt_tensor_is_channels_last(d) && !lt_tensor_is_contiguous(d));
  lt_tensor *d64 = NULL;
  LT_CHECK(lt_op_to(d, LT_FLOAT64, CPU, &d64) == LT_OK && codes_ok(d64));
  lt_tensor_release(d64);
  /* a copy from a permuted (NHWC-memory) view into a channels-last tensor */
  lt_tensor *p = NULL;
  int perm[4] = {0, 2, 3, 1}, inv[4] = {0, 3, 1, 2};
  LT_CHECK(lt_tensor_permute(c, perm, &p) == LT_OK && lt_tensor_is_contiguous(p));
  lt_tensor *q = NULL;
  LT_CHECK(lt_tensor_permute(p, inv, &q) == LT_OK && lt_tensor_is_channels_last(q) && codes_ok(q));
  lt_tensor_release(p);
  lt_tensor_release(q);
  lt_tensor_release(x);
  lt_tensor_release(c);
  lt_tensor_release(back);
  lt_tensor_release(pres);
  lt_tensor_release(d);
}

static void output_rule(void) {
  int64_t shape[4] = {2, 3, 4, 5}, bshape[4] = {1, 3, 1, 1};
  lt_tensor *x = NULL, *c = NULL, *b = NULL, *o = NULL;
  LT_CHECK(lt_tensor_empty(4, shape, LT_FLOAT32, CPU, &x) == LT_OK);
  LT_CHECK(lt_tensor_empty_format(4, shape, LT_FLOAT32, CPU, LT_FORMAT_CHANNELS_LAST, &c) == LT_OK);
  LT_CHECK(lt_tensor_empty(4, bshape, LT_FLOAT32, CPU, &b) == LT_OK);
  /* one channels-last input of the output's shape, a broadcast one: channels-last */
  const lt_tensor *in1[2] = {c, b};
  LT_CHECK(lt_op_empty_for(2, in1, 4, shape, LT_BOOL, CPU, &o) == LT_OK);
  LT_CHECK(o->dtype == LT_BOOL && lt_tensor_is_channels_last(o) && !lt_tensor_is_contiguous(o));
  lt_tensor_release(o);
  /* layouts that disagree: the first operand's, as PyTorch's TensorIterator */
  const lt_tensor *in2[2] = {c, x};
  LT_CHECK(lt_op_empty_for(2, in2, 4, shape, LT_FLOAT32, CPU, &o) == LT_OK && lt_tensor_is_channels_last(o) &&
           !lt_tensor_is_contiguous(o));
  lt_tensor_release(o);
  const lt_tensor *in2b[2] = {x, c};
  LT_CHECK(lt_op_empty_for(2, in2b, 4, shape, LT_FLOAT32, CPU, &o) == LT_OK && lt_tensor_is_contiguous(o));
  lt_tensor_release(o);
  /* a slice along N stays dense; a slice with gaps does not */
  lt_tensor *sl = NULL;
  LT_CHECK(lt_tensor_narrow(c, 0, 0, 1, &sl) == LT_OK); /* [1,3,4,5] slice of NHWC: still dense */
  const lt_tensor *in3[1] = {sl};
  LT_CHECK(lt_op_empty_for(1, in3, 4, sl->shape, LT_FLOAT32, CPU, &o) == LT_OK && lt_tensor_is_channels_last(o));
  lt_tensor_release(o);
  lt_tensor *g = NULL;
  LT_CHECK(lt_tensor_narrow(c, 2, 0, 2, &g) == LT_OK); /* rows gone: gaps, but still the NHWC order of strides */
  const lt_tensor *in4[1] = {g};
  LT_CHECK(lt_op_empty_for(1, in4, 4, g->shape, LT_FLOAT32, CPU, &o) == LT_OK && lt_tensor_is_channels_last(o));
  lt_tensor_release(o);
  /* nothing of the output's shape: contiguous */
  const lt_tensor *in5[1] = {b};
  LT_CHECK(lt_op_empty_for(1, in5, 4, shape, LT_FLOAT32, CPU, &o) == LT_OK && lt_tensor_is_contiguous(o));
  lt_tensor_release(o);
  /* memory order: a channels-last output becomes a contiguous [N,H,W,C] view, the operands alike */
  lt_tensor *in6[3] = {c, x, NULL}, *v[3];
  LT_CHECK(lt_op_memory_order(3, in6, v) == LT_OK);
  LT_CHECK(lt_tensor_is_contiguous(v[0]) && v[0]->shape[3] == 3 && v[1]->shape[3] == 3 && v[2] == NULL);
  LT_CHECK(v[1]->stride[3] == 20 && v[0]->storage == c->storage);
  lt_tensor_release(v[0]);
  lt_tensor_release(v[1]);
  lt_tensor *in7[1] = {x};
  LT_CHECK(lt_op_memory_order(1, in7, v) == LT_OK && v[0] == x);
  lt_tensor_release(v[0]);
  lt_tensor_release(sl);
  lt_tensor_release(g);
  lt_tensor_release(x);
  lt_tensor_release(c);
  lt_tensor_release(b);
}

int main(void) {
  predicates();
  creation_errors();
  conversions();
  output_rule();
  return lt_test_done();
}
