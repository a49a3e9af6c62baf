/* lt_board_api.c — what `luatrain board` answers to each route, apart from
 * any HTTP library: lt_board_answer(site, method, path, offset) gives a
 * status, a body and the few headers the API has (lt_board.h lists the
 * routes). lt_board.c turns the reply into libmicrohttpd's response.
 *
 * Everything served comes from under the runs folder, read-only, except the
 * page (embedded at build time) and the two dygraphs files (from a folder
 * fixed at start). A run is reached only by a name that passes valid_name;
 * its folder's realpath must lie inside the runs folder's realpath (a run
 * folder that is a symlink elsewhere is refused); its files are opened with
 * O_NOFOLLOW and O_NONBLOCK (no symlinks, no FIFOs that would block) and
 * must be regular files.
 *
 * Run states: status.json's "state", except a "running" run whose process
 * is gone from this machine (same host name, kill(pid, 0) fails with ESRCH)
 * is "interrupted"; a run without status.json is "unknown". The metrics
 * route never returns a cut last line: a writer may be in the middle of it. */
#include "lt_board.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#define JSON_TYPE "application/json"
#define TEXT_TYPE "text/plain; charset=utf-8"
/* The largest config.json, status.json and dygraphs file served. */
#define MAX_SMALL_FILE ((size_t)16 << 20)
/* The most runs one /api/runs lists. */
#define MAX_RUNS 10000
/* The most a metrics response carries; past it, the response ends at the
 * last complete line within it and the client asks again. */
#define METRICS_CHUNK ((size_t)4 << 20)

/* Whether name may be a run folder's name: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}
 * and no "..". */
static int valid_name(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > 128 || strstr(name, "..") != NULL) return 0;
  if (!(isalnum((unsigned char)name[0]) || name[0] == '_')) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)name[i];
    if (!((c < 128 && isalnum(c)) || c == '_' || c == '.' || c == '-')) return 0;
  }
  return 1;
}

int lt_board_site_init(lt_board_site *s, const char *root, const char *dygraphs, char *err, size_t errsize) {
  memset(s, 0, sizeof *s);
  struct stat st;
  if (realpath(root, s->root) == NULL) {
    snprintf(err, errsize, "board: runs folder '%s' does not exist (%s)", root, strerror(errno));
    return -1;
  }
  if (stat(s->root, &st) != 0 || !S_ISDIR(st.st_mode)) {
    snprintf(err, errsize, "board: runs folder '%s' is not a folder", root);
    return -1;
  }
  s->root_len = strlen(s->root);
  if (strlen(dygraphs) >= sizeof s->dygraphs) {
    snprintf(err, errsize, "board: the dygraphs folder's name is too long");
    return -1;
  }
  strcpy(s->dygraphs, dygraphs);
  return 0;
}

/* ---- replies ----------------------------------------------------------------------- */

void lt_board_reply_init(lt_board_reply *r) {
  memset(r, 0, sizeof *r);
  r->next_offset = -1;
  r->cache = "no-store";
}

void lt_board_reply_free(lt_board_reply *r) {
  if (r->owned) free(r->body);
  r->body = NULL;
  r->owned = 0;
}

/* Sets the status, type and body of r; owned: the body is malloc'd and r
 * frees it, else it is static. */
static void reply(lt_board_reply *r, int status, const char *type, const char *body, size_t size, int owned) {
  r->status = status;
  r->type = type;
  r->body = (char *)body;
  r->size = size;
  r->owned = owned;
}

/* A cJSON value as the reply (consumed); 500 when printing runs out of memory. */
static void reply_json(lt_board_reply *r, cJSON *value, const char *path) {
  char *text = value != NULL ? cJSON_PrintUnformatted(value) : NULL;
  cJSON_Delete(value);
  if (text == NULL) {
    lt_board_error(r, 500, path, "board: out of memory");
    return;
  }
  reply(r, 200, JSON_TYPE, text, strlen(text), 1);
}

