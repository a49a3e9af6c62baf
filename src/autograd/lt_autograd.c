/* lt_autograd.c — the autograd engine: grad mode, node life cycle, saved
 * tensors, and the backward pass (see lt_autograd.h). Backward formulas of
 * the tensor ops are in the lt_ag_*.c files; this file knows no op. (It is
 * a little over 700 lines: the engine is one piece, its parts sharing the
 * record bookkeeping described next.)
 *
 * The backward pass works on "records": one per node reached from the roots,
 * except that all accumulate-grad nodes of one leaf share one record (keyed
 * by the leaf), so a leaf's gradient is summed once and the grad-ready hook
 * fires exactly when its last contribution has arrived. A depth-first walk
 * finds the records and which of them lead to a wanted gradient; dependency
 * counts then release a record when every consumer has run, and among the
 * ready ones the most recently created node runs first (leaves at once). */
#include "lt_autograd.h"
#include "lt_ops_layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_ops.h"

/* --- grad mode ---------------------------------------------------------------- */

static _Thread_local bool grad_disabled;

bool lt_ag_grad_enabled(void) { return !grad_disabled; }

bool lt_ag_set_grad_enabled(bool enabled) {
  bool prev = !grad_disabled;
  grad_disabled = !enabled;
  return prev;
}

bool lt_ag_needs_grad(int n, lt_tensor *const *inputs) {
  if (grad_disabled) return false;
  for (int i = 0; i < n; i++) {
    lt_tensor *t = inputs[i];
    if (!t) continue;
    /* a view that cannot be refreshed: say yes, so that lt_ag_node_new
     * (which refreshes again) reports why */
    if (t->view_base && lt_ag_refresh_view(t) != LT_OK) return true;
    if (t->requires_grad) return true;
  }
  return false;
}

/* --- nodes ---------------------------------------------------------------------- */

static atomic_uint_fast64_t seq_counter;

static lt_node *node_alloc(int n_inputs) {
  size_t sz = sizeof(lt_node) + (size_t)n_inputs * (sizeof(lt_edge) + sizeof(lt_input_meta));
  lt_node *n = calloc(1, sz);
  if (!n) return NULL;
  atomic_init(&n->refcount, 1);
  n->seq = atomic_fetch_add(&seq_counter, 1);
  n->n_inputs = n_inputs;
  n->next = (lt_edge *)(n + 1);
  n->inputs = (lt_input_meta *)(n->next + n_inputs);
  return n;
}

void lt_node_retain(lt_node *n) { atomic_fetch_add(&n->refcount, 1); }

static void free_saved(lt_node *n) {
  for (int i = 0; i < n->n_saved; i++) lt_tensor_release(n->saved[i]);
  free(n->saved);
  free(n->saved_versions);
  n->saved = NULL;
  n->saved_versions = NULL;
  n->n_saved = n->cap_saved = 0;
}

static void node_destroy(lt_node *n) {
  for (int i = 0; i < n->n_inputs; i++) lt_node_release(n->next[i].node);
  free_saved(n);
  if (n->ctx_free) n->ctx_free(n->ctx);
  lt_tensor_release(n->leaf);
  lt_node_release(n->inner);
  free(n);
}

/* Releasing a node releases its next nodes and saved tensors, which release
 * theirs: done with a work list instead of recursion. */
static _Thread_local lt_node *pending_free;
static _Thread_local bool freeing;

void lt_node_release(lt_node *n) {
  if (!n || atomic_fetch_sub(&n->refcount, 1) != 1) return;
  n->free_link = pending_free;
  pending_free = n;
  if (freeing) return;
  freeing = true;
  while (pending_free) {
    lt_node *m = pending_free;
    pending_free = m->free_link;
    node_destroy(m);
  }
  freeing = false;
}

/* Every grad_fn is a node made here, so a program that has one has run this:
 * the core (which knows no nodes) releases a tensor's grad_fn through it. */
