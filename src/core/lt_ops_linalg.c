/* lt_ops_linalg.c — matmul/mm/bmm: shape rules of torch.matmul, reduced to
 * the backend's batched [B,M,K]x[B,K,N] kernel; both operands of one dtype.
 * Operands whose matrices are neither row- nor column-major are copied
 * first; broadcast batch dims are materialised only when the batch strides
 * cannot express them. And nn's linear (lt_ops_nn.h), the same kernel on
 * [M,in] rows, or the backend's fused linear_forward. The CPU kernel:
 * src/cpu/lt_cpu_linalg.c; CUDA: cuda/lt_cuda_linalg.c (cuBLAS, cuBLASLt)
 * and cuda/lt_cuda_linalg.cu; autograd: src/autograd/lt_ag_linalg.c. */
#include <stdint.h>
#include <string.h>

#include "lt_gemm_layout.h"
#include "lt_ops.h"
#include "lt_ops_nn_shared.h"

/* Whether the matrices of a [B,R,C] operand are row-major or column-major,
 * which GEMM reads with no copy (lt_gemm_layout.h: the backends' GEMM calls
 * take their transpose flag and leading dimension from the same function). */
static bool blas_layout(const lt_tensor *m3) {
  bool trans;
  int64_t ld;
  return lt_gemm_layout(m3->shape[1], m3->shape[2], m3->stride[1], m3->stride[2], &trans, &ld);
}

/* a3 [B,M,K], b3 [B,K,N] (views, one dtype) -> out [B,M,N] */
static lt_status bmm3(lt_tensor *a3, lt_tensor *b3, lt_tensor **out) {
  lt_dtype dt = a3->dtype;
  if (dt == LT_BOOL) return lt_error_set(LT_ERR_ARG, 1, "matmul is not defined for bool tensors");
  /* bfloat16 on the CPU: multiply float32 copies with BLAS (float32
   * accumulation) and round the product, instead of the kernel's scalar loop */
  lt_dtype kdt = dt == LT_BFLOAT16 && lt_tensor_device(a3).type == LT_CPU ? LT_FLOAT32 : dt;
  lt_tensor *ac = NULL, *bc = NULL, *o = NULL, *tmp = NULL;
  lt_status st = lt_op_to(a3, kdt, lt_tensor_device(a3), &ac);
  if (st == LT_OK) st = lt_op_to(b3, kdt, lt_tensor_device(b3), &bc);
  if (st == LT_OK && !blas_layout(ac)) { st = lt_op_contiguous(ac, &tmp); lt_tensor_release(ac); ac = tmp; tmp = NULL; }
  if (st == LT_OK && !blas_layout(bc)) { st = lt_op_contiguous(bc, &tmp); lt_tensor_release(bc); bc = tmp; tmp = NULL; }
  int64_t shape[3] = {a3->shape[0], a3->shape[1], b3->shape[2]};
  if (st == LT_OK) st = lt_tensor_empty(3, shape, kdt, lt_tensor_device(a3), &o);
  if (st == LT_OK) {
    const lt_backend *be = lt_backend_get(lt_tensor_device(a3).type);
    if (a3->shape[2] == 0) st = be->fill(o, 0);
    else if (!be->matmul) st = lt_error_set(LT_ERR_RUNTIME, 0, "matmul is not implemented on this device");
    else st = be->matmul(o, ac, bc, 1.0, 0.0);
  }
  lt_tensor_release(ac);
  lt_tensor_release(bc);
  if (st == LT_OK && kdt != dt) {
    st = lt_op_to(o, dt, lt_tensor_device(o), &tmp);
    lt_tensor_release(o);
    o = tmp;
  }
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *out = o;
  return LT_OK;
}

static lt_status check_pair(lt_tensor *a, lt_tensor *b) {
  if (!lt_device_equal(lt_tensor_device(a), lt_tensor_device(b)))
    return lt_error_set(LT_ERR_ARG, 2, "expected both operands on one device");
  return LT_OK;
}

/* As PyTorch, a product never promotes its operands: float32 @ float64 is
 * an error, not a float64 product (checked after the shapes, as there). */
static lt_status check_same_dtype(lt_tensor *a, lt_tensor *b) {
  if (a->dtype == b->dtype) return LT_OK;
  return lt_error_set(LT_ERR_ARG, 2, "expected both operands to have the same dtype, got %s and %s",
                      lt_dtype_name(a->dtype), lt_dtype_name(b->dtype));
}

