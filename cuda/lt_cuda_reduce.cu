/* lt_cuda_reduce.cu — reductions over the middle dim of a contiguous
 * [outer, r, inner] tensor on the GPU, with the CPU's semantics
 * (src/cpu/lt_cpu_reduce.c): accumulation in double (int64, wrapping, for
 * integer sums and products), NaN propagating through max/min and the index
 * of the first NaN reported, the first index among equal extremes, var with
 * a correction, norm with any p (inf: the largest |x|, -inf: the smallest).
 *
 * Layout: output columns (o, i) are flattened to col = o*inner + i. A block
 * of bx*by = 256 threads reduces bx consecutive columns, by threads per
 * column striding along r; the by partial results meet in shared memory.
 * When there are too few columns to fill the GPU, r is split across
 * blockIdx.y and a second kernel combines the partials in order. Partial
 * results (Acc) combine exactly like sequential accumulation for sums, in
 * index order for arg-extremes, and with Chan's formula for the variance. */
#include <math.h>

#include "lt_cuda_common.cuh"

struct Acc {
  double f, m2;    /* value (sum, product, extreme, mean), Welford's M2 */
  int64_t i, idx;  /* integer value (int path), index of the extreme */
  int64_t n;       /* elements seen */
};

__device__ __forceinline__ void acc_init(Acc &a, int op) {
  a.f = (op == LT_RED_PROD || op == LT_RED_ALL) ? 1.0 : 0.0;
  a.i = op == LT_RED_PROD ? 1 : 0;
  a.m2 = 0;
  a.idx = 0;
  a.n = 0;
}

/* Is (va, ia) a better extreme than (vb, ib)? NaN beats numbers, then the
 * larger (smaller) value, then the smaller index. */
__device__ __forceinline__ bool better_f(double va, int64_t ia, double vb, int64_t ib, bool want_max) {
  bool an = va != va, bn = vb != vb;
  if (an || bn) return an && bn ? ia < ib : an;
  if (va != vb) return want_max ? va > vb : va < vb;
  return ia < ib;
}
__device__ __forceinline__ bool better_i(int64_t va, int64_t ia, int64_t vb, int64_t ib, bool want_max) {
  if (va != vb) return want_max ? va > vb : va < vb;
  return ia < ib;
}

__device__ __forceinline__ bool is_extreme(int op) {
  return op == LT_RED_MAX || op == LT_RED_MIN || op == LT_RED_ARGMAX || op == LT_RED_ARGMIN;
}
__device__ __forceinline__ bool wants_max(int op) { return op == LT_RED_MAX || op == LT_RED_ARGMAX; }

__device__ __forceinline__ void acc_add_f(Acc &a, int op, double v, int64_t j, double p) {
  switch (op) {
    case LT_RED_SUM: case LT_RED_MEAN: a.f += v; break;
    case LT_RED_PROD: a.f *= v; break;
    case LT_RED_VAR: {
      a.n++;
      double d = v - a.f;
      a.f += d / (double)a.n;
      a.m2 += d * (v - a.f);
      return;
    }
    case LT_RED_NORM: {
      double av = fabs(v);
      /* p = inf: the largest |x|; -inf: the smallest (the first element
       * seeds it, 0 would win every comparison); a NaN wins and stays */
      if (isinf(p)) { if (a.f == a.f && (a.n == 0 || av != av || (p > 0 ? av > a.f : av < a.f))) a.f = av; }
      else if (p == 2) a.f += v * v;
      else if (p == 1) a.f += av;
      else if (p == 0) a.f += v != 0;
      else a.f += pow(av, p);
      break;
    }
    case LT_RED_ANY: if (v != 0) a.f = 1; break;
    case LT_RED_ALL: if (v == 0) a.f = 0; break;
    default: /* extremes */
      if (a.n == 0 || better_f(v, j, a.f, a.idx, wants_max(op))) { a.f = v; a.idx = j; }
  }
  a.n++;
}

__device__ __forceinline__ void acc_add_i(Acc &a, int op, int64_t v, int64_t j) {
  switch (op) {
    case LT_RED_SUM: a.i = (int64_t)((uint64_t)a.i + (uint64_t)v); break;
    case LT_RED_PROD: a.i = (int64_t)((uint64_t)a.i * (uint64_t)v); break;
    default:
      if (a.n == 0 || better_i(v, j, a.i, a.idx, wants_max(op))) { a.i = v; a.idx = j; }
  }
  a.n++;
}

