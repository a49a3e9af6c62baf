/* test_data_readers.c — the CIFAR-10/100 and IDX readers on files this test
 * writes in the official formats (every pixel and label checked), their
 * error messages on corrupt variants, the class-name tables, and the real
 * Fashion-MNIST files of the Debian package when they are installed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "lt_dataset_readers.h"
#include "lt_test.h"

static char tmpdir[256];

static uint32_t rng_state = 12345;
static uint8_t rnd8(void) {
  rng_state = rng_state * 1664525u + 1013904223u;
  return (uint8_t)(rng_state >> 24);
}

static void path_of(char *out, size_t cap, const char *sub, const char *name) {
  snprintf(out, cap, "%s/%s/%s", tmpdir, sub, name);
}

static void make_dir(const char *sub) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", tmpdir, sub);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p);
  if (system(cmd) != 0) fprintf(stderr, "mkdir failed\n");
}

static void write_file(const char *path, const void *data, size_t len) {
  FILE *fp = fopen(path, "wb");
  if (!fp) {
    perror(path);
    exit(2);
  }
  fwrite(data, 1, len, fp);
  fclose(fp);
}

static void write_gz(const char *path, const void *data, size_t len) {
  gzFile gz = gzopen(path, "wb");
  if (!gz) {
    perror(path);
    exit(2);
  }
  gzwrite(gz, data, (unsigned)len);
  gzclose(gz);
}

/* Asserts a failure with the given status whose message contains `want`. */
static void check_err(lt_status st, lt_status want_status, const char *want, int line) {
  bool ok = st == want_status && strstr(lt_error_message(), want) != NULL;
  if (!ok) fprintf(stderr, "line %d: status %d, message \"%s\"; expected status %d and \"%s\"\n", line, (int)st,
                   lt_error_message(), (int)want_status, want);
  LT_CHECK(ok);
}
#define CHECK_ERR(st, status, want) check_err((st), (status), (want), __LINE__)

/* ---- CIFAR ------------------------------------------------------------- */

/* One synthetic CIFAR file: `n` records, kept in ref_images/ref_labels at
 * record offset `first`. */
static void make_cifar_file(const char *path, int n, int label_bytes, uint8_t *ref_images, uint8_t *ref_labels,
                            int first) {
  size_t rec = (size_t)label_bytes + 3072;
  uint8_t *buf = malloc(rec * (size_t)n);
  for (int r = 0; r < n; r++) {
    uint8_t *p = buf + rec * (size_t)r;
    if (label_bytes == 1) {
      p[0] = (uint8_t)((first + r) % 10);
    } else {
      p[0] = (uint8_t)((first + r * 7) % 20);
      p[1] = (uint8_t)((first + r * 13) % 100);
    }
    for (int k = 0; k < 3072; k++) p[label_bytes + k] = rnd8();
    memcpy(ref_labels + (size_t)(first + r) * 2, p, (size_t)label_bytes);
    memcpy(ref_images + (size_t)(first + r) * 3072, p + label_bytes, 3072);
  }
  write_file(path, buf, rec * (size_t)n);
  free(buf);
}

