/* A probe of the layer rule, built only by tests/host/test_layers.sh as part
 * of the CPU backend: a backend file including a header of autograd, a layer
 * beside it. It must not compile: layers side by side see only the core. */
#include "lt_tensor.h"
#include "lt_autograd.h"

int lt_probe_cpu_includes_autograd(void) { return 0; }
