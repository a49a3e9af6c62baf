/* lt_cpu_index.c — the CPU backend's index kernels (see lt_backend_index.h):
 * index_select, gather, scatter (assign or add), sort (full or the first k:
 * topk) and cumsum, over tensors of any strides.
 *
 * index_select and gather write every output element once, so they use the
 * shared strided walk (lt_cpu_foreach) with a view of x whose stride along
 * `dim` is 0: the index then only adds index*stride to a pointer. scatter,
 * sort and cumsum work on whole lines along `dim` and are parallel over the
 * lines; for scatter that keeps threads off each other's destinations (two
 * lines never share one) and the order within a line deterministic.
 * Not here: argument checks (the op layer's) and joining ops (views + copy). */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "lt_backend_index.h"
#include "lt_cpu_iter.h"

/* --- shared helpers ---------------------------------------------------------------- */

static inline void copy_elem(char *d, const char *s, size_t es) {
  switch (es) {
    case 8: memcpy(d, s, 8); break;
    case 4: memcpy(d, s, 4); break;
    case 2: memcpy(d, s, 2); break;
    default: *d = *s; break;
  }
}

/* A shallow copy of t's geometry (no reference taken) reshaped to `shape`
 * with a 0 stride along `dim`: the origin index*stride is added to. */
static void dim0_view(const lt_tensor *t, int ndim, const int64_t *shape, int dim, lt_tensor *v) {
  memcpy(v, t, sizeof *v);
  v->ndim = ndim;
  for (int d = 0; d < ndim; d++) v->shape[d] = shape[d];
  v->stride[dim] = 0;
}

/* v - base, wrapping instead of overflowing (a wrapped value is still out
 * of range, and its message still shows the user's number). */
static inline int64_t position(int64_t v, int64_t base) { return (int64_t)((uint64_t)v - (uint64_t)base); }

/* The first position (in row-major order) of an int64 index tensor outside
 * [0, limit), for a deterministic message. Returns false when there is none. */
static bool find_bad_index(const lt_tensor *idx, int64_t base, int64_t limit, int64_t *bad) {
  if (lt_tensor_numel(idx) == 0) return false;
  const int64_t *p = lt_tensor_data(idx);
  if (idx->ndim == 0) {
    int64_t z = position(p[0], base);
    if (z < 0 || z >= limit) { *bad = z; return true; }
    return false;
  }
  int last = idx->ndim - 1;
  int64_t ctr[LT_MAX_DIMS] = {0}, off = 0, len = idx->shape[last], st = idx->stride[last];
  for (;;) {
    for (int64_t i = 0; i < len; i++) {
      int64_t z = position(p[off + i * st], base);
      if (z < 0 || z >= limit) { *bad = z; return true; }
    }
    int d = last - 1;
    for (; d >= 0; d--) {
      off += idx->stride[d];
      if (++ctr[d] < idx->shape[d]) break;
      off -= ctr[d] * idx->stride[d];
      ctr[d] = 0;
    }
    if (d < 0) return false;
  }
}

static lt_status bad_index_error(const lt_tensor *idx, int64_t base, int64_t limit, int dim) {
  int64_t bad = 0;
  find_bad_index(idx, base, limit, &bad);
  return lt_error_set(LT_ERR_ARG, 0, "index %lld is out of range for dimension %d of size %lld",
                      (long long)position(bad, -1), dim + 1, (long long)limit);
}

/* Lines along `dim` of an iteration shape, for up to 3 operands that each
 * have their own strides (in bytes here). Line r's first element of operand
 * k is line_ptrs(...)[k]; consecutive elements are dstride[k] bytes apart. */
#define LINE_MAX_OPS 3
typedef struct {
  int nops, nouter;
  int64_t oshape[LT_MAX_DIMS];
  int64_t ostride[LINE_MAX_OPS][LT_MAX_DIMS];
  int64_t dstride[LINE_MAX_OPS];
  char *origin[LINE_MAX_OPS];
  int64_t lines;
} lines;

