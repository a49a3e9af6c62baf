/* lt_cpu_nn.h — the CPU nn kernels, one file per op family: lt_cpu_conv.c,
 * lt_cpu_norm.c, lt_cpu_pool.c, lt_cpu_act.c and lt_cpu_loss.c (bfloat16
 * entries: lt_cpu_bf16.c); lt_cpu_backend.c gathers them into the backend's
 * nn table. Contracts: lt_backend_nn.h. */
#ifndef LT_CPU_NN_H
#define LT_CPU_NN_H

#include "lt_backend_nn.h"

/* Element i of a float32 or float64 (dbl) buffer as double, and a store of
 * one rounded to the buffer's dtype: the loads and stores of the kernels
 * that compute in double. */
static inline double ldv(const void *p, bool dbl, int64_t i) {
  return dbl ? ((const double *)p)[i] : ((const float *)p)[i];
}
static inline void stv(void *p, bool dbl, int64_t i, double v) {
  if (dbl) ((double *)p)[i] = v;
  else ((float *)p)[i] = (float)v;
}

/* The layout of one call's 4-D tensors (NULLs skipped): NCHW when all are
 * contiguous (also where one is both, C == 1 or 1x1 planes), channels-last
 * when all are, mixed otherwise (an entry refuses it, or leaves it to a
 * path that takes strided views). */
typedef enum { LT_CPU_NCHW, LT_CPU_NHWC, LT_CPU_MIXED } lt_cpu_layout;
static inline lt_cpu_layout lt_cpu_call_layout(int n, const lt_tensor *const *t) {
  bool nchw = true, nhwc = true;
  for (int i = 0; i < n; i++) {
    if (!t[i]) continue;
    nchw = nchw && lt_tensor_is_contiguous(t[i]);
    nhwc = nhwc && lt_tensor_is_channels_last(t[i]);
  }
  return nchw ? LT_CPU_NCHW : nhwc ? LT_CPU_NHWC : LT_CPU_MIXED;
}

/* lt_cpu_conv_path.c: the entries, which pick oneDNN (lt_cpu_conv_dnnl.h) or
 * the im2col kernels below */
lt_status lt_cpu_conv2d_forward(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b,
                                 const lt_conv2d_params *p);
lt_status lt_cpu_conv2d_backward(lt_tensor *gx, lt_tensor *gw, lt_tensor *gb, const lt_tensor *gy,
                                 const lt_tensor *x, const lt_tensor *w, const lt_conv2d_params *p);
/* the conv2d_bn_eval_forward entry: oneDNN post-ops for float32, or not done */
lt_status lt_cpu_conv2d_bn_eval_forward(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b,
                                        const lt_conv2d_params *p, const lt_tensor *bn_weight, const lt_tensor *bn_bias,
                                        const lt_tensor *running_mean, const lt_tensor *running_var, double eps,
                                        const lt_tensor *residual, bool relu, bool *done);

/* lt_cpu_conv.c: im2col + OpenBLAS, any float dtype; and gb = the sum of gy
 * over all axes but the channel's (NCHW or channels-last gy) */
/* The oneDNN half of the entries alone, under the same choice and counts:
 * *done says whether it ran (the bfloat16 entries try it before widening to
 * float32; the backward one computes no bias gradient) */
lt_status lt_cpu_conv2d_forward_dnnl(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b,
                                      const lt_conv2d_params *p, bool *done);
lt_status lt_cpu_conv2d_backward_dnnl(lt_tensor *gx, lt_tensor *gw, const lt_tensor *gy, const lt_tensor *x,
                                       const lt_tensor *w, const lt_conv2d_params *p, bool *done);
lt_status lt_cpu_im2col_conv2d_forward(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b,
                                        const lt_conv2d_params *p);
lt_status lt_cpu_im2col_conv2d_backward(lt_tensor *gx, lt_tensor *gw, lt_tensor *gb, const lt_tensor *gy,
                                         const lt_tensor *x, const lt_tensor *w, const lt_conv2d_params *p);
lt_status lt_cpu_conv2d_bias_grad(lt_tensor *gb, const lt_tensor *gy);

/* lt_cpu_norm.c */
/* Evaluation mode's per-channel scale and shift (y = x*scale + shift) of a
 * float32 input, [C] float arrays, exactly as batch_norm_forward computes
 * and rounds them: for the inference convolution's fused batch norm. */
void lt_cpu_batch_norm_eval_coef(const lt_tensor *weight, const lt_tensor *bias, const lt_tensor *running_mean,
                                 const lt_tensor *running_var, double eps, float *scale, float *shift);
lt_status lt_cpu_batch_norm_forward(lt_tensor *y, lt_tensor *mean, lt_tensor *invstd, const lt_tensor *x,
                                    const lt_tensor *weight, const lt_tensor *bias, lt_tensor *running_mean,
                                    lt_tensor *running_var, bool training, double momentum, double eps);
lt_status lt_cpu_batch_norm_backward(lt_tensor *gx, lt_tensor *gw, lt_tensor *gb, const lt_tensor *gy,
                                     const lt_tensor *x, const lt_tensor *weight, const lt_tensor *mean,
                                     const lt_tensor *invstd, bool training);
