/* lt_philox.c — the generator's state and the C entry points of Philox
 * 4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
 * SC'11) and its draws, whose arithmetic lt_philox.h holds for the host and
 * the GPU. */
#include "lt_philox.h"

void lt_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  lt_philox_rounds(ctr, key, out);
}

void lt_philox_block(uint64_t seed, uint64_t counter, uint32_t out[4]) { lt_philox_block_words(seed, counter, out); }

static lt_rng global_rng = {0, 0};
lt_rng *lt_rng_global(void) { return &global_rng; }
void lt_rng_manual_seed(uint64_t seed) { global_rng.seed = seed; global_rng.offset = 0; }

uint64_t lt_rng_reserve(lt_rng *rng, uint64_t nblocks) {
  uint64_t first = rng->offset;
  rng->offset += nblocks;
  return first;
}

float lt_philox_uniform_f32(uint32_t w) { return lt_philox_u01f(w); }
double lt_philox_uniform_f64(uint32_t w) { return lt_philox_u01d(w); }
double lt_philox_normal(const uint32_t block[4], int i) { return lt_philox_normal4(block, i); }
