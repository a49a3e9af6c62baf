/* lt_ops.h — the op layer: the functional tensor API the Lua glue and the
 * autograd layer call.
 *
 * Each op validates its arguments (recording a message naming the Lua-facing
 * argument position), works out the output shape and dtype, allocates the
 * output on the inputs' device and calls one backend kernel. No op records
 * autograd history: src/autograd wraps the differentiable ones. Dims are
 * 0-based here (the glue converts from Lua's 1-based) but messages speak
 * 1-based. Outputs are new references owned by the caller. */
#ifndef LT_OPS_H
#define LT_OPS_H

#include "lt_backend.h"
#include "lt_tensor.h"

/* --- dtype rules ---------------------------------------------------------- */
/* PyTorch's type promotion. Every op of several operands (the binary ops,
 * comparisons, where, the pointwise losses) takes its result dtype from
 * lt_result_type and nothing else.
 *
 * Operands take part at three levels, in order: tensors with dims, 0-d
 * tensors, then Lua numbers (a boolean is a bool, an integer int64, a float
 * the default floating dtype). Each dtype has a category, bool < integral <
 * floating. Within a level the dtypes promote as lt_promote_types does. A
 * lower level counts only when its category is higher (int32[n] + 5 is int32,
 * float32[n] * float64[] float32) and then gives its own dtype promoted with
 * the higher level's (int64[n] * float64[] is float64, int32[n] * 2.5 the
 * default float, bool[n] + 1 int64). */
typedef enum { LT_LEVEL_DIMS, LT_LEVEL_0D, LT_LEVEL_NUMBER } lt_operand_level;
typedef struct {
  lt_dtype dtype;
  lt_operand_level level;
} lt_operand;

/* A tensor operand of dtype dt with ndim dims. */
static inline lt_operand lt_operand_tensor(lt_dtype dt, int ndim) {
  lt_operand o = {dt, ndim > 0 ? LT_LEVEL_DIMS : LT_LEVEL_0D};
  return o;
}
/* A Lua number: dt is LT_BOOL, LT_INT64, or a floating dtype for a float. */
static inline lt_operand lt_operand_number(lt_dtype dt) {
  lt_operand o = {dt, LT_LEVEL_NUMBER};
  return o;
}
/* The result dtype of n >= 1 operands. */
lt_dtype lt_result_type(int n, const lt_operand *ops);
/* Two dtypes of one level (bool < uint8 < int32 < int64 < bfloat16/float16
 * < float32 < float64; bfloat16 with float16 gives float32). */
lt_dtype lt_promote_types(lt_dtype a, lt_dtype b);
/* Whether an in-place op may store a result of dtype `from` in a tensor of
 * dtype `to` (PyTorch's canCast): never floating into integral, never
 * anything but bool into bool; narrowing within a category is allowed. */
bool lt_can_cast(lt_dtype from, lt_dtype to);

/* --- memory and conversion ------------------------------------------------ */
/* Same data as another dtype and/or device, in t's layout (as lt_op_clone);
 * returns `t` itself (retained) when nothing changes, like PyTorch's `to`. */
lt_status lt_op_to(lt_tensor *t, lt_dtype dtype, lt_device device, lt_tensor **out);
lt_status lt_op_contiguous(lt_tensor *t, lt_tensor **out); /* t retained when already contiguous */
/* PyTorch's clone(): always a new copy, in t's layout (memory_format
 * preserve: a dense t's strides, else dense in t's order of strides; see
 * lt_op_empty_like in lt_ops_layout.h). A copy that must be contiguous is
 * lt_op_contiguous's. */
lt_status lt_op_clone(lt_tensor *t, lt_tensor **out);
/* dst[...] = src broadcast to dst's shape, converting dtype, across devices. */
lt_status lt_op_copy_(lt_tensor *dst, lt_tensor *src);
lt_status lt_op_fill_(lt_tensor *dst, double v);
/* reshape: a view when possible, else a contiguous copy. */
lt_status lt_op_reshape(lt_tensor *t, int ndim, const int64_t *shape, lt_tensor **out);
/* flatten dims start..end (inclusive, 0-based, already wrapped) */
lt_status lt_op_flatten(lt_tensor *t, int start, int end, lt_tensor **out);
/* Reads element `linear` (row-major over t's shape) as double / int64. */
lt_status lt_op_item(lt_tensor *t, double *out);
/* A contiguous CPU copy (for printing, tolist, saving): `t` retained when it
 * already is one. */
lt_status lt_op_host_contiguous(lt_tensor *t, lt_tensor **out);

/* --- elementwise ------------------------------------------------------------ */
/* Integral inputs of float-only ops (exp, log, sqrt, sigmoid, ...) are
 * promoted to the default floating dtype, as PyTorch does. Bool tensors are
 * refused by neg, abs, floor, ceil, round and relu; sign keeps bool; the
 * other integral-preserving ops give int64 for bool. p: parameters of the op
 * (see lt_backend.h), may be NULL for unparameterised ops. */
