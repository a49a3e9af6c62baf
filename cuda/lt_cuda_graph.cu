/* lt_cuda_graph.cu — CUDA graphs of whole training steps: stream capture on
 * a device's compute stream, instantiation, replay and destruction, and the
 * bookkeeping that keeps memory right while a step is captured (the C half
 * of lt.cuda.graph; the Lua half, warm-up and pre-replay hooks, is
 * lua/luatrain/cuda_graph.lua). Not here: what may not be captured (each
 * place that cannot be captured asks lt_cuda_capturing() and refuses with
 * lt_cuda_graph_refuse()), the optimizer's device-resident scalars
 * (lt_cuda_optim.cu).
 *
 * What this relies on, from the CUDA runtime documentation (12.x/13.0):
 * - cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal): work
 *   queued on `stream` is recorded, not run, until cudaStreamEndCapture.
 *   "Potentially unsafe" calls (cudaMalloc, synchronous copies, synchronising
 *   the captured stream, ...) are prohibited only on the capturing thread
 *   and invalidate the capture there; other threads (the data loader's)
 *   are not affected. An invalidated capture makes cudaStreamEndCapture
 *   return an error and no graph; the stream then leaves capture mode and is
 *   usable again. Work queued on the stream by another thread while it is
 *   captured is recorded too: nothing else may use a device's stream during
 *   a capture (luatrain queues device work from the Lua thread only).
 * - cudaMallocFromPoolAsync / cudaFreeAsync during capture become memory
 *   allocation / free nodes ("the allocation is owned by the graph instead
 *   of the memory pool"). The virtual address an allocation node returns is
 *   fixed for the life of the graph; its memory exists only while a launch
 *   has allocated it ("graph allocations are considered recreated every time
 *   a graph runs"), so it must not be touched before the first launch. A
 *   free node may only be given an address allocated in the same graph, so
 *   frees of older memory during capture are deferred (below).
 * - An allocation not freed in its graph outlives the launch and may be
 *   freed with cudaFreeAsync; with cudaGraphInstantiateFlagAutoFreeOnLaunch,
 *   "each launch behaves as though it called cudaFreeAsync for every unfreed
 *   allocation" of the previous launch, then allocates again at the same
 *   address: tensors created by the captured step (the loss, gradients)
 *   stay valid between replays and hold the latest replay's values, but
 *   their contents do not survive into the next replay (state the step
 *   reads must exist before capture: momentum buffers, BN statistics).
 *   Graph destruction does not free live graph allocations.
 * - A graph with memory nodes has at most one executable instance and must
 *   not be cloned or nested; cudaGraphExecDestroy of a graph that is still
 *   running frees it when the launch completes (no synchronisation needed).
 *
 * Memory bookkeeping (every pointer lt_cuda_malloc hands out is in the
 * byte ledger of lt_cuda_backend.cu until it is really freed):
 * - allocations made during a capture are remembered in the capture's map;
 *   freeing one during the same capture records a free node (normal path);
 * - freeing, during a capture, memory allocated before it is deferred: the
 *   graph's kernels may read it at every replay. The graph frees it
 *   (stream-ordered, after its last launch) when it is destroyed;
 * - allocations still live when the capture ends ("escaped": outputs,
 *   gradients) go to a registry. When their tensor is freed while the graph
 *   lives, the graph keeps the memory (every launch recreates it) and frees
 *   it on destruction. A graph destroyed before its first launch never
 *   created them: tensors still holding such memory become "orphans" whose
 *   later free only updates the ledger, and reading them on the host is an
 *   error instead of a fault (so are reads before the first launch).
 * Pinned host memory released during a capture (the Lua collector runs
 * inside the captured step) is freed when the capture ends: cudaFreeHost
 * would end it (lt_cuda_transfer.cu).
 * The registry is scanned linearly: it holds one entry per escaped tensor
 * (tens), and only while a graph is alive.
 *
 * Known limit: an orphan's address is not reserved, so a later allocation
 * may be given the same address while the orphan's tensor is still alive,
 * and the two frees of that address could then be told apart wrongly. The
 * Lua half drops the orphans it can find (gradients) and collects garbage
 * at once after a failed capture or the release of a graph never replayed,
 * before anything is allocated; keep no other tensor made by such a step. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>

#include "lt_cuda_internal.h"
#include "lt_cuda_ptrmap.h"
#include "lt_cuda_transfer.h"

/* --- graphs ------------------------------------------------------------------------------------ */
typedef struct {
  int device;
  void *p;
} dptr;

