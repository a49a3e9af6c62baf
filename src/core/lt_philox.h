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
 *     z0 = sqrt(-2 ln u1) cos(2 pi u2), z1 = sqrt(-2 ln u1) sin(2 pi u2).
 *
 * The bijection and the draws are written once, below, for the host and the
 * GPU (lt_cdefs.h): the CPU kernels reach them through lt_philox.c's
 * functions, the CUDA kernels (cuda/lt_cuda_rand.cu, lt_cuda_act.cu) call them directly. The
 * float uniforms are exact everywhere; the normal uses log/sin/cos, whose
 * last bit may differ between the GPU's libm and glibc's. */
#ifndef LT_PHILOX_H
#define LT_PHILOX_H

#include <math.h>
#include <stdint.h>

#include "lt_cdefs.h"

LT_BEGIN_DECLS

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

LT_END_DECLS

/* --- the rule itself, for the host and the GPU ----------------------------------------------- */

#define LT_PHILOX_M0 0xD2511F53u
#define LT_PHILOX_M1 0xCD9E8D57u
#define LT_PHILOX_W0 0x9E3779B9u
#define LT_PHILOX_W1 0xBB67AE85u

typedef struct { uint32_t w[4]; } lt_philox4;

/* hi and lo words of a * b: one 64-bit product on the host, the GPU's
 * mul.hi and a plain multiply on the device */
static LT_INLINE LT_HOST_DEVICE void lt_philox_mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo) {
#if defined(__CUDA_ARCH__)
  *hi = __umulhi(a, b);
  *lo = a * b;
#else
  uint64_t p = (uint64_t)a * b;
  *hi = (uint32_t)(p >> 32);
  *lo = (uint32_t)p;
#endif
}

/* out = Philox4x32-10(ctr, key): ten rounds. */
static LT_INLINE LT_HOST_DEVICE void lt_philox_rounds(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; round++) {
    uint32_t hi0, lo0, hi1, lo1;
    lt_philox_mulhilo(LT_PHILOX_M0, c0, &hi0, &lo0);
    lt_philox_mulhilo(LT_PHILOX_M1, c2, &hi1, &lo1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += LT_PHILOX_W0;
    k1 += LT_PHILOX_W1;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

/* Block `counter` of the stream of `seed`: counter in words 0-1, zero in
 * words 2-3, key = the seed's two halves. */
static LT_INLINE LT_HOST_DEVICE void lt_philox_block_words(uint64_t seed, uint64_t counter, uint32_t out[4]) {
  const uint32_t ctr[4] = {(uint32_t)counter, (uint32_t)(counter >> 32), 0, 0};
  const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  lt_philox_rounds(ctr, key, out);
}

/* The same block as a value (what the GPU threads keep in registers). */
static LT_INLINE LT_HOST_DEVICE lt_philox4 lt_philox_block4(uint64_t seed, uint64_t counter) {
  lt_philox4 r;
  lt_philox_block_words(seed, counter, r.w);
  return r;
}

/* uniform float32 in [0, 1): (w >> 8) * 2^-24, exact */
static LT_INLINE LT_HOST_DEVICE float lt_philox_u01f(uint32_t w) { return (float)(w >> 8) * (1.0f / 16777216.0f); }
/* uniform float64 in [0, 1): w * 2^-32, exact */
static LT_INLINE LT_HOST_DEVICE double lt_philox_u01d(uint32_t w) { return (double)w * (1.0 / 4294967296.0); }

/* The i-th normal (i in 0..3) of a block: Box-Muller on words (0,1), (2,3). */
static LT_INLINE LT_HOST_DEVICE double lt_philox_normal4(const uint32_t *w, int i) {
  int pair = i & 2;
  double u1 = ((double)w[pair] + 0.5) * (1.0 / 4294967296.0);
  double u2 = ((double)w[pair + 1] + 0.5) * (1.0 / 4294967296.0);
  double r = sqrt(-2.0 * log(u1)), theta = 6.283185307179586476925 * u2;
  return (i & 1) ? r * sin(theta) : r * cos(theta);
}

#endif
