/* lt_lua_tensor.c — the Tensor userdata: its metatable (__index looks up
 * properties, then methods; t[i] and t[i] = v on the first dimension;
 * __newindex, __len, __gc, __close), the queries of its geometry and type
 * (shape, size, stride, dim, numel, dtype, device, is_floating_point,
 * element_size, storage_offset), lt.is_tensor, lt.shares_storage, and the
 * dtype names as constants (lt.float32 == "float32").
 *
 * The rest of the Tensor API is registered beside it (lt_lua.c calls each
 * opener): construction (lt_lua_create.c), views and memory formats
 * (lt_lua_views.c), conversions to dtypes, devices and Lua values
 * (lt_lua_convert.c), arithmetic (lt_lua_math.c), indexing with tensors and
 * slices (lt_lua_index.c), the process-wide settings (lt_lua_runtime.c).
 * Printing lives in lua/luatrain/tensor_format.lua. */
#include "lt_ag_ops.h"
#include "lt_lua.h"
#include "lt_lua_views.h"

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

/* --- indexing: t[i], t[i] = v ------------------------------------------------------- */

static int tensor_index(lua_State *L) {
  if (lua_type(L, 2) == LUA_TNUMBER) {
    lt_tensor *t = lt_lua_check_tensor(L, 1, "index");
    if (t->ndim == 0) return lt_lua_argerror(L, 2, "index", "cannot index a 0-d tensor");
    int64_t i = lt_lua_check_index(L, 2, t->shape[0], 0, "index");
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
    int64_t i = lt_lua_check_index(L, 2, t->shape[0], 0, "index assignment");
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

void lt_lua_open_tensor(lua_State *L, int methods) {
  static const luaL_Reg module_fns[] = {{"is_tensor", l_is_tensor}, {"shares_storage", l_shares_storage}, {NULL, NULL}};
  static const luaL_Reg method_fns[] = {
    {"shape", l_shape}, {"size", l_size}, {"stride", l_stride}, {"dim", l_dim}, {"numel", l_numel},
    {"dtype", l_dtype}, {"device", l_device}, {"is_floating_point", l_is_floating_point},
    {"element_size", l_element_size}, {"storage_offset", l_storage_offset}, {NULL, NULL}};
  luaL_setfuncs(L, module_fns, 0);
  lua_pushvalue(L, methods);
  luaL_setfuncs(L, method_fns, 0);
  lua_pop(L, 1);
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