void lt_board_error(lt_board_reply *r, int status, const char *path, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  lt_board_reply_free(r);
  r->next_offset = -1;
  r->reset = 0;
  r->cache = "no-store";
  static const char oom[] = "board: out of memory\n";
  char *text = NULL;
  const char *type = TEXT_TYPE;
  if (strncmp(path, "/api/", 5) == 0) {
    cJSON *o = cJSON_CreateObject();
    if (o != NULL && cJSON_AddStringToObject(o, "error", msg) != NULL) text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    type = JSON_TYPE;
  } else {
    size_t n = strlen(msg);
    text = malloc(n + 2);
    if (text != NULL) {
      memcpy(text, msg, n);
      memcpy(text + n, "\n", 2);
    }
  }
  if (text == NULL) reply(r, status, TEXT_TYPE, oom, sizeof oom - 1, 0);
  else reply(r, status, type, text, strlen(text), 1);
}

/* ---- files under the runs folder ----------------------------------------------------- */

/* Opens the folder of run `name`: returns its descriptor, or -1 with the
 * HTTP status in *status (404: no such run or not a run name; 403: it
 * resolves outside the runs folder). */
static int open_run(const lt_board_site *s, const char *name, int *status) {
  *status = 404;
  if (!valid_name(name)) return -1;
  char path[PATH_MAX * 2], real[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", s->root, name);
  if (realpath(path, real) == NULL) return -1;
  size_t n = s->root_len;
  int inside = strcmp(s->root, "/") == 0 ? strcmp(real, "/") != 0
                                          : strncmp(real, s->root, n) == 0 && real[n] == '/' && real[n + 1] != '\0';
  if (!inside) {
    *status = 403;
    return -1;
  }
  int fd = open(real, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) *status = errno == ENOENT ? 404 : 403;
  return fd;
}

/* Opens the regular file `name` in the run folder dir: the descriptor, with
 * *st filled, or -1 with the status in *status (404 missing, 403 a symlink
 * or anything but a regular file). */
static int open_in_run(int dir, const char *name, struct stat *st, int *status) {
  int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    *status = errno == ENOENT || errno == ENOTDIR ? 404 : 403;
    return -1;
  }
  if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
    close(fd);
    *status = 403;
    return -1;
  }
  return fd;
}

/* Reads `want` bytes of fd from offset off into buf, reading again after a
 * signal. Returns how many it read: fewer when the file ends first (it
 * shrank while read) or a read fails. errno is then the failure's, or 0
 * when none failed. */
static size_t pread_all(int fd, char *buf, size_t want, off_t off) {
  size_t got = 0;
  int failed = 0;
  while (got < want) {
    ssize_t k = pread(fd, buf + got, want - got, off + (off_t)got);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) failed = errno;
    if (k <= 0) break;
    got += (size_t)k;
  }
  errno = failed;
  return got;
}

/* Reads the whole regular file fd, whose fstat is st, into a malloc'd,
 * NUL-terminated buffer. Returns it, or NULL when it is over `max` bytes,
 * unreadable or memory runs out. A file that shrinks while read gives what
 * was there. */
static char *read_whole(int fd, const struct stat *st, size_t max, size_t *len) {
  if (st->st_size < 0 || (size_t)st->st_size > max) return NULL;
  size_t want = (size_t)st->st_size;
  char *buf = malloc(want + 1);
  if (buf == NULL) return NULL;
  size_t got = pread_all(fd, buf, want, 0);
  if (got < want && errno != 0) {
    free(buf);
    return NULL;
  }
  buf[got] = '\0';
  *len = got;
  return buf;
}

/* The JSON object in the open file fd, whose fstat is st, or NULL
 * (unreadable, too large, invalid JSON, or not an object). */
static cJSON *json_object_in(int fd, const struct stat *st) {
  size_t len = 0;
  char *text = read_whole(fd, st, MAX_SMALL_FILE, &len);
  if (text == NULL) return NULL;
  cJSON *v = cJSON_ParseWithLength(text, len);
  free(text);
  if (v != NULL && !cJSON_IsObject(v)) {
    cJSON_Delete(v);
    v = NULL;
  }
  return v;
}