static lt_status size_mismatch(lt_tensor *a, lt_tensor *b) {
  char b1[128], b2[128];
  return lt_error_set(LT_ERR_ARG, 2, "shapes %s and %s cannot be multiplied (inner sizes %lld and %lld differ)",
                      lt_shape_str(a->ndim, a->shape, b1, sizeof b1), lt_shape_str(b->ndim, b->shape, b2, sizeof b2),
                      (long long)a->shape[a->ndim - 1], (long long)b->shape[b->ndim > 1 ? b->ndim - 2 : 0]);
}

lt_status lt_op_mm(lt_tensor *a, lt_tensor *b, lt_tensor **out) {
  char buf[128];
  if (a->ndim != 2)
    return lt_error_set(LT_ERR_ARG, 1, "expected a 2-D tensor, got shape %s", lt_shape_str(a->ndim, a->shape, buf, sizeof buf));
  if (b->ndim != 2)
    return lt_error_set(LT_ERR_ARG, 2, "expected a 2-D tensor, got shape %s", lt_shape_str(b->ndim, b->shape, buf, sizeof buf));
  return lt_op_matmul(a, b, out);
}

lt_status lt_op_bmm(lt_tensor *a, lt_tensor *b, lt_tensor **out) {
  char buf[128];
  if (a->ndim != 3)
    return lt_error_set(LT_ERR_ARG, 1, "expected a 3-D tensor, got shape %s", lt_shape_str(a->ndim, a->shape, buf, sizeof buf));
  if (b->ndim != 3)
    return lt_error_set(LT_ERR_ARG, 2, "expected a 3-D tensor, got shape %s", lt_shape_str(b->ndim, b->shape, buf, sizeof buf));
  if (a->shape[0] != b->shape[0])
    return lt_error_set(LT_ERR_ARG, 2, "batch sizes differ: %lld and %lld", (long long)a->shape[0], (long long)b->shape[0]);
  return lt_op_matmul(a, b, out);
}

lt_status lt_op_matmul(lt_tensor *a, lt_tensor *b, lt_tensor **out) {
  LT_TRY(check_pair(a, b));
  if (a->ndim == 0 || b->ndim == 0)
    return lt_error_set(LT_ERR_ARG, a->ndim == 0 ? 1 : 2, "matmul needs tensors of at least 1 dimension, got a 0-d tensor");
  /* Promote 1-D operands to matrices, remembering which dims to drop. */
  lt_tensor *a2 = NULL, *b2 = NULL;
  bool drop_m = a->ndim == 1, drop_n = b->ndim == 1;
  lt_status st = drop_m ? lt_tensor_unsqueeze(a, 0, &a2) : lt_tensor_alias(a, &a2);
  if (st != LT_OK) return st;
  st = drop_n ? lt_tensor_unsqueeze(b, 1, &b2) : lt_tensor_alias(b, &b2);
  if (st != LT_OK) { lt_tensor_release(a2); return st; }
  int64_t M = a2->shape[a2->ndim - 2], K = a2->shape[a2->ndim - 1];
  int64_t K2 = b2->shape[b2->ndim - 2], N = b2->shape[b2->ndim - 1];
  if (K != K2) { lt_tensor_release(a2); lt_tensor_release(b2); return size_mismatch(a, b); }
  st = check_same_dtype(a, b);
  if (st != LT_OK) { lt_tensor_release(a2); lt_tensor_release(b2); return st; }
  if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX) {
    lt_tensor_release(a2);
    lt_tensor_release(b2);
    return lt_error_set(LT_ERR_ARG, 1, "matrix sizes %lld x %lld x %lld exceed the 2^31-1 that BLAS can index",
                        (long long)M, (long long)K, (long long)N);
  }
  /* Broadcast batch dims. */
  int nb = 0;
  int64_t bshape[LT_MAX_DIMS];
  st = lt_broadcast_shape(a2->ndim - 2, a2->shape, b2->ndim - 2, b2->shape, &nb, bshape);
  if (st != LT_OK) {
    char b1[128], b2s[128];
    st = lt_error_set(LT_ERR_ARG, 2, "batch dimensions of shapes %s and %s cannot be broadcast together",
                      lt_shape_str(a->ndim, a->shape, b1, sizeof b1), lt_shape_str(b->ndim, b->shape, b2s, sizeof b2s));
  }
  lt_tensor *ae = NULL, *bee = NULL, *a3 = NULL, *b3 = NULL, *o3 = NULL, *res = NULL;
  int64_t B = 1;
  if (st == LT_OK) {
    for (int i = 0; i < nb; i++) B *= bshape[i];
    int64_t sa[LT_MAX_DIMS], sb[LT_MAX_DIMS];
    memcpy(sa, bshape, sizeof(int64_t) * (size_t)nb);
    memcpy(sb, bshape, sizeof(int64_t) * (size_t)nb);
    sa[nb] = M; sa[nb + 1] = K;
    sb[nb] = K; sb[nb + 1] = N;
    if (nb + 2 > LT_MAX_DIMS) st = lt_error_set(LT_ERR_ARG, 1, "too many dimensions");
    if (st == LT_OK) st = lt_tensor_expand(a2, nb + 2, sa, &ae);
    if (st == LT_OK) st = lt_tensor_expand(b2, nb + 2, sb, &bee);
    int64_t s3a[3] = {B, M, K}, s3b[3] = {B, K, N};
    if (st == LT_OK) st = lt_op_reshape(ae, 3, s3a, &a3);
    if (st == LT_OK) st = lt_op_reshape(bee, 3, s3b, &b3);
    if (st == LT_OK) st = bmm3(a3, b3, &o3);
    if (st == LT_OK) {
      int64_t oshape[LT_MAX_DIMS];
      int on = 0;
      for (int i = 0; i < nb; i++) oshape[on++] = bshape[i];
      if (!drop_m) oshape[on++] = M;
      if (!drop_n) oshape[on++] = N;
      st = lt_tensor_view(o3, on, oshape, &res);
    }
  }
  lt_tensor_release(a2); lt_tensor_release(b2); lt_tensor_release(ae); lt_tensor_release(bee);
  lt_tensor_release(a3); lt_tensor_release(b3); lt_tensor_release(o3);
  if (st != LT_OK) return st;
  *out = res;
  return LT_OK;
}

