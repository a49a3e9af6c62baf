/* lt_ops_nn.h — the op layer of the neural-network functions
 * (lt.nn.functional): validation with messages naming the offending shapes,
 * output allocation, and dispatch to the backend's nn kernels
 * (lt_backend_nn.h). Each differentiable op comes with the backward op that
 * its autograd rule calls; neither records autograd history.
 *
 * One file per op family, with the same name on every layer: conv
 * (lt_ops_conv.c, src/cpu/lt_cpu_conv.c, cuda/lt_cuda_conv.c,
 * src/autograd/lt_ag_conv.c), norm (batch norm), pool, act (activations,
 * dropout, softmax) and loss likewise; linear lives with matmul (linalg).
 * The Lua bindings of all of them: src/lua/lt_lua_nn.c.
 *
 * Conventions of lt_ops.h: dims 0-based, messages 1-based, argument numbers
 * are the Lua-facing positions (F.conv2d(input #1, weight #2, bias #3,
 * options #4) and so on), outputs are new references. Class labels are
 * 0-based here (the glue subtracts 1 from Lua's 1-based labels); messages
 * about a label speak Lua's 1-based terms. Optional tensors are NULL.
 * Floating inputs only, of the dtypes the device's kernels take
 * (lt_nn_kernels.compute_dtype; on the CPU float32 and float64, and
 * bfloat16 for conv2d, linear, pooling, dropout and activations). */
#ifndef LT_OPS_NN_H
#define LT_OPS_NN_H

#include "lt_ops.h"

typedef enum { LT_REDUCTION_NONE, LT_REDUCTION_MEAN, LT_REDUCTION_SUM } lt_reduction;

/* --- convolution (lt_ops_conv.c) ---------------------------------------------------- */
/* x [N,Cin,H,W], w [Cout,Cin/groups,KH,KW], b [Cout] or NULL -> [N,Cout,OH,OW];
 * an unbatched x [Cin,H,W] gives [Cout,OH,OW] (its gradient is 3-D too). */
lt_status lt_op_conv2d(lt_tensor *x, lt_tensor *w, lt_tensor *b, const lt_conv2d_params *p, lt_tensor **y);
/* The batch norm (evaluation mode: running statistics) after an inference
 * convolution, what is added to it, and whether a ReLU follows. */
typedef struct {
  lt_tensor *running_mean, *running_var, *weight, *bias; /* weight, bias may be NULL */
  double eps;
  lt_tensor *residual; /* added after the batch norm; NULL: none */
  bool relu;
} lt_conv_bn_eval;
/* y = batch_norm(conv2d(x, w, b)) [+ residual] [then ReLU], for inference
 * (no autograd): one pass over y where the backend has the fused entry,
 * else the separate ops, whose results it equals up to the order of the
 * convolution's float sums. A [C,H,W] input (and residual) is one image.
 * Checks and errors are those of conv2d, batch_norm and add. */
lt_status lt_op_conv2d_bn_eval(lt_tensor *x, lt_tensor *w, lt_tensor *b, const lt_conv2d_params *p,
                               const lt_conv_bn_eval *bn, lt_tensor **y);
/* Each of gx, gw, gb may be NULL (not computed). */
lt_status lt_op_conv2d_backward(lt_tensor *gy, lt_tensor *x, lt_tensor *w, const lt_conv2d_params *p, lt_tensor **gx,
                                lt_tensor **gw, lt_tensor **gb);

/* --- batch normalisation (lt_ops_norm.c) -------------------------------------------------- */
/* x [N,C,...]; running_mean/var, weight, bias [C] or NULL (running stats are
 * required in eval mode and updated in place in training mode). mean/invstd
 * receive what backward needs ([C]). A bfloat16/float16 x may take float32
 * weight, bias and running stats (mixed precision, as cuDNN's): y keeps x's
 * dtype, mean/invstd are float32, gw/gb have the weight's dtype. */
