/* lt_loader.c — worker threads, the in-order delivery ring and the buffer
 * pool behind lt_loader.h.
 *
 * Invariants (all under `mu`):
 *   - batches deliver_next .. claim_next-1 are claimed and not yet delivered;
 *     claim_next - deliver_next <= prefetch, so batch b owns ring[b % prefetch];
 *   - a ring entry is EMPTY, FILLING (a worker owns it), READY (holds a
 *     batch) or FAILED (holds the error of its batch);
 *   - `busy` counts workers between claiming a batch and posting it; stop
 *     waits for it to reach zero, so no worker touches a buffer or the
 *     permutation of an abandoned epoch afterwards;
 *   - every batch node is on `all` for its whole life, and on `free_list`
 *     exactly when neither a worker, the ring nor the consumer has it. */
#include "lt_loader.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_data_gen.h"

enum { SLOT_EMPTY, SLOT_FILLING, SLOT_READY, SLOT_FAILED };

typedef struct node {
  lt_batch pub;            /* first, so an lt_batch* is a node* */
  struct node *next_free;
  struct node *next_all;
  bool held;               /* delivered and not yet released */
} node;

typedef struct {
  int state;
  node *batch;
  lt_status status;
  int arg;
  char msg[512];
} slot;

struct lt_loader {
  lt_loader_config cfg;
  int64_t nbatches;
  int prefetch;
  int64_t count;           /* samples an epoch visits: size, or this rank's share */
  int64_t world;           /* ranks sharing the epoch (1: not distributed) */
  int64_t *perm;           /* [count], the current epoch's order (this rank's share of it) */
  int64_t *order;          /* [size], the whole epoch's order when world > 1, else NULL */

  pthread_mutex_t mu;
  pthread_cond_t work_cv;  /* workers: something to claim, or quit */
  pthread_cond_t ready_cv; /* consumer: a ring entry was posted */
  pthread_cond_t idle_cv;  /* stop: busy dropped to zero */
  pthread_t *threads;
  int nthreads;

  bool active;             /* an epoch is running */
  bool quit;
  bool failed;             /* a batch of this epoch failed: claim no more */
  atomic_int abandon;      /* read by workers between samples */
  int64_t epoch;
  int64_t claim_next, deliver_next;
  int busy;
  slot *ring;              /* [prefetch] */

  node *free_list, *all;

  lt_status err_status;    /* sticky error of the epoch, replayed by next */
  int err_arg;
  char err_msg[512];
};

/* ---- the epoch order --------------------------------------------------- */

lt_status lt_loader_permutation(uint64_t seed, int64_t epoch, int64_t n, int64_t *out) {
  if (n < 0 || n > (int64_t)UINT32_MAX)
    return lt_error_set(LT_ERR_ARG, 0, "cannot shuffle %lld samples (at most 2^32 - 1)", (long long)n);
  if (epoch < 0) return lt_error_set(LT_ERR_ARG, 0, "epoch must be >= 0, got %lld", (long long)epoch);
  lt_data_gen g;
  lt_data_gen_epoch(&g, seed, epoch);
  for (int64_t i = 0; i < n; i++) out[i] = i;
  lt_data_gen_shuffle(&g, out, n);
  return LT_OK;
}

int64_t lt_loader_shard_size(int64_t n, int64_t world_size, bool drop_last) {
  return drop_last ? n / world_size : (n + world_size - 1) / world_size;
}

void lt_loader_shard(const int64_t *order, int64_t n, int64_t rank, int64_t world_size, bool drop_last, int64_t *out) {
  int64_t m = lt_loader_shard_size(n, world_size, drop_last);
  /* position p of the padded list is p mod n; of the cut one, p < total <= n */
  for (int64_t k = 0, p = rank; k < m; k++, p += world_size) out[k] = order[p < n ? p : p % n];
}

/* ---- batch buffers ----------------------------------------------------- */

static void *buf_alloc(const lt_loader *l, size_t bytes) {
  if (l->cfg.allocator.alloc) return l->cfg.allocator.alloc(l->cfg.allocator.ctx, bytes);
  return malloc(bytes);
}

static void buf_free(const lt_loader *l, void *p, size_t bytes) {
  if (!p) return;
  if (l->cfg.allocator.free) l->cfg.allocator.free(l->cfg.allocator.ctx, p, bytes);
  else free(p);
}

