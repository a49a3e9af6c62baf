/* lt_lua_data.c — Lua glue for the data layer (src/data): the native
 * dataset sources (CIFAR and IDX splits read into tensors, tensors
 * themselves, image folders decoded on demand, subsets of any of these),
 * single images read and written, and the native loader that batches a
 * source and runs the built-in transforms in worker threads (a rank's share
 * of each epoch under distributed sampling; the same shares and batch
 * generators for the loader over a Lua dataset: shard_size, rank_order,
 * batch_gen).
 *
 * Registers lt._data, the native half of lua/luatrain/data (lt.data) and
 * lua/luatrain/transforms (lt.transforms); users see those two. Not here:
 * the dataset classes, option checking and the iteration protocol (Lua),
 * the sources (lt_source.h), the loader and its zero-copy batches
 * (lt_dataloader.h), the transform glue (lt_lua_transforms.c). This file
 * turns Lua values into those structures and their results into Lua
 * values. Also registers t:pin_memory() and t:is_pinned()
 * (lt_lua_transfer.c). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "lt_atomic_file.h"
#include "lt_data_gen.h"
#include "lt_dataloader.h"
#include "lt_dataset_readers.h"
#include "lt_image.h"
#include "lt_loader.h"
#include "lt_lua.h"
#include "lt_lua_transfer.h"
#include "lt_lua_transforms.h"
#include "lt_source.h"

#define SRC_MT "luatrain.DataSource"
#define LOADER_MT "luatrain.NativeLoader"

/* ---- sources ----------------------------------------------------------------- */

/* A source userdata holds one reference (NULL until built). */
static int src_gc(lua_State *L) {
  lt_source **box = luaL_checkudata(L, 1, SRC_MT);
  lt_source_release(*box);
  *box = NULL;
  return 0;
}

static lt_source **push_source(lua_State *L) {
  lt_source **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = NULL;
  luaL_setmetatable(L, SRC_MT);
  return box;
}

static lt_source *check_source(lua_State *L, int idx, const char *fname) {
  lt_source **box = luaL_testudata(L, idx, SRC_MT);
  if (!box || !*box) lt_lua_argerror(L, idx, fname, "expected a native dataset, got %s", luaL_typename(L, idx));
  return *box;
}

/* _data.tensor_source(images, labels, num_classes, fname) -> source, num_classes
 * images: a CPU tensor [N, ...] (at most 4 sample dims, any dtype); labels:
 * an integer tensor [N] or a table of N integers, 1-based; num_classes 0:
 * the largest. */
static int l_tensor_source(lua_State *L) {
  const char *fname = luaL_optstring(L, 4, "TensorDataset");
  lt_tensor *x = lt_lua_check_tensor(L, 1, fname);
  int64_t num_classes = luaL_optinteger(L, 3, 0);
  lt_tensor *labels = lt_lua_to_tensor(L, 2);
  if (!labels && lua_type(L, 2) == LUA_TTABLE) {
    int64_t n = luaL_len(L, 2);
    if (x->ndim >= 1 && n != x->shape[0])
      return lt_lua_argerror(L, 2, fname, "expected %lld labels (one per image), got a table of %lld",
                             (long long)x->shape[0], (long long)n);
    lt_tensor **lbox = lt_lua_newbox(L);
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
    labels = *lbox;
  } else if (!labels) {
    return lt_lua_argerror(L, 2, fname, "expected labels as an int64 tensor or a table, got %s", luaL_typename(L, 2));
  }
  lt_source **box = push_source(L);
  LT_LUA_CHECK(L, lt_source_from_tensors(x, labels, num_classes, box), fname);
  lua_pushinteger(L, (*box)->num_classes);
  return 2;
}

/* _data.cifar(root, version, train, coarse, fname) -> images uint8 [N,3,32,32], labels int64 [N], classes */
static int l_cifar(lua_State *L) {
  const char *root = luaL_checkstring(L, 1);
  int version = (int)luaL_checkinteger(L, 2);
  bool train = lua_toboolean(L, 3), coarse = lua_toboolean(L, 4);
  const char *fname = luaL_optstring(L, 5, "CIFAR");
  lt_tensor **ibox = lt_lua_newbox(L), **lbox = lt_lua_newbox(L);
  int64_t num_classes = 0;
  LT_LUA_CHECK(L, lt_source_read_cifar(root, version, train, coarse, ibox, lbox, &num_classes), fname);
  lua_pushinteger(L, num_classes);
  return 3;
}

