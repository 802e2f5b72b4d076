/*
 * libfastlane_dpdk.so: the DPDK calls fastlane-dpdk makes, as exported functions.
 *
 * DPDK's burst and mbuf functions are static inline in its headers, so Rust cannot call them
 * through the shared libraries; this shim gives each one a symbol. It is a separate library so
 * that the main binary never links librte_*: fastlane-dpdk loads it only when a config asks for
 * DPDK. Every function that can fail returns 0 or a negative errno; fastlane_dpdk_port_start
 * also says which of its steps failed.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#define FASTLANE_EXPORT __attribute__((visibility("default")))

/* Layout facts the Rust side checks against its bindgen view of struct rte_mbuf. */
enum { FASTLANE_DPDK_LAYOUT_FIELDS = 7 };

FASTLANE_EXPORT void fastlane_dpdk_mbuf_layout(uint32_t out[FASTLANE_DPDK_LAYOUT_FIELDS])
{
	out[0] = sizeof(struct rte_mbuf);
	out[1] = offsetof(struct rte_mbuf, buf_addr);
	out[2] = offsetof(struct rte_mbuf, data_off);
	out[3] = offsetof(struct rte_mbuf, nb_segs);
	out[4] = offsetof(struct rte_mbuf, pkt_len);
	out[5] = offsetof(struct rte_mbuf, data_len);
	out[6] = offsetof(struct rte_mbuf, buf_len);
}

FASTLANE_EXPORT int fastlane_dpdk_errno(void)
{
	return rte_errno;
}

FASTLANE_EXPORT const char *fastlane_dpdk_strerror(int error)
{
	return rte_strerror(error);
}

/* Returns the number of arguments parsed, or -1 with rte_errno set. */
FASTLANE_EXPORT int fastlane_dpdk_eal_init(int argc, char **argv)
{
	return rte_eal_init(argc, argv);
}

FASTLANE_EXPORT int fastlane_dpdk_eal_cleanup(void)
{
	return rte_eal_cleanup();
}

FASTLANE_EXPORT int fastlane_dpdk_thread_register(void)
{
	return rte_thread_register();
}

FASTLANE_EXPORT void fastlane_dpdk_thread_unregister(void)
{
	rte_thread_unregister();
}

/* NULL with rte_errno set on failure. */
FASTLANE_EXPORT struct rte_mempool *fastlane_dpdk_pool_create(const char *name, unsigned int mbufs,
							      unsigned int cache)
{
	return rte_pktmbuf_pool_create(name, mbufs, cache, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
}

FASTLANE_EXPORT void fastlane_dpdk_pool_free(struct rte_mempool *pool)
{
	rte_mempool_free(pool);
}

FASTLANE_EXPORT int fastlane_dpdk_port_by_name(const char *name, uint16_t *port)
{
	return rte_eth_dev_get_port_by_name(name, port);
}

/* The steps of fastlane_dpdk_port_start, in the order of PORT_START_STEPS in dpdk.rs. */
enum port_step {
	STEP_INFO,
	STEP_CONFIGURE,
	STEP_ADJUST_DESC,
	STEP_RX_QUEUE,
	STEP_TX_QUEUE,
	STEP_START,
};

/* Configures `port` with `queues` receive and transmit queues and starts it; on failure *failed
 * is the step that failed. */
FASTLANE_EXPORT int fastlane_dpdk_port_start(uint16_t port, uint16_t queues, uint16_t rx_ring,
					     uint16_t tx_ring, struct rte_mempool *pool,
					     int *failed)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	int socket = rte_eth_dev_socket_id(port);
	int rc;

	rc = rte_eth_dev_info_get(port, &info);
	if (rc < 0) {
		*failed = STEP_INFO;
		return rc;
	}
	memset(&conf, 0, sizeof(conf));
	/* Spread flows over the queues where the device hashes in hardware; vdevs such as
	 * net_af_xdp take their queues' traffic from the kernel's own spreading instead. */
	uint64_t rss = info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_TCP);
	if (queues > 1 && rss != 0) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = rss;
	}
	rc = rte_eth_dev_configure(port, queues, queues, &conf);
	if (rc < 0) {
		*failed = STEP_CONFIGURE;
		return rc;
	}
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &rx_ring, &tx_ring);
	if (rc < 0) {
		*failed = STEP_ADJUST_DESC;
		return rc;
	}
	for (uint16_t q = 0; q < queues; q++) {
		rc = rte_eth_rx_queue_setup(port, q, rx_ring, socket, NULL, pool);
		if (rc < 0) {
			*failed = STEP_RX_QUEUE;
			return rc;
		}
		rc = rte_eth_tx_queue_setup(port, q, tx_ring, socket, NULL);
		if (rc < 0) {
			*failed = STEP_TX_QUEUE;
			return rc;
		}
	}
	rc = rte_eth_dev_start(port);
	if (rc < 0) {
		*failed = STEP_START;
		return rc;
	}
	return 0;
}

FASTLANE_EXPORT int fastlane_dpdk_port_stop(uint16_t port)
{
	return rte_eth_dev_stop(port);
}

FASTLANE_EXPORT int fastlane_dpdk_port_close(uint16_t port)
{
	return rte_eth_dev_close(port);
}

FASTLANE_EXPORT int fastlane_dpdk_port_mac(uint16_t port, uint8_t mac[6])
{
	struct rte_ether_addr addr;
	int rc = rte_eth_macaddr_get(port, &addr);

	if (rc == 0)
		memcpy(mac, addr.addr_bytes, 6);
	return rc;
}

/* ipackets, opackets, imissed, ierrors, oerrors, rx_nombuf. */
FASTLANE_EXPORT int fastlane_dpdk_port_stats(uint16_t port, uint64_t out[6])
{
	struct rte_eth_stats stats;
	int rc = rte_eth_stats_get(port, &stats);

	if (rc == 0) {
		out[0] = stats.ipackets;
		out[1] = stats.opackets;
		out[2] = stats.imissed;
		out[3] = stats.ierrors;
		out[4] = stats.oerrors;
		out[5] = stats.rx_nombuf;
	}
	return rc;
}

FASTLANE_EXPORT uint16_t fastlane_dpdk_rx_burst(uint16_t port, uint16_t queue,
						struct rte_mbuf **mbufs, uint16_t n)
{
	return rte_eth_rx_burst(port, queue, mbufs, n);
}

FASTLANE_EXPORT uint16_t fastlane_dpdk_tx_burst(uint16_t port, uint16_t queue,
						struct rte_mbuf **mbufs, uint16_t n)
{
	return rte_eth_tx_burst(port, queue, mbufs, n);
}

/* All or nothing: 0, or -ENOENT when the pool has fewer than n free mbufs. */
FASTLANE_EXPORT int fastlane_dpdk_alloc_bulk(struct rte_mempool *pool, struct rte_mbuf **mbufs,
					     unsigned int n)
{
	return rte_pktmbuf_alloc_bulk(pool, mbufs, n);
}

FASTLANE_EXPORT void fastlane_dpdk_free_bulk(struct rte_mbuf **mbufs, unsigned int n)
{
	rte_pktmbuf_free_bulk(mbufs, n);
}
