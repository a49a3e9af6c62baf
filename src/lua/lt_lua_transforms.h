/* lt_lua_transforms.h — what the loader glue (lt_lua_data.c) uses from the
 * transform glue (lt_lua_transforms.c): the Generator userdata and reading
 * a pipeline of transform steps from Lua (src/data's lt_transform_step.h).
 * Not a public API: the Lua side sees lt.transforms and lt.data.Generator. */
#ifndef LT_LUA_TRANSFORMS_H
#define LT_LUA_TRANSFORMS_H

#include "lt_data_gen.h"
#include "lt_lua.h"
#include "lt_transform_step.h"

/* Pushes a Generator userdata in state (key, pos). */
void lt_lua_push_gen(lua_State *L, uint64_t key, uint64_t pos);

/* The transform steps in the Lua array at `idx` (step userdata, as made by
 * lt._data.step; the array keeps them alive): pushes and returns a
 * temporary array of *n pointers, NULL where an entry is not a step (the
 * plan names it), or nil and NULL for more steps than a plan takes. */
const lt_tf_step **lt_lua_check_steps(lua_State *L, int idx, int *n);

/* Registers the Generator, the transform steps and the functional
 * primitives in the table at data_table (lt._data). */
void lt_lua_open_transforms(lua_State *L, int data_table);

#endif
