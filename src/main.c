/* main.c — the luatrain program: runs a script, a command (luatrain.cli.*),
 * code given with -e, or the interactive prompt, in a Lua state that has the
 * luatrain library loaded and the global `lt` set.
 *
 * Options follow the standalone `lua` program, so habits carry over:
 *   luatrain [options] [script [args]]    luatrain <command> [args]
 * This file only decides what to run and with which `arg`; running code,
 * reporting errors and the REPL live in src/host, the library in src/lua. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "lt_board.h"
#include "lt_cpu.h"
#include "lt_dist.h"
#include "lt_host.h"
#include "lt_lua.h"
#ifdef LT_WITH_CUDA
#include "lt_cuda.h"
#endif

typedef struct {
  int script;        /* argv index of the script ("-" is stdin), 0 if none */
  int has_code;      /* -e or -l given */
  int interactive;   /* -i */
  int version;       /* -v */
  int help;          /* -h, --help */
} options;

static void usage(FILE *f) {
  fprintf(f,
    "usage: %s [options] [script [args]]\n"
    "       %s <command> [args]   run the command luatrain.cli.<command>\n"
    "Options:\n"
    "  -e code    run the string 'code'\n"
    "  -l name    require library 'name' into global 'name' (-l g=name: into 'g')\n"
    "  -i         enter the interactive prompt after running the script\n"
    "  -v         show version information\n"
    "  -h, --help show this help\n"
    "  --         stop handling options\n"
    "  -          run stdin as the script and stop handling options\n"
    "With no script the prompt starts when stdin is a terminal; otherwise\n"
    "stdin is run as one chunk. The script gets its arguments in `arg` and\n"
    "as `...`; the global `lt` is the luatrain library.\n"
    "A script given by a bare name that is no file here (cifar_resnet18) is\n"
    "looked for in the folders of LUATRAIN_SCRIPTS (separated by ':'), then in\n"
    "the installed scripts, <prefix>/share/luatrain/scripts.\n"
    "LUATRAIN_PATH=dir loads the library's Lua files from dir instead of the\n"
    "copy built into the program.\n",
    LT_HOST_PROGNAME, LT_HOST_PROGNAME);
}

/* The program's version, the CPU convolutions' library, then in a CUDA
 * build the CUDA runtime, driver, cuDNN and GPUs (lt_cuda_describe probes
 * nothing without a driver). */
static void print_version(void) {
  printf("%s %s (%s)\n", LT_HOST_PROGNAME, LT_VERSION, LUA_RELEASE);
  char cpu[600];
  lt_cpu_onednn_describe(cpu, sizeof cpu);
  printf("CPU convolutions: %s\n", cpu);
#ifdef LT_WITH_CUDA
  char cuda[512];
  lt_cuda_describe(cuda, sizeof cuda);
  printf("%s\n", cuda);
#endif
  fflush(stdout);
}

/* Fills *o; on a bad option prints why and the usage, returns -1. */
static int parse_options(int argc, char **argv, options *o) {
  memset(o, 0, sizeof *o);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-' || strcmp(a, "-") == 0) {
      o->script = i;
      return 0;
    }
    if (strcmp(a, "--") == 0) {
      if (i + 1 < argc) o->script = i + 1;
      return 0;
    }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      o->help = 1;
      continue;
    }
    switch (a[1]) {
      case 'e':
      case 'l':
        if (a[2] == '\0' && ++i >= argc) {
          fprintf(stderr, "%s: '%s' needs an argument\n", LT_HOST_PROGNAME, a);
          usage(stderr);
          return -1;
        }
        o->has_code = 1;
        continue;
      case 'i':
        if (a[2] != '\0') break;
        o->interactive = 1;
        continue;
      case 'v':
        if (a[2] != '\0') break;
        o->version = 1;
        continue;
      default:
        break;
    }
    fprintf(stderr, "%s: unrecognized option '%s'\n", LT_HOST_PROGNAME, a);
    usage(stderr);
    return -1;
  }
  return 0;
}

/* The standard libraries, the luatrain library as `lt`, and the host's own
 * native module for `luatrain board` (luatrain.board_server). */
