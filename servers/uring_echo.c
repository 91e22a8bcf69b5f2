/*
 * echobench "uring-native" backend: an io_uring echo server on liburing, the
 * completion-based counterpart of native_echo.c (its epoll ceiling).
 *
 * Usage:
 *   uring_echo --listen-fd FD [--buffers N] [--taskrun defer|coop|signal]
 *       serve a listener inherited from echobench (the modes: see uring_python.py)
 *
 * Honours the echobench contract: prints one "READY host:port" line (or "READY
 * unix:PATH") once its accept is armed; echoes every byte in order; on the peer's EOF
 * sends what it holds, then closes; a reset ends only that connection; SIGTERM or
 * SIGINT exits 0 promptly.
 *
 * Nothing waits for readiness: the kernel completes a multishot accept, receives and
 * sends. A receive names no buffer: the kernel picks one from a provided-buffer ring
 * when data arrives, so an idle connection pins no memory, and the echo is sent from
 * that same buffer. Each connection has at most one receive and one send in flight; a
 * receive that completes while its send is still in flight is held, and no receive is
 * armed until that send completes, so a peer that does not read our echoes stops being
 * read with at most two buffers held for it (flow control). When the ring runs dry a
 * receive completes with ENOBUFS and its connection waits in line for the next buffer
 * given back. The same design as uring_python.py, in C.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "echo_common.h"

#define BUF_SIZE 65536
#define DEFAULT_BUFFERS 256
#define RING_ENTRIES 1024
#define CQ_ENTRIES 8192
#define GROUP 0

/* What a completion is for: the low bits of its user_data (the rest is a conn pointer). */
enum op { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3, OP_SIGNAL = 4 };
#define OP_MASK 7u

struct conn {
    int fd;
    int receiving, sending, eof, open, in_line;
    int send_bid, held_bid; /* buffer ids, -1 when none */
    unsigned send_off, send_len, held_len;
    struct conn *next_starved;
};

static struct io_uring ring;
static struct io_uring_buf_ring *buffer_ring;
static char *buffers;
static unsigned buffer_count = DEFAULT_BUFFERS;
static int listener = -1, accepting = 0, stopping = 0;
static struct conn *starved_head, *starved_tail;
static struct signalfd_siginfo signal_info;

static struct io_uring_sqe *get_sqe(void) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    while (sqe == NULL) { /* the queue is full: hand it to the kernel, then take a slot */
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
    }
    return sqe;
}

static void arm_accept(void) {
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_multishot_accept(sqe, listener, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, OP_ACCEPT);
    accepting = 1;
}

static void arm_recv(struct conn *c) {
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_recv(sqe, c->fd, NULL, BUF_SIZE, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = GROUP;
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | OP_RECV);
    c->receiving = 1;
}

static void arm_send(struct conn *c) {
    struct io_uring_sqe *sqe = get_sqe();
    char *data = buffers + (size_t)c->send_bid * BUF_SIZE + c->send_off;
    io_uring_prep_send(sqe, c->fd, data, c->send_len - c->send_off, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | OP_SEND);
    c->sending = 1;
}

static void send_buffer(struct conn *c, int bid, unsigned len) {
    c->send_bid = bid;
    c->send_off = 0;
    c->send_len = len;
    arm_send(c);
}

static void arm_signal(int sfd) {
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_read(sqe, sfd, &signal_info, sizeof signal_info, 0);
    io_uring_sqe_set_data64(sqe, OP_SIGNAL);
}

/* Give a buffer back to the ring, and a receive to the first connection waiting for one. */
static void give_back(int bid) {
    io_uring_buf_ring_add(buffer_ring, buffers + (size_t)bid * BUF_SIZE, BUF_SIZE, bid,
                          io_uring_buf_ring_mask(buffer_count), 0);
    io_uring_buf_ring_advance(buffer_ring, 1);
    while (starved_head != NULL) {
        struct conn *waiting = starved_head;
        starved_head = waiting->next_starved;
        if (starved_head == NULL) starved_tail = NULL;
        waiting->next_starved = NULL;
        waiting->in_line = 0;
        if (waiting->open && !waiting->eof && !waiting->receiving) {
            arm_recv(waiting);
            break;
        }
        if (!waiting->open) free(waiting); /* closed while it waited in line */
    }
}

static void starve(struct conn *c) {
    c->next_starved = NULL;
    c->in_line = 1;
    if (starved_tail != NULL) starved_tail->next_starved = c;
    else starved_head = c;
    starved_tail = c;
}

/* Close a connection at EOF once nothing of it is in flight or held. */
static void settle(struct conn *c) {
    if (!c->eof || c->receiving || c->sending || c->held_bid >= 0 || !c->open) return;
    close(c->fd);
    c->open = 0;
    if (!c->in_line) free(c); /* else give_back frees it when it reaches the front */
    if (!accepting && !stopping) arm_accept(); /* an fd came free */
}

/* A reset or failed send: wake whatever is in flight and drop what is held. */
static void abort_conn(struct conn *c) {
    c->eof = 1;
    if (c->held_bid >= 0) {
        give_back(c->held_bid);
        c->held_bid = -1;
    }
    shutdown(c->fd, SHUT_RDWR);
}

static void on_accept(int res, int more) {
    if (!more) accepting = 0;
    if (res < 0) {
        /* Out of fds: accept again once a connection closes, not in a busy loop. */
        if (!more && res != -EMFILE && res != -ENFILE && !stopping) arm_accept();
        return;
    }
    set_nodelay_if_tcp(res);
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        close(res);
        return;
    }
    c->fd = res;
    c->open = 1;
    c->send_bid = c->held_bid = -1;
    arm_recv(c);
    if (!accepting && !stopping) arm_accept();
}

