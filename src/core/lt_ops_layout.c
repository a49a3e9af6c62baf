/* lt_ops_layout.c — memory-format conversion, the output-layout rule of the
 * op layer and memory-order views for kernels (see lt_ops_layout.h). */
#include <string.h>

#include "lt_ops_layout.h"

static const lt_backend *be_of(const lt_tensor *t) { return lt_backend_get(lt_tensor_device(t).type); }

static bool has_shape(const lt_tensor *t, int ndim, const int64_t *shape) {
  return t->ndim == ndim && memcmp(t->shape, shape, sizeof(int64_t) * (size_t)ndim) == 0;
}

/* The general case of PyTorch's TensorIterator (reorder_dimensions, then
 * the output's compatible strides): the dims are sorted from fastest to
 * slowest by the operands' strides, the first operand that tells two dims
 * apart deciding (a broadcast dim, stride 0, tells nothing; equal strides
 * put the smaller size first), and the result is laid out densely in that
 * order. Operands are aligned at their trailing dims. */
static void ordered_strides(int n, const lt_tensor *const *in, int ndim, const int64_t *shape, int64_t *stride) {
  /* perm[k]: the k-th fastest dim; starts as a contiguous layout's order */
  int perm[LT_MAX_DIMS];
  for (int k = 0; k < ndim; k++) perm[k] = ndim - 1 - k;
  /* 1: d0 should come after d1, -1: before, 0: no operand tells */
  #define OP_STRIDE(t, d) \
    ((d) < ndim - (t)->ndim || ((t)->shape[(d) - (ndim - (t)->ndim)] == 1 && shape[d] != 1) \
         ? 0 : (t)->stride[(d) - (ndim - (t)->ndim)])
  for (int i = 1; i < ndim; i++) {
    int d1 = i;
    for (int d0 = i - 1; d0 >= 0; d0--) {
      int cmp = 0;
      for (int j = 0; j < n && cmp == 0; j++) {
        const lt_tensor *t = in[j];
        if (!t) continue;
        int64_t s0 = OP_STRIDE(t, perm[d0]), s1 = OP_STRIDE(t, perm[d1]);
        if (s0 == 0 || s1 == 0) continue;
        if (s0 < s1) cmp = -1;
        else if (s0 > s1) cmp = 1;
        else if (shape[perm[d0]] > shape[perm[d1]]) cmp = 1;
      }
      if (cmp > 0) {
        int tmp = perm[d0];
        perm[d0] = perm[d1];
        perm[d1] = tmp;
        d1 = d0;
      } else if (cmp < 0) {
        break;
      }
    }
  }
  #undef OP_STRIDE
  int64_t next = 1;
  for (int k = 0; k < ndim; k++) {
    stride[perm[k]] = next;
    next *= shape[perm[k]];
  }
}

/* PyTorch's TensorIterator: when every operand has the result's shape, all
 * contiguous gives contiguous, all channels-last gives channels-last, and
 * all dense with the very same strides gives those strides; anything else
 * (broadcasting, layouts that disagree, gaps) takes ordered_strides. */
static void result_strides(int n, const lt_tensor *const *in, int ndim, const int64_t *shape, int64_t *stride) {
  bool any = false, same_shape = true, contig = true, cl = true, dense = true, equal = true;
  const lt_tensor *last = NULL;
  for (int i = 0; i < n; i++) {
    const lt_tensor *t = in[i];
    if (!t) continue;
    any = true;
    if (!has_shape(t, ndim, shape)) { same_shape = false; break; }
    contig = contig && lt_tensor_is_contiguous(t);
    cl = cl && lt_tensor_is_channels_last(t);
    dense = dense && lt_tensor_is_dense(t);
    if (last && memcmp(last->stride, t->stride, sizeof(int64_t) * (size_t)ndim) != 0) equal = false;
    last = t;
  }
  if (!any || (same_shape && contig)) {
    lt_contiguous_strides(ndim, shape, stride);
  } else if (same_shape && cl) {
    lt_channels_last_strides(shape, stride);
  } else if (same_shape && dense && equal) {
    memcpy(stride, last->stride, sizeof(int64_t) * (size_t)ndim);
  } else {
    ordered_strides(n, in, ndim, shape, stride);
  }
}

lt_status lt_op_empty_for(int n, const lt_tensor *const *in, int ndim, const int64_t *shape, lt_dtype dtype,
                          lt_device device, lt_tensor **out) {
  int64_t stride[LT_MAX_DIMS];
  result_strides(n, in, ndim, shape, stride);
  return lt_tensor_empty_strided(ndim, shape, stride, dtype, device, out);
}

