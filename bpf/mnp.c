// SPDX-License-Identifier: GPL-2.0
/*
 * MultiNetworkPolicy enforcement on one pod interface, attached with tcx:
 *   mnp_in   traffic to the pod   (host-side veth egress, or the pod device's ingress)
 *   mnp_out  traffic from the pod (host-side veth ingress, or the pod device's egress)
 * Interfaces are found by (netns cookie of the device, ifindex); an unknown one is not managed
 * and passes. Allowed packets continue to the next program (TC_ACT_UNSPEC), denied ones are
 * dropped. The verdict of a new connection is (peer bits | any_peer) & (port bits | any_port)
 * from per-interface LPM tries filled by src/policy; connections are tracked so that replies
 * and related ICMP errors pass, and re-checked once after each policy change (gen). Fragments
 * after the first get the first one's verdict (mnp_frag.h).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "mnp.h"
#include "mnp_parse.h"
#include "mnp_maps.h"
#include "mnp_netns.h"
#include "mnp_frag.h"

/* Connection key of a packet going in `dir`: pod-centric, so both directions share one entry. */
static __always_inline void ct_key_of(struct mnp_ct_key *k, __u32 iface_id, __u32 dir, const struct flow *f)
{
	k->iface_id = iface_id;
	k->family = f->family;
	k->proto = f->proto;
	if (dir == MNP_DIR_IN) {
		k->pod_port = f->dport;
		k->peer_port = f->sport;
		__builtin_memcpy(k->pod_addr, f->dst, 16);
		__builtin_memcpy(k->peer_addr, f->src, 16);
	} else {
		k->pod_port = f->sport;
		k->peer_port = f->dport;
		__builtin_memcpy(k->pod_addr, f->src, 16);
		__builtin_memcpy(k->peer_addr, f->dst, 16);
	}
}

/* Counts the packet as allowed or denied, plus one or two reasons (MNP_ST_MAX: none). */
static __always_inline void account(struct __sk_buff *skb, __u32 iface_id, __u32 dir, int allowed, __u32 reason,
				    __u32 reason2)
{
	struct mnp_stats_key k = { .iface_id = iface_id, .dir = dir };
	struct mnp_stats *st = bpf_map_lookup_elem(&mnp_stats, &k);

	if (!st)
		return;
	if (allowed) {
		st->c[MNP_ST_ALLOWED_PKTS] += skb->gso_segs ? skb->gso_segs : 1;
		st->c[MNP_ST_ALLOWED_BYTES] += skb->len;
	} else {
		st->c[MNP_ST_DENIED_PKTS] += skb->gso_segs ? skb->gso_segs : 1;
		st->c[MNP_ST_DENIED_BYTES] += skb->len;
	}
	if (reason < MNP_ST_MAX)
		st->c[reason] += 1;
	if (reason2 < MNP_ST_MAX)
		st->c[reason2] += 1;
}

static __always_inline int finish(struct __sk_buff *skb, __u32 iface_id, __u32 dir, int allowed, __u32 reason)
{
	account(skb, iface_id, dir, allowed, reason, MNP_ST_MAX);
	return allowed ? TC_ACT_UNSPEC : TC_ACT_SHOT;
}

static __always_inline void bits_or(struct mnp_bits *acc, const struct mnp_bits *v)
{
	acc->w[0] |= v->w[0];
	acc->w[1] |= v->w[1];
}

