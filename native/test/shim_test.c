/*
 * shim_test.c: a C test of libhotplug_shim.so through its public API (hotplug_shim.h), with real faults.
 *
 * Built against the library and run natively (x86-64), and cross-built with aarch64-linux-gnu-gcc against
 * the arm64 build of the library and run under qemu-aarch64 (tests/Hotplug.Tests/Native/ShimCTests.cs does
 * both; native/Makefile's `test` and `test-arm64` targets do the same by hand). Prints one line per check
 * and "shim_test: all N checks passed" at the end; exits 1 on the first failure.
 *
 * What it checks:
 *   1. SIGBUS in a registered range of a memfd mapping (after ftruncate to 0) is recovered: the whole range
 *      reads as the fill (0xFF, then zeros), the fault ring holds one record with the cookie, the slot,
 *      first=1, the address, the range start and si_code BUS_ADRERR; the eventfd was written.
 *   2. SIGBUS outside any range is passed to the SA_SIGINFO handler installed before the shim's, with the
 *      same si_addr and si_code (the test's handler siglongjmps out); nothing is recorded in the ring.
 *   3. After hp_range_remove, a fault in the former range is chained the same way.
 *   4. hp_sigbus_uninstall puts the previous handler back.
 */
#include "../hotplug_shim.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static int checks;

#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "shim_test: FAILED at %s:%d: %s: ", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                                                    \
            fprintf(stderr, "\n");                                                           \
            exit(1);                                                                         \
        }                                                                                    \
        checks++;                                                                            \
        printf("ok %d - ", checks);                                                          \
        printf(__VA_ARGS__);                                                                 \
        printf("\n");                                                                        \
    } while (0)

/* ---- the "previous" handler: what the .NET runtime's SIGBUS handler is in real use ---------------- */

static sigjmp_buf g_jump;
static volatile sig_atomic_t g_prev_calls;
static void *volatile g_prev_addr;
static volatile int g_prev_code;

static void prev_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    g_prev_calls++;
    g_prev_addr = si->si_addr;
    g_prev_code = si->si_code;
    siglongjmp(g_jump, 1);
}

/* A shared mapping of a memfd of `len` bytes filled with `byte`; *fd gets the memfd. */
static volatile unsigned char *memfd_map(size_t len, unsigned char byte, int *fd)
{
    *fd = (int)syscall(SYS_memfd_create, "shim-test", 0);
    if (*fd < 0 || ftruncate(*fd, (off_t)len) != 0) {
        perror("memfd");
        exit(1);
    }
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    memset(p, byte, len);
    return p;
}

/* Reads *p expecting a SIGBUS chained to prev_handler. Returns 1 if it was delivered there. */
static int read_expecting_chain(volatile unsigned char *p)
{
    if (sigsetjmp(g_jump, 1) == 0) {
        unsigned char v = *p;
        (void)v;
        return 0; /* no signal at all */
    }
    return 1;
}

