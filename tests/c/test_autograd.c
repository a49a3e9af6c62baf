/* test_autograd.c — the autograd engine seen from C: recording a node by
 * hand as the nn ops do, gradient accumulation, the grad-ready hook, freed
 * graphs, version checks, lt_ag_grad, lt_ag_sum_to, and freeing a very deep
 * graph without recursion. The op backwards are checked from Lua
 * (tests/lua/test_gradcheck.lua). */
#include <string.h>

#include "lt_ag_ops.h"
#include "lt_test.h"

static lt_tensor *vec(int n, const double *v, bool requires_grad) {
  int64_t shape[1] = {n};
  lt_tensor *t = NULL;
  if (lt_tensor_empty(1, shape, LT_FLOAT64, lt_cpu_device(), &t) != LT_OK) return NULL;
  memcpy(lt_tensor_data(t), v, sizeof(double) * (size_t)n);
  t->requires_grad = requires_grad;
  return t;
}

static double at(const lt_tensor *t, int i) {
  lt_tensor *c = NULL;
  if (lt_op_contiguous((lt_tensor *)t, &c) != LT_OK) return -999;
  double v = ((double *)lt_tensor_data(c))[i];
  lt_tensor_release(c);
  return v;
}

/* A hand-written op, recorded like the nn ops do: out = k * x, saving x
 * (only to exercise lt_ag_save / lt_ag_saved). */
static lt_status scale_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
  lt_tensor *x;
  LT_TRY(lt_ag_saved(n, 0, &x));
  if (!g[0] || !lt_node_needs_input_grad(n, 0)) return LT_OK;
  return lt_op_binary_scalar(LT_BIN_MUL, g[0], n->scalars[0], LT_FLOAT64, false, &gi[0]);
}

static lt_status scale(lt_tensor *x, double k, lt_tensor **out) {
  LT_TRY(lt_op_binary_scalar(LT_BIN_MUL, x, k, LT_FLOAT64, false, out));
  lt_tensor *in[1] = {x};
  if (!lt_ag_needs_grad(1, in)) return LT_OK;
  lt_node *n;
  lt_status st = lt_ag_node_new("ScaleBackward", scale_backward, 1, in, 1, &n);
  if (st == LT_OK) st = lt_ag_save(n, x);
  if (st == LT_OK) {
    n->scalars[0] = k;
    lt_ag_set_output(n, *out, 0);
  }
  lt_node_release(n);
  if (st != LT_OK) { lt_tensor_release(*out); *out = NULL; }
  return st;
}

static int hook_calls;
static double hook_seen;
static void hook(lt_tensor *leaf, void *ctx) {
  (void)ctx;
  hook_calls++;
  hook_seen = leaf->grad ? at(leaf->grad, 0) : -1;
}

static void test_manual_node(void) {
  double v[3] = {1, 2, 3};
  lt_tensor *x = vec(3, v, true), *y = NULL, *s = NULL;
  LT_CHECK(scale(x, 3, &y) == LT_OK);
  LT_CHECK(y->grad_fn && strcmp(y->grad_fn->name, "ScaleBackward") == 0);
  LT_CHECK(y->requires_grad);
  LT_CHECK(lt_ag_reduce(LT_RED_SUM, y, 0, NULL, false, 0, &s, NULL) == LT_OK);
  LT_CHECK(lt_ag_backward(s, NULL, true) == LT_OK);
  LT_CHECK(x->grad != NULL);
  LT_CHECK_CLOSE(at(x->grad, 0), 3, 1e-12);
  LT_CHECK_CLOSE(at(x->grad, 2), 3, 1e-12);
  /* a second backward accumulates into the same tensor, in place */
  lt_tensor *g1 = x->grad;
  LT_CHECK(lt_ag_backward(s, NULL, false) == LT_OK);
  LT_CHECK(x->grad == g1);
  LT_CHECK_CLOSE(at(x->grad, 1), 6, 1e-12);
  /* the graph is freed now: a third one fails */
  LT_CHECK(lt_ag_backward(s, NULL, false) != LT_OK);
  LT_CHECK(strstr(lt_error_message(), "the graph was freed by a previous backward (use retain_graph=true)") != NULL);
  lt_tensor_release(s);
  lt_tensor_release(y);
  lt_tensor_release(x);
}

