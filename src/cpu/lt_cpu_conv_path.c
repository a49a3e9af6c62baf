/* lt_cpu_conv_path.c — which kernels run a CPU convolution, and the CPU
 * table's conv2d entries that apply the choice (lt_cpu.h describes it to the
 * layers above).
 *
 *   auto    (default) oneDNN for float32 and bfloat16 where it is loaded and
 *           has a kernel for the shape; im2col + OpenBLAS otherwise (float64,
 *           strided views, machines without libdnnl2).
 *   im2col  always im2col + OpenBLAS (lt_cpu_conv.c).
 *   onednn  as auto, but a process without oneDNN fails its first
 *           convolution with the reason instead of quietly running im2col.
 *   winograd  as onednn, with oneDNN free to run its Winograd kernels for
 *           3x3 convolutions where it finds them faster (fewer
 *           multiplications, larger float32 rounding errors: a few 1e-6
 *           relative instead of a few 1e-7; PyTorch runs direct kernels).
 *
 * The environment variable LUATRAIN_CPU_CONV sets the choice at the first
 * convolution; lt_cpu_set_conv_path changes it at any time. Each entry
 * counts the calls each path ran, for tests and diagnosis.
 *
 * The entries take NCHW and channels-last tensors (the CPU table declares
 * channels_last). The im2col kernels read NCHW only, so a channels-last call
 * that oneDNN does not take runs on NCHW copies of its tensors, and its
 * results are copied back into the caller's layout. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "lt_cpu.h"
#include "lt_cpu_conv_dnnl.h"
#include "lt_cpu_nn.h"
#include "lt_cpu_stand_in.h"

static atomic_int chosen = -1; /* -1: not read from the environment yet */
static atomic_llong counts[3]; /* calls run by im2col, by oneDNN, and of those with the batch norm fused */

static const char *const names[] = {"auto", "im2col", "onednn", "winograd"};

const char *lt_cpu_conv_path_name(lt_cpu_conv_path p) {
  return p >= LT_CPU_CONV_AUTO && p <= LT_CPU_CONV_WINOGRAD ? names[p] : "?";
}

bool lt_cpu_conv_path_parse(const char *s, lt_cpu_conv_path *out) {
  for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
    if (strcmp(s, names[i]) == 0) {
      *out = (lt_cpu_conv_path)i;
      return true;
    }
  return false;
}

void lt_cpu_set_conv_path(lt_cpu_conv_path p) { atomic_store(&chosen, (int)p); }

/* The choice, read from LUATRAIN_CPU_CONV on first use. */
static lt_status current(lt_cpu_conv_path *out) {
  int c = atomic_load(&chosen);
  if (c < 0) {
    const char *env = getenv("LUATRAIN_CPU_CONV");
    lt_cpu_conv_path p = LT_CPU_CONV_AUTO;
    if (env && *env && !lt_cpu_conv_path_parse(env, &p))
      return lt_error_set(LT_ERR_ARG, 0, "LUATRAIN_CPU_CONV='%s': expected auto, im2col, onednn or winograd", env);
    int expected = -1;
    atomic_compare_exchange_strong(&chosen, &expected, (int)p);
    c = atomic_load(&chosen);
  }
  *out = (lt_cpu_conv_path)c;
  return LT_OK;
}

lt_status lt_cpu_get_conv_path(lt_cpu_conv_path *out) { return current(out); }

void lt_cpu_conv_counts(long long *im2col, long long *onednn, long long *onednn_bn) {
  *im2col = atomic_load(&counts[0]);
  *onednn = atomic_load(&counts[1]);
  *onednn_bn = atomic_load(&counts[2]);
}

/* Whether this call may try oneDNN, and with Winograd kernels allowed; an
 * error when it must and cannot. */
static lt_status try_dnnl(bool *yes, bool *winograd) {
  lt_cpu_conv_path p = LT_CPU_CONV_AUTO;
  LT_TRY(current(&p));
  *yes = p != LT_CPU_CONV_IM2COL;
  *winograd = p == LT_CPU_CONV_WINOGRAD;
  if (p == LT_CPU_CONV_ONEDNN || p == LT_CPU_CONV_WINOGRAD) {
    char why[512];
    if (!lt_cpu_onednn_available(why, sizeof why))
      return lt_error_set(LT_ERR_RUNTIME, 0, "the oneDNN path was asked for (LUATRAIN_CPU_CONV=%s), "
                                             "but oneDNN is not available: %s", names[p], why);
  }
  return LT_OK;
}

