/* lt_safetensors_read.c — the safetensors reader declared in
 * lt_safetensors.h: lt_safetensors_read / _parse check everything the file
 * claims against the bytes it actually has before using it (JSON parsing is
 * cJSON's), and lt_safetensors_find / _meta_get look into the result.
 * Not here: the writer (lt_safetensors_write.c); what both use is in
 * lt_safetensors_internal.h. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lt_safetensors.h"
#include "lt_safetensors_internal.h"

#define MAX_EXACT 9007199254740992.0 /* 2^53: larger JSON integers lose digits in a double */
#define ALIGN 64

typedef struct {
  void *mem;        /* the file bytes (aligned allocation) */
  char *strings;    /* names, metadata keys and values */
  size_t *by_name;  /* entry indices sorted by name, for lookup */
} st_priv;

/* ------------------------------------------------------------------ helpers */

static uint64_t load_le64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static const char *json_kind(const cJSON *j) {
  if (cJSON_IsObject(j)) return "an object";
  if (cJSON_IsArray(j)) return "an array";
  if (cJSON_IsString(j)) return "a string";
  if (cJSON_IsNumber(j)) return "a number";
  if (cJSON_IsBool(j)) return "a boolean";
  if (cJSON_IsNull(j)) return "null";
  return "invalid";
}

/* The dtypes safetensors defines that luatrain has no storage type for; they
 * get "unsupported" rather than "unknown" so the user knows the file is fine. */
static const char *const st_other_dtypes[] = {"I8", "I16", "U16", "U32", "U64", "F8_E4M3", "F8_E5M2",
                                              "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64"};

static int st_dtype(const char *s, lt_dtype *out) {
  for (int i = 0; i < LT_NDTYPES; i++)
    if (strcmp(s, lt_dtype_st_name((lt_dtype)i)) == 0) { *out = (lt_dtype)i; return 1; }
  for (size_t i = 0; i < sizeof st_other_dtypes / sizeof *st_other_dtypes; i++)
    if (strcmp(s, st_other_dtypes[i]) == 0) return 0;
  return -1;
}

/* An exact non-negative integer, as shapes and offsets must be. */
static int json_uint(const cJSON *j, uint64_t *out) {
  if (!cJSON_IsNumber(j)) return 0;
  double d = j->valuedouble;
  if (!(d >= 0 && d <= MAX_EXACT) || floor(d) != d) return 0;
  *out = (uint64_t)d;
  return 1;
}

/* ----------------------------------------------------------------------- read */

typedef struct {
  const char *name; /* into the cJSON tree until copied */
  lt_dtype dtype;
  int ndim;
  int64_t shape[LT_ST_MAX_DIMS];
  uint64_t begin, end;
  size_t order; /* position in the header, a tie-breaker for sorting */
} pending;

