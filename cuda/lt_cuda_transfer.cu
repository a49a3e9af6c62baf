/* lt_cuda_transfer.cu — pinned host memory, and host-to-device copies from it
 * on a per-device copy stream, ordered with events (lt_cuda_transfer.h).
 *
 * Why the copy stream waits for the compute stream first. The destination
 * of a copy is allocated by the backend like every tensor: stream-ordered
 * (cudaMallocFromPoolAsync) on the compute stream. Such memory is only
 * guaranteed to be free from the point of the allocation in the compute
 * stream's order: the pool may hand out a block whose cudaFreeAsync was
 * queued a moment ago while kernels queued before that free still read it
 * (the previous batch, say). A copy on another stream that did not wait
 * could overwrite those values. So each copy records an event on the compute
 * stream after the allocation and makes the copy stream wait for it; then
 * the copy is queued, an event is recorded after it on the copy stream, and
 * the compute stream waits for that event: kernels queued afterwards (and the
 * eventual cudaFreeAsync of the destination, also on the compute stream) run
 * after the copy, and the host never waits. Allocating on the copy stream
 * instead would leave correctness to the pool's reuse policies and the byte
 * ledger of lt_cuda_backend.cu behind.
 *
 * What this buys, and what not: the host never waits, so it queues step k
 * while the GPU still runs step k-1. The copy itself does not overlap
 * compute: it waits for the work queued before it, and the compute stream
 * waits for it before anything queued after it. The DataLoader queues batch
 * k+1's copy before handing out batch k (lua/luatrain/data), so on the GPU
 * the order is step k-1, copy k+1, step k. Overlapping the copy with step k
 * would need the compute stream's wait to move to the hand-out of batch k+1
 * (and to any earlier free of its destination); not done.
 *
 * Why the source is kept. The DMA engine reads the pinned source when the
 * copy runs, after this function has returned. So each queued copy holds a
 * reference to the storage of its source, with the event recorded after the
 * copy; finished copies (cudaEventQuery) drop theirs at the next copy or
 * poll. The loader recycles a pinned batch buffer only once nothing else
 * holds its storage, so it never refills a buffer a copy still reads.
 *
 * Not here: synchronous copies (lt_cuda_backend.cu) and the decision which
 * path a copy takes (src/core/lt_transfer.c). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>

#include "lt_cuda_internal.h"
#include "lt_cuda_transfer.h"

/* A queued copy: its completion event and the owner of its source. */
typedef struct {
  cudaEvent_t done;
  void *keep;
  void (*release)(void *);
} pending;

/* Per-device state, under `mu`. Events are reused: `spare` holds the ones
 * whose copies finished. */
typedef struct {
  pthread_mutex_t mu;
  cudaEvent_t after_compute; /* recorded on the compute stream before each copy */
  pending *q;                /* oldest first; a stream finishes its copies in order */
  size_t nq, capq;
  cudaEvent_t *spare;
  size_t nspare, capspare;
} xfer;

static xfer xfers[LT_CUDA_MAX_DEVICES];
static pthread_once_t xfers_once = PTHREAD_ONCE_INIT;
static std::atomic<size_t> npending{0};

static void xfers_init(void) {
  for (int d = 0; d < LT_CUDA_MAX_DEVICES; d++) pthread_mutex_init(&xfers[d].mu, NULL);
}

/* --- pinned memory ------------------------------------------------------------------------------- */

extern "C" lt_status lt_cuda_host_alloc(size_t nbytes, void **out) {
  *out = NULL;
  if (!lt_cuda_is_available())
    return lt_error_set(LT_ERR_RUNTIME, 0, "pinned memory needs a GPU (%s)", lt_cuda_unavailable_reason());
  /* cudaHostAlloc is one of the calls that invalidate a capture on the
   * capturing thread (cudaStreamCaptureModeThreadLocal). */
  if (lt_cuda_capturing())
    return lt_cuda_graph_refuse("pinning host memory (pin_memory(), a DataLoader with pin_memory)",
                                "cudaHostAlloc would end the capture; pin before capturing");
  if (nbytes == 0) return lt_error_set(LT_ERR_ARG, 0, "cannot pin 0 bytes");
  void *p = NULL;
  cudaError_t e = cudaHostAlloc(&p, nbytes, cudaHostAllocPortable);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    return lt_error_set(LT_ERR_OOM, 0, "cannot pin %zu bytes of host memory (cudaHostAlloc: out of memory)", nbytes);
  }
  if (e != cudaSuccess) return lt_cuda_fail(e, "cudaHostAlloc(&p, nbytes, cudaHostAllocPortable)", __FILE__, __LINE__);
  *out = p;
  return LT_OK;
}

/* Pinned memory released while this thread captures a CUDA graph. The
 * release usually comes from the Lua collector (a dead pinned tensor), which
 * may run at any allocation inside the captured step; cudaFreeHost then
 * would invalidate the capture (it is not stream-ordered: it synchronises
 * the device), and its failure would go unnoticed here and leak the memory.
 * So it waits in this per-thread list until the capture ends. */
