/* A probe of the layer rule, built only by tests/host/test_layers.sh as part
 * of the core layer (CMakeLists.txt, "probes"): a core file including a core
 * header. It must compile, which shows the probes are built with the core's
 * own flags and that their sibling probes fail for the reason they test. */
#include "lt_tensor.h"

int lt_probe_core_includes_core(void) { return (int)sizeof(lt_tensor); }