static void test_hook_and_version(void) {
  double v[2] = {1, 2};
  lt_tensor *x = vec(2, v, true), *a = NULL, *b = NULL, *c = NULL, *d = NULL, *s = NULL;
  /* x is used three times; the hook must fire once, after the last part */
  LT_CHECK(lt_ag_binary(LT_BIN_MUL, x, x, &a) == LT_OK);
  LT_CHECK(lt_ag_unary(LT_UN_EXP, x, NULL, &b) == LT_OK);
  LT_CHECK(lt_ag_binary(LT_BIN_ADD, a, b, &c) == LT_OK);
  LT_CHECK(lt_ag_binary(LT_BIN_ADD, c, x, &d) == LT_OK);
  LT_CHECK(lt_ag_reduce(LT_RED_SUM, d, 0, NULL, false, 0, &s, NULL) == LT_OK);
  lt_ag_set_grad_ready_hook(hook, NULL);
  hook_calls = 0;
  LT_CHECK(lt_ag_backward(s, NULL, true) == LT_OK);
  lt_ag_set_grad_ready_hook(NULL, NULL);
  LT_CHECK(hook_calls == 1);
  LT_CHECK_CLOSE(hook_seen, 2 * 1 + exp(1) + 1, 1e-12);
  LT_CHECK_CLOSE(at(x->grad, 1), 2 * 2 + exp(2) + 1, 1e-12);
  /* lt_ag_grad leaves .grad alone */
  lt_tensor *g[1] = {NULL};
  double before = at(x->grad, 0);
  LT_CHECK(lt_ag_grad(1, &s, NULL, 1, &x, true, g) == LT_OK);
  LT_CHECK(g[0] != NULL && at(g[0], 0) == before);
  LT_CHECK(at(x->grad, 0) == before);
  lt_tensor_release(g[0]);
  /* grad w.r.t. a non-leaf: d s / d a = 1 */
  LT_CHECK(lt_ag_grad(1, &s, NULL, 1, &a, true, g) == LT_OK);
  LT_CHECK(g[0] != NULL && at(g[0], 1) == 1);
  lt_tensor_release(g[0]);
  /* MulBackward saved x; writing into x (with grad mode off) breaks it */
  bool prev = lt_ag_set_grad_enabled(false);
  LT_CHECK(lt_op_fill_(x, 5) == LT_OK);
  lt_ag_set_grad_enabled(prev);
  LT_CHECK(lt_ag_backward(s, NULL, false) != LT_OK);
  LT_CHECK(strstr(lt_error_message(), "saved by MulBackward) was modified in place") != NULL);
  lt_tensor *t[] = {s, d, c, b, a, x};
  for (int i = 0; i < 6; i++) lt_tensor_release(t[i]);
}

static void test_inplace_rules(void) {
  double v[2] = {1, 4};
  lt_tensor *x = vec(2, v, true), *y = NULL, *s = NULL;
  LT_CHECK(lt_ag_binary_scalar_(LT_BIN_ADD, x, 1, LT_INT64) != LT_OK);
  LT_CHECK(strstr(lt_error_message(), "a leaf tensor that requires grad is used in an in-place operation (add_)") != NULL);
  bool prev = lt_ag_set_grad_enabled(false);
  LT_CHECK(lt_ag_binary_scalar_(LT_BIN_ADD, x, 1, LT_INT64) == LT_OK); /* an optimizer step */
  lt_ag_set_grad_enabled(prev);
  LT_CHECK_CLOSE(at(x, 0), 2, 0);
  /* log_ on a non-leaf: the saved input is kept (cloned) before the write */
  LT_CHECK(lt_ag_binary_scalar(LT_BIN_MUL, x, 1, LT_INT64, false, &y) == LT_OK);
  LT_CHECK(lt_ag_unary_(LT_UN_LOG, y, NULL) == LT_OK);
  LT_CHECK(strcmp(y->grad_fn->name, "LogBackward") == 0);
  LT_CHECK(lt_ag_reduce(LT_RED_SUM, y, 0, NULL, false, 0, &s, NULL) == LT_OK);
  LT_CHECK(lt_ag_backward(s, NULL, false) == LT_OK);
  LT_CHECK_CLOSE(at(x->grad, 0), 1.0 / 2, 1e-12);
  LT_CHECK_CLOSE(at(x->grad, 1), 1.0 / 5, 1e-12);
  lt_tensor_release(s);
  lt_tensor_release(y);
  lt_tensor_release(x);
}

static void test_sum_to(void) {
  int64_t shape[3] = {2, 3, 4};
  lt_tensor *g = NULL, *r = NULL;
  LT_CHECK(lt_op_full(3, shape, 1, LT_FLOAT64, lt_cpu_device(), &g) == LT_OK);
  int64_t to[2] = {1, 4};
  LT_CHECK(lt_ag_sum_to(g, 2, to, &r) == LT_OK);
  LT_CHECK(r->ndim == 2 && r->shape[0] == 1 && r->shape[1] == 4);
  LT_CHECK_CLOSE(at(r, 3), 6, 0);
  lt_tensor_release(r);
  LT_CHECK(lt_ag_sum_to(g, 0, NULL, &r) == LT_OK);
  LT_CHECK(r->ndim == 0);
  LT_CHECK_CLOSE(at(r, 0), 24, 0);
  lt_tensor_release(r);
  int64_t bad[1] = {3};
  LT_CHECK(lt_ag_sum_to(g, 1, bad, &r) != LT_OK);
  LT_CHECK(strstr(lt_error_message(), "cannot reduce a gradient of shape [2,3,4] to shape [3]") != NULL);
  lt_tensor_release(g);
}

/* A chain of 200000 nodes: freeing it must not recurse (ASan's stack is
 * small), and backward must reach the leaf. */
static void test_deep_chain(void) {
  double v[1] = {1};
  lt_tensor *x = vec(1, v, true), *y = x;
  lt_tensor_retain(y);
  for (int i = 0; i < 200000; i++) {
    lt_tensor *z = NULL;
    if (lt_ag_binary_scalar(LT_BIN_ADD, y, 1, LT_INT64, false, &z) != LT_OK) break;
    lt_tensor_release(y);
    y = z;
  }
  LT_CHECK_CLOSE(at(y, 0), 200001, 0);
  LT_CHECK(lt_ag_backward(y, NULL, false) == LT_OK);
  LT_CHECK(x->grad && at(x->grad, 0) == 1);
  lt_tensor_release(y);
  lt_tensor_release(x);
}

int main(void) {
  test_manual_node();
  test_hook_and_version();
  test_inplace_rules();
  test_sum_to();
  test_deep_chain();
  return lt_test_done();
}
