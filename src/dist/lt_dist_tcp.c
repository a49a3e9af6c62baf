/* lt_dist_tcp.c — the TCP rendezvous (lt_dist_rendezvous in lt_dist.h):
 * how rank 0 hands a small blob, NCCL's unique id, to every other rank
 * before the collective library exists, at MASTER_ADDR:MASTER_PORT as
 * torchrun sets them.
 *
 * Rank 0 listens on the port (every interface, as torchrun's store) and
 * answers nobody until all world_size - 1 other ranks have connected and
 * sent their hello (magic, rank, world size, blob length); then each gets
 * the blob. So a rank that never comes fails the whole rendezvous in one
 * place: rank 0 names the missing ranks, and tells the ranks that came, so
 * none of them goes on to wait inside the library. The others retry their
 * connection while rank 0 is not listening yet. All sockets are
 * non-blocking and every wait is a poll() against one deadline, timeout_s
 * after the call began.
 *
 * Wire format, integers little-endian:
 *   hello (rank r -> 0)  "LTRV0001" u32 rank, u32 world_size, u64 len
 *   reply (0 -> rank r)  u32 status (0 ok, 1 error), u32 n, then the blob
 *                        (len bytes) or an error message (n bytes)
 * A connection whose first bytes are not the magic (a port scanner, a
 * stale client of another job) is dropped and does not count. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lt_dist.h"

#define MAGIC "LTRV0001"
#define HELLO_LEN 24
#define REPLY_LEN 8
#define MAX_BLOB (1u << 20)

/* Milliseconds left before `deadline`, for poll (at least 0). */
static int ms_left(double deadline) {
  double left = deadline - lt_dist_now();
  if (left <= 0) return 0;
  return left > 1e6 ? 1000000000 : (int)(left * 1000.0) + 1;
}

static void put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
  return v;
}
static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* Waits until fd is ready for `events` or the deadline passes: 1 ready, 0
 * timed out, -1 error (errno). */
static int wait_fd(int fd, short events, double deadline) {
  for (;;) {
    struct pollfd p = {fd, events, 0};
    int r = poll(&p, 1, ms_left(deadline));
    if (r > 0) return 1;
    if (r < 0 && errno != EINTR) return -1;
    if (lt_dist_now() >= deadline) return 0;
  }
}

/* Writes n bytes before the deadline: 0 done, -1 failed (errno; ETIMEDOUT). */
static int send_all(int fd, const void *buf, size_t n, double deadline) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w > 0) {
      p += w;
      n -= (size_t)w;
      continue;
    }
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
    int r = wait_fd(fd, POLLOUT, deadline);
    if (r == 0) errno = ETIMEDOUT;
    if (r <= 0) return -1;
  }
  return 0;
}

/* Reads n bytes before the deadline into buf; *got counts what came.
 * 0 done, -1 failed (errno; ETIMEDOUT; 0 for the peer closing early). */
