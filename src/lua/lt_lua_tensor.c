/* lt_lua_tensor.c — the Tensor userdata: creation functions, geometry queries,
 * views, conversion, indexing (t[i], t[i][j] = v), tolist/item, and the
 * metatable (__index, __newindex, __len, __gc, __close). Printing lives in
 * lua/luatrain/tensor_format.lua; arithmetic in lt_lua_math.c. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lt_ag_layout.h"
#include "lt_ag_ops.h"
#include "lt_cpu_iter.h"
#include "lt_lua.h"
#include "lt_lua_transfer.h"
#include "lt_philox.h"

/* --- creation ------------------------------------------------------------------------ */

/* Walks a nested Lua table: records the shape on the first descent and checks
 * every row has it; notes whether any element is a float or a boolean. */
typedef struct {
  int ndim;
  int64_t shape[LT_MAX_DIMS];
  bool any_float, any_bool, any_number;
  bool leaf_seen; /* ndim is fixed once a number was met */
} table_info;

static void scan_table(lua_State *L, int idx, int depth, table_info *ti, const char *fname) {
  int t = lua_type(L, idx);
  if (t == LUA_TTABLE || lua_isuserdata(L, idx)) {
    if (lua_isuserdata(L, idx)) lt_lua_argerror(L, 1, fname, "nested tensors are not supported; use lt.stack");
    if (depth >= LT_MAX_DIMS) lt_lua_argerror(L, 1, fname, "table nested deeper than %d levels", LT_MAX_DIMS);
    lua_Integer n = luaL_len(L, idx);
    if (depth == ti->ndim && ti->leaf_seen) {
      lt_lua_argerror(L, 1, fname, "ragged nested table: a table at depth %d where a %s was expected", depth + 1,
                      "number");
    } else if (depth == ti->ndim) {
      ti->shape[ti->ndim++] = n;
    } else if (depth > ti->ndim || ti->shape[depth] != n) {
      lt_lua_argerror(L, 1, fname, "ragged nested table: a row at depth %d has %d elements, expected %lld", depth + 1,
                      (int)n, depth < ti->ndim ? (long long)ti->shape[depth] : 0LL);
    }
    for (lua_Integer i = 1; i <= n; i++) {
      lua_geti(L, idx, i);
      scan_table(L, lua_gettop(L), depth + 1, ti, fname);
      lua_pop(L, 1);
    }
    return;
  }
  if (depth != ti->ndim)
    lt_lua_argerror(L, 1, fname, "ragged nested table: a %s where a table of length %lld was expected",
                    luaL_typename(L, idx), (long long)ti->shape[depth]);
  ti->leaf_seen = true;
  if (t == LUA_TNUMBER) {
    ti->any_number = true;
    if (!lua_isinteger(L, idx)) ti->any_float = true;
  } else if (t == LUA_TBOOLEAN) {
    ti->any_bool = true;
  } else {
    lt_lua_argerror(L, 1, fname, "expected numbers or booleans in the table, found a %s", luaL_typename(L, idx));
  }
}

static void fill_from_table(lua_State *L, int idx, lt_tensor *t, int64_t *pos) {
  if (lua_type(L, idx) == LUA_TTABLE) {
    lua_Integer n = luaL_len(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_geti(L, idx, i);
      fill_from_table(L, lua_gettop(L), t, pos);
      lua_pop(L, 1);
    }
    return;
  }
  char *p = (char *)lt_tensor_data(t) + (*pos)++ * (int64_t)lt_dtype_size(t->dtype);
  if (lua_type(L, idx) == LUA_TBOOLEAN) lt_dtype_store_i64(p, t->dtype, lua_toboolean(L, idx));
  else if (lua_isinteger(L, idx)) lt_dtype_store_i64(p, t->dtype, lua_tointeger(L, idx));
  else lt_dtype_store_f64(p, t->dtype, lua_tonumber(L, idx));
}

/* requires_grad=true in an options table at `opts`: applied to the new
 * tensor at the top of the stack (a leaf). */
static void creation_requires_grad(lua_State *L, int opts, const char *fname) {
  if (lua_type(L, opts) != LUA_TTABLE) return;
  int t = lua_getfield(L, opts, "requires_grad");
  if (t == LUA_TNIL) { lua_pop(L, 1); return; }
  if (t != LUA_TBOOLEAN)
    lt_lua_argerror(L, opts, fname, "requires_grad must be a boolean, got %s", luaL_typename(L, -1));
  bool on = lua_toboolean(L, -1);
  lua_pop(L, 1);
  lt_tensor *x = lt_lua_to_tensor(L, -1);
  if (on && !lt_dtype_is_floating(x->dtype))
    lt_lua_argerror(L, opts, fname, "only floating-point tensors can require gradients, got %s", lt_dtype_name(x->dtype));
  x->requires_grad = on;
}

static int l_tensor(lua_State *L) {
  const char *fname = "tensor";
  int t = lua_type(L, 1);
  if (t != LUA_TTABLE && t != LUA_TNUMBER && t != LUA_TBOOLEAN)
    return lt_lua_argerror(L, 1, fname, "expected a (nested) table of numbers, a number or a boolean, got %s",
                           luaL_typename(L, 1));
  table_info ti = {0};
  scan_table(L, 1, 0, &ti, fname);
  /* an empty table gives the default dtype, as torch.tensor([]) */
  lt_dtype dt = ti.any_float || (!ti.any_number && !ti.any_bool) ? lt_dtype_default_float()
                                                                 : (ti.any_bool && !ti.any_number ? LT_BOOL : LT_INT64);
  if (ti.any_bool && ti.any_number) return lt_lua_argerror(L, 1, fname, "table mixes booleans and numbers");
  lt_device dev = lt_cpu_device();
  if (lua_type(L, 2) == LUA_TTABLE) {
    lt_lua_creation_opts(L, 2, fname, &dt, &dev);
  } else if (!lua_isnoneornil(L, 2)) {
    return lt_lua_argerror(L, 2, fname, "expected an options table {dtype=, device=}, got %s", luaL_typename(L, 2));
  }
  lt_tensor *host = NULL;
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_tensor_empty(ti.ndim, ti.shape, dt, lt_cpu_device(), box), fname);
  host = *box;
  int64_t pos = 0;
  fill_from_table(L, 1, host, &pos);
  if (dev.type != LT_CPU) {
    lt_tensor **dbox = lt_lua_newbox(L);
    LT_LUA_CHECK(L, lt_op_to(host, dt, dev, dbox), fname);
  }
  creation_requires_grad(L, 2, fname);
  return 1;
}

