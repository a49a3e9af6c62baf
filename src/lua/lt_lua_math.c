/* lt_lua_math.c — arithmetic on tensors from Lua: elementwise unary and
 * binary ops as methods, module functions and operators (+ - * / ^ unary -),
 * their in-place forms (trailing _), comparisons, where/masked_fill,
 * reductions (dims 1-based, returned indices 1-based; var/std with
 * PyTorch's positional unbiased, var_mean/std_mean, logsumexp) and matmul.
 * A Lua number in an op promotes as a PyTorch scalar (lt_result_type). */
#include <math.h>
#include <string.h>

#include "lt_ag_ops.h"
#include "lt_lua.h"

/* --- unary ---------------------------------------------------------------------- */

static int unary(lua_State *L, lt_unary_op op, const char *fname, const double *p) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_unary(op, t, p, box), fname);
  return 1;
}

static int unary_(lua_State *L, lt_unary_op op, const char *fname, const double *p) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  LT_LUA_CHECK(L, lt_ag_unary_(op, t, p), fname);
  lua_settop(L, 1);
  return 1;
}

#define UNARY(name, OP)                                                          \
  static int f_##name(lua_State *L) { return unary(L, OP, #name, NULL); }       \
  static int f_##name##_(lua_State *L) { return unary_(L, OP, #name "_", NULL); }
UNARY(neg, LT_UN_NEG)
UNARY(abs, LT_UN_ABS)
UNARY(exp, LT_UN_EXP)
UNARY(log, LT_UN_LOG)
UNARY(sqrt, LT_UN_SQRT)
UNARY(rsqrt, LT_UN_RSQRT)
UNARY(sin, LT_UN_SIN)
UNARY(cos, LT_UN_COS)
UNARY(tanh, LT_UN_TANH)
UNARY(sigmoid, LT_UN_SIGMOID)
UNARY(relu, LT_UN_RELU)
UNARY(floor, LT_UN_FLOOR)
UNARY(ceil, LT_UN_CEIL)
UNARY(round, LT_UN_ROUND)
UNARY(sign, LT_UN_SIGN)
UNARY(reciprocal, LT_UN_RECIPROCAL)
UNARY(square, LT_UN_SQUARE)
#undef UNARY

static int f_logical_not(lua_State *L) { return unary(L, LT_UN_LOGICAL_NOT, "logical_not", NULL); }
static int f_isnan(lua_State *L) { return unary(L, LT_UN_ISNAN, "isnan", NULL); }

/* clamp(min, max): either may be nil */
static void clamp_bounds(lua_State *L, const char *fname, double p[2]) {
  p[0] = p[1] = NAN;
  if (lua_type(L, 2) == LUA_TTABLE) { /* clamp{min=, max=} */
    lua_settop(L, 2);
    lua_getfield(L, 2, "max");
    lua_getfield(L, 2, "min");
    lua_replace(L, 2); /* t, min, max */
  }
  if (!lua_isnoneornil(L, 2)) {
    if (lua_type(L, 2) != LUA_TNUMBER) lt_lua_argerror(L, 2, fname, "expected a number or nil for min, got %s", luaL_typename(L, 2));
    p[0] = lua_tonumber(L, 2);
  }
  if (!lua_isnoneornil(L, 3)) {
    if (lua_type(L, 3) != LUA_TNUMBER) lt_lua_argerror(L, 3, fname, "expected a number or nil for max, got %s", luaL_typename(L, 3));
    p[1] = lua_tonumber(L, 3);
  }
  if (isnan(p[0]) && isnan(p[1])) lt_lua_argerror(L, 2, fname, "at least one of min and max must be given");
  /* min > max is allowed: every element becomes max, as in PyTorch */
}

static int f_clamp(lua_State *L) {
  double p[2];
  lt_lua_check_tensor(L, 1, "clamp");
  clamp_bounds(L, "clamp", p);
  lua_settop(L, 1);
  return unary(L, LT_UN_CLAMP, "clamp", p);
}

