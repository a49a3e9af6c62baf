/* lt_transfer.c — pinned tensors and non_blocking host-to-device copies
 * (lt_transfer.h). The asynchronous path checks every condition it relies on
 * and otherwise takes the ordinary synchronous one, so a non_blocking copy is
 * never wrong, only sometimes not asynchronous. The copies themselves are the
 * destination backend's (copy_from_pinned_async in lt_backend.h). */
#include "lt_transfer.h"

#include <string.h>

#include "lt_ops.h"

bool lt_tensor_is_pinned(const lt_tensor *t) { return t && lt_storage_is_pinned(t->storage); }

lt_status lt_op_pin_memory(lt_tensor *t, lt_tensor **out) {
  *out = NULL;
  char b[32];
  if (lt_tensor_device(t).type != LT_CPU)
    return lt_error_set(LT_ERR_ARG, 1, "only CPU tensors can be pinned, got a tensor on %s",
                        lt_device_str(lt_tensor_device(t), b, sizeof b));
  if (lt_tensor_is_pinned(t)) {
    lt_tensor_retain(t);
    *out = t;
    return LT_OK;
  }
  /* the shape is an existing tensor's, so its byte count cannot overflow */
  size_t nbytes = (size_t)lt_tensor_numel(t) * lt_dtype_size(t->dtype);
  lt_storage *s = NULL;
  LT_TRY(lt_storage_new_pinned(nbytes > 0 ? nbytes : 1, &s));
  int64_t stride[LT_MAX_DIMS];
  lt_contiguous_strides(t->ndim, t->shape, stride);
  lt_tensor *p = NULL;
  lt_status st = lt_tensor_from_storage(s, 0, t->ndim, t->shape, stride, t->dtype, &p);
  lt_storage_release(s);
  if (st == LT_OK) st = lt_op_copy_(p, t);
  if (st != LT_OK) {
    lt_tensor_release(p);
    return st;
  }
  *out = p;
  return LT_OK;
}

static void release_storage(void *s) { lt_storage_release(s); }

lt_status lt_op_to_non_blocking(lt_tensor *t, lt_dtype dtype, lt_device device, lt_tensor **out) {
  const lt_backend *be = lt_backend_get(device.type);
  int64_t n = lt_tensor_numel(t);
  if (!be || !be->copy_from_pinned_async || lt_tensor_device(t).type != LT_CPU || !lt_tensor_is_pinned(t) ||
      !lt_tensor_is_contiguous(t) || n == 0)
    return lt_op_to(t, dtype, device, out);
  *out = NULL;
  lt_tensor *d = NULL;
  LT_TRY(lt_tensor_empty(t->ndim, t->shape, t->dtype, device, &d));
  lt_storage_retain(t->storage); /* the copy's; released when it has run */
  lt_status st = be->copy_from_pinned_async(device, lt_tensor_data(d), lt_tensor_data(t),
                                            (size_t)n * lt_dtype_size(t->dtype), t->storage, release_storage);
  if (st != LT_OK) {
    lt_storage_release(t->storage);
    lt_tensor_release(d);
    return st;
  }
  if (dtype == t->dtype) {
    *out = d;
    return LT_OK;
  }
  /* converted on the device: queued after the copy */
  st = lt_op_to(d, dtype, device, out);
  lt_tensor_release(d);
  return st;
}

lt_status lt_transfer_poll(bool wait) {
  for (int type = 0; type < LT_NDEVICE_TYPES; type++) {
    const lt_backend *be = lt_backend_get((lt_device_type)type);
    if (be && be->transfer_poll) LT_TRY(be->transfer_poll(wait));
  }
  return LT_OK;
}
