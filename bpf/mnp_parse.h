/* Packet parsing for bpf/mnp.c: what policy and connection tracking need of one frame. */
#ifndef BRAID_MNP_PARSE_H
#define BRAID_MNP_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "mnp.h"

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10
#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif
#define IPV6_MAX_EXT_HEADERS 8

enum { PKT_IP, PKT_OTHER, PKT_MALFORMED };
enum { INFRA_NONE, INFRA_ALWAYS, INFRA_MLD, INFRA_DHCP };
enum { FRAG_NONE, FRAG_FIRST, FRAG_LATER };

/* Addresses (IPv4 in the first 4 bytes) and ports (ICMP echo: identifier in both) of a packet. */
struct flow {
	__u8 family;
	__u8 proto;
	__be16 sport;
	__be16 dport;
	__u8 src[16];
	__u8 dst[16];
};

struct pkt {
	struct flow f;
	struct flow inner;     /* the packet an ICMP error quotes */
	__u8 infra;            /* INFRA_*: traffic that may pass whatever the policy */
	__u8 fragment;         /* FRAG_*: FRAG_LATER has no L4 header */
	__u8 frag_proto;       /* fragments: IPv4 protocol or the fragment header's next header */
	__u8 frag_more;        /* fragments: more follow (not the last one) */
	__u8 icmp_error;       /* inner is valid */
	__u8 l4_ports;         /* TCP, UDP or SCTP ports: policy ports apply */
	__u8 tcp_flags;
	__u8 tcp_syn_only;
	__u32 frag_id;         /* fragments: IPv4 id or IPv6 fragment id, as on the wire */
};

/* Ports of a quoted packet (ICMP errors quote at least 8 bytes of its L4 header). */
static __always_inline void inner_ports(struct __sk_buff *skb, __u32 off, struct flow *f, __u8 echo_request)
{
	__u8 b[8];

	if (f->proto == IPPROTO_TCP || f->proto == IPPROTO_UDP || f->proto == IPPROTO_SCTP) {
		if (bpf_skb_load_bytes(skb, off, b, 4) == 0) {
			__builtin_memcpy(&f->sport, b, 2);
			__builtin_memcpy(&f->dport, b + 2, 2);
		}
	} else if (f->proto == IPPROTO_ICMP || f->proto == IPPROTO_ICMPV6) {
		if (bpf_skb_load_bytes(skb, off, b, 8) == 0 && b[0] == echo_request) {
			__builtin_memcpy(&f->sport, b + 4, 2);
			f->dport = f->sport;
		}
	}
}

static __always_inline int parse_inner(struct __sk_buff *skb, __u32 off, struct pkt *p)
{
	if (p->f.family == 4) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)) < 0 || ip.version != 4 || ip.ihl < 5)
			return 0;
		p->inner.family = 4;
		p->inner.proto = ip.protocol;
		__builtin_memcpy(p->inner.src, &ip.saddr, 4);
		__builtin_memcpy(p->inner.dst, &ip.daddr, 4);
		inner_ports(skb, off + ip.ihl * 4, &p->inner, 8);
		return 1;
	}
	struct ipv6hdr ip6;

	if (bpf_skb_load_bytes(skb, off, &ip6, sizeof(ip6)) < 0 || ip6.version != 6)
		return 0;
	p->inner.family = 6;
	p->inner.proto = ip6.nexthdr;
	__builtin_memcpy(p->inner.src, &ip6.saddr, 16);
	__builtin_memcpy(p->inner.dst, &ip6.daddr, 16);
	inner_ports(skb, off + sizeof(ip6), &p->inner, 128);
	return 1;
}

static __always_inline int is_dhcp(const struct flow *f)
{
	__u16 s = bpf_ntohs(f->sport), d = bpf_ntohs(f->dport);

	if (f->family == 4)
		return (s == 68 && d == 67) || (s == 67 && d == 68);
	return (s == 546 && d == 547) || (s == 547 && d == 546);
}

static __always_inline int parse_icmp(struct __sk_buff *skb, __u32 off, struct pkt *p)
{
	__u8 b[8];
	__u8 type;

	if (bpf_skb_load_bytes(skb, off, b, sizeof(b)) < 0)
		return PKT_MALFORMED;
	type = b[0];
	if (p->f.proto == IPPROTO_ICMP) {
		if (type == 8 || type == 0) {
			__builtin_memcpy(&p->f.sport, b + 4, 2);
			p->f.dport = p->f.sport;
		} else if (type == 3 || type == 11 || type == 12) {
			p->icmp_error = parse_inner(skb, off + 8, p);
		}
		return PKT_IP;
	}
	if (type == 128 || type == 129) {
		__builtin_memcpy(&p->f.sport, b + 4, 2);
		p->f.dport = p->f.sport;
	} else if (type >= 1 && type <= 4) {
		p->icmp_error = parse_inner(skb, off + 8, p);
	} else if (type >= 133 && type <= 137) {
		p->infra = INFRA_ALWAYS; /* router/neighbor solicitation and advertisement, redirect */
	} else if ((type >= 130 && type <= 132) || type == 143) {
		p->infra = INFRA_MLD;
	}
	return PKT_IP;
}

