/* lt_dataloader.c — the native DataLoader of lt_dataloader.h: the worker
 * hook that finishes a batch into its output slot, the slots, and the
 * recycling of the storages handed out. */
#include "lt_dataloader.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "lt_loader.h"
#include "lt_storage.h"
#include "lt_transfer.h"

typedef struct {
  lt_storage *dest;   /* where the batch's output goes */
  int64_t count;      /* samples after dropping skipped ones */
  uint64_t gen_pos;   /* the generator's position after the plan */
} slot;

enum { LENT_MAX = 16 };

/* Storages handed out, oldest first, for reuse once only the list holds them. */
typedef struct {
  lt_storage *s[LENT_MAX];
  int n;
} lent_list;

struct lt_dataloader {
  lt_loader *loader;
  lt_source *src;           /* held */
  lt_tf_plan *plan;         /* owned; NULL: the batch is copied as it is */
  lt_dtype out_dt;
  int out_ndim;             /* per-sample output shape */
  int64_t out_shape[4];
  size_t out_sample_bytes;
  int64_t batch_size, nbatches;
  uint64_t seed;
  int64_t rank;             /* keys the batches' generators (0 when not distributed) */
  int K;                    /* slots: prefetch + 1 */
  slot *slots;
  pthread_mutex_t mu;       /* guards slots */
  bool mu_ok;
  bool pin;                 /* batch storages in pinned memory */
  lent_list lent;           /* image batch storages */
  lent_list lent_labels;    /* label storages (only with pin: labels are fresh tensors otherwise) */
  atomic_llong skipped;     /* samples dropped as unreadable since the epoch started */
};

/* ---- the workers' side ------------------------------------------------------------ */

/* Runs in a worker on a freshly assembled batch: drops skipped samples,
 * then runs the plan from the loader's images buffer into the batch's slot
 * storage. */
static lt_status finish_batch(void *ctx, int64_t epoch, int64_t batch, int64_t count, const int64_t *indices,
                              uint8_t *images, int64_t *labels, void *out) {
  (void)indices;
  (void)out;
  lt_dataloader *d = ctx;
  pthread_mutex_lock(&d->mu);
  slot *sl = &d->slots[batch % d->K];
  lt_storage *dest = sl->dest;
  pthread_mutex_unlock(&d->mu);
  if (!dest) return lt_error_set(LT_ERR_OOM, 0, "no output buffer for batch %lld (an earlier allocation failed)", (long long)batch + 1);
  int64_t n = count, sb = d->src->sample_bytes;
  if (d->src->may_skip) {
    n = 0;
    for (int64_t k = 0; k < count; k++) {
      if (labels[k] < 1) continue;
      if (n != k) {
        memcpy(images + n * sb, images + k * sb, (size_t)sb);
        labels[n] = labels[k];
      }
      n++;
    }
    if (n < count) atomic_fetch_add(&d->skipped, count - n);
  }
  lt_data_gen g;
  lt_data_gen_rank_batch(&g, d->seed, epoch, d->rank, batch);
  lt_status st = LT_OK;
  if (d->plan) st = lt_tf_plan_run(d->plan, &g, n, images, dest->data);
  else if (n > 0) memcpy(dest->data, images, (size_t)(n * sb));
  pthread_mutex_lock(&d->mu);
  sl->count = n;
  sl->gen_pos = g.pos;
  pthread_mutex_unlock(&d->mu);
  return st;
}

/* ---- storages ------------------------------------------------------------------------ */

static void drop_list(lent_list *ll) {
  for (int k = 0; k < ll->n; k++) lt_storage_release(ll->s[k]);
  ll->n = 0;
}

static void drop_lent(lt_dataloader *d) {
  drop_list(&d->lent);
  drop_list(&d->lent_labels);
}

static void drop_slots(lt_dataloader *d) {
  for (int k = 0; k < d->K; k++) {
    lt_storage_release(d->slots[k].dest);
    d->slots[k].dest = NULL;
  }
}

/* A storage of `bytes` from list ll: a lent one that only the list holds
 * (no tensor, no queued copy), or a new one, pinned with d->pin. */
static lt_status reuse_storage(lt_dataloader *d, lent_list *ll, size_t bytes, lt_storage **out) {
  for (int k = 0; k < ll->n; k++) {
    if (atomic_load(&ll->s[k]->refcount) == 1) {
      *out = ll->s[k];
      memmove(ll->s + k, ll->s + k + 1, (size_t)(ll->n - k - 1) * sizeof *ll->s);
      ll->n--;
      return LT_OK;
    }
  }
  return d->pin ? lt_storage_new_pinned(bytes > 0 ? bytes : 1, out)
                : lt_storage_new(lt_cpu_device(), bytes > 0 ? bytes : 1, out);
}

