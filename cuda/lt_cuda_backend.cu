/* lt_cuda_backend.cu — the CUDA backend's device layer: lazy discovery of
 * GPUs, one context per device (a non-blocking compute stream, the device's
 * stream-ordered memory pool; the cuBLAS/cuDNN handles, made on first use,
 * are lt_cuda_libs.c's), allocation with byte accounting and out-of-memory
 * reports, host<->device copies, synchronisation with the errors kernels
 * recorded, and the error formatting behind LT_CUDA_CHECK.
 *
 * Nothing runs at start-up: the first call that needs the driver probes it,
 * so a CUDA build runs CPU code on machines without a GPU or driver. Memory
 * comes from cudaMallocFromPoolAsync on the device's stream, with the pool's
 * release threshold at its maximum, so freed blocks are reused instead of
 * returned to the driver (empty_cache returns them); nothing in a training
 * step calls cudaMalloc or cudaFree, which keeps steps capturable as CUDA
 * graphs. Kernels live in the other .cu files; the backend table that the
 * core dispatches through is in lt_cuda_table.c. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>

#include "lt_cuda_internal.h"
#include "lt_cuda_ptrmap.h"
#include "lt_cuda_transfer.h"

/* --- error formatting -------------------------------------------------------------------------- */

extern "C" lt_status lt_cuda_fail(cudaError_t e, const char *stmt, const char *file, int line) {
  const char *base = strrchr(file, '/');
  base = base ? base + 1 : file;
  lt_status st = e == cudaErrorMemoryAllocation ? LT_ERR_OOM : LT_ERR_RUNTIME;
  return lt_error_set(st, 0, "CUDA error: %s (%s) in `%s` at %s:%d", cudaGetErrorString(e), cudaGetErrorName(e), stmt,
                      base, line);
}

/* --- discovery ----------------------------------------------------------------------------------- */

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static int ndevices;
static char unavailable[256] = "CUDA was not probed yet";
static std::atomic<bool> sync_debug{false};
static std::atomic<bool> allow_tf32{true};

static void probe(void) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    int drv = 0;
    if (cudaDriverGetVersion(&drv) != cudaSuccess) drv = 0;
    if (e == cudaErrorInsufficientDriver && drv == 0)
      snprintf(unavailable, sizeof unavailable, "no NVIDIA driver is installed");
    else if (e == cudaErrorInsufficientDriver)
      snprintf(unavailable, sizeof unavailable, "the NVIDIA driver supports CUDA %d.%d, this build needs %d.%d", drv / 1000,
               (drv % 1000) / 10, CUDART_VERSION / 1000, (CUDART_VERSION % 1000) / 10);
    else
      snprintf(unavailable, sizeof unavailable, "%s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
    cudaGetLastError(); /* not sticky, but leave nothing behind */
    n = 0;
  } else if (n == 0) {
    snprintf(unavailable, sizeof unavailable, "no CUDA-capable device is detected");
  } else {
    unavailable[0] = 0;
  }
  ndevices = n > LT_CUDA_MAX_DEVICES ? LT_CUDA_MAX_DEVICES : n;
  const char *env = getenv("LUATRAIN_CUDA_SYNC");
  if (env && *env && strcmp(env, "0") != 0) sync_debug.store(true);
}

extern "C" bool lt_cuda_is_available(void) {
  pthread_once(&probe_once, probe);
  return ndevices > 0;
}

extern "C" int lt_cuda_device_count(void) {
  pthread_once(&probe_once, probe);
  return ndevices;
}

extern "C" const char *lt_cuda_unavailable_reason(void) {
  pthread_once(&probe_once, probe);
  return unavailable;
}

extern "C" void lt_cuda_set_allow_tf32(bool allow) { allow_tf32.store(allow); }
extern "C" bool lt_cuda_allow_tf32(void) { return allow_tf32.load(); }
extern "C" void lt_cuda_set_sync_debug(bool on) {
  pthread_once(&probe_once, probe);
  sync_debug.store(on);
}
extern "C" bool lt_cuda_sync_debug(void) { return sync_debug.load(std::memory_order_relaxed); }

/* --- byte accounting ------------------------------------------------------------------------------
 * cudaFreeAsync is not told the size of what it frees, so each device keeps
 * a pointer -> size map (lt_cuda_ptrmap.h) under a mutex: one insert per
 * allocation, one removal per free. */
typedef struct {
  pthread_mutex_t mu;
  lt_ptrmap sizes;
  size_t allocated, peak;
} ledger;

