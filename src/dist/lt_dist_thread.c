/* lt_dist_thread.c — the communication thread of the process group and its
 * queue. One thread owns every call into the collective library, from its
 * start-up (MPI_Init_thread with MPI_THREAD_FUNNELED makes it MPI's main
 * thread) to its shutdown: collectives are queued by the caller (the
 * glue, during the backward pass) and run here one at a time, first in
 * first out, so every rank issues them in the same order while the
 * caller goes on computing.
 *
 * Completion is reported through the group's one mutex and condition
 * variable (lt_dist_internal.h); the thread never touches a work after
 * marking it done, so the caller may free it as soon as it sees that.
 *
 * The timeout. A caller waiting for a work watches the work that is
 * running on the thread (the one it waits for, or an earlier one it
 * queues behind): if that has run longer than timeout_s, no answer is
 * coming — another rank failed, or stopped calling collectives, or called
 * them in another order — and waiting on would hang the job forever. So
 * the waiter prints what happened, names this rank and the operation, and
 * calls the backend's abort, which ends the job on every rank (MPI_Abort;
 * NCCL aborts the communicator and the process then exits). A collective
 * the library reports as failed ends the job the same way: the other ranks
 * would wait for this one. The one backend call not made on this thread is
 * that abort, made by the waiter while the thread may be blocked inside
 * the collective (lt_comm.h allows it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lt_dist_internal.h"

const char *lt_dist_work_describe(const lt_dist_work *w, char *buf, size_t len) {
  const char *dt = lt_dtype_name(w->dtype);
  switch (w->kind) {
    case LT_WORK_ALL_REDUCE:
      snprintf(buf, len, "all_reduce #%llu (%s, %zu elements)", (unsigned long long)w->seq, dt, w->count);
      break;
    case LT_WORK_BROADCAST:
      snprintf(buf, len, "broadcast #%llu from rank %d (%s, %zu elements)", (unsigned long long)w->seq, w->root, dt,
               w->count);
      break;
    case LT_WORK_ALL_GATHER:
      snprintf(buf, len, "all_gather #%llu (%s, %zu elements per rank)", (unsigned long long)w->seq, dt, w->count);
      break;
    case LT_WORK_REDUCE_SCATTER:
      snprintf(buf, len, "reduce_scatter #%llu (%s, %zu elements per rank)", (unsigned long long)w->seq, dt,
               w->count);
      break;
    case LT_WORK_BARRIER: snprintf(buf, len, "barrier #%llu", (unsigned long long)w->seq); break;
    case LT_WORK_FINALIZE:
      snprintf(buf, len, "destroy_process_group (#%llu, the %s library's shutdown)", (unsigned long long)w->seq,
               lt_dist_g.name);
      break;
  }
  return buf;
}

/* Runs one work on the thread (mu not held). Returns 0 or non-zero with err. */
static int run(lt_dist_work *w, char *err, size_t errlen) {
  lt_dist_group *g = &lt_dist_g;
  const lt_comm_backend *b = g->backend;
  switch (w->kind) {
    case LT_WORK_ALL_REDUCE:
      return w->count ? b->all_reduce(g->bstate, w->out_ptr, w->count, w->dtype, w->op, NULL, err, errlen) : 0;
    case LT_WORK_BROADCAST:
      return w->count ? b->broadcast(g->bstate, w->out_ptr, w->count, w->dtype, w->root, NULL, err, errlen) : 0;
    case LT_WORK_ALL_GATHER:
      return w->count ? b->all_gather(g->bstate, w->in_ptr, w->out_ptr, w->count, w->dtype, NULL, err, errlen) : 0;
    case LT_WORK_REDUCE_SCATTER:
      return w->count ? b->reduce_scatter(g->bstate, w->in_ptr, w->out_ptr, w->count, w->dtype, w->op, NULL, err,
                                          errlen)
                      : 0;
    case LT_WORK_BARRIER: return b->barrier(g->bstate, err, errlen);
    case LT_WORK_FINALIZE: {
      pthread_mutex_lock(&g->mu);
      void *s = g->bstate;
      g->bstate = NULL; /* finalize frees it; abort must not see it after */
      pthread_mutex_unlock(&g->mu);
      return b->finalize(s, err, errlen);
    }
  }
  return 0;
}

