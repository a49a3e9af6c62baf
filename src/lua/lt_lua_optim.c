/* lt_lua_optim.c — Lua glue for the fused optimizer steps: the low-level
 * functions in `lt._optim` that the optimizer classes (lua/luatrain/optim)
 * call once per parameter group. Each takes lists (Lua sequences) of
 * tensors, one entry per parameter, and a hyper-parameter table:
 *
 *   lt._optim.sgd(params, grads, bufs|nil, fresh|nil, {lr=, momentum=, dampening=,
 *                 weight_decay=, nesterov=, maximize=})
 *   lt._optim.adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs|nil, steps,
 *                  {lr=, beta1=, beta2=, eps=, weight_decay=, amsgrad=, maximize=,
 *                   decoupled_weight_decay=})
 *   lt._optim.rmsprop(params, grads, square_avgs, grad_avgs|nil, bufs|nil,
 *                     {lr=, alpha=, eps=, weight_decay=, momentum=, centered=, maximize=})
 *   lt._optim.adadelta(params, grads, square_avgs, acc_deltas, {lr=, rho=, eps=,
 *                      weight_decay=, maximize=})
 *   lt._optim.adagrad(params, grads, state_sums, steps, {lr=, lr_decay=, eps=,
 *                     weight_decay=, maximize=})
 *
 * `fresh` is a list of booleans (true: that momentum buffer starts this step),
 * `steps` a list of step counts including this step. lr is required; other
 * hyper-parameters default as in PyTorch. Parameters and state are updated in
 * place. Every hyper-parameter table also accepts `scalars`: a float64
 * tensor of 8 elements on the parameters' device whose values, written by
 *
 *   lt._optim.set_scalars(scalars, "sgd"|"adam"|"rmsprop"|"adadelta"|"adagrad", hyper)
 *
 * (hyper as for that step, plus `step` for adam and adagrad), replace the
 * numeric hyper-parameters and step counts when the kernel runs: how a step
 * captured in a CUDA graph follows a learning-rate schedule
 * (lua/luatrain/cuda_graph.lua). Not here: creating state, skipping
 * parameters without gradients, parameter groups (all in Lua).
 *
 * Errors. Every failure of these functions is an error value whose
 * tostring is the standard message ("bad argument #2 to 'sgd' (grads[3] has
 * shape ...)"), with fields `reason` (the message alone: "grads[3] has
 * shape ...") and `parameter` (the 1-based position in the lists of the
 * parameter it is about, nil for none), so that Optimizer:step can say
 * which of the user's parameters failed without reading the message. */
#include <string.h>

#include <stdarg.h>
#include <stdio.h>

#include "lt_lua.h"
#include "lt_ops_optim.h"

#define STEP_ERROR_MT "luatrain.OptimStepError"

/* Raises the failure recorded below as a step error value (see the file's
 * header); row: 0-based, -1 for none. */
static int raise_step(lua_State *L, const char *fname, int row) {
  lt_lua_push_failure(L, fname, lt_error_arg());
  lua_createtable(L, 0, 3);
  lua_insert(L, -2);
  lua_setfield(L, -2, "message");
  lua_pushstring(L, lt_error_message());
  lua_setfield(L, -2, "reason");
  if (row >= 0) {
    lua_pushinteger(L, row + 1);
    lua_setfield(L, -2, "parameter");
  }
  luaL_setmetatable(L, STEP_ERROR_MT);
  return lua_error(L);
}

/* An argument error found here, about argument arg and list row `row`. */
static int fail(lua_State *L, int arg, const char *fname, int row, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  lt_error_set(LT_ERR_ARG, arg, "%s", msg);
  return raise_step(L, fname, row);
}

/* Raises unless st == LT_OK, with the row the step says it failed on. */
#define CHECK_STEP(L, st, fname) do { if ((st) != LT_OK) raise_step((L), (fname), lt_op_optim_failed_row()); } while (0)

