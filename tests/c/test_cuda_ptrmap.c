/* test_cuda_ptrmap.c — the pointer -> size map of cuda/lt_cuda_ptrmap.h,
 * which the CUDA backend's byte ledger and graph captures keep their sizes
 * in. It is plain C, so it runs here without a GPU: sizes come back for the
 * pointers put, absent and already-taken pointers are not found, removals
 * leave probe chains intact, growth and tombstone clean-up keep every live
 * entry, and a pointer put twice is taken twice. */
#include <stdint.h>

#include "lt_cuda_ptrmap.h"
#include "lt_test.h"

/* Device-like addresses: 256-byte aligned, in a few distant regions so that
 * hashes collide and probe chains form. */
static void *addr(size_t i) {
  return (void *)(uintptr_t)(((uintptr_t)0x7f0000000000u + (uintptr_t)(i % 7) * ((uintptr_t)1 << 32)) +
                             (uintptr_t)(i / 7) * 256u);
}

int main(void) {
  lt_ptrmap m = {0};
  size_t n = 0;
  LT_CHECK(!lt_ptrmap_take(&m, addr(1), &n)); /* empty, never allocated */

  enum { N = 5000 };
  bool ok = true;
  for (size_t i = 0; i < N; i++) ok = ok && lt_ptrmap_put(&m, addr(i), 1000 + i);
  LT_CHECK(ok);
  LT_CHECK(m.live == N);
  LT_CHECK(m.cap >= 2 * N && (m.cap & (m.cap - 1)) == 0);

  /* take every other one: the rest must still be found behind the tombstones */
  bool sizes_ok = true;
  for (size_t i = 0; i < N; i += 2) sizes_ok = sizes_ok && lt_ptrmap_take(&m, addr(i), &n) && n == 1000 + i;
  LT_CHECK(sizes_ok);
  LT_CHECK(m.live == N / 2);
  bool gone = true;
  for (size_t i = 0; i < N; i += 2) gone = gone && !lt_ptrmap_take(&m, addr(i), NULL);
  LT_CHECK(gone);

  /* churn: many puts and takes of new keys rebuild the table; the odd keys survive */
  for (size_t round = 0; round < 20; round++) {
    for (size_t i = 0; i < 1000; i++) ok = ok && lt_ptrmap_put(&m, addr(N + round * 1000 + i), 7);
    for (size_t i = 0; i < 1000; i++) ok = ok && lt_ptrmap_take(&m, addr(N + round * 1000 + i), &n) && n == 7;
  }
  LT_CHECK(ok);
  LT_CHECK(m.live == N / 2);
  LT_CHECK(m.used < m.cap); /* an empty slot is left, so probes end */
  sizes_ok = true;
  for (size_t i = 1; i < N; i += 2) sizes_ok = sizes_ok && lt_ptrmap_take(&m, addr(i), &n) && n == 1000 + i;
  LT_CHECK(sizes_ok);
  LT_CHECK(m.live == 0);

  /* a key put twice is kept twice */
  LT_CHECK(lt_ptrmap_put(&m, addr(3), 10) && lt_ptrmap_put(&m, addr(3), 20));
  size_t a = 0, b = 0;
  LT_CHECK(lt_ptrmap_take(&m, addr(3), &a) && lt_ptrmap_take(&m, addr(3), &b));
  LT_CHECK(a + b == 30);
  LT_CHECK(!lt_ptrmap_take(&m, addr(3), NULL));

  lt_ptrmap_clear(&m);
  LT_CHECK(m.s == NULL && m.cap == 0 && m.live == 0);
  LT_CHECK(lt_ptrmap_put(&m, addr(9), 1) && lt_ptrmap_take(&m, addr(9), &n) && n == 1);
  lt_ptrmap_clear(&m);
  return lt_test_done();
}
