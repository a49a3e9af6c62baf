/* lt_lua.c — setting up a lua_State for luatrain, and the helpers every glue
 * file uses (tensor boxes, errors, argument parsing). */
#include "lt_lua.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_cpu.h"
#include "lt_embedded.h"

/* --- tensor boxes ----------------------------------------------------------------- */

/* The Lua collector sees an 8-byte box where a tensor may hold gigabytes, so
 * garbage tensors would pile up between its cycles while each new tensor
 * takes fresh, page-faulting memory. So tensor bytes allocated since the
 * last box count as Lua allocation debt (LUA_GCSTEP with their size in KiB):
 * the collector then keeps pace with the tensors, and freed blocks return to
 * the allocators' caches for reuse. */
static size_t gc_reported;

static void collect_if_needed(lua_State *L) {
  size_t total = lt_storage_bytes_allocated_total();
  size_t debt = total - gc_reported;
  if (debt < ((size_t)1 << 20)) return;
  gc_reported = total;
  size_t kib = debt >> 10;
  lua_gc(L, LUA_GCSTEP, kib > (size_t)INT32_MAX ? INT32_MAX : (int)kib);
}

lt_tensor **lt_lua_newbox(lua_State *L) {
  collect_if_needed(L);
  lt_tensor **box = lua_newuserdatauv(L, sizeof *box, 1);
  *box = NULL;
  luaL_setmetatable(L, LT_TENSOR_MT);
  return box;
}

void lt_lua_push_tensor(lua_State *L, lt_tensor *t) {
  /* Prefer lt_lua_newbox before the op: if Lua runs out of memory creating
   * the box here, the reference `t` is lost with the error. */
  lt_tensor **box = lt_lua_newbox(L);
  *box = t;
}

lt_tensor *lt_lua_to_tensor(lua_State *L, int idx) {
  lt_tensor **box = luaL_testudata(L, idx, LT_TENSOR_MT);
  return box ? *box : NULL;
}

lt_tensor *lt_lua_check_tensor(lua_State *L, int idx, const char *fname) {
  lt_tensor **box = luaL_testudata(L, idx, LT_TENSOR_MT);
  if (!box) return (lt_tensor *)(intptr_t)lt_lua_argerror(L, idx, fname, "expected a tensor, got %s", luaL_typename(L, idx));
  if (!*box) lt_lua_argerror(L, idx, fname, "tensor was closed (released with <close>)");
  return *box;
}

/* --- errors ------------------------------------------------------------------------ */

int lt_lua_argerror(lua_State *L, int arg, const char *fname, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  luaL_where(L, 1);
  lua_pushfstring(L, "bad argument #%d to '%s' (%s)", arg, fname, msg);
  lua_concat(L, 2);
  return lua_error(L);
}

void lt_lua_push_failure(lua_State *L, const char *fname, int arg) {
  luaL_where(L, 1);
  if (arg > 0) lua_pushfstring(L, "bad argument #%d to '%s' (%s)", arg, fname, lt_error_message());
  else lua_pushfstring(L, "%s: %s", fname, lt_error_message());
  lua_concat(L, 2);
}

int lt_lua_raise_at(lua_State *L, const char *fname, int arg) {
  lt_lua_push_failure(L, fname, arg);
  return lua_error(L);
}

int lt_lua_raise(lua_State *L, const char *fname) { return lt_lua_raise_at(L, fname, lt_error_arg()); }

int lt_lua_blame(int arg) {
  if (lt_error_arg() > 0) return lt_error_arg();
  return lt_error_status() == LT_ERR_ARG ? arg : 0;
}

/* --- arguments ------------------------------------------------------------------------ */

int64_t lt_lua_check_integer(lua_State *L, int idx, const char *fname, const char *what) {
  if (lua_isinteger(L, idx)) return lua_tointeger(L, idx);
  if (lua_type(L, idx) == LUA_TNUMBER) {
    double v = lua_tonumber(L, idx);
    if (v == floor(v) && fabs(v) < 9.2e18) return (int64_t)v;
    lt_lua_argerror(L, idx, fname, "expected an integer %s, got %s", what, lua_tostring(L, idx));
  }
  lt_lua_argerror(L, idx, fname, "expected an integer %s, got %s", what, luaL_typename(L, idx));
  return 0;
}

int lt_lua_check_dim_at(lua_State *L, int slot, int arg, int ndim, const char *fname) {
  int isnum = 0;
  lua_Integer d = lua_tointegerx(L, slot, &isnum);
  if (!isnum)
    lt_lua_argerror(L, arg, fname, "expected an integer dimension, got %s",
                    lua_type(L, slot) == LUA_TNUMBER ? lua_tostring(L, slot) : luaL_typename(L, slot));
  int n = ndim > 0 ? ndim : 1;
  if (d == 0 || d > n || d < -n)
    lt_lua_argerror(L, arg, fname, "dimension %lld out of range (expected 1..%d or -%d..-1)", (long long)d, n, n);
  return (int)(d > 0 ? d - 1 : d + n);
}

