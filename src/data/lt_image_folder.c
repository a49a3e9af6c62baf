/* lt_image_folder.c — the ImageFolder scan and its loader source (see
 * lt_image_folder.h). The set of folders seen is a small open-addressing
 * hash table keyed by (device, inode), holding each folder's first path so
 * a skipped link can say where its folder was already scanned. */
#include "lt_image_folder.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

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

/* ---- the folders seen ---------------------------------------------------- */

typedef struct {
  dev_t dev;
  ino_t ino;
  char *path; /* NULL: empty slot */
} seen_slot;

typedef struct {
  seen_slot *slots;
  size_t cap, n; /* cap is a power of two, kept at least twice n */
} seen_set;

static size_t seen_hash(dev_t dev, ino_t ino) {
  uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev * 0xc2b2ae3d27d4eb4full;
  return (size_t)(h ^ (h >> 29));
}

/* The path under which (dev, ino) was first seen, or NULL. */
static const char *seen_find(const seen_set *s, dev_t dev, ino_t ino) {
  if (!s->cap) return NULL;
  for (size_t i = seen_hash(dev, ino) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
    const seen_slot *e = &s->slots[i];
    if (!e->path) return NULL;
    if (e->dev == dev && e->ino == ino) return e->path;
  }
}

static bool seen_add(seen_set *s, dev_t dev, ino_t ino, const char *path) {
  if (2 * (s->n + 1) > s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 64;
    seen_slot *slots = calloc(cap, sizeof *slots);
    if (!slots) return false;
    for (size_t k = 0; k < s->cap; k++) {
      seen_slot *e = &s->slots[k];
      if (!e->path) continue;
      size_t i = seen_hash(e->dev, e->ino) & (cap - 1);
      while (slots[i].path) i = (i + 1) & (cap - 1);
      slots[i] = *e;
    }
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
  }
  char *copy = strdup(path);
  if (!copy) return false;
  size_t i = seen_hash(dev, ino) & (s->cap - 1);
  while (s->slots[i].path) i = (i + 1) & (s->cap - 1);
  s->slots[i] = (seen_slot){dev, ino, copy};
  s->n++;
  return true;
}

static void seen_free(seen_set *s) {
  for (size_t k = 0; k < s->cap; k++) free(s->slots[k].path);
  free(s->slots);
  memset(s, 0, sizeof *s);
}

/* ---- the scan ---------------------------------------------------------- */

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

static void entryvec_free(entryvec *v) {
  for (int64_t i = 0; i < v->n; i++) {
    free(v->items[i].dir);
    free(v->items[i].name);
  }
  free(v->items);
  memset(v, 0, sizeof *v);
}

typedef struct {
  const char *root;
  seen_set seen;
  strvec notes;
  int64_t num_notes, num_ignored;
  char *first_ignored;
} scan_state;

static lt_status oom(const scan_state *s) { return lt_error_set(LT_ERR_OOM, 0, "out of memory scanning '%s'", s->root); }

static lt_status note(scan_state *s, const char *fmt, ...) LT_PRINTF(2, 3);
static lt_status note(scan_state *s, const char *fmt, ...) {
  s->num_notes++;
  if (s->notes.n >= LT_IMAGE_FOLDER_MAX_NOTES) return LT_OK;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return strvec_push(&s->notes, strdup(buf)) ? LT_OK : oom(s);
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
  errno = 0;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    if (!strvec_push(v, strdup(de->d_name))) {
      st = lt_error_set(LT_ERR_OOM, 0, "out of memory listing '%s'", path);
      break;
    }
    errno = 0;
  }
  if (st == LT_OK && errno != 0) st = lt_error_set(LT_ERR_IO, 0, "cannot read folder '%s': %s", path, strerror(errno));
  closedir(d);
  return st;
}

static lt_status add_entry(scan_state *s, entryvec *out, const char *dir, const char *name) {
  if (out->n == out->cap) {
    int64_t cap = out->cap ? 2 * out->cap : 64;
    entry *items = realloc(out->items, (size_t)cap * sizeof *items);
    if (!items) return oom(s);
    out->items = items;
    out->cap = cap;
  }
  entry e = {strdup(dir), strdup(name)};
  if (!e.dir || !e.name) {
    free(e.dir);
    free(e.name);
    return oom(s);
  }
  out->items[out->n++] = e;
  return LT_OK;
}

