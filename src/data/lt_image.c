/* lt_image.c — the format-independent half of lt_image.h: reading a file,
 * telling JPEG from PNG by its first bytes, the pixel limit, and the resize
 * from the decoded size to the target. The decoders are lt_image_jpeg.c and
 * lt_image_png.c (contract: lt_image_codecs.h).
 *
 * Why the codec libraries are linked statically: the luatrain binary is
 * built here and carried to GPU machines that have the C library,
 * OpenBLAS and CUDA but not necessarily libturbojpeg or libpng16, and it
 * must start there. Debian ships both as static archives
 * (libturbojpeg0-dev: libturbojpeg.a; libpng-dev: libpng16.a), so they are
 * linked in (about 1 MB) rather than opened with dlopen, which would leave
 * image decoding broken at run time on such a machine. zlib, which libpng
 * needs, is present everywhere and stays dynamic. The installed program and
 * libluatrain, which Debian's package manager gives their dependencies,
 * link the shared libraries instead (LT_LINKAGE in CMakeLists.txt). */
#include "lt_image.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lt_image_codecs.h"
#include "lt_transforms_cpu.h"

lt_image_options lt_image_default_options(void) {
  lt_image_options o = {LT_IMAGE_MAX_PIXELS_DEFAULT, true};
  return o;
}

lt_status lt_image_read_file(const char *path, uint8_t **data, size_t *len) {
  *data = NULL;
  *len = 0;
  /* O_NONBLOCK: a FIFO under an image name must not hang the scan */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return lt_error_set(LT_ERR_IO, 0, "cannot open image '%s': %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    lt_status st = lt_error_set(LT_ERR_IO, 0, "cannot open image '%s': %s", path, strerror(errno));
    close(fd);
    return st;
  }
  if (!S_ISREG(sb.st_mode)) {
    close(fd);
    return lt_error_set(LT_ERR_IO, 0, "'%s' is not a regular file", path);
  }
  if (sb.st_size == 0) {
    close(fd);
    return lt_error_set(LT_ERR_IO, 0, "'%s': the file is empty", path);
  }
  if ((uint64_t)sb.st_size > (uint64_t)SIZE_MAX / 2) {
    close(fd);
    return lt_error_set(LT_ERR_IO, 0, "'%s': the file is too large (%lld bytes)", path, (long long)sb.st_size);
  }
  size_t n = (size_t)sb.st_size;
  uint8_t *buf = malloc(n);
  if (!buf) {
    close(fd);
    return lt_error_set(LT_ERR_OOM, 0, "'%s': out of memory reading %zu bytes", path, n);
  }
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      lt_status st = r < 0 ? lt_error_set(LT_ERR_IO, 0, "cannot read image '%s': %s", path, strerror(errno))
                           : lt_error_set(LT_ERR_IO, 0, "'%s' shrank while being read (%zu of %zu bytes)", path, got, n);
      free(buf);
      close(fd);
      return st;
    }
    got += (size_t)r;
  }
  close(fd);
  *data = buf;
  *len = n;
  return LT_OK;
}

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

static lt_status sniff(const char *name, const uint8_t *data, size_t len, lt_image_format *format) {
  if (len == 0) return lt_error_set(LT_ERR_IO, 0, "'%s': the file is empty", name);
  if (len >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) {
    *format = LT_IMAGE_JPEG;
    return LT_OK;
  }
  if (len >= 8 && memcmp(data, png_signature, 8) == 0) {
    *format = LT_IMAGE_PNG;
    return LT_OK;
  }
  if (len < 8 && (memcmp(data, png_signature, len) == 0 || (data[0] == 0xff && (len < 2 || data[1] == 0xd8))))
    return lt_error_set(LT_ERR_IO, 0, "'%s': the file is truncated (%zu bytes, the start of a JPEG or PNG signature)", name, len);
  char hex[3 * 8 + 1] = "";
  for (size_t i = 0, at = 0; i < len && i < 8; i++) at += (size_t)snprintf(hex + at, sizeof hex - at, "%s%02x", i ? " " : "", data[i]);
  return lt_error_set(LT_ERR_IO, 0, "'%s': not a JPEG or PNG image (it starts with the bytes %s)", name, hex);
}

lt_status lt_image_check_size(const lt_image_job *job) {
  if (job->h < 1 || job->w < 1)
    return lt_error_set(LT_ERR_IO, 0, "'%s': the header gives the image size %lldx%lld", job->name, (long long)job->w,
                        (long long)job->h);
  int64_t limit = job->opt.max_pixels;
  /* both sides are below 2^32 (PNG) or 2^16 (JPEG): the product fits unsigned */
  unsigned long long pixels = (unsigned long long)job->h * (unsigned long long)job->w;
  if (limit > 0 && pixels > (unsigned long long)limit)
    return lt_error_set(LT_ERR_IO, 0,
                        "'%s': the image is %lldx%lld = %llu pixels, over the limit of %lld (max_pixels; a "
                        "decompression bomb?)",
                        job->name, (long long)job->w, (long long)job->h, pixels, (long long)limit);
  return LT_OK;
}

/* ---- per-thread scratch buffers (lt_image_codecs.h) ------------------- */

#define SCRATCH_KEEP ((size_t)64 << 20)

typedef struct {
  uint8_t *p[LT_IMAGE_SCRATCH_SLOTS];
  size_t cap[LT_IMAGE_SCRATCH_SLOTS];
} scratch_set;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static bool scratch_ok;