/* Whether the policy of (iface, dir) allows the connection in `k` that was opened in `dir`. */
static __always_inline int policy_allows(const struct mnp_iface_cfg *cfg, __u32 dir, const struct mnp_ct_key *k,
					 int use_ports)
{
	__u32 scope = cfg->iface_id << 1 | dir;
	struct mnp_bits peer = {}, port = {};
	const struct mnp_bits *hit;
	void *trie;

	if (!(cfg->flags & (dir == MNP_DIR_IN ? MNP_F_ISOLATED_IN : MNP_F_ISOLATED_OUT)))
		return 1;
	if (dir == MNP_DIR_IN) {
		peer = cfg->dir[0].any_peer;
		port = cfg->dir[0].any_port;
	} else {
		peer = cfg->dir[1].any_peer;
		port = cfg->dir[1].any_port;
	}
	if (k->family == 4) {
		struct mnp_lpm4_key lk = { .prefixlen = 32 };

		__builtin_memcpy(lk.addr, k->peer_addr, 4);
		trie = bpf_map_lookup_elem(&mnp_peer4, &scope);
		hit = trie ? bpf_map_lookup_elem(trie, &lk) : NULL;
	} else {
		struct mnp_lpm6_key lk = { .prefixlen = 128 };

		__builtin_memcpy(lk.addr, k->peer_addr, 16);
		trie = bpf_map_lookup_elem(&mnp_peer6, &scope);
		hit = trie ? bpf_map_lookup_elem(trie, &lk) : NULL;
	}
	if (hit)
		bits_or(&peer, hit);
	if (use_ports) {
		struct mnp_port_key pk = { .prefixlen = 24, .proto = k->proto };
		__be16 dport = dir == MNP_DIR_IN ? k->pod_port : k->peer_port;

		__builtin_memcpy(pk.port, &dport, 2);
		trie = bpf_map_lookup_elem(&mnp_ports, &scope);
		hit = trie ? bpf_map_lookup_elem(trie, &pk) : NULL;
		if (hit)
			bits_or(&port, hit);
	}
	return ((peer.w[0] & port.w[0]) | (peer.w[1] & port.w[1])) != 0;
}

static __always_inline __u64 ct_lifetime(const struct mnp_ct_key *k, __u8 flags)
{
	if (k->proto != IPPROTO_TCP)
		return MNP_CT_OTHER_TIMEOUT * NSEC;
	if (flags & MNP_CT_CLOSING)
		return MNP_CT_CLOSE_TIMEOUT * NSEC;
	if (!(flags & MNP_CT_SEEN_REPLY))
		return MNP_CT_SYN_TIMEOUT * NSEC;
	return MNP_CT_TCP_TIMEOUT * NSEC;
}

/* Updates a live entry for a packet going in `dir`; returns the reason to count. */
static __always_inline __u32 ct_refresh(struct mnp_ct_entry *ct, const struct mnp_ct_key *k, const struct pkt *p,
					__u32 dir, __u64 now)
{
	__u8 flags = ct->flags;
	__u64 expires;

	if (dir != ct->origin)
		flags |= MNP_CT_SEEN_REPLY;
	if (p->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))
		flags |= MNP_CT_CLOSING;
	expires = now + ct_lifetime(k, flags);
	if (flags != ct->flags) {
		ct->flags = flags;
		ct->expires = expires;
	} else if (expires > ct->expires + MNP_CT_REFRESH_SLACK) {
		ct->expires = expires;
	}
	return dir == ct->origin ? MNP_ST_ALLOW_ESTABLISHED : MNP_ST_ALLOW_REPLY;
}

struct verdict {
	__u32 allowed;
	__u32 reason;  /* enum mnp_stat */
	__u32 reason2; /* a second counter, or MNP_ST_MAX */
};

/* The verdict on a packet that carries its L4 header (every packet but a later fragment). */
static __always_inline void judge(const struct mnp_iface_cfg *cfg, __u32 dir, int kind, const struct pkt *p, __u64 now,
				  struct verdict *v)
{
	__u32 isolated = cfg->flags & (dir == MNP_DIR_IN ? MNP_F_ISOLATED_IN : MNP_F_ISOLATED_OUT);
	struct mnp_ct_key key = {};
	struct mnp_ct_entry *ct;

	v->allowed = 1;
	v->reason2 = MNP_ST_MAX;
	if (kind == PKT_MALFORMED) {
		v->allowed = !isolated;
		v->reason = isolated ? MNP_ST_DENY_MALFORMED : MNP_ST_ALLOW_UNISOLATED;
		return;
	}
	if (p->infra == INFRA_ALWAYS || (p->infra == INFRA_MLD && (cfg->flags & MNP_F_ALLOW_MLD))) {
		v->reason = MNP_ST_ALLOW_INFRA;
		return;
	}
	if (p->infra == INFRA_DHCP && (cfg->flags & MNP_F_ALLOW_DHCP)) {
		v->reason = MNP_ST_ALLOW_DHCP;
		return;
	}

