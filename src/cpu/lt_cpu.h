/* lt_cpu.h — the CPU backend as the layers above it see it: registering it
 * with the core's backend table. The core knows no backend by name; whoever
 * starts the runtime (the Lua glue's luaopen, a C test's harness) registers
 * the CPU backend first, and the CUDA one where it is built. Not here: the
 * kernels (lt_cpu_kernels.h, lt_cpu_nn.h), the thread settings
 * (lt_cpu_iter.h). */
#ifndef LT_CPU_H
#define LT_CPU_H

/* Installs the CPU backend as the core's backend for LT_CPU. Idempotent;
 * touches nothing else. */
void lt_cpu_register(void);

#endif