struct lt_cuda_graph {
  int device;
  bool capturing; /* between begin and end/abort */
  bool launched;  /* launched at least once: its escaped allocations exist */
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  size_t nodes;
  size_t escaped_bytes;
  lt_ptrmap allocs;     /* during capture: allocations made in it, not yet freed in it */
  dptr *deferred;       /* frees of older memory requested during the capture */
  size_t ndeferred, capdeferred;
  lt_cuda_graph *next;  /* in the list of graphs whose destruction waits for a capture to end */
};

/* The graph this thread is capturing (NULL: none), and graphs released
 * while it was capturing (destroying one then would be an unsafe call). */
static __thread lt_cuda_graph *cur;
static __thread lt_cuda_graph *waiting;

/* --- the registry of escaped allocations ------------------------------------------------------ */
typedef struct {
  void *p;
  size_t n;
  int device;
  lt_cuda_graph *owner; /* NULL: an orphan (its graph was destroyed before any launch) */
  bool released;        /* its tensor was freed; the owner frees it */
} held;

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static held *reg;
static size_t nreg, capreg;
static std::atomic<size_t> reg_count{0};

static bool reg_add(const held *h) {
  if (nreg == capreg) {
    size_t cap = capreg ? capreg * 2 : 64;
    held *r = (held *)realloc(reg, cap * sizeof(held));
    if (!r) return false;
    reg = r;
    capreg = cap;
  }
  reg[nreg++] = *h;
  reg_count.store(nreg);
  return true;
}

static void reg_remove_at(size_t i) {
  reg[i] = reg[--nreg];
  reg_count.store(nreg);
}

extern "C" bool lt_cuda_capturing(void) { return cur != NULL && cur->capturing; }

extern "C" int lt_cuda_graph_capture_device(void) { return lt_cuda_capturing() ? cur->device : -1; }

extern "C" lt_status lt_cuda_graph_refuse(const char *what, const char *why) {
  return lt_error_set(LT_ERR_RUNTIME, 0, "%s cannot run inside lt.cuda.graph capture%s%s", what, why && *why ? ": " : "",
                      why ? why : "");
}

extern "C" lt_status lt_cuda_graph_on_alloc(lt_cuda_ctx *c, void *p, size_t n) {
  lt_cuda_graph *g = cur;
  if (!g || !g->capturing || g->device != c->device) return LT_OK;
  if (!lt_ptrmap_put(&g->allocs, p, n))
    return lt_error_set(LT_ERR_OOM, 0, "out of host memory for the allocation table of a CUDA graph capture");
  return LT_OK;
}

static bool defer_free(lt_cuda_graph *g, int device, void *p) {
  if (g->ndeferred == g->capdeferred) {
    size_t cap = g->capdeferred ? g->capdeferred * 2 : 64;
    dptr *d = (dptr *)realloc(g->deferred, cap * sizeof(dptr));
    if (!d) return false;
    g->deferred = d;
    g->capdeferred = cap;
  }
  g->deferred[g->ndeferred].device = device;
  g->deferred[g->ndeferred].p = p;
  g->ndeferred++;
  return true;
}

