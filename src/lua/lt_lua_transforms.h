/* lt_lua_transforms.h — what the loader glue (lt_lua_data.c) uses from the
 * transform glue (lt_lua_transforms.c): the Generator userdata and reading
 * a pipeline of transform steps from Lua (src/data's lt_transform_step.h).
 * Not a public API: the Lua side sees lt.transforms and lt.data.Generator. */
#ifndef LT_LUA_TRANSFORMS_H
#define LT_LUA_TRANSFORMS_H

#include "lt_data_gen.h"
#include <stdbool.h>
#include <stdint.h>

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

/* ---- shared by the transform glue files (lt_lua_transforms.c and
 * lt_lua_transforms_functional.c) ---------------------------------------- */

/* Registers the functional primitives (lt_lua_transforms_functional.c). */
void lt_lua_open_transforms_functional(lua_State *L, int data_table);
/* A batch argument at idx (named argument argn in errors): a tensor
 * [B,C,H,W] or one image [C,H,W] on the CPU, or with `cuda` also on a GPU;
 * pushes its contiguous form (keeping it alive) and returns it, with the
 * per-sample geometry and the sample count. */
lt_tensor *lt_lua_tf_check_batch(lua_State *L, int idx, int argn, const char *fname, lt_tf_geom *geom, int64_t *n,
                                 bool cuda);
/* Pushes a new tensor of n samples of geometry g on x's device, 3-D when x
 * is one image. */
lt_tensor *lt_lua_tf_push_output(lua_State *L, const lt_tensor *x, int64_t n, lt_tf_geom g, const char *fname);
/* Pushes the bfloat16 copy of a float32 CPU batch (rounded as the GPU does). */
lt_tensor *lt_lua_tf_push_bf16(lua_State *L, const lt_tensor *y, const char *fname);
/* The options table at idx (or nil), whose keys must be in `allowed`: true
 * when its dtype is "bfloat16", false for "float32" or none. */
bool lt_lua_tf_check_out_dtype(lua_State *L, int idx, const char *fname, const char *const *allowed);
/* The padding_mode names, in lt_pad_mode order, NULL-terminated. */
extern const char *const lt_lua_tf_pad_modes[];

#endif
