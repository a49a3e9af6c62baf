/* lt_lua_data.c — Lua glue for the data layer: native sample sources (CIFAR
 * and IDX files read into tensors, tensors themselves, image folders decoded
 * on demand, subsets of any of these) and the native loader that batches a
 * source in worker threads and runs the built-in transforms there.
 *
 * Registers lt._data, the native half of lua/luatrain/data (lt.data) and
 * lua/luatrain/transforms (lt.transforms); users see those two. Not here: the
 * dataset classes, option checking and the iteration protocol (Lua), the
 * readers and the loader core (src/data), the transform engine
 * (lt_lua_transforms.c).
 *
 * Batches reach Lua without a copy. Each batch number b of an epoch owns
 * output slot b % K (K = prefetch + 1): before the batch can be claimed by a
 * worker, the consumer puts a fresh storage there; the worker's transform
 * hook writes the finished batch into it; the consumer wraps that storage in
 * the tensor it returns and puts a new storage in the slot for batch b + K.
 * The loader claims at most `prefetch` batches beyond the last one delivered,
 * so batch b + K cannot start before the consumer asks for batch b + 1, by
 * which time its slot is ready. Storages handed to Lua are kept on a short
 * list and reused once Lua has dropped every tensor on them.
 *
 * pin_memory: the batch storages (images and labels) are then pinned host
 * memory, so t:cuda{non_blocking = true} can copy them without the host
 * waiting. A queued copy holds a reference to its source storage until it
 * has run (src/core/lt_transfer.h), so the reuse rule above -- nothing but
 * the lent list holds the storage -- also keeps a buffer from being refilled
 * while a copy still reads it. The loader core's own buffers (lt_loader.h)
 * are only staging for the transforms and stay pageable. Also registers
 * t:pin_memory() and t:is_pinned() (lt_lua_transfer.c). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "lt_atomic_file.h"
#include "lt_dataset_readers.h"
#include "lt_image.h"
#include "lt_image_folder.h"
#include "lt_loader.h"
#include "lt_lua.h"
#include "lt_lua_transfer.h"
#include "lt_lua_transforms.h"
#include "lt_philox.h"
#include "lt_transfer.h"

#define SRC_MT "luatrain.DataSource"
#define LOADER_MT "luatrain.NativeLoader"

/* ---- sources ----------------------------------------------------------------- */

enum { SRC_MEMORY, SRC_FOLDER, SRC_SUBSET };

/* A dataset the loader's workers can read. Immutable once built, so workers
 * share it without locks (the warned flags are atomic). */
typedef struct source {
  int kind;
  lt_dtype dtype;
  int ndim;                 /* the per-sample shape */
  int64_t shape[4];
  int64_t sample_bytes, size, num_classes;
  bool may_skip;            /* samples may come back as "skipped" (label 0) */
  /* SRC_MEMORY: contiguous CPU tensors [size, shape...] and int64 [size] (1-based) */
  lt_tensor *images, *labels;
  /* SRC_FOLDER */
  lt_image_folder folder;
  int64_t fh, fw;
  lt_image_options iopt;
  bool skip;
  atomic_uchar *warned;     /* [size]: a skipped file is reported once */
  /* SRC_SUBSET: sample i is parent's index[i] (0-based); the parent is the
   * userdata's user value, so it lives as long as this source */
  struct source *parent;
  int64_t *index;
} source;

static lt_status src_fetch_mode(source *s, int64_t i, uint8_t *out, int64_t *label, bool allow_skip) {
  switch (s->kind) {
    case SRC_MEMORY:
      memcpy(out, (const uint8_t *)lt_tensor_data(s->images) + i * s->sample_bytes, (size_t)s->sample_bytes);
      *label = ((const int64_t *)lt_tensor_data(s->labels))[i];
      return LT_OK;
    case SRC_FOLDER: {
      lt_status st = lt_image_decode(s->folder.paths[i], &s->iopt, s->fh, s->fw, out);
      if (st == LT_OK) {
        *label = s->folder.labels[i];
        return LT_OK;
      }
      if (!allow_skip || !s->skip) return st;
      if (!atomic_exchange(&s->warned[i], 1)) fprintf(stderr, "warning: ImageFolder: skipping an unreadable image: %s\n", lt_error_message());
      memset(out, 0, (size_t)s->sample_bytes);
      *label = 0; /* dropped from its batch by the loader's hook */
      return LT_OK;
    }
    default:
      return src_fetch_mode(s->parent, s->index[i], out, label, allow_skip);
  }
}

static lt_status src_fetch(void *ctx, int64_t index, uint8_t *image_out, int64_t *label_out) {
  return src_fetch_mode(ctx, index, image_out, label_out, true);
}

static int src_gc(lua_State *L) {
  source *s = luaL_checkudata(L, 1, SRC_MT);
  if (s->images) lt_tensor_release(s->images);
  if (s->labels) lt_tensor_release(s->labels);
  s->images = s->labels = NULL;
  lt_image_folder_free(&s->folder);
  free((void *)s->warned);
  free(s->index);
  s->warned = NULL;
  s->index = NULL;
  return 0;
}

static source *push_source(lua_State *L, int kind) {
  source *s = lua_newuserdatauv(L, sizeof *s, 1);
  memset(s, 0, sizeof *s);
  s->kind = kind;
  luaL_setmetatable(L, SRC_MT);
  return s;
}

static source *check_source(lua_State *L, int idx, const char *fname) {
  source *s = luaL_testudata(L, idx, SRC_MT);
  if (!s) lt_lua_argerror(L, idx, fname, "expected a native dataset, got %s", luaL_typename(L, idx));
  return s;
}