/* A storage for one output batch. */
static lt_status batch_storage(lt_dataloader *d, lt_storage **out) {
  return reuse_storage(d, &d->lent, lt_dataloader_batch_bytes(d), out);
}

static void lend_to(lent_list *ll, lt_storage *s) {
  if (ll->n == LENT_MAX) {
    lt_storage_release(ll->s[0]);
    memmove(ll->s, ll->s + 1, (LENT_MAX - 1) * sizeof *ll->s);
    ll->n--;
  }
  ll->s[ll->n++] = s;
}

/* The labels tensor of a batch of n: in `ls`, a recycled pinned storage of
 * batch_size labels, with pin_memory (lent back here in any case), a fresh
 * tensor otherwise. */
static lt_status labels_tensor(lt_dataloader *d, lt_storage *ls, int64_t n, lt_tensor **out) {
  if (!ls) return lt_tensor_empty(1, &n, LT_INT64, lt_cpu_device(), out);
  int64_t stride = 1;
  lt_status st = lt_tensor_from_storage(ls, 0, 1, &n, &stride, LT_INT64, out);
  lend_to(&d->lent_labels, ls); /* our reference; the tensor holds its own */
  return st;
}

/* ---- the consumer's side ---------------------------------------------------------------- */

lt_status lt_dataloader_create(lt_source *src, const lt_tf_step *const *steps, int nsteps,
                               const lt_dataloader_options *opt, lt_dataloader **out) {
  *out = NULL;
  lt_dataloader *d = calloc(1, sizeof *d);
  if (!d) return lt_error_set(LT_ERR_OOM, 0, "out of memory");
  lt_source_retain(src);
  d->src = src;
  atomic_init(&d->skipped, 0);
  d->seed = opt->seed;
  d->rank = opt->rank;   /* lt_loader_create refuses a rank other than 0 when not distributed */
  d->batch_size = opt->batch_size;
  d->pin = opt->pin_memory;
  d->out_dt = src->dtype;
  d->out_ndim = src->ndim;
  memcpy(d->out_shape, src->shape, sizeof d->out_shape);
  lt_status st = LT_OK;
  if (steps) {
    if (src->ndim != 3) {
      char b[96];
      st = lt_error_set(LT_ERR_ARG, 0, "transforms need image samples [C,H,W], the dataset's samples are %s",
                        lt_shape_str(src->ndim, src->shape, b, sizeof b));
    } else {
      lt_tf_geom in = {src->dtype, src->shape[0], src->shape[1], src->shape[2]};
      st = lt_tf_plan_new(steps, nsteps, in, opt->batch_size, &d->plan);
    }
    if (st == LT_OK) {
      lt_tf_geom o = lt_tf_plan_out(d->plan);
      d->out_dt = o.dt;
      d->out_shape[0] = o.c;
      d->out_shape[1] = o.h;
      d->out_shape[2] = o.w;
    }
  }
  d->out_sample_bytes = lt_dtype_size(d->out_dt);
  for (int k = 0; k < d->out_ndim; k++) d->out_sample_bytes *= (size_t)d->out_shape[k];
  if (st == LT_OK && pthread_mutex_init(&d->mu, NULL) != 0) st = lt_error_set(LT_ERR_RUNTIME, 0, "cannot create a mutex");
  d->mu_ok = st == LT_OK;
  lt_loader_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.fetch = lt_source_fetch;
  cfg.fetch_ctx = src;
  cfg.sample_bytes = src->sample_bytes;
  cfg.size = src->size;
  cfg.batch_size = opt->batch_size;
  cfg.shuffle = opt->shuffle;
  cfg.drop_last = opt->drop_last;
  cfg.seed = opt->seed;
  cfg.rank = opt->rank;
  cfg.world_size = opt->world_size;
  cfg.num_workers = opt->num_workers;
  cfg.prefetch = opt->prefetch;
  cfg.transform = finish_batch;
  cfg.transform_ctx = d;
  if (st == LT_OK) st = lt_loader_create(&cfg, &d->loader);
  if (st == LT_OK) {
    d->K = lt_loader_prefetch(d->loader) + 1;
    d->nbatches = lt_loader_num_batches(d->loader);
    d->slots = calloc((size_t)d->K, sizeof *d->slots);
    if (!d->slots) st = lt_error_set(LT_ERR_OOM, 0, "out of memory");
  }
  if (st != LT_OK) {
    lt_dataloader_destroy(d);
    return st;
  }
  *out = d;
  return LT_OK;
}

