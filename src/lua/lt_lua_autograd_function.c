/* lt_lua_autograd_function.c — the native half of lt.autograd.Function: a
 * graph node whose backward is a Lua function. lt.autograd._record(ctx,
 * backward, name, args, outputs) makes the node after a forward (moving the
 * tensors ctx:save_for_backward kept into it and setting it as the outputs'
 * grad_fn), lt.autograd._saved(handle) gives the saved tensors back, and
 * the node's backward calls the Lua function under lua_pcall. It also keeps
 * the Lua state running the engine and the text of a Lua backward's error
 * (lt_lua_autograd.h), since only a Lua backward needs them.
 *
 * Not here: the Lua half (Function, ctx, gradcheck: lua/luatrain/autograd.lua),
 * running the engine from Lua and the autograd properties and grad modes
 * (lt_lua_autograd.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_ag_ops.h"
#include "lt_lua.h"
#include "lt_lua_autograd.h"

/* The Lua state running the engine, so Lua backward functions run on the
 * coroutine that called backward; and the full text of the last error raised
 * by one (lt_error_set keeps only 512 bytes, tracebacks are longer). */
static _Thread_local lua_State *running_L;
static _Thread_local char *lua_backward_error;

static void clear_lua_error(void) {
  free(lua_backward_error);
  lua_backward_error = NULL;
}

/* Raises the engine's error: the Lua backward's own message when it was one. */
int lt_lua_raise_engine_error(lua_State *L, const char *fname) {
  if (!lua_backward_error) return lt_lua_raise(L, fname);
  luaL_where(L, 1);
  lua_pushfstring(L, "%s: %s", fname, lua_backward_error);
  clear_lua_error();
  lua_concat(L, 2);
  return lua_error(L);
}

lua_State *lt_lua_engine_enter(lua_State *L) {
  lua_State *prev = running_L;
  running_L = L;
  clear_lua_error();
  return prev;
}

void lt_lua_engine_leave(lua_State *prev) { running_L = prev; }

lua_State *lt_lua_engine_state(void) { return running_L; }

/* --- the node ---------------------------------------------------------------------------- */

typedef struct {
  lt_node *node; /* cleared when the node is freed */
} fn_handle;

typedef struct {
  lua_State *main;
  int ref_ctx, ref_backward;
  fn_handle *handle;       /* owned by the ctx table (ctx.__handle) */
  int nargs;
  char *name;
  lt_input_meta *outputs;  /* shapes for outputs that get no gradient */
  bool *output_is_tensor;
} fn_ctx;

static void fn_ctx_free(void *p) {
  fn_ctx *c = p;
  if (c->handle) c->handle->node = NULL;
  luaL_unref(c->main, LUA_REGISTRYINDEX, c->ref_ctx);
  luaL_unref(c->main, LUA_REGISTRYINDEX, c->ref_backward);
  free(c->name);
  free(c->outputs);
  free(c->output_is_tensor);
  free(c);
}

typedef struct {
  lt_node *n;
  lt_tensor *const *go;
  lt_tensor **gi;
} bw_call;

static int traceback_handler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Runs inside lua_pcall: pushes the gradients, calls backward(ctx, ...), and
 * takes the returned gradients. Every Lua error here is caught. */
static int call_lua_backward(lua_State *L) {
  bw_call *b = lua_touserdata(L, 1);
  lt_node *n = b->n;
  fn_ctx *c = n->ctx;
  int base = lua_gettop(L);
  luaL_checkstack(L, n->n_outputs + 4, "backward");
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref_backward);
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref_ctx);
  int pushed = 0;
  for (int k = 0; k < n->n_outputs; k++) {
    if (!c->output_is_tensor[k]) { lua_pushnil(L); pushed++; continue; }
    lt_tensor **box = lt_lua_newbox(L);
    pushed++;
    if (b->go[k]) {
      lt_tensor_retain(b->go[k]);
      *box = b->go[k];
    } else {
      const lt_input_meta *m = &c->outputs[k];
      LT_LUA_CHECK(L, lt_op_full(m->ndim, m->shape, 0, m->dtype, m->device, box), "backward");
    }
  }
  lua_call(L, pushed + 1, LUA_MULTRET);
  int nres = lua_gettop(L) - base;
  if (nres > c->nargs)
    return luaL_error(L, "backward of %s returned %d gradients, expected at most %d (one per argument of forward)",
                      c->name, nres, c->nargs);
  for (int j = 0; j < nres; j++) {
    int idx = base + 1 + j;
    if (lua_isnil(L, idx)) continue;
    lt_tensor *t = lt_lua_to_tensor(L, idx);
    if (!t)
      return luaL_error(L, "backward of %s returned a %s for argument %d (expected a tensor or nil)", c->name,
                        luaL_typename(L, idx), j + 1);
    if (!lt_node_needs_input_grad(n, j)) continue; /* an argument that needs no gradient */
    lt_tensor_retain(t);
    lt_tensor_release(b->gi[j]);
    b->gi[j] = t;
  }
  return 0;
}