static int f_clamp_(lua_State *L) {
  double p[2];
  lt_lua_check_tensor(L, 1, "clamp_");
  clamp_bounds(L, "clamp_", p);
  lua_settop(L, 1);
  return unary_(L, LT_UN_CLAMP, "clamp_", p);
}

/* --- binary -------------------------------------------------------------------- */

static bool is_scalar(lua_State *L, int idx) {
  return lua_type(L, idx) == LUA_TNUMBER || lua_type(L, idx) == LUA_TBOOLEAN;
}
static double scalar_value(lua_State *L, int idx) {
  return lua_type(L, idx) == LUA_TBOOLEAN ? lua_toboolean(L, idx) : lua_tonumber(L, idx);
}
/* A Lua number's own dtype for type promotion (lt_result_type): a boolean
 * is bool, an integer int64, a float float64 (which promotion reads as the
 * default floating dtype, as PyTorch reads a Python float). */
static lt_dtype scalar_dtype(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TBOOLEAN) return LT_BOOL;
  return lua_isinteger(L, idx) ? LT_INT64 : LT_FLOAT64;
}

/* a op b where either may be a Lua number (operators and lt.add(2, t)). */
static int binary(lua_State *L, lt_binary_op op, const char *fname) {
  lt_tensor *a = lt_lua_to_tensor(L, 1), *b = lt_lua_to_tensor(L, 2);
  if (!a && !b) {
    if (!is_scalar(L, 1)) lt_lua_check_tensor(L, 1, fname);
    lt_lua_check_tensor(L, 2, fname);
  }
  if (!a && !is_scalar(L, 1)) lt_lua_check_tensor(L, 1, fname);
  if (!b && luaL_testudata(L, 2, LT_TENSOR_MT)) lt_lua_check_tensor(L, 2, fname); /* a closed tensor */
  if (!b && !is_scalar(L, 2))
    return lt_lua_argerror(L, 2, fname, "expected a tensor or a number, got %s", luaL_typename(L, 2));
  lt_tensor **box = lt_lua_newbox(L);
  lt_status st;
  if (a && b) st = lt_ag_binary(op, a, b, box);
  else if (a) st = lt_ag_binary_scalar(op, a, scalar_value(L, 2), scalar_dtype(L, 2), false, box);
  else st = lt_ag_binary_scalar(op, b, scalar_value(L, 1), scalar_dtype(L, 1), true, box);
  LT_LUA_CHECK(L, st, fname);
  return 1;
}

static int binary_(lua_State *L, lt_binary_op op, const char *fname) {
  lt_tensor *a = lt_lua_check_tensor(L, 1, fname), *b = lt_lua_to_tensor(L, 2);
  if (!b && luaL_testudata(L, 2, LT_TENSOR_MT)) lt_lua_check_tensor(L, 2, fname); /* a closed tensor */
  if (!b && !is_scalar(L, 2))
    return lt_lua_argerror(L, 2, fname, "expected a tensor or a number, got %s", luaL_typename(L, 2));
  LT_LUA_CHECK(L, b ? lt_ag_binary_(op, a, b) : lt_ag_binary_scalar_(op, a, scalar_value(L, 2), scalar_dtype(L, 2)),
               fname);
  lua_settop(L, 1);
  return 1;
}

/* The dtype of operand idx for lt_op_check_bool_operands (a tensor's, or a
 * Lua number's own); false when it is neither. */
static bool operand_dtype(lua_State *L, int idx, lt_dtype *dt) {
  lt_tensor *t = lt_lua_to_tensor(L, idx);
  if (t) *dt = t->dtype;
  else if (is_scalar(L, idx)) *dt = scalar_dtype(L, idx);
  return t || is_scalar(L, idx);
}