__attribute__((constructor)) static void install_grad_fn_release(void) {
  lt_tensor_set_grad_fn_release(lt_node_release);
}

static void fill_meta(lt_input_meta *m, const lt_tensor *t) {
  m->ndim = t->ndim;
  m->dtype = t->dtype;
  m->device = lt_tensor_device(t);
  memcpy(m->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
}

static lt_status acc_node_new(lt_tensor *leaf, lt_node **out) {
  lt_node *n = node_alloc(0);
  if (!n) return lt_error_set(LT_ERR_OOM, 0, "out of host memory");
  n->name = "AccumulateGrad";
  n->n_outputs = 1;
  lt_tensor_retain(leaf);
  n->leaf = leaf;
  *out = n;
  return LT_OK;
}

lt_status lt_ag_node_new(const char *name, lt_backward_fn fn, int n_inputs, lt_tensor *const *inputs, int n_outputs,
                         lt_node **out) {
  if (n_inputs < 0 || n_outputs < 1 || !fn)
    return lt_error_set(LT_ERR_RUNTIME, 0, "%s: a node needs a backward function, >= 0 inputs and >= 1 outputs", name);
  /* views whose base was modified in place take their history from it first */
  for (int i = 0; i < n_inputs; i++)
    if (inputs[i]) LT_TRY(lt_ag_refresh_view(inputs[i]));
  lt_node *n = node_alloc(n_inputs);
  if (!n) return lt_error_set(LT_ERR_OOM, 0, "out of host memory");
  n->name = name;
  n->backward = fn;
  n->n_outputs = n_outputs;
  for (int i = 0; i < n_inputs; i++) {
    lt_tensor *t = inputs[i];
    if (!t) continue;
    fill_meta(&n->inputs[i], t);
    if (!t->requires_grad) continue;
    if (t->grad_fn) {
      lt_node_retain(t->grad_fn);
      n->next[i].node = t->grad_fn;
      n->next[i].output_nr = t->output_nr;
    } else {
      lt_status st = acc_node_new(t, &n->next[i].node);
      if (st != LT_OK) {
        lt_node_release(n);
        return st;
      }
    }
  }
  *out = n;
  return LT_OK;
}

static lt_status save_owned(lt_node *n, lt_tensor *t) {
  if (n->n_saved == n->cap_saved) {
    int cap = n->cap_saved ? 2 * n->cap_saved : 4;
    lt_tensor **s = realloc(n->saved, sizeof *s * (size_t)cap);
    if (!s) return lt_error_set(LT_ERR_OOM, 0, "out of host memory");
    n->saved = s;
    uint64_t *v = realloc(n->saved_versions, sizeof *v * (size_t)cap);
    if (!v) return lt_error_set(LT_ERR_OOM, 0, "out of host memory");
    n->saved_versions = v;
    n->cap_saved = cap;
  }
  n->saved[n->n_saved] = t;
  n->saved_versions[n->n_saved] = atomic_load(&t->storage->version);
  n->n_saved++;
  return LT_OK;
}

lt_status lt_ag_save(lt_node *n, lt_tensor *t) {
  /* a view is kept as a plain alias: its reference to its base would close
   * a cycle when the base's history later runs through this node (a buffer
   * whose row is computed from another row) */
  if (t->view_base) return lt_ag_save_output(n, t);
  lt_tensor_retain(t);
  lt_status st = save_owned(n, t);
  if (st != LT_OK) lt_tensor_release(t);
  return st;
}

lt_status lt_ag_save_output(lt_node *n, lt_tensor *t) {
  lt_tensor *a;
  LT_TRY(lt_tensor_alias(t, &a));
  lt_status st = save_owned(n, a);
  if (st != LT_OK) lt_tensor_release(a);
  return st;
}

lt_status lt_ag_saved(lt_node *n, int i, lt_tensor **out) {
  if (n->released)
    return lt_error_set(LT_ERR_RUNTIME, 0, "the graph was freed by a previous backward (use retain_graph=true)");
  if (i < 0 || i >= n->n_saved)
    return lt_error_set(LT_ERR_RUNTIME, 0, "%s: saved tensor %d requested, %d saved", n->name, i, n->n_saved);
  lt_tensor *t = n->saved[i];
  uint64_t v = atomic_load(&t->storage->version);
  if (v != n->saved_versions[i])
    return lt_error_set(LT_ERR_RUNTIME, 0,
                        "a tensor needed for backward (saved by %s) was modified in place (its version is %llu, "
                        "expected %llu); clone it before modifying it, or use the out-of-place op",
                        n->name, (unsigned long long)v, (unsigned long long)n->saved_versions[i]);
  *out = t;
  return LT_OK;
}

void lt_ag_set_output(lt_node *n, lt_tensor *out, int output_nr) {
  lt_node_retain(n);
  lt_node_release(out->grad_fn);
  out->grad_fn = n;
  out->output_nr = output_nr;
  out->requires_grad = true;
}

void lt_ag_share_edge(lt_node *dst, int i, const lt_node *src, int j) {
  lt_node_release(dst->next[i].node);
  dst->next[i] = src->next[j];
  if (dst->next[i].node) lt_node_retain(dst->next[i].node);
  dst->inputs[i] = src->inputs[j];
}

bool lt_node_needs_input_grad(const lt_node *n, int input) {
  return input >= 0 && input < n->n_inputs && n->next[input].node != NULL;
}

/* --- helpers -------------------------------------------------------------------- */

lt_status lt_ag_sum_to(lt_tensor *grad, int ndim, const int64_t *shape, lt_tensor **out) {
  char b1[128], b2[128];
  int lead = grad->ndim - ndim;
  bool same = lead == 0;
  for (int i = 0; same && i < ndim; i++) same = grad->shape[i] == shape[i];
  if (same) {
    lt_tensor_retain(grad);
    *out = grad;
    return LT_OK;
  }
  if (lead < 0) goto bad;
  int dims[LT_MAX_DIMS], nd = 0;
  for (int i = 0; i < grad->ndim; i++) {
    if (i < lead) { dims[nd++] = i; continue; }
    int64_t want = shape[i - lead];
    if (want == grad->shape[i]) continue;
    if (want != 1) goto bad;
    dims[nd++] = i;
  }
  lt_tensor *r = NULL;
  if (nd == 0) {
    LT_TRY(lt_op_reshape(grad, ndim, shape, out));
    return LT_OK;
  }
  LT_TRY(lt_op_reduce(LT_RED_SUM, grad, nd, dims, true, 0, &r, NULL));
  lt_status st = lt_op_reshape(r, ndim, shape, out);
  lt_tensor_release(r);
  return st;
bad:
  return lt_error_set(LT_ERR_RUNTIME, 0, "cannot reduce a gradient of shape %s to shape %s",
                      lt_shape_str(grad->ndim, grad->shape, b1, sizeof b1), lt_shape_str(ndim, shape, b2, sizeof b2));
}

static void (*ready_hook)(lt_tensor *leaf, void *ctx);
static void *ready_hook_ctx;

void lt_ag_set_grad_ready_hook(void (*hook)(lt_tensor *leaf, void *ctx), void *ctx) {
  ready_hook = hook;
  ready_hook_ctx = ctx;
}

/* --- the engine ------------------------------------------------------------------- */

typedef struct {
  void *key;         /* the node, or the leaf tensor for accumulate-grad records */
  lt_node *node;     /* NULL for a leaf record */
  lt_tensor *leaf;   /* the leaf for a leaf record */
  lt_tensor **buf;   /* one gradient per output, summed as they arrive */
  int n_out;
  int deps;          /* consumers still to run */
  int state;         /* walk: 0 new, 1 on the stack, 2 finished */
  bool target;       /* a wanted gradient is read here */
  bool reach;        /* target, or leads to one */
  bool exec;         /* runs its backward (some input leads to a target) */
  bool is_root;
} rec;

typedef struct {
  rec *recs;
  int n, cap;
  int *table; /* open addressing: record index + 1, 0 = empty */
  int tcap;
  bool leaf_targets;
} graph;

static size_t hash_ptr(const void *p) {
  uintptr_t x = (uintptr_t)p;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return (size_t)x;
}

static void graph_free(graph *g) {
  for (int i = 0; i < g->n; i++) {
    for (int k = 0; k < g->recs[i].n_out; k++) lt_tensor_release(g->recs[i].buf[k]);
    free(g->recs[i].buf);
  }
  free(g->recs);
  free(g->table);
}

static int graph_find(graph *g, const void *key) {
  if (!g->tcap) return -1;
  size_t m = (size_t)g->tcap - 1;
  for (size_t h = hash_ptr(key) & m;; h = (h + 1) & m) {
    int v = g->table[h];
    if (!v) return -1;
    if (g->recs[v - 1].key == key) return v - 1;
  }
}

static lt_status graph_rehash(graph *g, int tcap) {
  int *t = calloc((size_t)tcap, sizeof *t);
  if (!t) return lt_error_set(LT_ERR_OOM, 0, "out of host memory");
  size_t m = (size_t)tcap - 1;
  for (int i = 0; i < g->n; i++) {
    size_t h = hash_ptr(g->recs[i].key) & m;
    while (t[h]) h = (h + 1) & m;
    t[h] = i + 1;
  }
  free(g->table);
  g->table = t;
  g->tcap = tcap;
  return LT_OK;
}

/* The record of an edge target (node, or leaf of an accumulate node), created
 * when new. */
static lt_status graph_get(graph *g, lt_node *node, lt_tensor *leaf, int *out) {
  void *key = leaf ? (void *)leaf : (void *)node;
  int i = graph_find(g, key);
  if (i >= 0) { *out = i; return LT_OK; }
  if (g->n == g->cap) {
    int cap = g->cap ? 2 * g->cap : 32;
    rec *r = realloc(g->recs, sizeof *r * (size_t)cap);
    if (!r) return lt_error_set(LT_ERR_OOM, 0, "out of host memory");
    g->recs = r;
    g->cap = cap;
  }
  if ((g->n + 1) * 2 > g->tcap) LT_TRY(graph_rehash(g, g->tcap ? 2 * g->tcap : 64));
  int n_out = leaf ? 1 : node->n_outputs;
  lt_tensor **buf = calloc((size_t)n_out, sizeof *buf);
  if (!buf) return lt_error_set(LT_ERR_OOM, 0, "out of host memory");
  rec *r = &g->recs[g->n];
  memset(r, 0, sizeof *r);
  r->key = key;
  r->node = leaf ? NULL : node;
  r->leaf = leaf;
  r->buf = buf;
  r->n_out = n_out;
  r->target = leaf && g->leaf_targets;
  size_t m = (size_t)g->tcap - 1, h = hash_ptr(key) & m;
  while (g->table[h]) h = (h + 1) & m;
  g->table[h] = g->n + 1;
  *out = g->n++;
  return LT_OK;
}

static lt_status edge_rec(graph *g, const lt_edge *e, int *out) {
  return graph_get(g, e->node->leaf ? NULL : e->node, e->node->leaf, out);
}

/* The record a tensor's gradient flows into: its grad_fn or its leaf record. */
static lt_status tensor_rec(graph *g, lt_tensor *t, int *out) {
  return t->grad_fn ? graph_get(g, t->grad_fn, NULL, out) : graph_get(g, NULL, t, out);
}

/* Depth-first walk from the roots: finds every record and, on the way back,
 * which ones reach a target. */
static lt_status graph_walk(graph *g, int n_roots, const int *roots) {
  typedef struct { int r, e; } frame;
  int cap = 64, top = 0;
  frame *st = malloc(sizeof *st * (size_t)cap);
  if (!st) return lt_error_set(LT_ERR_OOM, 0, "out of host memory");
  lt_status s = LT_OK;
  for (int k = 0; k < n_roots && s == LT_OK; k++) {
    if (g->recs[roots[k]].state) continue;
    g->recs[roots[k]].state = 1;
    st[top++] = (frame){roots[k], 0};
    while (top > 0 && s == LT_OK) {
      frame *f = &st[top - 1];
      lt_node *n = g->recs[f->r].node;
      if (n && f->e < n->n_inputs) {
        lt_edge *e = &n->next[f->e++];
        if (!e->node) continue;
        int c;
        s = edge_rec(g, e, &c);
        if (s != LT_OK || g->recs[c].state) continue;
        g->recs[c].state = 1;
        if (top == cap) {
          frame *ns = realloc(st, sizeof *st * (size_t)(cap *= 2));
          if (!ns) { s = lt_error_set(LT_ERR_OOM, 0, "out of host memory"); break; }
          st = ns;
        }
        st[top++] = (frame){c, 0};
        continue;
      }
      /* all children finished: decide */
      rec *r = &g->recs[f->r];
      bool any = false;
      for (int i = 0; n && i < n->n_inputs; i++) {
        if (!n->next[i].node) continue;
        int c = graph_find(g, n->next[i].node->leaf ? (void *)n->next[i].node->leaf : (void *)n->next[i].node);
        if (c >= 0 && g->recs[c].reach) any = true;
      }
      r = &g->recs[f->r]; /* recs may have moved */
      r->exec = any;
      r->reach = any || r->target;
      r->state = 2;
      top--;
    }
  }
  free(st);
  return s;
}

/* A max-heap of record indices by node creation order; leaves first. */
typedef struct {
  int *a;
  int n;
} heap;

static uint64_t prio(const graph *g, int i) { return g->recs[i].node ? g->recs[i].node->seq : UINT64_MAX; }

static void heap_push(heap *h, const graph *g, int v) {
  int i = h->n++;
  h->a[i] = v;
  while (i > 0) {
    int p = (i - 1) / 2;
    if (prio(g, h->a[p]) >= prio(g, h->a[i])) break;
    int t = h->a[p]; h->a[p] = h->a[i]; h->a[i] = t;
    i = p;
  }
}

static int heap_pop(heap *h, const graph *g) {
  int top = h->a[0];
  h->a[0] = h->a[--h->n];
  for (int i = 0;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < h->n && prio(g, h->a[l]) > prio(g, h->a[m])) m = l;
    if (r < h->n && prio(g, h->a[r]) > prio(g, h->a[m])) m = r;
    if (m == i) break;
    int t = h->a[m]; h->a[m] = h->a[i]; h->a[i] = t;
    i = m;
  }
  return top;
}

