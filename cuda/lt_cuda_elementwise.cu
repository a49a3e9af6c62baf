/* lt_cuda_elementwise.cu — the elementwise kernels of the CUDA backend: copy
 * (strided, with dtype conversion), fill, unary, binary (comparisons too)
 * and where.
 *
 * (Activation gradients: lt_cuda_act.cu; pointwise losses: lt_cuda_loss.cu.)
 *
 * Each op has two paths, chosen on the host: a flat one when every operand
 * is one contiguous run (inputs may also be broadcast scalars, stride 0),
 * moving 16 bytes per load and store; and a strided one that maps each
 * linear index onto every operand's offset after the dimensions that are
 * contiguous for all operands have been merged (as the CPU's lt_cpu_foreach
 * does), with 32-bit index arithmetic when the count allows.
 *
 * The element type is a template argument (the LT_CU_DISPATCH switch), the op
 * a runtime argument: a switch on a value uniform across the grid costs a
 * few instructions per element of a memory-bound kernel and keeps the number
 * of instantiations (and the build time) small. Arithmetic is PyTorch's and
 * the CPU backend's (src/cpu/lt_cpu_elementwise.c): bfloat16/float16 in
 * float32, integers in int64 with wrap-around (those rules, shared with the
 * CPU: lt_elementwise_rules.h). Results may differ from the CPU's in the
 * last bits where the CPU uses double (pow, atan2). */
#include <math.h>

#include "lt_cuda_common.cuh"
#include "lt_elementwise_rules.h"

/* --- unary ------------------------------------------------------------------------------------------- */
template <typename C> __device__ __forceinline__ C un_apply(int op, C x, double p0, double p1) {
  const C one = 1, zero = 0, half = 0.5;
  switch (op) {
    case LT_UN_NEG: return -x;
    case LT_UN_ABS: return m_fabs(x);
    case LT_UN_EXP: return m_exp(x);
    case LT_UN_LOG: return m_log(x);
    case LT_UN_SQRT: return m_sqrt(x);
    case LT_UN_RSQRT: return one / m_sqrt(x);
    case LT_UN_SIN: return m_sin(x);
    case LT_UN_COS: return m_cos(x);
    case LT_UN_TANH: return m_tanh(x);
    case LT_UN_SIGMOID: return one / (one + m_exp(-x));
    case LT_UN_RELU: return x > zero ? x : (x != x ? x : zero);
    case LT_UN_FLOOR: return m_floor(x);
    case LT_UN_CEIL: return m_ceil(x);
    case LT_UN_ROUND: return m_rint(x); /* half to even */
    case LT_UN_SIGN: return x > zero ? one : (x < zero ? -one : zero); /* 0 for NaN and -0, as the CPU */
    case LT_UN_RECIPROCAL: return one / x;
    case LT_UN_SQUARE: return x * x;
    case LT_UN_LOGICAL_NOT: return x == zero ? one : zero;
    case LT_UN_ISNAN: return x != x ? one : zero;
    case LT_UN_CLAMP: {
      if (x != x) return x;
      const C lo = (C)p0, hi = (C)p1;
      if (p0 == p0 && x < lo) x = lo;
      if (p1 == p1 && x > hi) x = hi;
      return x;
    }
    case LT_UN_POW_SCALAR: return m_pow(x, (C)p0);
    case LT_UN_RPOW_SCALAR: return m_pow((C)p0, x);
    case LT_UN_LEAKY_RELU: return x > zero ? x : x * (C)p0;
    case LT_UN_GELU: return half * x * (one + m_erf(x * (C)0.7071067811865476));
    case LT_UN_GELU_TANH: {
      const C k = (C)0.7978845608028654, a = (C)0.044715;
      return half * x * (one + m_tanh(k * (x + a * x * x * x)));
    }
    case LT_UN_SILU: return x / (one + m_exp(-x));
    default: return (C)NAN;
  }
}

