/* lt_cuda_libs.c — loading cuBLAS, cuBLASLt and cuDNN on first use (see
 * lt_cuda_libs.h), the per-device handles made from them, the formatting of
 * their error codes for LT_CUBLAS_CHECK / LT_CUDNN_CHECK, and the version
 * report (`luatrain -v`, lt.cuda.cudnn_version()).
 *
 * Each library is looked up by its soname (the loader's search: the
 * binary's RUNPATH, LD_LIBRARY_PATH, ldconfig), then in the folder CMake
 * found it in at build time, then in /usr/local/cuda. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "lt_cuda_libs.h"

#define LT_STR2(x) #x
#define LT_STR(x) LT_STR2(x)

/* The folders CMake found the libraries in at build time, when it did. */
#ifndef LT_CUDA_LIB_DIR
#define LT_CUDA_LIB_DIR NULL
#endif
#ifndef LT_CUDNN_LIB_DIR
#define LT_CUDNN_LIB_DIR NULL
#endif

static void *open_lib(const char *soname, const char *build_dir, char *why, size_t len) {
  void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (h) return h;
  snprintf(why, len, "%s", dlerror());
  const char *dirs[] = {build_dir, "/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib",
                        "/usr/lib/x86_64-linux-gnu"};
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
    if (!dirs[i] || !*dirs[i]) continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dirs[i], soname);
    h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h) return h;
  }
  return NULL;
}

/* Fills `n` function pointers of a table from their names; false (with the
 * missing name in `why`) if one is absent. */
static bool resolve(void *lib, void **slots, const char *const *names, int n, char *why, size_t len) {
  for (int i = 0; i < n; i++) {
    slots[i] = dlsym(lib, names[i]);
    if (!slots[i]) {
      snprintf(why, len, "it has no function %s", names[i]);
      return false;
    }
  }
  return true;
}

/* Opens library `soname` and fills its table of n functions from their
 * names; false (with the reason in `why`) if either fails. */
static bool load_table(const char *soname, const char *build_dir, void **table, const char *const *names, int n,
                       char *why, size_t len) {
  void *lib = open_lib(soname, build_dir, why, len);
  return lib && resolve(lib, table, names, n, why, len);
}

/* --- cuBLAS ------------------------------------------------------------------------------------------ */
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static lt_cublas_api blas;
static bool blas_ok;
static char blas_why[512];
#define CUBLAS_SONAME "libcublas.so." LT_STR(CUBLAS_VER_MAJOR)

static void load_blas(void) {
  static const char *const names[] = {"cublasCreate_v2", "cublasDestroy_v2", "cublasSetStream_v2",
                                      "cublasSetWorkspace_v2", "cublasSetPointerMode_v2",
                                      "cublasGemmStridedBatchedEx", "cublasGetProperty"};
  _Static_assert(sizeof(lt_cublas_api) == sizeof names / sizeof names[0] * sizeof(void *), "cuBLAS table size");
  blas_ok = load_table(CUBLAS_SONAME, LT_CUDA_LIB_DIR, (void **)&blas, names, (int)(sizeof names / sizeof names[0]),
                       blas_why, sizeof blas_why);
}

lt_status lt_cuda_cublas_api(const lt_cublas_api **out) {
  pthread_once(&blas_once, load_blas);
  if (!blas_ok)
    return lt_error_set(LT_ERR_RUNTIME, 0, "cuBLAS (%s) could not be loaded: %s", CUBLAS_SONAME, blas_why);
  *out = &blas;
  return LT_OK;
}

/* --- cuBLASLt ---------------------------------------------------------------------------------------- */
static pthread_once_t blaslt_once = PTHREAD_ONCE_INIT;
static lt_cublaslt_api blaslt;
static bool blaslt_ok;
static char blaslt_why[512];
#define CUBLASLT_SONAME "libcublasLt.so." LT_STR(CUBLAS_VER_MAJOR)

