/* lt_tensor.c — tensor life cycle and views. Views never copy; every view
 * is checked to stay inside its storage. Autograd links of views are added by
 * the op layer (lt_ops_view.c), not here. */
#include "lt_tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_backend.h"

static lt_tensor *tensor_alloc(void) {
  lt_tensor *t = calloc(1, sizeof *t);
  if (t) atomic_init(&t->refcount, 1);
  return t;
}

const char *lt_shape_str(int ndim, const int64_t *shape, char *buf, size_t len) {
  size_t n = 0;
  n += (size_t)snprintf(buf, len, "[");
  for (int i = 0; i < ndim && n < len; i++)
    n += (size_t)snprintf(buf + n, len - n, i ? ",%lld" : "%lld", (long long)shape[i]);
  if (n < len) snprintf(buf + n, len - n, "]");
  return buf;
}

void lt_contiguous_strides(int ndim, const int64_t *shape, int64_t *stride) {
  int64_t s = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    stride[i] = s;
    s *= shape[i] > 1 ? shape[i] : 1;
  }
}

int64_t lt_tensor_numel(const lt_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
  return n;
}

bool lt_tensor_is_contiguous(const lt_tensor *t) {
  for (int i = 0; i < t->ndim; i++)
    if (t->shape[i] == 0) return true; /* no elements: any strides will do, as PyTorch */
  int64_t s = 1;
  for (int i = t->ndim - 1; i >= 0; i--) {
    if (t->shape[i] != 1 && t->stride[i] != s) return false;
    s *= t->shape[i];
  }
  return true;
}

bool lt_tensor_is_non_overlapping(const lt_tensor *t) {
  /* Sort dims by stride; each stride must be >= the extent of the smaller ones. */
  int idx[LT_MAX_DIMS], n = 0;
  for (int i = 0; i < t->ndim; i++) {
    if (t->shape[i] == 0) return true;
    if (t->shape[i] > 1) idx[n++] = i;
  }
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && t->stride[idx[j]] < t->stride[idx[j - 1]]; j--) {
      int tmp = idx[j]; idx[j] = idx[j - 1]; idx[j - 1] = tmp;
    }
  int64_t extent = 1;
  for (int i = 0; i < n; i++) {
    if (t->stride[idx[i]] < extent) return false;
    extent = t->stride[idx[i]] * t->shape[idx[i]];
  }
  return true;
}

/* --- memory formats -------------------------------------------------------------- */

const char *lt_memory_format_name(lt_memory_format f) {
  switch (f) {
    case LT_FORMAT_CONTIGUOUS: return "contiguous_format";
    case LT_FORMAT_CHANNELS_LAST: return "channels_last";
    case LT_FORMAT_PRESERVE: return "preserve_format";
  }
  return "?";
}

void lt_channels_last_strides(const int64_t *shape, int64_t *stride) {
  static const int order[4] = {1, 3, 2, 0}; /* innermost first: C, W, H, N */
  int64_t s = 1;
  for (int i = 0; i < 4; i++) {
    stride[order[i]] = s;
    s *= shape[order[i]] > 1 ? shape[order[i]] : 1;
  }
}

static bool any_empty(const lt_tensor *t) {
  for (int i = 0; i < t->ndim; i++)
    if (t->shape[i] == 0) return true;
  return false;
}

bool lt_tensor_is_channels_last(const lt_tensor *t) {
  if (t->ndim != 4) return false;
  if (any_empty(t)) return true; /* no elements: any strides will do, as for is_contiguous */
  static const int order[4] = {1, 3, 2, 0};
  int64_t s = 1;
  for (int i = 0; i < 4; i++) {
    int d = order[i];
    if (t->shape[d] != 1 && t->stride[d] != s) return false;
    s *= t->shape[d];
  }
  return true;
}

/* Strides that lay the shape's elements out without gaps or overlaps. */
static bool dense_strides(int ndim, const int64_t *shape, const int64_t *stride) {
  int idx[LT_MAX_DIMS], n = 0;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] == 0) return true;
    if (stride[i] < 0) return false;
    if (shape[i] > 1) idx[n++] = i;
  }
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && stride[idx[j]] < stride[idx[j - 1]]; j--) {
      int tmp = idx[j]; idx[j] = idx[j - 1]; idx[j - 1] = tmp;
    }
  int64_t expect = 1;
  for (int i = 0; i < n; i++) {
    if (stride[idx[i]] != expect) return false;
    expect *= shape[idx[i]];
  }
  return true;
}

