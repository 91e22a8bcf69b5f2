/*
 * echobench native load client: the truth benchmarks' instrument.
 *
 * Usage:
 *   native_client HOST PORT CONNECTIONS SIZE DURATION_S WARMUP_S [CPU_LIST]
 *   (HOST "unix:/path" connects to a Unix socket; PORT is then ignored)
 *
 * Closed loop, pipeline depth 1: each connection sends one SIZE-byte message,
 * waits until all SIZE bytes have come back, and sends the next. Every echoed
 * byte is compared with what was sent (memcmp); a message counts only when its
 * last byte arrives inside the measured window, which starts WARMUP_S after all
 * connections are up and lasts DURATION_S on CLOCK_MONOTONIC. Prints one JSON
 * object on stdout. CPU_LIST ("0,2-3") pins the process before it connects.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Messages start at a rotating offset into the pattern, so an echo of a stale
 * or repeated message does not match the one expected. */
#define PATTERN_SLACK 251

struct conn {
    int fd;
    int alive;
    int writing;      /* EPOLLOUT registered */
    size_t offset;    /* this message's start in the pattern */
    size_t sent;      /* bytes of this message sent */
    size_t received;  /* bytes of this message echoed back */
    uint64_t number;  /* messages this connection has started */
    double started;   /* when this message was started */
};

static unsigned char *pattern;
static size_t size;
static char *readbuf;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(const char *what) {
    fprintf(stderr, "native_client: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void pin(const char *list) {
    cpu_set_t set;
    CPU_ZERO(&set);
    const char *p = list;
    for (;;) {
        char *end;
        long lo = strtol(p, &end, 10), hi = lo;
        if (end == p) {
            fprintf(stderr, "native_client: bad CPU list %s\n", list);
            exit(2);
        }
        if (*end == '-') hi = strtol(end + 1, &end, 10);
        for (long cpu = lo; cpu <= hi && cpu < CPU_SETSIZE; cpu++) CPU_SET((int)cpu, &set);
        if (*end != ',') break;
        p = end + 1;
    }
    if (sched_setaffinity(0, sizeof set, &set) < 0) fail("sched_setaffinity");
}

static int connect_to(const char *host, const char *port) {
    int fd;
    if (strncmp(host, "unix:", 5) == 0) {
        struct sockaddr_un sun;
        memset(&sun, 0, sizeof sun);
        sun.sun_family = AF_UNIX;
        strncpy(sun.sun_path, host + 5, sizeof sun.sun_path - 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) fail("socket");
        if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) fail("connect");
    } else {
        struct addrinfo hints, *res;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        int rc = getaddrinfo(host, port, &hints, &res);
        if (rc != 0) {
            fprintf(stderr, "native_client: cannot resolve %s: %s\n", host, gai_strerror(rc));
            exit(2);
        }
        fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
        if (fd < 0) fail("socket");
        if (connect(fd, res->ai_addr, res->ai_addrlen) < 0) fail("connect");
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        freeaddrinfo(res);
    }
    return fd;
}