/* a = a (+) b */
__device__ __forceinline__ void acc_merge(Acc &a, const Acc &b, int op, bool ip, double p) {
  if (b.n == 0) return;
  if (a.n == 0) { a = b; return; }
  if (ip) {
    switch (op) {
      case LT_RED_SUM: a.i = (int64_t)((uint64_t)a.i + (uint64_t)b.i); break;
      case LT_RED_PROD: a.i = (int64_t)((uint64_t)a.i * (uint64_t)b.i); break;
      default: if (better_i(b.i, b.idx, a.i, a.idx, wants_max(op))) { a.i = b.i; a.idx = b.idx; }
    }
    a.n += b.n;
    return;
  }
  switch (op) {
    case LT_RED_SUM: case LT_RED_MEAN: a.f += b.f; break;
    case LT_RED_PROD: a.f *= b.f; break;
    case LT_RED_VAR: {
      double na = (double)a.n, nb = (double)b.n, n = na + nb, d = b.f - a.f;
      a.f += d * (nb / n);
      a.m2 += b.m2 + d * d * (na * nb / n);
      break;
    }
    case LT_RED_NORM:
      if (isinf(p)) { if (a.f == a.f && (b.f != b.f || (p > 0 ? b.f > a.f : b.f < a.f))) a.f = b.f; }
      else a.f += b.f;
      break;
    case LT_RED_ANY: a.f = (a.f != 0 || b.f != 0) ? 1 : 0; break;
    case LT_RED_ALL: a.f = (a.f != 0 && b.f != 0) ? 1 : 0; break;
    default: if (better_f(b.f, b.idx, a.f, a.idx, wants_max(op))) { a.f = b.f; a.idx = b.idx; }
  }
  a.n += b.n;
}

/* Writes the final value of one column. */
__device__ __forceinline__ void acc_store(const Acc &a, int op, bool ip, double p, int64_t r, char *out,
                                          lt_dtype odt, int64_t *idx) {
  if (idx) *idx = a.idx;
  if (!out) return;
  if (ip) {
    lt_cvt_store_i64(out, odt, a.i);
    return;
  }
  double v = a.f;
  switch (op) {
    case LT_RED_MEAN: v = a.f / (double)r; break;
    case LT_RED_VAR: {
      /* as the CPU and PyTorch: max(0, N - correction); 0/0 is NaN, x/0 inf */
      double denom = (double)r - p;
      v = a.m2 / (denom > 0 ? denom : 0.0);
      break;
    }
    case LT_RED_NORM:
      if (isinf(p) || p == 1 || p == 0) v = a.f;
      else if (p == 2) v = sqrt(a.f);
      else v = pow(a.f, 1.0 / p);
      break;
    default: break;
  }
  lt_cvt_store_f64(out, odt, v);
}

template <typename T>
__global__ void reduce_k(const T *x, int64_t outer, int64_t r, int64_t inner, int op, bool ip, double p, int64_t chunk,
                         int splits, Acc *ws, char *out, lt_dtype odt, int64_t *idx) {
  extern __shared__ Acc sm[]; /* [by][bx] */
  const int bx = blockDim.x, by = blockDim.y, tx = threadIdx.x, ty = threadIdx.y;
  const int64_t cols = outer * inner, tiles = (cols + bx - 1) / bx;
  const int64_t j0 = (int64_t)blockIdx.y * chunk, j1 = j0 + chunk < r ? j0 + chunk : r;
  const size_t oes = lt_cvt_dtype_size(odt);
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    int64_t col = tile * bx + tx;
    Acc a;
    acc_init(a, op);
    if (col < cols) {
      int64_t o = col / inner, i = col - o * inner;
      const T *base = x + o * r * inner + i;
      for (int64_t j = j0 + ty; j < j1; j += by) {
        T v = base[j * inner];
        if (ip) acc_add_i(a, op, (int64_t)ld_c(v), j);
        else acc_add_f(a, op, (double)ld_c(v), j, p);
      }
    }
    sm[ty * bx + tx] = a;
    __syncthreads();
    for (int s = by / 2; s > 0; s >>= 1) {
      if (ty < s) acc_merge(sm[ty * bx + tx], sm[(ty + s) * bx + tx], op, ip, p);
      __syncthreads();
    }
    if (ty == 0 && col < cols) {
      if (splits == 1) acc_store(sm[tx], op, ip, p, r, out ? out + col * (int64_t)oes : NULL, odt, idx ? idx + col : NULL);
      else ws[(int64_t)blockIdx.y * cols + col] = sm[tx];
    }
    __syncthreads();
  }
}

