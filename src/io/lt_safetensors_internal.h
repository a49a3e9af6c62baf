/* lt_safetensors_internal.h — what the safetensors reader
 * (lt_safetensors_read.c) and writer (lt_safetensors_write.c) share: the
 * metadata key, how a name from a file is quoted in messages, and two small
 * checks both make (a shape printed for a message, a list of names without
 * repeats). Not a public API: lt_safetensors.h is. */
#ifndef LT_SAFETENSORS_INTERNAL_H
#define LT_SAFETENSORS_INTERNAL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_safetensors.h"

#define META_KEY "__metadata__"

/* Names from files can be long or hostile; messages quote at most this much. */
#define Q "%.120s"

/* A shape as "[2,3]", for messages (cut short at cap bytes). */
static inline void format_shape(char *buf, size_t cap, const int64_t *shape, int ndim) {
  size_t k = 0;
  k += (size_t)snprintf(buf, cap, "[");
  for (int i = 0; i < ndim && k < cap; i++)
    k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? "," : "", (long long)shape[i]);
  if (k < cap) snprintf(buf + k, cap - k, "]");
}

static inline int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Fails if `names` (n pointers, sorted here) holds one twice. */
static inline lt_status check_unique(const char **names, size_t n, lt_status status, const char *fname,
                                     const char *what) {
  qsort(names, n, sizeof *names, cmp_str);
  for (size_t i = 1; i < n; i++)
    if (strcmp(names[i - 1], names[i]) == 0)
      return lt_error_set(status, 0, "'%s': %s '" Q "' appears twice", fname, what, names[i]);
  return LT_OK;
}

#endif
