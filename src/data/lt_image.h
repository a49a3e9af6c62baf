/* lt_image.h — one JPEG or PNG file decoded into a planar RGB uint8 image,
 * with the checks an image from the internet needs, and the two encoders.
 *
 * Pixels are what torchvision's default loader gives, PIL's
 * Image.open(f).convert("RGB"), for the same file:
 *   JPEG  decoded by libjpeg-turbo (the library under PIL) with the same
 *         settings (accurate integer DCT, smooth chroma upsampling); grey
 *         is replicated to the three channels; CMYK and YCCK are inverted
 *         and converted as PIL does (it assumes Adobe's inverted CMYK);
 *   PNG   grey of 1, 2 or 4 bits scaled to 0..255 (x 255, 85, 17); 16-bit
 *         grey clipped to 0..255 (PIL reads it as 32-bit integers, and
 *         convert("RGB") saturates: 1000 -> 255); every other 16-bit
 *         channel keeps its high byte; alpha is dropped, not composited;
 *         palette entries are looked up, their transparency ignored;
 *         gAMA, cHRM, sRGB and iCCP are not applied (PIL does not either).
 * The format is told by the first bytes, not the file name's extension.
 *
 * Untrusted input. Nothing is allocated for the pixels before the size in
 * the header has been checked against `max_pixels` (PIL's
 * MAX_IMAGE_PIXELS, 89,478,485 by default). Every library error and
 * warning is a failure: a PNG chunk whose CRC does not match, image data
 * whose zlib checksum fails, a file that ends before IEND, a palette index
 * past the palette; a JPEG with damaged entropy-coded data or cut short
 * (libjpeg's "Corrupt JPEG data" and "Premature end" warnings, which PIL
 * lets through as damaged pixels), more than 500 progressive scans. Every
 * message starts with the file's name in quotes.
 *
 * draft: when the target size is at most 1/2, 1/4 or 1/8 of a JPEG's size
 * (in both directions), the decoder's DCT scaling produces that smaller
 * image directly, as PIL's Image.draft does, before the bilinear resize to
 * the target: several times faster for resize-then-crop pipelines, and a
 * slightly different (smoother) result than resizing the full image.
 *
 * Decoding is thread-safe (no global state), so the loader's workers call
 * it in parallel. */
#ifndef LT_IMAGE_H
#define LT_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lt_error.h"

/* PIL's Image.MAX_IMAGE_PIXELS: 1024 * 1024 * 1024 // 4 // 3. */
#define LT_IMAGE_MAX_PIXELS_DEFAULT 89478485

typedef enum { LT_IMAGE_JPEG = 1, LT_IMAGE_PNG = 2 } lt_image_format;

typedef struct {
  int64_t max_pixels; /* width * height above this is refused; <= 0: no limit */
  bool draft;         /* JPEG: decode at 1/2, 1/4, 1/8 scale when that still covers the target */
} lt_image_options;

/* The default options: max_pixels = LT_IMAGE_MAX_PIXELS_DEFAULT, draft on. */
lt_image_options lt_image_default_options(void);

/* Reads a whole file into a malloc'd buffer (*data, *len). Errors name the
 * file: missing, not a regular file, empty, unreadable. */
lt_status lt_image_read_file(const char *path, uint8_t **data, size_t *len);

/* The format and stored size of the image in data[0..len) from its header,
 * checked against opt->max_pixels (opt NULL: the defaults). `name` is the
 * file's name for messages. */
lt_status lt_image_probe(const char *name, const uint8_t *data, size_t len, const lt_image_options *opt,
                         lt_image_format *format, int64_t *h, int64_t *w);

/* Decodes data[0..len) into out: [3, h, w] uint8 planar (h, w >= 1),
 * resized bilinearly (lt_transforms_resize) from the decoded size when
 * that differs. */
lt_status lt_image_decode_buffer(const char *name, const uint8_t *data, size_t len, const lt_image_options *opt,
                                 int64_t h, int64_t w, uint8_t *out);

/* The same from a file: lt_image_read_file, then the above. */
lt_status lt_image_info(const char *path, const lt_image_options *opt, int64_t *h, int64_t *w);
lt_status lt_image_decode(const char *path, const lt_image_options *opt, int64_t h, int64_t w, uint8_t *out);

/* Encoders, for writing images from tensors (lt.data.write_jpeg/write_png)
 * and for making test and benchmark data. `pixels` is planar [c, h, w]
 * uint8. JPEG: c is 1 (grey) or 3 (RGB), quality 1..100, 4:2:0 chroma
 * subsampling for RGB (PIL's default). PNG: c is 1 (grey), 2 (grey +
 * alpha), 3 (RGB) or 4 (RGBA), 8 bits, no interlacing. The file's bytes are
 * returned in a malloc'd *out of *len bytes. */
lt_status lt_image_encode_jpeg(const uint8_t *pixels, int64_t c, int64_t h, int64_t w, int quality, uint8_t **out,
                               size_t *len);
lt_status lt_image_encode_png(const uint8_t *pixels, int64_t c, int64_t h, int64_t w, uint8_t **out, size_t *len);

#endif
