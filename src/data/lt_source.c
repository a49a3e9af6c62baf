/* lt_source.c — the loader's dataset sources of lt_source.h: building them
 * (with the checks that make every later fetch valid), reading whole
 * CIFAR and IDX splits into tensors, and fetching samples. */
#include "lt_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_dataset_readers.h"
#include "lt_ops.h"

static lt_source *new_source(lt_source_kind kind) {
  lt_source *s = calloc(1, sizeof *s);
  if (s) {
    s->kind = kind;
    atomic_init(&s->refcount, 1);
  }
  return s;
}

void lt_source_retain(lt_source *s) { atomic_fetch_add(&s->refcount, 1); }

void lt_source_release(lt_source *s) {
  if (!s || atomic_fetch_sub(&s->refcount, 1) != 1) return;
  lt_tensor_release(s->images);
  lt_tensor_release(s->labels);
  lt_image_folder_free(&s->folder);
  free((void *)s->warned);
  free(s->index);
  lt_source_release(s->parent);
  free(s);
}

static lt_status oom(void) { return lt_error_set(LT_ERR_OOM, 0, "out of memory for a dataset source"); }

/* ---- samples in memory ---------------------------------------------------------- */

/* Labels in 1..num_classes (num_classes 0: any >= 1); their largest in *max. */
static lt_status check_labels(const int64_t *lab, int64_t n, int64_t num_classes, int64_t *max) {
  *max = 0;
  for (int64_t i = 0; i < n; i++) {
    if (lab[i] < 1 || (num_classes > 0 && lab[i] > num_classes)) {
      if (num_classes > 0)
        return lt_error_set(LT_ERR_ARG, 2, "label %lld of sample %lld is outside 1..%lld (labels are 1-based)",
                            (long long)lab[i], (long long)i + 1, (long long)num_classes);
      return lt_error_set(LT_ERR_ARG, 2, "label %lld of sample %lld is < 1 (labels are 1-based)", (long long)lab[i],
                          (long long)i + 1);
    }
    if (lab[i] > *max) *max = lab[i];
  }
  return LT_OK;
}

lt_status lt_source_from_tensors(lt_tensor *images, lt_tensor *labels, int64_t num_classes, lt_source **out) {
  *out = NULL;
  char b[96];
  if (lt_tensor_device(images).type != LT_CPU) return lt_error_set(LT_ERR_ARG, 1, "images must be on the CPU");
  if (images->ndim < 1 || images->ndim > 5)
    return lt_error_set(LT_ERR_ARG, 1, "expected images [N,C,H,W] (N and 1..4 sample dims), got shape %s",
                        lt_shape_str(images->ndim, images->shape, b, sizeof b));
  int64_t n = images->shape[0];
  for (int d = 1; d < images->ndim; d++)
    if (images->shape[d] < 1)
      return lt_error_set(LT_ERR_ARG, 1, "empty sample shape %s", lt_shape_str(images->ndim, images->shape, b, sizeof b));
  if (!lt_dtype_is_integral(labels->dtype) || labels->dtype == LT_BOOL)
    return lt_error_set(LT_ERR_ARG, 2, "labels must be an integer tensor, got %s", lt_dtype_name(labels->dtype));
  if (labels->ndim != 1 || labels->shape[0] != n)
    return lt_error_set(LT_ERR_ARG, 2, "expected labels [%lld] (one per image), got shape %s", (long long)n,
                        lt_shape_str(labels->ndim, labels->shape, b, sizeof b));
  lt_source *s = new_source(LT_SOURCE_MEMORY);
  if (!s) return oom();
  lt_tensor *lab64 = NULL;
  lt_status st = lt_op_contiguous(images, &s->images);
  if (st == LT_OK) st = lt_op_to(labels, LT_INT64, lt_cpu_device(), &lab64);
  if (st == LT_OK) st = lt_op_contiguous(lab64, &s->labels);
  lt_tensor_release(lab64);
  int64_t maxl = 0;
  if (st == LT_OK) st = check_labels(lt_tensor_data(s->labels), n, num_classes, &maxl);
  if (st != LT_OK) {
    lt_source_release(s);
    return st;
  }
  s->dtype = images->dtype;
  s->ndim = images->ndim - 1;
  s->sample_bytes = (int64_t)lt_dtype_size(images->dtype);
  for (int d = 1; d < images->ndim; d++) {
    s->shape[d - 1] = images->shape[d];
    s->sample_bytes *= images->shape[d];
  }
  s->size = n;
  s->num_classes = num_classes > 0 ? num_classes : maxl;
  *out = s;
  return LT_OK;
}

/* The images [N,C,H,W] and labels [N] tensors of a probed split; a failure
 * names the file they were to be read from. */
static lt_status alloc_split(const lt_dataset_info *info, const char *from, lt_tensor **images, lt_tensor **labels) {
  int64_t shape[4] = {info->n, info->c, info->h, info->w};
  lt_status st = lt_tensor_empty(4, shape, LT_UINT8, lt_cpu_device(), images);
  if (st == LT_OK) st = lt_tensor_empty(1, &info->n, LT_INT64, lt_cpu_device(), labels);
  if (st == LT_OK) return LT_OK;
  lt_tensor_release(*images);
  *images = NULL;
  char why[512];
  snprintf(why, sizeof why, "%s", lt_error_message());
  return lt_error_set(st, 0, "'%s': cannot hold its %lld images of %lldx%lldx%lld in memory: %s", from,
                      (long long)info->n, (long long)info->c, (long long)info->h, (long long)info->w, why);
}

