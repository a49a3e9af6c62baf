/* lt_board.c — the server of `luatrain board` and its native Lua module
 * "luatrain.board_server" (lt_board.h says what serve{...} takes).
 *
 * libmicrohttpd is not linked: it is loaded with dlopen (libmicrohttpd.so.12,
 * Debian's libmicrohttpd12) when a board starts, and the few functions used
 * are resolved then. The program thus starts, and trains, on machines where
 * it is not installed (the GPU machines build/luatrain is copied to); there
 * `board` alone fails, saying which package is missing. microhttpd.h gives
 * the types and the prototypes the pointers are declared from.
 *
 * Safe by default: the socket is made here (so a port in use is a clear
 * message, and port 0 takes a free one) and bound to 127.0.0.1 unless asked
 * otherwise. On a loopback address the Host header must name a loopback
 * host too, so a web page cannot reach the board through DNS rebinding.
 * Request targets over LT_BOARD_MAX_URI bytes are refused (414), request
 * bodies are never read (the answer is queued at the first call), and
 * libmicrohttpd limits connections, per address and in all, and drops idle
 * ones. The answers themselves are lt_board_api.c's.
 *
 * Stopping: while serve runs, SIGINT and SIGTERM write a byte to a pipe
 * that serve waits on (the handler may run in any thread); it then stops
 * the server and puts the previous handlers back, so the Lua caller goes on
 * and the command exits with status 0. */
#include "lt_board.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lauxlib.h>
#include <microhttpd.h>

#ifndef LT_DYGRAPHS_DIR
#define LT_DYGRAPHS_DIR "/usr/share/javascript/dygraphs"
#endif
#define MHD_SONAME "libmicrohttpd.so.12"

/* ---- libmicrohttpd, loaded at first use ---------------------------------------------- */

static struct {
  void *handle;
  __typeof__(&MHD_start_daemon) start_daemon;
  __typeof__(&MHD_stop_daemon) stop_daemon;
  __typeof__(&MHD_create_response_from_buffer) create_response_from_buffer;
  __typeof__(&MHD_add_response_header) add_response_header;
  __typeof__(&MHD_queue_response) queue_response;
  __typeof__(&MHD_destroy_response) destroy_response;
  __typeof__(&MHD_lookup_connection_value) lookup_connection_value;
} mhd;

/* Loads libmicrohttpd once. Returns 0, or -1 with the reason in err. */
static int load_mhd(char *err, size_t errsize) {
  if (mhd.handle != NULL) return 0;
  void *h = dlopen(MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    const char *why = dlerror();
    snprintf(err, errsize, "board: cannot load %s (%s): install Debian's libmicrohttpd12 "
             "(apt-get install libmicrohttpd12)", MHD_SONAME, why != NULL ? why : "not found");
    return -1;
  }
  struct { const char *name; void **slot; } syms[] = {
    {"MHD_start_daemon", (void **)&mhd.start_daemon},
    {"MHD_stop_daemon", (void **)&mhd.stop_daemon},
    {"MHD_create_response_from_buffer", (void **)&mhd.create_response_from_buffer},
    {"MHD_add_response_header", (void **)&mhd.add_response_header},
    {"MHD_queue_response", (void **)&mhd.queue_response},
    {"MHD_destroy_response", (void **)&mhd.destroy_response},
    {"MHD_lookup_connection_value", (void **)&mhd.lookup_connection_value},
  };
  for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
    if ((*syms[i].slot = dlsym(h, syms[i].name)) == NULL) {
      snprintf(err, errsize, "board: %s has no %s (too old a libmicrohttpd)", MHD_SONAME, syms[i].name);
      dlclose(h);
      return -1;
    }
  }
  mhd.handle = h;   /* kept for the life of the process */
  return 0;
}

/* ---- requests ------------------------------------------------------------------------ */

typedef struct {
  lt_board_site site;
  int loopback;   /* listening on a loopback address: Host checked */
} board;

/* The per-request value the handler finds in *con_cls: the length of the
 * request target plus one (set before the headers are read), then SEEN
 * after the first call, ANSWERED once a response is queued. */
