/* lt_lua_transfer.c — Lua glue for pinned memory and non_blocking copies:
 * t:pin_memory(), t:is_pinned(), and the non_blocking option that t:to and
 * t:cuda (lt_lua_convert.c) accept, with PyTorch's meaning: from a pinned CPU
 * tensor to a GPU the copy runs on the device's copy stream while the host
 * goes on, ordered before every later op on that device; from pageable
 * memory, or to the CPU, it is the ordinary copy (the host waits until the
 * source may be reused, as torch does for pageable memory). Not here: the
 * copy machinery (src/core/lt_transfer.c, cuda/lt_cuda_transfer.cu) and the
 * DataLoader's pin_memory (src/data/lt_dataloader.h). */
#include "lt_lua_transfer.h"

#include <string.h>

#include "lt_ag_ops.h"
#include "lt_transfer.h"

static bool check_bool(lua_State *L, int idx, int slot, const char *fname, const char *key) {
  if (lua_type(L, slot) != LUA_TBOOLEAN)
    lt_lua_argerror(L, idx, fname, "%s must be a boolean, got %s", key, luaL_typename(L, slot));
  return lua_toboolean(L, slot);
}

bool lt_lua_take_non_blocking(lua_State *L, int idx, const char *fname) {
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) != LUA_TTABLE) return false;
  if (lua_getfield(L, idx, "non_blocking") == LUA_TNIL) {
    lua_pop(L, 1);
    return false;
  }
  bool nb = check_bool(L, idx, -1, fname, "non_blocking");
  lua_pop(L, 1);
  lt_lua_table_without(L, idx, "non_blocking");
  return nb;
}

void lt_lua_table_without(lua_State *L, int idx, const char *key) {
  idx = lua_absindex(L, idx);
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) == LUA_TSTRING && strcmp(lua_tostring(L, -2), key) == 0) {
      lua_pop(L, 1);
      continue;
    }
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
  lua_replace(L, idx);
}

bool lt_lua_cuda_opts(lua_State *L, int idx, const char *fname, lt_device *dev) {
  static const char *const allowed[] = {"device", "non_blocking", NULL};
  if (lua_isnoneornil(L, idx)) return false;
  if (lua_type(L, idx) != LUA_TTABLE)
    return lt_lua_argerror(L, idx, fname, "expected an options table {device=, non_blocking=}, got %s",
                           luaL_typename(L, idx));
  lt_lua_check_opts(L, idx, fname, allowed);
  bool nb = false;
  if (lua_getfield(L, idx, "non_blocking") != LUA_TNIL) nb = check_bool(L, idx, -1, fname, "non_blocking");
  lua_pop(L, 1);
  int t = lua_getfield(L, idx, "device");
  if (t == LUA_TSTRING) {
    lt_device d;
    if (lt_device_parse(lua_tostring(L, -1), &d) != LT_OK) lt_lua_raise_at(L, fname, idx);
    if (d.type != LT_CUDA) lt_lua_argerror(L, idx, fname, "device must be a CUDA device, got '%s'", lua_tostring(L, -1));
    *dev = d;
  } else if (t == LUA_TNUMBER) {
    int64_t i = lt_lua_check_integer(L, -1, fname, "device index");
    if (i < 0 || i > 1023) lt_lua_argerror(L, idx, fname, "device index %lld is out of range", (long long)i);
    dev->index = (int)i;
  } else if (t != LUA_TNIL) {
    lt_lua_argerror(L, idx, fname, "device must be a device name or an index, got %s", luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  return nb;
}

int lt_lua_convert_non_blocking(lua_State *L, const char *fname, lt_dtype dt, lt_device dev) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  if (t->dtype == dt && lt_device_equal(lt_tensor_device(t), dev)) {
    lua_settop(L, 1);
    return 1;
  }
  lt_tensor **box = lt_lua_newbox(L);
  if (lt_ag_needs_grad(1, &t)) LT_LUA_CHECK(L, lt_ag_to(t, dt, dev, box), fname);
  else LT_LUA_CHECK(L, lt_op_to_non_blocking(t, dt, dev, box), fname);
  return 1;
}

/* t:pin_memory(): a copy in pinned memory (t itself if already pinned); the
 * copy is a new tensor outside autograd, as batches are */
static int l_pin_memory(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "pin_memory");
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_op_pin_memory(t, box), "pin_memory");
  return 1;
}

/* t:is_pinned(): whether t's memory is pinned (false on the GPU) */
static int l_is_pinned(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "is_pinned");
  lua_pushboolean(L, lt_tensor_is_pinned(t));
  return 1;
}

void lt_lua_open_transfer(lua_State *L, int methods) {
  methods = lua_absindex(L, methods);
  lua_pushcfunction(L, l_pin_memory);
  lua_setfield(L, methods, "pin_memory");
  lua_pushcfunction(L, l_is_pinned);
  lua_setfield(L, methods, "is_pinned");
}