/* _data.tensor_source(images, labels, num_classes, fname) -> source, num_classes
 * images: a CPU tensor [N, ...] (at most 4 sample dims, any dtype); labels:
 * int64 [N] or a table of N integers, 1-based; num_classes 0: the largest. */
static int l_tensor_source(lua_State *L) {
  const char *fname = luaL_optstring(L, 4, "TensorDataset");
  lt_tensor *x = lt_lua_check_tensor(L, 1, fname);
  int64_t num_classes = luaL_optinteger(L, 3, 0);
  char b[96];
  if (lt_tensor_device(x).type != LT_CPU) return lt_lua_argerror(L, 1, fname, "images must be on the CPU");
  if (x->ndim < 1 || x->ndim > 5)
    return lt_lua_argerror(L, 1, fname, "expected images [N,C,H,W] (N and 1..4 sample dims), got shape %s",
                           lt_shape_str(x->ndim, x->shape, b, sizeof b));
  int64_t n = x->shape[0];
  for (int d = 1; d < x->ndim; d++)
    if (x->shape[d] < 1) return lt_lua_argerror(L, 1, fname, "empty sample shape %s", lt_shape_str(x->ndim, x->shape, b, sizeof b));
  source *s = push_source(L, SRC_MEMORY);
  int top = lua_gettop(L);
  lt_tensor **ibox = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_op_contiguous(x, ibox), fname);
  lt_tensor **lbox = lt_lua_newbox(L);
  lt_tensor *lab_t = lt_lua_to_tensor(L, 2);
  if (lab_t) {
    if (!lt_dtype_is_integral(lab_t->dtype) || lab_t->dtype == LT_BOOL)
      return lt_lua_argerror(L, 2, fname, "labels must be an integer tensor, got %s", lt_dtype_name(lab_t->dtype));
    if (lab_t->ndim != 1 || lab_t->shape[0] != n)
      return lt_lua_argerror(L, 2, fname, "expected labels [%lld] (one per image), got shape %s", (long long)n,
                             lt_shape_str(lab_t->ndim, lab_t->shape, b, sizeof b));
    lt_tensor **tmp = lt_lua_newbox(L);
    LT_LUA_CHECK(L, lt_op_to(lab_t, LT_INT64, lt_cpu_device(), tmp), fname);
    LT_LUA_CHECK(L, lt_op_contiguous(*tmp, lbox), fname);
  } else if (lua_type(L, 2) == LUA_TTABLE) {
    if (luaL_len(L, 2) != n)
      return lt_lua_argerror(L, 2, fname, "expected %lld labels (one per image), got a table of %lld", (long long)n,
                             (long long)luaL_len(L, 2));
    LT_LUA_CHECK(L, lt_tensor_empty(1, &n, LT_INT64, lt_cpu_device(), lbox), fname);
    int64_t *p = lt_tensor_data(*lbox);
    for (int64_t i = 0; i < n; i++) {
      lua_geti(L, 2, i + 1);
      if (!lua_isinteger(L, -1))
        return lt_lua_argerror(L, 2, fname, "label %lld is a %s, expected an integer", (long long)i + 1,
                               lua_type(L, -1) == LUA_TNUMBER ? "non-integer number" : luaL_typename(L, -1));
      p[i] = lua_tointeger(L, -1);
      lua_pop(L, 1);
    }
  } else {
    return lt_lua_argerror(L, 2, fname, "expected labels as an int64 tensor or a table, got %s", luaL_typename(L, 2));
  }
  const int64_t *lab = lt_tensor_data(*lbox);
  int64_t maxl = 0;
  for (int64_t i = 0; i < n; i++) {
    if (lab[i] < 1 || (num_classes > 0 && lab[i] > num_classes)) {
      if (num_classes > 0)
        return lt_lua_argerror(L, 2, fname, "label %lld of sample %lld is outside 1..%lld (labels are 1-based)",
                               (long long)lab[i], (long long)i + 1, (long long)num_classes);
      return lt_lua_argerror(L, 2, fname, "label %lld of sample %lld is < 1 (labels are 1-based)", (long long)lab[i],
                             (long long)i + 1);
    }
    if (lab[i] > maxl) maxl = lab[i];
  }
  s->images = *ibox; /* the source takes over the boxes' references */
  s->labels = *lbox;
  *ibox = *lbox = NULL;
  s->dtype = x->dtype;
  s->ndim = x->ndim - 1;
  s->sample_bytes = (int64_t)lt_dtype_size(x->dtype);
  for (int d = 1; d < x->ndim; d++) {
    s->shape[d - 1] = x->shape[d];
    s->sample_bytes *= x->shape[d];
  }
  s->size = n;
  s->num_classes = num_classes > 0 ? num_classes : maxl;
  lua_settop(L, top);
  lua_pushinteger(L, s->num_classes);
  return 2;
}

/* The images [N,C,H,W] and labels [N] tensors of a probed split; a failure
 * names the files they were to be read from. */
static void alloc_split(lua_State *L, const lt_dataset_info *info, lt_tensor **ibox, lt_tensor **lbox, const char *fname,
                        const char *from) {
  int64_t shape[4] = {info->n, info->c, info->h, info->w};
  if (lt_tensor_empty(4, shape, LT_UINT8, lt_cpu_device(), ibox) != LT_OK ||
      lt_tensor_empty(1, &info->n, LT_INT64, lt_cpu_device(), lbox) != LT_OK)
    luaL_error(L, "%s: '%s': cannot hold its %lld images of %lldx%lldx%lld in memory: %s", fname, from,
               (long long)info->n, (long long)info->c, (long long)info->h, (long long)info->w, lt_error_message());
}

