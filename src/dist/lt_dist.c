/* lt_dist.c — the process group (lt_dist.h): init_process_group and
 * destroy_process_group, the checks every collective makes before it is
 * queued, the work handles, and the "local" group of a process started
 * without a launcher.
 *
 * Which library: a process alone (world size 1, no launcher variables)
 * gets the local group, whatever backend was asked for: no library is
 * loaded, no thread started, and collectives are done at once on the
 * calling thread (all_reduce and broadcast leave the tensor as it is,
 * all_gather and reduce_scatter copy). Otherwise "mpi" loads the plugin
 * (lt_dist_plugin.c), "nccl" takes the table the CUDA backend registered
 * (lt_comm_find), and "auto" takes NCCL when it is registered and says it
 * is usable here (a GPU and libnccl), MPI otherwise.
 *
 * Checks, in the caller's thread and before anything is queued, so that a
 * mistake is an error in the script instead of a job that hangs: a group
 * exists and has not failed; tensors are contiguous; the dtype is one the
 * libraries reduce (bool is refused); the device is the backend's (CPU
 * tensors for MPI, GPU tensors for NCCL, always the same GPU); the sizes of
 * all_gather/reduce_scatter agree with the world size; AVG is for floating
 * dtypes; out and in do not overlap. Messages name the function as the
 * Lua side calls it ("all_reduce: ..."). What cannot be checked locally
 * (that every rank queues the same operations with the same sizes) is what
 * the timeout is for (lt_dist_thread.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lt_backend.h"
#include "lt_dist_internal.h"

lt_dist_group lt_dist_g = {.mu = PTHREAD_MUTEX_INITIALIZER, .state = LT_GROUP_NONE, .cuda_index = -1};

/* MPI cannot be started again in a process once it was (MPI_Finalize is
 * final), so a second mpi group is refused up front. */
static bool mpi_started;

static pthread_once_t cv_once = PTHREAD_ONCE_INIT;
static void init_cv(void) {
  pthread_condattr_t a;
  pthread_condattr_init(&a);
  pthread_condattr_setclock(&a, CLOCK_MONOTONIC); /* deadlines on lt_dist_now()'s clock */
  pthread_cond_init(&lt_dist_g.cv, &a);
  pthread_condattr_destroy(&a);
}

double lt_dist_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* --- the group ---------------------------------------------------------------------- */

/* Picks the backend's table for `name` (mu held). */
static lt_status choose_backend(const char *name, const lt_dist_env *env, const lt_comm_backend **out) {
  const lt_comm_backend *nccl = lt_comm_find("nccl");
  if (strcmp(name, "auto") == 0) {
    char why[256] = "";
    name = nccl != NULL && nccl->usable != NULL && nccl->usable(why, sizeof why) ? "nccl" : "mpi";
  }
  if (strcmp(name, "nccl") == 0) {
    if (nccl == NULL)
      return lt_error_set(LT_ERR_RUNTIME, 1,
                          "init_process_group: backend 'nccl' is not available: this luatrain was built without CUDA "
                          "(use backend 'mpi' for CPU tensors)");
    char why[256] = "";
    if (nccl->usable != NULL && !nccl->usable(why, sizeof why)) {
      const char *reason = why; /* the backend's text may name the function too: once is enough */
      if (strncmp(reason, "init_process_group: ", 20) == 0) reason += 20;
      return lt_error_set(LT_ERR_RUNTIME, 1, "init_process_group: backend 'nccl' cannot run here: %s",
                          reason[0] ? reason : "no reason given");
    }
    if (env->master_port == 0)
      return lt_error_set(LT_ERR_RUNTIME, 0,
                          "init_process_group: the nccl backend needs MASTER_PORT (and MASTER_ADDR, rank 0's host, when "
                          "the ranks are on several machines): torchrun sets them; with mpirun or srun export them");
    if (env->master_addr[0] == '\0' && env->local_world_size < env->world_size)
      return lt_error_set(LT_ERR_RUNTIME, 0,
                          "init_process_group: the nccl backend needs MASTER_ADDR (rank 0's host) when the ranks are "
                          "on several machines (%d of %d on this one)",
                          env->local_world_size, env->world_size);
    *out = nccl;
    return LT_OK;
  }
  if (mpi_started)
    return lt_error_set(LT_ERR_RUNTIME, 1,
                        "init_process_group: MPI was started and shut down already in this process, and MPI cannot "
                        "start twice");
  return lt_dist_load_mpi_plugin(out);
}

