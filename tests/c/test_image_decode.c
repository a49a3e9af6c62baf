/* test_image_decode.c — every valid kind of PNG and JPEG decodes to the
 * pixels PIL's Image.open(f).convert("RGB") gives (lt_image.h lists the
 * rules). The images are made here, from seeded random pixels, with libpng
 * and libjpeg-turbo's encoders: PNG grey of 1, 2, 4, 8 and 16 bits, grey +
 * alpha, RGB and RGBA of 8 and 16 bits, palettes of 1 to 8 bits with and
 * without transparency, tRNS on grey and RGB, Adam7 interlacing, 1x1
 * images; JPEG grey, RGB with 4:4:4, 4:2:2 and 4:2:0 chroma, progressive,
 * CMYK, 1x1. PNG pixels are compared with the rule computed from the
 * source values; JPEG pixels (lossy) with the source within a small error.
 * Where Debian's python3-pil is installed, every file is also decoded by
 * PIL and must match byte for byte, JPEG included, as must a JPEG decoded
 * with draft against PIL's draft(). Also: DCT scaling sizes, the pixel
 * limit and the format told by content rather than extension. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <turbojpeg.h>

#include "lt_image.h"
#include "lt_test.h"

static char tmpdir[256];
static uint32_t rng = 2024;
static unsigned rnd(unsigned n) {
  rng = rng * 1664525u + 1013904223u;
  return (rng >> 8) % n;
}

static void write_file(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n) fprintf(stderr, "cannot write %s\n", path);
  if (f) fclose(f);
}

/* ---- PNG variants written with libpng ---------------------------------- */

typedef struct {
  const char *name;
  int ctype, depth, interlace, w, h;
  int palette_size;  /* PLTE entries (palette images) */
  bool trns;         /* a tRNS chunk */
} png_variant;

/* Writes the variant with random samples; returns the expected planar RGB
 * [3, h, w] by the documented rules. */
static uint8_t *make_png(const png_variant *v, const char *path) {
  int channels = v->ctype == PNG_COLOR_TYPE_GRAY || v->ctype == PNG_COLOR_TYPE_PALETTE ? 1
                 : v->ctype == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : v->ctype == PNG_COLOR_TYPE_RGB ? 3 : 4;
  int bytes = v->depth == 16 ? 2 : 1, maxv = (1 << v->depth) - 1;
  size_t hw = (size_t)v->w * (size_t)v->h;
  uint8_t *expect = malloc(3 * hw);
  png_color plte[256];
  for (int i = 0; i < v->palette_size; i++) plte[i] = (png_color){(png_byte)rnd(256), (png_byte)rnd(256), (png_byte)rnd(256)};
  png_byte **rows = malloc((size_t)v->h * sizeof *rows);
  for (int y = 0; y < v->h; y++) {
    rows[y] = malloc((size_t)v->w * (size_t)channels * (size_t)bytes);
    for (int x = 0; x < v->w; x++) {
      unsigned s[4];
      for (int c = 0; c < channels; c++) {
        /* 16-bit grey: half the values below 256, so both sides of PIL's clip show */
        unsigned range = v->ctype == PNG_COLOR_TYPE_PALETTE ? (unsigned)v->palette_size
                         : (v->depth == 16 && channels <= 2 && c == 0 && rnd(2)) ? 256u : (unsigned)maxv + 1;
        s[c] = rnd(range);
        png_byte *p = rows[y] + ((size_t)x * (size_t)channels + (size_t)c) * (size_t)bytes;
        if (bytes == 2) p[0] = (png_byte)(s[c] >> 8), p[1] = (png_byte)s[c];
        else p[0] = (png_byte)s[c];
      }
      uint8_t rgb[3];
      if (v->ctype == PNG_COLOR_TYPE_PALETTE) {
        rgb[0] = plte[s[0]].red, rgb[1] = plte[s[0]].green, rgb[2] = plte[s[0]].blue;
      } else if (channels <= 2) {
        unsigned g = v->depth == 16 ? (channels == 1 ? (s[0] > 255 ? 255 : s[0]) : s[0] >> 8) : s[0] * 255 / maxv;
        rgb[0] = rgb[1] = rgb[2] = (uint8_t)g;
      } else {
        for (int c = 0; c < 3; c++) rgb[c] = (uint8_t)(v->depth == 16 ? s[c] >> 8 : s[c]);
      }
      for (int c = 0; c < 3; c++) expect[(size_t)c * hw + (size_t)y * (size_t)v->w + (size_t)x] = rgb[c];
    }
  }
  FILE *f = fopen(path, "wb");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    fprintf(stderr, "libpng failed writing %s\n", path);
    exit(2);
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, (png_uint_32)v->w, (png_uint_32)v->h, v->depth, v->ctype, v->interlace,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (v->ctype == PNG_COLOR_TYPE_PALETTE) png_set_PLTE(png, info, plte, v->palette_size);
  if (v->trns) {
    png_byte alpha[256];
    for (int i = 0; i < 256; i++) alpha[i] = (png_byte)rnd(256);
    png_color_16 tc = {0, (png_uint_16)rnd(256), (png_uint_16)rnd(256), (png_uint_16)rnd(256), (png_uint_16)rnd(256)};
    png_set_tRNS(png, info, alpha, v->ctype == PNG_COLOR_TYPE_PALETTE ? v->palette_size : 0, &tc);
  }
  /* a gamma and an sRGB chunk, which PIL does not apply: neither must we */
  png_set_gAMA(png, info, 0.3);
  png_write_info(png, info);
  if (v->depth < 8) png_set_packing(png);
  png_write_image(png, rows);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  fclose(f);
  for (int y = 0; y < v->h; y++) free(rows[y]);
  free(rows);
  return expect;
}

