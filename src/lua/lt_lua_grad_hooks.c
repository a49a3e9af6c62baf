/* lt_lua_grad_hooks.c — Lua code that runs during backward, for
 * data-parallel training (lt.nn.DistributedDataParallel starts a gradient
 * bucket's all-reduce as soon as its last gradient is ready, and waits for
 * every bucket when backward ends):
 *
 *   local h = p:register_post_accumulate_grad_hook(function(p) ... end)
 *   h:remove()
 *       after a leaf's .grad has received its last contribution of a
 *       backward pass (PyTorch's name and meaning; not called by
 *       lt.autograd.grad, which does not touch .grad);
 *   lt.autograd.queue_callback(fn)
 *       from such a hook (or a Lua Function's backward, or another queued
 *       callback): fn() runs once the backward pass has finished, before
 *       backward returns.
 *
 * The engine calls one C hook (lt_ag_set_grad_ready_hook) which cannot
 * fail, so an error a Lua hook raises is kept and raised by backward when
 * the engine returns; the callbacks queued by that run are then dropped.
 * The registry holds, per hooked leaf (keyed by its lt_tensor), its box and
 * its hooks in registration order; a hooked tensor stays alive until its
 * hooks are removed. */
#include <stdatomic.h>

#include "lt_autograd.h"
#include "lt_lua.h"
#include "lt_lua_autograd.h"

#define HOOKS_KEY "luatrain.grad_hooks"        /* lt_tensor* -> {tensor = box, fn, fn, ...} */
#define QUEUE_KEY "luatrain.backward_callbacks" /* {fn, ...} */
#define ERROR_KEY "luatrain.grad_hook_error"    /* the first hook error of the run, or nil */

static atomic_int hooked_tensors;         /* across Lua states: a quick "nothing to do" */
static _Thread_local lua_State *draining; /* the state running queued callbacks, which may queue more */

/* Pushes the registry's table `key`, made when missing; returns its index. */
static int registry_table(lua_State *L, const char *key) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, key);
  return lua_gettop(L);
}

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg ? msg : luaL_tolstring(L, 1, NULL), 1);
  return 1;
}

/* The engine's hook: runs the leaf's Lua hooks on the engine's Lua state. */
static void on_grad_ready(lt_tensor *leaf, void *ctx) {
  (void)ctx;
  lua_State *L = lt_lua_engine_state();
  if (L == NULL || atomic_load(&hooked_tensors) == 0) return;
  int top = lua_gettop(L);
  if (!lua_checkstack(L, 8)) return;
  if (lua_getfield(L, LUA_REGISTRYINDEX, HOOKS_KEY) != LUA_TTABLE || lua_rawgetp(L, -1, leaf) != LUA_TTABLE) {
    lua_settop(L, top);
    return;
  }
  int entry = lua_gettop(L);
  lua_Integer n = (lua_Integer)lua_rawlen(L, entry);
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_getfield(L, LUA_REGISTRYINDEX, ERROR_KEY) != LUA_TNIL) break; /* one error per run is enough */
    lua_pop(L, 1);
    lua_pushcfunction(L, traceback);
    lua_rawgeti(L, entry, i);
    lua_getfield(L, entry, "tensor");
    if (lua_pcall(L, 1, 0, -3) != LUA_OK) {
      if (!lua_isstring(L, -1)) lua_pushstring(L, "(a hook raised a non-string error)");
      lua_setfield(L, LUA_REGISTRYINDEX, ERROR_KEY);
    }
    lua_settop(L, entry);
  }
  lua_settop(L, top);
}

/* h:remove(): upvalues are the tensor (light userdata) and the function. */
static int handle_remove(lua_State *L) {
  void *key = lua_touserdata(L, lua_upvalueindex(1));
  int hooks = registry_table(L, HOOKS_KEY);
  if (lua_rawgetp(L, hooks, key) != LUA_TTABLE) return 0; /* removed already */
  int entry = lua_gettop(L);
  lua_Integer n = (lua_Integer)lua_rawlen(L, entry);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, entry, i);
    bool same = lua_rawequal(L, -1, lua_upvalueindex(2));
    lua_pop(L, 1);
    if (!same) continue;
    for (lua_Integer j = i; j < n; j++) {
      lua_rawgeti(L, entry, j + 1);
      lua_rawseti(L, entry, j);
    }
    lua_pushnil(L);
    lua_rawseti(L, entry, n);
    if (n == 1) { /* the last hook of this tensor */
      lua_pushnil(L);
      lua_rawsetp(L, hooks, key);
      atomic_fetch_sub(&hooked_tensors, 1);
    }
    break;
  }
  return 0;
}