void lt_dataloader_destroy(lt_dataloader *d) {
  if (!d) return;
  lt_loader_destroy(d->loader); /* joins the workers: no hook runs after this */
  lt_tf_plan_free(d->plan);
  if (d->slots) drop_slots(d);
  free(d->slots);
  drop_lent(d);
  if (d->mu_ok) pthread_mutex_destroy(&d->mu);
  lt_source_release(d->src);
  free(d);
}

int64_t lt_dataloader_num_batches(const lt_dataloader *d) { return d->nbatches; }

size_t lt_dataloader_batch_bytes(const lt_dataloader *d) { return d->out_sample_bytes * (size_t)d->batch_size; }

int64_t lt_dataloader_skipped(const lt_dataloader *d) { return (int64_t)atomic_load(&d->skipped); }

lt_status lt_dataloader_start(lt_dataloader *d, int64_t epoch, int64_t first_batch) {
  lt_loader_stop(d->loader); /* no worker touches a slot from here on */
  atomic_store(&d->skipped, 0);
  for (int64_t b = first_batch; b < first_batch + d->K && b < d->nbatches; b++) {
    slot *sl = &d->slots[b % d->K];
    if (!sl->dest) LT_TRY(batch_storage(d, &sl->dest));
  }
  return lt_loader_start_epoch_at(d->loader, epoch, first_batch);
}

void lt_dataloader_stop(lt_dataloader *d) {
  lt_loader_stop(d->loader);
  drop_slots(d);
  drop_lent(d);
}

lt_status lt_dataloader_next(lt_dataloader *d, lt_dataloader_batch *out, bool *done) {
  *done = false;
  /* sources of finished non_blocking copies go back to the lent lists */
  LT_TRY(lt_transfer_poll(false));
  /* taken before the batch, so that a failure here holds no batch */
  lt_storage *ls = NULL;
  if (d->pin) LT_TRY(reuse_storage(d, &d->lent_labels, (size_t)d->batch_size * sizeof(int64_t), &ls));
  lt_batch *b = NULL;
  lt_status st = lt_loader_next(d->loader, &b);
  if (st != LT_OK || !b) {
    if (ls) lend_to(&d->lent_labels, ls);
    *done = st == LT_OK;
    return st;
  }
  int64_t index = b->index, epoch = b->epoch;
  pthread_mutex_lock(&d->mu);
  slot *sl = &d->slots[index % d->K];
  int64_t n = sl->count;
  uint64_t pos = sl->gen_pos;
  lt_storage *dest = sl->dest;
  sl->dest = NULL;
  pthread_mutex_unlock(&d->mu);
  if (!dest) {
    lt_loader_release(d->loader, b);
    if (ls) lend_to(&d->lent_labels, ls);
    return lt_error_set(LT_ERR_RUNTIME, 0, "batch %lld has no output buffer", (long long)index + 1);
  }
  lt_tensor *images = NULL, *labels = NULL;
  st = labels_tensor(d, ls, n, &labels);
  if (st == LT_OK && n > 0) memcpy(lt_tensor_data(labels), b->labels, (size_t)n * sizeof(int64_t));
  lt_loader_release(d->loader, b);
  if (st == LT_OK) {
    int64_t shape[5] = {n}, stride[5];
    for (int k = 0; k < d->out_ndim; k++) shape[k + 1] = d->out_shape[k];
    lt_contiguous_strides(d->out_ndim + 1, shape, stride);
    st = lt_tensor_from_storage(dest, 0, d->out_ndim + 1, shape, stride, d->out_dt, &images);
  }
  lend_to(&d->lent, dest); /* our reference; the tensor holds its own */
  if (st == LT_OK && index + d->K < d->nbatches) {
    lt_storage *s = NULL;
    st = batch_storage(d, &s);
    pthread_mutex_lock(&d->mu);
    sl->dest = s;
    pthread_mutex_unlock(&d->mu);
  }
  if (st != LT_OK) {
    lt_tensor_release(images);
    lt_tensor_release(labels);
    return st;
  }
  out->images = images;
  out->labels = labels;
  out->index = index;
  lt_data_gen g;
  lt_data_gen_rank_batch(&g, d->seed, epoch, d->rank, index);
  lt_data_gen_init(&out->gen, g.key, pos);
  return LT_OK;
}
