/* lt_lua_index.c — Lua glue for indexing, joining and sorting: lt.cat/concat,
 * lt.stack, split, chunk, index_select, gather, scatter(_), scatter_add(_),
 * index_add(_), lt.one_hot, sort, argsort, topk and cumsum.
 *
 * Lua speaks 1-based dims and 1-based index values; the op layer 0-based
 * dims but takes an index base: the user's index tensors go to the ops as
 * they are (base 1, no copy minus 1), and returned indices are written
 * 1-based by the kernels. split/chunk return views made by the Tensor
 * `narrow` method, looked up when called, so they share whatever narrow does
 * (autograd included).
 * The differentiable ones go through their autograd wrappers (lt_ag_ops.h).
 * Not here: the ops themselves (lt_ops_index.c). */
#include <string.h>

#include "lt_ag_ops.h"
#include "lt_lua.h"

/* --- argument helpers ------------------------------------------------------------------ */

static bool opt_bool(lua_State *L, int idx, const char *fname, const char *what, bool def) {
  if (lua_isnoneornil(L, idx)) return def;
  if (lua_type(L, idx) != LUA_TBOOLEAN)
    lt_lua_argerror(L, idx, fname, "expected a boolean %s, got %s", what, luaL_typename(L, idx));
  return lua_toboolean(L, idx);
}

/* A dim argument that defaults to `def` (0-based, may be -1 for the last). */
static int opt_dim(lua_State *L, int idx, int ndim, const char *fname, int def) {
  if (lua_isnoneornil(L, idx)) {
    int n = ndim > 0 ? ndim : 1;
    return def < 0 ? def + n : def;
  }
  return lt_lua_check_dim(L, idx, ndim, fname);
}

/* The 1-based index tensor at argument idx (int64, or int32 when allowed),
 * passed on as it is (the ops take base 1), or a new one made from a Lua
 * list of integers when allow_table (pushed, so it is collected). */
static lt_tensor *index_arg(lua_State *L, int idx, lt_tensor *x, const char *fname, bool allow_table, bool allow_int32) {
  if (luaL_testudata(L, idx, LT_TENSOR_MT)) {
    lt_tensor *t = lt_lua_check_tensor(L, idx, fname);
    if (t->dtype != LT_INT64 && !(allow_int32 && t->dtype == LT_INT32))
      lt_lua_argerror(L, idx, fname, "expected an int64 index tensor, got %s", lt_dtype_name(t->dtype));
    return t;
  }
  if (allow_table && lua_type(L, idx) == LUA_TTABLE) {
    int64_t n = (int64_t)luaL_len(L, idx);
    lt_tensor **box = lt_lua_newbox(L);
    LT_LUA_CHECK(L, lt_tensor_empty(1, &n, LT_INT64, lt_cpu_device(), box), fname);
    int64_t *p = lt_tensor_data(*box);
    for (int64_t i = 0; i < n; i++) {
      lua_geti(L, idx, i + 1);
      if (!lua_isinteger(L, -1)) {
        double v = lua_tonumber(L, -1);
        if (lua_type(L, -1) != LUA_TNUMBER || !(v >= -9.2e18 && v <= 9.2e18) || v != (double)(int64_t)v)
          lt_lua_argerror(L, idx, fname, "index list entry %lld is %s, expected an integer", (long long)i + 1,
                          lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
      }
      p[i] = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : (int64_t)lua_tonumber(L, -1);
      lua_pop(L, 1);
    }
    if (lt_tensor_device(x).type != LT_CPU) {
      lt_tensor *host = *box;
      lt_tensor **dbox = lt_lua_newbox(L);
      LT_LUA_CHECK(L, lt_op_to(host, LT_INT64, lt_tensor_device(x), dbox), fname);
      lua_remove(L, -2);
      return *dbox;
    }
    return *box;
  }
  lt_lua_argerror(L, idx, fname, allow_table ? "expected an int64 index tensor or a list of integers, got %s"
                                             : "expected an int64 index tensor, got %s",
                  luaL_typename(L, idx));
  return NULL;
}

/* The tensors of a Lua list at idx, in a userdata array pushed on the stack
 * (so it is collected on an error). */
static lt_tensor **tensor_list(lua_State *L, int idx, const char *fname, int *n) {
  if (lua_type(L, idx) != LUA_TTABLE)
    lt_lua_argerror(L, idx, fname, "expected a list of tensors, got %s", luaL_typename(L, idx));
  lua_Integer len = luaL_len(L, idx);
  if (len > 1 << 24) lt_lua_argerror(L, idx, fname, "too many tensors (%lld)", (long long)len);
  lt_tensor **ts = lua_newuserdatauv(L, sizeof(lt_tensor *) * (size_t)(len > 0 ? len : 1), 0);
  for (lua_Integer i = 1; i <= len; i++) {
    lua_geti(L, idx, i);
    lt_tensor **box = luaL_testudata(L, -1, LT_TENSOR_MT);
    if (!box) lt_lua_argerror(L, idx, fname, "element %d of the list is a %s, expected a tensor", (int)i, luaL_typename(L, -1));
    if (!*box) lt_lua_argerror(L, idx, fname, "tensor %d of the list was closed (released with <close>)", (int)i);
    ts[i - 1] = *box; /* the list keeps it alive */
    lua_pop(L, 1);
  }
  *n = (int)len;
  return ts;
}

/* --- cat, stack ------------------------------------------------------------------------- */

static int l_cat(lua_State *L) {
  const char *fname = "cat";
  int n;
  lua_settop(L, 2);
  lt_tensor **ts = tensor_list(L, 1, fname, &n);
  /* dims count against the first tensor that is not a legacy [0] one */
  int ndim = 1;
  for (int i = 0; i < n; i++)
    if (!(ts[i]->ndim == 1 && ts[i]->shape[0] == 0)) { ndim = ts[i]->ndim; break; }
  int d = opt_dim(L, 2, ndim, fname, 0);
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_cat(n, ts, d, box), fname);
  return 1;
}

