/* lt_cuda_conv.c — 2-D convolution on the GPU through cuDNN: the backend's
 * conv2d_forward and conv2d_backward entries (data and filter gradients by
 * cuDNN, the bias and its gradient by the per-channel kernels of
 * lt_cuda_norm.cu).
 *
 * It uses cuDNN's convolution API of v7/v8 (cudnnConvolutionForward and
 * friends), which cuDNN 9 still ships (9.14 is what the GPU machine has),
 * through the table lt_cuda_libs.c loads on first use.
 * Descriptors are built from the tensors' real strides, so NCHW-contiguous
 * and channels-last (NHWC) activations both work without copies; a weight
 * may be NCHW- or NHWC-contiguous. The op layer (lt_ops_conv.c) hands over x,
 * w, y and the gradients in one format (channels-last when the input or the
 * weight is), which is what cuDNN's tensor-core kernels want; the plan key
 * holds the strides and the filter format, so NCHW and NHWC calls of one
 * shape get plans (and algorithm searches) of their own.
 *
 * Algorithms are chosen by measurement, like PyTorch's cudnn.benchmark: the
 * first time a geometry (shapes, strides, dtype, padding/stride/dilation/
 * groups, TF32 setting, device, the buffers' alignment) is seen for one of
 * the three directions, cudnnFind*AlgorithmEx times the candidates on the
 * call's own buffers with a workspace of at most min(1 GiB, a quarter of
 * free memory); the fastest
 * that fits is cached with its descriptors, and later calls with the same
 * geometry only allocate its workspace from the stream-ordered pool and run.
 * The search synchronises the device once per new geometry, so warm up
 * before capturing a step as a CUDA graph: a search during a capture is an
 * error (lt_cuda_graph.cu). float32 may use TF32 tensor cores
 * (lt_cuda_set_allow_tf32); bfloat16/float16 accumulate in float32. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lt_cuda_internal.h"
#include "lt_cuda_libs.h"

enum { DIR_FWD, DIR_BWD_DATA, DIR_BWD_FILTER };

/* Everything an algorithm choice depends on. Zeroed before filling, so it
 * compares with memcmp. */
typedef struct {
  int device, dir, dtype, tf32, wfmt;
  int align; /* the operands' common alignment in bytes, up to 16 */
  int64_t x[4], xs[4], w[4], y[4], ys[4];
  int64_t pad[2], stride[2], dil[2], groups;
} conv_key;

typedef struct {
  conv_key key;
  cudnnTensorDescriptor_t xd, yd;
  cudnnFilterDescriptor_t wd;
  cudnnConvolutionDescriptor_t cd;
  int algo;
  size_t ws_bytes;
  cudnnMathType_t math;
} conv_plan;

static pthread_mutex_t plans_mu = PTHREAD_MUTEX_INITIALIZER;
/* cuDNN's functions, loaded by the first convolution (lt_cuda_libs.h) */
static const lt_cudnn_api *dnn;
static conv_plan **plans;
static int nplans, cap_plans;

static lt_status data_type(lt_dtype dt, cudnnDataType_t *data, cudnnDataType_t *compute) {
  switch (dt) {
    case LT_FLOAT32: *data = CUDNN_DATA_FLOAT; *compute = CUDNN_DATA_FLOAT; return LT_OK;
    case LT_FLOAT64: *data = CUDNN_DATA_DOUBLE; *compute = CUDNN_DATA_DOUBLE; return LT_OK;
    case LT_FLOAT16: *data = CUDNN_DATA_HALF; *compute = CUDNN_DATA_FLOAT; return LT_OK;
    case LT_BFLOAT16: *data = CUDNN_DATA_BFLOAT16; *compute = CUDNN_DATA_FLOAT; return LT_OK;
    default:
      return lt_error_set(LT_ERR_ARG, 0, "conv2d on cuda needs a floating dtype, got %s", lt_dtype_name(dt));
  }
}

