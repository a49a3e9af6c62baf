/* lt_lua_index.c — Lua glue for the index functions (filled in with the index work). */
#include "lt_lua.h"

void lt_lua_open_index(lua_State *L, int methods) {
  (void)L;
  (void)methods;
}
