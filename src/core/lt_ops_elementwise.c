/* lt_ops_elementwise.c — op layer for dtype promotion, conversion and copies,
 * and the elementwise unary/binary/where ops (see lt_ops.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lt_ops.h"
#include "lt_ops_layout.h"

/* --- type promotion ------------------------------------------------------------ */

static int type_rank(lt_dtype d) {
  switch (d) {
    case LT_BOOL: return 0;
    case LT_UINT8: return 1;
    case LT_INT32: return 2;
    case LT_INT64: return 3;
    case LT_BFLOAT16: return 4;
    case LT_FLOAT16: return 4;
    case LT_FLOAT32: return 5;
    case LT_FLOAT64: return 6;
    default: return 0;
  }
}

lt_dtype lt_promote_types(lt_dtype a, lt_dtype b) {
  if (a == b) return a;
  if ((a == LT_BFLOAT16 && b == LT_FLOAT16) || (a == LT_FLOAT16 && b == LT_BFLOAT16)) return LT_FLOAT32;
  return type_rank(a) >= type_rank(b) ? a : b;
}

/* bool < integral < floating */
static int category(lt_dtype d) { return d == LT_BOOL ? 0 : (lt_dtype_is_floating(d) ? 2 : 1); }

lt_dtype lt_result_type(int n, const lt_operand *ops) {
  /* the usual promotion within each level */
  lt_dtype level[3] = {LT_BOOL, LT_BOOL, LT_BOOL};
  bool has[3] = {false, false, false};
  for (int i = 0; i < n; i++) {
    lt_operand_level l = ops[i].level;
    lt_dtype d = l == LT_LEVEL_NUMBER && lt_dtype_is_floating(ops[i].dtype) ? lt_dtype_default_float() : ops[i].dtype;
    level[l] = has[l] ? lt_promote_types(level[l], d) : d;
    has[l] = true;
  }
  /* then from the lowest level up: a lower level only counts when its
   * category is higher (PyTorch's combine_categories) */
  lt_dtype r = level[LT_LEVEL_NUMBER];
  bool any = has[LT_LEVEL_NUMBER];
  for (int k = LT_LEVEL_0D; k >= LT_LEVEL_DIMS; k--) {
    if (!has[k]) continue;
    r = any && category(r) > category(level[k]) ? lt_promote_types(level[k], r) : level[k];
    any = true;
  }
  return r;
}

bool lt_can_cast(lt_dtype from, lt_dtype to) {
  if (lt_dtype_is_floating(from) && !lt_dtype_is_floating(to)) return false;
  if (from != LT_BOOL && to == LT_BOOL) return false;
  return true;
}

/* The result dtype of two tensors. */
static lt_dtype result_type2(const lt_tensor *a, const lt_tensor *b) {
  lt_operand ops[2] = {lt_operand_tensor(a->dtype, a->ndim), lt_operand_tensor(b->dtype, b->ndim)};
  return lt_result_type(2, ops);
}

static lt_status same_device(lt_tensor *a, lt_tensor *b, int arg) {
  if (lt_device_equal(lt_tensor_device(a), lt_tensor_device(b))) return LT_OK;
  char da[32], db[32];
  return lt_error_set(LT_ERR_ARG, arg, "expected all tensors on one device, got %s and %s",
                      lt_device_str(lt_tensor_device(a), da, sizeof da), lt_device_str(lt_tensor_device(b), db, sizeof db));
}

static const lt_backend *be_of(const lt_tensor *t) { return lt_backend_get(lt_tensor_device(t).type); }

/* "an int64 tensor", "a float32 tensor" */
static const char *an(lt_dtype d) { return strchr("aeiou", lt_dtype_name(d)[0]) ? "n" : ""; }

static void bump_version(lt_tensor *t) { atomic_fetch_add(&t->storage->version, 1); }

