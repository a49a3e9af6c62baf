/* lt_lua_transforms.c — the engine under lt.transforms: the per-batch random
 * generator (lt.data.Generator), transform steps compiled from the Lua
 * transform objects, plans of steps that the loader's worker threads run
 * (with the seed's pipeline fused into one pass), and the functional
 * primitives (lt.transforms.functional) on batch tensors.
 *
 * Not here: the transform classes and Compose (lua/luatrain/transforms), the
 * loader (lt_lua_data.c), the pixel kernels (src/data/lt_transforms_cpu.c).
 *
 * Each step's random draws are written once (the draw_* functions) and serve
 * both places a step runs, a Lua call tf(batch, gen) and a loader worker, so
 * a batch comes out the same whichever ran it and whatever the number of
 * workers. Draws are per sample, sample 1 first, each step drawing for the
 * whole batch before the next step draws.
 *
 * Batches on a GPU: RandomCrop, RandomHorizontalFlip, ToFloat and Normalize
 * (and their functional forms) run there, every run of them in that order
 * as one fused kernel (cuda/lt_cuda_transforms.h). The draws are made here,
 * on the host, by the same draw_* functions in the same order, so a CUDA
 * batch gets exactly the CPU's result for the same generator. Output in
 * bfloat16 (the dtype option of run_plan and crop_flip_normalize) is the
 * float32 result rounded to nearest even on either device. */
#include "lt_lua_transforms.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lt_philox.h"
#include "lt_transforms_cpu.h"
#ifdef LT_WITH_CUDA
#include "lt_cuda_transforms.h"
#endif

#define GEN_MT "luatrain.Generator"
#define STEP_MT "luatrain.TransformStep"
#define PLAN_MT "luatrain.TransformPlan"
#define MAXC 64 /* channels a Normalize / erase value list may name */

/* ---- the generator ------------------------------------------------------ */

void lt_tf_gen_init(lt_tf_gen *g, uint64_t key, uint64_t pos) {
  g->key = key;
  g->pos = pos;
  g->cached = UINT64_MAX;
}

void lt_tf_gen_batch(lt_tf_gen *g, uint64_t seed, int64_t epoch, int64_t batch) {
  uint32_t e[4], b[4];
  lt_philox_block(seed, (uint64_t)epoch, e);
  lt_philox_block((uint64_t)e[2] | (uint64_t)e[3] << 32, (uint64_t)batch, b);
  lt_tf_gen_init(g, (uint64_t)b[0] | (uint64_t)b[1] << 32, 0);
}

static uint32_t gen_word(lt_tf_gen *g) {
  uint64_t blk = g->pos >> 2;
  if (blk != g->cached) {
    lt_philox_block(g->key, blk, g->buf);
    g->cached = blk;
  }
  return g->buf[g->pos++ & 3];
}

/* uniform in [0, 1) with 32 bits, as lt_philox_uniform_f64 */
static double gen_uniform(lt_tf_gen *g) { return lt_philox_uniform_f64(gen_word(g)); }
static double gen_range(lt_tf_gen *g, double a, double b) { return a + (b - a) * gen_uniform(g); }

/* Uniform in [0, k) for 1 <= k <= 2^32: the high half of word * k, redrawn
 * while the low half is one of the 2^32 mod k values that would bias it. */
static int64_t gen_below(lt_tf_gen *g, uint64_t k) {
  if (k >= (uint64_t)1 << 32) return gen_word(g);
  uint64_t m = (uint64_t)gen_word(g) * k;
  uint32_t lo = (uint32_t)m;
  if (lo < k) {
    uint32_t threshold = (uint32_t)((0u - (uint32_t)k) % (uint32_t)k);
    while (lo < threshold) {
      m = (uint64_t)gen_word(g) * k;
      lo = (uint32_t)m;
    }
  }
  return (int64_t)(m >> 32);
}

/* Box-Muller on two words, the cosine half. */
static double gen_normal(lt_tf_gen *g) {
  double u1 = ((double)gen_word(g) + 0.5) * 0x1p-32, u2 = ((double)gen_word(g) + 0.5) * 0x1p-32;
  return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static lt_tf_gen *check_gen(lua_State *L, int idx, const char *fname) {
  lt_tf_gen *g = luaL_testudata(L, idx, GEN_MT);
  if (!g) lt_lua_argerror(L, idx, fname, "expected a Generator, got %s", luaL_typename(L, idx));
  return g;
}

void lt_tf_push_gen(lua_State *L, uint64_t key, uint64_t pos) {
  lt_tf_gen *g = lua_newuserdatauv(L, sizeof *g, 0);
  lt_tf_gen_init(g, key, pos);
  luaL_setmetatable(L, GEN_MT);
}

/* A generator keyed by a fresh block of the global generator, for a
 * transform called without one (as torchvision draws from torch's RNG). */
static lt_tf_gen *push_global_gen(lua_State *L) {
  uint32_t b[4];
  lt_rng *r = lt_rng_global();
  lt_philox_block(r->seed, lt_rng_reserve(r, 1), b);
  lt_tf_push_gen(L, (uint64_t)b[0] | (uint64_t)b[1] << 32, 0);
  return lua_touserdata(L, -1);
}

/* lt.data.Generator(seed) or Generator(seed, epoch, batch): the latter is the
 * generator the loader hands the transforms of that batch (epoch as given to
 * iter, batch 1-based). */
static int l_generator(lua_State *L) {
  const char *fname = "Generator";
  int64_t seed = lt_lua_check_integer(L, 1, fname, "seed");
  if (lua_isnoneornil(L, 2)) {
    lt_tf_push_gen(L, (uint64_t)seed, 0);
    return 1;
  }
  int64_t epoch = lt_lua_check_integer(L, 2, fname, "epoch");
  int64_t batch = lt_lua_check_integer(L, 3, fname, "batch index");
  if (epoch < 0) return lt_lua_argerror(L, 2, fname, "epoch must be >= 0, got %lld", (long long)epoch);
  if (batch < 1) return lt_lua_argerror(L, 3, fname, "batch index must be >= 1, got %lld", (long long)batch);
  lt_tf_gen g;
  lt_tf_gen_batch(&g, (uint64_t)seed, epoch, batch - 1);
  lt_tf_push_gen(L, g.key, 0);
  return 1;
}

/* Optional count argument: returns -1 when absent (draw one number). */
static int64_t opt_count(lua_State *L, int idx, const char *fname) {
  if (lua_isnoneornil(L, idx)) return -1;
  int64_t n = lt_lua_check_integer(L, idx, fname, "count");
  if (n < 0 || n > ((int64_t)1 << 40)) return lt_lua_argerror(L, idx, fname, "count must be in 0..2^40, got %lld", (long long)n);
  return n;
}

static void *push_vector(lua_State *L, int64_t n, lt_dtype dt, const char *fname) {
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_tensor_empty(1, &n, dt, lt_cpu_device(), box), fname);
  return lt_tensor_data(*box);
}

/* gen:<fname>([n]): one number from draw, or a float64 tensor of n. */
static int draw_numbers(lua_State *L, const char *fname, double (*draw)(lt_tf_gen *)) {
  lt_tf_gen *g = check_gen(L, 1, fname);
  int64_t n = opt_count(L, 2, fname);
  if (n < 0) {
    lua_pushnumber(L, draw(g));
    return 1;
  }
  double *p = push_vector(L, n, LT_FLOAT64, fname);
  for (int64_t i = 0; i < n; i++) p[i] = draw(g);
  return 1;
}

/* gen:uniform([n]): a number, or a float64 tensor [n], uniform in [0, 1). */
static int g_uniform(lua_State *L) { return draw_numbers(L, "uniform", gen_uniform); }

/* gen:normal([n]): standard normal numbers. */
static int g_normal(lua_State *L) { return draw_numbers(L, "normal", gen_normal); }

/* gen:randint(lo, hi [, n]): uniform integers in [lo, hi) (PyTorch's range,
 * as lt.randint), hi - lo in 1..2^32. */
static int g_randint(lua_State *L) {
  const char *fname = "randint";
  lt_tf_gen *g = check_gen(L, 1, fname);
  int64_t lo = lt_lua_check_integer(L, 2, fname, "low");
  int64_t hi = lt_lua_check_integer(L, 3, fname, "high");
  int64_t n = opt_count(L, 4, fname);
  if (hi <= lo || (uint64_t)hi - (uint64_t)lo > ((uint64_t)1 << 32))
    return lt_lua_argerror(L, 3, fname, "expected low < high with high - low <= 2^32, got [%lld, %lld)", (long long)lo,
                           (long long)hi);
  uint64_t k = (uint64_t)hi - (uint64_t)lo;
  if (n < 0) {
    lua_pushinteger(L, lo + gen_below(g, k));
    return 1;
  }
  int64_t *p = push_vector(L, n, LT_INT64, fname);
  for (int64_t i = 0; i < n; i++) p[i] = lo + gen_below(g, k);
  return 1;
}

static double check_probability(lua_State *L, int idx, const char *fname) {
  if (lua_type(L, idx) != LUA_TNUMBER) lt_lua_argerror(L, idx, fname, "expected a probability, got %s", luaL_typename(L, idx));
  double p = lua_tonumber(L, idx);
  if (!(p >= 0 && p <= 1)) lt_lua_argerror(L, idx, fname, "probability must be in [0, 1], got %g", p);
  return p;
}

/* gen:bernoulli(p [, n]): true with probability p (uniform < p); a boolean
 * or a bool tensor [n]. */
static int g_bernoulli(lua_State *L) {
  lt_tf_gen *g = check_gen(L, 1, "bernoulli");
  double p = check_probability(L, 2, "bernoulli");
  int64_t n = opt_count(L, 3, "bernoulli");
  if (n < 0) {
    lua_pushboolean(L, gen_uniform(g) < p);
    return 1;
  }
  uint8_t *m = push_vector(L, n, LT_BOOL, "bernoulli");
  for (int64_t i = 0; i < n; i++) m[i] = gen_uniform(g) < p;
  return 1;
}

