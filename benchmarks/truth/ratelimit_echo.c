/*
 * echobench's rate-limited echo server: a server whose capacity is known exactly.
 *
 * Usage: ratelimit_echo BYTES_PER_S DELAY_US BURST_US [CPU]
 *        ratelimit_echo --listen-fd FD BYTES_PER_S DELAY_US BURST_US
 *
 * Listens on 127.0.0.1, a free port (or serves a listener inherited from ``echobench
 * serve``: the ``ratelimited`` backend of ``backends/``), and prints "READY HOST:PORT";
 * SIGTERM or SIGINT end it with status 0. One FIFO queue shared by every connection
 * serves BYTES_PER_S bytes a second in arrival order, with a burst tolerance of
 * BURST_US (a token bucket, GCRA's form of it): a chunk of n bytes read at t leaves
 * service at max(t, max(end of the previous chunk's service, t - BURST_US) +
 * n / BYTES_PER_S), and is echoed DELAY_US after that. So its capacity is exactly
 * BYTES_PER_S over any stretch longer than the burst: below it a message waits only
 * the delay (a burst the client sends after a stall of its own is absorbed, as the
 * parallelism of a real server absorbs it, rather than queued); past it the queue
 * grows without bound. The queue empties when no connection is open, so one server
 * serves a whole sweep of runs.
 *
 * Event-driven, with no timer tick: while anything waits for its time the loop polls
 * epoll without blocking and reads CLOCK_MONOTONIC, so an echo leaves within
 * microseconds of its due time (a server on a 1 ms timer would add up to 1 ms to
 * every message, and its own floor would dominate a sub-millisecond target). With
 * nothing queued it blocks in epoll_wait. CPU pins the process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 65536
#define BUFFER (1 << 20)

struct conn {
    int open;
    unsigned char *data; /* bytes read, not yet echoed: a ring of BUFFER bytes */
    size_t head, size;
    uint64_t generation; /* a reused fd's queue entries are not its new connection's */
};

struct entry {
    uint64_t due;
    int fd;
    uint64_t generation;
    size_t bytes;
};

