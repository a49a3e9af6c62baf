/* lt_lua_io.c — lt.save / lt.load (safetensors checkpoints) and lt.json.
 *
 * lt.save(path, value) writes every tensor found in the (nested) table
 * `value` under its dotted path ("model.layer1.0.conv1.weight") and keeps the
 * table's shape and its non-tensor leaves in the metadata key "luatrain", as
 * JSON in which strings are tagged so that nothing is ambiguous:
 *   Lua integer 42 -> "#i42" (int64 exact), tensor -> "#t<name>",
 *   a string starting with '#' gets one more '#', other strings as they are,
 *   floats as "#f" and 17 significant digits ("#f0.10000000000000001",
 *   "#fnan", "#finf", "#f-inf"), booleans as JSON, tables with keys 1..n as arrays, others as objects (integer
 *   keys tagged like integer values).
 * lt.load(path) rebuilds that table; a file without the "luatrain" key (one
 * written by PyTorch) loads as a flat table name -> tensor. The file is
 * replaced atomically (src/io/lt_atomic_file.h); after each successful save
 * the temporary files that killed writers of the same path left behind are
 * removed (lt_atomic_file_remove_stale). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "lt_atomic_file.h"
#include "lt_lua.h"
#include "lt_safetensors.h"

/* --- JSON <-> Lua (plain, for lt.json) ---------------------------------------------- */

static const char json_null_key = 0; /* address used as the lt.json.null sentinel */

static bool is_array(lua_State *L, int idx, lua_Integer *n) {
  lua_Integer count = 0, max = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) { lua_pop(L, 1); return false; }
    if (lua_tointeger(L, -1) > max) max = lua_tointeger(L, -1);
    count++;
  }
  *n = count;
  return count == max;
}

/* Converts the Lua value at idx; returns NULL after pushing an error message. */
static cJSON *lua_to_json(lua_State *L, int idx, int depth) {
  idx = lua_absindex(L, idx);
  if (depth > 100) { lua_pushstring(L, "table nested too deeply (or a cycle)"); return NULL; }
  switch (lua_type(L, idx)) {
    case LUA_TNIL: return cJSON_CreateNull();
    case LUA_TBOOLEAN: return cJSON_CreateBool(lua_toboolean(L, idx));
    case LUA_TNUMBER: {
      if (lua_isinteger(L, idx)) { /* exact, even beyond 2^53 (a double would round) */
        cJSON *j = cJSON_CreateRaw(lua_pushfstring(L, "%I", lua_tointeger(L, idx)));
        lua_pop(L, 1);
        return j;
      }
      double v = lua_tonumber(L, idx);
      if (!isfinite(v)) { lua_pushstring(L, "JSON cannot represent nan or inf"); return NULL; }
      return cJSON_CreateNumber(v);
    }
    case LUA_TSTRING: return cJSON_CreateString(lua_tostring(L, idx));
    case LUA_TLIGHTUSERDATA:
      if (lua_touserdata(L, idx) == &json_null_key) return cJSON_CreateNull();
      break;
    case LUA_TTABLE: {
      lua_Integer n;
      luaL_checkstack(L, 6, "json");
      if (is_array(L, idx, &n) && n > 0) {
        cJSON *arr = cJSON_CreateArray();
        for (lua_Integer i = 1; i <= n; i++) {
          lua_geti(L, idx, i);
          cJSON *item = lua_to_json(L, -1, depth + 1);
          if (!item) { cJSON_Delete(arr); lua_remove(L, -2); return NULL; }
          lua_pop(L, 1);
          cJSON_AddItemToArray(arr, item);
        }
        return arr;
      }
      cJSON *obj = cJSON_CreateObject();
      lua_pushnil(L);
      while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING && lua_type(L, -2) != LUA_TNUMBER) {
          lua_pop(L, 2);
          cJSON_Delete(obj);
          lua_pushstring(L, "JSON object keys must be strings or numbers");
          return NULL;
        }
        lua_pushvalue(L, -2);
        const char *k = lua_tostring(L, -1); /* converts a copy, not the key */
        cJSON *item = lua_to_json(L, -2, depth + 1);
        if (!item) { lua_remove(L, -2); lua_remove(L, -2); lua_remove(L, -2); cJSON_Delete(obj); return NULL; }
        cJSON_AddItemToObject(obj, k, item);
        lua_pop(L, 2);
      }
      return obj;
    }
    default: break;
  }
  lua_pushfstring(L, "cannot encode a %s as JSON", luaL_typename(L, idx));
  return NULL;
}

