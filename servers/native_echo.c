/*
 * echobench "native" backend: a small epoll echo server, the machine's ceiling.
 *
 * Usage:
 *   native_echo HOST PORT [BACKLOG]   bind and listen itself (SO_REUSEADDR)
 *   native_echo --listen-fd FD        serve a listener inherited from echobench
 *
 * Honours the echobench contract: prints one "READY host:port" line (or
 * "READY unix:PATH") once listening; echoes every byte in order; stops reading
 * a connection whose output is backed up above HIGH_WATER and resumes below
 * LOW_WATER; on the peer's EOF flushes what it holds, then closes; a reset ends
 * only that connection; SIGTERM or SIGINT exits 0 promptly.
 *
 * Level-triggered epoll, one read per readiness event so that no connection
 * starves the others; memory per idle connection is one small struct (the
 * output buffer is allocated only when a write comes up short).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "echo_common.h"

#define READ_SIZE 65536
#define HIGH_WATER (256 * 1024)
#define LOW_WATER (64 * 1024)
#define MAX_EVENTS 512

struct conn {
    int fd;
    int reading;   /* EPOLLIN is registered */
    int writing;   /* EPOLLOUT is registered */
    int eof;       /* peer shut its side: flush, then close */
    char *buf;     /* pending output: buf[start, end) */
    size_t start, end, cap;
};

/* Tags for the two non-connection fds in the epoll set. */
static char listener_tag, signal_tag;
static char scratch[READ_SIZE];
static int spare_fd = -1;

static int set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL, 0);
    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static int bind_listener(const char *host, const char *port, int backlog) {
    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "native_echo: cannot resolve %s: %s\n", host, gai_strerror(rc));
        exit(2);
    }
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) die("bind");
    if (listen(fd, backlog) < 0) die("listen");
    freeaddrinfo(res);
    return fd;
}

static void update_events(int ep, struct conn *c, int reading, int writing) {
    if (c->reading == reading && c->writing == writing) return;
    struct epoll_event ev;
    ev.events = (reading ? EPOLLIN : 0) | (writing ? EPOLLOUT : 0);
    ev.data.ptr = c;
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->reading = reading;
    c->writing = writing;
}

static void close_conn(struct conn *c) {
    close(c->fd); /* also removes it from the epoll set */
    free(c->buf);
    free(c);
}

/* Queue bytes a write could not take; the buffer grows at most to HIGH_WATER + READ_SIZE. */
static int queue(struct conn *c, const char *data, size_t n) {
    if (c->start > 0 && c->end + n > c->cap) {
        memmove(c->buf, c->buf + c->start, c->end - c->start);
        c->end -= c->start;
        c->start = 0;
    }
    if (c->end + n > c->cap) {
        size_t cap = c->cap ? c->cap : READ_SIZE;
        while (cap < c->end + n) cap *= 2;
        char *buf = realloc(c->buf, cap);
        if (buf == NULL) return -1;
        c->buf = buf;
        c->cap = cap;
    }
    memcpy(c->buf + c->end, data, n);
    c->end += n;
    return 0;
}

/* Write what is pending; returns -1 when the connection is dead. */
static int flush(struct conn *c) {
    while (c->start < c->end) {
        ssize_t n = send(c->fd, c->buf + c->start, c->end - c->start, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            return -1;
        }
        c->start += (size_t)n;
    }
    if (c->start == c->end) {
        c->start = c->end = 0;
        if (c->cap > READ_SIZE) { /* give back what a burst grew */
            free(c->buf);
            c->buf = NULL;
            c->cap = 0;
        }
    }
    return 0;
}

static void settle(int ep, struct conn *c) {
    size_t pending = c->end - c->start;
    if (c->eof && pending == 0) {
        close_conn(c);
        return;
    }
    int reading = c->reading;
    if (c->eof || pending > HIGH_WATER) reading = 0;
    else if (pending <= LOW_WATER) reading = 1;
    update_events(ep, c, reading, pending > 0);
}

static void on_readable(int ep, struct conn *c) {
    ssize_t n = recv(c->fd, scratch, sizeof scratch, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        close_conn(c);
        return;
    }
    if (n == 0) {
        c->eof = 1;
        settle(ep, c);
        return;
    }
    size_t offset = 0;
    if (c->start == c->end) { /* nothing queued: write straight through */
        while (offset < (size_t)n) {
            ssize_t w = send(c->fd, scratch + offset, (size_t)n - offset, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                close_conn(c);
                return;
            }
            offset += (size_t)w;
        }
    }
    if (offset < (size_t)n && queue(c, scratch + offset, (size_t)n - offset) < 0) {
        close_conn(c);
        return;
    }
    settle(ep, c);
}

static void on_writable(int ep, struct conn *c) {
    if (flush(c) < 0) {
        close_conn(c);
        return;
    }
    settle(ep, c);
}

static void accept_all(int ep, int listener) {
    for (;;) {
        int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR) continue;
            if ((errno == EMFILE || errno == ENFILE) && spare_fd >= 0) {
                /* Out of fds: accept and drop one, or level-triggered epoll spins. */
                close(spare_fd);
                fd = accept(listener, NULL, NULL);
                if (fd >= 0) close(fd);
                spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                continue;
            }
            return; /* EAGAIN, or a connection that died in the queue */
        }
        set_nodelay_if_tcp(fd);
        struct conn *c = calloc(1, sizeof *c);
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->reading = 1;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) close_conn(c);
    }
}

int main(int argc, char **argv) {
    echo_program = "native_echo";
    int listener;
    if (argc == 3 && strcmp(argv[1], "--listen-fd") == 0) {
        listener = atoi(argv[2]);
        fcntl(listener, F_SETFD, FD_CLOEXEC);
    } else if (argc == 3 || argc == 4) {
        listener = bind_listener(argv[1], argv[2], argc == 4 ? atoi(argv[3]) : 1024);
    } else {
        fprintf(stderr, "usage: %s HOST PORT [BACKLOG] | --listen-fd FD\n", argv[0]);
        return 2;
    }
    if (set_nonblocking(listener) < 0) die("listener");
    raise_fd_limit();
    spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

    /* A signalfd in the epoll set: no race between a signal and epoll_wait. */
    int sfd = stop_signal_fd();

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listener_tag};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev) < 0) die("epoll_ctl listener");
    ev.data.ptr = &signal_tag;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) < 0) die("epoll_ctl signalfd");

    char *unix_path = announce(listener);

    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, events, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            void *tag = events[i].data.ptr;
            if (tag == &signal_tag) goto stop;
            if (tag == &listener_tag) {
                accept_all(ep, listener);
                continue;
            }
            struct conn *c = tag;
            uint32_t e = events[i].events;
            /* Writes first: that frees buffer space before more is read. */
            if (e & EPOLLOUT) {
                if (flush(c) < 0) {
                    close_conn(c);
                    /* A later event in this batch may name c; epoll never repeats an fd in one batch. */
                    continue;
                }
                if (!(e & (EPOLLIN | EPOLLERR | EPOLLHUP)) || !c->reading) {
                    settle(ep, c);
                    continue;
                }
            }
            if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                if (c->reading) on_readable(ep, c);
                else on_writable(ep, c);
            }
        }
    }
stop:
    close(listener);
    if (unix_path != NULL) unlink(unix_path);
    return 0;
}
