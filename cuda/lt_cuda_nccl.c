/* lt_cuda_nccl.c — the "nccl" collective backend (lt_comm.h): all-reduce,
 * broadcast, all-gather and reduce-scatter of tensors in GPU memory between
 * processes, one GPU per process. lt_cuda_register installs the table with
 * lt_comm_register; nothing here runs until the distributed layer
 * (src/dist) asks for "nccl".
 *
 * NCCL 2.10 or newer (ncclAvg, bfloat16) is opened with dlopen at first
 * use (usable, make_id or init), as cuBLAS is (lt_cuda_libs.c):
 * libnccl.so.2 by its soname (RUNPATH, LD_LIBRARY_PATH, ldconfig), then in
 * the CUDA toolkit's library folder CMake found, /usr/local/cuda/lib64,
 * /usr/local/cuda/targets/x86_64-linux/lib, /usr/lib/x86_64-linux-gnu.
 * Calls go through the resolved pointers, whose types are checked against
 * nccl.h; without that header (NCCL's development files) the few types are
 * declared here with NCCL 2's ABI values.
 *
 * Rank r uses GPU local_rank (cuda:local_rank as this process numbers its
 * GPUs), made current on the thread that calls init, which makes every
 * later call but abort; tensors must be on that GPU (checked per call).
 *
 * The ordering rule. `stream` NULL means the GPU's compute stream (the
 * device context's, lt_cuda_ctx; never the legacy default stream, which
 * does not order against luatrain's non-blocking streams). A collective
 * records `ready` on the compute stream, makes the communication stream
 * (this backend's own, non-blocking) wait for it, queues the NCCL call
 * there, records `done`, and makes the compute stream wait for `done`
 * before returning. So later kernels on the compute stream see the result,
 * frees of the buffers (stream-ordered on the compute stream) come after
 * NCCL used them, and the caller may treat the call as complete for
 * ordering although nothing waited on the host. The price of joining here
 * rather than when the work is waited for: kernels queued on the compute
 * stream after the call (the rest of backward) run after the collective on
 * the GPU, not beside it; overlap needs lt_comm.h to have a join entry
 * called at lt_dist_work_wait. These events are also
 * what a CUDA graph capturing the compute stream needs: the comm stream
 * joins the capture by waiting on an event recorded in it (the fork), and
 * the compute stream's wait on `done` joins it back before the capture can
 * end. For that, the distributed layer's thread must queue the collective
 * while the capture is open (not across its beginning or end; luatrain
 * captures in cudaStreamCaptureModeThreadLocal, which lets another thread
 * queue on the capturing stream); barrier, which waits on the host,
 * refuses during a capture.
 *
 * Errors: every NCCL and CUDA result is checked; a message names the call,
 * the rank and the GPU, with ncclGetErrorString, NCCL's last-error text
 * (NCCL >= 2.13) and any asynchronous error (ncclCommGetAsyncError: a peer
 * that died, a network failure), which is also checked before each
 * collective and while barrier and finalize wait. Those host waits poll,
 * bounded by setup->timeout_s; ncclCommInitRank blocks until every rank
 * has joined, without a bound. abort only aborts the communicator.
 * bfloat16 and float16 are reduced in their own type (each partial sum
 * rounded to it); AVG is NCCL's: each rank's values times 1/world_size,
 * then summed.
 *
 * Verified: compiles warning-free (-Wall -Wextra -Werror, gcc and clang,
 * with and without nccl.h); without a GPU: libnccl 2.28 loads, make_id
 * works, and the no-GPU, missing-library, too-old and missing-function
 * messages read right. Not yet run on a GPU. Not here: the order of operations, the
 * communication thread, the timeouts of queued collectives (src/dist). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lt_comm.h"
#include "lt_cuda_internal.h"

#if __has_include(<nccl.h>) && !defined(LT_NCCL_NO_HEADER)
#include <nccl.h>
#define LT_HAVE_NCCL_H 1
#else /* NCCL 2's ABI: the values every libnccl.so.2 uses */
typedef struct ncclComm *ncclComm_t;
typedef struct { char internal[128]; } ncclUniqueId;
typedef enum { ncclSuccess = 0, ncclInProgress = 7 } ncclResult_t;
typedef enum { ncclSum = 0, ncclMax = 2, ncclMin = 3, ncclAvg = 4 } ncclRedOp_t;
typedef enum { ncclUint8 = 1, ncclInt32 = 2, ncclInt64 = 4, ncclFloat16 = 6, ncclFloat32 = 7, ncclFloat64 = 8,
               ncclBfloat16 = 9 } ncclDataType_t;