static void json_to_lua(lua_State *L, const cJSON *j, int depth) {
  luaL_checkstack(L, 4, "json");
  if (depth > 200) luaL_error(L, "json.decode: nested too deeply");
  if (cJSON_IsNull(j)) lua_pushlightuserdata(L, (void *)&json_null_key);
  else if (cJSON_IsBool(j)) lua_pushboolean(L, cJSON_IsTrue(j));
  else if (cJSON_IsNumber(j)) {
    double v = j->valuedouble;
    if (v == floor(v) && fabs(v) < 9007199254740992.0) lua_pushinteger(L, (lua_Integer)v);
    else lua_pushnumber(L, v);
  } else if (cJSON_IsString(j)) lua_pushstring(L, j->valuestring);
  else if (cJSON_IsArray(j)) {
    lua_createtable(L, cJSON_GetArraySize(j), 0);
    lua_Integer i = 1;
    for (const cJSON *c = j->child; c; c = c->next) {
      json_to_lua(L, c, depth + 1);
      lua_rawseti(L, -2, i++);
    }
  } else {
    lua_newtable(L);
    for (const cJSON *c = j->child; c; c = c->next) {
      json_to_lua(L, c, depth + 1);
      lua_setfield(L, -2, c->string);
    }
  }
}

/* cJSON allocations are freed on every path: errors are raised only after. */
typedef struct { cJSON *j; } json_holder;

static int json_holder_gc(lua_State *L) {
  json_holder *h = lua_touserdata(L, 1);
  if (h->j) cJSON_Delete(h->j);
  h->j = NULL;
  return 0;
}

