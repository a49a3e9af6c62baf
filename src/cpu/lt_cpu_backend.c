/* lt_cpu_backend.c — the CPU entry of the backend table: host memory (64-byte
 * aligned, so vector loads never split cache lines; see lt_cpu_alloc.h) and
 * the CPU kernels. */
#include "lt_cpu_alloc.h"
#include "lt_cpu_kernels.h"

extern const lt_index_kernels lt_cpu_index_kernels;
extern const lt_nn_kernels lt_cpu_nn_kernels;
extern const lt_optim_kernels lt_cpu_optim_kernels;

static lt_status cpu_alloc(lt_device dev, size_t nbytes, void **out) {
  (void)dev;
  void *p = lt_cpu_alloc_block(nbytes);
  if (!p) return lt_error_set(LT_ERR_OOM, 0, "out of host memory allocating %zu bytes", nbytes);
  *out = p;
  return LT_OK;
}

static void cpu_free(lt_device dev, void *p) {
  (void)dev;
  lt_cpu_free_block(p);
}

static lt_status cpu_sync(lt_device dev) {
  (void)dev;
  return LT_OK;
}

const lt_backend lt_cpu_backend = {
  .name = "cpu",
  .alloc = cpu_alloc,
  .free = cpu_free,
  .copy_to_host = NULL,
  .copy_from_host = NULL,
  .synchronize = cpu_sync,
  .copy = lt_cpu_copy,
  .fill = lt_cpu_fill,
  .unary = lt_cpu_unary,
  .binary = lt_cpu_binary,
  .where = lt_cpu_where,
  .reduce = lt_cpu_reduce,
  .matmul = lt_cpu_matmul,
  .rand = lt_cpu_rand,
  .index = &lt_cpu_index_kernels,
  .nn = &lt_cpu_nn_kernels,
  .optim = &lt_cpu_optim_kernels,
};
