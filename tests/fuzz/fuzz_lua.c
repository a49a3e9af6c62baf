/* fuzz_lua.c — libFuzzer targets whose parser is partly Lua: fuzz_metadata
 * (lt.load's luatrain metadata, src/lua/lt_lua_io.c), fuzz_metrics
 * (lt.train.read_metrics on metrics.jsonl) and fuzz_checkpoint
 * (lt.train.check_checkpoint before a resume). This file is built once per
 * target with FUZZ_SCRIPT, the Lua harness (tests/fuzz/fuzz_<target>.lua,
 * which returns a function(path) that checks the target's invariants and
 * calls fuzz_fail(message) when one breaks), and FUZZ_WRAP, 1 when the
 * input is the "luatrain" metadata of a safetensors file holding the
 * tensors below (a small model and its SGD state), 0 when it is the file.
 *
 * Lua code is invisible to the compiler's coverage, so a line hook maps
 * each (chunk, line, previous line) step to one of libFuzzer's extra
 * counters: the fuzzer then steers by the Lua lines it reaches too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "fuzz_util.h"
#include "lt_lua.h"
#include "lt_safetensors.h"

#define COUNTERS 65536
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t lua_counters[COUNTERS];
static uintptr_t prev_step;

static void line_hook(lua_State *L, lua_Debug *ar) {
  if (!lua_getinfo(L, "S", ar)) return;
  uintptr_t step = (uintptr_t)ar->source * 0x9e3779b1u + (uintptr_t)ar->currentline * 0x85ebca6bu;
  step ^= step >> 15;
  lua_counters[(step ^ prev_step) % COUNTERS]++;
  prev_step = step >> 1;
}

static int l_fuzz_fail(lua_State *L) {
  fprintf(stderr, "fuzz invariant failed: %s\n", luaL_tolstring(L, 1, NULL));
  abort();
}

static lua_State *L;

static int setup(lua_State *S) {
  luaL_openlibs(S);
  lt_lua_setup(S);
  return 0;
}

static void start(void) {
  L = luaL_newstate();
  fuzz_check(L != NULL, "a Lua state");
  lua_pushcfunction(L, setup);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    fprintf(stderr, "setting up luatrain: %s\n", lua_tostring(L, -1));
    abort();
  }
  lua_pushcfunction(L, l_fuzz_fail);
  lua_setglobal(L, "fuzz_fail");
  if (luaL_dofile(L, FUZZ_SCRIPT) != LUA_OK || !lua_isfunction(L, -1)) {
    fprintf(stderr, "loading %s: %s\n", FUZZ_SCRIPT, lua_tostring(L, -1));
    abort();
  }
  lua_setglobal(L, "fuzz_run");
  lua_sethook(L, line_hook, LUA_MASKLINE, 0);
}

#if FUZZ_WRAP
/* A safetensors file with the tensors and `meta` as its luatrain metadata;
 * 0 when the writer refuses the metadata (not UTF-8). */
static size_t wrap(const uint8_t *meta, size_t n, void **out) {
  static const float w[6] = {0.5f, -1, 2, 0.25f, 3, -0.75f}, b[2] = {0.1f, -0.2f}, mw[6] = {0}, mb[2] = {0};
  static const int64_t sw[2] = {2, 3}, sb[1] = {2};
  lt_safetensors_tensor ts[4] = {
      {"model.weight", LT_FLOAT32, 2, sw, w, sizeof w},
      {"model.bias", LT_FLOAT32, 1, sb, b, sizeof b},
      {"optimizer.state.1.momentum_buffer", LT_FLOAT32, 2, sw, mw, sizeof mw},
      {"optimizer.state.2.momentum_buffer", LT_FLOAT32, 1, sb, mb, sizeof mb},
  };
  char *s = malloc(n + 1);
  memcpy(s, meta, n);
  s[n] = 0;
  lt_safetensors_kv kv[1] = {{"luatrain", s}};
  size_t len = 0;
  lt_status st = lt_safetensors_serialize(ts, 4, strlen(s) == n ? kv : NULL, strlen(s) == n ? 1 : 0, "fuzz", out, &len);
  free(s);
  return st == LT_OK ? len : 0;
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char path[300];
  if (!L) {
    start();
    fuzz_path(path, sizeof path, FUZZ_FILE);
  }
#if FUZZ_WRAP
  void *file = NULL;
  size_t len = wrap(data, size, &file);
  if (!len) return 0;
  fuzz_write(path, file, len);
  free(file);
#else
  fuzz_write(path, data, size);
#endif
  lua_getglobal(L, "fuzz_run");
  lua_pushstring(L, path);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    fprintf(stderr, "the harness raised: %s\n", lua_tostring(L, -1));
    abort();
  }
  /* Free this input's garbage now: libFuzzer looks for leaks whenever an
   * input ends with more allocations than frees, and Lua's garbage would
   * make that every input. */
  lua_gc(L, LUA_GCCOLLECT);
  return 0;
}