/* _data.cifar(root, version, train, coarse, fname) -> images uint8 [N,3,32,32], labels int64 [N], classes */
static int l_cifar(lua_State *L) {
  const char *root = luaL_checkstring(L, 1);
  int version = (int)luaL_checkinteger(L, 2);
  bool train = lua_toboolean(L, 3), coarse = lua_toboolean(L, 4);
  const char *fname = luaL_optstring(L, 5, "CIFAR");
  lt_dataset_info info;
  if (lt_cifar_probe(root, version, train, coarse, &info) != LT_OK) return luaL_error(L, "%s: %s", fname, lt_error_message());
  lt_tensor **ibox = lt_lua_newbox(L), **lbox = lt_lua_newbox(L);
  alloc_split(L, &info, ibox, lbox, fname, root);
  if (lt_cifar_read(root, version, train, coarse, &info, lt_tensor_data(*ibox), lt_tensor_data(*lbox)) != LT_OK)
    return luaL_error(L, "%s: %s", fname, lt_error_message());
  lua_pushinteger(L, info.num_classes);
  return 3;
}

/* _data.idx(root, images_name, labels_name, num_classes, fname) -> images uint8 [N,1,H,W], labels, num_classes */
static int l_idx(lua_State *L) {
  const char *root = luaL_checkstring(L, 1), *iname = luaL_checkstring(L, 2), *lname = luaL_checkstring(L, 3);
  int64_t num_classes = luaL_checkinteger(L, 4);
  const char *fname = luaL_optstring(L, 5, "IDX");
  char ipath[4096], lpath[4096];
  lt_dataset_info info;
  if (lt_idx_find(root, iname, ipath, sizeof ipath) != LT_OK || lt_idx_find(root, lname, lpath, sizeof lpath) != LT_OK ||
      lt_idx_probe(ipath, lpath, num_classes, &info) != LT_OK)
    return luaL_error(L, "%s: %s", fname, lt_error_message());
  lt_tensor **ibox = lt_lua_newbox(L), **lbox = lt_lua_newbox(L);
  alloc_split(L, &info, ibox, lbox, fname, ipath);
  if (lt_idx_read(ipath, lpath, &info, lt_tensor_data(*ibox), lt_tensor_data(*lbox)) != LT_OK)
    return luaL_error(L, "%s: %s", fname, lt_error_message());
  lua_pushinteger(L, info.num_classes);
  return 3;
}

/* Image decoding options from arguments max_pixels (an integer, <= 0: no
 * limit) and draft (a boolean) at positions i, i + 1. */
static lt_image_options image_options(lua_State *L, int i) {
  lt_image_options o = lt_image_default_options();
  o.max_pixels = luaL_optinteger(L, i, o.max_pixels);
  if (!lua_isnoneornil(L, i + 1)) o.draft = lua_toboolean(L, i + 1);
  return o;
}

/* _data.folder_source(root, h, w, skip, fname, max_pixels, draft) ->
 * source, classes, report. h = w = 0: the size of the first image. report:
 * {notes = {...}, num_notes =, num_ignored =, first_ignored =} (see
 * lt_image_folder.h), for the Lua side to show. */
static int l_folder_source(lua_State *L) {
  const char *root = luaL_checkstring(L, 1);
  int64_t h = luaL_checkinteger(L, 2), w = luaL_checkinteger(L, 3);
  bool skip = lua_toboolean(L, 4);
  const char *fname = luaL_optstring(L, 5, "ImageFolder");
  lt_image_options opt = image_options(L, 6);
  source *s = push_source(L, SRC_FOLDER);
  if (lt_image_folder_scan(root, &s->folder) != LT_OK) return luaL_error(L, "%s: %s", fname, lt_error_message());
  s->iopt = opt;
  if (h <= 0 || w <= 0) {
    if (lt_image_info(s->folder.paths[0], &opt, &h, &w) != LT_OK)
      return luaL_error(L, "%s: cannot take the image size from the first image: %s (give size=)", fname, lt_error_message());
  }
  s->warned = calloc((size_t)s->folder.num_samples, 1);
  if (!s->warned) return luaL_error(L, "%s: out of memory", fname);
  s->dtype = LT_UINT8;
  s->ndim = 3;
  s->shape[0] = 3;
  s->shape[1] = s->fh = h;
  s->shape[2] = s->fw = w;
  s->sample_bytes = 3 * h * w;
  s->size = s->folder.num_samples;
  s->num_classes = s->folder.num_classes;
  s->skip = s->may_skip = skip;
  lua_createtable(L, (int)s->folder.num_classes, 0);
  for (int64_t k = 0; k < s->folder.num_classes; k++) {
    lua_pushstring(L, s->folder.classes[k]);
    lua_rawseti(L, -2, k + 1);
  }
  const lt_image_folder *f = &s->folder;
  lua_createtable(L, 0, 4);
  lua_createtable(L, LT_IMAGE_FOLDER_MAX_NOTES, 0);
  for (int64_t k = 0; k < f->num_notes && k < LT_IMAGE_FOLDER_MAX_NOTES; k++) {
    lua_pushstring(L, f->notes[k]);
    lua_rawseti(L, -2, k + 1);
  }
  lua_setfield(L, -2, "notes");
  lua_pushinteger(L, f->num_notes);
  lua_setfield(L, -2, "num_notes");
  lua_pushinteger(L, f->num_ignored);
  lua_setfield(L, -2, "num_ignored");
  if (f->first_ignored) {
    lua_pushstring(L, f->first_ignored);
    lua_setfield(L, -2, "first_ignored");
  }
  return 3;
}

/* _data.load_image(path, h, w, max_pixels, draft, fname) -> uint8 [3, H, W]:
 * one image as ImageFolder decodes it; h = w = 0: its own size. */
