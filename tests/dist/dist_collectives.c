/* dist_collectives.c — the process group over the MPI plugin, run by ctest
 * under mpirun with 2 and 3 processes (tests/dist/run_mpi.sh). Every
 * collective on CPU tensors, checked against a formula on every rank and
 * for bitwise equality between the ranks (each rank all-gathers its
 * result's bytes and compares the blocks): all_reduce SUM/AVG/MAX/MIN in
 * float32, float64 and bfloat16 (and float16 and the integers at small
 * sizes) at 0, 1, 2^20+3 elements and at more than 25 MB; broadcast from
 * rank 1; all_gather; reduce_scatter; barrier; three all_reduces queued
 * before any is waited for, which run in order; the refusals that are
 * checked before anything is queued; and the shutdown, after which MPI
 * cannot start again. Each rank prints its tally; a failed check makes the
 * job exit non-zero. */
#include <stdlib.h>
#include <string.h>

#include "lt_dist.h"
#include "lt_test.h"

static int rank, world;

static lt_tensor *make(int64_t n, lt_dtype dt) {
  lt_tensor *t = NULL;
  if (lt_tensor_empty(1, &n, dt, lt_cpu_device(), &t) != LT_OK) {
    fprintf(stderr, "rank %d: %s\n", rank, lt_error_message());
    exit(2);
  }
  return t;
}

/* Waits and frees the work *wp that the call returning st made (a pointer:
 * the call's argument &w is written before finish reads it). */
static int finish(lt_status st, lt_dist_work **wp) {
  lt_dist_work *w = *wp;
  if (st != LT_OK) {
    fprintf(stderr, "rank %d: queueing failed: %s\n", rank, lt_error_message());
    return 0;
  }
  st = lt_dist_work_wait(w);
  if (st != LT_OK) fprintf(stderr, "rank %d: wait failed: %s\n", rank, lt_error_message());
  lt_dist_work_free(w);
  return st == LT_OK;
}

/* The bytes of t are the same on every rank. */
static int same_everywhere(const lt_tensor *t) {
  int64_t nb = lt_tensor_numel(t) * (int64_t)lt_dtype_size(t->dtype);
  if (nb == 0) return 1;
  lt_tensor *mine = make(nb, LT_UINT8), *all = make(nb * world, LT_UINT8);
  memcpy(lt_tensor_data(mine), lt_tensor_data(t), (size_t)nb);
  lt_dist_work *w;
  int ok = finish(lt_dist_all_gather(all, mine, &w), &w);
  for (int r = 0; ok && r < world; r++)
    if (memcmp((char *)lt_tensor_data(all) + r * nb, lt_tensor_data(mine), (size_t)nb) != 0) ok = 0;
  lt_tensor_release(mine);
  lt_tensor_release(all);
  return ok;
}

/* Rank r's element i: small multiples of 0.5 around 0, exact in every
 * floating dtype and in their sums. */
static double value(int r, int64_t i) { return (double)((i % 7) - 3 + r) * 0.5; }

static double expected(lt_comm_op op, int64_t i, lt_dtype dt) {
  double sum = 0;
  for (int r = 0; r < world; r++) sum += value(r, i);
  switch (op) {
    case LT_COMM_SUM: return sum;
    case LT_COMM_MAX: return value(world - 1, i);
    case LT_COMM_MIN: return value(0, i);
    default: break;
  }
  /* AVG: the sum divided in the dtype's precision (float32 for the 16-bit types) */
  if (dt == LT_FLOAT64) return sum / world;
  float q = (float)sum / (float)world;
  if (dt == LT_BFLOAT16) return lt_bf16_to_f32(lt_f32_to_bf16(q));
  if (dt == LT_FLOAT16) return lt_f16_to_f32(lt_f32_to_f16(q));
  return q;
}

static const char *op_name(lt_comm_op op) {
  static const char *const n[] = {"SUM", "AVG", "MAX", "MIN"};
  return n[op];
}

