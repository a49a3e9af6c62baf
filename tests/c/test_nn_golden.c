/* test_nn_golden.c — the nn op layer (forward and backward ops, no autograd)
 * against PyTorch's numbers in tests/golden/ops_golden.safetensors, in
 * float32 (relative Frobenius error <= 1e-4) and float64 (<= 1e-10), as the
 * README there prescribes. The Lua twin (tests/lua/test_nn_golden.lua) checks
 * the same through autograd. */
#include <stdio.h>
#include <string.h>

#include "lt_ops_nn.h"
#include "lt_safetensors.h"
#include "lt_test.h"

static lt_safetensors *G;

/* The entry `name` as a tensor of dtype dt (labels keep int64). */
static lt_tensor *get(const char *name, lt_dtype dt) {
  const lt_safetensors_entry *e = lt_safetensors_find(G, name);
  if (!e) {
    fprintf(stderr, "missing golden entry %s\n", name);
    return NULL;
  }
  lt_tensor *t = NULL, *c = NULL;
  if (lt_tensor_empty(e->ndim, e->shape, e->dtype, lt_cpu_device(), &t) != LT_OK) return NULL;
  memcpy(lt_tensor_data(t), e->data, e->nbytes);
  if (e->dtype == LT_INT64) return t;
  if (lt_op_to(t, dt, lt_cpu_device(), &c) != LT_OK) c = NULL;
  lt_tensor_release(t);
  return c;
}

static char key_buf[256];
static const char *key(const char *prefix, const char *name) {
  snprintf(key_buf, sizeof key_buf, "%s.%s", prefix, name);
  return key_buf;
}

/* ‖out − ref‖ / ‖ref‖ <= tol for the dtype */
static void check(const char *what, lt_tensor *out, const char *refname, lt_dtype dt) {
  lt_tensor *ref = get(refname, LT_FLOAT64), *o = NULL;
  LT_CHECK(ref != NULL && out != NULL);
  if (!ref || !out) { lt_tensor_release(ref); return; }
  LT_CHECK(lt_tensor_numel(out) == lt_tensor_numel(ref));
  if (lt_op_to(out, LT_FLOAT64, lt_cpu_device(), &o) != LT_OK || lt_tensor_numel(out) != lt_tensor_numel(ref)) {
    lt_tensor_release(ref);
    lt_tensor_release(o);
    return;
  }
  lt_tensor *oc = NULL;
  lt_op_contiguous(o, &oc);
  const double *a = lt_tensor_data(oc), *b = lt_tensor_data(ref);
  double num = 0, den = 0;
  for (int64_t i = 0; i < lt_tensor_numel(ref); i++) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  double rel = den > 0 ? sqrt(num / den) : sqrt(num);
  double tol = dt == LT_FLOAT32 ? 1e-4 : 1e-10;
  if (!(rel <= tol)) fprintf(stderr, "%s (%s): relative error %.3g > %.0e\n", what, lt_dtype_name(dt), rel, tol);
  LT_CHECK(rel <= tol);
  lt_tensor_release(ref);
  lt_tensor_release(o);
  lt_tensor_release(oc);
}

static void conv_case(const char *c, lt_dtype dt) {
  char p[64];
  snprintf(p, sizeof p, "conv2d.%s", c);
  lt_tensor *cfg = get(key(p, "cfg"), LT_INT64);
  const int64_t *k = lt_tensor_data(cfg);
  bool has_bias = k[8] != 0;
  lt_conv2d_params cp = {{k[6], k[6]}, {k[7], k[7]}, {k[10], k[10]}, k[9]};
  lt_tensor *x = get(key(p, "x"), dt), *w = get(key(p, "w"), dt), *gy = get(key(p, "gy"), dt);
  lt_tensor *b = has_bias ? get(key(p, "b"), dt) : NULL;
  lt_tensor *y = NULL, *gx = NULL, *gw = NULL, *gb = NULL;
  LT_CHECK(lt_op_conv2d(x, w, b, &cp, &y) == LT_OK);
  check(p, y, key(p, "y"), dt);
  LT_CHECK(lt_op_conv2d_backward(gy, x, w, &cp, &gx, &gw, has_bias ? &gb : NULL) == LT_OK);
  check(p, gx, key(p, "gx"), dt);
  check(p, gw, key(p, "gw"), dt);
  if (has_bias) check(p, gb, key(p, "gb"), dt);
  lt_tensor *v[] = {cfg, x, w, gy, b, y, gx, gw, gb};
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) lt_tensor_release(v[i]);
}