static lt_status lua_function_backward(lt_node *n, lt_tensor *const *go, lt_tensor **gi) {
  fn_ctx *c = n->ctx;
  lua_State *L = running_L ? running_L : c->main;
  if (!lua_checkstack(L, 8)) return lt_error_set(LT_ERR_OOM, 0, "%s: Lua stack overflow", c->name);
  int top = lua_gettop(L);
  bw_call b = {n, go, gi};
  lua_pushcfunction(L, traceback_handler);
  lua_pushcfunction(L, call_lua_backward);
  lua_pushlightuserdata(L, &b);
  int status = lua_pcall(L, 1, 0, top + 1);
  if (status == LUA_OK) {
    lua_settop(L, top);
    return LT_OK;
  }
  const char *msg = lua_tostring(L, -1);
  if (!msg) msg = "(error object is not a string)";
  clear_lua_error();
  size_t len = strlen(msg) + strlen(c->name) + 32;
  lua_backward_error = malloc(len);
  if (lua_backward_error) snprintf(lua_backward_error, len, "error in the backward of %s: %s", c->name, msg);
  lt_error_set(LT_ERR_RUNTIME, 0, "error in the backward of %s: %s", c->name, msg);
  lua_settop(L, top);
  return LT_ERR_RUNTIME;
}

static lt_tensor *list_find(lua_State *L, int list, lt_tensor *t) {
  if (lua_type(L, list) != LUA_TTABLE) return NULL;
  lua_Integer n = luaL_len(L, list);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, list, i);
    lt_tensor *u = lt_lua_to_tensor(L, -1);
    lua_pop(L, 1);
    if (u == t) return u;
  }
  return NULL;
}

/* _record(ctx, backward, name, args (packed), outputs (packed)): when grad
 * mode is on and a tensor argument requires grad, makes the node, moves
 * ctx's saved tensors into it and sets it as grad_fn of the outputs. */