/* _data.idx(root, images_name, labels_name, num_classes, fname) -> images uint8 [N,1,H,W], labels, num_classes */
static int l_idx(lua_State *L) {
  const char *root = luaL_checkstring(L, 1), *iname = luaL_checkstring(L, 2), *lname = luaL_checkstring(L, 3);
  int64_t num_classes = luaL_checkinteger(L, 4);
  const char *fname = luaL_optstring(L, 5, "IDX");
  lt_tensor **ibox = lt_lua_newbox(L), **lbox = lt_lua_newbox(L);
  int64_t ncls = 0;
  LT_LUA_CHECK(L, lt_source_read_idx(root, iname, lname, num_classes, ibox, lbox, &ncls), fname);
  lua_pushinteger(L, ncls);
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
  lt_source **box = push_source(L);
  LT_LUA_CHECK(L, lt_source_folder(root, h, w, skip, &opt, box), fname);
  const lt_image_folder *f = &(*box)->folder;
  lua_createtable(L, (int)f->num_classes, 0);
  for (int64_t k = 0; k < f->num_classes; k++) {
    lua_pushstring(L, f->classes[k]);
    lua_rawseti(L, -2, k + 1);
  }
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
  LT_LUA_CHECK(L, st, fname);
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
  if (st == LT_OK) {
    bytes_ctx bc = {bytes, len};
    st = lt_atomic_write(path, write_bytes, &bc);
  }
  free(bytes);
  LT_LUA_CHECK_ARG(L, st, fname, 1); /* the encoders refuse the image; file errors blame no argument */
  return 0;
}

/* _data.subset_source(parent, indices) -> source; indices 1-based (an
 * integer tensor or a table). */
static int l_subset_source(lua_State *L) {
  const char *fname = "Subset";
  lt_source *parent = check_source(L, 1, fname);
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
  lt_tensor **ibox = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_tensor_empty(1, &n, LT_INT64, lt_cpu_device(), ibox), fname);
  int64_t *index = lt_tensor_data(*ibox);
  if (t) {
    lt_tensor **h = lt_lua_newbox(L);
    LT_LUA_CHECK(L, lt_op_host_contiguous(t, h), fname);
    for (int64_t i = 0; i < n; i++) index[i] = lt_dtype_load_i64((const char *)lt_tensor_data(*h) + i * (int64_t)lt_dtype_size(t->dtype), t->dtype);
  } else {
    for (int64_t i = 0; i < n; i++) {
      lua_geti(L, 2, i + 1);
      if (!lua_isinteger(L, -1))
        return lt_lua_argerror(L, 2, fname, "index %lld is a %s, expected an integer", (long long)i + 1,
                               lua_type(L, -1) == LUA_TNUMBER ? "non-integer number" : luaL_typename(L, -1));
      index[i] = lua_tointeger(L, -1);
      lua_pop(L, 1);
    }
  }
  lt_source **box = push_source(L);
  LT_LUA_CHECK(L, lt_source_subset(parent, index, n, box), fname);
  return 1;
}

/* _data.src_get(source, i) -> image tensor, label (1-based i) */
static int l_src_get(lua_State *L) {
  const char *fname = "get";
  lt_source *s = check_source(L, 1, fname);
  int64_t i = lt_lua_check_integer(L, 2, fname, "index");
  if (i < 1 || i > s->size)
    return lt_lua_argerror(L, 2, fname, "index %lld is outside 1..%lld", (long long)i, (long long)s->size);
  lt_tensor **box = lt_lua_newbox(L);
  LT_LUA_CHECK(L, lt_tensor_empty(s->ndim, s->shape, s->dtype, lt_cpu_device(), box), fname);
  int64_t label = 0;
  LT_LUA_CHECK(L, lt_source_get(s, i - 1, lt_tensor_data(*box), &label), fname);
  lua_pushinteger(L, label);
  return 2;
}

/* _data.src_info(source) -> size, dtype, shape (table), num_classes */
static int l_src_info(lua_State *L) {
  lt_source *s = check_source(L, 1, "info");
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
  lt_dataloader *d;         /* NULL once closed */
  bool want_gen;            /* Lua transforms follow: hand out the generator */
} loader_box;

static loader_box *check_loader(lua_State *L, int idx, const char *fname) {
  loader_box *l = luaL_checkudata(L, idx, LOADER_MT);
  if (!l->d) luaL_error(L, "%s: the DataLoader was closed", fname);
  return l;
}

static int loader_gc(lua_State *L) {
  loader_box *l = luaL_checkudata(L, 1, LOADER_MT);
  lt_dataloader_destroy(l->d);
  l->d = NULL;
  return 0;
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
 * prefetch=, seed=, pin_memory=, rank=, world_size=}, steps|nil, want_gen)
 * -> loader; rank 0-based, world_size nil or 1: not distributed. The Lua
 * side has checked the options' types and ranges (and drops pin_memory when
 * no GPU can pin memory); the loader checks them again, naming no argument. */
