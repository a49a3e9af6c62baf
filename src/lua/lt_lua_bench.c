/* lt_lua_bench.c — the reference kernels the bench/ scripts compare luatrain with,
 * measured in the same run: OpenBLAS's sgemm called directly, the C
 * library's memcpy, and a monotonic clock. Exposed as lt._bench.sgemm(a, b, c),
 * lt._bench.memcpy(dst, src) and lt._bench.now().
 *
 * Not part of the tensor API: no autograd, no broadcasting, no dtype
 * conversion; operands must already be contiguous CPU tensors of the right
 * dtype and shape, which is checked so a wrong call raises instead of
 * reading out of bounds. */
#include <cblas.h>
#include <string.h>
#include <time.h>

#include "lt_cpu_iter.h"
#include "lt_lua.h"

/* A contiguous CPU tensor argument. */
static lt_tensor *check_plain(lua_State *L, int idx, const char *fname) {
  lt_tensor *t = lt_lua_check_tensor(L, idx, fname);
  if (lt_tensor_device(t).type != LT_CPU) lt_lua_argerror(L, idx, fname, "expected a CPU tensor");
  if (!lt_tensor_is_contiguous(t)) lt_lua_argerror(L, idx, fname, "expected a contiguous tensor");
  return t;
}

/* sgemm(a [M,K], b [K,N], c [M,N]): c = a @ b, all float32, row-major. */
static int b_sgemm(lua_State *L) {
  const char *fname = "_bench.sgemm";
  lt_tensor *a = check_plain(L, 1, fname), *b = check_plain(L, 2, fname), *c = check_plain(L, 3, fname);
  for (int i = 1; i <= 3; i++) {
    lt_tensor *t = i == 1 ? a : (i == 2 ? b : c);
    if (t->dtype != LT_FLOAT32 || t->ndim != 2)
      lt_lua_argerror(L, i, fname, "expected a 2-D float32 tensor, got a %d-D %s tensor", t->ndim, lt_dtype_name(t->dtype));
  }
  int64_t M = a->shape[0], K = a->shape[1], N = b->shape[1];
  if (b->shape[0] != K) lt_lua_argerror(L, 2, fname, "inner sizes %lld and %lld differ", (long long)K, (long long)b->shape[0]);
  if (c->shape[0] != M || c->shape[1] != N)
    lt_lua_argerror(L, 3, fname, "expected a [%lld,%lld] output", (long long)M, (long long)N);
  if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX) lt_lua_argerror(L, 1, fname, "matrix too large for BLAS");
  /* OpenBLAS at its best: its own threads, one per core of the CPU
   * backend's team (luatrain itself runs it single-threaded) */
  openblas_set_num_threads(lt_cpu_num_threads());
  if (M && N && K)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, lt_tensor_data(a),
                (int)(K ? K : 1), lt_tensor_data(b), (int)(N ? N : 1), 0.0f, lt_tensor_data(c), (int)(N ? N : 1));
  openblas_set_num_threads(1);
  return 0;
}

/* memcpy(dst, src): the bytes of src into dst (same byte count). */
static int b_memcpy(lua_State *L) {
  const char *fname = "_bench.memcpy";
  lt_tensor *d = check_plain(L, 1, fname), *s = check_plain(L, 2, fname);
  size_t nd = (size_t)lt_tensor_numel(d) * lt_dtype_size(d->dtype), ns = (size_t)lt_tensor_numel(s) * lt_dtype_size(s->dtype);
  if (nd != ns) lt_lua_argerror(L, 2, fname, "source holds %zu bytes, destination %zu", ns, nd);
  if (nd) memcpy(lt_tensor_data(d), lt_tensor_data(s), nd);
  return 0;
}

/* now(): seconds on the monotonic clock. */
static int b_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
  return 1;
}

void lt_lua_open_bench(lua_State *L, int methods) {
  (void)methods;
  static const luaL_Reg fns[] = {{"sgemm", b_sgemm}, {"memcpy", b_memcpy}, {"now", b_now}, {NULL, NULL}};
  luaL_newlib(L, fns);
  lua_setfield(L, -2, "_bench");
}
