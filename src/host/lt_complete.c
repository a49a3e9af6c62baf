/* lt_complete.c — what the REPL's Tab key offers: the names that can follow
 * an identifier chain ("lt.nn.Con", "x:na"), looked up in a live lua_State.
 *
 * Lookups are raw and follow a metatable's __index only when it is a table,
 * so completing never runs user code (an __index function could do anything,
 * block or raise). That covers modules, class instances and userdata whose
 * methods sit in a metatable. A userdata whose __index is a function (tensors:
 * numeric indexing and properties) is completed from its metatable's
 * __methods and __getters tables instead. Not here: reading the terminal,
 * which lt_repl.c does through libedit. */
#include "lt_host.h"

#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

/* How many __index tables to follow: a class hierarchy a few levels deep. */
#define CHAIN_DEPTH 8

static const char *const keywords[] = {
  "and", "break", "do", "else", "elseif", "end", "false", "for", "function",
  "goto", "if", "in", "local", "nil", "not", "or", "repeat", "return", "then",
  "true", "until", "while", NULL
};

static int is_keyword(const char *s, size_t n) {
  for (int i = 0; keywords[i] != NULL; i++)
    if (strlen(keywords[i]) == n && memcmp(keywords[i], s, n) == 0) return 1;
  return 0;
}

static int ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int ident_char(char c) {
  return ident_start(c) || (c >= '0' && c <= '9');
}

/* A name that can be written after '.' or ':' (or alone, for a global). */
static int is_name(const char *s, size_t n) {
  if (n == 0 || !ident_start(s[0])) return 0;
  for (size_t i = 1; i < n; i++)
    if (!ident_char(s[i])) return 0;
  return !is_keyword(s, n);
}

/* Replaces the value on top by the next table to search after it: its
 * metatable's __index when that is a table. When __index is a function (a
 * userdata that also serves properties or numeric indexing, like tensors),
 * the metatable's __methods table is taken instead: luatrain's convention
 * for "the methods behind this __index". Nil when there is neither. */
static void next_in_chain(lua_State *L) {
  if (!lua_getmetatable(L, -1)) {
    lua_pop(L, 1);
    lua_pushnil(L);
    return;
  }
  lua_pushliteral(L, "__index");
  if (lua_rawget(L, -2) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_pushliteral(L, "__methods");
    if (lua_rawget(L, -2) != LUA_TTABLE) {
      lua_pop(L, 1);
      lua_pushnil(L);
    }
  }
  lua_remove(L, -2);   /* the metatable */
  lua_remove(L, -2);   /* the value */
}

/* Replaces the value on top by value[key], looked up raw through the
 * __index chain; nil when not found that way. */
static void safe_index(lua_State *L, const char *key, size_t keylen) {
  for (int depth = 0; depth < CHAIN_DEPTH && !lua_isnil(L, -1); depth++) {
    if (lua_istable(L, -1)) {
      lua_pushlstring(L, key, keylen);
      lua_rawget(L, -2);
      if (!lua_isnil(L, -1)) {
        lua_remove(L, -2);
        return;
      }
      lua_pop(L, 1);
    }
    next_in_chain(L);
  }
  lua_pop(L, 1);
  lua_pushnil(L);
}

static int is_callable(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TFUNCTION) return 1;
  if (!lua_getmetatable(L, idx)) return 0;
  lua_pushliteral(L, "__call");
  lua_rawget(L, -2);
  int callable = !lua_isnil(L, -1);
  lua_pop(L, 2);
  return callable;
}

/* Adds prefix..key to the result set (stack index `set`) for every key of
 * the table at `t` that starts with `word`; `methods` keeps only callable
 * fields, for "x:". */
static void add_keys(lua_State *L, int t, int set, const char *prefix, size_t plen,
                     const char *word, size_t wlen, int methods) {
  lua_pushnil(L);
  while (lua_next(L, t)) {
    size_t klen;
    /* lua_tolstring is safe on the key: it is already a string. */
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &klen) : NULL;
    if (k != NULL && klen >= wlen && memcmp(k, word, wlen) == 0 &&
        is_name(k, klen) && (!methods || is_callable(L, -1))) {
      lua_pushlstring(L, prefix, plen);
      lua_pushvalue(L, -3);
      lua_concat(L, 2);
      lua_pushboolean(L, 1);
      lua_rawset(L, set);
    }
    lua_pop(L, 1);
  }
}