static lt_status check_writable(lt_tensor *t, int arg) {
  if (!lt_tensor_is_non_overlapping(t))
    return lt_error_set(LT_ERR_ARG, arg,
                        "in-place write to a tensor whose elements overlap in memory (an expanded view); clone it first");
  return LT_OK;
}

/* Element range [lo, hi] a tensor addresses in its storage. */
static void extent(const lt_tensor *t, int64_t *lo, int64_t *hi) {
  *lo = *hi = t->offset;
  for (int i = 0; i < t->ndim; i++) {
    int64_t span = t->stride[i] * (t->shape[i] - 1);
    if (span >= 0) *hi += span;
    else *lo += span;
  }
}

/* When `*x`, an operand of a kernel writing `o` (same shape), reads memory
 * that `o` writes other than element for element, the kernel would read
 * values it already overwrote (a += a.T, a[2:] = a[:-1]): replace *x by a
 * copy. Identical geometry is fine, every element is read before written. */
static lt_status unalias(const lt_tensor *o, lt_tensor **x) {
  const lt_tensor *t = *x;
  if (t->storage != o->storage || lt_tensor_numel(o) == 0 || t->dtype != o->dtype) return LT_OK;
  bool same = t->offset == o->offset;
  for (int i = 0; i < o->ndim && same; i++)
    if (o->shape[i] > 1 && t->stride[i] != o->stride[i]) same = false;
  if (same) return LT_OK;
  int64_t tlo, thi, olo, ohi;
  extent(t, &tlo, &thi);
  extent(o, &olo, &ohi);
  if (thi < olo || ohi < tlo) return LT_OK; /* disjoint parts of one storage */
  lt_tensor *c;
  LT_TRY(lt_op_clone(*x, &c));
  lt_tensor_release(*x);
  *x = c;
  return LT_OK;
}

/* --- conversion and copies ---------------------------------------------------- */

lt_status lt_op_copy_(lt_tensor *dst, lt_tensor *src) {
  LT_TRY(check_writable(dst, 1));
  lt_tensor *exp = NULL;
  lt_status st = lt_tensor_expand(src, dst->ndim, dst->shape, &exp);
  if (st != LT_OK) {
    char b1[128], b2[128];
    return lt_error_set(LT_ERR_ARG, 2, "source of shape %s cannot be broadcast to destination shape %s",
                        lt_shape_str(src->ndim, src->shape, b1, sizeof b1), lt_shape_str(dst->ndim, dst->shape, b2, sizeof b2));
  }
  lt_device dd = lt_tensor_device(dst), sd = lt_tensor_device(src);
  if (lt_device_equal(dd, sd)) {
    st = unalias(dst, &exp);
    lt_tensor *in[2] = {dst, exp}, *v[2] = {NULL, NULL};
    if (st == LT_OK) st = lt_op_memory_order(2, in, v);
    if (st == LT_OK) st = be_of(dst)->copy(v[0], v[1]);
    lt_tensor_release(v[0]);
    lt_tensor_release(v[1]);
    lt_tensor_release(exp);
    if (st == LT_OK) bump_version(dst);
    return st;
  }
  /* Across devices with one dtype and one dense layout (contiguous, or
   * channels-last on both sides): the bytes go over as they are. */
  if (dst->dtype == src->dtype && lt_shape_equal(dst, src) && lt_tensor_is_dense(dst) && lt_tensor_is_dense(src) &&
      memcmp(dst->stride, src->stride, sizeof(int64_t) * (size_t)dst->ndim) == 0) {
    size_t nbytes = (size_t)lt_tensor_numel(dst) * lt_dtype_size(dst->dtype);
    if (nbytes == 0) st = LT_OK;
    else if (dd.type == LT_CPU) st = be_of(src)->copy_to_host(sd, lt_tensor_data(dst), lt_tensor_data(src), nbytes);
    else st = be_of(dst)->copy_from_host(dd, lt_tensor_data(dst), lt_tensor_data(src), nbytes);
    lt_tensor_release(exp);
    if (st == LT_OK) bump_version(dst);
    return st;
  }
  /* Across devices: stage through a contiguous buffer of dst's dtype and shape. */
  lt_tensor *stage = NULL, *dev_tmp = NULL;
  if (dd.type == LT_CPU) {
    /* device -> host: contiguous on the device, then raw bytes over */
    lt_tensor *sc = NULL, *host = NULL;
    st = lt_op_contiguous(src, &sc);
    if (st == LT_OK) st = lt_tensor_empty(sc->ndim, sc->shape, sc->dtype, dd, &host);
    if (st == LT_OK)
      st = be_of(sc)->copy_to_host(sd, lt_tensor_data(host), lt_tensor_data(sc),
                                   (size_t)lt_tensor_numel(sc) * lt_dtype_size(sc->dtype));
    if (st == LT_OK) st = lt_op_copy_(dst, host);
    lt_tensor_release(sc);
    lt_tensor_release(host);
  } else {
    /* host -> device: materialise src as dst's dtype and shape on the host */
    st = lt_tensor_empty(dst->ndim, dst->shape, dst->dtype, sd, &stage);
    if (st == LT_OK) st = be_of(stage)->copy(stage, exp);
    if (st == LT_OK && lt_tensor_is_contiguous(dst)) {
      st = be_of(dst)->copy_from_host(dd, lt_tensor_data(dst), lt_tensor_data(stage),
                                      (size_t)lt_tensor_numel(stage) * lt_dtype_size(stage->dtype));
    } else if (st == LT_OK) {
      st = lt_tensor_empty(dst->ndim, dst->shape, dst->dtype, dd, &dev_tmp);
      if (st == LT_OK)
        st = be_of(dst)->copy_from_host(dd, lt_tensor_data(dev_tmp), lt_tensor_data(stage),
                                        (size_t)lt_tensor_numel(stage) * lt_dtype_size(stage->dtype));
      if (st == LT_OK) st = be_of(dst)->copy(dst, dev_tmp);
    }
    if (st == LT_OK) bump_version(dst);
  }
  lt_tensor_release(exp);
  lt_tensor_release(stage);
  lt_tensor_release(dev_tmp);
  return st;
}