static int l_load_image(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int64_t h = luaL_optinteger(L, 2, 0), w = luaL_optinteger(L, 3, 0);
  lt_image_options opt = image_options(L, 4);
  const char *fname = luaL_optstring(L, 6, "load_image");
  lt_tensor **box = lt_lua_newbox(L);
  uint8_t *data = NULL; /* freed before anything can raise */
  size_t len = 0;
  lt_status st = lt_image_read_file(path, &data, &len);
  if (st == LT_OK && (h <= 0 || w <= 0)) st = lt_image_probe(path, data, len, &opt, NULL, &h, &w);
  int64_t shape[3] = {3, h, w};
  if (st == LT_OK) st = lt_tensor_empty(3, shape, LT_UINT8, lt_cpu_device(), box);
  if (st == LT_OK) st = lt_image_decode_buffer(path, data, len, &opt, h, w, lt_tensor_data(*box));
  free(data);
  if (st != LT_OK) return luaL_error(L, "%s: %s", fname, lt_error_message());
  return 1;
}

typedef struct {
  const uint8_t *bytes;
  size_t len;
} bytes_ctx;

static lt_status write_bytes(lt_atomic_file *f, void *ctx) {
  const bytes_ctx *b = ctx;
  return lt_atomic_file_write(f, b->bytes, b->len);
}

/* _data.write_image(tensor, path, format, quality, fname): format "jpeg" or
 * "png"; the tensor uint8 [C, H, W] or [H, W] on the CPU. Written
 * atomically. */
static int l_write_image(lua_State *L) {
  const char *fname = luaL_optstring(L, 5, "write_image");
  lt_tensor *t = lt_lua_check_tensor(L, 1, fname);
  const char *path = luaL_checkstring(L, 2);
  bool jpeg = strcmp(luaL_checkstring(L, 3), "jpeg") == 0;
  int quality = (int)luaL_optinteger(L, 4, 75);
  char b[96];
  if (t->dtype != LT_UINT8 || (t->ndim != 2 && t->ndim != 3))
    return lt_lua_argerror(L, 1, fname, "expected a uint8 image [C,H,W] or [H,W], got a %s tensor of shape %s",
                           lt_dtype_name(t->dtype), lt_shape_str(t->ndim, t->shape, b, sizeof b));
  int64_t c = t->ndim == 3 ? t->shape[0] : 1, h = t->shape[t->ndim - 2], w = t->shape[t->ndim - 1];
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_op_host_contiguous(t, box), fname);
  uint8_t *bytes = NULL;
  size_t len = 0;
  lt_status st = jpeg ? lt_image_encode_jpeg(lt_tensor_data(*box), c, h, w, quality, &bytes, &len)
                      : lt_image_encode_png(lt_tensor_data(*box), c, h, w, &bytes, &len);
  if (st == LT_ERR_ARG) return lt_lua_argerror(L, 1, fname, "%s", lt_error_message());
  if (st == LT_OK) {
    bytes_ctx bc = {bytes, len};
    st = lt_atomic_write(path, write_bytes, &bc);
  }
  free(bytes);
  if (st != LT_OK) return luaL_error(L, "%s: %s", fname, lt_error_message());
  return 0;
}

/* _data.subset_source(parent, indices) -> source; indices 1-based (an
 * integer tensor or a table). */
static int l_subset_source(lua_State *L) {
  const char *fname = "Subset";
  source *parent = check_source(L, 1, fname);
  lt_tensor *t = lt_lua_to_tensor(L, 2);
  int64_t n;
  if (t) {
    if (!lt_dtype_is_integral(t->dtype) || t->dtype == LT_BOOL || t->ndim != 1)
      return lt_lua_argerror(L, 2, fname, "expected a 1-D integer tensor of indices, got a %dD %s tensor", t->ndim,
                             lt_dtype_name(t->dtype));
    n = t->shape[0];
  } else if (lua_type(L, 2) == LUA_TTABLE) {
    n = luaL_len(L, 2);
  } else {
    return lt_lua_argerror(L, 2, fname, "expected indices as a table or an int64 tensor, got %s", luaL_typename(L, 2));
  }
  source *s = push_source(L, SRC_SUBSET);
  int top = lua_gettop(L);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, top, 1);
  s->parent = parent;
  s->index = malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
  if (!s->index) return luaL_error(L, "%s: out of memory for %lld indices", fname, (long long)n);
  if (t) {
    lt_tensor **h = lt_lua_newbox(L);
    LT_LUA_CHECK(L, lt_op_host_contiguous(t, h), fname);
    for (int64_t i = 0; i < n; i++) s->index[i] = lt_dtype_load_i64((const char *)lt_tensor_data(*h) + i * (int64_t)lt_dtype_size(t->dtype), t->dtype);
  } else {
    for (int64_t i = 0; i < n; i++) {
      lua_geti(L, 2, i + 1);
      if (!lua_isinteger(L, -1))
        return lt_lua_argerror(L, 2, fname, "index %lld is a %s, expected an integer", (long long)i + 1,
                               lua_type(L, -1) == LUA_TNUMBER ? "non-integer number" : luaL_typename(L, -1));
      s->index[i] = lua_tointeger(L, -1);
      lua_pop(L, 1);
    }
  }
  for (int64_t i = 0; i < n; i++) {
    if (s->index[i] < 1 || s->index[i] > parent->size)
      return lt_lua_argerror(L, 2, fname, "index %lld at position %lld is outside 1..%lld", (long long)s->index[i],
                             (long long)i + 1, (long long)parent->size);
    s->index[i]--;
  }
  s->dtype = parent->dtype;
  s->ndim = parent->ndim;
  memcpy(s->shape, parent->shape, sizeof s->shape);
  s->sample_bytes = parent->sample_bytes;
  s->size = n;
  s->num_classes = parent->num_classes;
  s->may_skip = parent->may_skip;
  lua_settop(L, top);
  return 1;
}

