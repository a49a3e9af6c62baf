/* test_data_loader.c — the loader core: every sample exactly once per epoch,
 * drop_last, identical batches for 0, 1, 2 and 4 workers with one seed,
 * different orders for different epochs, in-order delivery when workers
 * finish out of order, the transform and allocator hooks, holding several
 * batches at once, stopping mid-epoch and destroying with work in flight
 * (no hang; ASan finds no leak), a fetch error surfacing with its
 * message, and the loader over an in-memory source (lt_source.h). */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lt_loader.h"
#include "lt_source.h"
#include "lt_test.h"

enum { SAMPLE = 12 };

/* A synthetic source: image bytes derived from the index, label = index %
 * 10 + 1; optional delay and a failing index. */
typedef struct {
  int64_t size;
  int64_t fail_at;      /* -1: never */
  int delay_us;         /* per fetch, varied by index so workers finish out of order */
  atomic_int fetches;
} source;

static void pixel_bytes(int64_t index, uint8_t *out) {
  for (int k = 0; k < SAMPLE; k++) out[k] = (uint8_t)(index * 31 + k * 7);
}

static void sleep_us(int us) {
  struct timespec ts = {0, (long)us * 1000};
  nanosleep(&ts, NULL);
}

static lt_status fetch(void *ctx, int64_t index, uint8_t *image_out, int64_t *label_out) {
  source *s = ctx;
  atomic_fetch_add(&s->fetches, 1);
  if (s->delay_us) sleep_us(s->delay_us * (int)(1 + (index * 7919) % 5));
  if (index == s->fail_at) return lt_error_set(LT_ERR_IO, 0, "sample %lld is broken", (long long)index);
  pixel_bytes(index, image_out);
  *label_out = index % 10 + 1;
  return LT_OK;
}

static lt_loader_config base_config(source *s, int64_t batch, int workers) {
  lt_loader_config c;
  memset(&c, 0, sizeof c);
  c.fetch = fetch;
  c.fetch_ctx = s;
  c.sample_bytes = SAMPLE;
  c.ndim = 3;
  c.shape[0] = 3;
  c.shape[1] = 2;
  c.shape[2] = 2;
  c.size = s->size;
  c.batch_size = batch;
  c.shuffle = true;
  c.seed = 42;
  c.num_workers = workers;
  return c;
}

/* Runs one epoch and records the sample order; checks batch numbering,
 * counts, and that each sample's bytes and label match its index. */
static int64_t run_epoch(lt_loader *l, int64_t epoch, int64_t batch, int64_t *order, int *content_errors) {
  lt_batch *b;
  int64_t n = 0, expect_index = 0;
  LT_CHECK(lt_loader_start_epoch(l, epoch) == LT_OK);
  for (;;) {
    lt_status st = lt_loader_next(l, &b);
    LT_CHECK(st == LT_OK);
    if (st != LT_OK || !b) break;
    if (b->index != expect_index++ || b->epoch != epoch || b->count < 1 || b->count > batch) (*content_errors)++;
    for (int64_t k = 0; k < b->count; k++) {
      uint8_t want[SAMPLE];
      pixel_bytes(b->indices[k], want);
      if (memcmp(b->images + k * SAMPLE, want, SAMPLE) != 0 || b->labels[k] != b->indices[k] % 10 + 1) (*content_errors)++;
      order[n++] = b->indices[k];
    }
    lt_loader_release(l, b);
  }
  LT_CHECK(expect_index == lt_loader_num_batches(l));
  return n;
}

static bool is_permutation(const int64_t *order, int64_t n, int64_t size) {
  char *seen = calloc((size_t)size, 1);
  bool ok = true;
  for (int64_t i = 0; i < n; i++) {
    if (order[i] < 0 || order[i] >= size || seen[order[i]]) ok = false;
    else seen[order[i]] = 1;
  }
  free(seen);
  return ok;
}

