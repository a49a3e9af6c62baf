/* lt_safetensors_write.c — the safetensors writer declared in
 * lt_safetensors.h: lt_safetensors_write (to a file, atomically) and
 * lt_safetensors_serialize (to memory). Both check their arguments before
 * touching the disk or allocating the image; the header is printed here,
 * not by cJSON, so the layout (key order, padding) is exactly ours.
 * Not here: the reader (lt_safetensors_read.c); what both use is in
 * lt_safetensors_internal.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_atomic_file.h"
#include "lt_safetensors.h"
#include "lt_safetensors_internal.h"

/* The header length, as the format stores it. */
static void store_le64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* ------------------------------------------------------------- the header */

typedef struct {
  char *p;
  size_t len, cap;
  int oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) { b->oom = 1; return; }
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_json_str(sbuf *b, const char *s) {
  sb_add(b, "\"", 1);
  for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
    char esc[8];
    if (*q == '"' || *q == '\\') {
      esc[0] = '\\', esc[1] = (char)*q;
      sb_add(b, esc, 2);
    } else if (*q < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", *q);
      sb_add(b, esc, 6);
    } else {
      sb_add(b, (const char *)q, 1);
    }
  }
  sb_add(b, "\"", 1);
}

/* Readers in other languages decode the header as UTF-8 and refuse it
 * otherwise, so we refuse to write a name they could not read. */
static int valid_utf8(const char *str) {
  const unsigned char *s = (const unsigned char *)str;
  while (*s) {
    unsigned c = *s;
    int n = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : -1;
    if (n < 0) return 0;
    uint32_t cp = n == 0 ? c : n == 1 ? (c & 0x1f) : n == 2 ? (c & 0x0f) : (c & 0x07);
    for (int i = 1; i <= n; i++) {
      if ((s[i] & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (s[i] & 0x3f);
    }
    static const uint32_t min_cp[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    s += n + 1;
  }
  return 1;
}

/* Validates the arguments and builds the padded header; *total gets the
 * data section size. */
static lt_status build_header(const lt_safetensors_tensor *ts, size_t n, const lt_safetensors_kv *meta,
                              size_t nmeta, const char *fname, sbuf *b, uint64_t *total) {
  uint64_t off = 0;
  for (size_t i = 0; i < n; i++) {
    const lt_safetensors_tensor *t = &ts[i];
    if (!t->name) return lt_error_set(LT_ERR_ARG, 0, "'%s': tensor #%zu has no name", fname, i + 1);
    if (strcmp(t->name, META_KEY) == 0)
      return lt_error_set(LT_ERR_ARG, 0, "'%s': a tensor cannot be called '" META_KEY "'", fname);
    if (!valid_utf8(t->name))
      return lt_error_set(LT_ERR_ARG, 0, "'%s': tensor name '" Q "' is not valid UTF-8", fname, t->name);
    if ((unsigned)t->dtype >= LT_NDTYPES)
      return lt_error_set(LT_ERR_ARG, 0, "'%s': tensor '" Q "' has invalid dtype %d", fname, t->name,
                          (int)t->dtype);
    if (t->ndim < 0 || t->ndim > LT_ST_MAX_DIMS)
      return lt_error_set(LT_ERR_ARG, 0, "'%s': tensor '" Q "' has %d dimensions, expected 0 to %d", fname,
                          t->name, t->ndim, LT_ST_MAX_DIMS);
    if (t->ndim > 0 && !t->shape)
      return lt_error_set(LT_ERR_ARG, 0, "'%s': tensor '" Q "' has no shape", fname, t->name);
    uint64_t numel = 1;
    int overflow = 0, zero = 0;
    for (int d = 0; d < t->ndim; d++) {
      if (t->shape[d] < 0 || t->shape[d] > ((int64_t)1 << 53))
        return lt_error_set(LT_ERR_ARG, 0, "'%s': tensor '" Q "' dimension %d is %lld, expected 0 to 2^53",
                            fname, t->name, d, (long long)t->shape[d]);
      if (t->shape[d] == 0) zero = 1;
      if (__builtin_mul_overflow(numel, (uint64_t)t->shape[d], &numel)) overflow = 1;
    }
    if (zero) numel = 0, overflow = 0;
    char sh[200];
    format_shape(sh, sizeof sh, t->shape, t->ndim);
    uint64_t bytes;
    if (overflow || __builtin_mul_overflow(numel, (uint64_t)lt_dtype_size(t->dtype), &bytes) ||
        bytes != t->nbytes)
      return lt_error_set(LT_ERR_ARG, 0, "'%s': tensor '" Q "' has %zu bytes, but shape %s of %s needs %s%llu",
                          fname, t->name, t->nbytes, sh, lt_dtype_st_name(t->dtype), overflow ? "over " : "",
                          (unsigned long long)(overflow ? UINT64_MAX : bytes));
    if (t->nbytes && !t->data)
      return lt_error_set(LT_ERR_ARG, 0, "'%s': tensor '" Q "' has no data", fname, t->name);
    if (__builtin_add_overflow(off, bytes, &off) || off > (uint64_t)(SIZE_MAX / 2))
      return lt_error_set(LT_ERR_ARG, 0, "'%s': tensors are too large in total", fname);
  }
  for (size_t i = 0; i < nmeta; i++) {
    if (!meta[i].key || !meta[i].value)
      return lt_error_set(LT_ERR_ARG, 0, "'%s': metadata pair #%zu has a NULL key or value", fname, i + 1);
    if (!valid_utf8(meta[i].key) || !valid_utf8(meta[i].value))
      return lt_error_set(LT_ERR_ARG, 0, "'%s': metadata '" Q "' is not valid UTF-8", fname, meta[i].key);
  }
  size_t nn = n > nmeta ? n : nmeta;
  const char **names = malloc((nn ? nn : 1) * sizeof *names);
  if (!names) return lt_error_set(LT_ERR_OOM, 0, "'%s': out of memory", fname);
  for (size_t i = 0; i < n; i++) names[i] = ts[i].name;
  lt_status s = check_unique(names, n, LT_ERR_ARG, fname, "tensor name");
  for (size_t i = 0; s == LT_OK && i < nmeta; i++) names[i] = meta[i].key;
  if (s == LT_OK) s = check_unique(names, nmeta, LT_ERR_ARG, fname, "metadata key");
  free(names);
  if (s != LT_OK) return s;

  sb_str(b, "{");
  if (nmeta) {
    sb_str(b, "\"" META_KEY "\":{");
    for (size_t i = 0; i < nmeta; i++) {
      if (i) sb_str(b, ",");
      sb_json_str(b, meta[i].key);
      sb_str(b, ":");
      sb_json_str(b, meta[i].value);
    }
    sb_str(b, "}");
  }
  off = 0;
  for (size_t i = 0; i < n; i++) {
    const lt_safetensors_tensor *t = &ts[i];
    char num[64];
    if (i || nmeta) sb_str(b, ",");
    sb_json_str(b, t->name);
    sb_str(b, ":{\"dtype\":\"");
    sb_str(b, lt_dtype_st_name(t->dtype));
    sb_str(b, "\",\"shape\":[");
    for (int d = 0; d < t->ndim; d++) {
      snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)t->shape[d]);
      sb_str(b, num);
    }
    snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
             (unsigned long long)(off + t->nbytes));
    sb_str(b, num);
    off += t->nbytes;
  }
  sb_str(b, "}");
  while (!b->oom && b->len % 8) sb_str(b, " "); /* the data section starts 8-aligned */
  if (b->oom) return lt_error_set(LT_ERR_OOM, 0, "'%s': out of memory building the header", fname);
  if (b->len > LT_ST_MAX_HEADER)
    return lt_error_set(LT_ERR_ARG, 0, "'%s': header would be %zu bytes, over the 100 MB limit", fname, b->len);
  *total = off;
  return LT_OK;
}