/* _data.src_get(source, i) -> image tensor, label (1-based i) */
static int l_src_get(lua_State *L) {
  const char *fname = "get";
  source *s = check_source(L, 1, fname);
  int64_t i = lt_lua_check_integer(L, 2, fname, "index");
  if (i < 1 || i > s->size)
    return lt_lua_argerror(L, 2, fname, "index %lld is outside 1..%lld", (long long)i, (long long)s->size);
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_tensor_empty(s->ndim, s->shape, s->dtype, lt_cpu_device(), box), fname);
  int64_t label = 0;
  if (src_fetch_mode(s, i - 1, lt_tensor_data(*box), &label, false) != LT_OK)
    return luaL_error(L, "%s: %s", fname, lt_error_message());
  lua_pushinteger(L, label);
  return 2;
}

/* _data.src_info(source) -> size, dtype, shape (table), num_classes */
static int l_src_info(lua_State *L) {
  source *s = check_source(L, 1, "info");
  lua_pushinteger(L, s->size);
  lua_pushstring(L, lt_dtype_name(s->dtype));
  lua_createtable(L, s->ndim, 0);
  for (int d = 0; d < s->ndim; d++) {
    lua_pushinteger(L, s->shape[d]);
    lua_rawseti(L, -2, d + 1);
  }
  lua_pushinteger(L, s->num_classes);
  return 4;
}

/* ---- the loader ------------------------------------------------------------------ */

typedef struct {
  lt_storage *dest;   /* where the batch's output goes */
  int64_t count;      /* samples after dropping skipped ones */
  uint64_t gen_pos;   /* the generator's position after the native steps */
} slot;

enum { LENT_MAX = 16 };

/* Storages handed to Lua, oldest first, for reuse once Lua drops them. */
typedef struct {
  lt_storage *s[LENT_MAX];
  int n;
} lent_list;

typedef struct {
  lt_loader *loader;
  source *src;              /* user value 1 */
  lt_tf_plan *plan;         /* owned; NULL: the batch is copied as it is */
  lt_dtype out_dt;
  int out_ndim;             /* per-sample output shape */
  int64_t out_shape[4];
  size_t out_sample_bytes;
  int64_t batch_size, nbatches;
  uint64_t seed;
  int K;                    /* slots: prefetch + 1 */
  slot *slots;
  pthread_mutex_t mu;       /* guards slots */
  bool mu_ok;
  bool want_gen;            /* Lua transforms follow: hand out the generator */
  bool pin;                 /* batch storages in pinned memory */
  lent_list lent;           /* image batch storages */
  lent_list lent_labels;    /* label storages (only with pin: labels are fresh tensors otherwise) */
  atomic_llong skipped;     /* samples dropped as unreadable since the epoch started */
} loader_ud;

/* The worker-side hook: drops skipped samples, then runs the native steps
 * from the loader's images buffer into the batch's slot storage. */
static lt_status loader_hook(void *ctx, int64_t epoch, int64_t batch, int64_t count, const int64_t *indices,
                             uint8_t *images, int64_t *labels, void *out) {
  (void)indices;
  (void)out;
  loader_ud *l = ctx;
  pthread_mutex_lock(&l->mu);
  slot *sl = &l->slots[batch % l->K];
  lt_storage *dest = sl->dest;
  pthread_mutex_unlock(&l->mu);
  if (!dest) return lt_error_set(LT_ERR_OOM, 0, "no output buffer for batch %lld (an earlier allocation failed)", (long long)batch + 1);
  int64_t n = count, sb = l->src->sample_bytes;
  if (l->src->may_skip) {
    n = 0;
    for (int64_t k = 0; k < count; k++) {
      if (labels[k] < 1) continue;
      if (n != k) {
        memcpy(images + n * sb, images + k * sb, (size_t)sb);
        labels[n] = labels[k];
      }
      n++;
    }
    if (n < count) atomic_fetch_add(&l->skipped, count - n);
  }
  lt_data_gen g;
  lt_data_gen_batch(&g, l->seed, epoch, batch);
  lt_status st = LT_OK;
  if (l->plan) st = lt_tf_plan_run(l->plan, &g, n, images, dest->data);
  else if (n > 0) memcpy(dest->data, images, (size_t)(n * sb));
  pthread_mutex_lock(&l->mu);
  sl->count = n;
  sl->gen_pos = g.pos;
  pthread_mutex_unlock(&l->mu);
  return st;
}

static loader_ud *check_loader(lua_State *L, int idx, const char *fname) {
  loader_ud *l = luaL_checkudata(L, idx, LOADER_MT);
  if (!l->loader) luaL_error(L, "%s: the DataLoader was closed", fname);
  return l;
}

static void drop_list(lent_list *ll) {
  for (int k = 0; k < ll->n; k++) lt_storage_release(ll->s[k]);
  ll->n = 0;
}

static void drop_lent(loader_ud *l) {
  drop_list(&l->lent);
  drop_list(&l->lent_labels);
}

static void drop_slots(loader_ud *l) {
  for (int k = 0; k < l->K; k++) {
    lt_storage_release(l->slots[k].dest);
    l->slots[k].dest = NULL;
  }
}

static int loader_gc(lua_State *L) {
  loader_ud *l = luaL_checkudata(L, 1, LOADER_MT);
  lt_loader_destroy(l->loader); /* joins the workers: no hook runs after this */
  l->loader = NULL;
  lt_tf_plan_free(l->plan);
  l->plan = NULL;
  if (l->slots) drop_slots(l);
  free(l->slots);
  l->slots = NULL;
  drop_lent(l);
  if (l->mu_ok) pthread_mutex_destroy(&l->mu);
  l->mu_ok = false;
  return 0;
}

