/*
 * The floors of the DMA figures, in C. Sample = the time of 1,000 operations (the mean over a batch of
 * ops-per-sample), so the figure's "microseconds" read as nanoseconds per operation:
 *
 *   dma pool <samples> <ops-per-sample>    pop + push of a pthread-mutex-protected LIFO free list of 64
 *                                          2 KiB buffers carved from one 4 KiB-page mapping (what DmaPool
 *                                          Rent + Return do, less the bookkeeping)
 *   dma iova <samples> <ops-per-sample>    bounds-checked iova = base + offset of a 2 KiB buffer
 *   dma alloc <samples> <ops-per-sample>   aligned_alloc(64, 2048) + zeroing + free
 */
#include "bench_common.h"

#include <pthread.h>
#include <sys/mman.h>

#define BUFFERS 64
#define BUFSZ 2048

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static void *g_stack[BUFFERS];
static int g_top;

__attribute__((noinline)) static void *pool_rent(void)
{
    pthread_mutex_lock(&g_lock);
    void *b = g_top > 0 ? g_stack[--g_top] : NULL;
    pthread_mutex_unlock(&g_lock);
    return b;
}

__attribute__((noinline)) static void pool_return(void *b)
{
    pthread_mutex_lock(&g_lock);
    g_stack[g_top++] = b;
    pthread_mutex_unlock(&g_lock);
}

struct buf { uint64_t iova, length; volatile int released; };

__attribute__((noinline)) static uint64_t iova_of(const struct buf *b, uint64_t offset)
{
    if (offset >= b->length || b->released)
        abort();
    return b->iova + offset;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s <pool|iova|alloc> <samples> <ops-per-sample>\n", argv[0]);
        return 2;
    }
    pin_to(-1);
    const char *mode = argv[1];
    int n = atoi(argv[2]), per = atoi(argv[3]);
    unsigned char *mem = mmap(NULL, BUFFERS * BUFSZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED || mlock(mem, BUFFERS * BUFSZ) != 0)
        die("mmap/mlock");
    for (int i = 0; i < BUFFERS; i++)
        g_stack[g_top++] = mem + (size_t)i * BUFSZ;
    struct buf b = { .iova = 0x100000000ULL, .length = BUFSZ, .released = 0 };
    volatile uint64_t sink = 0;
    int64_t *samples = calloc((size_t)n, sizeof *samples);
    for (int s = -n / 10; s < n; s++) {
        int64_t t0 = now_ns();
        if (strcmp(mode, "pool") == 0) {
            for (int i = 0; i < per; i++) {
                void *p = pool_rent();
                sink += (uintptr_t)p;
                pool_return(p);
            }
        } else if (strcmp(mode, "iova") == 0) {
            for (int i = 0; i < per; i++)
                sink += iova_of(&b, (uint64_t)(i & (BUFSZ - 1)));
        } else if (strcmp(mode, "alloc") == 0) {
            for (int i = 0; i < per; i++) {
                void *p = aligned_alloc(64, BUFSZ);
                memset(p, 0, BUFSZ);
                sink += (uintptr_t)p;
                free(p);
            }
        } else {
            fprintf(stderr, "unknown mode %s\n", mode);
            return 2;
        }
        if (s >= 0)
            samples[s] = (now_ns() - t0) * 1000 / per;
    }
    char name[64];
    snprintf(name, sizeof name, "dma %s (us per 1,000 = ns per op)", mode);
    report(name, samples, n);
    return 0;
}
