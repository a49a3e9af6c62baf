/* lt_dataset_readers.h — readers for the fixed-format image datasets: the
 * CIFAR-10 and CIFAR-100 binary releases and IDX files (MNIST, Fashion-MNIST,
 * plain or gzipped), plus the class-name tables of those datasets.
 *
 * Everything here works on raw buffers: images are uint8 [N,C,H,W]
 * (channel-planar), labels int64 and 1-based (a 10-class set yields 1..10).
 * No Lua and no tensor objects; image folders (JPEG/PNG) live in
 * lt_image_folder.h.
 *
 * Each format has a two-step API so a caller can allocate the destination
 * itself (a tensor, pinned memory) before anything is read:
 *   lt_*_probe  checks that the files exist, have the right magic numbers and
 *               sizes, and fills an lt_dataset_info (N, C, H, W, classes);
 *   lt_*_read   fills images [N,C,H,W] and labels [N], re-validating
 *               everything it reads (a label out of range, a truncated
 *               gzip stream).
 * lt_*_load does both into malloc'd buffers (lt_image_dataset_free frees).
 *
 * Error messages name the file and, for corrupt contents, the byte offset
 * (in the decompressed stream for gzipped files). A missing folder or file
 * names the path; how to obtain the data is the Lua layer's to add. */
#ifndef LT_DATASET_READERS_H
#define LT_DATASET_READERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lt_error.h"

typedef struct {
  int64_t n, c, h, w;     /* images are [n, c, h, w] uint8 */
  int64_t num_classes;    /* labels are in 1..num_classes */
} lt_dataset_info;

/* A whole split in memory; images and labels are malloc'd. */
typedef struct {
  lt_dataset_info info;
  uint8_t *images;        /* [n, c, h, w] */
  int64_t *labels;        /* [n], 1-based */
} lt_image_dataset;

/* Frees the buffers and zeroes the struct; safe on a zeroed struct. */
void lt_image_dataset_free(lt_image_dataset *ds);

/* ---- CIFAR binary ------------------------------------------------------
 * version 10: `root` is cifar-10-batches-bin; train = data_batch_1.bin ..
 *   data_batch_5.bin, test = test_batch.bin; a record is 1 label byte and
 *   3072 pixel bytes (R plane, G plane, B plane, each 32x32 row-major).
 * version 100: `root` is cifar-100-binary; train.bin / test.bin; a record is
 *   1 coarse label byte, 1 fine label byte and 3072 pixel bytes.
 *   `coarse` selects the 20 coarse labels instead of the 100 fine ones
 *   (ignored for version 10).
 * Any whole number of records per file is accepted (the official files hold
 * 10000 per batch, 50000 in train.bin). Images come out [N,3,32,32]. */
lt_status lt_cifar_probe(const char *root, int version, bool train, bool coarse,
                         lt_dataset_info *info);
/* images: [info->n, 3, 32, 32]; labels: [info->n]. `info` is what
 * lt_cifar_probe returned; the files must still hold exactly info->n records. */
lt_status lt_cifar_read(const char *root, int version, bool train, bool coarse,
                        const lt_dataset_info *info, uint8_t *images, int64_t *labels);
lt_status lt_cifar_load(const char *root, int version, bool train, bool coarse,
                        lt_image_dataset *out);

/* ---- IDX (MNIST / Fashion-MNIST) ---------------------------------------
 * An images file is magic 0x00000803 (unsigned bytes, 3 dimensions), then
 * big-endian int32 N, rows, cols and N*rows*cols pixels; a labels file is
 * magic 0x00000801, int32 N and N label bytes (0-based in the file). Files
 * may be gzipped or plain; zlib reads both. Images come out [N,1,rows,cols].
 *
 * num_classes in 1..256: every label in the file must be < num_classes
 * (read checks; the probe copies num_classes into the info; MNIST and
 * Fashion-MNIST pass 10). num_classes == 0: no range check and
 * info->num_classes = 0, for IDX sets of unknown class count. */

/* Finds `root/name` or `root/name.gz` (the plain file wins) and writes its
 * path into path[cap]. Errors name the folder or both candidate paths. */
lt_status lt_idx_find(const char *root, const char *name, char *path, size_t cap);
lt_status lt_idx_probe(const char *images_path, const char *labels_path,
                       int64_t num_classes, lt_dataset_info *info);
/* images: [info->n, 1, info->h, info->w]; labels: [info->n]. */
lt_status lt_idx_read(const char *images_path, const char *labels_path,
                      const lt_dataset_info *info, uint8_t *images, int64_t *labels);
lt_status lt_idx_load(const char *images_path, const char *labels_path,
                      int64_t num_classes, lt_image_dataset *out);

/* ---- class names -------------------------------------------------------
 * `name` is one of "cifar10", "cifar100" (the 100 fine classes),
 * "cifar100_coarse" (20 superclasses), "fashion_mnist", "mnist". Returns the
 * table (entry k is the name of label k+1) and its length in *count, or NULL
 * (and *count = 0) for an unknown name. The strings are static. */
const char *const *lt_dataset_classes(const char *name, int64_t *count);

#endif