/* gen:randperm(n): a permutation of 1..n (int64), Fisher-Yates. */
static int g_randperm(lua_State *L) {
  lt_tf_gen *g = check_gen(L, 1, "randperm");
  int64_t n = lt_lua_check_integer(L, 2, "randperm", "n");
  if (n < 0 || n > (int64_t)UINT32_MAX) return lt_lua_argerror(L, 2, "randperm", "n must be in 0..2^32-1, got %lld", (long long)n);
  int64_t *p = push_vector(L, n, LT_INT64, "randperm");
  for (int64_t i = 0; i < n; i++) p[i] = i + 1;
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = gen_below(g, (uint64_t)i + 1), t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return 1;
}

/* gen:state() -> key, pos; gen:clone() */
static int g_state(lua_State *L) {
  lt_tf_gen *g = check_gen(L, 1, "state");
  lua_pushinteger(L, (lua_Integer)g->key);
  lua_pushinteger(L, (lua_Integer)g->pos);
  return 2;
}

static int g_clone(lua_State *L) {
  lt_tf_gen *g = check_gen(L, 1, "clone");
  lt_tf_push_gen(L, g->key, g->pos);
  return 1;
}

static int g_tostring(lua_State *L) {
  lt_tf_gen *g = check_gen(L, 1, "tostring");
  char b[96];
  snprintf(b, sizeof b, "Generator(key 0x%016llx, position %llu)", (unsigned long long)g->key, (unsigned long long)g->pos);
  lua_pushstring(L, b);
  return 1;
}

/* ---- steps ---------------------------------------------------------------- */

typedef enum {
  TF_CROP, TF_CENTER_CROP, TF_HFLIP, TF_VFLIP, TF_TO_FLOAT, TF_NORMALIZE, TF_RESIZE, TF_RESIZED_CROP, TF_ERASE,
  TF_CUTOUT, TF_JITTER
} tf_kind;

static const char *const kind_names[] = {"crop", "center_crop", "hflip", "vflip", "to_float", "normalize", "resize",
                                         "resized_crop", "erase", "cutout", "jitter", NULL};

/* One transform with its parameters; a plain value (no pointers), copied
 * into plans. */
typedef struct {
  tf_kind kind;
  char name[40];        /* the Lua class, for messages */
  int64_t oh, ow;       /* output size; resize with ow == 0: the shorter edge becomes oh */
  int64_t pad;          /* crop */
  lt_pad_mode mode;
  double fill;
  double p;             /* flips, erase, cutout */
  double scale[2], ratio[2];
  int nvals;            /* normalize: entries of mean/std; erase/cutout: fill values (0: zeros) */
  float mean[MAXC], std[MAXC];
  int64_t size;         /* cutout side */
  bool has_b, has_c;    /* jitter */
  double b[2], cr[2];
} tf_step;

static bool is_random(const tf_step *s) {
  return s->kind == TF_CROP || s->kind == TF_HFLIP || s->kind == TF_VFLIP || s->kind == TF_RESIZED_CROP ||
         s->kind == TF_ERASE || s->kind == TF_CUTOUT || s->kind == TF_JITTER;
}

/* Steps that keep the geometry and work in place (after a copy when the
 * output is another buffer). */
static bool in_place_kind(const tf_step *s, lt_tf_geom in) {
  switch (s->kind) {
    case TF_HFLIP: case TF_VFLIP: case TF_NORMALIZE: case TF_ERASE: case TF_CUTOUT: case TF_JITTER: return true;
    case TF_TO_FLOAT: return in.dt == LT_FLOAT32;
    default: return false;
  }
}

static size_t geom_bytes(lt_tf_geom g) { return (size_t)(g.c * g.h * g.w) * lt_dtype_size(g.dt); }

static lt_status need_dtype(lt_tf_geom in, bool allow_u8, const char *hint) {
  if (in.dt == LT_FLOAT32 || (allow_u8 && in.dt == LT_UINT8)) return LT_OK;
  return lt_error_set(LT_ERR_ARG, 1, "expected a %s batch, got %s%s", allow_u8 ? "uint8 or float32" : "float32",
                      lt_dtype_name(in.dt), hint ? hint : "");
}

/* The output geometry of s on `in`, with every check the kernels would make
 * (so a plan fails when it is built, not in a worker). */
static lt_status step_geom(const tf_step *s, lt_tf_geom in, lt_tf_geom *out) {
  *out = in;
  switch (s->kind) {
    case TF_CROP: {
      LT_TRY(need_dtype(in, true, NULL));
      int64_t ph = in.h + 2 * s->pad, pw = in.w + 2 * s->pad;
      if (s->oh > ph || s->ow > pw)
        return lt_error_set(LT_ERR_ARG, 1, "crop size %lldx%lld is larger than the %simage %lldx%lld", (long long)s->oh,
                            (long long)s->ow, s->pad ? "padded " : "", (long long)ph, (long long)pw);
      if (s->mode == LT_PAD_REFLECT && s->pad > 0 && (s->pad >= in.h || s->pad >= in.w))
        return lt_error_set(LT_ERR_ARG, 1, "reflect padding %lld must be smaller than the image size %lldx%lld",
                            (long long)s->pad, (long long)in.h, (long long)in.w);
      if (s->mode == LT_PAD_SYMMETRIC && (s->pad > in.h || s->pad > in.w))
        return lt_error_set(LT_ERR_ARG, 1, "symmetric padding %lld must not exceed the image size %lldx%lld",
                            (long long)s->pad, (long long)in.h, (long long)in.w);
      if (in.dt == LT_UINT8 && s->mode == LT_PAD_CONSTANT && !(s->fill >= 0 && s->fill <= 255 && s->fill == floor(s->fill)))
        return lt_error_set(LT_ERR_ARG, 1, "fill %g for a uint8 batch must be an integer in 0..255", s->fill);
      out->h = s->oh;
      out->w = s->ow;
      return LT_OK;
    }
    case TF_CENTER_CROP:
      LT_TRY(need_dtype(in, true, NULL));
      if (s->oh > in.h || s->ow > in.w)
        return lt_error_set(LT_ERR_ARG, 1, "crop size %lldx%lld is larger than the image %lldx%lld", (long long)s->oh,
                            (long long)s->ow, (long long)in.h, (long long)in.w);
      out->h = s->oh;
      out->w = s->ow;
      return LT_OK;
    case TF_HFLIP: case TF_VFLIP:
      return need_dtype(in, true, NULL);
    case TF_TO_FLOAT:
      LT_TRY(need_dtype(in, true, NULL));
      out->dt = LT_FLOAT32;
      return LT_OK;
    case TF_NORMALIZE:
      LT_TRY(need_dtype(in, false, in.dt == LT_UINT8 ? " (put ToFloat before Normalize)" : NULL));
      if (s->nvals != 1 && s->nvals != in.c)
        return lt_error_set(LT_ERR_ARG, 1, "mean and std have %d entries but the batch has %lld channels", s->nvals,
                            (long long)in.c);
      return LT_OK;
    case TF_RESIZE:
      LT_TRY(need_dtype(in, true, NULL));
      if (s->ow > 0) {
        out->h = s->oh;
        out->w = s->ow;
      } else {
        /* torchvision: the shorter edge becomes size, the longer keeps the
         * aspect ratio, truncated. */
        int64_t sh = in.w <= in.h ? in.w : in.h, lg = in.w <= in.h ? in.h : in.w;
        int64_t nl = (int64_t)((double)s->oh * (double)lg / (double)sh);
        if (nl < 1) nl = 1;
        if (in.w <= in.h) { out->w = s->oh; out->h = nl; }
        else { out->h = s->oh; out->w = nl; }
      }
      return LT_OK;
    case TF_RESIZED_CROP:
      LT_TRY(need_dtype(in, true, NULL));
      out->h = s->oh;
      out->w = s->ow;
      return LT_OK;
    case TF_ERASE: case TF_CUTOUT:
      LT_TRY(need_dtype(in, false, in.dt == LT_UINT8 ? " (put ToFloat before it)" : NULL));
      if (s->nvals > 1 && s->nvals != in.c)
        return lt_error_set(LT_ERR_ARG, 1, "value has %d entries but the batch has %lld channels", s->nvals,
                            (long long)in.c);
      return LT_OK;
    case TF_JITTER:
      LT_TRY(need_dtype(in, false, in.dt == LT_UINT8 ? " in [0, 1] (put ToFloat before it)" : NULL));
      if (s->has_c && in.c != 1 && in.c != 3)
        return lt_error_set(LT_ERR_ARG, 1, "contrast needs 1 or 3 channels, the batch has %lld", (long long)in.c);
      return LT_OK;
  }
  return lt_error_set(LT_ERR_ARG, 1, "unknown transform kind %d", (int)s->kind);
}

/* ---- the draws ------------------------------------------------------------ */

/* RandomCrop: per sample, top then left, uniform over every position of
 * the crop in the padded image (torchvision's get_params). */
static void draw_crop(const tf_step *s, lt_tf_gen *g, int64_t n, lt_tf_geom in, int64_t *top, int64_t *left) {
  uint64_t nt = (uint64_t)(in.h + 2 * s->pad - s->oh + 1), nl = (uint64_t)(in.w + 2 * s->pad - s->ow + 1);
  for (int64_t i = 0; i < n; i++) {
    top[i] = gen_below(g, nt);
    left[i] = gen_below(g, nl);
  }
}

static void draw_mask(double p, lt_tf_gen *g, int64_t n, uint8_t *mask) {
  for (int64_t i = 0; i < n; i++) mask[i] = gen_uniform(g) < p;
}

/* Python's round(): to nearest, ties to even (the default FP rounding). */
static int64_t pyround(double v) { return (int64_t)nearbyint(v); }

