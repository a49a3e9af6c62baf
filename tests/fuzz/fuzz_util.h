/* fuzz_util.h — what the libFuzzer targets share: a scratch folder for the
 * files a reader opens by name (in /dev/shm when there is one, so writing
 * them costs little), writing one, and the check that stops the fuzzer with
 * a message, and starting the runtime (the CPU backend registered before
 * the first input, as the Lua glue does). Header-only: each target is one
 * translation unit. */
#ifndef LT_FUZZ_UTIL_H
#define LT_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lt_cpu.h"
#include "lt_error.h"

__attribute__((constructor)) static void fuzz_register_backends(void) { lt_cpu_register(); }

static char fuzz_dir_path[256];

static inline void fuzz_dir_remove(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir_path);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", fuzz_dir_path);
}

/* The process's scratch folder, made on first use and removed at exit. */
static inline const char *fuzz_dir(void) {
  if (!fuzz_dir_path[0]) {
    snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/lt_fuzz_XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(fuzz_dir_path)) {
      perror("mkdtemp");
      abort();
    }
    atexit(fuzz_dir_remove);
  }
  return fuzz_dir_path;
}

/* "<scratch folder>/<name>" into out[cap]. */
static inline void fuzz_path(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", fuzz_dir(), name); }

static inline void fuzz_write(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f || (len && fwrite(data, 1, len, f) != len)) {
    perror(path);
    abort();
  }
  fclose(f);
}

/* Stops the fuzzer (a crash it records) when an invariant fails. */
static inline void fuzz_check(int cond, const char *what) {
  if (!cond) {
    fprintf(stderr, "fuzz invariant failed: %s\nlast error: %s\n", what, lt_error_message());
    abort();
  }
}

/* A failed read must be an I/O error whose message names the file. */
static inline void fuzz_check_refusal(lt_status st, const char *path) {
  fuzz_check(st == LT_ERR_IO, "a corrupt file is refused with LT_ERR_IO");
  fuzz_check(strstr(lt_error_message(), path) != NULL, "the message names the file");
}

static inline uint32_t fuzz_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

#endif