static void set_events(int ep, struct conn *c, int writing) {
    if (c->writing == writing) return;
    struct epoll_event ev = {.events = EPOLLIN | (writing ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->writing = writing;
}

/* Send as much of the current message as the socket takes. */
static int pump(int ep, struct conn *c) {
    while (c->sent < size) {
        ssize_t n = send(c->fd, pattern + c->offset + c->sent, size - c->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            return -1;
        }
        c->sent += (size_t)n;
    }
    set_events(ep, c, c->sent < size);
    return 0;
}

static void start_message(struct conn *c, size_t index) {
    c->offset = (size_t)((c->number * 7 + index) % PATTERN_SLACK);
    c->number++;
    c->sent = 0;
    c->received = 0;
}

static uint64_t count_mismatches(const unsigned char *got, const unsigned char *want, size_t n) {
    uint64_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += got[i] != want[i];
    return bad;
}

int main(int argc, char **argv) {
    if (argc != 7 && argc != 8) {
        fprintf(stderr,
                "usage: %s HOST PORT CONNECTIONS SIZE DURATION_S WARMUP_S [CPU_LIST]\n", argv[0]);
        return 2;
    }
    const char *host = argv[1], *port = argv[2];
    long connections = strtol(argv[3], NULL, 10);
    long size_arg = strtol(argv[4], NULL, 10);
    double duration = strtod(argv[5], NULL), warmup = strtod(argv[6], NULL);
    if (connections < 1 || size_arg < 1 || duration <= 0 || warmup < 0) {
        fprintf(stderr, "native_client: need CONNECTIONS >= 1, SIZE >= 1, DURATION > 0, "
                        "WARMUP >= 0\n");
        return 2;
    }
    if (argc == 8) pin(argv[7]);
    size = (size_t)size_arg;

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    pattern = malloc(size + PATTERN_SLACK);
    size_t readsize = size < 65536 ? size : 65536;
    readbuf = malloc(readsize);
    struct conn *conns = calloc((size_t)connections, sizeof *conns);
    if (!pattern || !readbuf || !conns) fail("malloc");
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < size + PATTERN_SLACK; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift: no period a bug could hide in */
        pattern[i] = (unsigned char)x;
    }

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) fail("epoll_create1");
    for (long i = 0; i < connections; i++) {
        struct conn *c = &conns[i];
        c->fd = connect_to(host, port);
        int flags = fcntl(c->fd, F_GETFL, 0);
        if (flags < 0 || fcntl(c->fd, F_SETFL, flags | O_NONBLOCK) < 0) fail("fcntl");
        c->alive = 1;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) fail("epoll_ctl");
    }

    double start = now();
    double measure_from = start + warmup, measure_to = measure_from + duration;
    uint64_t messages = 0, warmup_messages = 0, mismatched = 0, errors = 0, bytes = 0;
    /* The machine's noise floor for the soak benchmark: the slowest echo, and the longest
     * time between two passes of this loop (nothing to do, or not scheduled). */
    double max_latency = 0, max_gap = 0;
    long alive = connections;
    for (long i = 0; i < connections; i++) {
        conns[i].started = start;
        start_message(&conns[i], (size_t)i);
        if (pump(ep, &conns[i]) < 0) {
            conns[i].alive = 0;
            close(conns[i].fd);
            errors++;
            alive--;
        }
    }

    struct epoll_event events[512];
    double t = now();
    while (t < measure_to && alive > 0) {
        int timeout_ms = (int)((measure_to - t) * 1000.0) + 1;
        int n = epoll_wait(ep, events, 512, timeout_ms);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (!c->alive) continue;
            int dead = 0;
            if (events[i].events & EPOLLOUT) dead = pump(ep, c) < 0;
            while (!dead && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
                size_t want = size - c->received;
                if (want > readsize) want = readsize;
                ssize_t got = recv(c->fd, readbuf, want, 0);
                if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                if (got < 0 && errno == EINTR) continue;
                if (got <= 0 || c->received + (size_t)got > c->sent) {
                    dead = 1; /* closed, reset, or echoed bytes never sent */
                    break;
                }
                const unsigned char *expected = pattern + c->offset + c->received;
                if (memcmp(readbuf, expected, (size_t)got) != 0)
                    mismatched += count_mismatches((unsigned char *)readbuf, expected,
                                                   (size_t)got);
                c->received += (size_t)got;
                if (c->received < size) continue;
                double done = now();
                if (done >= measure_from && done < measure_to) {
                    messages++;
                    bytes += size;
                    if (done - c->started > max_latency) max_latency = done - c->started;
                } else if (done < measure_from) {
                    warmup_messages++;
                }
                c->started = done;
                start_message(c, (size_t)(c - conns));
                dead = pump(ep, c) < 0;
                break; /* one message per event: fairness between connections */
            }
            if (dead) {
                c->alive = 0;
                close(c->fd);
                errors++;
                alive--;
            }
        }
        double previous = t;
        t = now();
        if (previous >= measure_from && t < measure_to && t - previous > max_gap)
            max_gap = t - previous;
    }
    double end = now();
    double elapsed = (end < measure_to ? end : measure_to) - measure_from;
    if (elapsed < 0) elapsed = 0;
    printf("{\"messages_per_second\": %.3f, \"messages\": %llu, \"elapsed_s\": %.6f, "
           "\"mismatched_bytes\": %llu, \"bytes\": %llu, \"warmup_messages\": %llu, "
           "\"connections\": %ld, \"size\": %zu, \"errors\": %llu, "
           "\"max_latency_us\": %.3f, \"max_gap_us\": %.3f}\n",
           elapsed > 0 ? (double)messages / elapsed : 0.0, (unsigned long long)messages, elapsed,
           (unsigned long long)mismatched, (unsigned long long)bytes,
           (unsigned long long)warmup_messages, connections, size, (unsigned long long)errors,
           max_latency * 1e6, max_gap * 1e6);
    return 0;
}