static size_t images_bytes(const lt_loader *l) { return (size_t)(l->cfg.batch_size * l->cfg.sample_bytes); }
static size_t labels_bytes(const lt_loader *l) { return (size_t)l->cfg.batch_size * sizeof(int64_t); }
static size_t out_bytes(const lt_loader *l) { return (size_t)(l->cfg.batch_size * l->cfg.out_sample_bytes); }

static void node_free_buffers(const lt_loader *l, node *nd) {
  buf_free(l, nd->pub.images, images_bytes(l));
  buf_free(l, nd->pub.labels, labels_bytes(l));
  buf_free(l, nd->pub.out, out_bytes(l));
  free(nd->pub.indices);
}

/* Allocates a node outside the lock (a pinned allocation can be slow), then
 * links it on `all` under the lock. */
static node *node_new(lt_loader *l) {
  node *nd = calloc(1, sizeof *nd);
  if (!nd) return NULL;
  nd->pub.images = buf_alloc(l, images_bytes(l));
  nd->pub.labels = buf_alloc(l, labels_bytes(l));
  nd->pub.indices = malloc(labels_bytes(l));
  if (l->cfg.out_sample_bytes > 0) nd->pub.out = buf_alloc(l, out_bytes(l));
  if (!nd->pub.images || !nd->pub.labels || !nd->pub.indices || (l->cfg.out_sample_bytes > 0 && !nd->pub.out)) {
    node_free_buffers(l, nd);
    free(nd);
    return NULL;
  }
  pthread_mutex_lock(&l->mu);
  nd->next_all = l->all;
  l->all = nd;
  pthread_mutex_unlock(&l->mu);
  return nd;
}

/* Called with `mu` held. */
static node *pop_free(lt_loader *l) {
  node *nd = l->free_list;
  if (nd) l->free_list = nd->next_free;
  return nd;
}

static void push_free(lt_loader *l, node *nd) {
  nd->held = false;
  nd->next_free = l->free_list;
  l->free_list = nd;
}

/* ---- assembling a batch ------------------------------------------------ */

/* Fills nd with batch b of the epoch; runs without the lock. Returns
 * LT_OK early (with the batch incomplete) when the epoch is abandoned; the
 * caller then drops it. */
static lt_status fill_batch(lt_loader *l, node *nd, int64_t b, int64_t epoch) {
  const lt_loader_config *cfg = &l->cfg;
  int64_t first = b * cfg->batch_size;
  int64_t count = l->count - first < cfg->batch_size ? l->count - first : cfg->batch_size;
  lt_batch *bt = &nd->pub;
  bt->index = b;
  bt->count = count;
  bt->epoch = epoch;
  for (int64_t k = 0; k < count; k++) {
    if (atomic_load_explicit(&l->abandon, memory_order_relaxed)) return LT_OK;
    int64_t idx = l->perm[first + k];
    bt->indices[k] = idx;
    LT_TRY(cfg->fetch(cfg->fetch_ctx, idx, bt->images + k * cfg->sample_bytes, bt->labels + k));
  }
  if (cfg->transform && !atomic_load_explicit(&l->abandon, memory_order_relaxed))
    LT_TRY(cfg->transform(cfg->transform_ctx, epoch, b, count, bt->indices, bt->images, bt->labels, bt->out));
  return LT_OK;
}