static int recv_all(int fd, void *buf, size_t n, double deadline, size_t *got) {
  char *p = buf;
  *got = 0;
  while (*got < n) {
    ssize_t r = recv(fd, p + *got, n - *got, 0);
    if (r > 0) {
      *got += (size_t)r;
      continue;
    }
    if (r == 0) {
      errno = 0;
      return -1;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
    int w = wait_fd(fd, POLLIN, deadline);
    if (w == 0) errno = ETIMEDOUT;
    if (w <= 0) return -1;
  }
  return 0;
}

static lt_status resolve(const char *addr, int port, int passive, struct addrinfo **out) {
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  char service[16];
  snprintf(service, sizeof service, "%d", port);
  int e = getaddrinfo(addr, service, &hints, out);
  if (e != 0)
    return lt_error_set(LT_ERR_RUNTIME, 0, "rendezvous: MASTER_ADDR '%s' does not resolve: %s",
                        addr != NULL ? addr : "(none)", e == EAI_SYSTEM ? strerror(errno) : gai_strerror(e));
  return LT_OK;
}

/* "2, 4-6" for the ranks in [1, world) with joined[r] == 0, at most about
 * len bytes ("..." beyond). */
static void missing_ranks(const unsigned char *joined, int world, char *buf, size_t len) {
  size_t used = 0;
  buf[0] = '\0';
  for (int r = 1; r < world; r++) {
    if (joined[r]) continue;
    int last = r;
    while (last + 1 < world && !joined[last + 1]) last++;
    char item[32];
    if (last == r) snprintf(item, sizeof item, "%s%d", used ? ", " : "", r);
    else snprintf(item, sizeof item, "%s%d-%d", used ? ", " : "", r, last);
    if (used + strlen(item) + 4 >= len) {
      snprintf(buf + used, len - used, ", ...");
      return;
    }
    used += (size_t)snprintf(buf + used, len - used, "%s", item);
    r = last;
  }
}

/* --- rank 0 ------------------------------------------------------------------------------ */

typedef struct {
  int fd;
  size_t got;
  unsigned char hello[HELLO_LEN];
  int rank; /* -1 until its hello is complete and valid */
} conn;

/* A listening socket on every interface, IPv6 (accepting IPv4 too) when
 * the address is IPv6 and the kernel has it, else IPv4; -1 and errno. */
static int listen_on(const struct addrinfo *ai, int port) {
  int family = ai->ai_family == AF_INET6 ? AF_INET6 : AF_INET;
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 && family == AF_INET6) fd = socket(family = AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc;
  if (family == AF_INET6) {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    struct sockaddr_in6 sa;
    memset(&sa, 0, sizeof sa);
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = in6addr_any;
    sa.sin6_port = htons((uint16_t)port);
    rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
  } else {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    sa.sin_port = htons((uint16_t)port);
    rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
  }
  if (rc != 0 || listen(fd, 128) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* Sends every joined rank the reply (the blob, or the error message) and
 * closes all connections. */
static void answer_all(conn *c, int n, const void *blob, size_t len, const char *error, double deadline) {
  for (int i = 0; i < n; i++) {
    if (c[i].fd < 0) continue;
    if (c[i].rank >= 0) {
      unsigned char head[REPLY_LEN];
      size_t mlen = error != NULL ? strlen(error) : 0;
      put_u32(head, error != NULL ? 1 : 0);
      put_u32(head + 4, (uint32_t)mlen);
      if (send_all(c[i].fd, head, sizeof head, deadline) == 0)
        (void)send_all(c[i].fd, error != NULL ? (const void *)error : blob, error != NULL ? mlen : len, deadline);
    }
    close(c[i].fd);
    c[i].fd = -1;
  }
}

static lt_status serve(const char *addr, int port, int world, const void *blob, size_t len, double timeout_s) {
  double start = lt_dist_now(), deadline = start + timeout_s;
  struct addrinfo *ai;
  LT_TRY(resolve(addr, port, 0, &ai));
  int lfd = listen_on(ai, port);
  freeaddrinfo(ai);
  if (lfd < 0)
    return lt_error_set(LT_ERR_RUNTIME, 0, "rendezvous: rank 0 cannot listen on port %d: %s%s", port, strerror(errno),
                        errno == EADDRINUSE ? " (another process holds it: set MASTER_PORT to a free port)" : "");
  int cap = world + 8, n = 0, joined_count = 0;
  conn *c = calloc((size_t)cap, sizeof *c);
  unsigned char *joined = calloc((size_t)world, 1);
  struct pollfd *pf = calloc((size_t)cap + 1, sizeof *pf);
  char error[512] = "";
  lt_status st = LT_OK;
  if (c == NULL || joined == NULL || pf == NULL) {
    st = lt_error_set(LT_ERR_OOM, 0, "rendezvous: out of memory for %d ranks", world);
    goto done;
  }
  while (joined_count < world - 1) {
    int np = 0;
    pf[np++] = (struct pollfd){lfd, POLLIN, 0};
    for (int i = 0; i < n; i++) pf[np++] = (struct pollfd){c[i].fd, c[i].rank < 0 ? POLLIN : 0, 0};
    int r = poll(pf, (nfds_t)np, ms_left(deadline));
    if (r < 0 && errno != EINTR) {
      snprintf(error, sizeof error, "rendezvous: poll failed: %s", strerror(errno));
      break;
    }
    if (lt_dist_now() >= deadline) {
      char miss[200];
      missing_ranks(joined, world, miss, sizeof miss);
      snprintf(error, sizeof error,
               "rendezvous: rank 0 waited %g s on port %d, and rank%s %s did not come (%d of %d ranks joined); "
               "they may have failed to start, or use another MASTER_ADDR/MASTER_PORT",
               timeout_s, port, world - 1 - joined_count > 1 ? "s" : "", miss, joined_count + 1, world);
      break;
    }
    if (r <= 0) continue;
    /* hellos first: pf[1 + i] belongs to c[i] */
    for (int i = 0; i < n && !error[0]; i++) {
      if (c[i].rank >= 0 || !(pf[1 + i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t got = recv(c[i].fd, c[i].hello + c[i].got, HELLO_LEN - c[i].got, 0);
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
      if (got > 0) c[i].got += (size_t)got;
      if (got <= 0 || memcmp(c[i].hello, MAGIC, c[i].got < 8 ? c[i].got : 8) != 0) {
        close(c[i].fd); /* closed early, failed, or not one of ours: dropped below */
        c[i].fd = -1;
        continue;
      }
      if (c[i].got < HELLO_LEN) continue;
      uint32_t rank = get_u32(c[i].hello + 8), w = get_u32(c[i].hello + 12);
      uint64_t l = get_u64(c[i].hello + 16);
      if (w != (uint32_t)world)
        snprintf(error, sizeof error, "rendezvous: rank %u says the world size is %u, rank 0 says %d", rank, w, world);
      else if (rank == 0 || rank >= (uint32_t)world)
        snprintf(error, sizeof error, "rendezvous: a process claims rank %u, out of range for world size %d", rank,
                 world);
      else if (joined[rank])
        snprintf(error, sizeof error, "rendezvous: rank %u joined twice (two processes with one rank?)", rank);
      else if (l != len)
        snprintf(error, sizeof error, "rendezvous: rank %u expects %llu bytes, rank 0 sends %zu", rank,
                 (unsigned long long)l, len);
      c[i].rank = (int)rank; /* it gets the answer, the error included */
      if (error[0]) break;
      joined[rank] = 1;
      joined_count++;
    }
    int kept = 0;
    for (int i = 0; i < n; i++)
      if (c[i].fd >= 0) c[kept++] = c[i];
    n = kept;
    if (error[0]) break;
    if (pf[0].revents & POLLIN) {
      for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        if (n == cap) { /* strays beyond world + 8 pending: drop the newest */
          close(fd);
          continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c[n++] = (conn){fd, 0, {0}, -1};
      }
    }
  }
  /* Not waiting for more: answer with the blob or the error, within a
   * short grace past the deadline so the ranks that came hear why. */
  answer_all(c, n, blob, len, error[0] ? error : NULL, (error[0] ? lt_dist_now() : deadline) + 5.0);
  if (error[0]) st = lt_error_set(LT_ERR_RUNTIME, 0, "%s", error);
done:
  close(lfd);
  free(c);
  free(joined);
  free(pf);
  return st;
}

/* --- the other ranks --------------------------------------------------------------------- */

/* Connects to addr:port, retrying until the deadline: the socket, or -1
 * with the error set. */
static int connect_to(const char *addr, int port, int rank, double timeout_s, double deadline) {
  struct addrinfo *ai;
  if (resolve(addr, port, 0, &ai) != LT_OK) return -1;
  int last = ECONNREFUSED;
  while (lt_dist_now() < deadline) {
    for (struct addrinfo *a = ai; a != NULL; a = a->ai_next) {
      int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        last = errno;
        continue;
      }
      int rc = connect(fd, a->ai_addr, a->ai_addrlen);
      if (rc != 0 && errno == EINPROGRESS) {
        double until = lt_dist_now() + 1.0 < deadline ? lt_dist_now() + 1.0 : deadline;
        int w = wait_fd(fd, POLLOUT, until);
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (w == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) rc = 0;
        else errno = w == 1 ? soerr : (w == 0 ? ETIMEDOUT : errno);
      }
      if (rc == 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        freeaddrinfo(ai);
        return fd;
      }
      last = errno;
      close(fd);
    }
    struct timespec ts = {0, 50 * 1000 * 1000}; /* rank 0 may not listen yet */
    nanosleep(&ts, NULL);
  }
  freeaddrinfo(ai);
  lt_error_set(LT_ERR_RUNTIME, 0,
               "rendezvous: rank %d could not connect to %s:%d within %g s (last error: %s); is rank 0 running, with "
               "the same MASTER_ADDR and MASTER_PORT?",
               rank, addr, port, timeout_s, strerror(last));
  return -1;
}

static lt_status join(const char *addr, int port, int rank, int world, void *blob, size_t len, double timeout_s) {
  double deadline = lt_dist_now() + timeout_s;
  int fd = connect_to(addr, port, rank, timeout_s, deadline);
  if (fd < 0) return LT_ERR_RUNTIME;
  lt_status st = LT_OK;
  unsigned char hello[HELLO_LEN], head[REPLY_LEN];
  memcpy(hello, MAGIC, 8);
  put_u32(hello + 8, (uint32_t)rank);
  put_u32(hello + 12, (uint32_t)world);
  put_u64(hello + 16, (uint64_t)len);
  size_t got = 0;
  if (send_all(fd, hello, sizeof hello, deadline) != 0) {
    st = lt_error_set(LT_ERR_RUNTIME, 0, "rendezvous: rank %d could not send its hello to %s:%d: %s", rank, addr, port,
                      strerror(errno));
  } else if (recv_all(fd, head, sizeof head, deadline, &got) != 0) {
    if (errno == ETIMEDOUT)
      st = lt_error_set(LT_ERR_RUNTIME, 0,
                        "rendezvous: rank %d: rank 0 at %s:%d did not answer within %g s (it answers once every rank "
                        "has come)",
                        rank, addr, port, timeout_s);
    else
      st = lt_error_set(LT_ERR_RUNTIME, 0,
                        "rendezvous: rank %d: the connection to rank 0 at %s:%d ended after %zu of the %d bytes of its "
                        "answer%s%s",
                        rank, addr, port, got, REPLY_LEN, errno ? ": " : "", errno ? strerror(errno) : "");
  } else {
    uint32_t status = get_u32(head), n = get_u32(head + 4);
    if (status != 0) {
      char msg[400];
      size_t m = n < sizeof msg - 1 ? n : sizeof msg - 1;
      if (recv_all(fd, msg, m, deadline, &got) != 0) m = got;
      msg[m] = '\0';
      st = lt_error_set(LT_ERR_RUNTIME, 0, "rendezvous: rank %d: rank 0 failed: %s", rank, msg);
    } else if (recv_all(fd, blob, len, deadline, &got) != 0) {
      st = lt_error_set(LT_ERR_RUNTIME, 0,
                        "rendezvous: rank %d: the connection to rank 0 at %s:%d ended after %zu of the %zu bytes of "
                        "the id%s%s",
                        rank, addr, port, got, len, errno == ETIMEDOUT ? ": " : "",
                        errno == ETIMEDOUT ? "timed out" : "");
    }
  }
  close(fd);
  return st;
}

lt_status lt_dist_rendezvous(const char *addr, int port, int rank, int world_size, void *blob, size_t len,
                             double timeout_s) {
  if (world_size < 1 || rank < 0 || rank >= world_size)
    return lt_error_set(LT_ERR_ARG, 0, "rendezvous: rank %d is out of range for world size %d", rank, world_size);
  if (port < 1 || port > 65535)
    return lt_error_set(LT_ERR_ARG, 0, "rendezvous: port %d is out of range (1 to 65535): set MASTER_PORT", port);
  if (addr == NULL || addr[0] == '\0')
    return lt_error_set(LT_ERR_ARG, 0, "rendezvous: no address: set MASTER_ADDR (rank 0's host)");
  if (!(timeout_s > 0) || timeout_s > 1e7)
    return lt_error_set(LT_ERR_ARG, 0, "rendezvous: the timeout must be positive seconds, got %g", timeout_s);
  if (len > MAX_BLOB || (len > 0 && blob == NULL))
    return lt_error_set(LT_ERR_ARG, 0, "rendezvous: %zu bytes is not a blob it passes (at most %u)", len, MAX_BLOB);
  if (world_size == 1) return LT_OK;
  return rank == 0 ? serve(addr, port, world_size, blob, len, timeout_s)
                   : join(addr, port, rank, world_size, blob, len, timeout_s);
}
