/* lt_embedded.h — the Lua library compiled into the binary.
 *
 * cmake/embed_lua.cmake turns every .lua file under lua/ into one entry of
 * lt_embedded_modules (generated C, never edited by hand); src/lua installs
 * them in package.preload. This header only declares the table: it does not
 * load anything and knows nothing about lua_State. */
#ifndef LT_EMBEDDED_H
#define LT_EMBEDDED_H

#include <stddef.h>

/* name: the require name ("luatrain.nn" for lua/luatrain/nn/init.lua).
 * source/length: the file's bytes; source[length] is an extra '\0' so the
 * text is also a C string, but length is what luaL_loadbuffer must get.
 * chunkname: "@lua/luatrain/nn/init.lua", so tracebacks name the file.
 * chunkname is last so code that reads only the first three fields works. */
typedef struct {
  const char *name;
  const char *source;
  size_t length;
  const char *chunkname;
} lt_embedded_module;

/* Sorted by file path; lt_embedded_module_count entries. */
extern const lt_embedded_module lt_embedded_modules[];
extern const int lt_embedded_module_count;

#endif