lt_status lt_op_to(lt_tensor *t, lt_dtype dtype, lt_device device, lt_tensor **out) {
  if (t->dtype == dtype && lt_device_equal(lt_tensor_device(t), device)) {
    lt_tensor_retain(t);
    *out = t;
    return LT_OK;
  }
  const lt_backend *be;
  LT_TRY(lt_backend_for(device, &be));
  lt_tensor *o;
  /* PyTorch's memory_format=preserve: the copy keeps t's layout (NHWC
   * activations stay channels-last under autocast and across x:cuda(), a
   * transposed weight stays transposed), as lt_op_empty_like lays it out */
  LT_TRY(lt_op_empty_like_format(t, LT_FORMAT_PRESERVE, dtype, device, &o));
  lt_status st = lt_op_copy_(o, t);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *out = o;
  return LT_OK;
}

lt_status lt_op_clone(lt_tensor *t, lt_tensor **out) { return lt_op_clone_format(t, LT_FORMAT_PRESERVE, out); }

lt_status lt_op_contiguous(lt_tensor *t, lt_tensor **out) { return lt_op_contiguous_format(t, LT_FORMAT_CONTIGUOUS, out); }

lt_status lt_op_host_contiguous(lt_tensor *t, lt_tensor **out) {
  if (lt_tensor_device(t).type == LT_CPU) return lt_op_contiguous(t, out);
  /* lt_op_to keeps a dense layout: make it contiguous on the device first */
  lt_tensor *c;
  LT_TRY(lt_op_contiguous(t, &c));
  lt_status st = lt_op_to(c, c->dtype, lt_cpu_device(), out);
  lt_tensor_release(c);
  return st;
}

lt_status lt_op_fill_(lt_tensor *dst, double v) {
  LT_TRY(check_writable(dst, 1));
  LT_TRY(be_of(dst)->fill(dst, v));
  bump_version(dst);
  return LT_OK;
}

