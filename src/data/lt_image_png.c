/* lt_image_png.c — PNG decoding and encoding with libpng 1.6 (contract:
 * lt_image_codecs.h; behaviour and pixel conversions: lt_image.h).
 *
 * How corruption is caught: a CRC mismatch in any chunk, critical or
 * ancillary, is an error (PNG_CRC_ERROR_QUIT); libpng's "benign" errors
 * stay warnings while the chunks before the image data are read (a
 * known-bad ICC profile in a valid image must not make it unreadable: PIL
 * ignores such chunks) and become errors from the first image row on, so a
 * failed zlib checksum of the image data, extra or missing image data and
 * a palette index past the palette are refused. png_read_end reads to IEND,
 * so a file cut anywhere before it is refused too. The image size from
 * IHDR is checked against the pixel limit before libpng allocates
 * anything. Palette indices are looked up here rather than by libpng's
 * expansion, which reads an index past the palette as black: such an index
 * is refused (the PNG specification forbids it; PIL shows it as grey).
 * libpng reports errors by longjmp; everything allocated is reachable from
 * the context, which the landing site frees. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "lt_image_codecs.h"

typedef struct {
  lt_image_job *job;
  size_t pos;            /* next byte of job->data to read */
  bool eof;              /* a read ran past the end of the file */
  char msg[200];         /* libpng's error message */
  uint8_t *buf;          /* decoded rows (one row, or the whole interlaced image): a scratch buffer */
  png_bytep *rowp;       /* row pointers into buf, for interlaced images */
} png_ctx;

static void on_error(png_structp png, png_const_charp msg) {
  png_ctx *c = png_get_error_ptr(png);
  snprintf(c->msg, sizeof c->msg, "%s", msg);
  png_longjmp(png, 1);
}

/* Warnings concern metadata only (see the header comment): ignored. */
static void on_warning(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg;
}