/* the integers' rules are the CPU's (lt_elementwise_rules.h) */
__device__ __forceinline__ int64_t un_apply(int op, int64_t x, double p0, double p1) {
  return lt_unary_i64((lt_unary_op)op, x, p0, p1);
}

template <typename T, typename O, int N>
__global__ void unary_flat(int op, O *out, const T *x, int64_t n, double p0, double p1) {
  int64_t tid = blockIdx.x * (int64_t)blockDim.x + threadIdx.x, step = (int64_t)gridDim.x * blockDim.x;
  int64_t nv = n / N;
  for (int64_t v = tid; v < nv; v += step) {
    Vec<T, N> a = reinterpret_cast<const Vec<T, N> *>(x)[v];
    Vec<O, N> r;
#pragma unroll
    for (int j = 0; j < N; j++) r.v[j] = St<O>::f(un_apply(op, ld_c(a.v[j]), p0, p1));
    reinterpret_cast<Vec<O, N> *>(out)[v] = r;
  }
  for (int64_t i = nv * N + tid; i < n; i += step) out[i] = St<O>::f(un_apply(op, ld_c(x[i]), p0, p1));
}

template <typename T, typename O, typename I>
__global__ void unary_strided(int op, O *out, const T *x, Geo<2> g, int64_t n, double p0, double p1) {
  I tid = (I)(blockIdx.x * blockDim.x + threadIdx.x), step = (I)(gridDim.x * blockDim.x);
  for (I i = tid; i < (I)n; i += step) {
    int64_t off[2];
    geo_off<2, I>(g, i, off);
    out[off[0]] = St<O>::f(un_apply(op, ld_c(x[off[1]]), p0, p1));
  }
}

template <typename T, typename O>
static lt_status unary_run(lt_cuda_ctx *c, int op, const lt_tensor *out, const lt_tensor *x, double p0,
                           double p1) {
  Geo<2> g;
  const lt_tensor *ops[2] = {out, x};
  int64_t n = geo_build<2>(g, ops);
  if (n == 0) return LT_OK;
  const int N = VecN<T, O>::value;
  if (geo_flat(g, 0, false) && geo_flat(g, 1, false) && aligned16(data_of(out), sizeof(O) * N) &&
      aligned16(data_of(x), sizeof(T) * N)) {
    unary_flat<T, O, N><<<grid_for(c, (n + N - 1) / N, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        op, (O *)data_of(out), (const T *)data_of(x), n, p0, p1);
    LT_CUDA_LAUNCHED(c, "unary_flat");
  } else if (n < INT32_MAX) {
    unary_strided<T, O, uint32_t><<<grid_for(c, n, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        op, (O *)data_of(out), (const T *)data_of(x), g, n, p0, p1);
    LT_CUDA_LAUNCHED(c, "unary_strided");
  } else {
    unary_strided<T, O, uint64_t><<<grid_for(c, n, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        op, (O *)data_of(out), (const T *)data_of(x), g, n, p0, p1);
    LT_CUDA_LAUNCHED(c, "unary_strided");
  }
  return LT_OK;
}

static_assert(LT_UN_COUNT == LT_UN_SILU + 1 && LT_UN_SILU == 25,
              "a new unary op: give un_apply (both overloads) its case, then count it here");

extern "C" lt_status lt_cuda_unary(lt_unary_op op, lt_tensor *out, const lt_tensor *x, const double *p) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(out, &c));
  double p0 = p ? p[0] : 0, p1 = p ? p[1] : 0;
  if (out->dtype == LT_BOOL && x->dtype != LT_BOOL) {
    /* isnan / logical_not of a non-bool tensor */
    LT_CU_DISPATCH(x->dtype, T, return (unary_run<T, bool>(c, op, out, x, p0, p1)));
  }
  if (out->dtype != x->dtype)
    return lt_error_set(LT_ERR_RUNTIME, 0, "unary kernel: output %s for input %s is not supported on cuda",
                        lt_dtype_name(out->dtype), lt_dtype_name(x->dtype));
  LT_CU_DISPATCH(x->dtype, T, return (unary_run<T, T>(c, op, out, x, p0, p1)));
  return LT_OK;
}

