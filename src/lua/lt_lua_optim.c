/* lt_lua_optim.c — Lua glue for the optim functions (filled in with the optim work). */
#include "lt_lua.h"

void lt_lua_open_optim(lua_State *L, int methods) {
  (void)L;
  (void)methods;
}
