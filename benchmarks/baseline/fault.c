/*
 * The physical limit of surviving a vanished BAR on this machine: a memfd-backed "BAR" is mapped
 * MAP_SHARED, touched, truncated (so the next access raises a real SIGBUS, as a zapped vfio mapping
 * does), and read once. The handler replaces the whole range with MAP_FIXED and returns, so the read
 * is retried and succeeds.
 *
 *   fault remap <ones|zero> <bytes> <iterations> <tiny|shim>
 *       One sample per iteration: the time around the faulting read (fault + handler + remap + the
 *       resumed access). "tiny" is a 15-line handler of its own (the floor); "shim" is libhotplug_shim
 *       called directly from C (our handler without the managed runtime).
 *   fault notify <iterations> [wake|access] [ones|zero] [bytes]
 *       The floor of "fault -> another thread knows": the tiny handler (default 4 KiB, all-ones) stamps
 *       the fault time and writes an eventfd; a thread blocked in read() on it stamps its wake-up.
 *       wake (default): sample = wake - fault. access: sample = the time around the faulting read, as in
 *       remap mode but with that thread being woken (what a design that must wake a thread pays). Having
 *       run on the other CPU, that thread also makes a remap that frees page tables (BARs of 1 MiB and
 *       up) pay a TLB-flush IPI to that CPU, as any multi-threaded process does.
 *
 * Each iteration re-arms from scratch: a fresh memfd, a fresh mapping, truncate, access.
 */
#include "bench_common.h"
#include "../../native/hotplug_shim.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

static uintptr_t g_start;
static size_t g_len;
static int g_fill_ones;
static int g_ones_fd = -1;
static int g_notify_efd = -1;
static _Atomic int64_t g_fault_ns;

static void tiny_handler(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    int64_t t = now_ns();
    uintptr_t a = (uintptr_t)si->si_addr;
    if (a < g_start || a - g_start >= g_len) {
        signal(sig, SIG_DFL);
        return; /* the access faults again, with the default action */
    }
    void *p = g_fill_ones
        ? mmap((void *)g_start, g_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, g_ones_fd, 0)
        : mmap((void *)g_start, g_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        abort();
    if (g_notify_efd >= 0) {
        atomic_store(&g_fault_ns, t);
        uint64_t one = 1;
        ssize_t w = write(g_notify_efd, &one, sizeof one);
        (void)w;
    }
}

static void install_tiny(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = tiny_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    if (sigaction(SIGBUS, &sa, NULL) != 0)
        die("sigaction");
}

static int make_ones(size_t len)
{
    int fd = memfd_create("baseline-ones", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)len) != 0)
        die("ones memfd");
    static unsigned char ff[65536];
    memset(ff, 0xFF, sizeof ff);
    for (size_t off = 0; off < len; off += sizeof ff)
        if (pwrite(fd, ff, len - off < sizeof ff ? len - off : sizeof ff, (off_t)off) < 0)
            die("pwrite ones");
    return fd;
}

/* A fresh "BAR": memfd of len bytes mapped MAP_SHARED and touched once, as a driver's probe would. */
static volatile uint32_t *map_bar(size_t len, int *fd_out)
{
    int fd = memfd_create("baseline-bar", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)len) != 0)
        die("bar memfd");
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        die("mmap bar");
    volatile uint32_t *bar = p;
    (void)bar[0];
    *fd_out = fd;
    return bar;
}

/* Pulls the BAR's memory (truncate: the next access is a real SIGBUS) and times one read of it. */
static uint32_t pull_and_read(volatile uint32_t *bar, int fd, int64_t *elapsed_ns)
{
    if (ftruncate(fd, 0) != 0)
        die("ftruncate");
    int64_t t0 = now_ns();
    uint32_t v = bar[0];
    *elapsed_ns = now_ns() - t0;
    return v;
}

