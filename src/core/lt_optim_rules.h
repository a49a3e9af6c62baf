/* lt_optim_rules.h — the per-element arithmetic of the fused optimizer steps
 * (lt_backend_optim.h), written once for the CPU loops (src/cpu/lt_cpu_optim.c)
 * and the CUDA multi-tensor kernels (cuda/lt_cuda_optim.cu), so both backends
 * step alike; and the layout of the device scalars, which the op layer writes
 * and reads (lt_ops_optim.c) and the GPU reads when a kernel runs.
 *
 * Each update is PyTorch's single-tensor algorithm (torch.optim's documented
 * pseudo-code) for one element, in double: the caller loads the parameter,
 * gradient and state as double, calls the update and rounds each stored
 * value once. Optional state comes as a pointer plus a flag saying whether
 * the state exists; the pointer is read only when the flag is set (the GPU
 * passes its registers' addresses unconditionally: a thread keeps its state
 * in registers only when no pointer to it is picked at run time). The
 * per-tensor factors that depend on the step
 * count (Adam's bias corrections, Adagrad's decayed lr) are computed once per
 * tensor by the *_factors functions, on the host or, with device scalars, by
 * each GPU thread. Not here: loops, threads, input checks (lt_ops_optim.c). */
#ifndef LT_OPTIM_RULES_H
#define LT_OPTIM_RULES_H

#include <math.h>
#include <stdbool.h>

#include "lt_backend_optim.h"
#include "lt_cdefs.h"

/* torch.maximum: NaN when either is NaN. The NaN test is written in the
 * form each compiler turns into one unordered comparison (gcc merges two
 * isnan, nvcc two self-comparisons; the other forms cost a second test). */
static LT_INLINE LT_HOST_DEVICE double lt_optim_nan_max(double a, double b) {
#ifdef __CUDA_ARCH__
  bool nan = a != a || b != b;
#else
  bool nan = isnan(a) || isnan(b);
#endif
  return nan ? NAN : (a > b ? a : b);
}

/* --- SGD ------------------------------------------------------------------------------------------
 * buf: the momentum buffer, used when momentum != 0 and has_buf (without a
 * buffer the step is plain SGD whatever momentum says: a GPU step reading
 * momentum from device scalars has a buffer list only if its by-value
 * momentum had one). fresh: buf receives its first value now (buf = grad,
 * without dampening). */
static LT_INLINE LT_HOST_DEVICE void lt_sgd_update(const lt_sgd_hparams *h, bool fresh, double *p, double g,
                                                   double *buf, bool has_buf) {
  if (h->maximize) g = -g;
  if (h->weight_decay != 0) g += h->weight_decay * *p;
  if (h->momentum != 0 && has_buf) {
    double b = fresh ? g : h->momentum * *buf + (1 - h->dampening) * g;
    *buf = b;
    g = h->nesterov ? g + h->momentum * b : b;
  }
  *p += -h->lr * g;
}

/* --- Adam / AdamW ------------------------------------------------------------------------------------
 * m, v: exp_avg, exp_avg_sq; vmax: max_exp_avg_sq, used when has_vmax
 * (amsgrad with its list). */
static LT_INLINE LT_HOST_DEVICE void lt_adam_factors(const lt_adam_hparams *h, double step, double *step_size,
                                                     double *bc2_sqrt) {
  *step_size = h->lr / (1 - pow(h->beta1, step));
  *bc2_sqrt = sqrt(1 - pow(h->beta2, step));
}

static LT_INLINE LT_HOST_DEVICE void lt_adam_update(const lt_adam_hparams *h, double step_size, double bc2_sqrt,
                                                    double *p, double g, double *m, double *v, double *vmax,
                                                    bool has_vmax) {
  if (h->maximize) g = -g;
  if (h->weight_decay != 0) {
    if (h->decoupled_weight_decay) *p *= 1 - h->lr * h->weight_decay;
    else g += h->weight_decay * *p;
  }
  *m += (1 - h->beta1) * (g - *m); /* lerp(m, g, 1 - beta1) */
  *v = *v * h->beta2 + (1 - h->beta2) * (g * g);
  double s = *v;
  if (has_vmax) s = *vmax = lt_optim_nan_max(*vmax, *v);
  double denom = sqrt(s) / bc2_sqrt + h->eps;
  *p += -step_size * (*m / denom);
}

/* --- RMSprop --------------------------------------------------------------------------------------------
 * sq: square_avg; gavg: grad_avg, used when has_gavg (centered); buf: the
 * momentum buffer, used when has_buf (momentum > 0). */
static LT_INLINE LT_HOST_DEVICE void lt_rmsprop_update(const lt_rmsprop_hparams *h, double *p, double g, double *sq,
                                                       double *gavg, bool has_gavg, double *buf, bool has_buf) {
  if (h->maximize) g = -g;
  if (h->weight_decay != 0) g += h->weight_decay * *p;
  *sq = *sq * h->alpha + (1 - h->alpha) * (g * g);
  double avg;
  if (has_gavg) {
    *gavg += (1 - h->alpha) * (g - *gavg); /* lerp */
    avg = sqrt(*sq - *gavg * *gavg) + h->eps;
  } else {
    avg = sqrt(*sq) + h->eps;
  }
  if (has_buf) {
    *buf = *buf * h->momentum + g / avg;
    *p += -h->lr * *buf;
  } else {
    *p += -h->lr * (g / avg);
  }
}