/* add/sub take an optional alpha: a + alpha*b (as PyTorch's add(b, alpha=)). */
static int add_sub(lua_State *L, lt_binary_op op, const char *fname, bool inplace) {
  if (!lua_isnoneornil(L, 3)) {
    if (lua_type(L, 3) != LUA_TNUMBER) return lt_lua_argerror(L, 3, fname, "expected a number alpha, got %s", luaL_typename(L, 3));
    /* the operands' dtype rules before alpha*b hides b's dtype */
    lt_dtype da, db;
    if (operand_dtype(L, 1, &da) && operand_dtype(L, 2, &db)) LT_LUA_CHECK(L, lt_op_check_bool_operands(op, da, db), fname);
    lt_tensor *b = lt_lua_to_tensor(L, 2);
    if (b) {
      lt_tensor **scaled = lt_lua_newbox(L);
      LT_LUA_CHECK(L, lt_ag_binary_scalar(LT_BIN_MUL, b, lua_tonumber(L, 3), scalar_dtype(L, 3), false, scaled), fname);
      lua_replace(L, 2);
    } else if (is_scalar(L, 2)) {
      /* an integer times an integer alpha stays an integer */
      if (scalar_dtype(L, 2) != LT_FLOAT64 && lua_isinteger(L, 3))
        lua_pushinteger(L, (lua_Integer)scalar_value(L, 2) * lua_tointeger(L, 3));
      else
        lua_pushnumber(L, scalar_value(L, 2) * lua_tonumber(L, 3));
      lua_replace(L, 2);
    }
    lua_settop(L, 2);
  }
  return inplace ? binary_(L, op, fname) : binary(L, op, fname);
}

static int f_add(lua_State *L) { return add_sub(L, LT_BIN_ADD, "add", false); }
static int f_sub(lua_State *L) { return add_sub(L, LT_BIN_SUB, "sub", false); }
static int f_add_(lua_State *L) { return add_sub(L, LT_BIN_ADD, "add_", true); }
static int f_sub_(lua_State *L) { return add_sub(L, LT_BIN_SUB, "sub_", true); }

#define BINARY(name, OP)                                                     \
  static int f_##name(lua_State *L) { return binary(L, OP, #name); }         \
  static int f_##name##_(lua_State *L) { return binary_(L, OP, #name "_"); }
BINARY(mul, LT_BIN_MUL)
BINARY(div, LT_BIN_DIV)
BINARY(pow, LT_BIN_POW)
BINARY(maximum, LT_BIN_MAXIMUM)
BINARY(minimum, LT_BIN_MINIMUM)
BINARY(fmod, LT_BIN_FMOD)
BINARY(remainder, LT_BIN_REMAINDER)
BINARY(atan2, LT_BIN_ATAN2)
#undef BINARY

#define COMPARE(name, OP) static int f_##name(lua_State *L) { return binary(L, OP, #name); }
COMPARE(eq, LT_BIN_EQ)
COMPARE(ne, LT_BIN_NE)
COMPARE(lt, LT_BIN_LT)
COMPARE(le, LT_BIN_LE)
COMPARE(gt, LT_BIN_GT)
COMPARE(ge, LT_BIN_GE)
COMPARE(logical_and, LT_BIN_AND)
COMPARE(logical_or, LT_BIN_OR)
COMPARE(logical_xor, LT_BIN_XOR)
#undef COMPARE

/* Operators: Lua calls __add(a, b) with the operands in source order. */
static int m_unm(lua_State *L) { lua_settop(L, 1); return unary(L, LT_UN_NEG, "unm", NULL); }

static int f_fill_(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "fill_");
  if (!is_scalar(L, 2)) return lt_lua_argerror(L, 2, "fill_", "expected a number, got %s", luaL_typename(L, 2));
  LT_LUA_CHECK(L, lt_ag_fill_(t, scalar_value(L, 2)), "fill_");
  lua_settop(L, 1);
  return 1;
}

static int f_zero_(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "zero_");
  LT_LUA_CHECK(L, lt_ag_fill_(t, 0), "zero_");
  lua_settop(L, 1);
  return 1;
}

static int f_copy_(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "copy_"), *s = lt_lua_check_tensor(L, 2, "copy_");
  LT_LUA_CHECK(L, lt_ag_copy_(t, s), "copy_");
  lua_settop(L, 1);
  return 1;
}

/* where(cond, a, b) with its operands at stack slots cond_i, a_i, b_i: a and
 * b tensors or numbers. A number becomes a 0-d tensor of the result dtype of
 * both (which then promotes as itself). Errors name the Lua argument slots. */