/* zeros/ones/empty/rand/randn share: shape..., [opts] */
static int creation(lua_State *L, const char *fname, int kind) {
  int ndim;
  int64_t shape[LT_MAX_DIMS];
  int next = lt_lua_check_shape(L, 1, fname, false, &ndim, shape);
  lt_dtype dt = lt_dtype_default_float();
  lt_device dev = lt_cpu_device();
  if (!lua_isnoneornil(L, next) && lua_type(L, next) != LUA_TTABLE)
    return lt_lua_argerror(L, next, fname, "expected an integer size or an options table, got %s", luaL_typename(L, next));
  lt_lua_creation_opts(L, next, fname, &dt, &dev);
  lt_tensor **box = lt_lua_newbox(L);
  lt_status st;
  switch (kind) {
    case 0: st = lt_op_full(ndim, shape, 0, dt, dev, box); break;
    case 1: st = lt_op_full(ndim, shape, 1, dt, dev, box); break;
    case 2: st = lt_tensor_empty(ndim, shape, dt, dev, box); break;
    case 3: st = lt_op_rand(LT_RAND_UNIFORM, ndim, shape, 0, 1, dt, dev, box); break;
    default: st = lt_op_rand(LT_RAND_NORMAL, ndim, shape, 0, 1, dt, dev, box); break;
  }
  /* shape errors stay on argument 1; the rest (a dtype the op refuses) are
   * the options table's */
  if (st != LT_OK) lt_lua_raise_at(L, fname, lt_error_arg() == 1 ? 1 : next);
  creation_requires_grad(L, next, fname);
  return 1;
}
static int l_zeros(lua_State *L) { return creation(L, "zeros", 0); }
static int l_ones(lua_State *L) { return creation(L, "ones", 1); }
static int l_empty(lua_State *L) { return creation(L, "empty", 2); }
static int l_rand(lua_State *L) { return creation(L, "rand", 3); }
static int l_randn(lua_State *L) { return creation(L, "randn", 4); }

static double check_number(lua_State *L, int idx, const char *fname, const char *what) {
  if (lua_type(L, idx) == LUA_TBOOLEAN) return lua_toboolean(L, idx);
  if (lua_type(L, idx) != LUA_TNUMBER)
    lt_lua_argerror(L, idx, fname, "expected a number for %s, got %s", what, luaL_typename(L, idx));
  return lua_tonumber(L, idx);
}

static int l_full(lua_State *L) {
  const char *fname = "full";
  int ndim;
  int64_t shape[LT_MAX_DIMS];
  if (lua_type(L, 1) != LUA_TTABLE) return lt_lua_argerror(L, 1, fname, "expected a shape table, got %s", luaL_typename(L, 1));
  lt_lua_check_shape(L, 1, fname, false, &ndim, shape);
  double v = check_number(L, 2, fname, "the fill value");
  lt_dtype dt = lua_isinteger(L, 2) ? LT_INT64 : (lua_type(L, 2) == LUA_TBOOLEAN ? LT_BOOL : lt_dtype_default_float());
  lt_device dev = lt_cpu_device();
  lt_lua_creation_opts(L, 3, fname, &dt, &dev);
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_op_full(ndim, shape, v, dt, dev, box), fname);
  creation_requires_grad(L, 3, fname);
  return 1;
}

static int l_arange(lua_State *L) {
  const char *fname = "arange";
  int top = lua_gettop(L);
  if (top >= 1 && lua_type(L, top) == LUA_TTABLE) top--;
  double start = 0, end, step = 1;
  bool all_int = true;
  for (int i = 1; i <= top; i++) {
    check_number(L, i, fname, i == 1 ? "start" : (i == 2 ? "end" : "step"));
    if (!lua_isinteger(L, i)) all_int = false;
  }
  if (top == 0) return lt_lua_argerror(L, 1, fname, "expected an end value");
  if (top == 1) end = lua_tonumber(L, 1);
  else { start = lua_tonumber(L, 1); end = lua_tonumber(L, 2); }
  if (top >= 3) step = lua_tonumber(L, 3);
  if (top > 3) return lt_lua_argerror(L, 4, fname, "expected at most start, end, step and an options table");
  lt_dtype dt = all_int ? LT_INT64 : lt_dtype_default_float();
  lt_device dev = lt_cpu_device();
  lt_lua_creation_opts(L, top + 1, fname, &dt, &dev);
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_op_arange(start, end, step, dt, dev, box), fname);
  creation_requires_grad(L, top + 1, fname);
  return 1;
}

static int l_linspace(lua_State *L) {
  const char *fname = "linspace";
  double a = check_number(L, 1, fname, "start"), b = check_number(L, 2, fname, "end");
  int64_t steps = lt_lua_check_integer(L, 3, fname, "number of steps");
  lt_dtype dt = lt_dtype_default_float();
  lt_device dev = lt_cpu_device();
  lt_lua_creation_opts(L, 4, fname, &dt, &dev);
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_op_linspace(a, b, steps, dt, dev, box), fname);
  creation_requires_grad(L, 4, fname);
  return 1;
}

