/* lt_module.c — the opener of libluatrain, the loadable form of luatrain
 * (include/luatrain.h): what `require "luatrain"` in Debian's lua5.4, or a
 * program embedding Lua, calls. It sits above the glue (src/lua) as the host
 * does, and beside it: the host is the luatrain program, this is the same
 * library without the program.
 *
 * The library stays loaded once opened: lua_close unloads C modules, but
 * OpenMP's and OpenBLAS's worker threads, the data loader's threads and the
 * CUDA runtime keep running code or holding callbacks of this file's
 * library, so unloading it under them would crash the process at exit. */
#include <dlfcn.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "luatrain.h"
#include "lt_lua.h"

static void stay_loaded(void) {
  Dl_info info;
  if (dladdr((void *)luaopen_luatrain, &info) != 0 && info.dli_fname != NULL) {
    void *self = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    (void)self; /* one more reference that dlclose never drops: nothing to close */
  }
}

int luaopen_luatrain(lua_State *L) {
  luaL_checkversion(L);
  stay_loaded();
  if (lua_getglobal(L, "package") != LUA_TTABLE || lua_getfield(L, -1, "preload") != LUA_TTABLE)
    return luaL_error(L, "luaopen_luatrain: the Lua state has no package library (call luaL_openlibs first)");
  lua_pop(L, 2);
  lt_lua_install(L);
  /* The Lua half of the library is the module "luatrain" of package.preload
   * (or of LUATRAIN_PATH); require stores it in package.loaded, where the
   * require that called this opener stores it again. */
  lua_getglobal(L, "require");
  lua_pushstring(L, "luatrain");
  lua_call(L, 1, 1);
  return 1;
}
