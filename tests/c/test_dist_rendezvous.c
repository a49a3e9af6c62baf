/* test_dist_rendezvous.c — the TCP rendezvous (src/dist/lt_dist_tcp.c)
 * with real processes on 127.0.0.1, no GPU and no MPI: three forked ranks
 * pass a 128-byte blob (NCCL's id size) from rank 0, started in either
 * order and past a stray connection that is not one of ours; then the ways
 * it fails, each within its timeout and with a message that says what
 * happened: a rank that never comes (rank 0 names it, and the rank that came
 * hears why), no rank 0, an address that does not resolve, a port in use,
 * an answer cut short, ranks that disagree on the world size or claim one
 * rank twice, and bad arguments. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lt_dist.h"
#include "lt_test.h"
#include "lt_test_net.h"

#define BLOB 128

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fill_blob(unsigned char *b) {
  for (int i = 0; i < BLOB; i++) b[i] = (unsigned char)(i * 37 + 11);
}

/* One rank in a child process, after `delay` seconds. The child exits 0
 * when the outcome is the expected one: the blob when `expect` is NULL, else
 * a failure whose message contains `expect`, within `within` seconds. */
static pid_t spawn(int port, int rank, int world, double timeout_s, double delay, const char *expect,
                   double within) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  if (delay > 0) usleep((useconds_t)(delay * 1e6));
  unsigned char blob[BLOB], want[BLOB];
  fill_blob(want);
  if (rank == 0) memcpy(blob, want, BLOB);
  else memset(blob, 0, BLOB);
  double t0 = now();
  lt_status st = lt_dist_rendezvous("127.0.0.1", port, rank, world, blob, BLOB, timeout_s);
  double took = now() - t0;
  int good;
  if (expect == NULL) {
    good = st == LT_OK && memcmp(blob, want, BLOB) == 0;
    if (!good) fprintf(stderr, "rank %d: %s\n", rank, st == LT_OK ? "wrong blob" : lt_error_message());
  } else {
    good = st != LT_OK && strstr(lt_error_message(), expect) != NULL && took <= within;
    if (!good)
      fprintf(stderr, "rank %d: status %d after %.2f s (at most %.2f), message '%s', expected '%s'\n", rank, (int)st,
              took, within, st == LT_OK ? "" : lt_error_message(), expect);
  }
  _exit(good ? 0 : 1);
}

static int reap(pid_t pid) {
  int status;
  if (waitpid(pid, &status, 0) != pid) return 0;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* A fake rank 0 that reads a hello and answers with `n` bytes of `reply`. */
static pid_t fake_rank0(int port, const void *reply, size_t n) {
  int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons((uint16_t)port);
  if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 4) != 0) {
    perror("fake_rank0");
    exit(1);
  }
  pid_t pid = fork();
  if (pid != 0) {
    close(lfd);
    return pid;
  }
  int fd = accept(lfd, NULL, NULL);
  char hello[24];
  size_t got = 0;
  while (got < sizeof hello) {
    ssize_t r = read(fd, hello + got, sizeof hello - got);
    if (r <= 0) break;
    got += (size_t)r;
  }
  if (n) (void)!write(fd, reply, n);
  close(fd);
  _exit(0);
}

