/* Map layouts shared by bpf/veth.c and src/veth/endpoint-map.ts (keep both in step). */
#ifndef BRAID_VETH_H
#define BRAID_VETH_H

#include <linux/types.h>

#define BRAID_FAMILY_V4 4
#define BRAID_FAMILY_V6 6

/* The endpoint lets the stack deliver to it instead of the peer redirect, so that hooks on its
 * host-side veth egress (ingress policy) still see pod-to-pod traffic. */
#define BRAID_EP_F_SLOWPATH 0x1

/* Key of braid_ep: one entry per pod address; IPv4 uses the first 4 bytes of addr. */
struct braid_ep_key {
	__u32 family;
	__u8 addr[16];
};

/* pod_mac and host_mac are adjacent: they are written as the new Ethernet dst + src in one go. */
struct braid_ep {
	__u32 ifindex;   /* host-side veth, in the host netns */
	__u32 flags;     /* BRAID_EP_F_* */
	__u8 pod_mac[6];
	__u8 host_mac[6];
	__u64 owner;     /* hash of (containerID, ifname): lets DEL find entries once the veth is gone */
};

/* Per host-side veth ifindex, per CPU; "tx" is what the pod sent, "rx" what it was sent. */
struct braid_ep_stats {
	__u64 tx_packets;
	__u64 tx_bytes;
	__u64 rx_packets;
	__u64 rx_bytes;
	__u64 redirect_packets; /* tx packets handed straight to a local pod with bpf_redirect_peer */
	__u64 redirect_bytes;
};

#endif
