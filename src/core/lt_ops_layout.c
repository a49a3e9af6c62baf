/* lt_ops_layout.c — memory-format conversion, the output-layout rule of the
 * op layer and memory-order views for kernels (see lt_ops_layout.h). */
#include <string.h>

#include "lt_ops_layout.h"

static const lt_backend *be_of(const lt_tensor *t) { return lt_backend_get(lt_tensor_device(t).type); }

/* Same strides on every dim of size > 1 (what decides the layout). */
static bool same_layout(const lt_tensor *a, const lt_tensor *b) {
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] > 1 && a->stride[i] != b->stride[i]) return false;
  return true;
}

static bool has_shape(const lt_tensor *t, int ndim, const int64_t *shape) {
  return t->ndim == ndim && memcmp(t->shape, shape, sizeof(int64_t) * (size_t)ndim) == 0;
}

lt_status lt_op_empty_for(int n, const lt_tensor *const *in, int ndim, const int64_t *shape, lt_dtype dtype,
                          lt_device device, lt_tensor **out) {
  const lt_tensor *first = NULL;
  bool agree = true;
  for (int i = 0; i < n && agree; i++) {
    const lt_tensor *t = in[i];
    if (!t || !has_shape(t, ndim, shape)) continue;
    if (!lt_tensor_is_dense(t)) agree = false;
    else if (!first) first = t;
    else if (!same_layout(first, t)) agree = false;
  }
  if (!agree || !first) return lt_tensor_empty(ndim, shape, dtype, device, out);
  /* the exact strides, size-1 dims too: they carry the tie-break of
   * lt_tensor_suggest_format ([N,C,1,1] made channels-last stays so) */
  return lt_tensor_empty_strided(ndim, shape, first->stride, dtype, device, out);
}

lt_status lt_op_empty_like(const lt_tensor *t, lt_dtype dtype, lt_tensor **out) {
  const lt_tensor *in[1] = {t};
  return lt_op_empty_for(1, in, t->ndim, t->shape, dtype, lt_tensor_device(t), out);
}

/* A new tensor of t's shape and dtype in `format`. */
static lt_status empty_in(lt_tensor *t, lt_memory_format format, lt_tensor **out) {
  if (format == LT_FORMAT_PRESERVE) return lt_op_empty_like(t, t->dtype, out);
  return lt_tensor_empty_format(t->ndim, t->shape, t->dtype, lt_tensor_device(t), format, out);
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

lt_status lt_op_clone_format(lt_tensor *t, lt_memory_format format, lt_tensor **out) {
  LT_TRY(check_format(t, format));
  lt_tensor *o = NULL;
  LT_TRY(empty_in(t, format, &o));
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
