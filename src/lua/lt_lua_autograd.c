/* lt_lua_autograd.c — Lua glue for the autograd functions (filled in with the autograd work). */
#include "lt_lua.h"

void lt_lua_open_autograd(lua_State *L, int methods) {
  (void)L;
  (void)methods;
}