extern "C" int lt_cuda_graph_on_free(lt_cuda_ctx *c, void *p) {
  lt_cuda_graph *g = cur;
  bool capturing = g && g->capturing;
  if (capturing && g->device == c->device && lt_ptrmap_take(&g->allocs, p, NULL)) return LT_CU_FREE_NOW; /* a free node */
  if (reg_count.load(std::memory_order_relaxed) > 0) {
    int r = -1;
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < nreg; i++) {
      if (reg[i].p != p || reg[i].device != c->device) continue;
      if (reg[i].owner) {
        reg[i].released = true;
        r = LT_CU_FREE_KEEP;
      } else {
        reg_remove_at(i);
        r = LT_CU_FREE_FORGET;
      }
      break;
    }
    pthread_mutex_unlock(&reg_mu);
    if (r >= 0) return r;
  }
  if (capturing) {
    /* Memory from before the capture: the graph may read it at every replay.
     * Without host memory to remember it, keeping it allocated for good is
     * the only safe choice (a leak, not a fault). */
    defer_free(g, c->device, p);
    return LT_CU_FREE_KEEP;
  }
  return LT_CU_FREE_NOW;
}

extern "C" lt_status lt_cuda_graph_check_read(int device, const void *src, size_t nbytes) {
  if (reg_count.load(std::memory_order_relaxed) == 0) return LT_OK;
  uintptr_t a = (uintptr_t)src, b = a + nbytes;
  bool bad = false, orphan = false;
  pthread_mutex_lock(&reg_mu);
  for (size_t i = 0; i < nreg && !bad; i++) {
    const held *h = &reg[i];
    uintptr_t lo = (uintptr_t)h->p, hi = lo + h->n;
    if (h->device != device || b <= lo || a >= hi) continue;
    if (!h->owner) bad = orphan = true;
    else if (!h->owner->launched) bad = true;
  }
  pthread_mutex_unlock(&reg_mu);
  if (!bad) return LT_OK;
  if (orphan)
    return lt_error_set(LT_ERR_RUNTIME, 0, "this CUDA tensor was made inside an lt.cuda.graph capture that failed or "
                        "whose graph was released before any replay: its memory never existed (drop it: set "
                        "gradients to nil with opt:zero_grad())");
  return lt_error_set(LT_ERR_RUNTIME, 0, "this CUDA tensor is an output of a CUDA graph that has not been replayed "
                      "yet: its values exist only after the first g:replay()");
}

extern "C" bool lt_cuda_graph_is_orphan(int device, const void *p) {
  if (reg_count.load(std::memory_order_relaxed) == 0) return false;
  bool r = false;
  pthread_mutex_lock(&reg_mu);
  for (size_t i = 0; i < nreg && !r; i++) {
    const held *h = &reg[i];
    uintptr_t lo = (uintptr_t)h->p, q = (uintptr_t)p;
    if (h->device == device && q >= lo && q < lo + h->n && (!h->owner || !h->owner->launched)) r = true;
  }
  pthread_mutex_unlock(&reg_mu);
  return r;
}

/* At the end of a capture: the allocations still live escape into the
 * registry, owned by g when it will be launched, orphans otherwise. */
static void escape(lt_cuda_graph *g, bool ok) {
  pthread_mutex_lock(&reg_mu);
  for (size_t i = 0; i < g->allocs.cap; i++) {
    const lt_ptrmap_slot *s = &g->allocs.s[i];
    if (s->key <= 1) continue;
    held h = {(void *)s->key, s->size, g->device, ok ? g : NULL, false};
    /* Without host memory for the entry the pointer is simply not tracked:
     * its free then goes the normal way (cudaFreeAsync), which is right once
     * the graph has been launched. */
    if (reg_add(&h) && ok) g->escaped_bytes += s->size;
  }
  pthread_mutex_unlock(&reg_mu);
  lt_ptrmap_clear(&g->allocs);
}

static void free_deferred(lt_cuda_graph *g) {
  for (size_t i = 0; i < g->ndeferred; i++) lt_cuda_free_dev(g->deferred[i].device, g->deferred[i].p);
  free(g->deferred);
  g->deferred = NULL;
  g->ndeferred = g->capdeferred = 0;
}

static void destroy_now(lt_cuda_graph *g);

/* Graphs released during a capture are destroyed once it is over. */
static void drain_waiting(void) {
  while (waiting) {
    lt_cuda_graph *g = waiting;
    waiting = g->next;
    destroy_now(g);
  }
}

