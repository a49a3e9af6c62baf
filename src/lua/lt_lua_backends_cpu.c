/* lt_lua_backends_cpu.c — the CPU backend's settings in lt.backends:
 *
 *   lt.backends.cpu_conv([path])   which kernels run float32/bfloat16 CPU
 *                                  convolutions: "auto" (oneDNN where it can,
 *                                  im2col + OpenBLAS otherwise), "im2col",
 *                                  "onednn" (fails where oneDNN is absent) or
 *                                  "winograd" (onednn, with its Winograd
 *                                  kernels allowed: faster 3x3 convolutions,
 *                                  larger float32 rounding errors); returns
 *                                  the setting before the call. The default
 *                                  is LUATRAIN_CPU_CONV, else auto.
 *   lt.backends.cpu_conv_counts()  convolution calls run so far by im2col, by
 *                                  oneDNN, and of oneDNN's those with the
 *                                  batch norm fused (F.conv2d_bn_eval): three
 *                                  integers
 *   lt.backends.onednn()           "oneDNN 2.6.3" where it is loaded, else
 *                                  nil and the reason
 *
 * The choice itself lives in the CPU backend (src/cpu/lt_cpu_conv_path.c). */
#include "lt_cpu.h"
#include "lt_lua.h"

static int l_cpu_conv(lua_State *L) {
  lt_cpu_conv_path old;
  LT_LUA_CHECK(L, lt_cpu_get_conv_path(&old), "cpu_conv");
  if (!lua_isnoneornil(L, 1)) {
    const char *s = lua_type(L, 1) == LUA_TSTRING ? lua_tostring(L, 1) : NULL;
    lt_cpu_conv_path p;
    if (!s || !lt_cpu_conv_path_parse(s, &p))
      return lt_lua_argerror(L, 1, "cpu_conv", "expected \"auto\", \"im2col\", \"onednn\" or \"winograd\", got %s",
                             s ? s : luaL_typename(L, 1));
    char why[512];
    if ((p == LT_CPU_CONV_ONEDNN || p == LT_CPU_CONV_WINOGRAD) && !lt_cpu_onednn_available(why, sizeof why))
      return luaL_error(L, "cpu_conv: oneDNN is not available: %s", why);
    lt_cpu_set_conv_path(p);
  }
  lua_pushstring(L, lt_cpu_conv_path_name(old));
  return 1;
}

static int l_cpu_conv_counts(lua_State *L) {
  long long im2col, onednn, onednn_bn;
  lt_cpu_conv_counts(&im2col, &onednn, &onednn_bn);
  lua_pushinteger(L, (lua_Integer)im2col);
  lua_pushinteger(L, (lua_Integer)onednn);
  lua_pushinteger(L, (lua_Integer)onednn_bn);
  return 3;
}

static int l_onednn(lua_State *L) {
  char buf[512];
  if (!lt_cpu_onednn_available(buf, sizeof buf)) {
    lua_pushnil(L);
    lua_pushstring(L, buf);
    return 2;
  }
  lt_cpu_onednn_describe(buf, sizeof buf);
  lua_pushstring(L, buf);
  return 1;
}

void lt_lua_open_backends_cpu(lua_State *L, int methods) {
  (void)methods;
  if (lua_getfield(L, -1, "backends") != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "backends");
  }
  static const luaL_Reg funcs[] = {
      {"cpu_conv", l_cpu_conv}, {"cpu_conv_counts", l_cpu_conv_counts}, {"onednn", l_onednn}, {NULL, NULL}};
  luaL_setfuncs(L, funcs, 0);
  lua_pop(L, 1);
}
