/* lt_cuda_index.cu — the index kernels of the CUDA backend
 * (lt_backend_index.h): index_select, gather, scatter (assign or add), sort
 * and topk (cub's segmented radix sort), cumsum, over tensors of any strides.
 *
 * Index values count from `base` (0, or 1 for a user's Lua index tensor).
 * A bad index cannot be returned without the host waiting, so kernels record
 * the first one they meet (lt_cuda_internal.h) and it is reported at the next
 * synchronisation, with the CPU's message ("index V is out of range for
 * dimension D of size S"); which bad index is named when there are several
 * depends on thread timing. scatter checks every index in a first kernel
 * and writes nothing if one is bad, as the contract asks.
 *
 * scatter and cumsum walk whole lines along `dim`, one thread per line:
 * duplicates of an index can only collide within a line, so the last one
 * in row-major order wins and sums accumulate in the CPU's order, without
 * atomics. A scatter-add with few, long lines (a 1-D index_add_) instead
 * adds element-parallel with atomics: faster, but the order of float sums
 * then varies from run to run. */
#include <math.h>
#include <string.h>

#include <cub/device/device_segmented_radix_sort.cuh>

#include "lt_cuda_common.cuh"

/* --- index_select and gather ----------------------------------------------------------------------------------
 * out[p] = x[p with p[dim] = index[p] - base]; the index is read through
 * its own strides (for index_select: its 1-D stride along dim, 0 elsewhere). */
struct PickGeo {
  int ndim, dim;
  int64_t shape[LT_MAX_DIMS];
  int64_t os[LT_MAX_DIMS], xs[LT_MAX_DIMS], is[LT_MAX_DIMS];
  int64_t limit; /* x's size along dim */
  int64_t base;  /* what index value means position 0 */
};

template <typename U>
__global__ void pick_k(U *out, const U *x, const int64_t *index, PickGeo g, int64_t n, int op, lt_cuda_derr *err) {
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
    int64_t r = e, oo = 0, xo = 0, io = 0;
    for (int d = g.ndim - 1; d >= 0; d--) {
      int64_t i = r % g.shape[d];
      r /= g.shape[d];
      oo += i * g.os[d];
      io += i * g.is[d];
      if (d != g.dim) xo += i * g.xs[d];
    }
    int64_t v = index[io] - g.base;
    if (v < 0 || v >= g.limit) {
      derr_record(err, LT_CU_DERR_INDEX, op, v, g.dim, g.limit);
      continue;
    }
    out[oo] = x[xo + v * g.xs[g.dim]];
  }
}

static lt_status pick(lt_cuda_ctx *c, const lt_tensor *out, const lt_tensor *x, int dim,
                      const int64_t *istride, const int64_t *index, int64_t base, int op) {
  int64_t n = numel_of(out);
  if (n == 0) return LT_OK;
  PickGeo g;
  g.ndim = out->ndim;
  g.dim = dim;
  g.limit = x->ndim ? x->shape[dim] : 1;
  g.base = base;
  for (int d = 0; d < out->ndim; d++) {
    g.shape[d] = out->shape[d];
    g.os[d] = out->stride[d];
    g.xs[d] = x->stride[d];
    g.is[d] = istride[d];
  }
  if (out->ndim == 0) { /* a 0-d x: one element, index must be 0 */
    g.ndim = 1;
    g.shape[0] = 1;
    g.os[0] = g.xs[0] = g.is[0] = 0;
    g.dim = 0;
  }
  unsigned grid = grid_for(c, n, LT_CU_THREADS);
  switch (lt_cvt_dtype_size(out->dtype)) {
    case 1: pick_k<uint8_t><<<grid, LT_CU_THREADS, 0, c->stream>>>((uint8_t *)data_of(out), (const uint8_t *)data_of(x), index, g, n, op, c->derr); break;
    case 2: pick_k<uint16_t><<<grid, LT_CU_THREADS, 0, c->stream>>>((uint16_t *)data_of(out), (const uint16_t *)data_of(x), index, g, n, op, c->derr); break;
    case 4: pick_k<uint32_t><<<grid, LT_CU_THREADS, 0, c->stream>>>((uint32_t *)data_of(out), (const uint32_t *)data_of(x), index, g, n, op, c->derr); break;
    default: pick_k<uint64_t><<<grid, LT_CU_THREADS, 0, c->stream>>>((uint64_t *)data_of(out), (const uint64_t *)data_of(x), index, g, n, op, c->derr); break;
  }
  LT_CUDA_LAUNCHED(c, "pick_k");
  return LT_OK;
}