#define SEEN ((void *)(UINTPTR_MAX - 1))
#define ANSWERED ((void *)UINTPTR_MAX)

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
  (void)cls;
  (void)c;
  return (void *)(uintptr_t)(strlen(uri) + 1);
}

/* Whether a Host header names this machine's loopback: localhost, 127.x.y.z
 * or [::1], with or without a port. */
static int loopback_host(const char *host) {
  char name[256];
  size_t n;
  if (host[0] == '[') {
    const char *end = strchr(host, ']');
    if (end == NULL) return 0;
    n = (size_t)(end - host - 1);
    if (n >= sizeof name) return 0;
    memcpy(name, host + 1, n);
    name[n] = '\0';
    struct in6_addr a6;
    return inet_pton(AF_INET6, name, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
  }
  const char *colon = strchr(host, ':');
  n = colon != NULL ? (size_t)(colon - host) : strlen(host);
  if (n >= sizeof name) return 0;
  memcpy(name, host, n);
  name[n] = '\0';
  if (strcasecmp(name, "localhost") == 0 || strcasecmp(name, "localhost.") == 0) return 1;
  struct in_addr a4;
  return inet_pton(AF_INET, name, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

/* Queues r as the response; frees its body in every case. */
static enum MHD_Result send_reply(struct MHD_Connection *c, lt_board_reply *r) {
  struct MHD_Response *resp = mhd.create_response_from_buffer(
      r->size, r->body, r->owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
  if (resp == NULL) {
    lt_board_reply_free(r);
    return MHD_NO;
  }
  r->owned = 0;   /* libmicrohttpd frees it now */
  char number[32];
  mhd.add_response_header(resp, "Content-Type", r->type);
  mhd.add_response_header(resp, "Cache-Control", r->cache);
  mhd.add_response_header(resp, "X-Content-Type-Options", "nosniff");
  mhd.add_response_header(resp, "Referrer-Policy", "no-referrer");
  mhd.add_response_header(resp, "X-Frame-Options", "DENY");
  if (r->next_offset >= 0) {
    snprintf(number, sizeof number, "%lld", r->next_offset);
    mhd.add_response_header(resp, "X-Next-Offset", number);
  }
  if (r->reset) mhd.add_response_header(resp, "X-Reset", "1");
  if (r->allow) mhd.add_response_header(resp, "Allow", "GET, HEAD");
  enum MHD_Result ok = mhd.queue_response(c, (unsigned int)r->status, resp);
  mhd.destroy_response(resp);
  return ok;
}

/* A request is checked at the handler's first call, when its headers are
 * in: a target too long, a foreign Host, a method other than GET and HEAD,
 * or a body announced is answered then, before any body is read (and the
 * connection closes). Otherwise the answer comes at the second call, which
 * keeps the connection open for the next request. Later calls (a body sent
 * without being announced) are ignored. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
  (void)version;
  (void)upload_data;
  const board *b = cls;
  lt_board_reply r;
  lt_board_reply_init(&r);
  if (*con_cls == ANSWERED) {
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (*con_cls == SEEN) {
    if (*upload_data_size != 0) {
      *upload_data_size = 0;
      return MHD_YES;
    }
    lt_board_answer(&b->site, method, url, mhd.lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "offset"), &r);
  } else {
    uintptr_t uri_len = (uintptr_t)*con_cls;
    const char *host = mhd.lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    const char *length = mhd.lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    const char *chunked = mhd.lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
    if (uri_len == 0 || uri_len - 1 > LT_BOARD_MAX_URI) {
      lt_board_error(&r, 414, url, "board: request target over %d bytes", LT_BOARD_MAX_URI);
    } else if (b->loopback && host != NULL && !loopback_host(host)) {
      lt_board_error(&r, 403, url, "board: the board listens on a loopback address and answers only requests "
                     "addressed to localhost, 127.0.0.1 or [::1]");
    } else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
      lt_board_answer(&b->site, method, url, NULL, &r);   /* the 405 */
    } else if ((length != NULL && strcmp(length, "0") != 0) || chunked != NULL) {
      lt_board_error(&r, 413, url, "board: requests with a body are refused: the board is read-only");
    } else {
      *con_cls = SEEN;
      return MHD_YES;
    }
  }
  *con_cls = ANSWERED;
  return send_reply(c, &r);
}

/* ---- the socket ---------------------------------------------------------------------- */

/* Listens on host:port. Returns the socket, or -1 with the message in err.
 * Fills *family, the numeric address (for the URL), the port bound and
 * whether it is a loopback address. */
static int listen_on(const char *host, int port, int *family, char *addr, size_t addrsize, int *bound,
                     int *loopback, char *err, size_t errsize) {
  struct addrinfo hints, *list = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  char service[16];
  snprintf(service, sizeof service, "%d", port);
  int gai = getaddrinfo(host, service, &hints, &list);
  if (gai != 0) {
    snprintf(err, errsize, "board: cannot listen on %s:%d: %s", host, port, gai_strerror(gai));
    return -1;
  }
  int fd = -1, first_errno = 0;
  for (struct addrinfo *ai = list; ai != NULL && fd < 0; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      if (first_errno == 0) first_errno = errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
      if (first_errno == 0) first_errno = errno;
      close(fd);
      fd = -1;
      continue;
    }
    *family = ai->ai_family;
  }
  freeaddrinfo(list);
  if (fd < 0) {
    const char *why = first_errno == EADDRINUSE    ? "address in use (another board? use --port)"
                      : first_errno == EADDRNOTAVAIL ? "no such address on this machine"
                      : first_errno == EACCES        ? "permission denied (ports below 1024 need privileges)"
                      : first_errno != 0             ? strerror(first_errno)
                                                     : "no IPv4 or IPv6 address";
    snprintf(err, errsize, "board: cannot listen on %s:%d: %s", host, port, why);
    return -1;
  }
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  getsockname(fd, (struct sockaddr *)&ss, &len);
  if (ss.ss_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
    *bound = ntohs(s6->sin6_port);
    *loopback = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) ||
                (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) && s6->sin6_addr.s6_addr[12] == 127);
    inet_ntop(AF_INET6, &s6->sin6_addr, addr, (socklen_t)addrsize);
  } else {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
    *bound = ntohs(s4->sin_port);
    *loopback = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
    inet_ntop(AF_INET, &s4->sin_addr, addr, (socklen_t)addrsize);
  }
  return fd;
}

