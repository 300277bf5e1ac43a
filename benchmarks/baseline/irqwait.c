/*
 * The floor of "interrupt -> a waiting thread runs": a thread blocks in epoll_wait on an eventfd (what a
 * vfio MSI-X trigger is); another thread stamps CLOCK_MONOTONIC and writes the eventfd (what the kernel's
 * eventfd_signal does). Sample = the waiter's stamp right after epoll_wait returns - the writer's stamp.
 * Then the waiter reads the eventfd (resetting it) and hands back through a second eventfd, so every
 * write finds the waiter blocked again. With BENCH_PIN=1 the waiter runs on CPU 0 and the writer on the
 * last CPU, as the managed figure places its event thread and its writer.
 *
 *   irqwait <samples>
 */
#include "bench_common.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

static int g_irq = -1, g_back = -1, g_epoll = -1;
static _Atomic int64_t g_woke_ns;
static int g_total;

static void *waiter(void *arg)
{
    (void)arg;
    struct epoll_event ev;
    for (int i = 0; i < g_total; i++) {
        int n;
        do
            n = epoll_wait(g_epoll, &ev, 1, -1);
        while (n < 0 && errno == EINTR);
        if (n != 1)
            die("epoll_wait");
        atomic_store(&g_woke_ns, now_ns());
        uint64_t count;
        if (read(g_irq, &count, sizeof count) != sizeof count)
            die("read irq eventfd");
        uint64_t one = 1;
        if (write(g_back, &one, sizeof one) != sizeof one)
            die("write back eventfd");
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <samples>\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[1]);
    int warm = n / 10 < 100 ? 100 : n / 10;
    g_total = warm + n;
    g_irq = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    g_back = eventfd(0, EFD_CLOEXEC);
    g_epoll = epoll_create1(EPOLL_CLOEXEC);
    if (g_irq < 0 || g_back < 0 || g_epoll < 0)
        die("eventfd/epoll");
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = g_irq };
    if (epoll_ctl(g_epoll, EPOLL_CTL_ADD, g_irq, &ev) != 0)
        die("epoll_ctl");
    pin_to(0); /* the waiter inherits CPU 0 */
    pthread_t t;
    if (pthread_create(&t, NULL, waiter, NULL) != 0)
        die("pthread_create");
    pin_to(-1);
    int64_t *samples = calloc((size_t)n, sizeof *samples);
    for (int i = 0; i < g_total; i++) {
        usleep(20); /* let the waiter block in epoll_wait again */
        int64_t t0 = now_ns();
        uint64_t one = 1;
        if (write(g_irq, &one, sizeof one) != sizeof one)
            die("write irq eventfd");
        uint64_t back;
        if (read(g_back, &back, sizeof back) != sizeof back)
            die("read back eventfd");
        if (i >= warm)
            samples[i - warm] = atomic_load(&g_woke_ns) - t0;
    }
    pthread_join(t, NULL);
    report("irqwait epoll_wait wake", samples, n);
    return 0;
}
