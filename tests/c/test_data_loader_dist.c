/* test_data_loader_dist.c — distributed sampling in the loader (PyTorch's
 * DistributedSampler): the shard arithmetic of lt_loader_shard against
 * hand-worked lists (padding by wrap-around, several times over when the
 * dataset is smaller than the world; truncation with drop_last) and against
 * the rule for every small n and world size; the loader core delivering
 * exactly its rank's share of the seeded order, the same number of batches
 * on every rank, for any number of workers and from a start batch; the
 * batch generators keyed by rank (rank 0 the plain ones), and the native
 * DataLoader running its transform plan with the rank's generator, so two
 * ranks crop the same sample differently and a rank repeats itself; and
 * the bad ranks and world sizes refused. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_data_gen.h"
#include "lt_dataloader.h"
#include "lt_loader.h"
#include "lt_source.h"
#include "lt_test.h"

/* ---- the arithmetic -------------------------------------------------------------- */

static bool shard_is(const int64_t *order, int64_t n, int64_t r, int64_t w, bool drop, const int64_t *want, int64_t m) {
  int64_t got[16];
  if (lt_loader_shard_size(n, w, drop) != m) return false;
  lt_loader_shard(order, n, r, w, drop, got);
  return m == 0 || memcmp(got, want, (size_t)m * sizeof *want) == 0;
}

/* Lists worked out by hand as PyTorch's DistributedSampler builds them. */
static void test_worked_examples(void) {
  const int64_t order[10] = {7, 2, 9, 0, 4, 1, 8, 3, 6, 5};
  /* n 10, W 3: padded to 12 with order[0], order[1] */
  LT_CHECK(shard_is(order, 10, 0, 3, false, (int64_t[]){7, 0, 8, 5}, 4));
  LT_CHECK(shard_is(order, 10, 1, 3, false, (int64_t[]){2, 4, 3, 7}, 4));
  LT_CHECK(shard_is(order, 10, 2, 3, false, (int64_t[]){9, 1, 6, 2}, 4));
  /* drop_last: cut to 9, order[9] is nobody's */
  LT_CHECK(shard_is(order, 10, 0, 3, true, (int64_t[]){7, 0, 8}, 3));
  LT_CHECK(shard_is(order, 10, 1, 3, true, (int64_t[]){2, 4, 3}, 3));
  LT_CHECK(shard_is(order, 10, 2, 3, true, (int64_t[]){9, 1, 6}, 3));
  /* n 2, W 5: padded list 7 2 7 2 7 (the order repeated) */
  LT_CHECK(shard_is(order, 2, 0, 5, false, (int64_t[]){7}, 1));
  LT_CHECK(shard_is(order, 2, 1, 5, false, (int64_t[]){2}, 1));
  LT_CHECK(shard_is(order, 2, 2, 5, false, (int64_t[]){7}, 1));
  LT_CHECK(shard_is(order, 2, 3, 5, false, (int64_t[]){2}, 1));
  LT_CHECK(shard_is(order, 2, 4, 5, false, (int64_t[]){7}, 1));
  LT_CHECK(shard_is(order, 2, 4, 5, true, NULL, 0));
  /* n 1: every rank gets the one sample; n 0: nothing */
  LT_CHECK(shard_is(order, 1, 2, 3, false, (int64_t[]){7}, 1));
  LT_CHECK(shard_is(order, 0, 1, 3, false, NULL, 0));
  LT_CHECK(shard_is(order, 0, 1, 3, true, NULL, 0));
  /* W 1: the order itself */
  LT_CHECK(shard_is(order, 10, 0, 1, false, order, 10));
  LT_CHECK(shard_is(order, 10, 0, 1, true, order, 10));
  LT_CHECK(lt_loader_shard_size(11, 4, false) == 3 && lt_loader_shard_size(11, 4, true) == 2);
  LT_CHECK(lt_loader_shard_size((int64_t)UINT32_MAX, INT32_MAX, false) == 3);
}

/* For every small n and W: interleaving the ranks' lists (rank r's k-th at
 * position k*W + r) gives the order padded by wrap-around or cut. */
static void test_rule(void) {
  int64_t order[13], got[13], list[13 * 6];
  for (int64_t i = 0; i < 13; i++) order[i] = (i * 5 + 3) % 13;
  int bad = 0;
  for (int64_t n = 0; n <= 13; n++) {
    for (int64_t w = 1; w <= 6; w++) {
      for (int drop = 0; drop <= 1; drop++) {
        int64_t m = lt_loader_shard_size(n, w, drop), total = m * w;
        if (drop ? total > n || total + w <= n : total < n || total >= n + w) bad++;
        for (int64_t r = 0; r < w; r++) {
          lt_loader_shard(order, n, r, w, drop, got);
          for (int64_t k = 0; k < m; k++) list[k * w + r] = got[k];
        }
        for (int64_t p = 0; p < total; p++)
          if (list[p] != order[p % n]) bad++;
      }
    }
  }
  LT_CHECK(bad == 0);
}