lt_status lt_cpu_batch_norm_relu_forward(lt_tensor *y, lt_tensor *mean, lt_tensor *invstd, const lt_tensor *x,
                                         const lt_tensor *weight, const lt_tensor *bias, lt_tensor *running_mean,
                                         lt_tensor *running_var, bool training, double momentum, double eps);
lt_status lt_cpu_batch_norm_relu_backward(lt_tensor *gx, lt_tensor *gw, lt_tensor *gb, const lt_tensor *gy,
                                          const lt_tensor *x, const lt_tensor *weight, const lt_tensor *bias,
                                          const lt_tensor *mean, const lt_tensor *invstd, bool training);

/* lt_cpu_pool.c */
lt_status lt_cpu_max_pool2d_forward(lt_tensor *y, lt_tensor *idx, const lt_tensor *x, const lt_pool2d_params *p);
lt_status lt_cpu_max_pool2d_backward(lt_tensor *gx, const lt_tensor *gy, const lt_tensor *idx,
                                     const lt_pool2d_params *p);
lt_status lt_cpu_avg_pool2d_forward(lt_tensor *y, const lt_tensor *x, const lt_pool2d_params *p);
lt_status lt_cpu_avg_pool2d_backward(lt_tensor *gx, const lt_tensor *gy, const lt_pool2d_params *p);
lt_status lt_cpu_adaptive_avg_pool2d_forward(lt_tensor *y, const lt_tensor *x);
lt_status lt_cpu_adaptive_avg_pool2d_backward(lt_tensor *gx, const lt_tensor *gy);

/* lt_cpu_act.c */
lt_status lt_cpu_activation_backward(lt_activation act, lt_tensor *gx, const lt_tensor *gy, const lt_tensor *x,
                                     double param);
lt_status lt_cpu_dropout_mask(lt_tensor *mask, double p, uint64_t seed, uint64_t first_block);
lt_status lt_cpu_softmax_forward(lt_tensor *y, const lt_tensor *x, int64_t outer, int64_t n, int64_t inner, bool log);
lt_status lt_cpu_softmax_backward(lt_tensor *gx, const lt_tensor *gy, const lt_tensor *y, int64_t outer, int64_t n,
                                  int64_t inner, bool log);

/* lt_cpu_loss.c */
lt_status lt_cpu_nll_loss_forward(lt_tensor *loss, lt_tensor *wt, const lt_tensor *logp, const lt_tensor *target,
                                  const lt_tensor *weight, double smoothing, int64_t ignore_index);
lt_status lt_cpu_nll_loss_backward(lt_tensor *glogp, const lt_tensor *g, const lt_tensor *target,
                                   const lt_tensor *weight, double smoothing, int64_t ignore_index);
lt_status lt_cpu_pointwise_loss_forward(lt_pointwise_loss kind, lt_tensor *loss, const lt_tensor *x,
                                        const lt_tensor *y, const lt_tensor *w, const lt_tensor *pw);
lt_status lt_cpu_pointwise_loss_backward(lt_pointwise_loss kind, lt_tensor *gx, lt_tensor *gy, const lt_tensor *g,
                                         const lt_tensor *x, const lt_tensor *y, const lt_tensor *w,
                                         const lt_tensor *pw);
lt_status lt_cpu_cross_entropy_forward(lt_tensor *loss, lt_tensor *wt, lt_tensor *lse, const lt_tensor *x,
                                       const lt_tensor *target, const lt_tensor *weight, double smoothing,
                                       int64_t ignore_index);
lt_status lt_cpu_cross_entropy_backward(lt_tensor *gx, const lt_tensor *g, const lt_tensor *x, const lt_tensor *lse,
                                        const lt_tensor *target, const lt_tensor *weight, double smoothing,
                                        int64_t ignore_index);

/* lt_cpu_bf16.c: the table's entries for the kernels above that also take
 * bfloat16 (run as float32), and compute_dtype */
lt_dtype lt_cpu_nn_compute_dtype(lt_nn_group group, lt_dtype dt);
lt_status lt_cpu_bf16_conv2d_forward(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b,
                                     const lt_conv2d_params *p);
lt_status lt_cpu_bf16_conv2d_backward(lt_tensor *gx, lt_tensor *gw, lt_tensor *gb, const lt_tensor *gy,
                                      const lt_tensor *x, const lt_tensor *w, const lt_conv2d_params *p);
lt_status lt_cpu_bf16_activation_backward(lt_activation act, lt_tensor *gx, const lt_tensor *gy, const lt_tensor *x,
                                          double param);
lt_status lt_cpu_bf16_max_pool2d_forward(lt_tensor *y, lt_tensor *idx, const lt_tensor *x, const lt_pool2d_params *p);
lt_status lt_cpu_bf16_max_pool2d_backward(lt_tensor *gx, const lt_tensor *gy, const lt_tensor *idx,
                                          const lt_pool2d_params *p);
lt_status lt_cpu_bf16_avg_pool2d_forward(lt_tensor *y, const lt_tensor *x, const lt_pool2d_params *p);
lt_status lt_cpu_bf16_avg_pool2d_backward(lt_tensor *gx, const lt_tensor *gy, const lt_pool2d_params *p);
lt_status lt_cpu_bf16_adaptive_avg_pool2d_forward(lt_tensor *y, const lt_tensor *x);
lt_status lt_cpu_bf16_adaptive_avg_pool2d_backward(lt_tensor *gx, const lt_tensor *gy);

#endif