extern "C" lt_status lt_cuda_graph_begin(int device, lt_cuda_graph **out) {
  *out = NULL;
  if (cur)
    return lt_error_set(LT_ERR_RUNTIME, 0, "lt.cuda.graph cannot run inside another lt.cuda.graph capture (graphs "
                        "do not nest)");
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_get(device, &c));
  /* Errors kernels recorded during the warm-up belong to it, not to the capture. */
  LT_TRY(lt_cuda_sync_check(c));
  cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
  LT_CUDA_CHECK(cudaStreamIsCapturing(c->stream, &cs));
  if (cs != cudaStreamCaptureStatusNone)
    return lt_error_set(LT_ERR_RUNTIME, 0, "the stream of cuda:%d is being captured by another thread", device);
  lt_cuda_graph *g = (lt_cuda_graph *)calloc(1, sizeof *g);
  if (!g) return lt_error_set(LT_ERR_OOM, 0, "out of host memory for a CUDA graph");
  g->device = device;
  cudaError_t e = cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal);
  if (e != cudaSuccess) {
    free(g);
    return lt_cuda_fail(e, "cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal)", __FILE__, __LINE__);
  }
  g->capturing = true;
  cur = g;
  *out = g;
  return LT_OK;
}

/* Ends the capture of g (the stream leaves capture mode whatever happened);
 * returns the captured graph or NULL and the runtime's status. */
static cudaError_t stop(lt_cuda_graph *g, cudaGraph_t *graph) {
  lt_cuda_ctx *c = NULL;
  *graph = NULL;
  g->capturing = false;
  cur = NULL;
  /* the context exists: the capture began on it */
  if (lt_cuda_ctx_get(g->device, &c) != LT_OK) return cudaErrorInvalidValue;
  cudaError_t e = cudaStreamEndCapture(c->stream, graph);
  if (e != cudaSuccess) {
    cudaGetLastError(); /* capture errors are not sticky; leave none behind */
    if (*graph) cudaGraphDestroy(*graph);
    *graph = NULL;
  }
  return e;
}

extern "C" lt_status lt_cuda_graph_end(lt_cuda_graph *g) {
  if (!g || !g->capturing || cur != g)
    return lt_error_set(LT_ERR_RUNTIME, 0, "lt.cuda.graph: this graph is not being captured on this thread");
  cudaGraph_t graph = NULL;
  cudaError_t e = stop(g, &graph);
  lt_status st = LT_OK;
  if (e == cudaErrorStreamCaptureInvalidated || e == cudaErrorStreamCaptureUnsupported) {
    st = lt_error_set(LT_ERR_RUNTIME, 0, "lt.cuda.graph: the capture was invalidated by a CUDA call that cannot be "
                      "captured (%s), such as the first use of cuBLAS or cuDNN or a synchronisation made by a "
                      "library; run the step eagerly before capturing (warmup >= 1)", cudaGetErrorName(e));
  } else if (e != cudaSuccess) {
    st = lt_cuda_fail(e, "cudaStreamEndCapture(c->stream, &graph)", __FILE__, __LINE__);
  } else {
    size_t n = 0;
    if (cudaGraphGetNodes(graph, NULL, &n) == cudaSuccess) g->nodes = n;
    else cudaGetLastError();
    e = cudaGraphInstantiateWithFlags(&g->exec, graph, cudaGraphInstantiateFlagAutoFreeOnLaunch);
    if (e != cudaSuccess) {
      cudaGetLastError();
      g->exec = NULL;
      cudaGraphDestroy(graph);
      st = lt_cuda_fail(e, "cudaGraphInstantiateWithFlags(&exec, graph, cudaGraphInstantiateFlagAutoFreeOnLaunch)",
                        __FILE__, __LINE__);
    } else {
      g->graph = graph;
    }
  }
  escape(g, st == LT_OK);
  if (st != LT_OK) free_deferred(g); /* nothing will ever run that reads them */
  drain_waiting();
  lt_cuda_host_free_postponed();
  return st;
}

