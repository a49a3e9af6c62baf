/* lt_atomic_file.c — write-to-temporary, fsync, rename, fsync-folder file
 * replacement, and the clean-up of temporaries that killed writers left
 * (see lt_atomic_file.h for the contract). POSIX only. */
#include "lt_atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define WBUF_SIZE (64 * 1024)
/* A temporary file is "<path>" TMP_INFIX "<pid>.<counter>". */
#define TMP_INFIX ".tmp."

struct lt_atomic_file {
  char *path;       /* the file being replaced */
  char *tmp;        /* "<path>.tmp.<pid>.<counter>" */
  int fd;           /* open on tmp, or -1 once closed */
  lt_status failed; /* first failure of a write; sticky */
  char err[512];    /* its message, replayed by later calls */
  size_t used;      /* bytes pending in buf */
  unsigned char buf[WBUF_SIZE];
};

static unsigned tmp_counter; /* distinguishes temporaries of one process */

static lt_status fail(lt_atomic_file *f, lt_status s) {
  f->failed = s;
  snprintf(f->err, sizeof f->err, "%s", lt_error_message());
  return s;
}

static lt_status write_all(lt_atomic_file *f, const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(f->fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return fail(f, lt_error_set(LT_ERR_IO, 0, "could not write '%s' (temporary file '%s'): %s",
                                  f->path, f->tmp, strerror(errno)));
    }
    p += w;
    n -= (size_t)w;
  }
  return LT_OK;
}

static lt_status flush(lt_atomic_file *f) {
  lt_status s = write_all(f, f->buf, f->used);
  f->used = 0;
  return s;
}

const char *lt_atomic_file_path(const lt_atomic_file *f) { return f->path; }

lt_status lt_atomic_file_begin(const char *path, lt_atomic_file **out) {
  *out = NULL;
  if (path == NULL || path[0] == 0) return lt_error_set(LT_ERR_ARG, 0, "empty file path");
  lt_atomic_file *f = calloc(1, sizeof *f);
  size_t plen = strlen(path);
  size_t tlen = plen + 64;
  if (f) {
    f->path = malloc(plen + 1);
    f->tmp = malloc(tlen);
  }
  if (!f || !f->path || !f->tmp) {
    if (f) { free(f->path); free(f->tmp); }
    free(f);
    return lt_error_set(LT_ERR_OOM, 0, "out of memory starting to write '%s'", path);
  }
  memcpy(f->path, path, plen + 1);
  unsigned c = __atomic_fetch_add(&tmp_counter, 1u, __ATOMIC_RELAXED);
  snprintf(f->tmp, tlen, "%s" TMP_INFIX "%ld.%u", path, (long)getpid(), c);
  /* O_EXCL: never truncate someone else's file that happens to have the name. */
  f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (f->fd < 0) {
    lt_status s = lt_error_set(LT_ERR_IO, 0, "could not create temporary file '%s' to write '%s': %s",
                               f->tmp, path, strerror(errno));
    free(f->path);
    free(f->tmp);
    free(f);
    return s;
  }
  *out = f;
  return LT_OK;
}

lt_status lt_atomic_file_write(lt_atomic_file *f, const void *buf, size_t n) {
  if (f->failed) return lt_error_set(f->failed, 0, "%s", f->err);
  if (n == 0) return LT_OK;
  if (f->used + n <= WBUF_SIZE) {
    memcpy(f->buf + f->used, buf, n);
    f->used += n;
    return LT_OK;
  }
  LT_TRY(flush(f));
  if (n >= WBUF_SIZE) return write_all(f, buf, n); /* large blocks skip the copy */
  memcpy(f->buf, buf, n);
  f->used = n;
  return LT_OK;
}

static void destroy(lt_atomic_file *f, int remove_tmp) {
  if (f->fd >= 0) close(f->fd);
  if (remove_tmp) unlink(f->tmp);
  free(f->path);
  free(f->tmp);
  free(f);
}

void lt_atomic_file_abort(lt_atomic_file *f) {
  if (f) destroy(f, 1);
}

/* Makes the rename durable. File systems that cannot sync a folder say
 * EINVAL; there is nothing more to do on those. */
