/*
 * nvme-kbench: the kernel side of the NVMe peer benchmark (issue 13 item 4), run inside the QEMU guest on the
 * kernel's nvme driver (/dev/nvmeXn1, O_DIRECT). Built with gcc -static by benchmarks/vm/nvme/build-image.sh.
 * Every result is one JSON line on stdout, times on the guest's CLOCK_MONOTONIC (ms), the same schema as the
 * agent's nvme-bench scenario (tests/Hotplug.VmAgent/NvmeBenchScenario.cs).
 *
 *   nvme-kbench lat N                   QD1 4 KiB random pread latency, N ops (after 50 warm-up ops)
 *   nvme-kbench iops QD MS              QD 4 KiB random reads through Linux AIO (raw io_submit), MS ms
 *   nvme-kbench removal QD MAX_MS POST_MS [ERRNO_WAIT_MS]
 *        QD 4 KiB random reads without end, every completion counted in a per-ms bucket; the first failed read is
 *        stamped (a 0-byte read or an errno), the device closed (after up to ERRNO_WAIT_MS more reads on the old
 *        descriptor waiting for an errno; default 0), then /dev/nvme*n1 reopened in a loop until a read succeeds
 *        (stamped); ends POST_MS after that, or after MAX_MS
 * (The marker reader the benchmark's anchor uses is `hpguest marks TTY`, in the base image.)
 * The device is the first /sys/block/nvme*n1 (the kernel may name the re-added controller nvme1).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BS 4096
#define MAXQD 128

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int find_dev(char *path, size_t len)
{
    DIR *d = opendir("/sys/block");
    if (!d) return -1;
    struct dirent *e;
    int found = -1;
    while ((e = readdir(d))) {
        int a, b;
        char tail;
        if (sscanf(e->d_name, "nvme%dn%d%c", &a, &b, &tail) == 2 && b == 1) {
            snprintf(path, len, "/dev/%s", e->d_name);
            found = 0;
            break;
        }
    }
    closedir(d);
    return found;
}

static int open_dev(uint64_t *blocks, char *name, size_t len)
{
    if (find_dev(name, len) < 0) return -1;
    int fd = open(name, O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0) return -1;
    uint64_t bytes = 0;
    if (ioctl(fd, BLKGETSIZE64, &bytes) < 0 || bytes < BS) { close(fd); errno = ENODEV; return -1; }
    *blocks = bytes / BS;
    return fd;
}

static long io_setup_(unsigned n, aio_context_t *c) { return syscall(SYS_io_setup, n, c); }
static long io_destroy_(aio_context_t c) { return syscall(SYS_io_destroy, c); }
static long io_submit_(aio_context_t c, long n, struct iocb **p) { return syscall(SYS_io_submit, c, n, p); }
static long io_getevents_(aio_context_t c, long mn, long mx, struct io_event *ev, struct timespec *t)
{
    return syscall(SYS_io_getevents, c, mn, mx, ev, t);
}

static void *bufs;
static struct iocb cbs[MAXQD];

static void prep(struct iocb *cb, int fd, int slot, uint64_t blocks)
{
    memset(cb, 0, sizeof *cb);
    cb->aio_lio_opcode = IOCB_CMD_PREAD;
    cb->aio_fildes = (uint32_t)fd;
    cb->aio_buf = (uint64_t)(uintptr_t)((char *)bufs + (size_t)slot * BS);
    cb->aio_nbytes = BS;
    cb->aio_offset = (int64_t)((next_rand() % blocks) * BS);
    cb->aio_data = (uint64_t)slot;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int lat(int n)
{
    uint64_t blocks;
    char name[300];
    int fd = open_dev(&blocks, name, sizeof name);
    if (fd < 0) { printf("{\"t\":\"error\",\"side\":\"kernel\",\"msg\":\"open: %s\"}\n", strerror(errno)); return 1; }
    double *s = calloc((size_t)n, sizeof *s), sum = 0;
    for (int i = -50; i < n; i++) {
        off_t off = (off_t)((next_rand() % blocks) * BS);
        double t0 = now_ms();
        if (pread(fd, bufs, BS, off) != BS) { printf("{\"t\":\"error\",\"side\":\"kernel\",\"msg\":\"pread: %s\"}\n", strerror(errno)); return 1; }
        double d = (now_ms() - t0) * 1000.0;
        if (i >= 0) { s[i] = d; sum += d; }
    }
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    printf("{\"t\":\"lat\",\"side\":\"kernel\",\"dev\":\"%s\",\"n\":%d,\"mean_us\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
           name, n, sum / n, s[n / 2], s[(int)(n * 0.99)], s[n - 1]);
    close(fd);
    return 0;
}

static int iops(int qd, int ms)
{
    if (qd < 1 || qd > MAXQD) { fprintf(stderr, "QD 1..%d\n", MAXQD); return 2; }
    uint64_t blocks;
    char name[300];
    int fd = open_dev(&blocks, name, sizeof name);
    if (fd < 0) { printf("{\"t\":\"error\",\"side\":\"kernel\",\"msg\":\"open: %s\"}\n", strerror(errno)); return 1; }
    aio_context_t ctx = 0;
    if (io_setup_(MAXQD, &ctx) < 0) { perror("io_setup"); return 1; }
    struct iocb *p[1];
    struct io_event ev[MAXQD];
    for (int i = 0; i < qd; i++) {
        prep(&cbs[i], fd, i, blocks);
        p[0] = &cbs[i];
        if (io_submit_(ctx, 1, p) != 1) { perror("io_submit"); return 1; }
    }
    double t0 = now_ms(), start = t0 + 200, end = start + ms; /* 200 ms warm-up */
    long ops = 0, errs = 0;
    int counting = 0;
    for (;;) {
        long n = io_getevents_(ctx, 1, qd, ev, NULL);
        if (n < 0) { perror("io_getevents"); return 1; }
        double t = now_ms();
        if (!counting && t >= start) { counting = 1; start = t; end = t + ms; }
        if (t >= end) break;
        for (long i = 0; i < n; i++) {
            if ((long)ev[i].res != BS) errs++;
            else if (counting) ops++;
            int slot = (int)ev[i].data;
            prep(&cbs[slot], fd, slot, blocks);
            p[0] = &cbs[slot];
            if (io_submit_(ctx, 1, p) != 1) { perror("io_submit"); return 1; }
        }
    }
    double secs = (now_ms() - start) / 1000.0;
    printf("{\"t\":\"iops\",\"side\":\"kernel\",\"dev\":\"%s\",\"qd\":%d,\"secs\":%.3f,\"ops\":%ld,\"errors\":%ld,\"iops\":%.0f}\n",
           name, qd, secs, ops, errs, ops / secs);
    io_destroy_(ctx); /* waits for the reads still in flight */
    close(fd);
    return errs != 0;
}

#include "nvme-kbench-removal.h"

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (posix_memalign(&bufs, BS, (size_t)MAXQD * BS)) return 1;
    memset(bufs, 0, (size_t)MAXQD * BS);
    rng ^= (uint64_t)getpid() << 20;
    if (argc == 3 && !strcmp(argv[1], "lat")) return lat(atoi(argv[2]));
    if (argc == 4 && !strcmp(argv[1], "iops")) return iops(atoi(argv[2]), atoi(argv[3]));
    if ((argc == 5 || argc == 6) && !strcmp(argv[1], "removal"))
        return removal(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), argc == 6 ? atoi(argv[5]) : 0);
    fprintf(stderr, "usage: nvme-kbench lat N | iops QD MS | removal QD MAX_MS POST_MS [ERRNO_WAIT_MS]\n");
    return 2;
}