/* buf += g (takes over the reference to g). */
static lt_status accumulate(lt_tensor **buf, lt_tensor *g) {
  if (!*buf) { *buf = g; return LT_OK; }
  lt_tensor *b = *buf, *sum = NULL;
  lt_status st;
  if (lt_tensor_refcount(b) == 1 && lt_storage_refcount(b->storage) == 1 && lt_tensor_is_non_overlapping(b) &&
      lt_promote_types(b->dtype, g->dtype) == b->dtype) {
    st = lt_op_binary_(LT_BIN_ADD, b, g);
  } else {
    st = lt_op_binary(LT_BIN_ADD, b, g, &sum);
    if (st == LT_OK) { lt_tensor_release(b); *buf = sum; }
  }
  lt_tensor_release(g);
  return st;
}

/* Brings a gradient to the dtype, device and shape recorded for an input. */
static lt_status conform(lt_tensor **g, const lt_input_meta *m, const char *who, int input) {
  lt_tensor *t = *g;
  bool same = t->ndim == m->ndim;
  for (int i = 0; same && i < m->ndim; i++) same = t->shape[i] == m->shape[i];
  if (!same) {
    char b1[128], b2[128];
    return lt_error_set(LT_ERR_RUNTIME, 0, "%s returned a gradient of shape %s for input %d of shape %s", who,
                        lt_shape_str(t->ndim, t->shape, b1, sizeof b1), input + 1,
                        lt_shape_str(m->ndim, m->shape, b2, sizeof b2));
  }
  if (t->dtype == m->dtype && lt_device_equal(lt_tensor_device(t), m->device)) return LT_OK;
  lt_tensor *c;
  LT_TRY(lt_op_to(t, m->dtype, m->device, &c));
  lt_tensor_release(t);
  *g = c;
  return LT_OK;
}