/* RandomResizedCrop: torchvision's get_params, per sample: up to 10 tries of
 * a scale and a log-uniform aspect ratio, then the central fallback. box =
 * (top, left, height, width). */
static void draw_resized_crop(const tf_step *s, lt_tf_gen *g, int64_t h, int64_t w, int64_t *box) {
  double area = (double)h * (double)w, lr0 = log(s->ratio[0]), lr1 = log(s->ratio[1]);
  for (int attempt = 0; attempt < 10; attempt++) {
    double target = area * gen_range(g, s->scale[0], s->scale[1]);
    double aspect = exp(gen_range(g, lr0, lr1));
    int64_t cw = pyround(sqrt(target * aspect)), ch = pyround(sqrt(target / aspect));
    if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
      box[0] = gen_below(g, (uint64_t)(h - ch + 1));
      box[1] = gen_below(g, (uint64_t)(w - cw + 1));
      box[2] = ch;
      box[3] = cw;
      return;
    }
  }
  double in_ratio = (double)w / (double)h;
  double rmin = s->ratio[0] < s->ratio[1] ? s->ratio[0] : s->ratio[1];
  double rmax = s->ratio[0] < s->ratio[1] ? s->ratio[1] : s->ratio[0];
  int64_t cw = w, ch = h;
  if (in_ratio < rmin) ch = pyround((double)cw / rmin);
  else if (in_ratio > rmax) cw = pyround((double)ch * rmax);
  if (ch < 1) ch = 1;
  if (cw < 1) cw = 1;
  if (ch > h) ch = h;
  if (cw > w) cw = w;
  box[0] = (h - ch) / 2;
  box[1] = (w - cw) / 2;
  box[2] = ch;
  box[3] = cw;
}

/* RandomErasing: torchvision's algorithm per sample: erase with probability
 * p (one uniform draw, always made), then up to 10 tries of an area fraction
 * and a log-uniform aspect ratio that fit strictly inside the image; no box
 * (0 x 0) when none fits. */
static void draw_erase(const tf_step *s, lt_tf_gen *g, int64_t h, int64_t w, int64_t *box) {
  box[0] = box[1] = box[2] = box[3] = 0;
  if (!(gen_uniform(g) < s->p)) return;
  double area = (double)h * (double)w, lr0 = log(s->ratio[0]), lr1 = log(s->ratio[1]);
  for (int attempt = 0; attempt < 10; attempt++) {
    double ea = area * gen_range(g, s->scale[0], s->scale[1]);
    double aspect = exp(gen_range(g, lr0, lr1));
    int64_t eh = pyround(sqrt(ea * aspect)), ew = pyround(sqrt(ea / aspect));
    if (!(eh < h && ew < w)) continue;
    box[0] = gen_below(g, (uint64_t)(h - eh + 1));
    box[1] = gen_below(g, (uint64_t)(w - ew + 1));
    box[2] = eh;
    box[3] = ew;
    return;
  }
}

/* Cutout: with probability p (one uniform draw, always made), a size x size
 * square centred on a uniform pixel (row, then column), clipped to the
 * image. */
static void draw_cutout(const tf_step *s, lt_tf_gen *g, int64_t h, int64_t w, int64_t *box) {
  box[0] = box[1] = box[2] = box[3] = 0;
  if (!(gen_uniform(g) < s->p)) return;
  int64_t cy = gen_below(g, (uint64_t)h), cx = gen_below(g, (uint64_t)w);
  int64_t y0 = cy - s->size / 2, x0 = cx - s->size / 2, y1 = y0 + s->size, x1 = x0 + s->size;
  y0 = y0 < 0 ? 0 : y0;
  x0 = x0 < 0 ? 0 : x0;
  y1 = y1 > h ? h : y1;
  x1 = x1 > w ? w : x1;
  if (y1 <= y0 || x1 <= x0) return;
  box[0] = y0;
  box[1] = x0;
  box[2] = y1 - y0;
  box[3] = x1 - x0;
}

/* ---- running one step ------------------------------------------------------ */

static void fill_values(const tf_step *s, int64_t c, const float *src, float *dst) {
  for (int64_t k = 0; k < c; k++) dst[k] = s->nvals == 1 ? src[0] : src[k];
}

/* Runs s on n samples: x (geometry in) -> y (the step's output geometry).
 * In-place kinds first copy x to y when they differ. Thread-safe. */
static lt_status step_run(const tf_step *s, lt_tf_gen *g, lt_tf_geom in, int64_t n, const void *x, void *y) {
  lt_tf_geom out;
  LT_TRY(step_geom(s, in, &out));
  if (n == 0) return LT_OK;
  if (in_place_kind(s, in) && x != y) memcpy(y, x, geom_bytes(in) * (size_t)n);
  /* per-sample parameters: 4 int64 and 2 floats and a byte per sample */
  void *mem = NULL;
  if (is_random(s) || s->kind == TF_CENTER_CROP) {
    mem = malloc((size_t)n * (4 * sizeof(int64_t) + 2 * sizeof(float) + 1));
    if (!mem) return lt_error_set(LT_ERR_OOM, 0, "out of memory for the parameters of %lld samples", (long long)n);
  }
  int64_t *p64 = mem;
  float *pf = mem ? (float *)(p64 + 4 * n) : NULL;
  uint8_t *pm = mem ? (uint8_t *)(pf + 2 * n) : NULL;
  lt_status st = LT_OK;
  float vals[MAXC], ones[MAXC];
  int64_t hw = in.h * in.w;
  switch (s->kind) {
    case TF_CROP:
      draw_crop(s, g, n, in, p64, p64 + n);
      st = lt_transforms_crop_pad(in.dt, x, y, n, in.c, in.h, in.w, s->oh, s->ow, p64, p64 + n, s->pad, s->mode, s->fill);
      break;
    case TF_CENTER_CROP:
      for (int64_t i = 0; i < n; i++) {
        p64[i] = pyround((double)(in.h - s->oh) / 2.0);
        p64[n + i] = pyround((double)(in.w - s->ow) / 2.0);
      }
      st = lt_transforms_crop_pad(in.dt, x, y, n, in.c, in.h, in.w, s->oh, s->ow, p64, p64 + n, 0, LT_PAD_CONSTANT, 0);
      break;
    case TF_HFLIP: case TF_VFLIP:
      draw_mask(s->p, g, n, pm);
      st = s->kind == TF_HFLIP ? lt_transforms_hflip(in.dt, y, y, n, in.c, in.h, in.w, pm)
                               : lt_transforms_vflip(in.dt, y, y, n, in.c, in.h, in.w, pm);
      break;
    case TF_TO_FLOAT:
      if (in.dt == LT_UINT8) st = lt_transforms_to_float(x, y, n * in.c * hw);
      break;
    case TF_NORMALIZE:
      fill_values(s, in.c, s->mean, vals);
      fill_values(s, in.c, s->std, ones);
      st = lt_transforms_normalize(y, n, in.c, hw, vals, ones);
      break;
    case TF_RESIZE:
      st = lt_transforms_resize(in.dt, x, y, n, in.c, in.h, in.w, out.h, out.w);
      break;
    case TF_RESIZED_CROP:
      for (int64_t i = 0; i < n; i++) draw_resized_crop(s, g, in.h, in.w, p64 + 4 * i);
      st = lt_transforms_resized_crop(in.dt, x, y, n, in.c, in.h, in.w, p64, s->oh, s->ow);
      break;
    case TF_ERASE: case TF_CUTOUT:
      for (int64_t i = 0; i < n; i++) {
        if (s->kind == TF_ERASE) draw_erase(s, g, in.h, in.w, p64 + 4 * i);
        else draw_cutout(s, g, in.h, in.w, p64 + 4 * i);
      }
      if (s->nvals) fill_values(s, in.c, s->mean, vals);
      st = lt_transforms_erase(y, n, in.c, in.h, in.w, p64, s->nvals ? vals : NULL);
      break;
    case TF_JITTER: {
      /* per sample: the order (when both apply), then the brightness and
       * the contrast factor; factor 1 leaves an image in [0,1] unchanged,
       * so a per-sample order is three batched passes. */
      float *fb = pf, *fc = pf + n;
      for (int64_t i = 0; i < n; i++) {
        pm[i] = s->has_b && s->has_c ? gen_uniform(g) < 0.5 : 1;
        fb[i] = s->has_b ? (float)gen_range(g, s->b[0], s->b[1]) : 1.0f;
        fc[i] = s->has_c ? (float)gen_range(g, s->cr[0], s->cr[1]) : 1.0f;
      }
      if (s->has_b && s->has_c) {
        float *first = (float *)(p64), *last = (float *)(p64 + n); /* 2n floats each fit in n int64 */
        for (int64_t i = 0; i < n; i++) {
          first[i] = pm[i] ? fb[i] : 1.0f;
          last[i] = pm[i] ? 1.0f : fb[i];
        }
        st = lt_transforms_adjust_brightness(y, n, in.c, in.h, in.w, first);
        if (st == LT_OK) st = lt_transforms_adjust_contrast(y, n, in.c, in.h, in.w, fc);
        if (st == LT_OK) st = lt_transforms_adjust_brightness(y, n, in.c, in.h, in.w, last);
      } else if (s->has_b) {
        st = lt_transforms_adjust_brightness(y, n, in.c, in.h, in.w, fb);
      } else if (s->has_c) {
        st = lt_transforms_adjust_contrast(y, n, in.c, in.h, in.w, fc);
      }
      break;
    }
  }
  free(mem);
  return st;
}

/* ---- step objects (lt._data.step{...}) ------------------------------------- */

static double field_number(lua_State *L, int t, const char *key, double dflt) {
  double v = dflt;
  int ty = lua_getfield(L, t, key);
  if (ty == LUA_TNUMBER) v = lua_tonumber(L, -1);
  else if (ty != LUA_TNIL) lt_lua_argerror(L, 1, "step", "field '%s' must be a number, got %s", key, luaL_typename(L, -1));
  lua_pop(L, 1);
  return v;
}