int lt_lua_check_dim(lua_State *L, int idx, int ndim, const char *fname) {
  return lt_lua_check_dim_at(L, idx, idx, ndim, fname);
}

int lt_lua_check_shape(lua_State *L, int idx, const char *fname, bool allow_minus1, int *ndim, int64_t *shape) {
  int n = 0;
  if (lua_type(L, idx) == LUA_TTABLE) {
    lua_Integer len = luaL_len(L, idx);
    if (len > LT_MAX_DIMS) lt_lua_argerror(L, idx, fname, "expected at most %d dimensions, got %d", LT_MAX_DIMS, (int)len);
    for (lua_Integer i = 1; i <= len; i++) {
      lua_geti(L, idx, i);
      if (lua_type(L, -1) != LUA_TNUMBER)
        lt_lua_argerror(L, idx, fname, "shape entry %d is a %s, expected an integer", (int)i, luaL_typename(L, -1));
      double v = lua_tonumber(L, -1);
      if (v != floor(v)) lt_lua_argerror(L, idx, fname, "shape entry %d is %g, expected an integer", (int)i, v);
      if (v < 0 && !(allow_minus1 && v == -1))
        lt_lua_argerror(L, idx, fname, "negative size %g in shape", v);
      if (v > 4.6e18) lt_lua_argerror(L, idx, fname, "size %g is too large", v);
      shape[n++] = (int64_t)v;
      lua_pop(L, 1);
    }
    *ndim = n;
    return idx + 1;
  }
  int i = idx;
  while (lua_type(L, i) == LUA_TNUMBER) {
    if (n >= LT_MAX_DIMS) lt_lua_argerror(L, i, fname, "expected at most %d dimensions", LT_MAX_DIMS);
    double v = lua_tonumber(L, i);
    if (v != floor(v)) lt_lua_argerror(L, i, fname, "expected an integer size, got %s", lua_tostring(L, i));
    if (v < 0 && !(allow_minus1 && v == -1)) lt_lua_argerror(L, i, fname, "negative size %s", lua_tostring(L, i));
    if (v > 4.6e18) lt_lua_argerror(L, i, fname, "size %g is too large", v);
    shape[n++] = lua_isinteger(L, i) ? lua_tointeger(L, i) : (int64_t)v;
    i++;
  }
  *ndim = n;
  return i;
}

static const struct { const char *name; lt_dtype dt; } dtype_aliases[] = {
  {"float32", LT_FLOAT32}, {"float", LT_FLOAT32}, {"float64", LT_FLOAT64}, {"double", LT_FLOAT64},
  {"int64", LT_INT64},     {"long", LT_INT64},    {"int32", LT_INT32},     {"int", LT_INT32},
  {"uint8", LT_UINT8},     {"byte", LT_UINT8},    {"bool", LT_BOOL},       {"bfloat16", LT_BFLOAT16},
  {"float16", LT_FLOAT16}, {"half", LT_FLOAT16},
};

bool lt_lua_parse_dtype(const char *name, lt_dtype *out) {
  for (size_t i = 0; i < sizeof dtype_aliases / sizeof dtype_aliases[0]; i++)
    if (strcmp(name, dtype_aliases[i].name) == 0) { *out = dtype_aliases[i].dt; return true; }
  return false;
}

lt_dtype lt_lua_check_dtype(lua_State *L, int idx, const char *fname) {
  lt_dtype dt = LT_FLOAT32;
  /* check the type first: lua_tostring would turn a number into a string */
  bool is_string = lua_type(L, idx) == LUA_TSTRING;
  if (!is_string || !lt_lua_parse_dtype(lua_tostring(L, idx), &dt))
    lt_lua_argerror(L, idx, fname, "expected a dtype (float32, float64, int64, int32, uint8, bool, bfloat16, float16), got %s",
                    is_string ? lua_tostring(L, idx) : luaL_typename(L, idx));
  return dt;
}

