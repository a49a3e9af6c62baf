/* fuzz_image.c — libFuzzer targets fuzz_jpeg and fuzz_png (this file built
 * twice, with FUZZ_PNG for the second): image files through the dataset
 * path, lt_image_folder_fetch on a one-image folder, which reads the file,
 * checks its size against the pixel limit, decodes it (libjpeg-turbo or
 * libpng; src/data/lt_image*.c) and resizes it.
 *
 * The input is 3 control bytes and the file: the target size (1..32 x
 * 1..32), draft on or off, and for fuzz_png whether to recompute every
 * chunk's CRC first (so mutations get past the CRC checks into the image
 * data). The pixel limit is 2^22, so no input makes a huge buffer.
 * Invariants: a refusal is LT_ERR_IO naming the file; a success has the
 * sample's label, and decoding the same bytes from memory
 * (lt_image_decode_buffer) gives the same pixels: the per-thread scratch
 * buffers carry nothing from one image to the next. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fuzz_util.h"
#include "lt_image.h"
#include "lt_image_folder.h"

#ifdef FUZZ_PNG
/* Recomputes the CRC of every whole chunk after the PNG signature. */
static void fix_png_crcs(uint8_t *p, size_t len) {
  size_t at = 8;
  while (at + 12 <= len) {
    uint32_t n = fuzz_be32(p + at);
    if (n > len - at - 12) break;
    uint32_t crc = (uint32_t)crc32(0, p + at + 4, n + 4);
    for (int k = 0; k < 4; k++) p[at + 8 + n + (size_t)k] = (uint8_t)(crc >> (24 - 8 * k));
    at += 12 + n;
  }
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char path[300];
#ifdef FUZZ_PNG
  if (!path[0]) fuzz_path(path, sizeof path, "image.png");
#else
  if (!path[0]) fuzz_path(path, sizeof path, "image.jpg");
#endif
  if (size < 3) return 0;
  int64_t h = 1 + data[0] % 32, w = 1 + data[1] % 32;
  lt_image_options opt = lt_image_default_options();
  opt.max_pixels = (int64_t)1 << 22;
  opt.draft = data[2] & 1;
  size_t len = size - 3;
  uint8_t *file = malloc(len + 1);
  memcpy(file, data + 3, len);
#ifdef FUZZ_PNG
  if (data[2] & 2) fix_png_crcs(file, len);
#endif
  fuzz_write(path, file, len);

  char *paths[1] = {path};
  int64_t labels[1] = {1};
  lt_image_folder folder;
  memset(&folder, 0, sizeof folder);
  folder.num_samples = 1;
  folder.paths = paths;
  folder.labels = labels;
  lt_image_folder_source src = {&folder, h, w, opt};
  uint8_t *a = malloc((size_t)(3 * h * w)), *b = malloc((size_t)(3 * h * w));
  int64_t label = 0;
  lt_status st = lt_image_folder_fetch(&src, 0, a, &label);
  if (st != LT_OK) {
    fuzz_check_refusal(st, path);
  } else {
    fuzz_check(label == 1, "the sample's label");
    fuzz_check(lt_image_decode_buffer(path, file, len, &opt, h, w, b) == LT_OK, "the same bytes decode from memory");
    fuzz_check(memcmp(a, b, (size_t)(3 * h * w)) == 0, "the same pixels from the file and from memory");
  }
  free(a);
  free(b);
  free(file);
  return 0;
}
