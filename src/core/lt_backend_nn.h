/* lt_backend_nn.h — the nn kernels a backend provides: convolution, batch
 * normalisation, activation gradients, dropout masks, pooling, softmax and
 * the loss kernels, each as a forward/backward pair.
 *
 * Contracts as in lt_backend.h: the op layer (lt_ops_nn.h: lt_ops_conv.c,
 * lt_ops_norm.c, lt_ops_act.c, lt_ops_pool.c, lt_ops_loss.c) has validated
 * shapes and dtypes and allocated every output; kernels only compute. Unless
 * an entry says otherwise, all tensors of one call share one floating dtype
 * (float32, float64, or a 16-bit one that compute_dtype allows), are
 * contiguous, and outputs are fully overwritten (never accumulated into).
 * Entries are device-neutral: tensors in, tensors out, so a CUDA backend can
 * map them onto cuDNN calls. */
#ifndef LT_BACKEND_NN_H
#define LT_BACKEND_NN_H

#include "lt_cdefs.h"
#include "lt_tensor.h"

LT_BEGIN_DECLS

/* 2-D convolution geometry: index 0 is the height, 1 the width. */
typedef struct {
  int64_t stride[2], padding[2], dilation[2];
  int64_t groups;
} lt_conv2d_params;

/* 2-D pooling geometry. Output size per dim (PyTorch's rule):
 *   floor_or_ceil((in + 2*pad - dil*(k-1) - 1) / stride) + 1, and in ceil
 *   mode the last window must start inside the input or left padding.
 * avg pooling ignores `dilation` (always 1); divisor_override 0 means none. */
typedef struct {
  int64_t kernel[2], stride[2], padding[2], dilation[2];
  bool ceil_mode, count_include_pad;
  int64_t divisor_override;
} lt_pool2d_params;

/* Activations whose gradient the nn table computes (forwards are the
 * elementwise unary kernels LT_UN_RELU, LT_UN_LEAKY_RELU, ...). */
typedef enum { LT_ACT_RELU, LT_ACT_LEAKY_RELU, LT_ACT_GELU, LT_ACT_GELU_TANH, LT_ACT_SILU, LT_ACT_COUNT } lt_activation;

/* Losses computed element by element (reduced by the op layer). */
typedef enum { LT_PLOSS_MSE, LT_PLOSS_L1, LT_PLOSS_BCE_LOGITS, LT_PLOSS_COUNT } lt_pointwise_loss;

/* The two groups of entries whose dtypes compute_dtype describes. */
typedef enum {
  LT_NN_LAYERS, /* convolution, pooling, dropout masks, activation gradients, and `matmul` for linear */
  LT_NN_LOSSES  /* softmax and the losses */
} lt_nn_group;

