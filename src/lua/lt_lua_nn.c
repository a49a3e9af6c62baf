/* lt_lua_nn.c — Lua glue for the nn functions: parses lt.nn.functional's
 * arguments (PyTorch's names; options as a table, or positionally where
 * PyTorch's signature has plain flags), converts Lua's 1-based dims and class
 * labels, and calls the differentiable ops of lt_ag_nn.h. The functions are
 * registered in the core module's `_nn` table; lua/luatrain/nn/functional.lua
 * exports them as lt.nn.functional. Also adds the tensor methods
 * softmax/log_softmax. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "lt_ag_nn.h"
#include "lt_ag_ops.h"
#include "lt_lua.h"

/* --- option helpers ------------------------------------------------------------------- */

/* The options table's index when argument `idx` is a plain table (not a
 * tensor) with only the allowed keys, else 0. */
static int opts_at(lua_State *L, int idx, const char *fname, const char *const *allowed) {
  if (lua_type(L, idx) != LUA_TTABLE) return 0;
  lt_lua_check_opts(L, idx, fname, allowed);
  return idx;
}

/* Pushes option `name`: from the table at `t` when t != 0, else the
 * positional argument `pos` (none when pos == 0). */
static void opt_push(lua_State *L, int t, const char *name, int pos) {
  if (t) lua_getfield(L, t, name);
  else if (pos) lua_pushvalue(L, pos);
  else lua_pushnil(L);
}

