/* lt_lua.h — what the Lua glue files share: the tensor userdata, argument
 * parsing in Lua's 1-based conventions, and raising errors recorded by the
 * core. This is the only C that touches lua_State (with src/main.c).
 *
 * A tensor userdata is a box holding one lt_tensor reference (or NULL before
 * an op filled it, or after __close). To never leak on a Lua error, an op's
 * result box is pushed first (lt_lua_newbox) and the op writes into it. */
#ifndef LT_LUA_H
#define LT_LUA_H

#include <lauxlib.h>
#include <lua.h>

#include "lt_ops.h"

#define LT_TENSOR_MT "luatrain.Tensor"

/* Makes luatrain requirable in L: registers the native module
 * "luatrain.core" and the embedded Lua library in package.preload (or, with
 * LUATRAIN_PATH set, puts that folder first on package.path). Needs the
 * package library; loads nothing yet. */
void lt_lua_install(lua_State *L);
/* lt_lua_install, then `lt = require "luatrain"` as a global: the host's
 * state. Raises a Lua error if the library fails to load. */
void lt_lua_setup(lua_State *L);
/* The native module's opener (registered in package.preload). */
int luaopen_luatrain_core(lua_State *L);

/* --- tensors ------------------------------------------------------------------- */
/* Pushes an empty tensor box and returns the slot the op should fill. */
lt_tensor **lt_lua_newbox(lua_State *L);
/* Pushes a tensor, taking over the caller's reference (t may not be NULL). */
void lt_lua_push_tensor(lua_State *L, lt_tensor *t);
/* The tensor at idx, or a "bad argument #idx to 'fname' (expected a tensor,
 * got number)" error. */
lt_tensor *lt_lua_check_tensor(lua_State *L, int idx, const char *fname);
lt_tensor *lt_lua_to_tensor(lua_State *L, int idx); /* NULL if not a tensor */

/* --- errors ---------------------------------------------------------------------
 * Every error a glue function raises has the standard form, after the
 * caller's position (luaL_where): "bad argument #N to 'fname' (msg)" when an
 * argument is to blame, "fname: msg" otherwise. Failures recorded by the
 * layers below (an lt_status, with lt_error_message and lt_error_arg) reach
 * Lua one way, through lt_lua_raise_at: LT_LUA_CHECK blames the argument
 * the core named; LT_LUA_CHECK_ARG also blames, for an argument error that
 * names none (the data and io layers never do), the argument the glue took
 * the data from; a glue function that numbers its arguments otherwise than
 * the core maps lt_error_arg() and calls lt_lua_raise_at itself. Problems
 * the glue finds on its own are raised with lt_lua_argerror, or with
 * luaL_error(L, "fname: ...") when no argument is to blame. */

/* Raises "bad argument #arg to 'fname' (msg)" (msg formatted). Never returns. */
int lt_lua_argerror(lua_State *L, int arg, const char *fname, const char *fmt, ...);
/* Raises the failure recorded below: as argument `arg`, or "fname: msg"
 * when arg is 0. Never returns. */
int lt_lua_raise_at(lua_State *L, const char *fname, int arg);
/* Pushes the message lt_lua_raise_at would raise, without raising it (for
 * glue that raises an error value carrying more than the message). */
void lt_lua_push_failure(lua_State *L, const char *fname, int arg);
/* lt_lua_raise_at with the argument the core named (lt_error_arg()). */
int lt_lua_raise(lua_State *L, const char *fname);
/* The argument to blame for the failure recorded below: the one it names,
 * else `arg` for an LT_ERR_ARG failure, else 0. */
int lt_lua_blame(int arg);
/* Raise unless st == LT_OK. */
#define LT_LUA_CHECK(L, st, fname) do { if ((st) != LT_OK) lt_lua_raise((L), (fname)); } while (0)
#define LT_LUA_CHECK_ARG(L, st, fname, arg) \
  do { if ((st) != LT_OK) lt_lua_raise_at((L), (fname), lt_lua_blame(arg)); } while (0)

/* --- arguments ------------------------------------------------------------------ */
/* An integer argument (a float with an integral value is accepted). */
int64_t lt_lua_check_integer(lua_State *L, int idx, const char *fname, const char *what);
/* A 1-based (or negative) dim of a tensor with `ndim` dims -> 0-based. */
int lt_lua_check_dim(lua_State *L, int idx, int ndim, const char *fname);
/* The same for a value at stack slot `slot` that came from argument `arg`
 * (a dim inside a table argument): errors name `arg`. */
int lt_lua_check_dim_at(lua_State *L, int slot, int arg, int ndim, const char *fname);
/* A shape given as integers from idx on (stops at the first non-number) or
 * as one table; `allow_minus1` admits -1 entries (view/reshape/expand).
 * Returns the index after the shape arguments. */
int lt_lua_check_shape(lua_State *L, int idx, const char *fname, bool allow_minus1, int *ndim, int64_t *shape);
/* dtype names: "float32", "float", "float64", "double", "int64", "long",
 * "int32", "int", "uint8", "byte", "bool", "bfloat16", "float16", "half". */
lt_dtype lt_lua_check_dtype(lua_State *L, int idx, const char *fname);
bool lt_lua_parse_dtype(const char *name, lt_dtype *out);
/* Options table at idx (or none): reads dtype= and device= fields. */
void lt_lua_creation_opts(lua_State *L, int idx, const char *fname, lt_dtype *dtype, lt_device *device);
/* A field of an options table, with type checks. Unknown keys are an error
 * (a typo must not be silently ignored): call lt_lua_check_opts first. */
void lt_lua_check_opts(lua_State *L, int idx, const char *fname, const char *const *allowed);

/* --- registration of the glue areas (each adds fields to the module table at
 * the top of the stack and methods to the Tensor methods table at `methods`) */
void lt_lua_open_tensor(lua_State *L, int methods); /* first: it sets up the Tensor metatable */
void lt_lua_open_create(lua_State *L, int methods);
void lt_lua_open_views(lua_State *L, int methods);
void lt_lua_open_convert(lua_State *L, int methods);
void lt_lua_open_runtime(lua_State *L, int methods);
void lt_lua_open_math(lua_State *L, int methods);
void lt_lua_open_index(lua_State *L, int methods);
void lt_lua_open_io(lua_State *L, int methods);
void lt_lua_open_autograd(lua_State *L, int methods);
void lt_lua_open_autograd_function(lua_State *L, int methods); /* after autograd: lt.autograd._record, _saved */
void lt_lua_open_grad_hooks(lua_State *L, int methods); /* after autograd: lt.autograd.queue_callback */
void lt_lua_open_nn(lua_State *L, int methods);
void lt_lua_open_data(lua_State *L, int methods);
void lt_lua_open_bench(lua_State *L, int methods); /* lt._bench: reference kernels for bench/ */
void lt_lua_open_optim(lua_State *L, int methods);
void lt_lua_open_cuda(lua_State *L, int methods);
void lt_lua_open_dist(lua_State *L, int methods); /* lt.distributed's native half: _init, _all_reduce, ... */
void lt_lua_open_backends_cpu(lua_State *L, int methods); /* lt.backends.cpu_conv, cpu_conv_counts, onednn */

#endif