/* Whether the folder `path` (stat'ed as sb) is new; if it was seen before,
 * notes the skip. */
static lt_status first_visit(scan_state *s, const char *path, const struct stat *sb, bool *fresh) {
  const char *before = seen_find(&s->seen, sb->st_dev, sb->st_ino);
  *fresh = before == NULL;
  if (before)
    return note(s, "'%s' is the folder '%s' again (a symbolic link loop or a second link to it): not scanned twice",
                path, before);
  return seen_add(&s->seen, sb->st_dev, sb->st_ino, path) ? LT_OK : oom(s);
}

/* Collects the image files under `dir` (recursively). Errors opening a
 * nested folder are notes; at depth 0 (a class folder) they are errors. */
static lt_status walk(scan_state *s, const char *dir, int depth, entryvec *out) {
  strvec names = {0};
  if (depth > MAX_DEPTH)
    return lt_error_set(LT_ERR_IO, 0, "folder '%s' is nested more than %d levels deep", dir, MAX_DEPTH);
  lt_status st = list_dir(dir, &names);
  if (st == LT_ERR_IO && depth > 0) {
    strvec_free(&names);
    return note(s, "%s: skipped", lt_error_message());
  }
  for (int64_t i = 0; i < names.n && st == LT_OK; i++) {
    const char *name = names.items[i];
    char *full = join(dir, name);
    struct stat sb, lsb;
    if (!full) {
      st = oom(s);
      break;
    }
    if (stat(full, &sb) != 0) {
      if (lstat(full, &lsb) == 0 && S_ISLNK(lsb.st_mode)) st = note(s, "'%s' is a broken symbolic link: skipped", full);
      else st = note(s, "cannot read '%s': %s: skipped", full, strerror(errno));
    } else if (S_ISDIR(sb.st_mode)) {
      bool fresh;
      st = first_visit(s, full, &sb, &fresh);
      if (st == LT_OK && fresh) st = walk(s, full, depth + 1, out);
    } else if (!has_image_ext(name)) {
      s->num_ignored++;
      if (!s->first_ignored && !(s->first_ignored = strdup(full))) st = oom(s);
    } else if (!S_ISREG(sb.st_mode)) {
      st = note(s, "'%s' is not a regular file: skipped", full);
    } else {
      st = add_entry(s, out, dir, name);
    }
    free(full);
  }
  strvec_free(&names);
  return st;
}

void lt_image_folder_free(lt_image_folder *f) {
  if (!f) return;
  for (int64_t i = 0; i < f->num_classes; i++) free(f->classes[i]);
  for (int64_t i = 0; i < f->num_samples; i++) free(f->paths[i]);
  for (int64_t i = 0; i < f->num_notes && i < LT_IMAGE_FOLDER_MAX_NOTES; i++) free(f->notes[i]);
  free(f->classes);
  free(f->paths);
  free(f->labels);
  free(f->notes);
  free(f->first_ignored);
  memset(f, 0, sizeof *f);
}

static lt_status check_root(const char *root, struct stat *sb) {
  if (!root || !*root) return lt_error_set(LT_ERR_ARG, 0, "expected a folder name, got an empty string");
  if (stat(root, sb) != 0) {
    if (errno == ENOENT) return lt_error_set(LT_ERR_IO, 0, "folder '%s' does not exist", root);
    return lt_error_set(LT_ERR_IO, 0, "cannot open folder '%s': %s", root, strerror(errno));
  }
  if (!S_ISDIR(sb->st_mode)) return lt_error_set(LT_ERR_IO, 0, "'%s' is not a folder", root);
  return LT_OK;
}

