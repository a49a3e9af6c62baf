/* test_safetensors.c — the safetensors reader/writer and atomic file
 * replacement: round trips of every dtype, reading a file written by
 * PyTorch's safetensors, corrupt inputs rejected with precise messages,
 * writer argument checks, that a failed write leaves the old file alone,
 * and that only dead writers' temporaries are cleaned up. Files go to a fresh folder under $TMPDIR (or /tmp), removed at the end. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lt_atomic_file.h"
#include "lt_safetensors.h"
#include "lt_test.h"

#ifndef LT_SOURCE_DIR
#define LT_SOURCE_DIR "."
#endif

static char dir[256];

/* A path in the test folder; each call site gets its own buffer, so paths
 * stay valid while others are made. */
#define TMP_PATH(var, name) char var[512]; snprintf(var, sizeof var, "%s/%s", dir, name)

static int write_file(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return 0;
  int ok = fwrite(p, 1, n, f) == n;
  return fclose(f) == 0 && ok;
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = malloc(1 << 16);
  *len = fread(buf, 1, 1 << 16, f);
  fclose(f);
  return buf;
}

/* Files in the test folder whose name contains ".tmp." (left-over temporaries). */
static int count_temporaries(void) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));)
    if (strstr(e->d_name, ".tmp.")) n++;
  if (d) closedir(d);
  return n;
}

static int has(const char *msg, const char *words) { return strstr(msg, words) != NULL; }

/* ---------------------------------------------------------------- round trip */