static void on_read(png_structp png, png_bytep out, size_t n) {
  png_ctx *c = png_get_io_ptr(png);
  if (n > c->job->len - c->pos) {
    c->eof = true;
    png_error(png, "read past the end of the file");
  }
  memcpy(out, c->job->data + c->pos, n);
  c->pos += n;
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* The palette of a palette image, for put_row. */
typedef struct {
  png_colorp colors;
  int n;
} palette;

/* One decoded row (after libpng's transforms: grey 8 or 16 bits, RGB 8
 * bits, or palette indices of 8 bits when pal is given) into row y of the
 * planar output. Fails only on a palette index past the palette. */
static lt_status put_row(const uint8_t *row, int channels, int depth, const palette *pal, int64_t y,
                         const lt_image_job *job) {
  const size_t hw = (size_t)job->dh * (size_t)job->dw, w = (size_t)job->dw;
  uint8_t *r = job->pixels + (size_t)y * w, *g = r + hw, *b = g + hw;
  if (pal) {
    for (size_t x = 0; x < w; x++) {
      if (row[x] >= pal->n)
        return lt_error_set(LT_ERR_IO, 0, "'%s': PNG data is corrupt: pixel (%zu, %lld) has palette index %d, past the "
                            "palette's %d entries", job->name, x, (long long)y, row[x], pal->n);
      r[x] = pal->colors[row[x]].red;
      g[x] = pal->colors[row[x]].green;
      b[x] = pal->colors[row[x]].blue;
    }
  } else if (channels == 3) {
    for (size_t x = 0; x < w; x++) {
      r[x] = row[3 * x];
      g[x] = row[3 * x + 1];
      b[x] = row[3 * x + 2];
    }
  } else if (depth == 16) {
    for (size_t x = 0; x < w; x++) {
      unsigned v = (unsigned)row[2 * x] << 8 | row[2 * x + 1];
      r[x] = g[x] = b[x] = (uint8_t)(v > 255 ? 255 : v); /* PIL's "I" -> "RGB" saturates */
    }
  } else {
    memcpy(r, row, w);
    memcpy(g, row, w);
    memcpy(b, row, w);
  }
  return LT_OK;
}

static lt_status finish(png_ctx *c, png_structp *png, png_infop *info, lt_status st) {
  png_destroy_read_struct(png, info, NULL);
  free(c->rowp);
  if (st != LT_OK) c->job->pixels = NULL;
  return st;
}

lt_status lt_image_png_decode(lt_image_job *job, bool header_only) {
  /* The size, for the limit, before libpng reads anything: the signature,
   * then IHDR's length (13), type, width and height. A header that does
   * not look like this is left for libpng to describe. */
  const uint8_t *d = job->data;
  if (job->len >= 24 && memcmp(d + 12, "IHDR", 4) == 0) {
    job->w = be32(d + 16);
    job->h = be32(d + 20);
    if (job->w > 0 && job->h > 0) LT_TRY(lt_image_check_size(job));
  }
  png_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.job = job;
  job->pixels = NULL;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!info) {
    png_destroy_read_struct(&png, NULL, NULL);
    return lt_error_set(LT_ERR_OOM, 0, "'%s': out of memory starting the PNG decoder", job->name);
  }
  if (setjmp(png_jmpbuf(png))) {
    lt_status st = ctx.eof ? lt_error_set(LT_ERR_IO, 0, "'%s': the PNG file is truncated (it ends at byte %zu, before "
                                          "its IEND chunk)", job->name, job->len)
                           : lt_error_set(LT_ERR_IO, 0, "'%s': PNG data is corrupt: %s", job->name, ctx.msg);
    return finish(&ctx, &png, &info, st);
  }
  png_set_read_fn(png, &ctx, on_read);
  png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
  png_set_benign_errors(png, 1);
  png_read_info(png, info);
  png_uint_32 w = 0, h = 0;
  int depth = 0, ctype = 0, interlace = 0;
  png_get_IHDR(png, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
  job->w = w;
  job->h = h;
  lt_status st = lt_image_check_size(job);
  if (st != LT_OK || header_only) return finish(&ctx, &png, &info, st);

  palette pal = {NULL, 0};
  if (ctype == PNG_COLOR_TYPE_PALETTE) {
    if (png_get_PLTE(png, info, &pal.colors, &pal.n) != PNG_INFO_PLTE || pal.n < 1)
      return finish(&ctx, &png, &info, lt_error_set(LT_ERR_IO, 0, "'%s': PNG data is corrupt: a palette image without "
                                                    "a palette", job->name));
    png_set_packing(png); /* one index per byte */
  }
  if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16 && ctype != PNG_COLOR_TYPE_GRAY) png_set_strip_16(png); /* keeps the high byte, as PIL */
  png_set_strip_alpha(png);
  int passes = png_set_interlace_handling(png);
  png_set_benign_errors(png, 0);
  png_read_update_info(png, info);
  int channels = png_get_channels(png, info), out_depth = png_get_bit_depth(png, info);
  size_t rowbytes = png_get_rowbytes(png, info);
  const palette *pp = ctype == PNG_COLOR_TYPE_PALETTE ? &pal : NULL;
  if (!((channels == 3 && out_depth == 8) || (channels == 1 && (out_depth == 8 || out_depth == 16))))
    return finish(&ctx, &png, &info,
                  lt_error_set(LT_ERR_RUNTIME, 0, "'%s': PNG colour type %d of %d bits gave %d channels of %d bits",
                               job->name, ctype, depth, channels, out_depth));
  job->dh = job->h;
  job->dw = job->w;
  st = lt_image_alloc_pixels(job);
  if (st == LT_OK && rowbytes > ((size_t)1 << 40) / (passes > 1 ? (size_t)h : 1))
    st = lt_error_set(LT_ERR_IO, 0, "'%s': PNG rows of %zu bytes are too large", job->name, rowbytes);
  if (st == LT_OK) {
    ctx.buf = lt_image_scratch(LT_IMAGE_SCRATCH_CODEC, passes > 1 ? rowbytes * h : rowbytes);
    ctx.rowp = passes > 1 ? malloc(h * sizeof *ctx.rowp) : NULL;
    if (!ctx.buf || (passes > 1 && !ctx.rowp))
      st = lt_error_set(LT_ERR_OOM, 0, "'%s': out of memory for a %ux%u PNG", job->name, (unsigned)w, (unsigned)h);
  }
  if (st != LT_OK) return finish(&ctx, &png, &info, st);
  if (passes > 1) {
    for (png_uint_32 y = 0; y < h; y++) ctx.rowp[y] = ctx.buf + rowbytes * y;
    png_read_image(png, ctx.rowp);
    for (png_uint_32 y = 0; y < h && st == LT_OK; y++) st = put_row(ctx.rowp[y], channels, out_depth, pp, y, job);
  } else {
    for (png_uint_32 y = 0; y < h; y++) {
      png_read_row(png, ctx.buf, NULL);
      if ((st = put_row(ctx.buf, channels, out_depth, pp, y, job)) != LT_OK) break;
    }
  }
  if (st != LT_OK) return finish(&ctx, &png, &info, st);
  png_read_end(png, NULL); /* the rest of the image data with its checksum, the chunks after it, IEND */
  return finish(&ctx, &png, &info, LT_OK);
}