static void load_blaslt(void) {
  static const char *const names[] = {
    "cublasLtGetVersion", "cublasLtCreate", "cublasLtDestroy", "cublasLtMatmulDescCreate",
    "cublasLtMatmulDescDestroy", "cublasLtMatmulDescSetAttribute", "cublasLtMatrixLayoutCreate",
    "cublasLtMatrixLayoutDestroy", "cublasLtMatrixLayoutSetAttribute", "cublasLtMatmulPreferenceCreate",
    "cublasLtMatmulPreferenceDestroy", "cublasLtMatmulPreferenceSetAttribute", "cublasLtMatmulAlgoGetHeuristic",
    "cublasLtMatmul"};
  _Static_assert(sizeof(lt_cublaslt_api) == sizeof names / sizeof names[0] * sizeof(void *), "cuBLASLt table size");
  if (!load_table(CUBLASLT_SONAME, LT_CUDA_LIB_DIR, (void **)&blaslt, names, (int)(sizeof names / sizeof names[0]),
                  blaslt_why, sizeof blaslt_why))
    return;
  size_t v = blaslt.cublasLtGetVersion();
  if (v / 10000 != CUBLAS_VER_MAJOR) {
    snprintf(blaslt_why, sizeof blaslt_why, "it is version %zu.%zu, luatrain was built for cuBLAS %d", v / 10000,
             (v % 10000) / 100, CUBLAS_VER_MAJOR);
    return;
  }
  blaslt_ok = true;
}

lt_status lt_cuda_cublaslt_api(const lt_cublaslt_api **out) {
  pthread_once(&blaslt_once, load_blaslt);
  if (!blaslt_ok)
    return lt_error_set(LT_ERR_RUNTIME, 0, "cuBLASLt (%s) could not be loaded: %s", CUBLASLT_SONAME, blaslt_why);
  *out = &blaslt;
  return LT_OK;
}

/* --- cuDNN ------------------------------------------------------------------------------------------- */
static pthread_once_t dnn_once = PTHREAD_ONCE_INIT;
static lt_cudnn_api dnn;
static bool dnn_ok;
static char dnn_why[512];
#define CUDNN_SONAME "libcudnn.so." LT_STR(CUDNN_MAJOR)

static void load_dnn(void) {
  static const char *const names[] = {
    "cudnnGetVersion", "cudnnGetErrorString", "cudnnCreate", "cudnnDestroy", "cudnnSetStream",
    "cudnnCreateTensorDescriptor", "cudnnDestroyTensorDescriptor", "cudnnSetTensor4dDescriptorEx",
    "cudnnCreateFilterDescriptor", "cudnnDestroyFilterDescriptor", "cudnnSetFilter4dDescriptor",
    "cudnnCreateConvolutionDescriptor", "cudnnDestroyConvolutionDescriptor", "cudnnSetConvolution2dDescriptor",
    "cudnnSetConvolutionGroupCount", "cudnnSetConvolutionMathType", "cudnnGetConvolution2dForwardOutputDim",
    "cudnnGetConvolutionForwardAlgorithmMaxCount", "cudnnGetConvolutionBackwardDataAlgorithmMaxCount",
    "cudnnGetConvolutionBackwardFilterAlgorithmMaxCount", "cudnnFindConvolutionForwardAlgorithmEx",
    "cudnnFindConvolutionBackwardDataAlgorithmEx", "cudnnFindConvolutionBackwardFilterAlgorithmEx",
    "cudnnConvolutionForward", "cudnnConvolutionBackwardData", "cudnnConvolutionBackwardFilter"};
  _Static_assert(sizeof(lt_cudnn_api) == sizeof names / sizeof names[0] * sizeof(void *), "cuDNN table size");
  if (!load_table(CUDNN_SONAME, LT_CUDNN_LIB_DIR, (void **)&dnn, names, (int)(sizeof names / sizeof names[0]),
                  dnn_why, sizeof dnn_why))
    return;
  size_t v = dnn.cudnnGetVersion();
  if (v < 90000) { /* cuDNN 8 and older encoded major*1000 + minor*100 + patch */
    snprintf(dnn_why, sizeof dnn_why, "it is version %zu.%zu.%zu, luatrain needs cuDNN 9.0 or newer", v / 1000,
             (v % 1000) / 100, v % 100);
    return;
  }
  if (v / 10000 != CUDNN_MAJOR) {
    snprintf(dnn_why, sizeof dnn_why, "it is version %zu.%zu, luatrain was built for cuDNN %d", v / 10000,
             (v % 10000) / 100, CUDNN_MAJOR);
    return;
  }
  dnn_ok = true;
}

lt_status lt_cuda_cudnn_api(const lt_cudnn_api **out) {
  pthread_once(&dnn_once, load_dnn);
  if (!dnn_ok) return lt_error_set(LT_ERR_RUNTIME, 0, "cuDNN (%s) could not be loaded: %s", CUDNN_SONAME, dnn_why);
  *out = &dnn;
  return LT_OK;
}

/* --- versions ------------------------------------------------------------------------------------------- */
int lt_cuda_runtime_version(void) {
  int v = 0;
  if (cudaRuntimeGetVersion(&v) != cudaSuccess) v = CUDART_VERSION;
  return v;
}