static void test_round_trip(void) {
  float f32[6] = {1.5f, -2, 3.25f, 0, 1e-30f, -7};
  double f64[3] = {3.141592653589793, -1e300, 0.1};
  int64_t i64[2] = {INT64_MIN, 1234567890123LL};
  int32_t i32[4] = {-1, 2, INT32_MAX, 0};
  uint8_t u8[5] = {0, 1, 127, 128, 255};
  uint8_t bl[3] = {1, 0, 1};
  uint16_t bf16[2] = {lt_f32_to_bf16(1.0f), lt_f32_to_bf16(-3.5f)};
  uint16_t f16[3] = {lt_f32_to_f16(0.5f), lt_f32_to_f16(65504.0f), lt_f32_to_f16(-2.0f)};
  double scalar = 42.0;
  int64_t s23[] = {2, 3}, s3[] = {3}, s2[] = {2}, s4[] = {4}, s5[] = {5}, s111[] = {1, 1, 3}, s03[] = {0, 3},
          s2x1[] = {2, 1};
  lt_safetensors_tensor ts[] = {
      {"w.f32", LT_FLOAT32, 2, s23, f32, sizeof f32},
      {"w.f64", LT_FLOAT64, 1, s3, f64, sizeof f64},
      {"i64", LT_INT64, 1, s2, i64, sizeof i64},
      {"i32", LT_INT32, 2, s2x1, i32, 8}, /* the first two elements only */
      {"u8", LT_UINT8, 1, s5, u8, sizeof u8},
      {"mask", LT_BOOL, 3, s111, bl, sizeof bl},
      {"bf16", LT_BFLOAT16, 1, s2, bf16, sizeof bf16},
      {"f16", LT_FLOAT16, 1, s3, f16, sizeof f16},
      {"scalar", LT_FLOAT64, 0, NULL, &scalar, 8},
      {"empty", LT_FLOAT32, 2, s03, NULL, 0},
      {"i32.all", LT_INT32, 1, s4, i32, sizeof i32},
      {"quote\"and\\slash\n\xc3\xa9", LT_UINT8, 0, NULL, u8 + 4, 1},
  };
  size_t n = sizeof ts / sizeof *ts;
  lt_safetensors_kv meta[] = {{"format", "pt"}, {"epoch", "3"}, {"note", "tab\there \"q\""}};
  TMP_PATH(path, "rt.safetensors");
  LT_CHECK(lt_safetensors_write(path, ts, n, meta, 3) == LT_OK);
  LT_CHECK(count_temporaries() == 0);

  /* The header is padded so the data section starts at a multiple of 8. */
  size_t flen;
  char *raw = slurp(path, &flen);
  LT_CHECK(raw != NULL && flen >= 8);
  uint64_t hlen = 0;
  for (int i = 7; raw && i >= 0; i--) hlen = (hlen << 8) | (unsigned char)raw[i];
  LT_CHECK(hlen % 8 == 0);
  LT_CHECK(raw && raw[8] == '{');
  size_t pad = 0;
  while (raw && pad < hlen && raw[8 + hlen - 1 - pad] == ' ') pad++;
  LT_CHECK(pad < 8 && raw && raw[8 + hlen - 1 - pad] == '}'); /* padded with spaces only */
  free(raw);

  lt_safetensors *st = NULL;
  LT_CHECK(lt_safetensors_read(path, &st) == LT_OK);
  if (!st) { fprintf(stderr, "%s\n", lt_error_message()); return; }
  LT_CHECK(st->n == n);
  size_t off = 0;
  for (size_t i = 0; i < n && i < st->n; i++) {
    const lt_safetensors_entry *e = &st->entries[i];
    LT_CHECK(strcmp(e->name, ts[i].name) == 0); /* file order = given order */
    LT_CHECK(e->dtype == ts[i].dtype);
    LT_CHECK(e->ndim == ts[i].ndim);
    for (int d = 0; d < e->ndim; d++) LT_CHECK(e->shape[d] == ts[i].shape[d]);
    LT_CHECK(e->nbytes == ts[i].nbytes);
    LT_CHECK(e->nbytes == 0 || memcmp(e->data, ts[i].data, e->nbytes) == 0);
    LT_CHECK(e->data_offset == off);
    LT_CHECK(((uintptr_t)e->data - e->data_offset) % 64 == 0); /* data section aligned */
    off += e->nbytes;
    LT_CHECK(lt_safetensors_find(st, ts[i].name) == e);
  }
  LT_CHECK(lt_safetensors_find(st, "nope") == NULL);
  const lt_safetensors_entry *e = lt_safetensors_find(st, "w.f64");
  LT_CHECK(e && ((const double *)e->data)[0] == 3.141592653589793);
  e = lt_safetensors_find(st, "bf16");
  LT_CHECK(e && lt_bf16_to_f32(((const uint16_t *)e->data)[1]) == -3.5f);
  e = lt_safetensors_find(st, "scalar");
  double sc = 0; /* after the odd-sized uint8 tensors: not 8-aligned, so copy */
  if (e && e->nbytes == 8) memcpy(&sc, e->data, 8);
  LT_CHECK(e && e->ndim == 0 && sc == 42.0);
  e = lt_safetensors_find(st, "empty");
  LT_CHECK(e && e->ndim == 2 && e->shape[0] == 0 && e->shape[1] == 3 && e->nbytes == 0);
  LT_CHECK(st->nmeta == 3);
  LT_CHECK(st->nmeta == 3 && strcmp(st->meta[1].key, "epoch") == 0 && strcmp(st->meta[1].value, "3") == 0);
  const char *note = lt_safetensors_meta_get(st, "note");
  LT_CHECK(note && strcmp(note, "tab\there \"q\"") == 0);
  LT_CHECK(lt_safetensors_meta_get(st, "missing") == NULL);
  lt_safetensors_free(st);

  /* Overwriting replaces the contents; no tensors and no metadata is valid. */
  LT_CHECK(lt_safetensors_write(path, NULL, 0, NULL, 0) == LT_OK);
  st = NULL;
  LT_CHECK(lt_safetensors_read(path, &st) == LT_OK && st && st->n == 0 && st->nmeta == 0);
  lt_safetensors_free(st);

  /* serialize gives the same bytes as write. */
  LT_CHECK(lt_safetensors_write(path, ts, n, meta, 3) == LT_OK);
  void *buf = NULL;
  size_t blen = 0;
  LT_CHECK(lt_safetensors_serialize(ts, n, meta, 3, "mem", &buf, &blen) == LT_OK);
  raw = slurp(path, &flen);
  LT_CHECK(raw && buf && flen == blen && memcmp(raw, buf, blen) == 0);
  free(raw);
  free(buf);
  unlink(path);
}

/* ---------------------------------------------------- a file PyTorch wrote */