static bool fits_int(int64_t v) { return v >= 0 && v <= 0x7fffffff; }

/* Strictly channels-last: in that layout and not also NCHW-contiguous. */
static bool only_cl(const lt_tensor *t) { return !lt_tensor_is_contiguous(t) && lt_tensor_is_channels_last(t); }

/* 0: the weight is NCHW-contiguous, 1: NHWC (channels last), -1: neither.
 * A weight in both layouts ([K,C,1,1], or C == 1) is described in the
 * layout of the activations x and y, so a channels-last convolution hands
 * cuDNN matching formats (its fast NHWC kernels want x, w and y alike). x
 * alone does not tell when it is in both layouts itself (one input
 * channel, a 1x1 image): then y does. */
static int filter_format(const lt_tensor *w, const lt_tensor *x, const lt_tensor *y) {
  if ((only_cl(x) || only_cl(y)) && lt_tensor_is_channels_last(w)) return 1;
  if (lt_tensor_is_contiguous(w)) return 0;
  if (lt_tensor_is_channels_last(w)) return 1;
  return -1;
}

static void plan_free(conv_plan *p) {
  if (!p) return;
  if (p->xd) dnn->cudnnDestroyTensorDescriptor(p->xd);
  if (p->yd) dnn->cudnnDestroyTensorDescriptor(p->yd);
  if (p->wd) dnn->cudnnDestroyFilterDescriptor(p->wd);
  if (p->cd) dnn->cudnnDestroyConvolutionDescriptor(p->cd);
  free(p);
}

/* A [N,C,H,W] descriptor. The stride of a size-1 dim is free in the core
 * (views and layout checks ignore it), but cuDNN infers the layout from all
 * four strides: a channels-last tensor whose size-1 dim has an NCHW-style
 * stride may be taken for NCHW and paired with an NHWC filter. So a size-1
 * dim gets the stride it has in the packed layout of the call (nhwc: the
 * filter's), the dense dims keep theirs. */
static lt_status tensor_desc(cudnnTensorDescriptor_t d, cudnnDataType_t dt, const int64_t *s, const int64_t *st,
                             bool nhwc) {
  static const int nchw_order[4] = {3, 2, 1, 0}, nhwc_order[4] = {1, 3, 2, 0}; /* innermost first */
  const int *order = nhwc ? nhwc_order : nchw_order;
  int64_t fixed[4], z = 1;
  for (int i = 0; i < 4; i++) {
    int k = order[i];
    fixed[k] = s[k] == 1 ? z : st[k];
    if (s[k] != 1) z *= s[k];
  }
  for (int i = 0; i < 4; i++)
    if (!fits_int(s[i]) || !fits_int(fixed[i]))
      return lt_error_set(LT_ERR_ARG, 0, "conv2d on cuda: a size or stride exceeds 2^31-1");
  LT_CUDNN_CHECK(dnn->cudnnSetTensor4dDescriptorEx(d, dt, (int)s[0], (int)s[1], (int)s[2], (int)s[3], (int)fixed[0],
                                              (int)fixed[1], (int)fixed[2], (int)fixed[3]));
  return LT_OK;
}

/* Builds the descriptors of a plan from its key. x/y here are the
 * convolution's input and output geometry whatever the direction. */