static int run_remap(int ones, size_t len, int iters, int use_shim)
{
    int64_t *samples = calloc((size_t)iters, sizeof *samples);
    uint32_t expect = ones ? 0xFFFFFFFFu : 0;
    if (use_shim) {
        int rc = hp_sigbus_install();
        if (rc < 0) {
            errno = -rc;
            die("hp_sigbus_install");
        }
    } else {
        g_fill_ones = ones;
        if (ones)
            g_ones_fd = make_ones(len);
        install_tiny();
    }
    for (int i = 0; i < iters; i++) {
        int fd, slot = -1;
        volatile uint32_t *bar = map_bar(len, &fd);
        if (use_shim) {
            slot = hp_range_add((void *)bar, len, (uint64_t)i + 1, ones ? HP_FILL_ONES : HP_FILL_ZERO);
            if (slot < 0) {
                errno = -slot;
                die("hp_range_add");
            }
        } else {
            g_start = (uintptr_t)bar;
            g_len = len;
        }
        int64_t elapsed;
        uint32_t v = pull_and_read(bar, fd, &elapsed);
        if (v != expect) {
            fprintf(stderr, "iteration %d read 0x%08x, expected 0x%08x\n", i, v, expect);
            return 1;
        }
        samples[i] = elapsed;
        if (use_shim) {
            struct hp_fault f[16];
            while (hp_fault_read(f, 16) > 0) {
            }
            uint64_t c;
            ssize_t r = read(hp_sigbus_eventfd(), &c, sizeof c);
            (void)r;
            hp_range_remove(slot);
        } else {
            g_len = 0;
        }
        munmap((void *)bar, len);
        close(fd);
    }
    char name[64];
    snprintf(name, sizeof name, "fault_remap %s %zu %s", ones ? "ones" : "zero", len, use_shim ? "shim" : "tiny");
    report(name, samples, iters);
    return 0;
}

static int g_done_efd = -1;
static _Atomic int64_t g_wake_ns;

static void *notify_reader(void *arg)
{
    (void)arg;
    pin_to(0);
    for (;;) {
        uint64_t c;
        if (read(g_notify_efd, &c, sizeof c) != sizeof c) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        atomic_store(&g_wake_ns, now_ns());
        uint64_t one = 1;
        if (write(g_done_efd, &one, sizeof one) != sizeof one)
            return NULL;
    }
}

static int run_notify(int iters, int access, int ones, size_t len)
{
    int64_t *samples = calloc((size_t)iters, sizeof *samples);
    uint32_t expect = ones ? 0xFFFFFFFFu : 0;
    g_fill_ones = ones;
    if (ones)
        g_ones_fd = make_ones(len);
    g_notify_efd = eventfd(0, EFD_CLOEXEC);
    g_done_efd = eventfd(0, EFD_CLOEXEC);
    if (g_notify_efd < 0 || g_done_efd < 0)
        die("eventfd");
    install_tiny();
    pthread_t th;
    if (pthread_create(&th, NULL, notify_reader, NULL) != 0)
        die("pthread_create");
    for (int i = 0; i < iters; i++) {
        int fd;
        volatile uint32_t *bar = map_bar(len, &fd);
        g_start = (uintptr_t)bar;
        g_len = len;
        int64_t elapsed;
        uint32_t v = pull_and_read(bar, fd, &elapsed);
        uint64_t c;
        if (read(g_done_efd, &c, sizeof c) != sizeof c)
            die("read done");
        if (v != expect) {
            fprintf(stderr, "iteration %d read 0x%08x, expected 0x%08x\n", i, v, expect);
            return 1;
        }
        samples[i] = access ? elapsed : atomic_load(&g_wake_ns) - atomic_load(&g_fault_ns);
        g_len = 0;
        munmap((void *)bar, len);
        close(fd);
    }
    char name[64];
    snprintf(name, sizeof name, "fault_notify %s %s %zu", access ? "access" : "wake", ones ? "ones" : "zero", len);
    report(name, samples, iters);
    return 0;
}

int main(int argc, char **argv)
{
    pin_to(-1);
    if (argc == 6 && strcmp(argv[1], "remap") == 0)
        return run_remap(strcmp(argv[2], "ones") == 0, (size_t)strtoull(argv[3], NULL, 0), atoi(argv[4]),
                         strcmp(argv[5], "shim") == 0);
    if (argc >= 3 && argc <= 6 && strcmp(argv[1], "notify") == 0)
        return run_notify(atoi(argv[2]), argc >= 4 && strcmp(argv[3], "access") == 0,
                          argc < 5 || strcmp(argv[4], "zero") != 0, argc == 6 ? (size_t)strtoull(argv[5], NULL, 0) : 4096);
    fprintf(stderr, "usage: %s remap <ones|zero> <bytes> <iterations> <tiny|shim>\n"
                    "       %s notify <iterations> [wake|access] [ones|zero] [bytes]\n", argv[0], argv[0]);
    return 2;
}
