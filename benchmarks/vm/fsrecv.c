/*
 * fsrecv: the peer's receiver of the fail-safe benchmark (issue 14 item 4). DPDK 22.11 (Debian), the failsafe
 * PMD over two e1000 sub-devices, polled on one lcore; every frame of hpsend (tests/Hotplug.VmTests/guest/
 * hpsend.c) is counted exactly as our agent's FailSafeScenario counts it (tests/Hotplug.VmAgent/SequenceCounter.cs):
 *
 *   - a frame whose sequence number was never seen is new: "unique"; if a higher number was seen before it, it is
 *     also "late" (reordered, e.g. a stale frame of the newly active port that nobody had received yet);
 *   - a frame whose number was seen before is a "duplicate" (the hub gives every NIC every frame);
 *   - per millisecond of the guest's CLOCK_MONOTONIC (since "rx-start"): new frames ("u") and all frames ("a");
 *   - at the end every run of numbers never received (below the highest seen) is one "rx-gap" with the send
 *     stamps of the frames around it; the host classifies them by time (switch-over or switch-back).
 *
 *   fsrecv EAL-ARGS... -- SECONDS
 *   e.g. fsrecv -l 0 -d /dpdk/pmds --vdev 'net_failsafe0,dev(0000:01:00.0),dev(0000:02:00.0)' \
 *               -b 0000:01:00.0 -b 0000:02:00.0 -- 20
 *
 * Output: JSON lines on stdout ("rx-start", "rx-tick" every 250 ms, "rx-event" for every ethdev event the app
 * is told about, "rx-summary", "rx-gap"..., "rx-bins"...). Built by run-failsafe-bench.sh with pkg-config libdpdk.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#define MAX_SEQ (4u << 20)
#define MAX_MS 120000
#define BURST 32

static uint64_t seen[MAX_SEQ / 64];
static float send_ms[MAX_SEQ];
static uint16_t bin_new[MAX_MS], bin_all[MAX_MS];
static uint64_t received, unique_n, dups, late, foreign, max_seq;
static int any;
static volatile sig_atomic_t stop_flag;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void count(const unsigned char *f, uint32_t len, double t0)
{
    if (len < 38 || f[12] != 0x88 || f[13] != 0xb5 || memcmp(f + 14, "HPSQ", 4) != 0) {
        foreign++;
        return;
    }
    uint64_t s = get64(f + 22);
    if (s >= MAX_SEQ) {
        foreign++;
        return;
    }
    received++;
    long ms = (long)(now_ms() - t0);
    int fresh = !(seen[s / 64] >> (s % 64) & 1);
    if (ms >= 0 && ms < MAX_MS) {
        bin_all[ms]++;
        if (fresh)
            bin_new[ms]++;
    }
    if (!fresh) {
        dups++;
        return;
    }
    seen[s / 64] |= 1ull << (s % 64);
    send_ms[s] = (float)(get64(f + 30) / 1e6);
    unique_n++;
    if (any && s < max_seq)
        late++;
    if (!any || s > max_seq)
        max_seq = s;
    any = 1;
}

static int on_event(uint16_t port, enum rte_eth_event_type type, void *arg, void *ret)
{
    (void)arg; (void)ret;
    printf("{\"t\":\"rx-event\",\"ms\":%.3f,\"port\":%u,\"type\":%d}\n", now_ms(), port, (int)type);
    fflush(stdout);
    return 0;
}

static void report(double t0, double t1)
{
    printf("{\"t\":\"rx-summary\",\"ms\":%.3f,\"side\":\"dpdk\",\"start_ms\":%.3f,\"received\":%llu,\"unique\":%llu,"
           "\"duplicates\":%llu,\"late\":%llu,\"max_seq\":%llu,\"foreign\":%llu}\n",
           t1, t0, (unsigned long long)received, (unsigned long long)unique_n, (unsigned long long)dups,
           (unsigned long long)late, (unsigned long long)max_seq, (unsigned long long)foreign);
    for (uint64_t s = 0; any && s < max_seq; s++) {
        if (seen[s / 64] >> (s % 64) & 1)
            continue;
        uint64_t e = s;
        while (e < max_seq && !(seen[e / 64] >> (e % 64) & 1))
            e++;
        printf("{\"t\":\"rx-gap\",\"first\":%llu,\"count\":%llu,\"before_ms\":%.3f,\"after_ms\":%.3f}\n",
               (unsigned long long)s, (unsigned long long)(e - s), s > 0 ? send_ms[s - 1] : -1.0, send_ms[e]);
        s = e;
    }
    long n = (long)(t1 - t0) + 1;
    if (n > MAX_MS)
        n = MAX_MS;
    for (long b = 0; b < n; b += 100) {
        printf("{\"t\":\"rx-bins\",\"from\":%ld,\"u\":\"", b);
        for (long i = b; i < b + 100 && i < n; i++)
            printf(i > b ? ",%u" : "%u", bin_new[i]);
        printf("\",\"a\":\"");
        for (long i = b; i < b + 100 && i < n; i++)
            printf(i > b ? ",%u" : "%u", bin_all[i]);
        printf("\"}\n");
    }
    fflush(stdout);
}

static void on_signal(int sig) { (void)sig; stop_flag = 1; }

int main(int argc, char **argv)
{
    int n = rte_eal_init(argc, argv);
    if (n < 0) {
        fprintf(stderr, "fsrecv: rte_eal_init failed\n");
        return 1;
    }
    argc -= n;
    argv += n;
    double seconds = argc > 1 ? atof(argv[1]) : 20;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    uint16_t port;
    if (rte_eth_dev_get_port_by_name("net_failsafe0", &port) != 0) {
        fprintf(stderr, "fsrecv: no port net_failsafe0\n");
        return 1;
    }
    for (int e = 0; e < RTE_ETH_EVENT_MAX; e++)
        rte_eth_dev_callback_register(RTE_ETH_ALL, (enum rte_eth_event_type)e, on_event, NULL);
    struct rte_mempool *mp = rte_pktmbuf_pool_create("fsrecv", 4095, 128, 0, RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
    struct rte_eth_conf conf;
    memset(&conf, 0, sizeof conf);
    if (mp == NULL || rte_eth_dev_configure(port, 1, 1, &conf) != 0
        || rte_eth_rx_queue_setup(port, 0, 256, (unsigned)rte_socket_id(), NULL, mp) != 0
        || rte_eth_tx_queue_setup(port, 0, 256, (unsigned)rte_socket_id(), NULL) != 0
        || rte_eth_dev_start(port) != 0) {
        fprintf(stderr, "fsrecv: port setup failed\n");
        return 1;
    }
    rte_eth_promiscuous_enable(port);
    double t0 = now_ms(), end = t0 + seconds * 1e3, tick = t0 + 250;
    printf("{\"t\":\"rx-start\",\"ms\":%.3f,\"side\":\"dpdk\",\"port\":%u,\"seconds\":%.1f}\n", t0, port, seconds);
    fflush(stdout);
    struct rte_mbuf *pkts[BURST];
    double t;
    while (!stop_flag && (t = now_ms()) < end) {
        uint16_t k = rte_eth_rx_burst(port, 0, pkts, BURST);
        for (uint16_t i = 0; i < k; i++) {
            count(rte_pktmbuf_mtod(pkts[i], const unsigned char *), rte_pktmbuf_data_len(pkts[i]), t0);
            rte_pktmbuf_free(pkts[i]);
        }
        if (t >= tick) {
            tick += 250;
            printf("{\"t\":\"rx-tick\",\"ms\":%.3f,\"received\":%llu,\"unique\":%llu}\n", t, (unsigned long long)received,
                   (unsigned long long)unique_n);
            fflush(stdout);
        }
    }
    report(t0, now_ms());
    rte_eth_dev_stop(port);
    rte_eth_dev_close(port);
    rte_eal_cleanup();
    return 0;
}