lt_status lt_op_batch_norm(lt_tensor *x, lt_tensor *running_mean, lt_tensor *running_var, lt_tensor *weight,
                           lt_tensor *bias, bool training, double momentum, double eps, lt_tensor **y,
                           lt_tensor **mean, lt_tensor **invstd);
lt_status lt_op_batch_norm_backward(lt_tensor *gy, lt_tensor *x, lt_tensor *weight, lt_tensor *mean, lt_tensor *invstd,
                                    bool training, lt_tensor **gx, lt_tensor **gw, lt_tensor **gb);
/* y = max(batch_norm(x), 0), with lt_op_batch_norm's arguments and
 * results: one pass where the backend has the fused kernels
 * (lt_op_batch_norm_relu_fused), else batch norm then ReLU. */
lt_status lt_op_batch_norm_relu(lt_tensor *x, lt_tensor *running_mean, lt_tensor *running_var, lt_tensor *weight,
                                lt_tensor *bias, bool training, double momentum, double eps, lt_tensor **y,
                                lt_tensor **mean, lt_tensor **invstd);
/* Whether x's backend has both fused batch-norm + ReLU kernels. */
bool lt_op_batch_norm_relu_fused(const lt_tensor *x);
/* The fused kernel's gradients of y = max(batch_norm(x), 0): gy is masked
 * where y is 0, recomputed from x, weight, bias, mean and invstd (those the
 * forward used and handed out), then as lt_op_batch_norm_backward. Needs the
 * fused kernels. */
lt_status lt_op_batch_norm_relu_backward(lt_tensor *gy, lt_tensor *x, lt_tensor *weight, lt_tensor *bias,
                                         lt_tensor *mean, lt_tensor *invstd, bool training, lt_tensor **gx,
                                         lt_tensor **gw, lt_tensor **gb);

/* --- activations and dropout (lt_ops_act.c), linear (lt_ops_linalg.c) --------------------- */
/* y = act(x); param: the leaky slope (ignored otherwise). */
lt_status lt_op_activation(lt_activation act, lt_tensor *x, double param, lt_tensor **y);
/* gx = gy * act'(x) (for RELU/LEAKY_RELU x may be the forward's output) */
lt_status lt_op_activation_backward(lt_activation act, lt_tensor *gy, lt_tensor *x, double param, lt_tensor **gx);
/* x [*, in], w [out, in], b [out] or NULL -> [*, out] */
lt_status lt_op_linear(lt_tensor *x, lt_tensor *w, lt_tensor *b, lt_tensor **y);
lt_status lt_op_linear_backward(lt_tensor *gy, lt_tensor *x, lt_tensor *w, lt_tensor **gx, lt_tensor **gw,
                                lt_tensor **gb);
/* Training-mode dropout, p in [0, 1]: y = x * mask, mask (x's dtype and
 * shape) holds 0 or 1/(1-p), drawn from the global generator. */
lt_status lt_op_dropout(lt_tensor *x, double p, lt_tensor **y, lt_tensor **mask);

/* --- pooling (lt_ops_pool.c; input [N,C,H,W], or unbatched [C,H,W] giving [C,OH,OW] outputs
 * and indices; arg #2 is the kernel size, #3 options) ------------------------------------ */
lt_status lt_op_max_pool2d(lt_tensor *x, const lt_pool2d_params *p, lt_tensor **y, lt_tensor **indices);
lt_status lt_op_max_pool2d_backward(lt_tensor *gy, lt_tensor *x, lt_tensor *indices, const lt_pool2d_params *p,
                                    lt_tensor **gx);
lt_status lt_op_avg_pool2d(lt_tensor *x, const lt_pool2d_params *p, lt_tensor **y);
lt_status lt_op_avg_pool2d_backward(lt_tensor *gy, lt_tensor *x, const lt_pool2d_params *p, lt_tensor **gx);
lt_status lt_op_adaptive_avg_pool2d(lt_tensor *x, int64_t oh, int64_t ow, lt_tensor **y);
lt_status lt_op_adaptive_avg_pool2d_backward(lt_tensor *gy, lt_tensor *x, lt_tensor **gx);
/* The pooled size of one dim (PyTorch's rule, see lt_pool2d_params), or -1
 * when the window doesn't fit. */
