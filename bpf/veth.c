// SPDX-License-Identifier: GPL-2.0
/*
 * braid-veth datapath, attached with tcx on the host side of every pod's veth pair:
 *   from_pod  (host-veth ingress = the pod's egress): counts, and hands packets whose destination
 *             is another local pod straight to that pod's veth peer (bpf_redirect_peer), skipping
 *             the host stack's routing, neighbour lookup and the veth backlog queue.
 *   to_pod    (host-veth egress = the pod's ingress): counts.
 * Anything else continues (TC_ACT_UNSPEC = TCX_NEXT) so that programs attached after these, or
 * legacy tc filters, still run and the host stack routes the packet.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "braid_veth.h"

#define IPV4_TTL_OFF (ETH_HLEN + __builtin_offsetof(struct iphdr, ttl))
#define IPV4_CSUM_OFF (ETH_HLEN + __builtin_offsetof(struct iphdr, check))
#define IPV6_HOPLIMIT_OFF (ETH_HLEN + __builtin_offsetof(struct ipv6hdr, hop_limit))

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct braid_ep_key);
	__type(value, struct braid_ep);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} braid_ep SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct braid_ep_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} braid_ep_stats SEC(".maps");

static __always_inline __u64 packet_count(const struct __sk_buff *skb)
{
	return skb->gso_segs ? skb->gso_segs : 1;
}

/* Entries are created by the plugin at ADD; an unknown ifindex is not counted (no entry from BPF,
 * so DEL leaves nothing behind that a late packet could recreate). */
static __always_inline struct braid_ep_stats *stats_of(__u32 ifindex)
{
	return bpf_map_lookup_elem(&braid_ep_stats, &ifindex);
}

/* Finds the local endpoint that owns the packet's IPv4/IPv6 destination and reports the
 * ethertype. Returns NULL for anything that is not IP to a local pod. */
static __always_inline struct braid_ep *lookup_destination(struct __sk_buff *skb, __u16 *proto)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct braid_ep_key key = {};

	if ((void *)(eth + 1) > data_end)
		return NULL;
	*proto = eth->h_proto;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end || ip->version != 4)
			return NULL;
		key.family = BRAID_FAMILY_V4;
		__builtin_memcpy(key.addr, &ip->daddr, 4);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
			return NULL;
		key.family = BRAID_FAMILY_V6;
		__builtin_memcpy(key.addr, &ip6->daddr, 16);
	} else {
		return NULL;
	}
	return bpf_map_lookup_elem(&braid_ep, &key);
}

/* Acts as the router hop the host stack would have been. Returns 0 when the packet must instead
 * go to the stack (TTL about to expire: the stack sends the ICMP error). */
static __always_inline int decrement_ttl(struct __sk_buff *skb, __u16 proto)
{
	if (proto == bpf_htons(ETH_P_IP)) {
		__u8 ttl;
		__u16 old_word, new_word;

		if (bpf_skb_load_bytes(skb, IPV4_TTL_OFF, &ttl, 1) < 0 || ttl <= 1)
			return 0;
		/* TTL is the high byte of the 16-bit word it shares with the protocol. */
		old_word = bpf_htons((__u16)ttl << 8);
		new_word = bpf_htons((__u16)(ttl - 1) << 8);
		ttl--;
		if (bpf_skb_store_bytes(skb, IPV4_TTL_OFF, &ttl, 1, 0) < 0)
			return 0;
		return bpf_l3_csum_replace(skb, IPV4_CSUM_OFF, old_word, new_word, 2) == 0;
	}
	__u8 hops;

	if (bpf_skb_load_bytes(skb, IPV6_HOPLIMIT_OFF, &hops, 1) < 0 || hops <= 1)
		return 0;
	hops--;
	return bpf_skb_store_bytes(skb, IPV6_HOPLIMIT_OFF, &hops, 1, 0) == 0;
}

SEC("tc")
int from_pod(struct __sk_buff *skb)
{
	__u64 packets = packet_count(skb);
	__u64 bytes = skb->len;
	struct braid_ep_stats *src = stats_of(skb->ifindex);
	struct braid_ep_stats *dst;
	struct braid_ep *ep;
	__u32 dst_ifindex;
	__u8 macs[12];
	__u16 proto = 0;

	if (src) {
		src->tx_packets += packets;
		src->tx_bytes += bytes;
	}
	ep = lookup_destination(skb, &proto);
	if (!ep || ep->ifindex == skb->ifindex || (ep->flags & BRAID_EP_F_SLOWPATH))
		return TC_ACT_UNSPEC;
	/* Kept on the stack: store_bytes needs its source there or in a map value, and a copy keeps the
	 * MACs consistent if the entry is rewritten concurrently. */
	dst_ifindex = ep->ifindex;
	__builtin_memcpy(macs, ep->pod_mac, 12);
	if (!decrement_ttl(skb, proto))
		return TC_ACT_UNSPEC;
	if (bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0) < 0)
		return TC_ACT_SHOT;
	dst = stats_of(dst_ifindex);
	if (dst) {
		dst->rx_packets += packets;
		dst->rx_bytes += bytes;
	}
	if (src) {
		src->redirect_packets += packets;
		src->redirect_bytes += bytes;
	}
	return bpf_redirect_peer(dst_ifindex, 0);
}

SEC("tc")
int to_pod(struct __sk_buff *skb)
{
	struct braid_ep_stats *st = stats_of(skb->ifindex);

	if (st) {
		st->rx_packets += packet_count(skb);
		st->rx_bytes += skb->len;
	}
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