/* The JSON object in file `name` of run folder dir, or NULL (missing, or as
 * json_object_in). */
static cJSON *read_json_object(int dir, const char *name) {
  struct stat st;
  int status;
  int fd = open_in_run(dir, name, &st, &status);
  if (fd < 0) return NULL;
  cJSON *v = json_object_in(fd, &st);
  close(fd);
  return v;
}

/* ---- GET /api/runs ---------------------------------------------------------------------- */

static double unix_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The state shown for a status.json (NULL: none). */
static const char *run_state(const cJSON *status) {
  const cJSON *state = cJSON_GetObjectItemCaseSensitive(status, "state");
  if (!cJSON_IsString(state)) return "unknown";
  const char *st = state->valuestring;
  if (strcmp(st, "finished") == 0 || strcmp(st, "interrupted") == 0 || strcmp(st, "failed") == 0) return st;
  if (strcmp(st, "running") != 0) return "unknown";
  const cJSON *pid = cJSON_GetObjectItemCaseSensitive(status, "pid");
  const cJSON *host = cJSON_GetObjectItemCaseSensitive(status, "host");
  char here[256] = "";
  if (gethostname(here, sizeof here - 1) != 0 || !cJSON_IsString(host) || strcmp(host->valuestring, here) != 0 ||
      !cJSON_IsNumber(pid) || pid->valuedouble < 1 || pid->valuedouble > 1e9 ||
      pid->valuedouble != (double)(pid_t)pid->valuedouble)
    return "running";   /* another machine's, or no pid to check: take its word */
  if (kill((pid_t)pid->valuedouble, 0) != 0 && errno == ESRCH) return "interrupted";
  return "running";
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entry of one run, or NULL when `name` is not a run (no config.json
 * and no metrics.jsonl, or outside the runs folder). */
static cJSON *run_entry(const lt_board_site *s, const char *name) {
  int status;
  int dir = open_run(s, name, &status);
  if (dir < 0) return NULL;
  struct stat mst, cst;
  int mfd = open_in_run(dir, "metrics.jsonl", &mst, &status);
  int cfd = open_in_run(dir, "config.json", &cst, &status);
  if (mfd >= 0) close(mfd);
  if (mfd < 0 && cfd < 0) {
    close(dir);
    return NULL;
  }
  cJSON *e = cJSON_CreateObject();
  cJSON *st = read_json_object(dir, "status.json");
  cJSON *config = NULL;
  if (cfd >= 0) {
    config = json_object_in(cfd, &cst);
    close(cfd);
  }
  close(dir);
  double mtime = mfd >= 0 ? (double)mst.st_mtim.tv_sec + mst.st_mtim.tv_nsec * 1e-9 : 0.0;
  /* which file it is: a resumed run rewrites metrics.jsonl into a new file
   * (atomically), which may be as long as the old one; the page starts
   * over when this changes */
  char metrics_id[64] = "";
  if (mfd >= 0)
    snprintf(metrics_id, sizeof metrics_id, "%llu:%llu", (unsigned long long)mst.st_dev, (unsigned long long)mst.st_ino);
  if (e == NULL || cJSON_AddStringToObject(e, "name", name) == NULL ||
      cJSON_AddNumberToObject(e, "metrics_size", mfd >= 0 ? (double)mst.st_size : 0.0) == NULL ||
      cJSON_AddNumberToObject(e, "metrics_mtime", mtime) == NULL ||
      cJSON_AddStringToObject(e, "metrics_id", metrics_id) == NULL ||
      cJSON_AddStringToObject(e, "state", st != NULL ? run_state(st) : "unknown") == NULL) {
    cJSON_Delete(e);
    cJSON_Delete(st);
    cJSON_Delete(config);
    return NULL;
  }
  cJSON_AddItemToObject(e, "status", st != NULL ? st : cJSON_CreateNull());
  cJSON_AddItemToObject(e, "config", config != NULL ? config : cJSON_CreateNull());
  return e;
}

static void answer_runs(const lt_board_site *s, const char *path, lt_board_reply *r) {
  DIR *d = opendir(s->root);
  if (d == NULL) {
    lt_board_error(r, 500, path, "board: cannot read the runs folder: %s", strerror(errno));
    return;
  }
  char **names = NULL;
  size_t count = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL && count < MAX_RUNS) {
    if (!valid_name(de->d_name)) continue;
    if (count == cap) {
      cap = cap ? cap * 2 : 64;
      char **grown = realloc(names, cap * sizeof *names);
      if (grown == NULL) break;
      names = grown;
    }
    if ((names[count] = strdup(de->d_name)) == NULL) break;
    count++;
  }
  closedir(d);
  if (count > 0) qsort(names, count, sizeof *names, compare_names);
  cJSON *o = cJSON_CreateObject();
  cJSON *list = NULL;
  if (o != NULL && cJSON_AddStringToObject(o, "root", s->root) != NULL &&
      cJSON_AddNumberToObject(o, "now", unix_now()) != NULL)
    list = cJSON_AddArrayToObject(o, "runs");
  for (size_t i = 0; i < count; i++) {
    cJSON *e = list != NULL ? run_entry(s, names[i]) : NULL;
    if (e != NULL) cJSON_AddItemToArray(list, e);
    free(names[i]);
  }
  free(names);
  if (list == NULL) {
    cJSON_Delete(o);
    o = NULL;
  }
  reply_json(r, o, path);
}

