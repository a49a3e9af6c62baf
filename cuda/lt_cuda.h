/* lt_cuda.h — the CUDA backend's C-callable API: availability, devices,
 * synchronisation, memory statistics and the TF32 switch. This is what the
 * Lua glue (src/lua/lt_lua_cuda.c) and C programs call; tensors reach the
 * GPU through the backend table the core dispatches to (lt_backend.h), which
 * lt_cuda_register() installs.
 *
 * Nothing here touches the CUDA driver until a function that needs a device
 * is called: a binary built with CUDA starts and runs CPU code on machines
 * without a GPU or without a driver, and lt_cuda_is_available() is then
 * simply false. Not here: kernels (the .cu files) and the internal state shared
 * by the backend's files (lt_cuda_internal.h). */
#ifndef LT_CUDA_H
#define LT_CUDA_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "lt_error.h"

/* Installs the backend table for LT_CUDA with the core (idempotent; only
 * stores a pointer). Also done by a constructor when this library is linked. */
void lt_cuda_register(void);

/* True when the CUDA runtime finds at least one GPU. The first call probes
 * the driver (cudaGetDeviceCount); it never fails. */
bool lt_cuda_is_available(void);
/* Number of GPUs (0 without a GPU or driver). */
int lt_cuda_device_count(void);
/* Why no GPU is available, e.g. "CUDA driver version is insufficient for
 * CUDA runtime version (cudaErrorInsufficientDriver)"; "" when one is. */
const char *lt_cuda_unavailable_reason(void);
/* The device's name, e.g. "NVIDIA H200". */
lt_status lt_cuda_device_name(int device, char *buf, size_t len);

/* Waits for all work queued on the device's stream (device < 0: on every
 * device initialised so far), then reports an error a kernel recorded since
 * the last synchronisation (a bad index or class label). */
lt_status lt_cuda_synchronize(int device);

typedef struct {
  size_t allocated;  /* bytes handed out by the backend now (tensors and workspaces) */
  size_t peak;       /* the most `allocated` has been since the last reset */
  size_t reserved;   /* bytes the memory pool holds from the driver */
  size_t free;       /* cudaMemGetInfo: free bytes on the device */
  size_t total;      /* cudaMemGetInfo: the device's memory */
} lt_cuda_memory_stats;

lt_status lt_cuda_memory_stats_get(int device, lt_cuda_memory_stats *out);
lt_status lt_cuda_reset_peak_memory_stats(int device);
/* Returns the pool's cached, unused memory to the driver (synchronises). */
lt_status lt_cuda_empty_cache(int device);

/* TF32 tensor-core arithmetic for float32 matrix products and convolutions
 * (on by default, as cuDNN's; results then agree with float32 to ~1e-3). */
void lt_cuda_set_allow_tf32(bool allow);
bool lt_cuda_allow_tf32(void);

/* Debug mode: synchronise after every kernel the backend launches and
 * report errors there (as CUDA_LAUNCH_BLOCKING does). Off by default; also
 * switched on by the environment variable LUATRAIN_CUDA_SYNC=1. */
void lt_cuda_set_sync_debug(bool on);

#ifdef __cplusplus
}
#endif

#endif
