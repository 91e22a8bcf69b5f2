/*
 * The host's own stalls on one CPU: a C loop that does nothing but read
 * CLOCK_MONOTONIC, and reports its longest gap between two readings.
 *
 * Usage: gaploop CPU SECONDS
 *
 * Prints one JSON object: {"seconds", "max_gap_us", "gaps_over_500us", "gaps_over_1ms",
 * "max_gap_per_second_us", "gaps"}: the longest gap in each whole second, to set
 * beside a client's largest send lag in each second, and every gap of 250 us or more
 * (up to 1000) as [CLOCK_MONOTONIC ns at its end, its length in us], for a kernel
 * trace of the same seconds to say what, if anything in the guest, made it.
 * Whatever stops this loop (the hypervisor taking the vCPU, an interrupt, another task)
 * stops any client on that CPU as long: it is the floor under a client's send lag.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define GAP_EVENT_NS 250000ull
#define GAPS_KEPT 1000

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: gaploop CPU SECONDS\n");
        return 2;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(atoi(argv[1]), &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
        perror("gaploop: sched_setaffinity");
        return 1;
    }
    double seconds = atof(argv[2]);
    uint64_t start = now_ns(), end = start + (uint64_t)(seconds * 1e9), prev = start;
    uint64_t max_gap = 0, over_half = 0, over_ms = 0, second_max = 0;
    uint64_t next_second = start + 1000000000ull;
    size_t whole = (size_t)seconds, n = 0;
    uint64_t *per_second = calloc(whole ? whole : 1, sizeof *per_second);
    uint64_t(*gaps)[2] = calloc(GAPS_KEPT, sizeof *gaps);
    size_t kept = 0;
    if (per_second == NULL || gaps == NULL) {
        perror("gaploop: calloc");
        return 1;
    }
    for (;;) {
        uint64_t t = now_ns();
        uint64_t gap = t - prev;
        if (gap > max_gap) max_gap = gap;
        if (gap > second_max) second_max = gap;
        if (t >= next_second) {
            if (n < whole) per_second[n++] = second_max;
            second_max = 0;
            next_second += 1000000000ull;
        }
        if (gap >= GAP_EVENT_NS && kept < GAPS_KEPT) {
            gaps[kept][0] = t;
            gaps[kept][1] = gap;
            kept++;
        }
        if (gap > 500000) over_half++;
        if (gap > 1000000) over_ms++;
        prev = t;
        if (t >= end) break;
    }
    printf("{\"seconds\": %.3f, \"max_gap_us\": %.1f, \"gaps_over_500us\": %llu, "
           "\"gaps_over_1ms\": %llu, \"max_gap_per_second_us\": [",
           (prev - start) / 1e9, max_gap / 1e3, (unsigned long long)over_half,
           (unsigned long long)over_ms);
    for (size_t i = 0; i < n; i++) printf("%s%.1f", i ? ", " : "", per_second[i] / 1e3);
    printf("], \"gaps\": [");
    for (size_t i = 0; i < kept; i++)
        printf("%s[%llu, %.1f]", i ? ", " : "", (unsigned long long)gaps[i][0], gaps[i][1] / 1e3);
    printf("]}\n");
    free(per_second);
    free(gaps);
    return 0;
}