static int64_t field_int(lua_State *L, int t, const char *key, int64_t dflt) {
  double v = field_number(L, t, key, (double)dflt);
  if (v != floor(v) || fabs(v) > 4e18) lt_lua_argerror(L, 1, "step", "field '%s' must be an integer, got %g", key, v);
  return (int64_t)v;
}

static void field_pair(lua_State *L, int t, const char *key, double *out, bool *present) {
  int ty = lua_getfield(L, t, key);
  if (present) *present = ty != LUA_TNIL;
  if (ty == LUA_TTABLE) {
    for (int k = 0; k < 2; k++) {
      lua_geti(L, -1, k + 1);
      if (lua_type(L, -1) != LUA_TNUMBER) lt_lua_argerror(L, 1, "step", "field '%s' must be a pair of numbers", key);
      out[k] = lua_tonumber(L, -1);
      lua_pop(L, 1);
    }
  } else if (ty != LUA_TNIL) {
    lt_lua_argerror(L, 1, "step", "field '%s' must be a pair of numbers, got %s", key, luaL_typename(L, -1));
  }
  lua_pop(L, 1);
}

static int field_floats(lua_State *L, int t, const char *key, float *out) {
  int n = 0;
  int ty = lua_getfield(L, t, key);
  if (ty == LUA_TNUMBER) {
    out[0] = (float)lua_tonumber(L, -1);
    n = 1;
  } else if (ty == LUA_TTABLE) {
    lua_Integer len = luaL_len(L, -1);
    if (len < 1 || len > MAXC) lt_lua_argerror(L, 1, "step", "field '%s' must have 1..%d entries, got %d", key, MAXC, (int)len);
    for (lua_Integer k = 1; k <= len; k++) {
      lua_geti(L, -1, k);
      if (lua_type(L, -1) != LUA_TNUMBER) lt_lua_argerror(L, 1, "step", "entry %d of '%s' is not a number", (int)k, key);
      out[n++] = (float)lua_tonumber(L, -1);
      lua_pop(L, 1);
    }
  } else if (ty != LUA_TNIL) {
    lt_lua_argerror(L, 1, "step", "field '%s' must be a number or a list of numbers, got %s", key, luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  return n;
}

static const char *const mode_names[] = {"constant", "edge", "reflect", "symmetric", NULL};

/* lt._data.step{kind=, name=, ...}: the Lua transform constructors check
 * the user's options and describe the step with plain fields. */
static int l_step(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  tf_step *s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  luaL_setmetatable(L, STEP_MT);
  lua_getfield(L, 1, "kind");
  s->kind = (tf_kind)luaL_checkoption(L, -1, NULL, kind_names);
  lua_pop(L, 1);
  lua_getfield(L, 1, "name");
  snprintf(s->name, sizeof s->name, "%s", lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : kind_names[s->kind]);
  lua_pop(L, 1);
  s->oh = field_int(L, 1, "oh", 0);
  s->ow = field_int(L, 1, "ow", 0);
  s->pad = field_int(L, 1, "pad", 0);
  s->fill = field_number(L, 1, "fill", 0);
  s->p = field_number(L, 1, "p", 0.5);
  s->size = field_int(L, 1, "size", 0);
  s->scale[0] = 0.08; s->scale[1] = 1.0;
  s->ratio[0] = 3.0 / 4.0; s->ratio[1] = 4.0 / 3.0;
  field_pair(L, 1, "scale", s->scale, NULL);
  field_pair(L, 1, "ratio", s->ratio, NULL);
  field_pair(L, 1, "brightness", s->b, &s->has_b);
  field_pair(L, 1, "contrast", s->cr, &s->has_c);
  lua_getfield(L, 1, "mode");
  s->mode = (lt_pad_mode)luaL_checkoption(L, -1, "constant", mode_names);
  lua_pop(L, 1);
  if (s->kind == TF_NORMALIZE) {
    int nm = field_floats(L, 1, "mean", s->mean), ns = field_floats(L, 1, "std", s->std);
    if (nm != ns) lt_lua_argerror(L, 1, "step", "mean has %d entries, std %d", nm, ns);
    s->nvals = nm;
    for (int k = 0; k < ns; k++)
      if (!(s->std[k] != 0)) lt_lua_argerror(L, 1, "step", "std entry %d is zero, which would divide by zero", k + 1);
  } else {
    s->nvals = field_floats(L, 1, "values", s->mean);
  }
  bool sized = s->kind == TF_CROP || s->kind == TF_CENTER_CROP || s->kind == TF_RESIZED_CROP || s->kind == TF_RESIZE;
  if (sized && (s->oh < 1 || s->ow < 0 || (s->kind != TF_RESIZE && s->ow < 1)))
    lt_lua_argerror(L, 1, "step", "size must be positive, got %lldx%lld", (long long)s->oh, (long long)s->ow);
  if (s->oh > (1 << 20) || s->ow > (1 << 20) || s->pad > (1 << 20) || s->size > (1 << 20))
    lt_lua_argerror(L, 1, "step", "sizes must be at most 2^20");
  if (s->pad < 0) lt_lua_argerror(L, 1, "step", "padding must be >= 0, got %lld", (long long)s->pad);
  if (!(s->p >= 0 && s->p <= 1)) lt_lua_argerror(L, 1, "step", "p must be in [0, 1], got %g", s->p);
  if (s->kind == TF_CUTOUT && s->size < 1) lt_lua_argerror(L, 1, "step", "cutout size must be >= 1");
  if (s->kind == TF_RESIZED_CROP || s->kind == TF_ERASE) {
    if (!(s->scale[0] > 0 && s->scale[0] <= s->scale[1] && s->scale[1] <= (s->kind == TF_ERASE ? 1 : 1e9)))
      lt_lua_argerror(L, 1, "step", "scale must be (lo, hi) with 0 < lo <= hi, got (%g, %g)", s->scale[0], s->scale[1]);
    if (!(s->ratio[0] > 0 && s->ratio[0] <= s->ratio[1]))
      lt_lua_argerror(L, 1, "step", "ratio must be (lo, hi) with 0 < lo <= hi, got (%g, %g)", s->ratio[0], s->ratio[1]);
  }
  if (s->has_b && !(s->b[0] >= 0 && s->b[0] <= s->b[1]))
    lt_lua_argerror(L, 1, "step", "brightness range must be (lo, hi) with 0 <= lo <= hi");
  if (s->has_c && !(s->cr[0] >= 0 && s->cr[0] <= s->cr[1]))
    lt_lua_argerror(L, 1, "step", "contrast range must be (lo, hi) with 0 <= lo <= hi");
  return 1;
}

static tf_step *check_step(lua_State *L, int idx, const char *fname) {
  tf_step *s = luaL_testudata(L, idx, STEP_MT);
  if (!s) lt_lua_argerror(L, idx, fname, "expected a transform step, got %s", luaL_typename(L, idx));
  return s;
}

/* A batch argument: a tensor [B,C,H,W] (or one image [C,H,W]) on the CPU,
 * or with `cuda` also on a GPU, made contiguous; its box is pushed (keeping
 * it alive). */
static lt_tensor *check_batch_on(lua_State *L, int idx, int argn, const char *fname, lt_tf_geom *geom, int64_t *n,
                                 bool cuda) {
  lt_tensor *x = lt_lua_to_tensor(L, idx);
  if (!x) lt_lua_argerror(L, argn, fname, "expected a batch tensor [B,C,H,W], got %s", luaL_typename(L, idx));
  if (lt_tensor_device(x).type != LT_CPU && !(cuda && lt_tensor_device(x).type == LT_CUDA))
    lt_lua_argerror(L, argn, fname,
                    "%s runs on the CPU only, the batch is on another device (on a GPU: RandomCrop, "
                    "RandomHorizontalFlip, ToFloat, Normalize and their functional forms)", fname);
  if (x->ndim != 4 && x->ndim != 3) {
    char b[96];
    lt_lua_argerror(L, argn, fname, "expected a batch [B,C,H,W] or an image [C,H,W], got shape %s",
                    lt_shape_str(x->ndim, x->shape, b, sizeof b));
  }
  int o = x->ndim - 3;
  *n = o ? x->shape[0] : 1;
  geom->dt = x->dtype;
  geom->c = x->shape[o];
  geom->h = x->shape[o + 1];
  geom->w = x->shape[o + 2];
  if (geom->c < 1 || geom->h < 1 || geom->w < 1) {
    char b[96];
    lt_lua_argerror(L, argn, fname, "images must have C, H, W >= 1, got shape %s", lt_shape_str(x->ndim, x->shape, b, sizeof b));
  }
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_op_contiguous(x, box), fname);
  return *box;
}

static lt_tensor *check_batch(lua_State *L, int idx, int argn, const char *fname, lt_tf_geom *geom, int64_t *n) {
  return check_batch_on(L, idx, argn, fname, geom, n, false);
}

static bool on_gpu(const lt_tensor *x) { return lt_tensor_device(x).type != LT_CPU; }

/* A new output tensor of n samples of geometry g on x's device, 3-D when
 * the input was one image. */
static lt_tensor *push_output(lua_State *L, const lt_tensor *x, int64_t n, lt_tf_geom g, const char *fname) {
  int64_t shape[4] = {n, g.c, g.h, g.w};
  bool image = x->ndim == 3;
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_tensor_empty(image ? 3 : 4, image ? shape + 1 : shape, g.dt, lt_tensor_device(x), box), fname);
  return *box;
}

/* One fused GPU pass (see the file's header) described the way the CPU
 * kernels take it. top/left NULL: no crop; flip NULL: no flips; mean/std
 * NULL: no normalization. */
typedef struct {
  int64_t oh, ow, pad;
  lt_pad_mode mode;
  double fill;
  const int64_t *top, *left;
  const uint8_t *flip;
  bool to_float;
  const float *mean, *std;
} gpu_pass;

