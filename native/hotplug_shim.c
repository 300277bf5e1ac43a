/*
 * hotplug_shim.c: see hotplug_shim.h for the contract.
 *
 * Rules for everything reachable from on_sigbus(): no locks, no malloc, no stdio, no managed code;
 * only atomics and async-signal-safe system calls (mmap, write, clock_gettime, gettid, sigaction, raise).
 *
 * Rule for the whole file: the built library imports no glibc symbol version newer than GLIBC_2.17 (the
 * oldest glibc of aarch64), so one build loads on RHEL 8, Ubuntu 20.04 and anything newer, whatever glibc
 * it was built on; tests/Hotplug.Tests/Native/ShimSymbolVersionTests.cs reads the built .so and checks.
 * So: no pthread_once (GLIBC_2.34 since it moved into libc): once_locked() below; no memfd_create wrapper
 * (GLIBC_2.27): syscall(SYS_memfd_create); a newer call goes through syscall(2) the same way.
 */
#include "hotplug_shim.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U /* <linux/memfd.h>; glibc's <sys/mman.h> has it only since 2.27 */
#endif

#define HP_VERSION_STRING "hotplug_shim 0.1.0"
#define RING_MASK (HP_RING_CAPACITY - 1)
_Static_assert((HP_RING_CAPACITY & RING_MASK) == 0, "ring capacity must be a power of two");

/* Range slot states. Fields of a slot are written only while it is INIT and read by the handler only
 * after it observed ARMED/REMAPPING/REMAPPED with acquire ordering. */
enum { R_FREE = 0, R_INIT, R_ARMED, R_REMAPPING, R_REMAPPED };

struct range {
    _Atomic int state;
    uintptr_t start;
    size_t len;
    uint64_t cookie;
    uint64_t gen;  /* bumped each time the slot is filled: tells a reused slot from the range a fault found */
    int fill;
};

struct ring_cell {
    _Atomic uint64_t seq;
    struct hp_fault fault;
};

static struct range g_ranges[HP_MAX_RANGES];
static _Atomic int g_range_hwm;           /* slots [0, hwm) may be in use */

static struct ring_cell g_ring[HP_RING_CAPACITY];
static _Atomic uint64_t g_ring_head;      /* producers: signal handlers */
static uint64_t g_ring_tail;              /* consumer: hp_fault_read, under g_lock */

static _Atomic int g_enabled;             /* handler claims faults only while 1 */
static _Atomic int g_efd = -1;
static _Atomic int g_ones_fd = -1;
static size_t g_ones_size;                /* under g_lock */
static struct sigaction g_prev;           /* the action ours replaced */
static int g_install_refs;                /* under g_lock */
static int g_orphaned;                    /* ours stays below a handler installed after it */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_initialized;                 /* under g_lock */

static _Atomic uint64_t g_faults_handled, g_faults_chained, g_ring_dropped, g_remap_failed;

/* One iteration of a spin-wait: tells the CPU we are spinning (frees the core's resources for the sibling
 * hyperthread, saves power) without giving up the time slice. Async-signal-safe: one instruction. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory"); /* at least a compiler barrier */
#endif
}

int hp_shim_abi_version(void) { return HP_SHIM_ABI_VERSION; }
const char *hp_shim_version(void) { return HP_VERSION_STRING; }

int64_t hp_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* What pthread_once did, without its GLIBC_2.34 symbol: runs once per process, under g_lock, so a second
 * caller blocks on the mutex until the first is done (a spin-wait could starve a real-time thread). The
 * signal handler reads the ring only after hp_sigbus_install set g_enabled, which is after this. */
static void once_locked(void)
{
    if (g_initialized)
        return;
    for (uint64_t i = 0; i < HP_RING_CAPACITY; i++)
        atomic_store_explicit(&g_ring[i].seq, i, memory_order_relaxed);
    atomic_store(&g_efd, eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    g_initialized = 1; /* even if eventfd failed: install then keeps failing with -ENOMEM, as before */
}

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
static int claim_and_remap(struct range *r, uint64_t gen, uintptr_t a)
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

static void ring_push(const struct hp_fault *f)
{
    uint64_t pos = atomic_load_explicit(&g_ring_head, memory_order_relaxed);
    struct ring_cell *c;
    for (;;) {
        c = &g_ring[pos & RING_MASK];
        uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        int64_t dif = (int64_t)(seq - pos);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&g_ring_head, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
        } else if (dif < 0) {
            atomic_fetch_add_explicit(&g_ring_dropped, 1, memory_order_relaxed);
            return;
        } else {
            pos = atomic_load_explicit(&g_ring_head, memory_order_relaxed);
        }
    }
    c->fault = *f;
    atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
}