static int l_eye(lua_State *L) {
  const char *fname = "eye";
  int64_t n = lt_lua_check_integer(L, 1, fname, "size"), m = n;
  int opts = 2;
  if (lua_type(L, 2) == LUA_TNUMBER) { m = lt_lua_check_integer(L, 2, fname, "size"); opts = 3; }
  lt_dtype dt = lt_dtype_default_float();
  lt_device dev = lt_cpu_device();
  lt_lua_creation_opts(L, opts, fname, &dt, &dev);
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_op_eye(n, m, dt, dev, box), fname);
  creation_requires_grad(L, opts, fname);
  return 1;
}

static int l_randint(lua_State *L) {
  const char *fname = "randint";
  int64_t low = lt_lua_check_integer(L, 1, fname, "low"), high;
  int shape_at = 3;
  if (lua_type(L, 2) == LUA_TNUMBER) {
    high = lt_lua_check_integer(L, 2, fname, "high");
  } else {
    high = low; /* randint(high, shape) */
    low = 0;
    shape_at = 2;
  }
  if (lua_type(L, shape_at) != LUA_TTABLE)
    return lt_lua_argerror(L, shape_at, fname, "expected a shape table, got %s", luaL_typename(L, shape_at));
  int ndim;
  int64_t shape[LT_MAX_DIMS];
  lt_lua_check_shape(L, shape_at, fname, false, &ndim, shape);
  lt_dtype dt = LT_INT64;
  lt_device dev = lt_cpu_device();
  lt_lua_creation_opts(L, shape_at + 1, fname, &dt, &dev);
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_op_randint(low, high, ndim, shape, dt, dev, box), fname);
  creation_requires_grad(L, shape_at + 1, fname);
  return 1;
}

static int l_randperm(lua_State *L) {
  const char *fname = "randperm";
  int64_t n = lt_lua_check_integer(L, 1, fname, "n");
  lt_dtype dt = LT_INT64;
  lt_device dev = lt_cpu_device();
  lt_lua_creation_opts(L, 2, fname, &dt, &dev);
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_op_randperm(n, lt_cpu_device(), box), fname);
  /* 1-based, as every index in luatrain */
  LT_LUA_CHECK(L, lt_op_binary_scalar_(LT_BIN_ADD, *box, 1, LT_INT64), fname);
  if (dt != LT_INT64 || dev.type != LT_CPU) {
    lt_tensor *p = *box;
    lt_tensor **b2 = lt_lua_newbox(L);
    LT_LUA_CHECK(L, lt_op_to(p, dt, dev, b2), fname);
  }
  creation_requires_grad(L, 2, fname);
  return 1;
}

static void take_memory_format(lua_State *L, int idx, const char *fname, lt_memory_format *fmt);

/* zeros_like(t, [opts]) and friends: t's shape, dtype and device unless the
 * options ({dtype=, device=, requires_grad=, memory_format=}) say otherwise,
 * laid out as t (PyTorch's default memory_format, "preserve_format") */
static int like(lua_State *L, const char *fname, int kind) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  lt_dtype dt = t->dtype;
  lt_device dev = lt_tensor_device(t);
  double v = 0;
  int opts = 2;
  if (kind == 5) { v = check_number(L, 2, fname, "the fill value"); opts = 3; }
  static const char *const allowed[] = {"dtype", "device", "requires_grad", "memory_format", NULL};
  lt_lua_check_opts(L, opts, fname, allowed);
  lt_memory_format fmt = LT_FORMAT_PRESERVE;
  take_memory_format(L, opts, fname, &fmt);
  lt_lua_creation_opts(L, opts, fname, &dt, &dev);
  if (kind >= 3 && kind <= 4 && !lt_dtype_is_floating(dt))
    return lt_lua_argerror(L, opts, fname, "random floats need a floating dtype, got %s", lt_dtype_name(dt));
  lt_tensor **box = lt_lua_newbox(L);
  lt_status st = lt_op_empty_like_format(t, fmt, dt, dev, box);
  if (st == LT_OK) {
    switch (kind) {
      case 0: st = lt_op_fill_(*box, 0); break;
      case 1: st = lt_op_fill_(*box, 1); break;
      case 2: break;
      case 3: st = lt_op_rand_(LT_RAND_UNIFORM, *box, 0, 1); break;
      case 4: st = lt_op_rand_(LT_RAND_NORMAL, *box, 0, 1); break;
      default: st = lt_op_fill_(*box, v); break;
    }
  }
  /* a dtype the op refuses (no argument named): the options' fault */
  if (st != LT_OK) lt_lua_raise_at(L, fname, lt_error_arg() ? lt_error_arg() : opts);
  creation_requires_grad(L, opts, fname);
  return 1;
}
static int l_zeros_like(lua_State *L) { return like(L, "zeros_like", 0); }
static int l_ones_like(lua_State *L) { return like(L, "ones_like", 1); }
static int l_empty_like(lua_State *L) { return like(L, "empty_like", 2); }
static int l_rand_like(lua_State *L) { return like(L, "rand_like", 3); }
static int l_randn_like(lua_State *L) { return like(L, "randn_like", 4); }
static int l_full_like(lua_State *L) { return like(L, "full_like", 5); }

/* --- geometry queries -------------------------------------------------------------- */

static void push_shape(lua_State *L, int ndim, const int64_t *shape) {
  lua_createtable(L, ndim, 0);
  for (int i = 0; i < ndim; i++) {
    lua_pushinteger(L, shape[i]);
    lua_rawseti(L, -2, i + 1);
  }
}

static int l_shape(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "shape");
  push_shape(L, t->ndim, t->shape);
  return 1;
}

static int l_size(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "size");
  if (lua_isnoneornil(L, 2)) { push_shape(L, t->ndim, t->shape); return 1; }
  int d = lt_lua_check_dim(L, 2, t->ndim, "size");
  lua_pushinteger(L, t->ndim ? t->shape[d] : 1);
  return 1;
}