lt_status lt_op_reshape(lt_tensor *t, int ndim, const int64_t *shape, lt_tensor **out) {
  lt_status st = lt_tensor_view(t, ndim, shape, out);
  if (st == LT_OK) return LT_OK;
  /* A shape error stays an error; only a stride mismatch falls back to a copy. */
  if (!strstr(lt_error_message(), "use reshape")) return st;
  lt_tensor *c;
  LT_TRY(lt_op_clone_format(t, LT_FORMAT_CONTIGUOUS, &c));
  st = lt_tensor_view(c, ndim, shape, out);
  lt_tensor_release(c);
  return st;
}

lt_status lt_op_flatten(lt_tensor *t, int start, int end, lt_tensor **out) {
  if (t->ndim == 0) {
    int64_t one = 1;
    return lt_op_reshape(t, 1, &one, out);
  }
  if (start > end) return lt_error_set(LT_ERR_ARG, 3, "end_dim %d is before start_dim %d", end + 1, start + 1);
  int64_t shape[LT_MAX_DIMS];
  int n = 0;
  for (int i = 0; i < start; i++) shape[n++] = t->shape[i];
  int64_t m = 1;
  for (int i = start; i <= end; i++) m *= t->shape[i];
  shape[n++] = m;
  for (int i = end + 1; i < t->ndim; i++) shape[n++] = t->shape[i];
  return lt_op_reshape(t, n, shape, out);
}

lt_status lt_op_item(lt_tensor *t, double *out) {
  if (lt_tensor_numel(t) != 1) {
    char b[128];
    return lt_error_set(LT_ERR_ARG, 1, "item() needs a tensor with one element, got shape %s",
                        lt_shape_str(t->ndim, t->shape, b, sizeof b));
  }
  lt_tensor *h;
  LT_TRY(lt_op_host_contiguous(t, &h));
  *out = lt_dtype_load_f64(lt_tensor_data(h), h->dtype);
  lt_tensor_release(h);
  return LT_OK;
}

lt_status lt_op_scalar_tensor(double v, lt_dtype dtype, lt_device device, lt_tensor **out) {
  return lt_op_full(0, NULL, v, dtype, device, out);
}

/* --- unary ---------------------------------------------------------------- */

static bool float_only(lt_unary_op op) {
  switch (op) {
    case LT_UN_NEG: case LT_UN_ABS: case LT_UN_RELU: case LT_UN_FLOOR: case LT_UN_CEIL: case LT_UN_ROUND:
    case LT_UN_SIGN: case LT_UN_SQUARE: case LT_UN_LOGICAL_NOT: case LT_UN_ISNAN: case LT_UN_CLAMP:
    case LT_UN_POW_SCALAR: case LT_UN_RPOW_SCALAR:
      return false;
    default: return true;
  }
}

/* The unary ops PyTorch refuses on bool tensors (sign keeps bool, the
 * float-only ops promote, square and clamp give int64, as in PyTorch). */
static lt_status check_unary_dtype(lt_unary_op op, lt_dtype in) {
  if (in != LT_BOOL) return LT_OK;
  const char *name = NULL;
  switch (op) {
    case LT_UN_NEG:
      return lt_error_set(LT_ERR_ARG, 1, "negation, the `-` operator, on a bool tensor is not supported; to invert a "
                                         "mask, use logical_not()");
    case LT_UN_ABS: name = "abs"; break;
    case LT_UN_FLOOR: name = "floor"; break;
    case LT_UN_CEIL: name = "ceil"; break;
    case LT_UN_ROUND: name = "round"; break;
    case LT_UN_RELU: name = "relu"; break;
    default: return LT_OK;
  }
  return lt_error_set(LT_ERR_ARG, 1, "%s is not supported for bool tensors (convert with :long() or :float() first)",
                      name);
}