bool lt_tensor_is_dense(const lt_tensor *t) { return dense_strides(t->ndim, t->shape, t->stride); }

bool lt_tensor_is_contiguous_format(const lt_tensor *t, lt_memory_format f) {
  switch (f) {
    case LT_FORMAT_CONTIGUOUS: return lt_tensor_is_contiguous(t);
    case LT_FORMAT_CHANNELS_LAST: return lt_tensor_is_channels_last(t);
    case LT_FORMAT_PRESERVE: return lt_tensor_is_dense(t);
  }
  return false;
}

lt_memory_format lt_tensor_suggest_format(const lt_tensor *t) {
  if (!lt_tensor_is_channels_last(t)) return LT_FORMAT_CONTIGUOUS;
  if (!lt_tensor_is_contiguous(t)) return LT_FORMAT_CHANNELS_LAST;
  /* both at once (C == 1, H == W == 1, no elements): the strides of the
   * size-1 dims tell which layout the tensor was made in */
  int64_t cl[4], nc[4];
  lt_channels_last_strides(t->shape, cl);
  lt_contiguous_strides(4, t->shape, nc);
  if (memcmp(cl, nc, sizeof cl) != 0 && memcmp(cl, t->stride, sizeof cl) == 0) return LT_FORMAT_CHANNELS_LAST;
  return LT_FORMAT_CONTIGUOUS;
}

bool lt_shape_equal(const lt_tensor *a, const lt_tensor *b) {
  if (a->ndim != b->ndim) return false;
  for (int i = 0; i < a->ndim; i++) if (a->shape[i] != b->shape[i]) return false;
  return true;
}

lt_status lt_wrap_dim(int64_t dim, int ndim, int arg, int *out) {
  int n = ndim > 0 ? ndim : 1;
  if (dim < -n || dim >= n)
    return lt_error_set(LT_ERR_ARG, arg, "dimension %lld out of range (expected 1..%d or -%d..-1)",
                        (long long)(dim >= 0 ? dim + 1 : dim), n, n);
  *out = (int)(dim < 0 ? dim + n : dim);
  return LT_OK;
}

static lt_status check_shape(int ndim, const int64_t *shape, lt_dtype dtype, size_t *nbytes) {
  if (ndim < 0 || ndim > LT_MAX_DIMS)
    return lt_error_set(LT_ERR_ARG, 1, "expected at most %d dimensions, got %d", LT_MAX_DIMS, ndim);
  if ((unsigned)dtype >= LT_NDTYPES) return lt_error_set(LT_ERR_ARG, 0, "invalid dtype %d", (int)dtype);
  uint64_t n = 1;
  const uint64_t limit = (uint64_t)1 << 46; /* 64 TiB of elements: far past any device */
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0) {
      char buf[128];
      return lt_error_set(LT_ERR_ARG, 1, "negative size %lld in shape %s", (long long)shape[i],
                          lt_shape_str(ndim, shape, buf, sizeof buf));
    }
    if (shape[i] && n > limit / (uint64_t)shape[i]) {
      char buf[128];
      return lt_error_set(LT_ERR_ARG, 1, "shape %s is too large", lt_shape_str(ndim, shape, buf, sizeof buf));
    }
    n *= (uint64_t)shape[i];
  }
  *nbytes = (size_t)(n * lt_dtype_size(dtype));
  return LT_OK;
}

lt_status lt_tensor_from_storage(lt_storage *s, int64_t offset, int ndim, const int64_t *shape,
                                 const int64_t *stride, lt_dtype dtype, lt_tensor **out) {
  lt_tensor *t = tensor_alloc();
  if (!t) return lt_error_set(LT_ERR_OOM, 0, "out of host memory");
  lt_storage_retain(s);
  t->storage = s;
  t->offset = offset;
  t->ndim = ndim;
  t->dtype = dtype;
  for (int i = 0; i < ndim; i++) {
    t->shape[i] = shape[i];
    t->stride[i] = stride[i];
  }
  *out = t;
  return LT_OK;
}

