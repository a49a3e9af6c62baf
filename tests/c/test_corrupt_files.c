/* test_corrupt_files.c — a seeded generator of corrupt files for every
 * format luatrain reads in C (PNG, JPEG, IDX plain and gzipped, CIFAR,
 * safetensors), each fed to its reader through a file as a user's would be.
 *
 * From a valid file of each format it makes: the file cut at every length;
 * every byte with one random bit flipped; and damage aimed at what each
 * format protects (PNG image data with the chunk CRC recomputed, so the
 * zlib checksum must catch it; headers claiming 20000x20000 images or 20
 * IDX images of 65536x65536 in a few bytes; a palette index past the
 * palette; labels out of range; bytes appended). What must hold, case by case:
 *   REFUSE          the reader fails with LT_ERR_IO and a message naming the file;
 *   REFUSE_OR_SAME  that, or it succeeds with exactly the original's output
 *                   (a flip in a field the format ignores): never other data;
 *   NAMED           JPEG data has no checksum, so a flip in it may decode to
 *                   other pixels; a failure must still name the file.
 * No case may take more than 3 seconds; the process must stay under 400 MB
 * (checked without AddressSanitizer, whose shadow memory counts too).
 * LT_CORRUPT_SEED=<n> replays another seed; the seed is printed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <zlib.h>

#include "lt_dataset_readers.h"
#include "lt_image.h"
#include "lt_safetensors.h"
#include "lt_test.h"

static char tmpdir[256];
static uint64_t rng;

static uint32_t rnd(uint32_t n) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(rng >> 33) % n;
}

static void write_file(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || (n && fwrite(p, 1, n, f) != n)) {
    perror(path);
    exit(2);
  }
  fclose(f);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- the harness --------------------------------------------------------- */

enum { REFUSE, REFUSE_OR_SAME, NAMED };

/* Reads the file at `path` (the corrupt one); on success fills *out with
 * the reader's whole output (malloc'd) for the comparison. */
typedef lt_status (*reader_fn)(const char *path, uint8_t **out, size_t *len);

typedef struct {
  const char *format;
  reader_fn read;
  const char *path;          /* where the corrupt bytes go */
  const uint8_t *ref;        /* the valid file's output */
  size_t ref_len;
  int64_t cases, refused, same, other;
} suite;

static double worst_seconds;
static char worst_case[200];

static void run_case(suite *s, int rule, const char *what, const uint8_t *bytes, size_t len) {
  write_file(s->path, bytes, len);
  uint8_t *out = NULL;
  size_t out_len = 0;
  double t0 = now();
  lt_error_clear();
  lt_status st = s->read(s->path, &out, &out_len);
  double dt = now() - t0;
  if (dt > worst_seconds) {
    worst_seconds = dt;
    snprintf(worst_case, sizeof worst_case, "%s: %s", s->format, what);
  }
  s->cases++;
  bool ok;
  if (st != LT_OK) {
    s->refused++;
    ok = strstr(lt_error_message(), s->path) != NULL && (rule == NAMED || st == LT_ERR_IO);
    if (!ok) fprintf(stderr, "%s, %s: status %d, message does not name the file or is not an I/O error: %s\n", s->format,
                     what, (int)st, lt_error_message());
  } else {
    bool same = out_len == s->ref_len && memcmp(out, s->ref, out_len) == 0;
    if (same) s->same++;
    else s->other++;
    ok = rule == NAMED || (rule == REFUSE_OR_SAME && same);
    if (!ok) fprintf(stderr, "%s, %s: accepted%s\n", s->format, what, same ? "" : " with different output");
  }
  LT_CHECK(ok);
  free(out);
}

/* Every cut; every byte with one bit flipped (under flip_rule for the
 * first `checked` bytes, NAMED after them: data no checksum covers); bytes
 * appended. */