/* t:register_post_accumulate_grad_hook(fn) -> handle with :remove() */
static int m_register_post_accumulate_grad_hook(lua_State *L) {
  const char *fname = "register_post_accumulate_grad_hook";
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (!t->requires_grad || t->grad_fn != NULL)
    return lt_lua_argerror(L, 1, fname, "only a leaf tensor that requires grad gets a post-accumulate-grad hook");
  int hooks = registry_table(L, HOOKS_KEY);
  if (lua_rawgetp(L, hooks, t) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "tensor");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, hooks, t);
    atomic_fetch_add(&hooked_tensors, 1);
  }
  lua_pushvalue(L, 2);
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  lua_newtable(L); /* the handle */
  lua_pushlightuserdata(L, t);
  lua_pushvalue(L, 2);
  lua_pushcclosure(L, handle_remove, 2);
  lua_setfield(L, -2, "remove");
  return 1;
}

/* lt.autograd.queue_callback(fn) */
static int l_queue_callback(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  if (lt_lua_engine_state() != L && draining != L)
    return luaL_error(L, "queue_callback: only while a backward pass runs (from a hook or a Function's backward)");
  int queue = registry_table(L, QUEUE_KEY);
  lua_pushvalue(L, 1);
  lua_rawseti(L, queue, (lua_Integer)lua_rawlen(L, queue) + 1);
  return 0;
}

int lt_lua_engine_queue_mark(lua_State *L) {
  registry_table(L, QUEUE_KEY);
  int n = (int)lua_rawlen(L, -1);
  lua_pop(L, 1);
  return n;
}

static void truncate_queue(lua_State *L, int queue, int mark) {
  for (lua_Integer j = (lua_Integer)lua_rawlen(L, queue); j > mark; j--) {
    lua_pushnil(L);
    lua_rawseti(L, queue, j);
  }
}

void lt_lua_engine_discard(lua_State *L, int mark) {
  int queue = registry_table(L, QUEUE_KEY);
  truncate_queue(L, queue, mark);
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, ERROR_KEY);
  lua_pop(L, 1);
}

void lt_lua_engine_finish(lua_State *L, int mark, const char *fname) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, ERROR_KEY) != LUA_TNIL) {
    lt_lua_engine_discard(L, mark);
    luaL_error(L, "%s: a post-accumulate-grad hook failed: %s", fname, lua_tostring(L, -1));
  }
  lua_pop(L, 1);
  int queue = registry_table(L, QUEUE_KEY);
  lua_State *outer = draining;
  draining = L;
  /* callbacks may queue more: read the length each time */
  for (lua_Integer i = mark + 1; i <= (lua_Integer)lua_rawlen(L, queue); i++) {
    lua_pushcfunction(L, traceback);
    lua_rawgeti(L, queue, i);
    if (lua_pcall(L, 0, 0, -2) != LUA_OK) {
      draining = outer;
      truncate_queue(L, queue, mark);
      luaL_error(L, "%s: a queued callback failed: %s", fname, lua_tostring(L, -1));
    }
    lua_pop(L, 1); /* traceback */
  }
  draining = outer;
  truncate_queue(L, queue, mark);
  lua_pop(L, 1);
}

void lt_lua_open_grad_hooks(lua_State *L, int methods) {
  lt_ag_set_grad_ready_hook(on_grad_ready, NULL);
  lua_pushcfunction(L, m_register_post_accumulate_grad_hook);
  lua_setfield(L, methods, "register_post_accumulate_grad_hook");
  /* the module table is at -1 (lt_lua.h's openers): lt.autograd.queue_callback */
  lua_getfield(L, -1, "autograd");
  lua_pushcfunction(L, l_queue_callback);
  lua_setfield(L, -2, "queue_callback");
  lua_pop(L, 1);
}
