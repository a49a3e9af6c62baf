/* lt_ag_ops.h — the differentiable tensor API: each function runs the op of
 * lt_ops.h (same arguments, same validation and messages) and, when grad mode
 * is on and an input requires grad, records its backward node. With grad
 * mode off or no input requiring grad they cost one branch over the op.
 *
 * In-place forms (trailing _) follow PyTorch: on a leaf that requires grad,
 * or a view of one, they are an error unless grad mode is off (how
 * optimizers update parameters); on a non-leaf they record a node and move
 * the tensor's history onto it; on a view (made by a view op here) the
 * history then moves onto the view's base, whose other views follow it
 * (lt_ag_views.c). A view made with grad mode off may not be modified in
 * place with grad mode on. Outputs that are not floating point, and the
 * results of non-differentiable ops (comparisons, isnan, argmax...), never
 * require grad; floor, ceil, round and sign have a zero gradient, as in
 * PyTorch.
 *
 * Dims are 0-based, as in lt_ops.h; messages speak 1-based. */
#ifndef LT_AG_OPS_H
#define LT_AG_OPS_H

#include "lt_autograd.h"
#include "lt_ops.h"

/* --- elementwise ------------------------------------------------------------ */
lt_status lt_ag_unary(lt_unary_op op, lt_tensor *x, const double *p, lt_tensor **out);
lt_status lt_ag_unary_(lt_unary_op op, lt_tensor *x, const double *p);
lt_status lt_ag_binary(lt_binary_op op, lt_tensor *a, lt_tensor *b, lt_tensor **out);
lt_status lt_ag_binary_(lt_binary_op op, lt_tensor *a, lt_tensor *b);
/* s: a Lua number of dtype s_dtype, as lt_op_binary_scalar */
lt_status lt_ag_binary_scalar(lt_binary_op op, lt_tensor *a, double s, lt_dtype s_dtype, bool reversed,
                              lt_tensor **out);
lt_status lt_ag_binary_scalar_(lt_binary_op op, lt_tensor *a, double s, lt_dtype s_dtype);
lt_status lt_ag_where(lt_tensor *cond, lt_tensor *a, lt_tensor *b, lt_tensor **out);
/* out = t with t[mask] = v (a new tensor) */
lt_status lt_ag_masked_fill(lt_tensor *t, lt_tensor *mask, double v, lt_tensor **out);
lt_status lt_ag_masked_fill_(lt_tensor *t, lt_tensor *mask, double v);
lt_status lt_ag_fill_(lt_tensor *t, double v);
/* dst[...] = src (broadcast, any dtype/device); the gradient flows to src. */
lt_status lt_ag_copy_(lt_tensor *dst, lt_tensor *src);
/* base.select(dim, index)[...] = src, or = v: Lua's t[i] = x. The gradient
 * flows to base (outside the slice) and to src. */
lt_status lt_ag_select_copy_(lt_tensor *base, int dim, int64_t index, lt_tensor *src);
lt_status lt_ag_select_fill_(lt_tensor *base, int dim, int64_t index, double v);

/* --- reductions --------------------------------------------------------------- */
/* As lt_op_reduce. MAX/MIN over one dim send the gradient to the selected
 * element (the returned index); over all dims it is shared evenly among the
 * elements equal to the result (a NaN result: among the NaNs), as PyTorch
 * does. Don't modify `indices` in
 * place afterwards: backward reads them (a version check catches it). */
lt_status lt_ag_reduce(lt_reduce_op op, lt_tensor *x, int ndims, const int *dims, bool keepdim, double param,
                       lt_tensor **values, lt_tensor **indices);
/* sqrt(var(x, correction)); its gradient is 0 where the result is 0 (a
 * constant slice), as PyTorch's. */
lt_status lt_ag_std(lt_tensor *x, int ndims, const int *dims, bool keepdim, double correction, lt_tensor **out);
/* As lt_op_logsumexp; gradient g * exp(x - result). */
lt_status lt_ag_logsumexp(lt_tensor *x, int ndims, const int *dims, bool keepdim, lt_tensor **out);

/* --- linear algebra ----------------------------------------------------------- */
/* Under lt.autocast the floating operands are cast to bfloat16 first. */
lt_status lt_ag_matmul(lt_tensor *a, lt_tensor *b, lt_tensor **out);
lt_status lt_ag_mm(lt_tensor *a, lt_tensor *b, lt_tensor **out);
lt_status lt_ag_bmm(lt_tensor *a, lt_tensor *b, lt_tensor **out);

