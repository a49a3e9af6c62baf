/* lt_cpu_stand_in.c — stand-in tensors around a CPU kernel (see
 * lt_cpu_stand_in.h). */
#include "lt_cpu_stand_in.h"

#include <string.h>

#include "lt_cpu_kernels.h"

static bool taken_as_is(const lt_tensor *t, lt_cpu_kernel_form f) {
  return t->dtype == f.dtype && (f.contiguous ? lt_tensor_is_contiguous(t) : lt_tensor_is_dense(t));
}

/* The stand-in of t, with t's values when `values`; NULL stays NULL. */
static lt_status stand_in(const lt_tensor *t, lt_cpu_kernel_form f, bool values, lt_tensor **out) {
  *out = NULL;
  if (!t) return LT_OK;
  if (taken_as_is(t, f)) {
    lt_tensor_retain((lt_tensor *)t);
    *out = (lt_tensor *)t;
    return LT_OK;
  }
  lt_status st = !f.contiguous && lt_tensor_is_dense(t)
                     ? lt_tensor_empty_strided(t->ndim, t->shape, t->stride, f.dtype, lt_cpu_device(), out)
                     : lt_tensor_empty(t->ndim, t->shape, f.dtype, lt_cpu_device(), out);
  if (st == LT_OK && values) st = lt_cpu_copy(*out, t);
  if (st != LT_OK) {
    lt_tensor_release(*out);
    *out = NULL;
  }
  return st;
}

static void release(lt_cpu_stand_ins *s) {
  for (int i = 0; i < s->nin; i++) lt_tensor_release(s->in[i]);
  for (int i = 0; i < s->nout; i++) lt_tensor_release(s->out[i]);
}

lt_status lt_cpu_stand_ins_make(lt_cpu_stand_ins *s, lt_cpu_kernel_form form, int nin, const lt_tensor *const *in,
                                int nout, lt_tensor *const *out) {
  memset(s, 0, sizeof *s);
  s->nin = nin;
  s->nout = nout;
  lt_status st = LT_OK;
  for (int i = 0; i < nin && st == LT_OK; i++) st = stand_in(in[i], form, true, &s->in[i]);
  for (int i = 0; i < nout && st == LT_OK; i++) st = stand_in(out[i], form, false, &s->out[i]);
  if (st != LT_OK) release(s);
  return st;
}

lt_status lt_cpu_stand_ins_finish(lt_status st, lt_cpu_stand_ins *s, lt_tensor *const *out) {
  for (int i = 0; i < s->nout && st == LT_OK; i++)
    if (out[i] && s->out[i] != out[i]) st = lt_cpu_copy(out[i], s->out[i]);
  release(s);
  return st;
}