int64_t lt_pool_output_size(int64_t in, int64_t k, int64_t s, int64_t pad, int64_t dil, bool ceil_mode);

/* --- softmax (lt_ops_act.c) ------------------------------------------------------------ */
lt_status lt_op_softmax(lt_tensor *x, int dim, bool log, lt_tensor **y);
/* y: the forward's output */
lt_status lt_op_softmax_backward(lt_tensor *gy, lt_tensor *y, int dim, bool log, lt_tensor **gx);

/* --- losses (lt_ops_loss.c) ------------------------------------------------------------ */
/* logp [N,C,d...] (or [C]), target int64 [N,d...] (or []), 0-based labels,
 * weight [C] or NULL; label smoothing in [0, 1]. total_weight receives the
 * mean's denominator (sum of the target weights; may be NULL). */
lt_status lt_op_nll_loss(lt_tensor *logp, lt_tensor *target, lt_tensor *weight, lt_reduction red, double smoothing,
                         int64_t ignore_index, lt_tensor **out, lt_tensor **total_weight);
lt_status lt_op_nll_loss_backward(lt_tensor *g, lt_tensor *logp, lt_tensor *target, lt_tensor *weight,
                                  lt_reduction red, double smoothing, int64_t ignore_index, lt_tensor *total_weight,
                                  lt_tensor **glogp);
/* log_softmax over the class dim, then nll_loss (no history; for the
 * differentiable form see lt_ag_cross_entropy): one fused kernel where the
 * backend has it (lt_op_cross_entropy_fused), else the two ops. */
lt_status lt_op_cross_entropy(lt_tensor *logits, lt_tensor *target, lt_tensor *weight, lt_reduction red,
                              double smoothing, int64_t ignore_index, lt_tensor **out);
/* Whether logits' backend has the fused cross-entropy kernels. */
bool lt_op_cross_entropy_fused(const lt_tensor *logits);
/* The fused forward, also handing out what its backward needs (either may be
 * NULL): lse, the per-element log-sum-exp of the logits ([N,S] with S the
 * product of the dims after the class dim; float64), and total_weight as
 * lt_op_nll_loss gives it. */
lt_status lt_op_cross_entropy_ex(lt_tensor *logits, lt_tensor *target, lt_tensor *weight, lt_reduction red,
                                 double smoothing, int64_t ignore_index, lt_tensor **out, lt_tensor **lse,
                                 lt_tensor **total_weight);
/* glogits = d(loss)/d(logits) for upstream gradient g, in one kernel; lse
 * and total_weight (for a mean) from lt_op_cross_entropy_ex. */
lt_status lt_op_cross_entropy_backward(lt_tensor *g, lt_tensor *logits, lt_tensor *target, lt_tensor *weight,
                                       lt_tensor *lse, lt_reduction red, double smoothing, int64_t ignore_index,
                                       lt_tensor *total_weight, lt_tensor **glogits);
/* The checks of cross_entropy with class probabilities (a floating target of
 * the input's shape; weight [C] or NULL), which lt_ag_cross_entropy_probs
 * composes of differentiable ops. */
lt_status lt_op_cross_entropy_probs_check(lt_tensor *logits, lt_tensor *target, lt_tensor *weight, double smoothing);
/* x, y the same shape and dtype (lt_ag_pointwise_loss broadcasts and promotes
 * MSE's and L1's first); w and pw (BCE only) broadcast to it. */
lt_status lt_op_pointwise_loss(lt_pointwise_loss kind, lt_tensor *x, lt_tensor *y, lt_tensor *w, lt_tensor *pw,
                               lt_reduction red, lt_tensor **out);
/* gx, gy may be NULL (not computed) */
lt_status lt_op_pointwise_loss_backward(lt_pointwise_loss kind, lt_tensor *g, lt_tensor *x, lt_tensor *y,
                                        lt_tensor *w, lt_tensor *pw, lt_reduction red, lt_tensor **gx,
                                        lt_tensor **gy);

#endif
