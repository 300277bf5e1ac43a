/*
 * hp_ranges.c: the range table of the shim (see hotplug_shim.h for the contract): hp_range_add/remove/
 * remap/is_remapped, the lookup and the claim-and-remap the SIGBUS handler uses, and the all-ones memfd a
 * HP_FILL_ONES range is remapped to.
 *
 * Rules for everything reachable from on_sigbus() (here: find_range, claim_and_remap, remap_range): no
 * locks, no malloc, no stdio, no managed code; only atomics and async-signal-safe system calls (mmap,
 * write, clock_gettime, gettid, sigaction, raise).
 *
 * Rule for every file of the library: the built library imports no glibc symbol version newer than
 * GLIBC_2.17 (the oldest glibc of aarch64), so one build loads on RHEL 8, Ubuntu 20.04 and anything newer,
 * whatever glibc it was built on; tests/Hotplug.Tests/Native/ShimSymbolVersionTests.cs reads the built .so
 * and checks. So: no pthread_once (GLIBC_2.34 since it moved into libc): once_locked() in hotplug_shim.c;
 * no memfd_create wrapper (GLIBC_2.27): syscall(SYS_memfd_create); a newer call goes through syscall(2)
 * the same way.
 */
#include "hp_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U /* <linux/memfd.h>; glibc's <sys/mman.h> has it only since 2.27 */
#endif

HP_HIDDEN struct range g_ranges[HP_MAX_RANGES];
HP_HIDDEN _Atomic int g_range_hwm;        /* slots [0, hwm) may be in use */

static _Atomic int g_ones_fd = -1;
static size_t g_ones_size;                /* under g_lock */

/* ---- inside the signal handler -------------------------------------------------------------- */

