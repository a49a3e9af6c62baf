/* lt_history.c — the REPL's history file, kept to a bounded number of lines.
 *
 * Entries are appended as they are entered (so os.exit or a crash loses
 * nothing) and the file is trimmed to the newest `max` lines by writing a
 * temporary file and renaming it over the old one, so a reader never sees a
 * half-written history. This file does not talk to libedit: the REPL passes
 * a callback that feeds the loaded entries to it. */
#include "lt_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads the whole file; *len gets its size. NULL when missing or on error. */
static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  while (buf != NULL) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap) break;
    char *grown = realloc(buf, cap * 2);
    if (grown == NULL) { free(buf); buf = NULL; break; }
    buf = grown;
    cap *= 2;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) { free(buf); return NULL; }
  *len = n;
  return buf;
}

static int count_lines(const char *buf, size_t len) {
  int lines = 0;
  for (size_t i = 0; i < len; i++)
    if (buf[i] == '\n') lines++;
  if (len > 0 && buf[len - 1] != '\n') lines++;   /* an unterminated last line */
  return lines;
}

/* Offset of the first of the last `keep` lines of buf. */
static size_t tail_start(const char *buf, size_t len, int keep) {
  size_t i = len;
  if (i > 0 && buf[i - 1] == '\n') i--;   /* the final newline ends, not starts */
  while (i > 0) {
    if (buf[i - 1] == '\n' && --keep == 0) return i;
    i--;
  }
  return 0;
}

/* Rewrites the file with only the text from `start`. On failure the old
 * file is left as it was. */
static void rewrite_tail(const char *path, const char *buf, size_t len, size_t start) {
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 32);
  if (tmp == NULL) return;
  snprintf(tmp, plen + 32, "%s.tmp%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "wb");
  int ok = f != NULL;
  if (ok) {
    ok = fwrite(buf + start, 1, len - start, f) == len - start;
    if (len > start && buf[len - 1] != '\n') ok = ok && fputc('\n', f) != EOF;
    ok = (fclose(f) == 0) && ok;
  }
  if (ok) ok = rename(tmp, path) == 0;
  if (!ok) remove(tmp);
  free(tmp);
}

static void trim(lt_history *h) {
  size_t len = 0;
  char *buf = read_all(h->path, &len);
  if (buf == NULL) return;
  if (count_lines(buf, len) > h->max)
    rewrite_tail(h->path, buf, len, tail_start(buf, len, h->max));
  free(buf);
}

/* "\n" -> newline, "\\" -> backslash, in place; other escapes stay as they are. */
static void unescape(char *s) {
  char *out = s;
  for (; *s; s++) {
    if (s[0] == '\\' && (s[1] == 'n' || s[1] == '\\')) {
      *out++ = s[1] == 'n' ? '\n' : '\\';
      s++;
    } else {
      *out++ = *s;
    }
  }
  *out = '\0';
}

int lt_history_open(lt_history *h, const char *path, int max,
                    void (*add)(const char *entry, void *ud), void *ud) {
  h->path = NULL;
  h->max = max > 0 ? max : 1;
  if (path == NULL) return 0;
  h->path = strdup(path);
  if (h->path == NULL) return -1;

  size_t len = 0;
  char *buf = read_all(path, &len);
  if (buf == NULL) return 0;   /* no history yet */
  /* One extra byte for a terminator after an unterminated last line. */
  char *text = realloc(buf, len + 1);
  if (text == NULL) { free(buf); return -1; }
  text[len] = '\0';

  size_t start = tail_start(text, len, h->max);
  if (count_lines(text, len) > h->max) rewrite_tail(path, text, len, start);
  for (char *line = text + start; line < text + len;) {
    char *nl = memchr(line, '\n', (size_t)(text + len - line));
    char *next = nl != NULL ? nl + 1 : text + len;
    if (nl != NULL) *nl = '\0';
    if (*line != '\0') {
      unescape(line);
      add(line, ud);
    }
    line = next;
  }
  free(text);
  return 0;
}

void lt_history_append(lt_history *h, const char *entry) {
  if (h->path == NULL || entry[0] == '\0') return;
  FILE *f = fopen(h->path, "ab");
  if (f == NULL) return;
  for (const char *s = entry; *s; s++) {
    if (*s == '\n') fputs("\\n", f);
    else if (*s == '\\') fputs("\\\\", f);
    else fputc(*s, f);
  }
  fputc('\n', f);
  if (fclose(f) != 0) return;
  /* Recounting the file each time (it is small) keeps the bound exact even
   * when several REPLs append to it at once. */
  trim(h);
}

void lt_history_close(lt_history *h) {
  free(h->path);
  h->path = NULL;
}
