/* lt_cpu_dnnl.c — loading oneDNN (libdnnl.so.2) on first use, the CPU
 * engine, one stream per calling thread, and the version report (see
 * lt_cpu_dnnl.h). Built without oneDNN's headers, the functions here report
 * that oneDNN is not available and nothing else in the CPU backend changes.
 *
 * The library is looked up by its soname (the loader's usual search:
 * LD_LIBRARY_PATH, ldconfig). Debian's libdnnl2 runs its threads on the
 * same OpenMP runtime (libgomp) as the CPU backend, so oneDNN's convolutions
 * and luatrain's own kernels share one pool of threads. */
#include "lt_cpu_dnnl.h"

#include "lt_cpu.h"

#include <stdio.h>
#include <string.h>

#ifdef LT_HAVE_DNNL
#include <dlfcn.h>
#include <pthread.h>

#define DNNL_SONAME "libdnnl.so." LT_DNNL_STR(DNNL_VERSION_MAJOR)
#define LT_DNNL_STR2(x) #x
#define LT_DNNL_STR(x) LT_DNNL_STR2(x)

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static lt_dnnl_api api;
static bool api_ok;
static char api_why[512];
static dnnl_engine_t engine;
static pthread_key_t stream_key;

static void destroy_stream(void *s) {
  if (s) api.stream_destroy((dnnl_stream_t)s);
}

static void load(void) {
  static const char *const names[] = {
      "dnnl_engine_create", "dnnl_stream_create", "dnnl_stream_destroy", "dnnl_memory_desc_init_by_tag",
      "dnnl_memory_desc_equal", "dnnl_memory_desc_get_size", "dnnl_memory_create", "dnnl_memory_destroy",
      "dnnl_dilated_convolution_forward_desc_init", "dnnl_dilated_convolution_backward_data_desc_init",
      "dnnl_dilated_convolution_backward_weights_desc_init", "dnnl_primitive_attr_create",
      "dnnl_primitive_attr_destroy", "dnnl_primitive_attr_set_scratchpad_mode", "dnnl_primitive_desc_create",
      "dnnl_primitive_desc_destroy", "dnnl_primitive_desc_query_md", "dnnl_reorder_primitive_desc_create",
      "dnnl_primitive_create", "dnnl_primitive_destroy", "dnnl_primitive_execute", "dnnl_stream_wait",
      "dnnl_version", "dnnl_post_ops_create", "dnnl_post_ops_destroy", "dnnl_post_ops_append_binary",
      "dnnl_post_ops_append_sum", "dnnl_post_ops_append_eltwise", "dnnl_primitive_attr_set_post_ops",
      "dnnl_primitive_desc_query"};
  _Static_assert(sizeof(lt_dnnl_api) == sizeof names / sizeof names[0] * sizeof(void *), "oneDNN table size");
  void *lib = dlopen(DNNL_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    snprintf(api_why, sizeof api_why, "%s", dlerror());
    return;
  }
  void **slots = (void **)&api;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    slots[i] = dlsym(lib, names[i]);
    if (!slots[i]) {
      snprintf(api_why, sizeof api_why, "%s has no function %s", DNNL_SONAME, names[i]);
      return;
    }
  }
  const dnnl_version_t *v = api.version();
  if (v->major != DNNL_VERSION_MAJOR) {
    snprintf(api_why, sizeof api_why, "%s is oneDNN %d.%d, luatrain was built for %d.x", DNNL_SONAME, v->major,
             v->minor, DNNL_VERSION_MAJOR);
    return;
  }
  dnnl_status_t s = api.engine_create(&engine, dnnl_cpu, 0);
  if (s != dnnl_success) {
    snprintf(api_why, sizeof api_why, "dnnl_engine_create: %s", lt_dnnl_status_str(s));
    return;
  }
  if (pthread_key_create(&stream_key, destroy_stream) != 0) {
    snprintf(api_why, sizeof api_why, "no thread-local key for its streams");
    return;
  }
  api_ok = true;
}

const lt_dnnl_api *lt_dnnl(void) {
  pthread_once(&load_once, load);
  if (!api_ok) {
    lt_error_set(LT_ERR_RUNTIME, 0, "oneDNN is not available: %s", api_why);
    return NULL;
  }
  return &api;
}

dnnl_engine_t lt_dnnl_engine(void) { return engine; }

dnnl_stream_t lt_dnnl_stream(void) {
  dnnl_stream_t s = pthread_getspecific(stream_key);
  if (!s && api.stream_create(&s, engine, dnnl_stream_default_flags) == dnnl_success)
    pthread_setspecific(stream_key, s);
  return s;
}

const char *lt_dnnl_status_str(dnnl_status_t s) {
  switch (s) {
    case dnnl_success: return "success";
    case dnnl_out_of_memory: return "out of memory";
    case dnnl_invalid_arguments: return "invalid arguments";
    case dnnl_unimplemented: return "unimplemented";
    case dnnl_iterator_ends: return "iterator ends";
    case dnnl_runtime_error: return "runtime error";
    case dnnl_not_required: return "not required";
    default: return "unknown status";
  }
}

bool lt_cpu_onednn_available(char *why, size_t len) {
  pthread_once(&load_once, load);
  if (!api_ok && why && len) snprintf(why, len, "%s", api_why);
  return api_ok;
}

void lt_cpu_onednn_describe(char *buf, size_t len) {
  char why[512];
  if (lt_cpu_onednn_available(why, sizeof why)) {
    const dnnl_version_t *v = api.version();
    snprintf(buf, len, "oneDNN %d.%d.%d", v->major, v->minor, v->patch);
  } else {
    snprintf(buf, len, "oneDNN not available (%s)", why);
  }
}

#else /* built without oneDNN's headers */

bool lt_cpu_onednn_available(char *why, size_t len) {
  if (why && len) snprintf(why, len, "luatrain was built without oneDNN (install libdnnl-dev and rebuild)");
  return false;
}

void lt_cpu_onednn_describe(char *buf, size_t len) {
  char why[256];
  lt_cpu_onednn_available(why, sizeof why);
  snprintf(buf, len, "oneDNN not available (%s)", why);
}

#endif