static int cmp_pending(const void *a, const void *b) {
  const pending *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

typedef struct {
  const char *name;
  size_t idx;
} named;

static int cmp_named(const void *a, const void *b) {
  return strcmp(((const named *)a)->name, ((const named *)b)->name);
}

/* Checks one tensor's description; `data_len` is the data section's size. */
static lt_status parse_tensor(const char *fname, const cJSON *item, uint64_t data_len, pending *t) {
  const char *nm = t->name;
  if (!cJSON_IsObject(item))
    return lt_error_set(LT_ERR_IO, 0, "'%s': tensor '" Q "' is described by %s, expected an object", fname, nm,
                        json_kind(item));
  const cJSON *jd = NULL, *js = NULL, *jo = NULL;
  for (const cJSON *c = item->child; c; c = c->next) {
    const cJSON **slot = strcmp(c->string, "dtype") == 0 ? &jd
                         : strcmp(c->string, "shape") == 0 ? &js
                         : strcmp(c->string, "data_offsets") == 0 ? &jo
                                                                   : NULL;
    if (!slot) continue; /* unknown fields are ignored, as the reference does */
    if (*slot)
      return lt_error_set(LT_ERR_IO, 0, "'%s': tensor '" Q "' has field '%s' twice", fname, nm, c->string);
    *slot = c;
  }
  const char *missing = !jd ? "dtype" : !js ? "shape" : !jo ? "data_offsets" : NULL;
  if (missing) return lt_error_set(LT_ERR_IO, 0, "'%s': tensor '" Q "' has no '%s'", fname, nm, missing);

  if (!cJSON_IsString(jd))
    return lt_error_set(LT_ERR_IO, 0, "'%s': tensor '" Q "' dtype is %s, expected a string such as \"F32\"",
                        fname, nm, json_kind(jd));
  int known = st_dtype(jd->valuestring, &t->dtype);
  if (known == 0)
    return lt_error_set(LT_ERR_IO, 0, "'%s': tensor '" Q "' has dtype %.40s, which luatrain does not support "
                        "(supported: F32, F64, I64, I32, U8, BOOL, BF16, F16)", fname, nm, jd->valuestring);
  if (known < 0)
    return lt_error_set(LT_ERR_IO, 0, "'%s': tensor '" Q "' has unknown dtype '%.40s'", fname, nm,
                        jd->valuestring);

  if (!cJSON_IsArray(js))
    return lt_error_set(LT_ERR_IO, 0, "'%s': tensor '" Q "' shape is %s, expected an array", fname, nm,
                        json_kind(js));
  int nd = 0;
  for (const cJSON *c = js->child; c; c = c->next, nd++) {
    uint64_t v;
    if (nd == LT_ST_MAX_DIMS)
      return lt_error_set(LT_ERR_IO, 0, "'%s': tensor '" Q "' has %d or more dimensions (at most %d supported)",
                          fname, nm, nd + 1, LT_ST_MAX_DIMS);
    if (!cJSON_IsNumber(c))
      return lt_error_set(LT_ERR_IO, 0, "'%s': tensor '" Q "' shape entry %d is %s, expected an integer", fname,
                          nm, nd, json_kind(c));
    if (!json_uint(c, &v))
      return lt_error_set(LT_ERR_IO, 0, "'%s': tensor '" Q "' shape entry %d is %.17g, expected a non-negative "
                          "integer", fname, nm, nd, c->valuedouble);
    t->shape[nd] = (int64_t)v;
  }
  t->ndim = nd;

  if (!cJSON_IsArray(jo))
    return lt_error_set(LT_ERR_IO, 0, "'%s': tensor '" Q "' data_offsets is %s, expected [begin, end]", fname,
                        nm, json_kind(jo));
  const cJSON *b = jo->child, *e = b ? b->next : NULL;
  if (!b || !e || e->next)
    return lt_error_set(LT_ERR_IO, 0, "'%s': tensor '" Q "' data_offsets must have exactly 2 entries", fname,
                        nm);
  if (!json_uint(b, &t->begin) || !json_uint(e, &t->end))
    return lt_error_set(LT_ERR_IO, 0, "'%s': tensor '" Q "' data_offsets must be non-negative integers", fname,
                        nm);
  if (t->end < t->begin)
    return lt_error_set(LT_ERR_IO, 0, "'%s': tensor '" Q "' data_offsets [%llu,%llu] are reversed", fname, nm,
                        (unsigned long long)t->begin, (unsigned long long)t->end);
  if (t->end > data_len)
    return lt_error_set(LT_ERR_IO, 0, "'%s': tensor '" Q "' data_offsets [%llu,%llu] run past the end of the "
                        "data section (%llu bytes; file truncated?)", fname, nm, (unsigned long long)t->begin,
                        (unsigned long long)t->end, (unsigned long long)data_len);

  char sh[200];
  format_shape(sh, sizeof sh, t->shape, t->ndim);
  uint64_t numel = 1;
  int overflow = 0, zero = 0;
  for (int i = 0; i < nd; i++) {
    if (t->shape[i] == 0) zero = 1;
    if (__builtin_mul_overflow(numel, (uint64_t)t->shape[i], &numel)) overflow = 1;
  }
  uint64_t bytes = 0;
  if (zero) numel = 0, overflow = 0;
  if (overflow || __builtin_mul_overflow(numel, (uint64_t)lt_dtype_size(t->dtype), &bytes))
    return lt_error_set(LT_ERR_IO, 0, "'%s': tensor '" Q "' shape %s of %s is too large (size overflows)", fname,
                        nm, sh, lt_dtype_st_name(t->dtype));
  if (t->end - t->begin != bytes)
    return lt_error_set(LT_ERR_IO, 0, "'%s': tensor '" Q "' data_offsets [%llu,%llu] do not match shape %s of "
                        "%s (%llu bytes)", fname, nm, (unsigned long long)t->begin, (unsigned long long)t->end,
                        sh, lt_dtype_st_name(t->dtype), (unsigned long long)bytes);
  return LT_OK;
}

static lt_status parse_meta(const char *fname, const cJSON *m, size_t *count, size_t *strbytes) {
  if (cJSON_IsNull(m)) return LT_OK;
  if (!cJSON_IsObject(m))
    return lt_error_set(LT_ERR_IO, 0, "'%s': __metadata__ is %s, expected an object of strings", fname,
                        json_kind(m));
  for (const cJSON *c = m->child; c; c = c->next) {
    if (!cJSON_IsString(c))
      return lt_error_set(LT_ERR_IO, 0, "'%s': __metadata__ value of '" Q "' is %s, expected a string", fname,
                          c->string, json_kind(c));
    ++*count;
    *strbytes += strlen(c->string) + strlen(c->valuestring) + 2;
  }
  return LT_OK;
}

static lt_status oom(const char *fname) {
  return lt_error_set(LT_ERR_OOM, 0, "'%s': out of memory reading safetensors header", fname);
}

/* Parses a whole file image `p[0..len)`. Takes ownership of `mem` (the
 * allocation p lives in) and frees it on failure. */
static lt_status parse_owned(void *mem, const unsigned char *p, size_t len, const char *fname,
                             lt_safetensors **out) {
  lt_status s = LT_OK;
  char *hdr = NULL;
  cJSON *root = NULL;
  pending *ts = NULL;
  const char **names = NULL;
  const char **mnames = NULL;
  named *tmp = NULL;
  lt_safetensors *st = NULL;
  *out = NULL;

  if (len < 8) {
    s = lt_error_set(LT_ERR_IO, 0, "'%s': file is %zu bytes, too short to hold the 8-byte header length", fname,
                     len);
    goto done;
  }
  uint64_t hlen = load_le64(p);
  if (hlen > LT_ST_MAX_HEADER) {
    s = lt_error_set(LT_ERR_IO, 0, "'%s': header length is %llu bytes, over the 100 MB limit (not a safetensors "
                     "file, or corrupt)", fname, (unsigned long long)hlen);
    goto done;
  }
  if (hlen > len - 8) {
    s = lt_error_set(LT_ERR_IO, 0, "'%s': file is %zu bytes, header says %llu bytes of JSON follow the 8-byte "
                     "length (truncated file?)", fname, len, (unsigned long long)hlen);
    goto done;
  }
  if (hlen == 0) {
    s = lt_error_set(LT_ERR_IO, 0, "'%s': header is empty (length 0)", fname);
    goto done;
  }
  const unsigned char *zero = memchr(p + 8, 0, hlen);
  if (zero) {
    s = lt_error_set(LT_ERR_IO, 0, "'%s': header is not valid JSON (NUL byte at header offset %zu)", fname,
                     (size_t)(zero - (p + 8)));
    goto done;
  }
  hdr = malloc(hlen + 1);
  if (!hdr) { s = oom(fname); goto done; }
  memcpy(hdr, p + 8, hlen);
  hdr[hlen] = 0;
  const char *end = NULL;
  root = cJSON_ParseWithOpts(hdr, &end, 0);
  if (!root) {
    size_t at = end && end >= hdr && end <= hdr + hlen ? (size_t)(end - hdr) : 0;
    s = lt_error_set(LT_ERR_IO, 0, "'%s': header is not valid JSON (error near header offset %zu)", fname, at);
    goto done;
  }
  for (const char *q = end; *q; q++) {
    if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
      s = lt_error_set(LT_ERR_IO, 0, "'%s': header has bytes after its JSON object (at header offset %zu)",
                       fname, (size_t)(q - hdr));
      goto done;
    }
  }
  if (!cJSON_IsObject(root)) {
    s = lt_error_set(LT_ERR_IO, 0, "'%s': header is %s, expected a JSON object", fname, json_kind(root));
    goto done;
  }

  size_t nkeys = 0, nt = 0, nmeta = 0, strbytes = 0;
  const cJSON *meta = NULL;
  for (const cJSON *c = root->child; c; c = c->next) nkeys++;
  names = malloc((nkeys ? nkeys : 1) * sizeof *names);
  ts = malloc((nkeys ? nkeys : 1) * sizeof *ts);
  if (!names || !ts) { s = oom(fname); goto done; }
  uint64_t data_len = (uint64_t)(len - 8 - hlen);
  size_t k = 0;
  for (const cJSON *c = root->child; c; c = c->next) {
    names[k++] = c->string;
    if (strcmp(c->string, META_KEY) == 0) {
      if (!meta) meta = c; /* a second one is reported as a duplicate below */
      continue;
    }
    pending *t = &ts[nt];
    memset(t, 0, sizeof *t);
    t->name = c->string;
    t->order = nt;
    if ((s = parse_tensor(fname, c, data_len, t)) != LT_OK) goto done;
    strbytes += strlen(c->string) + 1;
    nt++;
  }
  if ((s = check_unique(names, nkeys, LT_ERR_IO, fname, "key")) != LT_OK) goto done;
  if (meta) {
    if ((s = parse_meta(fname, meta, &nmeta, &strbytes)) != LT_OK) goto done;
    if (nmeta > 1) {
      size_t m = 0;
      mnames = malloc(nmeta * sizeof *mnames);
      if (!mnames) { s = oom(fname); goto done; }
      for (const cJSON *c = meta->child; c; c = c->next) mnames[m++] = c->string;
      if ((s = check_unique(mnames, nmeta, LT_ERR_IO, fname, "__metadata__ key")) != LT_OK) goto done;
    }
  }

  /* The tensors must tile the data section: sorted by offset, each begins
   * where the previous ended, and the last ends at the end of the file. */
  qsort(ts, nt, sizeof *ts, cmp_pending);
  uint64_t pos = 0;
  const pending *prev = NULL;
  for (size_t i = 0; i < nt; i++) {
    const pending *t = &ts[i];
    if (t->begin < pos) {
      s = lt_error_set(LT_ERR_IO, 0, "'%s': tensors '" Q "' [%llu,%llu] and '" Q "' [%llu,%llu] overlap", fname,
                       prev->name, (unsigned long long)prev->begin, (unsigned long long)prev->end, t->name,
                       (unsigned long long)t->begin, (unsigned long long)t->end);
      goto done;
    }
    if (t->begin > pos) {
      s = lt_error_set(LT_ERR_IO, 0, "'%s': gap in the data section: bytes [%llu,%llu) before tensor '" Q "' "
                       "belong to no tensor", fname, (unsigned long long)pos, (unsigned long long)t->begin,
                       t->name);
      goto done;
    }
    if (t->end > t->begin || !prev) prev = t;
    pos = t->end;
  }
  if (pos != data_len) {
    s = lt_error_set(LT_ERR_IO, 0, "'%s': data section is %llu bytes but the tensors cover only %llu (trailing "
                     "bytes after the last tensor)", fname, (unsigned long long)data_len,
                     (unsigned long long)pos);
    goto done;
  }

  /* Valid: copy the strings out of the cJSON tree and build the result. */
  st = calloc(1, sizeof *st);
  st_priv *pv = calloc(1, sizeof *pv);
  if (st) st->priv_ = pv;
  if (!st || !pv) { free(pv); s = oom(fname); goto done; }
  pv->strings = malloc(strbytes ? strbytes : 1);
  st->entries = malloc((nt ? nt : 1) * sizeof *st->entries);
  st->meta = malloc((nmeta ? nmeta : 1) * sizeof *st->meta);
  pv->by_name = malloc((nt ? nt : 1) * sizeof *pv->by_name);
  tmp = malloc((nt ? nt : 1) * sizeof *tmp);
  if (!pv->strings || !st->entries || !st->meta || !pv->by_name || !tmp) { s = oom(fname); goto done; }
  char *sp = pv->strings;
  const unsigned char *data = p + 8 + hlen;
  for (size_t i = 0; i < nt; i++) {
    lt_safetensors_entry *e = &st->entries[i];
    size_t l = strlen(ts[i].name) + 1;
    memcpy(sp, ts[i].name, l);
    e->name = sp;
    sp += l;
    e->dtype = ts[i].dtype;
    e->ndim = ts[i].ndim;
    memset(e->shape, 0, sizeof e->shape);
    memcpy(e->shape, ts[i].shape, sizeof e->shape);
    e->data = data + ts[i].begin;
    e->nbytes = (size_t)(ts[i].end - ts[i].begin);
    e->data_offset = (size_t)ts[i].begin;
  }
  st->n = nt;
  if (meta && cJSON_IsObject(meta)) {
    for (const cJSON *c = meta->child; c; c = c->next) {
      lt_safetensors_kv *kv = &st->meta[st->nmeta++];
      size_t l = strlen(c->string) + 1;
      memcpy(sp, c->string, l);
      kv->key = sp;
      sp += l;
      l = strlen(c->valuestring) + 1;
      memcpy(sp, c->valuestring, l);
      kv->value = sp;
      sp += l;
    }
  }
  /* The lookup index: entry indices in name order. */
  for (size_t i = 0; i < nt; i++) tmp[i] = (named){st->entries[i].name, i};
  qsort(tmp, nt, sizeof *tmp, cmp_named);
  for (size_t i = 0; i < nt; i++) pv->by_name[i] = tmp[i].idx;
  pv->mem = mem;
  mem = NULL;
  *out = st;
  st = NULL;

done:
  if (st) lt_safetensors_free(st);
  free(mem);
  free(hdr);
  cJSON_Delete(root);
  free(ts);
  free(names);
  free(mnames);
  free(tmp);
  return s;
}