static lt_status plan_descriptors(conv_plan *p) {
  cudnnDataType_t dt = CUDNN_DATA_FLOAT, ct = CUDNN_DATA_FLOAT;
  LT_TRY(data_type((lt_dtype)p->key.dtype, &dt, &ct));
  LT_CUDNN_CHECK(dnn->cudnnCreateTensorDescriptor(&p->xd));
  LT_CUDNN_CHECK(dnn->cudnnCreateTensorDescriptor(&p->yd));
  LT_CUDNN_CHECK(dnn->cudnnCreateFilterDescriptor(&p->wd));
  LT_CUDNN_CHECK(dnn->cudnnCreateConvolutionDescriptor(&p->cd));
  LT_TRY(tensor_desc(p->xd, dt, p->key.x, p->key.xs, p->key.wfmt == 1));
  LT_TRY(tensor_desc(p->yd, dt, p->key.y, p->key.ys, p->key.wfmt == 1));
  for (int i = 0; i < 4; i++)
    if (!fits_int(p->key.w[i])) return lt_error_set(LT_ERR_ARG, 0, "conv2d on cuda: a weight size exceeds 2^31-1");
  LT_CUDNN_CHECK(dnn->cudnnSetFilter4dDescriptor(p->wd, dt, p->key.wfmt ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW,
                                            (int)p->key.w[0], (int)p->key.w[1], (int)p->key.w[2], (int)p->key.w[3]));
  for (int i = 0; i < 2; i++)
    if (!fits_int(p->key.pad[i]) || !fits_int(p->key.stride[i]) || !fits_int(p->key.dil[i]))
      return lt_error_set(LT_ERR_ARG, 0, "conv2d on cuda: padding, stride or dilation exceeds 2^31-1");
  LT_CUDNN_CHECK(dnn->cudnnSetConvolution2dDescriptor(p->cd, (int)p->key.pad[0], (int)p->key.pad[1], (int)p->key.stride[0],
                                                 (int)p->key.stride[1], (int)p->key.dil[0], (int)p->key.dil[1],
                                                 CUDNN_CROSS_CORRELATION, ct));
  LT_CUDNN_CHECK(dnn->cudnnSetConvolutionGroupCount(p->cd, (int)p->key.groups));
  int n, c, h, w;
  LT_CUDNN_CHECK(dnn->cudnnGetConvolution2dForwardOutputDim(p->cd, p->xd, p->wd, &n, &c, &h, &w));
  if (n != p->key.y[0] || c != p->key.y[1] || h != p->key.y[2] || w != p->key.y[3])
    return lt_error_set(LT_ERR_RUNTIME, 0, "conv2d on cuda: cuDNN computes an output of [%d,%d,%d,%d], the op layer "
                        "allocated [%lld,%lld,%lld,%lld]", n, c, h, w, (long long)p->key.y[0], (long long)p->key.y[1],
                        (long long)p->key.y[2], (long long)p->key.y[3]);
  return LT_OK;
}

/* The math modes a search may use: TF32 only where allowed. */
static cudnnMathType_t search_math(const conv_key *k) {
  if (k->dtype == LT_FLOAT32) return k->tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
  if (k->dtype == LT_FLOAT16 || k->dtype == LT_BFLOAT16) return CUDNN_TENSOR_OP_MATH;
  return CUDNN_DEFAULT_MATH;
}

/* float32 without TF32: the search ran with FMA math on the descriptor, so a
 * candidate reporting the default math ran without tensor cores too (cuDNN
 * versions differ in which of the two they report); one reporting tensor-op
 * math is refused, and the chosen algorithm runs with FMA math forced, as
 * PyTorch does. */
static bool fma_only(const conv_key *k) { return k->dtype == LT_FLOAT32 && !k->tf32; }

static bool math_ok(const conv_key *k, cudnnMathType_t m) {
  return !(fma_only(k) && (m == CUDNN_TENSOR_OP_MATH || m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION));
}

/* A workspace for the search: as large as the limit allows, halving on failure. */
static void search_workspace(lt_cuda_ctx *c, void **ws, size_t *bytes) {
  size_t fr = 0, total = 0;
  if (cudaMemGetInfo(&fr, &total) != cudaSuccess) {
    cudaGetLastError();
    fr = 0;
  }
  size_t want = (size_t)1 << 30;
  if (want > fr / 4) want = fr / 4;
  *ws = NULL;
  *bytes = 0;
  while (want >= ((size_t)1 << 20)) {
    if (lt_cuda_malloc(c, want, ws) == LT_OK) {
      *bytes = want;
      return;
    }
    want /= 2;
  }
  lt_error_clear();
}

