/* lt_storage.h — a reference-counted block of device memory.
 *
 * Invariants: `data` was obtained from the backend of `device` and holds
 * `nbytes` bytes; it is freed by that backend when `refcount` drops to zero.
 * Tensors (views) share a storage and each holds one reference. `version`
 * counts in-place writes, so autograd can detect that a tensor it saved for
 * backward was modified afterwards. A storage may also wrap memory it does not
 * own (`owns_data` false): then release only drops the struct.
 *
 * `mem` records how `data` was obtained, which decides how it is freed:
 * through the device's backend, not at all (wrapped), or, for pinned
 * (page-locked) host memory, by the host_free of the backend that pinned it
 * (lt_backend.h: a GPU's driver pins memory, the CPU backend cannot). Pinned
 * storages are CPU storages in every other respect; the DMA engine reads
 * them directly, so a copy to a GPU can run while the host goes on. */
#ifndef LT_STORAGE_H
#define LT_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lt_cdefs.h"
#include "lt_device.h"
#include "lt_error.h"

LT_BEGIN_DECLS

typedef enum {
  LT_MEM_BACKEND = 0, /* from the device backend's alloc; freed by its free */
  LT_MEM_WRAPPED,     /* caller-owned (lt_storage_wrap); never freed here */
  LT_MEM_PINNED       /* page-locked host memory (CPU device); freed by pinned_by's host_free */
} lt_storage_mem;

typedef struct lt_storage {
  LT_ATOMIC(int) refcount; /* through lt_storage_retain/release/refcount only (lt_cdefs.h) */
  lt_device device;
  void *data;
  size_t nbytes;
  bool owns_data;     /* mem != LT_MEM_WRAPPED */
  lt_storage_mem mem;
  lt_device_type pinned_by; /* LT_MEM_PINNED: the device type whose backend pinned it */
  LT_ATOMIC(uint_fast64_t) version; /* C11 atomics, from C only (lt_cdefs.h) */
} lt_storage;

/* A new storage of nbytes on `device`, refcount 1. Contents undefined. */
lt_status lt_storage_new(lt_device device, size_t nbytes, lt_storage **out);
/* Wraps caller-owned memory; the caller keeps it alive while the storage lives. */
lt_status lt_storage_wrap(lt_device device, void *data, size_t nbytes, lt_storage **out);
/* A CPU storage of nbytes of pinned host memory, refcount 1, from the first
 * registered backend with host_alloc (the CUDA backend). Fails with a clear
 * message when luatrain was built without CUDA or no GPU is usable. Counted
 * as CPU bytes. */
lt_status lt_storage_new_pinned(size_t nbytes, lt_storage **out);
static inline bool lt_storage_is_pinned(const lt_storage *s) { return s && s->mem == LT_MEM_PINNED; }
void lt_storage_retain(lt_storage *s);
void lt_storage_release(lt_storage *s);
/* The number of references now held (tensors and other owners). */
int lt_storage_refcount(const lt_storage *s);

/* Bytes currently held by storages of each device type (for memory stats and
 * for the Lua collector, which cannot see device bytes). */
size_t lt_storage_bytes_in_use(lt_device_type type);
size_t lt_storage_peak_bytes(lt_device_type type);
void lt_storage_reset_peak(lt_device_type type);
/* Bytes ever allocated (a monotonic counter): the Lua glue reports its growth
 * to the Lua collector as allocation debt. */
size_t lt_storage_bytes_allocated_total(void);
/* Called once when an allocation fails, before retrying (the Lua glue
 * installs a hook that runs a full garbage collection). */
void lt_storage_set_oom_hook(void (*hook)(void *ctx), void *ctx);

LT_END_DECLS

#endif
