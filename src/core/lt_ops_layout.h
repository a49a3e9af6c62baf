/* lt_ops_layout.h — memory layouts in the op layer: conversion between
 * memory formats (contiguous NCHW and channels-last NHWC, see lt_tensor.h),
 * the rule that gives an op's output the layout of its inputs, and views
 * that let a kernel walk a permuted layout as if it were contiguous.
 *
 * The output rule is PyTorch's TensorIterator's, for elementwise ops: when
 * every operand has the output's shape, all contiguous gives contiguous, all
 * channels-last gives channels-last, and all dense with the very same
 * strides gives those strides; otherwise the output is laid out densely in
 * the order of the operands' strides, the first operand that tells two dims
 * apart deciding (broadcast dims tell nothing). So a chain of elementwise
 * ops over channels-last tensors stays channels-last without copies, a
 * channels-last tensor plus a contiguous one is channels-last (and the other
 * way round contiguous), and over contiguous ones stays contiguous. Not
 * here: views (lt_tensor.c), which never change layout rules. */
#ifndef LT_OPS_LAYOUT_H
#define LT_OPS_LAYOUT_H

#include "lt_ops.h"

/* A new tensor of (ndim, shape, dtype, device) laid out by the rule above
 * from the non-NULL entries of in[0..n), in the order the op names its
 * operands (where: cond, a, b). */
lt_status lt_op_empty_for(int n, const lt_tensor *const *in, int ndim, const int64_t *shape, lt_dtype dtype,
                          lt_device device, lt_tensor **out);
/* PyTorch's empty_like: a new tensor of t's shape laid out in `format`;
 * PRESERVE keeps the exact strides of a dense t and otherwise lays the
 * elements out densely in t's order of strides (a transposed slice stays
 * transposed). CHANNELS_LAST needs a 4-D t (LT_ERR_ARG, argument 1). */
lt_status lt_op_empty_like_format(const lt_tensor *t, lt_memory_format format, lt_dtype dtype, lt_device device,
                                  lt_tensor **out);
/* lt_op_empty_like_format with PRESERVE on t's device. */
lt_status lt_op_empty_like(const lt_tensor *t, lt_dtype dtype, lt_tensor **out);

/* t laid out in `format`: t itself (retained) when it already is
 * (lt_tensor_is_contiguous_format), else a copy. CHANNELS_LAST needs a 4-D
 * tensor (LT_ERR_ARG, argument 1, naming the shape); PRESERVE keeps a dense
 * t and copies anything else as lt_op_empty_like lays it out. No autograd. */
lt_status lt_op_contiguous_format(lt_tensor *t, lt_memory_format format, lt_tensor **out);
/* Always a new copy, laid out in `format` (PRESERVE: lt_op_empty_like's
 * layout, PyTorch's clone()). */
lt_status lt_op_clone_format(lt_tensor *t, lt_memory_format format, lt_tensor **out);

/* For a kernel call over same-shaped operands whose first entry (the output)
 * is dense but not contiguous (channels-last, a transposed layout): out[i]
 * is a view of in[i] with the dims permuted into in[0]'s memory order, so
 * the output becomes contiguous and operands sharing its layout do too (the
 * kernels' fast paths then apply). Elementwise semantics are unchanged by a
 * common permutation. Otherwise out[i] is in[i]. out[i] are new references
 * (NULL stays NULL); on failure none is left. */
lt_status lt_op_memory_order(int n, lt_tensor *const *in, lt_tensor **out);

#endif