static void test_golden(void) {
  lt_safetensors *st = NULL;
  /* ctest may run us from the build folder: look upwards too. */
  const char *prefixes[] = {LT_SOURCE_DIR, ".", "..", "../.."};
  char path[512];
  for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
    snprintf(path, sizeof path, "%s/tests/golden/ops_golden.safetensors", prefixes[i]);
    if (access(path, R_OK) == 0) break;
  }
  lt_status s = lt_safetensors_read(path, &st);
  LT_CHECK(s == LT_OK);
  if (s != LT_OK) { fprintf(stderr, "%s\n", lt_error_message()); return; }
  LT_CHECK(st->n == 97);
  for (size_t i = 0; i < 5 && i < st->n; i++) printf("  %s %s ndim=%d\n", st->entries[i].name,
                                                    lt_dtype_st_name(st->entries[i].dtype), st->entries[i].ndim);
  /* Entries come in data order: the first is at offset 0. */
  LT_CHECK(st->n > 0 && st->entries[0].data_offset == 0 && strcmp(st->entries[0].name, "conv2d.k1s2p0.cfg") == 0);
  const lt_safetensors_entry *e = lt_safetensors_find(st, "linear.x");
  LT_CHECK(e && e->dtype == LT_FLOAT32 && e->ndim == 2 && e->shape[0] == 5 && e->shape[1] == 7);
  LT_CHECK(e && e->data_offset == 170660 && e->nbytes == 140);
  float x0;
  if (e) memcpy(&x0, e->data, 4);
  LT_CHECK(e && x0 == -0.724787175655365f);
  e = lt_safetensors_find(st, "conv2d.k3s1p1.x");
  LT_CHECK(e && e->dtype == LT_FLOAT32 && e->ndim == 4 && e->shape[0] == 2 && e->shape[1] == 3 &&
           e->shape[2] == 9 && e->shape[3] == 9);
  e = lt_safetensors_find(st, "conv2d.k3s1p1.cfg");
  LT_CHECK(e && e->dtype == LT_INT64 && e->ndim == 1 && e->shape[0] == 11);
  if (e) {
    const int64_t want[11] = {2, 3, 8, 9, 9, 3, 1, 1, 0, 1, 1};
    LT_CHECK(memcmp(e->data, want, sizeof want) == 0);
  }
  e = lt_safetensors_find(st, "avgpool_global.y");
  LT_CHECK(e && e->dtype == LT_FLOAT64 && e->ndim == 4 && e->shape[1] == 3 && e->shape[2] == 1);
  const char *note = lt_safetensors_meta_get(st, "note");
  LT_CHECK(note && has(note, "PyTorch float64 references"));
  lt_safetensors_free(st);
}

/* ----------------------------------------------------------- corrupt input */

/* A file image: length prefix, `hdr` verbatim, then `ndata` zero bytes. */
static unsigned char *image(const char *hdr, size_t ndata, size_t *len) {
  size_t h = strlen(hdr);
  *len = 8 + h + ndata;
  unsigned char *p = calloc(1, *len);
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)((uint64_t)h >> (8 * i));
  memcpy(p + 8, hdr, h);
  return p;
}

static void expect_bad(const char *hdr, size_t ndata, const char *w1, const char *w2) {
  size_t len;
  unsigned char *p = image(hdr, ndata, &len);
  lt_safetensors *st = (lt_safetensors *)1;
  lt_status s = lt_safetensors_parse(p, len, "x.safetensors", &st);
  const char *m = lt_error_message();
  int ok = s == LT_ERR_IO && st == NULL && has(m, "'x.safetensors': ") && has(m, w1) && (!w2 || has(m, w2));
  LT_CHECK(ok);
  if (!ok) fprintf(stderr, "  header %s\n  -> status %d, message: %s\n", hdr, (int)s, m);
  free(p);
}

#define T(body) "{\"t\":{" body "}}"