/* ---- the loader core -------------------------------------------------------------- */

static lt_status fetch_index(void *ctx, int64_t index, uint8_t *image_out, int64_t *label_out) {
  (void)ctx;
  image_out[0] = (uint8_t)index;
  *label_out = index + 1;
  return LT_OK;
}

static lt_loader_config dist_config(int64_t n, int64_t batch, bool shuffle, bool drop, int64_t rank, int64_t world,
                                    int workers) {
  lt_loader_config c;
  memset(&c, 0, sizeof c);
  c.fetch = fetch_index;
  c.sample_bytes = 1;
  c.size = n;
  c.batch_size = batch;
  c.shuffle = shuffle;
  c.drop_last = drop;
  c.seed = 99;
  c.rank = rank;
  c.world_size = world;
  c.num_workers = workers;
  return c;
}

/* The samples one epoch delivers, from batch `first` on; -1 on a bad batch. */
static int64_t epoch_samples(lt_loader *l, int64_t epoch, int64_t first, int64_t *out) {
  lt_batch *b;
  int64_t n = 0, expect = first;
  if (lt_loader_start_epoch_at(l, epoch, first) != LT_OK) return -1;
  while (lt_loader_next(l, &b) == LT_OK && b) {
    bool ok = b->index == expect++;
    for (int64_t k = 0; k < b->count; k++) {
      ok = ok && b->labels[k] == b->indices[k] + 1 && b->images[k] == (uint8_t)b->indices[k];
      out[n++] = b->indices[k];
    }
    lt_loader_release(l, b);
    if (!ok) return -1;
  }
  return expect == lt_loader_num_batches(l) ? n : -1;
}

static void test_loader_shards(void) {
  enum { N = 23, W = 3, B = 4 };
  int64_t perm[N], want[N], got[N], tail[N];
  for (int drop = 0; drop <= 1; drop++) {
    for (int shuffle = 0; shuffle <= 1; shuffle++) {
      for (int64_t epoch = 0; epoch < 2; epoch++) {
        if (shuffle) LT_CHECK(lt_loader_permutation(99, epoch, N, perm) == LT_OK);
        else
          for (int64_t i = 0; i < N; i++) perm[i] = i;
        int64_t m = lt_loader_shard_size(N, W, drop); /* 8, or 7 with drop_last */
        for (int64_t r = 0; r < W; r++) {
          lt_loader_shard(perm, N, r, W, drop, want);
          for (int workers = 0; workers <= 2; workers += 2) {
            lt_loader_config c = dist_config(N, B, shuffle, drop, r, W, workers);
            lt_loader *l = NULL;
            LT_CHECK(lt_loader_create(&c, &l) == LT_OK);
            if (!l) continue;
            /* batches per rank: ceil(8/4) = 2; with drop_last floor(7/4) = 1 */
            LT_CHECK(lt_loader_num_batches(l) == (drop ? 1 : 2));
            int64_t n = epoch_samples(l, epoch, 0, got);
            int64_t delivered = drop ? (m / B) * B : m;
            LT_CHECK(n == delivered && memcmp(got, want, (size_t)delivered * sizeof *got) == 0);
            /* a resume from batch 1 sees the tail of the same list */
            if (!drop) {
              LT_CHECK(epoch_samples(l, epoch, 1, tail) == m - B);
              LT_CHECK(memcmp(tail, want + B, (size_t)(m - B) * sizeof *tail) == 0);
            }
            lt_loader_destroy(l);
          }
        }
      }
    }
  }
  /* world_size 0 and 1 are the loader without distribution */
  int64_t plain[N];
  for (int64_t world = 0; world <= 1; world++) {
    lt_loader_config c = dist_config(N, B, true, false, 0, world, 1);
    lt_loader *l = NULL;
    LT_CHECK(lt_loader_create(&c, &l) == LT_OK);
    if (!l) continue;
    LT_CHECK(lt_loader_num_batches(l) == 6);
    LT_CHECK(epoch_samples(l, 1, 0, world ? got : plain) == N);
    lt_loader_destroy(l);
  }
  LT_CHECK(memcmp(got, plain, sizeof got) == 0);
  /* fewer samples than ranks: everybody gets one batch of one */
  for (int64_t r = 0; r < 5; r++) {
    lt_loader_config c = dist_config(2, B, false, false, r, 5, 0);
    lt_loader *l = NULL;
    LT_CHECK(lt_loader_create(&c, &l) == LT_OK);
    if (!l) continue;
    LT_CHECK(lt_loader_num_batches(l) == 1 && epoch_samples(l, 0, 0, got) == 1 && got[0] == r % 2);
    lt_loader_destroy(l);
    c.drop_last = true;
    LT_CHECK(lt_loader_create(&c, &l) == LT_OK);
    if (!l) continue;
    LT_CHECK(lt_loader_num_batches(l) == 0 && epoch_samples(l, 0, 0, got) == 0);
    lt_loader_destroy(l);
  }
}

