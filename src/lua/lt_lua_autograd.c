/* lt_lua_autograd.c — Lua glue for autograd: the tensor properties grad,
 * requires_grad, grad_fn and is_leaf; backward, detach, requires_grad_;
 * grad mode (lt.no_grad, lt.enable_grad, lt.set_grad_enabled); bf16 mixed
 * precision (lt.autocast); lt.autograd.grad and lt.autograd.backward.
 * Not here: the native half of lt.autograd.Function, a node whose backward
 * calls a Lua function (lt_lua_autograd_function.c; what the engine runs
 * here and it share is lt_lua_autograd.h); the Lua half (Function, ctx,
 * gradcheck) is lua/luatrain/autograd.lua. */
#include <string.h>

#include "lt_ag_ops.h"
#include "lt_autocast.h"
#include "lt_lua.h"
#include "lt_lua_autograd.h"

/* --- properties ------------------------------------------------------------------------ */

static int get_grad(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "grad");
  if (!t->grad) { lua_pushnil(L); return 1; }
  lt_tensor_retain(t->grad);
  lt_lua_push_tensor(L, t->grad);
  return 1;
}

static int set_grad(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "grad");
  if (lua_isnil(L, 2)) {
    lt_tensor_release(t->grad);
    t->grad = NULL;
    return 0;
  }
  lt_tensor *g = lt_lua_to_tensor(L, 2);
  if (!g) return lt_lua_argerror(L, 2, "grad", "expected a tensor or nil, got %s", luaL_typename(L, 2));
  char b1[128], b2[128], d1[32], d2[32];
  if (!lt_shape_equal(g, t))
    return lt_lua_argerror(L, 2, "grad", "assigned grad has shape %s, expected the tensor's shape %s",
                           lt_shape_str(g->ndim, g->shape, b1, sizeof b1), lt_shape_str(t->ndim, t->shape, b2, sizeof b2));
  if (g->dtype != t->dtype)
    return lt_lua_argerror(L, 2, "grad", "assigned grad is %s, expected the tensor's dtype %s", lt_dtype_name(g->dtype),
                           lt_dtype_name(t->dtype));
  if (!lt_device_equal(lt_tensor_device(g), lt_tensor_device(t)))
    return lt_lua_argerror(L, 2, "grad", "assigned grad is on %s, expected the tensor's device %s",
                           lt_device_str(lt_tensor_device(g), d1, sizeof d1), lt_device_str(lt_tensor_device(t), d2, sizeof d2));
  if (g == t) return lt_lua_argerror(L, 2, "grad", "a tensor cannot be its own gradient");
  lt_tensor_retain(g);
  lt_tensor_release(t->grad);
  t->grad = g;
  return 0;
}

/* The tensor at 1, its history current (a view of a base modified in place
 * derives it from the base again: lt_ag_refresh_view). */
static lt_tensor *check_current(lua_State *L, const char *fname) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  LT_LUA_CHECK(L, lt_ag_refresh_view(t), fname);
  return t;
}

static int get_requires_grad(lua_State *L) {
  lua_pushboolean(L, check_current(L, "requires_grad")->requires_grad);
  return 1;
}

static void set_requires_grad_checked(lua_State *L, lt_tensor *t, bool on, int arg, const char *fname) {
  LT_LUA_CHECK(L, lt_ag_refresh_view(t), fname);
  if (t->grad_fn && !on)
    lt_lua_argerror(L, arg, fname,
                    "requires_grad can only be changed on leaf tensors (this one was made by %s); use t:detach()",
                    t->grad_fn->name);
  if (on && !lt_dtype_is_floating(t->dtype))
    lt_lua_argerror(L, arg, fname, "only floating-point tensors can require gradients, got %s", lt_dtype_name(t->dtype));
  if (!t->grad_fn) t->requires_grad = on;
}

static int set_requires_grad(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "requires_grad");
  if (lua_type(L, 2) != LUA_TBOOLEAN)
    return lt_lua_argerror(L, 2, "requires_grad", "expected a boolean, got %s", luaL_typename(L, 2));
  set_requires_grad_checked(L, t, lua_toboolean(L, 2), 2, "requires_grad");
  return 0;
}

