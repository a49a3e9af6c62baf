/* lt_cpu_conv_dnnl.c — 2-D convolution on the CPU through oneDNN: forward,
 * input gradient (backward data) and weight gradient (backward weights), for
 * float32 and bfloat16 tensors in NCHW or channels-last layout, with
 * oneDNN's direct kernels or (winograd) with its Winograd kernels allowed;
 * and the float32 inference convolution whose output gets the batch norm,
 * the residual and the ReLU as oneDNN post-ops (lt_cpu_dnnl_conv2d_bn_eval).
 * Where oneDNN offers only its reference kernels the call is not taken.
 * The choice of path: lt_cpu_conv_path.c; the im2col path: lt_cpu_conv.c;
 * loading oneDNN: lt_cpu_dnnl.c.
 *
 * Each primitive is made once per shape and kept: a training step calls the
 * same shapes every time. Channels-last activations are used in place (the
 * kernels run nhwc); for NCHW ones and for the weights oneDNN picks the
 * layout its kernels run fastest in (blocked channels, e.g. nChw16c on
 * AVX-512), and those operands are reordered around the call, in a scratch
 * buffer kept by the thread. The tensors luatrain hands in and gets back
 * keep their own layout. Training in channels-last therefore moves the
 * least memory: only the weights are reordered.
 *
 * The cache, the stream and the scratch buffer belong to the calling thread
 * (a pthread key frees them when it ends), so calls from several threads
 * never share one. A shape oneDNN has no kernel for is remembered as such,
 * and the caller runs it on the im2col path instead. */
#include "lt_cpu_conv_dnnl.h"

#include <stdlib.h>
#include <string.h>

#include "lt_cpu.h"
#include "lt_cpu_dnnl.h"
#include "lt_cpu_nn.h"

#ifdef LT_HAVE_DNNL
#include <pthread.h>

/* KIND_EVAL: the inference convolution with its post-ops (FUSE_*). */
typedef enum { KIND_FWD, KIND_BWD_DATA, KIND_BWD_WEIGHTS, KIND_EVAL } conv_kind;

/* The post-ops of a KIND_EVAL primitive, in the order they apply: the batch
 * norm's per-channel scale and shift (always), the residual (a sum into the
 * destination, which holds the residual beforehand), and the ReLU. */
enum { FUSE_RESIDUAL = 1, FUSE_RELU = 2 };

/* Everything a primitive depends on. */
typedef struct {
  int64_t dims[16]; /* N C H W CO KH KW OH OW sh sw ph pw dh dw G */
  int32_t kind, dtype, wdtype, channels_last, bias, winograd, fuse;
} conv_key;

/* One tensor argument of a convolution primitive: its layout as luatrain
 * holds it (user) and as the kernel wants it (prim); when they differ, the
 * reorder between them and the bytes of the kernel-layout copy. */
typedef struct {
  int arg;     /* DNNL_ARG_* */
  bool output; /* written by the convolution: reordered back after it */
  dnnl_memory_desc_t user, prim;
  dnnl_primitive_t reorder; /* NULL: used in place */
  /* the destination of a sum post-op: the residual's reorder into the
   * kernel-layout copy before the call (NULL when used in place) */
  bool preload;
  dnnl_primitive_t reorder_in;
  size_t bytes;
} operand;

#define MAX_OPERANDS 6 /* src, weights, bias, dst, and the batch norm's scale and shift */

typedef struct entry {
  conv_key key;
  bool unsupported; /* oneDNN has no kernel for it: the caller takes im2col */
  dnnl_primitive_t prim;
  operand op[MAX_OPERANDS];
  int nop;
  dnnl_memory_desc_t scratch_md; /* the primitive's scratchpad */
  size_t scratch;                 /* its bytes */
  struct entry *next;
} entry;

#define CACHE_BUCKETS 64
#define CACHE_MAX 512 /* entries per thread before the cache starts over */

typedef struct {
  entry *bucket[CACHE_BUCKETS];
  int count;
  char *ws; /* scratch: the kernel-layout copies and the scratchpad */
  size_t ws_bytes;
} thread_ctx;

