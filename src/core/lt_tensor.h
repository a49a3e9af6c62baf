/* lt_tensor.h — the strided tensor: a view of a storage.
 *
 * Invariants:
 * - `storage` is never NULL (an empty tensor has a 0-byte storage) and the
 *   tensor holds one reference to it.
 * - Element (i_1..i_n) lives at storage->data + (offset + sum i_k*stride[k]) *
 *   dtype size. Offsets and strides count elements, not bytes. Every element
 *   a view can address lies inside the storage (checked when views are made).
 * - 0 <= ndim <= LT_MAX_DIMS; a 0-d tensor is a scalar with numel 1.
 * - Strides may be 0 (expand) and views may overlap; in-place writes into a
 *   tensor with overlapping elements are rejected by the op layer.
 * - The tensor is itself reference-counted: the Lua userdata, the autograd
 *   graph, a tensor's `grad` field and a view's `view_base` each hold
 *   references.
 * Dimensions in this C API are 0-based; the Lua glue converts from 1-based. */
#ifndef LT_TENSOR_H
#define LT_TENSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "lt_cdefs.h"
#include "lt_device.h"
#include "lt_dtype.h"
#include "lt_error.h"
#include "lt_storage.h"

LT_BEGIN_DECLS

#define LT_MAX_DIMS 8

struct lt_node;

typedef struct lt_tensor {
  LT_ATOMIC(int) refcount; /* through lt_tensor_retain/release/refcount only (lt_cdefs.h) */
  lt_storage *storage;
  int64_t offset;
  int ndim;
  int64_t shape[LT_MAX_DIMS];
  int64_t stride[LT_MAX_DIMS];
  lt_dtype dtype;
  /* autograd (src/autograd): a leaf that wants a gradient has requires_grad
   * and no grad_fn; a computed tensor has the node that made it. */
  bool requires_grad;
  struct lt_tensor *grad;
  struct lt_node *grad_fn;
  int output_nr;
  /* storage->version when this tensor was saved for backward, or a node's
   * recorded version; see lt_autograd.h. */
  uint64_t saved_version;
  /* autograd views (src/autograd/lt_ag_views.c): a tensor made by a
   * differentiable view op (view, narrow, select, t, ...) holds its root
   * base, the tensor that is not such a view and whose history covers the
   * storage (a reference; NULL for every other tensor), the storage version
   * at which its own grad_fn was last derived, and whether it was made
   * with grad mode off. */
  struct lt_tensor *view_base;
  uint64_t view_version;
  bool view_no_grad;
} lt_tensor;

/* Memory formats (PyTorch's memory_format); see lt_tensor_is_channels_last. */
typedef enum { LT_FORMAT_CONTIGUOUS, LT_FORMAT_CHANNELS_LAST, LT_FORMAT_PRESERVE } lt_memory_format;

/* --- life cycle ------------------------------------------------------------ */
/* A new contiguous tensor; contents undefined. Rejects negative sizes and
 * sizes whose byte count overflows (as LT_ERR_ARG with `arg`). */
lt_status lt_tensor_empty(int ndim, const int64_t *shape, lt_dtype dtype, lt_device device, lt_tensor **out);
lt_status lt_tensor_zeros(int ndim, const int64_t *shape, lt_dtype dtype, lt_device device, lt_tensor **out);
/* A new tensor with the given strides, which must be dense for the shape
 * (lt_tensor_is_dense; else LT_ERR_ARG): its storage holds exactly numel
 * elements. Contents undefined. */
lt_status lt_tensor_empty_strided(int ndim, const int64_t *shape, const int64_t *stride, lt_dtype dtype,
                                  lt_device device, lt_tensor **out);
/* A new tensor laid out in `format` (CONTIGUOUS or CHANNELS_LAST; the latter
 * needs 4 dims, else LT_ERR_ARG naming the shape). */
lt_status lt_tensor_empty_format(int ndim, const int64_t *shape, lt_dtype dtype, lt_device device,
                                 lt_memory_format format, lt_tensor **out);
/* A tensor over an existing storage (retained) with the given geometry. */
lt_status lt_tensor_from_storage(lt_storage *s, int64_t offset, int ndim, const int64_t *shape,
                                 const int64_t *stride, lt_dtype dtype, lt_tensor **out);
void lt_tensor_retain(lt_tensor *t);
void lt_tensor_release(lt_tensor *t);
/* The number of references now held (1: the caller's is the only one). */
int lt_tensor_refcount(const lt_tensor *t);
/* How a tensor's last release drops its grad_fn. The core does not know
 * nodes (src/autograd does): autograd installs its node release here before
 * main (lt_autograd.c), and no grad_fn exists without autograd linked in. */
void lt_tensor_set_grad_fn_release(void (*release)(struct lt_node *n));

