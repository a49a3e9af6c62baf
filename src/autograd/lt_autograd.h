/* lt_autograd.h — reverse-mode automatic differentiation on a tape.
 *
 * Recording: a differentiable op (lt_ag_*.c wrappers around lt_ops.h) that
 * runs while grad mode is on and has an input with requires_grad creates an
 * lt_node: the backward function, one edge per differentiable input (to the
 * node that produced that input, or to an accumulate-grad node for a leaf),
 * and the tensors and scalars backward needs. Each output gets
 * `grad_fn = node` (a reference) and requires_grad = true.
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
 * After lt_ag_backward (without retain_graph) every node it ran frees its
 * saved tensors and is marked released; running backward through it again
 * is an error ("the graph was freed by a previous backward"). */
#ifndef LT_AUTOGRAD_H
#define LT_AUTOGRAD_H

#include <stdatomic.h>

#include "lt_tensor.h"

typedef struct lt_node lt_node;

/* grad_out[i]: gradient w.r.t. the node's i-th output (NULL when that output
 * got none: treat as zeros). The function sets grad_in[j] to a new reference
 * for each input edge j that needs it (lt_node_needs_input_grad), or leaves
 * it NULL. Shapes must equal the inputs' shapes (reduce broadcasting first:
 * lt_ag_sum_to). */
typedef lt_status (*lt_backward_fn)(lt_node *n, lt_tensor *const *grad_out, lt_tensor **grad_in);

typedef struct {
  lt_node *node; /* NULL: this input needs no gradient */
  int output_nr; /* which output of `node` the input was */
} lt_edge;

#define LT_NODE_MAX_SCALARS 8

struct lt_node {
  atomic_int refcount;
  const char *name;        /* "AddBackward", shown by t.grad_fn and in errors */
  lt_backward_fn backward; /* NULL for an accumulate-grad node */
  int n_inputs;
  lt_edge *next;           /* n_inputs edges */
  int n_outputs;
  int n_saved;
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
  /* input metadata for shape checks of returned gradients */
  int64_t (*input_shapes)[LT_MAX_DIMS];
  int *input_ndims;
  bool released;
};

/* --- grad mode (thread-local) ------------------------------------------------ */
bool lt_ag_grad_enabled(void);
/* Returns the previous mode. */
bool lt_ag_set_grad_enabled(bool enabled);

/* --- recording ------------------------------------------------------------------ */
/* True when grad mode is on and any of the tensors requires grad. */
bool lt_ag_needs_grad(int n, lt_tensor *const *inputs);
/* A new node for an op over `inputs` (edges made from the inputs; NULL
 * inputs, or inputs that don't require grad, get empty edges). */
lt_status lt_ag_node_new(const char *name, lt_backward_fn fn, int n_inputs, lt_tensor *const *inputs, int n_outputs,
                         lt_node **out);
/* Saves an input (retained) for backward, recording its version. */
lt_status lt_ag_save(lt_node *n, lt_tensor *t);
/* Saves an output of this same node as a detached alias (see above). */
lt_status lt_ag_save_output(lt_node *n, lt_tensor *t);
/* Saved tensor i, after checking it was not modified in place since. */
lt_status lt_ag_saved(lt_node *n, int i, lt_tensor **out);
/* Makes `out` the node's output number `output_nr`. */
void lt_ag_set_output(lt_node *n, lt_tensor *out, int output_nr);
bool lt_node_needs_input_grad(const lt_node *n, int input);
void lt_node_retain(lt_node *n);
void lt_node_release(lt_node *n);

/* --- running backward ------------------------------------------------------------- */
/* Backpropagates from `root`. grad may be NULL when root has one element
 * (the gradient is then 1). Accumulates into the .grad of leaves. */
lt_status lt_ag_backward(lt_tensor *root, lt_tensor *grad, bool retain_graph);
/* The gradient of `outputs` w.r.t. `inputs` without touching .grad
 * (lt.autograd.grad); create_graph is not supported (double backward). */
lt_status lt_ag_grad(int n_out, lt_tensor *const *outputs, lt_tensor *const *grad_outputs, int n_in,
                     lt_tensor *const *inputs, bool retain_graph, lt_tensor **grads_in);
/* Called after a leaf's .grad has received its last contribution of a backward
 * pass (for data-parallel bucketing); NULL to remove. */
void lt_ag_set_grad_ready_hook(void (*hook)(lt_tensor *leaf, void *ctx), void *ctx);

/* --- helpers for backward functions ------------------------------------------------ */
/* Sums `grad` down to `ndim`/`shape` (undoing broadcasting). */
lt_status lt_ag_sum_to(lt_tensor *grad, int ndim, const int64_t *shape, lt_tensor **out);

#endif