int lt_cuda_driver_version(void) {
  int v = 0;
  if (cudaDriverGetVersion(&v) != cudaSuccess) v = 0;
  return v;
}

lt_status lt_cuda_cudnn_version(size_t *out) {
  const lt_cudnn_api *d;
  LT_TRY(lt_cuda_cudnn_api(&d));
  *out = d->cudnnGetVersion();
  return LT_OK;
}

lt_status lt_cuda_cublas_version(size_t *out) {
  const lt_cublas_api *b;
  LT_TRY(lt_cuda_cublas_api(&b));
  int v[3] = {0, 0, 0};
  const libraryPropertyType props[3] = {MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL};
  for (int i = 0; i < 3; i++) LT_CUBLAS_CHECK(b->cublasGetProperty(props[i], &v[i]));
  *out = (size_t)v[0] * 10000 + (size_t)v[1] * 100 + (size_t)v[2];
  return LT_OK;
}

lt_status lt_cuda_cublaslt_version(size_t *out) {
  const lt_cublaslt_api *b;
  LT_TRY(lt_cuda_cublaslt_api(&b));
  *out = b->cublasLtGetVersion();
  return LT_OK;
}

/* CUDA's 13000 as "13.0" */
static void cuda_ver(char *buf, size_t len, int v) { snprintf(buf, len, "%d.%d", v / 1000, (v % 1000) / 10); }

void lt_cuda_describe(char *buf, size_t len) {
  char rt[16], drv[16];
  cuda_ver(rt, sizeof rt, lt_cuda_runtime_version());
  int dv = lt_cuda_driver_version();
  if (dv == 0) { /* no driver: probe nothing else */
    snprintf(buf, len, "CUDA runtime %s; no NVIDIA driver", rt);
    return;
  }
  cuda_ver(drv, sizeof drv, dv);
  if (!lt_cuda_is_available()) {
    snprintf(buf, len, "CUDA runtime %s, driver %s; no GPU (%s)", rt, drv, lt_cuda_unavailable_reason());
    return;
  }
  char dnn_s[192];
  size_t v = 0;
  const lt_cudnn_api *d = NULL;
  if (lt_cuda_cudnn_version(&v) == LT_OK && lt_cuda_cudnn_api(&d) == LT_OK) {
    /* where the loader found it: a machine may hold several cuDNN versions */
    Dl_info info;
    const char *from = dladdr((void *)d->cudnnGetVersion, &info) && info.dli_fname ? info.dli_fname : "?";
    snprintf(dnn_s, sizeof dnn_s, "cuDNN %zu.%zu.%zu from %.120s", v / 10000, (v % 10000) / 100, v % 100, from);
  } else
    snprintf(dnn_s, sizeof dnn_s, "cuDNN not loadable (%.60s)", lt_error_message());
  int n = lt_cuda_device_count();
  char name[128] = "?";
  if (lt_cuda_device_name(0, name, sizeof name) != LT_OK) snprintf(name, sizeof name, "?");
  snprintf(buf, len, "CUDA runtime %s, driver %s, %s, %d GPU%s (%s%s)", rt, drv, dnn_s, n, n == 1 ? "" : "s", name,
           n > 1 ? ", ..." : "");
}

/* --- error formatting ----------------------------------------------------------------------------------- */
static const char *cublas_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "unknown cuBLAS status";
  }
}

static const char *base_name(const char *file) {
  const char *b = strrchr(file, '/');
  return b ? b + 1 : file;
}

lt_status lt_cublas_fail(cublasStatus_t s, const char *stmt, const char *file, int line) {
  lt_status st = s == CUBLAS_STATUS_ALLOC_FAILED ? LT_ERR_OOM : LT_ERR_RUNTIME;
  return lt_error_set(st, 0, "cuBLAS error: %s (%d) in `%s` at %s:%d", cublas_name(s), (int)s, stmt,
                      base_name(file), line);
}

lt_status lt_cudnn_fail(cudnnStatus_t s, const char *stmt, const char *file, int line) {
  lt_status st = s == CUDNN_STATUS_ALLOC_FAILED ? LT_ERR_OOM : LT_ERR_RUNTIME;
  const char *name = dnn_ok ? dnn.cudnnGetErrorString(s) : "cuDNN status";
  return lt_error_set(st, 0, "cuDNN error: %s (%d) in `%s` at %s:%d", name, (int)s, stmt, base_name(file), line);
}

