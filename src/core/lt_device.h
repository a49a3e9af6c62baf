/* lt_device.h — devices and the backend vtable.
 *
 * A backend is one device type's implementation of memory management and of
 * every op kernel; the core dispatches through lt_backend_get(device.type),
 * i.e. an [op][device] table in typed form. The CPU backend (src/cpu) is always
 * present; the CUDA backend (cuda/) registers itself when compiled in. Kernels
 * receive tensors whose shapes and dtypes the op layer (lt_ops*.c) has already
 * checked: a kernel never validates user input, it only computes. */
#ifndef LT_DEVICE_H
#define LT_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lt_cdefs.h"
#include "lt_dtype.h"
#include "lt_error.h"

LT_BEGIN_DECLS

typedef enum { LT_CPU = 0, LT_CUDA = 1, LT_NDEVICE_TYPES } lt_device_type;

typedef struct {
  lt_device_type type;
  int index; /* 0 for the CPU */
} lt_device;

static inline lt_device lt_cpu_device(void) { lt_device d = {LT_CPU, 0}; return d; }
static inline bool lt_device_equal(lt_device a, lt_device b) { return a.type == b.type && a.index == b.index; }
/* "cpu", "cuda:0" into buf; returns buf. */
const char *lt_device_str(lt_device d, char *buf, size_t len);
/* Parses "cpu", "cuda", "cuda:N"; fails with a message for anything else. */
lt_status lt_device_parse(const char *s, lt_device *out);

LT_END_DECLS

#endif