static int l_loader(lua_State *L) {
  const char *fname = "DataLoader";
  lt_source *src = check_source(L, 1, fname);
  luaL_checktype(L, 2, LUA_TTABLE);
  lt_dataloader_options o;
  memset(&o, 0, sizeof o);
  o.batch_size = opt_int(L, 2, "batch_size", 1);
  o.shuffle = opt_bool(L, 2, "shuffle");
  o.drop_last = opt_bool(L, 2, "drop_last");
  int64_t workers = opt_int(L, 2, "num_workers", 0), prefetch = opt_int(L, 2, "prefetch", 0);
  o.num_workers = (int)(workers < INT_MIN ? INT_MIN : workers > INT_MAX ? INT_MAX : workers);
  o.prefetch = (int)(prefetch < INT_MIN ? INT_MIN : prefetch > INT_MAX ? INT_MAX : prefetch);
  o.seed = (uint64_t)opt_int(L, 2, "seed", 0);
  o.pin_memory = opt_bool(L, 2, "pin_memory");
  o.rank = opt_int(L, 2, "rank", 0);
  o.world_size = opt_int(L, 2, "world_size", 1);
  int nsteps = 0;
  const lt_tf_step **steps = NULL;
  if (!lua_isnoneornil(L, 3)) steps = lt_lua_check_steps(L, 3, &nsteps);
  loader_box *l = lua_newuserdatauv(L, sizeof *l, 0);
  l->d = NULL;
  l->want_gen = lua_toboolean(L, 4);
  luaL_setmetatable(L, LOADER_MT);
  LT_LUA_CHECK(L, lt_dataloader_create(src, lua_isnoneornil(L, 3) ? NULL : steps, nsteps, &o, &l->d), fname);
  return 1;
}

/* loader:start(epoch, first_batch): first_batch 0-based */
static int ldr_start(lua_State *L) {
  const char *fname = "iter";
  loader_box *l = check_loader(L, 1, fname);
  int64_t epoch = lt_lua_check_integer(L, 2, fname, "epoch");
  int64_t first = lt_lua_check_integer(L, 3, fname, "start batch");
  int64_t nb = lt_dataloader_num_batches(l->d);
  if (epoch < 0) return lt_lua_argerror(L, 2, fname, "epoch must be >= 0, got %lld", (long long)epoch);
  if (first < 0 || first > nb)
    return lt_lua_argerror(L, 3, fname, "start_batch %lld is outside 1..%lld", (long long)first + 1, (long long)nb + 1);
  LT_LUA_CHECK(L, lt_dataloader_start(l->d, epoch, first), fname);
  return 0;
}

/* loader:next() -> batch index (1-based), images, labels [, generator], or
 * nothing at the end of the epoch */
static int ldr_next(lua_State *L) {
  const char *fname = "DataLoader";
  loader_box *l = check_loader(L, 1, fname);
  /* The collector cannot see the batches' bytes: count each as allocated,
   * so dropped batches are collected (and their storages reused for the
   * batches to come) about as fast as they are handed out. */
  lua_gc(L, LUA_GCSTEP, (int)(lt_dataloader_batch_bytes(l->d) >> 10) + 1);
  lt_tensor **ibox = lt_lua_newbox(L), **lbox = lt_lua_newbox(L);
  lt_dataloader_batch b;
  bool done;
  LT_LUA_CHECK(L, lt_dataloader_next(l->d, &b, &done), fname);
  if (done) return 0;
  *ibox = b.images;
  *lbox = b.labels;
  lua_pushinteger(L, b.index + 1);
  lua_insert(L, -3);
  if (!l->want_gen) return 3;
  lt_lua_push_gen(L, b.gen.key, b.gen.pos);
  return 4;
}

/* loader:stop(): abandons the epoch and gives back the buffers it holds */
static int ldr_stop(lua_State *L) {
  loader_box *l = luaL_checkudata(L, 1, LOADER_MT);
  if (l->d) lt_dataloader_stop(l->d);
  return 0;
}

/* loader:skipped() -> the samples dropped as unreadable (ImageFolder with
 * on_error = "skip") since the epoch started */
static int ldr_skipped(lua_State *L) {
  loader_box *l = check_loader(L, 1, "skipped");
  lua_pushinteger(L, (lua_Integer)lt_dataloader_skipped(l->d));
  return 1;
}