/* --- geometry -------------------------------------------------------------- */
int64_t lt_tensor_numel(const lt_tensor *t);
bool lt_tensor_is_contiguous(const lt_tensor *t);
/* True when no two indices address the same element (no 0 strides over
 * dimensions of size > 1, and strides don't interleave). Conservative. */
bool lt_tensor_is_non_overlapping(const lt_tensor *t);
static inline lt_device lt_tensor_device(const lt_tensor *t) { return t->storage->device; }
/* --- memory formats (PyTorch's memory_format) ----------------------------------
 * A 4-D tensor [N,C,H,W] is channels-last when its strides are those of an
 * NHWC-contiguous layout: C stride 1, W stride C, H stride W*C, N stride
 * H*W*C, where dims of size 1 may have any stride (as PyTorch's
 * is_contiguous(memory_format=channels_last)); a tensor with no elements is
 * in every format. A tensor can be both contiguous and channels-last (C == 1,
 * or H == W == 1): lt_tensor_suggest_format breaks the tie by the exact
 * strides, as PyTorch's suggest_memory_format does. */
/* "contiguous_format", "channels_last", "preserve_format" */
const char *lt_memory_format_name(lt_memory_format f);
bool lt_tensor_is_channels_last(const lt_tensor *t);
/* PRESERVE: true when the tensor is dense (lt_tensor_is_dense). */
bool lt_tensor_is_contiguous_format(const lt_tensor *t, lt_memory_format f);
/* The NHWC strides of a [N,C,H,W] shape (size-1 dims get the canonical values). */
void lt_channels_last_strides(const int64_t *shape, int64_t *stride);
/* CHANNELS_LAST for a 4-D channels-last tensor that is not contiguous, or
 * whose strides are exactly the canonical NHWC ones where these differ from
 * the canonical NCHW ones; CONTIGUOUS otherwise. The format a conv, batch
 * norm or pooling output inherits from its input. */
lt_memory_format lt_tensor_suggest_format(const lt_tensor *t);
/* Non-overlapping and without gaps: its elements fill exactly numel
 * consecutive slots from its data pointer, in some order of dims (a
 * permutation of a contiguous layout; strides non-negative). */
bool lt_tensor_is_dense(const lt_tensor *t);

static inline void *lt_tensor_data(const lt_tensor *t) {
  return (char *)t->storage->data + t->offset * (int64_t)lt_dtype_size(t->dtype);
}
void lt_contiguous_strides(int ndim, const int64_t *shape, int64_t *stride);
/* Writes "[2,3,4]" into buf (truncated to len); returns buf. */
const char *lt_shape_str(int ndim, const int64_t *shape, char *buf, size_t len);
bool lt_shape_equal(const lt_tensor *a, const lt_tensor *b);
/* Normalises a (possibly negative, 0-based) dim against ndim; fails with a
 * message in Lua's 1-based terms naming argument `arg`. */
lt_status lt_wrap_dim(int64_t dim, int ndim, int arg, int *out);

/* --- views (share storage; never copy) ------------------------------------- */
/* A plain alias (new tensor object, same geometry, no autograd link). */
lt_status lt_tensor_alias(lt_tensor *t, lt_tensor **out);
/* shape may hold one -1; fails if the strides can't express it without copy. */
lt_status lt_tensor_view(lt_tensor *t, int ndim, const int64_t *shape, lt_tensor **out);
lt_status lt_tensor_narrow(lt_tensor *t, int dim, int64_t start, int64_t length, lt_tensor **out);
lt_status lt_tensor_select(lt_tensor *t, int dim, int64_t index, lt_tensor **out);
lt_status lt_tensor_transpose(lt_tensor *t, int d0, int d1, lt_tensor **out);
lt_status lt_tensor_permute(lt_tensor *t, const int *dims, lt_tensor **out);
lt_status lt_tensor_unsqueeze(lt_tensor *t, int dim, lt_tensor **out);
/* dim < 0: all size-1 dims. */
lt_status lt_tensor_squeeze(lt_tensor *t, int dim, lt_tensor **out);
/* -1 keeps a size; new leading dims allowed (stride 0). */
lt_status lt_tensor_expand(lt_tensor *t, int ndim, const int64_t *shape, lt_tensor **out);
/* Strided view of elements: as_strided with bounds checking. */
lt_status lt_tensor_as_strided(lt_tensor *t, int ndim, const int64_t *shape, const int64_t *stride,
                               int64_t offset, lt_tensor **out);

/* Computes the broadcast shape of two shapes (numpy rules). */
lt_status lt_broadcast_shape(int na, const int64_t *sa, int nb, const int64_t *sb, int *nout,
                             int64_t *sout);

LT_END_DECLS

#endif