static int step_error_tostring(lua_State *L) {
  lua_getfield(L, 1, "message");
  return 1;
}

/* The tensors of a list argument, in a userdata array left on the stack
 * (anchored until the call returns; the collector frees it, so a Lua error
 * never leaks it). nil gives NULL when `optional`. *n < 0: this list sets n
 * (the params list); else it must have *n entries. Raw access: the tensors
 * stay alive because the argument tables themselves hold them. */
static lt_tensor **check_list(lua_State *L, int idx, const char *fname, const char *what, int *n, bool optional) {
  if (lua_isnoneornil(L, idx)) {
    if (optional) return NULL;
    fail(L, idx, fname, -1, "expected a list of %s, got nil", what);
  }
  if (lua_type(L, idx) != LUA_TTABLE)
    fail(L, idx, fname, -1, "expected a list of %s, got %s", what, luaL_typename(L, idx));
  lua_Integer len = (lua_Integer)lua_rawlen(L, idx);
  if (len > 1 << 24) fail(L, idx, fname, -1, "too many %s (%lld)", what, (long long)len);
  if (*n >= 0 && len != *n)
    fail(L, idx, fname, -1, "expected %d %s (one per parameter), got %lld", *n, what, (long long)len);
  lt_tensor **a = lua_newuserdatauv(L, sizeof(lt_tensor *) * (size_t)(len ? len : 1), 0);
  for (lua_Integer i = 1; i <= len; i++) {
    lua_rawgeti(L, idx, i);
    a[i - 1] = lt_lua_to_tensor(L, -1);
    if (!a[i - 1])
      fail(L, idx, fname, (int)i - 1, "%s[%lld] is a %s, expected a tensor", what, (long long)i, luaL_typename(L, -1));
    lua_pop(L, 1);
  }
  *n = (int)len;
  return a;
}

static double *check_steps(lua_State *L, int idx, const char *fname, int n) {
  if (lua_type(L, idx) != LUA_TTABLE)
    fail(L, idx, fname, -1, "expected a list of step counts, got %s", luaL_typename(L, idx));
  if ((lua_Integer)lua_rawlen(L, idx) != n)
    fail(L, idx, fname, -1, "expected %d step counts (one per parameter), got %lld", n,
                    (long long)lua_rawlen(L, idx));
  double *s = lua_newuserdatauv(L, sizeof(double) * (size_t)(n ? n : 1), 0);
  for (int i = 1; i <= n; i++) {
    if (lua_rawgeti(L, idx, i) != LUA_TNUMBER)
      fail(L, idx, fname, i - 1, "steps[%d] is a %s, expected a number", i, luaL_typename(L, -1));
    s[i - 1] = lua_tonumber(L, -1);
    lua_pop(L, 1);
  }
  return s;
}

static bool *check_fresh(lua_State *L, int idx, const char *fname, int n) {
  if (lua_isnoneornil(L, idx)) return NULL;
  if (lua_type(L, idx) != LUA_TTABLE)
    fail(L, idx, fname, -1, "expected a list of booleans (fresh buffers), got %s", luaL_typename(L, idx));
  if ((lua_Integer)lua_rawlen(L, idx) != n)
    fail(L, idx, fname, -1, "expected %d booleans (one per parameter), got %lld", n,
                    (long long)lua_rawlen(L, idx));
  bool *f = lua_newuserdatauv(L, sizeof(bool) * (size_t)(n ? n : 1), 0);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, i);
    f[i - 1] = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  return f;
}

