/* test_data_image_folder.c — ImageFolder scanning and JPEG/PNG decoding on a
 * folder this test writes with luatrain's own encoders (lt_image.h): class
 * order, sample order and labels, every pixel of the PNGs (grey and RGBA
 * included), a JPEG within a small error of the image it encodes, resizing
 * on decode, decoding from several threads at once, and the error messages
 * for missing, empty and corrupt inputs. The scan's handling of symbolic
 * links and the pixel-exact image variants are tests/c/test_image_decode.c
 * and tests/c/test_corrupt_files.c. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_image.h"
#include "lt_image_folder.h"
#include "lt_test.h"
#include "lt_transforms_cpu.h"

static char tmpdir[256];

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
        /* The JPEG holds a gradient (lossy coding keeps it close); PNGs
         * hold random bytes (lossless, so every byte must come back). */
        uint8_t v = s->jpeg ? (uint8_t)(40 + 3 * x + 2 * y + 50 * c) : rnd8();
        s->pixels[(y * s->w + x) * s->comp + c] = v;
      }
  /* the encoders take planar [c, h, w] */
  size_t hw = (size_t)(s->h * s->w);
  uint8_t *planar = malloc(hw * (size_t)s->comp), *bytes = NULL;
  for (size_t k = 0; k < hw; k++)
    for (int c = 0; c < s->comp; c++) planar[(size_t)c * hw + k] = s->pixels[k * (size_t)s->comp + (size_t)c];
  size_t len = 0;
  lt_status st = s->jpeg ? lt_image_encode_jpeg(planar, s->comp, s->h, s->w, 90, &bytes, &len)
                         : lt_image_encode_png(planar, s->comp, s->h, s->w, &bytes, &len);
  FILE *fp = st == LT_OK ? fopen(path, "wb") : NULL;
  int ok = fp && fwrite(bytes, 1, len, fp) == len;
  if (fp) fclose(fp);
  if (!ok) fprintf(stderr, "cannot write %s: %s\n", path, lt_error_message());
  free(planar);
  free(bytes);
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
    if (lt_image_decode(job->path, NULL, job->h, job->w, buf) != LT_OK || memcmp(buf, job->want, (size_t)(3 * job->h * job->w)))
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
  /* dog/notes.txt is ignored for its extension, and counted */
  LT_CHECK(f.num_ignored == 1 && f.first_ignored && strstr(f.first_ignored, "root/dog/notes.txt") != NULL);
  LT_CHECK(f.num_notes == 0);
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
    LT_CHECK(lt_image_info(path, NULL, &h, &w) == LT_OK && h == s->h && w == s->w);
    uint8_t *out = malloc((size_t)(3 * s->h * s->w));
    LT_CHECK(lt_image_decode(path, NULL, s->h, s->w, out) == LT_OK);
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
    LT_CHECK(lt_image_decode(path, NULL, 5, 7, native) == LT_OK);
    LT_CHECK(lt_transforms_resize(LT_UINT8, native, want, 1, 3, 5, 7, 9, 4) == LT_OK);
    LT_CHECK(lt_image_decode(path, NULL, 9, 4, got) == LT_OK);
    LT_CHECK(memcmp(got, want, sizeof got) == 0);

    /* The loader's source: sample 2 is bird/b2.png with label 2. */
    lt_image_folder_source src = {&f, 9, 4, lt_image_default_options()};
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
    LT_CHECK(lt_image_decode(jpath, NULL, 10, 12, jpeg_ref) == LT_OK);
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
  CHECK_ERR(lt_image_decode(p, NULL, 4, 4, buf), LT_ERR_IO,
            "dog/notes.txt': not a JPEG or PNG image (it starts with the bytes 6e 6f 74 20 61 6e 20 69)");
  sh("head -c 60 '%s/root/dog/photo.jpg' > '%s/root/dog/cut.jpg'");
  snprintf(p, sizeof p, "%s/root/dog/cut.jpg", tmpdir);
  CHECK_ERR(lt_image_decode(p, NULL, 4, 4, buf), LT_ERR_IO, "cut.jpg': the JPEG ends before its frame header (the file is truncated)");
  printf("corrupt JPEG: %s\n", lt_error_message());
  snprintf(p, sizeof p, "%s/root/dog/missing.png", tmpdir);
  CHECK_ERR(lt_image_decode(p, NULL, 4, 4, buf), LT_ERR_IO, "cannot open image '");
  LT_CHECK(strstr(lt_error_message(), "missing.png': No such file or directory") != NULL);
  CHECK_ERR(lt_image_decode(p, NULL, 0, 4, buf), LT_ERR_ARG, "image size must be positive, got 0x4");

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