/* leaf.grad += g (takes over g): a fresh tensor the first time, then in place. */
static lt_status accumulate_leaf(lt_tensor *leaf, lt_tensor *g) {
  lt_status st = LT_OK;
  if (!leaf->grad) {
    /* the gradient takes the leaf's memory format (channels-last weights
     * get channels-last gradients), as PyTorch's AccumulateGrad */
    lt_memory_format fmt = lt_tensor_suggest_format(leaf);
    if (lt_tensor_refcount(g) == 1 && lt_storage_refcount(g->storage) == 1 &&
        lt_tensor_is_contiguous_format(g, fmt)) {
      leaf->grad = g;
      return LT_OK;
    }
    lt_tensor *c = NULL;
    st = lt_op_clone_format(g, fmt, &c);
    if (st == LT_OK) leaf->grad = c;
  } else {
    st = lt_op_binary_(LT_BIN_ADD, leaf->grad, g);
  }
  lt_tensor_release(g);
  return st;
}

typedef struct {
  int n_in;
  lt_tensor *const *inputs;
  lt_tensor **grads; /* NULL: accumulate into leaves (backward) */
} capture;

static lt_status run_backward(int n_roots, lt_tensor *const *roots, lt_tensor *const *root_grads, bool retain_graph,
                              capture *cap) {
  graph g = {0};
  heap h = {0};
  lt_tensor **gin = NULL;
  int *root_recs = malloc(sizeof(int) * (size_t)(n_roots ? n_roots : 1));
  lt_status st = root_recs ? LT_OK : lt_error_set(LT_ERR_OOM, 0, "out of host memory");
  g.leaf_targets = cap->grads == NULL; /* backward: every leaf wants its gradient */
  for (int i = 0; i < n_roots && st == LT_OK; i++) st = tensor_rec(&g, roots[i], &root_recs[i]);
  /* lt_ag_grad: the inputs' records are the targets (made now if not roots) */
  for (int j = 0; cap->grads && j < cap->n_in && st == LT_OK; j++) {
    int r;
    st = tensor_rec(&g, cap->inputs[j], &r);
    if (st == LT_OK) g.recs[r].target = true;
  }
  if (st == LT_OK) st = graph_walk(&g, n_roots, root_recs);
  /* dependency counts over the edges that matter */
  for (int i = 0; i < g.n && st == LT_OK; i++) {
    if (!g.recs[i].exec) continue;
    lt_node *n = g.recs[i].node;
    for (int k = 0; k < n->n_inputs; k++) {
      if (!n->next[k].node) continue;
      int c = graph_find(&g, n->next[k].node->leaf ? (void *)n->next[k].node->leaf : (void *)n->next[k].node);
      if (c >= 0 && g.recs[c].reach) g.recs[c].deps++;
    }
  }
  /* seed the roots' gradients */
  for (int i = 0; i < n_roots && st == LT_OK; i++) {
    rec *r = &g.recs[root_recs[i]];
    r->is_root = true;
    lt_tensor *gr = root_grads[i];
    lt_tensor *seed = NULL;
    if (gr) {
      st = lt_op_to(gr, roots[i]->dtype, lt_tensor_device(roots[i]), &seed);
    } else {
      st = lt_op_full(roots[i]->ndim, roots[i]->shape, 1.0, roots[i]->dtype, lt_tensor_device(roots[i]), &seed);
    }
    if (st == LT_OK) st = accumulate(&r->buf[roots[i]->grad_fn ? roots[i]->output_nr : 0], seed);
  }
  if (st == LT_OK) {
    h.a = malloc(sizeof(int) * (size_t)(g.n ? g.n : 1));
    if (!h.a) st = lt_error_set(LT_ERR_OOM, 0, "out of host memory");
  }
  for (int i = 0; i < g.n && st == LT_OK; i++)
    if (g.recs[i].is_root && g.recs[i].deps == 0 && (g.recs[i].reach)) heap_push(&h, &g, i);
  while (st == LT_OK && h.n > 0) {
    int ri = heap_pop(&h, &g);
    rec *r = &g.recs[ri];
    /* wanted gradients */
    if (r->target && cap->grads) {
      for (int j = 0; j < cap->n_in; j++) {
        lt_tensor *t = cap->inputs[j];
        void *key = t->grad_fn ? (void *)t->grad_fn : (void *)t;
        int slot = t->grad_fn ? t->output_nr : 0;
        if (key != r->key || !r->buf[slot]) continue;
        lt_tensor_retain(r->buf[slot]);
        lt_tensor_release(cap->grads[j]);
        cap->grads[j] = r->buf[slot];
      }
    }
    if (r->leaf) {
      if (!cap->grads && r->buf[0]) {
        lt_tensor *gl = r->buf[0];
        r->buf[0] = NULL;
        lt_input_meta m;
        fill_meta(&m, r->leaf);
        st = conform(&gl, &m, "backward", 0);
        if (st == LT_OK) st = accumulate_leaf(r->leaf, gl);
        else lt_tensor_release(gl);
        if (st == LT_OK && ready_hook) ready_hook(r->leaf, ready_hook_ctx);
      }
      continue;
    }
    if (!r->exec) continue;
    lt_node *n = r->node;
    gin = calloc((size_t)(n->n_inputs ? n->n_inputs : 1), sizeof *gin);
    if (!gin) { st = lt_error_set(LT_ERR_OOM, 0, "out of host memory"); break; }
    bool any_grad = false;
    for (int k = 0; k < r->n_out; k++) any_grad |= r->buf[k] != NULL;
    if (any_grad) st = n->backward(n, r->buf, gin);
    for (int k = 0; k < r->n_out; k++) { lt_tensor_release(r->buf[k]); r->buf[k] = NULL; }
    if (st == LT_OK && !retain_graph) {
      free_saved(n);
      n->released = true;
      if (n->inner) {
        free_saved(n->inner);
        n->inner->released = true;
      }
    }
    for (int k = 0; k < n->n_inputs && st == LT_OK; k++) {
      lt_edge *e = &n->next[k];
      if (!e->node) { lt_tensor_release(gin[k]); gin[k] = NULL; continue; }
      int c = graph_find(&g, e->node->leaf ? (void *)e->node->leaf : (void *)e->node);
      rec *cr = &g.recs[c];
      if (!cr->reach) { lt_tensor_release(gin[k]); gin[k] = NULL; continue; }
      if (gin[k]) {
        st = conform(&gin[k], &n->inputs[k], n->name, k);
        if (st == LT_OK) st = accumulate(&cr->buf[e->node->leaf ? 0 : e->output_nr], gin[k]);
        else lt_tensor_release(gin[k]);
        gin[k] = NULL;
      }
      if (st == LT_OK && --cr->deps == 0) heap_push(&h, &g, c);
    }
    for (int k = 0; k < n->n_inputs; k++) lt_tensor_release(gin[k]);
    free(gin);
    gin = NULL;
  }
  free(h.a);
  free(root_recs);
  graph_free(&g);
  return st;
}