static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;
static pthread_key_t ctx_key;

static void free_entry(const lt_dnnl_api *d, entry *e) {
  if (e->prim) d->primitive_destroy(e->prim);
  for (int i = 0; i < e->nop; i++) {
    if (e->op[i].reorder) d->primitive_destroy(e->op[i].reorder);
    if (e->op[i].reorder_in) d->primitive_destroy(e->op[i].reorder_in);
  }
  free(e);
}

static void clear_cache(thread_ctx *c) {
  const lt_dnnl_api *d = lt_dnnl();
  for (int b = 0; b < CACHE_BUCKETS; b++) {
    for (entry *e = c->bucket[b], *next; e; e = next) {
      next = e->next;
      free_entry(d, e);
    }
    c->bucket[b] = NULL;
  }
  c->count = 0;
}

static void free_ctx(void *p) {
  thread_ctx *c = p;
  clear_cache(c);
  free(c->ws);
  free(c);
}

static void make_key(void) { pthread_key_create(&ctx_key, free_ctx); }

static thread_ctx *ctx(void) {
  pthread_once(&ctx_once, make_key);
  thread_ctx *c = pthread_getspecific(ctx_key);
  if (!c) {
    c = calloc(1, sizeof *c);
    if (c) pthread_setspecific(ctx_key, c);
  }
  return c;
}

static char *scratch(thread_ctx *c, size_t bytes) {
  if (bytes <= c->ws_bytes) return c->ws;
  free(c->ws);
  c->ws = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
  c->ws_bytes = c->ws ? bytes : 0;
  return c->ws;
}