static void cuts_and_flips(suite *s, const uint8_t *file, size_t len, size_t checked, int flip_rule, int append_rule) {
  char what[80];
  for (size_t n = 0; n < len; n++) {
    snprintf(what, sizeof what, "cut to %zu of %zu bytes", n, len);
    run_case(s, REFUSE, what, file, n);
  }
  uint8_t *b = malloc(len + 16);
  for (size_t i = 0; i < len; i++) {
    memcpy(b, file, len);
    b[i] ^= (uint8_t)(1u << rnd(8));
    snprintf(what, sizeof what, "byte %zu flipped to 0x%02x", i, b[i]);
    run_case(s, i < checked ? flip_rule : NAMED, what, b, len);
  }
  memcpy(b, file, len);
  for (int k = 0; k < 16; k++) b[len + (size_t)k] = (uint8_t)rnd(256);
  run_case(s, append_rule, "16 bytes appended", b, len + 16);
  free(b);
}

static void report(const suite *s) {
  printf("%-12s %6lld cases: %6lld refused naming the file, %5lld read as the original, %4lld read otherwise\n",
         s->format, (long long)s->cases, (long long)s->refused, (long long)s->same, (long long)s->other);
}

/* ---- images -------------------------------------------------------------- */

enum { IMG_H = 12, IMG_W = 17 };

