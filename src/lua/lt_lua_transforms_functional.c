/* lt_lua_transforms_functional.c — Lua glue for lt.transforms.functional:
 * the batched transform primitives with explicit per-sample parameters
 * (crop offsets, flip masks, boxes, factors) given as tensors or tables,
 * on the CPU kernels (src/data/lt_transforms_cpu.h) or, for crop, hflip,
 * to_float, normalize and crop_flip_normalize, the fused GPU pass
 * (src/data/lt_transforms_gpu.h) for a batch on a GPU.
 *
 * Not here: the Generator, the transform steps and plans
 * (lt_lua_transforms.c), the functional API's Lua half and center_crop
 * (lua/luatrain/transforms). */
#include <math.h>
#include <string.h>

#include "lt_lua_transforms.h"
#include "lt_transforms_cpu.h"
#include "lt_transforms_gpu.h"

static lt_tensor *check_batch(lua_State *L, int idx, int argn, const char *fname, lt_tf_geom *geom, int64_t *n) {
  return lt_lua_tf_check_batch(L, idx, argn, fname, geom, n, false);
}

static bool on_gpu(const lt_tensor *x) { return lt_tensor_device(x).type != LT_CPU; }

/* push_output for n samples of in's dtype and channels, resized to oh x ow. */
static lt_tensor *push_sized_output(lua_State *L, const lt_tensor *x, int64_t n, lt_tf_geom in, int64_t oh, int64_t ow,
                                    const char *fname) {
  in.h = oh;
  in.w = ow;
  return lt_lua_tf_push_output(L, x, n, in, fname);
}

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
  if (bf16) *bf16 = lt_lua_tf_check_out_dtype(L, idx, fname, allowed_dt);
  if (lua_getfield(L, idx, "padding") != LUA_TNIL) {
    *pad = lt_lua_check_integer(L, -1, fname, "padding");
    if (*pad < 0) lt_lua_argerror(L, idx, fname, "padding must be >= 0, got %lld", (long long)*pad);
  }
  if (lua_getfield(L, idx, "padding_mode") != LUA_TNIL) {
    const char *m = lua_tostring(L, -1);
    int k = 0;
    while (lt_lua_tf_pad_modes[k] && !(m && lua_type(L, -1) == LUA_TSTRING && strcmp(m, lt_lua_tf_pad_modes[k]) == 0)) k++;
    if (!lt_lua_tf_pad_modes[k])
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
  lt_tensor *x = lt_lua_tf_check_batch(L, 1, 1, fname, &in, &n, true);
  int64_t *top = sample_params(L, 2, fname, "tops", n, 1, 'i');
  int64_t *left = sample_params(L, 3, fname, "lefts", n, 1, 'i');
  lt_tensor *y = push_sized_output(L, x, n, in, oh, ow, fname);
  if (on_gpu(x)) {
    lt_tf_gpu_pass gp = {.oh = oh, .ow = ow, .pad = pad, .mode = mode, .fill = fill, .top = top, .left = left};
    LT_LUA_CHECK(L, lt_transforms_gpu_run(x, in, n, &gp, y), fname);
    return 1;
  }
  LT_LUA_CHECK(L, lt_transforms_crop_pad(in.dt, lt_tensor_data(x), lt_tensor_data(y), n, in.c, in.h, in.w, oh, ow, top,
                                         left, pad, mode, fill), fname);
  return 1;
}

/* F.hflip(x [, mask]) / F.vflip(x [, mask]): flips the samples whose mask
 * entry is true (all without a mask). */