static int get_grad_fn(lua_State *L) {
  lt_tensor *t = check_current(L, "grad_fn");
  if (t->grad_fn) lua_pushstring(L, t->grad_fn->name);
  else lua_pushnil(L);
  return 1;
}

static int get_is_leaf(lua_State *L) {
  lua_pushboolean(L, check_current(L, "is_leaf")->grad_fn == NULL);
  return 1;
}

/* --- methods --------------------------------------------------------------------------- */

static int m_requires_grad_(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "requires_grad_");
  bool on = true;
  if (!lua_isnoneornil(L, 2)) {
    if (lua_type(L, 2) != LUA_TBOOLEAN)
      return lt_lua_argerror(L, 2, "requires_grad_", "expected a boolean, got %s", luaL_typename(L, 2));
    on = lua_toboolean(L, 2);
  }
  set_requires_grad_checked(L, t, on, on ? 1 : 2, "requires_grad_");
  lua_settop(L, 1);
  return 1;
}

static int m_detach(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "detach");
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_detach(t, box), "detach");
  return 1;
}

static int m_detach_(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "detach_");
  if (t->view_base) /* as PyTorch: any view, made with grad mode on or off */
    return lt_lua_argerror(L, 1, "detach_", "a view cannot be detached in place (its history is its base's); use "
                                            "detach() instead");
  lt_ag_detach_(t);
  lua_settop(L, 1);
  return 1;
}

static bool opt_retain_graph(lua_State *L, int idx, const char *fname, bool *allow_unused) {
  static const char *const allowed[] = {"retain_graph", "create_graph", "allow_unused", NULL};
  static const char *const allowed_b[] = {"retain_graph", "create_graph", NULL};
  bool retain = false;
  if (lua_isnoneornil(L, idx)) return false;
  lt_lua_check_opts(L, idx, fname, allow_unused ? allowed : allowed_b);
  if (lua_getfield(L, idx, "retain_graph") != LUA_TNIL) retain = lua_toboolean(L, -1);
  if (lua_getfield(L, idx, "create_graph") != LUA_TNIL && lua_toboolean(L, -1))
    lt_lua_argerror(L, idx, fname, "create_graph=true (double backward) is not supported");
  if (allow_unused && lua_getfield(L, idx, "allow_unused") != LUA_TNIL) *allow_unused = lua_toboolean(L, -1);
  lua_settop(L, idx);
  return retain;
}

/* Runs the engine, then what the run's hooks left to do (lt_lua_grad_hooks.c):
 * raising a hook's error, or the queued callbacks. Raises on failure. */
static void run_engine_backward(lua_State *L, int n, lt_tensor *const *roots, lt_tensor *const *grads, bool retain,
                                const char *fname) {
  int mark = lt_lua_engine_queue_mark(L);
  lua_State *prev = lt_lua_engine_enter(L);
  lt_status st = lt_ag_backward_many(n, roots, grads, retain);
  lt_lua_engine_leave(prev);
  if (st != LT_OK) {
    lt_lua_engine_discard(L, mark);
    lt_lua_raise_engine_error(L, fname);
  }
  lt_lua_engine_finish(L, mark, fname);
}

/* t:backward([grad], [{retain_graph=}]) */
static int m_backward(lua_State *L) {
  const char *fname = "backward";
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  lt_tensor *g = NULL;
  int opts = 3;
  if (lua_type(L, 2) == LUA_TTABLE && !lt_lua_to_tensor(L, 2)) opts = 2;
  else if (!lua_isnoneornil(L, 2)) g = lt_lua_check_tensor(L, 2, fname);
  bool retain = opt_retain_graph(L, opts, fname, NULL);
  LT_LUA_CHECK(L, lt_ag_refresh_view(t), fname);
  if (!t->requires_grad)
    return lt_lua_argerror(L, 1, fname, "the tensor does not require grad and has no grad_fn");
  if (!g && lt_tensor_numel(t) != 1) {
    char b[128];
    return lt_lua_argerror(L, 2, fname,
                           "a gradient is needed for a tensor of shape %s (only a one-element tensor gets 1 implicitly)",
                           lt_shape_str(t->ndim, t->shape, b, sizeof b));
  }
  lt_tensor *roots[1] = {t}, *grads[1] = {g};
  run_engine_backward(L, 1, roots, grads, retain, fname);
  return 0;
}