static lt_status read_image(const char *path, uint8_t **out, size_t *len) {
  *len = 3 * IMG_H * IMG_W;
  *out = malloc(*len);
  return lt_image_decode(path, NULL, IMG_H, IMG_W, *out);
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void put_be32(uint8_t *p, uint32_t v) {
  for (int k = 0; k < 4; k++) p[k] = (uint8_t)(v >> (24 - 8 * k));
}

/* Recomputes the CRC of the chunk starting at `at` (its length field). */
static void fix_crc(uint8_t *png, size_t at) {
  uint32_t n = be32(png + at);
  put_be32(png + at + 8 + n, (uint32_t)crc32(0, png + at + 4, n + 4));
}

static void png_cases(suite *s, const uint8_t *file, size_t len) {
  cuts_and_flips(s, file, len, len, REFUSE_OR_SAME, REFUSE_OR_SAME);
  uint8_t *b = malloc(len);
  char what[80];
  for (size_t at = 8; at + 12 <= len; at += 12 + be32(file + at)) {
    uint32_t n = be32(file + at);
    if (memcmp(file + at + 4, "IDAT", 4) != 0) continue;
    /* damaged image data under a valid CRC: the zlib checksum must catch it */
    for (uint32_t i = 0; i < n; i++) {
      memcpy(b, file, len);
      b[at + 8 + i] ^= (uint8_t)(1u << rnd(8));
      fix_crc(b, at);
      snprintf(what, sizeof what, "IDAT byte %u flipped, CRC recomputed", i);
      run_case(s, REFUSE_OR_SAME, what, b, len);
    }
  }
  /* a bomb: IHDR claims 20000x20000, CRC recomputed */
  memcpy(b, file, len);
  put_be32(b + 16, 20000);
  put_be32(b + 20, 20000);
  fix_crc(b, 8);
  run_case(s, REFUSE, "IHDR claims 20000x20000", b, len);
  LT_CHECK(strstr(lt_error_message(), "the image is 20000x20000 = 400000000 pixels, over the limit") != NULL);
  /* sizes whose product overflows 64-bit signed arithmetic (found by fuzz_png) */
  put_be32(b + 16, 0xf5f5f5f5u);
  put_be32(b + 20, 0xf5f5f5f5u);
  fix_crc(b, 8);
  run_case(s, REFUSE, "IHDR claims 4126537205x4126537205", b, len);
  LT_CHECK(strstr(lt_error_message(), "the image is 4126537205x4126537205 = 17028309304249212025 pixels") != NULL);
  free(b);
}

/* Appends a chunk (length, type, data, CRC) at out + *len. */
static void add_chunk(uint8_t *out, size_t *len, const char *type, const uint8_t *data, uint32_t n) {
  put_be32(out + *len, n);
  memcpy(out + *len + 4, type, 4);
  if (n) memcpy(out + *len + 8, data, n);
  put_be32(out + *len + 8 + n, (uint32_t)crc32(0, out + *len + 4, n + 4));
  *len += 12 + n;
}

/* A 3x1 palette image of 2 colours whose last pixel has index `last`. */
static size_t palette_png(uint8_t *out, uint8_t last) {
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  uint8_t ihdr[13] = {0, 0, 0, 3, 0, 0, 0, 1, 8, 3, 0, 0, 0}, plte[6] = {10, 20, 30, 40, 50, 60};
  uint8_t raw[4] = {0, 0, 1, last}, z[64];
  uLongf zl = sizeof z;
  compress(z, &zl, raw, sizeof raw);
  size_t len = 8;
  memcpy(out, sig, 8);
  add_chunk(out, &len, "IHDR", ihdr, 13);
  add_chunk(out, &len, "PLTE", plte, 6);
  add_chunk(out, &len, "IDAT", z, (uint32_t)zl);
  add_chunk(out, &len, "IEND", NULL, 0);
  return len;
}

static void jpeg_cases(suite *s, const uint8_t *file, size_t len) {
  cuts_and_flips(s, file, len, 0, NAMED, REFUSE_OR_SAME);
  /* a bomb: the frame header claims 20000x20000 (an 862-byte file) */
  uint8_t *b = malloc(len);
  memcpy(b, file, len);
  for (size_t i = 2; i + 9 < len; i++) {
    if (b[i] == 0xff && (b[i + 1] == 0xc0 || b[i + 1] == 0xc2)) {
      b[i + 5] = 20000 >> 8, b[i + 6] = 20000 & 255, b[i + 7] = 20000 >> 8, b[i + 8] = 20000 & 255;
      break;
    }
  }
  run_case(s, REFUSE, "SOF claims 20000x20000", b, len);
  LT_CHECK(strstr(lt_error_message(), "the image is 20000x20000 = 400000000 pixels, over the limit") != NULL);
  free(b);
}

/* ---- IDX and CIFAR ------------------------------------------------------- */

enum { IDX_N = 3, IDX_R = 5, IDX_C = 6 };
static char idx_labels[600];

static lt_status read_idx(const char *path, uint8_t **out, size_t *len) {
  lt_image_dataset ds;
  lt_status st = lt_idx_load(path, idx_labels, 10, &ds);
  if (st != LT_OK) return st;
  size_t ni = (size_t)(ds.info.n * ds.info.h * ds.info.w), nl = (size_t)ds.info.n * sizeof(int64_t);
  *len = ni + nl;
  *out = malloc(*len + 1);
  memcpy(*out, ds.images, ni);
  memcpy(*out + ni, ds.labels, nl);
  lt_image_dataset_free(&ds);
  return LT_OK;
}

static char cifar_root[600];

static lt_status read_cifar(const char *path, uint8_t **out, size_t *len) {
  (void)path;
  lt_image_dataset ds;
  lt_status st = lt_cifar_load(cifar_root, 10, false, false, &ds);
  if (st != LT_OK) return st;
  size_t ni = (size_t)ds.info.n * 3072, nl = (size_t)ds.info.n * sizeof(int64_t);
  *len = ni + nl;
  *out = malloc(*len + 1);
  memcpy(*out, ds.images, ni);
  memcpy(*out + ni, ds.labels, nl);
  lt_image_dataset_free(&ds);
  return LT_OK;
}

/* gzip bytes of data[0..n) (deflate with the gzip wrapper), malloc'd */
static uint8_t *gzip_bytes(const uint8_t *data, size_t n, size_t *out_len) {
  z_stream z;
  memset(&z, 0, sizeof z);
  deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
  size_t cap = deflateBound(&z, n);
  uint8_t *out = malloc(cap);
  z.next_in = (Bytef *)data;
  z.avail_in = (uInt)n;
  z.next_out = out;
  z.avail_out = (uInt)cap;
  deflate(&z, Z_FINISH);
  *out_len = z.total_out;
  deflateEnd(&z);
  return out;
}

static void idx_cases(suite *s, const uint8_t *file, size_t len, bool gz, const uint8_t *plain, size_t plain_len) {
  /* plain: the 16 header bytes are checked, the pixels cannot be; gzip:
   * its CRC covers every byte; trailing bytes after a gzip member are
   * ignored by zlib (as by gunzip), after a plain file refused */
  cuts_and_flips(s, file, len, gz ? len : 16, REFUSE_OR_SAME, gz ? REFUSE_OR_SAME : REFUSE);
  /* the header claims 20 images of 65536x65536 (85 GB) */
  uint8_t *b = malloc(plain_len);
  memcpy(b, plain, plain_len);
  put_be32(b + 4, 20);
  put_be32(b + 8, 65536);
  put_be32(b + 12, 65536);
  size_t zl = 0;
  uint8_t *z = gz ? gzip_bytes(b, plain_len, &zl) : NULL;
  run_case(s, REFUSE, "header claims 20 images of 65536x65536", gz ? z : b, gz ? zl : plain_len);
  free(z);
  free(b);
}

/* ---- safetensors ----------------------------------------------------------- */

static lt_status read_safetensors(const char *path, uint8_t **out, size_t *len) {
  lt_safetensors *st = NULL;
  lt_status s = lt_safetensors_read(path, &st);
  if (s != LT_OK) return s;
  /* the parse as bytes: every name, dtype, shape, data, metadata pair */
  size_t cap = 1 << 16, n = 0;
  uint8_t *p = malloc(cap);
  for (size_t i = 0; i < st->n; i++) {
    const lt_safetensors_entry *e = &st->entries[i];
    n += (size_t)snprintf((char *)p + n, cap - n, "%s|%d|%d|", e->name, (int)e->dtype, e->ndim);
    for (int d = 0; d < e->ndim; d++) n += (size_t)snprintf((char *)p + n, cap - n, "%lld,", (long long)e->shape[d]);
    if (n + e->nbytes < cap) memcpy(p + n, e->data, e->nbytes), n += e->nbytes;
  }
  for (size_t i = 0; i < st->nmeta; i++)
    n += (size_t)snprintf((char *)p + n, cap - n, "%s=%s;", st->meta[i].key, st->meta[i].value);
  lt_safetensors_free(st);
  *out = p;
  *len = n;
  return LT_OK;
}

int main(void) {
  const char *env = getenv("LT_CORRUPT_SEED");
  uint64_t seed = env ? strtoull(env, NULL, 10) : 14;
  rng = seed;
  printf("seed %llu (LT_CORRUPT_SEED=<n> replays another)\n", (unsigned long long)seed);
  snprintf(tmpdir, sizeof tmpdir, "/tmp/lt_test_corrupt_XXXXXX");
  if (!mkdtemp(tmpdir)) return 2;
  char path[1400];

  /* PNG and JPEG from random and smooth pixels */
  uint8_t px[3 * IMG_H * IMG_W];
  for (size_t k = 0; k < sizeof px; k++) px[k] = (uint8_t)rnd(256);
  for (int kind = 0; kind < 2; kind++) {
    bool jpeg = kind == 1;
    if (jpeg)
      for (int c = 0; c < 3; c++)
        for (int y = 0; y < IMG_H; y++)
          for (int x = 0; x < IMG_W; x++) px[(c * IMG_H + y) * IMG_W + x] = (uint8_t)(30 + 7 * x + 5 * y + 40 * c);
    uint8_t *file = NULL;
    size_t len = 0;
    LT_CHECK((jpeg ? lt_image_encode_jpeg(px, 3, IMG_H, IMG_W, 85, &file, &len)
                   : lt_image_encode_png(px, 3, IMG_H, IMG_W, &file, &len)) == LT_OK);
    snprintf(path, sizeof path, "%s/image.%s", tmpdir, jpeg ? "jpg" : "png");
    uint8_t *ref = NULL;
    size_t ref_len = 0;
    write_file(path, file, len);
    LT_CHECK(read_image(path, &ref, &ref_len) == LT_OK);
    suite s = {jpeg ? "JPEG" : "PNG", read_image, path, ref, ref_len, 0, 0, 0, 0};
    if (jpeg) jpeg_cases(&s, file, len);
    else png_cases(&s, file, len);
    report(&s);
    if (!jpeg) {
      /* a palette index past the palette: refused, not read as black */
      uint8_t p[200], out[9];
      write_file(path, p, palette_png(p, 1));
      LT_CHECK(lt_image_decode(path, NULL, 1, 3, out) == LT_OK && out[2] == 40 && out[5] == 50 && out[8] == 60);
      write_file(path, p, palette_png(p, 2));
      LT_CHECK(lt_image_decode(path, NULL, 1, 3, out) == LT_ERR_IO &&
               strstr(lt_error_message(), "image.png': PNG data is corrupt: pixel (2, 0) has palette index 2, past the "
                      "palette's 2 entries") != NULL);
    }
    free(ref);
    free(file);
  }

  /* IDX images, plain and gzipped, beside a valid labels file */
  {
    uint8_t plain[16 + IDX_N * IDX_R * IDX_C], labels[8 + IDX_N];
    put_be32(plain, 0x803);
    put_be32(plain + 4, IDX_N);
    put_be32(plain + 8, IDX_R);
    put_be32(plain + 12, IDX_C);
    for (size_t k = 16; k < sizeof plain; k++) plain[k] = (uint8_t)rnd(256);
    put_be32(labels, 0x801);
    put_be32(labels + 4, IDX_N);
    for (int k = 0; k < IDX_N; k++) labels[8 + k] = (uint8_t)rnd(10);
    snprintf(idx_labels, sizeof idx_labels, "%s/labels-idx1-ubyte", tmpdir);
    write_file(idx_labels, labels, sizeof labels);
    for (int gz = 0; gz < 2; gz++) {
      size_t len = sizeof plain;
      uint8_t *file = gz ? gzip_bytes(plain, sizeof plain, &len) : plain;
      snprintf(path, sizeof path, "%s/images-idx3-ubyte%s", tmpdir, gz ? ".gz" : "");
      write_file(path, file, len);
      uint8_t *ref = NULL;
      size_t ref_len = 0;
      LT_CHECK(read_idx(path, &ref, &ref_len) == LT_OK);
      suite s = {gz ? "IDX gzip" : "IDX plain", read_idx, path, ref, ref_len, 0, 0, 0, 0};
      idx_cases(&s, file, len, gz, plain, sizeof plain);
      report(&s);
      free(ref);
      if (gz) free(file);
    }
    /* a label out of range, in the labels file */
    char images[600];
    snprintf(images, sizeof images, "%s/images-idx3-ubyte", tmpdir);
    write_file(images, plain, sizeof plain);
    labels[8 + 1] = 10;
    write_file(idx_labels, labels, sizeof labels);
    lt_image_dataset ds;
    LT_CHECK(lt_idx_load(images, idx_labels, 10, &ds) == LT_ERR_IO && strstr(lt_error_message(), idx_labels) &&
             strstr(lt_error_message(), "label 10 at byte offset 9") != NULL);
  }

  /* CIFAR-10's test batch */
  {
    snprintf(cifar_root, sizeof cifar_root, "%s/cifar", tmpdir);
    snprintf(path, sizeof path, "mkdir -p '%s'", cifar_root);
    if (system(path) != 0) return 2;
    enum { RECS = 2, REC = 3073 };
    uint8_t *file = malloc(RECS * REC);
    for (int r = 0; r < RECS; r++)
      for (int k = 0; k < REC; k++) file[r * REC + k] = k == 0 ? (uint8_t)rnd(10) : (uint8_t)rnd(256);
    snprintf(path, sizeof path, "%s/test_batch.bin", cifar_root);
    write_file(path, file, RECS * REC);
    uint8_t *ref = NULL;
    size_t ref_len = 0;
    LT_CHECK(read_cifar(path, &ref, &ref_len) == LT_OK);
    suite s = {"CIFAR", read_cifar, path, ref, ref_len, 0, 0, 0, 0};
    char what[80];
    for (size_t n = 0; n < RECS * REC; n += 1 + rnd(97)) {
      snprintf(what, sizeof what, "cut to %zu bytes", n);
      run_case(&s, REFUSE, what, file, n);
    }
    for (int r = 0; r < RECS; r++) {
      uint8_t keep = file[r * REC];
      file[r * REC] = (uint8_t)(10 + rnd(246));
      snprintf(what, sizeof what, "label of record %d out of range", r);
      run_case(&s, REFUSE, what, file, RECS * REC);
      file[r * REC] = keep;
    }
    report(&s);
    free(ref);
    free(file);
  }

  /* safetensors */
  {
    float a[6] = {1, 2, 3, 4, 5, 6};
    int64_t b[2] = {7, -8}, sa[2] = {2, 3}, sb[1] = {2};
    lt_safetensors_tensor ts[2] = {{"a", LT_FLOAT32, 2, sa, a, sizeof a}, {"b.c", LT_INT64, 1, sb, b, sizeof b}};
    lt_safetensors_kv meta[1] = {{"luatrain", "{\"epoch\":\"#i3\"}"}};
    void *file = NULL;
    size_t len = 0;
    LT_CHECK(lt_safetensors_serialize(ts, 2, meta, 1, "x", &file, &len) == LT_OK);
    snprintf(path, sizeof path, "%s/ck.safetensors", tmpdir);
    write_file(path, file, len);
    uint8_t *ref = NULL;
    size_t ref_len = 0;
    LT_CHECK(read_safetensors(path, &ref, &ref_len) == LT_OK);
    suite s = {"safetensors", read_safetensors, path, ref, ref_len, 0, 0, 0, 0};
    /* flips in the tensor data are undetectable (no checksum); the header
     * is checked: a flip there is refused or harmless (a space, say) */
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--) hlen = hlen << 8 | ((uint8_t *)file)[k];
    char what[80];
    for (size_t n = 0; n < len; n++) {
      snprintf(what, sizeof what, "cut to %zu of %zu bytes", n, len);
      run_case(&s, REFUSE, what, file, n);
    }
    uint8_t *c = malloc(len + 16);
    for (size_t i = 0; i < 8 + hlen; i++) {
      memcpy(c, file, len);
      c[i] ^= (uint8_t)(1u << rnd(8));
      snprintf(what, sizeof what, "header byte %zu flipped", i);
      run_case(&s, NAMED, what, c, len);
    }
    memcpy(c, file, len);
    memset(c + len, 0, 16);
    run_case(&s, REFUSE, "16 bytes appended", c, len + 16);
    report(&s);
    free(c);
    free(ref);
    free(file);
  }

  printf("slowest case: %.3f s (%s)\n", worst_seconds, worst_case);
  LT_CHECK(worst_seconds < 3.0);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("peak resident memory: %ld MB\n", ru.ru_maxrss / 1024);
#ifndef __SANITIZE_ADDRESS__
  LT_CHECK(ru.ru_maxrss < 400 * 1024);
#endif
  snprintf(path, sizeof path, "rm -rf '%s'", tmpdir);
  if (system(path) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
  return lt_test_done();
}