extern "C" lt_status lt_cuda_index_select(lt_tensor *out, const lt_tensor *x, int dim, const lt_tensor *index,
                                          int64_t base) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  int64_t is[LT_MAX_DIMS] = {0};
  if (out->ndim > 0) is[dim] = index->ndim ? index->stride[0] : 0;
  return pick(c, out, x, dim, is, (const int64_t *)data_of(index), base, LT_CU_OP_INDEX_SELECT);
}

extern "C" lt_status lt_cuda_gather(lt_tensor *out, const lt_tensor *x, int dim, const lt_tensor *index, int64_t base) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  return pick(c, out, x, dim, index->stride, (const int64_t *)data_of(index), base, LT_CU_OP_GATHER);
}

/* --- lines along a dim ---------------------------------------------------------------------------------------------
 * LineGeo: the dims other than `dim` of an iteration shape, with up to three
 * operands' strides; line l's first element of operand k is at off[k]. */
struct LineGeo {
  int nouter;
  int64_t oshape[LT_MAX_DIMS];
  int64_t ostride[3][LT_MAX_DIMS];
  int64_t dstride[3]; /* along dim */
  int64_t len;        /* the iteration shape's size along dim */
  int64_t lines;
};

__device__ __forceinline__ void line_off(const LineGeo &g, int64_t line, int64_t *off) {
  off[0] = off[1] = off[2] = 0;
  for (int d = g.nouter - 1; d >= 0; d--) {
    int64_t i = line % g.oshape[d];
    line /= g.oshape[d];
    for (int k = 0; k < 3; k++) off[k] += i * g.ostride[k][d];
  }
}

static void line_geo(LineGeo &g, int nops, const lt_tensor *const *ops, int ndim, const int64_t *shape, int dim) {
  memset(&g, 0, sizeof g);
  g.lines = 1;
  g.len = ndim ? shape[dim] : 1;
  for (int k = 0; k < nops; k++) g.dstride[k] = ndim ? ops[k]->stride[dim] : 0;
  for (int d = 0; d < ndim; d++) {
    if (d == dim) continue;
    g.oshape[g.nouter] = shape[d];
    for (int k = 0; k < nops; k++) g.ostride[k][g.nouter] = ops[k]->stride[d];
    g.nouter++;
    g.lines *= shape[d];
  }
}

/* --- scatter --------------------------------------------------------------------------------------------------------- */
/* Every index of the index tensor (any strides) checked; flag set if one is bad. */
__global__ void check_index_k(const int64_t *index, Geo<1> g, int64_t n, int64_t base, int64_t limit, int dim,
                              int *flag, lt_cuda_derr *err) {
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
    int64_t off[1];
    geo_off<1, int64_t>(g, e, off);
    int64_t v = index[off[0]] - base;
    if (v < 0 || v >= limit) {
      *flag = 1;
      derr_record(err, LT_CU_DERR_INDEX, LT_CU_OP_SCATTER, v, dim, limit);
    }
  }
}

/* x = x (+) s for one element; U the element type */
template <typename U> __device__ __forceinline__ void add_into(U *d, U s) { *d = St<U>::f(ld_c(*d) + ld_c(s)); }
template <> __device__ __forceinline__ void add_into<bool>(bool *d, bool s) { *d = *d || s; }

/* ops: x, index, src; one thread per line, sequential along it */
template <typename U>
__global__ void scatter_lines_k(U *x, const int64_t *index, int64_t base, const U *src, LineGeo g, bool add,
                                const int *flag) {
  if (*flag) return;
  for (int64_t line = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; line < g.lines;
       line += (int64_t)gridDim.x * blockDim.x) {
    int64_t off[3];
    line_off(g, line, off);
    for (int64_t i = 0; i < g.len; i++) {
      int64_t v = index[off[1] + i * g.dstride[1]] - base;
      U *d = x + off[0] + v * g.dstride[0];
      U s = src[off[2] + i * g.dstride[2]];
      if (add) add_into<U>(d, s);
      else *d = s;
    }
  }
}

