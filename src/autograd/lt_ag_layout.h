/* lt_ag_layout.h — the differentiable memory-format conversions behind
 * t:contiguous("channels_last") and t:to{memory_format=...}: copies in
 * another layout whose gradient passes through unchanged (values do not
 * depend on the layout). The ops themselves are in src/core/lt_ops_layout.h. */
#ifndef LT_AG_LAYOUT_H
#define LT_AG_LAYOUT_H

#include "lt_ops_layout.h"

/* t itself (retained) when already laid out in `format`, else a recorded copy. */
lt_status lt_ag_contiguous_format(lt_tensor *t, lt_memory_format format, lt_tensor **out);
/* Always a recorded copy laid out in `format`. */
lt_status lt_ag_clone_format(lt_tensor *t, lt_memory_format format, lt_tensor **out);

#endif
