/* lt_transform_plan.c — compiling transform steps into passes and running
 * them on the CPU (scratch buffers, the reference recipe's fused pipeline) and on a GPU
 * (see lt_transform_plan.h). */
#include "lt_transform_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_ops.h"
#include "lt_transforms_cpu.h"
#include "lt_transforms_gpu.h"

/* A pass of a CPU plan: one step, or the fused group
 * [RandomCrop] [RandomHorizontalFlip] ToFloat [Normalize] on uint8. */
typedef struct {
  int first, count;
  bool fused;
  int crop, flip, norm; /* step indices in a fused group, -1 when absent */
} tf_op;

struct lt_tf_plan {
  int nsteps, nops;
  int64_t max_batch;
  size_t scratch_bytes;   /* the largest intermediate batch */
  lt_tf_step *steps;      /* [nsteps] */
  lt_tf_geom *geoms;      /* [nsteps + 1]: geoms[i] is the input of step i */
  tf_op *ops;             /* [nops] */
};

/* ---- building --------------------------------------------------------------------- */

/* Splits the steps into CPU passes (the fused group where it applies). */
static void plan_ops(lt_tf_plan *p) {
  for (int i = 0; i < p->nsteps;) {
    tf_op *op = &p->ops[p->nops++];
    op->first = i;
    op->crop = op->flip = op->norm = -1;
    int j = i;
    if (p->geoms[i].dt == LT_UINT8) {
      int crop = -1, flip = -1;
      if (j < p->nsteps && p->steps[j].kind == LT_TF_CROP) crop = j++;
      if (j < p->nsteps && p->steps[j].kind == LT_TF_HFLIP) flip = j++;
      /* the fused kernel's normalization table holds at most LT_TF_MAXC channels */
      if (j < p->nsteps && p->steps[j].kind == LT_TF_TO_FLOAT && p->geoms[i].c <= LT_TF_MAXC) {
        j++;
        op->fused = true;
        op->crop = crop;
        op->flip = flip;
        if (j < p->nsteps && p->steps[j].kind == LT_TF_NORMALIZE) op->norm = j++;
      }
    }
    if (!op->fused) j = i + 1;
    op->count = j - i;
    i = j;
  }
}

lt_status lt_tf_plan_new(const lt_tf_step *const *steps, int nsteps, lt_tf_geom in, int64_t max_batch,
                         lt_tf_plan **out) {
  *out = NULL;
  if (nsteps > 1000) return lt_error_set(LT_ERR_ARG, 0, "a transform pipeline of %d steps is too long", nsteps);
  int n = nsteps > 0 ? nsteps : 0;
  /* one block: the plan, steps, geometries (8-byte aligned), then ops */
  size_t bytes = sizeof(lt_tf_plan) + (size_t)n * (sizeof(lt_tf_step) + sizeof(tf_op)) + (size_t)(n + 1) * sizeof(lt_tf_geom);
  lt_tf_plan *p = calloc(1, bytes);
  if (!p) return lt_error_set(LT_ERR_OOM, 0, "out of memory for a transform pipeline of %d steps", n);
  p->nsteps = n;
  p->max_batch = max_batch;
  p->steps = (lt_tf_step *)(p + 1);
  p->geoms = (lt_tf_geom *)(p->steps + n);
  p->ops = (tf_op *)(p->geoms + n + 1);
  p->geoms[0] = in;
  size_t scratch = 0;
  for (int i = 0; i < n; i++) {
    if (!steps[i]) {
      lt_tf_plan_free(p);
      return lt_error_set(LT_ERR_ARG, 0, "transform %d is not a built-in transform step", i + 1);
    }
    p->steps[i] = *steps[i];
    if (lt_tf_step_geom(&p->steps[i], p->geoms[i], &p->geoms[i + 1]) != LT_OK) {
      char why[512], shape[96];
      snprintf(why, sizeof why, "%s", lt_error_message());
      int64_t dims[3] = {p->geoms[i].c, p->geoms[i].h, p->geoms[i].w};
      lt_status st = lt_error_set(LT_ERR_ARG, 0, "transform %d (%s) cannot take %s images %s: %s", i + 1,
                                  p->steps[i].name, lt_dtype_name(p->geoms[i].dt),
                                  lt_shape_str(3, dims, shape, sizeof shape), why);
      lt_tf_plan_free(p);
      return st;
    }
    lt_tf_geom o = p->geoms[i + 1];
    if ((double)o.c * (double)o.h * (double)o.w * (double)lt_dtype_size(o.dt) * (double)max_batch > 0x1p40) {
      lt_status st = lt_error_set(LT_ERR_ARG, 0, "transform %d (%s) makes batches of %lldx%lld images too large", i + 1,
                                  p->steps[i].name, (long long)o.h, (long long)o.w);
      lt_tf_plan_free(p);
      return st;
    }
    size_t gb = lt_tf_geom_bytes(o);
    if (i + 1 < n && gb * (size_t)max_batch > scratch) scratch = gb * (size_t)max_batch;
  }
  p->scratch_bytes = scratch;
  plan_ops(p);
  *out = p;
  return LT_OK;
}

