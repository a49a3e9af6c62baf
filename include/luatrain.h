/* luatrain.h — luatrain as a library for programs that run their own Lua 5.4.
 *
 * libluatrain (link with -lluatrain, and Lua itself, e.g. -llua5.4) holds the
 * whole of luatrain's library: tensors, autograd, nn, optim, data, train, the
 * GPU when the build has CUDA, and the Lua half of the library built in. It
 * does not contain Lua: it uses the interpreter of the program that loads it,
 * which must be Lua 5.4. The REPL and `luatrain plot` belong to the luatrain
 * program and are not part of it.
 *
 * From C, in a state that has the standard libraries (luaL_openlibs):
 *
 *   luaL_requiref(L, "luatrain", luaopen_luatrain, 0);   // package.loaded.luatrain
 *   lua_setglobal(L, "lt");                              // optional: the global the program sets
 *
 * luaL_requiref raises a Lua error if the library cannot load (a CUDA
 * library that fails, a bad LUATRAIN_PATH), so call it under lua_pcall as
 * examples/embed/embed.c does. From Lua, the same library is the module
 * installed as lua/5.4/luatrain.so: `local lt = require "luatrain"`.
 *
 * One state or many: each state that opens luatrain gets its own `lt` table;
 * the tensors, the random generator and the GPU are shared by the process.
 *
 * On few cores, set OMP_WAIT_POLICY=passive before the program starts: the
 * luatrain program does it for itself (OpenMP reads it only when it loads). */
#ifndef LUATRAIN_H
#define LUATRAIN_H

#include <lua.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LUATRAIN_VERSION "0.1.0"

/* Lua's opener for require "luatrain": pushes the `lt` table. */
int luaopen_luatrain(lua_State *L);

#ifdef __cplusplus
}
#endif

#endif
