/* lt_lua_views.h — what the Tensor glue files share from lt_lua_views.c:
 * the memory_format option (taken out of an options table, or applied to a
 * tensor) and the check of a 1-based index into one dimension. Used by
 * lt_lua_create.c (the *_like options), lt_lua_convert.c (t:to) and
 * lt_lua_tensor.c (t[i]). Not a public API. */
#ifndef LT_LUA_VIEWS_H
#define LT_LUA_VIEWS_H

#include "lt_lua.h"

/* Takes memory_format out of an options table at idx (replacing the table
 * by a copy without it, so the dtype/device parsing that follows sees only
 * its own keys); *fmt is left alone when the key is absent. */
void lt_lua_take_memory_format(lua_State *L, int idx, const char *fname, lt_memory_format *fmt);
/* The tensor at idx laid out in fmt: left as the result when it already is,
 * else a differentiable copy pushed on top. Returns 1 (the result on top).
 * `exact` (t:to): "already" means lt_tensor_suggest_format says fmt, so a
 * tensor in both layouts ([N,1,H,W], [N,C,1,1]) gets fmt's own strides and
 * ops then follow fmt, as PyTorch's to(memory_format=); otherwise
 * (t:contiguous, PyTorch's contiguous(memory_format=)) any tensor that
 * satisfies is_contiguous(fmt) is kept. */
int lt_lua_push_in_format(lua_State *L, int idx, lt_memory_format fmt, const char *fname, bool exact);
/* A 1-based index (negative from the end) into a dimension of `size` (the
 * 0-based `dim`, for messages) -> 0-based, with a range error naming the
 * argument at idx. */
int64_t lt_lua_check_index(lua_State *L, int idx, int64_t size, int dim, const char *fname);

#endif
