/* lt_ag_layout.c — autograd for memory-format conversion (see lt_ag_layout.h). */
#include "lt_ag_layout.h"

#include "lt_ag_internal.h"

/* Records the copy *out of t (a no-op when *out is t or no grad is wanted);
 * releases *out on failure. */
static lt_status record(lt_tensor *t, lt_tensor **out) {
  if (*out == t || !lt_ag_needs_grad(1, &t)) return LT_OK;
  lt_node *n = NULL;
  lt_status st = lt_ag_record1("CloneBackward", lt_ag_identity_backward, t, *out, &n);
  if (st != LT_OK) {
    lt_tensor_release(*out);
    *out = NULL;
  }
  return st;
}

lt_status lt_ag_contiguous_format(lt_tensor *t, lt_memory_format format, lt_tensor **out) {
  LT_TRY(lt_op_contiguous_format(t, format, out));
  return record(t, out);
}

lt_status lt_ag_clone_format(lt_tensor *t, lt_memory_format format, lt_tensor **out) {
  LT_TRY(lt_op_clone_format(t, format, out));
  return record(t, out);
}