lt_status lt_tensor_empty(int ndim, const int64_t *shape, lt_dtype dtype, lt_device device, lt_tensor **out) {
  size_t nbytes = 0;
  LT_TRY(check_shape(ndim, shape, dtype, &nbytes));
  lt_storage *s;
  LT_TRY(lt_storage_new(device, nbytes, &s));
  int64_t stride[LT_MAX_DIMS];
  lt_contiguous_strides(ndim, shape, stride);
  lt_status st = lt_tensor_from_storage(s, 0, ndim, shape, stride, dtype, out);
  lt_storage_release(s);
  return st;
}

lt_status lt_tensor_empty_strided(int ndim, const int64_t *shape, const int64_t *stride, lt_dtype dtype,
                                  lt_device device, lt_tensor **out) {
  size_t nbytes = 0;
  LT_TRY(check_shape(ndim, shape, dtype, &nbytes));
  if (!dense_strides(ndim, shape, stride)) {
    char b1[128], b2[128];
    return lt_error_set(LT_ERR_ARG, 2, "strides %s do not lay out shape %s densely (no gaps, no overlaps)",
                        lt_shape_str(ndim, stride, b1, sizeof b1), lt_shape_str(ndim, shape, b2, sizeof b2));
  }
  lt_storage *s;
  LT_TRY(lt_storage_new(device, nbytes, &s));
  lt_status st = lt_tensor_from_storage(s, 0, ndim, shape, stride, dtype, out);
  lt_storage_release(s);
  return st;
}

lt_status lt_tensor_empty_format(int ndim, const int64_t *shape, lt_dtype dtype, lt_device device,
                                 lt_memory_format format, lt_tensor **out) {
  if (format == LT_FORMAT_CONTIGUOUS) return lt_tensor_empty(ndim, shape, dtype, device, out);
  if (format != LT_FORMAT_CHANNELS_LAST)
    return lt_error_set(LT_ERR_ARG, 0, "memory format %s cannot lay out a new tensor", lt_memory_format_name(format));
  if (ndim != 4) {
    char b[128];
    return lt_error_set(LT_ERR_ARG, 1, "channels_last needs a 4-D tensor [N,C,H,W], got shape %s",
                        lt_shape_str(ndim, shape, b, sizeof b));
  }
  int64_t stride[4];
  lt_channels_last_strides(shape, stride);
  return lt_tensor_empty_strided(4, shape, stride, dtype, device, out);
}

lt_status lt_tensor_zeros(int ndim, const int64_t *shape, lt_dtype dtype, lt_device device, lt_tensor **out) {
  LT_TRY(lt_tensor_empty(ndim, shape, dtype, device, out));
  lt_status st = lt_backend_get(device.type)->fill(*out, 0.0);
  if (st != LT_OK) {
    lt_tensor_release(*out);
    *out = NULL;
  }
  return st;
}

void lt_tensor_retain(lt_tensor *t) { atomic_fetch_add(&t->refcount, 1); }

int lt_tensor_refcount(const lt_tensor *t) { return atomic_load(&t->refcount); }

/* Set once, before main, by autograd (the only maker of grad_fn nodes). */
static void (*grad_fn_release)(struct lt_node *);

void lt_tensor_set_grad_fn_release(void (*release)(struct lt_node *n)) { grad_fn_release = release; }

void lt_tensor_release(lt_tensor *t) {
  if (!t || atomic_fetch_sub(&t->refcount, 1) != 1) return;
  if (t->grad) lt_tensor_release(t->grad);
  if (t->grad_fn) grad_fn_release(t->grad_fn);
  lt_tensor_release(t->view_base); /* a root base: never a view itself, so no deeper chain */
  lt_storage_release(t->storage);
  free(t);
}

/* --- views ------------------------------------------------------------------ */

/* Makes a view and checks it stays inside the storage. The extent is
 * computed with overflow checks: as_strided takes arbitrary strides, and a
 * wrapped product must not pass for an in-bounds one. */
static lt_status make_view(lt_tensor *t, int64_t offset, int ndim, const int64_t *shape, const int64_t *stride,
                           lt_tensor **out) {
  int64_t lo = offset, hi = offset;
  bool empty = false, overflow = false;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] == 0) { empty = true; continue; }
    int64_t span;
    if (__builtin_mul_overflow(stride[i], shape[i] - 1, &span)) { overflow = true; continue; }
    if (span >= 0) overflow |= __builtin_add_overflow(hi, span, &hi);
    else overflow |= __builtin_add_overflow(lo, span, &lo);
  }
  int64_t cap = (int64_t)(t->storage->nbytes / lt_dtype_size(t->dtype));
  if (!empty && overflow)
    return lt_error_set(LT_ERR_ARG, 0, "view reaches beyond int64 indexing (storage of %lld elements)", (long long)cap);
  if (!empty && (lo < 0 || hi >= cap))
    return lt_error_set(LT_ERR_ARG, 0, "view reaches element %lld of a storage of %lld elements",
                        (long long)(lo < 0 ? lo : hi), (long long)cap);
  return lt_tensor_from_storage(t->storage, offset, ndim, shape, stride, t->dtype, out);
}

