/* test_transform_plan.c — the transform engine under lt.transforms and the
 * loader, without Lua: the data generator (its stream, keys, unbiased
 * integers and the shuffle the loader's order uses), the steps' parameter
 * and geometry checks, and plans: built or refused with messages naming the
 * step, and run on the CPU with exactly the result (and the generator
 * position) of running their steps one by one, whether they fuse or not,
 * for any batch size up to the plan's. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_data_gen.h"
#include "lt_loader.h"
#include "lt_philox.h"
#include "lt_test.h"
#include "lt_transform_plan.h"
#include "lt_transforms_cpu.h"

static void check_err(lt_status st, const char *want, int line) {
  bool ok = st == LT_ERR_ARG && strstr(lt_error_message(), want) != NULL;
  if (!ok) fprintf(stderr, "line %d: status %d, message \"%s\"; expected \"%s\"\n", line, (int)st, lt_error_message(), want);
  LT_CHECK(ok);
}
#define CHECK_ERR(st, want) check_err((st), (want), __LINE__)

static uint32_t rng_state = 12345;
static uint8_t rnd8(void) {
  rng_state = rng_state * 1664525u + 1013904223u;
  return (uint8_t)(rng_state >> 24);
}

/* ---- the generator ---------------------------------------------------------- */

static void test_gen(void) {
  /* word k of key K is word k % 4 of block (K, k / 4), from any position */
  lt_data_gen g, h;
  lt_data_gen_init(&g, 99, 0);
  int bad = 0;
  for (uint64_t k = 0; k < 40; k++) {
    uint32_t b[4];
    lt_philox_block(99, k / 4, b);
    if (lt_data_gen_word(&g) != b[k % 4]) bad++;
  }
  LT_CHECK(bad == 0 && g.pos == 40);
  lt_data_gen_init(&h, 99, 37);
  lt_data_gen_init(&g, 99, 0);
  for (int k = 0; k < 37; k++) lt_data_gen_word(&g);
  LT_CHECK(lt_data_gen_word(&g) == lt_data_gen_word(&h));

  /* keys: the epoch's shuffle takes words 0-1 of block (seed, epoch), the
   * batches words 0-1 of block (words 2-3 of it, batch) */
  uint32_t e[4], b[4];
  lt_philox_block(7, 3, e);
  lt_data_gen_epoch(&g, 7, 3);
  LT_CHECK(g.key == ((uint64_t)e[0] | (uint64_t)e[1] << 32) && g.pos == 0);
  lt_philox_block((uint64_t)e[2] | (uint64_t)e[3] << 32, 5, b);
  lt_data_gen_batch(&g, 7, 3, 5);
  LT_CHECK(g.key == ((uint64_t)b[0] | (uint64_t)b[1] << 32) && g.pos == 0);

  /* below(k): in range; a k that forces rejections (2^31 + 1: almost half
   * the words are redrawn) keeps a uniform high bit */
  lt_data_gen_init(&g, 5, 0);
  int out_of_range = 0, high = 0;
  for (int k = 0; k < 20000; k++) {
    int64_t v = lt_data_gen_below(&g, 7);
    if (v < 0 || v >= 7) out_of_range++;
    int64_t u = lt_data_gen_below(&g, ((uint64_t)1 << 31) + 1);
    if (u < 0 || u > ((int64_t)1 << 31)) out_of_range++;
    high += u >= ((int64_t)1 << 30);
  }
  LT_CHECK(out_of_range == 0);
  LT_CHECK(high > 9500 && high < 10500);
  lt_data_gen_init(&g, 5, 0);
  lt_data_gen_init(&h, 5, 0);
  LT_CHECK(lt_data_gen_below(&g, (uint64_t)1 << 32) == lt_data_gen_word(&h)); /* 2^32: one raw word */
  double u = lt_data_gen_uniform(&g), r = lt_data_gen_range(&g, 2, 3);
  LT_CHECK(u >= 0 && u < 1 && r >= 2 && r < 3);
  double sum = 0, sq = 0;
  for (int k = 0; k < 20000; k++) {
    double z = lt_data_gen_normal(&g);
    sum += z;
    sq += z * z;
  }
  LT_CHECK(fabs(sum / 20000) < 0.05 && fabs(sq / 20000 - 1) < 0.05);

  /* the shuffle is the loader's epoch order */
  enum { N = 1000 };
  int64_t v[N], perm[N];
  for (int i = 0; i < N; i++) v[i] = i;
  lt_data_gen_epoch(&g, 42, 2);
  lt_data_gen_shuffle(&g, v, N);
  LT_CHECK(lt_loader_permutation(42, 2, N, perm) == LT_OK && memcmp(v, perm, sizeof v) == 0);
  char seen[N] = {0};
  int dup = 0, fixed = 0;
  for (int i = 0; i < N; i++) {
    dup += seen[v[i]]++;
    fixed += v[i] == i;
  }
  LT_CHECK(dup == 0 && fixed < 10);
}

