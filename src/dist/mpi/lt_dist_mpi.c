/* lt_dist_mpi.c — the MPI plugin, luatrain_mpi.so: the "mpi" collective
 * backend (lt_comm.h) over Open MPI, for processes started by mpirun whose
 * tensors are in host memory. A shared object of its own, linked with
 * libmpi and with none of luatrain's libraries, that the distributed
 * layer opens with dlopen only when a job asks for it
 * (src/dist/lt_dist_plugin.c), so that a plain run needs no MPI. It
 * exports one function, luatrain_comm_backend (luatrain_mpi.map), which
 * returns the table.
 *
 * Every entry but abort runs on the distributed layer's communication
 * thread, which starts MPI (MPI_Init_thread, MPI_THREAD_FUNNELED: that
 * thread is MPI's main thread). abort (MPI_Abort) comes from the thread
 * that gave up waiting, while the communication thread may be blocked in a
 * collective: it ends every process of the job, which is its purpose.
 * The collectives run on a duplicate of MPI_COMM_WORLD whose error handler
 * returns errors (MPI_ERRORS_RETURN); their text (MPI_Error_string) goes
 * into err.
 *
 * Arithmetic. float32, float64 and the integers reduce with MPI's own
 * SUM; MAX and MIN of the floating dtypes are this file's operations,
 * which propagate NaN (as PyTorch's max does) and give +0 as the MAX and
 * -0 as the MIN of +0 and -0 whatever the order of the operands, so every
 * rank gets the same bits. bfloat16 and float16 travel as 16-bit words
 * and reduce with this file's operations, which widen to float32, add (or
 * compare) there and round back once per step of MPI's reduction, using
 * the project's one definition of the conversions
 * (src/core/lt_dtype_convert.h, header-only, so nothing of the core is
 * linked). AVG is the sum, then a division by the world size in the
 * dtype's precision (float32 for the 16-bit types, rounded once);
 * integer AVG is refused (the distributed layer refuses it first). MPI
 * counts are ints: all_reduce and broadcast go in chunks of 2^30 elements;
 * all_gather and reduce_scatter take at most 2^31 - 1 elements per rank. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "lt_comm.h"
#include "lt_dtype_convert.h"

#define CHUNK ((size_t)1 << 30)

typedef struct {
  MPI_Comm comm;
  int rank, size;
  int started_mpi; /* this plugin called MPI_Init_thread (and so calls MPI_Finalize) */
  /* MAX and MIN of the four floating dtypes, SUM of the 16-bit ones:
   * [dtype][op], MPI_OP_NULL where MPI's own operation serves. */
  MPI_Op ops[LT_NDTYPES][LT_COMM_OP_COUNT];
} mpi_state;

static int mpi_fail(int rc, const char *what, char *err, size_t errlen) {
  char s[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS) snprintf(s, sizeof s, "MPI error %d", rc);
  snprintf(err, errlen, "%s failed: %s", what, s);
  return 1;
}

/* --- the reduction operations ---------------------------------------------------------------- */

/* MAX/MIN of one pair that do not depend on the order: NaN wins (one
 * canonical NaN), and of +0 and -0 MAX takes +0, MIN -0. */
#define PICK_MAX(x, y, xneg, yneg) ((x) > (y) || ((x) == (y) && !(xneg) && (yneg)))
#define PICK_MIN(x, y, xneg, yneg) ((x) < (y) || ((x) == (y) && (xneg) && !(yneg)))

#define FLOAT_MINMAX(name, T, PICK, NAN_V)                                                         \
  static void name(void *in, void *inout, int *len, MPI_Datatype *dt) {                            \
    (void)dt;                                                                                      \
    const T *a = in;                                                                               \
    T *b = inout;                                                                                  \
    for (int i = 0; i < *len; i++) {                                                               \
      T x = a[i], y = b[i];                                                                        \
      if (x != x || y != y) b[i] = NAN_V;                                                          \
      else if (PICK(x, y, signbit(x), signbit(y))) b[i] = x;                                       \
    }                                                                                              \
  }