lt_status lt_dist_init(const char *backend, double timeout_s) {
  pthread_once(&cv_once, init_cv);
  lt_dist_group *g = &lt_dist_g;
  if (backend == NULL) backend = "auto";
  if (strcmp(backend, "mpi") != 0 && strcmp(backend, "nccl") != 0 && strcmp(backend, "auto") != 0)
    return lt_error_set(LT_ERR_ARG, 1, "init_process_group: unknown backend '%s' (expected 'mpi', 'nccl' or 'auto')",
                        backend);
  if (!(timeout_s > 0) || !isfinite(timeout_s) || timeout_s > 1e7)
    return lt_error_set(LT_ERR_ARG, 2, "init_process_group: the timeout must be a positive number of seconds, got %g",
                        timeout_s);
  lt_dist_env env;
  if (lt_dist_env_read(NULL, NULL, &env) != LT_OK) {
    char why[LT_DIST_ERRLEN];
    snprintf(why, sizeof why, "%s", lt_error_message()); /* not the buffer lt_error_set writes */
    return lt_error_set(LT_ERR_ARG, 0, "init_process_group: %s", why);
  }

  pthread_mutex_lock(&g->mu);
  lt_status st = LT_OK;
  if (g->state == LT_GROUP_RUNNING)
    st = lt_error_set(LT_ERR_RUNTIME, 0,
                      "init_process_group: a process group exists already (backend %s); call destroy_process_group "
                      "first",
                      g->name);
  else if (g->state == LT_GROUP_STARTING)
    st = lt_error_set(LT_ERR_RUNTIME, 0, "init_process_group: another init_process_group is starting");
  else if (g->state == LT_GROUP_BROKEN)
    st = lt_error_set(LT_ERR_RUNTIME, 0,
                      "init_process_group: an earlier init_process_group never finished (the %s library did not "
                      "start); this process cannot start another",
                      g->name);
  const lt_comm_backend *b = NULL;
  bool local = strcmp(env.launcher, "none") == 0 && env.world_size == 1;
  if (st == LT_OK && !local) st = choose_backend(backend, &env, &b);
  if (st != LT_OK) {
    pthread_mutex_unlock(&g->mu);
    return st;
  }
  g->env = env;
  g->backend = b;
  g->bstate = NULL;
  snprintf(g->name, sizeof g->name, "%s", local ? "local" : b->name);
  g->timeout_s = timeout_s;
  g->head = g->tail = g->running = NULL;
  g->seq = 0;
  g->failed = false;
  g->fail_msg[0] = '\0';
  g->aborted = false;
  g->cuda_index = -1;
  if (local) {
    g->state = LT_GROUP_RUNNING;
    pthread_mutex_unlock(&g->mu);
    return LT_OK;
  }
  g->state = LT_GROUP_STARTING;
  if (strcmp(b->name, "mpi") == 0) mpi_started = true;
  st = lt_dist_thread_start();
  if (st != LT_OK) {
    g->state = LT_GROUP_NONE;
    pthread_mutex_unlock(&g->mu);
    return st;
  }
  /* The library's start-up waits for the other ranks; it gets the timeout
   * (with a margin for the rendezvous before it). */
  double deadline = lt_dist_now() + timeout_s * (b->make_id != NULL ? 2 : 1);
  while (!g->init_done && lt_dist_now() < deadline) lt_dist_cond_wait_until(deadline); /* the thread broadcasts */
  if (!g->init_done) {
    g->state = LT_GROUP_BROKEN;
    st = lt_error_set(LT_ERR_RUNTIME, 0,
                      "init_process_group: rank %d: the %s library did not start within %g s; another rank may have "
                      "failed to start",
                      env.rank, g->name, timeout_s);
  } else if (g->init_err[0] != '\0') {
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->thread, NULL);
    pthread_mutex_lock(&g->mu);
    g->state = LT_GROUP_NONE;
    st = lt_error_set(LT_ERR_RUNTIME, 0, "init_process_group: rank %d: the %s backend did not start: %s", env.rank,
                      g->name, g->init_err);
  } else {
    g->state = LT_GROUP_RUNNING;
  }
  pthread_mutex_unlock(&g->mu);
  return st;
}

