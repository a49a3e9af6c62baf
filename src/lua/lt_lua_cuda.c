/* lt_lua_cuda.c — Lua glue for the CUDA backend: lt.cuda (availability,
 * devices, synchronisation, memory statistics, library versions) and
 * lt.backends.allow_tf32.
 *
 * Compiled in every build. With CUDA (LT_WITH_CUDA) it calls cuda/lt_cuda.h
 * and registers the backend; without, lt.cuda.is_available() is false, the
 * memory statistics are 0, and what needs a GPU raises "luatrain was built
 * without CUDA". Device arguments are optional: nil (cuda:0), an index as in
 * "cuda:N" (0-based, like the device names), or a device name. Also the C
 * half of CUDA graphs: lt.cuda.is_capturing() and the handles behind
 * lt.cuda.graph (lt.cuda._graph_begin(device) -> handle with end_capture,
 * abort, launch, release, info), whose logic (warm-up, hooks, replay) is
 * lua/luatrain/cuda_graph.lua. Not here: moving tensors (t:cuda(),
 * t:to("cuda") in lt_lua_convert.c). */
#include "lt_lua.h"

#ifdef LT_WITH_CUDA
#include "lt_cuda.h"
#endif

/* The device index an optional argument names. */
static int check_device(lua_State *L, int idx, const char *fname) {
  if (lua_isnoneornil(L, idx)) return 0;
  if (lua_type(L, idx) == LUA_TSTRING) {
    lt_device d;
    if (lt_device_parse(lua_tostring(L, idx), &d) != LT_OK) return lt_lua_raise_at(L, fname, idx);
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

/* --- CUDA graph handles: one lt_cuda_graph each (NULL once released) --- */
#define GRAPH_MT "luatrain.CudaGraphHandle"

typedef struct {
  lt_cuda_graph *g;
} graph_box;

static graph_box *check_graph(lua_State *L, const char *fname) {
  graph_box *b = luaL_testudata(L, 1, GRAPH_MT);
  if (!b) lt_lua_argerror(L, 1, fname, "expected a CUDA graph handle, got %s", luaL_typename(L, 1));
  return b;
}

static int l_graph_begin(lua_State *L) {
  int dev = check_device(L, 1, "graph");
  graph_box *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->g = NULL;
  luaL_setmetatable(L, GRAPH_MT);
  LT_LUA_CHECK(L, lt_cuda_graph_begin(dev, &b->g), "graph");
  return 1;
}

static int l_graph_end(lua_State *L) {
  graph_box *b = check_graph(L, "graph");
  LT_LUA_CHECK(L, lt_cuda_graph_end(b->g), "graph");
  return 0;
}

static int l_graph_abort(lua_State *L) {
  lt_cuda_graph_abort(check_graph(L, "graph")->g);
  return 0;
}

static int l_graph_launch(lua_State *L) {
  graph_box *b = check_graph(L, "replay");
  LT_LUA_CHECK(L, lt_cuda_graph_launch(b->g), "replay");
  return 0;
}

static int l_graph_release(lua_State *L) {
  graph_box *b = luaL_testudata(L, 1, GRAPH_MT);
  if (b && b->g) {
    lt_cuda_graph_destroy(b->g);
    b->g = NULL;
  }
  return 0;
}

static int l_graph_info(lua_State *L) {
  graph_box *b = check_graph(L, "info");
  lt_cuda_graph_stats s;
  lt_cuda_graph_info(b->g, &s);
  lua_createtable(L, 0, 7);
  lua_pushinteger(L, s.device);
  lua_setfield(L, -2, "device");
  lua_pushinteger(L, (lua_Integer)s.nodes);
  lua_setfield(L, -2, "nodes");
  lua_pushinteger(L, (lua_Integer)s.escaped_bytes);
  lua_setfield(L, -2, "escaped_bytes");
  lua_pushinteger(L, (lua_Integer)s.deferred_frees);
  lua_setfield(L, -2, "deferred_frees");
  lua_pushboolean(L, s.launched);
  lua_setfield(L, -2, "launched");
  lua_pushboolean(L, s.ready);
  lua_setfield(L, -2, "ready");
  lua_pushboolean(L, b->g == NULL);
  lua_setfield(L, -2, "released");
  return 1;
}

static void open_graph_handles(lua_State *L) {
  static const luaL_Reg methods[] = {{"end_capture", l_graph_end}, {"abort", l_graph_abort},
                                     {"launch", l_graph_launch}, {"release", l_graph_release},
                                     {"info", l_graph_info}, {NULL, NULL}};
  if (luaL_newmetatable(L, GRAPH_MT)) {
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_graph_release);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_graph_release);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
}

static int l_is_capturing(lua_State *L) {
  lua_pushboolean(L, lt_cuda_capturing());
  return 1;
}

static int l_unavailable_reason(lua_State *L) {
  lua_pushstring(L, lt_cuda_unavailable_reason());
  return 1;
}

static int l_is_graph_orphan(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "_is_graph_orphan");
  lt_device d = lt_tensor_device(t);
  lua_pushboolean(L, d.type == LT_CUDA && lt_tensor_data(t) && lt_cuda_graph_is_orphan(d.index, lt_tensor_data(t)));
  return 1;
}