static void test_cifar10(void) {
  static const int counts[5] = {3, 2, 4, 1, 5};
  static const char *names[5] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                                 "data_batch_5.bin"};
  char p[512];
  uint8_t *ref = malloc(20 * 3072), lab[40];
  make_dir("c10");
  int first = 0;
  for (int f = 0; f < 5; f++) {
    path_of(p, sizeof p, "c10", names[f]);
    make_cifar_file(p, counts[f], 1, ref, lab, first);
    first += counts[f];
  }
  path_of(p, sizeof p, "c10", "test_batch.bin");
  make_cifar_file(p, 4, 1, ref, lab, 15);

  char root[512];
  snprintf(root, sizeof root, "%s/c10", tmpdir);
  lt_image_dataset ds;
  LT_CHECK(lt_cifar_load(root, 10, true, false, &ds) == LT_OK);
  LT_CHECK(ds.info.n == 15 && ds.info.c == 3 && ds.info.h == 32 && ds.info.w == 32 && ds.info.num_classes == 10);
  int bad = 0;
  for (int i = 0; i < 15; i++) {
    if (ds.labels[i] != lab[2 * i] + 1) bad++;
    if (memcmp(ds.images + (size_t)i * 3072, ref + (size_t)i * 3072, 3072) != 0) bad++;
  }
  LT_CHECK(bad == 0);
  /* The R plane comes first: byte 1 of a record is pixel (0,0) of red. */
  LT_CHECK(ds.images[0] == ref[0] && ds.images[1024] == ref[1024]);
  lt_image_dataset_free(&ds);
  LT_CHECK(ds.images == NULL);

  LT_CHECK(lt_cifar_load(root, 10, false, false, &ds) == LT_OK);
  LT_CHECK(ds.info.n == 4);
  bad = 0;
  for (int i = 0; i < 4; i++) {
    if (ds.labels[i] != lab[2 * (15 + i)] + 1) bad++;
    if (memcmp(ds.images + (size_t)i * 3072, ref + (size_t)(15 + i) * 3072, 3072) != 0) bad++;
  }
  LT_CHECK(bad == 0);
  lt_image_dataset_free(&ds);

  /* Probe then read into caller buffers. */
  lt_dataset_info info;
  LT_CHECK(lt_cifar_probe(root, 10, true, false, &info) == LT_OK && info.n == 15);
  uint8_t *img = malloc(15 * 3072);
  int64_t labels[15];
  LT_CHECK(lt_cifar_read(root, 10, true, false, &info, img, labels) == LT_OK);
  LT_CHECK(memcmp(img, ref, 15 * 3072) == 0 && labels[14] == lab[28] + 1);
  free(img);

  /* Errors. */
  char missing[512];
  snprintf(missing, sizeof missing, "%s/nope", tmpdir);
  CHECK_ERR(lt_cifar_load(missing, 10, true, false, &ds), LT_ERR_IO, "does not exist");
  LT_CHECK(strstr(lt_error_message(), missing) != NULL);
  CHECK_ERR(lt_cifar_load(root, 7, true, false, &ds), LT_ERR_ARG, "CIFAR version must be 10 or 100, got 7");

  path_of(p, sizeof p, "c10", "data_batch_3.bin");
  char moved[600];
  snprintf(moved, sizeof moved, "%s.bak", p);
  rename(p, moved);
  CHECK_ERR(lt_cifar_load(root, 10, true, false, &ds), LT_ERR_IO, "cannot open '");
  LT_CHECK(strstr(lt_error_message(), "c10/data_batch_3.bin': No such file") != NULL);
  rename(moved, p);

  /* A truncated file: 2 records and a half. */
  uint8_t *buf = malloc(3 * 3073);
  memset(buf, 1, 3 * 3073);
  path_of(p, sizeof p, "c10", "test_batch.bin");
  write_file(p, buf, 2 * 3073 + 100);
  CHECK_ERR(lt_cifar_load(root, 10, false, false, &ds), LT_ERR_IO,
            "is 6246 bytes, expected a multiple of 3073 (the record at byte offset 6146 is truncated)");
  LT_CHECK(strstr(lt_error_message(), "c10/test_batch.bin") != NULL);
  LT_CHECK(ds.images == NULL && ds.labels == NULL);
  /* A label out of range in the second record. */
  buf[3073] = 10;
  write_file(p, buf, 3 * 3073);
  CHECK_ERR(lt_cifar_load(root, 10, false, false, &ds), LT_ERR_IO, "label 10 at byte offset 3073 of '");
  LT_CHECK(strstr(lt_error_message(), "test_batch.bin' is out of range (expected 0..9)") != NULL);
  write_file(p, buf, 0);
  CHECK_ERR(lt_cifar_load(root, 10, false, false, &ds), LT_ERR_IO, "is empty");
  free(buf);
  free(ref);
}