lt_status lt_tensor_alias(lt_tensor *t, lt_tensor **out) {
  return lt_tensor_from_storage(t->storage, t->offset, t->ndim, t->shape, t->stride, t->dtype, out);
}

lt_status lt_tensor_as_strided(lt_tensor *t, int ndim, const int64_t *shape, const int64_t *stride,
                               int64_t offset, lt_tensor **out) {
  if (ndim < 0 || ndim > LT_MAX_DIMS)
    return lt_error_set(LT_ERR_ARG, 2, "expected at most %d dimensions, got %d", LT_MAX_DIMS, ndim);
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0) return lt_error_set(LT_ERR_ARG, 2, "negative size %lld", (long long)shape[i]);
    /* as PyTorch: kernels and BLAS layouts assume non-negative strides */
    if (stride[i] < 0) return lt_error_set(LT_ERR_ARG, 3, "negative stride %lld is not supported", (long long)stride[i]);
  }
  /* even an empty view must not point before the storage */
  if (offset < 0) return lt_error_set(LT_ERR_ARG, 4, "negative storage offset %lld", (long long)offset);
  return make_view(t, offset, ndim, shape, stride, out);
}

lt_status lt_tensor_view(lt_tensor *t, int ndim, const int64_t *shape_in, lt_tensor **out) {
  char b1[128], b2[128];
  if (ndim < 0 || ndim > LT_MAX_DIMS)
    return lt_error_set(LT_ERR_ARG, 2, "expected at most %d dimensions, got %d", LT_MAX_DIMS, ndim);
  int64_t shape[LT_MAX_DIMS], numel = lt_tensor_numel(t), known = 1;
  int infer = -1;
  for (int i = 0; i < ndim; i++) {
    shape[i] = shape_in[i];
    if (shape[i] == -1) {
      if (infer >= 0) return lt_error_set(LT_ERR_ARG, 2, "only one dimension can be -1");
      infer = i;
    } else if (shape[i] < 0) {
      return lt_error_set(LT_ERR_ARG, 2, "negative size %lld in shape %s", (long long)shape[i],
                          lt_shape_str(ndim, shape_in, b1, sizeof b1));
    } else if (__builtin_mul_overflow(known, shape[i], &known)) {
      return lt_error_set(LT_ERR_ARG, 2, "shape %s is incompatible with %lld elements",
                          lt_shape_str(ndim, shape_in, b1, sizeof b1), (long long)numel);
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel % known != 0)
      return lt_error_set(LT_ERR_ARG, 2, "shape %s is incompatible with %lld elements",
                          lt_shape_str(ndim, shape_in, b1, sizeof b1), (long long)numel);
    shape[infer] = numel / known;
    known *= shape[infer];
  }
  if (known != numel)
    return lt_error_set(LT_ERR_ARG, 2, "shape %s is incompatible with %lld elements",
                        lt_shape_str(ndim, shape_in, b1, sizeof b1), (long long)numel);
  int64_t stride[LT_MAX_DIMS];
  if (numel == 0 || lt_tensor_is_contiguous(t)) {
    lt_contiguous_strides(ndim, shape, stride);
    return make_view(t, t->offset, ndim, shape, stride, out);
  }
  /* Walk the old dims (ignoring size 1) from the innermost, in chunks whose
   * elements are evenly strided; each chunk must be covered exactly by a run
   * of new dims, which then get strides from the chunk's innermost stride. */
  int od[LT_MAX_DIMS], on = 0;
  for (int i = 0; i < t->ndim; i++) if (t->shape[i] != 1) od[on++] = i;
  int ni = ndim - 1;
  for (int k = on - 1; k >= 0;) {
    int64_t chunk = t->shape[od[k]], s = t->stride[od[k]], acc = 1;
    int j = k;
    while (j > 0 && t->stride[od[j - 1]] == t->stride[od[j]] * t->shape[od[j]]) {
      j--;
      chunk *= t->shape[od[j]];
    }
    while (acc < chunk) {
      if (ni < 0) goto fail;
      stride[ni] = s;
      s *= shape[ni];
      acc *= shape[ni];
      ni--;
    }
    if (acc != chunk) goto fail;
    k = j - 1;
  }
  while (ni >= 0) stride[ni--] = 1; /* trailing size-1 dims */
  return make_view(t, t->offset, ndim, shape, stride, out);
fail:
  return lt_error_set(LT_ERR_ARG, 2,
                      "view of shape %s is not compatible with the strides of a tensor of shape %s (use reshape)",
                      lt_shape_str(ndim, shape, b1, sizeof b1), lt_shape_str(t->ndim, t->shape, b2, sizeof b2));
}

