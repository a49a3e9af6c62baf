/* lt_cpu_conv_dnnl.h — the oneDNN convolutions (lt_cpu_conv_dnnl.c) as the
 * CPU backend's conv2d entries (lt_cpu_conv.c) call them. Arguments are
 * those of the conv2d entries (lt_backend_nn.h). Each sets *done to whether
 * oneDNN ran the call: false, with LT_OK, when oneDNN is absent, the dtype
 * is not float32/bfloat16, the tensors are in neither NCHW nor channels-last
 * layout, or oneDNN has no kernel for the geometry; the caller then runs
 * its im2col path. An error status means oneDNN failed on a call it took. */
#ifndef LT_CPU_CONV_DNNL_H
#define LT_CPU_CONV_DNNL_H

#include "lt_backend_nn.h"

lt_status lt_cpu_dnnl_conv2d_forward(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b,
                                     const lt_conv2d_params *p, bool winograd, bool *done);
/* gx and/or gw (either may be NULL); the bias gradient is not computed here.
 * winograd: oneDNN may pick its Winograd kernels (convolution_auto) where
 * it finds them faster; else its direct kernels only. */
lt_status lt_cpu_dnnl_conv2d_backward(lt_tensor *gx, lt_tensor *gw, const lt_tensor *gy, const lt_tensor *x,
                                      const lt_tensor *w, const lt_conv2d_params *p, bool winograd, bool *done);

/* The inference convolution with the batch norm (as y = conv*scale[c] +
 * shift[c], float32 [Cout] arrays), the residual (y's shape, or NULL) and
 * the ReLU applied by oneDNN post-ops on the output as it is written:
 * float32 only. */
lt_status lt_cpu_dnnl_conv2d_bn_eval(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b,
                                     const lt_conv2d_params *p, const float *scale, const float *shift,
                                     const lt_tensor *residual, bool relu, bool winograd, bool *done);

#endif
