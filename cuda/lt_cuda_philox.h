/* lt_cuda_philox.h — Philox 4x32-10 and the derived draws of lt_philox.h,
 * written once for both the GPU kernels and the host. The CUDA kernels must
 * produce the CPU's numbers for the same seed and block, so this file mirrors
 * src/core/lt_philox.c operation for operation; tests/c/test_cuda_philox.c
 * compiles it with plain gcc and compares it with lt_philox_block on every
 * build (GPU or not).
 *
 * Plain C (C11 or CUDA C++), header only, no dependency on the core. The
 * float32 uniform is bit-exact everywhere; the normal uses log/sin/cos, whose
 * last bit may differ between the GPU's and glibc's libm. */
#ifndef LT_CUDA_PHILOX_H
#define LT_CUDA_PHILOX_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define LT_PHILOX_HD __host__ __device__ __forceinline__
#else
#define LT_PHILOX_HD static inline
#endif

#define LT_PHILOX_M0 0xD2511F53u
#define LT_PHILOX_M1 0xCD9E8D57u
#define LT_PHILOX_W0 0x9E3779B9u
#define LT_PHILOX_W1 0xBB67AE85u

typedef struct { uint32_t w[4]; } lt_philox4;

LT_PHILOX_HD uint32_t lt_philox_mulhi(uint32_t a, uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __umulhi(a, b);
#else
  return (uint32_t)(((uint64_t)a * b) >> 32);
#endif
}

/* Block `counter` of the stream of `seed`: counter in words 0-1, zero in
 * words 2-3, key = the seed's two halves (as lt_philox_block). */
LT_PHILOX_HD lt_philox4 lt_philox_block4(uint64_t seed, uint64_t counter) {
  uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int round = 0; round < 10; round++) {
    uint32_t hi0 = lt_philox_mulhi(LT_PHILOX_M0, c0), lo0 = LT_PHILOX_M0 * c0;
    uint32_t hi1 = lt_philox_mulhi(LT_PHILOX_M1, c2), lo1 = LT_PHILOX_M1 * c2;
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += LT_PHILOX_W0;
    k1 += LT_PHILOX_W1;
  }
  lt_philox4 r = {{c0, c1, c2, c3}};
  return r;
}

/* uniform float32 in [0, 1): (w >> 8) * 2^-24, exact */
LT_PHILOX_HD float lt_philox_u01f(uint32_t w) { return (float)(w >> 8) * (1.0f / 16777216.0f); }
/* uniform float64 in [0, 1): w * 2^-32, exact */
LT_PHILOX_HD double lt_philox_u01d(uint32_t w) { return (double)w * (1.0 / 4294967296.0); }

/* The i-th normal (i in 0..3) of a block: Box-Muller on words (0,1), (2,3). */
LT_PHILOX_HD double lt_philox_normal4(const lt_philox4 *b, int i) {
  int pair = i & 2;
  double u1 = ((double)b->w[pair] + 0.5) * (1.0 / 4294967296.0);
  double u2 = ((double)b->w[pair + 1] + 0.5) * (1.0 / 4294967296.0);
  double r = sqrt(-2.0 * log(u1)), theta = 6.283185307179586476925 * u2;
  return (i & 1) ? r * sin(theta) : r * cos(theta);
}

#endif