static int remap_range(const struct range *r)
{
    int ones = atomic_load_explicit(&g_ones_fd, memory_order_acquire);
    void *p;
    if (r->fill == HP_FILL_ONES && ones >= 0)
        p = mmap((void *)r->start, r->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, ones, 0);
    else
        p = mmap((void *)r->start, r->len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? -errno : 0;
}

/* ARMED -> REMAPPING -> REMAPPED, by exactly one caller, and only if the slot still holds the range the
 * caller found (generation `gen`) and that range contains `a`: the check comes BEFORE the remap, so a slot
 * reused for another range between find and claim is never remapped by mistake. Returns 1 if we remapped,
 * 0 if someone else did (we waited for them), -ESTALE if the slot now holds another range, -errno if the
 * remap failed (the range is ARMED again). */
int claim_and_remap(struct range *r, uint64_t gen, uintptr_t a)
{
    int expect = R_ARMED;
    if (atomic_compare_exchange_strong_explicit(&r->state, &expect, R_REMAPPING,
                                                memory_order_acq_rel, memory_order_acquire)) {
        /* REMAPPING: nobody can free or refill the slot now (remove waits, add takes FREE slots only). */
        if (r->gen != gen || a - r->start >= r->len) {
            atomic_store_explicit(&r->state, R_ARMED, memory_order_release);
            return -ESTALE;
        }
        int rc = remap_range(r);
        atomic_store_explicit(&r->state, rc == 0 ? R_REMAPPED : R_ARMED, memory_order_release);
        return rc == 0 ? 1 : rc;
    }
    while (expect == R_REMAPPING) {
        cpu_relax();
        expect = atomic_load_explicit(&r->state, memory_order_acquire);
    }
    if (expect != R_REMAPPED)
        return -EAGAIN;
    /* Remapped by someone else: ours only if it is still the range we found. */
    return (r->gen == gen && a - r->start < r->len) ? 0 : -ESTALE;
}

struct range *find_range(uintptr_t a, uint64_t *gen)
{
    int n = atomic_load_explicit(&g_range_hwm, memory_order_acquire);
    for (int i = 0; i < n; i++) {
        struct range *r = &g_ranges[i];
        if (atomic_load_explicit(&r->state, memory_order_acquire) < R_ARMED)
            continue;
        uint64_t g = r->gen;
        atomic_thread_fence(memory_order_acquire);
        if (a >= r->start && a - r->start < r->len) {
            *gen = g;
            return r;
        }
    }
    return NULL;
}

/* ---- outside the signal handler ------------------------------------------------------------- */

/* Grows the all-0xFF memfd to at least len bytes. Under g_lock. */
static int ensure_ones(size_t len)
{
    if (g_ones_size >= len)
        return 0;
    int fd = atomic_load(&g_ones_fd);
    if (fd < 0) {
        fd = (int)syscall(SYS_memfd_create, "hotplug-ones", MFD_CLOEXEC);
        if (fd < 0)
            return -errno;
    }
    if (ftruncate(fd, (off_t)len) != 0) {
        int e = -errno;
        if (atomic_load(&g_ones_fd) < 0)
            close(fd);
        return e;
    }
    static unsigned char ff[65536];
    memset(ff, 0xFF, sizeof ff);
    for (size_t off = g_ones_size; off < len;) {
        size_t n = len - off < sizeof ff ? len - off : sizeof ff;
        ssize_t w = pwrite(fd, ff, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        off += (size_t)w;
    }
    g_ones_size = len;
    atomic_store_explicit(&g_ones_fd, fd, memory_order_release);
    return 0;
}

int hp_range_add(void *addr, size_t len, uint64_t cookie, int fill)
{
    long page = sysconf(_SC_PAGESIZE);
    if (addr == NULL || len == 0 || ((uintptr_t)addr % (uintptr_t)page) != 0 ||
        (fill != HP_FILL_ZERO && fill != HP_FILL_ONES))
        return -EINVAL;
    len = (len + (size_t)page - 1) & ~((size_t)page - 1);

    pthread_mutex_lock(&g_lock);
    int rc = fill == HP_FILL_ONES ? ensure_ones(len) : 0;
    if (rc == 0) {
        rc = -ENOSPC;
        for (int i = 0; i < HP_MAX_RANGES; i++) {
            struct range *r = &g_ranges[i];
            int expect = R_FREE;
            if (!atomic_compare_exchange_strong(&r->state, &expect, R_INIT))
                continue;
            r->start = (uintptr_t)addr;
            r->len = len;
            r->cookie = cookie;
            r->fill = fill;
            r->gen++;
            if (atomic_load(&g_range_hwm) < i + 1)
                atomic_store_explicit(&g_range_hwm, i + 1, memory_order_release);
            atomic_store_explicit(&r->state, R_ARMED, memory_order_release);
            rc = i;
            break;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

static struct range *slot_range(int slot)
{
    if (slot < 0 || slot >= HP_MAX_RANGES)
        return NULL;
    return &g_ranges[slot];
}

static void retire(uintptr_t start, size_t len);

int hp_range_remove(int slot)
{
    struct range *r = slot_range(slot);
    if (r == NULL)
        return -EINVAL;
    for (;;) {
        int st = atomic_load_explicit(&r->state, memory_order_acquire);
        if (st == R_FREE || st == R_INIT)
            return -EINVAL;
        if (st == R_REMAPPING) {
            cpu_relax();
            continue;
        }
        uintptr_t start = r->start;
        size_t len = r->len;
        if (atomic_compare_exchange_strong(&r->state, &st, R_FREE)) {
            if (st == R_REMAPPED)
                retire(start, len);
            return 0;
        }
    }
}

/* Ranges removed after their remap, whose dead memory is still mapped (a small ring: a late handler of a fault
 * raised before the remap must find them; the oldest are dropped). Entry fields are written with the start last
 * (release) and cleared start first. */
#define HP_RETIRED 64
static struct { _Atomic uintptr_t start; _Atomic size_t len; } g_retired[HP_RETIRED];
static _Atomic unsigned g_retired_next;

static void retire(uintptr_t start, size_t len)
{
    unsigned i = atomic_fetch_add_explicit(&g_retired_next, 1, memory_order_relaxed) % HP_RETIRED;
    atomic_store_explicit(&g_retired[i].start, 0, memory_order_release);
    atomic_store_explicit(&g_retired[i].len, len, memory_order_relaxed);
    atomic_store_explicit(&g_retired[i].start, start, memory_order_release);
}

int in_retired_range(uintptr_t a)
{
    for (int i = 0; i < HP_RETIRED; i++) {
        uintptr_t start = atomic_load_explicit(&g_retired[i].start, memory_order_acquire);
        if (start != 0 && a - start < atomic_load_explicit(&g_retired[i].len, memory_order_relaxed))
            return 1;
    }
    return 0;
}

void hp_retired_forget(void *addr)
{
    for (int i = 0; i < HP_RETIRED; i++) {
        uintptr_t expect = (uintptr_t)addr;
        atomic_compare_exchange_strong(&g_retired[i].start, &expect, 0);
    }
}

int hp_range_remap(int slot)
{
    struct range *r = slot_range(slot);
    if (r == NULL || atomic_load(&r->state) < R_ARMED)
        return -EINVAL;
    return claim_and_remap(r, r->gen, r->start);
}

int hp_range_is_remapped(int slot)
{
    struct range *r = slot_range(slot);
    if (r == NULL)
        return -EINVAL;
    int st = atomic_load(&r->state);
    if (st < R_ARMED)
        return -EINVAL;
    return st == R_REMAPPED;
}