static lt_dtype unary_out_dtype(lt_unary_op op, lt_dtype in, const double *p) {
  if (op == LT_UN_ISNAN || op == LT_UN_LOGICAL_NOT) return LT_BOOL;
  if (lt_dtype_is_integral(in)) {
    lt_dtype f = lt_dtype_default_float();
    if (float_only(op)) return f;
    if ((op == LT_UN_POW_SCALAR || op == LT_UN_RPOW_SCALAR || op == LT_UN_CLAMP) && p &&
        ((p[0] != floor(p[0]) && !isnan(p[0])) || (op == LT_UN_CLAMP && p[1] != floor(p[1]) && !isnan(p[1]) && !isinf(p[1]))))
      return f;
    if ((op == LT_UN_POW_SCALAR || op == LT_UN_RPOW_SCALAR) && p && p[0] < 0 && op == LT_UN_POW_SCALAR) return f;
    if (in == LT_BOOL && op != LT_UN_SIGN) return LT_INT64;
  }
  return in;
}

lt_status lt_op_unary(lt_unary_op op, lt_tensor *x, const double *p, lt_tensor **out) {
  LT_TRY(check_unary_dtype(op, x->dtype));
  lt_dtype odt = unary_out_dtype(op, x->dtype, p);
  lt_dtype cdt = op == LT_UN_ISNAN || op == LT_UN_LOGICAL_NOT ? x->dtype : odt; /* compute dtype */
  lt_tensor *xin = x, *o = NULL;
  if (cdt != x->dtype) LT_TRY(lt_op_to(x, cdt, lt_tensor_device(x), &xin));
  else lt_tensor_retain(xin);
  lt_status st = lt_op_empty_for(1, (const lt_tensor *const[]){x}, x->ndim, x->shape, odt, lt_tensor_device(x), &o);
  if (st == LT_OK && op == LT_UN_LOGICAL_NOT) {
    /* logical_not: compare with zero in the input dtype */
    lt_tensor *zero = NULL;
    st = lt_op_scalar_tensor(0, xin->dtype, lt_tensor_device(x), &zero);
    lt_tensor *ze = NULL;
    if (st == LT_OK) st = lt_tensor_expand(zero, xin->ndim, xin->shape, &ze);
    if (st == LT_OK) st = be_of(x)->binary(LT_BIN_EQ, o, xin, ze);
    lt_tensor_release(zero);
    lt_tensor_release(ze);
  } else if (st == LT_OK) {
    lt_tensor *in[2] = {o, xin}, *v[2];
    st = lt_op_memory_order(2, in, v);
    if (st == LT_OK) st = be_of(x)->unary(op, v[0], v[1], p);
    lt_tensor_release(v[0]);
    lt_tensor_release(v[1]);
  }
  lt_tensor_release(xin);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *out = o;
  return LT_OK;
}

lt_status lt_op_unary_(lt_unary_op op, lt_tensor *x, const double *p) {
  LT_TRY(check_unary_dtype(op, x->dtype));
  lt_dtype odt = unary_out_dtype(op, x->dtype, p);
  if (odt != x->dtype)
    return lt_error_set(LT_ERR_ARG, 1, "in-place result of type %s can't be stored in a%s %s tensor", lt_dtype_name(odt),
                        an(x->dtype), lt_dtype_name(x->dtype));
  LT_TRY(check_writable(x, 1));
  lt_tensor *v;
  LT_TRY(lt_op_memory_order(1, &x, &v));
  lt_status st = be_of(x)->unary(op, v, v, p);
  lt_tensor_release(v);
  LT_TRY(st);
  bump_version(x);
  return LT_OK;
}

/* --- binary --------------------------------------------------------------- */

static lt_dtype binary_compute_dtype(lt_binary_op op, lt_dtype promoted) {
  if ((op == LT_BIN_DIV || op == LT_BIN_ATAN2) && lt_dtype_is_integral(promoted)) return lt_dtype_default_float();
  return promoted;
}

