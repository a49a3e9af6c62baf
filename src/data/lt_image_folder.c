/* lt_image_folder.c — ImageFolder scanning and JPEG/PNG decoding (see
 * lt_image_folder.h). This is the one translation unit that compiles
 * stb_image's implementation; only its JPEG and PNG decoders are built.
 * stb_image keeps its failure reason thread-local and we never set its
 * global flip flags, so decoding is safe from several threads at once. */
#include "lt_image_folder.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "lt_transforms_cpu.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

#define MAX_DEPTH 64

/* ---- growable arrays of strings ---------------------------------------- */

typedef struct {
  char **items;
  int64_t n, cap;
} strvec;

static bool strvec_push(strvec *v, char *s) {
  if (!s) return false;
  if (v->n == v->cap) {
    int64_t cap = v->cap ? 2 * v->cap : 16;
    char **items = realloc(v->items, (size_t)cap * sizeof *items);
    if (!items) {
      free(s);
      return false;
    }
    v->items = items;
    v->cap = cap;
  }
  v->items[v->n++] = s;
  return true;
}

static void strvec_free(strvec *v) {
  for (int64_t i = 0; i < v->n; i++) free(v->items[i]);
  free(v->items);
  memset(v, 0, sizeof *v);
}

static char *join(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  char *s = malloc(la + lb + 2);
  if (!s) return NULL;
  memcpy(s, a, la);
  s[la] = '/';
  memcpy(s + la + 1, b, lb + 1);
  return s;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A file of a class, kept as (folder, name) so the sort matches
 * torchvision's: sorted(os.walk(...)) orders by folder path first. */
typedef struct {
  char *dir, *name;
} entry;

typedef struct {
  entry *items;
  int64_t n, cap;
} entryvec;

static int cmp_entry(const void *a, const void *b) {
  const entry *x = a, *y = b;
  int c = strcmp(x->dir, y->dir);
  return c ? c : strcmp(x->name, y->name);
}

static bool has_image_ext(const char *name) {
  const char *dot = strrchr(name, '.');
  if (!dot) return false;
  return strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0 || strcasecmp(dot, ".png") == 0;
}

/* Lists a folder's entries except . and .. into v (unsorted). */
static lt_status list_dir(const char *path, strvec *v) {
  DIR *d = opendir(path);
  if (!d) return lt_error_set(LT_ERR_IO, 0, "cannot open folder '%s': %s", path, strerror(errno));
  struct dirent *de;
  lt_status st = LT_OK;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    if (!strvec_push(v, strdup(de->d_name))) {
      st = lt_error_set(LT_ERR_OOM, 0, "out of memory listing '%s'", path);
      break;
    }
  }
  closedir(d);
  return st;
}

/* Collects the image files under `dir` (recursively). `dir` is owned by the
 * caller; entries get their own copies. */
static lt_status walk(const char *dir, int depth, entryvec *out) {
  strvec names = {0};
  if (depth > MAX_DEPTH)
    return lt_error_set(LT_ERR_IO, 0, "folder '%s' is nested more than %d levels deep (a symbolic link loop?)", dir,
                        MAX_DEPTH);
  lt_status st = list_dir(dir, &names);
  for (int64_t i = 0; i < names.n && st == LT_OK; i++) {
    char *full = join(dir, names.items[i]);
    struct stat sb;
    if (!full) {
      st = lt_error_set(LT_ERR_OOM, 0, "out of memory scanning '%s'", dir);
      break;
    }
    if (stat(full, &sb) == 0) {
      if (S_ISDIR(sb.st_mode)) {
        st = walk(full, depth + 1, out);
      } else if (S_ISREG(sb.st_mode) && has_image_ext(names.items[i])) {
        if (out->n == out->cap) {
          int64_t cap = out->cap ? 2 * out->cap : 64;
          entry *items = realloc(out->items, (size_t)cap * sizeof *items);
          if (!items) st = lt_error_set(LT_ERR_OOM, 0, "out of memory scanning '%s'", dir);
          else {
            out->items = items;
            out->cap = cap;
          }
        }
        if (st == LT_OK) {
          entry e = {strdup(dir), strdup(names.items[i])};
          if (!e.dir || !e.name) {
            free(e.dir);
            free(e.name);
            st = lt_error_set(LT_ERR_OOM, 0, "out of memory scanning '%s'", dir);
          } else {
            out->items[out->n++] = e;
          }
        }
      }
    }
    /* Entries that vanish or cannot be stat'ed (dangling links) are skipped,
     * as os.walk skips them. */
    free(full);
  }
  strvec_free(&names);
  return st;
}

static void entryvec_free(entryvec *v) {
  for (int64_t i = 0; i < v->n; i++) {
    free(v->items[i].dir);
    free(v->items[i].name);
  }
  free(v->items);
  memset(v, 0, sizeof *v);
}

void lt_image_folder_free(lt_image_folder *f) {
  if (!f) return;
  for (int64_t i = 0; i < f->num_classes; i++) free(f->classes[i]);
  for (int64_t i = 0; i < f->num_samples; i++) free(f->paths[i]);
  free(f->classes);
  free(f->paths);
  free(f->labels);
  memset(f, 0, sizeof *f);
}