static lt_status sync_folder(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir;
  if (slash == NULL) {
    dir = strdup(".");
  } else {
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    dir = malloc(n + 1);
    if (dir) { memcpy(dir, path, n); dir[n] = 0; }
  }
  if (!dir) return lt_error_set(LT_ERR_OOM, 0, "out of memory syncing the folder of '%s'", path);
  lt_status s = LT_OK;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    s = lt_error_set(LT_ERR_IO, 0, "wrote '%s' but could not open its folder '%s' to sync it: %s", path, dir,
                     strerror(errno));
  } else {
    if (fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP)
      s = lt_error_set(LT_ERR_IO, 0, "wrote '%s' but could not sync its folder '%s': %s", path, dir,
                       strerror(errno));
    close(fd);
  }
  free(dir);
  return s;
}

lt_status lt_atomic_file_commit(lt_atomic_file *f) {
  lt_status s;
  if (f->failed) {
    s = lt_error_set(f->failed, 0, "%s", f->err);
    destroy(f, 1);
    return s;
  }
  s = flush(f);
  if (s != LT_OK) { destroy(f, 1); return s; }
  if (fsync(f->fd) != 0) {
    s = lt_error_set(LT_ERR_IO, 0, "could not sync '%s' (temporary file '%s'): %s", f->path, f->tmp,
                     strerror(errno));
    destroy(f, 1);
    return s;
  }
  int fd = f->fd;
  f->fd = -1;
  if (close(fd) != 0) {
    s = lt_error_set(LT_ERR_IO, 0, "could not close '%s' (temporary file '%s'): %s", f->path, f->tmp,
                     strerror(errno));
    destroy(f, 1);
    return s;
  }
  if (rename(f->tmp, f->path) != 0) {
    s = lt_error_set(LT_ERR_IO, 0, "could not rename temporary file '%s' to '%s': %s", f->tmp, f->path,
                     strerror(errno));
    destroy(f, 1);
    return s;
  }
  s = sync_folder(f->path);
  destroy(f, 0);
  return s;
}

lt_status lt_atomic_write(const char *path, lt_atomic_writer_fn fn, void *ctx) {
  lt_atomic_file *f;
  LT_TRY(lt_atomic_file_begin(path, &f));
  lt_status s = fn(f, ctx);
  if (s != LT_OK) {
    lt_atomic_file_abort(f);
    return s;
  }
  return lt_atomic_file_commit(f);
}

/* ---- stale temporaries -------------------------------------------------- */

/* Parses "<pid>.<n>" (decimal, nothing else), the tail of a temporary
 * file's name (see lt_atomic_file_begin); the pid must be positive. */
static bool parse_tmp_suffix(const char *s, pid_t *pid) {
  const char *p = s;
  long long v = 0;
  if (*p < '0' || *p > '9') return false;
  for (; *p >= '0' && *p <= '9'; p++) {
    v = v * 10 + (*p - '0');
    if (v > 0x7fffffff) return false;
  }
  if (*p++ != '.' || *p < '0' || *p > '9') return false;
  while (*p >= '0' && *p <= '9') p++;
  if (*p || v <= 0) return false;
  *pid = (pid_t)v;
  return true;
}

void lt_atomic_file_remove_stale(const char *path) {
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  size_t dlen = slash ? (size_t)(slash - path) + 1 : 0; /* folder with its '/' */
  size_t blen = strlen(base);
  char *dir = malloc(dlen + 2);
  if (!dir) return;
  if (dlen) {
    memcpy(dir, path, dlen);
    dir[dlen] = 0;
  } else {
    strcpy(dir, ".");
  }
  DIR *d = opendir(dir);
  if (!d) { free(dir); return; }
  pid_t self = getpid();
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    const char *n = e->d_name;
    pid_t pid;
    size_t il = sizeof TMP_INFIX - 1;
    if (strncmp(n, base, blen) != 0 || strncmp(n + blen, TMP_INFIX, il) != 0) continue;
    if (!parse_tmp_suffix(n + blen + il, &pid) || pid == self) continue;
    if (kill(pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to judge (EPERM) */
    size_t nl = strlen(n);
    char *full = malloc(dlen + nl + 1);
    if (!full) break;
    memcpy(full, path, dlen);
    memcpy(full + dlen, n, nl + 1);
    unlink(full);
    free(full);
  }
  closedir(d);
  free(dir);
}