/* Computes a op b into `o` (already allocated with the broadcast shape) or,
 * when o is NULL, allocates it; handles casting to the compute dtype. */
static lt_status binary_into(lt_binary_op op, lt_tensor *a, lt_tensor *b, lt_dtype cdt, lt_tensor *o) {
  lt_tensor *ac = NULL, *bc = NULL, *ae = NULL, *be = NULL;
  lt_status st = lt_op_to(a, cdt, lt_tensor_device(a), &ac);
  if (st == LT_OK) st = lt_op_to(b, cdt, lt_tensor_device(b), &bc);
  if (st == LT_OK) st = lt_tensor_expand(ac, o->ndim, o->shape, &ae);
  if (st == LT_OK) st = lt_tensor_expand(bc, o->ndim, o->shape, &be);
  if (st == LT_OK) st = unalias(o, &ae);
  if (st == LT_OK) st = unalias(o, &be);
  lt_tensor *in[3] = {o, ae, be}, *v[3] = {NULL, NULL, NULL};
  if (st == LT_OK) st = lt_op_memory_order(3, in, v);
  if (st == LT_OK) st = be_of(o)->binary(op, v[0], v[1], v[2]);
  for (int i = 0; i < 3; i++) lt_tensor_release(v[i]);
  lt_tensor_release(ac);
  lt_tensor_release(bc);
  lt_tensor_release(ae);
  lt_tensor_release(be);
  return st;
}

static lt_status binary_out(lt_binary_op op, lt_tensor *a, lt_tensor *b, lt_dtype promoted, lt_tensor **out) {
  LT_TRY(same_device(a, b, 2));
  int n;
  int64_t shape[LT_MAX_DIMS];
  LT_TRY(lt_broadcast_shape(a->ndim, a->shape, b->ndim, b->shape, &n, shape));
  lt_dtype cdt = binary_compute_dtype(op, promoted);
  lt_dtype odt = lt_binary_op_is_comparison(op) ? LT_BOOL : cdt;
  lt_tensor *o;
  const lt_tensor *like[2] = {a, b};
  LT_TRY(lt_op_empty_for(2, like, n, shape, odt, lt_tensor_device(a), &o));
  lt_status st = binary_into(op, a, b, cdt, o);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *out = o;
  return LT_OK;
}

lt_status lt_op_check_bool_operands(lt_binary_op op, lt_dtype left, lt_dtype right) {
  bool lb = left == LT_BOOL, rb = right == LT_BOOL;
  if (op == LT_BIN_SUB && lb && rb)
    return lt_error_set(LT_ERR_ARG, 2, "subtraction, the `-` operator, with two bool tensors is not supported; use "
                                       "logical_xor() instead");
  if (op == LT_BIN_SUB && (lb || rb))
    return lt_error_set(LT_ERR_ARG, lb ? 1 : 2, "subtraction, the `-` operator, with a bool tensor is not supported; "
                                                "to invert a mask, use logical_not() instead");
  if ((op == LT_BIN_POW || op == LT_BIN_FMOD || op == LT_BIN_REMAINDER) && lb && rb)
    return lt_error_set(LT_ERR_ARG, 1, "%s is not supported for bool tensors (convert with :long() or :float() first)",
                        op == LT_BIN_POW ? "pow" : (op == LT_BIN_FMOD ? "fmod" : "remainder"));
  return LT_OK;
}

lt_status lt_op_binary(lt_binary_op op, lt_tensor *a, lt_tensor *b, lt_tensor **out) {
  LT_TRY(lt_op_check_bool_operands(op, a->dtype, b->dtype));
  return binary_out(op, a, b, result_type2(a, b), out);
}