static uint64_t key_hash(const conv_key *k) {
  const unsigned char *p = (const unsigned char *)k;
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < sizeof *k; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

static dnnl_data_type_t dnnl_type(lt_dtype dt) { return dt == LT_BFLOAT16 ? dnnl_bf16 : dnnl_f32; }

/* The user layout of an activation ([N,C,H,W]) and of a weight. */
static lt_status init_md(const lt_dnnl_api *d, dnnl_memory_desc_t *md, int nd, const dnnl_dims_t dims,
                         dnnl_data_type_t dt, dnnl_format_tag_t tag) {
  dnnl_status_t s = d->memory_desc_init_by_tag(md, nd, dims, dt, tag);
  if (s != dnnl_success)
    return lt_error_set(LT_ERR_RUNTIME, 0, "oneDNN: dnnl_memory_desc_init_by_tag: %s", lt_dnnl_status_str(s));
  return LT_OK;
}

typedef struct {
  dnnl_memory_desc_t src, wei, dst, bias, any_src, any_wei, any_dst;
  dnnl_memory_desc_t per_channel; /* [1,CO,1,1]: a binary post-op's scale or shift */
  dnnl_dims_t strides, dilates, pad_l, pad_r;
} conv_descs;

/* The user and "any" descriptors of a geometry. */
static lt_status make_descs(const lt_dnnl_api *d, const conv_key *k, conv_descs *cd) {
  const int64_t *g = k->dims;
  int64_t N = g[0], C = g[1], H = g[2], W = g[3], CO = g[4], KH = g[5], KW = g[6], OH = g[7], OW = g[8], G = g[15];
  dnnl_data_type_t dt = dnnl_type((lt_dtype)k->dtype), wdt = dnnl_type((lt_dtype)k->wdtype);
  dnnl_format_tag_t act = k->channels_last ? dnnl_nhwc : dnnl_nchw;
  dnnl_dims_t src = {N, C, H, W}, dst = {N, CO, OH, OW};
  LT_TRY(init_md(d, &cd->src, 4, src, dt, act));
  LT_TRY(init_md(d, &cd->dst, 4, dst, dt, act));
  /* Channels-last activations stay channels-last (oneDNN's nhwc kernels
   * are as fast as its blocked ones, and the activations then need no
   * reorder); NCHW ones go to the blocked layout oneDNN prefers. */
  dnnl_format_tag_t kernel_act = k->channels_last ? dnnl_nhwc : dnnl_format_tag_any;
  LT_TRY(init_md(d, &cd->any_src, 4, src, dt, kernel_act));
  LT_TRY(init_md(d, &cd->any_dst, 4, dst, dt, kernel_act));
  if (G == 1) {
    dnnl_dims_t w = {CO, C, KH, KW};
    LT_TRY(init_md(d, &cd->wei, 4, w, wdt, k->channels_last ? dnnl_ohwi : dnnl_oihw));
    LT_TRY(init_md(d, &cd->any_wei, 4, w, wdt, dnnl_format_tag_any));
  } else {
    dnnl_dims_t w = {G, CO / G, C / G, KH, KW};
    LT_TRY(init_md(d, &cd->wei, 5, w, wdt, k->channels_last ? dnnl_gohwi : dnnl_goihw));
    LT_TRY(init_md(d, &cd->any_wei, 5, w, wdt, dnnl_format_tag_any));
  }
  dnnl_dims_t b = {CO}, pc = {1, CO, 1, 1};
  LT_TRY(init_md(d, &cd->bias, 1, b, dt, dnnl_a));
  LT_TRY(init_md(d, &cd->per_channel, 4, pc, dnnl_f32, dnnl_nchw));
  /* oneDNN counts dilation from 0 (PyTorch's 1); the right/bottom padding is
   * what makes its output size formula give OH/OW exactly. */
  int64_t sh = g[9], sw = g[10], ph = g[11], pw = g[12], dh = g[13], dw = g[14];
  cd->strides[0] = sh; cd->strides[1] = sw;
  cd->dilates[0] = dh - 1; cd->dilates[1] = dw - 1;
  cd->pad_l[0] = ph; cd->pad_l[1] = pw;
  cd->pad_r[0] = (OH - 1) * sh + (KH - 1) * dh + 1 - H - ph;
  cd->pad_r[1] = (OW - 1) * sw + (KW - 1) * dw + 1 - W - pw;
  return LT_OK;
}

/* The post-ops of an inference convolution (key k) into attr: the batch
 * norm as a per-channel multiply and add, then the residual's sum, then the
 * ReLU; each rounds to float32 as the separate ops would. */
static dnnl_status_t set_post_ops(const lt_dnnl_api *d, dnnl_primitive_attr_t attr, const conv_key *k,
                                  const dnnl_memory_desc_t *per_channel) {
  dnnl_post_ops_t po;
  dnnl_status_t s = d->post_ops_create(&po);
  if (s != dnnl_success) return s;
  s = d->post_ops_append_binary(po, dnnl_binary_mul, per_channel);
  if (s == dnnl_success) s = d->post_ops_append_binary(po, dnnl_binary_add, per_channel);
  if (s == dnnl_success && (k->fuse & FUSE_RESIDUAL)) s = d->post_ops_append_sum(po, 1.0f);
  if (s == dnnl_success && (k->fuse & FUSE_RELU)) s = d->post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0, 0);
  if (s == dnnl_success) s = d->attr_set_post_ops(attr, po);
  d->post_ops_destroy(po);
  return s;
}

/* A primitive descriptor for the op descriptor, with a user-managed
 * scratchpad and, for KIND_EVAL, the post-ops. No kernel but a reference
 * one (dnnl_unimplemented) leaves *pd NULL and returns LT_OK. */