void lt_tf_plan_free(lt_tf_plan *p) { free(p); }

lt_tf_geom lt_tf_plan_out(const lt_tf_plan *p) { return p->geoms[p->nsteps]; }

/* ---- running on the CPU -------------------------------------------------------------- */

static lt_status run_fused(const lt_tf_plan *p, const tf_op *op, lt_data_gen *g, int64_t n, const void *x, void *y) {
  lt_tf_geom in = p->geoms[op->first];
  int64_t *off = calloc((size_t)(2 * n + 1), sizeof(int64_t));
  uint8_t *mask = malloc((size_t)n + 1);
  if (!off || !mask) {
    free(off);
    free(mask);
    return lt_error_set(LT_ERR_OOM, 0, "out of memory for the parameters of %lld samples", (long long)n);
  }
  const lt_tf_step *crop = op->crop >= 0 ? &p->steps[op->crop] : NULL;
  int64_t oh = in.h, ow = in.w, pad = 0;
  lt_pad_mode mode = LT_PAD_CONSTANT;
  double fill = 0;
  if (crop) {
    lt_tf_draw_crop(crop, g, n, in, off, off + n);
    oh = crop->oh;
    ow = crop->ow;
    pad = crop->pad;
    mode = crop->mode;
    fill = crop->fill;
  }
  if (op->flip >= 0) lt_tf_draw_mask(p->steps[op->flip].p, g, n, mask);
  float mean[LT_TF_MAXC], std[LT_TF_MAXC];
  for (int64_t k = 0; k < in.c && k < LT_TF_MAXC; k++) {
    mean[k] = 0.0f;
    std[k] = 1.0f;
  }
  if (op->norm >= 0) {
    lt_tf_channel_values(&p->steps[op->norm], in.c, p->steps[op->norm].mean, mean);
    lt_tf_channel_values(&p->steps[op->norm], in.c, p->steps[op->norm].std, std);
  }
  lt_status st = lt_transforms_crop_flip_normalize(x, y, n, in.c, in.h, in.w, oh, ow, off, off + n, pad, mode,
                                                   (uint8_t)fill, op->flip >= 0 ? mask : NULL, mean, std);
  free(off);
  free(mask);
  return st;
}

static bool op_in_place(const lt_tf_plan *p, const tf_op *op) {
  return !op->fused && lt_tf_step_in_place(&p->steps[op->first], p->geoms[op->first]);
}

lt_status lt_tf_plan_run(const lt_tf_plan *p, lt_data_gen *g, int64_t n, void *x, void *y) {
  if (n < 0 || n > p->max_batch)
    return lt_error_set(LT_ERR_ARG, 0, "a batch of %lld samples does not fit the plan (at most %lld)", (long long)n,
                        (long long)p->max_batch);
  if (n == 0) return LT_OK;
  int last_oop = -1;
  for (int k = 0; k < p->nops; k++)
    if (!op_in_place(p, &p->ops[k])) last_oop = k;
  /* Out-of-place ops alternate between two scratch buffers and the last one
   * writes y; in-place ops work wherever the batch is (x included: the
   * caller gave it up). With no out-of-place op the batch is copied first. */
  void *cur = x, *scratch[2] = {NULL, NULL};
  if (last_oop < 0) {
    memcpy(y, x, lt_tf_geom_bytes(p->geoms[0]) * (size_t)n);
    cur = y;
  }
  lt_status st = LT_OK;
  for (int k = 0; k < p->nops && st == LT_OK; k++) {
    const tf_op *op = &p->ops[k];
    void *dst = cur;
    if (!op_in_place(p, op) && k == last_oop) {
      dst = y;
    } else if (!op_in_place(p, op)) {
      int s = cur == scratch[0] ? 1 : 0;
      if (!scratch[s] && !(scratch[s] = malloc(p->scratch_bytes))) {
        st = lt_error_set(LT_ERR_OOM, 0, "out of memory for a transform buffer of %zu bytes", p->scratch_bytes);
        break;
      }
      dst = scratch[s];
    }
    if (op->fused) st = run_fused(p, op, g, n, cur, dst);
    else st = lt_tf_step_run(&p->steps[op->first], g, p->geoms[op->first], n, cur, dst);
    cur = dst;
  }
  free(scratch[0]);
  free(scratch[1]);
  return st;
}

