/* lt_lua_views.c — the shape and layout of a tensor, from Lua: the views
 * (view, reshape, narrow, select, transpose, t, permute, squeeze, unsqueeze,
 * expand, flatten), contiguous and clone, and the memory formats
 * ("contiguous_format", "channels_last", "preserve_format") with
 * is_contiguous. lt_lua_views.h gives the other tensor glue files the
 * memory-format helpers and the index check they share with it.
 *
 * Not here: the Tensor userdata and t[i] (lt_lua_tensor.c), conversions
 * between dtypes and devices (lt_lua_convert.c), indexing with tensors and
 * slices (lt_lua_index.c). */
#include <string.h>

#include "lt_ag_layout.h"
#include "lt_ag_ops.h"
#include "lt_lua.h"
#include "lt_lua_transfer.h"
#include "lt_lua_views.h"

/* --- memory formats ----------------------------------------------------------------- */

static const char *const format_names[] = {"contiguous_format", "channels_last", "preserve_format", NULL};

/* The memory format named by the string at idx (the argument `arg` in messages). */
static lt_memory_format check_format(lua_State *L, int idx, int arg, const char *fname, bool allow_preserve) {
  if (lua_type(L, idx) != LUA_TSTRING)
    lt_lua_argerror(L, arg, fname, "memory_format must be a string such as 'channels_last', got %s",
                    luaL_typename(L, idx));
  const char *s = lua_tostring(L, idx);
  for (int i = 0; format_names[i]; i++)
    if (strcmp(s, format_names[i]) == 0 && (allow_preserve || i != LT_FORMAT_PRESERVE)) return (lt_memory_format)i;
  lt_lua_argerror(L, arg, fname, "unknown memory format '%s' (expected 'contiguous_format', 'channels_last'%s)", s,
                  allow_preserve ? " or 'preserve_format'" : "");
  return LT_FORMAT_CONTIGUOUS;
}

/* The option's helpers of lt_lua_views.h (described there). */
void lt_lua_take_memory_format(lua_State *L, int idx, const char *fname, lt_memory_format *fmt) {
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) != LUA_TTABLE) return;
  if (lua_getfield(L, idx, "memory_format") == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  *fmt = check_format(L, -1, idx, fname, true);
  lua_pop(L, 1);
  lt_lua_table_without(L, idx, "memory_format");
}

int lt_lua_push_in_format(lua_State *L, int idx, lt_memory_format fmt, const char *fname, bool exact) {
  idx = lua_absindex(L, idx);
  lt_tensor *t = lt_lua_check_tensor(L, idx, fname);
  if (fmt == LT_FORMAT_CHANNELS_LAST && t->ndim != 4)
    return lt_lua_argerror(L, 1, fname, "channels_last needs a 4-D tensor [N,C,H,W], got a %d-D tensor", t->ndim);
  bool keep = lt_tensor_is_contiguous_format(t, fmt);
  if (exact && keep && fmt != LT_FORMAT_PRESERVE) keep = lt_tensor_suggest_format(t) == fmt;
  if (keep) {
    lua_pushvalue(L, idx);
    return 1;
  }
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_clone_format(t, fmt, box), fname);
  return 1;
}

/* t:is_contiguous([memory_format]) */
static int l_is_contiguous(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "is_contiguous");
  lt_memory_format f = lua_isnoneornil(L, 2) ? LT_FORMAT_CONTIGUOUS : check_format(L, 2, 2, "is_contiguous", false);
  lua_pushboolean(L, lt_tensor_is_contiguous_format(t, f));
  return 1;
}

/* --- views ------------------------------------------------------------------------- */

/* 1-based index (negative from the end) -> 0-based, with a range error. */
int64_t lt_lua_check_index(lua_State *L, int idx, int64_t size, int dim, const char *fname) {
  int64_t i = lt_lua_check_integer(L, idx, fname, "index");
  int64_t z = i > 0 ? i - 1 : size + i;
  if (i == 0 || z < 0 || z >= size)
    lt_lua_argerror(L, idx, fname, "index %lld out of range for dimension %d of size %lld (expected 1..%lld or -%lld..-1)",
                    (long long)i, dim + 1, (long long)size, (long long)size, (long long)size);
  return z;
}

static int view_like(lua_State *L, const char *fname, bool copy_ok) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  int ndim;
  int64_t shape[LT_MAX_DIMS];
  int next = lt_lua_check_shape(L, 2, fname, true, &ndim, shape);
  if (!lua_isnone(L, next)) return lt_lua_argerror(L, next, fname, "expected integer sizes, got %s", luaL_typename(L, next));
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, copy_ok ? lt_ag_reshape(t, ndim, shape, box) : lt_ag_view(t, ndim, shape, box), fname);
  return 1;
}
static int l_view(lua_State *L) { return view_like(L, "view", false); }
static int l_reshape(lua_State *L) { return view_like(L, "reshape", true); }

static int l_view_as(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "view_as"), *o = lt_lua_check_tensor(L, 2, "view_as");
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_view(t, o->ndim, o->shape, box), "view_as");
  return 1;
}

static int l_narrow(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "narrow");
  if (t->ndim == 0) return lt_lua_argerror(L, 1, "narrow", "cannot narrow a 0-d tensor");
  int d = lt_lua_check_dim(L, 2, t->ndim, "narrow");
  int64_t start = lt_lua_check_integer(L, 3, "narrow", "start");
  int64_t len = lt_lua_check_integer(L, 4, "narrow", "length");
  if (start < 0) start += t->shape[d] + 1;
  if (start < 1 || start > t->shape[d] + 1)
    return lt_lua_argerror(L, 3, "narrow", "start %lld out of range for dimension %d of size %lld",
                           (long long)lua_tointeger(L, 3), d + 1, (long long)t->shape[d]);
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_narrow(t, d, start - 1, len, box), "narrow");
  return 1;
}


