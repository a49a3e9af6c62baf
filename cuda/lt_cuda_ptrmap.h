/* lt_cuda_ptrmap.h — a small map from device pointer to byte count, for the
 * two places of the CUDA backend that must know the size of what they free
 * (cudaFreeAsync is not told): the per-device byte ledger of
 * lt_cuda_backend.cu and the live allocations of a graph capture in
 * lt_cuda_graph.cu. Header-only (static inline) so that it compiles into
 * both the CUDA C++ files and plain C tests.
 *
 * Open addressing with linear probing; a removed entry leaves a tombstone
 * (key 1) so that probes for later keys still find them, and a rebuild at
 * growth time drops the tombstones. Keys are pointers the allocator handed
 * out, never 0 (empty) or 1 (tombstone). A key put twice is kept twice and
 * taken one at a time. Not thread-safe: callers hold their own lock. Not a
 * general hash map (no values beyond the size, no iteration API: walk
 * `s[0..cap)` skipping keys <= 1). */
#ifndef LT_CUDA_PTRMAP_H
#define LT_CUDA_PTRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct {
  uintptr_t key; /* 0 empty, 1 removed */
  size_t size;
} lt_ptrmap_slot;

typedef struct {
  lt_ptrmap_slot *s;
  size_t cap;  /* a power of two, or 0 before the first put */
  size_t used; /* live and removed slots: what probing walks over */
  size_t live;
} lt_ptrmap;

/* Device pointers are aligned to 256 bytes or more: the low bits say nothing. */
static inline size_t lt_ptrmap_hash(uintptr_t p, size_t cap) {
  return (size_t)((p >> 8) * 0x9E3779B97F4A7C15ull) & (cap - 1);
}

/* Rebuilds the table without tombstones, doubling it when it is more than a
 * quarter full of live keys; false without host memory (m unchanged). */
static inline bool lt_ptrmap_grow(lt_ptrmap *m) {
  size_t cap = m->cap ? (m->live * 4 > m->cap ? m->cap * 2 : m->cap) : 256;
  lt_ptrmap_slot *s = (lt_ptrmap_slot *)calloc(cap, sizeof(lt_ptrmap_slot));
  if (!s) return false;
  for (size_t i = 0; i < m->cap; i++) {
    if (m->s[i].key <= 1) continue;
    size_t j = lt_ptrmap_hash(m->s[i].key, cap);
    while (s[j].key) j = (j + 1) & (cap - 1);
    s[j] = m->s[i];
  }
  free(m->s);
  m->s = s;
  m->cap = cap;
  m->used = m->live;
  return true;
}

/* Adds p -> n; false without host memory (nothing added). */
static inline bool lt_ptrmap_put(lt_ptrmap *m, const void *p, size_t n) {
  /* at most half the slots in use keeps probe runs short and one slot empty */
  if ((m->used + 1) * 2 > m->cap && !lt_ptrmap_grow(m)) return false;
  uintptr_t k = (uintptr_t)p;
  size_t j = lt_ptrmap_hash(k, m->cap);
  while (m->s[j].key > 1) j = (j + 1) & (m->cap - 1);
  if (m->s[j].key == 0) m->used++;
  m->s[j].key = k;
  m->s[j].size = n;
  m->live++;
  return true;
}

/* Removes p, storing its size in *size (may be NULL); false when absent. */
static inline bool lt_ptrmap_take(lt_ptrmap *m, const void *p, size_t *size) {
  if (!m->cap) return false;
  uintptr_t k = (uintptr_t)p;
  size_t j = lt_ptrmap_hash(k, m->cap);
  while (m->s[j].key && m->s[j].key != k) j = (j + 1) & (m->cap - 1);
  if (m->s[j].key != k) return false;
  if (size) *size = m->s[j].size;
  m->s[j].key = 1;
  m->live--;
  return true;
}

/* Frees the table; m is then empty and usable again. */
static inline void lt_ptrmap_clear(lt_ptrmap *m) {
  free(m->s);
  m->s = NULL;
  m->cap = m->used = m->live = 0;
}

#endif