static void lines_init(lines *w, int nops, const lt_tensor *const *ops, int ndim, const int64_t *shape, int dim) {
  w->nops = nops;
  w->nouter = 0;
  w->lines = 1;
  for (int k = 0; k < nops; k++) {
    int64_t es = (int64_t)lt_dtype_size(ops[k]->dtype);
    w->origin[k] = (char *)lt_tensor_data(ops[k]);
    w->dstride[k] = ndim > 0 ? ops[k]->stride[dim] * es : 0;
  }
  for (int d = 0; d < ndim; d++) {
    if (d == dim) continue;
    w->oshape[w->nouter] = shape[d];
    for (int k = 0; k < nops; k++)
      w->ostride[k][w->nouter] = ops[k]->stride[d] * (int64_t)lt_dtype_size(ops[k]->dtype);
    w->nouter++;
    w->lines *= shape[d];
  }
}

static inline void line_ptrs(const lines *w, int64_t line, char **p) {
  for (int k = 0; k < w->nops; k++) p[k] = w->origin[k];
  for (int d = w->nouter - 1; d >= 0; d--) {
    int64_t i = line % w->oshape[d];
    line /= w->oshape[d];
    for (int k = 0; k < w->nops; k++) p[k] += i * w->ostride[k][d];
  }
}

static bool go_parallel(int64_t lines, int64_t work) {
  return lines > 1 && work >= LT_CPU_PARALLEL_GRAIN && lt_cpu_num_threads() > 1;
}

/* --- index_select and gather ----------------------------------------------------------- */
typedef struct {
  size_t es;
  int64_t xs;     /* x's byte stride along dim */
  int64_t limit;  /* x's size along dim */
  int64_t base;
  atomic_int bad; /* an index was out of range */
} pick_ctx;

/* ops: out, x's dim0_view, index (broadcast to out's shape) */
static void pick_run(void *vctx, char **p, const int64_t *s, int64_t n) {
  pick_ctx *c = vctx;
  if (s[2] == 0) { /* one index for the whole run: a strided slice copy */
    int64_t z = position(*(const int64_t *)p[2], c->base);
    if (z < 0 || z >= c->limit) { atomic_store(&c->bad, 1); return; }
    const char *src = p[1] + z * c->xs;
    if (s[0] == (int64_t)c->es && s[1] == (int64_t)c->es) { memcpy(p[0], src, (size_t)n * c->es); return; }
    for (int64_t i = 0; i < n; i++) copy_elem(p[0] + s[0] * i, src + s[1] * i, c->es);
    return;
  }
  bool bad = false;
  if (c->es == 4) { /* float32/int32: the common case, without the size switch */
    for (int64_t i = 0; i < n; i++) {
      int64_t z = position(*(const int64_t *)(p[2] + s[2] * i), c->base);
      if (z < 0 || z >= c->limit) { bad = true; continue; }
      memcpy(p[0] + s[0] * i, p[1] + s[1] * i + z * c->xs, 4);
    }
  } else {
    for (int64_t i = 0; i < n; i++) {
      int64_t z = position(*(const int64_t *)(p[2] + s[2] * i), c->base);
      if (z < 0 || z >= c->limit) { bad = true; continue; }
      copy_elem(p[0] + s[0] * i, p[1] + s[1] * i + z * c->xs, c->es);
    }
  }
  if (bad) atomic_store(&c->bad, 1);
}

static lt_status cpu_index_select(lt_tensor *out, const lt_tensor *x, int dim, const lt_tensor *index, int64_t base) {
  lt_tensor xb, ib;
  dim0_view(x, out->ndim, out->shape, dim, &xb);
  /* the 1-D index seen as out's shape: it varies along dim only */
  memcpy(&ib, index, sizeof ib);
  ib.ndim = out->ndim;
  for (int d = 0; d < out->ndim; d++) {
    ib.shape[d] = out->shape[d];
    ib.stride[d] = d == dim ? (index->ndim ? index->stride[0] : 0) : 0;
  }
  pick_ctx c = {lt_dtype_size(x->dtype), x->stride[dim] * (int64_t)lt_dtype_size(x->dtype), x->shape[dim], base, 0};
  const lt_tensor *ops[3] = {out, &xb, &ib};
  lt_cpu_foreach(3, ops, out->ndim, out->shape, &c, pick_run);
  if (atomic_load(&c.bad)) return bad_index_error(index, base, x->shape[dim], dim);
  return LT_OK;
}