static int ldr_len(lua_State *L) {
  loader_box *l = check_loader(L, 1, "len");
  lua_pushinteger(L, lt_dataloader_num_batches(l->d));
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
  LT_LUA_CHECK(L, lt_loader_permutation((uint64_t)seed, epoch, n, p), fname);
  lua_createtable(L, (int)n, 0);
  for (int64_t i = 0; i < n; i++) {
    lua_pushinteger(L, p[i] + 1);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

/* Distributed sampling's world_size at argument i, checked as the loader
 * checks it (lt_loader.h). */
static int64_t check_world(lua_State *L, int i, const char *fname) {
  int64_t world = lt_lua_check_integer(L, i, fname, "world_size");
  if (world < 1 || world > INT32_MAX)
    lt_lua_argerror(L, i, fname, "world_size must be in 1..%d, got %lld", INT32_MAX, (long long)world);
  return world;
}

/* _data.shard_size(n, world_size, drop_last) -> the samples of each rank,
 * the samples of all ranks together (lt_loader_shard_size) */
static int l_shard_size(lua_State *L) {
  const char *fname = "shard_size";
  int64_t n = lt_lua_check_integer(L, 1, fname, "n"), world = check_world(L, 2, fname);
  if (n < 0) return lt_lua_argerror(L, 1, fname, "n must be >= 0, got %lld", (long long)n);
  int64_t m = lt_loader_shard_size(n, world, lua_toboolean(L, 3));
  lua_pushinteger(L, m);
  lua_pushinteger(L, m * world);
  return 2;
}

/* _data.rank_order(seed|nil, epoch, n, rank, world_size, drop_last) -> a
 * table of the 1-based samples rank `rank` visits in epoch `epoch`: its
 * share (lt_loader_shard) of the loader's permutation, or of 1..n with
 * seed nil (no shuffle) */
static int l_rank_order(lua_State *L) {
  const char *fname = "rank_order";
  bool shuffle = !lua_isnil(L, 1);
  int64_t seed = shuffle ? lt_lua_check_integer(L, 1, fname, "seed") : 0;
  int64_t epoch = lt_lua_check_integer(L, 2, fname, "epoch"), n = lt_lua_check_integer(L, 3, fname, "n");
  int64_t rank = lt_lua_check_integer(L, 4, fname, "rank"), world = check_world(L, 5, fname);
  if (rank < 0 || rank >= world)
    return lt_lua_argerror(L, 4, fname, "rank must be in 0..%lld, got %lld", (long long)world - 1, (long long)rank);
  bool drop_last = lua_toboolean(L, 6);
  if (n < 0 || n > (int64_t)1 << 31) return lt_lua_argerror(L, 3, fname, "n must be in 0..2^31, got %lld", (long long)n);
  int64_t m = lt_loader_shard_size(n, world, drop_last);
  int64_t *order = lua_newuserdatauv(L, (size_t)(n + m + 1) * sizeof(int64_t), 0), *mine = order + n;
  if (shuffle) LT_LUA_CHECK(L, lt_loader_permutation((uint64_t)seed, epoch, n, order), fname);
  else
    for (int64_t i = 0; i < n; i++) order[i] = i;
  lt_loader_shard(order, n, rank, world, drop_last, mine);
  lua_createtable(L, (int)m, 0);
  for (int64_t k = 0; k < m; k++) {
    lua_pushinteger(L, mine[k] + 1);
    lua_rawseti(L, -2, k + 1);
  }
  return 1;
}

/* _data.batch_gen(seed, epoch, batch, rank) -> the Generator the loader
 * hands batch `batch` (1-based) of epoch `epoch` on rank `rank` (0-based;
 * 0: Generator(seed, epoch, batch)) */
static int l_batch_gen(lua_State *L) {
  const char *fname = "generator";
  int64_t seed = lt_lua_check_integer(L, 1, fname, "seed"), epoch = lt_lua_check_integer(L, 2, fname, "epoch");
  int64_t batch = lt_lua_check_integer(L, 3, fname, "batch"), rank = lt_lua_check_integer(L, 4, fname, "rank");
  if (epoch < 0) return lt_lua_argerror(L, 2, fname, "epoch must be >= 0, got %lld", (long long)epoch);
  if (batch < 1 || batch > UINT32_MAX)
    return lt_lua_argerror(L, 3, fname, "batch must be in 1..2^32 - 1, got %lld", (long long)batch);
  if (rank < 0 || rank > INT32_MAX) return lt_lua_argerror(L, 4, fname, "rank must be in 0..%d, got %lld", INT32_MAX, (long long)rank);
  lt_data_gen g;
  lt_data_gen_rank_batch(&g, (uint64_t)seed, epoch, rank, batch - 1);
  lt_lua_push_gen(L, g.key, 0);
  return 1;
}

/* _data.random_seed(): a seed drawn from the global generator (so
 * lt.manual_seed makes an unseeded loader reproducible) */
static int l_random_seed(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)(lt_data_gen_global_key() & INT64_MAX)); /* a non-negative seed */
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
    {"permutation", l_permutation}, {"shard_size", l_shard_size}, {"rank_order", l_rank_order},
    {"batch_gen", l_batch_gen}, {"random_seed", l_random_seed}, {"is_dir", l_is_dir}, {"classes", l_classes},
    {"now", l_now}, {"memcpy", l_memcpy}, {NULL, NULL}};
  luaL_newlib(L, fns);
  lt_lua_open_transforms(L, -1);
  lua_setfield(L, -2, "_data");
}