static int setup(lua_State *L) {
  luaL_openlibs(L);
  lt_lua_setup(L);
  lt_board_install(L);
  return 0;
}

/* arg[0] is the script (or the program when there is none); the program and
 * options before it get negative indices, the script's arguments 1, 2, ... */
static void make_arg(lua_State *L, int argc, char **argv, int script) {
  lua_createtable(L, argc > script + 1 ? argc - script - 1 : 0, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, (lua_Integer)i - script);
  }
  lua_setglobal(L, "arg");
}

static int require_global(lua_State *L) {
  const char *spec = lua_tostring(L, 1);
  const char *eq = strchr(spec, '=');
  const char *module = eq != NULL ? eq + 1 : spec;
  lua_getglobal(L, "require");
  lua_pushstring(L, module);
  lua_call(L, 1, 1);
  lua_pushlstring(L, spec, eq != NULL ? (size_t)(eq - spec) : strlen(spec));
  lua_insert(L, -2);
  lua_setglobal(L, lua_tostring(L, -2));
  return 0;
}

/* Runs -e and -l in the order given. Returns 0, or -1 after reporting. */
static int run_code_options(lua_State *L, char **argv, int end) {
  for (int i = 1; i < end; i++) {
    const char *a = argv[i];
    if (a[0] != '-' || (a[1] != 'e' && a[1] != 'l')) continue;
    const char *value = a[2] != '\0' ? a + 2 : argv[++i];
    int status;
    if (a[1] == 'e') {
      status = luaL_loadbuffer(L, value, strlen(value), "=(command line)");
    } else {
      lua_pushcfunction(L, require_global);
      lua_pushstring(L, value);
      status = LUA_OK;
    }
    if (status == LUA_OK) status = lt_host_call(L, a[1] == 'l', 0);
    if (lt_host_report(L, status) != LUA_OK) return -1;
  }
  return 0;
}

/* path NULL: stdin. The script's arguments are also its `...`. */
static int run_script(lua_State *L, const char *path, char **args, int nargs) {
  int status = luaL_loadfile(L, path);
  if (status == LUA_OK) {
    luaL_checkstack(L, nargs, "too many arguments to the script");
    for (int i = 0; i < nargs; i++) lua_pushstring(L, args[i]);
    status = lt_host_call(L, nargs, 0);
  }
  return lt_host_report(L, status) == LUA_OK ? 0 : -1;
}

/* A first argument like "plot" (a bare name, no ".lua", no '/') may be a
 * command. It is one when some package searcher finds luatrain.cli.<word>;
 * a searcher that fails counts as finding it, so require reports why. A bare
 * name that is neither a command nor a file here may be an installed script
 * (lt_host_find_script: `luatrain cifar_resnet18`). */
static int is_word(const char *s) {
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
    return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || *s == '_'))
      return 0;
  return 1;
}

static int command_exists(lua_State *L, const char *module) {
  int top = lua_gettop(L), found = 0;
  lua_getglobal(L, "package");
  if (lua_istable(L, -1) && lua_getfield(L, -1, "searchers") == LUA_TTABLE) {
    for (lua_Integer i = 1; !found && lua_rawgeti(L, -1, i) == LUA_TFUNCTION; i++) {
      lua_pushstring(L, module);
      int status = lua_pcall(L, 1, 1, 0);
      found = status != LUA_OK || lua_isfunction(L, -1);
      lua_pop(L, 1);
    }
  }
  lua_settop(L, top);
  return found;
}

/* Protected: module name at 1, args table at 2; returns main's result. */
static int command_main(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  if (!lua_istable(L, -1) || lua_getfield(L, -1, "main") != LUA_TFUNCTION)
    return luaL_error(L, "module '%s' has no function 'main'", lua_tostring(L, 1));
  lua_pushvalue(L, 2);
  lua_call(L, 1, 1);
  return 1;
}

/* Exit status from main(args): a number 0..255 is the status (other numbers
 * give 1, as exit() would otherwise wrap them), false is 1, anything else
 * (nil, true) is 0. */
