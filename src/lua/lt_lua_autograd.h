/* lt_lua_autograd.h — the contract between the glue that runs the autograd
 * engine from Lua (lt_lua_autograd.c: t:backward, lt.autograd.backward,
 * lt.autograd.grad) and the native half of lt.autograd.Function
 * (lt_lua_autograd_function.c), whose backward is a Lua function the engine
 * calls: that function runs on the coroutine that started the engine, and
 * an error it raises reaches that caller with its whole text (tracebacks
 * are longer than what lt_error_set keeps). Not a public API. */
#ifndef LT_LUA_AUTOGRAD_H
#define LT_LUA_AUTOGRAD_H

#include "lt_lua.h"

/* Before a run of the engine from L: Lua backward functions will run on L,
 * and no error of an earlier run is pending. Returns the state to give
 * lt_lua_engine_leave (runs nest: a Lua backward may call backward). */
lua_State *lt_lua_engine_enter(lua_State *L);
void lt_lua_engine_leave(lua_State *prev);
/* The Lua state of the engine run in progress on this thread, NULL when
 * none runs. */
lua_State *lt_lua_engine_state(void);

/* --- hooks on the run (lt_lua_grad_hooks.c) ----------------------------------------- */
/* The count of callbacks queued so far: taken before a run, given to
 * lt_lua_engine_finish after it. */
int lt_lua_engine_queue_mark(lua_State *L);
/* After a run of the engine that succeeded: raises the first error a
 * post-accumulate-grad hook raised during the run, else runs the callbacks
 * queued during the run (lt.autograd.queue_callback), in order, including
 * those they queue. fname names the caller in errors. */
void lt_lua_engine_finish(lua_State *L, int mark, const char *fname);
/* Drops what a failed run left: its queued callbacks and hook error. */
void lt_lua_engine_discard(lua_State *L, int mark);
/* Raises the engine's failure: the Lua backward's own message when one
 * failed, else the error recorded below (lt_lua_raise). Never returns. */
int lt_lua_raise_engine_error(lua_State *L, const char *fname);

#endif
