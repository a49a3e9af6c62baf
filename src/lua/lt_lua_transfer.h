/* lt_lua_transfer.h — what lt_lua_convert.c uses from the pinned-memory glue
 * (lt_lua_transfer.c): the non_blocking option of t:to / t:cuda, the
 * conversion that honours it, and the helper both files use to take an
 * option out of an options table. Not a public API. */
#ifndef LT_LUA_TRANSFER_H
#define LT_LUA_TRANSFER_H

#include "lt_lua.h"

/* If the options table at idx has `non_blocking`, checks it is a boolean and
 * replaces the table in its stack slot by a copy without that key (so the
 * caller's own option parsing never sees it); returns its value. */
bool lt_lua_take_non_blocking(lua_State *L, int idx, const char *fname);
/* Replaces the table at idx, in its stack slot, by a shallow copy without
 * the string key `key`: how an option one function handles is taken out of
 * a table before the rest is parsed (here and lt_lua_take_memory_format in
 * lt_lua_views.c). The caller's table is not modified. */
void lt_lua_table_without(lua_State *L, int idx, const char *key);
/* t:cuda's options {device=, non_blocking=} at idx (a table or nil): fills
 * *dev from device= when present; returns non_blocking. */
bool lt_lua_cuda_opts(lua_State *L, int idx, const char *fname, lt_device *dev);
/* The tensor at 1 converted to (dt, dev) without making the host wait when
 * it is pinned and dev a GPU (lt_op_to_non_blocking); the ordinary
 * differentiable conversion for tensors that require grad. Pushes the result
 * (the tensor itself when nothing changes). */
int lt_lua_convert_non_blocking(lua_State *L, const char *fname, lt_dtype dt, lt_device dev);
/* Adds t:pin_memory() and t:is_pinned() to the Tensor methods at `methods`. */
void lt_lua_open_transfer(lua_State *L, int methods);

#endif