static int where_at(lua_State *L, int cond_i, int a_i, int b_i, const char *fname) {
  lt_tensor *c = lt_lua_check_tensor(L, cond_i, fname);
  const int slot[2] = {a_i, b_i};
  lt_operand ops[2];
  for (int k = 0; k < 2; k++) {
    int i = slot[k];
    lt_tensor *t = lt_lua_to_tensor(L, i);
    if (!t && !is_scalar(L, i)) return lt_lua_argerror(L, i, fname, "expected a tensor or a number, got %s", luaL_typename(L, i));
    ops[k] = t ? lt_operand_tensor(t->dtype, t->ndim) : lt_operand_number(scalar_dtype(L, i));
  }
  lt_dtype dt = lt_result_type(2, ops);
  for (int k = 0; k < 2; k++) {
    int i = slot[k];
    if (lt_lua_to_tensor(L, i)) continue;
    lt_tensor **box = lt_lua_newbox(L);
    LT_LUA_CHECK(L, lt_op_scalar_tensor(scalar_value(L, i), dt, lt_tensor_device(c), box), fname);
    lua_replace(L, i);
  }
  lt_tensor **box = lt_lua_newbox(L);
  if (lt_ag_where(c, lt_lua_to_tensor(L, a_i), lt_lua_to_tensor(L, b_i), box) != LT_OK) {
    /* lt_op_where numbers cond 1, a 2, b 3 */
    int arg = lt_error_arg();
    const int to_slot[4] = {0, cond_i, a_i, b_i};
    return lt_lua_raise_at(L, fname, arg >= 1 && arg <= 3 ? to_slot[arg] : arg);
  }
  return 1;
}

/* lt.where(cond, a, b) */
static int f_where(lua_State *L) {
  lua_settop(L, 3);
  return where_at(L, 1, 2, 3, "where");
}

/* x:where(cond, other): PyTorch's Tensor.where, torch.where(cond, x, other) */
static int m_where(lua_State *L) {
  lt_lua_check_tensor(L, 1, "where");
  lua_settop(L, 3);
  return where_at(L, 2, 1, 3, "where");
}

static int f_masked_fill(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "masked_fill"), *m = lt_lua_check_tensor(L, 2, "masked_fill");
  if (!is_scalar(L, 3)) return lt_lua_argerror(L, 3, "masked_fill", "expected a number, got %s", luaL_typename(L, 3));
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_masked_fill(t, m, scalar_value(L, 3), box), "masked_fill");
  return 1;
}

static int f_masked_fill_(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "masked_fill_"), *m = lt_lua_check_tensor(L, 2, "masked_fill_");
  if (!is_scalar(L, 3)) return lt_lua_argerror(L, 3, "masked_fill_", "expected a number, got %s", luaL_typename(L, 3));
  LT_LUA_CHECK(L, lt_ag_masked_fill_(t, m, scalar_value(L, 3)), "masked_fill_");
  lua_settop(L, 1);
  return 1;
}

/* --- reductions ------------------------------------------------------------------ */

typedef struct {
  int ndims;
  int dims[LT_MAX_DIMS];
  bool keepdim;
  double correction;
} reduce_args;

/* Whether the value at idx is a dim or a non-empty table of dims (an empty
 * table is an options table). */
static bool is_dims(lua_State *L, int idx) {
  return lua_type(L, idx) == LUA_TNUMBER || (lua_type(L, idx) == LUA_TTABLE && luaL_len(L, idx) > 0);
}

/* The dim or table of dims at stack slot `slot` into r; errors name
 * argument `arg`. */