/* --- linear (lt_ops_nn.h) -------------------------------------------------------------------- */

static lt_status linear_check(lt_tensor *x, lt_tensor *w, lt_tensor *b) {
  char b1[128], b2[128];
  LT_TRY(lt_nn_check_float(x, 1, "input", LT_NN_LAYERS));
  LT_TRY(lt_nn_check_like(w, x, 2, "weight"));
  if (b) LT_TRY(lt_nn_check_like(b, x, 3, "bias"));
  if (x->ndim < 1) return lt_error_set(LT_ERR_ARG, 1, "expected input [*, in_features], got a 0-d tensor");
  if (w->ndim != 2)
    return lt_error_set(LT_ERR_ARG, 2, "expected 2-D weight [out_features, in_features], got %s", SHP(w, b1));
  if (x->shape[x->ndim - 1] != w->shape[1])
    return lt_error_set(LT_ERR_ARG, 2, "input %s has %lld features but weight %s expects %lld", SHP(x, b1),
                        (long long)x->shape[x->ndim - 1], SHP(w, b2), (long long)w->shape[1]);
  if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
    return lt_error_set(LT_ERR_ARG, 3, "bias %s does not match the %lld outputs of weight %s (expected [%lld])",
                        SHP(b, b1), (long long)w->shape[0], SHP(w, b2), (long long)w->shape[0]);
  return LT_OK;
}

/* [1, R, C] view of a 2-D tensor (for the batched matmul kernel) */
static lt_status as_batch1(lt_tensor *t, lt_tensor **out) { return lt_tensor_unsqueeze(t, 0, out); }

/* out[M,N] = a[M,K] @ b[K,N] (+ out when beta = 1); a, b 2-D in BLAS layout. */
static lt_status mm_into(lt_tensor *out, lt_tensor *a, lt_tensor *b, double beta) {
  const lt_backend *be = lt_nn_backend_of(out);
  if (!be->matmul) return lt_nn_missing("matmul");
  if (a->shape[1] == 0) return beta == 0 ? be->fill(out, 0) : LT_OK;
  lt_tensor *o3 = NULL, *a3 = NULL, *b3 = NULL;
  lt_status st = as_batch1(out, &o3);
  if (st == LT_OK) st = as_batch1(a, &a3);
  if (st == LT_OK) st = as_batch1(b, &b3);
  if (st == LT_OK) st = be->matmul(o3, a3, b3, 1.0, beta);
  lt_tensor_release(o3);
  lt_tensor_release(a3);
  lt_tensor_release(b3);
  return st;
}

