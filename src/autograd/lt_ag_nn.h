/* lt_ag_nn.h — the differentiable nn functions (lt.nn.functional): each runs
 * the op of lt_ops_nn.h (same arguments, validation and messages) and, when
 * grad mode is on and a differentiable input requires grad, records a node
 * whose backward calls the matching backward op (one backend kernel, not a
 * chain of elementwise ops).
 *
 * Not differentiated (as in PyTorch): batch norm's running statistics, class
 * weights of nll/cross-entropy, weight and pos_weight of the BCE loss, and
 * class labels. Dims and labels are 0-based here, as in lt_ops_nn.h.
 *
 * Under lt.autocast (lt_autocast.h) conv2d and linear take their floating
 * inputs in bfloat16, batch_norm, softmax and the losses in float32.
 *
 * One file per op family, named as on the other layers: lt_ag_conv.c,
 * lt_ag_norm.c, lt_ag_pool.c, lt_ag_act.c (activations, dropout, softmax),
 * lt_ag_loss.c; linear is in lt_ag_linalg.c beside matmul. */
#ifndef LT_AG_NN_H
#define LT_AG_NN_H

#include "lt_autograd.h"
#include "lt_ops_nn.h"

lt_status lt_ag_conv2d(lt_tensor *x, lt_tensor *w, lt_tensor *b, const lt_conv2d_params *p, lt_tensor **out);
/* conv2d with padding='same' (stride 1; p's padding is not read): each side
 * gets dilation*(k-1)/2, and an odd total's extra row/column of zeros goes
 * at the bottom/right, as PyTorch pads even kernels. */
lt_status lt_ag_conv2d_same(lt_tensor *x, lt_tensor *w, lt_tensor *b, const lt_conv2d_params *p, lt_tensor **out);
/* Inference: batch_norm(conv2d(x, w, b)) with the running statistics, plus
 * bn->residual, then ReLU (lt_op_conv2d_bn_eval: one pass where the backend
 * fuses it). `same`: padding='same', as lt_ag_conv2d_same. An unbatched
 * [C,H,W] input (and residual) is one image, as conv2d takes it. Where a gradient
 * is wanted or autocast is on, the ops are recorded one by one instead, so
 * the result is the separate ops' in every case. */
lt_status lt_ag_conv2d_bn_eval(lt_tensor *x, lt_tensor *w, lt_tensor *b, const lt_conv2d_params *p, bool same,
                               const lt_conv_bn_eval *bn, lt_tensor **out);
/* running stats are updated in place when training (never recorded) */
lt_status lt_ag_batch_norm(lt_tensor *x, lt_tensor *running_mean, lt_tensor *running_var, lt_tensor *weight,
                           lt_tensor *bias, bool training, double momentum, double eps, lt_tensor **out);
/* relu(batch_norm(x)) as one op where the backend has the fused kernels
 * (one BatchNormReluBackward node), else the two */
lt_status lt_ag_batch_norm_relu(lt_tensor *x, lt_tensor *running_mean, lt_tensor *running_var, lt_tensor *weight,
                                lt_tensor *bias, bool training, double momentum, double eps, lt_tensor **out);
lt_status lt_ag_activation(lt_activation act, lt_tensor *x, double param, lt_tensor **out);
/* In place (relu_, leaky_relu_, ...): PyTorch's rules for in-place ops on
 * tensors with history (see lt_ag_ops.h). `opname` names it in messages. */
lt_status lt_ag_activation_(lt_activation act, lt_tensor *x, double param, const char *opname);
lt_status lt_ag_linear(lt_tensor *x, lt_tensor *w, lt_tensor *b, lt_tensor **out);
/* Identity (x itself, retained) unless training with p > 0. */
lt_status lt_ag_dropout(lt_tensor *x, double p, bool training, lt_tensor **out);
lt_status lt_ag_dropout_(lt_tensor *x, double p, bool training);
/* indices may be NULL; they are 0-based positions ih*W+iw within each plane */
lt_status lt_ag_max_pool2d(lt_tensor *x, const lt_pool2d_params *p, lt_tensor **out, lt_tensor **indices);
lt_status lt_ag_avg_pool2d(lt_tensor *x, const lt_pool2d_params *p, lt_tensor **out);
lt_status lt_ag_adaptive_avg_pool2d(lt_tensor *x, int64_t oh, int64_t ow, lt_tensor **out);
lt_status lt_ag_softmax(lt_tensor *x, int dim, bool log, lt_tensor **out);
lt_status lt_ag_nll_loss(lt_tensor *logp, lt_tensor *target, lt_tensor *weight, lt_reduction red, double smoothing,
                         int64_t ignore_index, lt_tensor **out);
/* log_softmax over the class dim (1, or 0 for a 1-D input) then nll_loss,
 * as one fused op and one node (CrossEntropyLossBackward) where the backend
 * has the fused kernels */
lt_status lt_ag_cross_entropy(lt_tensor *logits, lt_tensor *target, lt_tensor *weight, lt_reduction red,
                              double smoothing, int64_t ignore_index, lt_tensor **out);
/* cross_entropy with class probabilities: target of the logits' shape
 * (floating), label-smoothed to t (1 - ls) + ls / C; per element
 * -sum_c weight_c t_c log_softmax(logits)_c; 'mean' divides by the number of
 * elements without the class dim (not by the weights), as PyTorch. */
lt_status lt_ag_cross_entropy_probs(lt_tensor *logits, lt_tensor *target, lt_tensor *weight, lt_reduction red,
                                    double smoothing, lt_tensor **out);
/* MSE, L1 and BCE-with-logits; both x and y are differentiable. For MSE and
 * L1, x and y broadcast together and promote, as PyTorch's (BCE needs one
 * shape and dtype). */
lt_status lt_ag_pointwise_loss(lt_pointwise_loss kind, lt_tensor *x, lt_tensor *y, lt_tensor *w, lt_tensor *pw,
                               lt_reduction red, lt_tensor **out);

#endif