__device__ __forceinline__ void atomic_add_el(float *p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add_el(double *p, double v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add_el(bf16 *p, bf16 v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add_el(f16 *p, f16 v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add_el(int32_t *p, int32_t v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add_el(int64_t *p, int64_t v) {
  atomicAdd((unsigned long long *)p, (unsigned long long)v);
}
/* bytes: compare-and-swap on the aligned 32-bit word holding them */
__device__ __forceinline__ void atomic_byte(uint8_t *p, uint8_t v, bool logical_or) {
  unsigned int *w = (unsigned int *)((uintptr_t)p & ~(uintptr_t)3);
  unsigned int shift = (unsigned int)((uintptr_t)p & 3) * 8, old = *w, assumed;
  do {
    assumed = old;
    unsigned int b = (assumed >> shift) & 0xffu;
    unsigned int nb = logical_or ? (unsigned int)(b != 0 || v != 0) : ((b + v) & 0xffu);
    old = atomicCAS(w, assumed, (assumed & ~(0xffu << shift)) | (nb << shift));
  } while (assumed != old);
}
__device__ __forceinline__ void atomic_add_el(uint8_t *p, uint8_t v) { atomic_byte(p, v, false); }
__device__ __forceinline__ void atomic_add_el(bool *p, bool v) { atomic_byte((uint8_t *)p, (uint8_t)v, true); }

/* element-parallel scatter-add (iteration over the index's elements) */
template <typename T>
__global__ void scatter_add_atomic_k(T *x, const int64_t *index, int64_t base, const T *src, LineGeo g,
                                     const int *flag) {
  if (*flag) return;
  const int64_t total = g.lines * g.len;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    int64_t line = e / g.len, i = e - line * g.len, off[3];
    line_off(g, line, off);
    int64_t v = index[off[1] + i * g.dstride[1]] - base;
    atomic_add_el(x + off[0] + v * g.dstride[0], src[off[2] + i * g.dstride[2]]);
  }
}

template <typename T>
static lt_status scatter_run(lt_cuda_ctx *c, const lt_tensor *x, const lt_tensor *index, int64_t base,
                             const lt_tensor *src, bool add, const LineGeo &g, const int *flag) {
  if (add && g.lines < (int64_t)c->sm_count * 32 && g.len >= 64) {
    int64_t total = g.lines * g.len;
    scatter_add_atomic_k<T><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (T *)data_of(x), (const int64_t *)data_of(index), base, (const T *)data_of(src), g, flag);
    LT_CUDA_LAUNCHED(c, "scatter_add_atomic_k");
  } else {
    scatter_lines_k<T><<<grid_for(c, g.lines, 128), 128, 0, c->stream>>>(
        (T *)data_of(x), (const int64_t *)data_of(index), base, (const T *)data_of(src), g, add, flag);
    LT_CUDA_LAUNCHED(c, "scatter_lines_k");
  }
  return LT_OK;
}

extern "C" lt_status lt_cuda_scatter(lt_tensor *x, int dim, const lt_tensor *index, int64_t base, const lt_tensor *src,
                                     bool add) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  int64_t n = numel_of(index);
  if (n == 0) return LT_OK;
  int64_t limit = x->ndim ? x->shape[dim] : 1;
  int *flag = NULL;
  LT_TRY(lt_cuda_malloc(c, sizeof(int), (void **)&flag));
  lt_status st = LT_OK;
  cudaError_t e = cudaMemsetAsync(flag, 0, sizeof(int), c->stream);
  if (e != cudaSuccess) st = lt_cuda_fail(e, "cudaMemsetAsync(flag, 0, sizeof(int), c->stream)", __FILE__, __LINE__);
  if (st == LT_OK) {
    Geo<1> g1;
    const lt_tensor *ops1[1] = {index};
    geo_build<1>(g1, ops1);
    check_index_k<<<grid_for(c, n, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (const int64_t *)data_of(index), g1, n, base, limit, dim, flag, c->derr);
    st = lt_cuda_after_launch(c, "check_index_k", __FILE__, __LINE__);
  }
  if (st == LT_OK) {
    LineGeo g;
    const lt_tensor *ops[3] = {x, index, src};
    line_geo(g, 3, ops, index->ndim, index->shape, dim);
    switch (x->dtype) {
      case LT_FLOAT32: st = scatter_run<float>(c, x, index, base, src, add, g, flag); break;
      case LT_FLOAT64: st = scatter_run<double>(c, x, index, base, src, add, g, flag); break;
      case LT_BFLOAT16: st = scatter_run<bf16>(c, x, index, base, src, add, g, flag); break;
      case LT_FLOAT16: st = scatter_run<f16>(c, x, index, base, src, add, g, flag); break;
      case LT_INT64: st = scatter_run<int64_t>(c, x, index, base, src, add, g, flag); break;
      case LT_INT32: st = scatter_run<int32_t>(c, x, index, base, src, add, g, flag); break;
      case LT_UINT8: st = scatter_run<uint8_t>(c, x, index, base, src, add, g, flag); break;
      case LT_BOOL: st = scatter_run<bool>(c, x, index, base, src, add, g, flag); break;
      default: st = lt_error_set(LT_ERR_RUNTIME, 0, "scatter on cuda: unknown dtype %d", (int)x->dtype);
    }
  }
  lt_cuda_free_async(c, flag);
  return st;
}

/* --- sort ----------------------------------------------------------------------------------------------------------------
 * Keys whose unsigned order is the sort order (the CPU's key_f64): sign-
 * flipped IEEE bits of the value as a double (NaN the largest key, -0.0 equal
 * to 0.0), offset-binary for integers; descending sorts the complement. The
 * radix sort is stable and positions start in order, so ties keep their
 * order of position in both directions. */
__device__ __forceinline__ uint64_t key_f64(double v) {
  if (v != v) return ~0ull;
  if (v == 0) v = 0.0;
  uint64_t b = (uint64_t)__double_as_longlong(v);
  return (b >> 63) ? ~b : b | (1ull << 63);
}

template <typename T>
__global__ void sort_keys_k(uint64_t *keys, int64_t *pos, const T *x, LineGeo g, bool descending) {
  const int64_t total = g.lines * g.len;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    int64_t line = e / g.len, i = e - line * g.len, off[3];
    line_off(g, line, off);
    T v = x[off[0] + i * g.dstride[0]];
    uint64_t k = IsFloat<T>::value ? key_f64((double)ld_c(v)) : ((uint64_t)(int64_t)ld_c(v) ^ (1ull << 63));
    keys[e] = descending ? ~k : k;
    pos[e] = i;
  }
}

__global__ void segment_offsets_k(int *off, int64_t lines, int64_t len) {
  for (int64_t l = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; l <= lines; l += (int64_t)gridDim.x * blockDim.x)
    off[l] = (int)(l * len);
}

/* values/indices [.., k, ..] from the first k sorted positions of each line */
template <typename U>
__global__ void sort_write_k(U *values, int64_t *indices, const U *x, const int64_t *pos, LineGeo g, int64_t k,
                             int64_t base) {
  const int64_t total = g.lines * k;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < total; e += (int64_t)gridDim.x * blockDim.x) {
    int64_t line = e / k, j = e - line * k, off[3];
    line_off(g, line, off);
    int64_t p = pos[line * g.len + j];
    values[off[1] + j * g.dstride[1]] = x[off[0] + p * g.dstride[0]];
    indices[off[2] + j * g.dstride[2]] = p + base;
  }
}