static void test_corrupt(void) {
  lt_safetensors *st = NULL;
  size_t len;

  /* Length field problems, in memory and on disk. */
  LT_CHECK(lt_safetensors_parse("abc", 3, "x.safetensors", &st) == LT_ERR_IO &&
           has(lt_error_message(), "'x.safetensors': file is 3 bytes, too short"));
  unsigned char big[12] = {0x00, 0x10, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' '}; /* says 4096 */
  TMP_PATH(bigpath, "big.safetensors");
  LT_CHECK(write_file(bigpath, big, sizeof big));
  LT_CHECK(lt_safetensors_read(bigpath, &st) == LT_ERR_IO && st == NULL);
  LT_CHECK(has(lt_error_message(), "big.safetensors': file is 12 bytes, header says 4096"));
  unsigned char huge[16] = {0, 0, 0, 0, 0, 0, 0, 0x40, '{', '}'};
  LT_CHECK(lt_safetensors_parse(huge, sizeof huge, "x.safetensors", &st) == LT_ERR_IO &&
           has(lt_error_message(), "over the 100 MB limit"));
  TMP_PATH(nopath, "does-not-exist.safetensors");
  LT_CHECK(lt_safetensors_read(nopath, &st) == LT_ERR_IO &&
           has(lt_error_message(), "could not open") && has(lt_error_message(), "No such file or directory"));
  LT_CHECK(lt_safetensors_read(dir, &st) == LT_ERR_IO && has(lt_error_message(), "not a regular file"));

  /* A valid file, then truncated by one byte on disk. */
  unsigned char *p = image("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, &len);
  LT_CHECK(lt_safetensors_parse(p, len, "ok", &st) == LT_OK && st && st->n == 1);
  lt_safetensors_free(st);
  TMP_PATH(tpath, "trunc.safetensors");
  LT_CHECK(write_file(tpath, p, len - 1));
  LT_CHECK(lt_safetensors_read(tpath, &st) == LT_ERR_IO &&
           has(lt_error_message(), "trunc.safetensors': tensor 'a' data_offsets [0,8] run past the end"));
  LT_CHECK(write_file(tpath, p, 20)); /* cut inside the header */
  LT_CHECK(lt_safetensors_read(tpath, &st) == LT_ERR_IO && has(lt_error_message(), "header says"));
  free(p);
  unlink(tpath);
  unlink(bigpath);

  /* The header itself. */
  expect_bad("", 0, "header is empty", NULL);
  expect_bad("{\"a\":", 0, "not valid JSON", NULL);
  expect_bad("not json", 0, "not valid JSON", NULL);
  expect_bad("[1,2]   ", 0, "header is an array", "expected a JSON object");
  expect_bad("{} x", 0, "bytes after its JSON object", NULL);
  expect_bad("{\"t\":[]}", 0, "tensor 't' is described by an array", NULL);
  /* Fields. */
  expect_bad(T("\"shape\":[1],\"data_offsets\":[0,4]"), 4, "tensor 't' has no 'dtype'", NULL);
  expect_bad(T("\"dtype\":\"F32\",\"data_offsets\":[0,4]"), 4, "has no 'shape'", NULL);
  expect_bad(T("\"dtype\":\"F32\",\"shape\":[1]"), 4, "has no 'data_offsets'", NULL);
  expect_bad(T("\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]"), 4, "dtype is a number", NULL);
  expect_bad(T("\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]"), 1, "dtype F8_E4M3",
             "does not support");
  expect_bad(T("\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,1]"), 1, "unknown dtype 'Q7'", NULL);
  expect_bad(T("\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,4]"), 4, "shape is an object", NULL);
  expect_bad(T("\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]"), 4, "shape entry 0 is -1",
             "non-negative integer");
  expect_bad(T("\"dtype\":\"F32\",\"shape\":[1,2.5],\"data_offsets\":[0,4]"), 4, "shape entry 1 is 2.5", NULL);
  expect_bad(T("\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]"), 4, "shape entry 0 is a string",
             NULL);
  expect_bad(T("\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]"), 1,
             "9 or more dimensions", NULL);
  expect_bad(T("\"dtype\":\"F64\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]"), 8,
             "shape [4294967296,4294967296,4294967296] of F64 is too large", NULL);
  expect_bad(T("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]"), 8, "exactly 2 entries", NULL);
  expect_bad(T("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,-8]"), 8, "non-negative integers", NULL);
  expect_bad(T("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]"), 8, "[8,0] are reversed", NULL);
  expect_bad(T("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,800]"), 8,
             "[0,800] run past the end of the data section (8 bytes", NULL);
  expect_bad("{\"fc.weight\":{\"dtype\":\"F32\",\"shape\":[5,6],\"data_offsets\":[0,100]}}", 100,
             "tensor 'fc.weight' data_offsets [0,100] do not match shape [5,6] of F32 (120 bytes)", NULL);
  expect_bad(T("\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]"), 4,
             "field 'dtype' twice", NULL);
  /* Relations between tensors. */
  expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
             "tensors 'a' [0,8] and 'b' [4,12] overlap", NULL);
  expect_bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
             "\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}", 4, "key 'a' appears twice", NULL);
  expect_bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}", 4, "gap in the data section",
             "bytes [0,2) before tensor 'a'");
  expect_bad("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 5,
             "data section is 5 bytes but the tensors cover only 2", NULL);
  /* Metadata. */
  expect_bad("{\"__metadata__\":{\"epoch\":3}}", 0, "__metadata__ value of 'epoch' is a number", NULL);
  expect_bad("{\"__metadata__\":[\"a\"]}", 0, "__metadata__ is an array", NULL);
  expect_bad("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "__metadata__ key 'k' appears twice", NULL);
  expect_bad("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "key '__metadata__' appears twice", NULL);

  /* Borderline cases that are valid. */
  p = image("{\"__metadata__\":null, \"e\":{\"dtype\":\"BOOL\",\"shape\":[0],\"data_offsets\":[0,0]},"
            "\"s\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[0,4],\"extra\":1}}   ", 4, &len);
  st = NULL;
  LT_CHECK(lt_safetensors_parse(p, len, "ok", &st) == LT_OK && st && st->n == 2 && st->nmeta == 0);
  LT_CHECK(st && strcmp(st->entries[0].name, "e") == 0 && st->entries[1].ndim == 0);
  lt_safetensors_free(st);
  free(p);
}

/* ------------------------------------------------------- writer arguments */

static void expect_write_arg(const lt_safetensors_tensor *ts, size_t n, const lt_safetensors_kv *meta,
                             size_t nmeta, const char *words) {
  TMP_PATH(path, "never.safetensors");
  lt_status s = lt_safetensors_write(path, ts, n, meta, nmeta);
  int ok = s == LT_ERR_ARG && has(lt_error_message(), words) && access(path, F_OK) != 0;
  LT_CHECK(ok);
  if (!ok) fprintf(stderr, "  -> status %d, message: %s\n", (int)s, lt_error_message());
}

static void test_write_args(void) {
  float v[6] = {0};
  int64_t s23[] = {2, 3}, sneg[] = {-1}, s9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  lt_safetensors_tensor good = {"a", LT_FLOAT32, 2, s23, v, 24};
  lt_safetensors_tensor t[2] = {good, good};
  expect_write_arg(t, 2, NULL, 0, "tensor name 'a' appears twice");
  t[1].name = "__metadata__";
  expect_write_arg(t, 2, NULL, 0, "cannot be called '__metadata__'");
  t[0].nbytes = 20;
  expect_write_arg(t, 1, NULL, 0, "tensor 'a' has 20 bytes, but shape [2,3] of F32 needs 24");
  t[0] = good;
  t[0].ndim = 9;
  t[0].shape = s9;
  expect_write_arg(t, 1, NULL, 0, "has 9 dimensions, expected 0 to 8");
  t[0] = good;
  t[0].ndim = 1;
  t[0].shape = sneg;
  expect_write_arg(t, 1, NULL, 0, "dimension 0 is -1");
  t[0] = good;
  t[0].data = NULL;
  expect_write_arg(t, 1, NULL, 0, "has no data");
  t[0] = good;
  t[0].name = "bad\xff";
  expect_write_arg(t, 1, NULL, 0, "not valid UTF-8");
  lt_safetensors_kv meta[2] = {{"k", "1"}, {"k", "2"}};
  expect_write_arg(&good, 1, meta, 2, "metadata key 'k' appears twice");
  meta[1].key = NULL;
  expect_write_arg(&good, 1, meta, 2, "NULL key or value");
}

/* --------------------------------------------------------- atomic replace */

static lt_status write_then_fail(lt_atomic_file *f, void *ctx) {
  (void)ctx;
  LT_TRY(lt_atomic_file_write(f, "partial new contents", 20));
  return lt_error_set(LT_ERR_RUNTIME, 0, "writer gave up");
}

static lt_status write_hello(lt_atomic_file *f, void *ctx) {
  size_t n = *(size_t *)ctx;
  char *big = malloc(n);
  if (!big) return LT_ERR_OOM;
  for (size_t i = 0; i < n; i++) big[i] = (char)('a' + i % 26);
  lt_status s = lt_atomic_file_write(f, "hello", 5);
  for (size_t i = 0; s == LT_OK && i < n; i += 1000) s = lt_atomic_file_write(f, big + i, n - i < 1000 ? n - i : 1000);
  if (s == LT_OK) s = lt_atomic_file_write(f, big, n); /* one large block too */
  free(big);
  return s;
}

static void test_atomic(void) {
  TMP_PATH(keep, "model.safetensors");
  LT_CHECK(write_file(keep, "old contents", 12));

  /* A failing writer: old file untouched, no temporary left, its error kept. */
  LT_CHECK(lt_atomic_write(keep, write_then_fail, NULL) == LT_ERR_RUNTIME);
  LT_CHECK(has(lt_error_message(), "writer gave up"));
  size_t len;
  char *got = slurp(keep, &len);
  LT_CHECK(got && len == 12 && memcmp(got, "old contents", 12) == 0);
  free(got);
  LT_CHECK(count_temporaries() == 0);

  /* Abort after writing through the begin/write API. */
  lt_atomic_file *f = NULL;
  LT_CHECK(lt_atomic_file_begin(keep, &f) == LT_OK && f);
  LT_CHECK(f && strcmp(lt_atomic_file_path(f), keep) == 0);
  LT_CHECK(count_temporaries() == 1); /* the temporary is in the same folder */
  if (f) LT_CHECK(lt_atomic_file_write(f, "xyz", 3) == LT_OK);
  lt_atomic_file_abort(f);
  LT_CHECK(count_temporaries() == 0);
  got = slurp(keep, &len);
  LT_CHECK(got && len == 12 && memcmp(got, "old contents", 12) == 0);
  free(got);

  /* Success, with writes larger than the internal buffer. */
  size_t n = 150000;
  LT_CHECK(lt_atomic_write(keep, write_hello, &n) == LT_OK);
  FILE *fp = fopen(keep, "rb");
  char head[8] = {0};
  long size = -1;
  if (fp) {
    LT_CHECK(fread(head, 1, 8, fp) == 8);
    fseek(fp, 0, SEEK_END);
    size = ftell(fp);
    fclose(fp);
  }
  LT_CHECK(memcmp(head, "helloabc", 8) == 0);
  LT_CHECK(size == (long)(5 + 2 * n));
  LT_CHECK(count_temporaries() == 0);
  unlink(keep);

  /* Errors name the path and the system's reason. */
  TMP_PATH(nodir, "no/such/dir/x.safetensors");
  float v = 1;
  lt_safetensors_tensor t = {"v", LT_FLOAT32, 0, NULL, &v, 4};
  LT_CHECK(lt_safetensors_write(nodir, &t, 1, NULL, 0) == LT_ERR_IO);
  LT_CHECK(has(lt_error_message(), "no/such/dir/x.safetensors") &&
           has(lt_error_message(), "No such file or directory"));
}

/* lt_atomic_file_remove_stale: the temporaries of dead writers of one path
 * go; a live writer's (pid 1 always exists), this process's, another
 * path's and names that only look like temporaries stay. */
static void test_remove_stale(void) {
  pid_t child = fork();
  if (child == 0) _exit(0);
  LT_CHECK(child > 0 && waitpid(child, NULL, 0) == child); /* a pid whose process is gone */
  TMP_PATH(target, "ckpt.safetensors");
  char dead[600], live[600], self[600], other[600], odd[600];
  snprintf(dead, sizeof dead, "%s.tmp.%ld.7", target, (long)child);
  snprintf(live, sizeof live, "%s.tmp.1.0", target);
  snprintf(self, sizeof self, "%s.tmp.%ld.3", target, (long)getpid());
  snprintf(other, sizeof other, "%s/other.safetensors.tmp.%ld.0", dir, (long)child);
  snprintf(odd, sizeof odd, "%s.tmp.%ld.3.4", target, (long)child);
  const char *all[] = {dead, live, self, other, odd};
  for (int k = 0; k < 5; k++) LT_CHECK(write_file(all[k], "x", 1));
  lt_atomic_file_remove_stale(target);
  LT_CHECK(access(dead, F_OK) != 0);
  for (int k = 1; k < 5; k++) LT_CHECK(access(all[k], F_OK) == 0);
  for (int k = 1; k < 5; k++) unlink(all[k]);
  lt_atomic_file_remove_stale("no-such-folder/x"); /* nothing to do, no failure */
}

int main(void) {
  const char *base = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/lt_test_safetensors_XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_round_trip();
  test_golden();
  test_corrupt();
  test_write_args();
  test_atomic();
  test_remove_stale();
  LT_CHECK(count_temporaries() == 0);
  LT_CHECK(rmdir(dir) == 0); /* every test removed its files */
  return lt_test_done();
}
