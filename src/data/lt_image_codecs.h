/* lt_image_codecs.h — the contract between lt_image.c (format detection,
 * limits, resizing) and the per-format decoders lt_image_jpeg.c
 * (libjpeg-turbo's TurboJPEG API) and lt_image_png.c (libpng). Not for
 * other callers: use lt_image.h.
 *
 * A decoder reads the header, stores the image's size in job->h/w and calls
 * lt_image_check_size before it allocates anything that grows with the
 * image; then, unless only the header was asked for, it decodes into
 * job->pixels: planar RGB [3, dh, dw], which is job->dest when the caller
 * gave one of exactly that size (want_h x want_w) and a per-thread scratch
 * buffer otherwise (lt_image_alloc_pixels). Errors go through lt_error_set
 * and start with the file's name in quotes. */
#ifndef LT_IMAGE_CODECS_H
#define LT_IMAGE_CODECS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lt_error.h"
#include "lt_image.h"

typedef struct {
  const char *name;               /* the file, for messages */
  const uint8_t *data;
  size_t len;
  lt_image_options opt;
  int64_t want_h, want_w;         /* the target size; 0 x 0 when only the header is wanted */
  uint8_t *dest;                  /* the caller's [3, want_h, want_w] buffer, or NULL */
  /* set by the decoder */
  int64_t h, w;                   /* the stored size */
  int64_t dh, dw;                 /* the decoded size (smaller than h x w with a JPEG draft) */
  uint8_t *pixels;                /* [3, dh, dw]: dest, or a scratch buffer */
} lt_image_job;

/* The pixel limit (job->opt.max_pixels) for the size in job->h/w; also
 * refuses a zero size. The one place that rule lives. */
lt_status lt_image_check_size(const lt_image_job *job);

/* Where the decoded [3, dh, dw] planes go: job->dest if it has that size,
 * otherwise the thread's LT_IMAGE_SCRATCH_PIXELS buffer. Sets
 * job->pixels; NULL after an error. */
lt_status lt_image_alloc_pixels(lt_image_job *job);

/* Per-thread scratch buffers, reused from one image to the next instead of
 * being allocated and freed each time: on a fresh allocation every 4 KiB
 * page costs a page fault when first written (about a tenth of a JPEG's
 * decoding time at 500x375). A buffer of `bytes` or more in slot `slot`,
 * NULL when out of memory; valid until the next call for the same slot in
 * the same thread. Buffers are freed when their thread ends, and those over
 * 64 MiB by lt_image_scratch_trim (called after each image), so a thread
 * keeps at most that much between images. */
enum { LT_IMAGE_SCRATCH_CODEC, LT_IMAGE_SCRATCH_PIXELS, LT_IMAGE_SCRATCH_SLOTS };
uint8_t *lt_image_scratch(int slot, size_t bytes);
void lt_image_scratch_trim(void);

lt_status lt_image_jpeg_decode(lt_image_job *job, bool header_only);
lt_status lt_image_png_decode(lt_image_job *job, bool header_only);

#endif
