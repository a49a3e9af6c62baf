/* lt_lua_runtime.c — the process-wide settings, from Lua: the random
 * generator's seed and state (lt.manual_seed, get_rng_state,
 * set_rng_state), the default floating dtype, the CPU thread count, and
 * lt.memory_stats (CPU bytes in use and at peak).
 *
 * Not here: the CUDA device's memory and streams (lt_lua_cuda.c), anything
 * about one tensor. */
#include "lt_cpu_iter.h"
#include "lt_lua.h"
#include "lt_philox.h"

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

void lt_lua_open_runtime(lua_State *L, int methods) {
  (void)methods; /* module functions only */
  static const luaL_Reg module_fns[] = {
    {"manual_seed", l_manual_seed}, {"get_rng_state", l_get_rng_state}, {"set_rng_state", l_set_rng_state},
    {"set_default_dtype", l_set_default_dtype}, {"get_default_dtype", l_get_default_dtype},
    {"set_num_threads", l_set_num_threads}, {"get_num_threads", l_get_num_threads},
    {"memory_stats", l_memory_stats}, {NULL, NULL}};
  luaL_setfuncs(L, module_fns, 0);
}