/* --- binary --------------------------------------------------------------------------------------------- */
template <typename C> __device__ __forceinline__ C bin_apply(int op, C a, C b, lt_cuda_derr *err) {
  (void)err;
  const C one = 1, zero = 0;
  switch (op) {
    case LT_BIN_ADD: return a + b;
    case LT_BIN_SUB: return a - b;
    case LT_BIN_MUL: return a * b;
    case LT_BIN_DIV: return a / b;
    case LT_BIN_POW: return m_pow(a, b);
    case LT_BIN_MAXIMUM: return (a != a || a > b) ? a : b;
    case LT_BIN_MINIMUM: return (a != a || a < b) ? a : b;
    case LT_BIN_FMOD: return m_fmod(a, b);
    case LT_BIN_REMAINDER: {
      C r = m_fmod(a, b);
      return (r != zero && ((r < zero) != (b < zero))) ? r + b : r;
    }
    case LT_BIN_ATAN2: return m_atan2(a, b);
    case LT_BIN_EQ: return a == b ? one : zero;
    case LT_BIN_NE: return a != b ? one : zero;
    case LT_BIN_LT: return a < b ? one : zero;
    case LT_BIN_LE: return a <= b ? one : zero;
    case LT_BIN_GT: return a > b ? one : zero;
    case LT_BIN_GE: return a >= b ? one : zero;
    case LT_BIN_AND: return (a != zero && b != zero) ? one : zero;
    case LT_BIN_OR: return (a != zero || b != zero) ? one : zero;
    case LT_BIN_XOR: return ((a != zero) != (b != zero)) ? one : zero;
    default: return (C)NAN;
  }
}

__device__ __forceinline__ int64_t bin_apply(int op, int64_t a, int64_t b, lt_cuda_derr *err) {
  bool div_by_zero = false;
  int64_t r = lt_binary_i64((lt_binary_op)op, a, b, &div_by_zero);
  if (div_by_zero)
    derr_record(err, LT_CU_DERR_INTDIV, op == LT_BIN_FMOD ? LT_CU_OP_FMOD : LT_CU_OP_REMAINDER, 0, 0, 0);
  return r;
}

/* a and b each a contiguous run or a broadcast scalar (as_scalar/bs_scalar) */
template <typename T, typename O, int N>
__global__ void binary_flat(int op, O *out, const T *a, const T *b, bool a_scalar, bool b_scalar,
                            int64_t n, lt_cuda_derr *err) {
  typedef typename Compute<T>::type C;
  int64_t tid = blockIdx.x * (int64_t)blockDim.x + threadIdx.x, step = (int64_t)gridDim.x * blockDim.x;
  int64_t nv = n / N;
  const C as = a_scalar ? ld_c(a[0]) : C(0), bs = b_scalar ? ld_c(b[0]) : C(0);
  for (int64_t v = tid; v < nv; v += step) {
    Vec<T, N> va, vb;
    if (!a_scalar) va = reinterpret_cast<const Vec<T, N> *>(a)[v];
    if (!b_scalar) vb = reinterpret_cast<const Vec<T, N> *>(b)[v];
    Vec<O, N> r;
#pragma unroll
    for (int j = 0; j < N; j++)
      r.v[j] = St<O>::f(bin_apply(op, a_scalar ? as : ld_c(va.v[j]), b_scalar ? bs : ld_c(vb.v[j]), err));
    reinterpret_cast<Vec<O, N> *>(out)[v] = r;
  }
  for (int64_t i = nv * N + tid; i < n; i += step)
    out[i] = St<O>::f(bin_apply(op, a_scalar ? as : ld_c(a[i]), b_scalar ? bs : ld_c(b[i]), err));
}