static void read_dims(lua_State *L, int slot, int arg, lt_tensor *t, const char *fname, reduce_args *r) {
  r->ndims = 0;
  if (lua_type(L, slot) == LUA_TNUMBER) {
    r->dims[r->ndims++] = lt_lua_check_dim_at(L, slot, arg, t->ndim, fname);
    return;
  }
  if (lua_type(L, slot) != LUA_TTABLE)
    lt_lua_argerror(L, arg, fname, "dim must be a dimension or a table of dimensions, got %s", luaL_typename(L, slot));
  lua_Integer n = luaL_len(L, slot);
  if (n > LT_MAX_DIMS) lt_lua_argerror(L, arg, fname, "too many dims");
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, slot, i);
    r->dims[r->ndims++] = lt_lua_check_dim_at(L, lua_gettop(L), arg, t->ndim, fname);
    lua_pop(L, 1);
  }
}

/* Reads the options table at `opt`: dim= (a dim or a table of dims),
 * keepdim=, and with `var` unbiased= or correction= (not both). `pos_dim` and
 * `pos_unbiased` say whether those came positionally already. */
static void read_reduce_opts(lua_State *L, int opt, lt_tensor *t, const char *fname, bool var, bool pos_dim,
                             bool pos_unbiased, reduce_args *r) {
  static const char *const plain[] = {"dim", "keepdim", NULL};
  static const char *const with_var[] = {"dim", "unbiased", "correction", "keepdim", NULL};
  lt_lua_check_opts(L, opt, fname, var ? with_var : plain);
  if (lua_getfield(L, opt, "dim") != LUA_TNIL) {
    if (pos_dim) lt_lua_argerror(L, opt, fname, "dim is given twice (as an argument and as an option)");
    read_dims(L, lua_gettop(L), opt, t, fname, r);
  }
  if (lua_getfield(L, opt, "keepdim") != LUA_TNIL) r->keepdim = lua_toboolean(L, -1);
  lua_pop(L, 2);
  if (!var) return;
  int has_u = lua_getfield(L, opt, "unbiased") != LUA_TNIL, has_c = lua_getfield(L, opt, "correction") != LUA_TNIL;
  if ((has_u || pos_unbiased) && has_c)
    lt_lua_argerror(L, opt, fname, "give unbiased or correction, not both");
  if (has_u && pos_unbiased) lt_lua_argerror(L, opt, fname, "unbiased is given twice (as an argument and as an option)");
  if (has_u) r->correction = lua_toboolean(L, -2) ? 1 : 0;
  if (has_c) {
    if (lua_type(L, -1) != LUA_TNUMBER)
      lt_lua_argerror(L, opt, fname, "correction must be a number, got %s", luaL_typename(L, -1));
    r->correction = lua_tonumber(L, -1);
  }
  lua_pop(L, 2);
}

/* (dim | {dims} | nil, [keepdim | {dim=, keepdim=}]) from idx */
static void parse_reduce(lua_State *L, int idx, lt_tensor *t, const char *fname, reduce_args *r) {
  r->ndims = 0;
  r->keepdim = false;
  r->correction = 1;
  int opt = idx + 1;
  bool pos_dim = is_dims(L, idx);
  if (pos_dim) {
    read_dims(L, idx, idx, t, fname, r);
  } else if (lua_type(L, idx) == LUA_TTABLE || lua_type(L, idx) == LUA_TBOOLEAN) {
    opt = idx; /* options or keepdim without a dim */
  } else if (!lua_isnoneornil(L, idx)) {
    lt_lua_argerror(L, idx, fname, "expected a dimension, a table of dimensions or nil, got %s", luaL_typename(L, idx));
  }
  if (lua_type(L, opt) == LUA_TBOOLEAN) {
    r->keepdim = lua_toboolean(L, opt);
    opt++;
  }
  if (lua_type(L, opt) == LUA_TTABLE) read_reduce_opts(L, opt, t, fname, false, pos_dim, false, r);
  else if (!lua_isnoneornil(L, opt))
    lt_lua_argerror(L, opt, fname, "expected keepdim (a boolean) or an options table, got %s", luaL_typename(L, opt));
}

/* var, std, var_mean, std_mean: PyTorch's positional forms
 *   (unbiased)                                   x:var(false)
 *   (dim | {dims} | nil, [unbiased, [keepdim]])  x:var(2, false, true)
 * either followed by, or replaced by, an options table {dim=, unbiased=,
 * correction=, keepdim=}. unbiased (default true) is correction 1 or 0. */