static bool ledger_add(ledger *l, void *p, size_t n) {
  pthread_mutex_lock(&l->mu);
  bool ok = lt_ptrmap_put(&l->sizes, p, n);
  if (ok) {
    l->allocated += n;
    if (l->allocated > l->peak) l->peak = l->allocated;
  }
  pthread_mutex_unlock(&l->mu);
  return ok;
}

static void ledger_remove(ledger *l, void *p) {
  pthread_mutex_lock(&l->mu);
  size_t n = 0;
  if (lt_ptrmap_take(&l->sizes, p, &n)) l->allocated -= n;
  pthread_mutex_unlock(&l->mu);
}

/* --- contexts ------------------------------------------------------------------------------------- */

static lt_cuda_ctx ctxs[LT_CUDA_MAX_DEVICES];
static ledger ledgers[LT_CUDA_MAX_DEVICES];

extern "C" void lt_cuda_ledger_drop(int device, void *p) {
  if (device >= 0 && device < LT_CUDA_MAX_DEVICES && p) ledger_remove(&ledgers[device], p);
}
static std::atomic<bool> ready[LT_CUDA_MAX_DEVICES];
static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;
static __thread int current_device = -1;

__global__ void probe_kernel(int *p) {
  if (p) *p = 1;
}

static lt_status init_device(int dev) {
  lt_cuda_ctx *c = &ctxs[dev];
  c->device = dev;
  LT_CUDA_CHECK(cudaSetDevice(dev));
  current_device = dev;
  cudaDeviceProp prop;
  LT_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  int pools = 0;
  LT_CUDA_CHECK(cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, dev));
  if (!pools)
    return lt_error_set(LT_ERR_RUNTIME, 0, "cuda:%d (%s) does not support stream-ordered memory pools", dev,
                        prop.name);
  c->sm_count = prop.multiProcessorCount;
  LT_CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
  LT_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&c->pool, dev));
  uint64_t threshold = UINT64_MAX;
  LT_CUDA_CHECK(cudaMemPoolSetAttribute(c->pool, cudaMemPoolAttrReleaseThreshold, &threshold));
  /* The record kernels write errors into lives in device memory (atomics on
   * mapped host memory are not reliable over PCIe); a pinned mirror receives
   * a copy of it at every synchronisation. */
  void *h = NULL, *d = NULL;
  LT_CUDA_CHECK(cudaMallocHost(&h, sizeof(lt_cuda_derr)));
  memset(h, 0, sizeof(lt_cuda_derr));
  c->derr_host = (lt_cuda_derr *)h;
  LT_CUDA_CHECK(cudaMalloc(&d, sizeof(lt_cuda_derr)));
  c->derr = (lt_cuda_derr *)d;
  LT_CUDA_CHECK(cudaMemsetAsync(d, 0, sizeof(lt_cuda_derr), c->stream));
  /* A GPU older than the architectures this build has code for fails here,
   * with a message that says so, rather than at the first real kernel. */
  probe_kernel<<<1, 1, 0, c->stream>>>(NULL);
  cudaError_t e = cudaGetLastError();
  if (e == cudaErrorNoKernelImageForDevice || e == cudaErrorUnsupportedPtxVersion)
    return lt_error_set(LT_ERR_RUNTIME, 0,
                        "cuda:%d is a %s (compute capability %d.%d), which this build of luatrain has no kernels "
                        "for (it was compiled for sm_90; rebuild with CMAKE_CUDA_ARCHITECTURES set for this GPU)",
                        dev, prop.name, prop.major, prop.minor);
  if (e != cudaSuccess) return lt_cuda_fail(e, "probe_kernel<<<1, 1>>>", __FILE__, __LINE__);
  pthread_mutex_init(&ledgers[dev].mu, NULL);
  return LT_OK;
}

static lt_status ctx_lookup(int dev, lt_cuda_ctx **out);

extern "C" lt_status lt_cuda_ctx_get(int dev, lt_cuda_ctx **out) {
  /* Work queued on another device's stream would run now, once, instead of
   * being recorded in the graph being captured. */
  int cap = lt_cuda_graph_capture_device();
  if (cap >= 0 && dev != cap) {
    char what[64];
    snprintf(what, sizeof what, "an operation on cuda:%d", dev);
    return lt_cuda_graph_refuse(what, "the graph being captured is on another device");
  }
  return ctx_lookup(dev, out);
}