static lt_status create_pd(const lt_dnnl_api *d, const void *op, const_dnnl_primitive_desc_t hint, const conv_key *k,
                           const conv_descs *cd, dnnl_primitive_desc_t *pd) {
  dnnl_primitive_attr_t attr;
  *pd = NULL;
  dnnl_status_t s = d->attr_create(&attr);
  if (s == dnnl_success) s = d->attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
  if (s == dnnl_success && k->kind == KIND_EVAL) s = set_post_ops(d, attr, k, &cd->per_channel);
  if (s == dnnl_success) s = d->primitive_desc_create(pd, op, attr, lt_dnnl_engine(), hint);
  d->attr_destroy(attr);
  /* oneDNN's reference kernels (plain loops, its last resort) are slower
   * than im2col + BLAS, or than the separate ops: treated as no kernel */
  const char *impl = NULL;
  if (s == dnnl_success && d->primitive_desc_query(*pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
      strncmp(impl, "ref", 3) == 0) {
    d->primitive_desc_destroy(*pd);
    s = dnnl_unimplemented;
  }
  if (s == dnnl_unimplemented) {
    *pd = NULL;
    return LT_OK;
  }
  if (s != dnnl_success)
    return lt_error_set(s == dnnl_out_of_memory ? LT_ERR_OOM : LT_ERR_RUNTIME, 0,
                        "oneDNN: dnnl_primitive_desc_create: %s", lt_dnnl_status_str(s));
  return LT_OK;
}

/* A reorder primitive from one layout to another. */
static lt_status make_reorder(const lt_dnnl_api *d, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                              dnnl_primitive_t *r) {
  dnnl_primitive_desc_t rpd;
  dnnl_status_t s = d->reorder_primitive_desc_create(&rpd, from, lt_dnnl_engine(), to, lt_dnnl_engine(), NULL);
  if (s == dnnl_success) {
    s = d->primitive_create(r, rpd);
    d->primitive_desc_destroy(rpd);
  }
  if (s != dnnl_success)
    return lt_error_set(LT_ERR_RUNTIME, 0, "oneDNN: a layout reorder: %s", lt_dnnl_status_str(s));
  return LT_OK;
}

/* Fills operand o from the user descriptor and the primitive's own (queried
 * by `what` and `index`: the bias is the second weights descriptor; a
 * post-op's operand is queried by its argument), with a reorder between them
 * when they differ. An output that is preloaded (a sum's destination) also
 * gets the reorder into the kernel layout. */
static lt_status add_operand(const lt_dnnl_api *d, entry *e, const_dnnl_primitive_desc_t pd, int arg, bool output,
                             bool preload, const dnnl_memory_desc_t *user, dnnl_query_t what, int index) {
  operand *o = &e->op[e->nop++];
  o->arg = arg;
  o->output = output;
  o->preload = preload;
  o->user = *user;
  o->prim = *d->primitive_desc_query_md(pd, what, index);
  if (d->memory_desc_equal(&o->user, &o->prim)) return LT_OK;
  o->bytes = d->memory_desc_get_size(&o->prim);
  if (preload) LT_TRY(make_reorder(d, &o->user, &o->prim, &o->reorder_in));
  return output ? make_reorder(d, &o->prim, &o->user, &o->reorder) : make_reorder(d, &o->user, &o->prim, &o->reorder);
}

/* Builds the primitive of e->key into e (e->unsupported when oneDNN has no
 * kernel for it). */
static lt_status build(const lt_dnnl_api *d, entry *e) {
  const conv_key *k = &e->key;
  conv_descs cd;
  LT_TRY(make_descs(d, k, &cd));
  dnnl_alg_kind_t alg = k->winograd ? dnnl_convolution_auto : dnnl_convolution_direct;
  bool fwd_only = k->kind == KIND_FWD || k->kind == KIND_EVAL;
  dnnl_convolution_desc_t fwd, op;
  dnnl_status_t s = d->conv_forward_desc_init(&fwd, k->kind == KIND_EVAL ? dnnl_forward_inference : dnnl_forward_training,
                                              alg, &cd.any_src, &cd.any_wei,
                                              k->bias && fwd_only ? &cd.bias : NULL, &cd.any_dst,
                                              cd.strides, cd.dilates, cd.pad_l, cd.pad_r);
  if (s != dnnl_success) {
    e->unsupported = true;
    return LT_OK;
  }
  dnnl_primitive_desc_t fpd = NULL, pd = NULL;
  LT_TRY(create_pd(d, &fwd, NULL, k, &cd, &fpd));
  if (!fpd) {
    e->unsupported = true;
    return LT_OK;
  }
  lt_status st = LT_OK;
  if (fwd_only) {
    pd = fpd;
    fpd = NULL;
  } else {
    if (k->kind == KIND_BWD_DATA)
      s = d->conv_backward_data_desc_init(&op, alg, &cd.any_src, &cd.any_wei, &cd.any_dst,
                                          cd.strides, cd.dilates, cd.pad_l, cd.pad_r);
    else
      s = d->conv_backward_weights_desc_init(&op, alg, &cd.any_src, &cd.any_wei, NULL,
                                             &cd.any_dst, cd.strides, cd.dilates, cd.pad_l, cd.pad_r);
    if (s == dnnl_success) st = create_pd(d, &op, fpd, k, &cd, &pd);
    d->primitive_desc_destroy(fpd);
    if (st != LT_OK) return st;
    if (s != dnnl_success || !pd) {
      e->unsupported = true;
      return LT_OK;
    }
  }
  switch (k->kind) {
    case KIND_FWD:
    case KIND_EVAL:
      st = add_operand(d, e, pd, DNNL_ARG_SRC, false, false, &cd.src, dnnl_query_src_md, 0);
      if (st == LT_OK) st = add_operand(d, e, pd, DNNL_ARG_WEIGHTS, false, false, &cd.wei, dnnl_query_weights_md, 0);
      if (st == LT_OK && k->bias)
        st = add_operand(d, e, pd, DNNL_ARG_BIAS, false, false, &cd.bias, dnnl_query_weights_md, 1);
      if (st == LT_OK)
        st = add_operand(d, e, pd, DNNL_ARG_DST, true, (k->fuse & FUSE_RESIDUAL) != 0, &cd.dst, dnnl_query_dst_md, 0);
      for (int i = 0; i < 2 && st == LT_OK && k->kind == KIND_EVAL; i++) { /* the scale, the shift */
        int arg = DNNL_ARG_ATTR_MULTIPLE_POST_OP(i) | DNNL_ARG_SRC_1;
        st = add_operand(d, e, pd, arg, false, false, &cd.per_channel, dnnl_query_exec_arg_md, arg);
      }
      break;
    case KIND_BWD_DATA:
      st = add_operand(d, e, pd, DNNL_ARG_DIFF_DST, false, false, &cd.dst, dnnl_query_diff_dst_md, 0);
      if (st == LT_OK) st = add_operand(d, e, pd, DNNL_ARG_WEIGHTS, false, false, &cd.wei, dnnl_query_weights_md, 0);
      if (st == LT_OK) st = add_operand(d, e, pd, DNNL_ARG_DIFF_SRC, true, false, &cd.src, dnnl_query_diff_src_md, 0);
      break;
    default:
      st = add_operand(d, e, pd, DNNL_ARG_SRC, false, false, &cd.src, dnnl_query_src_md, 0);
      if (st == LT_OK) st = add_operand(d, e, pd, DNNL_ARG_DIFF_DST, false, false, &cd.dst, dnnl_query_diff_dst_md, 0);
      if (st == LT_OK)
        st = add_operand(d, e, pd, DNNL_ARG_DIFF_WEIGHTS, true, false, &cd.wei, dnnl_query_diff_weights_md, 0);
      break;
  }
  if (st == LT_OK) {
    e->scratch_md = *d->primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    e->scratch = d->memory_desc_get_size(&e->scratch_md);
    s = d->primitive_create(&e->prim, pd);
    if (s != dnnl_success)
      st = lt_error_set(s == dnnl_out_of_memory ? LT_ERR_OOM : LT_ERR_RUNTIME, 0,
                        "oneDNN: dnnl_primitive_create: %s", lt_dnnl_status_str(s));
  }
  d->primitive_desc_destroy(pd);
  return st;
}

/* The thread's entry for key k, built on first use; NULL (error set) on
 * failure. */
static entry *lookup(const lt_dnnl_api *d, thread_ctx *c, const conv_key *k) {
  uint64_t h = key_hash(k) % CACHE_BUCKETS;
  for (entry *e = c->bucket[h]; e; e = e->next)
    if (memcmp(&e->key, k, sizeof *k) == 0) return e;
  if (c->count >= CACHE_MAX) clear_cache(c);
  entry *e = calloc(1, sizeof *e);
  if (!e) {
    lt_error_set(LT_ERR_OOM, 0, "oneDNN: out of host memory for a primitive");
    return NULL;
  }
  e->key = *k;
  if (build(d, e) != LT_OK) {
    free_entry(d, e);
    return NULL;
  }
  e->next = c->bucket[h];
  c->bucket[h] = e;
  c->count++;
  return e;
}

static lt_status exec(const lt_dnnl_api *d, dnnl_primitive_t p, int nargs, const dnnl_exec_arg_t *args) {
  dnnl_status_t s = d->primitive_execute(p, lt_dnnl_stream(), nargs, args);
  if (s == dnnl_success) s = d->stream_wait(lt_dnnl_stream());
  if (s != dnnl_success) return lt_error_set(LT_ERR_RUNTIME, 0, "oneDNN: execution: %s", lt_dnnl_status_str(s));
  return LT_OK;
}

static lt_status memory(const lt_dnnl_api *d, const dnnl_memory_desc_t *md, void *data, dnnl_memory_t *m) {
  dnnl_status_t s = d->memory_create(m, md, lt_dnnl_engine(), data);
  if (s != dnnl_success) {
    *m = NULL;
    return lt_error_set(LT_ERR_RUNTIME, 0, "oneDNN: dnnl_memory_create: %s", lt_dnnl_status_str(s));
  }
  return LT_OK;
}

/* The residual into a sum's destination: operand o's tensor `buf` when the
 * kernel uses it in place, else its kernel-layout copy `into`. */
static lt_status preload(const lt_dnnl_api *d, const operand *o, const void *residual, void *buf, dnnl_memory_t into) {
  if (!o->reorder_in) {
    memcpy(buf, residual, d->memory_desc_get_size(&o->user));
    return LT_OK;
  }
  dnnl_memory_t from;
  LT_TRY(memory(d, &o->user, (void *)residual, &from));
  dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, into}};
  lt_status st = exec(d, o->reorder_in, 2, ra);
  d->memory_destroy(from);
  return st;
}