static void chain(int sig, siginfo_t *si, void *uc)
{
    atomic_fetch_add_explicit(&g_faults_chained, 1, memory_order_relaxed);
    if (g_prev.sa_flags & SA_SIGINFO) {
        g_prev.sa_sigaction(sig, si, uc);
        return;
    }
    if (g_prev.sa_handler == SIG_IGN && si->si_code <= 0)
        return; /* a sent SIGBUS that the process ignores */
    if (g_prev.sa_handler != SIG_DFL && g_prev.sa_handler != SIG_IGN) {
        g_prev.sa_handler(sig);
        return;
    }
    /* Default action (a kernel fault is never ignorable): restore it and let the signal kill us the
     * way it would have without us. The raised signal stays pending until this handler returns. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    raise(sig);
}

static struct range *find_range(uintptr_t a, uint64_t *gen)
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

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    int saved_errno = errno;
    int64_t t0 = hp_monotonic_ns();
    uintptr_t a = (uintptr_t)si->si_addr;
    struct range *r = NULL;
    int first = -1;

    /* si_code > 0: raised by the kernel for this access (not sent with kill or tgkill). */
    if (atomic_load_explicit(&g_enabled, memory_order_acquire) && si->si_code > 0) {
        uint64_t gen = 0;
        for (int tries = 0; tries < 4 && (r = find_range(a, &gen)) != NULL; tries++) {
            first = claim_and_remap(r, gen, a);
            if (first >= 0)
                break;
            first = -1; /* the slot was reused, or the remap failed: look again */
        }
    }
    if (first < 0) {
        if (r != NULL)
            atomic_fetch_add_explicit(&g_remap_failed, 1, memory_order_relaxed);
        chain(sig, si, uc);
        errno = saved_errno;
        return;
    }

    atomic_fetch_add_explicit(&g_faults_handled, 1, memory_order_relaxed);
    struct hp_fault f = {
        .cookie = r->cookie,
        .address = a,
        .range_start = r->start,
        .fault_ns = t0,
        .remapped_ns = hp_monotonic_ns(),
        .thread_id = (int32_t)syscall(SYS_gettid),
        .slot = (int32_t)(r - g_ranges),
        .si_code = si->si_code,
        .first = first,
    };
    ring_push(&f);
    int efd = atomic_load_explicit(&g_efd, memory_order_relaxed);
    if (efd >= 0) {
        uint64_t one = 1;
        ssize_t w = write(efd, &one, sizeof one);
        (void)w; /* EAGAIN only when the counter is saturated: the reader wakes anyway */
    }
    errno = saved_errno;
}

/* ---- outside the signal handler ------------------------------------------------------------- */

int hp_sigbus_install(void)
{
    int rc = 0;
    pthread_mutex_lock(&g_lock);
    once_locked();
    if (atomic_load(&g_efd) < 0) {
        rc = -ENOMEM;
    } else if (g_install_refs++ == 0) {
        if (g_orphaned) {
            /* Still installed below the handler that replaced ours: just resume claiming. */
        } else {
            struct sigaction sa, prev;
            if (sigaction(SIGBUS, NULL, &prev) != 0) {
                rc = -errno;
            } else {
                memset(&sa, 0, sizeof sa);
                sa.sa_sigaction = on_sigbus;
                sa.sa_mask = prev.sa_mask; /* what the previous handler expects blocked */
                /* Run where the previous handler expects to run: the runtime's SIGBUS handler is
                 * installed without SA_ONSTACK and needs the thread's own stack (a chained call from
                 * the small alternate stack overflowed it). */
                sa.sa_flags = SA_SIGINFO | SA_RESTART | (prev.sa_flags & (SA_ONSTACK | SA_NODEFER));
                g_prev = prev;
                if (sigaction(SIGBUS, &sa, NULL) != 0)
                    rc = -errno;
            }
        }
        if (rc == 0)
            atomic_store_explicit(&g_enabled, 1, memory_order_release);
        else
            g_install_refs = 0;
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

int hp_sigbus_uninstall(void)
{
    int rc = 0;
    pthread_mutex_lock(&g_lock);
    if (g_install_refs == 0) {
        rc = -EINVAL;
    } else if (--g_install_refs == 0) {
        atomic_store_explicit(&g_enabled, 0, memory_order_release);
        struct sigaction cur;
        if (sigaction(SIGBUS, NULL, &cur) != 0) {
            rc = -errno;
        } else if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_sigbus) {
            if (sigaction(SIGBUS, &g_prev, NULL) != 0)
                rc = -errno;
            g_orphaned = 0;
        } else {
            /* Someone installed over us and may chain to us: stay, pass everything through. */
            g_orphaned = 1;
            rc = 1;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

int hp_sigbus_eventfd(void)
{
    return atomic_load(&g_efd);
}

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
        if (atomic_compare_exchange_strong(&r->state, &st, R_FREE))
            return 0;
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

int hp_fault_read(struct hp_fault *out, int max)
{
    int n = 0;
    pthread_mutex_lock(&g_lock);
    once_locked();
    while (n < max) {
        struct ring_cell *c = &g_ring[g_ring_tail & RING_MASK];
        uint64_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        if (seq != g_ring_tail + 1)
            break;
        out[n++] = c->fault;
        atomic_store_explicit(&c->seq, g_ring_tail + HP_RING_CAPACITY, memory_order_release);
        g_ring_tail++;
    }
    pthread_mutex_unlock(&g_lock);
    return n;
}

uint64_t hp_fault_produced(void)
{
    return atomic_load_explicit(&g_ring_head, memory_order_acquire);
}

uint64_t hp_fault_consumed(void)
{
    pthread_mutex_lock(&g_lock);
    uint64_t t = g_ring_tail;
    pthread_mutex_unlock(&g_lock);
    return t;
}

void hp_stats_get(struct hp_stats *out)
{
    memset(out, 0, sizeof *out);
    out->faults_handled = atomic_load(&g_faults_handled);
    out->faults_chained = atomic_load(&g_faults_chained);
    out->ring_dropped = atomic_load(&g_ring_dropped);
    out->remap_failed = atomic_load(&g_remap_failed);
    out->installed = atomic_load(&g_enabled);
    int n = atomic_load(&g_range_hwm), live = 0;
    for (int i = 0; i < n; i++)
        if (atomic_load(&g_ranges[i].state) >= R_ARMED)
            live++;
    out->ranges = live;
}