static int l_stride(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "stride");
  if (lua_isnoneornil(L, 2)) { push_shape(L, t->ndim, t->stride); return 1; }
  int d = lt_lua_check_dim(L, 2, t->ndim, "stride");
  lua_pushinteger(L, t->ndim ? t->stride[d] : 1);
  return 1;
}

static int l_dim(lua_State *L) { lua_pushinteger(L, lt_lua_check_tensor(L, 1, "dim")->ndim); return 1; }
static int l_numel(lua_State *L) { lua_pushinteger(L, lt_tensor_numel(lt_lua_check_tensor(L, 1, "numel"))); return 1; }
static int l_dtype(lua_State *L) { lua_pushstring(L, lt_dtype_name(lt_lua_check_tensor(L, 1, "dtype")->dtype)); return 1; }
static int l_device(lua_State *L) {
  char buf[32];
  lua_pushstring(L, lt_device_str(lt_tensor_device(lt_lua_check_tensor(L, 1, "device")), buf, sizeof buf));
  return 1;
}
/* --- memory formats: "contiguous_format", "channels_last", "preserve_format" --- */

static const char *const format_names[] = {"contiguous_format", "channels_last", "preserve_format", NULL};

/* The memory format named by the string at idx (the argument `arg` in messages). */
static lt_memory_format check_format(lua_State *L, int idx, int arg, const char *fname, bool allow_preserve) {
  if (lua_type(L, idx) != LUA_TSTRING)
    lt_lua_argerror(L, arg, fname, "memory_format must be a string such as 'channels_last', got %s",
                    luaL_typename(L, idx));
  const char *s = lua_tostring(L, idx);
  for (int i = 0; format_names[i]; i++)
    if (strcmp(s, format_names[i]) == 0 && (allow_preserve || i != LT_FORMAT_PRESERVE)) return (lt_memory_format)i;
  lt_lua_argerror(L, arg, fname, "unknown memory format '%s' (expected 'contiguous_format', 'channels_last'%s)", s,
                  allow_preserve ? " or 'preserve_format'" : "");
  return LT_FORMAT_CONTIGUOUS;
}

/* Takes memory_format out of an options table at idx (replacing the table
 * by a copy without it, so the dtype/device parsing that follows sees only
 * its own keys); *fmt is left alone when the key is absent. */
static void take_memory_format(lua_State *L, int idx, const char *fname, lt_memory_format *fmt) {
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) != LUA_TTABLE) return;
  if (lua_getfield(L, idx, "memory_format") == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  *fmt = check_format(L, -1, idx, fname, true);
  lua_pop(L, 1);
  lt_lua_table_without(L, idx, "memory_format");
}

/* The tensor at idx laid out in fmt: left as the result when it already is,
 * else a differentiable copy pushed on top. Returns 1 (the result on top).
 * `exact` (t:to): "already" means lt_tensor_suggest_format says fmt, so a
 * tensor in both layouts ([N,1,H,W], [N,C,1,1]) gets fmt's own strides and
 * ops then follow fmt, as PyTorch's to(memory_format=); otherwise
 * (t:contiguous, PyTorch's contiguous(memory_format=)) any tensor that
 * satisfies is_contiguous(fmt) is kept. */
static int push_in_format(lua_State *L, int idx, lt_memory_format fmt, const char *fname, bool exact) {
  idx = lua_absindex(L, idx);
  lt_tensor *t = lt_lua_check_tensor(L, idx, fname);
  if (fmt == LT_FORMAT_CHANNELS_LAST && t->ndim != 4)
    return lt_lua_argerror(L, 1, fname, "channels_last needs a 4-D tensor [N,C,H,W], got a %d-D tensor", t->ndim);
  bool keep = lt_tensor_is_contiguous_format(t, fmt);
  if (exact && keep && fmt != LT_FORMAT_PRESERVE) keep = lt_tensor_suggest_format(t) == fmt;
  if (keep) {
    lua_pushvalue(L, idx);
    return 1;
  }
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_clone_format(t, fmt, box), fname);
  return 1;
}

/* t:is_contiguous([memory_format]) */
static int l_is_contiguous(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "is_contiguous");
  lt_memory_format f = lua_isnoneornil(L, 2) ? LT_FORMAT_CONTIGUOUS : check_format(L, 2, 2, "is_contiguous", false);
  lua_pushboolean(L, lt_tensor_is_contiguous_format(t, f));
  return 1;
}
static int l_is_floating_point(lua_State *L) {
  lua_pushboolean(L, lt_dtype_is_floating(lt_lua_check_tensor(L, 1, "is_floating_point")->dtype));
  return 1;
}
static int l_element_size(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)lt_dtype_size(lt_lua_check_tensor(L, 1, "element_size")->dtype));
  return 1;
}
static int l_storage_offset(lua_State *L) {
  lua_pushinteger(L, lt_lua_check_tensor(L, 1, "storage_offset")->offset);
  return 1;
}
static int l_is_tensor(lua_State *L) {
  lua_pushboolean(L, luaL_testudata(L, 1, LT_TENSOR_MT) != NULL);
  return 1;
}
/* True when both tensors view the same storage (for tests of view semantics). */
static int l_shares_storage(lua_State *L) {
  lt_tensor *a = lt_lua_check_tensor(L, 1, "shares_storage"), *b = lt_lua_check_tensor(L, 2, "shares_storage");
  lua_pushboolean(L, a->storage == b->storage);
  return 1;
}

/* --- views ------------------------------------------------------------------------- */

static int view_like(lua_State *L, const char *fname, bool copy_ok) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  int ndim;
  int64_t shape[LT_MAX_DIMS];
  int next = lt_lua_check_shape(L, 2, fname, true, &ndim, shape);
  if (!lua_isnone(L, next)) return lt_lua_argerror(L, next, fname, "expected integer sizes, got %s", luaL_typename(L, next));
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, copy_ok ? lt_ag_reshape(t, ndim, shape, box) : lt_ag_view(t, ndim, shape, box), fname);
  return 1;
}
static int l_view(lua_State *L) { return view_like(L, "view", false); }
static int l_reshape(lua_State *L) { return view_like(L, "reshape", true); }