template <typename T, typename O, typename I>
__global__ void binary_strided(int op, O *out, const T *a, const T *b, Geo<3> g, int64_t n, lt_cuda_derr *err) {
  I tid = (I)(blockIdx.x * blockDim.x + threadIdx.x), step = (I)(gridDim.x * blockDim.x);
  for (I i = tid; i < (I)n; i += step) {
    int64_t off[3];
    geo_off<3, I>(g, i, off);
    out[off[0]] = St<O>::f(bin_apply(op, ld_c(a[off[1]]), ld_c(b[off[2]]), err));
  }
}

template <typename T, typename O>
static lt_status binary_run(lt_cuda_ctx *c, int op, const lt_tensor *out, const lt_tensor *a,
                            const lt_tensor *b) {
  Geo<3> g;
  const lt_tensor *ops[3] = {out, a, b};
  int64_t n = geo_build<3>(g, ops);
  if (n == 0) return LT_OK;
  const int N = VecN<T, O>::value;
  bool a_scalar = g.ndim == 1 && g.stride[1][0] == 0, b_scalar = g.ndim == 1 && g.stride[2][0] == 0;
  if (geo_flat(g, 0, false) && geo_flat(g, 1, true) && geo_flat(g, 2, true) && aligned16(data_of(out), sizeof(O) * N) &&
      (a_scalar || aligned16(data_of(a), sizeof(T) * N)) && (b_scalar || aligned16(data_of(b), sizeof(T) * N))) {
    binary_flat<T, O, N><<<grid_for(c, (n + N - 1) / N, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        op, (O *)data_of(out), (const T *)data_of(a), (const T *)data_of(b), a_scalar, b_scalar, n, c->derr);
    LT_CUDA_LAUNCHED(c, "binary_flat");
  } else if (n < INT32_MAX) {
    binary_strided<T, O, uint32_t><<<grid_for(c, n, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        op, (O *)data_of(out), (const T *)data_of(a), (const T *)data_of(b), g, n, c->derr);
    LT_CUDA_LAUNCHED(c, "binary_strided");
  } else {
    binary_strided<T, O, uint64_t><<<grid_for(c, n, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        op, (O *)data_of(out), (const T *)data_of(a), (const T *)data_of(b), g, n, c->derr);
    LT_CUDA_LAUNCHED(c, "binary_strided");
  }
  return LT_OK;
}

static_assert(LT_BIN_COUNT == LT_BIN_XOR + 1 && LT_BIN_XOR == 18,
              "a new binary op: give bin_apply (both overloads) its case, then count it here");

extern "C" lt_status lt_cuda_binary(lt_binary_op op, lt_tensor *out, const lt_tensor *a, const lt_tensor *b) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(out, &c));
  if (a->dtype != b->dtype)
    return lt_error_set(LT_ERR_RUNTIME, 0, "binary kernel: operands of dtypes %s and %s", lt_dtype_name(a->dtype),
                        lt_dtype_name(b->dtype));
  if (op >= LT_BIN_EQ || (out->dtype == LT_BOOL && a->dtype != LT_BOOL)) {
    LT_CU_DISPATCH(a->dtype, T, return (binary_run<T, bool>(c, op, out, a, b)));
  }
  LT_CU_DISPATCH(a->dtype, T, return (binary_run<T, T>(c, op, out, a, b)));
  return LT_OK;
}

/* --- where -------------------------------------------------------------------------------------------------
 * Raw element moves: U is an unsigned type of the element's size. */
template <typename U, typename I>
__global__ void where_strided(U *out, const uint8_t *cond, const U *a, const U *b, Geo<4> g, int64_t n) {
  I tid = (I)(blockIdx.x * blockDim.x + threadIdx.x), step = (I)(gridDim.x * blockDim.x);
  for (I i = tid; i < (I)n; i += step) {
    int64_t off[4];
    geo_off<4, I>(g, i, off);
    out[off[0]] = cond[off[1]] ? a[off[2]] : b[off[3]];
  }
}

