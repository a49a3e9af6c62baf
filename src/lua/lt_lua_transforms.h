/* lt_lua_transforms.h — what the loader glue (lt_lua_data.c) uses from the
 * transform glue (lt_lua_transforms.c): the Generator userdata and reading
 * a pipeline of transform steps from Lua into a plan (src/data's
 * lt_transform_plan.h). Not a public API: the Lua side sees lt.transforms
 * and lt.data.Generator. */
#ifndef LT_LUA_TRANSFORMS_H
#define LT_LUA_TRANSFORMS_H

#include "lt_data_gen.h"
#include "lt_lua.h"
#include "lt_transform_plan.h"

/* Pushes a Generator userdata in state (key, pos). */
void lt_lua_push_gen(lua_State *L, uint64_t key, uint64_t pos);

/* A plan, in a userdata that frees it when collected, so that a Lua error
 * leaks nothing; a caller that hands the plan to an owner of its own sets
 * `plan` to NULL. */
typedef struct {
  lt_tf_plan *plan;
} lt_lua_plan_box;

/* Compiles the transform steps in the Lua array at `idx` (step userdata, as
 * made by lt._data.step) for batches of up to max_batch samples of geometry
 * `in`, and pushes the box holding the plan. Raises "fname: transform k
 * (Name) cannot take ..." when a step does not fit what comes before it. */
lt_lua_plan_box *lt_lua_push_plan(lua_State *L, int idx, lt_tf_geom in, int64_t max_batch, const char *fname);

/* Registers the Generator, the transform steps and the functional
 * primitives in the table at data_table (lt._data). */
void lt_lua_open_transforms(lua_State *L, int data_table);

#endif
