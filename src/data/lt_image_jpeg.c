/* lt_image_jpeg.c — JPEG decoding and encoding with libjpeg-turbo's
 * TurboJPEG API (contract: lt_image_codecs.h; behaviour: lt_image.h).
 *
 * Decoding runs with TJFLAG_STOPONWARNING, so the first libjpeg warning
 * (damaged entropy-coded data, a premature end of the file) ends it as an
 * error instead of returning damaged pixels, and TJFLAG_LIMITSCANS, which
 * refuses progressive files of more than 500 scans (each scan is a pass
 * over the whole image: a small file of many scans takes minutes). The DCT
 * method and upsampling are the library's defaults, as in PIL, so the
 * pixels are PIL's. A handle per call keeps it thread-safe. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <turbojpeg.h>

#include "lt_image_codecs.h"

static lt_status tj_fail(const lt_image_job *job, tjhandle tj) {
  const char *msg = tjGetErrorStr2(tj);
  if (tjGetErrorCode(tj) == TJERR_WARNING)
    return lt_error_set(LT_ERR_IO, 0, "'%s': JPEG data is corrupt: %s", job->name, msg);
  return lt_error_set(LT_ERR_IO, 0, "'%s': cannot decode the JPEG: %s", job->name, msg);
}

/* PIL opens every 4-component JPEG as inverted ("Adobe") CMYK and
 * converts with r = (255 - k') - (c' * (255 - k') / 255), rounded its way;
 * in terms of the stored bytes s (c' = 255 - s_c, 255 - k' = s_k). */