/* The operand pointers of a search/run: for each direction the two inputs
 * and the output, in cuDNN's argument order. */
typedef struct { const void *a, *b; void *out; } operands;

/* One result of a search, whatever the direction: cuDNN has a perf type per
 * direction, all with these fields. */
typedef struct {
  int algo;
  cudnnStatus_t status;
  size_t memory;
  cudnnMathType_t math;
} candidate;

#define MAX_CANDIDATES 32

/* cuDNN's timed search for the plan's direction, into cand (fastest
 * first, *got of them); *call names the search for messages. */
static cudnnStatus_t search(cudnnHandle_t h, const conv_plan *p, const operands *o, void *ws, size_t ws_bytes,
                            candidate *cand, int *got, const char **call) {
  int max = 0;
  cudnnStatus_t s;
  *got = 0;
  if (p->key.dir == DIR_FWD) {
    *call = "cudnnFindConvolutionForwardAlgorithmEx";
    cudnnConvolutionFwdAlgoPerf_t perf[MAX_CANDIDATES];
    s = dnn->cudnnGetConvolutionForwardAlgorithmMaxCount(h, &max);
    if (max > MAX_CANDIDATES) max = MAX_CANDIDATES;
    if (s == CUDNN_STATUS_SUCCESS)
      s = dnn->cudnnFindConvolutionForwardAlgorithmEx(h, p->xd, o->a, p->wd, o->b, p->cd, p->yd, o->out, max, got, perf,
                                                 ws, ws_bytes);
    for (int i = 0; s == CUDNN_STATUS_SUCCESS && i < *got; i++)
      cand[i] = (candidate){(int)perf[i].algo, perf[i].status, perf[i].memory, perf[i].mathType};
  } else if (p->key.dir == DIR_BWD_DATA) {
    *call = "cudnnFindConvolutionBackwardDataAlgorithmEx";
    cudnnConvolutionBwdDataAlgoPerf_t perf[MAX_CANDIDATES];
    s = dnn->cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &max);
    if (max > MAX_CANDIDATES) max = MAX_CANDIDATES;
    if (s == CUDNN_STATUS_SUCCESS)
      s = dnn->cudnnFindConvolutionBackwardDataAlgorithmEx(h, p->wd, o->a, p->yd, o->b, p->cd, p->xd, o->out, max, got,
                                                      perf, ws, ws_bytes);
    for (int i = 0; s == CUDNN_STATUS_SUCCESS && i < *got; i++)
      cand[i] = (candidate){(int)perf[i].algo, perf[i].status, perf[i].memory, perf[i].mathType};
  } else {
    *call = "cudnnFindConvolutionBackwardFilterAlgorithmEx";
    cudnnConvolutionBwdFilterAlgoPerf_t perf[MAX_CANDIDATES];
    s = dnn->cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &max);
    if (max > MAX_CANDIDATES) max = MAX_CANDIDATES;
    if (s == CUDNN_STATUS_SUCCESS)
      s = dnn->cudnnFindConvolutionBackwardFilterAlgorithmEx(h, p->xd, o->a, p->yd, o->b, p->cd, p->wd, o->out, max, got,
                                                        perf, ws, ws_bytes);
    for (int i = 0; s == CUDNN_STATUS_SUCCESS && i < *got; i++)
      cand[i] = (candidate){(int)perf[i].algo, perf[i].status, perf[i].memory, perf[i].mathType};
  }
  return s;
}

/* Picks the fastest candidate that ran, fits the search's workspace and
 * uses an allowed math mode. */
