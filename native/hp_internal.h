/*
 * hp_internal.h: what the shim's C files share with each other, never exported. hotplug_shim.h is the
 * public contract; everything declared here is hidden (the library is also built with
 * -fvisibility=hidden, the attribute says it where the symbol is declared).
 *
 *   hotplug_shim.c  the SIGBUS handler and chaining, install/uninstall, versions, clock, the once-init
 *   hp_ranges.c     the range table: add/remove/remap, find and claim-and-remap (handler), the all-ones memfd
 *   hp_ring.c       the fault ring (push from the handler, read from the event loop) and the counters
 */
#ifndef HP_INTERNAL_H
#define HP_INTERNAL_H

#include "hotplug_shim.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define HP_HIDDEN __attribute__((visibility("hidden")))

/* ---- the range table (hp_ranges.c) ----------------------------------------------------------- */

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

HP_HIDDEN extern struct range g_ranges[HP_MAX_RANGES];
HP_HIDDEN extern _Atomic int g_range_hwm;   /* slots [0, hwm) may be in use */

/* In the handler. The range holding a (and its generation in *gen), or NULL. */
HP_HIDDEN struct range *find_range(uintptr_t a, uint64_t *gen);
/* In the handler and in hp_range_remap. See hp_ranges.c for the return values. */
HP_HIDDEN int claim_and_remap(struct range *r, uint64_t gen, uintptr_t a);
/* In the handler: 1 if a lies in a range removed after it was remapped and not unmapped since (dead memory: the
 * access can simply be retried), else 0. */
HP_HIDDEN int in_retired_range(uintptr_t a);

/* ---- the fault ring and the counters (hp_ring.c) --------------------------------------------- */

/* In the handler: records f, or counts it in g_ring_dropped when the ring is full. */
HP_HIDDEN void ring_push(const struct hp_fault *f);
/* Sets up the ring's sequence numbers. Called once, by once_locked(), under g_lock. */
HP_HIDDEN void ring_init_locked(void);

HP_HIDDEN extern _Atomic uint64_t g_faults_handled, g_faults_chained, g_ring_dropped, g_remap_failed;

/* ---- the handler's state (hotplug_shim.c) ---------------------------------------------------- */

HP_HIDDEN extern _Atomic int g_enabled;     /* handler claims faults only while 1 */
HP_HIDDEN extern pthread_mutex_t g_lock;    /* install/uninstall, range_add, the ring's consumer side */

/* The one-time setup (ring, eventfd). Under g_lock. */
HP_HIDDEN void once_locked(void);

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

#endif