bool lt_dist_is_initialized(void) {
  pthread_mutex_lock(&lt_dist_g.mu);
  bool r = lt_dist_g.state == LT_GROUP_RUNNING;
  pthread_mutex_unlock(&lt_dist_g.mu);
  return r;
}

const lt_dist_env *lt_dist_get_env(void) { return lt_dist_is_initialized() ? &lt_dist_g.env : NULL; }
const char *lt_dist_backend_name(void) { return lt_dist_is_initialized() ? lt_dist_g.name : NULL; }

lt_status lt_dist_finalize(void) {
  lt_dist_group *g = &lt_dist_g;
  pthread_mutex_lock(&g->mu);
  if (g->state != LT_GROUP_RUNNING) {
    lt_status st = lt_error_set(LT_ERR_RUNTIME, 0, "destroy_process_group: %s",
                                g->state == LT_GROUP_NONE ? "no process group (call init_process_group first)"
                                                          : "the process group never started");
    pthread_mutex_unlock(&g->mu);
    return st;
  }
  if (g->backend == NULL) {
    g->state = LT_GROUP_NONE;
    pthread_mutex_unlock(&g->mu);
    return LT_OK;
  }
  lt_dist_work *w = calloc(1, sizeof *w);
  if (w == NULL) {
    pthread_mutex_unlock(&g->mu);
    return lt_error_set(LT_ERR_OOM, 0, "destroy_process_group: out of memory");
  }
  w->kind = LT_WORK_FINALIZE;
  w->seq = ++g->seq;
  lt_dist_thread_push(w);
  lt_status st = lt_dist_thread_wait(w);
  if (!w->done) { /* timed out, and the backend's abort returned: the thread is stuck */
    g->state = LT_GROUP_BROKEN;
    pthread_mutex_unlock(&g->mu);
    return st;
  }
  pthread_mutex_unlock(&g->mu);
  pthread_join(g->thread, NULL);
  pthread_mutex_lock(&g->mu);
  g->state = LT_GROUP_NONE;
  g->backend = NULL;
  pthread_mutex_unlock(&g->mu);
  free(w);
  return st;
}

void lt_dist_abort(int code) {
  lt_dist_group *g = &lt_dist_g;
  pthread_mutex_lock(&g->mu);
  const lt_comm_backend *b = g->backend;
  void *state = g->bstate;
  bool library = g->state != LT_GROUP_NONE && b != NULL;
  int rank = g->env.rank;
  pthread_mutex_unlock(&g->mu);
  if (!library) return;
  fprintf(stderr, "luatrain: rank %d: aborting the job (exit code %d)\n", rank, code);
  fflush(stderr);
  fflush(stdout);
  if (state != NULL) b->abort(state, code);
  _exit(code);
}

/* --- collectives --------------------------------------------------------------------- */

static lt_status check_group(const char *fn) {
  lt_dist_group *g = &lt_dist_g;
  if (g->state != LT_GROUP_RUNNING)
    return lt_error_set(LT_ERR_RUNTIME, 0, "%s: no process group (call init_process_group first)", fn);
  if (g->failed) return lt_error_set(LT_ERR_RUNTIME, 0, "%s: the process group failed earlier: %s", fn, g->fail_msg);
  return LT_OK;
}

