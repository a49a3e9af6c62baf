/* test_data_image_folder.c — ImageFolder scanning and JPEG/PNG decoding on a
 * folder this test writes with stb_image_write: class order, sample order
 * and labels, every pixel of the PNGs (grey and RGBA included), a JPEG within
 * a small error of the image it encodes, resizing on decode, decoding from several threads at once,
 * and the error messages for missing, empty and corrupt inputs. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_image_folder.h"
#include "lt_test.h"
#include "lt_transforms_cpu.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

static char tmpdir[256];

/* A 24x16 JPEG (quality 90) of the gradient 40 + 3x + 2y + 50c, made once
 * with stb_image_write. It is embedded rather than written at run time
 * because stb_image_write's JPEG encoder shifts into the sign bit of an int,
 * which the sanitizer build would report as undefined behaviour. */
static const unsigned char gradient_jpg[] = {
  0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01,
  0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0xff, 0xdb, 0x00, 0x84,
  0x00, 0x03, 0x02, 0x02, 0x03, 0x02, 0x02, 0x03, 0x03, 0x03, 0x03, 0x04,
  0x03, 0x03, 0x04, 0x05, 0x08, 0x05, 0x05, 0x04, 0x04, 0x05, 0x0a, 0x07,
  0x07, 0x06, 0x08, 0x0c, 0x0a, 0x0c, 0x0c, 0x0b, 0x0a, 0x0b, 0x0b, 0x0d,
  0x0e, 0x12, 0x10, 0x0d, 0x0e, 0x11, 0x0e, 0x0b, 0x0b, 0x10, 0x16, 0x10,
  0x11, 0x13, 0x14, 0x15, 0x15, 0x15, 0x0c, 0x0f, 0x17, 0x18, 0x16, 0x14,
  0x18, 0x12, 0x14, 0x15, 0x14, 0x01, 0x03, 0x04, 0x04, 0x05, 0x04, 0x05,
  0x09, 0x05, 0x05, 0x09, 0x14, 0x0d, 0x0b, 0x0d, 0x14, 0x14, 0x14, 0x14,
  0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
  0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
  0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
  0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0xff, 0xc0,
  0x00, 0x11, 0x08, 0x00, 0x10, 0x00, 0x18, 0x03, 0x01, 0x22, 0x00, 0x02,
  0x11, 0x01, 0x03, 0x11, 0x01, 0xff, 0xc4, 0x01, 0xa2, 0x00, 0x00, 0x01,
  0x05, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
  0x0a, 0x0b, 0x10, 0x00, 0x02, 0x01, 0x03, 0x03, 0x02, 0x04, 0x03, 0x05,
  0x05, 0x04, 0x04, 0x00, 0x00, 0x01, 0x7d, 0x01, 0x02, 0x03, 0x00, 0x04,
  0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22,
  0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15,
  0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17,
  0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36,
  0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a,
  0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66,
  0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a,
  0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95,
  0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8,
  0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2,
  0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5,
  0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7,
  0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9,
  0xfa, 0x01, 0x00, 0x03, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
  0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
  0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x11, 0x00, 0x02, 0x01, 0x02, 0x04,
  0x04, 0x03, 0x04, 0x07, 0x05, 0x04, 0x04, 0x00, 0x01, 0x02, 0x77, 0x00,
  0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51,
  0x07, 0x61, 0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1,
  0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1, 0x0a,
  0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26, 0x27,
  0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45,
  0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59,
  0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75,
  0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88,
  0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2,
  0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5,
  0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8,
  0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe2,
  0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5,
  0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xff, 0xda, 0x00, 0x0c, 0x03, 0x01, 0x00,
  0x02, 0x11, 0x03, 0x11, 0x00, 0x3f, 0x00, 0xf3, 0x0d, 0x13, 0x4d, 0xfb,
  0xbc, 0x57, 0xa0, 0x68, 0x9a, 0x6f, 0xdd, 0xe2, 0xb2, 0x74, 0x4d, 0x37,
  0xee, 0xf1, 0x5e, 0x81, 0xa2, 0x69, 0xbf, 0x77, 0x8a, 0xfd, 0x64, 0xfc,
  0xc4, 0xd6, 0xd1, 0x34, 0xdf, 0xbb, 0xc5, 0x6e, 0x7f, 0x66, 0xfb, 0x55,
  0xed, 0x13, 0x4d, 0xfb, 0xbc, 0x56, 0xe7, 0xf6, 0x6f, 0xb5, 0x00, 0x7f,
  0xff, 0xd9
};


