/*
 * hotplug_shim.c: see hotplug_shim.h for the contract. This file: the SIGBUS handler and chaining to the
 * previous action, install/uninstall, the versions, the monotonic clock and the once-init. The range table
 * is in hp_ranges.c, the fault ring and the counters in hp_ring.c (hp_internal.h lists what they share).
 *
 * Rules for everything reachable from on_sigbus(): no locks, no malloc, no stdio, no managed code;
 * only atomics and async-signal-safe system calls (mmap, write, clock_gettime, gettid, sigaction, raise).
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
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define HP_VERSION_STRING "hotplug_shim 0.1.0"

HP_HIDDEN _Atomic int g_enabled;          /* handler claims faults only while 1 */
static _Atomic int g_efd = -1;
static struct sigaction g_prev;           /* the action ours replaced */
static int g_install_refs;                /* under g_lock */
static int g_orphaned;                    /* ours stays below a handler installed after it */
HP_HIDDEN pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_initialized;                 /* under g_lock */

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
void once_locked(void)
{
    if (g_initialized)
        return;
    ring_init_locked();
    atomic_store(&g_efd, eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    g_initialized = 1; /* even if eventfd failed: install then keeps failing with -ENOMEM, as before */
}

/* ---- inside the signal handler -------------------------------------------------------------- */

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
    if (first < 0 && r == NULL && si->si_code > 0 && in_retired_range(a)) {
        /* Faulted before the range's remap, handled after its removal: dead memory is there now; retry. */
        errno = saved_errno;
        return;
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
