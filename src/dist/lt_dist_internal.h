/* lt_dist_internal.h — what the files of the process group share, and
 * nothing outside src/dist sees: the one group of the process (lt_dist.c
 * owns its life), the work queue and its communication thread
 * (lt_dist_thread.c), and the loading of the MPI plugin
 * (lt_dist_plugin.c). */
#ifndef LT_DIST_INTERNAL_H
#define LT_DIST_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "lt_dist.h"

#define LT_DIST_ERRLEN 512

typedef enum {
  LT_WORK_ALL_REDUCE,
  LT_WORK_BROADCAST,
  LT_WORK_ALL_GATHER,
  LT_WORK_REDUCE_SCATTER,
  LT_WORK_BARRIER,
  LT_WORK_FINALIZE /* destroy_process_group: the last work of a group */
} lt_work_kind;

struct lt_dist_work {
  struct lt_dist_work *next; /* in the queue */
  lt_work_kind kind;
  uint64_t seq;              /* #N: this group's N-th operation, from 1 */
  /* References the work holds (released by lt_dist_work_free, on the
   * caller's thread): the buffer (all_reduce, broadcast) or out, and in. */
  lt_tensor *out, *in;
  void *out_ptr;
  const void *in_ptr;
  size_t count;              /* elements (per rank for all_gather/reduce_scatter) */
  lt_dtype dtype;
  lt_comm_op op;
  int root;
  double started_at; /* when it began running (lt_dist_now()); 0 until then */
  bool done;
  lt_status status;
  char err[LT_DIST_ERRLEN];
};

typedef enum {
  LT_GROUP_NONE,     /* no group: lt_dist_init may start one */
  LT_GROUP_STARTING, /* lt_dist_init is waiting for the thread's init */
  LT_GROUP_RUNNING,
  LT_GROUP_BROKEN    /* the library's start-up never returned: no new group in this process */
} lt_group_state;

/* The process group: all fields under `mu`, except those written before
 * the thread starts and read-only after (env, backend, timeout_s, local). */
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* the queue grew, a work finished, the init ended */
  lt_group_state state;
  lt_dist_env env;
  const lt_comm_backend *backend; /* NULL for "local" */
  void *bstate;                   /* the backend's, once its init returned */
  char name[8];                   /* "mpi", "nccl", "local" */
  double timeout_s;
  /* queue and thread */
  lt_dist_work *head, *tail, *running;
  uint64_t seq;
  pthread_t thread;
  bool init_done;
  char init_err[LT_DIST_ERRLEN]; /* once init_done: why the backend did not start, "" when it did */
  /* A collective failed or timed out: every later one fails with this. */
  bool failed;
  char fail_msg[LT_DIST_ERRLEN];
  /* The backend's abort was called (and returned: NCCL), at aborted_at. */
  bool aborted;
  double aborted_at;
  int cuda_index; /* the GPU of the first NCCL collective, -1 before */
} lt_dist_group;

extern lt_dist_group lt_dist_g;

/* lt_dist_thread.c: starts the thread, which runs the backend's start-up
 * (make_id and the rendezvous for a backend that has make_id, then init)
 * and then the queue in order. Called with mu held, state STARTING. */
lt_status lt_dist_thread_start(void);
/* Appends w (seq already set) and wakes the thread. mu held. */
void lt_dist_thread_push(lt_dist_work *w);
/* Waits (mu held) until w is done, failing and ending the job when the work
 * running on the thread has run longer than the timeout or w failed. */
lt_status lt_dist_thread_wait(lt_dist_work *w);
/* Waits (mu held) on the group's condition until it is signalled or the
 * clock of lt_dist_now() reaches `until`. */
void lt_dist_cond_wait_until(double until);
/* "all_reduce #3 (float32, 1234 elements)" into buf. */
const char *lt_dist_work_describe(const lt_dist_work *w, char *buf, size_t len);

/* lt_dist_plugin.c: finds and opens luatrain_mpi.so, returns its table. */
lt_status lt_dist_load_mpi_plugin(const lt_comm_backend **out);

#endif