static void test_cifar100(void) {
  char p[512], root[512];
  uint8_t *ref = malloc(9 * 3072), lab[18];
  make_dir("c100");
  path_of(p, sizeof p, "c100", "train.bin");
  make_cifar_file(p, 6, 2, ref, lab, 0);
  path_of(p, sizeof p, "c100", "test.bin");
  make_cifar_file(p, 3, 2, ref, lab, 6);
  snprintf(root, sizeof root, "%s/c100", tmpdir);

  lt_image_dataset fine, coarse, test;
  LT_CHECK(lt_cifar_load(root, 100, true, false, &fine) == LT_OK);
  LT_CHECK(lt_cifar_load(root, 100, true, true, &coarse) == LT_OK);
  LT_CHECK(lt_cifar_load(root, 100, false, false, &test) == LT_OK);
  LT_CHECK(fine.info.n == 6 && fine.info.num_classes == 100 && coarse.info.num_classes == 20 && test.info.n == 3);
  int bad = 0;
  for (int i = 0; i < 6; i++) {
    if (fine.labels[i] != lab[2 * i + 1] + 1 || coarse.labels[i] != lab[2 * i] + 1) bad++;
    if (memcmp(fine.images + (size_t)i * 3072, ref + (size_t)i * 3072, 3072) != 0) bad++;
    if (memcmp(coarse.images + (size_t)i * 3072, ref + (size_t)i * 3072, 3072) != 0) bad++;
  }
  for (int i = 0; i < 3; i++) {
    if (test.labels[i] != lab[2 * (6 + i) + 1] + 1) bad++;
    if (memcmp(test.images + (size_t)i * 3072, ref + (size_t)(6 + i) * 3072, 3072) != 0) bad++;
  }
  LT_CHECK(bad == 0);
  lt_image_dataset_free(&fine);
  lt_image_dataset_free(&coarse);
  lt_image_dataset_free(&test);

  /* Records are 3074 bytes: a CIFAR-10 sized file is rejected. */
  uint8_t *buf = calloc(2, 3074);
  write_file(p, buf, 2 * 3073);
  CHECK_ERR(lt_cifar_load(root, 100, false, false, &test), LT_ERR_IO, "is 6146 bytes, expected a multiple of 3074");
  buf[3074] = 20; /* coarse label of record 2 */
  write_file(p, buf, 2 * 3074);
  CHECK_ERR(lt_cifar_load(root, 100, false, false, &test), LT_ERR_IO,
            "coarse label 20 at byte offset 3074 of '");
  buf[3074] = 0;
  buf[3075] = 100;
  write_file(p, buf, 2 * 3074);
  CHECK_ERR(lt_cifar_load(root, 100, false, true, &test), LT_ERR_IO, "fine label 100 at byte offset 3075 of '");
  LT_CHECK(strstr(lt_error_message(), "c100/test.bin' is out of range (expected 0..99)") != NULL);
  free(buf);
  free(ref);
}

/* ---- IDX --------------------------------------------------------------- */

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

enum { IDX_N = 7, IDX_R = 5, IDX_C = 4 };

/* images file: header + IDX_N x IDX_R x IDX_C; labels: header + IDX_N. */
static void build_idx(uint8_t *img, size_t *img_len, uint8_t *lab, size_t *lab_len) {
  put_be32(img, 0x803);
  put_be32(img + 4, IDX_N);
  put_be32(img + 8, IDX_R);
  put_be32(img + 12, IDX_C);
  for (int k = 0; k < IDX_N * IDX_R * IDX_C; k++) img[16 + k] = rnd8();
  *img_len = 16 + IDX_N * IDX_R * IDX_C;
  put_be32(lab, 0x801);
  put_be32(lab + 4, IDX_N);
  for (int i = 0; i < IDX_N; i++) lab[8 + i] = (uint8_t)((i * 3) % 10);
  *lab_len = 8 + IDX_N;
}

