/* fuzz_idx_gz.c — libFuzzer target for the gzip side of the IDX reader:
 * the gzip stream's end, trailer (CRC-32 and length) and damage.
 *
 * The input is 4 control bytes and an images file's decompressed content.
 * The target gzips the content itself, then damages the stream as the
 * control bytes say (none; cut at a position; flip a byte; append bytes;
 * append a second gzip member), and reads both the plain content and the
 * gzipped file beside the same valid labels file. Invariant, beyond no
 * crash and refusals naming the file: whenever the gzipped file is
 * accepted, its images and labels are exactly the plain file's (a damaged
 * stream is never read as other data), and an undamaged stream of content
 * the plain reader accepts is accepted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fuzz_util.h"
#include "lt_dataset_readers.h"

#define MAX_N 4096

/* gzip of data[0..n) (one member) appended to out[*len..cap) */
static void gzip_into(const uint8_t *data, size_t n, int level, uint8_t *out, size_t *len, size_t cap) {
  z_stream z;
  memset(&z, 0, sizeof z);
  fuzz_check(deflateInit2(&z, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) == Z_OK, "deflateInit2");
  z.next_in = (Bytef *)data;
  z.avail_in = (uInt)n;
  z.next_out = out + *len;
  z.avail_out = (uInt)(cap - *len);
  fuzz_check(deflate(&z, Z_FINISH) == Z_STREAM_END, "deflate");
  *len += z.total_out;
  deflateEnd(&z);
}

static lt_status load(const char *images, const char *labels, lt_image_dataset *ds) {
  return lt_idx_load(images, labels, 10, ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char plain[300], gz[300], labels[300];
  static uint8_t lab[8 + MAX_N];
  if (!plain[0]) {
    fuzz_path(plain, sizeof plain, "images-idx3-ubyte");
    fuzz_path(gz, sizeof gz, "images-idx3-ubyte.gz");
    fuzz_path(labels, sizeof labels, "labels-idx1-ubyte");
  }
  if (size < 4) return 0;
  const uint8_t op = data[0] % 5, level = (uint8_t)(data[1] % 10);
  const size_t pos = (size_t)data[2] << 8 | data[3];
  const uint8_t *content = data + 4;
  size_t clen = size - 4;
  uint32_t n = clen >= 8 ? fuzz_be32(content + 4) : 0;
  if (n > MAX_N) n = MAX_N;
  uint32_t hv[2] = {0x801, n};
  for (int k = 0; k < 8; k++) lab[k] = (uint8_t)(hv[k / 4] >> (24 - 8 * (k % 4)));
  for (uint32_t i = 0; i < n; i++) lab[8 + i] = (uint8_t)(i % 10);
  fuzz_write(labels, lab, 8 + n);
  fuzz_write(plain, content, clen);

  size_t cap = 2 * clen + 1024, len = 0;
  uint8_t *z = malloc(cap);
  gzip_into(content, clen, level, z, &len, cap);
  if (op == 1) len = pos % (len + 1);
  else if (op == 2) z[pos % len] ^= (uint8_t)(1 + (pos >> 8) % 255);
  else if (op == 3) memcpy(z + len, content, clen < 16 ? clen : 16), len += clen < 16 ? clen : 16;
  else if (op == 4) gzip_into((const uint8_t *)"extra", 5, 6, z, &len, cap);
  fuzz_write(gz, z, len);
  free(z);

  lt_image_dataset a, b;
  lt_status sa = load(plain, labels, &a);
  lt_status sb = load(gz, labels, &b);
  if (sb != LT_OK) fuzz_check_refusal(sb, gz);
  if (op == 0) fuzz_check((sa == LT_OK) == (sb == LT_OK), "an intact gzip stream reads as its content does");
  if (sa == LT_OK && sb == LT_OK) {
    fuzz_check(a.info.n == b.info.n && a.info.h == b.info.h && a.info.w == b.info.w, "the same shape");
    fuzz_check(memcmp(a.images, b.images, (size_t)(a.info.n * a.info.h * a.info.w)) == 0 &&
                   memcmp(a.labels, b.labels, (size_t)a.info.n * sizeof(int64_t)) == 0,
               "a gzipped file accepted is read as its content");
  }
  fuzz_check(sa == LT_OK || sb != LT_OK || op == 3 || op == 4, "damaged content is never accepted gzipped");
  if (sa == LT_OK) lt_image_dataset_free(&a);
  if (sb == LT_OK) lt_image_dataset_free(&b);
  return 0;
}