static uint32_t rng_state = 99;
static uint8_t rnd8(void) {
  rng_state = rng_state * 1664525u + 1013904223u;
  return (uint8_t)(rng_state >> 24);
}

/* Runs a shell command; every %s in fmt is replaced by the test folder. */
static void sh(const char *fmt) {
  char cmd[2048];
  size_t o = 0;
  for (const char *p = fmt; *p && o + 300 < sizeof cmd; p++) {
    if (p[0] == '%' && p[1] == 's') {
      o += (size_t)snprintf(cmd + o, sizeof cmd - o, "%s", tmpdir);
      p++;
    } else {
      cmd[o++] = *p;
    }
  }
  cmd[o] = 0;
  if (system(cmd) != 0) fprintf(stderr, "command failed: %s\n", cmd);
}

static void check_err(lt_status st, lt_status want_status, const char *want, int line) {
  bool ok = st == want_status && strstr(lt_error_message(), want) != NULL;
  if (!ok) fprintf(stderr, "line %d: status %d, message \"%s\"; expected \"%s\"\n", line, (int)st, lt_error_message(), want);
  LT_CHECK(ok);
}
#define CHECK_ERR(st, status, want) check_err((st), (status), (want), __LINE__)

/* An interleaved image [h, w, comp] with its planar 3-channel expectation. */
typedef struct {
  const char *rel;   /* path under tmpdir/root */
  int h, w, comp;
  bool jpeg;
  uint8_t *pixels;   /* interleaved, as written */
} image_spec;

static void write_image(image_spec *s) {
  char path[600];
  snprintf(path, sizeof path, "%s/root/%s", tmpdir, s->rel);
  s->pixels = malloc((size_t)(s->h * s->w * s->comp));
  for (int y = 0; y < s->h; y++)
    for (int x = 0; x < s->w; x++)
      for (int c = 0; c < s->comp; c++) {
        /* The JPEG holds the gradient (lossy coding keeps it close); PNGs
         * hold random bytes (lossless, so every byte must come back). */
        uint8_t v = s->jpeg ? (uint8_t)(40 + 3 * x + 2 * y + 50 * c) : rnd8();
        s->pixels[(y * s->w + x) * s->comp + c] = v;
      }
  int ok;
  if (s->jpeg) {
    FILE *fp = fopen(path, "wb");
    ok = fp && fwrite(gradient_jpg, 1, sizeof gradient_jpg, fp) == sizeof gradient_jpg;
    if (fp) fclose(fp);
  } else {
    ok = stbi_write_png(path, s->w, s->h, s->comp, s->pixels, s->w * s->comp);
  }
  if (!ok) fprintf(stderr, "cannot write %s\n", path);
}

/* Expected planar RGB value of channel c at (y, x). */
static uint8_t expect(const image_spec *s, int c, int y, int x) {
  const uint8_t *p = s->pixels + (y * s->w + x) * s->comp;
  if (s->comp == 1 || s->comp == 2) return p[0]; /* grey replicated */
  return p[c];                                   /* alpha dropped */
}

typedef struct {
  const char *path;
  int h, w;
  const uint8_t *want;
  int mismatches;
} thread_job;

