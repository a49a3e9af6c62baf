/* lt_cpu_bf16.c — bfloat16 on the CPU. The CPU's kernels compute in float32
 * and float64 only; the entries here are the CPU table's convolution,
 * pooling and activation-gradient entries and its bfloat16 matrix product,
 * which run a bfloat16 call as float32: each bfloat16 operand is widened
 * (exactly) to a float32 copy, the float32 kernel runs, and each result is
 * rounded to bfloat16 once, into the tensor the op layer allocated. The
 * convolutions first offer the call to oneDNN, which takes bfloat16 as it is
 * with the same arithmetic (float32 accumulation, one rounding). That is
 * bf16 storage with float32 accumulation, the arithmetic of bf16 GEMMs and
 * convolutions on GPUs too (what autocast produces). A dense operand's
 * stand-in keeps its strides, so a channels-last call reaches the float32
 * kernel channels-last. float32 and float64 calls go straight to the
 * kernels.
 *
 * compute_dtype (lt_backend_nn.h) tells the op layer what the CPU takes:
 * bfloat16 for these entries (and dropout, which the op layer runs in
 * float32 itself: its multiply must see the unrounded mask), neither 16-bit
 * type for softmax and the losses. Batch norm reads 16-bit tensors itself
 * (lt_cpu_norm.c). Not here: the kernels, any validation. */
#include "lt_cpu_kernels.h"
#include "lt_cpu_nn.h"
#include "lt_cpu_stand_in.h"

lt_dtype lt_cpu_nn_compute_dtype(lt_nn_group group, lt_dtype dt) {
  if (dt == LT_FLOAT32 || dt == LT_FLOAT64) return dt;
  if (dt == LT_BFLOAT16 && group == LT_NN_LAYERS) return LT_FLOAT32;
  return LT_NDTYPES;
}

static bool is_bf16(const lt_tensor *t) { return t && t->dtype == LT_BFLOAT16; }

/* The float32 kernels' form: float32, laid out as the caller's tensor when
 * it is dense (the kernels then see the layout they were given). */
static const lt_cpu_kernel_form F32 = {LT_FLOAT32, false};

/* --- the entries ------------------------------------------------------------------ */

lt_status lt_cpu_bf16_conv2d_forward(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b,
                                     const lt_conv2d_params *p) {
  if (!is_bf16(x)) return lt_cpu_conv2d_forward(y, x, w, b, p);
  bool done;
  LT_TRY(lt_cpu_conv2d_forward_dnnl(y, x, w, b, p, &done)); /* oneDNN takes bfloat16 as it is */
  if (done) return LT_OK;
  const lt_tensor *in[3] = {x, w, b};
  lt_tensor *out[1] = {y};
  lt_cpu_stand_ins s;
  LT_TRY(lt_cpu_stand_ins_make(&s, F32, 3, in, 1, out));
  return lt_cpu_stand_ins_finish(lt_cpu_conv2d_forward(s.out[0], s.in[0], s.in[1], s.in[2], p), &s, out);
}

lt_status lt_cpu_bf16_conv2d_backward(lt_tensor *gx, lt_tensor *gw, lt_tensor *gb, const lt_tensor *gy,
                                      const lt_tensor *x, const lt_tensor *w, const lt_conv2d_params *p) {
  if (!is_bf16(x)) return lt_cpu_conv2d_backward(gx, gw, gb, gy, x, w, p);
  bool done = false;
  if (!gb) LT_TRY(lt_cpu_conv2d_backward_dnnl(gx, gw, gy, x, w, p, &done));
  if (done) return LT_OK;
  const lt_tensor *in[3] = {gy, x, w};
  lt_tensor *out[3] = {gx, gw, gb};
  lt_cpu_stand_ins s;
  LT_TRY(lt_cpu_stand_ins_make(&s, F32, 3, in, 3, out));
  return lt_cpu_stand_ins_finish(lt_cpu_conv2d_backward(s.out[0], s.out[1], s.out[2], s.in[0], s.in[1], s.in[2], p), &s, out);
}

lt_status lt_cpu_bf16_activation_backward(lt_activation act, lt_tensor *gx, const lt_tensor *gy, const lt_tensor *x,
                                          double param) {
  if (!is_bf16(gx)) return lt_cpu_activation_backward(act, gx, gy, x, param);
  const lt_tensor *in[2] = {gy, x};
  lt_tensor *out[1] = {gx};
  lt_cpu_stand_ins s;
  LT_TRY(lt_cpu_stand_ins_make(&s, F32, 2, in, 1, out));
  return lt_cpu_stand_ins_finish(lt_cpu_activation_backward(act, s.out[0], s.in[0], s.in[1], param), &s, out);
}

