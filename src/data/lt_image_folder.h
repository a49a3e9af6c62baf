/* lt_image_folder.h — datasets stored as a folder of JPEG/PNG files, one
 * sub-folder per class (torchvision's ImageFolder): the scan, and the loader
 * source that decodes a sample (lt_image.h does the decoding).
 *
 * Layout: root/<class>/<file>.{jpg,jpeg,png} (extensions case-insensitive; files
 * in nested folders of a class count for that class). Classes are the sorted
 * names of root's sub-folders (byte order, as Python's sorted()); class k
 * (0-based in the array) has label k+1. Samples are ordered as torchvision
 * orders them: by folder path, then by file name within a folder.
 *
 * Symbolic links are followed, but no folder is scanned twice: folders are
 * known by device and inode, so a link back to a folder already seen (a
 * loop such as `b/l -> ..`, or a second link to the same folder) is skipped
 * and reported instead of making the scan endless or its images appear
 * several times. The scan reports, in `notes`, every entry it skipped for a
 * reason the user may want to know (such a link, a broken link, a folder it
 * cannot open, an image name that is not a regular file), and counts the
 * files it ignored because their extension is not an image's. */
#ifndef LT_IMAGE_FOLDER_H
#define LT_IMAGE_FOLDER_H

#include <stdint.h>

#include "lt_error.h"
#include "lt_image.h"

/* At most this many notes are kept; num_notes counts them all. */
#define LT_IMAGE_FOLDER_MAX_NOTES 20

typedef struct {
  int64_t num_classes;
  char **classes;      /* [num_classes] sub-folder names; classes[k] has label k+1 */
  int64_t num_samples;
  char **paths;        /* [num_samples] "root/class/.../file" */
  int64_t *labels;     /* [num_samples] 1-based */
  int64_t num_notes;   /* entries skipped with a reason; the first few in notes */
  char **notes;        /* [min(num_notes, LT_IMAGE_FOLDER_MAX_NOTES)] messages naming the entry */
  int64_t num_ignored; /* files ignored for their extension */
  char *first_ignored; /* the first of them, or NULL */
} lt_image_folder;

/* Scans `root`. Fails if root is missing or cannot be read, has no
 * sub-folders, or a class folder cannot be opened or holds no image file
 * (naming it). On failure *out is zeroed. */
lt_status lt_image_folder_scan(const char *root, lt_image_folder *out);
/* Frees everything the scan allocated and zeroes the struct. */
void lt_image_folder_free(lt_image_folder *f);

/* A loader sample source (see lt_loader.h) over a scanned folder: sample
 * `index` (0-based, < num_samples) is paths[index] decoded to [3, h, w]
 * with `options`, label labels[index]. The struct must outlive the loader. */
typedef struct {
  const lt_image_folder *folder;
  int64_t h, w;
  lt_image_options options;
} lt_image_folder_source;

lt_status lt_image_folder_fetch(void *source, int64_t index, uint8_t *image_out, int64_t *label_out);

#endif
