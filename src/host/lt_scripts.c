/* lt_scripts.c — where `luatrain NAME` finds an installed training script
 * (lt_host.h). `make install` puts the scripts in
 * <prefix>/share/luatrain/scripts; the program finds that folder from its
 * own path, so an installed tree can be moved (or unpacked from a .deb, or
 * installed into a temporary prefix) and still find its scripts.
 * LUATRAIN_SCRIPTS adds the user's own folders in front. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "lt_host.h"

/* Pushes a sequence of the folders to search, in order: those of
 * LUATRAIN_SCRIPTS (empty entries skipped), then
 * <prefix>/share/luatrain/scripts for the program at <prefix>/bin/luatrain
 * (left out when the program's own path cannot be read). */
static void push_folders(lua_State *L) {
  lua_newtable(L);
  int n = 0;
  const char *list = getenv("LUATRAIN_SCRIPTS");
  while (list != NULL && *list != '\0') {
    const char *end = strchr(list, ':');
    size_t len = end != NULL ? (size_t)(end - list) : strlen(list);
    if (len > 0) {
      lua_pushlstring(L, list, len);
      lua_rawseti(L, -2, ++n);
    }
    list = end != NULL ? end + 1 : NULL;
  }
  char exe[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0) return;
  exe[len] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash == NULL) return;
  *slash = '\0';
  const char *folder = lua_pushfstring(L, "%s/../share/luatrain/scripts", exe);
  char resolved[PATH_MAX];
  if (realpath(folder, resolved) != NULL) { /* <prefix>/share/... rather than <prefix>/bin/../share/... */
    lua_pop(L, 1);
    lua_pushstring(L, resolved);
  }
  lua_rawseti(L, -2, ++n);
}

static int readable(const char *path) { return access(path, R_OK) == 0; }

const char *lt_host_find_script(lua_State *L, const char *name) {
  if (name[0] == '\0' || strchr(name, '/') != NULL || strcmp(name, "-") == 0 || readable(name)) return NULL;
  size_t len = strlen(name);
  int has_ext = len > 4 && strcmp(name + len - 4, ".lua") == 0;
  push_folders(L);
  int folders = lua_gettop(L);
  for (lua_Integer i = 1; lua_rawgeti(L, folders, i) == LUA_TSTRING; i++) {
    const char *path = lua_pushfstring(L, "%s/%s%s", lua_tostring(L, -1), name, has_ext ? "" : ".lua");
    if (readable(path)) {
      lua_replace(L, folders); /* the path takes the folders' slot; the folder above it goes */
      lua_settop(L, folders);
      return path;
    }
    lua_pop(L, 2); /* path, folder */
  }
  lua_settop(L, folders - 1);
  return NULL;
}

void lt_host_script_folders(lua_State *L) {
  push_folders(L);
  int folders = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  lua_Integer n = (lua_Integer)lua_rawlen(L, folders);
  for (lua_Integer i = 1; i <= n; i++) {
    if (i > 1) luaL_addstring(&b, ", ");
    lua_rawgeti(L, folders, i);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  lua_remove(L, folders);
}
