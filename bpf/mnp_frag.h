/* Fragments for bpf/mnp.c: the datagram's first fragment decides for the fragments after it. */
#ifndef BRAID_MNP_FRAG_H
#define BRAID_MNP_FRAG_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "mnp.h"
#include "mnp_maps.h"
#include "mnp_parse.h"

static __always_inline void frag_key_of(struct mnp_frag_key *k, __u32 iface_id, __u32 dir, const struct pkt *p)
{
	k->iface_id = iface_id;
	k->family = p->f.family;
	k->proto = p->frag_proto;
	k->dir = dir;
	k->id = p->frag_id;
	__builtin_memcpy(k->src, p->f.src, 16);
	__builtin_memcpy(k->dst, p->f.dst, 16);
}

/* Leaves a first fragment's verdict (and ports) for the fragments that follow it. */
static __always_inline void frag_remember(__u32 iface_id, __u32 dir, const struct pkt *p, __u32 allowed, __u32 reason,
					  __u64 now)
{
	struct mnp_frag_key k = {};
	struct mnp_frag_entry e = {
		.expires = now + MNP_FRAG_TIMEOUT * NSEC,
		.sport = p->f.sport,
		.dport = p->f.dport,
		.allowed = allowed,
		.reason = reason,
	};

	frag_key_of(&k, iface_id, dir, p);
	bpf_map_update_elem(&mnp_frag, &k, &e, BPF_ANY);
}

/*
 * A fragment after the first: it carries no ports, so it takes its first fragment's verdict,
 * counted under the same reason; the last one (no "more fragments" flag) removes the entry. One that comes before its first fragment (or whose first was
 * never seen here) cannot be placed in a flow: an isolated direction drops it, counted apart.
 */
static __always_inline void later_fragment(const struct mnp_iface_cfg *cfg, __u32 dir, const struct pkt *p, __u64 now,
					   __u32 *allowed, __u32 *reason)
{
	__u32 isolated = cfg->flags & (dir == MNP_DIR_IN ? MNP_F_ISOLATED_IN : MNP_F_ISOLATED_OUT);
	struct mnp_frag_key k = {};
	struct mnp_frag_entry *e;

	frag_key_of(&k, cfg->iface_id, dir, p);
	e = bpf_map_lookup_elem(&mnp_frag, &k);
	if (e && e->expires > now) {
		*allowed = e->allowed;
		*reason = e->reason;
		/* The last fragment closes the datagram: the map holds only datagrams in flight. */
		if (!p->frag_more)
			bpf_map_delete_elem(&mnp_frag, &k);
		return;
	}
	*allowed = !isolated;
	*reason = isolated ? MNP_ST_DENY_FRAGMENT_ORDER : MNP_ST_ALLOW_UNISOLATED;
}

#endif