static void test_bad_config(void) {
  lt_loader *l = NULL;
  lt_loader_config c = dist_config(10, 2, false, false, 3, 3, 0);
  LT_CHECK(lt_loader_create(&c, &l) == LT_ERR_ARG && l == NULL);
  LT_CHECK(strstr(lt_error_message(), "rank must be in 0..2 (world_size 3), got 3") != NULL);
  c = dist_config(10, 2, false, false, -1, 3, 0);
  LT_CHECK(lt_loader_create(&c, &l) == LT_ERR_ARG && l == NULL);
  c = dist_config(10, 2, false, false, 1, 1, 0);
  LT_CHECK(lt_loader_create(&c, &l) == LT_ERR_ARG && l == NULL);
  LT_CHECK(strstr(lt_error_message(), "rank must be in 0..0 (world_size 1), got 1") != NULL);
  c = dist_config(10, 2, false, false, 0, -2, 0);
  LT_CHECK(lt_loader_create(&c, &l) == LT_ERR_ARG && l == NULL);
  LT_CHECK(strstr(lt_error_message(), "world_size must be in 1..2147483647, got -2") != NULL);
  c = dist_config(10, 2, false, false, 0, (int64_t)1 << 31, 0);
  LT_CHECK(lt_loader_create(&c, &l) == LT_ERR_ARG && l == NULL);
}

/* ---- the generators and the native DataLoader ---------------------------------------- */

static void test_rank_generators(void) {
  lt_data_gen a, b;
  int same = 0, differ = 0;
  for (int64_t batch = 0; batch < 50; batch++) {
    lt_data_gen_batch(&a, 5, 2, batch);
    lt_data_gen_rank_batch(&b, 5, 2, 0, batch);
    same += a.key == b.key;
    for (int64_t r = 1; r < 4; r++) {
      lt_data_gen_rank_batch(&b, 5, 2, r, batch);
      differ += a.key != b.key;
    }
  }
  LT_CHECK(same == 50 && differ == 150);
  /* rank r's batch b is not some other rank's batch b' */
  lt_data_gen_rank_batch(&a, 5, 2, 1, 0);
  lt_data_gen_rank_batch(&b, 5, 2, 0, 1);
  LT_CHECK(a.key != b.key);
}

enum { IC = 1, IH = 6, IW = 6, NB = 4 };

/* All batches of epoch 1 of a DataLoader over src with a RandomCrop(6,
 * padding 3) into out (uint8, NB * 36 bytes per batch); returns the bytes
 * written, -1 on a failure. With check, each batch must be the plan run on
 * the batch's input with the rank's generator. */