/* The checks of one tensor argument (mu held); `what` names it in messages. */
static lt_status check_tensor(const char *fn, int arg, const lt_tensor *t, const char *what) {
  lt_dist_group *g = &lt_dist_g;
  if (t == NULL) return lt_error_set(LT_ERR_ARG, arg, "%s: expected a tensor", fn);
  if (!lt_tensor_is_contiguous(t)) {
    char shape[96], strides[96];
    return lt_error_set(LT_ERR_ARG, arg,
                        "%s: %s is not contiguous (shape %s, strides %s); collectives take contiguous tensors: "
                        "call :contiguous() first",
                        fn, what, lt_shape_str(t->ndim, t->shape, shape, sizeof shape),
                        lt_shape_str(t->ndim, t->stride, strides, sizeof strides));
  }
  if (t->dtype == LT_BOOL)
    return lt_error_set(LT_ERR_ARG, arg, "%s: %s is a bool tensor, which collectives do not take (convert it to uint8)",
                        fn, what);
  if ((unsigned)t->dtype >= LT_NDTYPES) return lt_error_set(LT_ERR_ARG, arg, "%s: %s has an unknown dtype", fn, what);
  if (g->backend == NULL) return LT_OK; /* local: any device */
  lt_device d = lt_tensor_device(t);
  bool gpu = g->backend->device_buffers;
  if (gpu ? d.type == LT_CUDA && (g->cuda_index < 0 || d.index == g->cuda_index) : d.type == LT_CPU) return LT_OK;
  char dev[32]; /* the device's name, for the messages only */
  lt_device_str(d, dev, sizeof dev);
  if (!gpu)
    return lt_error_set(LT_ERR_ARG, arg,
                        "%s: %s is on %s, and the %s backend takes CPU tensors; use the nccl backend for GPU tensors", fn,
                        what, dev, g->name);
  if (d.type != LT_CUDA)
    return lt_error_set(LT_ERR_ARG, arg, "%s: %s is on %s, and the %s backend takes GPU tensors (move it with :cuda())",
                        fn, what, dev, g->name);
  return lt_error_set(LT_ERR_ARG, arg, "%s: %s is on %s, but this process group works on cuda:%d (one GPU a process)",
                      fn, what, dev, g->cuda_index);
}

static lt_status check_op(const char *fn, int arg, lt_comm_op op, lt_dtype dt) {
  if ((unsigned)op >= LT_COMM_OP_COUNT) return lt_error_set(LT_ERR_ARG, arg, "%s: unknown reduction op %d", fn, (int)op);
  if (op == LT_COMM_AVG && !lt_dtype_is_floating(dt))
    return lt_error_set(LT_ERR_ARG, arg,
                        "%s: AVG of %s tensors is not supported (an average of integers is not one); reduce with SUM "
                        "and divide",
                        fn, lt_dtype_name(dt));
  return LT_OK;
}

/* Bytes [p, p + n) and [q, q + m) overlap. */
static bool overlap(const void *p, size_t n, const void *q, size_t m) {
  const char *a = p, *b = q;
  return n > 0 && m > 0 && a < b + m && b < a + n;
}

/* out = in for the local group, elementwise (same dtype and count). */
static lt_status local_copy(lt_tensor *out, const lt_tensor *in) {
  int64_t n = lt_tensor_numel(out);
  if (n == 0) return LT_OK;
  const lt_backend *be;
  LT_TRY(lt_backend_for(lt_tensor_device(out), &be));
  lt_tensor *vo = NULL, *vi = NULL;
  lt_status st = lt_tensor_view(out, 1, &n, &vo);
  if (st == LT_OK) st = lt_tensor_view((lt_tensor *)in, 1, &n, &vi);
  if (st == LT_OK) st = be->copy(vo, vi);
  if (vo) lt_tensor_release(vo);
  if (vi) lt_tensor_release(vi);
  return st;
}

/* Makes the work and queues it (or, for the local group, does it now).
 * mu held; the arguments are checked. */