#endif

/* --- the library -------------------------------------------------------------------------------- */
#define LT_NCCL_FUNCTIONS(X)                                                                                   \
  X(ncclResult_t, ncclGetVersion, (int *version))                                                          \
  X(const char *, ncclGetErrorString, (ncclResult_t result))                                               \
  X(ncclResult_t, ncclGetUniqueId, (ncclUniqueId * uniqueId))                                               \
  X(ncclResult_t, ncclCommInitRank, (ncclComm_t * comm, int nranks, ncclUniqueId commId, int rank))       \
  X(ncclResult_t, ncclCommDestroy, (ncclComm_t comm))                                                      \
  X(ncclResult_t, ncclCommAbort, (ncclComm_t comm))                                                        \
  X(ncclResult_t, ncclCommGetAsyncError, (ncclComm_t comm, ncclResult_t * asyncError))                    \
  X(ncclResult_t, ncclAllReduce, (const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype, \
                                  ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream))                  \
  X(ncclResult_t, ncclBroadcast, (const void *sendbuff, void *recvbuff, size_t count, ncclDataType_t datatype, \
                                  int root, ncclComm_t comm, cudaStream_t stream))                         \
  X(ncclResult_t, ncclAllGather, (const void *sendbuff, void *recvbuff, size_t sendcount,                   \
                                  ncclDataType_t datatype, ncclComm_t comm, cudaStream_t stream))         \
  X(ncclResult_t, ncclReduceScatter, (const void *sendbuff, void *recvbuff, size_t recvcount,               \
                                      ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,            \
                                      cudaStream_t stream))

typedef struct {
#define LT_NCCL_SLOT(ret, name, params) ret(*name) params;
  LT_NCCL_FUNCTIONS(LT_NCCL_SLOT)
#undef LT_NCCL_SLOT
  const char *(*ncclGetLastError)(ncclComm_t comm); /* NCCL >= 2.13; NULL before */
} nccl_api;

#ifdef LT_HAVE_NCCL_H /* the pointers' types are the header's declarations */
#define LT_NCCL_SAME(ret, name, params) \
  _Static_assert(__builtin_types_compatible_p(__typeof__(&name), ret(*) params), #name "'s signature");
LT_NCCL_FUNCTIONS(LT_NCCL_SAME)
#undef LT_NCCL_SAME
_Static_assert(sizeof(ncclUniqueId) == 128, "ncclUniqueId is 128 bytes");
#if NCCL_VERSION_CODE >= 21300
_Static_assert(__builtin_types_compatible_p(__typeof__(&ncclGetLastError), const char *(*)(ncclComm_t)),
               "ncclGetLastError's signature");
#endif
#endif

#define NCCL_SONAME "libnccl.so.2"
#define NCCL_MIN_VERSION 21000 /* 2.10.0: ncclAvg and ncclBfloat16 */
#ifndef LT_CUDA_LIB_DIR
#define LT_CUDA_LIB_DIR ""
#endif

static pthread_once_t nccl_once = PTHREAD_ONCE_INIT;
static nccl_api nccl;
static int nccl_version;
static char nccl_why[1536] = "init_process_group: NCCL was not loaded"; /* "" once loaded */

static void *open_nccl(void) {
  void *h = dlopen(NCCL_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (h) return h;
  const char *first = dlerror();
  char tried[512] = "", failed[512] = "";
  snprintf(failed, sizeof failed, "%.500s", first ? first : "not found");
  const char *dirs[] = {LT_CUDA_LIB_DIR, "/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib",
                        "/usr/lib/x86_64-linux-gnu"};
  bool present = false; /* a file that exists but does not load is reported as such */
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
    if (!dirs[i][0]) continue;
    char path[1024];
    snprintf(path, sizeof path, "%.900s/%s", dirs[i], NCCL_SONAME);
    size_t n = strlen(tried);
    snprintf(tried + n, sizeof tried - n, "%s%.200s", n ? ", " : "", dirs[i]);
    h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h) return h;
    if (!present && access(path, F_OK) == 0) {
      const char *e = dlerror();
      snprintf(failed, sizeof failed, "%.500s", e ? e : path);
      present = true;
    }
  }
  if (present)
    snprintf(nccl_why, sizeof nccl_why,
             "init_process_group: the nccl backend needs " NCCL_SONAME " (NCCL), which could not be loaded: %s; use "
             "backend 'mpi' for CPU training", failed);
  else
    snprintf(nccl_why, sizeof nccl_why,
             "init_process_group: the nccl backend needs " NCCL_SONAME " (NCCL), not found in the loader's search "
             "path (%s) nor in %s; install NCCL or add its folder to LD_LIBRARY_PATH, or use backend 'mpi' for CPU "
             "training", failed, tried);
  return NULL;
}