static int l_view_as(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "view_as"), *o = lt_lua_check_tensor(L, 2, "view_as");
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_view(t, o->ndim, o->shape, box), "view_as");
  return 1;
}

static int l_narrow(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "narrow");
  if (t->ndim == 0) return lt_lua_argerror(L, 1, "narrow", "cannot narrow a 0-d tensor");
  int d = lt_lua_check_dim(L, 2, t->ndim, "narrow");
  int64_t start = lt_lua_check_integer(L, 3, "narrow", "start");
  int64_t len = lt_lua_check_integer(L, 4, "narrow", "length");
  if (start < 0) start += t->shape[d] + 1;
  if (start < 1 || start > t->shape[d] + 1)
    return lt_lua_argerror(L, 3, "narrow", "start %lld out of range for dimension %d of size %lld",
                           (long long)lua_tointeger(L, 3), d + 1, (long long)t->shape[d]);
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_narrow(t, d, start - 1, len, box), "narrow");
  return 1;
}

/* 1-based index (negative from the end) -> 0-based, with a range error. */
static int64_t check_index(lua_State *L, int idx, int64_t size, int dim, const char *fname) {
  int64_t i = lt_lua_check_integer(L, idx, fname, "index");
  int64_t z = i > 0 ? i - 1 : size + i;
  if (i == 0 || z < 0 || z >= size)
    lt_lua_argerror(L, idx, fname, "index %lld out of range for dimension %d of size %lld (expected 1..%lld or -%lld..-1)",
                    (long long)i, dim + 1, (long long)size, (long long)size, (long long)size);
  return z;
}

static int l_select(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "select");
  if (t->ndim == 0) return lt_lua_argerror(L, 1, "select", "cannot index a 0-d tensor");
  int d = lt_lua_check_dim(L, 2, t->ndim, "select");
  int64_t i = check_index(L, 3, t->shape[d], d, "select");
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_select(t, d, i, box), "select");
  return 1;
}

static int l_transpose(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "transpose");
  int d0 = lt_lua_check_dim(L, 2, t->ndim, "transpose"), d1 = lt_lua_check_dim(L, 3, t->ndim, "transpose");
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_transpose(t, d0, d1, box), "transpose");
  return 1;
}

static int l_t(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "t");
  if (t->ndim > 2) return lt_lua_argerror(L, 1, "t", "expected a tensor with at most 2 dimensions, got %d", t->ndim);
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, t->ndim < 2 ? lt_ag_alias(t, box) : lt_ag_transpose(t, 0, 1, box), "t");
  return 1;
}

static int l_permute(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "permute");
  int n = 0, dims[LT_MAX_DIMS];
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_Integer len = luaL_len(L, 2);
    if (len != t->ndim) return lt_lua_argerror(L, 2, "permute", "expected %d dims, got %d", t->ndim, (int)len);
    for (int i = 1; i <= len; i++) {
      lua_geti(L, 2, i);
      dims[n++] = lt_lua_check_dim_at(L, lua_gettop(L), 2, t->ndim, "permute");
      lua_pop(L, 1);
    }
  } else {
    int top = lua_gettop(L);
    if (top - 1 != t->ndim) return lt_lua_argerror(L, 2, "permute", "expected %d dims, got %d", t->ndim, top - 1);
    for (int i = 2; i <= top; i++) dims[n++] = lt_lua_check_dim(L, i, t->ndim, "permute");
  }
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_permute(t, dims, box), "permute");
  return 1;
}

static int l_squeeze(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "squeeze");
  int d = lua_isnoneornil(L, 2) ? -1 : lt_lua_check_dim(L, 2, t->ndim, "squeeze");
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_squeeze(t, d, box), "squeeze");
  return 1;
}

static int l_unsqueeze(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "unsqueeze");
  int d = lt_lua_check_dim(L, 2, t->ndim + 1, "unsqueeze");
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_unsqueeze(t, d, box), "unsqueeze");
  return 1;
}

static int l_expand(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "expand");
  int ndim;
  int64_t shape[LT_MAX_DIMS];
  lt_lua_check_shape(L, 2, "expand", true, &ndim, shape);
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_expand(t, ndim, shape, box), "expand");
  return 1;
}

static int l_expand_as(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "expand_as"), *o = lt_lua_check_tensor(L, 2, "expand_as");
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_expand(t, o->ndim, o->shape, box), "expand_as");
  return 1;
}

static int l_flatten(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "flatten");
  int s = lua_isnoneornil(L, 2) ? 0 : lt_lua_check_dim(L, 2, t->ndim, "flatten");
  int e = lua_isnoneornil(L, 3) ? (t->ndim ? t->ndim - 1 : 0) : lt_lua_check_dim(L, 3, t->ndim, "flatten");
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_flatten(t, s, e, box), "flatten");
  return 1;
}

/* t:contiguous([memory_format]) */
static int l_contiguous(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "contiguous");
  if (!lua_isnoneornil(L, 2)) return push_in_format(L, 1, check_format(L, 2, 2, "contiguous", false), "contiguous", false);
  if (lt_tensor_is_contiguous(t)) { lua_settop(L, 1); return 1; }
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_contiguous(t, box), "contiguous");
  return 1;
}

/* t:clone([{memory_format=}]): a copy in t's layout (PyTorch's default
 * "preserve_format": a dense t's strides, else dense in t's order of
 * strides), or in the format named */