static lt_status check_format(const lt_tensor *t, lt_memory_format format) {
  if ((unsigned)format > LT_FORMAT_PRESERVE) return lt_error_set(LT_ERR_ARG, 2, "unknown memory format %d", (int)format);
  if (format == LT_FORMAT_CHANNELS_LAST && t->ndim != 4) {
    char b[128];
    return lt_error_set(LT_ERR_ARG, 1, "channels_last needs a 4-D tensor [N,C,H,W], got shape %s",
                        lt_shape_str(t->ndim, t->shape, b, sizeof b));
  }
  return LT_OK;
}

lt_status lt_op_empty_like_format(const lt_tensor *t, lt_memory_format format, lt_dtype dtype, lt_device device,
                                  lt_tensor **out) {
  LT_TRY(check_format(t, format));
  if (format != LT_FORMAT_PRESERVE) return lt_tensor_empty_format(t->ndim, t->shape, dtype, device, format, out);
  /* PyTorch's empty_like: a dense t's exact strides (size-1 dims too: they
   * carry the tie-break of lt_tensor_suggest_format), else dense strides in
   * t's order of strides */
  if (lt_tensor_is_dense(t)) return lt_tensor_empty_strided(t->ndim, t->shape, t->stride, dtype, device, out);
  int64_t stride[LT_MAX_DIMS];
  ordered_strides(1, &t, t->ndim, t->shape, stride);
  return lt_tensor_empty_strided(t->ndim, t->shape, stride, dtype, device, out);
}

lt_status lt_op_empty_like(const lt_tensor *t, lt_dtype dtype, lt_tensor **out) {
  return lt_op_empty_like_format(t, LT_FORMAT_PRESERVE, dtype, lt_tensor_device(t), out);
}


lt_status lt_op_clone_format(lt_tensor *t, lt_memory_format format, lt_tensor **out) {
  lt_tensor *o = NULL;
  LT_TRY(lt_op_empty_like_format(t, format, t->dtype, lt_tensor_device(t), &o));
  lt_tensor *in[2] = {o, t}, *v[2];
  lt_status st = lt_op_memory_order(2, in, v);
  if (st == LT_OK) {
    st = be_of(t)->copy(v[0], v[1]);
    lt_tensor_release(v[0]);
    lt_tensor_release(v[1]);
  }
  if (st != LT_OK) {
    lt_tensor_release(o);
    return st;
  }
  *out = o;
  return LT_OK;
}

lt_status lt_op_contiguous_format(lt_tensor *t, lt_memory_format format, lt_tensor **out) {
  LT_TRY(check_format(t, format));
  if (lt_tensor_is_contiguous_format(t, format)) {
    lt_tensor_retain(t);
    *out = t;
    return LT_OK;
  }
  return lt_op_clone_format(t, format, out);
}

lt_status lt_op_memory_order(int n, lt_tensor *const *in, lt_tensor **out) {
  const lt_tensor *o = in[0];
  for (int i = 0; i < n; i++) out[i] = NULL;
  bool permute = o->ndim > 1 && !lt_tensor_is_contiguous(o) && lt_tensor_is_dense(o);
  int perm[LT_MAX_DIMS];
  if (permute) {
    /* dims by decreasing stride (size-1 dims, whose stride means nothing,
     * stay outermost in their order); a stable insertion sort */
    for (int i = 0; i < o->ndim; i++) perm[i] = i;
    for (int i = 1; i < o->ndim; i++)
      for (int j = i; j > 0; j--) {
        int a = perm[j - 1], b = perm[j];
        int64_t ka = o->shape[a] == 1 ? INT64_MAX : o->stride[a], kb = o->shape[b] == 1 ? INT64_MAX : o->stride[b];
        if (kb <= ka) break;
        perm[j - 1] = b;
        perm[j] = a;
      }
  }
  for (int i = 0; i < n; i++) {
    if (!in[i]) continue;
    if (!permute) {
      lt_tensor_retain(in[i]);
      out[i] = in[i];
      continue;
    }
    lt_status st = lt_tensor_permute(in[i], perm, &out[i]);
    if (st != LT_OK) {
      for (int j = 0; j < i; j++) lt_tensor_release(out[j]);
      for (int j = 0; j < n; j++) out[j] = NULL;
      return st;
    }
  }
  return LT_OK;
}
