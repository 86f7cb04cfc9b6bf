/* Maps and connection-tracking timeouts of bpf/mnp.c (layouts in mnp.h). */
#ifndef BRAID_MNP_MAPS_H
#define BRAID_MNP_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "mnp.h"

#ifndef MNP_CT_SYN_TIMEOUT
#define MNP_CT_SYN_TIMEOUT 60ULL
#endif
#ifndef MNP_CT_TCP_TIMEOUT
#define MNP_CT_TCP_TIMEOUT 21600ULL
#endif
#ifndef MNP_CT_CLOSE_TIMEOUT
#define MNP_CT_CLOSE_TIMEOUT 10ULL
#endif
#ifndef MNP_CT_OTHER_TIMEOUT
#define MNP_CT_OTHER_TIMEOUT 60ULL
#endif
/* How long a first fragment's verdict waits for the rest: the kernel's default ipfrag_time. */
#ifndef MNP_FRAG_TIMEOUT
#define MNP_FRAG_TIMEOUT 30ULL
#endif
#define NSEC 1000000000ULL
/* Refreshing an entry's deadline is a write to a shared cache line: only do it once a second. */
#define MNP_CT_REFRESH_SLACK NSEC

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct mnp_iface_key);
	__type(value, struct mnp_iface_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mnp_iface SEC(".maps");

/* Inner maps are made by userspace per interface and direction; these are their templates.
 * key_size rather than __type: clang 14 would emit the key structs as BTF forward declarations. */
struct mnp_peer4_trie {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1 << 20);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct mnp_lpm4_key));
	__uint(value_size, sizeof(struct mnp_bits));
};

struct mnp_peer6_trie {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1 << 20);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct mnp_lpm6_key));
	__uint(value_size, sizeof(struct mnp_bits));
};

struct mnp_port_trie {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1 << 20);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, sizeof(struct mnp_port_key));
	__uint(value_size, sizeof(struct mnp_bits));
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct mnp_peer4_trie);
} mnp_peer4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct mnp_peer6_trie);
} mnp_peer6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct mnp_port_trie);
} mnp_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, struct mnp_ct_key);
	__type(value, struct mnp_ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mnp_ct SEC(".maps");

/* Datagrams in flight in fragments: small, since an entry only lives while a datagram is. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct mnp_frag_key);
	__type(value, struct mnp_frag_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mnp_frag SEC(".maps");

/* Entries are made by userspace at attach and removed at detach, never by BPF. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 32768);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mnp_stats_key);
	__type(value, struct mnp_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mnp_stats SEC(".maps");

#endif