static void parse_var(lua_State *L, int idx, lt_tensor *t, const char *fname, reduce_args *r) {
  r->ndims = 0;
  r->keepdim = false;
  r->correction = 1;
  int i = idx;
  bool pos_dim = false, pos_unbiased = false;
  if (lua_type(L, i) == LUA_TBOOLEAN) { /* var(unbiased) */
    r->correction = lua_toboolean(L, i++) ? 1 : 0;
    pos_unbiased = true;
  } else if (is_dims(L, i) || (lua_isnil(L, i) && lua_gettop(L) > i)) { /* var(dim, unbiased, keepdim) */
    pos_dim = !lua_isnil(L, i);
    if (pos_dim) read_dims(L, i, i, t, fname, r);
    i++;
    if (lua_type(L, i) == LUA_TBOOLEAN) {
      r->correction = lua_toboolean(L, i++) ? 1 : 0;
      pos_unbiased = true;
      if (lua_type(L, i) == LUA_TBOOLEAN) r->keepdim = lua_toboolean(L, i++);
    }
  }
  if (lua_type(L, i) == LUA_TTABLE) read_reduce_opts(L, i++, t, fname, true, pos_dim, pos_unbiased, r);
  for (int j = i; j <= lua_gettop(L); j++) { /* nothing but nils may follow */
    if (lua_isnil(L, j)) continue;
    if (j == idx)
      lt_lua_argerror(L, j, fname, "expected a dimension, a table of dimensions, unbiased (a boolean) or an options "
                      "table, got %s", luaL_typename(L, j));
    lt_lua_argerror(L, j, fname, "expected %s, got %s",
                    pos_dim && j == idx + 1 ? "unbiased (a boolean) or an options table" : "an options table",
                    luaL_typename(L, j));
  }
}

static int reduce(lua_State *L, lt_reduce_op op, const char *fname) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  reduce_args r;
  parse_reduce(L, 2, t, fname, &r);
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_reduce(op, t, r.ndims, r.dims, r.keepdim, r.correction, box, NULL), fname);
  return 1;
}

static int f_sum(lua_State *L) { return reduce(L, LT_RED_SUM, "sum"); }
static int f_mean(lua_State *L) { return reduce(L, LT_RED_MEAN, "mean"); }
static int f_prod(lua_State *L) { return reduce(L, LT_RED_PROD, "prod"); }
static int f_any(lua_State *L) { return reduce(L, LT_RED_ANY, "any"); }
static int f_all(lua_State *L) { return reduce(L, LT_RED_ALL, "all"); }

/* var/std (std: the square root) and, with `with_mean`, the mean over the
 * same dims as a second result (var_mean, std_mean). */
static int var_std(lua_State *L, bool std, bool with_mean, const char *fname) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  reduce_args r;
  parse_var(L, 2, t, fname, &r);
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, std ? lt_ag_std(t, r.ndims, r.dims, r.keepdim, r.correction, box)
                      : lt_ag_reduce(LT_RED_VAR, t, r.ndims, r.dims, r.keepdim, r.correction, box, NULL),
               fname);
  if (!with_mean) return 1;
  lt_tensor **mbox = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_reduce(LT_RED_MEAN, t, r.ndims, r.dims, r.keepdim, 0, mbox, NULL), fname);
  return 2;
}
static int f_var(lua_State *L) { return var_std(L, false, false, "var"); }
static int f_std(lua_State *L) { return var_std(L, true, false, "std"); }
static int f_var_mean(lua_State *L) { return var_std(L, false, true, "var_mean"); }
static int f_std_mean(lua_State *L) { return var_std(L, true, true, "std_mean"); }

/* logsumexp(dim | {dims}, keepdim=false), or with {dim=, keepdim=}: the dim
 * is required, as in PyTorch */
static int f_logsumexp(lua_State *L) {
  const char *fname = "logsumexp";
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  reduce_args r;
  parse_reduce(L, 2, t, fname, &r);
  if (r.ndims == 0) return lt_lua_argerror(L, 2, fname, "dim is required (a dimension or a table of dimensions)");
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_logsumexp(t, r.ndims, r.dims, r.keepdim, box), fname);
  return 1;
}

