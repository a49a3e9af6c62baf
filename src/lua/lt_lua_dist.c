/* lt_lua_dist.c — the native half of lt.distributed (lua/luatrain/
 * distributed.lua has the user's API and its documentation): the process
 * group of src/dist and its collectives on tensors, as `_`-prefixed
 * functions of the core module's `_distributed` table.
 *
 * A collective returns a work handle when asked to run asynchronously
 * (work:wait(), work:is_completed()); the work itself holds references to
 * its tensors until it is freed (lt_dist.h), so a tensor Lua code drops
 * cannot be freed under the communication thread. Without async the call
 * waits before returning. */
#include <stdlib.h>
#include <string.h>

#include "lt_dist.h"
#include "lt_lua.h"

#define WORK_MT "luatrain.DistWork"

typedef struct {
  lt_dist_work *work; /* NULL once freed */
  double started;     /* when it started running (lt_dist_now's clock), kept after the wait; 0 unknown */
  double waited;      /* seconds this process spent blocked in wait() */
} work_box;

static const char *const op_names[] = {"sum", "avg", "max", "min", NULL};
static const lt_comm_op op_values[] = {LT_COMM_SUM, LT_COMM_AVG, LT_COMM_MAX, LT_COMM_MIN};

static lt_comm_op check_op(lua_State *L, int idx) {
  return op_values[luaL_checkoption(L, idx, "sum", op_names)];
}

/* --- work handles -------------------------------------------------------------------- */

static work_box *check_work(lua_State *L, int idx) { return luaL_checkudata(L, idx, WORK_MT); }

/* Waits for the work and frees it, keeping when it started and how long
 * the wait blocked. */
static lt_status wait_and_free(work_box *w) {
  double t0 = lt_dist_now();
  lt_status st = lt_dist_work_wait(w->work);
  w->waited += lt_dist_now() - t0;
  w->started = lt_dist_work_started_at(w->work);
  lt_dist_work_free(w->work);
  w->work = NULL;
  return st;
}

static int work_gc(lua_State *L) {
  work_box *w = check_work(L, 1);
  if (w->work != NULL) {
    lt_dist_work_free(w->work); /* waits if still running: the tensors are ours until then */
    w->work = NULL;
  }
  return 0;
}

/* work:wait(): raises the collective's error; later calls return at once. */
static int work_wait(lua_State *L) {
  work_box *w = check_work(L, 1);
  if (w->work == NULL) return 0;
  LT_LUA_CHECK(L, wait_and_free(w), "wait");
  return 0;
}

static int work_is_completed(lua_State *L) {
  work_box *w = check_work(L, 1);
  lua_pushboolean(L, w->work == NULL || lt_dist_work_done(w->work));
  return 1;
}

/* work:started_at(): when the communication thread started it (the clock
 * of lt.distributed._now), or nil while it waits in the queue. */
static int work_started_at(lua_State *L) {
  work_box *w = check_work(L, 1);
  double t = w->work != NULL ? lt_dist_work_started_at(w->work) : w->started;
  if (t > 0) lua_pushnumber(L, t);
  else lua_pushnil(L);
  return 1;
}

/* work:wait_time(): seconds this process spent blocked in wait(). */
static int work_wait_time(lua_State *L) {
  lua_pushnumber(L, check_work(L, 1)->waited);
  return 1;
}

/* Pushes a handle for `work`. */
static void push_work(lua_State *L, lt_dist_work *work) {
  work_box *w = lua_newuserdatauv(L, sizeof *w, 0);
  w->work = work;
  w->started = w->waited = 0;
  luaL_setmetatable(L, WORK_MT);
}

/* The common tail of a collective: a handle (async) or a wait (sync). The
 * handle goes on the stack first, so a failed wait still frees the work. */
static int finish(lua_State *L, lt_dist_work *work, bool async, const char *fname) {
  push_work(L, work);
  if (async) return 1;
  work_box *w = lua_touserdata(L, -1);
  LT_LUA_CHECK(L, wait_and_free(w), fname);
  return 0;
}