lt_status lt_image_folder_scan(const char *root, lt_image_folder *out) {
  struct stat sb;
  strvec names = {0}, classes = {0}, paths = {0};
  int64_t *labels = NULL, nlabels = 0, labels_cap = 0;
  memset(out, 0, sizeof *out);
  if (!root || !*root) return lt_error_set(LT_ERR_ARG, 0, "expected a folder name, got an empty string");
  if (stat(root, &sb) != 0) {
    if (errno == ENOENT) return lt_error_set(LT_ERR_IO, 0, "folder '%s' does not exist", root);
    return lt_error_set(LT_ERR_IO, 0, "cannot open folder '%s': %s", root, strerror(errno));
  }
  if (!S_ISDIR(sb.st_mode)) return lt_error_set(LT_ERR_IO, 0, "'%s' is not a folder", root);

  lt_status st = list_dir(root, &names);
  for (int64_t i = 0; i < names.n && st == LT_OK; i++) {
    char *full = join(root, names.items[i]);
    if (!full) st = lt_error_set(LT_ERR_OOM, 0, "out of memory scanning '%s'", root);
    else if (stat(full, &sb) == 0 && S_ISDIR(sb.st_mode) && !strvec_push(&classes, strdup(names.items[i])))
      st = lt_error_set(LT_ERR_OOM, 0, "out of memory scanning '%s'", root);
    free(full);
  }
  strvec_free(&names);
  if (st == LT_OK && classes.n == 0) st = lt_error_set(LT_ERR_IO, 0, "folder '%s' has no class sub-folders", root);
  if (st == LT_OK) qsort(classes.items, (size_t)classes.n, sizeof(char *), cmp_str);

  for (int64_t k = 0; k < classes.n && st == LT_OK; k++) {
    entryvec files = {0};
    char *dir = join(root, classes.items[k]);
    if (!dir) st = lt_error_set(LT_ERR_OOM, 0, "out of memory scanning '%s'", root);
    if (st == LT_OK) st = walk(dir, 0, &files);
    if (st == LT_OK && files.n == 0)
      st = lt_error_set(LT_ERR_IO, 0, "class folder '%s' holds no .jpg, .jpeg or .png file", dir);
    if (st == LT_OK) qsort(files.items, (size_t)files.n, sizeof(entry), cmp_entry);
    if (st == LT_OK && nlabels + files.n > labels_cap) {
      int64_t cap = (nlabels + files.n) * 2;
      int64_t *nl = realloc(labels, (size_t)cap * sizeof *nl);
      if (!nl) st = lt_error_set(LT_ERR_OOM, 0, "out of memory scanning '%s'", root);
      else {
        labels = nl;
        labels_cap = cap;
      }
    }
    for (int64_t i = 0; i < files.n && st == LT_OK; i++) {
      if (!strvec_push(&paths, join(files.items[i].dir, files.items[i].name)))
        st = lt_error_set(LT_ERR_OOM, 0, "out of memory scanning '%s'", root);
      else labels[nlabels++] = k + 1;
    }
    entryvec_free(&files);
    free(dir);
  }
  if (st != LT_OK) {
    strvec_free(&classes);
    strvec_free(&paths);
    free(labels);
    return st;
  }
  out->num_classes = classes.n;
  out->classes = classes.items;
  out->num_samples = paths.n;
  out->paths = paths.items;
  out->labels = labels;
  return LT_OK;
}

/* ---- decoding ---------------------------------------------------------- */

lt_status lt_image_info(const char *path, int64_t *h, int64_t *w) {
  int x, y, comp;
  FILE *fp = fopen(path, "rb");
  if (!fp) return lt_error_set(LT_ERR_IO, 0, "cannot open image '%s': %s", path, strerror(errno));
  int ok = stbi_info_from_file(fp, &x, &y, &comp);
  fclose(fp);
  if (!ok) return lt_error_set(LT_ERR_IO, 0, "cannot decode image '%s': %s", path, stbi_failure_reason());
  *h = y;
  *w = x;
  return LT_OK;
}

lt_status lt_image_decode(const char *path, int64_t h, int64_t w, uint8_t *out) {
  int x, y, comp;
  if (h < 1 || w < 1 || !out)
    return lt_error_set(LT_ERR_ARG, 0, "image size must be positive, got %lldx%lld", (long long)h, (long long)w);
  FILE *fp = fopen(path, "rb");
  if (!fp) return lt_error_set(LT_ERR_IO, 0, "cannot open image '%s': %s", path, strerror(errno));
  uint8_t *pix = stbi_load_from_file(fp, &x, &y, &comp, 3);
  fclose(fp);
  if (!pix) return lt_error_set(LT_ERR_IO, 0, "cannot decode image '%s': %s", path, stbi_failure_reason());
  /* stb gives interleaved [y, x, 3]; we want planes. */
  const size_t hw = (size_t)x * (size_t)y;
  uint8_t *planar = (x == w && y == h) ? out : malloc(3 * hw);
  if (!planar) {
    stbi_image_free(pix);
    return lt_error_set(LT_ERR_OOM, 0, "out of memory decoding '%s' (%dx%d)", path, y, x);
  }
  for (size_t k = 0; k < hw; k++) {
    planar[k] = pix[3 * k];
    planar[hw + k] = pix[3 * k + 1];
    planar[2 * hw + k] = pix[3 * k + 2];
  }
  stbi_image_free(pix);
  lt_status st = LT_OK;
  if (planar != out) {
    st = lt_transforms_resize(LT_UINT8, planar, out, 1, 3, y, x, h, w);
    free(planar);
  }
  return st;
}

lt_status lt_image_folder_fetch(void *source, int64_t index, uint8_t *image_out, int64_t *label_out) {
  const lt_image_folder_source *src = source;
  if (!src || !src->folder || index < 0 || index >= src->folder->num_samples)
    return lt_error_set(LT_ERR_ARG, 0, "sample index %lld is out of range for an image folder of %lld files",
                        (long long)index, src && src->folder ? (long long)src->folder->num_samples : 0LL);
  LT_TRY(lt_image_decode(src->folder->paths[index], src->h, src->w, image_out));
  *label_out = src->folder->labels[index];
  return LT_OK;
}