/* ---- steps ------------------------------------------------------------------- */

static lt_tf_step step(lt_tf_kind kind, const char *name) {
  lt_tf_step s;
  memset(&s, 0, sizeof s);
  s.kind = kind;
  snprintf(s.name, sizeof s.name, "%s", name);
  s.p = 0.5;
  s.scale[0] = 0.08;
  s.scale[1] = 1.0;
  s.ratio[0] = 3.0 / 4.0;
  s.ratio[1] = 4.0 / 3.0;
  return s;
}

static lt_tf_step crop(int64_t size, int64_t pad, lt_pad_mode mode) {
  lt_tf_step s = step(LT_TF_CROP, "RandomCrop");
  s.oh = s.ow = size;
  s.pad = pad;
  s.mode = mode;
  return s;
}

static lt_tf_step normalize(void) {
  lt_tf_step s = step(LT_TF_NORMALIZE, "Normalize");
  const float mean[3] = {0.4914f, 0.4822f, 0.4465f}, std[3] = {0.2471f, 0.2435f, 0.2616f};
  s.nvals = 3;
  memcpy(s.mean, mean, sizeof mean);
  memcpy(s.std, std, sizeof std);
  return s;
}

static void test_step_checks(void) {
  lt_tf_step s = crop(0, 0, LT_PAD_CONSTANT);
  CHECK_ERR(lt_tf_step_check(&s), "size must be positive, got 0x0");
  LT_CHECK(lt_error_arg() == 1);
  s = crop(8, -1, LT_PAD_CONSTANT);
  CHECK_ERR(lt_tf_step_check(&s), "padding must be >= 0, got -1");
  s = step(LT_TF_HFLIP, "RandomHorizontalFlip");
  s.p = 1.5;
  CHECK_ERR(lt_tf_step_check(&s), "p must be in [0, 1], got 1.5");
  s = normalize();
  s.std[1] = 0;
  CHECK_ERR(lt_tf_step_check(&s), "std entry 2 is zero");
  s = step(LT_TF_ERASE, "RandomErasing");
  s.scale[1] = 2;
  CHECK_ERR(lt_tf_step_check(&s), "scale must be (lo, hi) with 0 < lo <= hi, got (0.08, 2)");
  s = step(LT_TF_CUTOUT, "Cutout");
  CHECK_ERR(lt_tf_step_check(&s), "cutout size must be >= 1");
  s = crop(32, 4, LT_PAD_REFLECT);
  LT_CHECK(lt_tf_step_check(&s) == LT_OK);

  lt_tf_geom u8 = {LT_UINT8, 3, 32, 32}, out;
  LT_CHECK(lt_tf_step_geom(&s, u8, &out) == LT_OK && out.h == 32 && out.w == 32 && out.dt == LT_UINT8);
  lt_tf_geom flat = {LT_UINT8, 3, 28, 40};
  s = crop(8, 30, LT_PAD_REFLECT);
  CHECK_ERR(lt_tf_step_geom(&s, flat, &out), "reflect padding 30 must be smaller than the image size 28x40");
  s = crop(48, 0, LT_PAD_CONSTANT);
  CHECK_ERR(lt_tf_step_geom(&s, u8, &out), "crop size 48x48 is larger than the image 32x32");
  s = normalize();
  CHECK_ERR(lt_tf_step_geom(&s, u8, &out), "expected a float32 batch, got uint8 (put ToFloat before Normalize)");
  lt_tf_geom f1 = {LT_FLOAT32, 1, 8, 8};
  CHECK_ERR(lt_tf_step_geom(&s, f1, &out), "mean and std have 3 entries but the batch has 1 channels");
  s = step(LT_TF_RESIZE, "Resize"); /* shorter edge 16, the longer keeps the ratio (truncated) */
  s.oh = 16;
  lt_tf_geom wide = {LT_UINT8, 3, 30, 45};
  LT_CHECK(lt_tf_step_geom(&s, wide, &out) == LT_OK && out.h == 16 && out.w == 24);
  LT_CHECK(lt_tf_step_is_random(&(lt_tf_step){.kind = LT_TF_JITTER}) && !lt_tf_step_is_random(&s));
}

/* ---- plans ------------------------------------------------------------------------ */

