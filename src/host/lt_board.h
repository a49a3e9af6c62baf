/* lt_board.h — `luatrain board`: a small read-only HTTP server for watching
 * training runs live in a browser. Two files share this header:
 *
 *   lt_board.c      the server: libmicrohttpd loaded with dlopen when a board
 *                   starts (so the program runs where it is not installed),
 *                   the listening socket, the Host check, Ctrl-C, and the
 *                   native Lua module "luatrain.board_server" (serve{...})
 *                   that lua/luatrain/cli/board.lua calls;
 *   lt_board_api.c  what each route answers, with no HTTP library in it:
 *                   the run list as JSON (cJSON), the complete lines of a
 *                   growing metrics.jsonl from an offset, config.json, the
 *                   page embedded at build time and Debian's dygraphs files;
 *                   and the rules that keep every read inside the runs folder.
 *
 * The routes (the page, src/host/board/index.html, is written against them):
 *   GET /                                  the page
 *   GET /static/dygraph.min.js, .min.css   from the dygraphs folder
 *   GET /api/runs                          {"root", "now", "runs": [...]}
 *   GET /api/runs/<name>/metrics?offset=N  complete lines from byte N,
 *                                          X-Next-Offset (X-Reset: 1 when N
 *                                          is past the end of the file)
 *   GET /api/runs/<name>/config            config.json as it is
 * HEAD as GET; other methods 405; anything else 404.
 *
 * Not here: the command line (cli/board.lua) and the page itself. */
#ifndef LT_BOARD_H
#define LT_BOARD_H

#include <limits.h>
#include <stddef.h>

#include <lua.h>

/* The longest request target (path and query, as sent) answered. */
#define LT_BOARD_MAX_URI 2048

/* ---- the server (lt_board.c) ---- */

/* Puts the native module "luatrain.board_server" in package.preload:
 *   serve{root = dir, host = "127.0.0.1", port = 6006, dygraphs = dir,
 *         on_listen = function(info) end}
 *     serves until SIGINT or SIGTERM, then stops and returns true.
 *     on_listen gets {url, host, port, root, loopback} once the socket
 *     listens (port 0 asks the kernel for a free port: info.port says which).
 *     Errors (raised as "board: ..."): the runs folder, libmicrohttpd
 *     missing, the address (in use, not resolvable, not local).
 *   available() -> true, or false and the reason libmicrohttpd cannot be
 *     loaded. */
void lt_board_install(lua_State *L);

/* ---- the answers (lt_board_api.c) ---- */

/* The folders a board serves from. */
typedef struct {
  char root[PATH_MAX];      /* realpath of the runs folder */
  size_t root_len;
  char dygraphs[PATH_MAX];  /* the folder of dygraph.min.js and dygraph.min.css */
} lt_board_site;

/* Fills s: resolves root (which must be a folder) and copies the dygraphs
 * folder. Returns 0, or -1 with a message naming the folder in err. */
int lt_board_site_init(lt_board_site *s, const char *root, const char *dygraphs, char *err, size_t errsize);

/* One answer. body is malloc'd when owned, else static; type is static. */
typedef struct {
  int status;               /* HTTP status */
  const char *type;         /* Content-Type */
  char *body;
  size_t size;
  int owned;
  const char *cache;        /* Cache-Control */
  long long next_offset;    /* X-Next-Offset, when >= 0 */
  int reset;                /* X-Reset: 1 */
  int allow;                /* Allow: GET, HEAD (a 405) */
} lt_board_reply;

/* Answers one request: the method, the decoded path, and the offset query
 * argument (NULL when absent). Never fails: errors are 4xx/5xx replies with
 * a short message. Free with lt_board_reply_free. */
void lt_board_answer(const lt_board_site *s, const char *method, const char *path, const char *offset,
                     lt_board_reply *r);
/* An empty reply: no body, no X-Next-Offset, Cache-Control no-store. */
void lt_board_reply_init(lt_board_reply *r);
void lt_board_reply_free(lt_board_reply *r);
/* An error reply: JSON {"error": msg} under /api/, plain text elsewhere. */
void lt_board_error(lt_board_reply *r, int status, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The page, embedded from src/host/board/index.html by cmake/embed_file.cmake. */
extern const unsigned char lt_board_index_html[];
extern const size_t lt_board_index_html_size;

#endif