static lt_status check_root(lt_tensor *root, lt_tensor *grad, int i) {
  char b1[128], b2[128];
  LT_TRY(lt_ag_refresh_view(root));
  if (!root->requires_grad)
    return lt_error_set(LT_ERR_ARG, 0, "%s does not require grad and has no grad_fn",
                        i < 0 ? "the tensor" : "an output");
  if (!grad && lt_tensor_numel(root) != 1)
    return lt_error_set(LT_ERR_ARG, 0,
                        "a gradient can be created implicitly only for a tensor with one element, got shape %s; "
                        "pass the gradient as an argument",
                        lt_shape_str(root->ndim, root->shape, b1, sizeof b1));
  if (grad && !lt_shape_equal(grad, root))
    return lt_error_set(LT_ERR_ARG, i < 0 ? 2 : 0, "gradient of shape %s does not match the tensor's shape %s",
                        lt_shape_str(grad->ndim, grad->shape, b1, sizeof b1),
                        lt_shape_str(root->ndim, root->shape, b2, sizeof b2));
  return LT_OK;
}

lt_status lt_ag_backward_many(int n, lt_tensor *const *roots, lt_tensor *const *grads, bool retain_graph) {
  for (int i = 0; i < n; i++) LT_TRY(check_root(roots[i], grads ? grads[i] : NULL, n == 1 ? -1 : i));
  lt_tensor **gr = (lt_tensor **)grads;
  lt_tensor **tmp = NULL;
  if (!grads) {
    tmp = calloc((size_t)(n ? n : 1), sizeof *tmp);
    if (!tmp) return lt_error_set(LT_ERR_OOM, 0, "out of host memory");
    gr = tmp;
  }
  bool prev = lt_ag_set_grad_enabled(false);
  capture cap = {0, NULL, NULL};
  lt_status st = run_backward(n, roots, gr, retain_graph, &cap);
  lt_ag_set_grad_enabled(prev);
  free(tmp);
  return st;
}