/* --- the group ---------------------------------------------------------------------- */

static void push_env(lua_State *L, const lt_dist_env *e) {
  lua_createtable(L, 0, 7);
  lua_pushinteger(L, e->rank);
  lua_setfield(L, -2, "rank");
  lua_pushinteger(L, e->world_size);
  lua_setfield(L, -2, "world_size");
  lua_pushinteger(L, e->local_rank);
  lua_setfield(L, -2, "local_rank");
  lua_pushinteger(L, e->local_world_size);
  lua_setfield(L, -2, "local_world_size");
  lua_pushstring(L, e->launcher);
  lua_setfield(L, -2, "launcher");
  lua_pushstring(L, e->master_addr);
  lua_setfield(L, -2, "master_addr");
  lua_pushinteger(L, e->master_port);
  lua_setfield(L, -2, "master_port");
}

/* _env() -> the group's environment, or the launcher's when no group runs */
static int l_env(lua_State *L) {
  if (lt_dist_is_initialized()) {
    push_env(L, lt_dist_get_env());
    return 1;
  }
  lt_dist_env e;
  LT_LUA_CHECK(L, lt_dist_env_read(NULL, NULL, &e), "init_process_group");
  push_env(L, &e);
  return 1;
}

/* _init(backend, timeout_s) */
static int l_init(lua_State *L) {
  const char *backend = luaL_checkstring(L, 1);
  double timeout = luaL_checknumber(L, 2);
  LT_LUA_CHECK(L, lt_dist_init(backend, timeout), "init_process_group");
  return 0;
}

static int l_is_initialized(lua_State *L) {
  lua_pushboolean(L, lt_dist_is_initialized());
  return 1;
}

static int l_backend(lua_State *L) {
  if (!lt_dist_is_initialized()) return luaL_error(L, "get_backend: no process group (call init_process_group first)");
  lua_pushstring(L, lt_dist_backend_name());
  return 1;
}

static int l_finalize(lua_State *L) {
  LT_LUA_CHECK(L, lt_dist_finalize(), "destroy_process_group");
  return 0;
}

static int l_abort(lua_State *L) {
  lt_dist_abort((int)luaL_optinteger(L, 1, 1));
  return 0;
}

static int l_now(lua_State *L) {
  lua_pushnumber(L, lt_dist_now());
  return 1;
}

/* --- collectives ----------------------------------------------------------------------- */

/* _all_reduce(t, op, async) */
static int l_all_reduce(lua_State *L) {
  const char *fname = "all_reduce";
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  lt_comm_op op = check_op(L, 2);
  bool async = lua_toboolean(L, 3);
  lt_dist_work *work;
  LT_LUA_CHECK_ARG(L, lt_dist_all_reduce(t, op, &work), fname, 1);
  return finish(L, work, async, fname);
}

/* _broadcast(t, src, async) */
static int l_broadcast(lua_State *L) {
  const char *fname = "broadcast";
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  int src = (int)lt_lua_check_integer(L, 2, fname, "src");
  bool async = lua_toboolean(L, 3);
  lt_dist_work *work;
  LT_LUA_CHECK_ARG(L, lt_dist_broadcast(t, src, &work), fname, 1);
  return finish(L, work, async, fname);
}

/* _all_gather(out, in, async) */
static int l_all_gather(lua_State *L) {
  const char *fname = "all_gather";
  lt_tensor *out = lt_lua_check_tensor(L, 1, fname);
  lt_tensor *in = lt_lua_check_tensor(L, 2, fname);
  bool async = lua_toboolean(L, 3);
  lt_dist_work *work;
  LT_LUA_CHECK_ARG(L, lt_dist_all_gather(out, in, &work), fname, 1);
  return finish(L, work, async, fname);
}

