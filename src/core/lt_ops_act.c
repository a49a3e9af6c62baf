/* lt_ops_act.c — the op layer of the activations (forward: the elementwise
 * unary kernels; backward: the backend's activation_backward), dropout (a
 * mask from the backend's dropout_mask, then a multiply) and softmax /
 * log_softmax (lt_ops_nn.h). The CPU kernels: src/cpu/lt_cpu_act.c; CUDA:
 * cuda/lt_cuda_act.cu; autograd: src/autograd/lt_ag_act.c. */
#include "lt_ops_layout.h"
#include "lt_ops_nn_shared.h"
#include "lt_philox.h"

/* --- activations ------------------------------------------------------------------------------ */

static lt_unary_op act_unary(lt_activation act) {
  switch (act) {
    case LT_ACT_RELU: return LT_UN_RELU;
    case LT_ACT_LEAKY_RELU: return LT_UN_LEAKY_RELU;
    case LT_ACT_GELU: return LT_UN_GELU;
    case LT_ACT_GELU_TANH: return LT_UN_GELU_TANH;
    default: return LT_UN_SILU;
  }
}

lt_status lt_op_activation(lt_activation act, lt_tensor *x, double param, lt_tensor **y) {
  if (act >= LT_ACT_COUNT) return lt_error_set(LT_ERR_ARG, 0, "unknown activation %d", (int)act);
  double p[2] = {param, 0};
  return lt_op_unary(act_unary(act), x, p, y);
}

lt_status lt_op_activation_backward(lt_activation act, lt_tensor *gy, lt_tensor *x, double param, lt_tensor **gx) {
  if (act >= LT_ACT_COUNT) return lt_error_set(LT_ERR_ARG, 0, "unknown activation %d", (int)act);
  LT_TRY(lt_nn_check_float(gy, 1, "gradient", LT_NN_LAYERS));
  LT_TRY(lt_nn_check_like(x, gy, 2, "input"));
  LT_TRY(lt_nn_check_same_shape(gy, x, 1, "gradient", "input"));
  const lt_nn_kernels *nn = lt_nn_kernels_of(x);
  if (!nn || !nn->activation_backward) return lt_nn_missing("activation backward");
  lt_tensor *o;
  const lt_tensor *like[2] = {gy, x};
  LT_TRY(lt_op_empty_for(2, like, gy->ndim, gy->shape, gy->dtype, lt_tensor_device(gy), &o));
  lt_tensor *in[3] = {o, gy, x}, *v[3];
  lt_status st = lt_op_memory_order(3, in, v);
  if (st == LT_OK) st = nn->activation_backward(act, v[0], v[1], v[2], param);
  lt_nn_release_all(3, v);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *gx = o;
  return LT_OK;
}

/* --- dropout ----------------------------------------------------------------------------------
 * A mask and a multiply; on a backend that computes x's dtype
 * in another (compute_dtype: the CPU's bfloat16 in float32) both run in
 * that dtype and the results are rounded once, as a kernel taking the
 * dtype by conversion does (src/cpu/lt_cpu_bf16.c). */

/* copies of n tensors in dtype dt (NULL stays NULL); on failure nothing is left. */
static lt_status to_dtype_all(int n, lt_tensor *const *in, lt_dtype dt, lt_tensor **out) {
  for (int i = 0; i < n; i++) out[i] = NULL;
  for (int i = 0; i < n; i++) {
    if (!in[i]) continue;
    lt_status st = lt_op_to(in[i], dt, lt_tensor_device(in[i]), &out[i]);
    if (st != LT_OK) {
      for (int j = 0; j < i; j++) lt_tensor_release(out[j]);
      return st;
    }
  }
  return LT_OK;
}

/* Ends an op run in another dtype that returned st: rounds each result the
 * caller asked for (slots may be NULL) to dt; when st or a rounding failed,
 * no result is left. */
static lt_status round_all(lt_status st, int n, lt_tensor **const *slots, lt_dtype dt) {
  if (st != LT_OK) return st;
  for (int i = 0; i < n; i++) {
    if (!slots[i] || !*slots[i]) continue;
    lt_tensor *r = NULL;
    if (st == LT_OK) st = lt_op_to(*slots[i], dt, lt_tensor_device(*slots[i]), &r);
    lt_tensor_release(*slots[i]);
    *slots[i] = r;
  }
  if (st != LT_OK)
    for (int i = 0; i < n; i++)
      if (slots[i]) { lt_tensor_release(*slots[i]); *slots[i] = NULL; }
  return st;
}