static struct conn conns[MAX_FDS];
static struct entry *queue;
static size_t queue_head, queue_len, queue_cap;
static uint64_t busy_until, generation;
static double ns_per_byte;
static uint64_t delay_ns, burst_ns;
static int open_conns;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void fail(const char *what) {
    fprintf(stderr, "ratelimit_echo: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void push(uint64_t due, int fd, size_t bytes) {
    if (queue_len == queue_cap) {
        size_t cap = queue_cap ? queue_cap * 2 : 4096;
        struct entry *grown = malloc(cap * sizeof *grown);
        if (!grown) fail("malloc");
        for (size_t i = 0; i < queue_len; i++) grown[i] = queue[(queue_head + i) % queue_cap];
        free(queue);
        queue = grown;
        queue_cap = cap;
        queue_head = 0;
    }
    queue[(queue_head + queue_len) % queue_cap] =
        (struct entry){due, fd, conns[fd].generation, bytes};
    queue_len++;
}

static void close_conn(int ep, int fd) {
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    conns[fd].open = 0;
    conns[fd].size = 0;
    if (--open_conns == 0) busy_until = 0; /* an idle server starts the next run empty */
}

static void on_readable(int ep, int fd) {
    struct conn *c = &conns[fd];
    for (;;) {
        size_t room = BUFFER - c->size;
        if (room == 0) return; /* the client sends far past the capacity: let TCP push back */
        size_t tail = (c->head + c->size) % BUFFER;
        size_t span = tail + room > BUFFER ? BUFFER - tail : room;
        ssize_t n = read(fd, c->data + tail, span);
        if (n > 0) {
            c->size += (size_t)n;
            uint64_t t = now_ns();
            uint64_t credit = t > burst_ns ? t - burst_ns : 0;
            uint64_t start = busy_until > credit ? busy_until : credit;
            busy_until = start + (uint64_t)((double)n * ns_per_byte);
            push((busy_until > t ? busy_until : t) + delay_ns, fd, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n < 0 && errno == EINTR) continue;
        close_conn(ep, fd);
        return;
    }
}

static void echo(int ep, int fd, size_t bytes) {
    struct conn *c = &conns[fd];
    while (bytes > 0 && c->open) {
        size_t span = c->head + bytes > BUFFER ? BUFFER - c->head : bytes;
        ssize_t n = write(fd, c->data + c->head, span);
        if (n > 0) {
            c->head = (c->head + (size_t)n) % BUFFER;
            c->size -= (size_t)n;
            bytes -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* Rare on loopback: wait for room, as late as that makes the echo. */
            struct pollfd room = {.fd = fd, .events = POLLOUT};
            if (poll(&room, 1, 1000) <= 0) break; /* a client that stopped reading */
            continue;
        }
        close_conn(ep, fd);
        return;
    }
}

static void release(int ep) {
    while (queue_len > 0) {
        struct entry *e = &queue[queue_head];
        if (e->due > now_ns()) return;
        struct entry due = *e;
        queue_head = (queue_head + 1) % queue_cap;
        queue_len--;
        if (conns[due.fd].open && conns[due.fd].generation == due.generation)
            echo(ep, due.fd, due.bytes);
    }
}

static void stop(int signum) {
    (void)signum;
    _exit(0);
}

int main(int argc, char **argv) {
    int inherited = argc == 6 && strcmp(argv[1], "--listen-fd") == 0;
    if (argc < 4 || (strcmp(argv[1], "--listen-fd") == 0 && !inherited)) {
        fprintf(stderr, "usage: ratelimit_echo BYTES_PER_S DELAY_US BURST_US [CPU] | "
                        "--listen-fd FD BYTES_PER_S DELAY_US BURST_US\n");
        return 2;
    }
    char **params = inherited ? argv + 3 : argv + 1;
    double rate = atof(params[0]);
    if (rate <= 0) {
        fprintf(stderr, "ratelimit_echo: BYTES_PER_S must be positive\n");
        return 2;
    }
    ns_per_byte = 1e9 / rate;
    delay_ns = (uint64_t)(atof(params[1]) * 1000.0);
    burst_ns = (uint64_t)(atof(params[2]) * 1000.0);
    signal(SIGTERM, stop);
    signal(SIGINT, stop);
    signal(SIGPIPE, SIG_IGN);
    if (!inherited && argc > 4) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(atoi(argv[4]), &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) fail("sched_setaffinity");
    }
    int one = 1;
    int listener;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (inherited) {
        listener = atoi(argv[2]);
        fcntl(listener, F_SETFL, fcntl(listener, F_GETFL) | O_NONBLOCK);
    } else {
        listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (listener < 0) fail("socket");
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0) fail("bind");
        if (listen(listener, 1024) != 0) fail("listen");
    }
    socklen_t len = sizeof addr;
    if (getsockname(listener, (struct sockaddr *)&addr, &len) != 0) fail("getsockname");
    int ep = epoll_create1(0);
    if (ep < 0) fail("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener};
    epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &addr.sin_addr, host, sizeof host);
    printf("READY %s:%d\n", host, ntohs(addr.sin_port));
    fflush(stdout);
    struct epoll_event events[256];
    for (;;) {
        /* Something due soon: poll without blocking; else sleep until a socket wakes us. */
        int n = epoll_wait(ep, events, 256, queue_len > 0 ? 0 : -1);
        if (n < 0 && errno != EINTR) fail("epoll_wait");
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == listener) {
                for (;;) {
                    int c = accept4(listener, NULL, NULL, SOCK_NONBLOCK);
                    if (c < 0) break;
                    if (c >= MAX_FDS) {
                        close(c);
                        continue;
                    }
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    if (!conns[c].data && !(conns[c].data = malloc(BUFFER))) fail("malloc");
                    conns[c].open = 1;
                    conns[c].head = conns[c].size = 0;
                    conns[c].generation = ++generation;
                    open_conns++;
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
            } else if (conns[fd].open) {
                on_readable(ep, fd);
            }
        }
        release(ep);
    }
}