lt_status lt_op_unary(lt_unary_op op, lt_tensor *x, const double *p, lt_tensor **out);
lt_status lt_op_unary_(lt_unary_op op, lt_tensor *x, const double *p);
/* a op b in lt_result_type's dtype (bool for comparisons); division and
 * atan2 of integral operands give the default floating dtype. Refused as
 * in PyTorch (lt_op_check_bool_operands): subtraction with a bool operand,
 * pow/fmod/remainder of two bools; and by lt_op_binary_scalar, an integral
 * tensor to a negative integer (Lua number) power. */
lt_status lt_op_binary(lt_binary_op op, lt_tensor *a, lt_tensor *b, lt_tensor **out);
/* The bool rules of the binary ops, for operands of these dtypes in the
 * order the user wrote them (a Lua boolean is LT_BOOL): LT_ERR_ARG naming
 * the operand (1 or 2) when PyTorch refuses the pair. */
lt_status lt_op_check_bool_operands(lt_binary_op op, lt_dtype left, lt_dtype right);
/* a op= b; b broadcasts to a's shape; the result dtype must cast to a's
 * (lt_can_cast). */
lt_status lt_op_binary_(lt_binary_op op, lt_tensor *a, lt_tensor *b);
/* a op s, or s op a when `reversed`; s is a Lua number whose own dtype is
 * s_dtype (LT_BOOL, LT_INT64, or LT_FLOAT64 for a float; see lt_result_type). */
lt_status lt_op_binary_scalar(lt_binary_op op, lt_tensor *a, double s, lt_dtype s_dtype, bool reversed,
                              lt_tensor **out);
lt_status lt_op_binary_scalar_(lt_binary_op op, lt_tensor *a, double s, lt_dtype s_dtype);
/* A 0-d tensor holding v. */
lt_status lt_op_scalar_tensor(double v, lt_dtype dtype, lt_device device, lt_tensor **out);
/* cond ? a : b, in lt_result_type of a and b (cond bool). */
lt_status lt_op_where(lt_tensor *cond, lt_tensor *a, lt_tensor *b, lt_tensor **out);
/* t[mask] = v, mask bool broadcast to t. */
lt_status lt_op_masked_fill_(lt_tensor *t, lt_tensor *mask, double v);

/* --- reductions ------------------------------------------------------------- */
/* Reduces over `ndims` dims (ndims == 0: all dims). `values` receives the
 * reduced tensor (may be NULL for ARGMAX/ARGMIN); `indices` (may be NULL)
 * receives 0-based int64 indices for MAX/MIN/ARGMAX/ARGMIN over one dim.
 * param: correction for VAR, p for NORM. ANY/ALL give bool, uint8 for a
 * uint8 input (as PyTorch). */
lt_status lt_op_reduce(lt_reduce_op op, lt_tensor *x, int ndims, const int *dims, bool keepdim, double param,
                       lt_tensor **values, lt_tensor **indices);
/* log(sum(exp(x))) over `ndims` dims (0: all), computed as max + log(sum(
 * exp(x - max))) with an infinite max taken as 0, as PyTorch: a slice of
 * -inf gives -inf, one holding +inf gives +inf, NaN propagates, an empty
 * slice gives -inf. Integral x is computed in the default floating dtype. */
lt_status lt_op_logsumexp(lt_tensor *x, int ndims, const int *dims, bool keepdim, lt_tensor **out);

/* --- linear algebra --------------------------------------------------------- */
/* torch.matmul semantics: 1-D and 2-D operands, batched with broadcasting;
 * both of one dtype (mixed dtypes are an error, as in PyTorch). */
lt_status lt_op_matmul(lt_tensor *a, lt_tensor *b, lt_tensor **out);
/* 2-D only (arg positions 1 and 2 in messages) */
lt_status lt_op_mm(lt_tensor *a, lt_tensor *b, lt_tensor **out);
/* 3-D only, same batch size */
lt_status lt_op_bmm(lt_tensor *a, lt_tensor *b, lt_tensor **out);

/* --- creation --------------------------------------------------------------- */
lt_status lt_op_full(int ndim, const int64_t *shape, double v, lt_dtype dtype, lt_device device, lt_tensor **out);
/* start, start+step, ... while < end (or > end for negative steps); an end
 * on the wrong side of start for the step's sign is an error. Integral
 * dtypes truncate start, end and step and size the result as PyTorch does
 * (see lt_ops_create.c). */
lt_status lt_op_arange(double start, double end, double step, lt_dtype dtype, lt_device device, lt_tensor **out);
lt_status lt_op_linspace(double start, double end, int64_t steps, lt_dtype dtype, lt_device device, lt_tensor **out);
lt_status lt_op_eye(int64_t n, int64_t m, lt_dtype dtype, lt_device device, lt_tensor **out);
/* Draws from the global generator (lt_philox.h). */
lt_status lt_op_rand(lt_rand_kind kind, int ndim, const int64_t *shape, double a, double b, lt_dtype dtype,
                     lt_device device, lt_tensor **out);
/* The same draws into an existing floating tensor t (any layout; a dense t
 * is filled in memory order), in place. */
lt_status lt_op_rand_(lt_rand_kind kind, lt_tensor *t, double a, double b);
/* uniform integers in [low, high) */
lt_status lt_op_randint(int64_t low, int64_t high, int ndim, const int64_t *shape, lt_dtype dtype, lt_device device,
                        lt_tensor **out);