/* A storage of `bytes` from list ll: a lent one that only the list holds
 * (no tensor, no queued copy), or a new one, pinned with l->pin. */
static lt_storage *reuse_storage(lua_State *L, loader_ud *l, lent_list *ll, size_t bytes) {
  for (int k = 0; k < ll->n; k++) {
    if (atomic_load(&ll->s[k]->refcount) == 1) {
      lt_storage *s = ll->s[k];
      memmove(ll->s + k, ll->s + k + 1, (size_t)(ll->n - k - 1) * sizeof *ll->s);
      ll->n--;
      return s;
    }
  }
  lt_storage *s = NULL;
  lt_status st = l->pin ? lt_storage_new_pinned(bytes > 0 ? bytes : 1, &s)
                        : lt_storage_new(lt_cpu_device(), bytes > 0 ? bytes : 1, &s);
  if (st != LT_OK) {
    luaL_error(L, "DataLoader: %s", lt_error_message());
    return NULL;
  }
  return s;
}

/* A storage for one output batch. */
static lt_storage *batch_storage(lua_State *L, loader_ud *l) {
  return reuse_storage(L, l, &l->lent, l->out_sample_bytes * (size_t)l->batch_size);
}

static void lend_to(lent_list *ll, lt_storage *s) {
  if (ll->n == LENT_MAX) {
    lt_storage_release(ll->s[0]);
    memmove(ll->s, ll->s + 1, (LENT_MAX - 1) * sizeof *ll->s);
    ll->n--;
  }
  ll->s[ll->n++] = s;
}

static void lend(loader_ud *l, lt_storage *s) { lend_to(&l->lent, s); }

/* The labels tensor of a batch of n: in `ls`, a recycled pinned storage of
 * batch_size labels, with pin_memory (lent back here in any case), a fresh
 * tensor otherwise. */
static lt_status labels_tensor(loader_ud *l, lt_storage *ls, int64_t n, lt_tensor **out) {
  if (!ls) return lt_tensor_empty(1, &n, LT_INT64, lt_cpu_device(), out);
  int64_t stride = 1;
  lt_status st = lt_tensor_from_storage(ls, 0, 1, &n, &stride, LT_INT64, out);
  lend_to(&l->lent_labels, ls); /* our reference; the tensor holds its own */
  return st;
}

static bool opt_bool(lua_State *L, int t, const char *k) {
  lua_getfield(L, t, k);
  bool v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

static int64_t opt_int(lua_State *L, int t, const char *k, int64_t dflt) {
  int64_t v = dflt;
  if (lua_getfield(L, t, k) != LUA_TNIL) v = lt_lua_check_integer(L, -1, "DataLoader", k);
  lua_pop(L, 1);
  return v;
}

/* _data.loader(source, {batch_size=, shuffle=, drop_last=, num_workers=,
 * prefetch=, seed=, pin_memory=}, steps|nil, want_gen) -> loader. The Lua
 * side has checked the options' types and ranges (and drops pin_memory when
 * no GPU can pin memory). */
static int l_loader(lua_State *L) {
  const char *fname = "DataLoader";
  source *src = check_source(L, 1, fname);
  luaL_checktype(L, 2, LUA_TTABLE);
  lt_loader_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.batch_size = opt_int(L, 2, "batch_size", 1);
  cfg.shuffle = opt_bool(L, 2, "shuffle");
  cfg.drop_last = opt_bool(L, 2, "drop_last");
  cfg.num_workers = (int)opt_int(L, 2, "num_workers", 0);
  int64_t prefetch = opt_int(L, 2, "prefetch", 0);
  cfg.seed = (uint64_t)opt_int(L, 2, "seed", 0);
  if (cfg.batch_size < 1) return lt_lua_argerror(L, 2, fname, "batch_size must be >= 1, got %lld", (long long)cfg.batch_size);
  if (cfg.num_workers < 0 || cfg.num_workers > 256)
    return lt_lua_argerror(L, 2, fname, "num_workers must be in 0..256, got %d", cfg.num_workers);
  if (prefetch < 0 || prefetch > 1024) return lt_lua_argerror(L, 2, fname, "prefetch must be in 0..1024, got %lld", (long long)prefetch);
  cfg.prefetch = prefetch ? (int)prefetch : 2 * (cfg.num_workers ? cfg.num_workers : 1);

  loader_ud *l = lua_newuserdatauv(L, sizeof *l, 1);
  memset(l, 0, sizeof *l);
  atomic_init(&l->skipped, 0);
  luaL_setmetatable(L, LOADER_MT);
  int ud = lua_gettop(L);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, ud, 1);
  l->src = src;
  l->seed = cfg.seed;
  l->batch_size = cfg.batch_size;
  l->want_gen = lua_toboolean(L, 4);
  l->pin = opt_bool(L, 2, "pin_memory");
  l->out_dt = src->dtype;
  l->out_ndim = src->ndim;
  memcpy(l->out_shape, src->shape, sizeof l->out_shape);
  if (!lua_isnoneornil(L, 3)) {
    if (src->ndim != 3) {
      char b[96];
      return luaL_error(L, "%s: transforms need image samples [C,H,W], the dataset's samples are %s", fname,
                        lt_shape_str(src->ndim, src->shape, b, sizeof b));
    }
    lt_tf_geom in = {src->dtype, src->shape[0], src->shape[1], src->shape[2]};
    lt_lua_plan_box *pb = lt_lua_push_plan(L, 3, in, cfg.batch_size, fname);
    l->plan = pb->plan; /* the loader's now: freed after its workers stop */
    pb->plan = NULL;
    lua_pop(L, 1);
    lt_tf_geom out = lt_tf_plan_out(l->plan);
    l->out_dt = out.dt;
    l->out_shape[0] = out.c;
    l->out_shape[1] = out.h;
    l->out_shape[2] = out.w;
  }
  l->out_sample_bytes = lt_dtype_size(l->out_dt);
  for (int d = 0; d < l->out_ndim; d++) l->out_sample_bytes *= (size_t)l->out_shape[d];
  l->K = cfg.prefetch + 1;
  l->slots = calloc((size_t)l->K, sizeof *l->slots);
  if (!l->slots) return luaL_error(L, "%s: out of memory", fname);
  if (pthread_mutex_init(&l->mu, NULL) != 0) return luaL_error(L, "%s: cannot create a mutex", fname);
  l->mu_ok = true;
  cfg.fetch = src_fetch;
  cfg.fetch_ctx = src;
  cfg.sample_bytes = src->sample_bytes;
  cfg.size = src->size;
  cfg.transform = loader_hook;
  cfg.transform_ctx = l;
  if (lt_loader_create(&cfg, &l->loader) != LT_OK) return luaL_error(L, "%s: %s", fname, lt_error_message());
  l->nbatches = lt_loader_num_batches(l->loader);
  lua_settop(L, ud);
  return 1;
}