lt_status lt_ag_backward(lt_tensor *root, lt_tensor *grad, bool retain_graph) {
  lt_tensor *g[1] = {grad};
  return lt_ag_backward_many(1, &root, g, retain_graph);
}

lt_status lt_ag_grad(int n_out, lt_tensor *const *outputs, lt_tensor *const *grad_outputs, int n_in,
                     lt_tensor *const *inputs, bool retain_graph, lt_tensor **grads_in) {
  for (int i = 0; i < n_out; i++) LT_TRY(check_root(outputs[i], grad_outputs ? grad_outputs[i] : NULL, i));
  for (int j = 0; j < n_in; j++) grads_in[j] = NULL;
  for (int j = 0; j < n_in; j++) {
    LT_TRY(lt_ag_refresh_view(inputs[j]));
    if (!inputs[j]->requires_grad)
      return lt_error_set(LT_ERR_ARG, 0, "input %d does not require grad", j + 1);
  }
  lt_tensor **gr = (lt_tensor **)grad_outputs, **tmp = NULL;
  if (!grad_outputs) {
    tmp = calloc((size_t)(n_out ? n_out : 1), sizeof *tmp);
    if (!tmp) return lt_error_set(LT_ERR_OOM, 0, "out of host memory");
    gr = tmp;
  }
  bool prev = lt_ag_set_grad_enabled(false);
  capture cap = {n_in, inputs, grads_in};
  lt_status st = run_backward(n_out, outputs, gr, retain_graph, &cap);
  lt_ag_set_grad_enabled(prev);
  free(tmp);
  for (int j = 0; j < n_in && st == LT_OK; j++) {
    if (!grads_in[j]) continue;
    lt_input_meta m;
    fill_meta(&m, inputs[j]);
    st = conform(&grads_in[j], &m, "grad", j);
  }
  if (st != LT_OK)
    for (int j = 0; j < n_in; j++) { lt_tensor_release(grads_in[j]); grads_in[j] = NULL; }
  return st;
}
