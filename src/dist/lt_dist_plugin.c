/* lt_dist_plugin.c — finds and opens the MPI plugin, luatrain_mpi.so
 * (src/dist/mpi), the one place luatrain loads MPI. Opened with dlopen by
 * init_process_group with the mpi backend only, so a plain run neither
 * needs Open MPI installed nor pays for loading it.
 *
 * Where it looks, in order (the first file that exists is the one; a file
 * that exists but does not load is an error, not a reason to go on):
 *   1. $LUATRAIN_MPI_PLUGIN, a path (then nowhere else);
 *   2. beside the running program (/proc/self/exe): the build folder holds
 *      build/luatrain and build/luatrain_mpi.so;
 *   3. <program's folder>/../<libdir>/luatrain/luatrain_mpi.so: the
 *      installed program, bin/luatrain, and the installed plugin
 *      (LT_DIST_LIBDIR is CMake's CMAKE_INSTALL_LIBDIR; an absolute one is
 *      used as it is);
 *   4. for the library that holds this code when it is not the program
 *      (libluatrain.so loaded into lua5.4 or an embedding program, found
 *      with dladdr): <its folder>/luatrain/luatrain_mpi.so, where `make
 *      install` puts it beside an installed libluatrain.so, then <its
 *      folder>/luatrain_mpi.so, the build folder's copy.
 * It is opened RTLD_GLOBAL, as MPI libraries want, since Open MPI's own
 * components look up libmpi's symbols; it is never closed (MPI cannot
 * start twice in a process anyway). */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lt_dist_internal.h"

#ifndef LT_DIST_LIBDIR
#define LT_DIST_LIBDIR "lib"
#endif
#define PLUGIN "luatrain_mpi.so"
#define MAX_CANDIDATES 6

/* Cuts `path` at its last '/' (the folder; "" when it has none). */
static void folder_of(char *path) {
  char *slash = strrchr(path, '/');
  if (slash != NULL) *slash = '\0';
  else path[0] = '\0';
}

static void add(char cand[][PATH_MAX], int *n, const char *fmt, const char *a, const char *b) {
  if (*n >= MAX_CANDIDATES || a[0] == '\0') return;
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, fmt, a, b) >= (int)sizeof path) return;
  char resolved[PATH_MAX];
  if (realpath(path, resolved) != NULL) snprintf(path, sizeof path, "%s", resolved);
  for (int i = 0; i < *n; i++)
    if (strcmp(cand[i], path) == 0) return;
  snprintf(cand[(*n)++], PATH_MAX, "%s", path);
}

static lt_status open_plugin(const char *path, const lt_comm_backend **out) {
  void *h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
  if (h == NULL) {
    const char *why = dlerror();
    return lt_error_set(LT_ERR_RUNTIME, 0,
                        "init_process_group: cannot load the mpi backend's plugin %s: %s%s", path,
                        why != NULL ? why : "unknown error",
                        why != NULL && strstr(why, "libmpi") != NULL
                            ? " (Open MPI is not installed: apt install openmpi-bin)"
                            : "");
  }
  lt_comm_plugin_entry entry;
  *(void **)&entry = dlsym(h, LT_COMM_PLUGIN_ENTRY);
  if (entry == NULL)
    return lt_error_set(LT_ERR_RUNTIME, 0, "init_process_group: %s is not a luatrain plugin (no %s)", path,
                        LT_COMM_PLUGIN_ENTRY);
  char err[LT_DIST_ERRLEN] = "";
  const lt_comm_backend *b = entry(err, sizeof err);
  if (b == NULL)
    return lt_error_set(LT_ERR_RUNTIME, 0, "init_process_group: the mpi plugin %s refused to start: %s", path,
                        err[0] ? err : "no reason given");
  if (b->init == NULL || b->all_reduce == NULL || b->broadcast == NULL || b->all_gather == NULL ||
      b->reduce_scatter == NULL || b->barrier == NULL || b->abort == NULL || b->finalize == NULL)
    return lt_error_set(LT_ERR_RUNTIME, 0, "init_process_group: the plugin %s lacks entries of lt_comm_backend", path);
  *out = b;
  return LT_OK;
}

lt_status lt_dist_load_mpi_plugin(const lt_comm_backend **out) {
  static const lt_comm_backend *loaded;
  if (loaded != NULL) {
    *out = loaded;
    return LT_OK;
  }
  const char *env = getenv("LUATRAIN_MPI_PLUGIN");
  if (env != NULL && env[0] != '\0') {
    if (access(env, F_OK) != 0)
      return lt_error_set(LT_ERR_RUNTIME, 0, "init_process_group: LUATRAIN_MPI_PLUGIN='%s' does not exist", env);
    LT_TRY(open_plugin(env, &loaded));
    *out = loaded;
    return LT_OK;
  }
  static char cand[MAX_CANDIDATES][PATH_MAX];
  int n = 0;
  char exe[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[len > 0 ? len : 0] = '\0';
  folder_of(exe);
  add(cand, &n, "%s/%s", exe, PLUGIN);
  if (LT_DIST_LIBDIR[0] == '/') add(cand, &n, "%s/luatrain/%s", LT_DIST_LIBDIR, PLUGIN);
  else add(cand, &n, "%s/../" LT_DIST_LIBDIR "/luatrain/%s", exe, PLUGIN);
  Dl_info info;
  if (dladdr((void *)&lt_dist_load_mpi_plugin, &info) != 0 && info.dli_fname != NULL) {
    char lib[PATH_MAX];
    snprintf(lib, sizeof lib, "%s", info.dli_fname);
    char resolved[PATH_MAX];
    if (realpath(lib, resolved) != NULL) snprintf(lib, sizeof lib, "%s", resolved);
    folder_of(lib);
    if (strcmp(lib, exe) != 0) {
      add(cand, &n, "%s/luatrain/%s", lib, PLUGIN);
      add(cand, &n, "%s/%s", lib, PLUGIN);
    }
  }
  for (int i = 0; i < n; i++) {
    if (access(cand[i], F_OK) != 0) continue;
    LT_TRY(open_plugin(cand[i], &loaded));
    *out = loaded;
    return LT_OK;
  }
  char where[1024] = "";
  size_t used = 0;
  for (int i = 0; i < n && used < sizeof where; i++)
    used += (size_t)snprintf(where + used, sizeof where - used, "%s%s", i ? ", " : "", cand[i]);
  return lt_error_set(LT_ERR_RUNTIME, 0,
                      "init_process_group: the mpi backend's plugin " PLUGIN
                      " was not found (looked for %s); it is built when Open MPI is installed (apt install "
                      "openmpi-bin libopenmpi-dev, then rebuild luatrain), or set LUATRAIN_MPI_PLUGIN to its path",
                      n ? where : "nowhere: the program's path is unknown");
}
