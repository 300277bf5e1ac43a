/*
 * The floor of the data path: 32-bit volatile reads through a raw pointer into a mapped memfd "BAR"
 * (1 MiB, MAP_SHARED), the same access pattern as the managed figure: 1,024 reads per batch at
 * offsets (i * 64) & 0xFFF (one read per cache line of the first page, repeated).
 *
 *   datapath <samples> <batches-per-sample>
 *
 * Sample = the time of one batch of 1,024 reads (the mean over batches-per-sample batches).
 */
#include "bench_common.h"

#include <sys/mman.h>
#include <unistd.h>

#define READS 1024

__attribute__((noinline)) static uint32_t batch(volatile uint32_t *bar)
{
    uint32_t sum = 0;
    for (int i = 0; i < READS; i++)
        sum += bar[((i * 64) & 0xFFF) / 4];
    return sum;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s <samples> <batches-per-sample>\n", argv[0]);
        return 2;
    }
    pin_to(-1);
    int n = atoi(argv[1]), per = atoi(argv[2]);
    size_t len = 1 << 20;
    int fd = memfd_create("baseline-bar", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)len) != 0)
        die("memfd");
    volatile uint32_t *bar = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if ((void *)bar == MAP_FAILED)
        die("mmap");
    volatile uint32_t sink = 0;
    int64_t warm_until = now_ns() + 200000000LL;
    while (now_ns() < warm_until)
        sink += batch(bar);
    int64_t *samples = calloc((size_t)n, sizeof *samples);
    for (int s = 0; s < n; s++) {
        int64_t t0 = now_ns();
        for (int b = 0; b < per; b++)
            sink += batch(bar);
        samples[s] = (now_ns() - t0) / per;
    }
    report("datapath raw pointer x1024", samples, n);
    return 0;
}