/* Reading into freshly allocated tensors: on failure they are released. */
static lt_status read_done(lt_status st, lt_tensor **images, lt_tensor **labels) {
  if (st != LT_OK) {
    lt_tensor_release(*images);
    lt_tensor_release(*labels);
    *images = *labels = NULL;
  }
  return st;
}

lt_status lt_source_read_cifar(const char *root, int version, bool train, bool coarse, lt_tensor **images,
                               lt_tensor **labels, int64_t *num_classes) {
  *images = *labels = NULL;
  lt_dataset_info info;
  LT_TRY(lt_cifar_probe(root, version, train, coarse, &info));
  LT_TRY(alloc_split(&info, root, images, labels));
  *num_classes = info.num_classes;
  return read_done(lt_cifar_read(root, version, train, coarse, &info, lt_tensor_data(*images), lt_tensor_data(*labels)),
                   images, labels);
}

lt_status lt_source_read_idx(const char *root, const char *images_name, const char *labels_name, int64_t num_classes,
                             lt_tensor **images, lt_tensor **labels, int64_t *num_classes_out) {
  *images = *labels = NULL;
  char ipath[4096], lpath[4096];
  lt_dataset_info info;
  LT_TRY(lt_idx_find(root, images_name, ipath, sizeof ipath));
  LT_TRY(lt_idx_find(root, labels_name, lpath, sizeof lpath));
  LT_TRY(lt_idx_probe(ipath, lpath, num_classes, &info));
  LT_TRY(alloc_split(&info, ipath, images, labels));
  *num_classes_out = info.num_classes;
  return read_done(lt_idx_read(ipath, lpath, &info, lt_tensor_data(*images), lt_tensor_data(*labels)), images, labels);
}

/* ---- image folders ----------------------------------------------------------------- */

lt_status lt_source_folder(const char *root, int64_t h, int64_t w, bool skip, const lt_image_options *options,
                           lt_source **out) {
  *out = NULL;
  lt_source *s = new_source(LT_SOURCE_FOLDER);
  if (!s) return oom();
  lt_status st = lt_image_folder_scan(root, &s->folder);
  if (st == LT_OK && (h <= 0 || w <= 0) && lt_image_info(s->folder.paths[0], options, &h, &w) != LT_OK) {
    char why[512];
    snprintf(why, sizeof why, "%s", lt_error_message());
    st = lt_error_set(lt_error_status(), 0, "cannot take the image size from the first image: %s (give size=)", why);
  }
  if (st == LT_OK && !(s->warned = calloc((size_t)s->folder.num_samples, 1))) st = oom();
  if (st != LT_OK) {
    lt_source_release(s);
    return st;
  }
  s->decode = (lt_image_folder_source){&s->folder, h, w, *options};
  s->dtype = LT_UINT8;
  s->ndim = 3;
  s->shape[0] = 3;
  s->shape[1] = h;
  s->shape[2] = w;
  s->sample_bytes = 3 * h * w;
  s->size = s->folder.num_samples;
  s->num_classes = s->folder.num_classes;
  s->skip = s->may_skip = skip;
  *out = s;
  return LT_OK;
}

/* ---- subsets ------------------------------------------------------------------------ */

lt_status lt_source_subset(lt_source *parent, const int64_t *index1, int64_t n, lt_source **out) {
  *out = NULL;
  for (int64_t i = 0; i < n; i++)
    if (index1[i] < 1 || index1[i] > parent->size)
      return lt_error_set(LT_ERR_ARG, 2, "index %lld at position %lld is outside 1..%lld", (long long)index1[i],
                          (long long)i + 1, (long long)parent->size);
  lt_source *s = new_source(LT_SOURCE_SUBSET);
  if (s) s->index = malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
  if (!s || !s->index) {
    lt_source_release(s);
    return lt_error_set(LT_ERR_OOM, 0, "out of memory for %lld indices", (long long)n);
  }
  for (int64_t i = 0; i < n; i++) s->index[i] = index1[i] - 1;
  lt_source_retain(parent);
  s->parent = parent;
  s->dtype = parent->dtype;
  s->ndim = parent->ndim;
  memcpy(s->shape, parent->shape, sizeof s->shape);
  s->sample_bytes = parent->sample_bytes;
  s->size = n;
  s->num_classes = parent->num_classes;
  s->may_skip = parent->may_skip;
  *out = s;
  return LT_OK;
}

/* ---- fetching ---------------------------------------------------------------------- */

static lt_status fetch(lt_source *s, int64_t i, uint8_t *out, int64_t *label, bool allow_skip) {
  switch (s->kind) {
    case LT_SOURCE_MEMORY:
      memcpy(out, (const uint8_t *)lt_tensor_data(s->images) + i * s->sample_bytes, (size_t)s->sample_bytes);
      *label = ((const int64_t *)lt_tensor_data(s->labels))[i];
      return LT_OK;
    case LT_SOURCE_FOLDER: {
      lt_status st = lt_image_folder_fetch(&s->decode, i, out, label);
      if (st == LT_OK || !allow_skip || !s->skip) return st;
      if (!atomic_exchange(&s->warned[i], 1))
        fprintf(stderr, "warning: ImageFolder: skipping an unreadable image: %s\n", lt_error_message());
      memset(out, 0, (size_t)s->sample_bytes);
      *label = 0; /* dropped from its batch by the loader */
      return LT_OK;
    }
    default:
      return fetch(s->parent, s->index[i], out, label, allow_skip);
  }
}

lt_status lt_source_get(lt_source *s, int64_t i, void *image_out, int64_t *label_out) {
  return fetch(s, i, image_out, label_out, false);
}

lt_status lt_source_fetch(void *ctx, int64_t index, uint8_t *image_out, int64_t *label_out) {
  return fetch(ctx, index, image_out, label_out, true);
}
