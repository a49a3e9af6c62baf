/* A probe of the layer rule, built only by tests/host/test_layers.sh as part
 * of the core layer: a core file including a header of the Lua glue, a layer
 * above it. It must not compile: the core's include path does not hold the
 * glue's folder. */
#include "lt_tensor.h"
#include "lt_lua.h"

int lt_probe_core_includes_glue(void) { return 0; }