static void check_idx_content(const lt_image_dataset *ds, const uint8_t *img, const uint8_t *lab) {
  LT_CHECK(ds->info.n == IDX_N && ds->info.c == 1 && ds->info.h == IDX_R && ds->info.w == IDX_C);
  LT_CHECK(memcmp(ds->images, img + 16, IDX_N * IDX_R * IDX_C) == 0);
  int bad = 0;
  for (int i = 0; i < IDX_N; i++)
    if (ds->labels[i] != lab[8 + i] + 1) bad++;
  LT_CHECK(bad == 0);
}

static void test_idx(void) {
  uint8_t img[16 + IDX_N * IDX_R * IDX_C], lab[8 + IDX_N];
  size_t il, ll;
  char ip[512], lp[512], p2[512], lp2[512];
  lt_image_dataset ds;
  build_idx(img, &il, lab, &ll);
  make_dir("idx");
  make_dir("idxgz");

  /* Plain files, found by lt_idx_find. */
  path_of(ip, sizeof ip, "idx", "train-images-idx3-ubyte");
  path_of(lp, sizeof lp, "idx", "train-labels-idx1-ubyte");
  write_file(ip, img, il);
  write_file(lp, lab, ll);
  char root[512], found_i[512], found_l[512];
  snprintf(root, sizeof root, "%s/idx", tmpdir);
  LT_CHECK(lt_idx_find(root, "train-images-idx3-ubyte", found_i, sizeof found_i) == LT_OK);
  LT_CHECK(strcmp(found_i, ip) == 0);
  LT_CHECK(lt_idx_find(root, "train-labels-idx1-ubyte", found_l, sizeof found_l) == LT_OK);
  LT_CHECK(lt_idx_load(found_i, found_l, 10, &ds) == LT_OK);
  check_idx_content(&ds, img, lab);
  LT_CHECK(ds.info.num_classes == 10);
  lt_image_dataset_free(&ds);
  CHECK_ERR(lt_idx_find(root, "t10k-images-idx3-ubyte", found_i, sizeof found_i), LT_ERR_IO, "cannot find '");
  LT_CHECK(strstr(lt_error_message(), "idx/t10k-images-idx3-ubyte.gz'") != NULL);

  /* Gzipped files; lt_idx_find falls back to the .gz name. */
  path_of(p2, sizeof p2, "idxgz", "t10k-images-idx3-ubyte.gz");
  path_of(lp2, sizeof lp2, "idxgz", "t10k-labels-idx1-ubyte.gz");
  write_gz(p2, img, il);
  write_gz(lp2, lab, ll);
  snprintf(root, sizeof root, "%s/idxgz", tmpdir);
  LT_CHECK(lt_idx_find(root, "t10k-images-idx3-ubyte", found_i, sizeof found_i) == LT_OK);
  LT_CHECK(strcmp(found_i, p2) == 0);
  lt_dataset_info info;
  LT_CHECK(lt_idx_probe(p2, lp2, 10, &info) == LT_OK && info.n == IDX_N && info.h == IDX_R && info.w == IDX_C);
  LT_CHECK(lt_idx_load(p2, lp2, 10, &ds) == LT_OK);
  check_idx_content(&ds, img, lab);
  lt_image_dataset_free(&ds);

  /* Bad magic: an images file given as labels. */
  CHECK_ERR(lt_idx_load(p2, p2, 10, &ds), LT_ERR_IO, "bad magic number 0x00000803 at offset 0 of '");
  LT_CHECK(strstr(lt_error_message(), "(expected 0x00000801") != NULL);
  uint8_t badlab[8 + IDX_N];
  memcpy(badlab, lab, ll);
  put_be32(badlab, 0x802);
  write_gz(lp2, badlab, ll);
  CHECK_ERR(lt_idx_load(p2, lp2, 10, &ds), LT_ERR_IO, "bad magic number 0x00000802 at offset 0 of '");
  LT_CHECK(strstr(lt_error_message(), "t10k-labels-idx1-ubyte.gz' (expected 0x00000801") != NULL);

  /* Label out of range at index 2 -> byte offset 10. */
  memcpy(badlab, lab, ll);
  badlab[10] = 12;
  write_gz(lp2, badlab, ll);
  CHECK_ERR(lt_idx_load(p2, lp2, 10, &ds), LT_ERR_IO, "label 12 at byte offset 10 of '");
  LT_CHECK(strstr(lt_error_message(), "is out of range (expected 0..9)") != NULL);
  LT_CHECK(ds.images == NULL);
  /* ... which num_classes = 0 does not check. */
  LT_CHECK(lt_idx_load(p2, lp2, 0, &ds) == LT_OK && ds.labels[2] == 13 && ds.info.num_classes == 0);
  lt_image_dataset_free(&ds);

  /* Counts disagree. */
  memcpy(badlab, lab, ll);
  put_be32(badlab + 4, IDX_N - 1);
  write_gz(lp2, badlab, ll - 1);
  CHECK_ERR(lt_idx_load(p2, lp2, 10, &ds), LT_ERR_IO, "holds 7 images but '");
  LT_CHECK(strstr(lt_error_message(), "holds 6 labels") != NULL);
  write_gz(lp2, lab, ll);

  /* Truncated data inside a well-formed gzip stream. */
  write_gz(p2, img, il - 5);
  CHECK_ERR(lt_idx_load(p2, lp2, 10, &ds), LT_ERR_IO, "is truncated: it ends at byte offset 151 of the decompressed data, expected 156 bytes");
  /* A gzip stream cut short. */
  {
    write_gz(p2, img, il);
    FILE *fp = fopen(p2, "rb");
    uint8_t gzbuf[1024];
    size_t gl = fread(gzbuf, 1, sizeof gzbuf, fp);
    fclose(fp);
    write_file(p2, gzbuf, gl - 12);
    CHECK_ERR(lt_idx_load(p2, lp2, 10, &ds), LT_ERR_IO, "t10k-images-idx3-ubyte.gz': gzip stream truncated at byte offset");
    /* cut inside the 8-byte trailer: every data byte is there, the CRC is not */
    write_file(p2, gzbuf, gl - 4);
    CHECK_ERR(lt_idx_load(p2, lp2, 10, &ds), LT_ERR_IO, "t10k-images-idx3-ubyte.gz': gzip stream truncated (CRC missing)");
    /* a CRC that does not match */
    gzbuf[gl - 8] ^= 1;
    write_file(p2, gzbuf, gl);
    CHECK_ERR(lt_idx_load(p2, lp2, 10, &ds), LT_ERR_IO,
              "t10k-images-idx3-ubyte.gz': gzip data is corrupt: incorrect data check (its CRC does not match the data)");
    write_gz(p2, img, il);
  }
  /* Trailing data. */
  {
    uint8_t big[sizeof img + 3];
    memcpy(big, img, il);
    memset(big + il, 0, 3);
    write_gz(p2, big, il + 3);
    CHECK_ERR(lt_idx_load(p2, lp2, 10, &ds), LT_ERR_IO, "has unexpected data after byte offset 156");
    write_gz(p2, img, il);
  }
  /* Plain files: size checked by the probe. */
  write_file(ip, img, il - 20);
  CHECK_ERR(lt_idx_probe(ip, lp, 10, &info), LT_ERR_IO, "is truncated: it ends at byte offset 136, expected 156 bytes");
  LT_CHECK(strstr(lt_error_message(), "idx/train-images-idx3-ubyte'") != NULL);
  write_file(ip, img, 10);
  CHECK_ERR(lt_idx_probe(ip, lp, 10, &info), LT_ERR_IO, "is truncated: it ends at byte offset 10, expected 16 bytes");
  write_file(ip, img, il);
  char nofile[512];
  snprintf(nofile, sizeof nofile, "%s/idx/none", tmpdir);
  CHECK_ERR(lt_idx_probe(nofile, lp, 10, &info), LT_ERR_IO, "cannot open '");
  LT_CHECK(strstr(lt_error_message(), "idx/none': No such file or directory") != NULL);
  LT_CHECK(lt_idx_load(ip, lp, 10, &ds) == LT_OK);
  lt_image_dataset_free(&ds);
}