static void *worker_main(void *arg) {
  lt_loader *l = arg;
  pthread_mutex_lock(&l->mu);
  for (;;) {
    while (!l->quit && !(l->active && !l->failed && l->claim_next < l->nbatches &&
                         l->claim_next < l->deliver_next + l->prefetch))
      pthread_cond_wait(&l->work_cv, &l->mu);
    if (l->quit) break;
    int64_t b = l->claim_next++;
    int64_t epoch = l->epoch;
    slot *sl = &l->ring[b % l->prefetch];
    sl->state = SLOT_FILLING;
    l->busy++;
    node *nd = pop_free(l);
    pthread_mutex_unlock(&l->mu);

    lt_status st = LT_OK;
    if (!nd) nd = node_new(l);
    if (!nd) st = lt_error_set(LT_ERR_OOM, 0, "out of memory allocating a batch buffer of %zu bytes", images_bytes(l));
    else st = fill_batch(l, nd, b, epoch);

    pthread_mutex_lock(&l->mu);
    l->busy--;
    if (atomic_load(&l->abandon)) {
      if (nd) push_free(l, nd);
    } else if (st != LT_OK) {
      if (nd) push_free(l, nd);
      sl->state = SLOT_FAILED;
      sl->status = st;
      sl->arg = lt_error_arg();
      snprintf(sl->msg, sizeof sl->msg, "%s", lt_error_message());
      l->failed = true;
    } else {
      sl->batch = nd;
      sl->state = SLOT_READY;
    }
    pthread_cond_broadcast(&l->ready_cv);
    if (l->busy == 0) pthread_cond_broadcast(&l->idle_cv);
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

/* ---- the consumer's side ----------------------------------------------- */

static lt_status check_config(const lt_loader_config *c) {
  if (!c) return lt_error_set(LT_ERR_ARG, 0, "loader config is NULL");
  if (!c->fetch) return lt_error_set(LT_ERR_ARG, 0, "loader needs a fetch function");
  if (c->sample_bytes < 1)
    return lt_error_set(LT_ERR_ARG, 0, "sample size must be >= 1 byte, got %lld", (long long)c->sample_bytes);
  if (c->size < 0) return lt_error_set(LT_ERR_ARG, 0, "dataset size must be >= 0, got %lld", (long long)c->size);
  if (c->size > (int64_t)UINT32_MAX)
    return lt_error_set(LT_ERR_ARG, 0, "dataset of %lld samples is too large (at most 2^32 - 1)", (long long)c->size);
  if (c->batch_size < 1) return lt_error_set(LT_ERR_ARG, 0, "batch_size must be >= 1, got %lld", (long long)c->batch_size);
  if (c->world_size < 0 || c->world_size > INT32_MAX)
    return lt_error_set(LT_ERR_ARG, 0, "world_size must be in 1..%d, got %lld", INT32_MAX, (long long)c->world_size);
  int64_t world = c->world_size > 1 ? c->world_size : 1;
  if (c->rank < 0 || c->rank >= world)
    return lt_error_set(LT_ERR_ARG, 0, "rank must be in 0..%lld (world_size %lld), got %lld", (long long)(world - 1),
                        (long long)world, (long long)c->rank);
  if (c->num_workers < 0 || c->num_workers > 256)
    return lt_error_set(LT_ERR_ARG, 0, "num_workers must be in 0..256, got %d", c->num_workers);
  if (c->prefetch < 0 || c->prefetch > 1024)
    return lt_error_set(LT_ERR_ARG, 0, "prefetch must be in 0..1024, got %d", c->prefetch);
  if (c->out_sample_bytes < 0)
    return lt_error_set(LT_ERR_ARG, 0, "out_sample_bytes must be >= 0, got %lld", (long long)c->out_sample_bytes);
  if (c->out_sample_bytes > 0 && !c->transform)
    return lt_error_set(LT_ERR_ARG, 0, "out_sample_bytes is set but there is no transform to fill it");
  if (!c->allocator.alloc != !c->allocator.free)
    return lt_error_set(LT_ERR_ARG, 0, "the allocator needs both alloc and free, or neither");
  int64_t limit = (int64_t)1 << 40;
  if (c->sample_bytes > limit / c->batch_size || c->out_sample_bytes > limit / c->batch_size)
    return lt_error_set(LT_ERR_ARG, 0, "a batch of %lld samples of %lld bytes is too large", (long long)c->batch_size,
                        (long long)c->sample_bytes);
  if (c->ndim < 0 || c->ndim > 4) return lt_error_set(LT_ERR_ARG, 0, "sample shape must have 0..4 dimensions, got %d", c->ndim);
  if (c->ndim > 0) {
    int64_t p = 1;
    for (int d = 0; d < c->ndim; d++) {
      if (c->shape[d] < 1 || c->shape[d] > limit / p)
        return lt_error_set(LT_ERR_ARG, 0, "bad sample shape dimension %lld", (long long)c->shape[d]);
      p *= c->shape[d];
    }
    if (p != c->sample_bytes)
      return lt_error_set(LT_ERR_ARG, 0, "sample shape has %lld elements but sample_bytes is %lld", (long long)p,
                          (long long)c->sample_bytes);
  }
  return LT_OK;
}

static void loader_free(lt_loader *l) {
  node *nd = l->all;
  while (nd) {
    node *next = nd->next_all;
    node_free_buffers(l, nd);
    free(nd);
    nd = next;
  }
  pthread_cond_destroy(&l->work_cv);
  pthread_cond_destroy(&l->ready_cv);
  pthread_cond_destroy(&l->idle_cv);
  pthread_mutex_destroy(&l->mu);
  free(l->threads);
  free(l->ring);
  free(l->perm);
  free(l->order);
  free(l);
}

lt_status lt_loader_create(const lt_loader_config *config, lt_loader **out) {
  *out = NULL;
  LT_TRY(check_config(config));
  lt_loader *l = calloc(1, sizeof *l);
  if (!l) return lt_error_set(LT_ERR_OOM, 0, "out of memory creating a loader");
  l->cfg = *config;
  l->world = config->world_size > 1 ? config->world_size : 1;
  l->count = lt_loader_shard_size(config->size, l->world, config->drop_last);
  l->nbatches = config->drop_last ? l->count / config->batch_size
                                  : (l->count + config->batch_size - 1) / config->batch_size;
  l->prefetch = config->prefetch ? config->prefetch : 2 * (config->num_workers ? config->num_workers : 1);
  atomic_init(&l->abandon, 0);
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->work_cv, NULL);
  pthread_cond_init(&l->ready_cv, NULL);
  pthread_cond_init(&l->idle_cv, NULL);
  l->perm = malloc((size_t)(l->count > 0 ? l->count : 1) * sizeof(int64_t));
  if (l->world > 1) l->order = malloc((size_t)(config->size > 0 ? config->size : 1) * sizeof(int64_t));
  l->ring = calloc((size_t)l->prefetch, sizeof(slot));
  l->threads = calloc((size_t)(config->num_workers > 0 ? config->num_workers : 1), sizeof(pthread_t));
  if (!l->perm || (l->world > 1 && !l->order) || !l->ring || !l->threads) {
    loader_free(l);
    return lt_error_set(LT_ERR_OOM, 0, "out of memory creating a loader of %lld samples", (long long)config->size);
  }
  for (int t = 0; t < config->num_workers; t++) {
    int rc = pthread_create(&l->threads[t], NULL, worker_main, l);
    if (rc != 0) {
      lt_loader_destroy(l);
      return lt_error_set(LT_ERR_RUNTIME, 0, "cannot start loader worker %d of %d (pthread_create error %d)", t + 1,
                          config->num_workers, rc);
    }
    l->nthreads++;
  }
  *out = l;
  return LT_OK;
}

int64_t lt_loader_num_batches(const lt_loader *loader) { return loader->nbatches; }

int lt_loader_prefetch(const lt_loader *loader) { return loader->prefetch; }

void lt_loader_stop(lt_loader *l) {
  if (!l) return;
  pthread_mutex_lock(&l->mu);
  l->active = false;
  atomic_store(&l->abandon, 1);
  pthread_cond_broadcast(&l->work_cv);
  pthread_cond_broadcast(&l->ready_cv); /* a consumer waiting in next sees the end */
  while (l->busy > 0) pthread_cond_wait(&l->idle_cv, &l->mu);
  for (int k = 0; k < l->prefetch; k++) {
    slot *sl = &l->ring[k];
    if (sl->state == SLOT_READY && sl->batch) push_free(l, sl->batch);
    sl->state = SLOT_EMPTY;
    sl->batch = NULL;
  }
  atomic_store(&l->abandon, 0);
  l->failed = false;
  l->err_status = LT_OK;
  l->claim_next = l->deliver_next = 0;
  pthread_mutex_unlock(&l->mu);
}

lt_status lt_loader_start_epoch(lt_loader *l, int64_t epoch) { return lt_loader_start_epoch_at(l, epoch, 0); }

lt_status lt_loader_start_epoch_at(lt_loader *l, int64_t epoch, int64_t first_batch) {
  if (epoch < 0) return lt_error_set(LT_ERR_ARG, 0, "epoch must be >= 0, got %lld", (long long)epoch);
  if (first_batch < 0 || first_batch > l->nbatches)
    return lt_error_set(LT_ERR_ARG, 0, "first batch %lld is outside 0..%lld (the epoch has %lld batches)",
                        (long long)first_batch, (long long)l->nbatches, (long long)l->nbatches);
  lt_loader_stop(l);
  /* No worker reads perm while the loader is inactive. */
  int64_t *order = l->world > 1 ? l->order : l->perm;
  if (l->cfg.shuffle) {
    LT_TRY(lt_loader_permutation(l->cfg.seed, epoch, l->cfg.size, order));
  } else {
    for (int64_t i = 0; i < l->cfg.size; i++) order[i] = i;
  }
  if (l->world > 1) lt_loader_shard(order, l->cfg.size, l->cfg.rank, l->world, l->cfg.drop_last, l->perm);
  pthread_mutex_lock(&l->mu);
  l->epoch = epoch;
  l->claim_next = l->deliver_next = first_batch;
  l->active = true;
  pthread_cond_broadcast(&l->work_cv);
  pthread_mutex_unlock(&l->mu);
  return LT_OK;
}

/* Replays the epoch's error into the calling thread. Called with `mu` held. */
static lt_status replay_error(lt_loader *l) {
  return lt_error_set(l->err_status, l->err_arg, "%s", l->err_msg);
}

static lt_status next_inline(lt_loader *l, lt_batch **out) {
  pthread_mutex_lock(&l->mu);
  int64_t b = l->deliver_next;
  node *nd = pop_free(l);
  int64_t epoch = l->epoch;
  pthread_mutex_unlock(&l->mu);
  lt_status st = LT_OK;
  if (!nd) nd = node_new(l);
  if (!nd) st = lt_error_set(LT_ERR_OOM, 0, "out of memory allocating a batch buffer of %zu bytes", images_bytes(l));
  else st = fill_batch(l, nd, b, epoch);
  pthread_mutex_lock(&l->mu);
  if (st != LT_OK) {
    if (nd) push_free(l, nd);
    l->err_status = st;
    l->err_arg = lt_error_arg();
    snprintf(l->err_msg, sizeof l->err_msg, "%s", lt_error_message());
  } else {
    l->deliver_next++;
    nd->held = true;
    *out = &nd->pub;
  }
  pthread_mutex_unlock(&l->mu);
  return st;
}

lt_status lt_loader_next(lt_loader *l, lt_batch **out) {
  *out = NULL;
  pthread_mutex_lock(&l->mu);
  if (l->err_status != LT_OK) {
    lt_status st = replay_error(l);
    pthread_mutex_unlock(&l->mu);
    return st;
  }
  if (!l->active || l->deliver_next >= l->nbatches) {
    pthread_mutex_unlock(&l->mu);
    return LT_OK;
  }
  if (l->cfg.num_workers == 0) {
    pthread_mutex_unlock(&l->mu);
    return next_inline(l, out);
  }
  slot *sl = &l->ring[l->deliver_next % l->prefetch];
  while (l->active && sl->state != SLOT_READY && sl->state != SLOT_FAILED) pthread_cond_wait(&l->ready_cv, &l->mu);
  lt_status st = LT_OK;
  if (!l->active) {
    /* Stopped from another thread while waiting: the epoch is over. */
  } else if (sl->state == SLOT_FAILED) {
    l->err_status = sl->status;
    l->err_arg = sl->arg;
    memcpy(l->err_msg, sl->msg, sizeof l->err_msg);
    sl->state = SLOT_EMPTY;
    st = replay_error(l);
  } else {
    node *nd = sl->batch;
    sl->batch = NULL;
    sl->state = SLOT_EMPTY;
    nd->held = true;
    l->deliver_next++;
    *out = &nd->pub;
    pthread_cond_broadcast(&l->work_cv);
  }
  pthread_mutex_unlock(&l->mu);
  return st;
}

void lt_loader_release(lt_loader *l, lt_batch *batch) {
  if (!l || !batch) return;
  node *nd = (node *)batch;
  pthread_mutex_lock(&l->mu);
  if (nd->held) push_free(l, nd);
  pthread_mutex_unlock(&l->mu);
}

void lt_loader_destroy(lt_loader *l) {
  if (!l) return;
  lt_loader_stop(l);
  pthread_mutex_lock(&l->mu);
  l->quit = true;
  pthread_cond_broadcast(&l->work_cv);
  pthread_mutex_unlock(&l->mu);
  for (int t = 0; t < l->nthreads; t++) pthread_join(l->threads[t], NULL);
  loader_free(l);
}
