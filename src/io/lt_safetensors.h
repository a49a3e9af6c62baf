/* lt_safetensors.h — reading and writing the safetensors format, the
 * checkpoint format shared with PyTorch (huggingface/safetensors).
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON, then the data
 * section. The JSON object maps each tensor name to
 *   {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
 * (offsets relative to the data section, end exclusive) and may hold one
 * "__metadata__" object of string -> string. As in the reference
 * implementation, the reader requires the tensors to tile the data section
 * exactly: no overlaps, no gaps, no trailing bytes.
 *
 * This layer deals in raw bytes and shapes; turning entries into lt_tensor
 * objects, and nested state dicts into flat names, is for the layers above.
 * The reader never trusts the file: every malformed input gives LT_ERR_IO
 * with a message naming the file and the problem, never a crash or a read out
 * of bounds (tests/fuzz/fuzz_safetensors.c checks this). */
#ifndef LT_SAFETENSORS_H
#define LT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "lt_dtype.h"
#include "lt_error.h"

#define LT_ST_MAX_DIMS 8
#define LT_ST_MAX_HEADER (100u * 1000u * 1000u) /* bigger headers are rejected */

/* A string pair of "__metadata__". */
typedef struct {
  const char *key;
  const char *value;
} lt_safetensors_kv;

/* One tensor to write. `data` holds nbytes = product(shape) * dtype size
 * bytes, contiguous, little-endian; it may be NULL when nbytes is 0. */
typedef struct {
  const char *name;
  lt_dtype dtype;
  int ndim; /* 0..LT_ST_MAX_DIMS; 0 is a scalar */
  const int64_t *shape;
  const void *data;
  size_t nbytes;
} lt_safetensors_tensor;

/* One tensor read. `data` points into the lt_safetensors that holds it and
 * lives as long as it does; it is aligned to the largest power of two (up to
 * 64) that divides data_offset, so files written by lt_safetensors_write and
 * by PyTorch give naturally aligned pointers. */
typedef struct {
  const char *name;
  lt_dtype dtype;
  int ndim;
  int64_t shape[LT_ST_MAX_DIMS];
  const void *data;
  size_t nbytes;
  size_t data_offset; /* begin, relative to the data section */
} lt_safetensors_entry;

/* A parsed file. Entries are in file order (sorted by data offset); metadata
 * in the order of the header. Read-only for users; free with
 * lt_safetensors_free. */
typedef struct lt_safetensors {
  size_t n;
  lt_safetensors_entry *entries;
  size_t nmeta;
  lt_safetensors_kv *meta;
  void *priv_; /* owned memory: file bytes and strings */
} lt_safetensors;

/* Reads and validates a whole file. */
lt_status lt_safetensors_read(const char *path, lt_safetensors **out);
/* Same on bytes in memory (copied; `buf` may be freed afterwards).
 * `name_for_errors` stands in for the file name in messages. */
lt_status lt_safetensors_parse(const void *buf, size_t len, const char *name_for_errors,
                               lt_safetensors **out);
void lt_safetensors_free(lt_safetensors *st);
/* The entry called `name`, or NULL. */
const lt_safetensors_entry *lt_safetensors_find(const lt_safetensors *st, const char *name);
/* The metadata value for `key`, or NULL. */
const char *lt_safetensors_meta_get(const lt_safetensors *st, const char *key);

/* Writes tensors (data laid out in the given order) and metadata to `path`
 * atomically (lt_atomic_file). Validates first: unique non-NULL names other
 * than "__metadata__", ndim in 0..8, dims in 0..2^53, nbytes matching shape
 * and dtype, unique metadata keys; errors are LT_ERR_ARG, I/O failures
 * LT_ERR_IO. */
lt_status lt_safetensors_write(const char *path, const lt_safetensors_tensor *tensors, size_t n,
                               const lt_safetensors_kv *meta, size_t nmeta);
/* The same bytes into a malloc'ed buffer (for tests and small payloads).
 * `name_for_errors` as in lt_safetensors_parse. */
lt_status lt_safetensors_serialize(const lt_safetensors_tensor *tensors, size_t n,
                                   const lt_safetensors_kv *meta, size_t nmeta,
                                   const char *name_for_errors, void **out, size_t *out_len);

#endif
