/* lt_host.h — what the luatrain program (src/main.c) is made of: running Lua
 * code with tracebacks and Ctrl-C handling, the REPL, and its history file.
 *
 * This is the only part of luatrain that talks to the terminal. It does not
 * define the Lua library: src/lua's lt_lua_setup does, and the host just calls
 * it. Everything here reports errors on stderr as "luatrain: <message>". */
#ifndef LT_HOST_H
#define LT_HOST_H

#include <stddef.h>
#include <lua.h>

#ifndef LT_VERSION
#define LT_VERSION "0.1.0"
#endif

#define LT_HOST_PROGNAME "luatrain"

/* ---- running code (lt_host.c) ---- */

/* lua_pcall with a traceback appended to string errors, and with Ctrl-C
 * turned into the Lua error "interrupted!" while the call runs (a second
 * Ctrl-C before Lua code gets control back kills the process, so a long C
 * kernel can still be stopped). The function and its narg arguments are on
 * the stack; returns the lua_pcall status, leaving results or the message. */
int lt_host_call(lua_State *L, int narg, int nres);

/* When status is not LUA_OK: prints the message on top of the stack as
 * "luatrain: <message>" to stderr and pops it. Returns status. */
int lt_host_report(lua_State *L, int status);

/* ---- installed scripts (lt_scripts.c) ---- */

/* `luatrain cifar_resnet18`: when `name` is a bare script name (no '/', with
 * or without ".lua") that is not a file in the current folder, looks for
 * NAME.lua in each folder of LUATRAIN_SCRIPTS (separated by ':'), then in
 * the installed scripts folder, <prefix>/share/luatrain/scripts beside the
 * program's <prefix>/bin. Pushes the path found and returns it (valid while
 * it stays on the stack); returns NULL and pushes nothing when `name` is not
 * a bare name, is a file here, or is found nowhere. */
const char *lt_host_find_script(lua_State *L, const char *name);

/* Pushes the folders lt_host_find_script looks in, as one string for
 * messages ("dir1, dir2"). */
void lt_host_script_folders(lua_State *L);

/* ---- the REPL (lt_repl.c) ---- */

/* Reads, evaluates and prints until end of input. With a terminal on stdin:
 * line editing, tab completion, history in ~/.luatrain_history, Ctrl-C
 * clears the line. Otherwise it reads plain lines from stdin, still printing
 * prompts, so `luatrain -i` can be driven by a pipe. Leaves the stack as it
 * found it. */
void lt_repl_run(lua_State *L);

/* ---- tab completion (lt_complete.c) ---- */

/* The completions of `text`, an identifier chain like "pri", "lt.nn.Con",
 * "x:na" or "x.na", found in the globals of L: table fields, and the fields
 * of a value's metatable __index when that is a table (followed a few levels,
 * so methods of class instances show). When __index is a function, the
 * metatable's __methods table (and after '.', its __getters table) stands in
 * for it: that is how tensors list their methods and properties. Only raw
 * accesses are made, no metamethod runs. Returns a sorted, duplicate-free
 * array of malloc'd full strings ("lt.nn.Conv2d") and sets *count; NULL with
 * *count == 0 when there is nothing (or memory ran out). Free with
 * lt_complete_free. */
char **lt_complete_candidates(lua_State *L, const char *text, size_t *count);
void lt_complete_free(char **list, size_t count);

/* ---- history file (lt_history.c) ---- */

/* The file holds one entry per line, newest last; a multi-line chunk is kept
 * as one line with "\n" and "\\" escaped. It never exceeds `max` lines. */
typedef struct {
  char *path;   /* malloc'd; NULL when there is no file to keep */
  int max;
} lt_history;

/* Remembers `path` and calls add(entry, ud) for the newest `max` entries of
 * the file, oldest first, trimming the file to `max` lines if it was longer.
 * A missing file is an empty history. Returns 0, or -1 when out of memory. */
int lt_history_open(lt_history *h, const char *path, int max,
                    void (*add)(const char *entry, void *ud), void *ud);

/* Appends one entry (an empty one is skipped), then trims the file back to
 * h->max lines if needed.
 * Failures to write are ignored: losing history must not stop the REPL. */
void lt_history_append(lt_history *h, const char *entry);

void lt_history_close(lt_history *h);

#endif