static void test_plan_errors(void) {
  lt_tf_geom in = {LT_UINT8, 3, 32, 32};
  lt_tf_step a = crop(32, 4, LT_PAD_CONSTANT), n = normalize(), f = step(LT_TF_TO_FLOAT, "ToFloat");
  lt_tf_plan *p = (lt_tf_plan *)1;
  const lt_tf_step *bad_order[] = {&a, &n, &f};
  CHECK_ERR(lt_tf_plan_new(bad_order, 3, in, 8, &p),
            "transform 2 (Normalize) cannot take uint8 images [3,32,32]: expected a float32 batch, got uint8");
  LT_CHECK(p == NULL && lt_error_arg() == 0);
  const lt_tf_step *hole[] = {&a, NULL};
  CHECK_ERR(lt_tf_plan_new(hole, 2, in, 8, &p), "transform 2 is not a built-in transform step");
  CHECK_ERR(lt_tf_plan_new(NULL, 5000, in, 8, &p), "a transform pipeline of 5000 steps is too long");
  lt_tf_step big = step(LT_TF_RESIZE, "Resize");
  big.oh = big.ow = 1 << 20;
  const lt_tf_step *huge[] = {&big};
  CHECK_ERR(lt_tf_plan_new(huge, 1, in, 8, &p), "transform 1 (Resize) makes batches of 1048576x1048576 images too large");
  const lt_tf_step *ok[] = {&a, &f, &n};
  LT_CHECK(lt_tf_plan_new(ok, 3, in, 8, &p) == LT_OK);
  lt_tf_geom o = lt_tf_plan_out(p);
  LT_CHECK(o.dt == LT_FLOAT32 && o.c == 3 && o.h == 32 && o.w == 32);
  uint8_t x[1];
  float y[1];
  lt_data_gen g;
  lt_data_gen_init(&g, 1, 0);
  CHECK_ERR(lt_tf_plan_run(p, &g, 9, x, y), "a batch of 9 samples does not fit the plan (at most 8)");
  LT_CHECK(lt_tf_plan_run(p, &g, 0, x, y) == LT_OK && g.pos == 0);
  lt_tf_plan_free(p);
  lt_tf_plan_free(NULL);
}

/* Runs steps[0..ns-1] one by one on a copy of x (n samples of geometry in)
 * with generator g; returns the result (malloc'd) and its geometry. */
static void *run_steps(const lt_tf_step *steps, int ns, lt_tf_geom in, int64_t n, const void *x, lt_data_gen *g,
                       lt_tf_geom *out) {
  size_t bytes = lt_tf_geom_bytes(in) * (size_t)n;
  void *cur = malloc(bytes > 0 ? bytes : 1);
  memcpy(cur, x, bytes);
  for (int i = 0; i < ns; i++) {
    lt_tf_geom o;
    LT_CHECK(lt_tf_step_geom(&steps[i], in, &o) == LT_OK);
    void *next = malloc(lt_tf_geom_bytes(o) * (size_t)n + 1);
    LT_CHECK(lt_tf_step_run(&steps[i], g, in, n, cur, next) == LT_OK);
    free(cur);
    cur = next;
    in = o;
  }
  *out = in;
  return cur;
}

/* The plan of steps on n samples equals the steps one by one: same bytes,
 * same generator position afterwards. */
static void check_plan(const char *what, const lt_tf_step *steps, int ns, lt_tf_geom in, int64_t max_batch, int64_t n) {
  const lt_tf_step *ptrs[16];
  for (int i = 0; i < ns; i++) ptrs[i] = &steps[i];
  lt_tf_plan *p;
  LT_CHECK(lt_tf_plan_new(ptrs, ns, in, max_batch, &p) == LT_OK);
  size_t in_bytes = lt_tf_geom_bytes(in) * (size_t)n;
  uint8_t *x = malloc(in_bytes + 1), *x2 = malloc(in_bytes + 1);
  if (in.dt == LT_UINT8) {
    for (size_t k = 0; k < in_bytes; k++) x[k] = rnd8();
  } else {
    float *f = (float *)x;
    for (size_t k = 0; k < in_bytes / 4; k++) f[k] = (float)rnd8() / 255.0f;
  }
  memcpy(x2, x, in_bytes);
  lt_data_gen g1, g2;
  lt_data_gen_batch(&g1, 1234, 1, 7);
  g2 = g1;
  lt_tf_geom ref_geom;
  void *ref = run_steps(steps, ns, in, n, x, &g1, &ref_geom);
  lt_tf_geom og = lt_tf_plan_out(p);
  size_t out_bytes = lt_tf_geom_bytes(og) * (size_t)n;
  void *y = malloc(out_bytes + 1);
  LT_CHECK(lt_tf_plan_run(p, &g2, n, x2, y) == LT_OK); /* x2 may be overwritten */
  bool same = og.dt == ref_geom.dt && og.c == ref_geom.c && og.h == ref_geom.h && og.w == ref_geom.w &&
              memcmp(y, ref, out_bytes) == 0 && g1.pos == g2.pos;
  if (!same) fprintf(stderr, "%s: the plan differs from its steps run one by one (n = %lld)\n", what, (long long)n);
  LT_CHECK(same);
  free(x);
  free(x2);
  free(y);
  free(ref);
  lt_tf_plan_free(p);
}