/* x [*, in] -> contiguous [M, in] */
static lt_status rows_of(lt_tensor *x, lt_tensor **out) {
  lt_tensor *c;
  LT_TRY(lt_op_contiguous(x, &c));
  int64_t shape[2] = {1, x->shape[x->ndim - 1]};
  for (int i = 0; i < x->ndim - 1; i++) shape[0] *= x->shape[i];
  lt_status st = lt_tensor_view(c, 2, shape, out);
  lt_tensor_release(c);
  return st;
}

lt_status lt_op_linear(lt_tensor *x, lt_tensor *w, lt_tensor *b, lt_tensor **y) {
  LT_TRY(linear_check(x, w, b));
  const lt_nn_kernels *nn = lt_nn_kernels_of(x);
  bool fused = nn && nn->linear_forward; /* the backend's x·wᵀ + b in one call (cuBLASLt's bias epilogue) */
  lt_tensor *x2 = NULL, *wc = NULL, *wt = NULL, *y2 = NULL, *be_ = NULL, *res = NULL;
  int64_t out_f = w->shape[0];
  lt_status st = rows_of(x, &x2);
  if (st == LT_OK) st = lt_op_contiguous(w, &wc);
  if (st == LT_OK && !fused) st = lt_tensor_transpose(wc, 0, 1, &wt);
  int64_t s2[2] = {x2 ? x2->shape[0] : 0, out_f};
  if (st == LT_OK) st = lt_tensor_empty(2, s2, x->dtype, lt_tensor_device(x), &y2);
  if (fused) {
    if (st == LT_OK && b) st = lt_op_contiguous(b, &be_);
    if (st == LT_OK) st = nn->linear_forward(y2, x2, wc, be_);
  } else {
    if (st == LT_OK && b) {
      st = lt_tensor_expand(b, 2, s2, &be_);
      if (st == LT_OK) st = lt_nn_backend_of(x)->copy(y2, be_);
    }
    if (st == LT_OK) st = mm_into(y2, x2, wt, b ? 1.0 : 0.0);
  }
  if (st == LT_OK) {
    int64_t shape[LT_MAX_DIMS];
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    shape[x->ndim - 1] = out_f;
    st = lt_tensor_view(y2, x->ndim, shape, &res);
  }
  lt_tensor_release(x2);
  lt_tensor_release(wc);
  lt_tensor_release(wt);
  lt_tensor_release(y2);
  lt_tensor_release(be_);
  if (st != LT_OK) return st;
  *y = res;
  return LT_OK;
}

lt_status lt_op_linear_backward(lt_tensor *gy, lt_tensor *x, lt_tensor *w, lt_tensor **gx, lt_tensor **gw,
                                lt_tensor **gb) {
  LT_TRY(linear_check(x, w, NULL));
  LT_TRY(lt_nn_check_like(gy, x, 1, "gradient"));
  bool ok = gy->ndim == x->ndim && gy->shape[gy->ndim - 1] == w->shape[0];
  for (int i = 0; ok && i < x->ndim - 1; i++) ok = gy->shape[i] == x->shape[i];
  if (!ok) {
    char b1[128], b2[128];
    return lt_error_set(LT_ERR_ARG, 1, "gradient %s does not match the output of linear on input %s", SHP(gy, b1),
                        SHP(x, b2));
  }
  lt_tensor *g2 = NULL, *x2 = NULL, *wc = NULL, *g2t = NULL, *ox = NULL, *ox2 = NULL, *ow = NULL, *ob = NULL;
  lt_status st = rows_of(gy, &g2);
  if (st == LT_OK) st = rows_of(x, &x2);
  if (st == LT_OK) st = lt_op_contiguous(w, &wc);
  if (st == LT_OK && gx) {
    st = lt_nn_empty_like(x, &ox);
    if (st == LT_OK) st = rows_of(ox, &ox2);
    if (st == LT_OK) st = mm_into(ox2, g2, wc, 0.0); /* [M,out] @ [out,in] */
  }
  if (st == LT_OK && gw) {
    st = lt_nn_empty_like(w, &ow);
    if (st == LT_OK) st = lt_tensor_transpose(g2, 0, 1, &g2t);
    if (st == LT_OK) st = mm_into(ow, g2t, x2, 0.0); /* [out,M] @ [M,in] */
  }
  if (st == LT_OK && gb) {
    int dim0 = 0;
    st = lt_op_reduce(LT_RED_SUM, g2, 1, &dim0, false, 0, &ob, NULL);
  }
  lt_tensor_release(g2);
  lt_tensor_release(x2);
  lt_tensor_release(wc);
  lt_tensor_release(g2t);
  lt_tensor_release(ox2);
  return lt_nn_hand_over_grads(st, gx, ox, gw, ow, gb, ob);
}