typedef struct lt_nn_kernels {
  /* --- memory format ---------------------------------------------------------
   * false: every conv/batch-norm/pooling tensor is contiguous (NCHW), and the
   * op layer converts channels-last inputs and outputs around the call.
   * true: those entries also take channels-last tensors (lt_tensor.h), with
   * all activation-shaped tensors of one call (x, y, gy, gx, pooling
   * indices) in one layout, both formats being dense; a conv weight and its
   * gradient are then in that layout too; batch norm's [N,C,S] views of
   * channels-last tensors have strides (C*S, 1, C). [C] vectors stay
   * contiguous. */
  bool channels_last;

  /* --- dtypes -------------------------------------------------------------------
   * The dtype the group's entries compute a tensor of dtype dt in: dt itself
   * when they take it as it is; float32 when they take it by computing in
   * float32 and rounding each result once (the CPU's bfloat16:
   * src/cpu/lt_cpu_bf16.c); LT_NDTYPES when they do not take it. Batch norm
   * takes every floating dtype on every backend (mixed precision, below).
   * The op layer refuses what the entries do not take, and runs dropout (a
   * mask, then a multiply) in the compute dtype. NULL: every floating dtype
   * as it is. */
  lt_dtype (*compute_dtype)(lt_nn_group group, lt_dtype dt);

  /* --- convolution --------------------------------------------------------- */
  /* x [N,Cin,H,W], w [Cout,Cin/groups,KH,KW], b [Cout] or NULL,
   * y [N,Cout,OH,OW]. */
  lt_status (*conv2d_forward)(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b,
                              const lt_conv2d_params *p);
  /* gy [N,Cout,OH,OW]; gx like x, gw like w, gb [Cout]; each may be NULL when
   * not wanted. */
  lt_status (*conv2d_backward)(lt_tensor *gx, lt_tensor *gw, lt_tensor *gb, const lt_tensor *gy, const lt_tensor *x,
                               const lt_tensor *w, const lt_conv2d_params *p);

  /* --- batch normalisation --------------------------------------------------- */
  /* x, y [N,C,S] (S = product of the spatial dims, possibly 1); weight, bias
   * [C] or NULL (1 and 0). Training: normalises with the batch mean and the
   * biased variance, writes them as mean/invstd [C] (invstd =
   * 1/sqrt(var+eps)), and when running_mean/running_var are not NULL updates
   * them in place: r = (1-momentum)*r + momentum*stat, the variance unbiased
   * (times M/(M-1), M = N*S > 1). Eval: uses the running statistics and
   * writes them as mean/invstd the same way. Mixed precision: x/y may be
   * bfloat16/float16 with weight, bias and running stats float32 (or x's
   * dtype) and mean/invstd float32; each [C] tensor is read and written in
   * its own dtype, statistics accumulated in double or float32 at least. */
  lt_status (*batch_norm_forward)(lt_tensor *y, lt_tensor *mean, lt_tensor *invstd, const lt_tensor *x,
                                  const lt_tensor *weight, const lt_tensor *bias, lt_tensor *running_mean,
                                  lt_tensor *running_var, bool training, double momentum, double eps);
  /* gy, x [N,C,S]; mean/invstd as the forward wrote them. gx, gw, gb may be
   * NULL; gx has x's dtype, gw/gb their own (float32 for mixed precision). Training differentiates through the batch statistics; eval treats
   * them as constants. */
  lt_status (*batch_norm_backward)(lt_tensor *gx, lt_tensor *gw, lt_tensor *gb, const lt_tensor *gy,
                                   const lt_tensor *x, const lt_tensor *weight, const lt_tensor *mean,
                                   const lt_tensor *invstd, bool training);
  /* Batch norm fused with the ReLU that follows it, one pass each way. The
   * forward is batch_norm_forward's with y = max(bn(x), 0) (NaN kept, as
   * ReLU; a 16-bit y is rounded first, then clamped). The backward is
   * batch_norm_backward's for gy masked to 0 where that y is 0; the mask
   * comes from x, mean, invstd, weight and bias (y is not kept), so the
   * kernel must recompute the forward's pre-ReLU value bit for bit. NULL
   * (either): the op layer runs batch norm then ReLU, and autograd records
   * the two. */
  lt_status (*batch_norm_relu_forward)(lt_tensor *y, lt_tensor *mean, lt_tensor *invstd, const lt_tensor *x,
                                       const lt_tensor *weight, const lt_tensor *bias, lt_tensor *running_mean,
                                       lt_tensor *running_var, bool training, double momentum, double eps);
  lt_status (*batch_norm_relu_backward)(lt_tensor *gx, lt_tensor *gw, lt_tensor *gb, const lt_tensor *gy,
                                        const lt_tensor *x, const lt_tensor *weight, const lt_tensor *bias,
                                        const lt_tensor *mean, const lt_tensor *invstd, bool training);

  /* --- inference: convolution, batch norm, residual, ReLU ----------------------
   * y = batch_norm(conv2d(x, w, b)) in evaluation mode (running statistics;
   * bn_weight/bn_bias [Cout] or NULL), plus residual (y's shape, or NULL),
   * then max(., 0) when relu: one pass over y instead of three or four.
   * Each step is rounded as the separate entries round it (batch norm as
   * x*scale + shift with batch_norm_forward's per-channel coefficients), so
   * the result equals theirs. Tensors as conv2d_forward's; the batch norm
   * vectors contiguous of x's dtype. Sets *done to false, returning LT_OK,
   * for a call it does not take (the op layer then runs the separate
   * entries). NULL: the separate entries always. */
  lt_status (*conv2d_bn_eval_forward)(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b,
                                      const lt_conv2d_params *p, const lt_tensor *bn_weight, const lt_tensor *bn_bias,
                                      const lt_tensor *running_mean, const lt_tensor *running_var, double eps,
                                      const lt_tensor *residual, bool relu, bool *done);

  /* --- activations and dropout ------------------------------------------------ */
  /* gx = gy * f'(x) elementwise; gy and x any strides (same shape as gx).
   * For RELU and LEAKY_RELU (slope >= 0) `x` may be the forward's output:
   * only its sign is read. param: the leaky slope. */
  lt_status (*activation_backward)(lt_activation act, lt_tensor *gx, const lt_tensor *gy, const lt_tensor *x,
                                   double param);
  /* mask[i] = 1/(1-p) with probability 1-p, else 0, from Philox blocks
   * first_block.. of `seed` (element i uses block first_block + i/4, word
   * i%4, uniform as lt_philox.h defines for mask's dtype; kept when u >= p).
   * p in [0, 1); mask contiguous. */
  lt_status (*dropout_mask)(lt_tensor *mask, double p, uint64_t seed, uint64_t first_block);

  /* --- pooling (x [N,C,H,W], y [N,C,OH,OW]) ----------------------------------- */
  /* idx (int64, y's shape): argmax as ih*W + iw within its plane; NaN wins. */
  lt_status (*max_pool2d_forward)(lt_tensor *y, lt_tensor *idx, const lt_tensor *x, const lt_pool2d_params *p);
  /* gx[i] = the sum of gy over the outputs whose idx is i, added in output
   * order (deterministic: no atomics; 16-bit gradients are summed in float32
   * and rounded once). p is the forward's: a kernel may gather over the
   * windows that contain i instead of scattering. */
  lt_status (*max_pool2d_backward)(lt_tensor *gx, const lt_tensor *gy, const lt_tensor *idx,
                                   const lt_pool2d_params *p);
  lt_status (*avg_pool2d_forward)(lt_tensor *y, const lt_tensor *x, const lt_pool2d_params *p);
  lt_status (*avg_pool2d_backward)(lt_tensor *gx, const lt_tensor *gy, const lt_pool2d_params *p);
  /* windows [floor(o*H/OH), ceil((o+1)*H/OH)) per dim */
  lt_status (*adaptive_avg_pool2d_forward)(lt_tensor *y, const lt_tensor *x);
  lt_status (*adaptive_avg_pool2d_backward)(lt_tensor *gx, const lt_tensor *gy);

  /* --- softmax over the middle dim of [outer, n, inner] ------------------------- */
  lt_status (*softmax_forward)(lt_tensor *y, const lt_tensor *x, int64_t outer, int64_t n, int64_t inner, bool log);
  /* y: the forward's output */
  lt_status (*softmax_backward)(lt_tensor *gx, const lt_tensor *gy, const lt_tensor *y, int64_t outer, int64_t n,
                                int64_t inner, bool log);

  /* --- losses ---------------------------------------------------------------------- */
  /* Negative log-likelihood with label smoothing eps, per element:
   *   logp [N,C,S], target int64 [N,S] (0-based classes), weight [C] or NULL;
   *   loss[i] = (1-eps)*w[t_i]*(-logp[i,t_i]) + eps/C * sum_c w[c]*(-logp[i,c]),
   *   wt[i] = w[t_i]; both 0 where t_i == ignore_index.
   * A target outside 0..C-1 (and not ignore_index) is LT_ERR_ARG (argument 2)
   * naming its value and position, both 1-based. */
  lt_status (*nll_loss_forward)(lt_tensor *loss, lt_tensor *wt, const lt_tensor *logp, const lt_tensor *target,
                                const lt_tensor *weight, double smoothing, int64_t ignore_index);
  /* glogp [N,C,S] = d(sum_i g[i]*loss[i]) / d logp; g [N,S], or one element
   * standing for all. Targets already checked by the forward. */
  lt_status (*nll_loss_backward)(lt_tensor *glogp, const lt_tensor *g, const lt_tensor *target,
                                 const lt_tensor *weight, double smoothing, int64_t ignore_index);
  /* loss = f(x, y) elementwise: MSE (x-y)^2, L1 |x-y|, BCE_LOGITS
   *   w * ((1-y)*x + (1+(pw-1)*y) * log(1+exp(-x))) computed stably.
   * w and pw may be NULL (1); x, y, w, pw all of loss's shape. */
  lt_status (*pointwise_loss_forward)(lt_pointwise_loss kind, lt_tensor *loss, const lt_tensor *x, const lt_tensor *y,
                                      const lt_tensor *w, const lt_tensor *pw);
  /* gx = g * dloss/dx, gy = g * dloss/dy (either may be NULL); g of loss's
   * shape, or one element standing for all. */
  lt_status (*pointwise_loss_backward)(lt_pointwise_loss kind, lt_tensor *gx, lt_tensor *gy, const lt_tensor *g,
                                       const lt_tensor *x, const lt_tensor *y, const lt_tensor *w,
                                       const lt_tensor *pw);

  /* --- fused cross-entropy (log_softmax and nll in one pass; optional) ----------------
   * x [N,C,S] logits, target int64 [N,S] (0-based classes), weight [C] or
   * NULL, eps = smoothing. Per element i = (n,s), with t = t_i:
   *   lse[i]  = log(sum_c exp(x[i,c]))            (the row maximum subtracted first)
   *   loss[i] = (1-eps)*w[t]*(lse_i - x[i,t]) + eps/C * sum_c w[c]*(lse_i - x[i,c])
   *   wt[i]   = w[t]
   * (exactly nll_loss_forward of log_softmax(x)); loss and wt are 0 where
   * t == ignore_index (lse is written for every i). loss and wt have x's
   * dtype; lse is float64 whatever x's dtype (an [N,S] vector: the backward
   * rebuilds log-probabilities from it without a rounding of its own). Bad targets as
   * nll_loss_forward; a device that cannot report before returning records
   * the error for the next synchronisation and writes NaN as that loss. */
  lt_status (*cross_entropy_forward)(lt_tensor *loss, lt_tensor *wt, lt_tensor *lse, const lt_tensor *x,
                                     const lt_tensor *target, const lt_tensor *weight, double smoothing,
                                     int64_t ignore_index);
  /* gx [N,C,S] (x's dtype) = d(sum_i g[i]*loss[i]) / dx in one pass:
   *   gx[i,c] = g[i] * (p[i,c]*K_i - q[i,c]),  p = exp(x - lse),
   *   q[i,c] = (1-eps)*w[t]*[c == t] + eps/C*w[c],  K_i = sum_c q[i,c];
   * 0 for ignored elements. g [N,S] (x's dtype), or one element standing for
   * all; lse as the forward wrote it. Targets already checked. */
  lt_status (*cross_entropy_backward)(lt_tensor *gx, const lt_tensor *g, const lt_tensor *x, const lt_tensor *lse,
                                      const lt_tensor *target, const lt_tensor *weight, double smoothing,
                                      int64_t ignore_index);

  /* --- linear (optional: without it the op layer uses `matmul`) ------------------------
   * y [M,O] = x [M,I] · w [O,I]ᵀ (+ b [O] per row when b is not NULL), in
   * one library call where the backend can fuse the bias (cuBLASLt's bias
   * epilogue). x, w, b, y contiguous, one floating dtype. */
  lt_status (*linear_forward)(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b);
} lt_nn_kernels;

LT_END_DECLS

#endif