/* ---- GET /api/runs/<name>/metrics?offset=N --------------------------------------------- */

/* offset: decimal digits only; -1 when not a number. */
static long long parse_offset(const char *text) {
  if (text == NULL) return 0;
  size_t n = strlen(text);
  if (n == 0 || n > 18) return -1;
  long long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (text[i] < '0' || text[i] > '9') return -1;
    v = v * 10 + (text[i] - '0');
  }
  return v;
}

/* The position just after the next '\n' at or after `from`, or -1. */
static long long next_line_end(int fd, long long from, long long size) {
  char buf[65536];
  while (from < size) {
    ssize_t k = pread(fd, buf, sizeof buf, (off_t)from);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    char *nl = memchr(buf, '\n', (size_t)k);
    if (nl != NULL) return from + (nl - buf) + 1;
    from += k;
  }
  return -1;
}

static void answer_metrics(int dir, const char *path, const char *offset_arg, lt_board_reply *r) {
  long long off = parse_offset(offset_arg);
  if (off < 0) {
    lt_board_error(r, 400, path, "board: offset must be a number of bytes (0 or more)");
    return;
  }
  struct stat st;
  int status;
  int fd = open_in_run(dir, "metrics.jsonl", &st, &status);
  if (fd < 0) {
    lt_board_error(r, status, path, status == 404 ? "board: this run has no metrics.jsonl"
                                                  : "board: metrics.jsonl is not a regular file");
    return;
  }
  long long size = (long long)st.st_size;
  if (off > size) {   /* replaced or truncated since the client's last read */
    off = 0;
    r->reset = 1;
  }
  size_t want = (size_t)(size - off) < METRICS_CHUNK ? (size_t)(size - off) : METRICS_CHUNK;
  char *buf = malloc(want + 1);
  if (buf == NULL) {
    close(fd);
    lt_board_error(r, 500, path, "board: out of memory");
    return;
  }
  size_t got = pread_all(fd, buf, want, (off_t)off);   /* short when it shrank or a read failed: what was there */
  size_t len = got;
  while (len > 0 && buf[len - 1] != '\n') len--;
  long long next = off + (long long)len;
  if (len == 0 && got == METRICS_CHUNK) {
    /* one line longer than a whole response: skipped, or waited for */
    long long end = next_line_end(fd, off + (long long)got, size);
    if (end > 0) next = end;
  }
  close(fd);
  reply(r, 200, TEXT_TYPE, buf, len, 1);
  r->next_offset = next;
}

