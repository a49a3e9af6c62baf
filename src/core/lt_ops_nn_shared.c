/* lt_ops_nn_shared.c — what the nn op files (lt_ops_conv.c, lt_ops_norm.c,
 * lt_ops_pool.c, lt_ops_act.c, lt_ops_loss.c, and linear in lt_ops_linalg.c)
 * share: the checks whose messages they have in common, the memory-format
 * rule of conv, batch norm and pooling, unbatched inputs, and the plumbing of
 * outputs and gradients. Declared in lt_ops_nn_shared.h. Not here: any op. */
#include "lt_ops_nn_shared.h"

#include "lt_ops_layout.h"

const lt_nn_kernels *lt_nn_kernels_of(const lt_tensor *t) {
  const lt_backend *be = lt_backend_get(lt_tensor_device(t).type);
  return be ? be->nn : NULL;
}

const lt_backend *lt_nn_backend_of(const lt_tensor *t) { return lt_backend_get(lt_tensor_device(t).type); }

lt_status lt_nn_missing(const char *what) {
  return lt_error_set(LT_ERR_RUNTIME, 0, "%s is not implemented on this device", what);
}

lt_dtype lt_nn_compute_dtype(const lt_tensor *t, lt_nn_group group) {
  const lt_nn_kernels *nn = lt_nn_kernels_of(t);
  if (nn && nn->compute_dtype) return nn->compute_dtype(group, t->dtype);
  return lt_dtype_is_floating(t->dtype) ? t->dtype : LT_NDTYPES;
}

lt_status lt_nn_check_float(const lt_tensor *t, int arg, const char *what, lt_nn_group group) {
  if (lt_nn_compute_dtype(t, group) != LT_NDTYPES) return LT_OK;
  if (lt_dtype_is_floating(t->dtype)) {
    char d[32];
    lt_device dev = lt_tensor_device(t);
    return lt_error_set(LT_ERR_ARG, arg, "%s of dtype %s is not supported on %s (use float32 or float64)", what,
                        lt_dtype_name(t->dtype), dev.type == LT_CPU ? "the CPU" : lt_device_str(dev, d, sizeof d));
  }
  return lt_error_set(LT_ERR_ARG, arg, "expected a floating-point %s, got %s", what, lt_dtype_name(t->dtype));
}

lt_status lt_nn_check_device(const lt_tensor *t, const lt_tensor *ref, int arg, const char *what) {
  if (lt_device_equal(lt_tensor_device(t), lt_tensor_device(ref))) return LT_OK;
  char d1[32], d2[32];
  return lt_error_set(LT_ERR_ARG, arg, "%s is on %s but the input is on %s", what,
                      lt_device_str(lt_tensor_device(t), d1, sizeof d1),
                      lt_device_str(lt_tensor_device(ref), d2, sizeof d2));
}

lt_status lt_nn_check_like(const lt_tensor *t, const lt_tensor *ref, int arg, const char *what) {
  LT_TRY(lt_nn_check_device(t, ref, arg, what));
  if (t->dtype != ref->dtype)
    return lt_error_set(LT_ERR_ARG, arg, "%s has dtype %s but the input has %s", what, lt_dtype_name(t->dtype),
                        lt_dtype_name(ref->dtype));
  return LT_OK;
}

lt_status lt_nn_check_vec_shape(const lt_tensor *t, const lt_tensor *ref, int64_t C, int arg, const char *what,
                                const char *of) {
  if (t->ndim != 1 || t->shape[0] != C) {
    char b1[128], b2[128];
    return lt_error_set(LT_ERR_ARG, arg, "%s %s does not match the %lld %s of input %s (expected [%lld])", what,
                        SHP(t, b1), (long long)C, of, SHP(ref, b2), (long long)C);
  }
  return LT_OK;
}

lt_status lt_nn_check_vec(const lt_tensor *t, const lt_tensor *ref, int64_t C, int arg, const char *what,
                          const char *of) {
  LT_TRY(lt_nn_check_like(t, ref, arg, what));
  return lt_nn_check_vec_shape(t, ref, C, arg, what, of);
}

lt_status lt_nn_check_same_shape(const lt_tensor *a, const lt_tensor *ref, int arg, const char *what,
                                 const char *refwhat) {
  if (lt_shape_equal(a, ref)) return LT_OK;
  char b1[128], b2[128];
  return lt_error_set(LT_ERR_ARG, arg, "%s %s does not match %s %s", what, SHP(a, b1), refwhat, SHP(ref, b2));
}

lt_status lt_nn_empty_like(const lt_tensor *t, lt_tensor **out) {
  return lt_tensor_empty(t->ndim, t->shape, t->dtype, lt_tensor_device(t), out);
}

