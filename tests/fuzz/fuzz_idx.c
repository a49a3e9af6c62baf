/* fuzz_idx.c — libFuzzer target for the IDX reader (lt_idx_load,
 * src/data/lt_dataset_readers.c) on plain and gzipped files.
 *
 * The input is a whole file, plain or gzipped (zlib tells them apart, so
 * the gzipped seeds in corpus_idx lead the fuzzer into gzip streams). When
 * it starts like a labels file (magic 0x00000801) it is the labels file
 * beside a valid images file of as many 1x1 images; otherwise it is the
 * images file beside a valid labels file of as many labels as its header
 * claims (so reading gets past the count check). Invariants: a refusal is
 * LT_ERR_IO naming one of the two files; a success gives the shape the
 * header gave and labels in 1..10, every byte readable. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "lt_dataset_readers.h"

#define MAX_N 4096

static void write_idx_header(uint8_t *p, uint32_t magic, uint32_t n) {
  uint32_t v[2] = {magic, n};
  for (int k = 0; k < 8; k++) p[k] = (uint8_t)(v[k / 4] >> (24 - 8 * (k % 4)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char images[300], labels[300];
  static uint8_t other[16 + MAX_N];
  if (!images[0]) {
    fuzz_path(images, sizeof images, "train-images-idx3-ubyte");
    fuzz_path(labels, sizeof labels, "train-labels-idx1-ubyte");
  }
  bool is_labels = size >= 4 && fuzz_be32(data) == 0x801;
  uint32_t n = size >= 8 ? fuzz_be32(data + 4) : 0;
  if (n > MAX_N) n = MAX_N;
  memset(other, 0, sizeof other);
  if (is_labels) {
    /* n images of 1x1 */
    write_idx_header(other, 0x803, n);
    other[8 + 3] = 1, other[12 + 3] = 1;
    for (uint32_t i = 0; i < n; i++) other[16 + i] = (uint8_t)i;
    fuzz_write(images, other, 16 + n);
    fuzz_write(labels, data, size);
  } else {
    write_idx_header(other, 0x801, n);
    for (uint32_t i = 0; i < n; i++) other[8 + i] = (uint8_t)(i % 10);
    fuzz_write(labels, other, 8 + n);
    fuzz_write(images, data, size);
  }
  lt_image_dataset ds;
  lt_status st = lt_idx_load(images, labels, 10, &ds);
  if (st != LT_OK) {
    fuzz_check(st == LT_ERR_IO, "a corrupt file is refused with LT_ERR_IO");
    fuzz_check(strstr(lt_error_message(), is_labels ? labels : images) != NULL ||
                   strstr(lt_error_message(), is_labels ? images : labels) != NULL,
               "the message names a file");
    return 0;
  }
  fuzz_check(ds.info.c == 1 && ds.info.n >= 0 && ds.info.h >= 1 && ds.info.w >= 1 && ds.info.num_classes == 10,
             "the shape of a loaded set");
  unsigned sum = 0;
  for (int64_t i = 0; i < ds.info.n * ds.info.h * ds.info.w; i++) sum += ds.images[i];
  for (int64_t i = 0; i < ds.info.n; i++) fuzz_check(ds.labels[i] >= 1 && ds.labels[i] <= 10, "labels in 1..10");
  lt_image_dataset_free(&ds);
  return (int)(sum & 0);
}