static lt_status find_algo(lt_cuda_ctx *c, cudnnHandle_t h, conv_plan *p, const operands *o) {
  LT_CUDNN_CHECK(dnn->cudnnSetConvolutionMathType(p->cd, search_math(&p->key)));
  void *ws = NULL;
  size_t ws_bytes = 0;
  search_workspace(c, &ws, &ws_bytes);
  candidate cand[MAX_CANDIDATES];
  int got = 0;
  const char *call = NULL;
  cudnnStatus_t s = search(h, p, o, ws, ws_bytes, cand, &got, &call);
  lt_status st = LT_OK;
  bool picked = false;
  for (int i = 0; s == CUDNN_STATUS_SUCCESS && i < got && !picked; i++)
    if (cand[i].status == CUDNN_STATUS_SUCCESS && cand[i].memory <= ws_bytes && math_ok(&p->key, cand[i].math)) {
      p->algo = cand[i].algo;
      p->ws_bytes = cand[i].memory;
      p->math = fma_only(&p->key) ? CUDNN_FMA_MATH : cand[i].math;
      picked = true;
    }
  if (s != CUDNN_STATUS_SUCCESS) st = lt_cudnn_fail(s, call, __FILE__, __LINE__);
  lt_cuda_free_async(c, ws);
  /* The search's workspace (up to 1 GiB) would otherwise stay reserved in
   * the pool for the rest of the run; the search has synchronised already. */
  if (ws) lt_cuda_trim_pool(c);
  if (st == LT_OK && !picked)
    st = lt_error_set(LT_ERR_RUNTIME, 0, "conv2d on cuda: cuDNN found no algorithm for this %s convolution within a "
                      "%zu-byte workspace%s", lt_dtype_name((lt_dtype)p->key.dtype), ws_bytes,
                      p->key.dtype == LT_FLOAT32 && !p->key.tf32 ? " without TF32" : "");
  return st;
}

/* The cached plan for `key`, searching for its algorithm on first use. */
static lt_status get_plan(lt_cuda_ctx *c, cudnnHandle_t h, const conv_key *key, const operands *o, conv_plan **out) {
  pthread_mutex_lock(&plans_mu);
  for (int i = 0; i < nplans; i++)
    if (memcmp(&plans[i]->key, key, sizeof *key) == 0) {
      *out = plans[i];
      pthread_mutex_unlock(&plans_mu);
      return LT_OK;
    }
  pthread_mutex_unlock(&plans_mu);
  /* The timed search runs and synchronises the GPU: it cannot be recorded
   * in a CUDA graph. Rather than capture a heuristic guess (a slower step
   * for the whole run), a geometry must have been seen by an eager step. */
  if (lt_cuda_capturing())
    return lt_cuda_graph_refuse("conv2d: the cuDNN algorithm search for a new convolution shape",
                                "it times candidates and waits for the GPU; run the step eagerly first (warmup >= 1), "
                                "with the same shapes");
  conv_plan *p = calloc(1, sizeof *p);
  if (!p) return lt_error_set(LT_ERR_OOM, 0, "out of host memory for a convolution plan");
  p->key = *key;
  lt_status st = plan_descriptors(p);
  if (st == LT_OK) st = find_algo(c, h, p, o);
  if (st == LT_OK) {
    pthread_mutex_lock(&plans_mu);
    if (nplans == cap_plans) {
      int ncap = cap_plans ? cap_plans * 2 : 32;
      conv_plan **np = realloc(plans, sizeof(conv_plan *) * (size_t)ncap);
      if (np) {
        plans = np;
        cap_plans = ncap;
      }
    }
    if (nplans < cap_plans) plans[nplans++] = p;
    else st = lt_error_set(LT_ERR_OOM, 0, "out of host memory for the convolution plan cache");
    pthread_mutex_unlock(&plans_mu);
  }
  if (st != LT_OK) {
    plan_free(p);
    return st;
  }
  *out = p;
  return LT_OK;
}

/* The largest power of two up to 16 dividing all three addresses. An
 * algorithm timed on aligned buffers may use vector loads that a view at an
 * odd offset cannot take (cuDNN then refuses it at run time), so alignment
 * is part of the key, as in PyTorch's convolution cache. */
static int operands_align(const operands *o) {
  uintptr_t a = (uintptr_t)o->a | (uintptr_t)o->b | (uintptr_t)o->out | 16;
  return (int)(a & (~a + 1));
}