/* ---- JPEG variants written with TurboJPEG ------------------------------ */

typedef struct {
  const char *name;
  int w, h, pf, subsamp, flags, quality;
} jpeg_variant;

/* Writes a smooth random image (lossy coding keeps it close); returns the
 * source as planar RGB (CMYK sources: the RGB PIL would compute from them
 * losslessly). */
static uint8_t *make_jpeg(const jpeg_variant *v, const char *path) {
  int bpp = tjPixelSize[v->pf];
  size_t hw = (size_t)v->w * (size_t)v->h;
  uint8_t *src = malloc(hw * (size_t)bpp), *expect = malloc(3 * hw);
  unsigned base[4] = {rnd(200), rnd(200), rnd(200), rnd(100)};
  for (int y = 0; y < v->h; y++)
    for (int x = 0; x < v->w; x++)
      for (int c = 0; c < bpp; c++) src[((size_t)y * (size_t)v->w + (size_t)x) * (size_t)bpp + (size_t)c] =
          (uint8_t)(base[c] + (unsigned)(x + 2 * y + 5 * c) % 50);
  for (size_t k = 0; k < hw; k++) {
    const uint8_t *p = src + k * (size_t)bpp;
    for (int c = 0; c < 3; c++) {
      unsigned val;
      if (bpp == 1) val = p[0];
      else if (bpp == 4) val = (unsigned)p[3] * p[c] / 255; /* stored CMYK s: r = s_k * s_c / 255 (PIL, inverted) */
      else val = p[c];
      expect[(size_t)c * hw + k] = (uint8_t)val;
    }
  }
  tjhandle tj = tjInitCompress();
  unsigned char *jpeg = NULL;
  unsigned long size = 0;
  if (tjCompress2(tj, src, v->w, 0, v->h, v->pf, &jpeg, &size, v->subsamp, v->quality, v->flags) != 0)
    fprintf(stderr, "%s: %s\n", v->name, tjGetErrorStr2(tj));
  write_file(path, jpeg, size);
  tjFree(jpeg);
  tjDestroy(tj);
  free(src);
  return expect;
}

/* ---- PIL, when it is there --------------------------------------------- */

static bool have_pil(void) { return system("/usr/bin/python3 -c 'import PIL' >/dev/null 2>&1") == 0; }

/* PIL's Image.open(path).convert("RGB") as planar bytes, optionally after
 * draft("RGB", (w, h)); NULL if PIL failed. *h, *w get its size. */
static uint8_t *pil_decode(const char *path, int draft_w, int draft_h, int *h, int *w) {
  char cmd[2048], out[600];
  snprintf(out, sizeof out, "%s.pil", path);
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 -c \"import sys; from PIL import Image; im = Image.open(sys.argv[1]); "
           "d = (int(sys.argv[3]), int(sys.argv[4])); im.draft('RGB', d) if d[0] else None; im = im.convert('RGB'); "
           "open(sys.argv[2], 'wb').write(b'%%d %%d ' %% im.size + b''.join(im.getchannel(c).tobytes() for c in 'RGB'))\" "
           "'%s' '%s' %d %d 2>/dev/null", path, out, draft_w, draft_h);
  if (system(cmd) != 0) return NULL;
  FILE *f = fopen(out, "rb");
  /* "W H " then the bytes: read the one space by hand, as %d's trailing
   * white space would swallow pixel bytes that look like spaces */
  if (!f || fscanf(f, "%d %d", w, h) != 2 || fgetc(f) != ' ') {
    if (f) fclose(f);
    return NULL;
  }
  size_t n = 3 * (size_t)*w * (size_t)*h;
  uint8_t *p = malloc(n);
  size_t got = fread(p, 1, n, f);
  fclose(f);
  if (got != n) {
    free(p);
    return NULL;
  }
  return p;
}