/* every operand contiguous; cond/a/b may be broadcast scalars (stride 0 -> s = 0) */
template <typename U>
__global__ void where_flat(U *out, const uint8_t *cond, const U *a, const U *b, int sc, int sa, int sb, int64_t n) {
  int64_t tid = blockIdx.x * (int64_t)blockDim.x + threadIdx.x, step = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = tid; i < n; i += step) out[i] = cond[i * sc] ? a[i * sa] : b[i * sb];
}

template <typename U>
static lt_status where_run(lt_cuda_ctx *c, const lt_tensor *out, const lt_tensor *cond,
                           const lt_tensor *a, const lt_tensor *b) {
  Geo<4> g;
  const lt_tensor *ops[4] = {out, cond, a, b};
  int64_t n = geo_build<4>(g, ops);
  if (n == 0) return LT_OK;
  if (geo_flat(g, 0, false) && geo_flat(g, 1, true) && geo_flat(g, 2, true) && geo_flat(g, 3, true)) {
    where_flat<U><<<grid_for(c, n, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (U *)data_of(out), (const uint8_t *)data_of(cond), (const U *)data_of(a), (const U *)data_of(b), (int)g.stride[1][0],
        (int)g.stride[2][0], (int)g.stride[3][0], n);
    LT_CUDA_LAUNCHED(c, "where_flat");
  } else if (n < INT32_MAX) {
    where_strided<U, uint32_t><<<grid_for(c, n, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (U *)data_of(out), (const uint8_t *)data_of(cond), (const U *)data_of(a), (const U *)data_of(b), g, n);
    LT_CUDA_LAUNCHED(c, "where_strided");
  } else {
    where_strided<U, uint64_t><<<grid_for(c, n, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (U *)data_of(out), (const uint8_t *)data_of(cond), (const U *)data_of(a), (const U *)data_of(b), g, n);
    LT_CUDA_LAUNCHED(c, "where_strided");
  }
  return LT_OK;
}

extern "C" lt_status lt_cuda_where(lt_tensor *out, const lt_tensor *cond, const lt_tensor *a, const lt_tensor *b) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(out, &c));
  switch (lt_cvt_dtype_size(out->dtype)) {
    case 1: return where_run<uint8_t>(c, out, cond, a, b);
    case 2: return where_run<uint16_t>(c, out, cond, a, b);
    case 4: return where_run<uint32_t>(c, out, cond, a, b);
    default: return where_run<uint64_t>(c, out, cond, a, b);
  }
}

/* --- fill --------------------------------------------------------------------------------------------------- */
template <typename U, int N> __global__ void fill_flat(U *out, U v, int64_t n) {
  int64_t tid = blockIdx.x * (int64_t)blockDim.x + threadIdx.x, step = (int64_t)gridDim.x * blockDim.x;
  int64_t nv = n / N;
  Vec<U, N> vv;
#pragma unroll
  for (int j = 0; j < N; j++) vv.v[j] = v;
  for (int64_t i = tid; i < nv; i += step) reinterpret_cast<Vec<U, N> *>(out)[i] = vv;
  for (int64_t i = nv * N + tid; i < n; i += step) out[i] = v;
}

template <typename U, typename I> __global__ void fill_strided(U *out, U v, Geo<1> g, int64_t n) {
  I tid = (I)(blockIdx.x * blockDim.x + threadIdx.x), step = (I)(gridDim.x * blockDim.x);
  for (I i = tid; i < (I)n; i += step) {
    int64_t off[1];
    geo_off<1, I>(g, i, off);
    out[off[0]] = v;
  }
}

