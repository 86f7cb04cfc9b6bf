/* The network namespace of the device a tc program runs on, for bpf/mnp.c. */
#ifndef BRAID_MNP_NETNS_H
#define BRAID_MNP_NETNS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/*
 * bpf_get_netns_cookie() in tc programs answers for the skb's socket (init_net without one),
 * not for the device, so the device's namespace is read through the kernel skb (CO-RE).
 */
struct net___mnp {
	__u64 net_cookie;
} __attribute__((preserve_access_index));

struct possible_net___mnp {
	struct net___mnp *net;
};

struct net_device___mnp {
	struct possible_net___mnp nd_net;
} __attribute__((preserve_access_index));

struct sk_buff___mnp {
	struct net_device___mnp *dev;
} __attribute__((preserve_access_index));

extern void *bpf_cast_to_kern_ctx(void *) __ksym;

static __always_inline __u64 device_netns_cookie(struct __sk_buff *ctx)
{
	struct sk_buff___mnp *skb = bpf_cast_to_kern_ctx(ctx);

	return skb->dev->nd_net.net->net_cookie;
}

#endif
