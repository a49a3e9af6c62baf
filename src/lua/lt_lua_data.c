/* lt_lua_data.c — Lua glue for the data functions (filled in with the data work). */
#include "lt_lua.h"

void lt_lua_open_data(lua_State *L, int methods) {
  (void)L;
  (void)methods;
}