void lt_safetensors_free(lt_safetensors *st) {
  if (!st) return;
  st_priv *pv = st->priv_;
  if (pv) {
    free(pv->mem);
    free(pv->strings);
    free(pv->by_name);
    free(pv);
  }
  free(st->entries);
  free(st->meta);
  free(st);
}

/* Room for len bytes placed so that the data section (which starts at
 * 8 + header length) lands on an ALIGN boundary. */
static unsigned char *alloc_image(size_t len, uint64_t hlen, void **mem) {
  size_t pad = (hlen <= LT_ST_MAX_HEADER) ? (size_t)((ALIGN - (8 + hlen) % ALIGN) % ALIGN) : 0;
  if (len > SIZE_MAX - pad - ALIGN) return NULL;
  size_t total = (pad + len + ALIGN - 1) / ALIGN * ALIGN;
  *mem = aligned_alloc(ALIGN, total ? total : ALIGN);
  return *mem ? (unsigned char *)*mem + pad : NULL;
}

lt_status lt_safetensors_parse(const void *buf, size_t len, const char *name_for_errors, lt_safetensors **out) {
  const char *fname = name_for_errors ? name_for_errors : "<buffer>";
  *out = NULL;
  void *mem = NULL;
  uint64_t hlen = len >= 8 ? load_le64(buf) : 0;
  unsigned char *p = alloc_image(len, hlen, &mem);
  if (!p) return lt_error_set(LT_ERR_OOM, 0, "'%s': out of memory copying %zu bytes", fname, len);
  if (len) memcpy(p, buf, len);
  return parse_owned(mem, p, len, fname, out);
}

