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

/* --- CUDA graphs (lt_cuda_graph.cu; the Lua API is lt.cuda.graph) ---------
 * A graph records every kernel, copy and stream-ordered allocation queued on
 * a device's stream between lt_cuda_graph_begin and lt_cuda_graph_end, on
 * this thread, without running them; lt_cuda_graph_launch replays them.
 * While this thread captures, operations that cannot be replayed (reading
 * values on the host, host-to-device copies, synchronisation, RNG, new
 * cuDNN algorithm searches, work on another device) fail with an error
 * saying so; the caller then calls lt_cuda_graph_abort, which ends the
 * capture and leaves the stream usable. */
typedef struct lt_cuda_graph lt_cuda_graph;

typedef struct {
  int device;
  size_t nodes;          /* nodes in the captured graph */
  size_t escaped_bytes;  /* memory the captured step allocates and does not free (outputs, gradients) */
  size_t deferred_frees; /* frees of older memory postponed until the graph is destroyed */
  bool launched, ready;  /* replayed at least once; instantiated (capture succeeded) */
} lt_cuda_graph_stats;

/* True while this thread captures a graph. */
bool lt_cuda_capturing(void);
/* Starts capturing on `device`'s stream (after reporting errors kernels
 * recorded so far). Fails when this thread is capturing already. */
lt_status lt_cuda_graph_begin(int device, lt_cuda_graph **out);
/* Ends the capture and instantiates the graph. On failure the graph holds
 * nothing to replay; destroy it. */
lt_status lt_cuda_graph_end(lt_cuda_graph *g);
/* Ends a capture that failed, discarding what was recorded (no-op when g
 * is not being captured). */
void lt_cuda_graph_abort(lt_cuda_graph *g);
/* Replays the graph on its device's stream (asynchronously). */
lt_status lt_cuda_graph_launch(lt_cuda_graph *g);
/* Frees the graph and the memory it kept (aborting a capture in progress;
 * postponed until the end of a capture this thread is running). */
void lt_cuda_graph_destroy(lt_cuda_graph *g);
void lt_cuda_graph_info(const lt_cuda_graph *g, lt_cuda_graph_stats *out);
/* True when `p` (device memory of `device`) was allocated by a capture
 * whose graph was never launched: its memory does not exist. */
bool lt_cuda_graph_is_orphan(int device, const void *p);

/* Debug mode: synchronise after every kernel the backend launches and
 * report errors there (as CUDA_LAUNCH_BLOCKING does). Off by default; also
 * switched on by the environment variable LUATRAIN_CUDA_SYNC=1. */
void lt_cuda_set_sync_debug(bool on);

/* Versions as the libraries encode them (lt_cuda_libs.c). None of these
 * initialises a device. */
/* The CUDA runtime built in (13000 = 13.0). */
int lt_cuda_runtime_version(void);
/* The newest CUDA the installed driver supports; 0 without a driver. */
int lt_cuda_driver_version(void);
/* cudnnGetVersion() (91400 = 9.14.0), loading cuDNN on first use; an error
 * naming the reason when it cannot be loaded or is older than 9.0. */
lt_status lt_cuda_cudnn_version(size_t *out);
/* cuBLAS / cuBLASLt: major*10000 + minor*100 + patch, loading the library. */
lt_status lt_cuda_cublas_version(size_t *out);
lt_status lt_cuda_cublaslt_version(size_t *out);
/* One line for `luatrain -v`, e.g. "CUDA runtime 13.0, driver 13.0, cuDNN
 * 9.14.0, 1 GPU (NVIDIA H200)". Without a driver it says so and touches
 * nothing else (no device probe, no library loaded). */
void lt_cuda_describe(char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