static void test_orders(void) {
  enum { N = 103, B = 10 };
  source s = {N, -1, 0, 0};
  static const int workers[] = {0, 1, 2, 4};
  int64_t ref[3][N], got[N];
  for (size_t w = 0; w < sizeof workers / sizeof workers[0]; w++) {
    lt_loader_config c = base_config(&s, B, workers[w]);
    if (workers[w] == 4) c.prefetch = 1; /* the smallest ring */
    lt_loader *l;
    LT_CHECK(lt_loader_create(&c, &l) == LT_OK);
    LT_CHECK(lt_loader_num_batches(l) == 11);
    int errors = 0;
    for (int e = 0; e < 3; e++) {
      int64_t n = run_epoch(l, e, B, got, &errors);
      LT_CHECK(n == N);
      LT_CHECK(is_permutation(got, n, N));
      if (w == 0) memcpy(ref[e], got, sizeof got);
      else LT_CHECK(memcmp(ref[e], got, sizeof got) == 0);
    }
    LT_CHECK(errors == 0);
    lt_loader_destroy(l);
  }
  /* Epochs differ from each other and from the identity; the order matches
   * lt_loader_permutation. */
  LT_CHECK(memcmp(ref[0], ref[1], sizeof ref[0]) != 0 && memcmp(ref[1], ref[2], sizeof ref[0]) != 0);
  int64_t perm[N];
  LT_CHECK(lt_loader_permutation(42, 1, N, perm) == LT_OK && memcmp(perm, ref[1], sizeof perm) == 0);
  int fixed = 0;
  for (int i = 0; i < N; i++) fixed += ref[0][i] == i;
  LT_CHECK(fixed < 10);
  /* Another seed, another order; the same seed and epoch, the same order. */
  int64_t other[N];
  LT_CHECK(lt_loader_permutation(43, 1, N, other) == LT_OK && memcmp(perm, other, sizeof perm) != 0);
  LT_CHECK(lt_loader_permutation(42, 1, N, other) == LT_OK && memcmp(perm, other, sizeof perm) == 0);

  /* No shuffle: 0..N-1 in batches. drop_last: 10 full batches. */
  lt_loader_config c = base_config(&s, B, 2);
  c.shuffle = false;
  c.drop_last = true;
  lt_loader *l;
  LT_CHECK(lt_loader_create(&c, &l) == LT_OK);
  LT_CHECK(lt_loader_num_batches(l) == 10);
  int errors = 0;
  int64_t n = run_epoch(l, 5, B, got, &errors);
  LT_CHECK(n == 100 && errors == 0);
  int bad = 0;
  for (int i = 0; i < 100; i++) bad += got[i] != i;
  LT_CHECK(bad == 0);
  lt_loader_destroy(l);
  /* drop_last with shuffle: 100 distinct samples; an exact multiple keeps all. */
  c.shuffle = true;
  LT_CHECK(lt_loader_create(&c, &l) == LT_OK);
  n = run_epoch(l, 0, B, got, &errors);
  LT_CHECK(n == 100 && is_permutation(got, n, N) && errors == 0);
  lt_loader_destroy(l);
  s.size = 100;
  c.size = 100;
  c.drop_last = false;
  LT_CHECK(lt_loader_create(&c, &l) == LT_OK);
  LT_CHECK(lt_loader_num_batches(l) == 10);
  lt_loader_destroy(l);
  /* An empty dataset and a batch larger than the dataset. */
  s.size = 0;
  c = base_config(&s, 4, 2);
  LT_CHECK(lt_loader_create(&c, &l) == LT_OK);
  lt_batch *b;
  LT_CHECK(lt_loader_start_epoch(l, 0) == LT_OK && lt_loader_next(l, &b) == LT_OK && b == NULL);
  lt_loader_destroy(l);
  s.size = 3;
  c = base_config(&s, 8, 1);
  LT_CHECK(lt_loader_create(&c, &l) == LT_OK);
  LT_CHECK(lt_loader_start_epoch(l, 0) == LT_OK && lt_loader_next(l, &b) == LT_OK && b && b->count == 3);
  lt_loader_release(l, b);
  LT_CHECK(lt_loader_next(l, &b) == LT_OK && b == NULL);
  lt_loader_destroy(l);
}

