/* lt_dataset_readers.c — CIFAR-10/100 binary and IDX readers and the class
 * name tables (see lt_dataset_readers.h). Files are streamed in chunks
 * straight into the caller's buffers; nothing holds a whole file in memory. */
#include "lt_dataset_readers.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define PATH_CAP 4096
#define CIFAR_PIXELS 3072 /* 3 x 32 x 32 */

void lt_image_dataset_free(lt_image_dataset *ds) {
  if (!ds) return;
  free(ds->images);
  free(ds->labels);
  memset(ds, 0, sizeof *ds);
}

static lt_status check_folder(const char *root) {
  struct stat st;
  if (!root || !*root) return lt_error_set(LT_ERR_ARG, 0, "expected a folder name, got an empty string");
  if (stat(root, &st) != 0) {
    if (errno == ENOENT) return lt_error_set(LT_ERR_IO, 0, "folder '%s' does not exist", root);
    return lt_error_set(LT_ERR_IO, 0, "cannot open folder '%s': %s", root, strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) return lt_error_set(LT_ERR_IO, 0, "'%s' is not a folder", root);
  return LT_OK;
}

static lt_status join_path(char *out, size_t cap, const char *root, const char *name) {
  int len = snprintf(out, cap, "%s/%s", root, name);
  if (len < 0 || (size_t)len >= cap)
    return lt_error_set(LT_ERR_ARG, 0, "path '%s/%s' is too long", root, name);
  return LT_OK;
}

/* Allocates a buffer for the convenience loaders, with the size checked. */
static lt_status alloc_dataset(const lt_dataset_info *info, lt_image_dataset *out) {
  uint64_t per = (uint64_t)info->c * (uint64_t)info->h * (uint64_t)info->w;
  if (info->n > 0 && per > (uint64_t)SIZE_MAX / (uint64_t)info->n)
    return lt_error_set(LT_ERR_OOM, 0, "a dataset of %lld images of %llu bytes does not fit in memory",
                        (long long)info->n, (unsigned long long)per);
  size_t bytes = (size_t)info->n * (size_t)per;
  out->images = malloc(bytes ? bytes : 1);
  out->labels = malloc(info->n ? (size_t)info->n * sizeof(int64_t) : 1);
  if (!out->images || !out->labels) {
    lt_image_dataset_free(out);
    return lt_error_set(LT_ERR_OOM, 0, "out of memory allocating %zu bytes of images", bytes);
  }
  out->info = *info;
  return LT_OK;
}

/* ---- CIFAR ------------------------------------------------------------- */

static const char *const cifar10_train_files[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                                  "data_batch_4.bin", "data_batch_5.bin"};
static const char *const cifar10_test_files[] = {"test_batch.bin"};
static const char *const cifar100_train_files[] = {"train.bin"};
static const char *const cifar100_test_files[] = {"test.bin"};

typedef struct {
  const char *const *files;
  int nfiles;
  int label_bytes;   /* 1 (CIFAR-10) or 2 (coarse, fine) */
  int label_pos;     /* which label byte of the record is returned */
  int num_classes;
} cifar_layout;

static lt_status cifar_layout_of(int version, bool train, bool coarse, cifar_layout *lay) {
  if (version == 10) {
    lay->files = train ? cifar10_train_files : cifar10_test_files;
    lay->nfiles = train ? 5 : 1;
    lay->label_bytes = 1;
    lay->label_pos = 0;
    lay->num_classes = 10;
  } else if (version == 100) {
    lay->files = train ? cifar100_train_files : cifar100_test_files;
    lay->nfiles = 1;
    lay->label_bytes = 2;
    lay->label_pos = coarse ? 0 : 1;
    lay->num_classes = coarse ? 20 : 100;
  } else {
    return lt_error_set(LT_ERR_ARG, 0, "CIFAR version must be 10 or 100, got %d", version);
  }
  return LT_OK;
}

/* Number of records in one CIFAR file, from its size. */
static lt_status cifar_file_records(const char *path, int64_t record, int64_t *count) {
  struct stat st;
  if (stat(path, &st) != 0) return lt_error_set(LT_ERR_IO, 0, "cannot open '%s': %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return lt_error_set(LT_ERR_IO, 0, "'%s' is not a regular file", path);
  int64_t size = (int64_t)st.st_size;
  if (size == 0) return lt_error_set(LT_ERR_IO, 0, "file '%s' is empty, expected records of %lld bytes", path,
                                     (long long)record);
  if (size % record != 0)
    return lt_error_set(LT_ERR_IO, 0,
                        "file '%s' is %lld bytes, expected a multiple of %lld (the record at byte offset %lld is truncated)",
                        path, (long long)size, (long long)record, (long long)(size / record * record));
  *count = size / record;
  return LT_OK;
}

lt_status lt_cifar_probe(const char *root, int version, bool train, bool coarse, lt_dataset_info *info) {
  cifar_layout lay = {0};
  char path[PATH_CAP];
  LT_TRY(cifar_layout_of(version, train, coarse, &lay));
  LT_TRY(check_folder(root));
  int64_t record = lay.label_bytes + CIFAR_PIXELS, total = 0;
  for (int f = 0; f < lay.nfiles; f++) {
    int64_t count = 0;
    LT_TRY(join_path(path, sizeof path, root, lay.files[f]));
    LT_TRY(cifar_file_records(path, record, &count));
    total += count;
  }
  info->n = total;
  info->c = 3;
  info->h = 32;
  info->w = 32;
  info->num_classes = lay.num_classes;
  return LT_OK;
}

/* Reads one CIFAR file's records into images/labels starting at record
 * `first`; `limit` is the number of records the caller's buffers hold. */
static lt_status cifar_read_file(const char *path, const cifar_layout *lay, int64_t first, int64_t limit,
                                 uint8_t *images, int64_t *labels, int64_t *nread) {
  enum { CHUNK = 256 };
  const int64_t record = lay->label_bytes + CIFAR_PIXELS;
  int64_t count;
  LT_TRY(cifar_file_records(path, record, &count));
  if (first + count > limit)
    return lt_error_set(LT_ERR_IO, 0, "'%s' holds %lld records, more than when the dataset was probed", path,
                        (long long)count);
  FILE *fp = fopen(path, "rb");
  if (!fp) return lt_error_set(LT_ERR_IO, 0, "cannot open '%s': %s", path, strerror(errno));
  uint8_t *buf = malloc((size_t)(CHUNK * record));
  if (!buf) {
    fclose(fp);
    return lt_error_set(LT_ERR_OOM, 0, "out of memory reading '%s'", path);
  }
  lt_status st = LT_OK;
  for (int64_t r0 = 0; r0 < count && st == LT_OK; r0 += CHUNK) {
    int64_t nrec = count - r0 < CHUNK ? count - r0 : CHUNK;
    size_t got = fread(buf, 1, (size_t)(nrec * record), fp);
    if (got != (size_t)(nrec * record)) {
      st = lt_error_set(LT_ERR_IO, 0, "file '%s' is truncated at byte offset %lld (expected %lld bytes)", path,
                        (long long)(r0 * record + (int64_t)got), (long long)(count * record));
      break;
    }
    for (int64_t r = 0; r < nrec; r++) {
      const uint8_t *rec = buf + r * record;
      int64_t off = (r0 + r) * record;
      /* CIFAR-100 records carry both labels; a bad one means a corrupt file
       * whichever of the two was asked for. */
      if (lay->label_bytes == 2 && rec[0] >= 20) {
        st = lt_error_set(LT_ERR_IO, 0, "coarse label %d at byte offset %lld of '%s' is out of range (expected 0..19)",
                          rec[0], (long long)off, path);
        break;
      }
      if (lay->label_bytes == 2 && rec[1] >= 100) {
        st = lt_error_set(LT_ERR_IO, 0, "fine label %d at byte offset %lld of '%s' is out of range (expected 0..99)",
                          rec[1], (long long)(off + 1), path);
        break;
      }
      if (lay->label_bytes == 1 && rec[0] >= 10) {
        st = lt_error_set(LT_ERR_IO, 0, "label %d at byte offset %lld of '%s' is out of range (expected 0..9)", rec[0],
                          (long long)off, path);
        break;
      }
      labels[first + r0 + r] = (int64_t)rec[lay->label_pos] + 1;
      memcpy(images + (size_t)(first + r0 + r) * CIFAR_PIXELS, rec + lay->label_bytes, CIFAR_PIXELS);
    }
  }
  free(buf);
  fclose(fp);
  if (st == LT_OK) *nread = count;
  return st;
}

lt_status lt_cifar_read(const char *root, int version, bool train, bool coarse, const lt_dataset_info *info,
                        uint8_t *images, int64_t *labels) {
  cifar_layout lay = {0};
  char path[PATH_CAP];
  LT_TRY(cifar_layout_of(version, train, coarse, &lay));
  LT_TRY(check_folder(root));
  if (!info || info->n < 0 || (info->n > 0 && (!images || !labels)))
    return lt_error_set(LT_ERR_ARG, 0, "lt_cifar_read needs the probed info and both buffers");
  int64_t done = 0;
  for (int f = 0; f < lay.nfiles; f++) {
    int64_t count = 0;
    LT_TRY(join_path(path, sizeof path, root, lay.files[f]));
    LT_TRY(cifar_read_file(path, &lay, done, info->n, images, labels, &count));
    done += count;
  }
  if (done != info->n)
    return lt_error_set(LT_ERR_IO, 0, "CIFAR folder '%s' holds %lld images, %lld when it was probed", root,
                        (long long)done, (long long)info->n);
  return LT_OK;
}

lt_status lt_cifar_load(const char *root, int version, bool train, bool coarse, lt_image_dataset *out) {
  lt_dataset_info info = {0};
  memset(out, 0, sizeof *out);
  LT_TRY(lt_cifar_probe(root, version, train, coarse, &info));
  LT_TRY(alloc_dataset(&info, out));
  lt_status st = lt_cifar_read(root, version, train, coarse, &info, out->images, out->labels);
  if (st != LT_OK) lt_image_dataset_free(out);
  return st;
}

/* ---- IDX --------------------------------------------------------------- */

#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u

lt_status lt_idx_find(const char *root, const char *name, char *path, size_t cap) {
  char gz[PATH_CAP];
  struct stat st;
  LT_TRY(check_folder(root));
  LT_TRY(join_path(path, cap, root, name));
  if (stat(path, &st) == 0) return LT_OK;
  int len = snprintf(gz, sizeof gz, "%s.gz", path);
  if (len < 0 || (size_t)len >= sizeof gz || (size_t)len >= cap)
    return lt_error_set(LT_ERR_ARG, 0, "path '%s.gz' is too long", path);
  if (stat(gz, &st) == 0) {
    memcpy(path, gz, (size_t)len + 1);
    return LT_OK;
  }
  return lt_error_set(LT_ERR_IO, 0, "cannot find '%s' or '%s.gz'", path, path);
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

typedef struct {
  gzFile gz;
  const char *path;
  int64_t pos;        /* bytes of (decompressed) data consumed so far */
} idx_file;

static lt_status idx_open(idx_file *f, const char *path) {
  f->path = path;
  f->pos = 0;
  errno = 0;
  f->gz = gzopen(path, "rb");
  if (!f->gz) {
    if (errno) return lt_error_set(LT_ERR_IO, 0, "cannot open '%s': %s", path, strerror(errno));
    return lt_error_set(LT_ERR_OOM, 0, "cannot open '%s': out of memory", path);
  }
  gzbuffer(f->gz, 1 << 17);
  return LT_OK;
}

static void idx_close(idx_file *f) {
  if (f->gz) gzclose(f->gz);
  f->gz = NULL;
}

/* The suffix that says which kind of offset a message is about. */
static const char *offset_kind(const idx_file *f) {
  return gzdirect(f->gz) ? "" : " of the decompressed data";
}

/* A gzip stream that zlib found damaged: a failed CRC or a bad block
 * (gzread returned -1). */
static lt_status gz_corrupt(const idx_file *f) {
  int errnum;
  const char *msg = gzerror(f->gz, &errnum);
  size_t plen = strlen(f->path);
  if (strncmp(msg, f->path, plen) == 0 && msg[plen] == ':' && msg[plen + 1] == ' ') msg += plen + 2; /* zlib's "path: " */
  if (errnum == Z_MEM_ERROR) return lt_error_set(LT_ERR_OOM, 0, "'%s': out of memory decompressing it", f->path);
  /* zlib decompresses ahead of what was asked for, so no offset is given */
  return lt_error_set(LT_ERR_IO, 0, "'%s': gzip data is corrupt: %s%s", f->path, msg,
                      strstr(msg, "incorrect data check") ? " (its CRC does not match the data)"
                      : strstr(msg, "incorrect length check") ? " (its length does not match the data)" : "");
}

/* Whether a gzread that returned 0 stopped because the compressed file
 * ended inside a gzip stream (zlib: Z_BUF_ERROR, "unexpected end of
 * file") rather than at its end. */
static bool gz_cut(const idx_file *f) {
  int errnum;
  gzerror(f->gz, &errnum);
  return errnum == Z_BUF_ERROR;
}

/* Reads exactly len bytes; `expected` is the file's total expected size,
 * for the message when it ends early. */
static lt_status idx_read_exact(idx_file *f, void *dst, int64_t len, int64_t expected) {
  uint8_t *p = dst;
  while (len > 0) {
    unsigned chunk = len > (1 << 30) ? (1u << 30) : (unsigned)len;
    int got = gzread(f->gz, p, chunk);
    if (got < 0) return gz_corrupt(f);
    if (got == 0 && gz_cut(f))
      return lt_error_set(LT_ERR_IO, 0, "'%s': gzip stream truncated at byte offset %lld%s, expected %lld bytes",
                          f->path, (long long)f->pos, offset_kind(f), (long long)expected);
    if (got == 0)
      return lt_error_set(LT_ERR_IO, 0, "'%s' is truncated: it ends at byte offset %lld%s, expected %lld bytes",
                          f->path, (long long)f->pos, offset_kind(f), (long long)expected);
    p += got;
    len -= got;
    f->pos += got;
  }
  return LT_OK;
}

/* After the last expected byte the stream must end, and a gzip stream with
 * its trailer (CRC-32 and length), which zlib checks when it reaches it. */
static lt_status idx_expect_end(idx_file *f) {
  uint8_t extra;
  int got = gzread(f->gz, &extra, 1);
  if (got < 0) return gz_corrupt(f);
  if (got == 0 && gz_cut(f))
    return lt_error_set(LT_ERR_IO, 0, "'%s': gzip stream truncated (CRC missing): the data is complete but the file "
                        "ends before the gzip trailer", f->path);
  if (got > 0)
    return lt_error_set(LT_ERR_IO, 0, "'%s' has unexpected data after byte offset %lld%s (expected exactly %lld bytes)",
                        f->path, (long long)f->pos, offset_kind(f), (long long)f->pos);
  return LT_OK;
}

typedef struct {
  int64_t n, rows, cols; /* rows = cols = 0 for a labels file */
  int64_t bytes;         /* header + data, the whole (decompressed) file */
} idx_header;

static lt_status idx_read_header(idx_file *f, bool images, idx_header *h) {
  uint8_t hdr[16];
  int hdr_len = images ? 16 : 8;
  uint32_t want = images ? IDX_IMAGES_MAGIC : IDX_LABELS_MAGIC;
  LT_TRY(idx_read_exact(f, hdr, 4, hdr_len));
  uint32_t magic = be32(hdr);
  if (magic != want)
    return lt_error_set(LT_ERR_IO, 0, "bad magic number 0x%08x at offset 0 of '%s' (expected 0x%08x, an IDX %s file)",
                        magic, f->path, want, images ? "images" : "labels");
  LT_TRY(idx_read_exact(f, hdr + 4, hdr_len - 4, hdr_len));
  int64_t dims[3] = {0, 0, 0};
  for (int d = 0; d < (images ? 3 : 1); d++) {
    uint32_t v = be32(hdr + 4 + 4 * d);
    if (v > INT32_MAX || (d > 0 && v == 0))
      return lt_error_set(LT_ERR_IO, 0, "bad dimension %u at byte offset %d of '%s'", v, 4 + 4 * d, f->path);
    dims[d] = v;
  }
  h->n = dims[0];
  h->rows = dims[1];
  h->cols = dims[2];
  uint64_t per = images ? (uint64_t)h->rows * (uint64_t)h->cols : 1;
  if (per > (1ull << 40) || (h->n > 0 && per > (1ull << 62) / (uint64_t)h->n))
    return lt_error_set(LT_ERR_IO, 0, "dimensions %lld x %lld x %lld in '%s' are too large", (long long)h->n,
                        (long long)h->rows, (long long)h->cols, f->path);
  h->bytes = hdr_len + h->n * (int64_t)per;
  /* A plain file's size is known up front; a gzipped one is checked as it
   * is read, but it cannot hold more than deflate's best ratio (1032:1)
   * allows, which refuses a header claiming gigabytes in a small file
   * before anything is allocated for them. */
  struct stat st;
  if (!gzdirect(f->gz) && stat(f->path, &st) == 0 && (uint64_t)h->bytes > (uint64_t)st.st_size * 1032u + 1024u) {
    char dims[64] = "";
    if (images) snprintf(dims, sizeof dims, " of %lldx%lld", (long long)h->rows, (long long)h->cols);
    return lt_error_set(LT_ERR_IO, 0,
                        "'%s': the header claims %lld %s%s (%lld bytes), more than a gzip file of %lld bytes can hold "
                        "(at most about %llu): the header is corrupt or the file truncated",
                        f->path, (long long)h->n, images ? "images" : "labels", dims, (long long)h->bytes,
                        (long long)st.st_size, (unsigned long long)st.st_size * 1032u);
  }
  if (gzdirect(f->gz)) {
    if (stat(f->path, &st) == 0 && (int64_t)st.st_size != h->bytes) {
      if ((int64_t)st.st_size < h->bytes)
        return lt_error_set(LT_ERR_IO, 0, "'%s' is truncated: it ends at byte offset %lld, expected %lld bytes",
                            f->path, (long long)st.st_size, (long long)h->bytes);
      return lt_error_set(LT_ERR_IO, 0, "'%s' has unexpected data after byte offset %lld (expected exactly %lld bytes)",
                          f->path, (long long)h->bytes, (long long)h->bytes);
    }
  }
  return LT_OK;
}

/* Opens both files and reads and cross-checks their headers. */
static lt_status idx_open_pair(const char *images_path, const char *labels_path, idx_file *fi, idx_file *fl,
                               idx_header *hi, idx_header *hl) {
  fi->gz = fl->gz = NULL;
  if (!images_path || !labels_path) return lt_error_set(LT_ERR_ARG, 0, "expected an images and a labels path");
  lt_status st = idx_open(fi, images_path);
  if (st == LT_OK) st = idx_read_header(fi, true, hi);
  if (st == LT_OK) st = idx_open(fl, labels_path);
  if (st == LT_OK) st = idx_read_header(fl, false, hl);
  if (st == LT_OK && hi->n != hl->n)
    st = lt_error_set(LT_ERR_IO, 0, "'%s' holds %lld images but '%s' holds %lld labels", images_path,
                      (long long)hi->n, labels_path, (long long)hl->n);
  if (st != LT_OK) {
    idx_close(fi);
    idx_close(fl);
  }
  return st;
}

lt_status lt_idx_probe(const char *images_path, const char *labels_path, int64_t num_classes, lt_dataset_info *info) {
  idx_file fi, fl;
  idx_header hi = {0}, hl = {0};
  if (num_classes < 0 || num_classes > 256)
    return lt_error_set(LT_ERR_ARG, 0, "num_classes must be in 0..256 for IDX labels, got %lld", (long long)num_classes);
  LT_TRY(idx_open_pair(images_path, labels_path, &fi, &fl, &hi, &hl));
  idx_close(&fi);
  idx_close(&fl);
  info->n = hi.n;
  info->c = 1;
  info->h = hi.rows;
  info->w = hi.cols;
  info->num_classes = num_classes;
  return LT_OK;
}

lt_status lt_idx_read(const char *images_path, const char *labels_path, const lt_dataset_info *info, uint8_t *images,
                      int64_t *labels) {
  idx_file fi, fl;
  idx_header hi = {0}, hl = {0};
  if (!info || info->n < 0 || (info->n > 0 && (!images || !labels)))
    return lt_error_set(LT_ERR_ARG, 0, "lt_idx_read needs the probed info and both buffers");
  LT_TRY(idx_open_pair(images_path, labels_path, &fi, &fl, &hi, &hl));
  lt_status st = LT_OK;
  if (hi.n != info->n || hi.rows != info->h || hi.cols != info->w || info->c != 1)
    st = lt_error_set(LT_ERR_IO, 0, "'%s' holds %lld images of %lldx%lld, not what was probed", images_path,
                      (long long)hi.n, (long long)hi.rows, (long long)hi.cols);
  if (st == LT_OK) st = idx_read_exact(&fi, images, hi.bytes - 16, hi.bytes);
  if (st == LT_OK) st = idx_expect_end(&fi);
  uint8_t buf[1 << 15];
  for (int64_t i0 = 0; i0 < hl.n && st == LT_OK; i0 += (int64_t)sizeof buf) {
    int64_t m = hl.n - i0 < (int64_t)sizeof buf ? hl.n - i0 : (int64_t)sizeof buf;
    st = idx_read_exact(&fl, buf, m, hl.bytes);
    for (int64_t i = 0; i < m && st == LT_OK; i++) {
      if (info->num_classes > 0 && buf[i] >= info->num_classes)
        st = lt_error_set(LT_ERR_IO, 0, "label %d at byte offset %lld of '%s' is out of range (expected 0..%lld)",
                          buf[i], (long long)(8 + i0 + i), labels_path, (long long)(info->num_classes - 1));
      labels[i0 + i] = (int64_t)buf[i] + 1;
    }
  }
  if (st == LT_OK) st = idx_expect_end(&fl);
  idx_close(&fi);
  idx_close(&fl);
  return st;
}

lt_status lt_idx_load(const char *images_path, const char *labels_path, int64_t num_classes, lt_image_dataset *out) {
  lt_dataset_info info = {0};
  memset(out, 0, sizeof *out);
  LT_TRY(lt_idx_probe(images_path, labels_path, num_classes, &info));
  LT_TRY(alloc_dataset(&info, out));
  lt_status st = lt_idx_read(images_path, labels_path, &info, out->images, out->labels);
  if (st != LT_OK) lt_image_dataset_free(out);
  return st;
}

/* ---- class names ------------------------------------------------------- */

static const char *const cifar10_classes[] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                              "dog",      "frog",       "horse", "ship", "truck"};

static const char *const cifar100_classes[] = {
    "apple",       "aquarium_fish", "baby",         "bear",       "beaver",      "bed",        "bee",
    "beetle",      "bicycle",       "bottle",       "bowl",       "boy",         "bridge",     "bus",
    "butterfly",   "camel",         "can",          "castle",     "caterpillar", "cattle",     "chair",
    "chimpanzee",  "clock",         "cloud",        "cockroach",  "couch",       "crab",       "crocodile",
    "cup",         "dinosaur",      "dolphin",      "elephant",   "flatfish",    "forest",     "fox",
    "girl",        "hamster",       "house",        "kangaroo",   "keyboard",    "lamp",       "lawn_mower",
    "leopard",     "lion",          "lizard",       "lobster",    "man",         "maple_tree", "motorcycle",
    "mountain",    "mouse",         "mushroom",     "oak_tree",   "orange",      "orchid",     "otter",
    "palm_tree",   "pear",          "pickup_truck", "pine_tree",  "plain",       "plate",      "poppy",
    "porcupine",   "possum",        "rabbit",       "raccoon",    "ray",         "road",       "rocket",
    "rose",        "sea",           "seal",         "shark",      "shrew",       "skunk",      "skyscraper",
    "snail",       "snake",         "spider",       "squirrel",   "streetcar",   "sunflower",  "sweet_pepper",
    "table",       "tank",          "telephone",    "television", "tiger",       "tractor",    "train",
    "trout",       "tulip",         "turtle",       "wardrobe",   "whale",       "willow_tree", "wolf",
    "woman",       "worm"};

static const char *const cifar100_coarse_classes[] = {"aquatic_mammals",
                                                      "fish",
                                                      "flowers",
                                                      "food_containers",
                                                      "fruit_and_vegetables",
                                                      "household_electrical_devices",
                                                      "household_furniture",
                                                      "insects",
                                                      "large_carnivores",
                                                      "large_man-made_outdoor_things",
                                                      "large_natural_outdoor_scenes",
                                                      "large_omnivores_and_herbivores",
                                                      "medium_mammals",
                                                      "non-insect_invertebrates",
                                                      "people",
                                                      "reptiles",
                                                      "small_mammals",
                                                      "trees",
                                                      "vehicles_1",
                                                      "vehicles_2"};

static const char *const fashion_mnist_classes[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

static const char *const mnist_classes[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

#define COUNT_OF(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))

const char *const *lt_dataset_classes(const char *name, int64_t *count) {
  static const struct {
    const char *name;
    const char *const *table;
    int64_t count;
  } tables[] = {
      {"cifar10", cifar10_classes, COUNT_OF(cifar10_classes)},
      {"cifar100", cifar100_classes, COUNT_OF(cifar100_classes)},
      {"cifar100_coarse", cifar100_coarse_classes, COUNT_OF(cifar100_coarse_classes)},
      {"fashion_mnist", fashion_mnist_classes, COUNT_OF(fashion_mnist_classes)},
      {"mnist", mnist_classes, COUNT_OF(mnist_classes)},
  };
  for (size_t i = 0; name && i < sizeof tables / sizeof tables[0]; i++) {
    if (strcmp(name, tables[i].name) == 0) {
      *count = tables[i].count;
      return tables[i].table;
    }
  }
  *count = 0;
  return NULL;
}
