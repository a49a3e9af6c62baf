/* lt_repl.c — luatrain's interactive prompt: read a chunk, run it, print
 * what it returns.
 *
 * A line is first tried as `return <line>`, so typing an expression shows its
 * value; otherwise it is a statement, and a chunk whose only syntax error is
 * an early end of input asks for more lines (prompt ">> "). With a terminal
 * on stdin, lines come from libedit (BSD licence, readline-compatible API):
 * editing, Tab completion (lt_complete.c) and history (lt_history.c); Ctrl-C
 * at the prompt drops the line being typed, Ctrl-C while code runs is the
 * error "interrupted!" (lt_host_call). Without a terminal, lines are read
 * plainly so a pipe can drive the REPL. Not here: running scripts and options
 * (src/main.c). */
#include "lt_host.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>
#include <lauxlib.h>

#define PROMPT "> "
#define PROMPT_MORE ">> "
#define HISTORY_FILE ".luatrain_history"
#define HISTORY_MAX 1000

/* The state Tab completes in; readline's callbacks take no user pointer. */
static lua_State *complete_L;
static char **cands;
static size_t ncands, next_cand;

static volatile sig_atomic_t prompt_interrupted;

static void on_prompt_sigint(int sig) {
  (void)sig;
  prompt_interrupted = 1;
}

/* readline's generator protocol: state 0 starts a new completion, then one
 * malloc'd match per call until NULL. */
static char *candidate(const char *text, int state) {
  if (state == 0) {
    lt_complete_free(cands, ncands);
    cands = lt_complete_candidates(complete_L, text, &ncands);
    next_cand = 0;
  }
  if (next_cand < ncands) return strdup(cands[next_cand++]);
  return NULL;
}

static char **attempt_completion(const char *text, int start, int end) {
  (void)start;
  (void)end;
  rl_attempted_completion_over = 1;   /* never fall back to file names */
  return rl_completion_matches(text, candidate);
}

/* ud is the REPL's `last` entry, so a repeat of the newest loaded entry is
 * not stored twice. */
static void add_loaded(const char *entry, void *ud) {
  char **last = ud;
  add_history(entry);
  free(*last);
  *last = strdup(entry);
}

/* Everything that is not part of an identifier chain ends the word Tab
 * completes, so "print(lt.nn.Con" completes "lt.nn.Con". */
static char word_breaks[] = " \t\n\"'`@$><=;|&{}()[],+-*/%^#~!?";

static void setup_terminal(lua_State *L, lt_history *hist, char **last) {
  complete_L = L;
  rl_readline_name = "luatrain";
  /* libedit's own SIGINT handling re-sends the signal to the whole process
   * group (it would kill `luatrain | tee log`); the REPL handles it. */
  rl_catch_signals = 0;
  rl_attempted_completion_function = attempt_completion;
  rl_basic_word_break_characters = word_breaks;
  rl_completer_word_break_characters = word_breaks;
  rl_completion_append_character = '\0';
  stifle_history(HISTORY_MAX);

  const char *home = getenv("HOME");
  char *path = NULL;
  if (home != NULL && home[0] != '\0') {
    size_t n = strlen(home) + sizeof HISTORY_FILE + 1;
    path = malloc(n);
    if (path != NULL) snprintf(path, n, "%s/%s", home, HISTORY_FILE);
  }
  lt_history_open(hist, path, HISTORY_MAX, add_loaded, last);
  free(path);
}

/* One line without its newline (malloc'd), or NULL at end of input or, with
 * *interrupted set, when Ctrl-C cancelled it. */
static char *read_line(int tty, const char *prompt, int *interrupted) {
  *interrupted = 0;
  if (tty) {
    /* No SA_RESTART: the signal must break libedit's read() so readline
     * returns and the typed text is dropped. */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_prompt_sigint;
    sigemptyset(&sa.sa_mask);
    prompt_interrupted = 0;
    sigaction(SIGINT, &sa, &old);
    char *line = readline(prompt);
    sigaction(SIGINT, &old, NULL);
    if (line == NULL && prompt_interrupted) *interrupted = 1;
    return line;
  }
  fputs(prompt, stdout);
  fflush(stdout);
  char *line = NULL;
  size_t cap = 0;
  ssize_t n = getline(&line, &cap, stdin);
  if (n < 0) {
    free(line);
    return NULL;
  }
  if (n > 0 && line[n - 1] == '\n') line[--n] = '\0';
  if (n > 0 && line[n - 1] == '\r') line[--n] = '\0';
  return line;
}

static int incomplete(lua_State *L, int status) {
  static const char eof_mark[] = "<eof>";
  if (status != LUA_ERRSYNTAX) return 0;
  size_t len;
  const char *msg = lua_tolstring(L, -1, &len);
  size_t mlen = sizeof eof_mark - 1;
  return msg != NULL && len >= mlen && strcmp(msg + len - mlen, eof_mark) == 0;
}

static int blank(const char *s) {
  for (; *s; s++)
    if (*s != ' ' && *s != '\t') return 0;
  return 1;
}

/* Appends "\n" and `more` to the malloc'd chunk; NULL when out of memory
 * (the chunk is then freed). */
static char *append_line(char *chunk, const char *more) {
  size_t a = strlen(chunk), b = strlen(more);
  char *grown = realloc(chunk, a + b + 2);
  if (grown == NULL) {
    free(chunk);
    return NULL;
  }
  grown[a] = '\n';
  memcpy(grown + a + 1, more, b + 1);
  return grown;
}