/* The backend's start-up: the id exchange for a backend with make_id, then
 * init. Returns 0 or non-zero with err. */
static int start_backend(char *err, size_t errlen) {
  lt_dist_group *g = &lt_dist_g;
  const lt_comm_backend *b = g->backend;
  lt_comm_setup setup = {g->env.rank, g->env.world_size, g->env.local_rank, g->env.local_world_size,
                         g->timeout_s, NULL, 0};
  /* The id travels as a fixed-size blob, its length first (4 bytes,
   * little-endian), so the other ranks learn the length from rank 0. */
  unsigned char blob[4 + 1024];
  if (b->make_id != NULL) {
    size_t id_len = 0;
    memset(blob, 0, sizeof blob);
    if (g->env.rank == 0) {
      if (b->make_id(blob + 4, sizeof blob - 4, &id_len, err, errlen) != 0) return 1;
      if (id_len == 0 || id_len > sizeof blob - 4) {
        snprintf(err, errlen, "the %s backend's id is %zu bytes (1 to %zu)", b->name, id_len, sizeof blob - 4);
        return 1;
      }
      for (int i = 0; i < 4; i++) blob[i] = (unsigned char)(id_len >> (8 * i));
    }
    const char *addr = g->env.master_addr[0] ? g->env.master_addr : "127.0.0.1";
    if (lt_dist_rendezvous(addr, g->env.master_port, g->env.rank, g->env.world_size, blob, sizeof blob,
                           g->timeout_s) != LT_OK) {
      snprintf(err, errlen, "%s", lt_error_message());
      return 1;
    }
    id_len = (size_t)blob[0] | (size_t)blob[1] << 8 | (size_t)blob[2] << 16 | (size_t)blob[3] << 24;
    if (id_len == 0 || id_len > sizeof blob - 4) {
      snprintf(err, errlen, "the id from rank 0 says it is %zu bytes long", id_len);
      return 1;
    }
    setup.id = blob + 4;
    setup.id_len = id_len;
  }
  void *state = NULL;
  int rc = b->init(&state, &setup, err, errlen);
  pthread_mutex_lock(&g->mu);
  g->bstate = rc == 0 ? state : NULL;
  pthread_mutex_unlock(&g->mu);
  return rc;
}

static void *thread_main(void *arg) {
  (void)arg;
  lt_dist_group *g = &lt_dist_g;
  char err[LT_DIST_ERRLEN] = "";
  int rc = start_backend(err, sizeof err);
  pthread_mutex_lock(&g->mu);
  g->init_done = true;
  snprintf(g->init_err, sizeof g->init_err, "%s", rc == 0 ? "" : (err[0] ? err : "the library did not say why"));
  pthread_cond_broadcast(&g->cv);
  if (rc != 0) {
    pthread_mutex_unlock(&g->mu);
    return NULL;
  }
  for (;;) {
    while (g->head == NULL) pthread_cond_wait(&g->cv, &g->mu);
    lt_dist_work *w = g->head;
    g->head = w->next;
    if (g->head == NULL) g->tail = NULL;
    g->running = w;
    w->started_at = lt_dist_now();
    bool skip = g->failed && w->kind != LT_WORK_FINALIZE;
    char desc[160];
    if (skip)
      snprintf(w->err, sizeof w->err, "%s was not run: %.320s", lt_dist_work_describe(w, desc, sizeof desc), g->fail_msg);
    pthread_mutex_unlock(&g->mu);

    err[0] = '\0';
    rc = skip ? 1 : run(w, err, sizeof err);

    pthread_mutex_lock(&g->mu);
    if (rc != 0) {
      w->status = LT_ERR_RUNTIME;
      if (!skip)
        snprintf(w->err, sizeof w->err, "rank %d: %s failed: %.320s", g->env.rank,
                 lt_dist_work_describe(w, desc, sizeof desc), err[0] ? err : "the library did not say why");
      if (!g->failed) {
        g->failed = true;
        snprintf(g->fail_msg, sizeof g->fail_msg, "%s", w->err);
      }
    }
    bool last = w->kind == LT_WORK_FINALIZE;
    g->running = NULL;
    w->done = true; /* from here on the work is the caller's alone */
    pthread_cond_broadcast(&g->cv);
    if (last) break;
  }
  pthread_mutex_unlock(&g->mu);
  return NULL;
}

