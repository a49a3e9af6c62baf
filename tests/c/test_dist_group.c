/* test_dist_group.c — the process group (src/dist/lt_dist.c,
 * lt_dist_thread.c, lt_dist_plugin.c) without MPI or a GPU:
 *   - the local group of a process started without a launcher, its
 *     collectives (done at once: copies for all_gather/reduce_scatter) and
 *     the checks every collective makes before anything is queued;
 *   - the registry of lt_comm.c, and which backend init picks ("auto");
 *   - the communication thread, queue, rendezvous and timeout, through a
 *     fake library registered as "nccl" that works on host memory: two
 *     forked ranks exchange its id over the TCP rendezvous, run queued
 *     collectives in order, and a collective that never returns makes the
 *     wait fail after the timeout, naming the operation, and calls the
 *     library's abort;
 *   - where the MPI plugin is looked for, and the message when it is not
 *     found (the test copies itself to an empty folder and runs there).
 * The real MPI runs are tests/dist (label "mpi"). */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lt_dist.h"
#include "lt_test.h"
#include "lt_test_net.h"

static lt_tensor *vec(int64_t n, lt_dtype dt, double first) {
  lt_tensor *t = NULL;
  if (lt_tensor_empty(1, &n, dt, lt_cpu_device(), &t) != LT_OK) exit(2);
  for (int64_t i = 0; i < n; i++) lt_dtype_store_f64((char *)lt_tensor_data(t) + i * lt_dtype_size(dt), dt, first + i);
  return t;
}

static double at(const lt_tensor *t, int64_t i) {
  return lt_dtype_load_f64((char *)lt_tensor_data(t) + i * lt_dtype_size(t->dtype), t->dtype);
}

static int has(const char *needle) {
  if (strstr(lt_error_message(), needle) != NULL) return 1;
  fprintf(stderr, "  message '%s' lacks '%s'\n", lt_error_message(), needle);
  return 0;
}

static void set_world(const char *rank, const char *size) {
  if (rank) setenv("RANK", rank, 1);
  else unsetenv("RANK");
  if (size) setenv("WORLD_SIZE", size, 1);
  else unsetenv("WORLD_SIZE");
}

/* --- a fake collective library, registered as "nccl" ------------------------------------------ */

static atomic_int fake_block;    /* all_reduce blocks until aborted */
static atomic_int fake_aborted;
static int fake_usable = 1, fake_world;
static unsigned char fake_id[128];

static int fake_make_id(void *id, size_t cap, size_t *len, char *err, size_t errlen) {
  (void)err, (void)errlen;
  for (int i = 0; i < 128 && (size_t)i < cap; i++) ((unsigned char *)id)[i] = (unsigned char)(i * 7 + 3);
  *len = 128;
  return 0;
}
static int fake_init(void **state, const lt_comm_setup *s, char *err, size_t errlen) {
  if (s->id == NULL || s->id_len != 128) {
    snprintf(err, errlen, "no id (%zu bytes)", s->id_len);
    return 1;
  }
  memcpy(fake_id, s->id, 128);
  fake_world = s->world_size;
  *state = &fake_world;
  return 0;
}
/* SUM as if every rank held the same values: times the world size. */
static int fake_all_reduce(void *state, void *buf, size_t count, lt_dtype dt, lt_comm_op op, void *stream, char *err,
                           size_t errlen) {
  (void)state, (void)stream;
  while (atomic_load(&fake_block) && !atomic_load(&fake_aborted)) usleep(1000);
  if (atomic_load(&fake_aborted)) {
    snprintf(err, errlen, "aborted");
    return 1;
  }
  if (dt != LT_FLOAT32 || op != LT_COMM_SUM) {
    snprintf(err, errlen, "the fake does float32 SUM only");
    return 1;
  }
  for (size_t i = 0; i < count; i++) ((float *)buf)[i] *= (float)fake_world;
  return 0;
}
static int fake_broadcast(void *s, void *b, size_t n, lt_dtype d, int r, void *st, char *e, size_t l) {
  (void)s, (void)b, (void)n, (void)d, (void)r, (void)st, (void)e, (void)l;
  return 0;
}
static int fake_all_gather(void *s, const void *in, void *out, size_t n, lt_dtype d, void *st, char *e, size_t l) {
  (void)s, (void)st, (void)e, (void)l;
  for (int r = 0; r < fake_world; r++) memcpy((char *)out + r * n * lt_dtype_size(d), in, n * lt_dtype_size(d));
  return 0;
}
static int fake_reduce_scatter(void *s, const void *in, void *out, size_t n, lt_dtype d, lt_comm_op op, void *st,
                               char *e, size_t l) {
  (void)s, (void)op, (void)st, (void)e, (void)l;
  memcpy(out, in, n * lt_dtype_size(d));
  return 0;
}
static int fake_barrier(void *s, char *e, size_t l) {
  (void)s, (void)e, (void)l;
  return 0;
}
static void fake_abort(void *s, int code) {
  (void)s, (void)code;
  atomic_store(&fake_aborted, 1);
}
static int fake_finalize(void *s, char *e, size_t l) {
  (void)s, (void)e, (void)l;
  return 0;
}
static int fake_is_usable(char *why, size_t len) {
  if (!fake_usable) snprintf(why, len, "no GPU in this test");
  return fake_usable;
}
static const lt_comm_backend fake = {
  .name = "nccl", .device_buffers = 0, .make_id = fake_make_id, .init = fake_init,
  .all_reduce = fake_all_reduce, .broadcast = fake_broadcast, .all_gather = fake_all_gather,
  .reduce_scatter = fake_reduce_scatter, .barrier = fake_barrier, .abort = fake_abort,
  .finalize = fake_finalize, .usable = fake_is_usable,
};