static void fill_key(conv_key *k, int device, int dir, const lt_tensor *x, const lt_tensor *w, const lt_tensor *y,
                     const lt_conv2d_params *prm, int wfmt, const operands *o) {
  memset(k, 0, sizeof *k);
  k->device = device;
  k->dir = dir;
  k->dtype = (int)x->dtype;
  k->tf32 = x->dtype == LT_FLOAT32 && lt_cuda_allow_tf32();
  k->wfmt = wfmt;
  k->align = operands_align(o);
  for (int i = 0; i < 4; i++) {
    k->x[i] = x->shape[i];
    k->xs[i] = x->stride[i];
    k->w[i] = w->shape[i];
    k->y[i] = y->shape[i];
    k->ys[i] = y->stride[i];
  }
  for (int i = 0; i < 2; i++) {
    k->pad[i] = prm->padding[i];
    k->stride[i] = prm->stride[i];
    k->dil[i] = prm->dilation[i];
  }
  k->groups = prm->groups;
}

/* Runs one direction of a plan. */
static lt_status run_plan(lt_cuda_ctx *c, cudnnHandle_t h, conv_plan *p, const operands *o) {
  double one_d = 1, zero_d = 0;
  float one_f = 1, zero_f = 0;
  const void *one = p->key.dtype == LT_FLOAT64 ? (const void *)&one_d : (const void *)&one_f;
  const void *zero = p->key.dtype == LT_FLOAT64 ? (const void *)&zero_d : (const void *)&zero_f;
  void *ws = NULL;
  LT_TRY(lt_cuda_malloc(c, p->ws_bytes, &ws));
  lt_status st = LT_OK;
  cudnnStatus_t s = dnn->cudnnSetConvolutionMathType(p->cd, p->math);
  if (s != CUDNN_STATUS_SUCCESS) {
    st = lt_cudnn_fail(s, "cudnnSetConvolutionMathType(p->cd, p->math)", __FILE__, __LINE__);
  } else if (p->key.dir == DIR_FWD) {
    s = dnn->cudnnConvolutionForward(h, one, p->xd, o->a, p->wd, o->b, p->cd, (cudnnConvolutionFwdAlgo_t)p->algo, ws,
                                p->ws_bytes, zero, p->yd, o->out);
    if (s != CUDNN_STATUS_SUCCESS) st = lt_cudnn_fail(s, "cudnnConvolutionForward", __FILE__, __LINE__);
  } else if (p->key.dir == DIR_BWD_DATA) {
    s = dnn->cudnnConvolutionBackwardData(h, one, p->wd, o->a, p->yd, o->b, p->cd, (cudnnConvolutionBwdDataAlgo_t)p->algo,
                                     ws, p->ws_bytes, zero, p->xd, o->out);
    if (s != CUDNN_STATUS_SUCCESS) st = lt_cudnn_fail(s, "cudnnConvolutionBackwardData", __FILE__, __LINE__);
  } else {
    s = dnn->cudnnConvolutionBackwardFilter(h, one, p->xd, o->a, p->yd, o->b, p->cd,
                                       (cudnnConvolutionBwdFilterAlgo_t)p->algo, ws, p->ws_bytes, zero, p->wd, o->out);
    if (s != CUDNN_STATUS_SUCCESS) st = lt_cudnn_fail(s, "cudnnConvolutionBackwardFilter", __FILE__, __LINE__);
  }
  lt_cuda_free_async(c, ws);
  return st;
}

/* One direction of a convolution: the cached plan for this geometry
 * (searched for on first use), then the run. x, w, y are the convolution's
 * input, weight and output geometry; o the direction's operands. */