/* Runs entry e on the tensors' buffers data[i] (in operand order): inputs
 * reordered into the scratch buffer first (and the residual into a sum's
 * destination), outputs reordered back after. */
static lt_status run(const lt_dnnl_api *d, thread_ctx *c, const entry *e, void *const *data, const void *residual) {
  size_t total = (e->scratch + 63) & ~(size_t)63;
  for (int i = 0; i < e->nop; i++) total += (e->op[i].bytes + 63) & ~(size_t)63;
  char *ws = total ? scratch(c, total) : NULL;
  if (total && !ws)
    return lt_error_set(LT_ERR_OOM, 0, "oneDNN: out of host memory allocating a %zu-byte workspace", total);
  dnnl_memory_t user[MAX_OPERANDS] = {0}, prim[MAX_OPERANDS] = {0}, pad = NULL;
  dnnl_exec_arg_t args[MAX_OPERANDS + 1];
  lt_status st = LT_OK;
  char *at = ws;
  for (int i = 0; i < e->nop && st == LT_OK; i++) {
    const operand *o = &e->op[i];
    st = memory(d, &o->user, data[i], &user[i]);
    if (st == LT_OK && o->reorder) {
      st = memory(d, &o->prim, at, &prim[i]);
      at += (o->bytes + 63) & ~(size_t)63;
    }
    args[i].arg = o->arg;
    args[i].memory = o->reorder ? prim[i] : user[i];
  }
  int nargs = e->nop;
  if (st == LT_OK && e->scratch) {
    st = memory(d, &e->scratch_md, at, &pad);
    args[nargs].arg = DNNL_ARG_SCRATCHPAD;
    args[nargs++].memory = pad;
  }
  for (int i = 0; i < e->nop && st == LT_OK; i++) {
    const operand *o = &e->op[i];
    if (o->reorder && !o->output) {
      dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, user[i]}, {DNNL_ARG_TO, prim[i]}};
      st = exec(d, o->reorder, 2, ra);
    }
    if (o->preload) st = preload(d, o, residual, data[i], prim[i]);
  }
  if (st == LT_OK) st = exec(d, e->prim, nargs, args);
  for (int i = 0; i < e->nop && st == LT_OK; i++) {
    const operand *o = &e->op[i];
    if (o->reorder && o->output) {
      dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, prim[i]}, {DNNL_ARG_TO, user[i]}};
      st = exec(d, o->reorder, 2, ra);
    }
  }
  for (int i = 0; i < e->nop; i++) {
    if (user[i]) d->memory_destroy(user[i]);
    if (prim[i]) d->memory_destroy(prim[i]);
  }
  if (pad) d->memory_destroy(pad);
  return st;
}