/* ---- running on a GPU ------------------------------------------------------------------ */

static bool gpu_kind(lt_tf_kind k) { return k == LT_TF_CROP || k == LT_TF_HFLIP || k == LT_TF_TO_FLOAT || k == LT_TF_NORMALIZE; }

/* A new tensor on x's device for n samples of geometry g (3-D when x is
 * one image). */
static lt_status new_output(const lt_tensor *x, int64_t n, lt_tf_geom g, lt_tensor **out) {
  int64_t shape[4] = {n, g.c, g.h, g.w};
  bool image = x->ndim == 3;
  return lt_tensor_empty(image ? 3 : 4, image ? shape + 1 : shape, g.dt, lt_tensor_device(x), out);
}

/* The passes of a GPU run, each a maximal run of RandomCrop, HFlip, ToFloat,
 * Normalize in that order, with its draws made here in step order. */
static lt_status run_gpu_passes(const lt_tf_plan *p, lt_data_gen *g, const lt_tensor *x, int64_t n, bool bf16,
                                int64_t *off, uint8_t *mask, lt_tensor **out) {
  float mean[LT_TF_MAXC], std[LT_TF_MAXC];
  lt_tensor *cur = NULL; /* the previous pass's output (x before the first) */
  for (int i = 0; i < p->nsteps;) {
    lt_tf_geom in = p->geoms[i];
    lt_tf_gpu_pass gp;
    memset(&gp, 0, sizeof gp);
    gp.mode = LT_PAD_CONSTANT;
    int j = i;
    if (j < p->nsteps && p->steps[j].kind == LT_TF_CROP) {
      const lt_tf_step *c = &p->steps[j++];
      lt_tf_draw_crop(c, g, n, in, off, off + n);
      gp.top = off;
      gp.left = off + n;
      gp.oh = c->oh;
      gp.ow = c->ow;
      gp.pad = c->pad;
      gp.mode = c->mode;
      gp.fill = c->fill;
    }
    if (j < p->nsteps && p->steps[j].kind == LT_TF_HFLIP) {
      lt_tf_draw_mask(p->steps[j++].p, g, n, mask);
      gp.flip = mask;
    }
    if (j < p->nsteps && p->steps[j].kind == LT_TF_TO_FLOAT) {
      gp.to_float = true;
      j++;
    }
    if (j < p->nsteps && p->steps[j].kind == LT_TF_NORMALIZE) {
      const lt_tf_step *s = &p->steps[j++];
      if (in.c > LT_TF_MAXC) {
        lt_tensor_release(cur);
        return lt_error_set(LT_ERR_ARG, 0, "Normalize on cuda takes at most %d channels", LT_TF_MAXC);
      }
      lt_tf_channel_values(s, in.c, s->mean, mean);
      lt_tf_channel_values(s, in.c, s->std, std);
      gp.mean = mean;
      gp.std = std;
    }
    lt_tf_geom o = p->geoms[j];
    if (j == p->nsteps && bf16) o.dt = LT_BFLOAT16;
    lt_tensor *y = NULL;
    lt_status st = new_output(x, n, o, &y);
    if (st == LT_OK) st = lt_transforms_gpu_run(cur ? cur : x, in, n, &gp, y);
    lt_tensor_release(cur);
    cur = y;
    if (st != LT_OK) {
      lt_tensor_release(cur);
      return st;
    }
    i = j;
  }
  *out = cur;
  return LT_OK;
}

lt_status lt_tf_plan_run_gpu(const lt_tf_plan *p, lt_data_gen *g, lt_tensor *x, int64_t n, bool bf16,
                             lt_tensor **out) {
  *out = NULL;
  for (int i = 0; i < p->nsteps; i++)
    if (!gpu_kind(p->steps[i].kind))
      return lt_error_set(LT_ERR_ARG, 0, "transform %d (%s) has no CUDA kernel; on a GPU only RandomCrop, "
                          "RandomHorizontalFlip, ToFloat and Normalize run (apply the others before moving the batch)",
                          i + 1, p->steps[i].name);
  if (p->nsteps == 0)
    return bf16 ? lt_op_to(x, LT_BFLOAT16, lt_tensor_device(x), out) : lt_op_clone(x, out);
  int64_t *off = malloc((size_t)(2 * n + 1) * sizeof(int64_t));
  uint8_t *mask = malloc((size_t)n + 1);
  lt_status st = off && mask ? run_gpu_passes(p, g, x, n, bf16, off, mask, out)
                             : lt_error_set(LT_ERR_OOM, 0, "out of memory for the parameters of %lld samples", (long long)n);
  free(off);
  free(mask);
  return st;
}