/* ---- stopping ------------------------------------------------------------------------ */

static volatile sig_atomic_t stop_pipe = -1;

static void on_stop_signal(int sig) {
  (void)sig;
  int saved = errno;
  if (stop_pipe >= 0) {
    ssize_t k = write(stop_pipe, "s", 1);   /* non-blocking: a full pipe already says stop */
    (void)k;
  }
  errno = saved;
}

/* ---- the Lua module ------------------------------------------------------------------ */

static const char *opt_string(lua_State *L, const char *key, const char *def) {
  int t = lua_getfield(L, 1, key);
  const char *v = def;
  if (t == LUA_TSTRING) v = lua_tostring(L, -1);
  else if (t != LUA_TNIL) luaL_error(L, "board: serve: '%s' must be a string", key);
  else if (def == NULL) luaL_error(L, "board: serve: '%s' is required", key);
  lua_pop(L, 1);   /* the string stays alive in the table */
  return v;
}

/* on_listen(info), called protected: a failing callback still stops the server. */
static int call_on_listen(lua_State *L, const char *url, const char *addr, int port, const board *b) {
  if (lua_getfield(L, 1, "on_listen") != LUA_TFUNCTION) {
    lua_pop(L, 1);
    return LUA_OK;
  }
  lua_createtable(L, 0, 5);
  lua_pushstring(L, url);
  lua_setfield(L, -2, "url");
  lua_pushstring(L, addr);
  lua_setfield(L, -2, "host");
  lua_pushinteger(L, port);
  lua_setfield(L, -2, "port");
  lua_pushstring(L, b->site.root);
  lua_setfield(L, -2, "root");
  lua_pushboolean(L, b->loopback);
  lua_setfield(L, -2, "loopback");
  return lua_pcall(L, 1, 0, 0);
}