/* --- the entries ---------------------------------------------------------------------- */

static void fill_key(conv_key *k, conv_kind kind, const lt_tensor *x, const lt_tensor *w, const lt_tensor *y,
                     const lt_conv2d_params *p, lt_cpu_layout layout, bool bias, bool winograd) {
  memset(k, 0, sizeof *k);
  const int64_t v[16] = {x->shape[0], x->shape[1], x->shape[2], x->shape[3], w->shape[0], w->shape[2], w->shape[3],
                         y->shape[2], y->shape[3], p->stride[0], p->stride[1], p->padding[0], p->padding[1],
                         p->dilation[0], p->dilation[1], p->groups};
  memcpy(k->dims, v, sizeof v);
  k->kind = kind;
  k->dtype = x->dtype;
  k->wdtype = w->dtype;
  k->channels_last = layout == LT_CPU_NHWC;
  k->bias = bias;
  k->winograd = winograd;
}

static bool takes_dtype(lt_dtype dt) { return dt == LT_FLOAT32 || dt == LT_BFLOAT16; }

/* Empty tensors (no images, channels or output positions) stay with im2col,
 * which handles them without a kernel. */
static bool non_empty(int n, const lt_tensor *const *t) {
  for (int i = 0; i < n; i++)
    if (t[i] && lt_tensor_numel(t[i]) == 0) return false;
  return true;
}

