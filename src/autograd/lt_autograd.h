/* lt_autograd.h — reverse-mode automatic differentiation on a tape: the node
 * structure, recording, and the engine that runs backward. The differentiable
 * wrappers of the tensor API live in lt_ag_ops.h; this header is what an op
 * outside src/autograd (the nn ops, say) needs to record its own node.
 *
 * Recording: a differentiable op that runs while grad mode is on and has an
 * input with requires_grad creates an lt_node: the backward function, one edge
 * per differentiable input (to the node that produced that input, or to an
 * accumulate-grad node for a leaf), and the tensors and scalars backward
 * needs. Each output gets `grad_fn = node` (a reference), requires_grad =
 * true, and its output number.
 *
 * Usage (an op with inputs x, w and one output y, computed first):
 *
 *   lt_tensor *in[2] = {x, w};
 *   if (lt_ag_needs_grad(2, in)) {            // grad mode on, an input wants grad
 *     lt_node *n;
 *     lt_status st = lt_ag_node_new("ConvBackward", conv_backward, 2, in, 1, &n);
 *     if (st == LT_OK) st = lt_ag_save(n, x);  // saved[0]
 *     if (st == LT_OK) st = lt_ag_save(n, w);  // saved[1]
 *     if (st == LT_OK) { n->ints[0] = stride; lt_ag_set_output(n, y, 0); }
 *     lt_node_release(n);                     // y holds the node now
 *     if (st != LT_OK) { lt_tensor_release(y); return st; }
 *   }
 *
 *   static lt_status conv_backward(lt_node *n, lt_tensor *const *g, lt_tensor **gi) {
 *     lt_tensor *x, *w;
 *     LT_TRY(lt_ag_saved(n, 0, &x));          // borrowed; fails if x was modified in place
 *     LT_TRY(lt_ag_saved(n, 1, &w));
 *     if (!g[0]) return LT_OK;                // no gradient reached the output
 *     if (lt_node_needs_input_grad(n, 0)) LT_TRY(...compute gi[0]...);
 *     if (lt_node_needs_input_grad(n, 1)) LT_TRY(...compute gi[1]...);
 *     return LT_OK;
 *   }
 *
 * A backward function may return gradients of another dtype or device than
 * the input (the engine converts them), but the shape must be the input's
 * (reduce broadcasting with lt_ag_sum_to). It runs with grad mode off.
 *
 * Ownership (no cycles): tensors own their grad_fn; nodes own their next
 * nodes and saved tensors. A node must never save one of its own outputs as
 * is (that would be a cycle): lt_ag_save_output stores a detached alias.
 * Leaves are owned by the accumulate-grad node that points at them, which
 * is owned by the nodes that consumed the leaf — never the other way round.
 *
 * Saved tensors record the storage version at save time; backward fails with
 * a clear error if one was modified in place after it was saved.
 *
 * Views and in-place ops (PyTorch's design; lt_ag_views.c): a tensor made by
 * a differentiable view op keeps its root base (lt_tensor.view_base). An
 * in-place op on such a view moves the history onto the base: the base's
 * grad_fn becomes a CopySlices node that runs the op's node (`inner`) on the
 * view's region of the base's gradient and passes the rest through, and the
 * view's grad_fn becomes an as_strided view of the base's. Any other view of
 * the same base notices the changed storage version the next time its
 * history is read and derives its grad_fn from the base again
 * (lt_ag_refresh_view; lt_ag_needs_grad and lt_ag_node_new do it for their
 * inputs).
 *
 * After lt_ag_backward (without retain_graph) every node it ran frees its
 * saved tensors and is marked released; reading a saved tensor of a released
 * node (a second backward through it) is the error "backward: the graph was
 * freed by a previous backward (use retain_graph=true)". Nodes that saved
 * nothing can run again, as in PyTorch. */
#ifndef LT_AUTOGRAD_H
#define LT_AUTOGRAD_H

#include <stdatomic.h>

#include "lt_tensor.h"

typedef struct lt_node lt_node;

/* grad_out[i]: gradient w.r.t. the node's i-th output (NULL when that output
 * got none: treat as zeros). The function sets grad_in[j] to a new reference
 * for each input edge j that needs it (lt_node_needs_input_grad), or leaves
 * it NULL (no contribution). On failure it records a message and returns the
 * status; references it already put in grad_in are released by the engine. */
typedef lt_status (*lt_backward_fn)(lt_node *n, lt_tensor *const *grad_out, lt_tensor **grad_in);

typedef struct {
  lt_node *node; /* NULL: this input needs no gradient */
  int output_nr; /* which output of `node` the input was */
} lt_edge;

/* What the engine checks a returned gradient against (and converts to). */
typedef struct {
  int ndim;
  lt_dtype dtype;
  lt_device device;
  int64_t shape[LT_MAX_DIMS];
} lt_input_meta;

#define LT_NODE_MAX_SCALARS 8