__global__ void reduce_combine_k(const Acc *ws, int splits, int64_t cols, int op, bool ip, double p, int64_t r,
                                 char *out, lt_dtype odt, int64_t *idx) {
  const size_t oes = lt_cvt_dtype_size(odt);
  for (int64_t col = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; col < cols;
       col += (int64_t)gridDim.x * blockDim.x) {
    Acc a = ws[col];
    for (int y = 1; y < splits; y++) acc_merge(a, ws[(int64_t)y * cols + col], op, ip, p);
    acc_store(a, op, ip, p, r, out ? out + col * (int64_t)oes : NULL, odt, idx ? idx + col : NULL);
  }
}

static int np2(int64_t v, int cap) {
  int p = 1;
  while (p < cap && p < v) p <<= 1;
  return p;
}

template <typename T>
static lt_status reduce_run(lt_cuda_ctx *c, int op, bool ip, const lt_tensor *out, const lt_tensor *idx,
                            const lt_tensor *x, int64_t outer, int64_t r, int64_t inner, double p) {
  int64_t cols = outer * inner;
  if (cols == 0) return LT_OK;
  int bx0 = inner == 1 ? 1 : np2(inner, 32);
  int by = np2(r, LT_CU_THREADS / bx0), bx = LT_CU_THREADS / by;
  int64_t tiles = (cols + bx - 1) / bx;
  int64_t want = (int64_t)c->sm_count * 4;
  int splits = 1;
  if (tiles < want && r > (int64_t)by * 32) {
    int64_t s = (want + tiles - 1) / tiles, most = (r + (int64_t)by * 32 - 1) / ((int64_t)by * 32);
    if (s > most) s = most;
    if (s > 1024) s = 1024;
    splits = (int)s;
  }
  int64_t chunk = (r + splits - 1) / splits;
  splits = (int)((r + chunk - 1) / chunk);
  Acc *ws = NULL;
  if (splits > 1) LT_TRY(lt_cuda_malloc(c, (size_t)splits * (size_t)cols * sizeof(Acc), (void **)&ws));
  unsigned gx = (unsigned)(tiles < 65535 * 16 ? tiles : 65535 * 16);
  dim3 grid(gx, (unsigned)splits), block((unsigned)bx, (unsigned)by);
  char *op_out = out ? data_of(out) : NULL;
  lt_dtype odt = out ? out->dtype : LT_INT64;
  int64_t *op_idx = idx ? (int64_t *)data_of(idx) : NULL;
  reduce_k<T><<<grid, block, sizeof(Acc) * LT_CU_THREADS, c->stream>>>((const T *)data_of(x), outer, r, inner, op, ip, p,
                                                                       chunk, splits, ws, op_out, odt, op_idx);
  lt_status st = lt_cuda_after_launch(c, "reduce_k", __FILE__, __LINE__);
  if (st == LT_OK && splits > 1) {
    reduce_combine_k<<<grid_for(c, cols, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(ws, splits, cols, op, ip, p,
                                                                                         r, op_out, odt, op_idx);
    st = lt_cuda_after_launch(c, "reduce_combine_k", __FILE__, __LINE__);
  }
  lt_cuda_free_async(c, ws);
  return st;
}

static_assert(LT_RED_COUNT == LT_RED_ALL + 1 && LT_RED_ALL == 10,
              "a new reduction: give the accumulators and the finish step its case, then count it here");

extern "C" lt_status lt_cuda_reduce(lt_reduce_op op, lt_tensor *out, lt_tensor *idx, const lt_tensor *x, int64_t outer,
                                    int64_t r, int64_t inner, double param) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  if (r <= 0) return lt_error_set(LT_ERR_RUNTIME, 0, "reduce kernel: empty reduction (the op layer fills those)");
  bool integral = x->dtype != LT_FLOAT32 && x->dtype != LT_FLOAT64 && x->dtype != LT_BFLOAT16 &&
                  x->dtype != LT_FLOAT16;
  bool ip = integral && (op == LT_RED_SUM || op == LT_RED_PROD || op == LT_RED_MAX || op == LT_RED_MIN ||
                         op == LT_RED_ARGMAX || op == LT_RED_ARGMIN);
  LT_CU_DISPATCH(x->dtype, T, return reduce_run<T>(c, op, ip, out, idx, x, outer, r, inner, param));
  return LT_OK;
}