void lt_lua_check_opts(lua_State *L, int idx, const char *fname, const char *const *allowed) {
  if (lua_isnoneornil(L, idx)) return;
  if (lua_type(L, idx) != LUA_TTABLE) lt_lua_argerror(L, idx, fname, "expected an options table, got %s", luaL_typename(L, idx));
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    bool ok = false;
    if (lua_type(L, -1) == LUA_TSTRING) {
      const char *k = lua_tostring(L, -1);
      for (int i = 0; allowed[i]; i++) if (strcmp(k, allowed[i]) == 0) ok = true;
    }
    if (!ok) {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (int i = 0; allowed[i]; i++) {
        if (i) luaL_addstring(&b, ", ");
        luaL_addstring(&b, allowed[i]);
      }
      luaL_pushresult(&b);
      const char *valid = lua_tostring(L, -1);      /* the list just built */
      const char *key = luaL_tolstring(L, -2, NULL); /* the offending key */
      lt_lua_argerror(L, idx, fname, "unknown option '%s' (valid: %s)", key, valid);
    }
  }
}

void lt_lua_creation_opts(lua_State *L, int idx, const char *fname, lt_dtype *dtype, lt_device *device) {
  static const char *const allowed[] = {"dtype", "device", "requires_grad", NULL};
  if (lua_isnoneornil(L, idx)) return;
  lt_lua_check_opts(L, idx, fname, allowed);
  if (lua_getfield(L, idx, "dtype") != LUA_TNIL) {
    bool is_string = lua_type(L, -1) == LUA_TSTRING;
    if (!is_string || !lt_lua_parse_dtype(lua_tostring(L, -1), dtype))
      lt_lua_argerror(L, idx, fname, "dtype must be a dtype name such as 'float32', got %s",
                      is_string ? lua_tostring(L, -1) : luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  if (lua_getfield(L, idx, "device") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TSTRING) lt_lua_argerror(L, idx, fname, "device must be a string such as 'cuda'");
    if (lt_device_parse(lua_tostring(L, -1), device) != LT_OK) lt_lua_raise_at(L, fname, idx);
  }
  lua_pop(L, 1);
}

/* --- the module ------------------------------------------------------------------ */

static void collect_garbage(void *ctx) { lua_gc((lua_State *)ctx, LUA_GCCOLLECT); }

int luaopen_luatrain_core(lua_State *L) {
  lt_cpu_register(); /* the CUDA backend registers in lt_lua_open_cuda */
  lua_newtable(L); /* module */
  int module = lua_gettop(L);
  luaL_newmetatable(L, LT_TENSOR_MT);
  lua_newtable(L); /* methods */
  int methods = lua_gettop(L);
  lua_pushvalue(L, methods);
  lua_setfield(L, -3, "__methods"); /* for the REPL's completion and for Lua extensions */
  lua_pushvalue(L, module);
  lt_lua_open_tensor(L, methods);
  lt_lua_open_create(L, methods);
  lt_lua_open_views(L, methods);
  lt_lua_open_convert(L, methods);
  lt_lua_open_runtime(L, methods);
  lt_lua_open_math(L, methods);
  lt_lua_open_index(L, methods);
  lt_lua_open_autograd(L, methods);
  lt_lua_open_autograd_function(L, methods);
  lt_lua_open_grad_hooks(L, methods);
  lt_lua_open_nn(L, methods);
  lt_lua_open_optim(L, methods);
  lt_lua_open_io(L, methods);
  lt_lua_open_data(L, methods);
  lt_lua_open_bench(L, methods);
  lt_lua_open_cuda(L, methods);
  lt_lua_open_dist(L, methods);
  lt_lua_open_backends_cpu(L, methods);
  lua_pop(L, 3); /* module copy, methods, metatable */
  lt_storage_set_oom_hook(collect_garbage, L);
  return 1;
}

static int load_from_path(lua_State *L, const char *root) {
  lua_getglobal(L, "package");
  lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", root, root);
  lua_getfield(L, -2, "path");
  lua_concat(L, 2);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  return 0;
}

static int embedded_loader(lua_State *L) {
  const lt_embedded_module *m = lua_touserdata(L, lua_upvalueindex(1));
  if (luaL_loadbuffer(L, m->source, m->length, m->chunkname) != LUA_OK) return lua_error(L);
  lua_pushstring(L, m->name);
  lua_call(L, 1, 1);
  return 1;
}

void lt_lua_install(lua_State *L) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_luatrain_core);
  lua_setfield(L, -2, "luatrain.core");
  const char *root = getenv("LUATRAIN_PATH");
  if (root && *root) {
    load_from_path(L, root);
  } else {
    for (int i = 0; i < lt_embedded_module_count; i++) {
      lua_pushlightuserdata(L, (void *)&lt_embedded_modules[i]);
      lua_pushcclosure(L, embedded_loader, 1);
      lua_setfield(L, -2, lt_embedded_modules[i].name);
    }
  }
  lua_pop(L, 2);
}

void lt_lua_setup(lua_State *L) {
  lt_lua_install(L);
  lua_getglobal(L, "require");
  lua_pushstring(L, "luatrain");
  lua_call(L, 1, 1);
  lua_setglobal(L, "lt");
}