lt_status lt_safetensors_read(const char *path, lt_safetensors **out) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return lt_error_set(LT_ERR_IO, 0, "could not open '%s': %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    lt_status s = lt_error_set(LT_ERR_IO, 0, "could not stat '%s': %s", path, strerror(errno));
    close(fd);
    return s;
  }
  if (!S_ISREG(sb.st_mode)) {
    close(fd);
    return lt_error_set(LT_ERR_IO, 0, "'%s' is not a regular file", path);
  }
  size_t len = (size_t)sb.st_size;
  unsigned char head[8];
  uint64_t hlen = 0;
  if (len >= 8 && pread(fd, head, 8, 0) == 8) hlen = load_le64(head);
  void *mem = NULL;
  unsigned char *p = alloc_image(len, hlen, &mem);
  if (!p) {
    close(fd);
    return lt_error_set(LT_ERR_OOM, 0, "'%s': out of memory reading %zu bytes", path, len);
  }
  size_t got = 0;
  while (got < len) {
    ssize_t r = pread(fd, p + got, len - got, (off_t)got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      lt_status s = r < 0 ? lt_error_set(LT_ERR_IO, 0, "could not read '%s': %s", path, strerror(errno))
                          : lt_error_set(LT_ERR_IO, 0, "'%s' shrank while being read (%zu of %zu bytes)", path,
                                         got, len);
      free(mem);
      close(fd);
      return s;
    }
    got += (size_t)r;
  }
  close(fd);
  return parse_owned(mem, p, len, path, out);
}

const lt_safetensors_entry *lt_safetensors_find(const lt_safetensors *st, const char *name) {
  const st_priv *pv = st->priv_;
  size_t lo = 0, hi = st->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const lt_safetensors_entry *e = &st->entries[pv->by_name[mid]];
    int c = strcmp(name, e->name);
    if (c == 0) return e;
    if (c < 0) hi = mid;
    else lo = mid + 1;
  }
  return NULL;
}

const char *lt_safetensors_meta_get(const lt_safetensors *st, const char *key) {
  for (size_t i = 0; i < st->nmeta; i++)
    if (strcmp(st->meta[i].key, key) == 0) return st->meta[i].value;
  return NULL;
}