/* hyper-parameter fields */
static double num_field(lua_State *L, int idx, const char *fname, const char *key, double def, bool required) {
  double v = def;
  int t = lua_getfield(L, idx, key);
  if (t == LUA_TNUMBER) v = lua_tonumber(L, -1);
  else if (t != LUA_TNIL || required)
    fail(L, idx, fname, -1, "hyper-parameter '%s' must be a number, got %s", key, luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}

static bool bool_field(lua_State *L, int idx, const char *fname, const char *key) {
  bool v = false;
  int t = lua_getfield(L, idx, key);
  if (t == LUA_TBOOLEAN) v = lua_toboolean(L, -1);
  else if (t != LUA_TNIL)
    fail(L, idx, fname, -1, "hyper-parameter '%s' must be a boolean, got %s", key, luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}

static void check_hyper(lua_State *L, int idx, const char *fname, const char *const *allowed) {
  if (lua_type(L, idx) != LUA_TTABLE)
    fail(L, idx, fname, -1, "expected a table of hyper-parameters, got %s", luaL_typename(L, idx));
  lt_lua_check_opts(L, idx, fname, allowed);
}

/* hyper.scalars: NULL or a tensor (kept alive by the table, an argument) */
static const lt_tensor *scalars_field(lua_State *L, int idx, const char *fname) {
  const lt_tensor *t = NULL;
  if (lua_getfield(L, idx, "scalars") != LUA_TNIL) {
    t = lt_lua_to_tensor(L, -1);
    if (!t) fail(L, idx, fname, -1, "hyper-parameter 'scalars' must be a tensor, got %s", luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  return t;
}

/* The hyper-parameter tables of each algorithm (`extra` names one more
 * allowed key, or NULL). */
static lt_sgd_hparams sgd_hyper(lua_State *L, int idx, const char *fn, const char *extra) {
  const char *const allowed[] = {"lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize", "scalars",
                                 extra, NULL};
  check_hyper(L, idx, fn, allowed);
  lt_sgd_hparams h = {num_field(L, idx, fn, "lr", 0, true), num_field(L, idx, fn, "momentum", 0, false),
                      num_field(L, idx, fn, "dampening", 0, false), num_field(L, idx, fn, "weight_decay", 0, false),
                      bool_field(L, idx, fn, "nesterov"), bool_field(L, idx, fn, "maximize"),
                      scalars_field(L, idx, fn)};
  return h;
}

static lt_adam_hparams adam_hyper(lua_State *L, int idx, const char *fn, const char *extra) {
  const char *const allowed[] = {"lr", "beta1", "beta2", "eps", "weight_decay", "amsgrad", "maximize",
                                 "decoupled_weight_decay", "scalars", extra, NULL};
  check_hyper(L, idx, fn, allowed);
  lt_adam_hparams h = {num_field(L, idx, fn, "lr", 0, true), num_field(L, idx, fn, "beta1", 0.9, false),
                       num_field(L, idx, fn, "beta2", 0.999, false), num_field(L, idx, fn, "eps", 1e-8, false),
                       num_field(L, idx, fn, "weight_decay", 0, false), bool_field(L, idx, fn, "amsgrad"),
                       bool_field(L, idx, fn, "maximize"), bool_field(L, idx, fn, "decoupled_weight_decay"),
                       scalars_field(L, idx, fn)};
  return h;
}

static lt_rmsprop_hparams rmsprop_hyper(lua_State *L, int idx, const char *fn, const char *extra) {
  const char *const allowed[] = {"lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize", "scalars",
                                 extra, NULL};
  check_hyper(L, idx, fn, allowed);
  lt_rmsprop_hparams h = {num_field(L, idx, fn, "lr", 0, true), num_field(L, idx, fn, "alpha", 0.99, false),
                          num_field(L, idx, fn, "eps", 1e-8, false), num_field(L, idx, fn, "weight_decay", 0, false),
                          num_field(L, idx, fn, "momentum", 0, false), bool_field(L, idx, fn, "centered"),
                          bool_field(L, idx, fn, "maximize"), scalars_field(L, idx, fn)};
  return h;
}

static lt_adadelta_hparams adadelta_hyper(lua_State *L, int idx, const char *fn, const char *extra) {
  const char *const allowed[] = {"lr", "rho", "eps", "weight_decay", "maximize", "scalars", extra, NULL};
  check_hyper(L, idx, fn, allowed);
  lt_adadelta_hparams h = {num_field(L, idx, fn, "lr", 0, true), num_field(L, idx, fn, "rho", 0.9, false),
                           num_field(L, idx, fn, "eps", 1e-6, false), num_field(L, idx, fn, "weight_decay", 0, false),
                           bool_field(L, idx, fn, "maximize"), scalars_field(L, idx, fn)};
  return h;
}

static lt_adagrad_hparams adagrad_hyper(lua_State *L, int idx, const char *fn, const char *extra) {
  const char *const allowed[] = {"lr", "lr_decay", "eps", "weight_decay", "maximize", "scalars", extra, NULL};
  check_hyper(L, idx, fn, allowed);
  lt_adagrad_hparams h = {num_field(L, idx, fn, "lr", 0, true), num_field(L, idx, fn, "lr_decay", 0, false),
                          num_field(L, idx, fn, "weight_decay", 0, false), num_field(L, idx, fn, "eps", 1e-10, false),
                          bool_field(L, idx, fn, "maximize"), scalars_field(L, idx, fn)};
  return h;
}

static int l_sgd(lua_State *L) {
  const char *fn = "sgd";
  lt_sgd_hparams h = sgd_hyper(L, 5, fn, NULL);
  lua_settop(L, 5);
  int n = -1;
  lt_tensor **p = check_list(L, 1, fn, "params", &n, false);
  lt_tensor **g = check_list(L, 2, fn, "grads", &n, false);
  lt_tensor **b = check_list(L, 3, fn, "bufs", &n, true);
  bool *f = check_fresh(L, 4, fn, n);
  CHECK_STEP(L, lt_op_sgd_step(n, p, g, b, f, &h), fn);
  return 0;
}

static int l_adam(lua_State *L) {
  const char *fn = "adam";
  lt_adam_hparams h = adam_hyper(L, 7, fn, NULL);
  lua_settop(L, 7);
  int n = -1;
  lt_tensor **p = check_list(L, 1, fn, "params", &n, false);
  lt_tensor **g = check_list(L, 2, fn, "grads", &n, false);
  lt_tensor **m = check_list(L, 3, fn, "exp_avgs", &n, false);
  lt_tensor **v = check_list(L, 4, fn, "exp_avg_sqs", &n, false);
  lt_tensor **x = check_list(L, 5, fn, "max_exp_avg_sqs", &n, true);
  double *s = check_steps(L, 6, fn, n);
  CHECK_STEP(L, lt_op_adam_step(n, p, g, m, v, x, s, &h), fn);
  return 0;
}

static int l_rmsprop(lua_State *L) {
  const char *fn = "rmsprop";
  lt_rmsprop_hparams h = rmsprop_hyper(L, 6, fn, NULL);
  lua_settop(L, 6);
  int n = -1;
  lt_tensor **p = check_list(L, 1, fn, "params", &n, false);
  lt_tensor **g = check_list(L, 2, fn, "grads", &n, false);
  lt_tensor **sq = check_list(L, 3, fn, "square_avgs", &n, false);
  lt_tensor **ga = check_list(L, 4, fn, "grad_avgs", &n, true);
  lt_tensor **b = check_list(L, 5, fn, "bufs", &n, true);
  CHECK_STEP(L, lt_op_rmsprop_step(n, p, g, sq, ga, b, &h), fn);
  return 0;
}

static int l_adadelta(lua_State *L) {
  const char *fn = "adadelta";
  lt_adadelta_hparams h = adadelta_hyper(L, 5, fn, NULL);
  lua_settop(L, 5);
  int n = -1;
  lt_tensor **p = check_list(L, 1, fn, "params", &n, false);
  lt_tensor **g = check_list(L, 2, fn, "grads", &n, false);
  lt_tensor **sq = check_list(L, 3, fn, "square_avgs", &n, false);
  lt_tensor **acc = check_list(L, 4, fn, "acc_deltas", &n, false);
  CHECK_STEP(L, lt_op_adadelta_step(n, p, g, sq, acc, &h), fn);
  return 0;
}

static int l_adagrad(lua_State *L) {
  const char *fn = "adagrad";
  lt_adagrad_hparams h = adagrad_hyper(L, 5, fn, NULL);
  lua_settop(L, 5);
  int n = -1;
  lt_tensor **p = check_list(L, 1, fn, "params", &n, false);
  lt_tensor **g = check_list(L, 2, fn, "grads", &n, false);
  lt_tensor **s = check_list(L, 3, fn, "state_sums", &n, false);
  double *st = check_steps(L, 4, fn, n);
  CHECK_STEP(L, lt_op_adagrad_step(n, p, g, s, st, &h), fn);
  return 0;
}

static int l_set_scalars(lua_State *L) {
  const char *fn = "set_scalars";
  lt_tensor *dst = lt_lua_check_tensor(L, 1, fn);
  static const char *const algos[] = {"sgd", "adam", "rmsprop", "adadelta", "adagrad", NULL};
  if (lua_type(L, 2) != LUA_TSTRING)
    return fail(L, 2, fn, -1, "expected an algorithm name (sgd, adam, rmsprop, adadelta, adagrad), got %s",
                           luaL_typename(L, 2));
  int a = 0;
  while (algos[a] && strcmp(algos[a], lua_tostring(L, 2)) != 0) a++;
  if (!algos[a])
    return fail(L, 2, fn, -1, "unknown algorithm '%s' (expected sgd, adam, rmsprop, adadelta or adagrad)",
                           lua_tostring(L, 2));
  bool counted = a == LT_OPTIM_ADAM || a == LT_OPTIM_ADAGRAD;
  if (lua_type(L, 3) != LUA_TTABLE)
    return fail(L, 3, fn, -1, "expected a table of hyper-parameters, got %s", luaL_typename(L, 3));
  double step = counted ? num_field(L, 3, fn, "step", 0, true) : 0;
  lt_status st;
  switch (a) {
    case LT_OPTIM_SGD: {
      lt_sgd_hparams h = sgd_hyper(L, 3, fn, NULL);
      st = lt_op_optim_write_scalars(dst, LT_OPTIM_SGD, &h, step);
      break;
    }
    case LT_OPTIM_ADAM: {
      lt_adam_hparams h = adam_hyper(L, 3, fn, "step");
      st = lt_op_optim_write_scalars(dst, LT_OPTIM_ADAM, &h, step);
      break;
    }
    case LT_OPTIM_RMSPROP: {
      lt_rmsprop_hparams h = rmsprop_hyper(L, 3, fn, NULL);
      st = lt_op_optim_write_scalars(dst, LT_OPTIM_RMSPROP, &h, step);
      break;
    }
    case LT_OPTIM_ADADELTA: {
      lt_adadelta_hparams h = adadelta_hyper(L, 3, fn, NULL);
      st = lt_op_optim_write_scalars(dst, LT_OPTIM_ADADELTA, &h, step);
      break;
    }
    default: {
      lt_adagrad_hparams h = adagrad_hyper(L, 3, fn, "step");
      st = lt_op_optim_write_scalars(dst, LT_OPTIM_ADAGRAD, &h, step);
    }
  }
  CHECK_STEP(L, st, fn);
  return 0;
}

void lt_lua_open_optim(lua_State *L, int methods) {
  (void)methods;
  luaL_newmetatable(L, STEP_ERROR_MT);
  lua_pushcfunction(L, step_error_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  static const luaL_Reg fns[] = {{"sgd", l_sgd}, {"adam", l_adam}, {"rmsprop", l_rmsprop},
                                 {"adadelta", l_adadelta}, {"adagrad", l_adagrad},
                                 {"set_scalars", l_set_scalars}, {NULL, NULL}};
  lua_newtable(L);
  luaL_setfuncs(L, fns, 0);
  lua_setfield(L, -2, "_optim");
}