/* Runs pass gp on the batch x (geometry in, n samples, on a GPU) into y
 * (dtype out_dt, already allocated on the same GPU). */
static lt_status gpu_run(const lt_tensor *x, lt_tf_geom in, int64_t n, const gpu_pass *gp, lt_tensor *y) {
#ifdef LT_WITH_CUDA
  lt_cuda_tf_params p;
  memset(&p, 0, sizeof p);
  p.n = n;
  p.c = in.c;
  p.h = in.h;
  p.w = in.w;
  p.oh = gp->top ? gp->oh : in.h;
  p.ow = gp->top ? gp->ow : in.w;
  p.pad = gp->top ? gp->pad : 0;
  p.mode = (int)gp->mode;
  p.fill = gp->fill;
  p.to_float = gp->to_float;
  p.normalize = gp->mean != NULL;
  if (gp->mean && in.c > LT_CUDA_TF_MAXC)
    return lt_error_set(LT_ERR_ARG, 0, "normalization on cuda takes at most %d channels, the batch has %lld",
                        LT_CUDA_TF_MAXC, (long long)in.c);
  for (int64_t k = 0; gp->mean && k < in.c; k++) {
    p.mean[k] = gp->mean[k];
    p.std[k] = gp->std[k];
  }
  return lt_cuda_transform_batch(lt_tensor_device(x).index, in.dt, lt_tensor_data(x), y->dtype, lt_tensor_data(y), &p,
                                 gp->top, gp->left, gp->flip);
#else
  (void)x; (void)in; (void)n; (void)gp; (void)y;
  return lt_error_set(LT_ERR_RUNTIME, 0, "luatrain was built without CUDA");
#endif
}

/* The bfloat16 copy of a float32 CPU batch, rounded to nearest even as the
 * GPU kernel rounds. Pushes it. */
static lt_tensor *push_bf16(lua_State *L, const lt_tensor *y, const char *fname) {
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_tensor_empty(y->ndim, y->shape, LT_BFLOAT16, lt_cpu_device(), box), fname);
  const float *src = lt_tensor_data(y);
  uint16_t *dst = lt_tensor_data(*box);
  for (int64_t k = 0, m = lt_tensor_numel(y); k < m; k++) dst[k] = lt_f32_to_bf16(src[k]);
  return *box;
}

/* push_output for n samples of in's dtype and channels, resized to oh x ow. */
static lt_tensor *push_sized_output(lua_State *L, const lt_tensor *x, int64_t n, lt_tf_geom in, int64_t oh, int64_t ow,
                                    const char *fname) {
  in.h = oh;
  in.w = ow;
  return push_output(L, x, n, in, fname);
}

/* Raises a geometry or kernel failure as "bad argument #1 to 'Name' (...)". */
static int raise_batch(lua_State *L, const char *fname) {
  return lt_lua_argerror(L, 1, fname, "%s", lt_error_message());
}

/* lt._data.apply(step, batch [, gen]) -> a new batch */
static int l_apply(lua_State *L) {
  lua_settop(L, 3); /* absent arguments read as nil below the values pushed later */
  tf_step *s = check_step(L, 1, "apply");
  const char *fname = s->name;
  lt_tf_geom in, out;
  int64_t n;
  if (!lua_isnoneornil(L, 3) && !luaL_testudata(L, 3, GEN_MT))
    return lt_lua_argerror(L, 2, fname, "expected a Generator (or nothing), got %s", luaL_typename(L, 3));
  lt_tensor *x = check_batch(L, 2, 1, fname, &in, &n);
  if (step_geom(s, in, &out) != LT_OK) return raise_batch(L, fname);
  lt_tf_gen *g = NULL;
  if (is_random(s)) g = lua_isnoneornil(L, 3) ? push_global_gen(L) : lua_touserdata(L, 3);
  lt_tensor *y = push_output(L, x, n, out, fname);
  if (step_run(s, g, in, n, lt_tensor_data(x), lt_tensor_data(y)) != LT_OK) return raise_batch(L, fname);
  return 1;
}

static int step_tostring(lua_State *L) {
  tf_step *s = check_step(L, 1, "tostring");
  lua_pushfstring(L, "TransformStep(%s)", s->name);
  return 1;
}

/* ---- plans ---------------------------------------------------------------- */

/* An op of a plan: one step, or the fused group
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
  tf_step *steps;         /* [nsteps] */
  lt_tf_geom *geoms;      /* [nsteps + 1]: geoms[i] is the input of step i */
  tf_op *ops;             /* [nops] */
};

lt_tf_plan *lt_tf_plan_push(lua_State *L, int idx, lt_tf_geom in, int64_t max_batch, const char *fname) {
  idx = lua_absindex(L, idx);
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_Integer n = luaL_len(L, idx);
  if (n > 1000) luaL_error(L, "%s: a transform pipeline of %d steps is too long", fname, (int)n);
  /* one block: the plan, steps, geometries (8-byte aligned), then ops */
  size_t bytes = sizeof(lt_tf_plan) + (size_t)n * (sizeof(tf_step) + sizeof(tf_op)) + (size_t)(n + 1) * sizeof(lt_tf_geom);
  lt_tf_plan *p = lua_newuserdatauv(L, bytes, 0);
  memset(p, 0, bytes);
  luaL_setmetatable(L, PLAN_MT);
  p->nsteps = (int)n;
  p->max_batch = max_batch;
  p->steps = (tf_step *)(p + 1);
  p->geoms = (lt_tf_geom *)(p->steps + n);
  p->ops = (tf_op *)(p->geoms + n + 1);
  p->geoms[0] = in;
  size_t scratch = 0;
  for (int i = 0; i < p->nsteps; i++) {
    lua_geti(L, idx, i + 1);
    tf_step *s = luaL_testudata(L, -1, STEP_MT);
    if (!s) luaL_error(L, "%s: transform %d is not a built-in transform step", fname, i + 1);
    p->steps[i] = *s;
    lua_pop(L, 1);
    if (step_geom(&p->steps[i], p->geoms[i], &p->geoms[i + 1]) != LT_OK) {
      char b[96];
      int64_t shape[3] = {p->geoms[i].c, p->geoms[i].h, p->geoms[i].w};
      luaL_error(L, "%s: transform %d (%s) cannot take %s images %s: %s", fname, i + 1, p->steps[i].name,
                 lt_dtype_name(p->geoms[i].dt), lt_shape_str(3, shape, b, sizeof b), lt_error_message());
    }
    lt_tf_geom o = p->geoms[i + 1];
    if ((double)o.c * (double)o.h * (double)o.w * (double)lt_dtype_size(o.dt) * (double)max_batch > 0x1p40)
      luaL_error(L, "%s: transform %d (%s) makes batches of %lldx%lld images too large", fname, i + 1, p->steps[i].name,
                 (long long)o.h, (long long)o.w);
    size_t gb = geom_bytes(o);
    if (i + 1 < p->nsteps && gb * (size_t)max_batch > scratch) scratch = gb * (size_t)max_batch;
  }
  p->scratch_bytes = scratch;
  for (int i = 0; i < p->nsteps;) {
    tf_op *op = &p->ops[p->nops++];
    op->first = i;
    op->crop = op->flip = op->norm = -1;
    int j = i;
    if (p->geoms[i].dt == LT_UINT8) {
      int crop = -1, flip = -1;
      if (j < p->nsteps && p->steps[j].kind == TF_CROP) crop = j++;
      if (j < p->nsteps && p->steps[j].kind == TF_HFLIP) flip = j++;
      /* the fused kernel's normalization table holds at most MAXC channels */
      if (j < p->nsteps && p->steps[j].kind == TF_TO_FLOAT && p->geoms[i].c <= MAXC) {
        j++;
        op->fused = true;
        op->crop = crop;
        op->flip = flip;
        if (j < p->nsteps && p->steps[j].kind == TF_NORMALIZE) op->norm = j++;
      }
    }
    if (!op->fused) j = i + 1;
    op->count = j - i;
    i = j;
  }
  return p;
}

lt_tf_geom lt_tf_plan_out(const lt_tf_plan *p) { return p->geoms[p->nsteps]; }

static lt_status run_fused(const lt_tf_plan *p, const tf_op *op, lt_tf_gen *g, int64_t n, const void *x, void *y) {
  lt_tf_geom in = p->geoms[op->first];
  int64_t *off = calloc((size_t)(2 * n + 1), sizeof(int64_t));
  uint8_t *mask = malloc((size_t)n + 1);
  if (!off || !mask) {
    free(off);
    free(mask);
    return lt_error_set(LT_ERR_OOM, 0, "out of memory for the parameters of %lld samples", (long long)n);
  }
  const tf_step *crop = op->crop >= 0 ? &p->steps[op->crop] : NULL;
  int64_t oh = in.h, ow = in.w, pad = 0;
  lt_pad_mode mode = LT_PAD_CONSTANT;
  double fill = 0;
  if (crop) {
    draw_crop(crop, g, n, in, off, off + n);
    oh = crop->oh;
    ow = crop->ow;
    pad = crop->pad;
    mode = crop->mode;
    fill = crop->fill;
  }
  if (op->flip >= 0) draw_mask(p->steps[op->flip].p, g, n, mask);
  float mean[MAXC], std[MAXC];
  for (int64_t k = 0; k < in.c && k < MAXC; k++) {
    mean[k] = 0.0f;
    std[k] = 1.0f;
  }
  if (op->norm >= 0) {
    fill_values(&p->steps[op->norm], in.c, p->steps[op->norm].mean, mean);
    fill_values(&p->steps[op->norm], in.c, p->steps[op->norm].std, std);
  }
  lt_status st = lt_transforms_crop_flip_normalize(x, y, n, in.c, in.h, in.w, oh, ow, off, off + n, pad, mode,
                                                   (uint8_t)fill, op->flip >= 0 ? mask : NULL, mean, std);
  free(off);
  free(mask);
  return st;
}