static uint8_t cmyk_channel(uint8_t s_c, uint8_t s_k) {
  int nk = s_k, a = 255 - s_c;
  int tmp = a * nk + 128;
  int v = nk - (((tmp >> 8) + tmp) >> 8);
  return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Interleaved samples of `bpp` bytes (1 grey, 3 RGB, 4 stored CMYK) to
 * planar RGB. */
static void to_planar(const uint8_t *src, int bpp, size_t hw, uint8_t *dst) {
  uint8_t *r = dst, *g = dst + hw, *b = dst + 2 * hw;
  if (bpp == 1) {
    memcpy(r, src, hw);
    memcpy(g, src, hw);
    memcpy(b, src, hw);
  } else if (bpp == 3) {
    for (size_t k = 0; k < hw; k++) {
      r[k] = src[3 * k];
      g[k] = src[3 * k + 1];
      b[k] = src[3 * k + 2];
    }
  } else {
    for (size_t k = 0; k < hw; k++) {
      const uint8_t *p = src + 4 * k;
      r[k] = cmyk_channel(p[0], p[3]);
      g[k] = cmyk_channel(p[1], p[3]);
      b[k] = cmyk_channel(p[2], p[3]);
    }
  }
}

lt_status lt_image_jpeg_decode(lt_image_job *job, bool header_only) {
  if (job->len > ULONG_MAX) return lt_error_set(LT_ERR_IO, 0, "'%s': the file is too large", job->name);
  tjhandle tj = tjInitDecompress();
  if (!tj) return lt_error_set(LT_ERR_OOM, 0, "'%s': cannot start the JPEG decoder: %s", job->name, tjGetErrorStr2(NULL));
  int w = 0, h = 0, subsamp = 0, cs = 0;
  lt_status st = LT_OK;
  if (tjDecompressHeader3(tj, job->data, (unsigned long)job->len, &w, &h, &subsamp, &cs) != 0) st = tj_fail(job, tj);
  /* a file that ends inside its tables "succeeds" with no frame header */
  if (st == LT_OK && (w == 0 || h == 0))
    st = lt_error_set(LT_ERR_IO, 0, "'%s': the JPEG ends before its frame header (the file is truncated)", job->name);
  if (st == LT_OK) {
    job->h = h;
    job->w = w;
    st = lt_image_check_size(job);
  }
  if (st != LT_OK || header_only) {
    tjDestroy(tj);
    return st;
  }
  /* PIL's draft rule: the largest of 8, 4, 2 that the size ratio allows */
  int64_t denom = 1;
  if (job->opt.draft) {
    int64_t s = w / job->want_w < h / job->want_h ? w / job->want_w : h / job->want_h;
    denom = s >= 8 ? 8 : s >= 4 ? 4 : s >= 2 ? 2 : 1;
  }
  job->dw = (w + denom - 1) / denom;
  job->dh = (h + denom - 1) / denom;
  int pf = TJPF_RGB, bpp = 3;
  if (cs == TJCS_CMYK || cs == TJCS_YCCK) pf = TJPF_CMYK, bpp = 4;
  else if (cs == TJCS_GRAY) pf = TJPF_GRAY, bpp = 1;
  size_t hw = (size_t)job->dh * (size_t)job->dw;
  uint8_t *buf = lt_image_scratch(LT_IMAGE_SCRATCH_CODEC, hw * (size_t)bpp);
  if (!buf) {
    tjDestroy(tj);
    return lt_error_set(LT_ERR_OOM, 0, "'%s': out of memory for a %lldx%lld image", job->name, (long long)job->dw,
                        (long long)job->dh);
  }
  if (tjDecompress2(tj, job->data, (unsigned long)job->len, buf, (int)job->dw, 0, (int)job->dh, pf,
                    TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) != 0)
    st = tj_fail(job, tj);
  if (st == LT_OK) st = lt_image_alloc_pixels(job);
  if (st == LT_OK) to_planar(buf, bpp, hw, job->pixels);
  tjDestroy(tj);
  return st;
}

lt_status lt_image_encode_jpeg(const uint8_t *pixels, int64_t c, int64_t h, int64_t w, int quality, uint8_t **out,
                               size_t *len) {
  *out = NULL;
  *len = 0;
  if (c != 1 && c != 3) return lt_error_set(LT_ERR_ARG, 0, "a JPEG holds 1 (grey) or 3 (RGB) channels, got %lld", (long long)c);
  if (h < 1 || w < 1 || h > 65535 || w > 65535)
    return lt_error_set(LT_ERR_ARG, 0, "a JPEG is 1 to 65535 pixels wide and high, got %lldx%lld", (long long)w, (long long)h);
  if (quality < 1 || quality > 100) return lt_error_set(LT_ERR_ARG, 0, "JPEG quality must be in 1..100, got %d", quality);
  size_t hw = (size_t)h * (size_t)w;
  uint8_t *inter = malloc(hw * (size_t)c);
  if (!inter) return lt_error_set(LT_ERR_OOM, 0, "out of memory encoding a %lldx%lld JPEG", (long long)w, (long long)h);
  for (size_t k = 0; k < hw; k++)
    for (int64_t ch = 0; ch < c; ch++) inter[k * (size_t)c + (size_t)ch] = pixels[(size_t)ch * hw + k];
  tjhandle tj = tjInitCompress();
  lt_status st = LT_OK;
  unsigned char *jpeg = NULL;
  unsigned long size = 0;
  if (!tj) st = lt_error_set(LT_ERR_OOM, 0, "cannot start the JPEG encoder: %s", tjGetErrorStr2(NULL));
  else if (tjCompress2(tj, inter, (int)w, 0, (int)h, c == 1 ? TJPF_GRAY : TJPF_RGB, &jpeg, &size,
                       c == 1 ? TJSAMP_GRAY : TJSAMP_420, quality, 0) != 0)
    st = lt_error_set(LT_ERR_RUNTIME, 0, "cannot encode the JPEG: %s", tjGetErrorStr2(tj));
  if (st == LT_OK) {
    *out = malloc(size);
    if (!*out) st = lt_error_set(LT_ERR_OOM, 0, "out of memory encoding a JPEG");
    else {
      memcpy(*out, jpeg, size);
      *len = size;
    }
  }
  tjFree(jpeg);
  if (tj) tjDestroy(tj);
  free(inter);
  return st;
}