lt_status lt_cpu_bf16_max_pool2d_forward(lt_tensor *y, lt_tensor *idx, const lt_tensor *x, const lt_pool2d_params *p) {
  if (!is_bf16(x)) return lt_cpu_max_pool2d_forward(y, idx, x, p);
  const lt_tensor *in[1] = {x};
  lt_tensor *out[1] = {y};
  lt_cpu_stand_ins s;
  LT_TRY(lt_cpu_stand_ins_make(&s, F32, 1, in, 1, out));
  return lt_cpu_stand_ins_finish(lt_cpu_max_pool2d_forward(s.out[0], idx, s.in[0], p), &s, out); /* idx stays int64 */
}

lt_status lt_cpu_bf16_max_pool2d_backward(lt_tensor *gx, const lt_tensor *gy, const lt_tensor *idx,
                                          const lt_pool2d_params *p) {
  if (!is_bf16(gx)) return lt_cpu_max_pool2d_backward(gx, gy, idx, p);
  const lt_tensor *in[1] = {gy};
  lt_tensor *out[1] = {gx};
  lt_cpu_stand_ins s;
  LT_TRY(lt_cpu_stand_ins_make(&s, F32, 1, in, 1, out));
  return lt_cpu_stand_ins_finish(lt_cpu_max_pool2d_backward(s.out[0], s.in[0], idx, p), &s, out);
}

lt_status lt_cpu_bf16_avg_pool2d_forward(lt_tensor *y, const lt_tensor *x, const lt_pool2d_params *p) {
  if (!is_bf16(x)) return lt_cpu_avg_pool2d_forward(y, x, p);
  const lt_tensor *in[1] = {x};
  lt_tensor *out[1] = {y};
  lt_cpu_stand_ins s;
  LT_TRY(lt_cpu_stand_ins_make(&s, F32, 1, in, 1, out));
  return lt_cpu_stand_ins_finish(lt_cpu_avg_pool2d_forward(s.out[0], s.in[0], p), &s, out);
}

lt_status lt_cpu_bf16_avg_pool2d_backward(lt_tensor *gx, const lt_tensor *gy, const lt_pool2d_params *p) {
  if (!is_bf16(gx)) return lt_cpu_avg_pool2d_backward(gx, gy, p);
  const lt_tensor *in[1] = {gy};
  lt_tensor *out[1] = {gx};
  lt_cpu_stand_ins s;
  LT_TRY(lt_cpu_stand_ins_make(&s, F32, 1, in, 1, out));
  return lt_cpu_stand_ins_finish(lt_cpu_avg_pool2d_backward(s.out[0], s.in[0], p), &s, out);
}

lt_status lt_cpu_bf16_adaptive_avg_pool2d_forward(lt_tensor *y, const lt_tensor *x) {
  if (!is_bf16(x)) return lt_cpu_adaptive_avg_pool2d_forward(y, x);
  const lt_tensor *in[1] = {x};
  lt_tensor *out[1] = {y};
  lt_cpu_stand_ins s;
  LT_TRY(lt_cpu_stand_ins_make(&s, F32, 1, in, 1, out));
  return lt_cpu_stand_ins_finish(lt_cpu_adaptive_avg_pool2d_forward(s.out[0], s.in[0]), &s, out);
}

lt_status lt_cpu_bf16_adaptive_avg_pool2d_backward(lt_tensor *gx, const lt_tensor *gy) {
  if (!is_bf16(gx)) return lt_cpu_adaptive_avg_pool2d_backward(gx, gy);
  const lt_tensor *in[1] = {gy};
  lt_tensor *out[1] = {gx};
  lt_cpu_stand_ins s;
  LT_TRY(lt_cpu_stand_ins_make(&s, F32, 1, in, 1, out));
  return lt_cpu_stand_ins_finish(lt_cpu_adaptive_avg_pool2d_backward(s.out[0], s.in[0]), &s, out);
}

/* out = alpha*a@b + beta*out through sgemm on float32 stand-ins (out's old
 * values only when beta reads them). Dense operands keep their strides, so
 * GEMM gets the transpose flags it would get for float32 operands. */
lt_status lt_cpu_bf16_matmul(lt_tensor *out, const lt_tensor *a, const lt_tensor *b, double alpha, double beta) {
  const lt_tensor *in[2] = {a, b};
  lt_tensor *outs[1] = {out};
  lt_cpu_stand_ins s;
  LT_TRY(lt_cpu_stand_ins_make(&s, F32, 2, in, 1, outs));
  lt_status st = beta != 0 ? lt_cpu_copy(s.out[0], out) : LT_OK;
  if (st == LT_OK) st = lt_cpu_matmul(s.out[0], s.in[0], s.in[1], alpha, beta);
  return lt_cpu_stand_ins_finish(st, &s, outs);
}