static json_holder *new_json_holder(lua_State *L) {
  json_holder *h = lua_newuserdatauv(L, sizeof *h, 0);
  h->j = NULL;
  lua_newtable(L);
  lua_pushcfunction(L, json_holder_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  return h;
}

static int l_json_encode(lua_State *L) {
  static const char *const allowed[] = {"indent", NULL};
  bool pretty = false;
  lt_lua_check_opts(L, 2, "json.encode", allowed);
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_getfield(L, 2, "indent");
    pretty = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  lua_settop(L, 1);
  cJSON *j = lua_to_json(L, 1, 0);
  if (!j) return lt_lua_argerror(L, 1, "json.encode", "%s", lua_tostring(L, -1));
  char *s = pretty ? cJSON_Print(j) : cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  if (!s) return luaL_error(L, "json.encode: out of memory");
  lua_pushstring(L, s); /* may raise on OOM: then s leaks, acceptably rare */
  free(s);
  return 1;
}

static int l_json_decode(lua_State *L) {
  if (lua_type(L, 1) != LUA_TSTRING)
    return lt_lua_argerror(L, 1, "json.decode", "expected a string, got %s", luaL_typename(L, 1));
  size_t len;
  const char *s = lua_tolstring(L, 1, &len);
  /* the holder exists before the tree, so `j` is freed even if building the
   * Lua value (or anything after the parse) raises */
  json_holder *h = new_json_holder(L);
  const char *end = NULL;
  h->j = cJSON_ParseWithLengthOpts(s, len, &end, 0);
  if (!h->j) {
    size_t at = end && end >= s ? (size_t)(end - s) : 0;
    return lt_lua_argerror(L, 1, "json.decode", "invalid JSON near byte %d", (int)at + 1);
  }
  size_t at = end && end >= s ? (size_t)(end - s) : len;
  while (at < len && (s[at] == ' ' || s[at] == '\t' || s[at] == '\n' || s[at] == '\r')) at++;
  if (at < len)
    return lt_lua_argerror(L, 1, "json.decode", "unexpected text after the JSON value at byte %d", (int)at + 1);
  json_to_lua(L, h->j, 0);
  return 1;
}

/* --- save ------------------------------------------------------------------------------ */

typedef struct {
  lt_safetensors_tensor *tensors;
  size_t n, cap;
  char **names;
} save_list;

static void save_list_free(save_list *s) {
  for (size_t i = 0; i < s->n; i++) free(s->names[i]);
  free(s->names);
  free(s->tensors);
}

/* Userdata holding the save list, so a Lua error anywhere frees it. */
static int save_list_gc(lua_State *L) {
  save_list *s = lua_touserdata(L, 1);
  save_list_free(s);
  memset(s, 0, sizeof *s);
  return 0;
}

static const char *tag_string(lua_State *L, const char *s) {
  if (s[0] == '#') return lua_pushfstring(L, "#%s", s);
  return lua_pushstring(L, s);
}

/* Orders table keys for a deterministic file: integers first, then strings. */
static int key_less(lua_State *L) {
  int ta = lua_type(L, 1), tb = lua_type(L, 2);
  if (ta != tb) { lua_pushboolean(L, ta == LUA_TNUMBER); return 1; }
  lua_pushboolean(L, lua_compare(L, 1, 2, LUA_OPLT));
  return 1;
}

/* Walks value at idx; appends tensors (host-contiguous copies are kept in
 * the Lua table at `keep`); returns a cJSON tree, or NULL with an error message
 * pushed. `prefix` is the dotted path so far. */
static cJSON *save_walk(lua_State *L, int idx, const char *prefix, save_list *sl, int keep, int depth) {
  idx = lua_absindex(L, idx);
  luaL_checkstack(L, 8, "save");
  if (depth > 64) { lua_pushfstring(L, "table at '%s' nested too deeply (or a cycle)", prefix); return NULL; }
  lt_tensor *t = lt_lua_to_tensor(L, idx);
  if (t) {
    if (!*prefix) { lua_pushstring(L, "a tensor needs a name: save a table of tensors"); return NULL; }
    lt_tensor **box = lt_lua_newbox(L);
    if (lt_op_host_contiguous(t, box) != LT_OK) { lua_pop(L, 1); lua_pushfstring(L, "%s", lt_error_message()); return NULL; }
    lua_rawseti(L, keep, (lua_Integer)lua_rawlen(L, keep) + 1);
    if (sl->n == sl->cap) {
      size_t cap = sl->cap ? sl->cap * 2 : 64;
      lt_safetensors_tensor *nt = realloc(sl->tensors, cap * sizeof *nt);
      if (!nt) { lua_pushstring(L, "out of memory"); return NULL; }
      sl->tensors = nt;
      char **nn = realloc(sl->names, cap * sizeof *nn);
      if (!nn) { lua_pushstring(L, "out of memory"); return NULL; }
      sl->names = nn;
      sl->cap = cap;
    }
    char *name = strdup(prefix);
    if (!name) { lua_pushstring(L, "out of memory"); return NULL; }
    lt_tensor *h = *box;
    sl->names[sl->n] = name;
    sl->tensors[sl->n] = (lt_safetensors_tensor){name, h->dtype, h->ndim, h->shape, lt_tensor_data(h),
                                                  (size_t)lt_tensor_numel(h) * lt_dtype_size(h->dtype)};
    sl->n++;
    const char *tag = lua_pushfstring(L, "#t%s", prefix);
    cJSON *j = cJSON_CreateString(tag);
    lua_pop(L, 1);
    return j;
  }
  switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN: return cJSON_CreateBool(lua_toboolean(L, idx));
    case LUA_TNUMBER: {
      if (lua_isinteger(L, idx)) {
        const char *s = lua_pushfstring(L, "#i%I", lua_tointeger(L, idx));
        cJSON *j = cJSON_CreateString(s);
        lua_pop(L, 1);
        return j;
      }
      /* tagged text with 17 significant digits: cJSON's own number
       * printing does not round-trip every double exactly */
      double v = lua_tonumber(L, idx);
      char buf[40];
      if (isnan(v)) snprintf(buf, sizeof buf, "#fnan");
      else if (isinf(v)) snprintf(buf, sizeof buf, v > 0 ? "#finf" : "#f-inf");
      else snprintf(buf, sizeof buf, "#f%.17g", v);
      return cJSON_CreateString(buf);
    }
    case LUA_TSTRING: {
      cJSON *j = cJSON_CreateString(tag_string(L, lua_tostring(L, idx)));
      lua_pop(L, 1);
      return j;
    }
    case LUA_TTABLE: break;
    default:
      lua_pushfstring(L, "cannot save a %s (at '%s'): only tensors, numbers, strings, booleans and tables",
                      luaL_typename(L, idx), *prefix ? prefix : "top level");
      return NULL;
  }
  /* a table: sorted keys for a deterministic file */
  lua_Integer n;
  bool arr = is_array(L, idx, &n) && n > 0;
  lua_newtable(L); /* key list */
  int keys = lua_gettop(L);
  lua_Integer nk = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    int kt = lua_type(L, -1);
    if (kt != LUA_TSTRING && !(kt == LUA_TNUMBER && lua_isinteger(L, -1))) {
      lua_pop(L, 2);
      lua_pushfstring(L, "table keys must be strings or integers (at '%s')", *prefix ? prefix : "top level");
      return NULL;
    }
    lua_pushvalue(L, -1);
    lua_rawseti(L, keys, ++nk);
  }
  if (!arr) {
    lua_getglobal(L, "table");
    lua_getfield(L, -1, "sort");
    lua_pushvalue(L, keys);
    lua_pushcfunction(L, key_less);
    lua_call(L, 2, 0);
    lua_pop(L, 1);
  }
  cJSON *out = arr ? cJSON_CreateArray() : cJSON_CreateObject();
  for (lua_Integer i = 1; i <= (arr ? n : nk); i++) {
    if (arr) lua_pushinteger(L, i);
    else lua_rawgeti(L, keys, i);
    int k = lua_gettop(L);
    const char *kstr;
    if (lua_type(L, k) == LUA_TSTRING) kstr = lua_pushstring(L, lua_tostring(L, k));
    else kstr = lua_pushfstring(L, "%I", lua_tointeger(L, k));
    const char *path = *prefix ? lua_pushfstring(L, "%s.%s", prefix, kstr) : lua_pushstring(L, kstr);
    lua_pushvalue(L, k);
    lua_gettable(L, idx);
    cJSON *child = save_walk(L, -1, path, sl, keep, depth + 1);
    if (!child) {
      lua_replace(L, keys); /* keep the message, drop the rest */
      lua_settop(L, keys);
      cJSON_Delete(out);
      return NULL;
    }
    if (arr) {
      cJSON_AddItemToArray(out, child);
    } else {
      const char *jk = lua_type(L, k) == LUA_TSTRING ? tag_string(L, lua_tostring(L, k))
                                                      : lua_pushfstring(L, "#i%I", lua_tointeger(L, k));
      cJSON_AddItemToObject(out, jk, child);
      lua_pop(L, 1);
    }
    lua_settop(L, k - 1);
  }
  lua_settop(L, keys - 1);
  return out;
}