static int l_stack(lua_State *L) {
  const char *fname = "stack";
  int n;
  lua_settop(L, 2);
  lt_tensor **ts = tensor_list(L, 1, fname, &n);
  int d = opt_dim(L, 2, n > 0 ? ts[0]->ndim + 1 : 1, fname, 0);
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_stack(n, ts, d, box), fname);
  return 1;
}

/* --- split, chunk ----------------------------------------------------------------------- */

/* Pushes a list of views t:narrow(d, start, len) for the given lengths. The
 * Tensor methods table is upvalue 1. */
static void push_pieces(lua_State *L, int tidx, int d, int n, const int64_t *lens) {
  lua_createtable(L, n, 0);
  int64_t start = 0;
  for (int i = 0; i < n; i++) {
    lua_getfield(L, lua_upvalueindex(1), "narrow");
    lua_pushvalue(L, tidx);
    lua_pushinteger(L, d + 1);
    lua_pushinteger(L, start + 1);
    lua_pushinteger(L, lens[i]);
    lua_call(L, 4, 1);
    lua_rawseti(L, -2, i + 1);
    start += lens[i];
  }
}

static int64_t *length_array(lua_State *L, int64_t n) {
  return lua_newuserdatauv(L, sizeof(int64_t) * (size_t)(n > 0 ? n : 1), 0);
}

