/* lt_loader.h — the native core of lt.data.DataLoader: worker threads that
 * assemble batches ahead of the consumer, a seeded per-epoch shuffle, and a
 * pool of batch buffers that can live in pinned memory.
 *
 * Not here: collation of anything but fixed-size uint8 samples with an int64
 * label, and Lua (the glue turns buffers into tensors). An optional per-batch
 * `transform` hook runs in the worker after a batch is assembled, so the
 * batched transforms (lt_transforms_cpu.h) can run off the consumer's thread.
 *
 * Order. Epoch e visits the samples in perm_e, a permutation of 0..N-1 that
 * depends only on (seed, e) (see lt_loader_permutation), or 0..N-1 without
 * shuffle. With world_size W > 1 (distributed sampling) every rank computes
 * that same order and keeps its share of it (lt_loader_shard), so the
 * epoch's list has M = lt_loader_shard_size(N, W, drop_last) samples
 * instead of N. Batch b holds positions b*B .. min((b+1)*B, M)-1 of the
 * list; drop_last drops a short last batch. Batches are delivered in order
 * 0, 1, 2, ... whatever worker finishes first, so the stream is identical
 * for any num_workers.
 *
 * Threads. num_workers == 0 assembles each batch in the consumer's thread
 * inside lt_loader_next. Otherwise num_workers threads (started by
 * lt_loader_create, parked between epochs) fill up to `prefetch` batches
 * beyond the last one delivered. `fetch` and `transform` are called from
 * several threads at once and must be thread-safe.
 *
 * The consumer side (create, start_epoch, next, release, stop, destroy) is
 * meant for one thread; lt_loader_release may be called from any thread.
 *
 * Buffers. A delivered batch belongs to the consumer until lt_loader_release;
 * holding several at once is allowed (the pool grows: prefetch + the number
 * held). Buffers are allocated lazily through the allocator hook and reused
 * across epochs; lt_loader_destroy frees them all, held ones included. */
#ifndef LT_LOADER_H
#define LT_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lt_error.h"

/* Writes sample `index` (0-based, < size) into image_out (sample_bytes
 * bytes) and its label into *label_out. Thread-safe. On failure returns a
 * status and sets the (thread-local) message with lt_error_set; the loader
 * carries the message over to the consumer's thread. */
typedef lt_status (*lt_loader_fetch_fn)(void *ctx, int64_t index, uint8_t *image_out, int64_t *label_out);

/* Runs on a freshly assembled batch in the worker that assembled it:
 * images [count, sample shape], labels [count], indices [count] (the sample
 * indices), out: count * out_sample_bytes bytes (NULL if out_sample_bytes is
 * 0; the transform may then rewrite `images` in place). Random parameters
 * should be derived from (epoch, batch) so the result does not depend on
 * which thread runs it. Thread-safe; errors as for fetch. */
typedef lt_status (*lt_loader_transform_fn)(void *ctx, int64_t epoch, int64_t batch, int64_t count,
                                            const int64_t *indices, uint8_t *images, int64_t *labels, void *out);

/* Batch buffer allocation, e.g. pinned host memory. Both NULL: malloc/free.
 * Called from worker threads (and the consumer's with num_workers == 0). */
typedef struct {
  void *(*alloc)(void *ctx, size_t bytes);
  void (*free)(void *ctx, void *ptr, size_t bytes);
  void *ctx;
} lt_loader_allocator;

typedef struct {
  lt_loader_fetch_fn fetch;    /* required */
  void *fetch_ctx;
  int64_t sample_bytes;        /* bytes of one image, >= 1 */
  int ndim;                    /* the per-sample image shape (informational, */
  int64_t shape[4];            /*   for the glue; product == sample_bytes)  */
  int64_t size;                /* N, number of samples, >= 0 */
  int64_t batch_size;          /* B, >= 1 */
  bool shuffle;
  bool drop_last;              /* also: truncate rather than pad the shards (lt_loader_shard) */
  uint64_t seed;
  int64_t rank;                /* distributed sampling: this process's rank, 0 <= rank < world_size */
  int64_t world_size;          /*   and the number of ranks, <= 2^31 - 1; 0 or 1: not distributed */
  int num_workers;             /* 0..256; 0 = assemble on demand in lt_loader_next */
  int prefetch;                /* batches in flight beyond the last delivered; 0 = 2 * num_workers */
  lt_loader_transform_fn transform; /* optional */
  void *transform_ctx;
  int64_t out_sample_bytes;    /* bytes per sample of the transform's output, >= 0 */
  lt_loader_allocator allocator;
} lt_loader_config;