static int l_save(lua_State *L) {
  if (lua_type(L, 1) != LUA_TSTRING)
    return lt_lua_argerror(L, 1, "save", "expected a file name, got %s", luaL_typename(L, 1));
  const char *path = lua_tostring(L, 1);
  if (lt_lua_to_tensor(L, 2))
    return lt_lua_argerror(L, 2, "save", "expected a table of tensors and values, got a tensor (name it: {weight = t})");
  if (lua_type(L, 2) != LUA_TTABLE)
    return lt_lua_argerror(L, 2, "save", "expected a table of tensors and values, got %s", luaL_typename(L, 2));
  lua_settop(L, 2);
  lua_newtable(L); /* 3: keeps host copies alive */
  save_list *sl = lua_newuserdatauv(L, sizeof *sl, 0); /* 4 */
  memset(sl, 0, sizeof *sl);
  lua_newtable(L);
  lua_pushcfunction(L, save_list_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  cJSON *tree = save_walk(L, 2, "", sl, 3, 0);
  if (!tree) return lt_lua_argerror(L, 2, "save", "%s", lua_tostring(L, -1));
  char *json = cJSON_PrintUnformatted(tree);
  cJSON_Delete(tree);
  if (!json) return luaL_error(L, "save: out of memory");
  lt_safetensors_kv meta[2] = {{"format", "pt"}, {"luatrain", json}};
  lt_status st = lt_safetensors_write(path, sl->tensors, sl->n, meta, 2);
  free(json);
  LT_LUA_CHECK_ARG(L, st, "save", 2);
  lt_atomic_file_remove_stale(path);
  return 0;
}

/* --- load ------------------------------------------------------------------------------ */

typedef struct { lt_safetensors *st; } st_holder;

static int st_holder_gc(lua_State *L) {
  st_holder *h = lua_touserdata(L, 1);
  if (h->st) lt_safetensors_free(h->st);
  h->st = NULL;
  return 0;
}

/* Pushes the tensor for entry e on `dev`; a failure names the file and the
 * tensor. */
static void push_entry(lua_State *L, const lt_safetensors_entry *e, lt_device dev, const char *path) {
  lt_tensor **box = lt_lua_newbox(L);
  lt_status s = lt_tensor_empty(e->ndim, e->shape, e->dtype, lt_cpu_device(), box);
  if (s == LT_OK && e->nbytes) memcpy(lt_tensor_data(*box), e->data, e->nbytes);
  if (s == LT_OK && dev.type != LT_CPU) {
    lt_tensor *h = *box;
    lt_tensor **dbox = lt_lua_newbox(L);
    s = lt_op_to(h, h->dtype, dev, dbox);
    lua_remove(L, -2);
  }
  if (s != LT_OK) {
    char why[512];
    snprintf(why, sizeof why, "%s", lt_error_message());
    LT_LUA_CHECK(L, lt_error_set(s, 0, "'%s': tensor '%s': %s", path, e->name, why), "load");
  }
}

/* The digits of a "#i" tag: an optional '-' and decimal digits, in range. */
static bool parse_int_tag(const char *s, lua_Integer *out) {
  const char *p = s + (*s == '-');
  if (*p < '0' || *p > '9') return false;
  errno = 0;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (*end || errno == ERANGE) return false;
  *out = (lua_Integer)v;
  return true;
}

/* Rebuilds a value from the tagged JSON tree; tensors from the table at `tensors`. */
static void load_value(lua_State *L, const cJSON *j, int tensors, const char *path) {
  luaL_checkstack(L, 6, "load");
  if (cJSON_IsBool(j)) { lua_pushboolean(L, cJSON_IsTrue(j)); return; }
  if (cJSON_IsNumber(j)) { lua_pushnumber(L, j->valuedouble); return; }
  if (cJSON_IsString(j)) {
    const char *s = j->valuestring;
    if (s[0] != '#') { lua_pushstring(L, s); return; }
    if (s[1] == '#') { lua_pushstring(L, s + 1); return; }
    if (s[1] == 'i') {
      lua_Integer v;
      if (!parse_int_tag(s + 2, &v)) luaL_error(L, "load: '%s' is corrupt: bad integer '%s' in the luatrain metadata", path, s);
      lua_pushinteger(L, v);
      return;
    }
    if (s[1] == 'f') {
      if (strcmp(s + 2, "nan") == 0) lua_pushnumber(L, NAN);
      else if (strcmp(s + 2, "inf") == 0) lua_pushnumber(L, INFINITY);
      else if (strcmp(s + 2, "-inf") == 0) lua_pushnumber(L, -INFINITY);
      else {
        char *end;
        double v = strtod(s + 2, &end);
        if (end == s + 2 || *end) luaL_error(L, "load: '%s' is corrupt: bad number '%s' in the luatrain metadata", path, s);
        lua_pushnumber(L, v);
      }
      return;
    }
    if (s[1] == 't') {
      if (lua_getfield(L, tensors, s + 2) == LUA_TNIL)
        luaL_error(L, "load: '%s' is corrupt: metadata names tensor '%s', which the file does not hold", path, s + 2);
      return;
    }
    luaL_error(L, "load: '%s' is corrupt: bad tag in metadata value '%s'", path, s);
  }
  if (cJSON_IsArray(j)) {
    lua_newtable(L);
    lua_Integer i = 1;
    for (const cJSON *c = j->child; c; c = c->next) {
      load_value(L, c, tensors, path);
      lua_rawseti(L, -2, i++);
    }
    return;
  }
  if (cJSON_IsObject(j)) {
    lua_newtable(L);
    for (const cJSON *c = j->child; c; c = c->next) {
      const char *k = c->string;
      if (k[0] == '#' && k[1] == 'i') {
        lua_Integer v;
        if (!parse_int_tag(k + 2, &v)) luaL_error(L, "load: '%s' is corrupt: bad integer key '%s' in the luatrain metadata", path, k);
        lua_pushinteger(L, v);
      } else if (k[0] == '#' && k[1] != '#') {
        luaL_error(L, "load: '%s' is corrupt: bad tag in metadata key '%s'", path, k);
      } else {
        lua_pushstring(L, k[0] == '#' ? k + 1 : k);
      }
      /* cJSON keeps repeated keys; one value would silently win */
      lua_pushvalue(L, -1);
      if (lua_rawget(L, -3) != LUA_TNIL)
        luaL_error(L, "load: '%s' is corrupt: key '%s' appears twice in one object of the luatrain metadata", path, k);
      lua_pop(L, 1);
      load_value(L, c, tensors, path);
      lua_rawset(L, -3);
    }
    return;
  }
  luaL_error(L, "load: '%s' is corrupt: unexpected value in the luatrain metadata", path);
}

static int l_load(lua_State *L) {
  static const char *const allowed[] = {"map_location", NULL};
  if (lua_type(L, 1) != LUA_TSTRING)
    return lt_lua_argerror(L, 1, "load", "expected a file name, got %s", luaL_typename(L, 1));
  const char *path = lua_tostring(L, 1);
  lt_device dev = lt_cpu_device();
  if (!lua_isnoneornil(L, 2)) {
    lt_lua_check_opts(L, 2, "load", allowed);
    if (lua_getfield(L, 2, "map_location") != LUA_TNIL) {
      if (lua_type(L, -1) != LUA_TSTRING || lt_device_parse(lua_tostring(L, -1), &dev) != LT_OK)
        return lt_lua_argerror(L, 2, "load", "map_location must be 'cpu', 'cuda' or 'cuda:N'");
    }
    lua_pop(L, 1);
  }
  lua_settop(L, 2);
  st_holder *h = lua_newuserdatauv(L, sizeof *h, 0); /* 3 */
  h->st = NULL;
  lua_newtable(L);
  lua_pushcfunction(L, st_holder_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  LT_LUA_CHECK(L, lt_safetensors_read(path, &h->st), "load");
  lua_newtable(L); /* 4: name -> tensor */
  for (size_t i = 0; i < h->st->n; i++) {
    push_entry(L, &h->st->entries[i], dev, path);
    lua_setfield(L, 4, h->st->entries[i].name);
  }
  const char *meta = lt_safetensors_meta_get(h->st, "luatrain");
  if (!meta) { lua_settop(L, 4); return 1; }
  json_holder *jh = new_json_holder(L); /* 5 */
  jh->j = cJSON_Parse(meta);
  if (!jh->j) return luaL_error(L, "load: '%s' is corrupt: its luatrain metadata is not valid JSON", path);
  load_value(L, jh->j, 4, path);
  return 1;
}

/* lt.isatty(fd): whether a file descriptor (1 = stdout) is a terminal. */
static int l_isatty(lua_State *L) {
  int64_t fd = lt_lua_check_integer(L, 1, "isatty", "file descriptor");
  lua_pushboolean(L, fd >= 0 && fd < 1024 && isatty((int)fd));
  return 1;
}

void lt_lua_open_io(lua_State *L, int methods) {
  (void)methods;
  lua_pushcfunction(L, l_isatty);
  lua_setfield(L, -2, "isatty");
  lua_pushcfunction(L, l_save);
  lua_setfield(L, -2, "save");
  lua_pushcfunction(L, l_load);
  lua_setfield(L, -2, "load");
  lua_newtable(L);
  lua_pushcfunction(L, l_json_encode);
  lua_setfield(L, -2, "encode");
  lua_pushcfunction(L, l_json_decode);
  lua_setfield(L, -2, "decode");
  lua_pushlightuserdata(L, (void *)&json_null_key);
  lua_setfield(L, -2, "null");
  lua_setfield(L, -2, "json");
}