FLOAT_MINMAX(f32_max, float, PICK_MAX, NAN)
FLOAT_MINMAX(f32_min, float, PICK_MIN, NAN)
FLOAT_MINMAX(f64_max, double, PICK_MAX, (double)NAN)
FLOAT_MINMAX(f64_min, double, PICK_MIN, (double)NAN)

/* The 16-bit types, through float32 with the project's conversions: the
 * sum, and max/min (one macro, HALF_MINMAX, for both) like the float ones. */
#define HALF_MINMAX(name, TO_F32, PICK, QNAN)                                                      \
  static void name(void *in, void *inout, int *len, MPI_Datatype *dt) {                            \
    (void)dt;                                                                                      \
    const uint16_t *a = in;                                                                        \
    uint16_t *b = inout;                                                                           \
    for (int i = 0; i < *len; i++) {                                                               \
      float x = TO_F32(a[i]), y = TO_F32(b[i]);                                                    \
      if (x != x || y != y) b[i] = QNAN;                                                           \
      else if (PICK(x, y, a[i] >> 15, b[i] >> 15)) b[i] = a[i];                                    \
    }                                                                                              \
  }
#define HALF_OPS(prefix, TO_F32, FROM_F32, QNAN)                                                   \
  static void prefix##_sum(void *in, void *inout, int *len, MPI_Datatype *dt) {                    \
    (void)dt;                                                                                      \
    const uint16_t *a = in;                                                                        \
    uint16_t *b = inout;                                                                           \
    for (int i = 0; i < *len; i++) b[i] = FROM_F32(TO_F32(a[i]) + TO_F32(b[i]));                   \
  }                                                                                                \
  HALF_MINMAX(prefix##_max, TO_F32, PICK_MAX, QNAN)                                                \
  HALF_MINMAX(prefix##_min, TO_F32, PICK_MIN, QNAN)
HALF_OPS(bf16, lt_cvt_bf16_f32, lt_cvt_f32_bf16, 0x7fc0u)
HALF_OPS(f16, lt_cvt_f16_f32, lt_cvt_f32_f16, 0x7e00u)

static MPI_Datatype mpi_type(lt_dtype dt) {
  switch (dt) {
    case LT_FLOAT32: return MPI_FLOAT;
    case LT_FLOAT64: return MPI_DOUBLE;
    case LT_INT64: return MPI_INT64_T;
    case LT_INT32: return MPI_INT32_T;
    case LT_UINT8: return MPI_UINT8_T;
    case LT_BFLOAT16: case LT_FLOAT16: return MPI_UINT16_T;
    default: return MPI_DATATYPE_NULL;
  }
}

/* lt_dtype_name's words (the plugin links nothing of the core). */
static const char *dtype_name(lt_dtype dt) {
  switch (dt) {
    case LT_FLOAT32: return "float32";
    case LT_FLOAT64: return "float64";
    case LT_INT64: return "int64";
    case LT_INT32: return "int32";
    case LT_UINT8: return "uint8";
    case LT_BOOL: return "bool";
    case LT_BFLOAT16: return "bfloat16";
    case LT_FLOAT16: return "float16";
    default: return "an unknown dtype";
  }
}

static int is_floating(lt_dtype dt) {
  return dt == LT_FLOAT32 || dt == LT_FLOAT64 || dt == LT_BFLOAT16 || dt == LT_FLOAT16;
}

/* The MPI type and operation for (dtype, op); 1 with err when refused. */
static int pick(const mpi_state *s, lt_dtype dt, lt_comm_op op, MPI_Datatype *type, MPI_Op *mop, char *err,
                size_t errlen) {
  *type = mpi_type(dt);
  if (*type == MPI_DATATYPE_NULL) {
    snprintf(err, errlen, "the mpi backend does not reduce %s tensors", dtype_name(dt));
    return 1;
  }
  if ((unsigned)op >= LT_COMM_OP_COUNT) {
    snprintf(err, errlen, "unknown reduction op %d", (int)op);
    return 1;
  }
  if (op == LT_COMM_AVG && !is_floating(dt)) {
    snprintf(err, errlen, "AVG of %s tensors is not supported (reduce with SUM and divide)", dtype_name(dt));
    return 1;
  }
  lt_comm_op base = op == LT_COMM_AVG ? LT_COMM_SUM : op;
  if (s->ops[dt][base] != MPI_OP_NULL) *mop = s->ops[dt][base];
  else *mop = base == LT_COMM_SUM ? MPI_SUM : base == LT_COMM_MAX ? MPI_MAX : MPI_MIN;
  return 0;
}

/* AVG's division of n elements by the world size, in the dtype's precision. */
static void divide(void *buf, size_t n, lt_dtype dt, int size) {
  if (dt == LT_FLOAT32) {
    float *p = buf, d = (float)size;
    for (size_t i = 0; i < n; i++) p[i] /= d;
  } else if (dt == LT_FLOAT64) {
    double *p = buf, d = (double)size;
    for (size_t i = 0; i < n; i++) p[i] /= d;
  } else if (dt == LT_BFLOAT16) {
    uint16_t *p = buf;
    for (size_t i = 0; i < n; i++) p[i] = lt_cvt_f32_bf16(lt_cvt_bf16_f32(p[i]) / (float)size);
  } else if (dt == LT_FLOAT16) {
    uint16_t *p = buf;
    for (size_t i = 0; i < n; i++) p[i] = lt_cvt_f32_f16(lt_cvt_f16_f32(p[i]) / (float)size);
  }
}

/* --- the table --------------------------------------------------------------------------------- */

static void free_state(mpi_state *s) {
  for (int d = 0; d < LT_NDTYPES; d++)
    for (int o = 0; o < LT_COMM_OP_COUNT; o++)
      if (s->ops[d][o] != MPI_OP_NULL) MPI_Op_free(&s->ops[d][o]);
  if (s->comm != MPI_COMM_NULL) MPI_Comm_free(&s->comm);
  free(s);
}

static int mpi_init(void **state, const lt_comm_setup *setup, char *err, size_t errlen) {
  *state = NULL;
  int flag = 0, rc;
  MPI_Initialized(&flag);
  int started = 0;
  if (!flag) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) {
      snprintf(err, errlen, "MPI was shut down in this process already, and cannot start again");
      return 1;
    }
    int provided = 0;
    rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Init_thread", err, errlen);
    started = 1;
    if (provided < MPI_THREAD_FUNNELED) {
      snprintf(err, errlen, "the MPI library gives thread level %d, below MPI_THREAD_FUNNELED", provided);
      MPI_Finalize();
      return 1;
    }
  } else {
    /* The program started MPI on its own thread: this thread may call it
     * only if MPI serialises calls from several threads. */
    int level = 0;
    MPI_Query_thread(&level);
    if (level < MPI_THREAD_SERIALIZED) {
      snprintf(err, errlen,
               "MPI was started by the program with thread level %d; luatrain's communication thread needs "
               "MPI_THREAD_SERIALIZED or higher when it does not start MPI itself",
               level);
      return 1;
    }
  }
  mpi_state *s = calloc(1, sizeof *s);
  if (s == NULL) {
    snprintf(err, errlen, "out of memory");
    if (started) MPI_Finalize();
    return 1;
  }
  s->started_mpi = started;
  s->comm = MPI_COMM_NULL;
  for (int d = 0; d < LT_NDTYPES; d++)
    for (int o = 0; o < LT_COMM_OP_COUNT; o++) s->ops[d][o] = MPI_OP_NULL;
  /* Errors come back as codes (MPI_COMM_WORLD's handler is changed only
   * when this plugin started MPI: a program's own MPI stays as it set it). */
  if (started) MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &s->comm)) != MPI_SUCCESS) {
    mpi_fail(rc, "MPI_Comm_dup", err, errlen);
    goto fail;
  }
  MPI_Comm_set_errhandler(s->comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(s->comm, &s->rank);
  MPI_Comm_size(s->comm, &s->size);
  if (s->rank != setup->rank || s->size != setup->world_size) {
    snprintf(err, errlen,
             "MPI sees rank %d of %d processes, but the launcher's variables say rank %d of %d: start the processes "
             "with mpirun (or use the nccl backend with torchrun)",
             s->rank, s->size, setup->rank, setup->world_size);
    goto fail;
  }
  struct {
    lt_dtype dt;
    lt_comm_op op;
    MPI_User_function *fn;
  } user_ops[] = {
    {LT_FLOAT32, LT_COMM_MAX, f32_max},   {LT_FLOAT32, LT_COMM_MIN, f32_min},   {LT_FLOAT64, LT_COMM_MAX, f64_max},
    {LT_FLOAT64, LT_COMM_MIN, f64_min},   {LT_BFLOAT16, LT_COMM_SUM, bf16_sum}, {LT_BFLOAT16, LT_COMM_MAX, bf16_max},
    {LT_BFLOAT16, LT_COMM_MIN, bf16_min}, {LT_FLOAT16, LT_COMM_SUM, f16_sum},   {LT_FLOAT16, LT_COMM_MAX, f16_max},
    {LT_FLOAT16, LT_COMM_MIN, f16_min},
  };
  for (size_t i = 0; i < sizeof user_ops / sizeof user_ops[0]; i++) {
    if ((rc = MPI_Op_create(user_ops[i].fn, 1, &s->ops[user_ops[i].dt][user_ops[i].op])) != MPI_SUCCESS) {
      mpi_fail(rc, "MPI_Op_create", err, errlen);
      goto fail;
    }
  }
  *state = s;
  return 0;
fail:
  free_state(s);
  if (started) MPI_Finalize();
  return 1;
}