struct lt_node {
  atomic_int refcount;
  const char *name;        /* "AddBackward", shown by t.grad_fn and in errors */
  lt_backward_fn backward; /* NULL for an accumulate-grad node */
  uint64_t seq;            /* creation order: later nodes run first */
  int n_inputs;
  lt_edge *next;           /* n_inputs edges (owned references) */
  lt_input_meta *inputs;   /* n_inputs entries */
  int n_outputs;
  int n_saved, cap_saved;
  lt_tensor **saved;
  uint64_t *saved_versions;
  /* op parameters backward needs (strides, dims, flags...) */
  double scalars[LT_NODE_MAX_SCALARS];
  int64_t ints[LT_NODE_MAX_SCALARS * 2];
  /* op-specific state (e.g. a Lua function's references), freed by ctx_free */
  void *ctx;
  void (*ctx_free)(void *ctx);
  /* accumulate-grad nodes: the leaf that receives the gradient (owned) */
  lt_tensor *leaf;
  /* CopySlices nodes: the node of the in-place op they run (owned; never a
   * node of the graph the engine walks), released along with this one */
  lt_node *inner;
  bool released;
  lt_node *free_link; /* private to lt_node_release */
};

/* --- grad mode (thread-local) ------------------------------------------------ */
bool lt_ag_grad_enabled(void);
/* Returns the previous mode. */
bool lt_ag_set_grad_enabled(bool enabled);

/* --- recording ------------------------------------------------------------------ */
/* True when grad mode is on and any of the (non-NULL) tensors requires grad
 * (views first derive their history from their base again when it was
 * modified in place; see lt_ag_refresh_view). */
bool lt_ag_needs_grad(int n, lt_tensor *const *inputs);
/* A new node (refcount 1, owned by the caller) for an op over `inputs`: edges
 * made from the inputs; NULL inputs, or inputs that don't require grad, get
 * empty edges. Does not look at grad mode (check lt_ag_needs_grad first). */
lt_status lt_ag_node_new(const char *name, lt_backward_fn fn, int n_inputs, lt_tensor *const *inputs, int n_outputs,
                         lt_node **out);
/* Saves an input (retained; a view as a plain alias, see lt_ag_views.c) for
 * backward, recording its version; saved tensors are numbered in the order
 * they are saved. */
lt_status lt_ag_save(lt_node *n, lt_tensor *t);
/* Saves an output of this same node as a detached alias (see above). */
lt_status lt_ag_save_output(lt_node *n, lt_tensor *t);
/* Saved tensor i (borrowed), after checking it was not modified in place since
 * and that the graph was not freed. */
lt_status lt_ag_saved(lt_node *n, int i, lt_tensor **out);
/* Makes `out` the node's output number `output_nr`: out->grad_fn = n (the
 * node is retained, the previous grad_fn released), requires_grad = true. */
void lt_ag_set_output(lt_node *n, lt_tensor *out, int output_nr);
/* Makes input i of dst the edge (and input meta) of input j of src. */
void lt_ag_share_edge(lt_node *dst, int i, const lt_node *src, int j);
bool lt_node_needs_input_grad(const lt_node *n, int input);
/* For a view made by a differentiable view op whose storage was written
 * since its grad_fn was derived: makes its grad_fn an as_strided view of its
 * base's current history (PyTorch's regenerated AsStridedBackward). A no-op
 * for other tensors. Fails for a view made with grad mode off whose base
 * requires grad (ambiguous, refused as in PyTorch). */
lt_status lt_ag_refresh_view(lt_tensor *t);
void lt_node_retain(lt_node *n);
/* Frees the node when the last reference goes; long chains are freed without
 * recursion, so deep graphs cannot overflow the C stack. */
void lt_node_release(lt_node *n);

/* --- running backward ------------------------------------------------------------- */
/* Backpropagates from `root`. grad may be NULL when root has one element
 * (the gradient is then 1); otherwise it must have root's shape. Accumulates
 * into the .grad of leaves (a new tensor the first time, then in place). */
lt_status lt_ag_backward(lt_tensor *root, lt_tensor *grad, bool retain_graph);
/* Several roots at once (lt.autograd.backward); grads[i] may be NULL for a
 * one-element root. */
lt_status lt_ag_backward_many(int n, lt_tensor *const *roots, lt_tensor *const *grads, bool retain_graph);
/* The gradient of `outputs` w.r.t. `inputs` without touching .grad
 * (lt.autograd.grad); grad_outputs[i] may be NULL for one-element outputs.
 * grads_in[j] is NULL when inputs[j] is not reachable from the outputs.
 * create_graph is not supported (double backward). */
lt_status lt_ag_grad(int n_out, lt_tensor *const *outputs, lt_tensor *const *grad_outputs, int n_in,
                     lt_tensor *const *inputs, bool retain_graph, lt_tensor **grads_in);
/* Called after a leaf's .grad has received its last contribution of a backward
 * pass (for data-parallel bucketing); NULL to remove. Not called by lt_ag_grad. */
void lt_ag_set_grad_ready_hook(void (*hook)(lt_tensor *leaf, void *ctx), void *ctx);

/* --- helpers for backward functions ------------------------------------------------ */
/* Sums `grad` down to `ndim`/`shape` (undoing broadcasting). Returns grad
 * itself (retained) when the shapes already agree. */
lt_status lt_ag_sum_to(lt_tensor *grad, int ndim, const int64_t *shape, lt_tensor **out);

#endif