/* ------------------------------------------------------------------ output */

typedef struct {
  const sbuf *hdr;
  const lt_safetensors_tensor *ts;
  size_t n;
} write_ctx;

static lt_status write_body(lt_atomic_file *f, void *vctx) {
  const write_ctx *c = vctx;
  unsigned char len8[8];
  store_le64(len8, c->hdr->len);
  LT_TRY(lt_atomic_file_write(f, len8, 8));
  LT_TRY(lt_atomic_file_write(f, c->hdr->p, c->hdr->len));
  for (size_t i = 0; i < c->n; i++) LT_TRY(lt_atomic_file_write(f, c->ts[i].data, c->ts[i].nbytes));
  return LT_OK;
}

lt_status lt_safetensors_write(const char *path, const lt_safetensors_tensor *tensors, size_t n,
                               const lt_safetensors_kv *meta, size_t nmeta) {
  sbuf b = {0};
  uint64_t total;
  lt_status s = build_header(tensors, n, meta, nmeta, path, &b, &total);
  if (s == LT_OK) {
    write_ctx c = {&b, tensors, n};
    s = lt_atomic_write(path, write_body, &c);
  }
  free(b.p);
  return s;
}

lt_status lt_safetensors_serialize(const lt_safetensors_tensor *tensors, size_t n, const lt_safetensors_kv *meta,
                                   size_t nmeta, const char *name_for_errors, void **out, size_t *out_len) {
  const char *fname = name_for_errors ? name_for_errors : "<buffer>";
  sbuf b = {0};
  uint64_t total;
  *out = NULL;
  *out_len = 0;
  lt_status s = build_header(tensors, n, meta, nmeta, fname, &b, &total);
  if (s == LT_OK) {
    size_t len = 8 + b.len + (size_t)total;
    unsigned char *p = malloc(len);
    if (!p) {
      s = lt_error_set(LT_ERR_OOM, 0, "'%s': out of memory serializing %zu bytes", fname, len);
    } else {
      store_le64(p, b.len);
      memcpy(p + 8, b.p, b.len);
      size_t off = 8 + b.len;
      for (size_t i = 0; i < n; i++) {
        if (tensors[i].nbytes) memcpy(p + off, tensors[i].data, tensors[i].nbytes);
        off += tensors[i].nbytes;
      }
      *out = p;
      *out_len = len;
    }
  }
  free(b.p);
  return s;
}