static void *decode_many(void *arg) {
  thread_job *job = arg;
  uint8_t *buf = malloc((size_t)(3 * job->h * job->w));
  for (int rep = 0; rep < 20; rep++) {
    if (lt_image_decode(job->path, job->h, job->w, buf) != LT_OK || memcmp(buf, job->want, (size_t)(3 * job->h * job->w)))
      job->mismatches++;
  }
  free(buf);
  return NULL;
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/lt_test_imgfolder_XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 2;
  }
  sh("mkdir -p '%s/root/dog' '%s/root/cat/sub' '%s/root/bird' '%s/root/cat/sub-a'");
  /* Classes sort as bird, cat, dog. Within cat: folder "root/cat" first,
   * then "root/cat/sub", then "root/cat/sub-a" (byte order of the folder
   * paths, as sorted(os.walk(...)) gives). */
  image_spec imgs[] = {
      {"bird/b2.png", 5, 7, 3, false, NULL},  {"bird/B1.PNG", 4, 4, 4, false, NULL},
      {"cat/z.png", 6, 3, 1, false, NULL},    {"cat/sub/a.png", 3, 5, 2, false, NULL},
      {"cat/sub-a/a.png", 2, 2, 3, false, NULL}, {"dog/photo.jpg", 16, 24, 3, true, NULL},
      {"dog/grey.png", 8, 8, 1, false, NULL},
  };
  enum { NIMG = sizeof imgs / sizeof imgs[0] };
  for (int i = 0; i < NIMG; i++) write_image(&imgs[i]);
  sh("echo not an image > '%s/root/dog/notes.txt'");
  sh("mkdir -p '%s/root/.hidden_is_a_class_too'");
  sh("cp '%s/root/dog/grey.png' '%s/root/.hidden_is_a_class_too/x.png'");

  char root[512];
  snprintf(root, sizeof root, "%s/root", tmpdir);
  lt_image_folder f;
  lt_status st = lt_image_folder_scan(root, &f);
  if (st != LT_OK) fprintf(stderr, "%s\n", lt_error_message());
  LT_CHECK(st == LT_OK);
  LT_CHECK(f.num_classes == 4);
  LT_CHECK(strcmp(f.classes[0], ".hidden_is_a_class_too") == 0 && strcmp(f.classes[1], "bird") == 0 &&
           strcmp(f.classes[2], "cat") == 0 && strcmp(f.classes[3], "dog") == 0);
  /* Hidden folders are classes too (as in torchvision); within a class,
   * folders in byte order of their paths, then files: 'B' sorts before 'b',
   * and "cat" < "cat/sub" < "cat/sub-a" because a prefix sorts first. */
  static const char *order[] = {".hidden_is_a_class_too/x.png", "bird/B1.PNG", "bird/b2.png", "cat/z.png",
                                "cat/sub/a.png", "cat/sub-a/a.png", "dog/grey.png", "dog/photo.jpg"};
  static const int64_t labels[] = {1, 2, 2, 3, 3, 3, 4, 4};
  LT_CHECK(f.num_samples == 8);
  for (int k = 0; k < 8 && k < f.num_samples; k++) {
    char want[700];
    snprintf(want, sizeof want, "%s/%s", root, order[k]);
    if (strcmp(f.paths[k], want) != 0) fprintf(stderr, "sample %d: %s, expected %s\n", k, f.paths[k], want);
    LT_CHECK(strcmp(f.paths[k], want) == 0);
    LT_CHECK(f.labels[k] == labels[k]);
  }

  /* Every PNG decodes exactly, at its own size; the JPEG approximately. */
  for (int i = 0; i < NIMG; i++) {
    image_spec *s = &imgs[i];
    char path[700];
    snprintf(path, sizeof path, "%s/%s", root, s->rel);
    int64_t h, w;
    LT_CHECK(lt_image_info(path, &h, &w) == LT_OK && h == s->h && w == s->w);
    uint8_t *out = malloc((size_t)(3 * s->h * s->w));
    LT_CHECK(lt_image_decode(path, s->h, s->w, out) == LT_OK);
    int bad = 0;
    double err = 0;
    for (int c = 0; c < 3; c++)
      for (int y = 0; y < s->h; y++)
        for (int x = 0; x < s->w; x++) {
          int got = out[(c * s->h + y) * s->w + x], want = expect(s, c, y, x);
          if (got != want) bad++;
          err += abs(got - want);
        }
    if (s->jpeg) {
      err /= 3.0 * s->h * s->w;
      printf("JPEG mean absolute error %.2f\n", err);
      LT_CHECK(err < 3.0);
    } else {
      LT_CHECK(bad == 0);
    }
    free(out);
  }

  /* Decoding to another size equals decoding then lt_transforms_resize. */
  {
    image_spec *s = &imgs[0];
    char path[700];
    snprintf(path, sizeof path, "%s/%s", root, s->rel);
    uint8_t native[3 * 5 * 7], want[3 * 9 * 4], got[3 * 9 * 4];
    LT_CHECK(lt_image_decode(path, 5, 7, native) == LT_OK);
    LT_CHECK(lt_transforms_resize(LT_UINT8, native, want, 1, 3, 5, 7, 9, 4) == LT_OK);
    LT_CHECK(lt_image_decode(path, 9, 4, got) == LT_OK);
    LT_CHECK(memcmp(got, want, sizeof got) == 0);

    /* The loader's source: sample 2 is bird/b2.png with label 2. */
    lt_image_folder_source src = {&f, 9, 4};
    int64_t label = 0;
    LT_CHECK(lt_image_folder_fetch(&src, 2, got, &label) == LT_OK && label == 2 && memcmp(got, want, sizeof got) == 0);
    CHECK_ERR(lt_image_folder_fetch(&src, 8, got, &label), LT_ERR_ARG,
              "sample index 8 is out of range for an image folder of 8 files");

    /* Thread safety: four threads decode and resize the same files. */
    thread_job jobs[4];
    pthread_t th[4];
    uint8_t jpeg_ref[3 * 10 * 12];
    char jpath[700];
    snprintf(jpath, sizeof jpath, "%s/%s", root, imgs[5].rel);
    LT_CHECK(lt_image_decode(jpath, 10, 12, jpeg_ref) == LT_OK);
    for (int t = 0; t < 4; t++) {
      jobs[t] = (thread_job){t % 2 ? path : jpath, t % 2 ? 9 : 10, t % 2 ? 4 : 12, t % 2 ? want : jpeg_ref, 0};
      pthread_create(&th[t], NULL, decode_many, &jobs[t]);
    }
    for (int t = 0; t < 4; t++) {
      pthread_join(th[t], NULL);
      LT_CHECK(jobs[t].mismatches == 0);
    }
  }
  lt_image_folder_free(&f);
  LT_CHECK(f.paths == NULL && f.num_samples == 0);

  /* Errors. */
  uint8_t buf[3 * 4 * 4];
  char p[700];
  snprintf(p, sizeof p, "%s/root/dog/notes.txt", tmpdir);
  CHECK_ERR(lt_image_decode(p, 4, 4, buf), LT_ERR_IO, "cannot decode image '");
  LT_CHECK(strstr(lt_error_message(), "dog/notes.txt': ") != NULL);
  sh("head -c 60 '%s/root/dog/photo.jpg' > '%s/root/dog/cut.jpg'");
  snprintf(p, sizeof p, "%s/root/dog/cut.jpg", tmpdir);
  CHECK_ERR(lt_image_decode(p, 4, 4, buf), LT_ERR_IO, "cut.jpg': ");
  printf("corrupt JPEG: %s\n", lt_error_message());
  snprintf(p, sizeof p, "%s/root/dog/missing.png", tmpdir);
  CHECK_ERR(lt_image_decode(p, 4, 4, buf), LT_ERR_IO, "cannot open image '");
  LT_CHECK(strstr(lt_error_message(), "missing.png': No such file or directory") != NULL);
  CHECK_ERR(lt_image_decode(p, 0, 4, buf), LT_ERR_ARG, "image size must be positive, got 0x4");

  snprintf(p, sizeof p, "%s/nothing", tmpdir);
  CHECK_ERR(lt_image_folder_scan(p, &f), LT_ERR_IO, "folder '");
  LT_CHECK(strstr(lt_error_message(), "nothing' does not exist") != NULL);
  sh("mkdir -p '%s/root/empty_class'");
  sh("cp '%s/root/dog/notes.txt' '%s/root/empty_class/'");
  CHECK_ERR(lt_image_folder_scan(root, &f), LT_ERR_IO, "class folder '");
  LT_CHECK(strstr(lt_error_message(), "root/empty_class' holds no .jpg, .jpeg or .png file") != NULL);
  LT_CHECK(f.paths == NULL && f.classes == NULL);
  sh("mkdir -p '%s/noclasses'");
  snprintf(p, sizeof p, "%s/noclasses", tmpdir);
  CHECK_ERR(lt_image_folder_scan(p, &f), LT_ERR_IO, "has no class sub-folders");

  for (int i = 0; i < NIMG; i++) free(imgs[i].pixels);
  sh("rm -rf '%s'");
  return lt_test_done();
}
