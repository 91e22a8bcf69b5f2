/*
 * When a CPU was taken from everything at normal priority: a thread at real-time
 * priority that sleeps to a fixed grid of wakeups and records how late each came.
 *
 * Usage: stopprobe CPU PERIOD_US
 *
 * Runs until SIGTERM or SIGINT, then prints one JSON object: {"period_us", "seconds",
 * "wakeups", "late_p50_us", "late_p99_us", "late_max_us", "policy", "late_us",
 * "dropped", "late_at_least_us", "gaps"}, where "gaps" lists
 * every wakeup LATE_US or more behind its grid point (up to GAPS_KEPT) as
 * [CLOCK_MONOTONIC ns it was due, ns it ran]. At SCHED_FIFO it runs the moment its
 * timer fires unless the CPU cannot take the timer's interrupt or run it: the
 * hypervisor has stopped the vCPU (which steal may not count), or interrupts, their
 * soft work or a real-time task hold it. None of those is the work of a task at normal
 * priority on that CPU, and any such task is held off as long, so a late wakeup is a
 * stretch in which a load client beside it could not run, whatever else the guest's
 * trace shows. It costs that task one short switch a period.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

/* Well past an on-time wakeup's lateness (p99 27-50 us here) and past what one
 * soft interrupt of a loopback send takes (a few us): the tick's rule in
 * _schedtrace.py. */
#define LATE_US 100ull
#define GAPS_KEPT 200000
#define BUCKETS 100000 /* lateness histogram, 1 us buckets; the last holds the rest */

static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

static uint64_t ns_of(const struct timespec *ts) {
    return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

static void ts_of(uint64_t ns, struct timespec *ts) {
    ts->tv_sec = (time_t)(ns / 1000000000ull);
    ts->tv_nsec = (long)(ns % 1000000000ull);
}

static uint64_t at_least(const uint32_t *hist, size_t us) {
    uint64_t n = 0;
    for (size_t i = us; i < BUCKETS; i++) n += hist[i];
    return n;
}

static double quantile(const uint32_t *hist, uint64_t total, double q) {
    uint64_t rank = (uint64_t)(q * (double)total), seen = 0;
    for (size_t i = 0; i < BUCKETS; i++) {
        seen += hist[i];
        if (seen > rank) return (double)i;
    }
    return (double)(BUCKETS - 1);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: stopprobe CPU PERIOD_US\n");
        return 2;
    }
    /* It runs until told to stop: a caller killed before it could say so must not leave
     * it behind, at real-time priority, for good. */
    pid_t parent = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) return 1;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(atoi(argv[1]), &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
        perror("stopprobe: sched_setaffinity");
        return 1;
    }
    uint64_t period = (uint64_t)(atof(argv[2]) * 1000.0);
    if (period < 10000) {
        fprintf(stderr, "stopprobe: a period under 10 us would be the CPU's main work\n");
        return 2;
    }
    const char *policy = "SCHED_FIFO";
    struct sched_param param = {.sched_priority = 1};
    if (sched_setscheduler(0, SCHED_FIFO, &param) != 0) policy = "SCHED_OTHER (not permitted)";
    /* A page fault in the loop would read as a late wakeup of its own making. */
    mlockall(MCL_CURRENT | MCL_FUTURE);
    uint32_t *hist = calloc(BUCKETS, sizeof *hist);
    uint64_t(*gaps)[2] = calloc(GAPS_KEPT, sizeof *gaps);
    if (hist == NULL || gaps == NULL) {
        perror("stopprobe: calloc");
        return 1;
    }
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = on_signal;
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);
    /* Ready: the caller waits for this line before it starts what is measured. */
    printf("ready\n");
    fflush(stdout);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t started = ns_of(&ts), due = started + period, wakeups = 0, late_max = 0;
    size_t kept = 0, dropped = 0;
    while (!stopping) {
        ts_of(due, &ts);
        int rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        if (rc == EINTR) continue;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t now = ns_of(&ts);
        uint64_t late = now > due ? now - due : 0;
        uint64_t us = late / 1000;
        hist[us < BUCKETS ? us : BUCKETS - 1]++;
        wakeups++;
        if (late > late_max) late_max = late;
        if (us >= LATE_US) {
            if (kept < GAPS_KEPT) {
                gaps[kept][0] = due;
                gaps[kept][1] = now;
                kept++;
            } else {
                dropped++;
            }
        }
        /* After a stop, the next wakeup is the next grid point still ahead, not a
         * burst of the ones missed. */
        due += period;
        if (due <= now) due += ((now - due) / period + 1) * period;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double seconds = (ns_of(&ts) - started) / 1e9;
    printf("{\"period_us\": %.1f, \"seconds\": %.3f, \"wakeups\": %llu, "
           "\"late_p50_us\": %.0f, "
           "\"late_p99_us\": %.0f, \"late_max_us\": %.1f, \"policy\": \"%s\", "
           "\"late_us\": %llu, \"dropped\": %zu, \"late_at_least_us\": {\"50\": %llu, "
           "\"100\": %llu, \"250\": %llu, \"1000\": %llu}, \"gaps\": [",
           period / 1e3, seconds, (unsigned long long)wakeups, quantile(hist, wakeups, 0.5),
           quantile(hist, wakeups, 0.99), late_max / 1e3, policy, LATE_US, dropped,
           (unsigned long long)at_least(hist, 50), (unsigned long long)at_least(hist, 100),
           (unsigned long long)at_least(hist, 250), (unsigned long long)at_least(hist, 1000));
    for (size_t i = 0; i < kept; i++)
        printf("%s[%llu, %llu]", i ? ", " : "", (unsigned long long)gaps[i][0],
               (unsigned long long)gaps[i][1]);
    printf("]}\n");
    return 0;
}
