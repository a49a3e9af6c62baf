/* lt_transform_plan.h — a pipeline of built-in transform steps compiled for
 * one input geometry: every step checked against the geometry the previous
 * one produces when the plan is built, then run on batch after batch by the
 * loader's worker threads (or on the calling thread, or on a GPU).
 *
 * Fusion. On the CPU each run [RandomCrop] [RandomHorizontalFlip] ToFloat
 * [Normalize] on uint8 is one pass (lt_transforms_crop_flip_normalize); on a
 * GPU each run of RandomCrop, RandomHorizontalFlip, ToFloat, Normalize (in
 * that order, each optional) is one kernel (lt_transforms_gpu.h). Either
 * way the draws are made in the order the steps would make them called one
 * by one (lt_transform_step.h), so the result is bit-identical to running
 * the steps one by one on the CPU. bfloat16 output is the float32 result
 * rounded to nearest even on either device.
 *
 * Not here: the steps themselves (lt_transform_step.h), reading a pipeline
 * from Lua (src/lua/lt_lua_transforms.c). */
#ifndef LT_TRANSFORM_PLAN_H
#define LT_TRANSFORM_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "lt_tensor.h"
#include "lt_transform_step.h"

typedef struct lt_tf_plan lt_tf_plan;

/* Compiles steps[0..nsteps-1] (copied; at most 1000, and `steps` is not
 * read when there are more) for batches of up to
 * max_batch samples of geometry `in`. A NULL entry is an error naming its
 * position ("transform k is not a built-in transform step"); a step that
 * cannot take what comes before it fails with "transform k (Name) cannot
 * take uint8 images [3,32,32]: <why>". Errors name no argument. */
lt_status lt_tf_plan_new(const lt_tf_step *const *steps, int nsteps, lt_tf_geom in, int64_t max_batch,
                         lt_tf_plan **out);
/* NULL is a no-op. */
void lt_tf_plan_free(lt_tf_plan *p);

/* The geometry the plan makes of its input. */
lt_tf_geom lt_tf_plan_out(const lt_tf_plan *p);

/* Runs the plan on the CPU on n <= max_batch samples: x holds them in the
 * input geometry and may be overwritten; y receives the output. Draws from
 * g. Thread-safe. */
lt_status lt_tf_plan_run(const lt_tf_plan *p, lt_data_gen *g, int64_t n, void *x, void *y);

/* Runs the plan on x, a contiguous batch of n samples on a GPU, into a new
 * tensor on that GPU (*out; 3-D when x is one image [C,H,W]); bf16: the
 * last pass writes bfloat16. Fails, naming the step, when a step has no
 * CUDA kernel. Queued, never waits. */
lt_status lt_tf_plan_run_gpu(const lt_tf_plan *p, lt_data_gen *g, lt_tensor *x, int64_t n, bool bf16,
                             lt_tensor **out);

#endif
