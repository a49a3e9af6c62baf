/* lt_transform_step.h — one built-in transform (RandomCrop, Normalize, ...)
 * as a plain value: its parameters, the checks that make it runnable, the
 * geometry it turns a batch into, its random draws, and running it on a
 * batch on the CPU. The pieces lt.transforms' built-ins and the loader's
 * plans (lt_transform_plan.h) are made of.
 *
 * Not here: reading a step from the Lua transform objects
 * (src/lua/lt_lua_transforms.c), fusing steps into passes
 * (lt_transform_plan.h), the pixel kernels (lt_transforms_cpu.h).
 *
 * Draws. Each step's random draws are written once, here, and serve every
 * place a step runs (a call tf(batch, gen), a loader worker, a fused pass,
 * the GPU pass), so a batch comes out the same whichever ran it and whatever
 * the number of workers. Draws are per sample, sample 1 first, and each step
 * draws for the whole batch before the next step draws.
 *
 * Batches are [n, c, h, w], contiguous, uint8 or float32 (lt_tf_geom is the
 * per-sample part). Errors that a batch's geometry causes are LT_ERR_ARG on
 * argument 1 (the batch of tf(batch, gen)). */
#ifndef LT_TRANSFORM_STEP_H
#define LT_TRANSFORM_STEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lt_data_gen.h"
#include "lt_dtype.h"
#include "lt_error.h"
#include "lt_padding.h" /* lt_pad_mode */

#define LT_TF_MAXC 64 /* channels a Normalize or an eraser's value list may name */

typedef enum {
  LT_TF_CROP, LT_TF_CENTER_CROP, LT_TF_HFLIP, LT_TF_VFLIP, LT_TF_TO_FLOAT, LT_TF_NORMALIZE, LT_TF_RESIZE,
  LT_TF_RESIZED_CROP, LT_TF_ERASE, LT_TF_CUTOUT, LT_TF_JITTER
} lt_tf_kind;

/* The kinds' names, indexed by lt_tf_kind, NULL-terminated: "crop",
 * "center_crop", "hflip", "vflip", "to_float", "normalize", "resize",
 * "resized_crop", "erase", "cutout", "jitter". */
extern const char *const lt_tf_kind_names[];

/* One transform with its parameters; a plain value (no pointers), copied
 * into plans. Fields a kind does not use are ignored. */
typedef struct {
  lt_tf_kind kind;
  char name[40];        /* the Lua class ("RandomCrop"), for messages */
  int64_t oh, ow;       /* output size; resize with ow == 0: the shorter edge becomes oh */
  int64_t pad;          /* crop */
  lt_pad_mode mode;
  double fill;
  double p;             /* flips, erase, cutout */
  double scale[2], ratio[2];
  int nvals;            /* normalize: entries of mean/std; erase/cutout: fill values in mean (0: zeros) */
  float mean[LT_TF_MAXC], std[LT_TF_MAXC];
  int64_t size;         /* cutout side */
  bool has_b, has_c;    /* jitter: brightness b and contrast cr ranges given */
  double b[2], cr[2];
} lt_tf_step;

/* The per-sample geometry of a batch: [c, h, w] of dtype dt. */
typedef struct {
  lt_dtype dt;
  int64_t c, h, w;
} lt_tf_geom;

/* Bytes of one sample of geometry g. */
size_t lt_tf_geom_bytes(lt_tf_geom g);

/* Checks a step's own parameters (sizes, probabilities, ranges), whatever
 * the batch: LT_ERR_ARG on argument 1 (the description given to
 * lt._data.step). */
lt_status lt_tf_step_check(const lt_tf_step *s);

/* The output geometry of s on `in`, with every check the kernels would make
 * (so a plan fails when it is built, not in a worker). */
lt_status lt_tf_step_geom(const lt_tf_step *s, lt_tf_geom in, lt_tf_geom *out);

/* Whether s draws from the generator. */
bool lt_tf_step_is_random(const lt_tf_step *s);

/* Whether s keeps the geometry and can work in place on `in`. */
bool lt_tf_step_in_place(const lt_tf_step *s, lt_tf_geom in);

/* Runs s on n samples: x (geometry in) -> y (the step's output geometry);
 * g may be NULL for steps that draw nothing. In-place kinds copy x to y
 * first when they differ. Thread-safe. */
lt_status lt_tf_step_run(const lt_tf_step *s, lt_data_gen *g, lt_tf_geom in, int64_t n, const void *x, void *y);

/* The draws of RandomCrop (per sample: top, then left, uniform over every
 * position of the crop in the padded image) and of the flips (per sample:
 * uniform < p), for the fused passes that run those steps together. */
void lt_tf_draw_crop(const lt_tf_step *s, lt_data_gen *g, int64_t n, lt_tf_geom in, int64_t *top, int64_t *left);
void lt_tf_draw_mask(double p, lt_data_gen *g, int64_t n, uint8_t *mask);

/* Normalize's mean (or std) for c channels: src has s->nvals entries, one
 * for every channel or a single one for all. */
void lt_tf_channel_values(const lt_tf_step *s, int64_t c, const float *src, float *dst);

#endif
