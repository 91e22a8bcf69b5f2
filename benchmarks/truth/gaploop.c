/*
 * The host's own stalls on one CPU: a C loop that does nothing but read
 * CLOCK_MONOTONIC, and reports its longest gap between two readings.
 *
 * Usage: gaploop CPU SECONDS
 *
 * Prints one JSON object: {"seconds", "max_gap_us", "gaps_over_500us", "gaps_over_1ms",
 * "max_gap_per_second_us"}: the last, the longest gap in each whole second, to set
 * beside a client's largest send lag in each second.
 * Whatever stops this loop (the hypervisor taking the vCPU, an interrupt, another task)
 * stops any client on that CPU as long: it is the floor under a client's send lag.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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
    if (per_second == NULL) {
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
    printf("]}\n");
    free(per_second);
    return 0;
}
