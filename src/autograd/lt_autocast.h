/* lt_autocast.h — bf16 mixed precision (lt.autocast): a thread-local switch
 * and the one helper the autograd wrappers call to cast their inputs.
 *
 * While autocast is on, the wrappers of the GEMM-bound ops (conv2d, linear,
 * matmul/mm/bmm) take their floating inputs in bfloat16 and the wrappers of
 * the precision-sensitive ops (softmax, the losses) take them in float32.
 * The casts are differentiable (lt_ag_to), so float32 master weights
 * receive float32 gradients. batch_norm is not cast (as in PyTorch): it runs
 * in its input's dtype with float32 parameters and statistics (mixed
 * precision in the op layer). Elementwise ops are not touched: they follow
 * the ordinary type promotion. Not a general per-op policy table (PyTorch's
 * has hundreds of entries); only the ops above are listed. */
#ifndef LT_AUTOCAST_H
#define LT_AUTOCAST_H

#include "lt_autograd.h"

typedef enum {
  LT_AUTOCAST_LOWER, /* compute in the autocast dtype (bfloat16) */
  LT_AUTOCAST_FP32,  /* compute in float32 */
} lt_autocast_policy;

bool lt_autocast_enabled(void);
/* Turns autocast on or off for this thread; returns the previous state. */
bool lt_autocast_set_enabled(bool enabled);

/* The tensor an autocast op should compute with: t itself (retained) when
 * autocast is off, t is NULL (*out = NULL), t is not floating point, is
 * float64 (never cast, as in PyTorch) or already has the policy's dtype;
 * else a differentiable cast of t. */
lt_status lt_autocast_input(lt_tensor *t, lt_autocast_policy policy, lt_tensor **out);
/* lt_autocast_input over n tensors; on failure nothing is left retained. */
lt_status lt_autocast_inputs(int n, lt_tensor *const *in, lt_autocast_policy policy, lt_tensor **out);
void lt_autocast_release(int n, lt_tensor **t);

#endif