static uint64_t eventfd_take(void)
{
    uint64_t n = 0;
    ssize_t r = read(hp_sigbus_eventfd(), &n, sizeof n);
    return r == (ssize_t)sizeof n ? n : 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t len = 2 * page;
    printf("shim_test: %s, ABI %d, page %zu, %s\n", hp_shim_version(), hp_shim_abi_version(), page,
#if defined(__aarch64__)
           "aarch64"
#elif defined(__x86_64__)
           "x86_64"
#else
           "other"
#endif
    );
    CHECK(hp_shim_abi_version() == HP_SHIM_ABI_VERSION, "ABI version %d", hp_shim_abi_version());

    struct sigaction sa, cur;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = prev_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGBUS, &sa, NULL) == 0, "previous SA_SIGINFO handler installed");
    CHECK(hp_sigbus_install() == 0, "hp_sigbus_install");
    sigaction(SIGBUS, NULL, &cur);
    CHECK((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction != prev_handler, "the shim's handler is installed over it");
    CHECK(hp_sigbus_eventfd() >= 0, "eventfd %d", hp_sigbus_eventfd());

    /* 1. A registered all-ones range: the truncated memfd faults, the shim remaps, the read is retried. */
    int fd1;
    volatile unsigned char *a = memfd_map(len, 0xAB, &fd1);
    const uint64_t cookie = 0x1122334455667788ULL;
    int slot = hp_range_add((void *)a, len, cookie, HP_FILL_ONES);
    CHECK(slot >= 0, "hp_range_add(ones) -> slot %d", slot);
    CHECK(a[0] == 0xAB && a[len - 1] == 0xAB, "range reads the memfd before removal");
    CHECK(ftruncate(fd1, 0) == 0, "ftruncate(memfd, 0): the device is gone");
    volatile unsigned char *fault_at = a + page + 24;
    unsigned char v = *fault_at; /* SIGBUS, recovered */
    CHECK(v == 0xFF, "faulting read retried after the remap reads 0x%02x", v);
    CHECK(a[0] == 0xFF && a[len - 1] == 0xFF, "the whole range reads all-ones (0x%02x, 0x%02x)", a[0], a[len - 1]);
    a[8] = 0x5A;
    CHECK(a[8] == 0x5A, "the remapped range is writable (private)");
    CHECK(g_prev_calls == 0, "the previous handler was not called (%d)", (int)g_prev_calls);
    CHECK(hp_range_is_remapped(slot) == 1, "hp_range_is_remapped");
    CHECK(eventfd_take() >= 1, "the eventfd was written");

    struct hp_fault f[4];
    memset(f, 0, sizeof f);
    int n = hp_fault_read(f, 4);
    CHECK(n == 1, "one fault recorded (%d)", n);
    CHECK(f[0].cookie == cookie, "fault.cookie 0x%llx", (unsigned long long)f[0].cookie);
    CHECK(f[0].slot == slot, "fault.slot %d", f[0].slot);
    CHECK(f[0].first == 1, "fault.first %d", f[0].first);
    CHECK(f[0].address == (uint64_t)(uintptr_t)fault_at, "fault.address 0x%llx (expected %p)",
          (unsigned long long)f[0].address, (void *)fault_at);
    CHECK(f[0].range_start == (uint64_t)(uintptr_t)a, "fault.range_start 0x%llx", (unsigned long long)f[0].range_start);
    CHECK(f[0].si_code == BUS_ADRERR, "fault.si_code %d (BUS_ADRERR %d)", f[0].si_code, BUS_ADRERR);
    CHECK(f[0].thread_id == (int32_t)syscall(SYS_gettid), "fault.thread_id %d", f[0].thread_id);
    CHECK(f[0].fault_ns > 0 && f[0].remapped_ns >= f[0].fault_ns, "fault times %lld <= %lld",
          (long long)f[0].fault_ns, (long long)f[0].remapped_ns);
    CHECK(hp_fault_produced() == 1 && hp_fault_consumed() == 1, "ring positions %llu/%llu",
          (unsigned long long)hp_fault_produced(), (unsigned long long)hp_fault_consumed());

    /* 1b. A zero-fill range, for the anonymous remap. */
    int fd0;
    volatile unsigned char *z = memfd_map(len, 0xCD, &fd0);
    int zslot = hp_range_add((void *)z, len, 7, HP_FILL_ZERO);
    CHECK(zslot >= 0 && zslot != slot, "hp_range_add(zero) -> slot %d", zslot);
    CHECK(ftruncate(fd0, 0) == 0, "ftruncate second memfd");
    v = z[3];
    CHECK(v == 0 && z[len - 1] == 0, "zero-fill range reads zeros after the fault");
    n = hp_fault_read(f, 4);
    CHECK(n == 1 && f[0].cookie == 7 && f[0].slot == zslot && f[0].first == 1, "zero-fill fault recorded (n=%d)", n);

    /* 2. Outside any range: chained to the previous SA_SIGINFO handler. */
    int fd2;
    volatile unsigned char *b = memfd_map(len, 0x11, &fd2);
    CHECK(ftruncate(fd2, 0) == 0, "ftruncate unregistered memfd");
    struct hp_stats st0, st1;
    hp_stats_get(&st0);
    CHECK(read_expecting_chain(b + 5) == 1, "fault outside any range reached the previous handler");
    hp_stats_get(&st1);
    CHECK(g_prev_calls == 1, "previous handler called once (%d)", (int)g_prev_calls);
    CHECK(g_prev_addr == (void *)(b + 5), "previous handler saw si_addr %p (expected %p)", g_prev_addr, (void *)(b + 5));
    CHECK(g_prev_code == BUS_ADRERR, "previous handler saw si_code %d", g_prev_code);
    CHECK(st1.faults_chained == st0.faults_chained + 1, "faults_chained %llu -> %llu",
          (unsigned long long)st0.faults_chained, (unsigned long long)st1.faults_chained);
    CHECK(hp_fault_read(f, 4) == 0, "nothing recorded for a chained fault");

    /* 3. A removed range is no longer recovered: chained. */
    int fd3;
    volatile unsigned char *c = memfd_map(len, 0x22, &fd3);
    int cslot = hp_range_add((void *)c, len, 99, HP_FILL_ZERO);
    CHECK(cslot >= 0, "hp_range_add -> slot %d", cslot);
    CHECK(hp_range_remove(cslot) == 0, "hp_range_remove(%d)", cslot);
    CHECK(hp_range_remove(cslot) == -EINVAL, "a second hp_range_remove is -EINVAL");
    CHECK(ftruncate(fd3, 0) == 0, "ftruncate removed range's memfd");
    CHECK(read_expecting_chain(c + page) == 1, "fault in a removed range reached the previous handler");
    CHECK(g_prev_calls == 2 && g_prev_addr == (void *)(c + page), "previous handler saw %p", g_prev_addr);
    CHECK(hp_fault_read(f, 4) == 0, "nothing recorded");
    hp_stats_get(&st1);
    CHECK(st1.faults_handled == 2, "faults_handled %llu", (unsigned long long)st1.faults_handled);
    CHECK(st1.faults_chained == 2, "faults_chained %llu", (unsigned long long)st1.faults_chained);
    CHECK(st1.remap_failed == 0 && st1.ring_dropped == 0, "no remap failure, no drop");

    /* 4. Uninstall restores the previous action. */
    CHECK(hp_sigbus_uninstall() == 0, "hp_sigbus_uninstall");
    sigaction(SIGBUS, NULL, &cur);
    CHECK((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == prev_handler, "the previous handler is back");

    printf("shim_test: all %d checks passed\n", checks);
    return 0;
}