static int flip(lua_State *L, const char *fname, bool horizontal) {
  lua_settop(L, 2); /* absent arguments read as nil below the values pushed later */
  lt_tf_geom in;
  int64_t n;
  lt_tensor *x = lt_lua_tf_check_batch(L, 1, 1, fname, &in, &n, horizontal);
  uint8_t *mask;
  if (lua_isnoneornil(L, 2)) {
    mask = lua_newuserdatauv(L, (size_t)n + 1, 0);
    memset(mask, 1, (size_t)n + 1);
  } else {
    mask = sample_params(L, 2, fname, "mask", n, 1, 'b');
  }
  lt_tensor *y = lt_lua_tf_push_output(L, x, n, in, fname);
  if (on_gpu(x)) {
    lt_tf_gpu_pass gp = {.mode = LT_PAD_CONSTANT, .flip = mask};
    LT_LUA_CHECK(L, lt_transforms_gpu_run(x, in, n, &gp, y), fname);
    return 1;
  }
  lt_status st = horizontal ? lt_transforms_hflip(in.dt, lt_tensor_data(x), lt_tensor_data(y), n, in.c, in.h, in.w, mask)
                            : lt_transforms_vflip(in.dt, lt_tensor_data(x), lt_tensor_data(y), n, in.c, in.h, in.w, mask);
  LT_LUA_CHECK(L, st, fname);
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
  LT_LUA_CHECK(L, lt_transforms_resized_crop(in.dt, lt_tensor_data(x), lt_tensor_data(y), n, in.c, in.h, in.w, boxes, oh,
                                             ow), fname);
  return 1;
}

/* F.to_float(x): uint8 -> float32 / 255 */
static int f_to_float(lua_State *L) {
  lua_settop(L, 1); /* absent arguments read as nil below the values pushed later */
  const char *fname = "to_float";
  lt_tf_geom in;
  int64_t n;
  lt_tensor *x = lt_lua_tf_check_batch(L, 1, 1, fname, &in, &n, true);
  if (in.dt != LT_UINT8) return lt_lua_argerror(L, 1, fname, "expected a uint8 batch, got %s", lt_dtype_name(in.dt));
  lt_tf_geom out = in;
  out.dt = LT_FLOAT32;
  lt_tensor *y = lt_lua_tf_push_output(L, x, n, out, fname);
  if (on_gpu(x)) {
    lt_tf_gpu_pass gp = {.mode = LT_PAD_CONSTANT, .to_float = true};
    LT_LUA_CHECK(L, lt_transforms_gpu_run(x, in, n, &gp, y), fname);
    return 1;
  }
  LT_LUA_CHECK(L, lt_transforms_to_float(lt_tensor_data(x), lt_tensor_data(y), n * in.c * in.h * in.w), fname);
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
  lt_tensor *y = lt_lua_tf_push_output(L, x, *n, *in, fname);
  memcpy(lt_tensor_data(y), lt_tensor_data(x), lt_tf_geom_bytes(*in) * (size_t)*n);
  return y;
}

/* F.normalize(x, mean, std): (x - mean[c]) / std[c] on a float32 batch */
static int f_normalize(lua_State *L) {
  lua_settop(L, 3); /* absent arguments read as nil below the values pushed later */
  const char *fname = "normalize";
  lt_tf_geom in;
  int64_t n;
  lt_tensor *x = lt_lua_tf_check_batch(L, 1, 1, fname, &in, &n, true);
  if (on_gpu(x)) {
    if (in.dt != LT_FLOAT32) return lt_lua_argerror(L, 1, fname, "expected a float32 batch, got %s", lt_dtype_name(in.dt));
    lt_tensor *y = lt_lua_tf_push_output(L, x, n, in, fname);
    int ytop = lua_gettop(L);
    float *mean = channel_values(L, 2, fname, "mean", in.c), *std = channel_values(L, 3, fname, "std", in.c);
    lt_tf_gpu_pass gp = {.mode = LT_PAD_CONSTANT, .mean = mean, .std = std};
    LT_LUA_CHECK(L, lt_transforms_gpu_run(x, in, n, &gp, y), fname);
    lua_pushvalue(L, ytop);
    return 1;
  }
  lua_pop(L, 1);
  lt_tensor *y = float_batch_copy(L, fname, &in, &n);
  int ytop = lua_gettop(L);
  float *mean = channel_values(L, 2, fname, "mean", in.c), *std = channel_values(L, 3, fname, "std", in.c);
  LT_LUA_CHECK(L, lt_transforms_normalize(lt_tensor_data(y), n, in.c, in.h * in.w, mean, std), fname);
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
  LT_LUA_CHECK(L, lt_transforms_erase(lt_tensor_data(y), n, in.c, in.h, in.w, boxes, vals), fname);
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
  LT_LUA_CHECK(L, st, fname);
  lua_pushvalue(L, ytop);
  return 1;
}
/* F.adjust_brightness(x, factors), F.adjust_contrast(x, factors): per-sample
 * factors on a float32 batch in [0, 1] (torchvision's formulas). */