static lt_status binary_inplace(lt_binary_op op, lt_tensor *a, lt_tensor *b, lt_dtype promoted) {
  LT_TRY(same_device(a, b, 2));
  lt_dtype cdt = binary_compute_dtype(op, promoted);
  lt_dtype odt = lt_binary_op_is_comparison(op) ? LT_BOOL : cdt;
  if (!lt_can_cast(odt, a->dtype))
    return lt_error_set(LT_ERR_ARG, 2, "in-place result of type %s can't be stored in a%s %s tensor", lt_dtype_name(odt),
                        an(a->dtype), lt_dtype_name(a->dtype));
  int n;
  int64_t shape[LT_MAX_DIMS];
  LT_TRY(lt_broadcast_shape(a->ndim, a->shape, b->ndim, b->shape, &n, shape));
  if (n != a->ndim || memcmp(shape, a->shape, sizeof(int64_t) * (size_t)n) != 0) {
    char b1[128], b2[128];
    return lt_error_set(LT_ERR_ARG, 2, "in-place operand of shape %s does not broadcast to shape %s",
                        lt_shape_str(b->ndim, b->shape, b1, sizeof b1), lt_shape_str(a->ndim, a->shape, b2, sizeof b2));
  }
  LT_TRY(check_writable(a, 1));
  if (odt == a->dtype) {
    LT_TRY(binary_into(op, a, b, cdt, a));
  } else {
    /* compute in the promoted dtype, then store with a conversion */
    lt_tensor *tmp;
    LT_TRY(lt_op_empty_like(a, odt, &tmp));
    lt_status st = binary_into(op, a, b, cdt, tmp);
    if (st == LT_OK) st = be_of(a)->copy(a, tmp);
    lt_tensor_release(tmp);
    LT_TRY(st);
  }
  bump_version(a);
  return LT_OK;
}

lt_status lt_op_binary_(lt_binary_op op, lt_tensor *a, lt_tensor *b) {
  LT_TRY(lt_op_check_bool_operands(op, a->dtype, b->dtype));
  return binary_inplace(op, a, b, result_type2(a, b));
}

/* The result dtype of tensor a with a Lua number of dtype s_dtype. */
static lt_dtype result_type_scalar(const lt_tensor *a, lt_dtype s_dtype) {
  lt_operand ops[2] = {lt_operand_tensor(a->dtype, a->ndim), lt_operand_number(s_dtype)};
  return lt_result_type(2, ops);
}

/* tensor ^ number: an integral tensor (bool too) to a negative integer
 * power is an error, as in PyTorch (a tensor exponent is not checked). */
static lt_status check_scalar_power(lt_binary_op op, const lt_tensor *a, double s, lt_dtype s_dtype) {
  if (op == LT_BIN_POW && lt_dtype_is_integral(a->dtype) && !lt_dtype_is_floating(s_dtype) && s < 0)
    return lt_error_set(LT_ERR_ARG, 2, "integers to negative integer powers are not allowed (use a float exponent: "
                                       "%g.0)", s);
  return LT_OK;
}

lt_status lt_op_binary_scalar(lt_binary_op op, lt_tensor *a, double s, lt_dtype s_dtype, bool reversed,
                              lt_tensor **out) {
  LT_TRY(reversed ? lt_op_check_bool_operands(op, s_dtype, a->dtype) : lt_op_check_bool_operands(op, a->dtype, s_dtype));
  if (!reversed) LT_TRY(check_scalar_power(op, a, s, s_dtype));
  lt_dtype dt = result_type_scalar(a, s_dtype);
  lt_tensor *st_ = NULL;
  LT_TRY(lt_op_scalar_tensor(s, dt, lt_tensor_device(a), &st_));
  lt_status st = reversed ? binary_out(op, st_, a, dt, out) : binary_out(op, a, st_, dt, out);
  lt_tensor_release(st_);
  return st;
}

lt_status lt_op_binary_scalar_(lt_binary_op op, lt_tensor *a, double s, lt_dtype s_dtype) {
  LT_TRY(lt_op_check_bool_operands(op, a->dtype, s_dtype));
  LT_TRY(check_scalar_power(op, a, s, s_dtype));
  lt_dtype dt = result_type_scalar(a, s_dtype);
  lt_tensor *st_ = NULL;
  LT_TRY(lt_op_scalar_tensor(s, dt, lt_tensor_device(a), &st_));
  lt_status st = binary_inplace(op, a, st_, dt);
  lt_tensor_release(st_);
  return st;
}