static lt_status cpu_gather(lt_tensor *out, const lt_tensor *x, int dim, const lt_tensor *index, int64_t base) {
  lt_tensor xb;
  dim0_view(x, index->ndim, index->shape, dim, &xb);
  pick_ctx c = {lt_dtype_size(x->dtype), x->stride[dim] * (int64_t)lt_dtype_size(x->dtype), x->shape[dim], base, 0};
  const lt_tensor *ops[3] = {out, &xb, index};
  lt_cpu_foreach(3, ops, out->ndim, out->shape, &c, pick_run);
  if (atomic_load(&c.bad)) return bad_index_error(index, base, x->shape[dim], dim);
  return LT_OK;
}

/* --- scatter ----------------------------------------------------------------------- */

static inline void add_elem(char *d, const char *s, lt_dtype dt) {
  switch (dt) {
    case LT_FLOAT32: { float a, b; memcpy(&a, d, 4); memcpy(&b, s, 4); a += b; memcpy(d, &a, 4); break; }
    case LT_FLOAT64: { double a, b; memcpy(&a, d, 8); memcpy(&b, s, 8); a += b; memcpy(d, &a, 8); break; }
    case LT_INT64: { uint64_t a, b; memcpy(&a, d, 8); memcpy(&b, s, 8); a += b; memcpy(d, &a, 8); break; }
    case LT_INT32: { uint32_t a, b; memcpy(&a, d, 4); memcpy(&b, s, 4); a += b; memcpy(d, &a, 4); break; }
    case LT_UINT8: *(uint8_t *)d = (uint8_t)(*(uint8_t *)d + *(const uint8_t *)s); break;
    case LT_BOOL: *(uint8_t *)d = *(uint8_t *)d || *(const uint8_t *)s; break;
    default: /* bfloat16, float16: add in float, round once */
      lt_dtype_store_f64(d, dt, (double)((float)lt_dtype_load_f64(d, dt) + (float)lt_dtype_load_f64(s, dt)));
  }
}

static lt_status cpu_scatter(lt_tensor *x, int dim, const lt_tensor *index, int64_t base, const lt_tensor *src,
                             bool add) {
  int64_t bad;
  if (find_bad_index(index, base, x->shape[dim], &bad)) return bad_index_error(index, base, x->shape[dim], dim);
  int64_t numel = lt_tensor_numel(index);
  if (numel == 0) return LT_OK;
  lines w;
  const lt_tensor *ops[3] = {x, index, src};
  lines_init(&w, 3, ops, index->ndim, index->shape, dim);
  int64_t len = index->shape[dim];
  size_t es = lt_dtype_size(x->dtype);
  lt_dtype dt = x->dtype;
  bool par = go_parallel(w.lines, numel);
#pragma omp parallel for schedule(static) if (par)
  for (int64_t line = 0; line < w.lines; line++) {
    char *p[3];
    line_ptrs(&w, line, p);
    const int64_t xs = w.dstride[0], is = w.dstride[1], ss = w.dstride[2];
    if (add && dt == LT_FLOAT32) { /* the gradient of gather: keep it tight */
      for (int64_t i = 0; i < len; i++) {
        float *d = (float *)(p[0] + (*(const int64_t *)(p[1] + is * i) - base) * xs);
        *d += *(const float *)(p[2] + ss * i);
      }
    } else {
      for (int64_t i = 0; i < len; i++) {
        char *d = p[0] + (*(const int64_t *)(p[1] + is * i) - base) * xs;
        const char *s = p[2] + ss * i;
        if (add) add_elem(d, s, dt);
        else copy_elem(d, s, es);
      }
    }
  }
  return LT_OK;
}

/* --- sort ------------------------------------------------------------------------------ */