static int l_select(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "select");
  if (t->ndim == 0) return lt_lua_argerror(L, 1, "select", "cannot index a 0-d tensor");
  int d = lt_lua_check_dim(L, 2, t->ndim, "select");
  int64_t i = lt_lua_check_index(L, 3, t->shape[d], d, "select");
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_select(t, d, i, box), "select");
  return 1;
}

static int l_transpose(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "transpose");
  int d0 = lt_lua_check_dim(L, 2, t->ndim, "transpose"), d1 = lt_lua_check_dim(L, 3, t->ndim, "transpose");
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_transpose(t, d0, d1, box), "transpose");
  return 1;
}

static int l_t(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "t");
  if (t->ndim > 2) return lt_lua_argerror(L, 1, "t", "expected a tensor with at most 2 dimensions, got %d", t->ndim);
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, t->ndim < 2 ? lt_ag_alias(t, box) : lt_ag_transpose(t, 0, 1, box), "t");
  return 1;
}

static int l_permute(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "permute");
  int n = 0, dims[LT_MAX_DIMS];
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_Integer len = luaL_len(L, 2);
    if (len != t->ndim) return lt_lua_argerror(L, 2, "permute", "expected %d dims, got %d", t->ndim, (int)len);
    for (int i = 1; i <= len; i++) {
      lua_geti(L, 2, i);
      dims[n++] = lt_lua_check_dim_at(L, lua_gettop(L), 2, t->ndim, "permute");
      lua_pop(L, 1);
    }
  } else {
    int top = lua_gettop(L);
    if (top - 1 != t->ndim) return lt_lua_argerror(L, 2, "permute", "expected %d dims, got %d", t->ndim, top - 1);
    for (int i = 2; i <= top; i++) dims[n++] = lt_lua_check_dim(L, i, t->ndim, "permute");
  }
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_permute(t, dims, box), "permute");
  return 1;
}

static int l_squeeze(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "squeeze");
  int d = lua_isnoneornil(L, 2) ? -1 : lt_lua_check_dim(L, 2, t->ndim, "squeeze");
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_squeeze(t, d, box), "squeeze");
  return 1;
}

static int l_unsqueeze(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "unsqueeze");
  int d = lt_lua_check_dim(L, 2, t->ndim + 1, "unsqueeze");
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_unsqueeze(t, d, box), "unsqueeze");
  return 1;
}

static int l_expand(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "expand");
  int ndim;
  int64_t shape[LT_MAX_DIMS];
  lt_lua_check_shape(L, 2, "expand", true, &ndim, shape);
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_expand(t, ndim, shape, box), "expand");
  return 1;
}

static int l_expand_as(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "expand_as"), *o = lt_lua_check_tensor(L, 2, "expand_as");
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_expand(t, o->ndim, o->shape, box), "expand_as");
  return 1;
}

static int l_flatten(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "flatten");
  int s = lua_isnoneornil(L, 2) ? 0 : lt_lua_check_dim(L, 2, t->ndim, "flatten");
  int e = lua_isnoneornil(L, 3) ? (t->ndim ? t->ndim - 1 : 0) : lt_lua_check_dim(L, 3, t->ndim, "flatten");
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_flatten(t, s, e, box), "flatten");
  return 1;
}

/* t:contiguous([memory_format]) */
static int l_contiguous(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "contiguous");
  if (!lua_isnoneornil(L, 2)) return lt_lua_push_in_format(L, 1, check_format(L, 2, 2, "contiguous", false), "contiguous", false);
  if (lt_tensor_is_contiguous(t)) { lua_settop(L, 1); return 1; }
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_contiguous(t, box), "contiguous");
  return 1;
}

/* t:clone([{memory_format=}]): a copy in t's layout (PyTorch's default
 * "preserve_format": a dense t's strides, else dense in t's order of
 * strides), or in the format named */
static int l_clone(lua_State *L) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, "clone");
  lt_memory_format fmt = LT_FORMAT_PRESERVE;
  if (!lua_isnoneornil(L, 2)) {
    static const char *const allowed[] = {"memory_format", NULL};
    if (lua_type(L, 2) != LUA_TTABLE)
      return lt_lua_argerror(L, 2, "clone", "expected an options table {memory_format=}, got %s", luaL_typename(L, 2));
    lt_lua_check_opts(L, 2, "clone", allowed);
    lt_lua_take_memory_format(L, 2, "clone", &fmt);
  }
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_clone_format(t, fmt, box), "clone");
  return 1;
}

void lt_lua_open_views(lua_State *L, int methods) {
  static const luaL_Reg method_fns[] = {
    {"is_contiguous", l_is_contiguous}, {"view", l_view}, {"reshape", l_reshape}, {"view_as", l_view_as},
    {"narrow", l_narrow}, {"select", l_select}, {"transpose", l_transpose}, {"t", l_t}, {"permute", l_permute},
    {"squeeze", l_squeeze}, {"unsqueeze", l_unsqueeze}, {"expand", l_expand}, {"expand_as", l_expand_as},
    {"flatten", l_flatten}, {"contiguous", l_contiguous}, {"clone", l_clone}, {NULL, NULL}};
  lua_pushvalue(L, methods);
  luaL_setfuncs(L, method_fns, 0);
  lua_pop(L, 1);
  /* memory formats as constants: lt.channels_last == "channels_last" */
  for (int i = 0; format_names[i]; i++) {
    lua_pushstring(L, format_names[i]);
    lua_setfield(L, -2, format_names[i]);
  }
}