static void scratch_free(void *v) {
  scratch_set *s = v;
  for (int k = 0; k < LT_IMAGE_SCRATCH_SLOTS; k++) free(s->p[k]);
  free(s);
}

static void scratch_init(void) { scratch_ok = pthread_key_create(&scratch_key, scratch_free) == 0; }

static scratch_set *scratch_of_thread(void) {
  pthread_once(&scratch_once, scratch_init);
  if (!scratch_ok) return NULL;
  scratch_set *s = pthread_getspecific(scratch_key);
  if (!s) {
    s = calloc(1, sizeof *s);
    if (s && pthread_setspecific(scratch_key, s) != 0) {
      free(s);
      s = NULL;
    }
  }
  return s;
}

uint8_t *lt_image_scratch(int slot, size_t bytes) {
  scratch_set *s = scratch_of_thread();
  if (!s || slot < 0 || slot >= LT_IMAGE_SCRATCH_SLOTS) return NULL;
  if (s->cap[slot] < bytes) {
    free(s->p[slot]);
    s->p[slot] = malloc(bytes ? bytes : 1);
    s->cap[slot] = s->p[slot] ? bytes : 0;
  }
  return s->p[slot];
}

void lt_image_scratch_trim(void) {
  pthread_once(&scratch_once, scratch_init);
  scratch_set *s = scratch_ok ? pthread_getspecific(scratch_key) : NULL;
  for (int k = 0; s && k < LT_IMAGE_SCRATCH_SLOTS; k++) {
    if (s->cap[k] > SCRATCH_KEEP) {
      free(s->p[k]);
      s->p[k] = NULL;
      s->cap[k] = 0;
    }
  }
}

lt_status lt_image_alloc_pixels(lt_image_job *job) {
  job->pixels = NULL;
  if (job->dest && job->dh == job->want_h && job->dw == job->want_w) {
    job->pixels = job->dest;
    return LT_OK;
  }
  if (job->dh > ((int64_t)1 << 40) / 3 / job->dw)
    return lt_error_set(LT_ERR_IO, 0, "'%s': the image is too large to decode (%lldx%lld)", job->name,
                        (long long)job->dw, (long long)job->dh);
  size_t bytes = (size_t)(3 * job->dh * job->dw);
  job->pixels = lt_image_scratch(LT_IMAGE_SCRATCH_PIXELS, bytes);
  if (!job->pixels)
    return lt_error_set(LT_ERR_OOM, 0, "'%s': out of memory for a %lldx%lld image (%zu bytes)", job->name,
                        (long long)job->dw, (long long)job->dh, bytes);
  return LT_OK;
}

static lt_status run(lt_image_job *job, bool header_only, lt_image_format *format) {
  lt_image_format f = LT_IMAGE_JPEG;
  LT_TRY(sniff(job->name, job->data, job->len, &f));
  if (format) *format = f;
  return f == LT_IMAGE_JPEG ? lt_image_jpeg_decode(job, header_only) : lt_image_png_decode(job, header_only);
}

static lt_image_job new_job(const char *name, const uint8_t *data, size_t len, const lt_image_options *opt) {
  lt_image_job job;
  memset(&job, 0, sizeof job);
  job.name = name ? name : "<buffer>";
  job.data = data;
  job.len = len;
  job.opt = opt ? *opt : lt_image_default_options();
  return job;
}

lt_status lt_image_probe(const char *name, const uint8_t *data, size_t len, const lt_image_options *opt,
                         lt_image_format *format, int64_t *h, int64_t *w) {
  lt_image_job job = new_job(name, data, len, opt);
  LT_TRY(run(&job, true, format));
  *h = job.h;
  *w = job.w;
  return LT_OK;
}

lt_status lt_image_decode_buffer(const char *name, const uint8_t *data, size_t len, const lt_image_options *opt,
                                 int64_t h, int64_t w, uint8_t *out) {
  if (h < 1 || w < 1 || !out)
    return lt_error_set(LT_ERR_ARG, 0, "image size must be positive, got %lldx%lld", (long long)h, (long long)w);
  lt_image_job job = new_job(name, data, len, opt);
  job.want_h = h;
  job.want_w = w;
  job.dest = out;
  lt_status st = run(&job, false, NULL);
  if (st == LT_OK && job.pixels != out)
    st = lt_transforms_resize(LT_UINT8, job.pixels, out, 1, 3, job.dh, job.dw, h, w);
  lt_image_scratch_trim();
  return st;
}

lt_status lt_image_info(const char *path, const lt_image_options *opt, int64_t *h, int64_t *w) {
  uint8_t *data;
  size_t len;
  LT_TRY(lt_image_read_file(path, &data, &len));
  lt_status st = lt_image_probe(path, data, len, opt, NULL, h, w);
  free(data);
  return st;
}

lt_status lt_image_decode(const char *path, const lt_image_options *opt, int64_t h, int64_t w, uint8_t *out) {
  if (h < 1 || w < 1 || !out)
    return lt_error_set(LT_ERR_ARG, 0, "image size must be positive, got %lldx%lld", (long long)h, (long long)w);
  uint8_t *data;
  size_t len;
  LT_TRY(lt_image_read_file(path, &data, &len));
  lt_status st = lt_image_decode_buffer(path, data, len, opt, h, w, out);
  free(data);
  return st;
}
