/*
 * hpguest: a tiny static helper for the QEMU guest of the Vm test tier.
 * Built by build-image.sh with `gcc -static` and put into the initramfs as /bin/hpguest.
 *
 *   hpguest now                                  monotonic clock in milliseconds (3 decimals)
 *   hpguest bar-read  RESOURCE_FILE OFFSET       prints the 32-bit value as 0x%08x
 *   hpguest bar-write RESOURCE_FILE OFFSET VALUE writes a 32-bit value
 *   hpguest uevents TIMEOUT_MS [ACTION SUBSYSTEM [DEVPATH_SUFFIX]]
 *        prints every kernel uevent as a JSON line until one matches (or the timeout passes);
 *        the first line, {"t":"uevents-ready"}, says the socket is bound.
 *        Exit 0 when the match was seen (or no match was asked for), 3 on timeout.
 *   hpguest marks TTY                            the benchmarks' marker reader (hpguest-marks.h)
 *   hpguest stamp TAG                            copies stdin to stdout line by line, each line prefixed with
 *        "TAG <monotonic ms> " taken when the line arrived (another program's log on the guest's clock)
 *
 * Output is line-buffered JSON so that it can go straight to the control serial port.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static volatile uint32_t *map_bar(const char *path, unsigned long off, int *fd_out, size_t *len_out)
{
    int fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC);
    if (fd < 0) { perror(path); exit(1); }
    struct stat st;
    if (fstat(fd, &st) < 0) { perror("fstat"); exit(1); }
    size_t len = st.st_size ? (size_t)st.st_size : 4096;
    if (off + 4 > len) { fprintf(stderr, "offset 0x%lx outside %zu bytes\n", off, len); exit(1); }
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) { perror("mmap"); exit(1); }
    *fd_out = fd;
    *len_out = len;
    return (volatile uint32_t *)((char *)p + off);
}

static int uevents(int argc, char **argv)
{
    if (argc < 1) { fprintf(stderr, "usage: uevents TIMEOUT_MS [ACTION SUBSYSTEM [DEVPATH_SUFFIX]] | stamp TAG | marks TTY\n"); return 2; }
    long timeout = strtol(argv[0], NULL, 0);
    const char *want_action = argc > 1 ? argv[1] : NULL;
    const char *want_subsys = argc > 2 ? argv[2] : NULL;
    const char *want_suffix = argc > 3 ? argv[3] : NULL;

    int s = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
    if (s < 0) { perror("socket"); return 1; }
    int rcv = 1 << 20;
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_pid = 0, .nl_groups = 1 };
    if (bind(s, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("bind"); return 1; }
    printf("{\"t\":\"uevents-ready\",\"ms\":%.3f}\n", now_ms());
    fflush(stdout);

    double deadline = now_ms() + timeout;
    static char buf[16384];
    for (;;) {
        double left = deadline - now_ms();
        if (left <= 0) break;
        struct pollfd pfd = { .fd = s, .events = POLLIN };
        int r = poll(&pfd, 1, (int)left + 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;
        ssize_t n = recv(s, buf, sizeof buf - 1, 0);
        if (n <= 0) continue;
        double t = now_ms();
        buf[n] = 0;
        const char *action = "", *devpath = "", *subsys = "";
        for (char *p = buf + strlen(buf) + 1; p < buf + n; p += strlen(p) + 1) {
            if (!strncmp(p, "ACTION=", 7)) action = p + 7;
            else if (!strncmp(p, "DEVPATH=", 8)) devpath = p + 8;
            else if (!strncmp(p, "SUBSYSTEM=", 10)) subsys = p + 10;
        }
        printf("{\"t\":\"uevent\",\"ms\":%.3f,\"action\":", t);
        json_str(action);
        printf(",\"subsystem\":");
        json_str(subsys);
        printf(",\"devpath\":");
        json_str(devpath);
        printf("}\n");
        fflush(stdout);
        if (want_action && !strcmp(action, want_action) && (!want_subsys || !strcmp(subsys, want_subsys))) {
            size_t dl = strlen(devpath), sl = want_suffix ? strlen(want_suffix) : 0;
            if (!want_suffix || (dl >= sl && !strcmp(devpath + dl - sl, want_suffix)))
                return 0;
        }
    }
    printf("{\"t\":\"uevents-timeout\",\"ms\":%.3f}\n", now_ms());
    return want_action ? 3 : 0;
}

static int stamp(const char *tag)
{
    static char line[8192];
    size_t len = 0;
    char buf[4096];
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        double t = now_ms();
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; i++) {
            char c = buf[i];
            if (c == '\r') continue;
            if (c != '\n' && len < sizeof line - 1) { line[len++] = c; continue; }
            if (c != '\n') continue; /* over-long line: the rest is dropped */
            line[len] = 0;
            printf("%s %.3f %s\n", tag, t, line);
            len = 0;
        }
    }
    if (len) { line[len] = 0; printf("%s %.3f %s\n", tag, now_ms(), line); }
    return 0;
}

#include "hpguest-marks.h"

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) goto usage;
    if (!strcmp(argv[1], "now")) {
        printf("%.3f\n", now_ms());
        return 0;
    }
    if (!strcmp(argv[1], "bar-read") && argc == 4) {
        int fd; size_t len;
        volatile uint32_t *r = map_bar(argv[2], strtoul(argv[3], NULL, 0), &fd, &len);
        printf("0x%08x\n", *r);
        return 0;
    }
    if (!strcmp(argv[1], "bar-write") && argc == 5) {
        int fd; size_t len;
        volatile uint32_t *r = map_bar(argv[2], strtoul(argv[3], NULL, 0), &fd, &len);
        *r = (uint32_t)strtoul(argv[4], NULL, 0);
        return 0;
    }
    if (!strcmp(argv[1], "uevents"))
        return uevents(argc - 2, argv + 2);
    if (!strcmp(argv[1], "stamp") && argc == 3)
        return stamp(argv[2]);
    if (!strcmp(argv[1], "marks") && argc == 3)
        return marks(argv[2]);
usage:
    fprintf(stderr, "usage: hpguest now | bar-read FILE OFF | bar-write FILE OFF VAL | uevents TIMEOUT_MS [ACTION SUBSYSTEM [DEVPATH_SUFFIX]] | stamp TAG | marks TTY\n");
    return 2;
}