/* lt_cuda_ctx_get without the capture check (frees must always find their device). */
static lt_status ctx_lookup(int dev, lt_cuda_ctx **out) {
  if (dev >= 0 && dev < LT_CUDA_MAX_DEVICES && ready[dev].load(std::memory_order_acquire)) {
    if (current_device != dev) {
      LT_CUDA_CHECK(cudaSetDevice(dev));
      current_device = dev;
    }
    *out = &ctxs[dev];
    return LT_OK;
  }
  pthread_once(&probe_once, probe);
  if (ndevices == 0) return lt_error_set(LT_ERR_RUNTIME, 0, "device 'cuda:%d' is not available (%s)", dev, unavailable);
  if (dev < 0 || dev >= ndevices)
    return lt_error_set(LT_ERR_ARG, 0, "device 'cuda:%d' does not exist (%d GPU%s found: cuda:0%s)", dev, ndevices,
                        ndevices == 1 ? "" : "s", ndevices == 1 ? "" : "..");
  pthread_mutex_lock(&init_mu);
  lt_status st = LT_OK;
  if (!ready[dev].load()) {
    st = init_device(dev);
    if (st == LT_OK) ready[dev].store(true, std::memory_order_release);
  }
  pthread_mutex_unlock(&init_mu);
  if (st != LT_OK) return st;
  if (current_device != dev) {
    LT_CUDA_CHECK(cudaSetDevice(dev));
    current_device = dev;
  }
  *out = &ctxs[dev];
  return LT_OK;
}

/* --- memory ---------------------------------------------------------------------------------------- */

static void fmt_bytes(char *buf, size_t len, size_t n) {
  if (n >= ((size_t)1 << 30)) snprintf(buf, len, "%.2f GiB", (double)n / (double)((size_t)1 << 30));
  else if (n >= ((size_t)1 << 20)) snprintf(buf, len, "%.2f MiB", (double)n / (double)((size_t)1 << 20));
  else snprintf(buf, len, "%zu bytes", n);
}

extern "C" lt_status lt_cuda_malloc(lt_cuda_ctx *c, size_t nbytes, void **out) {
  if (nbytes == 0) {
    *out = NULL;
    return LT_OK;
  }
  void *p = NULL;
  /* During a capture this records an allocation node (lt_cuda_graph.cu). */
  bool capturing = lt_cuda_capturing();
  cudaError_t e = cudaMallocFromPoolAsync(&p, nbytes, c->pool, c->stream);
  if (e == cudaErrorMemoryAllocation && !capturing) {
    /* The pool may hold free blocks that don't fit: hand them back and retry
     * once (not while capturing: synchronising the stream would end it). */
    cudaGetLastError();
    cudaStreamSynchronize(c->stream);
    cudaMemPoolTrimTo(c->pool, 0);
    e = cudaMallocFromPoolAsync(&p, nbytes, c->pool, c->stream);
  }
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    size_t fr = 0, total = 0;
    cudaMemGetInfo(&fr, &total);
    cudaGetLastError();
    char want[32], used[32], f[32], t[32];
    fmt_bytes(want, sizeof want, nbytes);
    fmt_bytes(used, sizeof used, ledgers[c->device].allocated);
    fmt_bytes(f, sizeof f, fr);
    fmt_bytes(t, sizeof t, total);
    return lt_error_set(LT_ERR_OOM, 0,
                        "CUDA out of memory on cuda:%d%s: tried to allocate %s; %s in use by luatrain, %s free of %s",
                        c->device, capturing ? " during lt.cuda.graph capture" : "", want, used, f, t);
  }
  if (e != cudaSuccess) return lt_cuda_fail(e, "cudaMallocFromPoolAsync(&p, nbytes, c->pool, c->stream)", __FILE__,
                                            __LINE__);
  if (!ledger_add(&ledgers[c->device], p, nbytes)) {
    cudaFreeAsync(p, c->stream);
    return lt_error_set(LT_ERR_OOM, 0, "out of host memory for the CUDA allocation table");
  }
  if (capturing) {
    lt_status st = lt_cuda_graph_on_alloc(c, p, nbytes);
    if (st != LT_OK) {
      ledger_remove(&ledgers[c->device], p);
      cudaFreeAsync(p, c->stream); /* a free node for the allocation node just made */
      return st;
    }
  }
  *out = p;
  return LT_OK;
}

