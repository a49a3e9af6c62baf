/* lt_comm.h — the contract between luatrain's distributed layer (src/dist)
 * and a collective library: Open MPI (the plugin src/dist/mpi, loaded with
 * dlopen only for multi-process runs) or NCCL (cuda/, which opens
 * libnccl.so.2 with dlopen). The distributed layer owns the order of
 * operations and the one communication thread; a backend only runs one
 * blocking collective at a time when asked.
 *
 * Plain C types only: a plugin is a separate shared object that does not
 * link luatrain's libraries, so it reports failures by writing a message
 * into `err` (errlen bytes, always NUL-terminated) and returning non-zero,
 * instead of calling lt_error_set. Ranks are 0-based, as every launcher,
 * MPI and NCCL count them. */
#ifndef LT_COMM_H
#define LT_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "lt_cdefs.h"
#include "lt_dtype.h"

LT_BEGIN_DECLS

typedef enum { LT_COMM_SUM, LT_COMM_AVG, LT_COMM_MAX, LT_COMM_MIN, LT_COMM_OP_COUNT } lt_comm_op;

/* What a backend is told at start-up (from lt_dist_env, src/dist). */
typedef struct {
  int rank, world_size;             /* 0 <= rank < world_size */
  int local_rank, local_world_size; /* on this machine */
  double timeout_s;                 /* how long one collective may take */
  /* For a backend with make_id: the id rank 0 made, sent to every rank by
   * the distributed layer over its TCP rendezvous at MASTER_ADDR:MASTER_PORT
   * (lt_dist_rendezvous); NULL and 0 otherwise. */
  const void *id;
  size_t id_len;
} lt_comm_setup;

typedef struct lt_comm_backend {
  const char *name;  /* "mpi", "nccl" */
  /* Buffers in device memory (NCCL) or host memory (MPI). */
  int device_buffers;
  /* NCCL only (NULL otherwise): writes rank 0's unique id (at most
   * id_cap bytes) and its length. */
  int (*make_id)(void *id, size_t id_cap, size_t *id_len, char *err, size_t errlen);
  /* Starts the library on the calling thread, which makes every later call
   * of this backend (MPI_Init_thread with MPI_THREAD_FUNNELED). *state is
   * the backend's own. The rank and size the library sees must match
   * setup's (the distributed layer read them from the launcher). */
  int (*init)(void **state, const lt_comm_setup *setup, char *err, size_t errlen);
  /* In-place collectives on `count` elements of `dtype` (float32, float64,
   * bfloat16, float16, int32, int64, uint8; never bool, which the
   * distributed layer refuses). bfloat16 and float16 reductions round to
   * the dtype after each step of the reduction (the MPI plugin adds in
   * float32 then rounds; NCCL reduces in the type itself). AVG is
   * the sum divided by world_size in the dtype's own precision, for the
   * floating dtypes only (the distributed layer refuses it for integers).
   * count may be 0 (the distributed layer makes no call then). `stream` is
   * NULL: a backend with device buffers uses the compute stream of the
   * device it chose at init (the CUDA backend's), so work queued there
   * runs in order with the kernels around it; the call returns once the
   * work is queued there (NCCL) or done (MPI). */
  int (*all_reduce)(void *state, void *buf, size_t count, lt_dtype dtype, lt_comm_op op, void *stream,
                    char *err, size_t errlen);
  int (*broadcast)(void *state, void *buf, size_t count, lt_dtype dtype, int root, void *stream,
                   char *err, size_t errlen);
  /* out holds world_size * count elements, rank r's `in` at r * count. */
  int (*all_gather)(void *state, const void *in, void *out, size_t count, lt_dtype dtype, void *stream,
                    char *err, size_t errlen);
  /* in holds world_size * count elements; out receives this rank's reduced
   * block of count. */
  int (*reduce_scatter)(void *state, const void *in, void *out, size_t count, lt_dtype dtype, lt_comm_op op,
                        void *stream, char *err, size_t errlen);
  int (*barrier)(void *state, char *err, size_t errlen);
  /* Ends the job on every rank (MPI_Abort, ncclCommAbort): for a rank that
   * failed or timed out, so the others do not wait forever. The one entry
   * called from another thread than the one that ran init, and possibly
   * while that thread is blocked inside a collective of this backend (that
   * is why it is called): it must not wait for that thread. It may return
   * (NCCL); the distributed layer then ends the process with _exit(code). */
  void (*abort)(void *state, int code);
  /* Orderly shutdown; frees state. */
  int (*finalize)(void *state, char *err, size_t errlen);
  /* Whether the backend can run in this process, before any init: NCCL
   * answers whether a GPU and libnccl are there (non-zero), and otherwise
   * writes why into `why`. Backend "auto" takes NCCL only when this entry
   * exists and says yes; a backend named explicitly is asked too when it
   * has the entry (NULL: no question). Called on lt_dist_init's thread;
   * it must not start the library. */
  int (*usable)(char *why, size_t whylen);
} lt_comm_backend;

/* The plugin's one exported function (src/dist/mpi): returns its table, or
 * NULL with a message (e.g. the MPI library is of another major version). */
typedef const lt_comm_backend *(*lt_comm_plugin_entry)(char *err, size_t errlen);
#define LT_COMM_PLUGIN_ENTRY "luatrain_comm_backend"

/* Backends linked into the program register here at start-up (the CUDA
 * backend registers NCCL, which it opens only when used); the distributed
 * layer looks them up by name (lt_comm.c). At most 4; registering a name
 * again replaces the earlier table. The MPI plugin does not register: the
 * distributed layer loads it when a group starts. */
void lt_comm_register(const lt_comm_backend *backend);
const lt_comm_backend *lt_comm_find(const char *name);

LT_END_DECLS

#endif