/* a random permutation of 0..n-1 (int64) */
lt_status lt_op_randperm(int64_t n, lt_device device, lt_tensor **out);

/* --- indexing and joining (lt_ops_index.c) ------------------------------------ */
/* Index tensors (int64) hold 0-based positions in the plain functions. The
 * `_base` forms take positions counted from `base` (>= 0; the Lua glue
 * passes 1 and the user's 1-based tensor as it is, so nothing is copied) and
 * write returned indices counted from it too; messages always report
 * 1-based positions. Index values are checked by the kernels (no host
 * round-trip of their own); an in-place op with a bad index changes nothing.
 * Argument numbers in messages are the Lua ones: x #1, dim #2, index #3,
 * src #4. */

/* torch.cat: tensors of one ndim whose shapes agree except along dim, one
 * device; dtypes promote. 1-D empty tensors are skipped, as in PyTorch. */
lt_status lt_op_cat(int n, lt_tensor *const *ts, int dim, lt_tensor **out);
/* torch.stack: equal shapes; dim in -(ndim+1)..ndim. */
lt_status lt_op_stack(int n, lt_tensor *const *ts, int dim, lt_tensor **out);
/* index: 0-d or 1-D int64 (int32 accepted) */
lt_status lt_op_index_select(lt_tensor *x, int dim, lt_tensor *index, lt_tensor **out);
lt_status lt_op_index_select_base(lt_tensor *x, int dim, lt_tensor *index, int64_t base, lt_tensor **out);
/* out has index's shape; index int64 with x's ndim, index.shape[d] <=
 * x.shape[d] for d != dim. */
lt_status lt_op_gather(lt_tensor *x, int dim, lt_tensor *index, lt_tensor **out);
lt_status lt_op_gather_base(lt_tensor *x, int dim, lt_tensor *index, int64_t base, lt_tensor **out);
/* x[index[i][j]][j] = src[i][j] (dim 0), in place; src a tensor of x's
 * dtype and ndim with index.shape[d] <= src.shape[d]. With duplicate
 * indices the last (row-major) wins. */
lt_status lt_op_scatter_(lt_tensor *x, int dim, lt_tensor *index, lt_tensor *src);
/* x.scatter_add_: += instead of =; duplicates accumulate */
lt_status lt_op_scatter_add_(lt_tensor *x, int dim, lt_tensor *index, lt_tensor *src);
/* scatter_ with every src element = v (converted to x's dtype) */
lt_status lt_op_scatter_value_(lt_tensor *x, int dim, lt_tensor *index, double v);
/* x.index_add_: x[..., index[i], ...] += src[..., i, ...]; index 0-d/1-D
 * int64 (int32 accepted), src x's shape with index's length at dim
 * (index_select's gradient). */
lt_status lt_op_index_add_(lt_tensor *x, int dim, lt_tensor *index, lt_tensor *src);
/* the scatters with an index base: add false is scatter_, true scatter_add_ */
lt_status lt_op_scatter_base_(lt_tensor *x, int dim, lt_tensor *index, int64_t base, lt_tensor *src, bool add);
lt_status lt_op_scatter_value_base_(lt_tensor *x, int dim, lt_tensor *index, int64_t base, double v);
lt_status lt_op_index_add_base_(lt_tensor *x, int dim, lt_tensor *index, int64_t base, lt_tensor *src);
/* int64 labels 0..C-1 (base..base+C-1) -> int64 [.., C] of 0/1;
 * num_classes < 0: the largest label's class + 1 (reads the labels on the
 * host, as the range check always does). */
lt_status lt_op_one_hot(lt_tensor *labels, int64_t num_classes, lt_tensor **out);
lt_status lt_op_one_hot_base(lt_tensor *labels, int64_t base, int64_t num_classes, lt_tensor **out);
/* Stable sort along dim: NaN largest, ties in order of position. values
 * or indices may be NULL when not wanted. */
lt_status lt_op_sort(lt_tensor *x, int dim, bool descending, lt_tensor **values, lt_tensor **indices);
lt_status lt_op_sort_base(lt_tensor *x, int dim, bool descending, int64_t base, lt_tensor **values,
                          lt_tensor **indices);
/* The first k of the stable sort (descending when largest); 0 <= k <= size.
 * The result is always sorted, whatever `sorted` says (PyTorch allows it). */
lt_status lt_op_topk(lt_tensor *x, int64_t k, int dim, bool largest, bool sorted, lt_tensor **values,
                     lt_tensor **indices);
lt_status lt_op_topk_base(lt_tensor *x, int64_t k, int dim, bool largest, bool sorted, int64_t base,
                          lt_tensor **values, lt_tensor **indices);
/* int64 for integral x (bool included), x's dtype otherwise */
lt_status lt_op_cumsum(lt_tensor *x, int dim, lt_tensor **out);
/* out[i] = sum over j >= i along dim: cumsum's gradient */
lt_status lt_op_cumsum_reverse(lt_tensor *x, int dim, lt_tensor **out);

#endif
