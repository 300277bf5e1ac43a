/*
 * The floor of "a kernel uevent reaches the app": a NETLINK_KOBJECT_UEVENT socket bound to the kernel
 * group, a thread blocked in recv() on it, and a real uevent made by writing "change" to
 * /sys/class/net/lo/uevent (harmless: the kernel just re-announces lo).
 *
 *   uevent <iterations> [uevent-file]
 *
 * Sample = (reader has received and split the message into KEY=VALUE fields, matched lo's change)
 *          - (just before the write). Same points as the managed figure.
 */
#include "bench_common.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

static int g_sock = -1;
static int g_done_efd = -1;
static _Atomic int64_t g_seen_ns;

/* Splits the message into fields the way a monitor must, and says whether it is lo's "change". */
static int is_lo_change(const char *buf, size_t len)
{
    const char *action = NULL, *devpath = NULL, *subsystem = NULL, *seqnum = NULL;
    size_t off = strnlen(buf, len) + 1; /* header "action@devpath" */
    int fields = 0;
    while (off < len) {
        const char *kv = buf + off;
        size_t n = strnlen(kv, len - off);
        if (strncmp(kv, "ACTION=", 7) == 0)
            action = kv + 7;
        else if (strncmp(kv, "DEVPATH=", 8) == 0)
            devpath = kv + 8;
        else if (strncmp(kv, "SUBSYSTEM=", 10) == 0)
            subsystem = kv + 10;
        else if (strncmp(kv, "SEQNUM=", 7) == 0)
            seqnum = kv + 7;
        fields++;
        off += n + 1;
    }
    (void)subsystem;
    (void)seqnum;
    (void)fields;
    return action && devpath && strcmp(action, "change") == 0 && strcmp(devpath, "/devices/virtual/net/lo") == 0;
}

static void *reader(void *arg)
{
    (void)arg;
    pin_to(0);
    static char buf[16384];
    for (;;) {
        ssize_t n = recv(g_sock, buf, sizeof buf - 1, 0);
        if (n < 0) {
            if (errno == EINTR || errno == ENOBUFS)
                continue;
            return NULL;
        }
        buf[n] = 0;
        if (!is_lo_change(buf, (size_t)n))
            continue;
        atomic_store(&g_seen_ns, now_ns());
        uint64_t one = 1;
        if (write(g_done_efd, &one, sizeof one) != sizeof one)
            return NULL;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s <iterations> [uevent-file]\n", argv[0]);
        return 2;
    }
    pin_to(-1);
    int iters = atoi(argv[1]);
    const char *file = argc > 2 ? argv[2] : "/sys/class/net/lo/uevent";
    int64_t *samples = calloc((size_t)iters, sizeof *samples);

    g_sock = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
    if (g_sock < 0)
        die("socket(NETLINK_KOBJECT_UEVENT)");
    int rcvbuf = 1 << 20;
    if (setsockopt(g_sock, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
        setsockopt(g_sock, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_pid = 0, .nl_groups = 1 };
    if (bind(g_sock, (struct sockaddr *)&sa, sizeof sa) != 0)
        die("bind netlink group 1");
    g_done_efd = eventfd(0, EFD_CLOEXEC);
    int fd = open(file, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || g_done_efd < 0)
        die(file);
    pthread_t th;
    if (pthread_create(&th, NULL, reader, NULL) != 0)
        die("pthread_create");
    usleep(10000); /* let the reader block in recv */

    int got = 0, lost = 0;
    for (int i = 0; i < iters; i++) {
        int64_t t0 = now_ns();
        if (pwrite(fd, "change", 6, 0) != 6)
            die("write uevent");
        struct pollfd p = { .fd = g_done_efd, .events = POLLIN };
        if (poll(&p, 1, 1000) != 1) {
            lost++;
            continue;
        }
        uint64_t c;
        if (read(g_done_efd, &c, sizeof c) != sizeof c)
            die("read done");
        samples[got++] = atomic_load(&g_seen_ns) - t0;
    }
    if (lost)
        fprintf(stderr, "uevent: %d of %d uevents not seen within 1 s\n", lost, iters);
    report("uevent", samples, got);
    return 0;
}