/* The shuffle is uniform: all 6 orders of 3 items about equally often, and
 * each item lands at each position of a larger set about equally often. */
static void test_uniformity(void) {
  int counts[6] = {0};
  enum { E = 6000 };
  for (int e = 0; e < E; e++) {
    int64_t p[3];
    lt_loader_permutation(7, e, 3, p);
    int code = (int)(p[0] * 2 + (p[1] > p[2]));
    counts[code]++;
  }
  for (int k = 0; k < 6; k++) LT_CHECK(counts[k] > 850 && counts[k] < 1150);
  enum { M = 10, R = 20000 };
  static int pos[M][M];
  for (int e = 0; e < R; e++) {
    int64_t p[M];
    lt_loader_permutation(11, e, M, p);
    for (int i = 0; i < M; i++) pos[p[i]][i]++;
  }
  int bad = 0;
  for (int a = 0; a < M; a++)
    for (int i = 0; i < M; i++)
      if (pos[a][i] < R / M - 250 || pos[a][i] > R / M + 250) bad++;
  LT_CHECK(bad == 0);
  int64_t dummy[1];
  LT_CHECK(lt_loader_permutation(1, -1, 1, dummy) == LT_ERR_ARG);
}

/* Workers finish out of order (varied delays); delivery stays in order. */
static void test_in_order_delivery(void) {
  source s = {64, -1, 200, 0};
  lt_loader_config c = base_config(&s, 3, 4);
  c.prefetch = 8;
  lt_loader *l;
  LT_CHECK(lt_loader_create(&c, &l) == LT_OK);
  int64_t got[64], ref[64];
  int errors = 0;
  LT_CHECK(run_epoch(l, 2, 3, got, &errors) == 64 && errors == 0);
  LT_CHECK(lt_loader_permutation(42, 2, 64, ref) == LT_OK && memcmp(ref, got, sizeof got) == 0);
  lt_loader_destroy(l);
}

typedef struct {
  atomic_long allocs, frees;
  atomic_long bytes;
} alloc_stats;

static void *count_alloc(void *ctx, size_t bytes) {
  alloc_stats *a = ctx;
  atomic_fetch_add(&a->allocs, 1);
  atomic_fetch_add(&a->bytes, (long)bytes);
  return malloc(bytes);
}

static void count_free(void *ctx, void *p, size_t bytes) {
  alloc_stats *a = ctx;
  atomic_fetch_add(&a->frees, 1);
  atomic_fetch_sub(&a->bytes, (long)bytes);
  free(p);
}

/* out[k] = images as float * 2 + label; in place: image bytes + 1. */
static lt_status transform(void *ctx, int64_t epoch, int64_t batch, int64_t count, const int64_t *indices,
                           uint8_t *images, int64_t *labels, void *out) {
  (void)ctx;
  (void)epoch;
  (void)indices;
  if (batch == 1000) return lt_error_set(LT_ERR_ARG, 0, "never");
  float *o = out;
  for (int64_t k = 0; k < count * SAMPLE; k++) o[k] = (float)images[k] * 2.0f + (float)labels[k / SAMPLE];
  return LT_OK;
}

