/* lt_lua_transforms.c — Lua glue for the transform engine of src/data: the
 * per-batch random generator (lt.data.Generator), transform steps read from
 * the Lua transform objects (lt._data.step) and applied (lt._data.apply),
 * and pipelines of them compiled into plans (lt._data.run_plan), on the CPU
 * or, for RandomCrop, RandomHorizontalFlip, ToFloat and Normalize, on a GPU.
 *
 * Not here: the generator, the steps, their draws and the plans
 * (src/data/lt_data_gen.h, lt_transform_step.h, lt_transform_plan.h), the
 * functional primitives (lt_lua_transforms_functional.c), the transform
 * classes and Compose (lua/luatrain/transforms), the loader
 * (lt_lua_data.c). This file turns Lua values into those structures and
 * tensors into pointers, and nothing else. */
#include "lt_lua_transforms.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_transform_plan.h"
#include "lt_transforms_cpu.h"

#define GEN_MT "luatrain.Generator"
#define STEP_MT "luatrain.TransformStep"
#define PLAN_MT "luatrain.TransformPlan"

/* ---- the generator ------------------------------------------------------ */

static lt_data_gen *check_gen(lua_State *L, int idx, const char *fname) {
  lt_data_gen *g = luaL_testudata(L, idx, GEN_MT);
  if (!g) lt_lua_argerror(L, idx, fname, "expected a Generator, got %s", luaL_typename(L, idx));
  return g;
}

void lt_lua_push_gen(lua_State *L, uint64_t key, uint64_t pos) {
  lt_data_gen *g = lua_newuserdatauv(L, sizeof *g, 0);
  lt_data_gen_init(g, key, pos);
  luaL_setmetatable(L, GEN_MT);
}

/* A generator keyed by a fresh block of the global generator, for a
 * transform called without one (as torchvision draws from torch's RNG). */
static lt_data_gen *push_global_gen(lua_State *L) {
  lt_lua_push_gen(L, lt_data_gen_global_key(), 0);
  return lua_touserdata(L, -1);
}

/* lt.data.Generator(seed) or Generator(seed, epoch, batch): the latter is the
 * generator the loader hands the transforms of that batch (epoch as given to
 * iter, batch 1-based). */