static bool op_in_place(const lt_tf_plan *p, const tf_op *op) {
  return !op->fused && in_place_kind(&p->steps[op->first], p->geoms[op->first]);
}

lt_status lt_tf_plan_run(const lt_tf_plan *p, lt_tf_gen *g, int64_t n, void *x, void *y) {
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
    memcpy(y, x, geom_bytes(p->geoms[0]) * (size_t)n);
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
    else st = step_run(&p->steps[op->first], g, p->geoms[op->first], n, cur, dst);
    cur = dst;
  }
  free(scratch[0]);
  free(scratch[1]);
  return st;
}

static bool gpu_kind(tf_kind k) { return k == TF_CROP || k == TF_HFLIP || k == TF_TO_FLOAT || k == TF_NORMALIZE; }

/* Runs plan p on x, a batch of n samples on a GPU: each run of steps
 * [RandomCrop] [RandomHorizontalFlip] [ToFloat] [Normalize] (in that order,
 * at least one) is one kernel, with its draws made here in step order, so
 * the result is the CPU's. The last pass writes bfloat16 with `bf16`.
 * Leaves the result at the top of the stack. */
static void run_plan_gpu(lua_State *L, const lt_tf_plan *p, lt_tf_gen *g, lt_tensor *x, int64_t n, bool bf16,
                         const char *fname) {
  for (int i = 0; i < p->nsteps; i++)
    if (!gpu_kind(p->steps[i].kind))
      luaL_error(L, "%s: transform %d (%s) has no CUDA kernel; on a GPU only RandomCrop, RandomHorizontalFlip, "
                 "ToFloat and Normalize run (apply the others before moving the batch)", fname, i + 1, p->steps[i].name);
  if (p->nsteps == 0) {
    lt_tensor **box = lt_lua_newbox(L);
    LT_LUA_CHECK(L, bf16 ? lt_op_to(x, LT_BFLOAT16, lt_tensor_device(x), box) : lt_op_clone(x, box), fname);
    return;
  }
  int64_t *off = lua_newuserdatauv(L, (size_t)(2 * n + 1) * sizeof(int64_t), 0);
  uint8_t *mask = lua_newuserdatauv(L, (size_t)n + 1, 0);
  float mean[MAXC], std[MAXC];
  lt_tensor *cur = x;
  for (int i = 0; i < p->nsteps;) {
    lt_tf_geom in = p->geoms[i];
    gpu_pass gp;
    memset(&gp, 0, sizeof gp);
    gp.mode = LT_PAD_CONSTANT;
    int j = i;
    if (j < p->nsteps && p->steps[j].kind == TF_CROP) {
      const tf_step *c = &p->steps[j++];
      draw_crop(c, g, n, in, off, off + n);
      gp.top = off;
      gp.left = off + n;
      gp.oh = c->oh;
      gp.ow = c->ow;
      gp.pad = c->pad;
      gp.mode = c->mode;
      gp.fill = c->fill;
    }
    if (j < p->nsteps && p->steps[j].kind == TF_HFLIP) {
      draw_mask(p->steps[j++].p, g, n, mask);
      gp.flip = mask;
    }
    if (j < p->nsteps && p->steps[j].kind == TF_TO_FLOAT) {
      gp.to_float = true;
      j++;
    }
    if (j < p->nsteps && p->steps[j].kind == TF_NORMALIZE) {
      const tf_step *s = &p->steps[j++];
      if (in.c > MAXC) luaL_error(L, "%s: Normalize on cuda takes at most %d channels", fname, MAXC);
      fill_values(s, in.c, s->mean, mean);
      fill_values(s, in.c, s->std, std);
      gp.mean = mean;
      gp.std = std;
    }
    lt_tf_geom out = p->geoms[j];
    if (j == p->nsteps && bf16) out.dt = LT_BFLOAT16;
    lt_tensor *y = push_output(L, x, n, out, fname);
    LT_LUA_CHECK(L, gpu_run(cur, in, n, &gp, y), fname);
    cur = y;
    i = j;
  }
}

/* {dtype = "float32" | "bfloat16"} at idx (or nil): true for bfloat16 */
static bool check_out_dtype(lua_State *L, int idx, const char *fname, const char *const *allowed) {
  if (lua_isnoneornil(L, idx)) return false;
  lt_lua_check_opts(L, idx, fname, allowed);
  bool bf16 = false;
  if (lua_getfield(L, idx, "dtype") != LUA_TNIL) {
    lt_dtype dt;
    const char *name = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (!name || !lt_lua_parse_dtype(name, &dt) || (dt != LT_FLOAT32 && dt != LT_BFLOAT16))
      lt_lua_argerror(L, idx, fname, "dtype must be 'float32' or 'bfloat16', got %s",
                      name ? name : luaL_typename(L, -1));
    bf16 = dt == LT_BFLOAT16;
  }
  lua_pop(L, 1);
  return bf16;
}

/* lt._data.run_plan(steps, batch [, gen] [, {dtype=}]): the loader's way of
 * running a pipeline (fused where it can be), on the calling thread, for
 * tests and for users who want it; on a GPU for a batch there. dtype =
 * "bfloat16" rounds the float32 result. */
static int l_run_plan(lua_State *L) {
  lua_settop(L, 4); /* absent arguments read as nil below the values pushed later */
  const char *fname = "run_plan";
  static const char *const allowed[] = {"dtype", NULL};
  lt_tf_geom in;
  int64_t n;
  if (!lua_isnoneornil(L, 3)) check_gen(L, 3, fname);
  bool bf16 = check_out_dtype(L, 4, fname, allowed);
  lt_tensor *x = check_batch_on(L, 2, 2, fname, &in, &n, true); /* +1 */
  bool gpu = on_gpu(x);
  lt_tensor **xbox = lt_lua_newbox(L);                 /* a private copy: the plan may overwrite its input */
  if (!gpu) LT_LUA_CHECK(L, lt_op_clone(x, xbox), fname);
  lt_tf_plan *p = lt_tf_plan_push(L, 1, in, n > 0 ? n : 1, fname);
  if (bf16 && lt_tf_plan_out(p).dt != LT_FLOAT32)
    return lt_lua_argerror(L, 4, fname, "dtype bfloat16 needs a float32 result (end the pipeline with ToFloat or "
                           "Normalize), this one gives %s", lt_dtype_name(lt_tf_plan_out(p).dt));
  lt_tf_gen *g = lua_isnoneornil(L, 3) ? push_global_gen(L) : lua_touserdata(L, 3);
  if (gpu) {
    run_plan_gpu(L, p, g, x, n, bf16, fname);
    return 1;
  }
  lt_tensor *y = push_output(L, x, n, lt_tf_plan_out(p), fname);
  LT_LUA_CHECK(L, lt_tf_plan_run(p, g, n, lt_tensor_data(*xbox), lt_tensor_data(y)), fname);
  if (bf16) push_bf16(L, y, fname);
  return 1;
}

/* ---- the functional primitives (lt.transforms.functional) ------------------ */

/* Per-sample parameters from an int64/bool/uint8/float tensor or a Lua
 * table with n (or n*per) entries, into a userdata buffer (freed by the
 * collector, so an error here leaks nothing). */
static void *sample_params(lua_State *L, int idx, const char *fname, const char *what, int64_t n, int per, char kind) {
  size_t es = kind == 'i' ? sizeof(int64_t) : kind == 'f' ? sizeof(float) : 1;
  uint8_t *buf = lua_newuserdatauv(L, (size_t)(n * per + 1) * es, 0);
  int64_t want = n * per;
  lt_tensor *t = lt_lua_to_tensor(L, idx);
  if (t) {
    if (lt_tensor_numel(t) != want) {
      char b[96];
      lt_lua_argerror(L, idx, fname, "%s: expected %lld values, got a tensor of shape %s", what, (long long)want,
                      lt_shape_str(t->ndim, t->shape, b, sizeof b));
    }
    lt_tensor **h = lt_lua_newbox(L);
    LT_LUA_CHECK(L, lt_op_host_contiguous(t, h), fname);
    const char *src = lt_tensor_data(*h);
    size_t ts = lt_dtype_size(t->dtype);
    for (int64_t k = 0; k < want; k++) {
      const void *e = src + (size_t)k * ts;
      if (kind == 'i') {
        if (!lt_dtype_is_integral(t->dtype)) lt_lua_argerror(L, idx, fname, "%s must be integers, got %s", what, lt_dtype_name(t->dtype));
        ((int64_t *)buf)[k] = lt_dtype_load_i64(e, t->dtype);
      } else if (kind == 'f') {
        ((float *)buf)[k] = (float)lt_dtype_load_f64(e, t->dtype);
      } else {
        buf[k] = lt_dtype_load_f64(e, t->dtype) != 0;
      }
    }
    lua_pop(L, 1);
    return buf;
  }
  if (lua_type(L, idx) != LUA_TTABLE)
    lt_lua_argerror(L, idx, fname, "%s: expected a tensor or a table, got %s", what, luaL_typename(L, idx));
  /* a flat table, or (per > 1) a table of n rows of `per` */
  lua_Integer len = luaL_len(L, idx);
  bool rows = false;
  if (per > 1 && n > 0 && len == n) {
    rows = lua_geti(L, idx, 1) == LUA_TTABLE;
    lua_pop(L, 1);
  }
  if (!rows && len != want)
    lt_lua_argerror(L, idx, fname, "%s: expected %lld values, got a table of %d", what, (long long)want, (int)len);
  for (int64_t k = 0; k < want; k++) {
    if (rows) {
      lua_geti(L, idx, k / per + 1);
      if (lua_type(L, -1) != LUA_TTABLE) lt_lua_argerror(L, idx, fname, "%s: row %lld is not a table", what, (long long)(k / per + 1));
      lua_geti(L, -1, k % per + 1);
      lua_remove(L, -2);
    } else {
      lua_geti(L, idx, k + 1);
    }
    int ty = lua_type(L, -1);
    if (kind == 'b') {
      if (ty != LUA_TBOOLEAN && ty != LUA_TNUMBER)
        lt_lua_argerror(L, idx, fname, "%s: entry %lld is a %s, expected a boolean", what, (long long)k + 1, luaL_typename(L, -1));
      buf[k] = ty == LUA_TBOOLEAN ? lua_toboolean(L, -1) : lua_tonumber(L, -1) != 0;
    } else {
      if (ty != LUA_TNUMBER)
        lt_lua_argerror(L, idx, fname, "%s: entry %lld is a %s, expected a number", what, (long long)k + 1, luaL_typename(L, -1));
      if (kind == 'i') {
        double v = lua_tonumber(L, -1);
        if (v != floor(v)) lt_lua_argerror(L, idx, fname, "%s: entry %lld is %g, expected an integer", what, (long long)k + 1, v);
        ((int64_t *)buf)[k] = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : (int64_t)v;
      } else {
        ((float *)buf)[k] = (float)lua_tonumber(L, -1);
      }
    }
    lua_pop(L, 1);
  }
  return buf;
}