/* --- grad mode ------------------------------------------------------------------------ */

/* Calls fn(...) at stack index 1 with grad mode `on`, restoring the mode even
 * when fn raises; returns fn's results. */
static int with_grad_mode(lua_State *L, bool on, const char *fname) {
  if (lua_type(L, 1) != LUA_TFUNCTION)
    return lt_lua_argerror(L, 1, fname, "expected a function, got %s", luaL_typename(L, 1));
  bool prev = lt_ag_set_grad_enabled(on);
  int status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
  lt_ag_set_grad_enabled(prev);
  if (status != LUA_OK) return lua_error(L);
  return lua_gettop(L);
}

static int l_no_grad(lua_State *L) { return with_grad_mode(L, false, "no_grad"); }
static int l_enable_grad(lua_State *L) { return with_grad_mode(L, true, "enable_grad"); }

/* lt.autocast(dtype, fn, ...): fn(...) with bf16 mixed precision on (see
 * lt_autocast.h), restored even when fn raises; returns fn's results.
 * lt.autocast(false, fn, ...) runs fn with it off (a region that must stay
 * float32 inside an autocast one, as torch.autocast(enabled=False)). */
static int l_autocast(lua_State *L) {
  const char *fname = "autocast";
  lt_dtype dt = LT_FLOAT32;
  const char *name = lua_type(L, 1) == LUA_TSTRING ? lua_tostring(L, 1) : NULL;
  bool off = lua_type(L, 1) == LUA_TBOOLEAN && !lua_toboolean(L, 1);
  bool ok = off || (name && (strcmp(name, "bf16") == 0 || (lt_lua_parse_dtype(name, &dt) && dt == LT_BFLOAT16)));
  if (!ok)
    return lt_lua_argerror(L, 1, fname, "autocast supports bfloat16 only ('bf16' or 'bfloat16', or false to turn "
                           "it off), got %s", name ? name : luaL_typename(L, 1));
  /* a function or a callable (a module: lt.autocast("bf16", model, x)) */
  bool callable = lua_type(L, 2) == LUA_TFUNCTION;
  if (!callable && luaL_getmetafield(L, 2, "__call") != LUA_TNIL) {
    lua_pop(L, 1);
    callable = true;
  }
  if (!callable) return lt_lua_argerror(L, 2, fname, "expected a function, got %s", luaL_typename(L, 2));
  lua_remove(L, 1);
  bool prev = lt_autocast_set_enabled(!off);
  int status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
  lt_autocast_set_enabled(prev);
  if (status != LUA_OK) return lua_error(L);
  return lua_gettop(L);
}

static int l_is_autocast_enabled(lua_State *L) {
  lua_pushboolean(L, lt_autocast_enabled());
  return 1;
}

static int l_is_grad_enabled(lua_State *L) {
  lua_pushboolean(L, lt_ag_grad_enabled());
  return 1;
}

static int l_set_grad_enabled(lua_State *L) {
  if (lua_type(L, 1) != LUA_TBOOLEAN)
    return lt_lua_argerror(L, 1, "set_grad_enabled", "expected a boolean, got %s", luaL_typename(L, 1));
  lua_pushboolean(L, lt_ag_set_grad_enabled(lua_toboolean(L, 1)));
  return 1;
}

/* --- lt.autograd.grad / backward -------------------------------------------------------- */

/* A tensor or a list of tensors at idx, pushed as a list; returns its length.
 * `nil_ok`: list entries may be nil (grad_outputs). */