/* _reduce_scatter(out, in, op, async) */
static int l_reduce_scatter(lua_State *L) {
  const char *fname = "reduce_scatter";
  lt_tensor *out = lt_lua_check_tensor(L, 1, fname);
  lt_tensor *in = lt_lua_check_tensor(L, 2, fname);
  lt_comm_op op = check_op(L, 3);
  bool async = lua_toboolean(L, 4);
  lt_dist_work *work;
  LT_LUA_CHECK_ARG(L, lt_dist_reduce_scatter(out, in, op, &work), fname, 1);
  return finish(L, work, async, fname);
}

/* _barrier(async) */
static int l_barrier(lua_State *L) {
  bool async = lua_toboolean(L, 1);
  lt_dist_work *work;
  LT_LUA_CHECK(L, lt_dist_barrier(&work), "barrier");
  return finish(L, work, async, "barrier");
}

/* --- bytes, for broadcast_object --------------------------------------------------------- */

/* _bytes_to_tensor(s) -> a uint8 CPU tensor holding the string's bytes */
static int l_bytes_to_tensor(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  lt_tensor **box = lt_lua_newbox(L);
  int64_t n = (int64_t)len;
  LT_LUA_CHECK(L, lt_tensor_empty(1, &n, LT_UINT8, lt_cpu_device(), box), "broadcast_object");
  if (len > 0) memcpy(lt_tensor_data(*box), s, len);
  return 1;
}

/* _tensor_to_bytes(t) -> the bytes of a contiguous uint8 CPU tensor */
static int l_tensor_to_bytes(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "broadcast_object");
  if (t->dtype != LT_UINT8 || lt_tensor_device(t).type != LT_CPU || !lt_tensor_is_contiguous(t))
    return lt_lua_argerror(L, 1, "broadcast_object", "expected a contiguous uint8 tensor on the CPU");
  lua_pushlstring(L, lt_tensor_numel(t) > 0 ? lt_tensor_data(t) : "", (size_t)lt_tensor_numel(t));
  return 1;
}

/* The group ends with the Lua state that started it: a sentinel in the
 * registry finalizes it when the state closes (the program's exit, or
 * lua_close in a program that loaded the module), so MPI sees every rank
 * finish properly. A rank that fails ends the job instead (lt_dist_abort,
 * from the program's error path) before its state closes. */
static int sentinel_gc(lua_State *L) {
  (void)L;
  if (lt_dist_is_initialized()) lt_dist_finalize();
  return 0;
}

void lt_lua_open_dist(lua_State *L, int methods) {
  (void)methods;
  if (lua_getfield(L, LUA_REGISTRYINDEX, "luatrain.dist_sentinel") == LUA_TNIL) {
    lua_newuserdatauv(L, 1, 0);
    lua_newtable(L);
    lua_pushcfunction(L, sentinel_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, "luatrain.dist_sentinel");
  }
  lua_pop(L, 1);
  static const luaL_Reg work_methods[] = {{"wait", work_wait},
                                          {"is_completed", work_is_completed},
                                          {"started_at", work_started_at},
                                          {"wait_time", work_wait_time},
                                          {NULL, NULL}};
  if (luaL_newmetatable(L, WORK_MT)) {
    lua_newtable(L);
    luaL_setfuncs(L, work_methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, work_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  static const luaL_Reg fns[] = {{"_env", l_env},
                                 {"_init", l_init},
                                 {"_is_initialized", l_is_initialized},
                                 {"_backend", l_backend},
                                 {"_finalize", l_finalize},
                                 {"_abort", l_abort},
                                 {"_now", l_now},
                                 {"_all_reduce", l_all_reduce},
                                 {"_broadcast", l_broadcast},
                                 {"_all_gather", l_all_gather},
                                 {"_reduce_scatter", l_reduce_scatter},
                                 {"_barrier", l_barrier},
                                 {"_bytes_to_tensor", l_bytes_to_tensor},
                                 {"_tensor_to_bytes", l_tensor_to_bytes},
                                 {NULL, NULL}};
  lua_newtable(L);
  luaL_setfuncs(L, fns, 0);
  lua_setfield(L, -2, "_distributed");
}
