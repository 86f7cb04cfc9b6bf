/* Map layouts shared by bpf/mnp.c and src/policy/layout.ts (keep both in step). */
#ifndef BRAID_MNP_H
#define BRAID_MNP_H

#include <linux/types.h>

/* Direction as seen by the pod: IN = traffic to the pod, OUT = traffic from the pod. */
#define MNP_DIR_IN 0
#define MNP_DIR_OUT 1

#define MNP_F_ISOLATED_IN 0x1
#define MNP_F_ISOLATED_OUT 0x2
#define MNP_F_ALLOW_DHCP 0x4
#define MNP_F_ALLOW_MLD 0x8

/* Key of mnp_iface: the device's network namespace (cookie) and ifindex there. */
struct mnp_iface_key {
	__u64 netns_cookie;
	__u32 ifindex;
	__u32 pad;
};

/* One bit per rule group of an (interface, direction); 128 groups at most. */
struct mnp_bits {
	__u64 w[2];
};

struct mnp_dir_cfg {
	struct mnp_bits any_peer; /* groups whose rules allow every peer */
	struct mnp_bits any_port; /* groups whose rules allow every port and protocol */
};

struct mnp_iface_cfg {
	__u32 iface_id;
	__u32 flags;  /* MNP_F_* */
	__u32 gen;    /* bumped on every change: connections re-check their verdict once */
	__u32 pad;
	__u64 hash;   /* digest of the compiled state; userspace skips unchanged interfaces */
	struct mnp_dir_cfg dir[2];
};

/* Outer maps (HASH_OF_MAPS) are keyed by scope = iface_id << 1 | dir; the inner maps are LPM tries. */
struct mnp_lpm4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct mnp_lpm6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* proto then port in network order, so that a prefix of the 24 bits is a port range of one protocol. */
struct mnp_port_key {
	__u32 prefixlen;
	__u8 proto;
	__u8 port[2];
	__u8 pad;
};

/* Connection tracking, one entry per connection and interface for both directions ("pod-centric"). */
struct mnp_ct_key {
	__u32 iface_id;
	__u8 family; /* 4 or 6 */
	__u8 proto;
	__u16 pad;
	__be16 pod_port;  /* ICMP echo: the identifier */
	__be16 peer_port;
	__u8 pod_addr[16];
	__u8 peer_addr[16];
};

#define MNP_CT_SEEN_REPLY 0x1 /* a packet went against the origin direction */
#define MNP_CT_CLOSING 0x2    /* TCP FIN or RST seen */
#define MNP_CT_REVOKED 0x4    /* policy no longer allows the connection */

struct mnp_ct_entry {
	__u64 expires; /* bpf_ktime_get_ns() deadline (CLOCK_MONOTONIC) */
	__u32 gen;     /* iface gen the verdict was taken under */
	__u8 origin;   /* MNP_DIR_* of the first packet */
	__u8 flags;    /* MNP_CT_* */
	__u8 pad[2];
};

/*
 * Fragments: the first fragment of a datagram (it carries the L4 header) is judged like any packet
 * and leaves its verdict here, under the datagram's identity; the fragments after it carry no
 * ports and get that verdict. IPv4: the 16-bit IP id; IPv6: the fragment header's 32-bit id.
 */
struct mnp_frag_key {
	__u32 iface_id;
	__u8 family;
	__u8 proto; /* IPv4 protocol, or the IPv6 fragment header's next header */
	__u8 dir;   /* MNP_DIR_* */
	__u8 pad;
	__u32 id;
	__u8 src[16];
	__u8 dst[16];
};

struct mnp_frag_entry {
	__u64 expires; /* like mnp_ct_entry.expires */
	__be16 sport;  /* the first fragment's ports (ICMP echo: the identifier) */
	__be16 dport;
	__u8 allowed;
	__u8 reason; /* enum mnp_stat the first fragment was counted under */
	__u8 pad[2];
};

enum mnp_stat {
	MNP_ST_ALLOWED_PKTS,
	MNP_ST_ALLOWED_BYTES,
	MNP_ST_DENIED_PKTS,
	MNP_ST_DENIED_BYTES,
	MNP_ST_ALLOW_UNISOLATED, /* reasons, counted in packets */
	MNP_ST_ALLOW_POLICY,
	MNP_ST_ALLOW_ESTABLISHED,
	MNP_ST_ALLOW_REPLY,
	MNP_ST_ALLOW_RELATED,
	MNP_ST_ALLOW_INFRA, /* ARP, neighbor discovery, MLD, non-IP */
	MNP_ST_ALLOW_DHCP,
	MNP_ST_DENY_POLICY,
	MNP_ST_DENY_REVOKED,
	MNP_ST_DENY_FRAGMENT_ORDER, /* a later fragment whose first fragment was not seen (yet) */
	MNP_ST_DENY_MALFORMED,
	MNP_ST_CT_CREATED,
	MNP_ST_MAX,
};

struct mnp_stats_key {
	__u32 iface_id;
	__u32 dir;
};

struct mnp_stats {
	__u64 c[MNP_ST_MAX];
};

#endif
