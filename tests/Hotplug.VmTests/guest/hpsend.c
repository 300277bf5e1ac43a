/*
 * hpsend: the traffic source of the fail-safe packet scenario (issue 14), a static helper in the Vm guest.
 *
 *   hpsend tx IFACE PPS SECONDS    send sequence-numbered frames on IFACE (AF_PACKET) at PPS for SECONDS
 *   hpsend rx IFACE SECONDS        count those frames on IFACE (AF_PACKET): a check of the source itself
 *
 * A frame: broadcast destination, source 02:48:50:00:00:01, EtherType 0x88b5 (local experimental), then
 * "HPSQ", a 32-bit pad, the 64-bit sequence number (0, 1, 2, ...: every number is sent exactly once) and the
 * 64-bit guest CLOCK_MONOTONIC send time in ns, both little-endian; zero padding to 60 bytes.
 *
 * The sender keeps the rate with a credit clock: it sleeps ~1 ms, then sends every frame that is due since the
 * start. After a stall of more than 20 ms (the TCG guest loses the CPU) it forgets the backlog instead of sending
 * it as one burst ("skipped" counts the frames never sent; their numbers are not used). A frame the kernel
 * refuses (ENOBUFS) is retried at the next tick with the same number. Output: JSON lines on stdout,
 * {"t":"send-start",...}, then {"t":"send-end","sent":N,...} at the end or on SIGTERM/SIGINT; SIGUSR1 prints
 * {"t":"send-count",...} at once. The frames sent are numbers 0 .. sent-1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ETHERTYPE_HPSQ 0x88b5
#define FRAME_LEN 60

static volatile sig_atomic_t stop_flag, count_flag;

static void on_signal(int sig) { if (sig == SIGUSR1) count_flag = 1; else stop_flag = 1; }

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double ms(uint64_t ns) { return ns / 1e6; }

static int open_iface(const char *name, int *ifindex)
{
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETHERTYPE_HPSQ));
    if (fd < 0) { perror("socket(AF_PACKET)"); exit(1); }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) { perror("SIOCGIFFLAGS"); exit(1); }
    if (!(ifr.ifr_flags & IFF_UP)) {
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) { perror("SIOCSIFFLAGS"); exit(1); }
    }
    if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) { perror("SIOCGIFINDEX"); exit(1); }
    *ifindex = ifr.ifr_ifindex;
    struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETHERTYPE_HPSQ), .sll_ifindex = *ifindex };
    if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) { perror("bind"); exit(1); }
    return fd;
}

static void put64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static uint64_t get64(const unsigned char *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }

static int tx(const char *iface, long pps, double seconds)
{
    int ifindex;
    int fd = open_iface(iface, &ifindex);
    unsigned char f[FRAME_LEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x48, 0x50, 0x00, 0x00, 0x01,
                                   ETHERTYPE_HPSQ >> 8, ETHERTYPE_HPSQ & 0xff, 'H', 'P', 'S', 'Q' };
    uint64_t seq = 0, skipped = 0, refused = 0, ticks = 0, stalls = 0;
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)(seconds * 1e9), base = t0, due_base = 0;
    printf("{\"t\":\"send-start\",\"ms\":%.3f,\"iface\":\"%s\",\"pps\":%ld,\"seconds\":%.1f}\n", ms(t0), iface, pps, seconds);
    fflush(stdout);
    while (!stop_flag) {
        uint64_t t = now_ns();
        if (t >= end) break;
        uint64_t due = due_base + (t - base) * (uint64_t)pps / 1000000000ull;
        if (due > seq + skipped + (uint64_t)pps / 50) { /* > 20 ms behind: drop the backlog */
            uint64_t lost = due - (seq + skipped);
            skipped += lost;
            stalls++;
            base = t;
            due_base = seq + skipped;
            due = due_base;
        }
        while (seq + skipped < due) {
            put64(f + 18 + 4, seq);
            put64(f + 18 + 12, now_ns());
            if (send(fd, f, sizeof f, 0) != (ssize_t)sizeof f) {
                refused++;
                break; /* ENOBUFS & co: this number again at the next tick */
            }
            seq++;
        }
        if (count_flag) {
            count_flag = 0;
            printf("{\"t\":\"send-count\",\"ms\":%.3f,\"sent\":%llu}\n", ms(now_ns()), (unsigned long long)seq);
            fflush(stdout);
        }
        ticks++;
        struct timespec nap = { 0, 1000000 };
        nanosleep(&nap, NULL);
    }
    uint64_t t1 = now_ns();
    printf("{\"t\":\"send-end\",\"ms\":%.3f,\"sent\":%llu,\"first_ms\":%.3f,\"elapsed_ms\":%.3f,\"pps_real\":%.0f,"
           "\"skipped\":%llu,\"stalls\":%llu,\"refused\":%llu,\"ticks\":%llu}\n",
           ms(t1), (unsigned long long)seq, ms(t0), ms(t1 - t0), seq / ((t1 - t0) / 1e9),
           (unsigned long long)skipped, (unsigned long long)stalls, (unsigned long long)refused, (unsigned long long)ticks);
    fflush(stdout);
    close(fd);
    return 0;
}

static int rx(const char *iface, double seconds)
{
    int ifindex;
    int fd = open_iface(iface, &ifindex);
    struct timeval tv = { 0, 100000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    unsigned char f[2048];
    uint64_t got = 0, gaps = 0, missing = 0, dups = 0, next = 0, first = 0, last = 0;
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)(seconds * 1e9);
    int started = 0;
    while (!stop_flag && now_ns() < end) {
        ssize_t n = recv(fd, f, sizeof f, 0);
        if (n < 34 || memcmp(f + 14, "HPSQ", 4) != 0) continue;
        uint64_t s = get64(f + 22);
        got++;
        if (!started) { started = 1; first = s; next = s; }
        if (s > next) { gaps++; missing += s - next; }
        if (s < next) dups++; /* an old number: this checker keeps no bitmap, it only needs the order */
        if (s >= next) next = s + 1;
        last = s;
    }
    printf("{\"t\":\"rx-end\",\"ms\":%.3f,\"received\":%llu,\"first\":%llu,\"last\":%llu,\"gaps\":%llu,\"missing\":%llu,\"old\":%llu}\n",
           ms(now_ns()), (unsigned long long)got, (unsigned long long)first, (unsigned long long)last,
           (unsigned long long)gaps, (unsigned long long)missing, (unsigned long long)dups);
    fflush(stdout);
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    if (argc == 5 && strcmp(argv[1], "tx") == 0 && atol(argv[3]) > 0)
        return tx(argv[2], atol(argv[3]), atof(argv[4]));
    if (argc == 4 && strcmp(argv[1], "rx") == 0)
        return rx(argv[2], atof(argv[3]));
    fprintf(stderr, "usage: hpsend tx IFACE PPS SECONDS | hpsend rx IFACE SECONDS\n");
    return 2;
}