lt_status lt_tensor_narrow(lt_tensor *t, int dim, int64_t start, int64_t length, lt_tensor **out) {
  if (t->ndim == 0) return lt_error_set(LT_ERR_ARG, 1, "cannot narrow a 0-d tensor");
  LT_TRY(lt_wrap_dim(dim, t->ndim, 2, &dim));
  if (start < 0 || start > t->shape[dim])
    return lt_error_set(LT_ERR_ARG, 3, "start %lld out of range for dimension %d of size %lld (expected 1..%lld)",
                        (long long)start + 1, dim + 1, (long long)t->shape[dim], (long long)t->shape[dim] + 1);
  if (length < 0 || length > t->shape[dim] - start)
    return lt_error_set(LT_ERR_ARG, 4, "length %lld from start %lld exceeds dimension %d of size %lld",
                        (long long)length, (long long)start + 1, dim + 1, (long long)t->shape[dim]);
  int64_t shape[LT_MAX_DIMS];
  memcpy(shape, t->shape, sizeof shape);
  shape[dim] = length;
  return make_view(t, t->offset + start * t->stride[dim], t->ndim, shape, t->stride, out);
}

lt_status lt_tensor_select(lt_tensor *t, int dim, int64_t index, lt_tensor **out) {
  if (t->ndim == 0) return lt_error_set(LT_ERR_ARG, 1, "cannot index a 0-d tensor");
  LT_TRY(lt_wrap_dim(dim, t->ndim, 2, &dim));
  if (index < 0 || index >= t->shape[dim])
    return lt_error_set(LT_ERR_ARG, 3, "index %lld out of range for dimension %d of size %lld",
                        (long long)index + 1, dim + 1, (long long)t->shape[dim]);
  int64_t shape[LT_MAX_DIMS], stride[LT_MAX_DIMS];
  int n = 0;
  for (int i = 0; i < t->ndim; i++)
    if (i != dim) { shape[n] = t->shape[i]; stride[n] = t->stride[i]; n++; }
  return make_view(t, t->offset + index * t->stride[dim], n, shape, stride, out);
}

lt_status lt_tensor_transpose(lt_tensor *t, int d0, int d1, lt_tensor **out) {
  LT_TRY(lt_wrap_dim(d0, t->ndim, 2, &d0));
  LT_TRY(lt_wrap_dim(d1, t->ndim, 3, &d1));
  int64_t shape[LT_MAX_DIMS], stride[LT_MAX_DIMS];
  memcpy(shape, t->shape, sizeof shape);
  memcpy(stride, t->stride, sizeof stride);
  if (t->ndim > 0) {
    shape[d0] = t->shape[d1]; shape[d1] = t->shape[d0];
    stride[d0] = t->stride[d1]; stride[d1] = t->stride[d0];
  }
  return make_view(t, t->offset, t->ndim, shape, stride, out);
}

lt_status lt_tensor_permute(lt_tensor *t, const int *dims, lt_tensor **out) {
  int64_t shape[LT_MAX_DIMS], stride[LT_MAX_DIMS];
  bool seen[LT_MAX_DIMS] = {0};
  for (int i = 0; i < t->ndim; i++) {
    if (dims[i] < 0 || dims[i] >= t->ndim || seen[dims[i]])
      return lt_error_set(LT_ERR_ARG, 2, "dims must be a permutation of 1..%d", t->ndim);
    seen[dims[i]] = true;
    shape[i] = t->shape[dims[i]];
    stride[i] = t->stride[dims[i]];
  }
  return make_view(t, t->offset, t->ndim, shape, stride, out);
}