static void bn_case(const char *c, lt_dtype dt) {
  char p[64];
  snprintf(p, sizeof p, "batchnorm.%s", c);
  lt_tensor *x = get(key(p, "x"), dt), *g = get(key(p, "gamma"), dt), *b = get(key(p, "beta"), dt);
  lt_tensor *rm = get(key(p, "running_mean"), dt), *rv = get(key(p, "running_var"), dt), *gy = get(key(p, "gy"), dt);
  lt_tensor *rm0 = NULL, *rv0 = NULL, *y = NULL, *m = NULL, *is = NULL, *gx = NULL, *gg = NULL, *gb = NULL, *ye = NULL;
  lt_op_clone(rm, &rm0);
  lt_op_clone(rv, &rv0);
  LT_CHECK(lt_op_batch_norm(x, rm, rv, g, b, true, 0.1, 1e-5, &y, &m, &is) == LT_OK);
  check(p, y, key(p, "y"), dt);
  check(p, rm, key(p, "new_running_mean"), dt);
  check(p, rv, key(p, "new_running_var"), dt);
  LT_CHECK(lt_op_batch_norm_backward(gy, x, g, m, is, true, &gx, &gg, &gb) == LT_OK);
  check(p, gx, key(p, "gx"), dt);
  check(p, gg, key(p, "ggamma"), dt);
  check(p, gb, key(p, "gbeta"), dt);
  LT_CHECK(lt_op_batch_norm(x, rm0, rv0, g, b, false, 0.1, 1e-5, &ye, NULL, NULL) == LT_OK);
  check(p, ye, key(p, "y_eval"), dt);
  lt_tensor *v[] = {x, g, b, rm, rv, gy, rm0, rv0, y, m, is, gx, gg, gb, ye};
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) lt_tensor_release(v[i]);
}

static void linear_case(lt_dtype dt) {
  lt_tensor *x = get("linear.x", dt), *w = get("linear.w", dt), *b = get("linear.b", dt), *gy = get("linear.gy", dt);
  lt_tensor *y = NULL, *gx = NULL, *gw = NULL, *gb = NULL;
  LT_CHECK(lt_op_linear(x, w, b, &y) == LT_OK);
  check("linear", y, "linear.y", dt);
  LT_CHECK(lt_op_linear_backward(gy, x, w, &gx, &gw, &gb) == LT_OK);
  check("linear", gx, "linear.gx", dt);
  check("linear", gw, "linear.gw", dt);
  check("linear", gb, "linear.gb", dt);
  lt_tensor *v[] = {x, w, b, gy, y, gx, gw, gb};
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) lt_tensor_release(v[i]);
}

static void ce_case(const char *c, double ls, lt_dtype dt) {
  char p[64];
  snprintf(p, sizeof p, "cross_entropy.%s", c);
  lt_tensor *logits = get(key(p, "logits"), dt), *t = get(key(p, "target"), LT_INT64);
  lt_tensor *lp = NULL, *loss = NULL, *tw = NULL, *one = NULL, *glp = NULL, *gl = NULL, *ce = NULL;
  LT_CHECK(lt_op_softmax(logits, 1, true, &lp) == LT_OK);
  LT_CHECK(lt_op_nll_loss(lp, t, NULL, LT_REDUCTION_MEAN, ls, -100, &loss, &tw) == LT_OK);
  check(p, loss, key(p, "loss"), dt);
  LT_CHECK(lt_op_cross_entropy(logits, t, NULL, LT_REDUCTION_MEAN, ls, -100, &ce) == LT_OK);
  check(p, ce, key(p, "loss"), dt);
  LT_CHECK(lt_op_scalar_tensor(1.0, dt, lt_cpu_device(), &one) == LT_OK);
  LT_CHECK(lt_op_nll_loss_backward(one, lp, t, NULL, LT_REDUCTION_MEAN, ls, -100, tw, &glp) == LT_OK);
  LT_CHECK(lt_op_softmax_backward(glp, lp, 1, true, &gl) == LT_OK);
  check(p, gl, key(p, "glogits"), dt);
  lt_tensor *v[] = {logits, t, lp, loss, tw, one, glp, gl, ce};
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) lt_tensor_release(v[i]);
}

