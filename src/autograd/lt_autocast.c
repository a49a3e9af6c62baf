/* lt_autocast.c — the autocast state and input casts (see lt_autocast.h). */
#include "lt_autocast.h"

#include "lt_ag_ops.h"

static _Thread_local bool autocast_on;

bool lt_autocast_enabled(void) { return autocast_on; }

bool lt_autocast_set_enabled(bool enabled) {
  bool prev = autocast_on;
  autocast_on = enabled;
  return prev;
}

lt_status lt_autocast_input(lt_tensor *t, lt_autocast_policy policy, lt_tensor **out) {
  *out = NULL;
  if (!t) return LT_OK;
  lt_dtype want = policy == LT_AUTOCAST_LOWER ? LT_BFLOAT16 : LT_FLOAT32;
  /* float64 is never cast (as in PyTorch): asking for float64 means asking
   * for its precision, e.g. in a gradient check */
  bool cast = autocast_on && lt_dtype_is_floating(t->dtype) && t->dtype != want && t->dtype != LT_FLOAT64;
  if (!cast) {
    lt_tensor_retain(t);
    *out = t;
    return LT_OK;
  }
  return lt_ag_to(t, want, lt_tensor_device(t), out);
}

lt_status lt_autocast_inputs(int n, lt_tensor *const *in, lt_autocast_policy policy, lt_tensor **out) {
  for (int i = 0; i < n; i++) out[i] = NULL;
  for (int i = 0; i < n; i++) {
    lt_status st = lt_autocast_input(in[i], policy, &out[i]);
    if (st != LT_OK) {
      lt_autocast_release(i, out);
      return st;
    }
  }
  return LT_OK;
}

void lt_autocast_release(int n, lt_tensor **t) {
  for (int i = 0; i < n; i++) {
    lt_tensor_release(t[i]);
    t[i] = NULL;
  }
}
