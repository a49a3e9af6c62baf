/* test_philox.c — Philox 4x32-10 (src/core/lt_philox.h, the one
 * definition the CPU kernels and the CUDA kernels both compile) against
 * Random123's known answers, its block form against the raw bijection, and
 * the derived draws' ranges, so rand/randn/dropout give the same numbers on
 * every device for one seed. Runs on every build, with or without a GPU. */
#include <stdint.h>
#include <string.h>

#include "lt_philox.h"
#include "lt_test.h"

int main(void) {
  /* Known-answer vectors of Philox4x32-10 (Random123's kat_vectors): zero
   * counter and key, all-ones counter and key, and the digits of pi. */
  {
    const uint32_t ctr[4] = {0, 0, 0, 0}, key[2] = {0, 0};
    uint32_t out[4];
    lt_philox4x32_10(ctr, key, out);
    LT_CHECK(out[0] == 0x6627e8d5u && out[1] == 0xe169c58du && out[2] == 0xbc57ac4cu && out[3] == 0x9b00dbd8u);
    lt_philox4 b = lt_philox_block4(0, 0);
    LT_CHECK(memcmp(b.w, out, sizeof out) == 0);
  }
  {
    const uint32_t ctr[4] = {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, key[2] = {0xffffffffu, 0xffffffffu};
    uint32_t out[4];
    lt_philox4x32_10(ctr, key, out);
    LT_CHECK(out[0] == 0x408f276du && out[1] == 0x41c83b0eu && out[2] == 0xa20bc7c6u && out[3] == 0x6d5451fdu);
  }
  {
    const uint32_t ctr[4] = {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, key[2] = {0xa4093822u, 0x299f31d0u};
    uint32_t out[4];
    lt_philox4x32_10(ctr, key, out);
    LT_CHECK(out[0] == 0xd16cfe09u && out[1] == 0x94fdccebu && out[2] == 0x5001e420u && out[3] == 0x24126ea1u);
  }
  /* Many (seed, counter) pairs, including counters past 2^32 and seeds
   * using both halves: the block form is the bijection with the counter in
   * words 0-1 and the seed as the key, and the C entry points are the
   * inline rules. */
  const uint64_t seeds[] = {0, 1, 42, 0xffffffffull, 0x100000000ull, 0x0123456789abcdefull, UINT64_MAX};
  const uint64_t ctrs[] = {0, 1, 2, 3, 1000, 0xfffffffeull, 0xffffffffull, 0x100000000ull, 0xdeadbeefcafeull,
                           UINT64_MAX};
  int mismatches = 0;
  for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++)
    for (size_t j = 0; j < sizeof ctrs / sizeof ctrs[0]; j++) {
      uint32_t cpu[4], raw[4];
      const uint32_t ctr[4] = {(uint32_t)ctrs[j], (uint32_t)(ctrs[j] >> 32), 0, 0};
      const uint32_t key[2] = {(uint32_t)seeds[i], (uint32_t)(seeds[i] >> 32)};
      lt_philox4x32_10(ctr, key, raw);
      lt_philox_block(seeds[i], ctrs[j], cpu);
      lt_philox4 g = lt_philox_block4(seeds[i], ctrs[j]);
      if (memcmp(cpu, g.w, sizeof cpu) != 0 || memcmp(raw, cpu, sizeof cpu) != 0) mismatches++;
      for (int k = 0; k < 4; k++) {
        if (lt_philox_uniform_f32(cpu[k]) != lt_philox_u01f(g.w[k])) mismatches++;
        if (lt_philox_uniform_f64(cpu[k]) != lt_philox_u01d(g.w[k])) mismatches++;
        if (lt_philox_normal(cpu, k) != lt_philox_normal4(g.w, k)) mismatches++;
      }
    }
  LT_CHECK(mismatches == 0);
  /* a long run of consecutive blocks, as a fill walks them */
  mismatches = 0;
  for (uint64_t c = 0; c < 100000; c++) {
    uint32_t cpu[4];
    lt_philox_block(7, c, cpu);
    lt_philox4 g = lt_philox_block4(7, c);
    if (memcmp(cpu, g.w, sizeof cpu) != 0) mismatches++;
  }
  LT_CHECK(mismatches == 0);
  /* the uniforms stay inside [0, 1) at the extreme words */
  LT_CHECK(lt_philox_u01f(0xffffffffu) < 1.0f && lt_philox_u01f(0) == 0.0f);
  LT_CHECK(lt_philox_u01d(0xffffffffu) < 1.0 && lt_philox_u01d(0) == 0.0);
  return lt_test_done();
}
