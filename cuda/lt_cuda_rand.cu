/* lt_cuda_rand.cu — uniform and normal fills from the Philox stream, with
 * the CPU backend's element-to-block mapping (lt_philox.h): element i of a
 * fill starting at block `first` uses word i%4 of block first + i/4. One
 * thread computes one block and writes its four elements (for_each_word,
 * lt_cuda_common.cuh), so a fill of n elements on the GPU equals the CPU's
 * for the same seed: bit for bit for uniform float32, and to the last bit of
 * the device's libm for normals. The arithmetic uses explicitly rounded
 * intrinsics (__fmul_rn, __dadd_rn, ...) so the compiler cannot fuse a
 * multiply and an add into an FMA the CPU does not perform. Dropout masks,
 * the same walk: lt_cuda_act.cu. */
#include "lt_cuda_common.cuh"

/* out: contiguous, dtype odt; normal: a + b*z, uniform: a + (b-a)*u */
__global__ void rand_k(char *out, lt_dtype odt, int64_t n, uint64_t seed, uint64_t first, bool normal, double a,
                       double b) {
  const size_t es = lt_cvt_dtype_size(odt);
  const double width = __dsub_rn(b, a);
  const float af = (float)a, wf = (float)width;
  for_each_word(n, seed, first, [=](int64_t i, const lt_philox4 &w, int j) {
    char *o = out + i * (int64_t)es;
    if (normal) {
      lt_cvt_store_f64(o, odt, __dadd_rn(a, __dmul_rn(b, lt_philox_normal4(w.w, j))));
    } else if (odt == LT_FLOAT32) {
      *(float *)o = __fadd_rn(af, __fmul_rn(wf, lt_philox_u01f(w.w[j])));
    } else {
      lt_cvt_store_f64(o, odt, __dadd_rn(a, __dmul_rn(width, lt_philox_u01d(w.w[j]))));
    }
  });
}

extern "C" lt_status lt_cuda_rand(lt_rand_kind kind, lt_tensor *out, uint64_t seed, uint64_t first_block, double a,
                                  double b) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(out, &c));
  bool normal = kind == LT_RAND_NORMAL;
  if (lt_cuda_capturing())
    return lt_cuda_graph_refuse(normal ? "random numbers on the GPU (randn)" : "random numbers on the GPU (rand)", LT_CUDA_RNG_WHY);
  int64_t n = numel_of(out);
  if (n == 0) return LT_OK;
  int64_t nblocks = (n + 3) / 4;
  rand_k<<<grid_for(c, nblocks, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(data_of(out), out->dtype, n, seed,
                                                                               first_block, normal, a, b);
  LT_CUDA_LAUNCHED(c, "rand_k");
  return LT_OK;
}
