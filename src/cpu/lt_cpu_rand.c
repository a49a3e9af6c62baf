/* lt_cpu_rand.c — uniform and normal fills from the Philox stream, following
 * the element-to-block mapping of lt_philox.h so every backend and any
 * number of threads produce the same numbers. */
#include "lt_cpu_kernels.h"
#include "lt_philox.h"

lt_status lt_cpu_rand(lt_rand_kind kind, lt_tensor *out, uint64_t seed, uint64_t first_block, double a, double b) {
  int64_t n = lt_tensor_numel(out), nblocks = (n + 3) / 4;
  char *o = (char *)lt_tensor_data(out);
  lt_dtype dt = out->dtype;
  size_t es = lt_dtype_size(dt);
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t blk = 0; blk < nblocks; blk++) {
    uint32_t w[4];
    lt_philox_block(seed, first_block + (uint64_t)blk, w);
    for (int j = 0; j < 4 && blk * 4 + j < n; j++) {
      int64_t i = blk * 4 + j;
      if (kind == LT_RAND_NORMAL) {
        lt_dtype_store_f64(o + i * (int64_t)es, dt, a + b * lt_philox_normal(w, j));
      } else if (dt == LT_FLOAT32) {
        ((float *)o)[i] = (float)a + (float)(b - a) * lt_philox_uniform_f32(w[j]);
      } else {
        lt_dtype_store_f64(o + i * (int64_t)es, dt, a + (b - a) * lt_philox_uniform_f64(w[j]));
      }
    }
  }
  return LT_OK;
}