enum { CHUNK_EOF, CHUNK_NONE, CHUNK_INTERRUPTED, CHUNK_LOADED, CHUNK_ERROR };

/* Reads lines until they make a chunk. CHUNK_LOADED: the function is pushed;
 * CHUNK_ERROR: the syntax error is pushed; CHUNK_NONE: a blank line;
 * CHUNK_INTERRUPTED: Ctrl-C dropped the input; CHUNK_EOF: input ended.
 * *entry gets the text for history. */
static int read_chunk(lua_State *L, int tty, char **entry) {
  int interrupted;
  *entry = NULL;
  char *line = read_line(tty, PROMPT, &interrupted);
  if (line == NULL) return interrupted ? CHUNK_INTERRUPTED : CHUNK_EOF;
  if (blank(line)) {
    free(line);
    return CHUNK_NONE;
  }

  /* An expression first, so `x` prints x and `f()` prints f's results. */
  const char *expr = lua_pushfstring(L, "return %s", line);
  int status = luaL_loadbuffer(L, expr, strlen(expr), "=stdin");
  lua_remove(L, -2);   /* the "return ..." string */
  if (status == LUA_OK) {
    *entry = line;
    return CHUNK_LOADED;
  }
  lua_pop(L, 1);

  char *chunk = line;
  for (;;) {
    status = luaL_loadbuffer(L, chunk, strlen(chunk), "=stdin");
    if (!incomplete(L, status)) break;
    char *more = read_line(tty, PROMPT_MORE, &interrupted);
    if (more == NULL) {
      if (interrupted) {   /* Ctrl-C abandons the whole unfinished chunk */
        lua_pop(L, 1);
        free(chunk);
        return CHUNK_INTERRUPTED;
      }
      break;   /* end of input: report the incomplete chunk's error */
    }
    lua_pop(L, 1);
    chunk = append_line(chunk, more);
    free(more);
    if (chunk == NULL) {
      lua_pushliteral(L, "not enough memory to read the input");
      return CHUNK_ERROR;
    }
  }
  *entry = chunk;
  return status == LUA_OK ? CHUNK_LOADED : CHUNK_ERROR;
}

/* Prints its arguments like print does, tab-separated, through tostring
 * (__tostring / __name), so a tensor shows its values, shape and dtype. */
static int print_results(lua_State *L) {
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    if (i > 1) luaL_addchar(&b, '\t');
    luaL_tolstring(L, i, NULL);
    luaL_addvalue(&b);
  }
  luaL_addchar(&b, '\n');
  luaL_pushresult(&b);
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  fwrite(s, 1, len, stdout);
  fflush(stdout);
  return 0;
}

static void run_chunk(lua_State *L) {
  int base = lua_gettop(L) - 1;   /* below the loaded function */
  int status = lt_host_call(L, 0, LUA_MULTRET);
  int n = lua_gettop(L) - base;
  if (status == LUA_OK && n > 0) {
    if (!lua_checkstack(L, 2)) {
      lua_settop(L, base);
      lua_pushliteral(L, "too many results to print");
      status = LUA_ERRRUN;
    } else {
      lua_pushcfunction(L, print_results);
      lua_insert(L, base + 1);
      status = lt_host_call(L, n, 0);
    }
  }
  lt_host_report(L, status);
  lua_settop(L, base);
}

/* One line; lt.help() is advertised only if the library has it. */
static void print_banner(lua_State *L) {
  int has_help = 0;
  if (lua_getglobal(L, "lt") == LUA_TTABLE) {
    lua_pushliteral(L, "help");
    has_help = lua_rawget(L, -2) == LUA_TFUNCTION;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  printf("%s %s (%s)  lt is loaded; %sTab completes, Ctrl-D exits\n", LT_HOST_PROGNAME,
         LT_VERSION, LUA_RELEASE, has_help ? "help: lt.help(), " : "");
  fflush(stdout);
}

void lt_repl_run(lua_State *L) {
  int tty = isatty(STDIN_FILENO);
  lt_history hist = {NULL, HISTORY_MAX};
  char *last = NULL;   /* the newest history entry, to skip repeats */
  int top = lua_gettop(L);

  print_banner(L);
  if (tty) setup_terminal(L, &hist, &last);

  for (;;) {
    char *entry;
    int r = read_chunk(L, tty, &entry);
    if (r == CHUNK_EOF) break;
    if (r == CHUNK_NONE) continue;
    if (r == CHUNK_INTERRUPTED) {
      fputc('\n', stdout);   /* the next prompt starts on a fresh line */
      continue;
    }
    if (tty && entry != NULL && (last == NULL || strcmp(last, entry) != 0)) {
      add_history(entry);
      lt_history_append(&hist, entry);
      free(last);
      last = entry;
      entry = NULL;
    }
    free(entry);
    if (r == CHUNK_LOADED) run_chunk(L);
    else lt_host_report(L, LUA_ERRSYNTAX);
    lua_settop(L, top);
  }
  fputc('\n', stdout);
  fflush(stdout);
  free(last);
  lt_history_close(&hist);
  lt_complete_free(cands, ncands);
  cands = NULL;
  ncands = 0;
  complete_L = NULL;
}