static lt_status convolve(lt_cuda_ctx *c, cudnnHandle_t h, int dir, const lt_tensor *x, const lt_tensor *w,
                          const lt_tensor *y, const lt_conv2d_params *prm, int wfmt, operands o) {
  conv_key k;
  fill_key(&k, c->device, dir, x, w, y, prm, wfmt, &o);
  conv_plan *plan = NULL;
  LT_TRY(get_plan(c, h, &k, &o, &plan));
  return run_plan(c, h, plan, &o);
}

static lt_status fill_zero(lt_cuda_ctx *c, lt_tensor *t) {
  unsigned char zero[8] = {0};
  return lt_cuda_fill_k(c, t, zero);
}

static lt_status check_weight(const lt_tensor *w, const lt_tensor *x, const lt_tensor *y, int *fmt) {
  *fmt = filter_format(w, x, y);
  if (*fmt < 0)
    return lt_error_set(LT_ERR_ARG, 0, "conv2d on cuda: the weight must be contiguous (NCHW) or channels-last");
  return LT_OK;
}

lt_status lt_cuda_conv2d_forward(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b,
                                 const lt_conv2d_params *p) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  LT_TRY(lt_cuda_cudnn_api(&dnn));
  if (lt_tensor_numel(y) == 0) return LT_OK;
  if (lt_tensor_numel(x) == 0 || lt_tensor_numel(w) == 0) {
    /* no input channels: the output is the bias alone */
    LT_TRY(fill_zero(c, y));
  } else {
    int fmt;
    LT_TRY(check_weight(w, x, y, &fmt));
    cudnnHandle_t h;
    LT_TRY(lt_cuda_get_cudnn(c, &h));
    LT_TRY(convolve(c, h, DIR_FWD, x, w, y, p, fmt,
                    (operands){lt_tensor_data(x), lt_tensor_data(w), lt_tensor_data(y)}));
  }
  if (b) {
    LT_TRY(lt_cuda_bias_add_k(c, y, b));
  }
  return LT_OK;
}

lt_status lt_cuda_conv2d_backward(lt_tensor *gx, lt_tensor *gw, lt_tensor *gb, const lt_tensor *gy,
                                  const lt_tensor *x, const lt_tensor *w, const lt_conv2d_params *p) {
  lt_cuda_ctx *c = NULL;
  LT_TRY(lt_cuda_ctx_of(x, &c));
  LT_TRY(lt_cuda_cudnn_api(&dnn));
  if (gb) {
    /* the channel-sum kernel reads NCHW and NHWC (lt_cuda_norm.cu) */
    if (!lt_tensor_is_contiguous(gy) && !lt_tensor_is_channels_last(gy))
      return lt_error_set(LT_ERR_RUNTIME, 0, "conv2d_backward on cuda: the bias gradient needs a contiguous or "
                          "channels-last output gradient");
    LT_TRY(lt_cuda_channel_sum_k(c, gb, gy));
  }
  if (!gx && !gw) return LT_OK;
  if (lt_tensor_numel(gy) == 0 || lt_tensor_numel(x) == 0 || lt_tensor_numel(w) == 0) {
    /* an empty batch or no channels: nothing flows, the gradients are zero */
    if (gx) LT_TRY(fill_zero(c, gx));
    if (gw) LT_TRY(fill_zero(c, gw));
    return LT_OK;
  }
  int fmt;
  LT_TRY(check_weight(w, x, gy, &fmt));
  cudnnHandle_t h;
  LT_TRY(lt_cuda_get_cudnn(c, &h));
  if (gx)
    LT_TRY(convolve(c, h, DIR_BWD_DATA, gx, w, gy, p, fmt,
                    (operands){lt_tensor_data(w), lt_tensor_data(gy), lt_tensor_data(gx)}));
  if (gw) {
    int gfmt;
    LT_TRY(check_weight(gw, x, gy, &gfmt));
    LT_TRY(convolve(c, h, DIR_BWD_FILTER, x, gw, gy, p, gfmt,
                    (operands){lt_tensor_data(x), lt_tensor_data(gy), lt_tensor_data(gw)}));
  }
  return LT_OK;
}