lt_status lt_op_where(lt_tensor *cond, lt_tensor *a, lt_tensor *b, lt_tensor **out) {
  if (cond->dtype != LT_BOOL)
    return lt_error_set(LT_ERR_ARG, 1, "condition must be a bool tensor, got %s", lt_dtype_name(cond->dtype));
  LT_TRY(same_device(cond, a, 2));
  LT_TRY(same_device(cond, b, 3));
  int n1, n;
  int64_t s1[LT_MAX_DIMS], shape[LT_MAX_DIMS];
  LT_TRY(lt_broadcast_shape(cond->ndim, cond->shape, a->ndim, a->shape, &n1, s1));
  if (lt_broadcast_shape(n1, s1, b->ndim, b->shape, &n, shape) != LT_OK) {
    char b1[128], b2[128];
    return lt_error_set(LT_ERR_ARG, 3, "shapes %s and %s cannot be broadcast together", lt_shape_str(n1, s1, b1, sizeof b1),
                        lt_shape_str(b->ndim, b->shape, b2, sizeof b2));
  }
  lt_dtype dt = result_type2(a, b);
  lt_tensor *o = NULL, *ac = NULL, *bc = NULL, *ce = NULL, *ae = NULL, *bee = NULL;
  const lt_tensor *like[3] = {cond, a, b};
  lt_status st = lt_op_empty_for(3, like, n, shape, dt, lt_tensor_device(a), &o);
  if (st == LT_OK) st = lt_op_to(a, dt, lt_tensor_device(a), &ac);
  if (st == LT_OK) st = lt_op_to(b, dt, lt_tensor_device(b), &bc);
  if (st == LT_OK) st = lt_tensor_expand(cond, n, shape, &ce);
  if (st == LT_OK) st = lt_tensor_expand(ac, n, shape, &ae);
  if (st == LT_OK) st = lt_tensor_expand(bc, n, shape, &bee);
  if (st == LT_OK) st = be_of(o)->where(o, ce, ae, bee);
  lt_tensor_release(ac); lt_tensor_release(bc); lt_tensor_release(ce); lt_tensor_release(ae); lt_tensor_release(bee);
  if (st != LT_OK) { lt_tensor_release(o); return st; }
  *out = o;
  return LT_OK;
}

lt_status lt_op_masked_fill_(lt_tensor *t, lt_tensor *mask, double v) {
  if (mask->dtype != LT_BOOL)
    return lt_error_set(LT_ERR_ARG, 2, "mask must be a bool tensor, got %s", lt_dtype_name(mask->dtype));
  LT_TRY(same_device(t, mask, 2));
  LT_TRY(check_writable(t, 1));
  lt_tensor *me = NULL, *val = NULL, *ve = NULL;
  lt_status st = lt_tensor_expand(mask, t->ndim, t->shape, &me);
  if (st != LT_OK) {
    char b1[128], b2[128];
    return lt_error_set(LT_ERR_ARG, 2, "mask of shape %s does not broadcast to shape %s",
                        lt_shape_str(mask->ndim, mask->shape, b1, sizeof b1), lt_shape_str(t->ndim, t->shape, b2, sizeof b2));
  }
  st = unalias(t, &me); /* a mask that is a view of t itself */
  if (st == LT_OK) st = lt_op_scalar_tensor(v, t->dtype, lt_tensor_device(t), &val);
  if (st == LT_OK) st = lt_tensor_expand(val, t->ndim, t->shape, &ve);
  if (st == LT_OK) st = be_of(t)->where(t, me, ve, t);
  lt_tensor_release(me); lt_tensor_release(val); lt_tensor_release(ve);
  if (st == LT_OK) bump_version(t);
  return st;
}