static void test_hooks_and_holding(void) {
  source s = {50, -1, 0, 0};
  alloc_stats st;
  atomic_init(&st.allocs, 0);
  atomic_init(&st.frees, 0);
  atomic_init(&st.bytes, 0);
  lt_loader_config c = base_config(&s, 4, 2);
  c.prefetch = 2;
  c.transform = transform;
  c.out_sample_bytes = SAMPLE * (int64_t)sizeof(float);
  c.allocator.alloc = count_alloc;
  c.allocator.free = count_free;
  c.allocator.ctx = &st;
  lt_loader *l;
  LT_CHECK(lt_loader_create(&c, &l) == LT_OK);
  LT_CHECK(lt_loader_start_epoch(l, 0) == LT_OK);
  /* Hold every batch of the epoch before releasing any: the pool grows. */
  lt_batch *held[13];
  int nheld = 0, bad = 0;
  lt_batch *b;
  while (lt_loader_next(l, &b) == LT_OK && b) {
    for (int64_t k = 0; k < b->count * SAMPLE; k++) {
      float want = (float)b->images[k] * 2.0f + (float)b->labels[k / SAMPLE];
      if (((float *)b->out)[k] != want) bad++;
    }
    if (nheld < 13) held[nheld++] = b;
  }
  LT_CHECK(nheld == 13 && bad == 0);
  /* Held batches are untouched by later work. */
  int corrupt = 0;
  for (int i = 0; i < nheld; i++)
    for (int64_t k = 0; k < held[i]->count; k++) {
      uint8_t want[SAMPLE];
      pixel_bytes(held[i]->indices[k], want);
      if (memcmp(held[i]->images + k * SAMPLE, want, SAMPLE) != 0 || held[i]->index != i) corrupt++;
    }
  LT_CHECK(corrupt == 0);
  for (int i = 0; i < nheld; i++) lt_loader_release(l, held[i]);
  lt_loader_release(l, held[0]); /* a second release is ignored */
  /* The next epoch reuses the pool: no new allocations. */
  long before = atomic_load(&st.allocs);
  int64_t got[50];
  int errors = 0;
  LT_CHECK(run_epoch(l, 1, 4, got, &errors) == 50 && errors == 0);
  LT_CHECK(atomic_load(&st.allocs) == before);
  lt_loader_destroy(l);
  LT_CHECK(atomic_load(&st.allocs) > 0 && atomic_load(&st.allocs) == atomic_load(&st.frees));
  LT_CHECK(atomic_load(&st.bytes) == 0);
}

static void test_stop_and_destroy(void) {
  /* Slow fetches so work is surely in flight. */
  source s = {400, -1, 300, 0};
  lt_loader_config c = base_config(&s, 8, 3);
  c.prefetch = 6;
  lt_loader *l;
  LT_CHECK(lt_loader_create(&c, &l) == LT_OK);
  LT_CHECK(lt_loader_start_epoch(l, 0) == LT_OK);
  lt_batch *b, *kept;
  LT_CHECK(lt_loader_next(l, &kept) == LT_OK && kept && kept->index == 0);
  LT_CHECK(lt_loader_next(l, &b) == LT_OK && b && b->index == 1);
  lt_loader_release(l, b);
  lt_loader_stop(l);
  /* Stop parks the workers: no fetch runs after it returns. */
  int after_stop = atomic_load(&s.fetches);
  sleep_us(20000);
  LT_CHECK(atomic_load(&s.fetches) == after_stop);
  LT_CHECK(after_stop < 400);
  LT_CHECK(lt_loader_next(l, &b) == LT_OK && b == NULL);
  /* A batch kept across the stop is still intact. */
  uint8_t want[SAMPLE];
  pixel_bytes(kept->indices[0], want);
  LT_CHECK(memcmp(kept->images, want, SAMPLE) == 0);
  lt_loader_release(l, kept);
  /* Restart with a fast source: a full epoch still works. */
  s.delay_us = 0;
  int64_t *got = malloc(400 * sizeof(int64_t));
  int errors = 0;
  LT_CHECK(run_epoch(l, 1, 8, got, &errors) == 400 && errors == 0 && is_permutation(got, 400, 400));
  free(got);
  /* Destroy in the middle of an epoch, with a batch held and workers busy. */
  s.delay_us = 300;
  LT_CHECK(lt_loader_start_epoch(l, 2) == LT_OK);
  LT_CHECK(lt_loader_next(l, &b) == LT_OK && b != NULL);
  lt_loader_destroy(l);
  /* start_epoch twice in a row abandons the first; never-started loaders
   * report an empty epoch and destroy cleanly; 0 workers too. */
  for (int w = 0; w < 2; w++) {
    lt_loader_config c2 = base_config(&s, 8, w ? 2 : 0);
    LT_CHECK(lt_loader_create(&c2, &l) == LT_OK);
    LT_CHECK(lt_loader_next(l, &b) == LT_OK && b == NULL);
    LT_CHECK(lt_loader_start_epoch(l, 0) == LT_OK && lt_loader_start_epoch(l, 0) == LT_OK);
    LT_CHECK(lt_loader_next(l, &b) == LT_OK && b && b->index == 0);
    lt_loader_destroy(l);
  }
  lt_loader_destroy(NULL);
}