lt_status lt_op_dropout(lt_tensor *x, double p, lt_tensor **y, lt_tensor **mask) {
  LT_TRY(lt_nn_check_float(x, 1, "input", LT_NN_LAYERS));
  lt_dtype cdt = lt_nn_compute_dtype(x, LT_NN_LAYERS);
  if (cdt != x->dtype) { /* in the compute dtype (above) */
    lt_tensor *c;
    LT_TRY(to_dtype_all(1, &x, cdt, &c));
    lt_tensor *m = NULL;
    lt_status st = lt_op_dropout(c, p, y, &m);
    lt_tensor_release(c);
    lt_tensor **slots[2] = {y, &m};
    st = round_all(st, 2, slots, x->dtype);
    if (st == LT_OK) lt_nn_hand_out(m, mask);
    return st;
  }
  if (!(p >= 0 && p <= 1)) return lt_error_set(LT_ERR_ARG, 2, "dropout probability must be in [0, 1], got %g", p);
  const lt_nn_kernels *nn = lt_nn_kernels_of(x);
  if (!nn || !nn->dropout_mask) return lt_nn_missing("dropout");
  /* the mask takes x's layout (so x*mask keeps it), drawn in memory order */
  lt_tensor *m = NULL, *o = NULL, *mv = NULL;
  lt_status st = lt_op_empty_like(x, x->dtype, &m);
  if (st == LT_OK) st = lt_op_memory_order(1, &m, &mv);
  if (st == LT_OK) {
    if (p >= 1) {
      st = lt_nn_backend_of(x)->fill(mv, 0);
    } else {
      lt_rng *rng = lt_rng_global();
      uint64_t first = lt_rng_reserve(rng, (uint64_t)(lt_tensor_numel(m) + 3) / 4);
      st = nn->dropout_mask(mv, p, rng->seed, first);
    }
  }
  lt_tensor_release(mv);
  if (st == LT_OK) st = lt_op_binary(LT_BIN_MUL, x, m, &o);
  if (st != LT_OK) {
    lt_tensor_release(m);
    return st;
  }
  *y = o;
  lt_nn_hand_out(m, mask);
  return LT_OK;
}

/* --- softmax ---------------------------------------------------------------------------------- */

static lt_status softmax_geom(const lt_tensor *x, int dim, int64_t *outer, int64_t *n, int64_t *inner) {
  if (x->ndim == 0 && (dim == 0 || dim == -1)) {
    *outer = *n = *inner = 1;
    return LT_OK;
  }
  if (dim < 0 || dim >= x->ndim)
    return lt_error_set(LT_ERR_ARG, 2, "dimension %d out of range for a %d-d tensor", dim + 1, x->ndim);
  *outer = *inner = 1;
  for (int i = 0; i < dim; i++) *outer *= x->shape[i];
  for (int i = dim + 1; i < x->ndim; i++) *inner *= x->shape[i];
  *n = x->shape[dim];
  return LT_OK;
}

lt_status lt_op_softmax(lt_tensor *x, int dim, bool log, lt_tensor **y) {
  LT_TRY(lt_nn_check_float(x, 1, "input", LT_NN_LOSSES));
  int64_t outer, n, inner;
  LT_TRY(softmax_geom(x, dim, &outer, &n, &inner));
  const lt_nn_kernels *nn = lt_nn_kernels_of(x);
  if (!nn || !nn->softmax_forward) return lt_nn_missing(log ? "log_softmax" : "softmax");
  lt_tensor *xc = NULL, *o = NULL;
  LT_TRY(lt_op_contiguous(x, &xc));
  lt_status st = lt_nn_empty_like(x, &o);
  if (st == LT_OK && outer * n * inner > 0) st = nn->softmax_forward(o, xc, outer, n, inner, log);
  lt_tensor_release(xc);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *y = o;
  return LT_OK;
}

lt_status lt_op_softmax_backward(lt_tensor *gy, lt_tensor *y, int dim, bool log, lt_tensor **gx) {
  LT_TRY(lt_nn_check_float(y, 2, "output", LT_NN_LOSSES));
  LT_TRY(lt_nn_check_like(gy, y, 1, "gradient"));
  LT_TRY(lt_nn_check_same_shape(gy, y, 1, "gradient", "output"));
  int64_t outer, n, inner;
  LT_TRY(softmax_geom(y, dim, &outer, &n, &inner));
  const lt_nn_kernels *nn = lt_nn_kernels_of(y);
  if (!nn || !nn->softmax_backward) return lt_nn_missing("softmax backward");
  lt_tensor *in[2] = {gy, y}, *c[2], *o = NULL;
  LT_TRY(lt_nn_contig_all(2, in, c));
  lt_status st = lt_nn_empty_like(y, &o);
  if (st == LT_OK && outer * n * inner > 0) st = nn->softmax_backward(o, c[0], c[1], outer, n, inner, log);
  lt_nn_release_all(2, c);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *gx = o;
  return LT_OK;
}