static void on_recv(struct conn *c, int res, unsigned flags) {
    c->receiving = 0;
    if (res > 0) {
        int bid = (int)(flags >> IORING_CQE_BUFFER_SHIFT);
        if (c->eof) { /* aborted meanwhile: nobody to echo to */
            give_back(bid);
        } else if (c->sending) {
            c->held_bid = bid; /* at most one send in flight per connection */
            c->held_len = (unsigned)res;
            return;
        } else {
            send_buffer(c, bid, (unsigned)res);
            arm_recv(c);
            return;
        }
    } else if (res == -ENOBUFS) {
        starve(c);
        return;
    } else if (res == 0) {
        c->eof = 1;
    } else {
        abort_conn(c);
    }
    settle(c);
}

static void on_send(struct conn *c, int res) {
    c->sending = 0;
    if (res < 0) {
        give_back(c->send_bid);
        c->send_bid = -1;
        abort_conn(c);
        settle(c);
        return;
    }
    c->send_off += (unsigned)res;
    if (c->send_off < c->send_len) {
        arm_send(c);
        return;
    }
    give_back(c->send_bid);
    c->send_bid = -1;
    if (c->held_bid >= 0) {
        int bid = c->held_bid;
        c->held_bid = -1;
        send_buffer(c, bid, c->held_len);
        if (!c->eof) arm_recv(c);
        return;
    }
    settle(c);
}

static void setup_buffers(void) {
    size_t ring_size = buffer_count * sizeof(struct io_uring_buf);
    buffer_ring = mmap(NULL, ring_size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (buffer_ring == MAP_FAILED) die("mmap buffer ring");
    /* Untouched until the kernel first fills a buffer: memory follows the load. */
    buffers = mmap(NULL, (size_t)buffer_count * BUF_SIZE, PROT_READ | PROT_WRITE,
                   MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (buffers == MAP_FAILED) die("mmap buffers");
    struct io_uring_buf_reg reg = {
        .ring_addr = (uint64_t)(uintptr_t)buffer_ring, .ring_entries = buffer_count, .bgid = GROUP};
    int rc = io_uring_register_buf_ring(&ring, &reg, 0);
    if (rc < 0) {
        errno = -rc;
        die("io_uring_register_buf_ring");
    }
    io_uring_buf_ring_init(buffer_ring);
    for (unsigned i = 0; i < buffer_count; i++)
        io_uring_buf_ring_add(buffer_ring, buffers + (size_t)i * BUF_SIZE, BUF_SIZE, i,
                              io_uring_buf_ring_mask(buffer_count), i);
    io_uring_buf_ring_advance(buffer_ring, buffer_count);
}

/* The task-work mode asked for, or the next one this kernel accepts (defer: 6.1, coop: 5.19). */
static void setup_ring(int mode) {
    static const unsigned modes[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, IORING_SETUP_COOP_TASKRUN, 0};
    int rc = -EINVAL;
    for (; mode < 3; mode++) {
        struct io_uring_params params;
        memset(&params, 0, sizeof params);
        params.flags = IORING_SETUP_CQSIZE | modes[mode];
        params.cq_entries = CQ_ENTRIES;
        rc = io_uring_queue_init_params(RING_ENTRIES, &ring, &params);
        if (rc != -EINVAL) break;
    }
    if (rc < 0) {
        errno = -rc;
        die("io_uring_queue_init");
    }
}

int main(int argc, char **argv) {
    echo_program = "uring_echo";
    int mode = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--listen-fd") == 0) listener = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--buffers") == 0) buffer_count = (unsigned)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--taskrun") == 0)
            mode = strcmp(argv[i + 1], "defer") == 0  ? 0
                   : strcmp(argv[i + 1], "coop") == 0 ? 1
                   : strcmp(argv[i + 1], "signal") == 0 ? 2
                                                        : -1;
    }
    if (listener < 0 || argc % 2 == 0 || buffer_count < 2 || buffer_count > 32768 ||
        (buffer_count & (buffer_count - 1)) || mode < 0) {
        fprintf(stderr, "usage: %s --listen-fd FD [--buffers POWER_OF_TWO] [--taskrun defer|coop|signal]\n",
                argv[0]);
        return 2;
    }
    fcntl(listener, F_SETFD, FD_CLOEXEC);
    raise_fd_limit();

    int sfd = stop_signal_fd();

    setup_ring(mode);
    setup_buffers();
    arm_signal(sfd);
    arm_accept();
    io_uring_submit(&ring);
    char *unix_path = announce(listener);

    while (!stopping) {
        int rc = io_uring_submit_and_wait(&ring, 1);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
            errno = -rc;
            die("io_uring_submit_and_wait");
        }
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            uint64_t data = io_uring_cqe_get_data64(cqe);
            struct conn *c = (struct conn *)(uintptr_t)(data & ~(uint64_t)OP_MASK);
            switch (data & OP_MASK) {
            case OP_ACCEPT:
                on_accept(cqe->res, (cqe->flags & IORING_CQE_F_MORE) != 0);
                break;
            case OP_RECV:
                on_recv(c, cqe->res, cqe->flags);
                break;
            case OP_SEND:
                on_send(c, cqe->res);
                break;
            case OP_SIGNAL:
                stopping = 1;
                break;
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
    /* Exiting closes the ring, which cancels what is in flight, and every socket. */
    close(listener);
    if (unix_path != NULL) unlink(unix_path);
    return 0;
}