static int tensor_list(lua_State *L, int idx, const char *fname, const char *what, bool nil_ok, int n_expected) {
  if (lt_lua_to_tensor(L, idx)) {
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, idx);
    lua_rawseti(L, -2, 1);
    return 1;
  }
  if (lua_type(L, idx) != LUA_TTABLE)
    lt_lua_argerror(L, idx, fname, "expected a tensor or a list of tensors for %s, got %s", what, luaL_typename(L, idx));
  int n = n_expected >= 0 ? n_expected : (int)luaL_len(L, idx);
  if (n_expected >= 0 && (int)luaL_len(L, idx) > n_expected)
    lt_lua_argerror(L, idx, fname, "expected %d %s, got %d", n_expected, what, (int)luaL_len(L, idx));
  lua_createtable(L, n, 0);
  for (int i = 1; i <= n; i++) {
    lua_geti(L, idx, i);
    if (!lt_lua_to_tensor(L, -1) && !(nil_ok && lua_isnil(L, -1)))
      lt_lua_argerror(L, idx, fname, "%s[%d] is a %s, expected a tensor", what, i, luaL_typename(L, -1));
    lua_rawseti(L, -2, i);
  }
  return n;
}

/* Fills a C array from a list pushed by tensor_list at idx. The array lives in
 * a userdata pushed on the stack (freed by Lua). */
static lt_tensor **list_array(lua_State *L, int idx, int n) {
  lt_tensor **a = lua_newuserdatauv(L, sizeof(lt_tensor *) * (size_t)(n ? n : 1), 0);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, idx, i + 1);
    a[i] = lt_lua_to_tensor(L, -1);
    lua_pop(L, 1);
  }
  return a;
}

/* lt.autograd.grad(outputs, inputs, [grad_outputs], [{retain_graph=, allow_unused=}]) */
static int l_grad(lua_State *L) {
  const char *fname = "grad";
  lua_settop(L, 4);
  if (lua_type(L, 3) == LUA_TTABLE && lua_isnil(L, 4) && !lt_lua_to_tensor(L, 3) && luaL_len(L, 3) == 0) {
    /* grad(outputs, inputs, {opts}) */
    lua_pushnil(L);
    lua_insert(L, 3);
    lua_settop(L, 4);
  }
  bool allow_unused = false;
  bool retain = opt_retain_graph(L, 4, fname, &allow_unused);
  bool single_input = lt_lua_to_tensor(L, 2) != NULL;
  int n_out = tensor_list(L, 1, fname, "outputs", false, -1); /* 5 */
  int n_in = tensor_list(L, 2, fname, "inputs", false, -1);   /* 6 */
  if (lua_isnil(L, 3)) lua_newtable(L);
  else tensor_list(L, 3, fname, "grad_outputs", true, n_out);  /* 7 */
  lt_tensor **outs = list_array(L, 5, n_out);
  lt_tensor **ins = list_array(L, 6, n_in);
  lt_tensor **gouts = list_array(L, 7, n_out);
  lt_tensor **res = lua_newuserdatauv(L, sizeof(lt_tensor *) * (size_t)(n_in ? n_in : 1), 0);
  for (int i = 0; i < n_out; i++) LT_LUA_CHECK(L, lt_ag_refresh_view(outs[i]), fname);
  for (int j = 0; j < n_in; j++) LT_LUA_CHECK(L, lt_ag_refresh_view(ins[j]), fname);
  for (int i = 0; i < n_out; i++) {
    if (!outs[i]->requires_grad)
      return lt_lua_argerror(L, 1, fname, "output %d does not require grad and has no grad_fn", i + 1);
    if (!gouts[i] && lt_tensor_numel(outs[i]) != 1) {
      char b[128];
      return lt_lua_argerror(L, 3, fname, "a gradient is needed for output %d of shape %s", i + 1,
                             lt_shape_str(outs[i]->ndim, outs[i]->shape, b, sizeof b));
    }
  }
  for (int j = 0; j < n_in; j++)
    if (!ins[j]->requires_grad) return lt_lua_argerror(L, 2, fname, "input %d does not require grad", j + 1);
  /* results go into boxes made first, so nothing leaks on a Lua error */
  lua_createtable(L, n_in, 0);
  int rt = lua_gettop(L);
  for (int j = 0; j < n_in; j++) {
    lt_lua_newbox(L);
    lua_rawseti(L, rt, j + 1);
  }
  lua_State *prev = lt_lua_engine_enter(L);
  lt_status st = lt_ag_grad(n_out, outs, gouts, n_in, ins, retain, res);
  lt_lua_engine_leave(prev);
  if (st != LT_OK) return lt_lua_raise_engine_error(L, fname);
  int unused = 0;
  for (int j = 0; j < n_in; j++) {
    lua_rawgeti(L, rt, j + 1);
    lt_tensor **box = lua_touserdata(L, -1);
    lua_pop(L, 1);
    *box = res[j];
    if (!res[j]) {
      if (!unused) unused = j + 1;
      lua_pushnil(L);
      lua_rawseti(L, rt, j + 1);
    }
  }
  if (unused && !allow_unused)
    return lt_lua_argerror(L, 2, fname, "input %d was not used to compute the outputs (pass allow_unused=true to get nil)",
                           unused);
  if (single_input) lua_rawgeti(L, rt, 1);
  return 1;
}

