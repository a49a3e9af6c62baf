/* lt_dataloader.h — the native half of lt.data.DataLoader: a source
 * (lt_source.h), an optional transform plan (lt_transform_plan.h) and the
 * loader core (lt_loader.h), delivering each batch as an images tensor and
 * a labels tensor. A batch flows down and out: the loader's workers fetch
 * the samples from the source, drop the ones a skipping image folder could
 * not read, and run the plan with the batch's generator straight into the
 * storage the images tensor is then made on.
 *
 * Batches reach the caller without a copy. Each batch number b of an epoch
 * owns output slot b % K (K = prefetch + 1): before the batch can be claimed
 * by a worker, the consumer puts a fresh storage there; the worker writes
 * the finished batch into it; the consumer makes the tensor it hands out on
 * that storage and puts a new storage in the slot for batch b + K. The loader
 * claims at most `prefetch` batches beyond the last one delivered, so batch
 * b + K cannot start before the consumer asks for batch b + 1, by which time
 * its slot is ready. Storages handed out are kept on a short list and reused
 * once nothing but the list holds them.
 *
 * pin_memory: the batch storages (images and labels) are then pinned host
 * memory, so a non_blocking copy to a GPU does not make the host wait. A
 * queued copy holds a reference to its source storage until it has run
 * (src/core/lt_transfer.h), so the reuse rule above -- nothing but the list
 * holds the storage -- also keeps a buffer from being refilled while a copy
 * still reads it. The loader core's own buffers are only staging for the
 * transforms and stay pageable.
 *
 * Threads: create, start, next, stop, skipped and destroy are for one
 * thread (the consumer); the workers only touch what lt_loader.h says. Not
 * here: option checking and Lua transforms (lua/luatrain/data), Lua. */
#ifndef LT_DATALOADER_H
#define LT_DATALOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lt_data_gen.h"
#include "lt_source.h"
#include "lt_tensor.h"
#include "lt_transform_plan.h"

typedef struct {
  int64_t batch_size;   /* >= 1 */
  bool shuffle, drop_last;
  int num_workers;      /* 0..256 */
  int prefetch;         /* 0: 2 * num_workers (2 without workers) */
  uint64_t seed;
  bool pin_memory;
  /* Distributed sampling (lt_loader_shard): this process's rank among
   * world_size; world_size 0 or 1: the whole dataset. The batches'
   * generators are then rank's (lt_data_gen_rank_batch), so ranks draw
   * different augmentations; rank 0 draws what one process does. */
  int64_t rank, world_size;
} lt_dataloader_options;

/* A delivered batch: new references the caller releases. */
typedef struct {
  lt_tensor *images;    /* [n, sample shape] in the plan's output dtype (the source's without a plan) */
  lt_tensor *labels;    /* int64 [n] */
  int64_t index;        /* the batch number in the epoch, 0-based */
  lt_data_gen gen;      /* the batch's generator (lt_data_gen_rank_batch), where the plan left it: what transforms after the plan draw from */
} lt_dataloader_batch;

typedef struct lt_dataloader lt_dataloader;

/* A loader over src (held) that runs steps[0..nsteps-1] on every batch in
 * its workers, compiled into a plan for the source's samples, which must
 * then be images [C,H,W]; steps NULL: batches come out as the source's
 * samples. Errors name no argument: the options' ranges are lt_loader's
 * (lt_loader_create), the steps' fit the plan's (lt_tf_plan_new). */
lt_status lt_dataloader_create(lt_source *src, const lt_tf_step *const *steps, int nsteps,
                               const lt_dataloader_options *opt, lt_dataloader **out);
/* Stops the workers and frees everything but the batches handed out. NULL
 * is a no-op. */
void lt_dataloader_destroy(lt_dataloader *d);

int64_t lt_dataloader_num_batches(const lt_dataloader *d);
/* The bytes of one full batch of images, for callers that account memory. */
size_t lt_dataloader_batch_bytes(const lt_dataloader *d);

/* Begins epoch `epoch` at batch first_batch (0-based, <= the number of
 * batches), abandoning the current one; resets the skipped count. */
lt_status lt_dataloader_start(lt_dataloader *d, int64_t epoch, int64_t first_batch);
/* The next batch of the epoch in *out; *done is set (and *out untouched) at
 * the end of the epoch. */
lt_status lt_dataloader_next(lt_dataloader *d, lt_dataloader_batch *out, bool *done);
/* Abandons the epoch and gives back the buffers the loader holds. */
void lt_dataloader_stop(lt_dataloader *d);
/* Samples dropped as unreadable since the epoch started. */
int64_t lt_dataloader_skipped(const lt_dataloader *d);

#endif