	ct_key_of(&key, cfg->iface_id, dir, &p->f);
	if (p->icmp_error) {
		struct mnp_ct_key inner_key = {};

		/* The quoted packet travelled the other way. */
		ct_key_of(&inner_key, cfg->iface_id, dir ^ 1, &p->inner);
		ct = bpf_map_lookup_elem(&mnp_ct, &inner_key);
		if (ct && ct->expires > now && !(ct->flags & MNP_CT_REVOKED)) {
			v->reason = MNP_ST_ALLOW_RELATED;
			return;
		}
	}

	ct = bpf_map_lookup_elem(&mnp_ct, &key);
	/* A SYN opens a new connection: it always meets the current policy. */
	if (ct && ct->expires > now && !p->tcp_syn_only) {
		if (ct->gen != cfg->gen) {
			int ok = policy_allows(cfg, ct->origin, &key, p->l4_ports);

			ct->gen = cfg->gen;
			ct->flags = ok ? ct->flags & ~MNP_CT_REVOKED : ct->flags | MNP_CT_REVOKED;
		}
		if (ct->flags & MNP_CT_REVOKED) {
			v->allowed = 0;
			v->reason = MNP_ST_DENY_REVOKED;
			return;
		}
		v->reason = ct_refresh(ct, &key, p, dir, now);
		return;
	}

	if (!policy_allows(cfg, dir, &key, p->l4_ports)) {
		v->allowed = 0;
		v->reason = MNP_ST_DENY_POLICY;
		return;
	}
	{
		struct mnp_ct_entry fresh = { .gen = cfg->gen, .origin = dir };

		if (p->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))
			fresh.flags |= MNP_CT_CLOSING;
		fresh.expires = now + ct_lifetime(&key, fresh.flags);
		bpf_map_update_elem(&mnp_ct, &key, &fresh, BPF_ANY);
	}
	v->reason = isolated ? MNP_ST_ALLOW_POLICY : MNP_ST_ALLOW_UNISOLATED;
	v->reason2 = MNP_ST_CT_CREATED;
}

static __always_inline int handle(struct __sk_buff *skb, __u32 dir)
{
	struct mnp_iface_key ik = { .netns_cookie = device_netns_cookie(skb), .ifindex = skb->ifindex };
	struct mnp_iface_cfg *cfg = bpf_map_lookup_elem(&mnp_iface, &ik);
	struct verdict v;
	struct pkt p = {};
	__u64 now;
	int kind;

	if (!cfg)
		return TC_ACT_UNSPEC;
	kind = parse_packet(skb, &p);
	if (kind == PKT_OTHER)
		return finish(skb, cfg->iface_id, dir, 1, MNP_ST_ALLOW_INFRA);
	/* The coarse clock (CLOCK_MONOTONIC at tick resolution) costs a fraction of the precise one. */
	now = bpf_ktime_get_coarse_ns();
	if (p.fragment == FRAG_LATER) {
		later_fragment(cfg, dir, &p, now, &v.allowed, &v.reason);
		return finish(skb, cfg->iface_id, dir, v.allowed, v.reason);
	}
	judge(cfg, dir, kind, &p, now, &v);
	if (p.fragment == FRAG_FIRST)
		frag_remember(cfg->iface_id, dir, &p, v.allowed, v.reason, now);
	account(skb, cfg->iface_id, dir, v.allowed, v.reason, v.reason2);
	return v.allowed ? TC_ACT_UNSPEC : TC_ACT_SHOT;
}

SEC("tc")
int mnp_in(struct __sk_buff *skb)
{
	return handle(skb, MNP_DIR_IN);
}

SEC("tc")
int mnp_out(struct __sk_buff *skb)
{
	return handle(skb, MNP_DIR_OUT);
}

char LICENSE[] SEC("license") = "GPL";