static lt_status enqueue(lt_work_kind kind, lt_tensor *out, const lt_tensor *in, size_t count, lt_dtype dtype,
                         lt_comm_op op, int root, lt_dist_work **work) {
  lt_dist_group *g = &lt_dist_g;
  lt_dist_work *w = calloc(1, sizeof *w);
  if (w == NULL) return lt_error_set(LT_ERR_OOM, 0, "out of memory for a work handle");
  w->kind = kind;
  w->out = out;
  w->in = (lt_tensor *)in;
  w->out_ptr = out != NULL ? lt_tensor_data(out) : NULL;
  w->in_ptr = in != NULL ? lt_tensor_data(in) : NULL;
  w->count = count;
  w->dtype = dtype;
  w->op = op;
  w->root = root;
  if (g->backend == NULL) {
    lt_status st = LT_OK;
    if (kind == LT_WORK_ALL_GATHER || kind == LT_WORK_REDUCE_SCATTER) st = local_copy(out, in);
    if (st != LT_OK) {
      free(w);
      return st;
    }
    w->started_at = lt_dist_now();
    w->done = true;
  }
  w->seq = ++g->seq;
  if (out != NULL) lt_tensor_retain(out);
  if (in != NULL) lt_tensor_retain((lt_tensor *)in);
  if (g->backend != NULL) {
    if (g->backend->device_buffers && out != NULL && g->cuda_index < 0) g->cuda_index = lt_tensor_device(out).index;
    lt_dist_thread_push(w);
  }
  *work = w;
  return LT_OK;
}

/* Common start of every collective: work handle, group. mu is taken and
 * stays held on success. */
static lt_status begin(const char *fn, lt_dist_work **work) {
  if (work == NULL) return lt_error_set(LT_ERR_ARG, 0, "%s: no place for the work handle", fn);
  *work = NULL;
  pthread_mutex_lock(&lt_dist_g.mu);
  lt_status st = check_group(fn);
  if (st != LT_OK) pthread_mutex_unlock(&lt_dist_g.mu);
  return st;
}

static lt_status end(lt_status st) {
  pthread_mutex_unlock(&lt_dist_g.mu);
  return st;
}

lt_status lt_dist_all_reduce(lt_tensor *t, lt_comm_op op, lt_dist_work **work) {
  LT_TRY(begin("all_reduce", work));
  lt_status st = check_tensor("all_reduce", 1, t, "the tensor");
  if (st == LT_OK) st = check_op("all_reduce", 2, op, t->dtype);
  if (st == LT_OK) st = enqueue(LT_WORK_ALL_REDUCE, t, NULL, (size_t)lt_tensor_numel(t), t->dtype, op, 0, work);
  return end(st);
}

lt_status lt_dist_broadcast(lt_tensor *t, int src, lt_dist_work **work) {
  LT_TRY(begin("broadcast", work));
  lt_status st = check_tensor("broadcast", 1, t, "the tensor");
  int world = lt_dist_g.env.world_size;
  if (st == LT_OK && (src < 0 || src >= world))
    st = lt_error_set(LT_ERR_ARG, 2, "broadcast: src %d is out of range for world size %d (ranks are 0 to %d)", src,
                      world, world - 1);
  if (st == LT_OK) st = enqueue(LT_WORK_BROADCAST, t, NULL, (size_t)lt_tensor_numel(t), t->dtype, LT_COMM_SUM, src, work);
  return end(st);
}

/* The checks all_gather and reduce_scatter share: `big` holds world_size
 * blocks of numel(small) elements. */