template <typename U> static lt_status fill_run(lt_cuda_ctx *c, const lt_tensor *dst, const void *pattern) {
  Geo<1> g;
  const lt_tensor *ops[1] = {dst};
  int64_t n = geo_build<1>(g, ops);
  if (n == 0) return LT_OK;
  U v;
  memcpy(&v, pattern, sizeof v);
  const int N = 16 / sizeof(U);
  if (geo_flat(g, 0, false)) {
    bool zero = true;
    for (size_t i = 0; i < sizeof v; i++) zero = zero && ((const unsigned char *)pattern)[i] == 0;
    if (zero) {
      LT_CUDA_CHECK(cudaMemsetAsync(data_of(dst), 0, (size_t)n * sizeof(U), c->stream));
      return LT_OK;
    }
    if (aligned16(data_of(dst), 16)) {
      fill_flat<U, N><<<grid_for(c, (n + N - 1) / N, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>((U *)data_of(dst),
                                                                                                    v, n);
      LT_CUDA_LAUNCHED(c, "fill_flat");
      return LT_OK;
    }
  }
  if (n < INT32_MAX) {
    fill_strided<U, uint32_t><<<grid_for(c, n, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>((U *)data_of(dst), v, g, n);
  } else {
    fill_strided<U, uint64_t><<<grid_for(c, n, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>((U *)data_of(dst), v, g, n);
  }
  LT_CUDA_LAUNCHED(c, "fill_strided");
  return LT_OK;
}

extern "C" lt_status lt_cuda_fill_k(lt_cuda_ctx *c, const lt_tensor *dst, const void *pattern) {
  switch (lt_cvt_dtype_size(dst->dtype)) {
    case 1: return fill_run<uint8_t>(c, dst, pattern);
    case 2: return fill_run<uint16_t>(c, dst, pattern);
    case 4: return fill_run<uint32_t>(c, dst, pattern);
    default: return fill_run<uint64_t>(c, dst, pattern);
  }
}

extern "C" lt_status lt_cuda_fill(lt_tensor *dst, double v) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(dst, &c));
  unsigned char pattern[8] = {0};
  lt_cvt_store_f64(pattern, dst->dtype, v); /* the CPU's conversion, exactly */
  return lt_cuda_fill_k(c, dst, pattern);
}

/* --- copy ----------------------------------------------------------------------------------------------------- */
template <typename D, typename S, int N> __global__ void convert_flat(D *out, const S *x, int64_t n) {
  int64_t tid = blockIdx.x * (int64_t)blockDim.x + threadIdx.x, step = (int64_t)gridDim.x * blockDim.x;
  int64_t nv = n / N;
  for (int64_t v = tid; v < nv; v += step) {
    Vec<S, N> a = reinterpret_cast<const Vec<S, N> *>(x)[v];
    Vec<D, N> r;
#pragma unroll
    for (int j = 0; j < N; j++) r.v[j] = St<D>::f(ld_c(a.v[j]));
    reinterpret_cast<Vec<D, N> *>(out)[v] = r;
  }
  for (int64_t i = nv * N + tid; i < n; i += step) out[i] = St<D>::f(ld_c(x[i]));
}

template <typename D, typename S, typename I> __global__ void convert_strided(D *out, const S *x, Geo<2> g, int64_t n) {
  I tid = (I)(blockIdx.x * blockDim.x + threadIdx.x), step = (I)(gridDim.x * blockDim.x);
  for (I i = tid; i < (I)n; i += step) {
    int64_t off[2];
    geo_off<2, I>(g, i, off);
    out[off[0]] = St<D>::f(ld_c(x[off[1]]));
  }
}

/* Any pair of dtypes, switching on both at run time (the rare conversions). */
template <typename I>
__global__ void convert_generic(char *out, lt_dtype dd, const char *x, lt_dtype sd, Geo<2> g, int64_t n) {
  I tid = (I)(blockIdx.x * blockDim.x + threadIdx.x), step = (I)(gridDim.x * blockDim.x);
  size_t des = lt_cvt_dtype_size(dd), ses = lt_cvt_dtype_size(sd);
  bool ints = (sd != LT_FLOAT32 && sd != LT_FLOAT64 && sd != LT_BFLOAT16 && sd != LT_FLOAT16) &&
              (dd != LT_FLOAT32 && dd != LT_FLOAT64 && dd != LT_BFLOAT16 && dd != LT_FLOAT16);
  for (I i = tid; i < (I)n; i += step) {
    int64_t off[2];
    geo_off<2, I>(g, i, off);
    char *o = out + off[0] * (int64_t)des;
    const char *s = x + off[1] * (int64_t)ses;
    if (ints) lt_cvt_store_i64(o, dd, lt_cvt_load_i64(s, sd));
    else lt_cvt_store_f64(o, dd, lt_cvt_load_f64(s, sd));
  }
}

template <typename D, typename S>
static lt_status convert_run(lt_cuda_ctx *c, const lt_tensor *dst, const lt_tensor *src, const Geo<2> &g,
                             int64_t n) {
  const int N = VecN<D, S>::value;
  if (geo_flat(g, 0, false) && geo_flat(g, 1, false) && aligned16(data_of(dst), sizeof(D) * N) &&
      aligned16(data_of(src), sizeof(S) * N)) {
    convert_flat<D, S, N><<<grid_for(c, (n + N - 1) / N, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (D *)data_of(dst), (const S *)data_of(src), n);
    LT_CUDA_LAUNCHED(c, "convert_flat");
  } else if (n < INT32_MAX) {
    convert_strided<D, S, uint32_t><<<grid_for(c, n, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (D *)data_of(dst), (const S *)data_of(src), g, n);
    LT_CUDA_LAUNCHED(c, "convert_strided");
  } else {
    convert_strided<D, S, uint64_t><<<grid_for(c, n, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (D *)data_of(dst), (const S *)data_of(src), g, n);
    LT_CUDA_LAUNCHED(c, "convert_strided");
  }
  return LT_OK;
}

/* Same dtype: raw moves of U-sized elements. */
template <typename U, typename I> __global__ void move_strided(U *out, const U *x, Geo<2> g, int64_t n) {
  I tid = (I)(blockIdx.x * blockDim.x + threadIdx.x), step = (I)(gridDim.x * blockDim.x);
  for (I i = tid; i < (I)n; i += step) {
    int64_t off[2];
    geo_off<2, I>(g, i, off);
    out[off[0]] = x[off[1]];
  }
}

template <typename U>
static lt_status move_run(lt_cuda_ctx *c, const lt_tensor *dst, const lt_tensor *src, const Geo<2> &g,
                          int64_t n) {
  if (n < INT32_MAX)
    move_strided<U, uint32_t><<<grid_for(c, n, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (U *)data_of(dst), (const U *)data_of(src), g, n);
  else
    move_strided<U, uint64_t><<<grid_for(c, n, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        (U *)data_of(dst), (const U *)data_of(src), g, n);
  LT_CUDA_LAUNCHED(c, "move_strided");
  return LT_OK;
}

#define PAIR(d, s) ((int)(d) * 16 + (int)(s))

extern "C" lt_status lt_cuda_copy_k(lt_cuda_ctx *c, const lt_tensor *dst, const lt_tensor *src) {
  Geo<2> g;
  const lt_tensor *ops[2] = {dst, src};
  int64_t n = geo_build<2>(g, ops);
  if (n == 0) return LT_OK;
  if (dst->dtype == src->dtype) {
    size_t es = lt_cvt_dtype_size(dst->dtype);
    if (geo_flat(g, 0, false) && geo_flat(g, 1, false)) {
      if (data_of(dst) != data_of(src))
        LT_CUDA_CHECK(cudaMemcpyAsync(data_of(dst), data_of(src), (size_t)n * es, cudaMemcpyDeviceToDevice, c->stream));
      return LT_OK;
    }
    switch (es) {
      case 1: return move_run<uint8_t>(c, dst, src, g, n);
      case 2: return move_run<uint16_t>(c, dst, src, g, n);
      case 4: return move_run<uint32_t>(c, dst, src, g, n);
      default: return move_run<uint64_t>(c, dst, src, g, n);
    }
  }
  switch (PAIR(dst->dtype, src->dtype)) {
    case PAIR(LT_FLOAT32, LT_BFLOAT16): return convert_run<float, bf16>(c, dst, src, g, n);
    case PAIR(LT_BFLOAT16, LT_FLOAT32): return convert_run<bf16, float>(c, dst, src, g, n);
    case PAIR(LT_FLOAT32, LT_FLOAT16): return convert_run<float, f16>(c, dst, src, g, n);
    case PAIR(LT_FLOAT16, LT_FLOAT32): return convert_run<f16, float>(c, dst, src, g, n);
    case PAIR(LT_FLOAT32, LT_FLOAT64): return convert_run<float, double>(c, dst, src, g, n);
    case PAIR(LT_FLOAT64, LT_FLOAT32): return convert_run<double, float>(c, dst, src, g, n);
    case PAIR(LT_BFLOAT16, LT_FLOAT64): return convert_run<bf16, double>(c, dst, src, g, n);
    case PAIR(LT_FLOAT64, LT_BFLOAT16): return convert_run<double, bf16>(c, dst, src, g, n);
    case PAIR(LT_FLOAT16, LT_FLOAT64): return convert_run<f16, double>(c, dst, src, g, n);
    case PAIR(LT_FLOAT64, LT_FLOAT16): return convert_run<double, f16>(c, dst, src, g, n);
    case PAIR(LT_BFLOAT16, LT_FLOAT16): return convert_run<bf16, f16>(c, dst, src, g, n);
    case PAIR(LT_FLOAT16, LT_BFLOAT16): return convert_run<f16, bf16>(c, dst, src, g, n);
    case PAIR(LT_FLOAT32, LT_UINT8): return convert_run<float, uint8_t>(c, dst, src, g, n);
    case PAIR(LT_BFLOAT16, LT_UINT8): return convert_run<bf16, uint8_t>(c, dst, src, g, n);
    case PAIR(LT_FLOAT16, LT_UINT8): return convert_run<f16, uint8_t>(c, dst, src, g, n);
    case PAIR(LT_FLOAT32, LT_BOOL): return convert_run<float, bool>(c, dst, src, g, n);
    case PAIR(LT_FLOAT32, LT_INT64): return convert_run<float, int64_t>(c, dst, src, g, n);
    case PAIR(LT_FLOAT32, LT_INT32): return convert_run<float, int32_t>(c, dst, src, g, n);
    case PAIR(LT_INT64, LT_FLOAT32): return convert_run<int64_t, float>(c, dst, src, g, n);
    case PAIR(LT_INT32, LT_FLOAT32): return convert_run<int32_t, float>(c, dst, src, g, n);
    case PAIR(LT_UINT8, LT_FLOAT32): return convert_run<uint8_t, float>(c, dst, src, g, n);
    case PAIR(LT_BOOL, LT_FLOAT32): return convert_run<bool, float>(c, dst, src, g, n);
    default: break;
  }
  if (n < INT32_MAX)
    convert_generic<uint32_t><<<grid_for(c, n, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        data_of(dst), dst->dtype, data_of(src), src->dtype, g, n);
  else
    convert_generic<uint64_t><<<grid_for(c, n, LT_CU_THREADS), LT_CU_THREADS, 0, c->stream>>>(
        data_of(dst), dst->dtype, data_of(src), src->dtype, g, n);
  LT_CUDA_LAUNCHED(c, "convert_generic");
  return LT_OK;
}

extern "C" lt_status lt_cuda_copy(lt_tensor *dst, const lt_tensor *src) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(dst, &c));
  return lt_cuda_copy_k(c, dst, src);
}