static int64_t crop_epoch(lt_source *src, const uint8_t *pixels, int64_t rank, int64_t world, uint8_t *out, bool check) {
  lt_tf_step st;
  memset(&st, 0, sizeof st);
  st.kind = LT_TF_CROP;
  snprintf(st.name, sizeof st.name, "RandomCrop");
  st.oh = IH;
  st.ow = IW;
  st.pad = 3;
  st.mode = LT_PAD_CONSTANT;
  const lt_tf_step *steps[1] = {&st};
  lt_dataloader_options o;
  memset(&o, 0, sizeof o);
  o.batch_size = NB;
  o.shuffle = true;
  o.seed = 17;
  o.num_workers = 1;
  o.rank = rank;
  o.world_size = world;
  lt_dataloader *d = NULL;
  if (lt_dataloader_create(src, steps, 1, &o, &d) != LT_OK) return -1;
  lt_tf_plan *plan = NULL;
  lt_tf_geom in = {LT_UINT8, IC, IH, IW};
  int64_t bytes = 0, sb = IC * IH * IW;
  bool ok = lt_tf_plan_new(steps, 1, in, NB, &plan) == LT_OK && lt_dataloader_start(d, 1, 0) == LT_OK;
  for (;;) {
    lt_dataloader_batch b;
    bool done = false;
    if (!ok || lt_dataloader_next(d, &b, &done) != LT_OK || done) break;
    int64_t n = b.images->shape[0];
    const uint8_t *y = lt_tensor_data(b.images);
    const int64_t *labels = lt_tensor_data(b.labels);
    if (check) {
      uint8_t x[NB * IC * IH * IW], want[NB * IC * IH * IW];
      for (int64_t k = 0; k < n; k++) memcpy(x + k * sb, pixels + (labels[k] - 1) * sb, (size_t)sb);
      lt_data_gen g;
      lt_data_gen_rank_batch(&g, 17, 1, world > 1 ? rank : 0, b.index);
      ok = ok && b.gen.key == g.key && lt_tf_plan_run(plan, &g, n, x, want) == LT_OK &&
           memcmp(want, y, (size_t)(n * sb)) == 0 && b.gen.pos == g.pos;
    }
    memcpy(out + bytes, y, (size_t)(n * sb));
    bytes += n * sb;
    lt_tensor_release(b.images);
    lt_tensor_release(b.labels);
  }
  lt_tf_plan_free(plan);
  lt_dataloader_destroy(d);
  return ok ? bytes : -1;
}

/* A source of n samples uint8 [1,6,6], sample i labelled i + 1 (so the
 * batch says which samples it holds); same: all samples alike. */
static lt_source *image_source(int64_t n, bool same, uint8_t *pixels) {
  int64_t shape[4] = {n, IC, IH, IW};
  lt_tensor *images = NULL, *labels = NULL;
  lt_source *src = NULL;
  if (lt_tensor_empty(4, shape, LT_UINT8, lt_cpu_device(), &images) == LT_OK &&
      lt_tensor_empty(1, &n, LT_INT64, lt_cpu_device(), &labels) == LT_OK) {
    uint8_t *p = lt_tensor_data(images);
    for (int64_t k = 0; k < n * IC * IH * IW; k++) p[k] = (uint8_t)(1 + (same ? k % (IC * IH * IW) : k) % 251);
    memcpy(pixels, p, (size_t)(n * IC * IH * IW));
    for (int64_t k = 0; k < n; k++) ((int64_t *)lt_tensor_data(labels))[k] = k + 1;
    lt_source_from_tensors(images, labels, 0, &src);
  }
  lt_tensor_release(images);
  lt_tensor_release(labels);
  return src;
}

static void test_dataloader_augmentation(void) {
  enum { N = 24, SB = IC * IH * IW };
  static uint8_t pixels[N * SB], plain[N * SB], r0[N * SB], r1[N * SB], r1b[N * SB];
  lt_source *src = image_source(N, true, pixels);
  LT_CHECK(src != NULL);
  if (!src) return;
  /* rank 0 of 1 and no distribution: the same bytes */
  LT_CHECK(crop_epoch(src, pixels, 0, 0, plain, true) == N * SB);
  LT_CHECK(crop_epoch(src, pixels, 0, 1, r0, true) == N * SB && memcmp(plain, r0, sizeof r0) == 0);
  /* two ranks, every image alike: rank 0 crops as one process does (its
   * first half), rank 1 otherwise, and again the same */
  LT_CHECK(crop_epoch(src, pixels, 0, 2, r0, true) == N / 2 * SB);
  LT_CHECK(crop_epoch(src, pixels, 1, 2, r1, true) == N / 2 * SB);
  LT_CHECK(crop_epoch(src, pixels, 1, 2, r1b, false) == N / 2 * SB);
  LT_CHECK(memcmp(r0, plain, N / 2 * SB) == 0);
  LT_CHECK(memcmp(r0, r1, N / 2 * SB) != 0);
  LT_CHECK(memcmp(r1, r1b, N / 2 * SB) == 0);
  lt_source_release(src);
  /* one sample, two ranks: both get it, cropped differently */
  src = image_source(1, false, pixels);
  LT_CHECK(src != NULL);
  if (!src) return;
  LT_CHECK(crop_epoch(src, pixels, 0, 2, r0, true) == SB);
  LT_CHECK(crop_epoch(src, pixels, 1, 2, r1, true) == SB);
  LT_CHECK(memcmp(r0, r1, SB) != 0);
  lt_source_release(src);
}

int main(void) {
  test_worked_examples();
  test_rule();
  test_loader_shards();
  test_bad_config();
  test_rank_generators();
  test_dataloader_augmentation();
  return lt_test_done();
}