static int compare_pil(const char *path, const uint8_t *ours, int h, int w, int draft_w, int draft_h) {
  int ph = 0, pw = 0;
  uint8_t *pil = pil_decode(path, draft_w, draft_h, &ph, &pw);
  if (!pil) {
    fprintf(stderr, "%s: PIL could not decode it\n", path);
    return 0;
  }
  int same = ph == h && pw == w && memcmp(pil, ours, 3 * (size_t)h * (size_t)w) == 0;
  if (!same) fprintf(stderr, "%s: differs from PIL (%dx%d vs our %dx%d)\n", path, pw, ph, w, h);
  free(pil);
  return same;
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/lt_test_image_decode_XXXXXX");
  if (!mkdtemp(tmpdir)) return 2;
  bool pil = have_pil();
  if (!pil) printf("python3-pil is not installed: the byte-for-byte comparison with PIL is skipped\n");
  char path[600];

  static const png_variant pngs[] = {
      {"grey1", PNG_COLOR_TYPE_GRAY, 1, 0, 13, 5, 0, false},
      {"grey2", PNG_COLOR_TYPE_GRAY, 2, 0, 9, 4, 0, false},
      {"grey4", PNG_COLOR_TYPE_GRAY, 4, 0, 7, 3, 0, false},
      {"grey8", PNG_COLOR_TYPE_GRAY, 8, 0, 11, 6, 0, false},
      {"grey16", PNG_COLOR_TYPE_GRAY, 16, 0, 10, 7, 0, false},
      {"grey8_trns", PNG_COLOR_TYPE_GRAY, 8, 0, 5, 5, 0, true},
      {"grey16_trns", PNG_COLOR_TYPE_GRAY, 16, 0, 6, 4, 0, true},
      {"greyalpha8", PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, 8, 8, 0, false},
      {"greyalpha16", PNG_COLOR_TYPE_GRAY_ALPHA, 16, 0, 5, 9, 0, false},
      {"rgb8", PNG_COLOR_TYPE_RGB, 8, 0, 12, 7, 0, false},
      {"rgb8_trns", PNG_COLOR_TYPE_RGB, 8, 0, 4, 4, 0, true},
      {"rgb16", PNG_COLOR_TYPE_RGB, 16, 0, 6, 6, 0, false},
      {"rgba8", PNG_COLOR_TYPE_RGB_ALPHA, 8, 0, 9, 5, 0, false},
      {"rgba16", PNG_COLOR_TYPE_RGB_ALPHA, 16, 0, 3, 11, 0, false},
      {"palette1", PNG_COLOR_TYPE_PALETTE, 1, 0, 17, 3, 2, false},
      {"palette2", PNG_COLOR_TYPE_PALETTE, 2, 0, 9, 9, 3, false},
      {"palette4", PNG_COLOR_TYPE_PALETTE, 4, 0, 7, 7, 13, false},
      {"palette8", PNG_COLOR_TYPE_PALETTE, 8, 0, 20, 10, 200, false},
      {"palette8_trns", PNG_COLOR_TYPE_PALETTE, 8, 0, 8, 8, 40, true},
      {"interlaced_rgb8", PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7, 19, 13, 0, false},
      {"interlaced_grey2", PNG_COLOR_TYPE_GRAY, 2, PNG_INTERLACE_ADAM7, 10, 9, 0, false},
      {"interlaced_rgba16", PNG_COLOR_TYPE_RGB_ALPHA, 16, PNG_INTERLACE_ADAM7, 9, 3, 0, false},
      {"one_rgb", PNG_COLOR_TYPE_RGB, 8, 0, 1, 1, 0, false},
      {"one_grey16", PNG_COLOR_TYPE_GRAY, 16, 0, 1, 1, 0, false},
      {"one_palette", PNG_COLOR_TYPE_PALETTE, 8, 0, 1, 1, 1, true},
  };
  for (size_t i = 0; i < sizeof pngs / sizeof pngs[0]; i++) {
    const png_variant *v = &pngs[i];
    /* a .jpg name: the format comes from the content */
    snprintf(path, sizeof path, "%s/%s.%s", tmpdir, v->name, i % 5 == 4 ? "jpg" : "png");
    uint8_t *expect = make_png(v, path);
    uint8_t *got = malloc(3 * (size_t)v->w * (size_t)v->h);
    int64_t h = 0, w = 0;
    lt_status st = lt_image_info(path, NULL, &h, &w);
    if (st == LT_OK) st = lt_image_decode(path, NULL, v->h, v->w, got);
    if (st != LT_OK) fprintf(stderr, "%s: %s\n", v->name, lt_error_message());
    LT_CHECK(st == LT_OK && h == v->h && w == v->w);
    bool exact = st == LT_OK && memcmp(got, expect, 3 * (size_t)v->w * (size_t)v->h) == 0;
    if (!exact) fprintf(stderr, "%s: pixels differ from the rule\n", v->name);
    LT_CHECK(exact);
    if (pil) LT_CHECK(compare_pil(path, got, v->h, v->w, 0, 0));
    free(expect);
    free(got);
  }

  static const jpeg_variant jpegs[] = {
      {"rgb420", 37, 23, TJPF_RGB, TJSAMP_420, 0, 90},
      {"rgb444", 16, 16, TJPF_RGB, TJSAMP_444, 0, 95},
      {"rgb422", 21, 9, TJPF_RGB, TJSAMP_422, 0, 85},
      {"grey", 13, 17, TJPF_GRAY, TJSAMP_GRAY, 0, 90},
      {"progressive", 40, 30, TJPF_RGB, TJSAMP_420, TJFLAG_PROGRESSIVE, 90},
      {"cmyk", 24, 16, TJPF_CMYK, TJSAMP_444, 0, 98},
      {"one", 1, 1, TJPF_RGB, TJSAMP_444, 0, 90},
  };
  for (size_t i = 0; i < sizeof jpegs / sizeof jpegs[0]; i++) {
    const jpeg_variant *v = &jpegs[i];
    snprintf(path, sizeof path, "%s/%s.jpeg", tmpdir, v->name);
    uint8_t *expect = make_jpeg(v, path);
    size_t n = 3 * (size_t)v->w * (size_t)v->h;
    uint8_t *got = malloc(n);
    lt_status st = lt_image_decode(path, NULL, v->h, v->w, got);
    if (st != LT_OK) fprintf(stderr, "%s: %s\n", v->name, lt_error_message());
    LT_CHECK(st == LT_OK);
    double err = 0;
    for (size_t k = 0; k < n; k++) err += abs((int)got[k] - (int)expect[k]);
    err /= (double)n;
    printf("JPEG %-12s mean absolute error %.2f\n", v->name, err);
    LT_CHECK(err < 4.0);
    if (pil && st == LT_OK) LT_CHECK(compare_pil(path, got, v->h, v->w, 0, 0));
    free(expect);
    free(got);
  }

  /* draft: a 1/8, 1/4 and 1/2 scaled decode is PIL's draft() exactly when
   * the target is the scaled size; the full decode otherwise. */
  {
    jpeg_variant big = {"big", 200, 160, TJPF_RGB, TJSAMP_420, 0, 90};
    snprintf(path, sizeof path, "%s/big.jpg", tmpdir);
    free(make_jpeg(&big, path));
    static const int targets[][2] = {{25, 20}, {50, 40}, {100, 80}, {150, 120}};
    for (int t = 0; t < 4; t++) {
      int w = targets[t][0], h = targets[t][1];
      uint8_t *got = malloc(3 * (size_t)w * (size_t)h);
      LT_CHECK(lt_image_decode(path, NULL, h, w, got) == LT_OK);
      if (pil && t < 3) LT_CHECK(compare_pil(path, got, h, w, w, h));
      /* without draft: the full image resized, which differs */
      lt_image_options full = lt_image_default_options();
      full.draft = false;
      uint8_t *slow = malloc(3 * (size_t)w * (size_t)h);
      LT_CHECK(lt_image_decode(path, &full, h, w, slow) == LT_OK);
      LT_CHECK((memcmp(got, slow, 3 * (size_t)w * (size_t)h) != 0) == (t < 3));
      free(got);
      free(slow);
    }
  }

  /* The pixel limit: at the limit decodes, one above is refused before
   * decoding, 0 is no limit. */
  {
    static const char *const files[2] = {"grey8.png", "rgb444.jpeg"};
    static const int sizes[2][2] = {{11, 6}, {16, 16}};
    for (int k = 0; k < 2; k++) {
      int w = sizes[k][0], h = sizes[k][1];
      char want[200];
      snprintf(path, sizeof path, "%s/%s", tmpdir, files[k]);
      snprintf(want, sizeof want, "%s': the image is %dx%d = %d pixels, over the limit of %d (max_pixels", files[k], w, h,
               w * h, w * h - 1);
      lt_image_options o = lt_image_default_options();
      uint8_t buf[3 * 16 * 16];
      o.max_pixels = w * h;
      LT_CHECK(lt_image_decode(path, &o, h, w, buf) == LT_OK);
      o.max_pixels = w * h - 1;
      LT_CHECK(lt_image_decode(path, &o, h, w, buf) == LT_ERR_IO && strstr(lt_error_message(), want) != NULL);
      int64_t ih, iw;
      LT_CHECK(lt_image_info(path, &o, &ih, &iw) == LT_ERR_IO && strstr(lt_error_message(), want) != NULL);
      o.max_pixels = 0;
      LT_CHECK(lt_image_decode(path, &o, h, w, buf) == LT_OK);
    }
  }

  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
  return lt_test_done();
}
