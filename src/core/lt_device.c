/* lt_device.c — device names and the backend registry ([op][device] table).
 * The registry starts empty: the backends live in the layers above the core
 * and register themselves (lt_cpu_register, lt_cuda_register) when the
 * runtime starts (the Lua glue's luaopen). */
#include "lt_device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_backend.h"

static const lt_backend *backends[LT_NDEVICE_TYPES];

const lt_backend *lt_backend_get(lt_device_type type) {
  return (unsigned)type < LT_NDEVICE_TYPES ? backends[type] : NULL;
}

void lt_backend_register(lt_device_type type, const lt_backend *b) { backends[type] = b; }

const char *lt_device_str(lt_device d, char *buf, size_t len) {
  if (d.type == LT_CPU) snprintf(buf, len, "cpu");
  else snprintf(buf, len, "cuda:%d", d.index);
  return buf;
}

lt_status lt_device_parse(const char *s, lt_device *out) {
  if (strcmp(s, "cpu") == 0) {
    *out = lt_cpu_device();
    return LT_OK;
  }
  if (strncmp(s, "cuda", 4) == 0) {
    if (s[4] == 0) {
      out->type = LT_CUDA;
      out->index = 0;
      return LT_OK;
    }
    if (s[4] == ':' && s[5] >= '0' && s[5] <= '9') {
      char *end;
      long idx = strtol(s + 5, &end, 10);
      if (*end == 0 && idx < 1024) {
        out->type = LT_CUDA;
        out->index = (int)idx;
        return LT_OK;
      }
    }
  }
  return lt_error_set(LT_ERR_ARG, 0, "expected a device 'cpu', 'cuda' or 'cuda:N', got '%s'", s);
}

lt_status lt_backend_for(lt_device dev, const lt_backend **out) {
  const lt_backend *b = lt_backend_get(dev.type);
  if (!b) {
    char name[32];
    return lt_error_set(LT_ERR_RUNTIME, 0, "device '%s' is not available (%s)", lt_device_str(dev, name, sizeof name),
                        dev.type == LT_CUDA ? "luatrain was built without CUDA or no GPU was found"
                                            : "no backend registered: lt_cpu_register() was not called");
  }
  *out = b;
  return LT_OK;
}