static int mpi_all_reduce(void *state, void *buf, size_t count, lt_dtype dtype, lt_comm_op op, void *stream,
                          char *err, size_t errlen) {
  (void)stream;
  mpi_state *s = state;
  MPI_Datatype type;
  MPI_Op mop;
  if (pick(s, dtype, op, &type, &mop, err, errlen)) return 1;
  size_t es = lt_cvt_dtype_size(dtype);
  for (size_t at = 0; at < count; at += CHUNK) {
    size_t n = count - at < CHUNK ? count - at : CHUNK;
    int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + at * es, (int)n, type, mop, s->comm);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Allreduce", err, errlen);
  }
  if (op == LT_COMM_AVG) divide(buf, count, dtype, s->size);
  return 0;
}

static int mpi_broadcast(void *state, void *buf, size_t count, lt_dtype dtype, int root, void *stream, char *err,
                         size_t errlen) {
  (void)stream;
  mpi_state *s = state;
  MPI_Datatype type = mpi_type(dtype);
  if (type == MPI_DATATYPE_NULL) {
    snprintf(err, errlen, "the mpi backend does not take %s tensors", dtype_name(dtype));
    return 1;
  }
  if (root < 0 || root >= s->size) {
    snprintf(err, errlen, "root %d is out of range for %d processes", root, s->size);
    return 1;
  }
  size_t es = lt_cvt_dtype_size(dtype);
  for (size_t at = 0; at < count; at += CHUNK) {
    size_t n = count - at < CHUNK ? count - at : CHUNK;
    int rc = MPI_Bcast((char *)buf + at * es, (int)n, type, root, s->comm);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Bcast", err, errlen);
  }
  return 0;
}