/* lt.autograd.backward(tensors, [grad_tensors], [{retain_graph=}]) */
static int l_backward(lua_State *L) {
  const char *fname = "backward";
  lua_settop(L, 3);
  if (lua_type(L, 2) == LUA_TTABLE && lua_isnil(L, 3) && !lt_lua_to_tensor(L, 2) && luaL_len(L, 2) == 0) {
    lua_pushnil(L);
    lua_insert(L, 2);
    lua_settop(L, 3);
  }
  bool retain = opt_retain_graph(L, 3, fname, NULL);
  int n = tensor_list(L, 1, fname, "tensors", false, -1); /* 4 */
  if (lua_isnil(L, 2)) lua_newtable(L);
  else tensor_list(L, 2, fname, "grad_tensors", true, n); /* 5 */
  lt_tensor **roots = list_array(L, 4, n);
  lt_tensor **grads = list_array(L, 5, n);
  for (int i = 0; i < n; i++) {
    char b[128];
    LT_LUA_CHECK(L, lt_ag_refresh_view(roots[i]), fname);
    if (!roots[i]->requires_grad)
      return lt_lua_argerror(L, 1, fname, "tensor %d does not require grad and has no grad_fn", i + 1);
    if (!grads[i] && lt_tensor_numel(roots[i]) != 1)
      return lt_lua_argerror(L, 2, fname, "a gradient is needed for tensor %d of shape %s", i + 1,
                             lt_shape_str(roots[i]->ndim, roots[i]->shape, b, sizeof b));
  }
  run_engine_backward(L, n, roots, grads, retain, fname);
  return 0;
}

void lt_lua_open_autograd(lua_State *L, int methods) {
  static const luaL_Reg module_fns[] = {{"no_grad", l_no_grad},
                                        {"enable_grad", l_enable_grad},
                                        {"is_grad_enabled", l_is_grad_enabled},
                                        {"set_grad_enabled", l_set_grad_enabled},
                                        {"autocast", l_autocast},
                                        {"is_autocast_enabled", l_is_autocast_enabled},
                                        {NULL, NULL}};
  static const luaL_Reg autograd_fns[] = {{"grad", l_grad},
                                          {"backward", l_backward},
                                          {NULL, NULL}};
  static const luaL_Reg method_fns[] = {{"backward", m_backward},
                                        {"detach", m_detach},
                                        {"detach_", m_detach_},
                                        {"requires_grad_", m_requires_grad_},
                                        {NULL, NULL}};
  luaL_setfuncs(L, module_fns, 0);
  lua_newtable(L);
  luaL_setfuncs(L, autograd_fns, 0);
  lua_setfield(L, -2, "autograd");
  lua_pushvalue(L, methods);
  luaL_setfuncs(L, method_fns, 0);
  lua_pop(L, 1);
  luaL_getmetatable(L, LT_TENSOR_MT);
  lua_getfield(L, -1, "__getters");
  static const luaL_Reg getters[] = {{"grad", get_grad},
                                     {"requires_grad", get_requires_grad},
                                     {"grad_fn", get_grad_fn},
                                     {"is_leaf", get_is_leaf},
                                     {NULL, NULL}};
  luaL_setfuncs(L, getters, 0);
  lua_pop(L, 1);
  lua_getfield(L, -1, "__setters");
  static const luaL_Reg setters[] = {{"grad", set_grad}, {"requires_grad", set_requires_grad}, {NULL, NULL}};
  luaL_setfuncs(L, setters, 0);
  lua_pop(L, 2);
}