/* t:split(size | {sizes}, dim) */
static int l_split(lua_State *L) {
  const char *fname = "split";
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  if (t->ndim == 0) return lt_lua_argerror(L, 1, fname, "cannot split a 0-d tensor");
  int d = opt_dim(L, 3, t->ndim, fname, 0);
  int64_t size = t->shape[d];
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_Integer n = luaL_len(L, 2);
    if (n < 1) return lt_lua_argerror(L, 2, fname, "expected a non-empty list of sizes");
    if (n > 1 << 24) return lt_lua_argerror(L, 2, fname, "too many sizes (%lld)", (long long)n);
    int64_t *lens = length_array(L, n), sum = 0;
    for (lua_Integer i = 1; i <= n; i++) {
      lua_geti(L, 2, i);
      if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
        return lt_lua_argerror(L, 2, fname, "size %d is %s, expected a non-negative integer", (int)i,
                               lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
      lens[i - 1] = lua_tointeger(L, -1);
      if (lens[i - 1] > size || sum > size) sum = size + 1; /* no overflow; already too large */
      else sum += lens[i - 1];
      lua_pop(L, 1);
    }
    if (sum != size) {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (lua_Integer i = 0; i < n && i < 16; i++) {
        lua_pushfstring(L, "%s%I", i ? "," : "", (lua_Integer)lens[i]);
        luaL_addvalue(&b);
      }
      if (n > 16) luaL_addstring(&b, ",...");
      luaL_pushresult(&b);
      return lt_lua_argerror(L, 2, fname, "split sizes {%s} do not add up to %lld, the size of dimension %d",
                             lua_tostring(L, -1), (long long)size, d + 1);
    }
    push_pieces(L, 1, d, (int)n, lens);
    return 1;
  }
  int64_t s = lt_lua_check_integer(L, 2, fname, "split size");
  if (s < 0 || (s == 0 && size != 0))
    return lt_lua_argerror(L, 2, fname, "split size must be positive, got %lld", (long long)s);
  int64_t n = s == 0 ? 1 : (size + s - 1) / s;
  if (n < 1) n = 1;
  if (n > 1 << 24) return lt_lua_argerror(L, 2, fname, "split size %lld gives too many pieces", (long long)s);
  int64_t *lens = length_array(L, n);
  for (int64_t i = 0; i < n; i++) lens[i] = size - i * s < s ? size - i * s : s;
  push_pieces(L, 1, d, (int)n, lens);
  return 1;
}

/* t:chunk(n, dim): PyTorch's sizes: ceil(size/n) each, fewer pieces when
 * that covers the dim early; n empty pieces for an empty dim. */
static int l_chunk(lua_State *L) {
  const char *fname = "chunk";
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  if (t->ndim == 0) return lt_lua_argerror(L, 1, fname, "cannot chunk a 0-d tensor");
  int64_t chunks = lt_lua_check_integer(L, 2, fname, "number of chunks");
  if (chunks < 1) return lt_lua_argerror(L, 2, fname, "number of chunks must be positive, got %lld", (long long)chunks);
  int d = opt_dim(L, 3, t->ndim, fname, 0);
  int64_t size = t->shape[d];
  int64_t each = size == 0 ? 0 : (size + chunks - 1) / chunks;
  int64_t n = size == 0 ? chunks : (size + each - 1) / each;
  if (n > 1 << 24) return lt_lua_argerror(L, 2, fname, "too many chunks (%lld)", (long long)n);
  int64_t *lens = length_array(L, n);
  for (int64_t i = 0; i < n; i++) lens[i] = size == 0 ? 0 : (size - i * each < each ? size - i * each : each);
  push_pieces(L, 1, d, (int)n, lens);
  return 1;
}

/* --- index_select, gather, scatter -------------------------------------------------------- */

/* t:<fname>(dim, index) -> a new tensor, by op (lt_ag_index_select or
 * lt_ag_gather); loose_index also takes a Lua list or an int32 tensor. */
static int select_along(lua_State *L, const char *fname, bool loose_index,
                        lt_status (*op)(lt_tensor *, int, lt_tensor *, int64_t, lt_tensor **)) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  int d = lt_lua_check_dim(L, 2, t->ndim, fname);
  lt_tensor *idx = index_arg(L, 3, t, fname, loose_index, loose_index);
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, op(t, d, idx, 1, box), fname);
  return 1;
}

static int l_index_select(lua_State *L) { return select_along(L, "index_select", true, lt_ag_index_select); }
static int l_gather(lua_State *L) { return select_along(L, "gather", false, lt_ag_gather); }