/* A delivered batch. All pointers stay valid until lt_loader_release. */
typedef struct lt_batch {
  uint8_t *images;             /* [count, shape...] */
  int64_t *labels;             /* [count] */
  void *out;                   /* [count * out_sample_bytes] or NULL */
  int64_t *indices;            /* [count] sample indices, 0-based */
  int64_t index;               /* batch number within the epoch, 0-based */
  int64_t count;               /* samples in this batch, <= batch_size */
  int64_t epoch;
} lt_batch;

typedef struct lt_loader lt_loader;

/* Validates the config, allocates the loader and starts the workers (parked
 * until lt_loader_start_epoch). */
lt_status lt_loader_create(const lt_loader_config *config, lt_loader **out);

/* Number of batches in an epoch: ceil(M/B), or floor(M/B) with drop_last,
 * M the samples of an epoch (N, or the rank's share: lt_loader_shard_size). */
int64_t lt_loader_num_batches(const lt_loader *loader);
/* Batches claimed at most beyond the last one delivered: the config's
 * prefetch, or its default 2 * num_workers (2 without workers). */
int lt_loader_prefetch(const lt_loader *loader);

/* Begins epoch `epoch` (any order, any repeat), abandoning the current one
 * if it is still running (as lt_loader_stop). Epochs are >= 0. */
lt_status lt_loader_start_epoch(lt_loader *loader, int64_t epoch);
/* The same, delivering batches first_batch, first_batch + 1, ... of the
 * epoch (0 <= first_batch <= number of batches; equal: an empty epoch). The
 * batches before it are skipped without fetching anything, so a run resumed
 * in the middle of an epoch sees exactly the batches it would have seen. */
lt_status lt_loader_start_epoch_at(lt_loader *loader, int64_t epoch, int64_t first_batch);

/* Waits for the next batch of the epoch and hands it over in *out.
 * *out == NULL (and LT_OK) when the epoch is over, stopped or never started.
 * If fetch or transform failed for this batch, returns that status with its
 * message (in the calling thread's error slot); every later call of the
 * epoch returns the same error. */
lt_status lt_loader_next(lt_loader *loader, lt_batch **out);

/* Gives a delivered batch's buffers back to the pool. NULL is a no-op. */
void lt_loader_release(lt_loader *loader, lt_batch *batch);

/* Abandons the current epoch: workers drop their batches at the next sample
 * and park; batches not yet delivered go back to the pool. Delivered
 * batches stay with the consumer. Returns once no worker touches a buffer. */
void lt_loader_stop(lt_loader *loader);

/* Stops, joins the workers and frees everything, delivered batches
 * included. NULL is a no-op. */
void lt_loader_destroy(lt_loader *loader);

/* The epoch order: out[k] = k-th sample of epoch `epoch`, for k < n:
 * 0..n-1 shuffled by lt_data_gen_shuffle with the epoch's generator
 * (lt_data_gen_epoch, lt_data_gen.h). Requires n < 2^32. */
lt_status lt_loader_permutation(uint64_t seed, int64_t epoch, int64_t n, int64_t *out);

/* Distributed sampling, as PyTorch's DistributedSampler. Every one of W
 * ranks holds the same epoch order of n samples. That order is first made
 * a multiple of W long: without drop_last it is padded to
 * total = ceil(n / W) * W by wrapping around (position p >= n repeats
 * position p mod n, so the first samples come again, several times when
 * n < W); with drop_last it is cut to total = floor(n / W) * W. Rank r then
 * takes positions r, r + W, r + 2W, ... of that list: total / W samples,
 * the same count on every rank, and together the ranks see every sample
 * (without drop_last) or disjoint samples (with it).
 *
 * lt_loader_shard_size returns total / W (n >= 0, W >= 1); lt_loader_shard
 * writes rank r's samples (0 <= r < W) to out, which holds that many and
 * must not overlap order. W == 1 copies the order. */
int64_t lt_loader_shard_size(int64_t n, int64_t world_size, bool drop_last);
void lt_loader_shard(const int64_t *order, int64_t n, int64_t rank, int64_t world_size, bool drop_last, int64_t *out);

#endif