static int check_count(size_t count, char *err, size_t errlen) {
  if (count <= (size_t)INT_MAX) return 0;
  snprintf(err, errlen, "%zu elements per rank is more than MPI takes in one call (2^31 - 1): split the tensor", count);
  return 1;
}

static int mpi_all_gather(void *state, const void *in, void *out, size_t count, lt_dtype dtype, void *stream,
                          char *err, size_t errlen) {
  (void)stream;
  mpi_state *s = state;
  MPI_Datatype type = mpi_type(dtype);
  if (type == MPI_DATATYPE_NULL) {
    snprintf(err, errlen, "the mpi backend does not take %s tensors", dtype_name(dtype));
    return 1;
  }
  if (check_count(count, err, errlen)) return 1;
  int rc = MPI_Allgather(in, (int)count, type, out, (int)count, type, s->comm);
  return rc == MPI_SUCCESS ? 0 : mpi_fail(rc, "MPI_Allgather", err, errlen);
}

static int mpi_reduce_scatter(void *state, const void *in, void *out, size_t count, lt_dtype dtype, lt_comm_op op,
                              void *stream, char *err, size_t errlen) {
  (void)stream;
  mpi_state *s = state;
  MPI_Datatype type;
  MPI_Op mop;
  if (pick(s, dtype, op, &type, &mop, err, errlen) || check_count(count, err, errlen)) return 1;
  int rc = MPI_Reduce_scatter_block(in, out, (int)count, type, mop, s->comm);
  if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Reduce_scatter_block", err, errlen);
  if (op == LT_COMM_AVG) divide(out, count, dtype, s->size);
  return 0;
}