static void check_all_reduce(lt_dtype dt, lt_comm_op op, int64_t n) {
  lt_tensor *t = make(n, dt);
  char *p = lt_tensor_data(t);
  size_t es = lt_dtype_size(dt);
  int integral = !lt_dtype_is_floating(dt);
  for (int64_t i = 0; i < n; i++) {
    double v = value(rank, i);
    if (integral) lt_dtype_store_f64(p + i * es, dt, v * 2 + 8); /* 2..20: positive, also for uint8 */
    else lt_dtype_store_f64(p + i * es, dt, v);
  }
  lt_dist_work *w;
  int ok = finish(lt_dist_all_reduce(t, op, &w), &w);
  int64_t bad = 0;
  for (int64_t i = 0; ok && i < n; i++) {
    double e = expected(op, i, dt), got = lt_dtype_load_f64(p + i * es, dt);
    if (integral) e = op == LT_COMM_SUM ? e * 2 + 8.0 * world : e * 2 + 8;
    if (got != e && bad++ < 3)
      fprintf(stderr, "rank %d: all_reduce %s %s n=%lld: [%lld] = %g, expected %g\n", rank, op_name(op),
              lt_dtype_name(dt), (long long)n, (long long)i, got, e);
  }
  LT_CHECK(ok && bad == 0);
  LT_CHECK(same_everywhere(t));
  lt_tensor_release(t);
}