static lt_status check_pair(const char *fn, const lt_tensor *out, int out_arg, const lt_tensor *in, int in_arg,
                            const lt_tensor *big, const char *big_name, const lt_tensor *small,
                            const char *small_name) {
  LT_TRY(check_tensor(fn, out_arg, out, "out"));
  LT_TRY(check_tensor(fn, in_arg, in, "the input"));
  if (out->dtype != in->dtype)
    return lt_error_set(LT_ERR_ARG, out_arg, "%s: out is %s but the input is %s", fn, lt_dtype_name(out->dtype),
                        lt_dtype_name(in->dtype));
  if (!lt_device_equal(lt_tensor_device(out), lt_tensor_device(in))) {
    char a[32], b[32];
    return lt_error_set(LT_ERR_ARG, out_arg, "%s: out is on %s but the input is on %s", fn,
                        lt_device_str(lt_tensor_device(out), a, sizeof a),
                        lt_device_str(lt_tensor_device(in), b, sizeof b));
  }
  int world = lt_dist_g.env.world_size;
  int64_t n = lt_tensor_numel(small);
  if (lt_tensor_numel(big) != n * world)
    return lt_error_set(LT_ERR_ARG, big == out ? out_arg : in_arg,
                        "%s: %s has %lld elements, expected world_size (%d) x %lld (the elements of %s) = %lld", fn,
                        big_name, (long long)lt_tensor_numel(big), world, (long long)n, small_name,
                        (long long)(n * world));
  size_t es = lt_dtype_size(out->dtype);
  if (overlap(lt_tensor_data(out), (size_t)lt_tensor_numel(out) * es, lt_tensor_data(in),
              (size_t)lt_tensor_numel(in) * es))
    return lt_error_set(LT_ERR_ARG, out_arg, "%s: out and the input share memory; give out a tensor of its own", fn);
  return LT_OK;
}

lt_status lt_dist_all_gather(lt_tensor *out, const lt_tensor *in, lt_dist_work **work) {
  LT_TRY(begin("all_gather", work));
  lt_status st = check_pair("all_gather", out, 1, in, 2, out, "out", in, "the input");
  if (st == LT_OK)
    st = enqueue(LT_WORK_ALL_GATHER, out, in, (size_t)lt_tensor_numel(in), in->dtype, LT_COMM_SUM, 0, work);
  return end(st);
}

lt_status lt_dist_reduce_scatter(lt_tensor *out, const lt_tensor *in, lt_comm_op op, lt_dist_work **work) {
  LT_TRY(begin("reduce_scatter", work));
  lt_status st = check_pair("reduce_scatter", out, 1, in, 2, in, "the input", out, "out");
  if (st == LT_OK) st = check_op("reduce_scatter", 3, op, in->dtype);
  if (st == LT_OK)
    st = enqueue(LT_WORK_REDUCE_SCATTER, out, in, (size_t)lt_tensor_numel(out), in->dtype, op, 0, work);
  return end(st);
}

lt_status lt_dist_barrier(lt_dist_work **work) {
  LT_TRY(begin("barrier", work));
  return end(enqueue(LT_WORK_BARRIER, NULL, NULL, 0, LT_FLOAT32, LT_COMM_SUM, 0, work));
}

/* --- work handles ------------------------------------------------------------------------ */

lt_status lt_dist_work_wait(lt_dist_work *work) {
  if (work == NULL) return lt_error_set(LT_ERR_ARG, 1, "wait: no work handle");
  pthread_mutex_lock(&lt_dist_g.mu);
  lt_status st = lt_dist_thread_wait(work); /* a work that failed ends the job, even when waited for late */
  pthread_mutex_unlock(&lt_dist_g.mu);
  return st;
}

bool lt_dist_work_done(const lt_dist_work *work) {
  pthread_mutex_lock(&lt_dist_g.mu);
  bool d = work != NULL && work->done;
  pthread_mutex_unlock(&lt_dist_g.mu);
  return d;
}

double lt_dist_work_started_at(const lt_dist_work *work) {
  pthread_mutex_lock(&lt_dist_g.mu);
  double t = work != NULL ? work->started_at : 0;
  pthread_mutex_unlock(&lt_dist_g.mu);
  return t;
}

void lt_dist_work_free(lt_dist_work *work) {
  if (work == NULL) return;
  pthread_mutex_lock(&lt_dist_g.mu);
  if (!work->done) (void)lt_dist_thread_wait(work);
  bool done = work->done;
  pthread_mutex_unlock(&lt_dist_g.mu);
  if (!done) return; /* still inside a library that stopped answering: left as it is */
  if (work->out != NULL) lt_tensor_release(work->out);
  if (work->in != NULL) lt_tensor_release(work->in);
  free(work);
}