/* Library versions: an integer, or nil and the reason it cannot be had. */
static int push_version(lua_State *L, lt_status (*get)(size_t *)) {
  size_t v = 0;
  if (get(&v) != LT_OK) {
    luaL_pushfail(L);
    lua_pushstring(L, lt_error_message());
    return 2;
  }
  lua_pushinteger(L, (lua_Integer)v);
  return 1;
}
static int l_cudnn_version(lua_State *L) { return push_version(L, lt_cuda_cudnn_version); }
static int l_cublas_version(lua_State *L) { return push_version(L, lt_cuda_cublas_version); }
static int l_cublaslt_version(lua_State *L) { return push_version(L, lt_cuda_cublaslt_version); }
static int l_runtime_version(lua_State *L) {
  lua_pushinteger(L, lt_cuda_runtime_version());
  return 1;
}
static int l_driver_version(lua_State *L) {
  lua_pushinteger(L, lt_cuda_driver_version());
  return 1;
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

static int l_graph_begin(lua_State *L) {
  check_device(L, 1, "graph");
  return no_cuda(L, "graph");
}
static int l_is_capturing(lua_State *L) {
  lua_pushboolean(L, 0);
  return 1;
}
static int l_unavailable_reason(lua_State *L) {
  lua_pushstring(L, "luatrain was built without CUDA");
  return 1;
}
static int l_is_graph_orphan(lua_State *L) {
  lt_lua_check_tensor(L, 1, "_is_graph_orphan");
  lua_pushboolean(L, 0);
  return 1;
}
static void open_graph_handles(lua_State *L) { (void)L; }

static int no_version(lua_State *L) {
  luaL_pushfail(L);
  lua_pushstring(L, "luatrain was built without CUDA");
  return 2;
}
static int l_cudnn_version(lua_State *L) { return no_version(L); }
static int l_cublas_version(lua_State *L) { return no_version(L); }
static int l_cublaslt_version(lua_State *L) { return no_version(L); }
static int l_runtime_version(lua_State *L) {
  lua_pushinteger(L, 0);
  return 1;
}
static int l_driver_version(lua_State *L) {
  lua_pushinteger(L, 0);
  return 1;
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
  {"cudnn_version", l_cudnn_version},
  {"cublas_version", l_cublas_version},
  {"cublaslt_version", l_cublaslt_version},
  {"runtime_version", l_runtime_version},
  {"driver_version", l_driver_version},
  {"is_capturing", l_is_capturing},
  {"_graph_begin", l_graph_begin},
  {"_unavailable_reason", l_unavailable_reason},
  {"_is_graph_orphan", l_is_graph_orphan},
  {NULL, NULL},
};

void lt_lua_open_cuda(lua_State *L, int methods) {
  (void)methods;
#ifdef LT_WITH_CUDA
  lt_cuda_register(); /* stores a pointer; touches no driver */
#endif
  open_graph_handles(L);
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
