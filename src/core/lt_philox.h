/* lt_philox.h — the counter-based random generator (Philox 4x32-10).
 *
 * A draw is a pure function of (seed, counter), so the same seed gives the
 * same numbers on any device and with any number of threads: element i of a
 * fill that starts at block `base` uses block base + i/4, word i%4.
 *
 * The stream: the global generator holds (seed, offset); a fill of n elements
 * reserves ceil(n/4) blocks (lt_rng_reserve) and the offset moves past them.
 * Its state is those two numbers, which is what lt.get_rng_state() saves.
 *
 * Derived draws (identical on every backend):
 *   uniform float32 = (w >> 8) * 2^-24            in [0, 1)
 *   uniform float64 = w * 2^-32                   in [0, 1)
 *   normal: words (0,1) and (2,3) of a block form Box-Muller pairs with
 *     u1 = (w0 + 0.5) * 2^-32, u2 = (w1 + 0.5) * 2^-32,
 *     z0 = sqrt(-2 ln u1) cos(2 pi u2), z1 = sqrt(-2 ln u1) sin(2 pi u2). */
#ifndef LT_PHILOX_H
#define LT_PHILOX_H

#include <stdint.h>

typedef struct {
  uint64_t seed;
  uint64_t offset; /* next unused block */
} lt_rng;

/* The raw bijection: out = Philox4x32-10(counter, key). */
void lt_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
/* Block `counter` of the stream of `seed` (counter in words 0-1, zero 2-3). */
void lt_philox_block(uint64_t seed, uint64_t counter, uint32_t out[4]);

/* The process-wide generator used by rand/randn/randperm/dropout. Default
 * seed 0 until lt_rng_manual_seed is called. Used from the main thread only. */
lt_rng *lt_rng_global(void);
void lt_rng_manual_seed(uint64_t seed);
/* Reserves n blocks of `rng` and returns the first. */
uint64_t lt_rng_reserve(lt_rng *rng, uint64_t nblocks);

float lt_philox_uniform_f32(uint32_t w);
double lt_philox_uniform_f64(uint32_t w);
/* The i-th normal (i in 0..3) of a block. */
double lt_philox_normal(const uint32_t block[4], int i);

#endif
