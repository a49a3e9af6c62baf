/* lt_cpu_stand_in.h — stand-in tensors for a CPU kernel that takes less than
 * its entry does: the bfloat16 entries run float32 kernels (lt_cpu_bf16.c),
 * and the im2col convolution reads NCHW only (lt_cpu_conv_path.c). Each
 * input gets a stand-in holding its values and each output one laid out for
 * the kernel; after the kernel, each output's stand-in is copied (converted)
 * into the caller's tensor. A tensor that already is what the kernel takes
 * is its own stand-in, and nothing is copied for it. */
#ifndef LT_CPU_STAND_IN_H
#define LT_CPU_STAND_IN_H

#include "lt_tensor.h"

#define LT_CPU_STAND_INS 4

typedef struct {
  int nin, nout;
  lt_tensor *in[LT_CPU_STAND_INS], *out[LT_CPU_STAND_INS]; /* NULL where the caller's is NULL */
} lt_cpu_stand_ins;

/* What the kernel takes: tensors of dtype `dtype`, laid out contiguous
 * (NCHW) when `contiguous`, else as the caller's when it is dense. */
typedef struct {
  lt_dtype dtype;
  bool contiguous;
} lt_cpu_kernel_form;

/* The stand-ins of nin inputs and nout outputs (at most LT_CPU_STAND_INS
 * each); on failure nothing is left to release. */
lt_status lt_cpu_stand_ins_make(lt_cpu_stand_ins *s, lt_cpu_kernel_form form, int nin, const lt_tensor *const *in,
                                int nout, lt_tensor *const *out);

/* Ends a call the kernel returned st for: when st is LT_OK, copies each
 * output's stand-in into the caller's tensor; then lets go of the
 * stand-ins. Returns st, or the copy's failure. */
lt_status lt_cpu_stand_ins_finish(lt_status st, lt_cpu_stand_ins *s, lt_tensor *const *out);

#endif