static int mpi_barrier(void *state, char *err, size_t errlen) {
  mpi_state *s = state;
  int rc = MPI_Barrier(s->comm);
  return rc == MPI_SUCCESS ? 0 : mpi_fail(rc, "MPI_Barrier", err, errlen);
}

static void mpi_abort(void *state, int code) {
  (void)state;
  MPI_Abort(MPI_COMM_WORLD, code);
}

static int mpi_finalize(void *state, char *err, size_t errlen) {
  mpi_state *s = state;
  if (s == NULL) return 0;
  int started = s->started_mpi;
  free_state(s);
  if (!started) return 0;
  int rc = MPI_Finalize();
  return rc == MPI_SUCCESS ? 0 : mpi_fail(rc, "MPI_Finalize", err, errlen);
}

static const lt_comm_backend mpi_backend = {
  .name = "mpi",
  .device_buffers = 0,
  .make_id = NULL,
  .init = mpi_init,
  .all_reduce = mpi_all_reduce,
  .broadcast = mpi_broadcast,
  .all_gather = mpi_all_gather,
  .reduce_scatter = mpi_reduce_scatter,
  .barrier = mpi_barrier,
  .abort = mpi_abort,
  .finalize = mpi_finalize,
  .usable = NULL,
};

/* The entry the distributed layer looks up (LT_COMM_PLUGIN_ENTRY). It
 * checks that the MPI library loaded is Open MPI of the major version the
 * plugin was built with (another one would have another ABI). */
__attribute__((visibility("default"))) const lt_comm_backend *luatrain_comm_backend(char *err, size_t errlen) {
#ifdef OMPI_MAJOR_VERSION
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0, major = -1;
  if (MPI_Get_library_version(version, &len) == MPI_SUCCESS) {
    const char *v = strstr(version, "Open MPI v");
    if (v != NULL) major = atoi(v + strlen("Open MPI v"));
    if (major != OMPI_MAJOR_VERSION) {
      snprintf(err, errlen, "the plugin was built for Open MPI %d, and the MPI library loaded is '%.80s'",
               OMPI_MAJOR_VERSION, version);
      return NULL;
    }
  }
#endif
  (void)err;
  (void)errlen;
  /* the entry point's type, checked against the contract */
  lt_comm_plugin_entry self = luatrain_comm_backend;
  (void)self;
  return &mpi_backend;
}