/* --- Adadelta --------------------------------------------------------------------------------------------
 * sq: square_avg; acc: acc_delta. */
static LT_INLINE LT_HOST_DEVICE void lt_adadelta_update(const lt_adadelta_hparams *h, double *p, double g, double *sq,
                                                        double *acc) {
  if (h->maximize) g = -g;
  if (h->weight_decay != 0) g += h->weight_decay * *p;
  *sq = *sq * h->rho + (1 - h->rho) * (g * g);
  double std = sqrt(*sq + h->eps);
  double delta = sqrt(*acc + h->eps) / std * g;
  *acc = *acc * h->rho + (1 - h->rho) * (delta * delta);
  *p += -h->lr * delta;
}

/* --- Adagrad ----------------------------------------------------------------------------------------------
 * clr: the decayed learning rate of this step (lt_adagrad_factors). */
static LT_INLINE LT_HOST_DEVICE double lt_adagrad_factors(const lt_adagrad_hparams *h, double step) {
  return h->lr / (1 + (step - 1) * h->lr_decay);
}

static LT_INLINE LT_HOST_DEVICE void lt_adagrad_update(const lt_adagrad_hparams *h, double clr, double *p, double g,
                                                       double *sum) {
  if (h->maximize) g = -g;
  if (h->weight_decay != 0) g += h->weight_decay * *p;
  *sum += g * g;
  double std = sqrt(*sum) + h->eps;
  *p += -clr * (g / std);
}

/* --- device scalars (lt_backend_optim.h) --------------------------------------------------------------------
 * v[0..LT_OPTIM_SCALARS): an algorithm's numeric hyper-parameters in the
 * order of its struct, then its step count where it has one. *_to_scalars
 * fills v and returns how many it wrote; *_from_scalars sets h's numeric
 * fields (flags and `scalars` untouched) and returns the step count (0 where
 * there is none). */
static LT_INLINE LT_HOST_DEVICE int lt_sgd_to_scalars(const lt_sgd_hparams *h, double *v) {
  v[0] = h->lr, v[1] = h->momentum, v[2] = h->dampening, v[3] = h->weight_decay;
  return 4;
}
static LT_INLINE LT_HOST_DEVICE double lt_sgd_from_scalars(lt_sgd_hparams *h, const double *v) {
  h->lr = v[0], h->momentum = v[1], h->dampening = v[2], h->weight_decay = v[3];
  return 0;
}

static LT_INLINE LT_HOST_DEVICE int lt_adam_to_scalars(const lt_adam_hparams *h, double step, double *v) {
  v[0] = h->lr, v[1] = h->beta1, v[2] = h->beta2, v[3] = h->eps, v[4] = h->weight_decay, v[5] = step;
  return 6;
}
static LT_INLINE LT_HOST_DEVICE double lt_adam_from_scalars(lt_adam_hparams *h, const double *v) {
  h->lr = v[0], h->beta1 = v[1], h->beta2 = v[2], h->eps = v[3], h->weight_decay = v[4];
  return v[5];
}

static LT_INLINE LT_HOST_DEVICE int lt_rmsprop_to_scalars(const lt_rmsprop_hparams *h, double *v) {
  v[0] = h->lr, v[1] = h->alpha, v[2] = h->eps, v[3] = h->weight_decay, v[4] = h->momentum;
  return 5;
}
static LT_INLINE LT_HOST_DEVICE double lt_rmsprop_from_scalars(lt_rmsprop_hparams *h, const double *v) {
  h->lr = v[0], h->alpha = v[1], h->eps = v[2], h->weight_decay = v[3], h->momentum = v[4];
  return 0;
}

static LT_INLINE LT_HOST_DEVICE int lt_adadelta_to_scalars(const lt_adadelta_hparams *h, double *v) {
  v[0] = h->lr, v[1] = h->rho, v[2] = h->eps, v[3] = h->weight_decay;
  return 4;
}
static LT_INLINE LT_HOST_DEVICE double lt_adadelta_from_scalars(lt_adadelta_hparams *h, const double *v) {
  h->lr = v[0], h->rho = v[1], h->eps = v[2], h->weight_decay = v[3];
  return 0;
}

static LT_INLINE LT_HOST_DEVICE int lt_adagrad_to_scalars(const lt_adagrad_hparams *h, double step, double *v) {
  v[0] = h->lr, v[1] = h->lr_decay, v[2] = h->weight_decay, v[3] = h->eps, v[4] = step;
  return 5;
}
static LT_INLINE LT_HOST_DEVICE double lt_adagrad_from_scalars(lt_adagrad_hparams *h, const double *v) {
  h->lr = v[0], h->lr_decay = v[1], h->weight_decay = v[2], h->eps = v[3];
  return v[4];
}

#endif
