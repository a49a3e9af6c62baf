/* lt_backend_optim.h — the fused optimizer-step kernels a backend provides
 * (one table per area so each can grow without touching the others).
 *
 * Each entry performs one step of one algorithm over a list of n parameter
 * tensors, in place: param[i], and the algorithm's state tensors at index i,
 * are updated from grad[i]. The arithmetic is PyTorch's single-tensor
 * algorithm (torch.optim's documented pseudo-code), element by element, in
 * one pass over memory per tensor; lt_optim_rules.h holds it, once for every
 * backend. A CPU backend loops over the list; a CUDA backend launches one
 * multi-tensor kernel for the whole list.
 *
 * Contracts (the op layer, lt_ops_optim.c, has checked them):
 * - every tensor is on this backend's device and dense (no gaps or
 *   overlaps: contiguous or channels-last, say), and param[i], grad[i] and
 *   the state tensors at index i share shape, dtype and layout, so a kernel
 *   walks each as a flat array of numel elements from its data pointer;
 * - dtype is float32 or float64 (state kept in the parameter's dtype; the
 *   CPU computes each element in double and rounds once on store);
 * - a state list that the hyper-parameters do not use is NULL (e.g. `buf`
 *   of SGD without momentum, `max_exp_avg_sq` of Adam without amsgrad);
 * - scalars are plain doubles passed by value, and per-tensor scalars (step
 *   counts) are host arrays of n entries; except that a backend whose
 *   memory the host cannot read (CUDA) may be given `scalars`, a float64
 *   tensor on its device from which the kernel reads the numeric
 *   hyper-parameters and the step count when it runs (layout below), so a
 *   step captured in a CUDA graph uses the values written before each
 *   replay. The by-value fields and step[] are then ignored; the flags
 *   (nesterov, amsgrad, ...) stay by value. The op layer resolves `scalars`
 *   itself for the CPU, whose kernels never see it.
 * Kernels never synchronise and never bump storage versions (the op layer
 * does). */
#ifndef LT_BACKEND_OPTIM_H
#define LT_BACKEND_OPTIM_H

#include <stdbool.h>

#include "lt_cdefs.h"
#include "lt_tensor.h"

LT_BEGIN_DECLS

/* torch.optim.SGD */
typedef struct {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize;
  const lt_tensor *scalars; /* NULL, or the device scalars: [lr, momentum, dampening, weight_decay] */
} lt_sgd_hparams;

/* torch.optim.Adam; AdamW is Adam with decoupled_weight_decay (the
 * parameter is multiplied by 1 - lr*weight_decay instead of weight_decay*p
 * being added to the gradient). */
typedef struct {
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, maximize, decoupled_weight_decay;
  const lt_tensor *scalars; /* [lr, beta1, beta2, eps, weight_decay, step] */
} lt_adam_hparams;

/* torch.optim.RMSprop */
typedef struct {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered, maximize;
  const lt_tensor *scalars; /* [lr, alpha, eps, weight_decay, momentum] */
} lt_rmsprop_hparams;

/* torch.optim.Adadelta */
typedef struct {
  double lr, rho, eps, weight_decay;
  bool maximize;
  const lt_tensor *scalars; /* [lr, rho, eps, weight_decay] */
} lt_adadelta_hparams;

/* torch.optim.Adagrad */
typedef struct {
  double lr, lr_decay, weight_decay, eps;
  bool maximize;
  const lt_tensor *scalars; /* [lr, lr_decay, weight_decay, eps, step] */
} lt_adagrad_hparams;

/* Device scalars: a contiguous float64 tensor of LT_OPTIM_SCALARS elements,
 * in the order each struct's field `scalars` names (the struct's numeric
 * fields in declaration order, then the step count where there is one;
 * lt_optim_rules.h packs and unpacks them). */
#define LT_OPTIM_SCALARS 8

typedef struct lt_optim_kernels {
  /* buf: momentum buffers (NULL when momentum == 0). fresh[i] (NULL: none)
   * marks a buffer that receives its first value this step: PyTorch then
   * sets buf = grad, without dampening; its old contents are ignored. */
  lt_status (*sgd)(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *buf,
                   const bool *fresh, const lt_sgd_hparams *h);
  /* step[i]: the step count including this step (1 on the first), from
   * which the bias corrections 1 - beta^step are formed. max_exp_avg_sq:
   * NULL unless amsgrad. */
  lt_status (*adam)(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *exp_avg,
                    lt_tensor *const *exp_avg_sq, lt_tensor *const *max_exp_avg_sq, const double *step,
                    const lt_adam_hparams *h);
  /* grad_avg: NULL unless centered; buf: NULL unless momentum > 0. */
  lt_status (*rmsprop)(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *square_avg,
                       lt_tensor *const *grad_avg, lt_tensor *const *buf, const lt_rmsprop_hparams *h);
  lt_status (*adadelta)(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *square_avg,
                        lt_tensor *const *acc_delta, const lt_adadelta_hparams *h);
  /* step[i] as for adam: the learning rate is lr / (1 + (step-1)*lr_decay). */
  lt_status (*adagrad)(int n, lt_tensor *const *param, lt_tensor *const *grad, lt_tensor *const *sum,
                       const double *step, const lt_adagrad_hparams *h);
  /* dst (contiguous float64, at least n elements) = v[0..n), n <= LT_OPTIM_SCALARS.
   * The values travel by value with the work queued (on CUDA: a kernel's
   * parameters), so v may be reused at once and nothing waits. */
  lt_status (*write_scalars)(lt_tensor *dst, const double *v, int n);
} lt_optim_kernels;

LT_END_DECLS

#endif
