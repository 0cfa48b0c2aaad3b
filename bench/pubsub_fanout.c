/* PUBLISH fan-out client for bench/kv_types_bench.py (PUBLISH to 1,000 subscribers).
 *
 * One thread, one epoll: N subscriber sockets that read and count, one publisher socket that
 * pipelines PUBLISH with at most WINDOW replies outstanding (so a slow server is not buried
 * under queued input; the subscribers' output buffers stay small). Publishing runs for SECONDS,
 * then the client drains until every subscriber has every message (or 10 s pass).
 *
 * Every message a subscriber gets has the same RESP2 frame (fixed channel and payload), so
 * messages = bytes / frame length; a remainder or a shortfall is reported, not hidden.
 * The reply to each PUBLISH (`:N`) must equal N subscribers: checked for every reply.
 *
 * Output: one JSON object on stdout.
 * Build: cc -O2 -o pubsub_fanout bench/pubsub_fanout.c
 * Usage: pubsub_fanout PORT SUBSCRIBERS SECONDS [PAYLOAD_BYTES=32] [WINDOW=256]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = send(fd, p, n, 0);
        if (w < 0) die("send");
        p += w;
        n -= w;
    }
}

static void recv_exact(int fd, char *p, size_t n) {
    while (n) {
        ssize_t r = recv(fd, p, n, 0);
        if (r <= 0) die("recv (subscribe confirmation)");
        p += r;
        n -= r;
    }
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s PORT SUBSCRIBERS SECONDS [PAYLOAD_BYTES] [WINDOW]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]), nsub = atoi(argv[2]);
    double seconds = atof(argv[3]);
    int payload = argc > 4 ? atoi(argv[4]) : 32;
    long window = argc > 5 ? atol(argv[5]) : 256;
    const char *ch = "bench-channel";
    size_t chlen = strlen(ch);

    char *pl = malloc(payload + 1);
    memset(pl, 'p', payload);
    pl[payload] = 0;
    char frame[512];
    int frame_len = snprintf(frame, sizeof frame, "*3\r\n$7\r\nmessage\r\n$%zu\r\n%s\r\n$%d\r\n%s\r\n",
                             chlen, ch, payload, pl);
    char cmd[512];
    int cmd_len = snprintf(cmd, sizeof cmd, "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\n%s\r\n$%d\r\n%s\r\n",
                           chlen, ch, payload, pl);
    char sub[256], conf[256];
    int sub_len = snprintf(sub, sizeof sub, "*2\r\n$9\r\nSUBSCRIBE\r\n$%zu\r\n%s\r\n", chlen, ch);
    int conf_len = snprintf(conf, sizeof conf, "*3\r\n$9\r\nsubscribe\r\n$%zu\r\n%s\r\n:1\r\n", chlen, ch);

    int ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    int *fds = calloc(nsub, sizeof(int));
    long long *got = calloc(nsub, sizeof(long long));
    char buf[1 << 16];
    for (int i = 0; i < nsub; i++) {
        fds[i] = connect_to(port);
        send_all(fds[i], sub, sub_len);
        recv_exact(fds[i], buf, conf_len);
        if (memcmp(buf, conf, conf_len) != 0) {
            fprintf(stderr, "unexpected subscribe confirmation on subscriber %d\n", i);
            return 2;
        }
        fcntl(fds[i], F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) die("epoll_ctl");
    }
    int pub = connect_to(port);
    fcntl(pub, F_SETFL, O_NONBLOCK);
    struct epoll_event pev = {.events = EPOLLIN, .data.u64 = (uint64_t)nsub};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, pub, &pev) < 0) die("epoll_ctl pub");

    /* Publisher's output: up to 64 commands at a time. */
    enum { BATCH = 64 };
    char *out = malloc((size_t)cmd_len * BATCH);
    for (int k = 0; k < BATCH; k++) memcpy(out + (size_t)k * cmd_len, cmd, cmd_len);
    size_t out_off = 0, out_end = 0; /* pending bytes of the current batch */
    long long published = 0, replies = 0, bad_replies = 0;
    char rbuf[4096], line[64];
    int line_len = 0;
    char want_reply[32];
    snprintf(want_reply, sizeof want_reply, ":%d", nsub);
    long long delivered_bytes = 0;
    long long epoll_waits = 0, sub_reads = 0;

    double t0 = now(), stop_at = t0 + seconds, give_up = stop_at + 10.0, t_last = t0;
    int publishing = 1;
    struct epoll_event evs[1024];
    for (;;) {
        double t = now();
        if (publishing && t >= stop_at) {
            publishing = 0;
        }
        if (!publishing && out_off == out_end && replies == published &&
            delivered_bytes >= published * nsub * (long long)frame_len)
            break;
        if (t >= give_up) break;
        /* Refill the publisher's batch when the window allows. */
        if (publishing && out_off == out_end && published - replies + BATCH <= window) {
            out_off = 0;
            out_end = (size_t)cmd_len * BATCH;
            published += BATCH;
        }
        if (out_off < out_end) {
            ssize_t w = send(pub, out + out_off, out_end - out_off, 0);
            if (w > 0) out_off += w;
            else if (w < 0 && errno != EAGAIN) die("send publisher");
        }
        /* Output the kernel would not take yet: retry soon (1 ms) rather than watch EPOLLOUT. */
        int n = epoll_wait(ep, evs, 1024, out_off < out_end ? 1 : 100);
        epoll_waits++;
        for (int e = 0; e < n; e++) {
            uint64_t id = evs[e].data.u64;
            if (id == (uint64_t)nsub) {
                if (!(evs[e].events & EPOLLIN)) continue;
                ssize_t r;
                while ((r = recv(pub, rbuf, sizeof rbuf, 0)) > 0) {
                    for (ssize_t k = 0; k < r; k++) {
                        char c = rbuf[k];
                        if (c == '\n') {
                            line[line_len > 0 ? line_len - 1 : 0] = 0; /* drop \r */
                            if (strcmp(line, want_reply) != 0) bad_replies++;
                            replies++;
                            line_len = 0;
                        } else if (line_len < (int)sizeof line - 1) {
                            line[line_len++] = c;
                        }
                    }
                }
                if (r == 0) {
                    fprintf(stderr, "publisher connection closed\n");
                    return 2;
                }
            } else {
                ssize_t r;
                while ((r = recv(fds[id], buf, sizeof buf, 0)) > 0) {
                    got[id] += r;
                    delivered_bytes += r;
                    sub_reads++;
                    t_last = now();
                }
                if (r == 0) {
                    fprintf(stderr, "subscriber %lu closed by the server\n", (unsigned long)id);
                    return 2;
                }
            }
        }
    }
    double elapsed = t_last - t0;
    long long expect = published * (long long)frame_len;
    int short_subs = 0, ragged = 0;
    for (int i = 0; i < nsub; i++) {
        if (got[i] != expect) short_subs++;
        if (got[i] % frame_len) ragged++;
    }
    long long delivered = delivered_bytes / frame_len;
    printf("{\"subscribers\": %d, \"payload\": %d, \"window\": %ld, \"frame_bytes\": %d, "
           "\"published\": %lld, \"replies\": %lld, \"bad_replies\": %lld, \"delivered\": %lld, "
           "\"expected\": %lld, \"short_subscribers\": %d, \"ragged_subscribers\": %d, "
           "\"elapsed_s\": %.4f, \"delivered_per_s\": %.1f, \"published_per_s\": %.1f, "
           "\"client_epoll_waits\": %lld, \"client_sub_reads\": %lld}\n",
           nsub, payload, window, frame_len, published, replies, bad_replies, delivered,
           published * nsub, short_subs, ragged, elapsed, delivered / elapsed, published / elapsed,
           epoll_waits, sub_reads);
    return (bad_replies || short_subs || replies != published) ? 1 : 0;
}