static int run_command(lua_State *L, const char *module, char **args, int nargs) {
  lua_pushcfunction(L, command_main);
  lua_pushstring(L, module);
  lua_createtable(L, nargs, 0);
  for (int i = 0; i < nargs; i++) {
    lua_pushstring(L, args[i]);
    lua_rawseti(L, -2, i + 1);
  }
  int status = lt_host_call(L, 2, 1);
  if (lt_host_report(L, status) != LUA_OK) return 1;
  int code = 0;
  if (lua_type(L, -1) == LUA_TNUMBER) {
    lua_Number v = lua_tonumber(L, -1);
    code = v >= 0 && v <= 255 && v == (int)v ? (int)v : 1;
  } else if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) {
    code = 1;
  }
  lua_pop(L, 1);
  return code;
}

/* Everything after the state exists runs here, under lua_pcall, so even an
 * allocation failure in building `arg` is an error and not a panic.
 * Returns the process exit status as an integer. */
static int protected_main(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  const options *o = lua_touserdata(L, 3);
  lua_settop(L, 0);
  int script = o->script;

  lua_pushcfunction(L, setup);
  if (lt_host_report(L, lt_host_call(L, 0, 0)) != LUA_OK) goto fail;
  make_arg(L, argc, argv, script);
  if (o->version && !o->interactive) print_version();   /* the REPL's banner says it */
  if (run_code_options(L, argv, script > 0 ? script : argc) != 0) goto fail;

  if (script > 0) {
    const char *name = argv[script];
    char **args = argv + script + 1;
    int nargs = argc - script - 1;
    if (script == 1 && is_word(name)) {
      const char *module = lua_pushfstring(L, "luatrain.cli.%s", name);
      if (command_exists(L, module)) {
        lua_pushinteger(L, run_command(L, module, args, nargs));
        return 1;
      }
      lua_pop(L, 1);
    }
    if (strcmp(name, "-") == 0 && strcmp(argv[script - 1], "--") != 0) {
      name = NULL;
    } else if (strchr(name, '/') == NULL && access(name, F_OK) != 0) {
      /* a bare name that is no file here: an installed script, or nothing */
      const char *found = lt_host_find_script(L, name);
      if (found == NULL) {
        lt_host_script_folders(L);
        fprintf(stderr, "%s: cannot open %s: no such file%s or installed script (scripts are looked for in %s)\n",
                LT_HOST_PROGNAME, name, script == 1 && is_word(name) ? ", command" : "", lua_tostring(L, -1));
        goto fail;
      }
      name = found;
      lua_getglobal(L, "arg"); /* the script sees its own path in arg[0], as when given by path */
      lua_pushstring(L, found);
      lua_rawseti(L, -2, 0);
      lua_pop(L, 1);
    }
    if (run_script(L, name, args, nargs) != 0) goto fail;
  }
  if (o->interactive) {
    lt_repl_run(L);
  } else if (script == 0 && !o->has_code && !o->version) {
    if (isatty(STDIN_FILENO)) lt_repl_run(L);
    else if (run_script(L, NULL, NULL, 0) != 0) goto fail;
  }
  lua_pushinteger(L, 0);
  return 1;
fail:
  lua_pushinteger(L, 1);
  return 1;
}

int main(int argc, char **argv) {
  options o;
  if (parse_options(argc, argv, &o) != 0) return 1;
  if (o.help) {
    usage(stdout);
    return 0;
  }
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    fprintf(stderr, "%s: cannot create a Lua state: not enough memory\n", LT_HOST_PROGNAME);
    return 1;
  }
  lua_pushcfunction(L, protected_main);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  lua_pushlightuserdata(L, &o);
  int status = lua_pcall(L, 3, 1, 0);
  int code = status == LUA_OK ? (int)lua_tointeger(L, -1) : 1;
  if (status != LUA_OK) lt_host_report(L, status);
  /* A rank of a multi-process run that failed ends the whole job (the
   * others would wait for it in their next collective); one that succeeded
   * finalizes its group when the state closes (lt_lua_dist.c). */
  if (code != 0 && lt_dist_is_initialized()) lt_dist_abort(code);
  lua_close(L);
  return code;
}
