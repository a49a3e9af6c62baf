/* lt_lua_convert.c — a tensor turned into something else: another dtype or
 * device (t:to, type_as, float, double, long, int, byte, bool, half,
 * bfloat16, cpu, cuda; all differentiable) and Lua values (t:item, t:tolist,
 * and t:_flat_values, which lua/luatrain/tensor_format.lua prints from).
 *
 * Not here: the non_blocking transfers from pinned memory
 * (lt_lua_transfer.c, which t:to and t:cuda hand them to), layout changes
 * (contiguous, clone: lt_lua_views.c), the printer itself (Lua). */
#include "lt_ag_ops.h"
#include "lt_lua.h"
#include "lt_lua_transfer.h"
#include "lt_lua_views.h"

/* --- dtype and device ----------------------------------------------------------------- */

static int convert(lua_State *L, const char *fname, lt_dtype dt, lt_device dev) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  if (t->dtype == dt && lt_device_equal(lt_tensor_device(t), dev)) { lua_settop(L, 1); return 1; }
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_to(t, dt, dev, box), fname);
  return 1;
}

/* t:to(dtype), t:to(device), t:to(device, dtype), t:to{dtype=, device=}, t:to(other_tensor) */
static int l_to(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "to");
  lt_dtype dt = t->dtype;
  lt_device dev = lt_tensor_device(t);
  int top = lua_gettop(L);
  if (top < 2) return lt_lua_argerror(L, 2, "to", "expected a dtype, a device, a tensor or an options table");
  bool non_blocking = false; /* {non_blocking = true}: lt_lua_transfer.c */
  lt_memory_format fmt = LT_FORMAT_PRESERVE; /* {memory_format = "channels_last"} */
  int fmt_arg = 2;
  for (int i = 2; i <= top; i++) {
    lt_memory_format f = fmt;
    lt_lua_take_memory_format(L, i, "to", &fmt);
    if (f != fmt) fmt_arg = i;
    if (lt_lua_take_non_blocking(L, i, "to")) non_blocking = true;
    lt_tensor *o = lt_lua_to_tensor(L, i);
    if (o) { dt = o->dtype; dev = lt_tensor_device(o); continue; }
    if (lua_type(L, i) == LUA_TTABLE) { lt_lua_creation_opts(L, i, "to", &dt, &dev); continue; }
    if (lua_type(L, i) != LUA_TSTRING)
      return lt_lua_argerror(L, i, "to", "expected a dtype or device name, got %s", luaL_typename(L, i));
    const char *s = lua_tostring(L, i);
    if (lt_lua_parse_dtype(s, &dt)) continue;
    if (lt_device_parse(s, &dev) != LT_OK)
      return lt_lua_argerror(L, i, "to", "'%s' is neither a dtype nor a device ('cpu', 'cuda', 'cuda:N')", s);
  }
  if (fmt == LT_FORMAT_CHANNELS_LAST && t->ndim != 4)
    return lt_lua_argerror(L, fmt_arg, "to", "channels_last needs a 4-D tensor [N,C,H,W], got a %d-D tensor", t->ndim);
  if (non_blocking) lt_lua_convert_non_blocking(L, "to", dt, dev);
  else convert(L, "to", dt, dev);
  if (fmt == LT_FORMAT_PRESERVE) return 1; /* the conversions keep the layout already */
  return lt_lua_push_in_format(L, -1, fmt, "to", true);
}

static int l_type_as(lua_State *L) {
  lt_tensor *o = lt_lua_check_tensor(L, 2, "type_as");
  lt_tensor *t = lt_lua_check_tensor(L, 1, "type_as");
  return convert(L, "type_as", o->dtype, lt_tensor_device(t));
}

static int l_float(lua_State *L) { lt_tensor *t = lt_lua_check_tensor(L, 1, "float"); return convert(L, "float", LT_FLOAT32, lt_tensor_device(t)); }
static int l_double(lua_State *L) { lt_tensor *t = lt_lua_check_tensor(L, 1, "double"); return convert(L, "double", LT_FLOAT64, lt_tensor_device(t)); }
static int l_long(lua_State *L) { lt_tensor *t = lt_lua_check_tensor(L, 1, "long"); return convert(L, "long", LT_INT64, lt_tensor_device(t)); }
static int l_int(lua_State *L) { lt_tensor *t = lt_lua_check_tensor(L, 1, "int"); return convert(L, "int", LT_INT32, lt_tensor_device(t)); }
static int l_byte(lua_State *L) { lt_tensor *t = lt_lua_check_tensor(L, 1, "byte"); return convert(L, "byte", LT_UINT8, lt_tensor_device(t)); }
static int l_bool(lua_State *L) { lt_tensor *t = lt_lua_check_tensor(L, 1, "bool"); return convert(L, "bool", LT_BOOL, lt_tensor_device(t)); }
static int l_half(lua_State *L) { lt_tensor *t = lt_lua_check_tensor(L, 1, "half"); return convert(L, "half", LT_FLOAT16, lt_tensor_device(t)); }
static int l_bfloat16(lua_State *L) { lt_tensor *t = lt_lua_check_tensor(L, 1, "bfloat16"); return convert(L, "bfloat16", LT_BFLOAT16, lt_tensor_device(t)); }