static __always_inline int parse_l4(struct __sk_buff *skb, __u32 off, struct pkt *p)
{
	__u8 b[14];

	switch (p->f.proto) {
	case IPPROTO_TCP:
		if (bpf_skb_load_bytes(skb, off, b, 14) < 0)
			return PKT_MALFORMED;
		p->tcp_flags = b[13];
		p->tcp_syn_only = (b[13] & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
		break;
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		if (bpf_skb_load_bytes(skb, off, b, 4) < 0)
			return PKT_MALFORMED;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return parse_icmp(skb, off, p);
	default:
		return PKT_IP;
	}
	__builtin_memcpy(&p->f.sport, b, 2);
	__builtin_memcpy(&p->f.dport, b + 2, 2);
	p->l4_ports = 1;
	if (p->f.proto == IPPROTO_UDP && is_dhcp(&p->f))
		p->infra = INFRA_DHCP;
	return PKT_IP;
}

static __always_inline int parse_ipv4(struct __sk_buff *skb, struct pkt *p)
{
	struct iphdr ip;

	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) < 0 || ip.version != 4 || ip.ihl < 5)
		return PKT_MALFORMED;
	p->f.family = 4;
	p->f.proto = ip.protocol;
	__builtin_memcpy(p->f.src, &ip.saddr, 4);
	__builtin_memcpy(p->f.dst, &ip.daddr, 4);
	if (ip.frag_off & bpf_htons(0x3fff)) { /* more fragments, or an offset */
		p->frag_id = ip.id;
		p->frag_proto = ip.protocol;
		p->frag_more = !!(ip.frag_off & bpf_htons(0x2000));
		p->fragment = (ip.frag_off & bpf_htons(0x1fff)) ? FRAG_LATER : FRAG_FIRST;
	}
	return p->fragment == FRAG_LATER ? PKT_IP : parse_l4(skb, ETH_HLEN + ip.ihl * 4, p);
}

/* Walks at most IPV6_MAX_EXT_HEADERS extension headers to the upper-layer header. */
static __always_inline int parse_ipv6(struct __sk_buff *skb, struct pkt *p)
{
	struct ipv6hdr ip6;
	__u32 off = ETH_HLEN + sizeof(ip6);
	__u8 next, b[8];

	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip6, sizeof(ip6)) < 0 || ip6.version != 6)
		return PKT_MALFORMED;
	p->f.family = 6;
	__builtin_memcpy(p->f.src, &ip6.saddr, 16);
	__builtin_memcpy(p->f.dst, &ip6.daddr, 16);
	next = ip6.nexthdr;
	for (int i = 0; i < IPV6_MAX_EXT_HEADERS; i++) {
		if (next != 0 && next != 43 && next != 44 && next != 51 && next != 60)
			break;
		if (bpf_skb_load_bytes(skb, off, b, sizeof(b)) < 0)
			return PKT_MALFORMED;
		if (next == 44) {
			__u16 offset_m = ((__u16)b[2] << 8) | b[3];

			/* Offset 0 without the M flag is an atomic fragment: a whole datagram. */
			if (offset_m & 0xfff9) {
				__builtin_memcpy(&p->frag_id, b + 4, 4);
				p->frag_proto = p->f.proto = b[0];
				p->frag_more = offset_m & 1;
				p->fragment = (offset_m & 0xfff8) ? FRAG_LATER : FRAG_FIRST;
				if (p->fragment == FRAG_LATER)
					return PKT_IP;
			}
			off += 8;
		} else if (next == 51) {
			off += ((__u32)b[1] + 2) * 4;
		} else {
			off += ((__u32)b[1] + 1) * 8;
		}
		next = b[0];
	}
	p->f.proto = next;
	return parse_l4(skb, off, p);
}

/*
 * The common case read in place: an option-less IPv4 header or an IPv6 header without extension
 * headers, followed by TCP or UDP, all in the linear area. Returns 0 when the packet is not that
 * simple (the general parser below then reads it with bpf_skb_load_bytes).
 */
static __always_inline int parse_simple(struct __sk_buff *skb, struct pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u8 *l4;

	if ((void *)(eth + 1) > data_end)
		return 0;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end || ip->version != 4 || ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff)))
			return 0;
		if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
			return 0;
		p->f.family = 4;
		p->f.proto = ip->protocol;
		__builtin_memcpy(p->f.src, &ip->saddr, 4);
		__builtin_memcpy(p->f.dst, &ip->daddr, 4);
		l4 = (void *)(ip + 1);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
			return 0;
		if (ip6->nexthdr != IPPROTO_TCP && ip6->nexthdr != IPPROTO_UDP)
			return 0;
		p->f.family = 6;
		p->f.proto = ip6->nexthdr;
		__builtin_memcpy(p->f.src, &ip6->saddr, 16);
		__builtin_memcpy(p->f.dst, &ip6->daddr, 16);
		l4 = (void *)(ip6 + 1);
	} else {
		return 0;
	}
	if (l4 + 14 > (__u8 *)data_end)
		return 0;
	__builtin_memcpy(&p->f.sport, l4, 2);
	__builtin_memcpy(&p->f.dport, l4 + 2, 2);
	p->l4_ports = 1;
	if (p->f.proto == IPPROTO_TCP) {
		p->tcp_flags = l4[13];
		p->tcp_syn_only = (l4[13] & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
	} else if (is_dhcp(&p->f)) {
		p->infra = INFRA_DHCP;
	}
	return 1;
}

static __always_inline int parse_packet(struct __sk_buff *skb, struct pkt *p)
{
	__be16 proto;

	if (parse_simple(skb, p))
		return PKT_IP;

	if (bpf_skb_load_bytes(skb, 12, &proto, sizeof(proto)) < 0)
		return PKT_MALFORMED;
	if (proto == bpf_htons(ETH_P_IP))
		return parse_ipv4(skb, p);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(skb, p);
	/* A VLAN tag could smuggle IP past the parser: treated like a packet we cannot read. */
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
		return PKT_MALFORMED;
	return PKT_OTHER; /* ARP and other non-IP protocols */
}

#endif