typedef enum { SC_SET, SC_ADD, SC_INDEX_ADD } scatter_kind;

/* Applies the scatter of `kind` to `target` with the arguments (dim, index,
 * src) at 2..4 of the call. */
static void scatter_into(lua_State *L, lt_tensor *target, lt_tensor *t, scatter_kind kind, const char *fname) {
  int d = lt_lua_check_dim(L, 2, t->ndim, fname);
  /* index_add takes an int32 index too, as PyTorch; scatter only int64 */
  lt_tensor *idx = index_arg(L, 3, t, fname, kind == SC_INDEX_ADD, kind == SC_INDEX_ADD);
  lt_tensor *src = NULL;
  if (luaL_testudata(L, 4, LT_TENSOR_MT)) {
    src = lt_lua_check_tensor(L, 4, fname);
  } else if (lua_type(L, 4) == LUA_TNUMBER || lua_type(L, 4) == LUA_TBOOLEAN) {
    double v = lua_type(L, 4) == LUA_TBOOLEAN ? lua_toboolean(L, 4) : lua_tonumber(L, 4);
    if (kind == SC_SET) {
      LT_LUA_CHECK(L, lt_ag_scatter_value_(target, d, idx, 1, v), fname);
      return;
    }
    /* a number to add: a 0-d tensor of the target's dtype, broadcast */
    lt_tensor **s0 = lt_lua_newbox(L);
    LT_LUA_CHECK(L, lt_op_scalar_tensor(v, target->dtype, lt_tensor_device(target), s0), fname);
    lt_tensor **se = lt_lua_newbox(L);
    if (kind == SC_ADD) {
      LT_LUA_CHECK(L, lt_tensor_expand(*s0, idx->ndim, idx->shape, se), fname);
    } else {
      int64_t shape[LT_MAX_DIMS];
      memcpy(shape, t->shape, sizeof shape);
      if (t->ndim > 0) shape[d] = lt_tensor_numel(idx);
      LT_LUA_CHECK(L, lt_tensor_expand(*s0, t->ndim, shape, se), fname);
    }
    src = *se;
  } else {
    lt_lua_argerror(L, 4, fname, "expected a tensor or a number for src, got %s", luaL_typename(L, 4));
  }
  lt_status st = kind == SC_INDEX_ADD ? lt_ag_index_add_(target, d, idx, 1, src)
                                      : lt_ag_scatter_(target, d, idx, 1, src, kind == SC_ADD);
  LT_LUA_CHECK(L, st, fname);
}

static int scatter_inplace(lua_State *L, scatter_kind kind, const char *fname) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  lua_settop(L, 4);
  scatter_into(L, t, t, kind, fname);
  lua_settop(L, 1);
  return 1;
}

static int scatter_copy(lua_State *L, scatter_kind kind, const char *fname) {
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  lua_settop(L, 4);
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_clone(t, box), fname);
  scatter_into(L, *box, t, kind, fname);
  lua_settop(L, 5);
  return 1;
}

static int l_scatter_(lua_State *L) { return scatter_inplace(L, SC_SET, "scatter_"); }
static int l_scatter(lua_State *L) { return scatter_copy(L, SC_SET, "scatter"); }
static int l_scatter_add_(lua_State *L) { return scatter_inplace(L, SC_ADD, "scatter_add_"); }
static int l_scatter_add(lua_State *L) { return scatter_copy(L, SC_ADD, "scatter_add"); }
static int l_index_add_(lua_State *L) { return scatter_inplace(L, SC_INDEX_ADD, "index_add_"); }
static int l_index_add(lua_State *L) { return scatter_copy(L, SC_INDEX_ADD, "index_add"); }