static bool opt_bool(lua_State *L, int t, const char *name, int pos, bool dflt, const char *fname) {
  opt_push(L, t, name, pos);
  int arg = t ? t : pos;
  bool v = dflt;
  if (lua_type(L, -1) == LUA_TBOOLEAN) v = lua_toboolean(L, -1);
  else if (!lua_isnil(L, -1))
    lt_lua_argerror(L, arg, fname, "%s must be a boolean, got %s", name, luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}

static double opt_number(lua_State *L, int t, const char *name, int pos, double dflt, const char *fname) {
  opt_push(L, t, name, pos);
  int arg = t ? t : pos;
  double v = dflt;
  if (lua_type(L, -1) == LUA_TNUMBER) v = lua_tonumber(L, -1);
  else if (!lua_isnil(L, -1)) lt_lua_argerror(L, arg, fname, "%s must be a number, got %s", name, luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}

static int64_t opt_int(lua_State *L, int t, const char *name, int pos, int64_t dflt, const char *fname) {
  opt_push(L, t, name, pos);
  int arg = t ? t : pos;
  int64_t v = dflt;
  if (lua_isinteger(L, -1)) v = lua_tointeger(L, -1);
  else if (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) == floor(lua_tonumber(L, -1)) &&
           fabs(lua_tonumber(L, -1)) < 9e18)
    v = (int64_t)lua_tonumber(L, -1);
  else if (!lua_isnil(L, -1))
    lt_lua_argerror(L, arg, fname, "%s must be an integer, got %s", name,
                    lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}

/* A tensor option (nil allowed); the tensor stays referenced by the caller's
 * table or argument, so the pointer outlives the pop. */
static lt_tensor *opt_tensor(lua_State *L, int t, const char *name, int pos, const char *fname) {
  opt_push(L, t, name, pos);
  lt_tensor *v = NULL;
  if (!lua_isnil(L, -1)) {
    v = lt_lua_to_tensor(L, -1);
    if (!v) lt_lua_argerror(L, t ? t : pos, fname, "%s must be a tensor, got %s", name, luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  return v;
}

/* An integer or a pair {h, w} at the top of the stack -> out; `what` names
 * it in errors against argument `arg`. */
static void to_pair(lua_State *L, int arg, const char *fname, const char *what, int64_t out[2]) {
  if (lua_type(L, -1) == LUA_TNUMBER) {
    double v = lua_tonumber(L, -1);
    if (v != floor(v) || fabs(v) > 1e15) lt_lua_argerror(L, arg, fname, "%s must be an integer, got %g", what, v);
    out[0] = out[1] = (int64_t)v;
    return;
  }
  if (lua_type(L, -1) == LUA_TTABLE && luaL_len(L, -1) == 2) {
    for (int i = 0; i < 2; i++) {
      lua_geti(L, -1, i + 1);
      double v = lua_tonumber(L, -1);
      if (lua_type(L, -1) != LUA_TNUMBER || v != floor(v) || fabs(v) > 1e15)
        lt_lua_argerror(L, arg, fname, "%s must be an integer or a pair {h, w} of integers", what);
      out[i] = (int64_t)v;
      lua_pop(L, 1);
    }
    return;
  }
  lt_lua_argerror(L, arg, fname, "%s must be an integer or a pair {h, w}, got %s", what,
                  lua_type(L, -1) == LUA_TTABLE ? "a table that is not a pair" : luaL_typename(L, -1));
}

/* A pair option from the table at t (default dflt when absent). */
static void opt_pair(lua_State *L, int t, const char *name, const int64_t dflt[2], const char *fname, int64_t out[2]) {
  opt_push(L, t, name, 0);
  if (lua_isnil(L, -1)) {
    out[0] = dflt[0];
    out[1] = dflt[1];
  } else {
    to_pair(L, t, fname, name, out);
  }
  lua_pop(L, 1);
}

static lt_reduction opt_reduction(lua_State *L, int t, int pos, const char *fname) {
  opt_push(L, t, "reduction", pos);
  lt_reduction r = LT_REDUCTION_MEAN;
  if (!lua_isnil(L, -1)) {
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (s && strcmp(s, "mean") == 0) r = LT_REDUCTION_MEAN;
    else if (s && strcmp(s, "sum") == 0) r = LT_REDUCTION_SUM;
    else if (s && strcmp(s, "none") == 0) r = LT_REDUCTION_NONE;
    else
      lt_lua_argerror(L, t ? t : pos, fname, "reduction must be 'mean', 'sum' or 'none', got %s%s%s", s ? "'" : "",
                      s ? s : luaL_typename(L, -1), s ? "'" : "");
  }
  lua_pop(L, 1);
  return r;
}

/* Pushes a tensor result box and returns its slot. */
#define RESULT(L) lt_lua_newbox(L)

/* --- convolution --------------------------------------------------------------------------- */

/* The geometry options of the table at t ({stride=, padding=, dilation=,
 * groups=}) into p; true for padding='same'. */
static bool conv_geometry(lua_State *L, int t, const char *fn, lt_conv2d_params *p) {
  static const int64_t one[2] = {1, 1}, zero[2] = {0, 0};
  opt_pair(L, t, "stride", one, fn, p->stride);
  opt_pair(L, t, "dilation", one, fn, p->dilation);
  p->groups = opt_int(L, t, "groups", 0, 1, fn);
  opt_push(L, t, "padding", 0);
  bool same = false;
  if (lua_type(L, -1) == LUA_TSTRING) {
    const char *s = lua_tostring(L, -1);
    p->padding[0] = p->padding[1] = 0;
    if (strcmp(s, "same") == 0) {
      if (p->stride[0] != 1 || p->stride[1] != 1)
        lt_lua_argerror(L, t, fn, "padding='same' is not supported for strided convolutions");
      same = true;
    } else if (strcmp(s, "valid") != 0) {
      lt_lua_argerror(L, t, fn, "padding must be an integer, a pair {h, w}, 'same' or 'valid', got '%s'", s);
    }
  } else if (lua_isnil(L, -1)) {
    memcpy(p->padding, zero, sizeof zero);
  } else {
    to_pair(L, t, fn, "padding", p->padding);
  }
  lua_pop(L, 1);
  return same;
}

static int f_conv2d(lua_State *L) {
  const char *fn = "conv2d";
  static const char *const keys[] = {"stride", "padding", "dilation", "groups", NULL};
  lt_tensor *x = lt_lua_check_tensor(L, 1, fn), *w = lt_lua_check_tensor(L, 2, fn), *b = NULL;
  if (!lua_isnoneornil(L, 3)) b = lt_lua_check_tensor(L, 3, fn);
  if (!lua_isnoneornil(L, 4) && lua_type(L, 4) != LUA_TTABLE)
    lt_lua_argerror(L, 4, fn, "expected an options table {stride=, padding=, dilation=, groups=}, got %s",
                    luaL_typename(L, 4));
  int t = opts_at(L, 4, fn, keys);
  lt_conv2d_params p;
  bool same = conv_geometry(L, t, fn, &p);
  lt_tensor **box = RESULT(L);
  LT_LUA_CHECK(L, same ? lt_ag_conv2d_same(x, w, b, &p, box) : lt_ag_conv2d(x, w, b, &p, box), fn);
  return 1;
}

/* conv2d_bn_eval(input, weight, bias, running_mean, running_var, {stride=,
 * padding=, dilation=, groups=, bn_weight=, bn_bias=, eps=, residual=,
 * relu=}): batch_norm(conv2d(...)) with the running statistics, plus
 * residual, then ReLU, in one pass over the output where the backend fuses
 * it (inference; with a gradient wanted, the separate ops). Errors are those
 * of the separate ops, blaming no argument by number. */
static int f_conv2d_bn_eval(lua_State *L) {
  const char *fn = "conv2d_bn_eval";
  static const char *const keys[] = {"stride", "padding", "dilation", "groups", "bn_weight", "bn_bias", "eps",
                                     "residual", "relu", NULL};
  lt_tensor *x = lt_lua_check_tensor(L, 1, fn), *w = lt_lua_check_tensor(L, 2, fn), *b = NULL;
  if (!lua_isnoneornil(L, 3)) b = lt_lua_check_tensor(L, 3, fn);
  lt_conv_bn_eval bn = {lt_lua_check_tensor(L, 4, fn), lt_lua_check_tensor(L, 5, fn), NULL, NULL, 1e-5, NULL, false};
  if (!lua_isnoneornil(L, 6) && lua_type(L, 6) != LUA_TTABLE)
    lt_lua_argerror(L, 6, fn, "expected an options table {stride=, padding=, ..., residual=, relu=}, got %s",
                    luaL_typename(L, 6));
  int t = opts_at(L, 6, fn, keys);
  lt_conv2d_params p;
  bool same = conv_geometry(L, t, fn, &p);
  if (t) {
    bn.weight = opt_tensor(L, t, "bn_weight", 0, fn);
    bn.bias = opt_tensor(L, t, "bn_bias", 0, fn);
    bn.eps = opt_number(L, t, "eps", 0, 1e-5, fn);
    bn.residual = opt_tensor(L, t, "residual", 0, fn);
    bn.relu = opt_bool(L, t, "relu", 0, false, fn);
  }
  lt_tensor **box = RESULT(L);
  if (lt_ag_conv2d_bn_eval(x, w, b, &p, same, &bn, box) != LT_OK) lt_lua_raise_at(L, fn, 0);
  return 1;
}

/* --- batch norm ------------------------------------------------------------------------------ */

/* batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)
 * or batch_norm(input, running_mean, running_var, {weight=, bias=, training=, momentum=, eps=});
 * batch_norm_relu takes the same arguments (relu(batch_norm(...)) in one op) */
static int batch_norm(lua_State *L, bool relu) {
  const char *fn = relu ? "batch_norm_relu" : "batch_norm";
  static const char *const keys[] = {"weight", "bias", "training", "momentum", "eps", NULL};
  lt_tensor *x = lt_lua_check_tensor(L, 1, fn), *rm = NULL, *rv = NULL;
  if (!lua_isnoneornil(L, 2)) rm = lt_lua_check_tensor(L, 2, fn);
  if (!lua_isnoneornil(L, 3)) rv = lt_lua_check_tensor(L, 3, fn);
  int t = lt_lua_to_tensor(L, 4) ? 0 : opts_at(L, 4, fn, keys);
  lt_tensor *w = opt_tensor(L, t, "weight", 4, fn), *b = opt_tensor(L, t, "bias", 5, fn);
  bool training = opt_bool(L, t, "training", 6, false, fn);
  double momentum = opt_number(L, t, "momentum", 7, 0.1, fn);
  double eps = opt_number(L, t, "eps", 8, 1e-5, fn);
  lt_tensor **box = RESULT(L);
  lt_status st = (relu ? lt_ag_batch_norm_relu : lt_ag_batch_norm)(x, rm, rv, w, b, training, momentum, eps, box);
  /* options given as a table: blame the table */
  if (st != LT_OK) lt_lua_raise_at(L, fn, t && lt_error_arg() > 4 ? 4 : lt_error_arg());
  return 1;
}

static int f_batch_norm(lua_State *L) { return batch_norm(L, false); }
static int f_batch_norm_relu(lua_State *L) { return batch_norm(L, true); }

/* --- activations ------------------------------------------------------------------------------ */

static int activation(lua_State *L, lt_activation act, double param, bool inplace, const char *fn) {
  lt_tensor *x = lt_lua_check_tensor(L, 1, fn);
  if (inplace) {
    LT_LUA_CHECK(L, lt_ag_activation_(act, x, param, fn), fn);
    lua_pushvalue(L, 1);
    return 1;
  }
  lt_tensor **box = RESULT(L);
  LT_LUA_CHECK(L, lt_ag_activation(act, x, param, box), fn);
  return 1;
}

static const char *const inplace_keys[] = {"inplace", NULL};

/* relu(input, inplace) or relu(input, {inplace=}) */
static int f_relu(lua_State *L) {
  lt_lua_check_tensor(L, 1, "relu");
  int t = opts_at(L, 2, "relu", inplace_keys);
  return activation(L, LT_ACT_RELU, 0, opt_bool(L, t, "inplace", 2, false, "relu"), "relu");
}
static int f_relu_(lua_State *L) { return activation(L, LT_ACT_RELU, 0, true, "relu_"); }

/* leaky_relu(input, negative_slope=0.01, inplace=false) or leaky_relu(input, {negative_slope=, inplace=}) */
static int f_leaky_relu(lua_State *L) {
  const char *fn = "leaky_relu";
  static const char *const keys[] = {"negative_slope", "inplace", NULL};
  lt_lua_check_tensor(L, 1, fn);
  int t = opts_at(L, 2, fn, keys);
  double slope = opt_number(L, t, "negative_slope", 2, 0.01, fn);
  bool inplace = opt_bool(L, t, "inplace", 3, false, fn);
  if (inplace && slope < 0)
    lt_lua_argerror(L, t ? t : 2, fn, "in-place leaky_relu needs a non-negative slope, got %g (use inplace=false)", slope);
  return activation(L, LT_ACT_LEAKY_RELU, slope, inplace, fn);
}

static int f_leaky_relu_(lua_State *L) {
  double slope = opt_number(L, 0, "negative_slope", 2, 0.01, "leaky_relu_");
  if (slope < 0) lt_lua_argerror(L, 2, "leaky_relu_", "in-place leaky_relu needs a non-negative slope, got %g", slope);
  return activation(L, LT_ACT_LEAKY_RELU, slope, true, "leaky_relu_");
}

/* gelu(input, approximate='none') or gelu(input, {approximate=}) */
static int f_gelu(lua_State *L) {
  static const char *const keys[] = {"approximate", NULL};
  lt_lua_check_tensor(L, 1, "gelu");
  int t = opts_at(L, 2, "gelu", keys);
  opt_push(L, t, "approximate", 2);
  lt_activation act = LT_ACT_GELU;
  if (!lua_isnil(L, -1)) {
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (s && strcmp(s, "tanh") == 0) act = LT_ACT_GELU_TANH;
    else if (!s || strcmp(s, "none") != 0)
      lt_lua_argerror(L, t ? t : 2, "gelu", "approximate must be 'none' or 'tanh', got %s", s ? s : luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  return activation(L, act, 0, false, "gelu");
}

static int f_silu(lua_State *L) {
  lt_lua_check_tensor(L, 1, "silu");
  int t = opts_at(L, 2, "silu", inplace_keys);
  return activation(L, LT_ACT_SILU, 0, opt_bool(L, t, "inplace", 2, false, "silu"), "silu");
}

/* --- linear, dropout, flatten ------------------------------------------------------------------------ */

static int f_linear(lua_State *L) {
  lt_tensor *x = lt_lua_check_tensor(L, 1, "linear"), *w = lt_lua_check_tensor(L, 2, "linear"), *b = NULL;
  if (!lua_isnoneornil(L, 3)) b = lt_lua_check_tensor(L, 3, "linear");
  lt_tensor **box = RESULT(L);
  LT_LUA_CHECK(L, lt_ag_linear(x, w, b, box), "linear");
  return 1;
}

/* dropout(input, p=0.5, training=true, inplace=false) or dropout(input, {p=, training=, inplace=}) */
static int f_dropout(lua_State *L) {
  const char *fn = "dropout";
  static const char *const keys[] = {"p", "training", "inplace", NULL};
  lt_tensor *x = lt_lua_check_tensor(L, 1, fn);
  int t = opts_at(L, 2, fn, keys);
  double p = opt_number(L, t, "p", 2, 0.5, fn);
  bool training = opt_bool(L, t, "training", 3, true, fn);
  bool inplace = opt_bool(L, t, "inplace", 4, false, fn);
  if (!(p >= 0 && p <= 1)) lt_lua_argerror(L, t ? t : 2, fn, "dropout probability must be in [0, 1], got %g", p);
  if (inplace) {
    LT_LUA_CHECK(L, lt_ag_dropout_(x, p, training), fn);
    lua_pushvalue(L, 1);
    return 1;
  }
  lt_tensor **box = RESULT(L);
  LT_LUA_CHECK(L, lt_ag_dropout(x, p, training, box), fn);
  if (*box == x) lua_pushvalue(L, 1); /* the identity returns the input itself, as PyTorch */
  return 1;
}

/* flatten(input, start_dim=1, end_dim=-1): 1-based dims, so the default
 * start is PyTorch's 0 (torch.flatten's) and flattens every dim */
static int f_flatten(lua_State *L) {
  lt_tensor *x = lt_lua_check_tensor(L, 1, "flatten");
  int s = lua_isnoneornil(L, 2) ? 0 : lt_lua_check_dim(L, 2, x->ndim, "flatten");
  int e = lua_isnoneornil(L, 3) ? (x->ndim ? x->ndim - 1 : 0) : lt_lua_check_dim(L, 3, x->ndim, "flatten");
  lt_tensor **box = RESULT(L);
  LT_LUA_CHECK(L, lt_ag_flatten(x, s, e, box), "flatten");
  return 1;
}

/* --- pooling ----------------------------------------------------------------------------------------- */

static void kernel_arg(lua_State *L, const char *fn, int64_t k[2]) {
  if (lua_isnoneornil(L, 2)) lt_lua_argerror(L, 2, fn, "kernel_size is required");
  lua_pushvalue(L, 2);
  to_pair(L, 2, fn, "kernel_size", k);
  lua_pop(L, 1);
}

/* What max_pool2d and avg_pool2d share: the kernel size (argument 2) and an
 * options table (argument 3) with stride (default: the kernel) and padding.
 * Fills `p` with those and the defaults; returns the options' stack index. */
static int pool_args(lua_State *L, const char *fn, const char *const *keys, lt_pool2d_params *p) {
  static const lt_pool2d_params defaults = {{0, 0}, {0, 0}, {0, 0}, {1, 1}, false, true, 0};
  static const int64_t zero[2] = {0, 0};
  *p = defaults;
  kernel_arg(L, fn, p->kernel);
  if (!lua_isnoneornil(L, 3) && lua_type(L, 3) != LUA_TTABLE)
    lt_lua_argerror(L, 3, fn, "expected an options table, got %s", luaL_typename(L, 3));
  int t = opts_at(L, 3, fn, keys);
  opt_pair(L, t, "stride", p->kernel, fn, p->stride);
  opt_pair(L, t, "padding", zero, fn, p->padding);
  return t;
}

static int f_max_pool2d(lua_State *L) {
  const char *fn = "max_pool2d";
  static const char *const keys[] = {"stride", "padding", "dilation", "ceil_mode", "return_indices", NULL};
  lt_tensor *x = lt_lua_check_tensor(L, 1, fn);
  lt_pool2d_params p;
  int t = pool_args(L, fn, keys, &p);
  static const int64_t one[2] = {1, 1};
  opt_pair(L, t, "dilation", one, fn, p.dilation);
  p.ceil_mode = opt_bool(L, t, "ceil_mode", 0, false, fn);
  bool ret_idx = opt_bool(L, t, "return_indices", 0, false, fn);
  lt_tensor **box = RESULT(L);
  lt_tensor **ibox = RESULT(L); /* 0-based indices, then 1-based below */
  LT_LUA_CHECK(L, lt_ag_max_pool2d(x, &p, box, ret_idx ? ibox : NULL), fn);
  if (!ret_idx) {
    lua_pop(L, 1);
    return 1;
  }
  lt_tensor **obox = RESULT(L);
  LT_LUA_CHECK(L, lt_op_binary_scalar(LT_BIN_ADD, *ibox, 1, LT_INT64, false, obox), fn);
  lua_remove(L, -2);
  return 2;
}

static int f_avg_pool2d(lua_State *L) {
  const char *fn = "avg_pool2d";
  static const char *const keys[] = {"stride", "padding", "ceil_mode", "count_include_pad", "divisor_override", NULL};
  lt_tensor *x = lt_lua_check_tensor(L, 1, fn);
  lt_pool2d_params p;
  int t = pool_args(L, fn, keys, &p);
  p.ceil_mode = opt_bool(L, t, "ceil_mode", 0, false, fn);
  p.count_include_pad = opt_bool(L, t, "count_include_pad", 0, true, fn);
  p.divisor_override = opt_int(L, t, "divisor_override", 0, 0, fn);
  opt_push(L, t, "divisor_override", 0);
  bool given = !lua_isnil(L, -1);
  lua_pop(L, 1);
  if (given && p.divisor_override <= 0)
    lt_lua_argerror(L, 3, fn, "divisor_override must be positive, got %lld", (long long)p.divisor_override);
  lt_tensor **box = RESULT(L);
  LT_LUA_CHECK(L, lt_ag_avg_pool2d(x, &p, box), fn);
  return 1;
}

static int f_adaptive_avg_pool2d(lua_State *L) {
  const char *fn = "adaptive_avg_pool2d";
  lt_tensor *x = lt_lua_check_tensor(L, 1, fn);
  if (lua_isnoneornil(L, 2)) lt_lua_argerror(L, 2, fn, "output_size is required");
  int64_t o[2];
  lua_pushvalue(L, 2);
  to_pair(L, 2, fn, "output_size", o);
  lua_pop(L, 1);
  lt_tensor **box = RESULT(L);
  LT_LUA_CHECK(L, lt_ag_adaptive_avg_pool2d(x, o[0], o[1], box), fn);
  return 1;
}

/* --- softmax ---------------------------------------------------------------------------------------- */

static int softmax(lua_State *L, bool log, const char *fn) {
  lt_tensor *x = lt_lua_check_tensor(L, 1, fn);
  if (lua_isnoneornil(L, 2)) lt_lua_argerror(L, 2, fn, "dim is required (1-based; -1 for the last)");
  int dim = lt_lua_check_dim(L, 2, x->ndim, fn);
  lt_tensor **box = RESULT(L);
  LT_LUA_CHECK(L, lt_ag_softmax(x, dim, log, box), fn);
  return 1;
}
static int f_softmax(lua_State *L) { return softmax(L, false, "softmax"); }
static int f_log_softmax(lua_State *L) { return softmax(L, true, "log_softmax"); }

/* --- losses ------------------------------------------------------------------------------------------ */

/* Lua's 1-based labels as the 0-based ones the core takes (a new tensor left
 * on the stack); a non-int64 target is passed through for the op to reject. */
static lt_tensor *labels0(lua_State *L, lt_tensor *target, const char *fn) {
  if (target->dtype != LT_INT64) return target;
  lt_tensor **box = RESULT(L);
  LT_LUA_CHECK(L, lt_op_binary_scalar(LT_BIN_SUB, target, 1, LT_INT64, false, box), fn);
  return *box;
}

static int class_loss(lua_State *L, bool ce, const char *fn) {
  static const char *const ce_keys[] = {"weight", "ignore_index", "reduction", "label_smoothing", NULL};
  static const char *const nll_keys[] = {"weight", "ignore_index", "reduction", NULL};
  lt_tensor *x = lt_lua_check_tensor(L, 1, fn), *target = lt_lua_check_tensor(L, 2, fn);
  if (!lua_isnoneornil(L, 3) && lua_type(L, 3) != LUA_TTABLE)
    lt_lua_argerror(L, 3, fn, "expected an options table, got %s", luaL_typename(L, 3));
  int t = opts_at(L, 3, fn, ce ? ce_keys : nll_keys);
  lt_tensor *w = opt_tensor(L, t, "weight", 0, fn);
  int64_t ignore = opt_int(L, t, "ignore_index", 0, -100, fn);
  lt_reduction red = opt_reduction(L, t, 0, fn);
  double ls = ce ? opt_number(L, t, "label_smoothing", 0, 0.0, fn) : 0.0;
  if (!(ls >= 0 && ls <= 1)) lt_lua_argerror(L, 3, fn, "label_smoothing must be in [0, 1], got %g", ls);
  if (ce && lt_shape_equal(target, x)) {
    /* a target of the input's shape holds class probabilities (labels never
     * have that shape); PyTorch refuses an ignore_index that could be a class */
    if (ignore >= 1)
      lt_lua_argerror(L, 3, fn, "ignore_index is not supported for a target of class probabilities");
    lt_tensor **box = RESULT(L);
    LT_LUA_CHECK(L, lt_ag_cross_entropy_probs(x, target, w, red, ls, box), fn);
    return 1;
  }
  lt_tensor *t0 = labels0(L, target, fn);
  lt_tensor **box = RESULT(L);
  lt_status st = ce ? lt_ag_cross_entropy(x, t0, w, red, ls, ignore - 1, box)
                    : lt_ag_nll_loss(x, t0, w, red, 0.0, ignore - 1, box);
  LT_LUA_CHECK(L, st, fn);
  return 1;
}
static int f_cross_entropy(lua_State *L) { return class_loss(L, true, "cross_entropy"); }
static int f_nll_loss(lua_State *L) { return class_loss(L, false, "nll_loss"); }

/* PyTorch's warning when mse_loss/l1_loss broadcast a target of another
 * size, in its words, once per process and function (Python shows a
 * warning once per place). */
static void warn_target_size(const char *fn, const lt_tensor *x, const lt_tensor *y) {
  static atomic_bool warned[LT_PLOSS_COUNT];
  bool mse = strcmp(fn, "mse_loss") == 0;
  if (lt_shape_equal(x, y) || atomic_exchange(&warned[mse ? LT_PLOSS_MSE : LT_PLOSS_L1], true)) return;
  char b1[128], b2[128];
  fprintf(stderr,
          "%s: UserWarning: Using a target size (%s) that is different to the input size (%s). This will likely lead "
          "to incorrect results due to broadcasting. Please ensure they have the same size.\n",
          fn, lt_shape_str(y->ndim, y->shape, b1, sizeof b1), lt_shape_str(x->ndim, x->shape, b2, sizeof b2));
}

/* mse_loss / l1_loss (input, target, reduction) or (input, target, {reduction=});
 * binary_cross_entropy_with_logits(input, target, {weight=, reduction=, pos_weight=})
 * (or a reduction name alone) */
static int pointwise_loss(lua_State *L, lt_pointwise_loss kind, const char *fn) {
  static const char *const keys[] = {"reduction", NULL};
  static const char *const bce_keys[] = {"weight", "reduction", "pos_weight", NULL};
  lt_tensor *x = lt_lua_check_tensor(L, 1, fn), *y = lt_lua_check_tensor(L, 2, fn);
  bool bce = kind == LT_PLOSS_BCE_LOGITS;
  if (!lua_isnoneornil(L, 3) && lua_type(L, 3) != LUA_TTABLE && lua_type(L, 3) != LUA_TSTRING)
    lt_lua_argerror(L, 3, fn, "expected an options table or a reduction name, got %s", luaL_typename(L, 3));
  int t = opts_at(L, 3, fn, bce ? bce_keys : keys);
  lt_reduction red = opt_reduction(L, t, t ? 0 : 3, fn);
  lt_tensor *w = bce ? opt_tensor(L, t, "weight", 0, fn) : NULL;
  lt_tensor *pw = bce ? opt_tensor(L, t, "pos_weight", 0, fn) : NULL;
  if (!bce) warn_target_size(fn, x, y);
  lt_tensor **box = RESULT(L);
  LT_LUA_CHECK(L, lt_ag_pointwise_loss(kind, x, y, w, pw, red, box), fn);
  return 1;
}
static int f_mse_loss(lua_State *L) { return pointwise_loss(L, LT_PLOSS_MSE, "mse_loss"); }
static int f_l1_loss(lua_State *L) { return pointwise_loss(L, LT_PLOSS_L1, "l1_loss"); }
static int f_bce_logits(lua_State *L) {
  return pointwise_loss(L, LT_PLOSS_BCE_LOGITS, "binary_cross_entropy_with_logits");
}

void lt_lua_open_nn(lua_State *L, int methods) {
  static const luaL_Reg fns[] = {
    {"conv2d", f_conv2d},
    {"conv2d_bn_eval", f_conv2d_bn_eval},
    {"batch_norm", f_batch_norm},
    {"batch_norm_relu", f_batch_norm_relu},
    {"relu", f_relu},
    {"relu_", f_relu_},
    {"leaky_relu", f_leaky_relu},
    {"leaky_relu_", f_leaky_relu_},
    {"gelu", f_gelu},
    {"silu", f_silu},
    {"linear", f_linear},
    {"dropout", f_dropout},
    {"flatten", f_flatten},
    {"max_pool2d", f_max_pool2d},
    {"avg_pool2d", f_avg_pool2d},
    {"adaptive_avg_pool2d", f_adaptive_avg_pool2d},
    {"softmax", f_softmax},
    {"log_softmax", f_log_softmax},
    {"cross_entropy", f_cross_entropy},
    {"nll_loss", f_nll_loss},
    {"mse_loss", f_mse_loss},
    {"l1_loss", f_l1_loss},
    {"binary_cross_entropy_with_logits", f_bce_logits},
    {NULL, NULL},
  };
  lua_newtable(L);
  luaL_setfuncs(L, fns, 0);
  lua_setfield(L, -2, "_nn");
  static const luaL_Reg meths[] = {{"softmax", f_softmax}, {"log_softmax", f_log_softmax}, {NULL, NULL}};
  lua_pushvalue(L, methods);
  luaL_setfuncs(L, meths, 0);
  lua_pop(L, 1);
}