/* The table and this thread's context for a call oneDNN may take; *go is
 * false (with LT_OK, and no error left behind) where oneDNN is not there. */
static lt_status open_call(const lt_dnnl_api **d, thread_ctx **c, bool *go) {
  *go = false;
  if (!lt_cpu_onednn_available(NULL, 0)) return LT_OK;
  *d = lt_dnnl();
  *c = *d ? ctx() : NULL;
  if (!*c) return *d ? lt_error_set(LT_ERR_OOM, 0, "oneDNN: out of host memory") : LT_OK;
  *go = true;
  return LT_OK;
}

/* A forward convolution: KIND_FWD, or KIND_EVAL with its post-ops (fuse,
 * the batch norm's scale and shift, the residual or NULL). */
static lt_status forward(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b,
                         const lt_conv2d_params *p, bool winograd, conv_kind kind, int fuse, const float *scale,
                         const float *shift, const lt_tensor *residual, bool *done) {
  *done = false;
  const lt_tensor *all[4] = {y, x, w, residual};
  lt_cpu_layout layout = lt_cpu_call_layout(4, all); /* weights and activations alike */
  if (!takes_dtype(x->dtype) || layout == LT_CPU_MIXED || !non_empty(3, all) || (b && !lt_tensor_is_contiguous(b)))
    return LT_OK;
  const lt_dnnl_api *d = NULL;
  thread_ctx *c = NULL;
  bool go;
  LT_TRY(open_call(&d, &c, &go));
  if (!go) return LT_OK;
  conv_key k;
  fill_key(&k, kind, x, w, y, p, layout, b != NULL, winograd);
  k.fuse = fuse;
  entry *e = lookup(d, c, &k);
  if (!e) return lt_error_status();
  if (e->unsupported) return LT_OK;
  void *data[MAX_OPERANDS];
  int n = 0;
  data[n++] = lt_tensor_data(x);
  data[n++] = lt_tensor_data(w);
  if (b) data[n++] = lt_tensor_data(b);
  data[n++] = lt_tensor_data(y);
  if (kind == KIND_EVAL) {
    data[n++] = (void *)scale;
    data[n++] = (void *)shift;
  }
  *done = true;
  return run(d, c, e, data, residual ? lt_tensor_data(residual) : NULL);
}