static __thread void **host_later;
static __thread size_t nhost_later, caphost_later;

extern "C" void lt_cuda_host_free(void *p) {
  if (!p) return;
  if (lt_cuda_capturing()) {
    if (nhost_later == caphost_later) {
      size_t cap = caphost_later ? 2 * caphost_later : 16;
      void **l = (void **)realloc(host_later, cap * sizeof *l);
      if (!l) return; /* without host memory to remember it: leak it rather than end the capture */
      host_later = l;
      caphost_later = cap;
    }
    host_later[nhost_later++] = p;
    return;
  }
  /* Fails only after a fatal device error or during the runtime's teardown
   * at exit, when there is nobody to tell. */
  if (cudaFreeHost(p) != cudaSuccess) cudaGetLastError();
}

extern "C" void lt_cuda_host_free_postponed(void) {
  if (lt_cuda_capturing()) return;
  for (size_t i = 0; i < nhost_later; i++)
    if (cudaFreeHost(host_later[i]) != cudaSuccess) cudaGetLastError();
  free(host_later);
  host_later = NULL;
  nhost_later = caphost_later = 0;
}

/* --- finished copies ------------------------------------------------------------------------------- */

/* cudaEventQuery reports "not ready" as an error code; leave nothing behind
 * for the next launch check to mistake for a failure. */
static void clear_not_ready(void) {
  if (cudaPeekAtLastError() == cudaErrorNotReady) cudaGetLastError();
}

/* Moves the finished copies of device d (all, after waiting, with `wait`)
 * out of its queue into done[0..*ndone), at most `room`. Called with the
 * device's lock held and the device current. */
static lt_status reap_locked(xfer *x, bool wait, pending *done, size_t room, size_t *ndone) {
  lt_status st = LT_OK;
  size_t k = 0;
  while (k < x->nq && *ndone < room) {
    cudaError_t e = wait ? cudaEventSynchronize(x->q[k].done) : cudaEventQuery(x->q[k].done);
    if (e == cudaErrorNotReady) {
      clear_not_ready();
      break;
    }
    if (e != cudaSuccess && st == LT_OK) {
      /* A failed copy poisons the context: nothing will read its source
       * any more, so it is dropped like a finished one. */
      st = lt_cuda_fail(e, wait ? "cudaEventSynchronize(copy event)" : "cudaEventQuery(copy event)", __FILE__, __LINE__);
    }
    done[(*ndone)++] = x->q[k];
    k++;
  }
  if (k > 0) {
    memmove(x->q, x->q + k, (x->nq - k) * sizeof *x->q);
    x->nq -= k;
    npending.fetch_sub(k);
  }
  return st;
}

/* Keeps an event for the next copy; destroys it when the spare list is
 * full (another thread made events while these were out). Lock held. */
static void put_spare(xfer *x, cudaEvent_t ev) {
  if (x->nspare < x->capspare) x->spare[x->nspare++] = ev;
  else if (cudaEventDestroy(ev) != cudaSuccess) cudaGetLastError();
}

/* Hands the events back and drops the sources' references, the latter
 * outside the lock: a release may free pinned memory (cudaFreeHost). */
static void finish(xfer *x, pending *done, size_t n) {
  if (n == 0) return;
  pthread_mutex_lock(&x->mu);
  for (size_t i = 0; i < n; i++) put_spare(x, done[i].done);
  pthread_mutex_unlock(&x->mu);
  for (size_t i = 0; i < n; i++) done[i].release(done[i].keep);
}

static lt_status poll_device(int d, bool wait) {
  xfer *x = &xfers[d];
  enum { BATCH = 64 };
  pending done[BATCH];
  for (;;) {
    size_t n = 0;
    pthread_mutex_lock(&x->mu);
    bool any = x->nq > 0;
    lt_status st = any ? reap_locked(x, wait, done, BATCH, &n) : LT_OK;
    bool more = x->nq > 0 && n == BATCH;
    pthread_mutex_unlock(&x->mu);
    finish(x, done, n);
    if (st != LT_OK || !more) return st;
  }
}

extern "C" lt_status lt_cuda_transfer_poll(bool wait) {
  if (npending.load() == 0) return LT_OK;
  /* Not while this thread captures: waiting would end the capture, and
   * finished copies can hand their sources back after it as well. */
  if (lt_cuda_capturing()) return LT_OK;
  pthread_once(&xfers_once, xfers_init);
  lt_status first = LT_OK;
  int n = lt_cuda_device_count();
  for (int d = 0; d < n; d++) {
    lt_cuda_ctx *c = NULL;
    pthread_mutex_lock(&xfers[d].mu);
    bool any = xfers[d].nq > 0; /* devices without copies are not even made current */
    pthread_mutex_unlock(&xfers[d].mu);
    if (!any) continue;
    lt_status st = lt_cuda_ctx_get(d, &c);
    if (st == LT_OK) st = poll_device(d, wait);
    if (st != LT_OK && first == LT_OK) first = st;
  }
  return first;
}