/* A key whose unsigned order is the sort order: sign-flipped IEEE bits for
 * floats (NaN folded to the largest key, -0.0 to +0.0), the offset-binary
 * integer otherwise. Descending sorts the complement. Ties are then broken
 * by position, which makes any correct algorithm produce the stable order. */
typedef struct { uint64_t key; int64_t pos; } pair;

static inline uint64_t key_f64(double v) {
  if (isnan(v)) return UINT64_MAX;
  if (v == 0) v = 0.0;
  uint64_t b;
  memcpy(&b, &v, 8);
  return (b >> 63) ? ~b : b | ((uint64_t)1 << 63);
}

static inline uint64_t load_key(const char *p, lt_dtype dt) {
  switch (dt) {
    case LT_FLOAT32: { float f; memcpy(&f, p, 4); return key_f64(f); }
    case LT_FLOAT64: { double f; memcpy(&f, p, 8); return key_f64(f); }
    case LT_BFLOAT16: case LT_FLOAT16: return key_f64(lt_dtype_load_f64(p, dt));
    case LT_INT64: { uint64_t u; memcpy(&u, p, 8); return u ^ ((uint64_t)1 << 63); }
    default: return (uint64_t)lt_dtype_load_i64(p, dt) ^ ((uint64_t)1 << 63);
  }
}

static inline bool pair_less(const pair *a, const pair *b) {
  return a->key < b->key || (a->key == b->key && a->pos < b->pos);
}

static void insertion_sort(pair *a, int64_t n) {
  for (int64_t i = 1; i < n; i++) {
    pair t = a[i];
    int64_t j = i;
    while (j > 0 && pair_less(&t, &a[j - 1])) { a[j] = a[j - 1]; j--; }
    a[j] = t;
  }
}

/* Bottom-up merge sort of a[0..n) using tmp[0..n); returns where the sorted
 * sequence ended up (a or tmp). */
static pair *merge_sort(pair *a, pair *tmp, int64_t n) {
  const int64_t run = 32;
  for (int64_t lo = 0; lo < n; lo += run) insertion_sort(a + lo, n - lo < run ? n - lo : run);
  for (int64_t width = run; width < n; width *= 2) {
    for (int64_t lo = 0; lo < n; lo += 2 * width) {
      int64_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
      int64_t i = lo, j = mid, o = lo;
      while (i < mid && j < hi) tmp[o++] = pair_less(&a[j], &a[i]) ? a[j++] : a[i++];
      while (i < mid) tmp[o++] = a[i++];
      while (j < hi) tmp[o++] = a[j++];
    }
    pair *t = a; a = tmp; tmp = t;
  }
  return a;
}

/* The k smallest pairs of a[0..n) into heap[0..k), sorted: a max-heap of
 * the best k seen so far, O(n log k). */
static void heap_down(pair *h, int64_t k, int64_t i) {
  for (;;) {
    int64_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < k && pair_less(&h[m], &h[l])) m = l;
    if (r < k && pair_less(&h[m], &h[r])) m = r;
    if (m == i) return;
    pair t = h[i]; h[i] = h[m]; h[m] = t;
    i = m;
  }
}

static void select_k(const pair *a, int64_t n, pair *heap, int64_t k) {
  for (int64_t i = 0; i < k; i++) heap[i] = a[i];
  for (int64_t i = k / 2 - 1; i >= 0; i--) heap_down(heap, k, i);
  for (int64_t i = k; i < n; i++)
    if (pair_less(&a[i], &heap[0])) { heap[0] = a[i]; heap_down(heap, k, 0); }
  /* heap sort in place: largest to the end */
  for (int64_t end = k - 1; end > 0; end--) {
    pair t = heap[0]; heap[0] = heap[end]; heap[end] = t;
    heap_down(heap, end, 0);
  }
}

