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

/* --- the process group (lt_dist.c, lt_dist_thread.c, lt_dist_plugin.c) ------------- */
/* Starts this process's group. backend: "mpi" (the plugin luatrain_mpi.so,
 * dlopen()ed here: lt_dist_plugin.c says where it is looked for), "nccl"
 * (the table the CUDA backend registers with lt_comm_register; it needs
 * MASTER_PORT, and MASTER_ADDR when the ranks are on several machines,
 * for the rendezvous that passes NCCL's id) or "auto" (nccl when it is
 * registered and its `usable` entry says yes, else mpi); NULL is "auto".
 * A process without launcher variables and world size 1 gets the "local"
 * group whatever backend is named: no library, no thread, collectives done
 * at once (all_reduce and broadcast leave the tensor as it is, all_gather
 * and reduce_scatter copy). Otherwise it starts the communication thread,
 * which starts the library and then makes every call into it, and waits
 * for that start (at most timeout_s, twice that with a rendezvous).
 * timeout_s bounds every collective: one that runs longer ends the job
 * (lt_dist_work_wait). Fails (messages start "init_process_group: ") for
 * an unknown backend (arg 1), a timeout that is not positive (arg 2), bad
 * launcher variables, a backend that is not there (naming where the plugin
 * was looked for and what to install), a library that does not start
 * (MPI counting other ranks than the launcher, a rank that never comes to
 * the rendezvous), a group that exists already, and a second mpi group
 * after destroy_process_group (MPI cannot start twice in a process). */
lt_status lt_dist_init(const char *backend, double timeout_s);
bool lt_dist_is_initialized(void);
const lt_dist_env *lt_dist_get_env(void);  /* NULL without a group */
const char *lt_dist_backend_name(void);    /* "mpi", "nccl", "local"; NULL without a group */
/* destroy_process_group: waits for the queued work, shuts the library down
 * (with the timeout), stops the thread. Afterwards lt_dist_init may start
 * a new group (not a second mpi one). Handles of finished work stay valid
 * until freed. */
lt_status lt_dist_finalize(void);
/* For a rank that fails (an error in the script): prints "luatrain: rank
 * R: aborting the job (exit code C)", ends the whole job so the other ranks
 * exit instead of waiting (the backend's abort: MPI_Abort), then _exit(code)
 * if the abort returned. Never returns when a library runs; returns at once
 * without a group or for the local one. Any thread may call it. */
void lt_dist_abort(int code);

/* --- collectives ----------------------------------------------------------------------- */
/* Each checks its arguments, queues one operation for the communication
 * thread and returns a work handle (*work, NULL on failure); the work
 * holds a reference to each tensor until lt_dist_work_free, and the
 * caller must not touch their elements until the work is done. Every rank
 * must queue the same operations in the same order with the same sizes
 * and dtypes. Tensors must be contiguous, of a dtype other than bool, on
 * the CPU for MPI, on one GPU (the same for all collectives) for NCCL, any
 * device for the local group; AVG is for floating dtypes; out and in do
 * not overlap. Operations on 0 elements are queued (and keep their place)
 * but make no library call. Messages start with the function's name
 * ("all_reduce: ..."), and the argument at fault is lt_error_arg(). All of
 * this API may be called from any thread; one thread at a time per group
 * is what the glue does. */
typedef struct lt_dist_work lt_dist_work;
lt_status lt_dist_all_reduce(lt_tensor *t, lt_comm_op op, lt_dist_work **work);
/* src: 0 <= src < world_size (arg 2). */
lt_status lt_dist_broadcast(lt_tensor *t, int src, lt_dist_work **work);
/* out: world_size * numel(in) elements of in's dtype, in rank order. */
lt_status lt_dist_all_gather(lt_tensor *out, const lt_tensor *in, lt_dist_work **work);
/* in: world_size * numel(out) elements; out gets this rank's reduced block. */
lt_status lt_dist_reduce_scatter(lt_tensor *out, const lt_tensor *in, lt_comm_op op, lt_dist_work **work);
lt_status lt_dist_barrier(lt_dist_work **work);

/* Blocks until the work is done. While it waits it watches the work
 * running on the communication thread (this one or one queued before it):
 * when that has run longer than timeout_s, it prints and returns "rank R:
 * all_reduce #N (float32, 1234 elements) did not finish within T s;
 * another rank may have failed or stopped calling collectives" and calls
 * the backend's abort, which ends the job (MPI_Abort does not return; after
 * NCCL's, the group is failed and later collectives refuse). A collective
 * the library reports as failed (or one not run because an earlier one
 * failed) ends the job the same way, with the library's message: a
 * collective that failed on one rank leaves the others waiting. */
lt_status lt_dist_work_wait(lt_dist_work *work);
bool lt_dist_work_done(const lt_dist_work *work);
/* When the communication thread started running the work, on the clock
 * of lt_dist_now() (seconds, monotonic); 0 while it waits in the queue.
 * For tests of the overlap: a bucket's all_reduce started before the
 * backward pass ended. */
double lt_dist_work_started_at(const lt_dist_work *work);
double lt_dist_now(void);
/* Frees a handle and drops its tensor references; waits first (as
 * lt_dist_work_wait, errors ignored) if the work is not done. NULL: nothing. */
void lt_dist_work_free(lt_dist_work *work);

LT_END_DECLS

#endif
