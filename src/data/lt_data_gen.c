/* lt_data_gen.c — the data layer's Philox stream and the draws built on it
 * (the contract is in lt_data_gen.h). */
#include "lt_data_gen.h"

#include <math.h>

#include "lt_philox.h"

void lt_data_gen_init(lt_data_gen *g, uint64_t key, uint64_t pos) {
  g->key = key;
  g->pos = pos;
  g->cached = UINT64_MAX;
}

static uint64_t words_key(uint32_t lo, uint32_t hi) { return (uint64_t)lo | (uint64_t)hi << 32; }

void lt_data_gen_epoch(lt_data_gen *g, uint64_t seed, int64_t epoch) {
  uint32_t e[4];
  lt_philox_block(seed, (uint64_t)epoch, e);
  lt_data_gen_init(g, words_key(e[0], e[1]), 0);
}

void lt_data_gen_rank_batch(lt_data_gen *g, uint64_t seed, int64_t epoch, int64_t rank, int64_t batch) {
  uint32_t e[4], b[4];
  lt_philox_block(seed, (uint64_t)epoch, e);
  lt_philox_block(words_key(e[2], e[3]), (uint64_t)rank << 32 | (uint64_t)batch, b);
  lt_data_gen_init(g, words_key(b[0], b[1]), 0);
}

void lt_data_gen_batch(lt_data_gen *g, uint64_t seed, int64_t epoch, int64_t batch) {
  lt_data_gen_rank_batch(g, seed, epoch, 0, batch);
}

uint64_t lt_data_gen_global_key(void) {
  uint32_t b[4];
  lt_rng *r = lt_rng_global();
  lt_philox_block(r->seed, lt_rng_reserve(r, 1), b);
  return words_key(b[0], b[1]);
}

uint32_t lt_data_gen_word(lt_data_gen *g) {
  uint64_t blk = g->pos >> 2;
  if (blk != g->cached) {
    lt_philox_block(g->key, blk, g->buf);
    g->cached = blk;
  }
  return g->buf[g->pos++ & 3];
}

double lt_data_gen_uniform(lt_data_gen *g) { return lt_philox_uniform_f64(lt_data_gen_word(g)); }

double lt_data_gen_range(lt_data_gen *g, double a, double b) { return a + (b - a) * lt_data_gen_uniform(g); }

int64_t lt_data_gen_below(lt_data_gen *g, uint64_t k) {
  if (k >= (uint64_t)1 << 32) return lt_data_gen_word(g);
  uint64_t m = (uint64_t)lt_data_gen_word(g) * k;
  uint32_t lo = (uint32_t)m;
  if (lo < k) {
    uint32_t threshold = (uint32_t)((0u - (uint32_t)k) % (uint32_t)k);
    while (lo < threshold) {
      m = (uint64_t)lt_data_gen_word(g) * k;
      lo = (uint32_t)m;
    }
  }
  return (int64_t)(m >> 32);
}

double lt_data_gen_normal(lt_data_gen *g) {
  double u1 = ((double)lt_data_gen_word(g) + 0.5) * 0x1p-32, u2 = ((double)lt_data_gen_word(g) + 0.5) * 0x1p-32;
  return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void lt_data_gen_shuffle(lt_data_gen *g, int64_t *v, int64_t n) {
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = lt_data_gen_below(g, (uint64_t)i + 1), t = v[i];
    v[i] = v[j];
    v[j] = t;
  }
}