static int l_cpu(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "cpu");
  return convert(L, "cpu", t->dtype, lt_cpu_device());
}

/* t:cuda([index] [, {device=, non_blocking=}]) or t:cuda{device=, non_blocking=} */
static int l_cuda(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "cuda");
  lt_device dev = {LT_CUDA, 0};
  int opts = 2;
  if (lua_type(L, 2) != LUA_TTABLE) {
    if (!lua_isnoneornil(L, 2)) dev.index = (int)lt_lua_check_integer(L, 2, "cuda", "device index");
    opts = 3;
  }
  if (lt_lua_cuda_opts(L, opts, "cuda", &dev)) return lt_lua_convert_non_blocking(L, "cuda", t->dtype, dev);
  return convert(L, "cuda", t->dtype, dev);
}

/* --- Lua values ------------------------------------------------------------------------ */

static void push_element(lua_State *L, const void *p, lt_dtype dt) {
  if (dt == LT_BOOL) lua_pushboolean(L, *(const uint8_t *)p != 0);
  else if (lt_dtype_is_integral(dt)) lua_pushinteger(L, lt_dtype_load_i64(p, dt));
  else lua_pushnumber(L, lt_dtype_load_f64(p, dt));
}

static int l_item(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "item");
  if (lt_tensor_numel(t) != 1) {
    char b[128];
    return lt_lua_argerror(L, 1, "item", "expected a tensor with one element, got shape %s",
                           lt_shape_str(t->ndim, t->shape, b, sizeof b));
  }
  lt_tensor **box = lt_lua_newbox(L); /* keeps the host copy owned by Lua */
  LT_LUA_CHECK(L, lt_op_host_contiguous(t, box), "item");
  push_element(L, lt_tensor_data(*box), t->dtype);
  return 1;
}

static void push_list(lua_State *L, const char *p, const lt_tensor *h, int d) {
  size_t es = lt_dtype_size(h->dtype);
  if (d == h->ndim) { push_element(L, p, h->dtype); return; }
  luaL_checkstack(L, 4, "tolist");
  lua_createtable(L, (int)h->shape[d], 0);
  for (int64_t i = 0; i < h->shape[d]; i++) {
    push_list(L, p + i * h->stride[d] * (int64_t)es, h, d + 1);
    lua_rawseti(L, -2, i + 1);
  }
}

static int l_tolist(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "tolist");
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_op_host_contiguous(t, box), "tolist");
  push_list(L, lt_tensor_data(*box), *box, 0);
  return 1;
}

/* Reads a window of elements as a flat Lua array (for the printer): the
 * values of a contiguous host copy. */
static int l_flat_values(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "_flat_values");
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_op_host_contiguous(t, box), "_flat_values");
  lt_tensor *h = *box;
  int64_t n = lt_tensor_numel(h);
  size_t es = lt_dtype_size(h->dtype);
  lua_createtable(L, (int)(n < 1 << 24 ? n : 0), 0);
  const char *p = lt_tensor_data(h);
  for (int64_t i = 0; i < n; i++) {
    push_element(L, p + i * (int64_t)es, h->dtype);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

void lt_lua_open_convert(lua_State *L, int methods) {
  static const luaL_Reg method_fns[] = {
    {"to", l_to}, {"type_as", l_type_as}, {"float", l_float}, {"double", l_double}, {"long", l_long},
    {"int", l_int}, {"byte", l_byte}, {"bool", l_bool}, {"half", l_half}, {"bfloat16", l_bfloat16},
    {"cpu", l_cpu}, {"cuda", l_cuda}, {"item", l_item}, {"tolist", l_tolist}, {"_flat_values", l_flat_values},
    {NULL, NULL}};
  lua_pushvalue(L, methods);
  luaL_setfuncs(L, method_fns, 0);
  lua_pop(L, 1);
}