/* --- views and copies ----------------------------------------------------------- */
lt_status lt_ag_view(lt_tensor *t, int ndim, const int64_t *shape, lt_tensor **out);
lt_status lt_ag_reshape(lt_tensor *t, int ndim, const int64_t *shape, lt_tensor **out);
lt_status lt_ag_flatten(lt_tensor *t, int start, int end, lt_tensor **out);
lt_status lt_ag_narrow(lt_tensor *t, int dim, int64_t start, int64_t length, lt_tensor **out);
lt_status lt_ag_select(lt_tensor *t, int dim, int64_t index, lt_tensor **out);
lt_status lt_ag_transpose(lt_tensor *t, int d0, int d1, lt_tensor **out);
lt_status lt_ag_permute(lt_tensor *t, const int *dims, lt_tensor **out);
lt_status lt_ag_squeeze(lt_tensor *t, int dim, lt_tensor **out);
lt_status lt_ag_unsqueeze(lt_tensor *t, int dim, lt_tensor **out);
lt_status lt_ag_expand(lt_tensor *t, int ndim, const int64_t *shape, lt_tensor **out);
/* A new tensor object over the same elements (t() of a 1-D tensor). */
lt_status lt_ag_alias(lt_tensor *t, lt_tensor **out);
/* `t` itself (retained) when already contiguous, as lt_op_contiguous. */
lt_status lt_ag_contiguous(lt_tensor *t, lt_tensor **out);
lt_status lt_ag_clone(lt_tensor *t, lt_tensor **out);
/* `t` itself (retained) when nothing changes; the gradient is cast back. */
lt_status lt_ag_to(lt_tensor *t, lt_dtype dtype, lt_device device, lt_tensor **out);

/* --- indexing and joining (lt_ag_index.c) ------------------------------------------ */
/* As the lt_op_*_base functions of lt_ops.h: index tensors hold positions
 * counted from `base`. The gradient of index_select/gather adds into the
 * selected positions (duplicates accumulate); sort and topk send each
 * value's gradient back to where it came from. split and chunk are narrow
 * views (lt_ag_narrow). Don't modify returned indices in place: backward
 * reads them (a version check catches it). */
lt_status lt_ag_cat(int n, lt_tensor *const *ts, int dim, lt_tensor **out);
lt_status lt_ag_stack(int n, lt_tensor *const *ts, int dim, lt_tensor **out);
lt_status lt_ag_index_select(lt_tensor *x, int dim, lt_tensor *index, int64_t base, lt_tensor **out);
lt_status lt_ag_gather(lt_tensor *x, int dim, lt_tensor *index, int64_t base, lt_tensor **out);
lt_status lt_ag_sort(lt_tensor *x, int dim, bool descending, int64_t base, lt_tensor **values, lt_tensor **indices);
lt_status lt_ag_topk(lt_tensor *x, int64_t k, int dim, bool largest, bool sorted, int64_t base, lt_tensor **values,
                     lt_tensor **indices);
lt_status lt_ag_cumsum(lt_tensor *x, int dim, lt_tensor **out);
/* In place, with the rules of in-place ops: x.scatter_(dim, index, src)
 * (add: scatter_add_), x.scatter_(dim, index, v), x.index_add_(dim, index,
 * src). The gradient flows to x (outside overwritten positions) and to src. */
lt_status lt_ag_scatter_(lt_tensor *x, int dim, lt_tensor *index, int64_t base, lt_tensor *src, bool add);
lt_status lt_ag_scatter_value_(lt_tensor *x, int dim, lt_tensor *index, int64_t base, double v);
lt_status lt_ag_index_add_(lt_tensor *x, int dim, lt_tensor *index, int64_t base, lt_tensor *src);

/* --- detaching ------------------------------------------------------------------- */
/* A new tensor over the same storage with no history (t:detach()). */
lt_status lt_ag_detach(lt_tensor *t, lt_tensor **out);
/* Drops t's history in place (t:detach_()). */
void lt_ag_detach_(lt_tensor *t);
/* The checks of an in-place op on t ("add_" etc. names it in the message),
 * for ops outside this file that write their first argument; such an op
 * ends with lt_ag_inplace_done (lt_ag_internal.h) once it recorded its node. */
lt_status lt_ag_check_inplace(lt_tensor *t, const char *opname);

#endif
