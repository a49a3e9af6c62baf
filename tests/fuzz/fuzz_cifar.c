/* fuzz_cifar.c — libFuzzer target for the CIFAR-10/100 binary reader
 * (lt_cifar_load, src/data/lt_dataset_readers.c).
 *
 * The first input byte chooses CIFAR-10's test_batch.bin, or CIFAR-100's
 * test.bin with fine or coarse labels; the rest is that file. Invariants: a
 * refusal is LT_ERR_IO naming the file; a success holds exactly
 * size / record-size images with labels in range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "lt_dataset_readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char root[300], file10[300], file100[300];
  if (!root[0]) {
    snprintf(root, sizeof root, "%s", fuzz_dir());
    fuzz_path(file10, sizeof file10, "test_batch.bin");
    fuzz_path(file100, sizeof file100, "test.bin");
  }
  if (size < 1) return 0;
  int mode = data[0] % 3, version = mode == 0 ? 10 : 100;
  bool coarse = mode == 2;
  const char *file = version == 10 ? file10 : file100;
  fuzz_write(file, data + 1, size - 1);
  lt_image_dataset ds;
  lt_status st = lt_cifar_load(root, version, false, coarse, &ds);
  if (st != LT_OK) {
    fuzz_check_refusal(st, file);
    return 0;
  }
  size_t rec = version == 10 ? 3073 : 3074;
  int64_t classes = version == 10 ? 10 : coarse ? 20 : 100;
  fuzz_check((size_t)ds.info.n == (size - 1) / rec && (size - 1) % rec == 0, "whole records only");
  fuzz_check(ds.info.num_classes == classes, "the class count");
  for (int64_t i = 0; i < ds.info.n; i++) fuzz_check(ds.labels[i] >= 1 && ds.labels[i] <= classes, "labels in range");
  unsigned sum = 0;
  for (int64_t i = 0; i < ds.info.n * 3072; i++) sum += ds.images[i];
  lt_image_dataset_free(&ds);
  return (int)(sum & 0);
}