static void test_errors(void) {
  for (int w = 0; w < 3; w++) {
    source s = {60, 37, 0, 0};
    lt_loader_config c = base_config(&s, 5, w);
    c.shuffle = false; /* sample 37 is in batch 7 */
    lt_loader *l;
    LT_CHECK(lt_loader_create(&c, &l) == LT_OK);
    LT_CHECK(lt_loader_start_epoch(l, 0) == LT_OK);
    lt_batch *b;
    int delivered = 0;
    lt_status st;
    lt_error_clear();
    while ((st = lt_loader_next(l, &b)) == LT_OK && b) {
      delivered++;
      lt_loader_release(l, b);
    }
    LT_CHECK(delivered == 7);
    LT_CHECK(st == LT_ERR_IO && strcmp(lt_error_message(), "sample 37 is broken") == 0);
    /* The error is sticky for the rest of the epoch. */
    lt_error_clear();
    LT_CHECK(lt_loader_next(l, &b) == LT_ERR_IO && b == NULL && strcmp(lt_error_message(), "sample 37 is broken") == 0);
    /* A new epoch starts clean. */
    s.fail_at = -1;
    int64_t got[60];
    int errors = 0;
    LT_CHECK(run_epoch(l, 1, 5, got, &errors) == 60 && errors == 0);
    lt_loader_destroy(l);
  }
  /* Bad configurations. */
  source s = {10, -1, 0, 0};
  lt_loader *l;
  lt_loader_config c = base_config(&s, 0, 0);
  LT_CHECK(lt_loader_create(&c, &l) == LT_ERR_ARG && l == NULL);
  LT_CHECK(strstr(lt_error_message(), "batch_size must be >= 1, got 0") != NULL);
  c = base_config(&s, 2, 0);
  c.shape[2] = 3;
  LT_CHECK(lt_loader_create(&c, &l) == LT_ERR_ARG);
  LT_CHECK(strstr(lt_error_message(), "sample shape has 18 elements but sample_bytes is 12") != NULL);
  c = base_config(&s, 2, 0);
  c.allocator.alloc = count_alloc;
  LT_CHECK(lt_loader_create(&c, &l) == LT_ERR_ARG);
  c = base_config(&s, 2, 0);
  c.out_sample_bytes = 4;
  LT_CHECK(lt_loader_create(&c, &l) == LT_ERR_ARG);
  c = base_config(&s, 2, 0);
  LT_CHECK(lt_loader_create(&c, &l) == LT_OK);
  LT_CHECK(lt_loader_start_epoch(l, -1) == LT_ERR_ARG);
  lt_loader_destroy(l);
}

/* The loader over a source of samples held in tensors (lt_source.h), as
 * lt.data's in-memory datasets use it. */