/* --- memory formats (the rule: lt_ops_nn_shared.h) ------------------------------------------ */
lt_memory_format lt_nn_kernel_format(const lt_tensor *t, lt_memory_format fmt) {
  const lt_nn_kernels *nn = lt_nn_kernels_of(t);
  return fmt == LT_FORMAT_CHANNELS_LAST && nn && nn->channels_last ? fmt : LT_FORMAT_CONTIGUOUS;
}

lt_status lt_nn_in_format(lt_tensor *t, lt_memory_format fmt, lt_tensor **out) {
  if (fmt == LT_FORMAT_CHANNELS_LAST && lt_tensor_is_channels_last(t) && lt_tensor_suggest_format(t) != fmt) {
    int64_t cl[4];
    lt_channels_last_strides(t->shape, cl);
    return lt_tensor_as_strided(t, 4, t->shape, cl, t->offset, out);
  }
  return lt_op_contiguous_format(t, fmt, out);
}

lt_status lt_nn_format_all(int n, lt_tensor *const *in, lt_memory_format fmt, lt_tensor **out) {
  for (int i = 0; i < n; i++) out[i] = NULL;
  for (int i = 0; i < n; i++) {
    if (!in[i]) continue;
    lt_status st = lt_nn_in_format(in[i], fmt, &out[i]);
    if (st != LT_OK) {
      for (int j = 0; j < i; j++) lt_tensor_release(out[j]);
      return st;
    }
  }
  return LT_OK;
}

lt_status lt_nn_to_format(lt_tensor **t, lt_memory_format fmt) {
  if (!*t) return LT_OK;
  lt_tensor *c;
  LT_TRY(lt_nn_in_format(*t, fmt, &c));
  lt_tensor_release(*t);
  *t = c;
  return LT_OK;
}

lt_status lt_nn_contig_all(int n, lt_tensor *const *in, lt_tensor **out) {
  for (int i = 0; i < n; i++) out[i] = NULL;
  for (int i = 0; i < n; i++) {
    if (!in[i]) continue;
    lt_status st = lt_op_contiguous(in[i], &out[i]);
    if (st != LT_OK) {
      for (int j = 0; j < i; j++) lt_tensor_release(out[j]);
      return st;
    }
  }
  return LT_OK;
}

void lt_nn_release_all(int n, lt_tensor **t) {
  for (int i = 0; i < n; i++) lt_tensor_release(t[i]);
}

lt_status lt_nn_hand_over_grads(lt_status st, lt_tensor **g1, lt_tensor *t1, lt_tensor **g2, lt_tensor *t2,
                                lt_tensor **g3, lt_tensor *t3) {
  if (st != LT_OK) {
    lt_tensor_release(t1);
    lt_tensor_release(t2);
    lt_tensor_release(t3);
    return st;
  }
  if (g1) *g1 = t1;
  if (g2) *g2 = t2;
  if (g3) *g3 = t3;
  return LT_OK;
}

void lt_nn_hand_out(lt_tensor *t, lt_tensor **out) {
  if (out) *out = t;
  else lt_tensor_release(t);
}

/* --- unbatched inputs ---------------------------------------------------------------------------- */

bool lt_nn_unbatched(const lt_tensor *x) { return x->ndim == 3; }

lt_status lt_nn_batch_all(int n, lt_tensor *const *in, lt_tensor **out) {
  for (int i = 0; i < n; i++) out[i] = NULL;
  for (int i = 0; i < n; i++) {
    if (!in[i]) continue;
    lt_status st = LT_OK;
    if (in[i]->ndim == 3) st = lt_tensor_unsqueeze(in[i], 0, &out[i]);
    else lt_tensor_retain(out[i] = in[i]);
    if (st != LT_OK) {
      for (int j = 0; j < i; j++) lt_tensor_release(out[j]);
      return st;
    }
  }
  return LT_OK;
}

lt_status lt_nn_unbatch(lt_status st, int nb, lt_tensor **b, int n, lt_tensor **const *slots) {
  for (int i = 0; i < nb; i++) lt_tensor_release(b[i]);
  if (st != LT_OK) return st;
  for (int i = 0; i < n; i++) {
    if (!slots[i] || !*slots[i]) continue;
    lt_tensor *r = NULL;
    if (st == LT_OK) st = lt_tensor_squeeze(*slots[i], 0, &r);
    lt_tensor_release(*slots[i]);
    *slots[i] = r;
  }
  if (st != LT_OK)
    for (int i = 0; i < n; i++)
      if (slots[i]) { lt_tensor_release(*slots[i]); *slots[i] = NULL; }
  return st;
}

lt_status lt_nn_check_batched(const lt_tensor *x, int arg) {
  char b1[128];
  if (x->ndim == 4) return LT_OK;
  return lt_error_set(LT_ERR_ARG, arg, "expected a 3-D (unbatched) [C,H,W] or 4-D (batched) [N,C,H,W] input, got %s",
                      SHP(x, b1));
}
