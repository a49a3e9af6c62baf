/* lt_test_net.h — what the C tests of the TCP rendezvous need beside
 * lt_test.h: a free local port. Header-only; include after lt_test.h. */
#ifndef LT_TEST_NET_H
#define LT_TEST_NET_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A port nobody listens on now (the kernel's pick for port 0). */
static inline int lt_test_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
    perror("lt_test_free_port");
    exit(1);
  }
  close(fd);
  return ntohs(sa.sin_port);
}

#endif