/* ---- GET /api/runs/<name>/config ------------------------------------------------------ */

static void answer_config(int dir, const char *path, lt_board_reply *r) {
  struct stat st;
  int status;
  int fd = open_in_run(dir, "config.json", &st, &status);
  if (fd < 0) {
    lt_board_error(r, status, path, status == 404 ? "board: this run has no config.json"
                                                  : "board: config.json is not a regular file");
    return;
  }
  size_t len = 0;
  char *text = read_whole(fd, &st, MAX_SMALL_FILE, &len);
  close(fd);
  if (text == NULL) {
    lt_board_error(r, 500, path, "board: cannot read config.json (unreadable or over 16 MiB)");
    return;
  }
  reply(r, 200, JSON_TYPE, text, len, 1);
}

/* ---- the page and the static files --------------------------------------------------- */

static void answer_static(const lt_board_site *s, const char *path, const char *file, const char *type,
                          lt_board_reply *r) {
  char full[PATH_MAX * 2];
  snprintf(full, sizeof full, "%s/%s", s->dygraphs, file);
  int fd = open(full, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    if (fd >= 0) close(fd);
    lt_board_error(r, 404, path, "board: %s is missing: install Debian's libjs-dygraphs "
                   "(apt-get install libjs-dygraphs), or give luatrain board --dygraphs DIR", full);
    return;
  }
  size_t len = 0;
  char *text = read_whole(fd, &st, MAX_SMALL_FILE, &len);
  close(fd);
  if (text == NULL) {
    lt_board_error(r, 500, path, "board: cannot read %s", full);
    return;
  }
  reply(r, 200, type, text, len, 1);
  r->cache = "max-age=3600";
}

/* ---- routing -------------------------------------------------------------------------- */

void lt_board_answer(const lt_board_site *s, const char *method, const char *path, const char *offset,
                     lt_board_reply *r) {
  lt_board_reply_init(r);
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    lt_board_error(r, 405, path, "board: only GET and HEAD: the board is read-only");
    r->allow = 1;
    return;
  }
  if (strcmp(path, "/") == 0) {
    reply(r, 200, "text/html; charset=utf-8", (const char *)lt_board_index_html, lt_board_index_html_size, 0);
    r->cache = "no-cache";
    return;
  }
  if (strcmp(path, "/static/dygraph.min.js") == 0) {
    answer_static(s, path, "dygraph.min.js", "text/javascript; charset=utf-8", r);
    return;
  }
  if (strcmp(path, "/static/dygraph.min.css") == 0) {
    answer_static(s, path, "dygraph.min.css", "text/css; charset=utf-8", r);
    return;
  }
  if (strcmp(path, "/api/runs") == 0) {
    answer_runs(s, path, r);
    return;
  }
  static const char prefix[] = "/api/runs/";
  if (strncmp(path, prefix, sizeof prefix - 1) == 0) {
    const char *rest = path + sizeof prefix - 1;
    const char *slash = strchr(rest, '/');
    char name[130];
    if (slash != NULL && (size_t)(slash - rest) < sizeof name &&
        (strcmp(slash + 1, "metrics") == 0 || strcmp(slash + 1, "config") == 0)) {
      memcpy(name, rest, (size_t)(slash - rest));
      name[slash - rest] = '\0';
      int status;
      int dir = open_run(s, name, &status);
      if (dir < 0) {
        lt_board_error(r, status, path, status == 403 ? "board: that run folder lies outside the runs folder"
                                                      : "board: no such run");
        return;
      }
      if (slash[1] == 'm') answer_metrics(dir, path, offset, r);
      else answer_config(dir, path, r);
      close(dir);
      return;
    }
  }
  lt_board_error(r, 404, path, "board: not found (the routes: /, /static/dygraph.min.js, /static/dygraph.min.css, "
                 "/api/runs, /api/runs/<name>/metrics?offset=N, /api/runs/<name>/config)");
}