static int l_clone(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "clone");
  lt_memory_format fmt = LT_FORMAT_PRESERVE;
  if (!lua_isnoneornil(L, 2)) {
    static const char *const allowed[] = {"memory_format", NULL};
    if (lua_type(L, 2) != LUA_TTABLE)
      return lt_lua_argerror(L, 2, "clone", "expected an options table {memory_format=}, got %s", luaL_typename(L, 2));
    lt_lua_check_opts(L, 2, "clone", allowed);
    take_memory_format(L, 2, "clone", &fmt);
  }
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_clone_format(t, fmt, box), "clone");
  return 1;
}

/* --- conversion ------------------------------------------------------------------ */

static int convert(lua_State *L, const char *fname, lt_dtype dt, lt_device dev) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  if (t->dtype == dt && lt_device_equal(lt_tensor_device(t), dev)) { lua_settop(L, 1); return 1; }
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_to(t, dt, dev, box), fname);
  return 1;
}

/* t:to(dtype), t:to(device), t:to(device, dtype), t:to{dtype=, device=}, t:to(other_tensor) */
static int l_to(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "to");
  lt_dtype dt = t->dtype;
  lt_device dev = lt_tensor_device(t);
  int top = lua_gettop(L);
  if (top < 2) return lt_lua_argerror(L, 2, "to", "expected a dtype, a device, a tensor or an options table");
  bool non_blocking = false; /* {non_blocking = true}: lt_lua_transfer.c */
  lt_memory_format fmt = LT_FORMAT_PRESERVE; /* {memory_format = "channels_last"} */
  int fmt_arg = 2;
  for (int i = 2; i <= top; i++) {
    lt_memory_format f = fmt;
    take_memory_format(L, i, "to", &fmt);
    if (f != fmt) fmt_arg = i;
    if (lt_lua_take_non_blocking(L, i, "to")) non_blocking = true;
    lt_tensor *o = lt_lua_to_tensor(L, i);
    if (o) { dt = o->dtype; dev = lt_tensor_device(o); continue; }
    if (lua_type(L, i) == LUA_TTABLE) { lt_lua_creation_opts(L, i, "to", &dt, &dev); continue; }
    if (lua_type(L, i) != LUA_TSTRING)
      return lt_lua_argerror(L, i, "to", "expected a dtype or device name, got %s", luaL_typename(L, i));
    const char *s = lua_tostring(L, i);
    if (lt_lua_parse_dtype(s, &dt)) continue;
    if (lt_device_parse(s, &dev) != LT_OK)
      return lt_lua_argerror(L, i, "to", "'%s' is neither a dtype nor a device ('cpu', 'cuda', 'cuda:N')", s);
  }
  if (fmt == LT_FORMAT_CHANNELS_LAST && t->ndim != 4)
    return lt_lua_argerror(L, fmt_arg, "to", "channels_last needs a 4-D tensor [N,C,H,W], got a %d-D tensor", t->ndim);
  if (non_blocking) lt_lua_convert_non_blocking(L, "to", dt, dev);
  else convert(L, "to", dt, dev);
  if (fmt == LT_FORMAT_PRESERVE) return 1; /* the conversions keep the layout already */
  return push_in_format(L, -1, fmt, "to", true);
}

static int l_type_as(lua_State *L) {
  lt_tensor *o = lt_lua_check_tensor(L, 2, "type_as");
  lt_tensor *t = lt_lua_check_tensor(L, 1, "type_as");
  return convert(L, "type_as", o->dtype, lt_tensor_device(t));
}

static int l_float(lua_State *L) { lt_tensor *t = lt_lua_check_tensor(L, 1, "float"); return convert(L, "float", LT_FLOAT32, lt_tensor_device(t)); }
static int l_double(lua_State *L) { lt_tensor *t = lt_lua_check_tensor(L, 1, "double"); return convert(L, "double", LT_FLOAT64, lt_tensor_device(t)); }
static int l_long(lua_State *L) { lt_tensor *t = lt_lua_check_tensor(L, 1, "long"); return convert(L, "long", LT_INT64, lt_tensor_device(t)); }
static int l_int(lua_State *L) { lt_tensor *t = lt_lua_check_tensor(L, 1, "int"); return convert(L, "int", LT_INT32, lt_tensor_device(t)); }
static int l_byte(lua_State *L) { lt_tensor *t = lt_lua_check_tensor(L, 1, "byte"); return convert(L, "byte", LT_UINT8, lt_tensor_device(t)); }
static int l_bool(lua_State *L) { lt_tensor *t = lt_lua_check_tensor(L, 1, "bool"); return convert(L, "bool", LT_BOOL, lt_tensor_device(t)); }
static int l_half(lua_State *L) { lt_tensor *t = lt_lua_check_tensor(L, 1, "half"); return convert(L, "half", LT_FLOAT16, lt_tensor_device(t)); }
static int l_bfloat16(lua_State *L) { lt_tensor *t = lt_lua_check_tensor(L, 1, "bfloat16"); return convert(L, "bfloat16", LT_BFLOAT16, lt_tensor_device(t)); }

static int l_cpu(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "cpu");
  return convert(L, "cpu", t->dtype, lt_cpu_device());
}

/* t:cuda([index] [, {device=, non_blocking=}]) or t:cuda{device=, non_blocking=} */
static int l_cuda(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "cuda");
  lt_device dev = {LT_CUDA, 0};
  int opts = 2;
  if (lua_type(L, 2) != LUA_TTABLE) {
    if (!lua_isnoneornil(L, 2)) dev.index = (int)lt_lua_check_integer(L, 2, "cuda", "device index");
    opts = 3;
  }
  if (lt_lua_cuda_opts(L, opts, "cuda", &dev)) return lt_lua_convert_non_blocking(L, "cuda", t->dtype, dev);
  return convert(L, "cuda", t->dtype, dev);
}

/* --- values ------------------------------------------------------------------------ */

static void push_element(lua_State *L, const void *p, lt_dtype dt) {
  if (dt == LT_BOOL) lua_pushboolean(L, *(const uint8_t *)p != 0);
  else if (lt_dtype_is_integral(dt)) lua_pushinteger(L, lt_dtype_load_i64(p, dt));
  else lua_pushnumber(L, lt_dtype_load_f64(p, dt));
}