static lt_status cpu_sort(lt_tensor *values, lt_tensor *indices, const lt_tensor *x, int dim, bool descending,
                         int64_t base) {
  int64_t n = x->ndim ? x->shape[dim] : 1, k = values->ndim ? values->shape[dim] : 1;
  int64_t numel = lt_tensor_numel(x);
  if (numel == 0 || k == 0) return LT_OK;
  lines w;
  const lt_tensor *ops[3] = {x, values, indices};
  lines_init(&w, 3, ops, x->ndim, x->shape, dim);
  size_t es = lt_dtype_size(x->dtype);
  lt_dtype dt = x->dtype;
  bool use_heap = k < n && k <= 256 && k * 8 <= n;
  size_t scratch = (size_t)n + (size_t)(use_heap ? k : n);
  atomic_int oom = 0;
  bool par = go_parallel(w.lines, numel);
#pragma omp parallel if (par)
  {
    pair *buf = malloc(scratch * sizeof(pair));
    if (!buf) atomic_store(&oom, 1);
#pragma omp for schedule(static)
    for (int64_t line = 0; line < w.lines; line++) {
      if (!buf) continue;
      char *p[3];
      line_ptrs(&w, line, p);
      for (int64_t i = 0; i < n; i++) {
        uint64_t key = load_key(p[0] + w.dstride[0] * i, dt);
        buf[i].key = descending ? ~key : key;
        buf[i].pos = i;
      }
      const pair *sorted;
      if (use_heap) {
        select_k(buf, n, buf + n, k);
        sorted = buf + n;
      } else {
        sorted = merge_sort(buf, buf + n, n);
      }
      for (int64_t j = 0; j < k; j++) {
        copy_elem(p[1] + w.dstride[1] * j, p[0] + w.dstride[0] * sorted[j].pos, es);
        *(int64_t *)(p[2] + w.dstride[2] * j) = sorted[j].pos + base;
      }
    }
    free(buf);
  }
  if (atomic_load(&oom))
    return lt_error_set(LT_ERR_OOM, 0, "out of host memory for sort scratch (%zu bytes per thread)", scratch * sizeof(pair));
  return LT_OK;
}

/* --- cumsum --------------------------------------------------------------------------- */

static lt_status cpu_cumsum(lt_tensor *out, const lt_tensor *x, int dim, bool reverse) {
  int64_t numel = lt_tensor_numel(x);
  if (numel == 0) return LT_OK;
  lines w;
  const lt_tensor *ops[2] = {out, x};
  lines_init(&w, 2, ops, x->ndim, x->shape, dim);
  int64_t n = x->ndim ? x->shape[dim] : 1;
  lt_dtype xd = x->dtype, od = out->dtype;
  bool floating = lt_dtype_is_floating(xd);
  bool par = go_parallel(w.lines, numel);
#pragma omp parallel for schedule(static) if (par)
  for (int64_t line = 0; line < w.lines; line++) {
    char *p[2];
    line_ptrs(&w, line, p);
    int64_t start = reverse ? n - 1 : 0, step = reverse ? -1 : 1;
    if (floating) {
      double acc = 0;
      for (int64_t c = 0, i = start; c < n; c++, i += step) {
        const char *s = p[1] + w.dstride[1] * i;
        char *d = p[0] + w.dstride[0] * i;
        if (xd == LT_FLOAT32) { float f; memcpy(&f, s, 4); acc += f; float o = (float)acc; memcpy(d, &o, 4); }
        else if (xd == LT_FLOAT64) { double f; memcpy(&f, s, 8); acc += f; memcpy(d, &acc, 8); }
        else { acc += lt_dtype_load_f64(s, xd); lt_dtype_store_f64(d, od, acc); }
      }
    } else {
      uint64_t acc = 0; /* wraps like int64 arithmetic, without UB */
      for (int64_t c = 0, i = start; c < n; c++, i += step) {
        acc += (uint64_t)lt_dtype_load_i64(p[1] + w.dstride[1] * i, xd);
        lt_dtype_store_i64(p[0] + w.dstride[0] * i, od, (int64_t)acc);
      }
    }
  }
  return LT_OK;
}

const lt_index_kernels lt_cpu_index_kernels = {
  .index_select = cpu_index_select,
  .gather = cpu_gather,
  .scatter = cpu_scatter,
  .sort = cpu_sort,
  .cumsum = cpu_cumsum,
};