static int to_one_based(lua_State *L, lt_tensor *idx, const char *fname) {
  LT_LUA_CHECK(L, lt_op_binary_scalar_(LT_BIN_ADD, idx, 1, LT_INT64), fname);
  return 0;
}

/* max()/min(): no dim -> 0-d value; a dim -> values, indices (1-based).
 * max(other_tensor) is the elementwise maximum, as in PyTorch. */
static int max_min(lua_State *L, bool is_max) {
  const char *fname = is_max ? "max" : "min";
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  if (lt_lua_to_tensor(L, 2)) return binary(L, is_max ? LT_BIN_MAXIMUM : LT_BIN_MINIMUM, fname);
  reduce_args r;
  parse_reduce(L, 2, t, fname, &r);
  if (r.ndims > 1) return lt_lua_argerror(L, 2, fname, "expected one dimension");
  lt_reduce_op op = is_max ? LT_RED_MAX : LT_RED_MIN;
  lt_tensor **vbox = lt_lua_newbox(L);
  if (r.ndims == 0) {
    LT_LUA_CHECK(L, lt_ag_reduce(op, t, 0, NULL, r.keepdim, 0, vbox, NULL), fname);
    return 1;
  }
  lt_tensor **zbox = lt_lua_newbox(L);
  lt_tensor *vals = NULL, *idx = NULL;
  LT_LUA_CHECK(L, lt_ag_reduce(op, t, 1, r.dims, r.keepdim, 0, &vals, &idx), fname);
  *vbox = vals;
  *zbox = idx;
  /* 1-based indices as a new tensor: backward reads the 0-based ones */
  lt_tensor **ibox = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_op_binary_scalar(LT_BIN_ADD, idx, 1, LT_INT64, false, ibox), fname);
  lua_remove(L, -2);
  return 2;
}
static int f_max(lua_State *L) { return max_min(L, true); }
static int f_min(lua_State *L) { return max_min(L, false); }

static int arg_reduce(lua_State *L, lt_reduce_op op, const char *fname) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  reduce_args r;
  parse_reduce(L, 2, t, fname, &r);
  if (r.ndims > 1) return lt_lua_argerror(L, 2, fname, "expected one dimension");
  lt_tensor **box = lt_lua_newbox(L);
  if (r.ndims == 0) {
    /* over the flattened tensor, as PyTorch */
    lt_tensor **flat = lt_lua_newbox(L);
    int64_t m1 = -1;
    LT_LUA_CHECK(L, lt_op_reshape(t, 1, &m1, flat), fname);
    int d0 = 0;
    LT_LUA_CHECK(L, lt_op_reduce(op, *flat, 1, &d0, false, 0, box, NULL), fname);
    lua_pop(L, 1);
  } else {
    LT_LUA_CHECK(L, lt_op_reduce(op, t, 1, r.dims, r.keepdim, 0, box, NULL), fname);
  }
  to_one_based(L, *box, fname);
  return 1;
}
static int f_argmax(lua_State *L) { return arg_reduce(L, LT_RED_ARGMAX, "argmax"); }
static int f_argmin(lua_State *L) { return arg_reduce(L, LT_RED_ARGMIN, "argmin"); }

/* norm(p = 2, dim, keepdim); p a number (negative too: 0 counts non-zeros,
 * -math.huge is the smallest |x|), math.huge, or "fro" */
static int f_norm(lua_State *L) {
  const char *fname = "norm";
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  double p = 2;
  if (lua_type(L, 2) == LUA_TNUMBER) p = lua_tonumber(L, 2);
  else if (lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), "fro") == 0) p = 2;
  else if (!lua_isnoneornil(L, 2))
    return lt_lua_argerror(L, 2, fname, "expected a number p or 'fro', got %s", luaL_typename(L, 2));
  if (isnan(p)) return lt_lua_argerror(L, 2, fname, "p must be a number, got nan");
  reduce_args r;
  parse_reduce(L, 3, t, fname, &r);
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_reduce(LT_RED_NORM, t, r.ndims, r.dims, r.keepdim, p, box, NULL), fname);
  return 1;
}

