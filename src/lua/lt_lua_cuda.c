/* lt_lua_cuda.c — Lua glue for the CUDA backend: lt.cuda (availability,
 * devices, synchronisation, memory statistics) and lt.backends.allow_tf32.
 *
 * Compiled in every build. With CUDA (LT_WITH_CUDA) it calls cuda/lt_cuda.h
 * and registers the backend; without, lt.cuda.is_available() is false, the
 * memory statistics are 0, and what needs a GPU raises "luatrain was built
 * without CUDA". Device arguments are optional: nil (cuda:0), an index as in
 * "cuda:N" (0-based, like the device names), or a device name. Not here:
 * moving tensors (t:cuda(), t:to("cuda") in lt_lua_tensor.c). */
#include "lt_lua.h"

#ifdef LT_WITH_CUDA
#include "lt_cuda.h"
#endif

/* The device index an optional argument names. */
static int check_device(lua_State *L, int idx, const char *fname) {
  if (lua_isnoneornil(L, idx)) return 0;
  if (lua_type(L, idx) == LUA_TSTRING) {
    lt_device d;
    if (lt_device_parse(lua_tostring(L, idx), &d) != LT_OK) return lt_lua_argerror(L, idx, fname, "%s", lt_error_message());
    if (d.type != LT_CUDA) return lt_lua_argerror(L, idx, fname, "expected a CUDA device, got '%s'", lua_tostring(L, idx));
    return d.index;
  }
  int64_t i = lt_lua_check_integer(L, idx, fname, "device index");
  if (i < 0 || i > 1023) return lt_lua_argerror(L, idx, fname, "device index %lld is out of range", (long long)i);
  return (int)i;
}

#ifdef LT_WITH_CUDA

static int l_is_available(lua_State *L) {
  lua_pushboolean(L, lt_cuda_is_available());
  return 1;
}

static int l_device_count(lua_State *L) {
  lua_pushinteger(L, lt_cuda_device_count());
  return 1;
}

static int l_synchronize(lua_State *L) {
  int dev = lua_isnoneornil(L, 1) ? -1 : check_device(L, 1, "synchronize");
  if (dev < 0 && !lt_cuda_is_available()) {
    lt_error_set(LT_ERR_RUNTIME, 0, "no GPU is available (%s)", lt_cuda_unavailable_reason());
    return lt_lua_raise(L, "synchronize");
  }
  LT_LUA_CHECK(L, lt_cuda_synchronize(dev), "synchronize");
  return 0;
}

/* Pushes one field of the device's memory statistics; 0 without a GPU. */
static int push_stat(lua_State *L, const char *fname, int which) {
  int dev = check_device(L, 1, fname);
  if (!lt_cuda_is_available()) {
    lua_pushinteger(L, 0);
    return 1;
  }
  lt_cuda_memory_stats s;
  LT_LUA_CHECK(L, lt_cuda_memory_stats_get(dev, &s), fname);
  size_t v = which == 0 ? s.allocated : which == 1 ? s.peak : s.reserved;
  lua_pushinteger(L, (lua_Integer)v);
  return 1;
}

static int l_memory_allocated(lua_State *L) { return push_stat(L, "memory_allocated", 0); }
static int l_max_memory_allocated(lua_State *L) { return push_stat(L, "max_memory_allocated", 1); }
static int l_memory_reserved(lua_State *L) { return push_stat(L, "memory_reserved", 2); }

static int l_mem_get_info(lua_State *L) {
  int dev = check_device(L, 1, "mem_get_info");
  lt_cuda_memory_stats s;
  LT_LUA_CHECK(L, lt_cuda_memory_stats_get(dev, &s), "mem_get_info");
  lua_pushinteger(L, (lua_Integer)s.free);
  lua_pushinteger(L, (lua_Integer)s.total);
  return 2;
}

static int l_reset_peak(lua_State *L) {
  int dev = check_device(L, 1, "reset_peak_memory_stats");
  if (lt_cuda_is_available()) LT_LUA_CHECK(L, lt_cuda_reset_peak_memory_stats(dev), "reset_peak_memory_stats");
  return 0;
}

static int l_empty_cache(lua_State *L) {
  int dev = check_device(L, 1, "empty_cache");
  if (lt_cuda_is_available()) LT_LUA_CHECK(L, lt_cuda_empty_cache(dev), "empty_cache");
  return 0;
}