static int l_item(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "item");
  if (lt_tensor_numel(t) != 1) {
    char b[128];
    return lt_lua_argerror(L, 1, "item", "expected a tensor with one element, got shape %s",
                           lt_shape_str(t->ndim, t->shape, b, sizeof b));
  }
  lt_tensor **box = lt_lua_newbox(L); /* keeps the host copy owned by Lua */
  LT_LUA_CHECK(L, lt_op_host_contiguous(t, box), "item");
  push_element(L, lt_tensor_data(*box), t->dtype);
  return 1;
}

static void push_list(lua_State *L, const char *p, const lt_tensor *h, int d) {
  size_t es = lt_dtype_size(h->dtype);
  if (d == h->ndim) { push_element(L, p, h->dtype); return; }
  luaL_checkstack(L, 4, "tolist");
  lua_createtable(L, (int)h->shape[d], 0);
  for (int64_t i = 0; i < h->shape[d]; i++) {
    push_list(L, p + i * h->stride[d] * (int64_t)es, h, d + 1);
    lua_rawseti(L, -2, i + 1);
  }
}

static int l_tolist(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "tolist");
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_op_host_contiguous(t, box), "tolist");
  push_list(L, lt_tensor_data(*box), *box, 0);
  return 1;
}

/* Reads a window of elements as a flat Lua array (for the printer): the
 * values of a contiguous host copy. */
static int l_flat_values(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "_flat_values");
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_op_host_contiguous(t, box), "_flat_values");
  lt_tensor *h = *box;
  int64_t n = lt_tensor_numel(h);
  size_t es = lt_dtype_size(h->dtype);
  lua_createtable(L, (int)(n < 1 << 24 ? n : 0), 0);
  const char *p = lt_tensor_data(h);
  for (int64_t i = 0; i < n; i++) {
    push_element(L, p + i * (int64_t)es, h->dtype);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* --- indexing: t[i], t[i] = v ------------------------------------------------------- */

static int tensor_index(lua_State *L) {
  if (lua_type(L, 2) == LUA_TNUMBER) {
    lt_tensor *t = lt_lua_check_tensor(L, 1, "index");
    if (t->ndim == 0) return lt_lua_argerror(L, 2, "index", "cannot index a 0-d tensor");
    int64_t i = check_index(L, 2, t->shape[0], 0, "index");
    lt_tensor **box = lt_lua_newbox(L);
    LT_LUA_CHECK(L, lt_ag_select(t, 0, i, box), "index");
    return 1;
  }
  /* properties first (grad, requires_grad, ...), then methods */
  lua_getmetatable(L, 1);
  if (lua_getfield(L, -1, "__getters") == LUA_TTABLE) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, -2) == LUA_TFUNCTION) {
      lua_pushvalue(L, 1);
      lua_call(L, 1, 1);
      return 1;
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_getfield(L, -1, "__methods");
  lua_pushvalue(L, 2);
  lua_rawget(L, -2);
  return 1;
}

static int tensor_newindex(lua_State *L) {
  if (lua_type(L, 2) == LUA_TNUMBER) {
    lt_tensor *t = lt_lua_check_tensor(L, 1, "index assignment");
    if (t->ndim == 0) return lt_lua_argerror(L, 2, "index assignment", "cannot index a 0-d tensor");
    int64_t i = check_index(L, 2, t->shape[0], 0, "index assignment");
    lt_tensor *src = lt_lua_to_tensor(L, 3);
    if (src) {
      LT_LUA_CHECK(L, lt_ag_select_copy_(t, 0, i, src), "index assignment");
    } else if (lua_type(L, 3) == LUA_TNUMBER || lua_type(L, 3) == LUA_TBOOLEAN) {
      double v = lua_type(L, 3) == LUA_TBOOLEAN ? lua_toboolean(L, 3) : lua_tonumber(L, 3);
      LT_LUA_CHECK(L, lt_ag_select_fill_(t, 0, i, v), "index assignment");
    } else {
      return lt_lua_argerror(L, 3, "index assignment", "expected a number, a boolean or a tensor, got %s",
                             luaL_typename(L, 3));
    }
    return 0;
  }
  lua_getmetatable(L, 1);
  if (lua_getfield(L, -1, "__setters") == LUA_TTABLE) {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, -2) == LUA_TFUNCTION) {
      lua_pushvalue(L, 1);
      lua_pushvalue(L, 3);
      lua_call(L, 2, 0);
      return 0;
    }
  }
  return luaL_error(L, "cannot set field '%s' of a tensor (tensors have no user fields)", luaL_tolstring(L, 2, NULL));
}

static int tensor_len(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "len");
  if (t->ndim == 0) return lt_lua_argerror(L, 1, "len", "a 0-d tensor has no length");
  lua_pushinteger(L, t->shape[0]);
  return 1;
}

static int tensor_gc(lua_State *L) {
  lt_tensor **box = luaL_checkudata(L, 1, LT_TENSOR_MT);
  if (*box) {
    lt_tensor_release(*box);
    *box = NULL;
  }
  return 0;
}

/* --- module functions ---------------------------------------------------------------- */

static int l_manual_seed(lua_State *L) {
  int64_t s = lt_lua_check_integer(L, 1, "manual_seed", "seed");
  lt_rng_manual_seed((uint64_t)s);
  return 0;
}

static int l_get_rng_state(lua_State *L) {
  lt_rng *r = lt_rng_global();
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, (lua_Integer)r->seed);
  lua_setfield(L, -2, "seed");
  lua_pushinteger(L, (lua_Integer)r->offset);
  lua_setfield(L, -2, "offset");
  return 1;
}