/* size: a number (square) or {h, w} */
static void check_size(lua_State *L, int idx, const char *fname, int64_t *oh, int64_t *ow) {
  if (lua_type(L, idx) == LUA_TNUMBER) {
    *oh = *ow = lt_lua_check_integer(L, idx, fname, "size");
  } else if (lua_type(L, idx) == LUA_TTABLE && luaL_len(L, idx) == 2) {
    lua_geti(L, idx, 1);
    lua_geti(L, idx, 2);
    *oh = lt_lua_check_integer(L, -2, fname, "height");
    *ow = lt_lua_check_integer(L, -1, fname, "width");
    lua_pop(L, 2);
  } else {
    lt_lua_argerror(L, idx, fname, "expected a size (a number or {h, w}), got %s", luaL_typename(L, idx));
  }
  if (*oh < 1 || *ow < 1) lt_lua_argerror(L, idx, fname, "size must be positive, got %lldx%lld", (long long)*oh, (long long)*ow);
}

/* {padding=, padding_mode=, fill=}, and dtype= when bf16 is not NULL */
static void check_pad_opts(lua_State *L, int idx, const char *fname, int64_t *pad, lt_pad_mode *mode, double *fill,
                           bool *bf16) {
  static const char *const allowed[] = {"padding", "padding_mode", "fill", NULL};
  static const char *const allowed_dt[] = {"padding", "padding_mode", "fill", "dtype", NULL};
  *pad = 0;
  *mode = LT_PAD_CONSTANT;
  *fill = 0;
  if (bf16) *bf16 = false;
  if (lua_isnoneornil(L, idx)) return;
  lt_lua_check_opts(L, idx, fname, bf16 ? allowed_dt : allowed);
  if (bf16) *bf16 = check_out_dtype(L, idx, fname, allowed_dt);
  if (lua_getfield(L, idx, "padding") != LUA_TNIL) {
    *pad = lt_lua_check_integer(L, -1, fname, "padding");
    if (*pad < 0) lt_lua_argerror(L, idx, fname, "padding must be >= 0, got %lld", (long long)*pad);
  }
  if (lua_getfield(L, idx, "padding_mode") != LUA_TNIL) {
    const char *m = lua_tostring(L, -1);
    int k = 0;
    while (mode_names[k] && !(m && lua_type(L, -1) == LUA_TSTRING && strcmp(m, mode_names[k]) == 0)) k++;
    if (!mode_names[k])
      lt_lua_argerror(L, idx, fname, "padding_mode must be 'constant', 'edge', 'reflect' or 'symmetric', got %s",
                      lua_type(L, -1) == LUA_TSTRING ? m : luaL_typename(L, -1));
    *mode = (lt_pad_mode)k;
  }
  if (lua_getfield(L, idx, "fill") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TNUMBER) lt_lua_argerror(L, idx, fname, "fill must be a number");
    *fill = lua_tonumber(L, -1);
  }
  lua_pop(L, 3);
}

static int raise_kernel(lua_State *L, const char *fname) {
  return luaL_error(L, "%s: %s", fname, lt_error_message());
}

/* F.crop(x, tops, lefts, size [, {padding=, padding_mode=, fill=}]):
 * sample i is the size crop at offset (tops[i], lefts[i]) of the padded
 * image; offsets count rows/columns skipped (0-based, as torchvision). */
static int f_crop(lua_State *L) {
  lua_settop(L, 5); /* absent arguments read as nil below the values pushed later */
  const char *fname = "crop";
  lt_tf_geom in;
  int64_t n, oh, ow, pad;
  lt_pad_mode mode;
  double fill;
  check_size(L, 4, fname, &oh, &ow);
  check_pad_opts(L, 5, fname, &pad, &mode, &fill, NULL);
  lt_tensor *x = check_batch_on(L, 1, 1, fname, &in, &n, true);
  int64_t *top = sample_params(L, 2, fname, "tops", n, 1, 'i');
  int64_t *left = sample_params(L, 3, fname, "lefts", n, 1, 'i');
  lt_tensor *y = push_sized_output(L, x, n, in, oh, ow, fname);
  if (on_gpu(x)) {
    gpu_pass gp = {.oh = oh, .ow = ow, .pad = pad, .mode = mode, .fill = fill, .top = top, .left = left};
    if (gpu_run(x, in, n, &gp, y) != LT_OK) return raise_kernel(L, fname);
    return 1;
  }
  if (lt_transforms_crop_pad(in.dt, lt_tensor_data(x), lt_tensor_data(y), n, in.c, in.h, in.w, oh, ow, top, left, pad,
                             mode, fill) != LT_OK)
    return raise_kernel(L, fname);
  return 1;
}

/* F.hflip(x [, mask]) / F.vflip(x [, mask]): flips the samples whose mask
 * entry is true (all without a mask). */
static int flip(lua_State *L, const char *fname, bool horizontal) {
  lua_settop(L, 2); /* absent arguments read as nil below the values pushed later */
  lt_tf_geom in;
  int64_t n;
  lt_tensor *x = check_batch_on(L, 1, 1, fname, &in, &n, horizontal);
  uint8_t *mask;
  if (lua_isnoneornil(L, 2)) {
    mask = lua_newuserdatauv(L, (size_t)n + 1, 0);
    memset(mask, 1, (size_t)n + 1);
  } else {
    mask = sample_params(L, 2, fname, "mask", n, 1, 'b');
  }
  lt_tensor *y = push_output(L, x, n, in, fname);
  if (on_gpu(x)) {
    gpu_pass gp = {.mode = LT_PAD_CONSTANT, .flip = mask};
    if (gpu_run(x, in, n, &gp, y) != LT_OK) return raise_kernel(L, fname);
    return 1;
  }
  lt_status st = horizontal ? lt_transforms_hflip(in.dt, lt_tensor_data(x), lt_tensor_data(y), n, in.c, in.h, in.w, mask)
                            : lt_transforms_vflip(in.dt, lt_tensor_data(x), lt_tensor_data(y), n, in.c, in.h, in.w, mask);
  if (st != LT_OK) return raise_kernel(L, fname);
  return 1;
}
static int f_hflip(lua_State *L) { return flip(L, "hflip", true); }
static int f_vflip(lua_State *L) { return flip(L, "vflip", false); }

/* F.resized_crop(x, boxes, size): boxes [B,4] = (top, left, height, width). */
static int f_resized_crop(lua_State *L) {
  lua_settop(L, 3); /* absent arguments read as nil below the values pushed later */
  const char *fname = "resized_crop";
  lt_tf_geom in;
  int64_t n, oh, ow;
  check_size(L, 3, fname, &oh, &ow);
  lt_tensor *x = check_batch(L, 1, 1, fname, &in, &n);
  int64_t *boxes = sample_params(L, 2, fname, "boxes", n, 4, 'i');
  lt_tensor *y = push_sized_output(L, x, n, in, oh, ow, fname);
  if (lt_transforms_resized_crop(in.dt, lt_tensor_data(x), lt_tensor_data(y), n, in.c, in.h, in.w, boxes, oh, ow) != LT_OK)
    return raise_kernel(L, fname);
  return 1;
}

/* F.to_float(x): uint8 -> float32 / 255 */
static int f_to_float(lua_State *L) {
  lua_settop(L, 1); /* absent arguments read as nil below the values pushed later */
  const char *fname = "to_float";
  lt_tf_geom in;
  int64_t n;
  lt_tensor *x = check_batch_on(L, 1, 1, fname, &in, &n, true);
  if (in.dt != LT_UINT8) return lt_lua_argerror(L, 1, fname, "expected a uint8 batch, got %s", lt_dtype_name(in.dt));
  lt_tf_geom out = in;
  out.dt = LT_FLOAT32;
  lt_tensor *y = push_output(L, x, n, out, fname);
  if (on_gpu(x)) {
    gpu_pass gp = {.mode = LT_PAD_CONSTANT, .to_float = true};
    if (gpu_run(x, in, n, &gp, y) != LT_OK) return raise_kernel(L, fname);
    return 1;
  }
  if (lt_transforms_to_float(lt_tensor_data(x), lt_tensor_data(y), n * in.c * in.h * in.w) != LT_OK) return raise_kernel(L, fname);
  return 1;
}

