/* lt_source.h — the datasets the native loader reads (the sources behind
 * lt.data's CIFAR10, CIFAR100, MNIST, FashionMNIST, TensorDataset,
 * ImageFolder and Subset): samples held in memory as tensors, image folders
 * decoded on demand, and subsets of any source. Each gives sample i (0-based)
 * as the bytes of one sample of a fixed shape and dtype, and its label.
 *
 * A source is immutable once built, so the loader's worker threads read it
 * without locks (the only writes, the once-per-file warnings of a skipping
 * folder, are atomic). Sources are reference-counted: a subset holds its
 * parent and the loader (lt_dataloader.h) its source, whatever order their
 * owners let go in.
 *
 * Labels are int64 and 1-based. A folder built with `skip` hands back an
 * image it cannot read as zeros with label 0 ("skipped"), after a warning on
 * stderr naming the file (once per file); the loader drops such samples
 * from their batch. Argument numbers in errors are those of the Lua-facing
 * constructors (TensorDataset(images #1, labels #2), Subset(ds #1,
 * indices #2)); file errors name the file and no argument.
 *
 * Not here: the file formats (lt_dataset_readers.h, lt_image.h,
 * lt_image_folder.h), batching (lt_loader.h, lt_dataloader.h), Lua. */
#ifndef LT_SOURCE_H
#define LT_SOURCE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lt_image_folder.h"
#include "lt_tensor.h"

typedef enum { LT_SOURCE_MEMORY, LT_SOURCE_FOLDER, LT_SOURCE_SUBSET } lt_source_kind;

typedef struct lt_source {
  lt_source_kind kind;
  atomic_int refcount;
  lt_dtype dtype;           /* of a sample */
  int ndim;                 /* the per-sample shape, 0..4 dims */
  int64_t shape[4];
  int64_t sample_bytes, size, num_classes;
  bool may_skip;            /* samples may come back as skipped (label 0) */
  /* LT_SOURCE_MEMORY: contiguous CPU tensors [size, shape...] and int64 [size] */
  lt_tensor *images, *labels;
  /* LT_SOURCE_FOLDER: the scan, and how a file becomes a sample */
  lt_image_folder folder;
  lt_image_folder_source decode;
  bool skip;
  atomic_uchar *warned;     /* [size]: a skipped file is reported once */
  /* LT_SOURCE_SUBSET: sample i is parent's index[i] (0-based) */
  struct lt_source *parent;
  int64_t *index;
} lt_source;

/* A source over images [N, ...] (a CPU tensor of any dtype with 1..4 sample
 * dims, each >= 1) and labels (an integer tensor [N]); both are made
 * contiguous (int64 for the labels) and held. Labels must be >= 1 and, with
 * num_classes > 0, <= num_classes; num_classes 0 takes the largest label. */
lt_status lt_source_from_tensors(lt_tensor *images, lt_tensor *labels, int64_t num_classes, lt_source **out);

/* The CIFAR binary release (lt_cifar_probe / lt_cifar_read, version 10 or
 * 100) and IDX files (lt_idx_find in root, then lt_idx_probe / lt_idx_read)
 * read whole into new CPU tensors: images uint8 [N,C,H,W], labels int64
 * [N]; *num_classes is the split's. */
lt_status lt_source_read_cifar(const char *root, int version, bool train, bool coarse, lt_tensor **images,
                               lt_tensor **labels, int64_t *num_classes);
lt_status lt_source_read_idx(const char *root, const char *images_name, const char *labels_name, int64_t num_classes,
                             lt_tensor **images, lt_tensor **labels, int64_t *num_classes_out);

/* The image folder at root (lt_image_folder_scan), its samples decoded to
 * uint8 [3, h, w] with `options`; h or w <= 0: the size of the first image.
 * skip: unreadable images become skipped samples instead of errors. */
lt_status lt_source_folder(const char *root, int64_t h, int64_t w, bool skip, const lt_image_options *options,
                           lt_source **out);

/* The samples of parent at positions index1[0..n-1] (1-based, each in
 * 1..parent->size), in that order. Holds a reference to parent. */
lt_status lt_source_subset(lt_source *parent, const int64_t *index1, int64_t n, lt_source **out);

void lt_source_retain(lt_source *s);
/* Drops a reference; the last one frees the source. NULL is a no-op. */
void lt_source_release(lt_source *s);

/* Sample i (0 <= i < size) into image_out (sample_bytes bytes) and its
 * label; an unreadable image is an error here, never skipped. */
lt_status lt_source_get(lt_source *s, int64_t i, void *image_out, int64_t *label_out);

/* The loader's fetch function (lt_loader_fetch_fn) over a source (ctx):
 * as lt_source_get, but a folder built with skip hands back skipped
 * samples. Thread-safe. */
lt_status lt_source_fetch(void *ctx, int64_t index, uint8_t *image_out, int64_t *label_out);

#endif
