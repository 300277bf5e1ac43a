/*
 * hp_ring.c: the fault ring of the shim (see hotplug_shim.h for the contract), a bounded lock-free ring
 * after Vyukov's MPMC sequence scheme: the SIGBUS handlers produce (ring_push), hp_fault_read consumes
 * under g_lock. Also the counters and hp_stats_get.
 *
 * Rules for everything reachable from on_sigbus() (here: ring_push): no locks, no malloc, no stdio, no
 * managed code; only atomics and async-signal-safe system calls (mmap, write, clock_gettime, gettid,
 * sigaction, raise).
 *
 * Rule for every file of the library: the built library imports no glibc symbol version newer than
 * GLIBC_2.17 (the oldest glibc of aarch64), so one build loads on RHEL 8, Ubuntu 20.04 and anything newer,
 * whatever glibc it was built on; tests/Hotplug.Tests/Native/ShimSymbolVersionTests.cs reads the built .so
 * and checks. So: no pthread_once (GLIBC_2.34 since it moved into libc): once_locked() in hotplug_shim.c;
 * no memfd_create wrapper (GLIBC_2.27): syscall(SYS_memfd_create); a newer call goes through syscall(2)
 * the same way.
 */
#include "hp_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define RING_MASK (HP_RING_CAPACITY - 1)
_Static_assert((HP_RING_CAPACITY & RING_MASK) == 0, "ring capacity must be a power of two");

struct ring_cell {
    _Atomic uint64_t seq;
    struct hp_fault fault;
};

static struct ring_cell g_ring[HP_RING_CAPACITY];
static _Atomic uint64_t g_ring_head;      /* producers: signal handlers */
static uint64_t g_ring_tail;              /* consumer: hp_fault_read, under g_lock */

HP_HIDDEN _Atomic uint64_t g_faults_handled, g_faults_chained, g_ring_dropped, g_remap_failed;

/* What once_locked() runs for the ring. */
void ring_init_locked(void)
{
    for (uint64_t i = 0; i < HP_RING_CAPACITY; i++)
        atomic_store_explicit(&g_ring[i].seq, i, memory_order_relaxed);
}

/* ---- inside the signal handler -------------------------------------------------------------- */

void ring_push(const struct hp_fault *f)
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

/* ---- outside the signal handler ------------------------------------------------------------- */

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