static int l_set_rng_state(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_getfield(L, 1, "seed");
  lua_getfield(L, 1, "offset");
  if (!lua_isinteger(L, -2) || !lua_isinteger(L, -1))
    return lt_lua_argerror(L, 1, "set_rng_state", "expected a table {seed=<integer>, offset=<integer>} from get_rng_state");
  lt_rng *r = lt_rng_global();
  r->seed = (uint64_t)lua_tointeger(L, -2);
  r->offset = (uint64_t)lua_tointeger(L, -1);
  return 0;
}

static int l_set_default_dtype(lua_State *L) {
  lt_dtype dt = lt_lua_check_dtype(L, 1, "set_default_dtype");
  if (dt != LT_FLOAT32 && dt != LT_FLOAT64)
    return lt_lua_argerror(L, 1, "set_default_dtype", "expected float32 or float64, got %s", lt_dtype_name(dt));
  lt_dtype_set_default_float(dt);
  return 0;
}

static int l_get_default_dtype(lua_State *L) {
  lua_pushstring(L, lt_dtype_name(lt_dtype_default_float()));
  return 1;
}

static int l_set_num_threads(lua_State *L) {
  int64_t n = lt_lua_check_integer(L, 1, "set_num_threads", "thread count");
  if (n < 1 || n > 1024) return lt_lua_argerror(L, 1, "set_num_threads", "expected 1..1024, got %lld", (long long)n);
  lt_cpu_set_num_threads((int)n);
  return 0;
}

static int l_get_num_threads(lua_State *L) {
  lua_pushinteger(L, lt_cpu_num_threads());
  return 1;
}

static int l_memory_stats(lua_State *L) {
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, (lua_Integer)lt_storage_bytes_in_use(LT_CPU));
  lua_setfield(L, -2, "cpu_bytes");
  lua_pushinteger(L, (lua_Integer)lt_storage_peak_bytes(LT_CPU));
  lua_setfield(L, -2, "cpu_peak_bytes");
  return 1;
}

void lt_lua_open_tensor(lua_State *L, int methods) {
  static const luaL_Reg module_fns[] = {
    {"tensor", l_tensor}, {"zeros", l_zeros}, {"ones", l_ones}, {"empty", l_empty}, {"full", l_full},
    {"rand", l_rand}, {"randn", l_randn}, {"arange", l_arange}, {"linspace", l_linspace}, {"eye", l_eye},
    {"randint", l_randint}, {"randperm", l_randperm}, {"zeros_like", l_zeros_like}, {"ones_like", l_ones_like},
    {"empty_like", l_empty_like}, {"rand_like", l_rand_like}, {"randn_like", l_randn_like}, {"full_like", l_full_like},
    {"is_tensor", l_is_tensor}, {"manual_seed", l_manual_seed}, {"get_rng_state", l_get_rng_state},
    {"set_rng_state", l_set_rng_state}, {"set_default_dtype", l_set_default_dtype},
    {"get_default_dtype", l_get_default_dtype}, {"set_num_threads", l_set_num_threads},
    {"get_num_threads", l_get_num_threads}, {"memory_stats", l_memory_stats}, {"shares_storage", l_shares_storage},
    {NULL, NULL}};
  static const luaL_Reg method_fns[] = {
    {"shape", l_shape}, {"size", l_size}, {"stride", l_stride}, {"dim", l_dim}, {"numel", l_numel},
    {"dtype", l_dtype}, {"device", l_device}, {"is_contiguous", l_is_contiguous},
    {"is_floating_point", l_is_floating_point}, {"element_size", l_element_size},
    {"storage_offset", l_storage_offset}, {"view", l_view}, {"reshape", l_reshape}, {"view_as", l_view_as},
    {"narrow", l_narrow}, {"select", l_select}, {"transpose", l_transpose}, {"t", l_t}, {"permute", l_permute},
    {"squeeze", l_squeeze}, {"unsqueeze", l_unsqueeze}, {"expand", l_expand}, {"expand_as", l_expand_as},
    {"flatten", l_flatten}, {"contiguous", l_contiguous}, {"clone", l_clone}, {"to", l_to}, {"type_as", l_type_as},
    {"float", l_float}, {"double", l_double}, {"long", l_long}, {"int", l_int}, {"byte", l_byte}, {"bool", l_bool},
    {"half", l_half}, {"bfloat16", l_bfloat16}, {"cpu", l_cpu}, {"cuda", l_cuda}, {"item", l_item},
    {"tolist", l_tolist}, {"_flat_values", l_flat_values}, {NULL, NULL}};
  luaL_setfuncs(L, module_fns, 0);
  lua_pushvalue(L, methods);
  luaL_setfuncs(L, method_fns, 0);
  lua_pop(L, 1);
  /* memory formats as constants: lt.channels_last == "channels_last" */
  for (int i = 0; format_names[i]; i++) {
    lua_pushstring(L, format_names[i]);
    lua_setfield(L, -2, format_names[i]);
  }
  /* dtype names as constants: lt.float32 == "float32" */
  for (int i = 0; i < LT_NDTYPES; i++) {
    lua_pushstring(L, lt_dtype_name((lt_dtype)i));
    lua_setfield(L, -2, lt_dtype_name((lt_dtype)i));
  }
  /* metamethods: the metatable is the one registered under LT_TENSOR_MT */
  luaL_getmetatable(L, LT_TENSOR_MT);
  static const luaL_Reg meta[] = {{"__index", tensor_index}, {"__newindex", tensor_newindex}, {"__len", tensor_len},
                                  {"__gc", tensor_gc}, {"__close", tensor_gc}, {NULL, NULL}};
  luaL_setfuncs(L, meta, 0);
  lua_pushliteral(L, "Tensor");
  lua_setfield(L, -2, "__name");
  lua_newtable(L);
  lua_setfield(L, -2, "__getters");
  lua_newtable(L);
  lua_setfield(L, -2, "__setters");
  lua_pop(L, 1);
}