extern "C" void lt_cuda_free_async(lt_cuda_ctx *c, void *p) {
  if (!p) return;
  /* A CUDA graph may own it, keep it, or need the free recorded (lt_cuda_graph.cu). */
  int how = lt_cuda_graph_on_free(c, p);
  if (how == LT_CU_FREE_KEEP) return;
  ledger_remove(&ledgers[c->device], p);
  if (how == LT_CU_FREE_FORGET) return;
  /* Fails only after a fatal device error or at process exit, when the
   * runtime is being torn down; there is nobody to tell then. */
  if (cudaFreeAsync(p, c->stream) != cudaSuccess) cudaGetLastError();
}

extern "C" void lt_cuda_trim_pool(lt_cuda_ctx *c) {
  /* Synchronising would end a capture; a failure leaves the memory cached,
   * which costs nothing but the reservation. */
  if (lt_cuda_capturing()) return;
  if (cudaStreamSynchronize(c->stream) != cudaSuccess || cudaMemPoolTrimTo(c->pool, 0) != cudaSuccess)
    cudaGetLastError();
}

extern "C" lt_status lt_cuda_alloc_dev(int device, size_t nbytes, void **out) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_get(device, &c));
  return lt_cuda_malloc(c, nbytes, out);
}

extern "C" void lt_cuda_free_dev(int device, void *p) {
  lt_cuda_ctx *c = NULL;
  if (ctx_lookup(device, &c) != LT_OK) return;
  lt_cuda_free_async(c, p);
}

extern "C" lt_status lt_cuda_sync_check(lt_cuda_ctx *c) {
  if (lt_cuda_capturing())
    return lt_cuda_graph_refuse("waiting for the GPU (lt.cuda.synchronize(), reading a value)",
                                "the captured step would not wait at replay");
  LT_CUDA_CHECK(cudaMemcpyAsync(c->derr_host, c->derr, sizeof(lt_cuda_derr), cudaMemcpyDeviceToHost, c->stream));
  LT_CUDA_CHECK(cudaStreamSynchronize(c->stream));
  lt_cuda_derr *d = c->derr_host;
  int kind = d->kind;
  if (kind == LT_CU_DERR_NONE) return LT_OK;
  static const char *const names[] = {"?", "index_select", "gather", "scatter", "nll_loss", "fmod", "remainder",
                                      "cross_entropy"};
  int op = d->op;
  const char *name = op > 0 && op < (int)(sizeof names / sizeof names[0]) ? names[op] : "a kernel";
  long long v0 = d->v[0], v1 = d->v[1], v2 = d->v[2];
  memset(d, 0, sizeof *d);
  LT_CUDA_CHECK(cudaMemsetAsync(c->derr, 0, sizeof(lt_cuda_derr), c->stream));
  char where[160];
  snprintf(where, sizeof where, " (found by %s on cuda:%d; GPU kernels report this when the device next synchronises)",
           name, c->device);
  switch (kind) {
    case LT_CU_DERR_INDEX:
      return lt_error_set(LT_ERR_ARG, 0, "index %lld is out of range for dimension %lld of size %lld%s", v0 + 1, v1 + 1,
                          v2, where);
    case LT_CU_DERR_TARGET:
      return lt_error_set(LT_ERR_ARG, 0, "target %lld at position %lld is out of range 1..%lld%s", v0 + 1, v1 + 1, v2,
                          where);
    default:
      return lt_error_set(LT_ERR_ARG, 0, "integer division by zero%s", where);
  }
}

extern "C" lt_status lt_cuda_after_launch(lt_cuda_ctx *c, const char *kernel, const char *file, int line) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return lt_cuda_fail(e, kernel, file, line);
  if (sync_debug.load(std::memory_order_relaxed) && !lt_cuda_capturing()) { /* no waiting inside a capture */
    e = cudaStreamSynchronize(c->stream);
    if (e != cudaSuccess) return lt_cuda_fail(e, kernel, file, line);
    return lt_cuda_sync_check(c);
  }
  return LT_OK;
}

/* --- copies and synchronisation --------------------------------------------------------------------- */

extern "C" lt_status lt_cuda_copy_to_host_dev(int device, void *dst, const void *src, size_t nbytes) {
  if (lt_cuda_capturing())
    return lt_cuda_graph_refuse("reading a CUDA tensor on the host (item(), tolist(), cpu(), printing)",
                                "the captured step would not read it at replay; return the tensor from the step and "
                                "read it after g:replay()");
  LT_TRY(lt_cuda_graph_check_read(device, src, nbytes));
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_get(device, &c));
  if (nbytes) LT_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDefault, c->stream));
  return lt_cuda_sync_check(c);
}