static int l_record_function(lua_State *L) {
  const char *fname = "Function";
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  const char *name = luaL_checkstring(L, 3);
  luaL_checktype(L, 4, LUA_TTABLE);
  luaL_checktype(L, 5, LUA_TTABLE);
  lua_settop(L, 5);
  lua_getfield(L, 4, "n");
  int nargs = (int)lua_tointeger(L, -1);
  lua_getfield(L, 5, "n");
  int nouts = (int)lua_tointeger(L, -1);
  lua_pop(L, 2);
  if (nouts < 1) return luaL_error(L, "forward of %s returned nothing (expected at least one tensor)", name);
  lt_tensor **args = lua_newuserdatauv(L, sizeof(lt_tensor *) * (size_t)(nargs ? nargs : 1), 0); /* 6 */
  for (int i = 0; i < nargs; i++) {
    lua_rawgeti(L, 4, i + 1);
    args[i] = lt_lua_to_tensor(L, -1);
    lua_pop(L, 1);
  }
  if (!lt_ag_needs_grad(nargs, args)) return 0;
  lua_getfield(L, 1, "__saved");         /* 7 */
  lua_getfield(L, 1, "__nondiff");       /* 8 */
  /* outputs that are inputs become aliases, so the input keeps its history */
  for (int k = 0; k < nouts; k++) {
    lua_rawgeti(L, 5, k + 1);
    lt_tensor **box = luaL_testudata(L, -1, LT_TENSOR_MT);
    lua_pop(L, 1);
    if (!box || !*box) continue;
    for (int i = 0; i < nargs; i++) {
      if (args[i] != *box) continue;
      lt_tensor *a;
      LT_LUA_CHECK(L, lt_tensor_alias(*box, &a), fname);
      lt_tensor_release(*box);
      *box = a;
      break;
    }
  }
  /* an output kept as a ctx field would keep its own graph alive (output ->
   * node -> registry -> ctx -> output): never collected */
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lt_tensor *v = lt_lua_to_tensor(L, -1);
    for (int k = 0; v && k < nouts; k++) {
      lua_rawgeti(L, 5, k + 1);
      lt_tensor *o = lt_lua_to_tensor(L, -1);
      lua_pop(L, 1);
      if (o == v && lua_type(L, -2) == LUA_TSTRING && lt_dtype_is_floating(o->dtype) && !list_find(L, 8, o))
        return luaL_error(L, "output %d of %s is stored in ctx.%s; keep outputs with ctx:save_for_backward (a ctx "
                             "field holding an output would keep the graph alive forever)",
                          k + 1, name, lua_tostring(L, -2));
    }
    lua_pop(L, 1);
  }
  fn_handle *h = lua_newuserdatauv(L, sizeof *h, 0); /* 9 */
  h->node = NULL;
  lua_pushvalue(L, 9);
  lua_setfield(L, 1, "__handle");
  fn_ctx *c = calloc(1, sizeof *c);
  if (!c) return luaL_error(L, "out of host memory");
  c->main = NULL;
  c->ref_ctx = c->ref_backward = LUA_NOREF;
  c->nargs = nargs;
  c->handle = h;
  c->name = malloc(strlen(name) + 1);
  c->outputs = calloc((size_t)nouts, sizeof *c->outputs);
  c->output_is_tensor = calloc((size_t)nouts, sizeof *c->output_is_tensor);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  c->main = lua_tothread(L, -1);
  lua_pop(L, 1);
  lt_node *n = NULL;
  lt_status st = c->name && c->outputs && c->output_is_tensor ? LT_OK : lt_error_set(LT_ERR_OOM, 0, "out of host memory");
  if (st == LT_OK) {
    strcpy(c->name, name);
    st = lt_ag_node_new(c->name, lua_function_backward, nargs, args, nouts, &n);
  }
  if (st != LT_OK) {
    fn_ctx_free(c);
    return lt_lua_raise(L, fname);
  }
  n->ctx = c;
  n->ctx_free = fn_ctx_free;
  /* from here the node owns c; the references are taken last (they cannot
   * leak: n is released on every error path below) */
  for (int k = 0; k < nouts; k++) {
    lua_rawgeti(L, 5, k + 1);
    lt_tensor *o = lt_lua_to_tensor(L, -1);
    lua_pop(L, 1);
    if (!o) continue;
    c->output_is_tensor[k] = true;
    c->outputs[k].ndim = o->ndim;
    c->outputs[k].dtype = o->dtype;
    c->outputs[k].device = lt_tensor_device(o);
    memcpy(c->outputs[k].shape, o->shape, sizeof(int64_t) * (size_t)o->ndim);
  }
  if (lua_type(L, 7) == LUA_TTABLE) {
    lua_Integer ns = luaL_len(L, 7);
    for (lua_Integer i = 1; i <= ns && st == LT_OK; i++) {
      lua_rawgeti(L, 7, i);
      lt_tensor *s = lt_lua_to_tensor(L, -1);
      lua_pop(L, 1);
      if (!s) {
        lt_node_release(n);
        return luaL_error(L, "save_for_backward: argument %d is not a tensor", (int)i);
      }
      st = list_find(L, 5, s) ? lt_ag_save_output(n, s) : lt_ag_save(n, s);
    }
  }
  if (st != LT_OK) {
    lt_node_release(n);
    return lt_lua_raise(L, fname);
  }
  lua_pushvalue(L, 1);
  c->ref_ctx = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, 2);
  c->ref_backward = luaL_ref(L, LUA_REGISTRYINDEX);
  h->node = n;
  lua_pushnil(L);
  lua_setfield(L, 1, "__saved");
  for (int k = 0; k < nouts; k++) {
    lua_rawgeti(L, 5, k + 1);
    lt_tensor *o = lt_lua_to_tensor(L, -1);
    lua_pop(L, 1);
    if (!o || !lt_dtype_is_floating(o->dtype) || list_find(L, 8, o)) continue;
    lt_ag_set_output(n, o, k);
  }
  lt_node_release(n);
  return 0;
}

/* _saved(handle): the saved tensors of a recorded Function, as a list */
static int l_function_saved(lua_State *L) {
  fn_handle *h = lua_touserdata(L, 1);
  if (!h) return luaL_error(L, "saved_tensors: not a Function context");
  if (!h->node) return luaL_error(L, "saved_tensors: the graph of this Function was freed");
  lt_node *n = h->node;
  if (n->released)
    return luaL_error(L, "saved_tensors: the graph was freed by a previous backward (use retain_graph=true)");
  lua_createtable(L, n->n_saved, 0);
  for (int i = 0; i < n->n_saved; i++) {
    lt_tensor **box = lt_lua_newbox(L);
    lt_tensor *t;
    LT_LUA_CHECK(L, lt_ag_saved(n, i, &t), "saved_tensors");
    lt_tensor_retain(t);
    *box = t;
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

void lt_lua_open_autograd_function(lua_State *L, int methods) {
  (void)methods; /* functions of lt.autograd only */
  static const luaL_Reg autograd_fns[] = {{"_record", l_record_function}, {"_saved", l_function_saved}, {NULL, NULL}};
  lua_getfield(L, -1, "autograd");
  luaL_setfuncs(L, autograd_fns, 0);
  lua_pop(L, 1);
}