static int l_get_device_name(lua_State *L) {
  int dev = check_device(L, 1, "get_device_name");
  char name[256];
  LT_LUA_CHECK(L, lt_cuda_device_name(dev, name, sizeof name), "get_device_name");
  lua_pushstring(L, name);
  return 1;
}

static int l_set_sync_debug(lua_State *L) {
  luaL_checktype(L, 1, LUA_TBOOLEAN);
  lt_cuda_set_sync_debug(lua_toboolean(L, 1));
  return 0;
}

static int l_allow_tf32(lua_State *L) {
  bool old = lt_cuda_allow_tf32();
  if (!lua_isnoneornil(L, 1)) {
    if (lua_type(L, 1) != LUA_TBOOLEAN)
      return lt_lua_argerror(L, 1, "allow_tf32", "expected a boolean, got %s", luaL_typename(L, 1));
    lt_cuda_set_allow_tf32(lua_toboolean(L, 1));
  }
  lua_pushboolean(L, old);
  return 1;
}

#else /* built without CUDA */

static int no_cuda(lua_State *L, const char *fname) {
  lt_error_set(LT_ERR_RUNTIME, 0, "luatrain was built without CUDA");
  return lt_lua_raise(L, fname);
}

static int l_is_available(lua_State *L) {
  lua_pushboolean(L, 0);
  return 1;
}
static int l_device_count(lua_State *L) {
  lua_pushinteger(L, 0);
  return 1;
}
static int l_synchronize(lua_State *L) {
  if (!lua_isnoneornil(L, 1)) check_device(L, 1, "synchronize");
  return no_cuda(L, "synchronize");
}
static int zero_stat(lua_State *L, const char *fname) {
  check_device(L, 1, fname);
  lua_pushinteger(L, 0);
  return 1;
}
static int l_memory_allocated(lua_State *L) { return zero_stat(L, "memory_allocated"); }
static int l_max_memory_allocated(lua_State *L) { return zero_stat(L, "max_memory_allocated"); }
static int l_memory_reserved(lua_State *L) { return zero_stat(L, "memory_reserved"); }
static int l_mem_get_info(lua_State *L) { return no_cuda(L, "mem_get_info"); }
static int l_reset_peak(lua_State *L) {
  check_device(L, 1, "reset_peak_memory_stats");
  return 0;
}
static int l_empty_cache(lua_State *L) {
  check_device(L, 1, "empty_cache");
  return 0;
}
static int l_get_device_name(lua_State *L) { return no_cuda(L, "get_device_name"); }
static int l_set_sync_debug(lua_State *L) {
  luaL_checktype(L, 1, LUA_TBOOLEAN);
  return 0;
}

/* Kept so scripts can set it unconditionally; it has nothing to switch. */
static bool tf32_flag = true;
static int l_allow_tf32(lua_State *L) {
  bool old = tf32_flag;
  if (!lua_isnoneornil(L, 1)) {
    if (lua_type(L, 1) != LUA_TBOOLEAN)
      return lt_lua_argerror(L, 1, "allow_tf32", "expected a boolean, got %s", luaL_typename(L, 1));
    tf32_flag = lua_toboolean(L, 1);
  }
  lua_pushboolean(L, old);
  return 1;
}

#endif

static const luaL_Reg cuda_funcs[] = {
  {"is_available", l_is_available},
  {"device_count", l_device_count},
  {"synchronize", l_synchronize},
  {"memory_allocated", l_memory_allocated},
  {"max_memory_allocated", l_max_memory_allocated},
  {"memory_reserved", l_memory_reserved},
  {"mem_get_info", l_mem_get_info},
  {"reset_peak_memory_stats", l_reset_peak},
  {"empty_cache", l_empty_cache},
  {"get_device_name", l_get_device_name},
  {"set_sync_debug", l_set_sync_debug},
  {NULL, NULL},
};

void lt_lua_open_cuda(lua_State *L, int methods) {
  (void)methods;
#ifdef LT_WITH_CUDA
  lt_cuda_register(); /* stores a pointer; touches no driver */
#endif
  luaL_newlib(L, cuda_funcs);
  lua_setfield(L, -2, "cuda");
  if (lua_getfield(L, -1, "backends") != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "backends");
  }
  lua_pushcfunction(L, l_allow_tf32);
  lua_setfield(L, -2, "allow_tf32");
  lua_pop(L, 1);
}
