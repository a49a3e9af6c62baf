/* lt_dist.h — data-parallel training's process group: which process this
 * is among how many (read from the launcher's environment), the collective
 * library that connects them (lt_comm.h), and the collectives on tensors,
 * run in order by one communication thread so that they overlap with the
 * backward pass.
 *
 * One process group per process (as PyTorch's default group). Ranks are
 * 0-based, as mpirun, srun, torchrun, MPI and NCCL count them; the Lua side
 * keeps that numbering for ranks (docs/distributed.md says why) while
 * positions in Lua tables stay 1-based. */
#ifndef LT_DIST_H
#define LT_DIST_H

#include <stdbool.h>

#include "lt_comm.h"
#include "lt_tensor.h"

LT_BEGIN_DECLS

/* --- the launcher's environment (lt_dist_env.c) ------------------------------------ */
typedef struct {
  int rank, world_size, local_rank, local_world_size;
  char launcher[16];       /* "torchrun", "openmpi", "pmi", "slurm" or "none" */
  char master_addr[256];   /* MASTER_ADDR, "" when unset */
  int master_port;         /* MASTER_PORT, 0 when unset */
} lt_dist_env;

/* Reads rank and world size from the first launcher whose variables are
 * set, in this order: torchrun (RANK, WORLD_SIZE, LOCAL_RANK,
 * LOCAL_WORLD_SIZE), Open MPI (OMPI_COMM_WORLD_RANK, _SIZE, _LOCAL_RANK,
 * _LOCAL_SIZE), MPICH/PMI (PMI_RANK, PMI_SIZE, MPI_LOCALRANKID,
 * MPI_LOCALNRANKS), Slurm's srun (SLURM_PROCID with SLURM_STEP_ID; the size
 * SLURM_STEP_NUM_TASKS or SLURM_NTASKS, SLURM_LOCALID, and this node's
 * count from SLURM_STEP_TASKS_PER_NODE or SLURM_TASKS_PER_NODE, "2(x3),1",
 * at SLURM_NODEID, else SLURM_NTASKS_PER_NODE); none set: rank 0 of 1,
 * launcher "none". A batch script's own SLURM_PROCID (no SLURM_STEP_ID) is
 * one process, not a launcher. An empty variable counts as unset.
 * A launcher is chosen by its rank or size variable; it must then set both.
 * When its local variables are missing, the ranks are taken to share one
 * machine: local_world_size = world_size and local_rank = rank (or rank
 * modulo local_world_size when only that is known), so that local_rank
 * still picks a distinct GPU. MASTER_ADDR and MASTER_PORT (1-65535) are
 * read whatever the launcher. `get` is getenv's shape (ctx is passed
 * along; NULL get: getenv). Fails (LT_ERR_ARG) naming the variable and its
 * value when a value is not a plain decimal number, or is out of range
 * (rank >= size, local rank >= local size, local size > size). */
lt_status lt_dist_env_read(const char *(*get)(const char *name, void *ctx), void *ctx, lt_dist_env *out);

/* --- the TCP rendezvous (lt_dist_tcp.c) ---------------------------------------------- */
/* Hands `len` bytes (NCCL's unique id) from rank 0 to every rank: rank 0
 * listens on `port` (every interface, as torchrun's store) and waits until
 * the world_size - 1 other ranks have connected to addr:port and named
 * themselves, then sends each the blob; the others connect (retrying while
 * rank 0 is not listening yet) and receive it into `blob`. Every step is
 * bounded by timeout_s in all. Fails (LT_ERR_RUNTIME, "rendezvous: ...")
 * when addr does not resolve, the port is in use, a rank does not come (rank
 * 0 names the missing ranks, and tells those that came), two processes
 * claim one rank, the ranks disagree on world_size or len, or a connection
 * ends early (a short read). world_size 1: nothing to do. */
lt_status lt_dist_rendezvous(const char *addr, int port, int rank, int world_size, void *blob, size_t len,
                             double timeout_s);

/* --- the process group (lt_dist.c) -------------------------------------------------- */
/* backend: "mpi", "nccl" or "auto" (nccl for a CUDA build with a GPU and
 * NCCL, else mpi). Starts the communication thread and the library; for
 * world size 1 without a launcher no library is needed and collectives are
 * local copies. timeout_s bounds every collective: one that takes longer
 * aborts the job (backend->abort) with a message naming this rank and the
 * operation. Fails if a group exists already. */
lt_status lt_dist_init(const char *backend, double timeout_s);
bool lt_dist_is_initialized(void);
const lt_dist_env *lt_dist_get_env(void);  /* valid after lt_dist_init */
const char *lt_dist_backend_name(void);    /* "mpi", "nccl", "local" */
/* Waits for queued work, shuts the library down, stops the thread. */
lt_status lt_dist_finalize(void);
/* For a rank that fails (an error in the script): ends the whole job so the
 * other ranks exit instead of waiting; never returns when a library runs. */
void lt_dist_abort(int code);

/* --- collectives ----------------------------------------------------------------------- */
/* Each queues one operation on the communication thread and returns a work
 * handle (never NULL on success); the tensors must stay alive and untouched
 * until the work is waited for (the glue keeps references). Every rank must
 * queue the same operations in the same order with the same shapes and
 * dtypes. Tensors must be contiguous; host tensors for MPI, device tensors
 * of the current GPU for NCCL. */
typedef struct lt_dist_work lt_dist_work;
lt_status lt_dist_all_reduce(lt_tensor *t, lt_comm_op op, lt_dist_work **work);
lt_status lt_dist_broadcast(lt_tensor *t, int src, lt_dist_work **work);
/* out: world_size * numel(in) elements of in's dtype, in rank order. */
lt_status lt_dist_all_gather(lt_tensor *out, const lt_tensor *in, lt_dist_work **work);
/* in: world_size * numel(out) elements; out gets this rank's reduced block. */
lt_status lt_dist_reduce_scatter(lt_tensor *out, const lt_tensor *in, lt_comm_op op, lt_dist_work **work);
lt_status lt_dist_barrier(lt_dist_work **work);

/* Blocks until done. A failed collective's error is returned here (and the
 * job is aborted: a collective that failed on one rank leaves the others
 * waiting). */
lt_status lt_dist_work_wait(lt_dist_work *work);
bool lt_dist_work_done(const lt_dist_work *work);
/* When the communication thread started running the work, on the clock
 * of lt_dist_now() (seconds, monotonic); 0 while it waits in the queue.
 * For tests of the overlap: a bucket's all_reduce started before the
 * backward pass ended. */
double lt_dist_work_started_at(const lt_dist_work *work);
double lt_dist_now(void);
/* Frees a handle; waits first if the work is still running. */
void lt_dist_work_free(lt_dist_work *work);

LT_END_DECLS

#endif