static void test_fashion_mnist(void) {
  const char *root = "/usr/share/datasets/fashion-mnist";
  char ip[512], lp[512];
  if (access(root, R_OK) != 0) {
    printf("skipped: %s not installed\n", root);
    return;
  }
  static const char *splits[2][2] = {{"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
                                     {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}};
  static const int64_t sizes[2] = {60000, 10000};
  for (int s = 0; s < 2; s++) {
    lt_image_dataset ds;
    LT_CHECK(lt_idx_find(root, splits[s][0], ip, sizeof ip) == LT_OK);
    LT_CHECK(lt_idx_find(root, splits[s][1], lp, sizeof lp) == LT_OK);
    lt_status st = lt_idx_load(ip, lp, 10, &ds);
    if (st != LT_OK) fprintf(stderr, "%s\n", lt_error_message());
    LT_CHECK(st == LT_OK);
    if (st != LT_OK) continue;
    LT_CHECK(ds.info.n == sizes[s] && ds.info.c == 1 && ds.info.h == 28 && ds.info.w == 28);
    int64_t per_class[11] = {0};
    int out_of_range = 0;
    for (int64_t i = 0; i < ds.info.n; i++) {
      if (ds.labels[i] < 1 || ds.labels[i] > 10) out_of_range++;
      else per_class[ds.labels[i]]++;
    }
    LT_CHECK(out_of_range == 0);
    /* Fashion-MNIST is balanced: 6000 / 1000 images per class. */
    for (int k = 1; k <= 10; k++) LT_CHECK(per_class[k] == sizes[s] / 10);
    /* Pixels are not all zero: the data really was decompressed. */
    int64_t sum = 0;
    for (int64_t k = 0; k < 28 * 28; k++) sum += ds.images[k];
    LT_CHECK(sum > 0);
    lt_image_dataset_free(&ds);
  }
}

static void test_classes(void) {
  static const struct {
    const char *name;
    int64_t count;
    const char *first, *last;
    bool sorted;
  } want[] = {
      {"cifar10", 10, "airplane", "truck", true},
      {"cifar100", 100, "apple", "worm", true},
      {"cifar100_coarse", 20, "aquatic_mammals", "vehicles_2", true},
      {"fashion_mnist", 10, "T-shirt/top", "Ankle boot", false},
      {"mnist", 10, "0", "9", true},
  };
  for (size_t t = 0; t < sizeof want / sizeof want[0]; t++) {
    int64_t n;
    const char *const *names = lt_dataset_classes(want[t].name, &n);
    LT_CHECK(names != NULL && n == want[t].count);
    if (!names) continue;
    LT_CHECK(strcmp(names[0], want[t].first) == 0 && strcmp(names[n - 1], want[t].last) == 0);
    /* The CIFAR tables are the alphabetical lists: sorted and distinct. */
    int unsorted = 0;
    for (int64_t k = 1; k < n; k++)
      if (strcmp(names[k - 1], names[k]) >= 0) unsorted++;
    if (want[t].sorted) LT_CHECK(unsorted == 0);
  }
  int64_t n;
  const char *const *c100 = lt_dataset_classes("cifar100", &n);
  LT_CHECK(strcmp(c100[3], "bear") == 0 && strcmp(c100[58], "pickup_truck") == 0 && strcmp(c100[97], "wolf") == 0);
  const char *const *fm = lt_dataset_classes("fashion_mnist", &n);
  LT_CHECK(strcmp(fm[4], "Coat") == 0 && strcmp(fm[8], "Bag") == 0);
  LT_CHECK(lt_dataset_classes("imagenet", &n) == NULL && n == 0);
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/lt_test_readers_XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 2;
  }
  test_cifar10();
  test_cifar100();
  test_idx();
  test_fashion_mnist();
  test_classes();
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
  return lt_test_done();
}
