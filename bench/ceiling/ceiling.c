/* ceiling: the upper bound of the DNS benchmark (bench/dns/run.sh).
 *
 * Answers every UDP datagram on ADDR:PORT by setting the QR bit of the DNS
 * header and sending the datagram straight back. It does no DNS work at all,
 * so the rate it reaches with the same dnsperf load is what any UDP server can
 * reach on this machine; rblzoned and rbldnsd are reported as a share of it.
 *
 * Each of N threads owns an SO_REUSEPORT socket bound to the same address and
 * moves datagrams in batches of up to 64 with recvmmsg(2)/sendmmsg(2).
 *
 *   ceiling PORT [THREADS [ADDR]]      (defaults: 1 thread, 127.0.0.1)
 *
 * Prints "ready" on stdout once every socket is bound; runs until killed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BATCH = 64, BUFSZ = 4096 };

struct worker {
  int fd;
};

static int open_socket(const char* addr, int port) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) {
    perror("ceiling: socket");
    return -1;
  }
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    perror("ceiling: SO_REUSEPORT");
    close(fd);
    return -1;
  }
  int bufsz = 4 << 20;
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof bufsz);
  (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof bufsz);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)port);
  if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
    fprintf(stderr, "ceiling: bad IPv4 address %s\n", addr);
    close(fd);
    return -1;
  }
  if (bind(fd, (struct sockaddr*)&sa, sizeof sa) != 0) {
    perror("ceiling: bind");
    close(fd);
    return -1;
  }
  return fd;
}

static void* serve(void* arg) {
  const struct worker* w = arg;
  unsigned char(*bufs)[BUFSZ] = malloc(sizeof(unsigned char[BATCH][BUFSZ]));
  if (bufs == NULL) {
    fprintf(stderr, "ceiling: out of memory\n");
    return NULL;
  }
  struct sockaddr_in peers[BATCH];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];

  for (;;) {
    for (int i = 0; i < BATCH; ++i) {
      iov[i].iov_base = bufs[i];
      iov[i].iov_len = BUFSZ;
      memset(&msgs[i], 0, sizeof msgs[i]);
      msgs[i].msg_hdr.msg_name = &peers[i];
      msgs[i].msg_hdr.msg_namelen = sizeof peers[i];
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(w->fd, msgs, BATCH, MSG_WAITFORONE, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("ceiling: recvmmsg");
      return NULL;
    }
    int out = 0;
    for (int i = 0; i < n; ++i) {
      unsigned len = msgs[i].msg_len;
      if (len < 12) continue; /* not even a DNS header: drop */
      bufs[i][2] |= 0x80;     /* QR = response */
      iov[i].iov_len = len;
      if (out != i) {
        msgs[out] = msgs[i];
      }
      msgs[out].msg_hdr.msg_iov = &iov[i];
      ++out;
    }
    int sent = 0;
    while (sent < out) {
      int m = sendmmsg(w->fd, msgs + sent, (unsigned)(out - sent), 0);
      if (m < 0) {
        if (errno == EINTR) continue;
        break; /* e.g. ENOBUFS: drop the rest of the batch, as a server would */
      }
      sent += m;
    }
  }
}

int main(int argc, char** argv) {
  if (argc < 2 || argc > 4) {
    fprintf(stderr, "usage: %s PORT [THREADS [ADDR]]\n", argv[0]);
    return 2;
  }
  int port = atoi(argv[1]);
  int threads = argc > 2 ? atoi(argv[2]) : 1;
  const char* addr = argc > 3 ? argv[3] : "127.0.0.1";
  if (port <= 0 || port > 65535 || threads <= 0 || threads > 256) {
    fprintf(stderr, "ceiling: bad PORT or THREADS\n");
    return 2;
  }
  struct worker* ws = calloc((size_t)threads, sizeof *ws);
  pthread_t* tids = calloc((size_t)threads, sizeof *tids);
  if (ws == NULL || tids == NULL) return 1;
  for (int i = 0; i < threads; ++i) {
    ws[i].fd = open_socket(addr, port);
    if (ws[i].fd < 0) return 1;
  }
  for (int i = 0; i < threads; ++i) {
    if (pthread_create(&tids[i], NULL, serve, &ws[i]) != 0) {
      fprintf(stderr, "ceiling: pthread_create failed\n");
      return 1;
    }
  }
  printf("ready\n");
  fflush(stdout);
  for (int i = 0; i < threads; ++i) pthread_join(tids[i], NULL);
  return 1;
}