extern "C" lt_status lt_cuda_sort(lt_tensor *values, lt_tensor *indices, const lt_tensor *x, int dim, bool descending,
                                  int64_t base) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  int64_t total = numel_of(x), k = values->ndim ? values->shape[dim] : 1;
  if (total == 0 || k == 0) return LT_OK;
  if (total > 0x7fffffff)
    return lt_error_set(LT_ERR_ARG, 0, "sort on cuda: %lld elements is more than cub's radix sort takes (2^31-1)",
                        (long long)total);
  LineGeo g;
  const lt_tensor *ops[3] = {x, values, indices};
  line_geo(g, 3, ops, x->ndim, x->shape, dim);
  /* one buffer: keys in/out, positions in/out, segment offsets, then cub's scratch */
  size_t nk = (size_t)total, keys_b = nk * sizeof(uint64_t), pos_b = nk * sizeof(int64_t);
  size_t off_b = ((size_t)g.lines + 1) * sizeof(int);
  off_b = (off_b + 255) & ~(size_t)255;
  size_t scratch = 0;
  cudaError_t e = cub::DeviceSegmentedRadixSort::SortPairs(
      NULL, scratch, (const uint64_t *)NULL, (uint64_t *)NULL, (const int64_t *)NULL, (int64_t *)NULL, (int)total,
      (int)g.lines, (const int *)NULL, (const int *)NULL, 0, 64, c->stream);
  if (e != cudaSuccess) return lt_cuda_fail(e, "cub::DeviceSegmentedRadixSort::SortPairs (size query)", __FILE__, __LINE__);
  char *buf = NULL;
  LT_TRY(lt_cuda_malloc(c, 2 * keys_b + 2 * pos_b + off_b + scratch, (void **)&buf));
  uint64_t *kin = (uint64_t *)buf, *kout = (uint64_t *)(buf + keys_b);
  int64_t *pin = (int64_t *)(buf + 2 * keys_b), *pout = (int64_t *)(buf + 2 * keys_b + pos_b);
  int *offs = (int *)(buf + 2 * keys_b + 2 * pos_b);
  void *tmp = buf + 2 * keys_b + 2 * pos_b + off_b;
  lt_status st = LT_OK;
  switch (x->dtype) {
    case LT_FLOAT32: sort_keys_k<float><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(kin, pin, (const float *)data_of(x), g, descending); break;
    case LT_FLOAT64: sort_keys_k<double><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(kin, pin, (const double *)data_of(x), g, descending); break;
    case LT_BFLOAT16: sort_keys_k<bf16><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(kin, pin, (const bf16 *)data_of(x), g, descending); break;
    case LT_FLOAT16: sort_keys_k<f16><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(kin, pin, (const f16 *)data_of(x), g, descending); break;
    case LT_INT64: sort_keys_k<int64_t><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(kin, pin, (const int64_t *)data_of(x), g, descending); break;
    case LT_INT32: sort_keys_k<int32_t><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(kin, pin, (const int32_t *)data_of(x), g, descending); break;
    case LT_UINT8: sort_keys_k<uint8_t><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(kin, pin, (const uint8_t *)data_of(x), g, descending); break;
    default: sort_keys_k<bool><<<grid_for(c, total, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(kin, pin, (const bool *)data_of(x), g, descending); break;
  }
  st = lt_cuda_after_launch(c, "sort_keys_k", __FILE__, __LINE__);
  if (st == LT_OK) {
    segment_offsets_k<<<grid_for(c, g.lines + 1, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(offs, g.lines, g.len);
    st = lt_cuda_after_launch(c, "segment_offsets_k", __FILE__, __LINE__);
  }
  if (st == LT_OK) {
    /* the iterator types of the size query above, so both calls are one instantiation */
    e = cub::DeviceSegmentedRadixSort::SortPairs(tmp, scratch, (const uint64_t *)kin, kout, (const int64_t *)pin, pout,
                                                 (int)total, (int)g.lines, (const int *)offs, (const int *)offs + 1, 0,
                                                 64, c->stream);
    if (e != cudaSuccess) st = lt_cuda_fail(e, "cub::DeviceSegmentedRadixSort::SortPairs", __FILE__, __LINE__);
  }
  if (st == LT_OK) {
    int64_t nw = g.lines * k;
    unsigned grid = grid_for(c, nw, LT_CU_THREADS);
    int64_t *ip = (int64_t *)data_of(indices);
    switch (lt_cvt_dtype_size(x->dtype)) {
      case 1: sort_write_k<uint8_t><<<grid, LT_CU_THREADS, 0, c->stream>>>((uint8_t *)data_of(values), ip, (const uint8_t *)data_of(x), pout, g, k, base); break;
      case 2: sort_write_k<uint16_t><<<grid, LT_CU_THREADS, 0, c->stream>>>((uint16_t *)data_of(values), ip, (const uint16_t *)data_of(x), pout, g, k, base); break;
      case 4: sort_write_k<uint32_t><<<grid, LT_CU_THREADS, 0, c->stream>>>((uint32_t *)data_of(values), ip, (const uint32_t *)data_of(x), pout, g, k, base); break;
      default: sort_write_k<uint64_t><<<grid, LT_CU_THREADS, 0, c->stream>>>((uint64_t *)data_of(values), ip, (const uint64_t *)data_of(x), pout, g, k, base); break;
    }
    st = lt_cuda_after_launch(c, "sort_write_k", __FILE__, __LINE__);
  }
  lt_cuda_free_async(c, buf);
  return st;
}

/* --- cumsum -----------------------------------------------------------------------------------------------------------
 * One thread per line, accumulating in double (floating x) or wrapping
 * int64 (integral x) in the CPU's order, rounding each output once. */
template <typename T, typename O>
__global__ void cumsum_k(O *out, const T *x, LineGeo g, bool reverse) {
  for (int64_t line = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; line < g.lines;
       line += (int64_t)gridDim.x * blockDim.x) {
    int64_t off[3];
    line_off(g, line, off);
    int64_t start = reverse ? g.len - 1 : 0, step = reverse ? -1 : 1;
    if (IsFloat<T>::value) {
      double acc = 0;
      for (int64_t c = 0, i = start; c < g.len; c++, i += step) {
        acc += (double)ld_c(x[off[1] + i * g.dstride[1]]);
        out[off[0] + i * g.dstride[0]] = St<O>::f(acc);
      }
    } else {
      uint64_t acc = 0;
      for (int64_t c = 0, i = start; c < g.len; c++, i += step) {
        acc += (uint64_t)(int64_t)ld_c(x[off[1] + i * g.dstride[1]]);
        out[off[0] + i * g.dstride[0]] = St<O>::f((int64_t)acc);
      }
    }
  }
}

extern "C" lt_status lt_cuda_cumsum(lt_tensor *out, const lt_tensor *x, int dim, bool reverse) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  if (numel_of(x) == 0) return LT_OK;
  LineGeo g;
  const lt_tensor *ops[2] = {out, x};
  line_geo(g, 2, ops, x->ndim, x->shape, dim);
  unsigned grid = grid_for(c, g.lines, 128);
  switch (x->dtype) {
    case LT_FLOAT32: cumsum_k<float, float><<<grid, 128, 0, c->stream>>>((float *)data_of(out), (const float *)data_of(x), g, reverse); break;
    case LT_FLOAT64: cumsum_k<double, double><<<grid, 128, 0, c->stream>>>((double *)data_of(out), (const double *)data_of(x), g, reverse); break;
    case LT_BFLOAT16: cumsum_k<bf16, bf16><<<grid, 128, 0, c->stream>>>((bf16 *)data_of(out), (const bf16 *)data_of(x), g, reverse); break;
    case LT_FLOAT16: cumsum_k<f16, f16><<<grid, 128, 0, c->stream>>>((f16 *)data_of(out), (const f16 *)data_of(x), g, reverse); break;
    case LT_INT64: cumsum_k<int64_t, int64_t><<<grid, 128, 0, c->stream>>>((int64_t *)data_of(out), (const int64_t *)data_of(x), g, reverse); break;
    case LT_INT32: cumsum_k<int32_t, int64_t><<<grid, 128, 0, c->stream>>>((int64_t *)data_of(out), (const int32_t *)data_of(x), g, reverse); break;
    case LT_UINT8: cumsum_k<uint8_t, int64_t><<<grid, 128, 0, c->stream>>>((int64_t *)data_of(out), (const uint8_t *)data_of(x), g, reverse); break;
    default: cumsum_k<bool, int64_t><<<grid, 128, 0, c->stream>>>((int64_t *)data_of(out), (const bool *)data_of(x), g, reverse); break;
  }
  LT_CUDA_LAUNCHED(c, "cumsum_k");
  return LT_OK;
}
