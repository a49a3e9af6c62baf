/* lt_cpu_alloc.c — the aligned host allocator with a bounded cache of large
 * blocks (see lt_cpu_alloc.h). Each block starts with a 64-byte header that
 * records its usable size, so free needs no lookup table. */
#include "lt_cpu_alloc.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define HEADER 64
#define LARGE ((size_t)1 << 20)
#define MAX_BLOCKS 1024
#define MAX_CACHED ((size_t)1 << 30)

typedef struct {
  size_t size; /* usable bytes after the header */
} block_header;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *cached[MAX_BLOCKS]; /* user pointers, oldest first */
static size_t cached_count, cached_total;

static size_t usable(void *p) { return ((block_header *)((char *)p - HEADER))->size; }

static void release(void *p) { free((char *)p - HEADER); }

static void remove_at(size_t i) {
  cached_total -= usable(cached[i]);
  for (size_t j = i + 1; j < cached_count; j++) cached[j - 1] = cached[j];
  cached_count--;
}

static void *fresh(size_t size) {
  char *base = aligned_alloc(HEADER, HEADER + size);
  if (!base) return NULL;
  ((block_header *)base)->size = size;
  return base + HEADER;
}

void *lt_cpu_alloc_block(size_t nbytes) {
  size_t size = (nbytes + 63) & ~(size_t)63;
  if (size < nbytes) return NULL; /* overflow */
  if (size >= LARGE) {
    size = (size + 4095) & ~(size_t)4095;
    pthread_mutex_lock(&lock);
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < cached_count; i++) {
      size_t s = usable(cached[i]);
      if (s >= size && s - size <= size / 4 && (best == SIZE_MAX || s < usable(cached[best]))) best = i;
    }
    if (best != SIZE_MAX) {
      void *p = cached[best];
      remove_at(best);
      pthread_mutex_unlock(&lock);
      return p;
    }
    pthread_mutex_unlock(&lock);
  }
  void *p = fresh(size);
  if (!p && lt_cpu_empty_cache() > 0) p = fresh(size);
  return p;
}

void lt_cpu_free_block(void *p) {
  if (!p) return;
  size_t size = usable(p);
  if (size < LARGE || size > MAX_CACHED / 2) {
    release(p);
    return;
  }
  void *evict[16];
  size_t nevict = 0;
  pthread_mutex_lock(&lock);
  while (cached_count > 0 && nevict < 16 && (cached_count == MAX_BLOCKS || cached_total + size > MAX_CACHED)) {
    evict[nevict++] = cached[0];
    remove_at(0);
  }
  cached[cached_count++] = p;
  cached_total += size;
  pthread_mutex_unlock(&lock);
  for (size_t i = 0; i < nevict; i++) release(evict[i]);
}

size_t lt_cpu_empty_cache(void) {
  static void *all[MAX_BLOCKS]; /* guarded by `drain` */
  static pthread_mutex_t drain = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&drain);
  pthread_mutex_lock(&lock);
  size_t n = cached_count, total = cached_total;
  for (size_t i = 0; i < n; i++) all[i] = cached[i];
  cached_count = 0;
  cached_total = 0;
  pthread_mutex_unlock(&lock);
  for (size_t i = 0; i < n; i++) release(all[i]);
  pthread_mutex_unlock(&drain);
  return total;
}

size_t lt_cpu_cached_bytes(void) {
  pthread_mutex_lock(&lock);
  size_t t = cached_total;
  pthread_mutex_unlock(&lock);
  return t;
}
