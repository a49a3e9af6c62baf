/* embed.c — luatrain inside a C program that runs its own Lua 5.4: open
 * luatrain in a fresh state, run one training step given as a string of Lua
 * (or the Lua file named on the command line), read the loss back in C.
 *
 *   cc embed.c -I/usr/include/lua5.4 -lluatrain -llua5.4 -o embed && ./embed */
#include <stdio.h>

#include <lauxlib.h>
#include <lualib.h>
#include <luatrain.h>

static const char *step =
  "lt.manual_seed(1)\n"
  "local model = lt.nn.Sequential(lt.nn.Linear(4, 8), lt.nn.ReLU(), lt.nn.Linear(8, 3))\n"
  "local opt = lt.optim.SGD(model:parameters(), {lr = 0.1})\n"
  "local x, y = lt.randn(16, 4), lt.randint(1, 4, {16})\n"
  "local loss = lt.nn.functional.cross_entropy(model(x), y)\n"
  "loss:backward()\n"
  "opt:step()\n"
  "return loss:item()\n";

static int open_luatrain(lua_State *L) {
  luaL_openlibs(L);
  luaL_requiref(L, "luatrain", luaopen_luatrain, 0);
  lua_setglobal(L, "lt");
  return 0;
}

int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  if (L == NULL) return 1;
  lua_pushcfunction(L, open_luatrain);
  int status = lua_pcall(L, 0, 0, 0);
  if (status == LUA_OK) status = argc > 1 ? luaL_loadfile(L, argv[1]) : luaL_loadstring(L, step);
  if (status == LUA_OK) status = lua_pcall(L, 0, 1, 0);
  if (status != LUA_OK) {
    fprintf(stderr, "embed: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return 1;
  }
  printf("loss after one step: %.17g\n", lua_tonumber(L, -1));
  lua_close(L);
  return 0;
}
