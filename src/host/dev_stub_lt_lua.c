/* dev_stub_lt_lua.c — DEV STUB, DELETE when src/lua/lt_lua.c exists.
 * Stands in for lt_lua_setup so the host builds and its tests run: sets a
 * global `lt` table with one function. */
#include <lauxlib.h>
#include <lua.h>

void lt_lua_setup(lua_State *L);

static int stub_help(lua_State *L) {
  lua_pushliteral(L, "dev stub: no library");
  return 1;
}

void lt_lua_setup(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, stub_help);
  lua_setfield(L, -2, "help");
  lua_setglobal(L, "lt");
}