static void test_plan_runs(void) {
  lt_tf_geom u8 = {LT_UINT8, 3, 32, 32}, f32 = {LT_FLOAT32, 3, 20, 24};
  lt_tf_step flip = step(LT_TF_HFLIP, "RandomHorizontalFlip"), vflip = step(LT_TF_VFLIP, "RandomVerticalFlip");
  lt_tf_step tofloat = step(LT_TF_TO_FLOAT, "ToFloat"), norm = normalize();
  /* the reference recipe's pipeline and its fused sub-runs */
  lt_tf_step recipe[] = {crop(32, 4, LT_PAD_CONSTANT), flip, tofloat, norm};
  for (int64_t n = 1; n <= 13; n += 6) check_plan("recipe pipeline", recipe, 4, u8, 13, n);
  lt_tf_step reflect[] = {crop(28, 2, LT_PAD_REFLECT), tofloat};
  check_plan("crop + to_float", reflect, 2, u8, 9, 9);
  lt_tf_step flip_only[] = {flip, tofloat, norm};
  check_plan("flip + to_float + normalize", flip_only, 3, u8, 5, 5);
  lt_tf_step fill = crop(30, 3, LT_PAD_CONSTANT);
  fill.fill = 17;
  lt_tf_step filled[] = {fill, tofloat, vflip};
  check_plan("crop with fill, then a step after the fused pass", filled, 3, u8, 6, 6);
  /* nothing fuses: crops, resizes, erasers, jitter */
  lt_tf_step rrc = step(LT_TF_RESIZED_CROP, "RandomResizedCrop");
  rrc.oh = rrc.ow = 24;
  lt_tf_step erase = step(LT_TF_ERASE, "RandomErasing");
  erase.p = 0.7;
  erase.scale[0] = 0.02;
  erase.scale[1] = 0.33;
  erase.ratio[0] = 0.3;
  erase.ratio[1] = 3.3;
  lt_tf_step cut = step(LT_TF_CUTOUT, "Cutout");
  cut.size = 8;
  cut.nvals = 3;
  cut.mean[0] = 0.1f;
  cut.mean[1] = 0.2f;
  cut.mean[2] = 0.3f;
  lt_tf_step jit = step(LT_TF_JITTER, "ColorJitter");
  jit.has_b = jit.has_c = true;
  jit.b[0] = jit.cr[0] = 0.6;
  jit.b[1] = jit.cr[1] = 1.4;
  lt_tf_step heavy[] = {rrc, vflip, tofloat, jit, erase, cut, norm};
  check_plan("heavy pipeline", heavy, 7, u8, 11, 11);
  lt_tf_step rsz = step(LT_TF_RESIZE, "Resize"), cc = step(LT_TF_CENTER_CROP, "CenterCrop");
  rsz.oh = 40;
  cc.oh = cc.ow = 28;
  lt_tf_step resize[] = {rsz, cc, crop(24, 2, LT_PAD_SYMMETRIC), flip, tofloat};
  check_plan("resize pipeline", resize, 5, u8, 4, 3);
  lt_tf_step floats[] = {crop(14, 1, LT_PAD_EDGE), flip, norm, tofloat};
  check_plan("float32 input", floats, 4, f32, 7, 7);
  lt_tf_step in_place[] = {flip, norm};
  check_plan("only in-place steps", in_place, 2, f32, 4, 4);
  check_plan("no steps", NULL, 0, f32, 4, 4);
}

static void test_bf16(void) {
  const float x[5] = {1.0f, 1.00390625f, 1.01171875f, -0.0f, 3.0e38f};
  uint16_t y[5];
  LT_CHECK(lt_transforms_to_bf16(x, y, 5) == LT_OK);
  /* 1 + 2^-8 is a tie and rounds to even (1.0); 1 + 3*2^-8 rounds up */
  LT_CHECK(y[0] == 0x3f80 && y[1] == 0x3f80 && y[2] == 0x3f82 && y[3] == 0x8000 && y[4] == lt_f32_to_bf16(3.0e38f));
  CHECK_ERR(lt_transforms_to_bf16(x, y, -1), "element count must be >= 0");
}

int main(void) {
  test_gen();
  test_step_checks();
  test_plan_errors();
  test_plan_runs();
  test_bf16();
  return lt_test_done();
}