extern "C" void lt_cuda_graph_abort(lt_cuda_graph *g) {
  if (!g || !g->capturing) return;
  cudaGraph_t graph = NULL;
  stop(g, &graph);
  if (graph) cudaGraphDestroy(graph);
  escape(g, false);
  free_deferred(g);
  drain_waiting();
  lt_cuda_host_free_postponed();
}

extern "C" lt_status lt_cuda_graph_launch(lt_cuda_graph *g) {
  if (lt_cuda_capturing()) return lt_cuda_graph_refuse("replaying a CUDA graph (g:replay())", "graphs do not nest");
  if (!g || !g->exec)
    return lt_error_set(LT_ERR_RUNTIME, 0, "this CUDA graph %s", g && g->capturing ? "is still being captured"
                                                                  : "was released or its capture failed");
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_get(g->device, &c));
  cudaError_t e = cudaGraphLaunch(g->exec, c->stream);
  if (e == cudaErrorMemoryAllocation) {
    /* The graph's memory comes from the device's graph cache, not from the
     * pool, whose free blocks (the warm-up's, say) stay reserved with the
     * release threshold at its maximum: hand those back and retry once. */
    cudaGetLastError();
    if (cudaStreamSynchronize(c->stream) == cudaSuccess && cudaMemPoolTrimTo(c->pool, 0) == cudaSuccess)
      e = cudaGraphLaunch(g->exec, c->stream);
  }
  if (e != cudaSuccess) return lt_cuda_fail(e, "cudaGraphLaunch(g->exec, c->stream)", __FILE__, __LINE__);
  g->launched = true;
  if (lt_cuda_sync_debug()) return lt_cuda_sync_check(c);
  return LT_OK;
}

static void destroy_now(lt_cuda_graph *g) {
  pthread_mutex_lock(&reg_mu);
  dptr *later = NULL;
  size_t nlater = 0;
  size_t cnt = 0;
  for (size_t i = 0; i < nreg; i++)
    if (reg[i].owner == g && reg[i].released) cnt++;
  if (cnt) later = (dptr *)malloc(cnt * sizeof(dptr));
  for (size_t i = 0; i < nreg;) {
    held *h = &reg[i];
    if (h->owner != g) {
      i++;
      continue;
    }
    if (!h->released && !g->launched) { /* its tensor still points at memory that never existed */
      h->owner = NULL;
      i++;
      continue;
    }
    if (h->released) {
      if (g->launched && later) {
        later[nlater].device = h->device;
        later[nlater].p = h->p;
        nlater++;
      }
      else lt_cuda_ledger_drop(h->device, h->p);
    }
    reg_remove_at(i);
  }
  pthread_mutex_unlock(&reg_mu);
  /* Live since the last launch and owned by nobody else: free them after it. */
  for (size_t i = 0; i < nlater; i++) lt_cuda_free_dev(later[i].device, later[i].p);
  free(later);
  free_deferred(g);
  if (g->exec) cudaGraphExecDestroy(g->exec);
  if (g->graph) cudaGraphDestroy(g->graph);
  cudaGetLastError();
  lt_ptrmap_clear(&g->allocs);
  free(g);
}

extern "C" void lt_cuda_graph_destroy(lt_cuda_graph *g) {
  if (!g) return;
  if (g->capturing) lt_cuda_graph_abort(g);
  if (cur) { /* another capture is running on this thread: destroying now would be an unsafe call */
    g->next = waiting;
    waiting = g;
    return;
  }
  destroy_now(g);
}

extern "C" void lt_cuda_graph_info(const lt_cuda_graph *g, lt_cuda_graph_stats *out) {
  memset(out, 0, sizeof *out);
  if (!g) return;
  out->device = g->device;
  out->nodes = g->nodes;
  out->escaped_bytes = g->escaped_bytes;
  out->deferred_frees = g->ndeferred;
  out->launched = g->launched;
  out->ready = g->exec != NULL;
}
