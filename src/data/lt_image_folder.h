/* lt_image_folder.h — datasets stored as a folder of JPEG/PNG files, one
 * sub-folder per class (torchvision's ImageFolder), and the decoding of one
 * image file into a fixed-size planar uint8 buffer.
 *
 * Layout: root/<class>/<file>.{jpg,jpeg,png} (extensions case-insensitive; files
 * in nested folders of a class count for that class). Classes are the sorted
 * names of root's sub-folders (byte order, as Python's sorted()); class k
 * (0-based in the array) has label k+1. Samples are ordered as torchvision
 * orders them: by folder path, then by file name within a folder. Symbolic
 * links are followed.
 *
 * Decoding uses stb_image (JPEG and PNG only), always yields 3 channels (grey
 * is replicated, alpha dropped) and resizes bilinearly (as
 * lt_transforms_resize) when the requested size differs from the file's.
 * Decoding is thread-safe, so the loader's workers may call it in parallel. */
#ifndef LT_IMAGE_FOLDER_H
#define LT_IMAGE_FOLDER_H

#include <stdint.h>

#include "lt_error.h"

typedef struct {
  int64_t num_classes;
  char **classes;      /* [num_classes] sub-folder names; classes[k] has label k+1 */
  int64_t num_samples;
  char **paths;        /* [num_samples] "root/class/.../file" */
  int64_t *labels;     /* [num_samples] 1-based */
} lt_image_folder;

/* Scans `root`. Fails if root is missing, has no sub-folders, or a class
 * folder holds no image file (naming it). On failure *out is zeroed. */
lt_status lt_image_folder_scan(const char *root, lt_image_folder *out);
/* Frees everything the scan allocated and zeroes the struct. */
void lt_image_folder_free(lt_image_folder *f);

/* The size of the image in `path` without decoding it. */
lt_status lt_image_info(const char *path, int64_t *h, int64_t *w);
/* Decodes `path` into out: [3, h, w] uint8 (h, w >= 1), resizing bilinearly
 * if the image is not h x w. Errors name the file and stb_image's reason. */
lt_status lt_image_decode(const char *path, int64_t h, int64_t w, uint8_t *out);

/* A loader sample source (see lt_loader.h) over a scanned folder: sample
 * `index` (0-based, < num_samples) is paths[index] decoded to [3, h, w] with
 * label labels[index]. The struct must outlive the loader. */
typedef struct {
  const lt_image_folder *folder;
  int64_t h, w;
} lt_image_folder_source;

lt_status lt_image_folder_fetch(void *source, int64_t index, uint8_t *image_out, int64_t *label_out);

#endif