/* loader:start(epoch, first_batch): first_batch 0-based */
static int ldr_start(lua_State *L) {
  const char *fname = "iter";
  loader_ud *l = check_loader(L, 1, fname);
  int64_t epoch = lt_lua_check_integer(L, 2, fname, "epoch");
  int64_t first = lt_lua_check_integer(L, 3, fname, "start batch");
  if (epoch < 0) return lt_lua_argerror(L, 2, fname, "epoch must be >= 0, got %lld", (long long)epoch);
  if (first < 0 || first > l->nbatches)
    return lt_lua_argerror(L, 3, fname, "start_batch %lld is outside 1..%lld", (long long)first + 1, (long long)l->nbatches + 1);
  lt_loader_stop(l->loader); /* no worker touches a slot from here on */
  atomic_store(&l->skipped, 0);
  for (int64_t b = first; b < first + l->K && b < l->nbatches; b++) {
    slot *sl = &l->slots[b % l->K];
    if (!sl->dest) sl->dest = batch_storage(L, l);
  }
  if (lt_loader_start_epoch_at(l->loader, epoch, first) != LT_OK) return luaL_error(L, "%s: %s", fname, lt_error_message());
  return 0;
}

/* loader:next() -> batch index (1-based), images, labels [, generator], or
 * nothing at the end of the epoch */
static int ldr_next(lua_State *L) {
  const char *fname = "DataLoader";
  loader_ud *l = check_loader(L, 1, fname);
  lt_tensor **ibox = lt_lua_newbox(L), **lbox = lt_lua_newbox(L);
  /* sources of finished non_blocking copies go back to the lent lists */
  if (lt_transfer_poll(false) != LT_OK) return luaL_error(L, "%s: %s", fname, lt_error_message());
  /* taken before the batch, so that a failure here holds no batch */
  lt_storage *ls = l->pin ? reuse_storage(L, l, &l->lent_labels, (size_t)l->batch_size * sizeof(int64_t)) : NULL;
  lt_batch *b = NULL;
  lt_status nst = lt_loader_next(l->loader, &b);
  if (nst != LT_OK || !b) {
    if (ls) lend_to(&l->lent_labels, ls);
    if (nst != LT_OK) return luaL_error(L, "%s: %s", fname, lt_error_message());
    return 0;
  }
  int64_t index = b->index, epoch = b->epoch;
  pthread_mutex_lock(&l->mu);
  slot *sl = &l->slots[index % l->K];
  int64_t n = sl->count;
  uint64_t pos = sl->gen_pos;
  lt_storage *dest = sl->dest;
  sl->dest = NULL;
  pthread_mutex_unlock(&l->mu);
  if (!dest) {
    lt_loader_release(l->loader, b);
    if (ls) lend_to(&l->lent_labels, ls);
    return luaL_error(L, "%s: batch %lld has no output buffer", fname, (long long)index + 1);
  }
  lt_status st = labels_tensor(l, ls, n, lbox);
  if (st == LT_OK && n > 0) memcpy(lt_tensor_data(*lbox), b->labels, (size_t)n * sizeof(int64_t));
  lt_loader_release(l->loader, b);
  if (st == LT_OK) {
    int64_t shape[5] = {n}, stride[5];
    for (int d = 0; d < l->out_ndim; d++) shape[d + 1] = l->out_shape[d];
    lt_contiguous_strides(l->out_ndim + 1, shape, stride);
    st = lt_tensor_from_storage(dest, 0, l->out_ndim + 1, shape, stride, l->out_dt, ibox);
  }
  lend(l, dest); /* our reference; the tensor holds its own */
  /* The collector cannot see the batch's bytes: count them as allocated,
   * so dropped batches are collected (and their storages reused) about as
   * fast as they are handed out. */
  lua_gc(L, LUA_GCSTEP, (int)((l->out_sample_bytes * (size_t)l->batch_size) >> 10) + 1);
  if (st != LT_OK) return luaL_error(L, "%s: %s", fname, lt_error_message());
  if (index + l->K < l->nbatches) {
    lt_storage *s = batch_storage(L, l);
    pthread_mutex_lock(&l->mu);
    sl->dest = s;
    pthread_mutex_unlock(&l->mu);
  }
  lua_pushinteger(L, index + 1);
  lua_insert(L, -3);
  if (!l->want_gen) return 3;
  lt_data_gen g;
  lt_data_gen_batch(&g, l->seed, epoch, index);
  lt_lua_push_gen(L, g.key, pos);
  return 4;
}