lt_status lt_cpu_dnnl_conv2d_forward(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b,
                                     const lt_conv2d_params *p, bool winograd, bool *done) {
  return forward(y, x, w, b, p, winograd, KIND_FWD, 0, NULL, NULL, NULL, done);
}

lt_status lt_cpu_dnnl_conv2d_bn_eval(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b,
                                     const lt_conv2d_params *p, const float *scale, const float *shift,
                                     const lt_tensor *residual, bool relu, bool winograd, bool *done) {
  *done = false;
  if (x->dtype != LT_FLOAT32) return LT_OK;
  int fuse = (residual ? FUSE_RESIDUAL : 0) | (relu ? FUSE_RELU : 0);
  return forward(y, x, w, b, p, winograd, KIND_EVAL, fuse, scale, shift, residual, done);
}

lt_status lt_cpu_dnnl_conv2d_backward(lt_tensor *gx, lt_tensor *gw, const lt_tensor *gy, const lt_tensor *x,
                                      const lt_tensor *w, const lt_conv2d_params *p, bool winograd, bool *done) {
  *done = false;
  const lt_tensor *all[5] = {gy, x, w, gx, gw};
  lt_cpu_layout layout = lt_cpu_call_layout(5, all);
  if (!takes_dtype(x->dtype) || layout == LT_CPU_MIXED || !non_empty(5, all)) return LT_OK;
  const lt_dnnl_api *d = NULL;
  thread_ctx *c = NULL;
  bool go;
  LT_TRY(open_call(&d, &c, &go));
  if (!go) return LT_OK;
  entry *ed = NULL, *ew = NULL;
  conv_key k;
  if (gx) {
    fill_key(&k, KIND_BWD_DATA, x, w, gy, p, layout, false, winograd);
    if (!(ed = lookup(d, c, &k))) return lt_error_status();
  }
  if (gw) {
    fill_key(&k, KIND_BWD_WEIGHTS, x, gw, gy, p, layout, false, winograd);
    if (!(ew = lookup(d, c, &k))) return lt_error_status();
  }
  /* both gradients from oneDNN, or both from im2col */
  if ((ed && ed->unsupported) || (ew && ew->unsupported)) return LT_OK;
  *done = true;
  if (ed) {
    void *data[3] = {lt_tensor_data(gy), lt_tensor_data(w), lt_tensor_data(gx)};
    LT_TRY(run(d, c, ed, data, NULL));
  }
  if (ew) {
    void *data[3] = {lt_tensor_data(x), lt_tensor_data(gy), lt_tensor_data(gw)};
    LT_TRY(run(d, c, ew, data, NULL));
  }
  return LT_OK;
}


#else /* built without oneDNN */

lt_status lt_cpu_dnnl_conv2d_forward(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b,
                                     const lt_conv2d_params *p, bool winograd, bool *done) {
  (void)y, (void)x, (void)w, (void)b, (void)p, (void)winograd;
  *done = false;
  return LT_OK;
}

lt_status lt_cpu_dnnl_conv2d_backward(lt_tensor *gx, lt_tensor *gw, const lt_tensor *gy, const lt_tensor *x,
                                      const lt_tensor *w, const lt_conv2d_params *p, bool winograd, bool *done) {
  (void)gx, (void)gw, (void)gy, (void)x, (void)w, (void)p, (void)winograd;
  *done = false;
  return LT_OK;
}

lt_status lt_cpu_dnnl_conv2d_bn_eval(lt_tensor *y, const lt_tensor *x, const lt_tensor *w, const lt_tensor *b,
                                     const lt_conv2d_params *p, const float *scale, const float *shift,
                                     const lt_tensor *residual, bool relu, bool winograd, bool *done) {
  (void)y, (void)x, (void)w, (void)b, (void)p, (void)scale, (void)shift, (void)residual, (void)relu, (void)winograd;
  *done = false;
  return LT_OK;
}

#endif