static int l_generator(lua_State *L) {
  const char *fname = "Generator";
  int64_t seed = lt_lua_check_integer(L, 1, fname, "seed");
  if (lua_isnoneornil(L, 2)) {
    lt_lua_push_gen(L, (uint64_t)seed, 0);
    return 1;
  }
  int64_t epoch = lt_lua_check_integer(L, 2, fname, "epoch");
  int64_t batch = lt_lua_check_integer(L, 3, fname, "batch index");
  if (epoch < 0) return lt_lua_argerror(L, 2, fname, "epoch must be >= 0, got %lld", (long long)epoch);
  if (batch < 1) return lt_lua_argerror(L, 3, fname, "batch index must be >= 1, got %lld", (long long)batch);
  lt_data_gen g;
  lt_data_gen_batch(&g, (uint64_t)seed, epoch, batch - 1);
  lt_lua_push_gen(L, g.key, 0);
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
static int draw_numbers(lua_State *L, const char *fname, double (*draw)(lt_data_gen *)) {
  lt_data_gen *g = check_gen(L, 1, fname);
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
static int g_uniform(lua_State *L) { return draw_numbers(L, "uniform", lt_data_gen_uniform); }

/* gen:normal([n]): standard normal numbers. */
static int g_normal(lua_State *L) { return draw_numbers(L, "normal", lt_data_gen_normal); }

/* gen:randint(lo, hi [, n]): uniform integers in [lo, hi) (PyTorch's range,
 * as lt.randint), hi - lo in 1..2^32. */
static int g_randint(lua_State *L) {
  const char *fname = "randint";
  lt_data_gen *g = check_gen(L, 1, fname);
  int64_t lo = lt_lua_check_integer(L, 2, fname, "low");
  int64_t hi = lt_lua_check_integer(L, 3, fname, "high");
  int64_t n = opt_count(L, 4, fname);
  if (hi <= lo || (uint64_t)hi - (uint64_t)lo > ((uint64_t)1 << 32))
    return lt_lua_argerror(L, 3, fname, "expected low < high with high - low <= 2^32, got [%lld, %lld)", (long long)lo,
                           (long long)hi);
  uint64_t k = (uint64_t)hi - (uint64_t)lo;
  if (n < 0) {
    lua_pushinteger(L, lo + lt_data_gen_below(g, k));
    return 1;
  }
  int64_t *p = push_vector(L, n, LT_INT64, fname);
  for (int64_t i = 0; i < n; i++) p[i] = lo + lt_data_gen_below(g, k);
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
  lt_data_gen *g = check_gen(L, 1, "bernoulli");
  double p = check_probability(L, 2, "bernoulli");
  int64_t n = opt_count(L, 3, "bernoulli");
  if (n < 0) {
    lua_pushboolean(L, lt_data_gen_uniform(g) < p);
    return 1;
  }
  uint8_t *m = push_vector(L, n, LT_BOOL, "bernoulli");
  for (int64_t i = 0; i < n; i++) m[i] = lt_data_gen_uniform(g) < p;
  return 1;
}

/* gen:randperm(n): a permutation of 1..n (int64), Fisher-Yates. */
static int g_randperm(lua_State *L) {
  lt_data_gen *g = check_gen(L, 1, "randperm");
  int64_t n = lt_lua_check_integer(L, 2, "randperm", "n");
  if (n < 0 || n > (int64_t)UINT32_MAX) return lt_lua_argerror(L, 2, "randperm", "n must be in 0..2^32-1, got %lld", (long long)n);
  int64_t *p = push_vector(L, n, LT_INT64, "randperm");
  for (int64_t i = 0; i < n; i++) p[i] = i + 1;
  lt_data_gen_shuffle(g, p, n);
  return 1;
}

/* gen:state() -> key, pos; gen:clone() */
static int g_state(lua_State *L) {
  lt_data_gen *g = check_gen(L, 1, "state");
  lua_pushinteger(L, (lua_Integer)g->key);
  lua_pushinteger(L, (lua_Integer)g->pos);
  return 2;
}

static int g_clone(lua_State *L) {
  lt_data_gen *g = check_gen(L, 1, "clone");
  lt_lua_push_gen(L, g->key, g->pos);
  return 1;
}

static int g_tostring(lua_State *L) {
  lt_data_gen *g = check_gen(L, 1, "tostring");
  char b[96];
  snprintf(b, sizeof b, "Generator(key 0x%016llx, position %llu)", (unsigned long long)g->key, (unsigned long long)g->pos);
  lua_pushstring(L, b);
  return 1;
}

/* ---- steps (lt._data.step{...}) ------------------------------------------- */

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
    if (len < 1 || len > LT_TF_MAXC) lt_lua_argerror(L, 1, "step", "field '%s' must have 1..%d entries, got %d", key, LT_TF_MAXC, (int)len);
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


const char *const lt_lua_tf_pad_modes[] = {"constant", "edge", "reflect", "symmetric", NULL};

/* lt._data.step{kind=, name=, ...}: the Lua transform constructors check
 * the user's options and describe the step with plain fields. */
static int l_step(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lt_tf_step *s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  luaL_setmetatable(L, STEP_MT);
  lua_getfield(L, 1, "kind");
  s->kind = (lt_tf_kind)luaL_checkoption(L, -1, NULL, lt_tf_kind_names);
  lua_pop(L, 1);
  lua_getfield(L, 1, "name");
  snprintf(s->name, sizeof s->name, "%s", lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : lt_tf_kind_names[s->kind]);
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
  s->mode = (lt_pad_mode)luaL_checkoption(L, -1, "constant", lt_lua_tf_pad_modes);
  lua_pop(L, 1);
  if (s->kind == LT_TF_NORMALIZE) {
    int nm = field_floats(L, 1, "mean", s->mean), ns = field_floats(L, 1, "std", s->std);
    if (nm != ns) lt_lua_argerror(L, 1, "step", "mean has %d entries, std %d", nm, ns);
    s->nvals = nm;
  } else {
    s->nvals = field_floats(L, 1, "values", s->mean);
  }
  LT_LUA_CHECK(L, lt_tf_step_check(s), "step");
  return 1;
}

static lt_tf_step *check_step(lua_State *L, int idx, const char *fname) {
  lt_tf_step *s = luaL_testudata(L, idx, STEP_MT);
  if (!s) lt_lua_argerror(L, idx, fname, "expected a transform step, got %s", luaL_typename(L, idx));
  return s;
}

/* A batch argument: a tensor [B,C,H,W] (or one image [C,H,W]) on the CPU,
 * or with `cuda` also on a GPU, made contiguous; its box is pushed (keeping
 * it alive). */
lt_tensor *lt_lua_tf_check_batch(lua_State *L, int idx, int argn, const char *fname, lt_tf_geom *geom, int64_t *n,
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



/* A new output tensor of n samples of geometry g on x's device, 3-D when
 * the input was one image. */
lt_tensor *lt_lua_tf_push_output(lua_State *L, const lt_tensor *x, int64_t n, lt_tf_geom g, const char *fname) {
  int64_t shape[4] = {n, g.c, g.h, g.w};
  bool image = x->ndim == 3;
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_tensor_empty(image ? 3 : 4, image ? shape + 1 : shape, g.dt, lt_tensor_device(x), box), fname);
  return *box;
}

/* The bfloat16 copy of a float32 CPU batch, rounded to nearest even as the
 * GPU kernel rounds. Pushes it. */
lt_tensor *lt_lua_tf_push_bf16(lua_State *L, const lt_tensor *y, const char *fname) {
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_tensor_empty(y->ndim, y->shape, LT_BFLOAT16, lt_cpu_device(), box), fname);
  LT_LUA_CHECK(L, lt_transforms_to_bf16(lt_tensor_data(y), lt_tensor_data(*box), lt_tensor_numel(y)), fname);
  return *box;
}


/* lt._data.apply(step, batch [, gen]) -> a new batch. A batch the step
 * cannot take is argument 1 of the transform's call tf(batch, gen). */
static int l_apply(lua_State *L) {
  lua_settop(L, 3); /* absent arguments read as nil below the values pushed later */
  lt_tf_step *s = check_step(L, 1, "apply");
  const char *fname = s->name;
  lt_tf_geom in, out;
  int64_t n;
  if (!lua_isnoneornil(L, 3) && !luaL_testudata(L, 3, GEN_MT))
    return lt_lua_argerror(L, 2, fname, "expected a Generator (or nothing), got %s", luaL_typename(L, 3));
  lt_tensor *x = lt_lua_tf_check_batch(L, 2, 1, fname, &in, &n, false);
  LT_LUA_CHECK_ARG(L, lt_tf_step_geom(s, in, &out), fname, 1);
  lt_data_gen *g = NULL;
  if (lt_tf_step_is_random(s)) g = lua_isnoneornil(L, 3) ? push_global_gen(L) : lua_touserdata(L, 3);
  lt_tensor *y = lt_lua_tf_push_output(L, x, n, out, fname);
  LT_LUA_CHECK_ARG(L, lt_tf_step_run(s, g, in, n, lt_tensor_data(x), lt_tensor_data(y)), fname, 1);
  return 1;
}

static int step_tostring(lua_State *L) {
  lt_tf_step *s = check_step(L, 1, "tostring");
  lua_pushfstring(L, "TransformStep(%s)", s->name);
  return 1;
}

/* ---- plans ---------------------------------------------------------------- */

/* A plan, in a userdata that frees it when collected, so that a Lua error
 * leaks nothing. */
typedef struct {
  lt_tf_plan *plan;
} plan_box;

static int plan_gc(lua_State *L) {
  plan_box *b = luaL_checkudata(L, 1, PLAN_MT);
  lt_tf_plan_free(b->plan);
  b->plan = NULL;
  return 0;
}

const lt_tf_step **lt_lua_check_steps(lua_State *L, int idx, int *n) {
  idx = lua_absindex(L, idx);
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_Integer len = luaL_len(L, idx);
  *n = (int)(len > INT_MAX ? INT_MAX : len);
  if (len > 1000) { /* more than a plan takes: it refuses them unread */
    lua_pushnil(L);
    return NULL;
  }
  const lt_tf_step **steps = lua_newuserdatauv(L, sizeof *steps * (size_t)(len > 0 ? len : 1), 0);
  for (lua_Integer i = 0; i < len; i++) {
    lua_geti(L, idx, i + 1);
    steps[i] = luaL_testudata(L, -1, STEP_MT);
    lua_pop(L, 1);
  }
  return steps;
}

/* Compiles the steps at `idx` (as lt_lua_check_steps reads them) for
 * batches of up to max_batch samples of geometry `in`, and pushes the box
 * holding the plan. Raises "fname: transform k (Name) cannot take ..." when
 * a step does not fit what comes before it. */
static plan_box *push_plan(lua_State *L, int idx, lt_tf_geom in, int64_t max_batch, const char *fname) {
  int n;
  const lt_tf_step **steps = lt_lua_check_steps(L, idx, &n);
  plan_box *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->plan = NULL;
  luaL_setmetatable(L, PLAN_MT);
  LT_LUA_CHECK(L, lt_tf_plan_new(steps, n, in, max_batch, &b->plan), fname);
  lua_remove(L, -2);
  return b;
}

/* {dtype = "float32" | "bfloat16"} at idx (or nil): true for bfloat16 */
bool lt_lua_tf_check_out_dtype(lua_State *L, int idx, const char *fname, const char *const *allowed) {
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
  bool bf16 = lt_lua_tf_check_out_dtype(L, 4, fname, allowed);
  lt_tensor *x = lt_lua_tf_check_batch(L, 2, 2, fname, &in, &n, true); /* +1 */
  bool gpu = lt_tensor_device(x).type != LT_CPU;
  lt_tensor **xbox = lt_lua_newbox(L);                 /* a private copy: the plan may overwrite its input */
  if (!gpu) LT_LUA_CHECK(L, lt_op_clone(x, xbox), fname);
  const lt_tf_plan *p = push_plan(L, 1, in, n > 0 ? n : 1, fname)->plan;
  if (bf16 && lt_tf_plan_out(p).dt != LT_FLOAT32)
    return lt_lua_argerror(L, 4, fname, "dtype bfloat16 needs a float32 result (end the pipeline with ToFloat or "
                           "Normalize), this one gives %s", lt_dtype_name(lt_tf_plan_out(p).dt));
  lt_data_gen *g = lua_isnoneornil(L, 3) ? push_global_gen(L) : lua_touserdata(L, 3);
  if (gpu) {
    lt_tensor **box = lt_lua_newbox(L);
    LT_LUA_CHECK(L, lt_tf_plan_run_gpu(p, g, x, n, bf16, box), fname);
    return 1;
  }
  lt_tensor *y = lt_lua_tf_push_output(L, x, n, lt_tf_plan_out(p), fname);
  LT_LUA_CHECK(L, lt_tf_plan_run(p, g, n, lt_tensor_data(*xbox), lt_tensor_data(y)), fname);
  if (bf16) lt_lua_tf_push_bf16(L, y, fname);
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
  lua_pushcfunction(L, plan_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  static const luaL_Reg fns[] = {
    {"Generator", l_generator}, {"step", l_step}, {"apply", l_apply}, {"run_plan", l_run_plan}, {NULL, NULL}};
  lua_pushvalue(L, data_table);
  luaL_setfuncs(L, fns, 0);
  lua_pop(L, 1);
  lt_lua_open_transforms_functional(L, data_table);
}
