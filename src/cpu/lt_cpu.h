/* lt_cpu.h — the CPU backend as the layers above it see it: registering it
 * with the core's backend table. The core knows no backend by name; whoever
 * starts the runtime (the Lua glue's luaopen, a C test's harness) registers
 * the CPU backend first, and the CUDA one where it is built. Not here: the
 * kernels (lt_cpu_kernels.h, lt_cpu_nn.h), the thread settings
 * (lt_cpu_iter.h). */
#ifndef LT_CPU_H
#define LT_CPU_H

#include <stdbool.h>
#include <stddef.h>

#include "lt_error.h"

/* Installs the CPU backend as the core's backend for LT_CPU. Idempotent;
 * touches nothing else. */
void lt_cpu_register(void);

/* Which kernels run float32 and bfloat16 convolutions (lt_cpu_conv_path.c):
 * auto (oneDNN's direct kernels where it is loaded and has one, else
 * im2col), im2col (OpenBLAS always), onednn (as auto, but failing when
 * oneDNN is absent), winograd (as onednn, letting oneDNN pick its Winograd
 * kernels for 3x3 convolutions where it finds them faster: fewer
 * multiplications, float32 results within a few 1e-6 of the exact ones
 * instead of a few 1e-7). The default comes from the environment variable
 * LUATRAIN_CPU_CONV. */
typedef enum { LT_CPU_CONV_AUTO, LT_CPU_CONV_IM2COL, LT_CPU_CONV_ONEDNN, LT_CPU_CONV_WINOGRAD } lt_cpu_conv_path;
void lt_cpu_set_conv_path(lt_cpu_conv_path p);
/* The current choice; an error when LUATRAIN_CPU_CONV holds something else. */
lt_status lt_cpu_get_conv_path(lt_cpu_conv_path *out);
const char *lt_cpu_conv_path_name(lt_cpu_conv_path p);
bool lt_cpu_conv_path_parse(const char *s, lt_cpu_conv_path *out);
/* Convolution calls (forward and backward) run so far by each path, and
 * how many of oneDNN's were inference convolutions with the batch norm
 * fused (conv2d_bn_eval_forward). */
void lt_cpu_conv_counts(long long *im2col, long long *onednn, long long *onednn_bn);

/* Whether oneDNN (libdnnl.so.2, opened on first use) can run convolutions in
 * this process; when not, `why` receives the reason. lt_cpu_onednn_describe
 * writes "oneDNN 2.6.3" or "oneDNN not available (<reason>)". */
bool lt_cpu_onednn_available(char *why, size_t len);
void lt_cpu_onednn_describe(char *buf, size_t len);

#endif