static void pool_cases(lt_dtype dt) {
  lt_tensor *x, *gy, *y = NULL, *gx = NULL, *idx = NULL;
  /* adaptive to 1x1 */
  x = get("avgpool_global.x", dt);
  gy = get("avgpool_global.gy", dt);
  LT_CHECK(lt_op_adaptive_avg_pool2d(x, 1, 1, &y) == LT_OK);
  check("avgpool_global", y, "avgpool_global.y", dt);
  LT_CHECK(lt_op_adaptive_avg_pool2d_backward(gy, x, &gx) == LT_OK);
  check("avgpool_global", gx, "avgpool_global.gx", dt);
  lt_tensor_release(x); lt_tensor_release(gy); lt_tensor_release(y); lt_tensor_release(gx);
  /* max 3x3 stride 2 padding 1 */
  lt_pool2d_params mp = {{3, 3}, {2, 2}, {1, 1}, {1, 1}, false, true, 0};
  x = get("maxpool_k3s2p1.x", dt);
  gy = get("maxpool_k3s2p1.gy", dt);
  LT_CHECK(lt_op_max_pool2d(x, &mp, &y, &idx) == LT_OK);
  check("maxpool_k3s2p1", y, "maxpool_k3s2p1.y", dt);
  LT_CHECK(lt_op_max_pool2d_backward(gy, x, idx, &mp, &gx) == LT_OK);
  check("maxpool_k3s2p1", gx, "maxpool_k3s2p1.gx", dt);
  lt_tensor_release(x); lt_tensor_release(gy); lt_tensor_release(y); lt_tensor_release(gx); lt_tensor_release(idx);
  /* avg 2x2 stride 2 */
  lt_pool2d_params ap = {{2, 2}, {2, 2}, {0, 0}, {1, 1}, false, true, 0};
  x = get("avgpool_k2s2.x", dt);
  gy = get("avgpool_k2s2.gy", dt);
  LT_CHECK(lt_op_avg_pool2d(x, &ap, &y) == LT_OK);
  check("avgpool_k2s2", y, "avgpool_k2s2.y", dt);
  LT_CHECK(lt_op_avg_pool2d_backward(gy, x, &ap, &gx) == LT_OK);
  check("avgpool_k2s2", gx, "avgpool_k2s2.gx", dt);
  lt_tensor_release(x); lt_tensor_release(gy); lt_tensor_release(y); lt_tensor_release(gx);
}

static void log_softmax_case(lt_dtype dt) {
  lt_tensor *x = get("log_softmax.x", dt), *gy = get("log_softmax.gy", dt), *y = NULL, *gx = NULL;
  LT_CHECK(lt_op_softmax(x, 1, true, &y) == LT_OK);
  check("log_softmax", y, "log_softmax.y", dt);
  LT_CHECK(lt_op_softmax_backward(gy, y, 1, true, &gx) == LT_OK);
  check("log_softmax", gx, "log_softmax.gx", dt);
  lt_tensor_release(x); lt_tensor_release(gy); lt_tensor_release(y); lt_tensor_release(gx);
}

int main(void) {
  if (lt_safetensors_read("tests/golden/ops_golden.safetensors", &G) != LT_OK) {
    fprintf(stderr, "cannot read the golden file: %s\n", lt_error_message());
    return 1;
  }
  const lt_dtype dts[2] = {LT_FLOAT32, LT_FLOAT64};
  const char *convs[] = {"k3s1p1", "k3s2p1", "k1s2p0", "k5s1p2_bias", "k3s1p0_bias"};
  for (int d = 0; d < 2; d++) {
    for (size_t i = 0; i < sizeof convs / sizeof *convs; i++) conv_case(convs[i], dts[d]);
    bn_case("n4c3h5w5", dts[d]);
    bn_case("n2c16h4w4", dts[d]);
    linear_case(dts[d]);
    ce_case("ls0", 0.0, dts[d]);
    ce_case("ls1", 0.1, dts[d]);
    pool_cases(dts[d]);
    log_softmax_case(dts[d]);
  }
  lt_safetensors_free(G);
  return lt_test_done();
}
