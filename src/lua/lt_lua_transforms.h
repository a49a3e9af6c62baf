/* lt_lua_transforms.h — what the loader glue (lt_lua_data.c) uses from the
 * transform engine (lt_lua_transforms.c): the per-batch random generator and
 * plans of compiled transform steps that run in the loader's worker threads.
 *
 * Not a public API: the Lua side sees lt.transforms and lt.data.Generator.
 *
 * The generator is a Philox stream: word k of the stream with key K is word
 * k % 4 of lt_philox_block(K, k / 4), so its whole state is (key, pos), and
 * the same (key, pos) draws the same numbers on any thread. */
#ifndef LT_LUA_TRANSFORMS_H
#define LT_LUA_TRANSFORMS_H

#include <stdbool.h>
#include <stdint.h>

#include "lt_lua.h"

typedef struct {
  uint64_t key;
  uint64_t pos;    /* the next word of the stream */
  uint64_t cached; /* the block held in buf (UINT64_MAX: none) */
  uint32_t buf[4];
} lt_tf_gen;

void lt_tf_gen_init(lt_tf_gen *g, uint64_t key, uint64_t pos);
/* The generator of batch `batch` (0-based) of epoch `epoch` of a loader
 * seeded with `seed`: key = words 0-1 of lt_philox_block(E, batch) with E =
 * words 2-3 of lt_philox_block(seed, epoch) (words 0-1 of that block key the
 * epoch's shuffle, see lt_loader_permutation), pos = 0. */
void lt_tf_gen_batch(lt_tf_gen *g, uint64_t seed, int64_t epoch, int64_t batch);
/* Pushes a Generator userdata in state (key, pos). */
void lt_tf_push_gen(lua_State *L, uint64_t key, uint64_t pos);

/* Per-sample geometry of a batch: [N, c, h, w] of dtype dt. */
typedef struct {
  lt_dtype dt;
  int64_t c, h, w;
} lt_tf_geom;

typedef struct lt_tf_plan lt_tf_plan;

/* Compiles the transform steps in the Lua array at `idx` (step userdata, as
 * made by lt._data.step) for batches of up to max_batch samples of geometry
 * `in`, checking every step against the geometry the previous one produces.
 * Raises a Lua error "fname: transform k (Name): reason" on a mismatch. The
 * plan is pushed as a userdata (freed by the collector) and returned; it
 * must stay reachable while it is used. */
lt_tf_plan *lt_tf_plan_push(lua_State *L, int idx, lt_tf_geom in, int64_t max_batch, const char *fname);
lt_tf_geom lt_tf_plan_out(const lt_tf_plan *p);
/* Runs the plan on n <= max_batch samples: x holds them in the input
 * geometry and may be overwritten; y receives the output. Draws from g in
 * the order the steps would draw when called one by one, so the result is
 * identical (the seed pipeline runs as one fused pass). Thread-safe; touches
 * no Lua state. */
lt_status lt_tf_plan_run(const lt_tf_plan *p, lt_tf_gen *g, int64_t n, void *x, void *y);

/* Registers the Generator, the transform steps and the functional
 * primitives in the table at data_table (lt._data). */
void lt_lua_open_transforms(lua_State *L, int data_table);

#endif