/* --- matmul --------------------------------------------------------------------- */

static int f_matmul(lua_State *L) {
  lt_tensor *a = lt_lua_check_tensor(L, 1, "matmul"), *b = lt_lua_check_tensor(L, 2, "matmul");
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_matmul(a, b, box), "matmul");
  return 1;
}
static int f_mm(lua_State *L) {
  lt_tensor *a = lt_lua_check_tensor(L, 1, "mm"), *b = lt_lua_check_tensor(L, 2, "mm");
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_mm(a, b, box), "mm");
  return 1;
}
static int f_bmm(lua_State *L) {
  lt_tensor *a = lt_lua_check_tensor(L, 1, "bmm"), *b = lt_lua_check_tensor(L, 2, "bmm");
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_bmm(a, b, box), "bmm");
  return 1;
}

void lt_lua_open_math(lua_State *L, int methods) {
#define BOTH(name) {#name, f_##name}, {#name "_", f_##name##_}
  static const luaL_Reg fns[] = {
    BOTH(neg), BOTH(abs), BOTH(exp), BOTH(log), BOTH(sqrt), BOTH(rsqrt), BOTH(sin), BOTH(cos), BOTH(tanh),
    BOTH(sigmoid), BOTH(relu), BOTH(floor), BOTH(ceil), BOTH(round), BOTH(sign), BOTH(reciprocal), BOTH(square),
    BOTH(clamp), BOTH(add), BOTH(sub), BOTH(mul), BOTH(div), BOTH(pow), BOTH(maximum), BOTH(minimum), BOTH(fmod),
    BOTH(remainder), BOTH(atan2), BOTH(masked_fill),
    {"logical_not", f_logical_not}, {"isnan", f_isnan}, {"eq", f_eq}, {"ne", f_ne}, {"lt", f_lt}, {"le", f_le},
    {"gt", f_gt}, {"ge", f_ge}, {"logical_and", f_logical_and}, {"logical_or", f_logical_or},
    {"logical_xor", f_logical_xor}, {"fill_", f_fill_}, {"zero_", f_zero_}, {"copy_", f_copy_},
    {"sum", f_sum}, {"mean", f_mean}, {"prod", f_prod}, {"any", f_any}, {"all", f_all},
    {"var", f_var}, {"std", f_std}, {"logsumexp", f_logsumexp}, {"max", f_max}, {"min", f_min}, {"argmax", f_argmax}, {"argmin", f_argmin},
    {"norm", f_norm}, {"matmul", f_matmul}, {"mm", f_mm}, {"bmm", f_bmm}, {NULL, NULL}};
#undef BOTH
  /* the same functions as methods and as lt.<name> */
  luaL_setfuncs(L, fns, 0);
  lua_pushvalue(L, methods);
  luaL_setfuncs(L, fns, 0);
  lua_pop(L, 1);
  lua_pushcfunction(L, f_clamp);
  lua_setfield(L, -2, "clip");
  /* where: lt.where(cond, a, b), but x:where(cond, other) as PyTorch's method */
  lua_pushcfunction(L, f_where);
  lua_setfield(L, -2, "where");
  lua_pushcfunction(L, m_where);
  lua_setfield(L, methods, "where");
  /* torch.var_mean and torch.std_mean are functions only, not methods */
  lua_pushcfunction(L, f_var_mean);
  lua_setfield(L, -2, "var_mean");
  lua_pushcfunction(L, f_std_mean);
  lua_setfield(L, -2, "std_mean");
  luaL_getmetatable(L, LT_TENSOR_MT);
  static const luaL_Reg ops[] = {{"__add", f_add}, {"__sub", f_sub}, {"__mul", f_mul}, {"__div", f_div},
                                 {"__pow", f_pow}, {"__unm", m_unm}, {"__mod", f_remainder}, {NULL, NULL}};
  luaL_setfuncs(L, ops, 0);
  lua_pop(L, 1);
}