/* loader:stop(): abandons the epoch and gives back the buffers it holds */
static int ldr_stop(lua_State *L) {
  loader_ud *l = luaL_checkudata(L, 1, LOADER_MT);
  if (!l->loader) return 0;
  lt_loader_stop(l->loader);
  drop_slots(l);
  drop_lent(l);
  return 0;
}

/* loader:skipped() -> the samples dropped as unreadable (ImageFolder with
 * on_error = "skip") since the epoch started */
static int ldr_skipped(lua_State *L) {
  loader_ud *l = check_loader(L, 1, "skipped");
  lua_pushinteger(L, (lua_Integer)atomic_load(&l->skipped));
  return 1;
}

static int ldr_len(lua_State *L) {
  loader_ud *l = check_loader(L, 1, "len");
  lua_pushinteger(L, l->nbatches);
  return 1;
}

/* ---- odds and ends ------------------------------------------------------------- */

/* _data.permutation(seed, epoch, n) -> a table of 1..n in the loader's order */
static int l_permutation(lua_State *L) {
  const char *fname = "permutation";
  int64_t seed = lt_lua_check_integer(L, 1, fname, "seed"), epoch = lt_lua_check_integer(L, 2, fname, "epoch");
  int64_t n = lt_lua_check_integer(L, 3, fname, "n");
  if (n < 0 || n > (int64_t)1 << 31) return lt_lua_argerror(L, 3, fname, "n must be in 0..2^31, got %lld", (long long)n);
  int64_t *p = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof(int64_t), 0);
  if (lt_loader_permutation((uint64_t)seed, epoch, n, p) != LT_OK) return luaL_error(L, "%s: %s", fname, lt_error_message());
  lua_createtable(L, (int)n, 0);
  for (int64_t i = 0; i < n; i++) {
    lua_pushinteger(L, p[i] + 1);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* _data.random_seed(): a seed drawn from the global generator (so
 * lt.manual_seed makes an unseeded loader reproducible) */
static int l_random_seed(lua_State *L) {
  uint32_t b[4];
  lt_rng *r = lt_rng_global();
  lt_philox_block(r->seed, lt_rng_reserve(r, 1), b);
  lua_pushinteger(L, (lua_Integer)(((uint64_t)b[0] | (uint64_t)(b[1] & 0x7fffffff) << 32)));
  return 1;
}

static int l_is_dir(lua_State *L) {
  struct stat st;
  lua_pushboolean(L, stat(luaL_checkstring(L, 1), &st) == 0 && S_ISDIR(st.st_mode));
  return 1;
}

/* _data.classes(name) -> the class names of a known dataset */
static int l_classes(lua_State *L) {
  int64_t n = 0;
  const char *const *names = lt_dataset_classes(luaL_checkstring(L, 1), &n);
  if (!names) return luaL_error(L, "classes: unknown dataset '%s'", lua_tostring(L, 1));
  lua_createtable(L, (int)n, 0);
  for (int64_t k = 0; k < n; k++) {
    lua_pushstring(L, names[k]);
    lua_rawseti(L, -2, k + 1);
  }
  return 1;
}

/* _data.now(): a monotonic wall clock in seconds (os.clock is CPU time) */
static int l_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec);
  return 1;
}

/* _data.memcpy(dst, src): a raw memcpy between two contiguous CPU tensors
 * of the same byte size, the bandwidth reference of the loader benchmark */
static int l_memcpy(lua_State *L) {
  lt_tensor *d = lt_lua_check_tensor(L, 1, "memcpy"), *s = lt_lua_check_tensor(L, 2, "memcpy");
  size_t nd = (size_t)lt_tensor_numel(d) * lt_dtype_size(d->dtype), ns = (size_t)lt_tensor_numel(s) * lt_dtype_size(s->dtype);
  if (!lt_tensor_is_contiguous(d) || !lt_tensor_is_contiguous(s) || lt_tensor_device(d).type != LT_CPU ||
      lt_tensor_device(s).type != LT_CPU || nd != ns)
    return luaL_error(L, "memcpy: expected two contiguous CPU tensors of the same byte size");
  memcpy(lt_tensor_data(d), lt_tensor_data(s), nd);
  return 0;
}

void lt_lua_open_data(lua_State *L, int methods) {
  lt_lua_open_transfer(L, methods);
  luaL_newmetatable(L, SRC_MT);
  lua_pushcfunction(L, src_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushliteral(L, "DataSource");
  lua_setfield(L, -2, "__name");
  lua_pop(L, 1);
  static const luaL_Reg loader_methods[] = {{"start", ldr_start}, {"next", ldr_next}, {"stop", ldr_stop},
                                            {"skipped", ldr_skipped}, {"close", loader_gc}, {NULL, NULL}};
  luaL_newmetatable(L, LOADER_MT);
  luaL_newlib(L, loader_methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, loader_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, ldr_len);
  lua_setfield(L, -2, "__len");
  lua_pushliteral(L, "NativeLoader");
  lua_setfield(L, -2, "__name");
  lua_pop(L, 1);
  static const luaL_Reg fns[] = {
    {"tensor_source", l_tensor_source}, {"cifar", l_cifar}, {"idx", l_idx}, {"folder_source", l_folder_source},
    {"load_image", l_load_image}, {"write_image", l_write_image},
    {"subset_source", l_subset_source}, {"src_get", l_src_get}, {"src_info", l_src_info}, {"loader", l_loader},
    {"permutation", l_permutation}, {"random_seed", l_random_seed}, {"is_dir", l_is_dir}, {"classes", l_classes},
    {"now", l_now}, {"memcpy", l_memcpy}, {NULL, NULL}};
  luaL_newlib(L, fns);
  lt_lua_open_transforms(L, -1);
  lua_setfield(L, -2, "_data");
}