lt_status lt_tensor_unsqueeze(lt_tensor *t, int dim, lt_tensor **out) {
  if (t->ndim >= LT_MAX_DIMS) return lt_error_set(LT_ERR_ARG, 1, "tensor already has %d dimensions", LT_MAX_DIMS);
  if (dim < 0 || dim > t->ndim)
    return lt_error_set(LT_ERR_ARG, 2, "dimension %d out of range (expected 1..%d)", dim + 1, t->ndim + 1);
  int64_t shape[LT_MAX_DIMS], stride[LT_MAX_DIMS];
  int n = 0;
  for (int i = 0; i <= t->ndim; i++) {
    if (i == dim) {
      shape[n] = 1;
      stride[n] = i < t->ndim ? t->stride[i] * t->shape[i] : 1;
      n++;
    }
    if (i < t->ndim) { shape[n] = t->shape[i]; stride[n] = t->stride[i]; n++; }
  }
  return make_view(t, t->offset, n, shape, stride, out);
}

lt_status lt_tensor_squeeze(lt_tensor *t, int dim, lt_tensor **out) {
  if (dim >= 0) LT_TRY(lt_wrap_dim(dim, t->ndim, 2, &dim));
  int64_t shape[LT_MAX_DIMS], stride[LT_MAX_DIMS];
  int n = 0;
  for (int i = 0; i < t->ndim; i++) {
    bool drop = t->shape[i] == 1 && (dim < 0 || dim == i);
    if (!drop) { shape[n] = t->shape[i]; stride[n] = t->stride[i]; n++; }
  }
  return make_view(t, t->offset, n, shape, stride, out);
}

lt_status lt_tensor_expand(lt_tensor *t, int ndim, const int64_t *shape_in, lt_tensor **out) {
  char b1[128], b2[128];
  if (ndim < t->ndim || ndim > LT_MAX_DIMS)
    return lt_error_set(LT_ERR_ARG, 2, "cannot expand a tensor of shape %s to %d dimensions",
                        lt_shape_str(t->ndim, t->shape, b1, sizeof b1), ndim);
  int64_t shape[LT_MAX_DIMS], stride[LT_MAX_DIMS];
  int lead = ndim - t->ndim;
  for (int i = 0; i < ndim; i++) {
    int j = i - lead;
    int64_t want = shape_in[i];
    if (j < 0) {
      if (want < 0)
        return lt_error_set(LT_ERR_ARG, 2, "size -1 is not allowed for a new leading dimension");
      shape[i] = want;
      stride[i] = 0;
    } else if (want == -1 || want == t->shape[j]) {
      shape[i] = t->shape[j];
      stride[i] = t->stride[j];
    } else if (t->shape[j] == 1 && want >= 0) {
      shape[i] = want;
      stride[i] = 0;
    } else {
      return lt_error_set(LT_ERR_ARG, 2, "cannot expand shape %s to %s",
                          lt_shape_str(t->ndim, t->shape, b1, sizeof b1), lt_shape_str(ndim, shape_in, b2, sizeof b2));
    }
  }
  /* no memory is needed, but numel() and the kernels' index arithmetic must not overflow */
  int64_t numel = 1;
  bool zero = false, overflow = false;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] == 0) zero = true;
    else overflow |= __builtin_mul_overflow(numel, shape[i], &numel);
  }
  if (overflow && !zero)
    return lt_error_set(LT_ERR_ARG, 2, "expanded shape %s is too large", lt_shape_str(ndim, shape, b1, sizeof b1));
  return make_view(t, t->offset, ndim, shape, stride, out);
}

lt_status lt_broadcast_shape(int na, const int64_t *sa, int nb, const int64_t *sb, int *nout, int64_t *sout) {
  int n = na > nb ? na : nb;
  for (int i = 0; i < n; i++) {
    int ia = i - (n - na), ib = i - (n - nb);
    int64_t a = ia >= 0 ? sa[ia] : 1, b = ib >= 0 ? sb[ib] : 1;
    if (a != b && a != 1 && b != 1) {
      char b1[128], b2[128];
      return lt_error_set(LT_ERR_ARG, 2, "shapes %s and %s cannot be broadcast together",
                          lt_shape_str(na, sa, b1, sizeof b1), lt_shape_str(nb, sb, b2, sizeof b2));
    }
    sout[i] = a == 1 ? b : a;
  }
  *nout = n;
  return LT_OK;
}
