/* lt_philox.c — Philox 4x32-10 (Salmon et al., "Parallel random numbers: as
 * easy as 1, 2, 3", SC'11) and the derived draws described in lt_philox.h. */
#include "lt_philox.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo) {
  uint64_t p = (uint64_t)a * b;
  *hi = (uint32_t)(p >> 32);
  *lo = (uint32_t)p;
}

void lt_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; round++) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(PHILOX_M0, c0, &hi0, &lo0);
    mulhilo(PHILOX_M1, c2, &hi1, &lo1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

void lt_philox_block(uint64_t seed, uint64_t counter, uint32_t out[4]) {
  const uint32_t ctr[4] = {(uint32_t)counter, (uint32_t)(counter >> 32), 0, 0};
  const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  lt_philox4x32_10(ctr, key, out);
}

static lt_rng global_rng = {0, 0};
lt_rng *lt_rng_global(void) { return &global_rng; }
void lt_rng_manual_seed(uint64_t seed) { global_rng.seed = seed; global_rng.offset = 0; }

uint64_t lt_rng_reserve(lt_rng *rng, uint64_t nblocks) {
  uint64_t first = rng->offset;
  rng->offset += nblocks;
  return first;
}

float lt_philox_uniform_f32(uint32_t w) { return (float)(w >> 8) * (1.0f / 16777216.0f); }
double lt_philox_uniform_f64(uint32_t w) { return (double)w * (1.0 / 4294967296.0); }

double lt_philox_normal(const uint32_t block[4], int i) {
  int pair = i & 2;
  double u1 = ((double)block[pair] + 0.5) * (1.0 / 4294967296.0);
  double u2 = ((double)block[pair + 1] + 0.5) * (1.0 / 4294967296.0);
  double r = sqrt(-2.0 * log(u1)), theta = 6.283185307179586476925 * u2;
  return (i & 1) ? r * sin(theta) : r * cos(theta);
}