static void load_nccl(void) {
  void *lib = open_nccl();
  if (!lib) return;
#define LT_NCCL_RESOLVE(ret, name, params)                                                                     \
  if (!(*(void **)&nccl.name = dlsym(lib, #name))) {                                                      \
    snprintf(nccl_why, sizeof nccl_why, "init_process_group: " NCCL_SONAME " has no function " #name       \
             " (is it NCCL 2?); use backend 'mpi' for CPU training");                                       \
    return;                                                                                                   \
  }
  LT_NCCL_FUNCTIONS(LT_NCCL_RESOLVE)
#undef LT_NCCL_RESOLVE
  *(void **)&nccl.ncclGetLastError = dlsym(lib, "ncclGetLastError");
  Dl_info info;
  const char *from = dladdr(*(void **)&nccl.ncclGetVersion, &info) && info.dli_fname ? info.dli_fname : NCCL_SONAME;
  ncclResult_t r = nccl.ncclGetVersion(&nccl_version);
  int v = nccl_version, big = v >= 10000; /* 2.8.4 and older are 2804, later ones 21003 */
  if (r != ncclSuccess)
    snprintf(nccl_why, sizeof nccl_why, "init_process_group: ncclGetVersion failed in %s: %s", from,
             nccl.ncclGetErrorString(r));
  else if (nccl_version < NCCL_MIN_VERSION)
    snprintf(nccl_why, sizeof nccl_why,
             "init_process_group: %s is NCCL %d.%d.%d; the nccl backend needs NCCL 2.10 or newer (average and "
             "bfloat16 reductions)", from, v / (big ? 10000 : 1000), v % (big ? 10000 : 1000) / 100, v % 100);
  else
    nccl_why[0] = 0;
}

static int LT_PRINTF(3, 4) fail(char *err, size_t len, const char *fmt, ...) {
  if (err && len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
  }
  return 1;
}

static int need_nccl(char *err, size_t len) {
  pthread_once(&nccl_once, load_nccl);
  return nccl_why[0] ? fail(err, len, "%s", nccl_why) : 0;
}

/* --- the communicator's state ----------------------------------------------------------------- */
typedef struct {
  /* NULL once aborted or destroyed. abort, from another thread, frees it:
   * `mu` keeps it from doing so while a host wait asks NCCL about it (a
   * short call). Queuing a collective does not take `mu` (NCCL may block
   * there, and abort must not wait): an abort then races with it, which
   * only a process about to end sees. */
  _Atomic(ncclComm_t) comm;
  pthread_mutex_t mu;
  int rank, world_size, device;
  double timeout_s;        /* bound of host waits; <= 0: none */
  cudaStream_t stream;     /* the communication stream */
  cudaEvent_t ready, done; /* reused: one collective at a time, from one thread */
  void *scratch;           /* 1 byte for barrier */
} nccl_state;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cuda_fail(const nccl_state *s, cudaError_t e, const char *what, char *err, size_t len) {
  cudaGetLastError();
  return fail(err, len, "nccl backend: %s failed on rank %d (cuda:%d): %s (%s)", what, s->rank, s->device,
              cudaGetErrorString(e), cudaGetErrorName(e));
}

/* An asynchronous error NCCL recorded (ncclSuccess when none). */
static ncclResult_t async_error(ncclComm_t comm) {
  ncclResult_t a = ncclSuccess;
  if (!comm || nccl.ncclCommGetAsyncError(comm, &a) != ncclSuccess) return ncclSuccess;
  return a == ncclInProgress ? ncclSuccess : a;
}

static int nccl_fail(const nccl_state *s, ncclComm_t comm, ncclResult_t r, const char *call, char *err,
                     size_t len) {
  /* NCCL's last error is the process's (its comm argument is unused) */
  const char *last = nccl.ncclGetLastError ? nccl.ncclGetLastError(comm) : NULL;
  ncclResult_t a = async_error(comm);
  char async[160] = "";
  if (a != ncclSuccess && a != r)
    snprintf(async, sizeof async, "; asynchronous error: %s", nccl.ncclGetErrorString(a));
  return fail(err, len, "nccl backend: %s failed on rank %d of %d (cuda:%d): %s%s%s%s (NCCL_DEBUG=WARN says more)",
              call, s->rank, s->world_size, s->device, nccl.ncclGetErrorString(r), last && *last ? ": " : "",
              last ? last : "", async);
}

/* Makes the communicator's GPU current through the device layer (which
 * keeps its per-thread record of the current device right) and gives its
 * compute stream. */
static int use_device(const nccl_state *s, cudaStream_t *compute, char *err, size_t len) {
  lt_cuda_ctx *c = NULL;
  if (lt_cuda_ctx_get(s->device, &c) != LT_OK)
    return fail(err, len, "nccl backend: rank %d: %s", s->rank, lt_error_message());
  if (compute) *compute = c->stream;
  return 0;
}

/* Waits on the host for `ev` (recorded on the comm stream), watching
 * NCCL's asynchronous errors, an abort and the timeout. */
static int wait_event(nccl_state *s, cudaEvent_t ev, const char *what, char *err, size_t len) {
  double t0 = now_s();
  long sleep_ns = 20000;
  for (;;) {
    cudaError_t e = cudaEventQuery(ev);
    if (e == cudaSuccess) return 0;
    if (e != cudaErrorNotReady) return cuda_fail(s, e, what, err, len);
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    ncclComm_t comm = atomic_load(&s->comm);
    ncclResult_t a = async_error(comm);
    if (!comm) rc = fail(err, len, "nccl backend: %s on rank %d: the communicator was aborted", what, s->rank);
    else if (a != ncclSuccess) rc = nccl_fail(s, comm, a, what, err, len);
    pthread_mutex_unlock(&s->mu);
    if (rc) return rc;
    if (s->timeout_s > 0 && now_s() - t0 > s->timeout_s)
      return fail(err, len,
                  "nccl backend: %s timed out on rank %d of %d (cuda:%d) after %g s: another rank stopped, died or "
                  "queued different collectives", what, s->rank, s->world_size, s->device, s->timeout_s);
    struct timespec t = {0, sleep_ns};
    nanosleep(&t, NULL);
    if (sleep_ns < 1000000) sleep_ns *= 2;
  }
}

/* --- make_id, init -------------------------------------------------------------------------------- */
static int nccl_make_id(void *id, size_t id_cap, size_t *id_len, char *err, size_t errlen) {
  if (need_nccl(err, errlen)) return 1;
  if (id_cap < sizeof(ncclUniqueId))
    return fail(err, errlen, "nccl backend: the unique id needs %zu bytes, the buffer has %zu",
                sizeof(ncclUniqueId), id_cap);
  ncclUniqueId u;
  ncclResult_t r = nccl.ncclGetUniqueId(&u);
  if (r != ncclSuccess)
    return fail(err, errlen, "nccl backend: ncclGetUniqueId failed on rank 0: %s (NCCL_DEBUG=WARN says more; "
                "NCCL_SOCKET_IFNAME chooses the network interface)", nccl.ncclGetErrorString(r));
  memcpy(id, &u, sizeof u);
  *id_len = sizeof u;
  return 0;
}

static void free_state(nccl_state *s) {
  if (s->scratch) cudaFree(s->scratch);
  if (s->ready) cudaEventDestroy(s->ready);
  if (s->done) cudaEventDestroy(s->done);
  if (s->stream) cudaStreamDestroy(s->stream);
  cudaGetLastError();
  pthread_mutex_destroy(&s->mu);
  free(s);
}

static int nccl_init(void **state, const lt_comm_setup *setup, char *err, size_t errlen) {
  *state = NULL;
  if (need_nccl(err, errlen)) return 1;
  if (setup->world_size < 1 || setup->rank < 0 || setup->rank >= setup->world_size)
    return fail(err, errlen, "nccl backend: rank %d is outside 0..%d", setup->rank, setup->world_size - 1);
  if (!setup->id || setup->id_len != sizeof(ncclUniqueId))
    return fail(err, errlen, "nccl backend: rank %d got a unique id of %zu bytes, NCCL's has %zu (rank 0 must "
                "make it with this backend's make_id)", setup->rank, setup->id ? setup->id_len : 0,
                sizeof(ncclUniqueId));
  /* One GPU per process: rank r uses cuda:local_rank. */
  int ngpu = lt_cuda_device_count();
  if (ngpu == 0)
    return fail(err, errlen, "nccl backend: rank %d has no GPU (%s); use backend 'mpi' for CPU training",
                setup->rank, lt_cuda_unavailable_reason());
  if (setup->local_rank < 0 || setup->local_rank >= ngpu) {
    const char *vis = getenv("CUDA_VISIBLE_DEVICES");
    return fail(err, errlen, "nccl backend: rank %d has local rank %d and uses cuda:%d, but this process sees %d "
                "GPU%s (CUDA_VISIBLE_DEVICES=%s): start at most %d process%s per machine, each seeing all of "
                "its GPUs", setup->rank, setup->local_rank, setup->local_rank, ngpu, ngpu == 1 ? "" : "s",
                vis ? vis : "unset", ngpu, ngpu == 1 ? "" : "es");
  }
  nccl_state *s = calloc(1, sizeof *s);
  if (!s) return fail(err, errlen, "nccl backend: out of host memory");
  atomic_init(&s->comm, NULL);
  pthread_mutex_init(&s->mu, NULL);
  s->rank = setup->rank;
  s->world_size = setup->world_size;
  s->device = setup->local_rank;
  s->timeout_s = setup->timeout_s;
  cudaError_t e = cudaSuccess;
  const char *what = NULL;
  ncclUniqueId id;
  ncclComm_t comm = NULL;
  ncclResult_t r;
  if (use_device(s, NULL, err, errlen)) goto failed;
  if ((e = cudaSetDevice(s->device)) != cudaSuccess) what = "cudaSetDevice"; /* use_device did; to be plain */
  else if ((e = cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking)) != cudaSuccess) what = "cudaStreamCreate";
  else if ((e = cudaEventCreateWithFlags(&s->ready, cudaEventDisableTiming)) != cudaSuccess) what = "cudaEventCreate";
  else if ((e = cudaEventCreateWithFlags(&s->done, cudaEventDisableTiming)) != cudaSuccess) what = "cudaEventCreate";
  else if ((e = cudaMalloc(&s->scratch, 1)) != cudaSuccess) what = "cudaMalloc (barrier's byte)";
  if (what) {
    cuda_fail(s, e, what, err, errlen);
    goto failed;
  }
  memcpy(&id, setup->id, sizeof id);
  /* Blocks until every rank has joined, with no bound (NCCL's blocking mode). */
  r = nccl.ncclCommInitRank(&comm, s->world_size, id, s->rank);
  if (r != ncclSuccess) {
    nccl_fail(s, NULL, r, "ncclCommInitRank", err, errlen);
    goto failed;
  }
  atomic_store(&s->comm, comm);
  *state = s;
  return 0;
failed:
  free_state(s);
  return 1;
}

/* --- the collectives ------------------------------------------------------------------------------- */
static int map_dtype(lt_dtype dt, ncclDataType_t *out) {
  switch (dt) {
    case LT_FLOAT32: *out = ncclFloat32; return 0;
    case LT_FLOAT64: *out = ncclFloat64; return 0;
    case LT_BFLOAT16: *out = ncclBfloat16; return 0;
    case LT_FLOAT16: *out = ncclFloat16; return 0;
    case LT_INT32: *out = ncclInt32; return 0;
    case LT_INT64: *out = ncclInt64; return 0;
    case LT_UINT8: *out = ncclUint8; return 0;
    default: return 1;
  }
}

/* A buffer must be device (or managed) memory of this rank's GPU. */
static int check_buffer(const nccl_state *s, const void *p, const char *which, char *err, size_t len) {
  struct cudaPointerAttributes a;
  cudaError_t e = cudaPointerGetAttributes(&a, p);
  if (e != cudaSuccess) return cuda_fail(s, e, "cudaPointerGetAttributes (checking a tensor)", err, len);
  if (a.type != cudaMemoryTypeDevice && a.type != cudaMemoryTypeManaged)
    return fail(err, len, "nccl backend: the %stensor is in host memory; the nccl backend needs tensors on cuda:%d "
                "(this rank's GPU)", which, s->device);
  if (a.device != s->device)
    return fail(err, len, "nccl backend: the %stensor is on cuda:%d; rank %d's communicator uses cuda:%d", which,
                a.device, s->rank, s->device);
  return 0;
}

typedef enum { ALL_REDUCE, BROADCAST, ALL_GATHER, REDUCE_SCATTER } coll_kind;
static const char *const coll_names[] = {"all_reduce", "broadcast", "all_gather", "reduce_scatter"};
static const char *const nccl_names[] = {"ncclAllReduce", "ncclBroadcast", "ncclAllGather", "ncclReduceScatter"};
/* in lt_comm_op's order */
static const ncclRedOp_t nccl_ops[] = {ncclSum, ncclAvg, ncclMax, ncclMin};
static const char *const op_names[] = {"sum", "avg", "max", "min"};
_Static_assert(sizeof nccl_ops / sizeof nccl_ops[0] == LT_COMM_OP_COUNT, "one NCCL op per lt_comm_op");

/* One collective, in the order of the header: the checks; the comm stream
 * waits for the compute stream (`ready`); the NCCL call on the comm stream;
 * the compute stream waits for it (`done`). */
static int collective(nccl_state *s, coll_kind kind, const void *in, void *out, size_t count, lt_dtype dtype,
                      lt_comm_op op, int root, void *stream, char *err, size_t len) {
  const char *name = coll_names[kind];
  bool reducing = kind == ALL_REDUCE || kind == REDUCE_SCATTER;
  ncclComm_t comm = atomic_load(&s->comm);
  ncclDataType_t dt = ncclFloat32;
  ncclRedOp_t rop = ncclSum;
  cudaStream_t compute = NULL;
  if (!comm) return fail(err, len, "nccl backend: %s after the communicator was aborted or finalized", name);
  if (reducing && (unsigned)op >= LT_COMM_OP_COUNT)
    return fail(err, len, "nccl backend: %s: unknown reduction %d", name, (int)op);
  if (reducing) rop = nccl_ops[op];
  if (map_dtype(dtype, &dt))
    return fail(err, len, "nccl backend: %s of %s tensors is not supported (float32, float64, bfloat16, float16, "
                "int32, int64 and uint8 are)", name, lt_dtype_name(dtype));
  if (kind == BROADCAST && (root < 0 || root >= s->world_size))
    return fail(err, len, "nccl backend: broadcast from rank %d, outside 0..%d", root, s->world_size - 1);
  ncclResult_t r = async_error(comm);
  if (r != ncclSuccess) return nccl_fail(s, comm, r, "an earlier collective", err, len);
  if (use_device(s, &compute, err, len)) return 1;
  if (stream) compute = (cudaStream_t)stream;
  if (count == 0) return 0; /* every rank has the same count */
  if (check_buffer(s, in, in == out ? "" : "input ", err, len) ||
      (in != out && check_buffer(s, out, "output ", err, len)))
    return 1;
  cudaError_t e;
  if ((e = cudaEventRecord(s->ready, compute)) != cudaSuccess)
    return cuda_fail(s, e, "cudaEventRecord on the compute stream", err, len);
  if ((e = cudaStreamWaitEvent(s->stream, s->ready, 0)) != cudaSuccess)
    return cuda_fail(s, e, "cudaStreamWaitEvent (the comm stream on the compute stream)", err, len);
  switch (kind) {
    case ALL_REDUCE: r = nccl.ncclAllReduce(in, out, count, dt, rop, comm, s->stream); break;
    case BROADCAST: r = nccl.ncclBroadcast(in, out, count, dt, root, comm, s->stream); break;
    case ALL_GATHER: r = nccl.ncclAllGather(in, out, count, dt, comm, s->stream); break;
    default: r = nccl.ncclReduceScatter(in, out, count, dt, rop, comm, s->stream); break;
  }
  if (r != ncclSuccess) {
    char call[128], extra[32] = ""; /* e.g. "ncclAllReduce (1048576 float32, avg)" */
    if (reducing) snprintf(extra, sizeof extra, ", %s", op_names[op]);
    else if (kind == BROADCAST) snprintf(extra, sizeof extra, ", root %d", root);
    snprintf(call, sizeof call, "%s (%zu %s%s%s)", nccl_names[kind], count, lt_dtype_name(dtype),
             kind == ALL_GATHER || kind == REDUCE_SCATTER ? " per rank" : "", extra);
    return nccl_fail(s, comm, r, call, err, len);
  }
  if ((e = cudaEventRecord(s->done, s->stream)) != cudaSuccess)
    return cuda_fail(s, e, "cudaEventRecord on the comm stream", err, len);
  if ((e = cudaStreamWaitEvent(compute, s->done, 0)) != cudaSuccess)
    return cuda_fail(s, e, "cudaStreamWaitEvent (the compute stream on the comm stream)", err, len);
  return 0;
}

static int nccl_all_reduce(void *state, void *buf, size_t count, lt_dtype dtype, lt_comm_op op, void *stream,
                           char *err, size_t errlen) {
  return collective(state, ALL_REDUCE, buf, buf, count, dtype, op, 0, stream, err, errlen);
}

static int nccl_broadcast(void *state, void *buf, size_t count, lt_dtype dtype, int root, void *stream, char *err,
                          size_t errlen) {
  return collective(state, BROADCAST, buf, buf, count, dtype, LT_COMM_SUM, root, stream, err, errlen);
}

static int nccl_all_gather(void *state, const void *in, void *out, size_t count, lt_dtype dtype, void *stream,
                           char *err, size_t errlen) {
  return collective(state, ALL_GATHER, in, out, count, dtype, LT_COMM_SUM, 0, stream, err, errlen);
}

static int nccl_reduce_scatter(void *state, const void *in, void *out, size_t count, lt_dtype dtype, lt_comm_op op,
                               void *stream, char *err, size_t errlen) {
  return collective(state, REDUCE_SCATTER, in, out, count, dtype, op, 0, stream, err, errlen);
}

/* A one-byte all-reduce on the comm stream (after every collective queued
 * before it), waited for on the host. */
static int nccl_barrier(void *state, char *err, size_t errlen) {
  nccl_state *s = state;
  ncclComm_t comm = atomic_load(&s->comm);
  if (!comm) return fail(err, errlen, "nccl backend: barrier after the communicator was aborted or finalized");
  if (use_device(s, NULL, err, errlen)) return 1;
  enum cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
  cudaError_t e = cudaStreamIsCapturing(s->stream, &cap);
  if (e != cudaSuccess) return cuda_fail(s, e, "cudaStreamIsCapturing", err, errlen);
  if (cap != cudaStreamCaptureStatusNone)
    return fail(err, errlen, "nccl backend: barrier cannot run inside lt.cuda.graph capture: it waits for the GPU");
  ncclResult_t r = nccl.ncclAllReduce(s->scratch, s->scratch, 1, ncclUint8, ncclMax, comm, s->stream);
  if (r != ncclSuccess) return nccl_fail(s, comm, r, "ncclAllReduce (barrier)", err, errlen);
  if ((e = cudaEventRecord(s->done, s->stream)) != cudaSuccess)
    return cuda_fail(s, e, "cudaEventRecord on the comm stream", err, errlen);
  return wait_event(s, s->done, "barrier", err, errlen);
}

/* --- abort, finalize, usable ---------------------------------------------------------------------- */
/* Only the communicator (kernels waiting on peers stop, a host wait here
 * returns an error); the distributed layer then ends the process. Called
 * from another thread than the others, never waiting for it. */
static void nccl_abort(void *state, int code) {
  (void)code; /* the process's exit code is the distributed layer's */
  nccl_state *s = state;
  if (!s) return; /* init had not returned: nothing to abort */
  pthread_mutex_lock(&s->mu);
  ncclComm_t comm = atomic_exchange(&s->comm, NULL);
  if (comm) nccl.ncclCommAbort(comm);
  pthread_mutex_unlock(&s->mu);
}

static int nccl_finalize(void *state, char *err, size_t errlen) {
  nccl_state *s = state;
  if (!s) return 0;
  int rc = 0;
  cudaError_t e;
  if (atomic_load(&s->comm)) { /* wait for the queued collectives */
    if (use_device(s, NULL, err, errlen)) rc = 1;
    else if ((e = cudaEventRecord(s->done, s->stream)) != cudaSuccess)
      rc = cuda_fail(s, e, "cudaEventRecord on the comm stream", err, errlen);
    else rc = wait_event(s, s->done, "finalize (waiting for the queued collectives)", err, errlen);
  }
  pthread_mutex_lock(&s->mu);
  ncclComm_t comm = atomic_exchange(&s->comm, NULL);
  pthread_mutex_unlock(&s->mu);
  if (comm) {
    ncclResult_t r = rc ? ncclSuccess : async_error(comm);
    if (r != ncclSuccess) rc = nccl_fail(s, comm, r, "finalize", err, errlen);
    if (rc) nccl.ncclCommAbort(comm); /* destroying could wait for peers that never come */
    else if ((r = nccl.ncclCommDestroy(comm)) != ncclSuccess)
      rc = nccl_fail(s, NULL, r, "ncclCommDestroy", err, errlen);
  }
  free_state(s);
  return rc;
}

/* Non-zero when this process has a GPU and a usable libnccl (backend
 * "auto" then picks NCCL); otherwise 0 and why. Loads NCCL, starts nothing. */
static int nccl_usable(char *why, size_t whylen) {
  if (need_nccl(why, whylen)) return 0;
  if (lt_cuda_device_count() == 0)
    return fail(why, whylen, "init_process_group: the nccl backend needs a GPU: %s; use backend 'mpi' for CPU "
                "training", lt_cuda_unavailable_reason()), 0;
  return 1;
}

const lt_comm_backend lt_cuda_nccl_backend = {
  .name = "nccl",
  .device_buffers = 1,
  .make_id = nccl_make_id,
  .init = nccl_init,
  .all_reduce = nccl_all_reduce,
  .broadcast = nccl_broadcast,
  .all_gather = nccl_all_gather,
  .reduce_scatter = nccl_reduce_scatter,
  .barrier = nccl_barrier,
  .abort = nccl_abort,
  .finalize = nccl_finalize,
  .usable = nccl_usable,
};