static void test_memory_source(void) {
  int64_t ishape[2] = {5, 4}, n = 5;
  lt_tensor *images = NULL, *labels = NULL;
  LT_CHECK(lt_tensor_empty(2, ishape, LT_UINT8, lt_cpu_device(), &images) == LT_OK);
  LT_CHECK(lt_tensor_empty(1, &n, LT_INT64, lt_cpu_device(), &labels) == LT_OK);
  if (!images || !labels) return;
  uint8_t *img = lt_tensor_data(images);
  int64_t *lab = lt_tensor_data(labels);
  const int64_t want_labels[5] = {3, 1, 4, 1, 5};
  for (int k = 0; k < 20; k++) img[k] = (uint8_t)k;
  memcpy(lab, want_labels, sizeof want_labels);
  lt_source *src = NULL;
  LT_CHECK(lt_source_from_tensors(images, labels, 0, &src) == LT_OK && src->num_classes == 5 && src->sample_bytes == 4);
  lt_loader_config c;
  memset(&c, 0, sizeof c);
  c.fetch = lt_source_fetch;
  c.fetch_ctx = src;
  c.sample_bytes = 4;
  c.size = 5;
  c.batch_size = 2;
  c.num_workers = 1;
  lt_loader *l;
  LT_CHECK(lt_loader_create(&c, &l) == LT_OK);
  LT_CHECK(lt_loader_start_epoch(l, 0) == LT_OK);
  lt_batch *b;
  int64_t seen = 0;
  int bad = 0;
  while (lt_loader_next(l, &b) == LT_OK && b) {
    for (int64_t k = 0; k < b->count; k++, seen++) {
      if (b->indices[k] != seen || b->labels[k] != want_labels[seen] || memcmp(b->images + 4 * k, img + 4 * seen, 4)) bad++;
    }
    lt_loader_release(l, b);
  }
  LT_CHECK(seen == 5 && bad == 0);
  lt_loader_destroy(l);
  /* labels are checked when the source is built: 1-based, within num_classes */
  lt_source *bad_src = NULL;
  LT_CHECK(lt_source_from_tensors(images, labels, 4, &bad_src) == LT_ERR_ARG && bad_src == NULL && lt_error_arg() == 2);
  LT_CHECK(strstr(lt_error_message(), "label 5 of sample 5 is outside 1..4 (labels are 1-based)") != NULL);
  lt_source_release(src);
  lt_tensor_release(images);
  lt_tensor_release(labels);
}

/* lt_loader_start_epoch_at: batches first..end of the epoch, exactly the
 * tail of a full run, without fetching the skipped samples. */
static void test_start_at(void) {
  for (int workers = 0; workers <= 2; workers += 2) {
    source s = {.size = 53, .fail_at = -1};
    lt_loader_config c = base_config(&s, 5, workers);
    lt_loader *l;
    LT_CHECK(lt_loader_create(&c, &l) == LT_OK);
    int64_t full[53], tail[53];
    int errors = 0;
    LT_CHECK(run_epoch(l, 3, 5, full, &errors) == 53 && errors == 0);
    atomic_store(&s.fetches, 0);
    LT_CHECK(lt_loader_start_epoch_at(l, 3, 7) == LT_OK);
    lt_batch *b;
    int64_t n = 0, expect = 7;
    while (lt_loader_next(l, &b) == LT_OK && b) {
      if (b->index != expect++) errors++;
      for (int64_t k = 0; k < b->count; k++) tail[n++] = b->indices[k];
      lt_loader_release(l, b);
    }
    LT_CHECK(errors == 0 && expect == 11 && n == 53 - 35);
    LT_CHECK(memcmp(tail, full + 35, (size_t)n * sizeof(int64_t)) == 0);
    LT_CHECK(atomic_load(&s.fetches) == n); /* nothing before batch 7 was fetched */
    LT_CHECK(lt_loader_start_epoch_at(l, 3, 11) == LT_OK); /* the end: an empty epoch */
    LT_CHECK(lt_loader_next(l, &b) == LT_OK && b == NULL);
    LT_CHECK(lt_loader_start_epoch_at(l, 3, 12) == LT_ERR_ARG);
    LT_CHECK(strstr(lt_error_message(), "first batch 12 is outside 0..11") != NULL);
    LT_CHECK(lt_loader_start_epoch_at(l, 3, -1) == LT_ERR_ARG);
    lt_loader_destroy(l);
  }
}

int main(void) {
  test_orders();
  test_start_at();
  test_uniformity();
  test_in_order_delivery();
  test_hooks_and_holding();
  test_stop_and_destroy();
  test_errors();
  test_memory_source();
  return lt_test_done();
}
