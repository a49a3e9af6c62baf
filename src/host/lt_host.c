/* lt_host.c — running Lua code for the luatrain program: protected calls
 * with a traceback, Ctrl-C as a Lua error, and error reporting.
 *
 * Not the REPL (lt_repl.c) and not option parsing (src/main.c). */
#include "lt_host.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

/* The state a SIGINT should stop. Only lua_sethook touches it from the
 * handler: Lua documents that call as safe to make asynchronously. */
static lua_State *volatile interrupt_L;

static void interrupt_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  lua_pushliteral(L, "interrupted!");
  lua_error(L);
}

/* Raising from a signal handler is not allowed, so the handler only asks Lua
 * to call interrupt_hook at its next opportunity (next call, return or
 * instruction). SA_RESETHAND restores the default action, so a second Ctrl-C
 * while a long C function holds control ends the process. */
static void on_sigint(int sig) {
  (void)sig;
  lua_sethook(interrupt_L, interrupt_hook,
              LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static int message_handler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      msg = lua_tostring(L, -1);
    else
      msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

int lt_host_call(lua_State *L, int narg, int nres) {
  int base = lua_gettop(L) - narg;   /* where the function is */
  lua_pushcfunction(L, message_handler);
  lua_insert(L, base);

  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  interrupt_L = L;
  sigaction(SIGINT, &sa, &old);

  int status = lua_pcall(L, narg, nres, base);

  sigaction(SIGINT, &old, NULL);
  /* A Ctrl-C that came as the call was ending must not hit the next one. */
  if (lua_gethook(L) == interrupt_hook) lua_sethook(L, NULL, 0, 0);
  lua_remove(L, base);
  return status;
}

int lt_host_report(lua_State *L, int status) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (msg == NULL) msg = "(error object is not a string)";
    fflush(stdout);   /* keep the order of what was printed before */
    fprintf(stderr, "%s: %s\n", LT_HOST_PROGNAME, msg);
    fflush(stderr);
    lua_pop(L, 1);
  }
  return status;
}
