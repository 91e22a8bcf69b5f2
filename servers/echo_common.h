/*
 * What echobench's two C echo servers share (native_echo.c, uring_echo.c): the
 * contract's READY line, the fd limit, the stop signals, and a fatal error. Header-only: each server
 * is one translation unit, compiled and cached by echobench.servers._cbuild, which
 * hashes this file with the source.
 */
#ifndef ECHOBENCH_ECHO_COMMON_H
#define ECHOBENCH_ECHO_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>

static const char *echo_program = "echo";

static void die(const char *what) {
    fprintf(stderr, "%s: %s: %s\n", echo_program, what, strerror(errno));
    exit(1);
}

static void raise_fd_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Print the READY line; returns the Unix socket path to unlink at exit, if any. */
static char *announce(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN];
    char *unix_path = NULL;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) die("getsockname");
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
        printf("READY %s:%u\n", host, ntohs(sin->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
        printf("READY [%s]:%u\n", host, ntohs(sin6->sin6_port));
    } else if (ss.ss_family == AF_UNIX) {
        struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
        unix_path = strdup(sun->sun_path);
        printf("READY unix:%s\n", sun->sun_path);
    } else {
        fprintf(stderr, "%s: unsupported address family %d\n", echo_program, ss.ss_family);
        exit(2);
    }
    fflush(stdout);
    return unix_path;
}

/* TCP_NODELAY on an accepted TCP connection, as every backend sets; a no-op on Unix sockets. */
static void set_nodelay_if_tcp(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
        (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
}

/* SIGTERM and SIGINT as a readable fd, so that no signal is lost between two waits. */
static int stop_signal_fd(void) {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    signal(SIGTERM, SIG_DFL); /* an inherited SIG_IGN would discard them */
    signal(SIGINT, SIG_DFL);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) die("sigprocmask");
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) die("signalfd");
    return sfd;
}

#endif