extern "C" lt_status lt_cuda_copy_from_host_dev(int device, void *dst, const void *src, size_t nbytes) {
  if (lt_cuda_capturing())
    return lt_cuda_graph_refuse("copying a CPU tensor to the GPU",
                                "the graph would read the same host memory at every replay; copy each batch into "
                                "the static inputs before g:replay()");
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_get(device, &c));
  if (!nbytes) return LT_OK;
  /* From pageable memory the runtime stages the source before returning, so
   * the caller may reuse it at once. Pinned memory is read by the DMA engine
   * later, so then wait: the caller owns that buffer again on return. The
   * core also stages GPU-to-GPU copies through here, with `src` on another
   * device: that device's queued work must finish first. */
  cudaPointerAttributes attr;
  bool pinned = false;
  if (cudaPointerGetAttributes(&attr, src) == cudaSuccess) {
    pinned = attr.type == cudaMemoryTypeHost;
    if (attr.type == cudaMemoryTypeDevice && attr.device != device) {
      lt_cuda_ctx *o = NULL;
      LT_TRY(lt_cuda_ctx_get(attr.device, &o));
      LT_TRY(lt_cuda_sync_check(o));
      LT_TRY(lt_cuda_ctx_get(device, &c));
    }
  } else {
    cudaGetLastError();
  }
  LT_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDefault, c->stream));
  if (pinned) LT_CUDA_CHECK(cudaStreamSynchronize(c->stream));
  return LT_OK;
}

static lt_status sync_one(int dev) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_get(dev, &c));
  return lt_cuda_sync_check(c);
}

extern "C" lt_status lt_cuda_synchronize(int device) {
  if (device >= 0) {
    LT_TRY(sync_one(device));
  } else {
    pthread_once(&probe_once, probe);
    for (int d = 0; d < ndevices; d++)
      if (ready[d].load()) LT_TRY(sync_one(d));
  }
  /* Copies that have finished hand their pinned sources back now. */
  return lt_cuda_transfer_poll(false);
}

/* --- statistics ------------------------------------------------------------------------------------- */

extern "C" lt_status lt_cuda_memory_stats_get(int device, lt_cuda_memory_stats *out) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_get(device, &c));
  ledger *l = &ledgers[device];
  pthread_mutex_lock(&l->mu);
  out->allocated = l->allocated;
  out->peak = l->peak;
  pthread_mutex_unlock(&l->mu);
  uint64_t reserved = 0;
  LT_CUDA_CHECK(cudaMemPoolGetAttribute(c->pool, cudaMemPoolAttrReservedMemCurrent, &reserved));
  out->reserved = (size_t)reserved;
  LT_CUDA_CHECK(cudaMemGetInfo(&out->free, &out->total));
  return LT_OK;
}

extern "C" lt_status lt_cuda_reset_peak_memory_stats(int device) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_get(device, &c));
  ledger *l = &ledgers[device];
  pthread_mutex_lock(&l->mu);
  l->peak = l->allocated;
  pthread_mutex_unlock(&l->mu);
  return LT_OK;
}

extern "C" lt_status lt_cuda_empty_cache(int device) {
  if (lt_cuda_capturing()) return lt_cuda_graph_refuse("lt.cuda.empty_cache()", "it waits for the GPU");
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_get(device, &c));
  LT_CUDA_CHECK(cudaStreamSynchronize(c->stream));
  LT_CUDA_CHECK(cudaMemPoolTrimTo(c->pool, 0));
  /* Memory that CUDA graphs allocated comes from a separate per-device
   * cache, which the pool's trim does not reach; blocks a graph still uses
   * (one that will be replayed) stay. */
  LT_CUDA_CHECK(cudaDeviceGraphMemTrim(device));
  return LT_OK;
}

extern "C" lt_status lt_cuda_device_name(int device, char *buf, size_t len) {
  pthread_once(&probe_once, probe);
  if (ndevices == 0)
    return lt_error_set(LT_ERR_RUNTIME, 0, "device 'cuda:%d' is not available (%s)", device, unavailable);
  if (device < 0 || device >= ndevices)
    return lt_error_set(LT_ERR_ARG, 0, "device 'cuda:%d' does not exist (%d GPU%s found)", device, ndevices,
                        ndevices == 1 ? "" : "s");
  cudaDeviceProp prop;
  LT_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  snprintf(buf, len, "%s", prop.name);
  return LT_OK;
}