/* Per-channel values: a number or a list of 1 or c numbers, expanded to c. */
static float *channel_values(lua_State *L, int idx, const char *fname, const char *what, int64_t c) {
  float *v = lua_newuserdatauv(L, (size_t)c * sizeof(float), 0);
  if (lua_type(L, idx) == LUA_TNUMBER) {
    for (int64_t k = 0; k < c; k++) v[k] = (float)lua_tonumber(L, idx);
    return v;
  }
  if (lua_type(L, idx) != LUA_TTABLE) lt_lua_argerror(L, idx, fname, "%s: expected a number or a list, got %s", what, luaL_typename(L, idx));
  lua_Integer len = luaL_len(L, idx);
  if (len != 1 && len != c)
    lt_lua_argerror(L, idx, fname, "%s has %d entries but the batch has %lld channels", what, (int)len, (long long)c);
  for (int64_t k = 0; k < c; k++) {
    lua_geti(L, idx, len == 1 ? 1 : k + 1);
    if (lua_type(L, -1) != LUA_TNUMBER) lt_lua_argerror(L, idx, fname, "%s: entry %lld is not a number", what, (long long)k + 1);
    v[k] = (float)lua_tonumber(L, -1);
    lua_pop(L, 1);
  }
  return v;
}

static lt_tensor *float_batch_copy(lua_State *L, const char *fname, lt_tf_geom *in, int64_t *n) {
  lt_tensor *x = check_batch(L, 1, 1, fname, in, n);
  if (in->dt != LT_FLOAT32) lt_lua_argerror(L, 1, fname, "expected a float32 batch, got %s", lt_dtype_name(in->dt));
  lt_tensor *y = push_output(L, x, *n, *in, fname);
  memcpy(lt_tensor_data(y), lt_tensor_data(x), geom_bytes(*in) * (size_t)*n);
  return y;
}

/* F.normalize(x, mean, std): (x - mean[c]) / std[c] on a float32 batch */
static int f_normalize(lua_State *L) {
  lua_settop(L, 3); /* absent arguments read as nil below the values pushed later */
  const char *fname = "normalize";
  lt_tf_geom in;
  int64_t n;
  lt_tensor *x = check_batch_on(L, 1, 1, fname, &in, &n, true);
  if (on_gpu(x)) {
    if (in.dt != LT_FLOAT32) return lt_lua_argerror(L, 1, fname, "expected a float32 batch, got %s", lt_dtype_name(in.dt));
    lt_tensor *y = push_output(L, x, n, in, fname);
    int ytop = lua_gettop(L);
    float *mean = channel_values(L, 2, fname, "mean", in.c), *std = channel_values(L, 3, fname, "std", in.c);
    gpu_pass gp = {.mode = LT_PAD_CONSTANT, .mean = mean, .std = std};
    if (gpu_run(x, in, n, &gp, y) != LT_OK) return raise_kernel(L, fname);
    lua_pushvalue(L, ytop);
    return 1;
  }
  lua_pop(L, 1);
  lt_tensor *y = float_batch_copy(L, fname, &in, &n);
  int ytop = lua_gettop(L);
  float *mean = channel_values(L, 2, fname, "mean", in.c), *std = channel_values(L, 3, fname, "std", in.c);
  if (lt_transforms_normalize(lt_tensor_data(y), n, in.c, in.h * in.w, mean, std) != LT_OK) return raise_kernel(L, fname);
  lua_pushvalue(L, ytop);
  return 1;
}

/* F.erase(x, boxes [, value]): boxes [B,4] = (top, left, height, width),
 * a 0 x 0 box leaves its sample alone; value per channel (default 0). */
static int f_erase(lua_State *L) {
  lua_settop(L, 3); /* absent arguments read as nil below the values pushed later */
  const char *fname = "erase";
  lt_tf_geom in;
  int64_t n;
  lt_tensor *y = float_batch_copy(L, fname, &in, &n);
  int ytop = lua_gettop(L);
  int64_t *boxes = sample_params(L, 2, fname, "boxes", n, 4, 'i');
  float *vals = lua_isnoneornil(L, 3) ? NULL : channel_values(L, 3, fname, "value", in.c);
  if (lt_transforms_erase(lt_tensor_data(y), n, in.c, in.h, in.w, boxes, vals) != LT_OK) return raise_kernel(L, fname);
  lua_pushvalue(L, ytop);
  return 1;
}

static int adjust(lua_State *L, const char *fname, bool contrast) {
  lua_settop(L, 2); /* absent arguments read as nil below the values pushed later */
  lt_tf_geom in;
  int64_t n;
  lt_tensor *y = float_batch_copy(L, fname, &in, &n);
  int ytop = lua_gettop(L);
  float *f = sample_params(L, 2, fname, "factors", n, 1, 'f');
  lt_status st = contrast ? lt_transforms_adjust_contrast(lt_tensor_data(y), n, in.c, in.h, in.w, f)
                          : lt_transforms_adjust_brightness(lt_tensor_data(y), n, in.c, in.h, in.w, f);
  if (st != LT_OK) return raise_kernel(L, fname);
  lua_pushvalue(L, ytop);
  return 1;
}
/* F.adjust_brightness(x, factors), F.adjust_contrast(x, factors): per-sample
 * factors on a float32 batch in [0, 1] (torchvision's formulas). */
static int f_adjust_brightness(lua_State *L) { return adjust(L, "adjust_brightness", false); }
static int f_adjust_contrast(lua_State *L) { return adjust(L, "adjust_contrast", true); }

/* F.crop_flip_normalize(x, tops, lefts, size, mask, mean, std [, pad opts
 * and dtype=]): the fused kernel of the seed's pipeline, uint8 in, float32
 * (or bfloat16) out, on the batch's device. */
static int f_crop_flip_normalize(lua_State *L) {
  lua_settop(L, 8); /* absent arguments read as nil below the values pushed later */
  const char *fname = "crop_flip_normalize";
  lt_tf_geom in;
  int64_t n, oh, ow, pad;
  lt_pad_mode mode;
  double fill;
  bool bf16;
  check_size(L, 4, fname, &oh, &ow);
  check_pad_opts(L, 8, fname, &pad, &mode, &fill, &bf16);
  lt_tensor *x = check_batch_on(L, 1, 1, fname, &in, &n, true);
  if (in.dt != LT_UINT8) return lt_lua_argerror(L, 1, fname, "expected a uint8 batch, got %s", lt_dtype_name(in.dt));
  if (!(fill >= 0 && fill <= 255 && fill == floor(fill)))
    return lt_lua_argerror(L, 8, fname, "fill must be an integer in 0..255, got %g", fill);
  int64_t *top = sample_params(L, 2, fname, "tops", n, 1, 'i');
  int64_t *left = sample_params(L, 3, fname, "lefts", n, 1, 'i');
  uint8_t *mask = lua_isnoneornil(L, 5) ? NULL : sample_params(L, 5, fname, "mask", n, 1, 'b');
  float *mean = channel_values(L, 6, fname, "mean", in.c), *std = channel_values(L, 7, fname, "std", in.c);
  lt_tf_geom out = {bf16 && on_gpu(x) ? LT_BFLOAT16 : LT_FLOAT32, in.c, oh, ow};
  lt_tensor *y = push_output(L, x, n, out, fname);
  if (on_gpu(x)) {
    gpu_pass gp = {.oh = oh, .ow = ow, .pad = pad, .mode = mode, .fill = fill, .top = top, .left = left,
                   .flip = mask, .to_float = true, .mean = mean, .std = std};
    if (gpu_run(x, in, n, &gp, y) != LT_OK) return raise_kernel(L, fname);
    return 1;
  }
  if (lt_transforms_crop_flip_normalize(lt_tensor_data(x), lt_tensor_data(y), n, in.c, in.h, in.w, oh, ow, top, left,
                                        pad, mode, (uint8_t)fill, mask, mean, std) != LT_OK)
    return raise_kernel(L, fname);
  if (bf16) push_bf16(L, y, fname);
  return 1;
}

/* F.resize(x, size): bilinear to exactly size ({h, w} or a square). */
static int f_resize(lua_State *L) {
  lua_settop(L, 2); /* absent arguments read as nil below the values pushed later */
  const char *fname = "resize";
  lt_tf_geom in;
  int64_t n, oh, ow;
  check_size(L, 2, fname, &oh, &ow);
  lt_tensor *x = check_batch(L, 1, 1, fname, &in, &n);
  lt_tensor *y = push_sized_output(L, x, n, in, oh, ow, fname);
  if (lt_transforms_resize(in.dt, lt_tensor_data(x), lt_tensor_data(y), n, in.c, in.h, in.w, oh, ow) != LT_OK)
    return raise_kernel(L, fname);
  return 1;
}

/* ---- registration ------------------------------------------------------------ */

/* Adds the transform engine to the table at data_table (lt._data). */
void lt_lua_open_transforms(lua_State *L, int data_table) {
  data_table = lua_absindex(L, data_table);
  static const luaL_Reg gen_methods[] = {{"uniform", g_uniform}, {"normal", g_normal}, {"randint", g_randint},
                                         {"bernoulli", g_bernoulli}, {"randperm", g_randperm}, {"state", g_state},
                                         {"clone", g_clone}, {NULL, NULL}};
  luaL_newmetatable(L, GEN_MT);
  luaL_newlib(L, gen_methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, g_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushliteral(L, "Generator");
  lua_setfield(L, -2, "__name");
  lua_pop(L, 1);
  luaL_newmetatable(L, STEP_MT);
  lua_pushcfunction(L, step_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  luaL_newmetatable(L, PLAN_MT);
  lua_pop(L, 1);
  static const luaL_Reg fns[] = {
    {"Generator", l_generator}, {"step", l_step}, {"apply", l_apply}, {"run_plan", l_run_plan},
    {"f_crop", f_crop}, {"f_hflip", f_hflip}, {"f_vflip", f_vflip}, {"f_resize", f_resize},
    {"f_resized_crop", f_resized_crop}, {"f_to_float", f_to_float}, {"f_normalize", f_normalize},
    {"f_erase", f_erase}, {"f_adjust_brightness", f_adjust_brightness}, {"f_adjust_contrast", f_adjust_contrast},
    {"f_crop_flip_normalize", f_crop_flip_normalize}, {NULL, NULL}};
  lua_pushvalue(L, data_table);
  luaL_setfuncs(L, fns, 0);
  lua_pop(L, 1);
}
