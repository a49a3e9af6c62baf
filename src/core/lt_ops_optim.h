/* lt_ops_optim.h — the op layer of the optimizers: one fused in-place step
 * of an algorithm over a list of parameter tensors (PyTorch's torch.optim
 * arithmetic; the hyper-parameter structs are in lt_backend_optim.h).
 *
 * Each function checks its inputs, then calls the backend's kernel once for
 * all parameters that (with their gradient and state) are contiguous, and
 * once per remaining parameter through contiguous copies written back
 * afterwards. Parameters and state tensors are updated in place and their
 * storage versions bumped, as any in-place op. No autograd is recorded.
 *
 * Argument positions in messages are those of the Lua-facing raw functions
 * (lt._optim.sgd(params, grads, bufs, fresh, hyper) and friends, see
 * lt_lua_optim.c); list entries are named 1-based: "grads[3]".
 * Not here: which state exists, its creation and the step counting (the Lua
 * optimizer classes, lua/luatrain/optim). */
#ifndef LT_OPS_OPTIM_H
#define LT_OPS_OPTIM_H

#include <stdbool.h>

#include "lt_backend.h"
#include "lt_tensor.h"

/* lt._optim.sgd(params #1, grads #2, bufs #3, fresh #4, hyper #5).
 * buf: momentum buffers (required when momentum != 0, else ignored and may
 * be NULL); fresh[i] (NULL: none) marks buffers set to the gradient this
 * step (PyTorch's first momentum step). */
lt_status lt_op_sgd_step(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *buf,
                         const bool *fresh, const lt_sgd_hparams *h);
/* lt._optim.adam(params #1, grads #2, exp_avgs #3, exp_avg_sqs #4,
 * max_exp_avg_sqs #5, steps #6, hyper #7). max_exp_avg_sq required when
 * amsgrad. step[i] >= 1 counts this step. */
lt_status lt_op_adam_step(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *exp_avg,
                          lt_tensor *const *exp_avg_sq, lt_tensor *const *max_exp_avg_sq, const double *step,
                          const lt_adam_hparams *h);
/* lt._optim.rmsprop(params #1, grads #2, square_avgs #3, grad_avgs #4,
 * bufs #5, hyper #6). grad_avg required when centered, buf when momentum > 0. */
lt_status lt_op_rmsprop_step(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *square_avg,
                             lt_tensor *const *grad_avg, lt_tensor *const *buf, const lt_rmsprop_hparams *h);
/* lt._optim.adadelta(params #1, grads #2, square_avgs #3, acc_deltas #4, hyper #5) */
lt_status lt_op_adadelta_step(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *square_avg,
                              lt_tensor *const *acc_delta, const lt_adadelta_hparams *h);
/* lt._optim.adagrad(params #1, grads #2, state_sums #3, steps #4, hyper #5) */
lt_status lt_op_adagrad_step(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *sum,
                             const double *step, const lt_adagrad_hparams *h);

/* After a step above failed: the row (0-based position in its lists) the
 * failure is about, or -1 when it is about no single parameter (a
 * hyper-parameter, a missing list, the backend). Thread-local, as the
 * error message. */
int lt_op_optim_failed_row(void);

/* Device scalars (lt_backend_optim.h): any step above may be given
 * h->scalars, a float64 tensor on the parameters' device whose values then
 * replace h's numeric fields and the step counts (all rows share its step
 * count). On the CPU the op layer reads and checks them; on a GPU the
 * kernel reads them when it runs, so they are checked when written, by: */
typedef enum { LT_OPTIM_SGD, LT_OPTIM_ADAM, LT_OPTIM_RMSPROP, LT_OPTIM_ADADELTA, LT_OPTIM_ADAGRAD } lt_optim_algo;

/* lt._optim.set_scalars(dst #1, algo #2, hyper #3): checks the
 * hyper-parameters (`hp` points at the algorithm's lt_*_hparams) as a step
 * would, then writes them, and `step` (>= 1) for Adam and Adagrad, into dst
 * in the layout of lt_backend_optim.h; queued, never waits. */
lt_status lt_op_optim_write_scalars(lt_tensor *dst, lt_optim_algo algo, const void *hp, double step);

#endif
