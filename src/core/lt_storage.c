/* lt_storage.c — storage allocation through the device's backend (or as
 * pinned host memory from a GPU backend's host_alloc), reference counting,
 * and the per-device byte counters. */
#include "lt_storage.h"

#include <stdlib.h>

#include "lt_backend.h"

static atomic_size_t bytes_in_use[LT_NDEVICE_TYPES];
static atomic_size_t bytes_peak[LT_NDEVICE_TYPES];
static atomic_size_t bytes_allocated_total; /* monotonic, all devices */
static void (*oom_hook)(void *);
static void *oom_hook_ctx;

void lt_storage_set_oom_hook(void (*hook)(void *ctx), void *ctx) {
  oom_hook = hook;
  oom_hook_ctx = ctx;
}

static void count_alloc(lt_device_type type, size_t n) {
  atomic_fetch_add(&bytes_allocated_total, n);
  size_t now = atomic_fetch_add(&bytes_in_use[type], n) + n;
  size_t peak = atomic_load(&bytes_peak[type]);
  while (now > peak && !atomic_compare_exchange_weak(&bytes_peak[type], &peak, now)) {}
}

size_t lt_storage_bytes_in_use(lt_device_type type) { return atomic_load(&bytes_in_use[type]); }
size_t lt_storage_peak_bytes(lt_device_type type) { return atomic_load(&bytes_peak[type]); }
size_t lt_storage_bytes_allocated_total(void) { return atomic_load(&bytes_allocated_total); }
void lt_storage_reset_peak(lt_device_type type) { atomic_store(&bytes_peak[type], atomic_load(&bytes_in_use[type])); }

lt_status lt_storage_new(lt_device device, size_t nbytes, lt_storage **out) {
  const lt_backend *be;
  LT_TRY(lt_backend_for(device, &be));
  lt_storage *s = calloc(1, sizeof *s);
  if (!s) return lt_error_set(LT_ERR_OOM, 0, "out of host memory allocating a storage");
  void *data = NULL;
  if (nbytes > 0) {
    lt_status st = be->alloc(device, nbytes, &data);
    if (st == LT_ERR_OOM && oom_hook) {
      oom_hook(oom_hook_ctx); /* lets the Lua collector free dead tensors, then retry once */
      st = be->alloc(device, nbytes, &data);
    }
    if (st != LT_OK) {
      free(s);
      return st;
    }
  }
  atomic_init(&s->refcount, 1);
  atomic_init(&s->version, 0);
  s->device = device;
  s->data = data;
  s->nbytes = nbytes;
  s->owns_data = true;
  s->mem = LT_MEM_BACKEND;
  count_alloc(device.type, nbytes);
  *out = s;
  return LT_OK;
}

/* The device type whose backend pins host memory, or LT_NDEVICE_TYPES. */
static lt_device_type pinning_type(void) {
  for (int t = 0; t < LT_NDEVICE_TYPES; t++) {
    const lt_backend *be = lt_backend_get((lt_device_type)t);
    if (be && be->host_alloc) return (lt_device_type)t;
  }
  return LT_NDEVICE_TYPES;
}

lt_status lt_storage_new_pinned(size_t nbytes, lt_storage **out) {
  lt_device_type by = pinning_type();
  if (by == LT_NDEVICE_TYPES) {
    *out = NULL;
    return lt_error_set(LT_ERR_RUNTIME, 0,
                        "pinned memory needs CUDA, and this luatrain was built without it (LT_CUDA=OFF)");
  }
  const lt_backend *be = lt_backend_get(by);
  lt_storage *s = calloc(1, sizeof *s);
  if (!s) return lt_error_set(LT_ERR_OOM, 0, "out of host memory allocating a storage");
  void *data = NULL;
  if (nbytes > 0) {
    lt_status st = be->host_alloc(nbytes, &data);
    if (st == LT_ERR_OOM && oom_hook) {
      oom_hook(oom_hook_ctx); /* dead pinned batches may be waiting for the collector */
      st = be->host_alloc(nbytes, &data);
    }
    if (st != LT_OK) {
      free(s);
      return st;
    }
  }
  atomic_init(&s->refcount, 1);
  atomic_init(&s->version, 0);
  s->device = lt_cpu_device();
  s->data = data;
  s->nbytes = nbytes;
  s->owns_data = true;
  s->mem = LT_MEM_PINNED;
  s->pinned_by = by;
  count_alloc(LT_CPU, nbytes);
  *out = s;
  return LT_OK;
}

lt_status lt_storage_wrap(lt_device device, void *data, size_t nbytes, lt_storage **out) {
  lt_storage *s = calloc(1, sizeof *s);
  if (!s) return lt_error_set(LT_ERR_OOM, 0, "out of host memory allocating a storage");
  atomic_init(&s->refcount, 1);
  atomic_init(&s->version, 0);
  s->device = device;
  s->data = data;
  s->nbytes = nbytes;
  s->owns_data = false;
  s->mem = LT_MEM_WRAPPED;
  *out = s;
  return LT_OK;
}

/* C++ reads these structs with plain fields in place of the atomic ones
 * (lt_cdefs.h): one layout needs equal sizes and alignments. */
_Static_assert(sizeof(_Atomic(int)) == sizeof(int) && _Alignof(_Atomic(int)) == _Alignof(int),
               "LT_ATOMIC(int) must have int's layout");
_Static_assert(sizeof(_Atomic(uint_fast64_t)) == sizeof(uint_fast64_t) &&
                   _Alignof(_Atomic(uint_fast64_t)) == _Alignof(uint_fast64_t),
               "LT_ATOMIC(uint_fast64_t) must have uint_fast64_t's layout");

void lt_storage_retain(lt_storage *s) { atomic_fetch_add(&s->refcount, 1); }

int lt_storage_refcount(const lt_storage *s) { return atomic_load(&s->refcount); }

void lt_storage_release(lt_storage *s) {
  if (!s || atomic_fetch_sub(&s->refcount, 1) != 1) return;
  if (s->mem == LT_MEM_PINNED) {
    if (s->data) lt_backend_get(s->pinned_by)->host_free(s->data);
    atomic_fetch_sub(&bytes_in_use[s->device.type], s->nbytes);
  } else if (s->owns_data) {
    if (s->data) lt_backend_get(s->device.type)->free(s->device, s->data);
    atomic_fetch_sub(&bytes_in_use[s->device.type], s->nbytes);
  }
  free(s);
}
