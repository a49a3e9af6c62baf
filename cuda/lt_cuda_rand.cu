/* lt_cuda_rand.cu — uniform and normal fills and dropout masks from the
 * Philox stream, with the CPU backend's element-to-block mapping
 * (lt_philox.h): element i of a fill starting at block `first` uses word i%4
 * of block first + i/4. One thread computes one block and writes its four
 * elements, so a fill of n elements on the GPU equals the CPU's for the same
 * seed: bit for bit for uniform float32 and for masks, and to the last bit
 * of the device's libm for normals. The arithmetic uses explicitly rounded
 * intrinsics (__fmul_rn, __dadd_rn, ...) so the compiler cannot fuse a
 * multiply and an add into an FMA the CPU does not perform. */
#include "lt_cuda_common.cuh"
#include "lt_philox.h"

/* The walk of a fill of n elements: a grid-stride loop in which a thread
 * draws Philox block first + blk and calls put(i, w, j) for its elements
 * i = 4*blk + j < n, each to use word j of the block w. */
template <typename Put>
__device__ __forceinline__ void for_each_word(int64_t n, uint64_t seed, uint64_t first, Put put) {
  const int64_t nblocks = (n + 3) / 4;
  for (int64_t blk = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; blk < nblocks;
       blk += (int64_t)gridDim.x * blockDim.x) {
    lt_philox4 w = lt_philox_block4(seed, first + (uint64_t)blk);
#pragma unroll
    for (int j = 0; j < 4; j++) {
      int64_t i = blk * 4 + j;
      if (i >= n) break;
      put(i, w, j);
    }
  }
}

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

/* mask[i] = u_i >= p ? 1/(1-p) : 0, u as lt_philox.h defines it for the
 * mask's dtype (float64: 32-bit uniform in double; otherwise float32's). */
__global__ void dropout_k(char *mask, lt_dtype odt, int64_t n, uint64_t seed, uint64_t first, double p, double scale) {
  const size_t es = lt_cvt_dtype_size(odt);
  const float pf = (float)p, sf = (float)scale;
  for_each_word(n, seed, first, [=](int64_t i, const lt_philox4 &w, int j) {
    char *o = mask + i * (int64_t)es;
    if (odt == LT_FLOAT64) *(double *)o = lt_philox_u01d(w.w[j]) >= p ? scale : 0.0;
    else if (odt == LT_FLOAT32) *(float *)o = lt_philox_u01f(w.w[j]) >= pf ? sf : 0.0f;
    else lt_cvt_store_f64(o, odt, lt_philox_u01f(w.w[j]) >= pf ? (double)sf : 0.0);
  });
}

/* The seed and the stream offset travel by value: a captured RNG kernel
 * would draw the same numbers at every replay. */
static const char *const rng_why = "the graph would repeat the same random numbers at every replay";

extern "C" lt_status lt_cuda_rand(lt_rand_kind kind, lt_tensor *out, uint64_t seed, uint64_t first_block, double a,
                                  double b) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(out, &c));
  bool normal = kind == LT_RAND_NORMAL;
  if (lt_cuda_capturing())
    return lt_cuda_graph_refuse(normal ? "random numbers on the GPU (randn)" : "random numbers on the GPU (rand)", rng_why);
  int64_t n = numel_of(out);
  if (n == 0) return LT_OK;
  int64_t nblocks = (n + 3) / 4;
  rand_k<<<grid_for(c, nblocks, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(data_of(out), out->dtype, n, seed,
                                                                               first_block, normal, a, b);
  LT_CUDA_LAUNCHED(c, "rand_k");
  return LT_OK;
}

extern "C" lt_status lt_cuda_dropout_mask(lt_tensor *mask, double p, uint64_t seed, uint64_t first_block) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(mask, &c));
  if (lt_cuda_capturing()) return lt_cuda_graph_refuse("dropout on the GPU (a random mask)", rng_why);
  int64_t n = numel_of(mask);
  if (n == 0) return LT_OK;
  int64_t nblocks = (n + 3) / 4;
  dropout_k<<<grid_for(c, nblocks, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
      data_of(mask), mask->dtype, n, seed, first_block, p, 1.0 / (1.0 - p));
  LT_CUDA_LAUNCHED(c, "dropout_k");
  return LT_OK;
}
