/* fuzz_safetensors.c — libFuzzer target for the safetensors reader.
 *
 * Feeds arbitrary bytes to lt_safetensors_parse. Under ASan/UBSan any out of
 * bounds read, leak or undefined behaviour is a crash; beyond that, when a
 * buffer parses, the result must be self-consistent (every byte of every
 * entry readable, sizes matching shapes, lookup finding every name) and must
 * survive a write/read round trip unchanged. A failed parse must leave a
 * message that names the file. Build and run: see tests/fuzz/README.md. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lt_safetensors.h"

#define FNAME "fuzz.safetensors"

static volatile unsigned sink;

static void check(int cond) {
  if (!cond) abort();
}

static void same(const lt_safetensors *a, const lt_safetensors *b) {
  check(a->n == b->n && a->nmeta == b->nmeta);
  for (size_t i = 0; i < a->n; i++) {
    const lt_safetensors_entry *x = &a->entries[i], *y = &b->entries[i];
    check(strcmp(x->name, y->name) == 0 && x->dtype == y->dtype && x->ndim == y->ndim);
    check(memcmp(x->shape, y->shape, sizeof x->shape) == 0 && x->nbytes == y->nbytes);
    check(x->nbytes == 0 || memcmp(x->data, y->data, x->nbytes) == 0);
  }
  for (size_t i = 0; i < a->nmeta; i++)
    check(strcmp(a->meta[i].key, b->meta[i].key) == 0 && strcmp(a->meta[i].value, b->meta[i].value) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lt_safetensors *st = NULL;
  if (lt_safetensors_parse(data, size, FNAME, &st) != LT_OK) {
    check(st == NULL);
    check(lt_error_status() == LT_ERR_IO);
    check(strstr(lt_error_message(), "'" FNAME "'") != NULL);
    return 0;
  }

  unsigned sum = 0;
  size_t expect_off = 0;
  for (size_t i = 0; i < st->n; i++) {
    const lt_safetensors_entry *e = &st->entries[i];
    check(e->ndim >= 0 && e->ndim <= LT_ST_MAX_DIMS);
    uint64_t numel = 1;
    for (int d = 0; d < e->ndim; d++) numel *= (uint64_t)e->shape[d]; /* validated: cannot overflow */
    check(numel * lt_dtype_size(e->dtype) == e->nbytes);
    check(e->data_offset == expect_off); /* file order, tiling the data section */
    expect_off += e->nbytes;
    const unsigned char *p = e->data;
    for (size_t k = 0; k < e->nbytes; k++) sum += p[k];
    const lt_safetensors_entry *f = lt_safetensors_find(st, e->name);
    check(f != NULL && strcmp(f->name, e->name) == 0);
  }
  for (size_t i = 0; i < st->nmeta; i++) check(lt_safetensors_meta_get(st, st->meta[i].key) != NULL);

  /* Round trip. The writer refuses names that are not UTF-8 (cJSON accepts
   * them on reading), so only ARG failures are tolerated. */
  lt_safetensors_tensor *ts = calloc(st->n ? st->n : 1, sizeof *ts);
  check(ts != NULL);
  for (size_t i = 0; i < st->n; i++) {
    const lt_safetensors_entry *e = &st->entries[i];
    ts[i] = (lt_safetensors_tensor){e->name, e->dtype, e->ndim, e->shape, e->data, e->nbytes};
  }
  void *buf = NULL;
  size_t len = 0;
  lt_status s = lt_safetensors_serialize(ts, st->n, st->meta, st->nmeta, FNAME, &buf, &len);
  if (s == LT_OK) {
    lt_safetensors *st2 = NULL;
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--) hlen = (hlen << 8) | ((const unsigned char *)buf)[k];
    check(hlen % 8 == 0 && len == 8 + hlen + expect_off); /* padded header, data follows */
    check(lt_safetensors_parse(buf, len, FNAME, &st2) == LT_OK);
    same(st, st2);
    lt_safetensors_free(st2);
  } else {
    check(s == LT_ERR_ARG);
  }
  free(buf);
  free(ts);
  lt_safetensors_free(st);
  sink = sum; /* keeps the reads of every data byte */
  return 0;
}