static int f_adjust_brightness(lua_State *L) { return adjust(L, "adjust_brightness", false); }
static int f_adjust_contrast(lua_State *L) { return adjust(L, "adjust_contrast", true); }

/* F.crop_flip_normalize(x, tops, lefts, size, mask, mean, std [, pad opts
 * and dtype=]): the fused kernel of the reference recipe's pipeline, uint8 in, float32
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
  lt_tensor *x = lt_lua_tf_check_batch(L, 1, 1, fname, &in, &n, true);
  if (in.dt != LT_UINT8) return lt_lua_argerror(L, 1, fname, "expected a uint8 batch, got %s", lt_dtype_name(in.dt));
  if (!(fill >= 0 && fill <= 255 && fill == floor(fill)))
    return lt_lua_argerror(L, 8, fname, "fill must be an integer in 0..255, got %g", fill);
  int64_t *top = sample_params(L, 2, fname, "tops", n, 1, 'i');
  int64_t *left = sample_params(L, 3, fname, "lefts", n, 1, 'i');
  uint8_t *mask = lua_isnoneornil(L, 5) ? NULL : sample_params(L, 5, fname, "mask", n, 1, 'b');
  float *mean = channel_values(L, 6, fname, "mean", in.c), *std = channel_values(L, 7, fname, "std", in.c);
  lt_tf_geom out = {bf16 && on_gpu(x) ? LT_BFLOAT16 : LT_FLOAT32, in.c, oh, ow};
  lt_tensor *y = lt_lua_tf_push_output(L, x, n, out, fname);
  if (on_gpu(x)) {
    lt_tf_gpu_pass gp = {.oh = oh, .ow = ow, .pad = pad, .mode = mode, .fill = fill, .top = top, .left = left,
                   .flip = mask, .to_float = true, .mean = mean, .std = std};
    LT_LUA_CHECK(L, lt_transforms_gpu_run(x, in, n, &gp, y), fname);
    return 1;
  }
  LT_LUA_CHECK(L, lt_transforms_crop_flip_normalize(lt_tensor_data(x), lt_tensor_data(y), n, in.c, in.h, in.w, oh, ow, top,
                                                    left, pad, mode, (uint8_t)fill, mask, mean, std), fname);
  if (bf16) lt_lua_tf_push_bf16(L, y, fname);
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
  LT_LUA_CHECK(L, lt_transforms_resize(in.dt, lt_tensor_data(x), lt_tensor_data(y), n, in.c, in.h, in.w, oh, ow), fname);
  return 1;
}

/* ---- registration ------------------------------------------------------------ */

void lt_lua_open_transforms_functional(lua_State *L, int data_table) {
  static const luaL_Reg fns[] = {
    {"f_crop", f_crop}, {"f_hflip", f_hflip}, {"f_vflip", f_vflip}, {"f_resize", f_resize},
    {"f_resized_crop", f_resized_crop}, {"f_to_float", f_to_float}, {"f_normalize", f_normalize},
    {"f_erase", f_erase}, {"f_adjust_brightness", f_adjust_brightness}, {"f_adjust_contrast", f_adjust_contrast},
    {"f_crop_flip_normalize", f_crop_flip_normalize}, {NULL, NULL}};
  lua_pushvalue(L, data_table);
  luaL_setfuncs(L, fns, 0);
  lua_pop(L, 1);
}