int main(void) {
  /* three ranks, rank 0 first */
  {
    int port = lt_test_free_port();
    pid_t p[3];
    for (int r = 0; r < 3; r++) p[r] = spawn(port, r, 3, 20, r * 0.05, NULL, 0);
    for (int r = 0; r < 3; r++) LT_CHECK(reap(p[r]));
  }
  /* rank 0 last: the others retry their connection meanwhile */
  {
    int port = lt_test_free_port();
    pid_t p[3];
    for (int r = 0; r < 3; r++) p[r] = spawn(port, r, 3, 20, r == 0 ? 0.5 : 0, NULL, 0);
    for (int r = 0; r < 3; r++) LT_CHECK(reap(p[r]));
  }
  /* a stray connection that sends something else is dropped, and does not count */
  {
    int port = lt_test_free_port();
    pid_t p0 = spawn(port, 0, 2, 20, 0, NULL, 0);
    usleep(200000);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    LT_CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    LT_CHECK(write(fd, "GET / HTTP/1.0\r\n\r\n", 18) == 18);
    pid_t p1 = spawn(port, 1, 2, 20, 0.2, NULL, 0);
    LT_CHECK(reap(p0));
    LT_CHECK(reap(p1));
    close(fd);
  }
  /* a rank that never comes: rank 0 fails within its timeout naming it, and
   * the rank that came hears why */
  {
    int port = lt_test_free_port();
    pid_t p0 = spawn(port, 0, 4, 1.0, 0, "rank 0 waited 1 s on port", 3.0);
    pid_t p1 = spawn(port, 1, 4, 10, 0, "rank 0 failed: rendezvous: rank 0 waited 1 s", 3.5);
    pid_t p2 = spawn(port, 3, 4, 10, 0, "rank 2 did not come (3 of 4 ranks joined)", 3.5);
    LT_CHECK(reap(p0));
    LT_CHECK(reap(p1));
    LT_CHECK(reap(p2));
    p0 = spawn(port, 0, 5, 0.5, 0, "ranks 1-2, 4 did not come (2 of 5 ranks joined)", 2.5);
    p1 = spawn(port, 3, 5, 10, 0, "did not come", 3.0);
    LT_CHECK(reap(p0));
    LT_CHECK(reap(p1));
  }
  /* no rank 0 */
  {
    int port = lt_test_free_port();
    char expect[128];
    snprintf(expect, sizeof expect, "rank 2 could not connect to 127.0.0.1:%d within 0.5 s (last error:", port);
    LT_CHECK(reap(spawn(port, 2, 3, 0.5, 0, expect, 2.0)));
  }
  /* an address that does not resolve, on either side */
  {
    unsigned char blob[BLOB] = {0};
    LT_CHECK(lt_dist_rendezvous("no-such-host.invalid", 29500, 1, 2, blob, BLOB, 1) == LT_ERR_RUNTIME &&
             strstr(lt_error_message(), "MASTER_ADDR 'no-such-host.invalid' does not resolve") != NULL);
    LT_CHECK(lt_dist_rendezvous("no-such-host.invalid", 29500, 0, 2, blob, BLOB, 1) == LT_ERR_RUNTIME &&
             strstr(lt_error_message(), "does not resolve") != NULL);
  }
  /* a port in use */
  {
    int port = lt_test_free_port();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    sa.sin_port = htons((uint16_t)port);
    LT_CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 1) == 0);
    unsigned char blob[BLOB] = {0};
    char expect[128];
    snprintf(expect, sizeof expect, "rank 0 cannot listen on port %d: Address already in use (another process", port);
    LT_CHECK(lt_dist_rendezvous("127.0.0.1", port, 0, 2, blob, BLOB, 1) == LT_ERR_RUNTIME &&
             strstr(lt_error_message(), expect) != NULL);
    close(fd);
  }
  /* an answer cut short: in its header, in the blob */
  {
    int port = lt_test_free_port();
    pid_t f = fake_rank0(port, "\0\0\0", 3);
    LT_CHECK(reap(spawn(port, 1, 2, 5, 0, "ended after 3 of the 8 bytes of its answer", 4)));
    LT_CHECK(reap(f));
    port = lt_test_free_port();
    const unsigned char head[8 + 10] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    f = fake_rank0(port, head, sizeof head);
    LT_CHECK(reap(spawn(port, 1, 2, 5, 0, "ended after 10 of the 128 bytes of the id", 4)));
    LT_CHECK(reap(f));
  }
  /* ranks that disagree: on the world size, on who is who */
  {
    int port = lt_test_free_port();
    pid_t p0 = spawn(port, 0, 3, 10, 0, "rank 2 says the world size is 4, rank 0 says 3", 5);
    pid_t p2 = spawn(port, 2, 4, 10, 0.1, "rank 0 failed: rendezvous: rank 2 says the world size", 5);
    LT_CHECK(reap(p0));
    LT_CHECK(reap(p2));
    port = lt_test_free_port();
    p0 = spawn(port, 0, 3, 10, 0, "rank 1 joined twice", 5);
    pid_t a = spawn(port, 1, 3, 10, 0.1, "rank 0 failed: rendezvous: rank 1 joined twice", 5);
    pid_t b = spawn(port, 1, 3, 10, 0.3, "rank 0 failed: rendezvous: rank 1 joined twice", 5);
    LT_CHECK(reap(p0));
    LT_CHECK(reap(a)); /* the first of the two hears the failure too */
    LT_CHECK(reap(b));
  }
  /* arguments */
  {
    unsigned char blob[BLOB];
    LT_CHECK(lt_dist_rendezvous("127.0.0.1", 0, 0, 2, blob, BLOB, 1) == LT_ERR_ARG &&
             strstr(lt_error_message(), "set MASTER_PORT") != NULL);
    LT_CHECK(lt_dist_rendezvous("", 29500, 0, 2, blob, BLOB, 1) == LT_ERR_ARG &&
             strstr(lt_error_message(), "set MASTER_ADDR") != NULL);
    LT_CHECK(lt_dist_rendezvous("127.0.0.1", 29500, 2, 2, blob, BLOB, 1) == LT_ERR_ARG &&
             strstr(lt_error_message(), "rank 2 is out of range for world size 2") != NULL);
    LT_CHECK(lt_dist_rendezvous("127.0.0.1", 29500, 0, 2, blob, BLOB, 0) == LT_ERR_ARG);
    LT_CHECK(lt_dist_rendezvous("127.0.0.1", 29500, 0, 1, blob, BLOB, 1) == LT_OK); /* alone: nothing to do */
  }
  return lt_test_done();
}
