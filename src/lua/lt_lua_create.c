/* lt_lua_create.c — making new tensors from Lua: lt.tensor from a number or
 * a nested table of numbers or booleans, the shape-based constructors (zeros,
 * ones, empty, full, rand, randn, arange, linspace, eye, randint, randperm)
 * and the *_like family. Each takes an options table {dtype=, device=,
 * requires_grad=} (the *_like ones memory_format= too).
 *
 * Not here: the Tensor userdata and its queries (lt_lua_tensor.c), views and
 * memory formats (lt_lua_views.c), conversions of an existing tensor
 * (lt_lua_convert.c), the random generator's seed (lt_lua_runtime.c). */
#include "lt_lua.h"
#include "lt_lua_views.h"
#include "lt_ops_layout.h"

/* --- from Lua tables ------------------------------------------------------------------ */

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

/* --- from a shape or a range ----------------------------------------------------------- */

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

/* --- like another tensor --------------------------------------------------------------- */

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
  lt_lua_take_memory_format(L, opts, fname, &fmt);
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

void lt_lua_open_create(lua_State *L, int methods) {
  (void)methods; /* module functions only */
  static const luaL_Reg module_fns[] = {
    {"tensor", l_tensor}, {"zeros", l_zeros}, {"ones", l_ones}, {"empty", l_empty}, {"full", l_full},
    {"rand", l_rand}, {"randn", l_randn}, {"arange", l_arange}, {"linspace", l_linspace}, {"eye", l_eye},
    {"randint", l_randint}, {"randperm", l_randperm}, {"zeros_like", l_zeros_like}, {"ones_like", l_ones_like},
    {"empty_like", l_empty_like}, {"rand_like", l_rand_like}, {"randn_like", l_randn_like}, {"full_like", l_full_like},
    {NULL, NULL}};
  luaL_setfuncs(L, module_fns, 0);
}