/* The im2col kernels' form: the call's dtype, NCHW (lt_cpu_stand_in.h). */
static lt_cpu_kernel_form nchw_of(const lt_tensor *x) {
  lt_cpu_kernel_form f = {x->dtype, true};
  return f;
}

lt_status lt_cpu_conv2d_forward_dnnl(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b,
                                      const lt_conv2d_params *p, bool *done) {
  bool dnnl, winograd;
  *done = false;
  LT_TRY(try_dnnl(&dnnl, &winograd));
  if (dnnl) LT_TRY(lt_cpu_dnnl_conv2d_forward(y, x, w, b, p, winograd, done));
  if (*done) atomic_fetch_add(&counts[1], 1);
  return LT_OK;
}

lt_status lt_cpu_conv2d_backward_dnnl(lt_tensor *gx, lt_tensor *gw, const lt_tensor *gy, const lt_tensor *x,
                                       const lt_tensor *w, const lt_conv2d_params *p, bool *done) {
  bool dnnl, winograd;
  *done = false;
  LT_TRY(try_dnnl(&dnnl, &winograd));
  if (dnnl && (gx || gw)) LT_TRY(lt_cpu_dnnl_conv2d_backward(gx, gw, gy, x, w, p, winograd, done));
  if (*done) atomic_fetch_add(&counts[1], 1);
  return LT_OK;
}

lt_status lt_cpu_conv2d_bn_eval_forward(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b,
                                        const lt_conv2d_params *p, const lt_tensor *bn_weight, const lt_tensor *bn_bias,
                                        const lt_tensor *running_mean, const lt_tensor *running_var, double eps,
                                        const lt_tensor *residual, bool relu, bool *done) {
  bool dnnl, winograd;
  *done = false;
  LT_TRY(try_dnnl(&dnnl, &winograd));
  if (!dnnl || x->dtype != LT_FLOAT32) return LT_OK;
  int64_t C = y->shape[1];
  float *coef = malloc(sizeof(float) * (size_t)(2 * C > 0 ? 2 * C : 1));
  if (!coef) return lt_error_set(LT_ERR_OOM, 0, "out of host memory for %lld batch norm coefficients", (long long)C);
  lt_cpu_batch_norm_eval_coef(bn_weight, bn_bias, running_mean, running_var, eps, coef, coef + C);
  lt_status st = lt_cpu_dnnl_conv2d_bn_eval(y, x, w, b, p, coef, coef + C, residual, relu, winograd, done);
  free(coef);
  if (*done) {
    atomic_fetch_add(&counts[1], 1);
    atomic_fetch_add(&counts[2], 1);
  }
  return st;
}

lt_status lt_cpu_conv2d_forward(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b,
                                 const lt_conv2d_params *p) {
  bool done;
  LT_TRY(lt_cpu_conv2d_forward_dnnl(y, x, w, b, p, &done));
  if (done) return LT_OK;
  atomic_fetch_add(&counts[0], 1);
  const lt_tensor *in[3] = {x, w, b};
  lt_tensor *out[1] = {y};
  lt_cpu_stand_ins c;
  LT_TRY(lt_cpu_stand_ins_make(&c, nchw_of(x), 3, in, 1, out));
  return lt_cpu_stand_ins_finish(lt_cpu_im2col_conv2d_forward(c.out[0], c.in[0], c.in[1], c.in[2], p), &c, out);
}

lt_status lt_cpu_conv2d_backward(lt_tensor *gx, lt_tensor *gw, lt_tensor *gb, const lt_tensor *gy,
                                  const lt_tensor *x, const lt_tensor *w, const lt_conv2d_params *p) {
  bool done;
  LT_TRY(lt_cpu_conv2d_backward_dnnl(gx, gw, gy, x, w, p, &done));
  if (done) return gb ? lt_cpu_conv2d_bias_grad(gb, gy) : LT_OK;
  atomic_fetch_add(&counts[0], 1);
  const lt_tensor *in[3] = {gy, x, w};
  lt_tensor *out[3] = {gx, gw, gb};
  lt_cpu_stand_ins c;
  LT_TRY(lt_cpu_stand_ins_make(&c, nchw_of(x), 3, in, 3, out));
  lt_status st = lt_cpu_im2col_conv2d_backward(c.out[0], c.out[1], c.out[2], c.in[0], c.in[1], c.in[2], p);
  return lt_cpu_stand_ins_finish(st, &c, out);
}