/* One rank of the fake two-rank job, in a child; exits 0 when all went well. */
static void fake_rank(int rank, int port) {
  char r[8], p[8];
  snprintf(r, sizeof r, "%d", rank);
  snprintf(p, sizeof p, "%d", port);
  set_world(r, "2");
  setenv("MASTER_ADDR", "127.0.0.1", 1);
  setenv("MASTER_PORT", p, 1);
  if (lt_dist_init("auto", 1.0) != LT_OK) {
    fprintf(stderr, "rank %d: %s\n", rank, lt_error_message());
    _exit(1);
  }
  LT_CHECK(strcmp(lt_dist_backend_name(), "nccl") == 0 && lt_dist_get_env()->rank == rank);
  int id_ok = 1;
  for (int i = 0; i < 128; i++) id_ok &= fake_id[i] == (unsigned char)(i * 7 + 3);
  LT_CHECK(id_ok); /* rank 0's id reached both ranks through the rendezvous */
  /* three queued all_reduces, waited for last to first: they ran in order */
  lt_tensor *t[3];
  lt_dist_work *w[3];
  for (int k = 0; k < 3; k++) {
    t[k] = vec(1000, LT_FLOAT32, k);
    LT_CHECK(lt_dist_all_reduce(t[k], LT_COMM_SUM, &w[k]) == LT_OK);
  }
  LT_CHECK(lt_dist_work_wait(w[2]) == LT_OK && lt_dist_work_done(w[0]) && lt_dist_work_done(w[1]));
  LT_CHECK(lt_dist_work_started_at(w[0]) <= lt_dist_work_started_at(w[1]) &&
           lt_dist_work_started_at(w[1]) <= lt_dist_work_started_at(w[2]) && lt_dist_work_started_at(w[0]) > 0);
  for (int k = 0; k < 3; k++) {
    LT_CHECK(lt_dist_work_wait(w[k]) == LT_OK && at(t[k], 999) == 2 * (k + 999));
    lt_dist_work_free(w[k]);
  }
  /* a tensor released by its owner stays alive until the work is freed */
  lt_tensor *g = vec(6, LT_FLOAT32, 0), *in = vec(3, LT_FLOAT32, 5);
  lt_dist_work *wg;
  LT_CHECK(lt_dist_all_gather(g, in, &wg) == LT_OK);
  lt_tensor_release(in);
  LT_CHECK(lt_dist_work_wait(wg) == LT_OK && at(g, 3) == 5 && at(g, 5) == 7);
  lt_dist_work_free(wg);
  lt_tensor_release(g);
  /* a collective that never returns: the wait fails after the timeout
   * (1 s), names it, and aborts the library; later ones refuse */
  atomic_store(&fake_block, 1);
  lt_dist_work *wb;
  double t0 = lt_dist_now();
  LT_CHECK(lt_dist_all_reduce(t[0], LT_COMM_SUM, &wb) == LT_OK);
  LT_CHECK(lt_dist_work_wait(wb) == LT_ERR_RUNTIME);
  double took = lt_dist_now() - t0;
  char want[160];
  snprintf(want, sizeof want, "rank %d: all_reduce #5 (float32, 1000 elements) did not finish within 1 s; another rank "
           "may have failed or stopped calling collectives", rank);
  LT_CHECK(has(want) && took >= 1.0 && took < 3.0 && atomic_load(&fake_aborted));
  lt_dist_work *wn;
  LT_CHECK(lt_dist_barrier(&wn) == LT_ERR_RUNTIME && has("barrier: the process group failed earlier: rank"));
  lt_dist_work_free(wb);
  LT_CHECK(lt_dist_finalize() == LT_OK && !lt_dist_is_initialized());
  for (int k = 0; k < 3; k++) lt_tensor_release(t[k]);
  _exit(lt_test_failed != 0);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--not-found") == 0) { /* the copy in an empty folder */
    set_world("0", "2");
    unsetenv("LUATRAIN_MPI_PLUGIN");
    lt_status st = lt_dist_init("mpi", 5);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "plugin luatrain_mpi.so was not found (looked for %s/luatrain_mpi.so, ", argv[2]);
    LT_CHECK(st == LT_ERR_RUNTIME && has(want) && has("/lib/luatrain/luatrain_mpi.so)") &&
             has("apt install openmpi-bin libopenmpi-dev"));
    return lt_test_done();
  }
  unsetenv("MASTER_ADDR");
  unsetenv("MASTER_PORT");
  set_world(NULL, NULL);
  lt_dist_work *w = NULL;
  lt_tensor *a = vec(4, LT_FLOAT32, 1);

  /* no group yet */
  LT_CHECK(!lt_dist_is_initialized() && lt_dist_get_env() == NULL && lt_dist_backend_name() == NULL);
  LT_CHECK(lt_dist_all_reduce(a, LT_COMM_SUM, &w) == LT_ERR_RUNTIME && w == NULL &&
           has("all_reduce: no process group (call init_process_group first)"));
  LT_CHECK(lt_dist_finalize() == LT_ERR_RUNTIME && has("destroy_process_group: no process group"));
  lt_dist_abort(3); /* no library: returns */
  LT_CHECK(lt_dist_init("gloo", 10) == LT_ERR_ARG && lt_error_arg() == 1 &&
           has("init_process_group: unknown backend 'gloo' (expected 'mpi', 'nccl' or 'auto')"));
  LT_CHECK(lt_dist_init("mpi", 0) == LT_ERR_ARG && lt_error_arg() == 2 && has("the timeout must be a positive"));
  set_world("x", "2");
  LT_CHECK(lt_dist_init("mpi", 10) == LT_ERR_ARG && has("init_process_group: RANK='x' is not a number"));

  /* the local group: no launcher, one process, whatever the backend */
  set_world(NULL, NULL);
  LT_CHECK(lt_dist_init("mpi", 10) == LT_OK && lt_dist_is_initialized());
  LT_CHECK(strcmp(lt_dist_backend_name(), "local") == 0 && lt_dist_get_env()->world_size == 1 &&
           strcmp(lt_dist_get_env()->launcher, "none") == 0);
  LT_CHECK(lt_dist_init("mpi", 10) == LT_ERR_RUNTIME && has("a process group exists already (backend local)"));
  for (int op = 0; op < LT_COMM_OP_COUNT; op++) {
    LT_CHECK(lt_dist_all_reduce(a, (lt_comm_op)op, &w) == LT_OK && lt_dist_work_done(w) &&
             lt_dist_work_started_at(w) > 0 && lt_dist_work_wait(w) == LT_OK);
    lt_dist_work_free(w);
  }
  LT_CHECK(at(a, 0) == 1 && at(a, 3) == 4);
  LT_CHECK(lt_dist_broadcast(a, 0, &w) == LT_OK && lt_dist_work_wait(w) == LT_OK);
  lt_dist_work_free(w);
  {
    lt_tensor *o = vec(4, LT_FLOAT32, 0), *d = vec(4, LT_FLOAT64, 0), *b = vec(4, LT_BOOL, 0), *i = vec(4, LT_INT32, 0);
    LT_CHECK(lt_dist_all_gather(o, a, &w) == LT_OK && at(o, 3) == 4);
    lt_dist_work_free(w);
    lt_tensor *o2 = vec(4, LT_FLOAT32, 0);
    LT_CHECK(lt_dist_reduce_scatter(o2, a, LT_COMM_AVG, &w) == LT_OK && at(o2, 2) == 3);
    lt_dist_work_free(w);
    LT_CHECK(lt_dist_barrier(&w) == LT_OK && lt_dist_work_wait(w) == LT_OK);
    lt_dist_work_free(w);
    lt_tensor *z = vec(0, LT_FLOAT32, 0), *z2 = vec(0, LT_FLOAT32, 0);
    LT_CHECK(lt_dist_all_reduce(z, LT_COMM_SUM, &w) == LT_OK);
    lt_dist_work_free(w);
    LT_CHECK(lt_dist_all_gather(z2, z, &w) == LT_OK);
    lt_dist_work_free(w);
    /* the refusals */
    LT_CHECK(lt_dist_broadcast(a, 1, &w) == LT_ERR_ARG && lt_error_arg() == 2 &&
             has("broadcast: src 1 is out of range for world size 1 (ranks are 0 to 0)"));
    LT_CHECK(lt_dist_all_reduce(b, LT_COMM_MAX, &w) == LT_ERR_ARG &&
             has("all_reduce: the tensor is a bool tensor, which collectives do not take (convert it to uint8)"));
    LT_CHECK(lt_dist_all_reduce(i, LT_COMM_AVG, &w) == LT_ERR_ARG && lt_error_arg() == 2 &&
             has("all_reduce: AVG of int32 tensors is not supported"));
    LT_CHECK(lt_dist_reduce_scatter(i, i, LT_COMM_AVG, &w) == LT_ERR_ARG);
    LT_CHECK(lt_dist_all_reduce(a, (lt_comm_op)9, &w) == LT_ERR_ARG && has("all_reduce: unknown reduction op 9"));
    LT_CHECK(lt_dist_all_gather(d, a, &w) == LT_ERR_ARG && lt_error_arg() == 1 &&
             has("all_gather: out is float64 but the input is float32"));
    LT_CHECK(lt_dist_all_gather(a, a, &w) == LT_ERR_ARG && has("all_gather: out and the input share memory"));
    lt_tensor *o3 = vec(5, LT_FLOAT32, 0);
    LT_CHECK(lt_dist_all_gather(o3, a, &w) == LT_ERR_ARG &&
             has("all_gather: out has 5 elements, expected world_size (1) x 4 (the elements of the input) = 4"));
    LT_CHECK(lt_dist_reduce_scatter(a, o3, LT_COMM_SUM, &w) == LT_ERR_ARG && lt_error_arg() == 2 &&
             has("reduce_scatter: the input has 5 elements, expected world_size (1) x 4 (the elements of out)"));
    int64_t sh[2] = {2, 2};
    lt_tensor *m = NULL, *tr = NULL;
    LT_CHECK(lt_tensor_view(a, 2, sh, &m) == LT_OK && lt_tensor_transpose(m, 0, 1, &tr) == LT_OK);
    LT_CHECK(lt_dist_all_reduce(tr, LT_COMM_SUM, &w) == LT_ERR_ARG &&
             has("all_reduce: the tensor is not contiguous (shape [2,2], strides [1,2])"));
    LT_CHECK(lt_dist_all_reduce(a, LT_COMM_SUM, NULL) == LT_ERR_ARG && has("no place for the work handle"));
    LT_CHECK(lt_dist_work_wait(NULL) == LT_ERR_ARG);
    lt_dist_work_free(NULL);
    lt_tensor *all[] = {o, d, b, i, o2, z, z2, o3, m, tr};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) lt_tensor_release(all[k]);
  }
  LT_CHECK(lt_dist_finalize() == LT_OK && !lt_dist_is_initialized());
  LT_CHECK(lt_dist_init("nccl", 10) == LT_OK && strcmp(lt_dist_backend_name(), "local") == 0);
  LT_CHECK(lt_dist_finalize() == LT_OK);

  /* the registry, and which backend a launched process gets */
  LT_CHECK(lt_comm_find("mpi") == NULL && lt_comm_find(NULL) == NULL);
  set_world("0", "2");
  setenv("LUATRAIN_MPI_PLUGIN", "/nonexistent/luatrain_mpi.so", 1);
  if (lt_comm_find("nccl") == NULL)
    LT_CHECK(lt_dist_init("nccl", 10) == LT_ERR_RUNTIME && has("backend 'nccl' is not available"));
  LT_CHECK(lt_dist_init("mpi", 10) == LT_ERR_RUNTIME &&
           has("init_process_group: LUATRAIN_MPI_PLUGIN='/nonexistent/luatrain_mpi.so' does not exist"));
  setenv("LUATRAIN_MPI_PLUGIN", "/proc/self/status", 1);
  LT_CHECK(lt_dist_init("mpi", 10) == LT_ERR_RUNTIME &&
           has("init_process_group: cannot load the mpi backend's plugin /proc/self/status: "));
  lt_comm_register(&fake);
  LT_CHECK(lt_comm_find("nccl") == &fake);
  fake_usable = 0; /* auto: NCCL only when it says it can run */
  setenv("LUATRAIN_MPI_PLUGIN", "/nonexistent/luatrain_mpi.so", 1);
  LT_CHECK(lt_dist_init("auto", 10) == LT_ERR_RUNTIME && has("LUATRAIN_MPI_PLUGIN"));
  LT_CHECK(lt_dist_init("nccl", 10) == LT_ERR_RUNTIME && has("backend 'nccl' cannot run here: no GPU in this test"));
  fake_usable = 1;
  LT_CHECK(lt_dist_init("auto", 10) == LT_ERR_RUNTIME && has("the nccl backend needs MASTER_PORT"));
  setenv("MASTER_PORT", "29500", 1);
  setenv("LOCAL_WORLD_SIZE", "1", 1); /* two machines */
  LT_CHECK(lt_dist_init("nccl", 10) == LT_ERR_RUNTIME && has("the nccl backend needs MASTER_ADDR (rank 0's host)"));
  unsetenv("LOCAL_WORLD_SIZE");
  unsetenv("MASTER_PORT");
  unsetenv("LUATRAIN_MPI_PLUGIN");
  LT_CHECK(!lt_dist_is_initialized());

  /* two ranks over the fake library: rendezvous, queue, timeout */
  {
    int port = lt_test_free_port();
    pid_t p[2];
    for (int r = 0; r < 2; r++)
      if ((p[r] = fork()) == 0) fake_rank(r, port);
    for (int r = 0; r < 2; r++) {
      int status;
      LT_CHECK(waitpid(p[r], &status, 0) == p[r] && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
  }
  /* a rank whose peer never comes: init fails within the timeout (the rendezvous) */
  {
    int port = lt_test_free_port();
    char ps[8];
    snprintf(ps, sizeof ps, "%d", port);
    setenv("MASTER_PORT", ps, 1);
    double t0 = lt_dist_now();
    LT_CHECK(lt_dist_init("nccl", 0.5) == LT_ERR_RUNTIME &&
             has("init_process_group: rank 0: the nccl backend did not start: rendezvous: rank 0 waited 0.5 s") &&
             has("rank 1 did not come (1 of 2 ranks joined)") && lt_dist_now() - t0 < 2.5);
    LT_CHECK(!lt_dist_is_initialized());
    unsetenv("MASTER_PORT");
  }

  /* the plugin not found: this program, copied into an empty folder */
  {
    char dir[] = "/tmp/lt_dist_group_XXXXXX", exe[PATH_MAX], copy[64], cmd[2 * PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    LT_CHECK(n > 0 && mkdtemp(dir) != NULL);
    exe[n > 0 ? n : 0] = '\0';
    snprintf(copy, sizeof copy, "%s/test_dist_group", dir);
    if (snprintf(cmd, sizeof cmd, "cp '%.4000s' %s && %s --not-found %s >/dev/null", exe, copy, copy, dir) >= (int)sizeof cmd) cmd[0] = 0;
    LT_CHECK(system(cmd) == 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    LT_CHECK(system(cmd) == 0);
  }
  set_world(NULL, NULL);
  lt_tensor_release(a);
  return lt_test_done();
}
