/* lt_data_gen.h — the data layer's random numbers: one Philox stream type
 * that draws the loader's epoch order and every random transform parameter
 * (lt.data.Generator is this type), with the draws built on it: uniform
 * numbers, unbiased integers, normals and the Fisher-Yates shuffle.
 *
 * The stream: word k of the stream with key K is word k % 4 of
 * lt_philox_block(K, k / 4) (src/core/lt_philox.h), so a generator's whole
 * state is (key, pos) and the same (key, pos) draws the same numbers on any
 * thread, in any process, on any machine.
 *
 * Keys. A loader seeded with `seed` derives, for epoch e, the block
 * E = lt_philox_block(seed, e): words 0-1 of E key the epoch's shuffle
 * (lt_data_gen_epoch), words 2-3 key the batches: batch b's generator has
 * key = words 0-1 of lt_philox_block(E[2..3], b) (lt_data_gen_batch). In
 * distributed sampling, batch b of rank r (0-based) uses the block at
 * counter r * 2^32 + b instead (lt_data_gen_rank_batch): rank 0's keys are
 * the plain ones, so one process and rank 0 draw alike, and every (rank,
 * batch) pair has a block of its own (batches are < 2^32, as samples are).
 * These rules fix the data order and the transform draws of every run, so
 * they are part of the reproducibility contract: changing them changes
 * every seeded run.
 *
 * Not here: the global generator behind lt.rand (src/core), the order in
 * which each transform draws (lt_transform_step.h). */
#ifndef LT_DATA_GEN_H
#define LT_DATA_GEN_H

#include <stdint.h>

typedef struct {
  uint64_t key;
  uint64_t pos;    /* the next word of the stream */
  uint64_t cached; /* the block held in buf (UINT64_MAX: none) */
  uint32_t buf[4];
} lt_data_gen;

/* The stream of key `key`, about to draw word `pos`. */
void lt_data_gen_init(lt_data_gen *g, uint64_t key, uint64_t pos);
/* The generator that shuffles epoch `epoch` (>= 0) of a loader seeded with
 * `seed` (see Keys above), at position 0. */
void lt_data_gen_epoch(lt_data_gen *g, uint64_t seed, int64_t epoch);
/* The generator of batch `batch` (0-based) of epoch `epoch` (see Keys
 * above), at position 0: what the loader hands that batch's transforms. */
void lt_data_gen_batch(lt_data_gen *g, uint64_t seed, int64_t epoch, int64_t batch);
/* The same for batch `batch` of rank `rank` (0 <= rank < 2^32, 0 <= batch
 * < 2^32) in distributed sampling; rank 0 is lt_data_gen_batch. */
void lt_data_gen_rank_batch(lt_data_gen *g, uint64_t seed, int64_t epoch, int64_t rank, int64_t batch);

/* 64 bits (words 0-1) of a fresh block of the global generator
 * (lt_rng_global, which lt.manual_seed seeds): the key of a transform
 * called without a generator and the seed of an unseeded loader, so that
 * lt.manual_seed makes both reproducible. */
uint64_t lt_data_gen_global_key(void);

/* The next 32-bit word. */
uint32_t lt_data_gen_word(lt_data_gen *g);
/* Uniform in [0, 1) from one word (lt_philox_uniform_f64). */
double lt_data_gen_uniform(lt_data_gen *g);
/* a + (b - a) * uniform, one word. */
double lt_data_gen_range(lt_data_gen *g, double a, double b);
/* Uniform integer in [0, k) for 1 <= k <= 2^32: the high half of word * k,
 * redrawn while the low half is one of the 2^32 mod k values that would bias
 * it (so usually one word). k == 2^32 is one raw word. */
int64_t lt_data_gen_below(lt_data_gen *g, uint64_t k);
/* Standard normal: Box-Muller on two words, the cosine half. */
double lt_data_gen_normal(lt_data_gen *g);
/* Fisher-Yates on v[0..n-1] (n < 2^32): for i = n-1 down to 1, swaps v[i]
 * with v[j], j = lt_data_gen_below(g, i + 1). */
void lt_data_gen_shuffle(lt_data_gen *g, int64_t *v, int64_t n);

#endif