/* The class folders: root's sub-folders (links followed), sorted. */
static lt_status list_classes(scan_state *s, strvec *classes) {
  strvec names = {0};
  lt_status st = list_dir(s->root, &names);
  for (int64_t i = 0; i < names.n && st == LT_OK; i++) {
    char *full = join(s->root, names.items[i]);
    struct stat sb, lsb;
    if (!full) st = oom(s);
    else if (stat(full, &sb) == 0) {
      /* files beside the class folders are not samples, as in torchvision */
      if (S_ISDIR(sb.st_mode) && !strvec_push(classes, strdup(names.items[i]))) st = oom(s);
    } else if (lstat(full, &lsb) == 0 && S_ISLNK(lsb.st_mode)) {
      st = note(s, "'%s' is a broken symbolic link: skipped", full);
    } else {
      st = note(s, "cannot read '%s': %s: skipped", full, strerror(errno));
    }
    free(full);
  }
  strvec_free(&names);
  if (st == LT_OK && classes->n == 0) st = lt_error_set(LT_ERR_IO, 0, "folder '%s' has no class sub-folders", s->root);
  if (st == LT_OK) qsort(classes->items, (size_t)classes->n, sizeof(char *), cmp_str);
  return st;
}

lt_status lt_image_folder_scan(const char *root, lt_image_folder *out) {
  struct stat sb;
  memset(out, 0, sizeof *out);
  LT_TRY(check_root(root, &sb));
  scan_state s;
  memset(&s, 0, sizeof s);
  s.root = root;
  strvec classes = {0}, paths = {0};
  int64_t *labels = NULL, nlabels = 0, labels_cap = 0;
  lt_status st = seen_add(&s.seen, sb.st_dev, sb.st_ino, root) ? LT_OK : oom(&s);
  if (st == LT_OK) st = list_classes(&s, &classes);

  for (int64_t k = 0; k < classes.n && st == LT_OK; k++) {
    entryvec files = {0};
    char *dir = join(root, classes.items[k]);
    bool fresh = false;
    if (!dir) st = oom(&s);
    if (st == LT_OK && stat(dir, &sb) != 0) st = lt_error_set(LT_ERR_IO, 0, "cannot open class folder '%s': %s", dir, strerror(errno));
    if (st == LT_OK) st = first_visit(&s, dir, &sb, &fresh);
    if (st == LT_OK && fresh) st = walk(&s, dir, 0, &files);
    if (st == LT_OK && files.n == 0)
      st = lt_error_set(LT_ERR_IO, 0, "class folder '%s' holds no .jpg, .jpeg or .png file%s", dir,
                        fresh ? "" : " (it is a folder scanned before)");
    if (st == LT_OK) qsort(files.items, (size_t)files.n, sizeof(entry), cmp_entry);
    if (st == LT_OK && nlabels + files.n > labels_cap) {
      int64_t cap = (nlabels + files.n) * 2;
      int64_t *nl = realloc(labels, (size_t)cap * sizeof *nl);
      if (!nl) st = oom(&s);
      else {
        labels = nl;
        labels_cap = cap;
      }
    }
    for (int64_t i = 0; i < files.n && st == LT_OK; i++) {
      if (!strvec_push(&paths, join(files.items[i].dir, files.items[i].name))) st = oom(&s);
      else labels[nlabels++] = k + 1;
    }
    entryvec_free(&files);
    free(dir);
  }
  seen_free(&s.seen);
  if (st != LT_OK) {
    strvec_free(&classes);
    strvec_free(&paths);
    strvec_free(&s.notes);
    free(s.first_ignored);
    free(labels);
    return st;
  }
  out->num_classes = classes.n;
  out->classes = classes.items;
  out->num_samples = paths.n;
  out->paths = paths.items;
  out->labels = labels;
  out->num_notes = s.num_notes;
  out->notes = s.notes.items;
  out->num_ignored = s.num_ignored;
  out->first_ignored = s.first_ignored;
  return LT_OK;
}

lt_status lt_image_folder_fetch(void *source, int64_t index, uint8_t *image_out, int64_t *label_out) {
  const lt_image_folder_source *src = source;
  if (!src || !src->folder || index < 0 || index >= src->folder->num_samples)
    return lt_error_set(LT_ERR_ARG, 0, "sample index %lld is out of range for an image folder of %lld files",
                        (long long)index, src && src->folder ? (long long)src->folder->num_samples : 0LL);
  LT_TRY(lt_image_decode(src->folder->paths[index], &src->options, src->h, src->w, image_out));
  *label_out = src->folder->labels[index];
  return LT_OK;
}