lt_status lt_dist_thread_start(void) {
  lt_dist_group *g = &lt_dist_g;
  g->init_done = false;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 8u << 20); /* MPI's start-up is deep */
  int e = pthread_create(&g->thread, &attr, thread_main, NULL);
  pthread_attr_destroy(&attr);
  if (e != 0)
    return lt_error_set(LT_ERR_RUNTIME, 0, "init_process_group: cannot start the communication thread: %s",
                        strerror(e));
  return LT_OK;
}

void lt_dist_thread_push(lt_dist_work *w) {
  lt_dist_group *g = &lt_dist_g;
  w->next = NULL;
  if (g->tail != NULL) g->tail->next = w;
  else g->head = w;
  g->tail = w;
  pthread_cond_broadcast(&g->cv);
}

/* Ends the job for a failed or timed-out work (mu held on entry; dropped
 * around the abort, which must not run under the lock the thread needs).
 * Returns when the backend's abort returns (NCCL); MPI's does not. */
static lt_status fail_job(const char *msg) {
  lt_dist_group *g = &lt_dist_g;
  if (!g->failed) {
    g->failed = true;
    snprintf(g->fail_msg, sizeof g->fail_msg, "%s", msg);
  }
  g->aborted = true;
  g->aborted_at = lt_dist_now();
  void *state = g->bstate;
  const lt_comm_backend *b = g->backend;
  pthread_mutex_unlock(&g->mu);
  fprintf(stderr, "luatrain: %s\nluatrain: rank %d: aborting the job\n", msg, g->env.rank);
  fflush(stderr);
  if (b != NULL && state != NULL) b->abort(state, 1);
  pthread_mutex_lock(&g->mu);
  return lt_error_set(LT_ERR_RUNTIME, 0, "%s", msg);
}

void lt_dist_cond_wait_until(double until) {
  lt_dist_group *g = &lt_dist_g;
  struct timespec ts;
  ts.tv_sec = (time_t)until;
  ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
  if (ts.tv_nsec >= 1000000000L) ts.tv_nsec = 999999999L;
  pthread_cond_timedwait(&g->cv, &g->mu, &ts);
}

/* After an abort that returned, how long a wait gives the library to let
 * the blocked collective go before it reports the failure without it. */
#define ABORT_GRACE_S 10.0

lt_status lt_dist_thread_wait(lt_dist_work *w) {
  lt_dist_group *g = &lt_dist_g;
  while (!w->done) {
    lt_dist_work *r = g->running;
    double now = lt_dist_now();
    if (g->aborted && now - g->aborted_at > ABORT_GRACE_S)
      return lt_error_set(LT_ERR_RUNTIME, 0, "%s", g->fail_msg);
    if (!g->aborted && r != NULL && r->started_at > 0 && now - r->started_at > g->timeout_s) {
      char desc[160], msg[LT_DIST_ERRLEN];
      snprintf(msg, sizeof msg,
               "rank %d: %s did not finish within %g s; another rank may have failed or stopped calling collectives",
               g->env.rank, lt_dist_work_describe(r, desc, sizeof desc), g->timeout_s);
      return fail_job(msg);
    }
    /* Sleep until the running work's deadline, at most a second. */
    double until = now + 1.0;
    if (r != NULL && r->started_at > 0 && r->started_at + g->timeout_s + 0.001 < until)
      until = r->started_at + g->timeout_s + 0.001;
    lt_dist_cond_wait_until(until);
  }
  if (w->status == LT_OK) return LT_OK;
  if (!g->aborted) return fail_job(w->err);
  return lt_error_set(w->status, 0, "%s", w->err); /* the job was aborted already: once is enough */
}
