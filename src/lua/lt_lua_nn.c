/* lt_lua_nn.c — Lua glue for the nn functions (filled in with the nn work). */
#include "lt_lua.h"

void lt_lua_open_nn(lua_State *L, int methods) {
  (void)L;
  (void)methods;
}
