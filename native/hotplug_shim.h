/*
 * hotplug_shim: the only code of Hotplug that runs inside a signal handler.
 *
 * It owns one SIGBUS handler, a fixed table of registered BAR ranges and a lock-free ring of faults.
 * When a SIGBUS hits a registered range, the handler replaces the whole range with anonymous memory
 * (zeros) or a private map of an all-0xFF memfd, records the fault, wakes the event loop through an
 * eventfd and returns so the faulting access is retried and succeeds. Every other SIGBUS goes to the
 * handler that was installed before ours (the .NET runtime's), exactly as the kernel would have called it.
 *
 * Managed code never runs in the handler: it drains the ring from its own thread.
 */
#ifndef HOTPLUG_SHIM_H
#define HOTPLUG_SHIM_H

#include <stddef.h>
#include <stdint.h>

#define HP_EXPORT __attribute__((visibility("default")))

/* ABI version of this header; the managed side checks it at load. */
#define HP_SHIM_ABI_VERSION 2

/* Capacity of the range table and of the fault ring (a power of two). */
#define HP_MAX_RANGES 256
#define HP_RING_CAPACITY 1024

/* What a remapped range reads as. */
enum hp_fill {
    HP_FILL_ZERO = 0, /* anonymous zero pages (DPDK's behaviour) */
    HP_FILL_ONES = 1, /* all-ones, what a removed PCIe device returns */
};

/* One fault that the handler recovered from. */
struct hp_fault {
    uint64_t cookie;        /* the cookie given to hp_range_add */
    uint64_t address;       /* si_addr */
    uint64_t range_start;   /* start of the range that was remapped */
    int64_t  fault_ns;      /* CLOCK_MONOTONIC when the handler started */
    int64_t  remapped_ns;   /* CLOCK_MONOTONIC when the remap was done */
    int32_t  thread_id;     /* gettid() of the faulting thread */
    int32_t  slot;          /* range slot */
    int32_t  si_code;       /* BUS_ADRERR, BUS_OBJERR, ... */
    int32_t  first;         /* 1 when this fault remapped the range, 0 when it found it remapped */
};

/* Counters, for diagnostics and tests. */
struct hp_stats {
    uint64_t faults_handled;  /* faults inside a registered range */
    uint64_t faults_chained;  /* faults passed to the previous handler */
    uint64_t ring_dropped;    /* faults not recorded because the ring was full */
    uint64_t remap_failed;    /* mmap(MAP_FIXED) failures inside the handler */
    int32_t  installed;       /* 1 while our handler is active */
    int32_t  ranges;          /* registered ranges */
};

/* The layout is part of the ABI: the managed mirrors (NativeShim.Fault and NativeShim.Stats in
 * src/Hotplug/Linux/NativeShim.cs) hard-code it, and tests/Hotplug.Tests/Native/ShimStructLayoutTests.cs
 * checks the same numbers on their side. */
_Static_assert(sizeof(struct hp_fault) == 56, "struct hp_fault: size is part of the ABI");
_Static_assert(offsetof(struct hp_fault, cookie) == 0, "struct hp_fault: cookie");
_Static_assert(offsetof(struct hp_fault, address) == 8, "struct hp_fault: address");
_Static_assert(offsetof(struct hp_fault, range_start) == 16, "struct hp_fault: range_start");
_Static_assert(offsetof(struct hp_fault, fault_ns) == 24, "struct hp_fault: fault_ns");
_Static_assert(offsetof(struct hp_fault, remapped_ns) == 32, "struct hp_fault: remapped_ns");
_Static_assert(offsetof(struct hp_fault, thread_id) == 40, "struct hp_fault: thread_id");
_Static_assert(offsetof(struct hp_fault, slot) == 44, "struct hp_fault: slot");
_Static_assert(offsetof(struct hp_fault, si_code) == 48, "struct hp_fault: si_code");
_Static_assert(offsetof(struct hp_fault, first) == 52, "struct hp_fault: first");
_Static_assert(sizeof(struct hp_stats) == 40, "struct hp_stats: size is part of the ABI");
_Static_assert(offsetof(struct hp_stats, faults_handled) == 0, "struct hp_stats: faults_handled");
_Static_assert(offsetof(struct hp_stats, faults_chained) == 8, "struct hp_stats: faults_chained");
_Static_assert(offsetof(struct hp_stats, ring_dropped) == 16, "struct hp_stats: ring_dropped");
_Static_assert(offsetof(struct hp_stats, remap_failed) == 24, "struct hp_stats: remap_failed");
_Static_assert(offsetof(struct hp_stats, installed) == 32, "struct hp_stats: installed");
_Static_assert(offsetof(struct hp_stats, ranges) == 36, "struct hp_stats: ranges");

HP_EXPORT int hp_shim_abi_version(void);
HP_EXPORT const char *hp_shim_version(void);

/* Installs the SIGBUS handler (reference counted). Returns 0 or -errno. */
HP_EXPORT int hp_sigbus_install(void);
/* Drops one reference; on the last one restores the saved action if ours is still the installed one.
 * Returns 0, 1 if another handler was installed over ours (it is left in place and ours passes every
 * signal through), or -errno. */
HP_EXPORT int hp_sigbus_uninstall(void);
/* The eventfd (EFD_NONBLOCK|EFD_CLOEXEC) written after each recorded fault, or -1 before install. */
HP_EXPORT int hp_sigbus_eventfd(void);

/* Registers [addr, addr+len) (page aligned) with its fill mode. Returns the slot (>= 0) or -errno. */
HP_EXPORT int hp_range_add(void *addr, size_t len, uint64_t cookie, int fill);
/* Unregisters a slot. A range removed after it was remapped is remembered as retired (dead memory is mapped
 * there): a fault raised before the remap whose handler runs after the removal is retried, not chained, until
 * hp_retired_forget. Any other fault in the range afterwards is chained like any other. Returns 0 or -errno. */
HP_EXPORT int hp_range_remove(int slot);
/* Forgets a retired range starting at addr (call before unmapping it). */
HP_EXPORT void hp_retired_forget(void *addr);
/* Replaces the range's memory now (the same remap the handler does). Returns 1 if this call remapped
 * it, 0 if it was already remapped, or -errno. */
HP_EXPORT int hp_range_remap(int slot);
/* 1 if the slot's range has been remapped, 0 if not, -EINVAL for a free slot. */
HP_EXPORT int hp_range_is_remapped(int slot);

/* Copies up to max recorded faults, oldest first. Returns how many. Single consumer. */
HP_EXPORT int hp_fault_read(struct hp_fault *out, int max);
/* Records claimed by handlers so far (the ring's producer position) and records read by hp_fault_read (its
 * consumer position). A mapping released at produced() == P may still be named by records below P until
 * consumed() >= P: keep its address range reserved (mapped to dead memory) until then. */
HP_EXPORT uint64_t hp_fault_produced(void);
HP_EXPORT uint64_t hp_fault_consumed(void);
HP_EXPORT void hp_stats_get(struct hp_stats *out);

/* CLOCK_MONOTONIC in nanoseconds: the clock the fault records use. */
HP_EXPORT int64_t hp_monotonic_ns(void);

#endif