static int board_serve(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  const char *root = opt_string(L, "root", NULL);
  const char *host = opt_string(L, "host", "127.0.0.1");
  const char *dygraphs = opt_string(L, "dygraphs", LT_DYGRAPHS_DIR);
  lua_getfield(L, 1, "port");
  int isint = 0;
  lua_Integer port = lua_isnil(L, -1) ? 6006 : lua_tointegerx(L, -1, &isint);
  if (!lua_isnil(L, -1) && (!isint || port < 0 || port > 65535))
    return luaL_error(L, "board: the port must be an integer from 0 to 65535");
  lua_pop(L, 1);
  if (!lua_isnoneornil(L, 2)) return luaL_error(L, "board: serve takes one table");
  lua_settop(L, 1);

  board *b = lua_newuserdatauv(L, sizeof *b, 0);   /* index 2: lives as long as the call */
  memset(b, 0, sizeof *b);
  char err[PATH_MAX + 256];
  if (lt_board_site_init(&b->site, root, dygraphs, err, sizeof err) != 0) return luaL_error(L, "%s", err);
  if (load_mhd(err, sizeof err) != 0) return luaL_error(L, "%s", err);
  int family = AF_INET, bound = 0;
  char addr[INET6_ADDRSTRLEN];
  int fd = listen_on(host, (int)port, &family, addr, sizeof addr, &bound, &b->loopback, err, sizeof err);
  if (fd < 0) return luaL_error(L, "%s", err);

  /* SIGINT and SIGTERM write a byte to a pipe that this thread waits on;
   * whichever thread the kernel picks to run the handler (the server's,
   * OpenBLAS's), the wait ends. The handlers before (the Lua call's Ctrl-C
   * hook) are put back afterwards. */
  int wake[2];
  if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    close(fd);
    return luaL_error(L, "board: cannot make a pipe: %s", strerror(errno));
  }
  stop_pipe = wake[1];
  struct sigaction on_stop, old_int, old_term;
  memset(&on_stop, 0, sizeof on_stop);
  on_stop.sa_handler = on_stop_signal;
  sigemptyset(&on_stop.sa_mask);
  sigaction(SIGINT, &on_stop, &old_int);
  sigaction(SIGTERM, &on_stop, &old_term);

  unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | (family == AF_INET6 ? MHD_USE_IPv6 : 0);
  struct MHD_Daemon *d = mhd.start_daemon(flags, (uint16_t)bound, NULL, NULL, on_request, b,
      MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
      MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64,
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)32,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
      MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
      MHD_OPTION_END);
  int status = LUA_OK;
  if (d == NULL) {
    close(fd);
    snprintf(err, sizeof err, "board: libmicrohttpd could not start a server on %s:%d", addr, bound);
  } else {
    char url[INET6_ADDRSTRLEN + 32];
    snprintf(url, sizeof url, family == AF_INET6 ? "http://[%s]:%d/" : "http://%s:%d/", addr, bound);
    status = call_on_listen(L, url, addr, bound, b);
    if (status == LUA_OK) {
      struct pollfd p = {.fd = wake[0], .events = POLLIN};
      while (poll(&p, 1, -1) <= 0) {   /* EINTR when the handler ran in this thread */
      }
    }
    mhd.stop_daemon(d);   /* closes the listening socket */
  }
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  stop_pipe = -1;
  close(wake[0]);
  close(wake[1]);
  if (d == NULL) return luaL_error(L, "%s", err);
  if (status != LUA_OK) return lua_error(L);
  lua_pushboolean(L, 1);
  return 1;
}

static int board_available(lua_State *L) {
  char err[512];
  if (load_mhd(err, sizeof err) == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  lua_pushstring(L, err);
  return 2;
}

static int luaopen_board_server(lua_State *L) {
  static const luaL_Reg fns[] = {{"serve", board_serve}, {"available", board_available}, {NULL, NULL}};
  luaL_newlib(L, fns);
  lua_pushstring(L, LT_DYGRAPHS_DIR);   /* the default of serve's dygraphs, for the help */
  lua_setfield(L, -2, "dygraphs_dir");
  return 1;
}

void lt_board_install(lua_State *L) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_board_server);
  lua_setfield(L, -2, "luatrain.board_server");
  lua_pop(L, 2);
}