/* --- per-device handles ----------------------------------------------------------------------------------- */
/* cuBLAS keeps its own workspace unless given one; a pool block keeps it
 * stream-ordered (and capturable). 32 MiB is what cuBLAS asks for on Hopper. */
#define CUBLAS_WORKSPACE_BYTES ((size_t)32 << 20)

/* A handle is made once and kept for the life of the process, its workspace
 * with it. Made during a capture, the workspace would be an allocation of
 * the graph (freed with it, while the handle kept using it) and the
 * library's own set-up could break the capture: refuse, as for the first
 * convolution of a shape. */
static lt_status no_handle_in_capture(const char *lib) {
  if (!lt_cuda_capturing()) return LT_OK;
  char what[96];
  snprintf(what, sizeof what, "the first %s call on a device", lib);
  return lt_cuda_graph_refuse(what, "it makes the library's handle and workspace, which outlive the graph; run the "
                                    "step eagerly before capturing (warmup >= 1)");
}

lt_status lt_cuda_get_cublas(lt_cuda_ctx *c, cublasHandle_t *out) {
  if (!c->cublas) {
    const lt_cublas_api *b;
    LT_TRY(no_handle_in_capture("cuBLAS"));
    LT_TRY(lt_cuda_cublas_api(&b));
    cublasHandle_t h;
    LT_CUBLAS_CHECK(b->cublasCreate_v2(&h));
    void *ws = NULL;
    lt_status st = LT_OK;
    cublasStatus_t s = b->cublasSetStream_v2(h, c->stream);
    if (s != CUBLAS_STATUS_SUCCESS) st = lt_cublas_fail(s, "cublasSetStream(h, c->stream)", __FILE__, __LINE__);
    if (st == LT_OK) st = lt_cuda_malloc(c, CUBLAS_WORKSPACE_BYTES, &ws);
    if (st == LT_OK) {
      s = b->cublasSetWorkspace_v2(h, ws, CUBLAS_WORKSPACE_BYTES);
      if (s != CUBLAS_STATUS_SUCCESS) st = lt_cublas_fail(s, "cublasSetWorkspace(h, ws, bytes)", __FILE__, __LINE__);
    }
    if (st == LT_OK) {
      s = b->cublasSetPointerMode_v2(h, CUBLAS_POINTER_MODE_HOST);
      if (s != CUBLAS_STATUS_SUCCESS) st = lt_cublas_fail(s, "cublasSetPointerMode(h, HOST)", __FILE__, __LINE__);
    }
    if (st != LT_OK) {
      lt_cuda_free_async(c, ws);
      b->cublasDestroy_v2(h);
      return st;
    }
    c->cublas = h;
    c->cublas_ws = ws;
  }
  *out = c->cublas;
  return LT_OK;
}

lt_status lt_cuda_get_cublaslt(lt_cuda_ctx *c, cublasLtHandle_t *out, void **ws, size_t *ws_bytes) {
  if (!c->cublaslt) {
    const lt_cublaslt_api *b;
    LT_TRY(no_handle_in_capture("cuBLASLt"));
    LT_TRY(lt_cuda_cublaslt_api(&b));
    cublasLtHandle_t h;
    LT_CUBLAS_CHECK(b->cublasLtCreate(&h));
    void *w = NULL;
    lt_status st = lt_cuda_malloc(c, CUBLAS_WORKSPACE_BYTES, &w);
    if (st != LT_OK) {
      b->cublasLtDestroy(h);
      return st;
    }
    c->cublaslt = h;
    c->cublaslt_ws = w;
  }
  *out = c->cublaslt;
  *ws = c->cublaslt_ws;
  *ws_bytes = CUBLAS_WORKSPACE_BYTES;
  return LT_OK;
}

lt_status lt_cuda_get_cudnn(lt_cuda_ctx *c, cudnnHandle_t *out) {
  if (!c->cudnn) {
    const lt_cudnn_api *d;
    LT_TRY(no_handle_in_capture("cuDNN"));
    LT_TRY(lt_cuda_cudnn_api(&d));
    cudnnHandle_t h;
    LT_CUDNN_CHECK(d->cudnnCreate(&h));
    cudnnStatus_t s = d->cudnnSetStream(h, c->stream);
    if (s != CUDNN_STATUS_SUCCESS) {
      d->cudnnDestroy(h);
      return lt_cudnn_fail(s, "cudnnSetStream(h, c->stream)", __FILE__, __LINE__);
    }
    c->cudnn = h;
  }
  *out = c->cudnn;
  return LT_OK;
}