extern "C" size_t lt_cuda_transfer_pending(void) { return npending.load(); }

/* --- queuing a copy ------------------------------------------------------------------------------------ */

/* Room for one more queued copy and its event, reserved before any work is
 * queued so that nothing can fail after the copy is in flight. */
static lt_status reserve(xfer *x) {
  if (x->nq == x->capq) {
    size_t cap = x->capq ? 2 * x->capq : 16;
    pending *q = (pending *)realloc(x->q, cap * sizeof *q);
    if (!q) return lt_error_set(LT_ERR_OOM, 0, "out of host memory queuing a copy");
    x->q = q;
    x->capq = cap;
  }
  /* every event is spare or queued, so spare has room for all of them
   * (put_spare copes with the few another thread holds meanwhile) */
  if (x->capspare < x->capq) {
    cudaEvent_t *s = (cudaEvent_t *)realloc(x->spare, x->capq * sizeof *s);
    if (!s) return lt_error_set(LT_ERR_OOM, 0, "out of host memory queuing a copy");
    x->spare = s;
    x->capspare = x->capq;
  }
  return LT_OK;
}

static lt_status queue_locked(lt_cuda_ctx *c, xfer *x, void *dst, const void *src, size_t nbytes, void *keep,
                              void (*release)(void *)) {
  if (!c->copy_stream) LT_CUDA_CHECK(cudaStreamCreateWithFlags(&c->copy_stream, cudaStreamNonBlocking));
  if (!x->after_compute) LT_CUDA_CHECK(cudaEventCreateWithFlags(&x->after_compute, cudaEventDisableTiming));
  LT_TRY(reserve(x));
  cudaEvent_t done = NULL;
  if (x->nspare > 0) done = x->spare[--x->nspare];
  else LT_CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
  lt_status st = LT_OK;
  /* cudaStreamWaitEvent waits for the record made just before it, so one
   * after_compute event serves every copy. */
  LT_CUDA_CHECK_GOTO(cudaEventRecord(x->after_compute, c->stream), st, fail);
  LT_CUDA_CHECK_GOTO(cudaStreamWaitEvent(c->copy_stream, x->after_compute, 0), st, fail);
  LT_CUDA_CHECK_GOTO(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, c->copy_stream), st, fail);
  /* From here the copy may be running. */
  {
    cudaError_t e = cudaEventRecord(done, c->copy_stream);
    if (e == cudaSuccess) e = cudaStreamWaitEvent(c->stream, done, 0);
    if (e != cudaSuccess) {
      st = lt_cuda_fail(e, "cudaEventRecord/cudaStreamWaitEvent after a copy", __FILE__, __LINE__);
      /* Without the events nothing orders the copy: finish it here, so the
       * caller may drop the source and the destination. */
      if (cudaStreamSynchronize(c->copy_stream) != cudaSuccess) cudaGetLastError();
      goto fail;
    }
  }
  x->q[x->nq].done = done;
  x->q[x->nq].keep = keep;
  x->q[x->nq].release = release;
  x->nq++;
  npending.fetch_add(1);
  return LT_OK;
fail:
  put_spare(x, done);
  return st;
}

extern "C" lt_status lt_cuda_copy_from_pinned_async(int device, void *dst, const void *src, size_t nbytes,
                                                    void *keep, void (*release)(void *)) {
  if (!keep || !release) return lt_error_set(LT_ERR_ARG, 0, "a non_blocking copy needs the owner of its source");
  /* Checked before anything else touches the stream: waiting for an event
   * recorded outside the capture would end it (a dependency across the
   * capture's boundary), and so would releasing a finished copy's source. */
  static const char *const why = "a non_blocking copy cannot be captured in a CUDA graph (copy the batch into the "
                                 "graph's static inputs with copy_ before replaying it)";
  if (lt_cuda_capturing()) return lt_error_set(LT_ERR_RUNTIME, 0, "%s", why);
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_get(device, &c));
  cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
  LT_CUDA_CHECK(cudaStreamIsCapturing(c->stream, &cs)); /* by another thread */
  if (cs != cudaStreamCaptureStatusNone) return lt_error_set(LT_ERR_RUNTIME, 0, "%s", why);
  pthread_once(&xfers_once, xfers_init);
  LT_TRY(poll_device(device, false)); /* recycles events and buffers of finished copies */
  if (nbytes == 0) {
    release(keep);
    return LT_OK;
  }
  xfer *x = &xfers[device];
  pthread_mutex_lock(&x->mu);
  lt_status st = queue_locked(c, x, dst, src, nbytes, keep, release);
  pthread_mutex_unlock(&x->mu);
  return st;
}