/* Properties computed by a function __index, listed (luatrain's convention)
 * in the metatable's __getters table: offered after '.', not after ':'. */
static void add_getters(lua_State *L, int set, const char *prefix, size_t plen,
                        const char *word, size_t wlen) {
  if (!lua_getmetatable(L, -1)) return;
  lua_pushliteral(L, "__getters");
  if (lua_rawget(L, -2) == LUA_TTABLE)
    add_keys(L, lua_gettop(L), set, prefix, plen, word, wlen, 0);
  lua_pop(L, 2);
}

/* Adds the names completing `word` from the value on top and its chain of
 * __index tables (see next_in_chain), then pops the value. */
static void add_fields(lua_State *L, int set, const char *prefix, size_t plen,
                       const char *word, size_t wlen, int methods) {
  for (int depth = 0; depth < CHAIN_DEPTH && !lua_isnil(L, -1); depth++) {
    if (lua_istable(L, -1))
      add_keys(L, lua_gettop(L), set, prefix, plen, word, wlen, methods);
    if (!methods) add_getters(L, set, prefix, plen, word, wlen);
    next_in_chain(L);
  }
  lua_pop(L, 1);
}

/* Protected part: text at 1 -> a set table {candidate = true} on top. */
static int collect(lua_State *L) {
  size_t len;
  const char *text = lua_tolstring(L, 1, &len);
  lua_newtable(L);
  int set = lua_gettop(L);

  size_t sep = len;   /* position of the last '.' or ':', len when none */
  for (size_t i = len; i > 0; i--)
    if (text[i - 1] == '.' || text[i - 1] == ':') { sep = i - 1; break; }
  const char *word = sep < len ? text + sep + 1 : text;
  size_t wlen = (size_t)(text + len - word);
  for (size_t i = 0; i < wlen; i++)
    if (!ident_char(word[i])) return 1;

  lua_pushglobaltable(L);
  if (sep == len) {
    add_fields(L, set, "", 0, word, wlen, 0);
    for (int i = 0; keywords[i] != NULL; i++)
      if (strncmp(keywords[i], word, wlen) == 0) {
        lua_pushstring(L, keywords[i]);
        lua_pushboolean(L, 1);
        lua_rawset(L, set);
      }
    return 1;   /* add_fields popped the globals: the set is on top */
  }
  /* Resolve the chain before the separator: names joined by '.'; a ':' can
   * only be the last separator. */
  size_t start = 0;
  for (size_t i = 0; i <= sep; i++) {
    if (i < sep && text[i] != '.') {
      if (text[i] == ':') break;
      continue;
    }
    if (!is_name(text + start, i - start)) break;
    safe_index(L, text + start, i - start);
    if (lua_isnil(L, -1)) break;
    if (i == sep) {
      add_fields(L, set, text, sep + 1, word, wlen, text[sep] == ':');
      break;
    }
    start = i + 1;
  }
  lua_settop(L, set);
  return 1;
}

static int compare(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

char **lt_complete_candidates(lua_State *L, const char *text, size_t *count) {
  *count = 0;
  int top = lua_gettop(L);
  if (!lua_checkstack(L, 8)) return NULL;
  lua_pushcfunction(L, collect);
  lua_pushstring(L, text);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_istable(L, -1)) {
    lua_settop(L, top);
    return NULL;
  }
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    n++;
    lua_pop(L, 1);
  }
  char **list = n > 0 ? calloc(n, sizeof *list) : NULL;
  size_t got = 0;
  if (list != NULL) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      /* The set's keys are strings the collector made; no conversion. */
      if (got < n && (list[got] = strdup(lua_tostring(L, -2))) != NULL) got++;
      lua_pop(L, 1);
    }
  }
  lua_settop(L, top);
  if (got < n || n == 0) {   /* a failed strdup offers nothing, not a partial list */
    lt_complete_free(list, got);
    return NULL;
  }
  qsort(list, n, sizeof *list, compare);
  *count = n;
  return list;
}

void lt_complete_free(char **list, size_t count) {
  if (list == NULL) return;
  for (size_t i = 0; i < count; i++) free(list[i]);
  free(list);
}