/* lt.one_hot(labels, num_classes): labels 1..C -> int64 [..., C] */
static int l_one_hot(lua_State *L) {
  const char *fname = "one_hot";
  lt_tensor *labels = lt_lua_check_tensor(L, 1, fname);
  int64_t c = -1;
  if (!lua_isnoneornil(L, 2)) {
    c = lt_lua_check_integer(L, 2, fname, "number of classes");
    if (c < -1) return lt_lua_argerror(L, 2, fname, "num_classes must be non-negative (or -1 to infer it), got %lld", (long long)c);
  }
  if (labels->dtype != LT_INT64)
    return lt_lua_argerror(L, 1, fname, "expected an int64 tensor of class labels, got %s", lt_dtype_name(labels->dtype));
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_op_one_hot_base(labels, 1, c, box), fname);
  return 1;
}

/* --- sort, argsort, topk, cumsum ------------------------------------------------------------ */

/* t:sort(dim = -1, descending = false) -> values, indices */
static int l_sort(lua_State *L) {
  const char *fname = "sort";
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  int d = opt_dim(L, 2, t->ndim, fname, -1);
  bool desc = opt_bool(L, 3, fname, "descending", false);
  lt_tensor **vbox = lt_lua_newbox(L);
  lt_tensor **ibox = lt_lua_newbox(L);
  lt_tensor *v = NULL, *i = NULL;
  LT_LUA_CHECK(L, lt_ag_sort(t, d, desc, 1, &v, &i), fname);
  *vbox = v;
  *ibox = i;
  return 2;
}

static int l_argsort(lua_State *L) {
  const char *fname = "argsort";
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  int d = opt_dim(L, 2, t->ndim, fname, -1);
  bool desc = opt_bool(L, 3, fname, "descending", false);
  lt_tensor **ibox = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_op_sort_base(t, d, desc, 1, NULL, ibox), fname);
  return 1;
}

/* t:topk(k, dim = -1, largest = true, sorted = true) -> values, indices */
static int l_topk(lua_State *L) {
  const char *fname = "topk";
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  int64_t k = lt_lua_check_integer(L, 2, fname, "k");
  int d = opt_dim(L, 3, t->ndim, fname, -1);
  bool largest = opt_bool(L, 4, fname, "largest", true);
  bool sorted = opt_bool(L, 5, fname, "sorted", true);
  lt_tensor **vbox = lt_lua_newbox(L);
  lt_tensor **ibox = lt_lua_newbox(L);
  lt_tensor *v = NULL, *i = NULL;
  LT_LUA_CHECK(L, lt_ag_topk(t, k, d, largest, sorted, 1, &v, &i), fname);
  *vbox = v;
  *ibox = i;
  return 2;
}

static int l_cumsum(lua_State *L) {
  const char *fname = "cumsum";
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  int d = lt_lua_check_dim(L, 2, t->ndim, fname);
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_ag_cumsum(t, d, box), fname);
  return 1;
}

void lt_lua_open_index(lua_State *L, int methods) {
  /* both lt.<name>(t, ...) and t:<name>(...) */
  static const luaL_Reg both[] = {
    {"split", l_split}, {"chunk", l_chunk}, {"index_select", l_index_select}, {"gather", l_gather},
    {"scatter", l_scatter}, {"scatter_", l_scatter_}, {"scatter_add", l_scatter_add}, {"scatter_add_", l_scatter_add_},
    {"index_add", l_index_add}, {"index_add_", l_index_add_}, {"sort", l_sort}, {"argsort", l_argsort},
    {"topk", l_topk}, {"cumsum", l_cumsum}, {NULL, NULL}};
  static const luaL_Reg module_only[] = {
    {"cat", l_cat}, {"concat", l_cat}, {"stack", l_stack}, {"one_hot", l_one_hot}, {NULL, NULL}};
  /* the module table is on top; every function gets the methods table as
   * upvalue 1 (split/chunk call its narrow) */
  lua_pushvalue(L, methods);
  luaL_setfuncs(L, both, 1);
  lua_pushvalue(L, methods);
  luaL_setfuncs(L, module_only, 1);
  lua_pushvalue(L, methods);
  lua_pushvalue(L, methods);
  luaL_setfuncs(L, both, 1);
  lua_pop(L, 1);
}
