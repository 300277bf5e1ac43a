/* Shared helpers of the C baselines: the clock, percentiles and the output.
 * Every baseline prints its raw samples on stdout, one integer (nanoseconds) per line, so the managed
 * driver computes every percentile with one rule; a human summary goes to stderr. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* With BENCH_PIN=1 (the driver sets it when the machine has 2+ CPUs): the measuring thread runs on the
 * last CPU and helper threads (readers) on CPU 0, as the managed side pins its data-path thread and
 * event thread. pin_to(-1) means the last CPU. */
static inline int pinning(void)
{
    const char *e = getenv("BENCH_PIN");
    return e != NULL && strcmp(e, "1") == 0 && sysconf(_SC_NPROCESSORS_ONLN) >= 2;
}

static inline void pin_to(int cpu)
{
    if (!pinning())
        return;
    if (cpu < 0)
        cpu = (int)sysconf(_SC_NPROCESSORS_ONLN) - 1;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        perror("sched_setaffinity");
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples, p in [0, 100]. The managed side uses the same rule. */
static inline int64_t percentile(const int64_t *sorted, int n, double p)
{
    if (n <= 0)
        return 0;
    int rank = (int)((p / 100.0) * n + 0.999999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

static inline void report(const char *name, int64_t *samples_ns, int n)
{
    for (int i = 0; i < n; i++)
        printf("%lld\n", (long long)samples_ns[i]);
    fflush(stdout);
    qsort(samples_ns, (size_t)n, sizeof *samples_ns, cmp_i64);
    fprintf(stderr, "%s: median %.3f us, p99 %.3f us, n %d\n", name,
            percentile(samples_ns, n, 50) / 1000.0, percentile(samples_ns, n, 99) / 1000.0, n);
}

static inline void die(const char *what)
{
    perror(what);
    exit(2);
}

#endif
