/*
 * fwd: DPDK's side of the forwarding benchmark (issue 14 item 6; run-fwd-bench.sh). The same work as our agent's
 * e1000-fwd scenario (tests/Hotplug.VmAgent/E1000ForwardScenario.cs), through DPDK 22.11's em PMD (net_e1000_em):
 *
 *   - ports A and B (two QEMU e1000s on one QEMU hub), 1 rx + 1 tx queue each, rings of 512, no promiscuous mode;
 *   - links up, then 1.1 s waited out (QEMU's e1000 holds received frames back for 1 s after each RCTL write);
 *   - INFLIGHT frames of 60 bytes addressed to A (ethertype 0x88B5) sent through B;
 *   - for SECONDS of the guest's CLOCK_MONOTONIC: rte_eth_rx_burst(A, 32) straight into rte_eth_tx_burst(B) (what
 *     B sends the hub repeats to A, so the frames circulate); frames B does not take are freed and counted as dropped.
 *
 *   fwd EAL-ARGS... -- BDF_A BDF_B SECONDS INFLIGHT [BURST]
 *
 * Output: one JSON line {"t":"dpdk-fwd",...} with the fields of the agent's "e1000-fwd" line (no alloc_bytes).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#define RING 512
#define MAX_BURST 512

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int setup(uint16_t port, struct rte_mempool *mp)
{
    struct rte_eth_conf conf;
    memset(&conf, 0, sizeof conf);
    return rte_eth_dev_configure(port, 1, 1, &conf) != 0
        || rte_eth_rx_queue_setup(port, 0, RING, (unsigned)rte_socket_id(), NULL, mp) != 0
        || rte_eth_tx_queue_setup(port, 0, RING, (unsigned)rte_socket_id(), NULL) != 0
        || rte_eth_dev_start(port) != 0;
}

static int link_up(uint16_t port)
{
    struct rte_eth_link l;
    for (int i = 0; i < 50; i++) {
        if (rte_eth_link_get_nowait(port, &l) == 0 && l.link_status)
            return 1;
        usleep(100000);
    }
    return 0;
}

int main(int argc, char **argv)
{
    int n = rte_eal_init(argc, argv);
    if (n < 0) {
        fprintf(stderr, "fwd: rte_eal_init failed\n");
        return 1;
    }
    argc -= n;
    argv += n;
    if (argc < 5) {
        fprintf(stderr, "usage: fwd EAL-ARGS... -- BDF_A BDF_B SECONDS INFLIGHT [BURST]\n");
        return 2;
    }
    double seconds = atof(argv[3]);
    int inflight = atoi(argv[4]);
    int burst = argc > 5 ? atoi(argv[5]) : 32;
    if (burst < 1 || burst > MAX_BURST)
        burst = 32;
    uint16_t a, b;
    if (rte_eth_dev_get_port_by_name(argv[1], &a) != 0 || rte_eth_dev_get_port_by_name(argv[2], &b) != 0) {
        fprintf(stderr, "fwd: no port %s or %s\n", argv[1], argv[2]);
        return 1;
    }
    struct rte_mempool *mp = rte_pktmbuf_pool_create("fwd", 4095, 128, 0, RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
    if (mp == NULL || setup(a, mp) || setup(b, mp)) {
        fprintf(stderr, "fwd: port setup failed\n");
        return 1;
    }
    if (!link_up(a) || !link_up(b)) {
        printf("{\"t\":\"error\",\"msg\":\"no link\"}\n");
        return 1;
    }
    usleep(1100000);
    struct rte_ether_addr mac_a, mac_b;
    rte_eth_macaddr_get(a, &mac_a);
    rte_eth_macaddr_get(b, &mac_b);

    int injected = 0;
    double deadline = now_ms() + 10e3;
    while (injected < inflight && now_ms() < deadline) {
        struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
        if (m == NULL)
            continue;
        if (rte_pktmbuf_append(m, 60) == NULL) {
            rte_pktmbuf_free(m);
            continue;
        }
        unsigned char *f = rte_pktmbuf_mtod(m, unsigned char *);
        memset(f, 0, 60);
        memcpy(f, mac_a.addr_bytes, 6);
        memcpy(f + 6, mac_b.addr_bytes, 6);
        f[12] = 0x88;
        f[13] = 0xb5;
        memcpy(f + 14, &injected, 4);
        if (rte_eth_tx_burst(b, 0, &m, 1) == 1)
            injected++;
        else
            rte_pktmbuf_free(m);
    }

    struct rte_mbuf *pkts[MAX_BURST];
    uint64_t forwarded = 0, rx_bursts = 0, tx_bursts = 0, empty = 0, dropped = 0;
    double t0 = now_ms(), end = t0 + seconds * 1e3;
    while (now_ms() < end) {
        uint16_t k = rte_eth_rx_burst(a, 0, pkts, (uint16_t)burst);
        rx_bursts++;
        if (k == 0) {
            empty++;
            continue;
        }
        uint16_t s = rte_eth_tx_burst(b, 0, pkts, k);
        tx_bursts++;
        if (s < k) {
            dropped += k - s;
            rte_pktmbuf_free_bulk(pkts + s, k - s);
        }
        forwarded += s;
    }
    double ms = now_ms() - t0;
    struct rte_eth_stats st;
    rte_eth_stats_get(a, &st);
    printf("{\"t\":\"dpdk-fwd\",\"inflight\":%d,\"burst\":%d,\"elapsed_ms\":%.3f,\"forwarded\":%llu,\"pps\":%.1f,"
           "\"mbit_s\":%.3f,\"rx_bursts\":%llu,\"tx_bursts\":%llu,\"empty_polls\":%llu,\"frames_per_burst\":%.3f,"
           "\"dropped\":%llu,\"rx_errors\":%llu}\n",
           injected, burst, ms, (unsigned long long)forwarded, forwarded / (ms / 1e3), st.ibytes * 8 / (ms / 1e3) / 1e6,
           (unsigned long long)rx_bursts, (unsigned long long)tx_bursts, (unsigned long long)empty,
           tx_bursts ? (double)forwarded / tx_bursts : 0.0, (unsigned long long)dropped,
           (unsigned long long)(st.ierrors + st.imissed));
    fflush(stdout);
    rte_eth_dev_stop(a);
    rte_eth_dev_stop(b);
    rte_eth_dev_close(a);
    rte_eth_dev_close(b);
    rte_eal_cleanup();
    return forwarded > 0 ? 0 : 1;
}