int main(void) {
  double t0 = lt_dist_now();
  if (lt_dist_init("mpi", 120) != LT_OK) {
    fprintf(stderr, "init failed: %s\n", lt_error_message());
    return 1;
  }
  const lt_dist_env *env = lt_dist_get_env();
  rank = env->rank;
  world = env->world_size;
  LT_CHECK(strcmp(lt_dist_backend_name(), "mpi") == 0 && strcmp(env->launcher, "openmpi") == 0);
  LT_CHECK(world >= 2);
  double t_init = lt_dist_now() - t0;

  /* all_reduce: every op in float32, float64 and bfloat16 at every size;
   * float16 and the integers at small sizes (the integers without AVG) */
  const int64_t sizes[] = {0, 1, (1 << 20) + 3};
  const lt_dtype floats[] = {LT_FLOAT32, LT_FLOAT64, LT_BFLOAT16};
  for (size_t d = 0; d < 3; d++) {
    int64_t big = (int64_t)(25.5 * 1024 * 1024) / (int64_t)lt_dtype_size(floats[d]) + 1; /* > 25 MB */
    for (int op = 0; op < LT_COMM_OP_COUNT; op++) {
      for (size_t s = 0; s < 3; s++) check_all_reduce(floats[d], (lt_comm_op)op, sizes[s]);
      check_all_reduce(floats[d], (lt_comm_op)op, big);
    }
  }
  for (int op = 0; op < LT_COMM_OP_COUNT; op++) check_all_reduce(LT_FLOAT16, (lt_comm_op)op, 1001);
  const lt_dtype ints[] = {LT_INT64, LT_INT32, LT_UINT8};
  for (size_t d = 0; d < 3; d++) {
    check_all_reduce(ints[d], LT_COMM_SUM, 1001);
    check_all_reduce(ints[d], LT_COMM_MAX, 1001);
    check_all_reduce(ints[d], LT_COMM_MIN, 1);
  }
  double t_reduce = lt_dist_now() - t0 - t_init;

  /* broadcast from rank 1 */
  for (int64_t n = 0; n <= (1 << 20); n = n ? n * 1024 : 1) {
    lt_tensor *t = make(n, LT_FLOAT32);
    float *p = lt_tensor_data(t);
    for (int64_t i = 0; i < n; i++) p[i] = (float)(rank * 1000000 + i);
    lt_dist_work *w;
    int ok = finish(lt_dist_broadcast(t, 1, &w), &w);
    for (int64_t i = 0; ok && i < n; i++) ok = p[i] == (float)(1000000 + i);
    LT_CHECK(ok);
    LT_CHECK(same_everywhere(t));
    lt_tensor_release(t);
  }

  /* all_gather: rank r's block at r * n */
  for (int64_t n = 0; n <= 1000; n = n ? n * 1000 : 1) {
    lt_tensor *in = make(n, LT_FLOAT64), *out = make(n * world, LT_FLOAT64);
    double *pi = lt_tensor_data(in), *po = lt_tensor_data(out);
    for (int64_t i = 0; i < n; i++) pi[i] = rank * 1e6 + (double)i;
    lt_dist_work *w;
    int ok = finish(lt_dist_all_gather(out, in, &w), &w);
    for (int r = 0; ok && r < world; r++)
      for (int64_t i = 0; ok && i < n; i++) ok = po[r * n + i] == r * 1e6 + (double)i;
    LT_CHECK(ok);
    lt_tensor_release(in);
    lt_tensor_release(out);
  }

  /* reduce_scatter: SUM and AVG, float32 and bfloat16 */
  for (int k = 0; k < 4; k++) {
    lt_dtype dt = k < 2 ? LT_FLOAT32 : LT_BFLOAT16;
    lt_comm_op op = k % 2 ? LT_COMM_AVG : LT_COMM_SUM;
    int64_t n = 777;
    lt_tensor *in = make(n * world, dt), *out = make(n, dt);
    char *pi = lt_tensor_data(in), *po = lt_tensor_data(out);
    size_t es = lt_dtype_size(dt);
    for (int64_t j = 0; j < n * world; j++) lt_dtype_store_f64(pi + j * es, dt, (double)(rank + j % 50));
    lt_dist_work *w;
    int ok = finish(lt_dist_reduce_scatter(out, in, op, &w), &w);
    for (int64_t i = 0; ok && i < n; i++) {
      double sum = 0;
      for (int r = 0; r < world; r++) sum += r + (rank * n + i) % 50;
      double e = op == LT_COMM_SUM ? sum : (double)((float)sum / (float)world);
      if (dt == LT_BFLOAT16) e = lt_bf16_to_f32(lt_f32_to_bf16((float)e));
      ok = lt_dtype_load_f64(po + i * es, dt) == e;
      if (!ok) fprintf(stderr, "rank %d: reduce_scatter %s [%lld] = %g, expected %g\n", rank, op_name(op),
                       (long long)i, lt_dtype_load_f64(po + i * es, dt), e);
    }
    LT_CHECK(ok);
    lt_tensor_release(in);
    lt_tensor_release(out);
  }

  /* three all_reduces queued before any is waited for: they run in order */
  {
    lt_tensor *t[3];
    lt_dist_work *w[3];
    int queued = 1;
    for (int k = 0; k < 3; k++) {
      t[k] = make(300000, LT_FLOAT32);
      float *p = lt_tensor_data(t[k]);
      for (int i = 0; i < 300000; i++) p[i] = (float)(k + 1);
      queued &= lt_dist_all_reduce(t[k], LT_COMM_SUM, &w[k]) == LT_OK;
    }
    LT_CHECK(queued);
    int ok = 1;
    double prev = 0;
    for (int k = 0; queued && k < 3; k++) {
      ok &= lt_dist_work_wait(w[k]) == LT_OK && lt_dist_work_done(w[k]);
      double s = lt_dist_work_started_at(w[k]);
      ok &= s > 0 && s >= prev;
      prev = s;
      float *p = lt_tensor_data(t[k]);
      ok &= p[0] == (float)((k + 1) * world) && p[299999] == (float)((k + 1) * world);
      lt_dist_work_free(w[k]);
    }
    LT_CHECK(ok);
    for (int k = 0; k < 3; k++) lt_tensor_release(t[k]);
  }

  /* barrier, and a zero-element all_reduce between two others, in order */
  {
    lt_dist_work *w;
    LT_CHECK(finish(lt_dist_barrier(&w), &w));
    lt_tensor *a = make(5, LT_FLOAT32), *z = make(0, LT_FLOAT32);
    lt_dist_work *w1, *w2, *w3;
    for (int i = 0; i < 5; i++) ((float *)lt_tensor_data(a))[i] = 1;
    LT_CHECK(lt_dist_all_reduce(a, LT_COMM_SUM, &w1) == LT_OK && lt_dist_all_reduce(z, LT_COMM_SUM, &w2) == LT_OK &&
             lt_dist_all_reduce(a, LT_COMM_SUM, &w3) == LT_OK);
    LT_CHECK(lt_dist_work_wait(w3) == LT_OK && lt_dist_work_done(w1) && lt_dist_work_done(w2));
    LT_CHECK(((float *)lt_tensor_data(a))[4] == (float)(world * world));
    lt_dist_work_free(w1);
    lt_dist_work_free(w2);
    lt_dist_work_free(w3);
    lt_tensor_release(a);
    lt_tensor_release(z);
  }

  /* refusals, before anything is queued (the same on every rank) */
  {
    lt_tensor *f = make(6, LT_FLOAT32), *i64 = make(6, LT_INT64), *b = make(6, LT_BOOL), *tr = NULL;
    lt_dist_work *w = (lt_dist_work *)1;
    LT_CHECK(lt_dist_all_reduce(i64, LT_COMM_AVG, &w) == LT_ERR_ARG && w == NULL &&
             strstr(lt_error_message(), "all_reduce: AVG of int64 tensors is not supported") != NULL);
    LT_CHECK(lt_dist_all_reduce(b, LT_COMM_SUM, &w) == LT_ERR_ARG &&
             strstr(lt_error_message(), "all_reduce: the tensor is a bool tensor") != NULL);
    int64_t sh[2] = {2, 3};
    lt_tensor *m = NULL;
    LT_CHECK(lt_tensor_view(f, 2, sh, &m) == LT_OK && lt_tensor_transpose(m, 0, 1, &tr) == LT_OK);
    LT_CHECK(lt_dist_all_reduce(tr, LT_COMM_SUM, &w) == LT_ERR_ARG &&
             strstr(lt_error_message(), "all_reduce: the tensor is not contiguous (shape [3,2], strides [1,3])") !=
                 NULL);
    LT_CHECK(lt_dist_broadcast(f, world, &w) == LT_ERR_ARG && lt_error_arg() == 2 &&
             strstr(lt_error_message(), "broadcast: src") != NULL);
    LT_CHECK(lt_dist_all_gather(f, f, &w) == LT_ERR_ARG && strstr(lt_error_message(), "expected world_size") != NULL);
    lt_tensor *g = make(6 * world, LT_FLOAT64);
    LT_CHECK(lt_dist_all_gather(g, f, &w) == LT_ERR_ARG &&
             strstr(lt_error_message(), "all_gather: out is float64 but the input is float32") != NULL);
    LT_CHECK(lt_dist_reduce_scatter(f, g, LT_COMM_SUM, &w) == LT_ERR_ARG);
    lt_tensor_release(g);
    lt_tensor_release(m);
    lt_tensor_release(tr);
    lt_tensor_release(f);
    lt_tensor_release(i64);
    lt_tensor_release(b);
  }
  double t_all = lt_dist_now() - t0;

  /* the shutdown; MPI cannot start twice in a process */
  LT_CHECK(lt_dist_finalize() == LT_OK && !lt_dist_is_initialized());
  LT_CHECK(lt_dist_init("mpi", 10) == LT_ERR_RUNTIME && strstr(lt_error_message(), "MPI cannot start twice") != NULL);
  LT_CHECK(lt_dist_finalize() == LT_ERR_RUNTIME && strstr(lt_error_message(), "no process group") != NULL);
  printf("rank %d of %d: init %.2f s, all_reduce checks %.2f s, all %.2f s; ", rank, world, t_init, t_reduce, t_all);
  return lt_test_done();
}