/* ---- encoding ----------------------------------------------------------- */

typedef struct {
  uint8_t *p;
  size_t len, cap;
  bool oom;
  char msg[200];
  uint8_t *row;
} png_out;

static void on_write(png_structp png, png_bytep data, size_t n) {
  png_out *o = png_get_io_ptr(png);
  if (n > o->cap - o->len) {
    size_t cap = o->cap ? o->cap : 4096;
    while (cap - o->len < n) cap *= 2;
    uint8_t *p = realloc(o->p, cap);
    if (!p) {
      o->oom = true;
      png_error(png, "out of memory");
    }
    o->p = p;
    o->cap = cap;
  }
  memcpy(o->p + o->len, data, n);
  o->len += n;
}

static void on_flush(png_structp png) { (void)png; }

static void on_write_error(png_structp png, png_const_charp msg) {
  png_out *o = png_get_error_ptr(png);
  snprintf(o->msg, sizeof o->msg, "%s", msg);
  png_longjmp(png, 1);
}

lt_status lt_image_encode_png(const uint8_t *pixels, int64_t c, int64_t h, int64_t w, uint8_t **out, size_t *len) {
  static const int types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                               PNG_COLOR_TYPE_RGB_ALPHA};
  *out = NULL;
  *len = 0;
  if (c < 1 || c > 4)
    return lt_error_set(LT_ERR_ARG, 0, "a PNG holds 1 (grey), 2 (grey, alpha), 3 (RGB) or 4 (RGBA) channels, got %lld",
                        (long long)c);
  if (h < 1 || w < 1 || h > 0x7fffffff || w > ((int64_t)1 << 30) / c)
    return lt_error_set(LT_ERR_ARG, 0, "cannot write a PNG of %lldx%lld pixels", (long long)w, (long long)h);
  png_out o;
  memset(&o, 0, sizeof o);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &o, on_write_error, on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  o.row = malloc((size_t)(w * c));
  if (!info || !o.row) {
    png_destroy_write_struct(&png, info ? &info : NULL);
    free(o.row);
    return lt_error_set(LT_ERR_OOM, 0, "out of memory encoding a PNG");
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    free(o.p);
    free(o.row);
    if (o.oom) return lt_error_set(LT_ERR_OOM, 0, "out of memory encoding a PNG");
    return lt_error_set(LT_ERR_RUNTIME, 0, "cannot encode the PNG: %s", o.msg);
  }
  png_set_write_fn(png, &o, on_write, on_flush);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, types[c], PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  const size_t hw = (size_t)h * (size_t)w;
  for (int64_t y = 0; y < h; y++) {
    for (int64_t x = 0; x < w; x++)
      for (int64_t ch = 0; ch < c; ch++) o.row[x * c + ch] = pixels[(size_t)ch * hw + (size_t)(y * w + x)];
    png_write_row(png, o.row);
  }
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  free(o.row);
  *out = o.p;
  *len = o.len;
  return LT_OK;
}
